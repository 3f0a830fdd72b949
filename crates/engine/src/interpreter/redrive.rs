//! RedriveExecution: running an unsuccessful execution again from where it
//! stopped.
//!
//! When an execution fails, times out or is aborted, the frames it was
//! running are not thrown away: [`salvage`] keeps each one at the state it
//! stood in (the state that failed, or the one that was running when the
//! execution was stopped). A Parallel or Map state keeps the results of the
//! branches and iterations that succeeded; only those that failed or were
//! cancelled run again, as AWS does. A redrive re-enters those states with
//! the input they had, the variables the frames held, and fresh retry counts.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use windlass_asl::definition::Definition;

use super::{Flow, Run, MAX_HISTORY_EVENTS};
use crate::event::Step;
use crate::execution::{Execution, Frame, FrameId, Phase, Status, TimerPurpose};

/// AWS's limit on redrives of one execution.
pub const MAX_REDRIVES: u32 = 1000;

/// Why an execution cannot be redriven, in AWS's words where AWS has them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedriveRefusal {
    #[error("Execution is {0} and cannot be redriven")]
    NotEnded(&'static str),
    #[error("Execution is of an EXPRESS state machine and cannot be redriven")]
    Express,
    #[error("Execution has reached the maximum of {MAX_REDRIVES} redrives")]
    TooManyRedrives,
    #[error("Execution reached the maximum number of history events and cannot be redriven")]
    HistoryFull,
    #[error("Execution ended before windlass recorded where it stopped, and cannot be redriven")]
    NothingToResume,
}

impl Execution {
    /// Whether RedriveExecution may run this execution again.
    pub fn redrivable(&self) -> Result<(), RedriveRefusal> {
        match self.status {
            Status::Failed | Status::TimedOut | Status::Aborted => {}
            other => return Err(RedriveRefusal::NotEnded(other.as_str())),
        }
        if self.meta.express {
            return Err(RedriveRefusal::Express);
        }
        if self.redrive.count >= MAX_REDRIVES {
            return Err(RedriveRefusal::TooManyRedrives);
        }
        if self.last_event_id >= MAX_HISTORY_EVENTS {
            return Err(RedriveRefusal::HistoryFull);
        }
        match &self.redrive.frames {
            Some(frames) if frames.contains_key(&0) => Ok(()),
            _ => Err(RedriveRefusal::NothingToResume),
        }
    }

    /// Runs the execution again from where it stopped: writes
    /// `ExecutionRedriven` and re-enters the states that did not finish.
    pub fn redrive(&mut self, definition: &Definition, now: i64) -> Result<Step, RedriveRefusal> {
        self.redrivable()?;
        let frames = self.redrive.frames.take().unwrap_or_default();
        self.redrive.count += 1;
        self.redrive.last_millis = Some(now);
        self.status = Status::Running;
        self.outcome = None;
        self.stop_millis = None;
        self.frames = frames
            .into_iter()
            .map(|(id, f)| (id, Box::new(f)))
            .collect();
        let count = self.redrive.count;
        let mut run = Run::new(definition, self, now);
        let previous = run.execution.last_event_id;
        let redriven = run.emit(
            previous,
            "ExecutionRedriven",
            json!({ "redriveCount": count }),
        );
        if let Some(seconds) = definition.timeout_seconds {
            let at = now.saturating_add(seconds.saturating_mul(1000) as i64);
            run.set_timer(at, TimerPurpose::ExecutionTimeout);
        }
        let ids: Vec<FrameId> = run.execution.frames.keys().copied().collect();
        for id in &ids {
            if let Some(f) = run.execution.frames.get_mut(id) {
                f.last_event = f.last_event.max(redriven);
                if matches!(f.phase, Phase::Enter) {
                    f.entered_millis = now;
                }
            }
        }
        for id in ids {
            let Some(f) = run.execution.frames.get(&id) else {
                continue;
            };
            match &f.phase {
                Phase::Children(children) => {
                    if children.distributed && !f.quiet {
                        let arn = run.reopen_map_run(id);
                        run.emit_for(
                            id,
                            "MapRunRedriven",
                            json!({ "mapRunArn": arn, "redriveCount": count }),
                        );
                    }
                    run.start_queued_children(id);
                    if let Flow::Continue = run.maybe_children_done(id) {
                        run.runnable.push_back(id);
                    }
                }
                _ => run.runnable.push_back(id),
            }
        }
        Ok(run.finish())
    }
}

impl Run<'_> {
    /// Keeps a frame that failed or was cancelled, for [`salvage`].
    pub(super) fn keep_wreck(&mut self, id: FrameId, mut frame: Frame) {
        if let Some(children) = self.wreck_children.remove(&id) {
            if matches!(frame.phase, Phase::Enter) {
                frame.phase = Phase::Children(Box::new(children));
            }
        }
        self.wreck.insert(id, frame);
    }
}

/// From the frames an unsuccessful end left behind, those a redrive runs
/// again: the root, and under each Parallel or Map state still waiting,
/// the branches and iterations that failed or were cancelled. Frames of
/// earlier, caught failures are not reachable from the root and are dropped.
pub(super) fn salvage(mut wreck: BTreeMap<FrameId, Frame>) -> BTreeMap<FrameId, Frame> {
    let mut children_of: BTreeMap<FrameId, BTreeMap<usize, FrameId>> = BTreeMap::new();
    for (&id, frame) in &wreck {
        if let Some(link) = frame.parent {
            // A later attempt at a slot replaces an earlier one.
            let latest = children_of
                .entry(link.frame)
                .or_default()
                .entry(link.slot)
                .or_insert(id);
            *latest = (*latest).max(id);
        }
    }
    let mut kept = BTreeMap::new();
    let mut pending = vec![0];
    while let Some(id) = pending.pop() {
        let Some(mut frame) = wreck.remove(&id) else {
            continue;
        };
        frame.retries.clear();
        frame.phase = match std::mem::replace(&mut frame.phase, Phase::Enter) {
            Phase::Children(mut children) => {
                children.active = BTreeSet::new();
                children.first_failure = None;
                let queued: BTreeSet<usize> = children.queued.iter().map(|q| q.0).collect();
                for (child, mut failed) in std::mem::take(&mut children.failed_frames) {
                    let Some(link) = failed.parent else { continue };
                    if let Some(result) = children.results.get_mut(link.slot) {
                        *result = None;
                    }
                    children.failures = children.failures.saturating_sub(1);
                    failed.retries.clear();
                    // Its own children were lost when it failed: its
                    // current state runs again from the start.
                    failed.phase = Phase::Enter;
                    children.active.insert(child);
                    kept.insert(child, failed);
                }
                if !children.distributed {
                    children.failures = 0;
                }
                for (slot, child) in children_of.remove(&id).unwrap_or_default() {
                    let unfinished = children.results.get(slot).is_some_and(Option::is_none);
                    if unfinished && !queued.contains(&slot) && !children.active.contains(&child) {
                        children.active.insert(child);
                        pending.push(child);
                    }
                }
                Phase::Children(children)
            }
            _ => Phase::Enter,
        };
        kept.insert(id, frame);
    }
    kept
}
