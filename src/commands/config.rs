//! `torale config`: the effective settings and the config file's keys.

use std::io::Write;

use lexopt::Parser;
use serde_json::{json, Value};

use super::{cmd, next_word, words, Cmd, Context, GlobalOpts};
use crate::error::{mask_key, Error, Result};
use crate::output::{sanitize, stderr_line, Output, Table};
use crate::settings::{
    check_api_url, config_path, parse_timeout, redacted, ApiKey, ConfigFile, Settings, Source,
    KNOWN_KEYS,
};
use crate::terminal::read_input;

pub const HELP: &str = "\
Show and change settings

Each setting comes from its flag, else the environment, else the config file, else the
default. 'torale config' shows the value in effect and where it came from.

Usage: torale config [COMMAND]

Commands:
  (none)            Show the effective settings and their sources (the key masked;
                    also: show, list)
  get KEY           Print the effective value of KEY
  set KEY VALUE     Save KEY in the config file (VALUE '-' reads standard input)
  unset KEY         Remove KEY from the config file
  path              Print the config file's path

Keys: api_key, api_url, timeout (seconds). Other keys in the file are kept untouched.

Examples:
  torale config
  torale config set api_url http://localhost:8000
  torale config unset api_url
  torale config get api_url
";

pub const GET_HELP: &str = "\
Print the effective value of a setting

The value in effect after flag > environment > config file > default; api_key is masked.

Usage: torale config get KEY

Example:
  torale config get api_url
";

pub const SET_HELP: &str = "\
Save a setting in the config file

The value is checked before it is saved: api_key must look like an API key, api_url must be
an http:// or https:// URL, timeout a number of seconds. With VALUE '-' the value is read
from standard input (keeps a key out of the shell history).

Usage: torale config set KEY VALUE

Examples:
  torale config set api_url http://localhost:8000
  torale config set timeout 60
  printf %s \"$KEY\" | torale config set api_key -
";

pub const UNSET_HELP: &str = "\
Remove a setting from the config file

Usage: torale config unset KEY

Example:
  torale config unset api_url
";

pub const PATH_HELP: &str = "\
Print the config file's path: $TORALE_CONFIG_DIR/config.json, else ~/.torale/config.json

Usage: torale config path
";

pub const COMMANDS: &[Cmd] = &[
    cmd("show", &["list"], HELP),
    cmd("get", &[], GET_HELP),
    cmd("set", &[], SET_HELP),
    cmd("unset", &[], UNSET_HELP),
    cmd("path", &[], PATH_HELP),
];

#[derive(Debug, PartialEq)]
pub enum Command {
    Show,
    Get(String),
    Set(String, String),
    Unset(String),
    Path,
}

/// `torale config [...]`, after the word `config`: no subcommand shows the settings.
pub fn parse(p: &mut Parser, g: &mut GlobalOpts) -> Result<Command> {
    let group = Cmd { commands: COMMANDS, ..cmd("config", &[], HELP) };
    let sub = match next_word(p, g).map_err(|e| e.see_help("config"))? {
        Some(word) => group.lookup("config", &word)?,
        None => "show",
    };
    let path = if sub == "show" { "config".to_string() } else { format!("config {sub}") };
    // get, set and unset take a key; set also takes its value.
    let n = usize::from(matches!(sub, "get" | "set" | "unset")) + usize::from(sub == "set");
    let words = words(p, g, n, ["", "KEY", "KEY VALUE"][n]).map_err(|e| e.see_help(&path))?;
    Ok(match (sub, &words[..]) {
        ("get", [key]) => Command::Get(key.clone()),
        ("set", [key, value]) => Command::Set(key.clone(), value.clone()),
        ("unset", [key]) => Command::Unset(key.clone()),
        ("path", _) => Command::Path,
        _ => Command::Show,
    })
}

pub fn run(command: Command, cx: &Context, out: &mut Vec<u8>) -> Result<()> {
    let (env, output) = (&cx.env, &cx.output);
    if let Command::Get(key) | Command::Set(key, _) | Command::Unset(key) = &command {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            let (key, known) = (sanitize(key), KNOWN_KEYS.join(", "));
            return Err(Error::usage(format!("Unknown config key '{key}': use one of {known}"))
                .hint("See 'torale config --help'"));
        }
    }
    match command {
        Command::Path => writeln!(out, "{}", config_path(env)?.display())?,
        Command::Show => show(&cx.settings()?.0, output, out)?,
        Command::Get(key) => {
            let (settings, _) = cx.settings()?;
            let value = match key.as_str() {
                "api_key" => json!(settings.api_key?.ok_or_else(Error::no_api_key)?.0.masked()),
                "api_url" => json!(redacted(&settings.api_url)),
                _ => json!(settings.timeout.as_secs()),
            };
            match value {
                _ if output.json => output.json_value(out, &value)?,
                Value::String(text) => writeln!(out, "{text}")?,
                other => writeln!(out, "{other}")?,
            }
        }
        Command::Set(key, value) => {
            let mut file = ConfigFile::open(env)?;
            let value = match value.as_str() {
                "-" if key == "api_key" => super::read_key_file("-")?,
                "-" => String::from_utf8_lossy(&read_input("-", 64 * 1024)?).trim().to_string(),
                _ => value,
            };
            let invalid = |why| Error::usage(format!("Invalid {key}: {why}"));
            let stored = match key.as_str() {
                "api_key" => json!(ApiKey::parse(&value).map_err(invalid)?.expose()),
                "api_url" => json!(check_api_url(&value)?.text),
                _ => json!(parse_timeout(&value).map_err(invalid)?.as_secs()),
            };
            file.update(|entries| {
                entries.set(&key, stored);
                Ok((true, ()))
            })?;
            let shown =
                if key == "api_key" { mask_key(&value) } else { sanitize(&redacted(&value)) };
            stderr_line(&format!("Set {key} = {shown} in {}", file.path.display()));
            if key == "api_key" && env.api_key.is_some() {
                stderr_line(
                    "Warning: TORALE_API_KEY is set and takes precedence over the config file",
                );
            }
        }
        Command::Unset(key) => {
            let mut file = ConfigFile::open(env)?;
            let removed = file.update(|entries| {
                let removed = entries.remove(&key);
                Ok((removed, removed))
            })?;
            let path = file.path.display();
            stderr_line(&match removed {
                true => format!("Removed {key} from {path}"),
                false => format!("{key} was not set in {path}"),
            });
        }
    }
    Ok(())
}

fn show(settings: &Settings, output: &Output, out: &mut Vec<u8>) -> Result<()> {
    let (key_value, key_source) = match &settings.api_key {
        Ok(Some((key, source))) => (key.masked(), source.clone()),
        Ok(None) if settings.noauth => ("(none: TORALE_NOAUTH)".to_string(), Source::Default),
        Ok(None) => ("(none)".to_string(), Source::Default),
        Err(err) => (format!("(invalid: {})", err.message), Source::Default),
    };
    let (url_source, timeout_source) = (&settings.api_url_source, &settings.timeout_source);
    let secs = settings.timeout.as_secs();
    if output.json {
        let result = json!({
            "api_key": {"value": key_value, "source": key_source.name()},
            "api_url": {"value": redacted(&settings.api_url), "source": url_source.name()},
            "timeout": {"value": secs, "source": timeout_source.name()},
            "noauth": settings.noauth,
            "config_path": settings.config_path.display().to_string(),
        });
        return output.json_value(out, &result);
    }
    let noauth =
        if settings.noauth { ["on", "environment TORALE_NOAUTH"] } else { ["off", "default"] };
    let mut table = Table::new(vec!["SETTING", "VALUE", "SOURCE"]);
    table.row(vec!["api_key".into(), key_value, key_source.to_string()]);
    table.row(vec!["api_url".into(), redacted(&settings.api_url), url_source.to_string()]);
    table.row(vec!["timeout".into(), format!("{secs}s"), timeout_source.to_string()]);
    table.row(vec!["noauth".into(), noauth[0].into(), noauth[1].into()]);
    table.write(out, output)?;
    Ok(writeln!(out, "\nConfig file: {}", settings.config_path.display())?)
}
