//! The AWS SDK integrations: `arn:aws:states:::aws-sdk:SERVICE:ACTION`
//! (and `.waitForTaskToken`) call the action the service's model names with
//! the Task's PascalCase parameters.

use serde_json::Value as Json;
use windlass_asl::Failure;
use windlass_engine::TaskRequest;
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::Invoker;

use crate::client::Client;
use crate::config::Credentials;
use crate::model::Model;
use crate::services::Service;
use crate::Error;

/// The prefix of the resources this invoker serves.
pub const RESOURCE: &str = "arn:aws:states:::aws-sdk:";

/// The service and action a resource names.
#[derive(Debug, Clone, PartialEq)]
pub struct SdkResource {
    pub service: Service,
    pub action: String,
}

impl SdkResource {
    /// Reads `arn:aws:states:::aws-sdk:dynamodb:putItem[.waitForTaskToken]`
    /// and checks that the service and action exist.
    pub fn parse(resource: &str) -> Result<SdkResource, Error> {
        let not_sdk = || Error::NotSdkResource {
            resource: resource.into(),
        };
        let rest = resource.strip_prefix(RESOURCE).ok_or_else(not_sdk)?;
        let (service, action) = rest.split_once(':').ok_or_else(not_sdk)?;
        let action = action
            .strip_suffix(".waitForTaskToken")
            .unwrap_or(action)
            .to_string();
        let service = Service::named(service).ok_or_else(|| Error::UnknownService {
            resource: resource.into(),
            service: service.into(),
            known: Service::names().join(", "),
        })?;
        Model::of(service)?.operation(&action)?;
        Ok(SdkResource { service, action })
    }
}

/// Calls AWS for `aws-sdk:` Task states.
pub struct SdkInvoker {
    client: Client,
}

impl SdkInvoker {
    pub fn new(client: Client) -> Self {
        SdkInvoker { client }
    }
}

impl Invoker for SdkInvoker {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let client = self.client.clone();
        Box::pin(async move {
            let resource = SdkResource::parse(&request.resource).map_err(Error::into_failure)?;
            let credentials = assumed(&client, request.credentials.as_ref())
                .await
                .map_err(Error::into_failure)?;
            let model = Model::of(resource.service).map_err(Error::into_failure)?;
            client
                .call(
                    &model,
                    &resource.action,
                    &request.input,
                    credentials.as_ref(),
                )
                .await
                .map_err(Error::into_failure)
        })
    }
}

/// The Task's `Credentials.RoleArn`, assumed through STS, if it has one.
pub(crate) async fn assumed(
    client: &Client,
    credentials: Option<&Json>,
) -> Result<Option<Credentials>, Error> {
    let Some(role) = credentials
        .and_then(|c| c.get("RoleArn"))
        .and_then(Json::as_str)
    else {
        return Ok(None);
    };
    let sts = Model::of(Service::named("sts").ok_or(Error::NoCredentials)?)?;
    let answer = client
        .call(
            &sts,
            "assumeRole",
            &serde_json::json!({ "RoleArn": role, "RoleSessionName": "windlass" }),
            None,
        )
        .await?;
    let text = |key: &str| {
        answer
            .pointer(&format!("/Credentials/{key}"))
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    match (text("AccessKeyId"), text("SecretAccessKey")) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(Credentials {
            access_key_id,
            secret_access_key,
            session_token: text("SessionToken"),
        })),
        _ => Err(Error::BadResponse {
            operation: "AssumeRole".into(),
            status: 200,
            reason: format!("no credentials in the answer for {role}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_name_a_known_service_and_action() {
        let parsed =
            SdkResource::parse("arn:aws:states:::aws-sdk:dynamodb:putItem.waitForTaskToken")
                .expect("parses");
        assert_eq!(parsed.service.name, "dynamodb");
        assert_eq!(parsed.action, "putItem");
        assert!(matches!(
            SdkResource::parse("arn:aws:states:::aws-sdk:nope:putItem"),
            Err(Error::UnknownService { .. })
        ));
        let Err(Error::UnknownAction { actions, .. }) =
            SdkResource::parse("arn:aws:states:::aws-sdk:sqs:sendMesage")
        else {
            panic!("expected UnknownAction");
        };
        assert!(actions.contains("sendMessage"));
    }
}
