//! Pushing to and pulling from a registry that wants a login (Debian's
//! `docker-registry` with htpasswd on a loopback port): without credentials
//! the deploy fails and is rolled back with the registry's refusal; with the
//! registry's credentials (as `docker login` or WINDLASS_REGISTRY_* give
//! them) the image is pushed, and pulled again where it is missing.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use windlass_deploy::agent::Agent;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::credentials::Credentials;
use windlass_deploy::{workflow, Backend, RegistryAuth};
use windlass_engine::{Outcome, Status};
use windlass_store::memory::MemoryStore;
use windlass_store::releases::SqliteReleases;

const SERVICE: &str = "wlregauth";
const PULLER: &str = "wlregpull";

/// A registry on `port` that accepts alice / s3cret only.
fn registry(dir: &Path, port: u16) -> Child {
    let htpasswd = dir.join("htpasswd");
    let made = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import bcrypt; open({:?}, 'w').write('alice:' + bcrypt.hashpw(b's3cret', bcrypt.gensalt(rounds=5)).decode() + '\\n')",
            htpasswd.display().to_string()
        ))
        .status()
        .expect("python3");
    assert!(
        made.success(),
        "bcrypt (requirements-test.txt) makes the htpasswd file"
    );
    let config = dir.join("registry-auth.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: windlass-test\n    path: {}\n",
            dir.join("registry-auth-data").display(),
            htpasswd.display()
        ),
    )
    .expect("registry config");
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (Debian package docker-registry; scripts/setup installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn agent(docker: &Docker, credentials: Credentials) -> Agent {
    Agent::new(
        Arc::new(MemoryStore::new()),
        Arc::new(SqliteReleases::in_memory().expect("releases")),
        Arc::new(docker.clone()),
        workflow::Config {
            credentials,
            ..workflow::Config::default()
        },
    )
}

fn cause(outcome: &Option<Outcome>) -> String {
    match outcome {
        Some(Outcome::Error { cause, .. }) => cause.clone(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_of_the_image_registry_are_used_to_push_and_pull() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    support::cleanup(&docker, PULLER).await;
    let dir = support::project("registry-auth");
    let port = support::free_port();
    let mut child = registry(&dir, port);
    let repo = format!("127.0.0.1:{port}/windlass-test/{SERVICE}");
    let result = scenario(&docker, &dir, port, &repo).await;
    support::cleanup(&docker, SERVICE).await;
    support::cleanup(&docker, PULLER).await;
    for tag in ["r1", "r2", "latest"] {
        let _ = docker.remove_image(&format!("{repo}:{tag}")).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    result.expect("scenario");
}

async fn scenario(docker: &Docker, dir: &Path, port: u16, repo: &str) -> Result<(), String> {
    let file = dir.join("compose.yaml");
    let text = support::compose(
        SERVICE,
        support::free_port(),
        &[("TESTAPP_VERSION", "v1")],
        "0s",
    )
    .replace(
        "    build: ./app\n",
        &format!("    build: ./app\n    image: {repo}\n"),
    )
    .replace("    x-windlass:\n", "    x-windlass:\n      push: true\n");

    // No credentials: the registry refuses the push, and nothing goes live.
    let anonymous = agent(docker, Credentials::default());
    anonymous.resume().await.map_err(|e| e.to_string())?;
    let (_, finished) = support::deploy(&anonymous, &file, SERVICE, text.clone()).await;
    let refused = cause(&finished.outcome);
    if finished.status != Status::Failed
        || !refused.contains("Deploy.PushFailed")
        || !(refused.contains("no basic auth credentials") || refused.contains("unauthorized"))
    {
        return Err(format!(
            "a push without credentials: {:?}: {refused}",
            finished.status
        ));
    }

    // With the registry's credentials: pushed and pinned by its digest.
    let login = Credentials::new(vec![RegistryAuth {
        username: "alice".into(),
        password: "s3cret".into(),
        server: format!("127.0.0.1:{port}"),
    }]);
    let pusher = agent(docker, login.clone());
    pusher.resume().await.map_err(|e| e.to_string())?;
    let (started, finished) = support::deploy(&pusher, &file, SERVICE, text).await;
    if finished.status != Status::Succeeded {
        return Err(format!(
            "the push with credentials: {}",
            cause(&finished.outcome)
        ));
    }
    let release = pusher
        .releases()
        .get(
            &pusher.resolve(None, SERVICE).map_err(|e| e.to_string())?,
            &started.release,
        )
        .map_err(|e| e.to_string())?
        .ok_or("no release")?;
    let digest = release.digest.unwrap_or_default();
    assert!(digest.starts_with(&format!("{repo}@sha256:")), "{digest}");

    // Another service runs the pushed image, which this engine no longer has:
    // refused without credentials, pulled with them.
    let pushed = format!("{repo}:{}", started.release);
    support::cleanup(docker, SERVICE).await;
    docker
        .remove_image(&pushed)
        .await
        .map_err(|e| e.to_string())?;
    let puller_file = dir.join("puller.yaml");
    let puller = support::compose(
        PULLER,
        support::free_port(),
        &[("TESTAPP_VERSION", "p1")],
        "0s",
    )
    .replace("    build: ./app\n", &format!("    image: {pushed}\n"));
    let (_, finished) = support::deploy(&anonymous, &puller_file, PULLER, puller.clone()).await;
    let refused = cause(&finished.outcome);
    if finished.status != Status::Failed || !refused.contains("cannot be pulled") {
        return Err(format!(
            "a pull without credentials: {:?}: {refused}",
            finished.status
        ));
    }
    let (_, finished) = support::deploy(&pusher, &puller_file, PULLER, puller).await;
    if finished.status != Status::Succeeded {
        return Err(format!(
            "the pull with credentials: {}",
            cause(&finished.outcome)
        ));
    }
    Ok(())
}
