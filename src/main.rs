//! The `torale` binary: parse, run, report one error, exit with one code.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use torale::commands::{self, Context};
use torale::error::{Error, Kind};

fn main() -> ExitCode {
    // A bug must still end as one line and exit 1, not a panic message and an abort.
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map_or_else(|| "unknown place".into(), |l| l.to_string());
        eprintln!("Error: internal error in torale ({place})\nHint: This is a bug; please report it with the command you ran");
        std::process::exit(1);
    }));
    let (options, command) = torale::cli::parse(std::env::args_os().skip(1));
    let cx = Context::new(options);
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let result = command.and_then(|command| commands::run(command, &cx, &mut out));
    // On failure stdout stays empty: what was buffered is dropped, not flushed.
    let result = result.and_then(|code| out.flush().map(|()| code).map_err(Error::from));
    ExitCode::from(match result {
        Ok(code) => code,
        Err(err) if err.kind == Kind::ClosedPipe => 0,
        Err(err) => {
            let _ = out.into_parts();
            cx.output.report(&err);
            err.exit_code()
        }
    })
}
