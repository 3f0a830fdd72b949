//! `windlass deploy --dry-run`: what a deploy of the file would do, worked
//! out as the deploy works it out (the same unchanged check, the same start
//! waves), with nothing started. The agent answers it when one runs
//! ([`Agent::plan`]); otherwise the CLI works it out in its own process
//! ([`plan_without_agent`]) from the state folder's store opened read-only
//! and the engine's read calls, so a dry run starts no agent or proxy.

use std::path::Path;

use windlass_store::releases::{Releases, ServiceKey, SqliteReleases};

use super::app::{app_name, dependencies};
use super::contract::{DeployRequest, PlanView, ServicePlan};
use super::{database, Agent, Error};
use crate::backend::Backend;
use crate::compose::{self, Project, Strategy};
use crate::target::docker::protocol;
use crate::workflow::app::waves;

impl Agent {
    /// The plan of `request`'s deploy.
    pub async fn plan(&self, request: DeployRequest) -> Result<PlanView, Error> {
        plan(self.releases.as_ref(), self.backend.as_ref(), &request).await
    }
}

/// The plan of `request`'s deploy without an agent: the store of state
/// folder `dir` read-only (none yet: nothing is deployed), the local engine
/// asked only what runs and which images it has.
pub async fn plan_without_agent(dir: &Path, request: &DeployRequest) -> Result<PlanView, Error> {
    let db = database(dir);
    let releases = if db.exists() {
        SqliteReleases::open_read_only(&db)?
    } else {
        SqliteReleases::in_memory()?
    };
    let docker = crate::backend::docker::Docker::connect()
        .await
        .map_err(|e| Error::Backend(e.to_string()))?;
    plan(&releases, &docker, request).await
}

/// The plan of `request`'s deploy from what `releases` and `backend` say.
pub async fn plan(
    releases: &dyn Releases,
    backend: &dyn Backend,
    request: &DeployRequest,
) -> Result<PlanView, Error> {
    let project = compose::parse_pinned(&request.compose_text, Path::new(&request.compose_file))?;
    let app = app_name(&project);
    let asked = super::services_asked(request, &project)?;
    let (changed, _) =
        super::app::changed(releases, backend, request, &project, &app, &asked).await?;
    let order = waves(
        &changed
            .iter()
            .map(|s| (s.clone(), dependencies(&project.services[s])))
            .collect::<Vec<_>>(),
    )
    .map_err(|e| Error::Definition(format!("{}: {e}", request.compose_file)))?;
    let mut services = Vec::new();
    for name in &asked {
        let spec = &project.services[name];
        let (strategy, why) = spec.strategy();
        let key = ServiceKey::new(app.as_str(), name.as_str())?;
        services.push(ServicePlan {
            service: name.clone(),
            deploy: changed.contains(name),
            live: releases.live(&key)?.map(|l| l.release),
            image: image_source(backend, &project, name).await,
            strategy: match strategy {
                _ if spec.runs_to_completion => "job".to_owned(),
                Strategy::BlueGreen if spec.proxy_address().is_none() => "start-first".to_owned(),
                strategy => strategy.as_str().to_owned(),
            },
            why: if spec.runs_to_completion {
                "another service waits for it to exit 0 (service_completed_successfully)".to_owned()
            } else {
                why.to_owned()
            },
            proxy: spec.proxy_address().map(|address| {
                let level = match protocol(spec) {
                    windlass_proxy::Protocol::Http => "HTTP",
                    windlass_proxy::Protocol::Tcp => "TCP",
                };
                format!("{address} ({level})")
            }),
            summary: project.describe(name).unwrap_or_default(),
        });
    }
    Ok(PlanView {
        app,
        order,
        services,
    })
}

async fn image_source(backend: &dyn Backend, project: &Project, name: &str) -> String {
    let service = &project.services[name];
    match (&service.build, &service.image) {
        (Some(build), _) => format!("built from {}", build.context.display()),
        (None, Some(image)) => match backend.image_digests(image).await {
            Ok(_) => format!("{image}, on this machine"),
            Err(_) => format!("{image}, pulled from its registry"),
        },
        (None, None) => "none".to_owned(),
    }
}
