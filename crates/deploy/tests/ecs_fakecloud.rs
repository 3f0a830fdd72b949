//! A full ECS rollout with real containers on fakecloud (its ECS runs each
//! task as a Docker container pulled from its own ECR): the test app is
//! built locally from its static binary, pushed to fakecloud's ECR with
//! GetAuthorizationToken's credentials and pinned by digest; v1 and v2 are
//! deployed, a v3 whose container exits is rolled back to v2, and an
//! explicit rollback puts v1 back; an HTTP probe that misses, a CloudWatch
//! alarm that goes into ALARM during the watch and a Lambda hook that fails
//! each roll back. Every outcome is checked by requests to the running
//! container's published loopback port.

mod support;

use serde_json::{json, Value as Json};
use support::ecs::{compose, compose_with, version_of, Rig, CLUSTER, KEY};
use support::free_port;
use windlass_engine::Status;
use windlass_store::releases::{Outcome, Releases};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_v1_v2_rolls_back_a_failing_v3_and_rolls_back_to_v1_on_real_containers() {
    let rig = Rig::start("ecs-fakecloud").await;
    let client = &rig.cloud.client;

    let v1 = rig
        .deploy("deploy v1", &compose("v1", free_port(), false))
        .await;
    assert_eq!(v1.status, Status::Succeeded, "{:?}", v1.error);
    let r1 = v1.revision.clone().expect("v1's revision");
    assert_eq!(version_of(client, &r1).await, "v1");

    let v2 = rig
        .deploy("deploy v2", &compose("v2", free_port(), false))
        .await;
    assert_eq!(v2.status, Status::Succeeded, "{:?}", v2.error);
    let r2 = v2.revision.clone().expect("v2's revision");
    assert_ne!(r1, r2);
    assert_eq!(version_of(client, &r2).await, "v2");

    let v3 = rig
        .deploy(
            "deploy v3 (exits at start)",
            &compose("v3", free_port(), true),
        )
        .await;
    assert!(
        v3.rolled_back(),
        "v3 must be rolled back: {:?} {:?}",
        v3.status,
        v3.error
    );
    let cause = &v3.error.as_ref().expect("an error").1;
    println!("v3's cause: {cause}");
    // fakecloud may report the task UNHEALTHY (its container exited) a
    // look before it reports it stopped: the rollout waits for the next
    // look, which names the exit code.
    assert!(cause.contains("stopped during the rollout"), "{cause}");
    assert!(cause.contains("exit codes: [3]"), "{cause}");
    let service = rig.service().await;
    assert_eq!(service["TaskDefinition"], Json::String(r2.clone()));
    assert_eq!(
        service["DeploymentConfiguration"]["DeploymentCircuitBreaker"],
        json!({ "Enable": true, "Rollback": true })
    );
    assert_eq!(version_of(client, &r2).await, "v2");

    let back = rig
        .ecs
        .rollback(&KEY.parse().expect("a key"), Some("r1"))
        .await
        .expect("the rollback runs");
    support::ecs::print("rollback to r1", &back);
    assert_eq!(back.status, Status::Succeeded, "{:?}", back.error);
    assert_eq!(back.revision.as_deref(), Some(r1.as_str()));
    assert_eq!(version_of(client, &r1).await, "v1");

    assert_eq!(rig.outcome("r1"), Some(Outcome::Live));
    assert_eq!(rig.outcome("r2"), Some(Outcome::RolledBack));
    assert_eq!(rig.outcome("r3"), Some(Outcome::RolledBack));
    assert_eq!(rig.live().as_deref(), Some("r1"));
    let recorded = rig
        .releases
        .list(&KEY.parse().expect("a key"))
        .expect("releases");
    let r2_record = recorded.iter().find(|r| r.id == "r2").expect("r2");
    assert_eq!(r2_record.image.as_deref(), Some(r2.as_str()));
    assert!(
        r2_record
            .digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{:?}",
        r2_record.digest
    );
}

/// `x-windlass.ecs.probe` on real containers: v1 answers its probe and goes
/// live; v2's containers are healthy by their health check but answer 500
/// on the probed path, so the HTTP probe rolls the service back to v1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_http_probe_rolls_back_to_the_previous_revision() {
    let rig = Rig::start("ecs-probe").await;
    let probed = |version: &str, ratio: &str| {
        let port = free_port();
        compose_with(
            version,
            port,
            &format!("\n      TESTAPP_ERROR_RATIO: \"{ratio}\""),
            &format!(
                ", probe: {{ url: \"http://127.0.0.1:{port}\", path: /version, failures: 1 }}"
            ),
        )
    };

    let v1 = rig
        .deploy("deploy v1 (probe answers 200)", &probed("v1", "0"))
        .await;
    assert_eq!(v1.status, Status::Succeeded, "{:?}", v1.error);
    let r1 = v1.revision.clone().expect("v1's revision");
    assert!(
        v1.timing.states.iter().any(|(s, _, _)| s == "ProbeOk"),
        "the probe was made: {:?}",
        v1.timing.states
    );

    let v2 = rig
        .deploy("deploy v2 (probe answers 500)", &probed("v2", "1"))
        .await;
    assert!(v2.rolled_back(), "{:?} {:?}", v2.status, v2.error);
    let cause = &v2.error.as_ref().expect("an error").1;
    assert!(cause.contains("HTTP probe"), "{cause}");
    assert!(cause.contains("/version"), "{cause}");
    assert_eq!(version_of(&rig.cloud.client, &r1).await, "v1");
    assert_eq!(rig.outcome("r2"), Some(Outcome::RolledBack));
    assert_eq!(rig.live().as_deref(), Some("r1"));
}

/// `x-windlass.ecs.alarms` on fakecloud's CloudWatch: v1 goes live while
/// its alarm has no data; during v2's watch the test puts the alarm into
/// ALARM (SetAlarmState, as CloudWatch would on a 5xx spike), and the
/// watch's DescribeAlarms sees it: the service goes back to v1's revision
/// and the deploy ends rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_alarm_in_alarm_during_the_watch_rolls_back_to_the_previous_revision() {
    let rig = Rig::start("ecs-alarm").await;
    rig.cloud
        .call(
            "cloudwatch",
            "putMetricAlarm",
            json!({ "AlarmName": "web-5xx", "Namespace": "windlass", "MetricName": "5xx",
                "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold" }),
        )
        .await;
    let alarmed = |version: &str, watch: &str| {
        compose_with(version, free_port(), "", ", alarms: [web-5xx]")
            .replace("watch: 3s", &format!("watch: {watch}"))
    };

    let v1 = rig
        .deploy("deploy v1 (alarm has no data)", &alarmed("v1", "3s"))
        .await;
    assert_eq!(v1.status, Status::Succeeded, "{:?}", v1.error);
    let r1 = v1.revision.clone().expect("v1's revision");
    assert!(
        v1.timing
            .states
            .iter()
            .any(|(s, n, _)| s == "Alarms" && *n >= 3),
        "the watch looked at the alarm at each of its looks: {:?}",
        v1.timing.states
    );

    // The alarm fires once v2's watch has begun: the test follows the
    // execution's history in the store and sets the alarm's state then.
    let store = rig.ecs.runtime.store().clone();
    let client = rig.cloud.client.clone();
    let fire = tokio::spawn(async move {
        let cloudwatch = windlass_aws::model::Model::of(
            windlass_aws::Service::named("cloudwatch").expect("cloudwatch"),
        )
        .expect("model");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        loop {
            let watching = store.running().expect("running").iter().any(|r| {
                store
                    .history(&r.arn, 1, u64::MAX)
                    .expect("history")
                    .iter()
                    .any(|e| e.details.get("name").and_then(Json::as_str) == Some("StartWatch"))
            });
            if watching {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "v2's watch never began"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        client
            .call(
                &cloudwatch,
                "setAlarmState",
                &json!({ "AlarmName": "web-5xx", "StateValue": "ALARM",
                    "StateReason": "5xx answers above the threshold (set by the test)" }),
                None,
            )
            .await
            .expect("setAlarmState");
    });
    let v2 = rig
        .deploy(
            "deploy v2 (alarm fires in its watch)",
            &alarmed("v2", "60s"),
        )
        .await;
    fire.await.expect("the alarm was set");
    assert!(v2.rolled_back(), "{:?} {:?}", v2.status, v2.error);
    let cause = &v2.error.as_ref().expect("an error").1;
    assert!(
        cause.contains("CloudWatch alarm web-5xx is in ALARM during the watch"),
        "{cause}"
    );
    assert_eq!(rig.service_revision().await, Json::String(r1.clone()));
    assert_eq!(version_of(&rig.cloud.client, &r1).await, "v1");
    assert_eq!(rig.outcome("r2"), Some(Outcome::RolledBack));
    assert_eq!(rig.live().as_deref(), Some("r1"));
}

/// The events the deploy's Lambda hooks received, as their functions
/// answered them (`Payload.received` of each `lambda:invoke` that
/// succeeded), from the execution's history.
fn hook_events(rig: &Rig, execution: &str) -> Vec<Json> {
    rig.ecs
        .runtime
        .store()
        .history(execution, 1, u64::MAX)
        .expect("history")
        .iter()
        .filter(|e| e.kind == "TaskSucceeded")
        .filter_map(|e| {
            let output = match e.details.get("output")? {
                Json::String(text) => serde_json::from_str(text).ok()?,
                other => other.clone(),
            };
            output.pointer("/Payload/received").cloned()
        })
        .collect()
}

/// `x-windlass.hooks` Lambda hooks on fakecloud's Lambda, which runs each
/// function as a container of an image in its own ECR: the test app's
/// image (it answers Lambda invocations with the event it got) is pushed
/// there and made two functions, one of which fails every invocation
/// (`TESTAPP_LAMBDA_ERROR`, a function error). v1 goes live through the
/// good hook before and after the switch, which received the cluster,
/// service, stage and the new revision; v2's failing hook after the switch
/// puts the service back on v1; v3's failing hook before the switch leaves
/// it there. Both end rolled back, and v1 answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_hooks_run_before_and_after_the_switch_and_a_failing_one_rolls_back() {
    use std::collections::BTreeMap;
    use windlass_deploy::backend::BuildSpec;
    use windlass_deploy::target::ecs::registry;

    let rig = Rig::start("ecs-lambda").await;
    let spec = BuildSpec {
        context: rig.dir.join("app"),
        dockerfile: None,
        args: BTreeMap::new(),
        tag: "windlass/hooks:1".into(),
        ..BuildSpec::default()
    };
    rig.ecs
        .backend
        .build_image(&spec)
        .await
        .expect("the hook function's image builds");
    let pushed = registry::push(
        rig.ecs.backend.as_ref(),
        &rig.cloud.client,
        "hooks",
        "hooks",
        &spec.tag,
        "1",
    )
    .await
    .expect("pushed to fakecloud's ECR");
    for (function, error) in [("hook-ok", ""), ("hook-fail", "HookRefused")] {
        rig.cloud
            .call(
                "lambda",
                "createFunction",
                json!({ "FunctionName": function, "PackageType": "Image",
                    "Code": { "ImageUri": format!("{}:1", pushed.repository_uri) },
                    "Role": "arn:aws:iam::123456789012:role/windlass-hooks", "Timeout": 30,
                    "Environment": { "Variables": { "TESTAPP_VERSION": function, "TESTAPP_LAMBDA_ERROR": error } } }),
            )
            .await;
    }
    let hooked = |version: &str, before: &str, after: &str| {
        compose(version, free_port(), false).replace(
            "      watch: 3s\n",
            &format!("      watch: 3s\n      hooks: {{ before_switch: [{{ lambda: {before} }}], after_switch: [{{ lambda: {after} }}] }}\n"),
        )
    };

    let v1 = rig
        .deploy(
            "deploy v1 (hooks succeed)",
            &hooked("v1", "hook-ok", "hook-ok"),
        )
        .await;
    assert_eq!(v1.status, Status::Succeeded, "{:?}", v1.error);
    let r1 = v1.revision.clone().expect("v1's revision");
    let events = hook_events(&rig, &v1.execution);
    let stages: Vec<&str> = events.iter().filter_map(|e| e["stage"].as_str()).collect();
    assert_eq!(stages, ["BeforeSwitch", "AfterSwitch"], "{events:?}");
    for event in &events {
        assert_eq!(event["taskDefinition"], Json::String(r1.clone()), "{event}");
        assert_eq!(event["cluster"], CLUSTER);
        assert_eq!(event["service"], "web");
    }
    assert_eq!(version_of(&rig.cloud.client, &r1).await, "v1");

    let v2 = rig
        .deploy(
            "deploy v2 (the hook after the switch fails)",
            &hooked("v2", "hook-ok", "hook-fail"),
        )
        .await;
    assert!(v2.rolled_back(), "{:?} {:?}", v2.status, v2.error);
    let (error, cause) = v2.error.clone().expect("an error");
    assert!(cause.contains("HookRefused"), "{error}: {cause}");
    assert_eq!(rig.service_revision().await, Json::String(r1.clone()));
    assert_eq!(version_of(&rig.cloud.client, &r1).await, "v1");

    let v3 = rig
        .deploy(
            "deploy v3 (the hook before the switch fails)",
            &hooked("v3", "hook-fail", "hook-ok"),
        )
        .await;
    assert!(v3.rolled_back(), "{:?} {:?}", v3.status, v3.error);
    let cause = &v3.error.as_ref().expect("an error").1;
    assert!(
        cause.starts_with("HookRefused: ") && cause.contains("(a hook before the switch failed;"),
        "{cause}"
    );
    assert!(
        !v3.timing
            .states
            .iter()
            .any(|(s, _, _)| s == "UpdateService"),
        "the service was not moved: {:?}",
        v3.timing.states
    );
    assert_eq!(rig.service_revision().await, Json::String(r1.clone()));
    assert_eq!(version_of(&rig.cloud.client, &r1).await, "v1");
    assert_eq!(rig.outcome("r2"), Some(Outcome::RolledBack));
    assert_eq!(rig.outcome("r3"), Some(Outcome::RolledBack));
    assert_eq!(rig.live().as_deref(), Some("r1"));
}
