//! What the engine's tests share: a definition parsed from JSON and the
//! metadata of an execution started at [`START`].

use serde_json::Value as Json;
use windlass_asl::Definition;
use windlass_engine::ExecutionMeta;

pub const START: i64 = 1_700_000_000_000;

pub fn parse(definition: Json) -> Definition {
    windlass_asl::parse::parse_text(&definition.to_string())
        .valid()
        .expect("valid definition")
}

pub fn meta(input: Json) -> ExecutionMeta {
    ExecutionMeta {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:m:e".into(),
        name: "e".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m".into(),
        state_machine_name: "m".into(),
        role_arn: "arn:aws:iam::123456789012:role/r".into(),
        input,
        start_millis: START,
        seed: 7,
        express: false,
    }
}
