//! CreateActivity, DescribeActivity, ListActivities, DeleteActivity,
//! GetActivityTask, and the SendTask* calls that end activity and callback
//! (`.waitForTaskToken`) tasks.

use serde_json::Value as Json;
use windlass_store::machines::{ActivityRecord, MachineStoreExt};

use super::configurations::{self as config, stored_encryption};
use super::{check_length, page_size, paginate, position, required, tags};
use crate::arn::{self, Resource};
use crate::error::{ApiError, ApiResult};
use crate::pages::Query;
use crate::region::Regional;
use crate::wire::{self, timestamp};

pub fn create(
    server: &Regional<'_>,
    input: wire::CreateActivityInput,
) -> ApiResult<wire::CreateActivityOutput> {
    required(&input.name, "name")?;
    arn::check_name(&input.name)?;
    let tag_pairs = tags::pairs(&input.tags)?;
    let encryption = input
        .encryption_configuration
        .map(config::encryption)
        .transpose()?;
    let record = ActivityRecord {
        arn: server.arns.activity(&input.name),
        name: input.name,
        creation_millis: server.now_millis(),
        encryption_configuration: encryption,
    };
    // CreateActivity is idempotent: the same name gives the same activity.
    let record = match server.machines.insert(&record) {
        Ok(()) => record,
        Err(windlass_store::Error::AlreadyExists(_)) => find(server, &record.arn)?,
        Err(other) => return Err(other.into()),
    };
    server.machines.tag(&record.arn, &tag_pairs)?;
    Ok(wire::CreateActivityOutput {
        activity_arn: record.arn,
        creation_date: timestamp(record.creation_millis),
    })
}

fn find(server: &Regional<'_>, activity_arn: &str) -> ApiResult<ActivityRecord> {
    required(activity_arn, "activityArn")?;
    if !matches!(arn::parse(activity_arn), Some(Resource::Activity { .. })) {
        return Err(ApiError::invalid_arn(activity_arn));
    }
    let missing = || {
        ApiError::new(
            "ActivityDoesNotExist",
            format!("Activity Does Not Exist: '{activity_arn}'"),
        )
    };
    if !server.owns(activity_arn) {
        return Err(missing());
    }
    server
        .machines
        .get::<ActivityRecord>(activity_arn)?
        .ok_or_else(missing)
}

pub fn describe(
    server: &Regional<'_>,
    input: wire::ActivityArnInput,
) -> ApiResult<wire::DescribeActivityOutput> {
    let record = find(server, &input.activity_arn)?;
    Ok(wire::DescribeActivityOutput {
        encryption_configuration: stored_encryption(record.encryption_configuration.as_ref()),
        activity_arn: record.arn,
        name: record.name,
        creation_date: timestamp(record.creation_millis),
    })
}

pub fn list(
    server: &Regional<'_>,
    input: wire::ListInput,
) -> ApiResult<wire::ListActivitiesOutput> {
    let size = page_size(input.max_results)?;
    let query = Query::new("ListActivities", &server.arns.region, size);
    let after = position(server, &query, input.next_token.as_deref())?;
    let records: Vec<ActivityRecord> = super::list_in_region(server, after, size)?;
    let (page, next_token) = paginate(server, &query, records, size, |r| r.arn.clone());
    let activities = page
        .into_iter()
        .map(|r| wire::ActivityListItem {
            activity_arn: r.arn,
            name: r.name,
            creation_date: timestamp(r.creation_millis),
        })
        .collect();
    Ok(wire::ListActivitiesOutput {
        activities,
        next_token,
    })
}

pub fn delete(server: &Regional<'_>, input: wire::ActivityArnInput) -> ApiResult<wire::Empty> {
    required(&input.activity_arn, "activityArn")?;
    if !matches!(
        arn::parse(&input.activity_arn),
        Some(Resource::Activity { .. })
    ) {
        return Err(ApiError::invalid_arn(&input.activity_arn));
    }
    if server.owns(&input.activity_arn) {
        server.machines.delete(&input.activity_arn)?;
    }
    Ok(wire::Empty {})
}

pub async fn get_task(
    server: &Regional<'_>,
    input: wire::GetActivityTaskInput,
) -> ApiResult<wire::GetActivityTaskOutput> {
    let activity = find(server, &input.activity_arn)?;
    if let Some(worker) = &input.worker_name {
        check_length(worker, "workerName", 80)?;
    }
    let wait = server.config.activity_wait;
    let task = server
        .runtime
        .get_activity_task(&activity.arn, input.worker_name, wait)
        .await;
    Ok(match task {
        Some(task) => wire::GetActivityTaskOutput {
            task_token: Some(task.token),
            input: Some(task.input.to_string()),
        },
        None => wire::GetActivityTaskOutput::default(),
    })
}

/// Checks a task token's shape; windlass's tokens are UUIDs. AWS's
/// message for a token it cannot read does not quote the token.
fn check_task_token(token: &str) -> ApiResult<()> {
    required(token, "taskToken")?;
    check_length(token, "taskToken", 2048)?;
    if uuid::Uuid::parse_str(token).is_err() {
        return Err(ApiError::new(
            "InvalidToken",
            "Invalid Token: 'Invalid token'",
        ));
    }
    Ok(())
}

/// A token the runtimes no longer know: its task ended, timed out, or never was.
fn task_error(error: windlass_runtime::Error) -> ApiError {
    match error {
        windlass_runtime::Error::InvalidToken | windlass_runtime::Error::NotRunning(_) => {
            ApiError::new("TaskDoesNotExist", "Task Does Not Exist")
        }
        other => ApiError::internal(other.to_string()),
    }
}

pub async fn send_success(
    server: &Regional<'_>,
    input: wire::SendTaskSuccessInput,
) -> ApiResult<wire::Empty> {
    check_task_token(&input.task_token)?;
    required(&input.output, "output")?;
    if input.output.len() > windlass_asl::MAX_PAYLOAD_BYTES {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'output' failed to satisfy constraint: Member must have length less than or equal to {}",
            windlass_asl::MAX_PAYLOAD_BYTES
        )));
    }
    let output: Json = serde_json::from_str(&input.output)
        .map_err(|e| ApiError::new("InvalidOutput", format!("Invalid Output: '{e}'")))?;
    match server
        .runtime
        .send_task_success(&input.task_token, output.clone())
        .await
    {
        Err(windlass_runtime::Error::InvalidToken) => {
            server
                .express
                .send_task_success(&input.task_token, output)
                .await
                .map_err(task_error)?;
        }
        other => other.map_err(task_error)?,
    }
    Ok(wire::Empty {})
}

pub async fn send_failure(
    server: &Regional<'_>,
    input: wire::SendTaskFailureInput,
) -> ApiResult<wire::Empty> {
    check_task_token(&input.task_token)?;
    let error = input.error.unwrap_or_default();
    let cause = input.cause.unwrap_or_default();
    check_length(&error, "error", 256)?;
    check_length(&cause, "cause", 32768)?;
    match server
        .runtime
        .send_task_failure(&input.task_token, error.clone(), cause.clone())
        .await
    {
        Err(windlass_runtime::Error::InvalidToken) => {
            server
                .express
                .send_task_failure(&input.task_token, error, cause)
                .await
                .map_err(task_error)?;
        }
        other => other.map_err(task_error)?,
    }
    Ok(wire::Empty {})
}

pub async fn send_heartbeat(
    server: &Regional<'_>,
    input: wire::TaskTokenInput,
) -> ApiResult<wire::Empty> {
    check_task_token(&input.task_token)?;
    match server.runtime.send_task_heartbeat(&input.task_token).await {
        Err(windlass_runtime::Error::InvalidToken) => {
            server
                .express
                .send_task_heartbeat(&input.task_token)
                .await
                .map_err(task_error)?;
        }
        other => other.map_err(task_error)?,
    }
    Ok(wire::Empty {})
}
