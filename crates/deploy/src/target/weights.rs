//! What a rollout asks of a target: put a new release beside the live one
//! with a weight, and count what each of the two served, so that a step's
//! window can be judged (`workflow::rollout`). The counters are the
//! proxy's, kept whole (the latency histogram's buckets too): the window is
//! the difference of two readings, so it survives a restart of the process
//! that takes them.

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
}

impl Counters {
    pub fn of(stats: &ReleaseStats) -> Counters {
        Counters {
            release: stats.release.clone(),
            requests: stats.requests,
            server_errors: stats.server_errors,
            latency_buckets: stats.latency_buckets.clone(),
        }
    }

    /// Nothing counted yet (a release the proxies never routed to).
    pub fn empty(release: &str) -> Counters {
        Counters {
            release: release.to_owned(),
            ..Counters::default()
        }
    }

    /// What was counted between `earlier` and `self`.
    pub fn since(&self, earlier: &Counters) -> Window {
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
}
