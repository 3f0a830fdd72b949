//! Running an execution to its end in memory on a virtual clock: timers fire
//! as soon as nothing else can happen. Used by the conformance runner, tests,
//! the in-memory benchmark and offline runs with mocked tasks.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value as Json;
use windlass_asl::{Definition, Failure};

use crate::{Action, Event, Execution, ExecutionMeta, HistoryEvent, Step, TaskRequest};

/// Answers tasks synchronously.
pub trait SyncInvoker {
    /// The task's result, or `None` when it never answers (it then waits for
    /// its timeout, or forever).
    fn invoke(&mut self, request: &TaskRequest) -> Option<Result<Json, Failure>>;
}

/// Fails every task: there is nothing to call.
pub struct NoTasks;

impl SyncInvoker for NoTasks {
    fn invoke(&mut self, request: &TaskRequest) -> Option<Result<Json, Failure>> {
        Some(Err(Failure::new(
            "States.TaskFailed",
            format!(
                "No task invoker for resource '{}' in this run",
                request.resource
            ),
        )))
    }
}

/// What a simulated run produced.
pub struct Simulated {
    pub execution: Execution,
    pub history: Vec<HistoryEvent>,
    pub transitions: u64,
    /// Virtual time when the execution ended.
    pub end_millis: i64,
}

/// Options for [`simulate`].
pub struct SimulateConfig {
    /// Keep history events (off for benchmarks that only count).
    pub keep_history: bool,
    /// Give up after this many events, to bound runaway loops.
    pub max_events: usize,
    /// Write the execution to JSON and read it back before every event, as
    /// a restart from the store would (fuzzing checks recovery with it).
    pub reload_between_events: bool,
}

impl Default for SimulateConfig {
    fn default() -> Self {
        SimulateConfig {
            keep_history: true,
            max_events: 1_000_000,
            reload_between_events: false,
        }
    }
}

/// Runs an execution to its end on a virtual clock starting at `meta.start_millis`.
pub fn simulate(
    definition: &Definition,
    meta: ExecutionMeta,
    invoker: &mut dyn SyncInvoker,
    config: &SimulateConfig,
) -> Simulated {
    let now = meta.start_millis;
    let (execution, step) = Execution::start_with(definition, meta, now, config.keep_history);
    drive(definition, execution, step, now, invoker, config)
}

/// Redrives an unsuccessful execution (see [`Execution::redrive`]) and runs
/// it to its end on the virtual clock, starting at `now`. The history holds
/// the events from `ExecutionRedriven` on.
pub fn redrive(
    definition: &Definition,
    mut execution: Execution,
    now: i64,
    invoker: &mut dyn SyncInvoker,
    config: &SimulateConfig,
) -> Result<Simulated, crate::RedriveRefusal> {
    execution.set_history(config.keep_history);
    let step = execution.redrive(definition, now)?;
    Ok(drive(definition, execution, step, now, invoker, config))
}

/// Carries out `step` and every step after it until the execution ends.
fn drive(
    definition: &Definition,
    mut execution: Execution,
    step: Step,
    mut now: i64,
    invoker: &mut dyn SyncInvoker,
    config: &SimulateConfig,
) -> Simulated {
    let mut history = Vec::new();
    let mut transitions = 0;
    let mut timers: BTreeMap<(i64, u64), ()> = BTreeMap::new();
    let mut events: VecDeque<Event> = VecDeque::new();
    let mut absorb = |step: Step,
                      events: &mut VecDeque<Event>,
                      timers: &mut BTreeMap<(i64, u64), ()>,
                      invoker: &mut dyn SyncInvoker,
                      history: &mut Vec<HistoryEvent>| {
        transitions += step.transitions;
        if config.keep_history {
            history.extend(step.history);
        }
        for action in step.actions {
            match action {
                Action::Invoke(request) => {
                    // What the runtime reports before a result: a worker took
                    // the activity (only when one answers); a callback's
                    // service call returned.
                    let activity = request.resource.split(':').nth(5) == Some("activity");
                    let answer = invoker.invoke(&request);
                    if activity && answer.is_some() {
                        events.push_back(Event::TaskStarted {
                            task: request.task,
                            worker: None,
                        });
                    } else if !activity && request.token.is_some() {
                        let output = Json::Object(Default::default());
                        events.push_back(Event::TaskSubmitted {
                            task: request.task,
                            output,
                        });
                    }
                    match answer {
                        Some(Ok(output)) => events.push_back(Event::TaskSucceeded {
                            task: request.task,
                            output,
                        }),
                        Some(Err(f)) => events.push_back(Event::TaskFailed {
                            task: request.task,
                            error: f.error,
                            cause: f.cause,
                        }),
                        None => {}
                    }
                }
                Action::SetTimer { timer, at_millis } => {
                    timers.insert((at_millis, timer), ());
                }
                Action::CancelTimer { timer } => timers.retain(|(_, id), _| *id != timer),
                Action::CancelTask { .. } => {}
            }
        }
    };
    absorb(step, &mut events, &mut timers, invoker, &mut history);
    let mut handled = 0usize;
    while execution.status == crate::Status::Running && handled < config.max_events {
        let event = match events.pop_front() {
            Some(event) => event,
            None => match timers.pop_first() {
                Some(((at, timer), ())) => {
                    now = now.max(at);
                    Event::TimerFired { timer }
                }
                None => break,
            },
        };
        handled += 1;
        if config.reload_between_events {
            execution = reload(&execution);
            execution.set_history(config.keep_history);
        }
        let step = execution.handle(definition, event, now);
        absorb(step, &mut events, &mut timers, invoker, &mut history);
    }
    Simulated {
        execution,
        history,
        transitions,
        end_millis: now,
    }
}

/// The execution as the store would give it back.
fn reload(execution: &Execution) -> Execution {
    match serde_json::to_string(execution).map(|text| serde_json::from_str(&text)) {
        Ok(Ok(reloaded)) => reloaded,
        // Every execution serializes and reads back; a failure here is a bug
        // the fuzz target must see.
        other => panic!("the execution does not survive storing: {:?}", other.err()),
    }
}
