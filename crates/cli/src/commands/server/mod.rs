//! `windlass server`: the Step Functions-compatible API on a TCP port.
//!
//! State lives in a SQLite file (in `--data-dir`, or `--store sqlite:PATH`);
//! executions that were running when the server stopped resume when it
//! starts again. With `--store postgres://...` several servers share one
//! PostgreSQL database and take over the executions of a server that dies.
//!
//! Secrets (access keys, the database password) come from the environment
//! or a file: a command line shows in `ps` to every user of the machine.
//! The server answers only its own names (`--allowed-host` for others),
//! speaks TLS with `--tls-cert`/`--tls-key`, and cuts off clients that
//! send their request heads too slowly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use windlass_runtime::SystemClock;
use windlass_server::hosts::{self, AllowedHosts};
use windlass_server::listen::{self, Limits};
use windlass_server::sigv4::AccessKey;
use windlass_server::{app, Config, Server};
use windlass_store::machines::MachineStore;
use windlass_store::memory::MemoryStore;
use windlass_store::postgres::{self, PostgresStore};
use windlass_store::sqlite::{Durability, SqliteStore};

use crate::exit;

mod sources;

use sources::{access_keys, store_choice, StoreChoice, ACCESS_KEYS_ENV};

#[derive(clap::Args)]
pub struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8083")]
    bind: SocketAddr,
    /// The directory that holds the SQLite store (default: ./windlass-data).
    #[arg(long, conflicts_with = "store")]
    data_dir: Option<PathBuf>,
    /// The store: `sqlite:PATH`, `postgres://USER:PASSWORD@HOST:PORT/DATABASE`
    /// (shared by several servers), or `memory` (nothing survives a restart).
    /// Better in WINDLASS_STORE: a password on the command line shows in `ps`.
    #[arg(long)]
    store: Option<String>,
    /// With a PostgreSQL store: how long after this server's last sign of
    /// life another server takes its executions over.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    lease_seconds: f64,
    /// An access key requests must be signed with, as ID:SECRET (repeatable).
    /// Shows in `ps`: prefer WINDLASS_ACCESS_KEYS (ID:SECRET[,ID:SECRET]) or
    /// --access-key-file. Without any key, requests are not checked, which is
    /// allowed on a loopback address only.
    #[arg(long = "access-key", value_name = "ID:SECRET")]
    access_keys: Vec<AccessKey>,
    /// A file of access keys, one ID:SECRET a line (`#` starts a comment),
    /// readable by its owner only (mode 0600).
    #[arg(long, value_name = "PATH")]
    access_key_file: Option<PathBuf>,
    /// The region in the ARNs the server makes.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The account id in the ARNs the server makes.
    #[arg(long, default_value = "123456789012")]
    account: String,
    /// A deploy agent's state folder: the dashboard (at /ui/) then shows its
    /// services, releases and deploy executions.
    #[arg(long, value_name = "DIR")]
    agent_state: Option<PathBuf>,
    /// Let the dashboard roll services and apps back and answer a rollout (approve, promote,
    /// abort); without it those buttons answer 403.
    #[arg(long)]
    dashboard_rollback: bool,
    /// Another name the server answers to (repeatable). Requests are
    /// answered only when their Host is localhost, a loopback address, the
    /// bind address (any IP address when bound to 0.0.0.0 or [::]) or one
    /// of these names: a page whose DNS name is rebound to this server gets
    /// 421.
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// A PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How long a client may take to send a request's head (and a kept-alive
    /// connection may stay idle) before the connection is closed.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    header_timeout: f64,
}

/// How the server meets its clients: names, TLS, time limits.
struct Front {
    hosts: AllowedHosts,
    tls: Option<listen::TlsAcceptor>,
    limits: Limits,
}

fn front(args: &Args) -> anyhow::Result<Front> {
    let hosts = AllowedHosts::new(args.bind.ip(), &args.allowed_hosts)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(listen::tls_acceptor(cert, key)?),
        _ => None,
    };
    let header_read = Duration::try_from_secs_f64(args.header_timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--header-timeout takes a positive number of seconds")?;
    Ok(Front {
        hosts,
        tls,
        limits: Limits {
            header_read,
            ..Limits::default()
        },
    })
}

fn transport(args: &Args, tls: bool) -> windlass_dashboard::Transport {
    if tls {
        windlass_dashboard::Transport::Tls
    } else if args.bind.ip().is_loopback() {
        windlass_dashboard::Transport::Loopback
    } else {
        windlass_dashboard::Transport::Cleartext
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let keys = access_keys(&args)?;
    if keys.is_empty() && !args.bind.ip().is_loopback() {
        bail!(
            "refusing to listen on {} without access keys: give {ACCESS_KEYS_ENV}=ID:SECRET (or --access-key-file), or bind to a loopback address",
            args.bind
        );
    }
    let front = front(&args)?;
    let transport = transport(&args, front.tls.is_some());
    if transport == windlass_dashboard::Transport::Cleartext {
        tracing::warn!(
            "listening on {} without TLS: the dashboard's login is refused (it would send a secret in clear) unless a TLS proxy in front sets X-Forwarded-Proto: https; give --tls-cert and --tls-key",
            args.bind
        );
    }
    let dashboard_config = windlass_dashboard::Config {
        access_keys: keys
            .iter()
            .map(|k| windlass_dashboard::auth::Credential {
                id: k.id.clone(),
                secret: k.secret.clone(),
            })
            .collect(),
        allow_rollback: args.dashboard_rollback,
        transport,
    };
    let deploys = args
        .agent_state
        .as_deref()
        .map(super::dashboard::deploys)
        .transpose()?;
    let config = Config {
        region: args.region.clone(),
        account: args.account.clone(),
        access_keys: keys,
        ..Config::default()
    };
    // Task states call AWS in the server's region unless the SDKs'
    // configuration names one, as Step Functions calls its own region.
    let mut aws = windlass_aws::Config::from_env();
    aws.region.get_or_insert_with(|| args.region.clone());
    let invokers = windlass_server::integrations::invokers_with(aws);
    let clock = Arc::new(SystemClock);
    let (server, store_text, machines) = match store_choice(&args)? {
        StoreChoice::Sqlite(path) => {
            let store = Arc::new(SqliteStore::open(&path, Durability::Full)?);
            (
                Server::new(store.clone(), invokers, clock, config),
                format!("sqlite:{}", path.display()),
                store as Arc<dyn MachineStore>,
            )
        }
        StoreChoice::Postgres(url) => {
            let lease = Duration::try_from_secs_f64(args.lease_seconds)
                .ok()
                .filter(|d| !d.is_zero())
                .context("--lease-seconds takes a positive number of seconds")?;
            let store = Arc::new(PostgresStore::open(&postgres::Config {
                lease,
                ..postgres::Config::new(url)
            })?);
            let text = format!("postgres (owner {}, lease {lease:?})", store.owner());
            (
                Server::new(store.clone(), invokers, clock, config),
                text,
                store as Arc<dyn MachineStore>,
            )
        }
        StoreChoice::Memory => {
            let store = Arc::new(MemoryStore::new());
            (
                Server::new(store.clone(), invokers, clock, config),
                "memory".into(),
                store as Arc<dyn MachineStore>,
            )
        }
    };
    let dashboard = windlass_dashboard::Dashboard::new(
        dashboard_config,
        windlass_dashboard::Sources {
            executions: server.runtime.store().clone(),
            machines: Some(machines),
            deploys,
        },
    );
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(serve(server, dashboard, args.bind, front, store_text))?;
    Ok(exit::OK)
}

async fn serve(
    server: Server,
    dashboard: Arc<windlass_dashboard::Dashboard>,
    bind: SocketAddr,
    front: Front,
    store_text: String,
) -> anyhow::Result<()> {
    let resumed = server
        .runtime
        .recover()
        .await
        .context("cannot resume the stored executions")?;
    let authenticated = !server.config.access_keys.is_empty();
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let address = listener.local_addr()?;
    if authenticated {
        tracing::info!(
            keys = server.config.access_keys.len(),
            "requests must be signed (SigV4) with one of the access keys"
        );
    } else {
        tracing::warn!(
            %address,
            "requests are NOT authenticated (no access keys); allowed because the address is loopback"
        );
    }
    tracing::info!(store = %store_text, resumed, "store open; running executions resumed");
    let scheme = if front.tls.is_some() { "https" } else { "http" };
    // Scripts and tests read the address from this line.
    println!("windlass server listening on {scheme}://{address}");
    tracing::info!(%address, tls = front.tls.is_some(), "listening; dashboard at {scheme}://{address}/ui/");
    let runtime = server.runtime.clone();
    // The services page's charts have history when a page opens: the
    // server samples the proxies' counters itself (with --agent-state).
    let _sampling = windlass_dashboard::services::start_sampling(&dashboard);
    // The dashboard's routes are all under /ui; everything else is the API.
    let router = windlass_dashboard::router(dashboard).merge(app(Arc::new(server)));
    tracing::info!(hosts = %front.hosts, "answering requests whose Host is one of these (--allowed-host adds names)");
    let router = hosts::check(router, front.hosts);
    listen::serve(listener, router, front.tls, front.limits, shutdown()).await;
    tracing::info!("stopped serving");
    // With a shared store, the other servers take over now rather than
    // when the lease runs out; commits still in flight are refused then.
    runtime
        .store()
        .release_lease()
        .context("cannot give up this server's lease")?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
