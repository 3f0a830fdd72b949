//! `windlass server`: the Step Functions-compatible API on a TCP port.
//!
//! State lives in a SQLite file (in `--data-dir`, or `--store sqlite:PATH`);
//! executions that were running when the server stopped resume when it
//! starts again. With `--store postgres://...` several servers share one
//! PostgreSQL database and take over the executions of a server that dies.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use windlass_runtime::SystemClock;
use windlass_server::sigv4::AccessKey;
use windlass_server::{app, Config, Server};
use windlass_store::machines::MachineStore;
use windlass_store::memory::MemoryStore;
use windlass_store::postgres::{self, PostgresStore};
use windlass_store::sqlite::{Durability, SqliteStore};

use crate::exit;

/// Where access keys come from when not given with --access-key: `ID:SECRET[,ID:SECRET...]`.
const ACCESS_KEYS_ENV: &str = "WINDLASS_ACCESS_KEYS";

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
    #[arg(long)]
    store: Option<String>,
    /// With a PostgreSQL store: how long after this server's last sign of
    /// life another server takes its executions over.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    lease_seconds: f64,
    /// An access key requests must be signed with, as ID:SECRET (repeatable; or WINDLASS_ACCESS_KEYS).
    /// Without any, requests are not checked, which is allowed on a loopback address only.
    #[arg(long = "access-key", value_name = "ID:SECRET")]
    access_keys: Vec<AccessKey>,
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
    /// Let the dashboard roll services and apps back (without it the page's rollback answers 403).
    #[arg(long)]
    dashboard_rollback: bool,
}

enum StoreChoice {
    Sqlite(PathBuf),
    Postgres(String),
    Memory,
}

fn store_choice(args: &Args) -> anyhow::Result<StoreChoice> {
    match args.store.as_deref() {
        Some("memory") => Ok(StoreChoice::Memory),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(StoreChoice::Postgres(url.to_string()))
        }
        Some(spec) => match spec.strip_prefix("sqlite:") {
            Some(path) if !path.is_empty() => Ok(StoreChoice::Sqlite(PathBuf::from(path))),
            _ => bail!("--store takes sqlite:PATH, postgres://... or memory, not '{spec}'"),
        },
        None => {
            let dir = args
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("windlass-data"));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
            Ok(StoreChoice::Sqlite(dir.join("windlass.db")))
        }
    }
}

fn access_keys(args: &Args) -> anyhow::Result<Vec<AccessKey>> {
    if !args.access_keys.is_empty() {
        return Ok(args.access_keys.clone());
    }
    let Ok(text) = std::env::var(ACCESS_KEYS_ENV) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .filter(|k| !k.trim().is_empty())
        .map(|k| {
            k.trim()
                .parse::<AccessKey>()
                .map_err(|e| anyhow::anyhow!("{ACCESS_KEYS_ENV}: {e}"))
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let keys = access_keys(&args)?;
    if keys.is_empty() && !args.bind.ip().is_loopback() {
        bail!(
            "refusing to listen on {} without access keys: give --access-key ID:SECRET (or {ACCESS_KEYS_ENV}), or bind to a loopback address",
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
    tokio.block_on(serve(server, dashboard, args.bind, store_text))?;
    Ok(exit::OK)
}

async fn serve(
    server: Server,
    dashboard: Arc<windlass_dashboard::Dashboard>,
    bind: SocketAddr,
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
        eprintln!(
            "windlass: requests must be signed (SigV4) with one of {} access key(s)",
            server.config.access_keys.len()
        );
    } else {
        eprintln!("windlass: requests are NOT authenticated (no access keys); allowed because {address} is a loopback address");
    }
    eprintln!("windlass: store {store_text}; {resumed} running execution(s) resumed");
    // Scripts and tests read the address from this line.
    println!("windlass server listening on http://{address}");
    eprintln!("windlass: dashboard at http://{address}/ui/");
    let runtime = server.runtime.clone();
    // The services page's charts have history when a page opens: the
    // server samples the proxies' counters itself (with --agent-state).
    let _sampling = windlass_dashboard::services::start_sampling(&dashboard);
    // The dashboard's routes are all under /ui; everything else is the API.
    let router = windlass_dashboard::router(dashboard).merge(app(Arc::new(server)));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown())
        .await
        .context("the server failed")?;
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
