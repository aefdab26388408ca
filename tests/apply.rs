//! `torale task apply`: create what is missing, update what differs, leave equal tasks alone,
//! prune on request, and a dry run that CI can use as a drift check.

use serde_json::{json, Value};

use crate::support::fake::Generation;
use crate::support::{Run, World};

fn desired() -> Value {
    json!({"tasks": [
        {"name": "iPhone", "query": "When will the iPhone 18 ship?",
         "condition": "A date is announced", "state": "active",
         "notifications": [{"type": "email", "address": "me@example.com"}]},
        {"name": "PS6", "query": "What will the PS6 cost?", "state": "paused"}
    ]})
}

/// `torale task apply -f tasks.json ARGS` with this file content.
fn apply(w: &World, tasks: &Value, extra: &[&str]) -> Run {
    let file = w.root.join("tasks.json");
    std::fs::write(&file, tasks.to_string()).unwrap();
    w.run(&[&["task", "apply", "-f", file.to_str().unwrap()][..], extra].concat())
}

/// The writes the fake received since the last look.
fn writes(w: &World) -> Vec<String> {
    w.requests().into_iter().filter(|r| !r.starts_with("GET")).collect()
}

fn id_of(w: &World, name: &str) -> String {
    let tasks = w.fake.tasks();
    let task = tasks.iter().find(|t| t["name"] == name).unwrap();
    task["id"].as_str().unwrap().to_string()
}

fn apply_story(generation: Generation) {
    let w = World::of(generation);
    let keep = w.task(json!({"name": "Unmanaged", "search_query": "Something else?"}));

    // A dry run shows the plan and writes nothing; --exit-code makes drift exit 12.
    apply(&w, &desired(), &["--dry-run", "--exit-code"])
        .code(12)
        .stdout_is("+ create iPhone\n+ create PS6\n")
        .stderr_has("Plan: 2 to create, 0 to update, 0 to delete, 0 unchanged");
    assert!(writes(&w).is_empty());

    apply(&w, &desired(), &[])
        .ok()
        .stdout_is("+ create iPhone\n+ create PS6\n")
        .stderr_has("Applied: 2 to create");
    let tasks = w.fake.tasks();
    let iphone = tasks.iter().find(|t| t["name"] == "iPhone").unwrap();
    assert_eq!(iphone["condition_description"], "A date is announced");
    assert_eq!(iphone["notifications"][0]["address"], "me@example.com");
    let ps6 = tasks.iter().find(|t| t["name"] == "PS6").unwrap();
    match generation {
        Generation::Head => assert_eq!(ps6["state"], "paused"),
        Generation::Legacy => assert_eq!(ps6["is_active"], false),
    }

    // A second apply of the same file sends no writes.
    w.fake.take_requests();
    apply(&w, &desired(), &[])
        .ok()
        .no_stdout()
        .stderr_has("0 to create, 0 to update, 0 to delete, 2 unchanged");
    apply(&w, &desired(), &["--dry-run", "--exit-code"]).ok().no_stdout();
    assert!(writes(&w).is_empty());

    // A changed field is one PUT with only that field.
    let mut changed = desired();
    changed["tasks"][0]["condition"] = json!("Apple confirms a date");
    let plan = apply(&w, &changed, &["--dry-run", "--json"]).ok().json();
    assert_eq!(
        plan[0]["changes"],
        json!([{"field": "condition", "from": "A date is announced", "to": "Apple confirms a date"}]),
        "plan values are the values, encoded once"
    );
    apply(&w, &changed, &[]).ok().stdout_is(
        "~ update iPhone: condition \"A date is announced\" → \"Apple confirms a date\"\n",
    );
    let puts: Vec<_> = w.fake.take_requests().into_iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].json(), json!({"condition_description": "Apple confirms a date"}));

    // Prune deletes what the file does not list, and asks first.
    apply(&w, &changed, &["--prune"])
        .code(2)
        .stderr_has("Refusing to delete 1 task(s) without confirmation");
    assert!(w.fake.tasks().iter().any(|t| t["id"] == keep.as_str()));
    apply(&w, &changed, &["--prune", "--dry-run"]).ok().stdout_is("- delete Unmanaged\n");
    let plan = apply(&w, &changed, &["--prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(plan, json!([{"action": "delete", "name": "Unmanaged", "id": keep}]));
    apply(&w, &changed, &["--prune", "--yes"]).ok().stdout_is("- delete Unmanaged\n");
    assert_eq!(w.fake.tasks().len(), 2);
}

#[test]
fn apply_on_the_current_server() {
    apply_story(Generation::Head);
}

#[test]
fn apply_on_a_legacy_server() {
    apply_story(Generation::Legacy);
}

#[test]
fn state_and_notification_drift_is_repaired() {
    let w = World::new();
    apply(&w, &desired(), &[]).ok();
    // Someone resumes one task by hand and adds a webhook to the other.
    w.run(&["task", "resume", &id_of(&w, "PS6")]).ok();
    let iphone = id_of(&w, "iPhone");
    w.run(&["task", "update", &iphone, "--webhook", "https://hooks.example.com/x"]).ok();
    apply(&w, &desired(), &["--dry-run", "--exit-code"])
        .code(12)
        .stdout_has("~ update iPhone: notifications [email me@example.com, webhook https://hooks.example.com/x] → [email me@example.com]")
        .stdout_has("~ update PS6: state active → paused");
    apply(&w, &desired(), &[]).ok();
    apply(&w, &desired(), &["--dry-run", "--exit-code"]).ok().no_stdout();
}

#[test]
fn bad_files_are_usage_errors() {
    let w = World::new();
    let file = w.root.join("tasks.json");
    let apply_text = |text: &str| {
        std::fs::write(&file, text).unwrap();
        w.run(&["task", "apply", "-f", file.to_str().unwrap()])
    };
    apply_text("{\"tasks\": [{\"name\": \"x\",\n \"qeury\": \"typo\"}]}")
        .code(2)
        .no_stdout()
        .stderr_has("task 1 ('x'): unknown field `qeury`");
    apply_text("{\"tasks\": [\n  {\"name\": \"x\",}]}")
        .code(2)
        .stderr_has("is not valid JSON (line 2, column");
    let twice = json!([{"name": "a", "query": "q"}, {"name": "a", "query": "q2"}]);
    apply(&w, &twice, &[]).code(2).stderr_has("the name 'a' appears twice");
    let sleeping = json!([{"name": "a", "query": "q", "state": "sleeping"}]);
    apply(&w, &sleeping, &[]).code(2).stderr_has("state 'sleeping'");
    w.run(&["task", "apply"]).code(2).stderr_has("Missing --file (-f)");
    w.run(&["task", "apply", "-f", "/nonexistent/tasks.json"])
        .code(2)
        .stderr_has("Cannot read /nonexistent/tasks.json");
    assert!(writes(&w).is_empty());
    // `-f -` reads standard input.
    w.cmd(&["task", "apply", "-f", "-"])
        .server(&w.fake)
        .stdin(desired().to_string())
        .run()
        .ok()
        .stdout_is("+ create iPhone\n+ create PS6\n");
}
