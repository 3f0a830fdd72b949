//! ECS deploy and rollback speed against a local emulator (fakecloud, whose
//! ECS runs tasks as real Docker containers), printed as figures: for a
//! first deploy (CreateService), an update (UpdateService), an update whose
//! container exits (rolled back) and an explicit rollback, the time of each
//! step, and the execution's time split into AWS calls, the polling loop's
//! Waits (time spent waiting on ECS) and windlass's own share (the engine,
//! its store commits, the wire code): what is neither.
//!
//! Run: `cargo bench -p windlass-deploy --bench ecs`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use support::ecs::{compose, version_of, with_shell, Containers};
use support::fakecloud::Fakecloud;
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::target::ecs::run::{Ecs, Report};
use windlass_store::releases::SqliteReleases;
use windlass_store::sqlite::{Durability, SqliteStore};

fn figures(step: &str, report: &Report, until_served_millis: u128) {
    let t = &report.timing;
    println!(
        "\n{step} ({:?}, release {}):",
        report.status, report.release
    );
    println!(
        "  build {:>6} ms   push to ECR {:>6} ms",
        t.build_millis, t.push_millis
    );
    println!(
        "  execution {:>6} ms = AWS calls {:>6} ms + waiting on ECS (polling Waits) {:>6} ms + windlass {:>4} ms",
        t.execution_millis, t.aws_millis, t.wait_millis, t.windlass_millis()
    );
    println!("  from asking to the end of the execution and a request answered by the live revision: {until_served_millis} ms");
    for (state, count, millis) in &t.states {
        println!("    {state:<18} {count:>3}x {millis:>7} ms");
    }
}

fn main() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        let fakecloud = Fakecloud::start();
        let _containers = Containers(fakecloud.port);
        let client = Client::new(fakecloud.config());
        let ecs_model = Model::of(Service::named("ecs").expect("ecs")).expect("model");
        client.call(&ecs_model, "createCluster", &json!({ "ClusterName": "windlass" }), None).await.expect("createCluster");
        let dir = with_shell(support::project("ecs-bench"));
        let db = dir.join("windlass.db");
        // The durable store a CLI deploy uses (SQLite, synchronous=FULL).
        let store = Arc::new(SqliteStore::open(&db, Durability::Full).expect("store"));
        let releases = Arc::new(SqliteReleases::open(&db).expect("releases"));
        let docker = Docker::connect().await.expect("the Docker engine");
        let ecs = Ecs::new(Arc::new(docker), client.clone(), releases, store);
        let file = dir.join("compose.yaml");
        for (step, version, crash) in [("deploy v1 (CreateService)", "v1", false), ("deploy v2 (UpdateService)", "v2", false), ("deploy v3, exits at start (rolled back to v2)", "v3", true)] {
            let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
            let text = compose(version, port, crash);
            std::fs::write(&file, &text).expect("compose.yaml");
            let asked = Instant::now();
            let report = ecs.deploy(&file, &text, "web", "bench").await.expect("deploy");
            let served = report.revision.clone().filter(|_| !crash);
            let until = match served {
                Some(revision) => {
                    version_of(&client, &revision).await;
                    asked.elapsed().as_millis()
                }
                None => asked.elapsed().as_millis(),
            };
            figures(step, &report, until);
        }
        let asked = Instant::now();
        let report = ecs.rollback(&"ecs/windlass/web".parse().expect("a key"), Some("r1")).await.expect("rollback");
        let revision = report.revision.clone().expect("r1's revision");
        assert_eq!(version_of(&client, &revision).await, "v1");
        figures("explicit rollback to r1", &report, asked.elapsed().as_millis());
        println!("\n(poll interval 1 s; the watch is 3 s: both are ECS waiting time, set by x-windlass.ecs.pollSeconds and x-windlass.watch)");
    });
}
