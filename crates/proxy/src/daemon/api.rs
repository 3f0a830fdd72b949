//! The daemon's control API: the one definition of its paths, request and
//! answer bodies and error shape, shared by [`super::server`] and
//! [`super::Client`]. JSON over HTTP/1.1 on a loopback port.
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `GET /v1/services` | | [`ServiceList`] |
//! | `PUT /v1/services/{name}` | [`ServiceSpec`] | [`ServiceView`] |
//! | `DELETE /v1/services/{name}` | | [`Closed`] |
//! | `PUT /v1/services/{name}/live` | [`LiveRelease`] | [`Switched`] |
//! | `PUT /v1/live` | [`SwitchAll`] | [`SwitchedAll`] |
//! | `DELETE /v1/services/{name}/live` | | [`Switched`] |
//! | `PUT /v1/services/{name}/canary` | [`CanaryRelease`] | [`ServiceView`] |
//! | `DELETE /v1/services/{name}/canary` | | [`CanaryEnded`] |
//! | `PUT /v1/canary` | [`CanaryAll`] | [`CanariesSet`] |
//! | `POST /v1/services/{name}/drain` | [`DrainRequest`] | [`Drained`] |
//! | `POST /v1/services/{name}/forget` | [`ForgetRequest`] | [`Forgotten`] |
//!
//! Every failure answers an [`ApiError`] with the status of its [`ErrorKind`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Protocol, Stats, Sticky, Weight};

/// Route templates, as the server mounts them.
pub const SERVICES: &str = "/v1/services";
pub const SERVICE: &str = "/v1/services/{name}";
pub const LIVE: &str = "/v1/services/{name}/live";
pub const DRAIN: &str = "/v1/services/{name}/drain";
pub const FORGET: &str = "/v1/services/{name}/forget";
/// Several services' live releases at once (an app's traffic in one step).
pub const LIVE_ALL: &str = "/v1/live";
pub const CANARY: &str = "/v1/services/{name}/canary";
/// Several services' canaries at once (an app's rollout step).
pub const CANARY_ALL: &str = "/v1/canary";

pub fn canary_path(name: &ServiceName) -> String {
    format!("{SERVICES}/{}/canary", name.segment())
}

pub fn service_path(name: &ServiceName) -> String {
    format!("{SERVICES}/{}", name.segment())
}

pub fn live_path(name: &ServiceName) -> String {
    format!("{SERVICES}/{}/live", name.segment())
}

pub fn drain_path(name: &ServiceName) -> String {
    format!("{SERVICES}/{}/drain", name.segment())
}

pub fn forget_path(name: &ServiceName) -> String {
    format!("{SERVICES}/{}/forget", name.segment())
}

/// A service's name: 1 to 128 of `A-Z a-z 0-9 . _ -`, in parts separated
/// by `/` (windlass names a proxy after its `APP/SERVICE` key). In a path
/// each `/` is written `%2F`, so that the name is one path segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceName(String);

impl ServiceName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as one path segment.
    pub fn segment(&self) -> String {
        self.0.replace('/', "%2F")
    }
}

/// A name that cannot be a service's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a service name; use 1 to 128 of A-Z a-z 0-9 . _ - in parts separated by /")]
pub struct BadServiceName(pub String);

impl FromStr for ServiceName {
    type Err = BadServiceName;

    fn from_str(s: &str) -> Result<ServiceName, BadServiceName> {
        let fits = (1..=128).contains(&s.len())
            && s.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        if fits {
            Ok(ServiceName(s.to_owned()))
        } else {
            Err(BadServiceName(s.to_owned()))
        }
    }
}

impl TryFrom<String> for ServiceName {
    type Error = BadServiceName;

    fn try_from(s: String) -> Result<ServiceName, BadServiceName> {
        s.parse()
    }
}

impl From<ServiceName> for String {
    fn from(name: ServiceName) -> String {
        name.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `PUT /v1/services/{name}`: the proxies a service should have, one per
/// port it publishes. Putting the same spec again changes nothing; a
/// different one keeps the ports whose address and protocol are the same
/// (as they run), binds the new ones, closes the ones left out, and keeps
/// the service's live release on all of them.
///
/// The version-1 form, `{"listen": ..., "protocol": ...}` (one port), still
/// reads, as one port whose upstreams are named `""`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "wire::Spec")]
pub struct ServiceSpec {
    pub ports: Vec<PortSpec>,
    /// How long traffic that arrives while no release is live is held.
    pub hold_timeout_ms: u64,
}

/// One published port of a service: its own proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// Where the proxy listens; `[::]` is every interface, IPv4 included.
    /// Port 0 picks a free port once, and the daemon keeps that port from
    /// then on (restarts included).
    pub listen: SocketAddr,
    #[serde(default)]
    pub protocol: Protocol,
    /// Which of a live release's upstream sets the port routes to (the
    /// deploy side names them by container port, `80/tcp`); several ports
    /// may route to one.
    #[serde(default)]
    pub upstream: String,
}

impl PortSpec {
    pub fn new(listen: SocketAddr, protocol: Protocol, upstream: impl Into<String>) -> PortSpec {
        PortSpec {
            listen,
            protocol,
            upstream: upstream.into(),
        }
    }
}

fn default_hold_timeout_ms() -> u64 {
    30_000
}

impl ServiceSpec {
    /// A service of one port, whose upstreams are named `""` (see
    /// [`LiveRelease::new`]).
    pub fn new(listen: SocketAddr, protocol: Protocol) -> ServiceSpec {
        ServiceSpec::of_ports(vec![PortSpec::new(listen, protocol, "")])
    }

    pub fn of_ports(ports: Vec<PortSpec>) -> ServiceSpec {
        ServiceSpec {
            ports,
            hold_timeout_ms: default_hold_timeout_ms(),
        }
    }

    /// The proxy configuration one of its ports asks for.
    pub fn proxy_config(&self, port: &PortSpec) -> crate::Config {
        crate::Config {
            protocol: port.protocol,
            hold_timeout: Duration::from_millis(self.hold_timeout_ms),
            ..crate::Config::default()
        }
    }

    /// The first port's address, for a service of one port.
    pub fn listen(&self) -> Option<SocketAddr> {
        self.ports.first().map(|p| p.listen)
    }
}

/// `PUT /v1/services/{name}/live`: the release to route to, with its
/// upstreams per set the spec's ports name. The version-1 form,
/// `"upstreams": [...]`, reads as the set named `""`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveRelease {
    pub release: String,
    #[serde(deserialize_with = "wire::upstreams")]
    pub upstreams: BTreeMap<String, Vec<SocketAddr>>,
}

impl LiveRelease {
    /// A release of a one-port service (its upstreams named `""`).
    pub fn new(release: impl Into<String>, upstreams: Vec<SocketAddr>) -> LiveRelease {
        LiveRelease {
            release: release.into(),
            upstreams: [(String::new(), upstreams)].into(),
        }
    }

    /// The release as one port's proxy routes it: the set the port names.
    pub fn for_port(&self, port: &PortSpec) -> crate::Release {
        crate::Release::new(
            self.release.clone(),
            self.upstreams
                .get(&port.upstream)
                .cloned()
                .unwrap_or_default(),
        )
    }
}

/// The JSON forms that still read: version 1's one-port spec and list of
/// upstreams.
mod wire {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Spec {
        #[serde(default)]
        ports: Option<Vec<PortSpec>>,
        #[serde(default)]
        listen: Option<SocketAddr>,
        #[serde(default)]
        protocol: Option<Protocol>,
        #[serde(default = "default_hold_timeout_ms")]
        hold_timeout_ms: u64,
    }

    impl TryFrom<Spec> for ServiceSpec {
        type Error = String;

        fn try_from(spec: Spec) -> Result<ServiceSpec, String> {
            let ports =
                match (spec.ports, spec.listen) {
                    (Some(ports), None) if spec.protocol.is_none() => ports,
                    (None, Some(listen)) => {
                        vec![PortSpec::new(listen, spec.protocol.unwrap_or_default(), "")]
                    }
                    _ => return Err(
                        "a service spec has either `ports` or (version 1) `listen` and `protocol`"
                            .to_owned(),
                    ),
                };
            Ok(ServiceSpec {
                ports,
                hold_timeout_ms: spec.hold_timeout_ms,
            })
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Upstreams {
        Named(BTreeMap<String, Vec<SocketAddr>>),
        One(Vec<SocketAddr>),
    }

    pub(super) fn upstreams<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Vec<SocketAddr>>, D::Error> {
        Ok(match Upstreams::deserialize(d)? {
            Upstreams::Named(named) => named,
            Upstreams::One(one) => [(String::new(), one)].into(),
        })
    }
}

/// `PUT /v1/services/{name}/canary`: a release beside the live one that
/// takes `weight` of new traffic on every port (its upstreams per set, as
/// in [`LiveRelease`]); the same release again changes only its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryRelease {
    pub canary: LiveRelease,
    pub weight: Weight,
    /// HTTP: route a request that carries this cookie or header by a hash
    /// of its value, so that a user stays on one release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
}

impl CanaryRelease {
    /// The canary as one port's proxy routes it.
    pub fn for_port(&self, port: &PortSpec) -> crate::Canary {
        crate::Canary {
            release: self.canary.for_port(port),
            weight: self.weight,
            sticky: self.sticky.clone(),
        }
    }
}

/// The answer to `DELETE /v1/services/{name}/canary`: the canary's release
/// that no longer takes traffic, if there was one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryEnded {
    pub canary: Option<String>,
}

/// `PUT /v1/canary`: several services' canaries set (or, `null`, ended)
/// together under one lock, written to the state file once. Every service
/// must exist and have a live release, or nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryAll {
    pub services: Vec<ServiceCanary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceCanary {
    pub name: ServiceName,
    pub canary: Option<CanaryRelease>,
}

/// The answer to a [`CanaryAll`]: per service, in its order, the canary's
/// release before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanariesSet {
    pub previous: Vec<Option<String>>,
}

/// The answer to a switch or a clear: the release that was live before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switched {
    pub previous: Option<String>,
}

/// `PUT /v1/live`: several services' live releases, switched together
/// under one lock and written to the state file once. Every service must
/// exist, or nothing is switched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchAll {
    pub services: Vec<ServiceLive>,
}

/// One service's part of a [`SwitchAll`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLive {
    pub name: ServiceName,
    pub live: LiveRelease,
}

/// The answer to a [`SwitchAll`]: per service, in its order, the release
/// that was live before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchedAll {
    pub previous: Vec<Option<String>>,
}

/// `POST /v1/services/{name}/drain`: wait until `release` has nothing in
/// flight, at most `timeout_ms`. The answer comes when the drain ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    pub release: String,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drained {
    pub release: String,
}

/// `POST /v1/services/{name}/forget`: drop a retired release's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    pub release: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forgotten {
    pub release: String,
}

/// The answer to `DELETE /v1/services/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    pub name: ServiceName,
}

/// `GET /v1/services`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceList {
    pub services: Vec<ServiceView>,
}

/// One service's proxies as they run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    pub name: ServiceName,
    /// The spec, each port's `listen` the address actually bound.
    pub spec: ServiceSpec,
    pub live: Option<LiveRelease>,
    /// The release beside the live one that takes a share of new traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryRelease>,
    /// Traffic waiting for a live release now, on every port.
    pub holding: u64,
    /// Traffic refused after holding the whole hold timeout, on every port.
    pub hold_timeouts: u64,
    /// Every release the proxies still count, by id, summed over the
    /// ports (latencies: the highest port's).
    pub releases: Vec<ReleaseStats>,
    /// Each port's own counters, in the spec's order.
    #[serde(default)]
    pub ports: Vec<PortView>,
}

/// One port's proxy as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortView {
    pub listen: SocketAddr,
    pub protocol: Protocol,
    pub holding: u64,
    pub hold_timeouts: u64,
    pub releases: Vec<ReleaseStats>,
}

/// A release's counters (see [`crate::Stats`]); durations in microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseStats {
    pub release: String,
    pub requests: u64,
    pub server_errors: u64,
    pub failed_connects: u64,
    pub in_flight: u64,
    pub connections: u64,
    pub bytes_to_upstream: u64,
    pub bytes_from_upstream: u64,
    pub held: u64,
    pub longest_hold_us: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// The latency histogram's buckets that counted something,
    /// `[index, count]` ([`crate::Latencies::sparse`]): two of them judge
    /// a window's latencies (a rollout's analysis).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_buckets: Vec<[u64; 2]>,
}

impl ReleaseStats {
    /// Adds another port's counters of the same release.
    pub fn add(&mut self, other: &ReleaseStats) {
        self.requests += other.requests;
        self.server_errors += other.server_errors;
        self.failed_connects += other.failed_connects;
        self.in_flight += other.in_flight;
        self.connections += other.connections;
        self.bytes_to_upstream += other.bytes_to_upstream;
        self.bytes_from_upstream += other.bytes_from_upstream;
        self.held += other.held;
        self.longest_hold_us = self.longest_hold_us.max(other.longest_hold_us);
        self.p50_us = self.p50_us.max(other.p50_us);
        self.p99_us = self.p99_us.max(other.p99_us);
        if !other.latency_buckets.is_empty() {
            let mut both = self.latency_buckets.clone();
            both.extend_from_slice(&other.latency_buckets);
            self.latency_buckets = crate::Latencies::from_sparse(&both).sparse();
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl From<&Stats> for ReleaseStats {
    fn from(s: &Stats) -> ReleaseStats {
        ReleaseStats {
            release: s.release.clone(),
            requests: s.requests,
            server_errors: s.server_errors,
            failed_connects: s.failed_connects,
            in_flight: s.in_flight,
            connections: s.connections,
            bytes_to_upstream: s.bytes_to_upstream,
            bytes_from_upstream: s.bytes_from_upstream,
            held: s.held,
            longest_hold_us: micros(s.longest_hold),
            p50_us: s.latencies.quantile(0.5).map(micros),
            p99_us: s.p99().map(micros),
            latency_buckets: s.latencies.sparse(),
        }
    }
}

/// Every failure's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ErrorKind,
    pub message: String,
}

/// What went wrong, for a client to act on without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The body or the path did not parse.
    BadRequest,
    /// No route of this API has that method and path.
    NoSuchRoute,
    UnknownService,
    UnknownRelease,
    /// Draining or forgetting the live release.
    Live,
    NoUpstreams,
    /// The service's address could not be bound.
    Bind,
    /// HTTP requests were still in flight when the drain timeout passed.
    DrainTimeout,
    /// TCP connections were still open when the drain timeout passed; they
    /// were closed.
    DrainCut,
    /// The change was made but could not be written to the state file.
    StateFile,
    /// A canary with no live release beside it, or the live release itself.
    Canary,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest | ErrorKind::NoUpstreams => 400,
            ErrorKind::NoSuchRoute | ErrorKind::UnknownService | ErrorKind::UnknownRelease => 404,
            ErrorKind::Live | ErrorKind::Bind | ErrorKind::Canary => 409,
            ErrorKind::DrainTimeout | ErrorKind::DrainCut => 504,
            ErrorKind::StateFile => 500,
        }
    }
}

impl From<&crate::Error> for ErrorKind {
    fn from(e: &crate::Error) -> ErrorKind {
        match e {
            crate::Error::Bind { .. } => ErrorKind::Bind,
            crate::Error::NoUpstreams { .. } => ErrorKind::NoUpstreams,
            crate::Error::UnknownRelease(_) => ErrorKind::UnknownRelease,
            crate::Error::Live(_) => ErrorKind::Live,
            crate::Error::NoLiveRelease(_) | crate::Error::CanaryIsLive(_) => ErrorKind::Canary,
            crate::Error::DrainTimeout { .. } => ErrorKind::DrainTimeout,
            crate::Error::DrainCut { .. } => ErrorKind::DrainCut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_one_path_segment() {
        for good in ["web", "redis-1", "a.b_c", "shop/web"] {
            assert_eq!(
                good.parse::<ServiceName>().map(String::from),
                Ok(good.to_owned())
            );
        }
        for bad in [
            "",
            ".",
            "..",
            "a/",
            "/b",
            "a//b",
            "a/..",
            "a b",
            "é",
            &"x".repeat(129),
        ] {
            assert!(bad.parse::<ServiceName>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<ServiceName>("\"a b\"").is_err());
        let key: ServiceName = "shop/web".parse().expect("name");
        assert_eq!(live_path(&key), "/v1/services/shop%2Fweb/live");
    }

    #[test]
    fn a_spec_defaults_to_http_held_30_seconds() {
        let spec: ServiceSpec = serde_json::from_str(r#"{"ports":[{"listen":"127.0.0.1:8080"}]}"#)
            .expect("spec parses");
        assert_eq!(spec.ports[0].protocol, Protocol::Http);
        assert_eq!(
            spec.proxy_config(&spec.ports[0]).hold_timeout,
            Duration::from_secs(30)
        );
        assert!(serde_json::from_str::<ServiceSpec>(
            r#"{"ports":[{"listen":"127.0.0.1:8080","protocl":"tcp"}]}"#
        )
        .is_err());
    }

    /// What a version-1 daemon wrote (one port) reads as one port whose
    /// upstreams are named "".
    #[test]
    fn the_one_port_form_of_version_1_still_reads() {
        let spec: ServiceSpec = serde_json::from_str(
            r#"{"listen":"127.0.0.1:6380","protocol":"tcp","hold_timeout_ms":5}"#,
        )
        .expect("v1 spec");
        assert_eq!(
            spec.ports,
            vec![PortSpec::new(
                "127.0.0.1:6380".parse().expect("addr"),
                Protocol::Tcp,
                ""
            )]
        );
        assert_eq!(spec.hold_timeout_ms, 5);
        let live: LiveRelease =
            serde_json::from_str(r#"{"release":"r1","upstreams":["127.0.0.1:7001"]}"#)
                .expect("v1 live");
        assert_eq!(
            live,
            LiveRelease::new("r1", vec!["127.0.0.1:7001".parse().expect("addr")])
        );
        let both = r#"{"listen":"127.0.0.1:1","ports":[]}"#;
        assert!(serde_json::from_str::<ServiceSpec>(both).is_err());
        let round: ServiceSpec =
            serde_json::from_str(&serde_json::to_string(&spec).expect("json")).expect("reads");
        assert_eq!(round, spec);
    }
}
