//! windlass's entry point on a Swarm, and the switch. One global service per
//! app (and installation) on the managers, running `windlass-swarm-entry`
//! with the manager's Docker socket: each task binds every published port of
//! the app on its node (published in host mode: no routing mesh, which needs
//! `ip_vs`) and routes it to the live release's tasks by the routing table
//! in the service's [`ROUTES_LABEL`]. A switch writes the store's live
//! pointers, then the whole app's table in one service update (one Raft
//! write: all services move at once, and the table outlives windlass). A
//! label change does not restart the entry's tasks; a new published port or
//! network does (one node at a time, stop-first).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, Mount, MountType, NetworkAttachmentConfig, ServiceSpec,
    ServiceSpecMode, ServiceSpecUpdateConfig, ServiceSpecUpdateConfigOrderEnum, TaskSpec,
    TaskSpecContainerSpec, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use bollard::query_parameters::UpdateServiceOptions;
use windlass_asl::Failure;
use windlass_store::releases::{Installation, Live, LivePort};
use windlass_swarm_entry::{Route, RouteHold, Routes, ROUTES_LABEL, SERVICE_ENV};

use super::{engine, spec, SwarmTarget};
use crate::failures;
use crate::target::{ReleaseContext, Switched, Upstreams};

/// How long every entry task takes at most to read a new table (it reads
/// every 200 ms) and switch.
const APPLIED_WITHIN: Duration = Duration::from_millis(500);
/// The label that marks an entry service.
const ENTRY_LABEL: &str = "windlass.entry";

/// The entry service of `app` in `installation`.
pub fn entry_name(installation: &Installation, app: &str) -> String {
    format!("{}_windlass-entry_{installation}", spec::swarm_name(app))
}

/// The routes of `release`'s published ports.
pub(super) fn routes_of(release: &ReleaseContext, name: &str) -> Result<Vec<Route>, Failure> {
    let mut routes = Vec::new();
    for port in release.spec.published_ports() {
        if port.listen.port() == 0 {
            return Err(failures::input(format!(
                "{}: a port published on a Swarm needs a fixed `published` number (container port {})",
                release.label(),
                port.target
            )));
        }
        let protocol = if port.http {
            "http".to_owned()
        } else {
            port.protocol.to_string()
        };
        routes.push(Route {
            published: port.listen.port(),
            protocol,
            service: release.service.clone(),
            release: release.id().to_owned(),
            upstream: spec::tasks_name(name),
            target: port.target,
            canary: None,
            hold: None,
        });
    }
    Ok(routes)
}

/// The store's pointer for `release` taking traffic through `routes`.
fn live_of(release: &ReleaseContext, routes: &[Route], upstreams: &Upstreams, now: i64) -> Live {
    let ports = release
        .spec
        .published_ports()
        .iter()
        .zip(routes)
        .map(|(port, route)| {
            let target = format!("{}/{}", port.target, port.protocol);
            LivePort {
                address: format!("*:{}", route.published),
                protocol: route.protocol.clone(),
                upstreams: upstreams.ports.get(&target).cloned().unwrap_or_default(),
                target,
            }
        })
        .collect();
    Live::of_ports(release.key.clone(), release.id().to_owned(), ports, now)
}

/// Makes every release take traffic in one step: the live pointers first
/// (one transaction), then the app's routing table (one service update).
pub(super) async fn switch(
    target: &SwarmTarget,
    releases: &[(ReleaseContext, Upstreams)],
) -> Result<Vec<Switched>, Failure> {
    let Some((first, _)) = releases.first() else {
        return Ok(Vec::new());
    };
    let app = first.key.app().to_owned();
    let mut previous = Vec::new();
    let mut lives = Vec::new();
    let mut changes = Vec::new();
    let now = target.now();
    for (release, upstreams) in releases {
        previous.push(
            target
                .releases
                .live(&release.key)
                .map_err(failures::store)?
                .map(|l| l.release),
        );
        let name = target.name_of(&release.key, release.id())?;
        let routes = routes_of(release, &name)?;
        lives.push(live_of(release, &routes, upstreams, now));
        changes.push((release.service.clone(), routes, networks_of(release)));
    }
    target.releases.set_lives(&lives).map_err(failures::store)?;
    route(target, &app, &changes).await?;
    let at_millis = target.now();
    Ok(previous
        .into_iter()
        .map(|previous| Switched {
            previous,
            at_millis,
            rollback_millis: None,
        })
        .collect())
}

pub(super) fn networks_of(release: &ReleaseContext) -> Vec<String> {
    if release.spec.published_ports().is_empty() {
        return Vec::new();
    }
    release
        .networks
        .values()
        .map(|n| spec::swarm_name(n))
        .collect()
}

/// Replaces the routes of each service named in `changes` (an empty list
/// takes a service out) in the app's entry service, creating it when the app
/// has none and removing it when no route is left; then waits until its
/// tasks run and have read the table.
pub(super) async fn route(
    target: &SwarmTarget,
    app: &str,
    changes: &[(String, Vec<Route>, Vec<String>)],
) -> Result<(), Failure> {
    let name = entry_name(target.installation()?, app);
    // Another writer (a second deploy of the same app is refused by the
    // locks, but a person may update the service) makes the version stale:
    // read again and retry.
    for _ in 0..5 {
        let existing = match target.docker.inspect_service(&name, None).await {
            Ok(service) => Some(service),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => None,
            Err(e) => return Err(engine(&format!("inspect {name}"), e)),
        };
        let old_spec = existing
            .as_ref()
            .and_then(|s| s.spec.clone())
            .unwrap_or_default();
        let labels = old_spec.labels.clone().unwrap_or_default();
        let mut routes = Routes::parse(labels.get(ROUTES_LABEL).map(String::as_str));
        let mut networks: BTreeSet<String> = entry_networks(&old_spec);
        for (service, service_routes, service_networks) in changes {
            routes = routes.with_service(service, service_routes.clone());
            for network in service_networks {
                networks.insert(network_id(target, network).await?);
            }
        }
        if routes.ports.is_empty() {
            if let Some(service) = existing {
                super::lifecycle::remove_and_wait(target, &[service]).await?;
            }
            return Ok(());
        }
        // An entry that runs keeps its image when none is configured (a
        // rollback from the dashboard's server, whose environment has
        // none); only a new one needs it.
        let running = old_spec
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.image.clone());
        let image = target.config.entry_image.clone().or(running).ok_or_else(|| {
            failures::input(
                "the app publishes ports on a Swarm: set WINDLASS_SWARM_ENTRY_IMAGE to the windlass-swarm-entry image in a registry the managers pull from",
            )
        })?;
        let wanted = entry_spec(
            &name,
            app,
            target.installation()?,
            &image,
            &routes,
            &networks,
        );
        let written =
            match existing {
                None => target
                    .docker
                    .create_service(wanted, None)
                    .await
                    .map(|_| ())
                    .map_err(|e| engine(&format!("create {name}"), e)),
                Some(service) => {
                    let version = service.version.and_then(|v| v.index).unwrap_or(0);
                    // Its ports and networks suffice: only the labels
                    // change, and the entry's tasks keep running.
                    let spec = if covers(&old_spec, &wanted) {
                        ServiceSpec {
                            labels: wanted.labels,
                            ..old_spec
                        }
                    } else {
                        wanted
                    };
                    let options = UpdateServiceOptions {
                        version: i32::try_from(version).unwrap_or(i32::MAX),
                        ..Default::default()
                    };
                    match target
                        .docker
                        .update_service(&name, spec, options, None)
                        .await
                    {
                        Ok(_) => Ok(()),
                        Err(bollard::errors::Error::DockerResponseServerError {
                            message, ..
                        }) if message.contains("out of sequence") => continue,
                        Err(e) => Err(engine(&format!("update {name}"), e)),
                    }
                }
            };
        written?;
        return wait_running(target, &name).await;
    }
    Err(Failure::new(
        failures::ENGINE,
        format!("{name} was changed by someone else five times while windlass switched it"),
    ))
}

/// Makes every entry task hold the new traffic of `service`'s published
/// ports for `hold.for_millis` from its first read of it (the gap of a
/// stop-first deploy: a duration, so no node's clock has to agree with
/// this host's), in one write of the routes; the switch to the next
/// release ends it. False when the
/// service has no route (no published port, or no entry yet): nothing to
/// hold.
pub(super) async fn hold(
    target: &SwarmTarget,
    app: &str,
    service: &str,
    hold: RouteHold,
) -> Result<bool, Failure> {
    let name = entry_name(target.installation()?, app);
    let existing = match target.docker.inspect_service(&name, None).await {
        Ok(existing) => existing,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(false),
        Err(e) => return Err(engine(&format!("inspect {name}"), e)),
    };
    let labels = existing.spec.and_then(|s| s.labels).unwrap_or_default();
    let routes = Routes::parse(labels.get(ROUTES_LABEL).map(String::as_str));
    let held: Vec<Route> = routes
        .ports
        .iter()
        .filter(|r| r.service == service)
        .map(|r| Route {
            canary: None,
            hold: Some(hold.clone()),
            ..r.clone()
        })
        .collect();
    if held.is_empty() {
        return Ok(false);
    }
    route(target, app, &[(service.to_owned(), held, Vec::new())]).await?;
    Ok(true)
}

/// A network's id: the manager keeps a service's networks by id, so the
/// entry's networks are compared (and written) by id, or every switch would
/// look like a new network and restart the entry's tasks.
async fn network_id(target: &SwarmTarget, name: &str) -> Result<String, Failure> {
    let network = target
        .docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .map_err(|e| engine(&format!("inspect network {name}"), e))?;
    Ok(network.id.unwrap_or_else(|| name.to_owned()))
}

/// The networks the entry joins, as the manager keeps them (ids).
fn entry_networks(spec: &ServiceSpec) -> BTreeSet<String> {
    spec.task_template
        .as_ref()
        .and_then(|t| t.networks.as_ref())
        .map(|n| n.iter().filter_map(|n| n.target.clone()).collect())
        .unwrap_or_default()
}

/// Whether the entry as it runs already publishes every port and joins
/// every network the new table needs, and runs the entry image asked for:
/// then only its label changes. A port no longer routed stays published
/// (the entry no longer listens on it) rather than restart the entry's
/// tasks. Another image (windlass upgraded, say, whose entry knows a
/// canary's weight and prints its counters) is rolled out to the entry's
/// tasks, one node at a time.
fn covers(old: &ServiceSpec, new: &ServiceSpec) -> bool {
    let image = |s: &ServiceSpec| {
        let image = s
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        // The manager may keep the image pinned by its digest.
        match image.split_once('@') {
            Some((name, _)) => name.to_owned(),
            None => image,
        }
    };
    let ports = |s: &ServiceSpec| {
        let mut ports: Vec<(Option<i64>, Option<EndpointPortConfigProtocolEnum>)> = s
            .endpoint_spec
            .as_ref()
            .and_then(|e| e.ports.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.published_port, p.protocol))
            .collect();
        ports.sort_by_key(|p| p.0);
        ports
    };
    let published = ports(old);
    ports(new).iter().all(|p| published.contains(p))
        && entry_networks(old).is_superset(&entry_networks(new))
        && image(old) == image(new)
}

fn entry_spec(
    name: &str,
    app: &str,
    installation: &Installation,
    image: &str,
    routes: &Routes,
    networks: &BTreeSet<String>,
) -> ServiceSpec {
    let labels = HashMap::from([
        (ENTRY_LABEL.to_owned(), "1".to_owned()),
        (crate::backend::APP_LABEL.to_owned(), app.to_owned()),
        (
            crate::backend::INSTALLATION_LABEL.to_owned(),
            installation.to_string(),
        ),
        (ROUTES_LABEL.to_owned(), routes.to_label()),
    ]);
    let ports = routes
        .ports
        .iter()
        .map(|route| EndpointPortConfig {
            name: None,
            protocol: Some(if route.protocol == "udp" {
                EndpointPortConfigProtocolEnum::UDP
            } else {
                EndpointPortConfigProtocolEnum::TCP
            }),
            target_port: Some(i64::from(route.published)),
            published_port: Some(i64::from(route.published)),
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
        })
        .collect();
    let container = TaskSpecContainerSpec {
        image: Some(image.to_owned()),
        env: Some(vec![format!("{SERVICE_ENV}={name}")]),
        mounts: Some(vec![Mount {
            target: Some("/var/run/docker.sock".into()),
            source: Some("/var/run/docker.sock".into()),
            typ: Some(MountType::BIND),
            ..Default::default()
        }]),
        ..Default::default()
    };
    ServiceSpec {
        name: Some(name.to_owned()),
        labels: Some(labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec!["node.role==manager".into()]),
                ..Default::default()
            }),
            // The entry's output is its counters, a line a second under
            // traffic (`weights`): capped, the last line always kept.
            log_driver: Some(TaskSpecLogDriver {
                name: Some("json-file".into()),
                options: Some(HashMap::from([
                    ("max-size".to_owned(), "1m".to_owned()),
                    ("max-file".to_owned(), "2".to_owned()),
                ])),
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                ..Default::default()
            }),
            networks: Some(
                networks
                    .iter()
                    .map(|n| NetworkAttachmentConfig {
                        target: Some(n.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            global: Some(HashMap::new()),
            ..Default::default()
        }),
        // Host ports cannot be held by two tasks of a node: one node at a
        // time, the old task stopped first, so the others keep serving.
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: Some(ports),
        }),
        ..Default::default()
    }
}

/// Waits until every entry task Swarm wants runs (a new or updated entry
/// service), then for the tasks' next read of the table.
async fn wait_running(target: &SwarmTarget, name: &str) -> Result<(), Failure> {
    let deadline = Instant::now() + target.config.start_timeout;
    loop {
        let look = super::tasks::count(target, name).await?;
        if look.0 > 0 && look.0 == look.1 {
            break;
        }
        if Instant::now() > deadline {
            return Err(Failure::new(
                failures::PROXY,
                format!(
                    "the entry point {name}: {} of {} tasks running",
                    look.1, look.0
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(APPLIED_WITHIN).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(image: &str, ports: &[u16]) -> ServiceSpec {
        let routes = Routes {
            ports: ports
                .iter()
                .map(|p| Route {
                    published: *p,
                    protocol: "http".into(),
                    service: "web".into(),
                    release: "r1".into(),
                    upstream: "tasks.x".into(),
                    target: 8080,
                    canary: None,
                    hold: None,
                })
                .collect(),
        };
        let installation = Installation::from("i1");
        entry_spec("e", "app", &installation, image, &routes, &BTreeSet::new())
    }

    #[test]
    fn only_the_label_changes_unless_a_port_or_the_image_is_new() {
        let old = spec_with("registry:5000/entry:1", &[8000, 8001]);
        assert!(covers(&old, &spec_with("registry:5000/entry:1", &[8000])));
        assert!(!covers(&old, &spec_with("registry:5000/entry:1", &[8002])));
        assert!(!covers(&old, &spec_with("registry:5000/entry:2", &[8000])));
        let pinned = spec_with("registry:5000/entry:1@sha256:ab", &[8000]);
        assert!(covers(
            &pinned,
            &spec_with("registry:5000/entry:1", &[8000])
        ));
    }
}
