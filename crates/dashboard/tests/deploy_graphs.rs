//! windlass's own deploy and rollback executions drawn as the page draws
//! them: the deploy agent runs them for real (the engine, the runtime and
//! the built-in app definitions, on the fake backend of
//! `windlass_deploy::test_util`), and each state's colour folded from the
//! history the run wrote must be what happened.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;
use windlass_dashboard::graph;
use windlass_dashboard::status::{StateSummary, Tracker};
use windlass_dashboard::{router, Config, Dashboard, Sources};
use windlass_deploy::agent::{Agent, DeployRequest, RollbackRequest};
use windlass_deploy::test_util::{Behaviour, FakeBackend};
use windlass_deploy::workflow;
use windlass_store::memory::MemoryStore;
use windlass_store::releases::{ServiceKey, SqliteReleases};
use windlass_store::Store;

struct Rig {
    agent: Agent,
    store: Arc<MemoryStore>,
    backend: Arc<FakeBackend>,
}

fn rig() -> Rig {
    let store = Arc::new(MemoryStore::new());
    let backend = Arc::new(FakeBackend::new());
    let agent = Agent::new(
        store.clone(),
        Arc::new(SqliteReleases::in_memory().expect("releases")),
        backend.clone(),
        workflow::Config::default(),
    );
    Rig {
        agent,
        store,
        backend,
    }
}

/// Two workers (the fake backend's containers serve no HTTP): `api`
/// starts in a wave after `db`, so the deploy's `Start` Map runs two
/// iterations, each an inner Map over its wave.
fn app(version: u32) -> String {
    format!(
        "services:\n  db:\n    image: db:{version}\n    x-windlass: {{watch: 0s}}\n  api:\n    image: api:{version}\n    depends_on: [db]\n    x-windlass: {{watch: 0s}}\n"
    )
}

impl Rig {
    async fn deploy(&self, version: u32) -> String {
        for image in ["db", "api"] {
            self.backend.add_image(&format!("{image}:{version}"));
        }
        let started = self
            .agent
            .deploy(DeployRequest {
                compose_file: "/shop/compose.yaml".into(),
                compose_text: app(version),
                by: "test@dash".into(),
                ..Default::default()
            })
            .await
            .expect("the deploy starts");
        self.finish(&started[0].execution).await
    }

    async fn finish(&self, arn: &str) -> String {
        self.agent.runtime().wait(arn).await.expect("it ends");
        // The agent frees its locks after the execution's end.
        for _ in 0..200 {
            let free = ["db", "api"].iter().all(|s| {
                let key = ServiceKey::new("shop", *s).expect("a key");
                self.agent.releases().lock_of(&key).expect("lock").is_none()
            });
            if free {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        arn.to_string()
    }

    /// The dashboard's routes over the agent's executions.
    fn page(&self) -> Router {
        let dashboard = Dashboard::new(
            Config::default(),
            Sources {
                executions: self.store.clone(),
                machines: None,
                deploys: None,
            },
        );
        router(dashboard)
    }

    /// The image release `r{n}` of `service` runs: the agent tags each
    /// release's image under its installation's prefix.
    fn release_image(&self, service: &str, n: u32) -> String {
        let first = format!("tag_image {service}:1 ");
        let tagged = self
            .backend
            .calls()
            .into_iter()
            .find_map(|c| c.strip_prefix(&first).map(str::to_owned))
            .expect("release r1 was tagged");
        tagged.replace(":r1", &format!(":r{n}"))
    }

    /// The execution's status and its history folded as the page folds it.
    fn fold(&self, arn: &str) -> (String, Tracker) {
        let record = self.store.execution(arn).expect("read").expect("found");
        let document: serde_json::Value =
            serde_json::from_str(&record.definition).expect("a definition");
        let graph = graph::layout(&document);
        let mut tracker = Tracker::new(&graph);
        for event in self.store.history(arn, 1, u64::MAX).expect("history") {
            tracker.push(&event);
        }
        (record.status, tracker)
    }
}

/// `text` as a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn get_json(app: &Router, path: &str) -> serde_json::Value {
    let request = Request::get(path).body(Body::empty()).expect("request");
    let answer = app.clone().oneshot(request).await.expect("an answer");
    let status = answer.status();
    let body = answer.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).expect("JSON")
}

/// A node id shortened to its names (`Start/StartWave/WaitHealthy`).
fn short(id: &str) -> String {
    id.trim_start_matches("/States/")
        .replace("/ItemProcessor/States/", "/")
}

/// Checks every state's colour: those `ran` lists, `not_run` for the rest
/// (so a state left uncoloured is a difference too).
fn assert_colours(states: &HashMap<String, StateSummary>, ran: &[(&str, &str)]) {
    let got: BTreeMap<String, String> = states
        .iter()
        .map(|(id, s)| {
            let status = serde_json::to_value(s.status).expect("a status");
            (short(id), status.as_str().unwrap_or_default().to_string())
        })
        .collect();
    let mut want: BTreeMap<String, String> = got
        .keys()
        .map(|k| (k.clone(), "not_run".to_string()))
        .collect();
    for (name, status) in ran {
        assert!(want.contains_key(*name), "no state {name} in {got:?}");
        want.insert(name.to_string(), status.to_string());
    }
    assert_eq!(got, want);
}

fn items(states: &HashMap<String, StateSummary>, id: &str) -> (u64, u64, u64, u64) {
    let i = states[id].items.expect("a Map's items");
    (i.total, i.started, i.succeeded, i.failed)
}

/// The deploy of two services in two waves (`db`, then `api` that
/// depends on it) as windlass's built-in app definition runs it.
const DEPLOYED: [(&str, &str); 12] = [
    ("Build", "succeeded"),
    ("Build/ResolveImage", "succeeded"),
    ("Build/PushWanted", "succeeded"),
    ("Build/Built", "succeeded"),
    ("Start", "succeeded"),
    ("Start/StartWave", "succeeded"),
    ("Start/StartWave/StartReplicas", "succeeded"),
    ("Start/StartWave/WaitHealthy", "succeeded"),
    ("Start/StartWave/Healthy", "succeeded"),
    ("Switch", "succeeded"),
    ("Watch", "succeeded"),
    ("Watch/WatchRelease", "succeeded"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_succeeds_is_green_where_it_ran() {
    let rig = rig();
    rig.agent.resume().await.expect("resume");
    let arn = rig.deploy(1).await;
    let (status, tracker) = rig.fold(&arn);
    assert_eq!(status, "SUCCEEDED");
    let states = tracker.all();
    let mut ran = DEPLOYED.to_vec();
    ran.extend([
        ("Retire", "succeeded"),
        ("Retire/RetireRelease", "succeeded"),
    ]);
    assert_colours(&states, &ran);
    // Two waves of one service each: the outer Map ran two iterations, the
    // inner one (entered once per wave) one each.
    assert_eq!(items(&states, "/States/Start"), (2, 2, 2, 0));
    let wave = "/States/Start/ItemProcessor/States/StartWave";
    assert_eq!(items(&states, wave), (2, 2, 2, 0));
    assert_eq!(states[wave].entered, 2);
    assert_eq!(states["/States/Switch"].entered, 1);

    // The history names the state of every event, a Task's too.
    let page = rig.page();
    let history = get_json(&page, &format!("/ui/api/history?arn={}", encode(&arn))).await;
    let events = history["events"].as_array().expect("events");
    let scheduled: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "TaskScheduled")
        .map(|e| e["stateName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(scheduled.len(), 11, "{scheduled:?}");
    assert!(scheduled.contains(&"Switch"), "{scheduled:?}");
    assert!(scheduled.contains(&"WaitHealthy"), "{scheduled:?}");
    assert!(!scheduled.contains(&""), "{scheduled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_whose_second_wave_fails_shows_the_failure_and_the_rollback() {
    let rig = rig();
    rig.agent.resume().await.expect("resume");
    rig.deploy(1).await;
    // api's release r2 exits at once: its wait-healthy fails, in the
    // second iteration of `Start`, after db's wave went well.
    rig.backend
        .set_behaviour(&rig.release_image("api", 2), Behaviour::Exits(1));
    let arn = rig.deploy(2).await;
    let (status, tracker) = rig.fold(&arn);
    assert_eq!(status, "FAILED");
    let states = tracker.all();
    assert_colours(
        &states,
        &[
            ("Build", "succeeded"),
            ("Build/ResolveImage", "succeeded"),
            ("Build/PushWanted", "succeeded"),
            ("Build/Built", "succeeded"),
            ("Start", "caught"),
            ("Start/StartWave", "failed"),
            ("Start/StartWave/StartReplicas", "succeeded"),
            ("Start/StartWave/WaitHealthy", "failed"),
            ("Start/StartWave/Healthy", "succeeded"),
            ("Rollback", "succeeded"),
            ("Rollback/RollBackRelease", "succeeded"),
            ("RolledBack", "failed"),
        ],
    );
    assert_eq!(items(&states, "/States/Start"), (2, 2, 1, 1));
    assert_eq!(items(&states, "/States/Rollback"), (2, 2, 2, 0));

    // The page picks one iteration of a Map at a time: its item, status,
    // and the states as they ran in it.
    let page = rig.page();
    let q = |path: &str| format!("{path}&arn={}", encode(&arn));
    let start = "/States/Start";
    let wave = "/States/Start/ItemProcessor/States/StartWave";
    let waiting = "/States/Start/ItemProcessor/States/StartWave/ItemProcessor/States/WaitHealthy";
    let list = get_json(&page, &q(&format!("/ui/api/iterations?id={start}"))).await;
    assert_eq!(list["total"], 2, "{list}");
    let outer: Vec<(u64, String, String)> = list["iterations"]
        .as_array()
        .expect("iterations")
        .iter()
        .map(|i| {
            let service = i["item"][0]["service"].as_str().unwrap_or_default();
            let status = i["status"].as_str().unwrap_or_default();
            (
                i["index"].as_u64().unwrap_or(9),
                service.into(),
                status.into(),
            )
        })
        .collect();
    assert_eq!(
        outer,
        [
            (0, "db".into(), "succeeded".into()),
            (1, "api".into(), "failed".into())
        ]
    );
    for (place, service, status) in [(0, "db", "succeeded"), (1, "api", "failed")] {
        let id = &list["iterations"][place]["id"];
        let one = get_json(&page, &q(&format!("/ui/api/iteration?iteration={id}"))).await;
        assert_eq!(one["status"], status, "{one}");
        assert_eq!(one["input"][0]["service"], service, "{one}");
        assert_eq!(one["states"][wave]["status"], status, "{one}");
        assert_eq!(one["states"][waiting]["status"], status, "{one}");
        assert_eq!(one["states"][wave]["entered"], 1, "{one}");
        assert!(one["states"].get(start).is_none(), "{one}");
        // The inner Map's iterations within this wave, and its state's
        // input in that iteration.
        let inner = get_json(
            &page,
            &q(&format!("/ui/api/iterations?id={wave}&within={id}")),
        )
        .await;
        assert_eq!(inner["total"], 1, "{inner}");
        assert_eq!(
            inner["iterations"][0]["item"]["service"], service,
            "{inner}"
        );
        let inner_id = &inner["iterations"][0]["id"];
        let state = get_json(
            &page,
            &q(&format!("/ui/api/state?id={waiting}&iteration={inner_id}")),
        )
        .await;
        assert_eq!(state["input"]["service"], service, "{state}");
        assert_eq!(state["summary"]["status"], status, "{state}");
    }
    if let Some(healthy) = get_json(
        &page,
        &q(&format!(
            "/ui/api/iteration?iteration={}",
            list["iterations"][1]["id"]
        )),
    )
    .await["states"]
        .get("/States/Start/ItemProcessor/States/StartWave/ItemProcessor/States/Healthy")
    {
        panic!("api's wave never reached Healthy: {healthy}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_rollback_is_coloured_where_it_ran() {
    let rig = rig();
    rig.agent.resume().await.expect("resume");
    rig.deploy(1).await;
    rig.deploy(2).await;
    let back = rig
        .agent
        .rollback(RollbackRequest {
            service: None,
            app: None,
            here: None,
            release: None,
            by: "test@dash".into(),
        })
        .await
        .expect("the rollback starts");
    let arn = rig.finish(&back[0].execution).await;
    let (status, tracker) = rig.fold(&arn);
    assert_eq!(status, "SUCCEEDED");
    let states = tracker.all();
    // No warm standby answered here: the rollback starts r1 of both
    // services again, in one wave.
    assert_colours(
        &states,
        &[
            ("SwitchWarm", "succeeded"),
            ("WarmStandby", "succeeded"),
            ("Start", "succeeded"),
            ("Start/StartWave", "succeeded"),
            ("Start/StartWave/StartReplicas", "succeeded"),
            ("Start/StartWave/WaitHealthy", "succeeded"),
            ("Start/StartWave/Healthy", "succeeded"),
            ("Switch", "succeeded"),
            ("Retire", "succeeded"),
            ("Retire/RetireRelease", "succeeded"),
        ],
    );
    let wave = "/States/Start/ItemProcessor/States/StartWave";
    assert_eq!(items(&states, wave), (2, 2, 2, 0));
}
