//! Whether the holder of a service's deploy lock is still there. A lock
//! records the pid of the windlass process that runs the deploy and a
//! heartbeat that process renews: a lock is free at once when that pid is
//! gone from this machine, and after [`LOCK_STALE_MILLIS`] without a beat
//! otherwise (a pid taken again by another process, a state folder reached
//! from another machine). The agent and the ECS deploy of the CLI share it.

use std::path::Path;
use std::time::Duration;

/// A lock whose heartbeat is older than this is free.
pub const LOCK_STALE_MILLIS: i64 = 10_000;
/// How often a lock's holder beats its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// Whether process `pid` runs on this machine.
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}
