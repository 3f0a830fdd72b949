//! The steps after the switch: watch the new release, retire what is no
//! longer needed, and roll back.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value as Json};
use windlass_asl::Failure;
use windlass_store::releases::Outcome;

use super::steps::{make_live, remove, stop_grace, wait_config};
use super::{errors, store_failure, Inner, Input, Mode};
use crate::backend::{RunState, RELEASE_LABEL, SERVICE_LABEL};
use crate::compose::Service;
use crate::probe;

/// How often the watch looks at the proxy's counters.
const WATCH_TICK: Duration = Duration::from_millis(100);
/// Fewer answers than this say nothing about a share of 5xx.
const MIN_REQUESTS: u64 = 10;

/// What makes the watch roll back, with Compose's and windlass's defaults.
struct Triggers {
    period: Duration,
    server_error_ratio: f64,
    p99: Option<Duration>,
    failed_health_checks: u32,
}

impl Triggers {
    fn of(service: &Service) -> Triggers {
        let on = &service.windlass.rollback_on;
        let monitor = service
            .deploy
            .update_config
            .as_ref()
            .and_then(|u| u.monitor);
        Triggers {
            period: service
                .windlass
                .watch
                .or(monitor)
                .unwrap_or(Duration::from_secs(10)),
            server_error_ratio: on.server_error_ratio.unwrap_or(0.05),
            p99: on.p99_latency,
            failed_health_checks: on.failed_health_checks.unwrap_or(3).max(1),
        }
    }
}

pub(crate) async fn watch(ctx: &Inner, input: &Input) -> Result<Json, Failure> {
    let release = ctx.release(&input.service, &input.release)?;
    let service = ctx.service(&release)?;
    let triggers = Triggers::of(&service);
    // A service that publishes no port has no proxy: only its health is watched.
    let proxy = match service.proxy_address() {
        Some(_) => Some(ctx.proxies.get(&input.service).ok_or_else(|| {
            Failure::new(
                errors::PROXY,
                format!("service {} has no proxy", input.service),
            )
        })?),
        None => None,
    };
    let (_, mut health) = wait_config(&service);
    // One look per probe: a zero deadline makes wait_healthy answer at once.
    health.deadline = Duration::ZERO;
    let probe_every = health.interval.max(Duration::from_millis(200));
    let baseline = proxy.as_ref().and_then(|p| p.stats(&input.release));
    let started = tokio::time::Instant::now();
    let mut next_probe = started;
    let mut failed_checks = 0u32;
    loop {
        let now = tokio::time::Instant::now();
        let live = match &proxy {
            Some(proxy) => proxy.live().map(|r| r.id),
            None => ctx
                .releases
                .live(&input.service)
                .map_err(store_failure)?
                .map(|l| l.release),
        };
        if live.as_deref() != Some(input.release.as_str()) {
            return Err(Failure::new(
                errors::PROXY,
                format!(
                    "release {} stopped being live during the watch",
                    input.release
                ),
            ));
        }
        let now_stats = proxy.as_ref().and_then(|p| p.stats(&input.release));
        let window = match (&baseline, now_stats) {
            (Some(before), Some(after)) => Some(after.since(before)),
            (None, after) => after,
            (Some(_), None) => None,
        };
        if let Some(window) = &window {
            let ratio = window.server_error_ratio();
            if window.requests >= MIN_REQUESTS && ratio > triggers.server_error_ratio {
                return Err(Failure::new(
                    errors::SERVER_ERRORS,
                    format!(
                        "release {}: {} of {} answers were 5xx ({:.1}%) during the watch, above the {:.1}% allowed (x-windlass.rollback_on.server_error_ratio)",
                        input.release,
                        window.server_errors,
                        window.requests,
                        ratio * 100.0,
                        triggers.server_error_ratio * 100.0
                    ),
                ));
            }
            if let (Some(limit), Some(p99)) = (triggers.p99, window.p99()) {
                if window.requests >= MIN_REQUESTS && p99 > limit {
                    return Err(Failure::new(
                        errors::LATENCY,
                        format!(
                            "release {}: p99 latency {p99:?} during the watch, above the {limit:?} allowed (x-windlass.rollback_on.p99_latency)",
                            input.release
                        ),
                    ));
                }
            }
        }
        if now >= next_probe {
            next_probe = now + probe_every;
            let containers = ctx.containers(&input.service, &input.release).await?;
            let mut healthy = !containers.is_empty();
            let mut last = String::from("no container runs");
            for container in &containers {
                if let Err(e) =
                    probe::wait_healthy(ctx.backend.as_ref(), &container.id, &health).await
                {
                    healthy = false;
                    last = e.to_string();
                }
            }
            failed_checks = if healthy { 0 } else { failed_checks + 1 };
            if failed_checks >= triggers.failed_health_checks {
                return Err(Failure::new(
                    errors::UNHEALTHY,
                    format!(
                        "release {}: {failed_checks} health checks in a row failed during the watch: {last}",
                        input.release
                    ),
                ));
            }
        }
        if now.duration_since(started) >= triggers.period {
            return Ok(json!({
                "watched_millis": u64::try_from(triggers.period.as_millis()).unwrap_or(u64::MAX),
                "requests": window.as_ref().map_or(0, |w| w.requests),
                "server_errors": window.as_ref().map_or(0, |w| w.server_errors),
                "p99_millis": window.as_ref().and_then(|w| w.p99()).map(|d| d.as_secs_f64() * 1000.0),
            }));
        }
        tokio::time::sleep(WATCH_TICK).await;
    }
}

/// Stops and removes every release of the service but the live one and the
/// one before it, which stays running so that a rollback is a traffic flip.
pub(crate) async fn retire(ctx: &Inner, input: &Input) -> Result<Json, Failure> {
    let release = ctx.release(&input.service, &input.release)?;
    let service = ctx.service(&release)?;
    if input.mode == Mode::Deploy {
        ctx.releases
            .set_outcome(&input.service, &input.release, Outcome::Live, None, None)
            .map_err(store_failure)?;
    }
    let mut keep = BTreeSet::from([input.release.clone()]);
    // The previous release stays warm behind the proxy, for a rollback that
    // is a flip. A service without a proxy (a worker) would run twice: its
    // previous release stops, and a rollback starts it again from its image.
    if service.proxy_address().is_some() {
        keep.extend(input.previous.clone());
    }
    if let Some(live) = ctx.releases.live(&input.service).map_err(store_failure)? {
        keep.insert(live.release);
    }
    let labels = [(SERVICE_LABEL.to_owned(), input.service.clone())].into();
    let containers = ctx
        .backend
        .list_containers(&labels)
        .await
        .map_err(|e| Failure::new(errors::ENGINE, e.to_string()))?;
    let mut retired = BTreeSet::new();
    for container in containers {
        let Some(of) = container.labels.get(RELEASE_LABEL) else {
            continue;
        };
        if keep.contains(of) {
            continue;
        }
        stop(ctx, &input.service, &service, of, &container.id).await?;
        retired.insert(of.clone());
    }
    if let Some(proxy) = ctx.proxies.get(&input.service) {
        for id in &retired {
            proxy.forget(id);
        }
    }
    let retain = service.windlass.retain.unwrap_or(DEFAULT_RETAIN).max(1);
    let pruned = prune(ctx, &input.service, &keep, retain).await?;
    Ok(json!({ "kept": keep, "retired": retired, "pruned": pruned }))
}

/// How many releases keep their image for `windlass rollback` when
/// `x-windlass.retain` does not say (Swarm keeps 5 tasks of history too).
pub(crate) const DEFAULT_RETAIN: u32 = 5;

/// Lets go of the images of releases beyond the newest `retain` that have
/// one (never the live release or the one kept warm): removes their
/// per-release tag and records them as pruned. An image that cannot be
/// removed stays retained and is tried again at the next deploy.
async fn prune(
    ctx: &Inner,
    service: &str,
    keep: &BTreeSet<String>,
    retain: u32,
) -> Result<Vec<String>, Failure> {
    let releases = ctx.releases.list(service).map_err(store_failure)?;
    let mut pruned = Vec::new();
    let with_image = releases
        .iter()
        .filter(|r| r.pruned_millis.is_none())
        .filter_map(|r| r.image.as_ref().map(|image| (r, image)));
    for (release, image) in with_image.skip(retain as usize) {
        if keep.contains(&release.id) {
            continue;
        }
        if let Err(e) = ctx.backend.remove_image(image).await {
            tracing::warn!(%e, release = %release.id, "cannot let go of a pruned release's image; kept for now");
            continue;
        }
        ctx.releases
            .set_pruned(service, &release.id, ctx.now())
            .map_err(store_failure)?;
        pruned.push(release.id.clone());
    }
    Ok(pruned)
}

/// Lets the release's requests in flight finish, then stops and removes one
/// of its containers.
pub(super) async fn stop(
    ctx: &Inner,
    name: &str,
    service: &Service,
    release: &str,
    id: &str,
) -> Result<(), Failure> {
    if let Some(proxy) = ctx.proxies.get(name) {
        match proxy.drain(release, ctx.config.drain_timeout).await {
            Ok(()) | Err(windlass_proxy::Error::UnknownRelease(_)) => {}
            Err(e) => tracing::warn!(%e, "stopping the release anyway"),
        }
    }
    ctx.backend
        .stop_container(id, stop_grace(service))
        .await
        .map_err(|e| Failure::new(errors::ENGINE, e.to_string()))?;
    remove(ctx, id).await
}

/// Puts the release that was live before back in service (a flip when its
/// containers still run; started again from its pinned image otherwise),
/// then removes the failed release's containers.
pub(crate) async fn rollback(ctx: &Inner, input: &Input) -> Result<Json, Failure> {
    let decided = ctx.now();
    let release = ctx.release(&input.service, &input.release)?;
    let service = ctx.service(&release)?;
    let cause = input
        .failure
        .as_ref()
        .map(|f| format!("{}: {}", f.error, f.cause))
        .unwrap_or_else(|| "rolled back".into());
    let proxy = ctx.proxies.get(&input.service);
    let live_now = proxy.as_ref().and_then(|p| p.live()).map(|r| r.id);
    let mut flipped_millis = None;
    match &input.previous {
        Some(previous) if live_now.as_deref() != Some(previous.as_str()) => {
            let addresses = running_upstreams(ctx, &input.service, previous).await?;
            let previous_release = ctx.release(&input.service, previous)?;
            let previous_service = ctx.service(&previous_release)?;
            make_live(ctx, &input.service, &previous_service, previous, &addresses).await?;
            flipped_millis = Some(ctx.now() - decided);
        }
        Some(_) => {}
        None => {
            // The first release of the service failed: nothing was live before.
            ctx.releases
                .clear_live(&input.service)
                .map_err(store_failure)?;
            if let Some(proxy) = &proxy {
                if proxy.clear().is_some() {
                    flipped_millis = Some(ctx.now() - decided);
                }
            }
        }
    }
    let paused = input
        .failure
        .as_ref()
        .is_some_and(|f| f.error == errors::PAUSED);
    if !paused {
        for container in ctx.containers(&input.service, &input.release).await? {
            stop(ctx, &input.service, &service, &input.release, &container.id).await?;
        }
    }
    let cause = if paused {
        format!("{cause} (update_config.failure_action pause: its containers are left running, never switched to, for inspection; the next deploy removes them)")
    } else {
        cause
    };
    if let Some(proxy) = &proxy {
        proxy.forget(&input.release);
    }
    if input.mode == Mode::Deploy {
        ctx.releases
            .set_outcome(
                &input.service,
                &input.release,
                Outcome::RolledBack,
                flipped_millis,
                Some(&cause),
            )
            .map_err(store_failure)?;
    }
    Ok(json!({ "live": input.previous, "flip_millis": flipped_millis }))
}

/// The published addresses of a release's containers, starting them again
/// from the release's pinned image when they no longer run.
async fn running_upstreams(ctx: &Inner, name: &str, release: &str) -> Result<Vec<String>, Failure> {
    let record = ctx.release(name, release)?;
    let service = ctx.service(&record)?;
    let (port, _) = wait_config(&service);
    let containers = ctx.containers(name, release).await?;
    let all_run = !containers.is_empty()
        && containers.iter().all(|c| {
            c.state == RunState::Running && port.is_none_or(|p| c.published.contains_key(&p))
        });
    if all_run {
        return Ok(containers
            .iter()
            .filter_map(|c| port.and_then(|p| c.published.get(&p)))
            .map(ToString::to_string)
            .collect());
    }
    let restart = Input {
        service: name.to_owned(),
        release: release.to_owned(),
        previous: None,
        mode: Mode::Rollback,
        requested_millis: None,
        image: None,
        containers: None,
        upstreams: None,
        failure: None,
        hook: None,
    };
    super::steps::start(ctx, &restart).await?;
    let healthy = super::steps::wait_healthy(ctx, &restart).await?;
    let addresses: super::UpstreamsOutput =
        serde_json::from_value(healthy).map_err(|e| Failure::new(errors::INPUT, e.to_string()))?;
    Ok(addresses.addresses)
}
