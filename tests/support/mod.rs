//! Test support: a sandbox per test (own HOME and config dir, clean environment) that runs
//! the real `torale` binary, and the fake Torale API in `fake.rs`.
#![allow(dead_code)]

pub mod fake;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// No single run of the binary may take longer than this; a hang fails the test.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A private HOME and TORALE_CONFIG_DIR, removed when dropped.
pub struct Sandbox {
    pub root: PathBuf,
    pub home: PathBuf,
    pub config_dir: PathBuf,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let root =
            std::env::temp_dir().join(format!("torale-test-{}-{n}-{nanos}", std::process::id()));
        let home = root.join("home");
        let config_dir = root.join("config");
        std::fs::create_dir_all(&home).unwrap();
        Sandbox {
            root,
            home,
            config_dir,
        }
    }

    /// `torale ARGS` in this sandbox: empty environment but PATH, HOME and
    /// TORALE_CONFIG_DIR; standard input empty (not a terminal).
    pub fn torale(&self, args: &[&str]) -> Cmd {
        Cmd {
            args: args.iter().map(|s| s.to_string()).collect(),
            envs: vec![
                ("HOME".into(), self.home.display().to_string()),
                (
                    "TORALE_CONFIG_DIR".into(),
                    self.config_dir.display().to_string(),
                ),
            ],
            stdin: Vec::new(),
            file_limit: None,
            key_on_stdout: false,
        }
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
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        set_mode(&self.config_dir, 0o700);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub struct Cmd {
    args: Vec<String>,
    envs: Vec<(String, String)>,
    stdin: Vec<u8>,
    /// `Some(crash)`: run under `ulimit -f 0`; `crash` leaves SIGXFSZ fatal, else writes fail
    /// with EFBIG as on a full disk.
    file_limit: Option<bool>,
    /// The command's job is to print a new key on stdout (`auth keys create`).
    key_on_stdout: bool,
}

impl Cmd {
    pub fn env(mut self, key: &str, value: &str) -> Cmd {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Point the CLI at a fake server and give it a key through the environment.
    pub fn server(self, fake: &fake::Fake) -> Cmd {
        self.env("TORALE_API_URL", &fake.url())
            .env("TORALE_API_KEY", &fake.key())
    }

    /// Allow a full key on stdout, for the one command whose result is a new key; stderr is
    /// still checked.
    pub fn key_on_stdout(mut self) -> Cmd {
        self.key_on_stdout = true;
        self
    }

    /// Run under `ulimit -f 0`: the first byte written to a file kills the process.
    pub fn crash_on_file_write(mut self) -> Cmd {
        self.file_limit = Some(true);
        self
    }

    /// Run under `ulimit -f 0` with SIGXFSZ ignored: every file write fails, as on a full disk.
    pub fn fail_file_writes(mut self) -> Cmd {
        self.file_limit = Some(false);
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = bytes.into();
        self
    }

    /// Run to completion (or fail the test after a minute) and check that no full API key
    /// appears in anything the binary printed.
    pub fn run(self) -> Run {
        let binary = env!("CARGO_BIN_EXE_torale");
        let mut command = if let Some(crash) = self.file_limit {
            let trap = if crash { "" } else { "trap '' XFSZ; " };
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("{trap}ulimit -f 0; exec \"$0\" \"$@\""))
                .arg(binary);
            sh
        } else {
            Command::new(binary)
        };
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.envs {
            command.env(k, v);
        }
        let started = Instant::now();
        let mut child = command.spawn().expect("spawn torale");
        let mut stdin = child.stdin.take().unwrap();
        let input = self.stdin.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
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
        let stdout = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
            elapsed: started.elapsed(),
            args: self.args,
        };
        let checked: Vec<&String> = if self.key_on_stdout {
            vec![&run.stderr]
        } else {
            vec![&run.stdout, &run.stderr]
        };
        for text in checked {
            if let Some(leak) = find_full_key(text) {
                panic!(
                    "a full API key ({}...) appears in the output of {run:?}",
                    &leak[..8]
                );
            }
        }
        run
    }
}

/// A full API key in some text: `sk_` followed by 20 or more key characters.
pub fn find_full_key(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(pos) = text[at..].find("sk_") {
        let start = at + pos;
        let len = bytes[start + 3..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
            .count();
        if len >= 20 {
            return Some(text[start..start + 3 + len].to_string());
        }
        at = start + 3;
    }
    None
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub args: Vec<String>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "torale {:?}\n--- exit {}\n--- stdout\n{}--- stderr\n{}---",
            self.args, self.code, self.stdout, self.stderr
        )
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
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{self:?}"
        );
        self
    }

    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{self:?}"
        );
        self
    }

    pub fn stderr_lacks(&self, needle: &str) -> &Run {
        assert!(
            !self.stderr.contains(needle),
            "stderr has {needle:?}:\n{self:?}"
        );
        self
    }

    pub fn no_stdout(&self) -> &Run {
        assert!(self.stdout.is_empty(), "stdout should be empty:\n{self:?}");
        self
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)"
    );
}

/// A well-formed key the fake server does not know.
pub const UNKNOWN_KEY: &str = "sk_unknownUnknownUnknownUnknownUnknownUnknown1";
