//! The commands: the parsed command as typed values, the options every command shares, the
//! pieces each group's parser is made of, and dispatch to each group's `run`.

pub mod api;
pub mod apply;
pub mod auth;
pub mod completion;
pub mod config;
pub mod task;
pub mod templates;

use std::io::Write;

use lexopt::{Arg, Parser, ValueExt};

use crate::client::Client;
use crate::error::{sanitize, Error, Result};
use crate::output::{ColorChoice, Output, Selection};
use crate::settings::{self, ConfigFile, Env, Flags, KeyArg, Settings};
use crate::terminal;

pub const HELP: &str = "\
torale - command-line client for the Torale API

Torale watches the web for a condition (a release date, a price drop) and notifies you
when it is met. torale manages those monitoring tasks from scripts, CI jobs and terminals.

Usage: torale [OPTIONS] <COMMAND>

Commands:
  auth        Store, check and remove your API key
  task        Create, list, run and delete monitoring tasks (also: tasks)
  config      Show and change settings
  templates   List and show task templates (also: template)
  api         Send a request to any API endpoint (like gh api)
  completion  Print a shell completion script (bash, zsh, fish)
  help        Help for a command; 'torale help exit-codes' for the exit codes
  version     Print the version

Options (before or after the command):
      --api-key KEY        API key (other users can see it in `ps`; prefer the next one)
      --api-key-file PATH  Read the API key from a file, or from standard input with '-'
      --api-url URL        API URL [default: https://api.torale.ai]
      --timeout SECS       Limit for each whole request, in seconds [default: 30]
      --json               Results as JSON; errors as one JSON object on stderr
      --field NAME         Print this field of each result, tab-separated (repeatable;
                           dotted paths such as last_execution.status)
      --format TEMPLATE    Print each result through a template such as '{id}\\t{name}'
      --color WHEN         Colour: auto, always or never [default: auto]
      --debug              Trace each HTTP request on stderr (the key is masked)
  -h, --help               Print help
      --version            Print the version

Settings come from the flag, else the environment, else ~/.torale/config.json, else the
default. Environment: TORALE_API_KEY, TORALE_API_URL, TORALE_TIMEOUT, TORALE_CONFIG_DIR,
TORALE_NOAUTH=1 (send no key; URL defaults to http://localhost:8000), TORALE_DEV=1 (URL
defaults to http://localhost:8000), TORALE_DEBUG=1, NO_COLOR, HTTPS_PROXY, NO_PROXY.

Examples:
  echo \"$TORALE_KEY\" | torale auth set-api-key
  torale task create -q \"When is the next iPhone release?\" -c \"A date is announced\"
  torale task list --json | jq -r '.[].id'
  torale task execute \"$ID\" --wait

Exit codes: 'torale help exit-codes'.
";

/// A command or a group of commands: its name, other names, help text and subcommands.
/// Help, completions and suggestions come from this tree, and the parsers read its names.
pub struct Cmd {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub help: &'static str,
    pub commands: &'static [Cmd],
}

pub const fn cmd(name: &'static str, aliases: &'static [&'static str], help: &'static str) -> Cmd {
    Cmd { name, aliases, help, commands: &[] }
}

/// The top level of the command tree.
pub const TREE: Cmd = Cmd {
    commands: &[
        Cmd { commands: auth::COMMANDS, ..cmd("auth", &[], auth::HELP) },
        Cmd { commands: task::COMMANDS, ..cmd("task", &["tasks"], task::HELP) },
        Cmd { commands: config::COMMANDS, ..cmd("config", &[], config::HELP) },
        Cmd { commands: templates::COMMANDS, ..cmd("templates", &["template"], templates::HELP) },
        cmd("api", &[], api::HELP),
        cmd("completion", &[], completion::HELP),
        cmd("help", &[], HELP),
        cmd("version", &[], HELP),
    ],
    ..cmd("torale", &[], HELP)
};

/// An option as a help text lists it (`-q, --query Q   The question`): long and short names,
/// and whether it takes a value.
pub type Opt = (&'static str, Option<char>, bool);

impl Cmd {
    /// The options its help text lists in its `Options` section.
    pub fn options(&self) -> Vec<Opt> {
        let mut opts = Vec::new();
        let mut in_options = false;
        for line in self.help.lines() {
            in_options = line.starts_with("Options") || (in_options && line.starts_with(' '));
            let spec = line.trim_start().split("  ").next().unwrap_or("");
            // `--active | --inactive` lists two options on one line.
            for spec in spec.split(" | ").filter(|_| in_options && spec.starts_with('-')) {
                let (mut long, mut short, mut value) = ("", None, false);
                for token in spec.split([' ', ',']).filter(|t| !t.is_empty()) {
                    match (token.strip_prefix("--"), token.strip_prefix('-')) {
                        (Some(name), _) => long = name,
                        (None, Some(name)) => short = name.chars().next(),
                        (None, None) => value = true,
                    }
                }
                opts.push((long, short, value));
            }
        }
        opts
    }

    pub fn find(&self, word: &str) -> Option<&'static Cmd> {
        self.commands.iter().find(|c| c.name == word || c.aliases.contains(&word))
    }

    /// `word`'s canonical name among the subcommands of `group` (`""` at the top), or the error.
    pub fn lookup(&self, group: &str, word: &str) -> Result<&'static str> {
        let group = if group.is_empty() { String::new() } else { format!("{group} ") };
        self.find(word).map(|c| c.name).ok_or_else(|| {
            Error::usage(format!("Unknown {group}command '{word}'"))
                .hint(format!("See 'torale {group}--help' for the commands"))
        })
    }

    /// A group's subcommand word, canonical, or the error for a missing or unknown one.
    pub fn subcommand(
        &self,
        group: &str,
        p: &mut Parser,
        globals: &mut GlobalOpts,
    ) -> Result<&'static str> {
        match next_word(p, globals).map_err(|e| e.see_help(group))? {
            Some(word) => self.lookup(group, &word),
            None => Err(Error::usage(format!("Missing {group} command")).see_help(group)),
        }
    }
}

pub enum Command {
    /// Print this help text on stdout.
    Help(&'static str),
    Version,
    Auth(auth::Command),
    Task(Box<task::Command>),
    Config(config::Command),
    Templates(templates::Command),
    Api(api::Args),
    /// `bash`, `zsh` or `fish`.
    Completion(&'static str),
}

/// The options every command accepts, before or after its name.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub api_key: Option<String>,
    pub api_key_file: Option<String>,
    pub api_url: Option<String>,
    pub timeout: Option<String>,
    pub json: bool,
    pub color: ColorChoice,
    pub debug: bool,
    /// `--field`/`--format`.
    pub selection: Option<Selection>,
}

/// Takes a global option met among a command's own options: `(long name, parser)`.
pub type GlobalOpts<'a> = dyn FnMut(&str, &mut Parser) -> Result<()> + 'a;

/// The next word (a subcommand), taking global options on the way.
pub fn next_word(p: &mut Parser, globals: &mut GlobalOpts) -> Result<Option<String>> {
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Value(word) => return Ok(Some(word.string()?)),
            Arg::Long(name) => globals(&String::from(name), p)?,
            Arg::Short(c) => return Err(Error::usage(format!("Unknown option '-{c}'"))),
        }
    }
    Ok(None)
}

/// Every remaining argument: positional words are returned, options go to `own` first
/// (which says whether it took the option), then to the global options.
pub fn rest<F>(p: &mut Parser, globals: &mut GlobalOpts, mut own: F) -> Result<Vec<String>>
where
    F: FnMut(&str, &mut Parser) -> Result<bool>,
{
    let mut words = Vec::new();
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Value(word) => words.push(word.string()?),
            Arg::Short(c) => {
                if !own(&c.to_string(), p)? {
                    return Err(Error::usage(format!("Unknown option '-{c}'")));
                }
            }
            Arg::Long(name) => {
                let name = name.to_owned();
                if !own(&name, p)? {
                    globals(&name, p)?;
                }
            }
        }
    }
    Ok(words)
}

/// The words of a command without options of its own: exactly `n`, `name` in "Missing NAME".
pub fn words(p: &mut Parser, g: &mut GlobalOpts, n: usize, name: &str) -> Result<Vec<String>> {
    let words = rest(p, g, |_, _| Ok(false))?;
    count_words(&words, n, n, name)?;
    Ok(words)
}

/// Check the number of positional words: `name` in "Missing NAME".
pub fn count_words(words: &[String], min: usize, max: usize, name: &str) -> Result<()> {
    match words.get(max) {
        Some(extra) => Err(Error::usage(format!("Unexpected argument '{}'", sanitize(extra)))),
        None if words.len() < min => Err(Error::usage(format!("Missing {name}"))),
        None => Ok(()),
    }
}

/// A request body, field value or tasks file (`-`: standard input), as large as a response may be.
pub fn read_input(source: &str) -> Result<Vec<u8>> {
    terminal::read_input(source, crate::client::MAX_BODY).map_err(|err| {
        Error::usage(format!("Cannot read {source}: {}", crate::error::io_reason(&err)))
    })
}

/// A value option, which may be given once.
pub fn once(slot: &mut Option<String>, long: &str, p: &mut Parser) -> Result<()> {
    if slot.replace(p.value()?.string()?).is_some() {
        return Err(Error::usage(format!("'--{long}' is given more than once")));
    }
    Ok(())
}

/// One of a set of switches that contradict each other: `(value, long name)` in help order.
pub fn one_of<T: Copy + Eq>(slot: &mut Option<T>, value: T, set: &[(T, &str)]) -> Result<()> {
    if let Some(old) = slot.replace(value).filter(|old| *old != value) {
        let names = set.iter().filter(|(v, _)| *v == old || *v == value);
        let names: Vec<String> = names.map(|(_, name)| format!("--{name}")).collect();
        return Err(Error::usage(format!("Use only one of {}", names.join(", "))));
    }
    Ok(())
}

/// A count option's value: a whole number from 1 to 1,000,000.
pub fn parse_count(value: &str, flag: &str) -> Result<usize> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(Error::usage(format!(
            "Invalid value '{value}' for '{flag}': expected a whole number from 1 to 1000000"
        ))),
    }
}

/// IDs are UUIDs; checking locally keeps bad input out of the URL path.
pub fn check_uuid(id: &str, what: &str) -> Result<()> {
    if is_uuid(id) {
        return Ok(());
    }
    let shown: String = sanitize(id).chars().take(60).collect();
    Err(Error::usage(format!(
        "Invalid {what} '{shown}': expected a UUID such as 85426056-2e6c-4c21-887d-701e6fe3eee3"
    )))
}

/// Hex digits in groups of 8-4-4-4-12, joined by dashes.
pub fn is_uuid(text: &str) -> bool {
    text.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && text.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
}

impl From<lexopt::Error> for Error {
    /// A command-line mistake as a usage error that names the flag.
    fn from(err: lexopt::Error) -> Error {
        use lexopt::Error as E;
        Error::usage(match err {
            E::MissingValue { option: Some(opt) } => format!("Missing value for '{opt}'"),
            E::UnexpectedValue { option, .. } => format!("'{option}' does not take a value"),
            E::NonUnicodeValue(_) => "An argument is not valid UTF-8".to_string(),
            // Unreachable: the parsers call neither `unexpected` nor `parse`, nor `value` alone.
            err => err.to_string(),
        })
    }
}

/// Everything a command needs from the environment, made once per invocation.
pub struct Context {
    pub options: Options,
    pub env: Env,
    pub output: Output,
    /// `--debug` or `TORALE_DEBUG=1`.
    pub debug: bool,
}

impl Context {
    pub fn new(options: Options) -> Context {
        let env = Env::from_process();
        let output = Output::detect(options.json, options.color, options.selection.clone());
        let debug = options.debug || env.debug;
        Context { options, env, output, debug }
    }

    /// The config file and the effective settings, with the key file read (a hidden prompt
    /// for `-` on a terminal).
    pub fn settings(&self) -> Result<(Settings, ConfigFile)> {
        let o = &self.options;
        let api_key = match (&o.api_key, &o.api_key_file) {
            (Some(key), _) => Some(KeyArg::Value(key.clone())),
            (None, Some(f)) => Some(KeyArg::File { path: f.clone(), text: read_key_file(f)? }),
            (None, None) => None,
        };
        let flags = Flags { api_key, api_url: o.api_url.clone(), timeout: o.timeout.clone() };
        let file = ConfigFile::open(&self.env)?;
        Ok((settings::resolve(&flags, &self.env, &file)?, file))
    }

    /// A client for these settings, with the key when one is required (`need_key`) or set.
    pub fn client(&self, need_key: bool) -> Result<Client> {
        let (settings, _) = self.settings()?;
        let key = settings.require_key().or_else(|e| if need_key { Err(e) } else { Ok(None) })?;
        Ok(Client::new(&settings, key, self.debug))
    }
}

/// Read a key from a file, or from standard input for `-` (a hidden prompt on a terminal).
fn read_key_file(path: &str) -> Result<String> {
    if path == "-" && terminal::stdin_is_terminal() {
        return terminal::read_hidden("API key (input is hidden): ");
    }
    let buf = terminal::read_input(path, 4096).map_err(|err| {
        Error::config(format!("Cannot read API key file {path}: {}", crate::error::io_reason(&err)))
    })?;
    String::from_utf8(buf)
        .map(|s| s.trim().to_string())
        .map_err(|_| Error::usage(format!("The API key file {path} is not text")))
}

/// Run a command, writing its result to `out`; the exit code of a successful run (0, or 12
/// for `task apply --dry-run --exit-code` with changes to make).
pub fn run(command: Command, cx: &Context, out: &mut Vec<u8>) -> Result<u8> {
    match command {
        Command::Help(text) => out.write_all(text.as_bytes())?,
        Command::Version => writeln!(out, "torale {}", env!("CARGO_PKG_VERSION"))?,
        Command::Config(cmd) => config::run(cmd, cx, out)?,
        Command::Completion(shell) => completion::run(shell, out)?,
        Command::Api(args) => api::run(args, cx, out)?,
        Command::Templates(cmd) => templates::run(cmd, cx, out)?,
        Command::Auth(cmd) => auth::run(cmd, cx, out)?,
        Command::Task(cmd) => return task::run(cmd, cx, out),
    }
    Ok(0)
}
