//! Randomized inputs, deterministically: a fixed-seed generator feeds well over 100,000 argument
//! lists, config files, error bodies, `Retry-After` values and API documents through the same
//! entry points the binary and the fuzz targets (`fuzz/`) use. Nothing may panic, every error
//! must carry its documented exit code, and text meant for a terminal must be safe to print.
//! `TORALE_RANDOM_SEED=N` replays another sequence.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use torale::api::{error_message, parse_retry_after};
use torale::cli;
use torale::config::{self, ConfigFile, Env, Flags};
use torale::error::Kind;
use torale::model::{Execution, Json, Task};
use torale::output::{reformat_json, sanitize};

/// splitmix64: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True `percent` times out of 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A short string mixing ASCII, controls, escapes and multi-byte characters.
    fn text(&mut self, max: usize) -> String {
        #[rustfmt::skip]
        const PIECES: &[&str] = &[
            "a", "Z", "0", "9", " ", "-", "_", ".", "/", ":", "=", "\"", "\\", "{", "}", "[",
            "]", ",", "\n", "\r", "\t", "\u{0}", "\u{1b}[2J", "\u{1b}]0;x\u{7}", "\u{7f}",
            "\u{9b}", "\u{202e}", "\u{2066}", "\u{200b}", "é", "日本", "🦀", "\u{fffd}", "sk_",
        ];
        let n = self.below(max + 1);
        (0..n).map(|_| *self.pick(PIECES)).collect()
    }
}

/// Random edits of a seed: flips, inserts, deletions, duplications, truncation, splices.
fn mutate(rng: &mut Rng, seed: &[u8], others: &[&[u8]]) -> Vec<u8> {
    #[rustfmt::skip]
    const TOKENS: &[&[u8]] = &[
        b"null", b"true", b"-0", b"1e999", b"\"", b"\\u0000", b"\\ud800", b"[", b"]", b"{", b"}",
        b",", b":", b"\xff", b"\xc3", b"\x1b[31m", b"9999999999999999999999", b"\"detail\"",
        b"\"error\"", b"\"loc\"", b"\"msg\"", b"\"state\"", b"\"is_active\"", b"\"id\"",
    ];
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            1 => {
                let at = rng.below(len + 1);
                let token = rng.pick(TOKENS);
                data.splice(at..at, token.iter().copied());
            }
            2 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                data.drain(at..end);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(32)).min(len);
                let piece = data[at..end].to_vec();
                data.splice(at..at, piece);
            }
            4 => data.truncate(rng.below(len + 1)),
            5 => {
                let other = rng.pick(others);
                let cut = rng.below(other.len() + 1);
                let at = rng.below(len + 1);
                data.truncate(at);
                data.extend_from_slice(&other[cut..]);
            }
            _ => {
                let at = rng.below(len + 1);
                let noise = rng.bytes(8);
                data.splice(at..at, noise);
            }
        }
    }
    data
}

/// A random JSON value whose object keys are drawn from `keys`.
fn random_value(rng: &mut Rng, keys: &[&str], depth: usize) -> Value {
    match rng.below(if depth == 0 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => match rng.below(4) {
            0 => json!(rng.next() as i64),
            1 => json!(rng.below(200) as f64 / 7.0),
            2 => json!(rng.below(100)),
            _ => json!(-(rng.below(100) as i64)),
        },
        3 | 4 => {
            if rng.chance(40) {
                json!(*rng.pick(&[
                    "active",
                    "paused",
                    "completed",
                    "success",
                    "failed",
                    "pending",
                    "2026-04-21T08:15:02.418733Z",
                    "85426056-2e6c-4c21-887d-701e6fe3eee3",
                ]))
            } else {
                json!(rng.text(12))
            }
        }
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, keys, depth - 1))
                .collect(),
        ),
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(6) {
                let key = if rng.chance(85) {
                    rng.pick(keys).to_string()
                } else {
                    rng.text(6)
                };
                map.insert(key, random_value(rng, keys, depth - 1));
            }
            Value::Object(map)
        }
    }
}

/// Server text printed on a terminal: no control characters, escapes or bidi overrides.
fn assert_terminal_safe(text: &str, what: &str) {
    let bad = text.chars().find(|&c| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    assert!(bad.is_none(), "{what}: unsafe {bad:?} in {text:?}");
}

/// One line as `Error: …` needs it: not empty, no line breaks.
fn assert_one_line(text: &str, what: &str) {
    assert!(
        !text.is_empty() && !text.contains(['\n', '\r']),
        "{what}: {text:?}"
    );
}

// ---- argument lists --------------------------------------------------------------------------

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "auth", "set-api-key", "status", "whoami", "logout", "keys", "task", "tasks", "list", "get",
    "create", "update", "pause", "resume", "complete", "delete", "execute", "logs",
    "notifications", "preview", "config", "set", "unset", "path", "help", "version",
    "exit-codes", "templates", "completion", "bash", "api_key", "api_url", "timeout",
];
#[rustfmt::skip]
const FLAGS: &[&str] = &[
    "--json", "--debug", "--help", "-h", "--version", "--no-color", "--color", "--api-key",
    "--api-key-file", "--api-url", "--timeout", "--", "-", "-q", "--query", "-c", "--condition",
    "-n", "--name", "-w", "--webhook", "--no-webhook", "--email", "--paused",
    "--run-immediately", "-s", "--schedule", "--notify-behavior", "--active", "--inactive",
    "--completed", "--limit", "--status", "--notifications-only", "--wait", "--wait-timeout",
    "-y", "--yes", "--ignore-not-found", "--no-verify", "-qc", "-yq", "--unknown", "-x",
];
#[rustfmt::skip]
const VALUES: &[&str] = &[
    "", "0", "1", "30", "86400", "86401", "-1", "99999999999999999999", "never", "always",
    "auto", "once", "track_state", "0 9 * * *", "*/5 * * * *", "61 * * * *", "* * *",
    "https://api.torale.ai", "http://localhost:8000/", "ftp://x", "https://",
    "85426056-2e6c-4c21-887d-701e6fe3eee3", "not-a-uuid",
    "sk_cFSK7PFckoFLSjO1iPUnDTeFW5B20KRnjC504xFDyBg", "me@example.com", "success", "failed",
];

/// Command lines that parse, to start from.
const COMMAND_LINES: &[&str] = &[
    "task create -q Q -c C --name N --paused -w https://h.example/x --email me@example.com",
    "task create --query=Q -s 0_9_*_*_* --notify-behavior once --run-immediately",
    "task list --active --limit 5 --json",
    "task update 85426056-2e6c-4c21-887d-701e6fe3eee3 --name x --no-webhook --inactive",
    "task delete 85426056-2e6c-4c21-887d-701e6fe3eee3 not-a-uuid -y --ignore-not-found",
    "task execute 85426056-2e6c-4c21-887d-701e6fe3eee3 --wait --wait-timeout 60",
    "task logs 85426056-2e6c-4c21-887d-701e6fe3eee3 --limit 3 --status failed",
    "task pause 85426056-2e6c-4c21-887d-701e6fe3eee3 --debug --color never",
    "auth set-api-key --api-url http://localhost:8000 --no-verify",
    "auth status --api-key-file - --timeout=5",
    "config set timeout 60",
    "--json --timeout=5 --api-url https://api.torale.ai task get 85426056-2e6c-4c21-887d-701e6fe3eee3",
    "help task create",
];

fn random_args(rng: &mut Rng) -> Vec<OsString> {
    if rng.chance(50) {
        // A working command line, edited: a word dropped, repeated, swapped or replaced.
        let line = rng.pick(COMMAND_LINES);
        let mut args: Vec<OsString> = line
            .split(' ')
            .map(|w| OsString::from(w.replace('_', " ")))
            .collect();
        for _ in 0..rng.below(3) {
            let at = rng.below(args.len());
            match rng.below(5) {
                0 => {
                    args.remove(at);
                }
                1 => args.insert(at, args[at].clone()),
                2 if at + 1 < args.len() => args.swap(at, at + 1),
                3 => args[at] = OsString::from(*rng.pick(VALUES)),
                _ => args.insert(at, OsString::from(*rng.pick(FLAGS))),
            }
            if args.is_empty() {
                break;
            }
        }
        return args;
    }
    let n = rng.below(9);
    let mut args = Vec::with_capacity(n);
    if rng.chance(80) {
        let group = *rng.pick(&["auth", "task", "config", "templates"]);
        args.push(OsString::from(group));
        args.push(OsString::from(*rng.pick(WORDS)));
    }
    for _ in 0..n {
        let arg = match rng.below(10) {
            0..=2 => OsString::from(*rng.pick(WORDS)),
            3..=5 => OsString::from(*rng.pick(FLAGS)),
            6 | 7 => OsString::from(*rng.pick(VALUES)),
            8 => OsString::from(format!("{}={}", rng.pick(FLAGS), rng.pick(VALUES))),
            _ if rng.chance(50) => OsString::from(rng.text(10)),
            _ => OsString::from_vec(rng.bytes(10)),
        };
        args.push(arg);
    }
    args
}

fn check_args(args: Vec<OsString>) {
    let shown = format!("{args:?}");
    match cli::parse(args) {
        Ok(_) => {}
        Err(err) => {
            assert_eq!(err.kind, Kind::Usage, "{shown}: {err:?}");
            assert_one_line(&err.message, &shown);
        }
    }
}

// ---- config files ----------------------------------------------------------------------------

fn check_config(bytes: &[u8]) {
    let path = Path::new("/config/dir/config.json");
    let file = match ConfigFile::parse(path, bytes) {
        Ok(file) => file,
        Err(err) => {
            assert_eq!(err.kind, Kind::Config, "{err:?}");
            assert!(err.message.contains("/config/dir/config.json"), "{err:?}");
            return;
        }
    };
    match config::resolve(&Flags::default(), &Env::default(), &file) {
        Ok(settings) => {
            assert!((1..=86_400).contains(&settings.timeout.as_secs()));
            assert!(settings.api_url.starts_with("http"));
            if let Err(err) = &settings.api_key {
                assert_eq!(err.kind, Kind::Config, "{err:?}");
            }
            if let Ok(Some((key, _))) = &settings.api_key {
                assert!(!format!("{key:?}").contains(key.expose()));
            }
        }
        Err(err) => assert_eq!(err.kind, Kind::Config, "{err:?}"),
    }
}

// ---- error bodies ----------------------------------------------------------------------------

fn check_error_body(body: &[u8]) {
    if let Some(message) = error_message(body) {
        assert_terminal_safe(&message, "error_message");
        assert_one_line(&message, "error_message");
    }
}

// ---- Retry-After -----------------------------------------------------------------------------

fn check_retry_after(value: &str) {
    if let Some(wait) = parse_retry_after(value) {
        assert!(wait <= Duration::from_secs(60), "{value:?} -> {wait:?}");
    }
    let trimmed = value.trim();
    if !trimmed.is_empty() && trimmed.len() < 19 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = trimmed.parse().unwrap();
        assert_eq!(
            parse_retry_after(value),
            Some(Duration::from_secs(secs.min(60)))
        );
    }
}

fn random_retry_after(rng: &mut Rng) -> String {
    #[rustfmt::skip]
    const DAYS: &[&str] = &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Xyz", ""];
    #[rustfmt::skip]
    const MONTHS: &[&str] = &["Jan", "Feb", "Jun", "Dec", "jan", "Foo", ""];
    match rng.below(4) {
        0 => rng.next().to_string()[..1 + rng.below(12)].to_string(),
        1 => format!(
            "{}, {:02} {} {} {:02}:{:02}:{:02} {}",
            rng.pick(DAYS),
            rng.below(40),
            rng.pick(MONTHS),
            1960 + rng.below(9000),
            rng.below(30),
            rng.below(70),
            rng.below(70),
            rng.pick(&["GMT", "UTC", "", "GMT GMT"])
        ),
        2 => {
            let seed = b"Sun, 06 Nov 1994 08:49:37 GMT";
            String::from_utf8_lossy(&mutate(rng, seed, &[b"120", b" 3 "])).into_owned()
        }
        _ => rng.text(12),
    }
}

// ---- API documents ---------------------------------------------------------------------------

#[rustfmt::skip]
const TASK_KEYS: &[&str] = &[
    "id", "name", "state", "is_active", "search_query", "condition_description", "notifications",
    "type", "address", "url", "created_at", "updated_at", "next_run", "last_execution",
    "last_known_state", "immediate_execution_error", "is_public", "schedule", "notify_behavior",
    "condition_met", "last_notified_at", "status", "result", "notification", "error_message",
    "grounding_sources", "title", "started_at", "completed_at", "task_id", "evidence", "answer",
    "change_summary", "email",
];

fn check_document(bytes: &[u8]) {
    let Ok(text) = String::from_utf8(bytes.to_vec()) else {
        return;
    };
    let Ok(doc) = Json::parse(text) else {
        return;
    };
    // Re-spacing keeps the document's value, compact or pretty. (JSON's grammar allows a lone
    // surrogate such as "\ud800", which serde_json's `Value` refuses: such documents are
    // passed through as they are.)
    let original = serde_json::from_str::<Value>(doc.text()).ok();
    for pretty in [false, true] {
        let mut out = String::new();
        reformat_json(doc.text(), pretty, &mut out);
        let again = Json::parse(out.clone())
            .unwrap_or_else(|e| panic!("reformat broke {:?}: {e}\n{out}", doc.text()));
        if let Some(original) = &original {
            assert_eq!(
                &serde_json::from_str::<Value>(again.text()).unwrap(),
                original
            );
        }
    }
    let mut texts = vec![doc.text().to_string()];
    if let Ok(items) = doc.items("list") {
        texts.extend(items.iter().map(|raw| raw.get().to_string()));
    }
    for text in &texts {
        match Task::decode(text) {
            Ok(task) => {
                assert_terminal_safe(&sanitize(task.name()), "task name");
                let _ = (task.state(), task.state_label(), task.is_legacy());
            }
            Err(err) => assert_eq!(err.kind, Kind::Server, "{err:?}"),
        }
        match Execution::decode(text) {
            Ok(run) => {
                let _ = (run.status(), run.run_status(), run.source_urls());
                if let Some(note) = run.notification_text() {
                    assert_terminal_safe(&sanitize(&note), "notification");
                }
            }
            Err(err) => assert_eq!(err.kind, Kind::Server, "{err:?}"),
        }
    }
}

fn document_seeds() -> Vec<Vec<u8>> {
    let task = json!({"name": "iPhone 18 release date", "state": "active",
        "search_query": "When?", "condition_description": "A date is announced",
        "notifications": [{"type": "webhook", "address": null, "url": "https://h.example/x",
                           "method": "POST", "headers": {"X": "y"}}],
        "id": "85426056-2e6c-4c21-887d-701e6fe3eee3", "created_at": "2026-04-21T08:15:02.418733Z",
        "last_execution": {"status": "success", "notification": "Met", "id": "e9f7",
                           "grounding_sources": [{"url": "https://www.apple.com/", "title": "A"}]},
        "next_run": "2026-04-21T08:16:02Z", "is_public": false});
    let legacy = json!({"name": "x", "schedule": "0 9 * * *", "is_active": true,
        "notify_behavior": "once", "id": "6e561aea-d047-41c5-959c-fa4572503871",
        "condition_met": false, "last_notified_at": null});
    let run = json!({"task_id": "t", "status": "failed", "result": {"success": false, "error": "x"},
        "error_message": "boom", "condition_met": true, "change_summary": "changed",
        "id": "e", "started_at": "2026-04-21T08:16:02.530871Z", "completed_at": null});
    vec![
        task.to_string().into_bytes(),
        json!([task, legacy]).to_string().into_bytes(),
        legacy.to_string().into_bytes(),
        run.to_string().into_bytes(),
        json!([run]).to_string().into_bytes(),
        serde_json::to_vec_pretty(&task).unwrap(),
        b"[]".to_vec(),
    ]
}

fn error_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"detail":"Invalid API key"}"#.to_vec(),
        br#"{"detail":[{"type":"missing","loc":["body","search_query"],"msg":"Field required","input":{}}]}"#.to_vec(),
        br#"{"detail":[{"loc":["query","limit",0],"msg":"Input should be a valid integer"}]}"#.to_vec(),
        br#"{"error":"Rate limit exceeded: 10 per 1 minute"}"#.to_vec(),
        br#"{"error":{"message":"nested"}}"#.to_vec(),
        br#"{"message":"plain"}"#.to_vec(),
        b"Internal Server Error".to_vec(),
        b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>".to_vec(),
        b"<!DOCTYPE html><title>\xe9t\xe9</title>".to_vec(),
    ]
}

fn config_seeds() -> Vec<Vec<u8>> {
    vec![
        br#"{"api_key": "sk_cFSK7PFckoFLSjO1iPUnDTeFW5B20KRnjC504xFDyBg", "api_url": "http://localhost:8000", "timeout": 60}"#.to_vec(),
        br#"{"api_url": "https://api.torale.ai/", "timeout": "45", "theme": {"dark": [1, 2]}}"#.to_vec(),
        b"{}\n".to_vec(),
        b"  \n".to_vec(),
    ]
}

#[test]
fn random_inputs_through_every_parser() {
    let seed = std::env::var("TORALE_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x746f_7261_6c65_u64);
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut counts = [0usize; 5];

    for _ in 0..40_000 {
        check_args(random_args(&mut rng));
        counts[0] += 1;
    }

    let seeds = config_seeds();
    let seed_refs: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    const CONFIG_KEYS: &[&str] = &["api_key", "api_url", "timeout", "theme"];
    for i in 0..25_000 {
        let bytes = match i % 3 {
            0 => mutate_one(&mut rng, &seed_refs),
            1 => {
                let mut value = random_value(&mut rng, CONFIG_KEYS, 2);
                if rng.chance(70) {
                    value = json!({
                        *rng.pick(CONFIG_KEYS): random_value(&mut rng, CONFIG_KEYS, 1),
                        *rng.pick(CONFIG_KEYS): json!(*rng.pick(VALUES)),
                    });
                }
                value.to_string().into_bytes()
            }
            _ => rng.bytes(64),
        };
        check_config(&bytes);
        counts[1] += 1;
    }

    let seeds = error_seeds();
    let seed_refs: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    const ERROR_KEYS: &[&str] = &["detail", "error", "message", "loc", "msg", "type"];
    for i in 0..25_000 {
        let bytes = match i % 3 {
            0 => mutate_one(&mut rng, &seed_refs),
            1 => random_value(&mut rng, ERROR_KEYS, 3)
                .to_string()
                .into_bytes(),
            _ => rng.text(40).into_bytes(),
        };
        check_error_body(&bytes);
        counts[2] += 1;
    }

    for _ in 0..20_000 {
        check_retry_after(&random_retry_after(&mut rng));
        counts[3] += 1;
    }

    let seeds = document_seeds();
    let seed_refs: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    for i in 0..40_000 {
        let bytes = match i % 3 {
            0 => mutate_one(&mut rng, &seed_refs),
            1 => {
                // A real document with some fields removed or given values of other types.
                let mut value: Value = serde_json::from_slice(&seeds[i % 4]).unwrap();
                for _ in 0..1 + rng.below(4) {
                    let key = *rng.pick(TASK_KEYS);
                    let target = match &mut value {
                        Value::Array(items) => &mut items[0],
                        other => other,
                    };
                    if let Value::Object(map) = target {
                        if rng.chance(20) {
                            map.remove(key);
                        } else {
                            map.insert(key.to_string(), random_value(&mut rng, TASK_KEYS, 2));
                        }
                    }
                }
                value.to_string().into_bytes()
            }
            _ => {
                let value = random_value(&mut rng, TASK_KEYS, 4);
                let value = if rng.chance(30) {
                    Value::Array(vec![value])
                } else {
                    value
                };
                value.to_string().into_bytes()
            }
        };
        check_document(&bytes);
        counts[4] += 1;
    }

    let total: usize = counts.iter().sum();
    let elapsed = started.elapsed();
    eprintln!(
        "random inputs: {total} (args {}, config {}, error bodies {}, Retry-After {}, documents {}) in {elapsed:.1?}, seed {seed}",
        counts[0], counts[1], counts[2], counts[3], counts[4]
    );
    assert!(total >= 100_000);
}

/// One of `seeds`, mutated.
fn mutate_one(rng: &mut Rng, seeds: &[&[u8]]) -> Vec<u8> {
    let seed = seeds[rng.below(seeds.len())];
    mutate(rng, seed, seeds)
}
