//! `windlass deploy [-f compose.yaml ...] [SERVICE...]`: checks the Compose
//! files, pins them into one text, asks the agent to deploy each service as an ASL execution, and
//! follows it step by step. Exit 0 only when every new release is live;
//! [`exit::ROLLED_BACK`] when one was rolled back.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value as Json};
use windlass_deploy::agent::api::{Client, ClientError};
use windlass_deploy::agent::contract::{ErrorBody, ErrorKind, PlanView, Progress, ProgressKind};
use windlass_deploy::agent::{app_name, promote, DeployRequest, ExecutionView, Started};
use windlass_deploy::compose::Target;
use windlass_deploy::workflow::{errors, DEPLOY_DEFINITION};
use windlass_engine::Status;
use windlass_store::releases::{split_app, Environment};

use super::agent::{connect, refused, StateArgs};
use super::compose_files::{ComposeArgs, Pinned};
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    compose: ComposeArgs,
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
    /// Print the plan (per service: deploy or unchanged, where the image
    /// comes from, the start order, blue/green or stop-first and why, the
    /// proxy's address) and start nothing.
    #[arg(long)]
    dry_run: bool,
    /// When another deploy or rollback holds a service, follow it until it
    /// ends, then deploy (instead of exiting with the busy code).
    #[arg(long)]
    wait: bool,
    /// Deploy the services even when nothing of theirs changed since their
    /// live release (by default such a service is left alone).
    #[arg(long)]
    force: bool,
    /// Hold the new releases at PERCENT of the traffic (1-99), their
    /// analysis judged, until `windlass promote` (the rollout's further
    /// steps, then all of it) or `windlass abort` (back to 0 %, rolled back).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u32).range(1..=99))]
    canary: Option<u32>,
    /// `ecs`: deploy to Amazon ECS (images in ECR) by a definition of AWS
    /// service integrations only; `swarm`: to the Docker Swarm whose manager
    /// `DOCKER_HOST` names; `docker` (the default) to the local engine.
    /// `x-windlass.target: ecs` (or `swarm`) on a service does the same.
    #[arg(long, value_name = "TARGET", value_enum)]
    target: Option<Target>,
    /// Promote: run the exact images environment FROM's live releases run
    /// (their digests, read from the store), with `--env`'s configuration,
    /// building nothing; each release records where its image came from.
    #[arg(long, value_name = "FROM", requires = "env")]
    from: Option<Environment>,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if args.show_definition && args.target == Some(Target::Ecs) {
        return match args.compose.pin(args.target) {
            Ok(pinned) => super::ecs::show_definition(&pinned, &args.services),
            Err(code) => Ok(code),
        };
    }
    if args.show_definition {
        println!("{}", DEPLOY_DEFINITION.trim_end());
        return Ok(exit::OK);
    }
    // A bad file stops here, before anything is asked of the agent.
    let pinned = match args.compose.pin(args.target) {
        Ok(pinned) => pinned,
        Err(code) => return Ok(code),
    };
    let pinned = match &args.from {
        Some(from) => match promoted(&args, pinned, from) {
            Ok(pinned) => pinned,
            Err(code) => return Ok(code),
        },
        None => pinned,
    };
    if let Err(code) = pinned.check_services(&args.services) {
        return Ok(code);
    }
    if pinned.project.services.is_empty() && !pinned.project.left_out.is_empty() {
        // Not "no services: declare at least one", as the agent would say
        // of the empty project the profiles leave.
        crate::failure::say!(
            "{}: every service is left out by profiles ({}): enable one with --profile NAME or COMPOSE_PROFILES, as `docker compose --profile NAME up` needs; nothing was started",
            pinned.file.display(),
            pinned.project.left_out.join(", ")
        );
        return Ok(exit::REFUSED);
    }
    if super::ecs::chosen(args.target, &pinned, &args.services) {
        if let Some(percent) = args.canary {
            crate::failure::say!("--canary {percent} holds a release on windlass's proxy until `windlass promote`, and ECS shifts the traffic itself with no gate to hold: write `x-windlass.rollout: {{ weight: {percent} }}` (ECS's CANARY strategy) instead");
            return Ok(exit::INVALID);
        }
        let options = super::ecs::DeployOptions {
            dry_run: args.dry_run,
            force: args.force,
        };
        return super::ecs::deploy(&pinned, &args.services, &args.state, options);
    }
    if super::swarm::chosen(args.target, &pinned, &args.services) {
        super::swarm::note_host_addresses(&pinned, &args.services);
        let request = DeployRequest {
            compose_file: pinned.file.display().to_string(),
            compose_text: pinned.text,
            services: args.services.clone(),
            by: who(),
            definition: None,
            force: args.force,
            canary: args.canary,
        };
        return super::swarm::deploy(request, &args.state, args.dry_run, args.json);
    }
    let definition = match &args.definition {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => None,
    };
    let request = DeployRequest {
        compose_file: pinned.file.display().to_string(),
        compose_text: pinned.text,
        services: args.services.clone(),
        by: who(),
        definition,
        force: args.force,
        canary: args.canary,
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        if args.dry_run {
            return dry_run(&args, &request).await;
        }
        let client = connect(&args.state, true).await?;
        let started: Vec<Started> = loop {
            match client.deploy(&request).await {
                Ok(started) => break started,
                Err(ClientError::Refused(body)) if args.wait && body.kind == ErrorKind::Busy => {
                    wait_for(&client, &body, args.json).await?;
                }
                Err(e) => return refused(e),
            }
        };
        let mut code = exit::OK;
        let (unchanged, started): (Vec<Started>, Vec<Started>) =
            started.into_iter().partition(|one| one.unchanged);
        for one in &unchanged {
            if args.json {
                println!(
                    "{}",
                    json!({"service": one.service, "release": one.release, "app": one.app, "outcome": "unchanged"})
                );
            } else {
                eprintln!(
                    "{}: unchanged since its live release {} (same configuration, files and image), left alone; --force deploys it anyway",
                    one.service, one.release
                );
            }
        }
        if started.is_empty() && !args.json {
            eprintln!("nothing to deploy: every service asked for is unchanged");
        }
        // An app's services share one execution: follow each execution once.
        let mut executions: Vec<(String, Vec<Started>)> = Vec::new();
        for one in started {
            match executions.iter_mut().find(|(arn, _)| *arn == one.execution) {
                Some((_, group)) => group.push(one),
                None => executions.push((one.execution.clone(), vec![one])),
            }
        }
        for (arn, group) in executions {
            if !args.json {
                announce(&group, &arn);
            }
            let view = follow(&client, &arn, !args.json).await?;
            let (outcome, this) = judge(&view);
            code = code.max(this);
            if args.json {
                for one in &group {
                    println!("{}", summary(one, &view, outcome));
                }
            } else {
                report(&group, &view, outcome);
            }
        }
        Ok(code)
    })
}

/// The files pinned again with every service on the images environment
/// `from` runs (`--from`), or the exit code of a refusal.
fn promoted(args: &Args, pinned: Pinned, from: &Environment) -> Result<Pinned, u8> {
    if args.compose.env.as_ref() == Some(from) {
        crate::failure::say!(
            "--from {from} names the environment being deployed: promote from another one"
        );
        return Err(exit::REFUSED);
    }
    let app = app_name(&pinned.project);
    let (base, _) = split_app(&app);
    let origin = match promote::origin_in(&args.state.dir(), base, from) {
        Ok(origin) => origin,
        Err(e) => {
            crate::failure::say!("{e}");
            return Err(match e {
                windlass_deploy::agent::Error::Store(_) => exit::ERROR,
                _ => exit::REFUSED,
            });
        }
    };
    if !args.json {
        let images: Vec<String> = origin
            .services
            .iter()
            .map(|(service, image)| format!("{service} {} ({})", image.release, image.digest))
            .collect();
        eprintln!(
            "promoting {} of {}{}: {}",
            origin.environment,
            origin.app,
            origin
                .app_release
                .as_ref()
                .map(|a| format!(" release {a}"))
                .unwrap_or_default(),
            images.join(", ")
        );
    }
    args.compose.pin_promoted(Some(origin), args.target)
}

/// `--dry-run`: the plan from the running agent, else worked out here from
/// the store read-only; no agent or proxy is started for it.
async fn dry_run(args: &Args, request: &DeployRequest) -> anyhow::Result<u8> {
    let plan = match connect(&args.state, false).await {
        Ok(client) => match client.plan(request).await {
            Ok(plan) => plan,
            Err(e) => return refused(e),
        },
        Err(_) => {
            match windlass_deploy::agent::plan_without_agent(&args.state.dir(), request).await {
                Ok(plan) => plan,
                Err(e) => {
                    crate::failure::say!("{e}");
                    return Ok(match e {
                        windlass_deploy::agent::Error::Store(_)
                        | windlass_deploy::agent::Error::Backend(_) => exit::ERROR,
                        _ => exit::REFUSED,
                    });
                }
            }
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print_plan(&plan);
    }
    Ok(exit::OK)
}

/// Follows the execution that holds a service (`--wait`) until it ends;
/// one that is not an execution (a `down`) is waited for a moment.
async fn wait_for(client: &Client, busy: &ErrorBody, json: bool) -> anyhow::Result<()> {
    let Some(arn) = &busy.execution else {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return Ok(());
    };
    if !json {
        crate::failure::say!("{}", busy.message);
        eprintln!("waiting for execution {arn} to end (--wait), then deploying");
    }
    match follow(client, arn, !json).await {
        Ok(view) if !json => eprintln!("execution {arn} ended {}", view.status),
        Ok(_) => {}
        Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
    }
    Ok(())
}

/// The plan, a few lines a service, then the start order.
fn print_plan(plan: &PlanView) {
    println!("plan for app {} (dry run: nothing is started)", plan.app);
    for service in &plan.services {
        let live = service.live.as_deref().unwrap_or("none");
        if !service.deploy {
            println!(
                "  {}: unchanged since its live release {live}, left alone",
                service.service
            );
            continue;
        }
        println!("  {}: new release (live now: {live})", service.service);
        println!("      image: {}", service.image);
        println!("      strategy: {} ({})", service.strategy, service.why);
        if service.ports.is_empty() {
            println!("      proxy: none (no published port)");
        }
        for port in &service.ports {
            println!("      port: {port}");
        }
        println!("      {}", service.summary);
    }
    if plan.order.is_empty() {
        println!("nothing to deploy: every service asked for is unchanged");
        return;
    }
    let waves: Vec<String> = plan.order.iter().map(|wave| wave.join(" + ")).collect();
    if plan.rollout.is_empty() {
        println!(
            "start order: {}; traffic moves for all of them at once when every one is healthy",
            waves.join(", then ")
        );
        return;
    }
    println!(
        "start order: {}; then the rollout moves the traffic of all of them together, step by step:",
        waves.join(", then ")
    );
    for (i, step) in plan.rollout.iter().enumerate() {
        println!("  step {}: {step}", i + 1);
    }
    println!("  then 100% (the switch)");
}

/// The line that says what an execution deploys.
fn announce(group: &[Started], arn: &str) {
    let services: Vec<String> = group
        .iter()
        .map(|one| {
            format!(
                "{} {} (live now: {})",
                one.service,
                one.release,
                one.previous.as_deref().unwrap_or("none")
            )
        })
        .collect();
    match group
        .first()
        .and_then(|one| one.app.as_ref().zip(one.app_release.as_ref()))
    {
        Some((app, release)) => eprintln!(
            "deploying app {app} release {release}: {}; execution {arn}",
            services.join(", ")
        ),
        None => eprintln!("deploying {}; execution {arn}", services.join(", ")),
    }
}

/// Who deploys: `$USER@hostname`.
pub fn who() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|u| !u.is_empty()))
        .or_else(user_of_this_process)
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// The name /etc/passwd gives this process's user (CI and services often
/// run without `$USER`).
fn user_of_this_process() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
}

/// How long `follow` waits for an agent that stopped answering (killed,
/// restarting) to answer again: a restarted agent resumes the execution.
const AGENT_GONE_WAIT: Duration = Duration::from_secs(60);

/// Polls the execution until it ends, printing each step as it goes when
/// `progress`; returns the whole history. An agent that stops answering
/// is waited for ([`AGENT_GONE_WAIT`]): its execution is durable, and the
/// restarted agent carries it on.
pub async fn follow(client: &Client, arn: &str, progress: bool) -> anyhow::Result<ExecutionView> {
    let mut after = 0u64;
    let mut all = Vec::new();
    let mut entered = Entered::new();
    let mut noted: std::collections::BTreeMap<String, (String, std::time::Instant)> =
        Default::default();
    let mut held = std::collections::BTreeSet::new();
    let mut gone_since: Option<std::time::Instant> = None;
    // Ctrl-C stops the following, not the execution: the agent runs it.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let view = match client.execution(arn, after).await {
            Err(e @ ClientError::Unreachable { .. }) => {
                let since = *gone_since.get_or_insert_with(|| {
                    crate::failure::say!("the agent stopped answering (stopped or restarting); following execution {arn} again once it answers");
                    std::time::Instant::now()
                });
                if since.elapsed() >= AGENT_GONE_WAIT {
                    return Err(e.into());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            answer => answer?,
        };
        if gone_since.take().is_some() {
            crate::failure::say!("the agent answers again");
        }
        for event in &view.events {
            after = event.id;
            if progress {
                print_step(event, &mut entered);
            }
        }
        if progress {
            // How the long steps go: each build step, else a line a
            // second at most per service.
            for note in &view.notes {
                if note.stop_first {
                    held.insert(note.service.clone());
                }
                let Some(text) = &note.text else { continue };
                let due = match noted.get(&note.service) {
                    None => true,
                    Some((last, _)) if last == text => false,
                    Some((_, at)) => {
                        // A Dockerfile step: the classic builder's `Step 2/5 :`,
                        // BuildKit's `[2/5] RUN` or `CACHED [2/5] COPY`.
                        let step = text.starts_with("Step ")
                            || text.starts_with('[')
                            || text.starts_with("CACHED [");
                        step || at.elapsed() >= Duration::from_secs(1)
                    }
                };
                if due {
                    eprintln!("    … {}: {text}", note.service);
                    noted.insert(
                        note.service.clone(),
                        (text.clone(), std::time::Instant::now()),
                    );
                }
            }
        }
        all.extend(view.events.iter().cloned());
        if view.status != Status::Running {
            if progress {
                print_gaps(&all, &held);
            }
            return Ok(ExecutionView {
                events: all,
                ..view
            });
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = &mut interrupted => {
                crate::failure::say!(
                    "interrupted: stopped following execution {arn}, which goes on in the agent; `windlass status` shows it running, `windlass releases` its outcome once it ends"
                );
                crate::failure::finish(exit::INTERRUPTED);
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
        }
    }
}

/// For each service deployed stop-first (its note said so), how long its
/// traffic was held: from the start of its StartReplicas (where the old
/// release stops) to the end of the switch.
fn print_gaps(events: &[Progress], held: &std::collections::BTreeSet<String>) {
    for (service, gap) in gaps(events, held) {
        eprintln!(
            "  {service}: stop-first gap {gap} ms (the proxy held its requests and connections meanwhile)"
        );
    }
}

/// The gaps [`print_gaps`] prints. The switch is the first one to end
/// after the service's StartReplicas began: a rollback tries the warm
/// `SwitchWarm` first, which ends before anything is started.
fn gaps(events: &[Progress], held: &std::collections::BTreeSet<String>) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for service in held {
        let stopped = events.iter().find_map(|e| match &e.kind {
            ProgressKind::Entered {
                state,
                service: Some(s),
            } if s == service && state == "StartReplicas" => Some(e.timestamp_millis),
            _ => None,
        });
        let Some(stopped) = stopped else { continue };
        let switched = events.iter().find_map(|e| match &e.kind {
            ProgressKind::Exited {
                state,
                service: None,
            } if state.starts_with("Switch") && e.timestamp_millis >= stopped => {
                Some(e.timestamp_millis)
            }
            _ => None,
        });
        if let Some(switched) = switched {
            out.push((service.clone(), switched - stopped));
        }
    }
    out
}

/// States entered and not yet left, by service and state (an app's
/// services run side by side), with when; and which failed last.
type Entered = std::collections::BTreeMap<(Option<String>, String), (i64, bool)>;

fn print_step(event: &Progress, entered: &mut Entered) {
    let label = |service: &Option<String>, state: &str| match service {
        Some(service) => format!("{service}: {state}"),
        None => state.to_owned(),
    };
    match &event.kind {
        ProgressKind::Entered { state, service } => {
            eprintln!("  → {}", label(service, state));
            entered.insert(
                (service.clone(), state.clone()),
                (event.timestamp_millis, false),
            );
        }
        ProgressKind::TaskFailed { error, cause } => {
            eprintln!("    ✗ {error}: {cause}");
            // The task failed in the latest Task state entered.
            if let Some(last) = entered.values_mut().max_by_key(|(at, _)| *at) {
                last.1 = true;
            }
        }
        ProgressKind::Exited { state, service } => {
            // A state left after its task failed was caught, not passed.
            if let Some((since, failed)) = entered.remove(&(service.clone(), state.clone())) {
                let mark = if failed { "✗" } else { "✓" };
                eprintln!(
                    "  {mark} {} ({} ms)",
                    label(service, state),
                    event.timestamp_millis - since
                );
            }
        }
        ProgressKind::Other { event_type } if event_type == "MapStateFailed" => {
            // A Map fails when an iteration does: the Maps still open (the
            // app's steps and their waves) failed with it.
            for ((service, _), (_, failed)) in entered.iter_mut() {
                if service.is_none() {
                    *failed = true;
                }
            }
        }
        ProgressKind::Other { event_type } if event_type == "TaskSucceeded" => {
            // A retry passed after all.
            if let Some(last) = entered.values_mut().max_by_key(|(at, _)| *at) {
                last.1 = false;
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

/// Each step of the execution, `SERVICE: State` for a service's own, with
/// how long it took, in the order they ended. Steps of an app's services
/// run side by side: each exit is paired with the entry of the same state
/// of the same service (pairing with the last entry dropped one of two
/// services' steps and gave the other its time).
pub fn step_times(view: &ExecutionView) -> Vec<(String, i64)> {
    service_step_times(view)
        .into_iter()
        .map(|(_, state, millis)| (state, millis))
        .collect()
}

/// [`step_times`] with the service each step is of (`None`: the
/// execution's own, such as `Switch`).
fn service_step_times(view: &ExecutionView) -> Vec<(Option<String>, String, i64)> {
    let label = |state: &str, service: &Option<String>| match service {
        Some(service) => format!("{service}: {state}"),
        None => state.to_owned(),
    };
    let mut open: Vec<(Option<String>, String, i64)> = Vec::new();
    let mut steps = Vec::new();
    for event in &view.events {
        let at = event.timestamp_millis;
        match &event.kind {
            ProgressKind::Entered { state, service } => {
                open.push((service.clone(), label(state, service), at));
            }
            ProgressKind::Exited { state, service } => {
                let name = label(state, service);
                if let Some(i) = open.iter().rposition(|(_, n, _)| *n == name) {
                    let (service, name, since) = open.remove(i);
                    steps.push((service, name, at - since));
                }
            }
            ProgressKind::Ended { .. } => {
                for (service, name, since) in open.drain(..).rev() {
                    steps.push((service, name, at - since));
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
        "app": one.app,
        "app_release": one.app_release,
        "previous": one.previous,
        "execution": one.execution,
        "status": view.status.as_str(),
        "outcome": outcome,
        "error": view.error,
        "cause": view.cause,
        // The service's own steps and the execution's, not its neighbours'.
        "steps": service_step_times(view)
            .into_iter()
            .filter(|(service, _, _)| service.as_ref().is_none_or(|s| *s == one.service))
            .map(|(_, state, ms)| json!({"state": state, "millis": ms}))
            .collect::<Vec<_>>(),
    })
}

/// What happened, once for the execution (an app's services share it).
/// The line that says how an execution ended: live, rolled back (what
/// serves again, and why) or failed.
pub(super) fn report(group: &[Started], view: &ExecutionView, outcome: &str) {
    let each = |f: &dyn Fn(&Started) -> String| group.iter().map(f).collect::<Vec<_>>().join(", ");
    let what = match group
        .first()
        .and_then(|one| one.app.as_ref().zip(one.app_release.as_ref()))
    {
        Some((app, release)) => format!("app {app} release {release}"),
        None => each(&|one| format!("{} release {}", one.service, one.release)),
    };
    let why = view.cause.as_deref().unwrap_or("unknown");
    match outcome {
        "live" => eprintln!(
            "{what} is live: {}",
            each(&|one| format!("{} {}", one.service, one.release))
        ),
        "rolled-back" => eprintln!(
            "{what} was rolled back; serving again: {}. Why: {why}",
            each(&|one| format!(
                "{} {}",
                one.service,
                one.previous
                    .as_deref()
                    .unwrap_or("nothing (it had no earlier release)")
            ))
        ),
        _ => eprintln!(
            "{what} failed ({}): {why}",
            view.error.as_deref().unwrap_or(view.status.as_str()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, at: i64, kind: ProgressKind) -> Progress {
        Progress {
            id,
            timestamp_millis: at,
            kind,
        }
    }

    fn entered(state: &str, service: Option<&str>) -> ProgressKind {
        ProgressKind::Entered {
            state: state.into(),
            service: service.map(str::to_owned),
        }
    }

    fn exited(state: &str, service: Option<&str>) -> ProgressKind {
        ProgressKind::Exited {
            state: state.into(),
            service: service.map(str::to_owned),
        }
    }

    /// Two services' steps side by side, as an app's deploy runs them:
    /// `deploy --json` lost `app: BuildImage` and gave `db: BuildImage`
    /// the app's time, and listed db's steps under app.
    #[test]
    fn steps_run_side_by_side_each_keep_their_own_time() {
        let view = ExecutionView {
            arn: "arn".into(),
            status: Status::Succeeded,
            error: None,
            cause: None,
            events: vec![
                event(1, 0, entered("Build", None)),
                event(2, 10, entered("BuildImage", Some("app"))),
                event(3, 20, entered("BuildImage", Some("db"))),
                event(4, 60, exited("BuildImage", Some("db"))),
                event(5, 90, exited("BuildImage", Some("app"))),
                event(6, 95, exited("Build", None)),
                event(7, 100, entered("Switch", None)),
                event(8, 130, exited("Switch", None)),
                event(
                    9,
                    130,
                    ProgressKind::Ended {
                        status: Status::Succeeded,
                    },
                ),
            ],
            notes: Vec::new(),
        };
        assert_eq!(
            step_times(&view),
            [
                ("db: BuildImage".to_owned(), 40),
                ("app: BuildImage".to_owned(), 80),
                ("Build".to_owned(), 95),
                ("Switch".to_owned(), 30),
            ]
        );
        let one = Started {
            service: "app".into(),
            release: "r2".into(),
            previous: Some("r1".into()),
            execution: "arn".into(),
            app: Some("listmonk".into()),
            app_release: Some("a2".into()),
            unchanged: false,
        };
        let steps = summary(&one, &view, "live")["steps"].clone();
        assert_eq!(
            steps,
            json!([
                {"state": "app: BuildImage", "millis": 80},
                {"state": "Build", "millis": 95},
                {"state": "Switch", "millis": 30},
            ])
        );
    }

    /// A rollback's `SwitchWarm` ends before the release starts again: the
    /// gap runs to the switch after it (it said 0 ms).
    #[test]
    fn a_stop_first_gap_ends_at_the_switch_after_the_start() {
        let events = vec![
            event(1, 0, entered("SwitchWarm", None)),
            event(2, 5, exited("SwitchWarm", None)),
            event(3, 10, entered("StartReplicas", Some("db"))),
            event(4, 4000, exited("StartReplicas", Some("db"))),
            event(5, 4100, entered("Switch", None)),
            event(6, 4300, exited("Switch", None)),
        ];
        let held = std::collections::BTreeSet::from(["db".to_owned()]);
        assert_eq!(gaps(&events, &held), vec![("db".to_owned(), 4290)]);
    }
}
