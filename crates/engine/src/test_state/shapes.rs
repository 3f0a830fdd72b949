//! The result shapes of service integrations, for checking a mocked result
//! as AWS checks it against the service's API model (`fieldValidationMode`
//! STRICT and PRESENT).
//!
//! Only the integrations in [`output_shape`] are known here, with the
//! members of their results that carry constraints; a result of any other
//! integration, and any member not listed, is not checked. STRICT also
//! requires the members the API model marks required; neither mode refuses
//! members the model does not know.

use serde_json::Value as Json;

use super::FieldValidationMode;

/// A value's shape in an API model.
enum Shape {
    Structure(&'static [Member]),
    List(&'static Shape),
    String {
        min_length: Option<usize>,
        values: &'static [&'static str],
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// A long or a double: any number.
    Number,
    Boolean,
    /// Step Functions shows timestamps as text.
    Timestamp,
    Blob {
        min_length: Option<usize>,
    },
    /// Not checked (documents, payloads, streams).
    Any,
}

struct Member {
    name: &'static str,
    shape: &'static Shape,
    required: bool,
}

const fn member(name: &'static str, shape: &'static Shape) -> Member {
    Member {
        name,
        shape,
        required: false,
    }
}

const fn required(name: &'static str, shape: &'static Shape) -> Member {
    Member {
        name,
        shape,
        required: true,
    }
}

const STRING: Shape = Shape::String {
    min_length: None,
    values: &[],
};
const NON_EMPTY_STRING: Shape = Shape::String {
    min_length: Some(1),
    values: &[],
};
const INTEGER: Shape = Shape::Integer {
    min: None,
    max: None,
};

const LAMBDA_INVOKE: Shape = Shape::Structure(&[
    member("StatusCode", &INTEGER),
    member("FunctionError", &STRING),
    member("LogResult", &STRING),
    member("Payload", &Shape::Any),
    member("ExecutedVersion", &STRING),
]);

const SFN_START_EXECUTION: Shape = Shape::Structure(&[
    required("ExecutionArn", &STRING),
    required("StartDate", &Shape::Timestamp),
]);

const EVENTS_PUT_EVENTS: Shape = Shape::Structure(&[
    member("FailedEntryCount", &INTEGER),
    member(
        "Entries",
        &Shape::List(&Shape::Structure(&[
            member("EventId", &STRING),
            member("ErrorCode", &STRING),
            member("ErrorMessage", &STRING),
        ])),
    ),
]);

const CAPACITY: Shape = Shape::Structure(&[
    member("CapacityUnits", &Shape::Number),
    member("ReadCapacityUnits", &Shape::Number),
    member("WriteCapacityUnits", &Shape::Number),
]);

const DYNAMODB_CONSUMED_CAPACITY: Shape = Shape::Structure(&[
    member("TableName", &NON_EMPTY_STRING),
    member("CapacityUnits", &Shape::Number),
    member("ReadCapacityUnits", &Shape::Number),
    member("WriteCapacityUnits", &Shape::Number),
    member("Table", &CAPACITY),
]);

const DYNAMODB_ITEM_RESULT: Shape = Shape::Structure(&[
    member("Attributes", &Shape::Any),
    member("Item", &Shape::Any),
    member("ConsumedCapacity", &DYNAMODB_CONSUMED_CAPACITY),
    member("ItemCollectionMetrics", &Shape::Any),
]);

const SQS_SEND_MESSAGE: Shape = Shape::Structure(&[
    member("MD5OfMessageBody", &STRING),
    member("MD5OfMessageAttributes", &STRING),
    member("MD5OfMessageSystemAttributes", &STRING),
    member("MessageId", &STRING),
    member("SequenceNumber", &STRING),
]);

const SNS_PUBLISH: Shape = Shape::Structure(&[
    member("MessageId", &STRING),
    member("SequenceNumber", &STRING),
]);

const KMS_ENCRYPT: Shape = Shape::Structure(&[
    member(
        "CiphertextBlob",
        &Shape::Blob {
            min_length: Some(1),
        },
    ),
    member("KeyId", &NON_EMPTY_STRING),
    member(
        "EncryptionAlgorithm",
        &Shape::String {
            min_length: None,
            values: &[
                "SYMMETRIC_DEFAULT",
                "RSAES_OAEP_SHA_1",
                "RSAES_OAEP_SHA_256",
                "SM2PKE",
            ],
        },
    ),
]);

const LAMBDA_GET_FUNCTION: Shape = Shape::Structure(&[
    member(
        "Configuration",
        &Shape::Structure(&[
            member("FunctionName", &NON_EMPTY_STRING),
            member("FunctionArn", &STRING),
            member("Runtime", &STRING),
            member("Role", &STRING),
            member("Handler", &STRING),
            member("CodeSize", &Shape::Number),
            member(
                "Timeout",
                &Shape::Integer {
                    min: Some(1),
                    max: None,
                },
            ),
            member(
                "MemorySize",
                &Shape::Integer {
                    min: Some(128),
                    max: Some(10240),
                },
            ),
            member("LastModified", &STRING),
            member("Version", &NON_EMPTY_STRING),
        ]),
    ),
    member("Code", &Shape::Any),
    member("Tags", &Shape::Any),
    member("Concurrency", &Shape::Any),
]);

const S3_GET_OBJECT: Shape = Shape::Structure(&[
    member("Body", &Shape::Any),
    member("DeleteMarker", &Shape::Boolean),
    member("ContentLength", &Shape::Number),
    member("ETag", &STRING),
    member("ContentType", &STRING),
    member("LastModified", &Shape::Timestamp),
    member("VersionId", &STRING),
    member(
        "StorageClass",
        &Shape::String {
            min_length: None,
            values: &[
                "STANDARD",
                "REDUCED_REDUNDANCY",
                "STANDARD_IA",
                "ONEZONE_IA",
                "INTELLIGENT_TIERING",
                "GLACIER",
                "DEEP_ARCHIVE",
                "OUTPOSTS",
                "GLACIER_IR",
                "SNOW",
                "EXPRESS_ONEZONE",
                "FSX_OPENZFS",
            ],
        },
    ),
]);

/// The result shape of the integration a Task `Resource` names, when known.
fn output_shape(resource: &str) -> Option<&'static Shape> {
    let action = resource.strip_prefix("arn:aws:states:::")?;
    Some(match action {
        "lambda:invoke" => &LAMBDA_INVOKE,
        "states:startExecution" => &SFN_START_EXECUTION,
        "events:putEvents" => &EVENTS_PUT_EVENTS,
        "dynamodb:putItem" | "dynamodb:getItem" | "dynamodb:updateItem" | "dynamodb:deleteItem" => {
            &DYNAMODB_ITEM_RESULT
        }
        "sqs:sendMessage" => &SQS_SEND_MESSAGE,
        "sns:publish" => &SNS_PUBLISH,
        "aws-sdk:kms:encrypt" => &KMS_ENCRYPT,
        "aws-sdk:lambda:getFunction" => &LAMBDA_GET_FUNCTION,
        "aws-sdk:s3:getObject" => &S3_GET_OBJECT,
        _ => return None,
    })
}

/// Checks a mocked result of `resource`; the error is AWS's message.
pub(super) fn check(
    resource: &str,
    result: &Json,
    mode: FieldValidationMode,
) -> Result<(), String> {
    if mode == FieldValidationMode::None {
        return Ok(());
    }
    let Some(shape) = output_shape(resource) else {
        return Ok(());
    };
    let strict = mode == FieldValidationMode::Strict;
    let outcome = match (shape, result) {
        (Shape::Structure(members), Json::Object(_)) => check_members(members, result, strict),
        (Shape::Structure(_), _) => Err("The mocked result must be a JSON object".to_string()),
        _ => check_value("result", shape, result, strict),
    };
    outcome.map_err(|message| format!("Mock result schema validation error: {message}"))
}

fn check_members(members: &[Member], value: &Json, strict: bool) -> Result<(), String> {
    for member in members {
        match value.get(member.name) {
            Some(field) => check_value(member.name, member.shape, field, strict)?,
            None if strict && member.required => {
                return Err(format!("Required field '{}' is missing", member.name))
            }
            None => {}
        }
    }
    Ok(())
}

fn check_value(name: &str, shape: &Shape, value: &Json, strict: bool) -> Result<(), String> {
    let wrong = |what: &str| Err(format!("Field '{name}' must be {what}"));
    match shape {
        Shape::Any => Ok(()),
        Shape::Structure(members) => match value {
            Json::Object(_) => check_members(members, value, strict),
            _ => wrong("an object"),
        },
        Shape::List(item) => match value {
            Json::Array(items) => items
                .iter()
                .try_for_each(|v| check_value(name, item, v, strict)),
            _ => wrong("an array"),
        },
        Shape::String { min_length, values } => {
            let Json::String(text) = value else {
                return wrong("a string");
            };
            if min_length.is_some_and(|min| text.chars().count() < min) {
                return Err(format!("Field '{name}' is smaller than the minimum length"));
            }
            if !values.is_empty() && !values.contains(&text.as_str()) {
                return Err(format!("Field '{name}' is not an expected value"));
            }
            Ok(())
        }
        Shape::Blob { min_length } => match value {
            Json::String(text) if min_length.is_some_and(|min| text.len() < min) => {
                Err(format!("Field '{name}' is smaller than the minimum length"))
            }
            Json::String(_) => Ok(()),
            _ => wrong("a string"),
        },
        Shape::Timestamp => match value {
            Json::String(_) => Ok(()),
            _ => wrong("a string"),
        },
        Shape::Boolean => match value {
            Json::Bool(_) => Ok(()),
            _ => wrong("a boolean"),
        },
        Shape::Number => match value {
            Json::Number(_) => Ok(()),
            _ => wrong("a number"),
        },
        Shape::Integer { min, max } => {
            let Json::Number(number) = value else {
                return wrong("a number");
            };
            let Some(n) = number.as_i64() else {
                return wrong("an integer");
            };
            if min.is_some_and(|min| n < min) {
                return Err(format!("Field '{name}' is less than the minimum value"));
            }
            if max.is_some_and(|max| n > max) {
                return Err(format!("Field '{name}' exceeds the maximum value"));
            }
            Ok(())
        }
    }
}
