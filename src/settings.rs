//! Settings resolution (flag > environment > config file > default) and the config file itself.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{invalid_json, io_reason, mask_key, Error, Result};

pub const DEFAULT_API_URL: &str = "https://api.torale.ai";
pub const DEV_API_URL: &str = "http://localhost:8000";
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// A config file larger than this is not a config file.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The keys of the config file this CLI reads and writes; any other key is kept as it is.
pub const KNOWN_KEYS: [&str; 3] = ["api_key", "api_url", "timeout"];

/// An API key. It has no `Debug` or `Display`: only its masked form is ever printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Check the key's format (`sk_` + 20–100 of `[A-Za-z0-9_-]`) without revealing it.
    pub fn parse(raw: &str) -> std::result::Result<ApiKey, String> {
        let key = raw.trim();
        if key.is_empty() {
            return Err("the API key is empty".into());
        }
        let Some(rest) = key.strip_prefix("sk_") else {
            return Err("an API key starts with 'sk_'".into());
        };
        if !(20..=100).contains(&rest.len()) {
            return Err(format!(
                "an API key is 'sk_' followed by 20 to 100 characters, this one has {}",
                rest.chars().count()
            ));
        }
        if !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err("an API key contains only letters, digits, '_' and '-'".into());
        }
        Ok(ApiKey(key.to_string()))
    }

    /// The full key, for the `Authorization` header and the config file only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `sk_...` and the last five characters: the only form of a key that is ever printed.
    pub fn masked(&self) -> String {
        mask_key(&self.0)
    }
}

/// Where a setting's value came from, as shown by `auth status` and `config`.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File,
    DevMode,
    Default,
}

impl Source {
    /// A short machine-readable name for `--json`.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Flag(_) => "flag",
            Source::Env(_) => "environment",
            Source::File => "file",
            Source::DevMode => "dev-mode",
            Source::Default => "default",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(name) | Source::Env(name) => write!(f, "{} {name}", self.name()),
            Source::File => f.write_str("config file"),
            Source::DevMode => f.write_str("dev mode"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// The API key given on the command line.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyArg {
    /// `--api-key KEY`
    Value(String),
    /// `--api-key-file PATH` (`-` = standard input), with the text read from it.
    File { path: String, text: String },
}

/// The command-line flags that take part in settings resolution.
#[derive(Clone, Default)]
pub struct Flags {
    pub api_key: Option<KeyArg>,
    pub api_url: Option<String>,
    pub timeout: Option<String>,
}

/// A snapshot of the environment variables torale reads, so resolution is a pure function.
#[derive(Clone, Default)]
pub struct Env {
    pub api_key: Option<String>,
    pub api_url: Option<String>,
    pub timeout: Option<String>,
    pub noauth: bool,
    pub dev: bool,
    pub config_dir: Option<PathBuf>,
    pub debug: bool,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let truthy = |name: &str| {
            var(name).is_some_and(|v| {
                matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            })
        };
        let config_dir = std::env::var_os("TORALE_CONFIG_DIR").filter(|v| !v.is_empty());
        Env {
            api_key: var("TORALE_API_KEY"),
            api_url: var("TORALE_API_URL"),
            timeout: var("TORALE_TIMEOUT"),
            noauth: truthy("TORALE_NOAUTH"),
            dev: truthy("TORALE_DEV"),
            config_dir: config_dir.map(PathBuf::from),
            debug: truthy("TORALE_DEBUG"),
        }
    }
}

/// The effective settings of one invocation.
pub struct Settings {
    /// The key and where it came from; an invalid key is kept as its error until it is needed,
    /// so commands that do not send it (logout, config) still work. Never sent in NOAUTH mode.
    pub api_key: Result<Option<(ApiKey, Source)>>,
    pub api_url: String,
    pub api_url_source: Source,
    pub timeout: Duration,
    pub timeout_source: Source,
    pub noauth: bool,
    pub config_path: PathBuf,
}

impl Settings {
    /// The key to send, or the "No API key configured" error; `None` in NOAUTH mode.
    pub fn require_key(&self) -> Result<Option<&ApiKey>> {
        match &self.api_key {
            _ if self.noauth => Ok(None),
            Ok(Some((key, _))) => Ok(Some(key)),
            Ok(None) => Err(Error::no_api_key()),
            Err(err) => Err(err.clone()),
        }
    }
}

/// The config file's path: `$TORALE_CONFIG_DIR/config.json`, else `~/.torale/config.json`.
pub fn config_path(env: &Env) -> Result<PathBuf> {
    let dir = match &env.config_dir {
        Some(dir) => dir.clone(),
        None => home::home_dir()
            .filter(|home| !home.as_os_str().is_empty())
            .map(|home| home.join(".torale"))
            .ok_or_else(|| {
                Error::config("Cannot find the home directory for the config file")
                    .hint("Set HOME or TORALE_CONFIG_DIR")
            })?,
    };
    Ok(dir.join("config.json"))
}

/// Resolve every setting from flags, environment and config file, in that order.
pub fn resolve(flags: &Flags, env: &Env, file: &ConfigFile) -> Result<Settings> {
    let api_key = resolve_key(flags, env, file);

    let (url, api_url_source) = if let Some(url) = &flags.api_url {
        (url.clone(), Source::Flag("--api-url"))
    } else if let Some(url) = &env.api_url {
        (url.clone(), Source::Env("TORALE_API_URL"))
    } else if env.noauth || env.dev {
        (DEV_API_URL.to_string(), Source::DevMode)
    } else if let Some(url) = file.get_str("api_url")? {
        (url.to_string(), Source::File)
    } else {
        (DEFAULT_API_URL.to_string(), Source::Default)
    };
    let api_url = check_api_url(&url).map(|url| url.text).map_err(|err| match api_url_source {
        Source::File => Error::config(format!("{} in {}", err.message, file.path.display())),
        _ => err,
    })?;

    let (timeout, timeout_source) = if let Some(t) = &flags.timeout {
        (t.clone(), Source::Flag("--timeout"))
    } else if let Some(t) = &env.timeout {
        (t.clone(), Source::Env("TORALE_TIMEOUT"))
    } else if let Some(value) = file.get("timeout") {
        let number = value.as_number().map(ToString::to_string);
        (value.as_str().map(str::to_string).or(number).unwrap_or_default(), Source::File)
    } else {
        (DEFAULT_TIMEOUT_SECS.to_string(), Source::Default)
    };
    let timeout = parse_timeout(&timeout).map_err(|why| match timeout_source {
        Source::Flag(_) => Error::usage(format!("Invalid --timeout: {why}")),
        Source::Env(_) => Error::config(format!("Invalid TORALE_TIMEOUT: {why}")),
        _ => Error::config(format!("Invalid timeout in {}: {why}", file.path.display())),
    })?;

    let (noauth, config_path) = (env.noauth, file.path.clone());
    Ok(Settings { api_key, api_url, api_url_source, timeout, timeout_source, noauth, config_path })
}

/// The API key and where it came from: flag > environment > config file.
fn resolve_key(flags: &Flags, env: &Env, file: &ConfigFile) -> Result<Option<(ApiKey, Source)>> {
    let (raw, source) = match (&flags.api_key, &env.api_key) {
        (Some(KeyArg::Value(raw)), _) => (raw.clone(), Source::Flag("--api-key")),
        (Some(KeyArg::File { text, .. }), _) => (text.clone(), Source::Flag("--api-key-file")),
        (None, Some(raw)) => (raw.clone(), Source::Env("TORALE_API_KEY")),
        (None, None) => match file.get_str("api_key")? {
            Some(raw) => (raw, Source::File),
            None => return Ok(None),
        },
    };
    let key = ApiKey::parse(&raw).map_err(|why| match (&source, &flags.api_key) {
        (Source::Flag(_), Some(KeyArg::File { path, .. })) => {
            Error::usage(format!("Invalid key in --api-key-file {path}: {why}"))
        }
        (Source::Flag(flag), _) => Error::usage(format!("Invalid {flag}: {why}")),
        (Source::Env(var), _) => Error::config(format!("Invalid {var}: {why}")),
        _ => Error::config(format!("Invalid api_key in {}: {why}", file.path.display()))
            .hint("Run 'torale auth set-api-key' to store a new key"),
    })?;
    Ok(Some((key, source)))
}

/// An API URL as it may be shown: no password, no key.
pub use crate::url::redacted;

/// Check an API URL wherever it comes from (flag, environment, file, `config set`, the client)
/// and drop its trailing slashes; a refused URL is a usage error (exit 2) before anything is sent.
pub fn check_api_url(text: &str) -> Result<crate::url::ApiUrl> {
    crate::url::parse_api_url(text).map_err(|why| {
        let shown = crate::url::redacted(text.trim());
        Error::usage(format!("Invalid API URL '{shown}': {why}"))
    })
}

/// Parse a timeout in whole seconds, 1 to 86400.
pub fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=86_400).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(format!("'{text}' is not a number of seconds from 1 to 86400")),
    }
}

/// The config file's keys, each value kept as the text it was written as, so a key this CLI
/// does not know survives every write exactly (keys are written in sorted order).
#[derive(Default)]
pub struct Entries(BTreeMap<String, Box<RawValue>>);

impl Entries {
    pub fn set(&mut self, key: &str, value: Value) {
        // A Value always encodes.
        if let Ok(raw) = serde_json::value::to_raw_value(&value) {
            self.0.insert(key.to_string(), raw);
        }
    }

    /// Remove a key; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.0.remove(key).is_some()
    }
}

/// The config file as a JSON object.
#[derive(Default)]
pub struct ConfigFile {
    pub path: PathBuf,
    entries: Entries,
    /// Why there is no place for a config file (no home directory and no
    /// `TORALE_CONFIG_DIR`, as in a `FROM scratch` image): reading finds nothing, saving fails.
    unplaced: Option<Error>,
}

impl ConfigFile {
    /// The config file of this environment: read when it exists, empty when it does not,
    /// empty and unsaveable when there is no place for one. A file readable by others
    /// gets a warning on stderr.
    pub fn open(env: &Env) -> Result<ConfigFile> {
        match config_path(env) {
            Ok(path) => {
                let file = ConfigFile::load(&path)?;
                warn_if_shared(&path);
                Ok(file)
            }
            Err(why) => {
                let path = PathBuf::from("~/.torale/config.json");
                Ok(ConfigFile { path, unplaced: Some(why), ..ConfigFile::default() })
            }
        }
    }

    /// Read the config file; a missing file is an empty config, anything else wrong is exit 3.
    fn load(path: &Path) -> Result<ConfigFile> {
        let mut file = ConfigFile { path: path.to_path_buf(), ..ConfigFile::default() };
        let fail = |why: String| {
            Error::config(format!("Cannot read config file {}: {why}", path.display()))
        };
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(file),
            Err(err) => return Err(fail(io_reason(&err))),
        };
        // A FIFO or a device would block or never end; a config file is a small regular file.
        if !meta.is_file() {
            return Err(fail("not a regular file".into()));
        }
        check_private_dir(path.parent().unwrap_or(Path::new(".")))?;
        let mut bytes = Vec::new();
        fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|err| fail(io_reason(&err)))?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(fail("larger than 1 MiB".into()));
        }
        // An empty file is an empty config; anything but a JSON object is an error naming the
        // path (and the line and column).
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(file);
        }
        let path = path.display();
        file.entries.0 = serde_json::from_slice(&bytes).map_err(|err| {
            if err.is_data() {
                return Error::config(format!("Config file {path} must hold a JSON object"));
            }
            Error::config(format!("Config file {path} {}", invalid_json(&err)))
                .hint("Fix or remove the file; 'torale config path' prints where it is")
        })?;
        Ok(file)
    }

    /// The value of a key (`None` when missing or null).
    pub fn get(&self, key: &str) -> Option<Value> {
        let raw = self.entries.0.get(key)?;
        serde_json::from_str::<Value>(raw.get()).ok().filter(|v| !v.is_null())
    }

    /// A string value, or an error naming the file when the key holds something else.
    pub fn get_str(&self, key: &str) -> Result<Option<String>> {
        let path = self.path.display();
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s).filter(|s| !s.is_empty())),
            Some(_) => Err(Error::config(format!("Config file {path}: '{key}' must be a string"))),
        }
    }

    /// Change the file on disk under an exclusive lock: read it again, let `edit` change the
    /// entries, write the result atomically. Concurrent writers wait for each other, so no
    /// key is lost. `edit` returns whether anything changed; an empty config removes the file.
    pub fn update<T>(&mut self, edit: impl FnOnce(&mut Entries) -> Result<(bool, T)>) -> Result<T> {
        if let Some(why) = &self.unplaced {
            return match edit(&mut Entries::default())? {
                (false, result) => Ok(result),
                (true, _) => Err(why.clone()),
            };
        }
        let path = self.path.clone();
        let fail = |what: &str, err: &io::Error| {
            Error::config(format!("Cannot {what} {}: {}", path.display(), io_reason(err)))
                .hint("The existing config file was left unchanged")
        };
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let created = fs::DirBuilder::new().mode(0o700).recursive(true).create(&dir);
        created.map_err(|err| fail("create the directory for", &err))?;
        check_private_dir(&dir)?;
        let lock = fs::File::open(&dir).and_then(|lock| lock.lock().map(|()| lock));
        let lock = lock.map_err(|err| fail("lock", &err))?;

        *self = ConfigFile::load(&self.path)?;
        let (changed, result) = edit(&mut self.entries)?;
        if !changed {
            return Ok(result);
        }
        if self.entries.0.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => Err(fail("remove", &err)),
                _ => Ok(result),
            };
        }
        let mut text = serde_json::to_string_pretty(&self.entries.0)
            .map_err(|err| Error::internal(format!("Cannot encode the config: {err}")))?;
        text.push('\n');
        // A full disk or a crash leaves the old file: the new one is complete before the rename.
        let tmp = self.path.with_file_name(format!(".config.json.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let opened = fs::OpenOptions::new().mode(0o600).write(true).create_new(true).open(&tmp);
        let written = opened.and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        });
        if let Err(err) = written {
            let _ = fs::remove_file(&tmp);
            return Err(fail("write", &err));
        }
        // Make the rename itself durable; failure here cannot lose the file.
        let _ = lock.sync_all();
        Ok(result)
    }
}

/// The permission bits of a file.
fn mode(path: &Path) -> Option<u32> {
    fs::metadata(path).ok().map(|meta| meta.permissions().mode() & 0o7777)
}

/// A config directory that other users can write to lets them replace the file (and the URL
/// the key is sent to): refuse it rather than trust what is in it.
fn check_private_dir(dir: &Path) -> Result<()> {
    let Some(mode) = mode(dir).filter(|mode| mode & 0o022 != 0) else { return Ok(()) };
    let dir = dir.display();
    let why = format!("Config directory {dir} is writable by other users (mode {mode:03o})");
    let hint = format!("Run: chmod 700 {dir}, or point TORALE_CONFIG_DIR at a private directory");
    Err(Error::config(why).hint(hint))
}

fn warn_if_shared(path: &Path) {
    if let Some(mode) = mode(path).map(|mode| mode & 0o777).filter(|mode| mode & 0o077 != 0) {
        let path = path.display();
        let _ = writeln!(
            io::stderr(),
            "Warning: Config file {path} is accessible by other users (mode {mode:03o}); run: chmod 600 {path}"
        );
    }
}
