//! `torale api`: raw requests to any endpoint with the configured key and URL.

use serde_json::json;

use crate::support::fake::Fault;
use crate::support::World;

#[test]
fn get_post_put_with_fields_and_input() {
    let w = World::new();
    let id = w.task(json!({"name": "raw"}));
    let api = |args: &[&str]| w.run(&[&["api"][..], args].concat());

    // GET: the server's document, with the key sent.
    let listed = api(&["/api/v1/tasks/"]).ok().json();
    assert_eq!(listed[0]["id"], id.as_str());
    let request = w.fake.take_requests().pop().unwrap();
    assert_eq!(request.line(), "GET /api/v1/tasks/");
    let bearer = format!("Bearer {}", w.fake.key());
    assert_eq!(request.header("authorization"), Some(bearer.as_str()));

    // PUT with string fields, on a path without its leading slash.
    let path = format!("api/v1/tasks/{id}");
    let run = api(&["-X", "PUT", &path, "-f", "state=paused", "-f", "name=Renamed"]);
    assert_eq!(run.ok().json()["state"], "paused");
    let request = w.fake.take_requests().pop().unwrap();
    assert_eq!(request.method, "PUT");
    assert_eq!(request.json(), json!({"state": "paused", "name": "Renamed"}));

    // Fields make it a POST; -f keeps strings as strings, -F types its values.
    let created = api(&["/api/v1/tasks/", "-f", "search_query=42", "-F", "run_immediately=true"]);
    assert_eq!(created.ok().json()["search_query"], "42");
    let request = w.fake.take_requests().pop().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.json(), json!({"search_query": "42", "run_immediately": true}));
    let new_id = created.json()["id"].as_str().unwrap().to_string();
    assert_eq!(w.fake.executions(&new_id).len(), 1, "run immediately");

    // With -X GET, fields go into the query string.
    api(&["-X", "GET", "/api/v1/templates/", "-f", "category=Events"]).ok();
    assert_eq!(w.fake.take_requests().pop().unwrap().query, "category=Events");

    // --input sends a file as the body.
    let body = w.root.join("update.json");
    std::fs::write(&body, r#"{"condition_description": "From a file"}"#).unwrap();
    let run =
        api(&["-X", "PUT", &format!("/api/v1/tasks/{id}"), "--input", body.to_str().unwrap()]);
    assert_eq!(run.ok().json()["condition_description"], "From a file");

    // --field works on any JSON result.
    api(&["/auth/me", "--field", "email"]).ok().stdout_is("user@example.com\n");
}

#[test]
fn the_answer_is_passed_on_as_sent_and_errors_exit_by_their_status() {
    let w = World::new();
    w.run(&["api", "-i", "/health"])
        .ok()
        .stdout_has("HTTP/1.1 200\n")
        .stdout_has("content-type: application/json\n")
        .stdout_has("\n\n{\"status\":\"healthy\"}\n");
    // A success body that is not JSON, or not even text, is piped as it came.
    for body in [&b"plain text, not JSON\n"[..], b"\xff\xfe not UTF-8 \x00"] {
        w.fake.fault(Fault::status(200, "text/plain", body), 1);
        let run = w.run(&["api", "/health"]);
        run.ok();
        assert_eq!(run.out, body, "{run:?}");
    }
    w.run(&["api", "/api/v1/tasks/00000000-0000-4000-8000-000000000000"])
        .code(5)
        .no_stdout()
        .stderr_has("Error: Task not found");
    w.run(&["api", "-X", "POST", "/api/v1/tasks/", "-f", "name=x"])
        .code(6)
        .stderr_has("search_query: Field required");
}
