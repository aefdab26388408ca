//! `fake-torale`: the in-repo fake Torale API, run by hand or by `make demo` / `make bench`.
//!
//! Prints `url=...` and `key=...` on stdout, then serves until killed (or, with
//! `--until-stdin-eof`, until stdin reaches end of file).

#[path = "fake.rs"]
mod fake;

use std::io::{Read, Write};
use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo run --example fake-torale -- [OPTIONS]

Options:
  --legacy             play the legacy 0.0.2 server instead of HEAD
  --noauth             run as a TORALE_NOAUTH server
  --port N             listen on 127.0.0.1:N (default: a free port)
  --key sk_...         the default user's key (default: a random one)
  --email E            the default user's email (default: user@example.com)
  --tasks N            seed N tasks for the default user
  --no-rate-limits     turn off HEAD's per-minute limits
  --quiet              do not log requests on stderr
  --until-stdin-eof    stop when stdin reaches end of file
  -h, --help           print this help";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fake-torale: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut options = fake::Options {
        log_requests: true,
        ..fake::Options::default()
    };
    let mut tasks = 0usize;
    let mut until_stdin_eof = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = match args[i].split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (args[i].clone(), None),
        };
        i += 1;
        let mut value = || -> Result<String, String> {
            if let Some(value) = inline.clone() {
                return Ok(value);
            }
            let value = args
                .get(i)
                .cloned()
                .ok_or(format!("{flag} needs a value"))?;
            i += 1;
            Ok(value)
        };
        match flag.as_str() {
            "--legacy" => options.generation = fake::Generation::Legacy,
            "--noauth" => options.noauth = true,
            "--no-rate-limits" => options.rate_limits = false,
            "--quiet" => options.log_requests = false,
            "--until-stdin-eof" => until_stdin_eof = true,
            "--port" => {
                let text = value()?;
                options.port = text.parse().map_err(|_| format!("invalid port: {text}"))?;
            }
            "--key" => options.key = Some(value()?),
            "--email" => options.email = value()?,
            "--tasks" => {
                let text = value()?;
                tasks = text
                    .parse()
                    .map_err(|_| format!("invalid task count: {text}"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option: {other}")),
        }
    }

    let server = fake::Fake::start_with(options);
    if tasks > 0 {
        server.seed_tasks(&server.key(), tasks);
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "url={}", server.url()).map_err(|e| e.to_string())?;
    writeln!(stdout, "key={}", server.key()).map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    drop(stdout);

    if until_stdin_eof {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    } else {
        loop {
            std::thread::park();
        }
    }
    Ok(())
}
