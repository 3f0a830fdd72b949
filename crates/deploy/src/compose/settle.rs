//! Compose's fields that say one thing twice, settled as Compose settles
//! them for a plain engine (`scale` and `deploy.replicas`; `restart` and
//! `deploy.restart_policy`, `mem_limit` and `deploy.resources.limits` by
//! `Service::restart_policy` and `Service::limits`, the fields kept as
//! written for `windlass config`),
//! and what a `network_mode` asks of the rest of the service: another
//! service's namespace is a dependency, and the settings Docker refuses
//! in a borrowed namespace are refused here first.

use super::diagnostic::Report;
use super::locate::FieldPath;
use super::resources::{Limits, RestartPolicy};
use super::runtime::Restart;
use super::{NetworkMode, Service, VolumesSource};

/// Settles every service's overlapping fields and checks its network mode
/// against `names`, the services of the file.
pub(crate) fn settle(name: &str, service: &mut Service, names: &[String], report: &mut Report) {
    let at = FieldPath::of(&["services", name]);
    if let Some(scale) = service.scale {
        match service.deploy.replicas {
            None => service.deploy.replicas = Some(scale),
            Some(replicas) if replicas != scale => report.error(
                &at.key("scale"),
                format!("scale {scale} and deploy.replicas {replicas} disagree: give one of them"),
            ),
            Some(_) => {}
        }
    }
    if let Some(isolation) = service.isolation.as_deref().filter(|i| *i != "default") {
        report.error(&at.key("isolation"), format!("isolation {isolation:?} is a Windows engine's: a Linux engine takes only `default`; remove it"));
    }
    for (i, from) in service.volumes_from.clone().iter().enumerate() {
        let VolumesSource::Service(other) = &from.source else {
            continue;
        };
        let here = at.key("volumes_from").index(i);
        if other == name {
            report.error(&here, "a service cannot mount its own volumes");
        } else if !names.contains(other) {
            report.error(&here, format!("service `{other}` is not defined: the services are {}; write container:NAME for a container made outside the file", names.join(", ")));
        } else {
            // Its container must exist first, as Compose orders it.
            service.depends_on.entry(other.clone()).or_default();
        }
    }
    for (i, link) in service.links.clone().iter().enumerate() {
        let here = at.key("links").index(i);
        if link.target == name {
            report.error(&here, "a service cannot link to itself");
        } else if !names.contains(&link.target) {
            report.error(&here, format!("service `{}` is not defined: the services are {}; link a container made outside the file under `external_links`", link.target, names.join(", ")));
        } else {
            // A link names the target's container: a new release of the
            // target deploys this service again (Compose recreates it).
            restarts_with(service, &link.target);
        }
    }
    for (field, mode) in [("ipc", service.ipc.clone()), ("pid", service.pid.clone())] {
        let Some(other) = mode.as_deref().and_then(|m| m.strip_prefix("service:")) else {
            continue;
        };
        if other == name {
            report.error(
                &at.key(field),
                format!("a service cannot share its own {field} namespace"),
            );
        } else if !names.iter().any(|n| n == other) {
            report.error(&at.key(field), format!("service `{other}` is not defined: the services are {}; write container:NAME for a container made outside the file", names.join(", ")));
        } else {
            restarts_with(service, other);
        }
    }
    if let Some(mode) = service.network_mode.clone() {
        network_mode(name, service, &mode, names, &at, report);
    }
}

/// `other`'s container is part of this service's (its namespace, a link):
/// it starts first, as Compose orders it (`Service::restarts_with` then
/// deploys this service again with `other`).
fn restarts_with(service: &mut Service, other: &str) {
    service.depends_on.entry(other.to_owned()).or_default();
}

fn network_mode(
    name: &str,
    service: &mut Service,
    mode: &NetworkMode,
    names: &[String],
    at: &FieldPath,
    report: &mut Report,
) {
    let here = at.key("network_mode");
    if !mode.is_bridge() && !service.networks.0.is_empty() {
        report.error(&here, format!("network_mode {mode} and `networks` cannot both be set: the container has no network of its own to join them with; remove one"));
    }
    if let NetworkMode::Service(other) = mode {
        if other == name {
            report.error(&here, "a service cannot join its own network namespace");
        } else if !names.contains(other) {
            report.error(
                &here,
                format!(
                    "service `{other}` is not defined: the services are {}",
                    names.join(", ")
                ),
            );
        } else {
            // Its namespace must exist first, as Compose orders it, and a
            // new release of it takes this service along.
            restarts_with(service, other);
        }
    }
    if !mode.is_bridge() && (service.windlass.address.is_some() || service.windlass.port.is_some())
    {
        report.error(&at.key("x-windlass"), format!("with network_mode {mode} there is no proxy: remove x-windlass.address and x-windlass.port"));
    }
    let probe = &service.windlass.health;
    if !mode.is_bridge() && (probe.http.is_some() || probe.tcp) {
        report.error(&at.key("x-windlass").key("health"), format!("windlass probes a published port, and with network_mode {mode} none is published: give the service a `healthcheck`, which the engine runs inside the container"));
    }
    let borrowed = matches!(mode, NetworkMode::Service(_) | NetworkMode::Container(_));
    if borrowed {
        let refused = [
            ("ports", !service.ports.is_empty()),
            ("expose", !service.expose.is_empty()),
            ("hostname", service.hostname.is_some()),
            ("dns", !service.dns.is_empty()),
            ("extra_hosts", !service.extra_hosts.is_empty()),
            (
                "links",
                !service.links.is_empty() || !service.external_links.is_empty(),
            ),
        ];
        for (field, _) in refused.iter().filter(|(_, set)| *set) {
            report.error(&at.key(field), format!("`{field}` cannot be set with network_mode {mode}: the container uses another's network namespace, and Docker refuses it; set it on that container instead"));
        }
    } else if !mode.is_bridge() && !service.ports.is_empty() {
        report.warning(&at.key("ports"), format!("with network_mode {mode} no port is published (Docker discards them) and no proxy sits in front of the service{}", if *mode == NetworkMode::Host { ": it listens on the host's ports itself" } else { "" }));
    }
}

impl Service {
    /// The services whose new release deploys this one again: those of
    /// `depends_on` with `restart: true`, and those whose namespace it
    /// shares (`network_mode`, `ipc`, `pid` of `service:NAME`) or links
    /// to, whose container its own is made with (Compose recreates it when
    /// that container is recreated).
    pub fn restarts_with(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .depends_on
            .iter()
            .filter(|(_, d)| d.restart)
            .map(|(name, _)| name.as_str())
            .collect();
        names.extend(self.containers_joined());
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The services whose container this one's joins: `network_mode`,
    /// `ipc` and `pid` of `service:NAME`, and `links`.
    fn containers_joined(&self) -> impl Iterator<Item = &str> {
        let network = match &self.network_mode {
            Some(NetworkMode::Service(other)) => Some(other.as_str()),
            _ => None,
        };
        let namespaces = [&self.ipc, &self.pid]
            .into_iter()
            .flatten()
            .filter_map(|mode| mode.strip_prefix("service:"));
        network
            .into_iter()
            .chain(namespaces)
            .chain(self.links.iter().map(|l| l.target.as_str()))
    }

    /// The other services whose running container this one's is made
    /// with (`network_mode`, `ipc` and `pid` of `service:NAME`, `links`,
    /// `volumes_from`).
    pub fn uses_containers_of(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        names.extend(self.containers_joined());
        names.extend(self.volumes_from.iter().filter_map(|v| match &v.source {
            VolumesSource::Service(other) => Some(other.as_str()),
            VolumesSource::Container(_) => None,
        }));
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The container's restart policy: `restart`, else
    /// `deploy.restart_policy` as Compose maps it for a plain engine.
    pub fn restart_policy(&self) -> Option<Restart> {
        self.restart.or_else(|| {
            self.deploy
                .restart_policy
                .as_ref()
                .map(RestartPolicy::restart)
        })
    }

    /// The container's limits: `deploy.resources.limits` wins over
    /// `mem_limit`, `cpus` and `pids_limit`, as in Compose. The fields keep
    /// what was written, which `windlass config` prints.
    pub fn limits(&self) -> Limits {
        let written = self
            .deploy
            .resources
            .as_ref()
            .and_then(|r| r.limits.clone())
            .unwrap_or_default();
        Limits {
            cpus: written.cpus.or(self.cpus),
            memory: written.memory.or(self.mem_limit),
            pids: written.pids.or(self.pids_limit),
        }
    }

    /// The container's soft memory limit: `deploy.resources.reservations`
    /// over `mem_reservation`.
    pub fn memory_reservation(&self) -> Option<u64> {
        self.deploy
            .resources
            .as_ref()
            .and_then(|r| r.reservations.as_ref())
            .and_then(|r| r.memory)
            .or(self.mem_reservation)
    }

    /// The names of the host settings the service sets (devices, kernel
    /// resource controls, namespaces), for a target that has no such
    /// settings to refuse them.
    pub fn host_fields_set(&self) -> Vec<&'static str> {
        let reserved_devices = self
            .deploy
            .resources
            .as_ref()
            .and_then(|r| r.reservations.as_ref())
            .is_some_and(|r| !r.devices.is_empty());
        [
            ("devices", !self.devices.is_empty()),
            ("device_cgroup_rules", !self.device_cgroup_rules.is_empty()),
            ("gpus", !self.gpus.is_empty()),
            ("deploy.resources.reservations.devices", reserved_devices),
            ("cgroup", self.cgroup.is_some()),
            ("cgroup_parent", self.cgroup_parent.is_some()),
            ("ipc", self.ipc.is_some()),
            ("pid", self.pid.is_some()),
            ("uts", self.uts.is_some()),
            ("userns_mode", self.userns_mode.is_some()),
            ("runtime", self.runtime.is_some()),
            ("oom_score_adj", self.oom_score_adj.is_some()),
            ("oom_kill_disable", self.oom_kill_disable),
            ("mem_reservation", self.memory_reservation().is_some()),
            ("memswap_limit", self.memswap_limit.is_some()),
            ("mem_swappiness", self.mem_swappiness.is_some()),
            ("cpu_shares", self.cpu_shares.is_some()),
            ("cpu_period", self.cpu_period.is_some()),
            ("cpu_quota", self.cpu_quota.is_some()),
            ("cpu_rt_runtime", self.cpu_rt_runtime.is_some()),
            ("cpu_rt_period", self.cpu_rt_period.is_some()),
            ("cpuset", self.cpuset.is_some()),
            ("blkio_config", self.blkio_config.is_some()),
            ("storage_opt", !self.storage_opt.is_empty()),
            ("volumes_from", !self.volumes_from.is_empty()),
            ("links", !self.links.is_empty()),
            ("external_links", !self.external_links.is_empty()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
    }
}
