//! Everything torale prints: tables, key/value blocks, JSON, colour, and safe server text.

use std::io::{self, IsTerminal, Write};

use serde_json::value::RawValue;
use serde_json::Value;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::error::{Error, Kind, Result};

/// `--color auto|always|never`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// How results are written to stdout and messages to stderr for one invocation.
#[derive(Clone, Debug)]
pub struct Output {
    /// Results as the API's JSON (`--json`, `--field`, `--format`).
    pub json: bool,
    /// Errors as one JSON object on stderr (`--json` only).
    pub json_errors: bool,
    /// `--field`/`--format`: print chosen fields of the JSON result, one line per item.
    pub selection: Option<Selection>,
    /// Pretty JSON and fitted tables: stdout is a terminal.
    pub stdout_tty: bool,
    pub stdout_color: bool,
    pub stderr_color: bool,
    /// Terminal width when stdout is a terminal; tables are fitted into it.
    pub width: Option<usize>,
}

impl Output {
    pub fn detect(json: bool, choice: ColorChoice, selection: Option<Selection>) -> Output {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        let env_allows = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let color = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && env_allows,
        };
        Output {
            json: json || selection.is_some(),
            json_errors: json,
            selection,
            stdout_tty,
            stdout_color: color(stdout_tty),
            stderr_color: color(stderr_tty),
            width: if stdout_tty { terminal_width() } else { None },
        }
    }

    /// Print an error on stderr: `Error: …` and its hints, or one JSON object with `--json`.
    pub fn report(&self, err: &crate::error::Error) {
        let mut stderr = io::stderr().lock();
        if self.json_errors {
            let value = serde_json::json!({"error": {
                "kind": err.kind.name(),
                "message": err.message,
                "status": err.status,
                "exit_code": err.exit_code(),
                "hints": err.hints,
            }});
            let _ = writeln!(stderr, "{value}");
            return;
        }
        let _ = writeln!(stderr, "{} {}", self.paint_err(Color::Red, "Error:"), err.message);
        for hint in &err.hints {
            let _ = writeln!(stderr, "{} {hint}", self.paint_err(Color::Dim, "Hint:"));
        }
    }

    /// Paint `text` for stdout when colour is on.
    pub fn paint(&self, color: Color, text: &str) -> String {
        paint(self.stdout_color, color, text)
    }

    /// Paint `text` for stderr when colour is on.
    pub fn paint_err(&self, color: Color, text: &str) -> String {
        paint(self.stderr_color, color, text)
    }

    /// Write a JSON value made by torale: pretty on a terminal, one line when piped.
    pub fn json_value(&self, out: &mut dyn Write, value: &Value) -> Result<()> {
        self.json_text(out, &value.to_string())
    }

    /// Write a server's JSON document (checked and masked by the client): re-spaced pretty
    /// on a terminal; piped, the server's bytes as they came, on one line when they were.
    pub fn json_text(&self, out: &mut dyn Write, text: &str) -> Result<()> {
        if let Some(selection) = &self.selection {
            return selection.write(out, text);
        }
        let text = text.trim();
        if self.stdout_tty {
            write_json(out, text, true, 0)?;
        } else {
            write_terminal_safe(out, text)?;
        }
        out.write_all(b"\n")?;
        Ok(())
    }

    /// Write JSON documents as one array, without first joining them in memory.
    pub fn json_array<'a>(
        &self,
        out: &mut dyn Write,
        items: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        if let Some(selection) = &self.selection {
            return selection.write_items(out, items);
        }
        let pretty = self.stdout_tty;
        let mut empty = true;
        out.write_all(b"[")?;
        for item in items {
            if !empty {
                out.write_all(b",")?;
            }
            if pretty {
                out.write_all(b"\n  ")?;
                write_json(out, item, pretty, 1)?;
            } else {
                write_terminal_safe(out, item)?;
            }
            empty = false;
        }
        if pretty && !empty {
            out.write_all(b"\n")?;
        }
        out.write_all(b"]\n")?;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Green,
    Red,
    Yellow,
    Dim,
    Bold,
}

fn paint(on: bool, color: Color, text: &str) -> String {
    if !on {
        return text.to_string();
    }
    let code = match color {
        Color::Green => "32",
        Color::Red => "31",
        Color::Yellow => "33",
        Color::Dim => "2",
        Color::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `--field NAME` (repeatable) or `--format TEMPLATE`: chosen fields of a JSON result, one
/// line per item of a list (or one line for an object), for images without `jq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Values of these fields, tab-separated.
    Fields(Vec<String>),
    /// A template such as `{id}\t{name}`: `{path}` is replaced by the value at `path`.
    Format(Vec<Piece>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Field(String),
}

impl Selection {
    /// Parse a `--format` template: `{a.b}` fields, `{{`/`}}` braces, `\t` `\n` `\\` escapes.
    pub fn parse_format(template: &str) -> Result<Selection, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('t') => text.push('\t'),
                    Some('n') => text.push('\n'),
                    Some('\\') => text.push('\\'),
                    Some(other) => {
                        text.push('\\');
                        text.push(other);
                    }
                    None => text.push('\\'),
                },
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed '{{' in '{template}'")),
                        }
                    }
                    if name.trim().is_empty() {
                        return Err("empty field name '{}'".into());
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Field(name.trim().to_string()));
                }
                '}' => return Err(format!("unmatched '}}' in '{template}' (write '}}}}')")),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Selection::Format(pieces))
    }

    /// The field names the selection reads.
    fn names(&self) -> Vec<&str> {
        match self {
            Selection::Fields(fields) => fields.iter().map(String::as_str).collect(),
            Selection::Format(pieces) => pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Field(f) => Some(f.as_str()),
                    Piece::Text(_) => None,
                })
                .collect(),
        }
    }

    /// One item's line, with `found` marking the fields (in [`Selection::names`] order) it has.
    fn line(&self, item: &Value, found: &mut [bool], line: &mut String) {
        let mut field = 0;
        let mut value = |name: &str| {
            let (value, known) = lookup(item, name);
            found[field] |= known;
            field += 1;
            field_text(value)
        };
        match self {
            Selection::Fields(fields) => {
                for (i, name) in fields.iter().enumerate() {
                    if i > 0 {
                        line.push('\t');
                    }
                    line.push_str(&value(name));
                }
            }
            Selection::Format(pieces) => {
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => line.push_str(text),
                        Piece::Field(name) => line.push_str(&value(name)),
                    }
                }
            }
        }
        line.push('\n');
    }

    /// Write the selected fields of a JSON document: one line per item of a list, one line
    /// for any other document.
    pub fn write(&self, out: &mut dyn Write, text: &str) -> Result<()> {
        if !text.trim_start().starts_with('[') {
            return self.write_items(out, [text]);
        }
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|err| malformed(&err))?;
        self.write_items(out, items.iter().map(|item| item.get()))
    }

    /// Write the selected fields of each JSON document, one line each. Items are decoded one
    /// at a time, so a large list is never held as one tree of values; the lines are written
    /// only once every item has been read, so a failure leaves stdout empty. A field that no
    /// item has is a usage error that lists the fields the items do have.
    pub fn write_items<'a>(
        &self,
        out: &mut dyn Write,
        items: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        let names = self.names();
        let mut found = vec![false; names.len()];
        let items: Vec<&str> = items.into_iter().collect();
        let mut lines = String::new();
        for item in &items {
            let value: Value = serde_json::from_str(item).map_err(|err| malformed(&err))?;
            self.line(&value, &mut found, &mut lines);
        }
        if !items.is_empty() {
            if let Some(at) = found.iter().position(|found| !found) {
                return Err(unknown_field(names[at], &items));
            }
        }
        out.write_all(lines.as_bytes())?;
        Ok(())
    }
}

fn malformed(err: &serde_json::Error) -> Error {
    Error::new(Kind::Server, format!("Malformed response from the server: {err}"))
}

/// `Unknown field 'name'`, with the top-level fields of (the first hundred) items, sorted.
fn unknown_field(name: &str, items: &[&str]) -> Error {
    let mut fields: Vec<String> = Vec::new();
    for item in items.iter().take(100) {
        if let Ok(object) = serde_json::from_str::<serde_json::Map<String, Value>>(item) {
            for key in object.keys() {
                if !fields.contains(key) {
                    fields.push(key.clone());
                }
            }
        }
    }
    let error = Error::usage(format!("Unknown field '{}'", sanitize(name)));
    if fields.is_empty() {
        return error.hint("The result has no fields to select");
    }
    let fields: Vec<String> = fields.iter().map(|f| sanitize(f)).collect();
    error.hint(format!(
        "The result has these fields: {} (a.b selects inside objects, a.0 inside lists)",
        fields.join(", ")
    ))
}

/// The value at a dotted path (`last_execution.status`, `notifications.0.type`), and
/// whether the item knows the path: a null or a list too short on the way is a blank value
/// of a known field; a name an object lacks, or a step into text or a number, is unknown.
fn lookup<'a>(value: &'a Value, path: &str) -> (Option<&'a Value>, bool) {
    let mut value = value;
    for key in path.split('.') {
        value = match value {
            Value::Object(map) => match map.get(key) {
                Some(next) => next,
                None => return (None, false),
            },
            Value::Array(items) => match key.parse::<usize>() {
                Ok(i) => match items.get(i) {
                    Some(next) => next,
                    None => return (None, true),
                },
                Err(_) => return (None, false),
            },
            Value::Null => return (None, true),
            _ => return (None, false),
        };
    }
    (Some(value), true)
}

/// A field as text on one line: numbers and booleans as JSON, null or missing as empty,
/// objects and arrays as compact JSON; strings and JSON text both with control characters,
/// escape sequences and bidirectional overrides made visible.
fn field_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => sanitize(s),
        Some(other) => sanitize(&other.to_string()),
    }
}

/// Write valid JSON text re-spaced, without touching its content or order: compact, or
/// indented by two spaces like serde_json's pretty printer, starting at `indent` levels. C1
/// controls and bidirectional overrides inside strings are written as `\u` escapes, which
/// keeps the value and the terminal safe. Runs of unchanged bytes are written in one piece,
/// so compact input passes through at memory speed.
pub fn write_json(out: &mut dyn Write, text: &str, pretty: bool, indent: usize) -> io::Result<()> {
    let b = text.as_bytes();
    let mut indent = indent;
    let mut start = 0;
    let mut i = 0;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut dyn Write, indent: usize| -> io::Result<()> {
        out.write_all(b"\n")?;
        for _ in 0..indent {
            out.write_all(b"  ")?;
        }
        Ok(())
    };
    while i < b.len() {
        let c = b[i];
        if in_string {
            let special = if matches!(c, 0xC2 | 0xE2) { terminal_control(b, i) } else { None };
            if let Some((len, code)) = special.filter(|_| !escaped) {
                out.write_all(&b[start..i])?;
                write!(out, "\\u{code:04x}")?;
                i += len;
                start = i;
                continue;
            }
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => in_string = true,
            b' ' | b'\n' | b'\r' | b'\t' => {
                out.write_all(&b[start..i])?;
                start = i + 1;
            }
            b'{' | b'[' => {
                out.write_all(&b[start..=i])?;
                let close = if c == b'{' { b'}' } else { b']' };
                let mut next = i + 1;
                while b.get(next).is_some_and(u8::is_ascii_whitespace) {
                    next += 1;
                }
                if b.get(next) == Some(&close) {
                    out.write_all(&[close])?;
                    i = next;
                } else if pretty {
                    indent += 1;
                    newline(out, indent)?;
                }
                start = i + 1;
            }
            b'}' | b']' if pretty => {
                out.write_all(&b[start..i])?;
                indent = indent.saturating_sub(1);
                newline(out, indent)?;
                start = i;
            }
            b',' if pretty => {
                out.write_all(&b[start..=i])?;
                newline(out, indent)?;
                start = i + 1;
            }
            b':' if pretty => {
                out.write_all(&b[start..=i])?;
                out.write_all(b" ")?;
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.write_all(&b[start..])
}

/// Write valid JSON text as it is, except that C1 controls and bidirectional overrides are
/// written as `\u` escapes (the same JSON value, harmless on a terminal). In valid JSON any
/// non-ASCII byte is inside a string, so only their lead bytes are searched for, at memchr
/// speed, and the rest is written in runs.
fn write_terminal_safe(out: &mut dyn Write, text: &str) -> io::Result<()> {
    let b = text.as_bytes();
    let mut start = 0;
    for at in memchr::memchr2_iter(0xC2, 0xE2, b) {
        if let Some((len, code)) = terminal_control(b, at) {
            out.write_all(&b[start..at])?;
            write!(out, "\\u{code:04x}")?;
            start = at + len;
        }
    }
    out.write_all(&b[start..])
}

/// The length and code point of a UTF-8 sequence at `at` that acts on a terminal: a C1
/// control (C2 80..9F) or a bidirectional override U+202A..U+202E (E2 80 AA..AE) or
/// U+2066..U+2069 (E2 81 A6..A9).
fn terminal_control(b: &[u8], at: usize) -> Option<(usize, u32)> {
    match (b[at], b.get(at + 1), b.get(at + 2)) {
        (0xC2, Some(&n), _) if (0x80..=0x9F).contains(&n) => Some((2, u32::from(n))),
        (0xE2, Some(0x80), Some(&n)) if (0xAA..=0xAE).contains(&n) => {
            Some((3, 0x2000 + u32::from(n - 0x80)))
        }
        (0xE2, Some(0x81), Some(&n)) if (0xA6..=0xA9).contains(&n) => {
            Some((3, 0x2040 + u32::from(n - 0x80)))
        }
        _ => None,
    }
}

/// [`write_json`] into a string, for callers that want the text itself.
pub fn reformat_json(text: &str, pretty: bool, out: &mut String) {
    let mut buf = Vec::with_capacity(text.len());
    // Writing into a Vec cannot fail.
    let _ = write_json(&mut buf, text, pretty, 0);
    out.push_str(&String::from_utf8_lossy(&buf));
}

/// Write one line to stderr; a closed stderr is not worth failing for.
pub fn stderr_line(line: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.write_all(b"\n");
}

/// `text` cut to at most `max` characters, ending in `…` when it was cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

pub use crate::error::sanitize;

/// Columns of text, aligned; on a terminal the widest flexible column is shortened to fit.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// The column that may be shortened with `…` to fit the terminal.
    flexible: Option<usize>,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Table {
        Table { headers, rows: Vec::new(), flexible: None }
    }

    pub fn flexible(mut self, column: usize) -> Table {
        self.flexible = Some(column);
        self
    }

    /// Add a row; cells are sanitized here, so callers pass server text as it came.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| sanitize(c)).collect());
    }

    pub fn write(&self, out: &mut dyn Write, output: &Output) -> io::Result<()> {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| display_width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(display_width(cell));
            }
        }
        if let (Some(total), Some(flex)) = (output.width, self.flexible) {
            let used: usize = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
            if used > total {
                let others = used - widths[flex];
                widths[flex] = total.saturating_sub(others).max(12).min(widths[flex]);
            }
        }
        let mut line = String::new();
        let mut emit = |cells: &[String], header: bool, out: &mut dyn Write| -> io::Result<()> {
            line.clear();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                let cell = fit(cell, widths[i]);
                let last = i + 1 == columns;
                let pad = widths[i].saturating_sub(display_width(&cell));
                let text = if header { output.paint(Color::Bold, &cell) } else { cell };
                line.push_str(&text);
                if !last {
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            let trimmed = line.trim_end();
            out.write_all(trimmed.as_bytes())?;
            out.write_all(b"\n")
        };
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        emit(&headers, true, out)?;
        for row in &self.rows {
            emit(row, false, out)?;
        }
        Ok(())
    }
}

/// `cell` cut to `width` terminal columns, ending in `…` when it was cut.
fn fit(cell: &str, width: usize) -> String {
    if display_width(cell) <= width {
        return cell.to_string();
    }
    let room = width.saturating_sub(1);
    let mut short = String::new();
    let mut used = 0;
    for c in cell.chars() {
        let w = char_width(c);
        if used + w > room {
            break;
        }
        short.push(c);
        used += w;
    }
    short.push('…');
    short
}

/// The columns `text` takes in a terminal (Unicode's East Asian Width and emoji
/// presentation, as terminals draw them outside CJK locales).
pub fn display_width(text: &str) -> usize {
    if text.is_ascii() {
        return text.len();
    }
    UnicodeWidthStr::width(text)
}

/// Columns one character takes: 0 for combining marks and other zero-width characters.
fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

/// An aligned `key  value` block; values are sanitized.
pub fn write_pairs(out: &mut dyn Write, pairs: &[(&str, String)]) -> io::Result<()> {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    for (key, value) in pairs {
        writeln!(out, "{key:<width$}  {}", sanitize(value))?;
    }
    Ok(())
}

/// `2026-04-21T08:15:02.418733Z` → `2026-04-21 08:15`; other text unchanged; `-` for none.
pub fn short_time(value: Option<&str>) -> String {
    match value {
        None => "-".into(),
        Some(t) => match (t.get(..10), t.get(10..11), t.get(11..16)) {
            (Some(date), Some("T"), Some(time)) => format!("{date} {time}"),
            _ => t.to_string(),
        },
    }
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp (any offset, optional fraction).
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = format!("0.{}", &frac[..digits]).parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') => {
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(secs as f64 + fraction)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `42s`, `3m 05s`, `1h 02m` between two timestamps; `-` when either is missing.
pub fn duration_between(start: Option<&str>, end: Option<&str>) -> String {
    let (Some(start), Some(end)) = (start.and_then(parse_rfc3339), end.and_then(parse_rfc3339))
    else {
        return "-".into();
    };
    let secs = (end - start).max(0.0).round() as u64;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// The host of each URL, without `www.`, de-duplicated, comma-separated.
pub fn source_domains(urls: &[&str]) -> String {
    let mut hosts: Vec<String> = Vec::new();
    for url in urls {
        let rest = url.split_once("://").map_or(*url, |(_, r)| r);
        let host = rest.split(['/', '?', '#', ':']).next().unwrap_or("");
        let host = host.strip_prefix("www.").unwrap_or(host).to_ascii_lowercase();
        if !host.is_empty() && !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts.join(", ")
}

#[cfg(target_os = "linux")]
fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(cols);
    }
    #[repr(C)]
    struct WinSize {
        rows: u16,
        cols: u16,
        x: u16,
        y: u16,
    }
    extern "C" {
        fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
    }
    const TIOCGWINSZ: std::ffi::c_ulong = 0x5413;
    let mut size = WinSize { rows: 0, cols: 0, x: 0, y: 0 };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` (four u16) into the pointer we pass.
    let rc = unsafe { ioctl(1, TIOCGWINSZ, &mut size as *mut WinSize) };
    (rc == 0 && size.cols > 0).then_some(size.cols as usize)
}

#[cfg(not(target_os = "linux"))]
fn terminal_width() -> Option<usize> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_neutralises_escapes() {
        assert_eq!(sanitize("a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(sanitize("x\u{9b}y\u{202e}z"), "x\\x9by\\u{202e}z");
        assert_eq!(sanitize("line\nnext\tend"), "line\\nnext end");
        assert_eq!(sanitize("ünïcödé ✓"), "ünïcödé ✓");
    }

    #[test]
    fn selections() {
        let doc = r#"[{"id":"a","name":"x\ty","n":1,"last":{"s":"ok"},"tags":["p"]},{"id":"b","name":null}]"#;
        let mut out = Vec::new();
        let fields = Selection::Fields(vec!["id".into(), "name".into(), "last.s".into()]);
        fields.write(&mut out, doc).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a\tx y\tok\nb\t\t\n");
        let mut out = Vec::new();
        let format = Selection::parse_format("{id}={n} {tags.0} {{x}}\\t.").unwrap();
        format.write(&mut out, r#"{"id":"a","n":1,"tags":["p"]}"#).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a=1 p {x}\t.\n");
        assert!(Selection::parse_format("{id").is_err());
        assert!(Selection::parse_format("id}").is_err());
        assert!(Selection::parse_format("{}").is_err());
    }

    #[test]
    fn selections_name_unknown_fields_and_stay_safe() {
        let doc = r#"[{"id":"a","extra":1},{"id":"b","meta":{"x":"\u202e\u009b"}}]"#;
        let run = |selection: Selection, doc: &str| {
            let mut out = Vec::new();
            selection.write(&mut out, doc).map(|()| String::from_utf8(out).unwrap())
        };
        // Present in one item, absent in the other: blank there.
        let fields = Selection::Fields(vec!["id".into(), "extra".into()]);
        assert_eq!(run(fields, doc).unwrap(), "a\t1\nb\t\n");
        // Objects and arrays are JSON with the same escapes as strings.
        let meta = Selection::Fields(vec!["meta".into()]);
        assert_eq!(run(meta, doc).unwrap(), "\n{\"x\":\"\\u{202e}\\x9b\"}\n");
        for selection in [
            Selection::Fields(vec!["id".into(), "nope".into()]),
            Selection::parse_format("{id} {nope}").unwrap(),
        ] {
            let err = run(selection, doc).unwrap_err();
            assert_eq!((err.exit_code(), err.message.as_str()), (2, "Unknown field 'nope'"));
            assert!(err.hints[0].contains("extra, id, meta"), "{:?}", err.hints);
        }
        // A null or a short list on the way is a blank value, not an unknown field.
        let paths = Selection::parse_format("{id}:{last.status}:{tags.0}").unwrap();
        let doc = r#"[{"id":"a","last":null,"tags":[]},{"id":"b"}]"#;
        assert_eq!(run(paths, doc).unwrap(), "a::\nb::\n");
        let wrong = Selection::Fields(vec!["id.x".into()]);
        assert_eq!(run(wrong, doc).unwrap_err().exit_code(), 2);
        // An empty list has no fields to miss.
        assert_eq!(run(Selection::Fields(vec!["nope".into()]), "[]").unwrap(), "");
        // Too deep for a value tree, or a number out of range: a malformed response.
        let deep = format!("[{}1{}]", "[".repeat(200), "]".repeat(200));
        for doc in [deep.as_str(), r#"[{"id":1e400}]"#, r#"{"id":1e400}"#] {
            let err = run(Selection::Fields(vec!["id".into()]), doc).unwrap_err();
            assert_eq!(err.exit_code(), 9, "{}", err.message);
        }
    }

    #[test]
    fn piped_json_is_the_servers_text() {
        let mut output = Output {
            json: true,
            json_errors: true,
            selection: None,
            stdout_tty: false,
            stdout_color: false,
            stderr_color: false,
            width: None,
        };
        let text = "{ \"b\" : [1, 2], \"a\": \"\u{202e}\u{9b}\u{2014}\" }\n";
        let mut buf = Vec::new();
        output.json_text(&mut buf, text).unwrap();
        // As sent, but for the controls that act on a terminal: the same JSON value.
        let piped = String::from_utf8(buf).unwrap();
        assert_eq!(piped, "{ \"b\" : [1, 2], \"a\": \"\\u202e\\u009b\u{2014}\" }\n");
        let value: Value = serde_json::from_str(&piped).unwrap();
        assert_eq!(value["a"], "\u{202e}\u{9b}\u{2014}");
        output.stdout_tty = true;
        let mut buf = Vec::new();
        output.json_text(&mut buf, text).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": \"\\u202e\\u009b\u{2014}\"\n}\n"
        );
    }

    #[test]
    fn json_is_respaced_not_reordered() {
        let text = "{ \"b\" : [1, {\"x\": \"a, b: {c}\\\" ]\"}], \"a\": {}, \"e\": [ ] }";
        let render = |text: &str, pretty: bool| {
            let mut buf = Vec::new();
            write_json(&mut buf, text, pretty, 0).unwrap();
            String::from_utf8(buf).unwrap()
        };
        let compact = render(text, false);
        assert_eq!(compact, r#"{"b":[1,{"x":"a, b: {c}\" ]"}],"a":{},"e":[]}"#);
        let value: Value = serde_json::from_str(text).unwrap();
        let pretty = render(&value.to_string(), true);
        assert_eq!(pretty, serde_json::to_string_pretty(&value).unwrap());
        // Already pretty input comes out the same; compact input of pretty text too.
        assert_eq!(render(&pretty, true), pretty);
        assert_eq!(render(&pretty, false), value.to_string());
        let safe = render("[\"\u{9b}31m\u{202e}\\\"\u{2066}\"]", false);
        assert_eq!(safe, r#"["\u009b31m\u202e\"\u2066"]"#);
        assert_eq!(serde_json::from_str::<Value>(&safe).unwrap()[0], "\u{9b}31m\u{202e}\"\u{2066}");
    }

    #[test]
    fn arrays_stream_like_serde_pretty_and_compact() {
        let items = [r#"{"a":[1,2],"b":{}}"#, r#"{"c":"x"}"#];
        let value: Value = serde_json::from_str(&format!("[{}]", items.join(","))).unwrap();
        let mut output = Output {
            json: true,
            json_errors: false,
            selection: None,
            stdout_tty: true,
            stdout_color: false,
            stderr_color: false,
            width: None,
        };
        let mut buf = Vec::new();
        output.json_array(&mut buf, items).unwrap();
        let expected = serde_json::to_string_pretty(&value).unwrap() + "\n";
        assert_eq!(String::from_utf8(buf).unwrap(), expected);
        output.stdout_tty = false;
        let mut buf = Vec::new();
        output.json_array(&mut buf, items).unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), format!("{value}\n"));
        let mut buf = Vec::new();
        output.json_array(&mut buf, []).unwrap();
        assert_eq!(buf, b"[]\n");
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("2026-04-21T08:15:02.5Z").map(|s| s.fract()), Some(0.5));
        assert_eq!(
            parse_rfc3339("2026-04-21T10:15:02+02:00"),
            parse_rfc3339("2026-04-21T08:15:02Z")
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(
            duration_between(
                Some("2026-04-21T08:16:02.530871Z"),
                Some("2026-04-21T08:16:41.077204Z")
            ),
            "39s"
        );
        assert_eq!(short_time(Some("2026-04-21T08:15:02.418733Z")), "2026-04-21 08:15");
    }

    #[test]
    fn domains() {
        assert_eq!(
            source_domains(&[
                "https://www.apple.com/newsroom/",
                "https://apple.com/x",
                "http://b.org:80"
            ]),
            "apple.com, b.org"
        );
    }

    #[test]
    fn wide_characters_keep_columns_aligned() {
        assert_eq!(display_width("日本語🎉 ok"), 11);
        assert_eq!(display_width("e\u{301}"), 1);
        // Where the former hand-written table was wrong: Thai and Devanagari marks, an emoji
        // with its presentation selector, Hangul written as jamo, a kana voicing mark.
        assert_eq!(display_width("\u{e01}\u{e31}"), 1);
        assert_eq!(display_width("\u{915}\u{94d}"), 1);
        assert_eq!(display_width("\u{2764}\u{fe0f}"), 2);
        assert_eq!(display_width("\u{1100}\u{1161}"), 2);
        assert_eq!(display_width("\u{304b}\u{3099}"), 2);
        let mut table = Table::new(vec!["NAME", "STATE"]);
        table.row(vec!["日本語のクエリ🎉".into(), "active".into()]);
        table.row(vec!["plain".into(), "paused".into()]);
        let output = Output {
            json: false,
            json_errors: false,
            selection: None,
            stdout_tty: false,
            stdout_color: false,
            stderr_color: false,
            width: None,
        };
        let mut buf = Vec::new();
        table.write(&mut buf, &output).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let columns: Vec<usize> =
            text.lines().map(|line| display_width(&line[..line.rfind(' ').unwrap() + 1])).collect();
        assert_eq!(columns, vec![18, 18, 18], "{text}");
        assert_eq!(fit("日本語です", 6), "日本…");
    }

    #[test]
    fn table_fits_terminal_but_not_pipe() {
        let mut table = Table::new(vec!["ID", "NAME"]).flexible(1);
        table.row(vec!["1234".into(), "a very long name that goes on".into()]);
        let mut output = Output {
            json: false,
            json_errors: false,
            selection: None,
            stdout_tty: true,
            stdout_color: false,
            stderr_color: false,
            width: Some(20),
        };
        let mut buf = Vec::new();
        table.write(&mut buf, &output).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().nth(1), Some("1234  a very long n…"), "{text}");
        output.width = None;
        let mut buf = Vec::new();
        table.write(&mut buf, &output).unwrap();
        assert!(String::from_utf8(buf).unwrap().contains("goes on"));
    }
}
