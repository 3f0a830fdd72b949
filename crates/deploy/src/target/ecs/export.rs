//! `windlass export --target ecs`: a CloudFormation template that puts the
//! deploy on AWS itself: the state machine with the very definition
//! windlass runs, an IAM role whose policy allows exactly the actions the
//! definition calls on the resources it names, the ECR repository, the
//! task definition, the service and the log group.

use serde_json::{json, Map, Value as Json};

use super::plan::Plan;

/// The template for one service: `task_definition` as the mapping wrote it
/// (its image is replaced by the repository's URI and the `ImageTag`
/// parameter), `definition` the deploy definition.
pub fn template(plan: &Plan, task_definition: &Json, definition: &Json) -> Json {
    let rollout = &plan.rollout;
    let mut task = task_definition.clone();
    if let Some(containers) = task
        .get_mut("ContainerDefinitions")
        .and_then(Json::as_array_mut)
    {
        for container in containers.iter_mut().take(1) {
            container["Image"] = json!({ "Fn::Sub": "${Repository.RepositoryUri}:${ImageTag}" });
            if let Some(options) = container.pointer_mut("/LogConfiguration/Options") {
                if options.get("awslogs-group").is_some() {
                    options["awslogs-group"] = json!({ "Ref": "LogGroup" });
                    options["awslogs-region"] = json!({ "Ref": "AWS::Region" });
                }
            }
        }
    }
    let mut service = json!({
        "Cluster": rollout.cluster,
        "ServiceName": rollout.service,
        "TaskDefinition": { "Ref": "TaskDefinition" },
        "DesiredCount": rollout.desired_count,
        "DeploymentConfiguration": definition["States"]["CreateService"]["Parameters"]["DeploymentConfiguration"],
    });
    if let Some(launch) = &rollout.launch_type {
        service["LaunchType"] = json!(launch);
    }
    if let Some(strategy) = &rollout.capacity_provider_strategy {
        service["CapacityProviderStrategy"] = strategy.clone();
    }
    if let Some(network) = &rollout.network_configuration {
        service["NetworkConfiguration"] = network.clone();
    }
    let mut definition = definition.clone();
    let mut resources = json!({});
    let mut substitutions = json!({});
    if let Some(probe) = &rollout.probe {
        if made_connection(&probe.connection_arn) {
            // AWS's HTTP Task needs an EventBridge connection; a public URL
            // needs no credentials, so the key it sends is a placeholder.
            resources["ProbeConnection"] = json!({ "Type": "AWS::Events::Connection", "Properties": {
                "Name": format!("windlass-probe-{}", rollout.service),
                "AuthorizationType": "API_KEY",
                "AuthParameters": { "ApiKeyAuthParameters": {
                    "ApiKeyName": "x-windlass-probe", "ApiKeyValue": "none" } } } });
            definition["States"]["Probe"]["Parameters"]["Authentication"]["ConnectionArn"] =
                json!("${ProbeConnectionArn}");
            substitutions["ProbeConnectionArn"] =
                json!({ "Fn::GetAtt": ["ProbeConnection", "Arn"] });
        }
    }
    let definition = &definition;
    let mut state_machine = json!({
        "StateMachineName": format!("windlass-deploy-{}", rollout.service),
        "RoleArn": { "Fn::GetAtt": ["DeployRole", "Arn"] },
        "DefinitionString": serde_json::to_string_pretty(definition).unwrap_or_default() });
    if substitutions.as_object().is_some_and(|m| !m.is_empty()) {
        state_machine["DefinitionSubstitutions"] = substitutions;
    }
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("windlass: ECS service {} on cluster {} and the Step Functions state machine that deploys and rolls it back", rollout.service, rollout.cluster),
        "Parameters": {
            "ImageTag": { "Type": "String", "Default": "latest", "Description": "The tag of the image in the repository the first task definition runs" }
        },
        "Resources": {
            "Repository": { "Type": "AWS::ECR::Repository", "Properties": { "RepositoryName": plan.repository } },
            "LogGroup": { "Type": "AWS::Logs::LogGroup", "Properties": { "LogGroupName": plan.log_group, "RetentionInDays": 30 } },
            "TaskDefinition": { "Type": "AWS::ECS::TaskDefinition", "Properties": task },
            "Service": { "Type": "AWS::ECS::Service", "Properties": service },
            "DeployRole": { "Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": { "Service": "states.amazonaws.com" }, "Action": "sts:AssumeRole" }] },
                "Policies": [{ "PolicyName": "windlass-deploy", "PolicyDocument": {
                    "Version": "2012-10-17", "Statement": statements(plan, definition, task_definition) } }] } },
            "DeployStateMachine": { "Type": "AWS::StepFunctions::StateMachine", "Properties": state_machine }
        },
        "Outputs": {
            "StateMachineArn": { "Value": { "Ref": "DeployStateMachine" } },
            "RepositoryUri": { "Value": { "Fn::GetAtt": ["Repository", "RepositoryUri"] } },
            "TaskDefinitionArn": { "Value": { "Ref": "TaskDefinition" } }
        }
    });
    if let (Some(all), Some(more)) = (template["Resources"].as_object_mut(), resources.as_object())
    {
        all.extend(more.clone());
    }
    template
}

/// Whether the probe's connection is the placeholder windlass writes when
/// none is given (the template then makes the connection).
fn made_connection(arn: &str) -> bool {
    arn.contains(":000000000000:connection/windlass-probe-")
}

/// Every action the definition's Task states call, each on the resources
/// it names (the account and region by CloudFormation's pseudo parameters).
pub fn statements(plan: &Plan, definition: &Json, task_definition: &Json) -> Vec<Json> {
    let rollout = &plan.rollout;
    let arn = |text: String| json!({ "Fn::Sub": text });
    let service_arn = arn(format!(
        "arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:service/{}/{}",
        rollout.cluster, rollout.service
    ));
    let cluster_arn = arn(format!(
        "arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:cluster/{}",
        rollout.cluster
    ));
    let tasks_arn = arn(format!(
        "arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:task/{}/*",
        rollout.cluster
    ));
    let family_arn = arn(format!(
        "arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:task-definition/{}:*",
        plan.family
    ));
    let mut resources: Vec<String> = Vec::new();
    collect(definition, &mut resources);
    resources.sort();
    resources.dedup();
    let mut out: Vec<Json> = Vec::new();
    let mut allow = |action: &str, resource: Json, condition: Option<Json>| {
        let mut statement = json!({ "Effect": "Allow", "Action": action, "Resource": resource });
        if let Some(condition) = condition {
            statement["Condition"] = condition;
        }
        if !out.contains(&statement) {
            out.push(statement);
        }
    };
    for resource in &resources {
        match resource.as_str() {
            "arn:aws:states:::aws-sdk:ecs:describeServices" => {
                allow("ecs:DescribeServices", service_arn.clone(), None)
            }
            "arn:aws:states:::aws-sdk:ecs:createService" => {
                allow("ecs:CreateService", service_arn.clone(), None)
            }
            "arn:aws:states:::aws-sdk:ecs:updateService" => {
                allow("ecs:UpdateService", service_arn.clone(), None)
            }
            // RegisterTaskDefinition has no resource-level permissions.
            "arn:aws:states:::aws-sdk:ecs:registerTaskDefinition" => {
                allow("ecs:RegisterTaskDefinition", json!("*"), None)
            }
            "arn:aws:states:::aws-sdk:ecs:listTasks" => allow(
                "ecs:ListTasks",
                json!("*"),
                Some(json!({ "ArnEquals": { "ecs:cluster": cluster_arn.clone() } })),
            ),
            "arn:aws:states:::aws-sdk:ecs:describeTasks" => {
                allow("ecs:DescribeTasks", tasks_arn.clone(), None)
            }
            "arn:aws:states:::aws-sdk:cloudwatch:describeAlarms" => {
                for alarm in &rollout.alarms {
                    allow("cloudwatch:DescribeAlarms", arn(format!("arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{alarm}")), None);
                }
            }
            "arn:aws:states:::ecs:runTask.sync" => {
                allow("ecs:RunTask", family_arn.clone(), None);
                allow("ecs:StopTask", tasks_arn.clone(), None);
                allow("ecs:DescribeTasks", tasks_arn.clone(), None);
                for action in ["events:PutTargets", "events:PutRule", "events:DescribeRule"] {
                    allow(action, arn("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForECSTaskRule".into()), None);
                }
            }
            "arn:aws:states:::http:invoke" => {
                if let Some(probe) = &rollout.probe {
                    let machine = arn(format!("arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:windlass-deploy-{}", rollout.service));
                    allow(
                        "states:InvokeHTTPEndpoint",
                        machine,
                        Some(json!({ "StringEquals": { "states:HTTPMethod": "GET" },
                            "StringLike": { "states:HTTPEndpoint": format!("{}*", probe.endpoint) } })),
                    );
                    let connection = if made_connection(&probe.connection_arn) {
                        json!({ "Fn::GetAtt": ["ProbeConnection", "Arn"] })
                    } else {
                        json!(probe.connection_arn)
                    };
                    allow("events:RetrieveConnectionCredentials", connection, None);
                    for action in [
                        "secretsmanager:GetSecretValue",
                        "secretsmanager:DescribeSecret",
                    ] {
                        allow(action, arn("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:events!connection/*".into()), None);
                    }
                }
            }
            "arn:aws:states:::lambda:invoke" => {
                for function in lambda_functions(definition) {
                    let function_arn = if function.starts_with("arn:") {
                        json!(function)
                    } else {
                        arn(format!("arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{function}"))
                    };
                    allow("lambda:InvokeFunction", function_arn, None);
                }
            }
            _ => {}
        }
    }
    // The task definition's roles are passed to ECS when it is registered.
    for key in ["ExecutionRoleArn", "TaskRoleArn"] {
        if let Some(role) = task_definition.get(key).and_then(Json::as_str) {
            allow(
                "iam:PassRole",
                json!(role),
                Some(
                    json!({ "StringEquals": { "iam:PassedToService": "ecs-tasks.amazonaws.com" } }),
                ),
            );
        }
    }
    // Blue/green lifecycle hooks: CreateService and UpdateService pass the
    // role ECS assumes to invoke them.
    for hook in &rollout.lifecycle_hooks {
        allow(
            "iam:PassRole",
            json!(hook.role_arn),
            Some(json!({ "StringEquals": { "iam:PassedToService": "ecs.amazonaws.com" } })),
        );
    }
    out
}

fn collect(value: &Json, out: &mut Vec<String>) {
    match value {
        Json::Object(map) => {
            if let Some(resource) = map.get("Resource").and_then(Json::as_str) {
                out.push(resource.to_string());
            }
            map.values().for_each(|v| collect(v, out));
        }
        Json::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

fn lambda_functions(definition: &Json) -> Vec<String> {
    let mut out = Vec::new();
    let states: Map<String, Json> = definition["States"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for state in states.values() {
        if state["Resource"] == "arn:aws:states:::lambda:invoke" {
            if let Some(name) = state["Parameters"]["FunctionName"].as_str() {
                out.push(name.to_string());
            }
        }
    }
    out
}
