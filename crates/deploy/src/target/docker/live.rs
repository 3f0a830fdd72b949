//! Making a release the live one: the store's live pointer first, then the
//! proxies' atomic switch (every published port's together), then the
//! service's names on its Compose networks.
//! The store is written first so that a crash in between restores the proxy
//! to what the store says.

use windlass_asl::Failure;
use windlass_proxy::daemon::api::ServiceSpec;
use windlass_store::releases::Live;

use super::ports;
use super::start::networks;
use super::DockerTarget;
use crate::backend::FixedAddress;
use crate::failures;
use crate::target::{ReleaseContext, Upstreams};

/// Records `release` as live, then routes its service's proxies to
/// `upstreams`; returns the release that was live before.
pub(super) async fn make_live(
    target: &DockerTarget,
    release: &ReleaseContext,
    upstreams: &Upstreams,
) -> Result<Option<String>, Failure> {
    let mut before = make_all_live(target, &[(release, upstreams)], Record::BeforeSwitch).await?;
    Ok(before.pop().flatten())
}

/// When the store's live pointers are written, against the proxies' switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Record {
    /// First, then the switch (a deploy: a crash in between ends on the
    /// store's record, which the restarted agent pushes to the proxies).
    BeforeSwitch,
    /// Side by side with the switch, both done before the step answers: for
    /// releases already known running and healthy (a warm rollback), whose
    /// traffic should not wait for the store's fsync. A crash in between
    /// leaves the proxies on either release; the restarted agent pushes the
    /// store's record to them before it resumes the execution, whose
    /// interrupted step then runs again and flips once more.
    AlongsideSwitch,
}

/// Records every release as live in one store transaction (see [`Record`]
/// for when), every port of each: where its proxy listens and the
/// release's upstreams for it; switches every port's proxy of every
/// service in one step (a service that publishes no port has none: going
/// live is the store's record), and only then moves their network names,
/// which takes Docker calls per container; returns, per release, the one
/// that was live before.
pub(super) async fn make_all_live(
    target: &DockerTarget,
    releases: &[(&ReleaseContext, &Upstreams)],
    record: Record,
) -> Result<Vec<Option<String>>, Failure> {
    let proxies = ensure_proxies(target, releases).await?;
    crate::timing::mark_open("proxies");
    let mut lives = Vec::new();
    let mut befores = Vec::new();
    let mut switches = Vec::new();
    for ((release, upstreams), bound) in releases.iter().zip(&proxies) {
        let name = &release.key;
        let stored = target.releases.live(name).map_err(failures::store)?;
        befores.push(stored.map(|l| l.release));
        let ports = match bound {
            Some(bound) => {
                let live = ports::live_release(&release.spec, release.id(), upstreams)?;
                let ports = ports::live_ports(bound, &live);
                switches.push((name.clone(), live));
                ports
            }
            None => Vec::new(),
        };
        lives.push(Live::of_ports(
            name.clone(),
            release.id().to_owned(),
            ports,
            target.now(),
        ));
    }
    let switch = async {
        let switched = target
            .proxies
            .switch_all(switches)
            .await
            .map_err(|e| Failure::new(failures::PROXY, e));
        crate::timing::mark_open("switched");
        switched
    };
    let switched = match record {
        Record::BeforeSwitch => {
            target.releases.set_lives(&lives).map_err(failures::store)?;
            switch.await?
        }
        Record::AlongsideSwitch => {
            let releases = std::sync::Arc::clone(&target.releases);
            let store = tokio::task::spawn_blocking(move || {
                let stored = releases.set_lives(&lives);
                crate::timing::mark_open("stored");
                stored
            });
            let (stored, switched) = tokio::join!(store, switch);
            stored
                .map_err(|e| Failure::new(failures::STORE, e.to_string()))?
                .map_err(failures::store)?;
            switched?
        }
    };
    let mut switched = switched.into_iter();
    for (before, proxy) in befores.iter_mut().zip(&proxies) {
        if proxy.is_some() {
            *before = switched.next().flatten();
        }
    }
    for ((release, _), before) in releases.iter().zip(&befores) {
        route_names(target, release, before.as_deref()).await?;
    }
    Ok(befores)
}

/// Each release's service's proxies, bound unless they are already (side
/// by side: each service is a call to the proxy daemon), as bound; `None`
/// for a service that publishes no port.
async fn ensure_proxies(
    target: &DockerTarget,
    releases: &[(&ReleaseContext, &Upstreams)],
) -> Result<Vec<Option<ServiceSpec>>, Failure> {
    let ensured = releases.iter().map(|(release, _)| async move {
        match ports::spec(&release.spec) {
            Some(spec) => target
                .proxies
                .ensure(&release.key, &spec)
                .await
                .map(Some)
                .map_err(|e| Failure::new(failures::PROXY, e)),
            None => Ok(None),
        }
    });
    futures_util::future::join_all(ensured)
        .await
        .into_iter()
        .collect()
}

/// Gives the service's names on its Compose networks (the service name and
/// the `aliases` listed) to the containers of the live release and takes
/// them from the release live before, so that other services reach one
/// release by name, as they reach one through the proxy. Docker cannot
/// change a container's aliases in place: each is detached from the network
/// and attached again (these networks carry no published port). Safe to
/// repeat after a crash.
async fn route_names(
    target: &DockerTarget,
    live: &ReleaseContext,
    before: Option<&str>,
) -> Result<(), Failure> {
    let named: Vec<(String, Vec<String>, FixedAddress)> = networks(live)
        .into_iter()
        .map(|(network, options)| {
            let mut names = vec![live.service.clone()];
            names.extend(options.aliases.iter().cloned());
            (network, names, options.fixed())
        })
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let mut moves: Vec<(String, bool)> = target
        .containers(&live.key, live.id())
        .await?
        .into_iter()
        .map(|c| (c.id, true))
        .collect();
    if let Some(before) = before.filter(|b| *b != live.id()) {
        let old = target.containers(&live.key, before).await?;
        moves.extend(old.into_iter().map(|c| (c.id, false)));
    }
    for (id, gets_names) in moves {
        for (network, names, fixed) in &named {
            target
                .backend
                .disconnect_network(network, &id)
                .await
                .map_err(failures::engine)?;
            // The live release keeps its fixed address; one before it (only
            // there when it was not stopped first) gets another.
            let (aliases, address): (&[String], _) = if gets_names {
                (names, *fixed)
            } else {
                (&[], FixedAddress::default())
            };
            target
                .backend
                .connect_network_at(network, &id, aliases, &address)
                .await
                .map_err(failures::engine)?;
        }
    }
    Ok(())
}
