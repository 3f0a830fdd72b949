//! Which Task `Resource` ARNs Step Functions recognises, and which of them an
//! EXPRESS machine may not use.

/// The optimised service integrations (`arn:aws:states:::service:action`),
/// each with the actions Step Functions offers for it.
const INTEGRATIONS: &[(&str, &[&str])] = &[
    ("lambda", &["invoke"]),
    ("states", &["startExecution"]),
    ("sns", &["publish"]),
    ("sqs", &["sendMessage"]),
    (
        "dynamodb",
        &["getItem", "putItem", "updateItem", "deleteItem"],
    ),
    ("events", &["putEvents"]),
    ("apigateway", &["invoke"]),
    ("http", &["invoke"]),
    ("batch", &["submitJob"]),
    ("ecs", &["runTask"]),
    ("glue", &["startJobRun"]),
    ("databrew", &["startJobRun"]),
    (
        "athena",
        &[
            "startQueryExecution",
            "stopQueryExecution",
            "getQueryExecution",
            "getQueryResults",
        ],
    ),
    (
        "codebuild",
        &[
            "startBuild",
            "stopBuild",
            "batchDeleteBuilds",
            "batchGetReports",
            "startBuildBatch",
            "stopBuildBatch",
            "retryBuildBatch",
            "deleteBuildBatch",
        ],
    ),
    (
        "eks",
        &[
            "createCluster",
            "deleteCluster",
            "createFargateProfile",
            "deleteFargateProfile",
            "createNodegroup",
            "deleteNodegroup",
            "runJob",
            "call",
        ],
    ),
    (
        "elasticmapreduce",
        &[
            "createCluster",
            "terminateCluster",
            "addStep",
            "cancelStep",
            "setClusterTerminationProtection",
            "modifyInstanceFleetByName",
            "modifyInstanceGroupByName",
        ],
    ),
    (
        "emr-containers",
        &[
            "startJobRun",
            "createVirtualCluster",
            "deleteVirtualCluster",
        ],
    ),
    (
        "emr-serverless",
        &[
            "createApplication",
            "startApplication",
            "stopApplication",
            "deleteApplication",
            "startJobRun",
            "cancelJobRun",
        ],
    ),
    (
        "sagemaker",
        &[
            "createEndpoint",
            "createEndpointConfig",
            "createHyperParameterTuningJob",
            "createLabelingJob",
            "createModel",
            "createProcessingJob",
            "createTrainingJob",
            "createTransformJob",
            "updateEndpoint",
        ],
    ),
    ("bedrock", &["invokeModel", "createModelCustomizationJob"]),
    ("mediaconvert", &["createJob"]),
];

/// The integration patterns a resource may end with.
const PATTERNS: &[&str] = &[".sync:2", ".sync", ".waitForTaskToken"];

/// The part after `arn:<partition>:states:::`, when `resource` is a
/// service integration.
fn integration(resource: &str) -> Option<&str> {
    let rest = resource.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    rest.strip_prefix("states:::")
}

/// Whether Step Functions recognises `resource`. Only service integrations
/// are checked: Lambda function and activity ARNs name things that exist
/// elsewhere, and AWS SDK integrations cover every service API.
pub fn is_known(resource: &str) -> bool {
    let Some(rest) = integration(resource) else {
        return true;
    };
    if let Some(sdk) = rest.strip_prefix("aws-sdk:") {
        return sdk
            .split_once(':')
            .is_some_and(|(service, action)| !service.is_empty() && !action.is_empty());
    }
    let base = PATTERNS
        .iter()
        .find_map(|pattern| rest.strip_suffix(pattern))
        .unwrap_or(rest);
    let Some((service, action)) = base.split_once(':') else {
        return false;
    };
    INTEGRATIONS
        .iter()
        .any(|(name, actions)| *name == service && actions.contains(&action))
}

/// Why an EXPRESS machine may not use `resource`, if it may not: it cannot
/// wait for a job (`.sync`) or a callback (`.waitForTaskToken`), nor poll an
/// activity.
pub fn express_refusal(resource: &str) -> Option<&'static str> {
    if let Some(rest) = integration(resource) {
        if rest.ends_with(".sync") || rest.ends_with(".sync:2") {
            return Some("Express state machine does not support '.sync' service integration");
        }
        if rest.ends_with(".waitForTaskToken") {
            // AWS's text has two spaces before " at".
            return Some(
                "Express state machine does not support '.waitForTaskToken' service integration ",
            );
        }
        return None;
    }
    let mut parts = resource.split(':');
    let is_activity = parts.next() == Some("arn")
        && parts.nth(1) == Some("states")
        && parts.nth(2) == Some("activity");
    is_activity.then_some("Express state machine does not support Activity ARN")
}
