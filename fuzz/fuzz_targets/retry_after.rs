//! `Retry-After` values (seconds): never a wait over the cap.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(wait) = torale::client::parse_retry_after(value) {
        assert!(wait <= Duration::from_secs(60), "{value:?} -> {wait:?}");
    }
});
