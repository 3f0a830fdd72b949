//! What a deploy does to a target, as a trait: images (build, tag, push,
//! pull), containers (create, start, inspect, stop, remove, list by labels)
//! and networks. One module per implementation: [`docker`] for the Docker
//! Engine API; `crate::test_util` holds an in-memory fake.

pub mod docker;
mod host;

pub use host::{Blkio, DeviceMapping, DeviceRequest, HostSettings};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use windlass_store::releases::{Installation, ServiceKey};

/// Label every windlass container carries, with the service's name in its app.
pub const SERVICE_LABEL: &str = "windlass.service";
/// Label with the release id.
pub const RELEASE_LABEL: &str = "windlass.release";
/// Label with the app (the Compose project) the service belongs to.
pub const APP_LABEL: &str = "windlass.app";
/// Label with the installation (the state folder's store) that made it.
pub const INSTALLATION_LABEL: &str = "windlass.installation";
/// Label (`true`) of a volume windlass keeps for a service's anonymous
/// volume: one the file or the image declares without a name.
pub const ANONYMOUS_LABEL: &str = "windlass.anonymous";
/// Label of such a volume with its path in the container.
pub const TARGET_LABEL: &str = "windlass.target";
/// Label of such a volume with the replica (1, 2 ...) it belongs to.
pub const REPLICA_LABEL: &str = "windlass.replica";

/// The labels that make a container or image `key`'s of `installation`:
/// listing by them finds that service's and no other app's or state
/// folder's.
pub fn key_labels(installation: &Installation, key: &ServiceKey) -> BTreeMap<String, String> {
    BTreeMap::from([
        (INSTALLATION_LABEL.to_owned(), installation.to_string()),
        (APP_LABEL.to_owned(), key.app().to_owned()),
        (SERVICE_LABEL.to_owned(), key.service().to_owned()),
    ])
}

/// The labels of a network windlass creates for an app (as Compose labels
/// its networks with the project): whose it is, so it can be listed
/// (`docker network ls --filter label=windlass.app=APP`) and removed.
pub fn network_labels(installation: &Installation, app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (INSTALLATION_LABEL.to_owned(), installation.to_string()),
        (APP_LABEL.to_owned(), app.to_owned()),
    ])
}

/// [`key_labels`] and the release's id: one release's replicas.
pub fn release_labels(
    installation: &Installation,
    key: &ServiceKey,
    release: &str,
) -> BTreeMap<String, String> {
    let mut labels = key_labels(installation, key);
    labels.insert(RELEASE_LABEL.to_owned(), release.to_owned());
    labels
}

/// The labels of every volume windlass keeps for the anonymous volumes of
/// `key`'s service in `installation` (see `plan::keep_anonymous_volumes`).
pub fn anonymous_volume_labels(
    installation: &Installation,
    key: &ServiceKey,
) -> BTreeMap<String, String> {
    let mut labels = key_labels(installation, key);
    labels.insert(ANONYMOUS_LABEL.to_owned(), "true".to_owned());
    labels
}

/// The labels of everything of `app` in `installation`.
pub fn app_labels(installation: &Installation, app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (INSTALLATION_LABEL.to_owned(), installation.to_string()),
        (APP_LABEL.to_owned(), app.to_owned()),
    ])
}

/// Errors of a backend; each says what failed on which object and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the container engine: {0}; is the Docker daemon running and its socket readable?")]
    Connect(String),
    #[error("building image {tag} failed: {message}")]
    Build { tag: String, message: String },
    #[error("cannot read the build context {}: {message}", context.display())]
    Context { context: PathBuf, message: String },
    #[error("{what} {name} does not exist")]
    NotFound { what: &'static str, name: String },
    #[error("{operation} {name} failed: {message}")]
    Engine {
        operation: &'static str,
        name: String,
        message: String,
    },
    #[error(
        "container {container} exited with code {code} before it was healthy{}",
        output_suffix(output)
    )]
    Exited {
        container: String,
        code: i64,
        /// The end of what it printed (empty when nothing or not read).
        output: String,
    },
    #[error(
        "container {container} is unhealthy: {detail}{}",
        output_suffix(output)
    )]
    Unhealthy {
        container: String,
        detail: String,
        output: String,
    },
    #[error(
        "container {container} was not healthy after {waited:?}: {last}{}",
        output_suffix(output)
    )]
    HealthTimeout {
        container: String,
        waited: Duration,
        last: String,
        output: String,
    },
    #[error("container {container} publishes no port {port} on 127.0.0.1; list it in the service's ports")]
    NotPublished { container: String, port: u16 },
    #[error("volume {name}: {message}")]
    Volume { name: String, message: String },
    #[error("container {container} cannot run here: {message}")]
    Unsupported { container: String, message: String },
    /// Removing it failed because containers still use it (another app's,
    /// on a network two apps name alike).
    #[error("{what} {name} is still in use: {message}")]
    InUse {
        what: &'static str,
        name: String,
        message: String,
    },
}

/// How a health failure shows what the container printed last: a user
/// whose container exited at once needs its own words, and the container
/// is removed by the rollback that follows.
fn output_suffix(output: &str) -> String {
    if output.trim().is_empty() {
        String::new()
    } else {
        format!("; its last output:\n{output}")
    }
}

/// How to build an image from a context folder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildSpec {
    pub context: PathBuf,
    /// Relative to the context; `Dockerfile` when `None`.
    pub dockerfile: Option<String>,
    pub args: BTreeMap<String, String>,
    /// The reference to give the image, `repo:tag`.
    pub tag: String,
    pub labels: BTreeMap<String, String>,
    /// Secrets a `RUN --mount=type=secret,id=ID` reads, by id; served to
    /// BuildKit over a session, never written into the image.
    pub secrets: BTreeMap<String, FileContent>,
    /// SSH agents a `RUN --mount=type=ssh,id=ID` reaches, by id: the
    /// agent's socket, forwarded over the session.
    pub ssh: BTreeMap<String, PathBuf>,
}

/// Credentials for a registry.
#[derive(Clone, PartialEq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    /// The registry host, such as `127.0.0.1:5000`.
    pub server: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Docker's own healthcheck for a container, as in a Compose `healthcheck`.
#[derive(Debug, Clone, PartialEq)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
}

/// Build settings beyond [`BuildSpec`]'s, as Compose's `build` gives them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildOptions {
    /// The Dockerfile stage to build.
    pub target: Option<String>,
    /// Images whose layers may serve as cache.
    pub cache_from: Vec<String>,
    /// The network `RUN` steps use.
    pub network: Option<String>,
    /// Bytes of `/dev/shm` for `RUN` steps.
    pub shm_size: Option<u64>,
}

/// A named volume to create unless it exists (`external`: it must exist).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeSpec {
    /// The engine's name for it.
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub external: bool,
}

/// Settings of a bridge network windlass creates, as Compose's top-level
/// `networks` give them; the default is the engine's plain bridge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkOptions {
    /// No route out: containers on it reach only each other.
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub driver_opts: BTreeMap<String, String>,
    /// The IPAM driver; the engine's `default` when `None`.
    pub ipam_driver: Option<String>,
    pub ipam_options: BTreeMap<String, String>,
    pub pools: Vec<IpamPool>,
    /// The file's `labels` of the network (a label without a value is
    /// `""`), besides those windlass puts on every network it creates.
    pub labels: BTreeMap<String, String>,
}

/// A container's fixed addresses on a network (Compose's `ipv4_address`
/// and `ipv6_address`); the engine picks those not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FixedAddress {
    pub ipv4: Option<std::net::Ipv4Addr>,
    pub ipv6: Option<std::net::Ipv6Addr>,
}

/// An address pool of a network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IpamPool {
    pub subnet: Option<String>,
    pub ip_range: Option<String>,
    pub gateway: Option<String>,
    pub aux_addresses: BTreeMap<String, String>,
}

/// A filesystem mounted into a container.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub kind: MountKind,
    /// The path in the container.
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MountKind {
    /// A named volume, or an anonymous one (`None`) made for the container.
    Volume { name: Option<String>, nocopy: bool },
    /// A host path; created when missing if `create` is set.
    Bind { source: PathBuf, create: bool },
    Tmpfs {
        size: Option<u64>,
        mode: Option<u32>,
    },
}

/// A single file put into a container, read-only: a secret or a config.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMount {
    /// Absolute path in the container.
    pub target: String,
    pub content: FileContent,
}

/// What a [`FileMount`] holds.
#[derive(Clone, PartialEq)]
pub enum FileContent {
    /// A host file, bind-mounted read-only as it is.
    Path(PathBuf),
    /// Bytes the backend writes to a file of mode 0400 under its secrets
    /// folder, then bind-mounts read-only.
    Bytes(Vec<u8>),
}

impl std::fmt::Debug for FileContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileContent::Path(path) => f.debug_tuple("Path").field(path).finish(),
            // Secret values stay out of logs.
            FileContent::Bytes(bytes) => write!(f, "Bytes(<{} bytes>)", bytes.len()),
        }
    }
}

/// What the engine does when a container stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    Always,
    OnFailure { max_retries: Option<u32> },
    UnlessStopped,
}

/// A resource limit (`nofile`, `nproc` ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// A port open to other containers on the container's networks, not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExposedPort {
    pub port: u16,
    pub udp: bool,
}

/// The engine's log driver for a container.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

/// A container to create. Every TCP port in `ports` and UDP port in
/// `udp_ports` is published on 127.0.0.1 at a port the engine picks (read
/// it back with [`Backend::inspect_container`]): windlass's proxies are the
/// only way in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub ports: Vec<u16>,
    pub udp_ports: Vec<u16>,
    pub labels: BTreeMap<String, String>,
    pub healthcheck: Option<Healthcheck>,
    pub network: Option<String>,
    /// Run an init as PID 1 that forwards signals, so a plain binary stops on SIGTERM.
    pub init: bool,
    /// How long `docker stop` waits before SIGKILL by default.
    pub stop_grace_period: Option<Duration>,
    /// How often to probe during the healthcheck's start period; sent only
    /// to engines of API 1.44 or later (older ones probe at `interval`).
    pub health_start_interval: Option<Duration>,
    pub mounts: Vec<Mount>,
    /// Secrets and configs.
    pub files: Vec<FileMount>,
    pub restart: Option<RestartPolicy>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// Replaces the image's entrypoint; an empty list clears it.
    pub entrypoint: Option<Vec<String>>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub stop_signal: Option<String>,
    /// `HOST:IP` entries for the container's /etc/hosts.
    pub extra_hosts: Vec<String>,
    pub ulimits: Vec<Ulimit>,
    /// Bytes of `/dev/shm`.
    pub shm_size: Option<u64>,
    /// `os[/arch[/variant]]` or a lone CPU; refused when the engine runs another.
    pub platform: Option<String>,
    pub tty: bool,
    pub stdin_open: bool,
    pub logging: Option<LogConfig>,
    pub expose: Vec<ExposedPort>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub read_only_root: bool,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub group_add: Vec<String>,
    /// Bytes of memory.
    pub mem_limit: Option<u64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    /// Resource controls, devices and namespaces beyond the above.
    pub host: HostSettings,
}

/// Whether a container runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    Created,
    Running,
    Exited {
        code: i64,
    },
    /// Restarting, paused, dead, removing.
    Other(String),
}

/// A command to run in a running container, with the engine's exec API
/// (what Compose's `post_start` and `pre_stop` do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    pub command: Vec<String>,
    /// The container's user when unset.
    pub user: Option<String>,
    pub privileged: bool,
    /// The container's working directory when unset.
    pub working_dir: Option<String>,
    /// `KEY=VALUE` added to the container's environment.
    pub env: Vec<String>,
}

/// How a command run in a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    pub exit_code: i64,
    /// The end of what it printed (stdout and stderr).
    pub output: String,
}

/// Docker's health status for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The container has no healthcheck.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// A container as the engine reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub state: RunState,
    pub health: Health,
    /// Container TCP port to the 127.0.0.1 address it is published on.
    pub published: BTreeMap<u16, SocketAddr>,
    /// Container UDP port to the 127.0.0.1 address it is published on.
    pub published_udp: BTreeMap<u16, SocketAddr>,
    /// The last healthcheck output, for error messages.
    pub health_log: Option<String>,
}

impl Container {
    /// Where the container's `port` (UDP with `udp`) is published on 127.0.0.1.
    pub fn published_at(&self, port: u16, udp: bool) -> Option<SocketAddr> {
        let published = if udp {
            &self.published_udp
        } else {
            &self.published
        };
        published.get(&port).copied()
    }
}

/// What a deploy does to a target. Implementations must be cheap to share
/// (`Arc<dyn Backend>`) and safe to call concurrently.
///
/// Where a long call (build, push, pull) is at, told as it goes.
pub type Note = dyn Fn(&str) + Send + Sync;

#[async_trait]
pub trait Backend: Send + Sync {
    /// Builds an image from `spec.context` and tags it `spec.tag`; returns its id.
    async fn build_image(&self, spec: &BuildSpec) -> Result<String, Error>;
    /// Builds with Compose's further `build` settings. A backend that has
    /// none of them refuses anything but the defaults.
    async fn build_image_with(
        &self,
        spec: &BuildSpec,
        options: &BuildOptions,
    ) -> Result<String, Error> {
        if *options != BuildOptions::default() {
            return Err(Error::Build {
                tag: spec.tag.clone(),
                message: "this backend cannot build with target, cache_from, network or shm_size"
                    .into(),
            });
        }
        self.build_image(spec).await
    }
    /// [`Backend::build_image_with`], telling `note` how it goes (the
    /// Dockerfile step it is at); a backend that cannot tell says nothing.
    async fn build_image_noting(
        &self,
        spec: &BuildSpec,
        options: &BuildOptions,
        _note: &Note,
    ) -> Result<String, Error> {
        self.build_image_with(spec, options).await
    }
    /// Gives `image` (an id or reference) the reference `target` (`repo:tag`).
    async fn tag_image(&self, image: &str, target: &str) -> Result<(), Error>;
    async fn push_image(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<(), Error>;
    async fn pull_image(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<(), Error>;
    /// [`Backend::push_image`], telling `note` how it goes.
    async fn push_image_noting(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        _note: &Note,
    ) -> Result<(), Error> {
        self.push_image(reference, auth).await
    }
    /// [`Backend::pull_image`], telling `note` how it goes.
    async fn pull_image_noting(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        _note: &Note,
    ) -> Result<(), Error> {
        self.pull_image(reference, auth).await
    }
    /// The image's registry digests (`repo@sha256:...`), then its id
    /// (`sha256:...`) when the engine gives one, to pin a release: an image
    /// that never came from a registry is pinned by its id.
    async fn image_digests(&self, reference: &str) -> Result<Vec<String>, Error>;
    /// When the engine last tagged `reference` (pulled, built or tagged
    /// it), in milliseconds since the epoch; `Ok(None)` when it cannot
    /// tell, an error when it has no such image. `pull_policy: daily`
    /// reads it, as Compose does.
    async fn image_tagged_millis(&self, reference: &str) -> Result<Option<i64>, Error> {
        self.image_digests(reference).await.map(|_| None)
    }
    /// Removes an image reference; one that does not exist is not an error.
    async fn remove_image(&self, reference: &str) -> Result<(), Error>;
    /// Creates (does not start) a container; returns its id.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, Error>;
    async fn start_container(&self, id: &str) -> Result<(), Error>;
    async fn inspect_container(&self, id: &str) -> Result<Container, Error>;
    /// Runs a command in a running container to its end. A backend that
    /// cannot refuses it.
    async fn exec(&self, id: &str, spec: &ExecSpec) -> Result<ExecOutcome, Error> {
        let _ = spec;
        Err(Error::Unsupported {
            container: id.to_owned(),
            message: "this backend runs no command in a container".into(),
        })
    }
    /// Sends SIGTERM, then SIGKILL after `grace`; a stopped container is not an error.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), Error>;
    /// Removes a container, running or not; one that does not exist is not an error.
    async fn remove_container(&self, id: &str) -> Result<(), Error>;
    /// Attaches a container to a network, where it also answers to `aliases`.
    async fn connect_network(
        &self,
        network: &str,
        id: &str,
        aliases: &[String],
    ) -> Result<(), Error>;
    /// [`Backend::connect_network`] at fixed addresses on the network. A
    /// backend that cannot give them refuses any.
    async fn connect_network_at(
        &self,
        network: &str,
        id: &str,
        aliases: &[String],
        address: &FixedAddress,
    ) -> Result<(), Error> {
        if *address != FixedAddress::default() {
            return Err(Error::Engine {
                operation: "connect to network",
                name: network.to_owned(),
                message: "this backend cannot give a container a fixed address".into(),
            });
        }
        self.connect_network(network, id, aliases).await
    }
    /// Detaches a container from a network; nothing to do when it is not attached.
    async fn disconnect_network(&self, network: &str, id: &str) -> Result<(), Error>;
    /// The last `tail` lines a container wrote (stdout and stderr).
    async fn container_logs(&self, id: &str, tail: u32) -> Result<String, Error>;
    /// Containers, running or not, that carry every one of `labels`.
    async fn list_containers(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Container>, Error>;
    /// Like [`Backend::list_containers`], read off the engine's list alone
    /// (one call, no inspection of each container: what a warm rollback's
    /// look costs before the traffic moves): the health as the list says
    /// it, no health log. The Docker backend answers from its live view
    /// of the engine's events when it keeps one (`Docker::watching`) and
    /// that view can tell, else from the list.
    async fn glance_containers(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Container>, Error> {
        self.list_containers(labels).await
    }
    /// The paths the image's `VOLUME` instructions declare; an image the
    /// engine lacks is an error. A backend that cannot tell says none.
    async fn image_volumes(&self, reference: &str) -> Result<Vec<String>, Error> {
        let _ = reference;
        Ok(Vec::new())
    }
    /// Creates a named volume unless it exists; an `external` one must exist.
    async fn ensure_volume(&self, spec: &VolumeSpec) -> Result<(), Error>;
    /// The names of the volumes that carry every one of `labels`, sorted. A
    /// backend that cannot list them says none.
    async fn list_volumes(&self, labels: &BTreeMap<String, String>) -> Result<Vec<String>, Error> {
        let _ = labels;
        Ok(Vec::new())
    }
    /// Removes a named volume and its data; one that does not exist is not
    /// an error.
    async fn remove_volume(&self, name: &str) -> Result<(), Error>;
    /// Removes a network no container uses any more; one that does not
    /// exist is not an error.
    async fn remove_network(&self, name: &str) -> Result<(), Error>;
    /// Whether a network of this name exists (an external one must).
    async fn network_exists(&self, name: &str) -> Result<bool, Error> {
        let _ = name;
        Ok(true)
    }
    /// Creates a bridge network unless it exists.
    async fn ensure_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), Error>;
    /// Creates a bridge network with Compose's settings unless it exists. A
    /// backend that has none of them refuses anything but the defaults.
    async fn ensure_network_with(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        options: &NetworkOptions,
    ) -> Result<(), Error> {
        if *options != NetworkOptions::default() {
            return Err(Error::Engine {
                operation: "create network",
                name: name.to_owned(),
                message: "this backend creates plain bridge networks only (no internal, ipam, driver_opts, attachable or enable_ipv6)".into(),
            });
        }
        self.ensure_network(name, labels).await
    }
}

/// Splits `repo:tag` (the tag defaults to `latest`); a port in the registry
/// host is not a tag.
pub fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references() {
        assert_eq!(split_reference("web:v1"), ("web", "v1"));
        assert_eq!(split_reference("web"), ("web", "latest"));
        assert_eq!(
            split_reference("127.0.0.1:5000/web"),
            ("127.0.0.1:5000/web", "latest")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/web:r7"),
            ("127.0.0.1:5000/web", "r7")
        );
    }
}
