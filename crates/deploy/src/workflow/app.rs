//! The deploy of a whole app as one execution: every changed service is
//! built, then started in `depends_on` order (a wave at a time, the
//! services of a wave side by side) and waited for until healthy; only when
//! every one is healthy does the traffic of all of them move, in one step
//! (`switch-all`); then all are watched side by side, and retired. A
//! failure anywhere up to the end of the watch sends every service back to
//! the release it had (a `Rollback` Map over the services). The definition
//! is written here from the app's services because their hooks become
//! states of it.
//!
//! The execution's input is [`AppInput`]: each Map iteration's input is one
//! service's [`ReleaseRef`], so the per-service steps are the same as in a
//! single service's deploy.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use super::hooks::hook_state;
use super::rollout::RolloutPlan;
use super::{errors, ReleaseRef, RESOURCE_PREFIX};
use crate::compose::Hooks;
use crate::target::Phase;

/// What an app deploy or rollback execution starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInput {
    pub app: String,
    /// The app release (`a3`).
    pub release: String,
    /// Every service this execution changes.
    pub services: Vec<ReleaseRef>,
    /// The same services in start order: each wave only once every service
    /// it depends on is healthy.
    pub waves: Vec<Vec<ReleaseRef>>,
    /// For an explicit rollback: the app release it leaves, recorded as
    /// rolled back when the rollback succeeds (also by an agent that resumes
    /// the execution after a crash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaving: Option<String>,
}

/// Groups `services` (name and the names it depends on) into waves: a
/// service starts in the wave after the last of its dependencies. A
/// dependency outside the list (a service this deploy does not change) is
/// already running. A cycle is refused with the services in it.
pub fn waves(services: &[(String, Vec<String>)]) -> Result<Vec<Vec<String>>, String> {
    let mut level: Vec<Option<usize>> = vec![None; services.len()];
    let index = |name: &str| services.iter().position(|(n, _)| n == name);
    for _ in 0..=services.len() {
        let mut progressed = false;
        for (i, (_, deps)) in services.iter().enumerate() {
            if level[i].is_some() {
                continue;
            }
            let mut wave = 0;
            let mut ready = true;
            for dep in deps {
                match index(dep) {
                    None => {}
                    Some(d) => match level[d] {
                        Some(l) => wave = wave.max(l + 1),
                        None => ready = false,
                    },
                }
            }
            if ready {
                level[i] = Some(wave);
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    let stuck: Vec<&str> = services
        .iter()
        .zip(&level)
        .filter(|(_, l)| l.is_none())
        .map(|((n, _), _)| n.as_str())
        .collect();
    if !stuck.is_empty() {
        return Err(format!(
            "depends_on makes a cycle among {}: each waits for another to be healthy",
            stuck.join(", ")
        ));
    }
    let count = level.iter().flatten().max().map_or(0, |m| m + 1);
    let mut out = vec![Vec::new(); count];
    for ((name, _), l) in services.iter().zip(level) {
        if let Some(l) = l {
            out[l].push(name.clone());
        }
    }
    Ok(out)
}

/// A deploy step's Task state: `Deploy.*` failures are not retried, an
/// interrupted step (`States.TaskFailed`) runs again.
fn task(step: &str, result_path: Option<&str>, next: Option<&str>) -> Json {
    let mut state = json!({
        "Type": "Task",
        "Resource": format!("{RESOURCE_PREFIX}{step}"),
        "ResultPath": result_path,
        "Retry": [
            { "ErrorEquals": errors::NOT_RETRIED, "MaxAttempts": 0 },
            { "ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2 }
        ],
    });
    end_or_next(&mut state, next);
    state
}

/// A step that must finish whatever happened (retire, rollback): retried
/// on every error.
fn stubborn_task(step: &str, result_path: Option<&str>, attempts: u32) -> Json {
    json!({
        "Type": "Task",
        "Resource": format!("{RESOURCE_PREFIX}{step}"),
        "ResultPath": result_path,
        "Retry": [{ "ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": attempts }],
        "End": true,
    })
}

fn end_or_next(state: &mut Json, next: Option<&str>) {
    if let Json::Object(object) = state {
        match next {
            Some(next) => object.insert("Next".into(), json!(next)),
            None => object.insert("End".into(), json!(true)),
        };
    }
}

/// A Map over `items_path` running `states` from `start_at` per item.
fn map(items_path: &str, concurrency: u32, start_at: &str, states: Map<String, Json>) -> Json {
    json!({
        "Type": "Map",
        "ItemsPath": items_path,
        "MaxConcurrency": concurrency,
        "ItemProcessor": {
            "ProcessorConfig": { "Mode": "INLINE" },
            "StartAt": start_at,
            "States": states,
        },
        "ResultPath": null,
    })
}

fn catch_into(state: &mut Json, into: &str) {
    if let Json::Object(object) = state {
        object.insert(
            "Catch".into(),
            json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": into }]),
        );
    }
}

fn states(pairs: Vec<(String, Json)>) -> Map<String, Json> {
    pairs.into_iter().collect()
}

/// The hooks of `phase` for each service that has some, as states routed by
/// a Choice on `$.service`, ending at `done`; `None` when no service has one.
fn hook_states(
    phase: Phase,
    hooks: &[(String, Hooks)],
    done: &str,
) -> Result<Option<Vec<(String, Json)>>, String> {
    let mut out = Vec::new();
    let mut choices = Vec::new();
    let prefix = match phase {
        Phase::BeforeSwitch => "BeforeSwitch",
        Phase::AfterSwitch => "AfterSwitch",
    };
    for (service, hooks) in hooks {
        let list = match phase {
            Phase::BeforeSwitch => &hooks.before_switch,
            Phase::AfterSwitch => &hooks.after_switch,
        };
        if list.is_empty() {
            continue;
        }
        let names: Vec<String> = (1..=list.len())
            .map(|i| format!("{prefix}Hook{i}-{service}"))
            .collect();
        choices.push(json!({ "Variable": "$.service", "StringEquals": service, "Next": names[0] }));
        for (index, hook) in list.iter().enumerate() {
            let next = names.get(index + 1).map_or(done, String::as_str);
            // Inside a Map iteration a failure ends the iteration, and the
            // Map's own Catch rolls the whole app back.
            out.push((
                names[index].clone(),
                hook_state(hook, phase, index, next, None)?,
            ));
        }
    }
    if choices.is_empty() {
        return Ok(None);
    }
    out.insert(
        0,
        (
            format!("{prefix}Hooks"),
            json!({ "Type": "Choice", "Choices": choices, "Default": done }),
        ),
    );
    Ok(Some(out))
}

/// The per-service states of a start wave: start, wait healthy, then the
/// service's before-switch hooks; each iteration ends with its upstreams.
fn start_wave(hooks: &[(String, Hooks)]) -> Result<Json, String> {
    let before = hook_states(Phase::BeforeSwitch, hooks, "Healthy")?;
    let after_wait = before.as_ref().map_or("Healthy", |s| s[0].0.as_str());
    let mut inner = vec![
        (
            "StartReplicas".to_owned(),
            task("start", Some("$.containers"), Some("WaitHealthy")),
        ),
        (
            "WaitHealthy".to_owned(),
            task("wait-healthy", Some("$.upstreams"), Some(after_wait)),
        ),
    ];
    inner.extend(before.unwrap_or_default());
    inner.push(("Healthy".to_owned(), json!({ "Type": "Pass", "End": true })));
    let mut wave = map("$", 0, "StartReplicas", states(inner));
    if let Json::Object(object) = &mut wave {
        object.insert("ResultPath".into(), json!("$"));
        object.insert("End".into(), json!(true));
    }
    Ok(wave)
}

/// The waves in order, one at a time; its result (`$.healthy`) is every
/// wave's iterations' outputs.
fn start_all(hooks: &[(String, Hooks)], next: &str, on_failure: &str) -> Result<Json, String> {
    let mut start = map(
        "$.waves",
        1,
        "StartWave",
        states(vec![("StartWave".to_owned(), start_wave(hooks)?)]),
    );
    if let Json::Object(object) = &mut start {
        object.insert("ResultPath".into(), json!("$.healthy"));
        object.insert("Next".into(), json!(next));
    }
    catch_into(&mut start, on_failure);
    Ok(start)
}

/// A Map of one step over `$.services`, caught into `on_failure` if given.
fn each_service(step: &str, state: Json, next: Option<&str>, on_failure: Option<&str>) -> Json {
    let mut each = map(
        "$.services",
        0,
        step,
        states(vec![(step.to_owned(), state)]),
    );
    end_or_next(&mut each, next);
    if let Some(into) = on_failure {
        catch_into(&mut each, into);
    }
    each
}

/// The Map that puts every service back, each iteration with the failure.
fn roll_back_all(name: &str, next: &str) -> Json {
    let mut each = each_service(
        name,
        stubborn_task("rollback", Some("$.rollback"), 5),
        Some(next),
        None,
    );
    if let Json::Object(object) = &mut each {
        object.insert(
            "ItemSelector".into(),
            json!({
                "app.$": "$$.Map.Item.Value.app",
                "service.$": "$$.Map.Item.Value.service",
                "release.$": "$$.Map.Item.Value.release",
                "previous.$": "$$.Map.Item.Value.previous",
                "mode.$": "$$.Map.Item.Value.mode",
                "requested_millis.$": "$$.Map.Item.Value.requested_millis",
                "failure.$": "$.failure",
            }),
        );
    }
    each
}

/// The Map that gives every service its image, pushed when asked: a
/// service with `build:` goes through `BuildImage`, one with only `image:`
/// through `ResolveImage` (the image it names, pulled when the engine lacks
/// it, pinned by digest), so a deploy's steps name what happens; a Choice
/// on `$.service` routes them when the app has both. `hooks` lists every
/// service.
fn image_map(hooks: &[(String, Hooks)], building: &[String]) -> Json {
    const BUILD: &str = "BuildImage";
    const RESOLVE: &str = "ResolveImage";
    let resolving = hooks.iter().any(|(s, _)| !building.contains(s));
    let mut pairs = Vec::new();
    let start_at = match (building.is_empty(), resolving) {
        (false, true) => {
            let choices: Vec<Json> = building
                .iter()
                .map(|s| json!({ "Variable": "$.service", "StringEquals": s, "Next": BUILD }))
                .collect();
            pairs.push((
                "ImageFrom".to_owned(),
                json!({ "Type": "Choice", "Choices": choices, "Default": RESOLVE }),
            ));
            "ImageFrom"
        }
        (false, false) => BUILD,
        (true, _) => RESOLVE,
    };
    if !building.is_empty() {
        pairs.push((
            BUILD.to_owned(),
            task("build", Some("$.image"), Some("PushWanted")),
        ));
    }
    if resolving || building.is_empty() {
        pairs.push((
            RESOLVE.to_owned(),
            task("build", Some("$.image"), Some("PushWanted")),
        ));
    }
    pairs.extend([
        (
            "PushWanted".to_owned(),
            json!({
                "Type": "Choice",
                "Choices": [{ "Variable": "$.image.push", "IsPresent": true, "Next": "PushImage" }],
                "Default": "Built",
            }),
        ),
        (
            "PushImage".to_owned(),
            task("push", Some("$.image"), Some("Built")),
        ),
        ("Built".to_owned(), json!({ "Type": "Pass", "End": true })),
    ]);
    map("$.services", 4, start_at, states(pairs))
}

/// The app's deploy definition; `hooks` are each service's
/// `x-windlass.hooks`; `building`, the services whose image is built
/// (`build:`); `rollout`, the app's `x-windlass.rollout`, puts its steps
/// between the start and the switch (`super::rollout`).
pub fn deploy_definition(
    hooks: &[(String, Hooks)],
    building: &[String],
    rollout: Option<&RolloutPlan>,
) -> Result<String, String> {
    let mut build = image_map(hooks, building);
    end_or_next(&mut build, Some("Start"));
    catch_into(&mut build, "Rollback");

    let after = hook_states(Phase::AfterSwitch, hooks, "AfterSwitchDone")?;
    let after_switch = after.map(|mut hook_states| {
        hook_states.push((
            "AfterSwitchDone".to_owned(),
            json!({ "Type": "Pass", "End": true }),
        ));
        let start_at = hook_states[0].0.clone();
        let mut each = map("$.services", 0, &start_at, states(hook_states));
        end_or_next(&mut each, Some("Watch"));
        catch_into(&mut each, "Rollback");
        each
    });
    let mut switch = task(
        "switch-all",
        Some("$.switch"),
        Some(if after_switch.is_some() {
            "AfterSwitch"
        } else {
            "Watch"
        }),
    );
    catch_into(&mut switch, "Rollback");

    let rollout_states = match rollout {
        Some(rollout) => super::rollout::states(rollout, "Switch", "Rollback")?,
        None => Vec::new(),
    };
    let after_start = rollout_states
        .first()
        .map_or_else(|| "Switch".to_owned(), |(name, _)| name.clone());
    let mut top = vec![
        ("Build".to_owned(), build),
        (
            "Start".to_owned(),
            start_all(hooks, &after_start, "Rollback")?,
        ),
    ];
    top.extend(rollout_states);
    top.push(("Switch".to_owned(), switch));
    if let Some(after_switch) = after_switch {
        top.push(("AfterSwitch".to_owned(), after_switch));
    }
    top.extend([
        (
            "Watch".to_owned(),
            each_service(
                "WatchRelease",
                task("watch", Some("$.watch"), None),
                Some("Retire"),
                Some("Rollback"),
            ),
        ),
        (
            "Retire".to_owned(),
            each_service(
                "RetireRelease",
                stubborn_task("retire", Some("$.retired"), 3),
                None,
                None,
            ),
        ),
        (
            "Rollback".to_owned(),
            roll_back_all("RollBackRelease", "RolledBack"),
        ),
        (
            "RolledBack".to_owned(),
            json!({
                "Type": "Fail",
                "Error": errors::ROLLED_BACK,
                "CausePath": "States.Format('{}: {}', $.failure.Error, $.failure.Cause)",
            }),
        ),
    ]);
    document("windlass's deploy of a whole app: build every changed service, start them in depends_on order and wait until each is healthy, move the traffic of all of them in one step, watch them side by side, retire what is no longer needed. A failure of any service until the watch ends puts every service back on the release it had.", top)
}

/// The app's explicit rollback to an earlier app release. When every
/// service's release is still running and passes its health check now (the
/// warm standby that `retire` keeps), the traffic of all of them moves at
/// once (`switch-warm`): a flip. Otherwise: start the services' releases
/// unless they still run, wait until healthy, switch all at once. Then
/// retire. A failure before the switch leaves the app as it was.
pub fn rollback_definition() -> Result<String, String> {
    let mut warm = task("switch-warm", Some("$.switch"), Some("WarmStandby"));
    catch_into(&mut warm, "Restore");
    let mut switch = task("switch-all", Some("$.switch"), Some("Retire"));
    catch_into(&mut switch, "Restore");
    let top = vec![
        ("SwitchWarm".to_owned(), warm),
        (
            "WarmStandby".to_owned(),
            json!({
                "Type": "Choice",
                "Choices": [{ "Variable": "$.switch.warm", "BooleanEquals": true, "Next": "Retire" }],
                "Default": "Start",
            }),
        ),
        ("Start".to_owned(), start_all(&[], "Switch", "Restore")?),
        ("Switch".to_owned(), switch),
        (
            "Retire".to_owned(),
            each_service(
                "RetireRelease",
                stubborn_task("retire", Some("$.retired"), 3),
                None,
                None,
            ),
        ),
        (
            "Restore".to_owned(),
            roll_back_all("RestoreRelease", "RollbackFailed"),
        ),
        (
            "RollbackFailed".to_owned(),
            json!({
                "Type": "Fail",
                "Error": "Deploy.RollbackFailed",
                "CausePath": "States.Format('{}: {}', $.failure.Error, $.failure.Cause)",
            }),
        ),
    ];
    document("windlass's rollback of a whole app to an earlier app release: when every service's release still runs and is healthy, move all their traffic at once; otherwise start each service's release unless it still runs, wait until healthy, switch all at once. Then retire.", top)
}

fn document(comment: &str, top: Vec<(String, Json)>) -> Result<String, String> {
    let start_at = top.first().map(|(n, _)| n.clone()).unwrap_or_default();
    let document = json!({
        "Comment": comment,
        "StartAt": start_at,
        "States": states(top),
    });
    serde_json::to_string_pretty(&document).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::Hook;

    #[test]
    fn waves_follow_depends_on_and_refuse_cycles() {
        let deps = |list: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
            list.iter()
                .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        let app = deps(&[
            ("web", &["api"]),
            ("api", &["db", "cache"]),
            ("db", &[]),
            ("cache", &[]),
            ("worker", &["db", "elsewhere"]),
        ]);
        assert_eq!(
            waves(&app).expect("waves"),
            vec![
                vec!["db".to_owned(), "cache".to_owned()],
                vec!["api".to_owned(), "worker".to_owned()],
                vec!["web".to_owned()]
            ]
        );
        let cycle = deps(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]);
        let error = waves(&cycle).expect_err("a cycle");
        assert!(error.contains("a, b"), "{error}");
    }

    #[test]
    fn the_app_definitions_are_valid_asl() {
        let hooks = vec![(
            "web".to_owned(),
            Hooks {
                before_switch: vec![Hook {
                    command: Some(vec!["migrate".into()]),
                    state: None,
                    lambda: None,
                }],
                after_switch: vec![Hook {
                    command: None,
                    state: Some(json!({ "Type": "Pass", "End": true })),
                    lambda: None,
                }],
            },
        )];
        for text in [
            deploy_definition(&[], &[], None).expect("plain"),
            deploy_definition(&hooks, &[], None).expect("with hooks"),
            rollback_definition().expect("rollback"),
        ] {
            let parsed = windlass_asl::parse::parse_text(&text).valid();
            assert!(parsed.is_ok(), "{:?}\n{text}", parsed.err());
        }
        let text = deploy_definition(&hooks, &[], None).expect("with hooks");
        assert!(text.contains("BeforeSwitchHook1-web"), "{text}");
        assert!(text.contains("AfterSwitchHook1-web"), "{text}");
    }

    /// A service with only `image:` is not built: its step is
    /// `ResolveImage`; `BuildImage` is there only for services that build,
    /// and a Choice routes each service when the app has both kinds.
    #[test]
    fn only_services_that_build_have_a_build_step() {
        let services = |names: &[&str]| -> Vec<(String, Hooks)> {
            names
                .iter()
                .map(|n| ((*n).to_owned(), Hooks::default()))
                .collect()
        };
        let build_states = |text: &str| -> Json {
            let definition: Json = serde_json::from_str(text).expect("json");
            definition["States"]["Build"]["ItemProcessor"].clone()
        };
        let images_only = deploy_definition(&services(&["web", "db"]), &[], None).expect("text");
        let processor = build_states(&images_only);
        assert_eq!(processor["StartAt"], "ResolveImage");
        assert!(
            processor["States"].get("BuildImage").is_none(),
            "{processor}"
        );

        let built = vec!["web".to_owned(), "db".to_owned()];
        let all_built = deploy_definition(&services(&["web", "db"]), &built, None).expect("text");
        let processor = build_states(&all_built);
        assert_eq!(processor["StartAt"], "BuildImage");
        assert!(
            processor["States"].get("ResolveImage").is_none(),
            "{processor}"
        );

        let mixed = deploy_definition(&services(&["web", "db"]), &built[..1], None).expect("text");
        let processor = build_states(&mixed);
        assert_eq!(processor["StartAt"], "ImageFrom");
        assert_eq!(
            processor["States"]["ImageFrom"],
            json!({
                "Type": "Choice",
                "Choices": [{ "Variable": "$.service", "StringEquals": "web", "Next": "BuildImage" }],
                "Default": "ResolveImage",
            })
        );
        let parsed = windlass_asl::parse::parse_text(&mixed).valid();
        assert!(parsed.is_ok(), "{:?}", parsed.err());
    }
}
