//! Behaviour the hardened client brings, written against the fake's switches: ignored until
//! that client is merged (then the `ignore` goes). `.ci/run` skips this module in its run of
//! the ignored tests, since today's binary cannot pass it.

use serde_json::json;

use crate::support::fake::{Fault, Stage};
use crate::support::World;

#[test]
#[ignore = "needs the URL check"]
fn a_port_outside_1_to_65535_is_refused_before_anything_is_sent() {
    let w = World::new();
    for url in ["http://127.0.0.1:99999", "http://127.0.0.1:0"] {
        w.run(&["--api-url", url, "task", "list"]).code(2).no_stdout().stderr_has("Error: ");
    }
    assert!(w.requests().is_empty());
}

#[test]
#[ignore = "needs the client to keep waiting through `retrying`"]
fn execute_wait_keeps_waiting_while_the_same_run_retries() {
    let w = World::new();
    let id = w.task(json!({"name": "flaky"}));
    let retry = "Temporary connection issue. Retrying automatically.";
    w.fake.set_run_plan(vec![
        Stage::Running,
        Stage::Retrying(retry.into()),
        Stage::Running,
        Stage::Success(None),
    ]);
    let run = w.run(&["task", "execute", &id, "--wait"]);
    run.ok();
    let runs = w.fake.executions(&id);
    assert_eq!(runs.len(), 1, "one run, retried in place");
    assert_eq!((&runs[0]["id"], &runs[0]["status"]), (&json!(run.value()), &json!("success")));
}

#[test]
#[ignore = "needs the client to shorten long error messages"]
fn a_huge_error_detail_becomes_one_short_line() {
    let w = World::new();
    w.fake.fault(Fault::huge_detail(400, 1_000_000), 1);
    let run = w.run(&["auth", "whoami"]);
    run.code(6).no_stdout().stderr_has("Error: xxx").stderr_has("…");
    assert!(run.stderr.len() < 1000, "{} bytes on stderr", run.stderr.len());
}
