//! The task invokers the server offers: the HTTP Task, the AWS service
//! integrations (`windlass-aws`: `aws-sdk:*` and the optimized ones), and
//! callbacks on the service integrations windlass does not carry out itself.

use std::sync::Arc;

use serde_json::Value as Json;
use windlass_asl::Failure;
use windlass_engine::TaskRequest;
use windlass_runtime::http::{HttpInvoker, RESOURCE as HTTP_RESOURCE};
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::{Invoker, Invokers};

/// AWS service integrations (`arn:aws:states:::<service>:<action>`) that
/// windlass does not call. A `.waitForTaskToken` task on one of them still
/// works as a callback: it waits for SendTaskSuccess/Failure with the token,
/// which the task's input and its TaskScheduled event carry. Any other call
/// fails with `States.TaskFailed` naming the resource.
pub struct CallbackOnly;

impl Invoker for CallbackOnly {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let result = if request.token.is_some() {
            Ok(Json::Null)
        } else {
            Err(Failure::new(
                "States.TaskFailed",
                format!(
                    "windlass server does not call '{}'; use an activity, the HTTP Task, or .waitForTaskToken and SendTaskSuccess",
                    request.resource
                ),
            ))
        };
        Box::pin(async move { result })
    }
}

/// The invokers a server runs tasks with; AWS is called as the SDKs'
/// configuration in the environment says (credentials, region,
/// `AWS_ENDPOINT_URL`).
pub fn invokers() -> Invokers {
    invokers_with(windlass_aws::Config::from_env())
}

/// The invokers a server runs tasks with, calling AWS with `aws`.
pub fn invokers_with(aws: windlass_aws::Config) -> Invokers {
    let mut invokers = Invokers::new();
    invokers.register(HTTP_RESOURCE, Arc::new(HttpInvoker::default()));
    invokers.register("arn:aws:states:::", Arc::new(CallbackOnly));
    windlass_aws::register(&mut invokers, aws);
    invokers
}
