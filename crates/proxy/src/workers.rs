//! The threads that carry the HTTP and TCP proxies' traffic: one tokio
//! runtime of a single thread per core, each with its own event loop (epoll),
//! as HAProxy's threads and nginx's workers have theirs. For an HTTP proxy
//! every worker accepts from the same listening socket, so a connection goes
//! to whichever worker takes it first; a TCP proxy has one listening socket
//! a worker (SO_REUSEPORT, see `listen::tcp_group`), among which the kernel
//! spreads connections, served by the worker's TCP event loop (a thread of
//! its own beside the runtime, `tcp::Loops`), which hands the worker's
//! runtime only a connection that must wait for a release. Either way a
//! connection is then served on that worker alone: its client and upstream
//! sockets, its tasks and its timers never cross threads.
//!
//! On tokio's multi-thread runtime one worker at a time waits on the event
//! loop and wakes the others through a futex when tasks are ready; under
//! load on a busy machine each of those hand-overs waited for the scheduler,
//! and the proxy served about half the requests per second that it does on
//! these workers (see `benches/data_plane`, and the proxy's part of
//! docs/ARCHITECTURE.md).

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::{Builder, Handle};
use tokio::task::JoinHandle;

/// The process's workers, started by the first proxy that needs them and
/// kept for the life of the process.
static WORKERS: Mutex<Option<Arc<Workers>>> = Mutex::new(None);

pub(crate) struct Workers {
    handles: Vec<Handle>,
}

impl Workers {
    /// The workers, started on first use: as many as the machine has cores.
    pub(crate) fn get() -> io::Result<Arc<Workers>> {
        let mut workers = WORKERS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(workers) = workers.as_ref() {
            return Ok(Arc::clone(workers));
        }
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut handles = Vec::with_capacity(count);
        for i in 0..count {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            std::thread::Builder::new()
                .name(format!("windlass-proxy-{i}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
        }
        let started = Arc::new(Workers { handles });
        *workers = Some(Arc::clone(&started));
        Ok(started)
    }

    pub(crate) fn count(&self) -> usize {
        self.handles.len()
    }

    /// Worker `i`'s runtime.
    pub(crate) fn handle(&self, i: usize) -> &Handle {
        &self.handles[i]
    }

    /// Runs one copy of a task on every worker; `task(i)` makes worker i's.
    pub(crate) fn on_each<F>(&self, mut task: impl FnMut(usize) -> F) -> Vec<JoinHandle<()>>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handles
            .iter()
            .enumerate()
            .map(|(i, handle)| handle.spawn(task(i)))
            .collect()
    }
}
