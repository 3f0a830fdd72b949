//! Idle keep-alive connections to upstreams, kept per worker and per proxy
//! (each worker has its own `Shared`), taken by the next request to the
//! same upstream and driven in that request's own task.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// How long an idle connection is kept (hyper-util's pool default).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per upstream; more are closed.
const MAX_IDLE: usize = 256;

/// How often every upstream's idle connections are looked over, so that
/// those of an upstream no longer used (a release switched away) close too.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

type Idle = HashMap<SocketAddr, Vec<(TcpStream, Instant)>>;

#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<(Idle, Option<Instant>)>,
}

impl Pool {
    /// The most recently used idle connection to `upstream` that is still
    /// open. One the upstream closed while it idled (its FIN or RST is
    /// already here) is dropped rather than sent a request that would fail.
    pub(crate) fn take(&self, upstream: SocketAddr) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = idle.0.get_mut(&upstream)?;
        while let Some((stream, since)) = kept.pop() {
            if since.elapsed() >= IDLE_TIMEOUT {
                // All the older ones have idled longer still.
                kept.clear();
                return None;
            }
            let mut byte = [0u8; 1];
            match stream.try_read(&mut byte) {
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return Some(stream),
                // Closed (0), reset, or bytes nobody asked for: unusable.
                _ => {}
            }
        }
        None
    }

    /// Keeps `stream`, whose last answer was read whole, for the next
    /// request to `upstream`.
    pub(crate) fn put(&self, upstream: SocketAddr, stream: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let (idle, swept) = &mut *idle;
        let now = Instant::now();
        if swept.is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY) {
            sweep(idle, now);
            *swept = Some(now);
        }
        let kept = idle.entry(upstream).or_default();
        // The oldest are at the front: drop those that idled too long.
        let expired = kept
            .iter()
            .take_while(|(_, since)| since.elapsed() >= IDLE_TIMEOUT)
            .count();
        kept.drain(..expired);
        if kept.len() < MAX_IDLE {
            kept.push((stream, Instant::now()));
        }
    }
}

/// Closes every connection that idled `IDLE_TIMEOUT` by `now`, and forgets
/// upstreams with none left.
fn sweep(idle: &mut Idle, now: Instant) {
    idle.retain(|_, kept| {
        kept.retain(|(_, since)| now.duration_since(*since) < IDLE_TIMEOUT);
        !kept.is_empty()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream no request goes to any more still has its idle
    /// connections closed once they expire.
    #[tokio::test]
    async fn a_sweep_closes_expired_connections_of_every_upstream() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let pool = Pool::default();
        for _ in 0..2 {
            let stream = TcpStream::connect(addr).await.expect("connect");
            pool.put(addr, stream);
        }
        let mut idle = pool.idle.lock().expect("lock");
        assert_eq!(idle.0.get(&addr).map(Vec::len), Some(2));
        sweep(&mut idle.0, Instant::now() + Duration::from_secs(1));
        assert_eq!(idle.0.get(&addr).map(Vec::len), Some(2));
        sweep(&mut idle.0, Instant::now() + IDLE_TIMEOUT);
        assert!(idle.0.is_empty());
    }
}
