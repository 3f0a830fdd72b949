//! ECS deploys that outlive their windlass process. Each deploy or rollback
//! takes the service's deploy lock (`ecs/CLUSTER/SERVICE`) with its
//! execution's ARN as the holder, this process's pid and a heartbeat it
//! beats while it runs, and writes its [`Origin`] (which release, deploy or
//! rollback) into the execution's input. After a crash the execution stays
//! RUNNING in the state folder's store: the next command on the service
//! finds it ([`pending`]), resumes it on this process's runtime
//! ([`windlass_runtime::Runtime::resume_one`]: timers re-armed, an AWS call
//! that was in flight failed as interrupted and retried by the state's
//! Retry) and records its end as the dead process would have.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use windlass_store::releases::{Event, Happened, Lock, Outcome, Release, Releases, ServiceKey};
use windlass_store::Store;

use super::error::Error;
use super::run::{Ecs, Report};
use crate::holder::{host_name, on_this_host, process_gone, HEARTBEAT_EVERY, LOCK_STALE_MILLIS};

/// The key of the execution's input that holds its [`Origin`]; the
/// definition's states never read it.
pub const ORIGIN: &str = "windlass";

/// What an ECS execution was started for, kept in its input so that the
/// process that resumes it knows what to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The service's key in the release store, `ecs/CLUSTER/SERVICE`.
    pub key: ServiceKey,
    /// The release deployed, or the release rolled back to.
    pub release: String,
    pub action: Action,
    /// The pushed image's digest (a deploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deploy,
    Rollback,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
        })
    }
}

impl Origin {
    /// The origin an execution's input text carries, if it is an ECS one.
    pub fn of_input(input: &str) -> Option<Origin> {
        let input: Json = serde_json::from_str(input).ok()?;
        serde_json::from_value(input.get(ORIGIN)?.clone()).ok()
    }
}

/// An ECS execution whose windlass process is gone before it recorded its
/// end: still running in the store, or ended but not recorded.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub execution: String,
    pub origin: Origin,
    /// The release of [`Origin::release`] as the store has it.
    pub release: Release,
    pub started_millis: i64,
    /// Whether the execution is still running (else only its record is left).
    pub running: bool,
    /// The pid of the process that ran it, when its lock says.
    pub pid: Option<u32>,
}

/// What a service's deploy lock and store say before a new command.
#[derive(Debug, Clone)]
pub enum Pending {
    /// Nothing is under way.
    Nothing,
    /// A live windlass process holds the lock.
    Running(Lock),
    /// A deploy or rollback whose process died; resume it.
    Interrupted(Box<Unfinished>),
}

/// Whether `lock`'s holder process is gone: its pid is not running (judged
/// only when the lock is this host's), or it stopped beating; a lock of
/// this very process is its own.
pub fn gone(lock: &Lock, now_millis: i64) -> bool {
    (lock.pid == std::process::id() && on_this_host(&lock.host))
        || process_gone(&lock.host, lock.pid)
        || lock.heartbeat_millis < now_millis - LOCK_STALE_MILLIS
}

/// What is pending on service `key`: the lock's holder when its process
/// lives, else the execution it held (running, or ended and unrecorded),
/// else any running ECS execution of the service (its process died before
/// the lock was durable).
pub fn pending(
    store: &dyn Store,
    releases: &dyn Releases,
    key: &ServiceKey,
    now_millis: i64,
) -> Result<Pending, Error> {
    let failed = |what| {
        move |e: windlass_store::Error| Error::Store {
            what,
            reason: e.to_string(),
        }
    };
    let lock = releases
        .lock_of(key)
        .map_err(failed("read (the deploy lock)"))?;
    if let Some(lock) = &lock {
        if !gone(lock, now_millis) {
            return Ok(Pending::Running(lock.clone()));
        }
    }
    let held = match &lock {
        Some(lock) => store
            .execution(&lock.holder)
            .map_err(failed("read (the lock's execution)"))?,
        None => None,
    };
    let record = match held {
        Some(record) => Some(record),
        None => store
            .running()
            .map_err(failed("read (running executions)"))?
            .into_iter()
            .find(|r| Origin::of_input(&r.input).is_some_and(|o| o.key == *key)),
    };
    let Some(record) = record else {
        return Ok(Pending::Nothing);
    };
    let Some(origin) = Origin::of_input(&record.input).filter(|o| o.key == *key) else {
        return Ok(Pending::Nothing);
    };
    let release = releases
        .get(key, &origin.release)
        .map_err(failed("read (the release)"))?
        .ok_or_else(|| Error::NoRelease {
            service: key.to_string(),
            release: origin.release.clone(),
            known: String::new(),
        })?;
    Ok(Pending::Interrupted(Box::new(Unfinished {
        running: record.status == "RUNNING",
        execution: record.arn,
        origin,
        release,
        started_millis: record.start_millis,
        pid: lock.map(|l| l.pid),
    })))
}

/// A deploy lock this process holds: beaten while it lives, freed when it
/// is dropped (a crash leaves it for [`pending`] to find).
pub struct Held {
    releases: std::sync::Arc<dyn Releases>,
    key: ServiceKey,
    holder: String,
    beat: tokio::task::JoinHandle<()>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.beat.abort();
        if let Err(e) = self.releases.unlock(&self.key, &self.holder) {
            tracing::warn!(%e, key = %self.key, "cannot free the deploy lock");
        }
    }
}

impl Ecs {
    /// What is pending on `key`; a live holder is an error for a new command.
    pub fn unfinished(&self, key: &ServiceKey) -> Result<Option<Unfinished>, Error> {
        let now = self.runtime.now_millis();
        match pending(
            self.runtime.store().as_ref(),
            self.releases.as_ref(),
            key,
            now,
        )? {
            Pending::Nothing => Ok(None),
            Pending::Interrupted(unfinished) => Ok(Some(*unfinished)),
            Pending::Running(lock) => Err(busy(&lock, now)),
        }
    }

    /// Takes `key`'s lock for execution `holder`: free, held by this holder
    /// already (a resume), or held by a process that is gone whose execution
    /// is not running any more. A running execution of a dead process is
    /// resumed, never taken over.
    pub(super) fn lock(&self, key: &ServiceKey, holder: &str) -> Result<Held, Error> {
        let failed = |what| {
            move |e: windlass_store::Error| Error::Store {
                what,
                reason: e.to_string(),
            }
        };
        let now = self.runtime.now_millis();
        let mut stale_before = now - LOCK_STALE_MILLIS;
        if let Some(current) = self
            .releases
            .lock_of(key)
            .map_err(failed("read (the deploy lock)"))?
        {
            if gone(&current, now) {
                if current.holder != holder {
                    let record = self
                        .runtime
                        .store()
                        .execution(&current.holder)
                        .map_err(failed("read (the lock's execution)"))?;
                    if record.is_some_and(|r| r.status == "RUNNING") {
                        return Err(Error::Unfinished {
                            service: key.to_string(),
                            execution: current.holder,
                        });
                    }
                }
                // Taken only if it is still the lock judged gone (its
                // heartbeat no newer): of two processes that judged it so at
                // once, the first to write it wins and the second is told.
                stale_before = current.heartbeat_millis.saturating_add(1);
            }
        }
        let mine = Lock {
            service: key.clone(),
            holder: holder.into(),
            pid: std::process::id(),
            host: host_name().into(),
            heartbeat_millis: now,
        };
        if let Some(other) = self
            .releases
            .try_lock(&mine, stale_before)
            .map_err(failed("written (the deploy lock)"))?
        {
            return Err(busy(&other, now));
        }
        let releases = std::sync::Arc::clone(&self.releases);
        let clock = self.runtime.clone();
        let beat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT_EVERY).await;
                if let Err(e) =
                    releases.heartbeat(host_name(), std::process::id(), clock.now_millis())
                {
                    tracing::warn!(%e, "cannot beat the deploy lock's heartbeat");
                }
            }
        });
        Ok(Held {
            releases: std::sync::Arc::clone(&self.releases),
            key: key.clone(),
            holder: holder.into(),
            beat,
        })
    }

    /// Follows an interrupted deploy or rollback to its end on this
    /// process's runtime and records it as its own process would have.
    pub async fn resume(&self, unfinished: &Unfinished) -> Result<Report, Error> {
        let key = &unfinished.origin.key;
        let arn = &unfinished.execution;
        let _held = self.lock(key, arn)?;
        self.runtime
            .resume_one(arn)
            .await
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let release = &unfinished.release;
        let plan = self.plan_of(key, release)?;
        self.releases.set_execution(key, &release.id, arn).ok();
        let report = self
            .follow(&plan, &release.id, arn, Default::default())
            .await?;
        match unfinished.origin.action {
            Action::Deploy => {
                let digest = unfinished.origin.digest.clone().unwrap_or_default();
                self.finish_deploy(&plan, &release.id, &digest, report)
            }
            Action::Rollback => {
                let live = self
                    .releases
                    .live(key)
                    .map_err(|e| Error::Store {
                        what: "read (the live release)",
                        reason: e.to_string(),
                    })?
                    .map(|l| l.release);
                let took = self.runtime.now_millis() - unfinished.started_millis;
                self.finish_rollback(&plan, &release.id, live, report, took)
            }
        }
    }

    /// Releases of `key` still `deploying` whose execution is not running:
    /// their process died before the rollout started (during the build or
    /// the push). Called with the lock held, so no live deploy owns them.
    pub(super) fn fail_orphans(&self, key: &ServiceKey) -> Result<(), Error> {
        let failed = |what| {
            move |e: windlass_store::Error| Error::Store {
                what,
                reason: e.to_string(),
            }
        };
        let releases = self.releases.list(key).map_err(failed("read (releases)"))?;
        for release in releases.iter().filter(|r| r.outcome == Outcome::Deploying) {
            let running = match &release.execution {
                Some(arn) => self
                    .runtime
                    .store()
                    .execution(arn)
                    .map_err(failed("read (an execution)"))?
                    .is_some_and(|r| r.status == "RUNNING"),
                None => false,
            };
            if !running {
                let interrupted = Happened::Failed {
                    detail: Some("interrupted: windlass stopped before its rollout started (during the build or the push); deploy again".into()),
                };
                self.releases
                    .record(
                        key,
                        &release.id,
                        &Event::at(self.runtime.now_millis(), interrupted),
                    )
                    .map_err(failed("written (an interrupted release)"))?;
            }
        }
        Ok(())
    }
}

fn busy(lock: &Lock, now_millis: i64) -> Error {
    Error::Busy {
        service: lock.service.to_string(),
        execution: lock.holder.clone(),
        pid: lock.pid,
        host: if lock.host.is_empty() {
            host_name().into()
        } else {
            lock.host.clone()
        },
        beat_secs: (now_millis - lock.heartbeat_millis).max(0) / 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_read_back_from_the_input_and_other_inputs_have_none() {
        let origin = Origin {
            key: "ecs/shop/web".parse().expect("a key"),
            release: "r2".into(),
            action: Action::Deploy,
            digest: Some("sha256:1".into()),
        };
        let input = serde_json::json!({ "taskDefinition": {}, ORIGIN: origin }).to_string();
        assert_eq!(Origin::of_input(&input), Some(origin));
        assert_eq!(Origin::of_input(r#"{"release":"r1"}"#), None);
        assert_eq!(Origin::of_input("not json"), None);
    }

    #[test]
    fn a_lock_is_gone_when_its_pid_is_or_its_heartbeat_is_stale() {
        let now = 1_000_000;
        let lock = |pid, heartbeat_millis| Lock {
            service: "ecs/shop/web".parse().expect("a key"),
            holder: "arn".into(),
            pid,
            host: host_name().into(),
            heartbeat_millis,
        };
        // pid 1 (init) lives on every Linux machine.
        assert!(!gone(&lock(1, now - 1_000), now));
        assert!(gone(&lock(1, now - LOCK_STALE_MILLIS - 1), now));
        assert!(gone(&lock(u32::MAX, now), now));
        // Another machine's lock: its pid means nothing here, its heartbeat
        // tells (this very pid there is another process).
        let remote = |pid, heartbeat_millis| Lock {
            host: "another-machine".into(),
            ..lock(pid, heartbeat_millis)
        };
        assert!(!gone(&remote(u32::MAX, now - 1_000), now));
        assert!(!gone(&remote(std::process::id(), now - 1_000), now));
        assert!(gone(&remote(u32::MAX, now - LOCK_STALE_MILLIS - 1), now));
    }
}
