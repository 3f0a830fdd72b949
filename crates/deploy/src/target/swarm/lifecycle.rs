//! A release's life on the Swarm: its fields checked before its image is
//! pinned ([`super::image`]), its service started beside the live one (in
//! its place when it deploys stop-first: [`super::stop_first`]), the
//! releases neither live nor warm removed,
//! a failed release rolled back (the one before it routed to again), and a
//! service taken down.

use std::collections::{BTreeSet, HashMap};

use bollard::models::{NetworkCreateRequest, Service};
use bollard::query_parameters::ListServicesOptions;
use windlass_asl::Failure;
use windlass_store::releases::ServiceKey;

use super::{engine, entry, spec, stop_first, store, SwarmTarget};
use crate::backend::RELEASE_LABEL;
use crate::failures;
use crate::target::{CaughtFailure, Image, ReleaseContext, Replicas, Retired, RolledBack};

/// Refuses what a Swarm cannot run, then pins the release's image as every
/// node pulls it ([`super::image::prepare`]).
pub(super) async fn prepare(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<Image, Failure> {
    let fixed = release
        .spec
        .networks
        .0
        .iter()
        .find(|(_, n)| n.fixed() != Default::default());
    if let Some((network, _)) = fixed {
        return Err(failures::input(format!(
            "{}: networks.{network}: a Swarm gives a service's tasks their addresses on its networks itself: remove ipv4_address and ipv6_address, and reach the service by name",
            release.label()
        )));
    }
    if !release.spec.post_start.is_empty() || !release.spec.pre_stop.is_empty() {
        return Err(failures::input(format!(
            "{}: a Swarm runs a service's tasks on its nodes and windlass reaches none of their containers to run `post_start` or `pre_stop` in: use an `x-windlass.hooks` command, or handle SIGTERM (`stop_signal`) in the service",
            release.label()
        )));
    }
    super::image::prepare(target, release).await
}

/// Creates the release's service (the app's overlay networks first), once
/// the live release stopped when the service deploys stop-first
/// ([`stop_first::make_way`]); a service that exists already (a step run
/// again, or a release a rollback goes back to) is taken as it is, scaled
/// back up when a stop-first deploy scaled it down.
pub(super) async fn start(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<Replicas, Failure> {
    let name = target.name_of(&release.key, release.id())?;
    stop_first::make_way(target, release).await?;
    if let Some(service) = find(target, &name).await? {
        let id = service.id.clone();
        stop_first::scale_up(target, release, &name, service).await?;
        return Ok(Replicas {
            ids: id.into_iter().collect(),
        });
    }
    for (key, network) in &release.networks {
        ensure_network(target, release, key, network).await?;
    }
    let image =
        release.record.image.clone().ok_or_else(|| {
            failures::input(format!("{} has no pinned image yet", release.label()))
        })?;
    let labels = target.labels(&release.key, Some(release.id()))?;
    // The release's versions of its secrets and configs exist before its
    // service refers to them (made again, or found, on a step run again).
    let mounted = store::mount(target, release).await?;
    let wanted = spec::service_spec(release, &image, labels.clone(), &name, mounted);
    let created = match target.docker.create_service(wanted, None).await {
        Ok(created) => created,
        // A version pruned between its making and this create (another
        // execution of the app retired a release and saw it unused): made
        // again, and the service created once more.
        Err(first) if !release.spec.secrets.is_empty() || !release.spec.configs.is_empty() => {
            tracing::info!(release = %release.label(), error = %first, "service create failed; its secrets and configs are made again");
            let mounted = store::mount(target, release).await?;
            let wanted = spec::service_spec(release, &image, labels, &name, mounted);
            target
                .docker
                .create_service(wanted, None)
                .await
                .map_err(|e| created_failure(release, &name, e))?
        }
        Err(e) => return Err(created_failure(release, &name, e)),
    };
    Ok(Replicas {
        ids: created.id.into_iter().collect(),
    })
}

fn created_failure(release: &ReleaseContext, name: &str, e: bollard::errors::Error) -> Failure {
    Failure::new(
        failures::START,
        format!("{}: create {name}: {e}", release.label()),
    )
}

pub(super) async fn find(target: &SwarmTarget, name: &str) -> Result<Option<Service>, Failure> {
    match target.docker.inspect_service(name, None).await {
        Ok(service) => Ok(Some(service)),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(engine(&format!("inspect {name}"), e)),
    }
}

/// Network `key` of the release's service (engine name `name`): an
/// external one must be on the Swarm already (windlass never makes it); the
/// app's own is an overlay network made when missing, with the file's
/// top-level `driver_opts`, `internal`, `attachable`, `enable_ipv6`,
/// `ipam` and `labels` (the reader refused what a Swarm cannot do), and
/// windlass's labels, which the file's cannot override.
async fn ensure_network(
    target: &SwarmTarget,
    release: &ReleaseContext,
    key: &str,
    name: &str,
) -> Result<(), Failure> {
    let external = release.external_networks.contains(name);
    let name = &spec::swarm_name(name);
    match target
        .docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        Ok(_) => return Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) if external => {
            return Err(failures::input(format!(
                "{}: networks.{key} is external, and the Swarm has no network {name}: create it on a manager (`docker network create --driver overlay --attachable {name}`), or remove `external: true` to have windlass make it",
                release.label()
            )))
        }
        Err(_) if !external => {}
        Err(e) => return Err(engine(&format!("inspect network {name}"), e)),
    }
    let app = release.key.app();
    let options = release
        .spec
        .networks
        .0
        .get(key)
        .map(|n| n.options.clone())
        .unwrap_or_default();
    let mut labels: HashMap<String, String> = options.labels.clone().into_iter().collect();
    labels.insert("com.docker.compose.project".to_owned(), app.to_owned());
    labels.insert("com.docker.compose.network".to_owned(), key.to_owned());
    labels.insert(crate::backend::APP_LABEL.to_owned(), app.to_owned());
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("overlay".into()),
        attachable: options.attachable.then_some(true),
        internal: options.internal.then_some(true),
        enable_ipv6: options.enable_ipv6.then_some(true),
        options: (!options.driver_opts.is_empty())
            .then(|| options.driver_opts.clone().into_iter().collect()),
        ipam: crate::backend::docker::ipam(&options),
        labels: Some(labels),
        ..Default::default()
    };
    match target.docker.create_network(request).await {
        Ok(_) => Ok(()),
        // Made meanwhile by another service's start of the same wave: a
        // manager answers 409, or 500 "name conflicts with an existing
        // object" when both creates reached Raft together.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { message, .. })
            if message.contains("name conflicts with an existing object") =>
        {
            Ok(())
        }
        Err(e) => Err(engine(&format!("create network {name}"), e)),
    }
}

/// Every Swarm service of `key` (all its releases), by labels.
async fn services_of(target: &SwarmTarget, key: &ServiceKey) -> Result<Vec<Service>, Failure> {
    let labels: Vec<String> = target
        .labels(key, None)?
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let options = ListServicesOptions {
        filters: Some(HashMap::from([("label".to_owned(), labels)])),
        ..Default::default()
    };
    target
        .docker
        .list_services(Some(options))
        .await
        .map_err(|e| engine(&format!("services of {key}"), e))
}

fn release_of(service: &Service) -> Option<String> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.labels.as_ref())
        .and_then(|l| l.get(RELEASE_LABEL).cloned())
}

async fn remove(target: &SwarmTarget, service: &Service) -> Result<(), Failure> {
    let Some(id) = &service.id else {
        return Ok(());
    };
    match target.docker.delete_service(id).await {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(engine(&format!("remove service {id}"), e)),
    }
}

/// Removes every release of the service but the live one and the one
/// before it (kept running: a rollback is a flip of the entry's routes). A
/// service without published ports (a worker) keeps only the live one.
pub(super) async fn retire(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<Retired, Failure> {
    let mut keep = BTreeSet::from([release.id().to_owned()]);
    if release.spec.has_proxy() {
        keep.extend(release.previous.clone());
    }
    if let Some(live) = target
        .releases
        .live(&release.key)
        .map_err(failures::store)?
    {
        keep.insert(live.release);
    }
    let mut retired = BTreeSet::new();
    for service in services_of(target, &release.key).await? {
        let Some(of) = release_of(&service) else {
            continue;
        };
        if !keep.contains(&of) {
            remove(target, &service).await?;
            retired.insert(of);
        }
    }
    // The versions of secrets and configs only the removed releases used.
    let removed = store::prune(target, release.key.app()).await?;
    if !removed.is_empty() {
        tracing::info!(service = %release.key, ?removed, "secret and config versions no release uses removed");
    }
    Ok(Retired {
        kept: keep.into_iter().collect(),
        retired: retired.into_iter().collect(),
        pruned: Vec::new(),
    })
}

/// Routes the service back to the release live before (started again when
/// it no longer runs, scaled back up after a stop-first deploy), then
/// removes the failed release once the entry has moved and its requests
/// finished (left running on a pause). A service that cannot run twice at
/// once has the failed release stopped first, the entry holding its
/// traffic meanwhile.
pub(super) async fn roll_back(
    target: &SwarmTarget,
    release: &ReleaseContext,
    failure: Option<&CaughtFailure>,
) -> Result<RolledBack, Failure> {
    let decided = target.now();
    // A rollout's canary takes its share back first, at once: the live
    // release never stopped, so this alone puts all traffic back on it.
    if !super::weights::end_canaries(target, std::slice::from_ref(&release.key))
        .await?
        .is_empty()
    {
        tracing::info!(service = %release.key, release = %release.id(), "the canary's share went back to the live release");
    }
    let paused = failure.is_some_and(|f| f.error == failures::PAUSED);
    let live_now = target
        .releases
        .live(&release.key)
        .map_err(failures::store)?
        .map(|l| l.release);
    let mut flip_millis = None;
    // Only one of them may run: the failed release stops before the one
    // before it comes back, and the switch to that one ends the hold.
    let alone = stop_first::why(release).is_some() && release.other_previous().is_some();
    if alone && !paused {
        stop_first::stop(target, release, &release.key, release.id()).await?;
    }
    // Paused (`failure_action: pause`), the failed release is left running
    // to be looked at, so the one before it may not come back beside it.
    let held_back = alone && paused;
    if held_back {
        tracing::warn!(release = %release.label(), "paused: the service cannot run twice at once, so the release before it is not started again");
    }
    match &release.previous {
        Some(_) if held_back => {}
        Some(previous) if alone || live_now.as_deref() != Some(previous.as_str()) => {
            let before = target.other(release, previous)?;
            let upstreams = match super::tasks::warm(target, &before).await? {
                Some(upstreams) => upstreams,
                None => {
                    start(target, &before).await?;
                    super::tasks::wait_healthy(target, &before).await?
                }
            };
            entry::switch(target, &[(before, upstreams)]).await?;
            flip_millis = Some(target.now() - decided);
        }
        Some(_) => {}
        None if live_now.is_some() => {
            // The service's first release failed after it went live.
            target
                .releases
                .clear_live(&release.key)
                .map_err(failures::store)?;
            entry::route(
                target,
                release.key.app(),
                &[(release.service.clone(), Vec::new(), Vec::new())],
            )
            .await?;
            flip_millis = Some(target.now() - decided);
        }
        None => {}
    }
    if !paused {
        if flip_millis.is_some() {
            tokio::time::sleep(target.config.drain).await;
        }
        let name = target.name_of(&release.key, release.id())?;
        if let Some(service) = find(target, &name).await? {
            remove(target, &service).await?;
        }
        store::prune(target, release.key.app()).await?;
    }
    Ok(RolledBack {
        live: release.previous.clone(),
        flip_millis,
    })
}

/// Removes services and waits (at most the start timeout) until Swarm has
/// stopped their last task: what `down` removes no longer answers when it
/// returns. All are removed first, so their stop grace periods run side
/// by side.
pub(super) async fn remove_and_wait(
    target: &SwarmTarget,
    services: &[Service],
) -> Result<(), Failure> {
    for service in services {
        remove(target, service).await?;
    }
    let deadline = std::time::Instant::now() + target.config.start_timeout;
    for service in services {
        let Some(id) = &service.id else { continue };
        while super::tasks::any_task(target, id).await? && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// Takes the service out of the entry's routes, forgets its live release
/// and removes every release's service.
pub(super) async fn take_down(target: &SwarmTarget, key: &ServiceKey) -> Result<usize, Failure> {
    target.releases.clear_live(key).map_err(failures::store)?;
    entry::route(
        target,
        key.app(),
        &[(key.service().to_owned(), Vec::new(), Vec::new())],
    )
    .await?;
    let services = services_of(target, key).await?;
    remove_and_wait(target, &services).await?;
    // The app's last service down takes the last versions with it.
    store::prune(target, key.app()).await?;
    Ok(services.len())
}
