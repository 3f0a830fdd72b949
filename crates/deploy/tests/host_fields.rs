//! Compose fields about the host, on the real engine: a service with a
//! data folder bind-mounted read-write, and one with `network_mode: none`,
//! each deploy stop-first (the engine's own events show the old container
//! died before the new one started: never both running); the second's
//! `deploy.resources` and kernel controls are what `docker inspect`
//! shows; a sidecar on `network_mode: service:NAME` with `volumes_from`
//! joins the data service's new container, a service with `links` is
//! linked to it under its alias; and a network declared
//! `internal` with an address pool is created so.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use windlass_deploy::agent::{Agent, DeployRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, RELEASE_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::Status;

const DATA: &str = "wlhfdata";
const QUIET: &str = "wlhfquiet";
const SIDECAR: &str = "wlhfsidecar";
const LINKED: &str = "wlhflinked";
const NETWORK: &str = "wlhf-internal";
/// The engine's name of the network: Compose's `PROJECT_KEY`, the project
/// named after its folder.
const ENGINE_NETWORK: &str = "project-host-fields_wlhf-internal";

fn compose(port: u16, version: &str) -> String {
    compose_with(port, version, version)
}

/// The file with the data service at `data_version`, the others at `version`.
fn compose_with(port: u16, version: &str, data_version: &str) -> String {
    format!(
        r#"services:
  {DATA}:
    build: ./app
    ports: ["127.0.0.1:{port}:8080"]
    init: true
    stop_grace_period: 1s
    environment: {{TESTAPP_VERSION: "{data_version}"}}
    volumes: ["./data:/data"]
    networks: [{NETWORK}]
    x-windlass:
      health: {{http: /health, interval: 50ms, start_timeout: 4s}}
      watch: 0s
  {QUIET}:
    build: ./app
    init: true
    stop_grace_period: 1s
    network_mode: none
    environment: {{TESTAPP_VERSION: "{version}"}}
    healthcheck: {{test: [CMD, /app, probe], interval: 200ms, start_period: 5s}}
    deploy:
      resources:
        limits: {{cpus: "0.5", memory: 64m, pids: 100}}
        reservations: {{memory: 32m}}
      restart_policy: {{condition: on-failure, max_attempts: 2}}
    cpu_shares: 512
    oom_score_adj: 100
    x-windlass: {{watch: 0s}}
  {SIDECAR}:
    build: ./app
    init: true
    stop_grace_period: 1s
    network_mode: service:{DATA}
    volumes_from: ["{DATA}:ro"]
    environment: {{TESTAPP_VERSION: "{version}", TESTAPP_PORT: "8081"}}
    healthcheck: {{test: [CMD, /app, probe], interval: 200ms, start_period: 5s}}
    x-windlass: {{watch: 0s}}
  {LINKED}:
    build: ./app
    init: true
    stop_grace_period: 1s
    links: ["{DATA}:store"]
    environment: {{TESTAPP_VERSION: "{version}"}}
    healthcheck: {{test: [CMD, /app, probe], interval: 200ms, start_period: 5s}}
    x-windlass: {{watch: 0s}}
networks:
  {NETWORK}:
    internal: true
    ipam:
      config: [{{subnet: 10.213.77.0/24}}]
"#
    )
}

async fn deploy_all(agent: &Agent, file: &Path, text: &str) -> Vec<Status> {
    std::fs::write(file, text).expect("compose file");
    let started = agent
        .deploy(DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: text.to_owned(),
            by: "test@host-fields".into(),
            ..Default::default()
        })
        .await
        .expect("deploy starts");
    let mut statuses = Vec::new();
    for one in started {
        let ended = agent.runtime().wait(&one.execution).await.expect("ends");
        if ended.status != Status::Succeeded {
            println!("{}: {:?}", one.execution, ended.outcome);
        }
        statuses.push(ended.status);
    }
    statuses
}

async fn raw_client() -> bollard::Docker {
    bollard::Docker::connect_with_local_defaults()
        .expect("socket")
        .negotiate_version()
        .await
        .expect("version")
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `start` and `die` events of `service`'s containers between `since`
/// and `until` (seconds), in the engine's order, as (action, release).
async fn lifecycle(
    raw: &bollard::Docker,
    service: &str,
    since: u64,
    until: u64,
) -> Vec<(String, String)> {
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        (
            "label".to_owned(),
            vec![format!("{SERVICE_LABEL}={service}")],
        ),
        (
            "event".to_owned(),
            vec!["start".to_owned(), "die".to_owned()],
        ),
    ]);
    let options = bollard::query_parameters::EventsOptionsBuilder::default()
        .since(&since.to_string())
        .until(&until.to_string())
        .filters(&filters)
        .build();
    let mut stream = raw.events(Some(options));
    let mut seen = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.expect("an event");
        let release = event
            .actor
            .and_then(|a| a.attributes)
            .and_then(|a| a.get(RELEASE_LABEL).cloned())
            .unwrap_or_default();
        seen.push((event.action.unwrap_or_default(), release));
    }
    seen
}

async fn running(docker: &Docker, service: &str) -> Vec<(String, String)> {
    let labels = BTreeMap::from([(SERVICE_LABEL.to_owned(), service.to_owned())]);
    docker
        .list_containers(&labels)
        .await
        .expect("containers")
        .into_iter()
        .filter(|c| c.state == RunState::Running)
        .map(|c| {
            (
                c.id,
                c.labels.get(RELEASE_LABEL).cloned().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_folders_and_other_network_modes_deploy_stop_first_with_their_host_settings() {
    let docker = Docker::connect().await.expect("Docker engine");
    let raw = raw_client().await;
    for service in [DATA, QUIET, SIDECAR, LINKED] {
        support::cleanup(&docker, service).await;
    }
    let _ = raw.remove_network(ENGINE_NETWORK).await;
    let dir = support::project("host-fields");
    std::fs::create_dir_all(dir.join("data")).expect("data folder");
    let (agent, _) = support::agent(&docker).await;
    let result = scenario(&agent, &docker, &raw, &dir, support::free_port()).await;
    for service in [DATA, QUIET, SIDECAR, LINKED] {
        support::cleanup(&docker, service).await;
    }
    let _ = raw.remove_network(ENGINE_NETWORK).await;
    result.expect("scenario");
}

async fn scenario(
    agent: &Agent,
    docker: &Docker,
    raw: &bollard::Docker,
    dir: &Path,
    port: u16,
) -> Result<(), String> {
    let file = dir.join("compose.yaml");
    let statuses = deploy_all(agent, &file, &compose(port, "h1")).await;
    assert_eq!(statuses, [Status::Succeeded; 4], "v1");
    let key = |service: &str| agent.resolve(None, service).expect("one app has it");
    let proxies = agent.proxies();
    assert!(
        !proxies.has(&key(QUIET)).await.expect("proxies"),
        "no proxy with network_mode none"
    );
    assert!(proxies.has(&key(DATA)).await.expect("proxies"));

    let quiet = running(docker, QUIET).await;
    assert_eq!(quiet.len(), 1, "{quiet:?}");
    let inspected = raw
        .inspect_container(&quiet[0].0, None)
        .await
        .map_err(|e| e.to_string())?;
    let host = inspected.host_config.ok_or("a host config")?;
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.memory, Some(64 << 20));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.pids_limit, Some(100));
    assert_eq!(host.memory_reservation, Some(32 << 20));
    assert_eq!(host.cpu_shares, Some(512));
    assert_eq!(host.oom_score_adj, Some(100));
    let restart = host.restart_policy.ok_or("a restart policy")?;
    assert_eq!(restart.maximum_retry_count, Some(2));
    assert_eq!(
        restart.name.map(|n| n.to_string()).as_deref(),
        Some("on-failure")
    );

    let network = raw
        .inspect_network(ENGINE_NETWORK, None)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(network.internal, Some(true));
    let subnets: Vec<String> = network
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.subnet)
        .collect();
    assert_eq!(subnets, ["10.213.77.0/24"]);

    // A second release of each: the first stops before the second starts.
    let since = now_seconds();
    let statuses = deploy_all(agent, &file, &compose(port, "h2")).await;
    assert_eq!(statuses, [Status::Succeeded; 4], "v2");
    let until = now_seconds() + 1;
    for service in [DATA, QUIET, SIDECAR] {
        let events = lifecycle(raw, service, since, until).await;
        let died = events
            .iter()
            .position(|e| *e == ("die".into(), "r1".into()));
        let started = events
            .iter()
            .position(|e| *e == ("start".into(), "r2".into()));
        match (died, started) {
            (Some(died), Some(started)) => assert!(
                died < started,
                "{service}: r2 started before r1 died: {events:?}"
            ),
            _ => panic!("{service}: expected r1 to die and r2 to start: {events:?}"),
        }
        let now: Vec<String> = running(docker, service)
            .await
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(now, ["r2"], "{service}");
    }
    // The sidecar runs in the data service's new container's namespace,
    // with its volumes.
    let data = running(docker, DATA).await;
    let sidecar = running(docker, SIDECAR).await;
    let inspected = raw
        .inspect_container(&sidecar[0].0, None)
        .await
        .map_err(|e| e.to_string())?;
    let host = inspected.host_config.ok_or("a host config")?;
    assert_eq!(host.network_mode, Some(format!("container:{}", data[0].0)));
    assert_eq!(host.volumes_from, Some(vec![format!("{}:ro", data[0].0)]));
    // The linked service reaches the data service's new container as `store`.
    let linked = running(docker, LINKED).await;
    let inspected = raw
        .inspect_container(&linked[0].0, None)
        .await
        .map_err(|e| e.to_string())?;
    let links = inspected
        .host_config
        .and_then(|h| h.links)
        .unwrap_or_default();
    let data_name = raw
        .inspect_container(&data[0].0, None)
        .await
        .map_err(|e| e.to_string())?
        .name
        .unwrap_or_default();
    assert!(
        links
            .iter()
            .any(|l| l.starts_with(&format!("{data_name}:")) && l.ends_with("/store")),
        "{links:?}"
    );
    let answer = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    assert!(answer, "the proxy serves the data service's new release");

    // Only the data service changes: the sidecar in its namespace and the
    // linked service are deployed again with it (their containers hold the
    // old container's namespace and link), as Compose recreates them; the
    // service that shares nothing is left alone.
    let started = {
        let text = compose_with(port, "h2", "h3");
        std::fs::write(&file, &text).expect("compose file");
        agent
            .deploy(DeployRequest {
                compose_file: file.display().to_string(),
                compose_text: text,
                by: "test@host-fields".into(),
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?
    };
    let mut deployed: Vec<(String, bool)> = started
        .iter()
        .map(|s| (s.service.clone(), s.unchanged))
        .collect();
    deployed.sort();
    let mut expected = vec![
        (DATA.to_owned(), false),
        (LINKED.to_owned(), false),
        (QUIET.to_owned(), true),
        (SIDECAR.to_owned(), false),
    ];
    expected.sort();
    assert_eq!(deployed, expected, "deployed again, unchanged");
    let execution = &started
        .iter()
        .find(|s| !s.unchanged)
        .ok_or("one ran")?
        .execution;
    let finished = agent
        .runtime()
        .wait(execution)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    let data = running(docker, DATA).await;
    assert_eq!(
        data.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(),
        ["r3"]
    );
    let sidecar = running(docker, SIDECAR).await;
    assert_eq!(
        sidecar.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(),
        ["r3"]
    );
    let host = raw
        .inspect_container(&sidecar[0].0, None)
        .await
        .map_err(|e| e.to_string())?
        .host_config
        .ok_or("a host config")?;
    assert_eq!(host.network_mode, Some(format!("container:{}", data[0].0)));
    let linked = running(docker, LINKED).await;
    assert_eq!(
        linked.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(),
        ["r3"]
    );
    let quiet = running(docker, QUIET).await;
    assert_eq!(
        quiet.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(),
        ["r2"]
    );
    Ok(())
}
