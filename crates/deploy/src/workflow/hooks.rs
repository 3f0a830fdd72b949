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

use serde_json::{json, Value as Json};

use crate::compose::{Hook, Hooks};
use crate::target::docker::HOOK_TIMEOUT;
use crate::target::{HookRef, Phase};

/// The resource of a command hook's Task state.
pub const HOOK_RESOURCE: &str = "arn:windlass:::deploy:hook";

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
            let state = hook_state(hook, phase, index, next, Some("Rollback"))?;
            states.insert(names[index].clone(), state);
        }
        if let Some(Json::Object(state)) = states.get_mut(from) {
            state.insert("Next".into(), Json::String(names[0].clone()));
        }
    }
    serde_json::to_string_pretty(&document).map_err(|e| e.to_string())
}

/// The ASL state of one hook, going on to `next`; a Task, Parallel or Map
/// hook without a Catch of its own is caught into `catch_into` when given.
pub(super) fn hook_state(
    hook: &Hook,
    phase: Phase,
    index: usize,
    next: &str,
    catch_into: Option<&str>,
) -> Result<Json, String> {
    if hook.lambda.is_some() {
        return Err(format!(
            "x-windlass.hooks.{}[{index}]: a `lambda` hook runs on the ECS target only (`--target ecs`); on the Docker target write a `command` hook",
            phase.key()
        ));
    }
    let mut state = match (&hook.command, &hook.state) {
        (Some(_), None) => json!({
            "Type": "Task",
            "Comment": format!("x-windlass.hooks.{}[{index}]: a command in a new container of the release", phase.key()),
            "Resource": HOOK_RESOURCE,
            "Parameters": {
                "app.$": "$.app",
                "service.$": "$.service",
                "release.$": "$.release",
                "previous.$": "$.previous",
                "mode.$": "$.mode",
                "hook": serde_json::to_value(HookRef { phase, index }).map_err(|e| e.to_string())?
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
    if let Some(into) = catch_into {
        if matches!(kind, "Task" | "Parallel" | "Map") && !object.contains_key("Catch") {
            object.insert(
                "Catch".into(),
                json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": into }]),
            );
        }
    }
    Ok(state)
}

/// Checks a hook given as an ASL state (the Compose reader's check).
pub use crate::compose::check_state;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::DEPLOY_DEFINITION;

    fn command(words: &[&str]) -> Hook {
        Hook {
            command: Some(words.iter().map(|w| (*w).to_owned()).collect()),
            state: None,
            lambda: None,
        }
    }

    #[test]
    fn hooks_are_chained_between_the_steps_and_fail_into_rollback() {
        let hooks = Hooks {
            before_switch: vec![command(&["migrate"]), command(&["warm"])],
            after_switch: vec![Hook {
                command: None,
                state: Some(json!({ "Type": "Pass", "Result": 1, "End": true })),
                lambda: None,
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
}
