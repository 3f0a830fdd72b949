//! The deploy side: each service's releases (the live one, the warm one a
//! rollback flips to, each with its outcome, time to live and time to roll
//! back), its proxy's requests, 5xx and latency per release sampled by the
//! server into a short series for the charts ([`traffic`]), each app's
//! releases ([`apps`]), rollback of a service or an app from the page
//! ([`rollback`]), and a running rollout: its canaries' weights and both
//! releases' windows over time ([`rollout`]) and the answers to its
//! approval gate ([`gate`]).
//!
//! Releases, deploy executions and the gate a deploy waits at are read
//! from the agent's store; traffic, rollback and a rollout's answer go to
//! the running agent through [`Agent`], which the binary
//! implements with the agent's and the proxy daemon's typed clients, so
//! this crate knows neither process.

pub mod apps;
pub mod gate;
pub mod rollback;
pub mod rollout;
pub mod traffic;

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use windlass_store::releases::{
    origin_of, rollback_target, Event, Live, Origin, Outcome, Release, Releases, ServiceKey,
};
use windlass_store::Store;

use crate::{Dashboard, Error};

pub use apps::AppView;
pub use gate::{gate, Answer, Answered};
pub use rollback::{rollback, RollbackStarted};
pub use rollout::{CanaryView, Point, RolloutView, Window};
pub use traffic::{start_sampling, Sample, TrafficLog, SAMPLES, SAMPLE_EVERY};

/// The deploy agent, as the dashboard sees it.
#[derive(Clone)]
pub struct Deploys {
    /// The agent's executions (a deploy is an execution).
    pub executions: Arc<dyn Store>,
    pub releases: Arc<dyn Releases>,
    pub agent: Arc<dyn Agent>,
}

/// What the dashboard asks of the running agent.
#[async_trait]
pub trait Agent: Send + Sync + 'static {
    /// Every proxied service's counters, per release it still counts.
    async fn traffic(&self) -> Result<Vec<ReleaseTraffic>, String>;
    /// Rolls a service back to its previous release, or an app back to its
    /// previous app release; the rollback's execution ARN (an app's
    /// rollback is one execution for all its services).
    async fn rollback(&self, what: &Rollback, by: &str) -> Result<String, String>;
    /// Answers app `app`'s rollout (the agent's `POST /v1/gate`, as
    /// `windlass approve`, `promote` and `abort` do).
    async fn gate(&self, app: &str, answer: Answer, by: &str) -> Result<Answered, String>;
    /// Why Swarm app `app` cannot be rolled back from this server (its
    /// button's tooltip), or `None` when [`Agent::rollback`] can: the
    /// binary's answer says whether it reaches a manager of the Swarm the
    /// app's releases were deployed to. By default, never.
    async fn swarm_rollback_off(&self, app: &str) -> Option<String> {
        let _ = app;
        Some(SWARM_ROLLBACK_OFF.to_owned())
    }
}

/// What a rollback from the page takes back: JSON `{"service": "shop/web"}`
/// (`APP/SERVICE`; a bare name only one app has is taken too) or
/// `{"app": "shop"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollback {
    /// One service, to the newest earlier release that went live.
    Service(String),
    /// Every service of an app, to the newest earlier app release that went live.
    App(String),
}

impl std::fmt::Display for Rollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rollback::Service(service) => write!(f, "service {service}"),
            Rollback::App(app) => write!(f, "app {app}"),
        }
    }
}

/// One release's counters in one service's proxy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseTraffic {
    /// The proxy's name: the service's `APP/SERVICE`.
    pub service: String,
    pub release: String,
    pub requests: u64,
    pub server_errors: u64,
    pub p99_us: Option<u64>,
    /// The share of new traffic the proxy routes to this release now:
    /// none for a release it only still counts.
    #[serde(default)]
    pub share: Option<Share>,
    /// Its latency histogram: `[upper bound in µs, count]` per bucket that
    /// counted something, lowest first, so that two samples give a
    /// window's p99.
    #[serde(default)]
    pub latencies: Vec<[u64; 2]>,
}

/// The share of a service's new traffic its proxy routes to a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// The live release: what the canary leaves, in percent (100 without one).
    Live(u8),
    /// The canary beside it during a rollout: its weight, in percent.
    Canary(u8),
}

#[derive(Serialize)]
pub struct ServicesView {
    /// False: this server knows no deploy agent.
    pub enabled: bool,
    pub rollback_allowed: bool,
    /// Whether the page may answer a rollout's gate (the same permission
    /// as rollback: `--dashboard-rollback`).
    pub gate_allowed: bool,
    /// Why the last traffic sample could not be taken, if it could not.
    pub agent_problem: Option<String>,
    pub services: Vec<ServiceView>,
    pub apps: Vec<AppView>,
}

#[derive(Serialize)]
pub struct ServiceView {
    /// `APP/SERVICE`: which app's service (two apps may both have a `web`);
    /// what a rollback from the page names and the proxy's traffic is
    /// counted under.
    pub service: String,
    /// The app and the service's name in it, apart.
    pub app: String,
    pub name: String,
    /// The environment its app was deployed in (`--env`), if any.
    pub environment: Option<String>,
    pub live: Option<String>,
    /// The release a rollback goes back to: the newest earlier one that
    /// went live (and, for a local service, is not pruned).
    pub rollback_to: Option<String>,
    /// `rollback_to` when it still runs beside the live one, so a rollback
    /// is a flip of the proxy: a local (Docker) release the retire step
    /// kept. An ECS service keeps no old revision running.
    pub warm: Option<String>,
    /// `docker`, `swarm` or `ecs`: where the service runs ([`Place`]).
    pub target: &'static str,
    /// Why the page's rollback button is off, when it is (its tooltip).
    pub rollback_off: Option<String>,
    pub address: Option<String>,
    pub releases: Vec<ReleaseView>,
    /// While its proxy has a canary (a rollout runs): the canary's weight
    /// and both releases' windows over the samples.
    pub canary: Option<CanaryView>,
}

#[derive(Serialize)]
pub struct ReleaseView {
    pub id: String,
    pub outcome: String,
    /// What happened to it and when (went live, rolled back, retired,
    /// failed, pruned), oldest first.
    pub history: Vec<Event>,
    pub created_millis: i64,
    pub by: String,
    pub image: Option<String>,
    /// The image's registry digest, or its id when it was never pushed.
    pub digest: Option<String>,
    /// Where its image came from, when it was promoted from another
    /// environment (`deploy --from`).
    pub origin: Option<Origin>,
    /// From the deploy's start to its end (the release live), when it went live.
    pub time_to_live_millis: Option<i64>,
    pub rollback_millis: Option<i64>,
    pub detail: Option<String>,
    pub execution: Option<String>,
    pub pruned: bool,
    pub traffic: Vec<Sample>,
}

/// Where a service runs, as the page names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The local engine, behind the agent's proxies.
    Docker,
    /// A Docker Swarm, deployed by `windlass deploy --target swarm`.
    Swarm,
    /// Amazon ECS (`ecs/CLUSTER/SERVICE`).
    Ecs,
}

impl Place {
    pub fn as_str(self) -> &'static str {
        match self {
            Place::Docker => "docker",
            Place::Swarm => "swarm",
            Place::Ecs => "ecs",
        }
    }

    /// Where the service of `key` runs: ECS by its key; a Swarm when its
    /// newest release's execution is a Swarm machine's
    /// (`windlass-swarm-app-deploy` and the like: the deploy crate's
    /// `agent/machines.rs` names them).
    fn of(key: &ServiceKey, releases: &[Release]) -> Place {
        if key.is_ecs() {
            return Place::Ecs;
        }
        let newest = releases.iter().max_by_key(|r| r.created_millis);
        match newest.and_then(|r| r.execution.as_deref()) {
            Some(arn) if arn.contains(":execution:windlass-swarm-") => Place::Swarm,
            _ => Place::Docker,
        }
    }
}

/// Why a Swarm service's or app's rollback button is off on a server that
/// reaches no Swarm (an [`Agent`] that does not say otherwise).
pub const SWARM_ROLLBACK_OFF: &str = "this server reaches no Swarm manager: a Swarm app is rolled back with `windlass rollback --target swarm` (with DOCKER_HOST at a manager), or from here once windlass server runs with DOCKER_HOST at a manager of the app's Swarm";

/// Why every rollback button is off on a server that does not allow them.
const ROLLBACK_OFF: &str =
    "rollback from the dashboard is off: start windlass server with --dashboard-rollback";

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Every service with its releases and the samples taken of its traffic,
/// and every app with its releases.
pub async fn services(State(d): State<Arc<Dashboard>>) -> Result<Json<ServicesView>, Error> {
    let Some(deploys) = d.sources.deploys.clone() else {
        return Ok(Json(ServicesView {
            enabled: false,
            rollback_allowed: false,
            gate_allowed: false,
            agent_problem: None,
            services: Vec::new(),
            apps: Vec::new(),
        }));
    };
    let releases = deploys.releases.clone();
    let executions = deploys.executions.clone();
    let (listed, mut apps, deploying) =
        tokio::task::spawn_blocking(move || -> Result<(Vec<_>, Vec<AppView>, Vec<_>), Error> {
            let mut out = Vec::new();
            for service in releases.keys()? {
                let live = releases.live(&service)?;
                let list = releases.list(&service)?;
                let mut rows = Vec::new();
                for r in list {
                    let time_to_live = match (&r.execution, r.outcome) {
                        (Some(arn), Outcome::Live | Outcome::RolledBack) => executions
                            .execution(arn)?
                            .and_then(|e| e.stop_millis.map(|s| s - e.start_millis)),
                        _ => None,
                    };
                    rows.push((r, time_to_live));
                }
                out.push((service, live, rows));
            }
            let apps = apps::apps(releases.as_ref())?;
            let mut deploying = Vec::new();
            for app in &apps {
                deploying.push(rollout::deploying(
                    releases.as_ref(),
                    executions.as_ref(),
                    &app.app,
                )?);
            }
            Ok((out, apps, deploying))
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let mut services: Vec<ServiceView> = listed
        .into_iter()
        .map(|(service, live, rows)| service_view(&d.traffic, service, live, rows))
        .collect();
    let off = |to: &Option<String>, what: String| match (d.config.allow_rollback, to) {
        (false, _) => Some(ROLLBACK_OFF.to_owned()),
        (true, None) => Some(format!("{what}: nothing to roll back to")),
        (true, Some(_)) => None,
    };
    // A Swarm app is rolled back by this server only when it reaches a
    // manager of the Swarm the app was deployed to: the binary says, once
    // per app.
    let mut swarm_apps: Vec<(String, Option<String>)> = Vec::new();
    if d.config.allow_rollback {
        for s in services
            .iter()
            .filter(|s| s.target == Place::Swarm.as_str())
        {
            if !swarm_apps.iter().any(|(app, _)| *app == s.app) {
                let off = deploys.agent.swarm_rollback_off(&s.app).await;
                swarm_apps.push((s.app.clone(), off));
            }
        }
    }
    let swarm_off = |app: &str, off: Option<String>| {
        off.or_else(|| {
            swarm_apps
                .iter()
                .find(|(a, _)| a == app)
                .and_then(|(_, off)| off.clone())
        })
    };
    for s in &mut services {
        let what = match &s.live {
            Some(live) => format!("no release of {} before {live} went live", s.service),
            None => format!("{} has no live release", s.service),
        };
        s.rollback_off = off(&s.rollback_to, what);
        if s.target == Place::Swarm.as_str() {
            s.rollback_off = swarm_off(&s.app, s.rollback_off.take());
        }
    }
    for (a, deploying) in apps.iter_mut().zip(deploying) {
        let what = match &a.live {
            Some(live) => format!("no app release of {} before {live} went live", a.app),
            None => format!("app {} has no live release", a.app),
        };
        a.rollback_off = off(&a.warm, what);
        // An app is where its services are (windlass deploys an app to
        // one target).
        if let Some(s) = services.iter().find(|s| s.app == a.app) {
            a.target = s.target;
        }
        if a.target == Place::Swarm.as_str() {
            a.rollback_off = swarm_off(&a.app, a.rollback_off.take());
        }
        a.rollout = rollout::rollout_of(&a.app, deploying, &services, d.config.allow_rollback);
    }
    // Only local services have a proxy whose counters the agent gives: an
    // install of ECS or Swarm services alone has none to miss.
    let local = services.iter().any(|s| s.target == Place::Docker.as_str());
    Ok(Json(ServicesView {
        enabled: true,
        rollback_allowed: d.config.allow_rollback,
        gate_allowed: d.config.allow_rollback,
        agent_problem: d.traffic.problem().filter(|_| local),
        services,
        apps,
    }))
}

fn service_view(
    traffic: &TrafficLog,
    key: ServiceKey,
    live: Option<Live>,
    rows: Vec<(Release, Option<i64>)>,
) -> ServiceView {
    let service = key.to_string();
    let live_id = live.as_ref().map(|l| l.release.clone());
    let ecs = key.is_ecs();
    // The store's rule, the agent's: the release a rollback goes to.
    let listed: Vec<Release> = rows.iter().map(|(r, _)| r.clone()).collect();
    let place = Place::of(&key, &listed);
    let rollback_to = live_id
        .as_deref()
        .and_then(|live| rollback_target(&listed, live))
        .map(|r| r.id.clone());
    let warm = rollback_to.clone().filter(|_| !ecs);
    let releases = rows
        .into_iter()
        .map(|(r, time_to_live)| ReleaseView {
            traffic: traffic.series(&service, &r.id),
            outcome: r.outcome.as_str().to_string(),
            history: r.history,
            pruned: r.pruned_millis.is_some(),
            id: r.id,
            created_millis: r.created_millis,
            by: r.by,
            image: r.image,
            digest: r.digest,
            origin: origin_of(&r.compose_text),
            time_to_live_millis: time_to_live,
            rollback_millis: r.rollback_millis,
            detail: r.detail,
            execution: r.execution,
        })
        .collect();
    ServiceView {
        // Every published port's address and protocol.
        address: live.as_ref().and_then(|l| l.listening()),
        live: live_id,
        rollback_to,
        warm,
        target: place.as_str(),
        rollback_off: None,
        service,
        app: key.app().to_owned(),
        name: key.service().to_owned(),
        environment: key.environment().map(str::to_owned),
        canary: rollout::canary_of(traffic, &key.to_string()),
        releases,
    }
}
