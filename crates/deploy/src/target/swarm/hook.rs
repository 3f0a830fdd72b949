//! A command hook (`x-windlass.hooks` with `command`) on the Swarm: a
//! one-off Swarm job (`replicated-job`, one completion, never restarted)
//! of the release's pinned image, with the service's environment, secrets,
//! configs, resources and placement and its networks (without the service's name:
//! only the release answers to it), the command in place of the image's
//! CMD; it passes when its task completes with exit code 0. Its last
//! output is read through the manager, wherever the task ran, and the job
//! is removed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{
    ServiceSpecMode, ServiceSpecModeReplicatedJob, Task, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{ListTasksOptions, LogsOptions};
use futures_util::StreamExt;
use windlass_asl::Failure;

use super::{engine, spec, SwarmTarget};
use crate::failures;
use crate::target::{HookRef, HookRun, ReleaseContext};

/// How long a command hook may run (the Docker target's limit).
const HOOK_TIMEOUT: Duration = crate::target::docker::HOOK_TIMEOUT;
/// How often the job's task is looked at.
const POLL: Duration = Duration::from_millis(250);
/// The label that marks a hook's job (as the Docker target marks its
/// hook containers).
const HOOK_LABEL: &str = crate::target::docker::HOOK_LABEL;

/// The job's name: the release's service name with the hook's place.
fn job_name(
    target: &SwarmTarget,
    release: &ReleaseContext,
    hook: &HookRef,
) -> Result<String, Failure> {
    let service = target.name_of(&release.key, release.id())?;
    let phase = hook.phase.key().replace('_', "-");
    Ok(format!("{service}-hook-{phase}-{}", hook.index))
}

pub(super) async fn run(
    target: &SwarmTarget,
    release: &ReleaseContext,
    hook: &HookRef,
) -> Result<HookRun, Failure> {
    let (label, command) = hook.command(release)?;
    let image =
        release.record.image.clone().ok_or_else(|| {
            failures::input(format!("{} has no pinned image yet", release.label()))
        })?;
    let name = job_name(target, release, hook)?;
    // A run that a crash interrupted is not resumed: the hook runs afresh.
    remove(target, &name).await?;
    let mut labels = target.labels(&release.key, Some(release.id()))?;
    labels.insert(HOOK_LABEL.to_owned(), label.clone());
    // The release's secrets and configs (a migration reads the database's
    // password from one), the same versions its service mounts.
    let mounted = super::store::mount(target, release).await?;
    let mut job = spec::service_spec(release, &image, labels, &name, mounted);
    job.mode = Some(ServiceSpecMode {
        replicated_job: Some(ServiceSpecModeReplicatedJob {
            max_concurrent: Some(1),
            total_completions: Some(1),
        }),
        ..Default::default()
    });
    if let Some(task) = job.task_template.as_mut() {
        task.restart_policy = Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
            ..Default::default()
        });
        if let Some(container) = task.container_spec.as_mut() {
            container.args = Some(command.clone());
            container.health_check = None;
        }
        // A migration reaches the app's databases by name; the hook itself
        // answers to none of the service's names.
        for network in task.networks.iter_mut().flatten() {
            network.aliases = None;
        }
    }
    job.endpoint_spec = None;
    let shown = command.join(" ");
    target.docker.create_service(job, None).await.map_err(|e| {
        Failure::new(
            failures::HOOK,
            format!(
                "{} {label} (`{shown}`): create {name}: {e}",
                release.label()
            ),
        )
    })?;
    let began = Instant::now();
    let outcome = wait(target, &name, &label, &shown, began).await;
    let output = last_output(target, &name).await;
    remove(target, &name).await?;
    match outcome {
        Ok(()) => Ok(HookRun {
            hook: label,
            exit_code: 0,
            millis: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
        Err(message) => {
            let output = output.trim();
            let cause = if output.is_empty() {
                message
            } else {
                format!("{message}; its last output: {output}")
            };
            Err(Failure::new(failures::HOOK, cause))
        }
    }
}

/// Waits for the job's task to end: `Ok` when it completed (exit code 0),
/// else why the hook failed.
async fn wait(
    target: &SwarmTarget,
    name: &str,
    label: &str,
    shown: &str,
    began: Instant,
) -> Result<(), String> {
    loop {
        let options = ListTasksOptions {
            filters: Some(HashMap::from([(
                "service".to_owned(),
                vec![name.to_owned()],
            )])),
        };
        let tasks: Vec<Task> = target
            .docker
            .list_tasks(Some(options))
            .await
            .map_err(|e| format!("{label} (`{shown}`): tasks of {name}: {e}"))?;
        for task in tasks {
            let status = task.status.unwrap_or_default();
            let code = status.container_status.as_ref().and_then(|c| c.exit_code);
            match status.state {
                Some(TaskState::COMPLETE) => return Ok(()),
                Some(TaskState::FAILED) => {
                    return Err(match code {
                        Some(code) => format!("{label} (`{shown}`) exited with code {code}"),
                        None => format!(
                            "{label} (`{shown}`) failed on the Swarm: {}",
                            status.err.or(status.message).unwrap_or_default()
                        ),
                    })
                }
                Some(TaskState::REJECTED) => {
                    return Err(format!(
                        "{label} (`{shown}`) could not start on the Swarm: {}",
                        status.err.or(status.message).unwrap_or_default()
                    ))
                }
                _ => {}
            }
        }
        if began.elapsed() > HOOK_TIMEOUT {
            return Err(format!(
                "{label} (`{shown}`) still ran after {} s",
                HOOK_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The job's last 20 lines of output, through the manager; empty when
/// they cannot be read.
async fn last_output(target: &SwarmTarget, name: &str) -> String {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: "20".to_owned(),
        ..Default::default()
    };
    let mut lines = String::new();
    let mut chunks = std::pin::pin!(target.docker.service_logs(name, Some(options)));
    // The manager may hold a finished task's logs back a moment.
    let reading = async {
        while let Some(Ok(chunk)) = chunks.next().await {
            lines.push_str(&chunk.to_string());
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), reading).await;
    lines
}

/// Removes job `name`; one that is gone already is no error.
async fn remove(target: &SwarmTarget, name: &str) -> Result<(), Failure> {
    match target.docker.delete_service(name).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(engine(&format!("remove {name}"), e)),
    }
}
