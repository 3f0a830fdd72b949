//! The Compose fields windlass reads, as Docker means them, and the
//! `x-windlass` extension. Unknown fields are refused with the list of the
//! allowed ones, since a field windlass would silently ignore is a deploy
//! that does not do what its author wrote.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::de;
use serde::Deserialize;
use std::fmt;

use super::values::{self, visitor, Port};

/// The top level of a Compose file. Other `x-` keys (anchors, say) are
/// allowed and ignored; they are checked in `compose::parse`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct File {
    #[allow(dead_code)] // read so that it is allowed; Compose v2 ignores it
    pub version: Option<serde_norway::Value>,
    pub name: Option<String>,
    #[serde(default)]
    pub services: IndexMap<String, Service>,
    #[serde(default)]
    pub networks: IndexMap<String, Option<Network>>,
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_norway::Value>,
}

/// A network declared at the top level.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub driver: Option<String>,
    #[serde(default)]
    pub external: bool,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "values::key_values")]
    pub labels: BTreeMap<String, Option<String>>,
}

/// One service: what to run and how to roll it out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub image: Option<String>,
    pub build: Option<Build>,
    #[serde(default)]
    pub ports: Vec<Port>,
    /// `env_file` entries come first, `environment` overrides them; a key with
    /// no value is taken from windlass's own environment at deploy time.
    #[serde(default, deserialize_with = "values::key_values")]
    pub environment: BTreeMap<String, Option<String>>,
    #[serde(default, deserialize_with = "values::one_or_many")]
    pub env_file: Vec<String>,
    #[serde(default, deserialize_with = "values::command")]
    pub command: Option<Vec<String>>,
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
    #[serde(rename = "x-windlass", default)]
    pub windlass: Windlass,
}

/// `build`: a context path, or the long form.
#[derive(Debug, Clone, PartialEq)]
pub struct Build {
    /// Relative to the Compose file's folder once loaded.
    pub context: PathBuf,
    pub dockerfile: Option<String>,
    pub args: BTreeMap<String, Option<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongBuild {
    context: Option<PathBuf>,
    dockerfile: Option<String>,
    #[serde(default, deserialize_with = "values::key_values")]
    args: BTreeMap<String, Option<String>>,
}

visitor!(BuildVisitor -> Build, "a context path, or a map with context, dockerfile and args", {
    fn visit_str<E: de::Error>(self, context: &str) -> Result<Build, E> {
        Ok(Build { context: PathBuf::from(context), dockerfile: None, args: BTreeMap::new() })
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Build, A::Error> {
        let long = LongBuild::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Build {
            context: long.context.unwrap_or_else(|| PathBuf::from(".")),
            dockerfile: long.dockerfile,
            args: long.args,
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
    pub replicas: Option<u32>,
    pub update_config: Option<UpdateConfig>,
    pub rollback_config: Option<UpdateConfig>,
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

/// `x-windlass`: what Compose has no word for.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Windlass {
    /// Where windlass's proxy serves the service; defaults to the first
    /// published port (on 127.0.0.1 unless `host_ip` says otherwise).
    #[serde(default, deserialize_with = "values::optional_address")]
    pub address: Option<SocketAddr>,
    /// The container port the proxy routes to; defaults to the first port's target.
    pub port: Option<u16>,
    #[serde(default)]
    pub health: Probe,
    /// How long to watch the new release after the switch before retiring the old one.
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub watch: Option<Duration>,
    #[serde(default)]
    pub rollback_on: RollbackTriggers,
    /// How many releases to keep (their images pinned) for `windlass rollback`.
    pub retain: Option<u32>,
    #[serde(default)]
    pub hooks: Hooks,
}

/// windlass's own health probe, for when Docker's healthcheck is not enough.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// HTTP GET this path on the container's published port; 2xx is healthy.
    pub http: Option<String>,
    /// Only connect over TCP.
    #[serde(default)]
    pub tcp: bool,
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub interval: Option<Duration>,
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub timeout: Option<Duration>,
    /// Give up on a release that is not healthy after this long.
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub start_timeout: Option<Duration>,
}

/// What makes windlass roll back during the watch.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackTriggers {
    /// Share of 5xx answers (0 to 1) above which to roll back.
    pub server_error_ratio: Option<f64>,
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub p99_latency: Option<Duration>,
    /// Consecutive failed health checks.
    pub failed_health_checks: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default)]
    pub before_switch: Vec<Hook>,
    #[serde(default)]
    pub after_switch: Vec<Hook>,
}

/// A hook: a command run in a new container of the release, or an ASL state
/// (as JSON) that the deploy definition runs at that point; exactly one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    #[serde(default, deserialize_with = "values::command")]
    pub command: Option<Vec<String>>,
    pub state: Option<serde_json::Value>,
}
