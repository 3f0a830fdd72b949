//! The proxy daemon: proxies in a long-lived process of their own (as
//! kamal-proxy runs them), so that traffic keeps flowing when the process
//! that runs deploys dies, even by SIGKILL. The deploy side drives it with
//! [`Client`] over the control API of [`api`], on the unix socket
//! `proxy.sock` in its state directory, which only its owner (its user and
//! root) reaches ([`crate::owner`]).
//!
//! Its routing table (each service's spec with the address it bound, and its
//! live release with the upstreams) lives in `proxy-state.json` in the state
//! directory, written whole (temporary file, fsync, rename, fsync of the
//! directory) after every change and before the change is answered. A
//! daemon that starts reads it and binds and routes exactly as before. The
//! directory is kept 0700, and a lock on `lock` keeps a second daemon off it.
//!
//! [`serve`] is what `windlass proxy --state DIR` runs; [`Daemon::start`]
//! runs one inside a process (tests, benches, `examples/proxy_daemon.rs`).

pub mod api;
mod canaries;
mod client;
mod server;
mod services;
pub mod state;

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use client::Client;

pub use services::Services;

/// The tokio runtime `windlass proxy` runs on: its control API, state file
/// and UDP proxies. HTTP and TCP traffic is carried by the proxy's own
/// workers (one single-thread runtime per core, `workers.rs`), whichever
/// runtime binds the proxy.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// The control socket in the state directory.
pub const CONTROL_SOCKET: &str = "proxy.sock";
/// Where daemons before the control socket wrote their loopback address.
const OLD_CONTROL_FILE: &str = "control-address";
const LOCK_FILE: &str = "lock";

/// Where the daemon keeps its state and its control socket.
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds the state file, the control socket and the lock; created (or
    /// made) 0700.
    pub state_dir: PathBuf,
}

/// The control socket of the daemon of state directory `dir`.
pub fn control_socket(dir: &Path) -> PathBuf {
    dir.join(CONTROL_SOCKET)
}

/// Errors of the daemon and of its client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot use state directory {dir}: {source}")]
    StateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("another proxy daemon holds the lock on {0}; stop it, or give this one another state directory")]
    Locked(PathBuf),
    #[error("cannot read or write {path}: {source}")]
    StateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not valid JSON of the proxy daemon: {source}; fix it, or move it away to start with no services")]
    StateCorrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("state file {path} has version {found}; this daemon reads version {expected}")]
    StateVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("cannot restore service {service} from the state file: {source}")]
    Restore {
        service: api::ServiceName,
        source: crate::Error,
    },
    #[error("the proxy daemon's control socket: {0}")]
    Control(#[from] crate::owner::Error),
    #[error("the control server stopped: {0}")]
    Serve(std::io::Error),
    #[error("cannot reach the proxy daemon at {}: {message}; is `windlass proxy` running?", control.display())]
    Unreachable { control: PathBuf, message: String },
    #[error("the proxy daemon refused {method} {path}: {message}")]
    Api {
        method: String,
        path: String,
        kind: api::ErrorKind,
        message: String,
    },
    #[error("the proxy daemon's answer to {path} is not what this client expects: {message}")]
    BadAnswer { path: String, message: String },
}

/// A daemon running inside this process.
pub struct Daemon {
    control: PathBuf,
    services: Arc<Services>,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<()>,
    _lock: File,
}

impl Daemon {
    /// Locks the state directory, binds and routes every service of its
    /// state file, then serves the control API.
    pub async fn start(config: Config) -> Result<Daemon, Error> {
        let dir = config.state_dir;
        crate::owner::private_dir(&dir)?;
        let lock = lock(&dir)?;
        let services = Arc::new(Services::restore(dir.clone()).await?);
        let control = control_socket(&dir);
        let listener = crate::owner::bind(&control).await?;
        let _ = std::fs::remove_file(dir.join(OLD_CONTROL_FILE));
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::app(Arc::clone(&services));
        let serving = tokio::spawn(crate::owner::serve(
            listener,
            app,
            crate::owner::HEADER_TIMEOUT,
            async move {
                let _ = stopped.await;
            },
        ));
        tracing::info!(control = %control.display(), dir = %dir.display(), "proxy daemon serving");
        Ok(Daemon {
            control,
            services,
            stop,
            serving,
            _lock: lock,
        })
    }

    /// The control socket.
    pub fn control_socket(&self) -> &Path {
        &self.control
    }

    pub fn client(&self) -> Client {
        Client::new(self.control.clone())
    }

    /// Serves until SIGINT or SIGTERM, then shuts down.
    pub async fn run_until_signal(self) -> Result<(), Error> {
        shutdown_signal().await;
        tracing::info!("proxy daemon stopping");
        self.shutdown().await
    }

    /// Stops the control server and every proxy, and returns once their
    /// addresses are free; the state file keeps the routing for the next start.
    pub async fn shutdown(self) -> Result<(), Error> {
        let _ = self.stop.send(());
        self.services.stop_all().await;
        let _ = std::fs::remove_file(&self.control);
        self.serving
            .await
            .map_err(|e| Error::Serve(std::io::Error::other(e)))
    }
}

/// Runs the daemon until SIGINT or SIGTERM: what `windlass proxy` calls.
pub async fn serve(config: Config) -> Result<(), Error> {
    Daemon::start(config).await?.run_until_signal().await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn lock(dir: &Path) -> Result<File, Error> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::StateFile {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::Locked(dir.to_path_buf())),
        Err(TryLockError::Error(source)) => Err(Error::StateFile { path, source }),
    }
}
