//! The `torale` binary: parse, run, report one error, exit with one code.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use torale::error::{Error, Kind};
use torale::output::{Color, ColorChoice, Output};
use torale::{cli, commands};

fn main() -> ExitCode {
    // A bug must still end as one line and exit 1, not a panic message and an abort.
    std::panic::set_hook(Box::new(|info| {
        let mut stderr = io::stderr().lock();
        let _ = writeln!(
            stderr,
            "Error: internal error in torale ({})",
            info.location()
                .map_or_else(|| "unknown place".to_string(), ToString::to_string)
        );
        let _ = writeln!(
            stderr,
            "Hint: This is a bug; please report it with the command you ran"
        );
        std::process::exit(1);
    }));
    let code = match cli::parse_args() {
        Ok(invocation) => {
            let globals = &invocation.globals;
            let output = Output::detect(globals.json, globals.color, globals.selection.clone());
            let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
            let result = commands::run(invocation.command, &invocation.globals, &output, &mut out);
            match result.and_then(|()| out.flush().map_err(Error::from)) {
                Ok(()) => 0,
                // A drift check's plan is its result: it is printed, and the code says "changes".
                Err(err) if err.kind == Kind::ChangesPending => match out.flush() {
                    Ok(()) => err.exit_code(),
                    Err(io) => report(&Error::from(io), &output),
                },
                Err(err) => {
                    // On failure stdout stays empty: drop what was buffered instead of flushing it.
                    let _ = out.into_parts();
                    report(&err, &output)
                }
            }
        }
        Err(err) => {
            let json = std::env::args_os()
                .take_while(|arg| arg != "--")
                .any(|arg| arg == "--json");
            report(&err, &Output::detect(json, ColorChoice::Auto, None))
        }
    };
    ExitCode::from(code)
}

/// Print an error on stderr (text or one JSON object) and return its exit code.
fn report(err: &Error, output: &Output) -> u8 {
    if err.kind == Kind::ClosedPipe || (err.kind == Kind::ChangesPending && !output.json_errors) {
        return err.exit_code();
    }
    let mut stderr = io::stderr().lock();
    if output.json_errors {
        let value = serde_json::json!({"error": {
            "kind": err.kind.name(),
            "message": err.message,
            "status": err.status,
            "exit_code": err.exit_code(),
            "hints": err.hints,
        }});
        let _ = writeln!(stderr, "{value}");
    } else {
        let _ = writeln!(
            stderr,
            "{} {}",
            output.paint_err(Color::Red, "Error:"),
            err.message
        );
        for hint in &err.hints {
            let _ = writeln!(stderr, "{} {hint}", output.paint_err(Color::Dim, "Hint:"));
        }
    }
    err.exit_code()
}
