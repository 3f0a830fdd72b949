//! The AWS services windlass calls: the name a Task's `aws-sdk:` resource
//! gives each, the PascalCase prefix of its error names, and its API model
//! (botocore's `service-2.json`, vendored gzip-compressed under `models/`).

/// One service that Task states may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The name in `arn:aws:states:::aws-sdk:<name>:<action>`.
    pub name: &'static str,
    /// The prefix of its error names (`DynamoDb.ConditionalCheckFailedException`).
    pub errors: &'static str,
    /// botocore's model of the service, gzip-compressed.
    model: &'static [u8],
}

macro_rules! service {
    ($name:literal, $errors:literal, $file:literal) => {
        Service {
            name: $name,
            errors: $errors,
            model: include_bytes!(concat!("../models/", $file, ".json.gz")),
        }
    };
}

/// Every service whose model is embedded.
pub const SERVICES: &[Service] = &[
    service!("cloudformation", "CloudFormation", "cloudformation"),
    service!("cloudwatch", "CloudWatch", "cloudwatch"),
    service!("cloudwatchlogs", "CloudWatchLogs", "logs"),
    service!("dynamodb", "DynamoDb", "dynamodb"),
    service!("ecr", "Ecr", "ecr"),
    service!("ecs", "Ecs", "ecs"),
    service!("eventbridge", "EventBridge", "events"),
    service!("iam", "Iam", "iam"),
    service!("lambda", "Lambda", "lambda"),
    service!("s3", "S3", "s3"),
    service!("secretsmanager", "SecretsManager", "secretsmanager"),
    service!("sfn", "Sfn", "stepfunctions"),
    service!("sns", "Sns", "sns"),
    service!("sqs", "Sqs", "sqs"),
    service!("ssm", "Ssm", "ssm"),
    service!("sts", "Sts", "sts"),
];

impl Service {
    /// The service named `name` in an `aws-sdk:` resource.
    pub fn named(name: &str) -> Option<Service> {
        SERVICES.iter().copied().find(|s| s.name == name)
    }

    /// The names of every embedded service, for messages.
    pub fn names() -> Vec<&'static str> {
        SERVICES.iter().map(|s| s.name).collect()
    }

    pub(crate) fn compressed_model(&self) -> &'static [u8] {
        self.model
    }
}
