//! Deploys and rollbacks whose windlass process died (a `kill -9`, a lost
//! terminal) before they ended, carried on by the next command of a process
//! that runs its executions itself: the CLI on a Swarm, where no agent
//! outlives a command. Their locks name the dead process; the execution is
//! still running in the state folder's store (or ended with its end not yet
//! recorded). [`Agent::resume_interrupted`] takes those locks over, resumes
//! each execution on this process's runtime (a task the kill interrupted
//! fails as interrupted and its state's Retry runs the idempotent step
//! again) and records its end as the dead process would have. An execution
//! whose process lives is left to it: the new command is then refused as
//! busy, as before.

use std::collections::BTreeMap;

use windlass_store::releases::{Event, Happened, Lock, Outcome, ServiceKey};
use windlass_store::ExecutionRecord;

use super::contract::Started;
use super::machines::{Kind, Place};
use super::{running, Agent, Error};
use crate::holder::{host_name, on_this_host, process_gone};
use crate::workflow::app::AppInput;
use crate::workflow::ReleaseRef;

/// An execution of a dead process that this one carries on.
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub execution: String,
    pub kind: Kind,
    /// The pid of the process that ran it.
    pub pid: u32,
    /// Whether it was still running (else only its end was unrecorded).
    pub running: bool,
    /// The app release (app executions) or the service release it deploys
    /// or goes back to.
    pub release: String,
    /// Its services as the command that started it reported them.
    pub started: Vec<Started>,
    /// The Compose text it deploys (a deploy's), to tell a command that
    /// asks for the same deploy again.
    pub compose_text: Option<String>,
}

impl Interrupted {
    /// Whether it puts services back on an earlier release.
    pub fn is_rollback(&self) -> bool {
        matches!(self.kind, Kind::Rollback | Kind::AppRollback)
    }
}

impl Agent {
    /// Carries on every execution of this agent's place whose process is
    /// gone (see the module's text); returns them, resumed or recorded.
    /// Follow each with [`windlass_runtime::Runtime::wait`].
    pub async fn resume_interrupted(&self) -> Result<Vec<Interrupted>, Error> {
        let mut held: BTreeMap<String, Vec<Lock>> = BTreeMap::new();
        for key in self.releases.keys()?.into_iter().filter(|k| !k.is_ecs()) {
            let Some(lock) = self.releases.lock_of(&key)? else {
                continue;
            };
            let mine = lock.pid == self.pid && on_this_host(&lock.host);
            if self.place.owns(&lock.holder) && !mine && process_gone(&lock.host, lock.pid) {
                held.entry(lock.holder.clone()).or_default().push(lock);
            }
        }
        let mut carried = Vec::new();
        for (arn, locks) in held {
            let Some(record) = self.runtime.store().execution(&arn)? else {
                // Killed between its locks and its start: nothing ran.
                self.abandon(&arn, &locks)?;
                continue;
            };
            if !self.take_over(&locks)? {
                // Another command took it over first and carries it on.
                continue;
            }
            let running = running(&record.status);
            if running {
                self.runtime.resume_one(&arn).await?;
            }
            let interrupted = self.describe(&record, &locks, running)?;
            if !self.finish_app_after_restart(&record) {
                for lock in &locks {
                    self.finish_later(&lock.service, &arn, None);
                }
            }
            tracing::info!(execution = %arn, pid = interrupted.pid, running, "carrying on an execution whose windlass process is gone");
            carried.push(interrupted);
        }
        Ok(carried)
    }

    /// Takes `locks` (one execution's, judged gone) for this process, all
    /// or none; false when another process took them over meanwhile.
    fn take_over(&self, locks: &[Lock]) -> Result<bool, Error> {
        let now = self.clock.now_millis();
        let mine: Vec<(Lock, i64)> = locks
            .iter()
            .map(|lock| {
                let taken = Lock {
                    pid: self.pid,
                    host: host_name().into(),
                    heartbeat_millis: now,
                    ..lock.clone()
                };
                // Only while it is still the lock judged gone.
                (taken, lock.heartbeat_millis.saturating_add(1))
            })
            .collect();
        Ok(self.releases.try_lock_all(&mine)?.is_none())
    }

    /// What `record` was started for, from its input.
    fn describe(
        &self,
        record: &ExecutionRecord,
        locks: &[Lock],
        running: bool,
    ) -> Result<Interrupted, Error> {
        let kind = Place::of_arn(&record.arn).map_or(Kind::AppDeploy, |(_, kind)| kind);
        let (release, refs, app_release) = match kind {
            Kind::AppDeploy | Kind::AppRollback => {
                let input: AppInput = serde_json::from_str(&record.input)
                    .map_err(|e| Error::Definition(format!("the input of {}: {e}", record.arn)))?;
                (input.release.clone(), input.services, Some(input.release))
            }
            Kind::Deploy | Kind::Rollback => {
                let input: ReleaseRef = serde_json::from_str(&record.input)
                    .map_err(|e| Error::Definition(format!("the input of {}: {e}", record.arn)))?;
                (input.release.clone(), vec![input], None)
            }
        };
        let compose_text = match (kind, refs.first()) {
            (Kind::AppDeploy | Kind::Deploy, Some(first)) => {
                let key = ServiceKey::new(first.app.as_str(), first.service.as_str())?;
                self.releases
                    .get(&key, &first.release)?
                    .map(|r| r.compose_text)
            }
            _ => None,
        };
        let started = refs
            .iter()
            .map(|r| Started {
                service: r.service.clone(),
                release: r.release.clone(),
                previous: r.previous.clone(),
                execution: record.arn.clone(),
                app: Some(r.app.clone()),
                app_release: app_release.clone(),
                unchanged: false,
            })
            .collect();
        Ok(Interrupted {
            execution: record.arn.clone(),
            kind,
            pid: locks.first().map_or(0, |l| l.pid),
            running,
            release,
            started,
            compose_text,
        })
    }

    /// Frees the locks of an execution that never started and fails the
    /// releases its command created for it.
    fn abandon(&self, arn: &str, locks: &[Lock]) -> Result<(), Error> {
        let at = self.clock.now_millis();
        let failed = || {
            Event::at(
                at,
                Happened::Failed {
                    detail: Some(
                        "interrupted: windlass stopped before the execution started; deploy again"
                            .into(),
                    ),
                },
            )
        };
        let mut apps = std::collections::BTreeSet::new();
        for lock in locks {
            for release in self.releases.list(&lock.service)? {
                if release.outcome == Outcome::Deploying
                    && release.execution.as_deref() == Some(arn)
                {
                    self.releases
                        .record(&lock.service, &release.id, &failed())?;
                }
            }
            apps.insert(lock.service.app().to_owned());
        }
        for app in apps {
            for release in self.releases.app_releases(&app)? {
                if release.outcome == Outcome::Deploying
                    && release.execution.as_deref() == Some(arn)
                {
                    self.releases.record_app(&app, &release.id, &failed())?;
                }
            }
        }
        for lock in locks {
            self.releases.unlock(&lock.service, arn)?;
        }
        Ok(())
    }
}
