//! The agent's control API on axum: [`app`] routes the [`contract`]'s
//! requests to the [`Agent`]; [`Client`] is the CLI's side. It is served on
//! the unix socket `agent.sock` of the state folder ([`super::socket_file`]),
//! which only the agent's own user and root reach
//! ([`windlass_proxy::owner`]); who deploys is the connection's user, as the
//! kernel tells it, never what the request says. Only the agent changes
//! what runs; the CLI asks it here.

use std::path::{Path, PathBuf};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hyper::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixListener;
use windlass_proxy::owner::{self, Peer};

use super::contract::{
    self, DeployRequest, DownReport, DownRequest, ErrorBody, ErrorKind, ExecutionQuery,
    ExecutionView, GateAnswer, GateRequest, PlanView, RollbackRequest, ServiceStatus, Started,
    StatusView, Traffic,
};
use super::{execution_view, Agent, Error};

/// The API's routes over `agent`.
pub fn app(agent: Agent) -> Router {
    Router::new()
        .route(contract::DEPLOY, post(deploy))
        .route(contract::PLAN, post(plan))
        .route(contract::ROLLBACK, post(rollback))
        .route(contract::EXECUTIONS, get(execution))
        .route(contract::STATUS, get(status))
        .route(contract::DOWN, post(down))
        .route(contract::GATE, post(gate))
        .fallback(|| async {
            Refusal(ErrorBody {
                kind: ErrorKind::NotFound,
                message: "no such route in the windlass agent's API".into(),
                execution: None,
            })
        })
        .with_state(agent)
}

/// Only the rollout's gate over `agent` (a Swarm deploy's process, which
/// answers `approve`, `promote` and `abort` while its deploy runs).
pub fn gate_app(agent: Agent) -> Router {
    Router::new()
        .route(contract::GATE, post(gate))
        .fallback(|| async {
            Refusal(ErrorBody {
                kind: ErrorKind::NotFound,
                message: "a Swarm deploy's process answers only approve, promote and abort".into(),
                execution: None,
            })
        })
        .with_state(agent)
}

/// Serves [`gate_app`] on `listener` until `shutdown` completes.
pub async fn serve_gate<F>(agent: Agent, listener: UnixListener, shutdown: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    owner::serve(listener, gate_app(agent), owner::HEADER_TIMEOUT, shutdown).await;
}

/// Listens on the agent's socket `path` (a stale one replaced, a live one
/// refused).
pub async fn bind(path: &Path) -> Result<UnixListener, owner::Error> {
    owner::bind(path).await
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(agent: Agent, listener: UnixListener) {
    owner::serve(
        listener,
        app(agent),
        owner::HEADER_TIMEOUT,
        std::future::pending(),
    )
    .await;
}

/// Who a release records as its deployer: the connection's user on this
/// host, and whom it says it acts for when that is someone else (the
/// dashboard acts for its signed-in users).
pub fn recorded_by(peer: &Peer, claimed: &str) -> String {
    let caller = format!("{}@{}", peer.user_name(), crate::holder::host_name());
    let claimed = claimed.trim();
    if claimed.is_empty() || claimed == caller {
        caller
    } else {
        format!("{caller} for {claimed}")
    }
}

async fn deploy(
    State(agent): State<Agent>,
    Extension(peer): Extension<Peer>,
    body: Result<Json<DeployRequest>, JsonRejection>,
) -> Result<Json<Vec<Started>>, Refusal> {
    let Json(mut request) = body.map_err(Refusal::body)?;
    request.by = recorded_by(&peer, &request.by);
    Ok(Json(agent.deploy(request).await?))
}

async fn plan(
    State(agent): State<Agent>,
    body: Result<Json<DeployRequest>, JsonRejection>,
) -> Result<Json<PlanView>, Refusal> {
    let Json(request) = body.map_err(Refusal::body)?;
    Ok(Json(agent.plan(request).await?))
}

async fn rollback(
    State(agent): State<Agent>,
    Extension(peer): Extension<Peer>,
    body: Result<Json<RollbackRequest>, JsonRejection>,
) -> Result<Json<Vec<Started>>, Refusal> {
    let Json(mut request) = body.map_err(Refusal::body)?;
    request.by = recorded_by(&peer, &request.by);
    Ok(Json(agent.rollback(request).await?))
}

async fn execution(
    State(agent): State<Agent>,
    Query(query): Query<ExecutionQuery>,
) -> Result<Json<ExecutionView>, Refusal> {
    match execution_view(agent.runtime().store().as_ref(), &query.arn, query.after) {
        Ok(Some(mut view)) => {
            view.notes = agent.notes_of(&query.arn)?;
            Ok(Json(view))
        }
        Ok(None) => Err(Refusal(ErrorBody {
            kind: ErrorKind::NotFound,
            message: format!("no execution {}", query.arn),
            execution: None,
        })),
        Err(e) => Err(Error::Store(e).into()),
    }
}

async fn down(
    State(agent): State<Agent>,
    body: Result<Json<DownRequest>, JsonRejection>,
) -> Result<Json<DownReport>, Refusal> {
    let Json(request) = body.map_err(Refusal::body)?;
    Ok(Json(agent.down(request).await?))
}

async fn gate(
    State(agent): State<Agent>,
    body: Result<Json<GateRequest>, JsonRejection>,
) -> Result<Json<GateAnswer>, Refusal> {
    let Json(request) = body.map_err(Refusal::body)?;
    Ok(Json(agent.gate(request).await?))
}

async fn status(State(agent): State<Agent>) -> Result<Json<StatusView>, Refusal> {
    Ok(Json(status_view(&agent).await?))
}

/// Every service with a live release or a proxy, with its proxy's counters.
async fn status_view(agent: &Agent) -> Result<StatusView, Error> {
    let mut services: Vec<ServiceStatus> = Vec::new();
    for live in agent.releases().all_live()? {
        services.push(ServiceStatus {
            lock: agent.releases().lock_of(&live.service)?,
            address: live.listening(),
            upstreams: live.upstream_lines(),
            service: live.service,
            live: Some(live.release),
            traffic: None,
        });
    }
    let proxies = agent.proxies().all().await.map_err(Error::Restore)?;
    for proxy in proxies {
        let traffic = proxy.traffic.map(|t| Traffic {
            requests: t.requests,
            server_errors: t.server_errors,
            in_flight: t.in_flight,
        });
        let entry = match services.iter_mut().find(|s| s.service == proxy.service) {
            Some(entry) => entry,
            None => {
                services.push(ServiceStatus {
                    lock: agent.releases().lock_of(&proxy.service)?,
                    service: proxy.service.clone(),
                    address: None,
                    live: None,
                    upstreams: Vec::new(),
                    traffic: None,
                });
                services
                    .last_mut()
                    .ok_or(Error::Restore("no service".into()))?
            }
        };
        entry.address = Some(proxy.listening());
        entry.live = proxy.live.as_ref().map(|l| l.release.clone());
        entry.upstreams = proxy
            .live
            .map(|l| upstream_lines(&l.upstreams))
            .unwrap_or_default();
        entry.traffic = traffic;
    }
    services.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(StatusView {
        pid: Some(std::process::id()),
        services,
        build: super::Build::current(),
        // systemd gives every unit it runs an invocation id.
        supervised: std::env::var_os("INVOCATION_ID").is_some(),
    })
}

/// Each upstream with the container port it serves, `80/tcp=127.0.0.1:32768`
/// (bare for a one-port service of before ports were named).
fn upstream_lines(
    upstreams: &std::collections::BTreeMap<String, Vec<std::net::SocketAddr>>,
) -> Vec<String> {
    upstreams
        .iter()
        .flat_map(|(port, addresses)| {
            addresses.iter().map(move |a| match port.as_str() {
                "" => a.to_string(),
                port => format!("{port}={a}"),
            })
        })
        .collect()
}

/// An [`ErrorBody`] as a response.
#[derive(Debug)]
struct Refusal(ErrorBody);

impl Refusal {
    fn body(rejection: JsonRejection) -> Refusal {
        Refusal(ErrorBody {
            kind: ErrorKind::Refused,
            message: format!("bad request body: {}", rejection.body_text()),
            execution: None,
        })
    }
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Refusal {
        let kind = match error {
            Error::Locked { .. } => ErrorKind::Busy,
            Error::Store(_) | Error::Runtime(_) | Error::Restore(_) | Error::Backend(_) => {
                ErrorKind::Internal
            }
            _ => ErrorKind::Refused,
        };
        let execution = match &error {
            Error::Locked { holder, .. } => Some(holder.clone()),
            _ => None,
        };
        Refusal(ErrorBody {
            kind,
            message: error.to_string(),
            execution,
        })
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

/// Why a call to the agent did not give an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the windlass agent on {}: {message}; is `windlass agent` running?",
        socket.display()
    )]
    Unreachable { socket: PathBuf, message: String },
    /// The agent answered with a refusal.
    #[error("{}", .0.message)]
    Refused(ErrorBody),
    #[error("the windlass agent answered something unexpected: {0}")]
    Unexpected(String),
}

impl ClientError {
    /// The refusal's kind; `Internal` for anything that is not one.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Refused(body) => body.kind,
            _ => ErrorKind::Internal,
        }
    }
}

/// The CLI's side of the API: each call one connection to the agent's
/// socket, made only once the kernel said the agent runs as this user or
/// as root.
#[derive(Debug, Clone)]
pub struct Client {
    socket: owner::Client,
}

impl Client {
    /// A client of the agent whose socket is `socket`.
    pub fn new(socket: PathBuf) -> Client {
        Client {
            socket: owner::Client::new(socket),
        }
    }

    pub async fn deploy(&self, request: &DeployRequest) -> Result<Vec<Started>, ClientError> {
        self.send(Method::POST, contract::DEPLOY, Some(request))
            .await
    }

    pub async fn plan(&self, request: &DeployRequest) -> Result<PlanView, ClientError> {
        self.send(Method::POST, contract::PLAN, Some(request)).await
    }

    pub async fn rollback(&self, request: &RollbackRequest) -> Result<Vec<Started>, ClientError> {
        self.send(Method::POST, contract::ROLLBACK, Some(request))
            .await
    }

    pub async fn execution(&self, arn: &str, after: u64) -> Result<ExecutionView, ClientError> {
        let query = ExecutionQuery {
            arn: arn.to_owned(),
            after,
        };
        let query = serde_urlencoded(&query);
        let path = format!("{}?{query}", contract::EXECUTIONS);
        self.send::<(), _>(Method::GET, &path, None).await
    }

    pub async fn down(&self, request: &DownRequest) -> Result<DownReport, ClientError> {
        self.send(Method::POST, contract::DOWN, Some(request)).await
    }

    /// Approves, promotes or aborts an app's rollout.
    pub async fn gate(&self, request: &GateRequest) -> Result<GateAnswer, ClientError> {
        self.send(Method::POST, contract::GATE, Some(request)).await
    }

    pub async fn status(&self) -> Result<StatusView, ClientError> {
        self.send::<(), _>(Method::GET, contract::STATUS, None)
            .await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let body = match body {
            Some(body) => {
                serde_json::to_vec(body).map_err(|e| ClientError::Unexpected(e.to_string()))?
            }
            None => Vec::new(),
        };
        let (status, bytes) =
            self.socket
                .send(method, path, body)
                .await
                .map_err(|e| ClientError::Unreachable {
                    socket: self.socket.path().to_owned(),
                    message: e.to_string(),
                })?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => ClientError::Refused(body),
                Err(_) => ClientError::Unexpected(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes)
                )),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected(e.to_string()))
    }
}

/// `arn=...&after=N`, percent-encoded.
fn serde_urlencoded(query: &ExecutionQuery) -> String {
    format!("arn={}&after={}", percent(&query.arn), query.after)
}

fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use windlass_store::memory::MemoryStore;
    use windlass_store::releases::{Live, SqliteReleases};

    use super::*;
    use crate::test_util::FakeBackend;

    fn agent() -> Agent {
        Agent::new(
            Arc::new(MemoryStore::new()),
            Arc::new(SqliteReleases::in_memory().expect("releases")),
            Arc::new(FakeBackend::new()),
            crate::workflow::Config::default(),
        )
    }

    async fn call(agent: &Agent, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .extension(Peer::this_process())
            .body(Body::from(body.to_owned()))
            .expect("request");
        let response = app(agent.clone()).oneshot(request).await.expect("answer");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, bytes.to_vec())
    }

    fn refusal(bytes: &[u8]) -> ErrorBody {
        serde_json::from_slice(bytes).expect("an ErrorBody")
    }

    #[tokio::test]
    async fn refusals_are_typed_with_their_kind() {
        let agent = agent();
        let (status, body) = call(&agent, "GET", "/v2/nothing", "").await;
        assert_eq!(status, 404);
        assert_eq!(refusal(&body).kind, ErrorKind::NotFound);

        let (status, body) = call(&agent, "POST", contract::DEPLOY, "[1]").await;
        assert_eq!(status, 400);
        let body = refusal(&body);
        assert_eq!(body.kind, ErrorKind::Refused);
        assert!(
            body.message.starts_with("bad request body"),
            "{}",
            body.message
        );

        let request = r#"{"service":"web","by":"me@here"}"#;
        let (status, body) = call(&agent, "POST", contract::ROLLBACK, request).await;
        assert_eq!(status, 400);
        assert_eq!(
            refusal(&body).message,
            "no app deployed here has a service web (see windlass status)"
        );

        let (status, body) = call(&agent, "GET", "/v1/executions?arn=nope&after=0", "").await;
        assert_eq!(status, 404);
        assert_eq!(refusal(&body).message, "no execution nope");
    }

    #[tokio::test]
    async fn a_rollback_of_a_name_two_apps_share_is_refused_with_the_choices() {
        let agent = agent();
        for app in ["shop", "blog"] {
            agent
                .releases()
                .create(windlass_store::releases::NewRelease {
                    service: windlass_store::releases::ServiceKey::new(app, "web").expect("a key"),
                    compose_file: "compose.yaml".into(),
                    compose_text: String::new(),
                    by: "test".into(),
                    created_millis: 1,
                    fingerprint: None,
                })
                .expect("release");
        }
        let request = r#"{"service":"web","by":"me@here"}"#;
        let (status, body) = call(&agent, "POST", contract::ROLLBACK, request).await;
        assert_eq!(status, 400);
        let body = refusal(&body);
        assert_eq!(body.kind, ErrorKind::Refused, "the CLI's exit code 7");
        assert!(
            body.message.contains("blog/web") && body.message.contains("shop/web"),
            "{}",
            body.message
        );
        // Named with its app, it is that app's web (which has nothing live).
        let request = r#"{"service":"web","app":"shop","by":"me@here"}"#;
        let (status, body) = call(&agent, "POST", contract::ROLLBACK, request).await;
        assert_eq!(status, 400);
        assert_eq!(
            refusal(&body).message,
            "service shop/web has no live release to roll back from"
        );
    }

    #[tokio::test]
    async fn status_lists_services_without_a_proxy_too() {
        let agent = agent();
        agent
            .releases()
            .set_live(&Live {
                service: "nowhere/worker".parse().expect("a key"),
                release: "r2".into(),
                address: String::new(),
                upstreams: Vec::new(),
                ports: Vec::new(),
                since_millis: 1,
            })
            .expect("live");
        let (status, body) = call(&agent, "GET", contract::STATUS, "").await;
        assert_eq!(status, 200);
        let view: StatusView = serde_json::from_slice(&body).expect("a StatusView");
        assert_eq!(view.pid, Some(std::process::id()));
        assert_eq!(
            view.services,
            vec![ServiceStatus {
                service: "nowhere/worker".parse().expect("a key"),
                address: None,
                live: Some("r2".into()),
                upstreams: Vec::new(),
                traffic: None,
                lock: None,
            }]
        );
    }

    #[tokio::test]
    async fn the_client_reads_what_the_server_writes() {
        let dir = std::env::temp_dir().join(format!("windlass-agent-api-{}", std::process::id()));
        owner::private_dir(&dir).expect("state folder");
        let socket = dir.join("agent.sock");
        let listener = bind(&socket).await.expect("bind");
        tokio::spawn(serve(agent(), listener));
        let client = Client::new(socket.clone());
        let status = client.status().await.expect("status");
        assert!(status.services.is_empty());
        let refused = client
            .rollback(&RollbackRequest {
                service: Some("web".into()),
                app: None,
                here: None,
                release: None,
                by: "me@here".into(),
            })
            .await
            .expect_err("nothing live");
        assert_eq!(refused.kind(), ErrorKind::Refused);
        let missing = client
            .execution("arn:aws:states:x", 0)
            .await
            .expect_err("none");
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        assert!(
            matches!(bind(&socket).await, Err(owner::Error::InUse(_))),
            "a second agent cannot take the socket of one that answers"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_release_records_the_connections_user_not_the_one_the_request_names() {
        let backend = Arc::new(FakeBackend::new());
        backend.add_image("web:1");
        let agent = Agent::new(
            Arc::new(MemoryStore::new()),
            Arc::new(SqliteReleases::in_memory().expect("releases")),
            backend,
            crate::workflow::Config::default(),
        );
        agent.resume().await.expect("resume");
        let request = DeployRequest {
            compose_file: "/nowhere/compose.yaml".into(),
            compose_text: "services:\n  web:\n    image: web:1\n    x-windlass: {watch: 0s}\n"
                .into(),
            by: "root@elsewhere".into(),
            ..DeployRequest::default()
        };
        let nobody = Peer {
            uid: 65534,
            gid: 65534,
            pid: None,
        };
        let call = axum::http::Request::builder()
            .method("POST")
            .uri(contract::DEPLOY)
            .header("content-type", "application/json")
            .extension(nobody)
            .body(Body::from(serde_json::to_vec(&request).expect("json")))
            .expect("request");
        let answer = app(agent.clone()).oneshot(call).await.expect("answer");
        assert_eq!(answer.status(), 200);
        let release = agent
            .releases()
            .get(
                &windlass_store::releases::ServiceKey::new("nowhere", "web").expect("key"),
                "r1",
            )
            .expect("read")
            .expect("r1 recorded");
        let host = crate::holder::host_name();
        assert_eq!(
            release.by,
            format!("{}@{host} for root@elsewhere", nobody.user_name())
        );
    }

    #[test]
    fn the_recorded_deployer_is_the_connections_user() {
        let root = Peer {
            uid: 0,
            gid: 0,
            pid: None,
        };
        let host = crate::holder::host_name();
        assert_eq!(recorded_by(&root, ""), format!("root@{host}"));
        assert_eq!(
            recorded_by(&root, &format!("root@{host}")),
            format!("root@{host}")
        );
        assert_eq!(
            recorded_by(&root, "mallory@elsewhere"),
            format!("root@{host} for mallory@elsewhere")
        );
    }
}
