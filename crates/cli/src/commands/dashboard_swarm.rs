//! A Swarm app's rollback from the dashboard: `windlass server` rolls it
//! back as `windlass rollback --target swarm` does (the same durable
//! execution, a flip of the entry's routes to the warm release, run on
//! this process's runtime with the state folder's store), against the
//! manager its own environment names (`DOCKER_HOST`, TLS and ssh included,
//! or a Docker context: `target::swarm::manager`). Only when that manager
//! is of the Swarm the app's releases were deployed to: a Swarm execution
//! records the cluster ID in its input (`target::swarm::cluster`), and the
//! manager's `GET /info` gives its own. No manager, another Swarm's, or an
//! app deployed before the ID was recorded keeps the button off with the
//! reason.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use windlass_dashboard::services::Rollback;
use windlass_deploy::agent::machines::Place;
use windlass_deploy::agent::{Agent, RollbackRequest};
use windlass_deploy::target::swarm::cluster;
use windlass_deploy::target::swarm::manager::Manager;
use windlass_store::releases::{Releases, ServiceKey};
use windlass_store::Store;

/// How long the page's view reuses the manager's answer (the page asks
/// every few seconds; a rollback always asks afresh).
const KEEP: Duration = Duration::from_secs(5);

/// The manager this server reaches, as the page's rollbacks need it.
pub struct SwarmLink {
    executions: Arc<dyn Store>,
    releases: Arc<dyn Releases>,
    /// The manager's last answer and when it was had.
    seen: Mutex<Option<(Instant, Reached)>>,
}

/// Which Swarm the manager is of, or why none was reached.
#[derive(Clone)]
struct Reached {
    /// The manager, for messages: `tcp://... (DOCKER_HOST)`.
    manager: String,
    cluster: Result<String, String>,
}

impl SwarmLink {
    pub fn new(executions: Arc<dyn Store>, releases: Arc<dyn Releases>) -> SwarmLink {
        SwarmLink {
            executions,
            releases,
            seen: Mutex::new(None),
        }
    }

    /// The app `what` names when its releases run on a Swarm (its services'
    /// newest releases were deployed by Swarm executions).
    pub fn app_on_swarm(&self, what: &Rollback) -> Result<Option<String>, String> {
        let keys = self.releases.keys().map_err(|e| e.to_string())?;
        let named: Vec<&ServiceKey> = match what {
            Rollback::App(app) => keys.iter().filter(|k| k.app() == app).collect(),
            Rollback::Service(service) => match service.parse::<ServiceKey>() {
                Ok(key) => keys.iter().filter(|k| **k == key).collect(),
                Err(_) => keys.iter().filter(|k| k.service() == service).collect(),
            },
        };
        for key in named {
            let newest = self.releases.list(key).map_err(|e| e.to_string())?;
            let on_swarm = newest
                .first()
                .and_then(|r| r.execution.as_deref())
                .is_some_and(|arn| Place::Swarm.owns(arn));
            if on_swarm {
                return Ok(Some(key.app().to_owned()));
            }
        }
        Ok(None)
    }

    /// The cluster ID the app's newest deploy recorded.
    fn recorded(&self, app: &str) -> Result<Option<String>, String> {
        let releases = self.releases.app_releases(app).map_err(|e| e.to_string())?;
        let Some(arn) = releases.iter().find_map(|r| r.execution.clone()) else {
            return Ok(None);
        };
        let Some(record) = self.executions.execution(&arn).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let input: serde_json::Value = serde_json::from_str(&record.input).unwrap_or_default();
        Ok(cluster::recorded(&input).map(str::to_owned))
    }

    /// The manager's cluster, from the last answer when it is recent and
    /// `cached` allows.
    async fn reach(&self, cached: bool) -> Reached {
        let mut seen = self.seen.lock().await;
        if let Some((at, reached)) = seen.as_ref() {
            if cached && at.elapsed() < KEEP {
                return reached.clone();
            }
        }
        let reached = match Manager::from_env() {
            Err(e) => Reached {
                manager: "the Swarm manager".into(),
                cluster: Err(e),
            },
            Ok(manager) => {
                let name = format!("{} ({})", manager.host, manager.from);
                let cluster = match manager.connect().await {
                    Ok(docker) => cluster::cluster_id(&docker).await,
                    Err(e) => Err(e),
                };
                Reached {
                    manager: name,
                    cluster,
                }
            }
        };
        *seen = Some((Instant::now(), reached.clone()));
        reached
    }

    /// Why Swarm app `app` cannot be rolled back by this server, if it
    /// cannot.
    pub async fn rollback_off(&self, app: &str, cached: bool) -> Option<String> {
        let recorded = match self.recorded(app) {
            Ok(Some(recorded)) => recorded,
            Ok(None) => {
                return Some(format!(
                    "{app} was deployed before windlass recorded which Swarm its releases run on: deploy it again with `windlass deploy --target swarm` to roll it back from here, or run `windlass rollback --target swarm` with DOCKER_HOST at its manager"
                ))
            }
            Err(e) => return Some(format!("the state folder's store: {e}")),
        };
        let reached = self.reach(cached).await;
        match reached.cluster {
            Ok(cluster) if cluster == recorded => None,
            Ok(cluster) => Some(format!(
                "{app} runs on Swarm {recorded}, and the manager this server reaches, {}, is of Swarm {cluster}: start windlass server with DOCKER_HOST (or a Docker context) at a manager of Swarm {recorded}",
                reached.manager
            )),
            Err(e) => Some(format!(
                "{app} runs on Swarm {recorded}, and this server reaches no manager of it ({}: {e}): start windlass server with DOCKER_HOST (or a Docker context) at a manager of that Swarm",
                reached.manager
            )),
        }
    }

    /// Rolls `what` (of Swarm app `app`) back as `windlass rollback
    /// --target swarm` does, once the manager is found to be the app's
    /// Swarm's; answers with the execution once it has started (it goes on
    /// in this process, and the page follows it as any execution).
    pub async fn roll_back(
        &self,
        dir: &Path,
        what: &Rollback,
        app: &str,
        by: &str,
    ) -> Result<String, String> {
        if let Some(off) = self.rollback_off(app, false).await {
            return Err(off);
        }
        let agent = Agent::open_swarm(dir).await?;
        let request = match what {
            Rollback::Service(service) => RollbackRequest {
                service: Some(service.clone()),
                app: Some(app.to_owned()),
                here: None,
                release: None,
                by: by.to_owned(),
            },
            Rollback::App(_) => RollbackRequest {
                service: None,
                app: Some(app.to_owned()),
                here: None,
                release: None,
                by: by.to_owned(),
            },
        };
        let started = agent.rollback(request).await.map_err(|e| e.to_string())?;
        let execution = started
            .into_iter()
            .map(|s| s.execution)
            .find(|e| !e.is_empty())
            .ok_or_else(|| format!("no rollback of {what} was started"))?;
        tracing::info!(%app, %execution, "Swarm rollback started from the dashboard");
        // The execution runs on this agent's runtime: it is kept until the
        // execution ends.
        let followed = execution.clone();
        tokio::spawn(async move {
            match agent.runtime().wait(&followed).await {
                Ok(done) => {
                    tracing::info!(execution = %followed, status = ?done.status, "Swarm rollback from the dashboard ended")
                }
                Err(e) => {
                    tracing::warn!(execution = %followed, "Swarm rollback from the dashboard: {e}")
                }
            }
        });
        Ok(execution)
    }
}
