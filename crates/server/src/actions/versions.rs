//! PublishStateMachineVersion, ListStateMachineVersions, DeleteStateMachineVersion.

use windlass_store::machines::{MachineRecord, MachineStoreExt, VersionRecord};

use super::{check_length, machines, page_size, required};
use crate::arn::{self, Resource};
use crate::error::{ApiError, ApiResult};
use crate::wire::{self, timestamp};
use crate::Server;

/// The version a version ARN names.
pub(crate) fn find(server: &Server, version_arn: &str) -> ApiResult<VersionRecord> {
    if !matches!(arn::parse(version_arn), Some(Resource::Version { .. })) {
        return Err(ApiError::invalid_arn(version_arn));
    }
    server
        .machines
        .get::<VersionRecord>(version_arn)?
        .ok_or_else(|| machines::does_not_exist(version_arn))
}

/// Publishes the machine's current revision, or returns the version that has it already.
pub(crate) fn publish_record(
    server: &Server,
    mut machine: MachineRecord,
    description: Option<String>,
) -> ApiResult<VersionRecord> {
    let description = description.unwrap_or_default();
    check_length(&description, "description", 256)?;
    if machine.last_version > 0 {
        let latest_arn = format!("{}:{}", machine.arn, machine.last_version);
        if let Some(latest) = server.machines.get::<VersionRecord>(&latest_arn)? {
            if latest.revision_id == machine.revision_id {
                return Ok(latest);
            }
        }
    }
    machine.last_version += 1;
    let version = VersionRecord {
        arn: format!("{}:{}", machine.arn, machine.last_version),
        machine_arn: machine.arn.clone(),
        version: machine.last_version,
        definition: machine.definition.clone(),
        role_arn: machine.role_arn.clone(),
        kind: machine.kind.clone(),
        description,
        creation_millis: server.now_millis(),
        revision_id: machine.revision_id.clone(),
        logging_configuration: machine.logging_configuration.clone(),
        tracing_configuration: machine.tracing_configuration.clone(),
    };
    server.machines.insert(&version)?;
    server.machines.replace(&machine)?;
    Ok(version)
}

pub fn publish(
    server: &Server,
    input: wire::PublishVersionInput,
) -> ApiResult<wire::PublishVersionOutput> {
    let machine = machines::find(server, &input.state_machine_arn)?;
    if let Some(revision) = &input.revision_id {
        if *revision != machine.revision_id {
            return Err(ApiError::new(
                "ConflictException",
                format!("Failed to publish the State Machine version for revision {revision}. The current State Machine revision is {}.", machine.revision_id),
            ));
        }
    }
    let version = publish_record(server, machine, input.description)?;
    Ok(wire::PublishVersionOutput {
        creation_date: timestamp(version.creation_millis),
        state_machine_version_arn: version.arn,
    })
}

pub fn list(
    server: &Server,
    input: wire::ListVersionsInput,
) -> ApiResult<wire::ListVersionsOutput> {
    let machine = machines::find(server, &input.state_machine_arn)?;
    let size = page_size(input.max_results)?;
    let mut all: Vec<VersionRecord> = server.machines.list(Some(&machine.arn), None, 0)?;
    // Newest first, as AWS lists them; the token is the last version listed.
    all.sort_by_key(|v| std::cmp::Reverse(v.version));
    let below: Option<u64> = match input.next_token.as_deref() {
        None | Some("") => None,
        Some(token) => Some(
            token
                .parse()
                .map_err(|_| ApiError::new("InvalidToken", format!("Invalid Token: '{token}'")))?,
        ),
    };
    let mut page: Vec<VersionRecord> = all
        .into_iter()
        .filter(|v| below.is_none_or(|b| v.version < b))
        .take(size + 1)
        .collect();
    let next_token = if page.len() > size {
        page.truncate(size);
        page.last().map(|v| v.version.to_string())
    } else {
        None
    };
    let state_machine_versions = page
        .into_iter()
        .map(|v| wire::VersionListItem {
            state_machine_version_arn: v.arn,
            creation_date: timestamp(v.creation_millis),
        })
        .collect();
    Ok(wire::ListVersionsOutput {
        state_machine_versions,
        next_token,
    })
}

pub fn delete(server: &Server, input: wire::VersionArnInput) -> ApiResult<wire::Empty> {
    required(&input.state_machine_version_arn, "stateMachineVersionArn")?;
    if !matches!(
        arn::parse(&input.state_machine_version_arn),
        Some(Resource::Version { .. })
    ) {
        return Err(ApiError::invalid_arn(&input.state_machine_version_arn));
    }
    server.machines.delete(&input.state_machine_version_arn)?;
    Ok(wire::Empty {})
}
