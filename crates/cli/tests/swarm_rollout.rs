//! A rollout on a real three-node Swarm (`support::swarm`), through the
//! real binary, under load through every node's published port on
//! 127.0.0.1 (one load generator per node, each reaching that node's entry
//! task):
//!
//! - a healthy v2 goes 10 %, 50 %, then all of the traffic; each share, as
//!   the load generators count the releases that answered (the entry's
//!   `x-windlass-release` header), is within 3 points of the step's weight
//!   while the entry's routes carry it;
//! - a v3 that answers 5 % of requests with a 500 is rolled back by the
//!   analysis of its first step from the entry tasks' own counters (read
//!   from their output through the manager): exit 6, the numbers in the
//!   message, v2 still live;
//! - `deploy --canary 20` is held at 20 % until `promote` (then 50 % and
//!   the switch), and a second one is ended by `abort` (its share back at
//!   once, exit 6);
//! - a v6 with no rollout that answers 20 % with a 500 is switched to and
//!   rolled back by the watch, which judges the entry's counters too
//!   (exit 6, `Deploy.ServerErrors`).
//!
//! No request fails throughout (an answer the entry made itself, or none).

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::swarm::Swarm;
use windlass_store::releases::{Releases, ServiceKey, SqliteReleases};
use windlass_swarm_entry::{Routes, ROUTES_LABEL};

const APP: &str = "wlswroll";
/// The entry takes a route's new weight within 200 ms of the label's
/// write; counting starts this long after a change was seen.
const SETTLE: Duration = Duration::from_millis(600);

fn compose(version: u32, error_ratio: Option<&str>) -> String {
    let rollout = "      rollout:\n        steps: [10, 50]\n        interval: 5s\n        analysis: {min_requests: 20}\n";
    service(version, error_ratio, rollout)
}

/// The app's file with `rollout` (lines under `x-windlass`, or none).
fn service(version: u32, error_ratio: Option<&str>, rollout: &str) -> String {
    let errors = error_ratio
        .map(|r| format!("      TESTAPP_ERROR_RATIO: \"{r}\"\n"))
        .unwrap_or_default();
    format!(
        "name: {APP}\nservices:\n  web:\n    image: registry:5000/wlswarm-testapp:1\n    ports: [{{target: 8080, published: 8000, app_protocol: http}}]\n    environment:\n      TESTAPP_VERSION: \"v{version}\"\n{errors}    healthcheck: {{test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}}\n    init: true\n    stop_grace_period: 2s\n    deploy: {{replicas: 2}}\n    x-windlass:\n      target: swarm\n      watch: 2s\n{rollout}"
    )
}

fn windlass(swarm: &Swarm, entry: &str, folder: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
    command
        .args(args)
        .current_dir(folder)
        .env("DOCKER_HOST", swarm.docker_host())
        .env("WINDLASS_SWARM_ENTRY_IMAGE", entry)
        .env("WINDLASS_STATE", folder.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What the entry's routes say of port 8000: the live release, and the
/// canary with its weight (0 when none).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Routed {
    live: String,
    canary: Option<(String, u8)>,
}

async fn routed(client: &bollard::Docker) -> Option<Routed> {
    let installation = SqliteReleases::open(&folder().join("state/windlass.db"))
        .ok()?
        .installation()
        .ok()?;
    let name = windlass_deploy::target::swarm::entry_name(&installation, APP);
    let service = client.inspect_service(&name, None).await.ok()?;
    let labels = service.spec?.labels?;
    let routes = Routes::parse(labels.get(ROUTES_LABEL).map(String::as_str));
    let route = routes.of(8000)?;
    Some(Routed {
        live: route.release.clone(),
        canary: route
            .canary
            .as_ref()
            .filter(|c| c.weight.percent() > 0)
            .map(|c| (c.release.clone(), c.weight.percent())),
    })
}

fn folder() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("wlswarm-rollout")
}

/// The load generators, one per node.
struct Loads(Vec<support::Load>);

impl Loads {
    /// Answers by release, all generators summed.
    fn by_release(&self) -> BTreeMap<String, u64> {
        let mut all = BTreeMap::new();
        for load in &self.0 {
            for (release, n) in load.seen().by_release {
                *all.entry(release).or_default() += n;
            }
        }
        all
    }
}

/// One look while a deploy ran: when, what the routes said, what the load
/// generators had counted.
struct Sample {
    at: Instant,
    routed: Option<Routed>,
    counts: BTreeMap<String, u64>,
}

/// Samples the routes and the load every 100 ms until `child` ends (or
/// `until` says stop); its output and the samples.
async fn follow(
    client: &bollard::Docker,
    loads: &Loads,
    child: &mut Child,
    mut until: impl FnMut(&Option<Routed>) -> bool,
) -> (Option<std::process::ExitStatus>, Vec<Sample>) {
    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let now = routed(client).await;
        let stop = until(&now);
        samples.push(Sample {
            at: Instant::now(),
            routed: now,
            counts: loads.by_release(),
        });
        if stop {
            return (None, samples);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (Some(status), samples);
        }
        assert!(Instant::now() < deadline, "the deploy took over 240 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each run of samples with the same routes, as (routes, share of
/// `release` in percent, answers counted) from `SETTLE` after the run
/// began to its last sample.
fn shares(samples: &[Sample], release: &str) -> Vec<(Routed, f64, u64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < samples.len() {
        let mut j = i;
        while j + 1 < samples.len() && samples[j + 1].routed == samples[i].routed {
            j += 1;
        }
        let began = samples[i].at;
        let first = samples[i..=j].iter().find(|s| s.at >= began + SETTLE);
        if let (Some(routed), Some(first)) = (&samples[i].routed, first) {
            let last = &samples[j];
            let total: u64 = last.counts.values().sum::<u64>() - first.counts.values().sum::<u64>();
            let of = |c: &BTreeMap<String, u64>| c.get(release).copied().unwrap_or(0);
            let mine = of(&last.counts) - of(&first.counts);
            if total > 0 {
                out.push((routed.clone(), mine as f64 * 100.0 / total as f64, total));
            }
        }
        i = j + 1;
    }
    out
}

fn live(folder: &Path) -> Option<String> {
    let releases = SqliteReleases::open(&folder.join("state/windlass.db")).expect("the store");
    let key = ServiceKey::new(APP, "web").expect("a key");
    releases.live(&key).expect("live").map(|l| l.release)
}

/// Answers the gate with `command` once the rollout waits at it (refused,
/// 7, until then).
async fn answer_gate(swarm: &Swarm, entry: &str, folder: &Path, command: &str) {
    let asked = Instant::now();
    loop {
        let output = windlass(swarm, entry, folder, &[command, "--app", APP])
            .output()
            .expect("run windlass");
        match output.status.code() {
            Some(0) => {
                eprintln!("swarm rollout: {command}: {}", said(&output).trim());
                return;
            }
            Some(7) => {
                assert!(
                    asked.elapsed() < Duration::from_secs(90),
                    "{}",
                    said(&output)
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            other => panic!("windlass {command} exited {other:?}: {}", said(&output)),
        }
    }
}

fn output_of(child: Child) -> Output {
    child.wait_with_output().expect("the deploy's output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_move_shares_and_the_analysis_rolls_back_on_the_swarm() {
    let swarm = tokio::task::block_in_place(Swarm::start);
    for (what, took) in &swarm.timings {
        eprintln!("swarm: {what} {:.1} s", took.as_secs_f64());
    }
    let (entry, _) = tokio::task::block_in_place(|| swarm.test_images());
    let entry = entry.as_str();
    let client =
        bollard::Docker::connect_with_http(swarm.docker_host(), 120, bollard::API_DEFAULT_VERSION)
            .expect("the manager");
    let folder = folder();
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("folder");
    let file = folder.join("compose.yaml");
    let run = |args: &[&str]| {
        tokio::task::block_in_place(|| {
            windlass(&swarm, entry, &folder, args)
                .output()
                .expect("run windlass")
        })
    };

    std::fs::write(&file, compose(1, None)).expect("compose");
    let v1 = run(&["deploy"]);
    assert!(v1.status.success(), "{}", said(&v1));
    let loads = Loads(
        swarm
            .nodes
            .iter()
            .map(|node| {
                support::Load::start(SocketAddr::from(([127, 0, 0, 1], node.app_ports[0])), 1)
            })
            .collect(),
    );

    // v2: 10 %, 50 %, then all of it.
    std::fs::write(&file, compose(2, None)).expect("compose");
    let mut v2 = windlass(&swarm, entry, &folder, &["deploy"])
        .spawn()
        .expect("deploy v2");
    let (_, samples) = follow(&client, &loads, &mut v2, |_| false).await;
    let v2 = output_of(v2);
    assert!(v2.status.success(), "{}", said(&v2));
    let measured = shares(&samples, "r2");
    for (routed, share, total) in &measured {
        eprintln!("swarm rollout: {routed:?}: r2 answered {share:.1} % of {total} requests");
    }
    for weight in [10u8, 50] {
        let (_, share, total) = measured
            .iter()
            .find(|(r, _, _)| r.canary == Some(("r2".into(), weight)))
            .unwrap_or_else(|| panic!("no step at {weight} % was seen"));
        assert!(*total >= 100, "too few requests at {weight} %: {total}");
        assert!(
            (share - f64::from(weight)).abs() <= 3.0,
            "r2 took {share:.1} % at a weight of {weight} %"
        );
    }
    let (_, share, _) = measured
        .iter()
        .find(|(r, _, _)| r.live == "r2" && r.canary.is_none())
        .expect("the switch was seen");
    assert!(
        (share - 100.0).abs() < f64::EPSILON,
        "r2 took {share:.1} % once live"
    );

    // v3 answers 5 % with a 500: the first step's analysis rolls it back.
    std::fs::write(&file, compose(3, Some("0.05"))).expect("compose");
    let began = Instant::now();
    let v3 = run(&["deploy"]);
    let text = said(&v3);
    eprintln!(
        "swarm rollout: v3 rolled back in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    if let Some(line) = text.lines().find(|l| l.contains("answered 5xx to")) {
        eprintln!("swarm rollout: v3's cause: {}", line.trim());
    }
    assert_eq!(v3.status.code(), Some(6), "{text}");
    assert!(
        text.contains("Deploy.AnalysisFailed") && text.contains("answered 5xx to"),
        "the analysis says why, with its numbers: {text}"
    );
    assert_eq!(live(&folder).as_deref(), Some("r2"));
    assert_eq!(routed(&client).await.and_then(|r| r.canary), None);

    // v4 held at 20 % until promote.
    std::fs::write(&file, compose(4, None)).expect("compose");
    let mut v4 = windlass(&swarm, entry, &folder, &["deploy", "--canary", "20"])
        .spawn()
        .expect("deploy v4");
    let (ended, _) = follow(&client, &loads, &mut v4, |r| {
        r.as_ref().and_then(|r| r.canary.clone()) == Some(("r4".into(), 20))
    })
    .await;
    assert_eq!(ended, None, "v4 ended before it was held at 20 %");
    answer_gate(&swarm, entry, &folder, "promote").await;
    let (_, samples) = follow(&client, &loads, &mut v4, |_| false).await;
    let v4 = output_of(v4);
    assert!(v4.status.success(), "{}", said(&v4));
    assert!(
        samples
            .iter()
            .any(|s| s.routed.as_ref().and_then(|r| r.canary.clone()) == Some(("r4".into(), 50))),
        "after promote, the rollout's own step of 50 %"
    );
    assert_eq!(live(&folder).as_deref(), Some("r4"));

    // v5 held at 20 %, then aborted: its share back at once, rolled back.
    std::fs::write(&file, compose(5, None)).expect("compose");
    let mut v5 = windlass(&swarm, entry, &folder, &["deploy", "--canary", "20"])
        .spawn()
        .expect("deploy v5");
    let (ended, _) = follow(&client, &loads, &mut v5, |r| {
        r.as_ref().and_then(|r| r.canary.clone()) == Some(("r5".into(), 20))
    })
    .await;
    assert_eq!(ended, None, "v5 ended before it was held at 20 %");
    let asked = Instant::now();
    answer_gate(&swarm, entry, &folder, "abort").await;
    eprintln!(
        "swarm rollout: abort answered in {:.2} s",
        asked.elapsed().as_secs_f64()
    );
    let after_abort = routed(&client).await.and_then(|r| r.canary);
    let v5 = tokio::task::block_in_place(|| output_of(v5));
    assert_eq!(
        after_abort,
        None,
        "abort takes the canary's share back at once: {}",
        said(&v5)
    );
    assert_eq!(v5.status.code(), Some(6), "{}", said(&v5));
    // Aborted in step 1 (its weigh or its bake), never let on to step 2.
    assert!(
        said(&v5).contains("Deploy.Aborted") && said(&v5).contains("aborted at step 1"),
        "{}",
        said(&v5)
    );
    assert_eq!(live(&folder).as_deref(), Some("r4"));

    // v6, with no rollout, answers 20 % with a 500: switched to at once,
    // the watch judges the entry's counters and rolls it back.
    std::fs::write(&file, service(6, Some("0.2"), "")).expect("compose");
    let v6 = run(&["deploy"]);
    let text = said(&v6);
    if let Some(line) = text.lines().find(|l| l.contains("Deploy.ServerErrors")) {
        eprintln!("swarm rollout: v6's cause: {}", line.trim());
    }
    assert_eq!(v6.status.code(), Some(6), "{text}");
    assert!(
        text.contains("Deploy.ServerErrors") && text.contains("through the Swarm's entry"),
        "the watch judged the entry's counters: {text}"
    );
    assert_eq!(live(&folder).as_deref(), Some("r4"));

    let mut failed = 0;
    let mut failures = Vec::new();
    let mut by_release = BTreeMap::new();
    for load in loads.0 {
        let seen = load.stop().await;
        failed += seen.failed;
        failures.extend(seen.failures.into_iter().take(5));
        for (release, n) in seen.by_release {
            *by_release.entry(release).or_insert(0u64) += n;
        }
    }
    eprintln!("swarm rollout: answers by release {by_release:?}");
    assert_eq!(failed, 0, "{failures:?}");
    assert!(
        by_release.get("r3").copied().unwrap_or(0) > 0,
        "v3 took its share before the rollback"
    );
    let _ = run(&["down", "--target", "swarm"]);
}
