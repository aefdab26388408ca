//! `torale config`: the effective settings and the config file's keys.

use std::io::{self, Read, Write};

use serde_json::{json, Value};

use crate::cli::{ConfigCommand, Globals};
use crate::config::{
    config_path, normalize_url, parse_timeout, ApiKey, Env, Settings, Source, KNOWN_KEYS,
};
use crate::error::{Error, Result};
use crate::output::{sanitize, stderr_line, Output, Table};

pub const HELP: &str = "\
Show and change settings

Each setting comes from its flag, else the environment, else the config file, else the
default. 'torale config' shows the value in effect and where it came from.

Usage: torale config [COMMAND]

Commands:
  (none)            Show the effective settings and their sources (the key masked)
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

pub fn help(sub: &str) -> Option<&'static str> {
    match sub {
        "" | "show" | "list" => Some(HELP),
        "get" => Some(GET_HELP),
        "set" => Some(SET_HELP),
        "unset" => Some(UNSET_HELP),
        "path" => Some(PATH_HELP),
        _ => None,
    }
}

pub fn run(
    command: ConfigCommand,
    globals: &Globals,
    env: &Env,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    match command {
        ConfigCommand::Path => {
            writeln!(out, "{}", config_path(env)?.display())?;
            Ok(())
        }
        ConfigCommand::Show => {
            let (settings, _) = super::load_settings(globals, env)?;
            show(&settings, output, out)
        }
        ConfigCommand::Get(key) => {
            check_key(&key)?;
            let (settings, _) = super::load_settings(globals, env)?;
            let value = match key.as_str() {
                "api_key" => match settings.api_key {
                    Ok(Some((key, _))) => json!(key.masked()),
                    Ok(None) => return Err(Error::no_api_key()),
                    Err(err) => return Err(err),
                },
                "api_url" => json!(settings.api_url),
                _ => json!(settings.timeout.as_secs()),
            };
            match value {
                Value::String(text) if !output.json => writeln!(out, "{text}")?,
                other if !output.json => writeln!(out, "{other}")?,
                other => output.json_value(out, &other)?,
            }
            Ok(())
        }
        ConfigCommand::Set(key, value) => {
            check_key(&key)?;
            let mut file = super::load_file(env)?;
            let value = if value == "-" && key == "api_key" {
                crate::config::read_key_file("-")?
            } else if value == "-" {
                let mut buf = Vec::new();
                io::stdin().lock().take(64 * 1024).read_to_end(&mut buf)?;
                String::from_utf8_lossy(&buf).trim().to_string()
            } else {
                value
            };
            let stored = checked_value(&key, &value)?;
            file.set(&key, &stored);
            file.save()?;
            let shown = if key == "api_key" {
                crate::config::mask_key(&value)
            } else {
                sanitize(&value)
            };
            stderr_line(&format!("Set {key} = {shown} in {}", file.path.display()));
            if key == "api_key" && env.api_key.is_some() {
                stderr_line(
                    "Warning: TORALE_API_KEY is set and takes precedence over the config file",
                );
            }
            Ok(())
        }
        ConfigCommand::Unset(key) => {
            check_key(&key)?;
            let mut file = super::load_file(env)?;
            if file.remove(&key) {
                file.save()?;
                stderr_line(&format!("Removed {key} from {}", file.path.display()));
            } else {
                stderr_line(&format!("{key} was not set in {}", file.path.display()));
            }
            Ok(())
        }
    }
}

fn check_key(key: &str) -> Result<()> {
    if KNOWN_KEYS.contains(&key) {
        return Ok(());
    }
    Err(Error::usage(format!(
        "Unknown config key '{}': use one of {}",
        sanitize(key),
        KNOWN_KEYS.join(", ")
    ))
    .hint("See 'torale config --help'"))
}

/// The JSON value to store for a key, after checking it.
fn checked_value(key: &str, value: &str) -> Result<Value> {
    match key {
        "api_key" => {
            let key = ApiKey::parse(value)
                .map_err(|why| Error::usage(format!("Invalid api_key: {why}")))?;
            Ok(Value::String(key.expose().to_string()))
        }
        "api_url" => normalize_url(value)
            .map(Value::String)
            .map_err(|why| Error::usage(format!("Invalid api_url: {why}"))),
        _ => parse_timeout(value)
            .map(|t| json!(t.as_secs()))
            .map_err(|why| Error::usage(format!("Invalid timeout: {why}"))),
    }
}

fn show(settings: &Settings, output: &Output, out: &mut dyn Write) -> Result<()> {
    let (key_value, key_source) = match &settings.api_key {
        Ok(Some((key, source))) => (key.masked(), source.clone()),
        Ok(None) if settings.noauth => ("(none: TORALE_NOAUTH)".to_string(), Source::Default),
        Ok(None) => ("(none)".to_string(), Source::Default),
        Err(err) => (format!("(invalid: {})", err.message), Source::Default),
    };
    if output.json {
        let result = json!({
            "api_key": {"value": key_value, "source": key_source.name()},
            "api_url": {"value": settings.api_url, "source": settings.api_url_source.name()},
            "timeout": {"value": settings.timeout.as_secs(), "source": settings.timeout_source.name()},
            "noauth": settings.noauth,
            "config_path": settings.config_path.display().to_string(),
        });
        output.json_value(out, &result)?;
        return Ok(());
    }
    let mut table = Table::new(vec!["SETTING", "VALUE", "SOURCE"]);
    table.row(vec!["api_key".into(), key_value, key_source.to_string()]);
    table.row(vec![
        "api_url".into(),
        settings.api_url.clone(),
        settings.api_url_source.to_string(),
    ]);
    table.row(vec![
        "timeout".into(),
        format!("{}s", settings.timeout.as_secs()),
        settings.timeout_source.to_string(),
    ]);
    table.row(vec![
        "noauth".into(),
        if settings.noauth { "on" } else { "off" }.into(),
        if settings.noauth {
            "environment TORALE_NOAUTH"
        } else {
            "default"
        }
        .into(),
    ]);
    table.write(out, output)?;
    writeln!(out, "\nConfig file: {}", settings.config_path.display())?;
    Ok(())
}
