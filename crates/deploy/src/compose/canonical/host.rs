//! The host fields of a service in canonical form (network mode, devices,
//! GPUs, namespaces, kernel resource controls, links and volumes_from), put
//! after the others, each left out when unset.

use serde_json::{json, Value};

use super::go::{self, Object};
use crate::compose::{Link, Service, VolumesSource};

/// Puts the service's host fields into `out`.
pub(super) fn host_fields(service: &Service, out: &mut Object) {
    let number = |n: Option<i64>| n.map(|n| json!(n));
    let links = |links: &[Link]| Value::Array(links.iter().map(|l| json!(l.to_string())).collect());
    out.put_some("attach", service.attach.map(Value::Bool))
        .put("cgroup", go::text(service.cgroup.map(|c| c.as_str())))
        .put("cgroup_parent", go::text(service.cgroup_parent.as_deref()))
        .put_some("cpu_period", number(service.cpu_period))
        .put_some("cpu_quota", number(service.cpu_quota))
        .put_some("cpu_rt_period", number(service.cpu_rt_period))
        .put_some("cpu_rt_runtime", number(service.cpu_rt_runtime))
        .put("cpuset", go::text(service.cpuset.as_deref()))
        .put_some("cpu_shares", number(service.cpu_shares))
        .put(
            "device_cgroup_rules",
            go::strings(&service.device_cgroup_rules),
        )
        .put(
            "devices",
            Value::Array(
                service
                    .devices
                    .iter()
                    .map(|d| json!({"source": d.host, "target": d.container, "permissions": d.permissions}))
                    .collect(),
            ),
        )
        .put("external_links", links(&service.external_links))
        .put(
            "gpus",
            Value::Array(
                service
                    .gpus
                    .iter()
                    .map(super::service::device_request)
                    .collect(),
            ),
        )
        .put("ipc", go::text(service.ipc.as_deref()))
        .put("isolation", go::text(service.isolation.as_deref()))
        .put("links", links(&service.links))
        .put_some("mem_reservation", service.mem_reservation.map(go::bytes))
        .put_some("memswap_limit", number(service.memswap_limit))
        .put_some("mem_swappiness", number(service.mem_swappiness))
        .put(
            "network_mode",
            json!(service
                .network_mode
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()),
        )
        .put("oom_kill_disable", Value::Bool(service.oom_kill_disable))
        .put_some("oom_score_adj", number(service.oom_score_adj))
        .put("pid", go::text(service.pid.as_deref()))
        .put("runtime", go::text(service.runtime.as_deref()))
        .put("storage_opt", go::plain_map(&service.storage_opt))
        .put("userns_mode", go::text(service.userns_mode.as_deref()))
        .put("uts", go::text(service.uts.as_deref()))
        .put(
            "volumes_from",
            Value::Array(
                service
                    .volumes_from
                    .iter()
                    .map(|v| {
                        let source = match &v.source {
                            VolumesSource::Service(name) => name.clone(),
                            VolumesSource::Container(name) => format!("container:{name}"),
                        };
                        json!(format!("{source}:{}", if v.read_only { "ro" } else { "rw" }))
                    })
                    .collect(),
            ),
        );
}
