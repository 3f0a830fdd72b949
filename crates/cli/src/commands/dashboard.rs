//! What `windlass server` gives the dashboard of the deploy side: the
//! agent's store (releases and deploy executions, read from its
//! `windlass.db`), and a link to the running agent and proxy daemon
//! through their typed clients, found by their sockets in the state folder
//! (looked for at each call: either may have restarted).
//!
//! A Swarm app has no agent either: it is rolled back as `windlass rollback
//! --target swarm` rolls it back, by this process, against the manager its
//! environment names, once that manager is found to be of the Swarm the
//! app was deployed to (see `dashboard_swarm.rs`).
//!
//! An ECS service (`ecs/CLUSTER/SERVICE`) has no agent and no proxy: it is
//! rolled back as `windlass rollback --target ecs` rolls it back, by this
//! process on the state folder's runtime, calling AWS as the environment
//! says (see `ecs.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use windlass_dashboard::services::{
    Agent, Answer, Answered, Deploys, ReleaseTraffic, Rollback, Share,
};
use windlass_deploy::agent::api::Client;
use windlass_deploy::agent::contract::{Decision, GateRequest, RollbackRequest};
use windlass_deploy::agent::{database, socket_file};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::target::ecs::run::Ecs;

use super::dashboard_swarm::SwarmLink;
use windlass_proxy::daemon::api::ServiceView;
use windlass_proxy::{Latencies, Weight};
use windlass_store::releases::{Releases, ServiceKey, SqliteReleases};
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

/// The deploy side of state folder `dir`.
pub fn deploys(dir: &Path) -> anyhow::Result<Deploys> {
    let db = database(dir);
    anyhow::ensure!(
        db.exists(),
        "no windlass state at {}: deploy something there first (or start `windlass agent --state {}`)",
        db.display(),
        dir.display()
    );
    let executions = SqliteStore::open(&db, Durability::Full)
        .with_context(|| format!("cannot open {}", db.display()))?;
    let releases =
        SqliteReleases::open(&db).with_context(|| format!("cannot open {}", db.display()))?;
    let executions: Arc<dyn Store> = Arc::new(executions);
    let releases: Arc<dyn Releases> = Arc::new(releases);
    Ok(Deploys {
        executions: executions.clone(),
        releases: releases.clone(),
        agent: Arc::new(AgentLink {
            dir: dir.to_path_buf(),
            aws: windlass_aws::Config::from_env(),
            swarm: SwarmLink::new(executions, releases),
        }),
    })
}

/// The share of new traffic a service's proxy routes to `release`, given
/// its live release and its canary: the canary takes its weight, the live
/// release the rest.
fn share_of(live: Option<&str>, canary: Option<(&str, Weight)>, release: &str) -> Option<Share> {
    let percent = |w: Weight| u8::try_from(u32::from(w)).unwrap_or(100);
    match canary {
        Some((id, weight)) if id == release => Some(Share::Canary(percent(weight))),
        _ if live == Some(release) => Some(Share::Live(
            100 - canary.map_or(0, |(_, weight)| percent(weight)),
        )),
        _ => None,
    }
}

/// [`share_of`] in the daemon's view of a service.
fn share_in(service: &ServiceView, release: &str) -> Option<Share> {
    let live = service.live.as_ref().map(|l| l.release.as_str());
    let canary = service
        .canary
        .as_ref()
        .map(|c| (c.canary.release.as_str(), c.weight));
    share_of(live, canary, release)
}

struct AgentLink {
    dir: PathBuf,
    /// How an ECS service's rollback calls AWS.
    aws: windlass_aws::Config,
    /// The Swarm manager this process's environment names, for a Swarm
    /// app's rollback.
    swarm: SwarmLink,
}

impl AgentLink {
    fn client(&self) -> Result<Client, String> {
        let socket = socket_file(&self.dir);
        socket
            .symlink_metadata()
            .map_err(|e| format!("no windlass agent runs for {} ({e})", self.dir.display()))?;
        Ok(Client::new(socket))
    }
}

#[async_trait::async_trait]
impl Agent for AgentLink {
    async fn traffic(&self) -> Result<Vec<ReleaseTraffic>, String> {
        let proxy = windlass_proxy::daemon::Client::from_state_dir(&self.dir.join("proxy"))
            .map_err(|e| e.to_string())?;
        let services = proxy.services().await.map_err(|e| e.to_string())?;
        Ok(services
            .into_iter()
            .flat_map(|s| {
                let service = s.name.to_string();
                let shares: Vec<Option<Share>> = s
                    .releases
                    .iter()
                    .map(|r| share_in(&s, &r.release))
                    .collect();
                s.releases
                    .into_iter()
                    .zip(shares)
                    .map(move |(r, share)| ReleaseTraffic {
                        service: service.clone(),
                        release: r.release,
                        requests: r.requests,
                        server_errors: r.server_errors,
                        p99_us: r.p99_us,
                        share,
                        latencies: Latencies::from_sparse(&r.latency_buckets).bounded(),
                    })
            })
            .collect())
    }

    async fn rollback(&self, what: &Rollback, by: &str) -> Result<String, String> {
        if let Some(app) = self.swarm.app_on_swarm(what)? {
            return self.swarm.roll_back(&self.dir, what, &app, by).await;
        }
        if let Rollback::Service(service) = what {
            if let Some(key) = service
                .parse::<ServiceKey>()
                .ok()
                .filter(ServiceKey::is_ecs)
            {
                return self.roll_back_ecs(key).await;
            }
        }
        let (service, app) = match what {
            Rollback::Service(service) => (Some(service.clone()), None),
            Rollback::App(app) => (None, Some(app.clone())),
        };
        let request = RollbackRequest {
            service,
            app,
            here: None,
            release: None,
            by: by.to_string(),
        };
        let started = self
            .client()?
            .rollback(&request)
            .await
            .map_err(|e| e.to_string())?;
        // An app's rollback is one execution, named by each of its services.
        started
            .into_iter()
            .map(|s| s.execution)
            .find(|e| !e.is_empty())
            .ok_or_else(|| format!("the agent started no rollback of {what}"))
    }

    async fn swarm_rollback_off(&self, app: &str) -> Option<String> {
        self.swarm.rollback_off(app, true).await
    }

    async fn gate(&self, app: &str, answer: Answer, by: &str) -> Result<Answered, String> {
        let decision = match answer {
            Answer::Approve | Answer::Promote => Decision::Approve,
            Answer::Abort => Decision::Abort,
        };
        let request = GateRequest {
            app: Some(app.to_owned()),
            decision,
            by: by.to_owned(),
        };
        let answer = self
            .client()?
            .gate(&request)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Answered {
            app: answer.app,
            execution: answer.execution,
            answered: answer.answered,
        })
    }
}

impl AgentLink {
    /// Rolls ECS service `key` back to its newest earlier release that went
    /// live, as `windlass rollback --target ecs` does; answers with the
    /// execution once it has started (the rollout goes on in this process,
    /// and the page follows it as any execution).
    async fn roll_back_ecs(&self, key: ServiceKey) -> Result<String, String> {
        let db = database(&self.dir);
        let store = SqliteStore::open(&db, Durability::Full)
            .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
        let releases = Arc::new(
            SqliteReleases::open(&db).map_err(|e| format!("cannot open {}: {e}", db.display()))?,
        );
        // The ECS target builds its images with the local engine; a
        // rollback builds none but is the same target.
        let docker = Docker::connect().await.map_err(|e| {
            format!("the ECS target works with the local Docker engine, which did not answer: {e}")
        })?;
        let store: Arc<dyn Store> = Arc::new(store);
        let ecs = Ecs::new(
            Arc::new(docker),
            windlass_aws::Client::new(self.aws.clone()),
            releases.clone(),
            store.clone(),
        );
        // A lock already held is another deploy's (the rollback refuses to
        // start beside it); only a new holder is this rollback.
        let before = releases
            .lock_of(&key)
            .map_err(|e| e.to_string())?
            .map(|l| l.holder);
        let asked = key.clone();
        let mut rollout = tokio::spawn(async move { ecs.rollback(&asked, None).await });
        // The rollback takes the service's deploy lock, in this process's
        // name, for its execution, then starts it.
        loop {
            let lock = releases.lock_of(&key).map_err(|e| e.to_string())?;
            let ours =
                lock.filter(|l| l.pid == std::process::id() && Some(&l.holder) != before.as_ref());
            let started = match ours {
                Some(lock) => store
                    .execution(&lock.holder)
                    .map_err(|e| e.to_string())?
                    .map(|_| lock),
                None => None,
            };
            if let Some(lock) = started {
                tracing::info!(service = %key, execution = %lock.holder, "ECS rollback started from the dashboard");
                return Ok(lock.holder);
            }
            tokio::select! {
                ended = &mut rollout => {
                    return match ended {
                        Ok(Ok(report)) => Ok(report.execution),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(format!("the rollback stopped: {e}")),
                    };
                }
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use windlass_deploy::target::ecs::plan::plan;
    use windlass_store::releases::{Live, NewRelease, Outcome};

    #[test]
    fn a_canary_takes_its_weight_and_the_live_release_the_rest() {
        let ten: Weight = "10".parse().expect("a weight");
        let canary = Some(("r2", ten));
        assert_eq!(share_of(Some("r1"), canary, "r2"), Some(Share::Canary(10)));
        assert_eq!(share_of(Some("r1"), canary, "r1"), Some(Share::Live(90)));
        // A release the proxy only still counts routes nothing.
        assert_eq!(share_of(Some("r1"), canary, "r0"), None);
        assert_eq!(share_of(Some("r1"), None, "r1"), Some(Share::Live(100)));
        assert_eq!(share_of(None, None, "r1"), None);
    }

    const COMPOSE: &str = "name: shop\nservices:\n  web:\n    image: 127.0.0.1:1/shop-web:1\n    x-windlass:\n      ecs: { cluster: windlass, launchType: EC2, networkMode: bridge }\n";

    fn revision(n: u32) -> String {
        format!("arn:aws:ecs:us-east-1:000000000000:task-definition/shop-web:{n}")
    }

    /// An ECS service rolled back from the page goes back to its previous
    /// revision through the ECS target, in the server's process: no agent
    /// runs (there is none for ECS), and none is asked for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_ecs_service_rolls_back_without_an_agent() {
        let dir = std::env::temp_dir().join(format!("dash-ecs-rollback-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a state folder");
        let db = database(&dir);
        let store = SqliteStore::open(&db, Durability::Full).expect("store");
        let releases = SqliteReleases::open(&db).expect("releases");
        let project = windlass_deploy::compose::parse(COMPOSE, Path::new("/shop/compose.yaml"))
            .expect("a Compose file");
        let key = plan("web", &project.services["web"], "us-east-1")
            .expect("an ECS plan")
            .key;
        assert!(key.is_ecs(), "{key}");
        // r1 and r2 went live, r2 serves.
        for n in 1..=2 {
            let release = releases
                .create(NewRelease {
                    service: key.clone(),
                    compose_file: "/shop/compose.yaml".into(),
                    compose_text: COMPOSE.into(),
                    by: "test".into(),
                    created_millis: i64::from(n),
                    fingerprint: None,
                })
                .expect("a release");
            releases
                .set_image(&key, &release.id, &revision(n), "")
                .expect("its revision");
            releases
                .set_outcome(&key, &release.id, Outcome::Live, None, None)
                .expect("live");
            releases
                .set_live(&Live {
                    service: key.clone(),
                    release: release.id,
                    address: String::new(),
                    upstreams: Vec::new(),
                    ports: Vec::new(),
                    since_millis: i64::from(n),
                })
                .expect("live pointer");
        }
        // AWS is nowhere here: the rollout's calls fail once it runs, but
        // it has started, and that is what the page is told.
        let mut aws = windlass_aws::Config::from_vars(&Default::default());
        aws.endpoint_url = Some("http://127.0.0.1:1".into());
        aws.region = Some("us-east-1".into());
        let link = AgentLink {
            dir: dir.clone(),
            aws,
            swarm: SwarmLink::new(
                Arc::new(SqliteStore::open(&db, Durability::Full).expect("store")),
                Arc::new(SqliteReleases::open(&db).expect("releases")),
            ),
        };
        let execution = link
            .rollback(&Rollback::Service(key.to_string()), "test@dashboard")
            .await
            .expect("the ECS rollback starts");
        let record = store
            .execution(&execution)
            .expect("read")
            .expect("the rollback's execution is in the state folder's store");
        assert!(
            record.input.contains(&revision(1)),
            "the rollback goes to r1's revision: {}",
            record.input
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
