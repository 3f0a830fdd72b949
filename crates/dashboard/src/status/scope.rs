//! Map iterations: each one's index, status, the events that hold its
//! input and output, and the states as they ran in it alone (the page
//! shows one iteration at a time, as the Step Functions console does).

use std::collections::HashMap;

use serde::Serialize;
use windlass_engine::HistoryEvent;

use super::{colour, ItemCounts, StateSummary, Tracker};

/// How a Map iteration went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IterationStatus {
    #[default]
    Running,
    Succeeded,
    Failed,
    /// Stopped by the Map's failure (another iteration failed) or the
    /// execution's end.
    Aborted,
}

/// One iteration of a Map state's entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Iteration {
    /// Its number in the tracker (what the page asks for).
    pub id: usize,
    /// The Map state's node id.
    pub map: String,
    /// Which entry of the Map state it belongs to (0: the first).
    pub entry: usize,
    /// The item's index in the Map's items.
    pub index: u64,
    pub status: IterationStatus,
    /// The iteration it runs in, for a Map inside a Map.
    pub within: Option<usize>,
    /// `MapIterationStarted`.
    pub started_event: u64,
    /// The first state's entry: its input is the item (after ItemSelector).
    pub input_event: Option<u64>,
    /// The last event of its states (an exit holds the iteration's output).
    pub last_event: Option<u64>,
    #[serde(skip)]
    map_instance: usize,
}

impl Tracker {
    /// A `MapIterationStarted` of Map instance `map`.
    pub(super) fn iteration_began(&mut self, map: usize, event: &HistoryEvent) {
        let node = self.instances[map].node;
        let entry = self.instances[map].entry;
        let id = self.iterations.len();
        self.iterations.push(Iteration {
            id,
            map: self.ids[node].clone(),
            entry,
            index: event
                .details
                .get("index")
                .and_then(|i| i.as_u64())
                .unwrap_or(0),
            status: IterationStatus::Running,
            within: self.instances[map].iteration,
            started_event: event.id,
            input_event: None,
            last_event: None,
            map_instance: map,
        });
        self.iteration_started.insert(event.id, id);
        let index = self.iterations[id].index;
        self.current_iteration.insert((map, index), id);
        self.map_iterations.entry(map).or_default().push(id);
    }

    /// A `MapIteration{Succeeded,Failed,Aborted}` of Map instance `map`.
    pub(super) fn iteration_ended(&mut self, map: usize, event: &HistoryEvent) {
        let index = event.details.get("index").and_then(|i| i.as_u64());
        let found = index
            .and_then(|index| self.current_iteration.get(&(map, index)))
            .and_then(|id| self.iterations.get_mut(*id));
        if let Some(iteration) = found {
            iteration.status = match event.kind.as_ref() {
                "MapIterationSucceeded" => IterationStatus::Succeeded,
                "MapIterationFailed" => IterationStatus::Failed,
                _ => IterationStatus::Aborted,
            };
            iteration.last_event = Some(event.previous_event_id);
        }
    }

    /// The iterations of Map instance `map` still running when it ended.
    pub(super) fn abort_iterations_of(&mut self, map: usize) {
        for id in self.map_iterations.get(&map).into_iter().flatten() {
            let iteration = &mut self.iterations[*id];
            if iteration.status == IterationStatus::Running {
                iteration.status = IterationStatus::Aborted;
            }
        }
    }

    /// The iterations of Map node `map` (its id), within iteration
    /// `within` when given (the iterations of an inner Map in one
    /// iteration of the outer one).
    pub fn iterations(&self, map: &str, within: Option<usize>) -> Vec<Iteration> {
        let running = self.running;
        self.iterations
            .iter()
            .filter(|i| i.map == map)
            .filter(|i| within.is_none_or(|w| self.iteration_within(i.id, w)))
            .map(|i| {
                let mut i = i.clone();
                if !running && i.status == IterationStatus::Running {
                    i.status = IterationStatus::Aborted;
                }
                i
            })
            .collect()
    }

    pub fn iteration(&self, id: usize) -> Option<&Iteration> {
        self.iterations.get(id)
    }

    /// Whether iteration `inner` is `outer` or runs inside it.
    fn iteration_within(&self, inner: usize, outer: usize) -> bool {
        let mut at = Some(inner);
        while let Some(i) = at {
            if i == outer {
                return true;
            }
            at = self.iterations.get(i).and_then(|i| i.within);
        }
        false
    }

    /// Each state's summary counting only its entries in iteration
    /// `within` (and the iterations inside it), by node id; the states
    /// outside the iteration are left out.
    pub fn summaries_within(&self, within: usize) -> HashMap<String, StateSummary> {
        let mut summaries: HashMap<usize, StateSummary> = HashMap::new();
        let mut open: HashMap<usize, bool> = HashMap::new();
        for (n, inst) in self.instances.iter().enumerate() {
            let inside = inst
                .iteration
                .is_some_and(|i| self.iteration_within(i, within));
            if !inside {
                continue;
            }
            let s = summaries.entry(inst.node).or_default();
            s.entered += 1;
            s.first_entered_millis = Some(
                s.first_entered_millis
                    .map_or(inst.entered_millis, |m| m.min(inst.entered_millis)),
            );
            s.last_entered_event = Some(inst.entered_event);
            if let Some(exited) = inst.exited_event {
                s.exited += 1;
                s.last_exited_event = Some(exited);
                s.last_exited_millis = inst.exited_millis;
            }
            if inst.failure_event.is_some() {
                s.last_failure_event = inst.failure_event;
            }
            s.caught += u32::from(inst.caught);
            s.failed += u32::from(inst.failed);
            s.retries += inst.retries;
            if self.kinds[inst.node] == "Map" {
                let items = s.items.get_or_insert_with(ItemCounts::default);
                items.total += inst.length;
                for id in self.map_iterations.get(&n).into_iter().flatten() {
                    let it = &self.iterations[*id];
                    items.started += 1;
                    match it.status {
                        IterationStatus::Succeeded => items.succeeded += 1,
                        IterationStatus::Failed => items.failed += 1,
                        IterationStatus::Aborted => items.aborted += 1,
                        IterationStatus::Running => {}
                    }
                }
            }
            *open.entry(inst.node).or_default() |= inst.open;
        }
        summaries
            .into_iter()
            .map(|(node, mut s)| {
                let running = self.running && open.get(&node).copied().unwrap_or(false);
                s.status = colour(&s, running);
                (self.ids[node].clone(), s)
            })
            .collect()
    }
}
