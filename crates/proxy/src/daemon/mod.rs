//! The proxy daemon: proxies in a long-lived process of their own (as
//! kamal-proxy runs them), so that traffic keeps flowing when the process
//! that runs deploys dies, even by SIGKILL. The deploy side drives it with
//! [`Client`] over the control API of [`api`], on a loopback port.
//!
//! Its routing table (each service's spec with the address it bound, and its
//! live release with the upstreams) lives in `proxy-state.json` in the state
//! directory, written whole (temporary file, fsync, rename, fsync of the
//! directory) after every change and before the change is answered. A
//! daemon that starts reads it and binds and routes exactly as before. The
//! control address is written to `control-address` beside it, and a lock on
//! `lock` keeps a second daemon off the same directory.
//!
//! [`serve`] is what `windlass proxy --state DIR` runs; [`Daemon::start`]
//! runs one inside a process (tests, benches, `examples/proxy_daemon.rs`).

pub mod api;
mod client;
mod server;
mod services;
pub mod state;

use std::fs::{File, OpenOptions, TryLockError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use client::Client;

pub use services::Services;

/// The file in the state directory that names the control address.
pub const CONTROL_FILE: &str = "control-address";
const LOCK_FILE: &str = "lock";

/// Where the daemon listens for control and keeps its state.
#[derive(Debug, Clone)]
pub struct Config {
    /// The control API's address; it must be a loopback address, because the
    /// API has no authentication. Port 0 picks a free port.
    pub control: SocketAddr,
    /// Holds the state file, the control address and the lock; created if
    /// missing.
    pub state_dir: PathBuf,
}

/// Errors of the daemon and of its client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the control address {0} is not a loopback address; the control API has no authentication, so give 127.0.0.1:PORT")]
    NotLoopback(SocketAddr),
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
    #[error("{path} should hold the daemon's control address (127.0.0.1:PORT), not {text:?}")]
    BadControlFile { path: PathBuf, text: String },
    #[error("cannot restore service {service} from the state file: {source}")]
    Restore {
        service: api::ServiceName,
        source: crate::Error,
    },
    #[error("cannot listen for control on {addr}: {source}; is another daemon using it?")]
    ControlBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the control server stopped: {0}")]
    Serve(std::io::Error),
    #[error("cannot reach the proxy daemon at {control}: {message}; is `windlass proxy` running?")]
    Unreachable {
        control: SocketAddr,
        message: String,
    },
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
    control: SocketAddr,
    services: Arc<Services>,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
    _lock: File,
}

impl Daemon {
    /// Locks the state directory, binds and routes every service of its
    /// state file, then serves the control API.
    pub async fn start(config: Config) -> Result<Daemon, Error> {
        if !config.control.ip().is_loopback() {
            return Err(Error::NotLoopback(config.control));
        }
        let dir = config.state_dir;
        std::fs::create_dir_all(&dir).map_err(|source| Error::StateDir {
            dir: dir.clone(),
            source,
        })?;
        let lock = lock(&dir)?;
        let services = Arc::new(Services::restore(dir.clone()).await?);
        let listener =
            TcpListener::bind(config.control)
                .await
                .map_err(|source| Error::ControlBind {
                    addr: config.control,
                    source,
                })?;
        let control = listener.local_addr().map_err(|source| Error::ControlBind {
            addr: config.control,
            source,
        })?;
        write_control_file(&dir, control)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::app(Arc::clone(&services));
        let serving = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%control, dir = %dir.display(), "proxy daemon serving");
        Ok(Daemon {
            control,
            services,
            stop,
            serving,
            _lock: lock,
        })
    }

    pub fn control_addr(&self) -> SocketAddr {
        self.control
    }

    pub fn client(&self) -> Client {
        Client::new(self.control)
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
        match self.serving.await {
            Ok(served) => served.map_err(Error::Serve),
            Err(e) => Err(Error::Serve(std::io::Error::other(e))),
        }
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

fn lock(dir: &std::path::Path) -> Result<File, Error> {
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

fn write_control_file(dir: &std::path::Path, control: SocketAddr) -> Result<(), Error> {
    let path = dir.join(CONTROL_FILE);
    let temporary = dir.join(format!("{CONTROL_FILE}.tmp"));
    std::fs::write(&temporary, format!("{control}\n"))
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|source| Error::StateFile { path, source })
}
