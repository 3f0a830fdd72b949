//! `windlass status`: what each service serves. From the agent when it
//! runs (with live traffic counters), else from the store. A service whose
//! live release a Swarm deploy made is served by windlass's entry point on
//! the Swarm's managers: no local agent is needed for it.

use windlass_deploy::agent::contract::{ServiceStatus, StatusView};
use windlass_deploy::agent::database;
use windlass_deploy::agent::machines::Place;
use windlass_store::releases::{Environment, Releases, ServiceKey, SqliteReleases};

use super::agent::{connect, StateArgs};
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// A JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// An ECS service (its Compose name or `ecs/CLUSTER/SERVICE`): its
    /// deployments as ECS reports them.
    #[arg(long, value_name = "SERVICE")]
    ecs: Option<String>,
    /// Only this app's services (default: every app's).
    #[arg(long, value_name = "APP")]
    app: Option<String>,
    /// Only this environment's services (with --app, that app's in it).
    #[arg(long = "env", value_name = "ENV")]
    env: Option<Environment>,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Some(service) = &args.ecs {
        return super::ecs::status(service, &args.state);
    }
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let from_agent: Option<StatusView> = tokio.block_on(async {
        let client = connect(&args.state, false).await.ok()?;
        client.status().await.ok()
    });
    let mut status = match from_agent {
        Some(status) => status,
        None => from_store(&args.state)?,
    };
    let apps: Vec<String> = status
        .services
        .iter()
        .map(|s| s.service.app().to_owned())
        .collect();
    let which = super::which::AppArgs {
        app: args.app.clone(),
        files: Vec::new(),
        env: args.env.clone(),
    };
    if let Some(why) = super::environments::none_shown(&apps, &which) {
        crate::failure::say!("{why}");
        return Ok(exit::REFUSED);
    }
    match (&args.app, &args.env) {
        (Some(app), Some(env)) => status.services.retain(|s| s.service.app() == env.app(app)),
        (Some(app), None) => status.services.retain(|s| s.service.app() == app),
        (None, Some(env)) => status
            .services
            .retain(|s| s.service.environment() == Some(env.as_str())),
        (None, None) => {}
    }
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
        return Ok(exit::OK);
    }
    let swarm = on_swarm(&args.state, &status.services);
    let docker = status
        .services
        .iter()
        .any(|s| !s.service.is_ecs() && !swarm.contains(&s.service));
    match status.pid {
        Some(pid) => println!("agent: running (pid {pid})"),
        None if docker => println!(
            "agent: not running: no Docker service takes traffic until `windlass agent` runs (ECS serves its services' traffic itself)"
        ),
        None if !swarm.is_empty() => println!(
            "agent: not running (not needed: windlass's entry point on the Swarm's managers serves its {} service(s); ECS serves its own)",
            swarm.len()
        ),
        None if !status.services.is_empty() => {
            println!("agent: not running (not needed: ECS serves its services' traffic itself)")
        }
        None => println!("agent: not running"),
    }
    if status.services.is_empty() {
        println!("no service is deployed");
    }
    let rows: Vec<Vec<String>> = status
        .services
        .iter()
        .map(|s| row(s, swarm.contains(&s.service)))
        .collect();
    if !rows.is_empty() {
        let header = [
            "SERVICE",
            "LISTENS ON",
            "LIVE",
            "UPSTREAMS",
            "REQUESTS",
            "5XX",
            "NOTE",
        ];
        for line in super::table::lines(&header, &rows) {
            println!("{line}");
        }
    }
    Ok(exit::OK)
}

/// The services whose live release a Swarm execution deployed (its state
/// machine says so).
fn on_swarm(state: &StateArgs, services: &[ServiceStatus]) -> Vec<ServiceKey> {
    let db = database(&state.dir());
    if !db.exists() {
        return Vec::new();
    }
    let Ok(store) = SqliteReleases::open(&db) else {
        return Vec::new();
    };
    services
        .iter()
        .filter(|s| !s.service.is_ecs())
        .filter(|s| {
            let Some(live) = &s.live else { return false };
            store
                .get(&s.service, live)
                .ok()
                .flatten()
                .and_then(|r| r.execution)
                .is_some_and(|arn| Place::Swarm.owns(&arn))
        })
        .map(|s| s.service.clone())
        .collect()
}

/// What the store says is live, when no agent runs.
fn from_store(state: &StateArgs) -> anyhow::Result<StatusView> {
    super::agent::refuse_others_state(&state.dir())?;
    let db = database(&state.dir());
    let mut services = Vec::new();
    if db.exists() {
        let store = SqliteReleases::open(&db)?;
        for live in store.all_live()? {
            services.push(ServiceStatus {
                lock: store.lock_of(&live.service)?,
                address: live.listening(),
                upstreams: live.upstream_lines(),
                service: live.service,
                live: Some(live.release),
                traffic: None,
            });
        }
    }
    Ok(StatusView {
        pid: None,
        services,
        build: None,
        supervised: false,
    })
}

/// One service's row: its proxy's addresses (every published port), the
/// live release, its upstreams, the proxy's counters since it started.
fn row(s: &ServiceStatus, on_swarm: bool) -> Vec<String> {
    let count = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let mut note = Vec::new();
    if on_swarm {
        note.push("on the Swarm".to_owned());
    }
    if let Some(lock) = &s.lock {
        note.push(format!("deploying: {}", lock.holder));
    }
    vec![
        s.service.to_string(),
        s.address.clone().unwrap_or_else(|| "(no proxy)".to_owned()),
        s.live.clone().unwrap_or_else(|| "-".to_owned()),
        if s.upstreams.is_empty() {
            "-".to_owned()
        } else {
            s.upstreams.join(",")
        },
        count(s.traffic.map(|t| t.requests)),
        count(s.traffic.map(|t| t.server_errors)),
        note.join("; "),
    ]
}
