//! Every failure path of the ECS definition ends in a `Deploy.*` error
//! whose cause names AWS's own error: each Task state is failed in turn
//! (and each pair, so that the rollback's own calls fail too), on a first
//! deploy, an update and a rollback, with a fake ECS answering the rest
//! as a healthy service would, run by the engine on a virtual clock.

use std::sync::Arc;

use serde_json::{json, Value as Json};
use windlass_asl::parse::parse_text;
use windlass_asl::{Definition, Failure};
use windlass_engine::simulate::{simulate, SimulateConfig, SyncInvoker};
use windlass_engine::{ExecutionMeta, Outcome, Status, TaskRequest};

use super::tests::rollout;
use super::*;

const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
const NEW: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";

/// A service that answers every call as a healthy one would, except the
/// states named in `failing`, which fail every time with an error named
/// after the state (`Ecs.InjectedCreateServiceException`).
struct FakeEcs {
    exists: bool,
    failing: Vec<String>,
    /// The revision the service runs (the last UpdateService's).
    running: String,
    /// The Task states called, in the order first called.
    called: Vec<String>,
}

fn injected(state: &str) -> String {
    format!(
        "Ecs.Injected{}Exception",
        state.replace(|c: char| !c.is_alphanumeric(), "")
    )
}

impl SyncInvoker for FakeEcs {
    fn invoke(&mut self, request: &TaskRequest) -> Option<Result<Json, Failure>> {
        if !self.called.contains(&request.state_name) {
            self.called.push(request.state_name.clone());
        }
        if self.failing.contains(&request.state_name) {
            let error = injected(&request.state_name);
            return Some(Err(Failure::new(
                error.clone(),
                format!(
                    "injected (Service: Ecs, Status Code: 400, Error Code: {})",
                    error.trim_start_matches("Ecs.")
                ),
            )));
        }
        let action = request.resource.rsplit(':').next().unwrap_or_default();
        let input = &request.input;
        let answer = match action {
            "describeServices" if self.exists => json!({ "Services": [{
                "Status": "ACTIVE", "TaskDefinition": self.running,
                "Deployments": [{ "Status": "PRIMARY", "TaskDefinition": self.running,
                    "RolloutState": "COMPLETED", "Id": "d1" }] }], "Failures": [] }),
            "describeServices" => json!({ "Services": [], "Failures": [{ "Reason": "MISSING" }] }),
            "registerTaskDefinition" => {
                json!({ "TaskDefinition": { "TaskDefinitionArn": NEW } })
            }
            "createService" | "updateService" => {
                self.exists = true;
                if let Some(revision) = input["TaskDefinition"].as_str() {
                    self.running = revision.to_string();
                }
                json!({ "Service": {} })
            }
            "listTasks" if input["DesiredStatus"] == "RUNNING" => {
                json!({ "TaskArns": ["task/1", "task/2"] })
            }
            "listTasks" => json!({ "TaskArns": [] }),
            "describeTasks" => {
                let tasks: Vec<Json> = [1, 2]
                    .iter()
                    .map(|n| {
                        json!({ "TaskArn": format!("task/{n}"), "TaskDefinitionArn": self.running,
                            "LastStatus": "RUNNING", "HealthStatus": "HEALTHY" })
                    })
                    .collect();
                json!({ "Tasks": tasks })
            }
            "describeAlarms" => json!({ "MetricAlarms": [] }),
            "invoke" => json!({ "StatusCode": 200, "Payload": {} }),
            "runTask.sync" => json!({ "Tasks": [] }),
            other => return Some(Err(Failure::new("Test.Unmocked", other.to_string()))),
        };
        Some(Ok(answer))
    }
}

#[derive(Clone, Copy, Debug)]
enum Case {
    FirstDeploy,
    Update,
    Rollback,
}

struct Ran {
    status: Status,
    error: String,
    cause: String,
    called: Vec<String>,
}

fn run(definition: &Definition, case: Case, failing: &[&str]) -> Ran {
    let input = match case {
        Case::Rollback => json!({ "taskDefinitionArn": NEW }),
        _ => json!({ "taskDefinition": { "Family": "web" } }),
    };
    let meta = ExecutionMeta {
        execution_arn: "arn:aws:states:us-east-1:000000000000:execution:windlass-ecs-web:t".into(),
        name: "t".into(),
        state_machine_arn: "arn:aws:states:us-east-1:000000000000:stateMachine:windlass-ecs-web"
            .into(),
        state_machine_name: "windlass-ecs-web".into(),
        role_arn: String::new(),
        input,
        start_millis: 0,
        seed: 1,
        express: false,
    };
    let mut fake = FakeEcs {
        exists: !matches!(case, Case::FirstDeploy),
        failing: failing.iter().map(|s| s.to_string()).collect(),
        running: OLD.into(),
        called: Vec::new(),
    };
    let config = SimulateConfig {
        keep_history: false,
        max_events: 20_000,
        reload_between_events: false,
    };
    let ran = simulate(definition, meta, &mut fake, &config);
    let (error, cause) = match ran.execution.outcome {
        Some(Outcome::Error { error, cause }) => (error, cause),
        _ => (String::new(), String::new()),
    };
    Ran {
        status: ran.execution.status,
        error,
        cause,
        called: fake.called,
    }
}

fn rollouts() -> Vec<(&'static str, Rollout)> {
    vec![
        ("hooks, alarms", rollout()),
        (
            "a probe",
            Rollout {
                probe: Some(Probe {
                    endpoint: "http://127.0.0.1:8080/".into(),
                    status: 200,
                    failures: 0,
                    connection_arn: "arn:aws:events:us-east-1:0:connection/p/1".into(),
                }),
                alarms: vec![],
                ..rollout()
            },
        ),
        (
            "plain",
            Rollout {
                alarms: vec![],
                before_switch: vec![],
                after_switch: vec![],
                ..rollout()
            },
        ),
    ]
}

fn parsed(rollout: &Rollout) -> Arc<Definition> {
    let text = serde_json::to_string(&deploy(rollout)).expect("JSON");
    Arc::new(parse_text(&text).valid().expect("valid ASL"))
}

/// The Task states of a definition.
fn tasks(rollout: &Rollout) -> Vec<String> {
    let definition = deploy(rollout);
    definition["States"]
        .as_object()
        .expect("states")
        .iter()
        .filter(|(_, state)| state["Type"] == "Task")
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn a_healthy_service_goes_live_in_every_case() {
    for (what, rollout) in rollouts() {
        let definition = parsed(&rollout);
        for case in [Case::FirstDeploy, Case::Update, Case::Rollback] {
            let ran = run(&definition, case, &[]);
            assert_eq!(
                ran.status,
                Status::Succeeded,
                "{what}, {case:?}: {} {}",
                ran.error,
                ran.cause
            );
        }
    }
}

#[test]
fn every_failing_task_ends_in_a_deploy_error_naming_aws_error() {
    let mut runs = 0;
    for (what, rollout) in rollouts() {
        let definition = parsed(&rollout);
        let states = tasks(&rollout);
        for case in [Case::FirstDeploy, Case::Update, Case::Rollback] {
            for first in &states {
                // Alone, then with each Task called after it failing too.
                let alone = run(&definition, case, &[first]);
                check(what, case, &[first], &alone);
                runs += 1;
                let after = alone.called.iter().skip_while(|s| *s != first).skip(1);
                for second in after {
                    let both = run(&definition, case, &[first, second]);
                    check(what, case, &[first, second], &both);
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 100, "{runs} runs");
}

/// The run failed with a `Deploy.*` error whose cause names the AWS error
/// of the first state that failed (the one that made it fail), and the
/// outcome fits what was changed.
fn check(what: &str, case: Case, failing: &[&String], ran: &Ran) {
    let called: Vec<&String> = failing
        .iter()
        .copied()
        .filter(|s| ran.called.contains(*s))
        .collect();
    let context = format!(
        "{what}, {case:?}, failing {failing:?}: {:?} {} {}",
        ran.status, ran.error, ran.cause
    );
    // A probe that misses is the probe's own failure, not an AWS error:
    // it is named by Deploy.Probe.
    let probe_only = called.iter().all(|s| s.as_str() == "Probe");
    if called.is_empty() || (probe_only && ran.status == Status::Succeeded) {
        return;
    }
    assert_eq!(ran.status, Status::Failed, "{context}");
    assert!(
        [ROLLED_BACK, FAILED, ROLLBACK_FAILED].contains(&ran.error.as_str()),
        "a Deploy.* error: {context}"
    );
    if probe_only {
        assert!(ran.cause.contains("Deploy.Probe"), "{context}");
        return;
    }
    let named = called
        .iter()
        .filter(|s| s.as_str() != "Probe")
        .any(|s| ran.cause.contains(&injected(s)));
    assert!(named, "the cause names AWS's error: {context}");
    assert!(!ran.cause.contains("States.Runtime"), "{context}");
    // Nothing was changed when the first call to fail came before the
    // switch: the deploy failed, it was not rolled back.
    let first = called[0].as_str();
    if matches!(
        first,
        "FindService" | "Register" | "CreateService" | "UpdateService"
    ) {
        assert_eq!(ran.error, FAILED, "{context}");
    }
}
