//! Compose `networks` on the real engine: a service's containers join every
//! network it lists, and only the live release answers there to the
//! service's name and aliases, so other services reach one release by name;
//! moving the names does not fail a request through the proxy.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use windlass_deploy::agent::Agent;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RELEASE_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::Status;

const SERVICE: &str = "wlnet";

fn compose(port: u16, version: &str) -> String {
    format!(
        "services:\n  {SERVICE}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n    networks:\n      wlnet-front:\n        aliases: [shop]\n      wlnet-back: {{}}\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\nnetworks:\n  wlnet-front:\n    labels: [team=shop]\n  wlnet-back: {{}}\n"
    )
}

/// The app: the project folder's name.
const APP: &str = "project-networks";

/// Network key -> the names a container answers to there (`docker inspect`),
/// for the service's networks.
fn names(id: &str) -> serde_json::Value {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{json .NetworkSettings.Networks}}", id])
        .output()
        .expect("docker inspect");
    let networks: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("networks as JSON");
    let mut by_network = serde_json::Map::new();
    for (name, endpoint) in networks.as_object().into_iter().flatten() {
        // The app's networks are Compose's `APP_KEY`: named here by key.
        let Some(name) = name.strip_prefix(&format!("{APP}_")) else {
            continue;
        };
        let mut names: Vec<String> = endpoint["Aliases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        // Docker adds the container's own short id; only names matter here.
        names.retain(|n| !id.starts_with(n.as_str()));
        names.sort();
        by_network.insert(name.to_owned(), names.into());
    }
    by_network.into()
}

fn network_labels(network: &str) -> serde_json::Value {
    let out = Command::new("docker")
        .args(["network", "inspect", "-f", "{{json .Labels}}", network])
        .output()
        .expect("docker network inspect");
    serde_json::from_slice(&out.stdout).expect("labels as JSON")
}

async fn container_of(docker: &Docker, release: &str) -> String {
    let labels = [
        (SERVICE_LABEL.to_owned(), SERVICE.to_owned()),
        (RELEASE_LABEL.to_owned(), release.to_owned()),
    ]
    .into();
    docker.list_containers(&labels).await.expect("containers")[0]
        .id
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_live_release_answers_to_the_service_names() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("networks");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, _) = support::agent(&docker).await;
    let result = scenario(&agent, &docker, &file, port).await;
    support::cleanup(&docker, SERVICE).await;
    for network in ["wlnet-front", "wlnet-back"] {
        let _ = Command::new("docker")
            .args(["network", "rm", &format!("{APP}_{network}")])
            .output();
    }
    result.expect("scenario");
}

async fn scenario(agent: &Agent, docker: &Docker, file: &Path, port: u16) -> Result<(), String> {
    let (_, finished) = support::deploy(agent, file, SERVICE, compose(port, "v1")).await;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    let one = container_of(docker, "r1").await;
    let named = serde_json::json!({ "wlnet-front": ["shop", SERVICE], "wlnet-back": [SERVICE] });
    assert_eq!(names(&one), named);
    // The file's labels, and whose network it is (as Compose labels its
    // networks with the project).
    let labels = network_labels(&format!("{APP}_wlnet-front"));
    assert_eq!(labels["team"], "shop", "{labels:?}");
    assert_eq!(labels["windlass.app"], APP, "{labels:?}");
    assert!(labels.get("windlass.installation").is_some(), "{labels:?}");

    let load = support::Load::start(format!("127.0.0.1:{port}").parse().expect("address"), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, finished) = support::deploy(agent, file, SERVICE, compose(port, "v2")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = load.stop().await;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    let two = container_of(docker, "r2").await;
    assert_eq!(names(&two), named, "the live release has the names");
    assert_eq!(
        names(&one),
        serde_json::json!({ "wlnet-front": [], "wlnet-back": [] }),
        "the warm previous release stays on the networks without them"
    );
    assert_eq!(seen.failed, 0, "{:?}", seen.failures.first());
    assert!(seen.requests > 20, "{seen:?}");

    // A rollback gives the names back to the release it puts back.
    let (_, finished) = support::rollback(agent, SERVICE, "r1").await?;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(names(&one), named);
    assert_eq!(
        names(&two),
        serde_json::json!({ "wlnet-front": [], "wlnet-back": [] })
    );
    Ok(())
}

const NAMED: &str = "wlcompose-named";
/// The engine's names the file gives its networks.
const FRONT: &str = "wlcompose-shop-front";
const OUTSIDE: &str = "wlcompose-outside";

fn named_compose(port: u16, version: &str) -> String {
    format!(
        "services:\n  {NAMED}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n    networks:\n      front:\n        aliases: [shop]\n      outside: {{}}\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\nnetworks:\n  front:\n    name: {FRONT}\n  outside:\n    external: true\n    name: {OUTSIDE}\n"
    )
}

/// The names a container answers to on the engine's network `network`
/// (`None`: not attached).
fn names_on(id: &str, network: &str) -> Option<Vec<String>> {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{json .NetworkSettings.Networks}}", id])
        .output()
        .expect("docker inspect");
    let networks: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("networks as JSON");
    let endpoint = networks.get(network)?;
    let mut names: Vec<String> = endpoint["Aliases"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .filter(|n| !id.starts_with(n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    Some(names)
}

fn network_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["network", "inspect", name])
        .output()
        .expect("docker network inspect")
        .status
        .success()
}

fn remove_network(name: &str) {
    let _ = Command::new("docker")
        .args(["network", "rm", name])
        .output();
}

const HOLDER: &str = "wlcompose-named-holder";

/// Networks with a `name` (one the app creates, one external made outside
/// it) are joined by that name, the service's names move on them at each
/// switch, and `down` removes the app's own and leaves the external one.
/// A name two apps give their network is made twice when both deploy at
/// once (an engine before API 1.44 makes a second network of a name), after
/// which the engine refuses every call by that name: the deploy keeps one.
/// `down` keeps such a network while another app's container is on it, as
/// Compose does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_with_a_name_are_joined_by_it() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, NAMED).await;
    let _ = Command::new("docker").args(["rm", "-f", HOLDER]).output();
    remove_network(FRONT);
    remove_network(OUTSIDE);
    let made = Command::new("docker")
        .args(["network", "create", OUTSIDE])
        .output()
        .expect("docker network create");
    assert!(made.status.success(), "{made:?}");
    // What two processes creating it at once leave: two networks of a name.
    let raw = bollard::Docker::connect_with_local_defaults()
        .expect("socket")
        .negotiate_version()
        .await
        .expect("version");
    for _ in 0..2 {
        raw.create_network(bollard::models::NetworkCreateRequest {
            name: FRONT.to_owned(),
            ..Default::default()
        })
        .await
        .expect("create network");
    }
    let dir = support::project("named-networks");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, _) = support::agent(&docker).await;
    let result = named_scenario(&agent, &docker, &file, port).await;
    let _ = Command::new("docker").args(["rm", "-f", HOLDER]).output();
    support::cleanup(&docker, NAMED).await;
    remove_network(FRONT);
    remove_network(OUTSIDE);
    result.expect("scenario");
}

async fn named_scenario(
    agent: &Agent,
    docker: &Docker,
    file: &Path,
    port: u16,
) -> Result<(), String> {
    let (_, finished) = support::deploy(agent, file, NAMED, named_compose(port, "v1")).await;
    if finished.status != Status::Succeeded {
        return Err(format!("first deploy: {:?}", finished.outcome));
    }
    let of = |release: &'static str| async move {
        let labels = [
            (SERVICE_LABEL.to_owned(), NAMED.to_owned()),
            (RELEASE_LABEL.to_owned(), release.to_owned()),
        ]
        .into();
        docker.list_containers(&labels).await.expect("containers")[0]
            .id
            .clone()
    };
    let one = of("r1").await;
    let all = vec!["shop".to_owned(), NAMED.to_owned()];
    assert_eq!(names_on(&one, FRONT), Some(all.clone()));
    assert_eq!(names_on(&one, OUTSIDE), Some(vec![NAMED.to_owned()]));

    let (_, finished) = support::deploy(agent, file, NAMED, named_compose(port, "v2")).await;
    if finished.status != Status::Succeeded {
        return Err(format!("second deploy: {:?}", finished.outcome));
    }
    let two = of("r2").await;
    assert_eq!(names_on(&two, FRONT), Some(all));
    assert_eq!(names_on(&one, FRONT), Some(vec![]), "r1 gave its names up");

    // Another app's container on the network.
    let image = support::release_images(NAMED)
        .into_iter()
        .next()
        .ok_or("a release image")?;
    let held = Command::new("docker")
        .args(["run", "-d", "--name", HOLDER, "--network", FRONT])
        // Not windlass's: the image's labels say it is.
        .args(["--label", "windlass.installation=none", "--label"])
        .args([format!("windlass.service={HOLDER}"), image])
        .output()
        .map_err(|e| e.to_string())?;
    assert!(held.status.success(), "{held:?}");
    let text = named_compose(port, "v2");
    let report = agent
        .down(windlass_deploy::agent::DownRequest {
            compose_file: file.display().to_string(),
            compose_text: text,
            services: Vec::new(),
            volumes: false,
        })
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(report.networks_in_use, [FRONT], "{report:?}");
    assert!(network_exists(FRONT), "kept while in use: {report:?}");
    assert!(network_exists(OUTSIDE), "down leaves an external network");
    let _ = Command::new("docker").args(["rm", "-f", HOLDER]).output();
    let report = agent
        .down(windlass_deploy::agent::DownRequest {
            compose_file: file.display().to_string(),
            compose_text: named_compose(port, "v2"),
            services: Vec::new(),
            volumes: false,
        })
        .await
        .map_err(|e| e.to_string())?;
    assert!(
        !network_exists(FRONT),
        "down removes the app's network: {report:?}"
    );

    // An external network is the user's to make, as Compose says: a deploy
    // without it fails, and does not make it.
    remove_network(OUTSIDE);
    let (_, finished) = support::deploy(agent, file, NAMED, named_compose(port, "v3")).await;
    assert_eq!(finished.status, Status::Failed, "{:?}", finished.outcome);
    let said = format!("{:?}", finished.outcome);
    assert!(
        said.contains("network wlcompose-outside is declared external but does not exist"),
        "{said}"
    );
    assert!(!network_exists(OUTSIDE), "not made by the deploy");
    Ok(())
}

const FIRST: &str = "wlnet-gateway";
/// A network name that sorts before Docker's `bridge`, as `api_default`
/// or `app_default` do.
const EARLY: &str = "a-wlnet-gateway";

fn early_compose(port: u16, version: &str) -> String {
    format!(
        "services:\n  {FIRST}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n    networks: [front]\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\nnetworks:\n  front:\n    name: {EARLY}\n"
    )
}

/// The host port a container publishes its 8080 on.
fn published(id: &str) -> String {
    let out = Command::new("docker")
        .args(["port", id, "8080/tcp"])
        .output()
        .expect("docker port");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Docker publishes ports on a container's gateway endpoint and binds them
/// again, elsewhere, when it changes: a Compose network that sorts before
/// `bridge` took it when a container joined it and at every switch, and the
/// proxy's port was gone. Deploys and a rollback under load: every request
/// answered, no published port moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_that_sorts_first_does_not_move_the_published_port() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, FIRST).await;
    remove_network(EARLY);
    let dir = support::project("early-network");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, _) = support::agent(&docker).await;
    let result = early_scenario(&agent, &docker, &file, port).await;
    support::cleanup(&docker, FIRST).await;
    remove_network(EARLY);
    result.expect("scenario");
}

async fn early_scenario(
    agent: &Agent,
    docker: &Docker,
    file: &Path,
    port: u16,
) -> Result<(), String> {
    let of = |release: &'static str| async move {
        let labels = [
            (SERVICE_LABEL.to_owned(), FIRST.to_owned()),
            (RELEASE_LABEL.to_owned(), release.to_owned()),
        ]
        .into();
        docker.list_containers(&labels).await.expect("containers")[0]
            .id
            .clone()
    };
    let (_, finished) = support::deploy(agent, file, FIRST, early_compose(port, "v1")).await;
    if finished.status != Status::Succeeded {
        return Err(format!("first deploy: {:?}", finished.outcome));
    }
    let one = of("r1").await;
    let one_port = published(&one);
    let load = support::Load::start(format!("127.0.0.1:{port}").parse().expect("address"), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, finished) = support::deploy(agent, file, FIRST, early_compose(port, "v2")).await;
    if finished.status != Status::Succeeded {
        return Err(format!("second deploy: {:?}", finished.outcome));
    }
    let two = of("r2").await;
    let two_port = published(&two);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, finished) = support::rollback(agent, FIRST, "r1").await?;
    if finished.status != Status::Succeeded {
        return Err(format!("rollback: {:?}", finished.outcome));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = load.stop().await;
    assert_eq!(published(&one), one_port, "r1's port moved");
    assert_eq!(published(&two), two_port, "r2's port moved");
    assert_eq!(seen.failed, 0, "{:?}", seen.failures.first());
    assert!(seen.requests > 20, "{seen:?}");
    Ok(())
}
