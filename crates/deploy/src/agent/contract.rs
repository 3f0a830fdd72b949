//! The agent's API, typed once for both sides: the agent's server
//! ([`super::api::app`]) and the CLI's [`super::api::Client`] exchange only
//! these types, as JSON over HTTP/1.1 on a loopback port.
//!
//! - `POST /v1/deploy` [`DeployRequest`] -> `Vec<Started>`
//! - `POST /v1/plan` [`DeployRequest`] -> [`PlanView`] (starts nothing)
//! - `POST /v1/rollback` [`RollbackRequest`] -> `Vec<Started>`
//! - `GET /v1/executions?arn=ARN&after=N` -> [`ExecutionView`]
//! - `GET /v1/status` -> [`StatusView`]
//! - `POST /v1/down` [`DownRequest`] -> [`DownReport`]
//! - `POST /v1/gate` [`GateRequest`] -> [`GateAnswer`] (approve, promote or
//!   abort a rollout)
//!
//! A refusal is an [`ErrorBody`] with the HTTP status its [`ErrorKind`] says.

use serde::{Deserialize, Serialize};
use windlass_engine::Status;
use windlass_store::releases::{Lock, ServiceKey};

pub const DEPLOY: &str = "/v1/deploy";
pub const PLAN: &str = "/v1/plan";
pub const ROLLBACK: &str = "/v1/rollback";
pub const EXECUTIONS: &str = "/v1/executions";
pub const STATUS: &str = "/v1/status";
pub const DOWN: &str = "/v1/down";
pub const GATE: &str = "/v1/gate";

/// A person's answer to an app's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Go on past the approval gate the rollout waits at (`approve`,
    /// `promote`).
    Approve,
    /// Back to 0 % at once, then roll back.
    Abort,
}

/// What `windlass approve`, `promote` and `abort` ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRequest {
    /// Default: the only app deployed.
    #[serde(default)]
    pub app: Option<String>,
    pub decision: Decision,
    pub by: String,
}

/// What the agent did with a [`GateRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateAnswer {
    pub app: String,
    /// The deploy's execution.
    pub execution: String,
    /// What happened, for people.
    pub answered: String,
}

/// What `windlass deploy` asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployRequest {
    pub compose_file: String,
    pub compose_text: String,
    /// Empty: every service of the file.
    #[serde(default)]
    pub services: Vec<String>,
    pub by: String,
    /// The user's own ASL instead of the built-in deploy definition.
    #[serde(default)]
    pub definition: Option<String>,
    /// Deploy every service asked for, even those unchanged since their
    /// live release.
    #[serde(default)]
    pub force: bool,
    /// Hold the new releases at this share of the traffic (1-99), their
    /// analysis judged, until `windlass promote` (the rollout's further
    /// steps) or `windlass abort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<u32>,
}

/// What a deploy would do (`windlass deploy --dry-run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanView {
    pub app: String,
    /// The services to deploy, in the waves they start in (`depends_on`
    /// order; a wave's services start side by side).
    pub order: Vec<Vec<String>>,
    /// Every service asked for, in the file's order.
    pub services: Vec<ServicePlan>,
    /// The rollout's steps before the switch (`x-windlass.rollout`), one
    /// line each; empty when the traffic moves at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollout: Vec<String>,
}

/// One service of a [`PlanView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicePlan {
    pub service: String,
    /// False: unchanged since its live release, left alone.
    pub deploy: bool,
    /// The release that serves now.
    pub live: Option<String>,
    /// Where the image comes from: built, on this machine, or pulled.
    pub image: String,
    /// `blue/green` or `stop-first`.
    pub strategy: String,
    /// Why that strategy.
    pub why: String,
    /// Where windlass's proxies serve it, one line a published port: where
    /// it listens, the container port, at which level (`HTTP`, `TCP`,
    /// `UDP`); empty without a published port.
    #[serde(default)]
    pub ports: Vec<String>,
    /// The file's own account of the service (ports, mounts, replicas,
    /// dependencies), as `windlass validate` prints it.
    pub summary: String,
}

/// What `windlass rollback` asks for: one service back to an earlier
/// release of its own, or (no service) a whole app back to an earlier app
/// release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackRequest {
    /// `None`: the whole app. `APP/SERVICE`, or a service's name in `app`;
    /// a bare name without `app` must be only one app's (else refused,
    /// with the choices).
    #[serde(default)]
    pub service: Option<String>,
    /// The app; with no service, default: the only app deployed.
    #[serde(default)]
    pub app: Option<String>,
    /// The app of the Compose file in the caller's folder: a bare service
    /// name means its service when it has one (see `agent::which`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub here: Option<String>,
    /// Default: the newest earlier (app) release that went live.
    #[serde(default)]
    pub release: Option<String>,
    pub by: String,
}

/// What `windlass down` asks for: stop and remove an app's services (all,
/// or those named), their proxies and networks, and its volumes only when
/// `volumes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownRequest {
    pub compose_file: String,
    pub compose_text: String,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub volumes: bool,
}

/// What `windlass down` removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownReport {
    pub services: Vec<String>,
    pub containers: usize,
    pub networks: Vec<String>,
    /// Networks of the app kept because other containers still use them
    /// (another app's, on a network both name alike), as Compose keeps them.
    #[serde(default)]
    pub networks_in_use: Vec<String>,
    pub volumes: Vec<String>,
}

/// A deploy or rollback the agent started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    /// The service's name in `app`.
    pub service: String,
    pub release: String,
    pub previous: Option<String>,
    pub execution: String,
    /// The app the service belongs to (always given by this version), and
    /// the app release the execution deploys, for an app's deploy or
    /// rollback (one execution for all its services).
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub app_release: Option<String>,
    /// The service was left alone: its configuration, what it reads and its
    /// image are those of its live release `release`, which keeps serving.
    /// No execution then (`execution` is empty).
    #[serde(default)]
    pub unchanged: bool,
}

/// Which execution to look at, and from which event on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionQuery {
    pub arn: String,
    /// Events with ids after this one.
    #[serde(default)]
    pub after: u64,
}

/// One look at an execution: its status and the events after the ones
/// already shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionView {
    pub arn: String,
    #[serde(with = "status_text")]
    pub status: Status,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub events: Vec<Progress>,
    /// What the execution's long steps are doing now (a build's step, a
    /// pull's layer, the last health probe), per service; not history.
    #[serde(default)]
    pub notes: Vec<StepNote>,
}

/// One service's [`ExecutionView::notes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepNote {
    pub service: String,
    /// What its long step does now, if it is in one.
    pub text: Option<String>,
    /// Its release starts or started stop-first in this execution: its
    /// traffic is held from its StartReplicas to the switch.
    #[serde(default)]
    pub stop_first: bool,
}

/// A history event as progress: what the CLI prints and times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub id: u64,
    pub timestamp_millis: i64,
    #[serde(flatten)]
    pub kind: ProgressKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProgressKind {
    /// A state was entered; `service` is the service its input is about
    /// (one iteration of an app's Map over its services).
    Entered {
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
    },
    /// A state was left.
    Exited {
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
    },
    /// A Task state's task failed (the state may still retry or catch it).
    TaskFailed { error: String, cause: String },
    /// The execution ended.
    Ended {
        #[serde(with = "status_text")]
        status: Status,
    },
    /// Anything else, by its AWS event type.
    Other { event_type: String },
}

/// What the agent serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// The agent's process id; `None` when read from the store because no
    /// agent runs.
    pub pid: Option<u32>,
    pub services: Vec<ServiceStatus>,
    /// The agent's build: the CLI compares it with its own (`None` from
    /// an agent before builds were told, or from the store).
    #[serde(default)]
    pub build: Option<super::Build>,
    /// A service manager (systemd) runs the agent: it restarts it, not the
    /// CLI.
    #[serde(default)]
    pub supervised: bool,
}

/// One service: its live release and, from a running agent, its traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// Which app's service (`APP/SERVICE` on the wire).
    pub service: ServiceKey,
    /// Where its proxy listens; `None` for a service that publishes no port.
    pub address: Option<String>,
    pub live: Option<String>,
    pub upstreams: Vec<String>,
    /// The proxy's counters for the live release (from a running agent).
    pub traffic: Option<Traffic>,
    /// The deploy or rollback that holds the service, if one does.
    pub lock: Option<Lock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub requests: u64,
    pub server_errors: u64,
    pub in_flight: u64,
}

/// Why the agent refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
    /// For [`ErrorKind::Busy`]: the execution that holds the service, which
    /// `windlass deploy --wait` follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
}

/// What kind of refusal: the CLI's exit code follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request cannot be done as asked (a bad Compose file, an unknown
    /// service or release, nothing to roll back to).
    Refused,
    /// Something else holds the service (a deploy is running).
    Busy,
    /// No such execution or route.
    NotFound,
    /// The agent itself failed (store, runtime).
    Internal,
}

impl ErrorKind {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Refused => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Busy => 409,
            ErrorKind::Internal => 500,
        }
    }
}

/// A status as AWS writes it (`RUNNING`), not as the enum is named.
mod status_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use windlass_engine::Status;

    pub fn serialize<S: Serializer>(status: &Status, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(status.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Status, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_and_statuses_have_their_wire_names() {
        let view = ExecutionView {
            arn: "arn".into(),
            status: Status::TimedOut,
            error: None,
            cause: None,
            notes: Vec::new(),
            events: vec![Progress {
                id: 3,
                timestamp_millis: 7,
                kind: ProgressKind::Entered {
                    state: "Build".into(),
                    service: None,
                },
            }],
        };
        let text = serde_json::to_string(&view).expect("JSON");
        assert!(text.contains(r#""status":"TIMED_OUT""#), "{text}");
        assert!(
            text.contains(r#"{"id":3,"timestamp_millis":7,"kind":"entered","state":"Build"}"#),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<ExecutionView>(&text).expect("reads back"),
            view
        );
    }
}
