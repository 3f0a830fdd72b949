//! The state of one execution: plain, serializable data.
//!
//! A running execution is a tree of frames. The root frame runs the top-level
//! machine; each Parallel branch and Map iteration runs in a child frame.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map as JsonMap, Value as Json};
use windlass_asl::definition::{MachineId, StateId};
use windlass_asl::Failure;

pub type FrameId = u64;
pub type TaskId = u64;
pub type TimerId = u64;

/// What an execution is, fixed when it starts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExecutionMeta {
    pub execution_arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub state_machine_name: String,
    pub role_arn: String,
    pub input: Json,
    pub start_millis: i64,
    /// Seed of the execution's random generator (UUIDs, jitter, tokens).
    pub seed: u64,
    /// Whether the machine is EXPRESS (no history events are required).
    pub express: bool,
}

/// The alias or version a StartExecution named, when it named one rather
/// than the state machine itself: AWS reports both on the execution.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StartedVia {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_arn: Option<String>,
}

impl StartedVia {
    /// Started through the state machine's own ARN.
    pub fn is_direct(&self) -> bool {
        self.alias_arn.is_none() && self.version_arn.is_none()
    }
}

/// What a start may know beyond the [`ExecutionMeta`] (see
/// [`Execution::start_from`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StartOptions {
    /// The input as the caller wrote it (JSON text that reads as
    /// `meta.input`): ExecutionStarted records it unchanged, spacing and
    /// number spelling included, as AWS does.
    pub input_text: Option<String>,
    pub via: StartedVia,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }
}

/// How the execution ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Outcome {
    Output(Json),
    Error { error: String, cause: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Execution {
    pub meta: ExecutionMeta,
    /// The alias or version the execution was started through.
    #[serde(default, skip_serializing_if = "StartedVia::is_direct")]
    pub via: StartedVia,
    pub status: Status,
    pub outcome: Option<Outcome>,
    pub(crate) frames: BTreeMap<FrameId, Box<Frame>>,
    pub(crate) tasks: BTreeMap<TaskId, PendingTask>,
    pub(crate) timers: BTreeMap<TimerId, Timer>,
    pub(crate) next_id: u64,
    /// Id of the last history event written.
    pub last_event_id: u64,
    pub(crate) rng: u64,
    pub(crate) stop_millis: Option<i64>,
    /// What RedriveExecution needs: how often it ran, and where an
    /// unsuccessful execution stood when it ended.
    #[serde(default)]
    pub(crate) redrive: Redrive,
    /// The Map Runs of the execution's Distributed Map states, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) map_runs: Vec<crate::map_run::MapRun>,
    /// No history events are built (ids are still counted, so AWS's limit
    /// holds): for in-memory runs whose caller keeps no history. Never
    /// stored; a durable execution always records its history.
    #[serde(skip)]
    pub(crate) history_off: bool,
}

/// How often a stored execution was redriven and when last, read from its
/// snapshot (JSON text) without building the rest of it: for listings.
pub fn redrive_summary(snapshot: &str) -> (u32, Option<i64>) {
    #[derive(Deserialize)]
    struct Only {
        #[serde(default)]
        redrive: Counts,
    }
    #[derive(Default, Deserialize)]
    struct Counts {
        #[serde(default)]
        count: u32,
        #[serde(default)]
        last_millis: Option<i64>,
    }
    serde_json::from_str::<Only>(snapshot)
        .map(|only| (only.redrive.count, only.redrive.last_millis))
        .unwrap_or((0, None))
}

/// What a listing of executions shows of each, read from its snapshot
/// (JSON text) without building the rest of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub redrive_count: u32,
    pub redrive_millis: Option<i64>,
    pub via: StartedVia,
}

/// The [`Summary`] of a stored execution; an unreadable snapshot gives the
/// empty summary.
pub fn summary(snapshot: &str) -> Summary {
    #[derive(Deserialize)]
    struct Only {
        #[serde(default)]
        redrive: Counts,
        #[serde(default)]
        via: StartedVia,
    }
    #[derive(Default, Deserialize)]
    struct Counts {
        #[serde(default)]
        count: u32,
        #[serde(default)]
        last_millis: Option<i64>,
    }
    serde_json::from_str::<Only>(snapshot)
        .map(|only| Summary {
            redrive_count: only.redrive.count,
            redrive_millis: only.redrive.last_millis,
            via: only.via,
        })
        .unwrap_or_default()
}

/// An execution's redrives, and what an unsuccessful end left to redrive.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Redrive {
    pub count: u32,
    pub last_millis: Option<i64>,
    /// The frames as they stood when the execution ended unsuccessfully,
    /// each at the state to run again (see `interpreter::redrive`).
    pub frames: Option<BTreeMap<FrameId, Frame>>,
    /// The client tokens of the last successful redrives and their times:
    /// a retried request with one of them gets the same answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<(String, i64)>,
}

impl Execution {
    /// When the execution ended.
    pub fn stop_millis(&self) -> Option<i64> {
        self.stop_millis
    }

    /// The tasks waiting for a result, for the runtime to re-arm after a restart.
    pub fn pending_tasks(&self) -> impl Iterator<Item = (TaskId, &PendingTask)> {
        self.tasks.iter().map(|(id, task)| (*id, task))
    }

    /// The tasks that wait for their token to come back (activities and
    /// `.waitForTaskToken` callbacks), with their tokens; none once the
    /// execution has ended.
    pub fn token_tasks(&self) -> impl Iterator<Item = (&str, &PendingTask)> {
        let running = self.status == Status::Running;
        self.tasks
            .values()
            .filter(move |_| running)
            .filter_map(|task| Some((task.request.token.as_deref()?, task)))
    }

    /// The armed timers and when they fire, for the runtime to re-arm after a restart.
    pub fn pending_timers(&self) -> impl Iterator<Item = (TimerId, i64)> + '_ {
        self.timers.iter().map(|(id, timer)| (*id, timer.at_millis))
    }

    /// The execution's Map Runs, oldest first.
    pub fn map_runs(&self) -> &[crate::map_run::MapRun] {
        &self.map_runs
    }

    /// How many times the execution was redriven, and when last.
    pub fn redrive_count(&self) -> u32 {
        self.redrive.count
    }

    pub fn redrive_millis(&self) -> Option<i64> {
        self.redrive.last_millis
    }

    /// When the redrive requested with client token `token` happened, if
    /// it is one of the last ten.
    pub fn redriven_with(&self, token: &str) -> Option<i64> {
        self.redrive
            .tokens
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, millis)| *millis)
    }

    /// Records the client token of the redrive that just happened (AWS
    /// answers the last ten idempotently).
    pub fn remember_redrive_token(&mut self, token: String) {
        let millis = self.redrive.last_millis.unwrap_or_default();
        self.redrive.tokens.push((token, millis));
        let excess = self.redrive.tokens.len().saturating_sub(10);
        self.redrive.tokens.drain(..excess);
    }

    pub(crate) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// A task the execution waits on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingTask {
    pub frame: FrameId,
    pub request: crate::TaskRequest,
    pub started: bool,
    pub(crate) timeout_timer: Option<TimerId>,
    pub(crate) heartbeat_timer: Option<TimerId>,
    /// `Activity` or `Task` events.
    pub(crate) activity: bool,
    /// What the result is for: a Task state, or a Distributed Map's
    /// reading of items or writing of results.
    #[serde(default, skip_serializing_if = "TaskPurpose::is_state")]
    pub(crate) purpose: TaskPurpose,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum TaskPurpose {
    #[default]
    State,
    ReadItems,
    WriteResults,
}

impl TaskPurpose {
    fn is_state(&self) -> bool {
        *self == TaskPurpose::State
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Timer {
    pub at_millis: i64,
    pub purpose: TimerPurpose,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum TimerPurpose {
    /// A Wait state, or a Retry back-off, of a frame.
    Resume(FrameId),
    TaskTimeout(TaskId),
    TaskHeartbeat(TaskId),
    ExecutionTimeout,
}

/// Where a child frame reports to.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct ParentLink {
    pub frame: FrameId,
    /// Branch index (Parallel) or item index (Map).
    pub slot: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Frame {
    pub machine: MachineId,
    pub parent: Option<ParentLink>,
    /// Whether variable lookups continue in the parent frame.
    pub inherit_vars: bool,
    pub state: StateId,
    /// The current state's raw input.
    pub input: Json,
    pub vars: JsonMap<String, Json>,
    pub phase: Phase,
    /// Attempts made so far per retrier of the current state.
    pub retries: Vec<u64>,
    pub entered_millis: i64,
    /// The id of the last history event of this frame.
    pub last_event: u64,
    /// The id of the current state's entered event.
    pub entered_event: u64,
    /// `$$.Map.Item` of an iteration frame, for `$$` inside it.
    pub map_item: Option<(usize, Json)>,
    /// Inside a Distributed Map iteration: AWS records such iterations in
    /// child executions' histories, not in this execution's, so the frame
    /// writes no history events here.
    #[serde(default)]
    pub quiet: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Phase {
    /// Ready to enter `state`.
    Enter,
    /// Ready to run `state` again after a Retry back-off (no new entry event).
    Reenter,
    /// Waiting for a task; `input` is the task's effective input.
    Task { task: TaskId },
    /// Waiting for a Wait state's timer.
    Wait { timer: TimerId, output: Json },
    /// Waiting out a Retry back-off before entering the state again.
    Backoff { timer: TimerId },
    /// A Parallel or Map state waiting for its children (boxed: frames are
    /// moved about in the frame map, and most are not waiting on children).
    Children(Box<Children>),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Children {
    pub results: Vec<Option<Json>>,
    /// Inputs of Map iterations not started yet, in order.
    pub queued: std::collections::VecDeque<(usize, Json, Json)>,
    pub active: std::collections::BTreeSet<FrameId>,
    pub max_concurrency: usize,
    pub failures: u64,
    pub tolerated_count: Option<u64>,
    pub tolerated_percentage: Option<f64>,
    pub total: usize,
    pub first_failure: Option<SerdeFailure>,
    pub distributed: bool,
    /// Distributed Map iterations that failed within the tolerance, as
    /// they stood when they failed: a redrive runs them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_frames: Vec<(FrameId, Frame)>,
}

/// [`Failure`] in a serializable form.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct SerdeFailure {
    pub error: String,
    pub cause: String,
}

impl From<Failure> for SerdeFailure {
    fn from(f: Failure) -> Self {
        SerdeFailure {
            error: f.error,
            cause: f.cause,
        }
    }
}

impl From<SerdeFailure> for Failure {
    fn from(f: SerdeFailure) -> Self {
        Failure {
            error: f.error,
            cause: f.cause,
        }
    }
}
