//! Settings resolution (flag > environment > config file > default) and the config file itself.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{Error, Result};

pub const DEFAULT_API_URL: &str = "https://api.torale.ai";
pub const DEV_API_URL: &str = "http://localhost:8000";
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// The keys of the config file this CLI reads and writes; any other key is kept as it is.
pub const KNOWN_KEYS: [&str; 3] = ["api_key", "api_url", "timeout"];

/// An API key. Its `Debug` and `Display` never show more than the masked form.
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
        if !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
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

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Mask any secret-looking string: `sk_...` plus its last five characters.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        return "sk_...".into();
    }
    let tail: String = chars[chars.len() - 5..].iter().collect();
    format!("sk_...{tail}")
}

/// Where a setting's value came from, as shown by `auth status` and `config`.
#[derive(Clone, Debug, PartialEq, Eq)]
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
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment {var}"),
            Source::File => f.write_str("config file"),
            Source::DevMode => f.write_str("dev mode"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// Where the API key given on the command line comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyArg {
    /// `--api-key KEY`
    Value(String),
    /// `--api-key-file PATH` (`-` = standard input)
    File(String),
}

/// The command-line flags that take part in settings resolution.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub api_key: Option<KeyArg>,
    pub api_url: Option<String>,
    pub timeout: Option<String>,
}

/// A snapshot of the environment variables torale reads, so resolution is a pure function.
#[derive(Clone, Debug, Default)]
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
        Env {
            api_key: var("TORALE_API_KEY"),
            api_url: var("TORALE_API_URL"),
            timeout: var("TORALE_TIMEOUT"),
            noauth: var("TORALE_NOAUTH").is_some_and(|v| truthy(&v)),
            dev: var("TORALE_DEV").is_some_and(|v| truthy(&v)),
            config_dir: std::env::var_os("TORALE_CONFIG_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            debug: var("TORALE_DEBUG").is_some_and(|v| truthy(&v)),
        }
    }
}

fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// The effective settings of one invocation.
#[derive(Debug)]
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
        if self.noauth {
            return Ok(None);
        }
        match &self.api_key {
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
    let api_key = resolve_api_key(flags, env, file);

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
    let api_url = normalize_url(&url).map_err(|why| match api_url_source {
        Source::Flag(_) => Error::usage(format!("Invalid --api-url: {why}")),
        _ => Error::config(format!("Invalid API URL from {api_url_source}: {why}")),
    })?;

    let (timeout, timeout_source) = if let Some(t) = &flags.timeout {
        let secs =
            parse_timeout(t).map_err(|why| Error::usage(format!("Invalid --timeout: {why}")))?;
        (secs, Source::Flag("--timeout"))
    } else if let Some(t) = &env.timeout {
        let secs = parse_timeout(t)
            .map_err(|why| Error::config(format!("Invalid TORALE_TIMEOUT: {why}")))?;
        (secs, Source::Env("TORALE_TIMEOUT"))
    } else if let Some(value) = file.get("timeout") {
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        let secs = parse_timeout(&text).map_err(|why| {
            Error::config(format!("Invalid timeout in {}: {why}", file.path.display()))
        })?;
        (secs, Source::File)
    } else {
        (Duration::from_secs(DEFAULT_TIMEOUT_SECS), Source::Default)
    };

    Ok(Settings {
        api_key,
        api_url,
        api_url_source,
        timeout,
        timeout_source,
        noauth: env.noauth,
        config_path: file.path.clone(),
    })
}

fn resolve_api_key(
    flags: &Flags,
    env: &Env,
    file: &ConfigFile,
) -> Result<Option<(ApiKey, Source)>> {
    match &flags.api_key {
        Some(KeyArg::Value(raw)) => {
            let key = ApiKey::parse(raw)
                .map_err(|why| Error::usage(format!("Invalid --api-key: {why}")))?;
            return Ok(Some((key, Source::Flag("--api-key"))));
        }
        Some(KeyArg::File(path)) => {
            let raw = read_key_file(path)?;
            let key = ApiKey::parse(&raw).map_err(|why| {
                Error::usage(format!("Invalid key in --api-key-file {path}: {why}"))
            })?;
            return Ok(Some((key, Source::Flag("--api-key-file"))));
        }
        None => {}
    }
    if let Some(raw) = &env.api_key {
        let key = ApiKey::parse(raw)
            .map_err(|why| Error::config(format!("Invalid TORALE_API_KEY: {why}")))?;
        return Ok(Some((key, Source::Env("TORALE_API_KEY"))));
    }
    if let Some(raw) = file.get_str("api_key")? {
        let key = ApiKey::parse(&raw).map_err(|why| {
            Error::config(format!("Invalid api_key in {}: {why}", file.path.display()))
                .hint("Run 'torale auth set-api-key' to store a new key")
        })?;
        return Ok(Some((key, Source::File)));
    }
    Ok(None)
}

/// Read a key from a file, or from standard input for `-`; at most 4 KiB, trimmed.
pub fn read_key_file(path: &str) -> Result<String> {
    if path == "-" && crate::terminal::stdin_is_terminal() {
        // Standard input is a person at a terminal: ask without echoing the key.
        return crate::terminal::read_hidden("API key (input is hidden): ");
    }
    let buf = read_file_or_stdin(path, 4096).map_err(|err| {
        Error::config(format!(
            "Cannot read API key file {path}: {}",
            io_reason(&err)
        ))
    })?;
    String::from_utf8(buf)
        .map(|s| s.trim().to_string())
        .map_err(|_| Error::usage(format!("The API key file {path} is not text")))
}

/// The bytes of a file, or of standard input for `-`, at most `limit` of them.
pub fn read_file_or_stdin(path: &str, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == "-" {
        io::stdin().lock().take(limit).read_to_end(&mut buf)?;
    } else {
        fs::File::open(path)?.take(limit).read_to_end(&mut buf)?;
    }
    Ok(buf)
}

/// Check an API URL and drop its trailing slashes.
pub fn normalize_url(url: &str) -> std::result::Result<String, String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("'{url}' must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("'{url}' has no host"));
    }
    if rest.contains(['?', '#']) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("'{url}' must be a plain base URL"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Parse a timeout in whole seconds, 1 to 86400.
pub fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=86_400).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "'{text}' is not a number of seconds from 1 to 86400"
        )),
    }
}

/// The reason part of an I/O error, without Rust's "(os error N)" noise.
pub fn io_reason(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// A JSON object's entries in their order, values kept as written.
struct Entries(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut entries: Vec<(String, Box<RawValue>)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    // A repeated key: the last one counts, as for any JSON reader.
                    entries.retain(|(k, _)| *k != key);
                    entries.push((key, value));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The config file as a JSON object; unknown keys are carried through every write untouched:
/// same order, same text.
#[derive(Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// The file's keys in their order, each value exactly as it was written.
    entries: Vec<(String, Box<RawValue>)>,
    /// Whether the file existed when it was read.
    pub exists: bool,
    /// A warning about the file's permissions, for the caller to print.
    pub warning: Option<String>,
    /// Why there is no place for a config file (no home directory and no
    /// `TORALE_CONFIG_DIR`, as in a `FROM scratch` image): reading finds nothing, saving fails.
    pub unplaced: Option<Error>,
}

impl ConfigFile {
    /// No config file can exist: settings come from flags, the environment and defaults.
    pub fn unplaced(why: Error) -> ConfigFile {
        ConfigFile {
            path: PathBuf::from("~/.torale/config.json"),
            entries: Vec::new(),
            exists: false,
            warning: None,
            unplaced: Some(why),
        }
    }

    /// Read the config file; a missing file is an empty config, anything else wrong is exit 3.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok(ConfigFile {
                    path: path.to_path_buf(),
                    entries: Vec::new(),
                    exists: false,
                    warning: None,
                    unplaced: None,
                })
            }
            Err(err) => {
                return Err(Error::config(format!(
                    "Cannot read config file {}: {}",
                    path.display(),
                    io_reason(&err)
                )))
            }
        };
        let mut file = ConfigFile::parse(path, &bytes)?;
        file.warning = permission_warning(path);
        Ok(file)
    }

    /// The config file `path` holding `bytes`: an empty file is an empty config; anything
    /// but a JSON object is an error naming the path (and the line and column).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<ConfigFile> {
        let mut file = ConfigFile {
            path: path.to_path_buf(),
            entries: Vec::new(),
            exists: true,
            warning: None,
            unplaced: None,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(file);
        }
        let entries: Entries = serde_json::from_slice(bytes).map_err(|err| {
            if err.is_data() {
                return Error::config(format!(
                    "Config file {} must hold a JSON object",
                    path.display()
                ));
            }
            Error::config(format!(
                "Config file {} is not valid JSON (line {}, column {}): {}",
                path.display(),
                err.line(),
                err.column(),
                json_reason(&err)
            ))
            .hint("Fix or remove the file; 'torale config path' prints where it is")
        })?;
        file.entries = entries.0;
        Ok(file)
    }

    /// The value of a key (`None` when missing or null).
    pub fn get(&self, key: &str) -> Option<Value> {
        let raw = &self.entries.iter().find(|(k, _)| k == key)?.1;
        serde_json::from_str::<Value>(raw.get())
            .ok()
            .filter(|v| !v.is_null())
    }

    /// A string value, or an error naming the file when the key holds something else.
    pub fn get_str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::config(format!(
                "Config file {}: '{key}' must be a string",
                self.path.display()
            ))),
        }
    }

    /// Set a key, in its place when the file already has it, else at the end.
    pub fn set(&mut self, key: &str, value: &Value) {
        let raw = match RawValue::from_string(value.to_string()) {
            Ok(raw) => raw,
            // A serde_json::Value always serializes to valid JSON.
            Err(_) => return,
        };
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = raw,
            None => self.entries.push((key.to_string(), raw)),
        }
    }

    /// Remove a key; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| k != key);
        self.entries.len() != before
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The file's text: two-space indentation, keys in their order, values as they were.
    fn render(&self) -> String {
        let mut out = Vec::new();
        out.extend_from_slice(b"{\n");
        for (i, (key, raw)) in self.entries.iter().enumerate() {
            out.extend_from_slice(b"  ");
            out.extend_from_slice(Value::String(key.clone()).to_string().as_bytes());
            out.extend_from_slice(b": ");
            // Writing into a Vec cannot fail.
            let _ = crate::output::write_json(&mut out, raw.get(), true, 1);
            if i + 1 < self.entries.len() {
                out.push(b',');
            }
            out.push(b'\n');
        }
        out.extend_from_slice(b"}\n");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Write the file atomically: a 0600 temp file in the same 0700 directory, fsync, rename.
    /// An empty config removes the file.
    pub fn save(&self) -> Result<()> {
        if let Some(why) = &self.unplaced {
            return Err(why.clone());
        }
        let fail = |what: &str, err: &io::Error| {
            Error::config(format!(
                "Cannot {what} {}: {}",
                self.path.display(),
                io_reason(err)
            ))
            .hint("The existing config file was left unchanged")
        };
        if self.entries.is_empty() {
            return match fs::remove_file(&self.path) {
                Ok(()) => Ok(()),
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(fail("remove", &err)),
            };
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|err| fail("create the directory for", &err))?;

        let text = self.render();

        // Concurrent writers each use their own temp file and each rename is atomic: readers
        // always see one complete version, and the last rename wins.
        let mut attempt = 0;
        let written = loop {
            let tmp = temp_path(&self.path, attempt);
            match write_private(&tmp, text.as_bytes()) {
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(err) => {
                    if err.kind() != io::ErrorKind::AlreadyExists {
                        let _ = fs::remove_file(&tmp);
                    }
                    break Err(err);
                }
                Ok(()) => {
                    let renamed = fs::rename(&tmp, &self.path);
                    if renamed.is_err() {
                        let _ = fs::remove_file(&tmp);
                    }
                    break renamed;
                }
            }
        };
        if let Err(err) = written {
            return Err(fail("write", &err));
        }
        // Make the rename itself durable; failure here cannot lose the file, so it is ignored.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn json_reason(err: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; the message already says where.
    let text = err.to_string();
    match text.find(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// A temp file name no other writer uses: process id, clock and attempt number.
fn temp_path(path: &Path, attempt: u32) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(".config.json.{}.{nanos}.{attempt}.tmp", std::process::id());
    path.with_file_name(name)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(err) if dir.is_dir() => {
            let _ = err;
            Ok(())
        }
        Err(err) => Err(err),
    }
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "Config file {} is accessible by other users (mode {mode:03o}); run: chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_format() {
        let good = format!("sk_{}", "a".repeat(43));
        assert!(ApiKey::parse(&good).is_ok());
        assert!(ApiKey::parse(&format!("  {good}\n")).is_ok());
        assert!(ApiKey::parse("sk_short").is_err());
        assert!(ApiKey::parse(&format!("pk_{}", "a".repeat(43))).is_err());
        assert!(ApiKey::parse(&format!("sk_{}!", "a".repeat(30))).is_err());
        assert!(ApiKey::parse(&format!("sk_{}", "a".repeat(101))).is_err());
    }

    #[test]
    fn masking_shows_only_the_tail() {
        let key = ApiKey::parse("sk_cFSK7PFckoFLSjO1iPUnDTeFW5B20KRnjC504xFDyBg").unwrap();
        assert_eq!(key.masked(), "sk_...xFDyBg"[..6].to_string() + "FDyBg");
        assert!(!format!("{key:?}").contains("cFSK7"));
    }

    #[test]
    fn urls() {
        assert_eq!(
            normalize_url("https://x.example/").unwrap(),
            "https://x.example"
        );
        assert_eq!(
            normalize_url("http://127.0.0.1:80/api//").unwrap(),
            "http://127.0.0.1:80/api"
        );
        assert!(normalize_url("ftp://x").is_err());
        assert!(normalize_url("https://").is_err());
    }
}
