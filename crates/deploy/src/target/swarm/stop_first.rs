//! Stop-first on the Swarm: a service that cannot run twice at once (a
//! named volume or a directory mounted read-write, a fixed name,
//! `x-windlass.exclusive`, or `update_config.order: stop-first`: the same
//! rule as on the local engine, [`crate::compose::Service::must_run_alone`])
//! has its live release's Swarm service scaled to 0 replicas, and its tasks
//! stopped, before the next release's service is created. Meanwhile the
//! entry holds the service's new connections and requests
//! ([`super::entry::hold`], one write of the routes, so every manager
//! holds at once) until the switch names the next release. A rollback
//! scales the stopped release back up ([`scale_up`], from
//! [`super::lifecycle::start`]). Every step may run again after a crash:
//! a hold written again, a service already at 0, one already scaled up.

use std::time::{Duration, Instant};

use bollard::models::{Service, ServiceSpecMode, ServiceSpecModeReplicated};
use bollard::query_parameters::UpdateServiceOptions;
use windlass_asl::Failure;
use windlass_store::releases::ServiceKey;
use windlass_swarm_entry::RouteHold;

use super::{engine, entry, spec, SwarmTarget};
use crate::compose::Order;
use crate::failures;
use crate::target::{Mode, ReleaseContext};

/// How long past a task's stop grace period its stop may take (the node
/// reports it to the manager).
const STOP_MARGIN: Duration = Duration::from_secs(30);

/// Why the release must replace the one before it rather than start beside
/// it, if so. A deploy's `update_config.order: stop-first` counts for a
/// deploy only, as on the local engine; a rollback of such a service starts
/// the release beside the live one.
pub(super) fn why(release: &ReleaseContext) -> Option<String> {
    let service = &release.spec;
    if let Some(why) = service.must_run_alone() {
        return Some(format!("stop-first: {why}"));
    }
    let order = service.deploy.update_config.as_ref().and_then(|c| c.order);
    (order == Some(Order::StopFirst) && release.mode == Mode::Deploy)
        .then(|| "stop-first: update_config.order says so".to_owned())
}

/// Before `release`'s service is created: when it deploys stop-first and
/// another release is live, the entry holds the service's traffic, requests
/// in flight finish, and the live release's tasks stop.
pub(super) async fn make_way(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<(), Failure> {
    let first = why(release);
    let proxied = release.spec.has_proxy();
    let previous = release.other_previous().map(str::to_owned);
    target.notes.starting(
        &release.key,
        first.is_some() && previous.is_some() && proxied,
    );
    let (Some(why), Some(previous)) = (first, previous) else {
        return Ok(());
    };
    tracing::info!(service = %release.service, release = %release.id(), %why, "stop-first");
    let held = if proxied {
        format!("; the entry holds traffic until {} is live", release.id())
    } else {
        String::new()
    };
    target.notes.set(
        &release.key,
        format!("{why}: release {previous} stops first{held}"),
    );
    stop(target, release, &release.key, &previous).await
}

/// Holds `key`'s traffic on the entry (when it has routes), waits for the
/// requests in flight, then stops release `id`'s tasks: scaled to 0 (kept,
/// to be scaled up again by a rollback), or removed when it runs in global
/// mode (started again from its record by a rollback).
pub(super) async fn stop(
    target: &SwarmTarget,
    release: &ReleaseContext,
    key: &ServiceKey,
    id: &str,
) -> Result<(), Failure> {
    let grace = release
        .spec
        .stop_grace_period
        .unwrap_or(Duration::from_secs(10));
    let start = release
        .spec
        .windlass
        .health
        .start_timeout
        .unwrap_or(target.config.start_timeout);
    // A duration each entry task counts from its own read, with the
    // moment only in its name: the nodes' clocks need not agree with ours.
    let hold = RouteHold {
        for_millis: u64::try_from(millis(grace + STOP_MARGIN + start + STOP_MARGIN)).unwrap_or(0),
        id: format!("{}-{}", release.id(), target.now()),
    };
    if entry::hold(target, key.app(), key.service(), hold).await? {
        // The entry's tasks hold new traffic from now on; what they sent
        // before finishes on the release that stops.
        tokio::time::sleep(target.config.drain).await;
    }
    let name = target.name_of(key, id)?;
    let Some(service) = super::lifecycle::find(target, &name).await? else {
        return Ok(());
    };
    if replicas_of(&service).is_none() {
        return super::lifecycle::remove_and_wait(target, &[service]).await;
    }
    let id = service.id.clone().unwrap_or_else(|| name.clone());
    scale(target, &name, service, 0).await?;
    let deadline = Instant::now() + grace + STOP_MARGIN;
    while super::tasks::any_task(target, &id).await? {
        if Instant::now() > deadline {
            return Err(Failure::new(
                failures::START,
                format!(
                    "{}: {name} still has a task running {} s after it was scaled to 0, and the service may not run twice at once (stop-first): the next release is not started",
                    release.label(),
                    (grace + STOP_MARGIN).as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Scales `service` (release `release`'s, found by its start) back to the
/// release's replicas when a stop-first deploy scaled it down.
pub(super) async fn scale_up(
    target: &SwarmTarget,
    release: &ReleaseContext,
    name: &str,
    service: Service,
) -> Result<(), Failure> {
    let Some(wanted) = spec::replicas(&release.spec) else {
        return Ok(());
    };
    if replicas_of(&service).is_none_or(|now| now == i64::from(wanted)) {
        return Ok(());
    }
    tracing::info!(release = %release.label(), replicas = wanted, "scaled up again");
    scale(target, name, service, i64::from(wanted)).await
}

/// The replicas a replicated service asks for; `None` in another mode.
fn replicas_of(service: &Service) -> Option<i64> {
    service
        .spec
        .as_ref()?
        .mode
        .as_ref()?
        .replicated
        .as_ref()?
        .replicas
}

/// Sets `service`'s replicas (its spec otherwise unchanged), retrying when
/// someone else updated it meanwhile.
async fn scale(
    target: &SwarmTarget,
    name: &str,
    mut service: Service,
    replicas: i64,
) -> Result<(), Failure> {
    for _ in 0..5 {
        let version = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let spec = service.spec.clone().unwrap_or_default();
        let spec = bollard::models::ServiceSpec {
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(replicas),
                }),
                ..Default::default()
            }),
            ..spec
        };
        let options = UpdateServiceOptions {
            version: i32::try_from(version).unwrap_or(i32::MAX),
            ..Default::default()
        };
        match target
            .docker
            .update_service(name, spec, options, None)
            .await
        {
            Ok(_) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("out of sequence") =>
            {
                service = target
                    .docker
                    .inspect_service(name, None)
                    .await
                    .map_err(|e| engine(&format!("inspect {name}"), e))?;
            }
            Err(e) => return Err(engine(&format!("scale {name} to {replicas}"), e)),
        }
    }
    Err(Failure::new(
        failures::ENGINE,
        format!(
            "{name} was changed by someone else five times while windlass scaled it to {replicas}"
        ),
    ))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
