//! `torale auth`: store, check and remove the API key.

use std::io::{self, Read, Write};

use serde::Deserialize;
use serde_json::{json, Value};

use lexopt::Parser;

use super::{check_uuid, cmd, count_words, rest, Cmd, Context, GlobalOpts};
use crate::client::{Client, Method};
use crate::error::{Error, Kind, Result};
use crate::model::User;
use crate::output::{sanitize, stderr_line, Color, Output, Table};
use crate::settings::{check_api_url, ApiKey, ConfigFile, Env, Settings, Source};
use crate::terminal;

pub const HELP: &str = "\
Store, check and remove your API key

Create a key at torale.ai under Settings > API Keys; it is shown only once.

Usage: torale auth <COMMAND>

Commands:
  set-api-key  Verify a key and save it to ~/.torale/config.json (also: login)
  status       Show which key is in use, where it came from, and whose it is
  whoami       Print your account as JSON
  logout       Remove the saved key
  keys         List, create and revoke your account's API keys

Examples:
  torale auth set-api-key                       # paste the key at the hidden prompt
  echo \"$TORALE_KEY\" | torale auth set-api-key  # or pipe it in
  torale auth status
";

pub const SET_API_KEY_HELP: &str = "\
Verify an API key and save it

The key comes from --api-key or --api-key-file, else from standard input when it is not a
terminal, else from a prompt that does not echo. It must look like sk_ followed by 20 to 100
letters, digits, '_' or '-'. torale checks it with the server (GET /auth/me) and saves it only
when the server accepts it. The file is written with mode 0600 in a 0700 directory; any other
keys in it are kept.

Usage: torale auth set-api-key [--api-url URL] [--no-verify]

Options:
      --api-url URL   Also save this API URL (for self-hosted servers)
      --no-verify     Save without asking the server (offline set-up)

Examples:
  torale auth set-api-key
  echo \"$TORALE_KEY\" | torale auth set-api-key
  torale auth set-api-key --api-key-file ~/.secrets/torale --api-url http://localhost:8000
";

pub const STATUS_HELP: &str = "\
Show which API key is in use and whether the server accepts it

Prints the account the key belongs to, the key masked as sk_... plus its last five
characters, where it came from (flag, environment or config file), and the API URL.
Exits 0 only when the server accepts the key: 3 when no key is configured, 4 when it is
refused, 10 when the server cannot be reached.

Usage: torale auth status [--json]

Example:
  torale auth status
  ✓ Authenticated as user@example.com
  API Key: sk_...xyz89 (config file)
  API URL: https://api.torale.ai
";

pub const WHOAMI_HELP: &str = "\
Print your account (GET /auth/me) as JSON

Usage: torale auth whoami

Example:
  torale auth whoami | jq -r .email
";

pub const KEYS_HELP: &str = "\
List, create and revoke your account's API keys

Usage: torale auth keys <COMMAND>

Commands:
  list                 Every key: ID, prefix, name, created, last used, active; the key
                       in use is marked with * (also: ls)
  create NAME          Create a key and print it on stdout, once; store it right away
  revoke KEY_ID [-y]   Revoke a key (asks first; warns when it is the key in use)

The current Torale API allows one active key per account: creating a second one is refused
until the first is revoked, and revoking the key torale uses ends its access. To rotate a
key, create the new one at torale.ai (Settings > API Keys), switch to it, then revoke the old
one with 'torale auth keys revoke'.

Examples:
  torale auth keys list
  NEW=$(torale auth keys create \"CI key\")
  torale auth keys revoke 1c6b5f0e-3f7a-4d8e-9a0b-2c4d6e8f0a1b --yes
";

pub const LOGOUT_HELP: &str = "\
Remove the saved API key from the config file

Other settings in the file stay; a file left empty is removed. The key itself stays valid:
revoke it at torale.ai under Settings > API Keys. A key in TORALE_API_KEY is still used
after logout; torale warns when it is set.

Usage: torale auth logout
";

/// The help of `torale auth SUB`; the group help for an empty `sub`.
const KEYS_LIST_HELP: &str = "\
List your account's API keys: ID, prefix, name, created, last used, active

The key torale is using is marked with *. Revoked keys are listed too.

Usage: torale auth keys list [--json]

Example:
  torale auth keys list --field id --field name --field is_active
";

const KEYS_CREATE_HELP: &str = "\
Create an API key and print it on stdout, once

Nothing else goes to stdout, so the key can be captured; store it right away. The current
Torale API refuses a second active key (exit 6): create the new key at torale.ai instead,
switch to it, then revoke the old one.

Usage: torale auth keys create NAME

Example:
  NEW=$(torale auth keys create \"CI key\")
";

const KEYS_REVOKE_HELP: &str = "\
Revoke an API key

Asks first on a terminal; without a terminal it refuses (exit 2) unless --yes is given.
Warns when the key is the one torale is using: after that, torale cannot reach the API with
it. A server error (exit 9) means the key may still be active: check 'torale auth keys list'.

Usage: torale auth keys revoke KEY_ID [-y|--yes]

Example:
  torale auth keys revoke 1c6b5f0e-3f7a-4d8e-9a0b-2c4d6e8f0a1b --yes
";

pub const COMMANDS: &[Cmd] = &[
    cmd("set-api-key", &["login"], SET_API_KEY_HELP),
    cmd("status", &[], STATUS_HELP),
    cmd("whoami", &[], WHOAMI_HELP),
    cmd("logout", &[], LOGOUT_HELP),
    Cmd { commands: KEYS_COMMANDS, ..cmd("keys", &[], KEYS_HELP) },
];

const KEYS_COMMANDS: &[Cmd] = &[
    cmd("list", &["ls"], KEYS_LIST_HELP),
    cmd("create", &[], KEYS_CREATE_HELP),
    cmd("revoke", &[], KEYS_REVOKE_HELP),
];

#[derive(Debug, PartialEq)]
pub enum Command {
    SetApiKey { verify: bool },
    Status,
    Whoami,
    Logout,
    Keys(KeysCommand),
}

#[derive(Debug, PartialEq)]
pub enum KeysCommand {
    List,
    Create { name: String },
    Revoke { id: String, yes: bool },
}

/// `torale auth ...`, after the word `auth`.
pub fn parse(p: &mut Parser, g: &mut GlobalOpts) -> Result<Command> {
    let group = Cmd { commands: COMMANDS, ..cmd("auth", &[], HELP) };
    let mut sub = group.subcommand("auth", p, g)?;
    let mut path = format!("auth {sub}");
    if sub == "keys" {
        let keys = Cmd { commands: KEYS_COMMANDS, ..cmd("keys", &[], KEYS_HELP) };
        sub = keys.subcommand("auth keys", p, g)?;
        path = format!("auth keys {sub}");
    }
    let (mut no_verify, mut yes) = (false, false);
    let words = rest(p, g, |name, _| {
        match (sub, name) {
            ("set-api-key", "no-verify") => no_verify = true,
            ("revoke", "yes" | "y") => yes = true,
            _ => return Ok(false),
        }
        Ok(true)
    });
    let command = words.and_then(|words| {
        let n = usize::from(matches!(sub, "create" | "revoke"));
        count_words(&words, n, n, if sub == "create" { "NAME" } else { "KEY_ID" })?;
        let word = words.into_iter().next().unwrap_or_default();
        Ok(match (path.as_str(), sub) {
            (_, "set-api-key") => Command::SetApiKey { verify: !no_verify },
            (_, "status") => Command::Status,
            (_, "whoami") => Command::Whoami,
            (_, "logout") => Command::Logout,
            (_, "list") => Command::Keys(KeysCommand::List),
            (_, "create") if word.trim().is_empty() => {
                return Err(Error::usage("The key name is empty"))
            }
            (_, "create") => Command::Keys(KeysCommand::Create { name: word }),
            _ => {
                check_uuid(&word, "key ID")?;
                Command::Keys(KeysCommand::Revoke { id: word, yes })
            }
        })
    });
    command.map_err(|e| e.see_help(&path))
}

pub fn run(command: Command, cx: &Context, out: &mut dyn Write) -> Result<()> {
    let (debug, output) = (cx.debug, &cx.output);
    if command == Command::Logout {
        return logout(&cx.env, output, out);
    }
    let (settings, file) = cx.settings()?;
    match command {
        Command::SetApiKey { verify } => set_api_key(cx, &settings, file, verify, out),
        Command::Status => status(&settings, debug, output, out),
        Command::Whoami => {
            let key = settings.require_key()?;
            let client = Client::new(&settings, key, debug);
            let me = client.me().map_err(|err| explain_auth_error(err, &settings))?;
            output.json_text(out, me.text())?;
            Ok(())
        }
        Command::Logout => Ok(()),
        Command::Keys(cmd) => {
            let key = settings.require_key()?;
            let client = Client::new(&settings, key, debug);
            keys(cmd, &client, key, output, out).map_err(|err| explain_auth_error(err, &settings))
        }
    }
}

/// An API key as `GET /auth/api-keys` lists it.
#[derive(Debug, Deserialize)]
struct KeyInfo {
    id: String,
    key_prefix: Option<String>,
    name: Option<String>,
    created_at: Option<String>,
    last_used_at: Option<String>,
    is_active: Option<bool>,
}

/// Whether `info` describes `key`: the server keeps the first 15 characters plus `...`.
fn is_key_in_use(info: &KeyInfo, key: Option<&ApiKey>) -> bool {
    match (key, &info.key_prefix) {
        (Some(key), Some(prefix)) => {
            key.expose().get(..15).is_some_and(|head| prefix.as_str() == format!("{head}..."))
        }
        _ => false,
    }
}

fn keys(
    command: KeysCommand,
    client: &Client,
    key: Option<&ApiKey>,
    output: &Output,
    out: &mut dyn Write,
) -> Result<()> {
    match command {
        KeysCommand::List => {
            let doc = client.call(Method::Get, "/auth/api-keys", &[], None)?;
            if output.json {
                output.json_text(out, doc.text())?;
                return Ok(());
            }
            let list: Vec<KeyInfo> = doc.decode("API key list")?;
            let mut table =
                Table::new(vec!["", "ID", "PREFIX", "NAME", "CREATED", "LAST USED", "ACTIVE"])
                    .flexible(3)
                    .times(&[4, 5]);
            for info in &list {
                table.row(vec![
                    if is_key_in_use(info, key) { "*" } else { "" }.into(),
                    info.id.clone(),
                    info.key_prefix.clone().unwrap_or_default(),
                    info.name.clone().unwrap_or_default(),
                    info.created_at.clone().unwrap_or_default(),
                    info.last_used_at.clone().unwrap_or_default(),
                    match info.is_active {
                        Some(true) => "yes",
                        Some(false) => "revoked",
                        None => "-",
                    }
                    .into(),
                ]);
            }
            table.write(out, output)?;
            Ok(())
        }
        KeysCommand::Create { name } => {
            let doc = client
                .call(Method::Post, "/auth/api-keys", &[], Some(&json!({ "name": name })))
                .map_err(|err| {
                    if err.status == Some(400) && err.message.contains("already have an active API key") {
                        err.hint("The Torale API allows one active key per account. Create the new key at torale.ai (Settings > API Keys), switch to it, then revoke the old one with 'torale auth keys revoke'")
                    } else {
                        err
                    }
                })?;
            #[derive(Deserialize)]
            struct Created {
                key: String,
                key_info: Option<KeyInfo>,
            }
            let created: Created = doc.decode("new API key")?;
            let prefix = created
                .key_info
                .as_ref()
                .and_then(|i| i.key_prefix.clone())
                .unwrap_or_else(|| crate::error::mask_key(&created.key));
            stderr_line(&format!(
                "{} Created API key '{}' ({prefix}); it is shown only once: store it now",
                output.paint_err(Color::Green, "✓"),
                sanitize(&name)
            ));
            if output.json {
                output.json_text(out, doc.text())?;
            } else {
                writeln!(out, "{}", created.key)?;
            }
            Ok(())
        }
        KeysCommand::Revoke { id, yes } => {
            let list: Vec<KeyInfo> =
                client.call(Method::Get, "/auth/api-keys", &[], None)?.decode("API key list")?;
            let target = list.iter().find(|info| info.id == id);
            let in_use = target.is_some_and(|info| is_key_in_use(info, key));
            let label = target
                .map(|info| {
                    format!(
                        "'{}' ({})",
                        sanitize(info.name.as_deref().unwrap_or("")),
                        info.key_prefix.as_deref().unwrap_or("?")
                    )
                })
                .unwrap_or_else(|| id.clone());
            if in_use {
                stderr_line(&format!(
                    "{} {label} is the key torale is using: after this, torale can no longer reach the API with it",
                    output.paint_err(Color::Yellow, "Warning:")
                ));
            }
            if !yes {
                if !terminal::stdin_is_terminal() {
                    return Err(Error::usage(
                        "Refusing to revoke without confirmation: standard input is not a terminal",
                    )
                    .hint("Add --yes (-y) to revoke without asking"));
                }
                if !terminal::confirm(&format!("Revoke API key {label}?"))? {
                    return Err(Error::usage("Not revoked: not confirmed"));
                }
            }
            let doc = client
                .call(Method::Delete, &format!("/auth/api-keys/{id}"), &[], None)
                .map_err(|err| match err.kind {
                    Kind::NotFound => Error::new(Kind::NotFound, format!("API key {id} not found"))
                        .with_status(404)
                        .hint("List your keys with 'torale auth keys list'"),
                    Kind::Server => {
                        err.hint("The key may still be active; check with 'torale auth keys list'")
                    }
                    _ => err,
                })?;
            if output.json {
                output.json_text(out, doc.text())?;
            } else {
                writeln!(out, "{} Revoked API key {label}", output.paint(Color::Green, "✓"))?;
            }
            Ok(())
        }
    }
}

fn set_api_key(
    cx: &Context,
    settings: &Settings,
    mut file: ConfigFile,
    verify: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let (debug, output) = (cx.debug, &cx.output);
    let key_given = cx.options.api_key.is_some() || cx.options.api_key_file.is_some();
    let key = match (key_given, &settings.api_key) {
        (true, Ok(Some((key, _)))) => key.clone(),
        (true, Err(err)) => return Err(err.clone()),
        _ => read_new_key()?,
    };
    let url_flag = match &cx.options.api_url {
        Some(url) => Some(check_api_url(url)?),
        None => None,
    };

    let mut user = None;
    if verify {
        let client = Client::new(settings, Some(&key), debug);
        let me = client.me().map_err(|err| {
            let err = explain_auth_error(err, settings);
            if err.kind == Kind::Network {
                err.hint("To save the key without checking it, add --no-verify")
            } else {
                err
            }
        })?;
        user = Some(me);
    }

    file.update(|entries| {
        entries.set("api_key", Value::String(key.expose().to_string()));
        if let Some(url) = &url_flag {
            entries.set("api_url", Value::String(url.clone()));
        }
        Ok((true, ()))
    })?;

    stderr_line(&format!("Saved API key {} to {}", key.masked(), file.path.display()));
    if output.json {
        let result = json!({
            "api_key": key.masked(),
            "api_url": settings.api_url,
            "config_path": file.path.display().to_string(),
            "verified": verify,
            "user": match &user {
                Some(me) => me.decode::<Value>("user")?,
                None => Value::Null,
            },
        });
        output.json_value(out, &result)?;
    } else if let Some(me) = &user {
        write_authenticated(out, output, User::decode(me.text())?)?;
    } else {
        let mark = output.paint(Color::Green, "✓");
        writeln!(out, "{mark} API key saved (not verified)")?;
    }
    Ok(())
}

/// A key from standard input when it is piped, else from a hidden prompt.
fn read_new_key() -> Result<ApiKey> {
    let raw = if terminal::stdin_is_terminal() {
        terminal::read_hidden("Paste your API key (input is hidden): ")?
    } else {
        let mut buf = Vec::new();
        io::stdin().lock().take(4096).read_to_end(&mut buf)?;
        String::from_utf8_lossy(&buf).trim().to_string()
    };
    if raw.trim().is_empty() {
        return Err(Error::usage("No API key given")
            .hint("Paste it at the prompt, pipe it in (echo \"$KEY\" | torale auth set-api-key) or use --api-key-file"));
    }
    ApiKey::parse(&raw).map_err(|why| {
        Error::usage(format!("Invalid API key: {why}"))
            .hint("Real keys look like sk_ followed by 43 characters; copy it again from torale.ai")
    })
}

fn status(settings: &Settings, debug: bool, output: &Output, out: &mut dyn Write) -> Result<()> {
    let key = settings.require_key()?;
    let source = match &settings.api_key {
        Ok(Some((_, source))) => Some(source.clone()),
        _ => None,
    };
    let client = Client::new(settings, key, debug);
    let me = client.me().map_err(|err| {
        let err = explain_auth_error(err, settings);
        match (key, &source) {
            (Some(key), Some(source)) if err.kind == Kind::Auth => err.hint(format!(
                "Key {} from {source} was refused by {}",
                key.masked(),
                settings.api_url
            )),
            _ => err,
        }
    })?;
    let user = User::decode(me.text())?;
    let key_text = match (key, &source) {
        (Some(key), Some(source)) => format!("{} ({source})", key.masked()),
        _ => "none sent (TORALE_NOAUTH)".to_string(),
    };
    if output.json {
        let result = json!({
            "authenticated": true,
            "user": me.decode::<Value>("user")?,
            "api_key": key.map(ApiKey::masked),
            "api_key_source": source.as_ref().map(Source::name),
            "api_url": settings.api_url,
            "noauth": settings.noauth,
        });
        output.json_value(out, &result)?;
        return Ok(());
    }
    write_authenticated(out, output, user)?;
    writeln!(out, "API Key: {key_text}")?;
    writeln!(out, "API URL: {} ({})", settings.api_url, settings.api_url_source)?;
    Ok(())
}

/// `✓ Authenticated as EMAIL`, the line the product page promises.
fn write_authenticated(out: &mut dyn Write, output: &Output, user: User) -> io::Result<()> {
    let email = user.email.unwrap_or_else(|| "unknown account".into());
    let mark = output.paint(Color::Green, "✓");
    writeln!(out, "{mark} Authenticated as {}", sanitize(&email))
}

/// Give authentication failures the seed page's wording and a next step.
pub fn explain_auth_error(err: Error, settings: &Settings) -> Error {
    if err.kind != Kind::Auth {
        return err;
    }
    let lower = err.message.to_ascii_lowercase();
    if lower.contains("invalid api key") {
        let mut fixed =
            Error::new(Kind::Auth, "Invalid API key").with_status(err.status.unwrap_or(401));
        fixed.hints = vec![
            "Create a new key at torale.ai under Settings > API Keys, then run 'torale auth set-api-key'"
                .into(),
        ];
        return fixed;
    }
    if settings.noauth && lower.contains("not authenticated") {
        return err.hint(
            "TORALE_NOAUTH=1 sends no key; this server still requires one for this route (legacy servers do for /auth)",
        );
    }
    err
}

fn logout(env: &Env, output: &Output, out: &mut dyn Write) -> Result<()> {
    let mut file = ConfigFile::open(env)?;
    let removed = file.update(|entries| {
        let removed = entries.remove("api_key");
        Ok((removed, removed))
    })?;
    if env.api_key.is_some() {
        stderr_line(&format!(
            "{} TORALE_API_KEY is still set in the environment, so torale keeps using that key; unset it to stop",
            output.paint_err(Color::Yellow, "Warning:")
        ));
    }
    if output.json {
        let result = json!({"removed": removed, "config_path": file.path.display().to_string()});
        output.json_value(out, &result)?;
    } else if removed {
        let mark = output.paint(Color::Green, "✓");
        writeln!(out, "{mark} Removed the API key from {}", file.path.display())?;
    } else {
        stderr_line(&format!("No API key was stored in {}", file.path.display()));
    }
    Ok(())
}
