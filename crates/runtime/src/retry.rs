//! Applying an event until its step is stored.
//!
//! The interpreter applies a step to the execution in memory before the
//! step is committed. When the commit fails (the disk is full, the
//! database went away), the execution in memory is ahead of the store: a
//! later commit would store its snapshot without the failed step's
//! history events, and ids would go missing for good. So, as Temporal
//! does with its mutable-state cache, the runtime drops the execution in
//! memory, reloads it from the store, applies the event again and retries
//! the commit, backing off between attempts and logging each failure,
//! until the store takes it. Nothing of the failed step was carried out
//! (its actions run only after a commit), so nothing runs twice.

use std::time::Duration;

use windlass_engine::{Action, Event, Execution, Status};

use crate::{Error, Live, LiveHandle, Runtime};

/// A step whose commit failed: the error, the snapshot it tried to store
/// and the actions it did not carry out.
pub(crate) struct Unstored {
    pub error: Error,
    pub snapshot: String,
    pub actions: Vec<Action>,
}

impl From<Error> for Unstored {
    fn from(error: Error) -> Self {
        Unstored {
            error,
            snapshot: String::new(),
            actions: Vec::new(),
        }
    }
}

/// The first wait after a failed commit; it doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(10);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Whether a failed commit may succeed when tried again: the store's I/O
/// failed. A lost lease or an execution the store does not know will not.
fn retryable(error: &Error) -> bool {
    matches!(error, Error::Store(_))
}

/// What the store holds of an execution after a failed commit.
enum Reloaded {
    /// The failed commit was stored after all (its reply was lost).
    Stored(Execution),
    /// The store has the execution as it was before the step.
    Before(Execution),
}

impl Runtime {
    /// Applies `event` to the running execution and commits the step,
    /// again and again while the store fails (see the module's
    /// documentation).
    pub(crate) async fn apply_until_stored(
        &self,
        handle: &LiveHandle,
        live: &mut Live,
        event: Event,
    ) -> Result<(), Error> {
        let arn = live.execution.meta.execution_arn.clone();
        let definition = live.definition.clone();
        let mut delay = FIRST_DELAY;
        let mut attempt = 1u32;
        loop {
            let now = self.now_millis();
            let execution = &mut live.execution;
            let step = crate::interpret(&definition, || {
                execution.handle(&definition, event.clone(), now)
            });
            let unstored = match self.try_persist_and_act(handle, live, step, None).await {
                Ok(()) => return Ok(()),
                Err(unstored) if retryable(&unstored.error) => unstored,
                Err(unstored) => return Err(unstored.error),
            };
            tracing::error!(
                execution = %arn, attempt, error = %unstored.error, retry_in = ?delay,
                "committing a step failed; reloading the execution from the store to apply the event again"
            );
            let reloaded = loop {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
                match self.reload(&arn, &unstored.snapshot) {
                    Ok(reloaded) => break reloaded,
                    Err(error) if retryable(&error) => {
                        tracing::error!(execution = %arn, %error, retry_in = ?delay, "reading the execution back from the store failed");
                    }
                    Err(error) => {
                        self.lock_live().remove(&arn);
                        return Err(error);
                    }
                }
            };
            match reloaded {
                Reloaded::Stored(execution) => {
                    tracing::warn!(execution = %arn, "the step whose commit failed was stored after all; carrying it out");
                    live.execution = execution;
                    self.carry_out(handle, live, unstored.actions);
                    return Ok(());
                }
                Reloaded::Before(execution) => live.execution = execution,
            }
            if live.execution.status != Status::Running {
                // Ended in the store by a step this runtime did not make.
                self.carry_out(handle, live, Vec::new());
                return Err(Error::NotRunning(arn));
            }
            attempt += 1;
        }
    }

    /// Reads the execution back from the store; `tried` is the snapshot
    /// whose commit failed.
    fn reload(&self, arn: &str, tried: &str) -> Result<Reloaded, Error> {
        let record = self
            .inner
            .store
            .execution(arn)?
            .ok_or_else(|| Error::NoSuchExecution(arn.to_string()))?;
        let execution: Execution =
            serde_json::from_str(&record.snapshot).map_err(|e| Error::Corrupt {
                arn: arn.to_string(),
                reason: e.to_string(),
            })?;
        Ok(if record.snapshot == tried {
            Reloaded::Stored(execution)
        } else {
            Reloaded::Before(execution)
        })
    }
}
