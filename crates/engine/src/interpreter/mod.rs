//! Applying events to an execution: the run loop, frames finishing, and the
//! end of the execution.

pub(crate) mod children;
pub(crate) mod choice;
mod distributed;
mod failure;
pub(crate) mod io;
pub(crate) mod redrive;
pub(crate) mod states;

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Value as Json};
use windlass_asl::definition::{Definition, Transition};
use windlass_asl::Failure;

use crate::event::{Action, Event, Step};
use crate::execution::*;
use crate::history::{details_key, HistoryEvent};
use crate::host::SeededHost;

/// What a state gives on to the next one.
pub(crate) enum Output {
    Value(Json),
    /// The state's input, unchanged.
    Input,
}

/// AWS's limit on history events per execution.
pub const MAX_HISTORY_EVENTS: u64 = 25_000;

impl Execution {
    /// Starts an execution: writes `ExecutionStarted` and runs as far as it can.
    pub fn start(definition: &Definition, meta: ExecutionMeta, now: i64) -> (Execution, Step) {
        Self::start_with(definition, meta, now, true)
    }

    /// Like [`Execution::start`], with what the caller knows of the input's
    /// text and of the alias or version named (see [`StartOptions`]).
    pub fn start_from(
        definition: &Definition,
        meta: ExecutionMeta,
        options: StartOptions,
        now: i64,
    ) -> (Execution, Step) {
        Self::start_inner(definition, meta, options, now, true)
    }

    /// Like [`Execution::start`]; without `history`, no history events are
    /// built, now or later (see [`Execution::set_history`]).
    pub fn start_with(
        definition: &Definition,
        meta: ExecutionMeta,
        now: i64,
        history: bool,
    ) -> (Execution, Step) {
        Self::start_inner(definition, meta, StartOptions::default(), now, history)
    }

    fn start_inner(
        definition: &Definition,
        meta: ExecutionMeta,
        options: StartOptions,
        now: i64,
        history: bool,
    ) -> (Execution, Step) {
        let mut frames = BTreeMap::new();
        let root_state = definition.root().start().unwrap_or(0);
        frames.insert(
            0,
            Box::new(Frame {
                machine: 0,
                parent: None,
                inherit_vars: false,
                state: root_state,
                input: meta.input.clone(),
                vars: Default::default(),
                phase: Phase::Enter,
                retries: Vec::new(),
                entered_millis: now,
                last_event: 0,
                entered_event: 0,
                quiet: false,
                map_item: None,
            }),
        );
        let mut execution = Execution {
            rng: meta.seed,
            meta,
            via: options.via,
            status: Status::Running,
            outcome: None,
            frames,
            tasks: BTreeMap::new(),
            timers: BTreeMap::new(),
            next_id: 0,
            last_event_id: 0,
            stop_millis: None,
            redrive: Default::default(),
            map_runs: Vec::new(),
            history_off: !history,
        };
        let mut run = Run::new(definition, &mut execution, now);
        let mut details = if run.execution.history_off {
            Json::Null
        } else {
            crate::history::payload_details(None, "input", run.execution.meta.input.clone())
        };
        if let Some(map) = details.as_object_mut() {
            if let Some(text) = options.input_text {
                crate::history::keep_text(map, "input", text);
            }
            map.insert(
                "roleArn".into(),
                Json::String(run.execution.meta.role_arn.clone()),
            );
            let via = &run.execution.via;
            for (field, arn) in [
                ("stateMachineAliasArn", &via.alias_arn),
                ("stateMachineVersionArn", &via.version_arn),
            ] {
                if let Some(arn) = arn {
                    map.insert(field.into(), Json::String(arn.clone()));
                }
            }
        }
        let id = run.emit(0, "ExecutionStarted", details);
        if let Some(frame) = run.execution.frames.get_mut(&0) {
            frame.last_event = id;
        }
        if let Some(seconds) = definition.timeout_seconds {
            let at = now.saturating_add(seconds.saturating_mul(1000) as i64);
            run.set_timer(at, TimerPurpose::ExecutionTimeout);
        }
        if definition.root().start().is_none() {
            let failure = Failure::runtime(format!(
                "StartAt '{}' does not name a state of the machine",
                definition.root().start_at
            ));
            run.frame_failed(0, failure);
        } else {
            run.runnable.push_back(0);
        }
        let step = run.finish();
        (execution, step)
    }

    /// Whether the steps that follow carry history events. Off, events are
    /// only counted (their ids still advance): for a caller that keeps no
    /// history, such as an in-memory run or the benchmark.
    pub fn set_history(&mut self, on: bool) {
        self.history_off = !on;
    }

    /// Applies one event and runs as far as the execution can go.
    pub fn handle(&mut self, definition: &Definition, event: Event, now: i64) -> Step {
        if self.status != Status::Running {
            return Step::default();
        }
        let mut run = Run::new(definition, self, now);
        match event {
            Event::TaskStarted { task, worker } => run.task_started(task, worker),
            Event::TaskSubmitted { task, output } => run.task_submitted(task, output),
            Event::TaskSucceeded { task, output } => run.task_finished(task, Ok(output)),
            Event::TaskFailed { task, error, cause } => {
                run.task_finished(task, Err(Failure::new(error, cause)))
            }
            Event::TaskHeartbeat { task } => run.task_heartbeat(task),
            Event::TimerFired { timer } => run.timer_fired(timer),
            Event::UpdateMapRun {
                map_run_arn,
                max_concurrency,
                tolerated_failure_count,
                tolerated_failure_percentage,
            } => run.update_map_run(
                &map_run_arn,
                max_concurrency,
                tolerated_failure_count,
                tolerated_failure_percentage,
            ),
            Event::Stop { error, cause } => run.stop(error, cause),
        }
        run.finish()
    }
}

/// One application of an event: the execution being changed, the step being built.
pub(crate) struct Run<'a> {
    pub def: &'a Definition,
    pub execution: &'a mut Execution,
    pub now: i64,
    pub host: SeededHost,
    pub step: Step,
    pub runnable: VecDeque<FrameId>,
    /// Frames that failed or were cancelled during this run, kept so that
    /// an unsuccessful end can record where a redrive picks up.
    pub wreck: BTreeMap<FrameId, Frame>,
    /// The children of Parallel and Map states that failed during this run.
    pub wreck_children: BTreeMap<FrameId, Children>,
}

impl<'a> Run<'a> {
    fn new(def: &'a Definition, execution: &'a mut Execution, now: i64) -> Self {
        let host = SeededHost::new(execution.rng, now);
        Run {
            def,
            execution,
            now,
            host,
            step: Step::default(),
            runnable: VecDeque::new(),
            wreck: BTreeMap::new(),
            wreck_children: BTreeMap::new(),
        }
    }

    fn finish(mut self) -> Step {
        while let Some(frame) = self.runnable.pop_front() {
            if self.execution.status != Status::Running {
                break;
            }
            self.advance(frame);
        }
        self.execution.rng = self.host.seed();
        self.step
    }

    /// Appends a history event caused by `previous`; returns its id.
    pub fn emit(&mut self, previous: u64, kind: &'static str, details: Json) -> u64 {
        self.execution.last_event_id += 1;
        let id = self.execution.last_event_id;
        if self.execution.history_off {
            return id;
        }
        let has_details = details_key(kind).is_some();
        self.step.history.push(HistoryEvent {
            id,
            previous_event_id: previous,
            timestamp_millis: self.now,
            kind: std::borrow::Cow::Borrowed(kind),
            details: if has_details { details } else { Json::Null },
        });
        id
    }

    /// Appends an event for a frame, chained to that frame's last event.
    pub fn emit_for(&mut self, frame: FrameId, kind: &'static str, details: Json) -> u64 {
        let (previous, quiet) = self
            .execution
            .frames
            .get(&frame)
            .map_or((0, false), |f| (f.last_event, f.quiet));
        if quiet {
            return previous;
        }
        let id = self.emit(previous, kind, details);
        if let Some(f) = self.execution.frames.get_mut(&frame) {
            f.last_event = id;
        }
        id
    }

    pub fn set_timer(&mut self, at_millis: i64, purpose: TimerPurpose) -> TimerId {
        let timer = self.execution.fresh_id();
        self.execution
            .timers
            .insert(timer, Timer { at_millis, purpose });
        self.step
            .actions
            .push(Action::SetTimer { timer, at_millis });
        timer
    }

    pub fn cancel_timer(&mut self, timer: TimerId) {
        if self.execution.timers.remove(&timer).is_some() {
            self.step.actions.push(Action::CancelTimer { timer });
        }
    }

    /// Runs a frame's states until it waits on something or finishes.
    fn advance(&mut self, frame: FrameId) {
        loop {
            if self.execution.status != Status::Running {
                return;
            }
            let Some(f) = self.execution.frames.get(&frame) else {
                return;
            };
            if !matches!(f.phase, Phase::Enter | Phase::Reenter) {
                return;
            }
            match self.enter_state(frame) {
                Flow::Continue => continue,
                Flow::Blocked => return,
            }
        }
    }

    /// The state is done with `output`: write its exit and take its transition.
    pub fn exit_state(&mut self, frame: FrameId, output: Json, next: Option<&str>) -> Flow {
        self.exit_with(frame, Output::Value(output), next)
    }

    /// [`Run::exit_state`], where the output may be the state's input
    /// itself, which then stays where it is rather than being copied.
    pub fn exit_with(&mut self, frame: FrameId, output: Output, next: Option<&str>) -> Flow {
        let Some(f) = self.execution.frames.get(&frame) else {
            return Flow::Blocked;
        };
        let machine_id = f.machine;
        let state = self.def.state(f.machine, f.state);
        // A state's input is never over the limit: what produced it was checked.
        if let Output::Value(output) = &output {
            if let Err(failure) = within_payload_limit(output, &state.name, "returned a result") {
                return self.frame_failed(frame, failure);
            }
        }
        let kind = exited_kind(state);
        let next = match (next, &state.transition) {
            (Some(next), _) => Some(next),
            (None, Transition::Next(next)) => Some(next.as_str()),
            (None, Transition::End | Transition::Terminal) => None,
        };
        if !f.quiet {
            let details = if self.execution.history_off {
                Json::Null
            } else {
                let value = match &output {
                    Output::Value(value) => value.clone(),
                    Output::Input => f.input.clone(),
                };
                crate::history::payload_details(Some(&state.name), "output", value)
            };
            self.emit_for(frame, kind, details);
        }
        self.step.transitions += 1;
        match next {
            Some(next) => {
                let machine = &self.def.machines[machine_id];
                let Some(index) = machine.index_of(next) else {
                    return self.frame_failed(
                        frame,
                        Failure::runtime(format!("Missing 'Next' target: {next}")),
                    );
                };
                let now = self.now;
                if let Some(f) = self.execution.frames.get_mut(&frame) {
                    f.state = index;
                    if let Output::Value(output) = output {
                        f.input = output;
                    }
                    f.phase = Phase::Enter;
                    f.retries.clear();
                    f.entered_millis = now;
                }
                Flow::Continue
            }
            None => {
                let output = match output {
                    Output::Value(output) => output,
                    Output::Input => self
                        .execution
                        .frames
                        .get_mut(&frame)
                        .map(|f| std::mem::take(&mut f.input))
                        .unwrap_or(Json::Null),
                };
                self.frame_succeeded(frame, output)
            }
        }
    }

    /// A frame reached an end with `output`.
    pub fn frame_succeeded(&mut self, frame: FrameId, output: Json) -> Flow {
        let Some(f) = self.execution.frames.remove(&frame) else {
            return Flow::Blocked;
        };
        match f.parent {
            None => {
                let details = if self.execution.history_off {
                    Json::Null
                } else {
                    crate::history::payload_details(None, "output", output.clone())
                };
                self.emit(f.last_event, "ExecutionSucceeded", details);
                self.end_execution(Status::Succeeded, Outcome::Output(output));
            }
            Some(link) => self.child_finished(frame, link, f.last_event, Ok(output)),
        }
        Flow::Blocked
    }

    /// A frame failed with an error nothing in it caught.
    pub fn frame_failed(&mut self, frame: FrameId, failure: Failure) -> Flow {
        let Some(f) = self.execution.frames.remove(&frame) else {
            return Flow::Blocked;
        };
        self.cancel_frame_work(&f, frame);
        let (parent, last_event) = (f.parent, f.last_event);
        self.keep_wreck(frame, *f);
        match parent {
            None => {
                let details = failure::error_details(&failure.error, &failure.cause);
                self.emit(last_event, "ExecutionFailed", details);
                self.end_execution(
                    Status::Failed,
                    Outcome::Error {
                        error: failure.error,
                        cause: failure.cause,
                    },
                );
            }
            Some(link) => self.child_finished(frame, link, last_event, Err(failure)),
        }
        Flow::Blocked
    }

    /// Cancels a frame's own task or timer (not its children: see `remove_subtree`).
    fn cancel_frame_work(&mut self, f: &Frame, frame: FrameId) {
        match &f.phase {
            Phase::Task { task } => self.cancel_task(*task),
            Phase::Wait { timer, .. } | Phase::Backoff { timer } => self.cancel_timer(*timer),
            Phase::Children(children) => {
                for child in children.active.clone() {
                    self.remove_subtree(child);
                }
            }
            Phase::Enter | Phase::Reenter => {}
        }
        let _ = frame;
    }

    /// Removes a frame and everything under it, cancelling their work.
    pub fn remove_subtree(&mut self, frame: FrameId) {
        if let Some(f) = self.execution.frames.remove(&frame) {
            self.cancel_frame_work(&f, frame);
            self.keep_wreck(frame, *f);
        }
    }

    pub fn cancel_task(&mut self, task: TaskId) {
        if let Some(pending) = self.execution.tasks.remove(&task) {
            for timer in [pending.timeout_timer, pending.heartbeat_timer]
                .into_iter()
                .flatten()
            {
                self.cancel_timer(timer);
            }
            self.step.actions.push(Action::CancelTask { task });
        }
    }

    fn end_execution(&mut self, status: Status, outcome: Outcome) {
        self.execution.status = status;
        self.execution.outcome = Some(outcome);
        self.execution.stop_millis = Some(self.now);
        for frame in self.execution.frames.keys().copied().collect::<Vec<_>>() {
            self.remove_subtree(frame);
        }
        for task in self.execution.tasks.keys().copied().collect::<Vec<_>>() {
            self.cancel_task(task);
        }
        for timer in self.execution.timers.keys().copied().collect::<Vec<_>>() {
            self.cancel_timer(timer);
        }
        self.runnable.clear();
        self.close_map_runs(status);
        self.execution.redrive.frames =
            if status == Status::Succeeded || self.execution.meta.express {
                None
            } else {
                Some(redrive::salvage(std::mem::take(&mut self.wreck)))
            };
    }

    fn stop(&mut self, error: Option<String>, cause: Option<String>) {
        let mut details = serde_json::Map::new();
        if let Some(error) = &error {
            details.insert("error".into(), Json::String(error.clone()));
        }
        if let Some(cause) = &cause {
            details.insert("cause".into(), Json::String(cause.clone()));
        }
        let previous = self.execution.last_event_id;
        self.emit(previous, "ExecutionAborted", Json::Object(details));
        self.end_execution(
            Status::Aborted,
            Outcome::Error {
                error: error.unwrap_or_default(),
                cause: cause.unwrap_or_default(),
            },
        );
    }

    fn timer_fired(&mut self, timer: TimerId) {
        let Some(Timer { purpose, .. }) = self.execution.timers.remove(&timer) else {
            return;
        };
        match purpose {
            TimerPurpose::ExecutionTimeout => {
                let previous = self.execution.last_event_id;
                // AWS records a machine's own timeout without an error or
                // a cause (a state's timeout has States.Timeout); the
                // outcome keeps them for callers that report one.
                self.emit(previous, "ExecutionTimedOut", json!({}));
                self.end_execution(
                    Status::TimedOut,
                    Outcome::Error {
                        error: "States.Timeout".into(),
                        cause: "The execution timed out.".into(),
                    },
                );
            }
            TimerPurpose::Resume(frame) => self.resume(frame),
            TimerPurpose::TaskTimeout(task) => {
                self.task_timed_out(task, "States.Timeout", "");
            }
            TimerPurpose::TaskHeartbeat(task) => {
                self.task_timed_out(task, "States.HeartbeatTimeout", "");
            }
        }
    }

    /// A Wait state's or a back-off's timer fired.
    fn resume(&mut self, frame: FrameId) {
        let Some(f) = self.execution.frames.get_mut(&frame) else {
            return;
        };
        match std::mem::replace(&mut f.phase, Phase::Enter) {
            Phase::Wait { output, .. } => {
                if let Flow::Continue = self.exit_state(frame, output, None) {
                    self.runnable.push_back(frame);
                }
            }
            Phase::Backoff { .. } => {
                f.phase = Phase::Reenter;
                self.runnable.push_back(frame);
            }
            other => f.phase = other,
        }
    }
}

fn exited_kind(state: &windlass_asl::definition::State) -> &'static str {
    use windlass_asl::definition::StateKind::*;
    match state.kind {
        Pass(_) => "PassStateExited",
        Task(_) => "TaskStateExited",
        Choice(_) => "ChoiceStateExited",
        Wait(_) => "WaitStateExited",
        Succeed => "SucceedStateExited",
        Fail(_) => "FailStateExited",
        Parallel(_) => "ParallelStateExited",
        Map(_) => "MapStateExited",
    }
}

pub(crate) fn entered_kind(state: &windlass_asl::definition::State) -> &'static str {
    use windlass_asl::definition::StateKind::*;
    match state.kind {
        Pass(_) => "PassStateEntered",
        Task(_) => "TaskStateEntered",
        Choice(_) => "ChoiceStateEntered",
        Wait(_) => "WaitStateEntered",
        Succeed => "SucceedStateEntered",
        Fail(_) => "FailStateEntered",
        Parallel(_) => "ParallelStateEntered",
        Map(_) => "MapStateEntered",
    }
}

/// `States.DataLimitExceeded` when `value` (what state `state` takes in or
/// gives out, as `what` says) is larger than AWS's 256 KiB payload limit.
/// AWS fails such a state with this terminal error, which `States.ALL`
/// does not catch.
pub(crate) fn within_payload_limit(value: &Json, state: &str, what: &str) -> Result<(), Failure> {
    if json_size(value) <= windlass_asl::MAX_PAYLOAD_BYTES {
        return Ok(());
    }
    Err(Failure::new(
        windlass_asl::failure::names::DATA_LIMIT_EXCEEDED,
        format!(
            "The state/task '{state}' {what} with a size exceeding the maximum number of bytes service limit."
        ),
    ))
}

/// The size of a value as compact JSON text, without building the text.
pub(crate) fn json_size(value: &Json) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => 0,
    }
}

/// What the run loop does next with a frame.
pub(crate) enum Flow {
    /// The frame moved to its next state: run it.
    Continue,
    /// The frame waits on something, or is gone.
    Blocked,
}
