//! Which fields each state type accepts, and the operand types of Choice rules.

use serde_json::Value as Json;

use crate::definition::{ComparisonOp, QueryLanguage};

/// Fields only JSONPath states may use. A JSONata Pass state gives its
/// result with `Output`; AWS refuses `Result` there.
const JSONPATH_ONLY: &[&str] = &[
    "Result",
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultPath",
    "ResultSelector",
    "ItemsPath",
];
/// Fields only JSONata states may use.
const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items"];

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];

/// Every field a state of `type_name` may have in either language, or `None`
/// for an unknown type.
pub fn allowed(type_name: &str) -> Option<&'static [&'static str]> {
    Some(match type_name {
        "Pass" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultPath",
            "Result",
            "Assign",
            "Output",
        ],
        "Task" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultPath",
            "ResultSelector",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Retry",
            "Catch",
            "Credentials",
            "Assign",
            "Arguments",
            "Output",
        ],
        "Choice" => &[
            "InputPath",
            "OutputPath",
            "Choices",
            "Default",
            "Assign",
            "Output",
        ],
        "Wait" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
            "Assign",
            "Output",
        ],
        "Succeed" => &["InputPath", "OutputPath", "Output"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultPath",
            "ResultSelector",
            "Branches",
            "Retry",
            "Catch",
            "Assign",
            "Arguments",
            "Output",
        ],
        "Map" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultPath",
            "ResultSelector",
            "Iterator",
            "ItemProcessor",
            "ItemsPath",
            "Items",
            "ItemSelector",
            "ItemReader",
            "ItemBatcher",
            "ResultWriter",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "Label",
            "Retry",
            "Catch",
            "Assign",
            "Output",
        ],
        _ => return None,
    })
}

/// The fields allowed for a state in `language`: its type's fields less those
/// of the other language, plus the common ones.
pub fn for_language(allowed: &[&'static str], language: QueryLanguage) -> Vec<&'static str> {
    let excluded = match language {
        QueryLanguage::JsonPath => JSONATA_ONLY,
        QueryLanguage::Jsonata => JSONPATH_ONLY,
    };
    let mut fields: Vec<&'static str> = COMMON.to_vec();
    fields.extend(allowed.iter().copied().filter(|field| {
        // JSONata states have no `...Path` fields (ItemsPath is refused
        // through JSONPATH_ONLY).
        let path_in_jsonata =
            language == QueryLanguage::Jsonata && field.ends_with("Path") && *field != "ItemsPath";
        !excluded.contains(field) && !path_in_jsonata
    }));
    fields
}

/// Whether a literal operand has the type its operator compares.
pub fn operand_type_ok(op: ComparisonOp, operand: &Json) -> bool {
    use ComparisonOp::*;
    match op {
        StringEquals
        | StringLessThan
        | StringGreaterThan
        | StringLessThanEquals
        | StringGreaterThanEquals
        | StringMatches
        | TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => operand.is_string(),
        NumericEquals
        | NumericLessThan
        | NumericGreaterThan
        | NumericLessThanEquals
        | NumericGreaterThanEquals => operand.is_number(),
        BooleanEquals | IsNull | IsPresent | IsNumeric | IsString | IsBoolean | IsTimestamp => {
            operand.is_boolean()
        }
    }
}

pub fn operand_type_name(op: ComparisonOp) -> &'static str {
    use ComparisonOp::*;
    match op {
        NumericEquals
        | NumericLessThan
        | NumericGreaterThan
        | NumericLessThanEquals
        | NumericGreaterThanEquals => "a NUMBER",
        BooleanEquals | IsNull | IsPresent | IsNumeric | IsString | IsBoolean | IsTimestamp => {
            "a BOOLEAN"
        }
        _ => "a STRING",
    }
}
