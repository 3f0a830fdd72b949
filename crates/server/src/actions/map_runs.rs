//! Map Runs: DescribeMapRun, ListMapRuns, UpdateMapRun, and
//! ListExecutions of a `mapRunArn` (the run's child executions). A Map
//! Run lives in the snapshot of the execution that started it, which its
//! ARN names (`windlass_engine::map_run::parent_of_map_run`).

use windlass_engine::map_run::{parent_of_map_run, MapRun, MapRunCounts};
use windlass_engine::{Event, Execution};

use super::executions::find;
use super::{page_size, position, required};
use crate::error::{ApiError, ApiResult};
use crate::pages::Query;
use crate::region::Regional;
use crate::wire::{self, timestamp};

const STATUSES: [&str; 6] = [
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
    "PENDING_REDRIVE",
];

pub fn describe(
    server: &Regional<'_>,
    input: wire::MapRunArnInput,
) -> ApiResult<wire::DescribeMapRunOutput> {
    let (execution, run) = map_run(server, &input.map_run_arn)?;
    let counts = counts(run.counts());
    Ok(wire::DescribeMapRunOutput {
        map_run_arn: run.arn.clone(),
        execution_arn: execution.meta.execution_arn.clone(),
        status: run.status.as_str(),
        start_date: timestamp(run.start_millis),
        stop_date: run.stop_millis.map(timestamp),
        max_concurrency: run.max_concurrency,
        tolerated_failure_percentage: run.tolerated_failure_percentage,
        tolerated_failure_count: run.tolerated_failure_count,
        // One child execution per item (or per batch, with an ItemBatcher).
        execution_counts: counts.clone(),
        item_counts: counts,
        redrive_count: execution.redrive_count(),
    })
}

pub fn list(
    server: &Regional<'_>,
    input: wire::ListMapRunsInput,
) -> ApiResult<wire::ListMapRunsOutput> {
    let (record, _) = find(server, &input.execution_arn)?;
    let execution = snapshot(&record.snapshot, &record.arn)?;
    let size = page_size(input.max_results)?;
    let query = Query::new("ListMapRuns", &server.arns.region, size)
        .with("executionArn", Some(&input.execution_arn));
    let start = start_of(server, &query, input.next_token.as_deref())?;
    let runs = execution.map_runs();
    let map_runs = runs
        .iter()
        .skip(start)
        .take(size)
        .map(|run| wire::MapRunListItem {
            execution_arn: record.arn.clone(),
            map_run_arn: run.arn.clone(),
            state_machine_arn: record.state_machine_arn.clone(),
            start_date: timestamp(run.start_millis),
            stop_date: run.stop_millis.map(timestamp),
        })
        .collect();
    let next = start + size;
    Ok(wire::ListMapRunsOutput {
        map_runs,
        next_token: (next < runs.len()).then(|| server.pages.token(&query, &next.to_string())),
    })
}

/// UpdateMapRun: the new limits reach the running execution as an event,
/// so they are applied (and stored) in order with everything else.
pub async fn update(
    server: &Regional<'_>,
    input: wire::UpdateMapRunInput,
) -> ApiResult<wire::Empty> {
    let non_negative = |value: Option<i64>, field: &str| {
        match value {
        Some(n) if n < 0 => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: Member must have value greater than or equal to 0"
        ))),
        other => Ok(other.map(|n| n as u64)),
    }
    };
    let max_concurrency = non_negative(input.max_concurrency, "maxConcurrency")?;
    let tolerated_count = non_negative(input.tolerated_failure_count, "toleratedFailureCount")?;
    let tolerated_percentage = match input.tolerated_failure_percentage {
        Some(p) if !(0.0..=100.0).contains(&p) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{p}' at 'toleratedFailurePercentage' failed to satisfy constraint: Member must be between 0 and 100"
            )))
        }
        other => other,
    };
    if max_concurrency.is_none() && tolerated_count.is_none() && tolerated_percentage.is_none() {
        return Err(ApiError::validation(
            "At least one of the parameters maxConcurrency, toleratedFailurePercentage or toleratedFailureCount must be given",
        ));
    }
    let (execution, run) = map_run(server, &input.map_run_arn)?;
    if run.status != windlass_engine::map_run::MapRunStatus::Running {
        return Err(ApiError::validation(format!(
            "The Map Run '{}' is {} and can no longer be updated",
            run.arn,
            run.status.as_str()
        )));
    }
    let event = Event::UpdateMapRun {
        map_run_arn: run.arn.clone(),
        max_concurrency,
        tolerated_failure_count: tolerated_count,
        tolerated_failure_percentage: tolerated_percentage,
    };
    server
        .runtime
        .deliver(&execution.meta.execution_arn, event)
        .await
        .map_err(|e| {
            ApiError::validation(format!("The Map Run '{}' cannot be updated: {e}", run.arn))
        })?;
    Ok(wire::Empty {})
}

/// ListExecutions with a `mapRunArn`: the Map Run's child executions, by
/// item index.
pub fn list_executions(
    server: &Regional<'_>,
    input: wire::ListExecutionsInput,
) -> ApiResult<wire::ListChildExecutionsOutput> {
    let map_run_arn = input.map_run_arn.clone().unwrap_or_default();
    if let Some(status) = input.status_filter.as_deref() {
        if !STATUSES.contains(&status) {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{status}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                STATUSES.join(", ")
            )));
        }
    }
    let (execution, run) = map_run(server, &map_run_arn)?;
    let size = page_size(input.max_results)?;
    let query = Query::new("ListExecutions", &server.arns.region, size)
        .with("mapRunArn", Some(&map_run_arn))
        .with("statusFilter", input.status_filter.as_deref());
    let start = start_of(server, &query, input.next_token.as_deref())?;
    let machine_arn = run.child_machine_arn(&execution.meta.state_machine_arn);
    let mut executions = Vec::new();
    let mut next = None;
    let matching = run
        .children
        .iter()
        .enumerate()
        .skip(start)
        .filter(|(_, child)| {
            input
                .status_filter
                .as_deref()
                .is_none_or(|status| child.status.as_str() == status)
        });
    for (index, child) in matching {
        if executions.len() == size {
            next = Some(index);
            break;
        }
        executions.push(wire::ChildExecutionListItem {
            execution_arn: run.child_arn(index).unwrap_or_default(),
            state_machine_arn: machine_arn.clone(),
            name: child.name.clone(),
            status: child.status.as_str(),
            start_date: timestamp(child.start_millis),
            stop_date: child.stop_millis.map(timestamp),
            map_run_arn: run.arn.clone(),
            redrive_count: 0,
        });
    }
    Ok(wire::ListChildExecutionsOutput {
        executions,
        next_token: next.map(|index| server.pages.token(&query, &index.to_string())),
    })
}

/// The execution a Map Run ARN belongs to, and the run.
fn map_run(server: &Regional<'_>, map_run_arn: &str) -> ApiResult<(Execution, MapRun)> {
    required(map_run_arn, "mapRunArn")?;
    let not_found = || {
        ApiError::new(
            "ResourceNotFound",
            format!("Resource not found: '{map_run_arn}'"),
        )
    };
    let parent =
        parent_of_map_run(map_run_arn).ok_or_else(|| ApiError::invalid_arn(map_run_arn))?;
    let (record, _) = find(server, &parent).map_err(|_| not_found())?;
    let execution = snapshot(&record.snapshot, &record.arn)?;
    let run = execution
        .map_runs()
        .iter()
        .find(|run| run.arn == map_run_arn)
        .cloned()
        .ok_or_else(not_found)?;
    Ok((execution, run))
}

fn snapshot(text: &str, arn: &str) -> ApiResult<Execution> {
    serde_json::from_str(text)
        .map_err(|e| ApiError::internal(format!("the stored state of {arn} cannot be read: {e}")))
}

fn start_of(server: &Regional<'_>, query: &Query, token: Option<&str>) -> ApiResult<usize> {
    match position(server, query, token)? {
        None => Ok(0),
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::new("InvalidToken", format!("Invalid Token: '{text}'"))),
    }
}

fn counts(counts: MapRunCounts) -> wire::MapRunCounts {
    wire::MapRunCounts {
        pending: counts.pending,
        running: counts.running,
        succeeded: counts.succeeded,
        failed: counts.failed,
        timed_out: counts.timed_out,
        aborted: counts.aborted,
        total: counts.total,
        results_written: counts.results_written,
        failures_not_redrivable: 0,
        pending_redrive: 0,
    }
}
