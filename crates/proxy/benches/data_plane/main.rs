//! windlass's proxy beside HAProxy and nginx (Debian's packages) in front of
//! the same upstream, an nginx serving a small static file, all on
//! 127.0.0.1: `wrk -t1 -c32` through each, runs interleaved round by round,
//! printing requests/s, the proxy's CPU per request (utime + stime of its
//! processes) and p99 for HTTP with keep-alive, HTTP with a new connection
//! per request, and TCP (keep-alive and a connection per request). A
//! "floor" runs beside them: hyper and tokio forwarding with none of
//! windlass's routing, holding or counting, which is what those cost; and
//! "weighted", windlass with a canary taking 50 % beside the live release,
//! which is what weighted routing costs; "hedged", windlass as the Swarm
//! entry runs it (`hedge_after` 1 s, two upstreams), what hedging costs.
//!
//! Run: `cargo bench -p windlass-proxy --bench data_plane` (needs `haproxy`,
//! `nginx`, its stream module and `wrk`: `scripts/setup-bench`). Settings:
//! `DATA_PLANE_SECONDS` (4 a run), `DATA_PLANE_ROUNDS` (3),
//! `DATA_PLANE_CONNECTIONS` (32), `DATA_PLANE_ONLY` (scenario or proxy names,
//! comma-separated, to run a part), `DATA_PLANE_BASELINE` (the path of
//! another build of this bench: its windlass runs as the proxy "baseline",
//! to compare two builds in the same rounds).

mod measure;
mod peers;
mod serve;

use std::time::Duration;

use measure::{Load, Run};
use peers::Proxy;

/// Set in the environment of the bench binary run again as windlass's proxy:
/// `MODE:UPSTREAM`, MODE one of `windlass`, `weighted`, `hedged`, `floor`.
const SERVE: &str = "DATA_PLANE_SERVE";

#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    tcp: bool,
    close: bool,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "http keep-alive",
        tcp: false,
        close: false,
    },
    Scenario {
        name: "http new connection",
        tcp: false,
        close: true,
    },
    Scenario {
        name: "tcp keep-alive",
        tcp: true,
        close: false,
    },
    Scenario {
        name: "tcp new connection",
        tcp: true,
        close: true,
    },
];

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Ok(what) = std::env::var(SERVE) {
        serve::run(&what);
        return;
    }
    let missing: Vec<&str> = ["haproxy", "nginx", "wrk"]
        .into_iter()
        .filter(|p| !peers::installed(p))
        .collect();
    if !missing.is_empty() {
        println!(
            "data_plane: skipped, {} not installed (scripts/setup-bench installs them)",
            missing.join(", ")
        );
        return;
    }
    let seconds = setting("DATA_PLANE_SECONDS", 4);
    let rounds = setting("DATA_PLANE_ROUNDS", 3) as usize;
    let connections = setting("DATA_PLANE_CONNECTIONS", 32) as u32;
    let only: Vec<String> = std::env::var("DATA_PLANE_ONLY")
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));

    let dir = peers::TempDir::new();
    let (_upstream, upstream) = peers::upstream(&dir.0);
    let proxies: Vec<Proxy> = [
        peers::haproxy as fn(&std::path::Path, std::net::SocketAddr) -> Proxy,
        peers::nginx_proxy,
        peers::windlass,
        peers::weighted,
        peers::hedged,
        peers::floor,
    ]
    .iter()
    .map(|start| start(&dir.0, upstream))
    .chain(peers::baseline(&dir.0, upstream))
    .filter(|p| wanted(p.name) || p.name == "haproxy")
    .collect();
    let scenarios: Vec<Scenario> = SCENARIOS.into_iter().filter(|s| wanted(s.name)).collect();

    println!(
        "data plane: wrk -t1 -c{connections}, {seconds} s a run, {rounds} round(s) interleaved, \
         upstream nginx (1 worker) serving {} bytes, {} cores, all on 127.0.0.1",
        peers::BODY_BYTES,
        peers::cores()
    );
    // results[scenario][proxy] holds one run per round.
    let mut results = vec![vec![Vec::<Run>::new(); proxies.len()]; scenarios.len()];
    let warm_up = Load {
        connections,
        duration: Duration::from_secs(1),
        close: false,
    };
    for proxy in &proxies {
        let _ = measure::run(&warm_up, proxy.http, &pids(proxy));
    }
    for round in 0..rounds {
        for (s, scenario) in scenarios.iter().enumerate() {
            let load = Load {
                connections,
                duration: Duration::from_secs(seconds),
                close: scenario.close,
            };
            // A different proxy goes first each round, so none always
            // follows the same neighbour.
            for i in 0..proxies.len() {
                let p = (i + round) % proxies.len();
                let proxy = &proxies[p];
                let addr = if scenario.tcp { proxy.tcp } else { proxy.http };
                let run = measure::run(&load, addr, &pids(proxy));
                eprintln!(
                    "round {} {:<20} {:<9} {:>8.0} req/s {:>6.2} us/req p99 {:>7.2?} errors {}",
                    round + 1,
                    scenario.name,
                    proxy.name,
                    run.requests_per_second,
                    run.cpu_per_request,
                    run.p99,
                    run.errors
                );
                results[s][p].push(run);
            }
        }
    }
    report(&scenarios, &proxies, &results);
}

fn pids(proxy: &Proxy) -> Vec<u32> {
    proxy.processes.iter().map(|p| p.pid()).collect()
}

/// The median, and the smallest and largest, of some figures.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    (median, values[0], values[values.len() - 1])
}

fn report(scenarios: &[Scenario], proxies: &[Proxy], results: &[Vec<Vec<Run>>]) {
    println!(
        "\n{:<20} {:<9} {:>24} {:>24} {:>24} {:>7}",
        "scenario", "proxy", "req/s median (min-max)", "CPU us/req", "p99 ms", "errors"
    );
    let haproxy = proxies.iter().position(|p| p.name == "haproxy");
    for (s, scenario) in scenarios.iter().enumerate() {
        for (p, proxy) in proxies.iter().enumerate() {
            let runs = &results[s][p];
            let rps = spread(runs.iter().map(|r| r.requests_per_second).collect());
            let cpu = spread(runs.iter().map(|r| r.cpu_per_request).collect());
            let p99 = spread(runs.iter().map(|r| r.p99.as_secs_f64() * 1e3).collect());
            let errors: u64 = runs.iter().map(|r| r.errors).sum();
            println!(
                "{:<20} {:<9} {:>8.0} ({:>6.0}-{:>6.0}) {:>8.2} ({:>6.2}-{:>6.2}) {:>8.2} ({:>6.2}-{:>6.2}) {errors:>7}",
                scenario.name, proxy.name, rps.0, rps.1, rps.2, cpu.0, cpu.1, cpu.2, p99.0, p99.1, p99.2
            );
        }
        let Some(h) = haproxy else { continue };
        for (p, proxy) in proxies.iter().enumerate() {
            if p == h {
                continue;
            }
            // Each round's figure against HAProxy's of the same round.
            let ratio = |f: fn(&Run) -> f64| {
                spread(
                    results[s][p]
                        .iter()
                        .zip(&results[s][h])
                        .map(|(mine, theirs)| f(mine) / f(theirs))
                        .collect(),
                )
            };
            let rps = ratio(|r| r.requests_per_second);
            let cpu = ratio(|r| r.cpu_per_request);
            let p99 = ratio(|r| r.p99.as_secs_f64());
            println!(
                "{:<20} {:<9} {:>8.2}x ({:.2}-{:.2})    {:>8.2}x ({:.2}-{:.2})    {:>8.2}x ({:.2}-{:.2})   of haproxy's",
                "", proxy.name, rps.0, rps.1, rps.2, cpu.0, cpu.1, cpu.2, p99.0, p99.1, p99.2
            );
        }
    }
}
