//! Faults on a real Swarm (`support::swarm`: three managers and a worker,
//! made once for this file and removed after its last test; the tests run
//! one at a time, they publish the same ports), with load on the app
//! through the managers' entry points:
//!
//! - a worker node killed (`docker kill` of its container) while its tasks
//!   serve: no request fails (the entries send an idempotent request that
//!   gets no answer to the next task), the replicas come back on the other
//!   nodes, and the next deploy works;
//! - `kill -9` of `windlass deploy --target swarm` and `windlass rollback
//!   --target swarm` at seeded points of their executions.
//!
//! For the kills, a seed (printed first; `WINDLASS_CRASH_SEED` replays one,
//! `WINDLASS_CRASH_ROUNDS` sets how many rounds, 20 by default) picks each
//! round's scenario (a good deploy, a deploy whose `web` crashes at start so
//! that the app is rolled back whole, `windlass rollback` of the app) and
//! its kill point: a state of the execution, which of its entries (one per
//! service in a Map), and a few milliseconds after it; a scenario's points
//! are dealt from a shuffled deck, so all come before one repeats. After the
//! kill the same command is run again: it resumes the interrupted execution
//! from the state folder's store, follows it to its end and does not run it
//! twice. Each round asserts that no request failed, that the execution
//! ended with every service on the new app release or every one on the old
//! (the stored live pointers, the app release's outcome and the release
//! every manager's entry answers with agree), that the locks are free, and
//! that a task the kill interrupted failed as interrupted and ran again.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::swarm::{Shared, Swarm};
use windlass_store::releases::{AppRelease, Outcome, Releases, ServiceKey, SqliteReleases};
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

const APP: &str = "wlswarm-faults";
const SERVICES: [&str; 2] = ["api", "web"];
const DEFAULT_SEED: u64 = 0x5eed_5a12;
const DEFAULT_ROUNDS: usize = 20;

/// splitmix64: the same seed gives the same rounds on every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    /// A new version of both services; it stays.
    Deploy,
    /// A new version whose `web` exits at start: the app is rolled back.
    BadDeploy,
    /// `windlass rollback --target swarm`: the app back to its previous
    /// app release.
    Rollback,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Deploy => "deploy",
            Scenario::BadDeploy => "bad-deploy",
            Scenario::Rollback => "rollback",
        })
    }
}

/// Where windlass is killed: once the execution has entered `state` for
/// the `entry`-th time, and `after_ms` later.
#[derive(Clone, Copy, Debug)]
struct Point {
    state: &'static str,
    entry: usize,
    after_ms: u64,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}+{}ms", self.state, self.entry, self.after_ms)
    }
}

/// The states (of `workflow::app`) each scenario enters, with how many
/// times: `api` starts in the first wave, `web` in the second.
fn states_of(scenario: Scenario) -> &'static [(&'static str, usize)] {
    match scenario {
        Scenario::Deploy => &[
            ("Build", 1),
            ("ResolveImage", 2),
            ("Start", 1),
            ("StartWave", 2),
            ("StartReplicas", 2),
            ("WaitHealthy", 2),
            ("Healthy", 2),
            ("Switch", 1),
            ("Watch", 1),
            ("WatchRelease", 2),
            ("Retire", 1),
            ("RetireRelease", 2),
        ],
        Scenario::BadDeploy => &[
            ("Build", 1),
            ("ResolveImage", 2),
            ("StartWave", 2),
            ("StartReplicas", 2),
            ("WaitHealthy", 2),
            ("Rollback", 1),
            ("RollBackRelease", 2),
            ("RolledBack", 1),
        ],
        // Entered by a warm rollback (a flip) and a cold one alike.
        Scenario::Rollback => &[
            ("SwitchWarm", 1),
            ("WarmStandby", 1),
            ("Retire", 1),
            ("RetireRelease", 2),
        ],
    }
}

const DELAYS_MS: [u64; 4] = [0, 0, 10, 40];

/// Each scenario's (state, entry) points, dealt in a shuffled order.
#[derive(Default)]
struct Decks(BTreeMap<Scenario, Vec<(&'static str, usize)>>);

impl Decks {
    fn deal(&mut self, rng: &mut Rng, scenario: Scenario) -> Point {
        let deck = self.0.entry(scenario).or_default();
        if deck.is_empty() {
            *deck = states_of(scenario)
                .iter()
                .flat_map(|(state, times)| (1..=*times).map(move |entry| (*state, entry)))
                .collect();
            for i in (1..deck.len()).rev() {
                deck.swap(i, rng.below(i + 1));
            }
        }
        let (state, entry) = deck.pop().expect("a full deck");
        Point {
            state,
            entry,
            after_ms: DELAYS_MS[rng.below(DELAYS_MS.len())],
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text:?}: expected a number")))
}

/// The app: `web` (port 8000) depends on `api` (port 8001) being healthy;
/// with `bad`, `web` exits at start.
fn compose(version: usize, bad: bool) -> String {
    let health = "    healthcheck: {test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}\n    init: true\n    stop_grace_period: 2s\n";
    let crash = if bad {
        "      TESTAPP_CRASH_AT_START: \"3\"\n"
    } else {
        ""
    };
    format!(
        "name: {APP}\nservices:\n  api:\n    image: registry:5000/wlswarm-testapp:1\n    ports: [{{target: 8080, published: 8001, app_protocol: http}}]\n    environment:\n      TESTAPP_VERSION: \"api-{version}\"\n{health}    x-windlass: {{target: swarm, watch: 1s}}\n  web:\n    image: registry:5000/wlswarm-testapp:1\n    ports: [{{target: 8080, published: 8000, app_protocol: http}}]\n    environment:\n      TESTAPP_VERSION: \"web-{version}\"\n{crash}{health}    depends_on: {{api: {{condition: service_healthy}}}}\n    x-windlass: {{target: swarm, watch: 1s}}\n"
    )
}

/// The windlass binary against the test Swarm, in the app's folder.
fn windlass(swarm: &Swarm, entry: &str, folder: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(folder)
        .env("DOCKER_HOST", swarm.docker_host())
        .env("WINDLASS_SWARM_ENTRY_IMAGE", entry)
        .env("WINDLASS_STATE", folder.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run windlass")
}

/// Runs windlass to its end: its exit code and stderr.
fn run(swarm: &Swarm, entry: &str, folder: &Path, args: &[&str]) -> (i32, String) {
    let output = windlass(swarm, entry, folder, args)
        .wait_with_output()
        .expect("windlass");
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), err)
}

fn key(service: &str) -> ServiceKey {
    ServiceKey::new(APP, service).expect("a key")
}

/// The newest Swarm app execution: its arn.
fn newest(store: &SqliteStore) -> Option<String> {
    let filter = windlass_store::ExecutionFilter {
        limit: 1000,
        ..Default::default()
    };
    store
        .list(&filter)
        .ok()?
        .into_iter()
        .filter(|r| {
            r.state_machine_arn.ends_with(":windlass-swarm-app-deploy")
                || r.state_machine_arn
                    .ends_with(":windlass-swarm-app-rollback")
        })
        .max_by_key(|r| r.start_millis)
        .map(|r| r.arn)
}

fn status_of(store: &SqliteStore, arn: &str) -> String {
    store
        .execution(arn)
        .expect("read the execution")
        .expect("the execution")
        .status
}

/// The states `arn` entered, in order, and how many of its tasks were in
/// flight (scheduled, not ended).
fn progress(store: &SqliteStore, arn: &str) -> (Vec<String>, usize) {
    let history = store.history(arn, 1, u64::MAX).unwrap_or_default();
    let count = |kind: &str| history.iter().filter(|e| e.kind == kind).count();
    let ended = count("TaskSucceeded") + count("TaskFailed") + count("TaskTimedOut");
    let entered = history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| e.details.get("name").and_then(|n| n.as_str()))
        .map(str::to_owned)
        .collect();
    (entered, count("TaskScheduled").saturating_sub(ended))
}

/// How many tasks of `arn` failed as interrupted, and how many of those
/// ran again (a `TaskScheduled` right after the failure: the retrier's).
fn interruptions(store: &SqliteStore, arn: &str) -> (usize, usize) {
    let history = store.history(arn, 1, u64::MAX).expect("history");
    let interrupted: Vec<u64> = history
        .iter()
        .filter(|e| e.kind == "TaskFailed" && e.details.to_string().contains("interrupted"))
        .map(|e| e.id)
        .collect();
    let retried = interrupted
        .iter()
        .filter(|id| {
            history
                .iter()
                .any(|e| e.kind == "TaskScheduled" && e.previous_event_id == **id)
        })
        .count();
    (interrupted.len(), retried)
}

fn members(release: &AppRelease) -> BTreeMap<String, String> {
    release
        .services
        .iter()
        .map(|m| (m.service.clone(), m.release.clone()))
        .collect()
}

fn live(releases: &SqliteReleases) -> BTreeMap<String, String> {
    SERVICES
        .iter()
        .filter_map(|s| {
            let live = releases.live(&key(s)).expect("live")?;
            Some((s.to_string(), live.release))
        })
        .collect()
}

/// The app release that serves, by the store's rule.
fn current(releases: &SqliteReleases) -> AppRelease {
    let state = releases.app_state(APP).expect("the app's state");
    let id = state.live.expect("an app release serves");
    releases
        .app_release(APP, &id)
        .expect("read")
        .expect("the app release")
}

fn locks_held(releases: &SqliteReleases) -> Vec<String> {
    SERVICES
        .iter()
        .filter_map(|s| releases.lock_of(&key(s)).expect("lock"))
        .map(|l| format!("{} by {} (pid {})", l.service, l.holder, l.pid))
        .collect()
}

fn on(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The release header each manager's entry answers with, per service.
async fn served(swarm: &Swarm) -> Vec<(String, Option<String>)> {
    let client: support::LoadClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut seen = Vec::new();
    for node in swarm.managers() {
        for (service, port) in [("web", node.app_ports[0]), ("api", node.app_ports[1])] {
            let uri: hyper::Uri = format!("http://{}/version", on(port)).parse().expect("uri");
            let release = support::answer(&client, &uri)
                .await
                .ok()
                .and_then(|a| a.release);
            seen.push((service.to_owned(), release));
        }
    }
    seen
}

/// The Swarm the file's 2 tests share.
static SWARM: Shared = Shared::new(2, 1);

struct Round {
    scenario: Scenario,
    point: Point,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_seeded_points_of_swarm_deploys_and_rollbacks() {
    let seed = env_number("WINDLASS_CRASH_SEED").unwrap_or(DEFAULT_SEED);
    let rounds = env_number("WINDLASS_CRASH_ROUNDS").map_or(DEFAULT_ROUNDS, |n| n as usize);
    println!("seed {seed:#x}, {rounds} rounds (replay with WINDLASS_CRASH_SEED={seed:#x})");
    let turn = SWARM.turn().await;
    let began = Instant::now();
    let (swarm, entry) = (turn.swarm, turn.entry);
    let folder: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wlswarm-faults");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("folder");
    let file = folder.join("compose.yaml");
    let blocking = |args: &[&str]| tokio::task::block_in_place(|| run(swarm, entry, &folder, args));

    std::fs::write(&file, compose(1, false)).expect("compose");
    let (code, err) = blocking(&["deploy"]);
    assert_eq!(code, 0, "v1: {err}");
    let db = folder.join("state/windlass.db");
    let store = SqliteStore::open(&db, Durability::Normal).expect("store");
    let releases = SqliteReleases::open(&db).expect("releases");
    let mut seen_arns = vec![newest(&store).expect("v1's execution")];

    // Load through node 1 on web's port and node 2 on api's, all rounds long.
    let web_load = support::Load::start(on(swarm.nodes[0].app_ports[0]), 2);
    let api_load = support::Load::start(on(swarm.nodes[1].app_ports[1]), 2);

    let mut rng = Rng(seed);
    let mut decks = Decks::default();
    let mut report = Vec::new();
    for round in 1..=rounds {
        let started_round = Instant::now();
        let drawn = match rng.below(10) {
            0..=3 => Scenario::Deploy,
            4..=6 => Scenario::BadDeploy,
            _ => Scenario::Rollback,
        };
        let before = current(&releases);
        let back_to = releases
            .app_state(APP)
            .expect("state")
            .rollback_target
            .map(|id| {
                releases
                    .app_release(APP, &id)
                    .expect("read")
                    .expect("target")
            });
        let scenario = match (drawn, &back_to) {
            (Scenario::Rollback, None) => Scenario::Deploy,
            _ => drawn,
        };
        let point = decks.deal(&mut rng, scenario);
        let args: &[&str] = match scenario {
            Scenario::Deploy | Scenario::BadDeploy => {
                let bad = scenario == Scenario::BadDeploy;
                std::fs::write(&file, compose(round + 1, bad)).expect("compose");
                &["deploy"]
            }
            Scenario::Rollback => &["rollback", "--target", "swarm"],
        };
        let mut cli = windlass(swarm, entry, &folder, args);

        // The new execution, then the point in it.
        let deadline = Instant::now() + Duration::from_secs(120);
        let arn = loop {
            if let Some(arn) = newest(&store).filter(|a| !seen_arns.contains(a)) {
                break arn;
            }
            if let Ok(Some(exit)) = cli.try_wait() {
                let output = cli.wait_with_output().expect("output");
                panic!(
                    "round {round} ({scenario}): windlass exited {exit} before starting an execution: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            assert!(Instant::now() < deadline, "round {round}: no execution");
            std::thread::sleep(Duration::from_millis(2));
        };
        seen_arns.push(arn.clone());
        loop {
            // The status first: a history read after it is never older.
            let status = status_of(&store, &arn);
            let (entered, _) = progress(&store, &arn);
            if entered.iter().filter(|s| *s == point.state).count() >= point.entry {
                break;
            }
            assert!(
                status == "RUNNING",
                "round {round} ({scenario}): the execution ended {status} without entering {point}; it entered {entered:?}"
            );
            assert!(
                Instant::now() < deadline,
                "round {round} ({scenario}): never reached {point}; entered {entered:?}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(point.after_ms));
        cli.kill().expect("kill -9 windlass");
        let _ = cli.wait();
        let (_, in_flight) = progress(&store, &arn);
        let status_at_kill = status_of(&store, &arn);
        let held_at_kill = locks_held(&releases);

        // The same command again carries the interrupted one on, unless
        // the killed process had recorded its end already.
        let (code, err) = if held_at_kill.is_empty() {
            (-1, String::from("(nothing left to resume)"))
        } else {
            blocking(args)
        };
        let status = status_of(&store, &arn);
        assert!(
            held_at_kill.is_empty() || err.contains(&arn),
            "round {round} ({scenario}, {point}): the next command names the execution it carries on: {err}"
        );
        assert!(
            locks_held(&releases).is_empty(),
            "round {round} ({scenario}, {point}): locks still held: {:?}",
            locks_held(&releases)
        );

        // Fully on the new app release or fully on the old one.
        let after = live(&releases);
        let ended_on = match scenario {
            Scenario::Deploy | Scenario::BadDeploy => {
                let new = releases
                    .app_releases(APP)
                    .expect("read")
                    .into_iter()
                    .find(|r| r.execution.as_deref() == Some(arn.as_str()))
                    .expect("the deploy's app release");
                if scenario == Scenario::Deploy {
                    assert_eq!(
                        after,
                        members(&new),
                        "round {round} ({point}): a good deploy ends on {}",
                        new.id
                    );
                    assert_eq!(new.outcome, Outcome::Live, "round {round} ({point})");
                    assert_eq!(status, "SUCCEEDED", "round {round} ({point})");
                    assert!(
                        code == 0 || code == -1,
                        "round {round} ({point}): exit {code}: {err}"
                    );
                } else {
                    assert_eq!(
                        after,
                        members(&before),
                        "round {round} ({point}): a bad deploy ends on {}",
                        before.id
                    );
                    assert_eq!(
                        new.outcome,
                        Outcome::RolledBack,
                        "round {round} ({point}): {:?}",
                        new.detail
                    );
                    assert_eq!(status, "FAILED", "round {round} ({point})");
                    assert!(
                        code == 6 || code == -1,
                        "round {round} ({point}): exit {code}: {err}"
                    );
                }
                current(&releases)
            }
            Scenario::Rollback => {
                let target = back_to.expect("a rollback target");
                assert_eq!(
                    after,
                    members(&target),
                    "round {round} ({point}): the app is back on {}",
                    target.id
                );
                assert_eq!(
                    releases
                        .app_release(APP, &before.id)
                        .expect("read")
                        .expect("left")
                        .outcome,
                    Outcome::RolledBack,
                    "round {round} ({point}): {} is recorded as left",
                    before.id
                );
                assert_eq!(status, "SUCCEEDED", "round {round} ({point})");
                assert!(
                    code == 0 || code == -1,
                    "round {round} ({point}): exit {code}: {err}"
                );
                target
            }
        };
        assert_eq!(
            current(&releases).id,
            ended_on.id,
            "round {round} ({scenario}, {point}): the app release serving"
        );
        // Every manager's entry serves exactly the stored live releases
        // (the entries read their routes every 200 ms).
        let wanted: Vec<(String, Option<String>)> = swarm
            .managers()
            .flat_map(|_| ["web", "api"])
            .map(|s| (s.to_owned(), after.get(s).cloned()))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = served(swarm).await;
        while seen != wanted && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            seen = served(swarm).await;
        }
        assert_eq!(
            seen, wanted,
            "round {round} ({scenario}, {point}): what the entries serve"
        );
        let (interrupted, retried) = interruptions(&store, &arn);
        assert!(
            interrupted <= in_flight,
            "round {round} ({scenario}, {point}): {interrupted} task(s) failed as interrupted, {in_flight} in flight at the kill"
        );
        assert_eq!(
            retried, interrupted,
            "round {round} ({scenario}, {point}): every interrupted task ran again"
        );
        let (web, api) = (web_load.seen(), api_load.seen());
        assert_eq!(
            (web.failed, api.failed),
            (0, 0),
            "round {round} ({scenario}, {point}): failed requests: {:?} {:?}",
            web.failures.iter().take(5).collect::<Vec<_>>(),
            api.failures.iter().take(5).collect::<Vec<_>>()
        );
        println!(
            "round {round:2}: {:<10} killed at {point:<20} ({}, {in_flight} task(s) in flight); {status}, on {} {after:?}; {interrupted} interrupted task(s) retried; requests so far {}, 0 failed; {:.1} s",
            if drawn == scenario {
                scenario.to_string()
            } else {
                format!("{scenario}*")
            },
            status_at_kill.to_lowercase(),
            ended_on.id,
            web.requests + api.requests,
            started_round.elapsed().as_secs_f64()
        );
        report.push(Round { scenario, point });
    }

    let web = web_load.stop().await;
    let api = api_load.stop().await;
    assert_eq!(web.failed + api.failed, 0);
    assert_eq!(web.app_errors + api.app_errors, 0);
    let (code, err) = blocking(&["down", "--target", "swarm"]);
    assert_eq!(code, 0, "{err}");

    let mut by_scenario: BTreeMap<Scenario, usize> = BTreeMap::new();
    for r in &report {
        *by_scenario.entry(r.scenario).or_default() += 1;
    }
    let points: std::collections::BTreeSet<String> = report
        .iter()
        .map(|r| format!("{}#{}", r.point.state, r.point.entry))
        .collect();
    println!(
        "seed {seed:#x}: {} rounds ({}), kills at {} different points, {} requests through the managers, 0 failed, {:.0} s",
        report.len(),
        by_scenario
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", "),
        points.len(),
        web.requests + api.requests,
        began.elapsed().as_secs_f64()
    );
}

/// The node-kill test's app: `web` with four replicas, on port 8000.
fn spread(version: usize) -> String {
    format!(
        "name: wlswarm-nodes\nservices:\n  web:\n    image: registry:5000/wlswarm-testapp:1\n    ports: [{{target: 8080, published: 8000, app_protocol: http}}]\n    environment:\n      TESTAPP_VERSION: \"nodes-{version}\"\n    healthcheck: {{test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}}\n    init: true\n    stop_grace_period: 2s\n    deploy: {{replicas: 4}}\n    x-windlass: {{target: swarm, watch: 1s}}\n"
    )
}

/// The nodes (host names) of the running tasks of the Swarm service whose
/// name starts with `prefix`.
fn task_nodes(swarm: &Swarm, prefix: &str) -> Vec<String> {
    let names = swarm.on(0, &["service", "ls", "--format", "{{.Name}}"]);
    let mut nodes = Vec::new();
    for name in names.lines().filter(|n| n.starts_with(prefix)) {
        let tasks = swarm.on(
            0,
            &[
                "service",
                "ps",
                name,
                "--filter",
                "desired-state=running",
                "--format",
                "{{.Node}} {{.CurrentState}}",
            ],
        );
        nodes.extend(
            tasks
                .lines()
                .filter(|l| l.contains("Running"))
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned)),
        );
    }
    nodes.sort();
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_under_load_fails_no_request_and_its_replicas_move() {
    let turn = SWARM.turn().await;
    let began = Instant::now();
    let (swarm, entry) = (turn.swarm, turn.entry);
    let folder: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wlswarm-nodes");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("folder");
    let file = folder.join("compose.yaml");
    let blocking = |args: &[&str]| tokio::task::block_in_place(|| run(swarm, entry, &folder, args));
    let worker = swarm
        .nodes
        .iter()
        .position(|n| !n.manager)
        .expect("a worker");
    let worker_name = format!("node{}", worker + 1);

    std::fs::write(&file, spread(1)).expect("compose");
    let (code, err) = blocking(&["deploy"]);
    assert_eq!(code, 0, "v1: {err}");
    let service = "wlswarm-nodes_web_r1_";
    let before = tokio::task::block_in_place(|| task_nodes(swarm, service));
    println!("swarm: web's 4 tasks run on {before:?}");
    assert!(
        before.contains(&worker_name),
        "a task runs on the worker {worker_name}: {before:?}"
    );

    // Load through every manager while the worker dies.
    let loads: Vec<support::Load> = swarm
        .managers()
        .map(|m| support::Load::start(on(m.app_ports[0]), 2))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = Instant::now();
    support::swarm::docker(&["kill", &swarm.nodes[worker].container]);
    let deadline = Instant::now() + Duration::from_secs(240);
    let moved = loop {
        let now = tokio::task::block_in_place(|| task_nodes(swarm, service));
        if now.len() == 4 && !now.contains(&worker_name) {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas did not come back on the other nodes: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let recovered = killed.elapsed();
    println!(
        "swarm: worker killed; 4 tasks run again, on {moved:?}, {:.1} s later",
        recovered.as_secs_f64()
    );

    std::fs::write(&file, spread(2)).expect("compose");
    let deployed = Instant::now();
    let (code, err) = blocking(&["deploy"]);
    assert_eq!(code, 0, "v2 with the worker dead: {err}");
    println!(
        "swarm: v2 deployed with the worker dead in {:.1} s",
        deployed.elapsed().as_secs_f64()
    );
    let mut requests = 0;
    for load in loads {
        let seen = load.stop().await;
        assert_eq!(
            seen.failed,
            0,
            "{} of {} requests failed: {:?}",
            seen.failed,
            seen.requests,
            seen.failures.iter().take(5).collect::<Vec<_>>()
        );
        assert_eq!(seen.app_errors, 0);
        assert!(
            seen.by_release.contains_key("r2"),
            "v2 answered: {:?}",
            seen.by_release
        );
        requests += seen.requests;
    }
    let (code, err) = blocking(&["down", "--target", "swarm"]);
    assert_eq!(code, 0, "{err}");
    println!(
        "swarm: {requests} requests through the managers while the worker died, 0 failed; test {:.0} s",
        began.elapsed().as_secs_f64()
    );
}
