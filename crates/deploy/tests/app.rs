//! A Compose app of two HTTP services deployed as one app release on the
//! real engine: one execution for both, traffic of both moved together; a
//! release where one service turns bad after the switch puts both back on
//! the app release before it; `rollback` without a service takes the whole
//! app back to an earlier app release; `down` removes it all. A load
//! generator on each service sees no failed request throughout.

mod support;

use std::net::SocketAddr;
use std::path::Path;

use windlass_deploy::agent::{Agent, DownRequest, RollbackRequest, Started};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::SERVICE_LABEL;
use windlass_deploy::Backend;
use windlass_engine::Status;
use windlass_store::releases::Outcome;

const WEB: &str = "wlappweb";
const API: &str = "wlappapi";

fn service(name: &str, port: u16, version: &str, error_ratio: &str) -> String {
    format!(
        "  {name}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n      TESTAPP_ERROR_RATIO: \"{error_ratio}\"\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 2s\n      rollback_on: {{server_error_ratio: 0.1, failed_health_checks: 3}}\n"
    )
}

fn compose(ports: (u16, u16), version: &str, api_errors: &str) -> String {
    format!(
        "name: wlapp\nservices:\n{}{}",
        service(WEB, ports.0, version, "0"),
        service(API, ports.1, version, api_errors)
    )
}

async fn deploy(agent: &Agent, file: &Path, text: String) -> (Vec<Started>, Status) {
    support::deploy_app(agent, file, text, &[WEB, API]).await
}

fn live(agent: &Agent) -> (Option<String>, Option<String>) {
    let of = |s: &str| {
        agent
            .releases()
            .live(&key(s))
            .expect("live")
            .map(|l| l.release)
    };
    (of(WEB), of(API))
}

/// The app's service `service`.
fn key(service: &str) -> windlass_store::releases::ServiceKey {
    windlass_store::releases::ServiceKey::new("wlapp", service).expect("a key")
}

fn pair(web: &str, api: &str) -> (Option<String>, Option<String>) {
    (Some(web.into()), Some(api.into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_deploys_and_rolls_back_as_one_release() {
    let docker = Docker::connect().await.expect("Docker engine");
    for s in [WEB, API] {
        support::cleanup(&docker, s).await;
    }
    let dir = support::project("app");
    let file = dir.join("compose.yaml");
    let ports = (support::free_port(), support::free_port());
    let (agent, _store) = support::agent(&docker).await;

    let (started, status) = deploy(&agent, &file, compose(ports, "v1", "0")).await;
    assert_eq!(status, Status::Succeeded);
    assert_eq!(started.len(), 2);
    assert_eq!(started[0].execution, started[1].execution, "one execution");
    assert_eq!(started[0].app_release.as_deref(), Some("a1"));
    assert_eq!(live(&agent), pair("r1", "r1"));

    // The same file again: nothing changed, so nothing is deployed.
    let (started, status) = deploy(&agent, &file, compose(ports, "v1", "0")).await;
    assert_eq!(status, Status::Succeeded);
    assert!(started.iter().all(|s| s.unchanged), "{started:?}");
    assert!(
        started.iter().all(|s| s.execution.is_empty()),
        "{started:?}"
    );
    assert_eq!(
        agent.releases().app_releases("wlapp").expect("read").len(),
        1,
        "no new app release"
    );

    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let web_load = support::Load::start(at(ports.0), 2);
    let api_load = support::Load::start(at(ports.1), 2);

    // v2: the api answers 5xx once it serves; the watch rolls back the whole
    // app, web included, though web was fine.
    let (_, status) = deploy(&agent, &file, compose(ports, "v2", "1")).await;
    assert_eq!(status, Status::Failed);
    assert_eq!(live(&agent), pair("r1", "r1"));
    let releases = agent.releases();
    let a2 = releases
        .app_release("wlapp", "a2")
        .expect("read")
        .expect("a2");
    assert_eq!(a2.outcome, Outcome::RolledBack);
    assert!(
        a2.detail
            .as_deref()
            .is_some_and(|d| d.contains("Deploy.ServerErrors")),
        "{:?}",
        a2.detail
    );
    for s in [WEB, API] {
        let r2 = releases.get(&key(s), "r2").expect("read").expect("r2");
        assert_eq!(r2.outcome, Outcome::RolledBack, "{s}");
    }

    // v3 is good: both move.
    let (_, status) = deploy(&agent, &file, compose(ports, "v3", "0")).await;
    assert_eq!(status, Status::Succeeded);
    assert_eq!(live(&agent), pair("r3", "r3"));

    // The app back to its previous app release that went live: a1.
    let back = agent
        .rollback(RollbackRequest {
            service: None,
            app: None,
            here: None,
            release: None,
            by: "test@app".into(),
        })
        .await
        .expect("rollback starts");
    assert_eq!(back[0].app_release.as_deref(), Some("a1"));
    let finished = agent
        .runtime()
        .wait(&back[0].execution)
        .await
        .expect("ends");
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(live(&agent), pair("r1", "r1"));
    // The lock is freed once the rollback's waiter sees it end.
    for _ in 0..100 {
        if releases.lock_of(&key(WEB)).expect("lock").is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let a3 = releases
        .app_release("wlapp", "a3")
        .expect("read")
        .expect("a3");
    assert_eq!(a3.outcome, Outcome::RolledBack);
    // A release that never went live is refused as a rollback target.
    let refused = agent
        .rollback(RollbackRequest {
            service: None,
            app: Some("wlapp".into()),
            here: None,
            release: Some("a2".into()),
            by: "test@app".into(),
        })
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let unknown = agent
        .rollback(RollbackRequest {
            service: None,
            app: Some("wlapp".into()),
            here: None,
            release: Some("a99".into()),
            by: "test@app".into(),
        })
        .await
        .expect_err("no a99");
    // Not "service app wlapp has no release a99".
    assert_eq!(unknown.to_string(), "app wlapp has no release a99");

    // Only the api changes: only the api is deployed; the app release keeps
    // web's live release.
    let mut changed = compose(ports, "v1", "0");
    changed = changed.replace(
        &format!("  {API}:\n"),
        &format!("  {API}:\n    labels: {{tier: api}}\n"),
    );
    let (started, status) = deploy(&agent, &file, changed).await;
    assert_eq!(status, Status::Succeeded);
    let web_started = started.iter().find(|s| s.service == WEB).expect("web");
    let api_started = started.iter().find(|s| s.service == API).expect("api");
    assert!(web_started.unchanged, "{started:?}");
    assert!(!api_started.unchanged, "{started:?}");
    assert_eq!(live(&agent), pair("r1", "r4"));
    let a4 = releases
        .app_release("wlapp", "a4")
        .expect("read")
        .expect("a4");
    let members: Vec<_> = a4
        .services
        .iter()
        .map(|m| (m.service.as_str(), m.release.as_str(), m.changed))
        .collect();
    assert!(members.contains(&(WEB, "r1", false)), "{members:?}");
    assert!(members.contains(&(API, "r4", true)), "{members:?}");

    let web = web_load.stop().await;
    let api = api_load.stop().await;
    for (name, seen) in [("web", &web), ("api", &api)] {
        println!("{name}: {seen:?}");
        assert!(seen.requests > 50, "{name}: {seen:?}");
        assert_eq!(seen.failed, 0, "{name}: {:?}", seen.failures);
    }
    assert_eq!(web.app_errors, 0, "web never answered 5xx");

    // Down: every container, proxy and live pointer of the app goes.
    let report = agent
        .down(DownRequest {
            compose_file: file.display().to_string(),
            compose_text: std::fs::read_to_string(&file).expect("compose"),
            services: Vec::new(),
            volumes: false,
        })
        .await
        .expect("down");
    assert_eq!(report.services, [WEB, API]);
    assert!(report.containers >= 2, "{report:?}");
    assert_eq!(live(&agent), (None, None));
    for s in [WEB, API] {
        let labels = [(SERVICE_LABEL.to_owned(), s.to_owned())].into();
        let left = docker.list_containers(&labels).await.expect("list");
        assert!(left.is_empty(), "{s}: {left:?}");
    }
    assert!(
        std::net::TcpStream::connect(at(ports.0)).is_err(),
        "web's proxy is closed"
    );
    // Taken down, no app release serves: a rollback needs `--to`.
    let state = agent.releases().app_state("wlapp").expect("state");
    assert_eq!(state.live, None, "{state:?}");
    let nothing = agent
        .rollback(RollbackRequest {
            service: None,
            app: Some("wlapp".into()),
            here: None,
            release: None,
            by: "test@app".into(),
        })
        .await
        .expect_err("nothing serves");
    assert_eq!(
        nothing.to_string(),
        "app wlapp has no live release to roll back from"
    );
    let back = agent
        .rollback(RollbackRequest {
            service: None,
            app: Some("wlapp".into()),
            here: None,
            release: Some("a1".into()),
            by: "test@app".into(),
        })
        .await
        .expect("--to a1 starts");
    let finished = agent
        .runtime()
        .wait(&back[0].execution)
        .await
        .expect("ends");
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(live(&agent), pair("r1", "r1"));
    for s in [WEB, API] {
        support::cleanup(&docker, s).await;
    }
}

/// A service that runs an image built or loaded on this machine (no
/// registry digest, as every stand-in and `docker load`ed image): the same
/// file again leaves it alone, pinned by the image's id, as it leaves a
/// built service alone; a new image under the same tag deploys it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_local_image_unchanged_is_left_alone() {
    const LOCAL: &str = "wllocalimg";
    const IMAGE: &str = "windlass-test/local-image:unchanged";
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, LOCAL).await;
    let dir = support::project("local-image");
    let build = |version: &str| {
        let status = std::process::Command::new("docker")
            .args(["build", "-q", "-t", IMAGE, "--label"])
            .arg(format!("version={version}"))
            .arg(dir.join("app"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("docker build");
        assert!(status.success(), "docker build {IMAGE}");
    };
    build("1");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let text = format!(
        "name: wllocal\nservices:\n  {LOCAL}:\n    image: {IMAGE}\n    ports: [\"127.0.0.1:{port}:8080\"]\n    stop_grace_period: 1s\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 1s\n"
    );
    let (agent, _store) = support::agent(&docker).await;
    let key = windlass_store::releases::ServiceKey::new("wllocal", LOCAL).expect("a key");

    let (started, status) = support::deploy_app(&agent, &file, text.clone(), &[LOCAL]).await;
    assert_eq!(status, Status::Succeeded, "{started:?}");
    let r1 = agent.releases().get(&key, "r1").expect("read").expect("r1");
    assert!(
        r1.digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:")),
        "pinned by the image's id: {:?}",
        r1.digest
    );

    let (started, status) = support::deploy_app(&agent, &file, text.clone(), &[LOCAL]).await;
    assert_eq!(status, Status::Succeeded);
    assert!(started.iter().all(|s| s.unchanged), "{started:?}");

    build("2");
    let (started, status) = support::deploy_app(&agent, &file, text, &[LOCAL]).await;
    assert_eq!(status, Status::Succeeded);
    assert!(started.iter().all(|s| !s.unchanged), "{started:?}");
    assert_eq!(
        agent
            .releases()
            .live(&key)
            .expect("live")
            .map(|l| l.release),
        Some("r2".to_owned())
    );

    support::cleanup(&docker, LOCAL).await;
    let _ = docker.remove_image(IMAGE).await;
}
