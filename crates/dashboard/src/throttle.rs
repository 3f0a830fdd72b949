//! The login's rate limit: a client address that failed
//! [`FAILURES_ALLOWED`] times within [`WINDOW`] is answered 429 until the
//! oldest of those failures is a window old. Guessing a secret at five a
//! minute is hopeless; a person who mistyped waits a minute at most.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins a client may make within [`WINDOW`].
pub const FAILURES_ALLOWED: usize = 5;

/// How long a failed login counts against its client.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Past this many addresses, the ones whose failures have all aged out are
/// forgotten, so that a flood from many addresses cannot grow the table
/// without bound.
const ADDRESSES_KEPT: usize = 10_000;

/// Recent failed logins by client.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// The part of an address that identifies a client: the whole IPv4
/// address, the /64 prefix of an IPv6 one (a single host is commonly given
/// a whole /64 to pick addresses from).
fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

impl Throttle {
    /// How long `client` must wait before it may try again, if it must.
    pub fn wait(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let recent = failures.get_mut(&client_key(client))?;
        recent.retain(|at| now.saturating_duration_since(*at) < WINDOW);
        if recent.len() < FAILURES_ALLOWED {
            return None;
        }
        let oldest = *recent.front()?;
        Some(WINDOW.saturating_sub(now.saturating_duration_since(oldest)))
    }

    /// Counts a failed login of `client`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= ADDRESSES_KEPT {
            failures.retain(|_, recent| {
                recent
                    .back()
                    .is_some_and(|at| now.saturating_duration_since(*at) < WINDOW)
            });
        }
        let recent = failures.entry(client_key(client)).or_default();
        recent.push_back(now);
        while recent.len() > FAILURES_ALLOWED {
            recent.pop_front();
        }
    }

    /// Forgets `client`'s failures after it logged in.
    pub fn succeeded(&self, client: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&client_key(client));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn the_sixth_failure_within_a_minute_waits_until_the_first_ages_out() {
        let throttle = Throttle::default();
        let start = Instant::now();
        let client = address("192.0.2.7");
        for i in 0..FAILURES_ALLOWED as u64 {
            assert_eq!(throttle.wait(client, start + Duration::from_secs(i)), None);
            throttle.failed(client, start + Duration::from_secs(i));
        }
        let now = start + Duration::from_secs(10);
        assert_eq!(throttle.wait(client, now), Some(Duration::from_secs(50)));
        // Another client is not held back by this one.
        assert_eq!(throttle.wait(address("192.0.2.8"), now), None);
        // A minute after the first failure, one more try is allowed.
        assert_eq!(throttle.wait(client, start + WINDOW), None);
        throttle.succeeded(client);
        assert_eq!(throttle.wait(client, now), None);
    }

    #[test]
    fn an_ipv6_client_is_its_64_prefix() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for i in 0..FAILURES_ALLOWED {
            throttle.failed(address(&format!("2001:db8:1:2::{i:x}")), now);
        }
        assert!(throttle.wait(address("2001:db8:1:2::ffff"), now).is_some());
        assert_eq!(throttle.wait(address("2001:db8:1:3::1"), now), None);
    }
}
