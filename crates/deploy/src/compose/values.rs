//! Compose's small value syntaxes: durations, port mappings, lists-or-maps
//! and commands. Each fails inside deserialization, so that the error carries
//! the line and field where the value was written.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// Builds a serde visitor from the kinds of YAML node a field accepts. Errors
/// raised inside a visitor get the node's line and field path from the YAML
/// library, which is why these are visitors and not `untagged` enums.
macro_rules! visitor {
    ($name:ident -> $out:ty, $expecting:expr, { $($method:item)* }) => {
        struct $name;
        impl<'de> de::Visitor<'de> for $name {
            type Value = $out;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }
            $($method)*
        }
    };
}
pub(crate) use visitor;

const DURATION_SYNTAX: &str =
    "a duration: a number and unit (us, ms, s, m, h), like 10s, 1m30s or 500ms";

visitor!(DurationVisitor -> Duration, DURATION_SYNTAX, {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse_duration(text).ok_or_else(|| E::custom(format!("invalid duration {text:?}: expected {DURATION_SYNTAX}")))
    }
});

visitor!(AddressVisitor -> std::net::SocketAddr, "an address IP:PORT like 127.0.0.1:8080", {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<std::net::SocketAddr, E> {
        text.parse().map_err(|_| E::custom(format!("invalid address {text:?}: expected IP:PORT like 127.0.0.1:8080")))
    }
});

pub(crate) fn optional_address<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    d.deserialize_any(AddressVisitor).map(Some)
}

/// A Compose duration such as `10s`, `1m30s` or `500ms`.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

pub(crate) fn optional_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit] {
            "us" => number / 1e6,
            "ms" => number / 1e3,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(seconds).ok()?;
        rest = &rest[unit..];
    }
    Some(total)
}

/// One published port, as Compose means an entry of `ports` (a range is
/// one `Port` per port of it). windlass publishes the container's port on
/// 127.0.0.1 at a port the engine picks; windlass's proxy listens where
/// Compose would publish: `host_ip` (every interface, IPv4 and IPv6, when
/// none is given) and `published` (a port the system picks when none is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub target: u16,
    pub published: Option<u16>,
    pub host_ip: Option<IpAddr>,
    pub protocol: Protocol,
    /// What the port speaks (`http`, `grpc` ...); `http` makes windlass's
    /// proxy an HTTP one on it.
    pub app_protocol: Option<String>,
    /// `host` or `ingress` (Compose's default): on one engine both mean the
    /// port is published on this machine, by windlass's proxy.
    pub mode: PortMode,
    /// A label for people and tools.
    pub name: Option<String>,
}

impl Port {
    /// A TCP port published as `published` on every interface.
    pub fn tcp(target: u16, published: Option<u16>) -> Port {
        Port {
            target,
            published,
            host_ip: None,
            protocol: Protocol::Tcp,
            app_protocol: None,
            mode: PortMode::Ingress,
            name: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortMode {
    Host,
    #[default]
    Ingress,
}

const PORT_SYNTAX: &str = "expected [HOST_IP:][PUBLISHED:]TARGET[/tcp|udp] like \"8080:80\", \"127.0.0.1:8000-8002:80-82/udp\" or \"[::1]:8080:80\", a port number, or a map with target, published, host_ip, protocol, app_protocol, mode, name";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongPort {
    target: u16,
    published: Option<StringOrNumber>,
    host_ip: Option<IpAddr>,
    protocol: Option<Protocol>,
    name: Option<String>,
    app_protocol: Option<String>,
    mode: Option<PortMode>,
}

/// One entry of `ports`, which a range makes several ports.
struct PortEntry(Vec<Port>);

visitor!(PortVisitor -> PortEntry, PORT_SYNTAX, {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<PortEntry, E> {
        let target = u16::try_from(n).ok().filter(|p| *p > 0).ok_or_else(|| E::custom(format!("invalid port {n}: expected 1-65535")))?;
        Ok(PortEntry(vec![Port::tcp(target, None)]))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<PortEntry, E> {
        parse_ports(text).map(PortEntry).map_err(|why| E::custom(format!("invalid port {text:?}: {why}; {PORT_SYNTAX}")))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<PortEntry, A::Error> {
        let long = LongPort::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let template = Port {
            target: long.target,
            published: None,
            host_ip: long.host_ip,
            protocol: long.protocol.unwrap_or(Protocol::Tcp),
            app_protocol: long.app_protocol,
            mode: long.mode.unwrap_or_default(),
            name: long.name,
        };
        let published = match long.published {
            None => None,
            Some(p) if p.0.is_empty() => None,
            Some(p) => Some(range(&p.0).map_err(|why| de::Error::custom(format!("invalid published port {:?}: {why}", p.0)))?),
        };
        expand(template, (long.target, long.target), published).map(PortEntry).map_err(de::Error::custom)
    }
});

/// `ports`: every entry, ranges expanded, in the order written.
pub(crate) fn ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Port>, D::Error> {
    struct Entry(Vec<Port>);
    impl<'de> Deserialize<'de> for Entry {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entry, D::Error> {
            d.deserialize_any(PortVisitor).map(|e| Entry(e.0))
        }
    }
    Ok(Vec::<Entry>::deserialize(d)?
        .into_iter()
        .flat_map(|e| e.0)
        .collect())
}

/// A port or an inclusive range of ports: `80`, `8000-8002`.
fn range(text: &str) -> Result<(u16, u16), String> {
    let number = |n: &str| {
        n.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{n:?} is not a port (1-65535)"))
    };
    match text.split_once('-') {
        Some((first, last)) => {
            let (first, last) = (number(first)?, number(last)?);
            if first > last {
                return Err(format!("the range {first}-{last} ends before it starts"));
            }
            Ok((first, last))
        }
        None => number(text).map(|p| (p, p)),
    }
}

/// One port per target of the range, published on the matching port of the
/// published range, as Docker reads `8000-8002:80-82`. A published range
/// for one target (Docker's "any free port of 8000-9000") is refused:
/// windlass's proxy listens on one port it keeps.
fn expand(
    template: Port,
    targets: (u16, u16),
    published: Option<(u16, u16)>,
) -> Result<Vec<Port>, String> {
    let count = targets.1 - targets.0;
    if let Some((first, last)) = published {
        if last - first != count {
            return Err(if count == 0 {
                format!("the published range {first}-{last} for one container port means any free port of it to Docker; windlass's proxy needs one port it can keep: write one published port, or none for a port the system picks")
            } else {
                format!("the published range {first}-{last} and the container range {}-{} differ in length", targets.0, targets.1)
            });
        }
    }
    Ok((0..=count)
        .map(|i| Port {
            target: targets.0 + i,
            published: published.map(|(first, _)| first + i),
            ..template.clone()
        })
        .collect())
}

/// The short syntax, `[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`, as Docker's
/// `ParsePortSpec` reads it: the last two `:`-parts are the ports, what is
/// before them the host IP (an IPv6 one in brackets or not).
pub(crate) fn parse_ports(text: &str) -> Result<Vec<Port>, String> {
    let (mapping, protocol) = match text.rsplit_once('/') {
        Some((mapping, "tcp")) => (mapping, Protocol::Tcp),
        Some((mapping, "udp")) => (mapping, Protocol::Udp),
        Some((_, other)) => {
            return Err(format!(
                "protocol {other:?} is not one windlass publishes (tcp, udp)"
            ))
        }
        None => (text, Protocol::Tcp),
    };
    let mut parts = mapping.rsplitn(3, ':');
    let target = parts.next().unwrap_or_default();
    let published = parts.next();
    let host_ip = match parts.next() {
        None => None,
        Some(ip) => {
            let bare = ip
                .strip_prefix('[')
                .and_then(|ip| ip.strip_suffix(']'))
                .unwrap_or(ip);
            Some(
                bare.parse::<IpAddr>()
                    .map_err(|_| format!("{ip:?} is not an IP address"))?,
            )
        }
    };
    let published = match published {
        None | Some("") => None,
        Some(p) => Some(range(p)?),
    };
    let template = Port {
        host_ip,
        protocol,
        ..Port::tcp(0, None)
    };
    expand(template, range(target)?, published)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::String(s) => s,
            Scalar::Number(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(StringOrNumber(Scalar::deserialize(d)?.into_string()))
    }
}

visitor!(KeyValues -> BTreeMap<String, Option<String>>, "a map of KEY: VALUE or a list of \"KEY=VALUE\" strings", {
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let items = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(items
            .into_iter()
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (item, None),
            })
            .collect())
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let map = BTreeMap::<String, Option<Scalar>>::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(map.into_iter().map(|(k, v)| (k, v.map(Scalar::into_string))).collect())
    }
});

/// `environment`, `labels` and `build.args`: a map, or a list of `KEY=VALUE`.
/// A key with no value (`KEY` or `KEY:` with null) is kept with `None`.
pub(crate) fn key_values<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    d.deserialize_any(KeyValues)
}

pub(crate) fn optional_scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(Scalar::deserialize(d)?.into_string()))
}

/// A list of strings or numbers, as strings (`group_add`).
pub(crate) fn scalars<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Scalar>::deserialize(d)?
        .into_iter()
        .map(Scalar::into_string)
        .collect())
}

/// A map of strings to strings, numbers and booleans written as text
/// (`driver_opts`, `logging.options`).
pub(crate) fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(BTreeMap::<String, Scalar>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| (k, v.into_string()))
        .collect())
}

const BYTES_SYNTAX: &str =
    "a size in bytes: a number, or a number and unit (b, k, m, g, kb, mb, gb), like 64m or 1gb";

/// A Compose size: `1024`, `512k`, `64m`, `1gb`.
pub(crate) fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let digits = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let number: f64 = text[..digits].parse().ok()?;
    let unit: f64 = match text[digits..].trim() {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * unit;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

visitor!(BytesVisitor -> u64, BYTES_SYNTAX, {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
        Ok(n)
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
        parse_bytes(text).ok_or_else(|| E::custom(format!("invalid size {text:?}: expected {BYTES_SYNTAX}")))
    }
});

pub(crate) fn optional_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(BytesVisitor).map(Some)
}

visitor!(FloatVisitor -> f64, "a number like 0.5 or \"1.5\"", {
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<f64, E> { Ok(n) }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<f64, E> { Ok(n as f64) }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> { Ok(n as f64) }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<f64, E> {
        text.trim().parse().map_err(|_| E::custom(format!("invalid number {text:?}: expected one like 0.5")))
    }
});

pub(crate) fn optional_float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(FloatVisitor).map(Some)
}

// A file mode, octal: `"0440"`, `0o440`, or a number written in octal
// digits (YAML reads `0440` as 440, which Compose means as octal). A number
// that is not octal digits is the mode's decimal value, as Compose reads it
// and as `docker compose config` prints it (`493` is 0755).
visitor!(ModeVisitor -> u32, "a file mode in octal like 0440", {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<u32, E> {
        let digits = n.to_string();
        u32::from_str_radix(&digits, 8).ok()
            .or_else(|| u32::try_from(n).ok())
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| E::custom(format!("invalid file mode {n}: expected octal digits like 0440 (or the decimal value of a mode, at most 4095)")))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<u32, E> {
        let digits = text.trim_start_matches("0o");
        u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o7777)
            .ok_or_else(|| E::custom(format!("invalid file mode {text:?}: expected octal digits like 0440")))
    }
});

pub(crate) fn optional_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    d.deserialize_any(ModeVisitor).map(Some)
}

visitor!(OneOrMany -> Vec<String>, "a string or a list of strings", {
    fn visit_str<E: de::Error>(self, one: &str) -> Result<Vec<String>, E> {
        Ok(vec![one.to_owned()])
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<String>, A::Error> {
        Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))
    }
});

/// A string or a list of strings (`env_file`).
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(OneOrMany)
}

visitor!(CommandVisitor -> Vec<String>, "a command line string or a list of strings", {
    fn visit_str<E: de::Error>(self, line: &str) -> Result<Vec<String>, E> {
        split_words(line).ok_or_else(|| E::custom(format!("command {line:?} has an unclosed quote")))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<String>, A::Error> {
        Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))
    }
});

/// `command`: a list is taken as it is; a string is split into words the way
/// a shell would, quotes included.
pub(crate) fn command<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    d.deserialize_any(CommandVisitor).map(Some)
}

pub(crate) fn split_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => word.get_or_insert_with(String::new).push(chars.next()?),
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '\\') => word.get_or_insert_with(String::new).push(chars.next()?),
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_modes_in_octal_digits_or_as_their_decimal_value() {
        let mode = |yaml: &str| -> Result<u32, String> {
            let value: serde_norway::Value =
                serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
            optional_mode(value)
                .map(|m| m.unwrap_or(0))
                .map_err(|e| e.to_string())
        };
        assert_eq!(mode("0440"), Ok(0o440));
        assert_eq!(mode("\"0755\""), Ok(0o755));
        assert_eq!(mode("0o600"), Ok(0o600));
        // `docker compose config` prints 0755 as 493: not octal digits.
        assert_eq!(mode("493"), Ok(0o755));
        assert_eq!(mode("288"), Ok(0o440));
        assert!(mode("99999").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        for bad in ["", "10", "ten s", "5d", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    fn one(text: &str) -> Port {
        let ports = parse_ports(text).expect(text);
        assert_eq!(ports.len(), 1, "{text}");
        ports.into_iter().next().expect("one port")
    }

    fn port(
        target: u16,
        published: Option<u16>,
        host_ip: Option<&str>,
        protocol: Protocol,
    ) -> Port {
        Port {
            host_ip: host_ip.map(|ip| ip.parse().expect("ip")),
            protocol,
            ..Port::tcp(target, published)
        }
    }

    /// The short syntax's examples from the Compose specification
    /// (services.ports), each with Docker's meaning.
    #[test]
    fn short_port_syntax() {
        assert_eq!(one("3000"), port(3000, None, None, Protocol::Tcp));
        assert_eq!(
            one("8000:8000"),
            port(8000, Some(8000), None, Protocol::Tcp)
        );
        assert_eq!(one("49100:22"), port(22, Some(49100), None, Protocol::Tcp));
        assert_eq!(
            one("127.0.0.1:8001:8001"),
            port(8001, Some(8001), Some("127.0.0.1"), Protocol::Tcp)
        );
        assert_eq!(
            one("6060:6060/udp"),
            port(6060, Some(6060), None, Protocol::Udp)
        );
        assert_eq!(
            one("127.0.0.1:8080:80/udp"),
            port(80, Some(8080), Some("127.0.0.1"), Protocol::Udp)
        );
        assert_eq!(
            one("127.0.0.1::80"),
            port(80, None, Some("127.0.0.1"), Protocol::Tcp)
        );
        assert_eq!(
            one("[::1]:6001:6001"),
            port(6001, Some(6001), Some("::1"), Protocol::Tcp)
        );
        // Docker also reads an IPv6 host address without brackets.
        assert_eq!(
            one("::1:6001:6001"),
            port(6001, Some(6001), Some("::1"), Protocol::Tcp)
        );
        assert_eq!(one(":80"), port(80, None, None, Protocol::Tcp));
    }

    #[test]
    fn ranges_expand_port_by_port() {
        let targets = |text: &str| -> Vec<(u16, Option<u16>)> {
            parse_ports(text)
                .expect(text)
                .iter()
                .map(|p| (p.target, p.published))
                .collect()
        };
        assert_eq!(
            targets("3000-3002"),
            vec![(3000, None), (3001, None), (3002, None)]
        );
        assert_eq!(
            targets("9090-9091:8080-8081"),
            vec![(8080, Some(9090)), (8081, Some(9091))]
        );
        let ports = parse_ports("127.0.0.1:5000-5001:6000-6001/udp").expect("range");
        assert!(ports
            .iter()
            .all(|p| p.protocol == Protocol::Udp
                && p.host_ip == Some("127.0.0.1".parse().expect("ip"))));
        assert_eq!(ports[1].target, 6001);
        assert_eq!(ports[1].published, Some(5001));
    }

    #[test]
    fn bad_ports_say_why() {
        for (bad, why) in [
            ("http", "not a port"),
            ("80/sctp", "sctp"),
            ("70000", "not a port"),
            ("0", "not a port"),
            ("x:8080:80", "not an IP"),
            ("8000-8001:80-82", "differ in length"),
            ("8000-9000:80", "one port it can keep"),
            ("82-80", "ends before"),
        ] {
            let error = parse_ports(bad).expect_err(bad);
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[derive(Debug, Deserialize)]
    struct Ports {
        #[serde(deserialize_with = "ports")]
        ports: Vec<Port>,
    }

    fn read(yaml: &str) -> Result<Vec<Port>, String> {
        serde_norway::from_str::<Ports>(yaml)
            .map(|p| p.ports)
            .map_err(|e| e.to_string())
    }

    /// The long syntax, every field of the specification's.
    #[test]
    fn long_port_syntax() {
        let ports = read(
            "ports:\n- target: 80\n  host_ip: 127.0.0.1\n  published: \"8080\"\n  protocol: tcp\n  app_protocol: http\n  mode: host\n  name: web\n- target: 53\n  published: 5353\n  protocol: udp\n- target: 9000\n  published: 9000-9000\n- 443\n- \"8443:443\"\n",
        )
        .expect("long syntax");
        assert_eq!(
            ports[0],
            Port {
                target: 80,
                published: Some(8080),
                host_ip: Some("127.0.0.1".parse().expect("ip")),
                protocol: Protocol::Tcp,
                app_protocol: Some("http".into()),
                mode: PortMode::Host,
                name: Some("web".into()),
            }
        );
        assert_eq!(ports[1], port(53, Some(5353), None, Protocol::Udp));
        assert_eq!(ports[2], Port::tcp(9000, Some(9000)));
        assert_eq!(ports[3], Port::tcp(443, None));
        assert_eq!(ports[4], Port::tcp(443, Some(8443)));
        let error = read("ports:\n- target: 80\n  published: 8080-8081\n").expect_err("range");
        assert!(error.contains("one port it can keep"), "{error}");
        let error = read("ports:\n- target: 80\n  mode: global\n").expect_err("mode");
        assert!(error.contains("mode"), "{error}");
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"sh -c 'echo "a b"' x\ y"#),
            Some(vec![
                "sh".into(),
                "-c".into(),
                "echo \"a b\"".into(),
                "x y".into()
            ])
        );
        assert_eq!(split_words("a ''"), Some(vec!["a".into(), String::new()]));
        assert_eq!(split_words("'open"), None);
    }
}
