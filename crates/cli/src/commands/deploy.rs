//! `windlass deploy [-f compose.yaml] [SERVICE...]`: checks the Compose
//! file, asks the agent to deploy each service as an ASL execution, and
//! follows it step by step. Exit 0 only when every new release is live;
//! [`exit::ROLLED_BACK`] when one was rolled back.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value as Json};
use windlass_deploy::agent::api::Client;
use windlass_deploy::agent::contract::{Progress, ProgressKind};
use windlass_deploy::agent::{DeployRequest, ExecutionView, Started};
use windlass_deploy::workflow::{errors, DEPLOY_DEFINITION};
use windlass_engine::Status;

use super::agent::{connect, refused, StateArgs};
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The Compose file.
    #[arg(short = 'f', long = "file", default_value = "compose.yaml")]
    file: PathBuf,
    /// Services to deploy (default: all of the file's).
    services: Vec<String>,
    /// Print the built-in deploy definition (ASL) and exit.
    #[arg(long)]
    show_definition: bool,
    /// Deploy with this ASL definition instead of the built-in one; its Task
    /// states call the arn:windlass:::deploy:* resources.
    #[arg(long, value_name = "FILE")]
    definition: Option<PathBuf>,
    /// One JSON object per service on stdout instead of progress lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if args.show_definition {
        println!("{}", DEPLOY_DEFINITION.trim_end());
        return Ok(exit::OK);
    }
    // A bad file stops here, before anything is asked of the agent.
    let project = match windlass_deploy::compose::load(&args.file) {
        Ok(project) => project,
        Err(e) => {
            eprintln!("windlass: {e}");
            return Ok(exit::INVALID);
        }
    };
    for service in &args.services {
        if !project.services.contains_key(service) {
            let known: Vec<_> = project.services.keys().cloned().collect();
            eprintln!(
                "windlass: {} has no service {service}; it has {}",
                args.file.display(),
                known.join(", ")
            );
            return Ok(exit::INVALID);
        }
    }
    let definition = match &args.definition {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => None,
    };
    let compose_file = std::fs::canonicalize(&args.file).unwrap_or(args.file.clone());
    let request = DeployRequest {
        compose_file: compose_file.display().to_string(),
        compose_text: std::fs::read_to_string(&args.file)?,
        services: args.services.clone(),
        by: who(),
        definition,
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let client = connect(&args.state, true).await?;
        let started: Vec<Started> = match client.deploy(&request).await {
            Ok(started) => started,
            Err(e) => return refused(e),
        };
        let mut code = exit::OK;
        for one in started {
            if !args.json {
                eprintln!(
                    "deploying {} release {} (live now: {}); execution {}",
                    one.service,
                    one.release,
                    one.previous.as_deref().unwrap_or("none"),
                    one.execution
                );
            }
            let view = follow(&client, &one.execution, !args.json).await?;
            let (outcome, this) = judge(&view);
            code = code.max(this);
            if args.json {
                println!("{}", summary(&one, &view, outcome));
            } else {
                report(&one, &view, outcome);
            }
        }
        Ok(code)
    })
}

/// Who deploys: `$USER@hostname`.
pub fn who() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// Polls the execution until it ends, printing each step as it goes when
/// `progress`; returns the whole history.
pub async fn follow(client: &Client, arn: &str, progress: bool) -> anyhow::Result<ExecutionView> {
    let mut after = 0u64;
    let mut all = Vec::new();
    let mut entered: Option<(String, i64)> = None;
    loop {
        let view = client.execution(arn, after).await?;
        for event in &view.events {
            after = event.id;
            if progress {
                print_step(event, &mut entered);
            }
        }
        all.extend(view.events.iter().cloned());
        if view.status != Status::Running {
            return Ok(ExecutionView {
                events: all,
                ..view
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_step(event: &Progress, entered: &mut Option<(String, i64)>) {
    match &event.kind {
        ProgressKind::Entered { state } => {
            eprintln!("  → {state}");
            *entered = Some((state.clone(), event.timestamp_millis));
        }
        ProgressKind::TaskFailed { error, cause } => eprintln!("    ✗ {error}: {cause}"),
        ProgressKind::Exited { .. } => {
            if let Some((state, since)) = entered.take() {
                eprintln!("  ✓ {state} ({} ms)", event.timestamp_millis - since);
            }
        }
        ProgressKind::Ended { .. } | ProgressKind::Other { .. } => {}
    }
}

/// `live`, `rolled-back` or `failed`, with the exit code it means.
pub fn judge(view: &ExecutionView) -> (&'static str, u8) {
    match (view.status, view.error.as_deref()) {
        (Status::Succeeded, _) => ("live", exit::OK),
        (_, Some(errors::ROLLED_BACK)) => ("rolled-back", exit::ROLLED_BACK),
        _ => ("failed", exit::FAILED),
    }
}

/// Milliseconds spent in each state, in order.
pub fn step_times(view: &ExecutionView) -> Vec<(String, i64)> {
    let mut entered: Option<(String, i64)> = None;
    let mut steps = Vec::new();
    for event in &view.events {
        let at = event.timestamp_millis;
        match &event.kind {
            ProgressKind::Entered { state } => entered = Some((state.clone(), at)),
            ProgressKind::Exited { .. } | ProgressKind::Ended { .. } => {
                if let Some((state, since)) = entered.take() {
                    steps.push((state, at - since));
                }
            }
            ProgressKind::TaskFailed { .. } | ProgressKind::Other { .. } => {}
        }
    }
    steps
}

fn summary(one: &Started, view: &ExecutionView, outcome: &str) -> Json {
    json!({
        "service": one.service,
        "release": one.release,
        "previous": one.previous,
        "execution": one.execution,
        "status": view.status.as_str(),
        "outcome": outcome,
        "error": view.error,
        "cause": view.cause,
        "steps": step_times(view).into_iter().map(|(state, ms)| json!({"state": state, "millis": ms})).collect::<Vec<_>>(),
    })
}

fn report(one: &Started, view: &ExecutionView, outcome: &str) {
    match outcome {
        "live" => eprintln!("{} release {} is live", one.service, one.release),
        "rolled-back" => eprintln!(
            "{} release {} was rolled back; {} serves. Why: {}",
            one.service,
            one.release,
            one.previous.as_deref().unwrap_or("no release"),
            view.cause.as_deref().unwrap_or("unknown")
        ),
        _ => eprintln!(
            "{} release {} failed ({}): {}",
            one.service,
            one.release,
            view.error.as_deref().unwrap_or(view.status.as_str()),
            view.cause.as_deref().unwrap_or("unknown")
        ),
    }
}
