//! The ECS deploy on AWS itself: `windlass deploy --target ecs
//! --show-definition` passes `windlass validate`; `windlass export
//! --target ecs` writes a template `cfn-lint` finds nothing in, which a
//! local CloudFormation (moto) creates; the state machine the stack made
//! then runs on windlass's own Step Functions API (`windlass server`, whose
//! Task states call moto's ECS), the same document end to end.

mod server;

#[path = "../../aws/tests/support/mod.rs"]
mod aws_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use server::{temp_dir, Server, KEY_ID, SECRET};
use windlass_aws::model::Model;
use windlass_aws::{Client, Credentials, Service};

const COMPOSE: &str = r#"name: shop
services:
  web:
    build: .
    ports: ["8080"]
    environment: { TESTAPP_VERSION: v1 }
    healthcheck: { test: ["CMD", "/app", "probe"], interval: 5s, timeout: 2s, retries: 2 }
    x-windlass:
      watch: 2s
      ecs:
        cluster: windlass
        pollSeconds: 1
        maxPolls: 2
        alarms: [web-5xx]
        executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
        networkConfiguration: { awsvpcConfiguration: { subnets: [subnet-0123456789abcdef0], securityGroups: [sg-0123456789abcdef0], assignPublicIp: ENABLED } }
        lambdaHooks: { afterSwitch: [smoke-test] }
"#;

fn windlass(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(dir)
        .env("WINDLASS_STATE", dir.join("state"))
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("windlass runs")
}

async fn call(client: &Client, service: &str, action: &str, input: Json) -> Json {
    let model = Model::of(Service::named(service).expect("known")).expect("model");
    client
        .call(&model, action, &input, None)
        .await
        .unwrap_or_else(|e| panic!("{service}:{action} failed: {e}"))
}

/// `windlass export --target ecs` of `compose` in `dir`: the template,
/// which cfn-lint (CloudFormation's resource schemas) finds nothing in.
fn export_lint_clean(dir: &Path, compose: &str) -> Json {
    std::fs::write(dir.join("compose.yaml"), compose).expect("compose.yaml");
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
    let exported = windlass(dir, &["export", "--target", "ecs"]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    std::fs::write(dir.join("template.json"), &exported.stdout).expect("template");
    let lint = Command::new("cfn-lint").arg(dir.join("template.json")).output().unwrap_or_else(|e| {
        panic!("cfn-lint could not be run ({e}): install it with `pip install -r requirements-test.txt` (scripts/setup does)")
    });
    assert!(
        lint.status.success(),
        "cfn-lint found: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    serde_json::from_slice(&exported.stdout).expect("a JSON template")
}

/// The actions the exported role's policy allows.
fn actions(template: &Json) -> Vec<&str> {
    template["Resources"]["DeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter_map(|s| s["Action"].as_str())
        .collect()
}

/// Calls `service:action` with `input` every `every` until `done` says the
/// answer is final (within 60 s), and returns that answer.
async fn poll(
    client: &Client,
    (service, action, input): (&str, &str, Json),
    every: Duration,
    done: impl Fn(&Json) -> bool,
) -> Json {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = call(client, service, action, input.clone()).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{service}:{action} is still not done: {answer}"
        );
        tokio::time::sleep(every).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exported_stack_is_lint_clean_creates_on_moto_and_its_state_machine_runs_on_windlass() {
    let dir = temp_dir("ecs-export");
    std::fs::write(dir.join("compose.yaml"), COMPOSE).expect("compose.yaml");
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");

    let shown = windlass(&dir, &["deploy", "--target", "ecs", "--show-definition"]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    std::fs::write(dir.join("deploy.asl.json"), &shown.stdout).expect("definition");
    let validated = windlass(&dir, &["validate", "deploy.asl.json"]);
    assert!(
        validated.status.success(),
        "windlass validate: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    let template = export_lint_clean(&dir, COMPOSE);

    // The role allows exactly what the definition calls.
    let actions = actions(&template);
    for action in [
        "ecs:DescribeServices",
        "ecs:RegisterTaskDefinition",
        "ecs:CreateService",
        "ecs:UpdateService",
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "cloudwatch:DescribeAlarms",
        "lambda:InvokeFunction",
        "iam:PassRole",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    assert_eq!(actions.len(), 9, "{actions:?}");
    let definition_text = template["Resources"]["DeployStateMachine"]["Properties"]
        ["DefinitionString"]
        .as_str()
        .expect("the definition");
    assert_eq!(
        serde_json::from_str::<Json>(definition_text).expect("JSON"),
        serde_json::from_slice::<Json>(&shown.stdout).expect("JSON")
    );

    // moto's CloudFormation creates the stack.
    let moto = aws_support::Moto::start();
    let aws = Client::new(moto.config());
    call(
        &aws,
        "ecs",
        "createCluster",
        json!({ "ClusterName": "windlass" }),
    )
    .await;
    call(&aws, "cloudformation", "createStack", json!({ "StackName": "shop-web", "TemplateBody": template.to_string(), "Capabilities": ["CAPABILITY_IAM"] })).await;
    let described = poll(
        &aws,
        (
            "cloudformation",
            "describeStacks",
            json!({ "StackName": "shop-web" }),
        ),
        Duration::from_millis(200),
        |d| d["Stacks"][0]["StackStatus"] != "CREATE_IN_PROGRESS",
    )
    .await;
    let stack = described["Stacks"][0].clone();
    assert_eq!(stack["StackStatus"], "CREATE_COMPLETE", "{stack}");
    let output = |key: &str| {
        stack["Outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["OutputKey"] == key)
            .and_then(|o| o["OutputValue"].as_str())
            .unwrap_or_else(|| panic!("no output {key}: {stack}"))
            .to_string()
    };
    let machine = call(
        &aws,
        "sfn",
        "describeStateMachine",
        json!({ "StateMachineArn": output("StateMachineArn") }),
    )
    .await;
    let revision = output("TaskDefinitionArn");
    let service = call(
        &aws,
        "ecs",
        "describeServices",
        json!({ "Cluster": "windlass", "Services": ["web"] }),
    )
    .await;
    assert_eq!(
        service["Services"][0]["TaskDefinition"],
        revision.as_str(),
        "{service}"
    );

    // The stack's state machine, as moto stored it, on windlass's API.
    let data = temp_dir("ecs-export-server");
    let server = Server::launch_env(
        &data,
        "127.0.0.1:0",
        &[],
        &[
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let sfn = Client::new(windlass_aws::Config::local(
        &server.url,
        "us-east-1",
        Credentials {
            access_key_id: KEY_ID.into(),
            secret_access_key: SECRET.into(),
            session_token: None,
        },
    ));
    let created = call(&sfn, "sfn", "createStateMachine", json!({ "Name": "windlass-deploy-web", "RoleArn": "arn:aws:iam::123456789012:role/deploy", "Definition": machine["Definition"] })).await;
    let started = call(&sfn, "sfn", "startExecution", json!({ "StateMachineArn": created["StateMachineArn"], "Name": "rollback-to-stack-revision", "Input": json!({ "taskDefinitionArn": revision }).to_string() })).await;
    let ended = poll(
        &sfn,
        (
            "sfn",
            "describeExecution",
            json!({ "ExecutionArn": started["ExecutionArn"] }),
        ),
        Duration::from_millis(250),
        |d| d["Status"] != "RUNNING",
    )
    .await;
    // moto's ECS runs no task: the rollout is never healthy, the service is
    // put back on its revision, which is not healthy either.
    assert_eq!(ended["Status"], "FAILED", "{ended}");
    assert_eq!(ended["Error"], "Deploy.RollbackFailed", "{ended}");
    let history = call(
        &sfn,
        "sfn",
        "getExecutionHistory",
        json!({ "ExecutionArn": started["ExecutionArn"], "MaxResults": 1000 }),
    )
    .await;
    let entered: Vec<&str> = history["Events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["StateEnteredEventDetails"]["Name"].as_str())
        .collect();
    for state in [
        "FindService",
        "GivenRevision",
        "UpdateService",
        "DescribeService",
        "ListRunning",
        "Decide",
        "NotHealthyInTime",
        "RestorePrevious",
        "RollbackNotHealthy",
    ] {
        assert!(
            entered.contains(&state),
            "{state} was not entered: {entered:?}"
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&data);
}

/// With `x-windlass.ecs.probe`, the template makes the EventBridge
/// connection AWS's HTTP Task needs, allows the HTTP call and the
/// connection's credentials, and stays cfn-lint clean.
#[test]
fn an_http_probe_exports_its_connection_and_permissions_lint_clean() {
    let dir = temp_dir("ecs-export-probe");
    let compose = COMPOSE.replace(
        "        lambdaHooks: { afterSwitch: [smoke-test] }\n",
        "        probe: { url: \"https://shop.example.com\", path: /health, failures: 2 }\n",
    );
    let template = export_lint_clean(&dir, &compose);
    let resources = &template["Resources"];
    assert_eq!(
        resources["ProbeConnection"]["Type"],
        "AWS::Events::Connection"
    );
    let machine = &resources["DeployStateMachine"]["Properties"];
    assert_eq!(
        machine["DefinitionSubstitutions"]["ProbeConnectionArn"],
        json!({ "Fn::GetAtt": ["ProbeConnection", "Arn"] })
    );
    let definition: Json =
        serde_json::from_str(machine["DefinitionString"].as_str().expect("text")).expect("JSON");
    assert_eq!(
        definition["States"]["Probe"]["Parameters"]["ApiEndpoint"],
        "https://shop.example.com/health"
    );
    let actions = actions(&template);
    for action in [
        "states:InvokeHTTPEndpoint",
        "events:RetrieveConnectionCredentials",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
}

/// `strategy: blue_green` with Lambda hooks: the exported service carries
/// ECS's blue/green `DeploymentConfiguration` (strategy, bake time, the
/// lifecycle hooks with their role, no circuit breaker), which cfn-lint
/// checks against CloudFormation's `AWS::ECS::Service` schema, and the
/// role may pass the hooks' role to ECS.
#[test]
fn a_blue_green_service_exports_its_lifecycle_hooks_lint_clean() {
    let dir = temp_dir("ecs-export-blue-green");
    let compose = COMPOSE.replace(
        "        lambdaHooks: { afterSwitch: [smoke-test] }\n",
        "        strategy: blue_green\n        bakeTimeMinutes: 3\n        hookRoleArn: arn:aws:iam::123456789012:role/ecs-hooks\n        lambdaHooks: { afterSwitch: [\"arn:aws:lambda:us-east-1:123456789012:function:smoke-test\"] }\n",
    );
    let template = export_lint_clean(&dir, &compose);
    let config = &template["Resources"]["Service"]["Properties"]["DeploymentConfiguration"];
    assert_eq!(config["Strategy"], "BLUE_GREEN", "{config}");
    assert_eq!(config["BakeTimeInMinutes"], 3);
    assert_eq!(
        config["LifecycleHooks"],
        json!([{ "HookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:smoke-test",
            "RoleArn": "arn:aws:iam::123456789012:role/ecs-hooks",
            "LifecycleStages": ["POST_PRODUCTION_TRAFFIC_SHIFT"] }])
    );
    assert!(config.get("DeploymentCircuitBreaker").is_none(), "{config}");
    let definition: Json = serde_json::from_str(
        template["Resources"]["DeployStateMachine"]["Properties"]["DefinitionString"]
            .as_str()
            .expect("text"),
    )
    .expect("JSON");
    assert!(
        !definition.to_string().contains("lambda:invoke"),
        "ECS invokes the hooks, the state machine does not"
    );
    let statements = &template["Resources"]["DeployRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"];
    assert!(
        statements
            .as_array()
            .expect("statements")
            .iter()
            .any(|s| s["Action"] == "iam:PassRole"
                && s["Resource"] == "arn:aws:iam::123456789012:role/ecs-hooks"
                && s["Condition"]["StringEquals"]["iam:PassedToService"] == "ecs.amazonaws.com"),
        "{statements}"
    );
    assert!(!actions(&template).contains(&"lambda:InvokeFunction"));
}

/// A rollout (`step: 25`, baking 2 minutes) with an alarm of its own: the
/// exported service carries ECS's LINEAR `DeploymentConfiguration`, which
/// cfn-lint checks against CloudFormation's `AWS::ECS::Service` schema.
#[test]
fn a_linear_rollout_exports_ecs_linear_strategy_lint_clean() {
    let dir = temp_dir("ecs-export-linear");
    let compose = COMPOSE.replace(
        "        lambdaHooks: { afterSwitch: [smoke-test] }\n",
        "      rollout: { step: 25, interval: 2m, analysis: { alarms: [web-p99] } }\n",
    );
    let template = export_lint_clean(&dir, &compose);
    let config = &template["Resources"]["Service"]["Properties"]["DeploymentConfiguration"];
    assert_eq!(
        config,
        &json!({ "Strategy": "LINEAR", "BakeTimeInMinutes": 5,
            "LinearConfiguration": { "StepPercent": 25.0, "StepBakeTimeInMinutes": 2 },
            "Alarms": { "AlarmNames": ["web-5xx", "web-p99"], "Enable": true, "Rollback": true } })
    );
}
