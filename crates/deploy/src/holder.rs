//! Whether the holder of a service's deploy lock is still there. A lock
//! records the host name and pid of the windlass process that runs the
//! deploy and a heartbeat that process renews: on the same host a lock is
//! free at once when that pid is gone, and after [`LOCK_STALE_MILLIS`]
//! without a beat otherwise (a pid taken again by another process, a state
//! folder reached from another machine, whose pids mean nothing here). The
//! agent and the ECS deploy of the CLI share these rules.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// A lock whose heartbeat is older than this is free.
pub const LOCK_STALE_MILLIS: i64 = 10_000;
/// How often a lock's holder beats its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// Whether process `pid` runs on this machine.
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// This machine's name, as the kernel has it (`uname -n`), recorded in the
/// locks its processes take.
pub fn host_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|path| {
                let text = std::fs::read_to_string(path).ok()?;
                let name = text.trim();
                (!name.is_empty()).then(|| name.to_owned())
            })
            .unwrap_or_else(|| "localhost".into())
    })
}

/// Whether a lock's `host` is this machine: a pid is judged only there. A
/// lock written before hosts were recorded (an empty host) was written
/// here, since the state folder belonged to one machine.
pub fn on_this_host(host: &str) -> bool {
    host.is_empty() || host == host_name()
}

/// Whether the process `pid` of `host` is known to be gone: only on this
/// host, where its pid can be looked up; elsewhere only its heartbeat's age
/// tells.
pub fn process_gone(host: &str, pid: u32) -> bool {
    on_this_host(host) && !process_exists(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_is_judged_on_its_own_host_only() {
        assert!(!host_name().is_empty());
        assert!(!process_gone(host_name(), std::process::id()));
        assert!(process_gone(host_name(), u32::MAX));
        assert!(process_gone("", u32::MAX), "an old lock is this host's");
        assert!(
            !process_gone("another-machine", u32::MAX),
            "a pid of another machine means nothing here"
        );
    }
}
