//! What a Compose file means beyond the shape of its values: references
//! between services and top-level resources, values Docker would refuse
//! mid-deploy, what windlass cannot do, and the names the engine's objects
//! get (Compose's `PROJECT_NAME` scheme). Every problem is reported.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::diagnostic::Report;
use super::locate::FieldPath;
use super::mounts::MountKind;
use super::resolve::resolve;
use super::{dockerfile, hooks, FailureAction, FileChecks, Project, PullPolicy, Service, Target};

/// Checks every service against the project and resolves names and files.
pub(crate) fn check_project(
    project: &mut Project,
    left_out: &IndexMap<String, Service>,
    env: &BTreeMap<String, String>,
    files: FileChecks,
    report: &mut Report,
) {
    let prefix = project.project.clone();
    for (key, network) in project.networks.iter_mut() {
        if network.name.is_none() {
            network.name = Some(if network.external {
                key.clone()
            } else {
                format!("{prefix}_{key}")
            });
        }
    }
    for (key, volume) in project.volumes.iter_mut() {
        if volume.name.is_none() {
            volume.name = Some(if volume.external {
                key.clone()
            } else {
                format!("{prefix}_{key}")
            });
        }
    }
    for (section, sources) in [("secrets", &project.secrets), ("configs", &project.configs)] {
        for (key, source) in sources {
            let at = FieldPath::of(&[section, key]);
            let given = [
                source.file.is_some(),
                source.environment.is_some(),
                source.content.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            let swarm = project.target == Target::Swarm;
            if source.external && !swarm {
                report.error(&at.key("external"), "external secrets and configs live in swarm's store, which a plain engine does not have: give the value with `file` or `environment`");
            } else if source.external && given > 0 {
                report.error(&at.key("external"), "an external one is in the Swarm's store already, by its `name`: remove `file`, `environment` and `content`, or `external`");
            } else if source.driver.is_some() && given > 0 {
                report.error(&at.key("driver"), "a secret driver gives the value itself: remove `file`, `environment` and `content`, or `driver`");
            } else if !source.external && source.driver.is_none() && given != 1 {
                report.error(&at, "give exactly one source: `file` (a host file), `environment` (a variable's value) or, for configs, `content`");
            }
            if let Some(driver) = source.template_driver.as_deref().filter(|d| *d != "golang") {
                report.error(&at.key("template_driver"), format!("template driver {driver:?} is unknown: a Swarm renders templates with `golang` only"));
            }
            if section == "secrets" && source.content.is_some() {
                report.error(&at.key("content"), "`content` is for configs: keep a secret in a `file` or an `environment` variable, out of the Compose file");
            }
        }
    }
    for (key, network) in &project.networks {
        let at = FieldPath::of(&["networks", key, "driver"]);
        match project.target {
            Target::Swarm => {
                let driver = network.driver.as_deref().unwrap_or("overlay");
                if !network.external && driver != "overlay" {
                    report.error(&at, format!("driver {driver:?} is not supported on a Swarm: windlass creates overlay networks there; make the network yourself and declare it `external: true`"));
                }
                // The overlay driver has options of its own; a bridge's
                // would be dropped without a word.
                for option in network
                    .driver_opts
                    .keys()
                    .filter(|o| o.starts_with("com.docker.network.bridge."))
                {
                    report.error(&FieldPath::of(&["networks", key, "driver_opts", option]), "a bridge network's option, which a Swarm's overlay network does not have: remove it (overlay options are `encrypted` and `com.docker.network.driver.mtu`)");
                }
            }
            Target::Docker | Target::Ecs => {
                let driver = network.driver.as_deref().unwrap_or("bridge");
                if !network.external && driver != "bridge" {
                    report.error(&at, format!("driver {driver:?} is not supported: windlass creates bridge networks on one engine; make the network yourself and declare it `external: true`"));
                }
            }
        }
    }
    let unused_name = match project.target {
        Target::Swarm => "windlass names each version of it in the Swarm's store itself (`APP_KEY_HASH_INSTALLATION`, so that every release keeps its own value and a rollback gets the old one back), so `name` is not used: the file is mounted at the service's target",
        Target::Docker | Target::Ecs => "a name only matters for swarm's store, so windlass does not use it: the file is mounted at the service's target",
    };
    for (section, sources) in [("secrets", &project.secrets), ("configs", &project.configs)] {
        for key in sources
            .iter()
            .filter(|(_, s)| !s.external && s.name.is_some())
            .map(|(k, _)| k)
        {
            report.warning(&FieldPath::of(&[section, key, "name"]), unused_name);
        }
    }
    let names: Vec<String> = project.services.keys().cloned().collect();
    for (name, service) in project.services.iter_mut() {
        super::settle::settle(name, service, &names, report);
    }
    if project.target == Target::Swarm {
        for (name, service) in &project.services {
            if service.deploy.endpoint_mode == Some(super::EndpointMode::Vip) {
                report.warning(&FieldPath::of(&["services", name, "deploy", "endpoint_mode"]), "on a Swarm, windlass's entry point is the app's one stable address (the part a VIP plays), and each release is a `dnsrr` service: the entry resolves `tasks.NAME` and balances over the tasks itself, the app's other services reach the service's name by DNS round robin over the live and warm releases' tasks during a switch, and a VIP would need `ip_vs` on every node (not every kernel has it); write `dnsrr` to say so");
            }
        }
    }
    mark_jobs(project, report);
    refuse_cycles(project, report);
    let mut container_names: BTreeMap<String, String> = BTreeMap::new();
    let snapshot = project.clone();
    // Services left out by their profiles are checked too, as Compose
    // checks the whole file whatever the profiles.
    let all: Vec<String> = names.iter().chain(left_out.keys()).cloned().collect();
    // Against the whole file, so that a left-out service's dependencies
    // (left out with it) are found with their healthchecks.
    let mut whole = snapshot.clone();
    whole
        .services
        .extend(left_out.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (name, service) in left_out {
        let at = FieldPath::of(&["services", name]);
        check_service(name, service, &whole, &all, &IndexMap::new(), &at, report);
    }
    for (name, service) in project.services.iter_mut() {
        let at = FieldPath::of(&["services", name]);
        check_service(name, service, &snapshot, &names, left_out, &at, report);
        if let Some(fixed) = &service.container_name {
            if let Some(other) = container_names.insert(fixed.clone(), name.clone()) {
                report.error(&at.key("container_name"), format!("container name {fixed:?} is also the container_name of service {other}: container names are unique on an engine"));
            }
            if service.deploy.replicas.is_some_and(|r| r > 1) {
                report.error(&at.key("container_name"), "a fixed container_name allows one container only: remove it or set `deploy.replicas: 1`");
            }
        }
        resolve(name, service, &snapshot, env, files, report);
        if files == FileChecks::Check {
            check_build(service, &at, report);
        }
    }
}

/// Refuses a cycle of `depends_on` among the services that run, as Docker
/// Compose does: no service of it could start first.
fn refuse_cycles(project: &Project, report: &mut Report) {
    // Depth first; `trail` is the path from the service the walk began at.
    fn visit<'a>(
        name: &'a str,
        project: &'a Project,
        trail: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(start) = trail.iter().position(|t| *t == name) {
            let mut cycle = trail[start..].to_vec();
            cycle.push(name);
            return Some(cycle);
        }
        if done.contains(&name) {
            return None;
        }
        // A service left out by its profiles starts nothing: no cycle through it.
        let service = project.services.get(name)?;
        trail.push(name);
        for dependency in service.depends_on.keys() {
            if dependency != name {
                if let Some(cycle) = visit(dependency, project, trail, done) {
                    return Some(cycle);
                }
            }
        }
        trail.pop();
        done.push(name);
        None
    }
    let mut done = Vec::new();
    for name in project.services.keys() {
        if let Some(cycle) = visit(name, project, &mut Vec::new(), &mut done) {
            report.error(
                &FieldPath::of(&["services", cycle[0], "depends_on"]),
                format!(
                    "dependency cycle: {}: no service of it could start first",
                    cycle.join(" -> ")
                ),
            );
            return;
        }
    }
}

/// Marks the services others wait to complete (`service_completed_successfully`)
/// and refuses what such a one-shot job cannot be: one that serves a
/// published port, or that Docker restarts whatever its exit.
fn mark_jobs(project: &mut Project, report: &mut Report) {
    let jobs: Vec<String> = project
        .services
        .values()
        .flat_map(|s| s.depends_on.iter())
        .filter(|(_, how)| how.condition == super::runtime::Condition::ServiceCompletedSuccessfully)
        .map(|(name, _)| name.clone())
        .collect();
    for name in jobs {
        let Some(job) = project.services.get_mut(&name) else {
            continue;
        };
        if job.runs_to_completion {
            continue;
        }
        job.runs_to_completion = true;
        let at = FieldPath::of(&["services", &name]);
        if !job.ports.is_empty() {
            report.error(&at.key("ports"), format!("service `{name}` runs to completion (another service depends on it with condition service_completed_successfully), so it serves no traffic: remove its ports, or depend on it with service_started or service_healthy"));
        }
        let restart = job.restart_policy();
        if matches!(
            restart,
            Some(super::runtime::Restart::Always | super::runtime::Restart::UnlessStopped)
        ) {
            report.error(&at.key("restart"), format!("service `{name}` must run to completion (another service depends on it with condition service_completed_successfully), but restart {} starts it again whenever it ends: use restart \"no\" or on-failure", if restart == Some(super::runtime::Restart::Always) { "always" } else { "unless-stopped" }));
        }
    }
}

/// The service's Dockerfile (there, with its target), the caches the
/// build can use without a BuildKit session, and a `pull_policy` that fits.
fn check_build(service: &Service, at: &FieldPath, report: &mut Report) {
    if service.pull_policy == PullPolicy::Build && service.build.is_none() {
        report.error(
            &at.key("pull_policy"),
            "`pull_policy: build` builds the image at every deploy, and the service has no `build`: add one, or pull with `missing` or `always`",
        );
    }
    if service.windlass.push && service.image.is_none() {
        report.error(
            &at.key("x-windlass").key("push"),
            "`x-windlass.push` pushes each release's image to the repository `image` names (as `REPO:RELEASE`), and the service has no `image`: name the repository, or remove `push`",
        );
    }
    let Some(build) = &service.build else {
        return;
    };
    for finding in dockerfile::check(
        &build.context,
        build.dockerfile.as_deref(),
        build.target.as_deref(),
    ) {
        report.at(
            &finding.file,
            finding.line,
            finding.column,
            &at.key("build").to_string(),
            finding.message,
        );
    }
    let at = at.key("build");
    for (i, cache) in build.cache_from.iter().enumerate() {
        if crate::plan::cache_image(cache).is_none() {
            report.error(&at.key("cache_from").index(i), format!("cache {cache:?} cannot be read: the engine's build API takes images (`IMAGE` or `type=registry,ref=IMAGE`); BuildKit reads other cache types through buildx's control API, which windlass does not use"));
        }
    }
    for (i, cache) in build.cache_to.iter().enumerate() {
        if !crate::plan::inline_cache(cache) {
            report.error(&at.key("cache_to").index(i), format!("cache {cache:?} cannot be written: the engine's own BuildKit, which the Engine API's build drives, exports a build's cache only into the image it builds (`type=inline`, which `cache_from` then reads); a registry, local or GitHub cache export needs a BuildKit builder of its own (buildx's docker-container driver): write `type=inline`"));
        }
    }
    for (i, agent) in build.ssh.iter().enumerate() {
        let here = at.key("ssh").index(i);
        match &agent.socket {
            None => report.error(&here, format!("`{}` forwards the SSH agent of $SSH_AUTH_SOCK, which is not set here: start one (`eval $(ssh-agent)`, `ssh-add`), or write {}=PATH of an agent's socket", agent.id, agent.id)),
            // A socket that is gone by now (a release read again later)
            // is the build's to report, if it builds again.
            Some(path) => match std::fs::metadata(path) {
                Ok(meta) if !is_socket(&meta) => report.error(&here, format!("{} is not an SSH agent's socket: windlass forwards an SSH agent to the build and serves no key file; load the key into an agent (`eval $(ssh-agent)` when none runs, then `ssh-add {}`) and write `{}` without a path, which forwards the agent of $SSH_AUTH_SOCK under the id the Dockerfile's `RUN --mount=type=ssh` names (`default` when it names none)", path.display(), path.display(), agent.id)),
                _ => {}
            },
        }
    }
}

#[cfg(unix)]
fn is_socket(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_socket()
}

#[cfg(not(unix))]
fn is_socket(_: &std::fs::Metadata) -> bool {
    false
}

fn check_service(
    name: &str,
    service: &Service,
    project: &Project,
    names: &[String],
    left_out: &IndexMap<String, Service>,
    at: &FieldPath,
    report: &mut Report,
) {
    if service.image.is_none() && service.build.is_none() {
        report.error(at, "has neither `image` nor `build`: give at least one");
    }
    // Two entries on one host address and protocol could not both listen.
    let mut seen = std::collections::BTreeSet::new();
    for port in &service.ports {
        let Some(published) = port.published else {
            continue;
        };
        if !seen.insert((port.host_ip, published, port.protocol)) {
            let host = port
                .host_ip
                .map_or_else(|| "every interface".to_owned(), |ip| ip.to_string());
            report.error(
                &at.key("ports"),
                format!("port {published}/{} on {host} is published twice: give each entry its own published port", port.protocol),
            );
        }
    }
    if let Some(port) = service.windlass.port {
        if !service.ports.is_empty() && !service.ports.iter().any(|p| p.target == port) {
            let targets: Vec<String> = service.ports.iter().map(|p| p.target.to_string()).collect();
            report.error(
                &at.key("x-windlass").key("port"),
                format!(
                    "port {port} is not among the service's container ports ({})",
                    targets.join(", ")
                ),
            );
        }
    }
    let ratios = [
        (
            service
                .deploy
                .update_config
                .as_ref()
                .and_then(|c| c.max_failure_ratio),
            FieldPath::of(&["deploy", "update_config", "max_failure_ratio"]),
        ),
        (
            service
                .deploy
                .rollback_config
                .as_ref()
                .and_then(|c| c.max_failure_ratio),
            FieldPath::of(&["deploy", "rollback_config", "max_failure_ratio"]),
        ),
        (
            service.windlass.rollback_on.server_error_ratio,
            FieldPath::of(&["x-windlass", "rollback_on", "server_error_ratio"]),
        ),
    ];
    for (ratio, path) in ratios {
        if let Some(ratio) = ratio.filter(|r| !(0.0..=1.0).contains(r)) {
            let full = FieldPath([at.0.clone(), path.0].concat());
            report.error(
                &full,
                format!("{ratio} is out of range: expected a share from 0 to 1"),
            );
        }
    }
    if let Some(FailureAction::Rollback) = service
        .deploy
        .rollback_config
        .as_ref()
        .and_then(|c| c.failure_action)
    {
        report.error(
            &at.key("deploy")
                .key("rollback_config")
                .key("failure_action"),
            "`rollback` is not allowed in rollback_config: expected `continue` or `pause`",
        );
    }
    if let Some(mode) = service
        .deploy
        .mode
        .as_deref()
        .filter(|m| *m != "replicated")
    {
        report.error(&at.key("deploy").key("mode"), format!("mode {mode:?} is not supported: windlass runs `deploy.replicas` replicas on one engine (mode `replicated`)"));
    }
    let hooks = service
        .windlass
        .hooks
        .before_switch
        .iter()
        .map(|h| ("before_switch", h));
    for (when, hook) in hooks.chain(
        service
            .windlass
            .hooks
            .after_switch
            .iter()
            .map(|h| ("after_switch", h)),
    ) {
        let hook_at = at.key("x-windlass").key("hooks").key(when);
        let kinds = [
            hook.command.is_some(),
            hook.state.is_some(),
            hook.lambda.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            report.error(&hook_at, "each hook needs exactly one of `command` (run in a new container), `state` (an ASL state) or `lambda` (a Lambda function invoked; ECS target)");
        }
        if let Err(message) = hook.state.as_ref().map_or(Ok(()), hooks::check_state) {
            report.error(&hook_at.key("state"), message);
        }
    }
    if let Some(rollout) = &service.windlass.rollout {
        let rollout_at = at.key("x-windlass").key("rollout");
        for (keys, message) in rollout.problems() {
            let here = keys.iter().fold(rollout_at.clone(), |p, k| p.key(k));
            report.error(&here, message);
        }
        if !service.has_proxy() {
            report.error(&rollout_at, "a rollout moves traffic on windlass's proxy, and the service publishes no port: remove `rollout`, or publish the port its traffic comes to");
        } else if let (super::Strategy::StopFirst, why) = service.strategy() {
            report.error(&rollout_at, format!("a rollout runs the new release beside the old one, and the service deploys stop-first ({why}): remove `rollout`, or let the service run twice"));
        }
    }
    if let Some(path) = &service.windlass.health.http {
        if !path.starts_with('/') {
            report.error(
                &at.key("x-windlass").key("health").key("http"),
                format!("{path:?} is not a path: expected one starting with '/'"),
            );
        }
    }
    for network in service.networks.0.keys() {
        if network != "default" && !project.networks.contains_key(network) {
            report.error(
                &at.key("networks"),
                format!(
                    "network `{network}` is not declared under the top-level `networks` ({})",
                    declared(project.networks.keys())
                ),
            );
        }
    }
    super::addresses::check_addresses(service, project, at, report);
    // Since Docker 20.10 an IPC namespace is private unless its container
    // says otherwise (the daemon's `default-ipc-mode` may still say so).
    let donor = service
        .ipc
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"));
    if let Some(other) = donor.filter(|o| {
        project
            .services
            .get(*o)
            .is_some_and(|s| s.ipc.as_deref() != Some("shareable"))
    }) {
        report.warning(&at.key("ipc"), format!("service `{other}` does not say `ipc: shareable`, and an engine of Docker 20.10 or later keeps its IPC namespace private: joining it then fails (\"non-shareable IPC\"); give `{other}` `ipc: shareable`"));
    }
    for (i, volume) in service.volumes.iter().enumerate() {
        if let (MountKind::Volume, Some(source)) = (volume.kind, &volume.source) {
            if source.is_empty() {
                // `${DATA}:/data` with DATA unset: Compose refuses it too
                // ("empty section between colons").
                report.error(&at.key("volumes").index(i), "the mount's source is empty (a variable in it not set?): give a host path or a volume name before the `:`");
            } else if !project.volumes.contains_key(source) {
                report.error(&at.key("volumes").index(i), format!("volume `{source}` is not declared under the top-level `volumes` ({}); declare it, or write a path starting with ./ for a bind mount", declared(project.volumes.keys())));
            }
        }
    }
    for (section, refs, declared_in) in [
        ("secrets", &service.secrets, &project.secrets),
        ("configs", &service.configs, &project.configs),
    ] {
        for (i, file) in refs.iter().enumerate() {
            if !declared_in.contains_key(&file.source) {
                report.error(
                    &at.key(section).index(i),
                    format!(
                        "{} `{}` is not declared under the top-level `{section}` ({})",
                        &section[..section.len() - 1],
                        file.source,
                        declared(declared_in.keys())
                    ),
                );
            }
        }
    }
    for (dependency, how) in &service.depends_on {
        let dep_at = at.key("depends_on").key(dependency);
        if dependency == name {
            report.error(&dep_at, "a service cannot depend on itself");
        } else if let Some(other) = left_out.get(dependency) {
            if how.required {
                report.error(&dep_at, format!("service `{dependency}` is left out by its profiles ({}): activate one with COMPOSE_PROFILES, or mark the dependency `required: false`", other.profiles.join(", ")));
            }
        } else if !names.contains(dependency) {
            if how.required {
                report.error(
                    &dep_at,
                    format!(
                        "service `{dependency}` is not defined: the services are {}",
                        names.join(", ")
                    ),
                );
            }
        } else if how.condition == super::runtime::Condition::ServiceHealthy {
            let has_check = project
                .services
                .get(dependency)
                .and_then(|s| s.healthcheck.as_ref())
                .is_some_and(|h| {
                    !h.disable
                        && h.test
                            .as_ref()
                            .is_some_and(|t| t.first().map(String::as_str) != Some("NONE"))
                });
            // A healthcheck written but refused (a misspelt field) is
            // reported where it is written; "has none" would mislead.
            let refused = format!("services.{dependency}.healthcheck");
            let unread = report
                .diagnostics
                .iter()
                .any(|d| d.severity == super::Severity::Error && d.field.starts_with(&refused));
            if !has_check && !unread {
                report.error(&dep_at.key("condition"), format!("service_healthy waits for a healthcheck, and service `{dependency}` has none: give it a `healthcheck`, or use condition service_started"));
            }
        }
    }
    if let Some(platform) = &service.platform {
        if let Err(message) = super::Platform::parse(platform) {
            report.error(&at.key("platform"), message);
        }
    }
    if let Some(signal) = &service.stop_signal {
        let named = signal.strip_prefix("SIG").is_some_and(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-')
        });
        if !named && signal.parse::<u8>().is_err() {
            report.error(&at.key("stop_signal"), format!("stop signal {signal:?} is not a signal: expected a name like SIGTERM or SIGQUIT, or a number"));
        }
    }
    for limit in service.ulimits.keys() {
        if !ULIMITS.contains(&limit.as_str()) {
            report.error(
                &at.key("ulimits").key(limit),
                format!(
                    "unknown ulimit `{limit}`, expected one of {}",
                    ULIMITS.join(", ")
                ),
            );
        }
    }
    if let Some(logging) = &service.logging {
        if logging
            .driver
            .as_deref()
            .is_some_and(|d| !["json-file", "local", "journald"].contains(&d))
        {
            report.warning(&at.key("logging").key("driver"), "`windlass logs` reads only the json-file, local and journald drivers: with this driver the engine keeps no logs to show");
        }
    }
    super::lifecycle::check(service, at, report);
}

const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

fn declared<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let keys: Vec<&str> = keys.map(String::as_str).collect();
    if keys.is_empty() {
        "none is".to_owned()
    } else {
        format!("{} are", keys.join(", "))
    }
}
