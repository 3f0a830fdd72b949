//! A service's lifecycle hooks on the Docker target, as Compose runs them
//! with the engine's exec API: `post_start` in each replica right after it
//! starts (one that fails fails the start, and the deploy rolls back), and
//! `pre_stop` before a replica is stopped (one that fails is logged and the
//! stop goes on). [`stop`] is how every path stops a replica.

use std::time::Duration;

use windlass_asl::Failure;

use super::hook::HOOK_TIMEOUT;
use super::DockerTarget;
use crate::backend::{ExecSpec, RunState};
use crate::compose::{Service, ServiceHook};
use crate::failures;

/// Which of a service's lifecycle lists a hook is in.
#[derive(Debug, Clone, Copy)]
enum Moment {
    PostStart,
    PreStop,
}

impl Moment {
    fn key(self) -> &'static str {
        match self {
            Moment::PostStart => "post_start",
            Moment::PreStop => "pre_stop",
        }
    }
}

/// Runs the service's `post_start` commands in the started container `id`,
/// in order; the first that fails (`label` names the release) fails the start.
pub(super) async fn post_start(
    target: &DockerTarget,
    service: &Service,
    label: &str,
    id: &str,
) -> Result<(), Failure> {
    for (index, hook) in service.post_start.iter().enumerate() {
        run(target, hook, id).await.map_err(|why| {
            Failure::new(
                failures::START,
                format!(
                    "{label}: {}[{index}] (`{}`) {why}",
                    Moment::PostStart.key(),
                    hook.shown()
                ),
            )
        })?;
    }
    Ok(())
}

/// Stops the container `id` of `service` (SIGTERM, then SIGKILL after
/// `grace`), after its `pre_stop` commands when it runs.
pub(super) async fn stop(
    target: &DockerTarget,
    service: &Service,
    id: &str,
    grace: Duration,
) -> Result<(), Failure> {
    if !service.pre_stop.is_empty() {
        pre_stop(target, service, id).await;
    }
    target
        .backend
        .stop_container(id, grace)
        .await
        .map_err(failures::engine)
}

/// Runs the `pre_stop` commands of a running container; a failure is
/// logged, as Compose goes on with the stop.
async fn pre_stop(target: &DockerTarget, service: &Service, id: &str) {
    let running = target
        .backend
        .inspect_container(id)
        .await
        .is_ok_and(|c| c.state == RunState::Running);
    if !running {
        return;
    }
    for (index, hook) in service.pre_stop.iter().enumerate() {
        if let Err(why) = run(target, hook, id).await {
            tracing::warn!(container = %id, "{}[{index}] (`{}`) {why}; stopping the container anyway", Moment::PreStop.key(), hook.shown());
        }
    }
}

/// Runs one hook in the container; why it failed, if it did.
async fn run(target: &DockerTarget, hook: &ServiceHook, id: &str) -> Result<(), String> {
    let spec = ExecSpec {
        command: hook.command.clone(),
        user: hook.user.clone(),
        privileged: hook.privileged,
        working_dir: hook.working_dir.clone(),
        env: hook
            .environment
            .iter()
            .filter_map(|(k, v)| {
                let value = v.clone().or_else(|| target.config.env.get(k).cloned())?;
                Some(format!("{k}={value}"))
            })
            .collect(),
    };
    let ran = tokio::time::timeout(HOOK_TIMEOUT, target.backend.exec(id, &spec)).await;
    let outcome = match ran {
        Err(_) => return Err(format!("still ran after {} s", HOOK_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(format!("could not run: {e}")),
        Ok(Ok(outcome)) => outcome,
    };
    if outcome.exit_code == 0 {
        return Ok(());
    }
    let output = outcome.output.trim();
    let shown = if output.is_empty() {
        String::new()
    } else {
        format!("; its last output: {output}")
    };
    Err(format!("exited with code {}{shown}", outcome.exit_code))
}
