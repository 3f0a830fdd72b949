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
//! | `POST /v1/services/{name}/drain` | [`DrainRequest`] | [`Drained`] |
//! | `POST /v1/services/{name}/forget` | [`ForgetRequest`] | [`Forgotten`] |
//!
//! Every failure answers an [`ApiError`] with the status of its [`ErrorKind`].

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Protocol, Stats};

/// Route templates, as the server mounts them.
pub const SERVICES: &str = "/v1/services";
pub const SERVICE: &str = "/v1/services/{name}";
pub const LIVE: &str = "/v1/services/{name}/live";
pub const DRAIN: &str = "/v1/services/{name}/drain";
pub const FORGET: &str = "/v1/services/{name}/forget";
/// Several services' live releases at once (an app's traffic in one step).
pub const LIVE_ALL: &str = "/v1/live";

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

/// `PUT /v1/services/{name}`: the proxy a service should have. Putting the
/// same spec again changes nothing; a different one replaces the proxy and
/// keeps its live release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Where the proxy listens; port 0 picks a free port once, and the
    /// daemon keeps that port from then on (restarts included).
    pub listen: SocketAddr,
    #[serde(default)]
    pub protocol: Protocol,
    /// How long traffic that arrives while no release is live is held.
    #[serde(default = "default_hold_timeout_ms")]
    pub hold_timeout_ms: u64,
}

fn default_hold_timeout_ms() -> u64 {
    30_000
}

impl ServiceSpec {
    pub fn new(listen: SocketAddr, protocol: Protocol) -> ServiceSpec {
        ServiceSpec {
            listen,
            protocol,
            hold_timeout_ms: default_hold_timeout_ms(),
        }
    }

    /// The proxy configuration this spec asks for.
    pub fn proxy_config(&self) -> crate::Config {
        crate::Config {
            protocol: self.protocol,
            hold_timeout: Duration::from_millis(self.hold_timeout_ms),
            ..crate::Config::default()
        }
    }
}

/// `PUT /v1/services/{name}/live`: the release to route to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveRelease {
    pub release: String,
    pub upstreams: Vec<SocketAddr>,
}

impl From<crate::Release> for LiveRelease {
    fn from(release: crate::Release) -> LiveRelease {
        LiveRelease {
            release: release.id,
            upstreams: release.upstreams,
        }
    }
}

impl From<LiveRelease> for crate::Release {
    fn from(live: LiveRelease) -> crate::Release {
        crate::Release::new(live.release, live.upstreams)
    }
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

/// One service's proxy as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    pub name: ServiceName,
    /// The spec, its `listen` the address actually bound.
    pub spec: ServiceSpec,
    pub live: Option<LiveRelease>,
    /// Traffic waiting for a live release now.
    pub holding: u64,
    /// Traffic refused after holding the whole hold timeout.
    pub hold_timeouts: u64,
    /// Every release the proxy still counts, by id.
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
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest | ErrorKind::NoUpstreams => 400,
            ErrorKind::NoSuchRoute | ErrorKind::UnknownService | ErrorKind::UnknownRelease => 404,
            ErrorKind::Live | ErrorKind::Bind => 409,
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
        let spec: ServiceSpec =
            serde_json::from_str(r#"{"listen":"127.0.0.1:8080"}"#).expect("spec parses");
        assert_eq!(spec.protocol, Protocol::Http);
        assert_eq!(spec.proxy_config().hold_timeout, Duration::from_secs(30));
        assert!(serde_json::from_str::<ServiceSpec>(
            r#"{"listen":"127.0.0.1:8080","protocl":"tcp"}"#
        )
        .is_err());
    }
}
