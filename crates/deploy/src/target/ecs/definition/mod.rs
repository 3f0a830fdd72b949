//! The ECS deploy definition: an ASL document made only of AWS service
//! integrations, so that windlass's engine and AWS Step Functions run it
//! alike. ECS has no `.sync` for a service rollout, so the definition polls:
//! a Wait, DescribeServices, ListTasks and DescribeTasks, and a Choice that
//! decides from the deployments (rollout state, circuit breaker) and from
//! the tasks themselves (local emulators do not finish deployment records).
//!
//! Input: `{"taskDefinition": {RegisterTaskDefinition's input}}` to deploy a
//! new revision, or `{"taskDefinitionArn": "..."}` to put the service on a
//! revision that exists (`windlass rollback`). The state the loop keeps:
//! `$.found` (the service's revision before), `$.target.Arn` (the revision
//! going live), `$.poll` (phase, look count, the tasks seen), `$.error`.

use serde_json::{json, Map, Value as Json};

pub use super::strategy::Strategy;

/// The error a deploy fails with once the service is back on its previous
/// revision; the CLI gives it as the rolled-back exit code.
pub const ROLLED_BACK: &str = "Deploy.RolledBack";
/// A first deploy that failed: there was no revision to go back to, and the
/// service was scaled to zero.
pub const FAILED: &str = "Deploy.Failed";
/// The rollback itself did not bring the previous revision back healthy.
pub const ROLLBACK_FAILED: &str = "Deploy.RollbackFailed";

/// What the definition is written for: one ECS service and how it rolls out.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub cluster: String,
    pub service: String,
    pub desired_count: u32,
    /// `FARGATE`, `EC2`, `EXTERNAL`, or none when a capacity provider
    /// strategy is given.
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Option<Json>,
    pub network_configuration: Option<Json>,
    /// Whether a task counts as healthy only once ECS says `HEALTHY` (its
    /// essential container has a health check) rather than `RUNNING`.
    pub health_checked: bool,
    pub poll_seconds: u32,
    /// Looks at the rollout before it counts as failed.
    pub max_polls: u32,
    /// Looks at the service after it is healthy (the watch).
    pub watch_polls: u32,
    /// CloudWatch alarms: one in ALARM during the watch rolls back; ECS's
    /// own deployment alarms get them too.
    pub alarms: Vec<String>,
    /// How ECS moves the service to the new revision: rolling,
    /// blue/green, or a rollout's canary or linear shift.
    pub strategy: Strategy,
    /// With a strategy that shifts traffic: the Lambda hooks ECS itself invokes at its
    /// lifecycle stages (`DeploymentConfiguration.LifecycleHooks`), in the
    /// place of the definition's `lambda:invoke` states.
    pub lifecycle_hooks: Vec<LifecycleHook>,
    /// Stop the old tasks before the new ones start (an exclusive service).
    pub stop_first: bool,
    /// States run after the revision is registered, before the service
    /// moves to it, and after its tasks are healthy, before the watch.
    pub before_switch: Vec<Hook>,
    pub after_switch: Vec<Hook>,
    /// The HTTP probe of the service's URL (`http:invoke`).
    pub probe: Option<Probe>,
}

/// An HTTP probe made at each look once the tasks are healthy.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The URL probed: the service's URL and the path.
    pub endpoint: String,
    pub status: u16,
    /// Misses in a row tolerated.
    pub failures: u32,
    /// The EventBridge connection of the HTTP Task (AWS requires one).
    pub connection_arn: String,
}

/// A Lambda function ECS invokes at stages of a blue/green deployment
/// (`DeploymentLifecycleHook`): it answers `{"hookStatus": "SUCCEEDED"}`
/// to let the deployment go on, `FAILED` to have ECS roll it back.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleHook {
    /// The function's ARN (`hookTargetArn`).
    pub function_arn: String,
    /// The role ECS assumes to invoke it (`roleArn`).
    pub role_arn: String,
    /// `PRE_PRODUCTION_TRAFFIC_SHIFT` (before the switch) or
    /// `POST_PRODUCTION_TRAFFIC_SHIFT` (after it).
    pub stages: Vec<String>,
}

/// A hook of the ECS deploy.
#[derive(Debug, Clone, PartialEq)]
pub enum Hook {
    /// `lambda:invoke` of this function (name or ARN).
    Lambda(String),
    /// A one-off task of the new revision with this command
    /// (`ecs:runTask.sync`), for the container named.
    Command {
        container: String,
        command: Vec<String>,
    },
    /// The user's own ASL state (it must call AWS resources only).
    State(Json),
}

/// The deploy definition for `rollout`.
pub fn deploy(rollout: &Rollout) -> Json {
    let mut states = Map::new();
    let mut add = |name: &str, state: Json| {
        states.insert(name.to_string(), state);
    };
    let ecs = |action: &str| format!("arn:aws:states:::aws-sdk:ecs:{action}");
    let catch =
        json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RollBack" }]);
    let catch_before =
        json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotDeployed" }]);
    // A hook before the switch that fails leaves the service on the
    // revision it runs: the deploy ends rolled back, as on Docker.
    let catch_hook = json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "BeforeSwitchFailed" }]);
    // CreateService or UpdateService refused: the service is as it was.
    let catch_create =
        json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotCreated" }]);
    let catch_update =
        json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotUpdated" }]);

    add(
        "FindService",
        json!({
        "Type": "Task", "Resource": ecs("describeServices"),
        "Parameters": { "Cluster": rollout.cluster, "Services": [rollout.service] },
        "ResultSelector": { "Active.$": "$.Services[?(@.Status == 'ACTIVE')].TaskDefinition" },
        "ResultPath": "$.found",
        "Catch": catch_before, "Next": "NewRevision?" }),
    );
    add(
        "NewRevision?",
        json!({
        "Type": "Choice",
        "Choices": [{ "Variable": "$.taskDefinitionArn", "IsPresent": true, "Next": "GivenRevision" }],
        "Default": "Register" }),
    );
    add(
        "GivenRevision",
        json!({
        "Type": "Pass", "Parameters": { "Arn.$": "$.taskDefinitionArn" },
        "ResultPath": "$.target", "Next": first_hook("BeforeSwitch", &rollout.before_switch, "ServiceExists?") }),
    );
    add(
        "Register",
        json!({
        "Type": "Task", "Resource": ecs("registerTaskDefinition"),
        "InputPath": "$.taskDefinition",
        "ResultSelector": { "Arn.$": "$.TaskDefinition.TaskDefinitionArn" },
        "ResultPath": "$.target",
        "Catch": catch_before, "Next": first_hook("BeforeSwitch", &rollout.before_switch, "ServiceExists?") }),
    );
    hooks(
        &mut add,
        rollout,
        "BeforeSwitch",
        &rollout.before_switch,
        "ServiceExists?",
        &catch_hook,
    );
    if !rollout.before_switch.is_empty() {
        add(
            "BeforeSwitchFailed",
            json!({
            "Type": "Choice",
            "Choices": [{ "Variable": "$.found.Active[0]", "IsPresent": true, "Next": "KeptPrevious" }],
            "Default": "NotDeployed" }),
        );
        add(
            "KeptPrevious",
            json!({
            "Type": "Pass",
            "Parameters": { "Error.$": "$.error.Error",
                "Cause.$": "States.Format('{} (a hook before the switch failed; the service stays on its revision {})', $.error.Cause, $.found.Active[0])" },
            "ResultPath": "$.error", "Next": "RolledBack" }),
        );
    }
    add(
        "ServiceExists?",
        json!({
        "Type": "Choice",
        "Choices": [{ "Variable": "$.found.Active[0]", "IsPresent": true, "Next": "UpdateService" }],
        "Default": "CreateService" }),
    );
    let mut create = service_parameters(rollout);
    create.insert("ServiceName".into(), json!(rollout.service));
    // The same token for every attempt of this execution: CreateService
    // carried out again after a crash (or a lost answer) is idempotent.
    create.insert(
        "ClientToken.$".into(),
        json!("States.Hash($$.Execution.Id, 'MD5')"),
    );
    if let Some(launch) = &rollout.launch_type {
        create.insert("LaunchType".into(), json!(launch));
    }
    if let Some(network) = &rollout.network_configuration {
        create.insert("NetworkConfiguration".into(), network.clone());
    }
    add(
        "CreateService",
        json!({
        "Type": "Task", "Resource": ecs("createService"), "Parameters": create,
        "ResultPath": null, "Catch": catch_create, "Next": "StartRollout" }),
    );
    add(
        "NotCreated",
        json!({
        "Type": "Pass",
        "Parameters": { "Error.$": "$.error.Error",
            "Cause.$": "States.Format('{} (no service was created)', $.error.Cause)" },
        "ResultPath": "$.error", "Next": "NotDeployed" }),
    );
    let mut update = service_parameters(rollout);
    update.insert("Service".into(), json!(rollout.service));
    if let Some(network) = &rollout.network_configuration {
        update.insert("NetworkConfiguration".into(), network.clone());
    }
    add(
        "UpdateService",
        json!({
        "Type": "Task", "Resource": ecs("updateService"), "Parameters": update,
        "ResultPath": null, "Catch": catch_update, "Next": "StartRollout" }),
    );
    add(
        "NotUpdated",
        json!({
        "Type": "Pass",
        "Parameters": { "Error.$": "$.error.Error",
            "Cause.$": "States.Format('{} (the service was not changed: it stays on its revision {})', $.error.Cause, $.found.Active[0])" },
        "ResultPath": "$.error", "Next": "NotDeployed" }),
    );
    let probe_reset = if rollout.probe.is_some() {
        "ProbeReset"
    } else {
        "Wait"
    };
    add(
        "StartRollout",
        json!({
        "Type": "Pass", "Result": { "phase": "rollout", "n": 0, "unhealthy": [] }, "ResultPath": "$.poll", "Next": probe_reset }),
    );
    poll_loop(&mut add, rollout, &catch);
    if let Some(probe) = &rollout.probe {
        probe_states(&mut add, rollout, probe);
    }
    let after = first_hook("AfterSwitch", &rollout.after_switch, "StartWatch");
    add("Healthy", json!({ "Type": "Pass", "Next": after }));
    hooks(
        &mut add,
        rollout,
        "AfterSwitch",
        &rollout.after_switch,
        "StartWatch",
        &catch,
    );
    let watch_next = if rollout.watch_polls == 0 {
        "Done"
    } else {
        probe_reset
    };
    add(
        "StartWatch",
        json!({
        "Type": "Pass", "Result": { "phase": "watch", "n": 0, "unhealthy": [] }, "ResultPath": "$.poll", "Next": watch_next }),
    );
    if !rollout.alarms.is_empty() {
        add(
            "Alarms",
            json!({
            "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:cloudwatch:describeAlarms",
            "Parameters": { "AlarmNames": rollout.alarms, "StateValue": "ALARM" },
            "ResultSelector": { "Names.$": "$.MetricAlarms[*].AlarmName" },
            "ResultPath": "$.alarms", "Catch": catch, "Next": "InAlarm?" }),
        );
        add(
            "InAlarm?",
            json!({
            "Type": "Choice",
            "Choices": [
                { "Variable": "$.alarms.Names[0]", "IsPresent": true, "Next": "AlarmFired" },
                { "Variable": "$.poll.n", "NumericGreaterThanEquals": rollout.watch_polls, "Next": "Done" }],
            "Default": "Wait" }),
        );
        add("AlarmFired", failure("Deploy.Alarm", "States.Format('CloudWatch alarm {} is in ALARM during the watch of {}', $.alarms.Names[0], $.target.Arn)"));
    }
    add("Done", json!({ "Type": "Succeed" }));
    rollback(&mut add, rollout);
    retry_interrupted(&mut states);
    json!({
        "Comment": format!("windlass: deploy ECS service {} on cluster {}; only AWS service integrations, so AWS Step Functions runs it as windlass does", rollout.service, rollout.cluster),
        "StartAt": "FindService",
        "States": states })
}

/// The resources whose calls are carried out again when they fail as
/// `States.TaskFailed`: the runtime fails a call a crash interrupted that
/// way (as it does a call whose answer never came), and each of these is
/// safe to make twice: reads, UpdateService to one revision, CreateService
/// with its client token, RegisterTaskDefinition (a second, equal
/// revision), a Lambda hook (hooks run at least once). A command hook
/// (`ecs:runTask.sync`) is not: its command failing is `States.TaskFailed`.
const RETRIED: &[&str] = &[
    "arn:aws:states:::aws-sdk:",
    "arn:aws:states:::lambda:invoke",
];

/// Errors of those calls that the same call made again cannot mend: AWS's
/// `States.TaskFailed` matches every error, so these come first with no
/// attempt (else a missing cluster is asked about four times, 7 s).
const NOT_RETRIED: &[&str] = &[
    "Ecs.ClusterNotFoundException",
    "Ecs.InvalidParameterException",
    "Ecs.ClientException",
    "Ecs.AccessDeniedException",
    "Ecs.ServiceNotFoundException",
    "Ecs.ServiceNotActiveException",
    "Ecs.PlatformUnknownException",
    "Ecs.PlatformTaskDefinitionIncompatibilityException",
    "Ecs.UnsupportedFeatureException",
    "Ecs.ResourceNotFoundException",
    "Lambda.ResourceNotFoundException",
    "Lambda.AccessDeniedException",
    "CloudWatch.InvalidParameterValueException",
];

/// Adds the Retry of [`RETRIED`] resources to every Task state without one.
fn retry_interrupted(states: &mut Map<String, Json>) {
    for state in states.values_mut() {
        let retried = state["Type"] == "Task"
            && state["Resource"]
                .as_str()
                .is_some_and(|r| RETRIED.iter().any(|p| r.starts_with(p)));
        if retried && state.get("Retry").is_none() {
            state["Retry"] = json!([
                { "ErrorEquals": NOT_RETRIED, "MaxAttempts": 0 },
                { "ErrorEquals": ["States.TaskFailed"],
                "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2 }]);
        }
    }
}

/// What CreateService and UpdateService share: the revision, the count and
/// ECS's `DeploymentConfiguration` for the strategy: a rolling update with
/// the circuit breaker's rollback on, or one that shifts traffic
/// (blue/green, canary, linear: bake times, the lifecycle hooks), whose
/// deployments the circuit breaker and the percentages do not apply to.
fn service_parameters(rollout: &Rollout) -> Map<String, Json> {
    let mut deployment = rollout
        .strategy
        .deployment_configuration(rollout.stop_first);
    if rollout.strategy.shifts_traffic() && !rollout.lifecycle_hooks.is_empty() {
        deployment["LifecycleHooks"] = rollout
            .lifecycle_hooks
            .iter()
            .map(|hook| {
                json!({ "HookTargetArn": hook.function_arn, "RoleArn": hook.role_arn,
                    "LifecycleStages": hook.stages })
            })
            .collect();
    }
    if !rollout.alarms.is_empty() {
        deployment["Alarms"] =
            json!({ "AlarmNames": rollout.alarms, "Enable": true, "Rollback": true });
    }
    let mut out = Map::new();
    out.insert("Cluster".into(), json!(rollout.cluster));
    out.insert("TaskDefinition.$".into(), json!("$.target.Arn"));
    out.insert("DesiredCount".into(), json!(rollout.desired_count));
    out.insert("DeploymentConfiguration".into(), deployment);
    if let Some(strategy) = &rollout.capacity_provider_strategy {
        out.insert("CapacityProviderStrategy".into(), strategy.clone());
    }
    out
}

/// The polling loop all three phases share (rollout, watch, restore): look
/// at the service and its tasks, then decide by phase.
fn poll_loop(add: &mut dyn FnMut(&str, Json), rollout: &Rollout, catch: &Json) {
    let ecs = |action: &str| format!("arn:aws:states:::aws-sdk:ecs:{action}");
    add(
        "Wait",
        json!({ "Type": "Wait", "Seconds": rollout.poll_seconds, "Next": "DescribeService" }),
    );
    add(
        "DescribeService",
        json!({
        "Type": "Task", "Resource": ecs("describeServices"),
        "Parameters": { "Cluster": rollout.cluster, "Services": [rollout.service] },
        "ResultSelector": { "Deployments.$": "$.Services[*].Deployments[*]" },
        "ResultPath": "$.service", "Catch": catch, "Next": "ListRunning" }),
    );
    for (status, name, next) in [
        ("RUNNING", "Running", "ListStopped"),
        ("STOPPED", "Stopped", "AnyRunning?"),
    ] {
        add(
            &format!("List{name}"),
            json!({
            "Type": "Task", "Resource": ecs("listTasks"),
            "Parameters": { "Cluster": rollout.cluster, "ServiceName": rollout.service, "DesiredStatus": status },
            "ResultSelector": { "Arns.$": "$.TaskArns" },
            "ResultPath": format!("$.{}", name.to_lowercase()), "Catch": catch, "Next": next }),
        );
    }
    for (name, next) in [("Running", "AnyStopped?"), ("Stopped", "Select")] {
        let lower = name.to_lowercase();
        add(
            &format!("Any{name}?"),
            json!({
            "Type": "Choice",
            "Choices": [{ "Variable": format!("$.{lower}.Arns[0]"), "IsPresent": true, "Next": format!("Describe{name}") }],
            "Default": format!("No{name}") }),
        );
        add(
            &format!("Describe{name}"),
            json!({
            "Type": "Task", "Resource": ecs("describeTasks"),
            "Parameters": { "Cluster": rollout.cluster, "Tasks.$": format!("$.{lower}.Arns") },
            "ResultSelector": { "Tasks.$": "$.Tasks" },
            "ResultPath": format!("$.{lower}"), "Catch": catch, "Next": next }),
        );
        add(
            &format!("No{name}"),
            json!({
            "Type": "Pass", "Result": { "Tasks": [] }, "ResultPath": format!("$.{lower}"), "Next": next }),
        );
    }
    let healthy = if rollout.health_checked {
        "$.running.Tasks[?(@.TaskDefinitionArn == $.target.Arn && @.LastStatus == 'RUNNING' && @.HealthStatus == 'HEALTHY')].TaskArn"
    } else {
        "$.running.Tasks[?(@.TaskDefinitionArn == $.target.Arn && @.LastStatus == 'RUNNING')].TaskArn"
    };
    add(
        "Select",
        json!({
        "Type": "Pass",
        "Parameters": {
            "phase.$": "$.poll.phase",
            "n.$": "States.MathAdd($.poll.n, 1)",
            "healthy.$": healthy,
            "stopped.$": "$.stopped.Tasks[?(@.TaskDefinitionArn == $.target.Arn)].TaskArn",
            // Tasks whose container health check failed its retries (after
            // its start period): ECS would stop and replace them.
            "unhealthy.$": "$.running.Tasks[?(@.TaskDefinitionArn == $.target.Arn && @.HealthStatus == 'UNHEALTHY')].TaskArn",
            // The look before's: a task whose container exited can be
            // reported UNHEALTHY a look before it is reported stopped (with
            // its exit code), so UNHEALTHY fails the rollout on two looks in
            // a row.
            "unhealthyBefore.$": "$.poll.unhealthy",
            // Why they stopped, in ECS's few words (not the whole task).
            "why.$": "$.stopped.Tasks[?(@.TaskDefinitionArn == $.target.Arn)].StoppedReason",
            "exitCodes.$": "$.stopped.Tasks[?(@.TaskDefinitionArn == $.target.Arn)].Containers[*].ExitCode",
            "failed.$": "$.service.Deployments[?(@.TaskDefinition == $.target.Arn && @.RolloutState == 'FAILED')].Id",
            "primary.$": "$.service.Deployments[?(@.Status == 'PRIMARY')].TaskDefinition" },
        "ResultPath": "$.poll", "Next": "Decide" }),
    );
    let enough = format!("$.poll.healthy[{}]", rollout.desired_count.max(1) - 1);
    let phase = |name: &str| json!({ "Variable": "$.poll.phase", "StringEquals": name });
    let mut choices = vec![
        // The circuit breaker failed the new revision (or moved the service off it).
        json!({ "And": [{ "Not": phase("restore") }, { "Variable": "$.poll.failed[0]", "IsPresent": true }], "Next": "CircuitBreaker" }),
        json!({ "And": [{ "Not": phase("restore") }, { "Variable": "$.poll.primary[0]", "IsPresent": true },
            { "Not": { "Variable": "$.poll.primary[0]", "StringEqualsPath": "$.target.Arn" } }], "Next": "CircuitBreaker" }),
        // Only a revision registered by this execution: one given (a rollback)
        // has tasks that were stopped when the service last left it.
        json!({ "And": [phase("rollout"), { "Not": { "Variable": "$.taskDefinitionArn", "IsPresent": true } },
            { "Variable": "$.poll.stopped[0]", "IsPresent": true }], "Next": "TasksStopped" }),
        json!({ "And": [phase("rollout"), { "Not": { "Variable": "$.taskDefinitionArn", "IsPresent": true } },
            { "Variable": "$.poll.unhealthy[0]", "IsPresent": true },
            { "Variable": "$.poll.unhealthyBefore[0]", "IsPresent": true }], "Next": "TasksUnhealthy" }),
        json!({ "And": [phase("rollout"), { "Variable": enough, "IsPresent": true }], "Next": if rollout.probe.is_some() { "Probe" } else { "Healthy" } }),
        json!({ "And": [phase("rollout"), { "Variable": "$.poll.n", "NumericGreaterThanEquals": rollout.max_polls }], "Next": "NotHealthyInTime" }),
        json!({ "And": [phase("watch"), { "Not": { "Variable": enough, "IsPresent": true } }], "Next": "Unhealthy" }),
        json!({ "And": [phase("restore"), { "Variable": enough, "IsPresent": true }], "Next": "RolledBack" }),
        json!({ "And": [phase("restore"), { "Variable": "$.poll.n", "NumericGreaterThanEquals": rollout.max_polls }], "Next": "RollbackNotHealthy" }),
    ];
    if rollout.probe.is_some() {
        choices.push(json!({ "And": [phase("watch")], "Next": "Probe" }));
    } else {
        choices.extend(watch_end(rollout));
    }
    add(
        "Decide",
        json!({ "Type": "Choice", "Choices": choices, "Default": "Wait" }),
    );
    add("CircuitBreaker", failure("Deploy.CircuitBreaker", &format!("States.Format('the ECS deployment circuit breaker failed revision {{}} of service {} (or moved the service off it)', $.target.Arn)", rollout.service)));
    add("TasksStopped", failure("Deploy.TasksStopped", "States.Format('{} task(s) of revision {} stopped during the rollout (stopped reason: {}; exit codes: {})', States.ArrayLength($.poll.stopped), $.target.Arn, States.JsonToString($.poll.why), States.JsonToString($.poll.exitCodes))"));
    add("TasksUnhealthy", failure("Deploy.Unhealthy", &format!("States.Format('{{}} task(s) of revision {{}} failed their container health check during the rollout (ECS reported them UNHEALTHY on two looks {} s apart)', States.ArrayLength($.poll.unhealthy), $.target.Arn)", rollout.poll_seconds)));
    add("NotHealthyInTime", failure("Deploy.Unhealthy", &format!("States.Format('revision {{}} did not have {} healthy task(s) after {} looks {} s apart', $.target.Arn)", rollout.desired_count, rollout.max_polls, rollout.poll_seconds)));
    add("Unhealthy", failure("Deploy.Unhealthy", &format!("States.Format('revision {{}} fell below {} healthy task(s) during the watch', $.target.Arn)", rollout.desired_count)));
}

/// How a look of the watch ends once the service is healthy: the alarms,
/// else Done after the watch's looks (else the next look).
fn watch_end(rollout: &Rollout) -> Vec<Json> {
    let watch = json!({ "Variable": "$.poll.phase", "StringEquals": "watch" });
    if rollout.alarms.is_empty() {
        vec![
            json!({ "And": [watch, { "Variable": "$.poll.n", "NumericGreaterThanEquals": rollout.watch_polls }], "Next": "Done" }),
        ]
    } else {
        vec![json!({ "And": [watch], "Next": "Alarms" })]
    }
}

/// The HTTP probe: `GET endpoint` through the HTTP Task; the expected
/// status resets the misses and goes on (Healthy in the rollout, the rest
/// of the look in the watch), a miss counts and, past `failures` in a row,
/// rolls back.
fn probe_states(add: &mut dyn FnMut(&str, Json), rollout: &Rollout, probe: &Probe) {
    add(
        "ProbeReset",
        json!({ "Type": "Pass", "Result": { "misses": 0 }, "ResultPath": "$.probe", "Next": "Wait" }),
    );
    add(
        "Probe",
        json!({
        "Type": "Task", "Resource": "arn:aws:states:::http:invoke",
        "Parameters": { "ApiEndpoint": probe.endpoint, "Method": "GET",
            "Authentication": { "ConnectionArn": probe.connection_arn } },
        "TimeoutSeconds": 10,
        "ResultSelector": { "StatusCode.$": "$.StatusCode" }, "ResultPath": "$.probed",
        "Catch": [{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.probeError", "Next": "ProbeMissed" }],
        "Next": "ProbeAnswered?" }),
    );
    add(
        "ProbeAnswered?",
        json!({
        "Type": "Choice",
        "Choices": [{ "Variable": "$.probed.StatusCode", "NumericEquals": probe.status, "Next": "ProbeOk" }],
        "Default": "ProbeMissed" }),
    );
    add(
        "ProbeOk",
        json!({ "Type": "Pass", "Result": { "misses": 0 }, "ResultPath": "$.probe", "Next": "AfterProbe" }),
    );
    let mut after =
        vec![json!({ "Variable": "$.poll.phase", "StringEquals": "rollout", "Next": "Healthy" })];
    after.extend(watch_end(rollout));
    add(
        "AfterProbe",
        json!({ "Type": "Choice", "Choices": after, "Default": "Wait" }),
    );
    add(
        "ProbeMissed",
        json!({
        "Type": "Pass", "Parameters": { "misses.$": "States.MathAdd($.probe.misses, 1)" },
        "ResultPath": "$.probe", "Next": "TooManyMisses?" }),
    );
    add(
        "TooManyMisses?",
        json!({
        "Type": "Choice",
        "Choices": [{ "Variable": "$.probe.misses", "NumericGreaterThan": probe.failures, "Next": "ProbeFailed" }],
        "Default": "Wait" }),
    );
    add("ProbeFailed", failure("Deploy.Probe", &format!("States.Format('the HTTP probe of {} missed {{}} time(s) in a row (expected status {}) with revision {{}}', $.probe.misses, $.target.Arn)", probe.endpoint, probe.status)));
}

/// The cause every end of a failed deploy gives: the error that started
/// it (AWS's own name, such as `Ecs.ClusterNotFoundException`, or a
/// `Deploy.*` of the definition's) and its cause.
const NAMED_CAUSE: &str = "States.Format('{}: {}', $.error.Error, $.error.Cause)";

/// A Pass that records a failure as a Catch would, then rolls back.
fn failure(error: &str, cause: &str) -> Json {
    json!({ "Type": "Pass", "Parameters": { "Error": error, "Cause.$": cause }, "ResultPath": "$.error", "Next": "RollBack" })
}

/// Back to the revision that ran before, waiting until it is healthy; a
/// first deploy (nothing before) is scaled to zero.
fn rollback(add: &mut dyn FnMut(&str, Json), rollout: &Rollout) {
    let ecs = |action: &str| format!("arn:aws:states:::aws-sdk:ecs:{action}");
    let give_up = json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.rollbackError", "Next": "UndoFailed" }]);
    add(
        "UndoFailed",
        json!({
        "Type": "Pass",
        "Parameters": { "Error.$": "$.rollbackError.Error",
            "Cause.$": "States.Format('{} (while undoing {}: {})', $.rollbackError.Cause, $.error.Error, $.error.Cause)" },
        "ResultPath": "$.error", "Next": "RollbackFailed" }),
    );
    add(
        "RollBack",
        json!({
        "Type": "Choice",
        "Choices": [
            // A failure before the rollout began has no phase yet.
            { "And": [{ "Variable": "$.poll.phase", "IsPresent": true },
                { "Variable": "$.poll.phase", "StringEquals": "restore" }], "Next": "RollbackFailed" },
            { "Variable": "$.found.Active[0]", "IsPresent": true, "Next": "RestorePrevious" }],
        "Default": "ScaleToZero" }),
    );
    let mut restore = service_parameters(&Rollout {
        strategy: rollout.strategy.rollback(),
        ..rollout.clone()
    });
    restore.insert("Service".into(), json!(rollout.service));
    restore.insert("TaskDefinition.$".into(), json!("$.found.Active[0]"));
    add(
        "RestorePrevious",
        json!({
        "Type": "Task", "Resource": ecs("updateService"), "Parameters": restore,
        "ResultPath": null, "Catch": give_up, "Next": "StartRestore" }),
    );
    add(
        "StartRestore",
        json!({
        "Type": "Pass", "Parameters": { "Arn.$": "$.found.Active[0]" }, "ResultPath": "$.target", "Next": "RestorePhase" }),
    );
    add(
        "RestorePhase",
        json!({
        "Type": "Pass", "Result": { "phase": "restore", "n": 0, "unhealthy": [] }, "ResultPath": "$.poll", "Next": "Wait" }),
    );
    add(
        "RolledBack",
        json!({ "Type": "Fail", "Error": ROLLED_BACK, "CausePath": NAMED_CAUSE }),
    );
    add(
        "RollbackNotHealthy",
        json!({
        "Type": "Fail", "Error": ROLLBACK_FAILED,
        "CausePath": "States.Format('the service was put back on its previous revision {}, whose tasks did not become healthy in time (after {}: {})', $.target.Arn, $.error.Error, $.error.Cause)" }),
    );
    add(
        "RollbackFailed",
        json!({ "Type": "Fail", "Error": ROLLBACK_FAILED, "CausePath": NAMED_CAUSE }),
    );
    add(
        "ScaleToZero",
        json!({
        "Type": "Task", "Resource": ecs("updateService"),
        "Parameters": { "Cluster": rollout.cluster, "Service": rollout.service, "DesiredCount": 0 },
        "ResultPath": null, "Catch": give_up, "Next": "NotDeployed" }),
    );
    add(
        "NotDeployed",
        json!({ "Type": "Fail", "Error": FAILED, "CausePath": NAMED_CAUSE }),
    );
}

/// The name of the first state of a hook chain, or `next` when it is empty.
fn first_hook(prefix: &str, hooks: &[Hook], next: &str) -> String {
    if hooks.is_empty() {
        next.to_string()
    } else {
        format!("{prefix}Hook1")
    }
}

fn hooks(
    add: &mut dyn FnMut(&str, Json),
    rollout: &Rollout,
    prefix: &str,
    hooks: &[Hook],
    next: &str,
    catch: &Json,
) {
    for (i, hook) in hooks.iter().enumerate() {
        let following = if i + 1 == hooks.len() {
            next.to_string()
        } else {
            format!("{prefix}Hook{}", i + 2)
        };
        let mut state = match hook {
            Hook::Lambda(function) => json!({
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": { "FunctionName": function, "Payload": {
                    "cluster": rollout.cluster, "service": rollout.service,
                    "taskDefinition.$": "$.target.Arn", "stage": prefix } },
                "ResultSelector": { "StatusCode.$": "$.StatusCode" }, "ResultPath": null }),
            Hook::Command { container, command } => {
                let mut parameters = json!({
                    "Cluster": rollout.cluster, "TaskDefinition.$": "$.target.Arn",
                    "Overrides": { "ContainerOverrides": [{ "Name": container, "Command": command }] } });
                if let Some(launch) = &rollout.launch_type {
                    parameters["LaunchType"] = json!(launch);
                }
                if let Some(network) = &rollout.network_configuration {
                    parameters["NetworkConfiguration"] = network.clone();
                }
                json!({ "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
                    "Parameters": parameters, "ResultPath": null })
            }
            Hook::State(state) => state.clone(),
        };
        state["Next"] = json!(following);
        if let Some(fields) = state.as_object_mut() {
            fields.remove("End");
        }
        state["Catch"] = catch.clone();
        add(&format!("{prefix}Hook{}", i + 1), state);
    }
}

#[cfg(test)]
mod failure_paths;
#[cfg(test)]
mod tests;
