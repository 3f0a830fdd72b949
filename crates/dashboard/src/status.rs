//! What happened to each state of an execution, folded from its history
//! one event at a time (so the live stream folds only the new events).
//!
//! Events chain within a frame by `previous_event_id`, so each event
//! belongs to the state *instance* (one entry into a state) of the event
//! before it, and a `...StateEntered` starts a new instance. An instance
//! is nested in the Parallel or Map instance its first event follows; that
//! nesting, and the order of a Parallel's branch entries, pick the right
//! node when branches repeat a state's name.

use std::collections::HashMap;

use serde::Serialize;
use windlass_engine::HistoryEvent;

use crate::graph::Graph;

/// A state's colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateStatus {
    #[default]
    NotRun,
    Running,
    Succeeded,
    /// It failed and nothing caught it (or it was cancelled by the failure).
    Failed,
    /// It failed and a Catch took the execution on.
    Caught,
    /// It succeeded after a Retry.
    Retried,
}

/// One state's account over all its entries (a Map's inner states are
/// entered once per item).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StateSummary {
    pub status: StateStatus,
    pub entered: u32,
    pub exited: u32,
    pub failed: u32,
    pub caught: u32,
    pub retries: u32,
    pub first_entered_millis: Option<i64>,
    pub last_exited_millis: Option<i64>,
    /// Event ids the detail panel reads: the last entry, exit and failure.
    pub last_entered_event: Option<u64>,
    pub last_exited_event: Option<u64>,
    pub last_failure_event: Option<u64>,
    /// For a Map: its iterations by outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<ItemCounts>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ItemCounts {
    pub total: u64,
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub aborted: u64,
}

struct Instance {
    node: usize,
    enclosing: Option<usize>,
    open: bool,
    failures: u32,
    /// Whether a task was scheduled again after a failure.
    retried_since_failure: bool,
}

/// Folds events into per-state summaries.
pub struct Tracker {
    /// Node index by (machine pointer, state name).
    nodes: HashMap<(String, String), usize>,
    /// The machines nested in each Parallel or Map node (branches, processor).
    children: HashMap<usize, Vec<String>>,
    kinds: Vec<String>,
    machines: Vec<String>,
    ids: Vec<String>,
    summaries: Vec<StateSummary>,
    /// How many instances of each node are open.
    open: Vec<u32>,
    instances: Vec<Instance>,
    /// Instance of each event, by event id.
    event_instance: HashMap<u64, usize>,
    /// How many branch entries followed each `ParallelStateStarted` (by its
    /// event id): the engine starts a Parallel's branches in order, each
    /// one's first event chained to that event, so the k-th is branch k.
    branch_entries: HashMap<u64, usize>,
    running: bool,
}

impl Tracker {
    pub fn new(graph: &Graph) -> Tracker {
        let mut children: HashMap<usize, Vec<String>> = HashMap::new();
        for cluster in &graph.clusters {
            // A cluster's pointer is its state's pointer and a tail
            // (`/Branches/N`, `/ItemProcessor`, `/Iterator`).
            let owner = graph
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| cluster.id.starts_with(&format!("{}/", n.id)))
                .max_by_key(|(_, n)| n.id.len());
            if let Some((i, _)) = owner {
                children.entry(i).or_default().push(cluster.id.clone());
            }
        }
        // A Parallel's branches in their order (`/Branches/10` after `/Branches/9`).
        for machines in children.values_mut() {
            machines.sort_by_key(|m| {
                m.rsplit_once("/Branches/")
                    .and_then(|(_, n)| n.parse::<usize>().ok())
            });
        }
        let nodes = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| ((n.machine.clone(), n.name.clone()), i))
            .collect();
        Tracker {
            nodes,
            children,
            kinds: graph.nodes.iter().map(|n| n.kind.clone()).collect(),
            machines: graph.nodes.iter().map(|n| n.machine.clone()).collect(),
            ids: graph.nodes.iter().map(|n| n.id.clone()).collect(),
            summaries: vec![StateSummary::default(); graph.nodes.len()],
            open: vec![0; graph.nodes.len()],
            instances: Vec::new(),
            event_instance: HashMap::new(),
            branch_entries: HashMap::new(),
            running: true,
        }
    }

    /// The node a `...StateEntered` of `name` after instance `previous`
    /// (by event `previous_event`) enters: in the same machine as
    /// `previous` when it followed it, in one of its branches when
    /// `previous` is the Parallel or Map that started it. A Parallel's k-th
    /// entry after its `ParallelStateStarted` is in branch k (state names
    /// are unique in a valid definition, but an invalid one is drawn too);
    /// else the machine that has a state of that name and the event's type.
    fn entered_node(
        &mut self,
        previous: Option<usize>,
        previous_event: u64,
        name: &str,
        kind: &str,
    ) -> Option<(usize, Option<usize>)> {
        let (machines, enclosing) = match previous {
            None => (vec![String::new()], None),
            Some(p) => {
                let inst = &self.instances[p];
                let container = matches!(self.kinds[inst.node].as_str(), "Parallel" | "Map");
                if inst.open && container {
                    let mut machines = self.children.get(&inst.node).cloned().unwrap_or_default();
                    if self.kinds[inst.node] == "Parallel" {
                        let slot = self.branch_entries.entry(previous_event).or_default();
                        if let Some(branch) = machines.get(*slot).cloned() {
                            // That branch first; the others if it has no such state.
                            machines.retain(|m| *m != branch);
                            machines.insert(0, branch);
                        }
                        *slot += 1;
                    }
                    (machines, Some(p))
                } else {
                    (vec![self.machines[inst.node].clone()], inst.enclosing)
                }
            }
        };
        let state_type = kind.trim_end_matches("StateEntered");
        let candidates: Vec<usize> = machines
            .into_iter()
            .filter_map(|m| self.nodes.get(&(m, name.to_string())).copied())
            .collect();
        let node = candidates
            .iter()
            .copied()
            .find(|c| self.kinds[*c] == state_type)
            .or(candidates.first().copied())?;
        Some((node, enclosing))
    }

    /// Folds one event; returns the index of the node it changed, if any.
    pub fn push(&mut self, event: &HistoryEvent) -> Option<usize> {
        let kind = event.kind.as_ref();
        let previous = self.event_instance.get(&event.previous_event_id).copied();
        if kind.ends_with("StateEntered") {
            let name = event.details.get("name").and_then(|n| n.as_str())?;
            let (node, enclosing) =
                self.entered_node(previous, event.previous_event_id, name, kind)?;
            let instance = self.instances.len();
            self.instances.push(Instance {
                node,
                enclosing,
                open: true,
                failures: 0,
                retried_since_failure: false,
            });
            self.event_instance.insert(event.id, instance);
            self.open[node] += 1;
            let summary = &mut self.summaries[node];
            summary.entered += 1;
            summary
                .first_entered_millis
                .get_or_insert(event.timestamp_millis);
            summary.last_entered_event = Some(event.id);
            return self.refresh(node);
        }
        if kind.starts_with("Execution") {
            match kind {
                "ExecutionStarted" | "ExecutionRedriven" => self.running = true,
                _ if kind.ends_with("ed") || kind.ends_with("Out") => return self.end(),
                _ => {}
            }
            return None;
        }
        let mut instance = previous?;
        let nested_kind = ["ParallelState", "MapState", "MapIteration", "MapRun"]
            .iter()
            .any(|p| kind.starts_with(p));
        if nested_kind {
            instance = self.owning_container(instance)?;
        }
        self.event_instance.insert(event.id, instance);
        let node = self.instances[instance].node;
        if kind.ends_with("StateExited") {
            let inst = &mut self.instances[instance];
            if inst.open {
                self.open[node] = self.open[node].saturating_sub(1);
            }
            inst.open = false;
            let caught = inst.failures > 0 && !inst.retried_since_failure;
            let retried = inst.failures > 0 && inst.retried_since_failure;
            let summary = &mut self.summaries[node];
            summary.exited += 1;
            summary.last_exited_millis = Some(event.timestamp_millis);
            summary.last_exited_event = Some(event.id);
            if caught {
                summary.caught += 1;
            } else if retried {
                summary.retries += 1;
            }
        } else if is_failure(kind) {
            let inst = &mut self.instances[instance];
            inst.failures += 1;
            inst.retried_since_failure = false;
            self.summaries[node].last_failure_event = Some(event.id);
        } else if kind.ends_with("Scheduled")
            || kind == "MapRunRedriven"
            // A Parallel or Map started again after its failure: its Retry.
            || kind == "ParallelStateStarted"
            || kind == "MapStateStarted"
        {
            let inst = &mut self.instances[instance];
            if inst.failures > 0 {
                inst.retried_since_failure = true;
            }
        }
        if kind.starts_with("Map") {
            self.count_items(node, kind, event);
        }
        self.refresh(node)
    }

    /// The summary of node `i` (by the graph's order).
    pub fn summary(&self, i: usize) -> &StateSummary {
        &self.summaries[i]
    }

    pub fn id(&self, i: usize) -> &str {
        &self.ids[i]
    }

    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty()
    }

    /// The summaries of all nodes, by node id.
    pub fn all(&self) -> HashMap<String, StateSummary> {
        (0..self.len())
            .map(|i| (self.ids[i].clone(), self.summaries[i].clone()))
            .collect()
    }

    /// The nearest Parallel or Map instance at or around `instance`.
    fn owning_container(&self, mut instance: usize) -> Option<usize> {
        loop {
            let inst = &self.instances[instance];
            if matches!(self.kinds[inst.node].as_str(), "Parallel" | "Map") {
                return Some(instance);
            }
            instance = inst.enclosing?;
        }
    }

    fn count_items(&mut self, node: usize, kind: &str, event: &HistoryEvent) {
        let items = self.summaries[node]
            .items
            .get_or_insert_with(ItemCounts::default);
        match kind {
            "MapStateStarted" => {
                let length = event.details.get("length").and_then(|l| l.as_u64());
                items.total += length.unwrap_or(0);
            }
            "MapIterationStarted" => items.started += 1,
            "MapIterationSucceeded" => items.succeeded += 1,
            "MapIterationFailed" => items.failed += 1,
            "MapIterationAborted" => items.aborted += 1,
            _ => {}
        }
    }

    /// The execution ended: what is still open failed or was cancelled.
    fn end(&mut self) -> Option<usize> {
        self.running = false;
        let open: Vec<usize> = self
            .instances
            .iter_mut()
            .filter(|i| i.open)
            .map(|i| {
                i.open = false;
                i.node
            })
            .collect();
        for node in &open {
            self.summaries[*node].failed += 1;
            self.open[*node] = 0;
        }
        for node in 0..self.summaries.len() {
            self.refresh(node);
        }
        open.first().copied()
    }

    /// Recomputes node `i`'s colour; returns `Some(i)`.
    fn refresh(&mut self, i: usize) -> Option<usize> {
        let open = self.open[i] > 0;
        let s = &mut self.summaries[i];
        s.status = if s.entered == 0 {
            StateStatus::NotRun
        } else if open && self.running {
            StateStatus::Running
        } else if s.failed > 0 {
            StateStatus::Failed
        } else if s.caught > 0 {
            StateStatus::Caught
        } else if s.retries > 0 {
            StateStatus::Retried
        } else {
            StateStatus::Succeeded
        };
        Some(i)
    }
}

/// Events that say a state's work failed (Retry or Catch may follow).
fn is_failure(kind: &str) -> bool {
    kind.ends_with("Failed") && !kind.starts_with("MapIteration") && kind != "ExecutionFailed"
        || kind.ends_with("TimedOut")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph;
    use serde_json::json;
    use std::borrow::Cow;

    fn event(id: u64, previous: u64, kind: &'static str, name: Option<&str>) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: previous,
            timestamp_millis: id as i64,
            kind: Cow::Borrowed(kind),
            details: name.map_or(json!({}), |n| json!({"name": n})),
        }
    }

    #[test]
    fn retried_caught_and_nested_states_take_their_colours() {
        let document = json!({
            "StartAt": "Charge",
            "States": {
                "Charge": {"Type": "Task", "Resource": "arn:x", "Next": "Fan",
                           "Retry": [{"ErrorEquals": ["Busy"]}]},
                "Fan": {"Type": "Parallel", "Next": "Bad", "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
                    {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:y", "End": true}}}
                ], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Bad"}]},
                "Bad": {"Type": "Fail"}
            }
        });
        let g = graph::layout(&document);
        let mut t = Tracker::new(&g);
        let events = [
            event(1, 0, "ExecutionStarted", None),
            event(2, 1, "TaskStateEntered", Some("Charge")),
            event(3, 2, "TaskScheduled", None),
            event(4, 3, "TaskFailed", None),
            event(5, 4, "TaskScheduled", None),
            event(6, 5, "TaskSucceeded", None),
            event(7, 6, "TaskStateExited", Some("Charge")),
            event(8, 7, "ParallelStateEntered", Some("Fan")),
            event(9, 8, "ParallelStateStarted", None),
            event(10, 9, "PassStateEntered", Some("A")),
            event(11, 9, "TaskStateEntered", Some("A")),
            event(12, 10, "PassStateExited", Some("A")),
            event(13, 11, "TaskScheduled", None),
            event(14, 13, "TaskFailed", None),
            event(15, 14, "ParallelStateFailed", None),
            event(16, 15, "ParallelStateExited", Some("Fan")),
            event(17, 16, "FailStateEntered", Some("Bad")),
            event(18, 17, "ExecutionFailed", None),
        ];
        let status = |t: &Tracker, id: &str| t.all()[id].status;
        for e in &events[..11] {
            t.push(e);
        }
        assert_eq!(status(&t, "/States/Charge"), StateStatus::Retried);
        assert_eq!(status(&t, "/States/Fan"), StateStatus::Running);
        for e in &events[11..] {
            t.push(e);
        }
        assert_eq!(status(&t, "/States/Fan"), StateStatus::Caught);
        assert_eq!(
            status(&t, "/States/Fan/Branches/0/States/A"),
            StateStatus::Succeeded
        );
        assert_eq!(
            status(&t, "/States/Fan/Branches/1/States/A"),
            StateStatus::Failed
        );
        assert_eq!(status(&t, "/States/Bad"), StateStatus::Failed);
        assert_eq!(t.all()["/States/Charge"].retries, 1);
    }
}
