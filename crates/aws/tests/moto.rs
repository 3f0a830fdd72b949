//! Task states that call AWS services, run through windlass's durable
//! runtime against a real moto server this test starts: each protocol
//! (JSON, Query, REST-XML), the optimized integrations, and error names as
//! Step Functions gives them to Catch.

mod support;

use serde_json::{json, Value as Json};
use support::{output, Moto};

const SDK: &str = "arn:aws:states:::aws-sdk:";

/// A definition running `steps` in order; each is (resource, parameters),
/// its result kept at `$.<state name>`. A step may carry a `Catch` of
/// every error into `$.<state name>`, so the test can read its name.
fn chain(steps: &[(&str, &str, Json)]) -> Json {
    let mut states = serde_json::Map::new();
    for (i, (name, resource, parameters)) in steps.iter().enumerate() {
        let resource = if resource.starts_with("arn:") {
            resource.to_string()
        } else {
            format!("{SDK}{resource}")
        };
        let mut state = json!({
            "Type": "Task",
            "Resource": resource,
            "Parameters": parameters,
            "ResultPath": format!("$.{name}"),
            "Catch": [{ "ErrorEquals": ["States.ALL"], "ResultPath": format!("$.{name}"), "Next": steps.get(i + 1).map_or("Done", |s| s.0) }],
        });
        match steps.get(i + 1) {
            Some((next, _, _)) => state["Next"] = json!(next),
            None => state["Next"] = json!("Done"),
        }
        states.insert(name.to_string(), state);
    }
    states.insert("Done".into(), json!({ "Type": "Succeed" }));
    json!({ "StartAt": steps[0].0, "States": states })
}

/// The `Error` a caught step recorded.
fn caught(output: &Json, state: &str) -> String {
    output[state]["Error"]
        .as_str()
        .unwrap_or_else(|| panic!("{state} did not fail: {}", output[state]))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_json_protocol_and_conditional_errors() {
    let moto = Moto::start();
    let definition = chain(&[
        (
            "Create",
            "dynamodb:createTable",
            json!({
            "TableName": "orders",
            "KeySchema": [{ "AttributeName": "id", "KeyType": "HASH" }],
            "AttributeDefinitions": [{ "AttributeName": "id", "AttributeType": "S" }],
            "BillingMode": "PAY_PER_REQUEST" }),
        ),
        (
            "Put",
            "arn:aws:states:::dynamodb:putItem",
            json!({
            "TableName": "orders", "Item": { "id": { "S.$": "$.id" }, "qty": { "N": "2" }, "tags": { "SS": ["a", "b"] } } }),
        ),
        (
            "PutAgainSdk",
            "dynamodb:putItem",
            json!({
            "TableName": "orders", "Item": { "id": { "S.$": "$.id" } },
            "ConditionExpression": "attribute_not_exists(id)" }),
        ),
        (
            "PutAgainOptimized",
            "arn:aws:states:::dynamodb:putItem",
            json!({
            "TableName": "orders", "Item": { "id": { "S.$": "$.id" } },
            "ConditionExpression": "attribute_not_exists(id)" }),
        ),
        (
            "Update",
            "arn:aws:states:::dynamodb:updateItem",
            json!({
            "TableName": "orders", "Key": { "id": { "S.$": "$.id" } },
            "UpdateExpression": "SET qty = qty + :one",
            "ExpressionAttributeValues": { ":one": { "N": "1" } },
            "ReturnValues": "UPDATED_NEW" }),
        ),
        (
            "Get",
            "arn:aws:states:::dynamodb:getItem",
            json!({
            "TableName": "orders", "Key": { "id": { "S.$": "$.id" } } }),
        ),
        (
            "Delete",
            "arn:aws:states:::dynamodb:deleteItem",
            json!({
            "TableName": "orders", "Key": { "id": { "S.$": "$.id" } } }),
        ),
        ("Scan", "dynamodb:scan", json!({ "TableName": "orders" })),
        (
            "Missing",
            "dynamodb:describeTable",
            json!({ "TableName": "nope" }),
        ),
    ]);
    let out = output(moto.config(), &definition, json!({ "id": "o-1" })).await;
    assert_eq!(out["Create"]["TableDescription"]["TableName"], "orders");
    assert_eq!(
        caught(&out, "PutAgainSdk"),
        "DynamoDb.ConditionalCheckFailedException"
    );
    assert_eq!(
        caught(&out, "PutAgainOptimized"),
        "DynamoDB.ConditionalCheckFailedException"
    );
    assert_eq!(out["Update"]["Attributes"]["qty"], json!({ "N": "3" }));
    assert_eq!(out["Get"]["Item"]["id"], json!({ "S": "o-1" }));
    assert_eq!(out["Get"]["SdkHttpMetadata"]["HttpStatusCode"], 200);
    assert!(
        out["Get"]["SdkResponseMetadata"]["RequestId"].is_string(),
        "{}",
        out["Get"]
    );
    assert_eq!(out["Get"]["Item"]["tags"]["SS"], json!(["a", "b"]));
    assert_eq!(out["Scan"]["Count"], 0);
    assert_eq!(
        caught(&out, "Missing"),
        "DynamoDb.ResourceNotFoundException"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_sns_and_eventbridge() {
    let moto = Moto::start();
    let definition = chain(&[
        ("Queue", "sqs:createQueue", json!({ "QueueName": "jobs" })),
        (
            "Send",
            "arn:aws:states:::sqs:sendMessage",
            json!({
            "QueueUrl.$": "$.Queue.QueueUrl", "MessageBody": { "job.$": "$.job" } }),
        ),
        (
            "Receive",
            "sqs:receiveMessage",
            json!({ "QueueUrl.$": "$.Queue.QueueUrl", "MaxNumberOfMessages": 1 }),
        ),
        (
            "NoQueue",
            "sqs:getQueueUrl",
            json!({ "QueueName": "absent" }),
        ),
        (
            "Topic",
            "sns:createTopic",
            json!({ "Name": "news", "Tags": [{ "Key": "team", "Value": "ops" }] }),
        ),
        (
            "Subscribe",
            "sns:subscribe",
            json!({ "TopicArn.$": "$.Topic.TopicArn", "Protocol": "sqs",
            "Endpoint": "arn:aws:sqs:us-east-1:123456789012:jobs" }),
        ),
        (
            "Publish",
            "arn:aws:states:::sns:publish",
            json!({
            "TopicArn.$": "$.Topic.TopicArn", "Message": { "hello": "world" },
            "MessageAttributes": { "kind": { "DataType": "String", "StringValue": "greeting" } } }),
        ),
        ("Topics", "sns:listTopics", json!({})),
        (
            "NoTopic",
            "sns:getTopicAttributes",
            json!({ "TopicArn": "arn:aws:sns:us-east-1:123456789012:absent" }),
        ),
        (
            "Bus",
            "eventbridge:createEventBus",
            json!({ "Name": "orders" }),
        ),
        (
            "Events",
            "arn:aws:states:::events:putEvents",
            json!({
            "Entries": [{ "EventBusName": "orders", "Source": "windlass.test", "DetailType": "Order", "Detail": { "id": 1 } }] }),
        ),
        ("Buses", "eventbridge:listEventBuses", json!({})),
    ]);
    let out = output(moto.config(), &definition, json!({ "job": "build" })).await;
    assert!(out["Send"]["MessageId"].is_string(), "{}", out["Send"]);
    let body = out["Receive"]["Messages"][0]["Body"]
        .as_str()
        .expect("a message body");
    assert_eq!(
        serde_json::from_str::<Json>(body).ok(),
        Some(json!({ "job": "build" }))
    );
    assert_eq!(caught(&out, "NoQueue"), "Sqs.QueueDoesNotExistException");
    assert!(
        out["Subscribe"]["SubscriptionArn"].is_string(),
        "{}",
        out["Subscribe"]
    );
    assert!(
        out["Publish"]["MessageId"].is_string(),
        "{}",
        out["Publish"]
    );
    assert_eq!(
        out["Topics"]["Topics"][0]["TopicArn"],
        out["Topic"]["TopicArn"]
    );
    assert_eq!(caught(&out, "NoTopic"), "Sns.NotFoundException");
    assert_eq!(out["Events"]["FailedEntryCount"], 0);
    assert!(
        out["Events"]["Entries"][0]["EventId"].is_string(),
        "{}",
        out["Events"]
    );
    let buses: Vec<&str> = out["Buses"]["EventBuses"]
        .as_array()
        .expect("buses")
        .iter()
        .filter_map(|b| b["Name"].as_str())
        .collect();
    assert!(buses.contains(&"orders"), "{buses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_rest_xml_secrets_manager_and_ssm() {
    let moto = Moto::start();
    let definition = chain(&[
        ("Bucket", "s3:createBucket", json!({ "Bucket": "reports" })),
        (
            "Put",
            "s3:putObject",
            json!({ "Bucket": "reports", "Key": "daily/1 st.txt", "Body": "hello, s3", "ContentType": "text/plain",
            "Metadata": { "owner": "windlass" } }),
        ),
        (
            "Get",
            "s3:getObject",
            json!({ "Bucket": "reports", "Key": "daily/1 st.txt" }),
        ),
        (
            "List",
            "s3:listObjectsV2",
            json!({ "Bucket": "reports", "Prefix": "daily/" }),
        ),
        (
            "NoKey",
            "s3:getObject",
            json!({ "Bucket": "reports", "Key": "absent" }),
        ),
        (
            "NoBucket",
            "s3:listObjectsV2",
            json!({ "Bucket": "absent-bucket" }),
        ),
        (
            "Secret",
            "secretsmanager:createSecret",
            json!({ "Name": "db", "SecretString": "s3cr3t" }),
        ),
        (
            "Value",
            "secretsmanager:getSecretValue",
            json!({ "SecretId": "db" }),
        ),
        (
            "NoSecret",
            "secretsmanager:getSecretValue",
            json!({ "SecretId": "absent" }),
        ),
        (
            "Param",
            "ssm:putParameter",
            json!({ "Name": "/app/mode", "Value": "fast", "Type": "String" }),
        ),
        (
            "ParamValue",
            "ssm:getParameter",
            json!({ "Name": "/app/mode" }),
        ),
        ("NoParam", "ssm:getParameter", json!({ "Name": "/absent" })),
    ]);
    let out = output(moto.config(), &definition, json!({})).await;
    assert!(out["Put"]["ETag"].is_string(), "{}", out["Put"]);
    assert_eq!(out["Get"]["Body"], "hello, s3");
    assert_eq!(out["Get"]["ContentType"], "text/plain");
    assert_eq!(out["Get"]["Metadata"], json!({ "owner": "windlass" }));
    assert_eq!(out["Get"]["ContentLength"], 9);
    assert_eq!(out["List"]["KeyCount"], 1);
    assert_eq!(out["List"]["Contents"][0]["Key"], "daily/1 st.txt");
    assert_eq!(out["List"]["Contents"][0]["Size"], 9);
    assert_eq!(caught(&out, "NoKey"), "S3.NoSuchKeyException");
    assert_eq!(caught(&out, "NoBucket"), "S3.NoSuchBucketException");
    assert_eq!(out["Value"]["SecretString"], "s3cr3t");
    assert_eq!(
        caught(&out, "NoSecret"),
        "SecretsManager.ResourceNotFoundException"
    );
    assert_eq!(out["ParamValue"]["Parameter"]["Value"], "fast");
    assert_eq!(caught(&out, "NoParam"), "Ssm.ParameterNotFoundException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_iam_and_cloudformation_query_protocol() {
    let moto = Moto::start();
    let trust = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
        "Principal": { "Service": "states.amazonaws.com" }, "Action": "sts:AssumeRole" }] });
    let template = json!({ "Resources": { "Q": { "Type": "AWS::SQS::Queue", "Properties": { "QueueName": "from-cfn" } } } });
    let definition = chain(&[
        ("Who", "sts:getCallerIdentity", json!({})),
        (
            "Role",
            "iam:createRole",
            json!({ "RoleName": "runner", "AssumeRolePolicyDocument": trust.to_string(),
            "Tags": [{ "Key": "team", "Value": "ops" }] }),
        ),
        ("GetRole", "iam:getRole", json!({ "RoleName": "runner" })),
        ("Roles", "iam:listRoles", json!({})),
        ("NoRole", "iam:getRole", json!({ "RoleName": "absent" })),
        (
            "Stack",
            "cloudformation:createStack",
            json!({ "StackName": "s1", "TemplateBody": template.to_string() }),
        ),
        (
            "Stacks",
            "cloudformation:describeStacks",
            json!({ "StackName": "s1" }),
        ),
        (
            "NoStack",
            "cloudformation:describeStacks",
            json!({ "StackName": "absent" }),
        ),
    ]);
    let mut definition = definition;
    // Credentials.RoleArn: the Task runs as that role, assumed through STS.
    definition["States"]["AsRole"] = json!({ "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sts:getCallerIdentity",
        "Credentials": { "RoleArn": "arn:aws:iam::123456789012:role/runner" }, "Parameters": {}, "ResultPath": "$.AsRole", "Next": "Done" });
    definition["States"]["NoStack"]["Next"] = json!("AsRole");
    definition["States"]["NoStack"]["Catch"][0]["Next"] = json!("AsRole");
    let out = output(moto.config(), &definition, json!({})).await;
    assert_eq!(
        out["AsRole"]["Arn"],
        "arn:aws:sts::123456789012:assumed-role/runner/windlass"
    );
    assert_eq!(out["Who"]["Account"], "123456789012");
    assert!(
        out["Who"]["Arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:")),
        "{}",
        out["Who"]
    );
    assert_eq!(out["Role"]["Role"]["RoleName"], "runner");
    assert_eq!(
        out["GetRole"]["Role"]["Tags"],
        json!([{ "Key": "team", "Value": "ops" }])
    );
    assert!(
        out["GetRole"]["Role"]["CreateDate"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z')),
        "{}",
        out["GetRole"]
    );
    assert_eq!(out["Roles"]["Roles"][0]["RoleName"], "runner");
    assert_eq!(caught(&out, "NoRole"), "Iam.NoSuchEntityException");
    assert!(out["Stack"]["StackId"].is_string(), "{}", out["Stack"]);
    assert_eq!(out["Stacks"]["Stacks"][0]["StackName"], "s1");
    assert_eq!(
        caught(&out, "NoStack"),
        "CloudFormation.CloudFormationException"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_ecr_logs_cloudwatch_and_step_functions() {
    let moto = Moto::start();
    let definition = chain(&[
        (
            "Cluster",
            "ecs:createCluster",
            json!({ "ClusterName": "apps" }),
        ),
        (
            "TaskDefinition",
            "ecs:registerTaskDefinition",
            json!({
            "Family": "web", "NetworkMode": "bridge",
            "ContainerDefinitions": [{ "Name": "web", "Image": "nginx", "Essential": true, "Memory": 512, "Cpu": 256,
                "Environment": [{ "Name": "MODE", "Value": "fast" }] }] }),
        ),
        ("Families", "ecs:listTaskDefinitionFamilies", json!({})),
        (
            "NoCluster",
            "ecs:describeServices",
            json!({ "Cluster": "absent", "Services": ["x"] }),
        ),
        (
            "Repo",
            "ecr:createRepository",
            json!({ "RepositoryName": "web" }),
        ),
        ("Repos", "ecr:describeRepositories", json!({})),
        (
            "NoRepo",
            "ecr:describeRepositories",
            json!({ "RepositoryNames": ["absent"] }),
        ),
        (
            "Group",
            "cloudwatchlogs:createLogGroup",
            json!({ "LogGroupName": "/windlass/test" }),
        ),
        (
            "Groups",
            "cloudwatchlogs:describeLogGroups",
            json!({ "LogGroupNamePrefix": "/windlass" }),
        ),
        (
            "Metric",
            "cloudwatch:putMetricData",
            json!({ "Namespace": "Windlass",
            "MetricData": [{ "MetricName": "Runs", "Value": 1, "Unit": "Count" }] }),
        ),
        (
            "Metrics",
            "cloudwatch:listMetrics",
            json!({ "Namespace": "Windlass" }),
        ),
        ("Machines", "sfn:listStateMachines", json!({})),
        (
            "NoMachine",
            "sfn:describeStateMachine",
            json!({ "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:absent" }),
        ),
    ]);
    let out = output(moto.config(), &definition, json!({})).await;
    assert_eq!(out["Cluster"]["Cluster"]["ClusterName"], "apps");
    assert_eq!(
        out["TaskDefinition"]["TaskDefinition"]["ContainerDefinitions"][0]["Environment"],
        json!([{ "Name": "MODE", "Value": "fast" }])
    );
    assert_eq!(out["Families"]["Families"], json!(["web"]));
    assert_eq!(caught(&out, "NoCluster"), "Ecs.ClusterNotFoundException");
    assert_eq!(out["Repos"]["Repositories"][0]["RepositoryName"], "web");
    assert_eq!(caught(&out, "NoRepo"), "Ecr.RepositoryNotFoundException");
    assert_eq!(
        out["Groups"]["LogGroups"][0]["LogGroupName"],
        "/windlass/test"
    );
    assert_eq!(out["Metrics"]["Metrics"][0]["MetricName"], "Runs");
    assert_eq!(out["Machines"]["StateMachines"], json!([]));
    assert_eq!(
        caught(&out, "NoMachine"),
        "Sfn.StateMachineDoesNotExistException"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_send_message_wait_for_task_token_ends_with_the_callback() {
    let moto = Moto::start();
    let client = windlass_aws::Client::new(moto.config());
    let sqs = windlass_aws::model::Model::of(windlass_aws::Service::named("sqs").expect("sqs"))
        .expect("model");
    let queue = client
        .call(
            &sqs,
            "createQueue",
            &json!({ "QueueName": "callbacks" }),
            None,
        )
        .await
        .expect("createQueue");
    let url = queue["QueueUrl"].as_str().expect("a queue URL").to_string();
    let definition = json!({ "StartAt": "Ask", "States": { "Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": { "QueueUrl": url, "MessageBody": { "token.$": "$$.Task.Token", "job.$": "$.job" } },
        "End": true } } });
    let (runtime, arn) = support::start(moto.config(), &definition, json!({ "job": 7 })).await;
    // The worker: a long poll of the queue, as a real consumer would do.
    let received = client
        .call(
            &sqs,
            "receiveMessage",
            &json!({ "QueueUrl": url, "WaitTimeSeconds": 20, "MaxNumberOfMessages": 1 }),
            None,
        )
        .await
        .expect("receiveMessage");
    let body: Json =
        serde_json::from_str(received["Messages"][0]["Body"].as_str().expect("a message"))
            .expect("the body is the JSON the Task sent");
    assert_eq!(body["job"], 7);
    let token = body["token"].as_str().expect("the task token");
    runtime
        .send_task_success(token, json!({ "done": 7 }))
        .await
        .expect("the token is accepted");
    let (status, outcome) = support::finish(&runtime, &arn).await;
    assert_eq!(status, windlass_engine::Status::Succeeded);
    assert_eq!(
        outcome,
        windlass_engine::Outcome::Output(json!({ "done": 7 }))
    );
}
