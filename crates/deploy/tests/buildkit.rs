//! Builds with BuildKit on the real engine (20.10 here: BuildKit through
//! the build API, no buildx): a Dockerfile with `RUN --mount=type=tmpfs`,
//! which the classic builder refuses, builds and deploys, its steps shown
//! as BuildKit names them; a failing `RUN` is reported at its Dockerfile's
//! file:line with the step's output; a build secret reaches its `RUN
//! --mount=type=secret` over a BuildKit session and stays out of the
//! image. The base image (Debian's static busybox in `FROM scratch`) is
//! made by the test.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::BuildOptions;
use windlass_deploy::probe::http_status;
use windlass_deploy::{Backend, BuildSpec};
use windlass_engine::{Outcome, Status};

/// Builds the base image `tag`: a shell and its tools, from busybox, and
/// `/case` naming the test (a step of its own, which BuildKit shows in
/// this build even when another test builds the rest at the same time).
async fn base_image(docker: &Docker, dir: &Path, tag: &str) -> Vec<String> {
    let context = dir.join("base");
    std::fs::create_dir_all(&context).expect("base context");
    std::fs::copy("/bin/busybox", context.join("busybox"))
        .expect("Debian's busybox-static at /bin/busybox (scripts/setup installs it)");
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN echo {tag} > /case\n"),
    )
    .expect("Dockerfile");
    let notes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&notes);
    let spec = BuildSpec {
        context,
        tag: tag.into(),
        ..BuildSpec::default()
    };
    docker
        .build_image_noting(&spec, &BuildOptions::default(), &move |note: &str| {
            seen.lock().expect("notes").push(note.to_owned());
        })
        .await
        .expect("the base image builds");
    let notes = notes.lock().expect("notes").clone();
    notes
}

fn cause(outcome: &Option<Outcome>) -> String {
    match outcome {
        Some(Outcome::Error { error, cause }) => format!("{error}: {cause}"),
        other => format!("{other:?}"),
    }
}

const BASE: &str = "windlass-test-buildkit-base:1";
const SECRET_BASE: &str = "windlass-test-buildkit-base:secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_mount_dockerfile_builds_with_buildkit_and_a_failed_run_names_its_line() {
    let docker = Docker::connect().await.expect("Docker engine");
    let service = "wlbuildkit";
    support::cleanup(&docker, service).await;
    let dir = support::project("buildkit");
    let notes = base_image(&docker, &dir, BASE).await;
    println!("base image steps: {notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.ends_with(&format!("] RUN echo {BASE} > /case"))),
        "BuildKit's step names are shown: {notes:?}"
    );

    // `RUN --mount` is BuildKit's: the classic builder stops at it.
    std::fs::write(
        dir.join("app/Dockerfile"),
        format!("FROM {BASE}\nCOPY testapp /app\nRUN --mount=type=tmpfs,target=/scratch echo ok > /scratch/probe && grep -q ok /scratch/probe\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"),
    )
    .expect("Dockerfile");
    let (agent, _) = support::agent(&docker).await;
    let port = support::free_port();
    let text = support::compose(service, port, &[("TESTAPP_VERSION", "v1")], "0s");
    let file = dir.join("compose.yaml");
    let (_, finished) = support::deploy(&agent, &file, service, text.clone()).await;
    let served = http_status(([127, 0, 0, 1], port).into(), "/health").await;

    // A RUN that fails on line 5 of its Dockerfile (after a continuation).
    std::fs::write(
        dir.join("app/Dockerfile"),
        format!("FROM {BASE}\nCOPY testapp /app\nRUN --mount=type=tmpfs,target=/scratch echo starting \\\n  && true\nRUN echo about to fail && exit 3\nENTRYPOINT [\"/app\"]\n"),
    )
    .expect("Dockerfile");
    let (_, failed) = support::deploy(
        &agent,
        &file,
        service,
        text.replace("TESTAPP_VERSION: \"v1\"", "TESTAPP_VERSION: \"v2\""),
    )
    .await;

    support::cleanup(&docker, service).await;
    let _ = docker.remove_image(BASE).await;

    assert_eq!(
        finished.status,
        Status::Succeeded,
        "{}",
        cause(&finished.outcome)
    );
    assert_eq!(served.expect("the deployed service answers"), 200);
    let reported = cause(&failed.outcome);
    println!("failed build: {reported}");
    assert_eq!(failed.status, Status::Failed, "{reported}");
    assert!(reported.contains("Deploy.BuildFailed"), "{reported}");
    let at = format!(
        "{}:5: `RUN echo about to fail && exit 3`",
        dir.join("app/Dockerfile").display()
    );
    assert!(reported.contains(&at), "{reported}");
    assert!(reported.contains("exit code: 3"), "{reported}");
    assert!(
        reported.contains("about to fail"),
        "the step's output: {reported}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_secret_is_served_to_its_run_and_kept_out_of_the_image() {
    let docker = Docker::connect().await.expect("Docker engine");
    let service = "wlbuildsecret";
    support::cleanup(&docker, service).await;
    let dir = support::project("buildsecret");
    base_image(&docker, &dir, SECRET_BASE).await;
    std::fs::write(dir.join("token.txt"), "s3cr3t-from-a-file\n").expect("secret file");
    std::fs::write(dir.join("key.txt"), "k-123").expect("secret file");
    // The build fails unless both secrets arrive; it checks them by their
    // SHA-256 (of "s3cr3t-from-a-file\n" and "k-123"), so that neither is
    // written in the Dockerfile, whose steps the image's history keeps.
    std::fs::write(
        dir.join("app/Dockerfile"),
        format!("FROM {SECRET_BASE}\nCOPY testapp /app\nRUN --mount=type=secret,id=token --mount=type=secret,id=api_key sha256sum /run/secrets/token | grep -q ^82a8aadf2c66759c31482ed130836b49989636b3d37e0f0d9c6627166e8274b8 && sha256sum /run/secrets/api_key | grep -q ^3605a9e4358da4302f8acea41f0f52cef85d0e3f727c7b020fc7305aec8d56b4\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"),
    )
    .expect("Dockerfile");
    let port = support::free_port();
    let text = support::compose(service, port, &[("TESTAPP_VERSION", "v1")], "0s").replace(
        "    build: ./app\n",
        "    build:\n      context: ./app\n      secrets: [token, {source: key, target: api_key}]\n",
    ) + "secrets:\n  token: {file: ./token.txt}\n  key: {file: ./key.txt}\n";
    let (agent, _) = support::agent(&docker).await;
    let file = dir.join("compose.yaml");
    let (started, finished) = support::deploy(&agent, &file, service, text).await;
    let image = agent
        .releases()
        .get(
            &agent.resolve(None, service).expect("one app has it"),
            &started.release,
        )
        .expect("store")
        .and_then(|release| release.image)
        .expect("the release's image");
    let saved = std::process::Command::new("docker")
        .args(["image", "save", &image])
        .output()
        .expect("docker image save");
    let layers = String::from_utf8_lossy(&saved.stdout).into_owned();
    support::cleanup(&docker, service).await;
    let _ = docker.remove_image(SECRET_BASE).await;

    assert_eq!(
        finished.status,
        Status::Succeeded,
        "{}",
        cause(&finished.outcome)
    );
    assert!(
        saved.status.success() && layers.contains("app"),
        "{image} saved"
    );
    assert!(
        !layers.contains("s3cr3t") && !layers.contains("k-123"),
        "the secrets are not in the image's layers"
    );
}

const SSH_BASE: &str = "windlass-test-buildkit-base:ssh";

/// `build.ssh` forwards an SSH agent to `RUN --mount=type=ssh` over the
/// build's BuildKit session: the build's connection to the agent's socket
/// in the build reaches the agent's socket here, both ways. The agent is
/// the test's own (it answers what it is sent, reversed), so the bytes
/// are known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_agent_is_forwarded_to_its_run() {
    let docker = Docker::connect().await.expect("Docker engine");
    let service = "wlbuildssh";
    support::cleanup(&docker, service).await;
    let dir = support::project("buildssh");
    base_image(&docker, &dir, SSH_BASE).await;
    let socket = dir.join("agent.sock");
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket).expect("agent socket");
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&asked);
    let agent_task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut text = Vec::new();
            if stream.read_to_end(&mut text).await.is_err() {
                continue;
            }
            seen.lock()
                .expect("asked")
                .push(String::from_utf8_lossy(&text).into_owned());
            text.reverse();
            let _ = stream.write_all(&text).await;
        }
    });
    // The build fails unless the agent's answer comes back through the
    // forwarded socket. The text is new at each run, so that BuildKit's
    // cache of an earlier run's step does not stand in for it.
    let hello = format!("hello-agent-{}", uuid::Uuid::new_v4().simple());
    let olleh: String = hello.chars().rev().collect();
    std::fs::write(
        dir.join("app/Dockerfile"),
        format!("FROM {SSH_BASE}\nCOPY testapp /app\nRUN --mount=type=ssh /app ask \"$SSH_AUTH_SOCK\" {hello} | grep -q {olleh}\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"),
    )
    .expect("Dockerfile");
    let port = support::free_port();
    let text = support::compose(service, port, &[("TESTAPP_VERSION", "v1")], "0s").replace(
        "    build: ./app\n",
        &format!(
            "    build:\n      context: ./app\n      ssh: [\"default={}\"]\n",
            socket.display()
        ),
    );
    let (agent, _) = support::agent(&docker).await;
    let file = dir.join("compose.yaml");
    let (_, finished) = support::deploy(&agent, &file, service, text).await;
    agent_task.abort();
    support::cleanup(&docker, service).await;
    let _ = docker.remove_image(SSH_BASE).await;
    assert_eq!(
        finished.status,
        Status::Succeeded,
        "{}",
        cause(&finished.outcome)
    );
    assert_eq!(*asked.lock().expect("asked"), [hello]);
}
