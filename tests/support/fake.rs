//! Fake Torale REST API for the tests, `make demo` and `make bench`: the routes the CLI calls on
//! both server generations (HEAD and legacy 0.0.2, see the API contract), the error shapes a
//! client must read, and switches for the faults it must survive. Std and `serde_json` only:
//! one thread per connection, all state behind one mutex.

use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which server the fake plays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Generation {
    /// The current production service (April 2026).
    #[default]
    Head,
    /// The self-hosted `torale` 0.0.2 package (November 2025).
    Legacy,
}

/// How to start a fake.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub generation: Generation,
    /// The server runs with `TORALE_NOAUTH`; the default user is then the fixed test user.
    pub noauth: bool,
    /// One line per request on stderr (for the example binary).
    pub log_requests: bool,
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
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON, `Null` if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `METHOD /path?query`, for comparing request logs.
    pub fn line(&self) -> String {
        match self.query.as_str() {
            "" => format!("{} {}", self.method, self.path),
            query => format!("{} {}?{query}", self.method, self.path),
        }
    }
}

/// One step of a run: executions start `pending`, and each poll of the task's executions (or
/// notifications) applies the next step of the plan; after the last step the run stays as it
/// is. Every step changes the same execution (same id), as the server's retries do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    Running,
    /// HEAD `retrying` with this `error_message`: not an end, the same run goes on (legacy
    /// has no such status and reports `failed`).
    Retrying(String),
    /// `success`; a notification means the condition was met.
    Success(Option<String>),
    /// `failed` with this `error_message`.
    Failed(String),
    /// `cancelled` (legacy: `failed`).
    Cancelled,
}

/// Something other than the normal answer, applied to a request before it is handled.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with exactly this.
    Respond(Resp),
    /// Sleep, then answer normally.
    Delay(Duration),
    /// Read the request and never answer.
    Hang,
    /// Read the request and close the connection with a TCP reset.
    Reset,
    /// A 200 head with a large Content-Length, then one byte per interval.
    Trickle(Duration),
    /// 200 `application/json` with this Content-Length, streamed until the client leaves.
    Huge(u64),
}

impl Fault {
    /// A response with this status, content type (none if empty) and body.
    pub fn status(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Fault {
        Fault::Respond(Resp::raw(status, content_type, body.into()))
    }

    /// A JSON response with this status and body.
    pub fn json(status: u16, body: &str) -> Fault {
        Fault::status(status, "application/json", body)
    }

    /// HEAD's rate limiter: 429 `{"error":...}` and no `Retry-After`.
    pub fn rate_limited() -> Fault {
        Fault::json(429, r#"{"error":"Rate limit exceeded: 10 per 1 minute"}"#)
    }

    /// A proxy's 503 in plain text.
    pub fn unavailable() -> Fault {
        Fault::status(503, "text/plain", "Service Unavailable")
    }

    /// A redirect with an empty body and no content type.
    pub fn redirect(status: u16, location: &str) -> Fault {
        Fault::status(status, "", "").header("Location", location)
    }

    /// The same response with one more header (`Respond` only).
    pub fn header(self, name: &str, value: &str) -> Fault {
        let Fault::Respond(resp) = self else { panic!("fake torale: only a response has headers") };
        Fault::Respond(resp.header(name, value))
    }
}

/// A running fake server; dropping it stops the server.
pub struct Fake {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Fake {
    pub fn start_with(options: Options) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake torale: listen on loopback");
        let addr = listener.local_addr().expect("fake torale: address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(&options)),
            stop: AtomicBool::new(false),
            log: options.log_requests,
        });
        let for_listener = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if for_listener.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let shared = Arc::clone(&for_listener);
                    thread::spawn(move || serve(&shared, stream));
                }
            }
        });
        Fake { shared, addr }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The default user's valid key.
    pub fn key(&self) -> String {
        self.state().default_key.clone()
    }

    /// A new user; returns its valid key.
    pub fn add_user(&self, email: &str) -> String {
        self.state().add_user(email, None).1
    }

    /// From now on this key gets 401 `Invalid API key`.
    pub fn revoke(&self, key: &str) {
        for row in self.state().keys.iter_mut().filter(|k| k.key == key) {
            row.obj.set("is_active", json!(false));
        }
    }

    /// The requests received so far, forgetting them.
    pub fn take_requests(&self) -> Vec<Request> {
        std::mem::take(&mut self.state().requests)
    }

    /// The next `times` requests get this fault (`usize::MAX`: until cleared).
    pub fn fault(&self, fault: Fault, times: usize) {
        self.arm(None, fault, times);
    }

    /// Like [`Fake::fault`], for requests whose path starts with `path_prefix` only.
    pub fn fault_on(&self, path_prefix: &str, fault: Fault, times: usize) {
        self.arm(Some(path_prefix.to_string()), fault, times);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Inserts a task owned by `key`'s user, without cap or name checks. `fields` override
    /// the generation's defaults; legacy `"_scheduled": false` makes a task created inactive
    /// (it has no schedule, so resuming it fails with 500).
    pub fn seed_task(&self, key: &str, fields: Value) -> String {
        let mut st = self.state();
        let user = st.user_of_key(key);
        st.seed(&user, fields)
    }

    /// Inserts `count` tasks for `key`'s user (every fourth one paused); returns their ids.
    pub fn seed_tasks(&self, key: &str, count: usize) -> Vec<String> {
        let mut st = self.state();
        let user = st.user_of_key(key);
        (0..count)
            .map(|i| {
                // Each generation takes its own field of the two.
                let paused = i % 4 == 3;
                let fields = json!({"name": format!("Benchmark task {:05}", i + 1),
                    "search_query": format!("Has anything changed for item {}?", i + 1),
                    "state": if paused { "paused" } else { "active" }, "is_active": !paused});
                st.seed(&user, fields)
            })
            .collect()
    }

    /// All tasks, oldest first, as the server shows them to their owner.
    pub fn tasks(&self) -> Vec<Value> {
        let st = self.state();
        st.tasks.iter().map(|t| parse(&st.task_bytes(t))).collect()
    }

    /// A task's executions, newest first, without advancing them.
    pub fn executions(&self, task_id: &str) -> Vec<Value> {
        let st = self.state();
        st.execs
            .iter()
            .rev()
            .filter(|e| e.obj.str("task_id") == task_id)
            .map(|e| parse(&e.obj.bytes()))
            .collect()
    }

    /// How executions started from now on progress.
    pub fn set_run_plan(&self, plan: Vec<Stage>) {
        self.state().plan = plan;
    }

    fn arm(&self, prefix: Option<String>, fault: Fault, times: usize) {
        if times > 0 {
            let armed = Armed { prefix, fault, times };
            self.state().faults.push_back(armed);
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
    }
}

// ---- connections ----------------------------------------------------------------------------

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    log: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    let Some(request) = read_request(&mut stream) else { return };
    let fault = {
        let mut st = lock(&shared.state);
        st.requests.push(request.clone());
        st.take_fault(&request.path)
    };
    let stopped = || shared.stop.load(Ordering::SeqCst);
    let resp = match fault {
        None => respond(shared, &request),
        Some(Fault::Respond(resp)) => resp,
        Some(Fault::Delay(delay)) => {
            let end = Instant::now() + delay;
            while Instant::now() < end && !stopped() {
                thread::sleep(Duration::from_millis(10));
            }
            respond(shared, &request)
        }
        Some(Fault::Hang) => {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
            let mut sink = [0u8; 1024];
            while !stopped() && !matches!(stream.read(&mut sink), Ok(0)) {}
            return;
        }
        Some(Fault::Reset) => return reset(stream),
        Some(Fault::Trickle(every)) => {
            return stream_body(&mut stream, 1_000_000, 1, every, stopped)
        }
        Some(Fault::Huge(len)) => {
            return stream_body(&mut stream, len, 64 * 1024, Duration::ZERO, stopped)
        }
    };
    send(&mut stream, &resp);
}

/// A 200 JSON head promising `len` bytes, then `[` and spaces, `chunk` bytes per `every`, until
/// the client leaves or the body is complete.
fn stream_body(
    stream: &mut TcpStream,
    len: u64,
    chunk: u64,
    every: Duration,
    stopped: impl Fn() -> bool,
) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\
         Connection: close\r\n\r\n["
    );
    let spaces = [b' '; 64 * 1024];
    let mut left = len.saturating_sub(1);
    let mut sent = stream.write_all(head.as_bytes());
    while sent.is_ok() && left > 0 && !stopped() {
        thread::sleep(every);
        let n = left.min(chunk);
        sent = stream.write_all(&spaces[..n as usize]).and_then(|()| stream.flush());
        left -= n;
    }
}

fn respond(shared: &Shared, request: &Request) -> Resp {
    let resp = lock(&shared.state).handle(request);
    if shared.log {
        eprintln!("fake-torale: {} -> {}", request.line(), resp.status);
    }
    resp
}

/// Closes the connection with a TCP reset (SO_LINGER zero) instead of an orderly close.
fn reset(stream: TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        #[repr(C)]
        struct Linger {
            onoff: i32,
            linger: i32,
        }
        extern "C" {
            fn setsockopt(fd: i32, level: i32, name: i32, value: *const Linger, len: u32) -> i32;
        }
        let linger = Linger { onoff: 1, linger: 0 };
        // SAFETY: a valid socket descriptor and a pointer to a live, correctly sized struct.
        unsafe {
            setsockopt(stream.as_raw_fd(), 1, 13, &linger, 8);
        }
    }
    drop(stream);
}

/// Reads one HTTP/1.1 request; `None` (the connection is closed unanswered) when the peer sent
/// nothing, as the wake-up in [`Fake`]'s drop does, or something that is not HTTP.
fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let mut parts = line.trim_end().split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (method, path, query) = (method.to_string(), path.to_string(), query.to_string());
    let mut request = Request { method, path, query, headers: Vec::new(), body: Vec::new() };
    loop {
        line.clear();
        reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        request.headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    // Content-Length bodies only: the CLI sends no chunked ones.
    let length: usize = request.header("content-length").unwrap_or("0").parse().ok()?;
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).ok()?;
    Some(request)
}

/// A response to write.
#[derive(Clone, Debug)]
pub struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    /// A response with this body and content type (none if empty).
    fn raw(status: u16, content_type: &str, body: Vec<u8>) -> Resp {
        let resp = Resp { status, headers: Vec::new(), body };
        if content_type.is_empty() {
            return resp;
        }
        resp.header("Content-Type", content_type)
    }

    fn json(status: u16, value: &Value) -> Resp {
        Resp::raw(status, "application/json", value.to_string().into_bytes())
    }

    fn detail(status: u16, message: impl Into<String>) -> Resp {
        Resp::json(status, &json!({ "detail": message.into() }))
    }

    fn text(status: u16, text: &str) -> Resp {
        Resp::raw(status, "text/plain; charset=utf-8", text.as_bytes().to_vec())
    }

    fn empty(status: u16) -> Resp {
        Resp::raw(status, "", Vec::new())
    }

    /// A FastAPI validation error: 422 with a `detail` list.
    fn invalid(errors: Vec<Value>) -> Resp {
        Resp::json(422, &json!({ "detail": errors }))
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

fn send(stream: &mut TcpStream, resp: &Resp) {
    // The reason phrase is optional (RFC 9112) and no client reads it.
    let mut out = format!("HTTP/1.1 {} \r\n", resp.status).into_bytes();
    if resp.status != 204 {
        out.extend(format!("Content-Length: {}\r\n", resp.body.len()).bytes());
    }
    for (name, value) in &resp.headers {
        out.extend(format!("{name}: {value}\r\n").bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&resp.body);
    let _ = stream.write_all(&out);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    // Let the client read everything before the socket closes.
    let mut sink = [0u8; 1024];
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

fn percent_decode(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        let mut hex = || {
            u8::from_str_radix(std::str::from_utf8(&[bytes.next()?, bytes.next()?]).ok()?, 16).ok()
        };
        out.push(if byte == b'%' { hex().unwrap_or(b'?') } else { byte });
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- objects in the server's field order ----------------------------------------------------

/// A JSON object that keeps its fields in the order the server sends them.
#[derive(Clone, Debug, Default)]
struct Obj(Vec<(String, Value)>);

impl Obj {
    fn new(pairs: Vec<(&str, Value)>) -> Obj {
        Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    fn get(&self, key: &str) -> &Value {
        const NULL: Value = Value::Null;
        self.0.iter().find(|(k, _)| k == key).map_or(&NULL, |(_, v)| v)
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    fn str(&self, key: &str) -> &str {
        self.get(key).as_str().unwrap_or("")
    }

    /// Replaces a field in place, or appends it.
    fn set(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// The object as JSON, with `raw` (a field of raw JSON) after the field it names.
    fn bytes_with(&self, raw: Option<(&str, &str, &[u8])>) -> Vec<u8> {
        // Room for a whole task: a list of 10,000 (make bench) is built without regrowing.
        let mut out = Vec::with_capacity(1024);
        out.push(b'{');
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, key);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, value);
            if let Some((_, name, bytes)) = raw.filter(|(after, _, _)| after == key) {
                out.extend(format!(",\"{name}\":").bytes());
                out.extend_from_slice(bytes);
            }
        }
        out.push(b'}');
        out
    }

    fn bytes(&self) -> Vec<u8> {
        self.bytes_with(None)
    }
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

// ---- server state ---------------------------------------------------------------------------

const NOAUTH_USER_ID: &str = "00000000-0000-0000-0000-000000000001";
/// The task fields a create or update may set, per generation (others are ignored).
#[rustfmt::skip]
const HEAD_FIELDS: &[&str] = &["name", "state", "search_query", "condition_description", "notifications", "attached_connector_slugs"];
#[rustfmt::skip]
const LEGACY_FIELDS: &[&str] = &["name", "schedule", "config", "is_active", "executor_type", "search_query", "condition_description", "notify_behavior", "notifications"];
/// The notification of the default plan's successful run.
const MET: &str = "The condition is met: a date has been announced.";
const CANCELLED: &str = "Execution cancelled by manual force run";
const MINUTE: i64 = 60_000_000;
/// The templates both servers offer, by category then name: name, description, category,
/// icon, query, condition.
const TEMPLATES: &str = "
Concert tickets on sale|Know when tickets for a tour go on sale|Events|🎫|When do tickets for the next tour go on sale?|A ticket sale date has been announced
Game release date|Get told when a game gets a release date|Product Launches|🎮|When will the next major game be released?|An official release date has been announced
Phone launch|Watch for the announcement of a new phone|Product Launches|📱|When will the next iPhone be released?|Apple has officially announced a release date
";

/// A key and the object the server lists for it.
struct KeyRow {
    key: String,
    obj: Obj,
}

impl KeyRow {
    fn active(&self) -> bool {
        self.obj.get("is_active") == &Value::Bool(true)
    }
}

struct TaskRow {
    obj: Obj,
    /// Legacy: the task has a schedule (false when it was created inactive).
    scheduled: bool,
}

struct ExecRow {
    obj: Obj,
    plan: Vec<Stage>,
    /// Steps of the plan applied so far.
    step: usize,
}

impl ExecRow {
    fn finished(&self) -> bool {
        !matches!(self.obj.str("status"), "pending" | "running" | "retrying")
    }
}

struct Armed {
    prefix: Option<String>,
    fault: Fault,
    times: usize,
}

#[derive(Default)]
struct State {
    generation: Generation,
    noauth: bool,
    seed: u64,
    default_user: String,
    default_key: String,
    /// `/auth/me` objects.
    users: Vec<Obj>,
    keys: Vec<KeyRow>,
    /// Oldest first.
    tasks: Vec<TaskRow>,
    /// Every task's executions, oldest first.
    execs: Vec<ExecRow>,
    templates: Vec<Obj>,
    plan: Vec<Stage>,
    faults: VecDeque<Armed>,
    requests: Vec<Request>,
}

type Handled = Result<Resp, Resp>;

impl State {
    fn new(options: &Options) -> State {
        static STARTS: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let mut st = State {
            generation: options.generation,
            noauth: options.noauth,
            seed: nanos ^ STARTS.fetch_add(1, Ordering::SeqCst).wrapping_mul(0x9e37_79b9),
            // By default a run goes on, then meets its condition.
            plan: vec![Stage::Running, Stage::Success(Some(MET.to_string()))],
            ..State::default()
        };
        let (user, key) = if options.noauth {
            st.add_user("test@example.com", Some(NOAUTH_USER_ID))
        } else {
            st.add_user("user@example.com", None)
        };
        st.default_key = key;
        st.default_user = user;
        for line in TEMPLATES.lines().filter(|l| !l.is_empty()) {
            let [name, description, category, icon, query, condition] =
                <[&str; 6]>::try_from(line.split('|').collect::<Vec<_>>()).expect("6 fields");
            let mut template = Obj::new(vec![
                ("name", json!(name)),
                ("description", json!(description)),
                ("category", json!(category)),
                ("icon", json!(icon)),
                ("search_query", json!(query)),
                ("condition_description", json!(condition)),
            ]);
            if !st.head() {
                template.set("schedule", json!("0 9 * * *"));
                template.set("notify_behavior", json!("track_state"));
                template.set("config", json!({"model": "gemini-2.5-flash"}));
            }
            template.set("id", json!(st.uuid()));
            template.set("is_active", json!(true));
            template.set("created_at", json!(now()));
            template.set("updated_at", Value::Null);
            st.templates.push(template);
        }
        st
    }

    fn head(&self) -> bool {
        self.generation == Generation::Head
    }

    /// splitmix64.
    fn random(&mut self) -> u64 {
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.random(), self.random());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// `sk_` and 43 characters from the key alphabet: 46 in all, like a real key.
    fn api_key(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let tail: String =
            (0..43).map(|_| ALPHABET[(self.random() % 64) as usize] as char).collect();
        format!("sk_{tail}")
    }

    /// A user with one active key; the fixed id makes it the NOAUTH test user.
    fn add_user(&mut self, email: &str, fixed_id: Option<&str>) -> (String, String) {
        let (id, clerk_user_id) = match fixed_id {
            Some(id) => (id.to_string(), "test_user_noauth".to_string()),
            None => (self.uuid(), format!("user_{:x}", self.random())),
        };
        let mut user = Obj::new(vec![
            ("id", json!(id)),
            ("clerk_user_id", json!(clerk_user_id)),
            ("email", json!(email)),
            ("first_name", Value::Null),
        ]);
        if self.head() {
            user.set("username", Value::Null);
        }
        user.set("is_active", json!(true));
        if self.head() {
            user.set("has_seen_welcome", json!(false));
        }
        user.set("created_at", json!(now()));
        self.users.push(user);
        let key = self.api_key();
        self.push_key(&id, &key, "default");
        (id, key)
    }

    fn push_key(&mut self, user_id: &str, key: &str, name: &str) -> usize {
        let obj = Obj::new(vec![
            ("id", json!(self.uuid())),
            ("user_id", json!(user_id)),
            ("key_prefix", json!(format!("{}...", &key[..15]))),
            ("name", json!(name)),
            ("created_at", json!(now())),
            ("last_used_at", Value::Null),
            ("is_active", json!(true)),
        ]);
        self.keys.push(KeyRow { key: key.to_string(), obj });
        self.keys.len() - 1
    }

    fn user_of_key(&self, key: &str) -> String {
        let row = self.keys.iter().find(|k| k.key == key);
        let row = row.unwrap_or_else(|| panic!("fake torale: no user has the key {key:?}"));
        row.obj.str("user_id").to_string()
    }

    fn take_fault(&mut self, path: &str) -> Option<Fault> {
        let i = self
            .faults
            .iter()
            .position(|f| f.prefix.as_deref().is_none_or(|p| path.starts_with(p)))?;
        let armed = &mut self.faults[i];
        let fault = armed.fault.clone();
        if armed.times != usize::MAX {
            armed.times -= 1;
            if armed.times == 0 {
                self.faults.remove(i);
            }
        }
        Some(fault)
    }

    // ---- routing ----------------------------------------------------------------------------

    fn handle(&mut self, req: &Request) -> Resp {
        let segments: Vec<&str> = req.path.split('/').skip(1).collect();
        let handled = match (req.method.as_str(), segments.as_slice()) {
            ("GET", ["health"]) => Ok(self.health()),
            ("GET", ["auth", "me"]) => self.me(req),
            ("GET", ["auth", "api-keys"]) => self.list_keys(req),
            ("POST", ["auth", "api-keys"]) => self.create_key(req),
            ("DELETE", ["auth", "api-keys", id]) if !id.is_empty() => self.revoke_key(req, id),
            ("GET", ["api", "v1", "tasks", ""]) => self.list_tasks(req),
            ("POST", ["api", "v1", "tasks", ""]) => self.create_task(req),
            ("GET", ["api", "v1", "tasks", id]) => self.get_task(req, id),
            ("PUT", ["api", "v1", "tasks", id]) if !id.is_empty() => self.update_task(req, id),
            ("DELETE", ["api", "v1", "tasks", id]) if !id.is_empty() => self.delete_task(req, id),
            ("POST", ["api", "v1", "tasks", id, "execute"]) => self.execute(req, id),
            ("GET", ["api", "v1", "tasks", id, "executions"]) => self.list_runs(req, id, false),
            ("GET", ["api", "v1", "tasks", id, "notifications"]) => self.list_runs(req, id, true),
            ("GET", ["api", "v1", "templates", ""]) => Ok(self.list_templates(req)),
            ("GET", ["api", "v1", "templates", id]) => self.get_template(id),
            // Collection paths without their slash: an empty 307 to the slash form.
            (_, ["api", "v1", "tasks" | "templates"]) => {
                let host = req.header("host").unwrap_or("127.0.0.1");
                let query =
                    if req.query.is_empty() { String::new() } else { format!("?{}", req.query) };
                Ok(Resp::empty(307)
                    .header("Location", format!("http://{host}{}/{query}", req.path)))
            }
            _ => Err(Resp::detail(404, "Not Found")),
        };
        handled.unwrap_or_else(|error| error)
    }

    // ---- authentication ---------------------------------------------------------------------

    /// The user of the request's `Authorization: Bearer sk_...` key, recording its use.
    /// Without such a header: 401 `Not authenticated` (`missing` is 403 for legacy `/auth/*`).
    fn key_user(&mut self, req: &Request, missing: u16) -> Result<String, Resp> {
        let key = req.header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        let Some(key) = key.filter(|k| k.starts_with("sk_")) else {
            return Err(Resp::detail(missing, "Not authenticated"));
        };
        let row = self.keys.iter_mut().find(|k| k.key == key && k.active());
        let row = row.ok_or_else(|| Resp::detail(401, "Invalid API key"))?;
        row.obj.set("last_used_at", json!(now()));
        Ok(row.obj.str("user_id").to_string())
    }

    /// HEAD group A or legacy group C: a user is required; NOAUTH ignores the header.
    fn user(&mut self, req: &Request) -> Result<String, Resp> {
        if self.noauth {
            return Ok(self.default_user.clone());
        }
        self.key_user(req, 401)
    }

    /// HEAD group B: anything but a valid key is an anonymous caller; legacy requires a key.
    fn optional_user(&mut self, req: &Request) -> Result<Option<String>, Resp> {
        if !self.head() || self.noauth {
            return self.user(req).map(Some);
        }
        Ok(self.key_user(req, 401).ok())
    }

    /// `/auth/*`: group A at HEAD; at legacy 403 without a key and no NOAUTH bypass.
    fn account(&mut self, req: &Request) -> Result<String, Resp> {
        if self.head() {
            return self.user(req);
        }
        self.key_user(req, 403)
    }

    // ---- health, account and keys -----------------------------------------------------------

    fn health(&self) -> Resp {
        Resp::json(200, &json!({"status": "healthy"}))
    }

    fn me(&mut self, req: &Request) -> Handled {
        let uid = self.account(req)?;
        let user = self.users.iter().find(|u| u.str("id") == uid).expect("user exists");
        Ok(Resp::raw(200, "application/json", user.bytes()))
    }

    fn list_keys(&mut self, req: &Request) -> Handled {
        let uid = self.account(req)?;
        let rows = self.keys.iter().rev().filter(|k| k.obj.str("user_id") == uid);
        Ok(array(rows.map(|k| k.obj.bytes())))
    }

    fn create_key(&mut self, req: &Request) -> Handled {
        let body = body_object(req)?;
        let uid = self.account(req)?;
        let Some(name) = body.get("name").and_then(Value::as_str) else {
            return Err(Resp::invalid(vec![missing("name", &body)]));
        };
        if self.head() && self.keys.iter().any(|k| k.obj.str("user_id") == uid && k.active()) {
            return Err(Resp::detail(
                400,
                "You already have an active API key. Please revoke it before creating a new one.",
            ));
        }
        let key = self.api_key();
        let index = self.push_key(&uid, &key, name);
        let mut out = format!("{{\"key\":\"{key}\",\"key_info\":").into_bytes();
        out.extend(self.keys[index].obj.bytes());
        out.push(b'}');
        Ok(Resp::raw(200, "application/json", out))
    }

    fn revoke_key(&mut self, req: &Request, id: &str) -> Handled {
        let uid = self.account(req)?;
        check_uuid(id, "key_id")?;
        let row =
            self.keys.iter_mut().find(|k| k.obj.str("id") == id && k.obj.str("user_id") == uid);
        let row = row.ok_or_else(|| Resp::detail(404, "API key not found"))?;
        row.obj.set("is_active", json!(false));
        Ok(Resp::json(200, &json!({"status": "revoked"})))
    }

    // ---- tasks ------------------------------------------------------------------------------

    fn index_of(&self, id: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.obj.str("id") == id)
    }

    /// The task's index if `user` owns it, else 404 (never 403).
    fn owned(&self, id: &str, user: &str) -> Result<usize, Resp> {
        check_uuid(id, "task_id")?;
        self.index_of(id)
            .filter(|&i| self.tasks[i].obj.str("user_id") == user)
            .ok_or_else(|| Resp::detail(404, "Task not found"))
    }

    /// The task's index if `viewer` owns it (HEAD's optional auth: a bad key is an anonymous
    /// caller, who gets 404 like anyone who does not own the task).
    fn readable(&self, id: &str, viewer: Option<&str>) -> Result<usize, Resp> {
        self.owned(id, viewer.unwrap_or("anonymous"))
    }

    /// A task as the server sends it: HEAD embeds its latest successful run.
    fn task_bytes(&self, task: &TaskRow) -> Vec<u8> {
        if !self.head() {
            return task.obj.bytes();
        }
        let last_id = task.obj.str("last_execution_id");
        let last = self.execs.iter().find(|e| !last_id.is_empty() && e.obj.str("id") == last_id);
        let last = last.map_or(b"null".to_vec(), |e| e.obj.bytes());
        task.obj.bytes_with(Some(("last_execution_id", "last_execution", &last)))
    }

    fn task_resp(&self, index: usize) -> Resp {
        Resp::raw(200, "application/json", self.task_bytes(&self.tasks[index]))
    }

    /// A new task of `user` with the generation's defaults, then `given` fields of its shape.
    fn new_task(&mut self, user: &str, given: &Map<String, Value>) -> TaskRow {
        let now_us = micros();
        let query = given.get("search_query").cloned();
        let query = query.unwrap_or(json!("What is new?"));
        let condition = given.get("condition_description").cloned();
        let condition = condition.unwrap_or_else(|| query.clone());
        let (id, created) = (json!(self.uuid()), json!(stamp(now_us)));
        let mut obj = if self.head() {
            Obj::new(vec![
                ("name", json!("New Monitor")),
                ("state", json!("active")),
                ("search_query", query),
                ("condition_description", condition),
                ("notifications", json!([])),
                ("attached_connector_slugs", json!([])),
                ("id", id),
                ("user_id", json!(user)),
                ("created_at", created.clone()),
                ("updated_at", created.clone()),
                ("state_changed_at", created),
                ("last_known_state", Value::Null),
                ("last_execution_id", Value::Null),
                ("next_run", json!(stamp(now_us + MINUTE))),
                ("immediate_execution_error", Value::Null),
                ("context", Value::Null),
                ("is_public", json!(false)),
                ("view_count", json!(0)),
                ("subscriber_count", json!(0)),
                ("forked_from_task_id", Value::Null),
            ])
        } else {
            Obj::new(vec![
                ("name", json!("New Monitor")),
                ("schedule", json!("0 9 * * *")),
                ("executor_type", json!("llm_grounded_search")),
                ("config", json!({"model": "gemini-2.5-flash"})),
                ("is_active", json!(true)),
                ("search_query", query),
                ("condition_description", condition),
                ("notify_behavior", json!("once")),
                ("notifications", json!([])),
                ("id", id),
                ("user_id", json!(user)),
                ("created_at", created.clone()),
                ("updated_at", created),
                ("condition_met", json!(false)),
                ("last_known_state", Value::Null),
                ("last_notified_at", Value::Null),
            ])
        };
        for (key, value) in given {
            if obj.has(key) {
                obj.set(key, value.clone());
            }
        }
        if let Some(list) = given.get("notifications").and_then(Value::as_array) {
            obj.set("notifications", filled_notifications(list));
        }
        if self.head() && obj.str("state") != "active" {
            obj.set("next_run", Value::Null);
        }
        let scheduled = obj.get("is_active") != &json!(false);
        TaskRow { obj, scheduled }
    }

    fn seed(&mut self, user: &str, fields: Value) -> String {
        let Value::Object(mut given) = fields else { panic!("fake torale: fields not an object") };
        let name = format!("Seeded task {}", self.tasks.len() + 1);
        given.entry("name").or_insert(json!(name));
        let mut task = self.new_task(user, &given);
        if given.get("_scheduled") == Some(&json!(false)) {
            task.scheduled = false;
        }
        let id = task.obj.str("id").to_string();
        self.tasks.push(task);
        id
    }

    fn list_tasks(&mut self, req: &Request) -> Handled {
        let uid = self.user(req)?;
        // Each generation filters by its own parameter and ignores the other's.
        let (state, active) = match self.head() {
            true => (query_param(&req.query, "state").map(|s| json!(s)), None),
            false => (None, query_param(&req.query, "is_active").map(|v| json!(v == "true"))),
        };
        let rows = self.tasks.iter().rev().filter(|t| {
            t.obj.str("user_id") == uid
                && state.as_ref().is_none_or(|s| t.obj.get("state") == s)
                && active.as_ref().is_none_or(|a| t.obj.get("is_active") == a)
        });
        Ok(array(rows.map(|t| self.task_bytes(t))))
    }

    fn create_task(&mut self, req: &Request) -> Handled {
        let body = body_object(req)?;
        let uid = self.user(req)?;
        let (required, allowed): (&[&str], &[&str]) = if self.head() {
            (&["search_query"], HEAD_FIELDS)
        } else {
            (
                &["name", "schedule", "config", "search_query", "condition_description"],
                LEGACY_FIELDS,
            )
        };
        let errors: Vec<Value> = required
            .iter()
            .filter(|k| body.get(**k).is_none_or(Value::is_null))
            .map(|k| missing(k, &body))
            .collect();
        if !errors.is_empty() {
            return Err(Resp::invalid(errors));
        }
        let given: Map<String, Value> =
            body.into_iter().filter(|(k, _)| allowed.contains(&k.as_str())).collect();
        let task = self.new_task(&uid, &given);
        // HEAD's unique index on (user, name): an unhandled exception, a plain-text 500.
        let name = task.obj.str("name");
        let mine = |t: &TaskRow| t.obj.str("user_id") == uid && t.obj.str("name") == name;
        if self.head() && self.tasks.iter().any(mine) {
            return Err(Resp::text(500, "Internal Server Error"));
        }
        let id = task.obj.str("id").to_string();
        self.tasks.push(task);
        if self.head() && req.json()["run_immediately"] == json!(true) {
            self.start_run(&id);
        }
        // No run has finished yet: the response embeds none.
        Ok(self.task_resp(self.tasks.len() - 1))
    }

    fn get_task(&mut self, req: &Request, id: &str) -> Handled {
        let viewer = self.optional_user(req)?;
        let index = self.readable(id, viewer.as_deref())?;
        Ok(self.task_resp(index))
    }

    fn update_task(&mut self, req: &Request, id: &str) -> Handled {
        let body = body_object(req)?;
        let uid = self.user(req)?;
        let index = self.owned(id, &uid)?;
        let head = self.head();
        let allowed = if head { HEAD_FIELDS } else { LEGACY_FIELDS };
        let task = &self.tasks[index];
        let to = body.get("state").and_then(Value::as_str);
        if head && task.obj.str("state") == "paused" && to == Some("completed") {
            return Err(Resp::detail(
                400,
                "Invalid state transition: Cannot transition from paused to completed",
            ));
        } else if body.get("is_active") == Some(&json!(true)) && !task.scheduled {
            return Err(Resp::detail(
                500,
                format!(
                    "Failed to unpause schedule: workflow not found for ID: {id}. \
                 Task update rolled back."
                ),
            ));
        }
        let task = &mut self.tasks[index];
        for (key, value) in body.iter().filter(|(k, _)| allowed.contains(&k.as_str())) {
            let value = match value.as_array() {
                Some(list) if key == "notifications" => filled_notifications(list),
                _ => value.clone(),
            };
            task.obj.set(key, value);
        }
        task.obj.set("updated_at", json!(now()));
        Ok(self.task_resp(index))
    }

    fn delete_task(&mut self, req: &Request, id: &str) -> Handled {
        let uid = self.user(req)?;
        let index = self.owned(id, &uid)?;
        self.tasks.remove(index);
        self.execs.retain(|e| e.obj.str("task_id") != id);
        Ok(Resp::empty(204))
    }

    // ---- executions -------------------------------------------------------------------------

    fn start_run(&mut self, task_id: &str) -> Vec<u8> {
        let stamp = json!(now());
        let mut obj = Obj::new(vec![
            ("task_id", json!(task_id)),
            ("status", json!("pending")),
            ("result", Value::Null),
            ("error_message", Value::Null),
        ]);
        if self.head() {
            obj.set("notification", Value::Null);
        } else {
            obj.set("condition_met", Value::Null);
            obj.set("change_summary", Value::Null);
        }
        obj.set("grounding_sources", Value::Null);
        obj.set("id", json!(self.uuid()));
        obj.set("started_at", stamp.clone());
        obj.set("completed_at", Value::Null);
        obj.set("created_at", stamp);
        let bytes = obj.bytes();
        let plan = self.plan.clone();
        self.execs.push(ExecRow { obj, plan, step: 0 });
        bytes
    }

    fn execute(&mut self, req: &Request, id: &str) -> Handled {
        let uid = self.user(req)?;
        self.owned(id, &uid)?;
        if self.head() {
            // Execute always forces: unfinished runs of the task are cancelled first.
            for run in self.execs.iter_mut() {
                if run.obj.str("task_id") == id && !run.finished() {
                    advance(&mut run.obj, Stage::Cancelled, true);
                }
            }
        }
        Ok(Resp::raw(200, "application/json", self.start_run(id)))
    }

    /// One poll of a task's runs: each unfinished run takes the next step of its plan.
    fn poll(&mut self, task_id: &str) {
        let head = self.head();
        let mut updates = Vec::new();
        for run in self.execs.iter_mut() {
            if run.obj.str("task_id") != task_id || run.finished() || run.step >= run.plan.len() {
                continue;
            }
            let stage = run.plan[run.step].clone();
            run.step += 1;
            updates.extend(advance(&mut run.obj, stage, head).into_iter().flatten());
        }
        if let Some(task) = self.index_of(task_id) {
            for (key, value) in updates {
                self.tasks[task].obj.set(key, value);
            }
        }
    }

    fn list_runs(&mut self, req: &Request, id: &str, notifications: bool) -> Handled {
        let viewer = self.optional_user(req)?;
        let limit = query_param(&req.query, "limit").and_then(|v| v.parse().ok());
        self.readable(id, viewer.as_deref())?;
        self.poll(id);
        // A notification is a run whose condition was met.
        let met = |e: &&ExecRow| {
            !e.obj.get("notification").is_null() || e.obj.get("condition_met") == &json!(true)
        };
        let rows = self.execs.iter().rev().filter(|e| e.obj.str("task_id") == id);
        let rows = rows.filter(|e| !notifications || met(e));
        Ok(array(rows.take(limit.unwrap_or(100)).map(|e| e.obj.bytes())))
    }

    // ---- templates --------------------------------------------------------------------------

    fn list_templates(&self, req: &Request) -> Resp {
        let category = query_param(&req.query, "category");
        let rows = self.templates.iter();
        array(
            rows.filter(|t| category.as_ref().is_none_or(|c| t.str("category") == c))
                .map(Obj::bytes),
        )
    }

    fn get_template(&self, id: &str) -> Handled {
        check_uuid(id, "template_id")?;
        let template = self.templates.iter().find(|t| t.str("id") == id);
        let template = template.ok_or_else(|| Resp::detail(404, "Template not found"))?;
        Ok(Resp::raw(200, "application/json", template.bytes()))
    }
}

/// Applies one step to a run; returns the task fields a finished successful run changes.
fn advance(run: &mut Obj, stage: Stage, head: bool) -> Option<Vec<(&'static str, Value)>> {
    // Legacy has neither `retrying` nor `cancelled`: both are `failed` there.
    let (status, message) = match &stage {
        Stage::Running => ("running", None),
        Stage::Retrying(message) if head => ("retrying", Some(message.as_str())),
        Stage::Retrying(message) | Stage::Failed(message) => ("failed", Some(message.as_str())),
        Stage::Cancelled if head => ("cancelled", Some(CANCELLED)),
        Stage::Cancelled => ("failed", Some("Workflow execution cancelled")),
        Stage::Success(_) => ("success", None),
    };
    let stamp = if status == "running" { Value::Null } else { json!(now()) };
    run.set("status", json!(status));
    run.set("error_message", json!(message));
    run.set("completed_at", stamp.clone());
    let Stage::Success(notification) = stage else {
        return None;
    };
    let met = notification.is_some();
    let evidence = if met {
        "Searched the web: the condition is met."
    } else {
        "Searched the web: nothing has changed yet."
    };
    let sources = json!([{"url": "https://example.com/news", "title": "Example News"}]);
    run.set("grounding_sources", sources.clone());
    if head {
        run.set(
            "result",
            json!({"evidence": evidence, "notification": notification, "confidence": 87,
                   "grounding_sources": sources, "metadata": {"changed": met}}),
        );
        run.set("notification", json!(notification));
        return Some(vec![
            ("last_execution_id", run.get("id").clone()),
            ("last_known_state", json!({ "evidence": evidence })),
            ("updated_at", stamp),
        ]);
    }
    run.set(
        "result",
        json!({"success": true, "answer": evidence, "condition_met": met,
               "change_summary": notification, "grounding_sources": sources}),
    );
    run.set("condition_met", json!(met));
    run.set("change_summary", json!(notification));
    let notified = if met { stamp.clone() } else { Value::Null };
    Some(vec![
        ("condition_met", json!(met)),
        ("last_known_state", json!({ "answer": evidence })),
        ("last_notified_at", notified),
        ("updated_at", stamp),
    ])
}

fn array(items: impl Iterator<Item = Vec<u8>>) -> Resp {
    let mut out = b"[".to_vec();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(item);
    }
    out.push(b']');
    Resp::raw(200, "application/json", out)
}

/// The first value of a query parameter, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    let pairs = query.split('&').map(|pair| pair.split_once('=').unwrap_or((pair, "")));
    pairs.filter(|(k, _)| percent_decode(k) == name).map(|(_, v)| percent_decode(v)).next()
}

/// The request body as a JSON object, or FastAPI's 422.
fn body_object(req: &Request) -> Result<Map<String, Value>, Resp> {
    match serde_json::from_slice(&req.body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Resp::invalid(vec![json!({"type": "model_attributes_type", "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from"})])),
    }
}

fn missing(field: &str, body: &Map<String, Value>) -> Value {
    json!({"type": "missing", "loc": ["body", field], "msg": "Field required", "input": body})
}

/// Path IDs are UUIDs; anything else is FastAPI's `uuid_parsing` 422.
fn check_uuid(text: &str, name: &str) -> Result<(), Resp> {
    let ok = text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        return Ok(());
    }
    Err(Resp::invalid(vec![json!({"type": "uuid_parsing", "loc": ["path", name],
        "msg": "Input should be a valid UUID, invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-]",
        "input": text})]))
}

/// Notifications as the server stores them: all six keys, defaults filled in.
fn filled_notifications(list: &[Value]) -> Value {
    let filled = list.iter().map(|item| {
        let field = |key: &str| item.get(key).cloned().unwrap_or(Value::Null);
        let method = item.get("method").cloned().unwrap_or(json!("POST"));
        json!({"type": field("type"), "address": field("address"), "template": field("template"),
               "url": field("url"), "method": method, "headers": field("headers")})
    });
    Value::Array(filled.collect())
}

// ---- time -----------------------------------------------------------------------------------

fn micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

fn now() -> String {
    stamp(micros())
}

/// RFC 3339 in UTC with microseconds, the fraction left out when it is zero.
pub fn stamp(micros: i64) -> String {
    let (secs, fraction) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let time = format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    let fraction = if fraction == 0 { String::new() } else { format!(".{fraction:06}") };
    format!("{year:04}-{month:02}-{day:02}T{time}{fraction}Z")
}
