//! Deploys that cannot work, on the real Docker engine: a missing image, a
//! proxy address already taken, an unreachable registry. The taken address
//! is refused before anything starts; the others end rolled back. Each says
//! what was wrong and leaves no container.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use windlass_deploy::agent::Agent;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::SERVICE_LABEL;
use windlass_deploy::Backend;
use windlass_engine::Outcome;
use windlass_store::releases::Outcome as ReleaseOutcome;

/// Deploys `text` as service `service` and returns the execution's error and cause.
async fn failed_deploy(agent: &Agent, dir: &Path, service: &str, text: &str) -> (String, String) {
    let file = dir.join(format!("{service}.yaml"));
    let (started, finished) = support::deploy(agent, &file, service, text.to_owned()).await;
    let release = agent
        .releases()
        .get(
            &agent.resolve(None, service).expect("one app has it"),
            &started.release,
        )
        .expect("store")
        .expect("release");
    assert_eq!(release.outcome, ReleaseOutcome::RolledBack);
    match finished.outcome {
        Some(Outcome::Error { error, cause }) => (error, cause),
        other => panic!("{service}: expected a failure, got {other:?}"),
    }
}

async fn containers_of(docker: &Docker, service: &str) -> usize {
    let labels = BTreeMap::from([(SERVICE_LABEL.to_owned(), service.to_owned())]);
    docker.list_containers(&labels).await.expect("list").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_deploys_roll_back_and_leave_nothing_running() {
    let docker = Docker::connect().await.expect("Docker engine");
    let dir = support::project("failures");
    let (agent, _) = support::agent(&docker).await;

    let port = support::free_port();
    let text = format!(
        "services:\n  wlmissing:\n    image: windlass-test/never-built:nope\n    ports: [\"127.0.0.1:{port}:8080\"]\n"
    );
    let (error, cause) = failed_deploy(&agent, &dir, "wlmissing", &text).await;
    println!("missing image: {error}: {cause}");
    assert!(cause.contains("Deploy.ImageUnavailable"), "{cause}");
    assert!(cause.contains("windlass-test/never-built:nope"), "{cause}");
    assert_eq!(containers_of(&docker, "wlmissing").await, 0);

    // Another process has the proxy's address: refused before anything
    // starts (no execution, no release).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    support::cleanup(&docker, "wltaken").await;
    let text = support::compose("wltaken", port, &[("TESTAPP_VERSION", "v1")], "1s");
    let file = dir.join("wltaken.yaml");
    std::fs::write(&file, &text).expect("compose file");
    let refused = agent
        .deploy(windlass_deploy::agent::DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: text,
            services: vec!["wltaken".into()],
            by: "test".into(),
            ..Default::default()
        })
        .await
        .expect_err("refused before it starts");
    println!("port taken: {refused}");
    assert!(
        matches!(refused, windlass_deploy::agent::Error::PortTaken(_)),
        "{refused:?}"
    );
    let said = refused.to_string();
    assert!(said.contains(&format!("127.0.0.1:{port}")), "{said}");
    assert!(said.contains("service wltaken"), "{said}");
    assert_eq!(containers_of(&docker, "wltaken").await, 0);
    drop(taken);

    // A registry nobody answers on: the push fails, nothing was started.
    support::cleanup(&docker, "wlpush").await;
    let text = support::compose(
        "wlpush",
        support::free_port(),
        &[("TESTAPP_VERSION", "v1")],
        "1s",
    )
    .replace(
        "    build: ./app\n",
        "    build: ./app\n    image: 127.0.0.1:9/windlass-test/wlpush\n",
    )
    .replace("    x-windlass:\n", "    x-windlass:\n      push: true\n");
    let (error, cause) = failed_deploy(&agent, &dir, "wlpush", &text).await;
    println!("registry unreachable: {error}: {cause}");
    assert!(cause.contains("Deploy.PushFailed"), "{cause}");
    assert_eq!(containers_of(&docker, "wlpush").await, 0);
    support::cleanup(&docker, "wltaken").await;
    support::cleanup(&docker, "wlpush").await;
    for tag in ["r1", "latest"] {
        let _ = docker
            .remove_image(&format!("127.0.0.1:9/windlass-test/wlpush:{tag}"))
            .await;
    }
}
