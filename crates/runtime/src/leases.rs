//! Several runtimes on one shared store (PostgreSQL): who drives which
//! execution, taking over from a runtime that died, and reaching an
//! execution that another runtime drives.
//!
//! Each running execution has one owner, the runtime that created or last
//! claimed it; only the owner keeps it live (timers, tasks) and only the
//! owner's commits succeed. A runtime renews its lease every quarter of the
//! lease's length; it also claims the executions
//! whose owner's lease expired (every quarter lease too), resumes them as
//! [`Runtime::recover`] does, and then reads its inbox. A runtime whose commit fails with
//! `NotOwner` was taken over (it stalled past its lease): it drops the
//! execution at once.
//!
//! Events for an execution driven elsewhere (StopExecution, SendTask*, an
//! activity task handed out by another runtime) go through the store: the
//! runtime that received the call posts a [`Message`] to the execution's
//! inbox, and the owner applies it. Tokens are found through the store's
//! `token_tasks`, which every commit keeps in step with the execution.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use windlass_engine::Event;

use crate::{ActivityTask, Error, Inner, Runtime};

/// How often a runtime claims orphans and reads its inbox.
const INBOX_PERIOD: Duration = Duration::from_millis(50);
/// How often a long-polling GetActivityTask looks at the shared queue.
const ACTIVITY_POLL: Duration = Duration::from_millis(100);
/// How long a call waits for another runtime to apply the message it posted.
const POST_WAIT: Duration = Duration::from_secs(10);
/// How often it looks.
const POST_POLL: Duration = Duration::from_millis(10);
/// The most inbox messages one round applies.
const INBOX_BATCH: usize = 256;

/// An event for an execution that another runtime may drive. Task events
/// name the task by its token: only the owner knows the task behind it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum Message {
    Stop {
        error: Option<String>,
        cause: Option<String>,
    },
    TaskStarted {
        token: String,
        worker: Option<String>,
    },
    TaskSucceeded {
        token: String,
        output: Json,
    },
    TaskFailed {
        token: String,
        error: String,
        cause: String,
    },
    TaskHeartbeat {
        token: String,
    },
}

impl Runtime {
    /// Whether other runtimes share the store.
    pub(crate) fn shared(&self) -> bool {
        self.inner.store.lease().is_some()
    }

    /// Claims the executions of runtimes that died and resumes them; starts
    /// the background work of a shared store the first time.
    pub(crate) async fn recover_shared(&self) -> Result<usize, Error> {
        let claimed = self.claim_orphans().await?;
        if !self.inner.background.swap(true, Ordering::SeqCst) {
            if let Some(lease) = self.inner.store.lease() {
                tokio::spawn(renew_leases(Arc::downgrade(&self.inner), lease));
                tokio::spawn(claim_and_read_inbox(Arc::downgrade(&self.inner), lease));
            }
        }
        Ok(claimed)
    }

    async fn claim_orphans(&self) -> Result<usize, Error> {
        let records = self.inner.store.claim_orphans()?;
        let count = records.len();
        for record in records {
            let arn = record.arn.clone();
            // A runtime that stalled past its lease may still hold a stale copy.
            self.abandon(&arn).await;
            tracing::info!(execution = %arn, "took over an execution whose owner's lease expired");
            if let Err(error) = self.resume(record).await {
                tracing::error!(execution = %arn, %error, "cannot resume a claimed execution");
            }
        }
        Ok(count)
    }

    /// Drops a live execution without touching the store: another runtime
    /// drives it now.
    pub(crate) async fn abandon(&self, arn: &str) {
        let handle = self.lock_live().remove(arn);
        if let Some(handle) = handle {
            let mut live = handle.state.lock().await;
            abandon_live(self, arn, &mut live);
        }
    }

    /// Applies the messages other runtimes left for executions this one drives.
    async fn read_inbox(&self) -> Result<(), Error> {
        let messages = self.inner.store.inbox(INBOX_BATCH)?;
        let mut done = Vec::with_capacity(messages.len());
        for message in messages {
            let parsed: Result<Message, _> = serde_json::from_str(&message.body);
            let result = match parsed {
                Ok(parsed) => self.apply(&message.arn, parsed).await,
                Err(error) => {
                    tracing::error!(id = message.id, %error, "dropping an unreadable inbox message");
                    Ok(())
                }
            };
            // A message for an execution taken over meanwhile is the new owner's.
            if !matches!(result, Err(Error::NotOwner(_))) {
                done.push(message.id);
            }
        }
        if !done.is_empty() {
            self.inner.store.ack(&done)?;
        }
        Ok(())
    }

    async fn apply(&self, arn: &str, message: Message) -> Result<(), Error> {
        let event = match message {
            Message::Stop { error, cause } => Event::Stop { error, cause },
            Message::TaskStarted { token, worker } => Event::TaskStarted {
                task: self.local_task(&token)?,
                worker,
            },
            Message::TaskSucceeded { token, output } => Event::TaskSucceeded {
                task: self.take_token(&token)?.1,
                output,
            },
            Message::TaskFailed {
                token,
                error,
                cause,
            } => Event::TaskFailed {
                task: self.take_token(&token)?.1,
                error,
                cause,
            },
            Message::TaskHeartbeat { token } => Event::TaskHeartbeat {
                task: self.local_task(&token)?,
            },
        };
        self.deliver(arn, event).await
    }

    fn local_task(&self, token: &str) -> Result<windlass_engine::TaskId, Error> {
        self.lock_tokens()
            .get(token)
            .map(|(_, task)| *task)
            .ok_or(Error::InvalidToken)
    }

    /// Posts a message for the execution's owner and waits until the owner
    /// has applied it, so that a call answered here is seen in order with
    /// the calls that follow (a worker's SendTaskSuccess after the
    /// GetActivityTask whose TaskStarted went through the inbox; a
    /// DescribeExecution after StopExecution). An owner that died leaves the
    /// message to whoever takes over: after [`POST_WAIT`] the call returns.
    async fn post(&self, arn: &str, message: &Message) -> Result<(), Error> {
        let body = serde_json::to_string(message).map_err(|e| Error::Store(e.to_string()))?;
        let id = self.inner.store.post(arn, &body)?;
        let deadline = tokio::time::Instant::now() + POST_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POST_POLL).await;
            if !self.inner.store.is_posted(id)? {
                break;
            }
        }
        Ok(())
    }

    /// A SendTask* call for a token this runtime does not hold: tells the
    /// execution's owner, wherever it runs.
    pub(crate) async fn post_for_token(&self, token: &str, message: &Message) -> Result<(), Error> {
        let task = self
            .inner
            .store
            .token_task(token)?
            .ok_or(Error::InvalidToken)?;
        self.post(&task.arn, message).await
    }

    /// StopExecution of an execution another runtime drives: asks its owner,
    /// which has stopped it when this returns (unless it died meanwhile).
    pub(crate) async fn stop_elsewhere(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<(), Error> {
        let record = self
            .inner
            .store
            .execution(arn)?
            .ok_or_else(|| Error::NoSuchExecution(arn.to_string()))?;
        if record.status != "RUNNING" {
            return Err(Error::NotRunning(arn.to_string()));
        }
        self.post(arn, &Message::Stop { error, cause }).await
    }

    /// GetActivityTask on a shared store: every runtime's activity tasks are
    /// in one queue in the store.
    pub(crate) async fn get_shared_activity_task(
        &self,
        activity_arn: &str,
        worker: Option<String>,
        wait: Duration,
    ) -> Option<ActivityTask> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.inner.store.take_activity_task(activity_arn) {
                Ok(Some(task)) => {
                    let started = Message::TaskStarted {
                        token: task.token.clone(),
                        worker: worker.clone(),
                    };
                    let result = if self.lock_live().contains_key(&task.arn) {
                        self.apply(&task.arn, started).await
                    } else {
                        self.post(&task.arn, &started).await
                    };
                    if result.is_ok() {
                        let input = serde_json::from_str(&task.input).unwrap_or(Json::Null);
                        return Some(ActivityTask {
                            token: task.token,
                            input,
                        });
                    }
                    continue;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "cannot read the shared activity queue"),
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return None;
            }
            let notified = self.inner.activities.notified(activity_arn);
            let _ = tokio::time::timeout((deadline - now).min(ACTIVITY_POLL), notified).await;
        }
    }
}

/// Stops a live execution's timers and tasks and forgets its tokens.
pub(crate) fn abandon_live(runtime: &Runtime, arn: &str, live: &mut crate::Live) {
    for (_, timer) in live.timers.drain() {
        timer.abort();
    }
    for (_, task) in live.tasks.drain() {
        task.abort();
    }
    runtime.lock_tokens().retain(|_, (a, _)| a != arn);
}

async fn renew_leases(inner: Weak<Inner>, lease: Duration) {
    let period = (lease / 4).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(error) = inner.store.renew_lease() {
            tracing::warn!(%error, "cannot renew this server's lease");
        }
    }
}

/// Claims orphans (every quarter lease) and reads the inbox (every
/// [`INBOX_PERIOD`]) in one task, so that a message for an execution just
/// claimed finds it live.
async fn claim_and_read_inbox(inner: Weak<Inner>, lease: Duration) {
    let claim_period = (lease / 4).max(INBOX_PERIOD);
    let mut last_claim = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(INBOX_PERIOD).await;
        let Some(inner) = inner.upgrade() else { return };
        let runtime = Runtime { inner };
        if last_claim.elapsed() >= claim_period {
            last_claim = tokio::time::Instant::now();
            if let Err(error) = runtime.claim_orphans().await {
                tracing::warn!(%error, "cannot claim the executions of expired leases");
            }
        }
        if let Err(error) = runtime.read_inbox().await {
            tracing::warn!(%error, "cannot read the inbox");
        }
    }
}
