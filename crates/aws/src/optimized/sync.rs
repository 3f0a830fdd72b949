//! The `.sync` patterns of the optimized integrations: after the call,
//! the task or execution it started is polled until it ends.

use std::time::Duration;

use serde_json::{json, Value as Json};
use windlass_asl::Failure;

use super::{Caller, Sync};
use crate::Error;

/// How often `.sync` looks at a task or execution: first after
/// `FIRST_POLL`, then twice as long each time up to `MAX_POLL`.
const FIRST_POLL: Duration = Duration::from_millis(500);
const MAX_POLL: Duration = Duration::from_secs(10);

fn next_poll(wait: Duration) -> Duration {
    (wait * 2).min(MAX_POLL)
}

/// `ecs:runTask.sync`: DescribeTasks until every task has STOPPED; a
/// container that exited non-zero fails the task.
pub(super) async fn ecs_wait(
    caller: &Caller<'_>,
    input: &Json,
    started: Json,
    rename: impl Fn(Error) -> Failure,
) -> Result<Json, Failure> {
    let arns: Vec<Json> = started
        .get("Tasks")
        .and_then(Json::as_array)
        .map(|tasks| {
            tasks
                .iter()
                .filter_map(|t| t.get("TaskArn").cloned())
                .collect()
        })
        .unwrap_or_default();
    if arns.is_empty() {
        return Err(Failure::new("States.TaskFailed", started.to_string()));
    }
    let mut wait = FIRST_POLL;
    loop {
        tokio::time::sleep(wait).await;
        wait = next_poll(wait);
        let mut query = json!({ "Tasks": arns });
        if let Some(cluster) = input.get("Cluster") {
            query["Cluster"] = cluster.clone();
        }
        let described = caller
            .call("describeTasks", &query)
            .await
            .map_err(&rename)?;
        let tasks = described
            .get("Tasks")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let stopped = !tasks.is_empty()
            && tasks
                .iter()
                .all(|t| t.get("LastStatus").and_then(Json::as_str) == Some("STOPPED"));
        if !stopped {
            continue;
        }
        let failed = tasks.iter().any(|task| {
            task.get("Containers")
                .and_then(Json::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.get("ExitCode").and_then(Json::as_i64).unwrap_or(1) != 0)
                })
        });
        let result = tasks.into_iter().next().unwrap_or(Json::Null);
        return if failed {
            Err(Failure::new("States.TaskFailed", result.to_string()))
        } else {
            Ok(result)
        };
    }
}

/// `states:startExecution.sync`: DescribeExecution until the execution
/// ends; only SUCCEEDED succeeds.
pub(super) async fn execution_wait(
    caller: &Caller<'_>,
    started: Json,
    sync: Sync,
    rename: impl Fn(Error) -> Failure,
) -> Result<Json, Failure> {
    let arn = started.get("ExecutionArn").cloned().unwrap_or(Json::Null);
    let mut wait = FIRST_POLL;
    loop {
        tokio::time::sleep(wait).await;
        wait = next_poll(wait);
        let mut described = caller
            .call("describeExecution", &json!({ "ExecutionArn": arn }))
            .await
            .map_err(&rename)?;
        match described.get("Status").and_then(Json::as_str) {
            Some("RUNNING") | Some("PENDING_REDRIVE") => continue,
            Some("SUCCEEDED") => {
                if sync == Sync::Json {
                    if let Some(Json::String(text)) = described.get("Output") {
                        let parsed =
                            serde_json::from_str(text).unwrap_or(Json::String(text.clone()));
                        described["Output"] = parsed;
                    }
                    if let Some(Json::String(text)) = described.get("Input") {
                        let parsed =
                            serde_json::from_str(text).unwrap_or(Json::String(text.clone()));
                        described["Input"] = parsed;
                    }
                }
                return Ok(described);
            }
            _ => {
                let error = described
                    .get("Error")
                    .and_then(Json::as_str)
                    .unwrap_or("States.TaskFailed")
                    .to_string();
                return Err(Failure::new(error, described.to_string()));
            }
        }
    }
}
