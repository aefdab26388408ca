//! API documents: any bytes are a document (tasks, runs, lists of them) or a malformed-response
//! error (exit 9); re-spacing a document for `--json` keeps it valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torale::error::Kind;
use torale::model::{Execution, Json, Task};
use torale::output::{reformat_json, sanitize};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = String::from_utf8(data.to_vec()) else {
        return;
    };
    let Ok(doc) = Json::parse(text) else {
        return;
    };
    for pretty in [false, true] {
        let mut out = String::new();
        reformat_json(doc.text(), pretty, &mut out);
        assert!(Json::parse(out).is_ok());
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
