//! `windlass deploy --target ecs`, `rollback --target ecs`, `releases` and
//! `status --ecs`, the real binary against fakecloud (AWS_ENDPOINT_URL): v1
//! goes live (exit 0), a v2 whose container exits is rolled back (exit 6),
//! and an explicit rollback to r1 after a good v3 puts v1 back, each checked
//! by a request to the running task's published loopback port.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

#[path = "../../aws/tests/support/fakecloud.rs"]
mod fakecloud;

use std::path::Path;
use std::process::{Command, Output};

use fakecloud::Fakecloud;
use serde_json::{json, Value as Json};
use support::ecs::{compose, version_of, with_shell, Containers};
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};

fn windlass(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(dir)
        .env("WINDLASS_STATE", dir.join("state"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("windlass runs")
}

fn deploy(dir: &Path, endpoint: &str, version: &str, crash: bool) -> Output {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    std::fs::write(dir.join("compose.yaml"), compose(version, port, crash)).expect("compose.yaml");
    windlass(dir, endpoint, &["deploy", "--target", "ecs"])
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_deploys_rolls_back_and_lists_ecs_releases() {
    let fakecloud = Fakecloud::start();
    let _containers = Containers(fakecloud.port);
    let endpoint = fakecloud.endpoint();
    let client = Client::new(fakecloud.config());
    let ecs = Model::of(Service::named("ecs").expect("ecs")).expect("model");
    client
        .call(
            &ecs,
            "createCluster",
            &json!({ "ClusterName": "windlass" }),
            None,
        )
        .await
        .expect("createCluster");
    let dir = with_shell(support::project("ecs-cli"));

    let v1 = deploy(&dir, &endpoint, "v1", false);
    assert_eq!(v1.status.code(), Some(0), "{}", text(&v1));
    assert!(text(&v1).contains("web: live"), "{}", text(&v1));

    let v2 = deploy(&dir, &endpoint, "v2", true);
    assert_eq!(
        v2.status.code(),
        Some(6),
        "the rolled-back code: {}",
        text(&v2)
    );
    assert!(
        text(&v2).contains("rolled back to the previous revision"),
        "{}",
        text(&v2)
    );

    let v3 = deploy(&dir, &endpoint, "v3", false);
    assert_eq!(v3.status.code(), Some(0), "{}", text(&v3));

    let listed = windlass(&dir, &endpoint, &["releases", "ecs/windlass/web", "--json"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let rows: Json = serde_json::from_slice(&listed.stdout).expect("JSON");
    let row = |id: &str| {
        rows.as_array()
            .expect("rows")
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .expect("a row")
    };
    assert_eq!(row("r2")["outcome"], "rolled-back");
    assert_eq!(row("r3")["live"], true);
    let r1 = row("r1")["image"]
        .as_str()
        .expect("r1's revision")
        .to_string();
    assert!(r1.contains(":task-definition/web:"), "{r1}");
    assert!(row("r1")["digest"]
        .as_str()
        .is_some_and(|d| d.starts_with("sha256:")));
    assert_eq!(
        version_of(&client, row("r3")["image"].as_str().expect("r3's revision")).await,
        "v3"
    );

    let back = windlass(
        &dir,
        &endpoint,
        &["rollback", "--target", "ecs", "web", "r1"],
    );
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));
    assert_eq!(version_of(&client, &r1).await, "v1");

    let status = windlass(&dir, &endpoint, &["status", "--ecs", "web"]);
    assert!(status.status.success(), "{}", text(&status));
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains("ecs/windlass/web: live release r1"),
        "{shown}"
    );
    assert!(shown.contains(&format!("PRIMARY {r1}")), "{shown}");
}
