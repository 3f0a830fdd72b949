//! The ECS target's AWS calls against moto (`moto[server]`), a real local
//! server over HTTP: the deploy definition's request shapes (moto's ECS
//! accepts them but runs no task, so the rollout times out and is rolled
//! back), ECR's repository and token, and the errors of the AWS side, each
//! naming the call, the resource and what to do. Throttling is answered by
//! a loopback server of the test's own, to see the retries and the message.

#[path = "../../aws/tests/support/mod.rs"]
mod aws_support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_support::Moto;
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use windlass_aws::model::Model;
use windlass_aws::{Client, Config, Credentials, Service};
use windlass_deploy::target::ecs::definition::{self, Rollout, Strategy, FAILED, ROLLBACK_FAILED};
use windlass_deploy::target::ecs::error::Error;
use windlass_deploy::target::ecs::registry;
use windlass_engine::{Outcome, Status};

fn model(name: &str) -> Arc<Model> {
    Model::of(Service::named(name).expect("a known service")).expect("its model")
}

fn rollout(cluster: &str) -> Rollout {
    Rollout {
        cluster: cluster.into(),
        service: "web".into(),
        desired_count: 1,
        launch_type: Some("EC2".into()),
        capacity_provider_strategy: None,
        network_configuration: None,
        health_checked: false,
        poll_seconds: 1,
        max_polls: 2,
        watch_polls: 1,
        alarms: vec!["web-5xx".into()],
        strategy: Strategy::Rolling,
        lifecycle_hooks: vec![],
        stop_first: false,
        before_switch: vec![],
        after_switch: vec![],
        probe: None,
    }
}

fn task_definition(version: &str) -> Json {
    json!({ "Family": "web", "NetworkMode": "bridge", "ContainerDefinitions": [{
        "Name": "web", "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:aa", "Memory": 128, "Essential": true,
        "PortMappings": [{ "ContainerPort": 8080, "HostPort": 0, "Protocol": "tcp" }],
        "Environment": [{ "Name": "VERSION", "Value": version }],
        "LogConfiguration": { "LogDriver": "awslogs", "Options": { "awslogs-group": "/windlass/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web" } } }] })
}

fn failed(outcome: &(Status, Outcome)) -> (String, String) {
    match outcome {
        (Status::Failed, Outcome::Error { error, cause }) => (error.clone(), cause.clone()),
        other => panic!("expected a failed execution, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_definition_calls_ecs_with_shapes_moto_accepts() {
    let moto = Moto::start();
    let client = Client::new(moto.config());
    let ecs = model("ecs");
    client
        .call(
            &ecs,
            "createCluster",
            &json!({ "ClusterName": "shop" }),
            None,
        )
        .await
        .expect("createCluster");
    let definition = definition::deploy(&rollout("shop"));

    // A first deploy: registered, created with the circuit breaker; moto
    // runs no task, so it is never healthy and is scaled to zero.
    let first = aws_support::run(
        moto.config(),
        &definition,
        json!({ "taskDefinition": task_definition("v1") }),
    )
    .await;
    let (error, cause) = failed(&first);
    assert_eq!(error, FAILED, "{cause}");
    assert!(
        cause.contains("did not have 1 healthy task(s) after 2 looks"),
        "{cause}"
    );
    let described = client
        .call(
            &ecs,
            "describeServices",
            &json!({ "Cluster": "shop", "Services": ["web"] }),
            None,
        )
        .await
        .expect("describeServices");
    let service = &described["Services"][0];
    assert_eq!(
        service["TaskDefinition"],
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
    );
    assert_eq!(service["DesiredCount"], 0);
    // moto does not echo the deployment configuration (the circuit
    // breaker); tests/ecs_fakecloud.rs reads it back from fakecloud.
    assert_eq!(
        service["Deployments"][0]["TaskDefinition"],
        service["TaskDefinition"]
    );
    let registered = client
        .call(
            &ecs,
            "describeTaskDefinition",
            &json!({ "TaskDefinition": "web:1" }),
            None,
        )
        .await
        .expect("describeTaskDefinition");
    assert_eq!(
        registered["TaskDefinition"]["ContainerDefinitions"][0]["Environment"],
        json!([{ "Name": "VERSION", "Value": "v1" }])
    );
    assert_eq!(
        registered["TaskDefinition"]["ContainerDefinitions"][0]["LogConfiguration"]["LogDriver"],
        "awslogs"
    );

    // A second deploy updates the service and, failing the same way, puts
    // it back on revision 1 (whose tasks moto never runs either).
    let second = aws_support::run(
        moto.config(),
        &definition,
        json!({ "taskDefinition": task_definition("v2") }),
    )
    .await;
    let (error, cause) = failed(&second);
    assert_eq!(error, ROLLBACK_FAILED, "{cause}");
    let described = client
        .call(
            &ecs,
            "describeServices",
            &json!({ "Cluster": "shop", "Services": ["web"] }),
            None,
        )
        .await
        .expect("describeServices");
    assert_eq!(
        described["Services"][0]["TaskDefinition"],
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
    );

    // A missing cluster fails before anything changed, naming the error.
    let missing = aws_support::run(
        moto.config(),
        &definition::deploy(&rollout("nope")),
        json!({ "taskDefinition": task_definition("v3") }),
    )
    .await;
    let (error, cause) = failed(&missing);
    assert_eq!(error, FAILED);
    assert!(cause.contains("ClusterNotFound"), "{cause}");
}

/// A rollout's CANARY and LINEAR deployment configurations reach moto in
/// CreateService, UpdateService and the rollback's UpdateService without
/// being refused (the rollback's as blue/green: all the traffic back at
/// once), and moto (5.2.6) gives back the last UpdateService's in
/// DescribeServices (after the first deploy, CreateService then a scale
/// to zero, it shows none). moto shifts no traffic and runs no task, so each
/// execution fails on the health of its tasks, not on a call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_and_linear_deployment_configurations_are_taken_by_moto() {
    let moto = Moto::start();
    let client = Client::new(moto.config());
    let ecs = model("ecs");
    client
        .call(
            &ecs,
            "createCluster",
            &json!({ "ClusterName": "shop" }),
            None,
        )
        .await
        .expect("createCluster");
    let canary = Rollout {
        strategy: Strategy::Canary {
            percent: 10,
            canary_bake_minutes: 2,
            bake_minutes: 5,
        },
        ..rollout("shop")
    };
    let first = aws_support::run(
        moto.config(),
        &definition::deploy(&canary),
        json!({ "taskDefinition": task_definition("v1") }),
    )
    .await;
    let (error, cause) = failed(&first);
    assert_eq!(error, FAILED, "{cause}");
    assert!(
        cause.contains("did not have 1 healthy task(s) after 2 looks"),
        "CreateService taken: {cause}"
    );
    let linear = Rollout {
        strategy: Strategy::Linear {
            step_percent: 20,
            step_bake_minutes: 1,
            bake_minutes: 5,
        },
        ..rollout("shop")
    };
    let second = aws_support::run(
        moto.config(),
        &definition::deploy(&linear),
        json!({ "taskDefinition": task_definition("v2") }),
    )
    .await;
    let (error, cause) = failed(&second);
    assert_eq!(error, ROLLBACK_FAILED, "{cause}");
    assert!(
        cause.contains("whose tasks did not become healthy in time"),
        "UpdateService and the rollback's UpdateService taken: {cause}"
    );
    let described = client
        .call(
            &ecs,
            "describeServices",
            &json!({ "Cluster": "shop", "Services": ["web"] }),
            None,
        )
        .await
        .expect("describeServices");
    let service = &described["Services"][0];
    assert_eq!(
        service["TaskDefinition"],
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
    );
    // The rollback's UpdateService goes back to revision 1 all at once.
    assert_eq!(
        service["DeploymentConfiguration"],
        json!({ "Strategy": "BLUE_GREEN", "BakeTimeInMinutes": 5,
            "Alarms": { "AlarmNames": ["web-5xx"], "Enable": true, "Rollback": true } })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_repositories_are_made_when_missing_and_tokens_decoded() {
    let moto = Moto::start();
    let client = Client::new(moto.config());
    let uri = registry::repository(&client, "web").await.expect("created");
    assert!(uri.ends_with("/web"), "{uri}");
    assert_eq!(
        registry::repository(&client, "web").await.expect("found"),
        uri
    );
    let auth = registry::credentials(&client, &uri).await.expect("a token");
    assert_eq!(auth.username, "AWS");
    assert!(!auth.password.is_empty());
    assert_eq!(auth.server, uri.split('/').next().expect("a host"));
    // A name ECR refuses: the repository cannot be created.
    let bad = registry::repository(&client, "Not A Name!")
        .await
        .expect_err("refused");
    let message = bad.to_string();
    assert!(
        message.starts_with("ecr:CreateRepository on repository Not A Name! failed"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_errors_name_the_call_the_resource_and_what_to_do() {
    // No credentials.
    let moto = Moto::start();
    let anonymous = Client::new(Config {
        credentials: None,
        ..moto.config()
    });
    let message = registry::repository(&anonymous, "web")
        .await
        .expect_err("no keys")
        .to_string();
    assert!(
        message.contains("ecr:DescribeRepositories on repository web failed"),
        "{message}"
    );
    assert!(message.contains("AWS_ACCESS_KEY_ID"), "{message}");

    // Nothing answers at the endpoint (a wrong region's endpoint, a typo).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let nowhere = Client::new(Config::local(
        &format!("http://127.0.0.1:{closed}"),
        "eu-nowhere-1",
        keys("testing"),
    ));
    let message = registry::credentials(&nowhere, "1.dkr.ecr.eu-nowhere-1.amazonaws.com/web")
        .await
        .expect_err("no server")
        .to_string();
    assert!(
        message.contains(
            "ecr:GetAuthorizationToken on registry 1.dkr.ecr.eu-nowhere-1.amazonaws.com failed"
        ),
        "{message}"
    );
    assert!(message.contains("AWS_REGION"), "{message}");

    // Access denied: moto enforcing IAM, a user allowed to describe only.
    drop(moto);
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let admin = Client::new(moto.config());
    let iam = model("iam");
    admin
        .call(&iam, "createUser", &json!({ "UserName": "deployer" }), None)
        .await
        .expect("createUser");
    let policy = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "ecr:DescribeRepositories", "Resource": "*" }] });
    admin.call(&iam, "putUserPolicy", &json!({ "UserName": "deployer", "PolicyName": "describe", "PolicyDocument": policy.to_string() }), None).await.expect("putUserPolicy");
    let key = admin
        .call(
            &iam,
            "createAccessKey",
            &json!({ "UserName": "deployer" }),
            None,
        )
        .await
        .expect("createAccessKey");
    let deployer = Client::new(Config::local(
        &moto.endpoint,
        "us-east-1",
        Credentials {
            access_key_id: key["AccessKey"]["AccessKeyId"]
                .as_str()
                .expect("a key id")
                .into(),
            secret_access_key: key["AccessKey"]["SecretAccessKey"]
                .as_str()
                .expect("a secret")
                .into(),
            session_token: None,
        },
    ));
    let denied = registry::repository(&deployer, "web")
        .await
        .expect_err("denied");
    let message = denied.to_string();
    assert!(
        message.contains("ecr:CreateRepository on repository web failed"),
        "{message}"
    );
    assert!(
        message.contains("allow ecr:CreateRepository on repository web"),
        "{message}"
    );
}

fn keys(id: &str) -> Credentials {
    Credentials {
        access_key_id: id.into(),
        secret_access_key: "testing".into(),
        session_token: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_with_backoff_then_named() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("address").port();
    let seen = Arc::new(AtomicU32::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let _ = socket.read(&mut buffer).await;
                let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
                let answer = format!("HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    let client = Client::new(Config::local(
        &format!("http://127.0.0.1:{port}"),
        "us-east-1",
        keys("testing"),
    ));
    let error = registry::credentials(&client, "1.dkr.ecr.us-east-1.amazonaws.com/web")
        .await
        .expect_err("throttled");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "the SDKs' standard mode tries 3 times"
    );
    let message = error.to_string();
    assert!(
        message.contains(
            "ecr:GetAuthorizationToken on registry 1.dkr.ecr.us-east-1.amazonaws.com failed"
        ),
        "{message}"
    );
    assert!(message.contains("Rate exceeded"), "{message}");
    assert!(
        message.contains("retries with backoff ran out"),
        "{message}"
    );
    assert!(matches!(error, Error::Aws { .. }));
}
