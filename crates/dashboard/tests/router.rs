//! The dashboard's routes through `Router::oneshot`: the login and the
//! 401/403 rules, paging of executions, a definition's diagnostics on its
//! states, and rollback through a fake agent.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value as Json};
use tower::ServiceExt;
use windlass_dashboard::auth::Credential;
use windlass_dashboard::services::{Agent, Answer, Answered, Deploys, ReleaseTraffic, Rollback};
use windlass_dashboard::{router, Config, Dashboard, Sources, Transport};
use windlass_engine::HistoryEvent;
use windlass_store::memory::MemoryStore;
use windlass_store::releases::{
    Live, Member, NewAppRelease, NewRelease, Outcome, Releases, ServiceKey, SqliteReleases,
};
use windlass_store::{Commit, ExecutionRecord, Store};

const ID: &str = "AKIDTEST";
const SECRET: &str = "test-secret";

#[derive(Default)]
struct FakeAgent {
    rolled_back: Mutex<Vec<Rollback>>,
}

#[async_trait::async_trait]
impl Agent for FakeAgent {
    async fn traffic(&self) -> Result<Vec<ReleaseTraffic>, String> {
        Ok(Vec::new())
    }
    async fn rollback(&self, what: &Rollback, _by: &str) -> Result<String, String> {
        self.rolled_back.lock().expect("lock").push(what.clone());
        match what {
            Rollback::Service(service) => Ok(format!("arn:rollback:{service}")),
            Rollback::App(app) if app == "gone" => Err(format!("no app {app} is deployed")),
            Rollback::App(app) => Ok(format!("arn:app-rollback:{app}")),
        }
    }
    async fn gate(&self, app: &str, answer: Answer, _by: &str) -> Result<Answered, String> {
        Err(format!("not here: {answer} of {app}"))
    }
}

struct Setup {
    app: Router,
    store: Arc<MemoryStore>,
    agent: Arc<FakeAgent>,
    releases: Arc<SqliteReleases>,
}

fn setup(allow_rollback: bool) -> Setup {
    let store = Arc::new(MemoryStore::new());
    let agent = Arc::new(FakeAgent::default());
    let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
    let deploys = Deploys {
        executions: Arc::new(MemoryStore::new()),
        releases: releases.clone(),
        agent: agent.clone(),
    };
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
            executions: store.clone(),
            machines: Some(store.clone()),
            deploys: Some(deploys),
        },
    );
    Setup {
        app: router(dashboard),
        store,
        agent,
        releases,
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Vec<(String, String)>, String) {
    let answer = app.clone().oneshot(request).await.expect("an answer");
    let status = answer.status();
    let headers = answer
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = answer.into_body().collect().await.expect("body").to_bytes();
    (status, headers, String::from_utf8_lossy(&body).to_string())
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).expect("request")
}

fn post(path: &str, cookie: &str, body: &str, marked: bool) -> Request<Body> {
    let mut request = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/json");
    if marked {
        request = request.header("x-windlass-dashboard", "1");
    }
    request.body(Body::from(body.to_string())).expect("request")
}

/// Logs in and gives the session's `Cookie` header.
async fn log_in(app: &Router) -> String {
    let form = format!("access_key_id={ID}&secret_access_key={SECRET}");
    let request = Request::post("/ui/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .expect("request");
    let (status, headers, _) = send(app, request).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().expect("name=value").to_string()
}

#[tokio::test]
async fn nothing_is_shown_or_done_without_a_session() {
    let Setup { app, agent, .. } = setup(true);
    let (status, headers, _) = send(&app, get("/ui/", None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers.contains(&("location".into(), "/ui/login".into())));
    for path in [
        "/ui/api/executions",
        "/ui/api/machines",
        "/ui/api/services",
        "/ui/app.js",
    ] {
        let (status, _, _) = send(&app, get(path, None)).await;
        assert_ne!(status, StatusCode::OK, "{path}");
    }
    let (status, _, _) = send(
        &app,
        post(
            "/ui/api/rollback",
            "windlass_session=forged",
            r#"{"service":"web"}"#,
            true,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong = Request::post("/ui/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "access_key_id={ID}&secret_access_key=nope"
        )))
        .expect("request");
    let (status, headers, body) = send(&app, wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!headers.iter().any(|(k, _)| k == "set-cookie"));
    assert!(body.contains("not one of this server's keys"), "{body}");
    assert!(agent.rolled_back.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn rollback_needs_the_servers_permission_and_the_pages_header() {
    let Setup { app, agent, .. } = setup(false);
    let cookie = log_in(&app).await;
    let (status, _, body) = send(
        &app,
        post("/ui/api/rollback", &cookie, r#"{"service":"web"}"#, true),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("--dashboard-rollback"), "{body}");
    let (status, _, body) = send(
        &app,
        post("/ui/api/rollback", &cookie, r#"{"app":"shop"}"#, true),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an app's rollback too");
    assert!(body.contains("--dashboard-rollback"), "{body}");
    assert!(agent.rolled_back.lock().expect("lock").is_empty());

    let allowed = setup(true);
    let cookie = log_in(&allowed.app).await;
    for body in [r#"{"service":"web"}"#, r#"{"app":"shop"}"#] {
        let unmarked = post("/ui/api/rollback", &cookie, body, false);
        let (status, _, _) = send(&allowed.app, unmarked).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a POST of {body} without the page's header"
        );
    }
    for body in ["{}", r#"{"service":"web","app":"shop"}"#, "web"] {
        let (status, _, answer) =
            send(&allowed.app, post("/ui/api/rollback", &cookie, body, true)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let answer: Json = serde_json::from_str(&answer).expect("a JSON error");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(r#"{"app": "shop"}"#), "{body}: {message}");
    }
    assert!(allowed.agent.rolled_back.lock().expect("lock").is_empty());
    let (status, _, _) = send(&allowed.app, get("/ui/api/services", None)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the services without a session"
    );
    assert!(allowed.agent.rolled_back.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn an_allowed_rollback_goes_to_the_agent() {
    let Setup { app, agent, .. } = setup(true);
    let cookie = log_in(&app).await;
    let (status, _, body) = send(
        &app,
        post("/ui/api/rollback", &cookie, r#"{"service":"web"}"#, true),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Json = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["execution"], "arn:rollback:web");
    assert_eq!(
        *agent.rolled_back.lock().expect("lock"),
        vec![Rollback::Service("web".into())]
    );
    let (status, _, body) = send(&app, get("/ui/api/services", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    let body: Json = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["rollback_allowed"], true);
}

/// Deploys app `shop` of services web and api twice (a1, a2), each
/// release live in turn, as the agent records them.
fn two_app_releases(releases: &SqliteReleases) {
    for n in 1..=2 {
        let mut members = Vec::new();
        for service in ["web", "api"] {
            let key: ServiceKey = format!("shop/{service}").parse().expect("a key");
            let release = releases
                .create(NewRelease {
                    service: key.clone(),
                    compose_file: "compose.yaml".into(),
                    compose_text: String::new(),
                    by: "test".into(),
                    created_millis: n,
                    fingerprint: None,
                })
                .expect("release");
            releases
                .set_outcome(&key, &release.id, Outcome::Live, None, None)
                .expect("outcome");
            releases
                .set_live(&Live {
                    service: key.clone(),
                    release: release.id.clone(),
                    address: format!("127.0.0.1:{}", 8000 + n),
                    upstreams: Vec::new(),
                    ports: Vec::new(),
                    since_millis: n,
                })
                .expect("live");
            members.push(Member {
                service: service.into(),
                release: release.id,
                changed: true,
            });
        }
        let app = releases
            .create_app(NewAppRelease {
                app: "shop".into(),
                services: members,
                by: "test".into(),
                created_millis: n,
            })
            .expect("app release");
        releases
            .set_app_outcome("shop", &app.id, Outcome::Live, None, None)
            .expect("app outcome");
    }
}

#[tokio::test]
async fn an_app_rolls_back_from_the_page_to_its_warm_release() {
    let Setup {
        app,
        agent,
        releases,
        ..
    } = setup(true);
    two_app_releases(&releases);
    // Another app's web, live on its first release.
    let blog_web: ServiceKey = "blog/web".parse().expect("a key");
    let blog = releases
        .create(NewRelease {
            service: blog_web.clone(),
            compose_file: "blog/compose.yaml".into(),
            compose_text: String::new(),
            by: "test".into(),
            created_millis: 3,
            fingerprint: None,
        })
        .expect("release");
    releases
        .set_live(&Live {
            service: blog_web,
            release: blog.id,
            address: "127.0.0.1:9000".into(),
            upstreams: Vec::new(),
            ports: Vec::new(),
            since_millis: 3,
        })
        .expect("live");
    let cookie = log_in(&app).await;
    let (status, _, body) = send(&app, get("/ui/api/services", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view: Json = serde_json::from_str(&body).expect("JSON");
    let shop = &view["apps"][0];
    assert_eq!(shop["app"], "shop");
    assert_eq!(shop["live"], "a2", "{shop}");
    assert_eq!(shop["warm"], "a1", "{shop}");
    assert_eq!(
        shop["releases"][0]["services"],
        json!([["web", "r2", true], ["api", "r2", true]])
    );
    let web = view["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == "shop/web")
        .expect("shop's web");
    assert_eq!((&web["live"], &web["warm"]), (&json!("r2"), &json!("r1")));
    assert_eq!((&web["app"], &web["name"]), (&json!("shop"), &json!("web")));
    let blog = view["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == "blog/web")
        .expect("blog's web, apart from shop's");
    assert_eq!((&blog["live"], &blog["warm"]), (&json!("r1"), &json!(null)));
    // Its button is off, and says why; shop's is on.
    assert_eq!(
        blog["rollback_off"],
        "no release of blog/web before r1 went live: nothing to roll back to"
    );
    assert_eq!(web["rollback_off"], Json::Null);
    assert_eq!(shop["rollback_off"], Json::Null);

    let (status, _, body) = send(
        &app,
        post("/ui/api/rollback", &cookie, r#"{"app":"shop"}"#, true),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Json = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["execution"], "arn:app-rollback:shop");
    let (status, _, body) = send(
        &app,
        post("/ui/api/rollback", &cookie, r#"{"app":"gone"}"#, true),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body.contains("rollback of app gone: no app gone is deployed"),
        "{body}"
    );
    assert_eq!(
        *agent.rolled_back.lock().expect("lock"),
        vec![Rollback::App("shop".into()), Rollback::App("gone".into())]
    );
}

fn execution(store: &MemoryStore, n: i64, status: &str) {
    let arn = format!("arn:aws:states:us-east-1:1:execution:m:e{n}");
    let definition = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#;
    let event = |id: u64, kind: &'static str, details: Json| HistoryEvent {
        id,
        previous_event_id: id - 1,
        timestamp_millis: n,
        kind: kind.into(),
        details,
    };
    store
        .commit(&[Commit {
            arn: arn.clone(),
            create: Some(ExecutionRecord {
                arn: arn.clone(),
                name: format!("e{n}"),
                state_machine_arn: "arn:aws:states:us-east-1:1:stateMachine:m".into(),
                definition: definition.into(),
                status: status.into(),
                input: "{}".into(),
                start_millis: n,
                stop_millis: Some(n + 1),
                snapshot: "{}".into(),
            }),
            status: status.into(),
            stop_millis: Some(n + 1),
            snapshot: "{}".into(),
            history: vec![
                event(1, "ExecutionStarted", json!({"input": {}})),
                event(
                    2,
                    "PassStateEntered",
                    json!({"name": "A", "input": {"n": n}}),
                ),
                event(
                    3,
                    "PassStateExited",
                    json!({"name": "A", "output": {"n": n}}),
                ),
                event(4, "ExecutionSucceeded", json!({"output": {"n": n}})),
            ],
            token_tasks: None,
        }])
        .expect("commit");
}

#[tokio::test]
async fn executions_page_newest_first_by_status_and_one_is_coloured() {
    let Setup { app, store, .. } = setup(false);
    for n in 1..=5 {
        execution(&store, n, if n == 3 { "FAILED" } else { "SUCCEEDED" });
    }
    let cookie = log_in(&app).await;
    let page = |query: String| {
        let (app, cookie) = (app.clone(), cookie.clone());
        async move {
            let (status, _, body) = send(
                &app,
                get(&format!("/ui/api/executions?{query}"), Some(&cookie)),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            serde_json::from_str::<Json>(&body).expect("JSON")
        }
    };
    let names = |page: &Json| -> Vec<String> {
        page["executions"]
            .as_array()
            .expect("executions")
            .iter()
            .map(|e| e["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let first = page("limit=2".into()).await;
    assert_eq!(names(&first), ["e5", "e4"]);
    assert_eq!(first["more"], true);
    let last = &first["executions"][1];
    let second = page(format!(
        "limit=2&after_millis={}&after_arn={}",
        last["start_millis"],
        last["arn"].as_str().unwrap_or_default()
    ))
    .await;
    assert_eq!(names(&second), ["e3", "e2"]);
    assert_eq!(names(&page("status=FAILED".into()).await), ["e3"]);

    let arn = "arn:aws:states:us-east-1:1:execution:m:e4";
    let (status, _, body) = send(
        &app,
        get(&format!("/ui/api/execution?arn={arn}"), Some(&cookie)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let detail: Json = serde_json::from_str(&body).expect("JSON");
    assert_eq!(detail["states"]["/States/A"]["status"], "succeeded");
    assert_eq!(detail["last_event"], 4);
    let (_, _, body) = send(
        &app,
        get(
            &format!("/ui/api/state?arn={arn}&id=/States/A"),
            Some(&cookie),
        ),
    )
    .await;
    let state: Json = serde_json::from_str(&body).expect("JSON");
    assert_eq!(state["input"], json!({"n": 4}));
    assert_eq!(state["output"], json!({"n": 4}));
}

#[tokio::test]
async fn a_definitions_diagnostics_sit_on_their_states() {
    let Setup { app, .. } = setup(false);
    let cookie = log_in(&app).await;
    let definition = r#"{"StartAt":"A","States":{"A":{"Type":"Parallel","Branches":[{"StartAt":"B","States":{"B":{"Type":"Pass","Next":"Gone"}}}],"End":true}}}"#;
    let request = Request::post("/ui/api/definition")
        .header(header::COOKIE, &cookie)
        .header("x-windlass-dashboard", "1")
        .body(Body::from(definition))
        .expect("request");
    let (status, _, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view: Json = serde_json::from_str(&body).expect("JSON");
    let diagnostics = view["diagnostics"].as_array().expect("diagnostics");
    let missing = diagnostics
        .iter()
        .find(|d| d["code"] == "MISSING_TRANSITION_TARGET")
        .unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert_eq!(missing["node"], "/States/A/Branches/0/States/B");
    assert_eq!(view["graph"]["nodes"].as_array().map(Vec::len), Some(2));
}

/// An agent whose proxy daemon never answers (an install of ECS services
/// alone runs none), counting the dashboard's looks.
#[derive(Default)]
struct NoProxy {
    looks: std::sync::atomic::AtomicU64,
}

#[async_trait::async_trait]
impl Agent for NoProxy {
    async fn traffic(&self) -> Result<Vec<ReleaseTraffic>, String> {
        self.looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err("the proxy daemon cannot be reached".into())
    }
    async fn rollback(&self, what: &Rollback, _by: &str) -> Result<String, String> {
        Err(format!("not here: {what}"))
    }
    async fn gate(&self, app: &str, answer: Answer, _by: &str) -> Result<Answered, String> {
        Err(format!("not here: {answer} of {app}"))
    }
}

/// Releases r1 and r2 of `key`, both gone live, r2 the live one.
fn two_releases(releases: &SqliteReleases, key: &ServiceKey) {
    for n in 1..=2 {
        let release = releases
            .create(NewRelease {
                service: key.clone(),
                compose_file: "compose.yaml".into(),
                compose_text: String::new(),
                by: "test".into(),
                created_millis: n,
                fingerprint: None,
            })
            .expect("release");
        releases
            .set_outcome(key, &release.id, Outcome::Live, None, None)
            .expect("outcome");
        releases
            .set_live(&Live {
                service: key.clone(),
                release: release.id.clone(),
                address: String::new(),
                upstreams: Vec::new(),
                ports: Vec::new(),
                since_millis: n,
            })
            .expect("live");
    }
}

#[tokio::test(start_paused = true)]
async fn an_ecs_service_has_no_warm_revision_and_no_proxy_to_miss() {
    let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
    let agent = Arc::new(NoProxy::default());
    let ecs: ServiceKey = "ecs/prod/web".parse().expect("an ECS key");
    two_releases(&releases, &ecs);
    let dashboard = Dashboard::new(
        Config::default(),
        Sources {
            executions: Arc::new(MemoryStore::new()),
            machines: None,
            deploys: Some(Deploys {
                executions: Arc::new(MemoryStore::new()),
                releases: releases.clone(),
                agent: agent.clone(),
            }),
        },
    );
    let sampling = windlass_dashboard::services::start_sampling(&dashboard).expect("sampling");
    let app = router(dashboard);
    // The second look starts after the first one's failure was recorded.
    while agent.looks.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let services = |app: Router| async move {
        let (status, _, body) = send(&app, get("/ui/api/services", None)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str::<Json>(&body).expect("JSON")
    };
    let view = services(app.clone()).await;
    let web = &view["services"][0];
    assert_eq!(web["service"], "ecs/prod/web", "{view}");
    assert_eq!(web["target"], "ecs", "{view}");
    // A rollback goes to r1's revision, but nothing of r1 runs: no warm tag.
    assert_eq!(web["rollback_to"], "r1", "{view}");
    assert_eq!(web["warm"], Json::Null, "{view}");
    assert_eq!(view["agent_problem"], Json::Null, "{view}");
    // The server allows no rollback from the page: the button says so.
    assert!(
        web["rollback_off"]
            .as_str()
            .is_some_and(|why| why.contains("--dashboard-rollback")),
        "{view}"
    );

    // A local service beside it has a proxy: then its silence is said.
    let local: ServiceKey = "shop/web".parse().expect("a key");
    two_releases(&releases, &local);
    let view = services(app).await;
    let shop = view["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == "shop/web")
        .cloned()
        .expect("shop/web");
    assert_eq!(shop["warm"], "r1", "{view}");
    assert_eq!(shop["rollback_to"], "r1", "{view}");
    assert!(
        view["agent_problem"]
            .as_str()
            .is_some_and(|p| p.contains("proxy daemon")),
        "{view}"
    );
    sampling.abort();
}

/// An agent that reaches a Swarm manager: of the app's Swarm (`off` is
/// `None`) or not (`off` says why).
struct AtManager {
    off: Option<String>,
}

#[async_trait::async_trait]
impl Agent for AtManager {
    async fn traffic(&self) -> Result<Vec<ReleaseTraffic>, String> {
        Ok(Vec::new())
    }
    async fn rollback(&self, what: &Rollback, _by: &str) -> Result<String, String> {
        Ok(format!("arn:swarm-rollback:{what}"))
    }
    async fn gate(&self, app: &str, answer: Answer, _by: &str) -> Result<Answered, String> {
        Err(format!("not here: {answer} of {app}"))
    }
    async fn swarm_rollback_off(&self, app: &str) -> Option<String> {
        self.off.as_ref().map(|why| format!("{app}: {why}"))
    }
}

/// The rollback buttons of a Swarm app follow what the agent says of its
/// manager: on at the app's Swarm, off with the agent's reason otherwise.
#[tokio::test]
async fn a_swarm_apps_rollback_is_offered_when_the_server_reaches_its_swarm() {
    for (off, expected) in [
        (None, Json::Null),
        (
            Some("another Swarm's manager".to_owned()),
            Json::from("shop.production: another Swarm's manager"),
        ),
    ] {
        let view = swarm_view(Arc::new(AtManager { off })).await;
        assert_eq!(view["services"][0]["rollback_off"], expected, "{view}");
        assert_eq!(view["apps"][0]["rollback_off"], expected, "{view}");
    }
}

/// A Swarm app's two releases and the page's view of it, with `agent`.
async fn swarm_view(agent: Arc<dyn Agent>) -> Json {
    let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
    let key: ServiceKey = "shop.production/web".parse().expect("a key");
    two_releases(&releases, &key);
    for (n, id) in ["r1", "r2"].iter().enumerate() {
        releases
            .set_execution(
                &key,
                id,
                &format!("arn:aws:states:local:000000000000:execution:windlass-swarm-app-deploy:shop.production-{n}"),
            )
            .expect("execution");
    }
    for n in 1..=2 {
        let app = releases
            .create_app(NewAppRelease {
                app: "shop.production".into(),
                services: vec![Member {
                    service: "web".into(),
                    release: format!("r{n}"),
                    changed: true,
                }],
                by: "test".into(),
                created_millis: n,
            })
            .expect("app release");
        releases
            .set_app_outcome("shop.production", &app.id, Outcome::Live, None, None)
            .expect("live");
    }
    let dashboard = Dashboard::new(
        Config {
            allow_rollback: true,
            ..Config::default()
        },
        Sources {
            executions: Arc::new(MemoryStore::new()),
            machines: None,
            deploys: Some(Deploys {
                executions: Arc::new(MemoryStore::new()),
                releases,
                agent,
            }),
        },
    );
    let (status, _, body) = send(&router(dashboard), get("/ui/api/services", None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

#[tokio::test]
async fn a_swarm_app_without_a_manager_keeps_its_rollback_button_off() {
    let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
    let key: ServiceKey = "shop.production/web".parse().expect("a key");
    two_releases(&releases, &key);
    for (n, id) in ["r1", "r2"].iter().enumerate() {
        releases
            .set_execution(
                &key,
                id,
                &format!("arn:aws:states:local:000000000000:execution:windlass-swarm-app-deploy:shop.production-{n}"),
            )
            .expect("execution");
    }
    releases
        .create_app(NewAppRelease {
            app: "shop.production".into(),
            services: vec![Member {
                service: "web".into(),
                release: "r2".into(),
                changed: true,
            }],
            by: "test".into(),
            created_millis: 2,
        })
        .expect("app release");
    let dashboard = Dashboard::new(
        Config {
            allow_rollback: true,
            ..Config::default()
        },
        Sources {
            executions: Arc::new(MemoryStore::new()),
            machines: None,
            deploys: Some(Deploys {
                executions: Arc::new(MemoryStore::new()),
                releases: releases.clone(),
                agent: Arc::new(NoProxy::default()),
            }),
        },
    );
    let app = router(dashboard);
    let (status, _, body) = send(&app, get("/ui/api/services", None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view: Json = serde_json::from_str(&body).expect("JSON");
    let web = &view["services"][0];
    assert_eq!(web["service"], "shop.production/web", "{view}");
    assert_eq!(web["target"], "swarm", "{view}");
    assert_eq!(web["environment"], "production", "{view}");
    assert_eq!(web["rollback_to"], "r1", "{view}");
    assert_eq!(
        web["releases"][0]["execution"],
        "arn:aws:states:local:000000000000:execution:windlass-swarm-app-deploy:shop.production-1",
        "its deploys' executions are linked: {view}"
    );
    assert!(
        web["rollback_off"]
            .as_str()
            .is_some_and(|why| why.contains("windlass rollback --target swarm")),
        "{view}"
    );
    let shop = &view["apps"][0];
    assert_eq!(shop["target"], "swarm", "{view}");
    // One app release: nothing to go back to, whatever the manager.
    assert!(
        shop["rollback_off"]
            .as_str()
            .is_some_and(|why| why.contains("nothing to roll back to")),
        "{view}"
    );
    assert_eq!(
        view["agent_problem"],
        Json::Null,
        "no proxy to miss: {view}"
    );
}

#[tokio::test]
async fn log_out_is_offered_only_where_there_is_a_login() {
    let Setup { app, .. } = setup(false);
    let cookie = log_in(&app).await;
    let (status, _, body) = send(&app, get("/ui/", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Log out"), "{body}");
    let open = router(Dashboard::new(
        Config::default(),
        Sources {
            executions: Arc::new(MemoryStore::new()),
            machines: None,
            deploys: None,
        },
    ));
    let (status, _, body) = send(&open, get("/ui/", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("Log out"), "{body}");
    assert!(body.contains("id=\"main\""), "{body}");
}

#[test]
fn a_long_release_detail_wraps_inside_its_cell() {
    // The page puts each release's detail in a div.detail that the style
    // sheet keeps narrow and scrolls: an ECS answer of kilobytes on one
    // line must not widen the page (it made it 3,000 px wide).
    let script = include_str!("../assets/app.js");
    let style = include_str!("../assets/style.css");
    assert_eq!(
        script
            .matches(r#"el("div", { class: "detail" }, r.detail"#)
            .count(),
        2
    );
    let rule = style
        .lines()
        .find(|l| l.starts_with("table.releases div.detail"))
        .expect("a rule for the detail");
    for needed in ["max-width", "overflow-wrap: anywhere", "overflow: auto"] {
        assert!(rule.contains(needed), "{rule}");
    }
}

/// App `app`'s web: one release from `text`, live, in a live app release.
fn live_web(releases: &SqliteReleases, app: &str, text: &str) {
    let key = ServiceKey::new(app, "web").expect("a key");
    let release = releases
        .create(NewRelease {
            service: key.clone(),
            compose_file: "compose.yaml".into(),
            compose_text: text.into(),
            by: "test".into(),
            created_millis: 1,
            fingerprint: None,
        })
        .expect("release");
    releases
        .set_image(&key, &release.id, "tag", "sha256:5eed")
        .expect("image");
    let app_release = releases
        .create_app(NewAppRelease {
            app: app.into(),
            services: vec![Member {
                service: "web".into(),
                release: release.id.clone(),
                changed: true,
            }],
            by: "test".into(),
            created_millis: 1,
        })
        .expect("app release");
    releases
        .set_app_outcome(app, &app_release.id, Outcome::Live, None, None)
        .expect("app outcome");
    releases
        .set_outcome(&key, &release.id, Outcome::Live, None, None)
        .expect("outcome");
    releases
        .set_live(&Live {
            service: key,
            release: release.id,
            address: String::new(),
            upstreams: Vec::new(),
            ports: Vec::new(),
            since_millis: 1,
        })
        .expect("live");
}

#[tokio::test]
async fn an_apps_environments_show_which_digest_runs_where() {
    let Setup { app, releases, .. } = setup(false);
    live_web(
        &releases,
        "shop.staging",
        "name: shop\nservices: {web: {image: w}}\n",
    );
    live_web(
        &releases,
        "shop.production",
        "name: shop\nservices: {web: {image: 'sha256:5eed'}}\nx-windlass-origin: {environment: staging, app: shop.staging, app_release: a1, services: {web: {release: r1, digest: 'sha256:5eed', image: 'sha256:5eed'}}}\n",
    );
    let cookie = log_in(&app).await;
    let (status, _, body) = send(&app, get("/ui/api/services", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view: Json = serde_json::from_str(&body).expect("JSON");
    let apps = view["apps"].as_array().expect("apps");
    let environments: Vec<(&str, &str)> = apps
        .iter()
        .map(|a| {
            (
                a["base"].as_str().unwrap_or_default(),
                a["environment"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        environments,
        [("shop", "production"), ("shop", "staging")],
        "{view}"
    );
    let production = apps
        .iter()
        .find(|a| a["environment"] == "production")
        .expect("production");
    assert_eq!(
        production["releases"][0]["origin"]["environment"],
        "staging"
    );
    let web = view["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == "shop.production/web")
        .cloned()
        .expect("production's web");
    assert_eq!(web["environment"], "production", "{view}");
    assert_eq!(web["releases"][0]["digest"], "sha256:5eed", "{view}");
    assert_eq!(
        web["releases"][0]["origin"]["services"]["web"]["release"], "r1",
        "{view}"
    );
}
