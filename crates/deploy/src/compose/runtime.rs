//! How a service's containers run beside the others: `restart`,
//! `depends_on`, `expose`, `extra_hosts`, `ulimits`, `logging` and
//! `env_file`, each in the forms Compose accepts.

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;
use serde::de;
use serde::Deserialize;

use super::values::{self, visitor, Protocol};

/// `restart`: what the engine does when a container stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    Always,
    /// Restart on a non-zero exit, at most this many times when given.
    OnFailure(Option<u32>),
    UnlessStopped,
}

visitor!(RestartVisitor -> Restart, "no, always, on-failure, on-failure:N or unless-stopped", {
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Restart, E> {
        // YAML 1.1 reads an unquoted `no` as false.
        if value { Err(E::custom("invalid restart policy true: expected no, always, on-failure[:N] or unless-stopped")) } else { Ok(Restart::No) }
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Restart, E> {
        match text {
            "no" | "\"no\"" => Ok(Restart::No),
            "always" => Ok(Restart::Always),
            "unless-stopped" => Ok(Restart::UnlessStopped),
            "on-failure" => Ok(Restart::OnFailure(None)),
            other => match other.strip_prefix("on-failure:").map(str::parse) {
                Some(Ok(n)) => Ok(Restart::OnFailure(Some(n))),
                _ => Err(E::custom(format!("invalid restart policy {other:?}: expected no, always, on-failure[:N] or unless-stopped"))),
            },
        }
    }
});

impl<'de> Deserialize<'de> for Restart {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Restart, D::Error> {
        d.deserialize_any(RestartVisitor)
    }
}

/// What a dependency must reach before the dependent service starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        })
    }
}

/// One entry of `depends_on`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    #[serde(default)]
    pub condition: Condition,
    /// Restart this service when the dependency is updated.
    #[serde(default)]
    pub restart: bool,
    /// When false, a dependency that is missing or fails is not an error.
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

impl Default for Dependency {
    fn default() -> Dependency {
        Dependency {
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
        }
    }
}

visitor!(DependsOn -> IndexMap<String, Dependency>, "a list of service names or a map of name to {condition, restart, required}", {
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let names = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(names.into_iter().map(|n| (n, Dependency::default())).collect())
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let map = IndexMap::<String, Option<Dependency>>::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(map.into_iter().map(|(n, d)| (n, d.unwrap_or_default())).collect())
    }
});

pub(crate) fn depends_on<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, Dependency>, D::Error> {
    d.deserialize_any(DependsOn)
}

/// One port of `expose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposed {
    pub port: u16,
    pub protocol: Protocol,
}

const EXPOSE_SYNTAX: &str = "a port like 3000, \"3000/udp\" or a range \"3000-3005\"";

visitor!(ExposeItem -> Vec<Exposed>, EXPOSE_SYNTAX, {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Vec<Exposed>, E> {
        self.visit_str(&n.to_string())
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<Exposed>, E> {
        let bad = || E::custom(format!("invalid exposed port {text:?}: expected {EXPOSE_SYNTAX}"));
        let (ports, protocol) = match text.rsplit_once('/') {
            Some((ports, "tcp")) => (ports, Protocol::Tcp),
            Some((ports, "udp")) => (ports, Protocol::Udp),
            Some(_) => return Err(bad()),
            None => (text, Protocol::Tcp),
        };
        let (first, last) = ports.split_once('-').unwrap_or((ports, ports));
        let first: u16 = first.parse().map_err(|_| bad())?;
        let last: u16 = last.parse().map_err(|_| bad())?;
        if first == 0 || last < first {
            return Err(bad());
        }
        Ok((first..=last).map(|port| Exposed { port, protocol }).collect())
    }
});

struct ExposeEntry(Vec<Exposed>);

impl<'de> Deserialize<'de> for ExposeEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ExposeItem).map(ExposeEntry)
    }
}

pub(crate) fn exposed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Exposed>, D::Error> {
    let entries = Vec::<ExposeEntry>::deserialize(d)?;
    Ok(entries.into_iter().flat_map(|e| e.0).collect())
}

/// One entry of `extra_hosts`: `HOST:IP` or `HOST=IP`, or a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHost {
    pub host: String,
    pub ip: String,
}

visitor!(ExtraHosts -> Vec<ExtraHost>, "a list of \"HOST=IP\" or \"HOST:IP\", or a map of host to IP", {
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let items = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        items.into_iter().map(|item| {
            let (host, ip) = item.split_once('=').or_else(|| item.split_once(':')).ok_or_else(|| {
                de::Error::custom(format!("invalid extra host {item:?}: expected HOST=IP or HOST:IP"))
            })?;
            Ok(ExtraHost { host: host.to_owned(), ip: ip.trim_matches(['[', ']']).to_owned() })
        }).collect()
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let map = BTreeMap::<String, String>::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(map.into_iter().map(|(host, ip)| ExtraHost { host, ip }).collect())
    }
});

pub(crate) fn extra_hosts<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ExtraHost>, D::Error> {
    d.deserialize_any(ExtraHosts)
}

/// One of `ulimits`: a single limit, or soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SoftHard {
    soft: i64,
    hard: i64,
}

visitor!(UlimitVisitor -> Ulimit, "a number, or a map with soft and hard", {
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Ulimit, E> {
        Ok(Ulimit { soft: n, hard: n })
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Ulimit, E> {
        let n = i64::try_from(n).map_err(|_| E::custom(format!("ulimit {n} is too large")))?;
        Ok(Ulimit { soft: n, hard: n })
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Ulimit, A::Error> {
        let both = SoftHard::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Ulimit { soft: both.soft, hard: both.hard })
    }
});

impl<'de> Deserialize<'de> for Ulimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ulimit, D::Error> {
        d.deserialize_any(UlimitVisitor)
    }
}

/// `logging`: the engine's log driver for the containers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    pub driver: Option<String>,
    #[serde(default, deserialize_with = "values::string_map")]
    pub options: BTreeMap<String, String>,
}

/// One entry of `env_file`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    /// Absolute once loaded.
    pub path: String,
    /// When false, a missing file is skipped.
    #[serde(default = "yes")]
    pub required: bool,
    /// How the file is read: Compose's dotenv syntax unless `raw`.
    #[serde(default)]
    pub format: EnvFormat,
}

/// The syntax of an `env_file`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvFormat {
    /// `KEY=VALUE` with quotes, escapes and `${VAR}` interpolation.
    #[default]
    Dotenv,
    /// Each value as written, as `docker run --env-file` reads it.
    Raw,
}

visitor!(EnvFileItem -> EnvFile, "a path, or a map with path and required", {
    fn visit_str<E: de::Error>(self, path: &str) -> Result<EnvFile, E> {
        Ok(EnvFile { path: path.to_owned(), required: true, format: EnvFormat::Dotenv })
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<EnvFile, A::Error> {
        EnvFile::deserialize(de::value::MapAccessDeserializer::new(map))
    }
});

struct EnvFileEntry(EnvFile);

impl<'de> Deserialize<'de> for EnvFileEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EnvFileItem).map(EnvFileEntry)
    }
}

visitor!(EnvFiles -> Vec<EnvFile>, "a path or a list of paths (or of {path, required})", {
    fn visit_str<E: de::Error>(self, path: &str) -> Result<Vec<EnvFile>, E> {
        Ok(vec![EnvFile { path: path.to_owned(), required: true, format: EnvFormat::Dotenv }])
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<EnvFile>, A::Error> {
        let items = Vec::<EnvFileEntry>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(items.into_iter().map(|e| e.0).collect())
    }
});

pub(crate) fn env_files<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<EnvFile>, D::Error> {
    d.deserialize_any(EnvFiles)
}
