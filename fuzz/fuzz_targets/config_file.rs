//! Config file reading and settings resolution: any bytes in `config.json` are a config or an
//! exit-3 error.
#![no_main]

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use torale::error::Kind;
use torale::settings::{self, ConfigFile, Env, Flags};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("torale-fuzz-config-{}", std::process::id()));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    std::fs::write(dir.join("config.json"), data).expect("the temp dir is writable");
    let env = Env { config_dir: Some(PathBuf::from(&dir)), ..Env::default() };
    let file = match ConfigFile::open(&env) {
        Ok(file) => file,
        Err(err) => return assert_eq!(err.kind, Kind::Config, "{}", err.message),
    };
    match settings::resolve(&Flags::default(), &env, &file) {
        Ok(settings) => {
            assert!((1..=86_400).contains(&settings.timeout.as_secs()));
            if let Err(err) = settings.api_key {
                assert_eq!(err.kind, Kind::Config, "{}", err.message);
            }
        }
        Err(err) => assert_eq!(err.kind, Kind::Config, "{}", err.message),
    }
});
