//! Every way a command can fail, its message and the exit code it maps to (the one table),
//! and the text safety every message goes through: key masking and terminal-safe lines.

/// The kind of a failure; each kind has exactly one exit code (its discriminant) and one
/// JSON name (its name in snake case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Kind {
    /// The reader of stdout went away (`torale task list | head -1`): a quiet success.
    ClosedPipe = 0,
    /// A bug or an impossible state in the CLI itself.
    Internal = 1,
    /// Bad command line: unknown flag, missing or invalid argument, refused prompt.
    Usage = 2,
    /// No API key, or an unreadable, malformed or unwritable config file.
    Config = 3,
    /// The server refused the credentials (401, 403).
    Auth = 4,
    /// The object does not exist or is not the caller's (404).
    NotFound = 5,
    /// The server rejected the request as invalid (400, 409, 422 and other 4xx).
    Rejected = 6,
    /// Rate limited (429) after retries.
    RateLimited = 7,
    /// A run was still pending when `--wait` timed out.
    Pending = 8,
    /// Server error (5xx) or a malformed, oversized or unexpected response.
    Server = 9,
    /// Connection refused, DNS, TLS or timeout.
    Network = 10,
    /// The task run ended as failed or cancelled.
    RunFailed = 11,
    /// Interrupted by the user (Ctrl-C).
    Interrupted = 130,
}

impl Kind {
    /// Map an HTTP error status to the kind a script should see.
    pub fn from_status(status: u16) -> Kind {
        match status {
            401 | 403 => Kind::Auth,
            404 => Kind::NotFound,
            429 => Kind::RateLimited,
            400..=499 => Kind::Rejected,
            _ => Kind::Server,
        }
    }
}

/// The table printed by `torale help exit-codes` and kept in the README.
pub const EXIT_CODES_HELP: &str = "\
Exit codes

torale exits with one of these codes, so scripts can branch on the outcome:

   0  success (an empty list is success)
   1  unexpected internal failure
   2  usage: unknown flag, missing or invalid argument, refused prompt without --yes
   3  configuration: no API key configured, unreadable or malformed config file
   4  authentication or permission refused (HTTP 401, 403)
   5  not found (HTTP 404)
   6  request rejected by the server (HTTP 400, 409, 422; also the 50-active-task cap)
   7  rate limited (HTTP 429) after retries
   8  still pending, running or retrying when --wait timed out
   9  server error (HTTP 5xx, malformed or oversized response) after retries
  10  network: connection refused, DNS, TLS, timeout
  11  the task run failed or was cancelled (task execute --wait)
  12  changes pending (task apply --dry-run --exit-code)
 130  interrupted (Ctrl-C)

Example:
  torale task execute \"$ID\" --wait
  case $? in
    0) echo \"run succeeded\" ;;
    8) echo \"still running, check later\" ;;
    11) echo \"run failed\" ;;
    *) exit 1 ;;
  esac
";

/// A failure: what went wrong, how to fix it, and how it ends the process.
#[derive(Clone, Debug)]
pub struct Error {
    pub kind: Kind,
    /// One line, starting with a capital letter, without a final period.
    pub message: String,
    /// The HTTP status behind the failure, when there was one.
    pub status: Option<u16>,
    /// Lines that tell the user what to do next.
    pub hints: Vec<String>,
    /// The result written before the failure stands (a bulk command's items that succeeded).
    pub keeps_output: bool,
}

impl Error {
    /// The message (and each hint) is made one terminal-safe line here, whatever user or
    /// server text it quotes: line breaks, control characters and escape sequences are shown
    /// as visible escapes.
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        let message = one_line(message.into());
        Error { kind, message, status: None, hints: Vec::new(), keeps_output: false }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(Kind::Usage, message)
    }

    pub fn config(message: impl Into<String>) -> Error {
        Error::new(Kind::Config, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(Kind::Internal, message)
    }

    pub fn with_status(mut self, status: u16) -> Error {
        self.status = Some(status);
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hints.push(one_line(hint.into()));
        self
    }

    pub fn keep_output(mut self) -> Error {
        self.keeps_output = true;
        self
    }

    /// The error for a command that needs a key when none is configured.
    pub fn no_api_key() -> Error {
        Error::config("No API key configured")
            .hint("Run 'torale auth set-api-key', or set TORALE_API_KEY, or pass --api-key-file")
    }

    /// The process exit code (README: "Exit codes").
    pub fn exit_code(&self) -> u8 {
        self.kind as u8
    }

    /// Point a usage error at the help of the command it is about (`""` for the top level).
    pub fn see_help(self, command: &str) -> Error {
        let command = if command.is_empty() { String::new() } else { format!("{command} ") };
        self.hint(format!("See 'torale {command}--help'"))
    }
}

/// `sk_...` and the last five characters: the only form of a key that is ever printed.
pub fn mask_key(key: &str) -> String {
    let tail = match key.chars().count() {
        0..12 => "",
        _ => key.char_indices().nth_back(4).map_or("", |(at, _)| &key[at..]),
    };
    format!("sk_...{tail}")
}

/// Make text safe for a terminal: control characters, escape sequences and bidirectional
/// overrides are shown as visible escapes instead of acting on the terminal.
pub fn sanitize(text: &str) -> String {
    // Only ASCII controls and characters whose UTF-8 starts C2 (C1 controls) or E2 (the
    // formatting characters below) change; most text has none.
    if !text.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2 || b == 0xe2) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(' '),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            // Zero-width and bidirectional formatting characters.
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// The reason part of an I/O error, without Rust's "(os error N)" noise.
pub fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    text.split(" (os error").next().unwrap_or_default().to_string()
}

/// `is not valid JSON (line L, column C): REASON`, to follow a file's name; the reason without
/// serde_json's own " at line L column C".
pub fn invalid_json(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let reason = text.split(" at line ").next().unwrap_or(&text);
    format!("is not valid JSON (line {}, column {}): {reason}", err.line(), err.column())
}

/// `text` as one terminal-safe line (a no-op on text that already is one), with anything
/// shaped like an API key masked: a key typed where an ID or URL belongs must not reach a
/// CI log through the message that quotes it back.
pub fn one_line(text: String) -> String {
    sanitize(&mask_key_shapes(&text))
}

/// Replace every word (a run of key characters) holding `sk_` and 20 or more key characters
/// with its masked form. The key may start mid-word: after a typo, or after a control that
/// `sanitize` wrote as `\x1b`.
pub fn mask_key_shapes(text: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mask = |piece: &str| {
        let word = piece.trim_end_matches(|c: char| !is_key_char(c));
        match word.find("sk_").filter(|&at| word.len() - at >= 23) {
            Some(at) => format!("{}{}{}", &word[..at], mask_key(&word[at..]), &piece[word.len()..]),
            None => piece.to_string(),
        }
    };
    text.split_inclusive(|c: char| !is_key_char(c)).map(mask).collect()
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            return Error::new(Kind::ClosedPipe, "closed pipe");
        }
        Error::internal(format!("I/O error: {}", io_reason(&err)))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
