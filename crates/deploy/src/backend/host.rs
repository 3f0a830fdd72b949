//! How a container shares the machine beyond the settings every container
//! has: kernel resource controls, devices and device requests (GPUs),
//! namespaces and the runtime, as Compose's fields of the same names give
//! them. Empty (the default) leaves each to the engine.

use std::collections::BTreeMap;

/// Host settings of a container; see each field's Compose namesake.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSettings {
    /// Bytes: the soft memory limit (`mem_reservation`,
    /// `deploy.resources.reservations.memory`).
    pub memory_reservation: Option<u64>,
    /// Bytes of memory and swap together; -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: bool,
    pub oom_score_adj: Option<i64>,
    pub cpu_shares: Option<i64>,
    /// Microseconds.
    pub cpu_period: Option<i64>,
    /// Microseconds.
    pub cpu_quota: Option<i64>,
    /// Microseconds.
    pub cpu_rt_runtime: Option<i64>,
    /// Microseconds.
    pub cpu_rt_period: Option<i64>,
    pub cpuset: Option<String>,
    pub devices: Vec<DeviceMapping>,
    pub device_cgroup_rules: Vec<String>,
    pub device_requests: Vec<DeviceRequest>,
    /// `host` or `private` cgroup namespace.
    pub cgroupns: Option<String>,
    pub cgroup_parent: Option<String>,
    pub ipc: Option<String>,
    pub pid: Option<String>,
    pub uts: Option<String>,
    pub userns_mode: Option<String>,
    pub runtime: Option<String>,
    pub isolation: Option<String>,
    pub blkio: Blkio,
    pub storage_opt: BTreeMap<String, String>,
    /// Legacy links on the default bridge, as `NAME_OR_ID:ALIAS`.
    pub links: Vec<String>,
    /// Containers whose volumes to mount too, as `NAME_OR_ID:ro|rw`.
    pub volumes_from: Vec<String>,
}

/// A host device in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub host: String,
    pub container: String,
    /// cgroup permissions: letters of `rwm`.
    pub permissions: String,
}

/// A request for devices by capability (a GPU, say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRequest {
    pub driver: Option<String>,
    /// How many; -1 for all.
    pub count: Option<i64>,
    pub device_ids: Vec<String>,
    pub capabilities: Vec<String>,
    pub options: BTreeMap<String, String>,
}

/// Block IO weights and throttles, by device path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blkio {
    pub weight: Option<u16>,
    pub weight_device: Vec<(String, u16)>,
    pub read_bps: Vec<(String, u64)>,
    pub write_bps: Vec<(String, u64)>,
    pub read_iops: Vec<(String, u64)>,
    pub write_iops: Vec<(String, u64)>,
}
