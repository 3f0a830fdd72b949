//! Which `Host` names the server answers to: the defence against DNS
//! rebinding. A page on `evil.example` that points its name at 127.0.0.1
//! can make the visitor's browser send requests to a server on loopback,
//! but they carry `Host: evil.example`; the server refuses them (421)
//! unless the name was allowed with `--allowed-host`.
//!
//! Always answered: IP addresses of loopback, the address the server is
//! bound to (any IP address when it is bound to all of them, `0.0.0.0` or
//! `[::]`: only a name can be rebound), and `localhost`. The port in `Host`
//! is not checked: it says nothing about who sent the request.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The names and addresses a request's `Host` may give.
#[derive(Clone, Debug)]
pub struct AllowedHosts {
    bind: IpAddr,
    names: Vec<String>,
}

impl std::fmt::Display for AllowedHosts {
    /// What the server answers, for its start-up line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.bind.is_unspecified() {
            write!(f, "localhost, any IP address")?;
        } else {
            write!(f, "localhost, loopback addresses, {}", self.bind)?;
        }
        for name in &self.names {
            write!(f, ", {name}")?;
        }
        Ok(())
    }
}

/// Why an `--allowed-host` value cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--allowed-host takes a host name or an IP address (no scheme, port or path), not '{0}'")]
pub struct InvalidHost(String);

impl AllowedHosts {
    /// The hosts of a server bound to `bind`, and `names` besides.
    pub fn new(bind: IpAddr, names: &[String]) -> Result<AllowedHosts, InvalidHost> {
        let names = names
            .iter()
            .map(|name| {
                let normal = normalize(name);
                let plain = !normal.is_empty()
                    && normal
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
                if plain && host_part(&normal) == normal {
                    Ok(normal)
                } else {
                    Err(InvalidHost(name.clone()))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowedHosts { bind, names })
    }

    /// Whether a request whose `Host` (or URI authority) is `host` is
    /// answered.
    pub fn admits(&self, host: &str) -> bool {
        let name = normalize(host_part(host));
        if let Some(ip) = ip_literal(&name) {
            return ip.is_loopback()
                || ip == self.bind
                || self.bind.is_unspecified()
                || self.names.iter().any(|n| ip_literal(n) == Some(ip));
        }
        name == "localhost" || self.names.contains(&name)
    }
}

/// `host` without its port: `[::1]:8083` is `[::1]`, `a.example:80` is
/// `a.example`.
fn host_part(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        // More than one colon without brackets: an IPv6 address alone.
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// Lower case, without the root's trailing dot (`Localhost.` is `localhost`).
fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn ip_literal(name: &str) -> Option<IpAddr> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    bare.parse().ok()
}

/// `router` with every request's `Host` checked against `hosts`.
pub fn check(router: Router, hosts: AllowedHosts) -> Router {
    router.layer(middleware::from_fn_with_state(Arc::new(hosts), guard))
}

async fn guard(State(hosts): State<Arc<AllowedHosts>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    // An absolute-form request (`POST http://name/`) names its host too.
    let authority = request.uri().authority().map(|a| a.as_str());
    let refused = match (host, authority) {
        (None, None) => Some(String::new()),
        (host, authority) => [host, authority]
            .into_iter()
            .flatten()
            .find(|name| !hosts.admits(name))
            .map(str::to_string),
    };
    match refused {
        None => next.run(request).await,
        Some(name) => {
            tracing::warn!(
                host = %name,
                path = request.uri().path(),
                "request refused: Host is not one of this server's names"
            );
            misdirected(&name)
        }
    }
}

fn misdirected(name: &str) -> Response {
    let message = if name.is_empty() {
        "windlass: the request has no Host header.\n".to_string()
    } else {
        format!(
            "windlass: Host '{name}' is not one of this server's names; start the server \
             with --allowed-host {} to answer it.\n",
            normalize(host_part(name))
        )
    };
    (
        StatusCode::MISDIRECTED_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bind: &str, names: &[&str]) -> AllowedHosts {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        AllowedHosts::new(bind.parse().expect("an address"), &names).expect("valid names")
    }

    #[test]
    fn loopback_names_and_the_bind_address_are_answered() {
        let loopback = hosts("127.0.0.1", &[]);
        for host in [
            "127.0.0.1:8083",
            "127.0.0.1",
            "localhost:8083",
            "LOCALHOST.",
            "[::1]:8083",
            "[::1]",
        ] {
            assert!(loopback.admits(host), "{host} was refused");
        }
        for host in [
            "evil.example",
            "evil.example:8083",
            "10.0.0.5:8083",
            "",
            "localhost.evil.example",
        ] {
            assert!(!loopback.admits(host), "{host} was answered");
        }
        let lan = hosts("10.0.0.5", &["windlass.example"]);
        assert!(lan.admits("10.0.0.5:8083"));
        assert!(lan.admits("Windlass.Example:8083"));
        assert!(!lan.admits("10.0.0.6:8083"));
        assert!(!lan.admits("other.example"));
    }

    #[test]
    fn on_every_address_any_ip_but_only_allowed_names() {
        let all = hosts("0.0.0.0", &["windlass.example"]);
        assert!(all.admits("192.0.2.10:8083"));
        assert!(all.admits("[2001:db8::1]:8083"));
        assert!(all.admits("windlass.example"));
        assert!(!all.admits("evil.example"));
    }

    #[test]
    fn an_allowed_host_is_a_bare_name() {
        for bad in ["http://a.example", "a.example:80", "a.example/x", "", "a b"] {
            assert!(
                AllowedHosts::new("127.0.0.1".parse().expect("ip"), &[bad.to_string()]).is_err(),
                "{bad} was accepted"
            );
        }
    }
}
