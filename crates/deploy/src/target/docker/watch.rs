//! Watching a release that went live: the proxy's 5xx share and p99
//! latency since the switch, and the replicas' health; a trigger fails the
//! step, and the definition rolls back.

use std::time::Duration;

use windlass_asl::Failure;

use super::health::wait_config;
use super::DockerTarget;
use crate::compose::Service;
use crate::failures;
use crate::probe;
use crate::target::{ReleaseContext, Watched};

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

pub(super) async fn watch(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Watched, Failure> {
    let service = &release.spec;
    let id = release.id();
    let label = release.label();
    let triggers = Triggers::of(service);
    if service.runs_to_completion {
        // A job's exit 0 was its health; it has nothing left to watch.
        return Ok(Watched {
            watched_millis: 0,
            requests: 0,
            server_errors: 0,
            p99_millis: None,
        });
    }
    // A service that publishes no port has no proxy: only its health is watched.
    let proxied = service.has_proxy();
    let proxy_failed = |e: String| Failure::new(failures::PROXY, e);
    if proxied
        && !target
            .proxies
            .has(&release.key)
            .await
            .map_err(proxy_failed)?
    {
        return Err(Failure::new(
            failures::PROXY,
            format!("service {} has no proxy", release.service),
        ));
    }
    let (_, mut health) = wait_config(service);
    // One look per probe: a zero deadline makes wait_healthy answer at once.
    health.deadline = Duration::ZERO;
    let probe_every = health.interval.max(Duration::from_millis(200));
    let traffic = || async {
        if proxied {
            target
                .proxies
                .traffic(&release.key, id)
                .await
                .map_err(proxy_failed)
        } else {
            Ok(None)
        }
    };
    let baseline = traffic().await?;
    let started = tokio::time::Instant::now();
    let mut next_probe = started;
    let mut failed_checks = 0u32;
    loop {
        let now = tokio::time::Instant::now();
        let live = match proxied {
            true => target
                .proxies
                .live(&release.key)
                .await
                .map_err(proxy_failed)?,
            false => target
                .releases
                .live(&release.key)
                .map_err(failures::store)?
                .map(|l| l.release),
        };
        if live.as_deref() != Some(id) {
            return Err(Failure::new(
                failures::PROXY,
                format!("release {label} stopped being live during the watch"),
            ));
        }
        let now_stats = traffic().await?;
        let window = match (&baseline, now_stats) {
            (Some(before), Some(after)) => Some(after.since(before)),
            (None, after) => after,
            (Some(_), None) => None,
        };
        if let Some(window) = &window {
            let ratio = window.server_error_ratio();
            if window.requests >= MIN_REQUESTS && ratio > triggers.server_error_ratio {
                return Err(Failure::new(
                    failures::SERVER_ERRORS,
                    format!(
                        "release {}: {} of {} answers were 5xx ({:.1}%) during the watch, above the {:.1}% allowed (x-windlass.rollback_on.server_error_ratio)",
                        label,
                        window.server_errors,
                        window.requests,
                        ratio * 100.0,
                        triggers.server_error_ratio * 100.0
                    ),
                ));
            }
            if let (Some(limit), Some(p99)) = (triggers.p99, window.p99) {
                if window.requests >= MIN_REQUESTS && p99 > limit {
                    return Err(Failure::new(
                        failures::LATENCY,
                        format!(
                            "release {}: p99 latency {p99:?} during the watch, above the {limit:?} allowed (x-windlass.rollback_on.p99_latency)",
                            label
                        ),
                    ));
                }
            }
        }
        if now >= next_probe {
            next_probe = now + probe_every;
            let containers = target.containers(&release.key, id).await?;
            let mut healthy = !containers.is_empty();
            let mut last = String::from("no container runs");
            for container in &containers {
                if let Err(e) =
                    probe::wait_healthy(target.backend.as_ref(), &container.id, &health).await
                {
                    healthy = false;
                    last = e.to_string();
                }
            }
            failed_checks = if healthy { 0 } else { failed_checks + 1 };
            if failed_checks >= triggers.failed_health_checks {
                return Err(Failure::new(
                    failures::UNHEALTHY,
                    format!(
                        "release {}: {failed_checks} health checks in a row failed during the watch: {last}",
                        label
                    ),
                ));
            }
        }
        if now.duration_since(started) >= triggers.period {
            return Ok(Watched {
                watched_millis: u64::try_from(triggers.period.as_millis()).unwrap_or(u64::MAX),
                requests: window.as_ref().map_or(0, |w| w.requests),
                server_errors: window.as_ref().map_or(0, |w| w.server_errors),
                p99_millis: window
                    .as_ref()
                    .and_then(|w| w.p99)
                    .map(|d| d.as_secs_f64() * 1000.0),
            });
        }
        tokio::time::sleep(WATCH_TICK).await;
    }
}
