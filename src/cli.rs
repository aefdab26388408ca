//! The command line: argv → [`Invocation`], with no I/O. The only file that uses lexopt.

use std::ffi::OsString;

use lexopt::prelude::*;
use lexopt::Parser;

use crate::commands;
use crate::config::{Flags, KeyArg};
use crate::error::{Error, Result};
use crate::output::ColorChoice;

/// Options accepted anywhere on the line, before or after the command.
#[derive(Clone, Debug, Default)]
pub struct Globals {
    pub flags: Flags,
    pub json: bool,
    pub color: ColorChoice,
    pub debug: bool,
}

#[derive(Debug)]
pub struct Invocation {
    pub globals: Globals,
    pub command: Command,
}

#[derive(Debug, PartialEq)]
pub enum Command {
    /// Print this help text on stdout.
    Help(&'static str),
    Version,
    Auth(AuthCommand),
    Task(TaskCommand),
    Config(ConfigCommand),
}

#[derive(Debug, PartialEq)]
pub enum AuthCommand {
    SetApiKey { verify: bool },
    Status,
    Whoami,
    Logout,
}

#[derive(Debug, PartialEq)]
pub enum ConfigCommand {
    Show,
    Get(String),
    Set(String, String),
    Unset(String),
    Path,
}

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

#[derive(Debug, Default, PartialEq)]
pub struct CreateArgs {
    pub query: String,
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

impl UpdateArgs {
    pub fn is_empty(&self) -> bool {
        *self == UpdateArgs::default()
    }
}

#[derive(Debug, PartialEq)]
pub enum TaskCommand {
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
    Preview,
}

pub const DEFAULT_WAIT_TIMEOUT: u64 = 300;
pub const DEFAULT_LOG_LIMIT: usize = 20;

/// Parse the process's arguments.
pub fn parse_args() -> Result<Invocation> {
    parse(std::env::args_os().skip(1))
}

/// Parse arguments (without the program name). `-h`/`--help` and `--version` win over
/// everything else on the line, so help is shown even when other arguments are wrong.
pub fn parse<I>(args: I) -> Result<Invocation>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if let Some(command) = early_exit(&args) {
        return Ok(Invocation {
            globals: Globals::default(),
            command,
        });
    }
    let mut parser = Parser::from_args(args);
    let mut globals = Globals::default();
    let command = parse_top(&mut parser, &mut globals)?;
    Ok(Invocation { globals, command })
}

/// `--help` anywhere before `--` shows the help of the deepest command named; `--version`
/// prints the version.
fn early_exit(args: &[OsString]) -> Option<Command> {
    let mut words: Vec<&str> = Vec::new();
    let mut help = false;
    for arg in args {
        let Some(arg) = arg.to_str() else { continue };
        match arg {
            "--" => break,
            "-h" | "--help" => help = true,
            "--version" if words.is_empty() => return Some(Command::Version),
            word if !word.starts_with('-') => words.push(word),
            _ => {}
        }
    }
    if !help {
        return None;
    }
    Some(Command::Help(commands::help_for(&words)))
}

fn parse_top(p: &mut Parser, g: &mut Globals) -> Result<Command> {
    let top = "";
    while let Some(owned) = next(p).map_err(|e| usage(e, top))? {
        let arg = owned.view();
        if global(&arg, p, g).map_err(|e| usage(e, top))? {
            continue;
        }
        match arg {
            Value(word) => {
                let word = word.string().map_err(|e| usage(e, top))?;
                return match word.as_str() {
                    "auth" => parse_auth(p, g),
                    "task" | "tasks" => parse_task(p, g),
                    "config" => parse_config(p, g),
                    "version" => {
                        no_more(p, g, "version")?;
                        Ok(Command::Version)
                    }
                    "help" => parse_help(p),
                    other => Err(Error::usage(format!("Unknown command '{other}'"))
                        .hint("See 'torale --help' for the commands")),
                };
            }
            other => return Err(usage(other.unexpected(), top)),
        }
    }
    Err(Error::usage("Missing command").hint("See 'torale --help' for the commands"))
}

/// An argument detached from the parser, so the parser can be used while it is inspected.
enum OwnedArg {
    Short(char),
    Long(String),
    Value(OsString),
}

impl OwnedArg {
    fn view(&self) -> lexopt::Arg<'_> {
        match self {
            OwnedArg::Short(c) => Short(*c),
            OwnedArg::Long(s) => Long(s),
            OwnedArg::Value(v) => Value(v.clone()),
        }
    }
}

fn next(p: &mut Parser) -> std::result::Result<Option<OwnedArg>, lexopt::Error> {
    Ok(p.next()?.map(|arg| match arg {
        Short(c) => OwnedArg::Short(c),
        Long(s) => OwnedArg::Long(s.to_string()),
        Value(v) => OwnedArg::Value(v),
    }))
}

/// Consume a global option; `Ok(false)` when `arg` is not one.
fn global(
    arg: &lexopt::Arg,
    p: &mut Parser,
    g: &mut Globals,
) -> std::result::Result<bool, lexopt::Error> {
    match arg {
        Long("api-key") => g.flags.api_key = Some(KeyArg::Value(p.value()?.string()?)),
        Long("api-key-file") => g.flags.api_key = Some(KeyArg::File(p.value()?.string()?)),
        Long("api-url") => g.flags.api_url = Some(p.value()?.string()?),
        Long("timeout") => g.flags.timeout = Some(p.value()?.string()?),
        Long("json") => g.json = true,
        Long("debug") => g.debug = true,
        Long("no-color") => g.color = ColorChoice::Never,
        Long("color") | Long("colour") => {
            let value = p.value()?.string()?;
            g.color = match value.as_str() {
                "auto" => ColorChoice::Auto,
                "always" => ColorChoice::Always,
                "never" => ColorChoice::Never,
                _ => {
                    return Err(lexopt::Error::Custom(
                        format!("invalid value '{value}' for '--color': use auto, always or never")
                            .into(),
                    ))
                }
            };
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Turn a lexopt error into a usage error that names the flag and points at the help.
fn usage(err: lexopt::Error, command: &str) -> Error {
    let message = match err {
        lexopt::Error::UnexpectedOption(opt) => format!("Unknown option '{opt}'"),
        lexopt::Error::MissingValue { option: Some(opt) } => format!("Missing value for '{opt}'"),
        lexopt::Error::MissingValue { option: None } => "Missing value".to_string(),
        lexopt::Error::UnexpectedArgument(arg) => {
            format!("Unexpected argument '{}'", arg.to_string_lossy())
        }
        lexopt::Error::UnexpectedValue { option, .. } => {
            format!("'{option}' does not take a value")
        }
        lexopt::Error::NonUnicodeValue(_) => "An argument is not valid UTF-8".to_string(),
        lexopt::Error::ParsingFailed { value, error } => {
            format!("Invalid value '{value}': {error}")
        }
        lexopt::Error::Custom(err) => {
            let text = err.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => text,
            }
        }
    };
    see_help(Error::usage(message), command)
}

fn see_help(err: Error, command: &str) -> Error {
    let command = if command.is_empty() {
        String::new()
    } else {
        format!("{command} ")
    };
    err.hint(format!("See 'torale {command}--help'"))
}

/// Accept only global options until the end of the line.
fn no_more(p: &mut Parser, g: &mut Globals, command: &str) -> Result<()> {
    while let Some(owned) = next(p).map_err(|e| usage(e, command))? {
        let arg = owned.view();
        if !global(&arg, p, g).map_err(|e| usage(e, command))? {
            return Err(usage(arg.unexpected(), command));
        }
    }
    Ok(())
}

/// The next word naming a subcommand, skipping global options.
fn subcommand(p: &mut Parser, g: &mut Globals, group: &str) -> Result<Option<String>> {
    while let Some(owned) = next(p).map_err(|e| usage(e, group))? {
        let arg = owned.view();
        if global(&arg, p, g).map_err(|e| usage(e, group))? {
            continue;
        }
        return match arg {
            Value(word) => Ok(Some(word.string().map_err(|e| usage(e, group))?)),
            other => Err(usage(other.unexpected(), group)),
        };
    }
    Ok(None)
}

fn parse_help(p: &mut Parser) -> Result<Command> {
    let mut words = Vec::new();
    while let Some(owned) = next(p).map_err(|e| usage(e, "help"))? {
        let arg = owned.view();
        if let Value(word) = arg {
            words.push(word.string().map_err(|e| usage(e, "help"))?);
        }
    }
    if words.first().map(String::as_str) == Some("exit-codes") {
        return Ok(Command::Help(crate::error::EXIT_CODES_HELP));
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    if !words.is_empty() && !commands::is_known(&words) {
        return Err(Error::usage(format!("No help for '{}'", words.join(" ")))
            .hint("See 'torale --help' for the commands"));
    }
    Ok(Command::Help(commands::help_for(&words)))
}

fn parse_auth(p: &mut Parser, g: &mut Globals) -> Result<Command> {
    let Some(word) = subcommand(p, g, "auth")? else {
        return Err(Error::usage("Missing auth command").hint("See 'torale auth --help'"));
    };
    let command = match word.as_str() {
        "set-api-key" | "login" => {
            let path = "auth set-api-key";
            let mut verify = true;
            while let Some(owned) = next(p).map_err(|e| usage(e, path))? {
                let arg = owned.view();
                if global(&arg, p, g).map_err(|e| usage(e, path))? {
                    continue;
                }
                match arg {
                    Long("no-verify") => verify = false,
                    other => return Err(usage(other.unexpected(), path)),
                }
            }
            AuthCommand::SetApiKey { verify }
        }
        "status" => {
            no_more(p, g, "auth status")?;
            AuthCommand::Status
        }
        "whoami" => {
            no_more(p, g, "auth whoami")?;
            AuthCommand::Whoami
        }
        "logout" => {
            no_more(p, g, "auth logout")?;
            AuthCommand::Logout
        }
        other => {
            return Err(Error::usage(format!("Unknown auth command '{other}'"))
                .hint("See 'torale auth --help'"))
        }
    };
    Ok(Command::Auth(command))
}

fn parse_config(p: &mut Parser, g: &mut Globals) -> Result<Command> {
    let Some(word) = subcommand(p, g, "config")? else {
        return Ok(Command::Config(ConfigCommand::Show));
    };
    let path = match word.as_str() {
        "get" => "config get",
        "set" => "config set",
        "unset" => "config unset",
        "path" => "config path",
        "show" | "list" => "config",
        other => {
            return Err(Error::usage(format!("Unknown config command '{other}'"))
                .hint("See 'torale config --help'"))
        }
    };
    let values = positionals(p, g, path)?;
    let expected = match path {
        "config get" | "config unset" => 1,
        "config set" => 2,
        _ => 0,
    };
    if values.len() != expected {
        let what = match expected {
            0 => "no arguments".to_string(),
            1 => "one KEY".to_string(),
            _ => "KEY and VALUE".to_string(),
        };
        return Err(see_help(
            Error::usage(format!("'torale {path}' takes {what}")),
            path,
        ));
    }
    let mut values = values.into_iter();
    let mut next = || values.next().unwrap_or_default();
    let command = match path {
        "config get" => ConfigCommand::Get(next()),
        "config unset" => ConfigCommand::Unset(next()),
        "config set" => {
            let key = next();
            ConfigCommand::Set(key, next())
        }
        "config path" => ConfigCommand::Path,
        _ => ConfigCommand::Show,
    };
    Ok(Command::Config(command))
}

/// Collect positional words (global options allowed in between, `--` ends options).
fn positionals(p: &mut Parser, g: &mut Globals, path: &str) -> Result<Vec<String>> {
    let mut values = Vec::new();
    while let Some(owned) = next(p).map_err(|e| usage(e, path))? {
        let arg = owned.view();
        if global(&arg, p, g).map_err(|e| usage(e, path))? {
            continue;
        }
        match arg {
            Value(v) => values.push(v.string().map_err(|e| usage(e, path))?),
            other => return Err(usage(other.unexpected(), path)),
        }
    }
    Ok(values)
}

fn parse_task(p: &mut Parser, g: &mut Globals) -> Result<Command> {
    let Some(word) = subcommand(p, g, "task")? else {
        return Err(Error::usage("Missing task command").hint("See 'torale task --help'"));
    };
    let name = match word.as_str() {
        "ls" => "list",
        "show" => "get",
        "rm" => "delete",
        "run" => "execute",
        other => other,
    };
    let path = match name {
        "list" => "task list",
        "get" => "task get",
        "create" => "task create",
        "update" => "task update",
        "pause" => "task pause",
        "resume" => "task resume",
        "complete" => "task complete",
        "delete" => "task delete",
        "execute" => "task execute",
        "logs" => "task logs",
        "notifications" => "task notifications",
        "preview" => return Ok(Command::Task(TaskCommand::Preview)),
        other => {
            return Err(Error::usage(format!("Unknown task command '{other}'"))
                .hint("See 'torale task --help'"))
        }
    };
    let mut ids: Vec<String> = Vec::new();
    let mut state: Option<StateFilter> = None;
    let mut limit: Option<usize> = None;
    let mut create = CreateArgs::default();
    let mut query: Option<String> = None;
    let mut changes = UpdateArgs::default();
    let mut yes = false;
    let mut ignore_not_found = false;
    let mut wait = false;
    let mut wait_timeout: Option<u64> = None;
    let mut status: Option<String> = None;
    let mut notifications_only = false;

    let err = |e: lexopt::Error| usage(e, path);
    while let Some(owned) = next(p).map_err(err)? {
        let arg = owned.view();
        if global(&arg, p, g).map_err(err)? {
            continue;
        }
        let text =
            |p: &mut Parser| -> Result<String> { p.value().map_err(err)?.string().map_err(err) };
        match (name, &arg) {
            (_, Value(v)) => ids.push(v.clone().string().map_err(err)?),
            ("list", Long("active")) => state = Some(StateFilter::Active),
            ("list", Long("paused")) => state = Some(StateFilter::Paused),
            ("list", Long("completed")) => state = Some(StateFilter::Completed),
            ("list" | "logs" | "notifications", Long("limit")) => {
                let value = text(p)?;
                limit = Some(parse_count(&value, "--limit", path)?);
            }
            ("create", Short('q') | Long("query")) => query = Some(text(p)?),
            ("create", Short('c') | Long("condition")) => create.condition = Some(text(p)?),
            ("create", Short('n') | Long("name")) => create.name = Some(text(p)?),
            ("create", Short('w') | Long("webhook")) => create.webhook = Some(text(p)?),
            ("create", Long("email")) => create.email = Some(text(p)?),
            ("create", Long("paused")) => create.paused = true,
            ("create", Long("run-immediately")) => create.run_immediately = true,
            ("create", Short('s') | Long("schedule")) => create.schedule = Some(text(p)?),
            ("create", Long("notify-behavior")) => create.notify_behavior = Some(text(p)?),
            ("update", Short('n') | Long("name")) => changes.name = Some(text(p)?),
            ("update", Short('q') | Long("query")) => changes.query = Some(text(p)?),
            ("update", Short('c') | Long("condition")) => changes.condition = Some(text(p)?),
            ("update", Long("active")) => changes.active = Some(true),
            ("update", Long("inactive") | Long("paused")) => changes.active = Some(false),
            ("update", Short('w') | Long("webhook")) => changes.webhook = Some(Some(text(p)?)),
            ("update", Long("no-webhook")) => changes.webhook = Some(None),
            ("update", Short('s') | Long("schedule")) => changes.schedule = Some(text(p)?),
            ("update", Long("notify-behavior")) => changes.notify_behavior = Some(text(p)?),
            ("delete", Short('y') | Long("yes")) => yes = true,
            ("delete", Long("ignore-not-found")) => ignore_not_found = true,
            ("execute", Long("wait")) => wait = true,
            ("execute", Long("wait-timeout")) => {
                let value = text(p)?;
                wait = true;
                wait_timeout = Some(parse_count(&value, "--wait-timeout", path)? as u64);
            }
            ("logs", Long("status")) => status = Some(text(p)?),
            ("logs", Long("notifications-only")) => notifications_only = true,
            _ => return Err(usage(arg.unexpected(), path)),
        }
    }

    for id in &ids {
        check_task_id(id, path)?;
    }
    let one_id = |ids: &mut Vec<String>| -> Result<String> {
        match ids.len() {
            1 => Ok(ids.remove(0)),
            0 => Err(see_help(Error::usage("Missing task ID"), path)),
            _ => Err(see_help(
                Error::usage(format!("'torale {path}' takes one task ID")),
                path,
            )),
        }
    };
    let some_ids = |ids: Vec<String>| -> Result<Vec<String>> {
        if ids.is_empty() {
            Err(see_help(Error::usage("Missing task ID"), path))
        } else {
            Ok(ids)
        }
    };
    let command = match name {
        "list" => {
            if !ids.is_empty() {
                return Err(see_help(
                    Error::usage(format!("Unexpected argument '{}'", ids[0])),
                    path,
                ));
            }
            TaskCommand::List { state, limit }
        }
        "get" => TaskCommand::Get {
            id: one_id(&mut ids)?,
        },
        "create" => {
            if let Some(extra) = ids.first() {
                return Err(
                    see_help(Error::usage(format!("Unexpected argument '{extra}'")), path)
                        .hint("Quote the question: torale task create -q \"When is ...?\""),
                );
            }
            create.query = match query {
                Some(q) if !q.trim().is_empty() => q,
                Some(_) => return Err(see_help(Error::usage("The query (-q) is empty"), path)),
                None => return Err(see_help(Error::usage("Missing --query (-q)"), path)),
            };
            check_create(&create, path)?;
            TaskCommand::Create(create)
        }
        "update" => {
            let id = one_id(&mut ids)?;
            check_update(&changes, path)?;
            if changes.is_empty() {
                return Err(see_help(
                    Error::usage("Nothing to update: give at least one field to change"),
                    path,
                ));
            }
            TaskCommand::Update { id, changes }
        }
        "pause" | "resume" | "complete" => TaskCommand::SetState {
            ids: some_ids(ids)?,
            state: match name {
                "pause" => StateFilter::Paused,
                "resume" => StateFilter::Active,
                _ => StateFilter::Completed,
            },
        },
        "delete" => TaskCommand::Delete {
            ids: some_ids(ids)?,
            yes,
            ignore_not_found,
        },
        "execute" => TaskCommand::Execute {
            id: one_id(&mut ids)?,
            wait,
            wait_timeout: wait_timeout.unwrap_or(DEFAULT_WAIT_TIMEOUT),
        },
        "logs" => TaskCommand::Logs {
            id: one_id(&mut ids)?,
            limit: limit.unwrap_or(DEFAULT_LOG_LIMIT),
            status: match status {
                Some(s) => Some(check_status(&s, path)?),
                None => None,
            },
            notifications_only,
        },
        _ => TaskCommand::Notifications {
            id: one_id(&mut ids)?,
            limit: limit.unwrap_or(DEFAULT_LOG_LIMIT),
        },
    };
    Ok(Command::Task(command))
}

fn parse_count(value: &str, flag: &str, path: &str) -> Result<usize> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(see_help(
            Error::usage(format!(
                "Invalid value '{value}' for '{flag}': expected a whole number from 1 to 1000000"
            )),
            path,
        )),
    }
}

/// Task IDs are UUIDs; checking locally keeps bad input out of the URL path.
pub fn check_task_id(id: &str, path: &str) -> Result<()> {
    if is_uuid(id) {
        return Ok(());
    }
    let shown: String = crate::output::sanitize(id).chars().take(60).collect();
    Err(see_help(
        Error::usage(format!(
            "Invalid task ID '{shown}': expected a UUID such as 85426056-2e6c-4c21-887d-701e6fe3eee3"
        )),
        path,
    ))
}

pub fn is_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn check_create(args: &CreateArgs, path: &str) -> Result<()> {
    if let Some(url) = &args.webhook {
        check_webhook(url, path)?;
    }
    if let Some(email) = &args.email {
        let valid = email.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
        });
        if !valid {
            return Err(see_help(
                Error::usage(format!(
                    "Invalid --email '{email}': expected an address like me@example.com"
                )),
                path,
            ));
        }
    }
    if let Some(cron) = &args.schedule {
        check_cron(cron).map_err(|why| {
            see_help(
                Error::usage(format!("Invalid --schedule '{cron}': {why}")),
                path,
            )
        })?;
    }
    if let Some(b) = &args.notify_behavior {
        check_notify_behavior(b, path)?;
    }
    if let Some(name) = &args.name {
        if name.trim().is_empty() {
            return Err(see_help(
                Error::usage("The task name (--name) is empty"),
                path,
            ));
        }
    }
    Ok(())
}

fn check_update(changes: &UpdateArgs, path: &str) -> Result<()> {
    if let Some(Some(url)) = &changes.webhook {
        check_webhook(url, path)?;
    }
    if let Some(cron) = &changes.schedule {
        check_cron(cron).map_err(|why| {
            see_help(
                Error::usage(format!("Invalid --schedule '{cron}': {why}")),
                path,
            )
        })?;
    }
    if let Some(b) = &changes.notify_behavior {
        check_notify_behavior(b, path)?;
    }
    for (flag, value) in [("--name", &changes.name), ("--query", &changes.query)] {
        if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
            return Err(see_help(
                Error::usage(format!("The value of {flag} is empty")),
                path,
            ));
        }
    }
    Ok(())
}

fn check_webhook(url: &str, path: &str) -> Result<()> {
    let host = url.strip_prefix("https://").unwrap_or("");
    if host.is_empty() || host.starts_with('/') || url.contains(char::is_whitespace) {
        return Err(see_help(
            Error::usage(format!(
                "Invalid --webhook '{url}': the API accepts only https:// URLs"
            )),
            path,
        ));
    }
    Ok(())
}

fn check_notify_behavior(value: &str, path: &str) -> Result<()> {
    if matches!(value, "once" | "always" | "track_state") {
        return Ok(());
    }
    Err(see_help(
        Error::usage(format!(
            "Invalid --notify-behavior '{value}': use once, always or track_state"
        )),
        path,
    ))
}

fn check_status(value: &str, path: &str) -> Result<String> {
    const STATUSES: [&str; 6] = [
        "pending",
        "running",
        "success",
        "retrying",
        "failed",
        "cancelled",
    ];
    let lower = value.to_ascii_lowercase();
    if STATUSES.contains(&lower.as_str()) {
        return Ok(lower);
    }
    Err(see_help(
        Error::usage(format!(
            "Invalid --status '{value}': use one of {}",
            STATUSES.join(", ")
        )),
        path,
    ))
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
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str]) -> Result<Invocation> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn globals_anywhere() {
        let a = cmd(&["--json", "task", "list"]).unwrap();
        let b = cmd(&["task", "list", "--json"]).unwrap();
        assert!(a.globals.json && b.globals.json);
        assert_eq!(a.command, b.command);
        let c = cmd(&["task", "--api-url=http://x", "list", "--limit", "3"]).unwrap();
        assert_eq!(c.globals.flags.api_url.as_deref(), Some("http://x"));
        assert_eq!(
            c.command,
            Command::Task(TaskCommand::List {
                state: None,
                limit: Some(3)
            })
        );
    }

    #[test]
    fn usage_errors_name_the_flag() {
        let err = cmd(&["task", "list", "--bogus"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message.contains("--bogus"));
        assert!(err.hints[0].contains("torale task list --help"));
        assert!(cmd(&["task", "get", "not-a-uuid"])
            .unwrap_err()
            .message
            .contains("UUID"));
        assert!(cmd(&["task", "update", "85426056-2e6c-4c21-887d-701e6fe3eee3"]).is_err());
        assert!(cmd(&["--timeout"])
            .unwrap_err()
            .message
            .contains("--timeout"));
    }

    #[test]
    fn help_wins() {
        assert!(matches!(
            cmd(&["task", "create", "--bogus", "--help"])
                .unwrap()
                .command,
            Command::Help(_)
        ));
        assert!(matches!(
            cmd(&["--version"]).unwrap().command,
            Command::Version
        ));
    }

    #[test]
    fn dash_dash_ends_options() {
        let c = cmd(&["task", "create", "-q", "x", "--", "--json"]);
        assert!(c.unwrap_err().message.contains("'--json'"));
        let c = cmd(&["config", "set", "api_url", "--", "--weird"]).unwrap();
        assert_eq!(
            c.command,
            Command::Config(ConfigCommand::Set("api_url".into(), "--weird".into()))
        );
    }

    #[test]
    fn cron() {
        assert!(check_cron("0 9 * * *").is_ok());
        assert!(check_cron("*/15 0-23 1,15 jan-dec mon-fri").is_ok());
        assert!(check_cron("0 9 * *").is_err());
        assert!(check_cron("60 9 * * *").is_err());
        assert!(check_cron("0 9 * * 8").is_err());
        assert!(check_cron("0 9 */0 * *").is_err());
    }
}
