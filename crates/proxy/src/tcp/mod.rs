//! The TCP side of the proxy, for published ports that are not HTTP (Redis,
//! PostgreSQL): each connection is routed once, when it opens, to one
//! upstream of the live release and then copied byte for byte both ways
//! until either side closes, a drain cuts it, the idle timeout passes, or
//! the proxy stops.
//!
//! Connections are carried by an event loop a worker (`event_loop.rs`,
//! `conn.rs`, `way.rs`); one that must wait for a release (the hold) by a
//! tokio task on the worker's runtime (`task.rs`).

mod conn;
mod event_loop;
mod slab;
mod task;
mod way;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use crate::router::Router;
use crate::Config;
pub(crate) use event_loop::Loops;
use event_loop::{Command, Listening};

/// Serves a TCP proxy's listening socket on worker `i`'s event loop until
/// the proxy stops (or is dropped); returns once the socket is closed and
/// the proxy's connections on that loop with it.
pub(crate) async fn serve(
    loops: Arc<Loops>,
    i: usize,
    listener: std::net::TcpListener,
    router: Arc<Router>,
    config: Config,
    mut stop: watch::Receiver<bool>,
) {
    static PROXIES: AtomicU64 = AtomicU64::new(0);
    let id = PROXIES.fetch_add(1, Ordering::Relaxed);
    let listening = Listening {
        id,
        listener: mio::net::TcpListener::from_std(listener),
        router,
        config: Arc::new(config),
        stop: stop.clone(),
    };
    loops.send(i, Command::Listen(Box::new(listening)));
    // `Err`: the proxy was dropped, which stops it too.
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    let (done, stopped) = oneshot::channel();
    loops.send(i, Command::Stop { id, done });
    let _ = stopped.await;
}
