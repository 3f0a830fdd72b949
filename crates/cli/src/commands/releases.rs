//! `windlass releases SERVICE`: a service's releases, newest first, read
//! from the store (no agent needed).

use serde_json::json;
use windlass_deploy::agent::database;
use windlass_store::releases::{Releases, SqliteReleases};

use super::agent::StateArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    service: String,
    /// A JSON array on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let db = database(&args.state.dir());
    if !db.exists() {
        anyhow::bail!(
            "no windlass state at {}: nothing was deployed there",
            db.display()
        );
    }
    let store = SqliteReleases::open(&db)?;
    let live = store.live(&args.service)?.map(|l| l.release);
    let releases = store.list(&args.service)?;
    if args.json {
        let rows: Vec<_> = releases
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "live": live.as_deref() == Some(r.id.as_str()),
                    "image": r.image,
                    "digest": r.digest,
                    "created": windlass_engine::format_timestamp(r.created_millis),
                    "by": r.by,
                    "outcome": r.outcome.as_str(),
                    "rollback_millis": r.rollback_millis,
                    "detail": r.detail,
                    "execution": r.execution,
                    "pruned": r.pruned_millis.map(windlass_engine::format_timestamp),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(exit::OK);
    }
    if releases.is_empty() {
        eprintln!("service {} has no releases", args.service);
        return Ok(exit::OK);
    }
    println!(
        "{:<4} {:<6} {:<12} {:<25} {:<20} {:<10} {:<20} DETAIL",
        "", "ID", "OUTCOME", "WHEN", "BY", "ROLLBACK", "DIGEST"
    );
    for r in &releases {
        let marker = if live.as_deref() == Some(r.id.as_str()) {
            "*"
        } else {
            ""
        };
        let digest = r.digest.as_deref().unwrap_or("-");
        let digest = digest.rsplit(':').next().unwrap_or(digest);
        println!(
            "{:<4} {:<6} {:<12} {:<25} {:<20} {:<10} {:<20} {}",
            marker,
            r.id,
            r.outcome.as_str(),
            windlass_engine::format_timestamp(r.created_millis),
            r.by,
            r.rollback_millis
                .map_or_else(|| "-".into(), |ms| format!("{ms} ms")),
            &digest[..digest.len().min(19)],
            match (r.pruned_millis, r.detail.as_deref()) {
                (Some(_), Some(detail)) => format!("{detail} (pruned: cannot be rolled back to)"),
                (Some(_), None) => "pruned: cannot be rolled back to".into(),
                (None, detail) => detail.unwrap_or_default().to_string(),
            }
        );
    }
    Ok(exit::OK)
}
