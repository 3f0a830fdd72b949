//! An explicit rollback to a warm standby is a flip: the releases still run
//! and pass their health check, so `SwitchWarm` moves the traffic and the
//! execution never enters the Start Map. A release whose containers are
//! gone takes the slow path and is started again. A load generator on each
//! service sees no failed request throughout.

mod support;

use std::net::SocketAddr;

use windlass_deploy::agent::{Agent, RollbackRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RELEASE_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::Status;
use windlass_store::Store;

const WEB: &str = "wlwarmweb";
const API: &str = "wlwarmapi";

fn compose(ports: (u16, u16), version: &str) -> String {
    let service = |name: &str, port: u16| {
        format!(
            "  {name}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\n"
        )
    };
    format!(
        "name: wlwarm\nservices:\n{}{}",
        service(WEB, ports.0),
        service(API, ports.1)
    )
}

fn live(agent: &Agent) -> (Option<String>, Option<String>) {
    let of = |s: &str| {
        agent
            .releases()
            .live(&agent.resolve(None, s).expect("one app has it"))
            .expect("live")
            .map(|l| l.release)
    };
    (of(WEB), of(API))
}

fn entered(store: &dyn Store, arn: &str) -> Vec<String> {
    store
        .history(arn, 1, u64::MAX)
        .expect("history")
        .into_iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| {
            e.details
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_owned)
        })
        .collect()
}

/// Rolls the app back to app release `to`, or to the store's rollback
/// target.
async fn roll_back_app(agent: &Agent, to: Option<&str>) -> String {
    let started = agent
        .rollback(RollbackRequest {
            service: None,
            app: None,
            here: None,
            release: to.map(str::to_owned),
            by: "test@warm".into(),
        })
        .await
        .expect("rollback starts");
    let finished = agent
        .runtime()
        .wait(&started[0].execution)
        .await
        .expect("ends");
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    support::settled(agent, &[WEB, API]).await;
    started[0].execution.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_warm_rollback_is_a_flip_and_a_cold_one_starts_the_release() {
    let docker = Docker::connect().await.expect("Docker engine");
    for s in [WEB, API] {
        support::cleanup(&docker, s).await;
    }
    let dir = support::project("warm");
    let file = dir.join("compose.yaml");
    let ports = (support::free_port(), support::free_port());
    let (agent, store) = support::agent(&docker).await;
    let (_, status) = support::deploy_app(&agent, &file, compose(ports, "v1"), &[WEB, API]).await;
    assert_eq!(status, Status::Succeeded);
    let address = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let loads = [
        support::Load::start(address(ports.0), 2),
        support::Load::start(address(ports.1), 2),
    ];
    let (_, status) = support::deploy_app(&agent, &file, compose(ports, "v2"), &[WEB, API]).await;
    assert_eq!(status, Status::Succeeded);
    let both = |r: &str| (Some(r.to_owned()), Some(r.to_owned()));
    assert_eq!(live(&agent), both("r2"));

    // r1 is the warm standby: a flip, no Start Map.
    let arn = roll_back_app(&agent, None).await;
    assert_eq!(live(&agent), both("r1"));
    let states = entered(store.as_ref(), &arn);
    assert_eq!(states[..2], ["SwitchWarm", "WarmStandby"], "{states:?}");
    assert!(!states.iter().any(|s| s == "StartReplicas"), "{states:?}");

    // v3 live with r1 warm behind it, but r1's containers gone: the
    // rollback to it starts them again.
    let (_, status) = support::deploy_app(&agent, &file, compose(ports, "v3"), &[WEB, API]).await;
    assert_eq!(status, Status::Succeeded);
    assert_eq!(live(&agent), both("r3"));
    for service in [WEB, API] {
        let labels = [
            (SERVICE_LABEL.to_owned(), service.to_owned()),
            (RELEASE_LABEL.to_owned(), "r1".to_owned()),
        ]
        .into();
        for container in docker.list_containers(&labels).await.expect("list") {
            docker
                .remove_container(&container.id)
                .await
                .expect("remove");
        }
    }
    // a2 went live too, so it is the rollback target now (the store's
    // rule): name a1, whose containers are gone.
    let arn = roll_back_app(&agent, Some("a1")).await;
    assert_eq!(live(&agent), both("r1"));
    let states = entered(store.as_ref(), &arn);
    assert!(states.iter().any(|s| s == "StartReplicas"), "{states:?}");

    for load in loads {
        let seen = load.stop().await;
        assert_eq!(seen.failed, 0, "{:?}", seen.failures);
    }
    for s in [WEB, API] {
        support::cleanup(&docker, s).await;
    }
}
