//! What a release's tasks say: healthy (every task running, which Swarm
//! reports only once a task's health check passed), warm (the same, now,
//! without waiting), and the watch after a switch (no task of the release
//! fails, and the entry's counters of its traffic stay within the service's
//! `x-windlass.rollback_on`, as the Docker target's proxy judges them).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bollard::models::{Task, TaskState};
use bollard::query_parameters::ListTasksOptions;
use windlass_asl::Failure;

use super::{engine, spec, SwarmTarget};
use crate::failures;
use crate::target::{ReleaseContext, Upstreams, Watched};

/// How often tasks are listed while waiting or watching.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// Tasks of a release that may fail (each restarted by Swarm) before the
/// release is judged unhealthy.
const FAILED_TASKS: usize = 3;

/// What one look at a release's tasks found.
#[derive(Debug, Default)]
struct Look {
    /// Tasks Swarm wants running, and how many of them run.
    desired: usize,
    running: usize,
    /// Failed or rejected tasks, by id, with their error.
    failed: BTreeMap<String, String>,
    /// Why the Swarm places a task on no node ("no suitable node
    /// (scheduling constraints not satisfied on 3 nodes)"), when it says so.
    unplaced: Option<String>,
}

async fn look(target: &SwarmTarget, name: &str) -> Result<Look, Failure> {
    let options = ListTasksOptions {
        filters: Some(HashMap::from([(
            "service".to_owned(),
            vec![name.to_owned()],
        )])),
    };
    let tasks: Vec<Task> = match target.docker.list_tasks(Some(options)).await {
        Ok(tasks) => tasks,
        // No such service (a release retired since, a step run again):
        // no task, so neither healthy nor warm.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Vec::new(),
        Err(e) => return Err(engine(&format!("tasks of {name}"), e)),
    };
    let mut look = Look::default();
    for task in tasks {
        let state = task.status.as_ref().and_then(|s| s.state);
        if task.desired_state == Some(TaskState::RUNNING) {
            look.desired += 1;
            if state == Some(TaskState::RUNNING) {
                look.running += 1;
            }
        }
        let err = task.status.as_ref().and_then(|s| s.err.as_deref());
        if state == Some(TaskState::PENDING) {
            if let Some(err) = err.filter(|e| e.contains("no suitable node")) {
                look.unplaced = Some(err.to_owned());
            }
        }
        if matches!(state, Some(TaskState::FAILED | TaskState::REJECTED)) {
            let status = task.status.unwrap_or_default();
            let why = status.err.or(status.message).unwrap_or_default();
            look.failed.insert(task.id.unwrap_or_default(), why);
        }
    }
    Ok(look)
}

impl Look {
    /// Every task Swarm wants runs, and as many as the release asks for.
    fn healthy(&self, replicas: Option<u32>) -> bool {
        let expected = replicas.map_or(1, |r| r as usize);
        self.desired >= expected && self.running == self.desired
    }
}

/// Where the release takes traffic: per container port, the DNS name of its
/// tasks (`tasks.NAME:PORT`), which the entry point resolves again and
/// again.
pub(super) fn upstreams(release: &ReleaseContext, name: &str) -> Upstreams {
    let mut ports = BTreeMap::new();
    for port in release.spec.published_ports() {
        ports.insert(
            format!("{}/{}", port.target, port.protocol),
            vec![format!("{}:{}", spec::tasks_name(name), port.target)],
        );
    }
    Upstreams::of_ports(ports)
}

pub(super) async fn wait_healthy(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<Upstreams, Failure> {
    let name = target.name_of(&release.key, release.id())?;
    let replicas = spec::replicas(&release.spec);
    let timeout = release
        .spec
        .windlass
        .health
        .start_timeout
        .unwrap_or(target.config.start_timeout);
    let deadline = Instant::now() + timeout;
    loop {
        let now = look(target, &name).await?;
        if now.healthy(replicas) {
            return Ok(upstreams(release, &name));
        }
        // A task the Swarm places on no node stays pending for ever: the
        // placement (or the resources asked) fits no node, which waiting
        // does not change.
        if let Some(why) = &now.unplaced {
            return Err(Failure::new(
                failures::UNHEALTHY,
                format!(
                    "{}: no node of the Swarm can run its tasks ({}): the Swarm says {why:?}; the app is rolled back",
                    release.label(),
                    placement_of(&release.spec)
                ),
            ));
        }
        if now.failed.len() >= FAILED_TASKS {
            let why: Vec<&str> = now.failed.values().map(String::as_str).collect();
            return Err(Failure::new(
                failures::UNHEALTHY,
                format!(
                    "{}: {} tasks failed on the Swarm ({}); the app is rolled back",
                    release.label(),
                    now.failed.len(),
                    why.join("; ")
                ),
            ));
        }
        if Instant::now() > deadline {
            return Err(Failure::new(
                failures::UNHEALTHY,
                format!(
                    "{}: {} of {} tasks running after {timeout:?}",
                    release.label(),
                    now.running,
                    now.desired
                ),
            ));
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// What of the service decides where its tasks may run, for a message.
fn placement_of(spec: &crate::compose::Service) -> String {
    let mut parts = Vec::new();
    if let Some(placement) = &spec.deploy.placement {
        if !placement.constraints.is_empty() {
            parts.push(format!(
                "deploy.placement.constraints: {}",
                placement.constraints.join(", ")
            ));
        }
        if let Some(max) = placement.max_replicas_per_node {
            parts.push(format!("deploy.placement.max_replicas_per_node: {max}"));
        }
    }
    if spec
        .deploy
        .resources
        .as_ref()
        .is_some_and(|r| r.reservations.is_some())
    {
        parts.push("deploy.resources.reservations".to_owned());
    }
    if parts.is_empty() {
        "its placement".to_owned()
    } else {
        parts.join("; ")
    }
}

pub(super) async fn warm(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<Option<Upstreams>, Failure> {
    let name = target.name_of(&release.key, release.id())?;
    let now = look(target, &name).await?;
    Ok(now
        .healthy(spec::replicas(&release.spec))
        .then(|| upstreams(release, &name)))
}

/// Watches the live release for `x-windlass.watch` (else
/// `update_config.monitor`, else 10 s): a task of it that fails fails the
/// step, and the workflow rolls the app back.
pub(super) async fn watch(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<Watched, Failure> {
    let name = target.name_of(&release.key, release.id())?;
    let service = &release.spec;
    let period = service
        .windlass
        .watch
        .or(service
            .deploy
            .update_config
            .as_ref()
            .and_then(|u| u.monitor))
        .unwrap_or(Duration::from_secs(10));
    let began = Instant::now();
    let before: BTreeSet<String> = look(target, &name).await?.failed.into_keys().collect();
    if service.runs_to_completion {
        return Ok(watched(began, None));
    }
    let baseline = traffic(target, release).await;
    let mut window = None;
    let mut counted = Instant::now();
    while began.elapsed() < period {
        tokio::time::sleep(LOOK_EVERY.min(period)).await;
        let now = look(target, &name).await?;
        if let Some((_, why)) = now.failed.iter().find(|(id, _)| !before.contains(*id)) {
            return Err(Failure::new(
                failures::UNHEALTHY,
                format!("{}: a task failed during the watch: {why}", release.label()),
            ));
        }
        // The entry tasks print their counters every second.
        if baseline.is_some() && counted.elapsed() >= COUNT_EVERY {
            counted = Instant::now();
            window = judge_traffic(target, release, baseline.as_ref()).await?;
        }
    }
    if baseline.is_some() {
        // What was served in the period's last second shows a moment later.
        tokio::time::sleep(super::weights::COUNTED_WITHIN).await;
        window = judge_traffic(target, release, baseline.as_ref()).await?;
    }
    Ok(watched(began, window))
}

/// The entry's counters of the release now; when the manager cannot give
/// them (the logs of a manager that went away), the watch judges the
/// tasks alone rather than fail a release for it.
async fn traffic(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Option<crate::target::weights::Counters> {
    match super::weights::live_traffic(target, release).await {
        Ok(counters) => counters,
        Err(e) => {
            tracing::warn!(release = %release.label(), error = %e.cause, "the entry's counters could not be read; the watch judges the tasks alone");
            None
        }
    }
}

/// How often the watch reads the entry's counters.
const COUNT_EVERY: Duration = Duration::from_secs(1);
/// Fewer answers than this say nothing about a share of 5xx.
const MIN_REQUESTS: u64 = 10;

/// The release's traffic since `baseline`, failed when its 5xx share or
/// p99 is past the service's `x-windlass.rollback_on`.
async fn judge_traffic(
    target: &SwarmTarget,
    release: &ReleaseContext,
    baseline: Option<&crate::target::weights::Counters>,
) -> Result<Option<crate::target::weights::Window>, Failure> {
    let (Some(before), Some(now)) = (baseline, traffic(target, release).await) else {
        return Ok(None);
    };
    let window = now.since(before);
    let on = &release.spec.windlass.rollback_on;
    let allowed = on.server_error_ratio.unwrap_or(0.05);
    let ratio = window.server_error_ratio();
    if window.requests >= MIN_REQUESTS && ratio > allowed {
        return Err(Failure::new(
            failures::SERVER_ERRORS,
            format!(
                "release {}: {} of {} answers through the Swarm's entry were 5xx ({:.1}%) during the watch, above the {:.1}% allowed (x-windlass.rollback_on.server_error_ratio)",
                release.label(),
                window.server_errors,
                window.requests,
                ratio * 100.0,
                allowed * 100.0
            ),
        ));
    }
    if let (Some(limit), Some(p99)) = (on.p99_latency, window.p99()) {
        if window.requests >= MIN_REQUESTS && p99 > limit {
            return Err(Failure::new(
                failures::LATENCY,
                format!(
                    "release {}: p99 latency {p99:?} through the Swarm's entry during the watch, above the {limit:?} allowed (x-windlass.rollback_on.p99_latency)",
                    release.label()
                ),
            ));
        }
    }
    Ok(Some(window))
}

fn watched(began: Instant, window: Option<crate::target::weights::Window>) -> Watched {
    Watched {
        watched_millis: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
        requests: window.as_ref().map_or(0, |w| w.requests),
        server_errors: window.as_ref().map_or(0, |w| w.server_errors),
        p99_millis: window
            .as_ref()
            .and_then(|w| w.p99())
            .map(|d| d.as_secs_f64() * 1000.0),
    }
}

/// How many tasks of service `name` Swarm wants running, and how many run.
pub(super) async fn count(target: &SwarmTarget, name: &str) -> Result<(usize, usize), Failure> {
    let now = look(target, name).await?;
    Ok((now.desired, now.running))
}

/// The nodes the managers judge down: their tasks stop with them.
async fn down_nodes(target: &SwarmTarget) -> Result<BTreeSet<String>, Failure> {
    let nodes = target
        .docker
        .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
        .await
        .map_err(|e| engine("nodes", e))?;
    Ok(nodes
        .into_iter()
        .filter(|n| {
            n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::DOWN)
        })
        .filter_map(|n| n.id)
        .collect())
}

/// Whether service `id` (or a removed one's) still has a task Swarm knows,
/// on a node that is not down (a dead node's tasks never report stopping).
pub(super) async fn any_task(target: &SwarmTarget, id: &str) -> Result<bool, Failure> {
    let down = down_nodes(target).await?;
    // A removed service is no filter the manager accepts any more: every
    // task is listed, and those of the service picked.
    match target.docker.list_tasks(None).await {
        Ok(tasks) => Ok(tasks
            .iter()
            .filter(|t| t.service_id.as_deref() == Some(id))
            .filter(|t| t.node_id.as_ref().is_none_or(|node| !down.contains(node)))
            .any(|t| {
                let state = t.status.as_ref().and_then(|s| s.state);
                !matches!(
                    state,
                    Some(
                        TaskState::SHUTDOWN
                            | TaskState::FAILED
                            | TaskState::COMPLETE
                            | TaskState::REJECTED
                            | TaskState::ORPHANED
                            | TaskState::REMOVE
                    )
                )
            })),
        Err(e) => Err(engine(&format!("tasks of {id}"), e)),
    }
}
