//! The test world: a fake Torale API, a private HOME and config directory, and a runner that
//! starts the real `torale` binary there with a cleared environment and captures what it did.

pub mod fake;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fake::{Fake, Generation, Options, Request};

/// No single run of the binary may take longer than this; a hang fails the test.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A well-formed key that no fake knows.
pub const UNKNOWN_KEY: &str = "sk_unknownUnknownUnknownUnknownUnknownUnknown1";

/// One user's machine: the fake API they talk to, their HOME and config directory (removed
/// when dropped).
pub struct World {
    pub fake: Fake,
    pub root: PathBuf,
    pub home: PathBuf,
    pub config_dir: PathBuf,
}

impl World {
    /// A world whose API is the current server.
    pub fn new() -> World {
        World::with(Options::default())
    }

    pub fn of(generation: Generation) -> World {
        World::with(Options { generation, ..Options::default() })
    }

    pub fn with(options: Options) -> World {
        let root = temp_dir("world");
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        World { fake: Fake::start_with(options), config_dir: root.join("config"), root, home }
    }

    /// `torale ARGS` against the fake, with its key in the environment.
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd(args).server(&self.fake).run()
    }

    /// `torale ARGS` with nothing but the sandbox set: add `.url()`, `.server()`, `.env()`...
    pub fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd {
            program: PathBuf::from(env!("CARGO_BIN_EXE_torale")),
            args: args.iter().map(|s| s.to_string()).collect(),
            envs: vec![
                ("HOME".into(), self.home.display().to_string()),
                ("TORALE_CONFIG_DIR".into(), self.config_dir.display().to_string()),
                ("TORALE_TEST_SLEEP_DIVISOR".into(), "1000".into()),
            ],
            stdin: Vec::new(),
            shell_prefix: None,
            uid: None,
            key_on_stdout: false,
        }
    }

    /// The fake's requests since the last call, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.fake.take_requests().iter().map(Request::line).collect()
    }

    /// The fake's user's key as torale shows it: `sk_...` and its last five characters.
    pub fn masked_key(&self) -> String {
        let key = self.fake.key();
        format!("sk_...{}", &key[key.len() - 5..])
    }

    /// A task of the fake's user.
    pub fn task(&self, fields: serde_json::Value) -> String {
        self.fake.seed_task(&self.fake.key(), fields)
    }

    pub fn config_path(&self) -> PathBuf {
        self.config_dir.join("config.json")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(&self.config_dir).unwrap();
        set_mode(&self.config_dir, 0o700);
        std::fs::write(self.config_path(), text).unwrap();
        set_mode(&self.config_path(), 0o600);
    }

    pub fn read_config(&self) -> Option<String> {
        std::fs::read_to_string(self.config_path()).ok()
    }

    pub fn config_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.read_config().expect("config file exists")).unwrap()
    }

    /// `torale ARGS` (shell words) with the fake's URL and key, on a pseudo-terminal `cols`
    /// columns wide (util-linux `script`), `typed` as keyboard input: the exit code and what
    /// the terminal showed.
    pub fn on_terminal(&self, cols: u32, args: &str, typed: &str) -> (i32, String) {
        let mut child = self.terminal(cols, args).spawn().expect("util-linux `script` runs");
        child.stdin.take().unwrap().write_all(typed.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        let shown = String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n");
        assert!(find_full_key(&shown).is_none(), "a full key reached the terminal:\n{shown}");
        (output.status.code().unwrap_or(-1), shown)
    }

    /// `torale ARGS` (ARGS is shell text) on a pseudo-terminal COLS wide, stdin and stdout piped.
    pub fn terminal(&self, cols: u32, args: &str) -> Command {
        let bin = env!("CARGO_BIN_EXE_torale");
        let mut command = Command::new("script");
        command
            .args(["-qec", &format!("stty cols {cols} rows 40; exec {bin} {args}"), "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("TORALE_CONFIG_DIR", &self.config_dir)
            .env("TORALE_API_URL", self.fake.url())
            .env("TORALE_API_KEY", self.fake.key())
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        command
    }

    /// The names in the config directory, sorted (no temp files may be left behind).
    pub fn config_dir_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.config_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

impl Drop for World {
    fn drop(&mut self) {
        set_mode(&self.config_dir, 0o700);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A new directory under the system's temp dir (mode 0755, so `nobody` may enter it).
pub fn temp_dir(what: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("torale-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    set_mode(&dir, 0o755);
    dir
}

pub fn set_mode(path: &Path, mode: u32) {
    if path.exists() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Bytes a program printed, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A URL on loopback where nothing listens.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    format!("http://127.0.0.1:{port}")
}

/// One run of the binary, being set up.
pub struct Cmd {
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    stdin: Vec<u8>,
    /// Shell code run before `exec`ing the binary (`ulimit`, `trap`).
    shell_prefix: Option<String>,
    uid: Option<u32>,
    key_on_stdout: bool,
}

impl Cmd {
    pub fn env(mut self, key: &str, value: &str) -> Cmd {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Point the CLI at this fake, without a key.
    pub fn url(self, fake: &Fake) -> Cmd {
        self.env("TORALE_API_URL", &fake.url())
    }

    /// Point the CLI at this fake, with its user's key in the environment.
    pub fn server(self, fake: &Fake) -> Cmd {
        self.url(fake).env("TORALE_API_KEY", &fake.key())
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = bytes.into();
        self
    }

    /// Allow a full key on stdout, for the one command whose result is a new key.
    pub fn key_on_stdout(mut self) -> Cmd {
        self.key_on_stdout = true;
        self
    }

    /// Run as `sh -c 'PREFIX exec torale ARGS'`: for redirections, `ulimit` and `trap`.
    pub fn shell(mut self, prefix: &str) -> Cmd {
        self.shell_prefix = Some(prefix.into());
        self
    }

    /// Run a copy of the binary as this user (the copy sits where any user may run it).
    pub fn user(mut self, uid: u32) -> Cmd {
        let dir = temp_dir("bin");
        let copy = dir.join("torale");
        std::fs::copy(&self.program, &copy).unwrap();
        set_mode(&copy, 0o755);
        self.program = copy;
        self.uid = Some(uid);
        self
    }

    /// The process [`Cmd::run`] starts, with stdin, stdout and stderr piped.
    pub fn command(&self) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = match &self.shell_prefix {
            Some(prefix) => {
                let mut sh = Command::new("sh");
                sh.arg("-c").arg(format!("{prefix} exec \"$0\" \"$@\"")).arg(&self.program);
                sh
            }
            None => Command::new(&self.program),
        };
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(uid) = self.uid {
            command.uid(uid).gid(uid);
        }
        command
    }

    /// Run to completion (or fail the test after a minute) and check that no full API key
    /// appears in anything the binary printed.
    pub fn run(self) -> Run {
        let started = Instant::now();
        let mut child = self.command().spawn().expect("spawn torale");
        let mut stdin = child.stdin.take().unwrap();
        let input = self.stdin.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let read_all = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                buf
            })
        };
        let out = read_all(Box::new(child.stdout.take().unwrap()));
        let err = read_all(Box::new(child.stderr.take().unwrap()));
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                panic!("torale {:?} did not finish within {RUN_LIMIT:?}", self.args);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let _ = writer.join();
        let out = out.join().unwrap();
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            out,
            stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
            elapsed: started.elapsed(),
            args: self.args,
        };
        let mut printed = vec![&run.stderr];
        if !self.key_on_stdout {
            printed.push(&run.stdout);
        }
        for text in printed {
            if let Some(leak) = find_full_key(text) {
                panic!("a full API key ({}...) appears in {run:?}", &leak[..8]);
            }
        }
        run
    }
}

/// A full API key in some text: `sk_` followed by 20 or more key characters.
pub fn find_full_key(text: &str) -> Option<String> {
    let mut at = 0;
    while let Some(pos) = text[at..].find("sk_") {
        let start = at + pos + 3;
        let len = text[start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count();
        if len >= 20 {
            return Some(text[start - 3..start + len].to_string());
        }
        at = start;
    }
    None
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    /// Stdout's bytes as written.
    pub out: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
    pub args: Vec<String>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (args, secs, code) = (&self.args, self.elapsed.as_secs_f64(), self.code);
        write!(f, "torale {args:?} ({secs:.2}s)\n--- exit {code}\n")?;
        write!(f, "--- stdout\n{}--- stderr\n{}---", self.stdout, self.stderr)
    }
}

impl Run {
    /// Assert the exit code, showing the whole run when it differs.
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(self.code, expected, "unexpected exit code:\n{self:?}");
        self
    }

    pub fn ok(&self) -> &Run {
        self.code(0)
    }

    pub fn stdout_is(&self, expected: &str) -> &Run {
        assert_eq!(self.stdout, expected, "stdout differs:\n{self:?}");
        self
    }

    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}:\n{self:?}");
        self
    }

    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{self:?}");
        self
    }

    pub fn stderr_lacks(&self, needle: &str) -> &Run {
        assert!(!self.stderr.contains(needle), "stderr has {needle:?}:\n{self:?}");
        self
    }

    pub fn no_stdout(&self) -> &Run {
        assert!(self.stdout.is_empty(), "stdout should be empty:\n{self:?}");
        self
    }

    /// Finished within this many seconds (generous: a loaded machine is slow).
    pub fn within(&self, secs: u64) -> &Run {
        assert!(self.elapsed < Duration::from_secs(secs), "too slow:\n{self:?}");
        self
    }

    /// Stdout, trimmed: the one value a command printed.
    pub fn value(&self) -> String {
        self.stdout.trim().to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self:?}"))
    }

    /// The `--json` error object on stderr.
    pub fn json_error(&self) -> serde_json::Value {
        let line = self.stderr.lines().last().unwrap_or("");
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stderr does not end in a JSON error ({e}):\n{self:?}"));
        value["error"].clone()
    }
}

/// Compare text with `tests/snapshots/NAME`; `UPDATE_SNAPSHOTS=1` rewrites the file.
pub fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(actual, expected, "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)");
}
