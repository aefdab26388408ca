//! Settings and where they come from (flag > environment > file > default), and the config
//! file: private modes, atomic writes, unknown keys kept, readable errors.

use serde_json::json;

use crate::support::{set_mode, World};

const FILE_KEY: &str = "sk_fileFileFileFileFileFileFileFileFileFile12345";
const ENV_KEY: &str = "sk_envEnvEnvEnvEnvEnvEnvEnvEnvEnvEnvEnvEnv6789A";

/// `torale config --json ARGS` with these environment variables: the effective settings.
fn settings(w: &World, args: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec!["config", "--json"];
    all.extend_from_slice(args);
    let cmd = envs.iter().fold(w.cmd(&all), |cmd, (k, v)| cmd.env(k, v));
    cmd.run().ok().json()
}

#[test]
fn each_setting_comes_from_the_flag_the_environment_the_file_or_the_default() {
    let w = World::new();
    let s = settings(&w, &[], &[]);
    assert_eq!(s["api_url"]["value"], "https://api.torale.ai");
    assert_eq!(s["api_url"]["source"], "default");
    assert_eq!(s["api_key"]["value"], "(none)");
    assert_eq!(s["timeout"]["value"], 30);

    w.write_config(&format!(
        r#"{{"api_url": "http://file.example:1/", "api_key": "{FILE_KEY}", "timeout": 12}}"#
    ));
    let s = settings(&w, &[], &[]);
    assert_eq!(s["api_url"]["value"], "http://file.example:1", "trailing slash dropped");
    assert_eq!(s["api_url"]["source"], "file");
    assert_eq!(s["api_key"]["value"], "sk_...12345");
    assert_eq!(s["api_key"]["source"], "file");
    assert_eq!(s["timeout"]["value"], 12);

    let env = [
        ("TORALE_API_URL", "http://env.example:2"),
        ("TORALE_API_KEY", ENV_KEY),
        ("TORALE_TIMEOUT", "13"),
    ];
    let s = settings(&w, &[], &env);
    assert_eq!(s["api_url"]["value"], "http://env.example:2");
    assert_eq!(s["api_url"]["source"], "environment");
    assert_eq!(s["api_key"]["value"], "sk_...6789A");
    assert_eq!(s["api_key"]["source"], "environment");
    assert_eq!(s["timeout"]["value"], 13);

    let key_file = w.root.join("key.txt");
    std::fs::write(&key_file, format!("{FILE_KEY}\n")).unwrap();
    let flags = [
        "--api-url",
        "http://flag.example:3",
        "--timeout",
        "14",
        "--api-key-file",
        key_file.to_str().unwrap(),
    ];
    let s = settings(&w, &flags, &env);
    assert_eq!(s["api_url"]["value"], "http://flag.example:3");
    assert_eq!(s["api_url"]["source"], "flag");
    assert_eq!(s["api_key"]["value"], "sk_...12345");
    assert_eq!(s["api_key"]["source"], "flag");
    assert_eq!(s["timeout"]["value"], 14);

    w.cmd(&["config", "--timeout", "0"]).run().code(2).stderr_has("Invalid --timeout");
    w.cmd(&["config"])
        .env("TORALE_TIMEOUT", "soon")
        .run()
        .code(3)
        .stderr_has("Invalid TORALE_TIMEOUT");
}

#[test]
fn dev_modes_default_to_localhost_but_explicit_urls_win() {
    let w = World::new();
    w.write_config(r#"{"api_url": "http://file.example:1"}"#);
    for var in ["TORALE_NOAUTH", "TORALE_DEV"] {
        let s = settings(&w, &[], &[(var, "1")]);
        assert_eq!(s["api_url"]["value"], "http://localhost:8000", "{var}");
        let s = settings(&w, &[], &[(var, "1"), ("TORALE_API_URL", "http://e:5")]);
        assert_eq!(s["api_url"]["value"], "http://e:5", "{var}");
    }
    assert_eq!(settings(&w, &[], &[("TORALE_NOAUTH", "1")])["noauth"], true);
    assert_eq!(settings(&w, &[], &[("TORALE_NOAUTH", "0")])["noauth"], false);
}

#[test]
fn set_get_unset_write_a_private_file_atomically_and_keep_unknown_keys() {
    let w = World::new();
    // A new directory and file are private, and hold exactly what was set.
    w.cmd(&["config", "set", "timeout", "9"]).run().ok();
    assert_eq!(crate::support::mode(&w.config_dir), 0o700);
    assert_eq!(crate::support::mode(&w.config_path()), 0o600);
    assert_eq!(w.read_config().unwrap(), "{\n  \"timeout\": 9\n}\n");

    w.write_config(
        "{\"zeta\": 12345678901234567890123, \"api_url\": \"http://old:1\",\n \
         \"alpha\": {\"b\": 1.50, \"a\": [\"\\u00e9\"]}, \"team\": {\"name\": \"ops\"}}\n",
    );
    w.cmd(&["config", "set", "api_url", "http://new.example:8000/"])
        .run()
        .ok()
        .no_stdout()
        .stderr_has("Set api_url = http://new.example:8000/");
    w.cmd(&["config", "set", "timeout", "45"]).run().ok();
    let text = w.read_config().unwrap();
    let value = w.config_json();
    assert_eq!(value["api_url"], "http://new.example:8000");
    assert_eq!(value["timeout"], 45);
    // Unknown keys keep their exact values (in any order).
    assert_eq!(value["team"]["name"], "ops", "{text}");
    assert_eq!(value["alpha"]["a"][0], "é", "{text}");
    assert!(text.contains("12345678901234567890123") && text.contains("1.50"), "{text}");
    assert_eq!(crate::support::mode(&w.config_path()), 0o600);
    assert_eq!(w.config_dir_entries(), ["config.json"], "no temp files left behind");

    w.cmd(&["config", "get", "timeout"]).run().ok().stdout_is("45\n");
    w.cmd(&["config", "get", "api_url", "--json"])
        .run()
        .ok()
        .stdout_is("\"http://new.example:8000\"\n");
    w.cmd(&["config", "unset", "api_url"]).run().ok();
    assert!(w.config_json().get("api_url").is_none());
    w.cmd(&["config", "set", "colour", "red"])
        .run()
        .code(2)
        .stderr_has("Unknown config key 'colour'");
    w.cmd(&["config", "set", "api_url", "ftp://x"]).run().code(2).stderr_has("Invalid API URL");
}

#[test]
fn the_default_config_dir_is_under_home_and_python_cli_files_are_read() {
    let w = World::new();
    let expected = format!("{}/.torale/config.json\n", w.home.display());
    w.cmd(&["config", "path"]).env("TORALE_CONFIG_DIR", "").run().ok().stdout_is(&expected);
    w.write_config(&format!(r#"{{"api_key": "{FILE_KEY}", "api_url": "http://localhost:8000"}}"#));
    let s = settings(&w, &[], &[]);
    assert_eq!(s["api_key"]["source"], "file");
    assert_eq!(s["api_url"]["value"], "http://localhost:8000");
    // The key is shown masked.
    w.cmd(&["config"]).run().ok().stdout_has("sk_...12345").stdout_has("config file");
    w.cmd(&["config", "get", "api_key"]).run().ok().stdout_is("sk_...12345\n");
}

#[test]
fn a_broken_or_unreadable_config_is_exit_3_naming_the_problem() {
    let w = World::new();
    w.write_config("{\n  \"api_url\": \"http://x\",\n  oops\n}\n");
    w.cmd(&["config"]).run().code(3).no_stdout().stderr_has(&format!(
        "Config file {} is not valid JSON (line 3, column 3)",
        w.config_path().display()
    ));
    w.cmd(&["task", "list"]).run().code(3).stderr_has("is not valid JSON");
    assert!(w.read_config().unwrap().contains("oops"), "the broken file is left as it was");
    w.write_config("[1, 2]");
    w.cmd(&["config"]).run().code(3).stderr_has("must hold a JSON object");
    w.write_config(r#"{"api_key": 42}"#);
    w.cmd(&["auth", "status"]).run().code(3).stderr_has("'api_key' must be a string");

    std::fs::remove_file(w.config_path()).unwrap();
    std::fs::create_dir(w.config_path()).unwrap();
    w.cmd(&["config"]).run().code(3).stderr_has("Cannot read config file");

    // A config directory that is a file: the file is left alone.
    let blocker = w.root.join("not-a-dir");
    std::fs::write(&blocker, "precious").unwrap();
    w.cmd(&["config", "set", "timeout", "5"])
        .env("TORALE_CONFIG_DIR", blocker.to_str().unwrap())
        .run()
        .code(3)
        .no_stdout()
        .stderr_has("Not a directory");
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "precious");
}

#[test]
fn concurrent_writers_never_lose_a_key_nor_leave_a_broken_file() {
    let w = World::new();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|threads| {
        // Whenever the file exists, a reader finds it whole.
        let reader = threads.spawn(|| {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok(text) = std::fs::read_to_string(w.config_path()) else { continue };
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("a reader saw a broken file ({e}): {text:?}"));
                reads += 1;
            }
            reads
        });
        for round in 0..12 {
            // Odd rounds start from a file with an unknown key, even rounds from none, so two
            // writers race to create it.
            let _ = std::fs::remove_file(w.config_path());
            if round % 2 == 1 {
                let seed = w.config_dir.join("seed");
                std::fs::write(&seed, "{\"theme\": \"dark\"}").unwrap();
                std::fs::rename(&seed, w.config_path()).unwrap();
            }
            let url = format!("http://127.0.0.1:{}", 2000 + round);
            let key = format!("sk_round{round:02}{}", "x".repeat(36));
            let set_url = w.cmd(&["config", "set", "api_url", &url]);
            let set_url = threads.spawn(|| set_url.run());
            let set_key = w.cmd(&["auth", "set-api-key", "--no-verify"]).stdin(key.clone());
            let set_key = threads.spawn(|| set_key.run());
            set_url.join().unwrap().ok();
            set_key.join().unwrap().ok();
            let value = w.config_json();
            assert_eq!(value["api_url"], json!(url), "round {round}: {value}");
            assert_eq!(value["api_key"], json!(key), "round {round}: {value}");
            assert_eq!(value["theme"], if round % 2 == 1 { json!("dark") } else { json!(null) });
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(reader.join().unwrap() > 0);
    });
    assert_eq!(crate::support::mode(&w.config_path()), 0o600);
    assert_eq!(w.config_dir_entries(), ["config.json"], "no temp files left");
}

#[test]
fn only_a_small_regular_file_in_a_private_directory_is_read_and_a_readable_one_warns() {
    let w = World::new();
    std::fs::create_dir_all(&w.config_dir).unwrap();
    // A FIFO would block a reader forever; a device would never end.
    let made = std::process::Command::new("mkfifo").arg(w.config_path()).status();
    assert!(made.unwrap().success());
    w.cmd(&["config"]).run().within(10).code(3).stderr_has("not a regular file");
    std::fs::remove_file(w.config_path()).unwrap();
    std::fs::write(w.config_path(), format!("{{\"x\": \"{}\"}}", "a".repeat(2 << 20))).unwrap();
    set_mode(&w.config_path(), 0o600);
    w.cmd(&["config"]).run().code(3).stderr_has("larger than 1 MiB");
    // A directory others can write to lets them replace the file: refused, not trusted.
    std::fs::write(w.config_path(), "{\"api_url\": \"http://127.0.0.1:9\"}").unwrap();
    set_mode(&w.config_dir, 0o777);
    w.cmd(&["config"]).run().code(3).stderr_has("writable by other users").stderr_has("chmod 700");
    w.cmd(&["config", "set", "timeout", "5"]).run().code(3);
    assert_eq!(w.read_config().unwrap(), "{\"api_url\": \"http://127.0.0.1:9\"}");
    set_mode(&w.config_dir, 0o700);
    w.cmd(&["config", "get", "api_url"])
        .run()
        .ok()
        .stdout_is("http://127.0.0.1:9\n")
        .stderr_lacks("Warning");
    // A file others can read works, with a warning.
    set_mode(&w.config_path(), 0o644);
    w.cmd(&["config"])
        .run()
        .ok()
        .stderr_has("Warning: Config file")
        .stderr_has("mode 644")
        .stderr_has("chmod 600");
}
