//! Standard input and the person at the terminal: reading a file or stdin, the hidden key
//! prompt and yes/no confirmations, the terminal's width, whether stdout was closed.

use std::io::{self, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Kind, Result};

// The structures and numbers of the termios, ioctl and fcntl calls below are Linux's.
#[cfg(not(target_os = "linux"))]
compile_error!("torale's terminal calls are written for Linux");

/// The bytes of a file, or of standard input for `-`, at most `limit` of them.
pub fn read_input(path: &str, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == "-" {
        io::stdin().lock().take(limit).read_to_end(&mut buf)?;
    } else {
        std::fs::File::open(path)?.take(limit).read_to_end(&mut buf)?;
    }
    Ok(buf)
}

pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

/// The terminal's width: the window size of stdout, else `COLUMNS`, else 80.
pub fn width() -> usize {
    const TIOCGWINSZ: std::ffi::c_ulong = 0x5413;
    // Linux `struct winsize`: rows, columns and two sizes in pixels.
    let mut size = [0u16; 4];
    // SAFETY: TIOCGWINSZ writes one `struct winsize` (four u16) into the pointer we pass.
    let window = (unsafe { ioctl(1, TIOCGWINSZ, size.as_mut_ptr()) } == 0).then_some(size[1]);
    let columns = std::env::var("COLUMNS").ok().and_then(|cols| cols.parse().ok());
    window.map(usize::from).into_iter().chain(columns).find(|&cols| cols > 0).unwrap_or(80)
}

/// Ask a yes/no question on stderr and read the answer from the terminal; default no.
pub fn confirm(question: &str) -> Result<bool> {
    let mut err = io::stderr().lock();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    if io::stdin().read_line(&mut answer)? == 0 {
        let _ = writeln!(err);
        return Ok(false);
    }
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Linux `struct termios` (identical on glibc and musl for the common architectures).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Termios {
    iflag: u32,
    oflag: u32,
    cflag: u32,
    lflag: u32,
    line: u8,
    cc: [u8; 32],
    ispeed: u32,
    ospeed: u32,
}

extern "C" {
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
    fn tcgetattr(fd: i32, termios: *mut Termios) -> i32;
    fn tcsetattr(fd: i32, action: i32, termios: *const Termios) -> i32;
    fn signal(signum: i32, handler: usize) -> usize;
    fn raise(signum: i32) -> i32;
}

/// Whether the process was started with stdout closed (`torale task list >&-`). The Rust
/// runtime points a closed stdout at `/dev/null` before `main`, so it is looked at earlier:
/// from `.init_array`, which the C library runs before the runtime starts.
pub fn stdout_was_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

#[used]
#[link_section = ".init_array"]
static CHECK_STDOUT: extern "C" fn() = {
    extern "C" fn check() {
        const F_GETFD: i32 = 1;
        // SAFETY: F_GETFD only reads the descriptor's flags; -1 means it is not open.
        STDOUT_CLOSED.store(unsafe { fcntl(1, F_GETFD) } == -1, Ordering::Relaxed);
    }
    check
};

const SIGHUP: i32 = 1;
const SIGTERM: i32 = 15;
const SIG_DFL: usize = 0;

/// The settings to put back if the process is told to end during the prompt: a signal
/// handler can reach only what is static.
static SAVED: std::sync::OnceLock<Termios> = std::sync::OnceLock::new();

extern "C" fn restore_and_end(signum: i32) {
    // SAFETY: tcsetattr, signal and raise are async-signal-safe; SAVED is set before
    // the handler is installed and never changes after.
    unsafe {
        if let Some(saved) = SAVED.get() {
            tcsetattr(0, TCSANOW, saved);
        }
        signal(signum, SIG_DFL);
        raise(signum);
    }
}

const ISIG: u32 = 0o1;
const ICANON: u32 = 0o2;
const ECHO: u32 = 0o10;
const VTIME: usize = 5;
const VMIN: usize = 6;
const TCSANOW: i32 = 0;

/// Read a secret from the terminal without echoing it. Ctrl-C ends with exit 130 and the
/// terminal restored; Ctrl-D or an empty line gives an empty string.
pub fn read_hidden(prompt: &str) -> Result<String> {
    let mut err = io::stderr().lock();
    write!(err, "{prompt}")?;
    err.flush()?;
    let mut saved = Termios::default();
    // SAFETY: tcgetattr fills the struct for fd 0; we check its return code.
    if unsafe { tcgetattr(0, &mut saved) } != 0 {
        let _ = writeln!(err);
        return Err(Error::usage("Cannot read the terminal settings for a hidden prompt")
            .hint("Pipe the key instead: echo \"$KEY\" | torale auth set-api-key"));
    }
    if SAVED.set(saved).is_ok() {
        // SAFETY: installs a handler that only restores the terminal and re-raises.
        unsafe {
            signal(SIGTERM, restore_and_end as *const () as usize);
            signal(SIGHUP, restore_and_end as *const () as usize);
        }
    }
    let mut raw = saved;
    raw.lflag &= !(ECHO | ICANON | ISIG);
    raw.cc[VMIN] = 1;
    raw.cc[VTIME] = 0;
    // SAFETY: fd 0 and a valid termios struct.
    unsafe { tcsetattr(0, TCSANOW, &raw) };
    let line = read_line_raw();
    // SAFETY: fd 0 and the termios struct tcgetattr filled.
    unsafe { tcsetattr(0, TCSANOW, &saved) };
    let _ = writeln!(err);
    line
}

/// A line typed with the terminal in raw mode, without echo: Ctrl-C interrupts, Ctrl-D or
/// Enter ends it, Backspace and Ctrl-U edit it.
fn read_line_raw() -> Result<String> {
    let mut line = String::new();
    for byte in io::stdin().lock().bytes() {
        match byte? {
            0x03 => return Err(Error::new(Kind::Interrupted, "Interrupted")),
            0x04 | b'\r' | b'\n' => break,
            0x7f | 0x08 => {
                line.pop();
            }
            0x15 => line.clear(),
            b if (0x20..0x7f).contains(&b) => line.push(b as char),
            _ => {}
        }
        if line.len() > 4096 {
            break;
        }
    }
    Ok(line)
}
