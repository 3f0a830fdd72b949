//! StartExecution, StartSyncExecution, DescribeExecution,
//! DescribeStateMachineForExecution, ListExecutions, StopExecution.

use std::sync::Arc;

use serde_json::{json, Value as Json};
use windlass_asl::Definition;
use windlass_engine::{Execution, ExecutionMeta, Outcome, StartOptions, StartedVia, Status};
use windlass_runtime::{Runtime, StartRequest, Started};
use windlass_store::machines::MachineRecord;
use windlass_store::{ExecutionFilter, ExecutionRecord, ListCursor};

use super::{aliases, check_length, machines, page_size, paginate, position, required, versions};
use crate::arn::{self, Resource};
use crate::error::{ApiError, ApiResult};
use crate::pages::Query;
use crate::region::Regional;
use crate::wire::{self, timestamp};

/// What an execution will run: the machine and the definition of the
/// revision or version named, and the alias or version named.
struct Target {
    machine: MachineRecord,
    definition_text: String,
    definition: Arc<Definition>,
    role_arn: String,
    via: StartedVia,
}

fn resolve(server: &Regional<'_>, machine_arn: &str) -> ApiResult<Target> {
    required(machine_arn, "stateMachineArn")?;
    match arn::parse(machine_arn) {
        Some(Resource::StateMachine { .. }) => {
            let machine = machines::find(server, machine_arn)?;
            let definition = machines::definition_of(server, &machine)?;
            Ok(Target {
                definition_text: machine.definition.clone(),
                role_arn: machine.role_arn.clone(),
                machine,
                definition,
                via: StartedVia::default(),
            })
        }
        Some(resource @ (Resource::Version { .. } | Resource::Alias { .. })) => {
            let (version, alias_arn) = match resource {
                Resource::Alias { .. } => (
                    aliases::pick_version(server, machine_arn)?,
                    Some(machine_arn.to_string()),
                ),
                _ => (versions::find(server, machine_arn)?, None),
            };
            let machine = machines::find(server, &version.machine_arn)?;
            let express = version.kind == "EXPRESS";
            let definition = server.cached_definition(&version.arn, || {
                machines::parse_definition(&version.definition, express)
            })?;
            Ok(Target {
                machine,
                definition_text: version.definition,
                definition,
                role_arn: version.role_arn,
                via: StartedVia {
                    alias_arn,
                    version_arn: Some(version.arn),
                },
            })
        }
        _ => Err(ApiError::invalid_arn(machine_arn)),
    }
}

/// The execution input: JSON text of at most 256 KiB (`{}` when absent).
fn parse_input(input: Option<&str>) -> ApiResult<Json> {
    let text = input.unwrap_or("{}");
    if text.len() > windlass_asl::MAX_PAYLOAD_BYTES {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to {}",
            windlass_asl::MAX_PAYLOAD_BYTES
        )));
    }
    serde_json::from_str(text).map_err(|e| {
        ApiError::new(
            "InvalidExecutionInput",
            format!("Invalid State Machine Execution Input: '{e}'"),
        )
    })
}

fn seed() -> u64 {
    let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
    high ^ low
}

struct Prepared {
    arn: String,
    request: StartRequest,
    options: StartOptions,
    express: bool,
}

impl Prepared {
    /// The input as the caller sent it (AWS gives it back unchanged).
    fn input_text(&self) -> String {
        self.options
            .input_text
            .clone()
            .unwrap_or_else(|| self.request.meta.input.to_string())
    }
}

fn prepare(server: &Regional<'_>, input: &wire::StartExecutionInput) -> ApiResult<Prepared> {
    let target = resolve(server, &input.state_machine_arn)?;
    let name = match &input.name {
        Some(name) => {
            arn::check_name(name)?;
            name.clone()
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let execution_input = parse_input(input.input.as_deref())?;
    let express = target.machine.kind == "EXPRESS";
    let arn = if express {
        server.arns.express_execution(
            &target.machine.name,
            &name,
            &uuid::Uuid::new_v4().to_string(),
        )
    } else {
        server.arns.execution(&target.machine.name, &name)
    };
    let meta = ExecutionMeta {
        execution_arn: arn.clone(),
        name,
        state_machine_arn: target.machine.arn.clone(),
        state_machine_name: target.machine.name.clone(),
        role_arn: target.role_arn,
        input: execution_input,
        start_millis: server.now_millis(),
        seed: seed(),
        express,
    };
    let request = StartRequest {
        definition_text: target.definition_text,
        definition: target.definition,
        meta,
    };
    let options = StartOptions {
        // Absent input is `{}`, which needs no text of its own.
        input_text: input.input.clone(),
        via: target.via,
    };
    Ok(Prepared {
        arn,
        request,
        options,
        express,
    })
}

fn runtime_error(error: windlass_runtime::Error) -> ApiError {
    match error {
        windlass_runtime::Error::NoSuchExecution(arn) => does_not_exist(&arn),
        other => ApiError::internal(other.to_string()),
    }
}

pub async fn start(
    server: &Regional<'_>,
    input: wire::StartExecutionInput,
) -> ApiResult<wire::StartExecutionOutput> {
    let prepared = prepare(server, &input)?;
    let start_millis = prepared.request.meta.start_millis;
    let wanted_input = prepared.request.meta.input.clone();
    let machine_arn = prepared.request.meta.state_machine_arn.clone();
    let runtime = if prepared.express {
        &server.express
    } else {
        &server.runtime
    };
    match runtime
        .start_from(prepared.request, prepared.options)
        .await
        .map_err(runtime_error)?
    {
        Started::New => Ok(wire::StartExecutionOutput {
            execution_arn: prepared.arn,
            start_date: timestamp(start_millis),
        }),
        // AWS: the same name and input as a running execution returns it; anything else is a conflict.
        Started::Existing(record) => {
            let same_input = serde_json::from_str::<Json>(&record.input).ok() == Some(wanted_input);
            if record.status == "RUNNING" && same_input && record.state_machine_arn == machine_arn {
                Ok(wire::StartExecutionOutput {
                    execution_arn: record.arn,
                    start_date: timestamp(record.start_millis),
                })
            } else {
                Err(ApiError::new(
                    "ExecutionAlreadyExists",
                    format!("Execution Already Exists: '{}'", record.arn),
                ))
            }
        }
    }
}

pub async fn start_sync(
    server: &Regional<'_>,
    input: wire::StartExecutionInput,
) -> ApiResult<wire::StartSyncExecutionOutput> {
    let prepared = prepare(server, &input)?;
    if !prepared.express {
        return Err(ApiError::new(
            "StateMachineTypeNotSupported",
            "This operation is not supported by this type of state machine",
        ));
    }
    let meta = prepared.request.meta.clone();
    let input_text = prepared.input_text();
    server
        .express
        .start_from(prepared.request, prepared.options)
        .await
        .map_err(runtime_error)?;
    let finished = server
        .express
        .wait(&prepared.arn)
        .await
        .map_err(runtime_error)?;
    let (output, error, cause) = outcome_fields(finished.status, finished.outcome.as_ref());
    Ok(wire::StartSyncExecutionOutput {
        execution_arn: prepared.arn,
        state_machine_arn: meta.state_machine_arn,
        name: meta.name,
        start_date: timestamp(meta.start_millis),
        stop_date: timestamp(server.now_millis()),
        status: finished.status.as_str(),
        error,
        cause,
        input: input_text,
        input_details: json!({ "included": true }),
        output_details: output.as_ref().map(|_| json!({ "included": true })),
        output,
        billing_details: json!({ "billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 100 }),
    })
}

/// The output, error and cause an ended execution reports. AWS reports no
/// error or cause for an execution its machine's `TimeoutSeconds` ended,
/// and leaves out an error or cause that was never given (StopExecution
/// without them, a Fail state without Cause).
fn outcome_fields(
    status: Status,
    outcome: Option<&Outcome>,
) -> (Option<String>, Option<String>, Option<String>) {
    let given = |text: &String| (!text.is_empty()).then(|| text.clone());
    match outcome {
        _ if status == Status::TimedOut => (None, None, None),
        Some(Outcome::Output(value)) => (Some(value.to_string()), None, None),
        Some(Outcome::Error { error, cause }) => (None, given(error), given(cause)),
        None => (None, None, None),
    }
}

pub(crate) fn does_not_exist(execution_arn: &str) -> ApiError {
    ApiError::new(
        "ExecutionDoesNotExist",
        format!("Execution Does Not Exist: '{execution_arn}'"),
    )
}

/// The stored execution an execution ARN names, and the runtime that runs it.
pub(crate) fn find<'a>(
    server: &'a Regional<'_>,
    execution_arn: &str,
) -> ApiResult<(ExecutionRecord, &'a Runtime)> {
    required(execution_arn, "executionArn")?;
    let runtime = match arn::parse(execution_arn) {
        Some(Resource::Execution { .. }) => &server.runtime,
        Some(Resource::Express { .. }) => &server.express,
        _ => return Err(ApiError::invalid_arn(execution_arn)),
    };
    if !server.owns(execution_arn) {
        return Err(does_not_exist(execution_arn));
    }
    let record = runtime
        .store()
        .execution(execution_arn)?
        .ok_or_else(|| does_not_exist(execution_arn))?;
    Ok((record, runtime))
}

fn stored_execution(record: &ExecutionRecord) -> ApiResult<Execution> {
    serde_json::from_str(&record.snapshot).map_err(|e| {
        ApiError::internal(format!(
            "the stored state of {} cannot be read: {e}",
            record.arn
        ))
    })
}

pub fn describe(
    server: &Regional<'_>,
    input: wire::ExecutionArnInput,
) -> ApiResult<wire::DescribeExecutionOutput> {
    let (record, _) = find(server, &input.execution_arn)?;
    let execution = stored_execution(&record)?;
    // The snapshot of a running execution may be older than the record's
    // status; a running execution has no outcome.
    let outcome = match record.status.as_str() {
        "RUNNING" => None,
        _ => execution.outcome.as_ref(),
    };
    let (output, error, cause) = outcome_fields(execution.status, outcome);
    let refusal = match record.status.as_str() {
        "RUNNING" => Some(windlass_engine::RedriveRefusal::NotEnded("RUNNING").to_string()),
        _ => execution.redrivable().err().map(|r| r.to_string()),
    };
    Ok(wire::DescribeExecutionOutput {
        execution_arn: record.arn,
        state_machine_arn: record.state_machine_arn,
        name: record.name,
        status: record.status,
        start_date: timestamp(record.start_millis),
        stop_date: record.stop_millis.map(timestamp),
        input: record.input,
        input_details: json!({ "included": true }),
        output_details: output.as_ref().map(|_| json!({ "included": true })),
        output,
        error,
        cause,
        state_machine_alias_arn: execution.via.alias_arn.clone(),
        state_machine_version_arn: execution.via.version_arn.clone(),
        redrive_count: execution.redrive_count(),
        redrive_date: execution.redrive_millis().map(timestamp),
        redrive_status: if refusal.is_some() {
            "NOT_REDRIVABLE"
        } else {
            "REDRIVABLE"
        },
        redrive_status_reason: refusal,
    })
}

/// RedriveExecution. A client token (SDKs make one for every request)
/// makes retries safe: a token of one of the last ten redrives gets that
/// redrive's date again.
pub async fn redrive(
    server: &Regional<'_>,
    input: wire::RedriveExecutionInput,
) -> ApiResult<wire::RedriveExecutionOutput> {
    if let Some(token) = &input.client_token {
        check_length(token, "clientToken", 64)?;
        if token.is_empty() {
            return Err(ApiError::validation(
                "1 validation error detected: Value at 'clientToken' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
    }
    let (record, runtime) = find(server, &input.execution_arn)?;
    if arn::parse(&record.arn).is_some_and(|r| matches!(r, Resource::Express { .. })) {
        return Err(not_redrivable(
            windlass_engine::RedriveRefusal::Express.to_string(),
        ));
    }
    match runtime
        .redrive(&record.arn, input.client_token.as_deref())
        .await
    {
        Ok(millis) => Ok(wire::RedriveExecutionOutput {
            redrive_date: timestamp(millis),
        }),
        Err(windlass_runtime::Error::NotRedrivable(reason)) => Err(not_redrivable(reason)),
        Err(other) => Err(runtime_error(other)),
    }
}

fn not_redrivable(reason: String) -> ApiError {
    ApiError::new("ExecutionNotRedrivable", reason)
}

pub fn describe_machine(
    server: &Regional<'_>,
    input: wire::ExecutionArnInput,
) -> ApiResult<wire::DescribeStateMachineForExecutionOutput> {
    let (record, _) = find(server, &input.execution_arn)?;
    let machine = machines::find(server, &record.state_machine_arn).ok();
    let (role_arn, logging, tracing) = match &machine {
        Some(m) => (
            m.role_arn.clone(),
            m.logging_configuration.clone(),
            m.tracing_configuration.clone(),
        ),
        None => (
            String::new(),
            super::configurations::default_logging(),
            super::configurations::default_tracing(),
        ),
    };
    let name = arn::parse(&record.state_machine_arn)
        .and_then(|r| match r {
            Resource::StateMachine { name } => Some(name.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    Ok(wire::DescribeStateMachineForExecutionOutput {
        state_machine_arn: record.state_machine_arn,
        name,
        // The definition the execution runs, pinned when it started.
        definition: record.definition,
        role_arn,
        update_date: timestamp(machine.map_or(record.start_millis, |m| m.update_millis)),
        logging_configuration: logging,
        tracing_configuration: tracing,
    })
}

const STATUSES: [&str; 6] = [
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
    "PENDING_REDRIVE",
];

/// Which executions ListExecutions was asked for: those of a state machine,
/// or only those started through one of its versions or aliases.
struct Listed {
    machine: MachineRecord,
    /// The alias or version ARN given instead of the machine's.
    through: Option<StartedVia>,
}

fn listed(server: &Regional<'_>, given: &str) -> ApiResult<Listed> {
    required(given, "stateMachineArn")?;
    let through = match arn::parse(given) {
        Some(Resource::Alias { .. }) => Some(StartedVia {
            alias_arn: Some(aliases::find(server, given)?.arn),
            version_arn: None,
        }),
        Some(Resource::Version { .. }) => Some(StartedVia {
            alias_arn: None,
            version_arn: Some(versions::find(server, given)?.arn),
        }),
        _ => None,
    };
    let machine = machines::find(server, arn::unqualified(given))?;
    Ok(Listed { machine, through })
}

impl Listed {
    /// Whether an execution started through `via` is one of those asked for.
    /// AWS associates an execution started through an alias with the alias
    /// and with the version the alias chose, so a version's executions
    /// include those.
    fn includes(&self, via: &StartedVia) -> bool {
        match &self.through {
            None => true,
            Some(StartedVia {
                alias_arn: Some(alias),
                ..
            }) => via.alias_arn.as_deref() == Some(alias),
            Some(StartedVia { version_arn, .. }) => via.version_arn == *version_arn,
        }
    }
}

pub fn list(
    server: &Regional<'_>,
    input: wire::ListExecutionsInput,
) -> ApiResult<wire::ListExecutionsOutput> {
    if input.map_run_arn.is_some() {
        return Err(ApiError::new(
            "ResourceNotFound",
            "Map runs are not kept by this server",
        ));
    }
    let given = input.state_machine_arn.as_deref().unwrap_or_default();
    let listed = listed(server, given)?;
    if listed.machine.kind == "EXPRESS" {
        return Err(ApiError::new(
            "StateMachineTypeNotSupported",
            "This operation is not supported by this type of state machine",
        ));
    }
    if let Some(status) = input.status_filter.as_deref() {
        if !STATUSES.contains(&status) {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{status}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                STATUSES.join(", ")
            )));
        }
    }
    let redriven_only = match input.redrive_filter.as_deref() {
        None => None,
        Some("REDRIVEN") => Some(true),
        Some("NOT_REDRIVEN") => Some(false),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'redriveFilter' failed to satisfy constraint: Member must satisfy enum value set: [REDRIVEN, NOT_REDRIVEN]"
            )))
        }
    };
    let size = page_size(input.max_results)?;
    let query = Query::new("ListExecutions", &server.arns.region, size)
        .with("stateMachineArn", Some(given))
        .with("statusFilter", input.status_filter.as_deref())
        .with("redriveFilter", input.redrive_filter.as_deref());
    let after = position(server, &query, input.next_token.as_deref())?
        .map(|p| list_cursor(&p))
        .transpose()?;
    let mut filter = ExecutionFilter {
        state_machine_arn: Some(listed.machine.arn.clone()),
        status: input.status_filter,
        after,
        limit: size + 1,
    };
    // With a redrive filter, or an alias or version given, the store's rows
    // are sifted, so more batches may be needed to fill a page.
    let mut found = Vec::new();
    loop {
        let batch = server.runtime.store().list(&filter)?;
        let exhausted = batch.len() < filter.limit;
        filter.after = batch.last().map(ListCursor::of);
        found.extend(batch.into_iter().filter_map(|record| {
            let summary = windlass_engine::summary(&record.snapshot);
            let redrive_ok =
                redriven_only.is_none_or(|wanted| (summary.redrive_count > 0) == wanted);
            (redrive_ok && listed.includes(&summary.via)).then_some((record, summary))
        }));
        if exhausted || found.len() > size {
            break;
        }
    }
    // Newest first, as AWS lists; the token holds the last one given.
    let (page, next_token) = paginate(server, &query, found, size, |(r, _)| {
        format!("{}:{}", r.start_millis, r.arn)
    });
    let executions = page
        .into_iter()
        .map(|(r, summary)| wire::ExecutionListItem {
            execution_arn: r.arn,
            state_machine_arn: r.state_machine_arn,
            name: r.name,
            status: r.status,
            start_date: timestamp(r.start_millis),
            stop_date: r.stop_millis.map(timestamp),
            state_machine_alias_arn: summary.via.alias_arn,
            state_machine_version_arn: summary.via.version_arn,
            redrive_count: summary.redrive_count,
            redrive_date: summary.redrive_millis.map(timestamp),
        })
        .collect();
    Ok(wire::ListExecutionsOutput {
        executions,
        next_token,
    })
}

/// The cursor a ListExecutions token holds (`<start millis>:<ARN>`); the
/// token is signed, so a cursor that does not read is the server's fault.
fn list_cursor(position: &str) -> ApiResult<ListCursor> {
    position
        .split_once(':')
        .and_then(|(millis, arn)| {
            Some(ListCursor {
                start_millis: millis.parse().ok()?,
                arn: arn.to_owned(),
            })
        })
        .ok_or_else(|| {
            ApiError::internal(format!(
                "a signed ListExecutions token holds no cursor: '{position}'"
            ))
        })
}

pub async fn stop(
    server: &Regional<'_>,
    input: wire::StopExecutionInput,
) -> ApiResult<wire::StopExecutionOutput> {
    let (record, runtime) = find(server, &input.execution_arn)?;
    check_length(input.error.as_deref().unwrap_or_default(), "error", 256)?;
    check_length(input.cause.as_deref().unwrap_or_default(), "cause", 32768)?;
    if record.status == "RUNNING" {
        match runtime.stop(&record.arn, input.error, input.cause).await {
            // It ended on its own meanwhile: report when it did.
            Ok(()) | Err(windlass_runtime::Error::NotRunning(_)) => {}
            Err(other) => return Err(runtime_error(other)),
        }
    }
    let (record, _) = find(server, &input.execution_arn)?;
    Ok(wire::StopExecutionOutput {
        stop_date: timestamp(record.stop_millis.unwrap_or_else(|| server.now_millis())),
    })
}
