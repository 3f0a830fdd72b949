//! TestState on small requests.

use serde_json::json;

use super::*;

fn request(definition: serde_json::Value, input: serde_json::Value) -> TestStateRequest {
    TestStateRequest {
        definition: definition.to_string(),
        input: Some(input.to_string()),
        inspection_level: InspectionLevel::Debug,
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        ..Default::default()
    }
}
