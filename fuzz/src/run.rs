//! Fuzz body for whole runs: an arbitrary definition, when it validates, is
//! run on the virtual clock with a small event budget and a task invoker
//! whose answers the task input decides. The run must end (or stop at the
//! budget) without panicking, and a finished execution must have an outcome
//! that fits its status.
//!
//! The same run is repeated with the execution stored as JSON and read
//! back before every event, as the durable runtime does when it recovers
//! after a crash: the history and outcome must not change.
//!
//! The bytes are the definition text (JSON or YAML); a line `@@input`
//! starts the execution input (JSON) after it.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Value as Json};
use windlass_asl::parse::parse_text;
use windlass_asl::{Definition, Failure};
use windlass_engine::simulate::{simulate as run, SimulateConfig, SyncInvoker};
use windlass_engine::{
    Action, Event, Execution, ExecutionMeta, HistoryEvent, Outcome, Status, Step, TaskRequest,
    TimerId,
};

/// Events handled before a run is cut off: enough for loops and small Maps,
/// few enough to keep each fuzz iteration fast.
const EVENT_BUDGET: usize = 2_000;

/// Answers by the task's input: `{"hang": true}` never answers, `{"fail":
/// "Name"}` throws that error, anything else is echoed back. A task whose
/// input has `"flaky": true` fails on its first attempt only.
struct InputDriven;

impl SyncInvoker for InputDriven {
    fn invoke(&mut self, request: &TaskRequest) -> Option<Result<Json, Failure>> {
        let input = &request.input;
        if input.get("hang").and_then(Json::as_bool) == Some(true) {
            return None;
        }
        if let Some(error) = input.get("fail").and_then(Json::as_str) {
            return Some(Err(Failure::new(error, "thrown by the fuzz invoker")));
        }
        if input.get("flaky").and_then(Json::as_bool) == Some(true) && request.attempt == 0 {
            return Some(Err(Failure::new(
                "States.TaskFailed",
                "first attempt fails",
            )));
        }
        Some(Ok(json!({"echo": input, "state": request.state_name})))
    }
}

/// Target `simulate`.
pub fn simulate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (definition_text, input_text) = match text.split_once("\n@@input\n") {
        Some((definition, input)) => (definition, Some(input)),
        None => (text, None),
    };
    let Ok(definition) = parse_text(definition_text).valid() else {
        return;
    };
    let input = input_text
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_else(|| json!({"items": [1, 2, 3], "flag": true, "n": 2}));
    let meta = meta(input);
    let config = SimulateConfig {
        keep_history: true,
        max_events: EVENT_BUDGET,
    };
    let simulated = run(&definition, meta.clone(), &mut InputDriven, &config);
    let execution = &simulated.execution;
    match (execution.status, &execution.outcome) {
        (Status::Running, _) | (Status::Succeeded, Some(Outcome::Output(_))) => {}
        (Status::Failed | Status::TimedOut | Status::Aborted, Some(Outcome::Error { .. })) => {}
        (status, outcome) => panic!("execution ended {status:?} with outcome {outcome:?}"),
    }
    for event in &simulated.history {
        let _ = event.to_aws(true);
    }
    let reloaded = run_reloading(&definition, meta);
    assert_eq!(reloaded.status, execution.status, "status after reloads");
    assert_eq!(reloaded.outcome, execution.outcome, "outcome after reloads");
    if let Some(i) = (0..simulated.history.len().max(reloaded.history.len()))
        .find(|&i| simulated.history.get(i) != reloaded.history.get(i))
    {
        panic!(
            "history event {} differs after reloads:\n  straight: {:?}\n  reloaded: {:?}",
            i + 1,
            simulated.history.get(i),
            reloaded.history.get(i)
        );
    }
}

fn meta(input: Json) -> ExecutionMeta {
    ExecutionMeta {
        execution_arn: "arn:aws:states:us-east-1:111111111111:execution:Fuzz:run".into(),
        name: "run".into(),
        state_machine_arn: "arn:aws:states:us-east-1:111111111111:stateMachine:Fuzz".into(),
        state_machine_name: "Fuzz".into(),
        role_arn: "arn:aws:iam::111111111111:role/fuzz".into(),
        input,
        start_millis: 1_700_000_000_000,
        seed: 7,
        express: false,
    }
}

/// What [`run_reloading`] ends with.
struct Reloaded {
    status: Status,
    outcome: Option<Outcome>,
    history: Vec<HistoryEvent>,
}

/// Pending work of a run: task answers to deliver and armed timers.
#[derive(Default)]
struct Pending {
    events: VecDeque<Event>,
    timers: BTreeMap<(i64, TimerId), ()>,
}

impl Pending {
    /// Carries out a step's actions the way `simulate` does.
    fn absorb(&mut self, step: Step, history: &mut Vec<HistoryEvent>) {
        history.extend(step.history);
        for action in step.actions {
            match action {
                Action::Invoke(request) => match InputDriven.invoke(&request) {
                    Some(Ok(output)) => self.events.push_back(Event::TaskSucceeded {
                        task: request.task,
                        output,
                    }),
                    Some(Err(f)) => self.events.push_back(Event::TaskFailed {
                        task: request.task,
                        error: f.error,
                        cause: f.cause,
                    }),
                    None => {}
                },
                Action::SetTimer { timer, at_millis } => {
                    self.timers.insert((at_millis, timer), ());
                }
                Action::CancelTimer { timer } => self.timers.retain(|(_, id), _| *id != timer),
                Action::CancelTask { .. } => {}
            }
        }
    }
}

/// The run of `simulate`, with the execution written to JSON and read back
/// before every event.
fn run_reloading(definition: &Definition, meta: ExecutionMeta) -> Reloaded {
    let mut now = meta.start_millis;
    let (mut execution, step) = Execution::start(definition, meta, now);
    let mut history = Vec::new();
    let mut pending = Pending::default();
    pending.absorb(step, &mut history);
    let mut handled = 0;
    while execution.status == Status::Running && handled < EVENT_BUDGET {
        let event = match pending.events.pop_front() {
            Some(event) => event,
            None => match pending.timers.pop_first() {
                Some(((at, timer), ())) => {
                    now = now.max(at);
                    Event::TimerFired { timer }
                }
                None => break,
            },
        };
        handled += 1;
        execution = reload(&execution);
        let step = execution.handle(definition, event, now);
        pending.absorb(step, &mut history);
    }
    Reloaded {
        status: execution.status,
        outcome: execution.outcome,
        history,
    }
}

/// The execution as the store would give it back.
fn reload(execution: &Execution) -> Execution {
    let stored = serde_json::to_string(execution)
        .unwrap_or_else(|e| panic!("the execution cannot be stored: {e}"));
    serde_json::from_str(&stored)
        .unwrap_or_else(|e| panic!("the stored execution cannot be read back: {e}\n{stored}"))
}
