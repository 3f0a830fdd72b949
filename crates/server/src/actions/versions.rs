//! PublishStateMachineVersion, ListStateMachineVersions, DeleteStateMachineVersion.

use windlass_store::machines::{AliasRecord, MachineRecord, MachineStoreExt, VersionRecord};

use super::{check_length, machines, page_size, paginate, position, required};
use crate::arn::{self, Resource};
use crate::error::{ApiError, ApiResult};
use crate::pages::Query;
use crate::region::Regional;
use crate::wire::{self, timestamp};

/// The version a version ARN of the request's region names.
pub(crate) fn find(server: &Regional<'_>, version_arn: &str) -> ApiResult<VersionRecord> {
    if !matches!(arn::parse(version_arn), Some(Resource::Version { .. })) {
        return Err(ApiError::invalid_arn(version_arn));
    }
    if !server.owns(version_arn) {
        return Err(machines::does_not_exist(version_arn));
    }
    server
        .machines
        .get::<VersionRecord>(version_arn)?
        .ok_or_else(|| machines::does_not_exist(version_arn))
}

/// Publishes the machine's current revision, or returns the latest version
/// when it has that revision and the same description already. As AWS
/// does, a new description publishes a new version of an unchanged
/// revision (UpdateStateMachine with the same definition, `publish` and a
/// new `versionDescription` gives version 2).
pub(crate) fn publish_record(
    server: &Regional<'_>,
    mut machine: MachineRecord,
    description: Option<String>,
) -> ApiResult<VersionRecord> {
    let description = description.unwrap_or_default();
    check_length(&description, "description", 256)?;
    if machine.last_version > 0 {
        let latest_arn = format!("{}:{}", machine.arn, machine.last_version);
        if let Some(latest) = server.machines.get::<VersionRecord>(&latest_arn)? {
            if latest.revision_id == machine.revision_id && latest.description == description {
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
        encryption_configuration: machine.encryption_configuration.clone(),
    };
    server.machines.insert(&version)?;
    server.machines.replace(&machine)?;
    Ok(version)
}

pub fn publish(
    server: &Regional<'_>,
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
    server: &Regional<'_>,
    input: wire::ListVersionsInput,
) -> ApiResult<wire::ListVersionsOutput> {
    let machine = machines::find(server, &input.state_machine_arn)?;
    let size = page_size(input.max_results)?;
    let query = Query::new("ListStateMachineVersions", &server.arns.region, size)
        .with("stateMachineArn", Some(&machine.arn));
    let below = position(server, &query, input.next_token.as_deref())?
        .map(|p| p.parse::<u64>())
        .transpose()
        .map_err(|e| ApiError::internal(format!("a signed version token holds no number: {e}")))?;
    let mut all: Vec<VersionRecord> = server.machines.list(Some(&machine.arn), None, 0)?;
    // Newest first, as AWS lists them; the token holds the last version listed.
    all.sort_by_key(|v| std::cmp::Reverse(v.version));
    let page: Vec<VersionRecord> = all
        .into_iter()
        .filter(|v| below.is_none_or(|b| v.version < b))
        .take(size + 1)
        .collect();
    let (page, next_token) = paginate(server, &query, page, size, |v| v.version.to_string());
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

/// DeleteStateMachineVersion: refused while an alias routes executions to
/// the version, as AWS refuses it; a version that does not exist is
/// deleted already.
pub fn delete(server: &Regional<'_>, input: wire::VersionArnInput) -> ApiResult<wire::Empty> {
    let version_arn = input.state_machine_version_arn.as_str();
    required(version_arn, "stateMachineVersionArn")?;
    if !matches!(arn::parse(version_arn), Some(Resource::Version { .. })) {
        return Err(ApiError::invalid_arn(version_arn));
    }
    if !server.owns(version_arn) {
        return Ok(wire::Empty {});
    }
    let machine_arn = arn::unqualified(version_arn);
    let aliases: Vec<AliasRecord> = server.machines.list(Some(machine_arn), None, 0)?;
    let routing_here: Vec<&str> = aliases
        .iter()
        .filter(|a| a.routing.iter().any(|(arn, _)| arn == version_arn))
        .map(|a| a.arn.as_str())
        .collect();
    if !routing_here.is_empty() {
        return Err(ApiError::new(
            "ConflictException",
            format!(
                "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [{}]; update or delete those aliases first",
                routing_here.join(", ")
            ),
        ));
    }
    server.machines.delete(version_arn)?;
    Ok(wire::Empty {})
}
