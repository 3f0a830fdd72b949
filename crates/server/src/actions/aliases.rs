//! Create/Describe/Update/Delete/ListStateMachineAlias, and which version an
//! alias sends a new execution to.

use windlass_store::machines::{AliasRecord, MachineStoreExt, VersionRecord};

use super::{check_length, machines, page_size, paginate, position, required, versions};
use crate::arn::{self, Resource};
use crate::error::{ApiError, ApiResult};
use crate::pages::Query;
use crate::region::Regional;
use crate::wire::{self, timestamp};

/// What a routing configuration must be before any version is looked up,
/// as AWS checks the request's members first: one or two entries, weights
/// from 0 to 100 that add up to 100, no version named twice.
fn check_routing_shape(entries: &[wire::RoutingEntry]) -> ApiResult<()> {
    let constraint = match entries.len() {
        0 => Some("Member must have length greater than or equal to 1"),
        1 | 2 => None,
        _ => Some("Member must have length less than or equal to 2"),
    };
    if let Some(constraint) = constraint {
        let items: Vec<String> = entries
            .iter()
            .map(|e| {
                format!(
                    "RoutingConfigurationListItem(stateMachineVersionArn={}, weight={})",
                    e.state_machine_version_arn, e.weight
                )
            })
            .collect();
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '[{}]' at 'routingConfiguration' failed to satisfy constraint: {constraint}",
            items.join(", ")
        )));
    }
    if let Some(entry) = entries.iter().find(|e| !(0..=100).contains(&e.weight)) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{}' at 'routingConfiguration.member.weight' failed to satisfy constraint: Member must have value between 0 and 100",
            entry.weight
        )));
    }
    let sum: i64 = entries.iter().map(|e| e.weight).sum();
    if sum != 100 {
        return Err(ApiError::validation(format!(
            "The sum of the weights in the routing configuration must be equal to 100; these add up to {sum}"
        )));
    }
    if let [first, second] = entries {
        if first.state_machine_version_arn == second.state_machine_version_arn {
            return Err(ApiError::validation(format!(
                "routingConfiguration names version '{}' twice; name two different versions, or one with weight 100",
                first.state_machine_version_arn
            )));
        }
    }
    Ok(())
}

/// Checks a routing configuration: its shape, then one or two existing
/// versions of `machine_arn`.
fn routing(
    server: &Regional<'_>,
    machine_arn: &str,
    entries: &[wire::RoutingEntry],
) -> ApiResult<Vec<(String, u32)>> {
    check_routing_shape(entries)?;
    let mut pairs = Vec::new();
    for entry in entries {
        let version = versions::find(server, &entry.state_machine_version_arn)?;
        if version.machine_arn != machine_arn {
            return Err(ApiError::validation(format!(
                "Version '{}' does not belong to the state machine '{machine_arn}': both versions of a routing configuration must be of the alias's state machine",
                version.arn
            )));
        }
        // The shape check keeps weights within 0 to 100.
        let weight = u32::try_from(entry.weight).unwrap_or_default();
        pairs.push((version.arn, weight));
    }
    Ok(pairs)
}

pub(crate) fn find(server: &Regional<'_>, alias_arn: &str) -> ApiResult<AliasRecord> {
    required(alias_arn, "stateMachineAliasArn")?;
    if !matches!(arn::parse(alias_arn), Some(Resource::Alias { .. })) {
        return Err(ApiError::invalid_arn(alias_arn));
    }
    let not_found = || {
        ApiError::new(
            "ResourceNotFound",
            format!("Resource not found: '{alias_arn}'"),
        )
    };
    if !server.owns(alias_arn) {
        return Err(not_found());
    }
    server
        .machines
        .get::<AliasRecord>(alias_arn)?
        .ok_or_else(not_found)
}

/// The version a new execution through the alias runs, drawn by weight.
pub(crate) fn pick_version(server: &Regional<'_>, alias_arn: &str) -> ApiResult<VersionRecord> {
    let alias = find(server, alias_arn)?;
    let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
    let mut draw = (high % 100) as u32;
    for (version_arn, weight) in &alias.routing {
        if draw < *weight {
            return versions::find(server, version_arn);
        }
        draw -= weight;
    }
    let last = alias
        .routing
        .last()
        .map(|(arn, _)| arn.clone())
        .unwrap_or_default();
    versions::find(server, &last)
}

pub fn create(
    server: &Regional<'_>,
    input: wire::CreateAliasInput,
) -> ApiResult<wire::CreateAliasOutput> {
    required(&input.name, "name")?;
    arn::check_name(&input.name)?;
    check_routing_shape(&input.routing_configuration)?;
    if input.name.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::new(
            "InvalidName",
            format!(
                "Invalid Name: '{}' (an alias name cannot be a number)",
                input.name
            ),
        ));
    }
    let description = input.description.unwrap_or_default();
    check_length(&description, "description", 256)?;
    let first = input
        .routing_configuration
        .first()
        .map(|e| e.state_machine_version_arn.clone())
        .unwrap_or_default();
    let machine = machines::find(server, arn::unqualified(&first))?;
    let routing = routing(server, &machine.arn, &input.routing_configuration)?;
    let now = server.now_millis();
    let record = AliasRecord {
        arn: format!("{}:{}", machine.arn, input.name),
        machine_arn: machine.arn,
        name: input.name,
        description,
        routing,
        creation_millis: now,
        update_millis: now,
    };
    match server.machines.insert(&record) {
        Ok(()) => {}
        Err(windlass_store::Error::AlreadyExists(_)) => {
            let existing = find(server, &record.arn)?;
            if existing.routing != record.routing || existing.description != record.description {
                return Err(ApiError::new(
                    "ConflictException",
                    format!("Alias '{}' exists with another configuration", record.arn),
                ));
            }
            return Ok(wire::CreateAliasOutput {
                state_machine_alias_arn: existing.arn,
                creation_date: timestamp(existing.creation_millis),
            });
        }
        Err(other) => return Err(other.into()),
    }
    Ok(wire::CreateAliasOutput {
        state_machine_alias_arn: record.arn,
        creation_date: timestamp(now),
    })
}

fn routing_wire(alias: &AliasRecord) -> Vec<wire::RoutingEntry> {
    alias
        .routing
        .iter()
        .map(|(arn, weight)| wire::RoutingEntry {
            state_machine_version_arn: arn.clone(),
            weight: i64::from(*weight),
        })
        .collect()
}

pub fn describe(
    server: &Regional<'_>,
    input: wire::AliasArnInput,
) -> ApiResult<wire::DescribeAliasOutput> {
    let alias = find(server, &input.state_machine_alias_arn)?;
    Ok(wire::DescribeAliasOutput {
        routing_configuration: routing_wire(&alias),
        state_machine_alias_arn: alias.arn,
        name: alias.name,
        description: alias.description,
        creation_date: timestamp(alias.creation_millis),
        update_date: timestamp(alias.update_millis),
    })
}

pub fn update(
    server: &Regional<'_>,
    input: wire::UpdateAliasInput,
) -> ApiResult<wire::UpdateAliasOutput> {
    if input.description.is_none() && input.routing_configuration.is_none() {
        return Err(ApiError::validation(
            "UpdateStateMachineAlias needs at least one of description or routingConfiguration: there is nothing to update",
        ));
    }
    if let Some(entries) = &input.routing_configuration {
        check_routing_shape(entries)?;
    }
    let mut alias = find(server, &input.state_machine_alias_arn)?;
    if let Some(description) = input.description {
        check_length(&description, "description", 256)?;
        alias.description = description;
    }
    if let Some(entries) = input.routing_configuration {
        alias.routing = routing(server, &alias.machine_arn, &entries)?;
    }
    alias.update_millis = server.now_millis();
    server.machines.replace(&alias)?;
    Ok(wire::UpdateAliasOutput {
        update_date: timestamp(alias.update_millis),
    })
}

pub fn delete(server: &Regional<'_>, input: wire::AliasArnInput) -> ApiResult<wire::Empty> {
    required(&input.state_machine_alias_arn, "stateMachineAliasArn")?;
    if !matches!(
        arn::parse(&input.state_machine_alias_arn),
        Some(Resource::Alias { .. })
    ) {
        return Err(ApiError::invalid_arn(&input.state_machine_alias_arn));
    }
    // AWS answers ResourceNotFound for an alias that does not exist.
    let alias = find(server, &input.state_machine_alias_arn)?;
    server.machines.delete(&alias.arn)?;
    Ok(wire::Empty {})
}

pub fn list(
    server: &Regional<'_>,
    input: wire::ListVersionsInput,
) -> ApiResult<wire::ListAliasesOutput> {
    let machine = machines::find(server, &input.state_machine_arn)?;
    let size = page_size(input.max_results)?;
    let query = Query::new("ListStateMachineAliases", &server.arns.region, size)
        .with("stateMachineArn", Some(&machine.arn));
    let after = position(server, &query, input.next_token.as_deref())?;
    let records: Vec<AliasRecord> =
        server
            .machines
            .list(Some(&machine.arn), after.as_deref(), size + 1)?;
    let (page, next_token) = paginate(server, &query, records, size, |a| a.arn.clone());
    let state_machine_aliases = page
        .into_iter()
        .map(|a| wire::AliasListItem {
            state_machine_alias_arn: a.arn,
            creation_date: timestamp(a.creation_millis),
        })
        .collect();
    Ok(wire::ListAliasesOutput {
        state_machine_aliases,
        next_token,
    })
}
