//! `torale auth`: storing, checking and removing the key, which key (if any) each request
//! carries, the account's keys, and the trace that shows requests without the key.

use crate::support::fake::{Fault, Generation, Options};
use std::io::{Read, Write};

use crate::support::{closed_port_url, find_full_key, mode, World, UNKNOWN_KEY};

#[test]
fn a_piped_key_is_verified_then_saved_privately_beside_unknown_settings() {
    let w = World::new();
    let run =
        w.cmd(&["auth", "set-api-key"]).url(&w.fake).stdin(format!("{}\n", w.fake.key())).run();
    run.ok()
        .stdout_is("✓ Authenticated as user@example.com\n")
        .stderr_has(&format!("Saved API key {}", w.masked_key()));
    // Verified with GET /auth/me carrying exactly that key, before anything was written.
    let requests = w.fake.take_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].line(), "GET /auth/me");
    let bearer = format!("Bearer {}", w.fake.key());
    assert_eq!(requests[0].header("authorization"), Some(bearer.as_str()));
    let agent = concat!("torale/", env!("CARGO_PKG_VERSION"));
    assert_eq!(requests[0].header("user-agent"), Some(agent));
    assert_eq!(requests[0].header("accept"), Some("application/json"));
    assert_eq!(mode(&w.config_dir), 0o700);
    assert_eq!(mode(&w.config_path()), 0o600);
    let config = w.config_json();
    assert_eq!(config["api_key"], w.fake.key());
    assert!(config.get("api_url").is_none(), "the URL is saved only when given");

    // A given URL is saved too (without its slash), and other settings stay.
    w.write_config("{\"theme\": \"dark\", \"nested\": {\"a\": [1, 2]}}");
    let url = format!("{}/", w.fake.url());
    w.cmd(&["auth", "set-api-key", "--api-url", &url]).stdin(w.fake.key()).run().ok();
    let config = w.config_json();
    assert_eq!(config["theme"], "dark");
    assert_eq!(config["nested"]["a"], serde_json::json!([1, 2]));
    assert_eq!(config["api_url"], w.fake.url());
    // The saved settings are used from now on, with nothing in the environment.
    w.cmd(&["auth", "status"])
        .run()
        .ok()
        .stdout_has(&format!("API Key: {} (config file)", w.masked_key()));
    // --no-verify saves without asking any server.
    let key = "sk_offlineOfflineOfflineOfflineOfflineOffline1";
    w.cmd(&["auth", "set-api-key", "--no-verify", "--api-url", &closed_port_url()])
        .stdin(key)
        .run()
        .ok()
        .stdout_is("✓ API key saved (not verified)\n");
    assert_eq!(w.config_json()["api_key"], key);
}

#[test]
fn a_rejected_or_malformed_key_saves_nothing() {
    let w = World::new();
    let original = "{\"api_url\": \"http://x:1\"}";
    w.write_config(original);
    w.cmd(&["auth", "set-api-key"])
        .url(&w.fake)
        .stdin(UNKNOWN_KEY)
        .run()
        .code(4)
        .no_stdout()
        .stderr_has("Error: Invalid API key");
    assert_eq!(w.requests(), ["GET /auth/me"]);
    // Malformed keys are refused before anything is sent.
    for bad in ["pk_live_123", "sk_short", "sk_has spaces in the middle of it!!", ""] {
        w.cmd(&["auth", "set-api-key"]).url(&w.fake).stdin(bad).run().code(2).no_stdout();
    }
    w.cmd(&["auth", "set-api-key", "--api-key", "jwt.token.here"])
        .url(&w.fake)
        .run()
        .code(2)
        .stderr_has("Invalid --api-key: an API key starts with 'sk_'");
    assert!(w.requests().is_empty());
    assert_eq!(w.read_config().unwrap(), original);
}

#[test]
fn status_says_whose_key_from_where_and_exits_by_the_outcome() {
    let w = World::new();
    let run = w.run(&["auth", "status"]);
    run.ok().stdout_is(&format!(
        "✓ Authenticated as user@example.com\nAPI Key: {} (environment TORALE_API_KEY)\n\
         API URL: {} (environment TORALE_API_URL)\n",
        w.masked_key(),
        w.fake.url()
    ));
    assert!(run.stderr.is_empty(), "{run:?}");
    let value = w.run(&["auth", "status", "--json"]).ok().json();
    assert_eq!(value["authenticated"], true);
    assert_eq!(value["user"]["email"], "user@example.com");
    assert_eq!(value["api_key"], w.masked_key());
    assert_eq!(value["api_key_source"], "environment");

    // From a file, or from standard input.
    let path = w.root.join("key");
    std::fs::write(&path, format!("{}\n", w.fake.key())).unwrap();
    w.cmd(&["auth", "status", "--api-key-file", path.to_str().unwrap()])
        .url(&w.fake)
        .run()
        .ok()
        .stdout_has("(flag --api-key-file)");
    w.cmd(&["auth", "status", "--api-key-file", "-"]).url(&w.fake).stdin(w.fake.key()).run().ok();

    // No key: exit 3, nothing sent.
    w.fake.take_requests();
    w.cmd(&["auth", "status"])
        .url(&w.fake)
        .run()
        .code(3)
        .no_stdout()
        .stderr_has("Error: No API key configured\n")
        .stderr_has("torale auth set-api-key");
    assert!(w.requests().is_empty());

    // A revoked key: exit 4.
    w.fake.revoke(&w.fake.key());
    w.run(&["auth", "status"])
        .code(4)
        .no_stdout()
        .stderr_has("Error: Invalid API key\n")
        .stderr_has(&format!("Key {} from environment TORALE_API_KEY was refused", w.masked_key()));
}

#[test]
fn noauth_sends_no_authorization_header_at_all() {
    let w = World::with(Options { noauth: true, ..Options::default() });
    // Even with a key configured everywhere, NOAUTH sends none.
    w.write_config(&format!("{{\"api_key\": \"{}\"}}", w.fake.key()));
    w.cmd(&["auth", "status"])
        .server(&w.fake)
        .env("TORALE_NOAUTH", "1")
        .run()
        .ok()
        .stdout_has("✓ Authenticated as test@example.com")
        .stdout_has("API Key: none sent (TORALE_NOAUTH)");
    w.cmd(&["task", "list", "--json"])
        .url(&w.fake)
        .env("TORALE_NOAUTH", "1")
        .run()
        .ok()
        .stdout_is("[]\n");
    let requests = w.fake.take_requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.header("authorization").is_none()));

    // A legacy server in NOAUTH mode still guards /auth: 403 without a header.
    let w =
        World::with(Options { generation: Generation::Legacy, noauth: true, ..Options::default() });
    w.cmd(&["auth", "status"])
        .url(&w.fake)
        .env("TORALE_NOAUTH", "1")
        .run()
        .code(4)
        .no_stdout()
        .stderr_has("Error: Not authenticated")
        .stderr_has("TORALE_NOAUTH=1 sends no key");
    assert_eq!(w.fake.take_requests()[0].header("authorization"), None);
}

#[test]
fn the_key_comes_from_the_flag_then_the_environment_then_the_file() {
    let w = World::new();
    let file_key = w.fake.add_user("file@example.com");
    let env_key = w.fake.add_user("env@example.com");
    let flag_key = w.fake.add_user("flag@example.com");
    w.write_config(&format!("{{\"api_key\": \"{file_key}\", \"api_url\": \"{}\"}}", w.fake.url()));
    let email = |run: crate::support::Run| run.ok().json()["email"].clone();
    assert_eq!(email(w.cmd(&["auth", "whoami"]).run()), "file@example.com");
    let with_env = w.cmd(&["auth", "whoami"]).env("TORALE_API_KEY", &env_key);
    assert_eq!(email(with_env.run()), "env@example.com");
    let with_flag =
        w.cmd(&["auth", "whoami", "--api-key", &flag_key]).env("TORALE_API_KEY", &env_key);
    assert_eq!(email(with_flag.run()), "flag@example.com");
    let sent: Vec<String> = w
        .fake
        .take_requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or("").to_string())
        .collect();
    assert_eq!(sent, [file_key, env_key, flag_key].map(|k| format!("Bearer {k}")));
}

#[test]
fn whoami_prints_the_servers_object() {
    for generation in [Generation::Head, Generation::Legacy] {
        let w = World::of(generation);
        let run = w.run(&["auth", "whoami"]);
        let printed = run.ok().json();
        assert_eq!(run.stdout.lines().count(), 1, "compact when piped");
        // Compare with what the server itself answers.
        let expected: serde_json::Value = ureq::get(format!("{}/auth/me", w.fake.url()))
            .header("Authorization", format!("Bearer {}", w.fake.key()))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        assert_eq!(printed, expected, "{generation:?}");
    }
}

#[test]
fn logout_removes_only_the_key() {
    let w = World::new();
    let key = "sk_logoutLogoutLogoutLogoutLogoutLogoutLogou1";
    w.write_config(&format!("{{\"api_key\": \"{key}\", \"api_url\": \"http://x:1\"}}"));
    w.cmd(&["auth", "logout"]).run().ok().stdout_has("✓ Removed the API key");
    let config = w.config_json();
    assert!(config.get("api_key").is_none());
    assert_eq!(config["api_url"], "http://x:1");
    assert_eq!(mode(&w.config_path()), 0o600);
    w.cmd(&["auth", "logout"]).run().ok().no_stdout().stderr_has("No API key was stored");
    // A file holding only the key is removed; TORALE_API_KEY gets a warning.
    w.write_config(&format!("{{\"api_key\": \"{key}\"}}"));
    w.cmd(&["auth", "logout"])
        .env("TORALE_API_KEY", key)
        .run()
        .ok()
        .stderr_has("TORALE_API_KEY is still set");
    assert!(w.read_config().is_none());
}

#[test]
fn the_debug_trace_shows_every_request_header_with_the_key_masked() {
    // Each attempt of a retried request is traced too (see the faults stories).
    let w = World::new();
    w.cmd(&["auth", "whoami"])
        .server(&w.fake)
        .env("TORALE_DEBUG", "1")
        .run()
        .ok()
        .stderr_has(&format!("> GET {}/auth/me", w.fake.url()))
        .stderr_has(&format!("> Authorization: Bearer {}", w.masked_key()))
        .stderr_has("< 200");
    w.run(&["task", "create", "-q", "x", "--debug"])
        .ok()
        .stderr_has(concat!("> User-Agent: torale/", env!("CARGO_PKG_VERSION")))
        .stderr_has("> Accept: application/json")
        .stderr_has("> Content-Type: application/json");
}

#[test]
fn keys_list_marks_the_key_in_use_and_revoking_it_warns() {
    let w = World::new();
    let prefix = format!("{}...", &w.fake.key()[..15]);
    w.run(&["auth", "keys", "list"])
        .ok()
        .stdout_has("ID")
        .stdout_has("PREFIX")
        .stdout_has("*  ")
        .stdout_has(&prefix)
        .stdout_has("yes");
    let listed = w.run(&["auth", "keys", "list", "--json"]).ok().json();
    assert_eq!(listed[0]["key_prefix"], prefix.as_str());
    assert_eq!(listed[0]["is_active"], true);
    // The current server allows one active key per account.
    w.run(&["auth", "keys", "create", "CI key"])
        .code(6)
        .no_stdout()
        .stderr_has("Error: You already have an active API key")
        .stderr_has("one active key per account");
    w.run(&["auth", "keys", "revoke", "not-a-uuid", "-y"]).code(2).stderr_has("Invalid key ID");
    let id = listed[0]["id"].as_str().unwrap();
    w.run(&["auth", "keys", "revoke", id, "-y"]).ok().stderr_has("is the key torale is using");
    w.run(&["auth", "status"]).code(4);
}

#[test]
fn keys_create_prints_the_new_key_once_and_revoke_ends_it() {
    // Legacy servers allow several keys.
    let w = World::of(Generation::Legacy);
    let run = w.cmd(&["auth", "keys", "create", "CI key"]).server(&w.fake).key_on_stdout().run();
    run.ok().stderr_has("Created API key 'CI key'").stderr_has("shown only once");
    let new_key = run.value();
    assert_eq!(run.stdout, format!("{new_key}\n"), "nothing else on stdout");
    assert!(new_key.starts_with("sk_") && new_key.len() == 46, "{new_key}");
    let whoami = || w.cmd(&["auth", "whoami", "--api-key", &new_key]).url(&w.fake).run();
    whoami().ok();
    let listed = w.run(&["auth", "keys", "list", "--json"]).ok().json();
    let id = listed.as_array().unwrap().iter().find(|k| k["name"] == "CI key").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.run(&["auth", "keys", "revoke", &id])
        .code(2)
        .stderr_has("Refusing to revoke without confirmation");
    // The prefix is the server's text: a terminal control in it is shown escaped.
    let hostile =
        format!(r#"[{{"id": "{id}", "name": "CI key", "key_prefix": "sk_\u001b]0;x\u0007"}}]"#);
    w.fake.fault_on("/auth/api-keys", Fault::json(200, &hostile), 1);
    let run = w.run(&["auth", "keys", "revoke", &id, "--yes"]);
    run.ok().stdout_has("✓ Revoked API key 'CI key' (sk_\\x1b]0;x\\x07)").stderr_lacks("Warning");
    whoami().code(4).stderr_has("Invalid API key");
}

#[test]
fn the_key_prompt_hides_what_is_typed_and_gives_echo_back_even_when_killed() {
    let w = World::new();
    // The shell prints READY once the prompt has turned echo off; only then is the key typed.
    let flags = "stty -a | tr ' ;' '\\n\\n' | grep -x";
    let prompt = |then: &str, typed: &str| {
        let shell = format!(
            "auth set-api-key </dev/tty & pid=$!; i=0; \
             until {flags} -- -echo >/dev/null || [ $i -gt 600 ]; do sleep 0.05; i=$((i+1)); done; \
             echo READY; {then} wait $pid; echo \"exit=$?\"; {flags} -e echo -e -echo"
        );
        let mut child = w.terminal(100, &shell).spawn().expect("util-linux `script` runs");
        let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let (mut screen, mut byte) = (Vec::new(), [0; 1]);
        while !screen.ends_with(b"READY\r\n") && stdout.read(&mut byte).unwrap() == 1 {
            screen.push(byte[0]);
        }
        stdin.write_all(typed.as_bytes()).unwrap();
        stdout.read_to_end(&mut screen).unwrap();
        child.wait().unwrap();
        let screen = String::from_utf8_lossy(&screen).replace("\r\n", "\n");
        assert!(find_full_key(&screen).is_none(), "the key reached the terminal:\n{screen}");
        screen
    };
    let typed = prompt("", &format!("{}\r", w.fake.key()));
    assert!(typed.contains("Authenticated as user@example.com"), "{typed}");
    assert!(typed.ends_with("exit=0\necho\n"), "{typed}");
    assert_eq!(w.config_json()["api_key"], w.fake.key());
    // Ended by SIGTERM during the prompt: echo is back, and the signal still ends it (143).
    let killed = prompt("kill -TERM $pid;", "");
    assert!(killed.ends_with("exit=143\necho\n"), "{killed}");
}
