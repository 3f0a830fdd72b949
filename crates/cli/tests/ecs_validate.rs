//! What ECS would refuse is refused before anything is done, with what to
//! add: `windlass validate --target ecs` (and a service's
//! `x-windlass.target: ecs`) reports a FARGATE task in awsvpc mode without
//! `networkConfiguration` and without an execution role, each with its
//! file and line; `deploy --target ecs` refuses the same before it asks
//! AWS anything; an unknown `x-windlass.target` is refused with its line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn folder(case: &str, compose: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(case);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("folder");
    std::fs::write(dir.join("compose.yaml"), compose).expect("compose.yaml");
    dir
}

fn windlass(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(dir)
        .env("WINDLASS_STATE", dir.join("state"))
        // Nowhere to call: a refusal must come before any AWS call.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("windlass runs")
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const FARGATE: &str = "name: shop
services:
  web:
    image: registry.example/web:1
    ports: [\"8080:8080\"]
    x-windlass:
      ecs: { cluster: demo }
";

#[test]
fn validate_and_deploy_refuse_what_ecs_would_with_what_to_add() {
    let dir = folder("ecs-validate", FARGATE);
    let checked = windlass(&dir, &["validate", "--target", "ecs", "compose.yaml"]);
    let text = said(&checked);
    assert_eq!(checked.status.code(), Some(1), "{text}");
    assert!(
        text.contains("compose.yaml:7:7: services.web.x-windlass.ecs.networkConfiguration"),
        "{text}"
    );
    assert!(text.contains("awsvpcConfiguration: { subnets:"), "{text}");
    assert!(
        text.contains("services.web.x-windlass.ecs.executionRoleArn"),
        "{text}"
    );
    assert!(text.contains("ecsTaskExecutionRole"), "{text}");

    // The same file without --target is a valid Docker project.
    let docker = windlass(&dir, &["validate", "compose.yaml"]);
    assert_eq!(docker.status.code(), Some(0), "{}", said(&docker));

    let deploy = windlass(&dir, &["deploy", "--target", "ecs"]);
    let text = said(&deploy);
    assert_eq!(deploy.status.code(), Some(1), "{text}");
    assert!(text.contains("networkConfiguration"), "{text}");
    assert!(
        !text.contains("127.0.0.1:9"),
        "refused before any call: {text}"
    );

    // Filled in, it is valid for ECS.
    let filled = FARGATE.replace(
        "ecs: { cluster: demo }",
        "ecs: { cluster: demo, executionRoleArn: \"arn:aws:iam::123456789012:role/ecsTaskExecutionRole\", \
         networkConfiguration: { awsvpcConfiguration: { subnets: [subnet-1] } } }",
    );
    std::fs::write(dir.join("compose.yaml"), filled).expect("write");
    let checked = windlass(&dir, &["validate", "--target", "ecs", "compose.yaml"]);
    assert_eq!(checked.status.code(), Some(0), "{}", said(&checked));
}

/// A rollout is ECS's canary or linear strategy; what only windlass's
/// proxy can do of it is refused at its line by `validate` and `deploy`.
#[test]
fn what_ecs_cannot_do_of_a_rollout_is_refused_at_its_line() {
    let ecs = "ecs: { cluster: demo, executionRoleArn: \"arn:aws:iam::123456789012:role/ecsTaskExecutionRole\", \
         networkConfiguration: { awsvpcConfiguration: { subnets: [subnet-1] } } }\n      rollout:\n        step: 20\n        sticky: { cookie: release }\n        analysis:\n          min_requests: 50";
    let dir = folder(
        "ecs-rollout",
        &FARGATE.replace("ecs: { cluster: demo }", ecs),
    );
    let checked = windlass(&dir, &["validate", "--target", "ecs", "compose.yaml"]);
    let text = said(&checked);
    assert_eq!(checked.status.code(), Some(1), "{text}");
    assert!(
        text.contains("compose.yaml:10:9: services.web.x-windlass.rollout.sticky"),
        "{text}"
    );
    assert!(
        text.contains("compose.yaml:12:11: services.web.x-windlass.rollout.analysis.min_requests"),
        "{text}"
    );
    assert!(text.contains("CloudWatch alarms"), "{text}");

    let deploy = windlass(&dir, &["deploy", "--target", "ecs"]);
    let text = said(&deploy);
    assert_eq!(deploy.status.code(), Some(1), "{text}");
    assert!(
        text.contains("compose.yaml:10:9: services.web.x-windlass.rollout.sticky"),
        "{text}"
    );
    assert!(
        !text.contains("127.0.0.1:9"),
        "refused before any call: {text}"
    );

    // --canary holds a release at a gate ECS does not have.
    let held = windlass(&dir, &["deploy", "--target", "ecs", "--canary", "20"]);
    let text = said(&held);
    assert_eq!(held.status.code(), Some(1), "{text}");
    assert!(
        text.contains("x-windlass.rollout: { weight: 20 }"),
        "{text}"
    );

    // Without them, the rollout is ECS's linear strategy: valid.
    let linear = FARGATE.replace("ecs: { cluster: demo }", ecs).replace(
        "        sticky: { cookie: release }\n        analysis:\n          min_requests: 50",
        "        interval: 2m",
    );
    std::fs::write(dir.join("compose.yaml"), linear).expect("write");
    let checked = windlass(&dir, &["validate", "--target", "ecs", "compose.yaml"]);
    assert_eq!(checked.status.code(), Some(0), "{}", said(&checked));
}

#[test]
fn an_unknown_target_is_refused_with_its_line() {
    let dir = folder(
        "ecs-unknown-target",
        &FARGATE.replace("ecs: { cluster: demo }", "target: kubernetes"),
    );
    let checked = windlass(&dir, &["validate", "compose.yaml"]);
    let text = said(&checked);
    assert_eq!(checked.status.code(), Some(1), "{text}");
    assert!(
        text.contains("compose.yaml:7:7: services.web.x-windlass.target"),
        "{text}"
    );
    assert!(
        text.contains("unknown variant `kubernetes`") && text.contains("`ecs`"),
        "{text}"
    );
    let deploy = windlass(&dir, &["deploy", "--dry-run"]);
    assert_ne!(deploy.status.code(), Some(0), "{}", said(&deploy));
    let flag = windlass(&dir, &["deploy", "--target", "ecss"]);
    assert_eq!(flag.status.code(), Some(2), "{}", said(&flag));
}
