//! `windlass releases [SERVICE]`: a service's releases, or without one
//! every app's releases with the service releases in them, newest first,
//! read from the store (no agent needed). Each release's OUTCOME is its
//! history: what happened to it and when (went live, rolled back to
//! another, retired by a newer deploy, failed, pruned).

use serde_json::json;
use windlass_deploy::agent::database;
use windlass_deploy::compose::origin_of;
use windlass_store::releases::{split_app, Event, Outcome, Releases, SqliteReleases};

use super::agent::StateArgs;
use super::environments;
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
        return Err(super::which::NothingThere(format!(
            "no windlass state at {}: nothing was deployed there",
            db.display()
        ))
        .into());
    }
    let store = SqliteReleases::open(&db)?;
    let Some(service) = &args.service else {
        return apps(&store, &args.which, args.json);
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
                    "history": history_json(&r.history),
                    "rollback_target": r.is_rollback_target(),
                    "rollback_millis": r.rollback_millis,
                    "detail": r.detail,
                    "execution": r.execution,
                    "pruned": r.pruned_millis.map(windlass_engine::format_timestamp),
                    "origin": origin_of(&r.compose_text),
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
        "{:<2} {:<5} {:<25} {:<20} {:<10} {:<19} OUTCOME",
        "", "ID", "CREATED", "BY", "ROLLBACK", "DIGEST"
    );
    for r in &releases {
        let is_live = live.as_deref() == Some(r.id.as_str());
        let marker = if is_live { "*" } else { "" };
        let digest = r.digest.as_deref().unwrap_or("-");
        let digest = digest.rsplit(':').next().unwrap_or(digest);
        println!(
            "{:<2} {:<5} {:<25} {:<20} {:<10} {:<19} {}",
            marker,
            r.id,
            windlass_engine::format_timestamp(r.created_millis),
            r.by,
            r.rollback_millis
                .map_or_else(|| "-".into(), |ms| format!("{ms} ms")),
            &digest[..digest.len().min(19)],
            outcome_text(r.outcome, &r.history)
        );
        let note = match (r.pruned_millis, r.detail.as_deref()) {
            (Some(_), Some(detail)) => format!("{detail} (pruned: cannot be rolled back to)"),
            (Some(_), None) => "pruned: cannot be rolled back to".into(),
            (None, detail) => detail.unwrap_or_default().to_string(),
        };
        if !note.is_empty() {
            println!("{:<2} {:<5} {}", "", "", first_line(&note));
        }
        if let Some(origin) = origin_of(&r.compose_text) {
            if let Some(image) = origin.services.get(service.service()) {
                println!(
                    "{:<2} {:<5} {}",
                    "",
                    "",
                    environments::came_from(&origin, image)
                );
            }
        }
    }
    Ok(exit::OK)
}

/// A detail of several lines (a failed container's last output) as one
/// table row: its first line, and how to see the rest.
fn first_line(detail: &str) -> String {
    match detail.split_once('\n') {
        None => detail.to_owned(),
        Some((first, rest)) => {
            let more = rest.lines().count();
            format!("{first} ({more} more line(s): --json has them all)")
        }
    }
}

/// A release's history as its OUTCOME: each event with its time, the date
/// written when it changes (`went live 2026-12-07 08:00:30, retired by r2
/// 08:01:10`); its one-word state when nothing happened yet (`deploying`).
fn outcome_text(outcome: Outcome, history: &[Event]) -> String {
    if history.is_empty() {
        return outcome.as_str().to_owned();
    }
    let mut day = String::new();
    let mut parts = Vec::new();
    for event in history {
        let mut part = event.words();
        if let Some(at) = event.at_millis {
            let stamp = windlass_engine::format_timestamp(at);
            let (date, time) = stamp.split_once('T').unwrap_or((&stamp, ""));
            let time = time.split('.').next().unwrap_or(time);
            if date == day {
                part = format!("{part} {time}");
            } else {
                part = format!("{part} {date} {time}");
                day = date.to_owned();
            }
        }
        parts.push(part);
    }
    parts.join(", ")
}

/// A history for `--json`: each event with its time as a timestamp (`at`),
/// absent when it was not recorded.
fn history_json(history: &[Event]) -> serde_json::Value {
    history
        .iter()
        .map(|event| {
            let mut value = serde_json::to_value(event).unwrap_or_default();
            if let (Some(object), Some(at)) = (value.as_object_mut(), event.at_millis) {
                object.insert("at".into(), windlass_engine::format_timestamp(at).into());
            }
            value
        })
        .collect()
}

/// Every app's releases, newest first, with each service's release in it;
/// the app release that serves and the one an app rollback goes to are the
/// store's rule ([`Releases::app_state`]), the dashboard's too.
fn apps(store: &SqliteReleases, which: &AppArgs, json: bool) -> anyhow::Result<u8> {
    let mut all = Vec::new();
    let apps = store.apps()?;
    if let Some(why) = environments::none_shown(&apps, which) {
        crate::failure::say!("{why}");
        return Ok(exit::REFUSED);
    }
    let shown = environments::shown(apps, which);
    for app in &shown {
        let app = app.as_str();
        let state = store.app_state(app)?;
        for release in store.app_releases(app)? {
            let is_live = state.live.as_ref() == Some(&release.id);
            let is_target = state.rollback_target.as_ref() == Some(&release.id);
            all.push((release, is_live, is_target));
        }
    }
    if json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|(release, is_live, is_target)| {
                let mut row = serde_json::to_value(release).unwrap_or_default();
                if let Some(object) = row.as_object_mut() {
                    object.insert("history".into(), history_json(&release.history));
                    object.insert("live".into(), (*is_live).into());
                    object.insert("rollback_target".into(), (*is_target).into());
                    object.insert("environment".into(), split_app(&release.app).1.into());
                    object.insert(
                        "origin".into(),
                        serde_json::to_value(environments::app_origin(store, release))
                            .unwrap_or_default(),
                    );
                }
                row
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
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
    // As wide as the longest app name (`shop.production`), 12 at least.
    let w = all
        .iter()
        .map(|(r, _, _)| r.app.len())
        .max()
        .unwrap_or(0)
        .max(12);
    println!(
        "{:<2} {:<w$} {:<5} {:<25} {:<20} {:<40} OUTCOME",
        "", "APP", "ID", "CREATED", "BY", "SERVICES"
    );
    for (r, is_live, is_target) in &all {
        let marker = match (is_live, is_target) {
            (true, _) => "*",
            (_, true) => "<",
            _ => "",
        };
        let services: Vec<String> = r
            .services
            .iter()
            .map(|m| {
                let mark = if m.changed { "" } else { " (kept)" };
                format!("{} {}{mark}", m.service, m.release)
            })
            .collect();
        println!(
            "{:<2} {:<w$} {:<5} {:<25} {:<20} {:<40} {}",
            marker,
            r.app,
            r.id,
            windlass_engine::format_timestamp(r.created_millis),
            r.by,
            services.join(", "),
            outcome_text(r.outcome, &r.history)
        );
        if let Some(detail) = &r.detail {
            println!("{:<2} {:<w$} {:<5} {}", "", "", "", first_line(detail));
        }
        if let Some(origin) = environments::app_origin(store, r) {
            let from = origin
                .app_release
                .as_deref()
                .map(|a| format!(" release {a}"))
                .unwrap_or_default();
            println!(
                "{:<2} {:<w$} {:<5} promoted from {}{from} (same image digests)",
                "", "", "", origin.environment
            );
        }
    }
    println!("(* serves now, < an app rollback goes back to it)");
    environments::side_by_side(store, &shown)?;
    Ok(exit::OK)
}
