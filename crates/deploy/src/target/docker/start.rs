//! Starting a release's replicas beside the live ones (blue/green), or in
//! their place under `order: stop-first`, paced by `update_config`.

use std::collections::BTreeMap;

use windlass_asl::Failure;

use super::health::wait_config;
use super::pacing::Pacing;
use super::DockerTarget;
use crate::backend::{Container, ContainerSpec, Error, RunState, RELEASE_LABEL};
use crate::compose::{NetworkMode, Order, ServiceNetwork, VolumesSource};
use crate::failures;
use crate::plan::container_spec;
use crate::probe;
use crate::target::{Mode, ReleaseContext, Replicas};
use windlass_store::releases::ServiceKey;

pub(super) async fn start(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Replicas, Failure> {
    let service = &release.spec;
    let image = DockerTarget::pinned_image(&release.record)?;
    // The proxies first: a taken address must fail before anything runs. A
    // service that publishes no port has none (a worker, say).
    if let Some(spec) = super::ports::spec(service) {
        target
            .proxies
            .ensure(&release.key, &spec)
            .await
            .map_err(|e| Failure::new(failures::PROXY, e))?;
    }
    for volume in crate::plan::volumes(service) {
        target
            .backend
            .ensure_volume(&volume)
            .await
            .map_err(|e| Failure::new(failures::START, e.to_string()))?;
    }
    let image_volumes =
        crate::plan::uncovered_image_volumes(service, &image_volumes(target, &image).await?);
    let replicas = service.deploy.replicas.unwrap_or(1).max(1);
    let pacing = Pacing::of(service, release.mode, replicas);
    let first = stop_first(release, &pacing, &image_volumes);
    target.notes.starting(
        &release.key,
        first.is_some() && release.other_previous().is_some() && service.has_proxy(),
    );
    if let Some(why) = first {
        // The release that serves stops before this one starts; meanwhile
        // its proxy holds new requests and connections instead of refusing
        // them. A rollback starts the stopped release again.
        if let Some(previous) = release.other_previous() {
            tracing::info!(service = %release.service, release = %release.id(), %why, "stop-first");
            let held = if service.has_proxy() {
                format!("; the proxy holds traffic until {} is live", release.id())
            } else {
                String::new()
            };
            target.notes.set(
                &release.key,
                format!("{why}: release {previous} stops first{held}"),
            );
            if service.has_proxy() {
                // The store first, as a switch writes it first: from here
                // until the switch no release serves, and an agent
                // restarted in between must leave the proxies holding
                // rather than route them to the stored release it is
                // about to stop (`Target::restore`), whose upstreams are
                // then gone (502 until the switch).
                target
                    .releases
                    .clear_live(&release.key)
                    .map_err(failures::store)?;
                target
                    .proxies
                    .clear(&release.key)
                    .await
                    .map_err(|e| Failure::new(failures::PROXY, e))?;
            }
            for container in target.containers(&release.key, previous).await? {
                super::retire::stop(target, &release.key, service, previous, &container.id).await?;
            }
        }
    }
    let existing = target.containers(&release.key, release.id()).await?;
    let (_, health) = wait_config(service);
    let mut ids = Vec::new();
    let mut failed = Vec::new();
    let batches: Vec<Vec<u32>> = (0..replicas)
        .collect::<Vec<_>>()
        .chunks(pacing.batch)
        .map(<[u32]>::to_vec)
        .collect();
    for (index, batch) in batches.iter().enumerate() {
        let mut started = Vec::new();
        for &replica in batch {
            let image = Image {
                reference: &image,
                volumes: &image_volumes,
            };
            let id = start_replica(target, release, &image, replica, &existing).await?;
            started.push(id.clone());
            ids.push(id);
        }
        if index + 1 == batches.len() {
            break;
        }
        // update_config.parallelism: the next batch starts once this one is
        // healthy, update_config.delay after it.
        for id in started {
            if let Err(e) = probe::wait_healthy(target.backend.as_ref(), &id, &health).await {
                failed.push(e.to_string());
            }
        }
        pacing.check(&release.label(), replicas, &failed)?;
        tokio::time::sleep(pacing.delay).await;
    }
    Ok(Replicas { ids })
}

/// Why the release must replace the one before it rather than start beside
/// it: the service cannot run twice at once (a fixed container name, a
/// named or anonymous volume mounted read-write, a `VOLUME` of its image,
/// `x-windlass.exclusive`), or a deploy's `update_config.order` says
/// stop-first. `image_volumes` are the image's `VOLUME` paths that no mount
/// of the service covers.
pub(super) fn stop_first(
    release: &ReleaseContext,
    pacing: &Pacing,
    image_volumes: &[String],
) -> Option<String> {
    if let Some(why) = runs_alone(release, image_volumes) {
        return Some(format!("stop-first: {why}"));
    }
    (pacing.order == Order::StopFirst && release.mode == Mode::Deploy)
        .then(|| format!("stop-first: {}.order says so", pacing.key))
}

/// Why no two containers of the release's service may run at once, if so
/// ([`crate::compose::Service::must_run_alone`]), also for a `VOLUME` of
/// its image that no mount covers (`uncovered`): each release keeps that
/// volume, as Compose does, so two containers would share it.
pub(super) fn runs_alone(release: &ReleaseContext, uncovered: &[String]) -> Option<String> {
    let service = &release.spec;
    if let Some(why) = service.must_run_alone() {
        return Some(why.to_owned());
    }
    crate::plan::image_volumes_alone(service, uncovered)
}

/// The `VOLUME` paths of the release's image, which must be on the engine.
pub(super) async fn image_volumes(
    target: &DockerTarget,
    image: &str,
) -> Result<Vec<String>, Failure> {
    target.backend.image_volumes(image).await.map_err(|e| {
        let name = match e {
            Error::NotFound { .. } => failures::IMAGE,
            _ => failures::START,
        };
        Failure::new(name, e.to_string())
    })
}

/// The image a replica runs, and the paths its `VOLUME`s declare that no
/// mount of the service covers.
struct Image<'a> {
    reference: &'a str,
    volumes: &'a [String],
}

/// Creates (or finds, after a crash) and starts one replica.
async fn start_replica(
    target: &DockerTarget,
    release: &ReleaseContext,
    image: &Image<'_>,
    replica: u32,
    existing: &[Container],
) -> Result<String, Failure> {
    let installation = target.installation()?;
    let mut spec = container_spec(
        installation,
        &release.key,
        &release.spec,
        release.id(),
        replica,
        image.reference,
        |k| target.config.env.get(k).cloned(),
    );
    // The anonymous volumes of the release before, and of the next one.
    let kept = crate::plan::keep_anonymous_volumes(
        &mut spec,
        installation,
        &release.key,
        replica,
        image.volumes,
    );
    for volume in &kept {
        target
            .backend
            .ensure_volume(volume)
            .await
            .map_err(|e| Failure::new(failures::START, e.to_string()))?;
    }
    if let Some(NetworkMode::Service(other)) = &release.spec.network_mode {
        let id = live_container_of(target, release, other, "network_mode").await?;
        spec.network = Some(format!("container:{id}"));
    }
    // Legacy links work on Docker's default bridge only: a service that
    // links or is linked to stays there (its port can still move if an app
    // network sorts before `bridge`).
    if spec.network.is_none() && !networks(release).is_empty() && !release.legacy_links {
        spec.network = Some(ports_network(target).await?);
    }
    // `ipc` and `pid` of `service:NAME`, as Compose gives them: NAME's
    // container.
    for (field, mode) in [("ipc", &mut spec.host.ipc), ("pid", &mut spec.host.pid)] {
        let Some(other) = mode.as_deref().and_then(|m| m.strip_prefix("service:")) else {
            continue;
        };
        let id = live_container_of(target, release, other, field).await?;
        *mode = Some(format!("container:{id}"));
    }
    for link in &release.spec.links {
        let id = live_container_of(target, release, &link.target, "links").await?;
        spec.host.links.push(format!("{id}:{}", link.alias));
    }
    for from in &release.spec.volumes_from {
        if let VolumesSource::Service(other) = &from.source {
            let id = live_container_of(target, release, other, "volumes_from").await?;
            spec.host
                .volumes_from
                .push(crate::plan::volumes_from(&id, from.read_only));
        }
    }
    let found = existing
        .iter()
        .find(|c| c.name.trim_start_matches('/') == spec.name);
    let id = match found {
        // A job that ran to completion before a crash is done: not run twice.
        Some(c) if release.spec.runs_to_completion && c.state == (RunState::Exited { code: 0 }) => {
            return Ok(c.id.clone());
        }
        Some(c) if matches!(c.state, RunState::Running | RunState::Created) => c.id.clone(),
        Some(c) => {
            // Exited or worse: start afresh rather than reuse its state.
            target.remove(&c.id).await?;
            create(target, &spec).await?
        }
        None => create(target, &spec).await?,
    };
    // Also a container found again: a crash may have come between its
    // creation and its joining (joining twice is harmless).
    join_networks(target, release, &id).await?;
    let started = |e: Error| Failure::new(failures::START, e.to_string());
    let current = target
        .backend
        .inspect_container(&id)
        .await
        .map_err(started)?;
    // A container found running after a crash ran its `post_start` then.
    if current.state != RunState::Running {
        target.backend.start_container(&id).await.map_err(started)?;
        super::lifecycle::post_start(target, &release.spec, &release.label(), &id).await?;
    }
    Ok(id)
}

/// The container of another service that `network_mode: service:NAME`
/// joins or `volumes_from` mounts from (`field` says which): NAME's running
/// replica in the release the execution names for it (`joins`: the one its
/// app release runs, started a wave before), else in its live release,
/// else in its newest release that runs. NAME is a service of the same app
/// as `of`.
async fn live_container_of(
    target: &DockerTarget,
    of: &ReleaseContext,
    service: &str,
    field: &str,
) -> Result<String, Failure> {
    let key = ServiceKey::new(of.key.app(), service).map_err(|e| failures::input(e.to_string()))?;
    let live = match of.joins.get(service) {
        Some(release) => Some(release.clone()),
        None => target
            .releases
            .live(&key)
            .map_err(failures::store)?
            .map(|l| l.release),
    };
    let labels = crate::backend::key_labels(target.installation()?, &key);
    let found = super::replicas(target.backend.list_containers(&labels).await)?;
    let release_of = |c: &Container| c.labels.get(RELEASE_LABEL).cloned().unwrap_or_default();
    let number = |c: &Container| {
        release_of(c)
            .trim_start_matches('r')
            .parse::<u64>()
            .unwrap_or(0)
    };
    let running: Vec<&Container> = found
        .iter()
        .filter(|c| c.state == RunState::Running)
        .collect();
    running
        .iter()
        .find(|c| live.as_deref() == Some(release_of(c).as_str()))
        .or_else(|| running.iter().max_by_key(|c| number(c)))
        .map(|c| c.id.clone())
        .ok_or_else(|| {
            Failure::new(
                failures::START,
                format!("{field} {service}: no container of {service} runs to share; deploy {service} first"),
            )
        })
}

/// The service's Compose networks (those it lists, else the app's
/// `default`, as Compose does), each by its engine name (see
/// [`ReleaseContext::networks`]), with its options.
pub(super) fn networks(release: &ReleaseContext) -> Vec<(String, ServiceNetwork)> {
    release
        .spec
        .joined_networks()
        .into_iter()
        .map(|(key, options)| {
            let name = release.networks.get(&key).cloned().unwrap_or(key);
            (name, options)
        })
        .collect()
}

/// The network every container that joins Compose networks is created on,
/// whose endpoint carries its published ports: one for the engine, made
/// when first needed and shared by every installation, as Docker's own
/// `bridge` is (a network each would use up the engine's address pools:
/// about 30 networks by default).
pub const PORTS_NETWORK: &str = "0--windlass";

/// Docker publishes a container's ports on the endpoint that is its
/// gateway, the first of its networks in libnetwork's order (IPv4 and IPv6
/// gateways first, then by name), and binds them again, at a new port the
/// engine picks, whenever that endpoint changes. On Docker's default
/// `bridge` an app whose network sorts before it (`api_default`, say)
/// took the gateway when the container joined it, and again at each switch
/// (the names move by detaching and attaching): the port the proxy had was
/// gone. [`PORTS_NETWORK`] sorts before any other name a user can give
/// (`0` then `--`), so the gateway, and the port, never move.
async fn ports_network(target: &DockerTarget) -> Result<String, Failure> {
    let labels = BTreeMap::from([("windlass.ports".to_owned(), "true".to_owned())]);
    target
        .backend
        .ensure_network_with(PORTS_NETWORK, &labels, &Default::default())
        .await
        .map_err(|e| Failure::new(failures::START, e.to_string()))?;
    Ok(PORTS_NETWORK.to_owned())
}

/// Attaches a new container to the service's Compose networks, creating
/// them when missing (with the top-level network's settings) unless they
/// are external, without the service's names: only the live release
/// answers to those (see `live::route_names`).
pub(super) async fn join_networks(
    target: &DockerTarget,
    release: &ReleaseContext,
    id: &str,
) -> Result<(), Failure> {
    let failed = |e: Error| Failure::new(failures::START, e.to_string());
    let labels = crate::backend::network_labels(target.installation()?, release.key.app());
    for (network, options) in networks(release) {
        if !release.external_networks.contains(&network) {
            target
                .backend
                .ensure_network_with(&network, &labels, &options.options)
                .await
                .map_err(failed)?;
        } else if !target
            .backend
            .network_exists(&network)
            .await
            .map_err(failed)?
        {
            // As Compose refuses it: an external network is the user's to make.
            return Err(Failure::new(
                failures::START,
                format!("network {network} is declared external but does not exist: create it (docker network create {network}) or remove `external: true` so that the app creates it"),
            ));
        }
        // A fixed address is free: the service deploys stop-first.
        target
            .backend
            .connect_network_at(&network, id, &[], &options.fixed())
            .await
            .map_err(failed)?;
    }
    Ok(())
}

async fn create(target: &DockerTarget, spec: &ContainerSpec) -> Result<String, Failure> {
    target.backend.create_container(spec).await.map_err(|e| {
        let name = match e {
            Error::NotFound { .. } => failures::IMAGE,
            _ => failures::START,
        };
        Failure::new(name, e.to_string())
    })
}
