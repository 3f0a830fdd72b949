//! The runtime: carries out what the interpreter asks, durably.
//!
//! For every event it applies, the runtime commits the execution's new
//! snapshot and history to the [`Store`] first (grouped with other
//! executions' commits into one transaction) and only then carries out the
//! step's actions: invoking tasks, arming timers. After a crash,
//! [`Runtime::recover`] loads the running executions, re-arms their timers
//! and fails interrupted tasks with `States.TaskFailed` so their Retry rules
//! decide what happens.
//!
//! When several runtimes share the store, each execution is driven by one of
//! them at a time: see [`leases`].

mod activities;
mod committer;
pub mod http;
pub mod invoke;
pub mod leases;
pub mod memory_watch;
mod retry;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use windlass_asl::Definition;
use windlass_engine::{
    Action, Event, Execution, ExecutionMeta, Outcome, StartOptions, Status, Step, TaskId,
    TaskRequest,
};
use windlass_store::{Commit, ExecutionRecord, Store, WaitingTask};

pub use activities::ActivityTask;
pub use committer::Committer;
pub use invoke::{Invoker, Invokers, MockInvoker};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Store(String),
    #[error("the runtime has stopped")]
    Stopped,
    #[error("execution {0} does not exist")]
    NoSuchExecution(String),
    #[error("execution {0} is not running")]
    NotRunning(String),
    #[error("the stored state of execution {arn} cannot be read: {reason}")]
    Corrupt { arn: String, reason: String },
    #[error("the task token is not valid or its task has ended")]
    InvalidToken,
    #[error("execution {0} is driven by another server now")]
    NotOwner(String),
    #[error("{0}")]
    NotRedrivable(String),
}

impl From<windlass_store::Error> for Error {
    fn from(error: windlass_store::Error) -> Self {
        match error {
            windlass_store::Error::NotOwner(arn) => Error::NotOwner(arn),
            other => Error::Store(other.to_string()),
        }
    }
}

/// The execution's tasks that wait for a token, as a store that keeps them
/// wants them in each commit.
fn token_tasks(execution: &Execution) -> Vec<WaitingTask> {
    execution
        .token_tasks()
        .map(|(token, task)| WaitingTask {
            token: token.to_string(),
            activity: activities::is_activity(&task.request.resource)
                .then(|| task.request.resource.clone()),
            input: task.request.input.to_string(),
            started: task.started,
        })
        .collect()
}

/// Runs the interpreter's `work` for an execution of `definition`. JSONata
/// may take seconds of CPU (its budget is 5 s an expression), which must
/// not hold an async worker that other requests wait for: on a
/// multi-threaded runtime, a definition with JSONata is interpreted in
/// `block_in_place`, which hands this worker's other tasks to another
/// thread first. The interpreter stays a pure function of its arguments.
fn interpret<R>(definition: &Definition, work: impl FnOnce() -> R) -> R {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_threaded && definition.uses_jsonata() {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Tells the time; the runtime's only clock.
pub trait Clock: Send + Sync + 'static {
    fn now_millis(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// How an execution ended, as the runtime reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub status: Status,
    pub outcome: Option<Outcome>,
}

/// A request to start an execution.
pub struct StartRequest {
    /// The definition's text, stored with the execution so it can resume.
    pub definition_text: String,
    pub definition: Arc<Definition>,
    pub meta: ExecutionMeta,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Started {
    New,
    /// An execution with this ARN already exists (AWS's idempotent start).
    Existing(ExecutionRecord),
}

/// The durable executor. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    committer: Committer,
    invokers: Invokers,
    clock: Arc<dyn Clock>,
    live: Mutex<HashMap<String, Arc<LiveHandle>>>,
    /// Task token -> (execution ARN, task).
    tokens: Mutex<HashMap<String, (String, TaskId)>>,
    activities: activities::Queues,
    definitions: Mutex<HashMap<String, Arc<Definition>>>,
    /// Held while a redrive reads an ended execution and commits it running
    /// again, so that two redrives of one execution never both do.
    redriving: tokio::sync::Mutex<()>,
    /// Whether the lease and inbox tasks of a shared store run.
    background: AtomicBool,
}

struct LiveHandle {
    state: tokio::sync::Mutex<Live>,
    finished: watch::Sender<Option<Finished>>,
}

impl LiveHandle {
    /// A handle for an execution this runtime drives from now on.
    fn new(execution: Execution, definition: Arc<Definition>) -> Arc<LiveHandle> {
        Arc::new(LiveHandle {
            state: tokio::sync::Mutex::new(Live {
                execution,
                definition,
                timers: HashMap::new(),
                tasks: HashMap::new(),
            }),
            finished: watch::channel(None).0,
        })
    }
}

struct Live {
    execution: Execution,
    definition: Arc<Definition>,
    timers: HashMap<u64, AbortHandle>,
    tasks: HashMap<TaskId, AbortHandle>,
}

impl Runtime {
    /// A runtime with the standard invokers (the HTTP Task) plus `invokers`,
    /// which take precedence.
    pub fn with_standard_invokers(
        store: Arc<dyn Store>,
        mut invokers: Invokers,
        clock: Arc<dyn Clock>,
    ) -> Self {
        if invokers.find(http::RESOURCE).is_none() {
            invokers.register(http::RESOURCE, Arc::new(http::HttpInvoker::default()));
        }
        Self::new(store, invokers, clock)
    }

    pub fn new(store: Arc<dyn Store>, invokers: Invokers, clock: Arc<dyn Clock>) -> Self {
        memory_watch::watch_jsonata_memory();
        let committer = Committer::new(store.clone());
        Runtime {
            inner: Arc::new(Inner {
                store,
                committer,
                invokers,
                clock,
                live: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                activities: activities::Queues::default(),
                definitions: Mutex::new(HashMap::new()),
                redriving: tokio::sync::Mutex::new(()),
                background: AtomicBool::new(false),
            }),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The invoker that carries out tasks of `resource` (without its
    /// `.waitForTaskToken`), if any: TestState calls it for an unmocked Task.
    pub fn invoker(&self, resource: &str) -> Option<Arc<dyn Invoker>> {
        self.inner
            .invokers
            .find(resource.trim_end_matches(".waitForTaskToken"))
    }

    pub fn now_millis(&self) -> i64 {
        self.inner.clock.now_millis()
    }

    /// Starts an execution; with an ARN that exists already, returns it instead.
    pub async fn start(&self, request: StartRequest) -> Result<Started, Error> {
        self.start_from(request, StartOptions::default()).await
    }

    /// Like [`Runtime::start`], with the input's text as the caller wrote
    /// it (stored unchanged) and the alias or version it named.
    pub async fn start_from(
        &self,
        request: StartRequest,
        options: StartOptions,
    ) -> Result<Started, Error> {
        let arn = request.meta.execution_arn.clone();
        let now = self.now_millis();
        let input_text = options.input_text.clone();
        let (execution, step) = interpret(&request.definition, || {
            Execution::start_from(&request.definition, request.meta, options, now)
        });
        let record = ExecutionRecord {
            arn: arn.clone(),
            name: execution.meta.name.clone(),
            state_machine_arn: execution.meta.state_machine_arn.clone(),
            definition: request.definition_text,
            status: execution.status.as_str().to_string(),
            input: input_text.unwrap_or_else(|| execution.meta.input.to_string()),
            start_millis: execution.meta.start_millis,
            stop_millis: None,
            snapshot: String::new(),
        };
        let handle = LiveHandle::new(execution, request.definition);
        let mut live = handle.state.lock().await;
        // No read of the store first: the create fails when the ARN is
        // taken, and only then is the existing execution read.
        while let Some(other) = self.claim_live(&arn, &handle) {
            // Running here, or being started by a concurrent call that
            // holds its lock until its create is committed (or failed).
            drop(other.state.lock().await);
            if let Some(existing) = self.inner.store.execution(&arn)? {
                return Ok(Started::Existing(existing));
            }
        }
        if let Err(error) = self
            .persist_and_act(&handle, &mut live, step, Some(record))
            .await
        {
            self.lock_live().remove(&arn);
            // Another start of the same name won the race (on a shared
            // store, perhaps on another server): AWS's idempotent start.
            if let Some(existing) = self.inner.store.execution(&arn)? {
                return Ok(Started::Existing(existing));
            }
            return Err(error);
        }
        Ok(Started::New)
    }

    /// Applies an event to a running execution.
    pub async fn deliver(&self, arn: &str, event: Event) -> Result<(), Error> {
        let handle = self
            .lock_live()
            .get(arn)
            .cloned()
            .ok_or_else(|| Error::NotRunning(arn.to_string()))?;
        let mut live = handle.state.lock().await;
        if live.execution.status != Status::Running {
            return Err(Error::NotRunning(arn.to_string()));
        }
        self.apply_until_stored(&handle, &mut live, event).await
    }

    /// Waits until the execution ends.
    pub async fn wait(&self, arn: &str) -> Result<Finished, Error> {
        let handle = self.lock_live().get(arn).cloned();
        if let Some(handle) = handle {
            let mut receiver = handle.finished.subscribe();
            loop {
                if let Some(finished) = receiver.borrow_and_update().clone() {
                    return Ok(finished);
                }
                if receiver.changed().await.is_err() {
                    break;
                }
            }
        }
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
        Ok(Finished {
            status: execution.status,
            outcome: execution.outcome,
        })
    }

    /// Resumes every execution the store says is running; returns how many.
    /// On a store shared with other runtimes: resumes those whose owner's
    /// lease expired, and from then on keeps this runtime's lease and takes
    /// over from runtimes that die (see [`leases`]).
    pub async fn recover(&self) -> Result<usize, Error> {
        if self.shared() {
            return self.recover_shared().await;
        }
        let records = self.inner.store.running()?;
        let count = records.len();
        for record in records {
            self.resume(record).await?;
        }
        Ok(count)
    }

    /// Resumes one execution the store says is running, as [`Runtime::recover`]
    /// does for all of them: for a caller that owns only some executions of
    /// a store it shares with other processes (the ECS deploy of the CLI
    /// beside a deploy agent). Returns whether it runs here now. Not for a
    /// store with leases, whose executions are claimed by `recover`. Two
    /// calls at once resume it once: the first to claim the execution in
    /// the live map carries it on (see `resume`).
    pub async fn resume_one(&self, arn: &str) -> Result<bool, Error> {
        if self.lock_live().contains_key(arn) {
            return Ok(true);
        }
        match self.inner.store.execution(arn)? {
            Some(record) if record.status == Status::Running.as_str() => {
                self.resume(record).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn resume(&self, record: ExecutionRecord) -> Result<(), Error> {
        let execution: Execution =
            serde_json::from_str(&record.snapshot).map_err(|e| Error::Corrupt {
                arn: record.arn.clone(),
                reason: e.to_string(),
            })?;
        let definition = self.definition_for(&record)?;
        let arn = record.arn.clone();
        let handle = LiveHandle::new(execution, definition);
        let mut interrupted = Vec::new();
        {
            // Locked before it is claimed, so that a caller that finds it in
            // the live map waits until its timers and tasks are back.
            let mut live = handle.state.lock().await;
            if self.claim_live(&arn, &handle).is_some() {
                // Resumed (or started) by a concurrent call, which carries
                // it on: resuming it again would arm its timers and fail
                // its interrupted tasks twice.
                return Ok(());
            }
            // The record was read before the claim: an execution that a
            // concurrent resume has carried on (and perhaps ended) since is
            // left to the store's newer snapshot.
            let now = self.inner.store.execution(&arn)?;
            if now.is_none_or(|r| r.snapshot != record.snapshot) {
                self.lock_live().remove(&arn);
                return Ok(());
            }
            let timers: Vec<(u64, i64)> = live.execution.pending_timers().collect();
            for (timer, at) in timers {
                self.arm_timer(&arn, &mut live, timer, at);
            }
            let tasks: Vec<TaskRequest> = live
                .execution
                .pending_tasks()
                .map(|(_, t)| t.request.clone())
                .collect();
            for request in tasks {
                match &request.token {
                    // Workers and callbacks may still answer: keep waiting for them.
                    Some(token) => {
                        self.lock_tokens()
                            .insert(token.clone(), (arn.clone(), request.task));
                        // A shared store queues activity tasks itself.
                        if activities::is_activity(&request.resource) && !self.shared() {
                            self.inner
                                .activities
                                .push(&request.resource, ActivityTask::from_request(&request));
                        }
                    }
                    // Reading a Map's items or writing its results gives
                    // the same answer again: carry it out again.
                    None if windlass_engine::map_run::is_repeatable(&request.resource) => {
                        self.invoke(&arn, &mut live, request);
                    }
                    None => interrupted.push(request.task),
                }
            }
        }
        for task in interrupted {
            let event = Event::TaskFailed {
                task,
                error: "States.TaskFailed".into(),
                cause: "The task was interrupted when windlass stopped; it may or may not have completed.".into(),
            };
            self.deliver(&arn, event).await?;
        }
        Ok(())
    }

    fn definition_for(&self, record: &ExecutionRecord) -> Result<Arc<Definition>, Error> {
        if let Some(definition) = self.lock_definitions().get(&record.definition) {
            return Ok(definition.clone());
        }
        let parsed = windlass_asl::parse::parse_text(&record.definition)
            .valid()
            .map_err(|diagnostics| Error::Corrupt {
                arn: record.arn.clone(),
                reason: format!(
                    "its definition no longer parses: {}",
                    diagnostics
                        .first()
                        .map_or(String::new(), ToString::to_string)
                ),
            })?;
        let definition = Arc::new(parsed);
        self.lock_definitions()
            .insert(record.definition.clone(), definition.clone());
        Ok(definition)
    }

    /// StopExecution.
    pub async fn stop(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<(), Error> {
        if self.shared() && !self.lock_live().contains_key(arn) {
            return self.stop_elsewhere(arn, error, cause).await;
        }
        self.deliver(arn, Event::Stop { error, cause }).await
    }

    /// RedriveExecution: runs an execution that failed, timed out or was
    /// stopped again from the states that did not finish (see
    /// [`Execution::redrive`]); returns when it was redriven.
    /// A request repeated with the same `client_token` gets the first
    /// one's answer.
    pub async fn redrive(&self, arn: &str, client_token: Option<&str>) -> Result<i64, Error> {
        let _one_at_a_time = self.inner.redriving.lock().await;
        let record = self
            .inner
            .store
            .execution(arn)?
            .ok_or_else(|| Error::NoSuchExecution(arn.to_string()))?;
        let mut execution: Execution =
            serde_json::from_str(&record.snapshot).map_err(|e| Error::Corrupt {
                arn: arn.to_string(),
                reason: e.to_string(),
            })?;
        if let Some(millis) = client_token.and_then(|t| execution.redriven_with(t)) {
            return Ok(millis);
        }
        if self.lock_live().contains_key(arn) {
            return Err(Error::NotRedrivable(
                windlass_engine::RedriveRefusal::NotEnded("RUNNING").to_string(),
            ));
        }
        execution
            .redrivable()
            .map_err(|refusal| Error::NotRedrivable(refusal.to_string()))?;
        // On a shared store: become its owner, unless another server
        // redrove it first.
        if !self.inner.store.claim_ended(arn)? {
            return Err(Error::NotRedrivable(
                windlass_engine::RedriveRefusal::NotEnded("RUNNING").to_string(),
            ));
        }
        let definition = self.definition_for(&record)?;
        let now = self.now_millis();
        let step = interpret(&definition, || execution.redrive(&definition, now))
            .map_err(|refusal| Error::NotRedrivable(refusal.to_string()))?;
        if let Some(token) = client_token {
            execution.remember_redrive_token(token.to_string());
        }
        let handle = LiveHandle::new(execution, definition);
        let mut live = handle.state.lock().await;
        self.lock_live().insert(arn.to_string(), handle.clone());
        if let Err(error) = self.persist_and_act(&handle, &mut live, step, None).await {
            self.lock_live().remove(arn);
            return Err(error);
        }
        Ok(now)
    }

    /// SendTaskSuccess.
    pub async fn send_task_success(&self, token: &str, output: Json) -> Result<(), Error> {
        let Some((arn, task)) = self.lock_tokens().remove(token) else {
            return self
                .post_elsewhere(
                    token,
                    leases::Message::TaskSucceeded {
                        token: token.to_string(),
                        output,
                    },
                )
                .await;
        };
        self.deliver(&arn, Event::TaskSucceeded { task, output })
            .await
    }

    /// SendTaskFailure.
    pub async fn send_task_failure(
        &self,
        token: &str,
        error: String,
        cause: String,
    ) -> Result<(), Error> {
        let Some((arn, task)) = self.lock_tokens().remove(token) else {
            let message = leases::Message::TaskFailed {
                token: token.to_string(),
                error,
                cause,
            };
            return self.post_elsewhere(token, message).await;
        };
        self.deliver(&arn, Event::TaskFailed { task, error, cause })
            .await
    }

    /// SendTaskHeartbeat.
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), Error> {
        let Some((arn, task)) = self.lock_tokens().get(token).cloned() else {
            return self
                .post_elsewhere(
                    token,
                    leases::Message::TaskHeartbeat {
                        token: token.to_string(),
                    },
                )
                .await;
        };
        self.deliver(&arn, Event::TaskHeartbeat { task }).await
    }

    /// A SendTask* call for a token this runtime does not know: on a shared
    /// store its execution may run elsewhere.
    async fn post_elsewhere(&self, token: &str, message: leases::Message) -> Result<(), Error> {
        if !self.shared() {
            return Err(Error::InvalidToken);
        }
        self.post_for_token(token, &message).await
    }

    /// GetActivityTask: waits up to `wait` for a task of `activity_arn`.
    pub async fn get_activity_task(
        &self,
        activity_arn: &str,
        worker: Option<String>,
        wait: Duration,
    ) -> Option<ActivityTask> {
        if self.shared() {
            return self
                .get_shared_activity_task(activity_arn, worker, wait)
                .await;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(task) = self.inner.activities.pop(activity_arn) {
                let Some((arn, id)) = self.lock_tokens().get(&task.token).cloned() else {
                    continue;
                };
                if self
                    .deliver(
                        &arn,
                        Event::TaskStarted {
                            task: id,
                            worker: worker.clone(),
                        },
                    )
                    .await
                    .is_ok()
                {
                    return Some(task);
                }
            }
            let notified = self.inner.activities.notified(activity_arn);
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    fn take_token(&self, token: &str) -> Result<(String, TaskId), Error> {
        self.lock_tokens().remove(token).ok_or(Error::InvalidToken)
    }

    /// Puts `handle` in the live map under `arn`, unless another handle
    /// is there: that one is returned.
    fn claim_live(&self, arn: &str, handle: &Arc<LiveHandle>) -> Option<Arc<LiveHandle>> {
        match self.lock_live().entry(arn.to_string()) {
            std::collections::hash_map::Entry::Occupied(entry) => Some(entry.get().clone()),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(handle.clone());
                None
            }
        }
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveHandle>>> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, TaskId)>> {
        self.inner.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_definitions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Definition>>> {
        self.inner
            .definitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Commits the step, then carries out its actions.
    async fn persist_and_act(
        &self,
        handle: &LiveHandle,
        live: &mut Live,
        step: Step,
        create: Option<ExecutionRecord>,
    ) -> Result<(), Error> {
        self.try_persist_and_act(handle, live, step, create)
            .await
            .map_err(|unstored| unstored.error)
    }

    /// Commits the step, then carries out its actions; when the commit
    /// fails, gives back what it tried to store and the actions it did not
    /// carry out (see [`retry`]).
    async fn try_persist_and_act(
        &self,
        handle: &LiveHandle,
        live: &mut Live,
        step: Step,
        create: Option<ExecutionRecord>,
    ) -> Result<(), retry::Unstored> {
        let arn = live.execution.meta.execution_arn.clone();
        let snapshot = serde_json::to_string(&live.execution).map_err(|e| Error::Corrupt {
            arn: arn.clone(),
            reason: e.to_string(),
        })?;
        let commit = Commit {
            arn: arn.clone(),
            create,
            status: live.execution.status.as_str().to_string(),
            stop_millis: live.execution.stop_millis(),
            snapshot: snapshot.clone(),
            history: step.history,
            token_tasks: self
                .inner
                .store
                .keeps_token_tasks()
                .then(|| token_tasks(&live.execution)),
        };
        if let Err(error) = self.inner.committer.commit(commit).await {
            if matches!(error, Error::NotOwner(_)) {
                // Another runtime took the execution over: it drives it now.
                tracing::warn!(execution = %arn, "lost the lease of an execution; another server drives it now");
                self.lock_live().remove(&arn);
                leases::abandon_live(self, &arn, live);
            }
            return Err(retry::Unstored {
                error,
                snapshot,
                actions: step.actions,
            });
        }
        self.carry_out(handle, live, step.actions);
        Ok(())
    }

    /// Carries out a committed step's actions; ends the execution here when
    /// the step ended it.
    fn carry_out(&self, handle: &LiveHandle, live: &mut Live, actions: Vec<Action>) {
        let arn = live.execution.meta.execution_arn.clone();
        for action in actions {
            self.act(&arn, live, action);
        }
        if live.execution.status != Status::Running {
            for (_, timer) in live.timers.drain() {
                timer.abort();
            }
            for (_, task) in live.tasks.drain() {
                task.abort();
            }
            self.lock_live().remove(&arn);
            let finished = Finished {
                status: live.execution.status,
                outcome: live.execution.outcome.clone(),
            };
            handle.finished.send_replace(Some(finished));
        }
    }

    fn act(&self, arn: &str, live: &mut Live, action: Action) {
        match action {
            Action::SetTimer { timer, at_millis } => self.arm_timer(arn, live, timer, at_millis),
            Action::CancelTimer { timer } => {
                if let Some(handle) = live.timers.remove(&timer) {
                    handle.abort();
                }
            }
            Action::CancelTask { task } => {
                if let Some(handle) = live.tasks.remove(&task) {
                    handle.abort();
                }
                self.lock_tokens()
                    .retain(|_, (a, t)| !(a == arn && *t == task));
            }
            Action::Invoke(request) => self.invoke(arn, live, request),
        }
    }

    fn arm_timer(&self, arn: &str, live: &mut Live, timer: u64, at_millis: i64) {
        let delay =
            Duration::from_millis(u64::try_from(at_millis - self.now_millis()).unwrap_or(0));
        let runtime = self.clone();
        let arn = arn.to_string();
        let handle = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // The execution may have ended meanwhile; nothing to do then.
            let _ = runtime.deliver(&arn, Event::TimerFired { timer }).await;
        });
        live.timers.insert(timer, handle.abort_handle());
    }

    fn invoke(&self, arn: &str, live: &mut Live, request: TaskRequest) {
        let task = request.task;
        if let Some(token) = &request.token {
            self.lock_tokens()
                .insert(token.clone(), (arn.to_string(), task));
            if activities::is_activity(&request.resource) {
                if self.shared() {
                    // The commit put the task in the store's queue: wake
                    // this runtime's pollers.
                    self.inner.activities.wake(&request.resource);
                } else {
                    self.inner
                        .activities
                        .push(&request.resource, ActivityTask::from_request(&request));
                }
                return;
            }
        }
        let callback = request.token.is_some();
        let base = request
            .resource
            .trim_end_matches(".waitForTaskToken")
            .to_string();
        let invoker = self.inner.invokers.find(&base);
        let runtime = self.clone();
        let arn = arn.to_string();
        let handle = tokio::spawn(async move {
            let result = match invoker {
                Some(invoker) => invoker.invoke(request).await,
                None => Err(windlass_asl::Failure::new(
                    "States.TaskFailed",
                    format!("windlass has no task invoker for the resource '{base}'"),
                )),
            };
            let event = match result {
                // A callback task ends when its token comes back, not now.
                Ok(output) if callback => Event::TaskSubmitted { task, output },
                Ok(output) => Event::TaskSucceeded { task, output },
                Err(failure) => Event::TaskFailed {
                    task,
                    error: failure.error,
                    cause: failure.cause,
                },
            };
            let _ = runtime.deliver(&arn, event).await;
        });
        live.tasks.insert(task, handle.abort_handle());
    }
}
