//! `torale api`: raw requests to any endpoint with the configured key and URL.

mod support;

use serde_json::json;
use support::fake::{Fake, Generation};
use support::Sandbox;

#[test]
fn get_post_patch_with_fields_and_input() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let id = fake.seed_task(&fake.key(), json!({"name": "share me"}));
    let api = |args: &[&str]| {
        let mut all = vec!["api"];
        all.extend_from_slice(args);
        sandbox.torale(&all).server(&fake).run()
    };

    // GET: the server's document, with the key sent.
    let run = api(&["/api/v1/tasks/feed"]);
    run.ok().stdout_is("[]\n");
    let request = fake.requests().pop().unwrap();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/api/v1/tasks/feed")
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {}", fake.key()).as_str())
    );

    // PATCH with a typed field.
    let run = api(&[
        "-X",
        "PATCH",
        &format!("api/v1/tasks/{id}/visibility"),
        "-F",
        "is_public=true",
    ]);
    assert_eq!(run.ok().json(), json!({"is_public": true}));
    let request = fake.requests().pop().unwrap();
    assert_eq!(request.method, "PATCH");
    assert_eq!(request.json(), json!({"is_public": true}));

    // Fields make it a POST; -f keeps strings as strings.
    let run = api(&[&format!("/api/v1/tasks/{id}/fork"), "-f", "name=My copy"]);
    assert_eq!(run.ok().json()["name"], "My copy");
    let request = fake.requests().pop().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.json(), json!({"name": "My copy"}));

    // With -X GET, fields go into the query string.
    api(&["-X", "GET", "/api/v1/webhooks/deliveries", "-f", "limit=5"]).ok();
    assert_eq!(fake.requests().pop().unwrap().query, "limit=5");

    // --input sends a file as the body.
    let body = sandbox.root.join("webhook.json");
    std::fs::write(
        &body,
        r#"{"webhook_url": "https://hooks.example.com/t", "enabled": true}"#,
    )
    .unwrap();
    let run = api(&[
        "-X",
        "PUT",
        "/api/v1/webhooks/config",
        "--input",
        body.to_str().unwrap(),
    ]);
    assert_eq!(run.ok().json()["url"], "https://hooks.example.com/t");

    // --field works on any JSON result.
    api(&["/auth/me", "--field", "email"])
        .ok()
        .stdout_is("user@example.com\n");
}

#[test]
fn include_prints_status_and_headers() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let run = sandbox
        .torale(&["api", "-i", "/health"])
        .server(&fake)
        .run();
    run.ok()
        .stdout_has("HTTP/1.1 200\n")
        .stdout_has("content-type: application/json\n")
        .stdout_has("\n\n{\"status\":\"healthy\"}\n");
}

#[test]
fn errors_exit_with_the_status_code_and_stay_on_their_origin() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    sandbox
        .torale(&["api", "/api/v1/tasks/00000000-0000-4000-8000-000000000000"])
        .server(&fake)
        .run()
        .code(5)
        .no_stdout()
        .stderr_has("Error: Task not found");
    sandbox
        .torale(&["api", "-X", "POST", "/api/v1/tasks/", "-f", "name=x"])
        .server(&fake)
        .run()
        .code(6)
        .stderr_has("search_query: Field required");
    sandbox
        .torale(&["api", "https://elsewhere.example/api"])
        .server(&fake)
        .run()
        .code(2)
        .stderr_has("is a URL: give a path");
    sandbox
        .torale(&["api", "-X", "TRACE", "/health"])
        .server(&fake)
        .run()
        .code(2)
        .stderr_has("Invalid value 'TRACE' for '--method'");
    sandbox
        .torale(&["api", "/health", "-f", "novalue"])
        .server(&fake)
        .run()
        .code(2)
        .stderr_has("Invalid field 'novalue'");
    assert_eq!(fake.requests().len(), 2);
}
