//! `torale task apply`: declarative tasks. A file lists tasks by name; apply creates what is
//! missing, updates what differs, leaves equal tasks alone and, with `--prune`, deletes the
//! tasks the file does not list.

use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::error::{invalid_json, Error, Kind, Result};
use crate::model::{create_body, decode_text, Task, TaskState};
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
    #[serde(alias = "condition_description")]
    condition: Option<String>,
    state: Option<String>,
    notifications: Option<Vec<Map<String, Value>>>,
}

/// A change the plan makes; with `--json` the plan is a list of these (keys in sorted order).
#[derive(Default, Serialize)]
struct Change {
    /// `create`, `update` or `delete`.
    action: &'static str,
    /// An update's fields that differ.
    #[serde(rename = "changes", skip_serializing_if = "Vec::is_empty")]
    diffs: Vec<Diff>,
    /// The task's ID; empty for a create.
    #[serde(skip_serializing_if = "String::is_empty")]
    id: String,
    name: String,
    /// What a create or an update sends.
    #[serde(skip)]
    body: Value,
}

/// A field an update changes, the values as JSON (strings, or the notification lists).
#[derive(PartialEq, Serialize)]
struct Diff {
    field: &'static str,
    from: Value,
    to: Value,
}

/// `task apply`'s options, as `task` parsed them.
pub struct Args<'a> {
    pub file: &'a str,
    pub prune: bool,
    pub dry_run: bool,
    pub exit_code: bool,
    pub yes: bool,
}

/// Apply the file; the exit code of the run: 12 when a dry run with `--exit-code` finds changes.
pub fn run(client: &Client, args: Args, output: &Output, out: &mut Vec<u8>) -> Result<u8> {
    let file = args.file;
    let desired = read_file(file)?;
    let current: Vec<(Task, Value)> = client
        .list_tasks(None)?
        .items("task list")?
        .into_iter()
        .map(|raw| Ok((Task::decode(raw.get())?, decode_text(raw.get(), "task")?)))
        .collect::<Result<_>>()?;
    let plan = make_plan(&desired, &current, args.prune)?;
    let count = |action| plan.iter().filter(|c| c.action == action).count();
    let (creates, updates, deletes) = (count("create"), count("update"), count("delete"));
    let unchanged = desired.len() - creates - updates;
    let summary = format!(
        "{creates} to create, {updates} to update, {deletes} to delete, {unchanged} unchanged"
    );
    if args.dry_run {
        write_plan(&plan, output, out)?;
        stderr_line(&format!("Plan: {summary}"));
        // Changes to make are the run's result, not a failure: the plan is printed either way.
        return Ok(if args.exit_code && !plan.is_empty() { 12 } else { 0 });
    }
    if deletes > 0 && !args.yes {
        if !terminal::stdin_is_terminal() {
            let why = "without confirmation: standard input is not a terminal";
            let err = Error::usage(format!("Refusing to delete {deletes} task(s) {why}"));
            return Err(err.hint("Add --yes (-y), or review the plan first with --dry-run"));
        }
        let names: Vec<String> =
            plan.iter().filter(|c| c.action == "delete").map(|c| sanitize(&c.name)).collect();
        let question = format!("Delete {deletes} task(s) not in {file}: {}?", names.join(", "));
        if !terminal::confirm(&question)? {
            return Err(Error::usage("Not applied: deleting was not confirmed"));
        }
    }
    let mut failures = Vec::new();
    for change in &plan {
        if let Err(err) = apply_change(client, change) {
            stderr_line(&format!("✗ {}: {}", sanitize(&change.name), err.message));
            failures.push(err);
        }
    }
    if let Some(worst) = failures.iter().max_by_key(|e| e.exit_code()) {
        let why = format!("{} of {} changes failed", failures.len(), plan.len());
        return Err(Error { status: worst.status, ..Error::new(worst.kind, why) });
    }
    write_plan(&plan, output, out)?;
    stderr_line(&format!("Applied: {summary}"));
    Ok(0)
}

fn read_file(path: &str) -> Result<Vec<Desired>> {
    let bytes = super::read_input(path)?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::usage(format!("{path} is not UTF-8 text")))?;
    let format_hint = "See 'torale task apply --help' for the format";
    let value: Value = serde_json::from_str(&text)
        .map_err(|err| Error::usage(format!("{path} {}", invalid_json(&err))))?;
    // A bare list, or an object with one key, `tasks`, holding the list.
    let object = value.is_object();
    let items = match value {
        Value::Object(mut map) if map.len() == 1 => map.remove("tasks"),
        value => Some(value),
    };
    let Some(Value::Array(items)) = items else {
        let shape = if object { "expected {\"tasks\": [...]} or" } else { "expected" };
        return Err(Error::usage(format!("{path}: {shape} a list of tasks")).hint(format_hint));
    };
    let tasks = items.into_iter().enumerate().map(|(i, item)| {
        let name = item["name"].as_str().map(|name| format!(" ('{}')", sanitize(name)));
        let which = format!("task {}{}", i + 1, name.unwrap_or_default());
        Desired::deserialize(item)
            .map_err(|err| Error::usage(format!("{path}: {which}: {err}")).hint(format_hint))
    });
    let tasks = tasks.collect::<Result<Vec<_>>>()?;
    for (i, task) in tasks.iter().enumerate() {
        let which = format!("{path}: task {}", i + 1);
        let named = format!("{which} ('{}')", sanitize(&task.name));
        let state = task.state.as_deref().unwrap_or("active");
        let mut kinds = task.notifications.iter().flatten().map(|n| n.get("type"));
        let problem = if task.name.trim().is_empty() {
            format!("{which} has an empty name")
        } else if task.query.trim().is_empty() {
            format!("{named} has an empty query")
        } else if !matches!(state, "active" | "paused" | "completed") {
            format!("{named}: state '{}' is not active, paused or completed", sanitize(state))
        } else if !kinds.all(|k| matches!(k.and_then(Value::as_str), Some("email" | "webhook"))) {
            format!("{named}: a notification's type must be email or webhook")
        } else if tasks[..i].iter().any(|t| t.name == task.name) {
            format!("{path}: the name '{}' appears twice", sanitize(&task.name))
        } else {
            continue;
        };
        return Err(Error::usage(problem));
    }
    Ok(tasks)
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

fn make_plan(desired: &[Desired], current: &[(Task, Value)], prune: bool) -> Result<Vec<Change>> {
    let mut plan = Vec::new();
    for want in desired {
        let name = want.name.clone();
        let matches: Vec<_> = current.iter().filter(|(task, _)| task.name() == name).collect();
        let (task, raw) = match matches[..] {
            [] => {
                let state = want.state.as_deref().unwrap_or("active");
                let notifications =
                    want.notifications.iter().flatten().map(|n| Value::Object(n.clone())).collect();
                let condition = want.condition.as_deref();
                let mut body = create_body(&want.query, condition, state, None, notifications);
                body["name"] = json!(name);
                plan.push(Change { action: "create", name, body, ..Change::default() });
                continue;
            }
            [one] => one,
            _ => {
                let (n, name) = (matches.len(), sanitize(&name));
                let why = format!("{n} tasks are named '{name}'; apply needs names to be unique");
                let hint = "Rename or delete the extra ones with 'torale task update' / \
                            'torale task delete'";
                return Err(Error::new(Kind::Rejected, why).hint(hint));
            }
        };
        if task.is_legacy() && want.state.as_deref() == Some("completed") {
            let why =
                format!("'{}': this server (legacy 0.0.2) has no completed state", sanitize(&name));
            return Err(Error::new(Kind::Rejected, why));
        }
        let have =
            raw["notifications"].as_array().into_iter().flatten().filter_map(Value::as_object);
        let wanted = want.notifications.as_ref().map(|list| list.iter().map(normalized).collect());
        let old = |text: &Option<String>| json!(text.as_deref().unwrap_or_default());
        let new = |text: &Option<String>| text.as_ref().map(|text| json!(text));
        let condition = old(&task.condition_description);
        // Each field the file gives: its name in the plan and in the API, old and new value.
        let (mut diffs, mut body) = (Vec::new(), Map::new());
        for (field, key, old, new) in [
            ("query", "search_query", old(&task.search_query), Some(json!(want.query))),
            ("condition", "condition_description", condition, new(&want.condition)),
            ("state", "state", json!(task.state_label()), new(&want.state)),
            ("notifications", "notifications", have.map(normalized).collect(), wanted),
        ] {
            if let Some(to) = new.filter(|new| *new != old) {
                body.insert(key.into(), to.clone());
                diffs.push(Diff { field, from: old, to });
            }
        }
        if diffs.is_empty() {
            continue;
        }
        // Legacy servers read `is_active`, which has no completed.
        if let Some(state) = body.get("state").filter(|s| **s != "completed").cloned() {
            body.insert("is_active".into(), json!(state == "active"));
        }
        let (id, body) = (task.id.clone(), Value::Object(body));
        plan.push(Change { action: "update", name, id, diffs, body });
    }
    let extra =
        current.iter().filter(|(t, _)| prune && !desired.iter().any(|w| w.name == t.name()));
    plan.extend(extra.map(|(task, _)| {
        let (id, name) = (task.id.clone(), task.name().to_string());
        Change { action: "delete", name, id, ..Change::default() }
    }));
    Ok(plan)
}

/// The changes: with `--json` one array of them, else one line each (for an update, one per
/// field).
fn write_plan(plan: &[Change], output: &Output, out: &mut Vec<u8>) -> Result<()> {
    if output.json {
        return output.json_value(out, &json!(plan));
    }
    for change in plan {
        let name = sanitize(&change.name);
        match change.action {
            "create" => writeln!(out, "{} create {name}", output.paint(Color::Green, "+"))?,
            "delete" => writeln!(out, "{} delete {name}", output.paint(Color::Red, "-"))?,
            _ => {
                for Diff { field, from, to } in &change.diffs {
                    let (mark, old, new) =
                        (output.paint(Color::Yellow, "~"), show(field, from), show(field, to));
                    writeln!(out, "{mark} update {name}: {field} {old} → {new}")?;
                }
            }
        }
    }
    Ok(())
}

/// A plan value for a person: text quoted (a state bare), notifications by type and target.
fn show(field: &str, value: &Value) -> String {
    match value {
        Value::String(text) if field == "state" => sanitize(text),
        Value::String(text) => format!("\"{}\"", sanitize(text)),
        Value::Array(list) => {
            let part = |n: &Value| {
                let target = n["url"].as_str().or(n["address"].as_str()).unwrap_or("");
                sanitize(&format!("{} {target}", n["type"].as_str().unwrap_or("?")))
            };
            format!("[{}]", list.iter().map(part).collect::<Vec<_>>().join(", "))
        }
        other => sanitize(&other.to_string()),
    }
}

fn apply_change(client: &Client, change: &Change) -> Result<()> {
    let (id, state) = (&change.id, change.body["state"].as_str().unwrap_or_default());
    match change.action {
        "create" => {
            let created = client.create_task(&change.body)?;
            let (_, task) = client.pause_legacy_create(created, state == "paused")?;
            if state == "completed" && task.state() != Some(TaskState::Completed) {
                let why = "created, but this server (legacy 0.0.2) has no completed state";
                return Err(Error::new(Kind::Rejected, why));
            }
            Ok(())
        }
        "update" => {
            // A paused task that must become completed goes through active first.
            let (from, to) = (json!("paused"), json!("completed"));
            if change.diffs.contains(&Diff { field: "state", from, to }) {
                client.update_task(id, &json!({"state": "active", "is_active": true}))?;
            }
            client.update_task(id, &change.body).map(drop)
        }
        _ => client.delete_task(id).map(drop),
    }
}
