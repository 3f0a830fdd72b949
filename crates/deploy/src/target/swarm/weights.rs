//! A rollout's steps on the Swarm: each new release becomes the canary of
//! its service's routes in the entry's table (the routes label), with the
//! step's weight, every service of the app in one label write; the entry
//! tasks route by it with the proxy's weighted routing. Both releases'
//! counters come from the entry tasks themselves: each prints its
//! cumulative counters per port and release as a line of its output
//! (`windlass_swarm_entry::CountersLine`), and the manager gives every
//! task's output as the service's logs, so windlass needs nothing but the
//! manager's API. The latest line of each task is one [`Part`] of a
//! release's counters; a window is each task's own difference, so a task
//! that restarted (a new instance, counting from zero) spoils nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use windlass_asl::Failure;
use windlass_proxy::daemon::api::ReleaseStats;
use windlass_proxy::{Sticky, Weight};
use windlass_store::releases::ServiceKey;
use windlass_swarm_entry::{CountersLine, RouteCanary, Routes, ROUTES_LABEL};

use super::{engine, entry, SwarmTarget};
use crate::failures;
use crate::target::weights::{Counters, Part, Shares};
use crate::target::{ReleaseContext, Upstreams};

/// How many of its last lines of output each entry task is asked for: the
/// counters are its only output on stdout, so the last is enough; a few
/// more cover a line the engine split.
const TAIL: u32 = 3;
/// How long reading the entry's logs may take (a node that went away can
/// keep the manager waiting for its tasks' output).
const READ_WITHIN: Duration = Duration::from_secs(10);
/// How long after a weight is written its first counted requests show in
/// the entry's output: the tasks read the table every 200 ms and print
/// every second.
pub(super) const COUNTED_WITHIN: Duration = Duration::from_millis(1_300);

/// The app's routing table as the entry service holds it now (empty when
/// it has none).
pub(super) async fn current_routes(target: &SwarmTarget, app: &str) -> Result<Routes, Failure> {
    let name = entry::entry_name(target.installation()?, app);
    match target.docker.inspect_service(&name, None).await {
        Ok(service) => Ok(Routes::parse(
            service
                .spec
                .and_then(|s| s.labels)
                .and_then(|l| l.get(ROUTES_LABEL).cloned())
                .as_deref(),
        )),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(Routes::default()),
        Err(e) => Err(engine(&format!("inspect {name}"), e)),
    }
}

pub(super) async fn set_weight(
    target: &SwarmTarget,
    releases: &[(ReleaseContext, Upstreams)],
    weight: Weight,
    sticky: Option<&Sticky>,
) -> Result<Vec<Shares>, Failure> {
    let Some((first, _)) = releases.first() else {
        return Ok(Vec::new());
    };
    let app = first.key.app().to_owned();
    let routes = current_routes(target, &app).await?;
    let mut changes = Vec::new();
    let mut weighed = Vec::new();
    for (release, _) in releases {
        let name = target.name_of(&release.key, release.id())?;
        let new_routes = entry::routes_of(release, &name)?;
        let mut service_routes: Vec<_> = routes
            .ports
            .iter()
            .filter(|r| r.service == release.service)
            .cloned()
            .collect();
        // A first release has nothing beside which to take a share; a
        // release already live (a step run again after the switch) has all
        // of it.
        if service_routes.is_empty() || service_routes.iter().all(|r| r.release == release.id()) {
            continue;
        }
        for route in &mut service_routes {
            // A port the new release no longer publishes keeps the live
            // release alone until the switch.
            route.canary = new_routes
                .iter()
                .find(|n| n.published == route.published)
                .map(|n| RouteCanary {
                    release: release.id().to_owned(),
                    upstream: n.upstream.clone(),
                    target: n.target,
                    weight,
                    sticky: sticky.cloned(),
                });
        }
        let published: Vec<u16> = service_routes
            .iter()
            .filter(|r| r.canary.is_some())
            .map(|r| r.published)
            .collect();
        let live = service_routes[0].release.clone();
        changes.push((
            release.service.clone(),
            service_routes,
            entry::networks_of(release),
        ));
        weighed.push((release.clone(), live, published));
    }
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    entry::route(target, &app, &changes).await?;
    tracing::info!(%app, weight = %weight, services = changes.len(), "the entry's routes carry the canaries");
    // The window's start is taken from the routes written here, not read
    // back: an `abort` that ended the canaries meanwhile must leave this
    // step weighed (its analysis then fails with `Deploy.Aborted`), never
    // look like a step with nothing to weigh, which goes straight on.
    let lines = entry_counters(target, &app).await?;
    Ok(weighed
        .into_iter()
        .map(|(release, live, published)| Shares {
            service: release.service.clone(),
            live: counters_of(&lines, &published, &live),
            canary: counters_of(&lines, &published, release.id()),
        })
        .collect())
}

/// Takes every canary of `keys`' services out of the entry's table at once
/// (their share goes back to the live releases, which never stopped);
/// returns the services that had one.
pub(super) async fn end_canaries(
    target: &SwarmTarget,
    keys: &[ServiceKey],
) -> Result<Vec<String>, Failure> {
    let Some(first) = keys.first() else {
        return Ok(Vec::new());
    };
    let app = first.app().to_owned();
    let routes = current_routes(target, &app).await?;
    let mut changes = Vec::new();
    let mut ended = Vec::new();
    for key in keys {
        let mut service_routes: Vec<_> = routes
            .ports
            .iter()
            .filter(|r| r.service == key.service())
            .cloned()
            .collect();
        if service_routes.iter().all(|r| r.canary.is_none()) {
            continue;
        }
        for route in &mut service_routes {
            route.canary = None;
        }
        ended.push(key.service().to_owned());
        changes.push((key.service().to_owned(), service_routes, Vec::new()));
    }
    if !changes.is_empty() {
        entry::route(target, &app, &changes).await?;
        tracing::info!(%app, services = ?ended, "the canaries' share went back to the live releases");
    }
    Ok(ended)
}

/// Both releases' counters of each service whose canary `release` is.
pub(super) async fn shares(
    target: &SwarmTarget,
    releases: &[ReleaseContext],
) -> Result<Vec<Shares>, Failure> {
    let Some(first) = releases.first() else {
        return Ok(Vec::new());
    };
    let app = first.key.app().to_owned();
    let routes = current_routes(target, &app).await?;
    let lines = entry_counters(target, &app).await?;
    let mut out = Vec::new();
    for release in releases {
        let ports: Vec<_> = routes
            .ports
            .iter()
            .filter(|r| r.service == release.service)
            .filter(|r| r.canary.as_ref().is_some_and(|c| c.release == release.id()))
            .collect();
        let Some(live) = ports.first().map(|r| r.release.clone()) else {
            continue;
        };
        let published: Vec<u16> = ports.iter().map(|r| r.published).collect();
        out.push(Shares {
            service: release.service.clone(),
            live: counters_of(&lines, &published, &live),
            canary: counters_of(&lines, &published, release.id()),
        });
    }
    Ok(out)
}

/// What release `release` served through the entry on its service's
/// routes that send it traffic (live), every entry task's counters summed;
/// `None` when no route does.
pub(super) async fn live_traffic(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<Option<Counters>, Failure> {
    let routes = current_routes(target, release.key.app()).await?;
    let published: Vec<u16> = routes
        .ports
        .iter()
        .filter(|r| r.service == release.service && r.release == release.id())
        .map(|r| r.published)
        .collect();
    if published.is_empty() {
        return Ok(None);
    }
    let lines = entry_counters(target, release.key.app()).await?;
    Ok(Some(counters_of(&lines, &published, release.id())))
}

/// The counters of `release` on the ports `published`, every entry task's
/// latest line one part.
pub(super) fn counters_of(lines: &[CountersLine], published: &[u16], release: &str) -> Counters {
    let mut parts = Vec::new();
    for line in lines {
        let mut sum: Option<ReleaseStats> = None;
        for port in line
            .ports
            .iter()
            .filter(|p| published.contains(&p.published))
        {
            for stats in port.releases.iter().filter(|s| s.release == release) {
                match &mut sum {
                    Some(sum) => sum.add(stats),
                    None => sum = Some(stats.clone()),
                }
            }
        }
        if let Some(sum) = sum {
            parts.push(Part {
                source: line.instance.clone(),
                requests: sum.requests,
                server_errors: sum.server_errors,
                latency_buckets: sum.latency_buckets,
            });
        }
    }
    Counters::of_parts(release, parts)
}

/// The latest counters line of every entry task of `app`, read from the
/// entry service's logs through the manager.
pub(super) async fn entry_counters(
    target: &SwarmTarget,
    app: &str,
) -> Result<Vec<CountersLine>, Failure> {
    let name = entry::entry_name(target.installation()?, app);
    let options = bollard::query_parameters::LogsOptions {
        stdout: true,
        stderr: false,
        tail: TAIL.to_string(),
        ..Default::default()
    };
    let mut stream = target.docker.service_logs(&name, Some(options));
    let mut text = String::new();
    let read = tokio::time::timeout(READ_WITHIN, async {
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => text.push_str(&output.to_string()),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(()),
                Err(e) => return Err(engine(&format!("the logs of {name}"), e)),
            }
        }
        Ok(())
    })
    .await;
    match read {
        Ok(result) => result?,
        Err(_) => {
            return Err(Failure::new(
                failures::ENGINE,
                format!(
                    "the Swarm manager: the logs of {name} (the entry's counters) took over {} s",
                    READ_WITHIN.as_secs()
                ),
            ))
        }
    }
    Ok(latest(&text))
}

/// The latest line of each instance in `text`.
fn latest(text: &str) -> Vec<CountersLine> {
    let mut by_instance: BTreeMap<String, CountersLine> = BTreeMap::new();
    for line in text.lines().filter_map(CountersLine::parse) {
        let newer = by_instance
            .get(&line.instance)
            .is_none_or(|seen| seen.at_millis <= line.at_millis);
        if newer {
            by_instance.insert(line.instance.clone(), line);
        }
    }
    by_instance.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use windlass_swarm_entry::PortCounters;

    fn stats(release: &str, requests: u64, server_errors: u64) -> ReleaseStats {
        ReleaseStats {
            release: release.into(),
            requests,
            server_errors,
            failed_connects: 0,
            in_flight: 0,
            connections: 0,
            bytes_to_upstream: 0,
            bytes_from_upstream: 0,
            held: 0,
            longest_hold_us: 0,
            p50_us: None,
            p99_us: None,
            latency_buckets: vec![[40, requests]],
        }
    }

    fn line(instance: &str, at: i64, ports: Vec<(u16, Vec<ReleaseStats>)>) -> CountersLine {
        CountersLine {
            instance: instance.into(),
            at_millis: at,
            ports: ports
                .into_iter()
                .map(|(published, releases)| PortCounters {
                    published,
                    releases,
                })
                .collect(),
        }
    }

    #[test]
    fn each_task_s_latest_line_is_one_part_of_its_service_s_ports() {
        let text = [
            line("a-1", 1, vec![(8000, vec![stats("r1", 5, 0)])]).to_line(),
            "something else".to_owned(),
            line(
                "a-1",
                2,
                vec![(8000, vec![stats("r1", 9, 1), stats("r2", 1, 0)])],
            )
            .to_line(),
            line(
                "b-1",
                2,
                vec![
                    (8000, vec![stats("r1", 4, 0)]),
                    // Another service's port, whose releases are named alike.
                    (8001, vec![stats("r1", 100, 100)]),
                ],
            )
            .to_line(),
        ]
        .join("\n");
        let lines = latest(&text);
        assert_eq!(lines.len(), 2);
        let r1 = counters_of(&lines, &[8000], "r1");
        assert_eq!((r1.requests, r1.server_errors, r1.parts.len()), (13, 1, 2));
        let r2 = counters_of(&lines, &[8000], "r2");
        assert_eq!((r2.requests, r2.parts.len()), (1, 1));
    }
}
