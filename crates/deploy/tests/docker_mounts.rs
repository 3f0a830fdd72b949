//! A Compose service with mounts, secrets and run settings, on the real
//! engine: read from a Compose file, planned into a ContainerSpec, its
//! named volume ensured, its image built with a build target, and the
//! container created and started. Its settings are then read back from the
//! engine (what `docker inspect` shows), and the secret files are read out
//! of the running container; a bind's missing folder is made. Every object is labelled `windlass.test=1`;
//! the container is published on 127.0.0.1 only.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use bollard::models::MountType;
use futures_util::StreamExt;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RestartPolicy, VolumeSpec};
use windlass_deploy::compose::{self, Options};
use windlass_deploy::probe::{wait_healthy, Check, WaitConfig};
use windlass_deploy::{plan, Backend, Error};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const PROJECT: &str = "windlass-test-mounts";
const IMAGE: &str = "windlass-test/testapp:mounts";

const COMPOSE: &str = r#"
name: windlass-test-mounts
services:
  app:
    build:
      context: ./app
      target: release
    image: windlass-test/testapp:mounts
    ports: ["127.0.0.1::8080"]
    labels: {windlass.test: "1"}
    environment:
      TESTAPP_PORT: "8080"
    volumes:
      - data:/data
      - ./static:/srv/static:ro
      - ./uploads:/srv/uploads
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 8m}
    read_only: true
    user: "1000:1000"
    working_dir: /srv
    entrypoint: ["/app"]
    restart: on-failure:2
    cap_drop: [ALL]
    stop_signal: SIGINT
    extra_hosts: ["metrics.test=127.0.0.1"]
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    shm_size: 16m
    expose: ["9000"]
    logging:
      driver: json-file
      options: {max-size: 1m}
    init: true
    secrets:
      - token
      - source: api_key
        target: api.key
    configs:
      - source: banner
        target: /etc/banner.txt
volumes:
  data:
    labels: {windlass.test: "1"}
secrets:
  token:
    file: ./token.txt
  api_key:
    environment: WINDLASS_TEST_API_KEY
configs:
  banner:
    content: "hello ${WHO}"
"#;

const DOCKERFILE: &str =
    "FROM scratch AS base\nCOPY testapp /app\nFROM base AS release\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n";

#[tokio::test]
async fn a_service_with_mounts_secrets_and_run_settings_runs_as_written() {
    let dir = support::project("mounts");
    std::fs::write(dir.join("app/Dockerfile"), DOCKERFILE).expect("Dockerfile");
    std::fs::create_dir_all(dir.join("static")).expect("static");
    std::fs::write(dir.join("static/index.html"), "static\n").expect("static file");
    std::fs::write(dir.join("token.txt"), "token-from-a-file\n").expect("token");
    let docker = Docker::connect()
        .await
        .expect("Docker engine")
        .with_state_dir(&dir.join("state"));
    let raw = raw_client().await;
    cleanup(&docker, &raw).await;
    let result = run(&docker, &raw, &dir).await;
    cleanup(&docker, &raw).await;
    result.expect("mounts");
    // The text secrets' files went with their container.
    let left: Vec<_> = std::fs::read_dir(dir.join("state/secrets"))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "secret files left behind: {left:?}");
}

async fn raw_client() -> bollard::Docker {
    bollard::Docker::connect_with_local_defaults()
        .expect("socket")
        .negotiate_version()
        .await
        .expect("version")
}

async fn cleanup(docker: &Docker, raw: &bollard::Docker) {
    let labels = BTreeMap::from([("windlass.test".to_owned(), "1".to_owned())]);
    if let Ok(containers) = docker.list_containers(&labels).await {
        for c in containers.iter().filter(|c| {
            c.name.starts_with("wlmounts-app-mounts") || c.name.starts_with("app-mounts")
        }) {
            let _ = docker.remove_container(&c.id).await;
        }
    }
    let _ = raw
        .remove_volume(
            &format!("{PROJECT}_data"),
            None::<bollard::query_parameters::RemoveVolumeOptions>,
        )
        .await;
    let _ = docker.remove_image(IMAGE).await;
}

async fn run(docker: &Docker, raw: &bollard::Docker, dir: &Path) -> TestResult {
    let options = Options {
        environment: BTreeMap::from([
            (
                "WINDLASS_TEST_API_KEY".to_owned(),
                "key-from-the-environment".to_owned(),
            ),
            ("WHO".to_owned(), "compose".to_owned()),
        ]),
        ..Options::default()
    };
    let (project, diagnostics) = compose::check_text(COMPOSE, &dir.join("compose.yaml"), &options);
    let project = project.ok_or_else(|| format!("refused: {diagnostics:?}"))?;
    let service = &project.services["app"];
    assert_eq!(
        service.must_run_alone(),
        Some("it mounts a named volume read-write")
    );

    let (build, build_options) =
        plan::build_spec(service, IMAGE, BTreeMap::new(), |_| None).ok_or("the service builds")?;
    assert_eq!(build_options.target.as_deref(), Some("release"));
    docker.build_image_with(&build, &build_options).await?;

    let volumes = plan::volumes(service);
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].name, format!("{PROJECT}_data"));
    for volume in &volumes {
        docker.ensure_volume(volume).await?;
        docker.ensure_volume(volume).await?; // a second time finds it
    }
    let volume = raw.inspect_volume(&volumes[0].name).await?;
    assert_eq!(
        volume.labels.get("windlass.test").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        volume
            .labels
            .get("com.docker.compose.project")
            .map(String::as_str),
        Some(PROJECT)
    );
    let external = VolumeSpec {
        name: "windlass-test-no-such-volume".into(),
        external: true,
        ..VolumeSpec::default()
    };
    match docker.ensure_volume(&external).await {
        Err(Error::Volume { message, .. }) => assert!(message.contains("external"), "{message}"),
        other => panic!("a missing external volume must be refused, got {other:?}"),
    }

    let key = windlass_store::releases::ServiceKey::new("wlmounts", "app").expect("a key");
    let installation = windlass_store::releases::Installation::from("test");
    let spec = plan::container_spec(&installation, &key, service, "mounts", 0, IMAGE, |_| None);
    assert_eq!(
        spec.restart,
        Some(RestartPolicy::OnFailure {
            max_retries: Some(2)
        })
    );
    let mut wrong_platform = spec.clone();
    wrong_platform.name = "app-mounts-platform".into();
    wrong_platform.platform = Some("linux/s390x".into());
    match docker.create_container(&wrong_platform).await {
        Err(Error::Unsupported { message, .. }) => {
            assert!(message.contains("linux/s390x"), "{message}")
        }
        other => panic!("a foreign platform must be refused, got {other:?}"),
    }

    let id = docker.create_container(&spec).await?;
    docker.start_container(&id).await?;
    wait_healthy(
        docker,
        &id,
        &WaitConfig::new(Check::Http {
            port: 8080,
            path: "/health".into(),
        }),
    )
    .await?;

    let info = raw.inspect_container(&id, None).await?;
    let config = info.config.clone().unwrap_or_default();
    let host = info.host_config.clone().unwrap_or_default();
    assert_eq!(config.user.as_deref(), Some("1000:1000"));
    assert_eq!(config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(config.entrypoint, Some(vec!["/app".to_owned()]));
    assert_eq!(config.stop_signal.as_deref(), Some("SIGINT"));
    assert!(
        config
            .exposed_ports
            .unwrap_or_default()
            .iter()
            .any(|p| p == "9000/tcp"),
        "expose"
    );
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(
        host.extra_hosts,
        Some(vec!["metrics.test:127.0.0.1".to_owned()])
    );
    assert_eq!(host.shm_size, Some(16 << 20));
    let restart = host.restart_policy.clone().unwrap_or_default();
    assert_eq!(
        restart.name.map(|n| n.to_string()).as_deref(),
        Some("on-failure")
    );
    assert_eq!(restart.maximum_retry_count, Some(2));
    let ulimit = host.ulimits.clone().unwrap_or_default();
    assert_eq!(
        (ulimit[0].name.as_deref(), ulimit[0].soft, ulimit[0].hard),
        (Some("nofile"), Some(1024), Some(2048))
    );
    assert_eq!(
        host.log_config.as_ref().and_then(|l| l.typ.as_deref()),
        Some("json-file")
    );

    let mounts = info.mounts.unwrap_or_default();
    let mount = |target: &str| {
        mounts
            .iter()
            .find(|m| m.destination.as_deref() == Some(target))
            .cloned()
    };
    let data = mount("/data").ok_or("/data is mounted")?;
    assert_eq!(
        data.name.as_deref(),
        Some(format!("{PROJECT}_data").as_str())
    );
    assert_eq!(data.rw, Some(true));
    let static_files = mount("/srv/static").ok_or("/srv/static is mounted")?;
    assert_eq!(static_files.rw, Some(false));
    assert_eq!(
        static_files.source.as_deref(),
        Some(dir.join("static").to_str().unwrap_or_default())
    );
    // A short bind whose folder is not there yet is made, as Compose makes
    // it (listmonk's `./uploads:/listmonk/uploads`), on an engine without
    // `CreateMountpoint` too.
    let uploads = mount("/srv/uploads").ok_or("/srv/uploads is mounted")?;
    assert_eq!(uploads.rw, Some(true));
    assert!(dir.join("uploads").is_dir(), "./uploads was made");
    let host_mounts = host.mounts.unwrap_or_default();
    let tmpfs = host_mounts
        .iter()
        .find(|m| m.target.as_deref() == Some("/scratch"))
        .ok_or("tmpfs")?;
    assert_eq!(tmpfs.typ, Some(MountType::TMPFS));
    assert_eq!(
        tmpfs.tmpfs_options.as_ref().and_then(|t| t.size_bytes),
        Some(8 << 20)
    );
    for target in [
        "/run/secrets/token",
        "/run/secrets/api.key",
        "/etc/banner.txt",
    ] {
        let file = mount(target).ok_or(format!("{target} is mounted"))?;
        assert_eq!(file.rw, Some(false), "{target} is read-only");
    }

    // The files as the running container sees them.
    assert_eq!(
        read_file(raw, &id, "/run/secrets/token").await?,
        "token-from-a-file\n"
    );
    assert_eq!(
        read_file(raw, &id, "/run/secrets/api.key").await?,
        "key-from-the-environment"
    );
    assert_eq!(
        read_file(raw, &id, "/etc/banner.txt").await?,
        "hello compose"
    );
    assert_eq!(
        read_file(raw, &id, "/srv/static/index.html").await?,
        "static\n"
    );
    let written = mount("/run/secrets/api.key")
        .and_then(|m| m.source)
        .ok_or("source")?;
    assert!(
        written.starts_with(dir.join("state/secrets").to_str().unwrap_or_default()),
        "{written}"
    );
    let mode = std::fs::metadata(&written)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o400, "a secret written by windlass is 0400");
    docker.stop_container(&id, Duration::from_secs(5)).await?;
    Ok(())
}

/// A file's content read out of a container through the archive API.
async fn read_file(
    raw: &bollard::Docker,
    id: &str,
    path: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let mut stream = raw.download_from_container(id, Some(options));
    let mut archive = Vec::new();
    while let Some(chunk) = stream.next().await {
        archive.extend_from_slice(&chunk?);
    }
    let mut tar = tar::Archive::new(archive.as_slice());
    let mut entry = tar.entries()?.next().ok_or("an empty archive")??;
    let mut text = String::new();
    entry.read_to_string(&mut text)?;
    Ok(text)
}
