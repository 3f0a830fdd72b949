//! [`Backend`] on the Docker Engine API through bollard; no `docker` CLI.
//! Works with API 1.41 (Debian's engine) by negotiating the version.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryStateEnum, EndpointSettings, HealthStatusEnum, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest, PortSummaryTypeEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    PushImageOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    StopContainerOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;

mod build;
pub mod context;
mod create;
mod dockerfile;
mod endpoint;
mod exec;
mod secrets;
mod session;
mod trace;
mod view;
use create::create_body;

use super::{
    split_reference, Backend, BuildOptions, BuildSpec, Container, ContainerSpec, Error,
    ExecOutcome, ExecSpec, FileContent, FixedAddress, Health, NetworkOptions, Note, RegistryAuth,
    RunState, VolumeSpec,
};

/// The Docker engine on this host.
#[derive(Debug, Clone)]
pub struct Docker {
    client: bollard::Docker,
    /// Where secrets and configs given as text are written for mounting.
    secrets_dir: PathBuf,
    /// Network creation one at a time: Docker lets two networks have one
    /// name, and two services that share a new network would both create
    /// it ("network ... is ambiguous").
    networks: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The live view of windlass's containers, once [`Docker::watching`].
    view: Option<view::View>,
    /// The engine's socket, for BuildKit builds (see `endpoint.rs`).
    endpoint: Option<endpoint::Endpoint>,
    /// BuildKit or the classic builder, found out at the first build.
    builder: std::sync::Arc<tokio::sync::OnceCell<build::Builder>>,
}

/// The first API version whose healthchecks take `StartInterval`.
const START_INTERVAL_API: (usize, usize) = (1, 44);

/// The first API version whose bind mounts take `CreateMountpoint`
/// (Docker 23); an older engine refuses a bind whose source is missing.
const CREATE_MOUNTPOINT_API: (usize, usize) = (1, 42);

impl Docker {
    /// The engine's list of the containers, running or not, that carry
    /// every one of `labels`.
    async fn summaries(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ContainerSummary>, Error> {
        let filters = HashMap::from([(
            "label",
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.client
            .list_containers(Some(options))
            .await
            .map_err(engine("list containers", "by label"))
    }

    /// Connects through `DOCKER_HOST` or the local socket and agrees on an
    /// API version the engine speaks.
    pub async fn connect() -> Result<Docker, Error> {
        let client = bollard::Docker::connect_with_local_defaults()
            .map_err(|e| Error::Connect(e.to_string()))?;
        let client = client
            .negotiate_version()
            .await
            .map_err(|e| Error::Connect(e.to_string()))?;
        Ok(Docker {
            client,
            secrets_dir: std::env::temp_dir().join("windlass").join("secrets"),
            networks: Default::default(),
            view: None,
            endpoint: endpoint::Endpoint::from_env(),
            builder: Default::default(),
        })
    }

    /// The engine `client` speaks to (a Swarm manager, say), at the API
    /// version it was given.
    pub fn from_client(client: bollard::Docker) -> Docker {
        Docker {
            client,
            secrets_dir: std::env::temp_dir().join("windlass").join("secrets"),
            networks: Default::default(),
            view: None,
            endpoint: endpoint::Endpoint::from_env(),
            builder: Default::default(),
        }
    }

    /// Keeps a live view of windlass's containers (those labelled
    /// `windlass.service`) from the engine's event stream, so that
    /// [`Backend::glance_containers`] reads memory while the stream is
    /// connected and lists only when it is not (see `view.rs`). For a
    /// long-lived process (the agent); needs a tokio runtime, and follows
    /// until the last clone of this backend is dropped.
    pub fn watching(mut self) -> Docker {
        self.view = Some(view::View::start(self.client.clone()));
        self
    }

    /// What the live view holds of the containers that carry every one of
    /// `labels`; `None` when it cannot tell now (not [`Docker::watching`],
    /// the stream not connected, a container being read again, or labels
    /// without `windlass.service`), when a glance lists instead.
    pub fn viewed(&self, labels: &BTreeMap<String, String>) -> Option<Vec<Container>> {
        self.view.as_ref()?.glance(labels)
    }

    /// Marks each change of the live view (`None` unless watching), for
    /// whoever waits for one.
    pub fn view_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.view.as_ref().map(view::View::changes)
    }

    /// Writes secrets and configs given as text under `DIR/secrets` (the
    /// agent's state folder) rather than the system's temporary folder.
    pub fn with_state_dir(mut self, dir: &Path) -> Docker {
        self.secrets_dir = dir.join("secrets");
        self
    }

    /// Refuses a platform the engine does not run natively.
    async fn check_platform(&self, spec: &ContainerSpec) -> Result<(), Error> {
        let Some(platform) = &spec.platform else {
            return Ok(());
        };
        let version = self.client.version().await.map_err(engine(
            "read the version of engine for container",
            &spec.name,
        ))?;
        let engine_os = version.os.unwrap_or_default();
        let engine_arch = version.arch.unwrap_or_default();
        // A part the platform leaves out is the engine's own; a platform
        // that does not read was refused with the Compose file.
        let asked = crate::compose::Platform::parse(platform).ok();
        let os = asked.as_ref().and_then(|p| p.os.as_deref());
        let arch = asked.as_ref().and_then(|p| p.arch.as_deref());
        if os.is_some_and(|os| os != engine_os) || arch.is_some_and(|arch| arch != engine_arch) {
            return Err(Error::Unsupported {
                container: spec.name.clone(),
                message: format!(
                    "platform {platform} was asked for and the engine runs {engine_os}/{engine_arch} with no emulation: remove `platform` or build the image for {engine_os}/{engine_arch}"
                ),
            });
        }
        Ok(())
    }

    fn speaks(&self, (major, minor): (usize, usize)) -> bool {
        let version = self.client.client_version();
        (version.major_version, version.minor_version) >= (major, minor)
    }

    /// The API version agreed with the engine, such as `1.41`.
    pub fn api_version(&self) -> String {
        self.client.client_version().to_string()
    }

    /// A container's output (stdout and stderr, interleaved as written),
    /// its last `tail` lines when given.
    /// Follows a container's output as it is written, from its last `tail`
    /// lines (all when `None`), until the container stops: one item per
    /// write of the container's.
    pub fn follow_logs(
        &self,
        id: &str,
        tail: Option<u32>,
    ) -> impl futures_util::Stream<Item = Result<String, Error>> + Send + 'static {
        let tail = tail.map_or_else(|| "all".to_owned(), |n| n.to_string());
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .tail(&tail)
            .build();
        let stream = self.client.logs(id, Some(options));
        let id = id.to_owned();
        stream.map(move |item| {
            item.map(|output| output.to_string())
                .map_err(|e| engine("follow logs of container", &id)(e))
        })
    }

    pub async fn logs(&self, id: &str, tail: Option<u32>) -> Result<String, Error> {
        let tail = tail.map_or_else(|| "all".to_owned(), |n| n.to_string());
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail)
            .build();
        let mut stream = self.client.logs(id, Some(options));
        let mut text = String::new();
        while let Some(item) = stream.next().await {
            let output = item.map_err(engine("read logs of container", id))?;
            text.push_str(&output.to_string());
        }
        Ok(text)
    }
}

fn status_of(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether the engine's error message says `words`: some answers (a
/// network already joined or not joined) carry no status of their own.
fn engine_says(err: &BollardError, words: &str) -> bool {
    matches!(err, BollardError::DockerResponseServerError { message, .. } if message.contains(words))
}

fn engine<'a>(operation: &'static str, name: &'a str) -> impl FnOnce(BollardError) -> Error + 'a {
    move |err| match status_of(&err) {
        Some(404) => Error::NotFound {
            what: operation_object(operation),
            name: name.to_owned(),
        },
        _ => Error::Engine {
            operation,
            name: name.to_owned(),
            message: err.to_string(),
        },
    }
}

fn operation_object(operation: &str) -> &'static str {
    if operation.contains("image") {
        "image"
    } else if operation.contains("network") {
        "network"
    } else {
        "container"
    }
}

fn credentials(auth: Option<&RegistryAuth>) -> Option<DockerCredentials> {
    auth.map(|a| DockerCredentials {
        username: Some(a.username.clone()),
        password: Some(a.password.clone()),
        serveraddress: Some(a.server.clone()),
        ..Default::default()
    })
}

/// The context folder as an uncompressed tar, as the build API takes it,
/// without what its `.dockerignore` excludes (see [`context`]).
fn tar_context(context: &Path, dockerfile: &str) -> Result<Vec<u8>, Error> {
    let fail = |err: std::io::Error| Error::Context {
        context: context.to_owned(),
        message: err.to_string(),
    };
    let ignore = self::context::ignore_for(context, dockerfile).map_err(fail)?;
    self::context::archive(context, dockerfile, &ignore).map_err(fail)
}

fn container_of(info: ContainerInspectResponse) -> Container {
    let state = info.state.unwrap_or_default();
    let run_state = match state.status {
        Some(ContainerStateStatusEnum::CREATED) => RunState::Created,
        Some(ContainerStateStatusEnum::RUNNING) => RunState::Running,
        Some(ContainerStateStatusEnum::EXITED) => RunState::Exited {
            code: state.exit_code.unwrap_or(-1),
        },
        other => RunState::Other(other.map_or_else(|| "unknown".into(), |s| s.to_string())),
    };
    let health = state.health.unwrap_or_default();
    let health_log = health
        .log
        .as_ref()
        .and_then(|log| log.last())
        .and_then(|r| r.output.clone());
    let health = match health.status {
        Some(HealthStatusEnum::STARTING) => Health::Starting,
        Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
        _ => Health::None,
    };
    let mut published = BTreeMap::new();
    let mut published_udp = BTreeMap::new();
    let ports = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    for (key, bindings) in ports {
        let (port, udp) = match key.split_once('/') {
            Some((port, "tcp")) => (port, false),
            Some((port, "udp")) => (port, true),
            _ => continue,
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        for binding in bindings.unwrap_or_default() {
            let ip: Option<IpAddr> = binding.host_ip.as_deref().and_then(|ip| ip.parse().ok());
            let host_port = binding
                .host_port
                .as_deref()
                .and_then(|p| p.parse::<u16>().ok());
            if let (Some(IpAddr::V4(ip)), Some(host_port)) = (ip, host_port) {
                if ip == Ipv4Addr::LOCALHOST {
                    let into = if udp {
                        &mut published_udp
                    } else {
                        &mut published
                    };
                    into.insert(port, SocketAddr::from((ip, host_port)));
                }
            }
        }
    }
    let config = info.config.unwrap_or_default();
    Container {
        id: info.id.unwrap_or_default(),
        name: info
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        state: run_state,
        health,
        published,
        published_udp,
        health_log,
    }
}

/// A container as the engine's list shows it. API 1.41's list has no
/// health field: the status line says it, as `docker ps` shows it ("Up 3
/// minutes (healthy)"), and an exited container's code ("Exited (1) 2
/// seconds ago").
fn container_of_summary(summary: ContainerSummary) -> Container {
    let status = summary.status.unwrap_or_default();
    let state = match summary.state {
        Some(ContainerSummaryStateEnum::CREATED) => RunState::Created,
        Some(ContainerSummaryStateEnum::RUNNING) => RunState::Running,
        Some(ContainerSummaryStateEnum::EXITED) => RunState::Exited {
            code: status
                .strip_prefix("Exited (")
                .and_then(|rest| rest.split(')').next())
                .and_then(|code| code.parse().ok())
                .unwrap_or(-1),
        },
        other => RunState::Other(other.map_or_else(|| "unknown".into(), |s| s.to_string())),
    };
    let health = if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    };
    let mut published = BTreeMap::new();
    let mut published_udp = BTreeMap::new();
    for p in summary.ports.unwrap_or_default() {
        let Some(ip) = p.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) else {
            continue;
        };
        let (Some(public), true) = (p.public_port, ip == IpAddr::V4(Ipv4Addr::LOCALHOST)) else {
            continue;
        };
        let into = match p.typ {
            Some(PortSummaryTypeEnum::TCP) => &mut published,
            Some(PortSummaryTypeEnum::UDP) => &mut published_udp,
            _ => continue,
        };
        into.insert(p.private_port, SocketAddr::new(ip, public));
    }
    Container {
        id: summary.id.unwrap_or_default(),
        name: summary
            .names
            .and_then(|names| names.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: summary.image.unwrap_or_default(),
        labels: summary.labels.unwrap_or_default().into_iter().collect(),
        state,
        health,
        published,
        published_udp,
        health_log: None,
    }
}

#[async_trait]
impl Backend for Docker {
    async fn build_image(&self, spec: &BuildSpec) -> Result<String, Error> {
        self.build_image_with(spec, &BuildOptions::default()).await
    }

    async fn build_image_with(
        &self,
        spec: &BuildSpec,
        build: &BuildOptions,
    ) -> Result<String, Error> {
        self.build_image_noting(spec, build, &|_| {}).await
    }

    async fn build_image_noting(
        &self,
        spec: &BuildSpec,
        build: &BuildOptions,
        note: &Note,
    ) -> Result<String, Error> {
        self.build(spec, build, note).await
    }

    async fn tag_image(&self, image: &str, target: &str) -> Result<(), Error> {
        let (repo, tag) = split_reference(target);
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.client
            .tag_image(image, Some(options))
            .await
            .map_err(engine("tag image", image))
    }

    async fn push_image(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<(), Error> {
        self.push_image_noting(reference, auth, &|_| {}).await
    }

    async fn push_image_noting(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        note: &Note,
    ) -> Result<(), Error> {
        let (repo, tag) = split_reference(reference);
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = self
            .client
            .push_image(repo, Some(options), credentials(auth));
        while let Some(item) = stream.next().await {
            let info = item.map_err(engine("push image", reference))?;
            if let Some(status) = &info.status {
                note(&layer_note(
                    "push",
                    None,
                    status,
                    info.progress_detail.as_ref(),
                ));
            }
        }
        Ok(())
    }

    async fn pull_image(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<(), Error> {
        self.pull_image_noting(reference, auth, &|_| {}).await
    }

    async fn pull_image_noting(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        note: &Note,
    ) -> Result<(), Error> {
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let mut stream = self
            .client
            .create_image(Some(options), None, credentials(auth));
        while let Some(item) = stream.next().await {
            let info = item.map_err(engine("pull image", reference))?;
            if let Some(status) = &info.status {
                note(&layer_note(
                    "pull",
                    info.id.as_deref(),
                    status,
                    info.progress_detail.as_ref(),
                ));
            }
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(Error::Engine {
                    operation: "pull image",
                    name: reference.to_owned(),
                    message,
                });
            }
        }
        Ok(())
    }

    async fn image_digests(&self, reference: &str) -> Result<Vec<String>, Error> {
        let image = self
            .client
            .inspect_image(reference)
            .await
            .map_err(engine("inspect image", reference))?;
        // The id last: it pins an image that was never pushed or pulled
        // (built or loaded here), which has no registry digest.
        Ok(image
            .repo_digests
            .unwrap_or_default()
            .into_iter()
            .chain(image.id)
            .collect())
    }

    async fn image_tagged_millis(&self, reference: &str) -> Result<Option<i64>, Error> {
        let image = self
            .client
            .inspect_image(reference)
            .await
            .map_err(engine("inspect image", reference))?;
        let tagged = image.metadata.and_then(|m| m.last_tag_time);
        Ok(tagged.as_deref().and_then(rfc3339_millis))
    }

    async fn image_volumes(&self, reference: &str) -> Result<Vec<String>, Error> {
        let image = self
            .client
            .inspect_image(reference)
            .await
            .map_err(engine("inspect image", reference))?;
        let mut paths = image.config.and_then(|c| c.volumes).unwrap_or_default();
        paths.sort();
        Ok(paths)
    }

    async fn list_volumes(&self, labels: &BTreeMap<String, String>) -> Result<Vec<String>, Error> {
        let filters = HashMap::from([(
            "label",
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        )]);
        let options = bollard::query_parameters::ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .client
            .list_volumes(Some(options))
            .await
            .map_err(engine("list volumes", "by label"))?;
        let mut names: Vec<String> = list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        names.sort();
        Ok(names)
    }

    async fn remove_volume(&self, name: &str) -> Result<(), Error> {
        match self
            .client
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(err) if status_of(&err) == Some(404) => Ok(()),
            Err(err) => Err(engine("remove volume", name)(err)),
        }
    }

    async fn remove_network(&self, name: &str) -> Result<(), Error> {
        match self.client.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(err) if status_of(&err) == Some(404) => Ok(()),
            // "has active endpoints": containers still use it.
            Err(err) if status_of(&err) == Some(403) => Err(Error::InUse {
                what: "network",
                name: name.to_owned(),
                message: err.to_string(),
            }),
            Err(err) => Err(engine("remove network", name)(err)),
        }
    }

    async fn remove_image(&self, reference: &str) -> Result<(), Error> {
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        match self
            .client
            .remove_image(reference, Some(options), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if status_of(&err) == Some(404) => Ok(()),
            Err(err) => Err(engine("remove image", reference)(err)),
        }
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, Error> {
        self.check_platform(spec).await?;
        if !self.speaks(CREATE_MOUNTPOINT_API) {
            create::create_bind_sources(spec)?;
        }
        let mut files = Vec::with_capacity(spec.files.len());
        for file in &spec.files {
            let source = match &file.content {
                FileContent::Path(path) => path.clone(),
                FileContent::Bytes(bytes) => {
                    secrets::write(&self.secrets_dir, &spec.name, &file.target, bytes)?
                }
            };
            files.push((file.target.clone(), source));
        }
        let mut options = CreateContainerOptionsBuilder::default().name(&spec.name);
        if let Some(platform) = &spec.platform {
            options = options.platform(platform);
        }
        let options = options.build();
        let body = create_body(spec, &files, self.speaks(START_INTERVAL_API));
        let created = self
            .client
            .create_container(Some(options), body)
            .await
            .map_err(|err| match status_of(&err) {
                Some(404) => Error::NotFound {
                    what: "image",
                    name: spec.image.clone(),
                },
                _ => Error::Engine {
                    operation: "create container",
                    name: spec.name.clone(),
                    message: err.to_string(),
                },
            })?;
        Ok(created.id)
    }

    async fn start_container(&self, id: &str) -> Result<(), Error> {
        self.client
            .start_container(id, None)
            .await
            .map_err(engine("start container", id))
    }

    async fn inspect_container(&self, id: &str) -> Result<Container, Error> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(engine("inspect container", id))?;
        Ok(container_of(info))
    }

    async fn exec(&self, id: &str, spec: &ExecSpec) -> Result<ExecOutcome, Error> {
        exec::run(&self.client, id, spec).await
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), Error> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        match self.client.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(err) if status_of(&err) == Some(304) => Ok(()), // already stopped
            Err(err) => Err(engine("stop container", id)(err)),
        }
    }

    async fn connect_network(
        &self,
        network: &str,
        id: &str,
        aliases: &[String],
    ) -> Result<(), Error> {
        self.connect_network_at(network, id, aliases, &FixedAddress::default())
            .await
    }

    async fn connect_network_at(
        &self,
        network: &str,
        id: &str,
        aliases: &[String],
        address: &FixedAddress,
    ) -> Result<(), Error> {
        let fixed = *address != FixedAddress::default();
        let request = NetworkConnectRequest {
            container: id.to_owned(),
            endpoint_config: Some(EndpointSettings {
                aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
                ipam_config: fixed.then(|| bollard::models::EndpointIpamConfig {
                    ipv4_address: address.ipv4.map(|a| a.to_string()),
                    ipv6_address: address.ipv6.map(|a| a.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        match self.client.connect_network(network, request).await {
            Ok(()) => Ok(()),
            // Attached already (a start retried after a crash): done.
            Err(err) if engine_says(&err, "already exists in network") => Ok(()),
            Err(err) => Err(engine("connect to network", network)(err)),
        }
    }

    async fn disconnect_network(&self, network: &str, id: &str) -> Result<(), Error> {
        let request = NetworkDisconnectRequest {
            container: id.to_owned(),
            force: Some(true),
        };
        match self.client.disconnect_network(network, request).await {
            Ok(()) => Ok(()),
            // Not attached (or already gone): nothing to undo.
            Err(err) if matches!(status_of(&err), Some(403 | 404)) => Ok(()),
            // Engine 20.10 answers 500 for a container that is not attached.
            Err(err) if engine_says(&err, "is not connected to") => Ok(()),
            Err(err) => Err(engine("disconnect from network", network)(err)),
        }
    }

    async fn container_logs(&self, id: &str, tail: u32) -> Result<String, Error> {
        self.logs(id, Some(tail)).await
    }

    async fn remove_container(&self, id: &str) -> Result<(), Error> {
        // Its name says which folder of text secrets it had.
        let name = match self.client.inspect_container(id, None).await {
            Ok(found) => found.name.map(|n| n.trim_start_matches('/').to_owned()),
            Err(_) => None,
        };
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.client.remove_container(id, Some(options)).await {
            Ok(()) => {}
            Err(err) if status_of(&err) == Some(404) => {}
            Err(err) => return Err(engine("remove container", id)(err)),
        }
        if let Some(name) = name {
            secrets::remove(&self.secrets_dir, &name)?;
        }
        Ok(())
    }

    async fn list_containers(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Container>, Error> {
        let summaries = self.summaries(labels).await?;
        let mut containers = Vec::with_capacity(summaries.len());
        for id in summaries.into_iter().filter_map(|s| s.id) {
            match self.inspect_container(&id).await {
                Ok(container) => containers.push(container),
                // Removed between the listing and the inspection.
                Err(Error::NotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(containers)
    }

    async fn glance_containers(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Container>, Error> {
        if let Some(viewed) = self.viewed(labels) {
            return Ok(viewed);
        }
        let summaries = self.summaries(labels).await?;
        Ok(summaries.into_iter().map(container_of_summary).collect())
    }

    async fn ensure_volume(&self, spec: &VolumeSpec) -> Result<(), Error> {
        match self.client.inspect_volume(&spec.name).await {
            Ok(_) => return Ok(()),
            Err(err) if status_of(&err) == Some(404) && spec.external => {
                return Err(Error::Volume {
                    name: spec.name.clone(),
                    message: "it is declared `external: true` and does not exist: create it (`docker volume create NAME`) or drop `external`".into(),
                })
            }
            Err(err) if status_of(&err) == Some(404) => {}
            Err(err) => return Err(engine("inspect volume", &spec.name)(err)),
        }
        let request = VolumeCreateRequest {
            name: Some(spec.name.clone()),
            driver: spec.driver.clone(),
            driver_opts: Some(spec.driver_opts.clone().into_iter().collect()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        self.client
            .create_volume(request)
            .await
            .map(|_| ())
            .map_err(|err| Error::Volume {
                name: spec.name.clone(),
                message: format!("creating it failed: {err}"),
            })
    }

    async fn network_exists(&self, name: &str) -> Result<bool, Error> {
        match self.client.inspect_network(name, None).await {
            Ok(_) => Ok(true),
            Err(err) if status_of(&err) == Some(404) => Ok(false),
            Err(err) if err.to_string().contains("ambiguous") => Ok(true),
            Err(err) => Err(engine("inspect network", name)(err)),
        }
    }

    async fn ensure_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        self.ensure_network_with(name, labels, &NetworkOptions::default())
            .await
    }

    async fn ensure_network_with(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        options: &NetworkOptions,
    ) -> Result<(), Error> {
        let _one_at_a_time = self.networks.lock().await;
        match self.client.inspect_network(name, None).await {
            Ok(_) => return Ok(()),
            Err(err) if status_of(&err) == Some(404) => {}
            // Two networks of the name: made at once by two processes.
            Err(err) if err.to_string().contains("ambiguous") => {
                return self.settle_duplicates(name).await;
            }
            Err(err) => return Err(engine("inspect network", name)(err)),
        }
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".into()),
            // The file's labels, then windlass's, which the file cannot override.
            labels: Some(
                options
                    .labels
                    .iter()
                    .chain(labels)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            internal: options.internal.then_some(true),
            attachable: options.attachable.then_some(true),
            enable_ipv6: options.enable_ipv6.then_some(true),
            options: (!options.driver_opts.is_empty())
                .then(|| options.driver_opts.clone().into_iter().collect()),
            ipam: ipam(options),
            ..Default::default()
        };
        let refused = match self.client.create_network(request).await {
            Ok(_) => None,
            // Created meanwhile, as a rule; but the engine answers 409 too
            // when its address pools are used up.
            Err(err) if status_of(&err) == Some(409) => Some(err),
            Err(err) => return Err(engine("create network", name)(err)),
        };
        // An engine before API 1.44 creates a second network of a name
        // another process created meanwhile (a network two apps name
        // alike, deployed at once), after which the name is ambiguous
        // and every call by it fails.
        self.settle_duplicates(name).await?;
        match refused {
            Some(err) if !self.network_exists(name).await? => {
                Err(engine("create network", name)(err))
            }
            _ => Ok(()),
        }
    }
}

impl Docker {
    /// Keeps one network of `name`, the first made (every process picks
    /// the same), and removes the others, which no container uses yet
    /// (a process attaches containers only once it has settled).
    async fn settle_duplicates(&self, name: &str) -> Result<(), Error> {
        let filters = std::collections::HashMap::from([("name".to_owned(), vec![name.to_owned()])]);
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        let mut found: Vec<(String, String)> = self
            .client
            .list_networks(Some(options))
            .await
            .map_err(engine("list networks", name))?
            .into_iter()
            // The filter matches a part of the name.
            .filter(|n| n.name.as_deref() == Some(name))
            .map(|n| (n.created.unwrap_or_default(), n.id.unwrap_or_default()))
            .collect();
        found.sort();
        for (_, id) in found.iter().skip(1) {
            tracing::info!(network = name, %id, "removing a second network of the name");
            match self.client.remove_network(id).await {
                Ok(()) => {}
                Err(err) if status_of(&err) == Some(404) => {}
                Err(err) => return Err(engine("remove duplicate network", name)(err)),
            }
        }
        Ok(())
    }
}

/// A network's address pools as the engine takes them; `None` leaves the
/// engine's defaults.
pub(crate) fn ipam(options: &NetworkOptions) -> Option<bollard::models::Ipam> {
    if options.ipam_driver.is_none() && options.pools.is_empty() && options.ipam_options.is_empty()
    {
        return None;
    }
    Some(bollard::models::Ipam {
        driver: options.ipam_driver.clone(),
        config: Some(
            options
                .pools
                .iter()
                .map(|pool| bollard::models::IpamConfig {
                    subnet: pool.subnet.clone(),
                    ip_range: pool.ip_range.clone(),
                    gateway: pool.gateway.clone(),
                    auxiliary_addresses: (!pool.aux_addresses.is_empty())
                        .then(|| pool.aux_addresses.clone().into_iter().collect()),
                })
                .collect(),
        ),
        options: (!options.ipam_options.is_empty())
            .then(|| options.ipam_options.clone().into_iter().collect()),
    })
}

/// `2026-12-07T04:32:49.123456789Z` in milliseconds since the epoch;
/// `None` for the engine's zero time (an image never tagged here).
fn rfc3339_millis(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let millis = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    (at.year() > 1).then_some(millis)
}

/// One line of a push or pull: `pull 1a2b3c: Downloading 3.1/10.0 MB`.
fn layer_note(
    what: &str,
    layer: Option<&str>,
    status: &str,
    progress: Option<&bollard::models::ProgressDetail>,
) -> String {
    let mut text = what.to_owned();
    if let Some(layer) = layer {
        text.push(' ');
        text.push_str(layer);
        text.push(':');
    }
    text.push(' ');
    text.push_str(status);
    if let Some((current, total)) = progress.and_then(|p| p.current.zip(p.total)) {
        let mb = |bytes: i64| bytes as f64 / 1_000_000.0;
        text.push_str(&format!(" {:.1}/{:.1} MB", mb(current), mb(total)));
    }
    text
}
