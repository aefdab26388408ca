//! Fault injection: what a script sees when the network, the server, a proxy or the disk
//! misbehaves. Each test is one fault from the README's "Faults" table: the exit code, the
//! message on stderr, a (generous) bound on the time taken, how many requests the server
//! received, and that the key never leaves the origin it was configured for.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use support::fake::{Fake, Fault, Generation, Request};
use support::{find_full_key, mode, Run, Sandbox};

/// A user, their config directory and the fake API they talk to.
struct World {
    fake: Fake,
    sandbox: Sandbox,
}

impl World {
    fn new() -> World {
        World {
            fake: Fake::start(Generation::Head),
            sandbox: Sandbox::new(),
        }
    }

    fn torale(&self, args: &[&str]) -> Run {
        self.sandbox.torale(args).server(&self.fake).run()
    }

    /// A task of the fake's user, for commands that need an ID.
    fn task(&self) -> String {
        self.fake
            .seed_task(&self.fake.key(), json!({"name": "Release watch"}))
    }

    /// The requests the fake received, as `METHOD /path`.
    fn requests(&self) -> Vec<String> {
        self.fake.requests().iter().map(line).collect()
    }

    fn masked_key(&self) -> String {
        let key = self.fake.key();
        format!("sk_...{}", &key[key.len() - 5..])
    }
}

fn line(r: &Request) -> String {
    format!("{} {}", r.method, r.path)
}

fn times(request: &str, n: usize) -> Vec<String> {
    vec![request.to_string(); n]
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// The run took at least `min` and less than `max` (seconds); bounds are kept loose.
fn took(run: &Run, min: f64, max: f64) {
    let secs = run.elapsed.as_secs_f64();
    assert!(
        secs >= min && secs < max,
        "took {secs:.2}s, expected {min}..{max}s:\n{run:?}"
    );
}

/// A port on loopback where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) `secs` seconds from now.
fn http_date_in(secs: u64) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let (days, rem) = ((t / 86_400) as i64, t % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---- 1. retries ------------------------------------------------------------------------------

#[test]
fn transient_failures_of_get_put_and_delete_are_retried_with_a_visible_wait() {
    let w = World::new();
    let id = w.task();
    // A proxy's plain-text 503, then its HTML 502, then the answer.
    w.fake.fault(Fault::unavailable(), 1);
    w.fake.fault(Fault::bad_gateway(), 1);
    let run = w.torale(&["task", "get", &id, "--debug"]);
    run.ok()
        .stdout_has("Release watch")
        .stderr_has("HTTP 503; waiting ")
        .stderr_has("before attempt 2 of 3")
        .stderr_has("HTTP 502; waiting ")
        .stderr_has("before attempt 3 of 3");
    // --debug shows each attempt, each with the key masked.
    assert_eq!(
        count(
            &run.stderr,
            &format!("> GET {}/api/v1/tasks/{id}", w.fake.url())
        ),
        3
    );
    assert_eq!(
        count(
            &run.stderr,
            &format!("> Authorization: Bearer {}", w.masked_key())
        ),
        3,
        "{run:?}"
    );
    assert!(run.stderr.contains("< 503") && run.stderr.contains("< 502"));
    // Backoff 1 s then 2 s, each ±25%.
    took(&run, 2.2, 10.0);
    assert_eq!(w.requests(), times(&format!("GET /api/v1/tasks/{id}"), 3));

    // PUT (pause) through a 504, DELETE through a connection reset.
    w.fake.clear_requests();
    w.fake
        .fault(Fault::json(504, r#"{"detail":"Gateway Timeout"}"#), 1);
    w.torale(&["task", "pause", &id])
        .ok()
        .stderr_has("HTTP 504; waiting");
    w.fake.fault(Fault::Reset, 1);
    w.torale(&["task", "delete", "--yes", &id])
        .ok()
        .stderr_has("Connection closed by the server");
    let path = format!("/api/v1/tasks/{id}");
    assert_eq!(
        w.requests(),
        vec![
            format!("PUT {path}"),
            format!("PUT {path}"),
            format!("DELETE {path}"),
            format!("DELETE {path}"),
        ]
    );
}

#[test]
fn a_server_error_that_persists_ends_with_exit_9_after_three_attempts() {
    let w = World::new();
    w.fake.fault(Fault::unavailable(), usize::MAX);
    let run = w.torale(&["task", "list"]);
    run.code(9)
        .no_stdout()
        .stderr_has("Error: Server error (HTTP 503): Service Unavailable");
    assert_eq!(count(&run.stderr, "waiting"), 2, "{run:?}");
    took(&run, 2.2, 10.0);
    assert_eq!(w.requests(), times("GET /api/v1/tasks/", 3));
}

#[test]
fn a_server_error_that_is_not_transient_is_not_retried() {
    let w = World::new();
    w.fake
        .fault(Fault::status(500, "text/plain", "Internal Server Error"), 1);
    let run = w.torale(&["auth", "whoami"]);
    run.code(9)
        .no_stdout()
        .stderr_has("Error: Server error (HTTP 500): Internal Server Error")
        .stderr_lacks("waiting");
    took(&run, 0.0, 5.0);
    assert_eq!(w.requests(), vec!["GET /auth/me"]);
}

#[test]
fn the_rate_limiter_without_retry_after_is_backed_off_then_exit_7() {
    let w = World::new();
    w.fake
        .fault_on("/api/v1/tasks/", Fault::rate_limited(), usize::MAX);
    let run = w.torale(&["task", "create", "-n", "Watch", "-q", "Is 2.0 out?"]);
    run.code(7)
        .no_stdout()
        .stderr_has("HTTP 429; waiting ")
        .stderr_has("Error: Rate limit exceeded: 10 per 1 minute")
        .stderr_has("Hint: ");
    took(&run, 2.2, 10.0);
    // POST is repeated on the rate limiter's 429: the limiter refused it before any work.
    assert_eq!(w.requests(), times("POST /api/v1/tasks/", 3));
}

#[test]
fn retry_after_in_seconds_or_as_a_date_is_a_minimum_wait() {
    let w = World::new();
    // Seconds, on a GET's 503: the wait is 2 s although the backoff would be about 1 s.
    w.fake.fault(Fault::retry_after(503, "2"), 1);
    let run = w.torale(&["auth", "whoami"]);
    run.ok()
        .stderr_has("HTTP 503; waiting 2.0s before attempt 2 of 3");
    took(&run, 1.9, 8.0);
    assert_eq!(w.requests(), times("GET /auth/me", 2));

    // An HTTP date, on the rate limiter's 429 for a POST.
    w.fake.clear_requests();
    w.fake.fault_on(
        "/api/v1/tasks/",
        Fault::retry_after(429, &http_date_in(4)),
        1,
    );
    let run = w.torale(&["task", "create", "-n", "Watch", "-q", "Is 2.0 out?"]);
    run.ok().stderr_has("HTTP 429; waiting ");
    took(&run, 2.9, 10.0);
    assert_eq!(w.requests(), times("POST /api/v1/tasks/", 2));
}

#[test]
fn a_post_that_may_have_reached_the_server_is_not_repeated() {
    let w = World::new();
    let id = w.task();
    let execute = format!("/api/v1/tasks/{id}/execute");
    // A 503 after the request arrived: the run may have started.
    w.fake.fault_on(&execute, Fault::unavailable(), 1);
    let run = w.torale(&["task", "execute", &id]);
    run.code(9)
        .no_stdout()
        .stderr_has("Error: Server error (HTTP 503): Service Unavailable")
        .stderr_lacks("waiting");
    // The connection reset after the request was sent.
    w.fake.fault_on(&execute, Fault::Reset, 1);
    let run = w.torale(&["task", "execute", &id]);
    run.code(10)
        .no_stdout()
        .stderr_has("Error: Connection closed by the server")
        .stderr_lacks("waiting");
    took(&run, 0.0, 5.0);
    assert_eq!(w.requests(), times(&format!("POST {execute}"), 2));
}

#[test]
fn the_active_task_cap_is_refused_at_once_with_exit_6() {
    let w = World::new();
    w.fake.fault_on(
        "/api/v1/tasks/",
        Fault::json(
            429,
            r#"{"detail":"Maximum of 50 active tasks reached. Complete or pause existing tasks first."}"#,
        ),
        1,
    );
    let run = w.torale(&["task", "create", "-n", "Watch", "-q", "Is 2.0 out?"]);
    run.code(6)
        .no_stdout()
        .stderr_has("Error: Maximum of 50 active tasks reached")
        .stderr_lacks("waiting");
    took(&run, 0.0, 5.0);
    assert_eq!(w.requests(), vec!["POST /api/v1/tasks/"]);
}

#[test]
fn connection_refused_is_retried_for_every_method_then_exit_10() {
    let sandbox = Sandbox::new();
    let url = closed_port_url();
    let key = "sk_refusedRefusedRefusedRefusedRefusedRefused1";
    for args in [
        &["auth", "whoami", "--debug"][..],
        &[
            "task",
            "create",
            "-n",
            "Watch",
            "-q",
            "Is 2.0 out?",
            "--debug",
        ],
    ] {
        let run = sandbox
            .torale(args)
            .env("TORALE_API_URL", &url)
            .env("TORALE_API_KEY", key)
            .run();
        run.code(10)
            .no_stdout()
            .stderr_has(&format!("Error: Connection refused ({url}/"))
            .stderr_has("Hint: Is the API running?");
        // A refused connection never reached the server, so even POST is tried three times.
        assert_eq!(count(&run.stderr, &format!(" {url}/")), 3, "{run:?}");
        assert_eq!(count(&run.stderr, "waiting"), 2, "{run:?}");
        took(&run, 2.2, 10.0);
    }
}

// ---- 2. timeouts -----------------------------------------------------------------------------

#[test]
fn a_server_that_never_answers_ends_within_the_timeout() {
    let w = World::new();
    w.fake.fault(Fault::Hang, usize::MAX);
    let run = w.torale(&["task", "list", "--timeout", "2"]);
    run.code(10)
        .no_stdout()
        .stderr_has("Error: Request timed out")
        .stderr_has("Hint: Raise the limit with --timeout");
    took(&run, 1.9, 3.0);
    // A timed-out request is not repeated: the limit is for the whole command.
    assert_eq!(w.requests(), vec!["GET /api/v1/tasks/"]);
}

#[test]
fn a_server_that_trickles_bytes_ends_within_the_timeout() {
    let w = World::new();
    w.fake
        .fault(Fault::Trickle(Duration::from_millis(200)), usize::MAX);
    let run = w.torale(&["auth", "whoami", "--timeout", "2"]);
    run.code(10)
        .no_stdout()
        .stderr_has("Error: Request timed out");
    took(&run, 1.9, 3.0);
    assert_eq!(w.requests(), vec!["GET /auth/me"]);

    // A slow answer inside the limit is just slow.
    w.fake.clear_faults();
    w.fake.fault(Fault::Delay(Duration::from_secs(1)), 1);
    let run = w.torale(&["auth", "whoami", "--timeout", "3"]);
    run.ok().stdout_has("user@example.com");
}

// ---- 3. redirects ----------------------------------------------------------------------------

#[test]
fn a_same_origin_redirect_keeps_the_key() {
    let w = World::new();
    w.fake.fault_on(
        "/auth/me",
        Fault::Redirect {
            status: 307,
            location: "/auth/me?moved=1".into(),
        },
        1,
    );
    w.torale(&["auth", "whoami"]).ok();
    let requests = w.fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].query, "moved=1");
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {}", w.fake.key()).as_str())
        );
    }
}

#[test]
fn a_cross_origin_redirect_never_carries_the_key() {
    let w = World::new();
    let other = Fake::start(Generation::Head);
    // home -> other origin -> back home: once the chain has left, the key stays behind.
    w.fake.fault_on(
        "/api/v1/tasks/",
        Fault::Redirect {
            status: 307,
            location: format!("{}/elsewhere/", other.url()),
        },
        1,
    );
    other.fault(
        Fault::Redirect {
            status: 302,
            location: format!("{}/api/v1/tasks/", w.fake.url()),
        },
        1,
    );
    let run = w.torale(&["task", "list"]);
    run.code(4)
        .no_stdout()
        .stderr_has(&format!(
            "Warning: redirected to another origin ({}/elsewhere/); the API key is not sent there",
            other.url()
        ))
        .stderr_has("Error: Not authenticated")
        .stderr_has("Hint: The API key was not sent after a redirect to another origin");
    assert_eq!(
        w.requests(),
        vec!["GET /api/v1/tasks/", "GET /api/v1/tasks/"]
    );
    let elsewhere = other.requests();
    assert_eq!(elsewhere.len(), 1);
    assert_eq!(elsewhere[0].header("authorization"), None);
    // Every request after the first redirect went without the key.
    assert_eq!(w.fake.requests()[1].header("authorization"), None);
}

#[test]
fn redirects_the_cli_will_not_follow_are_exit_9() {
    let w = World::new();
    // A loop.
    w.fake.fault(
        Fault::Redirect {
            status: 302,
            location: "/auth/me".into(),
        },
        usize::MAX,
    );
    let run = w.torale(&["auth", "whoami"]);
    run.code(9)
        .no_stdout()
        .stderr_has("Error: Too many redirects");
    assert_eq!(w.requests(), times("GET /auth/me", 6));

    // No Location, and a scheme that is not HTTP.
    w.fake.clear_faults();
    w.fake.fault(Fault::status(302, "", ""), 1);
    w.torale(&["auth", "whoami"])
        .code(9)
        .stderr_has("Error: Server answered HTTP 302 without a Location");
    w.fake.fault(
        Fault::Redirect {
            status: 301,
            location: "ftp://files.example/me".into(),
        },
        1,
    );
    w.torale(&["auth", "whoami"])
        .code(9)
        .stderr_has("Error: Refusing redirect to ftp://files.example/me");
}

// ---- 4. hostile or broken responses ----------------------------------------------------------

#[test]
fn broken_success_bodies_are_exit_9_never_a_panic() {
    let w = World::new();
    let cases: Vec<(Fault, &str)> = vec![
        (
            Fault::garbage(),
            "Malformed response from the server: not JSON",
        ),
        (
            Fault::Truncated,
            "Malformed response from the server: not JSON",
        ),
        (
            Fault::Respond {
                status: 200,
                content_type: "application/json".into(),
                body: b"[{\"id\": \"\xff\xfe\"}]".to_vec(),
                headers: Vec::new(),
            },
            "Malformed response from the server: not valid UTF-8",
        ),
        (
            Fault::json(200, r#"{"tasks": []}"#),
            "Malformed response from the server",
        ),
        (
            Fault::json(200, r#"[{"id": 42, "name": ["not", "a", "name"]}]"#),
            "Malformed response from the server",
        ),
        (
            Fault::status(
                200,
                "text/html",
                "<!DOCTYPE html><html><head><title>Sign in to Wi-Fi</title></head></html>",
            ),
            "Malformed response from the server: HTML page \"Sign in to Wi-Fi\" instead of JSON",
        ),
    ];
    let n = cases.len();
    for (fault, message) in cases {
        w.fake.fault(fault, 1);
        let run = w.torale(&["task", "list"]);
        run.code(9)
            .no_stdout()
            .stderr_has(&format!("Error: {message}"))
            .stderr_lacks("panicked");
        took(&run, 0.0, 5.0);
    }
    // A 200 is an answer: none of these is retried.
    assert_eq!(w.requests(), times("GET /api/v1/tasks/", n));
}

#[test]
fn error_pages_of_every_shape_become_one_readable_line() {
    let w = World::new();
    let cases: Vec<(Fault, i32, &str)> = vec![
        (
            Fault::status(
                403,
                "text/html",
                "<html><head><title>403 Forbidden</title></head><body>cloudflare</body></html>",
            ),
            4,
            "Error: HTML page \"403 Forbidden\" (a proxy in the way?)",
        ),
        (
            Fault::json(
                422,
                r#"{"detail":[{"type":"missing","loc":["body","search_query"],"msg":"Field required"}]}"#,
            ),
            6,
            "Error: search_query: Field required",
        ),
        (
            Fault::json(409, r#"{"error":{"message":"Conflict here"}}"#),
            6,
            "Error: Conflict here",
        ),
        (
            Fault::status(500, "text/plain", ""),
            9,
            "Error: HTTP 500 from GET",
        ),
        (
            Fault::status(501, "text/plain", &"x".repeat(10_000)),
            9,
            "…",
        ),
    ];
    for (fault, code, message) in cases {
        w.fake.fault(fault, 1);
        let run = w.torale(&["auth", "whoami"]);
        run.code(code).no_stdout().stderr_has(message);
        assert_eq!(
            run.stderr
                .lines()
                .filter(|l| l.starts_with("Error: "))
                .count(),
            1
        );
        assert!(run.stderr.len() < 1000, "{run:?}");
    }
}

#[test]
fn oversized_bodies_are_refused_without_being_read() {
    let w = World::new();
    for size in [64 * 1024 * 1024 + 1, 1u64 << 40] {
        w.fake.fault(Fault::Huge(size), 1);
        let run = w.torale(&["task", "list"]);
        run.code(9)
            .no_stdout()
            .stderr_has("Error: Response larger than 64 MiB refused");
        // A terabyte cannot be read in this time, nor held in memory.
        took(&run, 0.0, 5.0);
    }
    assert_eq!(w.requests(), times("GET /api/v1/tasks/", 2));
}

#[test]
fn terminal_escapes_from_the_server_are_shown_not_obeyed() {
    let w = World::new();
    let evil = "\u{1b}[2J\u{1b}]0;owned\u{7}Evil\u{202e}gpj.exe\u{9b}31m";
    let id = w.fake.seed_task(
        &w.fake.key(),
        json!({"name": evil, "search_query": "q\r\nInjected: yes"}),
    );
    for args in [&["task", "list"][..], &["task", "get", &id]] {
        let run = w.torale(args);
        run.ok()
            .stdout_has("\\x1b[2J\\x1b]0;owned\\x07Evil\\u{202e}gpj.exe\\x9b31m");
        assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{202e}'));
        assert!(!run.stdout.contains('\r'));
    }
    // --json keeps the server's own escapes; only raw C1 and bidi controls are escaped.
    let run = w.torale(&["task", "get", &id, "--json"]);
    assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{9b}'));
    assert_eq!(run.json()["name"], evil);
    // Error text from the server too.
    w.fake.fault(
        Fault::json(
            400,
            r#"{"detail":"bad \u001b[31mred\u001b[0m \u0007 name"}"#,
        ),
        1,
    );
    let run = w.torale(&["task", "pause", &id]);
    run.code(6)
        .stderr_has("Error: bad \\x1b[31mred\\x1b[0m \\x07 name");
    assert!(!run.stderr.contains('\u{1b}'));
}

// ---- 5. secrets ------------------------------------------------------------------------------

#[test]
fn a_key_echoed_back_by_the_server_is_masked_everywhere() {
    let w = World::new();
    let key = w.fake.key();
    // In an error body, and in a header shown by --debug. (The runner fails any run whose
    // output contains a full key.)
    w.fake.fault(
        Fault::Respond {
            status: 400,
            content_type: "application/json".into(),
            body: json!({"detail": format!("Token verification failed: Bearer {key}")})
                .to_string()
                .into_bytes(),
            headers: vec![("X-Echo".into(), format!("Bearer {key}"))],
        },
        1,
    );
    let run = w.torale(&["auth", "whoami", "--debug"]);
    run.code(6)
        .stderr_has(&format!(
            "Error: Token verification failed: Bearer {}",
            w.masked_key()
        ))
        .stderr_has(&format!("< x-echo: Bearer {}", w.masked_key()));
    // In a successful body.
    let id = w
        .fake
        .seed_task(&key, json!({"name": format!("leak {key}")}));
    for args in [&["task", "get", &id][..], &["task", "get", &id, "--json"]] {
        w.torale(args)
            .ok()
            .stdout_has(&format!("leak {}", w.masked_key()));
    }
}

// ---- 6. config safety ------------------------------------------------------------------------

#[test]
fn concurrent_writers_never_leave_a_broken_config_file() {
    let sandbox = std::sync::Arc::new(Sandbox::new());
    sandbox.write_config("{\"theme\": \"dark\", \"timeout\": 30}\n");
    let path = sandbox.config_path();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let text = std::fs::read_to_string(&path).expect("the config file always exists");
                let value: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("a reader saw a broken file ({e}): {text:?}"));
                assert_eq!(value["theme"], "dark");
                reads += 1;
            }
            reads
        })
    };
    let keys: Vec<String> = (0..6)
        .map(|i| format!("sk_concurrent{i}Concurrent{i}Concurrent{i}Concurrent{i}x"))
        .collect();
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let sandbox = sandbox.clone();
            let key = keys[i].clone();
            std::thread::spawn(move || {
                for round in 0..4 {
                    let run = if (i + round) % 2 == 0 {
                        sandbox
                            .torale(&["config", "set", "timeout", &format!("{}", 100 + i)])
                            .run()
                    } else {
                        sandbox
                            .torale(&["auth", "set-api-key", "--no-verify", "--api-key-file", "-"])
                            .stdin(key.clone())
                            .run()
                    };
                    run.ok();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    // Last writer wins for each key; unknown keys survive every write.
    let config = sandbox.config_json();
    assert_eq!(config["theme"], "dark");
    assert!(
        (100..106).contains(&config["timeout"].as_u64().unwrap()),
        "{config}"
    );
    assert!(
        keys.iter().any(|k| config["api_key"] == *k.as_str()),
        "{config}"
    );
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        entries(&sandbox.config_dir),
        vec!["config.json"],
        "no temp files left"
    );
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_full_disk_or_read_only_directory_keeps_the_old_config_and_exits_3() {
    let sandbox = Sandbox::new();
    let original = "{\"api_url\": \"http://keep.example:1\", \"extra\": [1, 2]}\n";
    sandbox.write_config(original);

    // Every file write fails as on a full disk.
    sandbox
        .torale(&["auth", "set-api-key", "--no-verify"])
        .stdin("sk_fullDiskFullDiskFullDiskFullDiskFullDisk12")
        .fail_file_writes()
        .run()
        .code(3)
        .no_stdout()
        .stderr_has(&format!(
            "Error: Cannot write {}: File too large",
            sandbox.config_path().display()
        ))
        .stderr_has("Hint: The existing config file was left unchanged");
    assert_eq!(sandbox.read_config().unwrap(), original);
    assert_eq!(entries(&sandbox.config_dir), vec!["config.json"]);

    // A directory the user cannot write to.
    support::set_mode(&sandbox.config_dir, 0o500);
    let run = run_unprivileged(&sandbox, &["config", "set", "timeout", "5"]);
    support::set_mode(&sandbox.config_dir, 0o700);
    run.code(3)
        .no_stdout()
        .stderr_has(&format!(
            "Error: Cannot write {}: Permission denied",
            sandbox.config_path().display()
        ))
        .stderr_has("left unchanged");
    assert_eq!(sandbox.read_config().unwrap(), original);
    assert_eq!(entries(&sandbox.config_dir), vec!["config.json"]);
}

/// Run torale in the sandbox as a user that directory permissions apply to: as is, or, when
/// the tests run as root (who may write anywhere), as `nobody` owning the sandbox.
fn run_unprivileged(sandbox: &Sandbox, args: &[&str]) -> Run {
    use std::os::unix::process::CommandExt;
    let probe = sandbox.config_dir.join(".probe");
    let privileged = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_torale"));
    command
        .args(args)
        .env_clear()
        .env("HOME", &sandbox.home)
        .env("TORALE_CONFIG_DIR", &sandbox.config_dir)
        .stdin(std::process::Stdio::null());
    if privileged {
        const NOBODY: u32 = 65_534;
        for path in [
            &sandbox.root,
            &sandbox.home,
            &sandbox.config_dir,
            &sandbox.config_path(),
        ] {
            std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        command.uid(NOBODY).gid(NOBODY);
    }
    let started = Instant::now();
    let output = command.output().expect("run torale");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
        args: args.iter().map(|s| s.to_string()).collect(),
    };
    assert!(find_full_key(&run.stdout).is_none() && find_full_key(&run.stderr).is_none());
    run
}
