//! `torale task` against both server generations: the whole lifecycle, the requests it sends,
//! human and JSON output, and the exit codes scripts branch on.

mod support;

use serde_json::{json, Value};
use support::fake::{Fake, Generation, Outcome, RunPlan};
use support::{Run, Sandbox};

const QUERY: &str = "When will Apple release the iPhone 18?";
const CONDITION: &str = "Apple has officially announced a release date";

struct World {
    fake: Fake,
    sandbox: Sandbox,
}

impl World {
    fn new(generation: Generation) -> World {
        World {
            fake: Fake::start(generation),
            sandbox: Sandbox::new(),
        }
    }

    fn torale(&self, args: &[&str]) -> Run {
        self.sandbox.torale(args).server(&self.fake).run()
    }

    /// The requests since the last call, as (method, path?query).
    fn take_requests(&self) -> Vec<support::fake::Request> {
        let requests = self.fake.requests();
        self.fake.clear_requests();
        requests
    }
}

fn line(r: &support::fake::Request) -> String {
    if r.query.is_empty() {
        format!("{} {}", r.method, r.path)
    } else {
        format!("{} {}?{}", r.method, r.path, r.query)
    }
}

fn lines(requests: &[support::fake::Request]) -> Vec<String> {
    requests.iter().map(line).collect()
}

fn lifecycle(generation: Generation) {
    let w = World::new(generation);
    let legacy = generation == Generation::Legacy;

    // create
    let run = w.torale(&[
        "task",
        "create",
        "-q",
        QUERY,
        "-c",
        CONDITION,
        "--email",
        "me@example.com",
    ]);
    run.ok()
        .stderr_has("✓ Created task 'When will Apple release the iPhone 18' (active)");
    let id = run.stdout.trim().to_string();
    assert_eq!(id.len(), 36, "{run:?}");
    let requests = w.take_requests();
    assert_eq!(
        lines(&requests),
        vec!["GET /api/v1/tasks/", "POST /api/v1/tasks/"]
    );
    let body = requests[1].json();
    assert_eq!(body["search_query"], QUERY);
    assert_eq!(body["condition_description"], CONDITION);
    assert_eq!(body["name"], "When will Apple release the iPhone 18");
    assert_eq!(body["state"], "active");
    assert_eq!(body["is_active"], true);
    assert_eq!(body["schedule"], "0 9 * * *");
    assert_eq!(body["config"], json!({}));
    assert_eq!(
        body["notifications"],
        json!([{"type": "email", "address": "me@example.com"}])
    );
    assert_eq!(requests[1].header("content-type"), Some("application/json"));

    // list
    let run = w.torale(&["task", "list"]);
    run.ok()
        .stdout_has("ID                                    NAME")
        .stdout_has(&format!(
            "{id}  When will Apple release the iPhone 18  active"
        ));
    assert_eq!(lines(&w.take_requests()), vec!["GET /api/v1/tasks/"]);

    // get
    let run = w.torale(&["task", "get", &id]);
    run.ok()
        .stdout_has(&format!("ID             {id}"))
        .stdout_has(&format!("Condition      {CONDITION}"))
        .stdout_has("Notifications  email me@example.com")
        .stdout_has(if legacy {
            "Condition met  no"
        } else {
            "Last run       never"
        });
    assert_eq!(
        lines(&w.take_requests()),
        vec![format!("GET /api/v1/tasks/{id}")]
    );

    // update: only the given field is sent
    w.torale(&["task", "update", &id, "--condition", "A date is announced"])
        .ok()
        .stdout_has("Condition      A date is announced");
    let requests = w.take_requests();
    assert_eq!(lines(&requests), vec![format!("PUT /api/v1/tasks/{id}")]);
    assert_eq!(
        requests[0].json(),
        json!({"condition_description": "A date is announced"})
    );

    // pause and resume set both generations' fields
    w.torale(&["task", "pause", &id]).ok().stdout_is(&format!(
        "✓ Paused {id}  When will Apple release the iPhone 18\n"
    ));
    let requests = w.take_requests();
    assert_eq!(
        requests[0].json(),
        json!({"state": "paused", "is_active": false})
    );
    w.torale(&["task", "list", "--paused"])
        .ok()
        .stdout_has(&id)
        .stdout_has("paused");
    assert_eq!(
        lines(&w.take_requests()),
        vec!["GET /api/v1/tasks/?state=paused&is_active=false"]
    );
    w.torale(&["task", "resume", &id])
        .ok()
        .stdout_has(&format!("✓ Resumed {id}"));
    assert_eq!(
        w.take_requests()[0].json(),
        json!({"state": "active", "is_active": true})
    );

    // execute --wait polls until the run ends
    let run = w.torale(&["task", "execute", &id, "--wait"]);
    run.ok()
        .stderr_has("succeeded in")
        .stderr_has("condition met");
    let exec_id = run.stdout.trim().to_string();
    let requests = w.take_requests();
    assert_eq!(
        line(&requests[0]),
        format!("POST /api/v1/tasks/{id}/execute")
    );
    assert!(requests.len() >= 3, "polled: {:?}", lines(&requests));
    for r in &requests[1..] {
        assert_eq!(
            line(r),
            format!("GET /api/v1/tasks/{id}/executions?limit=20")
        );
    }
    let executions = w.fake.executions(&id);
    assert_eq!(executions[0]["id"], exec_id.as_str());
    assert_eq!(executions[0]["status"], "success");

    // logs and notifications
    let run = w.torale(&["task", "logs", &id]);
    run.ok()
        .stdout_has(&exec_id)
        .stdout_has("success")
        .stdout_has("The condition is met");
    assert_eq!(
        lines(&w.take_requests()),
        vec![format!("GET /api/v1/tasks/{id}/executions?limit=20")]
    );
    w.torale(&["task", "notifications", &id, "--limit", "5"])
        .ok()
        .stdout_has(&exec_id);
    assert_eq!(
        lines(&w.take_requests()),
        vec![format!("GET /api/v1/tasks/{id}/notifications?limit=5")]
    );

    // delete, then the task is gone (exit 5)
    w.torale(&["task", "delete", &id, "--yes"])
        .ok()
        .stdout_is(&format!("✓ Deleted {id}\n"));
    assert_eq!(
        lines(&w.take_requests()),
        vec![format!("DELETE /api/v1/tasks/{id}")]
    );
    w.torale(&["task", "get", &id])
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
fn default_names_never_collide() {
    for generation in [Generation::Head, Generation::Legacy] {
        let w = World::new(generation);
        let first = w.torale(&["task", "create", "-q", "same question"]);
        let second = w.torale(&["task", "create", "-q", "same question"]);
        first.ok();
        second.ok();
        assert_ne!(first.stdout, second.stdout);
        let mut names: Vec<String> = w
            .fake
            .tasks()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["same question", "same question (2)"],
            "{generation:?}"
        );
    }
}

#[test]
fn a_taken_explicit_name_is_a_clear_rejection() {
    // The current server answers a duplicate name with a bare 500.
    let w = World::new(Generation::Head);
    w.torale(&["task", "create", "-q", "q1", "-n", "Mine"]).ok();
    w.torale(&["task", "create", "-q", "q2", "-n", "Mine"])
        .code(6)
        .no_stdout()
        .stderr_has("Error: A task named 'Mine' already exists");
    assert_eq!(w.fake.tasks().len(), 1);
}

#[test]
fn legacy_only_options_warn_on_the_current_server() {
    let w = World::new(Generation::Head);
    w.torale(&["task", "create", "-q", QUERY, "-s", "0 8 * * 1"])
        .ok()
        .stderr_has("Warning: this server ignores --schedule");
    let w = World::new(Generation::Legacy);
    let run = w.torale(&[
        "task",
        "create",
        "-q",
        QUERY,
        "-s",
        "0 8 * * 1",
        "--notify-behavior",
        "always",
    ]);
    run.ok().stderr_lacks("Warning");
    assert_eq!(w.fake.tasks()[0]["schedule"], "0 8 * * 1");
    assert_eq!(w.fake.tasks()[0]["notify_behavior"], "always");
}

#[test]
fn paused_create_never_leaves_a_legacy_task_unscheduled() {
    // Legacy: a task created inactive can later be neither resumed nor deleted, so torale
    // creates it active and then pauses it.
    let w = World::new(Generation::Legacy);
    let run = w.torale(&["task", "create", "-q", QUERY, "--paused"]);
    run.ok().stderr_has("(paused)");
    let id = run.stdout.trim();
    let requests = w.take_requests();
    assert_eq!(
        lines(&requests),
        vec![
            "GET /api/v1/tasks/".to_string(),
            "POST /api/v1/tasks/".to_string(),
            format!("PUT /api/v1/tasks/{id}")
        ]
    );
    assert_eq!(requests[1].json()["is_active"], true);
    assert_eq!(requests[2].json(), json!({"is_active": false}));
    w.torale(&["task", "resume", id]).ok();
    w.torale(&["task", "delete", id, "-y"]).ok();

    // On the current server the same command is one create with state paused.
    let w = World::new(Generation::Head);
    w.torale(&["task", "create", "-q", QUERY, "--paused"]).ok();
    let requests = w.take_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].json()["state"], "paused");
    assert_eq!(w.fake.tasks()[0]["state"], "paused");
}

#[test]
fn json_output_is_the_servers_objects() {
    for generation in [Generation::Head, Generation::Legacy] {
        let w = World::new(generation);
        let run = w.torale(&["task", "create", "-q", QUERY, "--json"]);
        let created = run.ok().json();
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(run.stdout.lines().count(), 1, "compact when piped");

        let listed = w.torale(&["task", "list", "--json"]).ok().json();
        assert_eq!(listed, Value::Array(w.fake.tasks()), "{generation:?}");
        let run = w.torale(&["task", "get", &id, "--json"]);
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

        let run = w.torale(&["task", "execute", &id, "--wait", "--json"]);
        let finished = run.ok().json();
        assert_eq!(finished, w.fake.executions(&id)[0]);
        let logs = w.torale(&["task", "logs", &id, "--json"]).ok().json();
        assert_eq!(logs, Value::Array(w.fake.executions(&id)));
        let notes = w
            .torale(&["task", "notifications", &id, "--json"])
            .ok()
            .json();
        assert_eq!(notes.as_array().unwrap().len(), 1);
        assert_eq!(notes[0], w.fake.executions(&id)[0]);

        let updated = w
            .torale(&["task", "update", &id, "-n", "Renamed", "--json"])
            .ok()
            .json();
        assert_eq!(updated["name"], "Renamed");
        let paused = w.torale(&["task", "pause", &id, "--json"]).ok().json();
        assert_eq!(paused.as_array().unwrap().len(), 1);
        let deleted = w
            .torale(&["task", "delete", &id, "-y", "--json"])
            .ok()
            .json();
        assert_eq!(deleted, json!([{"id": id, "deleted": true}]));
        w.torale(&["task", "list", "--json"]).ok().stdout_is("[]\n");
    }
}

#[test]
fn empty_list_is_success() {
    let w = World::new(Generation::Head);
    w.torale(&["task", "list"])
        .ok()
        .no_stdout()
        .stderr_has("No tasks");
    w.torale(&["task", "list", "--json"]).ok().stdout_is("[]\n");
}

#[test]
fn list_filters_and_limits_on_both_generations() {
    for generation in [Generation::Head, Generation::Legacy] {
        let w = World::new(generation);
        w.fake.seed_tasks(&w.fake.key(), 8); // every fourth paused
        let active = w
            .torale(&["task", "list", "--active", "--json"])
            .ok()
            .json();
        assert_eq!(active.as_array().unwrap().len(), 6, "{generation:?}");
        let paused = w
            .torale(&["task", "list", "--paused", "--json"])
            .ok()
            .json();
        assert_eq!(paused.as_array().unwrap().len(), 2);
        let limited = w
            .torale(&["task", "list", "--limit", "3", "--json"])
            .ok()
            .json();
        assert_eq!(limited.as_array().unwrap().len(), 3);
        let run = w.torale(&["task", "list", "--completed", "--json"]);
        assert_eq!(run.ok().json(), json!([]));
        if generation == Generation::Legacy {
            run.stderr_has("has no completed state");
        } else {
            assert!(run.stderr.is_empty(), "{run:?}");
        }
    }
}

#[test]
fn delete_refuses_without_a_terminal_or_yes() {
    let w = World::new(Generation::Head);
    let id = w.fake.seed_task(&w.fake.key(), json!({"name": "keep me"}));
    w.torale(&["task", "delete", &id])
        .code(2)
        .no_stdout()
        .stderr_has("Refusing to delete without confirmation")
        .stderr_has("--yes");
    assert_eq!(w.fake.tasks().len(), 1);
    assert!(w.fake.requests().is_empty());
}

#[test]
fn bulk_delete_reports_each_and_exits_with_the_worst() {
    let w = World::new(Generation::Head);
    let a = w.fake.seed_task(&w.fake.key(), json!({"name": "a"}));
    let b = w.fake.seed_task(&w.fake.key(), json!({"name": "b"}));
    let missing = "00000000-0000-4000-8000-000000000000";
    let run = w.torale(&["task", "delete", &a, missing, &b, "-y"]);
    run.code(5)
        .stdout_is(&format!("✓ Deleted {a}\n✓ Deleted {b}\n"))
        .stderr_has(&format!("✗ {missing}: Task {missing} not found"))
        .stderr_has("Error: 1 of 3 tasks could not be deleted");
    assert!(w.fake.tasks().is_empty());

    w.torale(&["task", "delete", missing, "-y", "--ignore-not-found"])
        .ok()
        .stdout_has("Not found");
}

#[test]
fn a_bad_key_is_exit_4_even_where_the_server_says_404() {
    // The current server treats a bad key on GET /tasks/{id} as anonymous and answers 404;
    // torale checks the key before calling the task missing.
    let w = World::new(Generation::Head);
    let id = w.fake.seed_task(&w.fake.key(), json!({"name": "private"}));
    w.fake.revoke(&w.fake.key());
    w.torale(&["task", "get", &id])
        .code(4)
        .no_stdout()
        .stderr_has("Error: Invalid API key");
    w.torale(&["task", "list"])
        .code(4)
        .stderr_has("Error: Invalid API key");
}

#[test]
fn invalid_transition_is_exit_6() {
    let w = World::new(Generation::Head);
    let id = w
        .fake
        .seed_task(&w.fake.key(), json!({"name": "p", "state": "paused"}));
    w.torale(&["task", "complete", &id])
        .code(6)
        .no_stdout()
        .stderr_has("Error: Invalid state transition: Cannot transition from paused to completed");
    assert_eq!(w.fake.tasks()[0]["state"], "paused");
}

#[test]
fn complete_on_a_legacy_server_explains_itself() {
    let w = World::new(Generation::Legacy);
    let id = w.fake.seed_task(&w.fake.key(), json!({"name": "legacy"}));
    w.torale(&["task", "complete", &id])
        .code(6)
        .stderr_has("legacy 0.0.2) has no completed state")
        .stderr_has(&format!("torale task pause {id}"));
}

#[test]
fn the_active_task_cap_is_a_rejection_not_a_retry() {
    let w = World::new(Generation::Head);
    for i in 0..50 {
        w.fake.seed_task(
            &w.fake.key(),
            json!({"name": format!("t{i}"), "state": "active"}),
        );
    }
    w.fake.clear_requests();
    w.torale(&["task", "create", "-q", "one more"])
        .code(6)
        .stderr_has("Maximum of 50 active tasks reached");
    let posts = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1, "not retried");
}

#[test]
fn execute_wait_exit_codes() {
    let w = World::new(Generation::Head);
    let id = w.fake.seed_task(&w.fake.key(), json!({"name": "runs"}));

    w.fake.set_run_plan(RunPlan {
        polls_per_step: 1,
        outcome: Outcome::Failed("The search provider is unavailable".into()),
    });
    w.torale(&["task", "execute", &id, "--wait"])
        .code(11)
        .no_stdout()
        .stderr_has("failed: The search provider is unavailable");

    w.fake.set_run_plan(RunPlan {
        polls_per_step: 1,
        outcome: Outcome::Stuck,
    });
    let run = w.torale(&["task", "execute", &id, "--wait", "--wait-timeout", "2"]);
    run.code(8)
        .no_stdout()
        .stderr_has("is still pending after 2s")
        .stderr_has(&format!("torale task logs {id}"));
    assert!(run.elapsed.as_secs() < 10, "{:?}", run.elapsed);

    // Without --wait only the execution ID is printed.
    let run = w.torale(&["task", "execute", &id]);
    run.ok();
    assert_eq!(run.stdout.trim().len(), 36);
}

#[test]
fn execute_wait_on_a_legacy_server() {
    let w = World::new(Generation::Legacy);
    let id = w
        .fake
        .seed_task(&w.fake.key(), json!({"name": "legacy run"}));
    w.torale(&["task", "execute", &id, "--wait"]).ok();
    w.fake.set_run_plan(RunPlan {
        polls_per_step: 1,
        outcome: Outcome::Failed("Workflow failed".into()),
    });
    w.torale(&["task", "execute", &id, "--wait"])
        .code(11)
        .stderr_has("Workflow failed");
}

#[test]
fn logs_filter_by_status() {
    let w = World::new(Generation::Head);
    let id = w.fake.seed_task(&w.fake.key(), json!({"name": "mixed"}));
    w.torale(&["task", "execute", &id, "--wait"]).ok();
    w.fake.set_run_plan(RunPlan {
        polls_per_step: 1,
        outcome: Outcome::Failed("boom".into()),
    });
    w.torale(&["task", "execute", &id, "--wait"]).code(11);
    let failed = w
        .torale(&["task", "logs", &id, "--status", "failed", "--json"])
        .ok()
        .json();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["error_message"], "boom");
    w.torale(&["task", "logs", &id])
        .ok()
        .stdout_has("failed")
        .stdout_has("boom")
        .stdout_has("success");
    w.torale(&["task", "logs", &id, "--status", "nope"]).code(2);
}

#[test]
fn update_webhook_keeps_other_notifications() {
    let w = World::new(Generation::Head);
    let run = w.torale(&["task", "create", "-q", QUERY, "--email", "me@example.com"]);
    let id = run.ok().stdout.trim().to_string();
    w.fake.clear_requests();
    w.torale(&[
        "task",
        "update",
        &id,
        "--webhook",
        "https://hooks.example.com/t",
    ])
    .ok()
    .stdout_has("webhook https://hooks.example.com/t")
    .stdout_has("email me@example.com");
    let put = w
        .fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    let sent = put.json()["notifications"].clone();
    assert_eq!(sent.as_array().unwrap().len(), 2, "{sent}");
    w.torale(&["task", "update", &id, "--no-webhook"])
        .ok()
        .stdout_has("email me@example.com");
    let notifications = w.fake.tasks()[0]["notifications"].clone();
    assert_eq!(notifications.as_array().unwrap().len(), 1);
    assert_eq!(notifications[0]["type"], "email");
    w.torale(&[
        "task",
        "update",
        &id,
        "--webhook",
        "http://insecure.example",
    ])
    .code(2)
    .stderr_has("only https://");
}

#[test]
fn server_text_cannot_drive_the_terminal() {
    let w = World::new(Generation::Head);
    let evil = "\u{1b}[2J\u{1b}]0;pwned\u{7}Evil\u{9b}31m name\r\nnext";
    let id = w.fake.seed_task(
        &w.fake.key(),
        json!({"name": evil, "search_query": "q\u{1b}[31m", "condition_description": "\u{202e}txt"}),
    );
    for args in [vec!["task", "list"], vec!["task", "get", id.as_str()]] {
        let run = w.torale(&args);
        run.ok();
        assert!(!run.stdout.contains('\u{1b}'), "raw ESC in {run:?}");
        assert!(!run.stdout.contains('\u{9b}'), "raw CSI in {run:?}");
        assert!(!run.stdout.contains('\u{7}'), "raw BEL in {run:?}");
        assert!(!run.stdout.contains('\u{202e}'), "raw RLO in {run:?}");
        assert!(!run.stdout.contains('\r'), "raw CR in {run:?}");
        run.stdout_has("\\x1b[2J");
    }
    // JSON keeps the server's text exactly (escaped by JSON itself).
    let listed = w.torale(&["task", "list", "--json"]).ok().json();
    assert_eq!(listed[0]["name"], evil);
}

#[test]
fn closed_stdout_pipe_ends_quietly() {
    let w = World::new(Generation::Head);
    w.fake.seed_tasks(&w.fake.key(), 3000);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_torale"))
        .args(["task", "list"])
        .env_clear()
        .env("HOME", &w.sandbox.home)
        .env("TORALE_CONFIG_DIR", &w.sandbox.config_dir)
        .env("TORALE_API_URL", w.fake.url())
        .env("TORALE_API_KEY", w.fake.key())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `torale task list | head -c 10`: read a little, then close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "stderr: {stderr}");
}

#[test]
fn tasks_owned_by_someone_else_are_not_found() {
    let w = World::new(Generation::Head);
    let other = w.fake.add_user("other@example.com");
    let id = w.fake.seed_task(&other, json!({"name": "theirs"}));
    w.torale(&["task", "get", &id]).code(5);
    w.torale(&["task", "delete", &id, "-y"]).code(5);
    w.torale(&["task", "execute", &id]).code(5);
    assert_eq!(w.fake.tasks().len(), 1);
}

#[test]
fn fields_and_formats_for_images_without_jq() {
    let w = World::new(Generation::Head);
    let a = w
        .fake
        .seed_task(&w.fake.key(), json!({"name": "first", "state": "paused"}));
    let b = w
        .fake
        .seed_task(&w.fake.key(), json!({"name": "second\tone"}));
    // Newest first, as the server lists them.
    w.torale(&["task", "list", "--field", "id", "--field", "state"])
        .ok()
        .stdout_is(&format!("{b}\tactive\n{a}\tpaused\n"));
    w.torale(&[
        "task",
        "list",
        "--format",
        "{name}: {state} ({last_execution.status})",
    ])
    .ok()
    .stdout_is("second one: active ()\nfirst: paused ()\n");
    w.torale(&["task", "get", &a, "--format", "{id}\\t{name}"])
        .ok()
        .stdout_is(&format!("{a}\tfirst\n"));
    w.torale(&["auth", "whoami", "--field", "email"])
        .ok()
        .stdout_is("user@example.com\n");
    w.torale(&["task", "list", "--field", "id", "--format", "{id}"])
        .code(2)
        .stderr_has("Use either --field or --format");
    w.torale(&["task", "list", "--format", "{id"])
        .code(2)
        .stderr_has("Invalid --format: unclosed '{'");
    // Errors stay plain text unless --json is asked for.
    let run = w.torale(&[
        "task",
        "get",
        "00000000-0000-4000-8000-000000000000",
        "--field",
        "id",
    ]);
    run.code(5).no_stdout().stderr_has("Error: Task ");
}

#[test]
fn a_retrying_run_ends_the_wait_as_a_failure() {
    let w = World::new(Generation::Head);
    let id = w.fake.seed_task(&w.fake.key(), json!({"name": "flaky"}));
    w.fake.set_run_plan(RunPlan {
        polls_per_step: 1,
        outcome: Outcome::Retrying("Temporary connection issue. Retrying automatically.".into()),
    });
    let run = w.torale(&["task", "execute", &id, "--wait"]);
    run.code(11)
        .no_stdout()
        .stderr_has("retrying: Temporary connection issue")
        .stderr_has("the scheduler runs the task again later");
    assert!(
        run.elapsed.as_secs() < 10,
        "did not wait out the timeout: {:?}",
        run.elapsed
    );
}

#[test]
fn bulk_json_keeps_stdout_json_and_stderr_one_object() {
    let w = World::new(Generation::Head);
    let good = w
        .fake
        .seed_task(&w.fake.key(), json!({"name": "good", "state": "paused"}));
    let missing = "00000000-0000-4000-8000-000000000000";
    let run = w.torale(&["task", "resume", &good, missing, "--json"]);
    run.code(5);
    let resumed = run.json();
    assert_eq!(resumed.as_array().unwrap().len(), 1);
    assert_eq!(resumed[0]["id"], good.as_str());
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    let error = run.json_error();
    assert_eq!(error["exit_code"], 5);
    assert!(
        error["message"].as_str().unwrap().contains(missing),
        "{error}"
    );
    // A single ID that fails leaves stdout empty, as every failure does.
    w.torale(&["task", "pause", missing, "--json"])
        .code(5)
        .no_stdout();
}
