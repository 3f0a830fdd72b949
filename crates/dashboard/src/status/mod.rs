//! What happened to each state of an execution, folded from its history
//! one event at a time (so the live stream folds only the new events).
//!
//! Events chain within a frame by `previous_event_id`, so each event
//! belongs to the state *instance* (one entry into a state) of the event
//! before it, and a `...StateEntered` starts a new instance. An instance
//! is nested in the Parallel or Map instance its first event follows; that
//! nesting, and the order of a Parallel's branch entries, pick the right
//! node when branches repeat a state's name.
//!
//! A Parallel's or Map's own events (`MapIterationStarted`,
//! `MapStateSucceeded`, ...) chain to the last event of a child frame when
//! one ran: to the exit of the child's last state, which may itself be a
//! Map (a Map inside a Map). Such an event belongs to the container the
//! *finished* instance is nested in, not to that instance; only an event
//! that follows a container's own unfinished step (its entry, its start,
//! its failure before a Retry or Catch) is that container's.
//!
//! Each Map iteration is recorded (`scope.rs`), so the page can show one
//! iteration's states, input and output.

mod scope;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use windlass_engine::HistoryEvent;

use crate::graph::Graph;

pub use scope::{Iteration, IterationStatus};

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
    /// Attempts started again by a Retry (a Task that failed twice and
    /// succeeded on its third attempt: 2).
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

/// One entry into a state.
#[derive(Clone, Debug)]
struct Instance {
    node: usize,
    /// The Parallel or Map instance it runs in.
    enclosing: Option<usize>,
    /// The Map iteration it runs in (the innermost), by index.
    iteration: Option<usize>,
    /// Which entry into its state it is (0: the first).
    entry: usize,
    open: bool,
    failures: u32,
    retries: u32,
    /// Whether a task was scheduled again after a failure.
    retried_since_failure: bool,
    /// It exited after a failure that no Retry took: a Catch did.
    caught: bool,
    /// It was still open when the execution or its container ended.
    failed: bool,
    entered_event: u64,
    entered_millis: i64,
    exited_event: Option<u64>,
    exited_millis: Option<i64>,
    failure_event: Option<u64>,
    /// For a Map: the items of its latest start.
    length: u64,
}

/// What an event did to its instance: the page of a container's events
/// that follow it depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A step of the instance that more of its own events follow.
    Step,
    /// The instance exited.
    Exited,
    /// A Parallel or Map failed (a Retry, a Catch or its container's
    /// failure follows).
    ContainerFailed,
}

/// Folds events into per-state summaries.
pub struct Tracker {
    /// Node index by (machine pointer, state name).
    nodes: HashMap<(String, String), usize>,
    /// The machines nested in each Parallel or Map node (branches, processor).
    children: HashMap<usize, Vec<String>>,
    kinds: Vec<String>,
    names: Vec<String>,
    machines: Vec<String>,
    ids: Vec<String>,
    summaries: Vec<StateSummary>,
    /// How many instances of each node are open.
    open: Vec<u32>,
    instances: Vec<Instance>,
    /// The instances still open.
    open_instances: BTreeSet<usize>,
    /// Instance of each event and what the event did to it, by event id.
    event_instance: HashMap<u64, (usize, Role)>,
    /// How many branch entries followed each `ParallelStateStarted` (by its
    /// event id): the engine starts a Parallel's branches in order, each
    /// one's first event chained to that event, so the k-th is branch k.
    branch_entries: HashMap<u64, usize>,
    iterations: Vec<Iteration>,
    /// The iteration each `MapIterationStarted` began, by event id.
    iteration_started: HashMap<u64, usize>,
    /// The latest iteration of each (Map instance, item index).
    current_iteration: HashMap<(usize, u64), usize>,
    /// The iterations of each Map instance.
    map_iterations: HashMap<usize, Vec<usize>>,
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
            names: graph.nodes.iter().map(|n| n.name.clone()).collect(),
            machines: graph.nodes.iter().map(|n| n.machine.clone()).collect(),
            ids: graph.nodes.iter().map(|n| n.id.clone()).collect(),
            summaries: vec![StateSummary::default(); graph.nodes.len()],
            open: vec![0; graph.nodes.len()],
            instances: Vec::new(),
            open_instances: BTreeSet::new(),
            event_instance: HashMap::new(),
            branch_entries: HashMap::new(),
            iterations: Vec::new(),
            iteration_started: HashMap::new(),
            current_iteration: HashMap::new(),
            map_iterations: HashMap::new(),
            running: true,
        }
    }

    fn is_container(&self, instance: usize) -> bool {
        matches!(
            self.kinds[self.instances[instance].node].as_str(),
            "Parallel" | "Map"
        )
    }

    /// The node a `...StateEntered` of `name` after instance `previous`
    /// (by event `previous_event`) enters, its enclosing instance and its
    /// iteration: in the same machine as `previous` when it followed it, in
    /// one of its branches when `previous` is the Parallel or Map that
    /// started it. A Parallel's k-th entry after its `ParallelStateStarted`
    /// is in branch k (state names are unique in a valid definition, but an
    /// invalid one is drawn too); else the machine that has a state of that
    /// name and the event's type.
    fn entered_node(
        &mut self,
        previous: Option<usize>,
        previous_event: u64,
        name: &str,
        kind: &str,
    ) -> Option<(usize, Option<usize>, Option<usize>)> {
        let (machines, enclosing, iteration) = match previous {
            None => (vec![String::new()], None, None),
            Some(p) => {
                let inst = &self.instances[p];
                if inst.open && self.is_container(p) {
                    let mut machines = self.children.get(&inst.node).cloned().unwrap_or_default();
                    // A Map's item processor runs in the iteration that
                    // `MapIterationStarted` began; a branch in the Parallel's.
                    let iteration = self
                        .iteration_started
                        .get(&previous_event)
                        .copied()
                        .or(inst.iteration);
                    if self.kinds[inst.node] == "Parallel" {
                        let slot = self.branch_entries.entry(previous_event).or_default();
                        if let Some(branch) = machines.get(*slot).cloned() {
                            // That branch first; the others if it has no such state.
                            machines.retain(|m| *m != branch);
                            machines.insert(0, branch);
                        }
                        *slot += 1;
                    }
                    (machines, Some(p), iteration)
                } else {
                    (
                        vec![self.machines[inst.node].clone()],
                        inst.enclosing,
                        inst.iteration,
                    )
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
        Some((node, enclosing, iteration))
    }

    /// Folds one event; returns the index of the node it changed, if any.
    pub fn push(&mut self, event: &HistoryEvent) -> Option<usize> {
        let kind = event.kind.as_ref();
        let previous = self.event_instance.get(&event.previous_event_id).copied();
        if kind.ends_with("StateEntered") {
            return self.entered(event, previous.map(|(i, _)| i));
        }
        if kind.starts_with("Execution") {
            match kind {
                "ExecutionStarted" | "ExecutionRedriven" => self.running = true,
                _ if kind.ends_with("ed") || kind.ends_with("Out") => return self.end(),
                _ => {}
            }
            return None;
        }
        let (mut instance, role) = previous?;
        let nested_kind = ["ParallelState", "MapState", "MapIteration", "MapRun"]
            .iter()
            .any(|p| kind.starts_with(p));
        if nested_kind {
            instance = self.container_of(instance, role, kind)?;
        }
        let node = self.instances[instance].node;
        let role = if kind.ends_with("StateExited") {
            self.exited(instance, event);
            Role::Exited
        } else if is_failure(kind) {
            let inst = &mut self.instances[instance];
            inst.failures += 1;
            inst.retried_since_failure = false;
            inst.failure_event = Some(event.id);
            self.summaries[node].last_failure_event = Some(event.id);
            if kind == "MapStateFailed" || kind == "ParallelStateFailed" {
                Role::ContainerFailed
            } else {
                Role::Step
            }
        } else {
            if kind.ends_with("Scheduled")
                || kind == "MapRunRedriven"
                // A Parallel or Map started again after its failure: its Retry.
                || kind == "ParallelStateStarted"
                || kind == "MapStateStarted"
            {
                let inst = &mut self.instances[instance];
                if inst.failures > 0 && !inst.retried_since_failure {
                    inst.retried_since_failure = true;
                    inst.retries += 1;
                    self.summaries[node].retries += 1;
                }
            }
            Role::Step
        };
        self.event_instance.insert(event.id, (instance, role));
        if kind.starts_with("Map") {
            self.count_items(instance, kind, event);
        }
        self.refresh(node)
    }

    /// A `...StateEntered`: a new instance.
    fn entered(&mut self, event: &HistoryEvent, previous: Option<usize>) -> Option<usize> {
        let name = event.details.get("name").and_then(|n| n.as_str())?;
        let (node, enclosing, iteration) =
            self.entered_node(previous, event.previous_event_id, name, &event.kind)?;
        let instance = self.instances.len();
        self.instances.push(Instance {
            node,
            enclosing,
            iteration,
            entry: self.summaries[node].entered as usize,
            open: true,
            failures: 0,
            retries: 0,
            retried_since_failure: false,
            caught: false,
            failed: false,
            entered_event: event.id,
            entered_millis: event.timestamp_millis,
            exited_event: None,
            exited_millis: None,
            failure_event: None,
            length: 0,
        });
        self.open_instances.insert(instance);
        if let Some(i) = iteration {
            // The first state of an iteration: its input is the item.
            self.iterations[i].input_event.get_or_insert(event.id);
        }
        self.event_instance.insert(event.id, (instance, Role::Step));
        self.open[node] += 1;
        let summary = &mut self.summaries[node];
        summary.entered += 1;
        summary
            .first_entered_millis
            .get_or_insert(event.timestamp_millis);
        summary.last_entered_event = Some(event.id);
        self.refresh(node)
    }

    /// A `...StateExited` of `instance`.
    fn exited(&mut self, instance: usize, event: &HistoryEvent) {
        let node = self.instances[instance].node;
        if self.instances[instance].open {
            self.open[node] = self.open[node].saturating_sub(1);
        }
        self.open_instances.remove(&instance);
        let inst = &mut self.instances[instance];
        inst.open = false;
        inst.exited_event = Some(event.id);
        inst.exited_millis = Some(event.timestamp_millis);
        inst.caught = inst.failures > 0 && !inst.retried_since_failure;
        let caught = inst.caught;
        let summary = &mut self.summaries[node];
        summary.exited += 1;
        summary.last_exited_millis = Some(event.timestamp_millis);
        summary.last_exited_event = Some(event.id);
        if caught {
            summary.caught += 1;
        }
        if self.is_container(instance) {
            // Children the container's failure stopped (the other branches,
            // the iterations in flight) end with it.
            self.close_within(instance);
        }
    }

    /// The Parallel or Map instance a container event after `instance`
    /// (whose last event had `role`) belongs to: `instance` itself while
    /// its own steps go on, else the container `instance` runs in.
    fn container_of(&self, instance: usize, role: Role, kind: &str) -> Option<usize> {
        let own = self.is_container(instance)
            && match role {
                Role::Step => true,
                Role::Exited => false,
                // Its Retry starts it again, its Catch exits it; anything
                // else is its container's failure.
                Role::ContainerFailed => {
                    kind.ends_with("StateStarted") || kind.ends_with("StateExited")
                }
            };
        if own {
            return Some(instance);
        }
        let mut up = self.instances[instance].enclosing?;
        loop {
            if self.is_container(up) {
                return Some(up);
            }
            up = self.instances[up].enclosing?;
        }
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

    /// The name of the state event `id` belongs to (a Task's
    /// `TaskScheduled` names no state; its instance does).
    pub fn state_of(&self, id: u64) -> Option<&str> {
        let (instance, _) = self.event_instance.get(&id)?;
        Some(&self.names[self.instances[*instance].node])
    }

    /// The summaries of all nodes, by node id.
    pub fn all(&self) -> HashMap<String, StateSummary> {
        (0..self.len())
            .map(|i| (self.ids[i].clone(), self.summaries[i].clone()))
            .collect()
    }

    fn count_items(&mut self, instance: usize, kind: &str, event: &HistoryEvent) {
        let node = self.instances[instance].node;
        match kind {
            "MapStateStarted" => {
                let length = event.details.get("length").and_then(|l| l.as_u64());
                self.instances[instance].length = length.unwrap_or(0);
            }
            "MapIterationStarted" => self.iteration_began(instance, event),
            "MapIterationSucceeded" | "MapIterationFailed" | "MapIterationAborted" => {
                self.iteration_ended(instance, event)
            }
            _ => {}
        }
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
        let open: Vec<usize> = std::mem::take(&mut self.open_instances)
            .into_iter()
            .collect();
        let first = open.first().map(|i| self.instances[*i].node);
        for instance in open {
            self.cancel(instance);
        }
        for node in 0..self.summaries.len() {
            self.refresh(node);
        }
        first
    }

    /// Closes the open instances nested in `container`, which ended.
    fn close_within(&mut self, container: usize) {
        let inside: Vec<usize> = self
            .open_instances
            .iter()
            .copied()
            .filter(|i| self.encloses(container, *i))
            .collect();
        for instance in inside {
            self.open_instances.remove(&instance);
            self.cancel(instance);
            let node = self.instances[instance].node;
            self.refresh(node);
        }
        self.abort_iterations_of(container);
    }

    /// `instance` failed or was cancelled while open.
    fn cancel(&mut self, instance: usize) {
        let node = self.instances[instance].node;
        let inst = &mut self.instances[instance];
        if !inst.open {
            return;
        }
        inst.open = false;
        inst.failed = true;
        self.open[node] = self.open[node].saturating_sub(1);
        self.summaries[node].failed += 1;
    }

    /// Whether `container` is around `instance` (at any depth).
    fn encloses(&self, container: usize, instance: usize) -> bool {
        let mut up = self.instances[instance].enclosing;
        while let Some(u) = up {
            if u == container {
                return true;
            }
            up = self.instances[u].enclosing;
        }
        false
    }

    /// Recomputes node `i`'s colour; returns `Some(i)`.
    fn refresh(&mut self, i: usize) -> Option<usize> {
        let open = self.open[i] > 0;
        let s = &mut self.summaries[i];
        s.status = colour(s, open && self.running);
        Some(i)
    }
}

/// A state's colour from its counts; `running` when an entry is open.
fn colour(s: &StateSummary, running: bool) -> StateStatus {
    if s.entered == 0 {
        StateStatus::NotRun
    } else if running {
        StateStatus::Running
    } else if s.failed > 0 {
        StateStatus::Failed
    } else if s.caught > 0 {
        StateStatus::Caught
    } else if s.retries > 0 {
        StateStatus::Retried
    } else {
        StateStatus::Succeeded
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
