//! The deploy side: each service's releases (the live one, the warm one a
//! rollback flips to, each with its outcome, time to live and time to roll
//! back), its proxy's requests, 5xx and latency per release sampled into a
//! short series for the charts, and rollback from the page.
//!
//! Releases and deploy executions are read from the agent's store; traffic
//! and rollback go to the running agent through [`Agent`], which the binary
//! implements with the agent's and the proxy daemon's typed clients, so
//! this crate knows neither process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use windlass_store::releases::{Outcome, Releases};
use windlass_store::Store;

use crate::{Dashboard, Error};

/// How many samples of each release's counters the charts keep.
const SAMPLES: usize = 120;

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
    /// Rolls `service` back to its previous release; the rollback's
    /// execution ARN.
    async fn rollback(&self, service: &str, by: &str) -> Result<String, String>;
}

/// One release's counters in one service's proxy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseTraffic {
    pub service: String,
    pub release: String,
    pub requests: u64,
    pub server_errors: u64,
    pub p99_us: Option<u64>,
}

/// One sample of a release's counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    pub millis: i64,
    pub requests: u64,
    pub server_errors: u64,
    pub p99_us: Option<u64>,
}

/// The samples taken so far, per (service, release), oldest first.
#[derive(Default)]
pub struct TrafficLog(Mutex<HashMap<(String, String), VecDeque<Sample>>>);

impl TrafficLog {
    fn record(&self, now: i64, traffic: &[ReleaseTraffic]) {
        let mut log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for t in traffic {
            let series = log
                .entry((t.service.clone(), t.release.clone()))
                .or_default();
            series.push_back(Sample {
                millis: now,
                requests: t.requests,
                server_errors: t.server_errors,
                p99_us: t.p99_us,
            });
            while series.len() > SAMPLES {
                series.pop_front();
            }
        }
    }

    fn series(&self, service: &str, release: &str) -> Vec<Sample> {
        let log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        log.get(&(service.to_string(), release.to_string()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[derive(Serialize)]
pub struct ServicesView {
    /// False: this server knows no deploy agent.
    pub enabled: bool,
    pub rollback_allowed: bool,
    /// Why the agent could not be asked for traffic, if it could not.
    pub agent_problem: Option<String>,
    pub services: Vec<ServiceView>,
    pub apps: Vec<AppView>,
}

/// An app (a Compose file's services, deployed together) and its releases.
#[derive(Serialize)]
pub struct AppView {
    pub app: String,
    pub releases: Vec<AppReleaseView>,
}

#[derive(Serialize)]
pub struct AppReleaseView {
    pub id: String,
    pub outcome: String,
    pub created_millis: i64,
    pub by: String,
    /// (service, its release in this app release, whether this one deployed it).
    pub services: Vec<(String, String, bool)>,
    pub rollback_millis: Option<i64>,
    pub detail: Option<String>,
    pub execution: Option<String>,
}

#[derive(Serialize)]
pub struct ServiceView {
    pub service: String,
    pub live: Option<String>,
    /// The release a rollback goes back to: the newest earlier one that went live.
    pub warm: Option<String>,
    pub address: Option<String>,
    pub releases: Vec<ReleaseView>,
}

#[derive(Serialize)]
pub struct ReleaseView {
    pub id: String,
    pub outcome: String,
    pub created_millis: i64,
    pub by: String,
    pub image: Option<String>,
    /// From the deploy's start to its end (the release live), when it went live.
    pub time_to_live_millis: Option<i64>,
    pub rollback_millis: Option<i64>,
    pub detail: Option<String>,
    pub execution: Option<String>,
    pub pruned: bool,
    pub traffic: Vec<Sample>,
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Every service with its releases; each call also takes a traffic sample.
pub async fn services(State(d): State<Arc<Dashboard>>) -> Result<Json<ServicesView>, Error> {
    let Some(deploys) = d.sources.deploys.clone() else {
        return Ok(Json(ServicesView {
            enabled: false,
            rollback_allowed: false,
            agent_problem: None,
            services: Vec::new(),
            apps: Vec::new(),
        }));
    };
    let agent_problem = match deploys.agent.traffic().await {
        Ok(traffic) => {
            d.traffic.record(now_millis(), &traffic);
            None
        }
        Err(e) => Some(e),
    };
    let releases = deploys.releases.clone();
    let executions = deploys.executions.clone();
    let (listed, apps) =
        tokio::task::spawn_blocking(move || -> Result<(Vec<_>, Vec<AppView>), Error> {
            let mut out = Vec::new();
            for service in releases.services()? {
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
            let mut apps = Vec::new();
            for app in releases.apps()? {
                let list = releases
                    .app_releases(&app)?
                    .into_iter()
                    .map(|r| AppReleaseView {
                        outcome: r.outcome.as_str().to_string(),
                        services: r
                            .services
                            .into_iter()
                            .map(|m| (m.service, m.release, m.changed))
                            .collect(),
                        id: r.id,
                        created_millis: r.created_millis,
                        by: r.by,
                        rollback_millis: r.rollback_millis,
                        detail: r.detail,
                        execution: r.execution,
                    })
                    .collect();
                apps.push(AppView {
                    app,
                    releases: list,
                });
            }
            Ok((out, apps))
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let services = listed
        .into_iter()
        .map(|(service, live, rows)| {
            let live_id = live.as_ref().map(|l| l.release.clone());
            let warm = rows
                .iter()
                .map(|(r, _)| r)
                .skip_while(|r| Some(&r.id) != live_id.as_ref())
                .skip(1)
                .find(|r| r.outcome == Outcome::Live && r.pruned_millis.is_none())
                .map(|r| r.id.clone());
            let releases = rows
                .into_iter()
                .map(|(r, time_to_live)| ReleaseView {
                    traffic: d.traffic.series(&service, &r.id),
                    outcome: r.outcome.as_str().to_string(),
                    pruned: r.pruned_millis.is_some(),
                    id: r.id,
                    created_millis: r.created_millis,
                    by: r.by,
                    image: r.image,
                    time_to_live_millis: time_to_live,
                    rollback_millis: r.rollback_millis,
                    detail: r.detail,
                    execution: r.execution,
                })
                .collect();
            ServiceView {
                address: live
                    .as_ref()
                    .map(|l| l.address.clone())
                    .filter(|a| !a.is_empty()),
                live: live_id,
                warm,
                service,
                releases,
            }
        })
        .collect();
    Ok(Json(ServicesView {
        enabled: true,
        rollback_allowed: d.config.allow_rollback,
        agent_problem,
        services,
        apps,
    }))
}

#[derive(Deserialize)]
pub struct RollbackForm {
    pub service: String,
}

#[derive(Serialize)]
pub struct RollbackStarted {
    pub execution: String,
}

/// Rolls a service back, when the server allows it from the page.
pub async fn rollback(
    State(d): State<Arc<Dashboard>>,
    Json(form): Json<RollbackForm>,
) -> Result<Json<RollbackStarted>, Error> {
    if !d.config.allow_rollback {
        return Err(Error::Forbidden(
            "rollback from the dashboard is off: start windlass server with --dashboard-rollback to allow it".into(),
        ));
    }
    let deploys = d
        .sources
        .deploys
        .as_ref()
        .ok_or_else(|| Error::NotFound("this server knows no deploy agent".into()))?;
    let execution = deploys
        .agent
        .rollback(&form.service, "dashboard")
        .await
        .map_err(Error::Agent)?;
    Ok(Json(RollbackStarted { execution }))
}
