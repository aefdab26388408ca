//! `fake-torale`: the in-repo fake Torale API, run by hand (`make fake`) or by `make demo` and
//! `make bench`.
//!
//! Prints ready-to-paste shell lines on stdout (`export TORALE_API_URL=... TORALE_API_KEY=...`),
//! so that commands tried by hand reach the fake and never the production API, then serves
//! until killed.

#[allow(dead_code)]
#[path = "fake.rs"]
mod fake;

use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo run --example fake-torale -- [OPTIONS]

Options:
  --legacy             play the legacy 0.0.2 server instead of the current one
  --noauth             run as a TORALE_NOAUTH server
  --tasks N            seed N tasks for the default user
  --quiet              do not log requests on stderr
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
    let mut options = fake::Options { log_requests: true, ..fake::Options::default() };
    let mut tasks = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--legacy" => options.generation = fake::Generation::Legacy,
            "--noauth" => options.noauth = true,
            "--quiet" => options.log_requests = false,
            "--tasks" => {
                let text = args.next().ok_or("--tasks needs a value")?;
                tasks = text.parse().map_err(|_| format!("invalid task count: {text}"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option: {other}")),
        }
    }

    let server = fake::Fake::start_with(options.clone());
    if tasks > 0 {
        server.seed_tasks(&server.key(), tasks);
    }
    let generation = match options.generation {
        fake::Generation::Head => "current",
        fake::Generation::Legacy => "legacy 0.0.2",
    };
    let noauth = if options.noauth { " TORALE_NOAUTH=1" } else { "" };
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "# fake Torale API ({generation} server) on {}; paste into a shell:\n\
         export TORALE_API_URL={} TORALE_API_KEY={}{noauth}",
        server.url(),
        server.url(),
        server.key()
    )
    .and_then(|()| stdout.flush())
    .map_err(|e| e.to_string())?;
    drop(stdout);

    loop {
        std::thread::park();
    }
}
