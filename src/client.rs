//! The Torale API client: the only file that sends requests with ureq (`resolve.rs` only
//! plugs a resolver into it). One method per endpoint, one retry policy, one redirect
//! policy, and the decoding of every error shape the servers produce.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{Error, Kind, Result};
use crate::model::{Json, Task};
use crate::output::{sanitize, stderr_line};
use crate::settings::{ApiKey, Settings};

/// Responses larger than this are refused without being read into memory.
pub const MAX_BODY: u64 = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ATTEMPTS: u32 = 3;
const MAX_REDIRECTS: u32 = 5;
/// Never wait longer than this for one `Retry-After`.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// HTTP methods the CLI uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Whether repeating the request is harmless once the server may have seen it.
    fn idempotent(self) -> bool {
        !matches!(self, Method::Post | Method::Patch)
    }
}

/// A blocking client for one API URL and key.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    key: Option<ApiKey>,
    debug: bool,
}

/// A finished exchange: status and the whole body (at most [`MAX_BODY`]).
struct Reply {
    status: u16,
    body: Vec<u8>,
    retry_after: Option<Duration>,
    location: Option<String>,
    /// A key is configured but was not sent, because a redirect led away from its origin.
    key_withheld: bool,
    /// Response headers, names in lower case (for `torale api -i`).
    headers: Vec<(String, String)>,
}

/// A response of any status, for `torale api`.
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Client {
    /// A client for the effective settings; `key` is `None` in NOAUTH mode.
    pub fn new(settings: &Settings, key: Option<&ApiKey>, debug: bool) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(settings.timeout))
            .user_agent(concat!("torale/", env!("CARGO_PKG_VERSION")))
            .accept("application/json")
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(root_certs())
                    .build(),
            )
            .build();
        // The resolver answers literals and `localhost` itself and needs no NSS modules, so the
        // static binary resolves names in an image that holds nothing else.
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            crate::resolve::HostResolver,
        );

        /// The built-in root certificates, or the PEM bundle `SSL_CERT_FILE` names (in its place,
        /// as OpenSSL and curl read it). An unreadable or empty bundle is reported and the
        /// built-in roots are used.
        fn root_certs() -> ureq::tls::RootCerts {
            use ureq::tls::{parse_pem, PemItem, RootCerts};
            let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
                return RootCerts::WebPki;
            };
            let shown = std::path::Path::new(&path).display().to_string();
            let certs: Vec<_> = match std::fs::read(&path) {
                Ok(pem) => parse_pem(&pem)
                    .map_while(|item| item.ok())
                    .filter_map(|item| match item {
                        PemItem::Certificate(cert) => Some(cert),
                        _ => None,
                    })
                    .collect(),
                Err(e) => {
                    stderr_line(&format!(
                        "Warning: cannot read SSL_CERT_FILE {}: {e}; using the built-in root certificates",
                        sanitize(&shown)
                    ));
                    return RootCerts::WebPki;
                }
            };
            if certs.is_empty() {
                stderr_line(&format!(
                    "Warning: no PEM certificates in SSL_CERT_FILE {}; using the built-in root certificates",
                    sanitize(&shown)
                ));
                return RootCerts::WebPki;
            }
            RootCerts::new_with_certs(&certs)
        }

        let client = Client {
            agent,
            base: settings.api_url.clone(),
            key: key.cloned(),
            debug,
        };
        if client.key.is_some() && sends_in_clear(&client.base) {
            stderr_line(&format!(
                "Warning: sending the API key over plain http:// to {}; use https://",
                client.base
            ));
        }
        client
    }

    // ---- account -------------------------------------------------------------------------

    /// `GET /auth/me`: the account the key belongs to.
    pub fn me(&self) -> Result<Json> {
        self.call(Method::Get, "/auth/me", &[], None)
    }

    // ---- tasks ---------------------------------------------------------------------------

    /// `GET /api/v1/tasks/` with a state filter both server generations understand.
    pub fn list_tasks(&self, state: Option<&str>) -> Result<Json> {
        let mut query = Vec::new();
        if let Some(state) = state {
            query.push(("state", state.to_string()));
            match state {
                "active" => query.push(("is_active", "true".to_string())),
                "paused" => query.push(("is_active", "false".to_string())),
                _ => {}
            }
        }
        self.call(Method::Get, "/api/v1/tasks/", &query, None)
    }

    pub fn get_task(&self, id: &str) -> Result<Json> {
        self.call(Method::Get, &format!("/api/v1/tasks/{id}"), &[], None)
    }

    pub fn create_task(&self, body: &Value) -> Result<Json> {
        self.call(Method::Post, "/api/v1/tasks/", &[], Some(body))
    }

    pub fn update_task(&self, id: &str, body: &Value) -> Result<Json> {
        self.call(Method::Put, &format!("/api/v1/tasks/{id}"), &[], Some(body))
    }

    pub fn delete_task(&self, id: &str) -> Result<Json> {
        self.call(Method::Delete, &format!("/api/v1/tasks/{id}"), &[], None)
    }

    pub fn execute_task(&self, id: &str) -> Result<Json> {
        self.call(
            Method::Post,
            &format!("/api/v1/tasks/{id}/execute"),
            &[],
            None,
        )
    }

    pub fn executions(&self, id: &str, limit: usize) -> Result<Json> {
        let query = [("limit", limit.to_string())];
        self.call(
            Method::Get,
            &format!("/api/v1/tasks/{id}/executions"),
            &query,
            None,
        )
    }

    pub fn notifications(&self, id: &str, limit: usize) -> Result<Json> {
        let query = [("limit", limit.to_string())];
        self.call(
            Method::Get,
            &format!("/api/v1/tasks/{id}/notifications"),
            &query,
            None,
        )
    }

    // ---- the one request path ----------------------------------------------------------

    /// After a create meant to be paused: a legacy server made the task active, so pause it now.
    pub fn pause_legacy_create(&self, created: Json, paused: bool) -> Result<(Json, Task)> {
        let task = Task::decode(created.text())?;
        if paused && task.is_legacy() && task.is_active == Some(true) {
            let updated = self.update_task(&task.id, &serde_json::json!({"is_active": false}))?;
            let task = Task::decode(updated.text())?;
            return Ok((updated, task));
        }
        Ok((created, task))
    }

    /// Send one request with the retry policy; decode a JSON reply or turn it into an [`Error`].
    pub fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Json> {
        let mut url = format!("{}{}", self.base, path);
        if !query.is_empty() {
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", percent_encode(v)))
                .collect();
            url = format!("{url}?{}", pairs.join("&"));
        }
        let body = match body {
            Some(value) => Some(
                serde_json::to_vec(value)
                    .map_err(|err| Error::internal(format!("Cannot encode request: {err}")))?,
            ),
            None => None,
        };
        self.with_retries(method, &url, body.as_deref())
            .and_then(|reply| decode_reply(reply, method, &url))
            .map_err(|err| self.redact_error(self.proxy_hint(err)))
    }

    /// Any method on any path of the API (`torale api`): the same retries, redirect rules and
    /// redaction as every command, and the response whatever its status.
    pub fn raw(&self, method: Method, path: &str, body: Option<&[u8]>) -> Result<RawReply> {
        let url = format!("{}{}", self.base, path);
        let reply = self
            .with_retries(method, &url, body)
            .map_err(|err| self.redact_error(self.proxy_hint(err)))?;
        Ok(RawReply {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        })
    }

    /// `text` with every occurrence of the key replaced by its masked form: servers and
    /// proxies may echo the key back (error details, headers, redirect URLs).
    fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(key) => text.replace(key.expose(), &key.masked()),
            None => text.to_string(),
        }
    }

    /// A network failure while requests go through a proxy names the proxy: it, not the
    /// API, may be what failed.
    fn proxy_hint(&self, err: Error) -> Error {
        if err.kind != Kind::Network {
            return err;
        }
        let Some(proxy) = self.agent.config().proxy() else {
            return err;
        };
        let bypassed = self
            .base
            .parse::<ureq::http::Uri>()
            .is_ok_and(|uri| proxy.is_no_proxy(&uri));
        if bypassed {
            return err;
        }
        err.hint(format!(
            "Requests go through the proxy {}:{} (from ALL_PROXY/HTTPS_PROXY/HTTP_PROXY): check it, or add the API host to NO_PROXY",
            proxy.host(),
            proxy.port()
        ))
    }

    fn redact_error(&self, mut err: Error) -> Error {
        err.message = self.redact(&err.message);
        for hint in &mut err.hints {
            *hint = self.redact(hint);
        }
        err
    }

    /// The retry policy, in one place: GET/PUT/DELETE on 429, 502, 503, 504 and connection
    /// failures; POST only when it never reached the server or got a rate-limit 429.
    fn with_retries(&self, method: Method, url: &str, body: Option<&[u8]>) -> Result<Reply> {
        let mut attempt = 1;
        loop {
            let outcome = self.follow_redirects(method, url, body);
            let (retry, wait_hint, why) = match &outcome {
                Ok(reply) => {
                    let rate_limited = reply.status == 429 && is_rate_limit_body(&reply.body);
                    let transient = matches!(reply.status, 502..=504);
                    (
                        rate_limited || (transient && method.idempotent()),
                        reply.retry_after,
                        format!("HTTP {}", reply.status),
                    )
                }
                Err(failure) => (
                    failure.retryable && (method.idempotent() || !failure.reached_server),
                    None,
                    failure.error.message.clone(),
                ),
            };
            if !retry || attempt >= MAX_ATTEMPTS {
                return outcome.map_err(|failure| failure.error);
            }
            let wait = backoff(attempt, wait_hint);
            stderr_line(&self.redact(&format!(
                "{why}; waiting {:.1}s before attempt {} of {MAX_ATTEMPTS}",
                wait.as_secs_f64(),
                attempt + 1
            )));
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// Follow redirects ourselves: the key goes only to the origin it was configured for, and
    /// never from https down to http.
    fn follow_redirects(
        &self,
        method: Method,
        url: &str,
        body: Option<&[u8]>,
    ) -> std::result::Result<Reply, Failure> {
        let home = origin(&self.base);
        let mut method = method;
        let mut body = body;
        let mut url = url.to_string();
        // Once a chain of redirects has left the configured origin, the key stays behind for
        // the rest of it, even if the chain comes back.
        let mut left_home = false;
        for _ in 0..=MAX_REDIRECTS {
            let send_key = !left_home && origin(&url) == home;
            let mut reply = self.exchange(method, &url, body, send_key)?;
            if !matches!(reply.status, 301 | 302 | 303 | 307 | 308) {
                reply.key_withheld = self.key.is_some() && !send_key;
                return Ok(reply);
            }
            let next = redirect_target(&url, reply.status, reply.location.as_deref())
                .map_err(Failure::fatal)?;
            if origin(&next) != home && !left_home {
                left_home = true;
                if self.key.is_some() {
                    stderr_line(&self.redact(&format!(
                        "Warning: redirected to another origin ({next}); the API key is not sent there"
                    )));
                }
            }
            if reply.status == 303 {
                method = Method::Get;
                body = None;
            }
            url = next;
        }
        Err(Failure::fatal(
            Error::new(Kind::Server, format!("Too many redirects ({url})")).hint(format!(
                "torale follows at most {MAX_REDIRECTS} redirects; check --api-url"
            )),
        ))
    }

    /// One HTTP exchange, with the `--debug` trace.
    fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&[u8]>,
        send_key: bool,
    ) -> std::result::Result<Reply, Failure> {
        let mut builder = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(url);
        let auth = match (&self.key, send_key) {
            (Some(key), true) => Some(key),
            _ => None,
        };
        if let Some(key) = auth {
            builder = builder.header("Authorization", format!("Bearer {}", key.expose()));
        }
        if body.is_some() {
            builder = builder.header("Content-Type", "application/json");
        }
        if self.debug {
            stderr_line(&self.redact(&format!("> {} {url}", method.as_str())));
            stderr_line(concat!("> User-Agent: torale/", env!("CARGO_PKG_VERSION")));
            stderr_line("> Accept: application/json");
            if body.is_some() {
                stderr_line("> Content-Type: application/json");
            }
            if let Some(key) = auth {
                stderr_line(&format!("> Authorization: Bearer {}", key.masked()));
            }
        }
        let started = Instant::now();
        let request = builder
            .body(body.unwrap_or_default().to_vec())
            .map_err(|err| {
                Failure::fatal(Error::usage(format!("Invalid request URL {url}: {err}")))
            })?;
        let response = self
            .agent
            .run(request)
            .map_err(|err| Failure::from_ureq(err, url))?;

        let status = response.status().as_u16();
        let headers = response.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v));
        let header_list: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes());
                (name.as_str().to_string(), self.redact(&value))
            })
            .collect();
        let location = header("location");
        if self.debug {
            stderr_line(&format!(
                "< {status} ({} ms)",
                started.elapsed().as_millis()
            ));
            for (name, value) in headers {
                let value = String::from_utf8_lossy(value.as_bytes());
                stderr_line(&format!("< {name}: {}", sanitize(&self.redact(&value))));
            }
        }
        let declared = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BODY) {
            return Err(Failure::fatal(too_large(url)));
        }
        // Sized from Content-Length (capped above), so a large list is not copied as it grows.
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
        response
            .into_body()
            .into_reader()
            .take(MAX_BODY + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| Failure::from_io(err, url))?;
        if bytes.len() as u64 > MAX_BODY {
            return Err(Failure::fatal(too_large(url)));
        }
        if let Some(key) = &self.key {
            bytes = mask_secret(bytes, key.expose().as_bytes(), key.masked().as_bytes());
        }
        Ok(Reply {
            status,
            body: bytes,
            retry_after,
            location,
            key_withheld: false,
            headers: header_list,
        })
    }
}

/// A failed exchange, with what the retry policy needs to know about it.
struct Failure {
    error: Error,
    retryable: bool,
    /// Whether the request may have reached the server (then POST is not repeated).
    reached_server: bool,
}

impl Failure {
    fn fatal(error: Error) -> Failure {
        Failure {
            error,
            retryable: false,
            reached_server: true,
        }
    }

    fn from_ureq(err: ureq::Error, url: &str) -> Failure {
        use ureq::Error as E;
        let network = |message: String, reached_server: bool| Failure {
            error: Error::new(Kind::Network, message),
            retryable: true,
            reached_server,
        };
        match err {
            E::Io(io) => Failure::from_io(io, url),
            E::HostNotFound => network(format!("Could not resolve host ({url})"), false),
            E::ConnectionFailed => network(format!("Connection failed ({url})"), false),
            E::Timeout(which) => {
                let before_send = matches!(which, ureq::Timeout::Resolve | ureq::Timeout::Connect);
                Failure {
                    error: timed_out(url),
                    retryable: before_send,
                    reached_server: !before_send,
                }
            }
            E::BodyExceedsLimit(_) => Failure::fatal(too_large(url)),
            E::Tls(why) => Failure::fatal(Error::new(
                Kind::Network,
                format!("TLS error: {why} ({url})"),
            )),
            E::Rustls(why) => Failure::fatal(Error::new(
                Kind::Network,
                format!("TLS error: {} ({url})", sanitize(&why.to_string())),
            )),
            E::BadUri(why) => Failure::fatal(Error::usage(format!(
                "Invalid URL {url}: {}",
                sanitize(&why)
            ))),
            E::Protocol(why) => Failure::fatal(Error::new(
                Kind::Server,
                format!(
                    "Malformed HTTP response: {} ({url})",
                    sanitize(&why.to_string())
                ),
            )),
            E::LargeResponseHeader(_, _) => Failure::fatal(Error::new(
                Kind::Server,
                format!("Response headers too large ({url})"),
            )),
            E::ConnectProxyFailed(why) => {
                network(format!("Proxy failed: {} ({url})", sanitize(&why)), false)
            }
            E::InvalidProxyUrl => Failure::fatal(Error::config(
                "Invalid proxy URL in HTTPS_PROXY / HTTP_PROXY / ALL_PROXY",
            )),
            other => Failure::fatal(Error::new(
                Kind::Network,
                format!("Request failed: {} ({url})", sanitize(&other.to_string())),
            )),
        }
    }

    fn from_io(err: std::io::Error, url: &str) -> Failure {
        use std::io::ErrorKind as K;
        // Reading the body reports ureq's own errors (a timeout above all) wrapped in io.
        if err.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
            if let Some(Ok(inner)) = err.into_inner().map(|e| e.downcast::<ureq::Error>()) {
                return Failure::from_ureq(*inner, url);
            }
            return Failure::fatal(Error::new(Kind::Network, format!("Network error ({url})")));
        }
        if matches!(err.kind(), K::TimedOut | K::WouldBlock) {
            // The whole command is bounded by --timeout: a timed-out request is not repeated.
            return Failure::fatal(timed_out(url));
        }
        let (message, reached_server) = match err.kind() {
            K::ConnectionRefused => (format!("Connection refused ({url})"), false),
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                (format!("Connection closed by the server ({url})"), true)
            }
            _ => (
                format!("Network error: {} ({url})", crate::error::io_reason(&err)),
                true,
            ),
        };
        let mut error = Error::new(Kind::Network, message);
        if err.kind() == K::ConnectionRefused {
            error = error.hint(
                "Is the API running? For a self-hosted server set TORALE_API_URL or --api-url",
            );
        }
        Failure {
            error,
            retryable: true,
            reached_server,
        }
    }
}

fn timed_out(url: &str) -> Error {
    Error::new(Kind::Network, format!("Request timed out ({url})"))
        .hint("Raise the limit with --timeout SECS or TORALE_TIMEOUT")
}

/// `body` with every occurrence of `secret` replaced by `masked`.
fn mask_secret(body: Vec<u8>, secret: &[u8], masked: &[u8]) -> Vec<u8> {
    let Some(first) = find_bytes(&body, secret, 0) else {
        return body;
    };
    let mut out = Vec::with_capacity(body.len());
    let mut copied = 0;
    let mut next = Some(first);
    while let Some(at) = next {
        out.extend_from_slice(&body[copied..at]);
        out.extend_from_slice(masked);
        copied = at + secret.len();
        next = find_bytes(&body, secret, copied);
    }
    out.extend_from_slice(&body[copied..]);
    out
}

/// The first place at or after `from` where `needle` occurs in `hay`. It scans for the
/// needle's fourth byte (in a key, the first random one, rare in ordinary text) and only
/// then compares, so a large body without the key costs one quick pass.
fn find_bytes(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let pivot = needle.len().min(4).checked_sub(1)?;
    let probe = needle[pivot];
    let mut at = from + pivot;
    while at < hay.len() {
        let offset = hay[at..].iter().position(|&b| b == probe)?;
        let start = at + offset - pivot;
        if hay[start..].starts_with(needle) {
            return Some(start);
        }
        at += offset + 1;
    }
    None
}

/// Where a redirect from `current` leads, or why torale will not follow it: no `Location`,
/// a location that is not a plain http(s) URL, or a downgrade from https to http.
fn redirect_target(
    current: &str,
    status: u16,
    location: Option<&str>,
) -> std::result::Result<String, Error> {
    let refuse = |message: String| Error::new(Kind::Server, message).with_status(status);
    let Some(location) = location.map(str::trim).filter(|l| !l.is_empty()) else {
        return Err(refuse(format!(
            "Server answered HTTP {status} without a Location ({current})"
        )));
    };
    if location
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(refuse(format!(
            "Refusing redirect to a malformed location ({})",
            sanitize(location)
        )));
    }
    let next = resolve_location(current, location);
    if ureq::http::Uri::try_from(next.as_str()).is_err() {
        return Err(refuse(format!(
            "Refusing redirect to a malformed location ({})",
            sanitize(location)
        )));
    }
    if !(next.starts_with("http://") || next.starts_with("https://")) {
        return Err(refuse(format!("Refusing redirect to {}", sanitize(&next)))
            .hint("torale follows redirects to http:// and https:// URLs only"));
    }
    if current.starts_with("https://") && next.starts_with("http://") {
        return Err(refuse(format!(
            "Refusing redirect from https to plain http ({})",
            sanitize(&next)
        ))
        .hint("Check --api-url; the server or a proxy in front of it downgrades to http"));
    }
    Ok(next)
}

fn too_large(url: &str) -> Error {
    Error::new(
        Kind::Server,
        format!(
            "Response larger than {} MiB refused ({url})",
            MAX_BODY / (1024 * 1024)
        ),
    )
}

/// The error a non-2xx response stands for, as every command reports it.
pub fn status_error(status: u16, body: &[u8], method: Method, url: &str) -> Error {
    let reply = Reply {
        status,
        body: body.to_vec(),
        retry_after: None,
        location: None,
        key_withheld: false,
        headers: Vec::new(),
    };
    match decode_reply(reply, method, url) {
        Err(err) => err,
        Ok(_) => Error::internal(format!("HTTP {status} is not an error")),
    }
}

/// Turn a reply into its JSON document, or into the error its status and body describe.
fn decode_reply(reply: Reply, method: Method, url: &str) -> Result<Json> {
    if (200..300).contains(&reply.status) {
        if reply.status == 204 || reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Json::null());
        }
        let status = reply.status;
        let malformed = |why: String| {
            Error::new(
                Kind::Server,
                format!(
                    "Malformed response from the server: {why} ({} {url})",
                    method.as_str()
                ),
            )
            .with_status(status)
        };
        let text =
            String::from_utf8(reply.body).map_err(|_| malformed("not valid UTF-8".into()))?;
        if let Some(page) = html_page(&text) {
            return Err(malformed(format!("{page} instead of JSON")).hint(
                "A proxy or captive portal answered instead of the API; check --api-url and the proxy settings",
            ));
        }
        return Json::parse(text).map_err(|err| malformed(format!("not JSON: {err}")));
    }
    let detail = error_message(&reply.body);
    let kind = match Kind::from_status(reply.status) {
        // The active-task cap shares 429 with the rate limiter but is a refusal, not a wait.
        Kind::RateLimited if !is_rate_limit_body(&reply.body) => Kind::Rejected,
        kind => kind,
    };
    let message = match detail {
        Some(detail) if reply.status < 500 => detail,
        Some(detail) => format!("Server error (HTTP {}): {detail}", reply.status),
        None => format!("HTTP {} from {} {url}", reply.status, method.as_str()),
    };
    let mut error = Error::new(kind, message).with_status(reply.status);
    if reply.key_withheld && matches!(reply.status, 401 | 403) {
        error = error.hint(
            "The API key was not sent after a redirect to another origin; set --api-url to the server that answers",
        );
    }
    if reply.status == 404 && error.message == "Not Found" {
        error = error.hint(
            "The server has no such route: the API URL must be the server's root, such as https://api.torale.ai (check --api-url, TORALE_API_URL, 'torale config')",
        );
    }
    match reply.status {
        401 => error = error.hint("Check the key with 'torale auth status'; create a new one at torale.ai under Settings > API Keys"),
        403 => error = error.hint("The server refused these credentials; check 'torale auth status'"),
        429 if is_rate_limit_body(&reply.body) => {
            error = error.hint("The API allows a few requests per minute on this route; wait a minute and try again")
        }
        _ => {}
    }
    Err(error)
}

/// One readable line from any error body: `detail` string, `detail` list, `error`, or text.
/// `None` when the body says nothing.
pub fn error_message(body: &[u8]) -> Option<String> {
    error_text(body).filter(|text| !text.trim().is_empty())
}

fn error_text(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        if let Some(detail) = value.get("detail") {
            match detail {
                Value::String(s) => return Some(sanitize(s)),
                Value::Array(items) => {
                    let parts: Vec<String> = items.iter().map(validation_item).collect();
                    if !parts.is_empty() {
                        return Some(parts.join("; "));
                    }
                }
                _ => {}
            }
        }
        match value.get("error") {
            Some(Value::String(s)) => return Some(sanitize(s)),
            Some(Value::Object(obj)) => {
                if let Some(Value::String(s)) = obj.get("message") {
                    return Some(sanitize(s));
                }
            }
            _ => {}
        }
        if let Some(Value::String(s)) = value.get("message") {
            return Some(sanitize(s));
        }
    }
    if let Some(page) = html_page(text) {
        return Some(format!("{page} (a proxy in the way?)"));
    }
    let first_line = text.lines().next().unwrap_or("");
    let mut line: String = first_line.chars().take(200).collect();
    if first_line.chars().count() > 200 {
        line.push('…');
    }
    Some(sanitize(&line))
}

/// `HTML page "<title>"` when `text` is an HTML document rather than an API answer.
fn html_page(text: &str) -> Option<String> {
    let text = text.trim_start();
    let head: String = text
        .chars()
        .take(9)
        .collect::<String>()
        .to_ascii_lowercase();
    if !(head.starts_with("<!doctype") || head.starts_with("<html")) {
        return None;
    }
    // Byte offsets found in the lower-cased copy are valid in `text`: ASCII lower-casing
    // keeps every character's length.
    let lower = text.to_ascii_lowercase();
    let title = lower
        .find("<title")
        .and_then(|start| lower[start..].find('>').map(|end| start + end + 1))
        .and_then(|start| {
            let rest = &text[start..];
            rest.find('<').map(|end| rest[..end].trim())
        })
        .filter(|t| !t.is_empty())
        .map(|t| {
            let mut title: String = t.chars().take(100).collect();
            if t.chars().count() > 100 {
                title.push('…');
            }
            title
        });
    Some(match title {
        Some(title) => format!("HTML page \"{}\"", sanitize(&title)),
        None => "HTML page".to_string(),
    })
}

/// A 422 entry `{"loc":["body","name"],"msg":"Field required"}` as `name: Field required`.
fn validation_item(item: &Value) -> String {
    let msg = item
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or("invalid value");
    let loc: Vec<String> = item
        .get("loc")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .enumerate()
                .filter(|(i, p)| {
                    !(*i == 0 && matches!(p.as_str(), Some("body" | "query" | "path" | "header")))
                })
                .map(|(_, p)| match p {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    if loc.is_empty() {
        sanitize(msg)
    } else {
        sanitize(&format!("{}: {msg}", loc.join(".")))
    }
}

/// HEAD's rate limiter answers `{"error": ...}`; its active-task cap answers
/// `{"detail": "Maximum of 50 active tasks reached. ..."}` with the same 429, and that one
/// must not be retried. Any other 429 (a proxy's, say) is a rate limit.
fn is_rate_limit_body(body: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => !value
            .get("detail")
            .and_then(Value::as_str)
            .is_some_and(|detail| detail.to_ascii_lowercase().contains("active task")),
        Err(_) => true,
    }
}

/// `Retry-After` as seconds or an HTTP date, capped.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_WAIT));
    }
    let when = parse_http_date(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(when.saturating_sub(now)).min(MAX_RETRY_WAIT))
}

/// Seconds since the epoch of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == parts[2])? as u64 + 1;
    let year: u64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    if hms.len() != 3 || !(1..=31).contains(&day) || !(1970..=9999).contains(&year) {
        return None;
    }
    if hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
        return None;
    }
    let days = crate::output::days_from_civil(year as i64, month as u32, day as u32);
    let days = u64::try_from(days).ok()?;
    Some(days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// Exponential backoff with jitter (1 s, 2 s, … ± 25%), never shorter than `Retry-After`.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let base = Duration::from_millis(1000u64 << (attempt - 1).min(5));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Map the clock's low bits onto 0.75..1.25 of the base delay.
    let factor = 0.75 + f64::from(nanos % 1000) / 2000.0;
    let jittered = base.mul_f64(factor);
    match retry_after {
        Some(min) if min > jittered => min,
        _ => jittered,
    }
}

pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://host:port` of a URL, with the default port made explicit.
fn origin(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => return String::new(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let has_port = match authority.rfind(':') {
        Some(colon) => !authority[colon..].contains(']'),
        None => false,
    };
    if has_port {
        format!("{scheme}://{authority}")
    } else {
        let port = if scheme == "https" { 443 } else { 80 };
        format!("{scheme}://{authority}:{port}")
    }
}

/// The absolute URL a `Location` header points to.
fn resolve_location(current: &str, location: &str) -> String {
    if let Some((scheme, rest)) = location.split_once("://") {
        let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if is_scheme {
            // `HTTP://` is `http://`: the scheme decides the downgrade check and the origin.
            return format!("{}://{rest}", scheme.to_ascii_lowercase());
        }
    }
    let (scheme, rest) = current.split_once("://").unwrap_or(("http", current));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(path) = location.strip_prefix("//") {
        return format!("{scheme}://{path}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = &rest[authority.len()..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(slash) => &path[..=slash],
        None => "/",
    };
    format!("{scheme}://{authority}{dir}{location}")
}

/// Whether a key sent to this URL would cross the network unencrypted.
fn sends_in_clear(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    let host = host.to_ascii_lowercase();
    !(host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.")
        || host == "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape() {
        assert_eq!(
            error_message(br#"{"detail":"Invalid API key"}"#).unwrap(),
            "Invalid API key"
        );
        let list = br#"{"detail":[{"type":"missing","loc":["body","search_query"],"msg":"Field required"},{"loc":["query","limit"],"msg":"Input should be a valid integer"}]}"#;
        assert_eq!(
            error_message(list).unwrap(),
            "search_query: Field required; limit: Input should be a valid integer"
        );
        assert_eq!(
            error_message(br#"{"error":"Rate limit exceeded: 10 per 1 minute"}"#).unwrap(),
            "Rate limit exceeded: 10 per 1 minute"
        );
        assert_eq!(
            error_message(b"Internal Server Error").unwrap(),
            "Internal Server Error"
        );
        assert!(
            error_message(b"<html><title>502 Bad Gateway</title></html>")
                .unwrap()
                .contains("502 Bad Gateway")
        );
        assert_eq!(error_message(b"  "), None);
        assert!(!error_message(b"{\"detail\":\"x\x1b[31m\"}")
            .unwrap()
            .contains('\x1b'));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("100000"), Some(MAX_RETRY_WAIT));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn origins_and_locations() {
        assert_eq!(origin("http://127.0.0.1:8000/api"), "http://127.0.0.1:8000");
        assert_eq!(
            origin("https://API.torale.ai/x"),
            "https://api.torale.ai:443"
        );
        assert_eq!(
            resolve_location("http://h:1/api/v1/tasks?x=1", "/api/v1/tasks/"),
            "http://h:1/api/v1/tasks/"
        );
        assert_eq!(resolve_location("http://h:1/a/b", "c"), "http://h:1/a/c");
        assert!(sends_in_clear("http://example.com"));
        assert!(!sends_in_clear("http://127.0.0.1:9"));
        assert!(!sends_in_clear("http://localhost:8000"));
        assert!(!sends_in_clear("https://example.com"));
    }

    #[test]
    fn redirects_torale_refuses() {
        let refused = |current: &str, location: Option<&str>| {
            redirect_target(current, 302, location).unwrap_err().message
        };
        // Never from https down to http, however the scheme is spelled.
        for location in ["http://api.example/x", "HTTP://api.example/x"] {
            assert!(
                refused("https://api.example/a", Some(location))
                    .starts_with("Refusing redirect from https to plain http"),
                "{location}"
            );
        }
        assert_eq!(
            redirect_target("http://h:1/a", 307, Some("HTTPS://h:2/b")).unwrap(),
            "https://h:2/b"
        );
        assert!(refused("https://h/a", None).contains("without a Location"));
        assert!(refused("https://h/a", Some("ftp://h/a")).starts_with("Refusing redirect to"));
        assert!(refused("https://h/a", Some("/x\u{1b}[2J")).contains("\\x1b[2J"));
        assert!(refused("https://h/a", Some("http://[::1/x")).contains("malformed location"));
        // A URL in the query does not make a relative location absolute.
        assert_eq!(
            redirect_target("https://h/a/b", 302, Some("/next?to=http://evil/")).unwrap(),
            "https://h/next?to=http://evil/"
        );
    }

    #[test]
    fn echoed_secrets_are_masked_in_bodies() {
        let key = b"sk_0123456789abcdefghijklmnop";
        let body = [&b"{\"a\":\""[..], key, b"\",\"b\":\"", key, b"\"}"].concat();
        assert_eq!(
            mask_secret(body, key, b"sk_...lmnop"),
            b"{\"a\":\"sk_...lmnop\",\"b\":\"sk_...lmnop\"}"
        );
        assert_eq!(mask_secret(b"sk_0123".to_vec(), key, b"x"), b"sk_0123");
        // Back to back, at both ends, next to near misses.
        let body = [&key[..], key, b"sk_01", key].concat();
        assert_eq!(mask_secret(body, key, b"K"), b"KKsk_01K");
        assert_eq!(find_bytes(b"abc", b"", 0), None);
        assert_eq!(find_bytes(b"xxsk_0sk_01", b"sk_01", 0), Some(6));
        assert_eq!(find_bytes(b"sk_01", b"sk_01", 1), None);
    }

    #[test]
    fn html_pages_are_named_by_their_title() {
        assert_eq!(
            html_page("\n<!DOCTYPE html><html><head><TITLE lang=en> Sign in </TITLE>").unwrap(),
            "HTML page \"Sign in\""
        );
        assert_eq!(
            html_page("<html><body>x</body></html>").unwrap(),
            "HTML page"
        );
        assert_eq!(html_page("{\"html\": 1}"), None);
        assert_eq!(
            html_page("<html><title>\u{e9}\u{e9}<"),
            Some("HTML page \"\u{e9}\u{e9}\"".into())
        );
    }

    #[test]
    fn cap_429_is_not_a_rate_limit() {
        assert!(is_rate_limit_body(b"<html>429 Too Many Requests</html>"));
        assert!(is_rate_limit_body(br#"{"detail":"Too many requests"}"#));
        assert!(is_rate_limit_body(
            br#"{"error":"Rate limit exceeded: 10 per 1 minute"}"#
        ));
        assert!(!is_rate_limit_body(
            br#"{"detail":"Maximum of 50 active tasks reached."}"#
        ));
    }
}
