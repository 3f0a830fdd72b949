//! `windlass deploy --target ecs`, `rollback --target ecs`, `releases` and
//! `status --ecs`, the real binary against fakecloud (AWS_ENDPOINT_URL): v1
//! goes live (exit 0), a v2 whose container exits is rolled back (exit 6),
//! and an explicit rollback to r1 after a good v3 puts v1 back, each checked
//! by a request to the running task's published loopback port; a whole-app
//! rollback of another app's file leaves web alone.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

mod ecs_support;

use ecs_support::{deploy, releases_json, row, run, text};
use support::ecs::{version_of, KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_deploys_rolls_back_and_lists_ecs_releases() {
    let (cloud, dir) = ecs_support::start("ecs-cli").await;
    let endpoint = cloud.endpoint();
    let client = &cloud.client;

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

    let rows = releases_json(&dir, &endpoint, KEY);
    assert_eq!(row(&rows, "r2")["outcome"], "rolled-back");
    assert_eq!(row(&rows, "r3")["live"], true);
    let r1 = row(&rows, "r1")["image"]
        .as_str()
        .expect("r1's revision")
        .to_string();
    assert!(r1.contains(":task-definition/web:"), "{r1}");
    assert!(row(&rows, "r1")["digest"]
        .as_str()
        .is_some_and(|d| d.starts_with("sha256:")));
    assert_eq!(
        version_of(
            client,
            row(&rows, "r3")["image"].as_str().expect("r3's revision")
        )
        .await,
        "v3"
    );

    let back = run(
        &dir,
        &endpoint,
        &["rollback", "--target", "ecs", "web", "r1"],
    );
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));
    assert_eq!(version_of(client, &r1).await, "v1");

    let status = run(&dir, &endpoint, &["status", "--ecs", "web"]);
    assert!(status.status.success(), "{}", text(&status));
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains("ecs/windlass/web: live release r1"),
        "{shown}"
    );
    assert!(shown.contains(&format!("PRIMARY {r1}")), "{shown}");

    // Another app's file in the same state folder: a whole-app rollback of
    // it touches only its own ECS services (none deployed), never web.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).expect("the other app's folder");
    std::fs::write(
        other.join("compose.yaml"),
        "name: other\nservices:\n  admin:\n    image: other/admin:1\n    x-windlass:\n      ecs: { cluster: windlass }\n",
    )
    .expect("the other app's file");
    let file = other.join("compose.yaml");
    let refused = run(
        &dir,
        &endpoint,
        &[
            "rollback",
            "--target",
            "ecs",
            "-f",
            file.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(refused.status.code(), Some(7), "{}", text(&refused));
    assert!(
        text(&refused).contains("no ECS service of") && text(&refused).contains("other"),
        "{}",
        text(&refused)
    );
    let rows = releases_json(&dir, &endpoint, KEY);
    assert_eq!(row(&rows, "r1")["live"], true, "{rows:?}");
}
