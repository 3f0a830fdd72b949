//! `x-windlass.hooks` on the real engine: a command hook runs in a new
//! container of the release before the switch, a state hook after it; a
//! failing hook before the switch leaves the old release serving, and one
//! after the switch flips traffic back.

mod support;

use std::path::Path;

use windlass_deploy::agent::{Agent, Started};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::SERVICE_LABEL;
use windlass_deploy::Backend;
use windlass_engine::{Outcome, Status};
use windlass_store::Store;

const SERVICE: &str = "wlhooks";

fn with_hooks(port: u16, version: &str, hooks: &str) -> String {
    support::compose(SERVICE, port, &[("TESTAPP_VERSION", version)], "0s")
        + "      hooks:\n"
        + hooks
}

fn entered(store: &dyn Store, arn: &str) -> Vec<String> {
    store
        .history(arn, 1, u64::MAX)
        .expect("history")
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| e.details["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_around_the_switch_and_a_failing_one_rolls_back() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("hooks");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, store) = support::agent(&docker).await;
    let result = scenario(&agent, store.as_ref(), &docker, &file, port).await;
    support::cleanup(&docker, SERVICE).await;
    result.expect("scenario");
}

async fn scenario(
    agent: &Agent,
    store: &dyn Store,
    docker: &Docker,
    file: &Path,
    port: u16,
) -> Result<(), String> {
    // Both hooks pass: the release goes live, and the hooks ran where they belong.
    let hooks = "        before_switch:\n          - command: [\"exit\", \"0\"]\n        after_switch:\n          - state: {Type: Pass, Result: {notified: true}, ResultPath: $.notified}\n";
    let (Started { execution: arn, .. }, finished) =
        support::deploy(agent, file, SERVICE, with_hooks(port, "v1", hooks)).await;
    if finished.status != Status::Succeeded {
        return Err(format!("v1: {:?}", finished.outcome));
    }
    let states = entered(store, &arn);
    let at = |name: &str| states.iter().position(|s| s == name);
    let before = format!("BeforeSwitchHook1-{SERVICE}");
    let after = format!("AfterSwitchHook1-{SERVICE}");
    assert!(
        at("WaitHealthy") < at(&before)
            && at(&before) < at("Switch")
            && at("Switch") < at(&after)
            && at(&after) < at("Watch")
            && at("WaitHealthy").is_some(),
        "{states:?}"
    );
    let labels = [(SERVICE_LABEL.to_owned(), SERVICE.to_owned())].into();
    let containers = docker
        .list_containers(&labels)
        .await
        .map_err(|e| e.to_string())?;
    assert!(
        containers.iter().all(|c| !c.name.contains("-hook-")),
        "a hook's container is removed once it ran: {containers:?}"
    );

    // A command that fails before the switch: rolled back, v1 never stopped serving.
    let hooks = "        before_switch:\n          - command: [\"exit\", \"3\"]\n";
    let (Started { execution: arn, .. }, finished) =
        support::deploy(agent, file, SERVICE, with_hooks(port, "v2", hooks)).await;
    let Some(Outcome::Error { error, cause }) = finished.outcome else {
        return Err(format!("v2 should fail: {:?}", finished.outcome));
    };
    assert_eq!(error, "Deploy.RolledBack");
    assert!(
        cause.contains("Deploy.HookFailed")
            && cause.contains("exited with code 3")
            && cause.contains("testapp v2: hook ran"),
        "{cause}"
    );
    assert!(!entered(store, &arn).contains(&"Switch".to_owned()));
    let live = agent
        .releases()
        .live(&agent.resolve(None, SERVICE).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    assert_eq!(live.map(|l| l.release).as_deref(), Some("r1"));

    // A failing state after the switch: traffic goes back to v1.
    let hooks = "        after_switch:\n          - state: {Type: Task, Resource: \"arn:windlass:::deploy:nonexistent\"}\n";
    let (Started { execution: arn, .. }, finished) =
        support::deploy(agent, file, SERVICE, with_hooks(port, "v3", hooks)).await;
    assert_eq!(finished.status, Status::Failed, "{:?}", finished.outcome);
    let states = entered(store, &arn);
    assert!(
        states.contains(&"Switch".to_owned())
            && states.last().map(String::as_str) == Some("RolledBack"),
        "{states:?}"
    );
    let live = agent
        .releases()
        .live(&agent.resolve(None, SERVICE).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    assert_eq!(live.map(|l| l.release).as_deref(), Some("r1"));
    Ok(())
}
