//! What a service's containers may take of the machine, in Compose's
//! words: `deploy.resources` (limits and reservations, device requests
//! such as GPUs), `deploy.restart_policy`, `devices`, `gpus` and
//! `blkio_config`, each read in the forms Compose accepts.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::runtime::Restart;
use super::values::{self, visitor};

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub limits: Option<Limits>,
    pub reservations: Option<Reservations>,
}

/// `deploy.resources.limits`: the container's memory, CPUs and processes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, deserialize_with = "values::optional_float")]
    pub cpus: Option<f64>,
    #[serde(default, deserialize_with = "values::optional_bytes")]
    pub memory: Option<u64>,
    pub pids: Option<i64>,
}

/// `deploy.resources.reservations`. A CPU reservation is swarm's
/// scheduling hint, which Compose does not pass to a plain engine either;
/// memory is the container's soft limit, devices are device requests.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservations {
    #[serde(default, deserialize_with = "values::optional_float")]
    pub cpus: Option<f64>,
    #[serde(default, deserialize_with = "values::optional_bytes")]
    pub memory: Option<u64>,
    #[serde(default)]
    pub devices: Vec<DeviceRequest>,
    /// Swarm's generic resources: no meaning on one engine, as in Compose.
    #[serde(default)]
    pub generic_resources: Vec<serde_norway::Value>,
}

/// A device request (a GPU, say), as `deploy.resources.reservations.devices`
/// and `gpus` write it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub driver: Option<String>,
    /// How many devices; `None` with no `device_ids` means all of them.
    #[serde(default, deserialize_with = "count")]
    pub count: Option<DeviceCount>,
    #[serde(default)]
    pub device_ids: Vec<String>,
    #[serde(default, deserialize_with = "values::string_map")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceCount {
    All,
    Some(u32),
}

impl DeviceCount {
    /// As the engine takes it: -1 for all.
    pub fn engine(self) -> i64 {
        match self {
            DeviceCount::All => -1,
            DeviceCount::Some(n) => i64::from(n),
        }
    }
}

visitor!(CountVisitor -> DeviceCount, "a number of devices, or all", {
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<DeviceCount, E> {
        u32::try_from(n).map(DeviceCount::Some).map_err(|_| E::custom(format!("{n} devices is too many")))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<DeviceCount, E> {
        if n == -1 { Ok(DeviceCount::All) } else { Err(E::custom(format!("invalid count {n}: expected a number of devices, or all"))) }
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<DeviceCount, E> {
        match text.trim() {
            "all" | "-1" => Ok(DeviceCount::All),
            n => n.parse().map(DeviceCount::Some).map_err(|_| E::custom(format!("invalid count {text:?}: expected a number of devices, or all"))),
        }
    }
});

fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DeviceCount>, D::Error> {
    d.deserialize_any(CountVisitor).map(Some)
}

visitor!(GpusVisitor -> Vec<DeviceRequest>, "all, or a list of device requests with count, device_ids, driver, options", {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<DeviceRequest>, E> {
        let count = CountVisitor.visit_str::<E>(text)?;
        Ok(vec![DeviceRequest { capabilities: vec!["gpu".into()], count: Some(count), ..DeviceRequest::default() }])
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<DeviceRequest>, A::Error> {
        let mut requests = Vec::<DeviceRequest>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        for request in &mut requests {
            if !request.capabilities.iter().any(|c| c == "gpu") {
                request.capabilities.push("gpu".into());
            }
        }
        Ok(requests)
    }
});

/// `gpus`: `all`, or a list of requests; each asks for the `gpu` capability.
pub(crate) fn gpus<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceRequest>, D::Error> {
    d.deserialize_any(GpusVisitor)
}

/// `deploy.restart_policy`: the container's restart policy when the
/// service sets no `restart` (Compose's mapping for a plain engine).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    pub condition: Option<RestartCondition>,
    /// Swarm waits this long between restarts; a plain engine backs off itself.
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub delay: Option<std::time::Duration>,
    pub max_attempts: Option<u32>,
    /// Swarm's window to judge a restart; a plain engine has none.
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub window: Option<std::time::Duration>,
}

/// `deploy.restart_policy.condition`: Swarm's three words, and the engine's
/// own (`no`, `always`, `unless-stopped`), which Docker Compose also takes
/// here on a plain engine (compose's `mapRestartPolicyCondition`). Each
/// keeps its spelling, so `windlass config` prints what the file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartCondition {
    None,
    No,
    OnFailure,
    Any,
    Always,
    UnlessStopped,
}

impl RestartCondition {
    /// The word as a Compose file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartCondition::None => "none",
            RestartCondition::No => "no",
            RestartCondition::OnFailure => "on-failure",
            RestartCondition::Any => "any",
            RestartCondition::Always => "always",
            RestartCondition::UnlessStopped => "unless-stopped",
        }
    }
}

visitor!(RestartConditionVisitor -> RestartCondition, "none, on-failure, any, no, always or unless-stopped", {
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<RestartCondition, E> {
        // YAML 1.1 reads an unquoted `no` as false.
        if value { Err(E::custom("invalid restart condition true: expected none, on-failure, any, no, always or unless-stopped")) } else { Ok(RestartCondition::No) }
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<RestartCondition, E> {
        Ok(match text {
            "none" => RestartCondition::None,
            "no" => RestartCondition::No,
            "on-failure" => RestartCondition::OnFailure,
            "any" => RestartCondition::Any,
            "always" => RestartCondition::Always,
            "unless-stopped" => RestartCondition::UnlessStopped,
            other => return Err(E::custom(format!("invalid restart condition {other:?}: expected none, on-failure, any, no, always or unless-stopped"))),
        })
    }
});

impl<'de> Deserialize<'de> for RestartCondition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RestartCondition, D::Error> {
        d.deserialize_any(RestartConditionVisitor)
    }
}

impl RestartPolicy {
    /// The engine's policy Compose gives it: `none` (or `no`) is no,
    /// `on-failure` keeps `max_attempts`, `any` (the default, or `always`)
    /// is always, `unless-stopped` is itself.
    pub fn restart(&self) -> Restart {
        match self.condition.unwrap_or(RestartCondition::Any) {
            RestartCondition::None | RestartCondition::No => Restart::No,
            RestartCondition::OnFailure => Restart::OnFailure(self.max_attempts),
            RestartCondition::Any | RestartCondition::Always => Restart::Always,
            RestartCondition::UnlessStopped => Restart::UnlessStopped,
        }
    }
}

/// One of `devices`: a host device given to the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub host: String,
    pub container: String,
    /// cgroup permissions, `rwm` unless given.
    pub permissions: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongDevice {
    source: String,
    target: Option<String>,
    permissions: Option<String>,
}

const DEVICE_SYNTAX: &str = "HOST[:CONTAINER[:PERMISSIONS]] like /dev/fuse or /dev/ttyUSB0:/dev/ttyUSB0:rw, or a map with source, target, permissions";

fn device(
    host: &str,
    container: Option<&str>,
    permissions: Option<&str>,
) -> Result<Device, String> {
    let permissions = permissions.unwrap_or("rwm");
    if !host.starts_with('/') || container.is_some_and(|c| !c.starts_with('/')) {
        return Err(format!(
            "invalid device {host:?}: paths must be absolute; expected {DEVICE_SYNTAX}"
        ));
    }
    if permissions.is_empty() || !permissions.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(format!(
            "invalid device permissions {permissions:?}: expected letters of rwm"
        ));
    }
    Ok(Device {
        host: host.to_owned(),
        container: container.unwrap_or(host).to_owned(),
        permissions: permissions.to_owned(),
    })
}

visitor!(DeviceVisitor -> Device, DEVICE_SYNTAX, {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Device, E> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts[..] {
            [host] => device(host, None, None),
            [host, container] if container.starts_with('/') => device(host, Some(container), None),
            [host, permissions] => device(host, None, Some(permissions)),
            [host, container, permissions] => device(host, Some(container), Some(permissions)),
            _ => Err(format!("invalid device {text:?}: expected {DEVICE_SYNTAX}")),
        }
        .map_err(E::custom)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Device, A::Error> {
        let long = LongDevice::deserialize(de::value::MapAccessDeserializer::new(map))?;
        device(&long.source, long.target.as_deref(), long.permissions.as_deref()).map_err(de::Error::custom)
    }
});

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Device, D::Error> {
        d.deserialize_any(DeviceVisitor)
    }
}

/// `blkio_config`: block IO weights and throttles.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlkioConfig {
    /// 10 to 1000.
    pub weight: Option<u16>,
    #[serde(default)]
    pub weight_device: Vec<WeightDevice>,
    #[serde(default)]
    pub device_read_bps: Vec<Throttle>,
    #[serde(default)]
    pub device_write_bps: Vec<Throttle>,
    #[serde(default)]
    pub device_read_iops: Vec<Throttle>,
    #[serde(default)]
    pub device_write_iops: Vec<Throttle>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// A device's rate: bytes a second (`12mb`) or operations a second.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    pub path: String,
    #[serde(deserialize_with = "rate")]
    pub rate: u64,
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    values::optional_bytes(d).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_read_in_short_and_long_form() {
        let read = |text: &str| serde_norway::from_str::<Device>(text);
        let fuse = read("/dev/fuse").expect("short");
        assert_eq!(
            (fuse.container.as_str(), fuse.permissions.as_str()),
            ("/dev/fuse", "rwm")
        );
        let tty = read("/dev/ttyUSB0:/dev/tty0:rw").expect("full");
        assert_eq!(
            (
                tty.host.as_str(),
                tty.container.as_str(),
                tty.permissions.as_str()
            ),
            ("/dev/ttyUSB0", "/dev/tty0", "rw")
        );
        let perms = read("/dev/sda:r").expect("permissions only");
        assert_eq!(perms.container, "/dev/sda");
        assert!(read("dev/sda").is_err());
        assert!(read("/dev/sda:/dev/sda:rx").is_err());
        let long = read("{source: /dev/kvm, permissions: rw}").expect("long");
        assert_eq!(long.container, "/dev/kvm");
    }

    #[test]
    fn restart_policies_map_as_compose_maps_them() {
        let read = |text: &str| {
            serde_norway::from_str::<RestartPolicy>(text)
                .expect("reads")
                .restart()
        };
        assert_eq!(read("{condition: none}"), Restart::No);
        assert_eq!(read("{condition: any, delay: 5s}"), Restart::Always);
        assert_eq!(read("{window: 1m}"), Restart::Always);
        assert_eq!(
            read("{condition: on-failure, max_attempts: 3}"),
            Restart::OnFailure(Some(3))
        );
        // The engine's own words, which Docker Compose takes here too.
        assert_eq!(read("{condition: unless-stopped}"), Restart::UnlessStopped);
        assert_eq!(read("{condition: always}"), Restart::Always);
        assert_eq!(read("{condition: 'no'}"), Restart::No);
        assert_eq!(read("{condition: false}"), Restart::No);
        let refused = serde_norway::from_str::<RestartPolicy>("{condition: sometimes}")
            .expect_err("refused")
            .to_string();
        assert!(
            refused.contains("invalid restart condition \"sometimes\""),
            "{refused}"
        );
    }
}
