//! Task states of a `windlass server` that call the Step Functions API of
//! that same server over HTTP, signed with SigV4 and checked by it:
//! `states:startExecution` with `.sync`, `.sync:2` and
//! `.waitForTaskToken` (the child answers with `aws-sdk:sfn:sendTaskSuccess`),
//! an `aws-sdk:sfn` error caught by its Step Functions name, and TestState
//! of an unmocked Task, which calls the service for real.

use std::sync::Arc;

use serde_json::{json, Value as Json};
use windlass_aws::model::Model;
use windlass_aws::{Client, Credentials, Service};
use windlass_engine::{Outcome, Status};
use windlass_runtime::SystemClock;
use windlass_server::sigv4::AccessKey;
use windlass_server::{app, Config, Server};
use windlass_store::memory::MemoryStore;

const ROLE: &str = "arn:aws:iam::123456789012:role/r";

fn keys() -> Credentials {
    Credentials {
        access_key_id: "AKIDWINDLASSTEST".into(),
        secret_access_key: "not-so-secret".into(),
        session_token: None,
    }
}

/// A server on a free loopback port whose AWS integrations call itself,
/// and a client of it.
async fn serve() -> (Arc<Server>, Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let aws = windlass_aws::Config::local(&endpoint, "us-east-1", keys());
    let server = Arc::new(Server::new(
        Arc::new(MemoryStore::new()),
        windlass_server::integrations::invokers_with(aws.clone()),
        Arc::new(SystemClock),
        Config {
            access_keys: vec![AccessKey {
                id: keys().access_key_id,
                secret: keys().secret_access_key,
            }],
            ..Config::default()
        },
    ));
    let router = app(server.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (server, Client::new(aws))
}

async fn sfn(client: &Client, action: &str, input: Json) -> Json {
    let model = Model::of(Service::named("sfn").expect("sfn")).expect("model");
    client
        .call(&model, action, &input, None)
        .await
        .unwrap_or_else(|e| panic!("{action} failed: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_execution_sync_and_callbacks_against_windlass_itself() {
    let (server, client) = serve().await;
    let child = json!({ "StartAt": "Reply", "States": {
        "Reply": { "Type": "Choice", "Choices": [{ "Variable": "$.token", "IsPresent": true, "Next": "Callback" }], "Default": "Double" },
        "Double": { "Type": "Pass", "Parameters": { "doubled.$": "States.MathAdd($.n, $.n)" }, "End": true },
        "Callback": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:sendTaskSuccess",
            "Parameters": { "TaskToken.$": "$.token", "Output.$": "States.JsonToString($.answer)" }, "End": true } } });
    let child_arn = sfn(
        &client,
        "createStateMachine",
        json!({ "Name": "child", "RoleArn": ROLE, "Definition": child.to_string() }),
    )
    .await["StateMachineArn"]
        .as_str()
        .expect("an ARN")
        .to_string();
    let parent = json!({ "StartAt": "Sync2", "States": {
        "Sync2": { "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
            "Parameters": { "StateMachineArn": child_arn, "Name": "sync2", "Input": { "n.$": "$.n" } },
            "ResultSelector": { "output.$": "$.Output", "status.$": "$.Status" }, "ResultPath": "$.sync2", "Next": "Sync" },
        "Sync": { "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync",
            "Parameters": { "StateMachineArn": child_arn, "Name": "sync", "Input": { "n": 5 } },
            "ResultSelector": { "output.$": "$.Output" }, "ResultPath": "$.sync", "Next": "Callback" },
        "Callback": { "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.waitForTaskToken",
            "Parameters": { "StateMachineArn": child_arn, "Name": "callback",
                "Input": { "token.$": "$$.Task.Token", "answer": { "called": "back" } } },
            "ResultPath": "$.callback", "Next": "Missing" },
        "Missing": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:describeStateMachine",
            "Parameters": { "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:absent" },
            "Catch": [{ "ErrorEquals": ["Sfn.StateMachineDoesNotExistException"], "ResultPath": "$.missing", "Next": "Done" }],
            "End": true },
        "Done": { "Type": "Succeed" } } });
    let parent_arn = sfn(
        &client,
        "createStateMachine",
        json!({ "Name": "parent", "RoleArn": ROLE, "Definition": parent.to_string() }),
    )
    .await["StateMachineArn"]
        .as_str()
        .expect("an ARN")
        .to_string();
    let started = sfn(
        &client,
        "startExecution",
        json!({ "StateMachineArn": parent_arn, "Name": "p1", "Input": "{\"n\":21}" }),
    )
    .await;
    let arn = started["ExecutionArn"].as_str().expect("an execution ARN");
    let finished = server.runtime.wait(arn).await.expect("the parent ends");
    let (Status::Succeeded, Some(Outcome::Output(out))) =
        (finished.status, finished.outcome.clone())
    else {
        panic!(
            "the parent ended {:?}: {:?}",
            finished.status, finished.outcome
        );
    };
    assert_eq!(
        out["sync2"],
        json!({ "output": { "doubled": 42 }, "status": "SUCCEEDED" })
    );
    assert_eq!(out["sync"]["output"], json!("{\"doubled\":10}"));
    assert_eq!(out["callback"], json!({ "called": "back" }));
    assert_eq!(
        out["missing"]["Error"],
        "Sfn.StateMachineDoesNotExistException"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_state_of_an_unmocked_task_calls_the_service() {
    let (_server, client) = serve().await;
    sfn(&client, "createActivity", json!({ "Name": "listed" })).await;
    let task = json!({ "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:listActivities",
        "Parameters": {}, "ResultSelector": { "names.$": "$.Activities[*].Name" }, "End": true });
    let tested = sfn(
        &client,
        "testState",
        json!({ "Definition": task.to_string(), "RoleArn": ROLE, "Input": "{}" }),
    )
    .await;
    assert_eq!(tested["Status"], "SUCCEEDED", "{tested}");
    assert_eq!(
        serde_json::from_str::<Json>(tested["Output"].as_str().expect("an output")).ok(),
        Some(json!({ "names": ["listed"] }))
    );
    let failing = json!({ "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:describeActivity",
        "Parameters": { "ActivityArn": "arn:aws:states:us-east-1:123456789012:activity:absent" }, "End": true });
    let tested = sfn(
        &client,
        "testState",
        json!({ "Definition": failing.to_string(), "RoleArn": ROLE }),
    )
    .await;
    assert_eq!(tested["Status"], "FAILED", "{tested}");
    assert_eq!(tested["Error"], "Sfn.ActivityDoesNotExistException");
}
