//! The Torale API client, the only file that speaks HTTP (through ureq): one method per
//! endpoint, one retry policy, no redirects followed, the key masked in whatever comes back,
//! and the decoding of every error shape the servers produce.

use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use memchr::memmem;
use serde_json::Value;

use crate::error::{Error, Kind, Result};
use crate::model::{Json, Task};
use crate::output::{sanitize, shorten, stderr_line};
use crate::settings::{ApiKey, Settings};
use crate::url::{parse_api_url, redacted, ApiUrl};

/// Responses larger than this are refused without being read into memory.
pub const MAX_BODY: u64 = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ATTEMPTS: u32 = 3;
/// Never wait longer than this for one `Retry-After`.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// Server text quoted in a message is cut to this many characters.
const MAX_QUOTED: usize = 200;

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

/// Sleep for `duration` divided by `TORALE_TEST_SLEEP_DIVISOR` (for tests only: an integer
/// of at least 1, read once, default 1). Retry backoff, `Retry-After` and `--wait` polling
/// all wait through here, so tests never sleep real backoff.
pub fn sleep(duration: Duration) {
    std::thread::sleep(scaled(duration));
}

fn scaled(duration: Duration) -> Duration {
    static DIVISOR: OnceLock<u32> = OnceLock::new();
    let divisor = *DIVISOR.get_or_init(|| {
        std::env::var("TORALE_TEST_SLEEP_DIVISOR")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|&n| n >= 1)
            .unwrap_or(1)
    });
    duration / divisor
}

/// A blocking client for one API URL and key.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    /// The API URL, or why no request can be sent (a malformed URL or proxy setting). The
    /// first request reports it, so commands that send none still work.
    base: std::result::Result<ApiUrl, Error>,
    key: Option<ApiKey>,
    debug: bool,
    /// `--timeout`: one request, retries and their waits included, ends within it.
    timeout: Duration,
}

/// A finished exchange: status and the whole body (at most [`MAX_BODY`]), key masked.
struct Reply {
    status: u16,
    body: Vec<u8>,
    retry_after: Option<Duration>,
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
        let base = parse_api_url(&settings.api_url)
            .map_err(|why| {
                Error::usage(format!("Invalid API URL '{}': {why}", redacted(&settings.api_url)))
            })
            .and_then(|url| check_proxy_env().map(|()| url));
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Redirects are refused, not followed: see `redirected`.
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(settings.timeout))
            .user_agent(concat!("torale/", env!("CARGO_PKG_VERSION")))
            .accept("application/json")
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(root_certs()).build())
            .build();
        let client = Client {
            agent: ureq::Agent::new_with_config(config),
            base,
            key: key.cloned(),
            debug,
            timeout: settings.timeout,
        };
        if let (Some(_), Ok(url)) = (&client.key, &client.base) {
            if !url.is_https() && !url.is_loopback() {
                stderr_line(&format!(
                    "Warning: sending the API key over plain http:// to {url}; use https://"
                ));
            }
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
        self.call(Method::Post, &format!("/api/v1/tasks/{id}/execute"), &[], None)
    }

    /// This client with its limit cut so that a request, retries included, ends by `until`
    /// (a `--wait` deadline).
    pub fn until(&self, until: Instant) -> Client {
        let left = until.saturating_duration_since(Instant::now());
        Client { timeout: self.timeout.min(left.max(Duration::from_millis(1))), ..self.clone() }
    }

    pub fn executions(&self, id: &str, limit: usize) -> Result<Json> {
        let query = [("limit", limit.to_string())];
        self.call(Method::Get, &format!("/api/v1/tasks/{id}/executions"), &query, None)
    }

    pub fn notifications(&self, id: &str, limit: usize) -> Result<Json> {
        let query = [("limit", limit.to_string())];
        self.call(Method::Get, &format!("/api/v1/tasks/{id}/notifications"), &query, None)
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
        let mut url = self.url(path)?;
        if !query.is_empty() {
            let pairs: Vec<String> =
                query.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
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

    /// Any method on any path of the API (`torale api`): the same retries, redirect refusal
    /// and masking as every command, and the response whatever its status.
    pub fn raw(&self, method: Method, path: &str, body: Option<&[u8]>) -> Result<RawReply> {
        let url = self.url(path)?;
        let reply = self
            .with_retries(method, &url, body)
            .map_err(|err| self.redact_error(self.proxy_hint(err)))?;
        Ok(RawReply { status: reply.status, headers: reply.headers, body: reply.body })
    }

    fn url(&self, path: &str) -> Result<String> {
        match &self.base {
            Ok(base) => Ok(format!("{base}{path}")),
            Err(err) => Err(err.clone()),
        }
    }

    /// `text` with the key masked, also where it came back percent-encoded or JSON-escaped.
    fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(key) => mask_text(text, key.expose(), &key.masked()),
            None => text.to_string(),
        }
    }

    /// A network failure while requests go through a proxy names the proxy: it, not the
    /// API, may be what failed.
    fn proxy_hint(&self, err: Error) -> Error {
        if err.kind != Kind::Network {
            return err;
        }
        let (Some(proxy), Ok(base)) = (self.agent.config().proxy(), &self.base) else {
            return err;
        };
        let bypassed =
            base.as_str().parse::<ureq::http::Uri>().is_ok_and(|uri| proxy.is_no_proxy(&uri));
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
    /// failures; POST only when it never reached the server or got a rate-limit 429. The
    /// attempts and the waits between them all fit in `--timeout`.
    fn with_retries(&self, method: Method, url: &str, body: Option<&[u8]>) -> Result<Reply> {
        let deadline = Instant::now() + self.timeout;
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let outcome = self.exchange(method, url, body, remaining);
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
            // The wait as the user reads it; only the sleep itself is shortened for tests.
            let wait = backoff(attempt, wait_hint);
            if Instant::now() + scaled(wait) >= deadline {
                let out_of_time = format!(
                    "Not retried: attempt {} of {MAX_ATTEMPTS} would end after --timeout ({} s)",
                    attempt + 1,
                    self.timeout.as_secs()
                );
                return outcome.map_err(|failure| failure.error.hint(out_of_time));
            }
            stderr_line(&self.redact(&format!(
                "{why}; waiting {:.1}s before attempt {} of {MAX_ATTEMPTS}",
                wait.as_secs_f64(),
                attempt + 1
            )));
            sleep(wait);
            attempt += 1;
        }
    }

    /// One HTTP exchange within `remaining`, with the `--debug` trace. A redirect is refused.
    fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&[u8]>,
        remaining: Duration,
    ) -> std::result::Result<Reply, Failure> {
        let mut builder = ureq::http::Request::builder().method(method.as_str()).uri(url);
        if let Some(key) = &self.key {
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
            if let Some(key) = &self.key {
                stderr_line(&format!("> Authorization: Bearer {}", key.masked()));
            }
        }
        let started = Instant::now();
        let connect_limit = CONNECT_TIMEOUT.min(remaining);
        let request = builder.body(body.unwrap_or_default()).map_err(|err| {
            Failure::fatal(Error::usage(format!("Invalid request URL {url}: {err}")))
        })?;
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(remaining))
            .timeout_connect(Some(connect_limit))
            .build();
        let attempt = Attempt { url, connect_limit, timeout: self.timeout };
        let response = self.agent.run(request).map_err(|err| attempt.failure(err))?;

        let status = response.status().as_u16();
        let headers = response.headers();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let retry_after = header("retry-after").and_then(parse_retry_after);
        let header_list: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes());
                (name.as_str().to_string(), self.redact(&value))
            })
            .collect();
        if self.debug {
            stderr_line(&format!("< {status} ({} ms)", started.elapsed().as_millis()));
            for (name, value) in &header_list {
                stderr_line(&format!("< {name}: {}", sanitize(value)));
            }
        }
        if (300..400).contains(&status) {
            let location = header("location").map(|l| self.redact(l));
            return Err(Failure::fatal(redirected(status, location.as_deref(), url)));
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
            .map_err(|err| attempt.io_failure(err))?;
        if bytes.len() as u64 > MAX_BODY {
            return Err(Failure::fatal(too_large(url)));
        }
        if let Some(key) = &self.key {
            bytes = mask_body(bytes, key.expose(), &key.masked());
        }
        Ok(Reply { status, body: bytes, retry_after, headers: header_list })
    }
}

/// The built-in root certificates, or the PEM bundle `SSL_CERT_FILE` names (in its place, as
/// OpenSSL and curl read it). An unreadable or empty bundle is reported and the built-in
/// roots are used.
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

/// The proxy variables, in the order ureq reads them (the first one set is used).
const PROXY_VARS: [&str; 6] =
    ["ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];

/// Refuse proxy settings ureq would silently pass over: it skips a value it cannot parse, and
/// connects directly when a SOCKS proxy is set (this build has no SOCKS support). Either way
/// requests would go around the proxy the user set.
fn check_proxy_env() -> Result<()> {
    for name in PROXY_VARS {
        if let Some(value) = std::env::var_os(name) {
            check_proxy(name, value.to_str())?;
        }
    }
    Ok(())
}

/// Check one proxy variable's value (`None`: not valid UTF-8); an empty value is unset.
fn check_proxy(name: &str, value: Option<&str>) -> Result<()> {
    const SUPPORTED: &str =
        "torale supports http:// and https:// proxies (HTTP CONNECT); unset it or use one of those";
    let Some(value) = value else {
        return Err(Error::config(format!("{name} is not valid UTF-8")).hint(SUPPORTED));
    };
    if value.trim().is_empty() {
        return Ok(());
    }
    let shown = sanitize(&shorten(&redacted(value.trim()), MAX_QUOTED));
    match ureq::Proxy::new(value.trim()) {
        Ok(proxy) => match proxy.protocol() {
            ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https => Ok(()),
            other => Err(Error::config(format!("Unsupported proxy in {name}: {other} ({shown})"))
                .hint(SUPPORTED)),
        },
        Err(_) => {
            Err(Error::config(format!("Invalid proxy URL in {name}: '{shown}'")).hint(SUPPORTED))
        }
    }
}

/// What a failed exchange needs for its message: the URL and the limits it ran under.
struct Attempt<'a> {
    url: &'a str,
    connect_limit: Duration,
    timeout: Duration,
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
        Failure { error, retryable: false, reached_server: true }
    }
}

impl Attempt<'_> {
    fn failure(&self, err: ureq::Error) -> Failure {
        use ureq::Error as E;
        let url = self.url;
        match err {
            E::Io(io) => self.io_failure(io),
            E::HostNotFound => Failure::fatal(not_resolved(url)),
            E::ConnectionFailed => Failure {
                error: Error::new(Kind::Network, format!("Connection failed ({url})")),
                retryable: true,
                reached_server: false,
            },
            E::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => Failure {
                error: Error::new(Kind::Network, format!("Connection timed out ({url})")).hint(
                    format!(
                        "No connection within {} s: check the host and port in the API URL, a firewall or the proxy",
                        self.connect_limit.as_secs_f64().ceil()
                    ),
                ),
                retryable: true,
                reached_server: false,
            },
            // Any other timeout is the request's whole budget (`--timeout`) running out.
            E::Timeout(_) => Failure::fatal(self.timed_out()),
            E::BodyExceedsLimit(_) => Failure::fatal(too_large(url)),
            E::Rustls(why) => Failure::fatal(tls_error(&why, url)),
            E::Tls(why) => Failure::fatal(
                Error::new(Kind::Network, format!("TLS: {why} ({url})")).hint(TLS_HINT),
            ),
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
            E::ConnectProxyFailed(why) => Failure {
                error: Error::new(
                    Kind::Network,
                    format!("Proxy failed: {} ({url})", sanitize(&why)),
                ),
                retryable: true,
                reached_server: false,
            },
            E::InvalidProxyUrl => Failure::fatal(Error::config(
                "Invalid proxy URL in ALL_PROXY / HTTPS_PROXY / HTTP_PROXY",
            )),
            other => Failure::fatal(Error::new(
                Kind::Network,
                format!("Request failed: {} ({url})", sanitize(&other.to_string())),
            )),
        }
    }

    fn io_failure(&self, err: std::io::Error) -> Failure {
        use std::io::ErrorKind as K;
        let url = self.url;
        // Reading the body reports ureq's own errors (a timeout above all) wrapped in io.
        if err.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
            if let Some(Ok(inner)) = err.into_inner().map(|e| e.downcast::<ureq::Error>()) {
                return self.failure(*inner);
            }
            return Failure::fatal(Error::new(Kind::Network, format!("Network error ({url})")));
        }
        if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            return Failure::fatal(tls_error(tls, url));
        }
        // The C library's resolver failed: std words this error itself.
        if err.to_string().starts_with("failed to lookup address information") {
            return Failure::fatal(not_resolved(url));
        }
        if matches!(err.kind(), K::TimedOut | K::WouldBlock) {
            return Failure::fatal(self.timed_out());
        }
        let (message, reached_server) = match err.kind() {
            K::ConnectionRefused => (format!("Connection refused ({url})"), false),
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                (format!("Connection closed by the server ({url})"), true)
            }
            _ => (format!("Network error: {} ({url})", crate::error::io_reason(&err)), true),
        };
        let mut error = Error::new(Kind::Network, message);
        if err.kind() == K::ConnectionRefused {
            error = error.hint(
                "Is the API running? For a self-hosted server set TORALE_API_URL or --api-url",
            );
        }
        Failure { error, retryable: true, reached_server }
    }

    fn timed_out(&self) -> Error {
        Error::new(Kind::Network, format!("Request timed out ({})", self.url)).hint(format!(
            "Raise the limit with --timeout SECS or TORALE_TIMEOUT: no complete answer came within {} s",
            self.timeout.as_secs()
        ))
    }
}

fn not_resolved(url: &str) -> Error {
    Error::new(Kind::Network, format!("Could not resolve host ({url})"))
        .hint("Check the host name in the API URL (--api-url, TORALE_API_URL, 'torale config')")
}

const TLS_HINT: &str = "If the API uses a private certificate authority, set SSL_CERT_FILE to a PEM file holding its certificate";

/// One readable line for a TLS failure: what is wrong with the server's certificate or
/// handshake, in words rather than rustls's type names.
fn tls_error(err: &rustls::Error, url: &str) -> Error {
    use rustls::{CertificateError as C, Error as R};
    let what = match err {
        R::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => {
                "the server's certificate is not trusted (issued by an unknown authority)".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the server's certificate is not valid for this host name".into()
            }
            C::Expired | C::ExpiredContext { .. } => "the server's certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet".into()
            }
            C::Revoked => "the server's certificate has been revoked".into(),
            C::Other(other) => {
                format!("the server's certificate is not trusted ({})", words(&other.to_string()))
            }
            other => format!(
                "the server's certificate is not trusted ({})",
                words(&format!("{other:?}"))
            ),
        },
        R::NoCertificatesPresented => "the server sent no certificate".into(),
        R::AlertReceived(alert) => {
            format!("the server refused the handshake ({})", words(&format!("{alert:?}")))
        }
        R::InvalidMessage(_) => "the server did not answer in TLS (is it plain http?)".into(),
        other => format!("handshake failed ({})", words(&format!("{other:?}"))),
    };
    Error::new(Kind::Network, format!("TLS: {what} ({url})")).hint(TLS_HINT)
}

/// `CaUsedAsEndEntity` (the last name in a Rust debug text) as `ca used as end entity`.
fn words(debug: &str) -> String {
    let name = debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .rfind(|w| !w.is_empty())
        .unwrap_or("unknown");
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `body` with every occurrence of the key masked. When the body holds an escape that could
/// spell the key another way (`\u0073k_…` in JSON, `sk%5F…` in a URL), each JSON string whose
/// decoded text holds the key is rewritten, decoded and masked.
fn mask_body(body: Vec<u8>, key: &str, masked: &str) -> Vec<u8> {
    let body = replace_all(body, key.as_bytes(), masked.as_bytes());
    if memmem::find(&body, b"\\u").is_none() && memchr::memchr(b'%', &body).is_none() {
        return body;
    }
    mask_encoded_strings(body, key, masked)
}

/// `hay` with every `needle` replaced by `with`; `hay` itself when there is none.
fn replace_all(hay: Vec<u8>, needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() {
        return hay;
    }
    let mut found = memmem::find_iter(&hay, needle).peekable();
    if found.peek().is_none() {
        return hay;
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut copied = 0;
    for at in found {
        out.extend_from_slice(&hay[copied..at]);
        out.extend_from_slice(with);
        copied = at + needle.len();
    }
    out.extend_from_slice(&hay[copied..]);
    out
}

/// The JSON string literals of `body` whose decoded text holds the key, rewritten masked.
fn mask_encoded_strings(body: Vec<u8>, key: &str, masked: &str) -> Vec<u8> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut at = 0;
    while let Some(open) = memchr::memchr(b'"', &body[at..]).map(|i| at + i) {
        let mut end = open + 1;
        let mut escaped = false;
        let close = loop {
            match memchr::memchr2(b'"', b'\\', body.get(end..).unwrap_or_default()) {
                Some(i) if body[end + i] == b'\\' => {
                    escaped = true;
                    end += i + 2;
                }
                Some(i) => break Some(end + i),
                None => break None,
            }
        };
        let Some(close) = close else { break };
        let literal = &body[open..=close];
        if escaped || memchr::memchr(b'%', literal).is_some() {
            if let Some(text) = remasked_literal(literal, key, masked) {
                let out = out.get_or_insert_with(|| Vec::with_capacity(body.len()));
                out.extend_from_slice(&body[copied..open]);
                out.extend_from_slice(text.as_bytes());
                copied = close + 1;
            }
        }
        at = close + 1;
    }
    match out {
        None => body,
        Some(mut out) => {
            out.extend_from_slice(&body[copied..]);
            out
        }
    }
}

/// A JSON string literal written again with the key masked, when its decoded text holds it.
fn remasked_literal(literal: &[u8], key: &str, masked: &str) -> Option<String> {
    let text: String = serde_json::from_slice(literal).ok()?;
    let decoded = decode_escapes(&text);
    if !decoded.contains(key) {
        return None;
    }
    serde_json::to_string(&decoded.replace(key, masked)).ok()
}

/// `text` with the key masked; where the key is only visible once `%XX` and `\uXXXX`
/// escapes are decoded, the decoded text is returned, masked.
fn mask_text(text: &str, key: &str, masked: &str) -> String {
    let text = text.replace(key, masked);
    if !text.contains(['%', '\\']) {
        return text;
    }
    let decoded = decode_escapes(&text);
    if decoded.contains(key) {
        decoded.replace(key, masked)
    } else {
        text
    }
}

/// `text` with `%XX` and `\uXXXX` escapes decoded (invalid UTF-8 replaced); other text as is.
fn decode_escapes(text: &str) -> String {
    let b = text.as_bytes();
    let hex = |from: usize, len: usize| -> Option<u32> {
        let digits = text.get(from..from + len)?;
        if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if let Some(byte) = hex(i + 1, 2) {
                    out.push(byte as u8);
                    i += 3;
                    continue;
                }
            }
            b'\\' if b.get(i + 1) == Some(&b'u') => {
                if let Some(c) = hex(i + 2, 4).and_then(char::from_u32) {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                    continue;
                }
            }
            _ => {}
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The error for a 3xx answer. Redirects are never followed: the API needs none (collection
/// paths carry their trailing slash), and following one could carry the key to another
/// origin or down from https to http.
fn redirected(status: u16, location: Option<&str>, url: &str) -> Error {
    let error = match location.map(str::trim).filter(|l| !l.is_empty()) {
        Some(location) => Error::new(
            Kind::Server,
            format!(
                "The server redirected to {} (HTTP {status} from {url})",
                sanitize(&shorten(location, MAX_QUOTED))
            ),
        )
        .hint("torale does not follow redirects, so the API key goes nowhere but the API URL; use that URL with --api-url"),
        None => Error::new(
            Kind::Server,
            format!("The server answered HTTP {status} (a redirect) without a Location ({url})"),
        ),
    };
    error.with_status(status)
}

fn too_large(url: &str) -> Error {
    Error::new(
        Kind::Server,
        format!("Response larger than {} MiB refused ({url})", MAX_BODY / (1024 * 1024)),
    )
}

/// The error a non-2xx response stands for, as every command reports it.
pub fn status_error(status: u16, body: &[u8], method: Method, url: &str) -> Error {
    let reply = Reply { status, body: body.to_vec(), retry_after: None, headers: Vec::new() };
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
                format!("Malformed response from the server: {why} ({} {url})", method.as_str()),
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
                Value::String(s) => return Some(quoted(s)),
                Value::Array(items) => {
                    const SHOWN: usize = 10;
                    let mut parts: Vec<String> =
                        items.iter().take(SHOWN).map(validation_item).collect();
                    if items.len() > SHOWN {
                        parts.push(format!("and {} more", items.len() - SHOWN));
                    }
                    if !parts.is_empty() {
                        return Some(parts.join("; "));
                    }
                }
                _ => {}
            }
        }
        match value.get("error") {
            Some(Value::String(s)) => return Some(quoted(s)),
            Some(Value::Object(obj)) => {
                if let Some(Value::String(s)) = obj.get("message") {
                    return Some(quoted(s));
                }
            }
            _ => {}
        }
        if let Some(Value::String(s)) = value.get("message") {
            return Some(quoted(s));
        }
    }
    if let Some(page) = html_page(text) {
        return Some(format!("{page} (a proxy in the way?)"));
    }
    Some(quoted(text.lines().next().unwrap_or("")))
}

/// Server text as one safe line of at most [`MAX_QUOTED`] characters: a 10 MiB `detail`
/// does not become a 10 MiB line on stderr.
fn quoted(text: &str) -> String {
    sanitize(&shorten(text, MAX_QUOTED))
}

/// `HTML page "<title>"` when `text` is an HTML document rather than an API answer.
fn html_page(text: &str) -> Option<String> {
    let text = text.trim_start();
    let head: String = text.chars().take(9).collect::<String>().to_ascii_lowercase();
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
        .map(|t| shorten(t, 100));
    Some(match title {
        Some(title) => format!("HTML page \"{}\"", sanitize(&title)),
        None => "HTML page".to_string(),
    })
}

/// A 422 entry `{"loc":["body","name"],"msg":"Field required"}` as `name: Field required`.
fn validation_item(item: &Value) -> String {
    let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid value");
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
        quoted(msg)
    } else {
        quoted(&format!("{}: {msg}", loc.join(".")))
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

/// `Retry-After` in seconds, capped; the HTTP-date form is not used by the API and ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs = value.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_WAIT))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape() {
        assert_eq!(error_message(br#"{"detail":"Invalid API key"}"#).unwrap(), "Invalid API key");
        let list = br#"{"detail":[{"type":"missing","loc":["body","search_query"],"msg":"Field required"},{"loc":["query","limit"],"msg":"Input should be a valid integer"}]}"#;
        assert_eq!(
            error_message(list).unwrap(),
            "search_query: Field required; limit: Input should be a valid integer"
        );
        assert_eq!(
            error_message(br#"{"error":"Rate limit exceeded: 10 per 1 minute"}"#).unwrap(),
            "Rate limit exceeded: 10 per 1 minute"
        );
        assert_eq!(error_message(b"Internal Server Error").unwrap(), "Internal Server Error");
        assert!(error_message(b"<html><title>502 Bad Gateway</title></html>")
            .unwrap()
            .contains("502 Bad Gateway"));
        assert_eq!(error_message(b"  "), None);
        assert!(!error_message(b"{\"detail\":\"x\x1b[31m\"}").unwrap().contains('\x1b'));
    }

    #[test]
    fn huge_details_are_cut() {
        let huge = "x".repeat(10 * 1024 * 1024);
        for body in [
            format!(r#"{{"detail":"{huge}"}}"#),
            format!(r#"{{"error":{{"message":"{huge}"}}}}"#),
            format!(r#"{{"detail":[{{"loc":["body","q"],"msg":"{huge}"}}]}}"#),
            huge.clone(),
        ] {
            let message = error_message(body.as_bytes()).unwrap();
            assert!(message.chars().count() <= MAX_QUOTED + 1, "{}", message.len());
            assert!(message.ends_with('…'));
        }
        let many: Vec<String> =
            (0..50).map(|i| format!(r#"{{"loc":["body","f{i}"],"msg":"bad"}}"#)).collect();
        let message = error_message(format!(r#"{{"detail":[{}]}}"#, many.join(",")).as_bytes());
        assert!(message.unwrap().ends_with("f9: bad; and 40 more"));
    }

    #[test]
    fn retry_after_is_seconds_only() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("100000"), Some(MAX_RETRY_WAIT));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn redirects_are_refused_with_the_location() {
        let err = redirected(307, Some("https://other.example/api\u{1b}[2J"), "http://h/x");
        assert_eq!(err.kind, Kind::Server);
        assert_eq!(err.status, Some(307));
        assert!(err
            .message
            .starts_with("The server redirected to https://other.example/api\\x1b[2J"));
        assert!(err.hints[0].contains("--api-url"));
        assert!(redirected(302, None, "http://h/x").message.contains("without a Location"));
    }

    const KEY: &str = "sk_0123456789abcdefghijklmnop";
    const MASKED: &str = "sk_...lmnop";

    #[test]
    fn echoed_keys_are_masked_in_bodies() {
        let body = format!(r#"{{"a":"{KEY}","b":"{KEY}"}}"#).into_bytes();
        assert_eq!(mask_body(body, KEY, MASKED), br#"{"a":"sk_...lmnop","b":"sk_...lmnop"}"#);
        assert_eq!(mask_body(b"sk_0123".to_vec(), KEY, "x"), b"sk_0123");
        // Back to back, at both ends, next to near misses.
        let body = [KEY, KEY, "sk_01", KEY].concat().into_bytes();
        assert_eq!(mask_body(body, KEY, "K"), b"KKsk_01K");
        // JSON-escaped and percent-encoded: the string is decoded and masked.
        let escaped = format!(
            r#"{{"a":"\u0073{}","n":"50%","u":"https://x/?k=sk%5F{}&z=1"}}"#,
            &KEY[1..],
            &KEY[3..]
        );
        let masked = String::from_utf8(mask_body(escaped.into_bytes(), KEY, MASKED)).unwrap();
        assert_eq!(masked, r#"{"a":"sk_...lmnop","n":"50%","u":"https://x/?k=sk_...lmnop&z=1"}"#);
        let value: Value = serde_json::from_str(&masked).unwrap();
        assert_eq!(value["a"], MASKED);
        // Escapes that spell something else are left as they were.
        let other = br#"{"a":"caf\u00e9 \"q\" 100%"}"#.to_vec();
        assert_eq!(mask_body(other.clone(), KEY, MASKED), other);
    }

    #[test]
    fn echoed_keys_are_masked_in_messages() {
        assert_eq!(mask_text(&format!("bad {KEY}"), KEY, MASKED), "bad sk_...lmnop");
        let encoded = format!("https://x/?k=sk%5F{}", &KEY[3..]);
        assert_eq!(mask_text(&encoded, KEY, MASKED), "https://x/?k=sk_...lmnop");
        let escaped = format!("\\u0073{}", &KEY[1..]);
        assert_eq!(mask_text(&escaped, KEY, MASKED), MASKED);
        assert_eq!(mask_text("50% done \\n", KEY, MASKED), "50% done \\n");
    }

    #[test]
    fn proxy_settings_torale_cannot_honour_are_refused() {
        assert!(check_proxy("HTTPS_PROXY", Some("http://proxy:3128")).is_ok());
        assert!(check_proxy("https_proxy", Some("https://user:pw@proxy")).is_ok());
        assert!(check_proxy("HTTP_PROXY", Some("proxy.internal:8080")).is_ok());
        assert!(check_proxy("HTTP_PROXY", Some("")).is_ok());
        let socks = check_proxy("ALL_PROXY", Some("socks5://user:secret@h:1080")).unwrap_err();
        assert_eq!(socks.kind, Kind::Config);
        assert!(
            socks.message.starts_with("Unsupported proxy in ALL_PROXY: SOCKS5"),
            "{}",
            socks.message
        );
        assert!(!socks.message.contains("secret"));
        assert!(socks.hints[0].contains("http:// and https://"));
        let bad = check_proxy("http_proxy", Some("not a url")).unwrap_err();
        assert_eq!(bad.exit_code(), 3);
        assert_eq!(bad.message, "Invalid proxy URL in http_proxy: 'not a url'");
        assert!(check_proxy("HTTP_PROXY", None).is_err());
    }

    #[test]
    fn tls_failures_read_as_one_line() {
        use rustls::{CertificateError, Error as R, OtherError};
        let unknown =
            tls_error(&R::InvalidCertificate(CertificateError::UnknownIssuer), "https://h");
        assert_eq!(
            unknown.message,
            "TLS: the server's certificate is not trusted (issued by an unknown authority) (https://h)"
        );
        assert!(unknown.hints[0].contains("SSL_CERT_FILE"));
        #[derive(Debug)]
        struct CaUsedAsEndEntity;
        impl std::fmt::Display for CaUsedAsEndEntity {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{self:?}")
            }
        }
        impl std::error::Error for CaUsedAsEndEntity {}
        let other = R::InvalidCertificate(CertificateError::Other(OtherError(
            std::sync::Arc::new(CaUsedAsEndEntity),
        )));
        assert_eq!(
            tls_error(&other, "https://h").message,
            "TLS: the server's certificate is not trusted (ca used as end entity) (https://h)"
        );
        // Through the io error rustls reports the handshake with: not retried, exit 10.
        let attempt = Attempt {
            url: "https://h",
            connect_limit: CONNECT_TIMEOUT,
            timeout: Duration::from_secs(30),
        };
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, other);
        let failure = attempt.io_failure(io);
        assert!(!failure.retryable);
        assert_eq!(failure.error.exit_code(), 10);
        assert!(!failure.error.message.contains("OtherError"));
    }

    #[test]
    fn unresolvable_hosts_are_not_retried() {
        let attempt = Attempt {
            url: "https://nowhere.invalid",
            connect_limit: CONNECT_TIMEOUT,
            timeout: Duration::from_secs(30),
        };
        let io = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        let failure = attempt.io_failure(io);
        assert!(!failure.retryable);
        assert!(failure.error.hints[0].contains("host name in the API URL"));
        assert!(!attempt.failure(ureq::Error::HostNotFound).retryable);
        let connect = attempt.failure(ureq::Error::Timeout(ureq::Timeout::Connect));
        assert!(connect.retryable && !connect.reached_server);
        let global = attempt.failure(ureq::Error::Timeout(ureq::Timeout::Global));
        assert!(!global.retryable);
        assert!(global.error.hints[0].ends_with("within 30 s"));
    }

    #[test]
    fn html_pages_are_named_by_their_title() {
        assert_eq!(
            html_page("\n<!DOCTYPE html><html><head><TITLE lang=en> Sign in </TITLE>").unwrap(),
            "HTML page \"Sign in\""
        );
        assert_eq!(html_page("<html><body>x</body></html>").unwrap(), "HTML page");
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
        assert!(is_rate_limit_body(br#"{"error":"Rate limit exceeded: 10 per 1 minute"}"#));
        assert!(!is_rate_limit_body(br#"{"detail":"Maximum of 50 active tasks reached."}"#));
    }
}
