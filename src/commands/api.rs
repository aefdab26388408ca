//! `torale api`: an authenticated request to any endpoint, like `gh api`, with the same
//! settings, retries, redirect rules and key redaction as every other command.

use std::io::Write;

use lexopt::{Parser, ValueExt};
use serde::de::IgnoredAny;
use serde_json::{Map, Number, Value};

use super::{count_words, once, read_input, rest, Context, GlobalOpts};
use crate::client::{percent_encode, Method};
use crate::error::{Error, Result};
use crate::output::sanitize;

pub const HELP: &str = "\
Send a request to any endpoint of the Torale API and print the response

Uses the configured key and URL, the same retries and redirect rules as every command, and
exits with the code for the response's status (0 for 2xx; see 'torale help exit-codes').
Without -X the method is GET, or POST when fields or --input give a body. Fields go into
the JSON body, or into the query string for GET and DELETE.

Usage: torale api [-X METHOD] PATH [-f KEY=VALUE]... [-F KEY=VALUE]... [--input FILE] [-i]

Options:
  -X, --method METHOD     GET, POST, PUT, PATCH or DELETE
  -f, --raw-field K=V     A string field
  -F, --typed-field K=V   A typed field: true, false, null and numbers become JSON values;
                          @FILE reads the value from a file, @- from standard input
      --input FILE        The request body from a file ('-' for standard input)
  -i, --include           Print the status line and response headers before the body

Examples:
  torale api /api/v1/tasks/feed
  torale api -X PATCH /api/v1/tasks/$ID/visibility -F is_public=true
  torale api -X POST /api/v1/tasks/$ID/fork -f name=\"My copy\"
  torale api -X GET /api/v1/webhooks/deliveries -f limit=5
  torale api -X PUT /api/v1/webhooks/config --input webhook.json
";

/// `torale api` after its name.
pub struct Args {
    /// `-X`; else GET, or POST when there is a body.
    pub method: Method,
    pub path: String,
    /// `(key, value, typed)` from `-f` (string) and `-F` (typed), in order.
    pub fields: Vec<(String, String, bool)>,
    pub input: Option<String>,
    pub include: bool,
}

pub fn parse(p: &mut Parser, g: &mut GlobalOpts) -> Result<Args> {
    let (mut method, mut input, mut include, mut fields) = (None, None, false, Vec::new());
    let words = rest(p, g, |name, p| {
        match name {
            "method" | "X" => once(&mut method, "method", p)?,
            "raw-field" | "f" | "typed-field" | "F" => {
                let value = p.value()?.string()?;
                let Some((key, val)) = value.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    let value = sanitize(&value);
                    return Err(Error::usage(format!("Invalid field '{value}': use KEY=VALUE")));
                };
                let typed = matches!(name, "typed-field" | "F");
                fields.push((key.to_string(), val.to_string(), typed));
            }
            "input" => once(&mut input, "input", p)?,
            "include" | "i" => include = true,
            _ => return Ok(false),
        }
        Ok(true)
    });
    let args = words.and_then(|words| {
        count_words(&words, 1, 1, "PATH")?;
        // A path on the configured API, never another origin.
        let (path, shown) = (&words[0], sanitize(&words[0]));
        if path.contains("://") || path.starts_with("//") {
            let how = "give a path such as /api/v1/tasks/ (the URL comes from --api-url)";
            return Err(Error::usage(format!("'{shown}' is a URL: {how}")));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::usage(format!("'{shown}' contains spaces or control characters")));
        }
        let path = if path.starts_with('/') { path.clone() } else { format!("/{path}") };
        let body = !fields.is_empty() || input.is_some();
        let name = method.as_deref().unwrap_or(if body { "POST" } else { "GET" });
        let methods = [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete];
        let method = methods.into_iter().find(|m| name.eq_ignore_ascii_case(m.as_str()));
        let how = "use GET, POST, PUT, PATCH or DELETE";
        let method = method.ok_or_else(|| {
            Error::usage(format!("Invalid value '{}' for '--method': {how}", sanitize(name)))
        })?;
        if input.is_some() && !fields.is_empty() {
            return Err(Error::usage("Use either --input or fields (-f/-F), not both"));
        }
        Ok(Args { method, path, fields, input, include })
    });
    args.map_err(|e| e.see_help("api"))
}

pub fn run(args: Args, cx: &Context, out: &mut Vec<u8>) -> Result<()> {
    let client = cx.client(true)?;
    let mut fields = Map::new();
    for (key, raw, typed) in args.fields {
        fields.insert(key, if typed { typed_value(&raw)? } else { Value::String(raw) });
    }
    let (method, mut path) = (args.method, args.path);
    let body = match &args.input {
        Some(input) => Some(read_input(input)?),
        None if fields.is_empty() => None,
        None if matches!(method, Method::Get | Method::Delete) => {
            for (key, value) in &fields {
                let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
                let sep = if path.contains('?') { '&' } else { '?' };
                path = format!("{path}{sep}{}={}", percent_encode(key), percent_encode(&text));
            }
            None
        }
        None => Some(Value::Object(fields).to_string().into_bytes()),
    };

    let reply = client.raw(method, &path, body.as_deref())?;
    if args.include {
        writeln!(out, "HTTP/1.1 {}", reply.status)?;
        for (name, value) in &reply.headers {
            writeln!(out, "{name}: {}", sanitize(value))?;
        }
        writeln!(out)?;
    }
    if !(200..300).contains(&reply.status) {
        let mut err = crate::client::status_error(reply.status, &reply.body, method, &path);
        if reply.status == 405 {
            let method = method.as_str();
            err = err.hint(format!("The route does not take {method}; choose the method with -X"));
        }
        return Err(err);
    }
    let (body, output) = (reply.body, &cx.output);
    match std::str::from_utf8(&body) {
        Ok(text) if serde_json::from_str::<IgnoredAny>(text).is_ok() => output.json_text(out, text),
        _ if output.selection.is_some() => {
            let why = "The response is not JSON, so --field/--format cannot select from it";
            Err(Error::new(crate::error::Kind::Server, why))
        }
        // Not JSON: the body as sent for a pipe, made safe for a terminal (as gh api does).
        _ if output.stdout_tty => {
            let text = sanitize(&String::from_utf8_lossy(&body)).replace("\\n", "\n");
            Ok(writeln!(out, "{}", text.trim_end())?)
        }
        _ => Ok(out.write_all(&body)?),
    }
}

/// `-F` values: literals become JSON values, `@FILE` reads a file, `@-` standard input.
fn typed_value(raw: &str) -> Result<Value> {
    if let Some(source) = raw.strip_prefix('@') {
        let text = String::from_utf8(read_input(source)?);
        let text = text.map_err(|_| Error::usage(format!("{source} is not text")))?;
        return Ok(Value::String(text.trim_end_matches('\n').to_string()));
    }
    let numeric = raw.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    let float = raw.parse::<f64>().ok().and_then(Number::from_f64).filter(|_| numeric);
    let number = raw.parse::<i64>().map(Number::from).ok().or(float);
    Ok(match raw {
        "true" | "false" => Value::Bool(raw == "true"),
        "null" => Value::Null,
        _ => number.map_or_else(|| Value::String(raw.to_string()), Value::Number),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn typed_fields() {
        for (raw, json) in [("true", "true"), ("null", "null"), ("42", "42"), ("1.5", "1.5")] {
            assert_eq!(super::typed_value(raw).unwrap().to_string(), json);
        }
        for raw in ["12abc", "inf", "1e", "+"] {
            assert_eq!(super::typed_value(raw).unwrap(), raw);
        }
    }
}
