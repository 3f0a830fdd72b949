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
            if open(&stream) {
                return Some(stream);
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

/// Whether an idle connection is still open and quiet: one peek at the
/// socket itself. Tokio's `try_read` would not do: it answers `WouldBlock`
/// without a system call while the worker's event loop has not yet taken
/// the socket's readiness from epoll, which a busy worker takes only every
/// few dozen tasks, so a connection whose FIN (or RST) has already arrived
/// would be used, and a request that is not idempotent failed with a 502
/// although the upstream never had it.
fn open(stream: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    // Closed (0), reset, or bytes nobody asked for: unusable.
    matches!(
        socket2::SockRef::from(stream).peek(&mut byte),
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock
    )
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
    use tokio::io::AsyncReadExt;

    /// A connection the upstream closed after its last answer is never
    /// taken, also when the FIN came after the worker last looked at its
    /// event loop (here: nothing awaited between the close and the take).
    #[tokio::test(flavor = "current_thread")]
    async fn a_connection_the_upstream_closed_is_not_taken_before_the_event_loop_saw_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let (mut upstream, _) = listener.accept().expect("accept");
        // An answer read as the fast path reads one: a read that does not
        // fill its room, after which tokio forgets the socket's readiness.
        std::io::Write::write_all(&mut upstream, b"answer").expect("answer");
        let mut answer = bytes::BytesMut::with_capacity(64);
        stream.read_buf(&mut answer).await.expect("read");
        let pool = Pool::default();
        pool.put(addr, stream);
        // The upstream closes its idle connection (a FIN, sent at once on
        // loopback); no await follows, so tokio has not seen it.
        drop(upstream);
        assert!(
            pool.take(addr).is_none(),
            "a closed connection was taken from the pool"
        );
    }

    /// An idle connection still open is taken again.
    #[tokio::test(flavor = "current_thread")]
    async fn an_open_idle_connection_is_taken() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (_upstream, _) = listener.accept().expect("accept");
        let pool = Pool::default();
        pool.put(addr, stream);
        assert!(pool.take(addr).is_some());
        assert!(pool.take(addr).is_none(), "taken twice");
    }

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
