//! `windlass-swarm-entry`: one task of an app's entry service on a Swarm
//! manager. It reads its service's routes ([`windlass_swarm_entry::Routes`],
//! a label) from the manager's engine on the mounted Docker socket every
//! [`LOOK_EVERY`], binds a proxy per published port, and routes each to the
//! addresses the route's `tasks.NAME` resolves to now, beside a rollout's
//! canary with its weight when the route has one. When the engine cannot be
//! read it keeps serving the routes it has. Every [`PRINT_EVERY`], when they
//! changed, it prints its proxies' cumulative counters per port and release
//! as one line on its standard output ([`CountersLine`]), which windlass
//! reads from the manager as the service's logs (its own log goes to
//! standard error). A route that holds (a stop-first deploy's gap, for
//! its duration from this task's first read of it) leaves its proxy with no live release: new requests and
//! connections wait for the switch instead of failing.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::io::Write;
use windlass_proxy::daemon::api::ReleaseStats;
use windlass_proxy::{Canary, Config, Protocol, Proxy, Release, Weight};
use windlass_swarm_entry::{
    CountersLine, Holds, PortCounters, Route, RouteCanary, Routes, ROUTES_LABEL, SERVICE_ENV,
};

/// How often the routes and the upstreams' addresses are read again.
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// How often the counters are printed (when they changed): a rollout's
/// window is judged from them, so they are at most this old.
const PRINT_EVERY: Duration = Duration::from_secs(1);
/// How long an idempotent request waits for an upstream's answer before it
/// goes to the next upstream too: a task on a node that died answers
/// nothing, and Swarm names it in `tasks.NAME` until it judges the node
/// down (tens of seconds).
const HEDGE_AFTER: Duration = Duration::from_secs(1);
/// How long a request or connection that arrives while its route holds
/// (a stop-first deploy's gap) waits for the next release: the old
/// release's stop and the new one's start and health check.
const HOLD_FOR: Duration = Duration::from_secs(60);

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
    let mut printer = Printer::new();
    let mut holds = Holds::default();
    loop {
        match read_routes(&socket, &service).await {
            Ok(read) => routes = read,
            Err(e) => tracing::warn!(%e, "cannot read the routes; serving the ones I have"),
        }
        apply(&routes, &mut proxies, &mut holds).await;
        printer.print(&proxies);
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
async fn apply(routes: &Routes, proxies: &mut BTreeMap<u16, Proxy>, holds: &mut Holds) {
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
        if holds.holds(route, Instant::now()) {
            // A stop-first deploy's gap: new traffic waits (each request or
            // connection at most HOLD_FOR) for the switch.
            if let Some(was) = proxy.clear() {
                proxy.clear_canary();
                tracing::info!(port = route.published, release = %was, "hold: new traffic waits for the next release");
            }
            continue;
        }
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
        weigh(proxy, route).await;
    }
}

/// Puts the route's canary beside the live release with its weight, or
/// takes a canary's share back (no canary, or weight 0) at once.
async fn weigh(proxy: &Proxy, route: &Route) {
    let wanted = route
        .canary
        .as_ref()
        .filter(|c| c.weight > Weight::ZERO && c.release != route.release);
    let Some(wanted) = wanted else {
        if let Some(ended) = proxy.clear_canary() {
            tracing::info!(port = route.published, release = %ended, "the canary's share went back to the live release");
        }
        return;
    };
    let upstreams = resolve_canary(route, wanted).await;
    if upstreams.is_empty() {
        return;
    }
    let canary = Canary {
        release: Release::new(wanted.release.clone(), upstreams),
        weight: wanted.weight,
        sticky: wanted.sticky.clone(),
    };
    if proxy.canary().as_ref() != Some(&canary) {
        tracing::info!(port = route.published, release = %canary.release.id, weight = %canary.weight, upstreams = ?canary.release.upstreams, "canary");
        if let Err(e) = proxy.set_canary(canary) {
            tracing::error!(%e, "canary");
        }
    }
}

async fn resolve_canary(route: &Route, canary: &RouteCanary) -> Vec<SocketAddr> {
    let as_route = Route {
        upstream: canary.upstream.clone(),
        target: canary.target,
        ..route.clone()
    };
    resolve(&as_route).await
}

/// Prints the counters when they changed, at most every [`PRINT_EVERY`].
struct Printer {
    instance: String,
    last: Vec<PortCounters>,
    printed: Option<Instant>,
}

impl Printer {
    fn new() -> Printer {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "entry".to_owned());
        Printer {
            instance: format!("{host}-{}", now_millis()),
            last: Vec::new(),
            printed: None,
        }
    }

    fn print(&mut self, proxies: &BTreeMap<u16, Proxy>) {
        if self.printed.is_some_and(|at| at.elapsed() < PRINT_EVERY) {
            return;
        }
        let ports: Vec<PortCounters> = proxies
            .iter()
            .map(|(published, proxy)| PortCounters {
                published: *published,
                releases: proxy.all_stats().iter().map(ReleaseStats::from).collect(),
            })
            .collect();
        if ports == self.last {
            return;
        }
        let line = CountersLine {
            instance: self.instance.clone(),
            at_millis: now_millis(),
            ports,
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{}", line.to_line())
            .and_then(|()| out.flush())
            .is_err()
        {
            tracing::warn!("cannot print the counters");
        }
        self.last = line.ports;
        self.printed = Some(Instant::now());
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn bind(route: &Route) -> Result<Proxy, String> {
    let protocol: Protocol = route.protocol.parse().map_err(|e| format!("{e:?}"))?;
    let config = Config {
        protocol,
        hedge_after: Some(HEDGE_AFTER),
        hold_timeout: HOLD_FOR,
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
