//! Error bodies in any shape: the message is one line with nothing a terminal would obey.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(message) = torale::client::error_message(data) {
        assert!(!message.trim().is_empty());
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }
});
