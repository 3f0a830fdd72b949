//! A [`ContainerSpec`] as the engine's create-container request: ports
//! published on 127.0.0.1 only, mounts (volumes, binds, tmpfs, and the
//! secret and config files as read-only binds), and the run settings of
//! the host config.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, DeviceRequest, HealthConfig, HostConfig,
    HostConfigCgroupnsModeEnum, HostConfigIsolationEnum, HostConfigLogConfig, MountBindOptions,
    MountTmpfsOptions, MountType, MountVolumeOptions, PortBinding, ResourcesBlkioWeightDevice,
    ResourcesUlimits, RestartPolicyNameEnum, ThrottleDevice,
};

use crate::backend::{ContainerSpec, Error, HostSettings, MountKind, RestartPolicy};

fn to_nanos(d: Option<Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn mounts(spec: &ContainerSpec, files: &[(String, PathBuf)]) -> Vec<bollard::models::Mount> {
    let mut mounts: Vec<bollard::models::Mount> = spec
        .mounts
        .iter()
        .map(|m| {
            let mut mount = bollard::models::Mount {
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                ..Default::default()
            };
            match &m.kind {
                MountKind::Volume { name, nocopy } => {
                    mount.typ = Some(MountType::VOLUME);
                    mount.source = name.clone();
                    mount.volume_options = Some(MountVolumeOptions {
                        no_copy: Some(*nocopy),
                        ..Default::default()
                    });
                }
                MountKind::Bind { source, create } => {
                    mount.typ = Some(MountType::BIND);
                    mount.source = Some(source.display().to_string());
                    mount.bind_options = Some(MountBindOptions {
                        create_mountpoint: create.then_some(true),
                        ..Default::default()
                    });
                }
                MountKind::Tmpfs { size, mode } => {
                    mount.typ = Some(MountType::TMPFS);
                    mount.tmpfs_options = Some(MountTmpfsOptions {
                        size_bytes: size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                        mode: mode.map(i64::from),
                        ..Default::default()
                    });
                }
            }
            mount
        })
        .collect();
    mounts.extend(files.iter().map(|(target, source)| bollard::models::Mount {
        target: Some(target.clone()),
        source: Some(source.display().to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(true),
        ..Default::default()
    }));
    mounts
}

fn host_config(spec: &ContainerSpec, files: &[(String, PathBuf)]) -> HostConfig {
    let mut config = common_host_config(spec, files);
    host_settings(&spec.host, &mut config);
    config
}

fn common_host_config(spec: &ContainerSpec, files: &[(String, PathBuf)]) -> HostConfig {
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    HostConfig {
        init: Some(spec.init),
        network_mode: spec.network.clone(),
        mounts: Some(mounts(spec, files)),
        restart_policy: spec.restart.map(|r| {
            let (name, retries) = match r {
                RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
                RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
                RestartPolicy::OnFailure { max_retries } => (
                    RestartPolicyNameEnum::ON_FAILURE,
                    max_retries.map(i64::from),
                ),
                RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
            };
            bollard::models::RestartPolicy {
                name: Some(name),
                maximum_retry_count: retries,
            }
        }),
        cap_add: non_empty(&spec.cap_add),
        cap_drop: non_empty(&spec.cap_drop),
        extra_hosts: non_empty(&spec.extra_hosts),
        ulimits: (!spec.ulimits.is_empty()).then(|| {
            spec.ulimits
                .iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect()
        }),
        shm_size: spec.shm_size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        log_config: spec.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: Some(l.driver.clone()),
            config: Some(l.options.clone().into_iter().collect()),
        }),
        dns: non_empty(&spec.dns),
        dns_search: non_empty(&spec.dns_search),
        dns_options: non_empty(&spec.dns_opt),
        readonly_rootfs: spec.read_only_root.then_some(true),
        privileged: spec.privileged.then_some(true),
        security_opt: non_empty(&spec.security_opt),
        sysctls: (!spec.sysctls.is_empty()).then(|| spec.sysctls.clone().into_iter().collect()),
        group_add: non_empty(&spec.group_add),
        memory: spec.mem_limit.map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
        nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
        pids_limit: spec.pids_limit,
        ..Default::default()
    }
}

/// Makes the missing source folders of the binds Compose creates
/// (`create_host_path`, implied by a short `./data:/data`), as Compose
/// does, for an engine too old for `CreateMountpoint`: the engine shares
/// this machine's files (secrets are bind-mounted from here too).
pub(super) fn create_bind_sources(spec: &ContainerSpec) -> Result<(), Error> {
    for mount in &spec.mounts {
        if let MountKind::Bind {
            source,
            create: true,
        } = &mount.kind
        {
            if !source.exists() {
                std::fs::create_dir_all(source).map_err(|err| Error::Engine {
                    operation: "create the bind mount's source folder",
                    name: source.display().to_string(),
                    message: format!("{err} (mounted at {} of {})", mount.target, spec.name),
                })?;
            }
        }
    }
    Ok(())
}

pub(super) fn create_body(
    spec: &ContainerSpec,
    files: &[(String, PathBuf)],
    start_interval: bool,
) -> ContainerCreateBody {
    let port_keys: Vec<String> = spec
        .ports
        .iter()
        .map(|p| format!("{p}/tcp"))
        .chain(spec.udp_ports.iter().map(|p| format!("{p}/udp")))
        .collect();
    let bindings = port_keys
        .iter()
        .map(|key| {
            // An empty host port lets the engine pick a free one, on loopback only.
            let binding = PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            };
            (key.clone(), Some(vec![binding]))
        })
        .collect::<HashMap<_, _>>();
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        exposed_ports: Some(
            port_keys
                .iter()
                .cloned()
                .chain(
                    spec.expose
                        .iter()
                        .map(|e| format!("{}/{}", e.port, if e.udp { "udp" } else { "tcp" })),
                )
                .collect(),
        ),
        healthcheck: spec.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: to_nanos(h.interval),
            timeout: to_nanos(h.timeout),
            retries: h.retries.map(i64::from),
            start_period: to_nanos(h.start_period),
            // Older engines reject the field; they probe at `interval`.
            start_interval: if start_interval {
                to_nanos(spec.health_start_interval)
            } else {
                None
            },
        }),
        stop_timeout: spec
            .stop_grace_period
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        user: spec.user.clone(),
        working_dir: spec.working_dir.clone(),
        entrypoint: spec.entrypoint.clone(),
        stop_signal: spec.stop_signal.clone(),
        tty: spec.tty.then_some(true),
        open_stdin: spec.stdin_open.then_some(true),
        hostname: spec.hostname.clone(),
        domainname: spec.domainname.clone(),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            ..host_config(spec, files)
        }),
        ..Default::default()
    }
}

/// The host settings over `config`: what is set replaces the engine's default.
fn host_settings(host: &HostSettings, config: &mut HostConfig) {
    let bytes = |b: u64| i64::try_from(b).unwrap_or(i64::MAX);
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let throttles = |list: &[(String, u64)]| {
        (!list.is_empty()).then(|| {
            list.iter()
                .map(|(path, rate)| ThrottleDevice {
                    path: Some(path.clone()),
                    rate: Some(bytes(*rate)),
                })
                .collect()
        })
    };
    config.memory_reservation = host.memory_reservation.map(bytes);
    config.memory_swap = host.memory_swap;
    config.memory_swappiness = host.memory_swappiness;
    config.oom_kill_disable = host.oom_kill_disable.then_some(true);
    config.oom_score_adj = host.oom_score_adj;
    config.cpu_shares = host.cpu_shares;
    config.cpu_period = host.cpu_period;
    config.cpu_quota = host.cpu_quota;
    config.cpu_realtime_runtime = host.cpu_rt_runtime;
    config.cpu_realtime_period = host.cpu_rt_period;
    config.cpuset_cpus = host.cpuset.clone();
    config.devices = (!host.devices.is_empty()).then(|| {
        host.devices
            .iter()
            .map(|d| DeviceMapping {
                path_on_host: Some(d.host.clone()),
                path_in_container: Some(d.container.clone()),
                cgroup_permissions: Some(d.permissions.clone()),
            })
            .collect()
    });
    config.device_cgroup_rules = non_empty(&host.device_cgroup_rules);
    config.device_requests = (!host.device_requests.is_empty()).then(|| {
        host.device_requests
            .iter()
            .map(|r| DeviceRequest {
                driver: r.driver.clone(),
                count: r.count,
                device_ids: (!r.device_ids.is_empty()).then(|| r.device_ids.clone()),
                capabilities: Some(vec![r.capabilities.clone()]),
                options: Some(r.options.clone().into_iter().collect()),
            })
            .collect()
    });
    config.cgroupns_mode = host.cgroupns.as_deref().map(|mode| match mode {
        "host" => HostConfigCgroupnsModeEnum::HOST,
        _ => HostConfigCgroupnsModeEnum::PRIVATE,
    });
    config.cgroup_parent = host.cgroup_parent.clone();
    config.ipc_mode = host.ipc.clone();
    config.pid_mode = host.pid.clone();
    config.uts_mode = host.uts.clone();
    config.userns_mode = host.userns_mode.clone();
    config.runtime = host.runtime.clone();
    config.isolation = host
        .isolation
        .as_deref()
        .map(|_| HostConfigIsolationEnum::DEFAULT);
    config.blkio_weight = host.blkio.weight;
    config.blkio_weight_device = (!host.blkio.weight_device.is_empty()).then(|| {
        host.blkio
            .weight_device
            .iter()
            .map(|(path, weight)| ResourcesBlkioWeightDevice {
                path: Some(path.clone()),
                weight: Some(usize::from(*weight)),
            })
            .collect()
    });
    config.blkio_device_read_bps = throttles(&host.blkio.read_bps);
    config.blkio_device_write_bps = throttles(&host.blkio.write_bps);
    config.blkio_device_read_iops = throttles(&host.blkio.read_iops);
    config.blkio_device_write_iops = throttles(&host.blkio.write_iops);
    config.volumes_from = (!host.volumes_from.is_empty()).then(|| host.volumes_from.clone());
    config.links = (!host.links.is_empty()).then(|| host.links.clone());
    config.storage_opt =
        (!host.storage_opt.is_empty()).then(|| host.storage_opt.clone().into_iter().collect());
}
