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

/// One entry of `ports`: which container port, and where Compose would
/// publish it. windlass itself publishes containers on 127.0.0.1 with a port
/// the engine picks; the published port is where its proxy listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub target: u16,
    pub published: Option<u16>,
    pub host_ip: Option<IpAddr>,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

const PORT_SYNTAX: &str =
    "expected [HOST_IP:][PUBLISHED:]TARGET[/tcp|udp] like \"8080:80\", a port number, or a map with target, published, host_ip, protocol";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongPort {
    target: u16,
    published: Option<StringOrNumber>,
    host_ip: Option<IpAddr>,
    protocol: Option<Protocol>,
    /// A label for people and tools; it changes nothing.
    #[allow(dead_code)]
    name: Option<String>,
    /// A hint of the protocol spoken (http, grpc ...); it changes nothing.
    #[allow(dead_code)]
    app_protocol: Option<String>,
    /// `host` or `ingress`: both mean the port is served by windlass's
    /// proxy on this one engine.
    #[allow(dead_code)]
    mode: Option<PortMode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum PortMode {
    Host,
    Ingress,
}

visitor!(PortVisitor -> Port, PORT_SYNTAX, {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Port, E> {
        let target = u16::try_from(n).map_err(|_| E::custom(format!("invalid port {n}: expected 1-65535")))?;
        Ok(Port { target, published: None, host_ip: None, protocol: Protocol::Tcp })
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Port, E> {
        parse_port(text).ok_or_else(|| E::custom(format!("invalid port {text:?}: {PORT_SYNTAX}")))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Port, A::Error> {
        let long = LongPort::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let published = match long.published {
            None => None,
            Some(p) => Some(p.0.parse().map_err(|_| {
                de::Error::custom(format!("invalid published port {:?}: expected 1-65535", p.0))
            })?),
        };
        Ok(Port { target: long.target, published, host_ip: long.host_ip, protocol: long.protocol.unwrap_or(Protocol::Tcp) })
    }
});

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
        d.deserialize_any(PortVisitor)
    }
}

fn parse_port(text: &str) -> Option<Port> {
    let (mapping, protocol) = match text.rsplit_once('/') {
        Some((mapping, "tcp")) => (mapping, Protocol::Tcp),
        Some((mapping, "udp")) => (mapping, Protocol::Udp),
        Some(_) => return None,
        None => (text, Protocol::Tcp),
    };
    // An IPv6 host address is written in brackets: [::1]:8080:80.
    let (host_ip, rest) = match mapping.strip_prefix('[') {
        Some(bracketed) => {
            let (ip, rest) = bracketed.split_once("]:")?;
            (Some(ip.parse().ok()?), rest)
        }
        None => match mapping.matches(':').count() {
            2 => {
                let (ip, rest) = mapping.split_once(':')?;
                (Some(ip.parse().ok()?), rest)
            }
            _ => (None, mapping),
        },
    };
    let (published, target) = match rest.split_once(':') {
        Some(("", target)) => (None, target),
        Some((published, target)) => (Some(published.parse().ok()?), target),
        None => (None, rest),
    };
    Some(Port {
        target: target.parse().ok()?,
        published,
        host_ip,
        protocol,
    })
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
// digits (YAML reads `0440` as 440, which Compose means as octal).
visitor!(ModeVisitor -> u32, "a file mode in octal like 0440", {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<u32, E> {
        let digits = n.to_string();
        u32::from_str_radix(&digits, 8).ok().filter(|m| *m <= 0o7777)
            .ok_or_else(|| E::custom(format!("invalid file mode {n}: expected octal digits like 0440")))
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
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        for bad in ["", "10", "ten s", "5d", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn short_port_syntax() {
        let port = |target, published, host_ip: Option<&str>, protocol| Port {
            target,
            published,
            host_ip: host_ip.map(|ip| ip.parse().expect("ip")),
            protocol,
        };
        assert_eq!(parse_port("80"), Some(port(80, None, None, Protocol::Tcp)));
        assert_eq!(
            parse_port("8080:80"),
            Some(port(80, Some(8080), None, Protocol::Tcp))
        );
        assert_eq!(
            parse_port("127.0.0.1:8080:80/udp"),
            Some(port(80, Some(8080), Some("127.0.0.1"), Protocol::Udp))
        );
        assert_eq!(
            parse_port("127.0.0.1::80"),
            Some(port(80, None, Some("127.0.0.1"), Protocol::Tcp))
        );
        assert_eq!(
            parse_port("[::1]:8080:80"),
            Some(port(80, Some(8080), Some("::1"), Protocol::Tcp))
        );
        for bad in ["http", "80/sctp", "8080:80:70:60", "70000", "x:80"] {
            assert_eq!(parse_port(bad), None, "{bad}");
        }
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
