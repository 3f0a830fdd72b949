//! `windlass rollback [SERVICE [RELEASE]]`: one service back to its
//! previous release that went live (or the one named), or, without a
//! service, the whole app back to its previous app release (or `--to`). A
//! release whose containers still run is a traffic flip in the proxy; an
//! older retained one is started again from its pinned image first.

use std::time::Instant;

use serde_json::json;
use windlass_deploy::agent::{RollbackRequest, Started};
use windlass_deploy::compose::Target;
use windlass_engine::Status;

use super::agent::{refused, running, StateArgs};
use super::deploy::{follow, step_times, who};
use super::which::AppArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The service to roll back (SERVICE of the app meant, or APP/SERVICE);
    /// without one, the whole app.
    service: Option<String>,
    /// The service's release to go back to (default: the newest earlier one
    /// that went live).
    release: Option<String>,
    /// The app whose SERVICE, or which app (without SERVICE), to roll back.
    /// Default: the app of `-f`, else of the Compose file in this folder;
    /// for a SERVICE only one app has, that app; without SERVICE, the only
    /// app deployed.
    #[arg(long)]
    app: Option<String>,
    /// The app release to go back to (without SERVICE), such as `a2`.
    #[arg(long, value_name = "APP_RELEASE", conflicts_with = "service")]
    to: Option<String>,
    /// The Compose file whose app (or app's SERVICE) to roll back.
    #[arg(short = 'f', long = "file")]
    file: Option<std::path::PathBuf>,
    /// The environment whose app (APP.ENV) to roll back, as `deploy --env
    /// ENV` deployed it.
    #[arg(long = "env", value_name = "ENV")]
    env: Option<windlass_store::releases::Environment>,
    /// One JSON object on stdout instead of progress lines.
    #[arg(long)]
    json: bool,
    /// `ecs`: SERVICE is an ECS service (its Compose name or
    /// `ecs/CLUSTER/SERVICE`), put back on RELEASE's task definition revision;
    /// `swarm`: the app (or SERVICE) on the Docker Swarm `DOCKER_HOST` names.
    #[arg(long, value_name = "TARGET", value_enum)]
    target: Option<Target>,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    // A name only ECS has is an ECS service: no agent is involved.
    let plain =
        args.target.is_none() && args.app.is_none() && args.file.is_none() && args.env.is_none();
    if let Some(key) = args
        .service
        .as_deref()
        .filter(|_| plain)
        .map(|s| super::ecs::only_on_ecs(&args.state, s))
        .transpose()?
        .flatten()
    {
        return super::ecs::rollback(&key.to_string(), args.release.as_deref(), &args.state);
    }
    // The whole app on ECS: each of its services back, one after another.
    if args.service.is_none()
        && args.to.is_none()
        && (args.target == Some(Target::Ecs)
            || (plain && !super::ecs::ecs_only(&args.state)?.is_empty()))
    {
        // The app's file (given, or found here) says which ECS services are
        // the app's; it is read only for their names and `x-windlass.ecs`
        // (what ECS refuses of it was refused by its deploy).
        let compose = super::compose_files::ComposeArgs {
            files: args.file.iter().cloned().collect(),
            profiles: Vec::new(),
            env: args.env.clone(),
        };
        let pinned = match compose.chosen() {
            Ok(_) => match compose.pin(None) {
                Ok(pinned) => Some(pinned),
                Err(code) => return Ok(code),
            },
            Err(_) if args.file.is_none() => None,
            Err(e) => {
                crate::failure::say!("{e}");
                return Ok(exit::INVALID);
            }
        };
        return super::ecs::rollback_all(pinned.as_ref(), &args.state);
    }
    if let Some(service) = args
        .service
        .as_deref()
        .filter(|s| args.target == Some(Target::Ecs) || s.starts_with("ecs/"))
    {
        return super::ecs::rollback(service, args.release.as_deref(), &args.state);
    }
    if args.target == Some(Target::Swarm) {
        let request = request_of(&args)?;
        return super::swarm::rollback(request, &args.state, args.json);
    }
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let asked = Instant::now();
        let client = running(&args.state)?;
        let request = request_of(&args)?;
        let started = match client.rollback(&request).await {
            Ok(started) => started,
            Err(e) => return refused(e),
        };
        let Some(first) = started.first() else {
            anyhow::bail!("the agent started no rollback");
        };
        let started = match (&first.app, &first.app_release) {
            (Some(app), Some(to)) if args.service.is_none() => Started {
                service: format!("app {app}"),
                release: to.clone(),
                previous: Some(
                    started
                        .iter()
                        .map(|s| format!("{} {}", s.service, s.previous.as_deref().unwrap_or("none")))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                ..first.clone()
            },
            // One service: named with its app.
            (Some(app), _) => Started {
                service: format!("{app}/{}", first.service),
                ..first.clone()
            },
            _ => first.clone(),
        };
        if !args.json {
            eprintln!(
                "rolling {} back from {} to {}; execution {}",
                started.service,
                started.previous.as_deref().unwrap_or("none"),
                started.release,
                started.execution
            );
        }
        let view = follow(&client, &started.execution, !args.json).await?;
        let ok = view.status == Status::Succeeded;
        if args.json {
            println!(
                "{}",
                json!({
                    "service": started.service,
                    "release": started.release,
                    "from": started.previous,
                    "execution": started.execution,
                    "status": view.status.as_str(),
                    "error": view.error,
                    "cause": view.cause,
                    "millis": asked.elapsed().as_millis() as u64,
                    "steps": step_times(&view).into_iter().map(|(s, ms)| json!({"state": s, "millis": ms})).collect::<Vec<_>>(),
                })
            );
        } else if ok {
            eprintln!(
                "{} release {} is live again ({} ms)",
                started.service,
                started.release,
                asked.elapsed().as_millis()
            );
        } else {
            eprintln!(
                "the rollback failed ({}): {}; {} still serves",
                view.error.as_deref().unwrap_or(view.status.as_str()),
                view.cause.as_deref().unwrap_or("unknown"),
                started.previous.as_deref().unwrap_or("no release")
            );
        }
        Ok(if ok { exit::OK } else { exit::FAILED })
    })
}

/// What the command asks the agent: which service or app, to which release.
fn request_of(args: &Args) -> anyhow::Result<RollbackRequest> {
    let which = AppArgs {
        app: args.app.clone(),
        files: args.file.iter().cloned().collect(),
        env: args.env.clone(),
    };
    let named = which.named()?;
    let here = if named.is_none() { which.here() } else { None };
    let request = match &args.service {
        // A bare name prefers the folder's app if it has the service.
        Some(_) => RollbackRequest {
            service: args.service.clone(),
            app: named,
            here,
            release: args.release.clone(),
            by: who(),
        },
        // The whole app: the one named, else the folder's.
        None => RollbackRequest {
            service: None,
            app: named.or(here),
            here: None,
            release: args.release.clone().or_else(|| args.to.clone()),
            by: who(),
        },
    };
    Ok(request)
}
