//! The static release binary (`dist/torale`, built by `make static`) in an image that holds
//! nothing else: an empty root with only the binary and `etc/hosts`, entered with `chroot`,
//! against the fake Torale API on loopback (the chroot shares this process's network). Both
//! tests need `dist/torale`, the second also root: they are ignored by default, `.ci/run` builds
//! the binary and runs them, and they fail when what they need is missing.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{text, World};

const BUDGET: u64 = 2 * 1024 * 1024;

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist")
}

fn static_binary() -> PathBuf {
    let binary = dist().join("torale");
    assert!(binary.is_file(), "{} is missing: `make static` builds it", binary.display());
    binary
}

/// An ELF file's program header types.
pub fn program_headers(elf: &[u8]) -> Vec<u32> {
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let (offset, size, count) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..count)
        .map(|i| u32::from_le_bytes(elf[offset + i * size..][..4].try_into().unwrap()))
        .collect()
}

#[test]
#[ignore = "needs dist/torale (`make static`; .ci/run builds it and runs the ignored tests)"]
fn dist_binary_is_static_and_within_budget() {
    let elf = std::fs::read(static_binary()).unwrap();
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
        assert!(size <= BUDGET, "dist/torale is {size} bytes, over the {BUDGET}-byte budget");
    }
}

/// `/torale ARGS` inside `root` with an environment holding only `env` (like a `FROM scratch`
/// image: no HOME, no /etc/passwd).
fn in_root(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let path = std::env::var("PATH").unwrap_or_default();
    let chroot = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join("chroot"))
        .find(|candidate| candidate.is_file())
        .expect("the chroot program");
    Command::new(chroot)
        .arg(root)
        .arg("/torale")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run chroot")
}

#[test]
#[ignore = "needs dist/torale and root for chroot (.ci/run runs the ignored tests)"]
fn runs_in_an_empty_root() {
    let binary = static_binary();
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    assert_eq!(uid, Some(0), "chroot needs root");
    let w = World::new();
    let root = w.root.join("image");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let hosts = "127.0.0.1\tlocalhost torale-fake.test\n::1\tlocalhost ip6-localhost\n";
    std::fs::write(root.join("etc/hosts"), hosts).unwrap();
    std::fs::copy(&binary, root.join("torale")).unwrap();
    let key = w.fake.key();
    let ids = w.fake.seed_tasks(&key, 3);
    let with_key = |args: &[&str]| in_root(&root, args, &[("TORALE_API_KEY", &key)]);

    let version = in_root(&root, &["--version"], &[]);
    assert!(version.status.success(), "{version:?}");
    assert_eq!(text(&version.stdout), format!("torale {}\n", env!("CARGO_PKG_VERSION")));

    // `localhost` needs no lookup; a name from /etc/hosts needs no NSS modules.
    for host in ["localhost", "torale-fake.test"] {
        let url = format!("http://{host}:{}", w.fake.port());
        let list = with_key(&["--api-url", &url, "task", "list"]);
        assert!(list.status.success(), "{host}: {list:?}");
        for id in &ids {
            assert!(text(&list.stdout).contains(id.as_str()), "{host}: {id} missing: {list:?}");
        }
        let json = with_key(&["--api-url", &url, "task", "list", "--json"]);
        let tasks: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
        assert_eq!(tasks.as_array().map(Vec::len), Some(ids.len()), "{host}");
    }

    // TLS starts with the built-in roots and no CA files: a server that answers a handshake
    // with plain text fails as a network error (exit 10), not a crash.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://localhost:{}", plain.local_addr().unwrap().port());
    std::thread::spawn(move || {
        for mut stream in plain.incoming().take(3).flatten() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let tls = with_key(&["--api-url", &url, "task", "list"]);
    assert_eq!(tls.status.code(), Some(10), "{tls:?}");
    assert!(text(&tls.stderr).contains("Error: "), "{tls:?}");

    // Without a home directory there is no config file: reading settings works (above),
    // saving one says what to set, and TORALE_CONFIG_DIR gives it a place.
    let set = in_root(&root, &["config", "set", "timeout", "5"], &[]);
    assert_eq!(set.status.code(), Some(3), "{set:?}");
    assert!(text(&set.stderr).contains("Cannot find the home directory"), "{set:?}");
    let set =
        in_root(&root, &["config", "set", "timeout", "5"], &[("TORALE_CONFIG_DIR", "/config")]);
    assert!(set.status.success(), "{set:?}");
}
