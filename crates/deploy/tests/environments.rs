//! Two environments of one app on one engine never touch each other, as two
//! apps do not: staging (its override file) and production
//! (`x-windlass.environments`) of one app deployed side by side on their own
//! ports, under load on both; a new staging release, a rollback of staging
//! and a promotion of staging's image to production (built once: the
//! production release runs staging's exact image with production's
//! configuration, and records where it came from), then `down` of staging.
//! Production serves throughout, staging while it is up; no request fails.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use windlass_deploy::agent::{promote, Agent, DownRequest, RollbackRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::APP_LABEL;
use windlass_deploy::compose::{self, Options, Origin, Severity};
use windlass_deploy::Backend;
use windlass_engine::Status;
use windlass_store::releases::{Environment, ServiceKey};

const APP: &str = "wlenv-shop";
const STAGING: &str = "wlenv-shop.staging";
const PRODUCTION: &str = "wlenv-shop.production";

fn env(name: &str) -> Environment {
    name.parse().expect("an environment")
}

fn web(app: &str) -> ServiceKey {
    ServiceKey::new(app, "web").expect("a key")
}

/// The app's files: the base (production in `x-windlass.environments`) and
/// staging's override, each environment on its port answering `version`.
fn write_files(dir: &Path, ports: (u16, u16), staging_version: &str) -> PathBuf {
    let base = dir.join("compose.yaml");
    std::fs::write(
        &base,
        format!(
            "name: {APP}\nservices:\n  web:\n    build: ./app\n    init: true\n    stop_grace_period: 2s\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\nx-windlass:\n  environments:\n    production:\n      services:\n        web:\n          ports: [\"127.0.0.1:{}:8080\"]\n          environment:\n            TESTAPP_VERSION: production\n",
            ports.1
        ),
    )
    .expect("compose.yaml");
    std::fs::write(
        dir.join("compose.staging.yaml"),
        format!(
            "services:\n  web:\n    ports: [\"127.0.0.1:{}:8080\"]\n    environment:\n      TESTAPP_VERSION: {staging_version}\n",
            ports.0
        ),
    )
    .expect("compose.staging.yaml");
    base
}

/// The pinned text of environment `name` (with `promotion`'s images).
fn pinned(base: &Path, name: &str, promotion: Option<Origin>) -> String {
    let env = env(name);
    let mut files = vec![base.to_owned()];
    files.extend(compose::override_file(base, &env));
    let options = Options {
        env: Some(env),
        promotion,
        ..Options::from_process()
    };
    let (pinned, diagnostics) = compose::pin_files(&files, &options);
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
    pinned.expect("pinned").1
}

/// Deploys environment `name` from `text`; the deploy must succeed.
async fn deploy(agent: &Agent, base: &Path, app: &str, text: String) {
    let started = agent
        .deploy(windlass_deploy::agent::DeployRequest {
            compose_file: base.display().to_string(),
            compose_text: text,
            by: "test".into(),
            ..Default::default()
        })
        .await
        .expect("deploy starts");
    let deployed = started.iter().find(|s| !s.unchanged).expect("a deploy");
    let finished = agent
        .runtime()
        .wait(&deployed.execution)
        .await
        .expect("ends");
    assert_eq!(finished.status, Status::Succeeded, "{app}: {finished:?}");
    settle(agent, app).await;
}

/// Waits until the app's web is free of its deploy's lock.
async fn settle(agent: &Agent, app: &str) {
    for _ in 0..500 {
        if agent.releases().lock_of(&web(app)).expect("lock").is_none() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{app}/web stayed locked");
}

fn live(agent: &Agent, app: &str) -> Option<String> {
    agent
        .releases()
        .live(&web(app))
        .expect("live")
        .map(|l| l.release)
}

/// The digest a release of `app`'s web recorded.
fn digest(agent: &Agent, app: &str, release: &str) -> String {
    agent
        .releases()
        .get(&web(app), release)
        .expect("store")
        .and_then(|r| r.digest)
        .expect("a digest")
}

/// What the web on 127.0.0.1:`port` says it is (`/version`).
async fn version(port: u16) -> String {
    let client: support::LoadClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri = format!("http://127.0.0.1:{port}/version")
        .parse()
        .expect("uri");
    support::answer(&client, &uri)
        .await
        .expect("an answer")
        .body
}

async fn containers(docker: &Docker, app: &str) -> usize {
    let labels = BTreeMap::from([(APP_LABEL.to_owned(), app.to_owned())]);
    docker.list_containers(&labels).await.expect("list").len()
}

/// Removes what this test left: containers, release images, networks.
async fn cleanup(docker: &Docker) {
    support::cleanup_apps(docker, &[STAGING, PRODUCTION]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staging_and_production_of_one_app_never_touch_each_other() {
    let docker = Docker::connect().await.expect("Docker engine");
    cleanup(&docker).await;
    let dir = support::project("environments");
    let ports = (support::free_port(), support::free_port());
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let base = write_files(&dir, ports, "staging-v1");
    let (agent, _) = support::agent(&docker).await;

    deploy(&agent, &base, STAGING, pinned(&base, "staging", None)).await;
    let staging_load = support::Load::start(at(ports.0), 2);
    deploy(&agent, &base, PRODUCTION, pinned(&base, "production", None)).await;
    let production_load = support::Load::start(at(ports.1), 2);
    assert_eq!(live(&agent, STAGING), Some("r1".into()));
    assert_eq!(live(&agent, PRODUCTION), Some("r1".into()));
    assert_eq!(version(ports.0).await, "staging-v1");
    assert_eq!(version(ports.1).await, "production");
    let staging_v1 = digest(&agent, STAGING, "r1");

    // A new staging release leaves production alone.
    write_files(&dir, ports, "staging-v2");
    deploy(&agent, &base, STAGING, pinned(&base, "staging", None)).await;
    assert_eq!(live(&agent, STAGING), Some("r2".into()));
    assert_eq!(live(&agent, PRODUCTION), Some("r1".into()));
    assert_eq!(version(ports.0).await, "staging-v2");

    // Staging's app rollback moves staging only.
    let back = agent
        .rollback(RollbackRequest {
            service: None,
            app: Some(STAGING.into()),
            here: None,
            release: None,
            by: "test".into(),
        })
        .await
        .expect("rollback starts");
    let finished = agent
        .runtime()
        .wait(&back[0].execution)
        .await
        .expect("ends");
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    settle(&agent, STAGING).await;
    assert_eq!(live(&agent, STAGING), Some("r1".into()));
    assert_eq!(live(&agent, PRODUCTION), Some("r1".into()));
    assert_eq!(version(ports.0).await, "staging-v1");
    assert_eq!(version(ports.1).await, "production");

    // Promote staging's image: a build now would make another image (the
    // Dockerfile changed), so the same digest means nothing was built.
    let dockerfile = dir.join("app/Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).expect("Dockerfile");
    std::fs::write(&dockerfile, format!("{text}LABEL changed=after-staging\n")).expect("write");
    let origin = promote::origin(agent.releases().as_ref(), APP, &env("staging")).expect("origin");
    assert_eq!(origin.services["web"].release, "r1");
    deploy(
        &agent,
        &base,
        PRODUCTION,
        pinned(&base, "production", Some(origin)),
    )
    .await;
    assert_eq!(live(&agent, PRODUCTION), Some("r2".into()));
    assert_eq!(digest(&agent, PRODUCTION, "r2"), staging_v1);
    assert_eq!(
        version(ports.1).await,
        "production",
        "production's configuration"
    );
    let promoted = agent
        .releases()
        .get(&web(PRODUCTION), "r2")
        .expect("store")
        .expect("r2");
    let recorded = compose::origin_of(&promoted.compose_text).expect("origin recorded");
    assert_eq!(
        (recorded.environment.as_str(), recorded.app.as_str()),
        ("staging", STAGING)
    );
    assert_eq!(recorded.services["web"].digest, staging_v1);
    let spec = compose::parse_pinned(&promoted.compose_text, &base).expect("pinned");
    assert!(spec.services["web"].build.is_none(), "nothing to build");

    // Down of staging: its containers go, production's stay and serve.
    let staging_seen = staging_load.stop().await;
    let production_before = containers(&docker, PRODUCTION).await;
    let report = agent
        .down(DownRequest {
            compose_file: base.display().to_string(),
            compose_text: pinned(&base, "staging", None),
            services: Vec::new(),
            volumes: false,
        })
        .await
        .expect("down");
    assert!(report.containers >= 1, "{report:?}");
    assert_eq!(containers(&docker, STAGING).await, 0);
    assert_eq!(containers(&docker, PRODUCTION).await, production_before);
    assert_eq!(live(&agent, STAGING), None);
    assert_eq!(version(ports.1).await, "production");
    let refused = promote::origin(agent.releases().as_ref(), APP, &env("staging"))
        .expect_err("staging has nothing live");
    assert!(refused.to_string().contains("no live release"), "{refused}");

    let production_seen = production_load.stop().await;
    for (name, seen) in [("staging", staging_seen), ("production", production_seen)] {
        eprintln!(
            "{name}: {} requests, {} failed, by release {:?}",
            seen.requests, seen.failed, seen.by_release
        );
        assert_eq!(seen.failed, 0, "{name}: {:?}", seen.failures);
        assert!(seen.requests > 0, "{name} saw no request");
    }
    cleanup(&docker).await;
}
