//! AWS JSON 1.0 and 1.1 (DynamoDB, ECS, ECR, SQS, Secrets Manager, SSM,
//! EventBridge, CloudWatch Logs, Step Functions): `POST /` with
//! `X-Amz-Target: <targetPrefix>.<Operation>` and the input as JSON.

use serde_json::{Map as JsonMap, Value as Json};

use super::values::{timestamp, timestamp_out};
use super::{Context, HttpRequest, HttpResponse, ServiceError};
use crate::model::{Model, Operation, Shape};
use crate::Error;

pub fn request(model: &Model, operation: &Operation, input: &Json) -> Result<HttpRequest, Error> {
    let context = Context {
        operation: operation.name,
    };
    let body = match operation.input {
        Some(shape) => to_wire(context, shape, input, "$")?,
        None => Json::Object(JsonMap::new()),
    };
    Ok(HttpRequest {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![
            (
                "content-type".into(),
                format!("application/x-amz-json-{}", model.json_version),
            ),
            (
                "x-amz-target".into(),
                format!("{}.{}", model.target_prefix, operation.name),
            ),
        ],
        body: body.to_string().into_bytes(),
    })
}

pub fn response(operation: &Operation, response: &HttpResponse) -> Result<Json, Error> {
    let Some(shape) = operation.output else {
        return Ok(Json::Object(JsonMap::new()));
    };
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::Object(JsonMap::new()));
    }
    let wire: Json = serde_json::from_slice(&response.body).map_err(|e| Error::BadResponse {
        operation: operation.name.into(),
        status: response.status,
        reason: format!("not JSON: {e}"),
    })?;
    Ok(from_wire(shape, &wire))
}

/// The code of a JSON error: `__type` (or `code`) without its namespace
/// (`com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException`),
/// or the `x-amzn-ErrorType` header.
pub fn error(response: &HttpResponse) -> Option<ServiceError> {
    let body: Json = serde_json::from_slice(&response.body).unwrap_or(Json::Null);
    let code = response
        .header("x-amzn-errortype")
        .map(str::to_string)
        .or_else(|| {
            ["__type", "code", "Code"]
                .iter()
                .find_map(|key| body.get(*key).and_then(Json::as_str).map(str::to_string))
        })?;
    let code = code.split(':').next().unwrap_or_default();
    let code = code.rsplit('#').next().unwrap_or_default().to_string();
    let message = ["message", "Message", "errorMessage"]
        .iter()
        .find_map(|key| body.get(*key).and_then(Json::as_str))
        .unwrap_or_default()
        .to_string();
    Some(ServiceError { code, message })
}

/// A Task's parameters (PascalCase) as the JSON the service reads.
pub(crate) fn to_wire(
    context: Context,
    shape: Shape,
    value: &Json,
    path: &str,
) -> Result<Json, Error> {
    match shape.kind() {
        "structure" => {
            let Json::Object(fields) = value else {
                return Err(context.wrong_type(path, "an object", value));
            };
            let mut wire = JsonMap::new();
            for (key, field) in fields {
                let member = shape.member(key).ok_or_else(|| Error::UnknownParameter {
                    operation: context.operation.into(),
                    path: format!("{path}.{key}"),
                    shape: shape.name.into(),
                    members: shape.member_names(),
                })?;
                let inner = format!("{path}.{key}");
                wire.insert(
                    member.wire_name().to_string(),
                    to_wire(context, member.shape, field, &inner)?,
                );
            }
            Ok(Json::Object(wire))
        }
        "list" => {
            let Json::Array(items) = value else {
                return Err(context.wrong_type(path, "an array", value));
            };
            let Some(member) = shape.list_member() else {
                return Ok(value.clone());
            };
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_wire(context, member.shape, item, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array)
        }
        "map" => {
            let Json::Object(entries) = value else {
                return Err(context.wrong_type(path, "an object", value));
            };
            let Some(member) = shape.map_value() else {
                return Ok(value.clone());
            };
            let mut wire = JsonMap::new();
            for (key, entry) in entries {
                let inner = format!("{path}.{key}");
                wire.insert(key.clone(), to_wire(context, member.shape, entry, &inner)?);
            }
            Ok(Json::Object(wire))
        }
        "timestamp" => match timestamp(value) {
            Some(date) => Ok(Json::from(date.unix_timestamp_nanos() as f64 / 1e9)),
            None => Err(context.wrong_type(path, "a timestamp (ISO 8601 or epoch seconds)", value)),
        },
        "string" | "blob" => match value {
            Json::String(_) => Ok(value.clone()),
            // An object for a string member is sent as its JSON text, as a
            // message body usually is.
            Json::Object(_) | Json::Array(_) => Ok(Json::String(value.to_string())),
            other => Ok(Json::String(super::values::scalar_text(other))),
        },
        "integer" | "long" | "short" | "byte" | "float" | "double" => match value {
            Json::Number(_) => Ok(value.clone()),
            Json::String(text) => text
                .parse::<serde_json::Number>()
                .map(Json::Number)
                .map_err(|_| context.wrong_type(path, "a number", value)),
            _ => Err(context.wrong_type(path, "a number", value)),
        },
        "boolean" => match value {
            Json::Bool(_) => Ok(value.clone()),
            _ => Err(context.wrong_type(path, "a boolean", value)),
        },
        _ => Ok(value.clone()),
    }
}

/// A service's JSON answer as Step Functions returns it: member names in
/// PascalCase, map keys untouched, timestamps in ISO 8601.
pub(crate) fn from_wire(shape: Shape, value: &Json) -> Json {
    match (shape.kind(), value) {
        ("structure", Json::Object(fields)) => {
            let mut out = JsonMap::new();
            for member in shape.members() {
                if let Some(field) = fields.get(member.wire_name()) {
                    out.insert(member.output_name(), from_wire(member.shape, field));
                }
            }
            Json::Object(out)
        }
        ("list", Json::Array(items)) => match shape.list_member() {
            Some(member) => Json::Array(
                items
                    .iter()
                    .map(|item| from_wire(member.shape, item))
                    .collect(),
            ),
            None => value.clone(),
        },
        ("map", Json::Object(entries)) => match shape.map_value() {
            Some(member) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), from_wire(member.shape, v)))
                    .collect(),
            ),
            None => value.clone(),
        },
        ("timestamp", _) => timestamp_out(value),
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Service;
    use serde_json::json;

    fn model(name: &str) -> std::sync::Arc<Model> {
        Model::of(Service::named(name).expect("known")).expect("reads")
    }

    #[test]
    fn pascal_parameters_become_the_services_json() {
        let ecs = model("ecs");
        let run = ecs.operation("runTask").expect("runTask");
        let built = request(
            &ecs,
            &run,
            &json!({ "Cluster": "c1", "TaskDefinition": "td:1", "Count": 1,
                     "Overrides": { "ContainerOverrides": [{ "Name": "app", "Environment": [{ "Name": "K", "Value": "v" }] }] } }),
        )
        .expect("builds");
        assert!(built.headers.contains(&(
            "x-amz-target".into(),
            "AmazonEC2ContainerServiceV20141113.RunTask".into()
        )));
        assert!(built
            .headers
            .contains(&("content-type".into(), "application/x-amz-json-1.1".into())));
        let body: Json = serde_json::from_slice(&built.body).expect("json");
        assert_eq!(
            body,
            json!({ "cluster": "c1", "taskDefinition": "td:1", "count": 1,
                    "overrides": { "containerOverrides": [{ "name": "app", "environment": [{ "name": "K", "value": "v" }] }] } })
        );
        let Err(Error::UnknownParameter { path, .. }) =
            request(&ecs, &run, &json!({ "Clusterr": "c1" }))
        else {
            panic!("expected UnknownParameter");
        };
        assert_eq!(path, "$.Clusterr");
    }

    #[test]
    fn answers_become_pascal_case_with_map_keys_kept() {
        let dynamodb = model("dynamodb");
        let get = dynamodb.operation("getItem").expect("getItem");
        let answer = HttpResponse {
            status: 200,
            headers: vec![],
            body: br#"{"Item":{"id":{"S":"a"},"count":{"N":"2"}}}"#.to_vec(),
        };
        assert_eq!(
            response(&get, &answer).expect("reads"),
            json!({ "Item": { "id": { "S": "a" }, "count": { "N": "2" } } })
        );
        let ecs = model("ecs");
        let describe = ecs.operation("describeClusters").expect("describeClusters");
        let answer = HttpResponse {
            status: 200,
            headers: vec![],
            body: br#"{"clusters":[{"clusterName":"c1","tags":[{"key":"k","value":"v"}]}],"failures":[]}"#.to_vec(),
        };
        assert_eq!(
            response(&describe, &answer).expect("reads"),
            json!({ "Clusters": [{ "ClusterName": "c1", "Tags": [{ "Key": "k", "Value": "v" }] }], "Failures": [] })
        );
    }

    #[test]
    fn error_codes_lose_their_namespace() {
        let answer = HttpResponse {
            status: 400,
            headers: vec![],
            body: br#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#.to_vec(),
        };
        assert_eq!(
            error(&answer),
            Some(ServiceError {
                code: "ConditionalCheckFailedException".into(),
                message: "The conditional request failed".into()
            })
        );
    }
}
