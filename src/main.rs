//! The `torale` binary: parse, run, report one error, exit with one code.

use std::io::{self, Write};
use std::process::ExitCode;

use torale::commands::{self, Context};
use torale::error::{Error, Kind};

fn main() -> ExitCode {
    // A bug must still end as one line and exit 1, not a panic message and an abort.
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map_or_else(|| "unknown place".into(), |l| l.to_string());
        eprintln!("Error: internal error in torale ({place})\nHint: This is a bug; please report it with the command you ran");
        std::process::exit(1);
    }));
    let stdout_open = !torale::terminal::stdout_was_closed();
    let (options, command) = torale::cli::parse(std::env::args_os().skip(1));
    let cx = Context::new(options);
    // The whole result is kept until the command succeeds: on failure stdout stays empty.
    let mut out = Vec::new();
    let result = command.and_then(|command| commands::run(command, &cx, &mut out));
    let result = result.and_then(|code| {
        if !(out.is_empty() || stdout_open) {
            return Err(Error::internal("Cannot write the result: standard output is closed"));
        }
        io::stdout().lock().write_all(&out).and_then(|()| io::stdout().flush())?;
        Ok(code)
    });
    ExitCode::from(match result {
        Ok(code) => code,
        Err(err) if err.kind == Kind::ClosedPipe => 0,
        Err(err) => {
            if err.keeps_output && stdout_open {
                let _ = io::stdout().lock().write_all(&out);
            }
            cx.output.report(&err);
            err.exit_code()
        }
    })
}
