//! `torale task`: create, list, inspect, change, run and delete monitoring tasks, on current
//! and legacy (0.0.2) servers alike.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::cli::{CreateArgs, StateFilter, TaskCommand, UpdateArgs};
use crate::client::Client;
use crate::config::Settings;
use crate::error::{Error, Kind, Result};
use crate::model::{Execution, Json, RunStatus, Task};
use crate::output::{
    duration_between, sanitize, short_time, source_domains, stderr_line, write_pairs, Color,
    Output, Table,
};
use crate::terminal;

pub const HELP: &str = "\
Create, list, run and delete monitoring tasks

A task asks a question of the web (--query) and notifies you when a condition is met
(--condition). IDs are the tasks' UUIDs, printed in full so scripts can use them.

Usage: torale task <COMMAND>

Commands:
  list           List your tasks
  get            Show one task, its notifications and its last run
  create         Create a task
  update         Change a task's fields
  pause          Pause tasks (no scheduled runs)
  resume         Make paused or completed tasks active again
  complete       Mark tasks as completed
  delete         Delete tasks (asks first on a terminal)
  execute        Run a task now; --wait for the outcome
  logs           Show a task's runs
  notifications  Show the runs whose condition was met
  apply          Make your tasks match a file (declarative, for GitOps)
  preview        (no longer offered by the API; see 'torale task preview')

Examples:
  ID=$(torale task create -q \"When is the next iPhone release?\" -c \"A date is announced\")
  torale task execute \"$ID\" --wait
  torale task logs \"$ID\"
  torale task list --paused --json | jq -r '.[].id'
";

const LIST_HELP: &str = "\
List your tasks, newest first

Usage: torale task list [--active|--paused|--completed] [--limit N]

Options:
      --active      Only active tasks
      --paused      Only paused tasks
      --completed   Only completed tasks (current servers only)
      --limit N     At most N tasks

Examples:
  torale task list
  torale task list --active --json | jq -r '.[].id'
";

const GET_HELP: &str = "\
Show one task: its query, condition, state, notifications and last run

Usage: torale task get ID

Example:
  torale task get 85426056-2e6c-4c21-887d-701e6fe3eee3
";

const CREATE_HELP: &str = "\
Create a monitoring task and print its ID

Without --name the name is derived from the query and made unique among your tasks.

Usage: torale task create (-q QUERY | --from-template ID) [OPTIONS]

Options:
  -q, --query Q              What to search for (required)
  -c, --condition C          When to notify [default: the query]
  -n, --name N               Task name (must be unique among your tasks)
  -w, --webhook URL          Notify this https:// webhook
      --email ADDR           Notify this email address
      --paused               Create the task paused
      --run-immediately      Start a first run right away (current servers)
  -s, --schedule CRON        5-field cron schedule (legacy servers) [default: 0 9 * * *]
      --notify-behavior B    once, always or track_state (legacy servers)
      --from-template ID     Start from a template: its query, condition and name
                             (options given here win)

Examples:
  torale task create -q \"When will Apple release the iPhone 18?\" \\
      -c \"Apple has announced a release date\" --email me@example.com
  ID=$(torale task create -q \"PS6 price\" --paused)
";

const UPDATE_HELP: &str = "\
Change a task; only the fields given are sent

Usage: torale task update ID [OPTIONS]

Options:
  -n, --name N               New name
  -q, --query Q              New search query
  -c, --condition C          New condition
      --active | --inactive  Resume or pause the task
  -w, --webhook URL          Set the webhook (other notifications are kept)
      --no-webhook           Remove the webhook
  -s, --schedule CRON        5-field cron schedule (legacy servers)
      --notify-behavior B    once, always or track_state (legacy servers)

Example:
  torale task update 85426056-2e6c-4c21-887d-701e6fe3eee3 -c \"A price below $500\"
";

const PAUSE_HELP: &str = "\
Pause tasks: they keep their settings but are not run on schedule

Usage: torale task pause ID...

Example:
  torale task pause 85426056-2e6c-4c21-887d-701e6fe3eee3
";

const RESUME_HELP: &str = "\
Make paused or completed tasks active again; the next run is scheduled about a minute later

Usage: torale task resume ID...

Example:
  torale task resume 85426056-2e6c-4c21-887d-701e6fe3eee3
";

const COMPLETE_HELP: &str = "\
Mark tasks as completed (current servers; a paused task must be resumed first)

Usage: torale task complete ID...

Example:
  torale task complete 85426056-2e6c-4c21-887d-701e6fe3eee3
";

const DELETE_HELP: &str = "\
Delete tasks and their runs

On a terminal torale asks first. Without a terminal it refuses (exit 2) unless --yes is
given, so a script never hangs waiting for an answer. With several IDs each is reported
and the exit code is the worst of them.

Usage: torale task delete ID... [-y|--yes] [--ignore-not-found]

Options:
  -y, --yes                Do not ask
      --ignore-not-found   A task that does not exist is not an error

Example:
  torale task delete --yes --ignore-not-found \"$ID\"
";

const EXECUTE_HELP: &str = "\
Run a task now and print the run's execution ID

With --wait torale polls until the run ends: exit 0 when it succeeded, 11 when it failed or
was cancelled, 8 when it is still pending after --wait-timeout seconds. A new run cancels
one that is still pending on current servers.

Usage: torale task execute ID [--wait [--wait-timeout SECS]]

Options:
      --wait                Wait for the run to end
      --wait-timeout SECS   Give up waiting after SECS seconds [default: 300]

Example:
  torale task execute \"$ID\" --wait --wait-timeout 600 || echo \"run did not succeed: $?\"
";

const LOGS_HELP: &str = "\
Show a task's runs, newest first: time, status, duration, notification or error, sources

Usage: torale task logs ID [--limit N] [--status S] [--notifications-only]

Options:
      --limit N              At most N runs [default: 20]
      --status S             Only runs with this status: pending, running, success,
                             retrying, failed or cancelled (among the last N)
      --notifications-only   Only runs whose condition was met

Example:
  torale task logs \"$ID\" --status failed
";

const NOTIFICATIONS_HELP: &str = "\
Show the runs whose condition was met, newest first

Usage: torale task notifications ID [--limit N]

Options:
      --limit N   At most N notifications [default: 20]

Example:
  torale task notifications \"$ID\" --json | jq -r '.[0].notification'
";

const PREVIEW_HELP: &str = "\
Task preview is no longer offered by the Torale API

To try a query, create the task paused, run it once and read the result:
  ID=$(torale task create -q \"When is the next iPhone release?\" --paused)
  torale task execute \"$ID\" --wait
  torale task logs \"$ID\" --limit 1

Usage: torale task preview
";

pub fn help(sub: &str) -> Option<&'static str> {
    Some(match sub {
        "" => HELP,
        "list" | "ls" => LIST_HELP,
        "get" | "show" => GET_HELP,
        "create" => CREATE_HELP,
        "update" => UPDATE_HELP,
        "pause" => PAUSE_HELP,
        "resume" => RESUME_HELP,
        "complete" => COMPLETE_HELP,
        "delete" | "rm" => DELETE_HELP,
        "execute" | "run" => EXECUTE_HELP,
        "logs" => LOGS_HELP,
        "notifications" => NOTIFICATIONS_HELP,
        "preview" => PREVIEW_HELP,
        "apply" => super::apply::HELP,
        _ => return None,
    })
}

/// The cron schedule sent to legacy servers when none is given (they require one).
const DEFAULT_SCHEDULE: &str = "0 9 * * *";
/// Executions fetched per poll while waiting; the new run is among the newest.
const WAIT_PAGE: usize = 20;

pub fn run(
    command: TaskCommand,
    client: &Client,
    _settings: &Settings,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    match command {
        TaskCommand::List { state, limit } => list(client, state, limit, output, out),
        TaskCommand::Get { id } => {
            let value = client
                .get_task(&id)
                .map_err(|e| not_found(client, e, &id))?;
            if output.json {
                output.json_text(out, value.text())?;
            } else {
                write_task(&Task::decode(value.text())?, out)?;
            }
            Ok(())
        }
        TaskCommand::Create(args) => create(client, args, output, out),
        TaskCommand::Update { id, changes } => update(client, &id, changes, output, out),
        TaskCommand::SetState { ids, state } => set_state(client, &ids, state, output, out),
        TaskCommand::Delete {
            ids,
            yes,
            ignore_not_found,
        } => delete(client, &ids, yes, ignore_not_found, output, out),
        TaskCommand::Execute {
            id,
            wait,
            wait_timeout,
        } => execute(
            client,
            &id,
            wait,
            Duration::from_secs(wait_timeout),
            output,
            out,
        ),
        TaskCommand::Logs {
            id,
            limit,
            status,
            notifications_only,
        } => {
            let doc = if notifications_only {
                client.notifications(&id, limit)
            } else {
                client.executions(&id, limit)
            }
            .map_err(|e| not_found(client, e, &id))?;
            let mut items = doc.items("execution list")?;
            if let Some(status) = &status {
                let mut kept = Vec::with_capacity(items.len());
                for item in items {
                    if Execution::decode(item.get())?.status() == status {
                        kept.push(item);
                    }
                }
                items = kept;
            }
            write_executions(&items, false, output, out)
        }
        TaskCommand::Notifications { id, limit } => {
            let doc = client
                .notifications(&id, limit)
                .map_err(|e| not_found(client, e, &id))?;
            write_executions(&doc.items("notification list")?, true, output, out)
        }
        TaskCommand::Apply {
            file,
            dry_run,
            exit_code,
            prune,
            yes,
        } => super::apply::run(
            client,
            super::apply::Options {
                file,
                dry_run,
                exit_code,
                prune,
                yes,
            },
            output,
            out,
        ),
        TaskCommand::Preview => preview(),
    }
}

/// `task preview`: the API dropped the endpoint; say so and show the alternative (exit 2).
pub fn preview() -> Result<()> {
    Err(
        Error::usage("Task preview is no longer offered by the Torale API")
            .hint("Create the task paused, run it once and read the result:")
            .hint("  ID=$(torale task create -q \"QUERY\" --paused)")
            .hint("  torale task execute \"$ID\" --wait && torale task logs \"$ID\" --limit 1"),
    )
}

/// Give a 404 the task's ID, and tell a bad key apart from a missing task: current servers
/// answer 404 rather than 401 to a bad key on some read routes.
fn not_found(client: &Client, err: Error, id: &str) -> Error {
    if err.kind != Kind::NotFound {
        return err;
    }
    if let Err(auth) = client.me() {
        if auth.kind == Kind::Auth {
            return auth;
        }
    }
    let mut err = Error::new(Kind::NotFound, format!("Task {id} not found")).with_status(404);
    err.hints = vec!["List your tasks with 'torale task list'".into()];
    err
}

fn list(
    client: &Client,
    state: Option<StateFilter>,
    limit: Option<usize>,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    let doc = client.list_tasks(state.map(StateFilter::as_str))?;
    let mut items = doc.items("task list")?;
    // Legacy servers have no `completed` and each generation ignores the other's filter, so
    // the filter is applied here as well.
    if let Some(state) = state {
        let mut kept = Vec::with_capacity(items.len());
        let mut legacy = false;
        for item in items {
            let task = Task::decode(item.get())?;
            legacy |= task.is_legacy();
            if task.state().map(|s| s.as_str()) == Some(state.as_str()) {
                kept.push(item);
            }
        }
        items = kept;
        if legacy && state == StateFilter::Completed {
            stderr_line("Note: this server (legacy 0.0.2) has no completed state; no task can match --completed");
        }
    }
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    if output.json {
        if state.is_none() && limit.is_none() {
            // The server's document as it came: no copy of a possibly large list.
            output.json_text(out, doc.text())?;
        } else {
            output.json_array(out, items.iter().map(|item| item.get()))?;
        }
        return Ok(());
    }
    if items.is_empty() {
        stderr_line("No tasks");
        return Ok(());
    }
    let mut table = Table::new(vec![
        "ID", "NAME", "STATE", "NEXT RUN", "LAST RUN", "CREATED",
    ])
    .flexible(1);
    for item in &items {
        let task = Task::decode(item.get())?;
        let next = match task.state() {
            Some(crate::model::TaskState::Active) => short_time(task.next_run.as_deref()),
            _ => "-".into(),
        };
        let last = match &task.last_execution {
            Some(run) => format!("{} {}", short_time(run.started_at.as_deref()), run.status()),
            None => short_time(task.last_notified_at.as_deref()),
        };
        table.row(vec![
            task.id.clone(),
            task.name().to_string(),
            task.state_label().to_string(),
            next,
            last,
            short_time(task.created_at.as_deref()),
        ]);
    }
    table.write(out, output)?;
    Ok(())
}

fn write_task(task: &Task, out: &mut dyn Write) -> io::Result<()> {
    let mut pairs: Vec<(&str, String)> = vec![
        ("ID", task.id.clone()),
        ("Name", task.name().to_string()),
        ("State", task.state_label().to_string()),
        ("Query", task.search_query.clone().unwrap_or_default()),
        (
            "Condition",
            task.condition_description.clone().unwrap_or_default(),
        ),
    ];
    let notifications: Vec<String> = task
        .notifications
        .iter()
        .flatten()
        .map(|n| {
            let kind = n.kind.as_deref().unwrap_or("?");
            let target = n.url.as_deref().or(n.address.as_deref()).unwrap_or("");
            format!("{kind} {target}")
        })
        .collect();
    if notifications.is_empty() {
        pairs.push(("Notifications", "none".into()));
    }
    for (i, text) in notifications.into_iter().enumerate() {
        pairs.push((if i == 0 { "Notifications" } else { "" }, text));
    }
    if let Some(schedule) = &task.schedule {
        pairs.push(("Schedule", schedule.clone()));
    }
    if let Some(behavior) = &task.notify_behavior {
        pairs.push(("Notify", behavior.clone()));
    }
    if task.state() == Some(crate::model::TaskState::Active) && task.next_run.is_some() {
        pairs.push(("Next run", short_time(task.next_run.as_deref())));
    }
    pairs.push(("Created", short_time(task.created_at.as_deref())));
    if task.updated_at.is_some() {
        pairs.push(("Updated", short_time(task.updated_at.as_deref())));
    }
    if let Some(public) = task.is_public {
        pairs.push(("Public", if public { "yes" } else { "no" }.into()));
    }
    if let Some(evidence) = task
        .last_known_state
        .as_ref()
        .and_then(|s| s.get("evidence"))
        .and_then(Value::as_str)
    {
        pairs.push(("Last evidence", evidence.to_string()));
    }
    match &task.last_execution {
        Some(run) => {
            pairs.push((
                "Last run",
                format!(
                    "{}  {}  {}  ({})",
                    short_time(run.started_at.as_deref()),
                    run.status(),
                    duration_between(run.started_at.as_deref(), run.completed_at.as_deref()),
                    run.id
                ),
            ));
            if let Some(text) = run.notification_text() {
                pairs.push(("Notification", text));
            }
            let sources = source_domains(&run.source_urls());
            if !sources.is_empty() {
                pairs.push(("Sources", sources));
            }
        }
        None if task.condition_met.is_some() => {
            let met = task.condition_met == Some(true);
            pairs.push(("Condition met", if met { "yes" } else { "no" }.into()));
            if let Some(at) = &task.last_notified_at {
                pairs.push(("Last notified", short_time(Some(at))));
            }
        }
        None => pairs.push(("Last run", "never".into())),
    }
    if let Some(err) = &task.immediate_execution_error {
        pairs.push(("Run error", err.clone()));
    }
    write_pairs(out, &pairs)
}

/// A readable default name from the query, made unique among `taken` names.
pub fn default_name(query: &str, taken: &[String]) -> String {
    let words: Vec<&str> = query.split_whitespace().collect();
    let mut base = String::new();
    for word in words {
        if !base.is_empty() && base.chars().count() + word.chars().count() + 1 > 60 {
            break;
        }
        if !base.is_empty() {
            base.push(' ');
        }
        base.push_str(word);
    }
    let mut base: String = base.chars().filter(|c| !c.is_control()).take(60).collect();
    while base.ends_with(['?', '.', '!', ',', ':', ';']) {
        base.pop();
    }
    if base.is_empty() {
        base = "Task".into();
    }
    if !taken.contains(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base} ({n})"))
        .find(|name| !taken.contains(name))
        .unwrap_or(base)
}

fn task_names(client: &Client) -> Result<Vec<String>> {
    let value = client.list_tasks(None)?;
    Ok(value
        .decode::<Vec<Task>>("task list")?
        .into_iter()
        .filter_map(|t| t.name)
        .collect())
}

fn create(
    client: &Client,
    mut args: CreateArgs,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    // A template fills in what the command line leaves out; the name derives from its name.
    let mut name_source = args.query.clone();
    if let Some(id) = &args.from_template {
        let template: super::templates::Template =
            super::templates::get(client, id)?.decode("template")?;
        if args.query.is_empty() {
            args.query = template.search_query.clone().unwrap_or_default();
        }
        if args.condition.is_none() {
            args.condition = template.condition_description.clone();
        }
        name_source = template.name.clone().unwrap_or_else(|| args.query.clone());
        if args.query.trim().is_empty() {
            return Err(Error::new(
                Kind::Server,
                format!("Template {id} has no search query"),
            ));
        }
    }
    let mut notifications = Vec::new();
    if let Some(url) = &args.webhook {
        notifications.push(json!({"type": "webhook", "url": url, "method": "POST"}));
    }
    if let Some(address) = &args.email {
        notifications.push(json!({"type": "email", "address": address}));
    }
    let mut body = create_body(
        &args.query,
        args.condition.as_deref(),
        if args.paused { "paused" } else { "active" },
        args.schedule.as_deref(),
        notifications,
    );
    if let Some(behavior) = &args.notify_behavior {
        body["notify_behavior"] = json!(behavior);
    }
    if args.run_immediately {
        body["run_immediately"] = json!(true);
    }

    let mut taken: Option<Vec<String>> = None;
    let mut attempt = 0;
    let created = loop {
        attempt += 1;
        let name = match &args.name {
            Some(name) => name.clone(),
            None => {
                let names = match taken.take() {
                    Some(names) => names,
                    None => task_names(client)?,
                };
                default_name(&name_source, &names)
            }
        };
        body["name"] = json!(name);
        match client.create_task(&body) {
            Ok(value) => break value,
            // The current server answers a duplicate name with a bare 500 and changes nothing.
            Err(err) if err.status == Some(500) => {
                let names = task_names(client)?;
                if !names.contains(&name) {
                    return Err(err);
                }
                if args.name.is_some() {
                    return Err(Error::new(
                        Kind::Rejected,
                        format!("A task named '{}' already exists", sanitize(&name)),
                    )
                    .with_status(500)
                    .hint("Choose another --name, or leave it out to get a unique one"));
                }
                if attempt >= 3 {
                    return Err(err);
                }
                taken = Some(names);
            }
            Err(err) => return Err(err),
        }
    };

    let (created, task) = pause_legacy_create(client, created, args.paused)?;
    warn_legacy_only(
        &task,
        args.schedule.is_some(),
        args.notify_behavior.is_some(),
    );
    if let Some(err) = &task.immediate_execution_error {
        stderr_line(&format!(
            "Warning: the first run could not start: {}",
            sanitize(err)
        ));
    }
    stderr_line(&format!(
        "{} Created task '{}' ({})",
        output.paint_err(Color::Green, "✓"),
        sanitize(task.name()),
        task.state_label()
    ));
    if output.json {
        output.json_text(out, created.text())?;
    } else {
        writeln!(out, "{}", task.id)?;
    }
    Ok(())
}

/// Current servers accept and ignore the legacy-only options; say so instead of pretending.
fn warn_legacy_only(task: &Task, schedule: bool, notify_behavior: bool) {
    if task.is_legacy() || task.state.is_none() {
        return;
    }
    for (given, flag) in [
        (schedule, "--schedule"),
        (notify_behavior, "--notify-behavior"),
    ] {
        if given {
            stderr_line(&format!(
                "Warning: this server ignores {flag}; it applies to legacy (0.0.2) servers only"
            ));
        }
    }
}

/// One create body for both generations: the current server ignores the legacy fields
/// (`is_active`, `schedule`, `config`) and the legacy server ignores `state`. A legacy task is
/// always created active, because one created inactive can later be neither resumed nor
/// deleted; [`pause_legacy_create`] pauses it afterwards.
pub fn create_body(
    query: &str,
    condition: Option<&str>,
    state: &str,
    schedule: Option<&str>,
    notifications: Vec<Value>,
) -> Value {
    json!({
        "search_query": query,
        "condition_description": condition.unwrap_or(query),
        "state": state,
        "is_active": true,
        "schedule": schedule.unwrap_or(DEFAULT_SCHEDULE),
        "config": {},
        "notifications": notifications,
    })
}

/// After a create meant to be paused: a legacy server made the task active, so pause it now.
pub fn pause_legacy_create(client: &Client, created: Json, paused: bool) -> Result<(Json, Task)> {
    let task = Task::decode(created.text())?;
    if paused && task.is_legacy() && task.is_active == Some(true) {
        let updated = client.update_task(&task.id, &json!({"is_active": false}))?;
        let task = Task::decode(updated.text())?;
        return Ok((updated, task));
    }
    Ok((created, task))
}

fn update(
    client: &Client,
    id: &str,
    changes: UpdateArgs,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    let mut body = Map::new();
    if let Some(name) = &changes.name {
        body.insert("name".into(), json!(name));
    }
    if let Some(query) = &changes.query {
        body.insert("search_query".into(), json!(query));
    }
    if let Some(condition) = &changes.condition {
        body.insert("condition_description".into(), json!(condition));
    }
    if let Some(active) = changes.active {
        body.insert(
            "state".into(),
            json!(if active { "active" } else { "paused" }),
        );
        body.insert("is_active".into(), json!(active));
    }
    if let Some(schedule) = &changes.schedule {
        body.insert("schedule".into(), json!(schedule));
    }
    if let Some(behavior) = &changes.notify_behavior {
        body.insert("notify_behavior".into(), json!(behavior));
    }
    if let Some(webhook) = &changes.webhook {
        // `notifications` replaces the whole list: keep everything but the old webhook.
        let current: Value = client
            .get_task(id)
            .map_err(|e| not_found(client, e, id))?
            .decode("task")?;
        let mut list: Vec<Value> = current
            .get("notifications")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        list.retain(|n| n.get("type").and_then(Value::as_str) != Some("webhook"));
        if let Some(url) = webhook {
            list.push(json!({"type": "webhook", "url": url, "method": "POST"}));
        }
        body.insert("notifications".into(), Value::Array(list));
    }
    let value = client
        .update_task(id, &Value::Object(body))
        .map_err(|e| not_found(client, e, id))?;
    let task = Task::decode(value.text())?;
    warn_legacy_only(
        &task,
        changes.schedule.is_some(),
        changes.notify_behavior.is_some(),
    );
    stderr_line(&format!(
        "{} Updated task {}",
        output.paint_err(Color::Green, "✓"),
        task.id
    ));
    if output.json {
        output.json_text(out, value.text())?;
    } else {
        write_task(&task, out)?;
    }
    Ok(())
}

/// Run `action` for each ID and return what succeeded, plus one summary error for the
/// failures (with the worst one's kind). Each failure is reported on stderr as it happens,
/// except with `--json`, where the summary names them all in its one JSON object.
fn for_each_id(
    ids: &[String],
    verb: &str,
    json: bool,
    mut action: impl FnMut(&str) -> Result<Option<Json>>,
) -> (Vec<Json>, Option<Error>) {
    let mut results = Vec::new();
    let mut failures: Vec<(String, Error)> = Vec::new();
    for id in ids {
        match action(id) {
            Ok(value) => results.extend(value),
            Err(err) if ids.len() == 1 => return (results, Some(err)),
            Err(err) => {
                if !json {
                    stderr_line(&format!("✗ {id}: {}", err.message));
                }
                failures.push((id.clone(), err));
            }
        }
    }
    let Some((_, worst)) = failures.iter().max_by_key(|(_, e)| e.exit_code()) else {
        return (results, None);
    };
    let mut message = format!(
        "{} of {} tasks could not be {verb}",
        failures.len(),
        ids.len()
    );
    if json {
        let each: Vec<String> = failures
            .iter()
            .map(|(id, err)| format!("{id}: {}", err.message))
            .collect();
        message = format!("{message}: {}", each.join("; "));
    }
    let mut summary = Error::new(worst.kind, message);
    summary.status = worst.status;
    (results, Some(summary))
}

/// After a command over several IDs: what succeeded is already on stdout (flushed, so it
/// survives the error), and the failure decides the exit code.
fn finish_bulk(failure: Option<Error>, out: &mut dyn Write) -> Result<()> {
    match failure {
        None => Ok(()),
        Some(err) => {
            out.flush()?;
            Err(err)
        }
    }
}

fn set_state(
    client: &Client,
    ids: &[String],
    state: StateFilter,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    let (verb, label, body) = match state {
        StateFilter::Active => (
            "resumed",
            "Resumed",
            json!({"state": "active", "is_active": true}),
        ),
        StateFilter::Paused => (
            "paused",
            "Paused",
            json!({"state": "paused", "is_active": false}),
        ),
        StateFilter::Completed => ("completed", "Completed", json!({"state": "completed"})),
    };
    let mut lines = Vec::new();
    let (results, failure) = for_each_id(ids, verb, output.json, |id| {
        let value = client
            .update_task(id, &body)
            .map_err(|e| not_found(client, e, id))?;
        let task = Task::decode(value.text())?;
        if task.state().map(|s| s.as_str()) != Some(state.as_str()) {
            let mut err = Error::new(
                Kind::Rejected,
                format!("Task {id} is {} after the change", task.state_label()),
            );
            if task.is_legacy() && state == StateFilter::Completed {
                err = Error::new(
                    Kind::Rejected,
                    "This server (legacy 0.0.2) has no completed state",
                )
                .hint(format!("Pause the task instead: torale task pause {id}"));
            }
            return Err(err);
        }
        lines.push(format!(
            "{} {label} {}  {}",
            output.paint(Color::Green, "✓"),
            task.id,
            sanitize(task.name())
        ));
        Ok(Some(value))
    });
    // Report what succeeded even when others failed; nothing at all when none did.
    if output.json && (failure.is_none() || !results.is_empty()) {
        output.json_array(out, results.iter().map(Json::text))?;
    } else {
        for line in &lines {
            writeln!(out, "{line}")?;
        }
    }
    finish_bulk(failure, out)
}

fn delete(
    client: &Client,
    ids: &[String],
    yes: bool,
    ignore_not_found: bool,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    if !yes {
        if !terminal::stdin_is_terminal() {
            return Err(Error::usage(
                "Refusing to delete without confirmation: standard input is not a terminal",
            )
            .hint("Add --yes (-y) to delete without asking"));
        }
        let question = match ids {
            [id] => format!("Delete task {id}?"),
            _ => format!("Delete {} tasks?", ids.len()),
        };
        if !terminal::confirm(&question)? {
            return Err(Error::usage("Not deleted: not confirmed"));
        }
    }
    let mut deleted = Vec::new();
    let (_, failure) = for_each_id(ids, "deleted", output.json, |id| {
        match client.delete_task(id) {
            Ok(_) => {
                deleted.push(json!({"id": id, "deleted": true}));
                Ok(None)
            }
            Err(err) if err.kind == Kind::NotFound && ignore_not_found => {
                deleted.push(json!({"id": id, "deleted": false}));
                Ok(None)
            }
            Err(err) => Err(not_found(client, err, id)),
        }
    });
    if output.json {
        if failure.is_none() || !deleted.is_empty() {
            output.json_value(out, &Value::Array(deleted))?;
        }
    } else {
        for item in &deleted {
            let id = item["id"].as_str().unwrap_or_default();
            if item["deleted"] == json!(true) {
                writeln!(out, "{} Deleted {id}", output.paint(Color::Green, "✓"))?;
            } else {
                writeln!(out, "- Not found {id} (ignored)")?;
            }
        }
    }
    finish_bulk(failure, out)
}

fn execute(
    client: &Client,
    id: &str,
    wait: bool,
    wait_timeout: Duration,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    let started = client
        .execute_task(id)
        .map_err(|e| not_found(client, e, id))?;
    let run = Execution::decode(started.text())?;
    if !wait {
        if output.json {
            output.json_text(out, started.text())?;
        } else {
            writeln!(out, "{}", run.id)?;
        }
        return Ok(());
    }
    let (last, status) = wait_for_run(client, id, &run.id, wait_timeout)?;
    let last = last.unwrap_or(started);
    let finished = Execution::decode(last.text())?;
    match status {
        RunStatus::Succeeded => {
            let outcome = match finished.notification_text() {
                Some(text) => format!("condition met: {}", sanitize(&text)),
                None => "condition not met".into(),
            };
            stderr_line(&format!(
                "{} Run {} succeeded in {}; {outcome}",
                output.paint_err(Color::Green, "✓"),
                finished.id,
                duration_between(
                    finished.started_at.as_deref(),
                    finished.completed_at.as_deref()
                )
            ));
            if output.json {
                output.json_text(out, last.text())?;
            } else {
                writeln!(out, "{}", finished.id)?;
            }
            Ok(())
        }
        RunStatus::Failed => {
            let why = finished
                .error_message
                .as_deref()
                .map(|m| format!(": {}", sanitize(m)))
                .unwrap_or_default();
            let mut err = Error::new(
                Kind::RunFailed,
                format!("Run {} {}{why}", finished.id, finished.status()),
            );
            if finished.status() == "retrying" {
                err = err.hint("A temporary failure: the scheduler runs the task again later");
            }
            Err(err.hint(format!("See the task's runs with 'torale task logs {id}'")))
        }
        RunStatus::Waiting => Err(Error::new(
            Kind::Pending,
            format!(
                "Run {} is still {} after {}s",
                finished.id,
                finished.status(),
                wait_timeout.as_secs()
            ),
        )
        .hint(format!(
            "Check later with 'torale task logs {id}', or wait longer with --wait-timeout"
        ))),
    }
}

/// Poll the task's executions until `run_id` ends or the timeout passes. Returns the last
/// copy of the run seen (if any) and how it stands.
fn wait_for_run(
    client: &Client,
    task_id: &str,
    run_id: &str,
    timeout: Duration,
) -> Result<(Option<Json>, RunStatus)> {
    let start = Instant::now();
    let deadline = start + timeout;
    let progress = io::stderr().is_terminal();
    let mut last: Option<Json> = None;
    let mut delay = Duration::from_millis(250);
    loop {
        let now = Instant::now();
        let remaining = deadline.saturating_duration_since(now);
        std::thread::sleep(delay.min(remaining));
        let doc = client
            .executions(task_id, WAIT_PAGE)
            .map_err(|e| not_found(client, e, task_id))?;
        let mut found = None;
        for item in doc.items("execution list")? {
            let run = Execution::decode(item.get())?;
            if run.id == run_id {
                found = Some((run, item));
                break;
            }
        }
        if let Some((run, item)) = found {
            let status = run.run_status();
            if progress {
                let mut err = io::stderr().lock();
                let _ = write!(
                    err,
                    "\rWaiting for run {run_id}: {:<10} {:>4}s",
                    sanitize(run.status()),
                    start.elapsed().as_secs()
                );
                if status != RunStatus::Waiting {
                    let _ = writeln!(err);
                }
            }
            last = Some(Json::from_raw(item));
            if status != RunStatus::Waiting {
                return Ok((last, status));
            }
        }
        if Instant::now() >= deadline {
            if progress {
                let _ = writeln!(io::stderr());
            }
            return Ok((last, RunStatus::Waiting));
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn write_executions(
    items: &[&RawValue],
    notifications: bool,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    if output.json {
        output.json_array(out, items.iter().map(|item| item.get()))?;
        return Ok(());
    }
    if items.is_empty() {
        stderr_line(if notifications {
            "No notifications yet"
        } else {
            "No runs yet"
        });
        return Ok(());
    }
    let runs = items
        .iter()
        .map(|item| Execution::decode(item.get()))
        .collect::<Result<Vec<_>>>()?;
    let mut table = if notifications {
        Table::new(vec!["ID", "STARTED", "NOTIFICATION", "SOURCES"]).flexible(2)
    } else {
        Table::new(vec![
            "ID", "STARTED", "STATUS", "DURATION", "RESULT", "SOURCES",
        ])
        .flexible(4)
    };
    for run in &runs {
        let result = match (run.notification_text(), &run.error_message) {
            (Some(text), _) => text,
            (None, Some(err))
                if run.run_status() == RunStatus::Failed || run.status() == "retrying" =>
            {
                err.clone()
            }
            (None, _) if run.status() == "success" => "condition not met".into(),
            _ => "-".into(),
        };
        let result = result.replace(['\n', '\r'], " ");
        let sources = source_domains(&run.source_urls());
        let started = short_time(run.started_at.as_deref());
        if notifications {
            table.row(vec![run.id.clone(), started, result, sources]);
        } else {
            let status = run.status().to_string();
            table.row(vec![
                run.id.clone(),
                started,
                status,
                duration_between(run.started_at.as_deref(), run.completed_at.as_deref()),
                result,
                sources,
            ]);
        }
    }
    table.write(out, output)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_never_collide() {
        let taken = vec!["When is the next iPhone release".to_string()];
        assert_eq!(
            default_name("When is the next iPhone release?", &[]),
            "When is the next iPhone release"
        );
        assert_eq!(
            default_name("When is the next iPhone release?", &taken),
            "When is the next iPhone release (2)"
        );
        let long = "word ".repeat(40);
        assert!(default_name(&long, &[]).chars().count() <= 60);
        assert_eq!(default_name("???", &[]), "Task");
    }
}
