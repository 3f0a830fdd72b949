//! Fuzz body for windlass-aws's model-driven wire code: a Task's parameters
//! serialized into a request by an operation's input shape, and arbitrary
//! answers parsed by its output shape and as an error, for each protocol.
//!
//! The first line names the operation (`dynamodb:putItem`; an unknown one
//! falls back to a fixed operation per protocol chosen by the line's
//! length); the rest is both the parameters (when it is JSON) and the body
//! of the answers, so a found input is a readable text file.

use serde_json::Value as Json;
use windlass_aws::model::Model;
use windlass_aws::protocol::{self, HttpResponse};
use windlass_aws::Service;

/// One operation of each protocol, for first lines that name none.
const FALLBACKS: [(&str, &str); 4] = [
    ("dynamodb", "putItem"),
    ("iam", "createRole"),
    ("lambda", "invoke"),
    ("s3", "listObjectsV2"),
];

pub fn wire(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let named = first
        .split_once(':')
        .and_then(|(service, action)| Some((Service::named(service)?, action.trim())));
    let (service, action) = match named {
        Some(found) => found,
        None => {
            let (service, action) = FALLBACKS[first.len() % FALLBACKS.len()];
            match Service::named(service) {
                Some(service) => (service, action),
                None => return,
            }
        }
    };
    let Ok(model) = Model::of(service) else {
        return;
    };
    let Ok(operation) = model.operation(action) else {
        return;
    };
    if let Ok(input) = serde_json::from_str::<Json>(rest) {
        let _ = protocol::request(&model, &operation, &input);
    }
    for status in [200, 400, 404, 500] {
        let answer = HttpResponse {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-amz-meta-k".into(), rest.chars().take(16).collect()),
                ("Content-Length".into(), rest.len().to_string()),
            ],
            body: rest.as_bytes().to_vec(),
        };
        let _ = protocol::response(&model, &operation, &answer);
        let _ = protocol::error(&model, &answer);
    }
}
