//! The page's JSON endpoints: machines, executions (newest first, paged,
//! by status), one execution with its graph and the colour of each state,
//! its history by pages, one state's detail, and a definition's graph with
//! its validation diagnostics. The types here are the only wire shapes the
//! page reads.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use windlass_asl::parse;
use windlass_store::machines::{AliasRecord, MachineRecord, MachineStoreExt, VersionRecord};
use windlass_store::{ExecutionFilter, ExecutionRecord, ListCursor, Store};

use crate::graph::{self, Graph};
use crate::status::{StateSummary, Tracker};
use crate::{Dashboard, Error};

/// The most executions one page lists.
pub const MAX_PAGE: usize = 200;
/// The most history events one page gives.
pub const MAX_EVENTS: u64 = 500;

#[derive(Serialize)]
pub struct MachineView {
    pub arn: String,
    pub name: String,
    pub kind: String,
    pub creation_millis: i64,
    pub versions: Vec<VersionView>,
    pub aliases: Vec<AliasView>,
}

#[derive(Serialize)]
pub struct VersionView {
    pub arn: String,
    pub version: u64,
    pub description: String,
}

#[derive(Serialize)]
pub struct AliasView {
    pub arn: String,
    pub name: String,
    /// (version ARN, weight in percent).
    pub routing: Vec<(String, u32)>,
}

/// State machines with their versions and aliases.
pub async fn machines(State(d): State<Arc<Dashboard>>) -> Result<Json<Vec<MachineView>>, Error> {
    let Some(store) = &d.sources.machines else {
        return Ok(Json(Vec::new()));
    };
    let mut out = Vec::new();
    for machine in store.list::<MachineRecord>(None, None, 1000)? {
        let versions = store
            .list::<VersionRecord>(Some(&machine.arn), None, 1000)?
            .into_iter()
            .map(|v| VersionView {
                arn: v.arn,
                version: v.version,
                description: v.description,
            })
            .collect();
        let aliases = store
            .list::<AliasRecord>(Some(&machine.arn), None, 1000)?
            .into_iter()
            .map(|a| AliasView {
                arn: a.arn,
                name: a.name,
                routing: a.routing,
            })
            .collect();
        out.push(MachineView {
            arn: machine.arn,
            name: machine.name,
            kind: machine.kind,
            creation_millis: machine.creation_millis,
            versions,
            aliases,
        });
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct ListQuery {
    pub machine: Option<String>,
    pub status: Option<String>,
    /// The last execution of the page before: its start and ARN.
    pub after_millis: Option<i64>,
    pub after_arn: Option<String>,
    pub limit: Option<usize>,
    /// `deploys`: the deploy agent's executions instead of the API's.
    pub source: Option<String>,
}

#[derive(Serialize)]
pub struct ExecutionSummary {
    pub arn: String,
    pub name: String,
    pub machine: String,
    pub status: String,
    pub start_millis: i64,
    pub stop_millis: Option<i64>,
}

#[derive(Serialize)]
pub struct ExecutionPage {
    pub executions: Vec<ExecutionSummary>,
    /// Whether a next page may exist (ask with the last one's start and ARN).
    pub more: bool,
}

fn summary_of(record: ExecutionRecord) -> ExecutionSummary {
    ExecutionSummary {
        arn: record.arn,
        name: record.name,
        machine: record.state_machine_arn,
        status: record.status,
        start_millis: record.start_millis,
        stop_millis: record.stop_millis,
    }
}

/// Executions, newest first, a page at a time.
pub async fn executions(
    State(d): State<Arc<Dashboard>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ExecutionPage>, Error> {
    let store: Arc<dyn Store> = match (query.source.as_deref(), &d.sources.deploys) {
        (Some("deploys"), Some(deploys)) => deploys.executions.clone(),
        (Some("deploys"), None) => {
            return Err(Error::NotFound("this server knows no deploy agent".into()))
        }
        _ => d.sources.executions.clone(),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let after = match (query.after_millis, query.after_arn) {
        (Some(start_millis), Some(arn)) => Some(ListCursor { start_millis, arn }),
        _ => None,
    };
    let filter = ExecutionFilter {
        state_machine_arn: query.machine.filter(|m| !m.is_empty()),
        status: query.status.filter(|s| !s.is_empty()),
        after,
        limit: limit + 1,
    };
    let mut records = tokio::task::spawn_blocking(move || store.list(&filter))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let more = records.len() > limit;
    records.truncate(limit);
    Ok(Json(ExecutionPage {
        executions: records.into_iter().map(summary_of).collect(),
        more,
    }))
}

#[derive(Deserialize)]
pub struct ArnQuery {
    pub arn: String,
}

#[derive(Serialize)]
pub struct ExecutionDetail {
    pub execution: ExecutionSummary,
    pub input: String,
    pub graph: Graph,
    /// Each state's colour and counts, by node id.
    pub states: HashMap<String, StateSummary>,
    /// The id of the last event folded in (the live stream goes on from it).
    pub last_event: u64,
}

/// An execution with its graph and what its history says of each state.
pub struct Folded {
    pub record: ExecutionRecord,
    pub graph: Graph,
    pub tracker: Tracker,
    /// The id of the last event folded in.
    pub last_event: u64,
}

/// The graph of the definition an execution runs.
pub(crate) fn graph_of(record: &ExecutionRecord) -> Result<Graph, Error> {
    let document = parse::document_from_text(&record.definition)
        .map_err(|d| Error::BadRequest(d.to_string()))?;
    Ok(graph::layout(&document))
}

/// Reads execution `arn` and folds its whole history.
pub(crate) fn fold(store: &dyn Store, arn: &str) -> Result<Folded, Error> {
    let record = store
        .execution(arn)?
        .ok_or_else(|| Error::NotFound(format!("no execution {arn}")))?;
    let graph = graph_of(&record)?;
    let mut tracker = Tracker::new(&graph);
    let mut last_event = 0;
    for event in store.history(arn, 1, u64::MAX)? {
        tracker.push(&event);
        last_event = event.id;
    }
    Ok(Folded {
        record,
        graph,
        tracker,
        last_event,
    })
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

pub async fn execution(
    State(d): State<Arc<Dashboard>>,
    Query(query): Query<ArnQuery>,
) -> Result<Json<ExecutionDetail>, Error> {
    let store = d.store_of(&query.arn)?;
    let folded = blocking(move || d.folded(store.as_ref(), &query.arn)).await?;
    Ok(Json(ExecutionDetail {
        input: folded.record.input.clone(),
        states: folded.tracker.all(),
        execution: summary_of(folded.record.clone()),
        graph: folded.graph.clone(),
        last_event: folded.last_event,
    }))
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    pub arn: String,
    pub from: Option<u64>,
    pub to: Option<u64>,
}

#[derive(Serialize)]
pub struct HistoryPage {
    /// Events as GetExecutionHistory gives them, payloads as JSON values,
    /// each with the `stateName` it belongs to.
    pub events: Vec<Value>,
}

/// History events with ids `from..=to` (at most [`MAX_EVENTS`]).
pub async fn history(
    State(d): State<Arc<Dashboard>>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<HistoryPage>, Error> {
    let store = d.store_of(&query.arn)?;
    let from = query.from.unwrap_or(1).max(1);
    let to = query.to.unwrap_or(u64::MAX).min(from + MAX_EVENTS - 1);
    let events = blocking(move || {
        let events = store.history(&query.arn, from, to)?;
        let folded = d.folded(store.as_ref(), &query.arn)?;
        Ok(events
            .iter()
            .map(|e| with_state(e.to_aws(false), folded.tracker.state_of(e.id)))
            .collect())
    })
    .await?;
    Ok(Json(HistoryPage { events }))
}

/// An event as GetExecutionHistory gives it, with `stateName`: the state
/// it belongs to, which only a state's entry and exit name themselves.
pub(crate) fn with_state(mut event: Value, state: Option<&str>) -> Value {
    if let (Some(object), Some(state)) = (event.as_object_mut(), state) {
        object.insert("stateName".into(), Value::String(state.to_owned()));
    }
    event
}

#[derive(Deserialize)]
pub struct StateQuery {
    pub arn: String,
    /// The node's id (its JSON pointer).
    pub id: String,
    /// Only its entries in this Map iteration (see `iterations.rs`).
    pub iteration: Option<usize>,
}

#[derive(Serialize)]
pub struct StateDetail {
    pub id: String,
    pub summary: StateSummary,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// What the panel shows of one state: its last entry's input, last exit's
/// output, last failure, and its counts and times (in one Map iteration
/// when the page asks for one).
pub async fn state(
    State(d): State<Arc<Dashboard>>,
    Query(query): Query<StateQuery>,
) -> Result<Json<StateDetail>, Error> {
    let store = d.store_of(&query.arn)?;
    let detail = blocking(move || -> Result<StateDetail, Error> {
        let folded = d.folded(store.as_ref(), &query.arn)?;
        let (record, tracker) = (&folded.record, &folded.tracker);
        let index = (0..tracker.len())
            .find(|i| tracker.id(*i) == query.id)
            .ok_or_else(|| Error::NotFound(format!("no state {}", query.id)))?;
        let summary = match query.iteration {
            Some(iteration) => tracker
                .summaries_within(iteration)
                .remove(&query.id)
                .unwrap_or_default(),
            None => tracker.summary(index).clone(),
        };
        let event = |id: Option<u64>| -> Result<Option<Value>, Error> {
            let Some(id) = id else { return Ok(None) };
            let details = store
                .history(&query.arn, id, id)?
                .into_iter()
                .next()
                .map(|e| e.details);
            Ok(details)
        };
        let entered = event(summary.last_entered_event)?;
        let exited = event(summary.last_exited_event)?;
        let failure = event(summary.last_failure_event)?;
        let text = |v: &Option<Value>, key: &str| {
            v.as_ref()
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let output = exited.as_ref().and_then(|d| d.get("output").cloned());
        let (mut error, mut cause) = (text(&failure, "error"), text(&failure, "cause"));
        if error.is_none() {
            // A Parallel's or Map's failure event names no error: a Fail
            // state's is in the definition, a caught one in what Catch wrote.
            let declared = parse::document_from_text(&record.definition)
                .ok()
                .and_then(|d| d.pointer(&query.id).cloned())
                .filter(|s| s.get("Type").and_then(Value::as_str) == Some("Fail"))
                .map(|s| (s.get("Error").cloned(), s.get("Cause").cloned()));
            let (e, c) = match declared {
                Some(found) => found,
                _ if summary.caught > 0 => {
                    output.as_ref().and_then(caught_error).unwrap_or_default()
                }
                _ => (None, None),
            };
            error = e.and_then(|e| e.as_str().map(str::to_string));
            cause = c.and_then(|c| c.as_str().map(str::to_string));
        }
        Ok(StateDetail {
            id: query.id,
            input: entered.as_ref().and_then(|d| d.get("input").cloned()),
            output,
            error,
            cause,
            summary,
        })
    })
    .await?;
    Ok(Json(detail))
}

/// The `{Error, Cause}` a Catch wrote into a state's output: the output
/// itself or one of its members.
fn caught_error(output: &Value) -> Option<(Option<Value>, Option<Value>)> {
    let pair = |v: &Value| {
        v.get("Error")
            .map(|e| (Some(e.clone()), v.get("Cause").cloned()))
    };
    pair(output).or_else(|| output.as_object()?.values().find_map(pair))
}

#[derive(Serialize)]
pub struct DefinitionView {
    pub graph: Graph,
    pub diagnostics: Vec<Placed>,
}

/// A validation diagnostic and the state it is about.
#[derive(Serialize)]
pub struct Placed {
    pub code: String,
    pub pointer: String,
    pub message: String,
    pub line: Option<usize>,
    /// The node the pointer falls in (the deepest state that contains it).
    pub node: Option<String>,
}

/// The graph of a definition as `windlass validate` reads it, with each
/// diagnostic placed on its state.
pub fn definition_view(text: &str) -> DefinitionView {
    let parsed = parse::parse_text(text);
    let graph = match parse::document_from_text(text) {
        Ok(document) => graph::layout(&document),
        Err(_) => Graph::default(),
    };
    let diagnostics = parsed
        .diagnostics
        .iter()
        .map(|d| {
            let pointer = plain_pointer(&d.pointer);
            let node = graph
                .nodes
                .iter()
                .filter(|n| pointer == n.id || pointer.starts_with(&format!("{}/", n.id)))
                .max_by_key(|n| n.id.len())
                .map(|n| n.id.clone());
            Placed {
                code: d.code.to_string(),
                pointer: d.pointer.clone(),
                message: d.message.clone(),
                line: parse::diagnostic_line(text, d),
                node,
            }
        })
        .collect();
    DefinitionView { graph, diagnostics }
}

/// A diagnostic's pointer as a JSON pointer: the parser writes array
/// indexes as AWS does (`/Branches[0]/States`), the graph as `/Branches/0`.
fn plain_pointer(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for c in pointer.chars() {
        match c {
            '[' => out.push('/'),
            ']' => {}
            c => out.push(c),
        }
    }
    out
}

/// The graph of a definition the page sends (`windlass validate` on a page).
pub async fn definition(body: String) -> Json<DefinitionView> {
    Json(definition_view(&body))
}

/// The graph of a stored machine's or version's definition.
pub async fn machine_definition(
    State(d): State<Arc<Dashboard>>,
    Query(query): Query<ArnQuery>,
) -> Result<Json<DefinitionView>, Error> {
    let store = d
        .sources
        .machines
        .as_ref()
        .ok_or_else(|| Error::NotFound("this server keeps no state machines".into()))?;
    let text = match store.get::<MachineRecord>(&query.arn)? {
        Some(machine) => machine.definition,
        None => store
            .get::<VersionRecord>(&query.arn)?
            .map(|v| v.definition)
            .ok_or_else(|| Error::NotFound(format!("no state machine {}", query.arn)))?,
    };
    Ok(Json(definition_view(&text)))
}
