//! A definition drawn as a graph: states as nodes, transitions, Choice
//! rules and Catch as edges, Parallel branches and Map item processors as
//! clusters nested in their state.
//!
//! The graph is read from the definition's JSON document rather than the
//! parsed `Definition`, so that a definition with errors is drawn too (its
//! diagnostics are placed on the states their pointers fall in). Node
//! positions come from `rust-sugiyama`, a layered (Sugiyama) layout: each
//! machine is laid out on its own, inside out, and a Parallel or Map state
//! is a vertex as large as its laid-out contents.

use std::collections::HashMap;

use rust_sugiyama::configure::Config as LayoutConfig;
use serde::Serialize;
use serde_json::Value as Json;

/// The height of a plain state's box.
const NODE_HEIGHT: f64 = 36.0;
/// Room around and above the contents of a Parallel or Map state.
const PADDING: f64 = 16.0;
const HEADER: f64 = 28.0;
/// Space between vertices of a layer, between layers, between branches.
const SPACING: f64 = 36.0;

/// What the page draws.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Graph {
    pub width: f64,
    pub height: f64,
    /// Outer states before the states nested in them.
    pub nodes: Vec<Node>,
    pub clusters: Vec<Cluster>,
    pub edges: Vec<Edge>,
}

/// One state; `x`, `y` is its top left corner.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// The state's JSON pointer (`/States/Fan/Branches/0/States/A`): unique
    /// where names repeat across branches.
    pub id: String,
    pub name: String,
    /// `Task`, `Choice`, ... as the document says (`?` when it says none).
    pub kind: String,
    /// The pointer of the machine the state belongs to (`""` at the top).
    pub machine: String,
    pub start: bool,
    pub end: bool,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// A Parallel branch or a Map's item processor, drawn inside its state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cluster {
    /// The machine's pointer (`/States/Fan/Branches/0`).
    pub id: String,
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Next,
    Choice,
    Default,
    Catch,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    pub label: Option<String>,
    /// Where the edge leaves and where it arrives.
    pub points: Vec<(f64, f64)>,
}

/// Lays out the definition `document` (a parsed JSON value).
pub fn layout(document: &Json) -> Graph {
    let laid = machine(document, "");
    let mut graph = Graph {
        width: laid.width,
        height: laid.height,
        ..Graph::default()
    };
    laid.place(0.0, 0.0, &mut graph);
    graph
}

/// A machine laid out at the origin: its states with their contents, and
/// the edges between them.
struct Laid {
    width: f64,
    height: f64,
    states: Vec<LaidState>,
    edges: Vec<(usize, usize, EdgeKind, Option<String>)>,
}

struct LaidState {
    node: Node,
    /// Parallel branches or the Map's processor, relative to the node.
    children: Vec<(f64, f64, String, Laid)>,
}

impl Laid {
    /// Moves everything by (`dx`, `dy`) into `graph`.
    fn place(self, dx: f64, dy: f64, graph: &mut Graph) {
        let boxes: Vec<(f64, f64, f64, f64)> = self
            .states
            .iter()
            .map(|s| (s.node.x + dx, s.node.y + dy, s.node.w, s.node.h))
            .collect();
        for (from, to, kind, label) in self.edges {
            let (a, b) = (boxes[from], boxes[to]);
            let points = if b.1 > a.1 {
                vec![(a.0 + a.2 / 2.0, a.1 + a.3), (b.0 + b.2 / 2.0, b.1)]
            } else {
                // Back (or sideways) edges leave and arrive on the right.
                vec![(a.0 + a.2, a.1 + a.3 / 2.0), (b.0 + b.2, b.1 + b.3 / 2.0)]
            };
            graph.edges.push(Edge {
                from: self.states[from].node.id.clone(),
                to: self.states[to].node.id.clone(),
                kind,
                label,
                points,
            });
        }
        let mut nested = Vec::new();
        for state in self.states {
            let mut node = state.node;
            node.x += dx;
            node.y += dy;
            for (cx, cy, id, laid) in state.children {
                let (x, y) = (node.x + cx, node.y + cy);
                graph.clusters.push(Cluster {
                    label: cluster_label(&id),
                    id,
                    x: x - PADDING / 2.0,
                    y: y - PADDING / 2.0,
                    w: laid.width + PADDING,
                    h: laid.height + PADDING,
                });
                nested.push((x, y, laid));
            }
            graph.nodes.push(node);
        }
        for (x, y, laid) in nested {
            laid.place(x, y, graph);
        }
    }
}

fn cluster_label(pointer: &str) -> String {
    match pointer.rsplit_once("/Branches/") {
        Some((_, n)) if !n.contains('/') => format!("branch {n}"),
        _ => "iteration".into(),
    }
}

/// Lays out the machine at `pointer` in `document`.
fn machine(document: &Json, pointer: &str) -> Laid {
    let start = document.get("StartAt").and_then(Json::as_str);
    let Some(states) = document.get("States").and_then(Json::as_object) else {
        return Laid {
            width: 0.0,
            height: 0.0,
            states: Vec::new(),
            edges: Vec::new(),
        };
    };
    let index: HashMap<&str, usize> = states
        .keys()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    let mut laid_states = Vec::with_capacity(states.len());
    let mut edges = Vec::new();
    for (i, (name, state)) in states.iter().enumerate() {
        let id = format!("{pointer}/States/{}", escape(name));
        laid_states.push(state_box(name, state, &id, pointer, start == Some(name)));
        for (target, kind, label) in transitions(state) {
            if let Some(&j) = index.get(target.as_str()) {
                edges.push((i, j, kind, label));
            }
        }
    }
    let (width, height) = position(&mut laid_states, &edges);
    Laid {
        width,
        height,
        states: laid_states,
        edges,
    }
}

/// A state's box, with its nested machines laid out inside it.
fn state_box(name: &str, state: &Json, id: &str, machine_pointer: &str, start: bool) -> LaidState {
    let kind = state.get("Type").and_then(Json::as_str).unwrap_or("?");
    let end = state.get("End").and_then(Json::as_bool).unwrap_or(false)
        || matches!(kind, "Succeed" | "Fail");
    let label_width = 7.0 * (name.chars().count() as f64) + 28.0;
    let mut children = Vec::new();
    let (mut w, mut h) = (label_width.max(110.0), NODE_HEIGHT);
    let nested: Vec<(String, &Json)> = match kind {
        "Parallel" => state
            .get("Branches")
            .and_then(Json::as_array)
            .map(|branches| {
                branches
                    .iter()
                    .enumerate()
                    .map(|(n, b)| (format!("{id}/Branches/{n}"), b))
                    .collect()
            })
            .unwrap_or_default(),
        "Map" => ["ItemProcessor", "Iterator"]
            .iter()
            .find_map(|key| state.get(*key).map(|p| (format!("{id}/{key}"), p)))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    if !nested.is_empty() {
        let mut x = PADDING;
        let mut tallest: f64 = 0.0;
        for (pointer, document) in nested {
            let laid = machine(document, &pointer);
            let (cw, ch) = (laid.width, laid.height);
            children.push((x, HEADER + PADDING, pointer, laid));
            x += cw + SPACING;
            tallest = tallest.max(ch);
        }
        w = w.max(x - SPACING + PADDING);
        h = HEADER + PADDING + tallest + PADDING;
    }
    LaidState {
        node: Node {
            id: id.to_string(),
            name: name.to_string(),
            kind: kind.to_string(),
            machine: machine_pointer.to_string(),
            start,
            end,
            x: 0.0,
            y: 0.0,
            w,
            h,
        },
        children,
    }
}

/// Where a state can go: `Next`, each Choice rule, `Default`, each Catch.
fn transitions(state: &Json) -> Vec<(String, EdgeKind, Option<String>)> {
    let mut out = Vec::new();
    let text = |v: Option<&Json>| v.and_then(Json::as_str).map(str::to_string);
    if let Some(next) = text(state.get("Next")) {
        out.push((next, EdgeKind::Next, None));
    }
    if let Some(rules) = state.get("Choices").and_then(Json::as_array) {
        for (n, rule) in rules.iter().enumerate() {
            if let Some(next) = text(rule.get("Next")) {
                out.push((next, EdgeKind::Choice, Some(format!("rule {}", n + 1))));
            }
        }
    }
    if let Some(default) = text(state.get("Default")) {
        out.push((default, EdgeKind::Default, Some("default".into())));
    }
    if let Some(catchers) = state.get("Catch").and_then(Json::as_array) {
        for catcher in catchers {
            let errors = catcher
                .get("ErrorEquals")
                .and_then(Json::as_array)
                .map(|e| {
                    e.iter()
                        .filter_map(Json::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                });
            if let Some(next) = text(catcher.get("Next")) {
                out.push((next, EdgeKind::Catch, errors));
            }
        }
    }
    out
}

/// Gives each state its place by the layered layout; returns the
/// machine's size. Disconnected parts (unreachable states) sit side by side.
fn position(
    states: &mut [LaidState],
    edges: &[(usize, usize, EdgeKind, Option<String>)],
) -> (f64, f64) {
    if states.is_empty() {
        return (0.0, 0.0);
    }
    let vertices: Vec<(u32, (f64, f64))> = states
        .iter()
        .enumerate()
        .map(|(i, s)| (i as u32, (s.node.w, s.node.h)))
        .collect();
    let mut pairs: Vec<(u32, u32)> = edges
        .iter()
        .filter(|(a, b, ..)| a != b)
        .map(|(a, b, ..)| (*a as u32, *b as u32))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let config = LayoutConfig {
        vertex_spacing: SPACING,
        ..LayoutConfig::default()
    };
    let components = rust_sugiyama::from_vertices_and_edges(&vertices, &pairs, &config);
    // The layout gives each vertex's centre by layer; rows are spaced by the
    // tallest box of the row before, so nested machines never overlap.
    let mut offset_x = 0.0;
    let mut height: f64 = 0.0;
    for (component, _, _) in components {
        let mut rows: Vec<f64> = component.iter().map(|(_, (_, y))| *y).collect();
        rows.sort_by(f64::total_cmp);
        rows.dedup();
        let mut row_top = Vec::with_capacity(rows.len());
        let mut top = 0.0;
        for row in &rows {
            row_top.push(top);
            let tallest = component
                .iter()
                .filter(|(_, (_, y))| y == row)
                .map(|(v, _)| states[*v].node.h)
                .fold(0.0, f64::max);
            top += tallest + SPACING;
        }
        let left = component
            .iter()
            .map(|(v, (x, _))| x - states[*v].node.w / 2.0)
            .fold(f64::INFINITY, f64::min);
        let mut right: f64 = 0.0;
        for (v, (x, y)) in &component {
            let row = rows.iter().position(|r| r == y).unwrap_or(0);
            let node = &mut states[*v].node;
            node.x = offset_x + x - node.w / 2.0 - left;
            node.y = row_top[row];
            right = right.max(node.x + node.w);
        }
        height = height.max(top - SPACING);
        offset_x = right + SPACING;
    }
    (offset_x - SPACING, height)
}

/// A name as a JSON pointer token.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn overlap(a: &Node, b: &Node) -> bool {
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    }

    #[test]
    fn nested_states_sit_inside_their_state_and_siblings_do_not_overlap() {
        let document = json!({
            "StartAt": "Check",
            "States": {
                "Check": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "Fan"}], "Default": "Bad"},
                "Fan": {"Type": "Parallel", "Next": "Each", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Bad"}],
                        "Branches": [
                            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": true}}},
                            {"StartAt": "C", "States": {"C": {"Type": "Wait", "Seconds": 1, "End": true}}}
                        ]},
                "Each": {"Type": "Map", "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": true}}}, "End": true},
                "Bad": {"Type": "Fail"}
            }
        });
        let graph = layout(&document);
        let find = |id: &str| {
            graph
                .nodes
                .iter()
                .find(|n| n.id == id)
                .unwrap_or_else(|| panic!("no node {id}: {graph:?}"))
        };
        let fan = find("/States/Fan");
        let a = find("/States/Fan/Branches/0/States/A");
        let c = find("/States/Fan/Branches/1/States/C");
        for inner in [a, c] {
            assert!(
                inner.x >= fan.x && inner.x + inner.w <= fan.x + fan.w,
                "{inner:?} in {fan:?}"
            );
            assert!(
                inner.y >= fan.y && inner.y + inner.h <= fan.y + fan.h,
                "{inner:?} in {fan:?}"
            );
        }
        let item = find("/States/Each/ItemProcessor/States/Item");
        assert_eq!(item.machine, "/States/Each/ItemProcessor");
        let top: Vec<&Node> = graph
            .nodes
            .iter()
            .filter(|n| n.machine.is_empty())
            .collect();
        assert_eq!(top.len(), 4);
        for (i, a) in top.iter().enumerate() {
            for b in &top[i + 1..] {
                assert!(!overlap(a, b), "{a:?} overlaps {b:?}");
            }
        }
        assert!(find("/States/Check").start);
        let kinds: Vec<(&str, &str, EdgeKind)> = graph
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str(), e.kind))
            .collect();
        assert!(kinds.contains(&("/States/Check", "/States/Fan", EdgeKind::Choice)));
        assert!(kinds.contains(&("/States/Check", "/States/Bad", EdgeKind::Default)));
        assert!(kinds.contains(&("/States/Fan", "/States/Bad", EdgeKind::Catch)));
        assert_eq!(graph.clusters.len(), 3);
        assert!(graph.width >= fan.x + fan.w && graph.height >= fan.y + fan.h);
    }

    #[test]
    fn loops_unreachable_states_and_missing_states_still_lay_out() {
        let document = json!({
            "StartAt": "Poll",
            "States": {
                "Poll": {"Type": "Task", "Resource": "arn:x", "Next": "Done?"},
                "Done?": {"Type": "Choice", "Choices": [{"Variable": "$.done", "BooleanEquals": false, "Next": "Poll"}], "Default": "Nowhere"},
                "Orphan": {"Type": "Pass", "Next": "Orphan"}
            }
        });
        let graph = layout(&document);
        assert_eq!(graph.nodes.len(), 3);
        let orphan = graph
            .nodes
            .iter()
            .find(|n| n.name == "Orphan")
            .expect("orphan");
        let poll = graph.nodes.iter().find(|n| n.name == "Poll").expect("poll");
        assert!(!overlap(orphan, poll));
        assert!(layout(&json!({"States": 3})).nodes.is_empty());
    }
}
