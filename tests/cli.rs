//! The command line itself: help, version, usage errors, output discipline.

use crate::support::{snapshot, World};

#[test]
fn help_texts_are_snapshots_and_reachable_every_way() {
    let w = World::new();
    for (args, name) in [
        (&["--help"][..], "help.txt"),
        (&["auth", "--help"][..], "auth-help.txt"),
        (&["help", "exit-codes"][..], "exit-codes.txt"),
        (&["task", "--help"][..], "task-help.txt"),
        (&["task", "create", "--help"][..], "task-create-help.txt"),
        (&["config", "--help"][..], "config-help.txt"),
    ] {
        let run = w.cmd(args).run();
        run.ok();
        assert!(run.stderr.is_empty(), "{run:?}");
        snapshot(name, &run.stdout);
    }
    let direct = w.cmd(&["task", "create", "-h"]).run();
    direct.ok().stdout_has("Usage: torale task create");
    // `help COMMAND`, and --help even after a bad flag, print the same text.
    for args in [&["help", "task", "create"][..], &["task", "create", "--bogus", "--help"]] {
        assert_eq!(w.cmd(args).run().ok().stdout, direct.stdout);
    }
    let create = w.cmd(&["auth", "keys", "create", "--help"]).run();
    create.ok().stdout_has("Usage: torale auth keys create NAME");
    assert_eq!(w.cmd(&["help", "auth", "keys", "create"]).run().stdout, create.stdout);
    w.cmd(&["auth", "keys", "revoke", "-h"])
        .run()
        .ok()
        .stdout_has("Usage: torale auth keys revoke KEY_ID");
    w.cmd(&["help", "nonsense"]).run().code(2).no_stdout().stderr_has("No help for 'nonsense'");
    let version = format!("torale {}\n", env!("CARGO_PKG_VERSION"));
    w.cmd(&["--version"]).run().ok().stdout_is(&version);
    w.cmd(&["version"]).run().ok().stdout_is(&version);
}

#[test]
fn usage_errors_name_the_problem_and_exit_2_before_any_request() {
    let w = World::new();
    let id = "85426056-2e6c-4c21-887d-701e6fe3eee3";
    w.run(&["task", "list", "--bogus"])
        .code(2)
        .no_stdout()
        .stderr_has("Error: Unknown option '--bogus'")
        .stderr_has("See 'torale task list --help'");
    for (args, message) in [
        (&["task", "list", "--limit"][..], "Missing value for '--limit'"),
        (&["task", "list", "--limit=many"], "Invalid value 'many' for '--limit'"),
        (&["task", "get", ""], "A task ID or name is empty"),
        (&["task", "list", "--", "--json"], "Error: Unexpected argument '--json'"),
        (&["frobnicate"], "Unknown command 'frobnicate'"),
        (
            &["task", "create", "-q", "x", "-s", "0 9 * *"],
            "Invalid --schedule '0 9 * *': expected 5 fields",
        ),
        (&["task", "update", id], "Nothing to update"),
        (&["--color", "purple", "config"], "'purple'"),
        (&[], "Missing command"),
        (&["task", "update", id, "--active", "--inactive"], "Use only one of --active, --inactive"),
        (
            &["task", "update", id, "--no-webhook", "-w", "https://x.example"],
            "Use only one of --webhook, --no-webhook",
        ),
        (&["task", "list", "--active", "--paused"], "Use only one of --active, --paused"),
        (
            &["task", "create", "-q", "x", "--email", "a@b.co", "--email", "c@d.co"],
            "'--email' is given more than once",
        ),
        (
            &["config", "--api-key", "sk_aaaaaaaaaaaaaaaaaaaaaaa", "--api-key-file", "-"],
            "either --api-key or --api-key-file",
        ),
        (&["task", "update", id, "-c", ""], "The value of --condition is empty"),
        (&["task", "create", "-q", "x", "-c", " "], "The value of --condition is empty"),
        (&["task", "list", "--field", "id", "--format", "{id}"], "Use either --field or --format"),
        (&["task", "list", "--format", "{id"], "Invalid --format: unclosed '{'"),
        (&["task", "update", id, "--webhook", "http://insecure.example"], "only https://"),
        (&["completion", "powershell"], "Unknown shell 'powershell'"),
        (&["completion"], "Missing SHELL"),
        (&["api", "https://elsewhere.example/api"], "is a URL: give a path"),
        (&["api", "-X", "TRACE", "/health"], "Invalid value 'TRACE' for '--method'"),
        (&["api", "/health", "-f", "novalue"], "Invalid field 'novalue'"),
    ] {
        w.run(args).code(2).no_stdout().stderr_has(message);
    }
    assert!(w.requests().is_empty());
}

#[test]
fn preview_says_what_to_do_instead() {
    let w = World::new();
    for args in [&["task", "preview"][..], &["task", "preview", "-q", "When?", "--condition", "x"]]
    {
        w.cmd(args)
            .run()
            .code(2)
            .no_stdout()
            .stderr_has("Error: Task preview is no longer offered by the Torale API")
            .stderr_has("--paused")
            .stderr_has("execute \"$ID\" --wait");
    }
}

#[test]
fn json_errors_are_one_object_on_stderr() {
    let w = World::new();
    let run = w.cmd(&["task", "list", "--json"]).run();
    run.code(3).no_stdout();
    let error = run.json_error();
    assert_eq!(error["kind"], "config");
    assert_eq!(error["exit_code"], 3);
    assert_eq!(error["message"], "No API key configured");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    let run = w.cmd(&["--json", "task", "list", "--limit", "0"]).run();
    run.code(2);
    assert_eq!(run.json_error()["kind"], "usage");
}

#[test]
fn options_stand_before_or_after_the_command() {
    let w = World::new();
    let before =
        w.cmd(&["--api-url=http://127.0.0.1:1", "--timeout", "7", "--json", "config"]).run();
    let after =
        w.cmd(&["config", "--json", "--timeout=7", "--api-url", "http://127.0.0.1:1"]).run();
    before.ok();
    assert_eq!(before.stdout, after.stdout);
    let value = before.json();
    assert_eq!(value["api_url"]["value"], "http://127.0.0.1:1");
    assert_eq!(value["timeout"]["value"], 7);
}

#[test]
fn a_key_typed_in_the_wrong_place_is_never_echoed() {
    // The runner fails the test if any output holds a full key.
    let w = World::new();
    let key = "sk_cFSK7PFckoFLSjO1iPUnDTeFW5B20KRnjC504xFDyBg";
    let after_controls = [format!("\x1b{key}"), format!("\u{9b}{key}")];
    for args in [
        &["auth", "set-api-key", key][..],
        &["config", "get", key],
        &["config", "get", &after_controls[0]],
        &["config", "get", &after_controls[1]],
        &["config", "set", "api_url", key],
        &["task", "create", "-q", "x", "--webhook", key],
        &["--api-key", &key[..30]],
    ] {
        w.cmd(args).run().code(2).no_stdout();
    }
    // Looked up as a task name: never sent anywhere, and quoted back masked.
    w.run(&["task", "get", key]).code(5).stderr_has("No task named or starting with 'sk_...FDyBg'");
    assert_eq!(w.requests(), ["GET /api/v1/tasks/"]);
    // The configured key, one typo away from a name, is masked where it starts.
    let typo = format!("x{}", w.fake.key());
    w.run(&["task", "logs", &typo]).code(5).stderr_has("named or starting with 'xsk_...");
}

#[test]
fn a_closed_stdout_is_a_failure_not_a_lost_result() {
    let w = World::new();
    let version = |redirect: &str| w.cmd(&["version"]).shell(&format!("exec {redirect};")).run();
    version(">&-").code(1).stderr_has("standard output is closed");
    version(">/dev/null").ok();
    // /dev/null opened read-write, as Python's subprocess.DEVNULL does, is an open stdout.
    version("1<>/dev/null").ok();
}

#[test]
fn unknown_words_suggest_the_nearest_known_one() {
    let w = World::new();
    for (args, suggestion) in [
        (&["tsk", "list"][..], "Did you mean 'task'?"),
        (&["task", "lst"], "Did you mean 'list'?"),
        (&["task", "list", "--actve"], "Did you mean '--active'?"),
        (&["task", "create", "-q", "x", "--jsn"], "Did you mean '--json'?"),
        (&["auth", "keys", "revok"], "Did you mean 'revoke'?"),
        (&["config", "unst", "timeout"], "Did you mean 'unset'?"),
    ] {
        w.cmd(args).run().code(2).no_stdout().stderr_has(suggestion);
    }
    w.cmd(&["frobnicate"]).run().code(2).stderr_lacks("Did you mean");
    // The aliases that work are listed where their commands are.
    w.cmd(&["task", "--help"]).run().ok().stdout_has("(also: ls)").stdout_has("also: rm)");
    w.cmd(&["tasks", "ls", "--help"]).run().ok().stdout_has("Usage: torale task list");
}

#[test]
fn every_help_is_plain_aligned_text_whose_examples_work() {
    let w = World::new();
    let commands = "auth|auth set-api-key|auth status|auth whoami|auth logout|auth keys|auth keys list|\
        auth keys create|auth keys revoke|task|task list|task get|task create|task update|task pause|\
        task resume|task complete|task delete|task execute|task logs|task notifications|task apply|\
        task preview|config|config get|config set|config unset|config path|templates|templates list|\
        templates get|api|completion|help|version";
    for command in std::iter::once("").chain(commands.split('|')) {
        let mut args: Vec<&str> = command.split_whitespace().collect();
        args.push("--help");
        let help = w.cmd(&args).run().ok().stdout.clone();
        assert!(!help.contains(['\t', '\r']), "{command}: {help}");
        // Option rows line their descriptions up in one column.
        let mut in_options = false;
        let columns: std::collections::BTreeSet<usize> = help
            .lines()
            .filter(|l| {
                in_options = l.starts_with("Options") || (in_options && l.starts_with(' '));
                in_options && l.trim_start().starts_with('-')
            })
            .map(|l| {
                let start = l.len() - l.trim_start().len();
                let gap = l[start..].find("  ").map(|g| start + g);
                gap.map_or(usize::MAX, |g| l.len() - l[g..].trim_start().len())
            })
            .collect();
        assert!(columns.len() <= 1, "{command}: option descriptions start at {columns:?}\n{help}");
    }
    // The api examples run as written: a GET with fields is -X GET, and a 405 points at -X.
    let api = w.cmd(&["api", "--help"]).run().stdout.clone();
    assert!(api.contains("torale api -X GET /api/v1/webhooks/deliveries -f limit=5"), "{api}");
}
