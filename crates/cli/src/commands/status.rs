//! `windlass status`: what each service serves. From the agent when it
//! runs (with live traffic counters), else from the store.

use serde_json::{json, Value as Json};
use windlass_deploy::agent::database;
use windlass_store::releases::{Releases, SqliteReleases};

use super::agent::{connect, StateArgs};
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// A JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let from_agent: Option<Json> = tokio.block_on(async {
        let client = connect(&args.state, false).await.ok()?;
        client.get("/v1/status").await.ok()
    });
    let status = match from_agent {
        Some(status) => status,
        None => {
            let db = database(&args.state.dir());
            let mut services = Vec::new();
            if db.exists() {
                let store = SqliteReleases::open(&db)?;
                for live in store.all_live()? {
                    services.push(json!({
                        "service": live.service,
                        "address": live.address,
                        "live": live.release,
                        "upstreams": live.upstreams,
                        "lock": store.lock_of(&live.service)?,
                    }));
                }
            }
            json!({ "pid": null, "services": services })
        }
    };
    if args.json {
        println!("{status}");
        return Ok(exit::OK);
    }
    match status["pid"].as_u64() {
        Some(pid) => println!("agent: running (pid {pid})"),
        None => {
            println!("agent: not running: no service takes traffic until `windlass agent` runs")
        }
    }
    let services = status["services"].as_array().cloned().unwrap_or_default();
    if services.is_empty() {
        println!("no service is deployed");
    }
    for s in services {
        let deploying = s["lock"]["holder"]
            .as_str()
            .map_or_else(String::new, |h| format!("; deploying: {h}"));
        println!(
            "{:<16} {:<22} live {:<6} upstreams {}  requests {} 5xx {}{}",
            s["service"].as_str().unwrap_or_default(),
            match s["address"].as_str().unwrap_or_default() {
                "" => "(no proxy)",
                address => address,
            },
            s["live"].as_str().unwrap_or("-"),
            s["upstreams"]
                .as_array()
                .map(|u| u
                    .iter()
                    .filter_map(Json::as_str)
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default(),
            s["requests"].as_u64().map_or("-".into(), |n| n.to_string()),
            s["server_errors"]
                .as_u64()
                .map_or("-".into(), |n| n.to_string()),
            deploying
        );
    }
    Ok(exit::OK)
}
