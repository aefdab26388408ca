//! `torale task`: create, list, inspect, change, run and delete monitoring tasks, on current
//! and legacy (0.0.2) servers alike.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use lexopt::Parser;

use super::{
    check_uuid, cmd, count_words, once, one_of, parse_count, rest, Cmd, Context, GlobalOpts,
};
use crate::client::Client;
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
(--condition). IDs are the tasks' UUIDs, printed in full so scripts can use them; a task
can also be named by its name or by a unique start of its ID (at least 4 characters).

Usage: torale task <COMMAND>

Commands:
  list           List your tasks (also: ls)
  get            Show one task, its notifications and its last run (also: show)
  create         Create a task
  update         Change a task's fields
  pause          Pause tasks (no scheduled runs)
  resume         Make paused or completed tasks active again
  complete       Mark tasks as completed
  delete         Delete tasks (asks first on a terminal; also: rm)
  execute        Run a task now; --wait for the outcome (also: run)
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

pub const COMMANDS: &[Cmd] = &[
    cmd("list", &["ls"], LIST_HELP),
    cmd("get", &["show"], GET_HELP),
    cmd("create", &[], CREATE_HELP),
    cmd("update", &[], UPDATE_HELP),
    cmd("pause", &[], PAUSE_HELP),
    cmd("resume", &[], RESUME_HELP),
    cmd("complete", &[], COMPLETE_HELP),
    cmd("delete", &["rm"], DELETE_HELP),
    cmd("execute", &["run"], EXECUTE_HELP),
    cmd("logs", &[], LOGS_HELP),
    cmd("notifications", &[], NOTIFICATIONS_HELP),
    cmd("apply", &[], super::apply::HELP),
    cmd("preview", &[], PREVIEW_HELP),
];

/// `--active`, `--paused`, `--completed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateFilter {
    Active,
    Paused,
    Completed,
}

impl StateFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            StateFilter::Active => "active",
            StateFilter::Paused => "paused",
            StateFilter::Completed => "completed",
        }
    }
}

const STATES: &[(StateFilter, &str)] = &[
    (StateFilter::Active, "active"),
    (StateFilter::Paused, "paused"),
    (StateFilter::Completed, "completed"),
];

#[derive(Debug, Default, PartialEq)]
pub struct CreateArgs {
    /// Empty when the query comes from `--from-template`.
    pub query: String,
    pub from_template: Option<String>,
    pub condition: Option<String>,
    pub name: Option<String>,
    pub webhook: Option<String>,
    pub email: Option<String>,
    pub paused: bool,
    pub run_immediately: bool,
    pub schedule: Option<String>,
    pub notify_behavior: Option<String>,
}

#[derive(Debug, Default, PartialEq)]
pub struct UpdateArgs {
    pub name: Option<String>,
    pub query: Option<String>,
    pub condition: Option<String>,
    /// `--active` (true) or `--inactive` (false).
    pub active: Option<bool>,
    /// `Some(Some(url))` for `--webhook URL`, `Some(None)` for `--no-webhook`.
    pub webhook: Option<Option<String>>,
    pub schedule: Option<String>,
    pub notify_behavior: Option<String>,
}

#[derive(Debug, PartialEq)]
pub enum Command {
    List {
        state: Option<StateFilter>,
        limit: Option<usize>,
    },
    Get {
        id: String,
    },
    Create(CreateArgs),
    Update {
        id: String,
        changes: UpdateArgs,
    },
    /// `pause`, `resume` and `complete`.
    SetState {
        ids: Vec<String>,
        state: StateFilter,
    },
    Delete {
        ids: Vec<String>,
        yes: bool,
        ignore_not_found: bool,
    },
    Execute {
        id: String,
        wait: bool,
        wait_timeout: u64,
    },
    Logs {
        id: String,
        limit: usize,
        status: Option<String>,
        notifications_only: bool,
    },
    Notifications {
        id: String,
        limit: usize,
    },
    Apply(super::apply::Options),
    Preview,
}

pub const DEFAULT_WAIT_TIMEOUT: u64 = 300;
pub const DEFAULT_LOG_LIMIT: usize = 20;

/// `torale task ...`, after the word `task`.
pub fn parse(p: &mut Parser, g: &mut GlobalOpts) -> Result<Command> {
    let group = super::TREE.find("task").map_or(COMMANDS, |c| c.commands);
    let sub = Cmd { commands: group, ..cmd("task", &[], HELP) }.subcommand("task", p, g)?;
    if sub == "preview" {
        // Whatever the old CLI's preview took, the answer is the same explanation.
        return Ok(Command::Preview);
    }
    let path = format!("task {sub}");
    parse_sub(sub, p, g).map_err(|e| e.see_help(&path))
}

fn parse_sub(sub: &str, p: &mut Parser, g: &mut GlobalOpts) -> Result<Command> {
    let mut v = Values::default();
    let words = rest(p, g, |name, p| v.take(sub, name, p))?;
    let ids = |min, max| -> Result<Vec<String>> {
        count_words(&words, min, max, "task ID")?;
        // A task is named by its ID, its name or a unique ID prefix; run() looks it up.
        if words.iter().any(|w| w.trim().is_empty()) {
            return Err(Error::usage("A task ID or name is empty"));
        }
        Ok(words.clone())
    };
    let first = |ids: Vec<String>| ids.into_iter().next().unwrap_or_default();
    let limit = match &v.limit {
        Some(n) => Some(parse_count(n, "--limit")?),
        None => None,
    };
    Ok(match sub {
        "list" => {
            count_words(&words, 0, 0, "")?;
            Command::List { state: v.state, limit }
        }
        "get" => Command::Get { id: first(ids(1, 1)?) },
        "create" => {
            if !words.is_empty() {
                return Err(Error::usage(format!(
                    "Unexpected argument '{}'",
                    crate::error::sanitize(&words[0])
                ))
                .hint("Quote the question: torale task create -q \"When is ...?\""));
            }
            let query = match (v.query.take(), &v.from_template) {
                (Some(q), _) if !q.trim().is_empty() => q,
                (Some(_), _) => return Err(Error::usage("The query (-q) is empty")),
                (None, Some(_)) => String::new(),
                (None, None) => {
                    return Err(Error::usage("Missing --query (-q)")
                        .hint("Or start from a template: --from-template ID"))
                }
            };
            if let Some(id) = &v.from_template {
                check_uuid(id, "template ID")?;
            }
            let create = CreateArgs {
                query,
                from_template: v.from_template,
                condition: v.condition,
                name: v.name,
                webhook: v.webhook,
                email: v.email,
                paused: v.state == Some(StateFilter::Paused),
                run_immediately: v.run_immediately,
                schedule: v.schedule,
                notify_behavior: v.notify_behavior,
            };
            check_create(&create)?;
            Command::Create(create)
        }
        "update" => {
            let id = first(ids(1, 1)?);
            if v.webhook.is_some() && v.no_webhook {
                return Err(Error::usage("Use only one of --webhook, --no-webhook"));
            }
            let changes = UpdateArgs {
                name: v.name,
                query: v.query,
                condition: v.condition,
                active: v.state.map(|s| s == StateFilter::Active),
                webhook: if v.no_webhook { Some(None) } else { v.webhook.map(Some) },
                schedule: v.schedule,
                notify_behavior: v.notify_behavior,
            };
            check_update(&changes)?;
            if changes == UpdateArgs::default() {
                return Err(Error::usage("Nothing to update: give at least one field to change"));
            }
            Command::Update { id, changes }
        }
        "pause" | "resume" | "complete" => Command::SetState {
            ids: ids(1, usize::MAX)?,
            state: match sub {
                "pause" => StateFilter::Paused,
                "resume" => StateFilter::Active,
                _ => StateFilter::Completed,
            },
        },
        "delete" => Command::Delete {
            ids: ids(1, usize::MAX)?,
            yes: v.yes,
            ignore_not_found: v.ignore_not_found,
        },
        "execute" => Command::Execute {
            id: first(ids(1, 1)?),
            wait: v.wait || v.wait_timeout.is_some(),
            wait_timeout: match &v.wait_timeout {
                Some(n) => parse_count(n, "--wait-timeout")? as u64,
                None => DEFAULT_WAIT_TIMEOUT,
            },
        },
        "logs" => Command::Logs {
            id: first(ids(1, 1)?),
            limit: limit.unwrap_or(DEFAULT_LOG_LIMIT),
            status: match v.status {
                Some(s) => Some(check_status(&s)?),
                None => None,
            },
            notifications_only: v.notifications_only,
        },
        "notifications" => Command::Notifications {
            id: first(ids(1, 1)?),
            limit: limit.unwrap_or(DEFAULT_LOG_LIMIT),
        },
        "apply" => {
            count_words(&words, 0, 0, "")?;
            let Some(file) = v.file else {
                return Err(Error::usage("Missing --file (-f)"));
            };
            if v.exit_code && !v.dry_run {
                return Err(Error::usage("--exit-code goes with --dry-run"));
            }
            Command::Apply(super::apply::Options {
                file,
                dry_run: v.dry_run,
                exit_code: v.exit_code,
                prune: v.prune,
                yes: v.yes,
            })
        }
        _ => return Err(Error::usage(format!("Unknown task command '{sub}'"))),
    })
}

/// The options of every task subcommand, each taken only where its subcommand has it.
#[derive(Default)]
struct Values {
    state: Option<StateFilter>,
    limit: Option<String>,
    query: Option<String>,
    condition: Option<String>,
    name: Option<String>,
    webhook: Option<String>,
    no_webhook: bool,
    email: Option<String>,
    run_immediately: bool,
    schedule: Option<String>,
    notify_behavior: Option<String>,
    from_template: Option<String>,
    yes: bool,
    ignore_not_found: bool,
    wait: bool,
    wait_timeout: Option<String>,
    status: Option<String>,
    notifications_only: bool,
    file: Option<String>,
    dry_run: bool,
    exit_code: bool,
    prune: bool,
}

impl Values {
    /// Take option `name` if subcommand `sub` has it; whether it did.
    fn take(&mut self, sub: &str, name: &str, p: &mut Parser) -> Result<bool> {
        let creates = sub == "create";
        let edits = creates || sub == "update";
        match (sub, name) {
            ("list", "active" | "paused" | "completed") => {
                let state = STATES.iter().find(|(_, n)| *n == name).map(|(s, _)| *s);
                one_of(&mut self.state, state.unwrap_or(StateFilter::Active), STATES)?
            }
            ("list" | "logs" | "notifications", "limit") => once(&mut self.limit, "limit", p)?,
            (_, "query" | "q") if edits => once(&mut self.query, "query", p)?,
            (_, "condition" | "c") if edits => once(&mut self.condition, "condition", p)?,
            (_, "name" | "n") if edits => once(&mut self.name, "name", p)?,
            (_, "webhook" | "w") if edits => once(&mut self.webhook, "webhook", p)?,
            (_, "schedule" | "s") if edits => once(&mut self.schedule, "schedule", p)?,
            (_, "notify-behavior") if edits => {
                once(&mut self.notify_behavior, "notify-behavior", p)?
            }
            ("create", "email") => once(&mut self.email, "email", p)?,
            ("create", "paused") => self.state = Some(StateFilter::Paused),
            ("create", "run-immediately") => self.run_immediately = true,
            ("create", "from-template") => once(&mut self.from_template, "from-template", p)?,
            ("update", "active" | "inactive") => {
                let state =
                    if name == "active" { StateFilter::Active } else { StateFilter::Paused };
                one_of(
                    &mut self.state,
                    state,
                    &[(StateFilter::Active, "active"), (StateFilter::Paused, "inactive")],
                )?
            }
            ("update", "no-webhook") => self.no_webhook = true,
            ("delete" | "apply", "yes" | "y") => self.yes = true,
            ("delete", "ignore-not-found") => self.ignore_not_found = true,
            ("execute", "wait") => self.wait = true,
            ("execute", "wait-timeout") => once(&mut self.wait_timeout, "wait-timeout", p)?,
            ("logs", "status") => once(&mut self.status, "status", p)?,
            ("logs", "notifications-only") => self.notifications_only = true,
            ("apply", "file" | "f") => once(&mut self.file, "file", p)?,
            ("apply", "dry-run") => self.dry_run = true,
            ("apply", "exit-code") => self.exit_code = true,
            ("apply", "prune") => self.prune = true,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn check_create(args: &CreateArgs) -> Result<()> {
    if args.condition.as_ref().is_some_and(|c| c.trim().is_empty()) {
        return Err(Error::usage("The value of --condition is empty"));
    }
    if let Some(url) = &args.webhook {
        check_webhook(url)?;
    }
    if let Some(email) = &args.email {
        let valid = email.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
        });
        if !valid {
            return Err(Error::usage(format!(
                "Invalid --email '{email}': expected an address like me@example.com"
            )));
        }
    }
    check_legacy_options(args.schedule.as_deref(), args.notify_behavior.as_deref())?;
    if let Some(name) = &args.name {
        if name.trim().is_empty() {
            return Err(Error::usage("The task name (--name) is empty"));
        }
    }
    Ok(())
}

/// `--schedule` (a 5-field cron) and `--notify-behavior`, which only legacy servers use.
fn check_legacy_options(schedule: Option<&str>, notify_behavior: Option<&str>) -> Result<()> {
    if let Some(cron) = schedule {
        check_cron(cron)
            .map_err(|why| Error::usage(format!("Invalid --schedule '{cron}': {why}")))?;
    }
    match notify_behavior {
        Some(b) => check_notify_behavior(b),
        None => Ok(()),
    }
}

fn check_update(changes: &UpdateArgs) -> Result<()> {
    if let Some(Some(url)) = &changes.webhook {
        check_webhook(url)?;
    }
    check_legacy_options(changes.schedule.as_deref(), changes.notify_behavior.as_deref())?;
    for (flag, value) in [
        ("--name", &changes.name),
        ("--query", &changes.query),
        ("--condition", &changes.condition),
    ] {
        if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
            return Err(Error::usage(format!("The value of {flag} is empty")));
        }
    }
    Ok(())
}

fn check_webhook(url: &str) -> Result<()> {
    let host = url.strip_prefix("https://").unwrap_or("");
    if host.is_empty() || host.starts_with('/') || url.contains(char::is_whitespace) {
        return Err(Error::usage(format!(
            "Invalid --webhook '{url}': the API accepts only https:// URLs"
        )));
    }
    Ok(())
}

fn check_notify_behavior(value: &str) -> Result<()> {
    if matches!(value, "once" | "always" | "track_state") {
        return Ok(());
    }
    Err(Error::usage(format!(
        "Invalid --notify-behavior '{value}': use once, always or track_state"
    )))
}

fn check_status(value: &str) -> Result<String> {
    const STATUSES: [&str; 6] =
        ["pending", "running", "success", "retrying", "failed", "cancelled"];
    let lower = value.to_ascii_lowercase();
    if STATUSES.contains(&lower.as_str()) {
        return Ok(lower);
    }
    Err(Error::usage(format!("Invalid --status '{value}': use one of {}", STATUSES.join(", "))))
}

/// Check a 5-field cron expression (minute hour day-of-month month day-of-week).
pub fn check_cron(expr: &str) -> std::result::Result<(), String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected 5 fields (minute hour day month weekday), found {}",
            fields.len()
        ));
    }
    const MONTHS: [&str; 12] =
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let specs: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day of month", 1, 31, &[]),
        ("month", 1, 12, &MONTHS),
        ("day of week", 0, 7, &DAYS),
    ];
    for (field, (what, min, max, names)) in fields.iter().zip(specs) {
        let value = |text: &str| -> std::result::Result<u32, String> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
                return Ok(i as u32 + if what == "month" { 1 } else { 0 });
            }
            match text.parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(format!("{what} '{text}' is not in {min}-{max}")),
            }
        };
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (part, None),
            };
            if let Some(step) = step {
                if !step.parse::<u32>().is_ok_and(|s| s >= 1 && s <= max.max(1)) {
                    return Err(format!("{what} step '{step}' is not valid"));
                }
            }
            if range == "*" {
                continue;
            }
            match range.split_once('-') {
                Some((a, b)) => {
                    if value(a)? > value(b)? {
                        return Err(format!("{what} range '{range}' is backwards"));
                    }
                }
                None => {
                    value(range)?;
                }
            }
        }
    }
    Ok(())
}

/// Executions fetched per poll while waiting; the new run is among the newest.
const WAIT_PAGE: usize = 20;

pub fn run(command: Command, cx: &Context, out: &mut dyn Write) -> Result<u8> {
    if command == Command::Preview {
        return preview().map(|()| 0);
    }
    let (client, _) = cx.client(true)?;
    let client = &client;
    let output = &cx.output;
    let mut tasks = Tasks::new(client);
    match command {
        Command::List { state, limit } => list(client, state, limit, output, out),
        Command::Get { id } => {
            let id = tasks.id(&id)?;
            let value = client.get_task(&id).map_err(|e| not_found(client, e, &id))?;
            if output.json {
                output.json_text(out, value.text())?;
            } else {
                write_task(&Task::decode(value.text())?, out)?;
            }
            Ok(())
        }
        Command::Create(args) => create(client, args, output, out),
        Command::Update { id, changes } => update(client, &tasks.id(&id)?, changes, output, out),
        Command::SetState { ids, state } => {
            set_state(client, &tasks.ids(&ids)?, state, output, out)
        }
        Command::Delete { ids, yes, ignore_not_found } => {
            return delete(&mut tasks, &ids, yes, ignore_not_found, output, out)
        }
        Command::Execute { id, wait, wait_timeout } => {
            execute(client, &tasks.id(&id)?, wait, Duration::from_secs(wait_timeout), output, out)
        }
        Command::Logs { id, limit, status, notifications_only } => {
            let id = tasks.id(&id)?;
            let doc = if notifications_only {
                client.notifications(&id, limit)
            } else {
                client.executions(&id, limit)
            }
            .map_err(|e| not_found(client, e, &id))?;
            let mut items = doc.items("execution list")?;
            let mut empty = "No runs yet".to_string();
            if let Some(status) = &status {
                let mut kept = Vec::with_capacity(items.len());
                for item in items {
                    if Execution::decode(item.get())?.status() == status {
                        kept.push(item);
                    }
                }
                items = kept;
                empty = format!("No {status} runs");
            }
            write_executions(&items, false, &empty, output, out)
        }
        Command::Notifications { id, limit } => {
            let id = tasks.id(&id)?;
            let doc = client.notifications(&id, limit).map_err(|e| not_found(client, e, &id))?;
            let items = doc.items("notification list")?;
            write_executions(&items, true, "No notifications yet", output, out)
        }
        Command::Apply(options) => return super::apply::run(client, options, output, out),
        Command::Preview => preview(),
    }
    .map(|()| 0)
}

/// Tasks named on the command line by full ID, by name or by a unique ID prefix, as git and
/// docker take prefixes. A full ID costs no request; anything else one list of the tasks.
struct Tasks<'a> {
    client: &'a Client,
    /// `(id, name)` of every task, fetched once when first needed.
    all: Option<Vec<(String, String)>>,
}

impl<'a> Tasks<'a> {
    fn new(client: &'a Client) -> Tasks<'a> {
        Tasks { client, all: None }
    }

    fn all(&mut self) -> Result<&[(String, String)]> {
        if self.all.is_none() {
            let doc = self.client.list_tasks(None)?;
            let mut all = Vec::new();
            for item in doc.items("task list")? {
                let task = Task::decode(item.get())?;
                all.push((task.id.clone(), task.name().to_string()));
            }
            self.all = Some(all);
        }
        Ok(self.all.as_deref().unwrap_or_default())
    }

    /// The full ID of the task `reference` names: an exact name first, then a unique prefix
    /// of at least 4 hex characters.
    fn id(&mut self, reference: &str) -> Result<String> {
        if super::is_uuid(reference) {
            return Ok(reference.to_ascii_lowercase());
        }
        let all = self.all()?;
        let mut found: Vec<&(String, String)> =
            all.iter().filter(|(_, name)| name == reference).collect();
        let hex = reference.chars().filter(char::is_ascii_hexdigit).count();
        let prefix_like = reference.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if found.is_empty() && hex >= 4 && prefix_like {
            let lower = reference.to_ascii_lowercase();
            found = all.iter().filter(|(id, _)| id.starts_with(&lower)).collect();
        }
        let shown = crate::error::sanitize(reference);
        match found.as_slice() {
            [(id, _)] => Ok(id.clone()),
            [] => {
                Err(Error::new(Kind::NotFound, format!("No task named or starting with '{shown}'"))
                    .hint("List your tasks with 'torale task list'"))
            }
            many => {
                let mut err = Error::usage(format!(
                    "'{shown}' matches {} tasks; give more of the ID",
                    many.len()
                ));
                for (id, name) in many {
                    err = err.hint(format!("{id}  {}", crate::error::sanitize(name)));
                }
                Err(err)
            }
        }
    }

    fn ids(&mut self, references: &[String]) -> Result<Vec<String>> {
        references.iter().map(|r| self.id(r)).collect()
    }

    /// A task's name for a question, when it can be had.
    fn name(&mut self, id: &str) -> Option<String> {
        if let Some(all) = &self.all {
            return all.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone());
        }
        let doc = self.client.get_task(id).ok()?;
        Task::decode(doc.text()).ok().map(|t| t.name().to_string())
    }
}

/// `task preview`: the API dropped the endpoint; say so and show the alternative (exit 2).
pub fn preview() -> Result<()> {
    Err(Error::usage("Task preview is no longer offered by the Torale API")
        .hint("Create the task paused, run it once and read the result:")
        .hint("  ID=$(torale task create -q \"QUERY\" --paused)")
        .hint("  torale task execute \"$ID\" --wait && torale task logs \"$ID\" --limit 1"))
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
    // The server's list as it came when nothing is left out: not parsed again, not copied.
    if output.json && state.is_none() && limit.is_none() && doc.text().trim_start().starts_with('[')
    {
        return output.json_text(out, doc.text());
    }
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
        return output.json_array(out, items.iter().map(|item| item.get()));
    }
    if items.is_empty() {
        stderr_line("No tasks");
        return Ok(());
    }
    let mut table =
        Table::new(vec!["ID", "NAME", "STATE", "NEXT RUN", "LAST RUN", "CREATED"]).flexible(1);
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
        ("Condition", task.condition_description.clone().unwrap_or_default()),
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
    if let Some(evidence) =
        task.last_known_state.as_ref().and_then(|s| s.get("evidence")).and_then(Value::as_str)
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
    (2..).map(|n| format!("{base} ({n})")).find(|name| !taken.contains(name)).unwrap_or(base)
}

fn task_names(client: &Client) -> Result<Vec<String>> {
    let value = client.list_tasks(None)?;
    Ok(value.decode::<Vec<Task>>("task list")?.into_iter().filter_map(|t| t.name).collect())
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
            return Err(Error::new(Kind::Server, format!("Template {id} has no search query")));
        }
    }
    let mut notifications = Vec::new();
    if let Some(url) = &args.webhook {
        notifications.push(json!({"type": "webhook", "url": url, "method": "POST"}));
    }
    if let Some(address) = &args.email {
        notifications.push(json!({"type": "email", "address": address}));
    }
    let mut body = crate::model::create_body(
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

    let (created, task) = client.pause_legacy_create(created, args.paused)?;
    warn_legacy_only(&task, args.schedule.is_some(), args.notify_behavior.is_some());
    if let Some(err) = &task.immediate_execution_error {
        stderr_line(&format!("Warning: the first run could not start: {}", sanitize(err)));
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
    for (given, flag) in [(schedule, "--schedule"), (notify_behavior, "--notify-behavior")] {
        if given {
            stderr_line(&format!(
                "Warning: this server ignores {flag}; it applies to legacy (0.0.2) servers only"
            ));
        }
    }
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
        body.insert("state".into(), json!(if active { "active" } else { "paused" }));
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
        let current: Value =
            client.get_task(id).map_err(|e| not_found(client, e, id))?.decode("task")?;
        let mut list: Vec<Value> =
            current.get("notifications").and_then(Value::as_array).cloned().unwrap_or_default();
        list.retain(|n| n.get("type").and_then(Value::as_str) != Some("webhook"));
        if let Some(url) = webhook {
            list.push(json!({"type": "webhook", "url": url, "method": "POST"}));
        }
        body.insert("notifications".into(), Value::Array(list));
    }
    let value =
        client.update_task(id, &Value::Object(body)).map_err(|e| not_found(client, e, id))?;
    let task = Task::decode(value.text())?;
    warn_legacy_only(&task, changes.schedule.is_some(), changes.notify_behavior.is_some());
    stderr_line(&format!("{} Updated task {}", output.paint_err(Color::Green, "✓"), task.id));
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
    let mut message = format!("{} of {} tasks could not be {verb}", failures.len(), ids.len());
    if json {
        let each: Vec<String> =
            failures.iter().map(|(id, err)| format!("{id}: {}", err.message)).collect();
        message = format!("{message}: {}", each.join("; "));
    }
    let mut summary = Error::new(worst.kind, message);
    summary.status = worst.status;
    (results, Some(summary))
}

/// After a command over several IDs: what succeeded is already on stdout (flushed, so it
/// survives the error), and the failure decides the exit code.
fn finish_bulk(failure: Option<Error>) -> Result<()> {
    match failure {
        None => Ok(()),
        Some(err) => Err(err.keep_output()),
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
        StateFilter::Active => {
            ("resumed", "Resumed", json!({"state": "active", "is_active": true}))
        }
        StateFilter::Paused => ("paused", "Paused", json!({"state": "paused", "is_active": false})),
        StateFilter::Completed => ("completed", "Completed", json!({"state": "completed"})),
    };
    let mut lines = Vec::new();
    let (results, failure) = for_each_id(ids, verb, output.json, |id| {
        let value = client.update_task(id, &body).map_err(|e| not_found(client, e, id))?;
        let task = Task::decode(value.text())?;
        if task.state().map(|s| s.as_str()) != Some(state.as_str()) {
            let mut err = Error::new(
                Kind::Rejected,
                format!("Task {id} is {} after the change", task.state_label()),
            );
            if task.is_legacy() && state == StateFilter::Completed {
                err =
                    Error::new(Kind::Rejected, "This server (legacy 0.0.2) has no completed state")
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
    finish_bulk(failure)
}

fn delete(
    tasks: &mut Tasks,
    references: &[String],
    yes: bool,
    ignore_not_found: bool,
    output: &Output,
    out: &mut dyn Write,
) -> Result<u8> {
    let client = tasks.client;
    let ids = &tasks.ids(references)?;
    if !yes {
        if !terminal::stdin_is_terminal() {
            return Err(Error::usage(
                "Refusing to delete without confirmation: standard input is not a terminal",
            )
            .hint("Add --yes (-y) to delete without asking"));
        }
        let question = match ids.as_slice() {
            [id] => match tasks.name(id) {
                Some(name) => format!("Delete task '{}' ({})?", sanitize(&name), &id[..8]),
                None => format!("Delete task {id}?"),
            },
            _ => format!("Delete {} tasks?", ids.len()),
        };
        if !terminal::confirm(&question)? {
            // Answering no is a choice, not a failure to report; the code still says so.
            stderr_line("Not deleted");
            return Ok(2);
        }
    }
    let mut deleted = Vec::new();
    let (_, failure) =
        for_each_id(ids, "deleted", output.json, |id| match client.delete_task(id) {
            Ok(_) => {
                deleted.push(json!({"id": id, "deleted": true}));
                Ok(None)
            }
            Err(err) if err.kind == Kind::NotFound && ignore_not_found => {
                deleted.push(json!({"id": id, "deleted": false}));
                Ok(None)
            }
            Err(err) => Err(not_found(client, err, id)),
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
    finish_bulk(failure).map(|()| 0)
}

fn execute(
    client: &Client,
    id: &str,
    wait: bool,
    wait_timeout: Duration,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    let started = client.execute_task(id).map_err(|e| not_found(client, e, id))?;
    let run = Execution::decode(started.text())?;
    if !wait {
        if output.json {
            output.json_text(out, started.text())?;
        } else {
            writeln!(out, "{}", run.id)?;
        }
        return Ok(());
    }
    // The run's ID comes first, so a wait that ends early never loses the run.
    stderr_line(&format!("Started run {}; waiting up to {}s", run.id, wait_timeout.as_secs()));
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
                duration_between(finished.started_at.as_deref(), finished.completed_at.as_deref())
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
            let err = Error::new(
                Kind::RunFailed,
                format!("Run {} {}{why}", finished.id, finished.status()),
            );
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
    let mut told_retrying = false;
    let mut delay = Duration::from_millis(250);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        crate::client::sleep(delay.min(remaining));
        // A poll is bounded by the wait's deadline; a transient failure (5xx, 429, a
        // dropped connection) is polled again until then.
        let doc = match client.until(deadline).executions(task_id, WAIT_PAGE) {
            Ok(doc) => doc,
            Err(err) if is_transient(&err) && Instant::now() < deadline => {
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(err) if is_transient(&err) => return Ok((last, RunStatus::Waiting)),
            Err(err) => return Err(not_found(client, err, task_id)),
        };
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
            if run.status() == "retrying" && !told_retrying {
                told_retrying = true;
                let why = run.error_message.as_deref().unwrap_or("no reason given");
                stderr_line(&format!("Run {run_id} is retrying: {}", sanitize(why)));
            }
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

/// A failure that a later poll may not meet: server errors, rate limits, the network.
fn is_transient(err: &Error) -> bool {
    matches!(err.kind, Kind::Server | Kind::RateLimited | Kind::Network)
}

fn write_executions(
    items: &[&RawValue],
    notifications: bool,
    empty: &str,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    if output.json {
        output.json_array(out, items.iter().map(|item| item.get()))?;
        return Ok(());
    }
    if items.is_empty() {
        stderr_line(empty);
        return Ok(());
    }
    let runs =
        items.iter().map(|item| Execution::decode(item.get())).collect::<Result<Vec<_>>>()?;
    let mut table = if notifications {
        Table::new(vec!["ID", "STARTED", "NOTIFICATION", "SOURCES"]).flexible(2)
    } else {
        Table::new(vec!["ID", "STARTED", "STATUS", "DURATION", "RESULT", "SOURCES"]).flexible(4)
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
