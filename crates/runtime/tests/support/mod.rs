//! What the runtime's integration tests share: a start request for one
//! execution of a definition given as JSON.

use std::sync::Arc;

use serde_json::Value as Json;
use windlass_engine::ExecutionMeta;
use windlass_runtime::StartRequest;

/// A request to start `arn` (named `name`) running `definition` on `input`.
pub fn start_request(definition: Json, arn: &str, name: &str, input: Json) -> StartRequest {
    let text = definition.to_string();
    let parsed = windlass_asl::parse::parse_text(&text)
        .valid()
        .expect("valid definition");
    StartRequest {
        definition_text: text,
        definition: Arc::new(parsed),
        meta: ExecutionMeta {
            execution_arn: arn.into(),
            name: name.into(),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m".into(),
            state_machine_name: "m".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            input,
            start_millis: 0,
            seed: 3,
            express: false,
        },
    }
}
