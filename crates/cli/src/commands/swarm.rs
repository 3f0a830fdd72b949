//! The Swarm target on the command line: `windlass deploy --target swarm`
//! (or `x-windlass.target: swarm` on every service), `windlass rollback
//! --target swarm` and `windlass down --target swarm`, against the Swarm
//! whose manager `DOCKER_HOST` names. The deploy runs in this process
//! (`Agent::open_swarm`: the same app workflow and steps as the local
//! agent's, on the state folder's store) and ends with the command: the
//! traffic is served by windlass's entry point on the Swarm, so nothing
//! local has to outlive it. A deploy or rollback whose process died
//! mid-way is carried on by the next of these commands first
//! ([`Agent::resume_interrupted`]); the same command again only finishes it.

use windlass_deploy::agent::api;
use windlass_deploy::agent::contract::PlanView;
use windlass_deploy::agent::machines::Kind;
use windlass_deploy::agent::{
    swarm_gate_file, Agent, DeployRequest, DownRequest, Error, Interrupted, RollbackRequest,
    Started,
};
use windlass_deploy::compose::Target;
use windlass_deploy::workflow::errors;
use windlass_engine::{Outcome, Status};
use windlass_store::releases::ServiceKey;

use super::agent::StateArgs;
use super::compose_files::Pinned;
use crate::exit;

/// Whether `services` (all of the file's when empty) go to the Swarm:
/// `--target swarm`, or `x-windlass.target: swarm` on every one of them.
pub fn chosen(target: Option<Target>, pinned: &Pinned, services: &[String]) -> bool {
    if let Some(target) = target {
        return target == Target::Swarm;
    }
    let names: Vec<&String> = if services.is_empty() {
        pinned.project.services.keys().collect()
    } else {
        services.iter().collect()
    };
    !names.is_empty()
        && names.iter().all(|name| {
            pinned
                .project
                .services
                .get(name.as_str())
                .and_then(|s| s.windlass.target)
                == Some(Target::Swarm)
        })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

async fn open(state: &StateArgs) -> Result<Agent, u8> {
    // A manager named wrong (a Docker context that is not there, an ssh://
    // address with a path) is the user's to fix: refused, not an error.
    if let Err(e) = windlass_deploy::target::swarm::manager::Manager::from_env() {
        crate::failure::say!("the Swarm manager: {e}");
        return Err(exit::REFUSED);
    }
    Agent::open_swarm(&state.dir()).await.map_err(|e| {
        crate::failure::say!("{e}");
        exit::ERROR
    })
}

/// An agent's refusal as the exit code the agent's API would give.
fn refused(error: &Error) -> u8 {
    crate::failure::say!("{error}");
    match error {
        Error::Locked { .. } => exit::BUSY,
        Error::Store(_) | Error::Runtime(_) | Error::Restore(_) | Error::Backend(_) => exit::ERROR,
        _ => exit::REFUSED,
    }
}

/// `deploy --target swarm`: the plan (`--dry-run`, nothing started), or
/// the app release to its end. Exit 0 when it went live, 6 when it was
/// rolled back, 3 when it failed otherwise.
pub fn deploy(
    request: DeployRequest,
    state: &StateArgs,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<u8> {
    runtime()?.block_on(async move {
        let agent = match open(state).await {
            Ok(agent) => agent,
            Err(code) => return Ok(code),
        };
        if dry_run {
            return match agent.plan(request).await {
                Ok(plan) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&plan)?);
                    } else {
                        print_plan(&plan);
                    }
                    Ok(exit::OK)
                }
                Err(e) => Ok(refused(&e)),
            };
        }
        let _gate = Gate::serve(&agent, state).await;
        let carried = match carry_on(&agent, json).await {
            Ok(carried) => carried,
            Err(code) => return Ok(code),
        };
        let same = carried.iter().filter(|(one, _)| {
            !one.is_rollback() && one.compose_text.as_deref() == Some(request.compose_text.as_str())
        });
        if let Some(code) = same
            .map(|(one, code)| {
                eprintln!(
                    "{} was this very deploy: not deploying it again",
                    one.release
                );
                *code
            })
            .max()
        {
            return Ok(code);
        }
        let started = match agent.deploy(request).await {
            Ok(started) => started,
            Err(e) => return Ok(refused(&e)),
        };
        follow(&agent, &started, json, "deploying").await
    })
}

/// The state folder's Swarm gate socket, served while this process runs
/// deploys (its own, or one it carries on): `approve`, `promote` and
/// `abort` reach their rollouts through it. Removed when dropped.
struct Gate {
    socket: std::path::PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Gate {
    /// Another Swarm command of the same state folder holding the socket
    /// leaves this one without (said on stderr).
    async fn serve(agent: &Agent, state: &StateArgs) -> Option<Gate> {
        let socket = swarm_gate_file(&state.dir());
        match api::bind(&socket).await {
            Ok(listener) => {
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                tokio::spawn(api::serve_gate(agent.clone(), listener, async move {
                    let _ = stopped.await;
                }));
                Some(Gate {
                    socket,
                    _stop: stop,
                })
            }
            Err(e) => {
                crate::failure::say!(
                    "approve, promote and abort cannot reach this command's deploys: {e}"
                );
                None
            }
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// `rollback --target swarm`: the app (or one service) back to an earlier
/// release, a flip of the entry's routes when that release is still warm.
pub fn rollback(request: RollbackRequest, state: &StateArgs, json: bool) -> anyhow::Result<u8> {
    runtime()?.block_on(async move {
        let agent = match open(state).await {
            Ok(agent) => agent,
            Err(code) => return Ok(code),
        };
        // An interrupted deploy carried on first may wait at its gate.
        let _gate = Gate::serve(&agent, state).await;
        let carried = match carry_on(&agent, json).await {
            Ok(carried) => carried,
            Err(code) => return Ok(code),
        };
        let kind = if request.service.is_some() {
            Kind::Rollback
        } else {
            Kind::AppRollback
        };
        let same = carried.iter().filter(|(one, _)| {
            one.kind == kind && request.release.as_ref().is_none_or(|to| *to == one.release)
        });
        if let Some(code) = same
            .map(|(one, code)| {
                eprintln!(
                    "the rollback to {} was this very rollback: not running it again",
                    one.release
                );
                *code
            })
            .max()
        {
            return Ok(code);
        }
        let started = match agent.rollback(request).await {
            Ok(started) => started,
            Err(e) => return Ok(refused(&e)),
        };
        follow(&agent, &started, json, "rolling back").await
    })
}

/// `down --target swarm`: the app's services, entry routes and networks.
pub fn down(request: DownRequest, state: &StateArgs, json: bool) -> anyhow::Result<u8> {
    runtime()?.block_on(async move {
        let agent = match open(state).await {
            Ok(agent) => agent,
            Err(code) => return Ok(code),
        };
        if let Err(code) = carry_on(&agent, json).await {
            return Ok(code);
        }
        match agent.down(request).await {
            Ok(report) => {
                if json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    eprintln!(
                        "took down {} on the Swarm: {} service(s) removed; networks removed: {}",
                        report.services.join(", "),
                        report.containers,
                        report.networks.join(", ")
                    );
                }
                Ok(exit::OK)
            }
            Err(e) => Ok(refused(&e)),
        }
    })
}

/// Carries on the deploys and rollbacks whose windlass process died
/// mid-way, each to its end, with the exit code its end means.
async fn carry_on(agent: &Agent, json: bool) -> Result<Vec<(Interrupted, u8)>, u8> {
    let interrupted = agent.resume_interrupted().await.map_err(|e| refused(&e))?;
    let mut carried = Vec::new();
    for one in interrupted {
        let verb = if one.running {
            "resuming"
        } else {
            "recording the end of"
        };
        let what = match one.kind {
            Kind::AppDeploy => format!("the deploy of app release {}", one.release),
            Kind::AppRollback => format!("the rollback to app release {}", one.release),
            Kind::Deploy => format!("the deploy of release {}", one.release),
            Kind::Rollback => format!("the rollback to release {}", one.release),
        };
        eprintln!(
            "{verb} {what} (its windlass process, pid {}, is gone; execution {})",
            one.pid, one.execution
        );
        let code = follow(agent, &one.started, json, "carrying on")
            .await
            .map_err(|e| {
                crate::failure::say!("the interrupted execution {}: {e}", one.execution);
                exit::FAILED
            })?;
        carried.push((one, code));
    }
    Ok(carried)
}

/// Waits for each execution started, then until its outcome is recorded
/// (the locks freed), and reports it.
async fn follow(agent: &Agent, started: &[Started], json: bool, doing: &str) -> anyhow::Result<u8> {
    let mut code = exit::OK;
    let mut followed: Vec<&str> = Vec::new();
    for one in started {
        if one.unchanged {
            eprintln!(
                "{}: unchanged since its live release {}, left alone",
                one.service, one.release
            );
            continue;
        }
        if followed.contains(&one.execution.as_str()) {
            continue;
        }
        followed.push(&one.execution);
        let group: Vec<&Started> = started
            .iter()
            .filter(|s| s.execution == one.execution)
            .collect();
        let names: Vec<String> = group
            .iter()
            .map(|s| {
                format!(
                    "{} {} (live now: {})",
                    s.service,
                    s.release,
                    s.previous.as_deref().unwrap_or("none")
                )
            })
            .collect();
        if !json {
            let what = match one.app.as_ref().zip(one.app_release.as_ref()) {
                Some((app, release)) => format!(" app {app} release {release}"),
                None => String::new(),
            };
            eprintln!(
                "{doing}{what} on the Swarm: {}; execution {}",
                names.join(", "),
                one.execution
            );
        }
        let finished = {
            let waited = agent.runtime().wait(&one.execution);
            tokio::pin!(waited);
            let mut shown: Vec<(String, String)> = Vec::new();
            loop {
                tokio::select! {
                    finished = &mut waited => break finished?,
                    () = tokio::time::sleep(std::time::Duration::from_millis(250)), if !json => {
                        show_notes(agent, &one.execution, &mut shown);
                    }
                }
            }
        };
        settle(agent, &group).await;
        let error = match &finished.outcome {
            Some(Outcome::Error { error, cause }) => Some((error.clone(), cause.clone())),
            _ => None,
        };
        let (outcome, this) = match (finished.status, error.as_ref().map(|e| e.0.as_str())) {
            (Status::Succeeded, _) => ("live", exit::OK),
            (_, Some(errors::ROLLED_BACK)) => ("rolled-back", exit::ROLLED_BACK),
            _ => ("failed", exit::FAILED),
        };
        code = code.max(this);
        for s in &group {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"service": s.service, "release": s.release, "app": s.app, "app_release": s.app_release, "outcome": outcome, "execution": s.execution})
                );
            }
        }
        if !json {
            let group: Vec<Started> = group.iter().map(|s| (*s).clone()).collect();
            let (error, cause) = error.unzip();
            let view = windlass_deploy::agent::contract::ExecutionView {
                arn: one.execution.clone(),
                status: finished.status,
                error,
                cause,
                events: Vec::new(),
                notes: Vec::new(),
            };
            super::deploy::report(&group, &view, outcome);
        }
    }
    Ok(code)
}

/// Prints each service's note (a build's Dockerfile step, a push's layer)
/// when it changes.
fn show_notes(agent: &Agent, execution: &str, shown: &mut Vec<(String, String)>) {
    let Ok(notes) = agent.notes_of(execution) else {
        return;
    };
    for note in notes {
        let Some(text) = note.text else { continue };
        let seen = shown
            .iter_mut()
            .find(|(service, _)| *service == note.service);
        match seen {
            Some((_, last)) if *last == text => continue,
            Some((_, last)) => last.clone_from(&text),
            None => shown.push((note.service.clone(), text.clone())),
        }
        eprintln!("  {}: {text}", note.service);
    }
}

/// The execution's outcome is written by a waiter just after it ends: wait
/// until the services' locks are free (at most 10 s).
async fn settle(agent: &Agent, group: &[&Started]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for one in group {
        let Some(app) = &one.app else { continue };
        let Ok(key) = ServiceKey::new(app.clone(), one.service.clone()) else {
            continue;
        };
        while std::time::Instant::now() < deadline
            && agent.releases().lock_of(&key).ok().flatten().is_some()
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

fn print_plan(plan: &PlanView) {
    println!(
        "plan for app {} on the Swarm (dry run: nothing is started)",
        plan.app
    );
    for service in &plan.services {
        let live = service.live.as_deref().unwrap_or("none");
        if service.deploy {
            println!(
                "  {}: new release (live now: {live}), image {}",
                service.service, service.image
            );
            println!("      strategy: {} ({})", service.strategy, service.why);
            for port in &service.ports {
                println!("      port: {port} (windlass's entry point on every manager)");
            }
        } else {
            println!(
                "  {}: unchanged since its live release {live}, left alone",
                service.service
            );
        }
    }
    let waves: Vec<String> = plan.order.iter().map(|wave| wave.join(" + ")).collect();
    if !waves.is_empty() {
        println!(
            "start order: {}; traffic moves for all of them at once",
            waves.join(", then ")
        );
    }
}

/// Says, for each port of `services` (all of the file's when empty) that
/// names a host address, that the Swarm does not keep it: the entry
/// publishes an app's ports on every interface of each manager (a Swarm
/// service's published port has no host address). Not refused, so that the
/// file the local engine publishes on 127.0.0.1 deploys to a Swarm as it is.
pub fn note_host_addresses(pinned: &Pinned, services: &[String]) {
    let text = std::fs::read_to_string(&pinned.file).unwrap_or_default();
    for (name, service) in &pinned.project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        for port in &service.ports {
            let (Some(address), Some(published)) = (port.host_ip, port.published) else {
                continue;
            };
            let path = windlass_deploy::compose::FieldPath::of(&["services", name, "ports"]);
            let (line, column, _) = windlass_deploy::compose::locate(&text, &path);
            crate::failure::say!(
                "note: {}:{line}:{column}: services.{name}.ports: {address}:{published}: a Swarm publishes port {published} on every interface of each manager (a Swarm service's published port has no host address), not on {address} only; keep it from other hosts with the managers' firewall",
                pinned.file.display()
            );
        }
    }
}
