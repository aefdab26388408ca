//! `torale task apply`: create what is missing, update what differs, leave equal tasks
//! alone, prune on request, and a dry run that CI can use as a drift check.

mod support;

use serde_json::json;
use support::fake::{Fake, Generation};
use support::{Run, Sandbox};

struct World {
    fake: Fake,
    sandbox: Sandbox,
    file: std::path::PathBuf,
}

impl World {
    fn new(generation: Generation) -> World {
        let sandbox = Sandbox::new();
        let file = sandbox.root.join("tasks.json");
        World {
            fake: Fake::start(generation),
            sandbox,
            file,
        }
    }

    fn write(&self, tasks: serde_json::Value) {
        std::fs::write(&self.file, tasks.to_string()).unwrap();
    }

    fn apply(&self, extra: &[&str]) -> Run {
        let mut args = vec!["task", "apply", "-f", self.file.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.sandbox.torale(&args).server(&self.fake).run()
    }

    fn writes(&self) -> Vec<String> {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

fn desired() -> serde_json::Value {
    json!({"tasks": [
        {"name": "iPhone", "query": "When will the iPhone 18 ship?",
         "condition": "A date is announced", "state": "active",
         "notifications": [{"type": "email", "address": "me@example.com"}]},
        {"name": "PS6", "query": "What will the PS6 cost?", "state": "paused"}
    ]})
}

fn apply_story(generation: Generation) {
    let w = World::new(generation);
    let keep = w.fake.seed_task(
        &w.fake.key(),
        json!({"name": "Unmanaged", "search_query": "Something else?"}),
    );
    w.write(desired());

    // A dry run shows the plan and writes nothing; --exit-code makes drift exit 12.
    let run = w.apply(&["--dry-run", "--exit-code"]);
    run.code(12)
        .stdout_is("+ create iPhone\n+ create PS6\n")
        .stderr_has("Plan: 2 to create, 0 to update, 0 to delete, 0 unchanged");
    assert!(w.writes().is_empty());

    // Apply creates both.
    w.apply(&[])
        .ok()
        .stdout_is("+ create iPhone\n+ create PS6\n")
        .stderr_has("Applied: 2 to create");
    let tasks = w.fake.tasks();
    let iphone = tasks.iter().find(|t| t["name"] == "iPhone").unwrap();
    assert_eq!(iphone["condition_description"], "A date is announced");
    assert_eq!(iphone["notifications"][0]["address"], "me@example.com");
    let ps6 = tasks.iter().find(|t| t["name"] == "PS6").unwrap();
    if generation == Generation::Head {
        assert_eq!(ps6["state"], "paused");
    } else {
        assert_eq!(ps6["is_active"], false);
    }

    // A second apply of the same file sends no writes.
    w.fake.clear_requests();
    w.apply(&[])
        .ok()
        .no_stdout()
        .stderr_has("0 to create, 0 to update, 0 to delete, 2 unchanged");
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    w.apply(&["--dry-run", "--exit-code"]).ok().no_stdout();

    // A changed field is one PUT with only that field.
    let mut changed = desired();
    changed["tasks"][0]["condition"] = json!("Apple confirms a date");
    w.write(changed);
    w.fake.clear_requests();
    w.apply(&[]).ok().stdout_is(
        "~ update iPhone: condition \"A date is announced\" → \"Apple confirms a date\"\n",
    );
    let puts: Vec<_> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 1);
    assert_eq!(
        puts[0].json(),
        json!({"condition_description": "Apple confirms a date"})
    );

    // Prune deletes what the file does not list, and asks first.
    w.apply(&["--prune"])
        .code(2)
        .stderr_has("Refusing to delete 1 task(s) without confirmation");
    assert!(w.fake.tasks().iter().any(|t| t["id"] == keep.as_str()));
    w.apply(&["--prune", "--dry-run"])
        .ok()
        .stdout_is("- delete Unmanaged\n");
    let plan = w.apply(&["--prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(
        plan,
        json!([{"action": "delete", "name": "Unmanaged", "id": keep}])
    );
    w.apply(&["--prune", "--yes"])
        .ok()
        .stdout_is("- delete Unmanaged\n");
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
    let w = World::new(Generation::Head);
    w.write(desired());
    w.apply(&[]).ok();
    let id = w.fake.tasks().iter().find(|t| t["name"] == "PS6").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Someone resumes the task by hand and adds a webhook to the other.
    w.sandbox
        .torale(&["task", "resume", &id])
        .server(&w.fake)
        .run()
        .ok();
    let iphone = w
        .fake
        .tasks()
        .iter()
        .find(|t| t["name"] == "iPhone")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.sandbox
        .torale(&[
            "task",
            "update",
            &iphone,
            "--webhook",
            "https://hooks.example.com/x",
        ])
        .server(&w.fake)
        .run()
        .ok();
    let run = w.apply(&["--dry-run", "--exit-code"]);
    run.code(12)
        .stdout_has("~ update iPhone: notifications [email me@example.com, webhook https://hooks.example.com/x] → [email me@example.com]")
        .stdout_has("~ update PS6: state active → paused");
    w.apply(&[]).ok();
    w.fake.clear_requests();
    w.apply(&["--dry-run", "--exit-code"]).ok().no_stdout();
}

#[test]
fn bad_files_are_usage_errors() {
    let w = World::new(Generation::Head);
    std::fs::write(
        &w.file,
        "{\"tasks\": [{\"name\": \"x\",\n \"qeury\": \"typo\"}]}",
    )
    .unwrap();
    w.apply(&[])
        .code(2)
        .no_stdout()
        .stderr_has("task 1 ('x'): unknown field `qeury`");
    std::fs::write(&w.file, "{\"tasks\": [\n  {\"name\": \"x\",}]}").unwrap();
    w.apply(&[])
        .code(2)
        .stderr_has("is not valid JSON (line 2, column");
    w.write(json!([{"name": "a", "query": "q"}, {"name": "a", "query": "q2"}]));
    w.apply(&[])
        .code(2)
        .stderr_has("the name 'a' appears twice");
    w.write(json!([{"name": "a", "query": "q", "state": "sleeping"}]));
    w.apply(&[]).code(2).stderr_has("state 'sleeping'");
    w.sandbox
        .torale(&["task", "apply"])
        .server(&w.fake)
        .run()
        .code(2)
        .stderr_has("Missing --file (-f)");
    w.sandbox
        .torale(&["task", "apply", "-f", "/nonexistent/tasks.json"])
        .server(&w.fake)
        .run()
        .code(2)
        .stderr_has("Cannot read /nonexistent/tasks.json");
    assert!(w.writes().is_empty());
}

#[test]
fn apply_reads_standard_input() {
    let w = World::new(Generation::Head);
    w.sandbox
        .torale(&["task", "apply", "-f", "-"])
        .server(&w.fake)
        .stdin(desired().to_string())
        .run()
        .ok()
        .stdout_is("+ create iPhone\n+ create PS6\n");
}
