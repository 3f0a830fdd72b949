//! A short account of a checked project, one line a service: what it runs
//! (image or build), its ports, how windlass will roll it out, and what it
//! mounts and waits for. `windlass validate` prints it.

use std::fmt::Write;
use std::path::Path;

use super::mounts::MountKind;
use super::{Order, Project, Service};

/// How a service's new release replaces the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The new release starts beside the old; traffic moves once it is
    /// healthy (start-first, for a service that takes no traffic).
    BlueGreen,
    /// The old release stops before the new one starts; the proxy holds
    /// traffic meanwhile.
    StopFirst,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::BlueGreen => "blue/green",
            Strategy::StopFirst => "stop-first",
        }
    }
}

impl Service {
    /// The service's strategy and why.
    pub fn strategy(&self) -> (Strategy, &'static str) {
        let order = self.deploy.update_config.as_ref().and_then(|c| c.order);
        match (self.must_run_alone(), order) {
            (Some(why), _) => (Strategy::StopFirst, why),
            (None, Some(Order::StopFirst)) => (Strategy::StopFirst, "update_config.order"),
            (None, _) if self.has_proxy() => (
                Strategy::BlueGreen,
                "it can run twice at once: the new release starts beside the old",
            ),
            (None, _) => (
                Strategy::BlueGreen,
                "no published port, so no traffic to move: the new release starts before the old one stops",
            ),
        }
    }
}

impl Project {
    /// The service's line of the summary.
    pub fn describe(&self, name: &str) -> Option<String> {
        Some(describe(self.services.get(name)?, &self.directory))
    }

    /// The summary; paths are shown relative to the project folder.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "project {}: {} service(s)",
            self.project,
            self.services.len()
        );
        if !self.left_out.is_empty() {
            let _ = write!(out, ", left out by profiles: {}", self.left_out.join(", "));
        }
        out.push('\n');
        for (name, service) in &self.services {
            let _ = writeln!(out, "  {name}: {}", describe(service, &self.directory));
        }
        out
    }
}

fn describe(service: &Service, directory: &Path) -> String {
    let mut parts = Vec::new();
    match (&service.build, &service.image) {
        (Some(build), image) => {
            let context = build.context.strip_prefix(directory).map_or_else(
                |_| build.context.display().to_string(),
                |p| format!("./{}", p.display()),
            );
            let mut text = format!("build {}", context.trim_end_matches('/'));
            if let Some(target) = &build.target {
                let _ = write!(text, " (target {target})");
            }
            if let Some(image) = image {
                let _ = write!(text, " as {image}");
            }
            parts.push(text);
        }
        (None, Some(image)) => parts.push(format!("image {image}")),
        (None, None) => {}
    }
    let published = service.published_ports();
    if !published.is_empty() {
        let ports: Vec<String> = published
            .iter()
            .map(|p| {
                let udp = if p.protocol == super::Protocol::Udp {
                    "/udp"
                } else {
                    ""
                };
                format!("{}->{}{udp}", p.describe_listen(), p.target)
            })
            .collect();
        parts.push(format!("ports {}", ports.join(", ")));
    }
    if !service.expose.is_empty() {
        let exposed: Vec<String> = service
            .expose
            .iter()
            .map(|e| format!("{}/{}", e.port, e.protocol))
            .collect();
        parts.push(format!("expose {}", exposed.join(", ")));
    }
    if let Some(mode) = service.network_mode.as_ref().filter(|m| !m.is_bridge()) {
        parts.push(format!("network_mode {mode}"));
    }
    let replicas = service.deploy.replicas.unwrap_or(1);
    let (strategy, why) = service.strategy();
    let strategy = match (strategy, service.has_proxy()) {
        _ if service.windlass.target == Some(super::Target::Ecs) => {
            "on ECS: rolled out by ECS, no windlass proxy (`windlass deploy --dry-run` shows the plan)"
                .to_owned()
        }
        _ if service.runs_to_completion => {
            "a job: runs to completion (exit 0) before the services that wait for it".to_owned()
        }
        (Strategy::BlueGreen, true) => match service.windlass.rollout.as_ref() {
            Some(rollout) => {
                let weights: Vec<String> = rollout
                    .steps()
                    .iter()
                    .map(|s| format!("{}%", s.weight))
                    .collect();
                format!(
                    "blue/green behind windlass's proxy, rolled out in steps ({} then 100%, each baked {:?} and analysed)",
                    weights.join(", "),
                    rollout.interval()
                )
            }
            None => "blue/green behind windlass's proxy".to_owned(),
        },
        (Strategy::BlueGreen, false) => "start-first, no proxy (no published port)".to_owned(),
        (Strategy::StopFirst, _) => format!("stop-first ({why})"),
    };
    parts.push(format!("{replicas} replica(s), {strategy}"));
    let mounts: Vec<String> = service
        .volumes
        .iter()
        .map(|v| match (v.kind, &v.volume, &v.source) {
            (MountKind::Volume, Some(spec), _) => format!(
                "volume {}:{}{}",
                spec.name,
                v.target,
                if v.read_only { ":ro" } else { "" }
            ),
            (MountKind::Bind, _, Some(source)) => {
                let shown = Path::new(source)
                    .strip_prefix(directory)
                    .map_or_else(|_| source.clone(), |p| format!("./{}", p.display()));
                format!(
                    "bind {shown}:{}{}",
                    v.target,
                    if v.read_only { ":ro" } else { "" }
                )
            }
            (MountKind::Tmpfs, _, _) => format!("tmpfs {}", v.target),
            _ => format!("anonymous volume {}", v.target),
        })
        .chain(
            service
                .secrets
                .iter()
                .chain(&service.configs)
                .filter_map(|f| f.target.clone())
                .map(|t| format!("file {t}")),
        )
        .chain(
            service
                .use_api_socket
                .then(|| "the Docker socket (root on the host)".to_owned()),
        )
        .collect();
    if !mounts.is_empty() {
        parts.push(format!("mounts {}", mounts.join(", ")));
    }
    for (key, hooks) in [
        ("post_start", &service.post_start),
        ("pre_stop", &service.pre_stop),
    ] {
        if !hooks.is_empty() {
            let shown: Vec<String> = hooks.iter().map(|h| format!("`{}`", h.shown())).collect();
            parts.push(format!("{key} {}", shown.join(", ")));
        }
    }
    if !service.depends_on.is_empty() {
        let deps: Vec<String> = service
            .depends_on
            .iter()
            .map(|(n, d)| {
                let again = if service.restarts_with().contains(&n.as_str()) {
                    ", deployed again with it"
                } else {
                    ""
                };
                format!("{n} ({}{again})", d.condition)
            })
            .collect();
        parts.push(format!("after {}", deps.join(", ")));
    }
    parts.join("; ")
}
