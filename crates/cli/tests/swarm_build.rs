//! Building for a Swarm and environments on a Swarm, with the real binary
//! on a real three-node Swarm (`support::swarm`), made once for the tests
//! of this file and removed after the last one; they run one at a time
//! (they publish the same ports).
//!
//! - A service with `build` and `image: registry:5000/NAME` is built on the
//!   manager, pushed to the test registry and run pinned by digest on every
//!   node; a second version is built and deployed, a rollback runs the
//!   first again; with `pull_policy: missing` the registry's `image` is
//!   run and nothing built; a Dockerfile error is reported at its line and leaves the
//!   app as it was; a built service without a registry `image` is refused
//!   before anything starts.
//! - Environments on the Swarm: an app whose environments `staging` and
//!   `production` each say `x-windlass.target: swarm` (the base file says
//!   no target) is deployed as `APP.staging`, then `--env production
//!   --from staging` runs staging's pushed digest in production without
//!   building; each environment serves on its own port, and a new staging
//!   build leaves production as it was.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use support::swarm::{Shared, Swarm, REGISTRY};

/// The Swarm the file's 2 tests share.
static SWARM: Shared = Shared::new(2, 0);

async fn body(address: SocketAddr) -> String {
    let client: support::LoadClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri: hyper::Uri = format!("http://{address}/version").parse().expect("uri");
    match support::answer(&client, &uri).await {
        Ok(answer) => answer.body,
        Err(e) => format!("no answer: {e}"),
    }
}

fn on(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Runs the windlass binary against the test Swarm; its exit code, stdout
/// and stderr.
fn windlass(
    swarm: &Swarm,
    entry: &str,
    state: &Path,
    folder: &Path,
    args: &[&str],
) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(folder)
        .env("DOCKER_HOST", swarm.docker_host())
        .env("WINDLASS_SWARM_ENTRY_IMAGE", entry)
        .env("WINDLASS_STATE", state)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run windlass");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("$ windlass {}\n{out}{err}", args.join(" "));
    (output.status.code().unwrap_or(-1), out, err)
}

/// A folder with the static test app (`support::swarm::static_testapp`) and a
/// Dockerfile that serves the build argument VERSION as its version.
fn app_folder(name: &str, dockerfile_extra: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::copy(support::swarm::static_testapp(), folder.join("testapp"))
        .expect("the static test app");
    write_dockerfile(&folder, dockerfile_extra);
    folder
}

fn write_dockerfile(folder: &Path, extra: &str) {
    std::fs::write(
        folder.join("Dockerfile"),
        format!("FROM scratch\nARG VERSION\n{extra}ENV TESTAPP_VERSION=$VERSION\nCOPY testapp /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"),
    )
    .expect("Dockerfile");
}

/// The app `wlswarm-built`: one built service `web`, its image pushed to
/// `image`, serving build argument VERSION.
fn built_compose(image: &str, version: &str) -> String {
    format!(
        "name: wlswarm-built\nservices:\n  web:\n    build: {{context: ., args: {{VERSION: {version}}}}}\n    image: {image}\n    pull_policy: build\n    ports: [{{target: 8080, published: 8000, app_protocol: http}}]\n    healthcheck: {{test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}}\n    deploy: {{replicas: 2}}\n    init: true\n    stop_grace_period: 2s\n    x-windlass: {{target: swarm, watch: 1s}}\n"
    )
}

/// The images the Swarm runs for `wlswarm-built`'s web (its releases).
fn running_images(swarm: &Swarm) -> Vec<String> {
    images_of(swarm, "wlswarm-built")
}

/// The images of app `app`'s web services on the Swarm.
fn images_of(swarm: &Swarm, app: &str) -> Vec<String> {
    let label = format!("label=windlass.app={app}");
    let ids = swarm.on(
        0,
        &[
            "service",
            "ls",
            "--filter",
            &label,
            "--filter",
            "label=windlass.service=web",
            "-q",
        ],
    );
    ids.lines()
        .map(|id| {
            swarm.on(
                0,
                &[
                    "service",
                    "inspect",
                    id,
                    "--format",
                    "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
                ],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_service_is_built_on_the_manager_pushed_and_rolled_back() {
    let turn = SWARM.turn().await;
    let (swarm, entry) = (turn.swarm, turn.entry);
    let folder = app_folder("wlswarm-built", "");
    let state = folder.join("state");
    let file = folder.join("compose.yaml");
    let run = |args: &[&str]| {
        tokio::task::block_in_place(|| windlass(swarm, entry, &state, &folder, args))
    };
    let web = on(swarm.nodes[1].app_ports[0]);
    let image = format!("{REGISTRY}/wlswarm-built");

    // No registry in `image`: refused before anything starts.
    std::fs::write(&file, built_compose("wlswarm-built", "build-0")).expect("compose");
    let (code, _, err) = run(&["deploy"]);
    assert_eq!(code, 7, "{err}");
    assert!(
        err.contains("services.web.image: wlswarm-built names no registry"),
        "{err}"
    );
    let (code, _, err) = run(&["deploy", "--dry-run"]);
    assert_eq!(code, 7, "the plan refuses it too: {err}");
    assert!(running_images(swarm).is_empty(), "nothing started");

    std::fs::write(&file, built_compose(&image, "build-1")).expect("compose");
    let began = std::time::Instant::now();
    let (code, _, err) = run(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    eprintln!(
        "swarm: build, push and deploy of a built service took {:.1} s",
        began.elapsed().as_secs_f64()
    );
    // The build's and the push's progress lines are sampled (every 250 ms)
    // and a build of cached layers may end between two samples: they are
    // printed when seen, not asserted.
    assert_eq!(body(web).await, "build-1");
    let first = running_images(swarm);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0].starts_with(&format!("{image}@sha256:")),
        "every node runs the pushed digest: {first:?}"
    );
    // The registry has the release's tag, as the nodes pull it.
    let pulled = swarm.on(2, &["pull", &format!("{image}:wlswarm-built-r1")]);
    assert!(pulled.contains("wlswarm-built-r1"), "{pulled}");

    std::fs::write(&file, built_compose(&image, "build-2")).expect("compose");
    let (code, _, err) = run(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body(web).await, "build-2");
    let (code, out, _) = run(&["releases", "web"]);
    assert_eq!(code, 0);
    assert!(out.contains("r1") && out.contains("r2"), "{out}");

    let (code, _, err) = run(&["rollback", "--target", "swarm"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body(web).await, "build-1", "rolled back to the first build");
    assert!(
        !err.contains("  web: "),
        "a rollback builds and pushes nothing: {err}"
    );
    assert_eq!(
        running_images(swarm)
            .iter()
            .filter(|i| **i == first[0])
            .count(),
        1,
        "the first release's digest serves again"
    );

    // `pull_policy: missing`: the registry has `image` (the newest push,
    // build-2), so nothing is built.
    std::fs::write(
        &file,
        built_compose(&image, "build-9").replace("pull_policy: build", "pull_policy: missing"),
    )
    .expect("compose");
    let (code, _, err) = run(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("  web: "), "nothing built or pushed: {err}");
    assert_eq!(body(web).await, "build-2", "the registry's {image}");

    // A Dockerfile error: reported at its line; the app keeps serving.
    write_dockerfile(&folder, "RUN [\"/no-such-tool\"]\n");
    std::fs::write(&file, built_compose(&image, "build-3")).expect("compose");
    let (code, _, err) = run(&["deploy"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("Deploy.BuildFailed"), "{err}");
    assert!(
        err.contains("Dockerfile:3"),
        "the failed step's line: {err}"
    );
    assert_eq!(body(web).await, "build-2", "the app is not changed");

    let (code, _, err) = run(&["down", "--target", "swarm"]);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&folder);
}

/// The app `wlswarm-env`: web built from the folder, with no target of its
/// own; environments `staging` (port 8001) and `production` (port 8000)
/// put it on the Swarm.
fn env_compose(image: &str, version: &str) -> String {
    let health = "healthcheck: {test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}";
    let environment = |port: u16| {
        format!("      services:\n        web:\n          ports: [{{target: 8080, published: {port}, app_protocol: http}}]\n          x-windlass: {{target: swarm, watch: 1s}}\n")
    };
    format!(
        "name: wlswarm-env\nservices:\n  web:\n    build: {{context: ., args: {{VERSION: {version}}}}}\n    image: {image}\n    pull_policy: build\n    {health}\n    init: true\n    stop_grace_period: 2s\nx-windlass:\n  environments:\n    staging:\n{}    production:\n{}",
        environment(8001),
        environment(8000)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_on_the_swarm_is_promoted_by_digest() {
    let turn = SWARM.turn().await;
    let (swarm, entry) = (turn.swarm, turn.entry);
    let folder = app_folder("wlswarm-env", "");
    let state = folder.join("state");
    let file = folder.join("compose.yaml");
    let run = |args: &[&str]| {
        tokio::task::block_in_place(|| windlass(swarm, entry, &state, &folder, args))
    };
    let production = on(swarm.nodes[0].app_ports[0]);
    let staging = on(swarm.nodes[2].app_ports[1]);
    let image = format!("{REGISTRY}/wlswarm-env");

    std::fs::write(&file, env_compose(&image, "env-1")).expect("compose");
    let (code, _, err) = run(&["deploy", "--env", "staging"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body(staging).await, "env-1");
    let staged = images_of(swarm, "wlswarm-env.staging");
    assert_eq!(staged.len(), 1, "{staged:?}");
    assert!(
        staged[0].starts_with(&format!("{image}@sha256:")),
        "{staged:?}"
    );
    let names = swarm.on(
        0,
        &[
            "service",
            "ls",
            "--filter",
            "label=windlass.app=wlswarm-env.staging",
            "--format",
            "{{.Name}}",
        ],
    );
    assert!(
        names
            .lines()
            .all(|n| n.starts_with("wlswarm-env--staging_")),
        "an environment's Swarm names spell its `.` as `--`: {names}"
    );

    let began = std::time::Instant::now();
    let (code, _, err) = run(&["deploy", "--env", "production", "--from", "staging"]);
    assert_eq!(code, 0, "{err}");
    eprintln!(
        "swarm: promotion staging -> production took {:.1} s",
        began.elapsed().as_secs_f64()
    );
    assert!(err.contains("promoting staging"), "{err}");
    assert!(
        !err.contains("  web: "),
        "a promotion builds and pushes nothing: {err}"
    );
    assert_eq!(body(production).await, "env-1");
    assert_eq!(
        images_of(swarm, "wlswarm-env.production"),
        staged,
        "production runs staging's digest"
    );

    // A new staging build leaves production alone.
    std::fs::write(&file, env_compose(&image, "env-2")).expect("compose");
    let (code, _, err) = run(&["deploy", "--env", "staging"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body(staging).await, "env-2");
    assert_eq!(body(production).await, "env-1");

    let (code, out, _) = run(&["releases", "--env", "production"]);
    assert_eq!(code, 0);
    assert!(out.contains("wlswarm-env.production"), "{out}");

    for env in ["staging", "production"] {
        let (code, _, err) = run(&["down", "--env", env]);
        assert_eq!(code, 0, "{err}");
    }
    assert!(body(production).await.starts_with("no answer"));
    let left = swarm.on(
        0,
        &[
            "service",
            "ls",
            "-q",
            "--filter",
            "label=windlass.app=wlswarm-env.production",
        ],
    );
    assert!(left.is_empty(), "{left}");
    let networks = swarm.on(0, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !networks.contains("wlswarm-env--"),
        "down removed the environments' networks: {networks}"
    );
    let _ = std::fs::remove_dir_all(&folder);
}
