//! `windlass server` driven by the AWS SDK for Rust (aws-sdk-sfn) over
//! signed plain-HTTP requests. Behind the `aws-sdk-tests` feature so the SDK
//! does not slow the default build:
//! `cargo test -p windlass --features aws-sdk-tests --test server_sdk`.

mod server;

use std::time::Duration;

use aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sfn::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_sfn::error::BoxError;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType, StateMachineType};
use aws_sdk_sfn::Client;
use server::{temp_dir, Server, KEY_ID, SECRET};

const ROLE: &str = "arn:aws:iam::123456789012:role/windlass";

/// StartSyncExecution puts `sync-` before the endpoint's host, as AWS's
/// endpoints want; `sync-127.0.0.1` resolves nowhere, so it is taken off
/// again before the request is signed.
#[derive(Debug)]
struct LocalSyncEndpoint;

impl Intercept for LocalSyncEndpoint {
    fn name(&self) -> &'static str {
        "LocalSyncEndpoint"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if let Some(uri) = request
            .uri()
            .strip_prefix("http://sync-")
            .map(str::to_string)
        {
            request.set_uri(format!("http://{uri}"))?;
        }
        Ok(())
    }
}

fn client(url: &str) -> Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(
            KEY_ID,
            SECRET,
            None,
            None,
            "windlass-test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .interceptor(LocalSyncEndpoint)
        .build();
    Client::from_conf(config)
}

async fn finished(
    sfn: &Client,
    arn: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    for _ in 0..600 {
        let described = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .expect("describe");
        if described.status != ExecutionStatus::Running {
            return described;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{arn} still running after 12 s");
}

fn definition(activity: &str) -> String {
    serde_json::json!({
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 0, "Next": "Each"}], "Default": "Nope"},
            "Nope": {"Type": "Fail", "Error": "Too.Small"},
            "Each": {
                "Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.mapped",
                "ItemProcessor": {"StartAt": "Inc", "States": {"Inc": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, 1)"}, "End": true}}},
                "Next": "Work"
            },
            "Work": {"Type": "Task", "Resource": activity, "ResultPath": "$.worked", "Next": "Hold"},
            "Hold": {"Type": "Wait", "Seconds": 0, "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sdk_for_rust_drives_the_server() {
    let dir = temp_dir("sdk");
    let server = Server::start(&dir);
    let sfn = client(&server.url);

    let activity = sfn
        .create_activity()
        .name("sdk-activity")
        .send()
        .await
        .expect("create activity")
        .activity_arn;
    let created = sfn
        .create_state_machine()
        .name("Sdk")
        .role_arn(ROLE)
        .definition(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#)
        .send()
        .await
        .expect("create machine");
    let machine = created.state_machine_arn;
    let updated = sfn
        .update_state_machine()
        .state_machine_arn(&machine)
        .definition(definition(&activity))
        .publish(true)
        .send()
        .await
        .expect("update and publish");
    assert_eq!(
        updated.state_machine_version_arn.as_deref(),
        Some(format!("{machine}:1").as_str())
    );

    let started = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name("sdk-1")
        .input(r#"{"n":3,"items":[1,2]}"#)
        .send()
        .await
        .expect("start");
    let worker = {
        let sfn = sfn.clone();
        let activity = activity.clone();
        tokio::spawn(async move {
            let task = sfn
                .get_activity_task()
                .activity_arn(activity)
                .worker_name("sdk-worker")
                .send()
                .await
                .expect("task");
            let token = task.task_token.expect("a task came");
            sfn.send_task_heartbeat()
                .task_token(&token)
                .send()
                .await
                .expect("heartbeat");
            sfn.send_task_success()
                .task_token(&token)
                .output(r#"{"ok":true}"#)
                .send()
                .await
                .expect("success");
        })
    };
    worker.await.expect("the worker answered");
    let done = finished(&sfn, &started.execution_arn).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let output: serde_json::Value =
        serde_json::from_str(done.output.as_deref().unwrap_or("null")).expect("output");
    assert_eq!(output["mapped"], serde_json::json!([{"v": 2}, {"v": 3}]));
    assert_eq!(output["worked"], serde_json::json!({"ok": true}));

    // History in pages of 3, joined by the SDK's paginator.
    let pages: Vec<_> = sfn
        .get_execution_history()
        .execution_arn(&started.execution_arn)
        .max_results(3)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("history");
    let events: Vec<_> = pages.iter().flat_map(|p| p.events.iter()).collect();
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert!(
        pages.len() > 3 && ids == (1..=ids.len() as i64).collect::<Vec<_>>(),
        "{ids:?}"
    );
    for wanted in [
        HistoryEventType::MapStateEntered,
        HistoryEventType::ActivitySucceeded,
        HistoryEventType::ExecutionSucceeded,
    ] {
        assert!(
            events.iter().any(|e| e.r#type == wanted),
            "no {wanted:?} in the history"
        );
    }

    let failing = sfn
        .start_execution()
        .state_machine_arn(format!("{machine}:1"))
        .name("sdk-small")
        .input(r#"{"n":0}"#)
        .send()
        .await
        .expect("start version");
    let failed = finished(&sfn, &failing.execution_arn).await;
    assert_eq!(
        (failed.status, failed.error.as_deref()),
        (ExecutionStatus::Failed, Some("Too.Small"))
    );

    let stopping = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name("sdk-stop")
        .input(r#"{"n":1,"items":[]}"#)
        .send()
        .await
        .expect("start");
    sfn.stop_execution()
        .execution_arn(&stopping.execution_arn)
        .error("Sdk.Stop")
        .send()
        .await
        .expect("stop");
    let stopped = finished(&sfn, &stopping.execution_arn).await;
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    let aborted = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .status_filter(ExecutionStatus::Aborted)
        .send()
        .await
        .expect("list");
    assert_eq!(
        aborted
            .executions
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["sdk-stop"]
    );

    let express = sfn
        .create_state_machine()
        .name("SdkQuick")
        .r#type(StateMachineType::Express)
        .role_arn(ROLE)
        .definition(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"twice.$":"States.MathAdd($.x, $.x)"},"End":true}}}"#)
        .send()
        .await
        .expect("create express");
    let synced = sfn
        .start_sync_execution()
        .state_machine_arn(express.state_machine_arn)
        .input(r#"{"x":21}"#)
        .send()
        .await
        .expect("sync");
    assert_eq!(
        (synced.status.as_str(), synced.output.as_deref()),
        ("SUCCEEDED", Some(r#"{"twice":42}"#))
    );

    let tested = sfn
        .test_state()
        .definition(r#"{"Type":"Pass","Parameters":{"y.$":"$.x"},"Next":"N"}"#)
        .role_arn(ROLE)
        .input(r#"{"x":5}"#)
        .send()
        .await
        .expect("test state");
    assert_eq!(
        (tested.output.as_deref(), tested.next_state.as_deref()),
        (Some(r#"{"y":5}"#), Some("N"))
    );

    let missing = sfn
        .describe_execution()
        .execution_arn(format!("{}-none", started.execution_arn))
        .send()
        .await;
    let missing = missing.expect_err("no such execution").into_service_error();
    assert!(missing.is_execution_does_not_exist(), "{missing:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
