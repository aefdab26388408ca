//! Fake Torale REST API (HEAD and legacy 0.0.2 generations) for tests, demos and benchmarks.
//!
//! It models the wire contract in `api-contract.md`: route groups and their auth matrix, the
//! trailing-slash redirects, FastAPI's error shapes, rate limits, the active-task cap, the task
//! state machine, polled execution progress and the known server defects. Std and `serde_json`
//! only: one listener thread, one thread per connection, all state behind one mutex.
#![allow(dead_code)]

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// Which server the fake plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// The current production service (April 2026).
    Head,
    /// The self-hosted `torale` 0.0.2 package (November 2025).
    Legacy,
}

/// How to start a fake.
#[derive(Clone, Debug)]
pub struct Options {
    pub generation: Generation,
    /// Server runs with `TORALE_NOAUTH` (contract §2.4); the default user is then the fixed test user.
    pub noauth: bool,
    /// The default user's email.
    pub email: String,
    /// A fixed key for the default user; a random one when `None`.
    pub key: Option<String>,
    /// HEAD's per-minute limits on `POST` of tasks, API keys and webhook tests.
    pub rate_limits: bool,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Print one line per request on stderr (for the example binary).
    pub log_requests: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            generation: Generation::Head,
            noauth: false,
            email: "user@example.com".to_string(),
            key: None,
            rate_limits: true,
            port: 0,
            log_requests: false,
        }
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The raw path, without the query.
    pub path: String,
    /// The raw query, "" if none.
    pub query: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header with this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, `Null` if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How an execution ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `success`; a notification means the condition was met.
    Success { notification: Option<String> },
    /// `failed` with this `error_message`.
    Failed(String),
    /// `cancelled` (legacy has no such status and reports `failed`).
    Cancelled,
    /// HEAD `retrying` with this `error_message`: a temporary failure; the row is final and
    /// the scheduler runs the task again later (legacy reports `failed`).
    Retrying(String),
    /// Stays `pending` forever.
    Stuck,
}

/// How new executions progress: pending → running → outcome, one step every `polls_per_step`
/// polls (a GET of the task, its executions or its notifications).
#[derive(Clone, Debug)]
pub struct RunPlan {
    pub polls_per_step: usize,
    pub outcome: Outcome,
}

impl Default for RunPlan {
    fn default() -> Self {
        RunPlan {
            polls_per_step: 1,
            outcome: Outcome::Success {
                notification: Some("The condition is met: a date has been announced.".to_string()),
            },
        }
    }
}

/// A transport or proxy failure applied to a request before normal handling.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with exactly this.
    Respond {
        status: u16,
        content_type: String,
        body: Vec<u8>,
        headers: Vec<(String, String)>,
    },
    /// Sleep, then answer normally.
    Delay(Duration),
    /// Read the request and never answer; the socket is held until the fake is dropped.
    Hang,
    /// Read the request and close the socket with a TCP reset.
    Reset,
    /// Send a 200 head with a large Content-Length, then one byte per interval.
    Trickle(Duration),
    /// 200 `application/json` with this Content-Length, streamed until the client leaves.
    Huge(u64),
    /// 200 `application/json` carrying the first half of a valid JSON document.
    Truncated,
    /// A redirect with an empty body.
    Redirect { status: u16, location: String },
}

impl Fault {
    /// A response with this status, content type and body.
    pub fn status(status: u16, content_type: &str, body: &str) -> Fault {
        Fault::Respond {
            status,
            content_type: content_type.to_string(),
            body: body.as_bytes().to_vec(),
            headers: Vec::new(),
        }
    }

    /// A JSON response with this status and body.
    pub fn json(status: u16, body: &str) -> Fault {
        Fault::status(status, "application/json", body)
    }

    /// HEAD's rate limiter: 429 `{"error":...}` and no `Retry-After`.
    pub fn rate_limited() -> Fault {
        Fault::json(429, r#"{"error":"Rate limit exceeded: 10 per 1 minute"}"#)
    }

    /// A 429 or 5xx that carries `Retry-After: <seconds>`.
    pub fn retry_after(status: u16, seconds: &str) -> Fault {
        let body = if status == 429 {
            r#"{"error":"Rate limit exceeded: 10 per 1 minute"}"#.to_string()
        } else {
            json!({ "detail": reason(status) }).to_string()
        };
        Fault::Respond {
            status,
            content_type: "application/json".to_string(),
            body: body.into_bytes(),
            headers: vec![("Retry-After".to_string(), seconds.to_string())],
        }
    }

    /// A proxy's 503 in plain text.
    pub fn unavailable() -> Fault {
        Fault::status(503, "text/plain", "Service Unavailable")
    }

    /// A proxy's 502 HTML page.
    pub fn bad_gateway() -> Fault {
        Fault::status(
            502,
            "text/html",
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
             <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n",
        )
    }

    /// A 200 whose body claims JSON but is not.
    pub fn garbage() -> Fault {
        Fault::status(200, "application/json", "<<<this is not json>>>")
    }
}

/// A running fake server; dropping it stops the server and releases held connections.
pub struct Fake {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl Fake {
    /// A fake of this generation with default options.
    pub fn start(generation: Generation) -> Fake {
        Fake::start_with(Options {
            generation,
            ..Options::default()
        })
    }

    pub fn start_with(options: Options) -> Fake {
        let listener = TcpListener::bind(("127.0.0.1", options.port))
            .unwrap_or_else(|e| panic!("fake torale: cannot listen on port {}: {e}", options.port));
        let addr = listener
            .local_addr()
            .expect("fake torale: listener address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(&options, addr.port())),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            log: options.log_requests,
        });
        let for_acceptor = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("fake-torale-accept".to_string())
            .spawn(move || accept_loop(listener, for_acceptor))
            .expect("fake torale: spawn listener thread");
        Fake {
            shared,
            addr,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn generation(&self) -> Generation {
        self.state().generation
    }

    /// The default user's valid key.
    pub fn key(&self) -> String {
        self.state().default_key.clone()
    }

    pub fn email(&self) -> String {
        let st = self.state();
        st.user(&st.default_user).email.clone()
    }

    /// The default user's id.
    pub fn user_id(&self) -> String {
        self.state().default_user.clone()
    }

    /// A new user; returns its valid key.
    pub fn add_user(&self, email: &str) -> String {
        self.state().add_user(email, None).1
    }

    /// From now on this key gets 401 `Invalid API key`.
    pub fn revoke(&self, key: &str) {
        for row in self.state().keys.iter_mut().filter(|k| k.key == key) {
            row.is_active = false;
        }
    }

    /// Every request received, in order, faulted ones included.
    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// The next `times` requests get this fault (`usize::MAX`: until cleared).
    pub fn fault(&self, fault: Fault, times: usize) {
        self.push_fault(None, fault, times);
    }

    /// Like [`Fake::fault`], for requests whose path starts with `path_prefix` only.
    pub fn fault_on(&self, path_prefix: &str, fault: Fault, times: usize) {
        self.push_fault(Some(path_prefix.to_string()), fault, times);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Inserts a task owned by `key`'s user, without rate limit, cap or name check. `fields`
    /// override the generation's defaults; legacy `"_scheduled": false` reproduces a task
    /// created inactive (no schedule: resume and delete then fail with 500).
    pub fn seed_task(&self, key: &str, fields: Value) -> String {
        let mut st = self.state();
        let user = st.user_of_key(key);
        st.seed_task(&user, fields)
    }

    /// Inserts `count` tasks for `key`'s user quickly (every fourth one paused); returns their ids.
    pub fn seed_tasks(&self, key: &str, count: usize) -> Vec<String> {
        let mut st = self.state();
        let user = st.user_of_key(key);
        let head = st.generation == Generation::Head;
        (0..count)
            .map(|i| {
                let paused = i % 4 == 3;
                let name = format!("Benchmark task {:05}", i + 1);
                let query = format!("Has anything changed for item {}?", i + 1);
                let fields = if head {
                    json!({"name": name, "search_query": query,
                           "state": if paused { "paused" } else { "active" }})
                } else {
                    json!({"name": name, "search_query": query, "is_active": !paused})
                };
                st.seed_task(&user, fields)
            })
            .collect()
    }

    /// All tasks in the generation's server shape, oldest first.
    pub fn tasks(&self) -> Vec<Value> {
        let st = self.state();
        st.tasks
            .values()
            .map(|row| st.render_task(row, true, true))
            .collect()
    }

    /// A task's executions, newest first, without advancing them.
    pub fn executions(&self, task_id: &str) -> Vec<Value> {
        let st = self.state();
        st.executions
            .get(task_id)
            .map(|list| {
                list.iter()
                    .rev()
                    .map(|e| Value::Object(e.fields.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How executions created from now on progress.
    pub fn set_run_plan(&self, plan: RunPlan) {
        self.state().plan = plan;
    }

    /// HEAD `/health`: false gives 503 `degraded`.
    pub fn set_healthy(&self, healthy: bool) {
        self.state().healthy = healthy;
    }

    /// Forgets all rate-limit counters.
    pub fn reset_rate_limits(&self) {
        self.state().rate.clear();
    }

    fn push_fault(&self, prefix: Option<String>, fault: Fault, times: usize) {
        if times > 0 {
            self.state().faults.push_back(FaultEntry {
                prefix,
                fault,
                remaining: times,
            });
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the listener thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for (_, stream) in lock(&self.shared.conns).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    /// Clones of live connections, so that dropping the fake can release them.
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    log: bool,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopped() {
            break;
        }
        let Ok(stream) = conn else {
            thread::sleep(Duration::from_millis(5));
            continue;
        };
        let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.conns).insert(id, clone);
        }
        let for_conn = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("fake-torale-conn".to_string())
            .spawn(move || {
                serve(&for_conn, stream);
                lock(&for_conn.conns).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.conns).remove(&id);
        }
    }
}

fn serve(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".to_string());
    let request = match read_request(&mut stream) {
        Ok(request) => request,
        Err(ReadError::Closed) => return,
        Err(ReadError::Bad) => {
            send(
                &mut stream,
                &Resp::text(400, "Invalid HTTP request received."),
            );
            return;
        }
        Err(ReadError::TooLarge) => {
            send(&mut stream, &Resp::detail(413, "Request Entity Too Large"));
            return;
        }
    };
    let fault = {
        let mut st = lock(&shared.state);
        st.requests.push(request.clone());
        st.take_fault(&request.path)
    };
    match fault {
        None => respond(shared, &mut stream, &request, &peer),
        Some(Fault::Respond {
            status,
            content_type,
            body,
            headers,
        }) => send(
            &mut stream,
            &Resp {
                status,
                content_type: (!content_type.is_empty()).then_some(content_type),
                headers,
                body,
            },
        ),
        Some(Fault::Delay(delay)) => {
            if pause(shared, delay) {
                respond(shared, &mut stream, &request, &peer);
            }
        }
        Some(Fault::Hang) => hold(shared, stream),
        Some(Fault::Reset) => reset(stream),
        Some(Fault::Trickle(every)) => trickle(shared, stream, every),
        Some(Fault::Huge(len)) => huge(shared, stream, len),
        Some(Fault::Truncated) => {
            let mut doc = Vec::new();
            write_json(&mut doc, &sample_document());
            doc.truncate(doc.len() / 2);
            send(&mut stream, &Resp::raw(200, "application/json", doc));
        }
        Some(Fault::Redirect { status, location }) => {
            send(
                &mut stream,
                &Resp::empty(status).with_header("Location", location),
            );
        }
    }
}

fn respond(shared: &Shared, stream: &mut TcpStream, request: &Request, peer: &str) {
    let response = {
        let mut st = lock(&shared.state);
        let st = &mut *st;
        panic::catch_unwind(AssertUnwindSafe(|| st.handle(request, peer)))
            .unwrap_or_else(|_| Resp::internal())
    };
    if shared.log {
        eprintln!(
            "fake-torale: {} {}{}{} -> {}",
            request.method,
            request.path,
            if request.query.is_empty() { "" } else { "?" },
            request.query,
            response.status
        );
    }
    send(stream, &response);
}

/// Sleeps `delay` unless the fake stops first; true when the full delay passed.
fn pause(shared: &Shared, delay: Duration) -> bool {
    let end = Instant::now() + delay;
    while !shared.stopped() {
        let now = Instant::now();
        if now >= end {
            return true;
        }
        thread::sleep((end - now).min(Duration::from_millis(10)));
    }
    false
}

fn hold(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(None);
    let mut sink = [0u8; 1024];
    while !shared.stopped() {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

fn reset(stream: TcpStream) {
    set_linger_zero(&stream);
    drop(stream);
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
fn set_linger_zero(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct Linger {
        l_onoff: i32,
        l_linger: i32,
    }
    extern "C" {
        fn setsockopt(fd: i32, level: i32, name: i32, value: *const Linger, len: u32) -> i32;
    }
    #[cfg(target_os = "macos")]
    const LEVEL_AND_NAME: (i32, i32) = (0xffff, 0x0080);
    #[cfg(not(target_os = "macos"))]
    const LEVEL_AND_NAME: (i32, i32) = (1, 13);
    let linger = Linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a pointer to a live, correctly sized `struct linger`.
    unsafe {
        setsockopt(
            stream.as_raw_fd(),
            LEVEL_AND_NAME.0,
            LEVEL_AND_NAME.1,
            &linger,
            std::mem::size_of::<Linger>() as u32,
        );
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
fn set_linger_zero(_stream: &TcpStream) {}

fn trickle(shared: &Shared, mut stream: TcpStream, every: Duration) {
    const LEN: u64 = 1_000_000;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {LEN}\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    for i in 0..LEN {
        if !pause(shared, every) {
            return;
        }
        let byte: &[u8] = if i == 0 { b"[" } else { b" " };
        if stream
            .write_all(byte)
            .and_then(|()| stream.flush())
            .is_err()
        {
            return;
        }
    }
}

fn huge(shared: &Shared, mut stream: TcpStream, len: u64) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0u64;
    if len > 0 {
        if stream.write_all(b"[").is_err() {
            return;
        }
        sent = 1;
    }
    while sent < len && !shared.stopped() {
        let n = (len - sent).min(chunk.len() as u64) as usize;
        if stream.write_all(&chunk[..n]).is_err() {
            return;
        }
        sent += n as u64;
    }
    let _ = stream.flush();
}

/// The document whose first half `Fault::Truncated` sends: a one-task list.
fn sample_document() -> Value {
    json!([{
        "name": "Truncated example", "state": "active",
        "search_query": "When will the example ship?",
        "condition_description": "A ship date is announced",
        "notifications": [], "attached_connector_slugs": [],
        "id": "85426056-2e6c-4c21-887d-701e6fe3eee3",
        "user_id": "97a8808a-6011-49b2-a69a-744d3e1e2f43",
        "created_at": "2026-04-21T08:15:02.418733Z", "updated_at": "2026-04-21T08:15:02.418733Z",
        "state_changed_at": "2026-04-21T08:15:02.418733Z", "last_known_state": null,
        "last_execution_id": null, "last_execution": null,
        "next_run": "2026-04-21T08:16:02.418512Z", "immediate_execution_error": null,
        "context": null, "is_public": false, "view_count": 0, "subscriber_count": 0,
        "forked_from_task_id": null
    }])
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 wire format
// ---------------------------------------------------------------------------------------------

enum ReadError {
    /// The peer went away before sending anything (or the read timed out).
    Closed,
    /// Not a valid HTTP/1.1 request.
    Bad,
    /// The body is larger than the fake accepts.
    TooLarge,
}

/// Buffered reading from a connection.
struct Input<'a> {
    stream: &'a mut TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Input<'_> {
    fn fill(&mut self) -> Result<(), ReadError> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) if self.buf.is_empty() => Err(ReadError::Closed),
            Ok(0) => Err(ReadError::Bad),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(_) => Err(ReadError::Closed),
        }
    }

    fn line(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut searched = 0;
        loop {
            let pending = &self.buf[self.pos..];
            if let Some(i) = pending[searched..].windows(2).position(|w| w == b"\r\n") {
                let end = self.pos + searched + i;
                let line = self.buf[self.pos..end].to_vec();
                self.pos = end + 2;
                return Ok(line);
            }
            if pending.len() > MAX_HEAD {
                return Err(ReadError::Bad);
            }
            searched = pending.len().saturating_sub(1);
            self.fill()?;
        }
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.buf.len() - self.pos < n {
            self.fill()?;
        }
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }
}

fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    let mut input = Input {
        stream,
        buf: Vec::new(),
        pos: 0,
    };
    let mut line = input.line()?;
    for _ in 0..4 {
        if !line.is_empty() {
            break;
        }
        line = input.line()?;
    }
    let line = String::from_utf8(line).map_err(|_| ReadError::Bad)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad);
    };
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || !method.bytes().all(token) || !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad);
    }
    let target = if target.starts_with('/') {
        target
    } else if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        return Err(ReadError::Bad);
    };
    let target = target.split('#').next().unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut headers = Vec::new();
    let mut head_size = line.len();
    loop {
        let raw = input.line()?;
        if raw.is_empty() {
            break;
        }
        head_size += raw.len() + 2;
        if head_size > MAX_HEAD || raw[0] == b' ' || raw[0] == b'\t' {
            return Err(ReadError::Bad);
        }
        let raw = String::from_utf8(raw).map_err(|_| ReadError::Bad)?;
        let (name, value) = raw.split_once(':').ok_or(ReadError::Bad)?;
        if name.is_empty() || !name.bytes().all(token) {
            return Err(ReadError::Bad);
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = match header("content-length") {
        Some(v) if !chunked => Some(v.parse::<u64>().map_err(|_| ReadError::Bad)?),
        _ => None,
    };
    let expects_body = chunked || length.is_some_and(|n| n > 0);
    if expects_body
        && header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        && input.buf.len() == input.pos
    {
        let _ = input.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let size_line = String::from_utf8(input.line()?).map_err(|_| ReadError::Bad)?;
            let size_text = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| ReadError::Bad)?;
            if size == 0 {
                while !input.line()?.is_empty() {}
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(ReadError::TooLarge);
            }
            body.extend(input.take(size)?);
            if input.take(2)? != b"\r\n" {
                return Err(ReadError::Bad);
            }
        }
        body
    } else {
        match length {
            Some(n) if n > MAX_BODY as u64 => return Err(ReadError::TooLarge),
            Some(n) => input.take(n as usize)?,
            None => Vec::new(),
        }
    };
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body,
    })
}

/// A response to write.
struct Resp {
    status: u16,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn raw(status: u16, content_type: &str, body: Vec<u8>) -> Resp {
        Resp {
            status,
            content_type: Some(content_type.to_string()),
            headers: Vec::new(),
            body,
        }
    }

    fn json(status: u16, value: &Value) -> Resp {
        let mut body = Vec::with_capacity(256);
        write_json(&mut body, value);
        Resp::raw(status, "application/json", body)
    }

    fn detail(status: u16, message: impl Into<String>) -> Resp {
        Resp::json(status, &json!({ "detail": message.into() }))
    }

    fn text(status: u16, text: &str) -> Resp {
        Resp::raw(
            status,
            "text/plain; charset=utf-8",
            text.as_bytes().to_vec(),
        )
    }

    /// An unhandled exception: plain-text 500.
    fn internal() -> Resp {
        Resp::text(500, "Internal Server Error")
    }

    fn empty(status: u16) -> Resp {
        Resp {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn validation(errors: Vec<Value>) -> Resp {
        Resp::json(422, &json!({ "detail": errors }))
    }

    fn with_header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

fn send(stream: &mut TcpStream, resp: &Resp) {
    let mut out = Vec::with_capacity(resp.body.len() + 256);
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    if resp.status != 204 && resp.status >= 200 {
        let _ = write!(out, "Content-Length: {}\r\n", resp.body.len());
    }
    if let Some(content_type) = &resp.content_type {
        let _ = write!(out, "Content-Type: {content_type}\r\n");
    }
    for (name, value) in &resp.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&resp.body);
    let _ = stream.write_all(&out);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Server state
// ---------------------------------------------------------------------------------------------

const NOAUTH_USER_ID: &str = "00000000-0000-0000-0000-000000000001";
const STATES: &[&str] = &["active", "paused", "completed"];
const NOTIFY_BEHAVIORS: &[&str] = &["once", "always", "track_state"];
const NOTIFICATION_TYPES: &[&str] = &["email", "webhook"];
const EXECUTOR_TYPES: &[&str] = &["llm_grounded_search"];
const CANCELLED_MESSAGE: &str = "Execution cancelled by manual force run";
const TASK_NOT_FOUND: &str = "Task not found";
const ACTIVE_CAP: usize = 50;
const MINUTE_MICROS: i64 = 60_000_000;

struct User {
    id: String,
    clerk_user_id: String,
    email: String,
    created_at: String,
}

struct KeyRow {
    id: String,
    user_id: String,
    key: String,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
    is_active: bool,
}

struct TaskRow {
    /// The stored columns, in the generation's shape (HEAD: without `last_execution`).
    fields: Map<String, Value>,
    /// Legacy: the task has a Temporal schedule (false when it was created inactive).
    scheduled: bool,
}

impl TaskRow {
    fn text(&self, key: &str) -> &str {
        self.fields.get(key).and_then(Value::as_str).unwrap_or("")
    }

    fn id(&self) -> &str {
        self.text("id")
    }

    fn user_id(&self) -> &str {
        self.text("user_id")
    }

    fn is_public(&self) -> bool {
        self.fields.get("is_public") == Some(&Value::Bool(true))
    }
}

struct ExecRow {
    fields: Map<String, Value>,
    /// 0 pending, 1 running, 2 finished.
    stage: u8,
    polls: usize,
    plan: RunPlan,
}

#[derive(Default)]
struct Webhook {
    url: Option<String>,
    secret: Option<String>,
    enabled: bool,
}

struct FaultEntry {
    prefix: Option<String>,
    fault: Fault,
    remaining: usize,
}

struct State {
    generation: Generation,
    noauth: bool,
    rate_limits: bool,
    healthy: bool,
    port: u16,
    rng: Rng,
    seq: u64,
    default_user: String,
    default_key: String,
    users: Vec<User>,
    keys: Vec<KeyRow>,
    /// Tasks by insertion sequence (creation order).
    tasks: BTreeMap<u64, TaskRow>,
    task_seq: HashMap<String, u64>,
    /// Executions per task id, oldest first.
    executions: HashMap<String, Vec<ExecRow>>,
    templates: Vec<Map<String, Value>>,
    webhooks: HashMap<String, Webhook>,
    /// Webhook deliveries, oldest first.
    deliveries: Vec<Map<String, Value>>,
    rate: HashMap<(&'static str, String), VecDeque<Instant>>,
    plan: RunPlan,
    faults: VecDeque<FaultEntry>,
    requests: Vec<Request>,
}

impl State {
    fn new(options: &Options, port: u16) -> State {
        let mut st = State {
            generation: options.generation,
            noauth: options.noauth,
            rate_limits: options.rate_limits,
            healthy: true,
            port,
            rng: Rng::seeded(),
            seq: 0,
            default_user: String::new(),
            default_key: String::new(),
            users: Vec::new(),
            keys: Vec::new(),
            tasks: BTreeMap::new(),
            task_seq: HashMap::new(),
            executions: HashMap::new(),
            templates: Vec::new(),
            webhooks: HashMap::new(),
            deliveries: Vec::new(),
            rate: HashMap::new(),
            plan: RunPlan::default(),
            faults: VecDeque::new(),
            requests: Vec::new(),
        };
        let fixed = options.noauth.then_some(NOAUTH_USER_ID);
        let (user, key) = st.add_user(&options.email, fixed);
        if let Some(fixed_key) = &options.key {
            st.keys.retain(|k| k.key != key);
            st.push_key(&user, fixed_key, "default");
            st.default_key = fixed_key.clone();
        } else {
            st.default_key = key;
        }
        st.default_user = user;
        st.seed_templates();
        st
    }

    fn head(&self) -> bool {
        self.generation == Generation::Head
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A user with one active key; the fixed id makes it the NOAUTH test user.
    fn add_user(&mut self, email: &str, fixed_id: Option<&str>) -> (String, String) {
        let (id, clerk_user_id) = match fixed_id {
            Some(id) => (id.to_string(), "test_user_noauth".to_string()),
            None => (self.rng.uuid(), format!("user_{}", self.rng.alnum(27))),
        };
        self.users.push(User {
            id: id.clone(),
            clerk_user_id,
            email: email.to_string(),
            created_at: ts(now_micros()),
        });
        let key = self.rng.api_key();
        self.push_key(&id, &key, "default");
        (id, key)
    }

    fn push_key(&mut self, user_id: &str, key: &str, name: &str) -> usize {
        let id = self.rng.uuid();
        self.keys.push(KeyRow {
            id,
            user_id: user_id.to_string(),
            key: key.to_string(),
            name: name.to_string(),
            created_at: ts(now_micros()),
            last_used_at: None,
            is_active: true,
        });
        self.keys.len() - 1
    }

    fn user(&self, id: &str) -> &User {
        self.users
            .iter()
            .find(|u| u.id == id)
            .expect("fake torale: user exists")
    }

    fn user_of_key(&self, key: &str) -> String {
        self.keys
            .iter()
            .find(|k| k.key == key)
            .map(|k| k.user_id.clone())
            .unwrap_or_else(|| panic!("fake torale: no user has the key {key:?}"))
    }

    fn take_fault(&mut self, path: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|f| {
            f.remaining > 0 && f.prefix.as_deref().is_none_or(|p| path.starts_with(p))
        })?;
        let entry = &mut self.faults[i];
        let fault = entry.fault.clone();
        if entry.remaining != usize::MAX {
            entry.remaining -= 1;
            if entry.remaining == 0 {
                self.faults.remove(i);
            }
        }
        Some(fault)
    }

    fn seed_templates(&mut self) {
        let rows = [
            (
                "Concert tickets on sale",
                "Know when tickets for a tour go on sale",
                "Events",
                "🎫",
                "When do tickets for the next tour go on sale?",
                "A ticket sale date has been announced",
            ),
            (
                "Game release date",
                "Get told when a game gets a release date",
                "Product Launches",
                "🎮",
                "When will the next major game be released?",
                "An official release date has been announced",
            ),
            (
                "Phone launch",
                "Watch for the announcement of a new phone",
                "Product Launches",
                "📱",
                "When will the next iPhone be released?",
                "Apple has officially announced a release date",
            ),
        ];
        for (name, description, category, icon, query, condition) in rows {
            let now = ts(now_micros());
            let id = self.rng.uuid();
            let Value::Object(map) = json!({
                "name": name, "description": description, "category": category, "icon": icon,
                "search_query": query, "condition_description": condition,
                "schedule": "0 9 * * *", "notify_behavior": "track_state",
                "config": {"model": "gemini-2.5-flash"},
                "id": id, "is_active": true, "created_at": now, "updated_at": null
            }) else {
                unreachable!()
            };
            self.templates.push(map);
        }
    }

    // --- routing -----------------------------------------------------------------------------

    fn handle(&mut self, req: &Request, peer: &str) -> Resp {
        let path = percent_decode(&req.path, false);
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let routes = self.routes(&segments);
        if routes.is_empty() {
            if path.len() > 1 {
                let alternate = match path.strip_suffix('/') {
                    Some(stripped) => stripped.to_string(),
                    None => format!("{path}/"),
                };
                let alternate_segments: Vec<&str> = alternate.split('/').skip(1).collect();
                if !self.routes(&alternate_segments).is_empty() {
                    let raw = match req.path.strip_suffix('/') {
                        Some(stripped) => stripped.to_string(),
                        None => format!("{}/", req.path),
                    };
                    let fallback = format!("127.0.0.1:{}", self.port);
                    let host = req.header("host").unwrap_or(&fallback);
                    let mut location = format!("http://{host}{raw}");
                    if !req.query.is_empty() {
                        location.push('?');
                        location.push_str(&req.query);
                    }
                    return Resp::empty(307).with_header("Location", location);
                }
            }
            return Resp::detail(404, "Not Found");
        }
        let method = req.method.as_str();
        let Some((route, _)) = routes.iter().find(|(_, methods)| methods.contains(&method)) else {
            let mut resp = Resp::detail(405, "Method Not Allowed");
            if !self.head() {
                let mut allowed: Vec<&str> =
                    routes.iter().flat_map(|(_, m)| m.iter().copied()).collect();
                allowed.dedup();
                resp = resp.with_header("Allow", allowed.join(", "));
            }
            return resp;
        };
        let ctx = Ctx {
            req,
            peer,
            query: parse_query(&req.query),
        };
        let handled = match (route, method) {
            (Route::Health, _) => Ok(self.health()),
            (Route::Docs, _) => Ok(Resp::raw(
                200,
                "text/html; charset=utf-8",
                b"<!doctype html><title>Torale API - Swagger UI</title>".to_vec(),
            )),
            (Route::OpenApi, _) => Ok(Resp::json(
                200,
                &json!({"openapi": "3.1.0", "info": {"title": "Torale API", "version": "0.1.0"}, "paths": {}}),
            )),
            (Route::Me, _) => self.me(&ctx),
            (Route::ApiKeys, "GET") => self.list_keys(&ctx),
            (Route::ApiKeys, _) => self.create_key(&ctx),
            (Route::ApiKey(id), _) => self.revoke_key(&ctx, id),
            (Route::Tasks, "GET") => self.list_tasks(&ctx),
            (Route::Tasks, _) => self.create_task(&ctx),
            (Route::Feed, _) => self.feed(&ctx),
            (Route::Task(id), "GET") => self.get_task(&ctx, id),
            (Route::Task(id), "PUT") => self.update_task(&ctx, id),
            (Route::Task(id), _) => self.delete_task(&ctx, id),
            (Route::Execute(id), _) => self.execute(&ctx, id),
            (Route::Executions(id), _) => self.list_executions(&ctx, id, false),
            (Route::Notifications(id), _) => self.list_executions(&ctx, id, true),
            (Route::Visibility(id), _) => self.set_visibility(&ctx, id),
            (Route::Fork(id), _) => self.fork(&ctx, id),
            (Route::Templates, _) => self.list_templates(&ctx),
            (Route::Template(id), _) => self.get_template(id),
            (Route::WebhookConfig, "GET") => self.webhook_config(&ctx),
            (Route::WebhookConfig, _) => self.put_webhook_config(&ctx),
            (Route::WebhookTest, _) => self.webhook_test(&ctx),
            (Route::WebhookDeliveries, _) => self.webhook_deliveries(&ctx),
        };
        handled.unwrap_or_else(|error| error)
    }

    /// Every route whose path matches, in registration order, with its methods.
    fn routes(&self, segments: &[&str]) -> Vec<(Route, &'static [&'static str])> {
        const GET: &[&str] = &["GET"];
        const POST: &[&str] = &["POST"];
        const GET_POST: &[&str] = &["GET", "POST"];
        const GET_PUT: &[&str] = &["GET", "PUT"];
        const ITEM: &[&str] = &["GET", "PUT", "DELETE"];
        let head = self.head();
        let docs = !head || self.noauth;
        let id = |s: &str| s.to_string();
        let mut out: Vec<(Route, &'static [&'static str])> = Vec::new();
        match segments {
            ["health"] => out.push((Route::Health, GET)),
            ["docs"] if docs => out.push((Route::Docs, GET)),
            ["openapi.json"] if docs => out.push((Route::OpenApi, GET)),
            ["auth", "me"] => out.push((Route::Me, GET)),
            ["auth", "api-keys"] => out.push((Route::ApiKeys, GET_POST)),
            ["auth", "api-keys", key] if !key.is_empty() => {
                out.push((Route::ApiKey(id(key)), &["DELETE"]));
            }
            ["api", "v1", "tasks", ""] => out.push((Route::Tasks, GET_POST)),
            ["api", "v1", "tasks", task] if !task.is_empty() => {
                if head && *task == "feed" {
                    out.push((Route::Feed, GET));
                }
                out.push((Route::Task(id(task)), ITEM));
            }
            ["api", "v1", "tasks", task, action] if !task.is_empty() => match *action {
                "execute" => out.push((Route::Execute(id(task)), POST)),
                "executions" => out.push((Route::Executions(id(task)), GET)),
                "notifications" => out.push((Route::Notifications(id(task)), GET)),
                "visibility" if head => out.push((Route::Visibility(id(task)), &["PATCH"])),
                "fork" if head => out.push((Route::Fork(id(task)), POST)),
                _ => {}
            },
            ["api", "v1", "templates", ""] => out.push((Route::Templates, GET)),
            ["api", "v1", "templates", template] if !template.is_empty() => {
                out.push((Route::Template(id(template)), GET));
            }
            ["api", "v1", "webhooks", "config"] => out.push((Route::WebhookConfig, GET_PUT)),
            ["api", "v1", "webhooks", "test"] => out.push((Route::WebhookTest, POST)),
            ["api", "v1", "webhooks", "deliveries"] => out.push((Route::WebhookDeliveries, GET)),
            _ => {}
        }
        out
    }

    // --- authentication ------------------------------------------------------------------------

    /// The user behind a valid, active key; records `last_used_at`.
    fn check_key(&mut self, key: &str) -> Option<String> {
        let row = self.keys.iter_mut().find(|k| k.is_active && k.key == key)?;
        row.last_used_at = Some(ts(now_micros()));
        Some(row.user_id.clone())
    }

    fn unauthorized(&self, message: &str) -> Resp {
        let resp = Resp::detail(401, message);
        if self.head() {
            resp
        } else {
            resp.with_header("WWW-Authenticate", "Bearer")
        }
    }

    /// Group A (HEAD) or C (legacy `/api/v1`): a user is required; NOAUTH ignores the header.
    fn auth_user(&mut self, ctx: &Ctx) -> Result<String, Resp> {
        if self.noauth {
            return Ok(self.default_user.clone());
        }
        match credential(ctx.req) {
            Credential::Missing | Credential::OtherScheme => {
                Err(self.unauthorized("Not authenticated"))
            }
            Credential::ApiKey(key) => self
                .check_key(&key)
                .ok_or_else(|| self.unauthorized("Invalid API key")),
            Credential::Token => Err(self.unauthorized("Could not validate credentials")),
        }
    }

    /// Group B: HEAD treats anything but a valid key as anonymous; legacy requires a key (C).
    fn auth_optional(&mut self, ctx: &Ctx) -> Result<Option<String>, Resp> {
        if !self.head() {
            return self.auth_user(ctx).map(Some);
        }
        if self.noauth {
            return Ok(Some(self.default_user.clone()));
        }
        Ok(match credential(ctx.req) {
            Credential::ApiKey(key) => self.check_key(&key),
            _ => None,
        })
    }

    /// `/auth/*`: group A at HEAD, group D (403 without a bearer, no NOAUTH bypass) at legacy.
    fn auth_account(&mut self, ctx: &Ctx) -> Result<String, Resp> {
        if self.head() {
            return self.auth_user(ctx);
        }
        match credential(ctx.req) {
            Credential::Missing => Err(Resp::detail(403, "Not authenticated")),
            Credential::OtherScheme => Err(Resp::detail(403, "Invalid authentication credentials")),
            Credential::ApiKey(key) => self
                .check_key(&key)
                .ok_or_else(|| self.unauthorized("Invalid API key")),
            Credential::Token => Err(self.unauthorized("Could not validate credentials")),
        }
    }

    /// HEAD's slowapi limiter: per token (after `Bearer `) or client IP, checked after auth and
    /// validation.
    fn rate_limit(
        &mut self,
        ctx: &Ctx,
        bucket: &'static str,
        per_minute: usize,
    ) -> Result<(), Resp> {
        if !self.head() || !self.rate_limits {
            return Ok(());
        }
        let who = match ctx.req.header("authorization") {
            Some(h) if h.starts_with("Bearer ") => format!("token:{}", &h["Bearer ".len()..]),
            _ => format!("ip:{}", ctx.peer),
        };
        let now = Instant::now();
        let hits = self.rate.entry((bucket, who)).or_default();
        while hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            hits.pop_front();
        }
        if hits.len() >= per_minute {
            let message = format!("Rate limit exceeded: {per_minute} per 1 minute");
            return Err(Resp::json(429, &json!({ "error": message })));
        }
        hits.push_back(now);
        Ok(())
    }

    // --- health, account and keys ----------------------------------------------------------------

    fn health(&self) -> Resp {
        if !self.head() {
            Resp::json(200, &json!({"status": "healthy", "service": "torale-api"}))
        } else if self.healthy {
            Resp::json(200, &json!({"status": "healthy"}))
        } else {
            Resp::json(
                503,
                &json!({"status": "degraded", "scheduler_running": false, "startup_sync_ok": true}),
            )
        }
    }

    fn me(&mut self, ctx: &Ctx) -> Handled {
        let uid = self.auth_account(ctx)?;
        let user = self.user(&uid);
        let value = if self.head() {
            json!({"id": user.id, "clerk_user_id": user.clerk_user_id, "email": user.email,
                   "first_name": null, "username": null, "is_active": true,
                   "has_seen_welcome": false, "created_at": user.created_at})
        } else {
            json!({"id": user.id, "clerk_user_id": user.clerk_user_id, "email": user.email,
                   "first_name": null, "is_active": true, "created_at": user.created_at})
        };
        Ok(Resp::json(200, &value))
    }

    fn key_json(row: &KeyRow) -> Value {
        let prefix: String = row.key.chars().take(15).collect();
        json!({"id": row.id, "user_id": row.user_id, "key_prefix": format!("{prefix}..."),
               "name": row.name, "created_at": row.created_at, "last_used_at": row.last_used_at,
               "is_active": row.is_active})
    }

    fn list_keys(&mut self, ctx: &Ctx) -> Handled {
        let uid = self.auth_account(ctx)?;
        let keys: Vec<Value> = self
            .keys
            .iter()
            .rev()
            .filter(|k| k.user_id == uid)
            .map(State::key_json)
            .collect();
        Ok(Resp::json(200, &Value::Array(keys)))
    }

    fn create_key(&mut self, ctx: &Ctx) -> Handled {
        let body = parse_body(ctx)?;
        let uid = self.auth_account(ctx)?;
        let mut errors = Vec::new();
        if let Some(map) = body_object(&mut errors, &body) {
            errors.extend(validate(map, &[("name", Kind::Str, true)]));
        }
        fail_on(errors)?;
        self.rate_limit(ctx, "api-keys", 3)?;
        if self.head() && self.keys.iter().any(|k| k.user_id == uid && k.is_active) {
            return Err(Resp::detail(
                400,
                "You already have an active API key. Please revoke it before creating a new one.",
            ));
        }
        let name = body_str(&body, "name").unwrap_or_default();
        let key = self.rng.api_key();
        let index = self.push_key(&uid, &key, &name);
        let info = State::key_json(&self.keys[index]);
        Ok(Resp::json(200, &json!({"key": key, "key_info": info})))
    }

    fn revoke_key(&mut self, ctx: &Ctx, raw_id: &str) -> Handled {
        let uid = self.auth_account(ctx)?;
        let mut errors = Vec::new();
        let id = check_uuid(&mut errors, raw_id, "key_id");
        fail_on(errors)?;
        match self
            .keys
            .iter_mut()
            .find(|k| k.id == id && k.user_id == uid)
        {
            Some(row) => {
                row.is_active = false;
                Ok(Resp::json(200, &json!({"status": "revoked"})))
            }
            None => Err(Resp::detail(404, "API key not found")),
        }
    }

    // --- tasks ----------------------------------------------------------------------------------

    fn task(&self, id: &str) -> Option<&TaskRow> {
        self.task_seq.get(id).and_then(|seq| self.tasks.get(seq))
    }

    fn task_mut(&mut self, id: &str) -> Option<&mut TaskRow> {
        let seq = *self.task_seq.get(id)?;
        self.tasks.get_mut(&seq)
    }

    /// The task if `user` owns it, else 404 (never 403).
    fn owned(&self, id: &str, user: &str) -> Result<&TaskRow, Resp> {
        self.task(id)
            .filter(|row| row.user_id() == user)
            .ok_or_else(task_not_found)
    }

    /// Whether `viewer` may read the task (owner, or a public task at HEAD), and owns it.
    fn readable(&self, id: &str, viewer: Option<&str>) -> Result<bool, Resp> {
        let row = self.task(id).ok_or_else(task_not_found)?;
        let owner = viewer == Some(row.user_id());
        if owner || (self.head() && row.is_public()) {
            Ok(owner)
        } else {
            Err(task_not_found())
        }
    }

    fn user_has_name(&self, user: &str, name: &str, except: Option<&str>) -> bool {
        self.tasks.values().any(|row| {
            row.user_id() == user && row.text("name") == name && Some(row.id()) != except
        })
    }

    /// A task in the generation's server shape; `embed` fills `last_execution` (HEAD).
    fn render_task(&self, row: &TaskRow, owner: bool, embed: bool) -> Value {
        let mut out = Vec::new();
        self.write_task(&mut out, row, owner, embed);
        serde_json::from_slice(&out).unwrap_or(Value::Null)
    }

    fn write_task(&self, out: &mut Vec<u8>, row: &TaskRow, owner: bool, embed: bool) {
        if !self.head() {
            write_object(out, &row.fields, &[]);
            return;
        }
        let last = if embed {
            row.fields
                .get("last_execution_id")
                .and_then(Value::as_str)
                .and_then(|exec_id| self.find_execution(row.id(), exec_id))
                .map(|e| Value::Object(e.fields.clone()))
        } else {
            None
        };
        let last = last.unwrap_or(Value::Null);
        let hidden = json!([]);
        let mut overrides = vec![("last_execution", &last)];
        if !owner {
            overrides.push(("notifications", &hidden));
        }
        write_object(out, &row.fields, &overrides);
    }

    fn render_id(&self, id: &str, owner: bool, embed: bool) -> Resp {
        match self.task(id) {
            Some(row) => {
                let mut out = Vec::new();
                self.write_task(&mut out, row, owner, embed);
                Resp::raw(200, "application/json", out)
            }
            None => task_not_found(),
        }
    }

    fn find_execution(&self, task_id: &str, exec_id: &str) -> Option<&ExecRow> {
        self.executions
            .get(task_id)?
            .iter()
            .find(|e| e.fields.get("id").and_then(Value::as_str) == Some(exec_id))
    }

    /// A new task row with the generation's defaults.
    fn default_task(&mut self, user: &str) -> Map<String, Value> {
        let now = now_micros();
        let stamp = ts(now);
        let id = self.rng.uuid();
        let value = if self.head() {
            json!({"name": "New Monitor", "state": "active", "search_query": "What is new?",
                   "condition_description": "What is new?", "notifications": [],
                   "attached_connector_slugs": [], "id": id, "user_id": user,
                   "created_at": stamp, "updated_at": stamp, "state_changed_at": stamp,
                   "last_known_state": null, "last_execution_id": null,
                   "next_run": ts(now + MINUTE_MICROS), "immediate_execution_error": null,
                   "context": null, "is_public": false, "view_count": 0, "subscriber_count": 0,
                   "forked_from_task_id": null})
        } else {
            json!({"name": "New Monitor", "schedule": "0 9 * * *",
                   "executor_type": "llm_grounded_search", "config": {"model": "gemini-2.5-flash"},
                   "is_active": true, "search_query": "What is new?",
                   "condition_description": "What is new?", "notify_behavior": "once",
                   "notifications": [], "id": id, "user_id": user, "created_at": stamp,
                   "updated_at": stamp, "condition_met": false, "last_known_state": null,
                   "last_notified_at": null})
        };
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn insert_task(&mut self, fields: Map<String, Value>, scheduled: bool) -> String {
        let seq = self.next_seq();
        let id = fields
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.task_seq.insert(id.clone(), seq);
        self.tasks.insert(seq, TaskRow { fields, scheduled });
        id
    }

    fn seed_task(&mut self, user: &str, overrides: Value) -> String {
        let mut fields = self.default_task(user);
        let seq = self.seq + 1;
        fields.insert("name".to_string(), json!(format!("Seeded task {seq}")));
        let mut scheduled = true;
        if let Value::Object(map) = overrides {
            if map.contains_key("search_query") && !map.contains_key("condition_description") {
                fields.insert(
                    "condition_description".to_string(),
                    map["search_query"].clone(),
                );
            }
            if self.head()
                && map.get("state").is_some_and(|s| s != "active")
                && !map.contains_key("next_run")
            {
                fields.insert("next_run".to_string(), Value::Null);
            }
            for (key, value) in map {
                if key == "_scheduled" {
                    scheduled = value != Value::Bool(false);
                } else if key == "notifications" {
                    let list = value
                        .as_array()
                        .map(|items| items.iter().map(filled_notification).collect());
                    fields.insert(key, list.map_or(value, Value::Array));
                } else {
                    fields.insert(key, value);
                }
            }
        }
        self.insert_task(fields, scheduled)
    }

    fn list_tasks(&mut self, ctx: &Ctx) -> Handled {
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let (state, active) = if self.head() {
            let state = ctx.q("state").and_then(|s| {
                if STATES.contains(&s) {
                    Some(s.to_string())
                } else {
                    errors.push(enum_error(
                        vec![json!("query"), json!("state")],
                        &json!(s),
                        STATES,
                    ));
                    None
                }
            });
            (state, None)
        } else {
            let active = ctx.q("is_active").and_then(|s| {
                let parsed = lax_bool(&json!(s));
                if parsed.is_none() {
                    errors.push(bool_error(
                        vec![json!("query"), json!("is_active")],
                        &json!(s),
                    ));
                }
                parsed
            });
            (None, active)
        };
        fail_on(errors)?;
        let mut out = Vec::with_capacity(1024);
        out.push(b'[');
        let rows = self
            .tasks
            .values()
            .rev()
            .filter(|row| row.user_id() == uid)
            .filter(|row| state.as_deref().is_none_or(|s| row.text("state") == s))
            .filter(|row| {
                active.is_none_or(|a| row.fields.get("is_active") == Some(&Value::Bool(a)))
            });
        for (i, row) in rows.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.write_task(&mut out, row, true, true);
        }
        out.push(b']');
        Ok(Resp::raw(200, "application/json", out))
    }

    fn create_task(&mut self, ctx: &Ctx) -> Handled {
        if self.head() {
            self.create_head_task(ctx)
        } else {
            self.create_legacy_task(ctx)
        }
    }

    fn create_head_task(&mut self, ctx: &Ctx) -> Handled {
        let body = parse_body(ctx)?;
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let map = body_object(&mut errors, &body);
        if let Some(map) = map {
            errors.extend(validate(
                map,
                &[
                    ("name", Kind::Str, false),
                    ("state", Kind::Enum(STATES), false),
                    ("search_query", Kind::Str, true),
                    ("condition_description", Kind::OptStr, false),
                    ("notifications", Kind::Notifications, false),
                    ("attached_connector_slugs", Kind::StrList, false),
                    ("run_immediately", Kind::Bool, false),
                    ("context", Kind::OptObj, false),
                ],
            ));
        }
        fail_on(errors)?;
        let map = map.cloned().unwrap_or_default();
        self.rate_limit(ctx, "tasks", 10)?;
        let state = map
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("active")
            .to_string();
        if state == "active" {
            let active = self
                .tasks
                .values()
                .filter(|row| row.user_id() == uid && row.text("state") == "active")
                .count();
            if active >= ACTIVE_CAP {
                return Err(Resp::detail(
                    429,
                    "Maximum of 50 active tasks reached. Complete or pause existing tasks first.",
                ));
            }
        }
        let notifications = notification_configs(map.get("notifications"))?;
        if map.get("context").is_some_and(|c| !c.is_null()) {
            return Err(Resp::internal());
        }
        let name = map
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("New Monitor")
            .to_string();
        if self.user_has_name(&uid, &name, None) {
            return Err(Resp::internal());
        }
        let query = map.get("search_query").cloned().unwrap_or(Value::Null);
        let condition = match map.get("condition_description") {
            Some(Value::String(s)) => json!(s),
            _ => query.clone(),
        };
        let mut fields = self.default_task(&uid);
        fields.insert("name".to_string(), json!(name));
        fields.insert("search_query".to_string(), query);
        fields.insert("condition_description".to_string(), condition);
        fields.insert("notifications".to_string(), Value::Array(notifications));
        if let Some(slugs) = map.get("attached_connector_slugs") {
            fields.insert("attached_connector_slugs".to_string(), slugs.clone());
        }
        if state != "active" {
            fields.insert("next_run".to_string(), Value::Null);
        }
        fields.insert("state".to_string(), json!(state));
        let id = self.insert_task(fields, true);
        if map.get("run_immediately").and_then(lax_bool) == Some(true) {
            self.start_execution(&id);
        }
        Ok(self.render_id(&id, true, false))
    }

    fn create_legacy_task(&mut self, ctx: &Ctx) -> Handled {
        let body = parse_body(ctx)?;
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let map = body_object(&mut errors, &body);
        if let Some(map) = map {
            errors.extend(validate(
                map,
                &[
                    ("name", Kind::Str, true),
                    ("schedule", Kind::Str, true),
                    ("executor_type", Kind::Literal(EXECUTOR_TYPES), false),
                    ("config", Kind::Obj, true),
                    ("is_active", Kind::Bool, false),
                    ("search_query", Kind::Str, true),
                    ("condition_description", Kind::Str, true),
                    ("notify_behavior", Kind::Enum(NOTIFY_BEHAVIORS), false),
                    ("notifications", Kind::Notifications, false),
                ],
            ));
        }
        fail_on(errors)?;
        let map = map.cloned().unwrap_or_default();
        let notifications = notification_configs(map.get("notifications"))?;
        let active = map.get("is_active").and_then(lax_bool).unwrap_or(true);
        let schedule = map
            .get("schedule")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if active && schedule.split_whitespace().count() != 5 {
            return Err(Resp::detail(
                500,
                format!("Failed to create schedule: Invalid cron expression: {schedule}"),
            ));
        }
        let mut fields = self.default_task(&uid);
        for key in [
            "name",
            "schedule",
            "config",
            "search_query",
            "condition_description",
            "notify_behavior",
        ] {
            if let Some(value) = map.get(key) {
                fields.insert(key.to_string(), value.clone());
            }
        }
        fields.insert("is_active".to_string(), json!(active));
        fields.insert("notifications".to_string(), Value::Array(notifications));
        let id = self.insert_task(fields, active);
        Ok(self.render_id(&id, true, false))
    }

    fn get_task(&mut self, ctx: &Ctx, raw_id: &str) -> Handled {
        let viewer = self.auth_optional(ctx)?;
        let mut errors = Vec::new();
        let id = check_uuid(&mut errors, raw_id, "task_id");
        fail_on(errors)?;
        let owner = self.readable(&id, viewer.as_deref())?;
        self.poll(&id);
        if !owner {
            if let Some(row) = self.task_mut(&id) {
                let views = row
                    .fields
                    .get("view_count")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                row.fields
                    .insert("view_count".to_string(), json!(views + 1));
            }
        }
        Ok(self.render_id(&id, owner, true))
    }

    fn update_task(&mut self, ctx: &Ctx, raw_id: &str) -> Handled {
        let body = parse_body(ctx)?;
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let id = check_uuid(&mut errors, raw_id, "task_id");
        let map = body_object(&mut errors, &body);
        if let Some(map) = map {
            let spec: &[(&str, Kind, bool)] = if self.head() {
                &[
                    ("name", Kind::OptStr, false),
                    ("state", Kind::OptEnum(STATES), false),
                    ("search_query", Kind::OptStr, false),
                    ("condition_description", Kind::OptStr, false),
                    ("notifications", Kind::OptNotifications, false),
                    ("attached_connector_slugs", Kind::OptStrList, false),
                    ("context", Kind::OptObj, false),
                ]
            } else {
                &[
                    ("name", Kind::OptStr, false),
                    ("schedule", Kind::OptStr, false),
                    ("config", Kind::OptObj, false),
                    ("is_active", Kind::OptBool, false),
                    ("search_query", Kind::OptStr, false),
                    ("condition_description", Kind::OptStr, false),
                    ("notify_behavior", Kind::OptEnum(NOTIFY_BEHAVIORS), false),
                    ("notifications", Kind::OptNotifications, false),
                ]
            };
            errors.extend(validate(map, spec));
        }
        fail_on(errors)?;
        let map = map.cloned().unwrap_or_default();
        self.owned(&id, &uid)?;
        if self.head() {
            self.update_head_task(&id, &uid, &map)
        } else {
            self.update_legacy_task(&id, &map)
        }
    }

    fn update_head_task(&mut self, id: &str, uid: &str, map: &Map<String, Value>) -> Handled {
        const FIELDS: [&str; 7] = [
            "name",
            "state",
            "search_query",
            "condition_description",
            "notifications",
            "attached_connector_slugs",
            "context",
        ];
        if !map.keys().any(|k| FIELDS.contains(&k.as_str())) {
            return Ok(self.render_id(id, true, false));
        }
        if map.get("name") == Some(&Value::Null) || map.get("state") == Some(&Value::Null) {
            return Err(Resp::internal());
        }
        if map.get("context").is_some_and(|c| !c.is_null()) {
            return Err(Resp::internal());
        }
        let notifications = match map.get("notifications") {
            Some(v) if !v.is_null() => Some(notification_configs(Some(v))?),
            _ => None,
        };
        if let Some(name) = map.get("name").and_then(Value::as_str) {
            if self.user_has_name(uid, name, Some(id)) {
                return Err(Resp::internal());
            }
        }
        let current = self
            .task(id)
            .map(|row| row.text("state").to_string())
            .unwrap_or_default();
        let target = map.get("state").and_then(Value::as_str);
        if let Some(to) = target {
            if !transition_allowed(&current, to) {
                return Err(Resp::detail(
                    400,
                    format!("Invalid state transition: Cannot transition from {current} to {to}"),
                ));
            }
        }
        let now = now_micros();
        let Some(row) = self.task_mut(id) else {
            return Err(task_not_found());
        };
        let mut changed = false;
        for key in [
            "name",
            "search_query",
            "condition_description",
            "attached_connector_slugs",
        ] {
            if let Some(value) = map
                .get(key)
                .filter(|v| key != "attached_connector_slugs" || !v.is_null())
            {
                row.fields.insert(key.to_string(), value.clone());
                changed = true;
            }
        }
        if let Some(list) = notifications {
            row.fields
                .insert("notifications".to_string(), Value::Array(list));
            changed = true;
        }
        if let Some(to) = target.filter(|to| *to != current) {
            row.fields.insert("state".to_string(), json!(to));
            row.fields
                .insert("state_changed_at".to_string(), json!(ts(now)));
            if to == "active" {
                row.fields
                    .insert("next_run".to_string(), json!(ts(now + MINUTE_MICROS)));
            }
            changed = true;
        }
        if changed {
            row.fields.insert("updated_at".to_string(), json!(ts(now)));
        }
        Ok(self.render_id(id, true, true))
    }

    fn update_legacy_task(&mut self, id: &str, map: &Map<String, Value>) -> Handled {
        for key in ["name", "schedule", "config", "is_active", "notify_behavior"] {
            if map.get(key) == Some(&Value::Null) {
                return Err(Resp::internal());
            }
        }
        let notifications = match map.get("notifications") {
            Some(v) if !v.is_null() => Some(notification_configs(Some(v))?),
            _ => None,
        };
        let Some(row) = self.task_mut(id) else {
            return Err(task_not_found());
        };
        let current = row.fields.get("is_active") == Some(&Value::Bool(true));
        if let Some(active) = map.get("is_active").and_then(lax_bool) {
            if active && !current && !row.scheduled {
                return Err(Resp::detail(
                    500,
                    format!(
                        "Failed to unpause schedule: workflow not found for ID: {id}. \
                         Task update rolled back."
                    ),
                ));
            }
            row.fields.insert("is_active".to_string(), json!(active));
        }
        let keys = [
            "name",
            "schedule",
            "config",
            "search_query",
            "condition_description",
            "notify_behavior",
        ];
        for key in keys {
            if let Some(value) = map.get(key) {
                row.fields.insert(key.to_string(), value.clone());
            }
        }
        if let Some(list) = notifications {
            row.fields
                .insert("notifications".to_string(), Value::Array(list));
        }
        if !map.is_empty() {
            row.fields
                .insert("updated_at".to_string(), json!(ts(now_micros())));
        }
        Ok(self.render_id(id, true, false))
    }

    fn delete_task(&mut self, ctx: &Ctx, raw_id: &str) -> Handled {
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let id = check_uuid(&mut errors, raw_id, "task_id");
        fail_on(errors)?;
        let row = self.owned(&id, &uid)?;
        if !self.head() && !row.scheduled {
            return Err(Resp::detail(
                500,
                format!(
                    "Failed to delete Temporal schedule: workflow not found for ID: {id}. \
                     Task not deleted to prevent orphaned schedule."
                ),
            ));
        }
        if let Some(seq) = self.task_seq.remove(&id) {
            self.tasks.remove(&seq);
        }
        self.executions.remove(&id);
        Ok(Resp::empty(204))
    }

    fn set_visibility(&mut self, ctx: &Ctx, raw_id: &str) -> Handled {
        let body = parse_body(ctx)?;
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let id = check_uuid(&mut errors, raw_id, "task_id");
        if let Some(map) = body_object(&mut errors, &body) {
            errors.extend(validate(map, &[("is_public", Kind::Bool, true)]));
        }
        fail_on(errors)?;
        self.owned(&id, &uid)?;
        let public = match &body {
            Body::Json(v) => v.get("is_public").and_then(lax_bool).unwrap_or(false),
            Body::Missing => false,
        };
        if let Some(row) = self.task_mut(&id) {
            row.fields.insert("is_public".to_string(), json!(public));
        }
        Ok(Resp::json(200, &json!({ "is_public": public })))
    }

    fn fork(&mut self, ctx: &Ctx, raw_id: &str) -> Handled {
        let body = parse_body(ctx)?;
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let id = check_uuid(&mut errors, raw_id, "task_id");
        if let Some(map) = body_object(&mut errors, &body) {
            errors.extend(validate(map, &[("name", Kind::OptStr, false)]));
        }
        fail_on(errors)?;
        let owner = self.readable(&id, Some(&uid))?;
        let Some(source) = self.task(&id) else {
            return Err(task_not_found());
        };
        let source_name = source.text("name").to_string();
        let candidates = match body_str(&body, "name") {
            Some(name) => vec![name.clone(), name.clone(), name],
            None => vec![
                format!("{source_name} (Copy)"),
                format!("{source_name} (Copy 2)"),
                format!("{source_name} (Copy 3)"),
            ],
        };
        let Some(name) = candidates
            .into_iter()
            .find(|n| !self.user_has_name(&uid, n, None))
        else {
            return Err(Resp::detail(
                409,
                "Failed to generate unique task name after multiple attempts. \
                 Please provide a custom name.",
            ));
        };
        let copied =
            ["search_query", "condition_description"].map(|k| source.fields.get(k).cloned());
        let notifications = if owner {
            source
                .fields
                .get("notifications")
                .cloned()
                .unwrap_or(json!([]))
        } else {
            json!([])
        };
        let mut fields = self.default_task(&uid);
        fields.insert("name".to_string(), json!(name));
        fields.insert("state".to_string(), json!("paused"));
        let [query, condition] = copied;
        fields.insert("search_query".to_string(), query.unwrap_or(Value::Null));
        fields.insert(
            "condition_description".to_string(),
            condition.unwrap_or(Value::Null),
        );
        fields.insert("notifications".to_string(), notifications);
        fields.insert("next_run".to_string(), Value::Null);
        fields.insert("forked_from_task_id".to_string(), json!(id));
        if !owner {
            if let Some(row) = self.task_mut(&id) {
                let count = row
                    .fields
                    .get("subscriber_count")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                row.fields
                    .insert("subscriber_count".to_string(), json!(count + 1));
            }
        }
        let new_id = self.insert_task(fields, true);
        Ok(self.render_id(&new_id, true, false))
    }

    // --- executions -----------------------------------------------------------------------------

    fn start_execution(&mut self, task_id: &str) -> Value {
        let stamp = ts(now_micros());
        let id = self.rng.uuid();
        let value = if self.head() {
            json!({"task_id": task_id, "status": "pending", "result": null, "error_message": null,
                   "notification": null, "grounding_sources": null, "id": id,
                   "started_at": stamp, "completed_at": null, "created_at": stamp})
        } else {
            json!({"task_id": task_id, "status": "pending", "result": null, "error_message": null,
                   "condition_met": null, "change_summary": null, "grounding_sources": null,
                   "id": id, "started_at": stamp, "completed_at": null, "created_at": stamp})
        };
        let Value::Object(fields) = value.clone() else {
            unreachable!()
        };
        let row = ExecRow {
            fields,
            stage: 0,
            polls: 0,
            plan: self.plan.clone(),
        };
        self.executions
            .entry(task_id.to_string())
            .or_default()
            .push(row);
        value
    }

    fn execute(&mut self, ctx: &Ctx, raw_id: &str) -> Handled {
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let id = check_uuid(&mut errors, raw_id, "task_id");
        fail_on(errors)?;
        self.owned(&id, &uid)?;
        if self.head() {
            let stamp = ts(now_micros());
            for exec in self.executions.get_mut(&id).into_iter().flatten() {
                if exec.stage < 2 {
                    exec.stage = 2;
                    exec.fields.insert("status".to_string(), json!("cancelled"));
                    exec.fields
                        .insert("error_message".to_string(), json!(CANCELLED_MESSAGE));
                    exec.fields.insert("completed_at".to_string(), json!(stamp));
                }
            }
        }
        let execution = self.start_execution(&id);
        Ok(Resp::json(200, &execution))
    }

    /// One poll of a task: each unfinished execution moves one step every `polls_per_step` polls.
    fn poll(&mut self, task_id: &str) {
        let mut finished = Vec::new();
        for (index, exec) in self
            .executions
            .get_mut(task_id)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if exec.stage >= 2 || exec.plan.outcome == Outcome::Stuck {
                continue;
            }
            exec.polls += 1;
            if exec.polls < exec.plan.polls_per_step.max(1) {
                continue;
            }
            exec.polls = 0;
            exec.stage += 1;
            if exec.stage == 1 {
                exec.fields.insert("status".to_string(), json!("running"));
            } else {
                finished.push(index);
            }
        }
        for index in finished {
            self.finish_execution(task_id, index);
        }
    }

    fn finish_execution(&mut self, task_id: &str, index: usize) {
        let head = self.head();
        let now = now_micros();
        let stamp = ts(now);
        let Some(task) = self.task(task_id) else {
            return;
        };
        let query = task.text("search_query").to_string();
        let condition = task.text("condition_description").to_string();
        let once = task.text("notify_behavior") == "once";
        let webhook = task
            .fields
            .get("notifications")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|n| n["type"] == "webhook"))
            .and_then(|n| n["url"].as_str())
            .map(str::to_string);
        let Some(exec) = self
            .executions
            .get_mut(task_id)
            .and_then(|list| list.get_mut(index))
        else {
            return;
        };
        let exec_id = exec
            .fields
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let outcome = exec.plan.outcome.clone();
        exec.fields.insert("completed_at".to_string(), json!(stamp));
        let sources = json!([{"url": "https://example.com/news", "title": "Example News"}]);
        let mut task_updates: Vec<(&str, Value)> = Vec::new();
        let mut delivered = None;
        match outcome {
            Outcome::Success { notification } => {
                let met = notification.is_some();
                let evidence = if met {
                    format!("Searched for \"{query}\": the condition is met.")
                } else {
                    format!("Searched for \"{query}\": nothing has changed yet.")
                };
                exec.fields.insert("status".to_string(), json!("success"));
                exec.fields
                    .insert("grounding_sources".to_string(), sources.clone());
                if head {
                    let result = json!({
                        "evidence": evidence, "notification": notification, "confidence": 87,
                        "next_run": ts(now + 24 * 60 * MINUTE_MICROS), "grounding_sources": sources,
                        "activity": [{"tool": "perplexity_search", "detail": format!("Searched for {query}"),
                                      "connector_slug": null, "annotations": null}],
                        "metadata": {"changed": met, "current_state": null}});
                    exec.fields.insert("result".to_string(), result);
                    exec.fields
                        .insert("notification".to_string(), json!(notification));
                    task_updates.push(("last_execution_id", json!(exec_id)));
                    task_updates.push(("last_known_state", json!({ "evidence": evidence })));
                    if met {
                        delivered = webhook;
                    }
                } else {
                    let current = json!({ "answer": evidence });
                    let result = json!({
                        "success": true, "answer": evidence, "condition_met": met,
                        "change_summary": notification, "grounding_sources": sources,
                        "current_state": current});
                    exec.fields.insert("result".to_string(), result);
                    exec.fields.insert("condition_met".to_string(), json!(met));
                    exec.fields
                        .insert("change_summary".to_string(), json!(notification));
                    task_updates.push(("last_known_state", current));
                    task_updates.push(("condition_met", json!(met)));
                    if met {
                        task_updates.push(("last_notified_at", json!(stamp)));
                        if once {
                            task_updates.push(("is_active", json!(false)));
                        }
                    }
                }
                task_updates.push(("updated_at", json!(stamp)));
            }
            Outcome::Failed(message) => {
                exec.fields.insert("status".to_string(), json!("failed"));
                exec.fields
                    .insert("error_message".to_string(), json!(message));
                let result = if head {
                    json!({"metadata": {"changed": false, "current_state": null}})
                } else {
                    json!({"success": false, "error": message, "search_query": query,
                           "condition_description": condition})
                };
                exec.fields.insert("result".to_string(), result);
            }
            Outcome::Cancelled if head => {
                exec.fields.insert("status".to_string(), json!("cancelled"));
                exec.fields
                    .insert("error_message".to_string(), json!(CANCELLED_MESSAGE));
            }
            Outcome::Cancelled => {
                exec.fields.insert("status".to_string(), json!("failed"));
                exec.fields.insert(
                    "error_message".to_string(),
                    json!("Workflow execution cancelled"),
                );
            }
            Outcome::Retrying(message) => {
                let status = if head { "retrying" } else { "failed" };
                exec.fields.insert("status".to_string(), json!(status));
                exec.fields
                    .insert("error_message".to_string(), json!(message));
                exec.fields.insert(
                    "result".to_string(),
                    json!({"metadata": {"changed": false, "current_state": null}}),
                );
            }
            Outcome::Stuck => {}
        }
        if let Some(row) = self.task_mut(task_id) {
            for (key, value) in task_updates {
                row.fields.insert(key.to_string(), value);
            }
        }
        if let Some(url) = delivered {
            let id = self.rng.uuid();
            let Value::Object(delivery) = json!({
                "id": id, "task_id": task_id, "webhook_url": url, "http_status": 200,
                "attempt_number": 1, "delivered_at": stamp, "failed_at": null,
                "error_message": null, "created_at": stamp})
            else {
                unreachable!()
            };
            self.deliveries.push(delivery);
        }
    }

    fn list_executions(&mut self, ctx: &Ctx, raw_id: &str, only_notifications: bool) -> Handled {
        let viewer = self.auth_optional(ctx)?;
        let mut errors = Vec::new();
        let id = check_uuid(&mut errors, raw_id, "task_id");
        let limit = query_int(&mut errors, ctx, "limit", 100);
        fail_on(errors)?;
        let owner = self.readable(&id, viewer.as_deref())?;
        if limit < 0 {
            return Err(Resp::internal());
        }
        self.poll(&id);
        let head = self.head();
        let rows: Vec<Value> = self
            .executions
            .get(&id)
            .into_iter()
            .flatten()
            .rev()
            .filter(|e| {
                !only_notifications
                    || if head {
                        e.fields.get("notification").is_some_and(|n| !n.is_null())
                    } else {
                        e.fields.get("condition_met") == Some(&Value::Bool(true))
                    }
            })
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|e| {
                let mut fields = e.fields.clone();
                if !owner {
                    fields.insert("error_message".to_string(), Value::Null);
                }
                Value::Object(fields)
            })
            .collect();
        Ok(Resp::json(200, &Value::Array(rows)))
    }

    fn feed(&mut self, ctx: &Ctx) -> Handled {
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let limit = query_int(&mut errors, ctx, "limit", 50);
        if errors.is_empty() {
            let input = json!(ctx.q("limit").unwrap_or_default());
            let loc = vec![json!("query"), json!("limit")];
            if limit < 1 {
                errors.push(error_item(
                    "greater_than_equal",
                    loc,
                    "Input should be greater than or equal to 1",
                    input,
                    Some(json!({"ge": 1})),
                ));
            } else if limit > 100 {
                errors.push(error_item(
                    "less_than_equal",
                    loc,
                    "Input should be less than or equal to 100",
                    input,
                    Some(json!({"le": 100})),
                ));
            }
        }
        fail_on(errors)?;
        let mut rows: Vec<(String, Value)> = Vec::new();
        for task in self.tasks.values().filter(|row| row.user_id() == uid) {
            for exec in self.executions.get(task.id()).into_iter().flatten() {
                let notified = exec
                    .fields
                    .get("notification")
                    .is_some_and(|n| !n.is_null());
                if exec.fields.get("status") == Some(&json!("success")) && notified {
                    let mut fields = exec.fields.clone();
                    fields.insert("task_name".to_string(), json!(task.text("name")));
                    fields.insert(
                        "task_search_query".to_string(),
                        task.fields["search_query"].clone(),
                    );
                    fields.insert("task_is_public".to_string(), json!(task.is_public()));
                    fields.insert("task_user_id".to_string(), json!(task.user_id()));
                    let started = exec.fields["started_at"].as_str().unwrap_or("").to_string();
                    rows.push((started, Value::Object(fields)));
                }
            }
        }
        rows.sort_by(|a, b| b.0.cmp(&a.0));
        let rows: Vec<Value> = rows
            .into_iter()
            .take(limit as usize)
            .map(|(_, v)| v)
            .collect();
        Ok(Resp::json(200, &Value::Array(rows)))
    }

    // --- templates and webhooks --------------------------------------------------------------------

    fn render_template(&self, template: &Map<String, Value>) -> Value {
        let mut fields = template.clone();
        if self.head() {
            for key in ["schedule", "notify_behavior", "config"] {
                fields.remove(key);
            }
        }
        Value::Object(fields)
    }

    fn list_templates(&mut self, ctx: &Ctx) -> Handled {
        let category = ctx.q("category");
        let rows: Vec<Value> = self
            .templates
            .iter()
            .filter(|t| category.is_none_or(|c| t["category"] == c))
            .map(|t| self.render_template(t))
            .collect();
        Ok(Resp::json(200, &Value::Array(rows)))
    }

    fn get_template(&mut self, raw_id: &str) -> Handled {
        let mut errors = Vec::new();
        let id = check_uuid(&mut errors, raw_id, "template_id");
        fail_on(errors)?;
        self.templates
            .iter()
            .find(|t| t["id"] == id.as_str())
            .map(|t| Resp::json(200, &self.render_template(t)))
            .ok_or_else(|| Resp::detail(404, "Template not found"))
    }

    fn webhook_config(&mut self, ctx: &Ctx) -> Handled {
        let uid = self.auth_user(ctx)?;
        let hook = self.webhooks.entry(uid).or_default();
        let value = if self.generation == Generation::Head {
            json!({"url": hook.url, "secret": hook.secret, "enabled": hook.enabled})
        } else {
            json!({"webhook_url": hook.url, "enabled": hook.enabled})
        };
        Ok(Resp::json(200, &value))
    }

    fn put_webhook_config(&mut self, ctx: &Ctx) -> Handled {
        let body = parse_body(ctx)?;
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        if let Some(map) = body_object(&mut errors, &body) {
            errors.extend(validate(
                map,
                &[
                    ("webhook_url", Kind::OptUrl, false),
                    ("enabled", Kind::Bool, false),
                ],
            ));
        }
        fail_on(errors)?;
        let url = body_str(&body, "webhook_url").and_then(|u| normalize_url(&u).ok());
        let enabled = match &body {
            Body::Json(v) => v.get("enabled").and_then(lax_bool).unwrap_or(false),
            Body::Missing => false,
        };
        let head = self.head();
        let fresh = self.rng.token();
        let hook = self.webhooks.entry(uid).or_default();
        let wants_secret = if head { url.is_some() } else { enabled };
        if wants_secret && hook.secret.is_none() {
            hook.secret = Some(fresh);
        }
        hook.url = url;
        hook.enabled = enabled;
        let value = if head {
            json!({"url": hook.url, "secret": hook.secret, "enabled": hook.enabled})
        } else {
            json!({"success": true, "webhook_secret": if enabled { hook.secret.clone() } else { None }})
        };
        Ok(Resp::json(200, &value))
    }

    fn webhook_test(&mut self, ctx: &Ctx) -> Handled {
        let body = parse_body(ctx)?;
        self.auth_user(ctx)?;
        let mut errors = Vec::new();
        if let Some(map) = body_object(&mut errors, &body) {
            errors.extend(validate(
                map,
                &[
                    ("webhook_url", Kind::Url, true),
                    ("webhook_secret", Kind::Str, true),
                ],
            ));
        }
        fail_on(errors)?;
        self.rate_limit(ctx, "webhooks-test", 5)?;
        Ok(Resp::json(
            200,
            &json!({"success": true, "message": "Webhook delivered successfully (HTTP 200)"}),
        ))
    }

    fn webhook_deliveries(&mut self, ctx: &Ctx) -> Handled {
        let uid = self.auth_user(ctx)?;
        let mut errors = Vec::new();
        let limit = query_int(&mut errors, ctx, "limit", 50);
        fail_on(errors)?;
        let task = match ctx.q("task_id") {
            Some(raw) => {
                let id = parse_uuid(raw).map_err(|_| Resp::internal())?;
                self.owned(&id, &uid)?;
                Some(id)
            }
            None => None,
        };
        if limit < 0 {
            return Err(Resp::internal());
        }
        let rows: Vec<Value> = self
            .deliveries
            .iter()
            .rev()
            .filter(|d| {
                let task_id = d["task_id"].as_str().unwrap_or("");
                match &task {
                    Some(id) => task_id == id,
                    None => self.task(task_id).is_some_and(|row| row.user_id() == uid),
                }
            })
            .take(limit as usize)
            .map(|d| Value::Object(d.clone()))
            .collect();
        Ok(Resp::json(200, &Value::Array(rows)))
    }
}

type Handled = Result<Resp, Resp>;

#[derive(Clone, Debug)]
enum Route {
    Health,
    Docs,
    OpenApi,
    Me,
    ApiKeys,
    ApiKey(String),
    Tasks,
    Feed,
    Task(String),
    Execute(String),
    Executions(String),
    Notifications(String),
    Visibility(String),
    Fork(String),
    Templates,
    Template(String),
    WebhookConfig,
    WebhookTest,
    WebhookDeliveries,
}

/// What a handler needs from the request.
struct Ctx<'a> {
    req: &'a Request,
    peer: &'a str,
    query: Vec<(String, String)>,
}

impl Ctx<'_> {
    /// A query parameter (the last one when repeated, like Starlette).
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

enum Credential {
    Missing,
    /// A scheme other than Bearer, or an empty token.
    OtherScheme,
    ApiKey(String),
    /// A bearer token without `sk_`: taken for an identity-provider JWT.
    Token,
}

fn credential(req: &Request) -> Credential {
    let Some(value) = req.header("authorization") else {
        return Credential::Missing;
    };
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        Credential::OtherScheme
    } else if token.starts_with("sk_") {
        Credential::ApiKey(token.to_string())
    } else {
        Credential::Token
    }
}

fn task_not_found() -> Resp {
    Resp::detail(404, TASK_NOT_FOUND)
}

fn transition_allowed(from: &str, to: &str) -> bool {
    !matches!(
        (from, to),
        ("paused", "completed") | ("completed", "paused")
    )
}

// ---------------------------------------------------------------------------------------------
// Request validation (FastAPI / pydantic shapes)
// ---------------------------------------------------------------------------------------------

/// A request body as FastAPI sees it.
enum Body {
    /// No body bytes.
    Missing,
    /// Parsed JSON, or the raw text when the content type is not JSON.
    Json(Value),
}

fn body_str(body: &Body, key: &str) -> Option<String> {
    match body {
        Body::Json(v) => v.get(key).and_then(Value::as_str).map(str::to_string),
        Body::Missing => None,
    }
}

/// Parses the body; a body that is not JSON fails at once with `json_invalid`, before auth.
fn parse_body(ctx: &Ctx) -> Result<Body, Resp> {
    let bytes = &ctx.req.body;
    if bytes.is_empty() {
        return Ok(Body::Missing);
    }
    let is_json = ctx.req.header("content-type").is_none_or(|ct| {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    });
    if !is_json {
        return Ok(Body::Json(Value::String(
            String::from_utf8_lossy(bytes).into_owned(),
        )));
    }
    serde_json::from_slice(bytes).map(Body::Json).map_err(|_| {
        Resp::validation(vec![error_item(
            "json_invalid",
            vec![json!("body"), json!(0)],
            "JSON decode error",
            json!({}),
            Some(json!({"error": "Expecting value"})),
        )])
    })
}

/// The body as an object, or a 422 entry for a missing or non-object body.
fn body_object<'a>(errors: &mut Vec<Value>, body: &'a Body) -> Option<&'a Map<String, Value>> {
    match body {
        Body::Missing => {
            errors.push(error_item(
                "missing",
                vec![json!("body")],
                "Field required",
                Value::Null,
                None,
            ));
            None
        }
        Body::Json(Value::Object(map)) => Some(map),
        Body::Json(other) => {
            errors.push(error_item(
                "model_attributes_type",
                vec![json!("body")],
                "Input should be a valid dictionary or object to extract fields from",
                other.clone(),
                None,
            ));
            None
        }
    }
}

fn fail_on(errors: Vec<Value>) -> Result<(), Resp> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Resp::validation(errors))
    }
}

fn error_item(kind: &str, loc: Vec<Value>, msg: &str, input: Value, ctx: Option<Value>) -> Value {
    let mut map = Map::new();
    map.insert("type".to_string(), json!(kind));
    map.insert("loc".to_string(), Value::Array(loc));
    map.insert("msg".to_string(), json!(msg));
    map.insert("input".to_string(), input);
    if let Some(ctx) = ctx {
        map.insert("ctx".to_string(), ctx);
    }
    Value::Object(map)
}

/// `'a', 'b' or 'c'`, as pydantic lists choices.
fn choices(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

fn enum_error(loc: Vec<Value>, input: &Value, values: &[&str]) -> Value {
    let expected = choices(values);
    error_item(
        "enum",
        loc,
        &format!("Input should be {expected}"),
        input.clone(),
        Some(json!({ "expected": expected })),
    )
}

fn bool_error(loc: Vec<Value>, input: &Value) -> Value {
    if input.is_string() {
        error_item(
            "bool_parsing",
            loc,
            "Input should be a valid boolean, unable to interpret input",
            input.clone(),
            None,
        )
    } else {
        error_item(
            "bool_type",
            loc,
            "Input should be a valid boolean",
            input.clone(),
            None,
        )
    }
}

/// Pydantic's lax boolean.
fn lax_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

fn query_int(errors: &mut Vec<Value>, ctx: &Ctx, name: &str, default: i64) -> i64 {
    match ctx.q(name) {
        None => default,
        Some(text) => text.parse().unwrap_or_else(|_| {
            errors.push(error_item(
                "int_parsing",
                vec![json!("query"), json!(name)],
                "Input should be a valid integer, unable to parse string as an integer",
                json!(text),
                None,
            ));
            default
        }),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    OptStr,
    Bool,
    OptBool,
    Obj,
    OptObj,
    StrList,
    OptStrList,
    Notifications,
    OptNotifications,
    Enum(&'static [&'static str]),
    OptEnum(&'static [&'static str]),
    Literal(&'static [&'static str]),
    Url,
    OptUrl,
}

/// Pydantic-style errors for `map` against `(field, kind, required)`, in field order.
fn validate(map: &Map<String, Value>, spec: &[(&str, Kind, bool)]) -> Vec<Value> {
    let mut errors = Vec::new();
    for &(name, kind, required) in spec {
        let loc = vec![json!("body"), json!(name)];
        match map.get(name) {
            None if required => errors.push(error_item(
                "missing",
                loc,
                "Field required",
                Value::Object(map.clone()),
                None,
            )),
            None => {}
            Some(value) => check_kind(&mut errors, kind, value, loc),
        }
    }
    errors
}

fn extend_loc(loc: &[Value], part: Value) -> Vec<Value> {
    let mut out = loc.to_vec();
    out.push(part);
    out
}

fn check_kind(errors: &mut Vec<Value>, kind: Kind, value: &Value, loc: Vec<Value>) {
    let input = value.clone();
    match kind {
        Kind::OptStr
        | Kind::OptBool
        | Kind::OptObj
        | Kind::OptStrList
        | Kind::OptNotifications
        | Kind::OptEnum(_)
        | Kind::OptUrl
            if value.is_null() => {}
        Kind::Str | Kind::OptStr => {
            if !value.is_string() {
                errors.push(error_item(
                    "string_type",
                    loc,
                    "Input should be a valid string",
                    input,
                    None,
                ));
            }
        }
        Kind::Bool | Kind::OptBool => {
            if lax_bool(value).is_none() {
                errors.push(bool_error(loc, value));
            }
        }
        Kind::Obj | Kind::OptObj => {
            if !value.is_object() {
                errors.push(error_item(
                    "dict_type",
                    loc,
                    "Input should be a valid dictionary",
                    input,
                    None,
                ));
            }
        }
        Kind::StrList | Kind::OptStrList => match value.as_array() {
            None => errors.push(error_item(
                "list_type",
                loc,
                "Input should be a valid list",
                input,
                None,
            )),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_kind(errors, Kind::Str, item, extend_loc(&loc, json!(i)));
                }
            }
        },
        Kind::Notifications | Kind::OptNotifications => match value.as_array() {
            None => errors.push(error_item(
                "list_type",
                loc,
                "Input should be a valid list",
                input,
                None,
            )),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_notification(errors, item, extend_loc(&loc, json!(i)));
                }
            }
        },
        Kind::Enum(values) | Kind::OptEnum(values) => {
            if !value.as_str().is_some_and(|s| values.contains(&s)) {
                errors.push(enum_error(loc, value, values));
            }
        }
        Kind::Literal(values) => {
            if !value.as_str().is_some_and(|s| values.contains(&s)) {
                let expected = choices(values);
                errors.push(error_item(
                    "literal_error",
                    loc,
                    &format!("Input should be {expected}"),
                    input,
                    Some(json!({ "expected": expected })),
                ));
            }
        }
        Kind::Url | Kind::OptUrl => match value.as_str() {
            None => errors.push(error_item(
                "url_type",
                loc,
                "URL input should be a string or URL",
                input,
                None,
            )),
            Some(text) => {
                if let Err((kind, msg, ctx)) = normalize_url(text) {
                    errors.push(error_item(kind, loc, &msg, input, Some(ctx)));
                }
            }
        },
    }
}

fn check_notification(errors: &mut Vec<Value>, item: &Value, loc: Vec<Value>) {
    let Some(map) = item.as_object() else {
        errors.push(error_item(
            "model_type",
            loc,
            "Input should be a valid dictionary or instance of NotificationConfig",
            item.clone(),
            Some(json!({"class_name": "NotificationConfig"})),
        ));
        return;
    };
    match map.get("type") {
        None => errors.push(error_item(
            "missing",
            extend_loc(&loc, json!("type")),
            "Field required",
            item.clone(),
            None,
        )),
        Some(v) => check_kind(
            errors,
            Kind::Literal(NOTIFICATION_TYPES),
            v,
            extend_loc(&loc, json!("type")),
        ),
    }
    for key in ["address", "template", "url"] {
        if let Some(v) = map.get(key) {
            check_kind(errors, Kind::OptStr, v, extend_loc(&loc, json!(key)));
        }
    }
    if let Some(v) = map.get("method") {
        check_kind(errors, Kind::Str, v, extend_loc(&loc, json!("method")));
    }
    if let Some(v) = map.get("headers").filter(|v| !v.is_null()) {
        let headers_loc = extend_loc(&loc, json!("headers"));
        match v.as_object() {
            None => check_kind(errors, Kind::Obj, v, headers_loc),
            Some(headers) => {
                for (name, value) in headers {
                    check_kind(
                        errors,
                        Kind::Str,
                        value,
                        extend_loc(&headers_loc, json!(name)),
                    );
                }
            }
        }
    }
}

/// The server-side notification checks (400s) and the stored six-key form.
fn notification_configs(value: Option<&Value>) -> Result<Vec<Value>, Resp> {
    let items = value.and_then(Value::as_array).cloned().unwrap_or_default();
    let invalid = |why: String| Resp::detail(400, format!("Invalid notification: {why}"));
    let mut out = Vec::new();
    let (mut emails, mut webhooks) = (0, 0);
    for item in &items {
        let text = |key: &str| {
            item.get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        match item["type"].as_str() {
            Some("email") => {
                let address = text("address");
                if address.is_empty() {
                    return Err(invalid("Email address required".to_string()));
                }
                if let Some(problem) = email_problem(&address) {
                    return Err(invalid(format!("Invalid email format: {problem}")));
                }
                emails += 1;
            }
            _ => {
                let url = text("url");
                if url.is_empty() {
                    return Err(invalid("Webhook URL required".to_string()));
                }
                if !url.starts_with("https://") {
                    return Err(invalid("Webhook URL must use HTTPS".to_string()));
                }
                webhooks += 1;
            }
        }
        out.push(filled_notification(item));
    }
    if emails > 1 || webhooks > 1 {
        return Err(Resp::detail(
            400,
            "Multiple notifications of the same type are not supported. Please provide at most \
             one email and one webhook notification.",
        ));
    }
    Ok(out)
}

/// A notification config with all six keys, defaults filled in.
fn filled_notification(item: &Value) -> Value {
    let field = |key: &str| item.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "type": field("type"), "address": field("address"), "template": field("template"),
        "url": field("url"), "method": item.get("method").cloned().unwrap_or(json!("POST")),
        "headers": field("headers")})
}

/// Roughly what `email-validator` says about an address, `None` when it looks valid.
fn email_problem(address: &str) -> Option<&'static str> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Some("An email address must have an @-sign.");
    };
    if local.is_empty() {
        Some("There must be something before the @-sign.")
    } else if domain.is_empty() {
        Some("There must be something after the @-sign.")
    } else if address.chars().any(char::is_whitespace) {
        Some("The email address contains invalid characters before the @-sign: SPACE.")
    } else if !domain.contains('.') {
        Some("The part after the @-sign is not valid. It should have a period.")
    } else if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        Some("An email address cannot have a period immediately after the @-sign.")
    } else {
        None
    }
}

/// Pydantic's `HttpUrl`: http(s) with a host; a bare host gets a `/` path.
fn normalize_url(text: &str) -> Result<String, (&'static str, String, Value)> {
    let Some((scheme, rest)) = text.trim().split_once("://") else {
        return Err((
            "url_parsing",
            "Input should be a valid URL, relative URL without a base".to_string(),
            json!({"error": "relative URL without a base"}),
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err((
            "url_scheme",
            "URL scheme should be 'http' or 'https'".to_string(),
            json!({"expected_schemes": "'http' or 'https'"}),
        ));
    }
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.split(':').next().unwrap_or("").is_empty() {
        return Err((
            "url_parsing",
            "Input should be a valid URL, empty host".to_string(),
            json!({"error": "empty host"}),
        ));
    }
    let tail = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Ok(format!(
        "{scheme}://{}{tail}",
        authority.to_ascii_lowercase()
    ))
}

/// A path UUID in canonical form, or a 422 `uuid_parsing` entry.
fn check_uuid(errors: &mut Vec<Value>, raw: &str, name: &str) -> String {
    match parse_uuid(raw) {
        Ok(id) => id,
        Err(why) => {
            errors.push(error_item(
                "uuid_parsing",
                vec![json!("path"), json!(name)],
                &format!("Input should be a valid UUID, {why}"),
                json!(raw),
                Some(json!({ "error": why })),
            ));
            String::new()
        }
    }
}

/// Accepts the `uuid` crate's forms (simple, hyphenated, braced, urn); errors read like its.
fn parse_uuid(text: &str) -> Result<String, String> {
    let inner = if text.len() == 38 && text.starts_with('{') && text.ends_with('}') {
        &text[1..37]
    } else if let Some(rest) = text.strip_prefix("urn:uuid:") {
        rest
    } else {
        text
    };
    let bytes = inner.as_bytes();
    let hex: Option<String> = if bytes.len() == 32 && bytes.iter().all(u8::is_ascii_hexdigit) {
        Some(inner.to_string())
    } else if bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
    {
        Some(inner.replace('-', ""))
    } else {
        None
    };
    let Some(hex) = hex else {
        return Err(uuid_error(text));
    };
    let hex = hex.to_ascii_lowercase();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

fn uuid_error(input: &str) -> String {
    let (body, offset, simple) =
        if input.len() >= 2 && input.starts_with('{') && input.ends_with('}') {
            (&input[1..input.len() - 1], 1, false)
        } else if let Some(rest) = input.strip_prefix("urn:uuid:") {
            (rest, 9, false)
        } else {
            (input, 0, true)
        };
    let mut hyphens = 0;
    let mut bounds = [0usize; 4];
    for (index, ch) in body.char_indices() {
        if ch == '-' {
            if hyphens < 4 {
                bounds[hyphens] = index;
            }
            hyphens += 1;
        } else if !ch.is_ascii_hexdigit() {
            return format!(
                "invalid character: expected an optional prefix of `urn:uuid:` followed by \
                 [0-9a-fA-F-], found `{ch}` at {}",
                index + offset + 1
            );
        }
    }
    const STARTS: [usize; 5] = [0, 9, 14, 19, 24];
    const LENGTHS: [usize; 5] = [8, 4, 4, 4, 12];
    if hyphens == 0 && simple {
        format!(
            "invalid length: expected length 32 for simple format, found {}",
            input.len()
        )
    } else if hyphens != 4 {
        format!("invalid group count: expected 5, found {}", hyphens + 1)
    } else {
        for (i, bound) in bounds.iter().enumerate() {
            if *bound != STARTS[i + 1] - 1 {
                return format!(
                    "invalid group length in group {i}: expected {}, found {}",
                    LENGTHS[i],
                    bound.saturating_sub(STARTS[i])
                );
            }
        }
        format!(
            "invalid group length in group 4: expected 12, found {}",
            body.len().saturating_sub(STARTS[4])
        )
    }
}

// ---------------------------------------------------------------------------------------------
// JSON in the server's field order
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
const HEAD_TASK_KEYS: &[&str] = &[
    "name", "state", "search_query", "condition_description", "notifications",
    "attached_connector_slugs", "id", "user_id", "created_at", "updated_at", "state_changed_at",
    "last_known_state", "last_execution_id", "last_execution", "next_run",
    "immediate_execution_error", "context", "is_public", "view_count", "subscriber_count",
    "forked_from_task_id",
];
#[rustfmt::skip]
const LEGACY_TASK_KEYS: &[&str] = &[
    "name", "schedule", "executor_type", "config", "is_active", "search_query",
    "condition_description", "notify_behavior", "notifications", "id", "user_id", "created_at",
    "updated_at", "condition_met", "last_known_state", "last_notified_at",
];
#[rustfmt::skip]
const EXECUTION_KEYS: &[&str] = &[
    "task_id", "status", "result", "error_message", "notification", "condition_met",
    "change_summary", "grounding_sources", "id", "started_at", "completed_at", "created_at",
    "task_name", "task_search_query", "task_is_public", "task_user_id",
];
#[rustfmt::skip]
const USER_KEYS: &[&str] = &[
    "id", "clerk_user_id", "email", "first_name", "username", "is_active", "has_seen_welcome",
    "created_at",
];
#[rustfmt::skip]
const API_KEY_KEYS: &[&str] = &[
    "id", "user_id", "key_prefix", "name", "created_at", "last_used_at", "is_active",
];
const CREATED_KEY_KEYS: &[&str] = &["key", "key_info"];
const NOTIFICATION_KEYS: &[&str] = &["type", "address", "template", "url", "method", "headers"];
#[rustfmt::skip]
const HEAD_RESULT_KEYS: &[&str] = &[
    "evidence", "notification", "confidence", "next_run", "grounding_sources", "activity",
    "metadata", "notification_failed",
];
#[rustfmt::skip]
const LEGACY_RESULT_KEYS: &[&str] = &[
    "success", "answer", "error", "condition_met", "change_summary", "grounding_sources",
    "current_state", "search_query", "condition_description",
];
const ACTIVITY_KEYS: &[&str] = &["tool", "detail", "connector_slug", "annotations"];
const METADATA_KEYS: &[&str] = &["changed", "current_state"];
const SOURCE_KEYS: &[&str] = &["url", "title"];
#[rustfmt::skip]
const TEMPLATE_KEYS: &[&str] = &[
    "name", "description", "category", "icon", "search_query", "condition_description",
    "schedule", "notify_behavior", "config", "id", "is_active", "created_at", "updated_at",
];
#[rustfmt::skip]
const DELIVERY_KEYS: &[&str] = &[
    "id", "task_id", "webhook_url", "http_status", "attempt_number", "delivered_at", "failed_at",
    "error_message", "created_at",
];
const VALIDATION_KEYS: &[&str] = &["type", "loc", "msg", "input", "ctx"];
#[rustfmt::skip]
const WEBHOOK_KEYS: &[&str] = &[
    "url", "secret", "enabled", "webhook_url", "success", "message", "webhook_secret",
];
const HEALTH_KEYS: &[&str] = &["status", "service", "scheduler_running", "startup_sync_ok"];

/// Picks the server's key order for an object by its distinguishing keys.
fn key_order(map: &Map<String, Value>) -> &'static [&'static str] {
    let has = |key: &str| map.contains_key(key);
    if has("executor_type") {
        LEGACY_TASK_KEYS
    } else if has("state_changed_at") {
        HEAD_TASK_KEYS
    } else if has("started_at") {
        EXECUTION_KEYS
    } else if has("key_info") {
        CREATED_KEY_KEYS
    } else if has("key_prefix") {
        API_KEY_KEYS
    } else if has("clerk_user_id") {
        USER_KEYS
    } else if has("attempt_number") {
        DELIVERY_KEYS
    } else if has("category") {
        TEMPLATE_KEYS
    } else if has("loc") {
        VALIDATION_KEYS
    } else if has("type") && has("method") {
        NOTIFICATION_KEYS
    } else if has("evidence") || has("metadata") {
        HEAD_RESULT_KEYS
    } else if has("success") && (has("answer") || has("error")) {
        LEGACY_RESULT_KEYS
    } else if has("tool") {
        ACTIVITY_KEYS
    } else if has("changed") {
        METADATA_KEYS
    } else if has("title") {
        SOURCE_KEYS
    } else if has("enabled") || has("success") || has("secret") {
        WEBHOOK_KEYS
    } else if has("status") {
        HEALTH_KEYS
    } else {
        &[]
    }
}

/// Compact JSON with object keys in the server's order (unknown keys last, sorted).
fn write_json(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => write_object(out, map, &[]),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, item);
            }
            out.push(b']');
        }
        Value::String(text) => write_str(out, text),
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

/// An object with some fields replaced or added (`overrides` keys must be in its key order).
fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>, overrides: &[(&str, &Value)]) {
    out.push(b'{');
    let order = key_order(map);
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, key: &str, item: &Value| {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, key);
        out.push(b':');
        write_json(out, item);
    };
    let mut from_map = 0;
    for key in order {
        let stored = map.get(*key);
        from_map += usize::from(stored.is_some());
        let replaced = overrides.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
        if let Some(item) = replaced.or(stored) {
            field(out, key, item);
        }
    }
    if from_map < map.len() {
        for (key, item) in map.iter().filter(|(k, _)| !order.contains(&k.as_str())) {
            field(out, key, item);
        }
    }
    out.push(b'}');
}

fn write_str(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(Value::String(text.to_string()).to_string().as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Time and identifiers
// ---------------------------------------------------------------------------------------------

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The server's timestamp format for a time given in microseconds since the Unix epoch:
/// RFC 3339 in UTC with microseconds and `Z`, the fraction left out when it is zero.
pub fn rfc3339(micros: i64) -> String {
    ts(micros)
}

/// The current time in the server's timestamp format.
pub fn now_rfc3339() -> String {
    ts(now_micros())
}

fn ts(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    let (h, m, s) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    if fraction == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{fraction:06}Z")
    }
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// splitmix64, seeded from the clock, the process and a counter.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        Rng(nanos
            ^ count.wrapping_mul(0xA076_1D64_78BD_642F)
            ^ (u64::from(std::process::id()) << 32))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A lowercase, hyphenated, version-4 UUID.
    fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }

    /// 32 random bytes in unpadded base64url: 43 characters.
    fn token(&mut self) -> String {
        let mut b = [0u8; 32];
        self.fill(&mut b);
        base64url(&b)
    }

    /// `sk_` + 43 characters.
    fn api_key(&mut self) -> String {
        format!("sk_{}", self.token())
    }

    fn alnum(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[(self.next_u64() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(v >> 18) & 63, (v >> 12) & 63, (v >> 6) & 63, v & 63];
        for s in &sextets[..=chunk.len()] {
            out.push(ALPHABET[*s as usize] as char);
        }
    }
    out
}
