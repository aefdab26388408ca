//! `torale task`: create, list, inspect, change, run and delete monitoring tasks, on current
//! and legacy (0.0.2) servers alike.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use lexopt::Parser;
use serde_json::{json, Map, Value};

use super::templates::{self, Template};
use super::{
    check_uuid, cmd, count_words, is_uuid, once, one_of, parse_count, rest, Cmd, Context,
    GlobalOpts,
};
use crate::client::Client;
use crate::error::{sanitize, Error, Kind, Result};
use crate::model::{create_body, each_item, Execution, Json, RunStatus, Task, TaskState};
use crate::output::{
    duration_between, short_time, source_domains, stderr_line, write_pairs, Color, Output, Table,
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

/// A task subcommand, parsed once from its name or an alias.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Sub {
    #[default]
    List,
    Get,
    Create,
    Update,
    Pause,
    Resume,
    Complete,
    Delete,
    Execute,
    Logs,
    Notifications,
    Apply,
    Preview,
}

/// Every subcommand with its row in the command tree, in help order. The parser finds the
/// variants here, so a variant without a row is never constructed and fails the dead-code
/// lint; `run` matches every variant.
const SUBS: [(Sub, Cmd); 13] = [
    (Sub::List, cmd("list", &["ls"], LIST_HELP)),
    (Sub::Get, cmd("get", &["show"], GET_HELP)),
    (Sub::Create, cmd("create", &[], CREATE_HELP)),
    (Sub::Update, cmd("update", &[], UPDATE_HELP)),
    (Sub::Pause, cmd("pause", &[], PAUSE_HELP)),
    (Sub::Resume, cmd("resume", &[], RESUME_HELP)),
    (Sub::Complete, cmd("complete", &[], COMPLETE_HELP)),
    (Sub::Delete, cmd("delete", &["rm"], DELETE_HELP)),
    (Sub::Execute, cmd("execute", &["run"], EXECUTE_HELP)),
    (Sub::Logs, cmd("logs", &[], LOGS_HELP)),
    (Sub::Notifications, cmd("notifications", &[], NOTIFICATIONS_HELP)),
    (Sub::Apply, cmd("apply", &[], super::apply::HELP)),
    (Sub::Preview, cmd("preview", &[], PREVIEW_HELP)),
];

/// The rows of `SUBS`, for the command tree.
pub const COMMANDS: &[Cmd] = &{
    let mut rows = [const { cmd("", &[], "") }; SUBS.len()];
    let mut i = 0;
    while i < SUBS.len() {
        rows[i] = Cmd { ..SUBS[i].1 };
        i += 1;
    }
    rows
};

/// `task list --active|--paused|--completed` and `task update --active|--inactive`.
const LIST_STATES: &[(TaskState, &str)] = &[
    (TaskState::Active, "active"),
    (TaskState::Paused, "paused"),
    (TaskState::Completed, "completed"),
];
const UPDATE_STATES: &[(TaskState, &str)] =
    &[(TaskState::Active, "active"), (TaskState::Paused, "inactive")];

const DEFAULT_WAIT_TIMEOUT: usize = 300;
const DEFAULT_LOG_LIMIT: usize = 20;
/// Executions fetched per poll while waiting; the new run is among the newest.
const WAIT_PAGE: usize = 20;

/// A task subcommand with its words and options, checked, as `run` takes it. Each option is
/// taken only where its subcommand's help lists it.
#[derive(Debug, Default, PartialEq)]
pub struct Command {
    sub: Sub,
    /// Tasks by ID, name or unique ID prefix, as given; `run` looks them up.
    ids: Vec<String>,
    /// `list --active|--paused|--completed`, `create --paused`, `update --active|--inactive`.
    state: Option<TaskState>,
    /// `--limit` and `--wait-timeout` as given; checked once every option is read.
    limit_text: Option<String>,
    wait_timeout_text: Option<String>,
    limit: Option<usize>,
    wait_timeout: Option<usize>,
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
    pub yes: bool,
    ignore_not_found: bool,
    wait: bool,
    status: Option<String>,
    notifications_only: bool,
    pub file: Option<String>,
    pub dry_run: bool,
    pub exit_code: bool,
    pub prune: bool,
}

/// `torale task ...`, after the word `task`. Boxed: it is the largest command by far.
pub fn parse(p: &mut Parser, g: &mut GlobalOpts) -> Result<Box<Command>> {
    let name = Cmd { commands: COMMANDS, ..cmd("task", &[], HELP) }.subcommand("task", p, g)?;
    // `subcommand` answers with a name from COMMANDS, which SUBS makes.
    let row = SUBS.iter().find(|(_, row)| row.name == name);
    let sub = row.ok_or_else(|| Error::internal(format!("No task subcommand {name}")))?.0;
    let mut command = Box::new(Command { sub, ..Command::default() });
    // Whatever the old CLI's preview took, the answer is the same explanation.
    if sub != Sub::Preview {
        command.read(p, g).map_err(|e| e.see_help(&format!("task {name}")))?;
    }
    Ok(command)
}

impl Command {
    /// Read the subcommand's options and words, and check them.
    fn read(&mut self, p: &mut Parser, g: &mut GlobalOpts) -> Result<()> {
        let sub = self.sub;
        let words = rest(p, g, |name, p| self.take(name, p))?;
        self.limit = self.limit_text.as_deref().map(|n| parse_count(n, "--limit")).transpose()?;
        let (min, max) = match sub {
            Sub::List | Sub::Create | Sub::Apply => (0, 0),
            Sub::Pause | Sub::Resume | Sub::Complete | Sub::Delete => (1, usize::MAX),
            _ => (1, 1),
        };
        count_words(&words, min, max, "task ID").map_err(|e| match sub {
            Sub::Create => e.hint("Quote the question: torale task create -q \"When is ...?\""),
            _ => e,
        })?;
        // A task is named by its ID, its name or a unique ID prefix; run() looks it up.
        if words.iter().any(|w| w.trim().is_empty()) {
            return Err(Error::usage("A task ID or name is empty"));
        }
        self.ids = words;
        let timeout = self.wait_timeout_text.as_deref();
        self.wait_timeout = timeout.map(|n| parse_count(n, "--wait-timeout")).transpose()?;
        self.status = self.status.as_deref().map(check_status).transpose()?;
        // Nothing but the subcommand and its tasks: an update with no field to change.
        let bare = Command { sub, ids: self.ids.clone(), ..Command::default() };
        match sub {
            Sub::Create if self.query.as_ref().is_some_and(|q| q.trim().is_empty()) => {
                Err(Error::usage("The query (-q) is empty"))
            }
            Sub::Create if self.query.is_none() && self.from_template.is_none() => {
                Err(Error::usage("Missing --query (-q)")
                    .hint("Or start from a template: --from-template ID"))
            }
            Sub::Update if self.webhook.is_some() && self.no_webhook => {
                Err(Error::usage("Use only one of --webhook, --no-webhook"))
            }
            Sub::Update if *self == bare => {
                Err(Error::usage("Nothing to update: give at least one field to change"))
            }
            Sub::Create | Sub::Update => self.check_fields(),
            Sub::Apply if self.file.is_none() => Err(Error::usage("Missing --file (-f)")),
            Sub::Apply if self.exit_code && !self.dry_run => {
                Err(Error::usage("--exit-code goes with --dry-run"))
            }
            _ => Ok(()),
        }
    }

    /// Take option `name` if the subcommand has it; whether it did.
    fn take(&mut self, name: &str, p: &mut Parser) -> Result<bool> {
        let sub = self.sub;
        let edits = matches!(sub, Sub::Create | Sub::Update);
        match (sub, name) {
            (Sub::List, "active" | "paused" | "completed")
            | (Sub::Update, "active" | "inactive") => {
                let set = if sub == Sub::List { LIST_STATES } else { UPDATE_STATES };
                let state = set.iter().find(|(_, n)| *n == name).map_or(TaskState::Active, |s| s.0);
                one_of(&mut self.state, state, set)?
            }
            (Sub::List | Sub::Logs | Sub::Notifications, "limit") => {
                once(&mut self.limit_text, "limit", p)?
            }
            (_, "query" | "q") if edits => once(&mut self.query, "query", p)?,
            (_, "condition" | "c") if edits => once(&mut self.condition, "condition", p)?,
            (_, "name" | "n") if edits => once(&mut self.name, "name", p)?,
            (_, "webhook" | "w") if edits => once(&mut self.webhook, "webhook", p)?,
            (_, "schedule" | "s") if edits => once(&mut self.schedule, "schedule", p)?,
            (_, "notify-behavior") if edits => once(&mut self.notify_behavior, name, p)?,
            (Sub::Create, "email") => once(&mut self.email, "email", p)?,
            (Sub::Create, "paused") => self.state = Some(TaskState::Paused),
            (Sub::Create, "run-immediately") => self.run_immediately = true,
            (Sub::Create, "from-template") => once(&mut self.from_template, "from-template", p)?,
            (Sub::Update, "no-webhook") => self.no_webhook = true,
            (Sub::Delete | Sub::Apply, "yes" | "y") => self.yes = true,
            (Sub::Delete, "ignore-not-found") => self.ignore_not_found = true,
            (Sub::Execute, "wait") => self.wait = true,
            (Sub::Execute, "wait-timeout") => once(&mut self.wait_timeout_text, "wait-timeout", p)?,
            (Sub::Logs, "status") => once(&mut self.status, "status", p)?,
            (Sub::Logs, "notifications-only") => self.notifications_only = true,
            (Sub::Apply, "file" | "f") => once(&mut self.file, "file", p)?,
            (Sub::Apply, "dry-run") => self.dry_run = true,
            (Sub::Apply, "exit-code") => self.exit_code = true,
            (Sub::Apply, "prune") => self.prune = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The fields `create` and `update` send, mistakes reported in the order each checks.
    fn check_fields(&self) -> Result<()> {
        if let Some(id) = &self.from_template {
            check_uuid(id, "template ID")?;
        }
        let empty = |value: &Option<String>| value.as_ref().is_some_and(|v| v.trim().is_empty());
        let creates = self.sub == Sub::Create;
        let bad_url = |url: &&String| {
            let host = url.strip_prefix("https://").unwrap_or("");
            host.is_empty() || host.starts_with('/') || url.contains(char::is_whitespace)
        };
        let bad_email = |email: &&String| {
            let (user, domain) = email.split_once('@').unwrap_or_default();
            user.is_empty() || !domain.contains('.') || email.contains(char::is_whitespace)
        };
        let behaviors = ["once", "always", "track_state"];
        let fields =
            [("--name", &self.name), ("--query", &self.query), ("--condition", &self.condition)];
        let problem = if creates && empty(&self.condition) {
            "The value of --condition is empty".to_string()
        } else if let Some(url) = self.webhook.as_ref().filter(bad_url) {
            format!("Invalid --webhook '{url}': the API accepts only https:// URLs")
        } else if let Some(email) = self.email.as_ref().filter(bad_email) {
            format!("Invalid --email '{email}': expected an address like me@example.com")
        } else if let Some((cron, Err(why))) = self.schedule.as_ref().map(|s| (s, check_cron(s))) {
            format!("Invalid --schedule '{cron}': {why}")
        } else if let Some(b) =
            self.notify_behavior.as_ref().filter(|b| !behaviors.contains(&b.as_str()))
        {
            format!("Invalid --notify-behavior '{b}': use once, always or track_state")
        } else if creates && empty(&self.name) {
            "The task name (--name) is empty".to_string()
        } else if let Some((flag, _)) = fields.into_iter().find(|(_, value)| empty(value)) {
            format!("The value of {flag} is empty")
        } else {
            return Ok(());
        };
        Err(Error::usage(problem))
    }
}

fn check_status(value: &str) -> Result<String> {
    let statuses = ["pending", "running", "success", "retrying", "failed", "cancelled"];
    let lower = value.to_ascii_lowercase();
    if statuses.contains(&lower.as_str()) {
        return Ok(lower);
    }
    Err(Error::usage(format!("Invalid --status '{value}': use one of {}", statuses.join(", "))))
}

/// Check a 5-field cron expression (minute hour day-of-month month day-of-week).
fn check_cron(expr: &str) -> std::result::Result<(), String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let n = fields.len();
    if n != 5 {
        return Err(format!("expected 5 fields (minute hour day month weekday), found {n}"));
    }
    // Names count from the field's lowest value: jan is 1, sun is 0.
    let specs = [
        ("minute", 0, 59, ""),
        ("hour", 0, 23, ""),
        ("day of month", 1, 31, ""),
        ("month", 1, 12, "jan feb mar apr may jun jul aug sep oct nov dec"),
        ("day of week", 0, 7, "sun mon tue wed thu fri sat"),
    ];
    for (field, (what, min, max, names)) in fields.iter().zip(specs) {
        let value = |text: &str| match names.split(' ').position(|n| n.eq_ignore_ascii_case(text)) {
            Some(i) if !text.is_empty() => Ok(i as u32 + min),
            _ => match text.parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(format!("{what} '{text}' is not in {min}-{max}")),
            },
        };
        for part in field.split(',') {
            let (range, step) = part.split_once('/').map_or((part, None), |(r, s)| (r, Some(s)));
            if let Some(step) = step.filter(|s| !s.parse().is_ok_and(|s| (1..=max).contains(&s))) {
                return Err(format!("{what} step '{step}' is not valid"));
            }
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            if range != "*" && value(a)? > value(b)? {
                return Err(format!("{what} range '{range}' is backwards"));
            }
        }
    }
    Ok(())
}

pub fn run(command: Box<Command>, cx: &Context, out: &mut Vec<u8>) -> Result<u8> {
    let (c, o) = (&*command, &cx.output);
    // Every subcommand but preview needs the key and the tasks its words name.
    let t = || Tasks::new(cx, &c.ids);
    match c.sub {
        // The API dropped the endpoint: say so and show the alternative (exit 2).
        Sub::Preview => Err(Error::usage("Task preview is no longer offered by the Torale API")
            .hint("Create the task paused, run it once and read the result:")
            .hint("  ID=$(torale task create -q \"QUERY\" --paused)")
            .hint("  torale task execute \"$ID\" --wait && torale task logs \"$ID\" --limit 1")),
        Sub::Apply => {
            let file = c.file.as_deref().unwrap_or_default();
            let (prune, dry_run, exit_code, yes) = (c.prune, c.dry_run, c.exit_code, c.yes);
            let args = super::apply::Args { file, prune, dry_run, exit_code, yes };
            return super::apply::run(&t()?.client, args, o, out);
        }
        Sub::Delete => return delete(&t()?, c, o, out),
        Sub::List => list(&t()?.client, c, o, out),
        Sub::Get => {
            let t = t()?;
            write_task(&t.client.get_task(t.id()).map_err(|e| t.not_found(e, t.id()))?, o, out)
        }
        Sub::Create => create(&t()?.client, c, o, out),
        Sub::Update => update(&t()?, c, o, out),
        Sub::Execute => execute(&t()?, c, o, out),
        Sub::Logs | Sub::Notifications => logs(&t()?, c, o, out),
        Sub::Pause | Sub::Resume | Sub::Complete => set_state(&t()?, c.sub, o, out),
    }
    .map(|()| 0)
}

/// The client, and the tasks named on the command line by full ID, by name or by a unique
/// ID prefix, as git and docker take prefixes. A full ID costs no request; anything else one
/// list of the tasks.
struct Tasks {
    client: Client,
    /// The named tasks' full IDs.
    ids: Vec<String>,
    /// Every task, when a name or a prefix needed the list.
    all: Option<Vec<Task>>,
}

impl Tasks {
    fn new(cx: &Context, references: &[String]) -> Result<Tasks> {
        let mut tasks = Tasks { client: cx.client(true)?, ids: Vec::new(), all: None };
        tasks.ids = references.iter().map(|r| tasks.find(r)).collect::<Result<_>>()?;
        Ok(tasks)
    }

    /// The first (or only) task's ID.
    fn id(&self) -> &str {
        self.ids.first().map_or("", String::as_str)
    }

    /// The task `reference` names: a full ID as it is, else an exact name first, then a unique
    /// prefix of at least 4 hex characters.
    fn find(&mut self, reference: &str) -> Result<String> {
        if is_uuid(reference) {
            return Ok(reference.to_ascii_lowercase());
        }
        if self.all.is_none() {
            let doc = self.client.list_tasks(None)?;
            let tasks = doc.items("task list")?.into_iter().map(|item| Task::decode(item.get()));
            self.all = Some(tasks.collect::<Result<_>>()?);
        }
        let all = self.all.as_deref().unwrap_or_default();
        let mut found: Vec<&Task> = all.iter().filter(|t| t.name() == reference).collect();
        let hex = reference.chars().filter(char::is_ascii_hexdigit).count();
        let prefix_like = reference.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if found.is_empty() && hex >= 4 && prefix_like {
            let lower = reference.to_ascii_lowercase();
            found = all.iter().filter(|t| t.id.starts_with(&lower)).collect();
        }
        let shown = sanitize(reference);
        match found[..] {
            [task] => Ok(task.id.clone()),
            [] => {
                Err(Error::new(Kind::NotFound, format!("No task named or starting with '{shown}'"))
                    .hint("List your tasks with 'torale task list'"))
            }
            ref many => {
                let n = many.len();
                let err = Error::usage(format!("'{shown}' matches {n} tasks; give more of the ID"));
                let hints = many.iter().map(|t| format!("{}  {}", t.id, sanitize(t.name())));
                Err(hints.fold(err, Error::hint))
            }
        }
    }

    /// A task's name for a question, when it can be had.
    fn name(&self, id: &str) -> Option<String> {
        if let Some(all) = &self.all {
            return all.iter().find(|t| t.id == id).map(|t| t.name().to_string());
        }
        let doc = self.client.get_task(id).ok()?;
        Task::decode(doc.text()).ok().map(|t| t.name().to_string())
    }

    /// Give a 404 the task's ID, and tell a bad key apart from a missing task: current
    /// servers answer 404 rather than 401 to a bad key on some read routes.
    fn not_found(&self, err: Error, id: &str) -> Error {
        if err.kind != Kind::NotFound {
            return err;
        }
        if let Some(auth) = self.client.me().err().filter(|auth| auth.kind == Kind::Auth) {
            return auth;
        }
        Error::new(Kind::NotFound, format!("Task {id} not found"))
            .with_status(404)
            .hint("List your tasks with 'torale task list'")
    }
}

fn list(client: &Client, c: &Command, output: &Output, out: &mut Vec<u8>) -> Result<()> {
    let doc = client.list_tasks(c.state.map(TaskState::as_str))?;
    // The server's list as it came when nothing is left out: not parsed again, not copied.
    let whole = c.state.is_none() && c.limit.is_none();
    if output.json && whole && doc.text().trim_start().starts_with('[') {
        return output.json_doc(out, doc);
    }
    // Legacy servers have no `completed` and each generation ignores the other's filter, so
    // the filter is applied here as well.
    let kept = |task: &Task| c.state.is_none_or(|state| task.state() == Some(state));
    let limit = c.limit.unwrap_or(usize::MAX);
    let mut legacy = false;
    let mut note = |task: &Task| legacy |= task.is_legacy();
    if output.json {
        let items = doc.items("task list")?;
        let tasks: Vec<Task> =
            items.iter().map(|i| Task::decode(i.get())).collect::<Result<_>>()?;
        tasks.iter().for_each(&mut note);
        no_completed_note(c, legacy);
        let chosen = items.iter().zip(&tasks).filter(|(_, task)| kept(task));
        return output.json_array(out, chosen.take(limit).map(|(item, _)| item.get()));
    }
    let headers = vec!["ID", "NAME", "STATE", "NEXT RUN", "LAST RUN", "CREATED"];
    let mut table = Table::new(headers).flexible(1).ids(0).times(&[3, 4, 5]);
    // One pass, one task at a time: each becomes its row as it is decoded.
    let mut rows = 0;
    each_item(doc.text(), "task list", |task: Task| {
        note(&task);
        if !kept(&task) || rows >= limit {
            return;
        }
        rows += 1;
        let active = task.state() == Some(TaskState::Active);
        let next = if active { task.next_run.clone().unwrap_or_default() } else { "-".into() };
        let last = match &task.last_execution {
            Some(run) => format!("{} {}", run.started_at.as_deref().unwrap_or("-"), run.status()),
            None => task.last_notified_at.clone().unwrap_or_default(),
        };
        let (name, state) = (task.name().to_string(), task.state_label().to_string());
        table.row(vec![task.id, name, state, next, last, task.created_at.unwrap_or_default()]);
    })?;
    no_completed_note(c, legacy);
    if rows == 0 {
        stderr_line("No tasks");
        return Ok(());
    }
    drop(doc); // the rows are copies: a long list's response is freed before they are laid out
    Ok(table.write(out, output)?)
}

fn no_completed_note(c: &Command, legacy: bool) {
    if legacy && c.state == Some(TaskState::Completed) {
        stderr_line("Note: this server (legacy 0.0.2) has no completed state; no task can match --completed");
    }
}

/// A task document: as it came with `--json`, else one `Field: value` line each.
fn write_task(doc: &Json, output: &Output, out: &mut Vec<u8>) -> Result<()> {
    if output.json {
        return output.json_text(out, doc.text());
    }
    let task = Task::decode(doc.text())?;
    let mut pairs: Vec<(&str, String)> = vec![
        ("ID", task.id.clone()),
        ("Name", task.name().to_string()),
        ("State", task.state_label().to_string()),
        ("Query", task.search_query.clone().unwrap_or_default()),
        ("Condition", task.condition_description.clone().unwrap_or_default()),
    ];
    let mut label = "Notifications";
    for n in task.notifications.iter().flatten() {
        let target = n.url.as_deref().or(n.address.as_deref()).unwrap_or("");
        pairs.push((label, format!("{} {target}", n.kind.as_deref().unwrap_or("?"))));
        label = "";
    }
    if !label.is_empty() {
        pairs.push((label, "none".into()));
    }
    let time = |at: &Option<String>| at.as_ref().map(|at| short_time(Some(at)));
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let active = task.state() == Some(TaskState::Active);
    let evidence = task.last_known_state.as_ref().and_then(|s| s.get("evidence"));
    let run = task.last_execution.as_ref();
    // Without a last run, a legacy server's verdict; without either, `never`.
    let met = task.condition_met.filter(|_| run.is_none());
    let last_run = run.map(|run| {
        let (start, end) = (run.started_at.as_deref(), run.completed_at.as_deref());
        let took = duration_between(start, end);
        format!("{}  {}  {took}  ({})", short_time(start), run.status(), run.id)
    });
    for (label, value) in [
        ("Schedule", task.schedule.clone()),
        ("Notify", task.notify_behavior.clone()),
        ("Next run", time(&task.next_run).filter(|_| active)),
        ("Created", Some(short_time(task.created_at.as_deref()))),
        ("Updated", time(&task.updated_at)),
        ("Public", task.is_public.map(yes_no)),
        ("Last evidence", evidence.and_then(Value::as_str).map(str::to_string)),
        ("Last run", last_run.or_else(|| met.is_none().then(|| "never".into()))),
        ("Notification", run.and_then(Execution::notification_text)),
        ("Sources", run.map(|run| source_domains(&run.source_urls())).filter(|s| !s.is_empty())),
        ("Condition met", met.map(yes_no)),
        ("Last notified", time(&task.last_notified_at).filter(|_| met.is_some())),
        ("Run error", task.immediate_execution_error.clone()),
    ] {
        pairs.extend(value.map(|value| (label, value)));
    }
    Ok(write_pairs(out, &pairs)?)
}

/// A readable default name from the query, made unique among `taken` names.
fn default_name(query: &str, taken: &[String]) -> String {
    let mut base = String::new();
    for word in query.split_whitespace() {
        if !base.is_empty() && base.chars().count() + word.chars().count() >= 60 {
            break;
        }
        base = if base.is_empty() { word.to_string() } else { format!("{base} {word}") };
    }
    let base: String = base.chars().filter(|c| !c.is_control()).take(60).collect();
    let base = base.trim_end_matches(['?', '.', '!', ',', ':', ';']);
    let base = if base.is_empty() { "Task" } else { base };
    let names = (1..).map(|n| if n == 1 { base.to_string() } else { format!("{base} ({n})") });
    names.into_iter().find(|name| !taken.contains(name)).unwrap_or_default()
}

fn task_names(client: &Client) -> Result<Vec<String>> {
    let value = client.list_tasks(None)?;
    Ok(value.decode::<Vec<Task>>("task list")?.into_iter().filter_map(|t| t.name).collect())
}

fn create(client: &Client, c: &Command, output: &Output, out: &mut Vec<u8>) -> Result<()> {
    let (mut query, mut condition, mut name_source) = (c.query.clone(), c.condition.clone(), None);
    // A template fills in what the command line leaves out; the name derives from its name.
    if let Some(id) = &c.from_template {
        let template: Template = templates::get(client, id)?.decode("template")?;
        query = query.or(template.search_query);
        condition = condition.or(template.condition_description);
        name_source = template.name;
        if query.as_ref().is_none_or(|query| query.trim().is_empty()) {
            return Err(Error::new(Kind::Server, format!("Template {id} has no search query")));
        }
    }
    let query = query.unwrap_or_default();
    let name_source = name_source.unwrap_or_else(|| query.clone());
    let webhook = c.webhook.iter().map(|u| json!({"type": "webhook", "url": u, "method": "POST"}));
    let email = c.email.iter().map(|address| json!({"type": "email", "address": address}));
    let (state, schedule) = (c.state.unwrap_or(TaskState::Active).as_str(), c.schedule.as_deref());
    let notifications = webhook.chain(email).collect();
    let mut body = create_body(&query, condition.as_deref(), state, schedule, notifications);
    if let Some(behavior) = &c.notify_behavior {
        body["notify_behavior"] = json!(behavior);
    }
    if c.run_immediately {
        body["run_immediately"] = json!(true);
    }
    // Without --name, a name from the query that no task has yet.
    let mut taken = if c.name.is_some() { Vec::new() } else { task_names(client)? };
    let mut attempts = 0;
    let created = loop {
        attempts += 1;
        let name = c.name.clone().unwrap_or_else(|| default_name(&name_source, &taken));
        body["name"] = json!(name);
        match client.create_task(&body) {
            // The current server answers a duplicate name with a bare 500 and changes nothing.
            Err(err) if err.status == Some(500) => {
                taken = task_names(client)?;
                if c.name.is_some() && taken.contains(&name) {
                    let clash = format!("A task named '{}' already exists", sanitize(&name));
                    let hint = "Choose another --name, or leave it out to get a unique one";
                    return Err(Error::new(Kind::Rejected, clash).with_status(500).hint(hint));
                }
                if attempts >= 3 || !taken.contains(&name) {
                    return Err(err);
                }
            }
            created => break created?,
        }
    };
    let (created, task) = client.pause_legacy_create(created, state == "paused")?;
    warn_legacy_only(&task, c);
    if let Some(err) = &task.immediate_execution_error {
        stderr_line(&format!("Warning: the first run could not start: {}", sanitize(err)));
    }
    let (mark, name) = (output.paint_err(Color::Green, "✓"), sanitize(task.name()));
    stderr_line(&format!("{mark} Created task '{name}' ({})", sanitize(task.state_label())));
    write_doc(&created, &task.id, output, out)
}

/// Current servers accept and ignore the legacy-only options; say so instead of pretending.
fn warn_legacy_only(task: &Task, c: &Command) {
    let flags = [(&c.schedule, "--schedule"), (&c.notify_behavior, "--notify-behavior")];
    // Only current servers send `state`.
    for (_, flag) in flags.iter().filter(|(given, _)| given.is_some() && task.state.is_some()) {
        let why = "it applies to legacy (0.0.2) servers only";
        stderr_line(&format!("Warning: this server ignores {flag}; {why}"));
    }
}

fn update(t: &Tasks, c: &Command, output: &Output, out: &mut Vec<u8>) -> Result<()> {
    let (client, id) = (&t.client, t.id());
    let fields = [
        ("name", &c.name),
        ("search_query", &c.query),
        ("condition_description", &c.condition),
        ("schedule", &c.schedule),
        ("notify_behavior", &c.notify_behavior),
    ];
    let given = fields.into_iter().filter_map(|(k, v)| Some((k.into(), json!(v.as_ref()?))));
    let mut body: Map<String, Value> = given.collect();
    if let Some(state) = c.state {
        body.insert("state".into(), json!(state.as_str()));
        body.insert("is_active".into(), json!(state == TaskState::Active));
    }
    if c.webhook.is_some() || c.no_webhook {
        // `notifications` replaces the whole list: keep everything but the old webhook.
        let current: Value = client.get_task(id).map_err(|e| t.not_found(e, id))?.decode("task")?;
        let mut list = current["notifications"].as_array().cloned().unwrap_or_default();
        list.retain(|n| n["type"] != "webhook");
        if let Some(url) = &c.webhook {
            list.push(json!({"type": "webhook", "url": url, "method": "POST"}));
        }
        body.insert("notifications".into(), Value::Array(list));
    }
    let value = client.update_task(id, &Value::Object(body)).map_err(|e| t.not_found(e, id))?;
    let task = Task::decode(value.text())?;
    warn_legacy_only(&task, c);
    stderr_line(&format!("{} Updated task {}", output.paint_err(Color::Green, "✓"), task.id));
    write_task(&value, output, out)
}

/// Run `action` on each named task and write what succeeded: with `--json` one array of the
/// documents it returns, else its lines. A failure among several is reported on stderr as it
/// happens (with `--json`, the summary names them all in its one JSON object); the summary
/// error has the worst one's kind, and what succeeded stays on stdout.
fn for_each_id(
    t: &Tasks,
    verb: &str,
    output: &Output,
    out: &mut Vec<u8>,
    mut action: impl FnMut(&str) -> Result<(String, String)>,
) -> Result<()> {
    let (mut done, mut failures) = (Vec::new(), Vec::new());
    for id in &t.ids {
        match action(id) {
            Ok(result) => done.push(result),
            Err(err) if t.ids.len() == 1 => return Err(err.keep_output()),
            Err(err) => {
                if !output.json {
                    stderr_line(&format!("✗ {id}: {}", err.message));
                }
                failures.push((id, err));
            }
        }
    }
    // Report what succeeded even when others failed; nothing at all when none did.
    if !output.json {
        for (_, line) in &done {
            writeln!(out, "{line}")?;
        }
    } else if failures.is_empty() || !done.is_empty() {
        output.json_array(out, done.iter().map(|(doc, _)| doc.as_str()))?;
    }
    let Some((_, worst)) = failures.iter().max_by_key(|(_, e)| e.exit_code()) else {
        return Ok(());
    };
    let mut message = format!("{} of {} tasks could not be {verb}", failures.len(), t.ids.len());
    if output.json {
        let each: Vec<String> =
            failures.iter().map(|(id, err)| format!("{id}: {}", err.message)).collect();
        message = format!("{message}: {}", each.join("; "));
    }
    Err(Error { status: worst.status, ..Error::new(worst.kind, message) }.keep_output())
}

/// `pause`, `resume` and `complete`.
fn set_state(t: &Tasks, sub: Sub, output: &Output, out: &mut Vec<u8>) -> Result<()> {
    let (state, label, body) = match sub {
        Sub::Pause => (TaskState::Paused, "Paused", json!({"state": "paused", "is_active": false})),
        Sub::Resume => {
            (TaskState::Active, "Resumed", json!({"state": "active", "is_active": true}))
        }
        _ => (TaskState::Completed, "Completed", json!({"state": "completed"})),
    };
    for_each_id(t, &label.to_ascii_lowercase(), output, out, |id| {
        let value = t.client.update_task(id, &body).map_err(|e| t.not_found(e, id))?;
        let task = Task::decode(value.text())?;
        if task.state() != Some(state) && task.is_legacy() && state == TaskState::Completed {
            let err =
                Error::new(Kind::Rejected, "This server (legacy 0.0.2) has no completed state");
            return Err(err.hint(format!("Pause the task instead: torale task pause {id}")));
        } else if task.state() != Some(state) {
            let now = task.state_label();
            return Err(Error::new(Kind::Rejected, format!("Task {id} is {now} after the change")));
        }
        let mark = output.paint(Color::Green, "✓");
        let line = format!("{mark} {label} {}  {}", task.id, sanitize(task.name()));
        Ok((value.text().to_string(), line))
    })
}

fn delete(t: &Tasks, c: &Command, output: &Output, out: &mut Vec<u8>) -> Result<u8> {
    if !c.yes {
        if !terminal::stdin_is_terminal() {
            let why = "Refusing to delete without confirmation: standard input is not a terminal";
            return Err(Error::usage(why).hint("Add --yes (-y) to delete without asking"));
        }
        let question = match t.ids.as_slice() {
            [id] => match t.name(id) {
                Some(name) => {
                    format!("Delete task '{}' ({})?", sanitize(&name), id.get(..8).unwrap_or(id))
                }
                None => format!("Delete task {id}?"),
            },
            ids => format!("Delete {} tasks?", ids.len()),
        };
        if !terminal::confirm(&question)? {
            // Answering no is a choice, not a failure to report; the code still says so.
            stderr_line("Not deleted");
            return Ok(2);
        }
    }
    for_each_id(t, "deleted", output, out, |id| {
        let (deleted, line) = match t.client.delete_task(id) {
            Ok(_) => (true, format!("{} Deleted {id}", output.paint(Color::Green, "✓"))),
            Err(err) if err.kind == Kind::NotFound && c.ignore_not_found => {
                (false, format!("- Not found {id} (ignored)"))
            }
            Err(err) => return Err(t.not_found(err, id)),
        };
        Ok((json!({"id": id, "deleted": deleted}).to_string(), line))
    })
    .map(|()| 0)
}

fn execute(t: &Tasks, c: &Command, output: &Output, out: &mut Vec<u8>) -> Result<()> {
    let id = t.id();
    let doc = t.client.execute_task(id).map_err(|e| t.not_found(e, id))?;
    let run_id = Execution::decode(doc.text())?.id;
    // --wait-timeout waits too.
    if !c.wait && c.wait_timeout.is_none() {
        return write_doc(&doc, &run_id, output, out);
    }
    let secs = c.wait_timeout.unwrap_or(DEFAULT_WAIT_TIMEOUT);
    // The run's ID comes first, so a wait that ends early never loses the run.
    stderr_line(&format!("Started run {run_id}; waiting up to {secs}s"));
    let (doc, status) = wait_for_run(t, doc, &run_id, secs as u64)?;
    let run = Execution::decode(doc.text())?;
    let state = run.status();
    match status {
        RunStatus::Failed => {
            let why = run.error_message.as_deref().map(|m| format!(": {}", sanitize(m)));
            let why = why.unwrap_or_default();
            let err = Error::new(Kind::RunFailed, format!("Run {run_id} {state}{why}"));
            Err(err.hint(format!("See the task's runs with 'torale task logs {id}'")))
        }
        RunStatus::Waiting => {
            let later = format!("'torale task logs {id}', or wait longer with --wait-timeout");
            let still = format!("Run {run_id} is still {state} after {secs}s");
            Err(Error::new(Kind::Pending, still).hint(format!("Check later with {later}")))
        }
        RunStatus::Succeeded => {
            let outcome = match run.notification_text() {
                Some(text) => format!("condition met: {}", sanitize(&text)),
                None => "condition not met".into(),
            };
            let took = duration_between(run.started_at.as_deref(), run.completed_at.as_deref());
            let mark = output.paint_err(Color::Green, "✓");
            stderr_line(&format!("{mark} Run {run_id} succeeded in {took}; {outcome}"));
            write_doc(&doc, &run_id, output, out)
        }
    }
}

/// A created task or a run: its document with `--json`, else its ID.
fn write_doc(doc: &Json, id: &str, output: &Output, out: &mut Vec<u8>) -> Result<()> {
    if output.json {
        return output.json_text(out, doc.text());
    }
    Ok(writeln!(out, "{id}")?)
}

/// Poll the task's executions until `run_id` ends or `secs` pass. Returns the last copy of the
/// run seen (`last` as given if none) and how it stands.
fn wait_for_run(t: &Tasks, mut last: Json, run_id: &str, secs: u64) -> Result<(Json, RunStatus)> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let progress = io::stderr().is_terminal();
    let transient =
        |err: &Error| matches!(err.kind, Kind::Server | Kind::RateLimited | Kind::Network);
    let mut told_retrying = false;
    let mut delay = Duration::from_millis(125);
    loop {
        delay = (delay * 2).min(Duration::from_secs(5));
        crate::client::sleep(delay.min(deadline.saturating_duration_since(Instant::now())));
        // A poll is bounded by the wait's deadline; a transient failure (5xx, 429, a
        // dropped connection) is polled again until then.
        let doc = match t.client.until(deadline).executions(t.id(), WAIT_PAGE) {
            Ok(doc) => doc,
            Err(err) if !transient(&err) => return Err(t.not_found(err, t.id())),
            Err(_) if Instant::now() < deadline => continue,
            Err(_) => return Ok((last, RunStatus::Waiting)),
        };
        let items = doc.items("execution list")?;
        let mut runs = items.into_iter().map(|i| Execution::decode(i.get()).map(|run| (run, i)));
        // The first run that fails to decode, or else the one waited for.
        let found = runs.find(|r| r.as_ref().map_or(true, |(run, _)| run.id == run_id));
        if let Some((run, item)) = found.transpose()? {
            let status = run.run_status();
            if run.status() == "retrying" && !told_retrying {
                told_retrying = true;
                let why = run.error_message.as_deref().unwrap_or("no reason given");
                stderr_line(&format!("Run {run_id} is retrying: {}", sanitize(why)));
            }
            if progress {
                let (secs, now) = (start.elapsed().as_secs(), sanitize(run.status()));
                let end = if status == RunStatus::Waiting { "" } else { "\n" };
                let _ =
                    write!(io::stderr(), "\rWaiting for run {run_id}: {now:<10} {secs:>4}s{end}");
            }
            last = Json::from_raw(item);
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
    }
}

/// `logs` and `notifications`: a task's runs, newest first.
fn logs(t: &Tasks, c: &Command, output: &Output, out: &mut Vec<u8>) -> Result<()> {
    let (id, limit) = (t.id(), c.limit.unwrap_or(DEFAULT_LOG_LIMIT));
    let notifications = c.sub == Sub::Notifications;
    let only_met = notifications || c.notifications_only;
    let fetch = if only_met { Client::notifications } else { Client::executions };
    let doc = fetch(&t.client, id, limit).map_err(|e| t.not_found(e, id))?;
    let mut items =
        doc.items(if notifications { "notification list" } else { "execution list" })?;
    let mut empty = if notifications { "No notifications yet" } else { "No runs yet" }.to_string();
    if let Some(status) = &c.status {
        let runs: Vec<Execution> =
            items.iter().map(|item| Execution::decode(item.get())).collect::<Result<_>>()?;
        let kept = items.into_iter().zip(&runs).filter(|(_, run)| run.status() == status);
        items = kept.map(|(item, _)| item).collect();
        empty = format!("No {status} runs");
    }
    if output.json {
        return output.json_array(out, items.iter().map(|item| item.get()));
    }
    if items.is_empty() {
        stderr_line(&empty);
        return Ok(());
    }
    let headers = match notifications {
        true => vec!["ID", "STARTED", "NOTIFICATION", "SOURCES"],
        false => vec!["ID", "STARTED", "STATUS", "DURATION", "RESULT", "SOURCES"],
    };
    // The notification or result column gives way first.
    let mut table = Table::new(headers.clone()).flexible(headers.len() - 2).times(&[1]);
    for item in &items {
        let run = Execution::decode(item.get())?;
        let failed = run.run_status() == RunStatus::Failed || run.status() == "retrying";
        let result = match (run.notification_text(), &run.error_message) {
            (Some(text), _) => text,
            (None, Some(err)) if failed => err.clone(),
            (None, _) if run.status() == "success" => "condition not met".into(),
            _ => "-".into(),
        };
        let mut row = vec![run.id.clone(), run.started_at.clone().unwrap_or_default()];
        if !notifications {
            let took = duration_between(run.started_at.as_deref(), run.completed_at.as_deref());
            row.extend([run.status().to_string(), took]);
        }
        row.extend([result.replace(['\n', '\r'], " "), source_domains(&run.source_urls())]);
        table.row(row);
    }
    Ok(table.write(out, output)?)
}
