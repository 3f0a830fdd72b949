//! The errors of calling AWS, and the Step Functions error names they become.

use windlass_asl::Failure;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("'{resource}' is not an AWS SDK integration: expected arn:aws:states:::aws-sdk:SERVICE:ACTION")]
    NotSdkResource { resource: String },
    #[error(
        "windlass has no model of the AWS service '{service}' (in '{resource}'); it knows: {known}"
    )]
    UnknownService {
        resource: String,
        service: String,
        known: String,
    },
    #[error("the AWS service '{service}' has no action '{action}'; its actions are: {actions}")]
    UnknownAction {
        service: String,
        action: String,
        actions: String,
    },
    #[error("the embedded model of '{service}' could not be read: {reason}")]
    Model { service: String, reason: String },
    #[error(
        "{operation}: parameter '{path}' is not a member of {shape}; its members are: {members}"
    )]
    UnknownParameter {
        operation: String,
        path: String,
        shape: String,
        members: String,
    },
    #[error("{operation}: parameter '{path}' must be {expected}, got {got}")]
    WrongType {
        operation: String,
        path: String,
        expected: String,
        got: String,
    },
    #[error("{operation}: the required parameter '{name}' is missing")]
    MissingParameter { operation: String, name: String },
    #[error("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region in the AWS_PROFILE's config)")]
    NoRegion,
    #[error("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials (AWS_PROFILE)")]
    NoCredentials,
    #[error(
        "the web identity credentials (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN) failed: {reason}"
    )]
    WebIdentity { reason: String },
    #[error("the endpoint '{endpoint}' for {service} is not a URL: {reason}")]
    BadEndpoint {
        service: String,
        endpoint: String,
        reason: String,
    },
    #[error("signing the {operation} request failed: {reason}")]
    Signing { operation: String, reason: String },
    #[error("{operation} to {endpoint} failed: {reason}")]
    Transport {
        operation: String,
        endpoint: String,
        reason: String,
    },
    #[error("{operation}: the answer (HTTP {status}) could not be read: {reason}")]
    BadResponse {
        operation: String,
        status: u16,
        reason: String,
    },
    /// The service answered with an error of its own.
    #[error("{name}: {message}")]
    Service {
        /// The name Step Functions gives it (`DynamoDb.ConditionalCheckFailedException`).
        name: String,
        /// The service's error prefix (`DynamoDb`).
        prefix: String,
        /// The code the service answered with.
        code: String,
        message: String,
        status: u16,
        /// The answer's request id (`x-amzn-RequestId`), when it had one.
        request_id: Option<String>,
    },
}

impl Error {
    /// The error as Step Functions reports it: `<Service>.<Code>Exception`
    /// for a service's own errors, `States.TaskFailed` for the rest.
    pub fn into_failure(self) -> Failure {
        match &self {
            Error::Service {
                name,
                prefix,
                code,
                message,
                status,
                ..
            } => Failure::new(
                name.clone(),
                format!("{message} (Service: {prefix}, Status Code: {status}, Error Code: {code})"),
            ),
            _ => Failure::new("States.TaskFailed", self.to_string()),
        }
    }

    /// The error as an optimized integration reports it: the cause is the
    /// message of the AWS SDK for Java 1.x exception Step Functions' own
    /// client throws, which names the service by its Java client
    /// (`AmazonDynamoDBv2`) and ends with the request id. Other errors are
    /// as [`Error::into_failure`] gives them.
    pub fn into_optimized_failure(self, name: String, java_service: &str) -> Failure {
        match self {
            Error::Service {
                code,
                message,
                status,
                request_id,
                ..
            } => Failure::new(
                name,
                format!(
                    "{message} (Service: {java_service}; Status Code: {status}; Error Code: {code}; Request ID: {}; Proxy: null)",
                    request_id.as_deref().unwrap_or("null")
                ),
            ),
            other => other.into_failure(),
        }
    }
}

/// `S3` + `NoSuchKey` -> `S3.NoSuchKeyException`: Step Functions names a
/// service error by its SDK exception class, which always ends in
/// `Exception`.
pub fn error_name(prefix: &str, code: &str) -> String {
    if code.ends_with("Exception") {
        format!("{prefix}.{code}")
    } else {
        format!("{prefix}.{code}Exception")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_end_in_exception() {
        assert_eq!(
            error_name("DynamoDb", "ConditionalCheckFailedException"),
            "DynamoDb.ConditionalCheckFailedException"
        );
        assert_eq!(error_name("S3", "NoSuchKey"), "S3.NoSuchKeyException");
    }

    #[test]
    fn optimized_causes_read_as_the_java_sdk_writes_them() {
        let error = Error::Service {
            name: "DynamoDb.ResourceNotFoundException".into(),
            prefix: "DynamoDb".into(),
            code: "ResourceNotFoundException".into(),
            message: "Requested resource not found".into(),
            status: 400,
            request_id: Some("R1".into()),
        };
        let failure = error.into_optimized_failure(
            "DynamoDB.ResourceNotFoundException".into(),
            "AmazonDynamoDBv2",
        );
        assert_eq!(failure.error, "DynamoDB.ResourceNotFoundException");
        assert_eq!(
            failure.cause,
            "Requested resource not found (Service: AmazonDynamoDBv2; Status Code: 400; \
             Error Code: ResourceNotFoundException; Request ID: R1; Proxy: null)"
        );
    }
}
