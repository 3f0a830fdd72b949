//! The protocols a proxy speaks on its address.

use std::fmt;
use std::str::FromStr;

/// What a proxy forwards: HTTP requests, TCP connections or UDP datagrams.
/// Its serde form is the same word as its `Display` (`"http"`, `"tcp"`,
/// `"udp"`), for the daemon's wire.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Requests routed one by one, retried on the next upstream when a
    /// connection is refused, counted with status and latency.
    #[default]
    Http,
    /// Connections routed when they open and copied byte for byte.
    Tcp,
    /// Datagrams relayed per client flow, routed when a flow begins.
    Udp,
}

impl Protocol {
    /// Whether the proxy listens on a TCP port (HTTP and TCP) or a UDP one:
    /// two proxies of one transport cannot share an address.
    pub fn is_udp(self) -> bool {
        self == Protocol::Udp
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Http => "http",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// A word that is not a protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown proxy protocol {0:?}; use \"http\", \"tcp\" or \"udp\"")]
pub struct UnknownProtocol(pub String);

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Protocol, UnknownProtocol> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Ok(Protocol::Http),
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(UnknownProtocol(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for protocol in [Protocol::Http, Protocol::Tcp, Protocol::Udp] {
            assert_eq!(protocol.to_string().parse::<Protocol>(), Ok(protocol));
        }
        assert_eq!("TCP".parse::<Protocol>(), Ok(Protocol::Tcp));
        assert!("sctp".parse::<Protocol>().is_err());
    }
}
