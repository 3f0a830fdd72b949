//! A rollout on the services page through `Router::oneshot`: the JSON the
//! page draws (the canary's weight and both releases' windows from the
//! server's samples, the gate the deploy waits at, read from the agent's
//! store as the agent reads it) and the Approve, Promote and Abort buttons'
//! endpoint, refused without the server's permission, a session, the page's
//! header or its own origin, else forwarded to the agent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value as Json};
use tower::ServiceExt;
use windlass_dashboard::auth::Credential;
use windlass_dashboard::services::{
    self, start_sampling, Agent, Answer, Answered, Deploys, ReleaseTraffic, Rollback, Share,
};
use windlass_dashboard::{router, Config, Dashboard, Sources, Transport};
use windlass_engine::{Execution, ExecutionMeta};
use windlass_store::memory::MemoryStore;
use windlass_store::releases::{
    Lock, Member, NewAppRelease, NewRelease, Releases, ServiceKey, SqliteReleases,
};
use windlass_store::{Commit, ExecutionRecord, Store};

const ID: &str = "AKIDTEST";
const SECRET: &str = "test-secret";
const DEPLOY: &str = "arn:windlass:us-east-1:0:execution:windlass-deploy-shop:d2";

/// An agent whose proxy moves shop/web from r1 to canary r2 (10 %, then
/// 50 %) as it is sampled, and which records the answers it is given.
#[derive(Default)]
struct Rolling {
    looks: AtomicU64,
    answers: Mutex<Vec<(String, Answer, String)>>,
}

/// A release's counters: its answers took 2 ms, its 5xx 40 ms.
fn counted(release: &str, requests: u64, server_errors: u64, share: Share) -> ReleaseTraffic {
    ReleaseTraffic {
        service: "shop/web".into(),
        release: release.into(),
        requests,
        server_errors,
        p99_us: Some(1_000 + requests),
        share: Some(share),
        latencies: [[2_000, requests - server_errors], [40_000, server_errors]]
            .into_iter()
            .filter(|[_, n]| *n > 0)
            .collect(),
    }
}

#[async_trait::async_trait]
impl Agent for Rolling {
    async fn traffic(&self) -> Result<Vec<ReleaseTraffic>, String> {
        let look = self.looks.fetch_add(1, Ordering::SeqCst);
        Ok(match look {
            // Before the rollout: r1 alone.
            0 => vec![counted("r1", 100, 0, Share::Live(100))],
            1 => vec![
                counted("r1", 190, 0, Share::Live(90)),
                counted("r2", 10, 0, Share::Canary(10)),
            ],
            2 => vec![
                counted("r1", 280, 0, Share::Live(90)),
                counted("r2", 20, 1, Share::Canary(10)),
            ],
            _ => vec![
                counted("r1", 330, 0, Share::Live(50)),
                counted("r2", 70, 1, Share::Canary(50)),
            ],
        })
    }

    async fn rollback(&self, what: &Rollback, _by: &str) -> Result<String, String> {
        Err(format!("not here: {what}"))
    }

    async fn gate(&self, app: &str, answer: Answer, by: &str) -> Result<Answered, String> {
        if app == "gone" {
            return Err(format!("no rollout of app {app} runs"));
        }
        self.answers
            .lock()
            .expect("lock")
            .push((app.to_owned(), answer, by.to_owned()));
        Ok(Answered {
            app: app.to_owned(),
            execution: DEPLOY.to_owned(),
            answered: format!("{answer}d"),
        })
    }
}

struct Setup {
    dashboard: Arc<Dashboard>,
    app: Router,
    agent: Arc<Rolling>,
}

/// Where the fixture's deploy waits: at step 1's approval gate, or in its bake.
#[derive(Clone, Copy)]
enum Waits {
    Gate,
    Bake,
}

fn setup(allow_rollback: bool) -> Setup {
    setup_at(allow_rollback, Waits::Gate)
}

fn setup_at(allow_rollback: bool, waits: Waits) -> Setup {
    let agent = Arc::new(Rolling::default());
    let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
    let executions = Arc::new(MemoryStore::new());
    rolling_out(&releases, &executions, waits);
    let dashboard = Dashboard::new(
        Config {
            access_keys: vec![Credential {
                id: ID.into(),
                secret: SECRET.into(),
            }],
            allow_rollback,
            transport: Transport::Loopback,
        },
        Sources {
            executions: Arc::new(MemoryStore::new()),
            machines: None,
            deploys: Some(Deploys {
                executions,
                releases,
                agent: agent.clone(),
            }),
        },
    );
    Setup {
        app: router(dashboard.clone()),
        dashboard,
        agent,
    }
}

/// App shop's deploy of web r2 (api kept at r1) holds web's lock and waits
/// at its first step's approval gate or bakes that step: its stored state
/// is the engine's, started on a gate or bake built from the deploy crate's
/// own resource names.
fn rolling_out(releases: &SqliteReleases, executions: &MemoryStore, waits: Waits) {
    let mut members = Vec::new();
    for (service, count) in [("web", 2), ("api", 1)] {
        let key = ServiceKey::new("shop", service).expect("a key");
        let mut last = None;
        for n in 0..count {
            last = Some(
                releases
                    .create(NewRelease {
                        service: key.clone(),
                        compose_file: "compose.yaml".into(),
                        compose_text: String::new(),
                        by: "test".into(),
                        created_millis: n,
                        fingerprint: None,
                    })
                    .expect("a release"),
            );
        }
        members.push(Member {
            service: service.into(),
            release: last.expect("a release").id,
            changed: service == "web",
        });
    }
    releases
        .create_app(NewAppRelease {
            app: "shop".into(),
            services: members,
            by: "test".into(),
            created_millis: 2,
        })
        .expect("an app release");
    let lock = Lock {
        service: ServiceKey::new("shop", "web").expect("a key"),
        holder: DEPLOY.into(),
        pid: 1,
        host: String::new(),
        heartbeat_millis: 2,
    };
    releases.try_lock(&lock, 0).expect("the lock");
    let (state, end) = match waits {
        Waits::Gate => (
            "Rollout1Approve",
            windlass_deploy::workflow::rollout::APPROVE_RESOURCE,
        ),
        Waits::Bake => (
            "Rollout1Bake",
            windlass_deploy::workflow::rollout::BAKE_RESOURCE,
        ),
    };
    let resource = format!("{}{end}", windlass_deploy::workflow::RESOURCE_PREFIX);
    let definition = json!({
        "StartAt": state,
        "States": {state: {
            "Type": "Task", "Resource": resource, "TimeoutSeconds": 120,
            "Parameters": {"app": "shop", "step": 1, "token.$": "$$.Task.Token"}, "End": true
        }}
    });
    let parsed = windlass_asl::parse::parse_value(&definition)
        .valid()
        .expect("a valid gate");
    let meta = ExecutionMeta {
        execution_arn: DEPLOY.into(),
        name: "d2".into(),
        state_machine_arn: "arn:windlass:us-east-1:0:stateMachine:windlass-deploy-shop".into(),
        state_machine_name: "windlass-deploy-shop".into(),
        role_arn: String::new(),
        input: json!({}),
        start_millis: 2,
        seed: 7,
        express: false,
    };
    let (state, _) = Execution::start(&parsed, meta, 2);
    let snapshot = serde_json::to_string(&state).expect("a snapshot");
    executions
        .commit(&[Commit {
            arn: DEPLOY.into(),
            create: Some(ExecutionRecord {
                arn: DEPLOY.into(),
                name: "d2".into(),
                state_machine_arn: "arn:windlass:us-east-1:0:stateMachine:windlass-deploy-shop"
                    .into(),
                definition: definition.to_string(),
                status: "RUNNING".into(),
                input: "{}".into(),
                start_millis: 2,
                stop_millis: None,
                snapshot: snapshot.clone(),
            }),
            status: "RUNNING".into(),
            stop_millis: None,
            snapshot,
            history: Vec::new(),
            token_tasks: None,
        }])
        .expect("the deploy's record");
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let answer = app.clone().oneshot(request).await.expect("an answer");
    let status = answer.status();
    let body = answer.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn log_in(app: &Router) -> String {
    let request = Request::post("/ui/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "access_key_id={ID}&secret_access_key={SECRET}"
        )))
        .expect("request");
    let answer = app.clone().oneshot(request).await.expect("an answer");
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = answer
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    cookie.split(';').next().expect("name=value").to_owned()
}

/// The page's POST of `body` to the buttons' endpoint, with or without its
/// header, from `origin` when given.
fn answer(cookie: &str, body: &str, marked: bool, origin: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/ui/api/gate")
        .header(header::HOST, "127.0.0.1:8083")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/json");
    if marked {
        request = request.header("x-windlass-dashboard", "1");
    }
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    request.body(Body::from(body.to_owned())).expect("request")
}

async fn services_view(app: &Router, cookie: &str) -> Json {
    let request = Request::get("/ui/api/services")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    let (status, body) = send(app, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

fn service<'a>(view: &'a Json, name: &str) -> &'a Json {
    view["services"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["service"] == name))
        .expect("the service")
}

#[test]
fn the_page_and_the_agent_name_the_gate_alike() {
    assert_eq!(
        services::rollout::APPROVE_RESOURCE,
        windlass_deploy::workflow::rollout::APPROVE_RESOURCE
    );
    assert_eq!(
        services::rollout::BAKE_RESOURCE,
        windlass_deploy::workflow::rollout::BAKE_RESOURCE
    );
    assert_eq!(
        services::rollout::HOLD_SUFFIX,
        windlass_deploy::workflow::rollout::HOLD_SUFFIX
    );
}

#[tokio::test(start_paused = true)]
async fn the_page_reads_the_weights_both_releases_and_the_gate() {
    let Setup {
        dashboard,
        app,
        agent,
    } = setup(true);
    let sampler = start_sampling(&dashboard).expect("an agent to sample");
    // Samples at 0, 2, 4 and 6 s of the paused clock.
    tokio::time::sleep(Duration::from_millis(7_000)).await;
    sampler.abort();
    assert_eq!(agent.looks.load(Ordering::SeqCst), 4);
    let cookie = log_in(&app).await;
    let view = services_view(&app, &cookie).await;
    assert_eq!(view["gate_allowed"], true);
    let web = &service(&view, "shop/web")["canary"];
    assert_eq!(web["live"], "r1", "{web}");
    assert_eq!(web["canary"], "r2");
    assert_eq!(web["weight"], 50);
    // r2 was first counted at 2 s: the windows 2-4 s and 4-6 s.
    let points = web["points"].as_array().expect("points");
    assert_eq!(points.len(), 2, "{web}");
    assert_eq!(points[0]["weight"], 10);
    assert_eq!(
        points[0]["live"],
        json!({"requests": 90, "server_errors": 0, "server_error_share": 0.0, "p99_us": 2000})
    );
    assert_eq!(
        points[0]["canary"],
        json!({"requests": 10, "server_errors": 1, "server_error_share": 0.1, "p99_us": 40000})
    );
    assert_eq!(points[1]["weight"], 50);
    assert_eq!(points[1]["live"]["requests"], 50);
    assert_eq!(points[1]["canary"]["requests"], 50);
    assert_eq!(points[1]["canary"]["server_error_share"], 0.0);
    // Each window's own p99: the canary's slow 5xx was in the first only.
    assert_eq!(points[1]["canary"]["p99_us"], 2000);
    assert_eq!(
        points[1]["millis"]
            .as_i64()
            .zip(points[0]["millis"].as_i64())
            .map(|(b, a)| b - a),
        Some(2_000)
    );
    // api has no canary: its proxy was never sampled with one.
    assert_eq!(service(&view, "shop/api")["canary"], Json::Null);
    let shop = view["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["app"] == "shop"))
        .expect("app shop");
    assert_eq!(
        shop["rollout"],
        json!({
            "execution": DEPLOY,
            "gate": "Rollout1Approve",
            "bake": null,
            "canaries": [["shop/web", 50]],
            "approve": {"on": true, "tip": "let the rollout of app shop go on past its approval gate (Rollout1Approve)"},
            "promote": {"on": true, "tip": "let the rollout of app shop go on past its approval gate (Rollout1Approve), as windlass promote does"},
            "abort": {"on": true, "tip": "take app shop's canaries out of service at once and roll its deploy back now"},
        })
    );
}

#[tokio::test]
async fn a_server_without_permission_shows_the_buttons_off_and_refuses_them() {
    let Setup { app, agent, .. } = setup(false);
    let cookie = log_in(&app).await;
    let view = services_view(&app, &cookie).await;
    assert_eq!(view["gate_allowed"], false);
    // No sample yet, but the deploy waits at its gate: the rollout shows.
    let rollout = &view["apps"][0]["rollout"];
    assert_eq!(rollout["gate"], "Rollout1Approve", "{view}");
    for button in ["approve", "promote", "abort"] {
        assert_eq!(rollout[button]["on"], false, "{button}");
        let why = rollout[button]["tip"].as_str().unwrap_or_default();
        assert!(why.contains("--dashboard-rollback"), "{button}: {why}");
    }
    for button in ["approve", "promote", "abort"] {
        let body = format!(r#"{{"app":"shop","answer":"{button}"}}"#);
        let (status, reply) = send(&app, answer(&cookie, &body, true, None)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{button}: {reply}");
        assert!(reply.contains("--dashboard-rollback"), "{reply}");
    }
    assert!(agent.answers.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn an_answer_needs_a_session_the_pages_header_and_its_origin() {
    let Setup { app, agent, .. } = setup(true);
    let body = r#"{"app":"shop","answer":"abort"}"#;
    let (status, _) = send(&app, answer("windlass_session=forged", body, true, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let cookie = log_in(&app).await;
    let (status, reply) = send(&app, answer(&cookie, body, false, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(reply.contains("X-Windlass-Dashboard"), "{reply}");
    let elsewhere = answer(&cookie, body, true, Some("http://evil.example"));
    let (status, reply) = send(&app, elsewhere).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(reply.contains("own page"), "{reply}");
    let (status, reply) = send(
        &app,
        answer(&cookie, r#"{"app":"shop","answer":"merge"}"#, true, None),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reply.contains("approve, promote or abort"), "{reply}");
    assert!(agent.answers.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn each_button_forwards_its_answer_to_the_agent() {
    let Setup { app, agent, .. } = setup(true);
    let cookie = log_in(&app).await;
    for button in ["approve", "promote", "abort"] {
        let body = format!(r#"{{"app":"shop","answer":"{button}"}}"#);
        let own = Some("http://127.0.0.1:8083");
        let (status, reply) = send(&app, answer(&cookie, &body, true, own)).await;
        assert_eq!(status, StatusCode::OK, "{button}: {reply}");
        let reply: Json = serde_json::from_str(&reply).expect("JSON");
        assert_eq!(reply["execution"], DEPLOY);
        assert_eq!(reply["answered"], format!("{button}d"));
    }
    assert_eq!(
        *agent.answers.lock().expect("lock"),
        vec![
            ("shop".to_owned(), Answer::Approve, "dashboard".to_owned()),
            ("shop".to_owned(), Answer::Promote, "dashboard".to_owned()),
            ("shop".to_owned(), Answer::Abort, "dashboard".to_owned()),
        ]
    );
    // The agent's refusal reaches the page with what was asked.
    let (status, reply) = send(
        &app,
        answer(&cookie, r#"{"app":"gone","answer":"approve"}"#, true, None),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        reply.contains("approve of app gone's rollout: no rollout of app gone runs"),
        "{reply}"
    );
}

/// A step that bakes: Promote is on and ends the bake, as `windlass
/// promote` does (the agent is asked to promote); Approve stays for a gate
/// and says why it is off; Abort is on. Each tooltip says which.
#[tokio::test]
async fn promote_ends_a_bake_from_the_page_and_approve_waits_for_a_gate() {
    let Setup { app, agent, .. } = setup_at(true, Waits::Bake);
    let cookie = log_in(&app).await;
    let view = services_view(&app, &cookie).await;
    // No sample yet, but the deploy bakes: the rollout shows.
    let rollout = &view["apps"][0]["rollout"];
    assert_eq!(rollout["gate"], Json::Null, "{view}");
    assert_eq!(rollout["bake"], json!({"state": "Rollout1Bake", "step": 1}));
    assert_eq!(rollout["approve"]["on"], false);
    assert_eq!(
        rollout["approve"]["tip"],
        "the rollout of app shop bakes step 1 (Rollout1Bake) and waits at no approval gate: Promote ends the bake now"
    );
    assert_eq!(rollout["promote"]["on"], true);
    let tip = rollout["promote"]["tip"].as_str().unwrap_or_default();
    assert!(
        tip.starts_with("end the bake of step 1 (Rollout1Bake) now, as windlass promote does: its analysis judges the window so far"),
        "{tip}"
    );
    assert!(
        tip.contains("too few requests to judge mean another bake"),
        "{tip}"
    );
    assert_eq!(rollout["abort"]["on"], true);
    let own = Some("http://127.0.0.1:8083");
    let body = r#"{"app":"shop","answer":"promote"}"#;
    let (status, reply) = send(&app, answer(&cookie, body, true, own)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        *agent.answers.lock().expect("lock"),
        vec![("shop".to_owned(), Answer::Promote, "dashboard".to_owned())]
    );
}
