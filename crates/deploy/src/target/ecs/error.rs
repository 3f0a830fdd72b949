//! The errors of the ECS target. Each names the AWS call, the resource it
//! was about and what to do; [`advice`] gives the last for an AWS error
//! code, also for the errors a Task state of the definition fails with.

use windlass_aws::Error as AwsError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An AWS call windlass makes outside the definition (ECR).
    #[error("{call} on {resource} failed: {reason}; {advice}")]
    Aws {
        call: &'static str,
        resource: String,
        reason: String,
        advice: String,
    },
    #[error("the Compose service cannot run on ECS:\n  {}", .0.join("\n  "))]
    Refused(Vec<String>),
    #[error("the image of {service} could not be {what}: {reason}")]
    Image {
        service: String,
        what: &'static str,
        reason: String,
    },
    #[error("the store could not be {what}: {reason}")]
    Store { what: &'static str, reason: String },
    #[error("the deploy execution could not run: {0}")]
    Runtime(String),
    #[error("{service} has no release {release} on ECS (releases: {known})")]
    NoRelease {
        service: String,
        release: String,
        known: String,
    },
    #[error(
        "{service} has no earlier release on ECS with a task definition revision to roll back to"
    )]
    NothingToRollBackTo { service: String },
    /// Another windlass process deploys the service now.
    #[error("{service} is being deployed by windlass process {pid} on host {host} (execution {execution}, its heartbeat {beat_secs} s ago): wait for it to end; if that process is hung, stop it and run the command again to resume its execution (a lock of another host is taken over once its heartbeat is 10 s old)")]
    Busy {
        service: String,
        execution: String,
        pid: u32,
        host: String,
        beat_secs: i64,
    },
    /// A deploy of the service whose process died is still running in the
    /// store: it is resumed, never taken over.
    #[error("an earlier deploy of {service} did not finish (execution {execution}, its windlass process is gone): run `windlass deploy --target ecs` or `windlass rollback --target ecs` again, which resume it first")]
    Unfinished { service: String, execution: String },
}

impl Error {
    /// `call` on `resource` failed with `error`.
    pub fn aws(call: &'static str, resource: impl Into<String>, error: AwsError) -> Error {
        let resource = resource.into();
        let code = match &error {
            AwsError::Service { code, .. } => code.clone(),
            AwsError::NoCredentials => "NoCredentials".into(),
            AwsError::NoRegion => "NoRegion".into(),
            AwsError::Transport { .. } => "Transport".into(),
            _ => String::new(),
        };
        // The SDK's own message already says what to do about these:
        // the advice is given once.
        let reason = match &error {
            AwsError::NoCredentials => "no AWS credentials were found".to_string(),
            AwsError::NoRegion => "no AWS region is set".to_string(),
            other => other.to_string(),
        };
        Error::Aws {
            call,
            advice: advice(call, &resource, &code),
            resource,
            reason,
        }
    }
}

/// What to do about AWS error `code` of `call` on `resource`.
pub fn advice(call: &str, resource: &str, code: &str) -> String {
    let code = code.rsplit('.').next().unwrap_or(code);
    match code.trim_end_matches("Exception") {
        "NoCredentials" => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile in ~/.aws/credentials".into(),
        "NoRegion" => "set AWS_REGION (or AWS_DEFAULT_REGION)".into(),
        "Transport" => "check that the endpoint answers (AWS_ENDPOINT_URL, the network) and that AWS_REGION names a real region".into(),
        "UnrecognizedClient" | "InvalidClientTokenId" | "InvalidSignature" | "SignatureDoesNotMatch" => "the keys are not valid in this region: check AWS_REGION and the keys (aws sts get-caller-identity)".into(),
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => format!("allow {call} on {resource} in the identity's IAM policy (windlass export writes the exact policy)"),
        "ClusterNotFound" => match resource.strip_prefix("cluster ") {
            Some(cluster) => format!("create the cluster (aws ecs create-cluster --cluster-name {cluster}) or name an existing one in x-windlass.ecs.cluster"),
            None => format!("create the cluster of {resource} (aws ecs create-cluster --cluster-name NAME) or name an existing one in x-windlass.ecs.cluster"),
        },
        "ServiceNotFound" | "ServiceNotActive" => format!("{resource} is gone or inactive: deploy again to create it"),
        "RepositoryNotFound" => format!("create the repository {resource} or allow ecr:CreateRepository"),
        "InvalidParameter" | "ClientException" | "InvalidParameterValue" => format!("ECS refused a parameter of {call} for {resource}: see the message, and the task definition windlass wrote (deploy --show-task-definition)"),
        "Throttling" | "TooManyRequests" | "RequestLimitExceeded" => "AWS throttled the calls and windlass's retries with backoff ran out: deploy again later, or ask AWS for a higher limit".into(),
        "LimitExceeded" => format!("an account quota stops {call}: remove unused resources or raise the quota"),
        _ => format!("see the message from AWS about {resource}"),
    }
}
