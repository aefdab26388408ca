//! What a script sees when the network, the server, a proxy or the disk misbehaves: the exit
//! code, the message on stderr, how many requests the server received, and that the key never
//! leaves the origin it was configured for. Backoff waits are shortened by the runner's
//! `TORALE_TEST_SLEEP_DIVISOR`; time limits here are only for real deadlines (`--timeout`).

use serde_json::json;

use crate::support::fake::Fault;
use crate::support::{closed_port_url, World};

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// The seconds of the first `waiting N.Ns` on stderr.
fn first_wait(stderr: &str) -> f64 {
    let at = stderr.find("waiting ").expect("a wait") + "waiting ".len();
    let secs = stderr[at..].split('s').next().unwrap();
    secs.parse().unwrap_or_else(|_| panic!("no wait in {stderr}"))
}

// ---- retries --------------------------------------------------------------------------------

#[test]
fn transient_failures_of_get_put_and_delete_are_retried_with_a_visible_wait() {
    let w = World::new();
    let id = w.task(json!({"name": "Release watch"}));
    // A proxy's plain-text 503, then its HTML 502, then the answer.
    w.fake.fault(Fault::unavailable(), 1);
    let page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    w.fake.fault(Fault::status(502, "text/html", page), 1);
    let run = w.run(&["task", "get", &id, "--debug"]);
    run.ok()
        .stdout_has("Release watch")
        .stderr_has("HTTP 503; waiting ")
        .stderr_has("before attempt 2 of 3")
        .stderr_has("HTTP 502; waiting ")
        .stderr_has("before attempt 3 of 3");
    // --debug shows each attempt, each with the key masked.
    let get = format!("> GET {}/api/v1/tasks/{id}", w.fake.url());
    assert_eq!(count(&run.stderr, &get), 3);
    let bearer = format!("> Authorization: Bearer {}", w.masked_key());
    assert_eq!(count(&run.stderr, &bearer), 3, "{run:?}");
    assert!(run.stderr.contains("< 503") && run.stderr.contains("< 502"));
    assert_eq!(w.requests(), vec![format!("GET /api/v1/tasks/{id}"); 3]);

    // PUT (pause) through a 504, DELETE through a connection reset.
    w.fake.fault(Fault::json(504, r#"{"detail":"Gateway Timeout"}"#), 1);
    w.run(&["task", "pause", &id]).ok().stderr_has("HTTP 504; waiting");
    w.fake.fault(Fault::Reset, 1);
    w.run(&["task", "delete", "--yes", &id]).ok().stderr_has("Connection closed by the server");
    let path = format!("/api/v1/tasks/{id}");
    let expected = ["PUT", "PUT", "DELETE", "DELETE"].map(|m| format!("{m} {path}"));
    assert_eq!(w.requests(), expected);
}

#[test]
fn errors_that_persist_end_after_three_attempts_and_others_at_once() {
    let w = World::new();
    w.fake.fault(Fault::unavailable(), usize::MAX);
    let run = w.run(&["task", "list"]);
    run.code(9).no_stdout().stderr_has("Error: Server error (HTTP 503): Service Unavailable");
    assert_eq!(count(&run.stderr, "waiting"), 2, "{run:?}");
    assert_eq!(w.requests(), vec!["GET /api/v1/tasks/"; 3]);

    // A 500 is not transient: no retry.
    w.fake.clear_faults();
    w.fake.fault(Fault::status(500, "text/plain", "Internal Server Error"), 1);
    w.run(&["auth", "whoami"])
        .code(9)
        .no_stdout()
        .stderr_has("Error: Server error (HTTP 500): Internal Server Error")
        .stderr_lacks("waiting");
    assert_eq!(w.requests(), ["GET /auth/me"]);
    // Nor is a POST that may have reached the server: the run may have started.
    let id = w.task(json!({"name": "Release watch"}));
    let execute = format!("/api/v1/tasks/{id}/execute");
    w.fake.fault_on(&execute, Fault::unavailable(), 1);
    w.run(&["task", "execute", &id])
        .code(9)
        .no_stdout()
        .stderr_has("Error: Server error (HTTP 503): Service Unavailable")
        .stderr_lacks("waiting");
    // The connection reset after the request was sent.
    w.fake.fault_on(&execute, Fault::Reset, 1);
    w.run(&["task", "execute", &id])
        .code(10)
        .no_stdout()
        .stderr_has("Error: Connection closed by the server")
        .stderr_lacks("waiting");
    assert_eq!(w.requests(), vec![format!("POST {execute}"); 2]);

    // The rate limiter's 429 (no Retry-After) is backed off, even for POST: it refused the
    // request before any work. Then exit 7.
    w.fake.fault_on("/api/v1/tasks/", Fault::rate_limited(), usize::MAX);
    w.run(&["task", "create", "-n", "Watch", "-q", "Is 2.0 out?"])
        .code(7)
        .no_stdout()
        .stderr_has("HTTP 429; waiting ")
        .stderr_has("Error: Rate limit exceeded: 10 per 1 minute")
        .stderr_has("Hint: ");
    assert_eq!(w.requests(), vec!["POST /api/v1/tasks/"; 3]);

    // The active-task cap is a 429 too, but not a rate limit: refused at once with exit 6.
    w.fake.clear_faults();
    let cap = r#"{"detail":"Maximum of 50 active tasks reached. Complete or pause existing tasks first."}"#;
    w.fake.fault_on("/api/v1/tasks/", Fault::json(429, cap), 1);
    w.run(&["task", "create", "-n", "Watch", "-q", "Is 2.0 out?"])
        .code(6)
        .no_stdout()
        .stderr_has("Error: Maximum of 50 active tasks reached")
        .stderr_lacks("waiting");
    assert_eq!(w.requests(), ["POST /api/v1/tasks/"]);
}

#[test]
fn retry_after_in_seconds_is_a_minimum_wait() {
    let w = World::new();
    // Seconds, on a GET's 503: the wait is 2 s although the backoff would be about 1 s.
    w.fake.fault(Fault::unavailable().header("Retry-After", "2"), 1);
    w.run(&["auth", "whoami"]).ok().stderr_has("HTTP 503; waiting 2.0s before attempt 2 of 3");
    assert_eq!(w.requests(), vec!["GET /auth/me"; 2]);
    // Seconds on the rate limiter's 429 for a POST; a date (no server sends one) is no hint.
    w.fake.fault_on("/api/v1/tasks/", Fault::rate_limited().header("Retry-After", "3"), 1);
    let run = w.run(&["task", "create", "-n", "Watch", "-q", "Is 2.0 out?"]);
    run.ok().stderr_has("HTTP 429; waiting 3.0s");
    assert_eq!(w.requests(), vec!["POST /api/v1/tasks/"; 2]);
    // A client that honoured this date would wait for years.
    let date = "Wed, 21 Oct 2037 07:28:00 GMT";
    w.fake.fault(Fault::unavailable().header("Retry-After", date), 1);
    let run = w.run(&["auth", "whoami"]);
    run.ok();
    assert!(first_wait(&run.stderr) < 5.0, "{run:?}");
}

#[test]
fn connection_refused_is_retried_for_every_method_then_exit_10() {
    let w = World::new();
    let url = closed_port_url();
    for (args, path) in [
        (&["auth", "whoami", "--debug"][..], "auth/me"),
        (&["task", "create", "-n", "Watch", "-q", "Is 2.0 out?", "--debug"], "api/v1/tasks/"),
    ] {
        let run = w
            .cmd(args)
            .env("TORALE_API_URL", &url)
            .env("TORALE_API_KEY", crate::support::UNKNOWN_KEY)
            .run();
        run.code(10)
            .no_stdout()
            .stderr_has(&format!("Error: Connection refused ({url}/{path})"))
            .stderr_has("Hint: Is the API running?");
        // A refused connection never reached the server, so even POST is tried three times.
        assert_eq!(count(&run.stderr, &format!(" {url}/")), 3, "{run:?}");
        assert_eq!(count(&run.stderr, "waiting"), 2, "{run:?}");
    }
}

// ---- timeouts -------------------------------------------------------------------------------

#[test]
fn the_whole_command_ends_within_its_timeout() {
    let w = World::new();
    w.fake.fault(Fault::Hang, usize::MAX);
    w.run(&["task", "list", "--timeout", "2"])
        .code(10)
        .no_stdout()
        .stderr_has("Error: Request timed out")
        .stderr_has("Hint: Raise the limit with --timeout")
        .within(4);
    // A timed-out request is not repeated: the limit is for the whole command.
    assert_eq!(w.requests(), ["GET /api/v1/tasks/"]);

    w.fake.clear_faults();
    w.fake.fault(Fault::Trickle(std::time::Duration::from_millis(200)), usize::MAX);
    w.run(&["auth", "whoami", "--timeout", "2"])
        .code(10)
        .no_stdout()
        .stderr_has("Error: Request timed out")
        .within(4);
    assert_eq!(w.requests(), ["GET /auth/me"]);

    // A 503 every time, with real backoff: no retry outlasts the limit.
    w.fake.clear_faults();
    w.fake.fault(Fault::unavailable(), usize::MAX);
    let run = unavailable_for_a_second(&w);
    run.code(9).no_stdout().stderr_has("Error: Server error (HTTP 503)").within(3);
    assert!(w.requests().len() <= 2, "{run:?}");

    // A slow answer inside the limit is just slow.
    w.fake.clear_faults();
    w.fake.fault(Fault::Delay(std::time::Duration::from_secs(1)), 1);
    w.run(&["auth", "whoami", "--timeout", "5"]).ok().stdout_has("user@example.com");
}

/// `task list --timeout 1` with the backoff waits really slept.
fn unavailable_for_a_second(w: &World) -> crate::support::Run {
    let cmd = w.cmd(&["task", "list", "--timeout", "1"]).server(&w.fake);
    cmd.env("TORALE_TEST_SLEEP_DIVISOR", "1").run()
}

#[test]
fn a_retry_that_would_outlast_the_timeout_is_named() {
    let w = World::new();
    w.fake.fault(Fault::unavailable(), usize::MAX);
    unavailable_for_a_second(&w)
        .code(9)
        .stderr_has("Hint: Not retried: attempt ")
        .stderr_has(" of 3 would end after --timeout (1 s)")
        .within(3);
}

// ---- redirects ------------------------------------------------------------------------------

#[test]
fn redirects_are_refused_and_the_key_never_follows_one() {
    // The API never redirects a request torale makes (collection paths carry their slash), so
    // a 3xx is a wrong URL: refused with the place it pointed to, nothing sent there.
    let w = World::new();
    let other = World::new();
    for (status, location) in [
        (307, "/auth/me?moved=1".to_string()),
        (302, format!("{}/elsewhere/", other.fake.url())),
        (301, "ftp://files.example/me".to_string()),
    ] {
        w.fake.fault_on("/auth/me", Fault::redirect(status, &location), 1);
        w.run(&["auth", "whoami"])
            .code(9)
            .no_stdout()
            .stderr_has(&format!("Error: The server redirected to {location}"))
            .stderr_has("--api-url");
        assert_eq!(w.requests(), ["GET /auth/me"]);
    }
    assert!(other.fake.take_requests().is_empty());
    w.fake.fault(Fault::status(302, "", ""), 1);
    w.run(&["auth", "whoami"]).code(9).no_stdout().stderr_has("HTTP 302");
    w.requests();
    // `torale api` with a collection path missing its slash meets the fake's 307.
    w.run(&["api", "/api/v1/tasks"]).code(9).stderr_has("The server redirected to");
    assert_eq!(w.requests().len(), 1);
    // A URL below the server's root meets a 404, said to be the URL's fault.
    w.run(&["--api-url", &format!("{}/api", w.fake.url()), "task", "list"])
        .code(5)
        .stderr_has("Error: Not Found")
        .stderr_has("the API URL must be the server's root");
}

// ---- hostile or broken responses ------------------------------------------------------------

#[test]
fn broken_success_bodies_are_exit_9_never_a_panic() {
    let w = World::new();
    let html = "<!DOCTYPE html><html><head><title>Sign in to Wi-Fi</title></head></html>";
    let not_utf8 = &b"[{\"id\": \"\xff\xfe\"}]"[..];
    let cases = [
        (Fault::json(200, "<<<this is not json>>>"), ": not JSON"),
        (Fault::json(200, r#"[{"name": "Truncated", "state": "act"#), ": not JSON"),
        (Fault::status(200, "application/json", not_utf8), ": not valid UTF-8"),
        (Fault::json(200, r#"{"tasks": []}"#), ""),
        (Fault::json(200, r#"[{"id": 42, "name": ["not", "a", "name"]}]"#), ""),
        (Fault::status(200, "text/html", html), ": HTML page \"Sign in to Wi-Fi\" instead of JSON"),
    ];
    let n = cases.len();
    for (fault, detail) in cases {
        w.fake.fault(fault, 1);
        w.run(&["task", "list"])
            .code(9)
            .no_stdout()
            .stderr_has(&format!("Error: Malformed response from the server{detail}"))
            .stderr_lacks("panicked");
    }
    // A 200 is an answer: none of these is retried.
    assert_eq!(w.requests(), vec!["GET /api/v1/tasks/"; n]);
}

#[test]
fn error_bodies_of_every_shape_become_one_short_readable_line() {
    let w = World::new();
    let page = "<html><head><title>403 Forbidden</title></head><body>cloudflare</body></html>";
    let forbidden = Fault::status(403, "text/html", page);
    let missing =
        r#"{"detail":[{"type":"missing","loc":["body","search_query"],"msg":"Field required"}]}"#;
    let cases = [
        (forbidden, 4, "Error: HTML page \"403 Forbidden\" (a proxy in the way?)"),
        (Fault::json(422, missing), 6, "Error: search_query: Field required"),
        (Fault::json(409, r#"{"error":{"message":"Conflict here"}}"#), 6, "Error: Conflict here"),
        (Fault::status(500, "text/plain", ""), 9, "Error: HTTP 500 from GET"),
        (Fault::status(501, "text/plain", "x".repeat(10_000)), 9, "…"),
        (Fault::json(400, &json!({ "detail": "x".repeat(1 << 20) }).to_string()), 6, "Error: xxx"),
    ];
    for (fault, code, message) in cases {
        w.fake.fault(fault, 1);
        let run = w.run(&["auth", "whoami"]);
        run.code(code).no_stdout().stderr_has(message);
        assert_eq!(run.stderr.lines().filter(|l| l.starts_with("Error: ")).count(), 1);
        assert!(run.stderr.len() < 1000, "{run:?}");
    }
    // Terminal escapes in an error message are shown, not obeyed.
    let id = w.task(json!({"name": "plain"}));
    w.fake.fault(Fault::json(400, r#"{"detail":"bad \u001b[31mred\u001b[0m \u0007 name"}"#), 1);
    let run = w.run(&["task", "pause", &id]);
    run.code(6).stderr_has("Error: bad \\x1b[31mred\\x1b[0m \\x07 name");
    assert!(!run.stderr.contains('\u{1b}'));
    // Unmasking a key sent back escaped decodes no control either; a key as a header name and
    // a server's state word are masked and escaped too.
    let key = w.fake.key();
    let body = format!(r#"{{"detail":"%1B]0;x%07 %C2%9B {} \q"}}"#, key.replace('_', "%5F"));
    w.fake.fault(Fault::json(401, &body).header(&format!("X-Echo-{key}"), "1"), 1);
    let run = w.run(&["--debug", "task", "pause", &id]);
    run.code(4).stderr_has("Error: {\"detail\":\"\\x1b]0;x\\x07 \\x9b sk_...");
    w.fake.fault(Fault::json(201, r#"{"id": "b", "name": "n", "state": "\u009b1m"}"#), 1);
    w.run(&["task", "create", "-q", "q", "-n", "n"]).ok().stderr_has("Created task 'n' (\\x9b1m)");
    w.cmd(&["--api-url", &format!("http://127.0.0.1:9/{key}"), "config"]).run().ok();
}

#[test]
fn oversized_bodies_are_refused_without_being_read() {
    let w = World::new();
    for size in [64 * 1024 * 1024 + 1, 1u64 << 40] {
        w.fake.fault(Fault::Huge(size), 1);
        // A terabyte can neither be read in this time nor held in memory.
        w.run(&["task", "list"])
            .code(9)
            .no_stdout()
            .stderr_has("Error: Response larger than 64 MiB refused")
            .within(20);
    }
    assert_eq!(w.requests(), vec!["GET /api/v1/tasks/"; 2]);
}

// ---- secrets --------------------------------------------------------------------------------

#[test]
fn a_key_echoed_back_by_the_server_is_masked_everywhere() {
    // The runner fails any run whose output contains a full key.
    let w = World::new();
    let key = w.fake.key();
    let middle = &key[8..38];
    let detail = json!({"detail": format!("Token verification failed: Bearer {key}")});
    let echo = Fault::json(400, &detail.to_string()).header("X-Echo", &format!("Bearer {key}"));
    w.fake.fault(echo, 1);
    w.run(&["auth", "whoami", "--debug"])
        .code(6)
        .stderr_has(&format!("Error: Token verification failed: Bearer {}", w.masked_key()))
        .stderr_has(&format!("< x-echo: Bearer {}", w.masked_key()));
    // Percent-encoded or `\uXXXX`-escaped.
    let percent: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
    let unicode: String = key.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    for shown in [percent, unicode] {
        w.fake.fault(Fault::json(401, &format!("{{\"detail\":\"Invalid token: {shown}\"}}")), 1);
        let run = w.run(&["auth", "whoami"]);
        run.code(4).stderr_has(&format!("Invalid token: {}", w.masked_key())).stderr_lacks(middle);
        w.fake.fault(Fault::status(401, "text/plain", format!("Invalid token: {shown}")), 1);
        w.run(&["auth", "whoami"]).code(4).stderr_lacks(middle).stderr_lacks(&shown[..60]);
    }
    // In a successful body.
    let id = w.task(json!({"name": format!("leak {key}")}));
    for args in [&["task", "get", &id][..], &["task", "get", &id, "--json"]] {
        w.run(args).ok().stdout_has(&format!("leak {}", w.masked_key()));
    }
    // In task names of a list: `sk%5F…` and `\u0073k_…` in the JSON text.
    w.task(json!({"name": "percent"}));
    w.task(json!({"name": "unicode"}));
    let listed = w.run(&["api", "/api/v1/tasks/"]).ok().stdout.clone();
    let body = listed
        .replace("\"percent\"", &format!("\"{}\"", key.replacen("sk_", "sk%5F", 1)))
        .replace("\"unicode\"", &format!("\"{}\"", key.replacen("s", "\\u0073", 1)));
    w.fake.fault(Fault::json(200, &body), 1);
    let run = w.run(&["task", "list"]);
    run.ok();
    assert_eq!(run.stdout.matches(&w.masked_key()).count(), 3, "{run:?}");
    assert!(!run.stdout.contains(middle), "{run:?}");
}

// ---- config safety --------------------------------------------------------------------------

#[test]
fn a_crash_or_a_full_disk_mid_write_leaves_the_old_config() {
    let w = World::new();
    let original = "{\"api_url\": \"http://keep.example:1\", \"extra\": [1, 2]}\n";
    w.write_config(original);
    // Every file write fails as on a full disk: exit 3, the temp file cleaned up.
    for args in [&["config", "set", "timeout", "5"][..], &["auth", "set-api-key", "--no-verify"]] {
        w.cmd(args)
            .stdin("sk_fullDiskFullDiskFullDiskFullDiskFullDisk12")
            .shell("trap '' XFSZ; ulimit -f 0;")
            .run()
            .code(3)
            .no_stdout()
            .stderr_has(&format!(
                "Error: Cannot write {}: File too large",
                w.config_path().display()
            ))
            .stderr_has("Hint: The existing config file was left unchanged");
        assert_eq!(w.read_config().unwrap(), original);
        assert_eq!(w.config_dir_entries(), ["config.json"]);
    }
    // `ulimit -f 0` kills the process (SIGXFSZ) on its first byte written to any file.
    let run = w.cmd(&["config", "set", "timeout", "5"]).shell("ulimit -f 0;").run();
    assert_ne!(run.code, 0, "{run:?}");
    assert_eq!(w.read_config().unwrap(), original);

    // And the next run works and cleans nothing it should not.
    w.cmd(&["config", "set", "timeout", "5"]).run().ok();
    assert_eq!(w.config_json()["extra"], json!([1, 2]));
    assert_eq!(w.config_json()["timeout"], 5);
}

#[test]
fn a_read_only_config_directory_keeps_the_old_config_and_exits_3() {
    // Directory permissions do not bind root, so the run is as `nobody` (a copy of the binary
    // in a directory anyone can enter, wherever this checkout lives).
    const NOBODY: u32 = 65_534;
    let w = World::new();
    let original = "{\"api_url\": \"http://keep.example:1\"}\n";
    w.write_config(original);
    for path in [&w.root, &w.home, &w.config_dir, &w.config_path()] {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    crate::support::set_mode(&w.config_dir, 0o500);
    let run = w.cmd(&["config", "set", "timeout", "5"]).user(NOBODY).run();
    crate::support::set_mode(&w.config_dir, 0o700);
    run.code(3)
        .no_stdout()
        .stderr_has(&format!(
            "Error: Cannot write {}: Permission denied",
            w.config_path().display()
        ))
        .stderr_has("left unchanged");
    assert_eq!(w.read_config().unwrap(), original);
    assert_eq!(w.config_dir_entries(), ["config.json"]);
}
