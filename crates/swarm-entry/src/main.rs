//! `windlass-swarm-entry`: one task of an app's entry service on a Swarm
//! manager. It reads its service's routes ([`windlass_swarm_entry::Routes`],
//! a label) from the manager's engine on the mounted Docker socket every
//! [`LOOK_EVERY`], binds a proxy per published port, and routes each to the
//! addresses the route's `tasks.NAME` resolves to now. When the engine
//! cannot be read it keeps serving the routes it has.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use windlass_proxy::{Config, Protocol, Proxy, Release};
use windlass_swarm_entry::{Route, Routes, ROUTES_LABEL, SERVICE_ENV};

/// How often the routes and the upstreams' addresses are read again.
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// How long an idempotent request waits for an upstream's answer before it
/// goes to the next upstream too: a task on a node that died answers
/// nothing, and Swarm names it in `tasks.NAME` until it judges the node
/// down (tens of seconds).
const HEDGE_AFTER: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Ok(service) = std::env::var(SERVICE_ENV) else {
        tracing::error!("{SERVICE_ENV} is not set: which entry service am I?");
        return std::process::ExitCode::from(2);
    };
    let socket = PathBuf::from(
        std::env::var("DOCKER_SOCKET").unwrap_or_else(|_| "/var/run/docker.sock".into()),
    );
    // PID 1 of its container: a signal without a handler would be ignored
    // and the task killed only after its grace period.
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        tracing::error!("cannot handle SIGTERM");
        return std::process::ExitCode::from(2);
    };
    let mut proxies: BTreeMap<u16, Proxy> = BTreeMap::new();
    let mut routes = Routes::default();
    loop {
        match read_routes(&socket, &service).await {
            Ok(read) => routes = read,
            Err(e) => tracing::warn!(%e, "cannot read the routes; serving the ones I have"),
        }
        apply(&routes, &mut proxies).await;
        tokio::select! {
            _ = tokio::time::sleep(LOOK_EVERY) => {}
            _ = terminate.recv() => {
                tracing::info!("SIGTERM: stopping");
                for proxy in proxies.values() {
                    proxy.stop().await;
                }
                return std::process::ExitCode::SUCCESS;
            }
        }
    }
}

/// Binds the ports routed now, stops the others, and switches each proxy to
/// its route's release at the addresses its name resolves to.
async fn apply(routes: &Routes, proxies: &mut BTreeMap<u16, Proxy>) {
    let gone: Vec<u16> = proxies
        .keys()
        .filter(|port| routes.of(**port).is_none())
        .copied()
        .collect();
    for port in gone {
        if let Some(proxy) = proxies.remove(&port) {
            proxy.stop().await;
        }
    }
    for route in &routes.ports {
        if let std::collections::btree_map::Entry::Vacant(vacant) = proxies.entry(route.published) {
            match bind(route).await {
                Ok(proxy) => {
                    vacant.insert(proxy);
                }
                Err(e) => {
                    tracing::error!(%e, port = route.published, "cannot bind");
                    continue;
                }
            }
        }
        let Some(proxy) = proxies.get(&route.published) else {
            continue;
        };
        let upstreams = resolve(route).await;
        if upstreams.is_empty() {
            // A name with no task yet (or a lookup that failed): keep what
            // is live rather than route nowhere.
            continue;
        }
        let release = Release::new(route.release.clone(), upstreams);
        if proxy.live().as_ref() != Some(&release) {
            tracing::info!(port = route.published, release = %release.id, upstreams = ?release.upstreams, "switch");
            if let Err(e) = proxy.switch(release) {
                tracing::error!(%e, "switch");
            }
        }
    }
}

async fn bind(route: &Route) -> Result<Proxy, String> {
    let protocol: Protocol = route.protocol.parse().map_err(|e| format!("{e:?}"))?;
    let config = Config {
        protocol,
        hedge_after: Some(HEDGE_AFTER),
        ..Config::default()
    };
    let address = SocketAddr::from((Ipv4Addr::UNSPECIFIED, route.published));
    Proxy::bind(address, config)
        .await
        .map_err(|e| e.to_string())
}

async fn resolve(route: &Route) -> Vec<SocketAddr> {
    match tokio::net::lookup_host((route.upstream.as_str(), route.target)).await {
        Ok(found) => {
            let mut found: Vec<SocketAddr> = found.filter(SocketAddr::is_ipv4).collect();
            found.sort();
            found.dedup();
            found
        }
        Err(e) => {
            tracing::debug!(%e, name = %route.upstream, "lookup");
            Vec::new()
        }
    }
}

/// `GET /services/NAME` on the engine's socket; the routes label of its spec.
async fn read_routes(socket: &PathBuf, service: &str) -> Result<Routes, String> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::get(format!("/services/{service}"))
        .header("host", "docker")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(Duration::from_secs(2), sender.send_request(request))
        .await
        .map_err(|_| "the engine took over 2 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok(Routes::parse(
        json.pointer("/Spec/Labels")
            .and_then(|labels| labels.get(ROUTES_LABEL))
            .and_then(|v| v.as_str()),
    ))
}
