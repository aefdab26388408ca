//! Everything torale prints: tables, key/value blocks, JSON, colour, and safe server text.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::time::UNIX_EPOCH;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
// The columns a string or character takes in a terminal (Unicode's East Asian Width and emoji
// presentation, as terminals draw them outside CJK locales).
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::error::{Error, Kind, Result};
use crate::model::Json;

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
        let (json_errors, json) = (json, json || selection.is_some());
        let (stdout_color, stderr_color) = (color(stdout_tty), color(stderr_tty));
        Output { json, json_errors, selection, stdout_tty, stdout_color, stderr_color }
    }

    /// Print an error on stderr: `Error: …` and its hints, or one JSON object with `--json`.
    pub fn report(&self, err: &crate::error::Error) {
        let mut stderr = io::stderr().lock();
        if self.json_errors {
            let value = serde_json::json!({"error": {
                "kind": err.kind,
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

    pub fn paint(&self, color: Color, text: &str) -> String {
        paint(self.stdout_color, color, text)
    }

    pub fn paint_err(&self, color: Color, text: &str) -> String {
        paint(self.stderr_color, color, text)
    }

    /// Write a JSON value made by torale: pretty on a terminal, one line when piped.
    pub fn json_value(&self, out: &mut dyn Write, value: &Value) -> Result<()> {
        self.json_text(out, &value.to_string())
    }

    /// Write a server's JSON document (checked and masked by the client): re-spaced pretty
    /// on a terminal; piped, the server's bytes as they came, on one line when they were.
    /// With `--field`/`--format`, its selected fields.
    pub fn json_text(&self, out: &mut dyn Write, text: &str) -> Result<()> {
        if let Some(selection) = &self.selection {
            return selection.write(out, text);
        }
        let shown: Cow<str> =
            if self.stdout_tty { pretty_json(text).into() } else { text.trim().into() };
        write_terminal_safe(out, &shown)?;
        Ok(out.write_all(b"\n")?)
    }

    /// Like `json_text`; piped, a whole document needing no escape becomes the empty result
    /// itself rather than a copy (a large list is then held in memory once, not twice).
    pub fn json_doc(&self, out: &mut Vec<u8>, doc: Json) -> Result<()> {
        let plain =
            |text: &str| text.trim().len() == text.len() && unsafe_chars(text).next().is_none();
        if !(out.is_empty() && self.selection.is_none() && !self.stdout_tty && plain(doc.text())) {
            return self.json_text(out, doc.text());
        }
        *out = doc.into_text().into_bytes();
        out.push(b'\n');
        Ok(())
    }

    /// Write JSON documents as one array; piped, without first joining them in memory.
    pub fn json_array<'a>(
        &self,
        out: &mut dyn Write,
        items: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        if self.selection.is_some() || self.stdout_tty {
            let items: Vec<&str> = items.into_iter().collect();
            return self.json_text(out, &format!("[{}]", items.join(",")));
        }
        out.write_all(b"[")?;
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write_terminal_safe(out, item.trim())?;
        }
        Ok(out.write_all(b"]\n")?)
    }
}

/// A colour or style, as its SGR code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Green = 32,
    Red = 31,
    Yellow = 33,
    Dim = 2,
    Bold = 1,
}

fn paint(on: bool, color: Color, text: &str) -> String {
    match on {
        true => format!("\x1b[{}m{text}\x1b[0m", color as u8),
        false => text.to_string(),
    }
}

/// `--field NAME` (repeatable) or `--format TEMPLATE`: chosen fields of a JSON result, one
/// line per item of a list (or one line for an object), for images without `jq`. Both are
/// held as a template: text and field paths taking turns, text first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Values of these fields, tab-separated: `--field id --field name` is `["", "id", "\t",
    /// "name"]`.
    Fields(Vec<String>),
    /// A template such as `{id}: {name}\n`, held as `["", "id", ": ", "name", "\n"]`.
    Format(Vec<String>),
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
                    next => text.extend(std::iter::once('\\').chain(next.filter(|&c| c != '\\'))),
                },
                '{' | '}' if chars.peek() == Some(&c) => {
                    chars.next();
                    text.push(c);
                }
                '{' => {
                    let Some(len) = chars.clone().position(|c| c == '}') else {
                        return Err(format!("unclosed '{{' in '{template}'"));
                    };
                    let name: String = chars.by_ref().take(len).collect();
                    chars.next();
                    if name.trim().is_empty() {
                        return Err("empty field name '{}'".into());
                    }
                    pieces.push(std::mem::take(&mut text));
                    pieces.push(name.trim().to_string());
                }
                '}' => return Err(format!("unmatched '}}' in '{template}' (write '}}}}')")),
                c => text.push(c),
            }
        }
        pieces.push(text);
        Ok(Selection::Format(pieces))
    }

    /// Write the selected fields of a JSON document: one line per item of a list, one line
    /// for any other document. Items are decoded one at a time, so a large list is never held
    /// as one tree of values; the lines are written only once every item has been read, so a
    /// failure leaves stdout empty. A field that no item has is a usage error that lists the
    /// fields the items do have.
    pub fn write(&self, out: &mut dyn Write, text: &str) -> Result<()> {
        let (Selection::Fields(pieces) | Selection::Format(pieces)) = self;
        let mut found = vec![false; pieces.len()];
        let items: Vec<&str> = match text.trim_start().starts_with('[') {
            true => {
                let items: Vec<&RawValue> = serde_json::from_str(text).map_err(malformed)?;
                items.into_iter().map(RawValue::get).collect()
            }
            false => vec![text],
        };
        let mut lines = String::new();
        for item in &items {
            let value: Value = serde_json::from_str(item).map_err(malformed)?;
            for (i, piece) in pieces.iter().enumerate() {
                if i % 2 == 0 {
                    lines.push_str(piece);
                    continue;
                }
                let field = lookup(&value, piece);
                found[i] |= field.is_some();
                lines.push_str(&field_text(field));
            }
            lines.push('\n');
        }
        let missing = pieces.iter().zip(&found).skip(1).step_by(2).find(|(_, found)| !**found);
        if let (Some((name, _)), false) = (missing, items.is_empty()) {
            return Err(unknown_field(name, &items));
        }
        Ok(out.write_all(lines.as_bytes())?)
    }
}

fn malformed(err: serde_json::Error) -> Error {
    Error::new(Kind::Server, format!("Malformed response from the server: {err}"))
}

/// `Unknown field 'name'`, with the top-level fields of (the first hundred) items, sorted.
fn unknown_field(name: &str, items: &[&str]) -> Error {
    let objects = items.iter().take(100).filter_map(|i| serde_json::from_str::<Map<_, _>>(i).ok());
    let fields: std::collections::BTreeSet<String> =
        objects.flat_map(Map::into_iter).map(|(k, _)| sanitize(&k)).collect();
    let error = Error::usage(format!("Unknown field '{}'", sanitize(name)));
    if fields.is_empty() {
        return error.hint("The result has no fields to select");
    }
    let fields = Vec::from_iter(fields).join(", ");
    error.hint(format!(
        "The result has these fields: {fields} (a.b selects inside objects, a.0 inside lists)"
    ))
}

/// The value at a dotted path (`last_execution.status`, `notifications.0.type`), or `None`
/// when the item does not know the path: a null or a list too short on the way is a blank
/// value of a known field; a name an object lacks, or a step into text or a number, is unknown.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => {
            key.parse().ok().map(|i: usize| items.get(i).unwrap_or(&Value::Null))
        }
        Value::Null => Some(value),
        _ => None,
    })
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

/// Valid JSON text indented by two spaces like serde_json's pretty printer, its content and
/// order untouched.
fn pretty_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let (mut depth, mut in_string, mut escaped, mut last) = (0usize, false, false, ' ');
    for c in text.chars() {
        if in_string {
            (in_string, escaped) = (escaped || c != '"', !escaped && c == '\\');
            out.push(c);
            continue;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        let closes = matches!(c, '}' | ']');
        depth = depth.saturating_sub(usize::from(closes));
        // A line break after `{`, `[` and `,`, and before `}` and `]`: `{}` and `[]` stay closed.
        if closes != matches!(last, '{' | '[' | ',') {
            out.push('\n');
            // Indentation stops growing at 32 levels: deeper nesting would make it quadratic.
            out.extend(std::iter::repeat_n(' ', 2 * depth.min(32)));
        }
        out.push(c);
        if c == ':' {
            out.push(' ');
        }
        depth += usize::from(matches!(c, '{' | '['));
        (in_string, last) = (c == '"', c);
    }
    out
}

/// Write valid JSON text as it is, except that C1 controls and bidirectional overrides are
/// written as `\u` escapes (the same JSON value, harmless on a terminal). In valid JSON any
/// non-ASCII character is inside a string, so only the lead bytes of those characters (C2 and
/// E2) are searched for, at memchr speed, and the rest is written in runs.
fn write_terminal_safe(out: &mut dyn Write, text: &str) -> io::Result<()> {
    let mut start = 0;
    for (at, c) in unsafe_chars(text) {
        out.write_all(&text.as_bytes()[start..at])?;
        write!(out, "\\u{:04x}", c as u32)?;
        start = at + c.len_utf8();
    }
    out.write_all(&text.as_bytes()[start..])
}

/// The C1 controls and bidirectional overrides in `text`, with their byte offsets.
fn unsafe_chars(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    memchr::memchr2_iter(0xC2, 0xE2, text.as_bytes()).filter_map(|at| {
        let c = text[at..].chars().next()?;
        let bad =
            matches!(c, '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        bad.then_some((at, c))
    })
}

/// Write one line to stderr; a closed stderr is not worth failing for.
pub fn stderr_line(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// `text` cut to at most `max` characters, ending in `…` when it was cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

pub use crate::error::sanitize;

/// Columns of text, aligned. On a terminal the table is fitted to its width: free-text
/// columns are shortened with `…` first, then ID columns to a unique prefix.
#[derive(Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Free-text columns that may be shortened with `…`, in the order they give way.
    flexible: Vec<usize>,
    /// Columns of task IDs, which may be cut to a unique prefix of 8 or more characters.
    ids: Vec<usize>,
    /// Columns whose cells start with an RFC 3339 time (empty for none): relative on a
    /// terminal (`3m ago`, `in 2h`), `2026-04-21 08:15` (UTC) otherwise.
    times: Vec<usize>,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Table {
        Table { headers, ..Table::default() }
    }

    pub fn flexible(mut self, column: usize) -> Table {
        self.flexible.push(column);
        self
    }

    pub fn ids(mut self, column: usize) -> Table {
        self.ids.push(column);
        self
    }

    pub fn times(mut self, columns: &[usize]) -> Table {
        self.times.extend_from_slice(columns);
        self
    }

    /// Add a row; cells are sanitized here, so callers pass server text as it came.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| sanitize(c)).collect());
    }

    pub fn write(&self, out: &mut dyn Write, output: &Output) -> io::Result<()> {
        let now = output.stdout_tty.then(|| UNIX_EPOCH.elapsed().map_or(0.0, |d| d.as_secs_f64()));
        let mut rows = vec![self.headers.iter().map(|&h| Cow::Borrowed(h)).collect::<Vec<_>>()];
        for row in &self.rows {
            let cells = row.iter().enumerate().map(|(i, cell)| match self.times.contains(&i) {
                true => Cow::Owned(time_cell(cell, now)),
                false => Cow::Borrowed(cell.as_str()),
            });
            rows.push(cells.collect());
        }
        let columns = self.headers.len();
        let width =
            |i| rows.iter().filter_map(|row| row.get(i)).map(|c: &Cow<str>| text_width(c)).max();
        let mut widths: Vec<usize> = (0..columns).map(|i| width(i).unwrap_or(0)).collect();
        if let Some(total) = output.stdout_tty.then(crate::terminal::width) {
            let used = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
            let mut over = used.saturating_sub(total);
            let floors = self.flexible.iter().map(|&i| (i, 12));
            let ids = self.ids.iter().map(|&i| (i, unique_prefix(&self.rows, i)));
            for (i, floor) in floors.chain(ids) {
                let cut = over.min(widths[i].saturating_sub(floor));
                widths[i] -= cut;
                over -= cut;
            }
        }
        let mut line = String::new();
        for (n, row) in rows.iter().enumerate() {
            line.clear();
            for (i, cell) in row.iter().enumerate().take(columns) {
                let end = || cell.char_indices().nth(widths[i]).map_or(cell.len(), |(e, _)| e);
                let cell = match self.ids.contains(&i) {
                    true => Cow::Borrowed(&cell[..end()]),
                    false => fit(cell, widths[i]),
                };
                let pad = widths[i].saturating_sub(text_width(&cell));
                line.push_str(&if n == 0 { output.paint(Color::Bold, &cell).into() } else { cell });
                if i + 1 < columns {
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Terminal columns `text` takes; plain ASCII (most cells, and sanitized: no controls) counts
/// without a table lookup per character.
fn text_width(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.width()
    }
}

/// The shortest length, at least 8, at which the IDs in `column` all differ.
fn unique_prefix(rows: &[Vec<String>], column: usize) -> usize {
    let mut ids: Vec<&String> = rows.iter().filter_map(|row| row.get(column)).collect();
    ids.sort_unstable();
    let common =
        |pair: &[&String]| pair[0].chars().zip(pair[1].chars()).take_while(|(a, b)| a == b).count();
    ids.windows(2).map(|pair| common(pair) + 1).fold(8, usize::max)
}

/// A time column's cell: its leading timestamp relative to `now`, or to the minute when
/// there is no `now`; `-` for an empty cell; anything else unchanged.
fn time_cell(cell: &str, now: Option<f64>) -> String {
    let (stamp, rest) = cell.split_once(' ').unwrap_or((cell, ""));
    let shown = match (parse_rfc3339(stamp), now) {
        _ if cell.is_empty() => return "-".into(),
        (None, _) => return cell.to_string(),
        (Some(at), Some(now)) => relative(now - at),
        (Some(_), None) => format!("{} {}", &stamp[..10], &stamp[11..16]),
    };
    match rest {
        "" => shown,
        _ => format!("{shown} {rest}"),
    }
}

/// `42s ago`, `3m ago`, `in 2h`, `5d ago`: `secs` before now, or after it when negative.
fn relative(secs: f64) -> String {
    let n = secs.abs().round() as u64;
    let units = [(86_400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')];
    let (size, unit) = units.into_iter().find(|&(size, _)| n >= size).unwrap_or((1, 's'));
    match secs < -0.5 {
        true => format!("in {}{unit}", n / size),
        false => format!("{}{unit} ago", n / size),
    }
}

/// `cell` cut to `width` terminal columns, ending in `…` when it was cut.
fn fit(cell: &str, width: usize) -> Cow<'_, str> {
    if text_width(cell) <= width {
        return Cow::Borrowed(cell);
    }
    let mut used = 0;
    let fits = |c: &char| {
        used += c.width().unwrap_or(0);
        used < width
    };
    format!("{}…", cell.chars().take_while(fits).collect::<String>()).into()
}

/// An aligned `key  value` block; values are sanitized.
pub fn write_pairs(out: &mut dyn Write, pairs: &[(&str, String)]) -> io::Result<()> {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    for (key, value) in pairs {
        writeln!(out, "{key:<width$}  {}", sanitize(value))?;
    }
    Ok(())
}

/// `2026-04-21T08:15:02.418733Z` → `2026-04-21 08:15 UTC` (an offset other than `Z` as it
/// was sent); other text unchanged; `-` for none.
pub fn short_time(value: Option<&str>) -> String {
    let Some(t) = value.filter(|t| parse_rfc3339(t).is_some()) else {
        return value.unwrap_or("-").to_string();
    };
    let zone = if t.ends_with(['Z', 'z']) { "UTC" } else { &t[t.len() - 6..] };
    format!("{} {} {zone}", &t[..10], &t[11..16])
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
    let date_valid = (1..=12).contains(&month) && (1..=31).contains(&day);
    if !date_valid || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let rest = &text[19..];
    let digits = rest.bytes().skip(1).take_while(u8::is_ascii_digit).count();
    let (fraction, zone) = match rest.strip_prefix('.') {
        Some(_) if digits == 0 => return None,
        Some(_) => {
            let fraction =
                rest[1..=digits].bytes().rev().fold(0.0, |f, d| (f + f64::from(d - b'0')) / 10.0);
            (fraction, &rest[digits + 1..])
        }
        None => (0.0, rest),
    };
    let offset = match zone {
        "Z" | "z" => 0,
        _ if zone.len() == 6 && matches!(zone.as_bytes()[0], b'+' | b'-') => {
            let hours: i64 = zone.get(1..3)?.parse().ok()?;
            let minutes: i64 = zone.get(4..6)?.parse().ok()?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    // Days since 1970-01-01 of the proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(secs as f64 + fraction)
}

/// `42s`, `3m 05s`, `1h 02m` between two timestamps; `-` when either is missing.
pub fn duration_between(start: Option<&str>, end: Option<&str>) -> String {
    let (start, end) = (start.and_then(parse_rfc3339), end.and_then(parse_rfc3339));
    let Some((start, end)) = start.zip(end) else { return "-".into() };
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

#[cfg(test)]
mod tests {
    #[test]
    fn pretty_json_indents_deep_nesting_no_deeper_than_32_levels() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(super::pretty_json(&deep).len() < 150_000); // 2 MB indented in full
    }

    use super::*;

    #[test]
    fn json_is_respaced_for_a_terminal_and_kept_when_piped() {
        let mut output = Output::detect(true, ColorChoice::Never, None);
        output.stdout_tty = false;
        let items = [
            "{ \"b\" : [1, {\"x\": \"a, b: {c}\\\" ]\"}], \"e\": [ ] }",
            "{\"a\":\"\u{202e}\u{9b}—\"}",
        ];
        let print = |output: &Output| {
            let mut buf = Vec::new();
            output.json_array(&mut buf, items).unwrap();
            String::from_utf8(buf).unwrap()
        };
        // Piped: as sent, but for the controls that act on a terminal.
        let piped = print(&output);
        assert_eq!(piped, format!("[{},{}]\n", items[0], r#"{"a":"\u202e\u009b—"}"#));
        let value: Value = serde_json::from_str(&piped).unwrap();
        assert_eq!(value[1]["a"], "\u{202e}\u{9b}—");
        output.stdout_tty = true;
        let pretty = serde_json::to_string_pretty(&value).unwrap().replace('\u{202e}', "\\u202e");
        assert_eq!(print(&output), pretty.replace('\u{9b}', "\\u009b") + "\n");
    }

    #[test]
    fn rfc3339_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-02T00:00:01.5Z"), Some(86_401.5));
        assert_eq!(
            parse_rfc3339("2026-04-21T10:15:02+02:00"),
            parse_rfc3339("2026-04-21T08:15:02Z")
        );
        assert_eq!(parse_rfc3339("2026-04-21Tnoon"), None);
        assert_eq!(parse_rfc3339("2026-04-21T08:15:02.Z"), None);
    }
}
