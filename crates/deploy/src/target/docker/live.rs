//! Making a release the live one: the store's live pointer first, then the
//! proxy's atomic switch, then the service's names on its Compose networks.
//! The store is written first so that a crash in between restores the proxy
//! to what the store says.

use std::net::SocketAddr;

use windlass_asl::Failure;
use windlass_store::releases::Live;

use super::start::networks;
use super::DockerTarget;
use crate::failures;
use crate::target::ReleaseContext;

/// Records `release` as live, then routes its service's proxy to
/// `addresses`; returns the release that was live before.
pub(super) async fn make_live(
    target: &DockerTarget,
    release: &ReleaseContext,
    addresses: &[String],
) -> Result<Option<String>, Failure> {
    let mut before = make_all_live(target, &[(release, addresses)]).await?;
    Ok(before.pop().flatten())
}

/// Records every release as live in one store transaction, then switches
/// each service's proxy (a service that publishes no port has none: going
/// live is the store's record) and moves its network names; returns, per
/// release, the one that was live before.
pub(super) async fn make_all_live(
    target: &DockerTarget,
    releases: &[(&ReleaseContext, &[String])],
) -> Result<Vec<Option<String>>, Failure> {
    let mut lives = Vec::new();
    let mut plans = Vec::new();
    for (release, addresses) in releases {
        let name = &release.service;
        let upstreams = parse_upstreams(addresses)?;
        let proxy = match release.spec.proxy_address() {
            Some(address) => Some(
                target
                    .proxies
                    .ensure(name, address, super::proxies::protocol(&release.spec))
                    .await
                    .map_err(|e| Failure::new(failures::PROXY, e))?,
            ),
            None => None,
        };
        let stored = target.releases.live(name).map_err(failures::store)?;
        lives.push(Live {
            service: name.clone(),
            release: release.id().to_owned(),
            address: proxy.map_or_else(String::new, |bound| bound.to_string()),
            upstreams: if proxy.is_some() {
                addresses.to_vec()
            } else {
                Vec::new()
            },
            since_millis: target.now(),
        });
        plans.push((*release, upstreams, proxy, stored.map(|l| l.release)));
    }
    target.releases.set_lives(&lives).map_err(failures::store)?;
    let mut befores = Vec::new();
    for (release, upstreams, proxy, stored) in plans {
        let before = match proxy {
            Some(_) => target
                .proxies
                .switch(&release.service, release.id(), upstreams)
                .await
                .map_err(|e| Failure::new(failures::PROXY, e))?,
            None => stored,
        };
        route_names(target, release, before.as_deref()).await?;
        befores.push(before);
    }
    Ok(befores)
}

fn parse_upstreams(addresses: &[String]) -> Result<Vec<SocketAddr>, Failure> {
    addresses
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|e| failures::input(format!("upstream {a:?}: {e}")))
        })
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
    let name = &live.service;
    let named: Vec<(&String, Vec<String>)> = networks(&live.spec)
        .map(|(network, options)| {
            let mut names = vec![name.clone()];
            names.extend(options.aliases.iter().cloned());
            (network, names)
        })
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let mut moves: Vec<(String, bool)> = target
        .containers(name, live.id())
        .await?
        .into_iter()
        .map(|c| (c.id, true))
        .collect();
    if let Some(before) = before.filter(|b| *b != live.id()) {
        let old = target.containers(name, before).await?;
        moves.extend(old.into_iter().map(|c| (c.id, false)));
    }
    for (id, gets_names) in moves {
        for (network, names) in &named {
            target
                .backend
                .disconnect_network(network, &id)
                .await
                .map_err(failures::engine)?;
            let aliases: &[String] = if gets_names { names } else { &[] };
            target
                .backend
                .connect_network(network, &id, aliases)
                .await
                .map_err(failures::engine)?;
        }
    }
    Ok(())
}
