//! A hostile environment or server: proxies torale cannot use, TLS and DNS failures, user info
//! in URLs, and results too deep or too large. Each story checks exit code, stdout, stderr and
//! what the server (or a bare listener standing in for it) received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::support::fake::Fault;
use crate::support::{closed_port_url, temp_dir, World, UNKNOWN_KEY};

/// A loopback listener that counts the connections it accepts and answers each with `reply`.
fn listener(reply: &'static [u8]) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = stream.read(&mut [0u8; 4096]);
            let _ = stream.write_all(reply);
        }
    });
    (port, accepted)
}

/// An HTTP proxy on loopback that tunnels each CONNECT; returns its URL and the request lines
/// it received.
fn tunnel_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let (mut head, mut byte) = (Vec::new(), [0u8]);
            while !head.ends_with(b"\r\n\r\n") && matches!(client.read(&mut byte), Ok(1)) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let line = head.lines().next().unwrap_or("").to_string();
            seen.lock().unwrap().push(line.clone());
            // Loopback only: nothing leaves this machine.
            let target = line.strip_prefix("CONNECT 127.0.0.1:").map(|t| t.split(' ').next());
            let target = target.flatten().map(|port| format!("127.0.0.1:{port}"));
            let Some(mut server) = target.and_then(|t| TcpStream::connect(t).ok()) else {
                let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
                continue;
            };
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            let (mut up, mut down) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut up, &mut down));
            let _ = std::io::copy(&mut server, &mut client);
            let _ = client.shutdown(std::net::Shutdown::Write);
        }
    });
    (url, lines)
}

#[test]
fn proxies_torale_cannot_use_are_refused_before_anything_is_sent() {
    let w = World::new();
    let socks = "socks5://u:p@127.0.0.1:9";
    for (var, value) in [("ALL_PROXY", socks), ("all_proxy", socks), ("HTTP_PROXY", "not a url")] {
        w.cmd(&["task", "list"])
            .server(&w.fake)
            .env(var, value)
            .run()
            .code(3)
            .no_stdout()
            .stderr_has(&format!(" in {var}: "))
            .stderr_has("torale supports http:// and https:// proxies")
            .stderr_lacks("p@");
    }
    assert!(w.requests().is_empty());

    // An http:// proxy is used: the request goes through its tunnel to the API.
    let id = w.task(json!({"name": "through the proxy"}));
    let (proxy, lines) = tunnel_proxy();
    w.cmd(&["task", "list", "--field", "id"])
        .server(&w.fake)
        .env("HTTP_PROXY", &proxy)
        .run()
        .ok()
        .stdout_is(&format!("{id}\n"));
    let connect = format!("CONNECT 127.0.0.1:{} HTTP/1.1", w.fake.port());
    assert_eq!(*lines.lock().unwrap(), [connect]);
    assert_eq!(w.requests(), ["GET /api/v1/tasks/"]);
    // A remote host through it: plain http:// warns (loopback does not).
    w.cmd(&["auth", "status"])
        .env("TORALE_API_URL", "http://torale.example.com")
        .env("TORALE_API_KEY", UNKNOWN_KEY)
        .env("HTTP_PROXY", &proxy)
        .run()
        .stderr_has("Warning: sending the API key over plain http:// to http://torale.example.com")
        .stderr_lacks("Could not resolve host");
    assert_eq!(lines.lock().unwrap()[1], "CONNECT torale.example.com:80 HTTP/1.1");
    w.run(&["auth", "status"]).ok().stderr_lacks("Warning");
    // A proxy that is down is named; NO_PROXY bypasses it.
    let down = closed_port_url();
    let port = down.rsplit(':').next().unwrap().to_string();
    let through = |no_proxy: &str| {
        let cmd = w.cmd(&["task", "list"]).server(&w.fake).env("HTTP_PROXY", &down);
        cmd.env("NO_PROXY", no_proxy).run()
    };
    w.requests();
    through("")
        .code(10)
        .no_stdout()
        .stderr_has(&format!("Requests go through the proxy 127.0.0.1:{port}"));
    assert!(w.requests().is_empty());
    through("127.0.0.1").ok();
}

#[test]
fn tls_and_dns_failures_are_one_plain_line_and_not_retried() {
    let w = World::new();
    // A plain HTTP server behind an https:// URL.
    let (port, accepted) = listener(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let run = w
        .cmd(&["auth", "whoami"])
        .env("TORALE_API_URL", &format!("https://127.0.0.1:{port}"))
        .env("TORALE_API_KEY", UNKNOWN_KEY)
        .run();
    run.code(10).no_stdout().stderr_lacks("waiting");
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("Error: ")).collect();
    assert!(errors.len() == 1 && errors[0].starts_with("Error: TLS: "), "{run:?}");
    for dump in ["Other(", "Error(", "OtherError"] {
        run.stderr_lacks(dump);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "{run:?}");

    let run = w.cmd(&["--api-url", "http://nonexistent.invalid", "auth", "whoami"]);
    run.env("TORALE_API_KEY", UNKNOWN_KEY)
        .run()
        .code(10)
        .no_stdout()
        .stderr_has("Error: Could not resolve host")
        .stderr_has("Hint: Check the host name in the API URL")
        .stderr_lacks("waiting");
}

/// A real TLS server (`openssl s_server`) whose certificate comes from a private CA: trusted
/// once SSL_CERT_FILE names the CA, TLS 1.3 and 1.2 with AES-GCM work; a server that offers
/// nothing but ChaCha20-Poly1305 refuses the handshake, as torale offers AES-GCM only.
#[test]
#[ignore = "needs openssl (.ci/run installs it and runs the ignored tests)"]
fn tls_with_a_private_ca_and_the_cipher_suites_torale_offers() {
    let (w, dir) = (World::new(), temp_dir("tls"));
    let openssl = |args: &str| {
        let run = Command::new("openssl").args(args.split(' ')).current_dir(&dir).output();
        assert!(run.is_ok_and(|o| o.status.success()), "openssl {args} (is openssl installed?)");
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    openssl(&format!("req -x509 {ec} -subj /CN=ca -keyout ca.key -out ca.pem -days 2"));
    openssl(&format!("req {ec} -subj /CN=localhost -keyout key.pem -out leaf.csr"));
    std::fs::write(dir.join("ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl("x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -days 2 -extfile ext -out cert.pem");
    std::fs::create_dir(dir.join("auth")).unwrap();
    std::fs::write(dir.join("auth/me"), r#"{"email": "tls@example.com"}"#).unwrap();
    let chacha12 = "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305";
    let chacha13 = "-ciphersuites TLS_CHACHA20_POLY1305_SHA256";
    let ca = dir.join("ca.pem").display().to_string();
    let refused = "Hint: torale offers TLS 1.3 and 1.2 with AES-GCM";
    let untrusted = "Hint: If the API uses a private certificate authority, set SSL_CERT_FILE";
    let cases = [
        ("", "", 10, untrusted),
        ("", ca.as_str(), 0, "tls@example.com"),
        ("-tls1_2", ca.as_str(), 0, "tls@example.com"),
        (chacha13, ca.as_str(), 10, refused),
        (chacha12, ca.as_str(), 10, refused),
    ];
    for (options, ca, code, says) in cases {
        let serve =
            format!("s_server -accept 127.0.0.1:0 -cert cert.pem -key key.pem -WWW {options}");
        let mut server = Command::new("openssl");
        server.args(serve.split_whitespace()).current_dir(&dir).stderr(Stdio::null());
        let mut server = server.stdout(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines().map_while(Result::ok);
        let port = lines.find_map(|l| l.strip_prefix("ACCEPT 127.0.0.1:").map(str::to_string));
        std::thread::spawn(move || lines.for_each(drop));
        let url = format!("https://localhost:{}", port.expect("s_server's port"));
        let run = w.cmd(&["--api-url", &url, "auth", "whoami"]).env("SSL_CERT_FILE", ca);
        let run = run.env("TORALE_API_KEY", UNKNOWN_KEY).run();
        let _ = server.kill().and_then(|()| server.wait());
        match code {
            0 => run.ok().stdout_has(says),
            _ => run.code(10).no_stdout().stderr_has("Error: TLS: ").stderr_has(says),
        };
    }
}

#[test]
fn fields_are_checked_and_hostile_results_refused() {
    let w = World::new();
    w.task(json!({"name": "one"}));
    for args in [&["task", "list", "--field", "nope"][..], &["task", "list", "--format", "{nope}"]]
    {
        w.run(args)
            .code(2)
            .no_stdout()
            .stderr_has("Error: Unknown field 'nope'")
            .stderr_has("Hint: The result has these fields: ")
            .stderr_has("condition_description, context, created_at");
    }
    assert_eq!(w.requests().len(), 2);
    // A field some items lack is blank in those.
    w.fake.fault(Fault::json(200, r#"[{"id": "a", "extra": "x"}, {"id": "b"}]"#), 1);
    w.run(&["api", "/api/v1/tasks/", "--field", "extra"]).ok().stdout_is("x\n\n");
    // An object value is printed as JSON, its bidi control escaped.
    w.fake.fault(Fault::json(200, r#"{"state": {"text": "abc\u202egpj.exe"}}"#), 1);
    let run = w.run(&["api", "/health", "--field", "state"]);
    run.ok().stdout_has("abc\\u{202e}gpj.exe");
    assert!(!run.stdout.contains('\u{202e}'), "{run:?}");
    // Too deep to be data, or a number no float holds: exit 9.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for body in [deep.as_str(), r#"{"n": 1e400}"#] {
        w.fake.fault(Fault::json(200, body), 1);
        w.run(&["api", "/health", "--field", "n"])
            .code(9)
            .no_stdout()
            .stderr_has("Error: Malformed response from the server");
    }
}

#[test]
fn a_url_with_user_info_or_a_bad_port_is_refused_and_its_password_never_printed() {
    let w = World::new();
    let port = w.fake.port();
    let secret = format!("http://user:s3cret@127.0.0.1:{port}");
    for url in [secret.clone(), format!("http://127.0.0.1@127.0.0.1:{port}")] {
        w.run(&["--api-url", &url, "task", "list"])
            .code(2)
            .no_stdout()
            .stderr_has("user info (name:password@) is not allowed")
            .stderr_lacks("s3cret");
    }
    for url in ["http://127.0.0.1:99999", "http://127.0.0.1:0"] {
        w.run(&["--api-url", url, "task", "list"]).code(2).no_stdout().stderr_has("Error: ");
    }
    for args in [&["task", "list", "--debug"][..], &["auth", "status"], &["config"]] {
        let run = w.cmd(args).env("TORALE_API_URL", &secret).env("TORALE_API_KEY", UNKNOWN_KEY);
        run.run().code(2).no_stdout().stderr_lacks("s3cret");
    }
    assert!(w.requests().is_empty());
    // The scheme's case does not matter.
    w.run(&["--api-url", &format!("HTTP://127.0.0.1:{port}"), "auth", "whoami"]).ok();
    assert_eq!(w.requests(), ["GET /auth/me"]);
}

/// A list over 1 MiB may be checked in parts (their speed is `make bench`'s): wherever the
/// splits fall (once on a `},{` inside a string) and wherever a flaw is, the verdict stays.
#[test]
fn a_large_list_is_valid_or_malformed_as_a_whole() {
    let w = World::new();
    let tasks: Vec<String> = (0..6000)
        .map(|i| format!(r#"{{"id": "{i:04}", "name": "{}"}}"#, "n".repeat(200)))
        .collect();
    let list = |middle: &str, end: &str| {
        format!("[{},{middle},{}{end}", tasks[..3000].join(","), tasks[3000..].join(","))
    };
    let m = r#"{"id": "m"}"#;
    // A flaw that keeps the length, so the splits fall where they do in the sound list.
    let flawed =
        |at: usize| list(m, "]").replacen(&tasks[at], &tasks[at].replace(": \"", ":  "), 1);
    for good in [list(m, "]"), list(r#"{"id": "m", "name": "},{"}"#, "] ")] {
        w.fake.fault(Fault::json(200, &good), 1);
        w.run(&["task", "list", "--json"]).ok().stdout_is(&format!("{}\n", good.trim_end()));
    }
    // A form feed is whitespace to Rust's `trim_ascii`, not to JSON.
    let bad = [flawed(10), flawed(5990), list(m, ",]"), list(m, ""), list("{", "]")];
    let bad = bad.into_iter().chain((2996..3004).map(flawed)); // around the splits
    let bad = bad.chain([format!(r#"[{{"s": "{}"}},{{}},]"#, "x".repeat(1 << 20))]); // `},` ≠ `},{`
    for bad in bad.chain([list(m, "]\x0c"), format!("\x0c{}", list(m, "]"))]) {
        w.fake.fault(Fault::json(200, &bad), 1);
        w.run(&["task", "list", "--json"])
            .code(9)
            .no_stdout()
            .stderr_has("\"message\":\"Malformed response from the server: not JSON");
    }
}
