//! One service in Compose's canonical form: every field windlass keeps,
//! in compose-go's order (`types.ServiceConfig`) and its long syntaxes:
//! ports and volumes as maps, `environment` as a map with values resolved,
//! `depends_on` with its condition, durations and sizes as Go writes them.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::go::{self, Object};
use super::Settings;
use crate::compose::{
    Build, Deploy, DeviceCount, DeviceRequest, EnvFormat, FileRef, Healthcheck, MountKind, Port,
    PortMode, PullPolicy, Resources, Restart, RestartPolicy, Service, ServiceHook, ServiceVolume,
    UpdateConfig,
};

/// The service's fields, in compose-go's order.
pub(crate) fn service(service: &Service, settings: &Settings<'_>) -> Value {
    let mut out = Object::default();
    out.put("profiles", go::strings(&service.profiles))
        .put_some("build", service.build.as_ref().map(build))
        .put("cap_add", go::strings(&service.cap_add))
        .put("cap_drop", go::strings(&service.cap_drop))
        .put_some("cpus", service.cpus.map(|c| json!(c)))
        .put_some("command", service.command.as_deref().map(go::strings))
        .put("configs", file_refs(&service.configs))
        .put(
            "container_name",
            go::text(service.container_name.as_deref()),
        )
        .put("depends_on", depends_on(service))
        .put("deploy", deploy(&service.deploy))
        .put_some("develop", service.develop.clone())
        .put("dns", go::strings(&service.dns))
        .put("dns_opt", go::strings(&service.dns_opt))
        .put("dns_search", go::strings(&service.dns_search))
        .put("domainname", go::text(service.domainname.as_deref()))
        .put_some("entrypoint", service.entrypoint.as_deref().map(go::strings))
        .put("environment", environment(service, settings))
        .put("env_file", env_files(service))
        .put(
            "expose",
            Value::Array(service.expose.iter().map(|e| json!(exposed(e))).collect()),
        )
        .put(
            "extra_hosts",
            Value::Array(
                service
                    .extra_hosts
                    .iter()
                    .map(|h| json!(format!("{}={}", h.host, h.ip)))
                    .collect(),
            ),
        )
        .put("group_add", go::strings(&service.group_add))
        .put("hostname", go::text(service.hostname.as_deref()))
        .put_some("healthcheck", service.healthcheck.as_ref().map(healthcheck))
        .put("image", go::text(service.image.as_deref()))
        .put_some("init", service.init.map(Value::Bool))
        .put("labels", go::string_map(&service.labels))
        .put("label_file", go::strings(&service.label_file))
        .put_some(
            "logging",
            service.logging.as_ref().map(|l| {
                let mut out = Object::default();
                out.put("driver", go::text(l.driver.as_deref()))
                    .put("options", go::plain_map(&l.options));
                out.value()
            }),
        )
        .put_some("mem_limit", service.mem_limit.map(go::bytes))
        .put("networks", networks(service))
        .put_some("pids_limit", service.pids_limit.map(|p| json!(p)))
        .put("platform", go::text(service.platform.as_deref()))
        .put(
            "ports",
            Value::Array(service.ports.iter().map(port).collect()),
        )
        .put("privileged", Value::Bool(service.privileged))
        // Compose prints the policy a file sets; windlass knows no unset
        // one, so it prints each but the default.
        .put_some(
            "pull_policy",
            (service.pull_policy != PullPolicy::Missing)
                .then(|| json!(service.pull_policy.to_string())),
        )
        .put("read_only", Value::Bool(service.read_only))
        .put_some("restart", service.restart.map(|r| json!(restart(r))))
        .put("secrets", file_refs(&service.secrets))
        .put("security_opt", go::strings(&service.security_opt))
        .put_some("shm_size", service.shm_size.map(go::bytes))
        .put("stdin_open", Value::Bool(service.stdin_open))
        .put_some(
            "stop_grace_period",
            service.stop_grace_period.map(|d| json!(go::duration(d))),
        )
        .put("stop_signal", go::text(service.stop_signal.as_deref()))
        .put("sysctls", go::string_map(&service.sysctls))
        .put("tmpfs", go::strings(&service.tmpfs))
        .put("tty", Value::Bool(service.tty))
        .put("ulimits", ulimits(service))
        .put("use_api_socket", Value::Bool(service.use_api_socket))
        .put("user", go::text(service.user.as_deref()))
        .put(
            "volumes",
            Value::Array(service.volumes.iter().map(volume).collect()),
        )
        .put("working_dir", go::text(service.working_dir.as_deref()))
        .put("post_start", hooks(&service.post_start, settings))
        .put("pre_stop", hooks(&service.pre_stop, settings));
    super::host::host_fields(service, &mut out);
    out.extend(&service.extensions);
    out.value()
}

fn build(build: &Build) -> Value {
    let mut out = Object::default();
    out.put("context", json!(build.context.display().to_string()))
        .put("dockerfile", go::text(build.dockerfile.as_deref()))
        .put("args", go::optional_map(&build.args))
        .put(
            "ssh",
            Value::Array(
                build
                    .ssh
                    .iter()
                    .map(|agent| match (&agent.socket, agent.written) {
                        (Some(path), true) => json!(format!("{}={}", agent.id, path.display())),
                        _ => json!(agent.id),
                    })
                    .collect(),
            ),
        )
        .put("labels", go::string_map(&build.labels))
        .put("cache_from", go::strings(&build.cache_from))
        .put("network", go::text(build.network.as_deref()))
        .put("target", go::text(build.target.as_deref()))
        .put_some("shm_size", build.shm_size.map(go::bytes));
    out.value()
}

fn file_refs(refs: &[FileRef]) -> Value {
    Value::Array(
        refs.iter()
            .map(|r| {
                let mut out = Object::default();
                out.put("source", json!(r.source))
                    .put("target", go::text(r.target.as_deref()))
                    .put("uid", go::text(r.uid.as_deref()))
                    .put("gid", go::text(r.gid.as_deref()))
                    .put_some("mode", r.mode.map(go::mode));
                out.value()
            })
            .collect(),
    )
}

fn depends_on(service: &Service) -> Value {
    let sorted: BTreeMap<&String, _> = service.depends_on.iter().collect();
    Value::Object(
        sorted
            .into_iter()
            .map(|(name, d)| {
                let mut out = Object::default();
                out.put("condition", json!(d.condition.to_string()))
                    .put("restart", Value::Bool(d.restart));
                out.0.insert("required".into(), Value::Bool(d.required));
                (name.clone(), out.value())
            })
            .collect(),
    )
}

fn deploy(deploy: &Deploy) -> Value {
    let mut out = Object::default();
    out.put("mode", go::text(deploy.mode.as_deref()))
        .put_some("replicas", deploy.replicas.map(|r| json!(r)))
        .put("labels", go::string_map(&deploy.labels))
        .put_some(
            "update_config",
            deploy.update_config.as_ref().map(update_config),
        )
        .put_some(
            "rollback_config",
            deploy.rollback_config.as_ref().map(update_config),
        )
        .put_some("resources", deploy.resources.as_ref().map(resources))
        .put_some(
            "restart_policy",
            deploy.restart_policy.as_ref().map(restart_policy),
        )
        .put_some("placement", deploy.placement.as_ref().map(placement))
        .put_some(
            "endpoint_mode",
            deploy.endpoint_mode.map(|m| {
                json!(match m {
                    crate::compose::EndpointMode::Vip => "vip",
                    crate::compose::EndpointMode::Dnsrr => "dnsrr",
                })
            }),
        );
    out.value()
}

/// `deploy.placement` in compose-go's order (`types.Placement`).
fn placement(placement: &crate::compose::Placement) -> Value {
    let mut out = Object::default();
    out.put("constraints", go::strings(&placement.constraints))
        .put(
            "preferences",
            Value::Array(
                placement
                    .preferences
                    .iter()
                    .map(|p| json!({"spread": p.spread}))
                    .collect(),
            ),
        )
        .put_some(
            "max_replicas_per_node",
            placement.max_replicas_per_node.map(|m| json!(m)),
        );
    out.value()
}

/// `deploy.resources` in compose-go's order (`types.Resource`).
fn resources(resources: &Resources) -> Value {
    let limits = resources.limits.as_ref().map(|l| {
        let mut out = Object::default();
        out.put_some("cpus", l.cpus.map(|c| json!(c)))
            .put_some("memory", l.memory.map(go::bytes))
            .put_some("pids", l.pids.map(|p| json!(p)));
        out.value()
    });
    let reservations = resources.reservations.as_ref().map(|r| {
        let mut out = Object::default();
        out.put_some("cpus", r.cpus.map(|c| json!(c)))
            .put_some("memory", r.memory.map(go::bytes))
            .put(
                "devices",
                Value::Array(r.devices.iter().map(device_request).collect()),
            )
            .put(
                "generic_resources",
                serde_json::to_value(&r.generic_resources).unwrap_or_default(),
            );
        out.value()
    });
    let mut out = Object::default();
    out.put_some("limits", limits)
        .put_some("reservations", reservations);
    out.value()
}

/// A device request (`types.DeviceRequest`).
pub(super) fn device_request(request: &DeviceRequest) -> Value {
    let mut out = Object::default();
    out.put("capabilities", go::strings(&request.capabilities))
        .put("driver", go::text(request.driver.as_deref()))
        .put_some(
            "count",
            request.count.map(|c| match c {
                DeviceCount::All => json!(-1),
                DeviceCount::Some(n) => json!(n),
            }),
        )
        .put("device_ids", go::strings(&request.device_ids))
        .put("options", go::plain_map(&request.options));
    out.value()
}

fn restart_policy(policy: &RestartPolicy) -> Value {
    let mut out = Object::default();
    out.put_some("condition", policy.condition.map(|c| json!(c.as_str())))
        .put_some("delay", policy.delay.map(|d| json!(go::duration(d))))
        .put_some("max_attempts", policy.max_attempts.map(|n| json!(n)))
        .put_some("window", policy.window.map(|d| json!(go::duration(d))));
    out.value()
}

fn update_config(config: &UpdateConfig) -> Value {
    let mut out = Object::default();
    out.put_some("parallelism", config.parallelism.map(|p| json!(p)))
        .put_some("delay", config.delay.map(|d| json!(go::duration(d))))
        .put_some(
            "failure_action",
            config.failure_action.map(|a| {
                json!(match a {
                    crate::compose::FailureAction::Continue => "continue",
                    crate::compose::FailureAction::Rollback => "rollback",
                    crate::compose::FailureAction::Pause => "pause",
                })
            }),
        )
        .put_some("monitor", config.monitor.map(|d| json!(go::duration(d))))
        .put_some(
            "max_failure_ratio",
            config.max_failure_ratio.map(|r| json!(r)),
        )
        .put_some(
            "order",
            config.order.map(|o| {
                json!(match o {
                    crate::compose::Order::StopFirst => "stop-first",
                    crate::compose::Order::StartFirst => "start-first",
                })
            }),
        );
    out.value()
}

/// `environment` with a value-less key taken from the environment the
/// project was read with, as Compose resolves it; still null when unset.
fn environment(service: &Service, settings: &Settings<'_>) -> Value {
    resolved(&service.environment, settings)
}

/// Variables with a value from the environment where none is written.
fn resolved(variables: &BTreeMap<String, Option<String>>, settings: &Settings<'_>) -> Value {
    Value::Object(
        variables
            .iter()
            .map(|(k, v)| {
                let value = v.clone().or_else(|| settings.environment.get(k).cloned());
                (k.clone(), value.map_or(Value::Null, Value::String))
            })
            .collect(),
    )
}

/// `post_start` or `pre_stop`, as compose-go's `ServiceHook` prints.
fn hooks(hooks: &[ServiceHook], settings: &Settings<'_>) -> Value {
    Value::Array(
        hooks
            .iter()
            .map(|hook| {
                let mut out = Object::default();
                out.put("command", go::strings(&hook.command))
                    .put("user", go::text(hook.user.as_deref()))
                    .put("privileged", Value::Bool(hook.privileged))
                    .put("working_dir", go::text(hook.working_dir.as_deref()))
                    .put("environment", resolved(&hook.environment, settings));
                out.value()
            })
            .collect(),
    )
}

fn env_files(service: &Service) -> Value {
    Value::Array(
        service
            .env_file
            .iter()
            .map(|f| {
                let mut out = Object::default();
                out.put("path", json!(f.path));
                if !f.required {
                    out.0.insert("required".into(), Value::Bool(false));
                }
                if f.format == EnvFormat::Raw {
                    out.0.insert("format".into(), json!("raw"));
                }
                out.value()
            })
            .collect(),
    )
}

fn exposed(e: &crate::compose::Exposed) -> String {
    match e.protocol {
        crate::compose::Protocol::Tcp => e.port.to_string(),
        crate::compose::Protocol::Udp => format!("{}/udp", e.port),
    }
}

fn healthcheck(h: &Healthcheck) -> Value {
    let mut out = Object::default();
    out.put_some("test", h.test.as_deref().map(go::strings))
        .put_some("timeout", h.timeout.map(|d| json!(go::duration(d))))
        .put_some("interval", h.interval.map(|d| json!(go::duration(d))))
        .put_some("retries", h.retries.map(|r| json!(r)))
        .put_some(
            "start_period",
            h.start_period.map(|d| json!(go::duration(d))),
        )
        .put_some(
            "start_interval",
            h.start_interval.map(|d| json!(go::duration(d))),
        )
        .put("disable", Value::Bool(h.disable));
    out.value()
}

/// Networks by name, sorted; a network without options is null.
fn networks(service: &Service) -> Value {
    let sorted: BTreeMap<&String, _> = service.networks.0.iter().collect();
    Value::Object(
        sorted
            .into_iter()
            .map(|(name, options)| {
                let mut out = Object::default();
                out.put("aliases", go::strings(&options.aliases));
                out.put_some(
                    "ipv4_address",
                    options.ipv4_address.map(|a| Value::String(a.to_string())),
                );
                out.put_some(
                    "ipv6_address",
                    options.ipv6_address.map(|a| Value::String(a.to_string())),
                );
                let value = if out.0.is_empty() {
                    Value::Null
                } else {
                    out.value()
                };
                (name.clone(), value)
            })
            .collect(),
    )
}

fn port(port: &Port) -> Value {
    let mode = match port.mode {
        PortMode::Host => "host",
        PortMode::Ingress => "ingress",
    };
    let host_ip = port.host_ip.map(|ip| ip.to_string());
    let mut out = Object::default();
    out.put("name", go::text(port.name.as_deref()))
        .put("mode", json!(mode))
        .put("host_ip", go::text(host_ip.as_deref()))
        .put("target", json!(port.target))
        .put_some("published", port.published.map(|p| json!(p.to_string())))
        .put("protocol", json!(port.protocol.to_string()))
        .put("app_protocol", go::text(port.app_protocol.as_deref()));
    out.value()
}

fn restart(restart: Restart) -> String {
    match restart {
        Restart::No => "no".into(),
        Restart::Always => "always".into(),
        Restart::UnlessStopped => "unless-stopped".into(),
        Restart::OnFailure(None) => "on-failure".into(),
        Restart::OnFailure(Some(n)) => format!("on-failure:{n}"),
    }
}

/// A single limit as a number, soft and hard as a map.
fn ulimits(service: &Service) -> Value {
    Value::Object(
        service
            .ulimits
            .iter()
            .map(|(name, u)| {
                let value = if u.soft == u.hard {
                    json!(u.soft)
                } else {
                    json!({"soft": u.soft, "hard": u.hard})
                };
                (name.clone(), value)
            })
            .collect(),
    )
}

/// A mount in the long syntax.
fn volume(volume: &ServiceVolume) -> Value {
    let mut out = Object::default();
    out.put("type", json!(volume.kind.to_string()))
        .put("source", go::text(volume.source.as_deref()))
        .put("target", json!(volume.target))
        .put("read_only", Value::Bool(volume.read_only));
    match volume.kind {
        // The short syntax creates a missing host path (compose-go's
        // `bind: {}`); the long one without `bind` options does not.
        MountKind::Bind if volume.create_host_path => {
            out.0.insert("bind".into(), json!({}));
        }
        MountKind::Bind => {}
        MountKind::Volume => {
            let mut options = Object::default();
            options.put("nocopy", Value::Bool(volume.nocopy));
            out.0.insert("volume".into(), options.value());
        }
        MountKind::Tmpfs => {
            let mut options = Object::default();
            options
                .put_some("size", volume.size.map(go::bytes))
                .put_some("mode", volume.mode.map(|m| json!(m)));
            out.put("tmpfs", options.value());
        }
    }
    out.value()
}
