//! Config file parsing and settings resolution: any bytes are a config or an exit-3 error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use torale::config::{self, ConfigFile, Env, Flags};
use torale::error::Kind;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/fuzz/config.json");
    let file = match ConfigFile::parse(path, data) {
        Ok(file) => file,
        Err(err) => {
            assert_eq!(err.kind, Kind::Config, "{err:?}");
            return;
        }
    };
    match config::resolve(&Flags::default(), &Env::default(), &file) {
        Ok(settings) => {
            assert!((1..=86_400).contains(&settings.timeout.as_secs()));
            if let Err(err) = settings.api_key {
                assert_eq!(err.kind, Kind::Config, "{err:?}");
            }
        }
        Err(err) => assert_eq!(err.kind, Kind::Config, "{err:?}"),
    }
});
