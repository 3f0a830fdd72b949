//! `windlass deploy --target ecs --dry-run`: what a deploy would do, worked
//! out by read calls only ([`super::current`]); nothing is built, pushed,
//! registered or changed, and no release is recorded. The plan says the
//! task definition it would register (against the one the service runs),
//! the service change, the strategy and the rollback it would do.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use windlass_aws::Client;

use super::current::{self, Current};
use super::error::Error;
use super::plan::Plan;
use super::strategy::Strategy;
use crate::compose::Service;

/// The image in a task definition the dry run shows: no image is built, so
/// no digest is known.
const NEW_IMAGE: &str = "(the image built now, pinned by the digest ECR gives it)";

/// What a deploy of one service would do.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRun {
    pub lines: Vec<String>,
}

/// The plan of `plan`'s service, from what AWS has now.
pub async fn dry_run(client: &Client, plan: &Plan, service: &Service) -> Result<DryRun, Error> {
    let refusals = super::plan::aws_would_refuse(&plan.name, service);
    if !refusals.is_empty() {
        return Err(Error::Refused(
            refusals.iter().map(ToString::to_string).collect(),
        ));
    }
    let now = current::read(client, plan).await?;
    let registered = plan
        .task_definition(service, NEW_IMAGE)
        .map_err(|r| Error::Refused(r.iter().map(ToString::to_string).collect()))?;
    let rollout = &plan.rollout;
    let mut lines = vec![format!(
        "{}: ECS service {} on cluster {} (dry run: read calls only, nothing is built, pushed or changed)",
        plan.key, rollout.service, rollout.cluster
    )];
    lines.push(image_line(plan, service, &now));
    let live = match &now.service {
        Some(running) => Some(current::task_definition(client, &running.revision).await?),
        None => None,
    };
    match (&now.service, &live) {
        (Some(running), Some(live)) => {
            lines.push(format!(
                "  task definition: a new revision of family {} (the service runs {}); what changes:",
                plan.family, running.revision
            ));
            let changes = diff(live, &registered);
            if changes.is_empty() {
                lines.push("      nothing but the image".into());
            }
            lines.extend(changes.into_iter().map(|c| format!("      {c}")));
            lines.push(format!(
                "  service: UpdateService {} to the new revision, desired count {} -> {}",
                rollout.service, running.desired_count, rollout.desired_count
            ));
        }
        _ => {
            lines.push(format!(
                "  task definition: family {} registered for the first time:",
                plan.family
            ));
            let text = serde_json::to_string_pretty(&registered).unwrap_or_default();
            lines.extend(text.lines().map(|l| format!("      {l}")));
            lines.push(format!(
                "  service: CreateService {} on cluster {} ({}, desired count {})",
                rollout.service,
                rollout.cluster,
                rollout
                    .launch_type
                    .as_deref()
                    .unwrap_or("capacity provider strategy"),
                rollout.desired_count
            ));
        }
    }
    lines.push(format!("  strategy: {}", strategy(plan)));
    lines.push(format!(
        "  healthy when: {} task(s) of the new revision RUNNING{}, looked at every {} s, at most {} looks; then watched {} looks",
        rollout.desired_count,
        if rollout.health_checked { " and HEALTHY" } else { "" },
        rollout.poll_seconds,
        rollout.max_polls,
        rollout.watch_polls
    ));
    lines.push(format!("  rollback: {}", rollback(plan, &now)));
    Ok(DryRun { lines })
}

fn image_line(plan: &Plan, service: &Service, now: &Current) -> String {
    let source = match (&service.build, &service.image) {
        (Some(build), _) => format!("built locally from {}", build.context.display()),
        (None, Some(image)) => format!("the local image {image}"),
        (None, None) => "no build or image".into(),
    };
    match &now.repository_uri {
        Some(uri) => format!("  image: {source}, pushed to {uri} (ECR)"),
        None => format!(
            "  image: {source}, pushed to ECR repository {} (created: it does not exist yet)",
            plan.repository
        ),
    }
}

fn strategy(plan: &Plan) -> String {
    let rollout = &plan.rollout;
    let hooks = if rollout.lifecycle_hooks.is_empty() {
        ""
    } else {
        ", with ECS lifecycle hooks"
    };
    let alarms = if rollout.alarms.is_empty() {
        String::new()
    } else {
        format!(
            "; ECS rolls back when CloudWatch alarm {} goes into ALARM",
            rollout.alarms.join(", ")
        )
    };
    match rollout.strategy {
        Strategy::Rolling if rollout.stop_first => "rolling, stop-first (minimum 0%, maximum 100%): the old tasks stop before the new ones start; circuit breaker with rollback".into(),
        Strategy::Rolling => "rolling (minimum 100%, maximum 200%: new tasks start beside the old ones); circuit breaker with rollback".into(),
        shifting => format!("{shifting}{hooks}{alarms}"),
    }
}

fn rollback(plan: &Plan, now: &Current) -> String {
    let how = match plan.rollout.strategy.rollback() {
        Strategy::Rolling => {
            "a rollout of that revision's tasks, tens of seconds, not a traffic flip"
        }
        _ => "ECS blue/green: all the traffic back at once once that revision's tasks run",
    };
    match &now.service {
        Some(running) => format!(
            "if the new revision fails, UpdateService back to {} ({how})",
            running.revision
        ),
        None => "a first deploy that fails is scaled to zero (there is no revision to go back to)"
            .into(),
    }
}

/// The fields that differ between the live task definition and the one a
/// deploy would register, one line each (`path: old -> new`). Fields AWS
/// adds (revision, status, defaults left empty) are not changes.
pub fn diff(live: &Json, new: &Json) -> Vec<String> {
    let mut old_leaves = BTreeMap::new();
    let mut new_leaves = BTreeMap::new();
    let Some(fields) = new.as_object() else {
        return Vec::new();
    };
    for (key, value) in fields {
        leaves(&format!("/{key}"), value, &mut new_leaves);
        if let Some(old) = live.get(key) {
            leaves(&format!("/{key}"), old, &mut old_leaves);
        }
    }
    let mut out = Vec::new();
    for (path, value) in &new_leaves {
        match old_leaves.get(path) {
            Some(old) if old == value => {}
            Some(old) => out.push(format!("{path}: {old} -> {value}")),
            None => out.push(format!("{path}: (none) -> {value}")),
        }
    }
    for (path, old) in &old_leaves {
        if !new_leaves.contains_key(path) {
            out.push(format!("{path}: {old} -> (none)"));
        }
    }
    out
}

/// Every leaf of `value` under `path`; an empty, zero or false leaf (what
/// AWS fills in for a field not given) counts as absent.
fn leaves(path: &str, value: &Json, out: &mut BTreeMap<String, String>) {
    match value {
        Json::Object(map) => {
            for (key, inner) in map {
                leaves(&format!("{path}/{key}"), inner, out);
            }
        }
        // Containers, variables and secrets are told apart by their
        // names, not their places: a new variable first is one change.
        Json::Array(items) if items.iter().all(|i| i["Name"].is_string()) && !items.is_empty() => {
            for inner in items {
                let name = inner["Name"].as_str().unwrap_or_default();
                for (key, field) in inner.as_object().into_iter().flatten() {
                    if key != "Name" {
                        leaves(&format!("{path}/{name}/{key}"), field, out);
                    }
                }
            }
        }
        Json::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                leaves(&format!("{path}/{i}"), inner, out);
            }
        }
        Json::Null | Json::Bool(false) => {}
        Json::Number(n) if n.as_f64() == Some(0.0) => {}
        Json::String(s) if s.is_empty() => {}
        other => {
            out.insert(path.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::{diff, strategy};
    use crate::compose;

    #[test]
    fn the_plan_says_how_ecs_shifts_the_traffic() {
        let text = "services:\n  web:\n    image: r/web:1\n    ports: [\"8080:8080\"]\n    x-windlass:\n      rollout: { step: 25, interval: 3m, analysis: { alarms: [web-5xx] } }\n";
        let project = compose::parse(text, Path::new("/tmp/compose.yaml")).expect("valid");
        let plan =
            super::super::plan::plan("web", &project.services["web"], "us-east-1").expect("plans");
        assert_eq!(
            strategy(&plan),
            "ECS linear (LINEAR): 25% more of the traffic every 3 min until all of it; both revisions kept 5 min after (bake time); ECS rolls back when CloudWatch alarm web-5xx goes into ALARM"
        );
    }

    #[test]
    fn the_diff_names_changed_fields_and_not_what_aws_adds() {
        let live = json!({ "Family": "web", "Revision": 3, "Status": "ACTIVE",
            "ContainerDefinitions": [{ "Name": "web", "Image": "r@sha256:1", "Cpu": 0, "MountPoints": [],
                "Environment": [{ "Name": "V", "Value": "v1" }] }] });
        let new = json!({ "Family": "web",
            "ContainerDefinitions": [{ "Name": "web", "Image": "new",
                "Environment": [{ "Name": "V", "Value": "v2" }] }] });
        assert_eq!(
            diff(&live, &new),
            vec![
                "/ContainerDefinitions/web/Environment/V/Value: \"v1\" -> \"v2\"",
                "/ContainerDefinitions/web/Image: \"r@sha256:1\" -> \"new\"",
            ]
        );
    }
}
