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

#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<(TcpStream, Instant)>>>,
}

impl Pool {
    /// The most recently used idle connection to `upstream` that is still
    /// open. One the upstream closed while it idled (its FIN or RST is
    /// already here) is dropped rather than sent a request that would fail.
    pub(crate) fn take(&self, upstream: SocketAddr) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = idle.get_mut(&upstream)?;
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
