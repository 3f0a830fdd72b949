//! `x-windlass`, a service's extension for what Compose has no word for:
//! where the proxy listens, windlass's own health probe, the watch after a
//! switch, rollback triggers, releases kept, hooks and the rollout.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::values;

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
    /// Move the traffic step by step (canary or linear), judged by the
    /// proxy's counters before each next step.
    #[serde(default)]
    pub rollout: Option<super::rollout::Rollout>,
    /// Only one container of the service may exist at a time (a database
    /// on a volume, a singleton worker): deployed stop-first.
    #[serde(default)]
    pub exclusive: bool,
    /// The service's read-write mounts are safe for two releases at once
    /// (it locks its files, or only appends uploads): a named volume or
    /// bind-mounted directory does not make it deploy stop-first.
    #[serde(default)]
    pub shared_mounts: bool,
    /// Push each release's image to the repository `image` names
    /// (`REPO:RELEASE`) and pin the release by the registry's digest. An
    /// image is never pushed unless this says so.
    #[serde(default)]
    pub push: bool,
    /// Deploy to Amazon ECS instead of the local engine (`--target ecs`
    /// does the same for every service); an unknown target is refused.
    #[serde(default)]
    pub target: Option<Target>,
    /// Where and how the service runs on ECS (`target: ecs`).
    #[serde(default)]
    pub ecs: super::ecs::Ecs,
}

/// Where a service's releases run: `--target` and `x-windlass.target`.
/// A word that names no target is refused (by clap, by the Compose
/// reader with its line), never read as the default. A new target is a
/// new variant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Target {
    /// The local Docker engine, behind windlass's proxy (the agent).
    #[default]
    Docker,
    /// Amazon ECS (images in ECR), by a definition of AWS integrations only.
    Ecs,
    /// The Docker Swarm whose manager `DOCKER_HOST` names, behind windlass's
    /// entry point on the Swarm (`target::swarm`).
    Swarm,
}

impl Target {
    pub const ALL: &[Target] = &[Target::Docker, Target::Ecs, Target::Swarm];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::Docker => "docker",
            Target::Ecs => "ecs",
            Target::Swarm => "swarm",
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Target, String> {
        Target::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Target::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "unknown target {text:?}: windlass deploys to {}",
                    known.join(", ")
                )
            })
    }
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

/// A hook: a command run in a new container of the release, an ASL state
/// (as JSON) that the deploy definition runs at that point, or (on the ECS
/// target) a Lambda function invoked (`lambda:invoke`); exactly one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    #[serde(default, deserialize_with = "values::command")]
    pub command: Option<Vec<String>>,
    pub state: Option<serde_json::Value>,
    /// A Lambda function's name or ARN.
    #[serde(default)]
    pub lambda: Option<String>,
}
