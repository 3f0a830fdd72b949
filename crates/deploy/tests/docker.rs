//! The Docker backend on the real engine. The test builds windlass-testapp as
//! a static binary, makes a `FROM scratch` image of it with the build API
//! (BuildKit, which the engine has), runs it and cleans up. Every object is labelled
//! `windlass.test=1` plus a per-test case label; containers are published and
//! probed on 127.0.0.1 only.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use windlass_deploy::backend::docker::Docker;
use windlass_deploy::probe::{http_status, wait_healthy, Check, WaitConfig};
use windlass_deploy::{
    Backend, BuildSpec, Container, ContainerSpec, Error, Health, Healthcheck, RunState,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn labels(case: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("windlass.test".to_owned(), "1".to_owned()),
        ("windlass.test.case".to_owned(), case.to_owned()),
    ])
}

/// A build context holding the static test app and a Dockerfile.
fn context(case: &str) -> PathBuf {
    support::project(&format!("docker-{case}")).join("app")
}

async fn cleanup(docker: &Docker, case: &str, image: &str) {
    if let Ok(leftovers) = docker.list_containers(&labels(case)).await {
        for container in leftovers {
            let _ = docker.remove_container(&container.id).await;
        }
    }
    let _ = docker.remove_image(image).await;
}

fn app_spec(case: &str, name: &str, image: &str, env: &[(&str, &str)]) -> ContainerSpec {
    ContainerSpec {
        name: format!("windlass-test-{case}-{name}"),
        image: image.to_owned(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ports: vec![8080],
        labels: labels(case),
        healthcheck: Some(Healthcheck {
            test: vec!["CMD".into(), "/app".into(), "probe".into()],
            interval: Some(Duration::from_millis(100)),
            timeout: Some(Duration::from_secs(1)),
            retries: Some(2),
            start_period: None,
        }),
        init: true,
        stop_grace_period: Some(Duration::from_secs(5)),
        ..ContainerSpec::default()
    }
}

async fn build(docker: &Docker, case: &str, image: &str) -> Result<String, Error> {
    let started = Instant::now();
    let noted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let into = std::sync::Arc::clone(&noted);
    let id = docker
        .build_image_noting(
            &BuildSpec {
                context: context(case),
                tag: image.to_owned(),
                labels: labels(case),
                ..BuildSpec::default()
            },
            &windlass_deploy::backend::BuildOptions::default(),
            &move |line: &str| into.lock().expect("notes").push(line.to_owned()),
        )
        .await?;
    // The build told how it went, a step at a time as BuildKit names them
    // (a step another build shares at the same moment is told to that one).
    let steps = noted.lock().expect("notes").clone();
    assert!(
        steps
            .iter()
            .any(|s| s.ends_with("COPY testapp /app") || s == "exporting to image"),
        "{steps:?}"
    );
    println!(
        "[{case}] image {image} built from scratch in {:?} (id {id})",
        started.elapsed()
    );
    Ok(id)
}

#[tokio::test]
async fn builds_runs_probes_stops_and_removes_the_test_app() {
    let case = "lifecycle";
    let image = "windlass-test/testapp:lifecycle";
    let docker = Docker::connect().await.expect("Docker engine");
    println!("[{case}] engine API {}", docker.api_version());
    cleanup(&docker, case, image).await;
    let result = lifecycle(&docker, case, image).await;
    cleanup(&docker, case, image).await;
    let left = docker.list_containers(&labels(case)).await.expect("list");
    assert!(left.is_empty(), "containers left behind: {left:?}");
    result.expect("lifecycle");
}

async fn lifecycle(docker: &Docker, case: &str, image: &str) -> TestResult {
    build(docker, case, image).await?;
    docker
        .tag_image(image, "windlass-test/testapp:lifecycle-r1")
        .await?;
    docker
        .remove_image("windlass-test/testapp:lifecycle-r1")
        .await?;

    let spec = app_spec(case, "v1", image, &[("TESTAPP_VERSION", "v1")]);
    let id = docker.create_container(&spec).await?;
    let started = Instant::now();
    docker.start_container(&id).await?;
    let http = wait_healthy(
        docker,
        &id,
        &WaitConfig::new(Check::Http {
            port: 8080,
            path: "/health".into(),
        }),
    )
    .await?;
    let to_http = started.elapsed();
    let healthy = wait_healthy(docker, &id, &WaitConfig::new(Check::Docker)).await?;
    let to_docker = started.elapsed();
    println!(
        "[{case}] start -> first passing HTTP probe {to_http:?}; -> Docker healthy {to_docker:?}"
    );
    assert_eq!(healthy.health, Health::Healthy);
    assert_eq!(healthy.state, RunState::Running);

    let addr = http.published[&8080];
    assert!(addr.ip().is_loopback(), "published on {addr}");
    assert_eq!(http_status(addr, "/version").await?, 200);
    wait_healthy(docker, &id, &WaitConfig::new(Check::Tcp { port: 8080 })).await?;

    let listed = docker.list_containers(&labels(case)).await?;
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec![id.as_str()]
    );
    assert_eq!(listed[0].name, spec.name);
    // The list alone says what the inspection says, but the health log.
    let glanced = docker.glance_containers(&labels(case)).await?;
    let inspected = Container {
        health_log: None,
        ..listed[0].clone()
    };
    assert_eq!(glanced, vec![inspected]);

    let stopping = Instant::now();
    docker.stop_container(&id, Duration::from_secs(5)).await?;
    println!("[{case}] graceful stop took {:?}", stopping.elapsed());
    let stopped = docker.inspect_container(&id).await?;
    assert!(
        matches!(stopped.state, RunState::Exited { .. }),
        "{:?}",
        stopped.state
    );
    let glanced = docker.glance_containers(&labels(case)).await?;
    assert_eq!(glanced.len(), 1);
    assert_eq!(glanced[0].state, stopped.state);
    assert_eq!(glanced[0].health, Health::None, "{:?}", glanced[0]);
    docker.stop_container(&id, Duration::from_secs(1)).await?; // stopping twice is fine
    docker.remove_container(&id).await?;
    assert!(matches!(
        docker.inspect_container(&id).await,
        Err(Error::NotFound { .. })
    ));
    docker.remove_container(&id).await?; // removing twice is fine
    Ok(())
}

#[tokio::test]
async fn crashing_unhealthy_and_missing_images_give_clear_errors() {
    let case = "failures";
    let image = "windlass-test/testapp:failures";
    let docker = Docker::connect().await.expect("Docker engine");
    cleanup(&docker, case, image).await;
    let result = failures(&docker, case, image).await;
    cleanup(&docker, case, image).await;
    let left = docker.list_containers(&labels(case)).await.expect("list");
    assert!(left.is_empty(), "containers left behind: {left:?}");
    result.expect("failures");
}

async fn failures(docker: &Docker, case: &str, image: &str) -> TestResult {
    build(docker, case, image).await?;

    let crash = docker
        .create_container(&app_spec(
            case,
            "crash",
            image,
            &[("TESTAPP_CRASH_AT_START", "3")],
        ))
        .await?;
    docker.start_container(&crash).await?;
    match wait_healthy(docker, &crash, &WaitConfig::new(Check::Docker)).await {
        // The container is removed by the rollback that follows: the
        // failure itself says what it printed.
        Err(err @ Error::Exited { code: 3, .. })
            if err
                .to_string()
                .contains("its last output:\n    testapp: crashing at start") =>
        {
            println!("[{case}] {err}")
        }
        other => return Err(format!("expected exit code 3 and its output, got {other:?}").into()),
    }

    let sick = docker
        .create_container(&app_spec(
            case,
            "sick",
            image,
            &[("TESTAPP_UNHEALTHY_AFTER_MS", "0")],
        ))
        .await?;
    docker.start_container(&sick).await?;
    match wait_healthy(docker, &sick, &WaitConfig::new(Check::Docker)).await {
        Err(err @ Error::Unhealthy { .. }) => println!("[{case}] {err}"),
        other => return Err(format!("expected unhealthy, got {other:?}").into()),
    }

    let slow = docker
        .create_container(&app_spec(
            case,
            "slow",
            image,
            &[("TESTAPP_START_DELAY_MS", "5000")],
        ))
        .await?;
    docker.start_container(&slow).await?;
    let mut config = WaitConfig::new(Check::Http {
        port: 8080,
        path: "/health".into(),
    });
    config.deadline = Duration::from_millis(300);
    match wait_healthy(docker, &slow, &config).await {
        Err(err @ Error::HealthTimeout { .. }) => println!("[{case}] {err}"),
        other => return Err(format!("expected a health timeout, got {other:?}").into()),
    }

    let missing = app_spec(case, "missing", "windlass-test/does-not-exist:1", &[]);
    match docker.create_container(&missing).await {
        Err(err @ Error::NotFound { what: "image", .. }) => println!("[{case}] {err}"),
        other => return Err(format!("expected a missing image, got {other:?}").into()),
    }
    match docker
        .pull_image("127.0.0.1:1/windlass-test/nothing:1", None)
        .await
    {
        Err(err @ Error::Engine { .. }) => println!("[{case}] unreachable registry: {err}"),
        other => {
            return Err(format!("expected an unreachable registry error, got {other:?}").into())
        }
    }
    Ok(())
}

/// The labels of the live-view case: windlass's service label, which the
/// view follows, beside the test's own.
fn viewed_labels(case: &str) -> BTreeMap<String, String> {
    let mut labels = labels(case);
    labels.insert(
        windlass_deploy::backend::SERVICE_LABEL.to_owned(),
        format!("wltest-{case}"),
    );
    labels
}

#[tokio::test]
async fn the_live_view_follows_a_container_as_the_list_shows_it() {
    let case = "view";
    let image = "windlass-test/testapp:view";
    let listing = Docker::connect().await.expect("Docker engine");
    cleanup(&listing, case, image).await;
    let result = live_view(&listing, case, image).await;
    cleanup(&listing, case, image).await;
    let left = listing.list_containers(&labels(case)).await.expect("list");
    assert!(left.is_empty(), "containers left behind: {left:?}");
    result.expect("live view");
}

/// Waits (for the view's changes, up to 30 s) until the view holds
/// containers that `want` accepts and the engine's list of them, read
/// after, says the same; returns them.
async fn agreed(
    watching: &Docker,
    listing: &Docker,
    labels: &BTreeMap<String, String>,
    what: &str,
    want: impl Fn(&[Container]) -> bool,
) -> Result<Vec<Container>, Box<dyn std::error::Error>> {
    let mut changes = watching.view_changes().ok_or("the backend keeps no view")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        changes.borrow_and_update();
        let viewed = watching.viewed(labels);
        let mut listed = listing.glance_containers(labels).await?;
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(viewed) = viewed.as_ref().filter(|v| want(v)) {
            if listed == *viewed {
                return Ok(listed);
            }
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .is_err()
        {
            return Err(format!(
                "{what}: the view never agreed with the list; last viewed {viewed:?}, listed {listed:?}"
            )
            .into());
        }
    }
}

async fn live_view(listing: &Docker, case: &str, image: &str) -> TestResult {
    build(listing, case, image).await?;
    let watching = Docker::connect().await?.watching();
    let labels = viewed_labels(case);
    let seeded = agreed(&watching, listing, &labels, "seeded", |c| c.is_empty()).await?;
    assert!(seeded.is_empty());
    // A view answers only for windlass's containers: other labels list.
    assert_eq!(watching.viewed(&self::labels(case)), None);

    let mut spec = app_spec(
        case,
        "v1",
        image,
        &[
            ("TESTAPP_VERSION", "v1"),
            ("TESTAPP_UNHEALTHY_AFTER_MS", "1500"),
        ],
    );
    spec.labels = labels.clone();
    let id = listing.create_container(&spec).await?;
    let one = |state: RunState, health: Health| {
        move |c: &[Container]| c.len() == 1 && c[0].state == state && c[0].health == health
    };
    agreed(
        &watching,
        listing,
        &labels,
        "created",
        one(RunState::Created, Health::None),
    )
    .await?;

    listing.start_container(&id).await?;
    let started = agreed(&watching, listing, &labels, "started", |c| {
        c.len() == 1 && c[0].state == RunState::Running && c[0].published.contains_key(&8080)
    })
    .await?;
    assert_eq!(started[0].id, id);
    assert_eq!(started[0].name, spec.name);
    let address = started[0].published[&8080];
    assert!(address.ip().is_loopback(), "published on {address}");
    agreed(
        &watching,
        listing,
        &labels,
        "healthy",
        one(RunState::Running, Health::Healthy),
    )
    .await?;
    // The app fails its health check 1.5 s after it started.
    agreed(
        &watching,
        listing,
        &labels,
        "unhealthy",
        one(RunState::Running, Health::Unhealthy),
    )
    .await?;

    listing.stop_container(&id, Duration::from_secs(5)).await?;
    let stopped = listing.inspect_container(&id).await?;
    let RunState::Exited { .. } = stopped.state else {
        return Err(format!("stopped, yet {:?}", stopped.state).into());
    };
    agreed(
        &watching,
        listing,
        &labels,
        "stopped",
        one(stopped.state, Health::None),
    )
    .await?;

    listing.start_container(&id).await?;
    agreed(&watching, listing, &labels, "started again", |c| {
        c.len() == 1 && c[0].state == RunState::Running
    })
    .await?;
    let raw = bollard::Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    raw.kill_container(
        &id,
        Some(
            bollard::query_parameters::KillContainerOptionsBuilder::default()
                .signal("KILL")
                .build(),
        ),
    )
    .await?;
    agreed(
        &watching,
        listing,
        &labels,
        "killed",
        one(RunState::Exited { code: 137 }, Health::None),
    )
    .await?;

    listing.remove_container(&id).await?;
    agreed(&watching, listing, &labels, "removed", |c| c.is_empty()).await?;
    Ok(())
}
