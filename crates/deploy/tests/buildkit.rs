//! Builds with BuildKit on the real engine (20.10 here: BuildKit through
//! the build API, no buildx): a Dockerfile with `RUN --mount=type=tmpfs`,
//! which the classic builder refuses, builds and deploys, its steps shown
//! as BuildKit names them; a failing `RUN` is reported at its Dockerfile's
//! file:line with the step's output. The base image (Debian's static
//! busybox in `FROM scratch`) is made by the test.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::BuildOptions;
use windlass_deploy::probe::http_status;
use windlass_deploy::{Backend, BuildSpec};
use windlass_engine::{Outcome, Status};

const BASE: &str = "windlass-test-buildkit-base:1";

/// Builds the base image: a shell and its tools, from busybox.
async fn base_image(docker: &Docker, dir: &Path) -> Vec<String> {
    let context = dir.join("base");
    std::fs::create_dir_all(&context).expect("base context");
    std::fs::copy("/bin/busybox", context.join("busybox"))
        .expect("Debian's busybox-static at /bin/busybox (scripts/setup installs it)");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .expect("Dockerfile");
    let notes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&notes);
    let spec = BuildSpec {
        context,
        tag: BASE.into(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_mount_dockerfile_builds_with_buildkit_and_a_failed_run_names_its_line() {
    let docker = Docker::connect().await.expect("Docker engine");
    let service = "wlbuildkit";
    support::cleanup(&docker, service).await;
    let dir = support::project("buildkit");
    let notes = base_image(&docker, &dir).await;
    println!("base image steps: {notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("RUN [\"/bin/busybox\"")),
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
