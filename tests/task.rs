//! `torale task` on both server generations: the whole lifecycle, the requests it sends, human
//! and JSON output, and the exit codes scripts branch on.

use serde_json::{json, Value};

use crate::support::fake::{Fault, Generation, Stage};
use crate::support::World;

const QUERY: &str = "When will Apple release the iPhone 18?";
const CONDITION: &str = "Apple has officially announced a release date";
const NAME: &str = "When will Apple release the iPhone 18";
const MISSING: &str = "00000000-0000-4000-8000-000000000000";

fn lifecycle(generation: Generation) {
    let w = World::of(generation);
    let legacy = generation == Generation::Legacy;

    let run = w.run(&["task", "create", "-q", QUERY, "-c", CONDITION, "--email", "me@example.com"]);
    run.ok().stderr_has(&format!("✓ Created task '{NAME}' (active)"));
    let id = run.value();
    assert_eq!(id.len(), 36, "{run:?}");
    let requests = w.fake.take_requests();
    let lines: Vec<String> = requests.iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /api/v1/tasks/", "POST /api/v1/tasks/"]);
    // One body both generations understand.
    let body = requests[1].json();
    assert_eq!(body["search_query"], QUERY);
    assert_eq!(body["condition_description"], CONDITION);
    assert_eq!(body["name"], NAME);
    assert_eq!((&body["state"], &body["is_active"]), (&json!("active"), &json!(true)));
    assert_eq!((&body["schedule"], &body["config"]), (&json!("0 9 * * *"), &json!({})));
    assert_eq!(body["notifications"], json!([{"type": "email", "address": "me@example.com"}]));
    assert_eq!(requests[1].header("content-type"), Some("application/json"));

    w.run(&["task", "list"])
        .ok()
        .stdout_has("ID                                    NAME")
        .stdout_has(&format!("{id}  {NAME}  active"));
    assert_eq!(w.requests(), ["GET /api/v1/tasks/"]);

    w.run(&["task", "get", &id])
        .ok()
        .stdout_has(&format!("ID             {id}"))
        .stdout_has(&format!("Condition      {CONDITION}"))
        .stdout_has("Notifications  email me@example.com")
        .stdout_has(if legacy { "Condition met  no" } else { "Last run       never" });
    assert_eq!(w.requests(), [format!("GET /api/v1/tasks/{id}")]);

    // An update sends only the given field.
    w.run(&["task", "update", &id, "--condition", "A date is announced"])
        .ok()
        .stdout_has("Condition      A date is announced");
    let requests = w.fake.take_requests();
    assert_eq!(requests[0].line(), format!("PUT /api/v1/tasks/{id}"));
    assert_eq!(requests[0].json(), json!({"condition_description": "A date is announced"}));

    // Pause and resume set both generations' fields.
    w.run(&["task", "pause", &id]).ok().stdout_is(&format!("✓ Paused {id}  {NAME}\n"));
    assert_eq!(w.fake.take_requests()[0].json(), json!({"state": "paused", "is_active": false}));
    w.run(&["task", "list", "--paused"]).ok().stdout_has(&id).stdout_has("paused");
    assert_eq!(w.requests(), ["GET /api/v1/tasks/?state=paused&is_active=false"]);
    w.run(&["task", "resume", &id]).ok().stdout_has(&format!("✓ Resumed {id}"));
    assert_eq!(w.fake.take_requests()[0].json(), json!({"state": "active", "is_active": true}));

    // execute --wait polls the same run until it ends.
    let run = w.run(&["task", "execute", &id, "--wait"]);
    run.ok().stderr_has("succeeded in").stderr_has("condition met");
    let run_id = run.value();
    let requests = w.requests();
    assert_eq!(requests[0], format!("POST /api/v1/tasks/{id}/execute"));
    let poll = format!("GET /api/v1/tasks/{id}/executions?limit=20");
    assert!(requests.len() >= 3 && requests[1..].iter().all(|r| *r == poll), "{requests:?}");
    let runs = w.fake.executions(&id);
    assert_eq!((&runs[0]["id"], &runs[0]["status"]), (&json!(run_id), &json!("success")));

    w.run(&["task", "logs", &id])
        .ok()
        .stdout_has(&run_id)
        .stdout_has("success")
        .stdout_has("The condition is met");
    assert_eq!(w.requests(), [format!("GET /api/v1/tasks/{id}/executions?limit=20")]);
    w.run(&["task", "notifications", &id, "--limit", "5"]).ok().stdout_has(&run_id);
    assert_eq!(w.requests(), [format!("GET /api/v1/tasks/{id}/notifications?limit=5")]);

    w.run(&["task", "delete", &id, "--yes"]).ok().stdout_is(&format!("✓ Deleted {id}\n"));
    assert_eq!(w.requests(), [format!("DELETE /api/v1/tasks/{id}")]);
    w.run(&["task", "get", &id])
        .code(5)
        .no_stdout()
        .stderr_has(&format!("Error: Task {id} not found"));
    assert!(w.fake.tasks().is_empty());
}

#[test]
fn lifecycle_on_the_current_server() {
    lifecycle(Generation::Head);
}

#[test]
fn lifecycle_on_a_legacy_server() {
    lifecycle(Generation::Legacy);
}

#[test]
fn names_never_collide_and_a_taken_name_is_a_clear_rejection() {
    for generation in [Generation::Head, Generation::Legacy] {
        let w = World::of(generation);
        let first = w.run(&["task", "create", "-q", "same question"]);
        let second = w.run(&["task", "create", "-q", "same question"]);
        assert_ne!(first.ok().stdout, second.ok().stdout);
        let names: Vec<Value> = w.fake.tasks().iter().map(|t| t["name"].clone()).collect();
        assert_eq!(names, ["same question", "same question (2)"], "{generation:?}");
    }
    // A long question is cut at a word to at most 60 characters; one with no words is "Task".
    let w = World::new();
    w.run(&["task", "create", "-q", &"word ".repeat(40)]).ok();
    w.run(&["task", "create", "-q", "???"]).ok();
    let names: Vec<Value> = w.fake.tasks().iter().map(|t| t["name"].clone()).collect();
    assert_eq!(names, [json!("word ".repeat(12).trim_end()), json!("Task")]);
    // The current server answers a duplicate name with a bare 500.
    let w = World::new();
    w.run(&["task", "create", "-q", "q1", "-n", "Mine"]).ok();
    w.run(&["task", "create", "-q", "q2", "-n", "Mine"])
        .code(6)
        .no_stdout()
        .stderr_has("Error: A task named 'Mine' already exists");
    assert_eq!(w.fake.tasks().len(), 1);
}

#[test]
fn legacy_only_options_reach_a_legacy_server_and_warn_elsewhere() {
    let w = World::new();
    w.run(&["task", "create", "-q", QUERY, "-s", "0 8 * * 1"])
        .ok()
        .stderr_has("Warning: this server ignores --schedule");
    let w = World::of(Generation::Legacy);
    let args = ["task", "create", "-q", QUERY, "-s", "0 8 * * 1", "--notify-behavior", "always"];
    w.run(&args).ok().stderr_lacks("Warning");
    assert_eq!(w.fake.tasks()[0]["schedule"], "0 8 * * 1");
    assert_eq!(w.fake.tasks()[0]["notify_behavior"], "always");
}

#[test]
fn a_paused_create_never_leaves_a_legacy_task_unscheduled() {
    // Legacy: a task created inactive can later be neither resumed nor deleted, so torale
    // creates it active and then pauses it.
    let w = World::of(Generation::Legacy);
    let run = w.run(&["task", "create", "-q", QUERY, "--paused"]);
    run.ok().stderr_has("(paused)");
    let id = run.value();
    let requests = w.fake.take_requests();
    let lines: Vec<String> = requests.iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        ["GET /api/v1/tasks/", "POST /api/v1/tasks/", &format!("PUT /api/v1/tasks/{id}")]
    );
    assert_eq!(requests[1].json()["is_active"], true);
    assert_eq!(requests[2].json(), json!({"is_active": false}));
    w.run(&["task", "resume", &id]).ok();
    w.run(&["task", "delete", &id, "-y"]).ok();
    // The fake does have the defect: a task created inactive cannot be resumed.
    let stuck = w.task(json!({"is_active": false, "_scheduled": false}));
    w.run(&["task", "resume", &stuck]).code(9).stderr_has("Failed to unpause schedule");

    // On the current server the same command is one create with state paused.
    let w = World::new();
    w.run(&["task", "create", "-q", QUERY, "--paused"]).ok();
    let requests = w.fake.take_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].json()["state"], "paused");
    assert_eq!(w.fake.tasks()[0]["state"], "paused");
}

#[test]
fn json_output_is_the_servers_objects() {
    for generation in [Generation::Head, Generation::Legacy] {
        let w = World::of(generation);
        let run = w.run(&["task", "create", "-q", QUERY, "--json"]);
        let id = run.ok().json()["id"].as_str().unwrap().to_string();
        assert_eq!(run.stdout.lines().count(), 1, "compact when piped");
        let listed = w.run(&["task", "list", "--json"]).ok().json();
        assert_eq!(listed, Value::Array(w.fake.tasks()), "{generation:?}");
        let run = w.run(&["task", "get", &id, "--json"]);
        assert_eq!(run.ok().json(), w.fake.tasks()[0]);
        // Byte for byte what the server sent, in its field order.
        let raw = ureq::get(format!("{}/api/v1/tasks/{id}", w.fake.url()))
            .header("Authorization", format!("Bearer {}", w.fake.key()))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert_eq!(run.stdout, format!("{raw}\n"));
        assert!(run.stdout.starts_with("{\"name\":"), "{}", run.stdout);

        let finished = w.run(&["task", "execute", &id, "--wait", "--json"]).ok().json();
        assert_eq!(finished, w.fake.executions(&id)[0]);
        let logs = w.run(&["task", "logs", &id, "--json"]).ok().json();
        assert_eq!(logs, Value::Array(w.fake.executions(&id)));
        let notes = w.run(&["task", "notifications", &id, "--json"]).ok().json();
        assert_eq!(notes, json!([w.fake.executions(&id)[0]]));

        let updated = w.run(&["task", "update", &id, "-n", "Renamed", "--json"]).ok().json();
        assert_eq!(updated["name"], "Renamed");
        let paused = w.run(&["task", "pause", &id, "--json"]).ok().json();
        assert_eq!(paused.as_array().unwrap().len(), 1);
        let deleted = w.run(&["task", "delete", &id, "-y", "--json"]).ok().json();
        assert_eq!(deleted, json!([{"id": id, "deleted": true}]));
        w.run(&["task", "list", "--json"]).ok().stdout_is("[]\n");
        w.run(&["task", "list"]).ok().no_stdout().stderr_has("No tasks");
    }
}

#[test]
fn list_filters_and_limits_on_both_generations() {
    for generation in [Generation::Head, Generation::Legacy] {
        let w = World::of(generation);
        w.fake.seed_tasks(&w.fake.key(), 8); // every fourth one paused
        let count = |args: &[&str]| w.run(args).ok().json().as_array().unwrap().len();
        assert_eq!(count(&["task", "list", "--active", "--json"]), 6, "{generation:?}");
        assert_eq!(count(&["task", "list", "--paused", "--json"]), 2);
        assert_eq!(count(&["task", "list", "--limit", "3", "--json"]), 3);
        let lines = |args: &[&str]| w.run(args).ok().stdout.lines().count();
        assert_eq!(
            (lines(&["task", "list", "--paused"]), lines(&["task", "list", "--limit", "3"])),
            (3, 4)
        );
        let table = w.run(&["task", "list", "--completed"]);
        table.ok().no_stdout().stderr_has("No tasks");
        assert_eq!(table.stderr.contains("no completed state"), generation == Generation::Legacy);
        let run = w.run(&["task", "list", "--completed", "--json"]);
        assert_eq!(run.ok().json(), json!([]));
        if generation == Generation::Legacy {
            run.stderr_has("has no completed state");
        } else {
            assert!(run.stderr.is_empty(), "{run:?}");
        }
    }
}

#[test]
fn delete_asks_first_and_reports_each_id_in_bulk() {
    let w = World::new();
    let a = w.task(json!({"name": "a"}));
    let b = w.task(json!({"name": "b"}));
    w.run(&["task", "delete", &a])
        .code(2)
        .no_stdout()
        .stderr_has("Refusing to delete without confirmation")
        .stderr_has("--yes");
    assert!(w.requests().is_empty());
    w.run(&["task", "delete", &a, MISSING, &b, "-y"])
        .code(5)
        .stdout_is(&format!("✓ Deleted {a}\n✓ Deleted {b}\n"))
        .stderr_has(&format!("✗ {MISSING}: Task {MISSING} not found"))
        .stderr_has("Error: 1 of 3 tasks could not be deleted");
    assert!(w.fake.tasks().is_empty());
    w.run(&["task", "delete", MISSING, "-y", "--ignore-not-found"]).ok().stdout_has("Not found");
}

#[test]
fn bulk_json_keeps_stdout_json_and_stderr_one_object() {
    let w = World::new();
    let good = w.task(json!({"name": "good", "state": "paused"}));
    let run = w.run(&["task", "resume", &good, MISSING, "--json"]);
    run.code(5);
    let resumed = run.json();
    assert_eq!(resumed.as_array().unwrap().len(), 1);
    assert_eq!(resumed[0]["id"], good.as_str());
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    let error = run.json_error();
    assert_eq!(error["exit_code"], 5);
    assert!(error["message"].as_str().unwrap().contains(MISSING), "{error}");
    // A single ID that fails leaves stdout empty, as every failure does.
    w.run(&["task", "pause", MISSING, "--json"]).code(5).no_stdout();
}

#[test]
fn other_peoples_tasks_and_bad_keys_are_told_apart() {
    let w = World::new();
    let other = w.fake.add_user("other@example.com");
    let theirs = w.fake.seed_task(&other, json!({"name": "theirs"}));
    for args in [
        &["task", "get", &theirs][..],
        &["task", "delete", &theirs, "-y"],
        &["task", "execute", &theirs],
    ] {
        w.run(args).code(5);
    }
    assert_eq!(w.fake.tasks().len(), 1);
    // The current server treats a bad key on GET /tasks/{id} as anonymous and answers 404;
    // torale checks the key before calling the task missing.
    let mine = w.task(json!({"name": "private"}));
    w.fake.revoke(&w.fake.key());
    w.run(&["task", "get", &mine]).code(4).no_stdout().stderr_has("Error: Invalid API key");
}

#[test]
fn states_the_server_refuses_are_exit_6() {
    let w = World::new();
    let id = w.task(json!({"name": "p", "state": "paused"}));
    w.run(&["task", "complete", &id])
        .code(6)
        .no_stdout()
        .stderr_has("Error: Invalid state transition: Cannot transition from paused to completed");
    assert_eq!(w.fake.tasks()[0]["state"], "paused");

    let w = World::of(Generation::Legacy);
    let id = w.task(json!({"name": "legacy"}));
    w.run(&["task", "complete", &id])
        .code(6)
        .stderr_has("legacy 0.0.2) has no completed state")
        .stderr_has(&format!("torale task pause {id}"));
}

#[test]
fn execute_wait_exits_by_how_the_run_ended() {
    for generation in [Generation::Head, Generation::Legacy] {
        let w = World::of(generation);
        let id = w.task(json!({"name": "runs"}));
        // Without --wait only the execution ID is printed.
        assert_eq!(w.run(&["task", "execute", &id]).ok().value().len(), 36);
        w.fake.set_run_plan(vec![
            Stage::Running,
            Stage::Failed("The search provider is unavailable".into()),
        ]);
        w.run(&["task", "execute", &id, "--wait"])
            .code(11)
            .no_stdout()
            .stderr_has("failed: The search provider is unavailable");
    }
    let w = World::new();
    let id = w.task(json!({"name": "runs"}));
    w.fake.set_run_plan(vec![Stage::Cancelled]);
    w.run(&["task", "execute", &id, "--wait"]).code(11).no_stdout();
    // `retrying` is not an end: the same run goes on, said once, and a burst of 503s on the
    // polls is waited out. The run's ID comes first, so it is never lost.
    let retry = "Temporary connection issue. Retrying automatically.";
    w.fake.set_run_plan(vec![
        Stage::Retrying(retry.into()),
        Stage::Retrying(retry.into()),
        Stage::Success(None),
    ]);
    w.fake.fault_on(&format!("/api/v1/tasks/{id}/executions"), Fault::unavailable(), 5);
    let run = w.run(&["task", "execute", &id, "--wait"]);
    let run_id = run.ok().value();
    run.stderr_has(&format!("Started run {run_id}; waiting up to 300s"));
    assert_eq!(run.stderr.matches(&format!("Run {run_id} is retrying: {retry}")).count(), 1);
    let runs = w.fake.executions(&id);
    assert_eq!(runs.len(), 2, "the cancelled run and this one, retried in place");
    assert_eq!((&runs[0]["id"], &runs[0]["status"]), (&json!(run_id), &json!("success")));
    // Still retrying at the deadline is exit 8, and a slow poll never outlasts the deadline.
    w.fake.set_run_plan(vec![Stage::Retrying(retry.into())]);
    w.run(&["task", "execute", &id, "--wait", "--wait-timeout", "2"])
        .code(8)
        .stderr_has("is still retrying after 2s");
    w.fake.fault_on(
        &format!("/api/v1/tasks/{id}/executions"),
        Fault::Delay(std::time::Duration::from_secs(25)),
        usize::MAX,
    );
    w.run(&["task", "execute", &id, "--wait", "--wait-timeout", "2"]).code(8).within(6);
    w.fake.clear_faults();
    // A run that never starts: exit 8 at the timeout (a deadline, not a sleep).
    w.fake.set_run_plan(vec![]);
    w.run(&["task", "execute", &id, "--wait", "--wait-timeout", "2"])
        .code(8)
        .no_stdout()
        .stderr_has("is still pending after 2s")
        .stderr_has(&format!("torale task logs {id}"))
        .within(20);
}

#[test]
fn logs_filter_by_status() {
    let w = World::new();
    let id = w.task(json!({"name": "mixed"}));
    w.run(&["task", "execute", &id, "--wait"]).ok();
    w.fake.set_run_plan(vec![Stage::Failed("boom".into())]);
    w.run(&["task", "execute", &id, "--wait"]).code(11);
    let failed = w.run(&["task", "logs", &id, "--status", "failed", "--json"]).ok().json();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["error_message"], "boom");
    w.run(&["task", "logs", &id])
        .ok()
        .stdout_has("failed")
        .stdout_has("boom")
        .stdout_has("success");
    w.run(&["task", "logs", &id, "--status", "nope"]).code(2);
}

#[test]
fn a_webhook_update_keeps_the_other_notifications() {
    let w = World::new();
    let id = w.run(&["task", "create", "-q", QUERY, "--email", "me@example.com"]).ok().value();
    w.fake.take_requests();
    w.run(&["task", "update", &id, "--webhook", "https://hooks.example.com/t"])
        .ok()
        .stdout_has("webhook https://hooks.example.com/t")
        .stdout_has("email me@example.com");
    let put = w.fake.take_requests().into_iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.json()["notifications"].as_array().unwrap().len(), 2, "{:?}", put.json());
    w.run(&["task", "update", &id, "--no-webhook"]).ok().stdout_has("email me@example.com");
    let notifications = w.fake.tasks()[0]["notifications"].clone();
    assert_eq!(notifications.as_array().unwrap().len(), 1);
    assert_eq!(notifications[0]["type"], "email");
}

#[test]
fn server_text_is_shown_not_obeyed() {
    let w = World::new();
    let evil = "\u{1b}[2J\u{1b}]0;owned\u{7}Evil\u{202e}gpj.exe\u{9b}31m\r\nnext";
    let id = w.task(json!({"name": evil, "search_query": "q\r\nInjected: yes"}));
    for args in [&["task", "list"][..], &["task", "get", &id]] {
        let run = w.run(args);
        run.ok().stdout_has("\\x1b[2J\\x1b]0;owned\\x07Evil\\u{202e}gpj.exe\\x9b31m");
        for raw in ['\u{1b}', '\u{9b}', '\u{7}', '\u{202e}', '\r'] {
            assert!(!run.stdout.contains(raw), "raw {raw:?} in {run:?}");
        }
    }
    // --json keeps the server's text exactly; raw C1 and bidi controls are escaped.
    let run = w.run(&["task", "get", &id, "--json"]);
    assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{9b}'));
    assert_eq!(run.json()["name"], evil);
    let list = w.run(&["task", "list", "--json"]);
    assert!(!list.stdout.contains('\u{9b}') && !list.stdout.contains('\u{202e}'), "{list:?}");
    // An ID is printed bare, for scripts and in messages: a hostile one is escaped too.
    let run_doc = r#"{"id": "\u001b]0;x\u0007", "status": "pending"}"#;
    w.fake.fault_on(&format!("/api/v1/tasks/{id}/execute"), Fault::json(200, run_doc), 2);
    w.run(&["task", "execute", &id]).ok().stdout_is("\\x1b]0;x\\x07\n");
    let run = w.run(&["task", "execute", &id, "--wait-timeout", "1"]);
    run.code(8).stderr_has("Started run \\x1b]0;x\\x07;").stderr_lacks("\u{1b}");
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let w = World::new();
    w.fake.seed_tasks(&w.fake.key(), 3000);
    let mut child = w.cmd(&["task", "list"]).server(&w.fake).command().spawn().unwrap();
    // Like `torale task list | head -c 10`: read a little, then close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    std::io::Read::read_exact(&mut stdout, &mut [0u8; 10]).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "stderr: {stderr}");
}

#[test]
fn fields_and_formats_for_images_without_jq() {
    let w = World::new();
    let a = w.task(json!({"name": "first", "state": "paused"}));
    let b = w.task(json!({"name": "second\tone"}));
    // Newest first, as the server lists them.
    w.run(&["task", "list", "--field", "id", "--field", "state"])
        .ok()
        .stdout_is(&format!("{b}\tactive\n{a}\tpaused\n"));
    w.run(&["task", "list", "--format", "{name}: {state} ({last_execution.status})"])
        .ok()
        .stdout_is("second one: active ()\nfirst: paused ()\n");
    w.run(&["task", "get", &a, "--format", "{id}\\t{name}"])
        .ok()
        .stdout_is(&format!("{a}\tfirst\n"));
    w.run(&["auth", "whoami", "--field", "email"]).ok().stdout_is("user@example.com\n");
    // Errors stay plain text unless --json is asked for.
    w.run(&["task", "get", MISSING, "--field", "id"])
        .code(5)
        .no_stdout()
        .stderr_has("Error: Task ");
}

#[test]
fn tasks_by_name_or_short_id() {
    let w = World::new();
    let watch = w.task(json!({"name": "iPhone 18 watch"}));
    let other = w.task(json!({"name": "price drop"}));
    w.requests();
    // A full ID costs no extra request.
    w.run(&["task", "get", &watch, "--json"]).ok();
    assert_eq!(w.requests(), [format!("GET /api/v1/tasks/{watch}")]);
    // A name or a unique prefix of at least 4 hex characters: one list, then the task.
    let by_name = w.run(&["task", "get", "iPhone 18 watch", "--json"]).ok().json();
    assert_eq!(by_name["id"], watch.as_str());
    assert_eq!(
        w.requests(),
        ["GET /api/v1/tasks/".to_string(), format!("GET /api/v1/tasks/{watch}")]
    );
    w.run(&["task", "pause", &other[..8], "--json"]).ok().stdout_has(&other);
    w.run(&["task", "get", &other[..3]])
        .code(5)
        .stderr_has(&format!("No task named or starting with '{}'", &other[..3]));
    w.run(&["task", "get", "no such task"])
        .code(5)
        .no_stdout()
        .stderr_has("No task named or starting with 'no such task'");
    // A name or prefix that fits several tasks names them all (legacy servers allow duplicates).
    let legacy = World::of(Generation::Legacy);
    let one = legacy.task(json!({"name": "dup"}));
    let two = legacy.task(json!({"name": "dup"}));
    legacy
        .run(&["task", "delete", "dup", "-y"])
        .code(2)
        .stderr_has("'dup' matches 2 tasks")
        .stderr_has(&one)
        .stderr_has(&two);
    assert_eq!(legacy.fake.tasks().len(), 2);
    // No failed runs is said as such, not as "no runs yet".
    w.run(&["task", "execute", "price drop", "--wait"]).ok();
    w.run(&["task", "logs", "price drop", "--status", "failed"])
        .ok()
        .no_stdout()
        .stderr_has("No failed runs");
}

#[test]
fn delete_on_a_terminal_asks_by_name_and_no_is_not_an_error() {
    let w = World::new();
    let id = w.task(json!({"name": "iPhone 18 watch"}));
    // The answer comes through the terminal.
    let (code, screen) = w.on_terminal(100, "task delete 'iPhone 18 watch'", "n\n");
    assert_eq!(code, 2, "{screen}");
    assert!(
        screen.contains(&format!("Delete task 'iPhone 18 watch' ({})? [y/N]", &id[..8])),
        "{screen}"
    );
    assert!(screen.contains("Not deleted") && !screen.contains("Error"), "{screen}");
    assert_eq!(w.fake.tasks().len(), 1);
    w.task(json!({"id": "a€€€", "name": "short"})); // a server's odd ID is quoted whole
    let (code, screen) = w.on_terminal(100, "task delete short", "n\n");
    assert!(code == 2 && screen.contains("Delete task 'short' (a€€€)?"), "{screen}");
}
