//! CreateStateMachine, DescribeStateMachine, ListStateMachines,
//! UpdateStateMachine, DeleteStateMachine, ValidateStateMachineDefinition.

use std::sync::Arc;

use windlass_asl::parse::{
    parse_text_with, Config as ParseConfig, Diagnostic, INVALID_JSON_DESCRIPTION,
};
use windlass_asl::Definition;
use windlass_store::machines::{AliasRecord, MachineRecord, MachineStoreExt, VersionRecord};

use super::configurations::{self as config, stored_encryption};
use super::{check_length, page_size, paginate, position, required, tags, versions};
use crate::arn::{self, Resource};
use crate::error::{ApiError, ApiResult};
use crate::pages::Query;
use crate::region::Regional;
use crate::wire::{self, timestamp};
use crate::MAX_DEFINITION_CHARS;

/// AWS refuses a version description for a request that publishes nothing.
pub(crate) fn check_version_description(publish: bool, description: Option<&str>) -> ApiResult<()> {
    if !publish && description.is_some() {
        return Err(ApiError::validation(
            "Version description can only be set when publish is true",
        ));
    }
    Ok(())
}

/// `STANDARD` (the default) or `EXPRESS`.
fn machine_type(kind: Option<&str>) -> ApiResult<&'static str> {
    match kind.unwrap_or("STANDARD") {
        "STANDARD" => Ok("STANDARD"),
        "EXPRESS" => Ok("EXPRESS"),
        other => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
        ))),
    }
}

/// Why `text` is not a JSON document, as AWS's diagnostic: the API takes
/// definitions in JSON only, as AWS does (windlass's own commands read
/// YAML too; a client that sends YAML here would write a machine that AWS
/// refuses).
pub(crate) fn json_diagnostic(text: &str) -> Option<Diagnostic> {
    let error = serde_json::from_str::<serde::de::IgnoredAny>(text).err()?;
    let full = error.to_string();
    // serde's text ends with its own " at line L column C".
    let reason = full
        .strip_suffix(&format!(
            " at line {} column {}",
            error.line(),
            error.column()
        ))
        .unwrap_or(&full);
    Some(Diagnostic {
        code: INVALID_JSON_DESCRIPTION,
        pointer: String::new(),
        message: format!(
            "Invalid JSON at line {}, column {}: {reason} (definitions are JSON; YAML is not accepted)",
            error.line(),
            error.column()
        ),
    })
}

/// AWS's InvalidDefinition error, listing every diagnostic.
pub(crate) fn invalid_definition(diagnostics: &[Diagnostic]) -> ApiError {
    let problems: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    ApiError::new(
        "InvalidDefinition",
        format!(
            "Invalid State Machine Definition: '{}'",
            problems.join(", ")
        ),
    )
}

/// Parses a definition, or fails with AWS's InvalidDefinition message.
pub(crate) fn parse_definition(text: &str, express: bool) -> ApiResult<Definition> {
    required(text, "definition")?;
    check_length(text, "definition", MAX_DEFINITION_CHARS)?;
    parse_text_with(text, &ParseConfig { express })
        .valid()
        .map_err(|diagnostics| invalid_definition(&diagnostics))
}

/// A definition a request brings (CreateStateMachine, UpdateStateMachine):
/// parsed as [`parse_definition`] does, and refused, as AWS refuses it,
/// when an `aws-sdk:` Task state names a service or action the service's
/// model does not have. Stored definitions passed this check already.
fn check_new_definition(text: &str, express: bool) -> ApiResult<()> {
    required(text, "definition")?;
    check_length(text, "definition", MAX_DEFINITION_CHARS)?;
    if let Some(diagnostic) = json_diagnostic(text) {
        return Err(invalid_definition(&[diagnostic]));
    }
    parse_definition(text, express)?;
    let unknown = sdk_diagnostics(text);
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(invalid_definition(&unknown))
    }
}

/// A SCHEMA_VALIDATION_FAILED diagnostic for each `aws-sdk:` Task resource
/// that names no known service or action: AWS's sentence, then which
/// services or actions there are (windlass-asl knows no AWS models).
fn sdk_diagnostics(text: &str) -> Vec<Diagnostic> {
    let Ok(document) = windlass_asl::parse::document_from_text(text) else {
        return Vec::new();
    };
    windlass_aws::check::unknown_resources(&document)
        .into_iter()
        .map(|unknown| {
            Diagnostic::schema(
                unknown.pointer,
                format!(
                    "The resource provided {} is not recognized. The value is not a valid \
                     resource ARN, or the resource is not available in this region. ({})",
                    unknown.resource, unknown.message
                ),
            )
        })
        .collect()
}

/// A role ARN must name an IAM role of an account (twelve digits): AWS
/// refuses any other, since Step Functions could not assume it.
fn check_role(role_arn: &str) -> ApiResult<()> {
    required(role_arn, "roleArn")?;
    check_length(role_arn, "roleArn", 256)?;
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let is_role = match parts[..] {
        ["arn", partition, "iam", "", account, resource] => {
            !partition.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource
                    .strip_prefix("role/")
                    .is_some_and(|n| !n.is_empty())
        }
        _ => false,
    };
    if !is_role {
        return Err(ApiError::invalid_arn(role_arn));
    }
    Ok(())
}

/// The machine an unqualified state machine ARN of the request's region names.
pub(crate) fn find(server: &Regional<'_>, machine_arn: &str) -> ApiResult<MachineRecord> {
    required(machine_arn, "stateMachineArn")?;
    match arn::parse(machine_arn) {
        Some(Resource::StateMachine { .. }) => {}
        _ => return Err(ApiError::invalid_arn(machine_arn)),
    }
    if !server.owns(machine_arn) {
        return Err(does_not_exist(machine_arn));
    }
    server
        .machines
        .get::<MachineRecord>(machine_arn)?
        .ok_or_else(|| does_not_exist(machine_arn))
}

pub(crate) fn does_not_exist(machine_arn: &str) -> ApiError {
    ApiError::new(
        "StateMachineDoesNotExist",
        format!("State Machine Does Not Exist: '{machine_arn}'"),
    )
}

/// The parsed definition of a machine's current revision.
pub(crate) fn definition_of(
    server: &Regional<'_>,
    machine: &MachineRecord,
) -> ApiResult<Arc<Definition>> {
    let key = format!("{}#{}", machine.arn, machine.revision_id);
    server.cached_definition(&key, || {
        parse_definition(&machine.definition, machine.kind == "EXPRESS")
    })
}

pub fn create(
    server: &Regional<'_>,
    input: wire::CreateStateMachineInput,
) -> ApiResult<wire::CreateStateMachineOutput> {
    required(&input.name, "name")?;
    arn::check_name(&input.name)?;
    check_version_description(input.publish, input.version_description.as_deref())?;
    check_role(&input.role_arn)?;
    let kind = machine_type(input.kind.as_deref())?;
    check_new_definition(&input.definition, kind == "EXPRESS")?;
    let tag_pairs = tags::pairs(&input.tags)?;
    let logging = config::logging(input.logging_configuration.unwrap_or_default())?;
    let tracing = config::tracing(input.tracing_configuration.unwrap_or_default())?;
    let encryption = input
        .encryption_configuration
        .map(config::encryption)
        .transpose()?;
    let now = server.now_millis();
    let record = MachineRecord {
        arn: server.arns.state_machine(&input.name),
        name: input.name.clone(),
        definition: input.definition,
        role_arn: input.role_arn,
        kind: kind.to_string(),
        description: String::new(),
        creation_millis: now,
        update_millis: now,
        revision_id: uuid::Uuid::new_v4().to_string(),
        logging_configuration: logging,
        tracing_configuration: tracing,
        encryption_configuration: encryption,
        last_version: 0,
    };
    match server.machines.insert(&record) {
        Ok(()) => {}
        // AWS's CreateStateMachine is idempotent for an identical machine.
        Err(windlass_store::Error::AlreadyExists(_)) => {
            let existing = find(server, &record.arn)?;
            let same = existing.definition == record.definition
                && existing.role_arn == record.role_arn
                && existing.kind == record.kind
                && existing.logging_configuration == record.logging_configuration
                && existing.tracing_configuration == record.tracing_configuration
                && stored_encryption(existing.encryption_configuration.as_ref())
                    == stored_encryption(record.encryption_configuration.as_ref());
            if !same || input.publish {
                return Err(ApiError::new(
                    "StateMachineAlreadyExists",
                    format!("State Machine Already Exists: '{}'", record.arn),
                ));
            }
            return Ok(wire::CreateStateMachineOutput {
                state_machine_arn: existing.arn,
                creation_date: timestamp(existing.creation_millis),
                state_machine_version_arn: None,
            });
        }
        Err(other) => return Err(other.into()),
    }
    server.machines.tag(&record.arn, &tag_pairs)?;
    let version = if input.publish {
        Some(versions::publish_record(server, record.clone(), input.version_description)?.arn)
    } else {
        None
    };
    Ok(wire::CreateStateMachineOutput {
        state_machine_arn: record.arn,
        creation_date: timestamp(now),
        state_machine_version_arn: version,
    })
}

pub fn describe(
    server: &Regional<'_>,
    input: wire::StateMachineArnInput,
) -> ApiResult<wire::DescribeStateMachineOutput> {
    required(&input.state_machine_arn, "stateMachineArn")?;
    if let Some(Resource::Version { .. }) = arn::parse(&input.state_machine_arn) {
        let version: VersionRecord = versions::find(server, &input.state_machine_arn)?;
        let machine = find(server, &version.machine_arn)?;
        return Ok(wire::DescribeStateMachineOutput {
            state_machine_arn: version.arn,
            name: machine.name,
            status: "ACTIVE",
            definition: version.definition,
            role_arn: version.role_arn,
            kind: version.kind,
            creation_date: timestamp(version.creation_millis),
            logging_configuration: version.logging_configuration,
            tracing_configuration: version.tracing_configuration,
            encryption_configuration: stored_encryption(version.encryption_configuration.as_ref()),
            revision_id: version.revision_id,
            description: version.description,
        });
    }
    let machine = find(server, &input.state_machine_arn)?;
    Ok(wire::DescribeStateMachineOutput {
        state_machine_arn: machine.arn,
        name: machine.name,
        status: "ACTIVE",
        definition: machine.definition,
        role_arn: machine.role_arn,
        kind: machine.kind,
        creation_date: timestamp(machine.creation_millis),
        logging_configuration: machine.logging_configuration,
        tracing_configuration: machine.tracing_configuration,
        encryption_configuration: stored_encryption(machine.encryption_configuration.as_ref()),
        revision_id: machine.revision_id,
        description: machine.description,
    })
}

pub fn list(
    server: &Regional<'_>,
    input: wire::ListInput,
) -> ApiResult<wire::ListStateMachinesOutput> {
    let size = page_size(input.max_results)?;
    let query = Query::new("ListStateMachines", &server.arns.region, size);
    let after = position(server, &query, input.next_token.as_deref())?;
    let records: Vec<MachineRecord> = super::list_in_region(server, after, size)?;
    let (page, next_token) = paginate(server, &query, records, size, |m| m.arn.clone());
    let state_machines = page
        .into_iter()
        .map(|m| wire::StateMachineListItem {
            state_machine_arn: m.arn,
            name: m.name,
            kind: m.kind,
            creation_date: timestamp(m.creation_millis),
        })
        .collect();
    Ok(wire::ListStateMachinesOutput {
        state_machines,
        next_token,
    })
}

pub fn update(
    server: &Regional<'_>,
    input: wire::UpdateStateMachineInput,
) -> ApiResult<wire::UpdateStateMachineOutput> {
    check_version_description(input.publish, input.version_description.as_deref())?;
    let mut machine = find(server, &input.state_machine_arn)?;
    if input.definition.is_none()
        && input.role_arn.is_none()
        && input.logging_configuration.is_none()
        && input.tracing_configuration.is_none()
        && input.encryption_configuration.is_none()
    {
        return Err(ApiError::new(
            "MissingRequiredParameter",
            "Either the definition, the roleArn, the loggingConfiguration, the tracingConfiguration or the encryptionConfiguration must be specified",
        ));
    }
    let mut changed = false;
    if let Some(definition) = input.definition {
        check_new_definition(&definition, machine.kind == "EXPRESS")?;
        changed |= definition != machine.definition;
        machine.definition = definition;
    }
    if let Some(role_arn) = input.role_arn {
        check_role(&role_arn)?;
        changed |= role_arn != machine.role_arn;
        machine.role_arn = role_arn;
    }
    if let Some(logging) = input.logging_configuration {
        let logging = config::logging(logging)?;
        changed |= logging != machine.logging_configuration;
        machine.logging_configuration = logging;
    }
    if let Some(tracing) = input.tracing_configuration {
        let tracing = config::tracing(tracing)?;
        changed |= tracing != machine.tracing_configuration;
        machine.tracing_configuration = tracing;
    }
    if let Some(encryption) = input.encryption_configuration {
        let encryption = Some(config::encryption(encryption)?);
        changed |= encryption != machine.encryption_configuration;
        machine.encryption_configuration = encryption;
    }
    let now = server.now_millis();
    if changed {
        machine.revision_id = uuid::Uuid::new_v4().to_string();
        machine.update_millis = now;
        server.machines.replace(&machine)?;
    }
    let version = if input.publish {
        Some(versions::publish_record(server, machine.clone(), input.version_description)?.arn)
    } else {
        None
    };
    Ok(wire::UpdateStateMachineOutput {
        update_date: timestamp(machine.update_millis),
        revision_id: machine.revision_id,
        state_machine_version_arn: version,
    })
}

pub fn delete(server: &Regional<'_>, input: wire::StateMachineArnInput) -> ApiResult<wire::Empty> {
    required(&input.state_machine_arn, "stateMachineArn")?;
    if !matches!(
        arn::parse(&input.state_machine_arn),
        Some(Resource::StateMachine { .. })
    ) {
        return Err(ApiError::invalid_arn(&input.state_machine_arn));
    }
    if !server.owns(&input.state_machine_arn) {
        // Nothing of this region's: deleting it is done already.
        return Ok(wire::Empty {});
    }
    // Running executions carry on with the definition they started with.
    for version in server
        .machines
        .list::<VersionRecord>(Some(&input.state_machine_arn), None, 0)?
    {
        server.machines.delete(&version.arn)?;
    }
    for alias in server
        .machines
        .list::<AliasRecord>(Some(&input.state_machine_arn), None, 0)?
    {
        server.machines.delete(&alias.arn)?;
    }
    server.machines.delete(&input.state_machine_arn)?;
    Ok(wire::Empty {})
}

pub fn validate(input: wire::ValidateInput) -> ApiResult<wire::ValidateOutput> {
    required(&input.definition, "definition")?;
    let kind = machine_type(input.kind.as_deref())?;
    if let Some(severity) = input.severity.as_deref() {
        if severity != "ERROR" && severity != "WARNING" {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{severity}' at 'severity' failed to satisfy constraint: Member must satisfy enum value set: [ERROR, WARNING]"
            )));
        }
    }
    let limit = match input.max_results.unwrap_or(0) {
        0 => 100,
        n @ 1..=100 => n as usize,
        n => {
            return Err(ApiError::validation(format!(
                "Value '{n}' at 'maxResults' must be between 0 and 100"
            )))
        }
    };
    let diagnostics = match json_diagnostic(&input.definition) {
        Some(diagnostic) => vec![diagnostic],
        None => {
            let parsed = parse_text_with(
                &input.definition,
                &ParseConfig {
                    express: kind == "EXPRESS",
                },
            );
            let mut diagnostics = parsed.diagnostics;
            if parsed.definition.is_some() {
                diagnostics.extend(sdk_diagnostics(&input.definition));
            }
            diagnostics
        }
    };
    let truncated = diagnostics.len() > limit;
    let result = if diagnostics.is_empty() { "OK" } else { "FAIL" };
    let diagnostics =
        diagnostics
            .into_iter()
            .take(limit)
            .map(|d: Diagnostic| wire::ValidateDiagnostic {
                severity: "ERROR",
                code: d.code.to_string(),
                message: d.message,
                location: (!d.pointer.is_empty()).then_some(d.pointer),
            });
    Ok(wire::ValidateOutput {
        result,
        diagnostics: diagnostics.collect(),
        truncated,
    })
}
