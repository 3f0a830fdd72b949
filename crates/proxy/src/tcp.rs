//! The TCP side of the proxy, for published ports that are not HTTP (Redis,
//! PostgreSQL): each connection is routed once, when it opens, to one
//! upstream of the live release and then copied byte for byte both ways
//! until either side closes, a drain cuts it, or the proxy stops.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::copy;
use crate::release::ReleaseState;
use crate::router::Router;
use crate::Config;

pub(crate) async fn accept(
    listener: TcpListener,
    router: Arc<Router>,
    config: Config,
    mut stop: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(connection(
                    stream,
                    Arc::clone(&router),
                    Arc::clone(&config),
                    stop.clone(),
                ));
            }
            Err(err) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!(%err, "proxy cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// One client connection, from routing to close. Dropping the client stream
/// closes it, which is how a refused (held too long, no upstream) or cut
/// connection ends.
async fn connection(
    mut client: TcpStream,
    router: Arc<Router>,
    config: Arc<Config>,
    mut stop: watch::Receiver<bool>,
) {
    // TCP_NODELAY comes from the listening socket (`listen::tcp`).
    // With a release live (nearly always) the connection is routed at once,
    // without arming the hold's watches (the peek at the client costs a
    // system call).
    let routed = router.route(None);
    let in_flight = if let Some(in_flight) = routed {
        in_flight
    } else {
        tokio::select! {
            held = router.hold(config.hold_timeout, None) => match held {
                Ok(in_flight) => in_flight,
                Err(waited) => {
                    tracing::debug!(?waited, "no release became live within the hold timeout; closing the connection");
                    return;
                }
            },
            () = hung_up(&client) => {
                tracing::debug!("the client closed its connection while it was held");
                return;
            }
            _ = stop.changed() => return,
        }
    };
    let state = Arc::clone(in_flight.state());
    state.record_connection();
    let piped = async {
        let connecting = std::time::Instant::now();
        let upstream = connect(&state, config.connect_timeout).await;
        state.record_connect(upstream.is_some(), connecting.elapsed());
        let Some(upstream) = upstream else {
            tracing::debug!(release = %state.release.id, "no upstream accepted the connection; closing it");
            return;
        };
        let activity = Arc::new(Activity::new());
        let mut upstream = Counted {
            inner: upstream,
            state: Arc::clone(&state),
            activity: Arc::clone(&activity),
        };
        let copied = copy::bidirectional(&mut client, &mut upstream);
        tokio::select! {
            copied = copied => {
                if let Err(err) = copied {
                    tracing::debug!(release = %state.release.id, %err, "TCP connection ended with an error");
                }
            }
            () = activity.idle_for(config.idle_timeout) => {
                tracing::debug!(release = %state.release.id, timeout = ?config.idle_timeout, "no byte passed either way within the idle timeout; closing the connection");
            }
        }
    };
    tokio::select! {
        () = piped => {}
        () = in_flight.cut() => {
            tracing::debug!(release = %state.release.id, "drain timeout passed; closing the connection");
        }
        _ = stop.changed() => {}
    }
}

/// Resolves when the client has closed its side, looking without consuming
/// anything: a held client that gives up stops counting as held. A client
/// that already sent bytes is alive; that is not looked at again.
async fn hung_up(client: &TcpStream) {
    let mut byte = [0u8; 1];
    if let Ok(1..) = client.peek(&mut byte).await {
        std::future::pending::<()>().await;
    }
}

/// Connects to the release's upstreams in round-robin order; a refused or
/// timed-out attempt is counted and the next upstream tried.
async fn connect(state: &ReleaseState, timeout: Duration) -> Option<TcpStream> {
    for upstream in state.upstreams() {
        match tokio::time::timeout(timeout, TcpStream::connect(upstream)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Some(stream);
            }
            Ok(Err(err)) => {
                tracing::debug!(release = %state.release.id, %upstream, %err, "upstream refused a connection");
            }
            Err(_) => {
                tracing::debug!(release = %state.release.id, %upstream, ?timeout, "upstream did not accept a connection in time");
            }
        }
        state.record_failed_connect();
    }
    None
}

/// When a byte last passed on a connection, either way.
struct Activity {
    opened: Instant,
    /// Milliseconds after `opened`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    /// Resolves once no byte has passed for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let last = self.opened + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// The upstream side of a connection, counting bytes as they pass so that
/// the release's stats are current while a long connection is open, and
/// noting when they pass for the idle timeout.
struct Counted {
    inner: TcpStream,
    state: Arc<ReleaseState>,
    activity: Arc<Activity>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            self.activity.touch();
            self.state
                .bytes_from_upstream
                .fetch_add(read as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = polled {
            self.activity.touch();
            self.state
                .bytes_to_upstream
                .fetch_add(written as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
