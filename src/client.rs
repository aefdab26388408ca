//! The Torale API client, the only file that speaks HTTP (through ureq): one method per
//! endpoint, one retry policy, no redirects followed, the key masked in whatever comes back,
//! and the decoding of every error shape the servers produce.

use std::io::Read;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use memchr::memmem;
use serde_json::Value;

use crate::error::{one_line, Error, Kind, Result};
use crate::model::{Json, Task};
use crate::output::{sanitize, shorten, stderr_line};
use crate::settings::{check_api_url, ApiKey, Settings};
use crate::url::{redacted, ApiUrl};

/// Responses larger than this are refused without being read into memory.
pub const MAX_BODY: u64 = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ATTEMPTS: u32 = 3;
/// Never wait longer than this for one `Retry-After`.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// Server text quoted in a message is cut to this many characters.
const MAX_QUOTED: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The method's name; the list follows the order of the variants.
    pub fn as_str(self) -> &'static str {
        ["GET", "POST", "PUT", "PATCH", "DELETE"][self as usize]
    }

    /// Whether repeating the request is harmless once the server may have seen it.
    fn idempotent(self) -> bool {
        !matches!(self, Method::Post | Method::Patch)
    }
}

/// Sleep for `duration` divided by `TORALE_TEST_SLEEP_DIVISOR` (for tests only: an integer
/// of at least 1, default 1). Retry backoff, `Retry-After` and `--wait` polling
/// all wait through here, so tests never sleep real backoff.
pub fn sleep(duration: Duration) {
    std::thread::sleep(scaled(duration));
}

fn scaled(duration: Duration) -> Duration {
    let divisor = std::env::var("TORALE_TEST_SLEEP_DIVISOR").unwrap_or_default();
    duration / divisor.trim().parse::<NonZeroU32>().map_or(1, u32::from)
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

/// A response of any status: the whole body (at most [`MAX_BODY`]), key masked, and the
/// headers, names in lower case (for `torale api -i`).
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Client {
    /// A client for the effective settings; `key` is `None` in NOAUTH mode.
    pub fn new(settings: &Settings, key: Option<&ApiKey>, debug: bool) -> Client {
        let base = check_api_url(&settings.api_url).and_then(|url| check_proxy_env().map(|()| url));
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Redirects are refused, not followed: see `exchange`. Timeouts are set per request.
            .max_redirects(0)
            // Requests are small: 16 KB holds any request head, and bodies pass through in parts.
            .output_buffer_size(16 * 1024)
            .user_agent(concat!("torale/", env!("CARGO_PKG_VERSION")))
            .accept("application/json")
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(root_certs())
                    .unversioned_rustls_crypto_provider(std::sync::Arc::new(crate::tls::provider()))
                    .build(),
            )
            .build();
        if let Some(url) = base.as_ref().ok().filter(|u| key.is_some() && !u.https && !u.loopback) {
            let url = redacted(&url.text);
            stderr_line(&format!(
                "Warning: sending the API key over plain http:// to {url}; use https://"
            ));
        }
        let agent = ureq::Agent::new_with_config(config);
        Client { agent, base, key: key.cloned(), debug, timeout: settings.timeout }
    }

    /// `GET /auth/me`: the account the key belongs to.
    pub fn me(&self) -> Result<Json> {
        self.call(Method::Get, "/auth/me", &[], None)
    }

    /// `GET /api/v1/tasks/` with a state filter both server generations understand.
    pub fn list_tasks(&self, state: Option<&str>) -> Result<Json> {
        let mut query: Vec<_> =
            state.map(|state| ("state", state.to_string())).into_iter().collect();
        let flag =
            [("active", "true"), ("paused", "false")].into_iter().find(|(s, _)| state == Some(*s));
        query.extend(flag.map(|(_, is_active)| ("is_active", is_active.to_string())));
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
        let pairs: Vec<String> =
            query.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
        let sep = if pairs.is_empty() { "" } else { "?" };
        let path = format!("{path}{sep}{}", pairs.join("&"));
        let body = body.map(|value| value.to_string().into_bytes());
        let reply = self.raw(method, &path, body.as_deref())?;
        let url = format!("{}{path}", self.base.as_ref().map_or("", |base| &base.text));
        decode_reply(reply, method, &url).map_err(|err| self.redact_error(err))
    }

    /// Any method on any path of the API (`torale api`): the same retries, redirect refusal
    /// and masking as every command, and the response whatever its status.
    pub fn raw(&self, method: Method, path: &str, body: Option<&[u8]>) -> Result<Reply> {
        let url = format!("{}{path}", self.base.as_ref().map_err(Error::clone)?.text);
        self.with_retries(method, &url, body).map_err(|err| self.redact_error(self.proxy_hint(err)))
    }

    /// `text` with the key masked, also where it came back percent-encoded or JSON-escaped.
    /// Terminal-safe too: unmasking an escaped key decodes the text around it as well.
    fn redact(&self, text: &str) -> String {
        let mask = |key: &ApiKey| mask_text(text, key.expose(), &key.masked());
        one_line(self.key.as_ref().map_or_else(|| text.to_string(), mask))
    }

    fn redact_error(&self, mut err: Error) -> Error {
        err.message = self.redact(&err.message);
        err.hints = err.hints.iter().map(|hint| self.redact(hint)).collect();
        err
    }

    /// A network failure while requests go through a proxy names the proxy: it, not the
    /// API, may be what failed.
    fn proxy_hint(&self, err: Error) -> Error {
        let proxy = self.agent.config().proxy().filter(|_| err.kind == Kind::Network);
        let (Some(proxy), Ok(base)) = (proxy, &self.base) else { return err };
        if base.text.parse::<ureq::http::Uri>().is_ok_and(|uri| proxy.is_no_proxy(&uri)) {
            return err;
        }
        let (host, port) = (proxy.host(), proxy.port());
        err.hint(format!(
            "Requests go through the proxy {host}:{port} (from ALL_PROXY/HTTPS_PROXY/HTTP_PROXY): check it, or add the API host to NO_PROXY"
        ))
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
                    let retry_after = reply.headers.iter().find(|(name, _)| name == "retry-after");
                    let wait = retry_after.and_then(|(_, value)| parse_retry_after(value));
                    let retry = rate_limited || (transient && method.idempotent());
                    (retry, wait, format!("HTTP {}", reply.status))
                }
                Err((error, retry)) => (*retry, None, error.message.clone()),
            };
            if !retry || attempt >= MAX_ATTEMPTS {
                return outcome.map_err(|(error, _)| error);
            }
            // The wait as the user reads it; only the sleep itself is shortened for tests.
            let wait = backoff(attempt, wait_hint);
            attempt += 1;
            if Instant::now() + scaled(wait) >= deadline {
                let secs = self.timeout.as_secs();
                let error = match outcome {
                    Ok(reply) => status_error(reply.status, &reply.body, method, url),
                    Err((error, _)) => error,
                };
                return Err(error.hint(format!(
                    "Not retried: attempt {attempt} of {MAX_ATTEMPTS} would end after --timeout ({secs} s)"
                )));
            }
            let tenths = (wait.as_millis() + 50) / 100;
            let (whole, tenth) = (tenths / 10, tenths % 10);
            stderr_line(&self.redact(&format!(
                "{why}; waiting {whole}.{tenth}s before attempt {attempt} of {MAX_ATTEMPTS}"
            )));
            sleep(wait);
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
            let trace = [
                Some(self.redact(&format!("> {} {url}", method.as_str()))),
                Some(concat!("> User-Agent: torale/", env!("CARGO_PKG_VERSION")).into()),
                Some("> Accept: application/json".into()),
                body.map(|_| "> Content-Type: application/json".into()),
                self.key.as_ref().map(|key| format!("> Authorization: Bearer {}", key.masked())),
            ];
            trace.iter().flatten().for_each(|line| stderr_line(line));
        }
        let started = Instant::now();
        let connect_limit = CONNECT_TIMEOUT.min(remaining);
        let request = builder
            .body(body.unwrap_or_default())
            .map_err(|err| (Error::usage(format!("Invalid request URL {url}: {err}")), false))?;
        let config = self.agent.configure_request(request).timeout_global(Some(remaining));
        let request = config.timeout_connect(Some(connect_limit)).build();
        let attempt = Attempt { method, url, connect_limit, timeout: self.timeout };
        let response = self.agent.run(request).map_err(|err| attempt.failure(err))?;

        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name)?.to_str().ok().map(str::trim);
        let text = |value: &[u8]| self.redact(&String::from_utf8_lossy(value));
        let pairs = response.headers().iter();
        let headers: Vec<_> = pairs.map(|(n, v)| (text(n.as_ref()), text(v.as_bytes()))).collect();
        if self.debug {
            stderr_line(&format!("< {status} ({} ms)", started.elapsed().as_millis()));
            for (name, value) in &headers {
                stderr_line(&format!("< {name}: {}", sanitize(value)));
            }
        }
        // Redirects are never followed: the API needs none (collection paths carry their
        // trailing slash), and following one could carry the key to another origin or down
        // from https to http.
        if (300..400).contains(&status) {
            let to = header("location").map(|l| quoted(self.redact(l).trim()));
            let Some(to) = to.filter(|to| !to.is_empty()) else {
                let message = format!(
                    "The server answered HTTP {status} (a redirect) without a Location ({url})"
                );
                return Err((Error::new(Kind::Server, message).with_status(status), false));
            };
            let message = format!("The server redirected to {to} (HTTP {status} from {url})");
            let hint = "torale does not follow redirects, so the API key goes nowhere but the API URL; use that URL with --api-url";
            return Err((Error::new(Kind::Server, message).with_status(status).hint(hint), false));
        }
        let declared = header("content-length").and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BODY) {
            return Err((too_large(url), false));
        }
        // Sized from Content-Length (capped above), so a large list is not copied as it grows.
        let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
        let mut reader = response.into_body().into_with_config().limit(MAX_BODY).reader();
        reader.read_to_end(&mut bytes).map_err(|err| attempt.failure(err.into()))?;
        if let Some(key) = &self.key {
            bytes = mask_body(bytes, key.expose(), &key.masked());
        }
        Ok(Reply { status, headers, body: bytes })
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
    let shown = sanitize(&std::path::Path::new(&path).display().to_string());
    let why = match std::fs::read(&path) {
        Ok(pem) => {
            let certs: Vec<_> = parse_pem(&pem)
                .map_while(|item| item.ok())
                .filter_map(|i| if let PemItem::Certificate(c) = i { Some(c) } else { None })
                .collect();
            if !certs.is_empty() {
                return RootCerts::new_with_certs(&certs);
            }
            format!("no PEM certificates in SSL_CERT_FILE {shown}")
        }
        Err(e) => format!("cannot read SSL_CERT_FILE {shown}: {e}"),
    };
    stderr_line(&format!("Warning: {why}; using the built-in root certificates"));
    RootCerts::WebPki
}

/// Refuse proxy settings ureq would silently pass over: it skips a value it cannot parse, and
/// connects directly when a SOCKS proxy is set (this build has no SOCKS support). Either way
/// requests would go around the proxy the user set. The variables are those ureq reads.
fn check_proxy_env() -> Result<()> {
    let names =
        ["ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];
    for name in names {
        std::env::var_os(name).map_or(Ok(()), |value| check_proxy(name, value.to_str()))?;
    }
    Ok(())
}

/// Check one proxy variable's value (`None`: not valid UTF-8); an empty value is unset.
fn check_proxy(name: &str, value: Option<&str>) -> Result<()> {
    const SUPPORTED: &str =
        "torale supports http:// and https:// proxies (HTTP CONNECT); unset it or use one of those";
    let Some(value) = value.map(str::trim) else {
        return Err(Error::config(format!("{name} is not valid UTF-8")).hint(SUPPORTED));
    };
    let shown = quoted(&redacted(value));
    let message = match ureq::Proxy::new(value).map(|proxy| proxy.protocol()) {
        _ if value.is_empty() => return Ok(()),
        Ok(ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https) => return Ok(()),
        Ok(other) => format!("Unsupported proxy in {name}: {other} ({shown})"),
        Err(_) => format!("Invalid proxy URL in {name}: '{shown}'"),
    };
    Err(Error::config(message).hint(SUPPORTED))
}

/// A failed exchange: the error, and whether the retry policy may send the request again (a
/// transient failure is, if it cannot have reached the server or repeating it is harmless).
type Failure = (Error, bool);

/// A request being sent: what a failure's message and retry decision depend on.
struct Attempt<'a> {
    method: Method,
    url: &'a str,
    connect_limit: Duration,
    timeout: Duration,
}

impl Attempt<'_> {
    fn net(&self, what: &str) -> Error {
        Error::new(Kind::Network, format!("{what} ({})", self.url))
    }

    fn failure(&self, err: ureq::Error) -> Failure {
        use ureq::Error as E;
        let url = self.url;
        let server = |what: String| Error::new(Kind::Server, format!("{what} ({url})"));
        let error = match err {
            E::Io(io) => return self.io_failure(io),
            E::ConnectionFailed => return (self.net("Connection failed"), true),
            E::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => {
                let secs = self.connect_limit.as_nanos().div_ceil(1_000_000_000);
                let error = self.net("Connection timed out").hint(format!(
                    "No connection within {secs} s: check the host and port in the API URL, a firewall or the proxy"
                ));
                return (error, true);
            }
            E::ConnectProxyFailed(why) => {
                return (self.net(&format!("Proxy failed: {}", sanitize(&why))), true)
            }
            E::HostNotFound => not_resolved(url),
            // Any other timeout is the request's whole budget (`--timeout`) running out.
            E::Timeout(_) => self.timed_out(),
            E::BodyExceedsLimit(_) => too_large(url),
            E::Rustls(why) => tls_error(&why, url),
            E::Tls(why) => self.net(&format!("TLS: {why}")).hint(TLS_HINT),
            E::BadUri(why) => Error::usage(format!("Invalid URL {url}: {}", sanitize(&why))),
            E::Protocol(why) => {
                server(format!("Malformed HTTP response: {}", sanitize(&why.to_string())))
            }
            E::LargeResponseHeader(..) => server("Response headers too large".into()),
            E::InvalidProxyUrl => {
                Error::config("Invalid proxy URL in ALL_PROXY / HTTPS_PROXY / HTTP_PROXY")
            }
            other => self.net(&format!("Request failed: {}", sanitize(&other.to_string()))),
        };
        (error, false)
    }

    fn io_failure(&self, err: std::io::Error) -> Failure {
        use std::io::ErrorKind as K;
        if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            return (tls_error(tls, self.url), false);
        }
        // The C library's resolver failed: std words this error itself.
        if err.to_string().starts_with("failed to lookup address information") {
            return (not_resolved(self.url), false);
        }
        // The request may have reached the server unless the connection was refused.
        let again = self.method.idempotent();
        match err.kind() {
            K::TimedOut | K::WouldBlock => (self.timed_out(), false),
            K::ConnectionRefused => {
                let hint =
                    "Is the API running? For a self-hosted server set TORALE_API_URL or --api-url";
                (self.net("Connection refused").hint(hint), true)
            }
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                (self.net("Connection closed by the server"), again)
            }
            _ => (self.net(&format!("Network error: {}", crate::error::io_reason(&err))), again),
        }
    }

    fn timed_out(&self) -> Error {
        self.net("Request timed out").hint(format!(
            "Raise the limit with --timeout SECS or TORALE_TIMEOUT: no complete answer came within {} s",
            self.timeout.as_secs()
        ))
    }
}

fn not_resolved(url: &str) -> Error {
    Error::new(Kind::Network, format!("Could not resolve host ({url})"))
        .hint("Check the host name in the API URL (--api-url, TORALE_API_URL, 'torale config')")
}

fn too_large(url: &str) -> Error {
    let mib = MAX_BODY / (1024 * 1024);
    Error::new(Kind::Server, format!("Response larger than {mib} MiB refused ({url})"))
}

const ALERT_HINT: &str = "torale offers TLS 1.3 and 1.2 with AES-GCM; a server that accepts neither, or wants a client certificate, refuses the handshake";
const TLS_HINT: &str = "If the API uses a private certificate authority, set SSL_CERT_FILE to a PEM file holding its certificate";

/// One readable line for a TLS failure: what is wrong with the server's certificate or
/// handshake, in words rather than rustls's type names.
fn tls_error(err: &rustls::Error, url: &str) -> Error {
    use rustls::{CertificateError as C, Error as R};
    let what = match err {
        R::InvalidCertificate(cert) => format!(
            "the server's certificate {}",
            match cert {
                C::UnknownIssuer => "is not trusted (issued by an unknown authority)".into(),
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "is not valid for this host name".into()
                }
                C::Expired | C::ExpiredContext { .. } => "has expired".into(),
                C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet".into(),
                C::Revoked => "has been revoked".into(),
                C::Other(other) => format!("is not trusted ({})", words(&other.to_string())),
                other => format!("is not trusted ({})", words(&format!("{other:?}"))),
            }
        ),
        R::NoCertificatesPresented => "the server sent no certificate".into(),
        R::AlertReceived(alert) => {
            format!("the server refused the handshake ({})", words(&format!("{alert:?}")))
        }
        R::InvalidMessage(_) => "the server did not answer in TLS (is it plain http?)".into(),
        other => format!("handshake failed ({})", words(&format!("{other:?}"))),
    };
    let hint = if matches!(err, R::AlertReceived(_)) { ALERT_HINT } else { TLS_HINT };
    Error::new(Kind::Network, format!("TLS: {what} ({url})")).hint(hint)
}

/// `CaUsedAsEndEntity` (the last name in a Rust debug text) as `ca used as end entity`.
fn words(debug: &str) -> String {
    let name = debug.split(|c: char| !c.is_ascii_alphanumeric()).rfind(|w| !w.is_empty());
    let space = |c: char| [c.is_ascii_uppercase().then_some(' '), Some(c.to_ascii_lowercase())];
    let spaced = name.unwrap_or("unknown").chars().flat_map(space);
    spaced.flatten().collect::<String>().trim_start().to_string()
}

/// `body` with every occurrence of the key masked. When the body holds an escape that could
/// spell the key another way (`\u0073k_…` in JSON, `sk%5F…` in a URL), each JSON string whose
/// decoded text holds the key is rewritten, decoded and masked.
fn mask_body(mut body: Vec<u8>, key: &str, masked: &str) -> Vec<u8> {
    // memchr's search, not a byte-by-byte scan: bodies can be 64 MiB.
    let (mut out, mut copied) = (Vec::new(), 0);
    for at in memmem::find_iter(&body, key.as_bytes()) {
        out.extend_from_slice(&body[copied..at]);
        out.extend_from_slice(masked.as_bytes());
        copied = at + key.len();
    }
    if copied > 0 {
        out.extend_from_slice(&body[copied..]);
        body = out;
    }
    let escape = |at: usize| body[at] == b'%' || body.get(at + 1) == Some(&b'u');
    if !memchr::memchr2_iter(b'\\', b'%', &body).any(escape) {
        return body;
    }
    // Not JSON (a plain-text or HTML page): the whole text is decoded when it hides the key.
    if !matches!(body.trim_ascii_start().first(), Some(b'{' | b'[' | b'"')) {
        let text = String::from_utf8_lossy(&body);
        let remasked = mask_text(&text, key, masked);
        return if remasked == text { body } else { remasked.into_bytes() };
    }
    // Each string literal, from its opening quote to the next quote no backslash escapes.
    let mut out = Vec::new();
    let (mut copied, mut at) = (0, 0);
    while let Some(open) = memchr::memchr(b'"', &body[at..]).map(|i| at + i) {
        let mut close = open + 1;
        loop {
            match memchr::memchr2(b'"', b'\\', body.get(close..).unwrap_or_default()) {
                Some(i) if body[close + i] == b'\\' => close += i + 2,
                Some(i) => break close += i,
                None => break close = body.len(),
            }
        }
        let Some(literal) = body.get(open..=close) else { break };
        let escaped = literal.contains(&b'\\') || literal.contains(&b'%');
        if let Some(text) = escaped.then(|| remasked_literal(literal, key, masked)).flatten() {
            out.extend_from_slice(&body[copied..open]);
            out.extend_from_slice(text.as_bytes());
            copied = close + 1;
        }
        at = close + 1;
    }
    if copied == 0 {
        return body;
    }
    out.extend_from_slice(&body[copied..]);
    out
}

/// A JSON string literal written again with the key masked, when its decoded text holds it.
fn remasked_literal(literal: &[u8], key: &str, masked: &str) -> Option<String> {
    let text: String = serde_json::from_slice(literal).ok()?;
    let remasked = mask_text(&text, key, masked);
    (remasked != text).then(|| serde_json::to_string(&remasked).ok())?
}

/// `text` with the key masked; where the key is only visible once `%XX` and `\uXXXX`
/// escapes are decoded, the decoded text is returned, masked.
fn mask_text(text: &str, key: &str, masked: &str) -> String {
    let text = text.replace(key, masked);
    let decoded = decode_escapes(&text);
    if decoded.contains(key) {
        decoded.replace(key, masked)
    } else {
        text
    }
}

/// `text` with `%XX` and `\uXXXX` escapes decoded (invalid UTF-8 replaced); other text as is.
fn decode_escapes(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |from: usize, len: usize| {
        let digits =
            text.get(from..from + len).filter(|d| d.bytes().all(|c| c.is_ascii_hexdigit()));
        u32::from_str_radix(digits?, 16).ok()
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let Some(byte) = hex(i + 1, 2) {
                out.push(byte as u8);
                i += 3;
                continue;
            }
        }
        if b == b'\\' && bytes.get(i + 1) == Some(&b'u') {
            if let Some(c) = hex(i + 2, 4).and_then(char::from_u32) {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                i += 6;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Turn a reply into its JSON document, or into the error its status and body describe.
fn decode_reply(reply: Reply, method: Method, url: &str) -> Result<Json> {
    let status = reply.status;
    if !(200..300).contains(&status) {
        return Err(status_error(status, &reply.body, method, url));
    }
    if status == 204 || reply.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::null());
    }
    let malformed = |why: String| {
        let message =
            format!("Malformed response from the server: {why} ({} {url})", method.as_str());
        Error::new(Kind::Server, message).with_status(status)
    };
    let text = String::from_utf8(reply.body).map_err(|_| malformed("not valid UTF-8".into()))?;
    if let Some(page) = html_page(&text) {
        return Err(malformed(format!("{page} instead of JSON")).hint(
            "A proxy or captive portal answered instead of the API; check --api-url and the proxy settings",
        ));
    }
    Json::parse(text).map_err(|err| malformed(format!("not JSON: {err}")))
}

/// The error a non-2xx response stands for, as every command reports it.
pub fn status_error(status: u16, body: &[u8], method: Method, url: &str) -> Error {
    let rate_limit = is_rate_limit_body(body);
    let kind = match Kind::from_status(status) {
        // The active-task cap shares 429 with the rate limiter but is a refusal, not a wait.
        Kind::RateLimited if !rate_limit => Kind::Rejected,
        kind => kind,
    };
    let message = match error_message(body) {
        Some(detail) if status < 500 => detail,
        Some(detail) => format!("Server error (HTTP {status}): {detail}"),
        None => format!("HTTP {status} from {} {url}", method.as_str()),
    };
    let hint = match status {
        404 if message == "Not Found" => Some("The server has no such route: the API URL must be the server's root, such as https://api.torale.ai (check --api-url, TORALE_API_URL, 'torale config')"),
        401 => Some("Check the key with 'torale auth status'; create a new one at torale.ai under Settings > API Keys"),
        403 => Some("The server refused these credentials; check 'torale auth status'"),
        429 if rate_limit => Some("The API allows a few requests per minute on this route; wait a minute and try again"),
        _ => None,
    };
    let error = Error::new(kind, message).with_status(status);
    hint.into_iter().fold(error, Error::hint)
}

/// One readable line from any error body: `detail` string, `detail` list, `error`, or text.
/// `None` when the body says nothing.
pub fn error_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let json = serde_json::from_str::<Value>(text).ok();
    let message = json.as_ref().and_then(json_error).unwrap_or_else(|| match html_page(text) {
        Some(page) => format!("{page} (a proxy in the way?)"),
        None => quoted(text.lines().next().unwrap_or("")),
    });
    Some(message).filter(|message| !message.trim().is_empty())
}

/// The message of a JSON error body: `detail` (a string, or a list of at most ten validation
/// errors shown), `error`, `error.message` or `message`.
fn json_error(value: &Value) -> Option<String> {
    let items = value.get("detail").and_then(Value::as_array).filter(|items| !items.is_empty());
    if let Some(items) = items {
        const SHOWN: usize = 10;
        let mut parts: Vec<String> = items.iter().take(SHOWN).map(validation_item).collect();
        parts.extend((items.len() > SHOWN).then(|| format!("and {} more", items.len() - SHOWN)));
        return Some(parts.join("; "));
    }
    let fields = ["/detail", "/error", "/error/message", "/message"];
    fields.into_iter().find_map(|field| value.pointer(field)?.as_str()).map(quoted)
}

/// Server text as one safe line of at most [`MAX_QUOTED`] characters: a 10 MiB `detail`
/// does not become a 10 MiB line on stderr.
fn quoted(text: &str) -> String {
    sanitize(&shorten(text, MAX_QUOTED))
}

/// `HTML page "<title>"` when `text` is an HTML document rather than an API answer.
fn html_page(text: &str) -> Option<String> {
    let text = text.trim_start();
    let starts = |tag: &str| text.get(..tag.len()).is_some_and(|h| h.eq_ignore_ascii_case(tag));
    if !starts("<!doctype") && !starts("<html") {
        return None;
    }
    // Byte offsets found in the lower-cased copy are valid in `text`: ASCII lower-casing
    // keeps every character's length.
    let lower = text.to_ascii_lowercase();
    let title = lower.find("<title").and_then(|at| {
        let start = at + lower[at..].find('>')? + 1;
        Some(text[start..].split_once('<')?.0.trim())
    });
    Some(match title.filter(|t| !t.is_empty()) {
        Some(title) => format!("HTML page \"{}\"", sanitize(&shorten(title, 100))),
        None => "HTML page".to_string(),
    })
}

/// A 422 entry `{"loc":["body","name"],"msg":"Field required"}` as `name: Field required`.
fn validation_item(item: &Value) -> String {
    let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid value");
    let mut parts = item.get("loc").and_then(Value::as_array).into_iter().flatten().peekable();
    parts.next_if(|p| matches!(p.as_str(), Some("body" | "query" | "path" | "header")));
    let loc: Vec<String> =
        parts.map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string)).collect();
    let text = if loc.is_empty() { msg.to_string() } else { format!("{}: {msg}", loc.join(".")) };
    quoted(&text)
}

/// HEAD's rate limiter answers `{"error": ...}`; its active-task cap answers
/// `{"detail": "Maximum of 50 active tasks reached. ..."}` with the same 429, and that one
/// must not be retried. Any other 429 (a proxy's, say) is a rate limit.
fn is_rate_limit_body(body: &[u8]) -> bool {
    let value = serde_json::from_slice::<Value>(body).unwrap_or_default();
    let detail = value.get("detail").and_then(Value::as_str).unwrap_or_default();
    !detail.to_ascii_lowercase().contains("active task")
}

/// `Retry-After` in seconds, capped; the HTTP-date form is not used by the API and ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs = value.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_WAIT))
}

/// Exponential backoff with jitter (1 s, 2 s, … ± 25%), never shorter than `Retry-After`.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let base = Duration::from_millis(1000u64 << (attempt - 1).min(5));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let nanos = now.unwrap_or_default().subsec_nanos();
    // Map the clock's low bits onto 0.75..1.25 of the base delay.
    let jittered = base * (750 + nanos % 500) / 1000;
    jittered.max(retry_after.unwrap_or_default())
}

/// `value` for a query string: every byte but the unreserved ones (RFC 3986) as `%XX`.
pub fn percent_encode(value: &str) -> String {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    let encode = |b| if unreserved(b) { char::from(b).to_string() } else { format!("%{b:02X}") };
    value.bytes().map(encode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk_0123456789abcdefghijklmnop";
    const MASKED: &str = "sk_...lmnop";

    #[test]
    fn echoed_keys_are_masked_and_other_text_left_as_is() {
        let masked = mask_body([KEY, KEY, "sk_01", KEY].concat().into_bytes(), KEY, "K");
        assert_eq!(masked, b"KKsk_01K");
        let other = br#"{"a":"caf\u00e9 \"q\" 100%"}"#.to_vec();
        assert_eq!(mask_body(other.clone(), KEY, MASKED), other);
        assert_eq!(mask_text("50% done \\n", KEY, MASKED), "50% done \\n");
    }

    #[test]
    fn error_bodies_are_cut_to_one_short_line() {
        let many: Vec<String> =
            (0..50).map(|i| format!(r#"{{"loc":["body","f{i}"],"msg":"bad"}}"#)).collect();
        let message = error_message(format!(r#"{{"detail":[{}]}}"#, many.join(",")).as_bytes());
        assert!(message.unwrap().ends_with("f9: bad; and 40 more"));
        let page = html_page("<!DOCTYPE html><TITLE lang=en> Sign in </TITLE>");
        assert_eq!(page.unwrap(), "HTML page \"Sign in\"");
        assert_eq!(html_page("<html><body>x</body></html>").unwrap(), "HTML page");
        assert_eq!(parse_retry_after("100000"), Some(MAX_RETRY_WAIT));
    }

    #[test]
    fn proxies_without_a_scheme_or_empty_are_accepted_and_non_utf8_refused() {
        assert!(check_proxy("HTTP_PROXY", Some("proxy.internal:8080")).is_ok());
        assert!(check_proxy("HTTP_PROXY", Some(" ")).is_ok());
        assert_eq!(check_proxy("HTTP_PROXY", None).unwrap_err().exit_code(), 3);
    }

    #[test]
    fn tls_failures_read_as_words_and_are_not_retried() {
        use rustls::{AlertDescription, CertificateError, Error as R};
        let expired = tls_error(&R::InvalidCertificate(CertificateError::Expired), "https://h");
        assert_eq!(expired.message, "TLS: the server's certificate has expired (https://h)");
        let (method, url, connect_limit, timeout) =
            (Method::Get, "h", CONNECT_TIMEOUT, CONNECT_TIMEOUT);
        let attempt = Attempt { method, url, connect_limit, timeout };
        let io = std::io::Error::other(R::AlertReceived(AlertDescription::HandshakeFailure));
        let (error, retry) = attempt.io_failure(io);
        assert_eq!(error.message, "TLS: the server refused the handshake (handshake failure) (h)");
        assert!(!retry && error.hints[0].contains("AES-GCM"));
    }
}
