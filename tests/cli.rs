//! The command line itself: help, version, usage errors, output discipline.

mod support;

use support::Sandbox;

#[test]
fn help_texts_are_snapshots() {
    let sandbox = Sandbox::new();
    for (args, name) in [
        (&["--help"][..], "help.txt"),
        (&["auth", "--help"][..], "auth-help.txt"),
        (&["help", "exit-codes"][..], "exit-codes.txt"),
        (&["task", "--help"][..], "task-help.txt"),
        (&["task", "create", "--help"][..], "task-create-help.txt"),
        (&["config", "--help"][..], "config-help.txt"),
    ] {
        let run = sandbox.torale(args).run();
        run.ok();
        assert!(run.stderr.is_empty(), "{run:?}");
        support::snapshot(name, &run.stdout);
    }
}

#[test]
fn help_is_reachable_every_way() {
    let sandbox = Sandbox::new();
    let direct = sandbox.torale(&["task", "create", "-h"]).run();
    let via_help = sandbox.torale(&["help", "task", "create"]).run();
    // --help wins even over a bad flag on the same line.
    let with_bad_flag = sandbox
        .torale(&["task", "create", "--bogus", "--help"])
        .run();
    direct.ok().stdout_has("Usage: torale task create");
    assert_eq!(direct.stdout, via_help.stdout);
    assert_eq!(direct.stdout, with_bad_flag.stdout);
    sandbox
        .torale(&["help", "nonsense"])
        .run()
        .code(2)
        .no_stdout()
        .stderr_has("No help for 'nonsense'");
}

#[test]
fn version_both_ways() {
    let sandbox = Sandbox::new();
    let expected = format!("torale {}\n", env!("CARGO_PKG_VERSION"));
    sandbox
        .torale(&["--version"])
        .run()
        .ok()
        .stdout_is(&expected);
    sandbox.torale(&["version"]).run().ok().stdout_is(&expected);
}

#[test]
fn usage_errors_name_the_flag_and_point_at_help() {
    let sandbox = Sandbox::new();
    let run = sandbox.torale(&["task", "list", "--bogus"]).run();
    run.code(2)
        .no_stdout()
        .stderr_has("Error: Unknown option '--bogus'")
        .stderr_has("See 'torale task list --help'");

    sandbox
        .torale(&["task", "list", "--limit"])
        .run()
        .code(2)
        .stderr_has("Missing value for '--limit'");
    sandbox
        .torale(&["task", "list", "--limit=many"])
        .run()
        .code(2)
        .stderr_has("Invalid value 'many' for '--limit'");
    sandbox
        .torale(&["task", "get", "../../etc"])
        .run()
        .code(2)
        .stderr_has("Invalid task ID '../../etc'");
    sandbox
        .torale(&["frobnicate"])
        .run()
        .code(2)
        .stderr_has("Unknown command 'frobnicate'");
    sandbox
        .torale(&["task", "create", "-q", "x", "-s", "0 9 * *"])
        .run()
        .code(2)
        .stderr_has("Invalid --schedule '0 9 * *': expected 5 fields");
    sandbox
        .torale(&["task", "update", "85426056-2e6c-4c21-887d-701e6fe3eee3"])
        .run()
        .code(2)
        .stderr_has("Nothing to update");
    sandbox
        .torale(&["--color", "purple", "config"])
        .run()
        .code(2)
        .stderr_has("'purple'");
    sandbox
        .torale(&[])
        .run()
        .code(2)
        .stderr_has("Missing command");
}

#[test]
fn json_errors_are_one_object_on_stderr() {
    let sandbox = Sandbox::new();
    let run = sandbox.torale(&["task", "list", "--json"]).run();
    run.code(3).no_stdout();
    let error = run.json_error();
    assert_eq!(error["kind"], "config");
    assert_eq!(error["exit_code"], 3);
    assert_eq!(error["message"], "No API key configured");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");

    let run = sandbox.torale(&["--json", "task", "get", "nope"]).run();
    run.code(2);
    assert_eq!(run.json_error()["kind"], "usage");
}

#[test]
fn preview_says_what_to_do_instead() {
    let sandbox = Sandbox::new();
    sandbox
        .torale(&["task", "preview"])
        .run()
        .code(2)
        .no_stdout()
        .stderr_has("Error: Task preview is no longer offered by the Torale API")
        .stderr_has("--paused")
        .stderr_has("execute \"$ID\" --wait");
}

#[test]
fn options_stand_before_or_after_the_command() {
    let sandbox = Sandbox::new();
    let before = sandbox
        .torale(&[
            "--api-url=http://127.0.0.1:1",
            "--timeout",
            "7",
            "--json",
            "config",
        ])
        .run();
    let after = sandbox
        .torale(&[
            "config",
            "--json",
            "--timeout=7",
            "--api-url",
            "http://127.0.0.1:1",
        ])
        .run();
    before.ok();
    assert_eq!(before.stdout, after.stdout);
    let value = before.json();
    assert_eq!(value["api_url"]["value"], "http://127.0.0.1:1");
    assert_eq!(value["timeout"]["value"], 7);
}

#[test]
fn a_key_typed_in_the_wrong_place_is_never_echoed() {
    // The runner fails the test if any output holds a full key.
    let sandbox = Sandbox::new();
    let key = "sk_cFSK7PFckoFLSjO1iPUnDTeFW5B20KRnjC504xFDyBg";
    for args in [
        vec!["auth", "set-api-key", key],
        vec!["task", "get", key],
        vec!["config", "get", key],
        vec!["config", "set", "api_url", key],
        vec!["task", "create", "-q", "x", "--webhook", key],
        vec!["--api-key", &key[..30]],
    ] {
        let run = sandbox.torale(&args).run();
        run.code(2).no_stdout();
    }
    sandbox
        .torale(&["task", "get", key])
        .run()
        .stderr_has("sk_...FDyBg");
}

#[test]
fn contradictions_and_repeats_are_usage_errors() {
    let sandbox = Sandbox::new();
    let id = "85426056-2e6c-4c21-887d-701e6fe3eee3";
    for (args, message) in [
        (
            vec!["task", "update", id, "--active", "--inactive"],
            "Use only one of --active, --inactive",
        ),
        (
            vec![
                "task",
                "update",
                id,
                "--no-webhook",
                "-w",
                "https://x.example",
            ],
            "Use only one of --webhook, --no-webhook",
        ),
        (
            vec!["task", "list", "--active", "--paused"],
            "Use only one of --active, --paused",
        ),
        (
            vec![
                "task", "create", "-q", "x", "--email", "a@b.co", "--email", "c@d.co",
            ],
            "'--email' is given more than once",
        ),
        (
            vec![
                "config",
                "--api-key",
                "sk_aaaaaaaaaaaaaaaaaaaaaaa",
                "--api-key-file",
                "-",
            ],
            "either --api-key or --api-key-file",
        ),
        (
            vec!["task", "update", id, "-c", ""],
            "The value of --condition is empty",
        ),
        (
            vec!["task", "create", "-q", "x", "-c", " "],
            "The value of --condition is empty",
        ),
    ] {
        sandbox
            .torale(&args)
            .run()
            .code(2)
            .no_stdout()
            .stderr_has(message);
    }
    // The old CLI's preview flags still get the explanation.
    sandbox
        .torale(&["task", "preview", "-q", "When?", "--condition", "x"])
        .run()
        .code(2)
        .stderr_has("Task preview is no longer offered");
}

#[test]
fn json_after_double_dash_is_an_argument_not_an_option() {
    let sandbox = Sandbox::new();
    let run = sandbox.torale(&["task", "get", "--", "--json"]).run();
    run.code(2).stderr_has("Error: Invalid task ID '--json'");
}

#[test]
fn every_auth_keys_command_has_its_own_help() {
    let sandbox = Sandbox::new();
    let create = sandbox.torale(&["auth", "keys", "create", "--help"]).run();
    create
        .ok()
        .stdout_has("Usage: torale auth keys create NAME");
    let via_help = sandbox.torale(&["help", "auth", "keys", "create"]).run();
    assert_eq!(create.stdout, via_help.stdout);
    sandbox
        .torale(&["auth", "keys", "revoke", "-h"])
        .run()
        .ok()
        .stdout_has("Usage: torale auth keys revoke KEY_ID");
}
