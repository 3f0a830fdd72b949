//! How a service's containers share the host, in Compose's words:
//! `network_mode` (the host's network, none, or another container's
//! namespace), and the small value syntaxes of the kernel settings
//! (`cpu_period` in microseconds or as a duration, `memswap_limit` with
//! `-1` for unlimited, a `platform` left empty by interpolation).

use std::fmt;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::values::{parse_bytes, parse_duration, visitor};

/// `network_mode`: whose network namespace the container runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Docker's default bridge (what windlass does without `network_mode`).
    Bridge,
    /// The host's own network: the container binds the host's ports itself.
    Host,
    /// A loopback interface only.
    None,
    /// The namespace of the live container of another service of the file.
    Service(String),
    /// The namespace of a container by name or id, made outside the file.
    Container(String),
}

impl NetworkMode {
    /// Whether the container has a namespace of its own on the bridge,
    /// where its ports can be published for windlass's proxy.
    pub fn is_bridge(&self) -> bool {
        *self == NetworkMode::Bridge
    }

    /// Why a service in this mode runs one container at a time, with no
    /// proxy in front of it; `None` on the bridge.
    pub fn why_alone(&self) -> Option<&'static str> {
        match self {
            NetworkMode::Bridge => None,
            NetworkMode::Host => Some("network_mode host: it binds the host's ports itself, so no proxy can sit in front of it and two containers cannot hold the same ports"),
            NetworkMode::None => Some("network_mode none: it has no network, so no proxy can reach it"),
            NetworkMode::Service(_) | NetworkMode::Container(_) => Some("its network_mode joins another container's namespace, where two containers cannot hold the same ports and no proxy can sit in front of it"),
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Bridge => f.write_str("bridge"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Service(name) => write!(f, "service:{name}"),
            NetworkMode::Container(name) => write!(f, "container:{name}"),
        }
    }
}

const NETWORK_MODE_SYNTAX: &str = "bridge, host, none, service:NAME or container:NAME";

visitor!(NetworkModeVisitor -> NetworkMode, NETWORK_MODE_SYNTAX, {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<NetworkMode, E> {
        let named = |kind: &str, name: &str| {
            if name.is_empty() {
                Err(E::custom(format!("network_mode {kind}: needs a name after the colon")))
            } else {
                Ok(name.to_owned())
            }
        };
        match text {
            "bridge" | "default" => Ok(NetworkMode::Bridge),
            "host" => Ok(NetworkMode::Host),
            "none" => Ok(NetworkMode::None),
            _ => match text.split_once(':') {
                Some(("service", name)) => named("service", name).map(NetworkMode::Service),
                Some(("container", name)) => named("container", name).map(NetworkMode::Container),
                _ => Err(E::custom(format!("invalid network_mode {text:?}: expected {NETWORK_MODE_SYNTAX}; to join a network of the file, list it under `networks`"))),
            },
        }
    }
});

impl<'de> Deserialize<'de> for NetworkMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NetworkMode, D::Error> {
        d.deserialize_any(NetworkModeVisitor)
    }
}

visitor!(NonEmpty -> Option<String>, "a string", {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<String>, E> {
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
});

/// A string that is unset when empty, as Compose reads `platform:
/// ${PLATFORM:-}` once the variable is empty.
pub(crate) fn optional_non_empty<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    d.deserialize_any(NonEmpty)
}

const MICROS_SYNTAX: &str =
    "microseconds as a number, or a duration like 100ms (cpu_period, cpu_rt_runtime ...)";

visitor!(MicrosVisitor -> i64, MICROS_SYNTAX, {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<i64, E> {
        i64::try_from(n).map_err(|_| E::custom(format!("{n} is too large")))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<i64, E> {
        Ok(n)
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<i64, E> {
        if let Ok(n) = text.trim().parse::<i64>() {
            return Ok(n);
        }
        parse_duration(text)
            .and_then(|d| i64::try_from(d.as_micros()).ok())
            .ok_or_else(|| E::custom(format!("invalid value {text:?}: expected {MICROS_SYNTAX}")))
    }
});

/// Microseconds, written as a number or a duration.
pub(crate) fn optional_micros<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(MicrosVisitor).map(Some)
}

const SWAP_SYNTAX: &str = "a size like 1g, or -1 for unlimited swap";

visitor!(SwapVisitor -> i64, SWAP_SYNTAX, {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<i64, E> {
        i64::try_from(n).map_err(|_| E::custom(format!("{n} is too large")))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<i64, E> {
        if n == -1 { Ok(-1) } else { Err(E::custom(format!("invalid size {n}: expected {SWAP_SYNTAX}"))) }
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<i64, E> {
        if text.trim() == "-1" {
            return Ok(-1);
        }
        parse_bytes(text)
            .and_then(|b| i64::try_from(b).ok())
            .ok_or_else(|| E::custom(format!("invalid size {text:?}: expected {SWAP_SYNTAX}")))
    }
});

/// Bytes of memory and swap together, or -1 for unlimited swap.
pub(crate) fn optional_swap<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(SwapVisitor).map(Some)
}

/// One of `volumes_from`: whose volumes the container mounts too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    pub source: VolumesSource,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumesSource {
    /// The live container of another service of the file.
    Service(String),
    /// A container by name or id, made outside the file.
    Container(String),
}

const VOLUMES_FROM_SYNTAX: &str = "SERVICE[:ro|rw] or container:NAME[:ro|rw]";

visitor!(VolumesFromVisitor -> VolumesFrom, VOLUMES_FROM_SYNTAX, {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<VolumesFrom, E> {
        let (container, rest) = match text.strip_prefix("container:") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (name, read_only) = match rest.rsplit_once(':') {
            Some((name, "ro")) => (name, true),
            Some((name, "rw")) => (name, false),
            Some(_) => return Err(E::custom(format!("invalid volumes_from {text:?}: expected {VOLUMES_FROM_SYNTAX}"))),
            None => (rest, false),
        };
        if name.is_empty() {
            return Err(E::custom(format!("invalid volumes_from {text:?}: expected {VOLUMES_FROM_SYNTAX}")));
        }
        let source = if container {
            VolumesSource::Container(name.to_owned())
        } else {
            VolumesSource::Service(name.to_owned())
        };
        Ok(VolumesFrom { source, read_only })
    }
});

impl<'de> Deserialize<'de> for VolumesFrom {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<VolumesFrom, D::Error> {
        d.deserialize_any(VolumesFromVisitor)
    }
}

/// One of `links` (`SERVICE[:ALIAS]`) or `external_links`
/// (`CONTAINER[:ALIAS]`): a legacy link on Docker's default bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub target: String,
    /// The name the target has in this container; the target's own when
    /// not given.
    pub alias: String,
    /// Whether the alias was written (`NAME:ALIAS`), so the link prints as
    /// it was read.
    pub aliased: bool,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.aliased {
            write!(f, "{}:{}", self.target, self.alias)
        } else {
            f.write_str(&self.target)
        }
    }
}

visitor!(LinkVisitor -> Link, "NAME or NAME:ALIAS", {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Link, E> {
        let (target, alias) = text.split_once(':').unwrap_or((text, text));
        if target.is_empty() || alias.is_empty() || alias.contains(':') {
            return Err(E::custom(format!("invalid link {text:?}: expected NAME or NAME:ALIAS")));
        }
        Ok(Link { target: target.to_owned(), alias: alias.to_owned(), aliased: text.contains(':') })
    }
});

impl<'de> Deserialize<'de> for Link {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Link, D::Error> {
        d.deserialize_any(LinkVisitor)
    }
}

/// `cgroup`: whether the container has a cgroup namespace of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupNamespace {
    Host,
    Private,
}

impl CgroupNamespace {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupNamespace::Host => "host",
            CgroupNamespace::Private => "private",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_modes_read_as_compose_writes_them() {
        let read = |text: &str| serde_norway::from_str::<NetworkMode>(text);
        assert_eq!(read("host").ok(), Some(NetworkMode::Host));
        assert_eq!(read("none").ok(), Some(NetworkMode::None));
        assert_eq!(read("bridge").ok(), Some(NetworkMode::Bridge));
        assert_eq!(
            read("service:db").ok(),
            Some(NetworkMode::Service("db".into()))
        );
        assert_eq!(
            read("container:vpn").ok(),
            Some(NetworkMode::Container("vpn".into()))
        );
        let error = read("'service:'").expect_err("a name is needed");
        assert!(error.to_string().contains("needs a name"), "{error}");
        assert!(read("mynet").is_err());
        assert!(NetworkMode::Host.why_alone().is_some());
        let from = |text: &str| serde_norway::from_str::<VolumesFrom>(text);
        assert_eq!(
            from("db:ro").ok(),
            Some(VolumesFrom {
                source: VolumesSource::Service("db".into()),
                read_only: true
            })
        );
        assert_eq!(
            from("container:legacy").ok(),
            Some(VolumesFrom {
                source: VolumesSource::Container("legacy".into()),
                read_only: false
            })
        );
        assert!(from("db:rx").is_err());
        assert!(NetworkMode::Bridge.why_alone().is_none());
    }
}
