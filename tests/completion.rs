//! `torale completion`: scripts generated from the parser's table, checked by each shell.
//! zsh and fish may be missing here (`.ci/run` installs them): those checks are ignored by
//! default and fail, not pass, when run without their shell.

use std::path::PathBuf;
use std::process::Command;

use crate::support::World;

/// The completion script for `shell`, in a file.
fn script(w: &World, shell: &str) -> PathBuf {
    let run = w.cmd(&["completion", shell]).run();
    run.ok();
    let path = w.root.join(format!("completion.{shell}"));
    std::fs::write(&path, &run.stdout).unwrap();
    path
}

/// Runs `shell ARGS`, failing the test if the shell is missing or the command fails.
fn shell(shell: &str, args: &[&str]) -> String {
    let output = Command::new(shell)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{shell} is needed for this test ({e}); .ci/run installs it"));
    assert!(output.status.success(), "{shell} {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn bash_completes_commands_and_options() {
    let w = World::new();
    let path = script(&w, "bash");
    let path = path.to_str().unwrap();
    shell("bash", &["-n", path]);
    let complete = |words: &[&str]| {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "source '{path}'; COMP_WORDS=({}); COMP_CWORD={}; _torale; echo \"${{COMPREPLY[*]}}\"",
            quoted.join(" "),
            words.len() - 1
        );
        shell("bash", &["-c", &program])
    };
    assert_eq!(complete(&["torale", "ta"]), "task");
    assert_eq!(complete(&["torale", "task", "cr"]), "create");
    assert_eq!(complete(&["torale", "task", "create", "--q"]), "--query");
    // `--active | --inactive`: both offered, neither taking a value.
    assert_eq!(complete(&["torale", "task", "update", "--ac"]), "--active");
    assert_eq!(
        complete(&["torale", "task", "update", "--inactive", "--n"]),
        "--name --no-webhook --notify-behavior"
    );
    // Global options and their values are skipped when finding the command.
    assert_eq!(complete(&["torale", "--api-url", "http://x", "ta"]), "task");
    assert_eq!(
        complete(&["torale", "--json", "auth", ""]),
        "set-api-key status whoami logout keys"
    );
    assert_eq!(complete(&["torale", "--color", ""]), "auto always never");
}

#[test]
#[ignore = "needs zsh (.ci/run installs it and runs the ignored tests)"]
fn zsh_script_passes_its_syntax_check() {
    let w = World::new();
    shell("zsh", &["-n", script(&w, "zsh").to_str().unwrap()]);
}

#[test]
#[ignore = "needs fish (.ci/run installs it and runs the ignored tests)"]
fn fish_completes_commands_and_options() {
    let w = World::new();
    let path = script(&w, "fish");
    let path = path.to_str().unwrap();
    shell("fish", &["--no-execute", path]);
    let complete =
        |line: &str| shell("fish", &["-c", &format!("source '{path}'; complete -C '{line}'")]);
    assert_eq!(complete("torale ta"), "task");
    assert!(complete("torale task create --qu").starts_with("--query"));
}
