//! What a rollout asks of a target: put a new release beside the live one
//! with a weight, and count what each of the two served, so that a step's
//! window can be judged (`workflow::rollout`). The counters are the
//! proxy's, kept whole (the latency histogram's buckets too): the window is
//! the difference of two readings, so it survives a restart of the process
//! that takes them. Counters gathered from several counting processes
//! whose counts restart with them (the Swarm's entry tasks) carry each
//! one's reading ([`Part`]): a window is then the sum of each process's own
//! difference, one that started since counting from zero.

use serde::{Deserialize, Serialize};

use windlass_proxy::daemon::api::ReleaseStats;
use windlass_proxy::Latencies;

/// One release's counters, every port of its service summed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub release: String,
    pub requests: u64,
    pub server_errors: u64,
    /// The latency histogram's buckets that counted something, `[index,
    /// count]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_buckets: Vec<[u64; 2]>,
    /// Each counting process's own reading, when there are several (the
    /// totals above are their sum).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// One counting process's cumulative counters of a release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The process (an entry task's instance), counting from its start.
    pub source: String,
    pub requests: u64,
    pub server_errors: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_buckets: Vec<[u64; 2]>,
}

impl Counters {
    /// The sum of several processes' readings of `release`.
    pub fn of_parts(release: &str, mut parts: Vec<Part>) -> Counters {
        parts.sort_by(|a, b| a.source.cmp(&b.source));
        let mut buckets = Vec::new();
        for part in &parts {
            buckets.extend_from_slice(&part.latency_buckets);
        }
        Counters {
            release: release.to_owned(),
            requests: parts.iter().map(|p| p.requests).sum(),
            server_errors: parts.iter().map(|p| p.server_errors).sum(),
            latency_buckets: Latencies::from_sparse(&buckets).sparse(),
            parts,
        }
    }

    pub fn of(stats: &ReleaseStats) -> Counters {
        Counters {
            release: stats.release.clone(),
            requests: stats.requests,
            server_errors: stats.server_errors,
            latency_buckets: stats.latency_buckets.clone(),
            parts: Vec::new(),
        }
    }

    /// Nothing counted yet (a release the proxies never routed to).
    pub fn empty(release: &str) -> Counters {
        Counters {
            release: release.to_owned(),
            ..Counters::default()
        }
    }

    /// What was counted between `earlier` and `self`. With parts, each
    /// process's difference to its own earlier reading (none: it started
    /// since, and counted from zero); a process gone since takes what it
    /// counted after `earlier` with it.
    pub fn since(&self, earlier: &Counters) -> Window {
        if !self.parts.is_empty() {
            let mut window = Window {
                requests: 0,
                server_errors: 0,
                latencies: Latencies::from_sparse(&[]),
            };
            let mut buckets = Vec::new();
            for part in &self.parts {
                let before = earlier.parts.iter().find(|p| p.source == part.source);
                let (requests, errors, then) = match before {
                    // Fewer than before: the same name counted again from zero.
                    Some(b) if b.requests <= part.requests => (
                        b.requests,
                        b.server_errors,
                        Latencies::from_sparse(&b.latency_buckets),
                    ),
                    _ => (0, 0, Latencies::from_sparse(&[])),
                };
                window.requests += part.requests.saturating_sub(requests);
                window.server_errors += part.server_errors.saturating_sub(errors);
                buckets.extend(
                    Latencies::from_sparse(&part.latency_buckets)
                        .since(&then)
                        .sparse(),
                );
            }
            window.latencies = Latencies::from_sparse(&buckets);
            return window;
        }
        let now = Latencies::from_sparse(&self.latency_buckets);
        let then = Latencies::from_sparse(&earlier.latency_buckets);
        Window {
            requests: self.requests.saturating_sub(earlier.requests),
            server_errors: self.server_errors.saturating_sub(earlier.server_errors),
            latencies: now.since(&then),
        }
    }
}

/// What a release served in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub requests: u64,
    pub server_errors: u64,
    pub latencies: Latencies,
}

impl Window {
    pub fn server_error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.server_errors as f64 / self.requests as f64
        }
    }

    pub fn p99(&self) -> Option<std::time::Duration> {
        self.latencies.quantile(0.99)
    }
}

/// A service's two releases in a rollout, as its proxies counted them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shares {
    pub service: String,
    /// The release live before the rollout (the old one).
    pub live: Counters,
    /// The new release, beside it.
    pub canary: Counters,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_the_difference_of_two_readings() {
        let then = Counters {
            release: "r2".into(),
            requests: 10,
            server_errors: 1,
            latency_buckets: vec![[40, 10]],
            parts: Vec::new(),
        };
        let now = Counters {
            requests: 30,
            server_errors: 3,
            latency_buckets: vec![[40, 10], [80, 20]],
            ..then.clone()
        };
        let window = now.since(&then);
        assert_eq!((window.requests, window.server_errors), (20, 2));
        assert!((window.server_error_ratio() - 0.1).abs() < 1e-9);
        assert_eq!(window.latencies.count(), 20);
        let json = serde_json::to_value(&now).expect("json");
        assert_eq!(
            serde_json::from_value::<Counters>(json).expect("reads"),
            now
        );
    }

    fn part(source: &str, requests: u64, server_errors: u64) -> Part {
        Part {
            source: source.into(),
            requests,
            server_errors,
            latency_buckets: vec![[40, requests]],
        }
    }

    #[test]
    fn a_window_of_parts_is_each_part_s_own_difference() {
        let then = Counters::of_parts("r2", vec![part("a", 100, 1), part("b", 50, 0)]);
        assert_eq!((then.requests, then.server_errors), (150, 1));
        // b restarted (fewer than before: counted from zero again), c is new,
        // a went on.
        let now = Counters::of_parts(
            "r2",
            vec![part("a", 130, 4), part("b", 10, 1), part("c", 5, 0)],
        );
        let window = now.since(&then);
        assert_eq!((window.requests, window.server_errors), (45, 4));
        assert_eq!(window.latencies.count(), 45);
    }
}
