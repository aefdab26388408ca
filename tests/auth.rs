//! `torale auth` against the fake API: storing, checking and removing the key, and which key
//! (if any) each request carries.

mod support;

use support::fake::{Fake, Generation, Options};
use support::{mode, Sandbox, UNKNOWN_KEY};

fn masked(key: &str) -> String {
    format!("sk_...{}", &key[key.len() - 5..])
}

/// A port on loopback where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn piped_key_is_verified_then_saved_privately() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    sandbox.write_config("{\"theme\": \"dark\", \"nested\": {\"a\": [1, 2]}}");
    std::fs::remove_dir_all(&sandbox.config_dir).unwrap();
    let run = sandbox
        .torale(&["auth", "set-api-key"])
        .env("TORALE_API_URL", &fake.url())
        .stdin(format!("{}\n", fake.key()))
        .run();
    run.ok()
        .stdout_is("✓ Authenticated as user@example.com\n")
        .stderr_has(&format!("Saved API key {}", masked(&fake.key())));

    // Verified with GET /auth/me carrying exactly that key, before anything was written.
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/auth/me");
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {}", fake.key()).as_str())
    );
    assert_eq!(
        requests[0].header("user-agent"),
        Some(concat!("torale/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(requests[0].header("accept"), Some("application/json"));

    assert_eq!(mode(&sandbox.config_dir), 0o700);
    assert_eq!(mode(&sandbox.config_path()), 0o600);
    let config = sandbox.config_json();
    assert_eq!(config["api_key"], fake.key());
    assert!(
        config.get("api_url").is_none(),
        "the URL is saved only when given"
    );
}

#[test]
fn set_api_key_keeps_unknown_keys_and_saves_a_given_url() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    sandbox.write_config("{\"theme\": \"dark\", \"nested\": {\"a\": [1, 2]}}");
    let url = format!("{}/", fake.url());
    sandbox
        .torale(&["auth", "set-api-key", "--api-url", &url])
        .stdin(fake.key())
        .run()
        .ok();
    let config = sandbox.config_json();
    assert_eq!(config["theme"], "dark");
    assert_eq!(config["nested"]["a"], serde_json::json!([1, 2]));
    assert_eq!(config["api_url"], fake.url());
    assert_eq!(config["api_key"], fake.key());
    // The saved settings are used from now on, with nothing in the environment.
    sandbox
        .torale(&["auth", "status"])
        .run()
        .ok()
        .stdout_has(&format!("API Key: {} (config file)", masked(&fake.key())));
}

#[test]
fn a_rejected_key_saves_nothing_and_exits_4() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let original = "{\"api_url\": \"http://x:1\"}";
    sandbox.write_config(original);
    sandbox
        .torale(&["auth", "set-api-key"])
        .env("TORALE_API_URL", &fake.url())
        .stdin(UNKNOWN_KEY)
        .run()
        .code(4)
        .no_stdout()
        .stderr_has("Error: Invalid API key");
    assert_eq!(sandbox.read_config().unwrap(), original);
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn a_malformed_key_is_refused_before_anything_is_sent() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    for bad in [
        "pk_live_123",
        "sk_short",
        "sk_has spaces in the middle of it!!",
        "",
    ] {
        sandbox
            .torale(&["auth", "set-api-key"])
            .env("TORALE_API_URL", &fake.url())
            .stdin(bad)
            .run()
            .code(2)
            .no_stdout();
    }
    sandbox
        .torale(&["auth", "set-api-key", "--api-key", "jwt.token.here"])
        .env("TORALE_API_URL", &fake.url())
        .run()
        .code(2)
        .stderr_has("Invalid --api-key: an API key starts with 'sk_'");
    assert!(fake.requests().is_empty());
    assert!(sandbox.read_config().is_none());
}

#[test]
fn no_verify_saves_offline() {
    let sandbox = Sandbox::new();
    let key = "sk_offlineOfflineOfflineOfflineOfflineOffline1";
    sandbox
        .torale(&[
            "auth",
            "set-api-key",
            "--no-verify",
            "--api-url",
            &closed_port_url(),
        ])
        .stdin(key)
        .run()
        .ok()
        .stdout_is("✓ API key saved (not verified)\n");
    assert_eq!(sandbox.config_json()["api_key"], key);
}

#[test]
fn key_from_api_key_file_and_stdin_dash() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let path = sandbox.root.join("key");
    std::fs::write(&path, format!("{}\n", fake.key())).unwrap();
    sandbox
        .torale(&["auth", "status", "--api-key-file", path.to_str().unwrap()])
        .env("TORALE_API_URL", &fake.url())
        .run()
        .ok()
        .stdout_has("(flag --api-key-file)");
    sandbox
        .torale(&["auth", "status", "--api-key-file", "-"])
        .env("TORALE_API_URL", &fake.url())
        .stdin(fake.key())
        .run()
        .ok();
    let auth: Vec<_> = fake
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or("").to_string())
        .collect();
    assert_eq!(auth, vec![format!("Bearer {}", fake.key()); 2]);
}

#[test]
fn status_with_a_valid_key() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let run = sandbox.torale(&["auth", "status"]).server(&fake).run();
    run.ok().stdout_is(&format!(
        "✓ Authenticated as user@example.com\nAPI Key: {} (environment TORALE_API_KEY)\nAPI URL: {} (environment TORALE_API_URL)\n",
        masked(&fake.key()),
        fake.url()
    ));
    assert!(run.stderr.is_empty(), "{run:?}");

    let run = sandbox
        .torale(&["auth", "status", "--json"])
        .server(&fake)
        .run();
    let value = run.ok().json();
    assert_eq!(value["authenticated"], true);
    assert_eq!(value["user"]["email"], "user@example.com");
    assert_eq!(value["api_key"], masked(&fake.key()));
    assert_eq!(value["api_key_source"], "environment");
}

#[test]
fn status_with_a_revoked_key_exits_4() {
    let fake = Fake::start(Generation::Head);
    fake.revoke(&fake.key());
    let sandbox = Sandbox::new();
    sandbox
        .torale(&["auth", "status"])
        .server(&fake)
        .run()
        .code(4)
        .no_stdout()
        .stderr_has("Error: Invalid API key\n")
        .stderr_has(&format!(
            "Key {} from environment TORALE_API_KEY was refused",
            masked(&fake.key())
        ));
}

#[test]
fn status_without_a_key_exits_3() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    sandbox
        .torale(&["auth", "status"])
        .env("TORALE_API_URL", &fake.url())
        .run()
        .code(3)
        .no_stdout()
        .stderr_has("Error: No API key configured\n")
        .stderr_has("torale auth set-api-key");
    assert!(fake.requests().is_empty());
}

#[test]
fn status_with_connection_refused_exits_10() {
    let sandbox = Sandbox::new();
    let url = closed_port_url();
    sandbox
        .torale(&["auth", "status"])
        .env("TORALE_API_URL", &url)
        .env("TORALE_API_KEY", UNKNOWN_KEY)
        .run()
        .code(10)
        .no_stdout()
        .stderr_has(&format!("Error: Connection refused ({url}/auth/me)"));
}

#[test]
fn legacy_auth_routes_refuse_a_request_without_a_key() {
    // A legacy server in NOAUTH mode still guards /auth: 403 without a header.
    let fake = Fake::start_with(Options {
        generation: Generation::Legacy,
        noauth: true,
        ..Options::default()
    });
    let sandbox = Sandbox::new();
    let run = sandbox
        .torale(&["auth", "status"])
        .env("TORALE_API_URL", &fake.url())
        .env("TORALE_NOAUTH", "1")
        .run();
    run.code(4)
        .no_stdout()
        .stderr_has("Error: Not authenticated")
        .stderr_has("TORALE_NOAUTH=1 sends no key");
    assert_eq!(fake.requests()[0].header("authorization"), None);
}

#[test]
fn noauth_sends_no_authorization_header_at_all() {
    let fake = Fake::start_with(Options {
        noauth: true,
        email: "test@example.com".into(),
        ..Options::default()
    });
    let sandbox = Sandbox::new();
    // Even with a key configured everywhere, NOAUTH sends none.
    sandbox.write_config(&format!("{{\"api_key\": \"{}\"}}", fake.key()));
    sandbox
        .torale(&["auth", "status"])
        .server(&fake)
        .env("TORALE_NOAUTH", "1")
        .run()
        .ok()
        .stdout_has("✓ Authenticated as test@example.com")
        .stdout_has("API Key: none sent (TORALE_NOAUTH)");
    sandbox
        .torale(&["task", "list", "--json"])
        .env("TORALE_API_URL", &fake.url())
        .env("TORALE_NOAUTH", "1")
        .run()
        .ok()
        .stdout_is("[]\n");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for request in requests {
        assert_eq!(request.header("authorization"), None, "{request:?}");
    }
}

#[test]
fn key_precedence_is_flag_then_environment_then_file() {
    let fake = Fake::start(Generation::Head);
    let file_key = fake.add_user("file@example.com");
    let env_key = fake.add_user("env@example.com");
    let flag_key = fake.add_user("flag@example.com");
    let sandbox = Sandbox::new();
    sandbox.write_config(&format!(
        "{{\"api_key\": \"{file_key}\", \"api_url\": \"{}\"}}",
        fake.url()
    ));
    let whoami = |cmd: support::Cmd| cmd.run().ok().json()["email"].clone();
    assert_eq!(
        whoami(sandbox.torale(&["auth", "whoami"])),
        "file@example.com"
    );
    assert_eq!(
        whoami(
            sandbox
                .torale(&["auth", "whoami"])
                .env("TORALE_API_KEY", &env_key)
        ),
        "env@example.com"
    );
    assert_eq!(
        whoami(
            sandbox
                .torale(&["auth", "whoami", "--api-key", &flag_key])
                .env("TORALE_API_KEY", &env_key)
        ),
        "flag@example.com"
    );
    let sent: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or("").to_string())
        .collect();
    assert_eq!(
        sent,
        vec![
            format!("Bearer {file_key}"),
            format!("Bearer {env_key}"),
            format!("Bearer {flag_key}")
        ]
    );
}

#[test]
fn whoami_prints_the_server_object() {
    for generation in [Generation::Head, Generation::Legacy] {
        let fake = Fake::start(generation);
        let sandbox = Sandbox::new();
        let run = sandbox.torale(&["auth", "whoami"]).server(&fake).run();
        let printed = run.ok().json();
        assert_eq!(run.stdout.lines().count(), 1, "compact when piped");
        // Compare with what the server itself answers.
        let agent = ureq::Agent::new_with_defaults();
        let expected: serde_json::Value = agent
            .get(format!("{}/auth/me", fake.url()))
            .header("Authorization", format!("Bearer {}", fake.key()))
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
    let sandbox = Sandbox::new();
    let key = "sk_logoutLogoutLogoutLogoutLogoutLogoutLogou1";
    sandbox.write_config(&format!(
        "{{\"api_key\": \"{key}\", \"api_url\": \"http://x:1\"}}"
    ));
    sandbox
        .torale(&["auth", "logout"])
        .run()
        .ok()
        .stdout_has("✓ Removed the API key");
    let config = sandbox.config_json();
    assert!(config.get("api_key").is_none());
    assert_eq!(config["api_url"], "http://x:1");
    assert_eq!(mode(&sandbox.config_path()), 0o600);

    sandbox
        .torale(&["auth", "logout"])
        .run()
        .ok()
        .no_stdout()
        .stderr_has("No API key was stored");

    // A file holding only the key is removed; TORALE_API_KEY gets a warning.
    sandbox.write_config(&format!("{{\"api_key\": \"{key}\"}}"));
    sandbox
        .torale(&["auth", "logout"])
        .env("TORALE_API_KEY", key)
        .run()
        .ok()
        .stderr_has("TORALE_API_KEY is still set");
    assert!(sandbox.read_config().is_none());
}

#[test]
fn debug_trace_masks_the_key() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let run = sandbox
        .torale(&["auth", "whoami", "--debug"])
        .server(&fake)
        .run();
    run.ok()
        .stderr_has(&format!("> GET {}/auth/me", fake.url()))
        .stderr_has(&format!("> Authorization: Bearer {}", masked(&fake.key())))
        .stderr_has("< 200");
    let run = sandbox
        .torale(&["auth", "whoami"])
        .server(&fake)
        .env("TORALE_DEBUG", "1")
        .run();
    run.ok().stderr_has("> Authorization: Bearer sk_...");
}

#[test]
fn plain_http_to_a_remote_host_warns_and_proxies_are_honoured() {
    // The "remote" host is reached through an HTTP proxy on loopback (the fake), so nothing
    // leaves this machine.
    let proxy = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let run = sandbox
        .torale(&["auth", "status"])
        .env("TORALE_API_URL", "http://torale.example.com")
        .env("TORALE_API_KEY", UNKNOWN_KEY)
        .env("HTTP_PROXY", &proxy.url())
        .run();
    // ureq tunnels through the proxy with CONNECT, which the fake refuses: the request went
    // to the proxy on loopback and nowhere else (no name lookup of the remote host).
    run.code(10)
        .stderr_has("Warning: sending the API key over plain http:// to http://torale.example.com")
        .stderr_lacks("Could not resolve host");
    // Loopback gets no warning.
    let fake = Fake::start(Generation::Head);
    sandbox
        .torale(&["auth", "status"])
        .server(&fake)
        .run()
        .ok()
        .stderr_lacks("Warning");
}

#[test]
fn keys_list_marks_the_key_in_use() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let run = sandbox
        .torale(&["auth", "keys", "list"])
        .server(&fake)
        .run();
    let prefix = format!("{}...", &fake.key()[..15]);
    run.ok()
        .stdout_has("ID")
        .stdout_has("PREFIX")
        .stdout_has("*  ")
        .stdout_has(&prefix)
        .stdout_has("yes");
    let listed = sandbox
        .torale(&["auth", "keys", "list", "--json"])
        .server(&fake)
        .run()
        .ok()
        .json();
    assert_eq!(listed[0]["key_prefix"], prefix.as_str());
    assert_eq!(listed[0]["is_active"], true);
}

#[test]
fn keys_create_explains_the_one_active_key_rule() {
    // The current server refuses a second active key.
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    sandbox
        .torale(&["auth", "keys", "create", "CI key"])
        .server(&fake)
        .run()
        .code(6)
        .no_stdout()
        .stderr_has("Error: You already have an active API key")
        .stderr_has("one active key per account");
}

#[test]
fn keys_create_prints_the_new_key_once_and_revoke_ends_it() {
    // Legacy servers allow several keys.
    let fake = Fake::start(Generation::Legacy);
    let sandbox = Sandbox::new();
    let run = sandbox
        .torale(&["auth", "keys", "create", "CI key"])
        .server(&fake)
        .key_on_stdout()
        .run();
    run.ok()
        .stderr_has("Created API key 'CI key'")
        .stderr_has("shown only once");
    let new_key = run.stdout.trim().to_string();
    assert_eq!(run.stdout, format!("{new_key}\n"), "nothing else on stdout");
    assert!(
        new_key.starts_with("sk_") && new_key.len() == 46,
        "{new_key}"
    );
    assert!(!run.stderr.contains(&new_key));

    // The new key works.
    sandbox
        .torale(&["auth", "whoami", "--api-key", &new_key])
        .env("TORALE_API_URL", &fake.url())
        .run()
        .ok();

    // Find its ID and revoke it with the original key.
    let listed = sandbox
        .torale(&["auth", "keys", "list", "--json"])
        .server(&fake)
        .run()
        .ok()
        .json();
    let id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "CI key")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    sandbox
        .torale(&["auth", "keys", "revoke", &id])
        .server(&fake)
        .run()
        .code(2)
        .stderr_has("Refusing to revoke without confirmation");
    sandbox
        .torale(&["auth", "keys", "revoke", &id, "--yes"])
        .server(&fake)
        .run()
        .ok()
        .stdout_has("✓ Revoked API key 'CI key'")
        .stderr_lacks("Warning");
    sandbox
        .torale(&["auth", "whoami", "--api-key", &new_key])
        .env("TORALE_API_URL", &fake.url())
        .run()
        .code(4)
        .stderr_has("Invalid API key");
}

#[test]
fn revoking_the_key_in_use_warns() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let listed = sandbox
        .torale(&["auth", "keys", "list", "--json"])
        .server(&fake)
        .run()
        .ok()
        .json();
    let id = listed[0]["id"].as_str().unwrap().to_string();
    sandbox
        .torale(&["auth", "keys", "revoke", &id, "-y"])
        .server(&fake)
        .run()
        .ok()
        .stderr_has("is the key torale is using");
    sandbox
        .torale(&["auth", "status"])
        .server(&fake)
        .run()
        .code(4);
    sandbox
        .torale(&["auth", "keys", "revoke", "not-a-uuid", "-y"])
        .server(&fake)
        .run()
        .code(2)
        .stderr_has("Invalid key ID");
}

#[test]
fn debug_trace_shows_every_request_header() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    sandbox
        .torale(&["task", "create", "-q", "x", "--debug"])
        .server(&fake)
        .run()
        .ok()
        .stderr_has(concat!("> User-Agent: torale/", env!("CARGO_PKG_VERSION")))
        .stderr_has("> Accept: application/json")
        .stderr_has("> Content-Type: application/json");
}

#[test]
fn a_wrong_api_path_says_to_check_the_url() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    sandbox
        .torale(&["task", "list"])
        .env("TORALE_API_URL", &format!("{}/api", fake.url()))
        .env("TORALE_API_KEY", &fake.key())
        .run()
        .code(5)
        .stderr_has("Error: Not Found")
        .stderr_has("the API URL must be the server's root");
}

#[test]
fn a_failing_proxy_is_named_and_no_proxy_bypasses_it() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let proxy = closed_port_url();
    let port = proxy.rsplit(':').next().unwrap().to_string();
    sandbox
        .torale(&["task", "list"])
        .server(&fake)
        .env("HTTP_PROXY", &proxy)
        .run()
        .code(10)
        .no_stdout()
        .stderr_has(&format!("Requests go through the proxy 127.0.0.1:{port}"));
    assert!(fake.requests().is_empty());
    sandbox
        .torale(&["task", "list"])
        .server(&fake)
        .env("HTTP_PROXY", &proxy)
        .env("NO_PROXY", "127.0.0.1")
        .run()
        .ok();
}
