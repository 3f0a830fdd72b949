//! `x-windlass.hooks`: work the deploy does just before the switch
//! (`before_switch`: a migration, a cache warm-up) and just after it
//! (`after_switch`: a notification, a smoke test).
//!
//! A hook is either a command, run to its end in a new container of the
//! release's image (the service's environment and network, the command in
//! place of the image's CMD; exit code 0 passes), or an ASL state that the
//! deploy definition runs at that point. [`splice`] writes the hooks into
//! the definition as states between `WaitHealthy` and `Switch` and between
//! `Switch` and `Watch`, each sending a failure to `Rollback`: a failed
//! hook before the switch leaves the old release serving; after the switch
//! it flips traffic back. Hooks may run again after a crash (at least
//! once), so they should be safe to repeat.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value as Json};
use windlass_asl::Failure;

use super::steps::remove;
use super::{errors, Inner, Input};
use crate::backend::RunState;
use crate::compose::{Hook, Hooks};
use crate::plan::container_spec;

/// The resource of a command hook's Task state.
pub const HOOK_RESOURCE: &str = "arn:windlass:::deploy:hook";
/// How long a command hook may run.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a running hook is looked at.
const POLL: Duration = Duration::from_millis(50);

/// Which hook a hook step runs.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct HookRef {
    pub(super) phase: Phase,
    pub(super) index: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Phase {
    BeforeSwitch,
    AfterSwitch,
}

impl Phase {
    fn key(self) -> &'static str {
        match self {
            Phase::BeforeSwitch => "before_switch",
            Phase::AfterSwitch => "after_switch",
        }
    }
}

/// The definition with `hooks` written in as states; the text unchanged
/// when there are none. The definition must have the built-in states'
/// `WaitHealthy -> Switch -> Watch` and a `Rollback` state.
pub fn splice(definition: &str, hooks: &Hooks) -> Result<String, String> {
    if hooks.before_switch.is_empty() && hooks.after_switch.is_empty() {
        return Ok(definition.to_owned());
    }
    let mut document: Json = serde_json::from_str(definition)
        .map_err(|e| format!("hooks need a JSON deploy definition: {e}"))?;
    let states = document
        .get_mut("States")
        .and_then(Json::as_object_mut)
        .ok_or("the deploy definition has no States")?;
    for (from, to, phase, list) in [
        (
            "WaitHealthy",
            "Switch",
            Phase::BeforeSwitch,
            &hooks.before_switch,
        ),
        ("Switch", "Watch", Phase::AfterSwitch, &hooks.after_switch),
    ] {
        if list.is_empty() {
            continue;
        }
        let leads_on = states
            .get(from)
            .and_then(|s| s.get("Next"))
            .and_then(Json::as_str)
            == Some(to);
        if !leads_on || !states.contains_key("Rollback") {
            return Err(format!(
                "x-windlass.hooks.{} needs a deploy definition whose state {from} goes on to {to} and that has a Rollback state, as the built-in one does",
                phase.key()
            ));
        }
        let names: Vec<String> = (1..=list.len())
            .map(|i| match phase {
                Phase::BeforeSwitch => format!("BeforeSwitchHook{i}"),
                Phase::AfterSwitch => format!("AfterSwitchHook{i}"),
            })
            .collect();
        for (index, hook) in list.iter().enumerate() {
            let next = names.get(index + 1).map_or(to, String::as_str);
            let state = hook_state(hook, phase, index, next)?;
            states.insert(names[index].clone(), state);
        }
        if let Some(Json::Object(state)) = states.get_mut(from) {
            state.insert("Next".into(), Json::String(names[0].clone()));
        }
    }
    serde_json::to_string_pretty(&document).map_err(|e| e.to_string())
}

/// The ASL state of one hook, going on to `next` and to Rollback on failure.
fn hook_state(hook: &Hook, phase: Phase, index: usize, next: &str) -> Result<Json, String> {
    let catch =
        json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Rollback" }]);
    let mut state = match (&hook.command, &hook.state) {
        (Some(_), None) => json!({
            "Type": "Task",
            "Comment": format!("x-windlass.hooks.{}[{index}]: a command in a new container of the release", phase.key()),
            "Resource": HOOK_RESOURCE,
            "Parameters": {
                "service.$": "$.service",
                "release.$": "$.release",
                "previous.$": "$.previous",
                "mode.$": "$.mode",
                "hook": { "phase": phase.key(), "index": index }
            },
            "ResultPath": null,
            "TimeoutSeconds": HOOK_TIMEOUT.as_secs() + 60,
        }),
        (None, Some(Json::Object(state))) => {
            let mut state = state.clone();
            state.remove("End");
            if !state.contains_key("ResultPath") && !state.contains_key("Output") {
                // The deploy's own fields must survive the hook.
                state.insert("ResultPath".into(), Json::Null);
            }
            Json::Object(state)
        }
        _ => {
            return Err(format!(
                "x-windlass.hooks.{}[{index}] needs exactly one of command or state",
                phase.key()
            ))
        }
    };
    let object = state
        .as_object_mut()
        .ok_or("a hook state must be an object")?;
    object.insert("Next".into(), Json::String(next.to_owned()));
    let kind = object
        .get("Type")
        .and_then(Json::as_str)
        .unwrap_or_default();
    if matches!(kind, "Task" | "Parallel" | "Map") && !object.contains_key("Catch") {
        object.insert("Catch".into(), catch);
    }
    Ok(state)
}

/// Checks a hook given as an ASL state: one that goes on (no Choice,
/// Succeed or Fail) and that has no transition of its own.
pub fn check_state(state: &Json) -> Result<(), String> {
    let Some(object) = state.as_object() else {
        return Err("a hook state must be a JSON object (an ASL state)".into());
    };
    match object.get("Type").and_then(Json::as_str) {
        Some("Pass" | "Wait" | "Task" | "Parallel" | "Map") => {}
        Some(other) => {
            return Err(format!(
                "a hook state of Type {other} cannot be used: expected Pass, Wait, Task, Parallel or Map"
            ))
        }
        None => return Err("a hook state needs a Type".into()),
    }
    if object.contains_key("Next") {
        return Err("a hook state must not have Next: windlass chains hooks itself".into());
    }
    Ok(())
}

/// The `hook` step: runs a command hook to its end.
pub(super) async fn run(ctx: &Inner, input: &Input, hook: &HookRef) -> Result<Json, Failure> {
    let release = ctx.release(&input.service, &input.release)?;
    let service = ctx.service(&release)?;
    let list = match hook.phase {
        Phase::BeforeSwitch => &service.windlass.hooks.before_switch,
        Phase::AfterSwitch => &service.windlass.hooks.after_switch,
    };
    let label = format!("x-windlass.hooks.{}[{}]", hook.phase.key(), hook.index);
    let command = list
        .get(hook.index)
        .and_then(|h| h.command.clone())
        .ok_or_else(|| {
            Failure::new(
                errors::INPUT,
                format!("release {} has no command hook {label}", input.release),
            )
        })?;
    let image = release.image.clone().ok_or_else(|| {
        Failure::new(
            errors::INPUT,
            format!("release {} has no image: it was never built", release.id),
        )
    })?;
    let mut spec = container_spec(&input.service, &service, &input.release, 0, &image, |k| {
        ctx.config.env.get(k).cloned()
    });
    spec.name = format!(
        "{}-{}-hook-{}-{}",
        input.service,
        input.release,
        hook.phase.key().replace('_', "-"),
        hook.index
    );
    spec.command = Some(command.clone());
    spec.ports = Vec::new();
    spec.healthcheck = None;
    spec.labels.insert(HOOK_LABEL.into(), label.clone());
    // A run that a crash interrupted is not resumed: the hook runs afresh.
    let labels = [(HOOK_LABEL.to_owned(), label.clone())].into();
    let stale = ctx
        .backend
        .list_containers(&labels)
        .await
        .map_err(|e| Failure::new(errors::ENGINE, e.to_string()))?;
    for container in stale
        .iter()
        .filter(|c| c.name.trim_start_matches('/') == spec.name)
    {
        remove(ctx, &container.id).await?;
    }
    let id = ctx
        .backend
        .create_container(&spec)
        .await
        .map_err(|e| Failure::new(errors::HOOK, format!("{label}: {e}")))?;
    // A migration, say, reaches the service's databases on its networks.
    super::steps::join_networks(ctx, &service, &id).await?;
    let outcome = run_to_end(ctx, &id, &label, &command).await;
    let logs = ctx
        .backend
        .container_logs(&id, 20)
        .await
        .unwrap_or_default();
    remove(ctx, &id).await?;
    match outcome {
        Ok(millis) => Ok(json!({ "hook": label, "exit_code": 0, "millis": millis })),
        Err(message) => {
            let logs = logs.trim();
            let cause = if logs.is_empty() {
                message
            } else {
                format!("{message}; its last output: {logs}")
            };
            Err(Failure::new(errors::HOOK, cause))
        }
    }
}

/// The label that marks a hook's container.
pub const HOOK_LABEL: &str = "windlass.hook";

/// Starts the container and waits for it to exit; the time it ran, or why
/// the hook failed.
async fn run_to_end(ctx: &Inner, id: &str, label: &str, command: &[String]) -> Result<u64, String> {
    let shown = command.join(" ");
    ctx.backend
        .start_container(id)
        .await
        .map_err(|e| format!("{label} (`{shown}`) could not start: {e}"))?;
    let began = tokio::time::Instant::now();
    loop {
        let container = ctx
            .backend
            .inspect_container(id)
            .await
            .map_err(|e| format!("{label} (`{shown}`): {e}"))?;
        match container.state {
            RunState::Exited { code: 0 } => {
                return Ok(u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX))
            }
            RunState::Exited { code } => {
                return Err(format!("{label} (`{shown}`) exited with code {code}"))
            }
            _ if began.elapsed() > HOOK_TIMEOUT => {
                let _ = ctx.backend.stop_container(id, Duration::from_secs(1)).await;
                return Err(format!(
                    "{label} (`{shown}`) still ran after {} s",
                    HOOK_TIMEOUT.as_secs()
                ));
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::DEPLOY_DEFINITION;

    fn command(words: &[&str]) -> Hook {
        Hook {
            command: Some(words.iter().map(|w| (*w).to_owned()).collect()),
            state: None,
        }
    }

    #[test]
    fn hooks_are_chained_between_the_steps_and_fail_into_rollback() {
        let hooks = Hooks {
            before_switch: vec![command(&["migrate"]), command(&["warm"])],
            after_switch: vec![Hook {
                command: None,
                state: Some(json!({ "Type": "Pass", "Result": 1, "End": true })),
            }],
        };
        let text = splice(DEPLOY_DEFINITION, &hooks).expect("spliced");
        let document: Json = serde_json::from_str(&text).expect("JSON");
        let states = &document["States"];
        assert_eq!(states["WaitHealthy"]["Next"], "BeforeSwitchHook1");
        assert_eq!(states["BeforeSwitchHook1"]["Next"], "BeforeSwitchHook2");
        assert_eq!(states["BeforeSwitchHook2"]["Next"], "Switch");
        assert_eq!(
            states["BeforeSwitchHook2"]["Parameters"]["hook"],
            json!({ "phase": "before_switch", "index": 1 })
        );
        assert_eq!(states["BeforeSwitchHook1"]["Catch"][0]["Next"], "Rollback");
        assert_eq!(states["Switch"]["Next"], "AfterSwitchHook1");
        assert_eq!(states["AfterSwitchHook1"]["Next"], "Watch");
        assert_eq!(states["AfterSwitchHook1"]["End"], Json::Null);
        assert_eq!(states["AfterSwitchHook1"]["ResultPath"], Json::Null);
        assert!(windlass_asl::parse::parse_text(&text).valid().is_ok());
        assert_eq!(
            splice(DEPLOY_DEFINITION, &Hooks::default()).as_deref(),
            Ok(DEPLOY_DEFINITION)
        );
    }

    #[test]
    fn a_definition_without_the_built_in_steps_cannot_take_hooks() {
        let hooks = Hooks {
            before_switch: vec![command(&["x"])],
            after_switch: Vec::new(),
        };
        let own = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#;
        let error = splice(own, &hooks).expect_err("refused");
        assert!(error.contains("WaitHealthy goes on to Switch"), "{error}");
    }

    #[test]
    fn hook_states_that_do_not_go_on_are_refused() {
        assert!(check_state(&json!({ "Type": "Pass" })).is_ok());
        assert!(check_state(&json!({ "Type": "Choice" })).is_err());
        assert!(check_state(&json!({ "Type": "Pass", "Next": "X" })).is_err());
        assert!(check_state(&json!("Pass")).is_err());
    }
}
