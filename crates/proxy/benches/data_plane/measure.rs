//! One measured run: wrk's load through a proxy, its answer read back
//! (requests/s, p99, errors), and the CPU time the proxy's processes spent
//! meanwhile (utime + stime of /proc/PID/stat, children included).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// What one run of wrk through one proxy gave.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub requests_per_second: f64,
    /// Microseconds of the proxy's CPU (user + system) per request.
    pub cpu_per_request: f64,
    pub p99: Duration,
    /// Socket errors and answers that were not 2xx/3xx.
    pub errors: u64,
}

/// How wrk loads the proxy.
pub struct Load {
    pub connections: u32,
    pub duration: Duration,
    /// Sends `Connection: close`, so each request opens a new connection.
    pub close: bool,
}

pub fn run(load: &Load, addr: SocketAddr, pids: &[u32]) -> Run {
    let before = cpu_ticks(pids);
    let mut wrk = Command::new("wrk");
    wrk.arg("-t1")
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration.as_secs()))
        .arg("--latency");
    if load.close {
        wrk.arg("-H").arg("Connection: close");
    }
    let output = wrk
        .arg(format!("http://{addr}/index.html"))
        .output()
        .expect("run wrk");
    let after = cpu_ticks(pids);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    let parsed = Parsed::read(&text).unwrap_or_else(|| panic!("cannot read wrk's output:\n{text}"));
    let cpu_micros = (after - before) as f64 * 1e6 / ticks_per_second() as f64;
    Run {
        requests_per_second: parsed.requests_per_second,
        cpu_per_request: cpu_micros / parsed.requests.max(1) as f64,
        p99: parsed.p99,
        errors: parsed.errors,
    }
}

/// The lines of wrk's output the bench needs.
struct Parsed {
    requests_per_second: f64,
    requests: u64,
    p99: Duration,
    errors: u64,
}

impl Parsed {
    fn read(text: &str) -> Option<Parsed> {
        let mut requests_per_second = None;
        let mut requests = None;
        let mut p99 = None;
        let mut errors = 0;
        for line in text.lines().map(str::trim) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["Requests/sec:", n] => requests_per_second = n.parse().ok(),
                ["99%", latency] => p99 = duration(latency),
                [n, "requests", "in", ..] => requests = n.parse().ok(),
                ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().ok()?,
                ["Socket", "errors:", rest @ ..] => {
                    errors += rest
                        .iter()
                        .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                        .sum::<u64>();
                }
                _ => {}
            }
        }
        Some(Parsed {
            requests_per_second: requests_per_second?,
            requests: requests?,
            p99: p99?,
            errors,
        })
    }
}

/// wrk's latencies: `812.00us`, `1.23ms`, `2.00s`.
fn duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

/// CPU ticks (utime + stime) of `pids` and of their children (nginx's
/// workers are its master's).
fn cpu_ticks(pids: &[u32]) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((parent, ticks)) = stat(pid) else {
            continue;
        };
        if pids.contains(&pid) || pids.contains(&parent) {
            total += ticks;
        }
    }
    total
}

/// The parent pid and utime + stime of a process.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it don't.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15).
    let parent = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((parent, utime + stime))
}

fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}
