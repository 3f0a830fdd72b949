//! `windlass approve`, `promote` and `abort`: a person's answer to an app's
//! rollout. Approve and promote let a step waiting at its approval gate (or
//! a deploy held by `--canary`) go on, and end a step's bake early; abort
//! takes the canaries out of service and rolls the deploy back, at once
//! during a bake too. The deploy's own `windlass
//! deploy` follows what happens next (and exits 6 after an abort). A Swarm
//! deploy runs in its `windlass deploy` process, which answers on the
//! state folder's Swarm gate socket while it runs; that socket is asked
//! first, the agent otherwise.

use serde_json::json;
use windlass_deploy::agent::api::Client;
use windlass_deploy::agent::contract::ErrorKind;
use windlass_deploy::agent::{swarm_gate_file, Decision, GateRequest};

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
        let request = GateRequest {
            app,
            decision,
            by: who(),
        };
        let swarm = swarm_gate_file(&args.state.dir());
        let on_swarm = match swarm.symlink_metadata() {
            Ok(_) => match Client::new(swarm).gate(&request).await {
                // A socket left by a Swarm deploy that died answers nothing.
                Err(e) if e.kind() == ErrorKind::Internal => None,
                answered => Some(answered),
            },
            Err(_) => None,
        };
        let answered = match on_swarm {
            Some(answered) => answered,
            None => running(&args.state)?.gate(&request).await,
        };
        let answer = match answered {
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
