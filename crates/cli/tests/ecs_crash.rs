//! `kill -9` of `windlass deploy --target ecs` and `windlass rollback
//! --target ecs` at seeded points of their executions, the real binary
//! against fakecloud (whose ECS runs each task as a Docker container): the
//! next command on the service resumes the interrupted execution from the
//! state folder's store, follows it to its end, records it, and frees the
//! deploy lock.
//!
//! Three kills, each at a point a seed picks (printed first;
//! `WINDLASS_CRASH_SEED` replays one): during the rollout of a good v2 (the
//! same deploy again resumes it and does not deploy it twice: v2 answers),
//! during the rollback of a v3 whose container exits (the deploy again
//! reports the rolled-back code: v2 answers), and during `windlass rollback
//! --target ecs web r1` (the same rollback again finishes it: v1 answers).
//! After each, the releases and the live pointer are checked through
//! `windlass releases --json`, and the lock is free.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

mod ecs_support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ecs_support::{row, run, text, windlass, write_compose};
use serde_json::Value as Json;
use support::ecs::{version_of, KEY};
use windlass_store::releases::{Releases, SqliteReleases};
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;
const DEFAULT_SEED: u64 = 0x5eed_0ec5;

/// splitmix64: the same seed picks the same points on every machine.
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

/// Where windlass is killed: once the execution has entered `state` for
/// the `entry`th time after it entered `after` (from the start when none),
/// and `millis` later.
#[derive(Clone, Copy, Debug)]
struct Point {
    state: &'static str,
    after: Option<&'static str>,
    entry: usize,
    millis: u64,
}

const fn at(state: &'static str, after: Option<&'static str>, entry: usize, millis: u64) -> Point {
    Point {
        state,
        after,
        entry,
        millis,
    }
}

/// Points of a good deploy's rollout and watch.
const ROLLOUT: &[Point] = &[
    at("Register", None, 1, 0),
    at("UpdateService", None, 1, 0),
    at("UpdateService", None, 1, 15),
    at("Wait", None, 1, 0),
    at("Wait", None, 3, 300),
    at("DescribeService", None, 2, 0),
    at("DescribeRunning", None, 1, 0),
    at("Wait", Some("StartWatch"), 1, 200),
];

/// Points of the rollback after a failed rollout.
const ROLLBACK: &[Point] = &[
    at("RestorePrevious", None, 1, 0),
    at("RestorePrevious", None, 1, 10),
    at("RestorePhase", None, 1, 0),
    at("Wait", Some("RestorePhase"), 1, 300),
    at("ListRunning", Some("RestorePhase"), 1, 0),
];

/// Points of `windlass rollback` (a given revision's rollout).
const GIVEN: &[Point] = &[
    at("GivenRevision", None, 1, 0),
    at("UpdateService", None, 1, 0),
    at("Wait", None, 2, 100),
    at("DescribeStopped", None, 1, 0),
];

fn entered(store: &SqliteStore, arn: &str) -> Vec<String> {
    store
        .history(arn, 1, u64::MAX)
        .unwrap_or_default()
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| e.details.get("name").and_then(Json::as_str))
        .map(str::to_owned)
        .collect()
}

fn reached(entered: &[String], point: &Point) -> bool {
    let from = match point.after {
        None => 0,
        Some(after) => match entered.iter().position(|s| s == after) {
            Some(i) => i,
            None => return false,
        },
    };
    entered[from..].iter().filter(|s| *s == point.state).count() >= point.entry
}

/// Starts `args`, kills it with SIGKILL at `point` of the ECS execution it
/// starts, and returns that execution's ARN and the states it had entered.
fn kill_at(dir: &Path, endpoint: &str, args: &[&str], point: &Point) -> (String, Vec<String>) {
    let mut child: Child = windlass(dir, endpoint, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("windlass starts");
    let db = dir.join("state/windlass.db");
    let deadline = Instant::now() + Duration::from_secs(240);
    let store = loop {
        if db.exists() {
            if let Ok(store) = SqliteStore::open(&db, Durability::Normal) {
                break store;
            }
        }
        assert!(Instant::now() < deadline, "no state folder database");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "windlass ended before its execution started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let arn = loop {
        let running = store.running().expect("running executions");
        if let Some(record) = running
            .iter()
            .find(|r| r.state_machine_arn.ends_with(":windlass-ecs-web"))
        {
            break record.arn.clone();
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .map(|mut e| e.read_to_string(&mut stderr));
            panic!("windlass ended ({status}) before its execution started: {stderr}");
        }
        assert!(Instant::now() < deadline, "no ECS execution started");
        std::thread::sleep(Duration::from_millis(5));
    };
    loop {
        let status = store
            .execution(&arn)
            .expect("read")
            .map(|r| r.status)
            .unwrap_or_default();
        let states = entered(&store, &arn);
        if reached(&states, point) {
            break;
        }
        assert_eq!(
            status, "RUNNING",
            "the execution ended before {point:?}; it entered {states:?}"
        );
        assert!(
            Instant::now() < deadline,
            "never reached {point:?}: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(point.millis));
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let states = entered(&store, &arn);
    let status = store
        .execution(&arn)
        .expect("read")
        .expect("the execution")
        .status;
    assert_eq!(status, "RUNNING", "the kill at {point:?} came too late");
    (arn, states)
}

fn releases_json(dir: &Path, endpoint: &str) -> Json {
    ecs_support::releases_json(dir, endpoint, KEY)
}

/// The interrupted execution ended, the lock is free, and an in-flight
/// call the kill interrupted was failed as interrupted and made again.
fn settled(dir: &Path, arn: &str) -> usize {
    let db = dir.join("state/windlass.db");
    let store = SqliteStore::open(&db, Durability::Normal).expect("store");
    let record = store.execution(arn).expect("read").expect("the execution");
    assert_ne!(record.status, "RUNNING", "{arn} still runs");
    let releases = SqliteReleases::open(&db).expect("releases");
    assert_eq!(
        releases
            .lock_of(&KEY.parse().expect("a key"))
            .expect("lock"),
        None,
        "the lock is free"
    );
    store
        .history(arn, 1, u64::MAX)
        .expect("history")
        .iter()
        .filter(|e| {
            e.kind == "TaskFailed"
                && e.details
                    .get("cause")
                    .and_then(Json::as_str)
                    .is_some_and(|c| c.contains("interrupted"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_ecs_deploy_or_rollback_is_resumed_by_the_next_command() {
    let seed = std::env::var("WINDLASS_CRASH_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("seed {seed:#x} (WINDLASS_CRASH_SEED replays it)");
    let mut rng = Rng(seed);
    let rollout = ROLLOUT[rng.below(ROLLOUT.len())];
    let rollback = ROLLBACK[rng.below(ROLLBACK.len())];
    let given = GIVEN[rng.below(GIVEN.len())];

    let (cloud, dir) = ecs_support::start("ecs-crash").await;
    let endpoint = cloud.endpoint();
    let client = &cloud.client;

    write_compose(&dir, "v1", false);
    let v1 = run(&dir, &endpoint, &["deploy", "--target", "ecs"]);
    assert_eq!(v1.status.code(), Some(0), "{}", text(&v1));

    // 1. A good v2, killed during its rollout or watch.
    write_compose(&dir, "v2", false);
    let started = Instant::now();
    let (arn, states) = kill_at(&dir, &endpoint, &["deploy", "--target", "ecs"], &rollout);
    let status = run(&dir, &endpoint, &["status", "--ecs", "web"]);
    let shown = text(&status);
    assert!(
        shown.contains("interrupted: the deploy of release r2"),
        "status --ecs tells of the interrupted deploy: {shown}"
    );
    let again = run(&dir, &endpoint, &["deploy", "--target", "ecs"]);
    let said = text(&again);
    assert_eq!(again.status.code(), Some(0), "{said}");
    assert!(said.contains("resuming the deploy of release r2"), "{said}");
    assert!(said.contains("not deploying it again"), "{said}");
    let interrupted = settled(&dir, &arn);
    let rows = releases_json(&dir, &endpoint);
    assert_eq!(row(&rows, "r2")["outcome"], "live");
    assert_eq!(row(&rows, "r2")["live"], true);
    assert!(
        rows.as_array()
            .expect("rows")
            .iter()
            .all(|r| r["id"] != "r3"),
        "the resumed deploy was not deployed again: {rows}"
    );
    let r2 = row(&rows, "r2")["image"]
        .as_str()
        .expect("r2's revision")
        .to_string();
    assert_eq!(version_of(client, &r2).await, "v2");
    eprintln!(
        "killed at {rollout:?} ({} states entered, last {:?}): resumed, {interrupted} interrupted call(s) made again; v2 live, {:.1} s",
        states.len(),
        states.last(),
        started.elapsed().as_secs_f64()
    );

    // 2. A v3 whose container exits, killed during its rollback.
    write_compose(&dir, "v3", true);
    let started = Instant::now();
    let (arn, states) = kill_at(&dir, &endpoint, &["deploy", "--target", "ecs"], &rollback);
    let again = run(&dir, &endpoint, &["deploy", "--target", "ecs"]);
    let said = text(&again);
    assert_eq!(again.status.code(), Some(6), "the rolled-back code: {said}");
    assert!(said.contains("resuming the deploy of release r3"), "{said}");
    assert!(
        said.contains("rolled back to the previous revision"),
        "{said}"
    );
    let interrupted = settled(&dir, &arn);
    let rows = releases_json(&dir, &endpoint);
    assert_eq!(row(&rows, "r3")["outcome"], "rolled-back");
    assert_eq!(row(&rows, "r2")["live"], true);
    assert_eq!(version_of(client, &r2).await, "v2");
    eprintln!(
        "killed at {rollback:?} ({} states entered, last {:?}): resumed, {interrupted} interrupted call(s) made again; rolled back to v2, {:.1} s",
        states.len(),
        states.last(),
        started.elapsed().as_secs_f64()
    );

    // 3. `windlass rollback --target ecs web r1`, killed during its rollout.
    let started = Instant::now();
    let args = ["rollback", "--target", "ecs", "web", "r1"];
    let (arn, states) = kill_at(&dir, &endpoint, &args, &given);
    let again = run(&dir, &endpoint, &args);
    let said = text(&again);
    assert_eq!(again.status.code(), Some(0), "{said}");
    assert!(
        said.contains("resuming the rollback to release r1"),
        "{said}"
    );
    assert!(said.contains("not running it again"), "{said}");
    let interrupted = settled(&dir, &arn);
    let rows = releases_json(&dir, &endpoint);
    assert_eq!(row(&rows, "r1")["live"], true);
    assert_eq!(row(&rows, "r2")["outcome"], "rolled-back");
    let r1 = row(&rows, "r1")["image"]
        .as_str()
        .expect("r1's revision")
        .to_string();
    assert_eq!(version_of(client, &r1).await, "v1");
    eprintln!(
        "killed at {given:?} ({} states entered, last {:?}): resumed, {interrupted} interrupted call(s) made again; v1 live, {:.1} s",
        states.len(),
        states.last(),
        started.elapsed().as_secs_f64()
    );
}
