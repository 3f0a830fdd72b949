//! A service as windlass reads it: the Compose fields it honours, with
//! Docker Compose's meaning, read from YAML by serde. Which fields exist and
//! which are refused (and why) is `fields`; what a field's values mean
//! beyond their shape is checked in `check`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::de;
use serde::Deserialize;
use std::fmt;

use super::host::{self, CgroupNamespace, Link, NetworkMode, VolumesFrom};
use super::lifecycle::ServiceHook;
use super::mounts::{self, FileRef, ServiceVolume};
use super::pull_policy::PullPolicy;
use super::resources::{self, BlkioConfig, Device, DeviceRequest, Resources, RestartPolicy};
use super::runtime::{self, Dependency, EnvFile, Exposed, ExtraHost, Logging, Restart, Ulimit};
use super::values::{self, visitor, Port};
use super::windlass::Windlass;

/// One service: what to run and how to roll it out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub image: Option<String>,
    pub build: Option<Build>,
    /// When a deploy pulls `image` and when it builds (`missing` unless
    /// said): see `target::docker::pull`.
    #[serde(default)]
    pub pull_policy: PullPolicy,
    /// Every published port, ranges expanded.
    #[serde(default, deserialize_with = "values::ports")]
    pub ports: Vec<Port>,
    /// `env_file` entries come first, `environment` overrides them; a key with
    /// no value is taken from windlass's own environment at deploy time.
    #[serde(default, deserialize_with = "values::key_values")]
    pub environment: BTreeMap<String, Option<String>>,
    /// Already read into `environment` once loaded.
    #[serde(default, deserialize_with = "runtime::env_files")]
    pub env_file: Vec<EnvFile>,
    #[serde(default, deserialize_with = "values::command")]
    pub command: Option<Vec<String>>,
    /// Replaces the image's entrypoint; an empty list clears it.
    #[serde(default, deserialize_with = "values::command")]
    pub entrypoint: Option<Vec<String>>,
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub deploy: Deploy,
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub stop_grace_period: Option<Duration>,
    #[serde(default, deserialize_with = "values::key_values")]
    pub labels: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub networks: ServiceNetworks,
    /// Run an init process as PID 1 that forwards signals (Docker's `--init`).
    pub init: Option<bool>,
    /// Named volumes, bind mounts (made absolute against the project folder)
    /// and tmpfs mounts.
    #[serde(default, deserialize_with = "mounts::service_volumes")]
    pub volumes: Vec<ServiceVolume>,
    /// `no` (the default), `always`, `on-failure[:N]`, `unless-stopped`.
    pub restart: Option<Restart>,
    /// Services started (and healthy, or run to completion) before this one.
    #[serde(default, deserialize_with = "runtime::depends_on")]
    pub depends_on: IndexMap<String, Dependency>,
    /// Container ports open to other services on the networks, not published.
    #[serde(default, deserialize_with = "runtime::exposed")]
    pub expose: Vec<Exposed>,
    /// A fixed container name: only one container of the service can exist.
    /// Empty (after interpolation) is unset, as Docker Compose has it: the
    /// containers get their usual names.
    #[serde(default, deserialize_with = "host::optional_non_empty")]
    pub container_name: Option<String>,
    /// Mounted at `/run/secrets/NAME` unless a target says otherwise.
    #[serde(default, deserialize_with = "mounts::file_refs")]
    pub secrets: Vec<FileRef>,
    /// Mounted at `/NAME` unless a target says otherwise.
    #[serde(default, deserialize_with = "mounts::file_refs")]
    pub configs: Vec<FileRef>,
    #[serde(default, deserialize_with = "values::optional_scalar")]
    pub user: Option<String>,
    pub working_dir: Option<String>,
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    pub stop_signal: Option<String>,
    #[serde(default, deserialize_with = "runtime::extra_hosts")]
    pub extra_hosts: Vec<ExtraHost>,
    #[serde(default)]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// tmpfs mounts by container path (`/run` or `/run:size=64m`).
    #[serde(default, deserialize_with = "values::one_or_many")]
    pub tmpfs: Vec<String>,
    /// Bytes of `/dev/shm`.
    #[serde(default, deserialize_with = "values::optional_bytes")]
    pub shm_size: Option<u64>,
    /// `os[/arch[/variant]]` or a lone CPU (`Platform`); the engine must run it natively. Empty (after
    /// interpolation) is unset.
    #[serde(default, deserialize_with = "host::optional_non_empty")]
    pub platform: Option<String>,
    #[serde(default)]
    pub stdin_open: bool,
    #[serde(default)]
    pub tty: bool,
    /// Mount the container's root filesystem read-only.
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub privileged: bool,
    /// Left out unless one of these profiles is active.
    #[serde(default)]
    pub profiles: Vec<String>,
    pub logging: Option<Logging>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    #[serde(default, deserialize_with = "values::one_or_many")]
    pub dns: Vec<String>,
    #[serde(default, deserialize_with = "values::one_or_many")]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_opt: Vec<String>,
    #[serde(default)]
    pub security_opt: Vec<String>,
    #[serde(default, deserialize_with = "values::key_values")]
    pub sysctls: BTreeMap<String, Option<String>>,
    #[serde(default, deserialize_with = "values::scalars")]
    pub group_add: Vec<String>,
    /// Bytes of memory the container may use.
    #[serde(default, deserialize_with = "values::optional_bytes")]
    pub mem_limit: Option<u64>,
    #[serde(default, deserialize_with = "values::optional_float")]
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    /// Whose network namespace the containers run in; the bridge unless
    /// given. Any other mode deploys stop-first with no proxy.
    pub network_mode: Option<NetworkMode>,
    /// Replicas, as `deploy.replicas` (which wins when both agree).
    pub scale: Option<u32>,
    /// Whether `docker compose up` shows the service's output; windlass
    /// never attaches, so it has no effect.
    pub attach: Option<bool>,
    /// `docker compose watch`'s settings, kept as written (paths absolute)
    /// for `windlass config`: no effect on a deploy, as on `up`.
    pub develop: Option<serde_json::Value>,
    #[serde(default)]
    pub devices: Vec<Device>,
    #[serde(default)]
    pub device_cgroup_rules: Vec<String>,
    /// Device requests for GPUs (`all`, or a list of requests).
    #[serde(default, deserialize_with = "resources::gpus")]
    pub gpus: Vec<DeviceRequest>,
    pub cgroup: Option<CgroupNamespace>,
    pub cgroup_parent: Option<String>,
    pub ipc: Option<String>,
    pub pid: Option<String>,
    pub uts: Option<String>,
    pub userns_mode: Option<String>,
    /// Only `default` on a Linux engine (the others are Windows').
    pub isolation: Option<String>,
    pub runtime: Option<String>,
    pub oom_score_adj: Option<i64>,
    #[serde(default)]
    pub oom_kill_disable: bool,
    /// Bytes: the container's soft memory limit.
    #[serde(default, deserialize_with = "values::optional_bytes")]
    pub mem_reservation: Option<u64>,
    /// Bytes of memory and swap together; -1 for unlimited swap.
    #[serde(default, deserialize_with = "host::optional_swap")]
    pub memswap_limit: Option<i64>,
    pub mem_swappiness: Option<i64>,
    pub cpu_shares: Option<i64>,
    /// Microseconds.
    #[serde(default, deserialize_with = "host::optional_micros")]
    pub cpu_period: Option<i64>,
    /// Microseconds.
    #[serde(default, deserialize_with = "host::optional_micros")]
    pub cpu_quota: Option<i64>,
    /// Microseconds.
    #[serde(default, deserialize_with = "host::optional_micros")]
    pub cpu_rt_runtime: Option<i64>,
    /// Microseconds.
    #[serde(default, deserialize_with = "host::optional_micros")]
    pub cpu_rt_period: Option<i64>,
    /// CPUs the containers may run on, like `0-3` or `0,2`.
    #[serde(default, deserialize_with = "values::optional_scalar")]
    pub cpuset: Option<String>,
    pub blkio_config: Option<BlkioConfig>,
    #[serde(default, deserialize_with = "values::string_map")]
    pub storage_opt: BTreeMap<String, String>,
    /// Files of `KEY=VALUE` labels; `labels` overrides them. Already read
    /// into `labels` once loaded.
    #[serde(default, deserialize_with = "values::one_or_many")]
    pub label_file: Vec<String>,
    /// Legacy links to services of the file on Docker's default bridge.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Legacy links to containers made outside the file.
    #[serde(default)]
    pub external_links: Vec<Link>,
    /// Other containers whose volumes these mount too.
    #[serde(default)]
    pub volumes_from: Vec<VolumesFrom>,
    /// Commands run in each container right after it starts; one that
    /// fails fails the start.
    #[serde(default)]
    pub post_start: Vec<ServiceHook>,
    /// Commands run in each container before it is stopped; one that fails
    /// is logged and the stop goes on.
    #[serde(default)]
    pub pre_stop: Vec<ServiceHook>,
    /// Bind-mounts the engine's socket (`/var/run/docker.sock`) into the
    /// containers: root on the host.
    #[serde(default)]
    pub use_api_socket: bool,
    #[serde(rename = "x-windlass", default)]
    pub windlass: Windlass,
    /// Every `x-` key of the service as written, `x-windlass` included, for
    /// `windlass config`; no effect on a deploy.
    #[serde(skip)]
    pub extensions: super::Extensions,
    /// Another service waits for this one to exit 0 (`depends_on` with
    /// `condition: service_completed_successfully`): a one-shot job, such as
    /// a migration. Its release is healthy once its containers exited 0; it
    /// takes no traffic and is not watched. Set once the project is read.
    #[serde(skip)]
    pub runs_to_completion: bool,
}

/// `build`: a context path, or the long form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Build {
    /// Absolute once loaded (relative paths are against the project folder).
    pub context: PathBuf,
    /// Relative to the context; `Dockerfile` when `None`.
    pub dockerfile: Option<String>,
    pub args: BTreeMap<String, Option<String>>,
    /// The Dockerfile stage to build.
    pub target: Option<String>,
    pub labels: BTreeMap<String, Option<String>>,
    /// Images whose layers may serve as cache: `IMAGE` or
    /// `type=registry,ref=IMAGE`.
    pub cache_from: Vec<String>,
    /// Where the build's cache goes: only `type=inline` (into the image
    /// itself) works without a BuildKit session; `rules` refuses the rest.
    pub cache_to: Vec<String>,
    /// The network `RUN` steps use (`host`, `none`, `default`).
    pub network: Option<String>,
    /// Bytes of `/dev/shm` for `RUN` steps.
    pub shm_size: Option<u64>,
    /// Top-level secrets the build's `RUN --mount=type=secret,id=ID` may
    /// read, by id (`target`, else the secret's name); their content once
    /// loaded.
    pub secrets: Vec<FileRef>,
    /// SSH agents a `RUN --mount=type=ssh,id=ID` reaches, forwarded over
    /// the build's BuildKit session.
    pub ssh: Vec<SshAgent>,
}

/// One of `build.ssh`: `default` (or an id alone) is the agent of
/// `$SSH_AUTH_SOCK`, `ID=PATH` the agent listening on the socket PATH.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SshAgent {
    pub id: String,
    /// The agent's socket: as written (absolute once loaded), else
    /// `$SSH_AUTH_SOCK` of the deploying command; `None` when neither.
    pub socket: Option<PathBuf>,
    /// Whether the path was written (else it is `$SSH_AUTH_SOCK`).
    pub written: bool,
}

visitor!(SshVisitor -> Vec<SshAgent>, "a list of `default` or ID=PATH, or a map of ID to PATH", {
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<SshAgent>, A::Error> {
        let entries = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(entries.iter().map(|entry| match entry.split_once('=') {
            Some((id, path)) => SshAgent::at(id, path),
            None => SshAgent::at(entry, ""),
        }).collect())
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Vec<SshAgent>, A::Error> {
        let entries = IndexMap::<String, Option<String>>::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(entries.iter().map(|(id, path)| SshAgent::at(id, path.as_deref().unwrap_or(""))).collect())
    }
});

impl SshAgent {
    fn at(id: &str, path: &str) -> SshAgent {
        let path = path.trim();
        SshAgent {
            id: id.trim().to_owned(),
            socket: (!path.is_empty()).then(|| PathBuf::from(path)),
            written: !path.is_empty(),
        }
    }
}

fn ssh_agents<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SshAgent>, D::Error> {
    d.deserialize_any(SshVisitor)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongBuild {
    context: Option<PathBuf>,
    dockerfile: Option<String>,
    #[serde(default, deserialize_with = "values::key_values")]
    args: BTreeMap<String, Option<String>>,
    target: Option<String>,
    #[serde(default, deserialize_with = "values::key_values")]
    labels: BTreeMap<String, Option<String>>,
    #[serde(default)]
    cache_from: Vec<String>,
    #[serde(default)]
    cache_to: Vec<String>,
    network: Option<String>,
    #[serde(default, deserialize_with = "values::optional_bytes")]
    shm_size: Option<u64>,
    #[serde(default, deserialize_with = "mounts::file_refs")]
    secrets: Vec<FileRef>,
    #[serde(default, deserialize_with = "ssh_agents")]
    ssh: Vec<SshAgent>,
}

visitor!(BuildVisitor -> Build, "a context path, or a map with context, dockerfile, args, target, labels, cache_from, cache_to, network, shm_size, secrets, ssh", {
    fn visit_str<E: de::Error>(self, context: &str) -> Result<Build, E> {
        Ok(Build { context: PathBuf::from(context), ..Build::default() })
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Build, A::Error> {
        let long = LongBuild::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Build {
            context: long.context.unwrap_or_else(|| PathBuf::from(".")),
            // Empty is unset, as Compose reads it (`target: ${TARGET:-}`).
            dockerfile: long.dockerfile.filter(|d| !d.is_empty()),
            args: long.args,
            target: long.target.filter(|t| !t.is_empty()),
            labels: long.labels,
            cache_from: long.cache_from,
            cache_to: long.cache_to,
            network: long.network,
            shm_size: long.shm_size,
            secrets: long.secrets,
            ssh: long.ssh,
        })
    }
});

impl<'de> Deserialize<'de> for Build {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Build, D::Error> {
        d.deserialize_any(BuildVisitor)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]`, `["NONE"]`, or a string (CMD-SHELL).
    #[serde(default, deserialize_with = "healthcheck_test")]
    pub test: Option<Vec<String>>,
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub interval: Option<Duration>,
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub start_period: Option<Duration>,
    /// How often to probe during `start_period`. Passed to engines that
    /// speak API 1.44 or later; an older engine (Debian's speaks 1.41)
    /// probes at `interval` during the start period too, as Compose does
    /// when the engine does not know the field.
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub start_interval: Option<Duration>,
    #[serde(default)]
    pub disable: bool,
}

visitor!(HealthTest -> Vec<String>, "a string or a list like [\"CMD\", \"/app\", \"probe\"]", {
    fn visit_str<E: de::Error>(self, line: &str) -> Result<Vec<String>, E> {
        Ok(vec!["CMD-SHELL".into(), line.to_owned()])
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<String>, A::Error> {
        let words = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        match words.first().map(String::as_str) {
            Some("CMD" | "CMD-SHELL" | "NONE") => Ok(words),
            _ => Err(de::Error::custom(
                "a healthcheck test list must start with \"CMD\", \"CMD-SHELL\" or \"NONE\"",
            )),
        }
    }
});

fn healthcheck_test<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    d.deserialize_any(HealthTest).map(Some)
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// Only `replicated` (the default) is honoured.
    pub mode: Option<String>,
    pub replicas: Option<u32>,
    pub update_config: Option<UpdateConfig>,
    pub rollback_config: Option<UpdateConfig>,
    pub resources: Option<Resources>,
    /// The container's restart policy when the service sets no `restart`.
    pub restart_policy: Option<RestartPolicy>,
    /// Where a Swarm places the tasks (Swarm target only: the local
    /// engine's reader warns and drops it, as Docker Compose ignores it).
    pub placement: Option<Placement>,
    /// Labels of the Swarm service (Swarm target only); the service's
    /// `labels` go on its containers.
    #[serde(default, deserialize_with = "values::key_values")]
    pub labels: BTreeMap<String, Option<String>>,
    /// How the Swarm service is reached (Swarm target only).
    pub endpoint_mode: Option<EndpointMode>,
}

/// `deploy.placement`: a Swarm's constraints and preferences.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// `node.hostname==node1`, `node.labels.zone!=east`, ...
    #[serde(default)]
    pub constraints: Vec<String>,
    #[serde(default)]
    pub preferences: Vec<PlacementPreference>,
    /// At most this many tasks of the service on one node.
    pub max_replicas_per_node: Option<u64>,
}

/// One `deploy.placement.preferences` entry: spread the tasks evenly over
/// the values of a node label (`node.labels.zone`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreference {
    pub spread: String,
}

/// `deploy.endpoint_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    Vip,
    Dnsrr,
}

/// `deploy.update_config` and `deploy.rollback_config`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Containers replaced at a time; 0 means all at once.
    pub parallelism: Option<u32>,
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub delay: Option<Duration>,
    pub failure_action: Option<FailureAction>,
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub monitor: Option<Duration>,
    pub max_failure_ratio: Option<f64>,
    pub order: Option<Order>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    Continue,
    Rollback,
    Pause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    StopFirst,
    StartFirst,
}

/// `networks` of a service: a list of names or a map of name to options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceNetworks(pub IndexMap<String, ServiceNetwork>);

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The container's fixed address on the network; it must lie in one of
    /// the network's `ipam` subnets. Two containers cannot hold one, so
    /// such a service deploys stop-first.
    pub ipv4_address: Option<std::net::Ipv4Addr>,
    pub ipv6_address: Option<std::net::Ipv6Addr>,
    /// The top-level network's settings, filled in once the project is
    /// checked (the engine's defaults for `default` and undeclared ones).
    #[serde(skip)]
    pub options: crate::backend::NetworkOptions,
}

impl ServiceNetwork {
    /// The container's fixed addresses on the network, as the backend takes them.
    pub fn fixed(&self) -> crate::backend::FixedAddress {
        crate::backend::FixedAddress {
            ipv4: self.ipv4_address,
            ipv6: self.ipv6_address,
        }
    }
}

visitor!(NetworksVisitor -> ServiceNetworks, "a list of network names or a map of name to {aliases}", {
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<ServiceNetworks, A::Error> {
        let names = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(ServiceNetworks(names.into_iter().map(|n| (n, ServiceNetwork::default())).collect()))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<ServiceNetworks, A::Error> {
        let map = IndexMap::<String, Option<ServiceNetwork>>::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(ServiceNetworks(map.into_iter().map(|(n, o)| (n, o.unwrap_or_default())).collect()))
    }
});

impl<'de> Deserialize<'de> for ServiceNetworks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NetworksVisitor)
    }
}

/// A network declared at the top level.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub driver: Option<String>,
    #[serde(default)]
    pub external: bool,
    /// The engine's name: as written, or `PROJECT_KEY` (Compose's naming)
    /// once loaded; an external network keeps its key when none is given.
    pub name: Option<String>,
    #[serde(default, deserialize_with = "values::key_values")]
    pub labels: BTreeMap<String, Option<String>>,
    /// No route out of the network: its containers reach only each other.
    #[serde(default)]
    pub internal: bool,
    /// Containers outside the project may join it.
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default, deserialize_with = "values::string_map")]
    pub driver_opts: BTreeMap<String, String>,
    /// Address pools; the engine's defaults when absent.
    pub ipam: Option<Ipam>,
    #[serde(skip)]
    pub extensions: super::Extensions,
}

/// `networks.*.ipam`: how the network's addresses are given out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    pub driver: Option<String>,
    #[serde(default)]
    pub config: Vec<IpamPool>,
    #[serde(default, deserialize_with = "values::string_map")]
    pub options: BTreeMap<String, String>,
}

/// One address pool of a network.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    pub subnet: Option<String>,
    pub ip_range: Option<String>,
    pub gateway: Option<String>,
    #[serde(default, deserialize_with = "values::string_map")]
    pub aux_addresses: BTreeMap<String, String>,
}
