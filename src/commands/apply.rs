//! `torale task apply`: declarative tasks. A file lists tasks by name; apply creates what is
//! missing, updates what differs, leaves equal tasks alone and, with `--prune`, deletes the
//! tasks the file does not list.

use std::io::{self, Write};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::task::Command;
use crate::client::Client;
use crate::error::{Error, Kind, Result};
use crate::model::{Task, TaskState};
use crate::output::{sanitize, stderr_line, Color, Output};
use crate::terminal;

pub const HELP: &str = "\
Make your tasks match a file (declarative tasks for GitOps)

The file lists tasks by name. apply creates the tasks that are missing, updates those that
differ (only the fields that differ are sent), leaves equal ones untouched, and with --prune
deletes the tasks the file does not list. A second apply of the same file sends no writes.

Usage: torale task apply -f FILE [--dry-run [--exit-code]] [--prune [-y]]

Options:
  -f, --file FILE   The tasks file ('-' reads standard input)
      --dry-run     Print the plan and change nothing
      --exit-code   With --dry-run: exit 12 when the plan has changes (drift check)
      --prune       Also delete tasks that are not in the file (asks first)
  -y, --yes         Do not ask before deleting

File (JSON):
  {\"tasks\": [
    {\"name\": \"iPhone 18 release\",
     \"query\": \"When will Apple release the iPhone 18?\",
     \"condition\": \"Apple has announced a release date\",
     \"state\": \"active\",
     \"notifications\": [{\"type\": \"email\", \"address\": \"me@example.com\"}]}
  ]}
name and query are required. condition, state (active, paused, completed) and notifications
are compared only when given; on create, condition defaults to the query and state to
active. A bare array of tasks works too.

Plan lines:
  + create NAME
  ~ update NAME: FIELD OLD → NEW
  - delete NAME

Examples:
  torale task apply -f tasks.json --dry-run --exit-code   # CI drift check: exit 12 on drift
  torale task apply -f tasks.json --prune --yes
";

/// One task as the file describes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Desired {
    name: String,
    #[serde(alias = "search_query")]
    query: String,
    #[serde(default, alias = "condition_description")]
    condition: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    notifications: Option<Vec<Map<String, Value>>>,
}

/// A change the plan makes.
#[derive(Debug)]
enum Change {
    Create(usize),
    Update {
        id: String,
        name: String,
        /// `(field, old, new)`, the values as JSON (strings, or the notification lists).
        diffs: Vec<(&'static str, Value, Value)>,
        body: Value,
        /// A paused task that must become completed goes through active first.
        via_active: bool,
    },
    Delete {
        id: String,
        name: String,
    },
}

/// Apply the file; the exit code of the run: 12 when a dry run with `--exit-code` finds changes.
pub fn run(client: &Client, options: &Command, output: &Output, out: &mut dyn Write) -> Result<u8> {
    let file = options.file.as_deref().unwrap_or_default();
    let desired = read_file(file)?;
    let current: Vec<(Task, Value)> = client
        .list_tasks(None)?
        .items("task list")?
        .into_iter()
        .map(|raw| {
            let task = Task::decode(raw.get())?;
            let value: Value = crate::model::decode_text(raw.get(), "task")?;
            Ok((task, value))
        })
        .collect::<Result<_>>()?;
    let plan = make_plan(&desired, &current, options.prune)?;

    let (creates, updates, deletes) =
        plan.iter().fold((0, 0, 0), |(c, u, d), change| match change {
            Change::Create(_) => (c + 1, u, d),
            Change::Update { .. } => (c, u + 1, d),
            Change::Delete { .. } => (c, u, d + 1),
        });
    let unchanged = desired.len() - creates - updates;
    let summary = format!(
        "{creates} to create, {updates} to update, {deletes} to delete, {unchanged} unchanged"
    );

    if options.dry_run {
        if output.json {
            let items: Vec<Value> = plan.iter().map(|c| plan_json(c, &desired)).collect();
            output.json_value(out, &Value::Array(items))?;
        } else {
            for change in &plan {
                write_plan_line(change, &desired, output, out)?;
            }
        }
        stderr_line(&format!("Plan: {summary}"));
        // Changes to make are the run's result, not a failure: the plan is printed either way.
        return Ok(if options.exit_code && !plan.is_empty() { 12 } else { 0 });
    }

    if deletes > 0 && !options.yes {
        if !terminal::stdin_is_terminal() {
            return Err(Error::usage(format!(
                "Refusing to delete {deletes} task(s) without confirmation: standard input is not a terminal"
            ))
            .hint("Add --yes (-y), or review the plan first with --dry-run"));
        }
        let names: Vec<String> = plan
            .iter()
            .filter_map(|c| match c {
                Change::Delete { name, .. } => Some(sanitize(name)),
                _ => None,
            })
            .collect();
        if !terminal::confirm(&format!(
            "Delete {deletes} task(s) not in {}: {}?",
            file,
            names.join(", ")
        ))? {
            return Err(Error::usage("Not applied: deleting was not confirmed"));
        }
    }

    let mut failures: Vec<Error> = Vec::new();
    let mut applied: Vec<Value> = Vec::new();
    for change in &plan {
        match apply_change(client, change, &desired) {
            Ok(()) if output.json => applied.push(plan_json(change, &desired)),
            Ok(()) => write_plan_line(change, &desired, output, out)?,
            Err(err) => {
                let name = match change {
                    Change::Create(i) => desired[*i].name.as_str(),
                    Change::Update { name, .. } | Change::Delete { name, .. } => name.as_str(),
                };
                stderr_line(&format!("✗ {}: {}", sanitize(name), err.message));
                failures.push(err);
            }
        }
    }
    if output.json {
        output.json_value(out, &Value::Array(applied))?;
    }
    if let Some(worst) = failures.iter().max_by_key(|e| e.exit_code()) {
        let mut err =
            Error::new(worst.kind, format!("{} of {} changes failed", failures.len(), plan.len()));
        err.status = worst.status;
        return Err(err);
    }
    stderr_line(&format!("Applied: {summary}"));
    Ok(0)
}

fn read_file(path: &str) -> Result<Vec<Desired>> {
    let bytes = crate::terminal::read_input(path, crate::client::MAX_BODY).map_err(|err| {
        Error::usage(format!("Cannot read {path}: {}", crate::error::io_reason(&err)))
    })?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::usage(format!("{path} is not UTF-8 text")))?;
    let format_hint = "See 'torale task apply --help' for the format";
    let value: Value = serde_json::from_str(&text).map_err(|err| {
        Error::usage(format!(
            "{path} is not valid JSON (line {}, column {}): {}",
            err.line(),
            err.column(),
            strip_position(&err.to_string())
        ))
    })?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("tasks") {
            Some(Value::Array(items)) if map.is_empty() => items,
            _ => {
                return Err(Error::usage(format!(
                    "{path}: expected {{\"tasks\": [...]}} or a list of tasks"
                ))
                .hint(format_hint))
            }
        },
        _ => {
            return Err(Error::usage(format!("{path}: expected a list of tasks")).hint(format_hint))
        }
    };
    let mut tasks: Vec<Desired> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let name = item.get("name").and_then(Value::as_str).map(sanitize);
        let task = Desired::deserialize(item).map_err(|err| {
            let which = match &name {
                Some(name) => format!("task {} ('{name}')", i + 1),
                None => format!("task {}", i + 1),
            };
            Error::usage(format!("{path}: {which}: {err}")).hint(format_hint)
        })?;
        tasks.push(task);
    }
    for (i, task) in tasks.iter().enumerate() {
        let which = format!("{path}: task {}", i + 1);
        if task.name.trim().is_empty() {
            return Err(Error::usage(format!("{which} has an empty name")));
        }
        if task.query.trim().is_empty() {
            return Err(Error::usage(format!(
                "{which} ('{}') has an empty query",
                sanitize(&task.name)
            )));
        }
        if let Some(state) = &task.state {
            if !matches!(state.as_str(), "active" | "paused" | "completed") {
                return Err(Error::usage(format!(
                    "{which} ('{}'): state '{}' is not active, paused or completed",
                    sanitize(&task.name),
                    sanitize(state)
                )));
            }
        }
        for n in task.notifications.iter().flatten() {
            let kind = n.get("type").and_then(Value::as_str).unwrap_or("");
            if !matches!(kind, "email" | "webhook") {
                return Err(Error::usage(format!(
                    "{which} ('{}'): a notification's type must be email or webhook",
                    sanitize(&task.name)
                )));
            }
        }
        if tasks[..i].iter().any(|t| t.name == task.name) {
            return Err(Error::usage(format!(
                "{path}: the name '{}' appears twice",
                sanitize(&task.name)
            )));
        }
    }
    Ok(tasks)
}

fn strip_position(text: &str) -> String {
    match text.find(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// A notification as the servers store it: all six keys, defaults filled in.
fn normalized(n: &Map<String, Value>) -> Value {
    let get = |key: &str| n.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "type": get("type"),
        "address": get("address"),
        "template": get("template"),
        "url": get("url"),
        "method": n.get("method").cloned().filter(|m| !m.is_null()).unwrap_or(json!("POST")),
        "headers": get("headers"),
    })
}

/// A plan value for a person: text quoted (a state bare), notifications by type and target.
fn show(field: &str, value: &Value) -> String {
    match value {
        Value::String(text) if field == "state" => sanitize(text),
        Value::String(text) => format!("\"{}\"", sanitize(text)),
        Value::Array(list) => show_notifications(list),
        other => sanitize(&other.to_string()),
    }
}

fn show_notifications(list: &[Value]) -> String {
    let parts: Vec<String> = list
        .iter()
        .map(|n| {
            let kind = n["type"].as_str().unwrap_or("?");
            let target = n["url"].as_str().or(n["address"].as_str()).unwrap_or("");
            sanitize(&format!("{kind} {target}"))
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn make_plan(desired: &[Desired], current: &[(Task, Value)], prune: bool) -> Result<Vec<Change>> {
    let mut plan = Vec::new();
    for (i, want) in desired.iter().enumerate() {
        let matches: Vec<&(Task, Value)> =
            current.iter().filter(|(task, _)| task.name() == want.name).collect();
        let (task, raw) = match matches.as_slice() {
            [] => {
                plan.push(Change::Create(i));
                continue;
            }
            [one] => *one,
            _ => return Err(Error::new(
                Kind::Rejected,
                format!(
                    "{} tasks are named '{}'; apply needs names to be unique",
                    matches.len(),
                    sanitize(&want.name)
                ),
            )
            .hint(
                "Rename or delete the extra ones with 'torale task update' / 'torale task delete'",
            )),
        };
        let mut diffs = Vec::new();
        let mut body = Map::new();
        let old_query = task.search_query.clone().unwrap_or_default();
        if old_query != want.query {
            diffs.push(("query", json!(old_query), json!(want.query)));
            body.insert("search_query".into(), json!(want.query));
        }
        if let Some(condition) = &want.condition {
            let old = task.condition_description.clone().unwrap_or_default();
            if &old != condition {
                diffs.push(("condition", json!(old), json!(condition)));
                body.insert("condition_description".into(), json!(condition));
            }
        }
        let mut via_active = false;
        if let Some(state) = &want.state {
            let old = task.state_label().to_string();
            if &old != state {
                if task.is_legacy() && state == "completed" {
                    return Err(Error::new(
                        Kind::Rejected,
                        format!(
                            "'{}': this server (legacy 0.0.2) has no completed state",
                            sanitize(&want.name)
                        ),
                    ));
                }
                via_active = task.state() == Some(TaskState::Paused) && state == "completed";
                diffs.push(("state", json!(old), json!(state)));
                body.insert("state".into(), json!(state));
                if state != "completed" {
                    body.insert("is_active".into(), json!(state == "active"));
                }
            }
        }
        if let Some(list) = &want.notifications {
            let wanted: Vec<Value> = list.iter().map(normalized).collect();
            let have: Vec<Value> = raw
                .get("notifications")
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_object).map(normalized).collect())
                .unwrap_or_default();
            if wanted != have {
                diffs.push(("notifications", json!(have), json!(wanted)));
                body.insert("notifications".into(), Value::Array(wanted));
            }
        }
        if !diffs.is_empty() {
            plan.push(Change::Update {
                id: task.id.clone(),
                name: want.name.clone(),
                diffs,
                body: Value::Object(body),
                via_active,
            });
        }
    }
    if prune {
        for (task, _) in current {
            if !desired.iter().any(|want| want.name == task.name()) {
                plan.push(Change::Delete { id: task.id.clone(), name: task.name().to_string() });
            }
        }
    }
    Ok(plan)
}

/// A change as JSON: `{"action", "name", "id", "changes": [{"field", "from", "to"}]}`.
fn plan_json(change: &Change, desired: &[Desired]) -> Value {
    match change {
        Change::Create(i) => json!({"action": "create", "name": desired[*i].name}),
        Change::Update { id, name, diffs, .. } => json!({
            "action": "update",
            "name": name,
            "id": id,
            "changes": diffs
                .iter()
                .map(|(field, from, to)| json!({"field": field, "from": from, "to": to}))
                .collect::<Vec<_>>(),
        }),
        Change::Delete { id, name } => json!({"action": "delete", "name": name, "id": id}),
    }
}

fn write_plan_line(
    change: &Change,
    desired: &[Desired],
    output: &Output,
    out: &mut dyn Write,
) -> io::Result<()> {
    match change {
        Change::Create(i) => writeln!(
            out,
            "{} create {}",
            output.paint(Color::Green, "+"),
            sanitize(&desired[*i].name)
        ),
        Change::Update { name, diffs, .. } => {
            for (field, old, new) in diffs {
                writeln!(
                    out,
                    "{} update {}: {field} {} → {}",
                    output.paint(Color::Yellow, "~"),
                    sanitize(name),
                    show(field, old),
                    show(field, new)
                )?;
            }
            Ok(())
        }
        Change::Delete { name, .. } => {
            writeln!(out, "{} delete {}", output.paint(Color::Red, "-"), sanitize(name))
        }
    }
}

fn apply_change(client: &Client, change: &Change, desired: &[Desired]) -> Result<()> {
    match change {
        Change::Create(i) => {
            let want = &desired[*i];
            let state = want.state.as_deref().unwrap_or("active");
            let notifications =
                want.notifications.iter().flatten().map(|n| Value::Object(n.clone())).collect();
            let mut body = crate::model::create_body(
                &want.query,
                want.condition.as_deref(),
                state,
                None,
                notifications,
            );
            body["name"] = json!(want.name);
            let created = client.create_task(&body)?;
            let (_, task) = client.pause_legacy_create(created, state == "paused")?;
            if state == "completed" && task.state() != Some(TaskState::Completed) {
                return Err(Error::new(
                    Kind::Rejected,
                    "created, but this server (legacy 0.0.2) has no completed state",
                ));
            }
            Ok(())
        }
        Change::Update { id, body, via_active, .. } => {
            if *via_active {
                client.update_task(id, &json!({"state": "active", "is_active": true}))?;
            }
            client.update_task(id, body)?;
            Ok(())
        }
        Change::Delete { id, .. } => {
            client.delete_task(id)?;
            Ok(())
        }
    }
}
