//! The check `windlass validate` makes of a definition's AWS SDK Task
//! states: the service and action must be in the embedded models (the
//! message lists the service's actions).

use serde_json::Value as Json;

use crate::sdk::{SdkResource, RESOURCE};

/// One Task state whose `Resource` names an unknown service or action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownResource {
    /// JSON pointer to the `Resource` field.
    pub pointer: String,
    /// The `Resource` as written.
    pub resource: String,
    pub message: String,
}

/// Every `aws-sdk:` Task resource of `document` (branches and Map
/// processors included) that names no embedded service or action.
pub fn unknown_resources(document: &Json) -> Vec<UnknownResource> {
    let mut found = Vec::new();
    walk(document, String::new(), &mut found);
    found
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(value: &Json, pointer: String, found: &mut Vec<UnknownResource>) {
    match value {
        Json::Object(fields) => {
            let is_task = fields.get("Type").and_then(Json::as_str) == Some("Task");
            if let (true, Some(Json::String(resource))) = (is_task, fields.get("Resource")) {
                if resource.starts_with(RESOURCE) {
                    if let Err(error) = SdkResource::parse(resource) {
                        found.push(UnknownResource {
                            pointer: format!("{pointer}/Resource"),
                            resource: resource.clone(),
                            message: error.to_string(),
                        });
                    }
                }
            }
            for (key, inner) in fields {
                // Parameters and Arguments are data, not states.
                if matches!(key.as_str(), "Parameters" | "Arguments" | "Result") {
                    continue;
                }
                walk(inner, format!("{pointer}/{}", escape(key)), found);
            }
        }
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{pointer}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_actions_are_found_in_branches() {
        let document = json!({ "StartAt": "P", "States": { "P": { "Type": "Parallel", "End": true, "Branches": [
            { "StartAt": "A", "States": {
                "A": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObjekt", "Next": "B" },
                "B": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject", "End": true } } }
        ] } } });
        let found = unknown_resources(&document);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pointer, "/States/P/Branches/0/States/A/Resource");
        assert!(
            found[0].message.contains("getObject, "),
            "{}",
            found[0].message
        );
    }
}
