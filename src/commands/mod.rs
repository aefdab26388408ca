//! Command dispatch and the help tree: which help text belongs to which command.

pub mod api;
pub mod apply;
pub mod auth;
pub mod completion;
pub mod config;
pub mod task;
pub mod templates;

use std::io::Write;

use crate::cli::{Command, Globals};
use crate::client::Client;
use crate::config::{self as settings, ConfigFile, Env, Settings};
use crate::error::Result;
use crate::output::{stderr_line, Output};

pub const TOP_HELP: &str = "\
torale - command-line client for the Torale API

Torale watches the web for a condition (a release date, a price drop) and notifies you
when it is met. torale manages those monitoring tasks from scripts, CI jobs and terminals.

Usage: torale [OPTIONS] <COMMAND>

Commands:
  auth        Store, check and remove your API key
  task        Create, list, run and delete monitoring tasks
  config      Show and change settings
  templates   List and show task templates
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
      --format TEMPLATE    Print each result through a template such as '{id}\t{name}'
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

/// The first words of commands, and their aliases.
const GROUPS: &[&str] = &[
    "auth",
    "task",
    "tasks",
    "config",
    "templates",
    "template",
    "completion",
    "api",
    "help",
    "version",
    "exit-codes",
];

/// The help text for a command path such as `["task", "create"]`; unknown words fall back
/// to the nearest known parent.
pub fn help_for(words: &[&str]) -> &'static str {
    let group = words.iter().position(|w| GROUPS.contains(w));
    let Some(at) = group else {
        return TOP_HELP;
    };
    let sub = words.get(at + 1).copied().unwrap_or("");
    match words[at] {
        "auth" if sub == "keys" => {
            auth::keys_help(words.get(at + 2).copied().unwrap_or("")).unwrap_or(auth::KEYS_HELP)
        }
        "auth" => auth::help(sub).unwrap_or(auth::HELP),
        "task" | "tasks" => task::help(sub).unwrap_or(task::HELP),
        "config" => config::help(sub).unwrap_or(config::HELP),
        "completion" => completion::HELP,
        "api" => api::HELP,
        "templates" | "template" => templates::help(sub).unwrap_or(templates::HELP),
        "exit-codes" => crate::error::EXIT_CODES_HELP,
        "help" if sub == "exit-codes" => crate::error::EXIT_CODES_HELP,
        "help" if !sub.is_empty() => help_for(&words[at + 1..]),
        _ => TOP_HELP,
    }
}

/// Whether `help WORDS` names a real command.
pub fn is_known(words: &[&str]) -> bool {
    let sub = words.get(1).copied().unwrap_or("");
    match words.first().copied() {
        Some("auth") if sub == "keys" => {
            auth::keys_help(words.get(2).copied().unwrap_or("")).is_some()
        }
        Some("auth") => auth::help(sub).is_some(),
        Some("task" | "tasks") => task::help(sub).is_some(),
        Some("config") => config::help(sub).is_some(),
        Some("templates" | "template") => templates::help(sub).is_some(),
        Some("help" | "version" | "completion" | "api") => true,
        _ => false,
    }
}

/// Run a parsed command, writing results to `out`.
pub fn run(
    command: Command,
    globals: &Globals,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    let env = Env::from_process();
    let debug = globals.debug || env.debug;
    match command {
        Command::Help(text) => {
            out.write_all(text.as_bytes())?;
            Ok(())
        }
        Command::Version => {
            writeln!(out, "torale {}", env!("CARGO_PKG_VERSION"))?;
            Ok(())
        }
        Command::Config(cmd) => config::run(cmd, globals, &env, output, out),
        Command::Completion(shell) => completion::run(&shell, out),
        Command::Api(args) => {
            let (settings, _file) = load_settings(globals, &env)?;
            let key = settings.require_key()?;
            let client = Client::new(&settings, key, debug);
            api::run(args, &client, output, out)
        }
        Command::Templates(cmd) => {
            // Templates need no key; one is sent when configured.
            let (settings, _file) = load_settings(globals, &env)?;
            let key = settings.require_key().ok().flatten();
            let client = Client::new(&settings, key, debug);
            templates::run(cmd, &client, output, out)
        }
        Command::Auth(cmd) => auth::run(cmd, globals, &env, debug, output, out),
        Command::Task(crate::cli::TaskCommand::Preview) => task::preview(),
        Command::Task(cmd) => {
            let (settings, _file) = load_settings(globals, &env)?;
            let key = settings.require_key()?;
            let client = Client::new(&settings, key, debug);
            task::run(cmd, &client, &settings, output, out)
        }
    }
}

/// Read the config file (warning about its permissions) and resolve the effective settings.
pub fn load_settings(globals: &Globals, env: &Env) -> Result<(Settings, ConfigFile)> {
    let file = load_file(env)?;
    let settings = settings::resolve(&globals.flags, env, &file)?;
    Ok((settings, file))
}

pub fn load_file(env: &Env) -> Result<ConfigFile> {
    let path = match settings::config_path(env) {
        Ok(path) => path,
        // Without a home directory there is no config file to read; only saving one fails.
        Err(why) => return Ok(ConfigFile::unplaced(why)),
    };
    let file = ConfigFile::load(&path)?;
    if let Some(warning) = &file.warning {
        stderr_line(&format!("Warning: {warning}"));
    }
    Ok(file)
}
