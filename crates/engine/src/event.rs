//! What the runtime tells an execution ([`Event`]) and what the execution
//! asks the runtime to do ([`Action`]).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::execution::{TaskId, TimerId};
use crate::history::HistoryEvent;

/// Something that happened to a running execution.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Event {
    /// A worker took the task (activities), or the invoker began it.
    TaskStarted {
        task: TaskId,
        worker: Option<String>,
    },
    /// A `.waitForTaskToken` task's service call returned; the task now
    /// waits for its token.
    TaskSubmitted {
        task: TaskId,
        output: Json,
    },
    TaskSucceeded {
        task: TaskId,
        output: Json,
    },
    TaskFailed {
        task: TaskId,
        error: String,
        cause: String,
    },
    TaskHeartbeat {
        task: TaskId,
    },
    TimerFired {
        timer: TimerId,
    },
    /// UpdateMapRun: new limits for a running Map Run.
    UpdateMapRun {
        map_run_arn: String,
        max_concurrency: Option<u64>,
        tolerated_failure_count: Option<u64>,
        tolerated_failure_percentage: Option<f64>,
    },
    /// StopExecution.
    Stop {
        error: Option<String>,
        cause: Option<String>,
    },
}

/// A task for the runtime to carry out.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TaskRequest {
    pub task: TaskId,
    /// The state's `Resource`.
    pub resource: String,
    /// The task's input (after Parameters or Arguments).
    pub input: Json,
    /// The state that runs the task.
    pub state_name: String,
    /// A token for `.waitForTaskToken` and activities: the task ends when a
    /// SendTask* call presents it.
    pub token: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
    /// Step Functions Local mock test case lookups need the attempt number.
    pub attempt: u64,
    /// `Credentials` evaluated, when the state has them.
    pub credentials: Option<Json>,
}

/// Something the runtime must do after it has persisted the step.
// Actions live only until the runtime carries them out; boxing the task
// request would cost an allocation per task for no saving.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Action {
    Invoke(TaskRequest),
    /// The task no longer matters (timed out, its branch failed, stopped).
    CancelTask {
        task: TaskId,
    },
    SetTimer {
        timer: TimerId,
        at_millis: i64,
    },
    CancelTimer {
        timer: TimerId,
    },
}

/// The result of applying an event: history to append, actions to carry out.
#[derive(Clone, Debug, Default)]
pub struct Step {
    pub history: Vec<HistoryEvent>,
    pub actions: Vec<Action>,
    /// How many state transitions this step made (for benchmarks and limits).
    pub transitions: u64,
}
