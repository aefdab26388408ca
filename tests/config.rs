//! Settings precedence and the config file: permissions, atomic writes, unknown keys, errors.

mod support;

use support::{mode, set_mode, Sandbox};

const FILE_KEY: &str = "sk_fileFileFileFileFileFileFileFileFileFile12345";
const ENV_KEY: &str = "sk_envEnvEnvEnvEnvEnvEnvEnvEnvEnvEnvEnvEnv6789A";

fn settings(sandbox: &Sandbox, args: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec!["config", "--json"];
    all.extend_from_slice(args);
    let mut cmd = sandbox.torale(&all);
    for (k, v) in envs {
        cmd = cmd.env(k, v);
    }
    let run = cmd.run();
    run.ok();
    run.json()
}

#[test]
fn url_precedence_flag_env_file_default() {
    let sandbox = Sandbox::new();
    let s = settings(&sandbox, &[], &[]);
    assert_eq!(s["api_url"]["value"], "https://api.torale.ai");
    assert_eq!(s["api_url"]["source"], "default");

    sandbox.write_config(r#"{"api_url": "http://file.example:1/"}"#);
    let s = settings(&sandbox, &[], &[]);
    assert_eq!(
        s["api_url"]["value"], "http://file.example:1",
        "trailing slash dropped"
    );
    assert_eq!(s["api_url"]["source"], "file");

    let s = settings(&sandbox, &[], &[("TORALE_API_URL", "http://env.example:2")]);
    assert_eq!(s["api_url"]["value"], "http://env.example:2");
    assert_eq!(s["api_url"]["source"], "environment");

    let s = settings(
        &sandbox,
        &["--api-url", "http://flag.example:3"],
        &[("TORALE_API_URL", "http://env.example:2")],
    );
    assert_eq!(s["api_url"]["value"], "http://flag.example:3");
    assert_eq!(s["api_url"]["source"], "flag");
}

#[test]
fn dev_modes_default_to_localhost_but_explicit_urls_win() {
    let sandbox = Sandbox::new();
    sandbox.write_config(r#"{"api_url": "http://file.example:1"}"#);
    for var in ["TORALE_NOAUTH", "TORALE_DEV"] {
        let s = settings(&sandbox, &[], &[(var, "1")]);
        assert_eq!(s["api_url"]["value"], "http://localhost:8000", "{var}");
        let s = settings(
            &sandbox,
            &[],
            &[(var, "1"), ("TORALE_API_URL", "http://e:5")],
        );
        assert_eq!(s["api_url"]["value"], "http://e:5", "{var}");
    }
    assert_eq!(
        settings(&sandbox, &[], &[("TORALE_NOAUTH", "1")])["noauth"],
        true
    );
    assert_eq!(
        settings(&sandbox, &[], &[("TORALE_NOAUTH", "0")])["noauth"],
        false
    );
}

#[test]
fn key_precedence_flag_env_file() {
    let sandbox = Sandbox::new();
    let s = settings(&sandbox, &[], &[]);
    assert_eq!(s["api_key"]["value"], "(none)");

    sandbox.write_config(&format!(r#"{{"api_key": "{FILE_KEY}"}}"#));
    let s = settings(&sandbox, &[], &[]);
    assert_eq!(s["api_key"]["value"], "sk_...12345");
    assert_eq!(s["api_key"]["source"], "file");

    let s = settings(&sandbox, &[], &[("TORALE_API_KEY", ENV_KEY)]);
    assert_eq!(
        s["api_key"]["value"],
        "sk_...e6789A"[..6].to_string() + "6789A"
    );
    assert_eq!(s["api_key"]["source"], "environment");

    let key_file = sandbox.root.join("key.txt");
    std::fs::write(&key_file, format!("{FILE_KEY}\n")).unwrap();
    let s = settings(
        &sandbox,
        &["--api-key-file", key_file.to_str().unwrap()],
        &[("TORALE_API_KEY", ENV_KEY)],
    );
    assert_eq!(s["api_key"]["value"], "sk_...12345");
    assert_eq!(s["api_key"]["source"], "flag");
}

#[test]
fn timeout_precedence_and_validation() {
    let sandbox = Sandbox::new();
    assert_eq!(settings(&sandbox, &[], &[])["timeout"]["value"], 30);
    sandbox.write_config(r#"{"timeout": 12}"#);
    assert_eq!(settings(&sandbox, &[], &[])["timeout"]["value"], 12);
    let s = settings(&sandbox, &[], &[("TORALE_TIMEOUT", "13")]);
    assert_eq!(s["timeout"]["value"], 13);
    let s = settings(&sandbox, &["--timeout", "14"], &[("TORALE_TIMEOUT", "13")]);
    assert_eq!(s["timeout"]["value"], 14);
    sandbox
        .torale(&["config", "--timeout", "0"])
        .run()
        .code(2)
        .stderr_has("Invalid --timeout");
    sandbox
        .torale(&["config"])
        .env("TORALE_TIMEOUT", "soon")
        .run()
        .code(3)
        .stderr_has("Invalid TORALE_TIMEOUT");
}

#[test]
fn config_set_writes_private_file_atomically_and_keeps_unknown_keys() {
    let sandbox = Sandbox::new();
    sandbox.write_config("{\"api_url\": \"http://old:1\", \"team\": {\"name\": \"ops\"}}\n");
    sandbox
        .torale(&["config", "set", "api_url", "http://new.example:8000/"])
        .run()
        .ok()
        .no_stdout()
        .stderr_has("Set api_url = http://new.example:8000/");
    let value = sandbox.config_json();
    assert_eq!(value["api_url"], "http://new.example:8000");
    assert_eq!(value["team"]["name"], "ops", "unknown key kept: {value}");
    assert_eq!(mode(&sandbox.config_path()), 0o600);
    // No temp files are left behind.
    let names: Vec<_> = std::fs::read_dir(&sandbox.config_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["config.json"]);

    sandbox
        .torale(&["config", "set", "timeout", "45"])
        .run()
        .ok();
    assert_eq!(sandbox.config_json()["timeout"], 45);
    sandbox
        .torale(&["config", "get", "timeout"])
        .run()
        .ok()
        .stdout_is("45\n");
    sandbox
        .torale(&["config", "get", "api_url", "--json"])
        .run()
        .ok()
        .stdout_is("\"http://new.example:8000\"\n");
    sandbox.torale(&["config", "unset", "api_url"]).run().ok();
    assert!(sandbox.config_json().get("api_url").is_none());
    sandbox
        .torale(&["config", "set", "colour", "red"])
        .run()
        .code(2)
        .stderr_has("Unknown config key 'colour'");
    sandbox
        .torale(&["config", "set", "api_url", "ftp://x"])
        .run()
        .code(2)
        .stderr_has("Invalid API URL");
}

#[test]
fn unknown_keys_keep_their_exact_values() {
    let sandbox = Sandbox::new();
    sandbox.write_config(
        "{\"zeta\": 12345678901234567890123, \"api_url\": \"http://old:1\",\n \"alpha\": {\"b\": 1.50, \"a\": [\"\\u00e9\"]}}",
    );
    sandbox
        .torale(&["config", "set", "api_url", "http://new:2"])
        .run()
        .ok();
    sandbox
        .torale(&["config", "set", "timeout", "9"])
        .run()
        .ok();
    assert_eq!(
        sandbox.read_config().unwrap(),
        "{\n  \"alpha\": {\"b\": 1.50, \"a\": [\"\\u00e9\"]},\n  \"api_url\": \"http://new:2\",\n  \"timeout\": 9,\n  \"zeta\": 12345678901234567890123\n}\n"
    );
}

#[test]
fn new_config_dir_is_private() {
    let sandbox = Sandbox::new();
    sandbox
        .torale(&["config", "set", "timeout", "9"])
        .run()
        .ok();
    assert_eq!(mode(&sandbox.config_dir), 0o700);
    assert_eq!(mode(&sandbox.config_path()), 0o600);
    assert_eq!(sandbox.read_config().unwrap(), "{\n  \"timeout\": 9\n}\n");
}

#[test]
fn default_config_dir_is_under_home() {
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.torale(&["config", "path"]);
    // Without TORALE_CONFIG_DIR the file lives in ~/.torale.
    cmd = cmd.env("TORALE_CONFIG_DIR", "");
    let expected = format!("{}/.torale/config.json\n", sandbox.home.display());
    cmd.run().ok().stdout_is(&expected);
}

#[test]
fn malformed_config_names_path_line_and_column() {
    let sandbox = Sandbox::new();
    sandbox.write_config("{\n  \"api_url\": \"http://x\",\n  oops\n}\n");
    let run = sandbox.torale(&["config"]).run();
    run.code(3).no_stdout();
    run.stderr_has(&format!(
        "Config file {} is not valid JSON (line 3, column 3)",
        sandbox.config_path().display()
    ));
    sandbox
        .torale(&["task", "list"])
        .run()
        .code(3)
        .stderr_has("is not valid JSON");
    // The broken file is left as it was.
    assert!(sandbox.read_config().unwrap().contains("oops"));

    sandbox.write_config("[1, 2]");
    sandbox
        .torale(&["config"])
        .run()
        .code(3)
        .stderr_has("must hold a JSON object");
    sandbox.write_config(r#"{"api_key": 42}"#);
    sandbox
        .torale(&["auth", "status"])
        .run()
        .code(3)
        .stderr_has("'api_key' must be a string");
}

#[test]
fn unreadable_config_is_exit_3() {
    let sandbox = Sandbox::new();
    sandbox.write_config("{}");
    std::fs::remove_file(sandbox.config_path()).unwrap();
    std::fs::create_dir(sandbox.config_path()).unwrap();
    sandbox
        .torale(&["config"])
        .run()
        .code(3)
        .stderr_has("Cannot read config file");
}

#[test]
fn readable_config_gets_a_warning() {
    let sandbox = Sandbox::new();
    sandbox.write_config(r#"{"api_url": "http://x:1"}"#);
    set_mode(&sandbox.config_path(), 0o644);
    sandbox
        .torale(&["config"])
        .run()
        .ok()
        .stderr_has("Warning: Config file")
        .stderr_has("mode 644")
        .stderr_has("chmod 600");
    set_mode(&sandbox.config_path(), 0o600);
    sandbox
        .torale(&["config"])
        .run()
        .ok()
        .stderr_lacks("Warning");
}

#[test]
fn a_crash_mid_write_leaves_the_old_file_intact() {
    let sandbox = Sandbox::new();
    let original = "{\"api_url\": \"http://keep:1\", \"extra\": true}\n";
    sandbox.write_config(original);
    // `ulimit -f 0` kills the process (SIGXFSZ) on its first byte written to any file: the
    // write of the new config dies half-way, as in a crash or a full disk.
    let run = sandbox
        .torale(&["config", "set", "timeout", "5"])
        .crash_on_file_write()
        .run();
    assert_ne!(run.code, 0, "{run:?}");
    assert_eq!(sandbox.read_config().unwrap(), original);
    // And the next run works and cleans nothing it should not.
    sandbox
        .torale(&["config", "set", "timeout", "5"])
        .run()
        .ok();
    assert_eq!(sandbox.config_json()["extra"], true);
    assert_eq!(sandbox.config_json()["timeout"], 5);
}

#[test]
fn a_failed_write_is_exit_3_and_keeps_the_old_file() {
    let sandbox = Sandbox::new();
    let original = "{\"api_url\": \"http://keep:1\"}\n";
    sandbox.write_config(original);
    sandbox
        .torale(&["config", "set", "timeout", "5"])
        .fail_file_writes()
        .run()
        .code(3)
        .no_stdout()
        .stderr_has(&format!("Cannot write {}", sandbox.config_path().display()))
        .stderr_has("File too large")
        .stderr_has("left unchanged");
    assert_eq!(sandbox.read_config().unwrap(), original);
    let names: Vec<_> = std::fs::read_dir(&sandbox.config_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["config.json"], "the temp file is cleaned up");
}

#[test]
fn an_unusable_config_location_is_exit_3_with_the_reason() {
    let sandbox = Sandbox::new();
    let blocker = sandbox.root.join("not-a-dir");
    std::fs::write(&blocker, "precious").unwrap();
    sandbox
        .torale(&["config", "set", "timeout", "5"])
        .env("TORALE_CONFIG_DIR", blocker.to_str().unwrap())
        .run()
        .code(3)
        .no_stdout()
        .stderr_has("Not a directory");
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "precious");
}

#[test]
fn python_cli_config_files_are_read() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&format!(
        r#"{{"api_key": "{FILE_KEY}", "api_url": "http://localhost:8000"}}"#
    ));
    let s = settings(&sandbox, &[], &[]);
    assert_eq!(s["api_key"]["source"], "file");
    assert_eq!(s["api_url"]["value"], "http://localhost:8000");
}

#[test]
fn config_output_masks_the_key() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&format!(r#"{{"api_key": "{FILE_KEY}"}}"#));
    let run = sandbox.torale(&["config"]).run();
    run.ok().stdout_has("sk_...12345").stdout_has("config file");
    sandbox
        .torale(&["config", "get", "api_key"])
        .run()
        .ok()
        .stdout_is("sk_...12345\n");
}
