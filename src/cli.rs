//! The command line: argv → [`Invocation`], with no I/O. The only file that uses lexopt.

use std::ffi::OsString;

use lexopt::prelude::*;
use lexopt::Parser;

use crate::commands;
use crate::config::{Flags, KeyArg};
use crate::error::{Error, Result};
use crate::output::{ColorChoice, Selection};

/// Options accepted anywhere on the line, before or after the command.
#[derive(Clone, Debug, Default)]
pub struct Globals {
    pub flags: Flags,
    pub json: bool,
    pub color: ColorChoice,
    pub debug: bool,
    /// `--field`/`--format`.
    pub selection: Option<Selection>,
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
    /// `completion SHELL`
    Completion(String),
    Templates(TemplatesCommand),
    /// `api`: a raw request.
    Api(ApiArgs),
}

#[derive(Debug, PartialEq)]
pub struct ApiArgs {
    /// `-X`; else GET, or POST when there is a body.
    pub method: Option<crate::client::Method>,
    pub path: String,
    /// `(key, value, typed)` from `-f` (string) and `-F` (typed), in order.
    pub fields: Vec<(String, String, bool)>,
    pub input: Option<String>,
    pub include: bool,
}

#[derive(Debug, PartialEq)]
pub enum TemplatesCommand {
    List { category: Option<String> },
    Get { id: String },
}

#[derive(Debug, PartialEq)]
pub enum KeysCommand {
    List,
    Create { name: String },
    Revoke { id: String, yes: bool },
}

#[derive(Debug, PartialEq)]
pub enum AuthCommand {
    SetApiKey { verify: bool },
    Status,
    Whoami,
    Logout,
    Keys(KeysCommand),
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
    Apply {
        file: String,
        dry_run: bool,
        exit_code: bool,
        prune: bool,
        yes: bool,
    },
    Preview,
}

pub const DEFAULT_WAIT_TIMEOUT: u64 = 300;
pub const DEFAULT_LOG_LIMIT: usize = 20;

/// An option a command accepts.
#[derive(Debug)]
pub struct Opt {
    pub long: &'static str,
    pub short: Option<char>,
    /// The name of its value in help (`None`: a switch without a value).
    pub value: Option<&'static str>,
}

const fn switch(long: &'static str, short: Option<char>) -> Opt {
    Opt {
        long,
        short,
        value: None,
    }
}

const fn valued(long: &'static str, short: Option<char>, value: &'static str) -> Opt {
    Opt {
        long,
        short,
        value: Some(value),
    }
}

/// A command: the words that name it, its options and how many positional arguments it takes.
#[derive(Debug)]
pub struct Spec {
    pub path: &'static str,
    pub opts: &'static [Opt],
    pub min_args: usize,
    pub max_args: usize,
    /// The positional arguments' name in messages, e.g. `ID`.
    pub arg_name: &'static str,
}

const MANY: usize = usize::MAX;

const fn spec(
    path: &'static str,
    opts: &'static [Opt],
    min_args: usize,
    max_args: usize,
    arg_name: &'static str,
) -> Spec {
    Spec {
        path,
        opts,
        min_args,
        max_args,
        arg_name,
    }
}

/// Options every command accepts, before or after its name.
pub const GLOBAL_OPTS: &[Opt] = &[
    valued("api-key", None, "KEY"),
    valued("api-key-file", None, "PATH"),
    valued("api-url", None, "URL"),
    valued("timeout", None, "SECS"),
    switch("json", None),
    valued("field", None, "NAME"),
    valued("format", None, "TEMPLATE"),
    valued("color", None, "WHEN"),
    switch("no-color", None),
    switch("debug", None),
    switch("help", Some('h')),
    switch("version", None),
];

const LIMIT: Opt = valued("limit", None, "N");

/// Every command the parser knows. Completions are generated from this table too.
pub const COMMANDS: &[Spec] = &[
    spec("version", &[], 0, 0, ""),
    spec("help", &[], 0, MANY, "COMMAND"),
    spec("auth set-api-key", &[switch("no-verify", None)], 0, 0, ""),
    spec("auth status", &[], 0, 0, ""),
    spec("auth whoami", &[], 0, 0, ""),
    spec("auth logout", &[], 0, 0, ""),
    spec("auth keys list", &[], 0, 0, ""),
    spec("auth keys create", &[], 1, 1, "NAME"),
    spec(
        "auth keys revoke",
        &[switch("yes", Some('y'))],
        1,
        1,
        "KEY_ID",
    ),
    spec("config", &[], 0, 0, ""),
    spec("config get", &[], 1, 1, "KEY"),
    spec("config set", &[], 2, 2, "KEY VALUE"),
    spec("config unset", &[], 1, 1, "KEY"),
    spec("config path", &[], 0, 0, ""),
    spec(
        "task list",
        &[
            switch("active", None),
            switch("paused", None),
            switch("completed", None),
            LIMIT,
        ],
        0,
        0,
        "",
    ),
    spec("task get", &[], 1, 1, "ID"),
    spec(
        "task create",
        &[
            valued("query", Some('q'), "Q"),
            valued("condition", Some('c'), "C"),
            valued("name", Some('n'), "N"),
            valued("webhook", Some('w'), "URL"),
            valued("email", None, "ADDR"),
            switch("paused", None),
            switch("run-immediately", None),
            valued("schedule", Some('s'), "CRON"),
            valued("notify-behavior", None, "B"),
            valued("from-template", None, "ID"),
        ],
        0,
        0,
        "",
    ),
    spec(
        "task update",
        &[
            valued("name", Some('n'), "N"),
            valued("query", Some('q'), "Q"),
            valued("condition", Some('c'), "C"),
            switch("active", None),
            switch("inactive", None),
            valued("webhook", Some('w'), "URL"),
            switch("no-webhook", None),
            valued("schedule", Some('s'), "CRON"),
            valued("notify-behavior", None, "B"),
        ],
        1,
        1,
        "ID",
    ),
    spec("task pause", &[], 1, MANY, "ID"),
    spec("task resume", &[], 1, MANY, "ID"),
    spec("task complete", &[], 1, MANY, "ID"),
    spec(
        "task delete",
        &[switch("yes", Some('y')), switch("ignore-not-found", None)],
        1,
        MANY,
        "ID",
    ),
    spec(
        "task execute",
        &[switch("wait", None), valued("wait-timeout", None, "SECS")],
        1,
        1,
        "ID",
    ),
    spec(
        "task logs",
        &[
            LIMIT,
            valued("status", None, "S"),
            switch("notifications-only", None),
        ],
        1,
        1,
        "ID",
    ),
    spec("task notifications", &[LIMIT], 1, 1, "ID"),
    spec(
        "task apply",
        &[
            valued("file", Some('f'), "FILE"),
            switch("dry-run", None),
            switch("exit-code", None),
            switch("prune", None),
            switch("yes", Some('y')),
        ],
        0,
        0,
        "",
    ),
    spec("task preview", &[], 0, MANY, ""),
    spec("templates list", &[valued("category", None, "C")], 0, 0, ""),
    spec("templates get", &[], 1, 1, "TEMPLATE_ID"),
    spec(
        "api",
        &[
            valued("method", Some('X'), "METHOD"),
            valued("raw-field", Some('f'), "KEY=VALUE"),
            valued("typed-field", Some('F'), "KEY=VALUE"),
            valued("input", None, "FILE"),
            switch("include", Some('i')),
        ],
        1,
        1,
        "PATH",
    ),
    spec("completion", &[], 1, 1, "SHELL (bash, zsh or fish)"),
];

/// Options of one command that contradict each other: at most one of each set.
const EXCLUSIVE: &[(&str, &[&str])] = &[
    ("task list", &["active", "paused", "completed"]),
    ("task update", &["active", "inactive"]),
    ("task update", &["webhook", "no-webhook"]),
];

/// Options that may be given more than once (each adds a value).
const REPEATABLE: &[&str] = &["raw-field", "typed-field"];

/// Other names for commands and options, accepted but not offered by completion.
const ALIASES: &[(&str, &str)] = &[
    ("tasks", "task"),
    ("task ls", "task list"),
    ("task show", "task get"),
    ("task rm", "task delete"),
    ("task run", "task execute"),
    ("auth login", "auth set-api-key"),
    ("config show", "config"),
    ("config list", "config"),
    ("template", "templates"),
    ("templates ls", "templates list"),
    ("auth keys ls", "auth keys list"),
];

/// The command named by `path`, if it is one.
pub fn find_spec(path: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|s| s.path == path)
}

/// The next words after `path` (top level for ""), in table order.
pub fn children(path: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for spec in COMMANDS {
        let rest = if path.is_empty() {
            Some(spec.path)
        } else {
            spec.path
                .strip_prefix(path)
                .and_then(|r| r.strip_prefix(' '))
        };
        if let Some(name) = rest.and_then(|r| r.split(' ').next()) {
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

fn canonical(path: String) -> String {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == path)
        .map_or(path, |(_, real)| real.to_string())
}

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
    let parsed = parse_line(&mut parser, &mut globals)?;
    let command = build(parsed)?;
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

fn find_opt(opts: &'static [Opt], arg: &lexopt::Arg) -> Option<&'static Opt> {
    opts.iter().find(|o| match arg {
        Long(name) => o.long == *name || (o.long == "color" && *name == "colour"),
        Short(c) => o.short == Some(*c),
        Value(_) => false,
    })
}

/// Record a global option in `g`.
fn apply_global(
    opt: &Opt,
    value: Option<String>,
    g: &mut Globals,
) -> std::result::Result<(), lexopt::Error> {
    let value = value.unwrap_or_default();
    match opt.long {
        "api-key" | "api-key-file" if g.flags.api_key.is_some() => {
            return Err(lexopt::Error::Custom(
                "give the API key once: either --api-key or --api-key-file".into(),
            ))
        }
        "api-key" => g.flags.api_key = Some(KeyArg::Value(value)),
        "api-key-file" => g.flags.api_key = Some(KeyArg::File(value)),
        "api-url" => g.flags.api_url = Some(value),
        "timeout" => g.flags.timeout = Some(value),
        "json" => g.json = true,
        "field" => match &mut g.selection {
            None => g.selection = Some(Selection::Fields(vec![value])),
            Some(Selection::Fields(fields)) => fields.push(value),
            Some(Selection::Format(_)) => {
                return Err(lexopt::Error::Custom(
                    "use either --field or --format, not both".into(),
                ))
            }
        },
        "format" => {
            if matches!(g.selection, Some(Selection::Fields(_))) {
                return Err(lexopt::Error::Custom(
                    "use either --field or --format, not both".into(),
                ));
            }
            let selection = Selection::parse_format(&value)
                .map_err(|why| lexopt::Error::Custom(format!("invalid --format: {why}").into()))?;
            g.selection = Some(selection);
        }
        "debug" => g.debug = true,
        "no-color" => g.color = ColorChoice::Never,
        "color" => {
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
            }
        }
        _ => {}
    }
    Ok(())
}

/// A command line matched against its [`Spec`]: the options given (in order) and the
/// positional arguments.
#[derive(Debug)]
struct Parsed {
    spec: &'static Spec,
    opts: Vec<(&'static str, Option<String>)>,
    args: Vec<String>,
}

impl Parsed {
    fn has(&self, long: &str) -> bool {
        self.opts.iter().any(|(name, _)| *name == long)
    }

    /// The value of the last occurrence of an option.
    fn value(&self, long: &str) -> Option<String> {
        self.opts
            .iter()
            .rev()
            .find(|(name, _)| *name == long)
            .and_then(|(_, v)| v.clone())
    }

    /// Which of several exclusive switches came last.
    fn last_of(&self, longs: &[&'static str]) -> Option<&'static str> {
        self.opts
            .iter()
            .rev()
            .find(|(name, _)| longs.contains(name))
            .map(|(name, _)| *name)
    }
}

/// Find the command (its words), then read its options and arguments.
fn parse_line(p: &mut Parser, g: &mut Globals) -> Result<Parsed> {
    let mut path = String::new();
    let mut pending_word: Option<String> = None;
    // The command's words; global options may stand between them.
    while let Some(owned) = next(p).map_err(|e| usage(e, &path))? {
        let arg = owned.view();
        if let Value(word) = &arg {
            let word = word.clone().string().map_err(|e| usage(e, &path))?;
            let candidate = canonical(if path.is_empty() {
                word.clone()
            } else {
                format!("{path} {word}")
            });
            if find_spec(&candidate).is_some() || !children(&candidate).is_empty() {
                path = candidate;
                if children(&path).is_empty() {
                    break;
                }
                continue;
            }
            if find_spec(&path).is_some_and(|s| s.max_args > 0) {
                pending_word = Some(word);
                break;
            }
            let group = if path.is_empty() {
                String::new()
            } else {
                format!("{path} ")
            };
            let help = if path.is_empty() {
                "torale --help".to_string()
            } else {
                format!("torale {path} --help")
            };
            return Err(Error::usage(format!("Unknown {group}command '{word}'"))
                .hint(format!("See '{help}' for the commands")));
        }
        match find_opt(GLOBAL_OPTS, &arg) {
            Some(opt) => {
                let value = match opt.value {
                    Some(_) => Some(
                        p.value()
                            .and_then(|v| v.string())
                            .map_err(|e| usage(e, &path))?,
                    ),
                    None => None,
                };
                apply_global(opt, value, g).map_err(|e| usage(e, &path))?;
            }
            None => return Err(usage(arg.unexpected(), &path)),
        }
    }
    let Some(spec) = find_spec(&path) else {
        return Err(if path.is_empty() {
            Error::usage("Missing command").hint("See 'torale --help' for the commands")
        } else {
            Error::usage(format!("Missing {path} command"))
                .hint(format!("See 'torale {path} --help'"))
        });
    };
    let mut parsed = Parsed {
        spec,
        opts: Vec::new(),
        args: pending_word.into_iter().collect(),
    };
    if path == "task preview" {
        // Whatever the old CLI's preview took, the answer is the same explanation.
        return Ok(parsed);
    }
    while let Some(owned) = next(p).map_err(|e| usage(e, &path))? {
        let arg = owned.view();
        if let Value(word) = arg {
            parsed
                .args
                .push(word.string().map_err(|e| usage(e, &path))?);
            continue;
        }
        let (opt, is_global) = match find_opt(spec.opts, &arg) {
            Some(opt) => (opt, false),
            None => match find_opt(GLOBAL_OPTS, &arg) {
                Some(opt) => (opt, true),
                None => return Err(usage(arg.unexpected(), &path)),
            },
        };
        let value = match opt.value {
            Some(_) => Some(
                p.value()
                    .and_then(|v| v.string())
                    .map_err(|e| usage(e, &path))?,
            ),
            None => None,
        };
        if is_global {
            apply_global(opt, value, g).map_err(|e| usage(e, &path))?;
        } else {
            parsed.opts.push((opt.long, value));
        }
    }
    // A value given twice, or switches that contradict each other, are mistakes to point out,
    // not to settle silently by taking the last one.
    for (i, (name, value)) in parsed.opts.iter().enumerate() {
        if value.is_some()
            && !REPEATABLE.contains(name)
            && parsed.opts[..i].iter().any(|(earlier, _)| earlier == name)
        {
            return Err(see_help(
                Error::usage(format!("'--{name}' is given more than once")),
                &path,
            ));
        }
    }
    for (command, set) in EXCLUSIVE {
        let given: Vec<&str> = set
            .iter()
            .copied()
            .filter(|name| parsed.has(name))
            .collect();
        if *command == path && given.len() > 1 {
            let flags: Vec<String> = given.iter().map(|n| format!("--{n}")).collect();
            return Err(see_help(
                Error::usage(format!("Use only one of {}", flags.join(", "))),
                &path,
            ));
        }
    }
    let count = parsed.args.len();
    if count > spec.max_args {
        let extra = &parsed.args[spec.max_args.min(count - 1)];
        let mut err = see_help(
            Error::usage(format!(
                "Unexpected argument '{}'",
                crate::output::sanitize(extra)
            )),
            &path,
        );
        if path == "task create" {
            err = err.hint("Quote the question: torale task create -q \"When is ...?\"");
        }
        return Err(err);
    }
    if count < spec.min_args {
        let what = if spec.arg_name == "ID" {
            "task ID".to_string()
        } else {
            spec.arg_name.to_string()
        };
        return Err(see_help(Error::usage(format!("Missing {what}")), &path));
    }
    Ok(parsed)
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

/// Build the command from a parsed line, checking values.
fn build(parsed: Parsed) -> Result<Command> {
    let path = parsed.spec.path;
    let mut args = parsed.args.clone();
    if path.starts_with("task ") && path != "task preview" {
        for id in &args {
            check_task_id(id, path)?;
        }
    }
    let count = |flag: &str| -> Result<Option<usize>> {
        match parsed.value(flag) {
            Some(v) => parse_count(&v, &format!("--{flag}"), path).map(Some),
            None => Ok(None),
        }
    };
    let first = |args: &mut Vec<String>| {
        if args.is_empty() {
            String::new()
        } else {
            args.remove(0)
        }
    };
    let command = match path {
        "version" => Command::Version,
        "help" => return help_command(&args),
        "auth set-api-key" => Command::Auth(AuthCommand::SetApiKey {
            verify: !parsed.has("no-verify"),
        }),
        "auth status" => Command::Auth(AuthCommand::Status),
        "auth whoami" => Command::Auth(AuthCommand::Whoami),
        "auth logout" => Command::Auth(AuthCommand::Logout),
        "auth keys list" => Command::Auth(AuthCommand::Keys(KeysCommand::List)),
        "auth keys create" => {
            let name = first(&mut args);
            if name.trim().is_empty() {
                return Err(see_help(Error::usage("The key name is empty"), path));
            }
            Command::Auth(AuthCommand::Keys(KeysCommand::Create { name }))
        }
        "auth keys revoke" => {
            let id = first(&mut args);
            check_uuid(&id, "key ID", path)?;
            Command::Auth(AuthCommand::Keys(KeysCommand::Revoke {
                id,
                yes: parsed.has("yes"),
            }))
        }
        "templates list" => Command::Templates(TemplatesCommand::List {
            category: parsed.value("category"),
        }),
        "templates get" => {
            let id = first(&mut args);
            check_uuid(&id, "template ID", path)?;
            Command::Templates(TemplatesCommand::Get { id })
        }
        "config" => Command::Config(ConfigCommand::Show),
        "config get" => Command::Config(ConfigCommand::Get(first(&mut args))),
        "config unset" => Command::Config(ConfigCommand::Unset(first(&mut args))),
        "config set" => {
            let key = first(&mut args);
            Command::Config(ConfigCommand::Set(key, first(&mut args)))
        }
        "config path" => Command::Config(ConfigCommand::Path),
        "task list" => Command::Task(TaskCommand::List {
            state: parsed
                .last_of(&["active", "paused", "completed"])
                .map(|s| match s {
                    "active" => StateFilter::Active,
                    "paused" => StateFilter::Paused,
                    _ => StateFilter::Completed,
                }),
            limit: count("limit")?,
        }),
        "task get" => Command::Task(TaskCommand::Get {
            id: first(&mut args),
        }),
        "task create" => {
            let from_template = parsed.value("from-template");
            let query = match (parsed.value("query"), &from_template) {
                (Some(q), _) if !q.trim().is_empty() => q,
                (Some(_), _) => {
                    return Err(see_help(Error::usage("The query (-q) is empty"), path))
                }
                (None, Some(_)) => String::new(),
                (None, None) => {
                    return Err(see_help(
                        Error::usage("Missing --query (-q)")
                            .hint("Or start from a template: --from-template ID"),
                        path,
                    ))
                }
            };
            if let Some(id) = &from_template {
                check_uuid(id, "template ID", path)?;
            }
            let create = CreateArgs {
                query,
                from_template,
                condition: parsed.value("condition"),
                name: parsed.value("name"),
                webhook: parsed.value("webhook"),
                email: parsed.value("email"),
                paused: parsed.has("paused"),
                run_immediately: parsed.has("run-immediately"),
                schedule: parsed.value("schedule"),
                notify_behavior: parsed.value("notify-behavior"),
            };
            check_create(&create, path)?;
            Command::Task(TaskCommand::Create(create))
        }
        "task update" => {
            let changes = UpdateArgs {
                name: parsed.value("name"),
                query: parsed.value("query"),
                condition: parsed.value("condition"),
                active: parsed
                    .last_of(&["active", "inactive"])
                    .map(|s| s == "active"),
                webhook: match parsed.last_of(&["webhook", "no-webhook"]) {
                    Some("webhook") => Some(parsed.value("webhook")),
                    Some(_) => Some(None),
                    None => None,
                },
                schedule: parsed.value("schedule"),
                notify_behavior: parsed.value("notify-behavior"),
            };
            check_update(&changes, path)?;
            if changes.is_empty() {
                return Err(see_help(
                    Error::usage("Nothing to update: give at least one field to change"),
                    path,
                ));
            }
            Command::Task(TaskCommand::Update {
                id: first(&mut args),
                changes,
            })
        }
        "task pause" | "task resume" | "task complete" => Command::Task(TaskCommand::SetState {
            ids: args,
            state: match path {
                "task pause" => StateFilter::Paused,
                "task resume" => StateFilter::Active,
                _ => StateFilter::Completed,
            },
        }),
        "task delete" => Command::Task(TaskCommand::Delete {
            ids: args,
            yes: parsed.has("yes"),
            ignore_not_found: parsed.has("ignore-not-found"),
        }),
        "task execute" => Command::Task(TaskCommand::Execute {
            id: first(&mut args),
            wait: parsed.has("wait") || parsed.has("wait-timeout"),
            wait_timeout: count("wait-timeout")?.map_or(DEFAULT_WAIT_TIMEOUT, |n| n as u64),
        }),
        "task logs" => Command::Task(TaskCommand::Logs {
            id: first(&mut args),
            limit: count("limit")?.unwrap_or(DEFAULT_LOG_LIMIT),
            status: match parsed.value("status") {
                Some(s) => Some(check_status(&s, path)?),
                None => None,
            },
            notifications_only: parsed.has("notifications-only"),
        }),
        "task notifications" => Command::Task(TaskCommand::Notifications {
            id: first(&mut args),
            limit: count("limit")?.unwrap_or(DEFAULT_LOG_LIMIT),
        }),
        "task apply" => {
            let Some(file) = parsed.value("file") else {
                return Err(see_help(Error::usage("Missing --file (-f)"), path));
            };
            if parsed.has("exit-code") && !parsed.has("dry-run") {
                return Err(see_help(
                    Error::usage("--exit-code goes with --dry-run"),
                    path,
                ));
            }
            Command::Task(TaskCommand::Apply {
                file,
                dry_run: parsed.has("dry-run"),
                exit_code: parsed.has("exit-code"),
                prune: parsed.has("prune"),
                yes: parsed.has("yes"),
            })
        }
        "task preview" => Command::Task(TaskCommand::Preview),
        "completion" => Command::Completion(first(&mut args)),
        "api" => {
            let path = crate::commands::api::check_path(&first(&mut args))
                .map_err(|why| see_help(Error::usage(why), "api"))?;
            let method = match parsed.value("method") {
                None => None,
                Some(m) => Some(match m.to_ascii_uppercase().as_str() {
                    "GET" => crate::client::Method::Get,
                    "POST" => crate::client::Method::Post,
                    "PUT" => crate::client::Method::Put,
                    "PATCH" => crate::client::Method::Patch,
                    "DELETE" => crate::client::Method::Delete,
                    _ => {
                        return Err(see_help(
                            Error::usage(format!(
                                "Invalid value '{}' for '--method': use GET, POST, PUT, PATCH or DELETE",
                                crate::output::sanitize(&m)
                            )),
                            "api",
                        ))
                    }
                }),
            };
            let mut fields = Vec::new();
            for (name, value) in &parsed.opts {
                let typed = match *name {
                    "raw-field" => false,
                    "typed-field" => true,
                    _ => continue,
                };
                let value = value.clone().unwrap_or_default();
                let Some((key, val)) = value.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    return Err(see_help(
                        Error::usage(format!(
                            "Invalid field '{}': use KEY=VALUE",
                            crate::output::sanitize(&value)
                        )),
                        "api",
                    ));
                };
                fields.push((key.to_string(), val.to_string(), typed));
            }
            let input = parsed.value("input");
            if input.is_some() && !fields.is_empty() {
                return Err(see_help(
                    Error::usage("Use either --input or fields (-f/-F), not both"),
                    "api",
                ));
            }
            Command::Api(ApiArgs {
                method,
                path,
                fields,
                input,
                include: parsed.has("include"),
            })
        }
        other => return Err(Error::internal(format!("No handler for '{other}'"))),
    };
    Ok(command)
}

fn help_command(words: &[String]) -> Result<Command> {
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
    check_uuid(id, "task ID", path)
}

fn check_uuid(id: &str, what: &str, path: &str) -> Result<()> {
    if is_uuid(id) {
        return Ok(());
    }
    let shown: String = crate::output::sanitize(id).chars().take(60).collect();
    Err(see_help(
        Error::usage(format!(
            "Invalid {what} '{shown}': expected a UUID such as 85426056-2e6c-4c21-887d-701e6fe3eee3"
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
    if args.condition.as_ref().is_some_and(|c| c.trim().is_empty()) {
        return Err(see_help(
            Error::usage("The value of --condition is empty"),
            path,
        ));
    }
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
    check_legacy_options(
        args.schedule.as_deref(),
        args.notify_behavior.as_deref(),
        path,
    )?;
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

/// `--schedule` (a 5-field cron) and `--notify-behavior`, which only legacy servers use.
fn check_legacy_options(
    schedule: Option<&str>,
    notify_behavior: Option<&str>,
    path: &str,
) -> Result<()> {
    if let Some(cron) = schedule {
        check_cron(cron).map_err(|why| {
            see_help(
                Error::usage(format!("Invalid --schedule '{cron}': {why}")),
                path,
            )
        })?;
    }
    match notify_behavior {
        Some(b) => check_notify_behavior(b, path),
        None => Ok(()),
    }
}

fn check_update(changes: &UpdateArgs, path: &str) -> Result<()> {
    if let Some(Some(url)) = &changes.webhook {
        check_webhook(url, path)?;
    }
    check_legacy_options(
        changes.schedule.as_deref(),
        changes.notify_behavior.as_deref(),
        path,
    )?;
    for (flag, value) in [
        ("--name", &changes.name),
        ("--query", &changes.query),
        ("--condition", &changes.condition),
    ] {
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
    fn every_command_in_the_table_has_help() {
        for spec in COMMANDS {
            let words: Vec<&str> = spec.path.split(' ').collect();
            assert!(commands::is_known(&words), "no help for {}", spec.path);
            if words.len() >= 2 {
                assert_ne!(
                    commands::help_for(&words),
                    commands::help_for(&words[..words.len() - 1]),
                    "{} shows only its group's help",
                    spec.path
                );
            }
        }
        assert_eq!(
            children(""),
            vec![
                "version",
                "help",
                "auth",
                "config",
                "task",
                "templates",
                "api",
                "completion"
            ]
        );
        assert!(children("task").contains(&"create"));
        assert!(children("task create").is_empty());
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
