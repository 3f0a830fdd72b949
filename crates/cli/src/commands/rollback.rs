//! `windlass rollback SERVICE [RELEASE]`: back to the previous release that
//! went live (or the one named). A release whose containers still run is a
//! traffic flip in the proxy; an older retained one is started again from
//! its pinned image first.

use std::time::Instant;

use serde_json::json;
use windlass_deploy::agent::RollbackRequest;
use windlass_engine::Status;

use super::agent::{connect, refused, StateArgs};
use super::deploy::{follow, step_times, who};
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    service: String,
    /// The release to go back to (default: the newest earlier one that went live).
    release: Option<String>,
    /// One JSON object on stdout instead of progress lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let asked = Instant::now();
        let client = connect(&args.state, false).await?;
        let request = RollbackRequest {
            service: args.service.clone(),
            release: args.release.clone(),
            by: who(),
        };
        let started = match client.rollback(&request).await {
            Ok(started) => started,
            Err(e) => return refused(e),
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
