//! A smoke test of the fake Torale API itself, on the wire: the behaviours of each server
//! generation the other tests rely on, and the fault switches left for client tests.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Value};

use crate::support::fake::{stamp, Escape, Fake, Fault, Generation, Stage};

/// One request; returns the status, the raw head and the body.
fn http(
    fake: &Fake,
    method: &str,
    target: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", fake.port())).unwrap();
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    (head[9..12].parse().unwrap(), head.to_string(), body.to_string())
}

fn json_of(fake: &Fake, method: &str, target: &str, body: &str) -> (u16, Value) {
    let (status, _, body) = http(fake, method, target, Some(&fake.key()), body);
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

#[test]
fn each_generation_answers_as_the_contract_says() {
    let head = Fake::start(Generation::Head);
    let legacy = Fake::start(Generation::Legacy);
    assert_eq!(json_of(&head, "GET", "/health", "").1, json!({"status": "healthy"}));
    assert_eq!(json_of(&legacy, "GET", "/health", "").1["service"], "torale-api");
    // Collection paths without their slash redirect; unknown paths and methods are refused.
    let (status, head_text, _) = http(&head, "GET", "/api/v1/tasks?state=active", None, "");
    assert_eq!(status, 307);
    assert!(
        head_text.contains("Location: http://127.0.0.1/api/v1/tasks/?state=active"),
        "{head_text}"
    );
    assert_eq!(json_of(&head, "GET", "/nowhere", ""), (404, json!({"detail": "Not Found"})));
    assert_eq!(json_of(&head, "PATCH", "/api/v1/tasks/", "").0, 405);
    // Auth: 401 at HEAD (no WWW-Authenticate), 403 on legacy /auth without a key.
    let (status, text, _) = http(&head, "GET", "/auth/me", None, "");
    assert!(status == 401 && !text.contains("WWW-Authenticate"), "{text}");
    assert_eq!(http(&legacy, "GET", "/auth/me", None, "").0, 403);
    let (status, text, _) =
        http(&legacy, "GET", "/api/v1/tasks/", Some("sk_nopeNopeNopeNopeNopeNope"), "");
    assert!(status == 401 && text.contains("WWW-Authenticate: Bearer"), "{text}");

    // Creates: FastAPI's 422 list, then HEAD's bare 500 on a duplicate name.
    let (status, body) = json_of(&head, "POST", "/api/v1/tasks/", r#"{"name": "x"}"#);
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "search_query"]));
    let (status, legacy_body) =
        json_of(&legacy, "POST", "/api/v1/tasks/", r#"{"search_query": "q"}"#);
    assert_eq!((status, legacy_body["detail"].as_array().unwrap().len()), (422, 4));
    let (status, task) =
        json_of(&head, "POST", "/api/v1/tasks/", r#"{"name": "x", "search_query": "q"}"#);
    assert_eq!(
        (status, &task["last_execution"], &task["condition_description"]),
        (200, &Value::Null, &json!("q"))
    );
    let (status, _, text) = http(
        &head,
        "POST",
        "/api/v1/tasks/",
        Some(&head.key()),
        r#"{"name": "x", "search_query": "q"}"#,
    );
    assert_eq!((status, text.as_str()), (500, "Internal Server Error"));
    assert_eq!(
        json_of(&head, "GET", "/api/v1/tasks/not-a-uuid", "").1["detail"][0]["type"],
        "uuid_parsing"
    );
    // A bad key on an optional-auth route is an anonymous caller: 404, not 401.
    let id = task["id"].as_str().unwrap();
    let target = format!("/api/v1/tasks/{id}");
    assert_eq!(http(&head, "GET", &target, Some("sk_nopeNopeNopeNopeNopeNope"), "").0, 404);
    assert_eq!(json_of(&head, "DELETE", &target, "").0, 204);
    assert_eq!(json_of(&head, "DELETE", &target, "").0, 404);
}

#[test]
fn a_run_goes_through_its_plan_on_the_same_execution() {
    let fake = Fake::start(Generation::Head);
    let id = fake.seed_task(&fake.key(), json!({"name": "plan"}));
    fake.set_run_plan(vec![
        Stage::Running,
        Stage::Retrying("Temporary connection issue. Retrying automatically.".into()),
        Stage::Running,
        Stage::Failed("gave up".into()),
    ]);
    let (_, run) = json_of(&fake, "POST", &format!("/api/v1/tasks/{id}/execute"), "");
    assert_eq!(run["status"], "pending");
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (_, runs) = json_of(&fake, "GET", &format!("/api/v1/tasks/{id}/executions"), "");
        assert_eq!((runs.as_array().unwrap().len(), &runs[0]["id"]), (1, &run["id"]));
        seen.push((runs[0]["status"].clone(), runs[0]["error_message"].clone()));
    }
    let statuses: Vec<&Value> = seen.iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, ["running", "retrying", "running", "failed", "failed", "failed"]);
    assert_eq!(seen[1].1, "Temporary connection issue. Retrying automatically.");
    assert_eq!(seen[2].1, Value::Null, "cleared when it runs again");
}

#[test]
fn fault_switches_apply_to_the_next_requests_only() {
    let fake = Fake::start(Generation::Head);
    fake.fault_on("/auth/", Fault::unavailable(), 2);
    assert_eq!(json_of(&fake, "GET", "/health", "").0, 200, "other paths are not faulted");
    assert_eq!(json_of(&fake, "GET", "/auth/me", "").0, 503);
    assert_eq!(json_of(&fake, "GET", "/auth/me", "").0, 503);
    assert_eq!(json_of(&fake, "GET", "/auth/me", "").0, 200);
    let key = fake.key();
    for (escape, shown) in [
        (Escape::Plain, key.clone()),
        (Escape::Percent, key.bytes().map(|b| format!("%{b:02X}")).collect()),
        (Escape::Unicode, key.clone()),
    ] {
        fake.fault(Fault::EchoKey { status: 401, escape }, 1);
        let (status, body) = json_of(&fake, "GET", "/auth/me", "");
        assert_eq!(
            (status, body["detail"].as_str().unwrap()),
            (401, format!("Invalid token: {shown}").as_str())
        );
    }
    fake.fault(Fault::Reset, 1);
    let mut stream = TcpStream::connect(("127.0.0.1", fake.port())).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
    assert!(stream.read_to_end(&mut Vec::new()).is_err(), "a reset, not an orderly close");
    assert_eq!(fake.requests().len(), 8, "faulted requests are recorded too");
}

#[test]
fn many_tasks_are_seeded_and_listed() {
    assert_eq!(stamp(0), "1970-01-01T00:00:00Z");
    assert_eq!(stamp(1_776_759_302_418_733), "2026-04-21T08:15:02.418733Z");
    assert_eq!(stamp(951_868_799_000_001), "2000-02-29T23:59:59.000001Z");
    // No time limit: a debug build is slow, and speed is what `make bench` measures.
    let fake = Fake::start(Generation::Head);
    assert_eq!(fake.seed_tasks(&fake.key(), 10_000).len(), 10_000);
    let (_, tasks) = json_of(&fake, "GET", "/api/v1/tasks/", "");
    assert_eq!(tasks.as_array().unwrap().len(), 10_000);
    assert_eq!(tasks[0]["name"], "Benchmark task 10000", "newest first");
    let (_, paused) = json_of(&fake, "GET", "/api/v1/tasks/?state=paused", "");
    assert_eq!(paused.as_array().unwrap().len(), 2_500);
}
