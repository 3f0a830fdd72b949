//! A new user's first ECS deploy, the real binary against fakecloud: an
//! unknown `--target` is refused; without credentials the advice is said
//! once and no release is used up; a missing cluster is named with AWS's
//! error and what to do; `--dry-run` changes nothing on AWS (no ECR
//! repository, no task definition, no service) and prints the plan, later
//! with the task definition's diff; v1 goes live and `releases web`,
//! `status` and an unchanged deploy say what a user needs; a v2 whose
//! container exits is rolled back with a short reason; plain `windlass
//! rollback web` puts an ECS service back without an agent.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

mod ecs_support;

use ecs_support::{releases_json, row, run, text, windlass, write_compose};
use serde_json::{json, Value as Json};
use support::ecs::{compose, version_of, KEY};

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_ecs_deploy_from_nothing_to_live_and_back() {
    let (cloud, dir) = ecs_support::start("ecs-first-run").await;
    let endpoint = cloud.endpoint();
    let client = &cloud.client;
    write_compose(&dir, "v1", false);

    let swarm = run(&dir, &endpoint, &["deploy", "--target", "kubernetes"]);
    assert_eq!(swarm.status.code(), Some(2), "{}", text(&swarm));
    assert!(text(&swarm).contains("possible values: docker, ecs"));

    let no_keys = windlass(&dir, &endpoint, &["deploy", "--target", "ecs"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .output()
        .expect("windlass runs");
    let said = text(&no_keys);
    assert_eq!(no_keys.status.code(), Some(3), "{said}");
    assert_eq!(count(&said, "AWS_ACCESS_KEY_ID"), 1, "said once: {said}");
    assert!(said.contains("no AWS credentials"), "{said}");
    let listed = releases_json(&dir, &endpoint, KEY);
    assert_eq!(listed, json!([]), "no release used up");

    let elsewhere = std::fs::read_to_string(dir.join("compose.yaml"))
        .expect("compose")
        .replace("cluster: windlass", "cluster: nowhere");
    std::fs::write(dir.join("elsewhere.yaml"), elsewhere).expect("write");
    let missing = run(
        &dir,
        &endpoint,
        &["deploy", "--target", "ecs", "-f", "elsewhere.yaml"],
    );
    let said = text(&missing);
    assert_eq!(missing.status.code(), Some(3), "{said}");
    assert!(said.contains("ClusterNotFoundException"), "{said}");
    assert!(
        said.contains("aws ecs create-cluster --cluster-name nowhere"),
        "{said}"
    );
    assert!(!said.contains("States.Runtime"), "{said}");

    let plan = run(&dir, &endpoint, &["deploy", "--target", "ecs", "--dry-run"]);
    let shown = text(&plan);
    assert_eq!(plan.status.code(), Some(0), "{shown}");
    for line in [
        "registered for the first time",
        "\"TESTAPP_VERSION\"",
        "service: CreateService web on cluster windlass",
        "strategy: rolling",
        "rollback: a first deploy that fails is scaled to zero",
        "(created: it does not exist yet)",
    ] {
        assert!(shown.contains(line), "{line}: {shown}");
    }
    assert_nothing_on_aws(&cloud).await;
    assert_eq!(releases_json(&dir, &endpoint, KEY), json!([]));

    let v1 = run(&dir, &endpoint, &["deploy", "--target", "ecs"]);
    assert_eq!(v1.status.code(), Some(0), "{}", text(&v1));
    let rows = releases_json(&dir, &endpoint, "web");
    assert_eq!(row(&rows, "r1")["live"], true, "{rows}");
    let r1 = row(&rows, "r1")["image"].as_str().expect("r1").to_string();

    let status = run(&dir, &endpoint, &["status"]);
    let shown = text(&status);
    assert!(
        shown.contains(":123456789012:service/windlass/web"),
        "the service ARN has its account: {shown}"
    );
    assert!(!shown.contains("until `windlass agent` runs"), "{shown}");

    let again = run(&dir, &endpoint, &["deploy", "--target", "ecs"]);
    let said = text(&again);
    assert_eq!(again.status.code(), Some(0), "{said}");
    assert!(
        said.contains("unchanged since its live release r1"),
        "{said}"
    );
    assert_eq!(
        releases_json(&dir, &endpoint, "web")
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    std::fs::write(
        dir.join("compose.yaml"),
        compose("v2", support::free_port(), true),
    )
    .expect("v2");
    let revisions = task_definitions(&cloud).await;
    let plan = run(&dir, &endpoint, &["deploy", "--target", "ecs", "--dry-run"]);
    let shown = text(&plan);
    assert_eq!(plan.status.code(), Some(0), "{shown}");
    assert!(shown.contains("\"v1\" -> \"v2\""), "{shown}");
    assert!(shown.contains("service: UpdateService web"), "{shown}");
    assert!(
        shown.contains(&format!("UpdateService back to {r1}")),
        "{shown}"
    );
    assert_eq!(task_definitions(&cloud).await, revisions, "none registered");

    let v2 = run(&dir, &endpoint, &["deploy", "--target", "ecs"]);
    assert_eq!(v2.status.code(), Some(6), "{}", text(&v2));
    let rows = releases_json(&dir, &endpoint, "web");
    let detail = row(&rows, "r2")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(detail.contains("stopped during the rollout"), "{detail}");
    assert!(detail.contains("exit codes"), "{detail}");
    assert!(
        detail.len() < 700,
        "the reason, not the whole task: {detail}"
    );

    let v3 = ecs_support::deploy(&dir, &endpoint, "v3", false);
    assert_eq!(v3.status.code(), Some(0), "{}", text(&v3));
    let back = run(&dir, &endpoint, &["rollback", "web"]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));
    assert_eq!(version_of(client, &r1).await, "v1");
    let status = run(&dir, &endpoint, &["status", "--ecs", "web"]);
    let shown = text(&status);
    assert!(
        shown.contains(&format!("tasks of {r1}: RUNNING")),
        "{shown}"
    );
}

/// Nothing the dry run could have made: no ECR repository, no task
/// definition, no service.
async fn assert_nothing_on_aws(cloud: &support::ecs::Cloud) {
    let ecr = windlass_aws::model::Model::of(windlass_aws::Service::named("ecr").expect("ecr"))
        .expect("model");
    let found = cloud
        .client
        .call(
            &ecr,
            "describeRepositories",
            &json!({ "RepositoryNames": ["web"] }),
            None,
        )
        .await;
    assert!(found.is_err(), "no repository: {found:?}");
    assert_eq!(task_definitions(cloud).await, Vec::<Json>::new());
    let services = cloud
        .call(
            "ecs",
            "describeServices",
            json!({ "Cluster": "windlass", "Services": ["web"] }),
        )
        .await;
    let active = services["Services"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["Status"] == "ACTIVE");
    assert!(!active, "no service: {services}");
}

async fn task_definitions(cloud: &support::ecs::Cloud) -> Vec<Json> {
    let listed = cloud.call("ecs", "listTaskDefinitions", json!({})).await;
    listed["TaskDefinitionArns"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
