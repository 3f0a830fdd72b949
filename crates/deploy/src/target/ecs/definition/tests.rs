//! The definition is valid ASL, calls only AWS resources, and says what
//! CreateService and UpdateService are given.

use serde_json::json;
use windlass_asl::parse::parse_text;

use super::*;

pub(crate) fn rollout() -> Rollout {
    Rollout {
        cluster: "shop".into(),
        service: "web".into(),
        desired_count: 2,
        launch_type: Some("FARGATE".into()),
        capacity_provider_strategy: None,
        network_configuration: Some(json!({ "AwsvpcConfiguration": { "Subnets": ["subnet-1"] } })),
        health_checked: true,
        poll_seconds: 5,
        max_polls: 60,
        watch_polls: 6,
        alarms: vec!["web-5xx".into()],
        strategy: Strategy::Rolling,
        lifecycle_hooks: vec![],
        stop_first: false,
        before_switch: vec![Hook::Lambda("migrate".into())],
        after_switch: vec![Hook::Command {
            container: "web".into(),
            command: vec!["/app".into(), "exit".into(), "0".into()],
        }],
        probe: None,
    }
}

fn resources(value: &Json, out: &mut Vec<String>) {
    match value {
        Json::Object(map) => {
            for (key, inner) in map {
                if key == "Resource" {
                    out.push(inner.as_str().unwrap_or_default().to_string());
                }
                resources(inner, out);
            }
        }
        Json::Array(items) => items.iter().for_each(|i| resources(i, out)),
        _ => {}
    }
}

#[test]
fn the_definition_is_valid_asl_of_aws_resources_only() {
    for rollout in [
        rollout(),
        Rollout {
            alarms: vec![],
            before_switch: vec![],
            after_switch: vec![],
            watch_polls: 0,
            ..rollout()
        },
    ] {
        let definition = deploy(&rollout);
        let text = serde_json::to_string_pretty(&definition).expect("json");
        if let Err(diagnostics) = parse_text(&text).valid() {
            panic!("invalid: {diagnostics:?}\n{text}");
        }
        let mut found = Vec::new();
        resources(&definition, &mut found);
        assert!(!found.is_empty());
        for resource in found {
            assert!(
                resource.starts_with("arn:aws:states:::"),
                "{resource} is not an AWS integration"
            );
            assert!(!resource.contains("windlass"), "{resource}");
        }
    }
}

#[test]
fn the_service_gets_the_circuit_breaker_with_rollback() {
    let definition = deploy(&rollout());
    let update = &definition["States"]["UpdateService"]["Parameters"];
    assert_eq!(update["Service"], "web");
    assert_eq!(update["TaskDefinition.$"], "$.target.Arn");
    assert_eq!(
        update["DeploymentConfiguration"]["DeploymentCircuitBreaker"],
        json!({ "Enable": true, "Rollback": true })
    );
    assert_eq!(
        update["DeploymentConfiguration"]["Alarms"]["AlarmNames"],
        json!(["web-5xx"])
    );
    let create = &definition["States"]["CreateService"]["Parameters"];
    assert_eq!(create["ServiceName"], "web");
    assert_eq!(create["LaunchType"], "FARGATE");
    assert_eq!(create["DesiredCount"], 2);
    let restore = &definition["States"]["RestorePrevious"]["Parameters"];
    assert_eq!(restore["TaskDefinition.$"], "$.found.Active[0]");
    assert_eq!(definition["States"]["RolledBack"]["Error"], ROLLED_BACK);
    // Two healthy tasks are needed: the second's index is looked for.
    let decide = definition["States"]["Decide"].to_string();
    assert!(decide.contains("$.poll.healthy[1]"), "{decide}");
}

#[test]
fn hooks_run_before_and_after_the_switch_and_fail_into_the_rollback() {
    let definition = deploy(&rollout());
    let states = &definition["States"];
    assert_eq!(states["Register"]["Next"], "BeforeSwitchHook1");
    assert_eq!(
        states["BeforeSwitchHook1"]["Resource"],
        "arn:aws:states:::lambda:invoke"
    );
    assert_eq!(states["BeforeSwitchHook1"]["Next"], "ServiceExists?");
    // A failed hook before the switch leaves the service where it was:
    // rolled back when it ran a revision, not deployed on a first deploy.
    assert_eq!(
        states["BeforeSwitchHook1"]["Catch"][0]["Next"],
        "BeforeSwitchFailed"
    );
    assert_eq!(
        states["BeforeSwitchFailed"]["Choices"][0]["Next"],
        "KeptPrevious"
    );
    assert_eq!(states["BeforeSwitchFailed"]["Default"], "NotDeployed");
    assert_eq!(states["KeptPrevious"]["Next"], "RolledBack");
    assert_eq!(states["Healthy"]["Next"], "AfterSwitchHook1");
    assert_eq!(
        states["AfterSwitchHook1"]["Resource"],
        "arn:aws:states:::ecs:runTask.sync"
    );
    assert_eq!(states["AfterSwitchHook1"]["Catch"][0]["Next"], "RollBack");
    assert_eq!(states["AfterSwitchHook1"]["Next"], "StartWatch");
}

#[test]
fn stop_first_sets_the_rolling_update_percentages() {
    let definition = deploy(&Rollout {
        stop_first: true,
        ..rollout()
    });
    let config = &definition["States"]["UpdateService"]["Parameters"]["DeploymentConfiguration"];
    assert_eq!(config["MinimumHealthyPercent"], 0);
    assert_eq!(config["MaximumPercent"], 100);
    assert_eq!(
        config["DeploymentCircuitBreaker"],
        json!({ "Enable": true, "Rollback": true })
    );
}

/// ECS's `DeploymentConfiguration`: the circuit breaker and the
/// percentages apply to rolling updates only; blue/green takes a bake time
/// and lifecycle hooks (`HookTargetArn`, `RoleArn`, `LifecycleStages`).
/// The rollback is the same UpdateService with the same configuration, so
/// ECS shifts the traffic back as a blue/green deployment.
#[test]
fn blue_green_sets_the_strategy_bake_time_and_lifecycle_hooks_everywhere() {
    let hook = LifecycleHook {
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:smoke".into(),
        role_arn: "arn:aws:iam::123456789012:role/ecs-hooks".into(),
        stages: vec!["POST_PRODUCTION_TRAFFIC_SHIFT".into()],
    };
    let definition = deploy(&Rollout {
        strategy: Strategy::BlueGreen { bake_minutes: 10 },
        lifecycle_hooks: vec![hook],
        before_switch: vec![],
        after_switch: vec![],
        ..rollout()
    });
    for state in ["CreateService", "UpdateService", "RestorePrevious"] {
        let config = &definition["States"][state]["Parameters"]["DeploymentConfiguration"];
        assert_eq!(
            config,
            &json!({ "Strategy": "BLUE_GREEN", "BakeTimeInMinutes": 10,
                "LifecycleHooks": [{ "HookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:smoke",
                    "RoleArn": "arn:aws:iam::123456789012:role/ecs-hooks",
                    "LifecycleStages": ["POST_PRODUCTION_TRAFFIC_SHIFT"] }],
                "Alarms": { "AlarmNames": ["web-5xx"], "Enable": true, "Rollback": true } }),
            "{state}"
        );
    }
    let text = definition.to_string();
    assert!(
        !text.contains("lambda:invoke"),
        "ECS invokes the hooks, the definition does not"
    );
}

#[test]
fn an_interrupted_aws_call_is_made_again_and_create_service_is_idempotent() {
    let definition = deploy(&rollout());
    let states = definition["States"].as_object().expect("states");
    for (name, state) in states {
        let resource = state["Resource"].as_str().unwrap_or_default();
        let retried = state["Retry"]
            .as_array()
            .and_then(|r| r.last())
            .is_some_and(|r| r["ErrorEquals"] == json!(["States.TaskFailed"]));
        if resource.starts_with("arn:aws:states:::aws-sdk:")
            || resource == "arn:aws:states:::lambda:invoke"
        {
            assert!(
                retried,
                "{name} ({resource}) is retried after an interruption"
            );
        }
        if resource == "arn:aws:states:::ecs:runTask.sync" {
            assert!(!retried, "{name}: a command hook runs once");
        }
    }
    assert_eq!(
        states["CreateService"]["Parameters"]["ClientToken.$"],
        "States.Hash($$.Execution.Id, 'MD5')"
    );
}

#[test]
fn the_http_probe_gates_healthy_and_rolls_back_past_its_failures() {
    let definition = deploy(&Rollout {
        probe: Some(Probe {
            endpoint: "http://127.0.0.1:8080/version".into(),
            status: 200,
            failures: 1,
            connection_arn: "arn:aws:events:us-east-1:000000000000:connection/p/1".into(),
        }),
        ..rollout()
    });
    let text = serde_json::to_string(&definition).expect("json");
    assert!(parse_text(&text).valid().is_ok(), "valid ASL");
    let states = &definition["States"];
    assert_eq!(states["Probe"]["Resource"], "arn:aws:states:::http:invoke");
    assert_eq!(
        states["Probe"]["Parameters"]["Authentication"]["ConnectionArn"],
        "arn:aws:events:us-east-1:000000000000:connection/p/1"
    );
    assert_eq!(states["StartRollout"]["Next"], "ProbeReset");
    assert_eq!(
        states["TooManyMisses?"]["Choices"][0]["NumericGreaterThan"],
        1
    );
    assert_eq!(states["ProbeFailed"]["Next"], "RollBack");
    let decide = states["Decide"]["Choices"].to_string();
    assert!(
        !decide.contains("\"Healthy\""),
        "healthy only through the probe: {decide}"
    );
}

/// The blue/green UpdateService is what botocore's ECS model takes: the
/// `aws-sdk:` wire code refuses a parameter the model does not have and
/// writes each under ECS's own (camelCase) name.
#[test]
fn the_blue_green_update_is_a_request_ecs_model_takes() {
    use windlass_aws::model::Model;
    use windlass_aws::Service;

    let definition = deploy(&Rollout {
        strategy: Strategy::BlueGreen { bake_minutes: 10 },
        lifecycle_hooks: vec![LifecycleHook {
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:gate".into(),
            role_arn: "arn:aws:iam::123456789012:role/ecs-hooks".into(),
            stages: vec!["PRE_PRODUCTION_TRAFFIC_SHIFT".into()],
        }],
        ..rollout()
    });
    let mut parameters = definition["States"]["UpdateService"]["Parameters"].clone();
    let fields = parameters.as_object_mut().expect("an object");
    fields.remove("TaskDefinition.$");
    fields.insert(
        "TaskDefinition".into(),
        json!("arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"),
    );
    let model = Model::of(Service::named("ecs").expect("ecs")).expect("model");
    let operation = model.operation("updateService").expect("updateService");
    let request = windlass_aws::protocol::request(&model, &operation, &parameters)
        .expect("ECS's model takes every parameter");
    let body: Json = serde_json::from_slice(&request.body).expect("JSON");
    let config = &body["deploymentConfiguration"];
    assert_eq!(config["strategy"], "BLUE_GREEN");
    assert_eq!(config["bakeTimeInMinutes"], 10);
    assert_eq!(
        config["lifecycleHooks"],
        json!([{ "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:gate",
            "roleArn": "arn:aws:iam::123456789012:role/ecs-hooks",
            "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"] }])
    );
    assert!(config.get("deploymentCircuitBreaker").is_none());
}

/// The UpdateService request a rollout sends, as the `aws-sdk:` wire code
/// writes it from botocore's ECS model (which refuses a parameter it does
/// not have): ECS's own strategy, its configuration (percentages as
/// Doubles), the bake time, the alarms, and no circuit breaker; the
/// rollback's is blue/green (all the traffic back at once).
fn update_request(strategy: Strategy) -> Json {
    use windlass_aws::model::Model;
    use windlass_aws::Service;

    let definition = deploy(&Rollout {
        strategy,
        ..rollout()
    });
    let mut parameters = definition["States"]["UpdateService"]["Parameters"].clone();
    // The rollback moves all the traffic back at once.
    let back = &definition["States"]["RestorePrevious"]["Parameters"]["DeploymentConfiguration"];
    assert_eq!(back["Strategy"], "BLUE_GREEN", "{back}");
    assert_eq!(
        back["BakeTimeInMinutes"],
        parameters["DeploymentConfiguration"]["BakeTimeInMinutes"]
    );
    let fields = parameters.as_object_mut().expect("an object");
    fields.remove("TaskDefinition.$");
    fields.insert(
        "TaskDefinition".into(),
        json!("arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"),
    );
    let model = Model::of(Service::named("ecs").expect("ecs")).expect("model");
    let operation = model.operation("updateService").expect("updateService");
    let request = windlass_aws::protocol::request(&model, &operation, &parameters)
        .expect("ECS's model takes every parameter");
    let body: Json = serde_json::from_slice(&request.body).expect("JSON");
    body["deploymentConfiguration"].clone()
}

#[test]
fn a_canary_rollout_is_ecs_canary_strategy_in_the_request() {
    let config = update_request(Strategy::Canary {
        percent: 10,
        canary_bake_minutes: 2,
        bake_minutes: 5,
    });
    assert_eq!(
        config,
        json!({ "strategy": "CANARY", "bakeTimeInMinutes": 5,
            "canaryConfiguration": { "canaryPercent": 10.0, "canaryBakeTimeInMinutes": 2 },
            "alarms": { "alarmNames": ["web-5xx"], "enable": true, "rollback": true } })
    );
}

#[test]
fn a_linear_rollout_is_ecs_linear_strategy_in_the_request() {
    let config = update_request(Strategy::Linear {
        step_percent: 20,
        step_bake_minutes: 1,
        bake_minutes: 3,
    });
    assert_eq!(
        config,
        json!({ "strategy": "LINEAR", "bakeTimeInMinutes": 3,
            "linearConfiguration": { "stepPercent": 20.0, "stepBakeTimeInMinutes": 1 },
            "alarms": { "alarmNames": ["web-5xx"], "enable": true, "rollback": true } })
    );
}
