//! API documents: any bytes are a document (tasks, runs, lists of them) or a malformed-response
//! error (exit 9); `--json` output, piped or re-spaced for a terminal, stays the same JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use torale::error::{sanitize, Kind};
use torale::model::{Execution, Json, Task};
use torale::output::Output;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = String::from_utf8(data.to_vec()) else {
        return;
    };
    let Ok(doc) = Json::parse(text) else {
        return;
    };
    // None for what only a number out of f64's range keeps from being a Value.
    let value = serde_json::from_str::<Value>(doc.text()).ok();
    for stdout_tty in [false, true] {
        let output = Output {
            json: true,
            json_errors: true,
            selection: None,
            stdout_tty,
            stdout_color: false,
            stderr_color: false,
        };
        let mut out = Vec::new();
        output.json_text(&mut out, doc.text()).expect("a valid document is written");
        let written = String::from_utf8(out).expect("UTF-8 is written");
        assert_eq!(serde_json::from_str::<Value>(&written).ok(), value);
        assert!(Json::parse(written).is_ok());
    }
    let mut texts = vec![doc.text().to_string()];
    if let Ok(items) = doc.items("list") {
        texts.extend(items.iter().map(|raw| raw.get().to_string()));
    }
    for text in &texts {
        match Task::decode(text) {
            Ok(task) => assert!(!sanitize(task.name()).chars().any(char::is_control)),
            Err(err) => assert_eq!(err.kind, Kind::Server),
        }
        match Execution::decode(text) {
            Ok(run) => {
                let _ = (run.run_status(), run.notification_text(), run.source_urls());
            }
            Err(err) => assert_eq!(err.kind, Kind::Server),
        }
    }
});
