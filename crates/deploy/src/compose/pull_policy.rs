//! `pull_policy`: when a deploy pulls the image a service names and when it
//! builds it, with Compose's values and meaning (`missing` by default).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de;

use super::values::{self, visitor};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A service's `pull_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull `image` when the engine lacks it; with `build`, build it when
    /// the pull fails (`missing`, `if_not_present`).
    #[default]
    Missing,
    /// Pull `image` at every deploy; with `build`, build when the pull fails.
    Always,
    /// Never pull: the engine's image, else a build (with `build`).
    Never,
    /// Build at every deploy (needs `build`).
    Build,
    /// Pull `image` when the engine's copy was tagged longer ago than this
    /// (`daily`, `weekly`, `every_12h`), or lacks it.
    Refresh(Duration),
}

/// The value as Compose writes it.
impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullPolicy::Missing => f.write_str("missing"),
            PullPolicy::Always => f.write_str("always"),
            PullPolicy::Never => f.write_str("never"),
            PullPolicy::Build => f.write_str("build"),
            PullPolicy::Refresh(every) if *every == DAY => f.write_str("daily"),
            PullPolicy::Refresh(every) if *every == DAY * 7 => f.write_str("weekly"),
            PullPolicy::Refresh(every) => write!(f, "every_{}s", every.as_secs()),
        }
    }
}

const EXPECTED: &str = "`missing` (the default), `always`, `never`, `build`, `daily`, `weekly` or `every_DURATION` (`every_12h`, `every_2d`)";

impl FromStr for PullPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<PullPolicy, String> {
        match text {
            "missing" | "if_not_present" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            "build" => Ok(PullPolicy::Build),
            "daily" => Ok(PullPolicy::Refresh(DAY)),
            "weekly" => Ok(PullPolicy::Refresh(DAY * 7)),
            _ => text
                .strip_prefix("every_")
                .and_then(long_duration)
                .filter(|every| !every.is_zero())
                .map(PullPolicy::Refresh)
                .ok_or_else(|| format!("invalid pull_policy {text:?}: expected {EXPECTED}")),
        }
    }
}

/// A duration that may start with weeks and days (`1w2d12h`), as Compose
/// reads `every_` (str2duration).
fn long_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    for (unit, length) in [('w', DAY * 7), ('d', DAY)] {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits > 0 && rest[digits..].starts_with(unit) {
            let count: u32 = rest[..digits].parse().ok()?;
            total += length.checked_mul(count)?;
            rest = &rest[digits + 1..];
        }
    }
    if rest.is_empty() {
        return (!text.is_empty()).then_some(total);
    }
    Some(total + values::parse_duration(rest)?)
}

visitor!(PullPolicyVisitor -> PullPolicy, EXPECTED, {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<PullPolicy, E> {
        text.parse().map_err(E::custom)
    }
});

impl<'de> de::Deserialize<'de> for PullPolicy {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<PullPolicy, D::Error> {
        d.deserialize_str(PullPolicyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_values_are_read() {
        let read = |text: &str| text.parse::<PullPolicy>();
        assert_eq!(read("missing"), Ok(PullPolicy::Missing));
        assert_eq!(read("if_not_present"), Ok(PullPolicy::Missing));
        assert_eq!(read("always"), Ok(PullPolicy::Always));
        assert_eq!(read("never"), Ok(PullPolicy::Never));
        assert_eq!(read("build"), Ok(PullPolicy::Build));
        assert_eq!(read("daily"), Ok(PullPolicy::Refresh(DAY)));
        assert_eq!(read("weekly"), Ok(PullPolicy::Refresh(DAY * 7)));
        assert_eq!(
            read("every_12h"),
            Ok(PullPolicy::Refresh(Duration::from_secs(12 * 3600)))
        );
        assert_eq!(
            read("every_1w2d30m"),
            Ok(PullPolicy::Refresh(DAY * 9 + Duration::from_secs(1800)))
        );
        for bad in ["sometimes", "every_", "every_0s", "every_3x", "Always"] {
            let err = read(bad).expect_err(bad);
            assert!(err.contains("expected `missing`"), "{err}");
        }
    }
}
