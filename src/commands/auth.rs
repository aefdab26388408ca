//! `torale auth`: store, check and remove the API key.

use std::io::Write;

use lexopt::Parser;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_uuid, cmd, count_words, rest, Cmd, Context, GlobalOpts};
use crate::client::{Client, Method};
use crate::error::{mask_key, Error, Kind, Result};
use crate::model::{Json, User};
use crate::output::{sanitize, stderr_line, Color, Output, Table};
use crate::settings::{redacted, ApiKey, ConfigFile, Settings, Source};
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
    KEYS,
];

const KEYS: Cmd = Cmd {
    commands: &[
        cmd("list", &["ls"], KEYS_LIST_HELP),
        cmd("create", &[], KEYS_CREATE_HELP),
        cmd("revoke", &[], KEYS_REVOKE_HELP),
    ],
    ..cmd("keys", &[], KEYS_HELP)
};

#[derive(Debug, PartialEq)]
pub enum Command {
    SetApiKey { verify: bool },
    Status,
    Whoami,
    Logout,
    ListKeys,
    CreateKey { name: String },
    RevokeKey { id: String, yes: bool },
}

/// `torale auth ...`, after the word `auth`.
pub fn parse(p: &mut Parser, g: &mut GlobalOpts) -> Result<Command> {
    let mut sub = Cmd { commands: COMMANDS, ..cmd("auth", &[], HELP) }.subcommand("auth", p, g)?;
    let mut path = format!("auth {sub}");
    if sub == "keys" {
        sub = KEYS.subcommand("auth keys", p, g)?;
        path = format!("auth keys {sub}");
    }
    // The one switch each command may take: set-api-key's --no-verify, revoke's --yes.
    let mut switch = false;
    let words = rest(p, g, |name, _| {
        let own = matches!((sub, name), ("set-api-key", "no-verify") | ("revoke", "yes" | "y"));
        switch |= own;
        Ok(own)
    });
    let command = words.and_then(|words| {
        let n = usize::from(matches!(sub, "create" | "revoke"));
        count_words(&words, n, n, if sub == "create" { "NAME" } else { "KEY_ID" })?;
        let word = words.into_iter().next().unwrap_or_default();
        Ok(match sub {
            "set-api-key" => Command::SetApiKey { verify: !switch },
            "status" => Command::Status,
            "whoami" => Command::Whoami,
            "logout" => Command::Logout,
            "list" => Command::ListKeys,
            "create" if word.trim().is_empty() => Err(Error::usage("The key name is empty"))?,
            "create" => Command::CreateKey { name: word },
            _ => check_uuid(&word, "key ID")
                .map(|()| Command::RevokeKey { id: word, yes: switch })?,
        })
    });
    command.map_err(|e| e.see_help(&path))
}

/// An API key as `GET /auth/api-keys` lists it.
#[derive(Deserialize)]
struct KeyInfo {
    id: String,
    key_prefix: Option<String>,
    name: Option<String>,
    created_at: Option<String>,
    last_used_at: Option<String>,
    is_active: Option<bool>,
}

/// `POST /auth/api-keys`'s answer: the key, shown only this once.
#[derive(Deserialize)]
struct Created {
    key: String,
    key_info: Option<KeyInfo>,
}

pub fn run(command: Command, cx: &Context, out: &mut Vec<u8>) -> Result<()> {
    let output = &cx.output;
    match command {
        Command::Logout => return logout(cx, out),
        Command::SetApiKey { verify } => return set_api_key(cx, verify, out),
        _ => {}
    }
    let (settings, _) = cx.settings()?;
    let key = settings.require_key()?;
    let client = Client::new(&settings, key, cx.debug);
    let call = |method, path: &str, body: Option<&Value>| {
        client.call(method, path, &[], body).map_err(|err| explain_auth_error(err, &settings))
    };
    let keys = || call(Method::Get, "/auth/api-keys", None)?.decode::<Vec<KeyInfo>>("API key list");
    // The key in use: the server keeps its first 15 characters plus `...`.
    let current = key.and_then(|key| key.expose().get(..15)).map(|head| format!("{head}..."));
    let is_current = |info: &KeyInfo| current.is_some() && info.key_prefix == current;
    let doc = match command {
        Command::Status => {
            let source = settings.api_key.as_ref().ok().and_then(Option::as_ref).map(|(_, s)| s);
            let sent = key.zip(source);
            let me = call(Method::Get, "/auth/me", None).map_err(|err| match sent {
                Some((key, from)) if err.kind == Kind::Auth => {
                    let url = &settings.api_url;
                    err.hint(format!("Key {} from {from} was refused by {url}", key.masked()))
                }
                _ => err,
            })?;
            me.decode::<User>("user")?;
            if output.json {
                let result = json!({
                    "authenticated": true,
                    "user": me.decode::<Value>("user")?,
                    "api_key": key.map(ApiKey::masked),
                    "api_key_source": source.map(Source::name),
                    "api_url": redacted(&settings.api_url),
                    "noauth": settings.noauth,
                });
                return output.json_value(out, &result);
            }
            write_authenticated(out, output, &me)?;
            match sent {
                Some((key, source)) => writeln!(out, "API Key: {} ({source})", key.masked())?,
                None => writeln!(out, "API Key: none sent (TORALE_NOAUTH)")?,
            }
            let url = redacted(&settings.api_url);
            return Ok(writeln!(out, "API URL: {url} ({})", settings.api_url_source)?);
        }
        Command::ListKeys if !output.json => {
            let headers = vec!["", "ID", "PREFIX", "NAME", "CREATED", "LAST USED", "ACTIVE"];
            let mut table = Table::new(headers).flexible(3).times(&[4, 5]);
            for info in keys()? {
                let active = info.is_active.map_or("-", |on| if on { "yes" } else { "revoked" });
                table.row(vec![
                    if is_current(&info) { "*" } else { "" }.into(),
                    info.id,
                    info.key_prefix.unwrap_or_default(),
                    info.name.unwrap_or_default(),
                    info.created_at.unwrap_or_default(),
                    info.last_used_at.unwrap_or_default(),
                    active.into(),
                ]);
            }
            return Ok(table.write(out, output)?);
        }
        Command::CreateKey { name } => {
            let body = json!({ "name": name });
            let doc = call(Method::Post, "/auth/api-keys", Some(&body)).map_err(|err| {
                if err.status == Some(400) && err.message.contains("already have an active API key") {
                    err.hint("The Torale API allows one active key per account. Create the new key at torale.ai (Settings > API Keys), switch to it, then revoke the old one with 'torale auth keys revoke'")
                } else {
                    err
                }
            })?;
            let created: Created = doc.decode("new API key")?;
            let prefix = created.key_info.and_then(|i| i.key_prefix);
            let shown = prefix.map_or_else(|| mask_key(&created.key), |p| sanitize(&p));
            let (check, name) = (output.paint_err(Color::Green, "✓"), sanitize(&name));
            stderr_line(&format!(
                "{check} Created API key '{name}' ({shown}); it is shown only once: store it now"
            ));
            if !output.json {
                return Ok(writeln!(out, "{}", created.key)?);
            }
            doc
        }
        Command::RevokeKey { id, yes } => {
            let target = keys()?.into_iter().find(|info| info.id == id);
            let label = target.as_ref().map_or(id.clone(), |info| {
                let name = sanitize(info.name.as_deref().unwrap_or(""));
                format!("'{name}' ({})", sanitize(info.key_prefix.as_deref().unwrap_or("?")))
            });
            if target.as_ref().is_some_and(is_current) {
                stderr_line(&format!(
                    "{} {label} is the key torale is using: after this, torale can no longer reach the API with it",
                    output.paint_err(Color::Yellow, "Warning:")
                ));
            }
            let refusal =
                "Refusing to revoke without confirmation: standard input is not a terminal";
            if !yes && !terminal::stdin_is_terminal() {
                return Err(Error::usage(refusal).hint("Add --yes (-y) to revoke without asking"));
            }
            if !yes && !terminal::confirm(&format!("Revoke API key {label}?"))? {
                return Err(Error::usage("Not revoked: not confirmed"));
            }
            let path = format!("/auth/api-keys/{id}");
            let doc = call(Method::Delete, &path, None).map_err(|err| match err.kind {
                Kind::NotFound => Error::new(Kind::NotFound, format!("API key {id} not found"))
                    .with_status(404)
                    .hint("List your keys with 'torale auth keys list'"),
                Kind::Server => {
                    err.hint("The key may still be active; check with 'torale auth keys list'")
                }
                _ => err,
            })?;
            if !output.json {
                let check = output.paint(Color::Green, "✓");
                return Ok(writeln!(out, "{check} Revoked API key {label}")?);
            }
            doc
        }
        Command::ListKeys => call(Method::Get, "/auth/api-keys", None)?,
        _ => call(Method::Get, "/auth/me", None)?,
    };
    output.json_text(out, doc.text())
}

fn set_api_key(cx: &Context, verify: bool, out: &mut Vec<u8>) -> Result<()> {
    let (output, (settings, mut file)) = (&cx.output, cx.settings()?);
    let flag = cx.options.api_key.is_some() || cx.options.api_key_file.is_some();
    let key = match &settings.api_key {
        Ok(Some((key, Source::Flag(_)))) => key.clone(),
        Err(err) if flag => return Err(err.clone()),
        _ => read_new_key()?,
    };
    let user = verify.then(|| Client::new(&settings, Some(&key), cx.debug).me());
    let user = user.transpose().map_err(|err| match explain_auth_error(err, &settings) {
        err if err.kind == Kind::Network => {
            err.hint("To save the key without checking it, add --no-verify")
        }
        err => err,
    })?;
    file.update(|entries| {
        entries.set("api_key", Value::String(key.expose().to_string()));
        // --api-url was checked with the settings.
        if cx.options.api_url.is_some() {
            entries.set("api_url", Value::String(settings.api_url.clone()));
        }
        Ok((true, ()))
    })?;
    stderr_line(&format!("Saved API key {} to {}", key.masked(), file.path.display()));
    if output.json {
        let result = json!({
            "api_key": key.masked(),
            "api_url": redacted(&settings.api_url),
            "config_path": file.path.display().to_string(),
            "verified": verify,
            "user": user.as_ref().map(|me| me.decode::<Value>("user")).transpose()?,
        });
        output.json_value(out, &result)
    } else if let Some(me) = &user {
        write_authenticated(out, output, me)
    } else {
        Ok(writeln!(out, "{} API key saved (not verified)", output.paint(Color::Green, "✓"))?)
    }
}

/// A key from standard input when it is piped, else from a hidden prompt.
fn read_new_key() -> Result<ApiKey> {
    let raw = if terminal::stdin_is_terminal() {
        terminal::read_hidden("Paste your API key (input is hidden): ")?
    } else {
        String::from_utf8_lossy(&terminal::read_input("-", 4096)?).into_owned()
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

/// `✓ Authenticated as EMAIL`, the line the product page promises.
fn write_authenticated(out: &mut Vec<u8>, output: &Output, me: &Json) -> Result<()> {
    let email = me.decode::<User>("user")?.email.unwrap_or_else(|| "unknown account".into());
    let check = output.paint(Color::Green, "✓");
    Ok(writeln!(out, "{check} Authenticated as {}", sanitize(&email))?)
}

/// Give authentication failures the seed page's wording and a next step.
fn explain_auth_error(err: Error, settings: &Settings) -> Error {
    let lower = err.message.to_ascii_lowercase();
    match err.kind {
        Kind::Auth if lower.contains("invalid api key") => Error::new(Kind::Auth, "Invalid API key")
            .with_status(err.status.unwrap_or(401))
            .hint("Create a new key at torale.ai under Settings > API Keys, then run 'torale auth set-api-key'"),
        Kind::Auth if settings.noauth && lower.contains("not authenticated") => {
            err.hint("TORALE_NOAUTH=1 sends no key; this server still requires one for this route (legacy servers do for /auth)")
        }
        _ => err,
    }
}

fn logout(cx: &Context, out: &mut Vec<u8>) -> Result<()> {
    let (output, mut file) = (&cx.output, ConfigFile::open(&cx.env)?);
    let removed = file.update(|entries| {
        let removed = entries.remove("api_key");
        Ok((removed, removed))
    })?;
    if cx.env.api_key.is_some() {
        stderr_line(&format!(
            "{} TORALE_API_KEY is still set in the environment, so torale keeps using that key; unset it to stop",
            output.paint_err(Color::Yellow, "Warning:")
        ));
    }
    let path = file.path.display();
    if output.json {
        output.json_value(out, &json!({"removed": removed, "config_path": path.to_string()}))?;
    } else if removed {
        writeln!(out, "{} Removed the API key from {path}", output.paint(Color::Green, "✓"))?;
    } else {
        stderr_line(&format!("No API key was stored in {path}"));
    }
    Ok(())
}
