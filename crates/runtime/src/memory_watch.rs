//! A bound on the memory JSONata evaluations take. jsonata-core bounds an
//! expression's time and the length of its sequences, not its memory: a
//! string doubled inside a `$reduce` passes a gigabyte within the 5 s an
//! expression has. A thread watches the process's resident memory while
//! evaluations run, and stops them (they fail with
//! `States.QueryEvaluationError`) once it has grown more than the bound
//! since the oldest of them started. The bound is on the process, so an
//! evaluation is also stopped when something else grew the process that
//! much while it ran: the bound is set well above what an expression over
//! 256 KiB payloads needs.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

/// How much the process may grow while JSONata evaluations run.
pub const JSONATA_MEMORY_BOUND: u64 = 512 << 20;

/// How often the watch looks while evaluations run.
const PERIOD: Duration = Duration::from_millis(5);

static WATCHING: OnceLock<u64> = OnceLock::new();

/// Starts the watch with [`JSONATA_MEMORY_BOUND`] (once a process; later
/// calls do nothing). Returns the bound in force.
pub fn watch_jsonata_memory() -> u64 {
    watch_jsonata_memory_with(JSONATA_MEMORY_BOUND)
}

/// Starts the watch with `bound` bytes, unless one runs already (whose
/// bound is returned).
pub fn watch_jsonata_memory_with(bound: u64) -> u64 {
    *WATCHING.get_or_init(|| {
        let started = std::thread::Builder::new()
            .name("jsonata-memory".into())
            .spawn(move || watch(bound));
        if let Err(err) = started {
            tracing::warn!(error = %err, "JSONata memory watch not started");
        }
        bound
    })
}

fn watch(bound: u64) {
    // The resident size when the watch first saw each evaluation.
    let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
    loop {
        std::thread::sleep(PERIOD);
        let running = windlass_asl::jsonata::running();
        if running.is_empty() {
            seen.clear();
            continue;
        }
        let Some(now) = resident_bytes() else {
            tracing::warn!("JSONata memory watch stopped: /proc/self/status has no VmRSS");
            return;
        };
        seen.retain(|id, _| running.contains(id));
        for id in &running {
            seen.entry(*id).or_insert(now);
        }
        let floor = seen.values().copied().min().unwrap_or(now);
        if now > floor + bound {
            let reason = format!(
                "The expression was stopped: the process grew by {} MiB while it ran, over windlass's bound of {} MiB for JSONata evaluations; build smaller values",
                (now - floor) >> 20,
                bound >> 20
            );
            let stopped = windlass_asl::jsonata::stop(&running, &reason);
            tracing::warn!(
                stopped,
                grown_mib = (now - floor) >> 20,
                bound_mib = bound >> 20,
                "JSONata evaluations stopped for memory"
            );
            for id in running {
                seen.remove(&id);
            }
        }
    }
}

/// The process's resident memory, from `/proc/self/status` (Linux).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
