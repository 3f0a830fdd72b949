//! Weighted routing: a canary release beside the live one takes a share of
//! new traffic (HTTP per request, TCP per connection, UDP per flow). The
//! share is exact rather than drawn: of every 100 picks in a row, `weight`
//! go to the canary, spread evenly (one atomic add a pick). With
//! stickiness, a request that carries the named cookie or header is routed
//! by a hash of its value instead, so one user's session stays on one
//! release; raising the weight only moves users from the live release to
//! the canary, never back.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::release::ReleaseState;
use crate::Release;

/// A share of new traffic, 0 to 100 percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Weight(u8);

impl Weight {
    pub const ZERO: Weight = Weight(0);
    pub const ALL: Weight = Weight(100);

    pub fn percent(self) -> u8 {
        self.0
    }
}

/// A number that is no percentage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a weight; give a whole percentage from 0 to 100")]
pub struct BadWeight(pub String);

impl TryFrom<u32> for Weight {
    type Error = BadWeight;

    fn try_from(n: u32) -> Result<Weight, BadWeight> {
        u8::try_from(n)
            .ok()
            .filter(|n| *n <= 100)
            .map(Weight)
            .ok_or_else(|| BadWeight(n.to_string()))
    }
}

impl From<Weight> for u32 {
    fn from(w: Weight) -> u32 {
        u32::from(w.0)
    }
}

impl FromStr for Weight {
    type Err = BadWeight;

    fn from_str(s: &str) -> Result<Weight, BadWeight> {
        let digits = s.trim().trim_end_matches('%');
        digits
            .parse::<u32>()
            .ok()
            .and_then(|n| Weight::try_from(n).ok())
            .ok_or_else(|| BadWeight(s.to_owned()))
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// What keeps a user on one release while a canary takes a share: the
/// value of a cookie or of a header (HTTP only), hashed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sticky {
    Cookie(String),
    Header(String),
}

/// A [`Sticky`] made ready for every request: a header's name parsed once.
enum Key {
    Cookie(String),
    Header(HeaderName),
}

impl Key {
    fn of(sticky: &Sticky) -> Option<Key> {
        match sticky {
            Sticky::Cookie(name) => Some(Key::Cookie(name.clone())),
            // A name that is no header name never matches (the compose
            // check refuses it before it gets here).
            Sticky::Header(name) => HeaderName::try_from(name.as_str()).ok().map(Key::Header),
        }
    }

    /// The bucket (0-99) of a request, when it carries the key.
    fn bucket(&self, headers: &dyn Headers) -> Option<u64> {
        match self {
            Key::Header(name) => headers.first(name.as_str()).map(bucket),
            Key::Cookie(name) => {
                let mut found = None;
                headers.each(header::COOKIE.as_str(), &mut |value| {
                    let Ok(value) = std::str::from_utf8(value) else {
                        return false;
                    };
                    found = value.split(';').find_map(|pair| {
                        let (key, value) = pair.trim().split_once('=')?;
                        (key == name.as_str()).then(|| bucket(value.as_bytes()))
                    });
                    found.is_some()
                });
                found
            }
        }
    }
}

/// A request's headers as sticky routing reads them: hyper's `HeaderMap`
/// or the fast path's parsed head (`crate::h1`), which is not copied into
/// one.
pub(crate) trait Headers: Sync {
    /// Calls `visit` with each value of the header `name` (lower case) in
    /// order, until it returns true.
    fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool);

    /// The first value of the header `name` (lower case).
    fn first(&self, name: &str) -> Option<&[u8]>;
}

impl Headers for HeaderMap {
    fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool) {
        for value in self.get_all(name) {
            if visit(value.as_bytes()) {
                return;
            }
        }
    }

    fn first(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(HeaderValue::as_bytes)
    }
}

impl Headers for &[httparse::Header<'_>] {
    fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool) {
        for header in self.iter() {
            if header.name.eq_ignore_ascii_case(name) && visit(header.value) {
                return;
            }
        }
    }

    fn first(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value)
    }
}

/// FNV-1a, then 0-99: stable across processes and restarts (a user keeps
/// their release when the proxy daemon restarts).
fn bucket(key: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % 100
}

/// A canary as asked: the release, its share and its stickiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    pub release: Release,
    pub weight: Weight,
    pub sticky: Option<Sticky>,
}

/// The canary as the routing table holds it.
pub(crate) struct CanaryState {
    pub(crate) state: Arc<ReleaseState>,
    pub(crate) weight: Weight,
    pub(crate) sticky: Option<Sticky>,
    key: Option<Key>,
    /// Picks made without a sticky key, for the even spread.
    picks: AtomicU64,
}

impl CanaryState {
    pub(crate) fn new(
        state: Arc<ReleaseState>,
        weight: Weight,
        sticky: Option<Sticky>,
    ) -> CanaryState {
        CanaryState {
            state,
            weight,
            key: sticky.as_ref().and_then(Key::of),
            sticky,
            picks: AtomicU64::new(0),
        }
    }

    pub(crate) fn canary(&self) -> Canary {
        Canary {
            release: self.state.release.clone(),
            weight: self.weight,
            sticky: self.sticky.clone(),
        }
    }

    /// Whether this request or connection goes to the canary.
    pub(crate) fn takes(&self, headers: Option<&dyn Headers>) -> bool {
        let weight = u64::from(self.weight.0);
        if weight == 0 {
            return false;
        }
        if weight == 100 {
            return true;
        }
        let keyed = match (&self.key, headers) {
            (Some(key), Some(headers)) => key.bucket(headers),
            _ => None,
        };
        match keyed {
            Some(bucket) => bucket < weight,
            None => spread(self.picks.fetch_add(1, Ordering::Relaxed), weight),
        }
    }
}

/// Whether pick `n` of a run goes to the canary: exactly `weight` of every
/// 100 consecutive picks do, evenly spaced (Bresenham's line).
fn spread(n: u64, weight: u64) -> bool {
    let n = n % 100;
    (n + 1) * weight / 100 > n * weight / 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn weights_are_whole_percentages() {
        assert_eq!("10".parse::<Weight>(), Ok(Weight(10)));
        assert_eq!("50%".parse::<Weight>(), Ok(Weight(50)));
        assert_eq!(Weight(7).to_string(), "7%");
        for bad in ["101", "-1", "ten", "", "2.5"] {
            assert!(bad.parse::<Weight>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<Weight>("101").is_err());
        assert_eq!(
            serde_json::from_str::<Weight>("100").ok(),
            Some(Weight::ALL)
        );
    }

    /// Every run of 100 picks gives the canary exactly its weight, and no
    /// stretch of picks gets more than one more than its share.
    #[test]
    fn the_spread_gives_exactly_the_weight_evenly() {
        for weight in 0..=100 {
            let taken: Vec<bool> = (0..1000).map(|n| spread(n, weight)).collect();
            for hundred in taken.chunks(100) {
                assert_eq!(
                    hundred.iter().filter(|t| **t).count() as u64,
                    weight,
                    "weight {weight}"
                );
            }
            for window in taken.windows(10) {
                let n = window.iter().filter(|t| **t).count() as u64;
                assert!(n.abs_diff(weight / 10) <= 1, "weight {weight}: {n} of 10");
            }
        }
    }

    fn release_state() -> Arc<ReleaseState> {
        let upstream = "127.0.0.1:7001".parse().expect("addr");
        Arc::new(ReleaseState::new(Release::new("r2", [upstream])))
    }

    fn with_cookie(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(cookie).expect("cookie"),
        );
        headers
    }

    /// A user's cookie picks one release every time, and a user on the
    /// canary at 10 % is still on it at 50 %.
    #[test]
    fn a_sticky_cookie_keeps_a_user_on_one_release_as_the_weight_grows() {
        let sticky = Some(Sticky::Cookie("session".into()));
        let at = |w| CanaryState::new(release_state(), Weight(w), sticky.clone());
        let (ten, fifty) = (at(10), at(50));
        let mut on_canary = 0;
        for user in 0..1000 {
            let headers = with_cookie(&format!("theme=dark; session=user-{user}"));
            let first = ten.takes(Some(&headers));
            assert!((0..5).all(|_| ten.takes(Some(&headers)) == first));
            if first {
                on_canary += 1;
                assert!(fifty.takes(Some(&headers)), "user {user} moved back");
            }
        }
        // 1000 users hashed into 100 buckets: about 10 %.
        assert!((50..=150).contains(&on_canary), "{on_canary} of 1000");
        // Without the cookie, the even spread.
        let other = with_cookie("theme=dark");
        let taken = (0..100).filter(|_| ten.takes(Some(&other))).count();
        assert_eq!(taken, 10);
    }

    #[test]
    fn a_sticky_header_is_hashed_and_ignored_without_headers() {
        let canary = CanaryState::new(
            release_state(),
            Weight(30),
            Some(Sticky::Header("x-user".into())),
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-user", HeaderValue::from_static("alice"));
        let first = canary.takes(Some(&headers));
        assert!((0..10).all(|_| canary.takes(Some(&headers)) == first));
        assert_eq!((0..100).filter(|_| canary.takes(None)).count(), 30);
    }
}
