//! Reading Compose files into a [`Project`]: the whole Compose
//! Specification, each field honoured with Docker Compose's meaning or
//! refused with the reason and what to use instead, plus `x-windlass`.
//!
//! The steps, one file each: `read` (YAML, merge keys, `interpolate`
//! with `.env`, relative paths, `include`, `merge` of several files),
//! `check` (field by field into the typed `model`, `mounts`, `runtime`),
//! `rules` (what the fields mean together), with `locate` giving each
//! problem its line. [`check_files`] reports every problem at once;
//! [`load`] and [`parse`] return the first, for callers that only need to
//! know whether a file is good.

mod addresses;
pub mod canonical;
mod check;
mod diagnostic;
mod dockerfile;
mod dotenv;
mod ecs;
mod environments;
mod extends;
mod fields;
mod fingerprint;
mod hooks;
mod host;
mod include;
mod interpolate;
mod lifecycle;
mod locate;
mod merge;
mod model;
mod mounts;
mod paths;
mod pinned;
mod platform;
mod promote;
mod pull_policy;
mod read;
mod resolve;
mod resources;
pub mod rollout;
mod rules;
mod runtime;
mod settle;
mod summary;
mod typed;
mod values;
mod windlass;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use windlass_store::releases::Environment;

pub use diagnostic::{Diagnostic, Location, Severity};
pub use ecs::{Ecs, LambdaHooks};
pub use environments::override_file;
pub use fields::closest;
pub use hooks::check_state;
pub use host::{CgroupNamespace, Link, NetworkMode, VolumesFrom, VolumesSource};
pub use lifecycle::ServiceHook;
pub use locate::{locate, FieldPath, Segment};
pub use model::{
    Build, Deploy, EndpointMode, FailureAction, Healthcheck, Ipam, IpamPool, Network, Order,
    Placement, PlacementPreference, Service, ServiceNetwork, ServiceNetworks, SshAgent,
    UpdateConfig,
};
pub use mounts::{FileContent, FileRef, FileSource, MountKind, ServiceVolume, Volume};
pub use platform::Platform;
pub use promote::{origin_of, Origin, OriginImage, ORIGIN};
pub use pull_policy::PullPolicy;
pub use resources::{
    BlkioConfig, Device, DeviceCount, DeviceRequest, Limits, Reservations, Resources,
    RestartCondition, RestartPolicy, Throttle, WeightDevice,
};
pub use runtime::{
    Condition, Dependency, EnvFile, EnvFormat, Exposed, ExtraHost, Logging, Restart, Ulimit,
};
pub use summary::Strategy;
pub use values::{Port, PortMode, Protocol};
pub use windlass::{Hook, Hooks, Probe, RollbackTriggers, Target, Windlass};

/// Compose files that were read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The first file given.
    pub file: PathBuf,
    /// Every file given, in order (includes not counted).
    pub files: Vec<PathBuf>,
    /// The top-level `name` as written.
    pub name: Option<String>,
    /// The project's name as Compose settles it: given, COMPOSE_PROJECT_NAME,
    /// `name`, or the project folder's name normalised.
    pub project: String,
    /// The project folder, against which relative paths were resolved.
    pub directory: PathBuf,
    /// The services that run (those left out by profiles are not here).
    pub services: IndexMap<String, Service>,
    pub networks: IndexMap<String, Network>,
    pub volumes: IndexMap<String, Volume>,
    pub secrets: IndexMap<String, FileSource>,
    pub configs: IndexMap<String, FileSource>,
    /// Services left out because none of their profiles is active.
    pub left_out: Vec<String>,
    /// The top-level `x-` extensions, as read (interpolated).
    pub extensions: Extensions,
    /// The environment it is deployed as (`--env`); `project` is then
    /// `NAME.ENV`, the app's name in that environment.
    pub env: Option<Environment>,
    /// The target the file was read for, which gives some fields their
    /// meaning (`deploy.placement`, external secrets, ...): `--target`,
    /// else the pinned text's `x-windlass-target`, else `swarm` when every
    /// service says `x-windlass.target: swarm`, else the local engine.
    pub target: Target,
    /// The bytes of `file:` secrets and configs a text pinned for a Swarm
    /// holds, by absolute path: read instead of the files.
    pub pinned_files: BTreeMap<PathBuf, Vec<u8>>,
}

/// A mapping's `x-` keys and their values, which Compose keeps and prints
/// (`docker compose config`) and gives no meaning. Sorted, as Go prints a
/// map.
pub type Extensions = BTreeMap<String, serde_json::Value>;

/// The key under which a pinned text keeps the deploying user's
/// environment: windlass's own, not the user's extension.
pub(crate) use pinned::ENVIRONMENT as PINNED_ENVIRONMENT;

/// The key of the network Compose puts every service on that lists none;
/// it need not be declared.
pub const DEFAULT_NETWORK: &str = "default";

impl Project {
    /// The project's name without its environment (`shop` of `shop.staging`).
    pub fn base_name(&self) -> &str {
        match &self.env {
            Some(env) => self
                .project
                .strip_suffix(&format!(".{env}"))
                .unwrap_or(&self.project),
            None => &self.project,
        }
    }

    /// The engine's name of network `key`: its `name` (`PROJECT_KEY` unless
    /// written, the key of an external one), else `PROJECT_KEY` (the
    /// `default` network need not be declared).
    pub fn network_name(&self, key: &str) -> String {
        self.networks
            .get(key)
            .and_then(|n| n.name.clone())
            .unwrap_or_else(|| format!("{}_{key}", self.project))
    }

    /// Whether network `key` is an external one (not the app's to remove).
    pub fn network_is_external(&self, key: &str) -> bool {
        self.networks.get(key).is_some_and(|n| n.external)
    }
}

/// How to read: variables, profiles and project name, as the `docker
/// compose` command line and environment would give them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Variables for interpolation; they win over the project's `.env`.
    pub environment: BTreeMap<String, String>,
    /// Active profiles, besides those in COMPOSE_PROFILES.
    pub profiles: Vec<String>,
    /// Overrides COMPOSE_PROJECT_NAME and the top-level `name`.
    pub project_name: Option<String>,
    /// Whether build contexts (Dockerfile, target, BuildKit) and secret
    /// files are looked at.
    pub files: FileChecks,
    /// The text is a pinned one ([`pin_files`]' output, as the agent
    /// receives and stores it): no `.env` is read and `environment` is not
    /// used; what the deploying command resolved from its environment is in
    /// the text's `x-windlass-environment`.
    pub pinned: bool,
    /// The environment to read the files as (`--env`): its override file
    /// must be among the files given (see [`override_file`]) or its
    /// `x-windlass.environments` entry in them. A pinned text says its own.
    pub env: Option<Environment>,
    /// Run another environment's images (`deploy --from`), see [`Origin`].
    pub promotion: Option<Origin>,
    /// The target the files are read for (`--target`); `None` reads them
    /// for the target the file names (see [`Project::target`]).
    pub target: Option<Target>,
}

/// What of the host's files a check looks at beyond the Compose files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FileChecks {
    /// Build contexts and secret and config files must be there and
    /// right: for a deploy or `windlass validate`, before anything starts.
    #[default]
    Check,
    /// Neither is looked at: for re-reading a release whose images are
    /// pinned (a rollback), whose build context may have changed since.
    Skip,
}

impl Options {
    /// Options from this process's environment.
    pub fn from_process() -> Options {
        Options {
            environment: std::env::vars().collect(),
            ..Options::default()
        }
    }

    /// Options for a pinned text: nothing of this process's environment or
    /// of a `.env` file is read (the agent's secrets stay the agent's).
    pub fn pinned() -> Options {
        Options {
            pinned: true,
            ..Options::default()
        }
    }
}

/// One port windlass's proxy publishes for a service: where it listens,
/// the container port it carries traffic to, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    /// `host_ip` and `published`. With no `host_ip` the address is `[::]`,
    /// every interface, IPv4 included (Compose publishes on 0.0.0.0 and
    /// ::); with no `published`, port 0: the system picks one when the
    /// proxy is first bound, and the proxy keeps it.
    pub listen: SocketAddr,
    pub target: u16,
    pub protocol: Protocol,
    /// Whether windlass knows the port speaks HTTP (see [`Service::published_ports`]).
    pub http: bool,
    pub name: Option<String>,
}

impl PublishedPort {
    /// Where the port listens, for people: `*:8080` for every interface,
    /// `*:?` for a port the system picks.
    pub fn describe_listen(&self) -> String {
        let port = match self.listen.port() {
            0 => "?".to_owned(),
            port => port.to_string(),
        };
        match self.listen.ip() {
            ip if ip.is_unspecified() => format!("*:{port}"),
            IpAddr::V6(ip) => format!("[{ip}]:{port}"),
            IpAddr::V4(ip) => format!("{ip}:{port}"),
        }
    }
}

impl Service {
    /// The container port windlass's health probes look at: `x-windlass.port`,
    /// else the first published TCP port's.
    /// None in another network mode than the bridge, where nothing is
    /// published.
    pub fn routed_port(&self) -> Option<u16> {
        if !self.bridged() {
            return None;
        }
        self.windlass.port.or_else(|| {
            self.ports
                .iter()
                .find(|p| p.protocol == Protocol::Tcp)
                .map(|p| p.target)
        })
    }

    /// Every port windlass's proxies publish for the service, one proxy
    /// each, in the order written. `x-windlass.address` moves the routed
    /// port's first entry (or adds it, when `ports` has none). A port is
    /// HTTP when its `app_protocol` says `http`, or when it is the routed
    /// port and `x-windlass` judges HTTP (a `health.http` probe, 5xx or
    /// latency rollback triggers); else TCP ports are carried byte for byte
    /// and UDP ports datagram by datagram.
    /// None in another network mode than the bridge, where no proxy can
    /// sit in front of the container.
    pub fn published_ports(&self) -> Vec<PublishedPort> {
        if !self.bridged() {
            return Vec::new();
        }
        let routed = self.routed_port();
        let windlass = &self.windlass;
        let windlass_http = windlass.health.http.is_some()
            || windlass.rollback_on.server_error_ratio.is_some()
            || windlass.rollback_on.p99_latency.is_some();
        let mut ports: Vec<PublishedPort> = self
            .ports
            .iter()
            .map(|p| PublishedPort {
                listen: SocketAddr::new(
                    p.host_ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
                    p.published.unwrap_or(0),
                ),
                target: p.target,
                protocol: p.protocol,
                http: p.protocol == Protocol::Tcp
                    && (p
                        .app_protocol
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case("http"))
                        || (Some(p.target) == routed && windlass_http)),
                name: p.name.clone(),
            })
            .collect();
        if let (Some(address), Some(routed)) = (windlass.address, routed) {
            let found = ports
                .iter_mut()
                .find(|p| p.target == routed && p.protocol == Protocol::Tcp);
            match found {
                Some(port) => port.listen = address,
                None => ports.insert(
                    0,
                    PublishedPort {
                        listen: address,
                        target: routed,
                        protocol: Protocol::Tcp,
                        http: windlass_http,
                        name: None,
                    },
                ),
            }
        }
        ports
    }

    /// Whether windlass's proxies serve the service: it publishes a port.
    pub fn has_proxy(&self) -> bool {
        self.bridged()
            && (!self.ports.is_empty()
                || (self.windlass.address.is_some() && self.routed_port().is_some()))
    }

    /// Whether the container has a namespace of its own on Docker's
    /// bridge (no `network_mode`, or `bridge`), where ports are published.
    pub fn bridged(&self) -> bool {
        self.network_mode
            .as_ref()
            .is_none_or(NetworkMode::is_bridge)
    }

    /// The Compose networks the service joins, by key: those it lists,
    /// else the app's `default` network, as Compose does (services that
    /// list none find each other by name there).
    /// A service with a `network_mode` joins none.
    pub fn joined_networks(&self) -> Vec<(String, ServiceNetwork)> {
        if self.network_mode.is_some() {
            return Vec::new();
        }
        if self.networks.0.is_empty() {
            return vec![(DEFAULT_NETWORK.to_owned(), ServiceNetwork::default())];
        }
        self.networks
            .0
            .iter()
            .map(|(key, options)| (key.clone(), options.clone()))
            .collect()
    }

    /// Why no two containers of the service may run at once, if so: such a
    /// service is deployed stop-first. A fixed `container_name`, a network
    /// mode other than the bridge, a fixed address on a network, a
    /// directory mounted read-write (a named
    /// volume, an anonymous one, which the next release keeps as Compose
    /// keeps it, or a bind mount: two databases on one data folder corrupt
    /// it) unless `x-windlass.shared_mounts` says the service can share
    /// it, or `x-windlass: {exclusive: true}`. Read-only mounts, single
    /// files and tmpfs are each container's own or safe. The image's own
    /// `VOLUME`s count too, but only the target knows the image: see
    /// `plan::uncovered_image_volumes`.
    pub fn must_run_alone(&self) -> Option<&'static str> {
        if self.container_name.is_some() {
            return Some("its container_name allows one container only");
        }
        if let Some(why) = self.network_mode.as_ref().and_then(NetworkMode::why_alone) {
            return Some(why);
        }
        let fixed = |n: &ServiceNetwork| n.ipv4_address.is_some() || n.ipv6_address.is_some();
        if self.networks.0.values().any(fixed) {
            return Some("it has a fixed address on a network (ipv4_address or ipv6_address), which two containers cannot hold at once");
        }
        let shared = |kind: MountKind| {
            self.volumes
                .iter()
                .any(|v| v.kind == kind && v.source.is_some() && !v.read_only && !v.single_file)
        };
        if !self.windlass.shared_mounts {
            if shared(MountKind::Volume) {
                return Some("it mounts a named volume read-write");
            }
            let anonymous = |v: &ServiceVolume| {
                v.kind == MountKind::Volume && v.source.is_none() && !v.read_only
            };
            if self.volumes.iter().any(anonymous) {
                return Some("it mounts an anonymous volume read-write, which each release keeps, as Compose does");
            }
            if shared(MountKind::Bind) {
                return Some("it bind-mounts a directory read-write");
            }
            if self.volumes_from.iter().any(|v| !v.read_only) {
                return Some("it mounts another container's volumes read-write (volumes_from)");
            }
        }
        self.windlass
            .exclusive
            .then_some("x-windlass.exclusive is set")
    }
}

/// Why a Compose file was refused: its first problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {message}", file.display())]
    Read { file: PathBuf, message: String },
    #[error("{location}: {field}: {message}")]
    Invalid {
        location: Location,
        field: String,
        message: String,
    },
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Error {
        Error::Invalid {
            location: d.location,
            field: d.field,
            message: d.message,
        }
    }
}

/// Whether a file is a Compose file rather than a state machine: named as
/// Compose names its files (`compose.yaml`, `docker-compose.yml`,
/// `compose.override.yaml` ...), or YAML whose top level has `services`.
pub fn is_compose_file(path: &Path, text: &str) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    if yaml && (name.starts_with("compose.") || name.starts_with("docker-compose.")) {
        return true;
    }
    if text.trim_start().starts_with('{') {
        return false;
    }
    // A text too deep for the YAML parser to read in good time is no Compose file.
    windlass_asl::parse::check_yaml_depth(text).is_ok()
        && matches!(
            serde_norway::from_str::<serde_norway::Value>(text),
            Ok(serde_norway::Value::Mapping(top)) if top.contains_key("services")
        )
}

/// Reads and checks `files` as `docker compose -f A -f B` would, reporting
/// every problem (warnings too); the project is given when no error is.
pub fn check_files(files: &[PathBuf], options: &Options) -> (Option<Project>, Vec<Diagnostic>) {
    run(&from_disk(files), options)
}

/// Files to read from disk.
fn from_disk(files: &[PathBuf]) -> Vec<read::Input<'static>> {
    files
        .iter()
        .map(|file| read::Input {
            file: file.clone(),
            text: None,
        })
        .collect()
}

/// Checks Compose `text` as if read from `file`, with extra files, env
/// files and includes read from beside it.
pub fn check_text(
    text: &str,
    file: &Path,
    options: &Options,
) -> (Option<Project>, Vec<Diagnostic>) {
    let inputs = [read::Input {
        file: file.to_owned(),
        text: Some(text),
    }];
    run(&inputs, options)
}

/// Reads and checks `files` as [`check_files`] does, and gives the project
/// with its pinned text: one self-contained Compose text (files merged,
/// includes inlined, variables interpolated with `options`, profiles
/// settled) that reads back as the same project in any environment. A
/// deploy sends and stores this text.
pub fn pin_files(
    files: &[PathBuf],
    options: &Options,
) -> (Option<(Project, String)>, Vec<Diagnostic>) {
    let mut tree = None;
    let (project, diagnostics) = run_keeping(&from_disk(files), options, Some(&mut tree));
    let pinned = project.zip(tree).map(|(project, (tree, env))| {
        let text = pinned::pinned_text(&tree, &project, &env);
        (project, text)
    });
    (pinned, diagnostics)
}

fn run(inputs: &[read::Input<'_>], options: &Options) -> (Option<Project>, Vec<Diagnostic>) {
    run_keeping(inputs, options, None)
}

/// The merged tree and the variables it was interpolated with.
type Tree = (serde_norway::Value, BTreeMap<String, String>);

/// [`run`], keeping a copy of the merged tree in `tree` when asked.
fn run_keeping(
    inputs: &[read::Input<'_>],
    options: &Options,
    tree: Option<&mut Option<Tree>>,
) -> (Option<Project>, Vec<Diagnostic>) {
    let mut report = diagnostic::Report::default();
    let Some(loaded) = read::read(inputs, options, &mut report) else {
        return (None, report.diagnostics);
    };
    if let Some(tree) = tree {
        *tree = Some((loaded.value.clone(), loaded.env.clone()));
    }
    let files = inputs.iter().map(|i| i.file.clone()).collect();
    let first = inputs.first().map(|i| i.file.clone()).unwrap_or_default();
    let project = if report.has_errors() {
        None
    } else {
        check::check(loaded, options, &first, files, &mut report)
    };
    (project, report.diagnostics)
}

/// Reads and checks `files` as [`check_files`] does, and gives the project
/// in Compose's canonical form, as `docker compose config` prints it.
pub fn canonical_files(
    files: &[PathBuf],
    options: &Options,
    normalize: canonical::Normalize,
    format: canonical::Format,
) -> (Option<String>, Vec<Diagnostic>) {
    let (project, diagnostics) = check_files(files, options);
    let text = project.map(|project| {
        let environment = environment(&project, options);
        let settings = canonical::Settings {
            environment: &environment,
            normalize,
        };
        canonical::text(&project, &settings, format)
    });
    (text, diagnostics)
}

/// The variables a project was read with: its `.env`, then `options`'
/// environment over it.
pub fn environment(project: &Project, options: &Options) -> BTreeMap<String, String> {
    let mut report = diagnostic::Report::default();
    let mut env = read::read_env_files(
        &[project.directory.join(".env")],
        false,
        &options.environment,
        &mut report,
    );
    env.extend(options.environment.clone());
    env
}

/// Reads and checks the Compose file at `path`, with this process's
/// environment; `env_file`, bind mounts and `build.context` are resolved
/// against its folder.
pub fn load(path: &Path) -> Result<Project, Error> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Read {
        file: path.to_owned(),
        message: err.to_string(),
    })?;
    parse(&text, path)
}

/// Checks Compose `text` as if read from `file`; the first error, if any.
pub fn parse(text: &str, file: &Path) -> Result<Project, Error> {
    parse_with(text, file, &Options::from_process())
}

/// Checks a pinned Compose `text` (what the agent receives) as if read from
/// `file`, with nothing of this process's environment; the first error.
pub fn parse_pinned(text: &str, file: &Path) -> Result<Project, Error> {
    parse_with(text, file, &Options::pinned())
}

fn parse_with(text: &str, file: &Path, options: &Options) -> Result<Project, Error> {
    let (project, diagnostics) = check_text(text, file, options);
    match project {
        Some(project) => Ok(project),
        None => Err(first_error(diagnostics, file)),
    }
}

fn first_error(diagnostics: Vec<Diagnostic>, file: &Path) -> Error {
    diagnostics
        .into_iter()
        .find(|d| d.severity == Severity::Error)
        .map(Error::from)
        .unwrap_or_else(|| Error::Read {
            file: file.to_owned(),
            message: "nothing could be read".into(),
        })
}

#[cfg(test)]
mod tests;
