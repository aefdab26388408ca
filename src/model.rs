//! The API's types as the CLI reads them. Both server generations decode: every field either
//! generation may leave out is optional, and unknown fields are ignored.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{sanitize, Error, Kind, Result};

/// A JSON document exactly as the server sent it, checked to be valid. `--json` prints it
/// as it is (the server's field order and values); commands decode the parts they need.
#[derive(Debug)]
pub struct Json(String);

impl Json {
    /// Check that `text` is one valid JSON document.
    pub fn parse(mut text: String) -> std::result::Result<Json, serde_json::Error> {
        if !in_parts(&mut text) {
            serde_json::from_str::<IgnoredAny>(&text)?;
        }
        Ok(Json(text))
    }

    pub fn null() -> Json {
        Json("null".into())
    }

    /// One element of a larger document, as its own document.
    pub fn from_raw(raw: &RawValue) -> Json {
        Json(raw.get().to_string())
    }

    pub fn text(&self) -> &str {
        &self.0
    }

    pub fn into_text(self) -> String {
        self.0
    }

    /// Decode into a typed value; a shape that does not fit is a malformed response.
    pub fn decode<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        decode_text(&self.0, what)
    }

    /// The elements of a JSON array, each as the server wrote it.
    pub fn items(&self, what: &str) -> Result<Vec<&RawValue>> {
        decode_text(&self.0, what)
    }
}

/// Whether `text`, an array over 1 MiB, checks out in three parts at once: the elements up to
/// the first `},{` past its middle, closed by a `]` over that comma; the next element; the
/// rest, opened by a `[` over the comma after that element (both commas are put back). One
/// parser a part, not one an element: each parser allocates, and a C library's allocator may
/// take a lock that both threads then wait on. False where a comma is inside a string, a part
/// fails, or no thread can be started.
fn in_parts(text: &mut String) -> bool {
    let comma = |t: &str, at| Some(at + memchr::memmem::find(&t.as_bytes()[at..], b"},{")? + 1);
    let large = text.len() > 1 << 20 && text.starts_with('[');
    let first = large.then(|| comma(text, text.len() / 2)).flatten();
    let Some((a, b)) = first.and_then(|a| Some((a, comma(text, a)?))) else { return false };
    text.replace_range(a..=a, "]");
    text.replace_range(b..=b, "[");
    let check = |part: &str| serde_json::from_str::<IgnoredAny>(part).is_ok();
    let (head, middle, rest) = (&text[..=a], &text[a + 1..b], &text[b..]);
    let ok = std::thread::scope(|scope| {
        match std::thread::Builder::new().spawn_scoped(scope, || check(rest)) {
            Ok(rest) => check(head) && check(middle) && rest.join().unwrap_or(false),
            Err(_) => false,
        }
    });
    text.replace_range(a..=a, ",");
    text.replace_range(b..=b, ",");
    ok
}

/// Decode `text`; a shape that does not fit is a malformed response.
pub fn decode_text<'a, T: Deserialize<'a>>(text: &'a str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| malformed(what, err))
}

fn malformed(what: &str, err: serde_json::Error) -> Error {
    let why = format!("Malformed response from the server: unexpected {what} shape ({err})");
    Error::new(Kind::Server, why)
}

/// Decode the JSON array `text` one element at a time, handing each to `each`: a long list
/// is never held decoded all at once.
pub fn each_item<T: DeserializeOwned>(text: &str, what: &str, each: impl FnMut(T)) -> Result<()> {
    struct Items<T, F>(F, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>, F: FnMut(T)> serde::de::Visitor<'de> for Items<T, F> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            while let Some(item) = seq.next_element()? {
                (self.0)(item);
            }
            Ok(())
        }
    }
    let mut items = serde_json::Deserializer::from_str(text);
    serde::Deserializer::deserialize_seq(&mut items, Items(each, std::marker::PhantomData))
        .and_then(|()| items.end())
        .map_err(|err| malformed(what, err))
}

/// A task's lifecycle state; legacy servers only know active and inactive (paused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Active,
    Paused,
    Completed,
}

impl TaskState {
    /// The state's name; the list follows the order of the variants.
    pub fn as_str(self) -> &'static str {
        ["active", "paused", "completed"][self as usize]
    }
}

#[derive(Debug, Deserialize)]
pub struct Notification {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub address: Option<String>,
    pub url: Option<String>,
}

/// IDs are printed bare, on stdout for scripts and in messages: a control or bidirectional
/// character in one the server sent is escaped, as in any other server text.
fn terminal_safe<'de, D: serde::Deserializer<'de>>(from: D) -> Result<String, D::Error> {
    String::deserialize(from).map(|id| sanitize(&id))
}

#[derive(Debug, Deserialize)]
pub struct Task {
    #[serde(deserialize_with = "terminal_safe")]
    pub id: String,
    pub name: Option<String>,
    /// Current servers.
    pub state: Option<String>,
    /// Legacy (0.0.2) servers.
    pub is_active: Option<bool>,
    pub search_query: Option<String>,
    pub condition_description: Option<String>,
    pub notifications: Option<Vec<Notification>>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub next_run: Option<String>,
    pub last_execution: Option<Execution>,
    pub last_known_state: Option<Value>,
    pub immediate_execution_error: Option<String>,
    pub is_public: Option<bool>,
    /// Legacy only.
    pub schedule: Option<String>,
    pub notify_behavior: Option<String>,
    pub condition_met: Option<bool>,
    pub last_notified_at: Option<String>,
}

impl Task {
    pub fn decode(text: &str) -> Result<Task> {
        decode_text(text, "task")
    }

    /// The state whichever generation answered; `None` when the server sent neither field.
    pub fn state(&self) -> Option<TaskState> {
        match (self.state.as_deref(), self.is_active) {
            (Some("paused"), _) => Some(TaskState::Paused),
            (Some("completed"), _) => Some(TaskState::Completed),
            (Some("active"), _) | (_, Some(true)) => Some(TaskState::Active),
            (_, Some(false)) => Some(TaskState::Paused),
            (_, None) => None,
        }
    }

    /// Whether the object came from a legacy (0.0.2) server.
    pub fn is_legacy(&self) -> bool {
        self.state.is_none() && self.is_active.is_some()
    }

    /// The state's name, the server's word for a state this CLI does not know, or `-`.
    pub fn state_label(&self) -> &str {
        self.state().map(TaskState::as_str).or(self.state.as_deref()).unwrap_or("-")
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

#[derive(Debug, Deserialize)]
pub struct Source {
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Execution {
    #[serde(deserialize_with = "terminal_safe")]
    pub id: String,
    pub status: Option<String>,
    pub result: Option<Value>,
    pub error_message: Option<String>,
    /// Current servers: non-null when the condition was met.
    pub notification: Option<String>,
    /// Legacy servers.
    pub condition_met: Option<bool>,
    pub change_summary: Option<String>,
    pub grounding_sources: Option<Vec<Source>>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

/// How a run ended, or that it has not yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Waiting,
    Succeeded,
    Failed,
}

impl Execution {
    pub fn decode(text: &str) -> Result<Execution> {
        decode_text(text, "execution")
    }

    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("unknown")
    }

    /// `pending`, `running` and `retrying` (the scheduler runs this same execution again)
    /// are still waiting; `success` succeeded; `failed`, `cancelled` and anything unknown
    /// count as failed.
    pub fn run_status(&self) -> RunStatus {
        match self.status() {
            "pending" | "running" | "retrying" => RunStatus::Waiting,
            "success" => RunStatus::Succeeded,
            _ => RunStatus::Failed,
        }
    }

    /// The notification text when the condition was met, whichever generation answered.
    pub fn notification_text(&self) -> Option<String> {
        if self.notification.is_some() || self.condition_met != Some(true) {
            return self.notification.clone();
        }
        let answer = self.result.as_ref().and_then(|r| r.get("answer")?.as_str());
        let summary = self.change_summary.as_deref().or(answer);
        Some(summary.unwrap_or("condition met").to_string())
    }

    pub fn source_urls(&self) -> Vec<&str> {
        self.grounding_sources.iter().flatten().filter_map(|s| s.url.as_deref()).collect()
    }
}

/// The account behind a key (`GET /auth/me`).
#[derive(Debug, Deserialize)]
pub struct User {
    pub email: Option<String>,
}

/// The cron schedule sent to legacy servers when none is given (they require one).
const DEFAULT_SCHEDULE: &str = "0 9 * * *";

/// One create body for both generations: the current server ignores the legacy fields
/// (`is_active`, `schedule`, `config`) and the legacy server ignores `state`. A legacy task is
/// always created active, because one created inactive can later be neither resumed nor
/// deleted; `Client::pause_legacy_create` pauses it afterwards.
pub fn create_body(
    query: &str,
    condition: Option<&str>,
    state: &str,
    schedule: Option<&str>,
    notifications: Vec<Value>,
) -> Value {
    serde_json::json!({
        "search_query": query,
        "condition_description": condition.unwrap_or(query),
        "state": state,
        "is_active": true,
        "schedule": schedule.unwrap_or(DEFAULT_SCHEDULE),
        "config": {},
        "notifications": notifications,
    })
}
