//! A service's published ports as windlass's proxies serve them, one proxy
//! each: where it listens, what it speaks, and the container port it
//! carries traffic to; and a release's upstreams per container port, which
//! every port's proxy routing to that container port takes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use windlass_asl::Failure;
use windlass_proxy::daemon::api::{LiveRelease, PortSpec, ServiceSpec};
use windlass_proxy::Protocol;
use windlass_store::releases::LivePort;

use crate::backend::Container;
use crate::compose::{self, PublishedPort, Service};
use crate::failures;
use crate::target::Upstreams;

/// The name of a container port's upstreams: `80/tcp`, `53/udp`.
pub fn upstream_key(target: u16, protocol: compose::Protocol) -> String {
    format!("{target}/{protocol}")
}

/// What a port's proxy speaks: UDP for a UDP port, HTTP when windlass knows
/// the port speaks HTTP (see [`Service::published_ports`]), else TCP byte
/// for byte, which carries any protocol.
pub fn protocol(port: &PublishedPort) -> Protocol {
    match port.protocol {
        compose::Protocol::Udp => Protocol::Udp,
        compose::Protocol::Tcp if port.http => Protocol::Http,
        compose::Protocol::Tcp => Protocol::Tcp,
    }
}

/// Where a port listens and what it carries, for a plan:
/// `*:8080 -> 80/tcp, HTTP (every interface: 0.0.0.0 and ::)`.
pub fn describe(port: &PublishedPort) -> String {
    let level = match protocol(port) {
        Protocol::Http => "HTTP",
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    };
    let mut notes = Vec::new();
    if port.listen.ip().is_unspecified() {
        notes.push("every interface: 0.0.0.0 and ::");
    }
    if port.listen.port() == 0 {
        notes.push("no published port: the system picks one when the proxy is first bound, as Docker does, and the proxy keeps it");
    }
    let name = port
        .name
        .as_ref()
        .map(|n| format!(" [{n}]"))
        .unwrap_or_default();
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    format!(
        "{} -> {}/{}, {level}{name}{notes}",
        port.describe_listen(),
        port.target,
        port.protocol
    )
}

/// The proxies the service should have; `None` for one that publishes no
/// port (a worker).
pub fn spec(service: &Service) -> Option<ServiceSpec> {
    let ports: Vec<PortSpec> = service
        .published_ports()
        .iter()
        .map(|p| PortSpec::new(p.listen, protocol(p), upstream_key(p.target, p.protocol)))
        .collect();
    (!ports.is_empty()).then(|| held(ServiceSpec::of_ports(ports), service))
}

/// The least time the proxies hold a request or connection that comes
/// while no release of the service is live ([`hold_timeout`]).
const HOLD_BASE: Duration = Duration::from_secs(30);

/// How long the service's proxies hold traffic that comes while none of
/// its releases is live. That is the gap of a stop-first deploy, from the
/// old release's stop until the new one is healthy, or, when the new one
/// fails, until the old one is back: so the hold covers the stop's grace
/// period and the new release's start timeout (its health wait's
/// deadline), and 30 s more for the rest. A request that comes in the gap
/// of a deploy that fails then waits for the old release rather than
/// failing (HTTP 503, a TCP connection closed).
pub fn hold_timeout(service: &Service) -> Duration {
    let starting = crate::plan::health_wait(service).map_or(Duration::ZERO, |w| w.deadline);
    HOLD_BASE + super::retire::stop_grace(service) + starting
}

fn held(mut spec: ServiceSpec, service: &Service) -> ServiceSpec {
    spec.hold_timeout_ms = u64::try_from(hold_timeout(service).as_millis()).unwrap_or(u64::MAX);
    spec
}

/// The container ports the service's proxies carry traffic to, each once.
fn targets(service: &Service) -> Vec<(u16, compose::Protocol)> {
    let mut targets: Vec<(u16, compose::Protocol)> = Vec::new();
    for port in service.published_ports() {
        if !targets.contains(&(port.target, port.protocol)) {
            targets.push((port.target, port.protocol));
        }
    }
    targets
}

/// Whether the container publishes every port the service's proxies route to.
pub fn publishes_all(service: &Service, container: &Container) -> bool {
    targets(service)
        .iter()
        .all(|(port, protocol)| published(container, *port, *protocol).is_some())
}

fn published(container: &Container, port: u16, protocol: compose::Protocol) -> Option<SocketAddr> {
    container.published_at(port, protocol == compose::Protocol::Udp)
}

/// The upstreams of a release's replicas (those taking traffic): per
/// container port, each replica's 127.0.0.1 address. A replica that does
/// not publish a port is an error naming it.
pub fn upstreams<'a>(
    service: &Service,
    containers: impl IntoIterator<Item = &'a Container>,
) -> Result<Upstreams, Failure> {
    let targets = targets(service);
    let mut ports: BTreeMap<String, Vec<String>> = targets
        .iter()
        .map(|(port, protocol)| (upstream_key(*port, *protocol), Vec::new()))
        .collect();
    for container in containers {
        for (port, protocol) in &targets {
            let address = published(container, *port, *protocol).ok_or_else(|| {
                Failure::new(
                    failures::START,
                    format!(
                        "container {} publishes no port {port}/{protocol} on 127.0.0.1",
                        container.id
                    ),
                )
            })?;
            ports
                .entry(upstream_key(*port, *protocol))
                .or_default()
                .push(address.to_string());
        }
    }
    Ok(Upstreams::of_ports(ports))
}

/// The release as the proxies route it. An execution begun before ports
/// were recorded one by one has the routed port's addresses only.
pub fn live_release(
    service: &Service,
    release: &str,
    upstreams: &Upstreams,
) -> Result<LiveRelease, Failure> {
    let mut named = upstreams.ports.clone();
    if named.is_empty() && !upstreams.addresses.is_empty() {
        if let Some(port) = service.routed_port() {
            named.insert(
                upstream_key(port, compose::Protocol::Tcp),
                upstreams.addresses.clone(),
            );
        }
    }
    let upstreams = named
        .into_iter()
        .map(|(key, addresses)| {
            let parsed = addresses
                .iter()
                .map(|a| {
                    a.parse::<SocketAddr>()
                        .map_err(|e| failures::input(format!("upstream {a:?} of {key}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key, parsed))
        })
        .collect::<Result<BTreeMap<_, _>, Failure>>()?;
    Ok(LiveRelease {
        release: release.to_owned(),
        upstreams,
    })
}

/// The store's record of every port: where its proxy listens (as bound),
/// what it speaks, and the release's upstreams for it.
pub fn live_ports(bound: &ServiceSpec, live: &LiveRelease) -> Vec<LivePort> {
    bound
        .ports
        .iter()
        .map(|port| LivePort {
            address: port.listen.to_string(),
            protocol: port.protocol.to_string(),
            target: port.upstream.clone(),
            upstreams: live
                .upstreams
                .get(&port.upstream)
                .map(|u| u.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// The proxies and live release a stored pointer records. A pointer of
/// before ports were recorded one by one has one port, the routed one: its
/// address, with the protocol and container port the service gives it now.
pub fn from_store(
    service: &Service,
    live: &windlass_store::releases::Live,
) -> Result<(ServiceSpec, LiveRelease), String> {
    let parse = |what: &str, text: &str| {
        text.parse::<SocketAddr>()
            .map_err(|e| format!("stored {what} {text:?} of {}: {e}", live.service))
    };
    let mut ports = Vec::new();
    let mut upstreams = BTreeMap::new();
    if live.ports.is_empty() {
        let key = service
            .routed_port()
            .map(|p| upstream_key(p, compose::Protocol::Tcp))
            .unwrap_or_default();
        let speaks = service
            .published_ports()
            .iter()
            .find(|p| upstream_key(p.target, p.protocol) == key)
            .map_or(Protocol::Tcp, protocol);
        ports.push(PortSpec::new(
            parse("address", &live.address)?,
            speaks,
            key.clone(),
        ));
        let addresses = live
            .upstreams
            .iter()
            .map(|u| parse("upstream", u))
            .collect::<Result<Vec<_>, _>>()?;
        upstreams.insert(key, addresses);
    } else {
        for port in &live.ports {
            let speaks: Protocol = port.protocol.parse().map_err(|e| format!("{e}"))?;
            ports.push(PortSpec::new(
                parse("address", &port.address)?,
                speaks,
                port.target.clone(),
            ));
            let addresses = port
                .upstreams
                .iter()
                .map(|u| parse("upstream", u))
                .collect::<Result<Vec<_>, _>>()?;
            upstreams.insert(port.target.clone(), addresses);
        }
    }
    Ok((
        held(ServiceSpec::of_ports(ports), service),
        LiveRelease {
            release: live.release.clone(),
            upstreams,
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::{Health, RunState};

    fn service(ports: &str, windlass: &str) -> Service {
        let text = format!("services:\n  s:\n    image: s\n    ports: {ports}\n{windlass}");
        crate::compose::parse(&text, Path::new("compose.yaml"))
            .expect("valid")
            .services["s"]
            .clone()
    }

    fn key() -> windlass_store::releases::ServiceKey {
        "shop/s".parse().expect("a key")
    }

    #[test]
    fn the_hold_covers_a_stop_and_a_start() {
        let plain = service("[\"8080:80\"]", "");
        assert_eq!(hold_timeout(&plain), Duration::from_secs(30 + 10 + 60));
        let quick = service(
            "[\"8080:80\"]\n    stop_grace_period: 1s",
            "    x-windlass: {health: {start_timeout: 15s}}\n",
        );
        assert_eq!(hold_timeout(&quick), Duration::from_secs(30 + 1 + 15));
        let spec = spec(&quick).expect("a proxied service");
        assert_eq!(spec.hold_timeout_ms, 46_000);
    }

    fn container(tcp: &[(u16, u16)], udp: &[(u16, u16)]) -> Container {
        let at = |ports: &[(u16, u16)]| {
            ports
                .iter()
                .map(|(p, host)| (*p, SocketAddr::from(([127, 0, 0, 1], *host))))
                .collect()
        };
        Container {
            id: "c1".into(),
            name: "c1".into(),
            image: "s".into(),
            labels: BTreeMap::new(),
            state: RunState::Running,
            health: Health::None,
            published: at(tcp),
            published_udp: at(udp),
            health_log: None,
        }
    }

    /// Each port's own proxy, protocol and upstreams; two entries on one
    /// container port share its upstreams.
    #[test]
    fn every_port_has_its_proxy_and_its_upstreams() {
        let service = service(
            "[\"127.0.0.1:8080:80\", \"127.0.0.1:8443:443\", \"127.0.0.1:9080:80\", \"127.0.0.1:5353:53/udp\"]",
            "    x-windlass: {health: {http: /}}\n",
        );
        let spec = spec(&service).expect("a proxy");
        let described: Vec<(String, Protocol, &str)> = spec
            .ports
            .iter()
            .map(|p| (p.listen.to_string(), p.protocol, p.upstream.as_str()))
            .collect();
        assert_eq!(
            described,
            vec![
                ("127.0.0.1:8080".to_owned(), Protocol::Http, "80/tcp"),
                ("127.0.0.1:8443".to_owned(), Protocol::Tcp, "443/tcp"),
                ("127.0.0.1:9080".to_owned(), Protocol::Http, "80/tcp"),
                ("127.0.0.1:5353".to_owned(), Protocol::Udp, "53/udp"),
            ]
        );
        let replicas = [
            container(&[(80, 1001), (443, 1002)], &[(53, 1003)]),
            container(&[(80, 2001), (443, 2002)], &[(53, 2003)]),
        ];
        let gathered = upstreams(&service, &replicas).expect("all published");
        let live = live_release(&service, "r2", &gathered).expect("live");
        assert_eq!(
            live.for_port(&spec.ports[3]).upstreams,
            vec![
                "127.0.0.1:1003".parse::<SocketAddr>().expect("addr"),
                "127.0.0.1:2003".parse().expect("addr")
            ]
        );
        let stored = live_ports(&spec, &live);
        assert_eq!(stored[1].target, "443/tcp");
        assert_eq!(
            stored[1].upstreams,
            vec!["127.0.0.1:1002", "127.0.0.1:2002"]
        );
        let record = windlass_store::releases::Live::of_ports(key(), "r2".into(), stored, 1);
        assert_eq!(from_store(&service, &record).expect("reads"), (spec, live));
        let missing = upstreams(&service, &[container(&[(80, 1)], &[])]).expect_err("no 443");
        assert!(missing.cause.contains("443/tcp"), "{}", missing.cause);
    }

    /// A pointer stored before ports were recorded one by one is the
    /// routed port's.
    #[test]
    fn a_stored_pointer_of_one_port_restores_the_routed_port() {
        let service = service("[\"127.0.0.1:6380:6379\"]", "");
        let record = windlass_store::releases::Live {
            service: key(),
            release: "r1".into(),
            address: "127.0.0.1:6380".into(),
            upstreams: vec!["127.0.0.1:7001".into()],
            ports: Vec::new(),
            since_millis: 1,
        };
        let (spec, live) = from_store(&service, &record).expect("reads");
        assert_eq!(
            spec.ports,
            vec![PortSpec::new(
                "127.0.0.1:6380".parse().expect("addr"),
                Protocol::Tcp,
                "6379/tcp"
            )]
        );
        assert_eq!(
            live.upstreams["6379/tcp"],
            vec!["127.0.0.1:7001".parse::<SocketAddr>().expect("addr")]
        );
    }
}
