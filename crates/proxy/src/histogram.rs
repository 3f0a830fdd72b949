//! A lock-free latency histogram with log-linear buckets (eight per power of
//! two, so a reported quantile is at most 12.5% above the true value).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Values below this many microseconds get a bucket each.
const LINEAR: usize = 16;
const SUB_BUCKETS: usize = 8;
/// Enough for values up to 2^63 microseconds.
const BUCKETS: usize = LINEAR + (64 - 4) * SUB_BUCKETS;

/// Counts latencies in microseconds; recording is one relaxed atomic add.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub(crate) fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.buckets[index(micros)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Latencies {
        Latencies {
            counts: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// A copy of a histogram's counts, which can be compared with an earlier copy
/// to get the latencies of a window (the watch after a switch, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latencies {
    counts: Vec<u64>,
}

impl Latencies {
    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The latency below which a share `q` (0.0 to 1.0) of requests fell,
    /// rounded up to its bucket's upper bound; `None` when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The rank of the q-quantile, 1-based: p99 of 100 values is the 99th.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(upper_bound(i)));
            }
        }
        None
    }

    /// The buckets that counted something, as `[index, count]` pairs: the
    /// compact form the daemon's API carries, so that a client can take
    /// two and judge the window between them ([`Latencies::since`]).
    pub fn sparse(&self) -> Vec<[u64; 2]> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(i, count)| [i as u64, *count])
            .collect()
    }

    /// The latencies [`Latencies::sparse`] gave; pairs of an index past
    /// the last bucket are left out.
    pub fn from_sparse(pairs: &[[u64; 2]]) -> Latencies {
        let mut counts = vec![0; BUCKETS];
        for [i, count] in pairs {
            if let Some(slot) = usize::try_from(*i).ok().and_then(|i| counts.get_mut(i)) {
                *slot += count;
            }
        }
        Latencies { counts }
    }

    /// The buckets that counted something as `[upper bound in µs, count]`,
    /// lowest first: what a reader that knows nothing of the buckets'
    /// layout needs to take a quantile of a window (the dashboard's view
    /// of a rollout subtracts two of these).
    pub fn bounded(&self) -> Vec<[u64; 2]> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(i, count)| [upper_bound(i), *count])
            .collect()
    }

    /// The latencies recorded since `earlier`, a snapshot of the same histogram.
    pub fn since(&self, earlier: &Latencies) -> Latencies {
        Latencies {
            counts: self
                .counts
                .iter()
                .zip(earlier.counts.iter().chain(std::iter::repeat(&0)))
                .map(|(now, then)| now.saturating_sub(*then))
                .collect(),
        }
    }
}

fn index(micros: u64) -> usize {
    if micros < LINEAR as u64 {
        return micros as usize;
    }
    let msb = 63 - micros.leading_zeros() as usize; // at least 4
    let sub = ((micros >> (msb - 3)) & 7) as usize;
    LINEAR + (msb - 4) * SUB_BUCKETS + sub
}

fn upper_bound(index: usize) -> u64 {
    if index < LINEAR {
        return index as u64;
    }
    let msb = (index - LINEAR) / SUB_BUCKETS + 4;
    let sub = ((index - LINEAR) % SUB_BUCKETS) as u64;
    let width = 1u64 << (msb - 3);
    ((8 + sub) << (msb - 3)).saturating_add(width - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_their_values() {
        for micros in [
            0,
            1,
            15,
            16,
            17,
            100,
            999,
            1_000,
            123_456,
            u64::MAX / 2,
            u64::MAX,
        ] {
            let i = index(micros);
            assert!(i < BUCKETS, "{micros}");
            assert!(upper_bound(i) >= micros, "{micros}");
            assert!(
                upper_bound(i) as f64 <= micros as f64 * 1.125 + 1.0,
                "{micros}"
            );
        }
    }

    #[test]
    fn quantiles_of_a_known_spread() {
        let h = Histogram::new();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 100);
        let p99 = s.quantile(0.99).expect("recorded");
        assert!(
            p99 >= Duration::from_millis(99) && p99 <= Duration::from_millis(112),
            "{p99:?}"
        );
        let p50 = s.quantile(0.5).expect("recorded");
        assert!(
            p50 >= Duration::from_millis(50) && p50 <= Duration::from_millis(57),
            "{p50:?}"
        );
    }

    #[test]
    fn the_sparse_form_reads_back_the_same() {
        let h = Histogram::new();
        for ms in [1, 1, 7, 300] {
            h.record(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        assert_eq!(s.sparse().len(), 3);
        assert_eq!(Latencies::from_sparse(&s.sparse()), s);
        assert_eq!(Latencies::from_sparse(&[[u64::MAX, 1]]).count(), 0);
    }

    #[test]
    fn bounded_buckets_give_the_same_quantile() {
        let h = Histogram::new();
        for ms in [1, 1, 7, 300] {
            h.record(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        let bounded = s.bounded();
        assert_eq!(bounded.len(), 3);
        assert_eq!(bounded.iter().map(|[_, n]| n).sum::<u64>(), 4);
        // The highest bucket's bound is the p99 the snapshot reports.
        let p99 = s.quantile(0.99).map(|d| d.as_micros() as u64);
        assert_eq!(bounded.last().map(|[bound, _]| *bound), p99);
        assert!(bounded.windows(2).all(|w| w[0][0] < w[1][0]));
    }

    #[test]
    fn a_window_holds_only_later_values() {
        let h = Histogram::new();
        h.record(Duration::from_secs(5));
        let before = h.snapshot();
        h.record(Duration::from_millis(1));
        let window = h.snapshot().since(&before);
        assert_eq!(window.count(), 1);
        assert!(window.quantile(0.99) < Some(Duration::from_millis(2)));
        assert_eq!(Histogram::new().snapshot().quantile(0.99), None);
    }
}
