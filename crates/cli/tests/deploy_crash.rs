//! `kill -9` of the windlass agent at seeded, reproducible points of app
//! deploys and app rollbacks, on the real binary and the real Docker engine,
//! with traffic on every service of the app.
//!
//! The app has two HTTP services, `web` depending on `api`. A seed (printed
//! first; `WINDLASS_CRASH_SEED` replays one, `WINDLASS_CRASH_ROUNDS` sets
//! how many rounds) drives a small RNG that picks, for each round, the
//! scenario (a good deploy, a deploy whose api turns bad after the switch so
//! that the watch rolls the whole app back, `windlass rollback` of the app,
//! `windlass rollback --to aN`) and the kill point: a state of such
//! executions, which of its entries (one per service for the states of a
//! Map iteration), and a few milliseconds after it; the points of a kind of
//! execution are dealt from a shuffled deck, so that all come before one
//! repeats. Each round asserts that
//! no request failed on any service through the kill and the restart, that
//! the execution ended with every service on the new app release or every
//! one on the old (the stored live pointers and the `x-windlass-release`
//! the proxies answer with agree), that the app release's outcome says so,
//! that the locks are free, that at most live + standby run per service,
//! and that a task the kill interrupted failed as interrupted and ran again.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::stop_proxy;

use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_store::releases::{AppRelease, Outcome, Releases, SqliteReleases};
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

const APP: &str = "wlkill";
const API: &str = "wlkillapi";
const WEB: &str = "wlkillweb";

/// The app's service `service`.
fn key(service: &str) -> windlass_store::releases::ServiceKey {
    windlass_store::releases::ServiceKey::new(APP, service).expect("a key")
}
const SERVICES: [&str; 2] = [API, WEB];
const DEFAULT_SEED: u64 = 0x5eed_0011;
const DEFAULT_ROUNDS: usize = 30;
/// Every service keeps this many releases' images, so that `--to` has
/// older app releases to go back to.
const RETAIN: usize = 6;

/// splitmix64: the same seed gives the same rounds on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    /// A new version of both services; it stays.
    Deploy,
    /// A new version whose api answers 5xx once it serves: the watch rolls
    /// the whole app back.
    BadDeploy,
    /// `windlass rollback`: the app back to its previous app release.
    Rollback,
    /// `windlass rollback --to aN`: the app back to an older app release.
    RollbackTo,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Deploy => "deploy",
            Scenario::BadDeploy => "bad-deploy",
            Scenario::Rollback => "rollback",
            Scenario::RollbackTo => "rollback-to",
        })
    }
}

/// Where the agent is killed: once the execution has entered `state` for
/// the `entry`-th time (states of a Map iteration are entered once per
/// service), and `after_ms` later.
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

/// The states an app deploy of two services in two waves enters, each with
/// how many times (the state names of `workflow::app`).
const DEPLOY_STATES: &[(&str, usize)] = &[
    ("Build", 1),
    ("BuildImage", 2),
    ("PushWanted", 2),
    ("Start", 1),
    ("StartWave", 2),
    ("StartReplicas", 2),
    ("WaitHealthy", 2),
    ("Healthy", 2),
    ("Switch", 1),
    ("Watch", 1),
    ("WatchRelease", 2),
];
const GOOD_END_STATES: &[(&str, usize)] = &[("Retire", 1), ("RetireRelease", 2)];
const BAD_END_STATES: &[(&str, usize)] =
    &[("Rollback", 1), ("RollBackRelease", 2), ("RolledBack", 1)];
/// The states an app rollback of two services enters when both releases it
/// goes back to still run (a warm standby: a flip).
const WARM_ROLLBACK_STATES: &[(&str, usize)] = &[
    ("SwitchWarm", 1),
    ("WarmStandby", 1),
    ("Retire", 1),
    ("RetireRelease", 2),
];
/// The states an app rollback of two services enters when they must be
/// started again.
const ROLLBACK_STATES: &[(&str, usize)] = &[
    ("SwitchWarm", 1),
    ("WarmStandby", 1),
    ("Start", 1),
    ("StartWave", 1),
    ("StartReplicas", 2),
    ("WaitHealthy", 2),
    ("Healthy", 2),
    ("Switch", 1),
    ("Retire", 1),
    ("RetireRelease", 2),
];
const DELAYS_MS: [u64; 4] = [0, 0, 10, 40];

fn states_of(scenario: Scenario, warm: bool) -> Vec<(&'static str, usize)> {
    match scenario {
        Scenario::Deploy => [DEPLOY_STATES, GOOD_END_STATES].concat(),
        Scenario::BadDeploy => [DEPLOY_STATES, BAD_END_STATES].concat(),
        Scenario::Rollback | Scenario::RollbackTo if warm => WARM_ROLLBACK_STATES.to_vec(),
        Scenario::Rollback | Scenario::RollbackTo => ROLLBACK_STATES.to_vec(),
    }
}

/// The (state, entry) pairs of each kind of execution, each kind's dealt
/// in a shuffled order before any comes again, so that the rounds cover
/// every point of a kind before they repeat one.
#[derive(Default)]
struct Decks(BTreeMap<DeckKind, Vec<(&'static str, usize)>>);

/// A kind of execution: its scenario, whether a rollback is warm, and how
/// many services it moves.
type DeckKind = (Scenario, bool, usize);

impl Decks {
    /// A point of `scenario`; `warm`: a rollback whose releases still run;
    /// `moving`: how many services a rollback moves (a per-service state is
    /// entered once per service moved).
    fn deal(&mut self, rng: &mut Rng, scenario: Scenario, warm: bool, moving: usize) -> Point {
        // Both rollbacks run the same definition.
        let kind = match scenario {
            Scenario::RollbackTo => Scenario::Rollback,
            other => other,
        };
        let deck = self.0.entry((kind, warm, moving)).or_default();
        if deck.is_empty() {
            *deck = states_of(kind, warm)
                .into_iter()
                .map(|(state, times)| (state, if times == 2 { moving } else { times }))
                .flat_map(|(state, times)| (1..=times).map(move |entry| (state, entry)))
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

fn service(name: &str, port: u16, version: &str, errors: bool, depends_on: Option<&str>) -> String {
    let depends = depends_on.map_or_else(String::new, |d| format!("    depends_on: [{d}]\n"));
    format!(
        "  {name}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n{depends}    environment:\n      TESTAPP_VERSION: \"{version}\"\n      TESTAPP_ERROR_RATIO: \"{}\"\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 1s\n      retain: {RETAIN}\n      rollback_on: {{server_error_ratio: 0.1, failed_health_checks: 3}}\n",
        if errors { "1" } else { "0" }
    )
}

/// The app: `web` depends on `api`; with `bad`, the api answers 5xx.
fn compose(ports: &Ports, version: &str, bad: bool) -> String {
    format!(
        "name: {APP}\nservices:\n{}{}",
        service(API, ports[API], version, bad, None),
        service(WEB, ports[WEB], version, false, Some(API))
    )
}

type Ports = BTreeMap<&'static str, u16>;

fn start_agent(state: &Path) -> Child {
    support::agent_process(Path::new(env!("CARGO_BIN_EXE_windlass")), state)
}

/// The test's agent and the `windlass proxy` it started: both stopped when
/// the test ends, also when an assertion fails.
struct Processes {
    agent: Child,
    state: PathBuf,
}

impl Processes {
    fn start(state: &Path) -> Processes {
        Processes {
            agent: start_agent(state),
            state: state.to_owned(),
        }
    }

    /// `kill -9` of the agent.
    fn kill_agent(&mut self) {
        self.agent.kill().expect("kill -9 the agent");
        let _ = self.agent.wait();
    }

    fn restart_agent(&mut self) {
        self.agent = start_agent(&self.state);
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
        stop_proxy(&self.state);
    }
}

/// `windlass ARGS --json --state STATE`, its output kept for a failure.
fn windlass(state: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .arg("--json")
        .arg("--state")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run windlass")
}

/// The newest app deploy or rollback execution: its arn and status.
fn newest(store: &SqliteStore) -> Option<(String, String)> {
    let filter = windlass_store::ExecutionFilter {
        limit: 1000,
        ..Default::default()
    };
    store
        .list(&filter)
        .ok()?
        .into_iter()
        .filter(|r| {
            r.state_machine_arn.ends_with(":windlass-app-deploy")
                || r.state_machine_arn.ends_with(":windlass-app-rollback")
        })
        .max_by_key(|r| r.start_millis)
        .map(|r| (r.arn, r.status))
}

fn status_of(store: &SqliteStore, arn: &str) -> String {
    store
        .execution(arn)
        .expect("read the execution")
        .expect("the execution")
        .status
}

/// What the history of `arn` says: states entered, in order, and how many
/// tasks are scheduled without having ended.
struct Progress {
    events: usize,
    entered: Vec<String>,
    in_flight: usize,
}

fn progress(store: &SqliteStore, arn: &str) -> Progress {
    let history = store.history(arn, 1, u64::MAX).unwrap_or_default();
    let count = |kind: &str| history.iter().filter(|e| e.kind == kind).count();
    let ended = count("TaskSucceeded") + count("TaskFailed") + count("TaskTimedOut");
    Progress {
        events: history.len(),
        entered: history
            .iter()
            .filter(|e| e.kind.ends_with("StateEntered"))
            .filter_map(|e| e.details.get("name").and_then(|n| n.as_str()))
            .map(str::to_owned)
            .collect(),
        in_flight: count("TaskScheduled").saturating_sub(ended),
    }
}

/// How many tasks of `arn`'s history failed as interrupted, and how many
/// of those ran again (a `TaskScheduled` whose previous event is the
/// failure: the retrier's).
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

/// Now in UTC, `HH:MM:SS.mmm`, as the agent's and proxy's logs
/// (`agent.log`, `proxy.log` in the state folder) date their lines.
fn clock() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_millis()
    )
}

/// One request through the proxy on `port`: the status and the release
/// header, `Err` when windlass failed it (no connection, no answer in 2 s,
/// or an answer without a release: the proxy's own).
async fn request(port: u16) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let text = tokio::time::timeout(Duration::from_secs(2), async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .write_all(b"GET /version HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut text = String::new();
        stream
            .read_to_string(&mut text)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok::<_, String>(text)
    })
    .await
    .map_err(|_| "no answer within 2 s".to_owned())??;
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not HTTP: {text:?}"))?;
    let release = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-windlass-release: ")
                .map(|r| r.trim().to_owned())
        })
        .ok_or_else(|| {
            // The proxy's own answer says which upstream of which release
            // failed and how: what a failure here needs to be understood.
            let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
            format!("the proxy answered {status} itself: {body}")
        })?;
    Ok((status, release))
}

#[derive(Debug, Default)]
struct Seen {
    sent: u64,
    failed: u64,
    app_errors: u64,
    failures: Vec<String>,
}

/// Requests to `port` one after another until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Seen>,
}

impl Traffic {
    fn start(port: u16) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut seen = Seen::default();
            while !stopped.load(Ordering::Relaxed) {
                seen.sent += 1;
                match request(port).await {
                    Ok((status, _)) if status >= 500 => seen.app_errors += 1,
                    Ok(_) => {}
                    Err(e) => {
                        seen.failed += 1;
                        if seen.failures.len() < 5 {
                            seen.failures.push(format!("{} {e}", clock()));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            seen
        });
        Traffic { stop, task }
    }

    async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("traffic")
    }
}

/// Each service's release in `app_release`.
fn members(app_release: &AppRelease) -> BTreeMap<String, String> {
    app_release
        .services
        .iter()
        .map(|m| (m.service.clone(), m.release.clone()))
        .collect()
}

/// Each service's stored live release.
fn live(releases: &SqliteReleases) -> BTreeMap<String, String> {
    SERVICES
        .iter()
        .filter_map(|s| {
            releases
                .live(&key(s))
                .expect("live")
                .map(|l| (s.to_string(), l.release))
        })
        .collect()
}

fn app_release(releases: &SqliteReleases, id: &str) -> AppRelease {
    releases
        .app_release(APP, id)
        .expect("read")
        .unwrap_or_else(|| panic!("app release {id}"))
}

/// The app release that serves now: the newest that went live whose
/// services' releases are the live ones.
fn current(releases: &SqliteReleases) -> AppRelease {
    let now = live(releases);
    releases
        .app_releases(APP)
        .expect("read")
        .into_iter()
        .find(|r| r.went_live() && members(r) == now)
        .unwrap_or_else(|| panic!("no app release that went live runs {now:?}"))
}

/// App releases that went live (a rollback may have left them since),
/// other than the current one, whose service releases all still have their
/// image: where `--to` may go.
fn rollback_targets(releases: &SqliteReleases) -> Vec<AppRelease> {
    let now = current(releases);
    releases
        .app_releases(APP)
        .expect("read")
        .into_iter()
        .filter(|r| r.went_live() && r.id != now.id)
        .filter(|r| {
            r.services.iter().all(|m| {
                releases
                    .get(&key(&m.service), &m.release)
                    .expect("read")
                    .is_some_and(|r| r.pruned_millis.is_none() && r.image.is_some())
            })
        })
        .collect()
}

/// Where `windlass rollback` without `--to` goes: the store's rule, the
/// agent's (the newest earlier app release that went live and is not what
/// runs), among the targets whose images are kept.
fn previous_live(releases: &SqliteReleases) -> Option<AppRelease> {
    let state = releases.app_state(APP).expect("the app's state");
    assert_eq!(
        state.live,
        Some(current(releases).id),
        "the store's serving app release"
    );
    let to = state.rollback_target?;
    rollback_targets(releases).into_iter().find(|r| r.id == to)
}

/// Waits until the execution's waiter has settled the app: locks free and
/// no app release still deploying.
fn settled(releases: &SqliteReleases, round: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let free = SERVICES
            .iter()
            .all(|s| releases.lock_of(&key(s)).expect("lock").is_none());
        let deploying: Vec<String> = releases
            .app_releases(APP)
            .expect("read")
            .into_iter()
            .filter(|r| r.outcome == Outcome::Deploying)
            .map(|r| r.id)
            .collect();
        if free && deploying.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "round {round}: 10 s after the execution ended, locks free: {free}, app releases still deploying: {deploying:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the `windlass proxy` the agent started (it outlives the agent):
/// the one of this run, or one an earlier failed run left.
/// Whether every service release of `release` has a running container: a
/// rollback to it is then a flip (the warm path).
async fn all_run(docker: &Docker, release: &AppRelease) -> bool {
    for member in &release.services {
        let labels = [
            (SERVICE_LABEL.to_owned(), member.service.clone()),
            (
                windlass_deploy::backend::RELEASE_LABEL.to_owned(),
                member.release.clone(),
            ),
        ]
        .into();
        let running = docker
            .list_containers(&labels)
            .await
            .map(|list| list.iter().any(|c| c.state == RunState::Running))
            .unwrap_or(false);
        if !running {
            return false;
        }
    }
    true
}

async fn cleanup(docker: &Docker) {
    // Every release image of the services, whichever the round.
    for service in SERVICES {
        support::cleanup(docker, service).await;
    }
    let _ = docker.remove_network(&format!("{APP}_default")).await;
}

struct Round {
    scenario: Scenario,
    point: Point,
    requests: u64,
    failed: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_seeded_points_of_app_deploys_and_rollbacks() {
    let seed = env_number("WINDLASS_CRASH_SEED").unwrap_or(DEFAULT_SEED);
    let rounds = env_number("WINDLASS_CRASH_ROUNDS").map_or(DEFAULT_ROUNDS, |n| n as usize);
    println!("seed {seed:#x}, {rounds} rounds (replay with WINDLASS_CRASH_SEED={seed:#x})");
    let began = Instant::now();
    let docker = Docker::connect().await.expect("Docker engine");
    let old_state = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("project-crash-app/state");
    stop_proxy(&old_state);
    cleanup(&docker).await;
    let dir = support::project("crash-app");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    let file = dir.join("compose.yaml");
    let file_arg = file.display().to_string();
    let ports: Ports = SERVICES
        .iter()
        .map(|s| (*s, support::free_port()))
        .collect();
    let mut processes = Processes::start(&state);

    // The first app release, with no kill.
    std::fs::write(&file, compose(&ports, "v1", false)).expect("compose");
    let first = windlass(&state, &["deploy", "-f", &file_arg])
        .wait_with_output()
        .expect("deploy v1");
    assert!(
        first.status.success(),
        "v1: {}",
        String::from_utf8_lossy(&first.stdout)
    );
    let db = state.join("windlass.db");
    let store = SqliteStore::open(&db, Durability::Normal).expect("store");
    let releases = SqliteReleases::open(&db).expect("releases");
    settled(&releases, 0);
    let mut seen_arns = vec![newest(&store).expect("v1's execution").0];

    let mut rng = Rng(seed);
    let mut decks = Decks::default();
    let mut report = Vec::new();
    for round in 1..=rounds {
        let started_round = Instant::now();
        let drawn = match rng.below(10) {
            0..=2 => Scenario::Deploy,
            3..=5 => Scenario::BadDeploy,
            6..=7 => Scenario::Rollback,
            _ => Scenario::RollbackTo,
        };
        let before = current(&releases);
        let targets = rollback_targets(&releases);
        let previous = previous_live(&releases);
        // A rollback needs an app release to go back to.
        let scenario = if (drawn == Scenario::Rollback && previous.is_none())
            || (drawn == Scenario::RollbackTo && targets.is_empty())
        {
            Scenario::Deploy
        } else {
            drawn
        };
        let to = match scenario {
            Scenario::RollbackTo => Some(targets[rng.below(targets.len())].clone()),
            Scenario::Rollback => previous.clone(),
            _ => None,
        };
        let warm = match &to {
            Some(to) => all_run(&docker, to).await,
            None => false,
        };
        let moving = match &to {
            Some(to) => to
                .services
                .iter()
                .filter(|m| {
                    releases
                        .live(&key(&m.service))
                        .ok()
                        .flatten()
                        .map(|l| l.release)
                        != Some(m.release.clone())
                })
                .count(),
            None => 2,
        };
        let point = decks.deal(&mut rng, scenario, warm, moving);
        let version = format!("v{}", round + 1);
        let (mut cli, target) = match scenario {
            Scenario::Deploy | Scenario::BadDeploy => {
                let bad = scenario == Scenario::BadDeploy;
                std::fs::write(&file, compose(&ports, &version, bad)).expect("compose");
                (windlass(&state, &["deploy", "-f", &file_arg]), None)
            }
            Scenario::Rollback => (
                windlass(&state, &["rollback", "-f", &file_arg]),
                previous.clone(),
            ),
            Scenario::RollbackTo => {
                let to = to.clone().expect("a target");
                (
                    windlass(&state, &["rollback", "-f", &file_arg, "--to", &to.id]),
                    Some(to),
                )
            }
        };
        let traffic: Vec<(&str, Traffic)> = SERVICES
            .iter()
            .map(|s| (*s, Traffic::start(ports[s])))
            .collect();

        // The new execution, then the point in it.
        let deadline = Instant::now() + Duration::from_secs(60);
        let arn = loop {
            if let Some((arn, _)) = newest(&store) {
                if !seen_arns.contains(&arn) {
                    break arn;
                }
            }
            if let Ok(Some(exit)) = cli.try_wait() {
                let output = cli.wait_with_output().expect("output");
                panic!(
                    "round {round} ({scenario}): windlass exited {exit} before starting an execution: {} {}",
                    String::from_utf8_lossy(&output.stdout),
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
            let now = progress(&store, &arn);
            let entries = now.entered.iter().filter(|s| *s == point.state).count();
            if entries >= point.entry {
                break;
            }
            assert!(
                status == "RUNNING",
                "round {round} ({scenario}): the execution ended {status} without entering {point}; it entered {:?}",
                now.entered
            );
            assert!(
                Instant::now() < deadline,
                "round {round} ({scenario}): never reached {point}; entered {:?}",
                now.entered
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        if point.after_ms > 0 {
            // Part of the kill point: a little into the state.
            std::thread::sleep(Duration::from_millis(point.after_ms));
        }
        let killed_at = clock();
        processes.kill_agent();
        let _ = cli.kill();
        let _ = cli.wait();
        let at_kill = progress(&store, &arn);
        let status_at_kill = status_of(&store, &arn);
        processes.restart_agent();

        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            let status = status_of(&store, &arn);
            if status != "RUNNING" {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "round {round} ({scenario}, {point}): the execution never ended after the restart"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        settled(&releases, round);
        let mut requests = 0;
        let mut failed = 0;
        let mut counts = Vec::new();
        for (service, traffic) in traffic {
            let seen = traffic.stop().await;
            assert_eq!(
                seen.failed, 0,
                "round {round} ({scenario}, {point}, killed at {killed_at} UTC): {} of {} requests to {service} failed through the kill and restart: {:?}",
                seen.failed, seen.sent, seen.failures
            );
            let bad_api = scenario == Scenario::BadDeploy && service == API;
            assert!(
                bad_api || seen.app_errors == 0,
                "round {round}: {service} answered 5xx {} times",
                seen.app_errors
            );
            requests += seen.sent;
            failed += seen.failed;
            counts.push(format!("{service} {}", seen.sent));
        }

        // Fully on the new app release or fully on the old one.
        let after = live(&releases);
        let (ended_on, expected_status) = match scenario {
            Scenario::Deploy | Scenario::BadDeploy => {
                let new = releases
                    .app_releases(APP)
                    .expect("read")
                    .into_iter()
                    .find(|r| r.execution.as_deref() == Some(arn.as_str()))
                    .expect("the deploy's app release");
                assert_ne!(new.id, before.id);
                let on_new = after == members(&new);
                let on_old = after == members(&before);
                assert!(
                    on_new || on_old,
                    "round {round} ({scenario}, {point}): live {after:?} is neither {} {:?} nor {} {:?}",
                    new.id,
                    members(&new),
                    before.id,
                    members(&before)
                );
                if scenario == Scenario::Deploy {
                    assert!(on_new, "round {round} ({point}): a good deploy ends on {}: live {after:?}, {status}", new.id);
                    assert_eq!(new.outcome, Outcome::Live, "round {round} ({point})");
                    (new.id, "SUCCEEDED")
                } else {
                    assert!(
                        on_old,
                        "round {round} ({point}): a bad deploy ends on {}: live {after:?}",
                        before.id
                    );
                    assert_eq!(
                        new.outcome,
                        Outcome::RolledBack,
                        "round {round} ({point}): {:?}",
                        new.detail
                    );
                    (before.id.clone(), "FAILED")
                }
            }
            Scenario::Rollback | Scenario::RollbackTo => {
                let target = target.expect("a rollback target");
                assert_eq!(
                    after,
                    members(&target),
                    "round {round} ({scenario}, {point}): the app is back on {}",
                    target.id
                );
                let left = app_release(&releases, &before.id);
                assert_eq!(
                    left.outcome,
                    Outcome::RolledBack,
                    "round {round} ({scenario}, {point}): {} is recorded as left",
                    before.id
                );
                assert_eq!(app_release(&releases, &target.id).outcome, Outcome::Live);
                (target.id, "SUCCEEDED")
            }
        };
        assert_eq!(
            status, expected_status,
            "round {round} ({scenario}, {point}): the execution's status"
        );
        assert_eq!(
            current(&releases).id,
            ended_on,
            "round {round} ({scenario}, {point}): the newest live app release is the one serving"
        );

        // The proxies serve exactly those releases.
        for service in SERVICES {
            for _ in 0..20 {
                let (_, release) = request(ports[service])
                    .await
                    .unwrap_or_else(|e| panic!("round {round}: {service} after the deploy: {e}"));
                assert_eq!(
                    release, after[service],
                    "round {round} ({scenario}, {point}): {service}'s proxy serves the stored live release"
                );
            }
            let labels = [(SERVICE_LABEL.to_owned(), service.to_owned())].into();
            let running = docker
                .list_containers(&labels)
                .await
                .expect("list")
                .into_iter()
                .filter(|c| c.state == RunState::Running)
                .count();
            assert!(
                running <= 2,
                "round {round} ({scenario}, {point}): {running} containers of {service} run, more than live + standby"
            );
        }
        let (interrupted, retried) = interruptions(&store, &arn);
        // A task of a Map iteration that another iteration's failure ended
        // stays in flight in the history without being interrupted; it
        // never comes alone (the failure schedules the rollback's tasks).
        assert!(
            interrupted <= at_kill.in_flight
                && (interrupted > 0 || at_kill.in_flight == 0 || status_at_kill != "RUNNING"),
            "round {round} ({scenario}, {point}): {interrupted} task(s) failed as interrupted, {} in flight at the kill",
            at_kill.in_flight
        );
        assert_eq!(
            retried, interrupted,
            "round {round} ({scenario}, {point}): every interrupted task ran again"
        );
        println!(
            "round {round:2} seed {seed:#x}: {:<11} killed at {point:<18} (event {:3}, {} task(s) in flight, {}): {} requests through the kill ({}), 0 failed; {status}, all on {ended_on} {:?}; {interrupted} interrupted task(s) retried; {:.1} s",
            if drawn == scenario {
                scenario.to_string()
            } else {
                format!("{scenario} (drawn {drawn}: nothing to go back to)")
            },
            at_kill.events,
            at_kill.in_flight,
            status_at_kill.to_lowercase(),
            requests,
            counts.join(", "),
            after.values().collect::<Vec<_>>(),
            started_round.elapsed().as_secs_f64()
        );
        report.push(Round {
            scenario,
            point,
            requests,
            failed,
        });
    }

    drop(processes);
    cleanup(&docker).await;

    let mut by_scenario: BTreeMap<Scenario, usize> = BTreeMap::new();
    for r in &report {
        *by_scenario.entry(r.scenario).or_default() += 1;
    }
    let states: std::collections::BTreeSet<&str> = report.iter().map(|r| r.point.state).collect();
    println!(
        "seed {seed:#x}: {} rounds ({}), kills in {} different states, {} requests, {} failed, {:.0} s",
        report.len(),
        by_scenario
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", "),
        states.len(),
        report.iter().map(|r| r.requests).sum::<u64>(),
        report.iter().map(|r| r.failed).sum::<u64>(),
        began.elapsed().as_secs_f64()
    );
    assert_eq!(report.len(), rounds);
}
