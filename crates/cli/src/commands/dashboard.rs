//! What `windlass server` gives the dashboard of the deploy side: the
//! agent's store (releases and deploy executions, read from its
//! `windlass.db`), and a link to the running agent and proxy daemon
//! through their typed clients, found by their sockets in the state folder
//! (looked for at each call: either may have restarted).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use windlass_dashboard::services::{Agent, Deploys, ReleaseTraffic, Rollback};
use windlass_deploy::agent::api::Client;
use windlass_deploy::agent::contract::RollbackRequest;
use windlass_deploy::agent::{database, socket_file};
use windlass_store::releases::SqliteReleases;
use windlass_store::sqlite::{Durability, SqliteStore};

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
    Ok(Deploys {
        executions: Arc::new(executions),
        releases: Arc::new(releases),
        agent: Arc::new(AgentLink {
            dir: dir.to_path_buf(),
        }),
    })
}

struct AgentLink {
    dir: PathBuf,
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
                s.releases.into_iter().map(move |r| ReleaseTraffic {
                    service: service.clone(),
                    release: r.release,
                    requests: r.requests,
                    server_errors: r.server_errors,
                    p99_us: r.p99_us,
                })
            })
            .collect())
    }

    async fn rollback(&self, what: &Rollback, by: &str) -> Result<String, String> {
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
}
