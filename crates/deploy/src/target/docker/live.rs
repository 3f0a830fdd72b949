//! Making a release the live one: the store's live pointer first, then the
//! proxy's atomic switch, then the service's names on its Compose networks.
//! The store is written first so that a crash in between restores the proxy
//! to what the store says.

use std::net::SocketAddr;

use windlass_asl::Failure;
use windlass_proxy::Release as ProxyRelease;
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
    let name = &release.service;
    let upstreams = parse_upstreams(addresses)?;
    let Some(address) = release.spec.proxy_address() else {
        // No proxy (the service publishes no port): going live is the
        // store's record, and the previous release stops at retire.
        let before = target.releases.live(name).map_err(failures::store)?;
        target
            .releases
            .set_live(&Live {
                service: name.clone(),
                release: release.id().to_owned(),
                address: String::new(),
                upstreams: Vec::new(),
                since_millis: target.now(),
            })
            .map_err(failures::store)?;
        let before = before.map(|l| l.release);
        route_names(target, release, before.as_deref()).await?;
        return Ok(before);
    };
    let proxy = target
        .proxies
        .ensure(name, address)
        .await
        .map_err(|e| Failure::new(failures::PROXY, e))?;
    target
        .releases
        .set_live(&Live {
            service: name.clone(),
            release: release.id().to_owned(),
            address: proxy.local_addr().to_string(),
            upstreams: addresses.to_vec(),
            since_millis: target.now(),
        })
        .map_err(failures::store)?;
    let before = proxy
        .switch(ProxyRelease::new(release.id(), upstreams))
        .map_err(|e| Failure::new(failures::PROXY, e.to_string()))?;
    route_names(target, release, before.as_deref()).await?;
    Ok(before)
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
