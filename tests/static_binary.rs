//! The static release binary (`dist/torale`, built by `make static`; `make test` builds it
//! first) in an image that holds nothing else: an empty root with only the binary and
//! `etc/hosts`, entered with `chroot`, against the fake Torale API on loopback (the chroot
//! shares this process's network). Skipped, with the reason printed, when `dist/torale` is
//! missing or the tests do not run as root.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;

use support::fake::{Fake, Generation};

const BUDGET: u64 = 2 * 1024 * 1024;

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist")
}

/// Says why a test is skipped, on stderr itself, so that the test harness does not capture it.
fn skip(reason: &str) {
    let _ = writeln!(std::io::stderr(), "static_binary: skipped: {reason}");
}

/// `dist/torale`, or `None` after printing why the test is skipped.
fn static_binary(needs_root: bool) -> Option<PathBuf> {
    let binary = dist().join("torale");
    if !binary.is_file() {
        eprintln!(
            "skipped: {} is missing (`make static` builds it)",
            binary.display()
        );
        return None;
    }
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if needs_root && uid != Some(0) {
        skip(&format!("chroot needs root (uid {uid:?})"));
        return None;
    }
    Some(binary)
}

/// An ELF file's program header types.
fn program_headers(elf: &[u8]) -> Vec<u32> {
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u64_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&elf[at..at + 8]);
        u64::from_le_bytes(bytes) as usize
    };
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let (offset, size, count) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..count)
        .map(|i| {
            let at = offset + i * size;
            u32::from_le_bytes([elf[at], elf[at + 1], elf[at + 2], elf[at + 3]])
        })
        .collect()
}

#[test]
fn dist_binary_is_static_and_within_budget() {
    let Some(binary) = static_binary(false) else {
        return;
    };
    let elf = std::fs::read(&binary).expect("read dist/torale");
    let headers = program_headers(&elf);
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    assert!(!headers.contains(&PT_INTERP), "needs a program interpreter");
    assert!(!headers.contains(&PT_DYNAMIC), "has a dynamic section");

    let sums = std::fs::read_to_string(dist().join("SHA256SUMS")).expect("dist/SHA256SUMS");
    assert!(sums.trim_end().ends_with("  torale"), "{sums}");

    // The budget holds for the musl build, the one released; a glibc build (where the musl
    // target cannot be had) carries glibc's static parts and is larger.
    let target = std::fs::read_to_string(dist().join("TARGET")).unwrap_or_default();
    if target.trim() == "x86_64-unknown-linux-musl" {
        let size = elf.len() as u64;
        assert!(
            size <= BUDGET,
            "dist/torale is {size} bytes, over the {BUDGET}-byte budget"
        );
    }
}

/// A root directory holding only `/torale` and `/etc/hosts`, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(binary: &Path) -> Scratch {
        let root = std::env::temp_dir().join(format!("torale-scratch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::write(
            root.join("etc/hosts"),
            "127.0.0.1\tlocalhost torale-fake.test\n::1\tlocalhost ip6-localhost\n",
        )
        .expect("hosts");
        std::fs::copy(binary, root.join("torale")).expect("copy binary");
        Scratch(root)
    }

    /// `torale ARGS` inside the root with an environment holding only `env` (like a
    /// `FROM scratch` image: no HOME, no /etc/passwd).
    fn torale(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(chroot_command())
            .arg(&self.0)
            .arg("/torale")
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .expect("run chroot")
    }
}

/// The `chroot` program, looked up before the child's environment is cleared.
fn chroot_command() -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|dir| Path::new(dir).join("chroot"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("chroot"));
    found
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn runs_in_an_empty_root() {
    let Some(binary) = static_binary(true) else {
        return;
    };
    let scratch = Scratch::new(&binary);
    let fake = Fake::start(Generation::Head);
    let key = fake.key();
    let ids = fake.seed_tasks(&key, 3);
    let port = fake.port().to_string();

    let version = scratch.torale(&["--version"], &[]);
    assert!(version.status.success(), "{version:?}");
    assert_eq!(
        text(&version.stdout),
        format!("torale {}\n", env!("CARGO_PKG_VERSION"))
    );

    // `localhost` needs no lookup; a name from /etc/hosts needs no NSS modules.
    for host in ["localhost", "torale-fake.test"] {
        let url = format!("http://{host}:{port}");
        let list = scratch.torale(
            &["--api-url", &url, "task", "list"],
            &[("TORALE_API_KEY", &key)],
        );
        let stdout = text(&list.stdout);
        assert!(list.status.success(), "{host}: {list:?}");
        for id in &ids {
            assert!(
                stdout.contains(id.as_str()),
                "{host}: {id} missing from\n{stdout}"
            );
        }
        let json = scratch.torale(
            &["--api-url", &url, "task", "list", "--json"],
            &[("TORALE_API_KEY", &key)],
        );
        assert!(json.status.success(), "{host}: {json:?}");
        let tasks: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
        assert_eq!(tasks.as_array().map(Vec::len), Some(ids.len()), "{host}");
    }

    // TLS starts with the built-in roots and no CA files: a server that answers a handshake
    // with plain text fails as a network error (exit 10), not a crash.
    let plain = TcpListener::bind("127.0.0.1:0").expect("bind");
    let plain_port = plain.local_addr().expect("addr").port();
    thread::spawn(move || {
        for mut stream in plain.incoming().take(3).flatten() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let tls = scratch.torale(
        &[
            "--api-url",
            &format!("https://localhost:{plain_port}"),
            "task",
            "list",
        ],
        &[("TORALE_API_KEY", &key)],
    );
    assert_eq!(tls.status.code(), Some(10), "{tls:?}");
    assert!(text(&tls.stderr).contains("Error: "), "{tls:?}");

    // Without a home directory there is no config file: reading settings works (above),
    // saving one says what to set, and TORALE_CONFIG_DIR gives it a place.
    let set = scratch.torale(&["config", "set", "timeout", "5"], &[]);
    assert_eq!(set.status.code(), Some(3), "{set:?}");
    assert!(
        text(&set.stderr).contains("Cannot find the home directory"),
        "{set:?}"
    );
    let set = scratch.torale(
        &["config", "set", "timeout", "5"],
        &[("TORALE_CONFIG_DIR", "/config")],
    );
    assert!(set.status.success(), "{set:?}");
}
