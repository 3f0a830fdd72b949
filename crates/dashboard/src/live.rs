//! The live stream of one execution: server-sent events, each carrying the
//! history events committed since the last one and the new colours of the
//! states they changed, so the page never asks for the states again.
//!
//! The stream tails the store (one read of the events after the last sent,
//! every [`TICK`]) rather than hooking the runtime: the execution may be
//! driven by another process (a deploy agent, another server on a shared
//! PostgreSQL store), and the store is what every one of them commits to.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use windlass_store::Store;

use crate::api::graph_of;
use crate::status::{StateSummary, Tracker};
use crate::{Dashboard, Error};

/// How often the stream looks for new events.
pub const TICK: Duration = Duration::from_millis(150);
/// The most events one message carries.
const BATCH: u64 = 2000;

#[derive(Deserialize)]
pub struct EventsQuery {
    pub arn: String,
    /// Events after this id are sent (the page has the ones before).
    #[serde(default)]
    pub after: u64,
}

/// One message of the stream (`event: update`).
#[derive(Serialize)]
pub struct Update {
    pub status: String,
    pub stop_millis: Option<i64>,
    pub events: Vec<Json>,
    /// The states these events changed, by node id.
    pub states: HashMap<String, StateSummary>,
}

struct Tail {
    store: Arc<dyn Store>,
    arn: String,
    tracker: Tracker,
    last: u64,
    first: bool,
    done: bool,
}

pub async fn events(
    State(d): State<Arc<Dashboard>>,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    let store = d.store_of(&query.arn)?;
    let (tail_store, arn) = (store.clone(), query.arn.clone());
    let (tracker, last) = tokio::task::spawn_blocking(move || {
        // Fold the events the page already has, then go on from there.
        let record = tail_store
            .execution(&arn)?
            .ok_or_else(|| Error::NotFound(format!("no execution {arn}")))?;
        let mut tracker = Tracker::new(&graph_of(&record)?);
        for event in tail_store.history(&arn, 1, query.after)? {
            tracker.push(&event);
        }
        Ok::<_, Error>((tracker, query.after))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    let tail = Tail {
        store,
        arn: query.arn,
        tracker,
        last,
        first: true,
        done: false,
    };
    let stream = stream::unfold(tail, |mut tail| async move {
        if tail.done {
            return None;
        }
        loop {
            if !tail.first {
                tokio::time::sleep(TICK).await;
            }
            tail.first = false;
            match next_update(&mut tail).await {
                Ok(Some(event)) => return Some((Ok(event), tail)),
                Ok(None) => continue,
                Err(e) => {
                    tail.done = true;
                    let event = Event::default().event("problem").data(e.to_string());
                    return Some((Ok(event), tail));
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The next message, or `None` when nothing happened since the last.
async fn next_update(tail: &mut Tail) -> Result<Option<Event>, Error> {
    let (store, arn, from) = (tail.store.clone(), tail.arn.clone(), tail.last + 1);
    let (record, events) = tokio::task::spawn_blocking(move || {
        // The record first: events committed after it are read too, so an
        // ended status is never sent before the events that end it.
        let record = store.execution(&arn)?;
        let events = store.history(&arn, from, from + BATCH - 1)?;
        Ok::<_, Error>((record, events))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    let record = record.ok_or_else(|| Error::NotFound(format!("no execution {}", tail.arn)))?;
    let ended = record.status != "RUNNING";
    if events.is_empty() && !ended {
        return Ok(None);
    }
    let mut changed = BTreeSet::new();
    for event in &events {
        if let Some(i) = tail.tracker.push(event) {
            changed.insert(i);
        }
        tail.last = event.id;
    }
    let caught_up = (events.len() as u64) < BATCH;
    if ended && caught_up {
        // Every state may change colour when the execution ends.
        changed.extend(0..tail.tracker.len());
        tail.done = true;
    }
    let update = Update {
        status: if caught_up {
            record.status
        } else {
            "RUNNING".into()
        },
        stop_millis: record.stop_millis.filter(|_| caught_up),
        events: events
            .iter()
            .map(|e| crate::api::with_state(e.to_aws(false), tail.tracker.state_of(e.id)))
            .collect(),
        states: changed
            .into_iter()
            .map(|i| {
                (
                    tail.tracker.id(i).to_string(),
                    tail.tracker.summary(i).clone(),
                )
            })
            .collect(),
    };
    let data = serde_json::to_string(&update).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Some(Event::default().event("update").data(data)))
}
