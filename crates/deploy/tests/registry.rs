//! A deploy that pushes its image to a real registry (Debian's
//! `docker-registry` on a loopback port) and pins the release by the digest
//! the registry gave.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use windlass_deploy::backend::docker::Docker;
use windlass_deploy::Backend;
use windlass_engine::Status;

const SERVICE: &str = "wlregistry";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_image_is_pushed_and_pinned_by_its_registry_digest() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("registry");
    let registry_port = support::free_port();
    let config = dir.join("registry.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{registry_port}\n",
            dir.join("registry-data").display()
        ),
    )
    .expect("registry config");
    let mut registry = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (Debian package docker-registry; scripts/setup installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", registry_port)).is_err() {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(20));
    }

    let repo = format!("127.0.0.1:{registry_port}/windlass-test/{SERVICE}");
    let text = support::compose(
        SERVICE,
        support::free_port(),
        &[("TESTAPP_VERSION", "v1")],
        "1s",
    )
    .replace(
        "    build: ./app\n",
        &format!("    build: ./app\n    image: {repo}\n"),
    )
    .replace("    x-windlass:\n", "    x-windlass:\n      push: true\n");
    let file = dir.join("compose.yaml");
    let (agent, _) = support::agent(&docker).await;
    let (started, finished) = support::deploy(&agent, &file, SERVICE, text).await;
    let release = agent
        .releases()
        .get(
            &agent.resolve(None, SERVICE).expect("one app has it"),
            &started.release,
        )
        .expect("store")
        .expect("release");
    let pushed = docker.image_digests(&format!("{repo}:r1")).await;
    support::cleanup(&docker, SERVICE).await;
    let _ = docker.remove_image(&format!("{repo}:r1")).await;
    let _ = docker.remove_image(&repo).await;
    let _ = registry.kill();
    let _ = registry.wait();

    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    let digest = release.digest.expect("a digest");
    println!("release r1 pinned at {digest}");
    assert!(digest.starts_with(&format!("{repo}@sha256:")), "{digest}");
    assert!(pushed.expect("pushed image").contains(&digest));
}
