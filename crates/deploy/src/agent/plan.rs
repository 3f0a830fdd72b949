//! `windlass deploy --dry-run`: what a deploy of the file would do, worked
//! out as the deploy works it out (the same unchanged check, the same start
//! waves), with nothing started.

use std::path::Path;

use super::app::{app_name, dependencies};
use super::contract::{DeployRequest, PlanView, ServicePlan};
use super::{Agent, Error};
use crate::compose::{self, Project, Strategy};
use crate::target::docker::ports;
use crate::workflow::app::waves;

impl Agent {
    /// The plan of `request`'s deploy.
    pub async fn plan(&self, request: DeployRequest) -> Result<PlanView, Error> {
        let project = compose::parse(&request.compose_text, Path::new(&request.compose_file))?;
        let asked = self.services_asked(&request, &project)?;
        let (changed, _) = self.changed(&request, &project, &asked).await?;
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
            services.push(ServicePlan {
                service: name.clone(),
                deploy: changed.contains(name),
                live: self.releases.live(name)?.map(|l| l.release),
                image: self.image_source(&project, name).await,
                strategy: match strategy {
                    _ if spec.runs_to_completion => "job".to_owned(),
                    Strategy::BlueGreen if !spec.has_proxy() => "start-first".to_owned(),
                    strategy => strategy.as_str().to_owned(),
                },
                why: if spec.runs_to_completion {
                    "another service waits for it to exit 0 (service_completed_successfully)"
                        .to_owned()
                } else {
                    why.to_owned()
                },
                ports: spec.published_ports().iter().map(ports::describe).collect(),
                summary: project.describe(name).unwrap_or_default(),
            });
        }
        Ok(PlanView {
            app: app_name(&project),
            order,
            services,
        })
    }

    async fn image_source(&self, project: &Project, name: &str) -> String {
        let service = &project.services[name];
        match (&service.build, &service.image) {
            (Some(build), _) => format!("built from {}", build.context.display()),
            (None, Some(image)) => match self.backend.image_digests(image).await {
                Ok(_) => format!("{image}, on this machine"),
                Err(_) => format!("{image}, pulled from its registry"),
            },
            (None, None) => "none".to_owned(),
        }
    }
}
