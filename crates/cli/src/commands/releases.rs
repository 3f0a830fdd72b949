//! `windlass releases [SERVICE]`: a service's releases, or without one
//! every app's releases with the service releases in them, newest first,
//! read from the store (no agent needed).

use serde_json::json;
use windlass_deploy::agent::database;
use windlass_store::releases::{Outcome, Releases, SqliteReleases};

use super::agent::StateArgs;
use super::which::AppArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The service (SERVICE of the app meant, or APP/SERVICE); without one,
    /// the apps' releases.
    service: Option<String>,
    #[command(flatten)]
    which: AppArgs,
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
    let Some(service) = &args.service else {
        return apps(&store, args.json);
    };
    let service = &match args.which.key(&store, service) {
        Ok(key) => key,
        // A name that only an ECS service has: that service.
        Err(e) => match super::ecs::key_of(&store, service) {
            Ok(key) => key,
            Err(_) => return Err(e),
        },
    };
    let live = store.live(service)?.map(|l| l.release);
    let releases = store.list(service)?;
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
        eprintln!("service {service} has no releases");
        return Ok(exit::OK);
    }
    println!(
        "{:<4} {:<6} {:<12} {:<25} {:<20} {:<10} {:<20} DETAIL",
        "", "ID", "OUTCOME", "WHEN", "BY", "ROLLBACK", "DIGEST"
    );
    for r in &releases {
        let is_live = live.as_deref() == Some(r.id.as_str());
        let marker = if is_live { "*" } else { "" };
        let digest = r.digest.as_deref().unwrap_or("-");
        let digest = digest.rsplit(':').next().unwrap_or(digest);
        println!(
            "{:<4} {:<6} {:<12} {:<25} {:<20} {:<10} {:<20} {}",
            marker,
            r.id,
            shown_outcome(r.outcome, is_live),
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

/// A release recorded live that no longer is was replaced by a later one.
fn shown_outcome(outcome: Outcome, is_live: bool) -> &'static str {
    match outcome {
        Outcome::Live if !is_live => "replaced",
        other => other.as_str(),
    }
}

/// Every app's releases, newest first, with each service's release in it.
fn apps(store: &SqliteReleases, json: bool) -> anyhow::Result<u8> {
    let mut all = Vec::new();
    for app in store.apps()? {
        all.extend(store.app_releases(&app)?);
    }
    if json {
        println!("{}", serde_json::to_string(&all)?);
        return Ok(exit::OK);
    }
    // ECS services are no app's: each is listed with its live release.
    let ecs: Vec<_> = store.keys()?.into_iter().filter(|k| k.is_ecs()).collect();
    for key in &ecs {
        let count = store.list(key)?.len();
        let live = store.live(key)?.map(|l| l.release);
        println!(
            "{key}: ECS service, {count} release(s), live {}; `windlass releases {}` lists them",
            live.as_deref().unwrap_or("none"),
            key.service()
        );
    }
    if all.is_empty() {
        if ecs.is_empty() {
            eprintln!(
                "no app was deployed; `windlass releases SERVICE` shows one service's releases"
            );
        }
        return Ok(exit::OK);
    }
    println!(
        "{:<12} {:<5} {:<12} {:<25} {:<20} SERVICES",
        "APP", "ID", "OUTCOME", "WHEN", "BY"
    );
    let mut seen_live = std::collections::BTreeSet::new();
    for r in &all {
        // The newest live release of an app is its live one.
        let is_live = r.outcome == Outcome::Live && seen_live.insert(r.app.clone());
        let services: Vec<String> = r
            .services
            .iter()
            .map(|m| {
                let mark = if m.changed { "" } else { " (kept)" };
                format!("{} {}{mark}", m.service, m.release)
            })
            .collect();
        println!(
            "{:<12} {:<5} {:<12} {:<25} {:<20} {}",
            r.app,
            r.id,
            shown_outcome(r.outcome, is_live),
            windlass_engine::format_timestamp(r.created_millis),
            r.by,
            services.join(", ")
        );
        if let Some(detail) = &r.detail {
            println!("{:<12} {:<5} {detail}", "", "");
        }
    }
    Ok(exit::OK)
}
