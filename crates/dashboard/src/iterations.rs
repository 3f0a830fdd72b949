//! A Map state's iterations, one at a time, as the Step Functions console
//! shows them: the list of a Map's iterations (index, item, status), and
//! one iteration's input, output and the colour of each state inside it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use windlass_store::Store;

use crate::status::{IterationStatus, StateSummary};
use crate::{Dashboard, Error};

/// The most iterations one page lists.
pub const MAX_ITERATIONS: usize = 500;

#[derive(Deserialize)]
pub struct IterationsQuery {
    pub arn: String,
    /// The Map state's node id.
    pub id: String,
    /// Only the iterations inside this iteration (of a Map around it).
    pub within: Option<usize>,
    /// The first iteration of the page, by its place in the list.
    #[serde(default)]
    pub from: usize,
}

#[derive(Serialize)]
pub struct IterationView {
    /// What `/ui/api/iteration` and `/ui/api/state` are asked with.
    pub id: usize,
    /// The item's index in the Map's items.
    pub index: u64,
    /// Which entry of the Map state (a Map in a loop, or in another Map,
    /// is entered several times).
    pub entry: usize,
    pub status: IterationStatus,
    pub within: Option<usize>,
    /// The iteration's input (the item, after ItemSelector).
    pub item: Option<Value>,
}

#[derive(Serialize)]
pub struct IterationPage {
    pub iterations: Vec<IterationView>,
    /// How many there are in all.
    pub total: usize,
}

/// `details.{key}` of event `id`.
pub(crate) fn event_value(
    store: &dyn Store,
    arn: &str,
    id: Option<u64>,
    key: &str,
) -> Result<Option<Value>, Error> {
    let Some(id) = id else { return Ok(None) };
    let event = store.history(arn, id, id)?.into_iter().next();
    Ok(event.and_then(|e| e.details.get(key).cloned()))
}

/// The iterations of one Map state, a page at a time.
pub async fn iterations(
    State(d): State<Arc<Dashboard>>,
    Query(query): Query<IterationsQuery>,
) -> Result<Json<IterationPage>, Error> {
    let store = d.store_of(&query.arn)?;
    let page = tokio::task::spawn_blocking(move || -> Result<IterationPage, Error> {
        let folded = d.folded(store.as_ref(), &query.arn)?;
        let all = folded.tracker.iterations(&query.id, query.within);
        let total = all.len();
        let mut iterations = Vec::new();
        for i in all.into_iter().skip(query.from).take(MAX_ITERATIONS) {
            iterations.push(IterationView {
                item: event_value(store.as_ref(), &query.arn, i.input_event, "input")?,
                id: i.id,
                index: i.index,
                entry: i.entry,
                status: i.status,
                within: i.within,
            });
        }
        Ok(IterationPage { iterations, total })
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(Json(page))
}

#[derive(Deserialize)]
pub struct IterationQuery {
    pub arn: String,
    pub iteration: usize,
}

#[derive(Serialize)]
pub struct IterationDetail {
    pub id: usize,
    /// The Map state's node id.
    pub map: String,
    pub index: u64,
    pub status: IterationStatus,
    pub input: Option<Value>,
    /// The output of its last state, when it ended by an exit.
    pub output: Option<Value>,
    /// The states inside the iteration as they ran in it alone, by node id
    /// (those that did not run in it are left out).
    pub states: HashMap<String, StateSummary>,
}

/// One iteration: its input, output and the states it ran.
pub async fn iteration(
    State(d): State<Arc<Dashboard>>,
    Query(query): Query<IterationQuery>,
) -> Result<Json<IterationDetail>, Error> {
    let store = d.store_of(&query.arn)?;
    let detail = tokio::task::spawn_blocking(move || -> Result<IterationDetail, Error> {
        let folded = d.folded(store.as_ref(), &query.arn)?;
        let tracker = &folded.tracker;
        let found = tracker
            .iteration(query.iteration)
            .ok_or_else(|| Error::NotFound(format!("no iteration {}", query.iteration)))?;
        let status = tracker
            .iterations(&found.map, None)
            .into_iter()
            .find(|i| i.id == found.id)
            .map_or(found.status, |i| i.status);
        let input = event_value(store.as_ref(), &query.arn, found.input_event, "input")?;
        let output = event_value(store.as_ref(), &query.arn, found.last_event, "output")?;
        Ok(IterationDetail {
            id: found.id,
            map: found.map.clone(),
            index: found.index,
            status,
            input,
            output,
            states: tracker.summaries_within(found.id),
        })
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(Json(detail))
}
