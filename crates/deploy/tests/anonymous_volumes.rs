//! Anonymous volumes survive a new release, as with Docker Compose: a
//! service whose file lists `volumes: [/data]` and whose image declares
//! `VOLUME /cache` (busybox from Debian's busybox-static in a `FROM
//! scratch` image) writes its release to both at every start; what the
//! releases before wrote is read back after a deploy of a new version,
//! after a rollback, and after `down` and a deploy again, and is gone only
//! after `down --volumes`. Two apps with a service of the same name never
//! share a volume, and the plan says why such a service deploys stop-first.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use windlass_deploy::agent::{Agent, DeployRequest, DownRequest, RollbackRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, ANONYMOUS_LABEL, APP_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::Status;

const APPS: [&str; 2] = ["wlanon-shop", "wlanon-blog"];
const SERVICE: &str = "wlanondb";

/// App `app`'s file: its `db` appends its release to /data/log (an
/// anonymous volume of the file) and /cache/log (a `VOLUME` of the image).
fn compose(app: &str, version: &str) -> String {
    format!(
        r#"name: {app}
services:
  {SERVICE}:
    build: ./app
    init: true
    stop_grace_period: 1s
    command: ["sh", "-c", "echo $$WINDLASS_RELEASE >> /data/log && echo $$WINDLASS_RELEASE >> /cache/log && exec /bin/busybox sleep 600"]
    environment:
      VERSION: "{version}"
    volumes: [/data]
    x-windlass:
      watch: 0s
"#
    )
}

/// A folder with the busybox image's build context for `app`.
fn folder(app: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("project-{app}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("app")).expect("project folder");
    std::fs::copy("/bin/busybox", dir.join("app/busybox"))
        .expect("Debian's busybox-static (scripts/setup installs it)");
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nVOLUME /cache\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .expect("Dockerfile");
    dir.join("compose.yaml")
}

fn request(app: &str, file: &Path, version: &str) -> DeployRequest {
    DeployRequest {
        compose_file: file.display().to_string(),
        compose_text: compose(app, version),
        by: "test@anonymous-volumes".into(),
        ..Default::default()
    }
}

async fn deploy(agent: &Agent, app: &str, file: &Path, version: &str) {
    let (_, status) = support::deploy_app(agent, file, compose(app, version), &[]).await;
    assert_eq!(status, Status::Succeeded, "{app} {version}");
}

/// What the running container of `app`'s `service` reads in `file`.
async fn read_in(docker: &Docker, app: &str, service: &str, file: &str) -> String {
    let labels = BTreeMap::from([
        (APP_LABEL.to_owned(), app.to_owned()),
        (SERVICE_LABEL.to_owned(), service.to_owned()),
    ]);
    let running: Vec<_> = docker
        .list_containers(&labels)
        .await
        .expect("containers")
        .into_iter()
        .filter(|c| c.state == RunState::Running)
        .collect();
    assert_eq!(running.len(), 1, "one container of {app}'s {service} runs");
    let out = Command::new("docker")
        .args(["exec", &running[0].id, "/bin/busybox", "cat", file])
        .output()
        .expect("docker exec");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the running container of `app`'s db reads in `file`.
async fn read(docker: &Docker, app: &str, file: &str) -> String {
    read_in(docker, app, SERVICE, file).await
}

/// Both logs of `app`'s running db, which must agree.
async fn log(docker: &Docker, app: &str) -> String {
    let data = read(docker, app, "/data/log").await;
    let cache = read(docker, app, "/cache/log").await;
    assert_eq!(data, cache, "the file's and the image's volumes alike");
    data
}

/// The volumes kept for `app`'s anonymous ones, by name.
async fn kept(docker: &Docker, app: &str) -> Vec<String> {
    let labels = BTreeMap::from([
        (APP_LABEL.to_owned(), app.to_owned()),
        (ANONYMOUS_LABEL.to_owned(), "true".to_owned()),
    ]);
    docker.list_volumes(&labels).await.expect("volumes")
}

async fn cleanup(docker: &Docker) {
    support::cleanup(docker, SERVICE).await;
    for app in APPS {
        for volume in kept(docker, app).await {
            let _ = docker.remove_volume(&volume).await;
        }
        let _ = docker.remove_network(&format!("{app}_default")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_volumes_survive_new_releases_rollbacks_and_down() {
    let docker = Docker::connect().await.expect("Docker engine");
    cleanup(&docker).await;
    let (agent, _) = support::agent(&docker).await;
    let result = scenario(&agent, &docker).await;
    cleanup(&docker).await;
    result.expect("scenario");
}

async fn scenario(agent: &Agent, docker: &Docker) -> Result<(), String> {
    let [shop, blog] = APPS;
    let files = [folder(shop), folder(blog)];

    // The plan says why: two containers would share the kept volume.
    let plan = agent
        .plan(request(shop, &files[0], "v1"))
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(plan.services[0].strategy, "stop-first", "{plan:?}");
    assert!(
        plan.services[0].why.contains("anonymous volume"),
        "{plan:?}"
    );

    deploy(agent, shop, &files[0], "v1").await;
    assert_eq!(log(docker, shop).await, "r1\n");
    let volumes = kept(docker, shop).await;
    assert_eq!(volumes.len(), 2, "/data and /cache: {volumes:?}");

    // A new version reads what the one before wrote.
    deploy(agent, shop, &files[0], "v2").await;
    assert_eq!(log(docker, shop).await, "r1\nr2\n");

    // Another app's service of the same name has volumes of its own.
    deploy(agent, blog, &files[1], "v1").await;
    assert_eq!(log(docker, blog).await, "r1\n");
    let theirs = kept(docker, blog).await;
    assert!(
        theirs.iter().all(|v| !volumes.contains(v)),
        "{volumes:?} {theirs:?}"
    );

    // A rollback starts r1 again on the same volumes.
    let back = agent
        .rollback(RollbackRequest {
            service: Some(SERVICE.into()),
            app: Some(shop.into()),
            here: None,
            release: Some("r1".into()),
            by: "test@anonymous-volumes".into(),
        })
        .await
        .map_err(|e| e.to_string())?;
    let finished = agent
        .runtime()
        .wait(&back[0].execution)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(finished.status, Status::Succeeded, "rollback");
    support::settled(agent, &[&format!("{shop}/{SERVICE}")]).await;
    assert_eq!(log(docker, shop).await, "r1\nr2\nr1\n");

    // `down` keeps them, as `docker compose down` does; a deploy again
    // reads them back. `down --volumes` removes them, this app's only.
    let down = |volumes: bool| DownRequest {
        compose_file: files[0].display().to_string(),
        compose_text: compose(shop, "v3"),
        services: Vec::new(),
        volumes,
    };
    let report = agent.down(down(false)).await.map_err(|e| e.to_string())?;
    assert!(report.volumes.is_empty(), "{report:?}");
    assert_eq!(kept(docker, shop).await, volumes);
    deploy(agent, shop, &files[0], "v3").await;
    assert_eq!(log(docker, shop).await, "r1\nr2\nr1\nr3\n");
    let report = agent.down(down(true)).await.map_err(|e| e.to_string())?;
    let mut removed = report.volumes.clone();
    removed.sort();
    assert_eq!(removed, volumes);
    assert!(kept(docker, shop).await.is_empty());
    assert_eq!(kept(docker, blog).await, theirs, "the other app's are kept");
    Ok(())
}

const IMAGE_APP: &str = "wlanon-img";
const IMAGE_SERVICE: &str = "wlanonimg";
const IMAGE_TAG: &str = "windlass-test/wlanonimg:1";

/// A service whose only anonymous volume is its image's `VOLUME /cache`,
/// its image named so that the plan can look at it.
fn image_compose(version: &str) -> String {
    format!(
        r#"name: {IMAGE_APP}
services:
  {IMAGE_SERVICE}:
    build: ./app
    image: {IMAGE_TAG}
    init: true
    stop_grace_period: 1s
    command: ["sh", "-c", "echo $$WINDLASS_RELEASE >> /cache/log && exec /bin/busybox sleep 600"]
    environment:
      VERSION: "{version}"
    x-windlass:
      watch: 0s
"#
    )
}

async fn image_cleanup(docker: &Docker) {
    support::cleanup(docker, IMAGE_SERVICE).await;
    for volume in kept(docker, IMAGE_APP).await {
        let _ = docker.remove_volume(&volume).await;
    }
    let _ = docker.remove_network(&format!("{IMAGE_APP}_default")).await;
    let _ = docker.remove_image(IMAGE_TAG).await;
}

/// The image's own `VOLUME` alone makes the service stop-first (the plan
/// says why once the image is on the engine) and is kept for its next
/// release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_volume_survives_a_new_release() {
    let docker = Docker::connect().await.expect("Docker engine");
    image_cleanup(&docker).await;
    let (agent, _) = support::agent(&docker).await;
    let result = image_scenario(&agent, &docker).await;
    image_cleanup(&docker).await;
    result.expect("scenario");
}

async fn image_scenario(agent: &Agent, docker: &Docker) -> Result<(), String> {
    let file = folder(IMAGE_APP);
    let (_, status) = support::deploy_app(agent, &file, image_compose("v1"), &[]).await;
    assert_eq!(status, Status::Succeeded, "v1");
    let plan = agent
        .plan(DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: image_compose("v2"),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(plan.services[0].strategy, "stop-first", "{plan:?}");
    assert!(plan.services[0].why.contains("VOLUME /cache"), "{plan:?}");
    let (_, status) = support::deploy_app(agent, &file, image_compose("v2"), &[]).await;
    assert_eq!(status, Status::Succeeded, "v2");
    assert_eq!(
        read_in(docker, IMAGE_APP, IMAGE_SERVICE, "/cache/log").await,
        "r1\nr2\n"
    );
    Ok(())
}
