//! Argument parsing: NUL-separated bytes as argv. Any argv parses or is a one-line usage error.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use torale::error::Kind;

fuzz_target!(|data: &[u8]| {
    let args = data.split(|&b| b == 0).map(|arg| OsString::from_vec(arg.to_vec()));
    if let (_, Err(err)) = torale::cli::parse(args.collect::<Vec<_>>()) {
        assert_eq!(err.kind, Kind::Usage, "{}", err.message);
        assert!(!err.message.is_empty() && !err.message.chars().any(char::is_control));
    }
});
