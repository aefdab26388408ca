//! `torale completion`: scripts generated from the parser's table, checked by each shell.

mod support;

use std::process::Command;

use support::Sandbox;

fn script(shell: &str) -> std::path::PathBuf {
    let sandbox = Sandbox::new();
    let run = sandbox.torale(&["completion", shell]).run();
    run.ok();
    let path =
        std::env::temp_dir().join(format!("torale-completion-{}-{shell}", std::process::id()));
    std::fs::write(&path, &run.stdout).unwrap();
    path
}

fn have(shell: &str) -> bool {
    let found = Command::new(shell)
        .arg("-c")
        .arg("true")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("skipped: {shell} is not installed here (.ci/run installs it)");
    }
    found
}

/// What bash completes for the words of a command line (the last word is being typed).
fn bash_complete(script: &std::path::Path, words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _torale; echo \"${{COMPREPLY[*]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn bash_completes_commands_and_options() {
    let path = script("bash");
    let check = Command::new("bash").arg("-n").arg(&path).status().unwrap();
    assert!(check.success(), "bash -n failed");
    assert_eq!(bash_complete(&path, &["torale", "ta"]), "task");
    assert_eq!(bash_complete(&path, &["torale", "task", "cr"]), "create");
    assert_eq!(
        bash_complete(&path, &["torale", "task", "create", "--q"]),
        "--query"
    );
    // Global options and their values are skipped when finding the command.
    assert_eq!(
        bash_complete(&path, &["torale", "--api-url", "http://x", "ta"]),
        "task"
    );
    assert_eq!(
        bash_complete(&path, &["torale", "--json", "auth", ""]),
        "set-api-key status whoami logout keys"
    );
    assert_eq!(
        bash_complete(&path, &["torale", "--color", ""]),
        "auto always never"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn zsh_script_passes_its_syntax_check() {
    if !have("zsh") {
        return;
    }
    let path = script("zsh");
    let check = Command::new("zsh").arg("-n").arg(&path).status().unwrap();
    assert!(check.success(), "zsh -n failed");
    let _ = std::fs::remove_file(path);
}

#[test]
fn fish_completes_commands_and_options() {
    if !have("fish") {
        return;
    }
    let path = script("fish");
    let check = Command::new("fish")
        .arg("--no-execute")
        .arg(&path)
        .status()
        .unwrap();
    assert!(check.success(), "fish --no-execute failed");
    let complete = |line: &str| {
        let program = format!("source '{}'; complete -C '{line}'", path.display());
        let output = Command::new("fish")
            .arg("-c")
            .arg(program)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(complete("torale ta").trim(), "task");
    assert!(complete("torale task create --qu").starts_with("--query"));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let sandbox = Sandbox::new();
    sandbox
        .torale(&["completion", "powershell"])
        .run()
        .code(2)
        .no_stdout()
        .stderr_has("Unknown shell 'powershell'");
    sandbox
        .torale(&["completion"])
        .run()
        .code(2)
        .stderr_has("Missing SHELL");
}
