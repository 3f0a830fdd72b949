//! `x-windlass.ecs`: where and how a service runs on Amazon ECS, each
//! setting under its ECS name (`cluster`, `launchType`,
//! `networkConfiguration`, ...). What the values mean is ECS's; windlass
//! passes them to RegisterTaskDefinition, CreateService and UpdateService.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `x-windlass.ecs` of a service. Every field is optional: the cluster is
/// `default`, the service is named after the Compose service, the launch
/// type is FARGATE unless a capacity provider strategy is given.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Ecs {
    pub cluster: Option<String>,
    /// The ECS service's name; the Compose service's by default.
    pub service: Option<String>,
    /// `FARGATE`, `EC2` or `EXTERNAL`.
    pub launch_type: Option<String>,
    /// As CreateService takes it: `[{capacityProvider, weight, base}]`.
    pub capacity_provider_strategy: Option<serde_json::Value>,
    /// As CreateService takes it: `{awsvpcConfiguration: {subnets, securityGroups, assignPublicIp}}`.
    pub network_configuration: Option<serde_json::Value>,
    /// `awsvpc` (the default, and the only one FARGATE runs), `bridge`, `host`.
    pub network_mode: Option<String>,
    pub execution_role_arn: Option<String>,
    pub task_role_arn: Option<String>,
    /// Tasks to run; `deploy.replicas` (else 1) when not given.
    pub desired_count: Option<u32>,
    /// The task definition's family; the ECS service's name by default.
    pub family: Option<String>,
    /// An ECS task definition JSON file in the format AWS documents
    /// (`family`, `containerDefinitions`, ...), used instead of the mapping
    /// from the Compose service; a container named after the service gets
    /// the pushed image.
    pub task_definition: Option<PathBuf>,
    /// Secrets by environment variable name: the ARN of a Secrets Manager
    /// secret or an SSM parameter (`valueFrom`).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// CloudWatch alarms watched after the switch: one in ALARM rolls back.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// The `awslogs` group; `/windlass/SERVICE` by default.
    pub log_group: Option<String>,
    /// The ECR repository; the ECS service's name by default.
    pub repository: Option<String>,
    /// Seconds between two looks at the rollout (5 by default).
    pub poll_seconds: Option<u32>,
    /// How many looks before the rollout counts as failed (60 by default).
    pub max_polls: Option<u32>,
    /// `blue_green` uses ECS's blue/green deployment strategy (bake time,
    /// lifecycle hooks); `rolling` (the default) ECS's rolling update.
    pub strategy: Option<String>,
    /// Minutes the blue/green strategy keeps the old revision after the
    /// traffic shift.
    pub bake_time_minutes: Option<u32>,
    /// Lambda functions (name or ARN) invoked before and after the switch.
    #[serde(default)]
    pub lambda_hooks: LambdaHooks,
    /// With `strategy: blue_green`: the role ECS assumes to invoke the
    /// Lambda hooks, which become the deployment's lifecycle hooks.
    pub hook_role_arn: Option<String>,
    /// An HTTP probe of the service's URL, made at each look once the new
    /// revision's tasks are healthy and during the watch.
    pub probe: Option<Probe>,
}

/// `x-windlass.ecs.probe`: `GET url + path` must answer `status`; more
/// than `failures` misses in a row roll back.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probe {
    /// The service's URL (`https://shop.example.com`, a load balancer's).
    pub url: String,
    /// `/` by default.
    pub path: Option<String>,
    /// The status expected, a 2xx (200 by default).
    pub status: Option<u16>,
    /// Misses in a row tolerated (0 by default).
    pub failures: Option<u32>,
    /// The EventBridge connection AWS Step Functions' HTTP Task needs; the
    /// exported template makes one when it is not given.
    pub connection_arn: Option<String>,
}

/// `x-windlass.ecs.lambdaHooks`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LambdaHooks {
    #[serde(default)]
    pub before_switch: Vec<String>,
    #[serde(default)]
    pub after_switch: Vec<String>,
}
