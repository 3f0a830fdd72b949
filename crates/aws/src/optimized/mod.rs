//! The optimized integrations, with their own request and response shapes:
//! `lambda:invoke`, `sqs:sendMessage`, `sns:publish`,
//! `dynamodb:getItem/putItem/updateItem/deleteItem`, `events:putEvents`,
//! `ecs:runTask` (and `.sync`), `states:startExecution` (and `.sync`,
//! `.sync:2`). Each is the service's SDK action plus what Step Functions
//! adds: payloads as JSON, function errors as task errors, polling until a
//! task or execution ends. A Task whose resource is a function's own ARN
//! (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`, the form Step Functions
//! had before `lambda:invoke`) invokes it with the state's input as the
//! payload and takes the payload it returns as the result.

use serde_json::Value as Json;
use windlass_asl::Failure;
use windlass_engine::TaskRequest;
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::Invoker;

use crate::client::Client;
use crate::model::Model;
use crate::services::Service;
use crate::{sdk, Error};

mod sync;

use sync::{ecs_wait, execution_wait};

/// The resources served, each with or without an integration pattern.
pub const RESOURCES: &[&str] = &[
    "arn:aws:states:::lambda:invoke",
    "arn:aws:states:::sqs:sendMessage",
    "arn:aws:states:::sns:publish",
    "arn:aws:states:::dynamodb:getItem",
    "arn:aws:states:::dynamodb:putItem",
    "arn:aws:states:::dynamodb:updateItem",
    "arn:aws:states:::dynamodb:deleteItem",
    "arn:aws:states:::events:putEvents",
    "arn:aws:states:::ecs:runTask",
    "arn:aws:states:::states:startExecution",
    LAMBDA_FUNCTION,
];

/// The start of a Lambda function's ARN, a Task resource of its own.
const LAMBDA_FUNCTION: &str = "arn:aws:lambda:";

/// One optimized integration, read from a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integration {
    LambdaInvoke,
    /// A function's ARN as the resource: request-response only.
    LambdaFunction,
    SqsSendMessage,
    SnsPublish,
    DynamoDb(&'static str),
    EventsPutEvents,
    EcsRunTask {
        sync: bool,
    },
    StartExecution {
        sync: Sync,
    },
}

/// `states:startExecution.sync` returns the child's output as text,
/// `.sync:2` as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    No,
    Text,
    Json,
}

impl Integration {
    pub fn parse(resource: &str) -> Option<Integration> {
        if resource.starts_with(LAMBDA_FUNCTION) {
            return windlass_engine::is_lambda_function(resource)
                .then_some(Integration::LambdaFunction);
        }
        let rest = resource.strip_prefix("arn:aws:states:::")?;
        let rest = rest.strip_suffix(".waitForTaskToken").unwrap_or(rest);
        let (base, pattern) = match rest.split_once('.') {
            Some((base, pattern)) => (base, Some(pattern)),
            None => (rest, None),
        };
        Some(match (base, pattern) {
            ("lambda:invoke", None) => Integration::LambdaInvoke,
            ("sqs:sendMessage", None) => Integration::SqsSendMessage,
            ("sns:publish", None) => Integration::SnsPublish,
            ("dynamodb:getItem", None) => Integration::DynamoDb("getItem"),
            ("dynamodb:putItem", None) => Integration::DynamoDb("putItem"),
            ("dynamodb:updateItem", None) => Integration::DynamoDb("updateItem"),
            ("dynamodb:deleteItem", None) => Integration::DynamoDb("deleteItem"),
            ("events:putEvents", None) => Integration::EventsPutEvents,
            ("ecs:runTask", None) => Integration::EcsRunTask { sync: false },
            ("ecs:runTask", Some("sync")) => Integration::EcsRunTask { sync: true },
            ("states:startExecution", None) => Integration::StartExecution { sync: Sync::No },
            ("states:startExecution", Some("sync")) => {
                Integration::StartExecution { sync: Sync::Text }
            }
            ("states:startExecution", Some("sync:2")) => {
                Integration::StartExecution { sync: Sync::Json }
            }
            _ => return None,
        })
    }

    /// The service called, the prefix of its errors here (the optimized
    /// integrations name services as their own documentation does), and
    /// the name its AWS SDK for Java 1.x client gives it in error causes.
    fn service(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Integration::LambdaInvoke | Integration::LambdaFunction => {
                ("lambda", "Lambda", "AWSLambda")
            }
            Integration::SqsSendMessage => ("sqs", "SQS", "AmazonSQS"),
            Integration::SnsPublish => ("sns", "SNS", "AmazonSNS"),
            Integration::DynamoDb(_) => ("dynamodb", "DynamoDB", "AmazonDynamoDBv2"),
            Integration::EventsPutEvents => {
                ("eventbridge", "EventBridge", "AmazonCloudWatchEvents")
            }
            Integration::EcsRunTask { .. } => ("ecs", "ECS", "AmazonECS"),
            Integration::StartExecution { .. } => ("sfn", "StepFunctions", "AWSStepFunctions"),
        }
    }
}

pub struct OptimizedInvoker {
    client: Client,
}

impl OptimizedInvoker {
    pub fn new(client: Client) -> Self {
        OptimizedInvoker { client }
    }
}

impl Invoker for OptimizedInvoker {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let client = self.client.clone();
        Box::pin(async move {
            let Some(integration) = Integration::parse(&request.resource) else {
                return Err(Failure::new(
                    "States.TaskFailed",
                    format!("windlass does not call '{}'", request.resource),
                ));
            };
            let (service, prefix, java_service) = integration.service();
            let rename = |error: Error| match &error {
                Error::Service { name, .. } => {
                    // The optimized integrations name the service their way
                    // (`DynamoDB.` where aws-sdk says `DynamoDb.`).
                    let name = format!(
                        "{prefix}.{}",
                        name.split_once('.').map_or(name.as_str(), |(_, n)| n)
                    );
                    error.into_optimized_failure(name, java_service)
                }
                _ => error.into_failure(),
            };
            let credentials = sdk::assumed(&client, request.credentials.as_ref())
                .await
                .map_err(Error::into_failure)?;
            let caller = Caller {
                client: &client,
                service,
                credentials: credentials.as_ref(),
            };
            run(&caller, integration, &request, rename).await
        })
    }
}

/// Calls one service with the Task's credentials.
pub(crate) struct Caller<'a> {
    client: &'a Client,
    service: &'static str,
    credentials: Option<&'a crate::Credentials>,
}

impl Caller<'_> {
    /// Calls `action`; its result carries `SdkHttpMetadata` and
    /// `SdkResponseMetadata`, as the optimized integrations' results do.
    pub(crate) async fn call(&self, action: &str, input: &Json) -> Result<Json, Error> {
        let service = Service::named(self.service).ok_or_else(|| Error::UnknownService {
            resource: self.service.into(),
            service: self.service.into(),
            known: Service::names().join(", "),
        })?;
        let model = Model::of(service)?;
        let (mut result, metadata) = self
            .client
            .call_with_metadata(&model, action, input, self.credentials)
            .await?;
        if let (Json::Object(fields), Json::Object(extra)) = (&mut result, metadata.to_json()) {
            fields.extend(extra);
        }
        Ok(result)
    }
}

async fn run(
    caller: &Caller<'_>,
    integration: Integration,
    request: &TaskRequest,
    rename: impl Fn(Error) -> Failure,
) -> Result<Json, Failure> {
    let input = &request.input;
    match integration {
        Integration::LambdaInvoke => {
            let answer = caller.call("invoke", input).await.map_err(rename)?;
            lambda_result(answer)
        }
        // The state's input is the payload, and the payload returned the result.
        Integration::LambdaFunction => {
            let input = serde_json::json!({ "FunctionName": request.resource, "Payload": input });
            let answer = caller.call("invoke", &input).await.map_err(rename)?;
            lambda_result(answer).map(|mut result| result["Payload"].take())
        }
        Integration::SqsSendMessage => caller.call("sendMessage", input).await.map_err(rename),
        Integration::SnsPublish => caller.call("publish", input).await.map_err(rename),
        Integration::DynamoDb(action) => caller.call(action, input).await.map_err(rename),
        Integration::EventsPutEvents => {
            let answer = caller.call("putEvents", input).await.map_err(rename)?;
            if answer.get("FailedEntryCount").and_then(Json::as_i64) > Some(0) {
                return Err(Failure::new("EventBridge.FailedEntry", answer.to_string()));
            }
            Ok(answer)
        }
        Integration::EcsRunTask { sync } => {
            let answer = caller.call("runTask", input).await.map_err(&rename)?;
            if !sync {
                return Ok(answer);
            }
            ecs_wait(caller, input, answer, rename).await
        }
        Integration::StartExecution { sync } => {
            let answer = caller
                .call("startExecution", input)
                .await
                .map_err(&rename)?;
            if sync == Sync::No {
                return Ok(answer);
            }
            execution_wait(caller, answer, sync, rename).await
        }
    }
}

/// `lambda:invoke`'s result: the payload as JSON; a function error fails
/// the task with the function's `errorType` (`Lambda.Unknown` without one)
/// and the payload as the cause.
fn lambda_result(answer: Json) -> Result<Json, Failure> {
    let text = answer
        .get("Payload")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let payload = serde_json::from_str::<Json>(&text).unwrap_or(Json::String(text.clone()));
    if answer.get("FunctionError").is_some() {
        let error = payload
            .get("errorType")
            .and_then(Json::as_str)
            .unwrap_or("Lambda.Unknown")
            .to_string();
        return Err(Failure::new(error, text));
    }
    let mut result = serde_json::Map::new();
    for key in [
        "ExecutedVersion",
        "LogResult",
        "StatusCode",
        "SdkHttpMetadata",
        "SdkResponseMetadata",
    ] {
        if let Some(value) = answer.get(key) {
            result.insert(key.into(), value.clone());
        }
    }
    result.insert("Payload".into(), payload);
    Ok(Json::Object(result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_name_integrations_and_patterns() {
        for function in [
            "arn:aws:lambda:us-east-1:123456789012:function:echo",
            "arn:aws:lambda:us-east-1:123456789012:function:echo:live",
        ] {
            assert_eq!(
                Integration::parse(function),
                Some(Integration::LambdaFunction)
            );
        }
        for not_a_function in [
            "arn:aws:lambda:us-east-1:123456789012:layer:echo",
            "arn:aws:lambda:us-east-1:123456789012:function:",
        ] {
            assert_eq!(Integration::parse(not_a_function), None);
        }
        assert_eq!(
            Integration::parse("arn:aws:states:::lambda:invoke.waitForTaskToken"),
            Some(Integration::LambdaInvoke)
        );
        assert_eq!(
            Integration::parse("arn:aws:states:::states:startExecution.sync:2"),
            Some(Integration::StartExecution { sync: Sync::Json })
        );
        assert_eq!(
            Integration::parse("arn:aws:states:::ecs:runTask.sync"),
            Some(Integration::EcsRunTask { sync: true })
        );
        assert_eq!(
            Integration::parse("arn:aws:states:::sns:publish.sync"),
            None
        );
    }

    #[test]
    fn lambda_function_errors_fail_the_task() {
        let ok = lambda_result(
            json!({ "StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": "{\"n\":1}" }),
        );
        assert_eq!(
            ok,
            Ok(json!({ "ExecutedVersion": "$LATEST", "Payload": { "n": 1 }, "StatusCode": 200 }))
        );
        let failed = lambda_result(
            json!({ "StatusCode": 200, "FunctionError": "Unhandled", "Payload": "{\"errorType\":\"ValueError\",\"errorMessage\":\"bad\"}" }),
        );
        assert_eq!(failed.map_err(|f| f.error), Err("ValueError".to_string()));
        let failed = lambda_result(
            json!({ "StatusCode": 200, "FunctionError": "Unhandled", "Payload": "oops" }),
        );
        assert_eq!(
            failed.map_err(|f| f.error),
            Err("Lambda.Unknown".to_string())
        );
    }
}
