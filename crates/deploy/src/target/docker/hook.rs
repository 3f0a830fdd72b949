//! A command hook (`x-windlass.hooks` with `command`): a one-off container
//! of the release's image, with the service's environment and networks and
//! the command in place of the image's CMD, run to its end; exit code 0
//! passes.

use std::time::Duration;

use windlass_asl::Failure;

use super::{DockerTarget, HOOK_LABEL};
use crate::backend::RunState;
use crate::failures;
use crate::plan::container_spec;
use crate::target::{HookRef, HookRun, ReleaseContext};

/// How long a command hook may run.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a running hook is looked at.
const POLL: Duration = Duration::from_millis(50);

pub(super) async fn run(
    target: &DockerTarget,
    release: &ReleaseContext,
    hook: &HookRef,
) -> Result<HookRun, Failure> {
    let (label, command) = hook.command(release)?;
    let image = DockerTarget::pinned_image(&release.record)?;
    let installation = target.installation()?;
    let mut spec = container_spec(
        installation,
        &release.key,
        &release.spec,
        release.id(),
        0,
        &image,
        |k| target.config.env.get(k).cloned(),
    );
    spec.name = format!(
        "{}-{}-{}-hook-{}-{}-{installation}",
        release.key.app(),
        release.service,
        release.id(),
        hook.phase.key().replace('_', "-"),
        hook.index
    );
    spec.command = Some(command.clone());
    spec.ports = Vec::new();
    spec.healthcheck = None;
    spec.labels.insert(HOOK_LABEL.into(), label.clone());
    // A run that a crash interrupted is not resumed: the hook runs afresh.
    let labels = [(HOOK_LABEL.to_owned(), label.clone())].into();
    let stale = target
        .backend
        .list_containers(&labels)
        .await
        .map_err(failures::engine)?;
    for container in stale
        .iter()
        .filter(|c| c.name.trim_start_matches('/') == spec.name)
    {
        target.remove(&container.id).await?;
    }
    let id = target
        .backend
        .create_container(&spec)
        .await
        .map_err(|e| Failure::new(failures::HOOK, format!("{label}: {e}")))?;
    // A migration, say, reaches the service's databases on its networks.
    super::start::join_networks(target, release, &id).await?;
    let outcome = run_to_end(target, &id, &label, &command).await;
    let logs = target
        .backend
        .container_logs(&id, 20)
        .await
        .unwrap_or_default();
    target.remove(&id).await?;
    match outcome {
        Ok(millis) => Ok(HookRun {
            hook: label,
            exit_code: 0,
            millis,
        }),
        Err(message) => {
            let logs = logs.trim();
            let cause = if logs.is_empty() {
                message
            } else {
                format!("{message}; its last output: {logs}")
            };
            Err(Failure::new(failures::HOOK, cause))
        }
    }
}

/// Starts the container and waits for it to exit; the time it ran, or why
/// the hook failed.
async fn run_to_end(
    target: &DockerTarget,
    id: &str,
    label: &str,
    command: &[String],
) -> Result<u64, String> {
    let shown = command.join(" ");
    target
        .backend
        .start_container(id)
        .await
        .map_err(|e| format!("{label} (`{shown}`) could not start: {e}"))?;
    let began = tokio::time::Instant::now();
    loop {
        let container = target
            .backend
            .inspect_container(id)
            .await
            .map_err(|e| format!("{label} (`{shown}`): {e}"))?;
        match container.state {
            RunState::Exited { code: 0 } => {
                return Ok(u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX))
            }
            RunState::Exited { code } => {
                return Err(format!("{label} (`{shown}`) exited with code {code}"))
            }
            _ if began.elapsed() > HOOK_TIMEOUT => {
                let _ = target
                    .backend
                    .stop_container(id, Duration::from_secs(1))
                    .await;
                return Err(format!(
                    "{label} (`{shown}`) still ran after {} s",
                    HOOK_TIMEOUT.as_secs()
                ));
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}
