//! `windlass server`, the real binary, whose Task states call AWS services
//! on a moto server this test starts (`AWS_ENDPOINT_URL` in the server's
//! environment, no region: the server's own): an EXPRESS machine run with
//! StartSyncExecution writes to DynamoDB, reads it back and sends to SQS.

mod server;

#[path = "../../aws/tests/support/mod.rs"]
mod aws_support;

use serde_json::{json, Value as Json};
use server::{temp_dir, Server, KEY_ID, SECRET};
use windlass_aws::model::Model;
use windlass_aws::{Client, Credentials, Service};

async fn call(client: &Client, service: &str, action: &str, input: Json) -> Json {
    let model = Model::of(Service::named(service).expect("known")).expect("model");
    client
        .call(&model, action, &input, None)
        .await
        .unwrap_or_else(|e| panic!("{service}:{action} failed: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_tasks_call_dynamodb_and_sqs_on_moto() {
    let moto = aws_support::Moto::start();
    let dir = temp_dir("aws");
    let server = Server::launch_env(
        &dir,
        "127.0.0.1:0",
        &[],
        &[
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    );
    let aws = Client::new(moto.config());
    call(
        &aws,
        "dynamodb",
        "createTable",
        json!({ "TableName": "orders", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{ "AttributeName": "id", "KeyType": "HASH" }],
        "AttributeDefinitions": [{ "AttributeName": "id", "AttributeType": "S" }] }),
    )
    .await;
    let queue = call(&aws, "sqs", "createQueue", json!({ "QueueName": "orders" })).await;
    let queue_url = queue["QueueUrl"].as_str().expect("a queue URL").to_string();

    let sfn = Client::new(windlass_aws::Config::local(
        &server.url,
        "us-east-1",
        Credentials {
            access_key_id: KEY_ID.into(),
            secret_access_key: SECRET.into(),
            session_token: None,
        },
    ));
    let definition = json!({ "StartAt": "Save", "States": {
        "Save": { "Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": { "TableName": "orders", "Item": { "id": { "S.$": "$.id" } } }, "ResultPath": null, "Next": "Read" },
        "Read": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
            "Parameters": { "TableName": "orders", "Key": { "id": { "S.$": "$.id" } } },
            "ResultSelector": { "id.$": "$.Item.id.S" }, "ResultPath": "$.read", "Next": "Notify" },
        "Notify": { "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": { "QueueUrl": queue_url, "MessageBody.$": "$.read" },
            "ResultSelector": { "messageId.$": "$.MessageId" }, "ResultPath": "$.notify", "End": true } } });
    let created = call(
        &sfn,
        "sfn",
        "createStateMachine",
        json!({ "Name": "orders", "Type": "EXPRESS",
        "RoleArn": "arn:aws:iam::123456789012:role/r", "Definition": definition.to_string() }),
    )
    .await;
    let ran = call(
        &sfn,
        "sfn",
        "startSyncExecution",
        json!({
        "StateMachineArn": created["StateMachineArn"], "Input": "{\"id\":\"o-9\"}" }),
    )
    .await;
    assert_eq!(ran["Status"], "SUCCEEDED", "{ran}");
    let output: Json =
        serde_json::from_str(ran["Output"].as_str().expect("an output")).expect("JSON output");
    assert_eq!(output["read"], json!({ "id": "o-9" }));
    assert!(output["notify"]["messageId"].is_string(), "{output}");
    let received = call(
        &aws,
        "sqs",
        "receiveMessage",
        json!({ "QueueUrl": queue_url, "WaitTimeSeconds": 5 }),
    )
    .await;
    assert_eq!(received["Messages"][0]["Body"], "{\"id\":\"o-9\"}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
