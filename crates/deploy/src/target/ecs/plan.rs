//! From a Compose service and its `x-windlass.ecs` to what the ECS deploy
//! needs: the rollout the definition is written for, the task definition's
//! family and log group, the ECR repository, and the key its releases have
//! in the store.

use std::time::Duration;

use serde_json::{Map, Value as Json};

use super::definition::{Hook, LifecycleHook, Probe as DefinitionProbe, Rollout};
use super::strategy::{self, Strategy, DEFAULT_BAKE_MINUTES};
use super::task_definition::{self, Container, Refusal, Task};
use crate::compose::{Order, Service};
use windlass_store::releases::{ecs_app, ServiceKey};

/// Where one Compose service goes on ECS.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The Compose service.
    pub name: String,
    /// The service's releases in the store: `ecs/CLUSTER/SERVICE`, apart
    /// from the Docker target's releases of the same Compose service.
    pub key: ServiceKey,
    pub repository: String,
    pub family: String,
    pub log_group: String,
    pub region: String,
    pub rollout: Rollout,
}

/// How long the watch lasts when `x-windlass.watch` is not given.
const WATCH: Duration = Duration::from_secs(30);

/// The store key of service `name`'s ECS releases (`ecs/CLUSTER/SERVICE`),
/// the one [`plan`] gives it; `None` when its `x-windlass.ecs.service`
/// cannot be one.
pub fn store_key(name: &str, service: &Service) -> Option<ServiceKey> {
    let ecs = &service.windlass.ecs;
    let cluster = ecs.cluster.as_deref().unwrap_or("default");
    let ecs_service = ecs.service.as_deref().unwrap_or(name);
    ServiceKey::new(ecs_app(cluster), ecs_service).ok()
}

/// The plan for service `name`, or every refusal of its settings.
pub fn plan(name: &str, service: &Service, region: &str) -> Result<Plan, Vec<Refusal>> {
    let ecs = &service.windlass.ecs;
    let refuse = |field: &str, reason: &str| Refusal {
        service: name.into(),
        field: field.into(),
        reason: reason.into(),
    };
    let mut refusals = Vec::new();
    let cluster = ecs.cluster.clone().unwrap_or_else(|| "default".into());
    let ecs_service = ecs.service.clone().unwrap_or_else(|| name.into());
    let poll_seconds = ecs.poll_seconds.unwrap_or(5).max(1);
    let watch = service.windlass.watch.unwrap_or(WATCH);
    let health_checked = service.healthcheck.as_ref().is_some_and(|h| {
        !h.disable
            && h.test
                .as_ref()
                .is_some_and(|t| t.first().map(String::as_str) != Some("NONE"))
    });
    let bake_minutes = ecs.bake_time_minutes.unwrap_or(DEFAULT_BAKE_MINUTES);
    let strategy = match (ecs.strategy.as_deref(), &service.windlass.rollout) {
        (None, Some(rollout)) => strategy::of_rollout(rollout, bake_minutes)
            .map_err(|refused| {
                for (key, reason) in refused {
                    refusals.push(refuse(&format!("x-windlass.{key}"), &reason));
                }
            })
            .unwrap_or(Strategy::Rolling),
        (Some(_), Some(_)) => {
            refusals.push(refuse("x-windlass.ecs.strategy", "`x-windlass.rollout` is ECS's CANARY or LINEAR strategy: remove `strategy`, or remove the rollout for a rolling or blue/green deployment"));
            Strategy::Rolling
        }
        (None | Some("rolling"), None) => Strategy::Rolling,
        (Some("blue_green"), None) => Strategy::BlueGreen { bake_minutes },
        (Some(_), None) => {
            refusals.push(refuse("x-windlass.ecs.strategy", "write `rolling` (ECS's rolling update, the default) or `blue_green` (ECS's blue/green deployment); a canary or linear deployment is `x-windlass.rollout`"));
            Strategy::Rolling
        }
    };
    // ECS shifts the traffic and bakes after the new tasks run, and rolls
    // back by its alarms in that time: the watch lasts at least as long.
    let watch = match strategy {
        Strategy::Canary { .. } | Strategy::Linear { .. } => watch.max(strategy.shift_time()),
        _ => watch,
    };
    let watch_polls = watch.as_secs().div_ceil(u64::from(poll_seconds)) as u32;
    let order = service.deploy.update_config.as_ref().and_then(|u| u.order);
    let stop_first = service.windlass.exclusive || order == Some(Order::StopFirst);
    let launch_type = match (&ecs.launch_type, &ecs.capacity_provider_strategy) {
        (Some(_), Some(_)) => {
            refusals.push(refuse(
                "x-windlass.ecs.launchType",
                "ECS takes a launch type or a capacity provider strategy, not both",
            ));
            None
        }
        (Some(launch), None) => Some(launch.clone()),
        (None, Some(_)) => None,
        (None, None) => Some("FARGATE".into()),
    };
    let mut before_switch: Vec<Hook> = ecs
        .lambda_hooks
        .before_switch
        .iter()
        .cloned()
        .map(Hook::Lambda)
        .collect();
    let mut after_switch: Vec<Hook> = ecs
        .lambda_hooks
        .after_switch
        .iter()
        .cloned()
        .map(Hook::Lambda)
        .collect();
    for (hooks, into) in [
        (&service.windlass.hooks.before_switch, &mut before_switch),
        (&service.windlass.hooks.after_switch, &mut after_switch),
    ] {
        for hook in hooks {
            match (&hook.command, &hook.state, &hook.lambda) {
                (Some(command), _, _) => into.push(Hook::Command {
                    container: name.into(),
                    command: command.clone(),
                }),
                (None, Some(state), _) => into.push(Hook::State(state.clone())),
                (None, None, Some(function)) => into.push(Hook::Lambda(function.clone())),
                (None, None, None) => {}
            }
        }
    }
    let lifecycle_hooks = if strategy.shifts_traffic() {
        lifecycle(
            &mut before_switch,
            &mut after_switch,
            ecs.hook_role_arn.as_deref(),
        )
        .map_err(|(field, reason)| refusals.push(refuse(field, &reason)))
        .unwrap_or_default()
    } else {
        Vec::new()
    };
    let probe = ecs.probe.as_ref().map(|probe| {
        let status = probe.status.unwrap_or(200);
        if !(200..300).contains(&status) {
            refusals.push(refuse(
                "x-windlass.ecs.probe.status",
                "the HTTP Task fails on any status outside 2xx: expect a 2xx status",
            ));
        }
        let path = probe.path.as_deref().unwrap_or("/");
        DefinitionProbe {
            endpoint: format!(
                "{}/{}",
                probe.url.trim_end_matches('/'),
                path.trim_start_matches('/')
            ),
            status,
            failures: probe.failures.unwrap_or(0),
            connection_arn: probe.connection_arn.clone().unwrap_or_else(|| {
                format!("arn:aws:events:{region}:000000000000:connection/windlass-probe-{ecs_service}/windlass")
            }),
        }
    });
    if !refusals.is_empty() {
        return Err(refusals);
    }
    // The rollout's alarms are ECS's deployment alarms as the service's are.
    let mut alarms = ecs.alarms.clone();
    for alarm in service
        .windlass
        .rollout
        .iter()
        .flat_map(|r| &r.analysis.alarms)
    {
        if !alarms.contains(alarm) {
            alarms.push(alarm.clone());
        }
    }
    Ok(Plan {
        name: name.into(),
        key: ServiceKey::new(ecs_app(&cluster), ecs_service.as_str())
            .map_err(|e| vec![refuse("x-windlass.ecs.service", &e.to_string())])?,
        repository: ecs
            .repository
            .clone()
            .unwrap_or_else(|| ecs_service.clone()),
        family: ecs.family.clone().unwrap_or_else(|| ecs_service.clone()),
        log_group: ecs
            .log_group
            .clone()
            .unwrap_or_else(|| format!("/windlass/{ecs_service}")),
        region: region.into(),
        rollout: Rollout {
            cluster,
            service: ecs_service,
            desired_count: ecs.desired_count.or(service.deploy.replicas).unwrap_or(1),
            launch_type,
            capacity_provider_strategy: ecs.capacity_provider_strategy.as_ref().map(pascal),
            network_configuration: ecs.network_configuration.as_ref().map(pascal),
            health_checked,
            poll_seconds,
            max_polls: ecs.max_polls.unwrap_or(60),
            watch_polls,
            alarms,
            strategy,
            lifecycle_hooks,
            stop_first,
            before_switch,
            after_switch,
            probe,
        },
    })
}

/// With ECS's blue/green strategy, the Lambda hooks are ECS's own lifecycle
/// hooks: taken out of `before` and `after` (the definition's states) and
/// returned as hooks of the stages before and after the production traffic
/// shift, which ECS invokes with the role `role`. ECS needs each function's
/// ARN and the role; what is missing is the field at fault and why.
fn lifecycle(
    before: &mut Vec<Hook>,
    after: &mut Vec<Hook>,
    role: Option<&str>,
) -> Result<Vec<LifecycleHook>, (&'static str, String)> {
    let mut out = Vec::new();
    for (hooks, stage) in [
        (before, "PRE_PRODUCTION_TRAFFIC_SHIFT"),
        (after, "POST_PRODUCTION_TRAFFIC_SHIFT"),
    ] {
        let mut kept = Vec::new();
        for hook in hooks.drain(..) {
            let Hook::Lambda(function) = hook else {
                kept.push(hook);
                continue;
            };
            if !function.starts_with("arn:") {
                return Err(("x-windlass.ecs.lambdaHooks", format!("with ECS's blue/green, canary or linear strategy ECS invokes the Lambda hooks itself and needs each function's ARN: write arn:aws:lambda:REGION:ACCOUNT:function:{function}")));
            }
            let role = role.ok_or((
                "x-windlass.ecs.hookRoleArn",
                "with ECS's blue/green, canary or linear strategy and Lambda hooks, give the IAM role ECS assumes to invoke them (it needs lambda:InvokeFunction)".to_string(),
            ))?;
            out.push(LifecycleHook {
                function_arn: function,
                role_arn: role.into(),
                stages: vec![stage.into()],
            });
        }
        *hooks = kept;
    }
    Ok(out)
}

/// Every refusal of service `name` on ECS: its settings, its task
/// definition (mapped with a stand-in image) and what AWS would refuse
/// ([`aws_would_refuse`]); what `windlass validate` reports.
pub fn check(name: &str, service: &Service, region: &str) -> Vec<Refusal> {
    let mut refusals = match plan(name, service, region) {
        Ok(plan) => plan
            .task_definition(service, "IMAGE")
            .err()
            .unwrap_or_default(),
        Err(refusals) => refusals,
    };
    refusals.extend(aws_would_refuse(name, service));
    refusals
}

/// What AWS itself would refuse of `service`'s ECS settings, each with
/// what to add: a task of network mode `awsvpc` (the default, and the only
/// one Fargate has) without `networkConfiguration`, whose subnets
/// CreateService needs; a Fargate task without an execution role, which
/// it needs to pull its image from ECR and to send `awslogs` logs.
/// Checked by a deploy (before anything is done), its dry run and
/// `windlass validate`, not when an older release is rolled back to.
pub fn aws_would_refuse(name: &str, service: &Service) -> Vec<Refusal> {
    let ecs = &service.windlass.ecs;
    let refuse = |field: &str, reason: &str| Refusal {
        service: name.into(),
        field: field.into(),
        reason: reason.into(),
    };
    let fargate = ecs.capacity_provider_strategy.is_none()
        && ecs.launch_type.as_deref().unwrap_or("FARGATE") == "FARGATE";
    let mut refusals = Vec::new();
    let awsvpc = ecs.network_mode.as_deref().unwrap_or("awsvpc") == "awsvpc";
    if awsvpc && ecs.network_configuration.is_none() {
        refusals.push(refuse(
            "x-windlass.ecs.networkConfiguration",
            "a task of network mode awsvpc (the default, and the only one FARGATE has) needs its subnets, which ECS does not choose: add `networkConfiguration: { awsvpcConfiguration: { subnets: [subnet-...], securityGroups: [sg-...], assignPublicIp: ENABLED } }` (`aws ec2 describe-subnets --filters Name=default-for-az,Values=true` lists the default VPC's, the ones the AWS console picks); on EC2 instances, `launchType: EC2` with `networkMode: bridge` needs none",
        ));
    }
    if fargate && ecs.execution_role_arn.is_none() && ecs.task_definition.is_none() {
        refusals.push(refuse(
            "x-windlass.ecs.executionRoleArn",
            "a FARGATE task pulls its image from ECR and sends its awslogs logs with the task execution role: add `executionRoleArn: arn:aws:iam::ACCOUNT:role/ecsTaskExecutionRole` (the role the AWS console creates, with the AmazonECSTaskExecutionRolePolicy policy)",
        ));
    }
    refusals
}

impl Plan {
    /// RegisterTaskDefinition's input for this service running `image`
    /// (pinned by digest): mapped from Compose, or read from the task
    /// definition file `x-windlass.ecs.taskDefinition` names.
    pub fn task_definition(&self, service: &Service, image: &str) -> Result<Json, Vec<Refusal>> {
        if let Some(path) = &service.windlass.ecs.task_definition {
            return from_file(&self.name, path, image);
        }
        let task = Task {
            family: &self.family,
            settings: &service.windlass.ecs,
            region: &self.region,
            log_group: &self.log_group,
        };
        task_definition::map(
            &task,
            &[Container {
                name: &self.name,
                service,
                image,
            }],
        )
    }
}

/// A task definition file in AWS's documented format (camelCase, as
/// `aws ecs register-task-definition --cli-input-json` takes it) as
/// RegisterTaskDefinition's PascalCase input, the container named after the
/// service (else the first) given `image`.
pub fn from_file(name: &str, path: &std::path::Path, image: &str) -> Result<Json, Vec<Refusal>> {
    let refusal = |reason: String| {
        vec![Refusal {
            service: name.into(),
            field: "x-windlass.ecs.taskDefinition".into(),
            reason,
        }]
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| refusal(format!("cannot read {}: {e}", path.display())))?;
    let value: Json = serde_json::from_str(&text)
        .map_err(|e| refusal(format!("{} is not JSON: {e}", path.display())))?;
    let mut out = pascal(&value);
    let Some(containers) = out
        .get_mut("ContainerDefinitions")
        .and_then(Json::as_array_mut)
    else {
        return Err(refusal(format!(
            "{} has no containerDefinitions",
            path.display()
        )));
    };
    let index = containers
        .iter()
        .position(|c| c["Name"] == name)
        .unwrap_or(0);
    match containers.get_mut(index) {
        Some(container) => container["Image"] = Json::String(image.into()),
        None => {
            return Err(refusal(format!(
                "{}'s containerDefinitions is empty",
                path.display()
            )))
        }
    }
    Ok(out)
}

/// camelCase keys to PascalCase, except inside maps whose keys are the
/// user's (`options`, `dockerLabels`).
fn pascal(value: &Json) -> Json {
    const USER_MAPS: &[&str] = &["options", "dockerLabels", "labels", "driverOpts"];
    match value {
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(key, inner)| {
                    let mut chars = key.chars();
                    let upper = chars
                        .next()
                        .map(|c| c.to_uppercase().chain(chars).collect())
                        .unwrap_or_default();
                    let inner = if USER_MAPS.contains(&key.as_str()) {
                        inner.clone()
                    } else {
                        pascal(inner)
                    };
                    (upper, inner)
                })
                .collect::<Map<_, _>>(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(pascal).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::compose;

    #[test]
    fn settings_come_from_x_windlass_ecs_with_ecs_names() {
        let text = "services:\n  web:\n    image: r/web:1\n    deploy: { replicas: 3 }\n    x-windlass:\n      watch: 12s\n      ecs: { cluster: shop, service: shop-web, launchType: EC2, pollSeconds: 2, alarms: [web-5xx], lambdaHooks: { beforeSwitch: [migrate] } }\n";
        let project = compose::parse(text, Path::new("/tmp/compose.yaml")).expect("valid");
        let plan = plan("web", &project.services["web"], "eu-west-1").expect("plans");
        assert_eq!(plan.key.to_string(), "ecs/shop/shop-web");
        assert_eq!(
            store_key("web", &project.services["web"]).as_ref(),
            Some(&plan.key)
        );
        assert_eq!(plan.repository, "shop-web");
        assert_eq!(plan.rollout.desired_count, 3);
        assert_eq!(plan.rollout.launch_type.as_deref(), Some("EC2"));
        assert_eq!(plan.rollout.watch_polls, 6);
        assert_eq!(
            plan.rollout.before_switch,
            vec![Hook::Lambda("migrate".into())]
        );
    }

    #[test]
    fn with_blue_green_the_lambda_hooks_are_ecs_lifecycle_hooks() {
        let text = "services:\n  web:\n    image: r/web:1\n    x-windlass:\n      hooks:\n        after_switch: [{ lambda: \"arn:aws:lambda:us-east-1:1:function:smoke\" }, { command: [/app, exit, \"0\"] }]\n      ecs: { strategy: blue_green, bakeTimeMinutes: 2, hookRoleArn: \"arn:aws:iam::1:role/hooks\", lambdaHooks: { beforeSwitch: [\"arn:aws:lambda:us-east-1:1:function:gate\"] } }\n";
        let project = compose::parse(text, Path::new("/tmp/compose.yaml")).expect("valid");
        let plan = plan("web", &project.services["web"], "us-east-1").expect("plans");
        assert_eq!(
            plan.rollout.strategy,
            Strategy::BlueGreen { bake_minutes: 2 }
        );
        let stages: Vec<(&str, &str)> = plan
            .rollout
            .lifecycle_hooks
            .iter()
            .map(|h| (h.function_arn.as_str(), h.stages[0].as_str()))
            .collect();
        assert_eq!(
            stages,
            [
                (
                    "arn:aws:lambda:us-east-1:1:function:gate",
                    "PRE_PRODUCTION_TRAFFIC_SHIFT"
                ),
                (
                    "arn:aws:lambda:us-east-1:1:function:smoke",
                    "POST_PRODUCTION_TRAFFIC_SHIFT"
                )
            ]
        );
        assert!(plan.rollout.before_switch.is_empty());
        assert!(matches!(
            plan.rollout.after_switch.as_slice(),
            [Hook::Command { .. }]
        ));

        let named = text.replace("arn:aws:lambda:us-east-1:1:function:gate", "gate");
        let project = compose::parse(&named, Path::new("/tmp/compose.yaml")).expect("valid");
        let refused =
            super::plan("web", &project.services["web"], "us-east-1").expect_err("refused");
        assert_eq!(refused[0].field, "x-windlass.ecs.lambdaHooks");
        assert!(
            refused[0].reason.contains("function:gate"),
            "{}",
            refused[0].reason
        );
        let roleless = text.replace("hookRoleArn: \"arn:aws:iam::1:role/hooks\", ", "");
        let project = compose::parse(&roleless, Path::new("/tmp/compose.yaml")).expect("valid");
        let refused =
            super::plan("web", &project.services["web"], "us-east-1").expect_err("refused");
        assert_eq!(refused[0].field, "x-windlass.ecs.hookRoleArn");
    }

    #[test]
    fn a_rollout_is_ecs_canary_with_its_alarms_and_a_watch_as_long_as_the_shift() {
        let text = "services:\n  web:\n    image: r/web:1\n    ports: [\"8080:8080\"]\n    x-windlass:\n      rollout:\n        weight: 10\n        interval: 2m\n        analysis: { alarms: [web-5xx, web-p99] }\n      ecs: { alarms: [web-5xx], bakeTimeMinutes: 3, pollSeconds: 10 }\n";
        let project = compose::parse(text, Path::new("/tmp/compose.yaml")).expect("valid");
        let plan = plan("web", &project.services["web"], "us-east-1").expect("plans");
        assert_eq!(
            plan.rollout.strategy,
            Strategy::Canary {
                percent: 10,
                canary_bake_minutes: 2,
                bake_minutes: 3
            }
        );
        assert_eq!(plan.rollout.alarms, ["web-5xx", "web-p99"]);
        // 2 min of canary and 3 of bake, looked at every 10 s.
        assert_eq!(plan.rollout.watch_polls, 30);
    }

    #[test]
    fn what_ecs_cannot_do_of_a_rollout_is_refused_at_its_line() {
        let text = "services:\n  web:\n    image: r/web:1\n    ports: [\"8080:8080\"]\n    x-windlass:\n      rollout:\n        weight: 10\n        sticky:\n          cookie: release\n        analysis:\n          max_p99_ratio: 2\n";
        let project = compose::parse(text, Path::new("/tmp/compose.yaml")).expect("valid");
        let refused = plan("web", &project.services["web"], "us-east-1").expect_err("refused");
        let located: Vec<String> = refused
            .iter()
            .map(|r| r.located(Path::new("compose.yaml"), text))
            .collect();
        assert!(
            located[0].starts_with(
                "compose.yaml:8:9: services.web.x-windlass.rollout.sticky: ECS shifts traffic"
            ),
            "{}",
            located[0]
        );
        assert!(
            located[1].starts_with("compose.yaml:11:11: services.web.x-windlass.rollout.analysis.max_p99_ratio: windlass measures this on its own proxy"),
            "{}",
            located[1]
        );
        let both = text.replace(
            "    x-windlass:\n",
            "    x-windlass:\n      ecs: { strategy: blue_green }\n",
        );
        let project = compose::parse(&both, Path::new("/tmp/compose.yaml")).expect("valid");
        let refused = plan("web", &project.services["web"], "us-east-1").expect_err("refused");
        assert_eq!(refused[0].field, "x-windlass.ecs.strategy");
    }

    #[test]
    fn a_task_definition_file_in_aws_format_is_read_with_the_pushed_image() {
        let path = std::env::temp_dir().join(format!("windlass-td-{}.json", std::process::id()));
        std::fs::write(&path, json!({ "family": "web", "containerDefinitions": [
            { "name": "web", "image": "placeholder", "logConfiguration": { "logDriver": "awslogs", "options": { "awslogs-group": "g" } } }] }).to_string()).expect("write");
        let out = from_file("web", &path, "r/web@sha256:1").expect("reads");
        std::fs::remove_file(&path).ok();
        assert_eq!(out["Family"], "web");
        assert_eq!(out["ContainerDefinitions"][0]["Image"], "r/web@sha256:1");
        assert_eq!(
            out["ContainerDefinitions"][0]["LogConfiguration"]["Options"]["awslogs-group"],
            "g"
        );
    }
}
