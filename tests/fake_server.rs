//! Tests of the fake Torale API itself, spoken to over raw HTTP/1.1.

#[path = "support/fake.rs"]
mod fake;

use fake::{Fake, Fault, Generation, Options, Outcome, RunPlan};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

// --- a tiny HTTP client ------------------------------------------------------------------------

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    /// The `detail` string of an error body.
    fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn connect(fake: &Fake) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", fake.port())).expect("connect to fake");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

fn parse_reply(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

fn exchange(fake: &Fake, raw: &[u8]) -> Reply {
    let mut stream = connect(fake);
    stream.write_all(raw).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    parse_reply(&out)
}

/// One request; `auth` is the whole `Authorization` value.
fn http(fake: &Fake, method: &str, target: &str, auth: Option<&str>, body: Option<&str>) -> Reply {
    let mut raw = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n",
        fake.port()
    );
    if let Some(auth) = auth {
        raw.push_str(&format!("Authorization: {auth}\r\n"));
    }
    if let Some(body) = body {
        raw.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    raw.push_str("\r\n");
    raw.push_str(body.unwrap_or(""));
    exchange(fake, raw.as_bytes())
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn get(fake: &Fake, key: &str, target: &str) -> Reply {
    http(fake, "GET", target, Some(&bearer(key)), None)
}

fn send(fake: &Fake, key: &str, method: &str, target: &str, body: Value) -> Reply {
    http(
        fake,
        method,
        target,
        Some(&bearer(key)),
        Some(&body.to_string()),
    )
}

fn create(fake: &Fake, key: &str, body: Value) -> Value {
    let reply = send(fake, key, "POST", "/api/v1/tasks/", body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn assert_plain_500(reply: &Reply) {
    assert_eq!(reply.status, 500);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(reply.text(), "Internal Server Error");
}

fn keys_of(value: &Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

/// Keys of the first object in the raw body (or in the list it holds), in wire order.
fn wire_keys(body: &str) -> Vec<String> {
    let body = body.trim_start_matches('[');
    let mut keys = Vec::new();
    let mut depth = 0;
    let mut chars = body.char_indices().peekable();
    let mut last_string = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for (_, c) in chars.by_ref() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else {
                last_string.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                last_string.clear();
            }
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ':' if depth == 1 => keys.push(last_string.clone()),
            _ => {}
        }
    }
    keys
}

// --- health, docs, routing -----------------------------------------------------------------------

#[test]
fn health_and_docs_tell_the_generations_apart() {
    let head = Fake::start(Generation::Head);
    let legacy = Fake::start(Generation::Legacy);
    let reply = http(&head, "GET", "/health", None, None);
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"status": "healthy"}))
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(reply.header("content-length"), Some("20"));
    let reply = http(&legacy, "GET", "/health", Some("Bearer junk"), None);
    assert_eq!(
        reply.json(),
        json!({"status": "healthy", "service": "torale-api"})
    );
    assert_eq!(
        reply.text(),
        r#"{"status":"healthy","service":"torale-api"}"#
    );

    head.set_healthy(false);
    let reply = http(&head, "GET", "/health", None, None);
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["status"], "degraded");

    assert_eq!(http(&head, "GET", "/docs", None, None).status, 404);
    assert_eq!(http(&head, "GET", "/openapi.json", None, None).status, 404);
    assert_eq!(
        http(&legacy, "GET", "/openapi.json", None, None).status,
        200
    );
    let noauth = Fake::start_with(Options {
        noauth: true,
        ..Options::default()
    });
    assert_eq!(http(&noauth, "GET", "/docs", None, None).status, 200);
}

#[test]
fn collection_paths_redirect_and_wrong_methods_are_refused() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    for method in ["GET", "POST", "DELETE"] {
        let reply = http(
            &fake,
            method,
            "/api/v1/tasks?state=active",
            Some(&bearer(&key)),
            None,
        );
        assert_eq!(reply.status, 307, "{method}");
        assert!(reply.body.is_empty());
        let location = format!(
            "http://127.0.0.1:{}/api/v1/tasks/?state=active",
            fake.port()
        );
        assert_eq!(reply.header("location"), Some(location.as_str()));
    }
    let reply = http(&fake, "GET", "/api/v1/templates", None, None);
    assert_eq!(reply.status, 307);
    assert!(reply
        .header("location")
        .unwrap()
        .ends_with("/api/v1/templates/"));
    let reply = http(&fake, "GET", "/auth/me/", Some(&bearer(&key)), None);
    assert_eq!(reply.status, 307);
    assert!(reply.header("location").unwrap().ends_with("/auth/me"));

    for (method, path) in [
        ("PUT", "/api/v1/tasks/"),
        ("DELETE", "/api/v1/tasks/"),
        ("POST", "/api/v1/tasks/preview"),
        ("POST", "/api/v1/tasks/suggest"),
        (
            "PATCH",
            "/api/v1/tasks/85426056-2e6c-4c21-887d-701e6fe3eee3",
        ),
    ] {
        let reply = http(&fake, method, path, Some(&bearer(&key)), Some("{}"));
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.json(), json!({"detail": "Method Not Allowed"}));
    }
    let reply = http(&fake, "GET", "/api/v2/nothing", None, None);
    assert_eq!(
        (reply.status, reply.json()),
        (404, json!({"detail": "Not Found"}))
    );

    let legacy = Fake::start(Generation::Legacy);
    let reply = get(&legacy, &legacy.key(), "/api/v1/tasks/feed");
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["detail"][0]["type"], "uuid_parsing");
    let id = legacy.seed_task(&legacy.key(), json!({}));
    let reply = send(
        &legacy,
        &legacy.key(),
        "POST",
        &format!("/api/v1/tasks/{id}/fork"),
        json!({}),
    );
    assert_eq!(
        (reply.status, reply.detail()),
        (404, "Not Found".to_string())
    );
}

// --- authentication ----------------------------------------------------------------------------

#[test]
fn head_auth_matrix() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    assert_eq!(key.len(), 46);
    assert!(key.starts_with("sk_"));
    assert!(key[3..]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    for path in ["/auth/me", "/api/v1/tasks/", "/api/v1/webhooks/config"] {
        for (auth, detail) in [
            (None, "Not authenticated"),
            (Some("Basic dXNlcjpwYXNz"), "Not authenticated"),
            (
                Some("Bearer sk_notAValidKeyAtAll0000000000000000000000000"),
                "Invalid API key",
            ),
            (
                Some("Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"),
                "Could not validate credentials",
            ),
        ] {
            let reply = http(&fake, "GET", path, auth, None);
            assert_eq!(
                (reply.status, reply.detail()),
                (401, detail.to_string()),
                "{path} {auth:?}"
            );
            assert_eq!(reply.header("www-authenticate"), None);
        }
    }
    let reply = get(&fake, &key, "/auth/me");
    assert_eq!(reply.status, 200);
    let me = reply.json();
    assert_eq!(me["email"], "user@example.com");
    assert!(me["clerk_user_id"].as_str().unwrap().starts_with("user_"));
    assert_eq!(
        wire_keys(&reply.text()),
        [
            "id",
            "clerk_user_id",
            "email",
            "first_name",
            "username",
            "is_active",
            "has_seen_welcome",
            "created_at"
        ]
    );
    // The scheme name is accepted in any case.
    assert_eq!(
        http(
            &fake,
            "GET",
            "/auth/me",
            Some(&format!("bearer {key}")),
            None
        )
        .status,
        200
    );

    fake.revoke(&key);
    let reply = get(&fake, &key, "/auth/me");
    assert_eq!(
        (reply.status, reply.detail()),
        (401, "Invalid API key".to_string())
    );
}

#[test]
fn head_optional_auth_routes_treat_bad_keys_as_anonymous() {
    let fake = Fake::start(Generation::Head);
    let owner = fake.key();
    let stranger = fake.add_user("stranger@example.com");
    let hook = json!([{"type": "webhook", "url": "https://hooks.example.com/x"}]);
    let private = fake.seed_task(&owner, json!({"name": "private"}));
    let public = fake.seed_task(
        &owner,
        json!({"name": "public", "is_public": true, "notifications": hook}),
    );

    for auth in [
        None,
        Some("Bearer sk_wrongwrongwrongwrongwrongwrongwrongwrongwro"),
        Some("Basic x"),
    ] {
        for suffix in ["", "/executions", "/notifications"] {
            let reply = http(
                &fake,
                "GET",
                &format!("/api/v1/tasks/{private}{suffix}"),
                auth,
                None,
            );
            assert_eq!(
                (reply.status, reply.detail()),
                (404, "Task not found".to_string())
            );
        }
    }
    let reply = http(&fake, "GET", &format!("/api/v1/tasks/{public}"), None, None);
    assert_eq!(reply.status, 200);
    let view = reply.json();
    assert_eq!(
        (view["notifications"].clone(), view["view_count"].clone()),
        (json!([]), json!(1))
    );
    let view = get(&fake, &stranger, &format!("/api/v1/tasks/{public}")).json();
    assert_eq!(view["view_count"], 2);
    let reply = http(
        &fake,
        "GET",
        &format!("/api/v1/tasks/{public}/executions"),
        None,
        None,
    );
    assert_eq!((reply.status, reply.json()), (200, json!([])));
    assert_eq!(
        get(&fake, &owner, &format!("/api/v1/tasks/{public}")).json()["notifications"],
        json!([{"type": "webhook", "address": null, "template": null, "url": "https://hooks.example.com/x", "method": "POST", "headers": null}])
    );

    // Someone else's task is 404 on every route, public or not, never 403.
    assert_eq!(
        get(&fake, &stranger, &format!("/api/v1/tasks/{private}")).status,
        404
    );
    for (method, path) in [("PUT", ""), ("DELETE", ""), ("POST", "/execute")] {
        let reply = send(
            &fake,
            &stranger,
            method,
            &format!("/api/v1/tasks/{public}{path}"),
            json!({"name": "mine"}),
        );
        assert_eq!(
            (reply.status, reply.detail()),
            (404, "Task not found".to_string()),
            "{method} {path}"
        );
    }
    assert_eq!(get(&fake, &stranger, "/api/v1/tasks/").json(), json!([]));
}

#[test]
fn legacy_auth_matrix() {
    let fake = Fake::start(Generation::Legacy);
    let key = fake.key();
    for (auth, status, detail) in [
        (None, 403, "Not authenticated"),
        (Some("Basic x"), 403, "Invalid authentication credentials"),
        (
            Some("Bearer sk_unknownunknownunknownunknownunknownunknow"),
            401,
            "Invalid API key",
        ),
        (
            Some("Bearer not-a-key"),
            401,
            "Could not validate credentials",
        ),
    ] {
        let reply = http(&fake, "GET", "/auth/me", auth, None);
        assert_eq!(
            (reply.status, reply.detail()),
            (status, detail.to_string()),
            "{auth:?}"
        );
        let challenge = (status == 401).then_some("Bearer");
        assert_eq!(reply.header("www-authenticate"), challenge);
    }
    let id = fake.seed_task(&key, json!({}));
    for path in [
        "/api/v1/tasks/".to_string(),
        format!("/api/v1/tasks/{id}"),
        format!("/api/v1/tasks/{id}/executions"),
    ] {
        let reply = http(&fake, "GET", &path, None, None);
        assert_eq!(
            (reply.status, reply.detail()),
            (401, "Not authenticated".to_string())
        );
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        let reply = http(
            &fake,
            "GET",
            &path,
            Some("Bearer sk_wrongwrongwrongwrongwrongwrongwrongwrongwro"),
            None,
        );
        assert_eq!(
            (reply.status, reply.detail()),
            (401, "Invalid API key".to_string())
        );
    }
    let me = get(&fake, &key, "/auth/me").json();
    assert_eq!(keys_of(&me).len(), 6);
    assert!(me.get("username").is_none() && me.get("has_seen_welcome").is_none());
}

#[test]
fn noauth_mode_per_generation() {
    let options = |generation| Options {
        generation,
        noauth: true,
        email: "dev@example.com".to_string(),
        ..Options::default()
    };
    let head = Fake::start_with(options(Generation::Head));
    let other = head.add_user("other@example.com");
    for auth in [
        None,
        Some("Bearer sk_revokedrevokedrevokedrevokedrevokedrevok".to_string()),
        Some(bearer(&other)),
    ] {
        let reply = http(&head, "GET", "/auth/me", auth.as_deref(), None);
        assert_eq!(reply.status, 200);
        let me = reply.json();
        assert_eq!(me["id"], "00000000-0000-0000-0000-000000000001");
        assert_eq!(me["clerk_user_id"], "test_user_noauth");
        assert_eq!(me["email"], "dev@example.com");
    }
    assert_eq!(
        http(
            &head,
            "POST",
            "/api/v1/tasks/",
            None,
            Some(r#"{"search_query":"q"}"#)
        )
        .status,
        200
    );

    let legacy = Fake::start_with(options(Generation::Legacy));
    assert_eq!(
        http(&legacy, "GET", "/api/v1/tasks/", None, None).status,
        200
    );
    assert_eq!(
        http(
            &legacy,
            "GET",
            "/api/v1/webhooks/config",
            Some("Bearer sk_x"),
            None
        )
        .status,
        200
    );
    assert_eq!(http(&legacy, "GET", "/auth/me", None, None).status, 403);
    assert_eq!(
        http(
            &legacy,
            "GET",
            "/auth/me",
            Some("Bearer sk_badbadbadbadbadbadbadbadbadbadbadbadbadbadb"),
            None
        )
        .status,
        401
    );
    assert_eq!(
        get(&legacy, &legacy.key(), "/auth/me").json()["id"],
        "00000000-0000-0000-0000-000000000001"
    );
    let someone = legacy.add_user("someone@example.com");
    assert_eq!(
        get(&legacy, &someone, "/auth/me").json()["email"],
        "someone@example.com"
    );
}

#[test]
fn api_keys_per_generation() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    let keys = get(&fake, &key, "/auth/api-keys").json();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["key_prefix"], format!("{}...", &key[..15]));
    assert!(keys[0]["last_used_at"].is_string());
    let reply = send(&fake, &key, "POST", "/auth/api-keys", json!({"name": "ci"}));
    assert_eq!(reply.status, 400);
    assert!(reply
        .detail()
        .starts_with("You already have an active API key."));
    assert_eq!(
        send(&fake, &key, "POST", "/auth/api-keys", json!({})).status,
        422
    );
    let other = fake.add_user("other@example.com");
    let other_id = get(&fake, &other, "/auth/api-keys").json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = http(
        &fake,
        "DELETE",
        &format!("/auth/api-keys/{other_id}"),
        Some(&bearer(&key)),
        None,
    );
    assert_eq!(
        (reply.status, reply.detail()),
        (404, "API key not found".to_string())
    );
    let own_id = keys[0]["id"].as_str().unwrap();
    let reply = http(
        &fake,
        "DELETE",
        &format!("/auth/api-keys/{own_id}"),
        Some(&bearer(&key)),
        None,
    );
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"status": "revoked"}))
    );
    assert_eq!(get(&fake, &key, "/auth/me").status, 401);

    let legacy = Fake::start(Generation::Legacy);
    let reply = send(
        &legacy,
        &legacy.key(),
        "POST",
        "/auth/api-keys",
        json!({"name": "second"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let created = reply.json();
    let new_key = created["key"].as_str().unwrap();
    assert_eq!(new_key.len(), 46);
    assert_eq!(created["key_info"]["last_used_at"], Value::Null);
    assert_eq!(
        created["key_info"]["key_prefix"].as_str().unwrap().len(),
        18
    );
    assert_eq!(get(&legacy, new_key, "/auth/me").status, 200);
    assert_eq!(
        get(&legacy, new_key, "/auth/api-keys")
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

// --- validation -----------------------------------------------------------------------------------

#[test]
fn validation_errors_have_fastapi_shapes() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    let reply = get(&fake, &key, "/api/v1/tasks/not-a-uuid");
    assert_eq!(reply.status, 422);
    let why = "invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `n` at 1";
    assert_eq!(
        reply.json(),
        json!({"detail": [{"type": "uuid_parsing", "loc": ["path", "task_id"],
                           "msg": format!("Input should be a valid UUID, {why}"),
                           "input": "not-a-uuid", "ctx": {"error": why}}]})
    );
    assert!(reply
        .text()
        .starts_with(r#"{"detail":[{"type":"uuid_parsing","loc":"#));
    let msg = get(&fake, &key, "/api/v1/tasks/1234").json()["detail"][0]["msg"].clone();
    assert_eq!(msg, "Input should be a valid UUID, invalid length: expected length 32 for simple format, found 4");

    // A body that is not JSON fails before authentication.
    let reply = http(&fake, "POST", "/api/v1/tasks/", None, Some("name=x"));
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["detail"][0]["type"], "json_invalid");
    assert_eq!(reply.json()["detail"][0]["loc"], json!(["body", 0]));

    let reply = send(&fake, &key, "POST", "/api/v1/tasks/", json!({"name": "x"}));
    assert_eq!(
        reply.json(),
        json!({"detail": [{"type": "missing", "loc": ["body", "search_query"], "msg": "Field required", "input": {"name": "x"}}]})
    );
    let reply = send(
        &fake,
        &key,
        "POST",
        "/api/v1/tasks/",
        json!({"search_query": "q", "state": "bogus"}),
    );
    assert_eq!(
        reply.json()["detail"][0],
        json!({"type": "enum", "loc": ["body", "state"], "msg": "Input should be 'active', 'paused' or 'completed'",
               "input": "bogus", "ctx": {"expected": "'active', 'paused' or 'completed'"}})
    );
    let reply = get(&fake, &key, "/api/v1/tasks/?state=running");
    assert_eq!(reply.json()["detail"][0]["loc"], json!(["query", "state"]));
    let id = fake.seed_task(&key, json!({}));
    let reply = get(
        &fake,
        &key,
        &format!("/api/v1/tasks/{id}/executions?limit=ten"),
    );
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["detail"][0]["type"], "int_parsing");
    assert_eq!(reply.json()["detail"][0]["loc"], json!(["query", "limit"]));
    assert_plain_500(&get(
        &fake,
        &key,
        &format!("/api/v1/tasks/{id}/executions?limit=-1"),
    ));
    assert_plain_500(&get(
        &fake,
        &key,
        "/api/v1/webhooks/deliveries?task_id=nope",
    ));
    assert_eq!(
        get(&fake, &key, "/api/v1/tasks/feed?limit=0").json()["detail"][0]["type"],
        "greater_than_equal"
    );
    assert_eq!(
        get(&fake, &key, "/api/v1/tasks/feed?limit=101").json()["detail"][0]["type"],
        "less_than_equal"
    );

    // Validation (422) and authentication (401) use no rate-limit quota.
    for _ in 0..12 {
        assert_eq!(
            send(&fake, &key, "POST", "/api/v1/tasks/", json!({})).status,
            422
        );
    }

    let legacy = Fake::start(Generation::Legacy);
    let reply = send(
        &legacy,
        &legacy.key(),
        "POST",
        "/api/v1/tasks/",
        json!({"search_query": "q"}),
    );
    let missing: Vec<Value> = reply.json()["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"][1].clone())
        .collect();
    assert_eq!(
        missing,
        [
            json!("name"),
            json!("schedule"),
            json!("config"),
            json!("condition_description")
        ]
    );
}

#[test]
fn notifications_are_validated_and_filled_to_six_keys() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    let cases = [
        (json!([{"type": "email"}]), "Invalid notification: Email address required"),
        (json!([{"type": "email", "address": "nobody"}]), "Invalid notification: Invalid email format: An email address must have an @-sign."),
        (json!([{"type": "webhook"}]), "Invalid notification: Webhook URL required"),
        (json!([{"type": "webhook", "url": "http://insecure.example.com"}]), "Invalid notification: Webhook URL must use HTTPS"),
        (json!([{"type": "email", "address": "a@example.com"}, {"type": "email", "address": "b@example.com"}]),
         "Multiple notifications of the same type are not supported. Please provide at most one email and one webhook notification."),
    ];
    for (notifications, detail) in cases {
        let reply = send(
            &fake,
            &key,
            "POST",
            "/api/v1/tasks/",
            json!({"search_query": "q", "notifications": notifications}),
        );
        assert_eq!((reply.status, reply.detail()), (400, detail.to_string()));
    }
    let reply = send(
        &fake,
        &key,
        "POST",
        "/api/v1/tasks/",
        json!({"search_query": "q", "notifications": [{"type": "sms"}]}),
    );
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["detail"][0]["type"], "literal_error");
    fake.reset_rate_limits();
    let task = create(
        &fake,
        &key,
        json!({"name": "n", "search_query": "q", "notifications": [
        {"type": "email", "address": "me@example.com"},
        {"type": "webhook", "url": "https://hooks.example.com/t", "headers": {"X-Token": "abc"}}]}),
    );
    assert_eq!(
        task["notifications"],
        json!([
        {"type": "email", "address": "me@example.com", "template": null, "url": null, "method": "POST", "headers": null},
        {"type": "webhook", "address": null, "template": null, "url": "https://hooks.example.com/t", "method": "POST", "headers": {"X-Token": "abc"}}])
    );
}

// --- tasks ----------------------------------------------------------------------------------------

#[test]
fn head_create_defaults_duplicates_and_rate_limit() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    let reply = send(
        &fake,
        &key,
        "POST",
        "/api/v1/tasks/",
        json!({"search_query": "When?", "is_active": false, "schedule": "x"}),
    );
    assert_eq!(reply.status, 200);
    let task = reply.json();
    assert_eq!(
        wire_keys(&reply.text()),
        [
            "name",
            "state",
            "search_query",
            "condition_description",
            "notifications",
            "attached_connector_slugs",
            "id",
            "user_id",
            "created_at",
            "updated_at",
            "state_changed_at",
            "last_known_state",
            "last_execution_id",
            "last_execution",
            "next_run",
            "immediate_execution_error",
            "context",
            "is_public",
            "view_count",
            "subscriber_count",
            "forked_from_task_id"
        ]
    );
    assert_eq!(task["name"], "New Monitor");
    assert_eq!(task["state"], "active");
    assert_eq!(task["condition_description"], "When?");
    assert_eq!(task["last_execution"], Value::Null);
    assert_eq!(task["created_at"], task["updated_at"]);
    assert_eq!(task["created_at"], task["state_changed_at"]);
    assert!(task["next_run"].as_str().unwrap() > task["created_at"].as_str().unwrap());
    assert_eq!(task["user_id"], get(&fake, &key, "/auth/me").json()["id"]);
    let id = task["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert_eq!(id, id.to_lowercase());

    // The default name collides: a bare 500 and nothing changes.
    assert_plain_500(&send(
        &fake,
        &key,
        "POST",
        "/api/v1/tasks/",
        json!({"search_query": "again"}),
    ));
    assert_eq!(fake.tasks().len(), 1);
    assert_plain_500(&send(
        &fake,
        &key,
        "POST",
        "/api/v1/tasks/",
        json!({"name": "c", "search_query": "q", "context": {"a": 1}}),
    ));

    // Ten creates a minute per token (the 500s above counted); then 429 with `error`.
    for i in 0..7 {
        create(
            &fake,
            &key,
            json!({"name": format!("t{i}"), "search_query": "q"}),
        );
    }
    let reply = send(
        &fake,
        &key,
        "POST",
        "/api/v1/tasks/",
        json!({"name": "t10", "search_query": "q"}),
    );
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.text(),
        r#"{"error":"Rate limit exceeded: 10 per 1 minute"}"#
    );
    assert_eq!(reply.header("retry-after"), None);
    // Another token has its own counter.
    let other = fake.add_user("other@example.com");
    create(&fake, &other, json!({"search_query": "q"}));

    let unlimited = Fake::start_with(Options {
        rate_limits: false,
        ..Options::default()
    });
    for i in 0..12 {
        create(
            &unlimited,
            &unlimited.key(),
            json!({"name": format!("t{i}"), "search_query": "q"}),
        );
    }
}

#[test]
fn head_active_cap_and_run_immediately() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    for i in 0..50 {
        fake.seed_task(&key, json!({"name": format!("seed {i}")}));
    }
    let reply = send(
        &fake,
        &key,
        "POST",
        "/api/v1/tasks/",
        json!({"search_query": "q"}),
    );
    assert_eq!(
        (reply.status, reply.detail()),
        (
            429,
            "Maximum of 50 active tasks reached. Complete or pause existing tasks first."
                .to_string()
        )
    );
    let paused = create(
        &fake,
        &key,
        json!({"name": "p", "search_query": "q", "state": "paused", "run_immediately": true}),
    );
    assert_eq!(paused["state"], "paused");
    let id = paused["id"].as_str().unwrap();
    let runs = fake.executions(id);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "pending");
    // PUT to active is not capped.
    assert_eq!(
        send(
            &fake,
            &key,
            "PUT",
            &format!("/api/v1/tasks/{id}"),
            json!({"state": "active"})
        )
        .status,
        200
    );
    let active = get(&fake, &key, "/api/v1/tasks/?state=active").json();
    assert_eq!(active.as_array().unwrap().len(), 51);
    assert_eq!(active[0]["id"], id, "newest first");
}

#[test]
fn head_state_machine_with_rollback() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    let task = create(&fake, &key, json!({"name": "sm", "search_query": "q"}));
    let path = format!("/api/v1/tasks/{}", task["id"].as_str().unwrap());
    let put = |body: Value| send(&fake, &key, "PUT", &path, body);

    let paused = put(json!({"state": "paused"})).json();
    assert_eq!(paused["state"], "paused");
    assert_ne!(paused["state_changed_at"], task["state_changed_at"]);
    let again = put(json!({"state": "paused"})).json();
    assert_eq!(
        again["state_changed_at"], paused["state_changed_at"],
        "a no-op keeps state_changed_at"
    );

    let reply = put(json!({"state": "completed", "name": "renamed", "search_query": "changed"}));
    assert_eq!(
        (reply.status, reply.detail()),
        (
            400,
            "Invalid state transition: Cannot transition from paused to completed".to_string()
        )
    );
    let now = get(&fake, &key, &path).json();
    assert_eq!(
        (
            now["name"].clone(),
            now["search_query"].clone(),
            now["state"].clone()
        ),
        (json!("sm"), json!("q"), json!("paused"))
    );

    let active = put(json!({"state": "active"})).json();
    assert_eq!(active["state"], "active");
    assert!(active["next_run"].as_str().unwrap() > active["state_changed_at"].as_str().unwrap());
    assert_eq!(
        put(json!({"state": "completed"})).json()["state"],
        "completed"
    );
    assert_eq!(
        put(json!({"state": "paused"})).detail(),
        "Invalid state transition: Cannot transition from completed to paused"
    );
    assert_eq!(put(json!({"state": "active"})).status, 200);

    // Partial update, the null and rename defects, and `{}`.
    let updated = put(json!({"condition_description": "new condition", "is_active": false})).json();
    assert_eq!(
        (
            updated["condition_description"].clone(),
            updated["state"].clone()
        ),
        (json!("new condition"), json!("active"))
    );
    assert_plain_500(&put(json!({"name": null})));
    assert_plain_500(&put(json!({"state": null})));
    create(&fake, &key, json!({"name": "taken", "search_query": "q"}));
    assert_plain_500(&put(json!({"name": "taken"})));
    assert_eq!(
        put(json!({"name": "sm"})).status,
        200,
        "keeping its own name is fine"
    );
    assert_eq!(put(json!({"state": "bogus"})).status, 422);
    assert_eq!(put(json!({})).json()["last_execution"], Value::Null);
}

#[test]
fn delete_is_204_then_404() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    let id = fake.seed_task(&key, json!({}));
    send(
        &fake,
        &key,
        "POST",
        &format!("/api/v1/tasks/{id}/execute"),
        json!({}),
    );
    let reply = http(
        &fake,
        "DELETE",
        &format!("/api/v1/tasks/{id}"),
        Some(&bearer(&key)),
        None,
    );
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("content-type"), None);
    assert!(fake.executions(&id).is_empty());
    let reply = http(
        &fake,
        "DELETE",
        &format!("/api/v1/tasks/{id}"),
        Some(&bearer(&key)),
        None,
    );
    assert_eq!(
        (reply.status, reply.detail()),
        (404, "Task not found".to_string())
    );
}

#[test]
fn head_execution_lifecycle() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    let task = create(
        &fake,
        &key,
        json!({"name": "run", "search_query": "q",
        "notifications": [{"type": "webhook", "url": "https://hooks.example.com/t"}]}),
    );
    let id = task["id"].as_str().unwrap();
    let runs = format!("/api/v1/tasks/{id}/executions");

    let reply = http(
        &fake,
        "POST",
        &format!("/api/v1/tasks/{id}/execute"),
        Some(&bearer(&key)),
        None,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        wire_keys(&reply.text()),
        [
            "task_id",
            "status",
            "result",
            "error_message",
            "notification",
            "grounding_sources",
            "id",
            "started_at",
            "completed_at",
            "created_at"
        ]
    );
    let pending = reply.json();
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["started_at"], pending["created_at"]);
    assert_eq!(pending["completed_at"], Value::Null);

    assert_eq!(get(&fake, &key, &runs).json()[0]["status"], "running");
    let done = get(&fake, &key, &runs).json()[0].clone();
    assert_eq!(done["status"], "success");
    assert!(done["notification"].is_string());
    assert!(done["completed_at"].is_string());
    assert_eq!(
        done["result"]["metadata"],
        json!({"changed": true, "current_state": null})
    );
    assert_eq!(
        done["grounding_sources"][0]["url"],
        "https://example.com/news"
    );
    let task = get(&fake, &key, &format!("/api/v1/tasks/{id}")).json();
    assert_eq!(task["last_execution_id"], done["id"]);
    assert_eq!(task["last_execution"], done);
    assert!(task["last_known_state"]["evidence"].is_string());
    assert_eq!(
        get(&fake, &key, "/api/v1/tasks/").json()[0]["last_execution"]["id"],
        done["id"]
    );
    assert_eq!(
        get(&fake, &key, &format!("/api/v1/tasks/{id}/notifications"))
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let feed = get(&fake, &key, "/api/v1/tasks/feed").json();
    assert_eq!(
        (feed[0]["task_name"].clone(), feed[0]["id"].clone()),
        (json!("run"), done["id"].clone())
    );
    let deliveries = get(
        &fake,
        &key,
        &format!("/api/v1/webhooks/deliveries?task_id={id}"),
    )
    .json();
    assert_eq!(deliveries[0]["webhook_url"], "https://hooks.example.com/t");

    // A manual execute cancels earlier unfinished runs.
    fake.set_run_plan(RunPlan {
        polls_per_step: 2,
        outcome: Outcome::Failed("Search failed".into()),
    });
    let first = send(
        &fake,
        &key,
        "POST",
        &format!("/api/v1/tasks/{id}/execute"),
        json!({}),
    )
    .json();
    let second = send(
        &fake,
        &key,
        "POST",
        &format!("/api/v1/tasks/{id}/execute"),
        json!({}),
    )
    .json();
    let list = get(&fake, &key, &runs).json();
    assert_eq!(list[0]["id"], second["id"], "newest first");
    assert_eq!(list[0]["status"], "pending", "two polls per step");
    assert_eq!(list[1]["id"], first["id"]);
    assert_eq!(list[1]["status"], "cancelled");
    assert_eq!(
        list[1]["error_message"],
        "Execution cancelled by manual force run"
    );
    assert!(list[1]["completed_at"].is_string());
    for expected in ["running", "running", "failed"] {
        assert_eq!(get(&fake, &key, &runs).json()[0]["status"], expected);
    }
    let failed = get(&fake, &key, &format!("{runs}?limit=1")).json();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["error_message"], "Search failed");
    let task = get(&fake, &key, &format!("/api/v1/tasks/{id}")).json();
    assert_eq!(
        task["last_execution_id"], done["id"],
        "failed runs leave last_execution alone"
    );

    fake.set_run_plan(RunPlan {
        polls_per_step: 1,
        outcome: Outcome::Stuck,
    });
    send(
        &fake,
        &key,
        "POST",
        &format!("/api/v1/tasks/{id}/execute"),
        json!({}),
    );
    for _ in 0..5 {
        assert_eq!(get(&fake, &key, &runs).json()[0]["status"], "pending");
    }
    fake.set_run_plan(RunPlan {
        polls_per_step: 1,
        outcome: Outcome::Cancelled,
    });
    send(
        &fake,
        &key,
        "POST",
        &format!("/api/v1/tasks/{id}/execute"),
        json!({}),
    );
    get(&fake, &key, &runs);
    assert_eq!(get(&fake, &key, &runs).json()[0]["status"], "cancelled");
}

#[test]
fn head_fork_and_visibility() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    let other = fake.add_user("other@example.com");
    let source = fake.seed_task(&key, json!({"name": "src", "notifications": [{"type": "email", "address": "a@b.co", "template": null, "url": null, "method": "POST", "headers": null}]}));
    let reply = send(
        &fake,
        &key,
        "PATCH",
        &format!("/api/v1/tasks/{source}/visibility"),
        json!({"is_public": true}),
    );
    assert_eq!(reply.json(), json!({"is_public": true}));
    assert_eq!(
        send(
            &fake,
            &key,
            "PATCH",
            &format!("/api/v1/tasks/{source}/visibility"),
            json!({})
        )
        .status,
        422
    );
    assert_eq!(
        http(
            &fake,
            "POST",
            &format!("/api/v1/tasks/{source}/fork"),
            Some(&bearer(&key)),
            None
        )
        .status,
        422
    );

    let fork = |who: &str, body: Value| {
        send(
            &fake,
            who,
            "POST",
            &format!("/api/v1/tasks/{source}/fork"),
            body,
        )
    };
    let copy = fork(&key, json!({})).json();
    assert_eq!(
        (copy["name"].clone(), copy["state"].clone()),
        (json!("src (Copy)"), json!("paused"))
    );
    assert_eq!(copy["forked_from_task_id"], source);
    assert_eq!(copy["notifications"].as_array().unwrap().len(), 1);
    assert_eq!(
        fork(&key, json!({"name": null})).json()["name"],
        "src (Copy 2)"
    );
    assert_eq!(fork(&key, json!({})).json()["name"], "src (Copy 3)");
    let reply = fork(&key, json!({}));
    assert_eq!(reply.status, 409);
    assert!(reply
        .detail()
        .starts_with("Failed to generate unique task name"));

    let theirs = fork(&other, json!({"name": "mine"})).json();
    assert_eq!(theirs["notifications"], json!([]));
    assert_eq!(
        get(&fake, &key, &format!("/api/v1/tasks/{source}")).json()["subscriber_count"],
        1
    );
    send(
        &fake,
        &key,
        "PATCH",
        &format!("/api/v1/tasks/{source}/visibility"),
        json!({"is_public": false}),
    );
    assert_eq!(fork(&other, json!({"name": "again"})).status, 404);
}

// --- legacy -----------------------------------------------------------------------------------------

#[test]
fn legacy_tasks_and_the_inactive_schedule_defect() {
    let fake = Fake::start(Generation::Legacy);
    let key = fake.key();
    let body = |name: &str, active: bool| {
        json!({"name": name, "schedule": "0 9 * * *", "config": {}, "search_query": "q",
               "condition_description": "c", "is_active": active, "state": "completed"})
    };
    let reply = send(&fake, &key, "POST", "/api/v1/tasks/", body("dup", true));
    assert_eq!(reply.status, 200);
    assert_eq!(
        wire_keys(&reply.text()),
        [
            "name",
            "schedule",
            "executor_type",
            "config",
            "is_active",
            "search_query",
            "condition_description",
            "notify_behavior",
            "notifications",
            "id",
            "user_id",
            "created_at",
            "updated_at",
            "condition_met",
            "last_known_state",
            "last_notified_at"
        ]
    );
    let active = reply.json();
    assert_eq!(active["notify_behavior"], "once");
    assert_eq!(
        create(&fake, &key, body("dup", true))["name"],
        "dup",
        "duplicate names are allowed"
    );
    let inactive = create(&fake, &key, body("off", false));
    assert_eq!(inactive["is_active"], false);

    let list = |q: &str| {
        get(&fake, &key, &format!("/api/v1/tasks/{q}"))
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        (
            list(""),
            list("?is_active=true"),
            list("?is_active=false"),
            list("?state=paused")
        ),
        (3, 2, 1, 3)
    );

    let off = format!("/api/v1/tasks/{}", inactive["id"].as_str().unwrap());
    let reply = send(
        &fake,
        &key,
        "PUT",
        &off,
        json!({"is_active": true, "name": "on"}),
    );
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.detail(),
        format!(
            "Failed to unpause schedule: workflow not found for ID: {}. Task update rolled back.",
            inactive["id"].as_str().unwrap()
        )
    );
    assert_eq!(get(&fake, &key, &off).json()["name"], "off");
    let reply = http(&fake, "DELETE", &off, Some(&bearer(&key)), None);
    assert_eq!(reply.status, 500);
    assert!(reply
        .detail()
        .starts_with("Failed to delete Temporal schedule: "));
    assert!(reply
        .detail()
        .ends_with("Task not deleted to prevent orphaned schedule."));

    let on = format!("/api/v1/tasks/{}", active["id"].as_str().unwrap());
    assert_eq!(
        send(&fake, &key, "PUT", &on, json!({"is_active": false})).json()["is_active"],
        false
    );
    assert_eq!(
        send(&fake, &key, "PUT", &on, json!({"is_active": true})).json()["is_active"],
        true
    );
    assert_eq!(
        http(&fake, "DELETE", &on, Some(&bearer(&key)), None).status,
        204
    );

    let seeded = fake.seed_task(&key, json!({"is_active": false}));
    assert_eq!(
        send(
            &fake,
            &key,
            "PUT",
            &format!("/api/v1/tasks/{seeded}"),
            json!({"is_active": true})
        )
        .status,
        200
    );
    let broken = fake.seed_task(&key, json!({"is_active": false, "_scheduled": false}));
    assert_eq!(
        send(
            &fake,
            &key,
            "PUT",
            &format!("/api/v1/tasks/{broken}"),
            json!({"is_active": true})
        )
        .status,
        500
    );
}

#[test]
fn legacy_executions_use_condition_met() {
    let fake = Fake::start(Generation::Legacy);
    let key = fake.key();
    let id = fake.seed_task(&key, json!({"name": "watch"}));
    let first = send(
        &fake,
        &key,
        "POST",
        &format!("/api/v1/tasks/{id}/execute"),
        json!({}),
    )
    .json();
    let second = send(
        &fake,
        &key,
        "POST",
        &format!("/api/v1/tasks/{id}/execute"),
        json!({}),
    )
    .json();
    assert!(first.get("notification").is_none());
    assert_eq!(first["condition_met"], Value::Null);
    let runs = format!("/api/v1/tasks/{id}/executions");
    let list = get(&fake, &key, &runs).json();
    assert_eq!(
        (list[0]["id"].clone(), list[0]["status"].clone()),
        (second["id"].clone(), json!("running"))
    );
    assert_eq!(list[1]["status"], "running", "legacy runs overlap");
    let reply = get(&fake, &key, &runs);
    let done = reply.json()[0].clone();
    assert_eq!(done["status"], "success");
    assert_eq!(done["condition_met"], true);
    assert_eq!(done["result"]["success"], true);
    assert_eq!(
        wire_keys(&reply.text()),
        [
            "task_id",
            "status",
            "result",
            "error_message",
            "condition_met",
            "change_summary",
            "grounding_sources",
            "id",
            "started_at",
            "completed_at",
            "created_at"
        ]
    );
    let task = get(&fake, &key, &format!("/api/v1/tasks/{id}")).json();
    assert_eq!(
        (task["is_active"].clone(), task["condition_met"].clone()),
        (json!(false), json!(true)),
        "notify once deactivates"
    );
    assert_eq!(
        get(&fake, &key, &format!("/api/v1/tasks/{id}/notifications"))
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

// --- templates and webhooks ---------------------------------------------------------------------

#[test]
fn templates_and_webhooks() {
    let head = Fake::start(Generation::Head);
    let key = head.key();
    let templates = http(
        &head,
        "GET",
        "/api/v1/templates/",
        Some("Bearer nonsense"),
        None,
    )
    .json();
    let categories: Vec<&str> = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["category"].as_str().unwrap())
        .collect();
    assert_eq!(
        categories,
        ["Events", "Product Launches", "Product Launches"]
    );
    assert!(templates[0].get("schedule").is_none());
    let one = http(
        &head,
        "GET",
        "/api/v1/templates/?category=Events",
        None,
        None,
    )
    .json();
    assert_eq!(one.as_array().unwrap().len(), 1);
    let id = one[0]["id"].as_str().unwrap();
    assert_eq!(
        http(&head, "GET", &format!("/api/v1/templates/{id}"), None, None).json()["name"],
        one[0]["name"]
    );
    let reply = http(
        &head,
        "GET",
        "/api/v1/templates/85426056-2e6c-4c21-887d-701e6fe3eee3",
        None,
        None,
    );
    assert_eq!(
        (reply.status, reply.detail()),
        (404, "Template not found".to_string())
    );
    let legacy = Fake::start(Generation::Legacy);
    let templates = http(&legacy, "GET", "/api/v1/templates/", None, None).json();
    assert_eq!(templates[0]["config"], json!({"model": "gemini-2.5-flash"}));

    assert_eq!(
        get(&head, &key, "/api/v1/webhooks/config").json(),
        json!({"url": null, "secret": null, "enabled": false})
    );
    let set = send(
        &head,
        &key,
        "PUT",
        "/api/v1/webhooks/config",
        json!({"webhook_url": "https://example.com", "enabled": true}),
    )
    .json();
    assert_eq!(set["url"], "https://example.com/");
    assert_eq!(set["secret"].as_str().unwrap().len(), 43);
    assert_eq!(
        send(
            &head,
            &key,
            "PUT",
            "/api/v1/webhooks/config",
            json!({"webhook_url": "not a url"})
        )
        .status,
        422
    );
    let test = json!({"webhook_url": "https://example.com/hook", "webhook_secret": "s"});
    for _ in 0..5 {
        assert_eq!(
            send(&head, &key, "POST", "/api/v1/webhooks/test", test.clone()).json()["success"],
            true
        );
    }
    assert_eq!(
        send(&head, &key, "POST", "/api/v1/webhooks/test", test).status,
        429
    );

    let lkey = legacy.key();
    assert_eq!(
        get(&legacy, &lkey, "/api/v1/webhooks/config").json(),
        json!({"webhook_url": null, "enabled": false})
    );
    let set = send(
        &legacy,
        &lkey,
        "PUT",
        "/api/v1/webhooks/config",
        json!({"webhook_url": "https://example.com/h", "enabled": true}),
    )
    .json();
    assert_eq!(set["success"], true);
    assert!(set["webhook_secret"].is_string());
}

// --- faults ---------------------------------------------------------------------------------------

#[test]
fn respond_faults_are_queued_counted_and_recorded() {
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    fake.fault(Fault::unavailable(), 2);
    fake.fault(Fault::bad_gateway(), 1);
    let statuses: Vec<u16> = (0..4)
        .map(|_| get(&fake, &key, "/auth/me").status)
        .collect();
    assert_eq!(statuses, [503, 503, 502, 200]);
    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/auth/me");
    assert_eq!(
        requests[0].header("Authorization"),
        Some(bearer(&key).as_str())
    );

    fake.clear_requests();
    fake.fault_on("/api/v1/tasks", Fault::rate_limited(), usize::MAX);
    for _ in 0..3 {
        let reply = get(&fake, &key, "/api/v1/tasks/?state=active");
        assert_eq!(
            reply.json(),
            json!({"error": "Rate limit exceeded: 10 per 1 minute"})
        );
        assert_eq!(reply.header("retry-after"), None);
    }
    assert_eq!(get(&fake, &key, "/auth/me").status, 200);
    let requests = fake.requests();
    assert_eq!(
        (requests.len(), requests[0].query.as_str()),
        (4, "state=active")
    );
    fake.clear_faults();
    assert_eq!(get(&fake, &key, "/api/v1/tasks/").status, 200);

    fake.fault(Fault::retry_after(503, "2"), 1);
    assert_eq!(get(&fake, &key, "/health").header("retry-after"), Some("2"));
    fake.fault(Fault::garbage(), 1);
    assert_eq!(get(&fake, &key, "/health").text(), "<<<this is not json>>>");
    fake.fault(
        Fault::Redirect {
            status: 307,
            location: "https://elsewhere.example/api".into(),
        },
        1,
    );
    let reply = get(&fake, &key, "/auth/me");
    assert_eq!(
        (reply.status, reply.header("location")),
        (307, Some("https://elsewhere.example/api"))
    );
    assert!(reply.body.is_empty());
    fake.fault(Fault::Truncated, 1);
    let reply = get(&fake, &key, "/api/v1/tasks/");
    assert_eq!(
        reply.header("content-length").unwrap(),
        reply.body.len().to_string()
    );
    assert!(reply.body.starts_with(b"[{"));
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());

    // The request body is recorded too.
    let reply = send(
        &fake,
        &key,
        "POST",
        "/api/v1/tasks/",
        json!({"name": "rec", "search_query": "q"}),
    );
    assert_eq!(reply.status, 200);
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.json()["name"], "rec");
    assert_eq!(last.header("content-type"), Some("application/json"));
}

#[test]
fn delay_hang_and_drop() {
    let fake = Fake::start(Generation::Head);
    fake.fault(Fault::Delay(Duration::from_millis(200)), 1);
    let started = Instant::now();
    assert_eq!(http(&fake, "GET", "/health", None, None).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));

    fake.fault(Fault::Hang, 1);
    let mut stream = connect(&fake);
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let err = stream
        .read(&mut buf)
        .expect_err("a hung request gets no answer");
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    assert_eq!(fake.requests().len(), 2, "the hung request is recorded");

    let started = Instant::now();
    drop(fake);
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let n = stream.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "dropping the fake releases the connection");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn reset_trickle_and_huge() {
    let fake = Fake::start(Generation::Head);
    fake.fault(Fault::Reset, 1);
    let mut stream = connect(&fake);
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        Ok(_) if cfg!(target_os = "linux") => panic!("expected a reset, got {out:?}"),
        Ok(_) => assert!(out.is_empty(), "no response after a reset"),
    }

    fake.fault(Fault::Trickle(Duration::from_millis(50)), 1);
    let mut stream = connect(&fake);
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_millis(400) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let reply = parse_reply(&got);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-length"), Some("1000000"));
    assert!(
        !reply.body.is_empty() && reply.body.len() < 20,
        "{} bytes",
        reply.body.len()
    );
    drop(stream);

    let size = 1u64 << 40;
    fake.fault(Fault::Huge(size), 1);
    let mut stream = connect(&fake);
    stream
        .write_all(b"GET /api/v1/tasks/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 4 << 20 {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let reply = parse_reply(&got);
    assert_eq!(
        reply.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(reply.body[0], b'[');
    drop(stream);
    // The fake carries on after the client leaves.
    assert_eq!(http(&fake, "GET", "/health", None, None).status, 200);
}

#[test]
fn ureq_reads_every_kind_of_answer() {
    let fake = Fake::start(Generation::Head);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let auth = bearer(&fake.key());
    let mut reply = agent
        .get(format!("{}/auth/me", fake.url()))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert!(reply
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("user@example.com"));
    let mut reply = agent.get(format!("{}/auth/me", fake.url())).call().unwrap();
    assert_eq!(reply.status().as_u16(), 401);
    assert_eq!(
        reply.body_mut().read_to_string().unwrap(),
        r#"{"detail":"Not authenticated"}"#
    );
    let reply = agent
        .get(format!("{}/api/v1/tasks", fake.url()))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(reply.status().as_u16(), 307);
    let id = fake.seed_task(&fake.key(), json!({}));
    let mut reply = agent
        .delete(format!("{}/api/v1/tasks/{id}", fake.url()))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(reply.status().as_u16(), 204);
    assert_eq!(reply.body_mut().read_to_string().unwrap(), "");
    let mut reply = agent
        .post(format!("{}/api/v1/tasks/", fake.url()))
        .header("Authorization", &auth)
        .send_json(json!({"name": "via ureq", "search_query": "q"}))
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert_eq!(
        reply.body_mut().read_json::<Value>().unwrap()["name"],
        "via ureq"
    );
    fake.fault(Fault::Huge(1 << 40), 1);
    let mut reply = agent.get(format!("{}/health", fake.url())).call().unwrap();
    assert!(reply
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .is_err());
}

// --- HTTP parsing ----------------------------------------------------------------------------------

#[test]
fn malformed_requests_get_400_and_chunked_bodies_work() {
    let fake = Fake::start(Generation::Head);
    for raw in [
        &b"NONSENSE\r\n\r\n"[..],
        b"GET /health\r\n\r\n",
        b"GET /health HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /health HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
        b"GET health HTTP/1.1\r\n\r\n",
        b"\xff\xfe GET / HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(
            exchange(&fake, raw).status,
            400,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    // Closing without a request is harmless.
    drop(connect(&fake));

    let key = fake.key();
    let body = r#"{"name":"chunky","search_query":"q"}"#;
    let (a, b) = body.split_at(10);
    let raw = format!(
        "POST /api/v1/tasks/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let reply = exchange(&fake, raw.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["name"], "chunky");
    // A text/plain body is not parsed as JSON.
    let raw = format!(
        "POST /api/v1/tasks/ HTTP/1.1\r\nAuthorization: Bearer {key}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let reply = exchange(&fake, raw.as_bytes());
    assert_eq!(reply.json()["detail"][0]["type"], "model_attributes_type");
}

#[test]
fn timestamps_and_bulk_seeding() {
    assert_eq!(fake::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(
        fake::rfc3339(1_776_759_302_418_733),
        "2026-04-21T08:15:02.418733Z"
    );
    assert_eq!(
        fake::rfc3339(951_868_799_000_001),
        "2000-02-29T23:59:59.000001Z"
    );
    assert_eq!(fake::rfc3339(-1_000_000), "1969-12-31T23:59:59Z");

    let fake = Fake::start_with(Options {
        key: Some("sk_fixedfixedfixedfixedfixedfixedfixedfixedfix".to_string()),
        email: "bench@example.com".to_string(),
        ..Options::default()
    });
    assert_eq!(fake.key(), "sk_fixedfixedfixedfixedfixedfixedfixedfixedfix");
    assert_eq!(fake.email(), "bench@example.com");
    let started = Instant::now();
    let ids = fake.seed_tasks(&fake.key(), 10_000);
    assert_eq!(ids.len(), 10_000);
    let reply = get(&fake, &fake.key(), "/api/v1/tasks/");
    let elapsed = started.elapsed();
    let tasks = reply.json();
    assert_eq!(tasks.as_array().unwrap().len(), 10_000);
    assert!(
        elapsed < Duration::from_secs(3),
        "seeding and listing 10,000 tasks took {elapsed:?}"
    );
    let created = tasks[0]["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() >= 20 && &created[10..11] == "T");
    let paused = get(&fake, &fake.key(), "/api/v1/tasks/?state=paused").json();
    assert_eq!(paused.as_array().unwrap().len(), 2_500);
}
