//! The logging, tracing and encryption configurations of state machines
//! and activities: checked by value, and completed with AWS's defaults, as
//! the records keep them and the Describe actions give them back.

use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::error::{ApiError, ApiResult};
use crate::wire::{EncryptionConfiguration, LoggingConfiguration, TracingConfiguration};

const LOG_LEVELS: [&str; 4] = ["ALL", "ERROR", "FATAL", "OFF"];
const ENCRYPTION_TYPES: [&str; 2] = ["AWS_OWNED_KEY", "CUSTOMER_MANAGED_KMS_KEY"];
/// AWS's bounds on `kmsDataKeyReusePeriodSeconds`.
const REUSE_SECONDS: std::ops::RangeInclusive<i64> = 60..=900;

pub fn default_logging() -> Json {
    json!({ "level": "OFF", "includeExecutionData": false })
}

pub fn default_tracing() -> Json {
    json!({ "enabled": false })
}

/// What a resource created without `encryptionConfiguration` has.
pub fn default_encryption() -> Json {
    json!({ "type": "AWS_OWNED_KEY" })
}

fn enum_error(value: &str, member: &str, allowed: &[&str]) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        allowed.join(", ")
    ))
}

fn to_json(value: &impl Serialize) -> ApiResult<Json> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(e.to_string()))
}

/// A logging configuration with its level checked and AWS's defaults
/// (`OFF`, no execution data) filled in.
pub fn logging(mut given: LoggingConfiguration) -> ApiResult<Json> {
    let level = given.level.get_or_insert_with(|| "OFF".to_string());
    if !LOG_LEVELS.contains(&level.as_str()) {
        return Err(enum_error(level, "loggingConfiguration.level", &LOG_LEVELS));
    }
    given.include_execution_data.get_or_insert(false);
    to_json(&given)
}

pub fn tracing(mut given: TracingConfiguration) -> ApiResult<Json> {
    given.enabled.get_or_insert(false);
    to_json(&given)
}

/// AWS's error for an encryption configuration whose members are each well
/// typed but do not go together.
fn invalid_encryption(what: &str) -> ApiError {
    ApiError::new(
        "InvalidEncryptionConfiguration",
        format!("Invalid encryptionConfiguration: {what}"),
    )
}

/// An encryption configuration as AWS accepts it: a known `type`, a KMS
/// key for a customer managed key, a reuse period within 60 to 900 seconds.
pub fn encryption(given: EncryptionConfiguration) -> ApiResult<Json> {
    if given.kind.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: Value null at 'encryptionConfiguration.type' failed to satisfy constraint: Member must not be null",
        ));
    }
    if !ENCRYPTION_TYPES.contains(&given.kind.as_str()) {
        return Err(enum_error(
            &given.kind,
            "encryptionConfiguration.type",
            &ENCRYPTION_TYPES,
        ));
    }
    if given.kind == "CUSTOMER_MANAGED_KMS_KEY" && given.kms_key_id.is_none() {
        return Err(invalid_encryption(
            "kmsKeyId is required when the type is CUSTOMER_MANAGED_KMS_KEY; give the KMS key's id, ARN, alias or alias ARN",
        ));
    }
    if let Some(key) = &given.kms_key_id {
        super::check_length(key, "encryptionConfiguration.kmsKeyId", 2048)?;
    }
    if let Some(seconds) = given.kms_data_key_reuse_period_seconds {
        if !REUSE_SECONDS.contains(&seconds) {
            return Err(invalid_encryption(&format!(
                "kmsDataKeyReusePeriodSeconds is {seconds}; it must be between 60 and 900"
            )));
        }
    }
    to_json(&given)
}

/// The encryption configuration a record keeps, or the default.
pub fn stored_encryption(kept: Option<&Json>) -> Json {
    kept.cloned().unwrap_or_else(default_encryption)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_get_aws_defaults_and_checks() {
        assert_eq!(
            logging(LoggingConfiguration::default()),
            Ok(default_logging())
        );
        let bad = LoggingConfiguration {
            level: Some("LOUD".into()),
            ..Default::default()
        };
        assert_eq!(logging(bad).map_err(|e| e.code), Err("ValidationException"));
        assert_eq!(
            tracing(TracingConfiguration::default()),
            Ok(default_tracing())
        );
        let owned = EncryptionConfiguration {
            kind: "AWS_OWNED_KEY".into(),
            ..Default::default()
        };
        assert_eq!(encryption(owned), Ok(default_encryption()));
        let keyless = EncryptionConfiguration {
            kind: "CUSTOMER_MANAGED_KMS_KEY".into(),
            ..Default::default()
        };
        assert_eq!(
            encryption(keyless).map_err(|e| e.code),
            Err("InvalidEncryptionConfiguration")
        );
        let too_long = EncryptionConfiguration {
            kind: "CUSTOMER_MANAGED_KMS_KEY".into(),
            kms_key_id: Some("k".into()),
            kms_data_key_reuse_period_seconds: Some(901),
        };
        assert_eq!(
            encryption(too_long).map_err(|e| e.code),
            Err("InvalidEncryptionConfiguration")
        );
        let keyed = EncryptionConfiguration {
            kind: "CUSTOMER_MANAGED_KMS_KEY".into(),
            kms_key_id: Some("alias/mine".into()),
            kms_data_key_reuse_period_seconds: Some(300),
        };
        assert_eq!(
            encryption(keyed),
            Ok(json!({
                "type": "CUSTOMER_MANAGED_KMS_KEY",
                "kmsKeyId": "alias/mine",
                "kmsDataKeyReusePeriodSeconds": 300
            }))
        );
    }
}
