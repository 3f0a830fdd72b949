//! Apps are isolated: two apps that both have a service `web`, deployed by
//! one agent (one state folder), and a third app's `web` deployed by
//! another agent (another state folder, another installation) on the same
//! engine, each serve on their own published port throughout each other's
//! deploys, rollbacks and `down`; `down` of one app leaves the others'
//! containers; a rollback of a bare `web` is refused with the choices, and
//! with its app named it rolls back that app's web only.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use windlass_deploy::agent::{Agent, DownRequest, Error, RollbackRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::APP_LABEL;
use windlass_deploy::Backend;
use windlass_engine::Status;
use windlass_store::releases::ServiceKey;

const APPS: [&str; 3] = ["wliso-shop", "wliso-blog", "wliso-news"];

/// App `app`'s Compose file: its `web` on 127.0.0.1:`port`, answering `version`.
fn compose(app: &str, port: u16, version: &str) -> String {
    format!(
        "name: {app}\n{}",
        support::compose("web", port, &[("TESTAPP_VERSION", version)], "0s")
    )
}

/// A project folder (build context and Compose file) for `app`.
fn folder(app: &str) -> PathBuf {
    support::project(app).join("compose.yaml")
}

fn web(app: &str) -> ServiceKey {
    ServiceKey::new(app, "web").expect("a key")
}

/// Deploys `app` from `file` as `version`; the deploy must succeed.
async fn deploy(agent: &Agent, file: &Path, app: &str, port: u16, version: &str) {
    let (_, status) = support::deploy_app(agent, file, compose(app, port, version), &[]).await;
    assert_eq!(status, Status::Succeeded, "{app} {version}");
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

/// The containers of `app` on the engine, of any installation.
async fn containers(docker: &Docker, app: &str) -> usize {
    let labels = BTreeMap::from([(APP_LABEL.to_owned(), app.to_owned())]);
    docker.list_containers(&labels).await.expect("list").len()
}

/// Removes what this test's apps left: containers, release images, networks.
async fn cleanup(docker: &Docker) {
    support::cleanup_apps(docker, &APPS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apps_with_a_service_of_one_name_never_touch_each_other() {
    let docker = Docker::connect().await.expect("Docker engine");
    cleanup(&docker).await;
    let [shop, blog, news] = APPS;
    let files: Vec<PathBuf> = APPS.iter().map(|app| folder(app)).collect();
    let ports: Vec<u16> = APPS.iter().map(|_| support::free_port()).collect();
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    // One state folder for shop and blog, another for news.
    let (first, _) = support::agent(&docker).await;
    let (second, _) = support::agent(&docker).await;
    assert_ne!(
        first.releases().installation().expect("installation"),
        second.releases().installation().expect("installation")
    );

    deploy(&first, &files[0], shop, ports[0], "shop-v1").await;
    let shop_load = support::Load::start(at(ports[0]), 2);
    deploy(&first, &files[1], blog, ports[1], "blog-v1").await;
    let blog_load = support::Load::start(at(ports[1]), 2);
    assert_eq!(
        (live(&first, shop), live(&first, blog)),
        (Some("r1".into()), Some("r1".into()))
    );

    // A new shop release, then the third app from the other state folder.
    deploy(&first, &files[0], shop, ports[0], "shop-v2").await;
    deploy(&second, &files[2], news, ports[2], "news-v1").await;
    let news_load = support::Load::start(at(ports[2]), 2);
    assert_eq!(live(&first, shop), Some("r2".into()));
    assert_eq!(live(&first, blog), Some("r1".into()), "blog untouched");
    assert_eq!(live(&second, news), Some("r1".into()));
    assert_eq!(version(ports[0]).await, "shop-v2");
    assert_eq!(version(ports[1]).await, "blog-v1");
    assert_eq!(version(ports[2]).await, "news-v1");

    // `web` alone is two apps' here: refused, with both named.
    let ambiguous = first
        .rollback(RollbackRequest {
            service: Some("web".into()),
            app: None,
            here: None,
            release: None,
            by: "test".into(),
        })
        .await;
    match ambiguous {
        Err(Error::Ambiguous { choices, .. }) => {
            assert!(
                choices.contains("wliso-shop/web") && choices.contains("wliso-blog/web"),
                "{choices}"
            );
        }
        other => panic!("expected a refusal naming both webs, got {other:?}"),
    }
    // With its app named, shop's web goes back to r1; blog's stays.
    let back = first
        .rollback(RollbackRequest {
            service: Some("web".into()),
            app: Some(shop.into()),
            here: None,
            release: None,
            by: "test".into(),
        })
        .await
        .expect("rollback starts");
    let finished = first
        .runtime()
        .wait(&back[0].execution)
        .await
        .expect("ends");
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    settle(&first, shop).await;
    assert_eq!(live(&first, shop), Some("r1".into()));
    assert_eq!(live(&first, blog), Some("r1".into()));

    // Down of blog: its containers go, the others' stay and serve.
    let blog_seen = blog_load.stop().await;
    let shop_before = containers(&docker, shop).await;
    let news_before = containers(&docker, news).await;
    let report = first
        .down(DownRequest {
            compose_file: files[1].display().to_string(),
            compose_text: compose(blog, ports[1], "blog-v1"),
            services: Vec::new(),
            volumes: false,
        })
        .await
        .expect("down");
    assert!(report.containers >= 1, "{report:?}");
    assert_eq!(containers(&docker, blog).await, 0);
    assert_eq!(containers(&docker, shop).await, shop_before);
    assert_eq!(containers(&docker, news).await, news_before);
    assert_eq!(live(&first, blog), None);
    assert_eq!(live(&first, shop), Some("r1".into()));
    assert_eq!(live(&second, news), Some("r1".into()));
    assert_eq!(version(ports[0]).await, "shop-v1");
    assert_eq!(version(ports[2]).await, "news-v1");

    // Every answer of every app came from that app's own web.
    let shop_seen = shop_load.stop().await;
    let news_seen = news_load.stop().await;
    for (app, seen) in [(shop, shop_seen), (blog, blog_seen), (news, news_seen)] {
        assert_eq!(seen.failed, 0, "{app}: {:?}", seen.failures);
        assert!(seen.requests > 0, "{app} saw no request");
    }
    cleanup(&docker).await;
}
