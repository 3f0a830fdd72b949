//! A service's resource controls, devices and namespaces as the container's
//! host settings: Compose's fields of the same names, GPUs from `gpus` and
//! `deploy.resources.reservations.devices`, and the limits `compose`
//! settled from `deploy.resources`.

use crate::backend::{Blkio, DeviceMapping, DeviceRequest, HostSettings};
use crate::compose::{self, Service};

/// The service's resource controls, devices and namespaces.
pub(super) fn host_settings(service: &Service) -> HostSettings {
    let reservations = service
        .deploy
        .resources
        .as_ref()
        .and_then(|r| r.reservations.as_ref());
    let requests = service
        .gpus
        .iter()
        .chain(reservations.into_iter().flat_map(|r| &r.devices));
    let blkio = service.blkio_config.clone().unwrap_or_default();
    let throttles = |list: &[compose::Throttle]| -> Vec<(String, u64)> {
        list.iter().map(|t| (t.path.clone(), t.rate)).collect()
    };
    HostSettings {
        memory_reservation: service.memory_reservation(),
        memory_swap: service.memswap_limit,
        memory_swappiness: service.mem_swappiness,
        oom_kill_disable: service.oom_kill_disable,
        oom_score_adj: service.oom_score_adj,
        cpu_shares: service.cpu_shares,
        cpu_period: service.cpu_period,
        cpu_quota: service.cpu_quota,
        cpu_rt_runtime: service.cpu_rt_runtime,
        cpu_rt_period: service.cpu_rt_period,
        cpuset: service.cpuset.clone(),
        devices: service
            .devices
            .iter()
            .map(|d| DeviceMapping {
                host: d.host.clone(),
                container: d.container.clone(),
                permissions: d.permissions.clone(),
            })
            .collect(),
        device_cgroup_rules: service.device_cgroup_rules.clone(),
        device_requests: requests
            .map(|r| DeviceRequest {
                driver: r.driver.clone(),
                // Compose asks for all devices when neither a count nor ids are given.
                count: match (r.count, r.device_ids.is_empty()) {
                    (Some(count), _) => Some(count.engine()),
                    (None, true) => Some(-1),
                    (None, false) => None,
                },
                device_ids: r.device_ids.clone(),
                capabilities: r.capabilities.clone(),
                options: r.options.clone(),
            })
            .collect(),
        cgroupns: service.cgroup.map(|c| c.as_str().to_owned()),
        cgroup_parent: service.cgroup_parent.clone(),
        ipc: service.ipc.clone(),
        pid: service.pid.clone(),
        uts: service.uts.clone(),
        userns_mode: service.userns_mode.clone(),
        runtime: service.runtime.clone(),
        isolation: service.isolation.clone(),
        blkio: Blkio {
            weight: blkio.weight,
            weight_device: blkio
                .weight_device
                .iter()
                .map(|w| (w.path.clone(), w.weight))
                .collect(),
            read_bps: throttles(&blkio.device_read_bps),
            write_bps: throttles(&blkio.device_write_bps),
            read_iops: throttles(&blkio.device_read_iops),
            write_iops: throttles(&blkio.device_write_iops),
        },
        storage_opt: service.storage_opt.clone(),
        // Another service's container is found by the target when it
        // creates this one.
        links: service
            .external_links
            .iter()
            .map(|l| format!("{}:{}", l.target, l.alias))
            .collect(),
        volumes_from: service
            .volumes_from
            .iter()
            .filter_map(|from| match &from.source {
                compose::VolumesSource::Container(name) => Some(volumes_from(name, from.read_only)),
                compose::VolumesSource::Service(_) => None,
            })
            .collect(),
    }
}

/// A `volumes_from` entry as the engine takes it.
pub(crate) fn volumes_from(container: &str, read_only: bool) -> String {
    format!("{container}:{}", if read_only { "ro" } else { "rw" })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::RestartPolicy;
    use crate::plan::container_spec;
    use windlass_store::releases::{Installation, ServiceKey};

    fn key(service: &str) -> ServiceKey {
        ServiceKey::new("shop", service).expect("a key")
    }

    fn corpus(file: &str) -> compose::Project {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/compose/good")
            .join(file);
        let (project, diagnostics) = compose::check_files(&[path], &compose::Options::default());
        project.unwrap_or_else(|| panic!("{file} is valid: {diagnostics:?}"))
    }

    #[test]
    fn resources_restart_policy_and_scale_reach_the_container_spec() {
        let project = corpus("host-fields.yaml");
        let api = &project.services["api"];
        assert_eq!(api.deploy.replicas, Some(2), "scale is the replicas");
        let spec = container_spec(
            &Installation::from("i1"),
            &key("api"),
            api,
            "r1",
            0,
            "api@sha256:1",
            |_| None,
        );
        // deploy.resources.limits win over mem_limit.
        assert_eq!(spec.mem_limit, Some(256 << 20));
        assert_eq!(spec.cpus, Some(0.5));
        assert_eq!(spec.pids_limit, Some(64));
        assert_eq!(spec.host.memory_reservation, Some(128 << 20));
        assert_eq!(
            spec.host.device_requests,
            vec![DeviceRequest {
                driver: Some("nvidia".into()),
                count: Some(1),
                capabilities: vec!["gpu".into()],
                ..DeviceRequest::default()
            }]
        );
        assert_eq!(
            spec.restart,
            Some(RestartPolicy::OnFailure {
                max_retries: Some(4)
            })
        );
        assert_eq!(
            spec.labels.get("com.example.owner").map(String::as_str),
            Some("payments"),
            "label_file"
        );
        assert_eq!(
            spec.labels.get("team").map(String::as_str),
            Some("shop"),
            "labels win over label_file"
        );
        assert_eq!(spec.platform, None, "an empty platform is unset");
    }

    #[test]
    fn devices_namespaces_and_kernel_controls_reach_the_container_spec() {
        let project = corpus("host-fields.yaml");
        let worker = &project.services["worker"];
        let spec = container_spec(
            &Installation::from("i1"),
            &key("worker"),
            worker,
            "r1",
            0,
            "w@sha256:1",
            |_| None,
        );
        assert_eq!(
            spec.restart,
            Some(RestartPolicy::UnlessStopped),
            "restart wins"
        );
        let host = &spec.host;
        assert_eq!(
            host.devices,
            vec![
                DeviceMapping {
                    host: "/dev/fuse".into(),
                    container: "/dev/fuse".into(),
                    permissions: "rwm".into()
                },
                DeviceMapping {
                    host: "/dev/ttyUSB0".into(),
                    container: "/dev/ttyS0".into(),
                    permissions: "rw".into()
                },
                DeviceMapping {
                    host: "/dev/kvm".into(),
                    container: "/dev/kvm".into(),
                    permissions: "rwm".into()
                },
            ]
        );
        assert_eq!(host.device_cgroup_rules, vec!["c 10:229 rwm".to_owned()]);
        assert_eq!(host.device_requests.len(), 1);
        assert_eq!(host.device_requests[0].count, Some(-1), "gpus: all");
        assert_eq!(host.device_requests[0].capabilities, vec!["gpu".to_owned()]);
        assert_eq!(host.cgroupns.as_deref(), Some("private"));
        assert_eq!(host.cgroup_parent.as_deref(), Some("shop.slice"));
        assert_eq!(
            (
                host.ipc.as_deref(),
                host.pid.as_deref(),
                host.uts.as_deref(),
                host.userns_mode.as_deref()
            ),
            (Some("shareable"), Some("host"), Some("host"), Some("host"))
        );
        assert_eq!(host.runtime.as_deref(), Some("runc"));
        assert_eq!(host.oom_score_adj, Some(-500));
        assert!(host.oom_kill_disable);
        assert_eq!(host.memory_reservation, Some(64 << 20));
        assert_eq!(host.memory_swap, Some(-1));
        assert_eq!(host.memory_swappiness, Some(10));
        assert_eq!(host.cpu_shares, Some(512));
        assert_eq!(host.cpu_period, Some(100_000), "100ms in microseconds");
        assert_eq!(host.cpu_quota, Some(50_000));
        assert_eq!(host.cpu_rt_runtime, Some(950_000));
        assert_eq!(host.cpu_rt_period, Some(1_000_000));
        assert_eq!(host.cpuset.as_deref(), Some("0-1"));
        assert_eq!(host.blkio.weight, Some(300));
        assert_eq!(host.blkio.weight_device, vec![("/dev/sda".to_owned(), 400)]);
        assert_eq!(host.blkio.read_bps, vec![("/dev/sda".to_owned(), 12 << 20)]);
        assert_eq!(host.blkio.write_iops, vec![("/dev/sda".to_owned(), 120)]);
        assert_eq!(
            host.storage_opt.get("size").map(String::as_str),
            Some("20G")
        );
    }

    #[test]
    fn network_modes_give_the_container_its_namespace_and_no_published_port() {
        let project = corpus("network-modes.yaml");
        let spec = |name: &str| {
            container_spec(
                &Installation::from("i1"),
                &key(name),
                &project.services[name],
                "r1",
                0,
                "i@sha256:1",
                |_| None,
            )
        };
        assert_eq!(spec("edge").network.as_deref(), Some("host"));
        assert_eq!(spec("batch").network.as_deref(), Some("none"));
        assert_eq!(
            spec("tap").network.as_deref(),
            Some("container:vpn-gateway")
        );
        // The target joins the live container of `app` when it creates it.
        assert_eq!(spec("sidecar").network, None);
        assert_eq!(spec("plain").network, None);
        assert_eq!(spec("plain").ports, vec![80]);
        let sidecar = &project.services["sidecar"];
        assert!(
            sidecar.depends_on.contains_key("app"),
            "service:app starts after app"
        );
        assert!(!sidecar.has_proxy());
        assert!(sidecar.must_run_alone().is_some());
        assert_eq!(project.services["edge"].routed_port(), None);
    }

    #[test]
    fn read_write_directories_make_a_service_run_alone_and_files_do_not() {
        let project = corpus("bind-data.yaml");
        let alone = |name: &str| project.services[name].must_run_alone();
        assert_eq!(
            alone("postgres"),
            Some("it bind-mounts a directory read-write")
        );
        assert_eq!(
            alone("notes"),
            Some("it bind-mounts a directory read-write")
        );
        assert_eq!(
            alone("cache"),
            Some("it mounts an anonymous volume read-write, which each release keeps, as Compose does")
        );
        assert_eq!(alone("site"), None, "read-only, a single file, tmpfs");
        assert_eq!(alone("uploads"), None, "x-windlass.shared_mounts");
    }

    #[test]
    fn volumes_from_mounts_containers_of_the_file_after_them() {
        let project = corpus("volumes-from.yaml");
        let backup = &project.services["backup"];
        let spec = container_spec(
            &Installation::from("i1"),
            &key("backup"),
            backup,
            "r1",
            0,
            "b@sha256:1",
            |_| None,
        );
        // The store's live container is found by the target at creation.
        assert_eq!(spec.host.volumes_from, vec!["legacy-data:ro".to_owned()]);
        assert!(backup.depends_on.contains_key("store"));
        assert!(backup.must_run_alone().is_some());
        assert_eq!(project.services["reader"].must_run_alone(), None);
    }

    #[test]
    fn external_links_reach_the_container_spec_and_links_wait_for_their_service() {
        let project = corpus("links.yaml");
        let app = &project.services["app"];
        let spec = container_spec(
            &Installation::from("i1"),
            &key("app"),
            app,
            "r1",
            0,
            "a@sha256:1",
            |_| None,
        );
        assert_eq!(
            spec.host.links,
            vec![
                "legacy-redis:redis".to_owned(),
                "legacy-mq:legacy-mq".into()
            ]
        );
        assert!(app.depends_on.contains_key("db"));
    }

    #[test]
    fn network_settings_reach_the_service_networks() {
        let project = corpus("network-options.yaml");
        let back = &project.services["api"].networks.0["back"].options;
        assert!(back.internal);
        assert_eq!(
            back.driver_opts
                .get("com.docker.network.bridge.name")
                .map(String::as_str),
            Some("shop-back")
        );
        assert_eq!(back.ipam_driver.as_deref(), Some("default"));
        assert_eq!(back.pools[0].subnet.as_deref(), Some("172.28.0.0/16"));
        assert_eq!(back.pools[0].gateway.as_deref(), Some("172.28.5.254"));
        assert_eq!(
            back.pools[0]
                .aux_addresses
                .get("router")
                .map(String::as_str),
            Some("172.28.1.5")
        );
        let front = &project.services["api"].networks.0["front"].options;
        assert!(front.attachable && !front.internal);
    }
}
