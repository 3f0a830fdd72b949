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
use crate::target::docker::ports;
use crate::workflow::app::waves;

impl Agent {
    /// The plan of `request`'s deploy.
    pub async fn plan(&self, request: DeployRequest) -> Result<PlanView, Error> {
        let project =
            compose::parse_pinned(&request.compose_text, Path::new(&request.compose_file))?;
        let asked = super::services_asked(&request, &project)?;
        self.check_place(&request, &project, &asked)?;
        self.check_ports_free(&project, &asked).await?;
        let mut view = plan(self.releases.as_ref(), self.backend.as_ref(), &request).await?;
        if self.place == super::Place::Swarm {
            on_the_swarm(&project, &mut view);
        }
        Ok(view)
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
        let (strategy, why) = strategy(backend, spec).await;
        let key = ServiceKey::new(app.as_str(), name.as_str())?;
        services.push(ServicePlan {
            service: name.clone(),
            deploy: changed.contains(name),
            live: releases.live(&key)?.map(|l| l.release),
            image: image_source(backend, &project, name).await,
            strategy: match strategy {
                _ if spec.runs_to_completion => "job".to_owned(),
                Strategy::BlueGreen if !spec.has_proxy() => "start-first".to_owned(),
                strategy => strategy.as_str().to_owned(),
            },
            why: if spec.runs_to_completion {
                "another service waits for it to exit 0 (service_completed_successfully)".to_owned()
            } else {
                why
            },
            ports: spec.published_ports().iter().map(ports::describe).collect(),
            summary: project.describe(name).unwrap_or_default(),
        });
    }
    let rollout = super::app::app_rollout(&project, &changed, request.canary)
        .map(|r| r.steps.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    Ok(PlanView {
        app,
        order,
        services,
        rollout,
    })
}

/// The service's strategy and why ([`compose::Service::strategy`]); a
/// `VOLUME` of its image on this machine that no mount covers makes it
/// stop-first too, as the start step finds (a built image is known only
/// then).
async fn strategy(backend: &dyn Backend, spec: &compose::Service) -> (Strategy, String) {
    let (strategy, why) = spec.strategy();
    let image_volumes = match (&spec.image, strategy) {
        (Some(image), Strategy::BlueGreen) => {
            backend.image_volumes(image).await.unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let uncovered = crate::plan::uncovered_image_volumes(spec, &image_volumes);
    match crate::plan::image_volumes_alone(spec, &uncovered) {
        Some(why) => (Strategy::StopFirst, why),
        None => (strategy, why.to_owned()),
    }
}

/// The strategies as the Swarm target follows them: an image's `VOLUME`
/// gives each Swarm task a volume of its own (no two releases share it), so
/// only the file's own rule counts ([`compose::Service::strategy`]), and a
/// stop-first release's gap is held by windlass's entry point.
fn on_the_swarm(project: &Project, view: &mut PlanView) {
    for service in &mut view.services {
        let Some(spec) = project.services.get(&service.service) else {
            continue;
        };
        if spec.runs_to_completion {
            continue;
        }
        let (strategy, why) = spec.strategy();
        service.strategy = match strategy {
            Strategy::BlueGreen if !spec.has_proxy() => "start-first".to_owned(),
            strategy => strategy.as_str().to_owned(),
        };
        service.why = match strategy {
            Strategy::StopFirst if spec.has_proxy() => format!(
                "{why}: the live release's Swarm service is scaled to 0 and its tasks stopped before the new one is created; windlass's entry point holds the service's new connections and requests meanwhile"
            ),
            Strategy::StopFirst => format!(
                "{why}: the live release's Swarm service is scaled to 0 and its tasks stopped before the new one is created"
            ),
            Strategy::BlueGreen => why.to_owned(),
        };
    }
}

async fn image_source(backend: &dyn Backend, project: &Project, name: &str) -> String {
    use crate::compose::PullPolicy;
    let service = &project.services[name];
    let built = |build: &crate::compose::Build| format!("built from {}", build.context.display());
    let policy = service.pull_policy;
    match (&service.build, &service.image) {
        (Some(build), None) => built(build),
        (Some(build), Some(_)) if policy == PullPolicy::Build => built(build),
        (build, Some(image)) => {
            let here = backend.image_digests(image).await.is_ok();
            let or_built = build
                .as_ref()
                .map(|b| format!(", else {}", built(b)))
                .unwrap_or_default();
            match (here, policy) {
                (true, PullPolicy::Missing | PullPolicy::Never) => {
                    format!("{image}, on this machine")
                }
                (true, PullPolicy::Refresh(_)) => {
                    format!("{image}, on this machine or pulled again ({policy})")
                }
                (false, PullPolicy::Never) => match build {
                    Some(build) => built(build),
                    None => format!("{image}: not on this machine, and pull_policy never"),
                },
                _ => format!("{image}, pulled from its registry{or_built}"),
            }
        }
        (None, None) => "none".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::FakeBackend;

    /// The plan says where each published port listens, what it carries
    /// and how: a host IP as written, every interface when none is, a port
    /// the system picks when none is published.
    #[tokio::test]
    async fn the_plan_says_where_every_port_listens() {
        let text = "name: shop\nservices:\n  web:\n    image: web:1\n    ports:\n      - \"127.0.0.1:8080:80\"\n      - \"8443:443\"\n      - \"53/udp\"\n      - {target: 81, published: 8081, host_ip: \"::1\", app_protocol: http, name: admin}\n    x-windlass: {health: {http: /health}}\n  worker:\n    image: worker:1\n";
        let request = DeployRequest {
            compose_file: "compose.yaml".into(),
            compose_text: text.into(),
            ..DeployRequest::default()
        };
        let releases = SqliteReleases::in_memory().expect("releases");
        let view = plan(&releases, &FakeBackend::new(), &request)
            .await
            .expect("a plan");
        let ports = |name: &str| {
            view.services
                .iter()
                .find(|s| s.service == name)
                .map(|s| s.ports.clone())
                .expect("the service is planned")
        };
        assert_eq!(
            ports("web"),
            [
                "127.0.0.1:8080 -> 80/tcp, HTTP",
                "*:8443 -> 443/tcp, TCP (every interface: 0.0.0.0 and ::)",
                "*:? -> 53/udp, UDP (every interface: 0.0.0.0 and ::; no published port: the system picks one when the proxy is first bound, as Docker does, and the proxy keeps it)",
                "[::1]:8081 -> 81/tcp, HTTP [admin]",
            ]
        );
        assert_eq!(ports("worker"), Vec::<String>::new());
    }

    /// Anonymous volumes are kept from release to release, so a service
    /// with one, in the file or as a `VOLUME` of its image, is planned
    /// stop-first, and the plan says why.
    #[tokio::test]
    async fn anonymous_volumes_make_the_plan_stop_first() {
        let text = "name: shop\nservices:\n  db:\n    image: pg:16\n    ports: [\"5432\"]\n  cache:\n    image: cache:1\n    ports: [\"6379\"]\n    volumes: [/data]\n  web:\n    image: web:1\n    ports: [\"80\"]\n    volumes: [{type: volume, target: /static, read_only: true}]\n  files:\n    image: pg:16\n    ports: [\"81\"]\n    volumes: [\"./pg:/var/lib/postgresql/data\"]\n    x-windlass: {shared_mounts: true}\n";
        let request = DeployRequest {
            compose_file: "/srv/shop/compose.yaml".into(),
            compose_text: text.into(),
            ..DeployRequest::default()
        };
        let backend = FakeBackend::new();
        backend.add_image("pg:16");
        backend.set_image_volumes("pg:16", &["/var/lib/postgresql/data"]);
        let releases = SqliteReleases::in_memory().expect("releases");
        let view = plan(&releases, &backend, &request).await.expect("a plan");
        let strategy = |name: &str| {
            view.services
                .iter()
                .find(|s| s.service == name)
                .map(|s| (s.strategy.clone(), s.why.clone()))
                .expect("the service is planned")
        };
        assert_eq!(
            strategy("db"),
            (
                "stop-first".to_owned(),
                "its image declares VOLUME /var/lib/postgresql/data, which each release keeps, as Compose does".to_owned()
            )
        );
        assert_eq!(
            strategy("cache"),
            (
                "stop-first".to_owned(),
                "it mounts an anonymous volume read-write, which each release keeps, as Compose does".to_owned()
            )
        );
        assert_eq!(strategy("web").0, "blue/green", "a read-only one is safe");
        assert_eq!(
            strategy("files").0,
            "blue/green",
            "covered, and shared_mounts"
        );
    }

    /// On the Swarm, a service on a named volume is planned stop-first and
    /// the plan says the entry holds its traffic; an image's `VOLUME` (each
    /// Swarm task's own) does not make it stop-first there.
    #[tokio::test]
    async fn the_swarm_plan_says_a_volume_s_service_stops_first_behind_the_entry() {
        let text = "name: shop\nservices:\n  db:\n    image: pg:16\n    ports: [\"5432:5432\"]\n    volumes: [data:/var/lib/postgresql/data]\n  cache:\n    image: pg:16\n    ports: [\"6379:6379\"]\n  worker:\n    image: worker:1\n    volumes: [data:/data]\nvolumes:\n  data: {}\n";
        let request = DeployRequest {
            compose_file: "/srv/shop/compose.yaml".into(),
            compose_text: text.into(),
            ..DeployRequest::default()
        };
        let backend = FakeBackend::new();
        backend.add_image("pg:16");
        backend.set_image_volumes("pg:16", &["/var/lib/postgresql/data", "/cache"]);
        let releases = SqliteReleases::in_memory().expect("releases");
        let mut view = plan(&releases, &backend, &request).await.expect("a plan");
        let project =
            compose::parse_pinned(text, Path::new("/srv/shop/compose.yaml")).expect("file");
        on_the_swarm(&project, &mut view);
        let strategy = |name: &str| {
            view.services
                .iter()
                .find(|s| s.service == name)
                .map(|s| (s.strategy.clone(), s.why.clone()))
                .expect("the service is planned")
        };
        let (db, why) = strategy("db");
        assert_eq!(db, "stop-first");
        assert!(
            why.contains("scaled to 0") && why.contains("entry point holds"),
            "{why}"
        );
        let (worker, why) = strategy("worker");
        assert_eq!(worker, "stop-first");
        assert!(
            why.contains("scaled to 0") && !why.contains("holds"),
            "{why}"
        );
        assert_eq!(
            strategy("cache").0,
            "blue/green",
            "its image's VOLUME is each task's own"
        );
    }
}
