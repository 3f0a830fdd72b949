//! The API's actions, one function each, grouped by resource. [`dispatch`]
//! decodes a request body into the action's input and encodes its output.

mod activities;
mod aliases;
mod configurations;
mod executions;
mod history;
mod machines;
mod map_runs;
mod tags;
mod test_state;
mod versions;

use serde::de::DeserializeOwned;
use serde::Serialize;
use windlass_store::machines::{MachineStoreExt, Resource};

use crate::error::{ApiError, ApiResult};
use crate::pages::Query;
use crate::region::Regional;

/// Runs `action` on a JSON request body and returns the JSON response body.
pub async fn dispatch(server: &Regional<'_>, action: &str, body: &[u8]) -> ApiResult<Vec<u8>> {
    match action {
        "CreateStateMachine" => reply(machines::create(server, input(body)?)),
        "DescribeStateMachine" => reply(machines::describe(server, input(body)?)),
        "ListStateMachines" => reply(machines::list(server, input(body)?)),
        "UpdateStateMachine" => reply(machines::update(server, input(body)?)),
        "DeleteStateMachine" => reply(machines::delete(server, input(body)?)),
        "ValidateStateMachineDefinition" => reply(machines::validate(input(body)?)),
        "PublishStateMachineVersion" => reply(versions::publish(server, input(body)?)),
        "ListStateMachineVersions" => reply(versions::list(server, input(body)?)),
        "DeleteStateMachineVersion" => reply(versions::delete(server, input(body)?)),
        "CreateStateMachineAlias" => reply(aliases::create(server, input(body)?)),
        "DescribeStateMachineAlias" => reply(aliases::describe(server, input(body)?)),
        "UpdateStateMachineAlias" => reply(aliases::update(server, input(body)?)),
        "DeleteStateMachineAlias" => reply(aliases::delete(server, input(body)?)),
        "ListStateMachineAliases" => reply(aliases::list(server, input(body)?)),
        "StartExecution" => reply(executions::start(server, input(body)?).await),
        "StartSyncExecution" => reply(executions::start_sync(server, input(body)?).await),
        "DescribeExecution" => reply(executions::describe(server, input(body)?)),
        "DescribeStateMachineForExecution" => {
            reply(executions::describe_machine(server, input(body)?))
        }
        "ListExecutions" => {
            let input: crate::wire::ListExecutionsInput = input(body)?;
            if input.map_run_arn.is_some() {
                reply(map_runs::list_executions(server, input))
            } else {
                reply(executions::list(server, input))
            }
        }
        "DescribeMapRun" => reply(map_runs::describe(server, input(body)?)),
        "ListMapRuns" => reply(map_runs::list(server, input(body)?)),
        "UpdateMapRun" => reply(map_runs::update(server, input(body)?).await),
        "StopExecution" => reply(executions::stop(server, input(body)?).await),
        "RedriveExecution" => reply(executions::redrive(server, input(body)?).await),
        "GetExecutionHistory" => reply(history::get(server, input(body)?)),
        "CreateActivity" => reply(activities::create(server, input(body)?)),
        "DescribeActivity" => reply(activities::describe(server, input(body)?)),
        "ListActivities" => reply(activities::list(server, input(body)?)),
        "DeleteActivity" => reply(activities::delete(server, input(body)?)),
        "GetActivityTask" => reply(activities::get_task(server, input(body)?).await),
        "SendTaskSuccess" => reply(activities::send_success(server, input(body)?).await),
        "SendTaskFailure" => reply(activities::send_failure(server, input(body)?).await),
        "SendTaskHeartbeat" => reply(activities::send_heartbeat(server, input(body)?).await),
        "TestState" => reply(test_state::run(server, input(body)?).await),
        "TagResource" => reply(tags::tag(server, input(body)?)),
        "UntagResource" => reply(tags::untag(server, input(body)?)),
        "ListTagsForResource" => reply(tags::list(server, input(body)?)),
        _ => Err(ApiError::new(
            "UnknownOperationException",
            format!("Unknown operation: '{action}'"),
        )),
    }
}

/// Decodes a request body; an empty body is an empty input. The body must
/// be a JSON object whose members have the types the action's shape gives
/// them: anything else is AWS's `SerializationException`.
fn input<T: DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Ok(T::default());
    };
    if body[start] != b'{' {
        return Err(ApiError::new(
            "SerializationException",
            "The request body must be a JSON object of the action's members (it starts with something else)",
        ));
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::new(
            "SerializationException",
            format!("A member of the request has the wrong type: {e}"),
        ),
        _ => ApiError::new(
            "SerializationException",
            format!("The request body is not valid JSON: {e}"),
        ),
    })
}

fn reply<T: Serialize>(output: ApiResult<T>) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(&output?).map_err(|e| ApiError::internal(e.to_string()))
}

/// A required string field: present and non-empty.
fn required<'a>(value: &'a str, field: &str) -> ApiResult<&'a str> {
    if value.is_empty() {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        )));
    }
    Ok(value)
}

/// A string field's length within AWS's bounds.
fn check_length(value: &str, field: &str, max: usize) -> ApiResult<()> {
    if value.chars().count() > max {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    Ok(())
}

/// `maxResults`: 0 or absent means the default (100); at most 1000.
fn page_size(max_results: Option<i64>) -> ApiResult<usize> {
    match max_results.unwrap_or(0) {
        0 => Ok(100),
        n @ 1..=1000 => Ok(n as usize),
        n => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"
        ))),
    }
}

/// Splits `items` (fetched with one more than `size`) into a page and the
/// token of the next, which holds the position `position_of` gives the last
/// item of the page.
fn paginate<T>(
    server: &Regional<'_>,
    query: &Query,
    mut items: Vec<T>,
    size: usize,
    position_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if items.len() > size {
        items.truncate(size);
        let token = items
            .last()
            .map(|item| server.pages.token(query, &position_of(item)));
        (items, token)
    } else {
        (items, None)
    }
}

/// The position a client's `nextToken` holds for `query` (see [`crate::pages`]).
fn position(
    server: &Regional<'_>,
    query: &Query,
    token: Option<&str>,
) -> ApiResult<Option<String>> {
    server.pages.position(query, token)
}

/// Up to `size + 1` records of a kind without parent (state machines,
/// activities) of the request's region, in ARN order after `after`. ARNs
/// of one region and account share a prefix, so they are listed together.
fn list_in_region<R: Resource>(
    server: &Regional<'_>,
    after: Option<String>,
    size: usize,
) -> ApiResult<Vec<R>> {
    let prefix = format!("{}:", server.arns.prefix());
    // The prefix itself sorts before every ARN that starts with it.
    let start = after
        .filter(|a| a.starts_with(&prefix))
        .unwrap_or_else(|| prefix.clone());
    let records: Vec<R> = server.machines.list(None, Some(&start), size + 1)?;
    Ok(records
        .into_iter()
        .take_while(|r| r.arn().starts_with(&prefix))
        .collect())
}
