//! GetExecutionHistory: pages of events, forwards or backwards.
//!
//! Event ids run from 1 without gaps, so a page is an id range and the
//! `nextToken` holds (signed, see [`crate::pages`]) the id the next page
//! starts at.

use serde_json::{json, Value as Json};
use windlass_engine::{Execution, HistoryEvent};

use super::{executions, page_size, position};
use crate::error::{ApiError, ApiResult};
use crate::pages::Query;
use crate::region::Regional;
use crate::wire;

/// The event as the wire writes it: JSON text for data, epoch seconds for time.
fn wire_event(event: &HistoryEvent, include_data: bool) -> Json {
    let mut value = event.to_aws(true);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "timestamp".into(),
            json!(wire::timestamp(event.timestamp_millis)),
        );
        if !include_data {
            if let Some(Json::Object(details)) =
                event.details_key().and_then(|key| map.get_mut(key))
            {
                for field in ["input", "output"] {
                    details.remove(field);
                }
            }
        }
    }
    value
}

fn last_event_id(record: &windlass_store::ExecutionRecord) -> ApiResult<u64> {
    let execution: Execution = serde_json::from_str(&record.snapshot).map_err(|e| {
        ApiError::internal(format!(
            "the stored state of {} cannot be read: {e}",
            record.arn
        ))
    })?;
    Ok(execution.last_event_id)
}

pub fn get(
    server: &Regional<'_>,
    input: wire::GetExecutionHistoryInput,
) -> ApiResult<wire::GetExecutionHistoryOutput> {
    let (record, runtime) = executions::find(server, &input.execution_arn)?;
    let pages = page_size(input.max_results)?;
    let size = pages as u64;
    let query = Query::new("GetExecutionHistory", &server.arns.region, pages)
        .with("executionArn", Some(&record.arn))
        .with("reverseOrder", Some(&input.reverse_order.to_string()))
        .with(
            "includeExecutionData",
            Some(&input.include_execution_data.to_string()),
        );
    let start = position(server, &query, input.next_token.as_deref())?
        .map(|p| p.parse::<u64>().ok().filter(|id| *id >= 1))
        .map(|id| id.ok_or_else(|| ApiError::internal("a signed history token holds no event id")))
        .transpose()?;
    let (events, next) = if input.reverse_order {
        let top = match start {
            Some(id) => id,
            None => last_event_id(&record)?,
        };
        let bottom = top.saturating_sub(size - 1).max(1);
        let mut events = runtime.store().history(&record.arn, bottom, top)?;
        events.reverse();
        (events, (bottom > 1 && top >= 1).then(|| bottom - 1))
    } else {
        let from = start.unwrap_or(1);
        // One more than a page tells whether another page follows.
        let mut events = runtime.store().history(&record.arn, from, from + size)?;
        let more = events.len() as u64 > size;
        events.truncate(size as usize);
        (events, more.then_some(from + size))
    };
    Ok(wire::GetExecutionHistoryOutput {
        events: events
            .iter()
            .map(|e| wire_event(e, input.include_execution_data))
            .collect(),
        next_token: next.map(|id| server.pages.token(&query, &id.to_string())),
    })
}
