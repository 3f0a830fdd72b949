//! `windlass approve`, `promote` and `abort`: a person's answer to an app's
//! rollout. Approve and promote let a step waiting at its approval gate (or
//! a deploy held by `--canary`) go on; abort takes the canaries out of
//! service at once and rolls the deploy back. The deploy's own `windlass
//! deploy` follows what happens next (and exits 6 after an abort).

use serde_json::json;
use windlass_deploy::agent::{Decision, GateRequest};

use super::agent::{refused, running, StateArgs};
use super::deploy::who;
use super::which::AppArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    which: AppArgs,
    /// One JSON object on stdout instead of a line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args, decision: Decision) -> anyhow::Result<u8> {
    let app = args.which.named()?.or_else(|| args.which.here());
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let client = running(&args.state)?;
        let request = GateRequest {
            app,
            decision,
            by: who(),
        };
        let answer = match client.gate(&request).await {
            Ok(answer) => answer,
            Err(e) => return refused(e),
        };
        if args.json {
            println!(
                "{}",
                json!({ "app": answer.app, "execution": answer.execution, "answered": answer.answered })
            );
        } else {
            eprintln!("app {}: {}", answer.app, answer.answered);
        }
        Ok(exit::OK)
    })
}
