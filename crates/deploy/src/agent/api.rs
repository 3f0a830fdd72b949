//! The agent's control API on axum: [`app`] routes the [`contract`]'s
//! requests to the [`Agent`]; [`Client`] is the CLI's side. The address is
//! written to the state folder's `agent.addr` so that the CLI finds it.
//! Only the agent changes what runs; the CLI asks it here.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};

use super::contract::{
    self, DeployRequest, DownReport, DownRequest, ErrorBody, ErrorKind, ExecutionQuery,
    ExecutionView, PlanView, RollbackRequest, ServiceStatus, Started, StatusView, Traffic,
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
        .fallback(|| async {
            Refusal(ErrorBody {
                kind: ErrorKind::NotFound,
                message: "no such route in the windlass agent's API".into(),
                execution: None,
            })
        })
        .with_state(agent)
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(agent: Agent, listener: TcpListener) {
    if let Err(e) = axum::serve(listener, app(agent)).await {
        tracing::error!(%e, "the agent API stopped");
    }
}

async fn deploy(
    State(agent): State<Agent>,
    body: Result<Json<DeployRequest>, JsonRejection>,
) -> Result<Json<Vec<Started>>, Refusal> {
    let Json(request) = body.map_err(Refusal::body)?;
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
    body: Result<Json<RollbackRequest>, JsonRejection>,
) -> Result<Json<Vec<Started>>, Refusal> {
    let Json(request) = body.map_err(Refusal::body)?;
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

async fn status(State(agent): State<Agent>) -> Result<Json<StatusView>, Refusal> {
    Ok(Json(status_view(&agent).await?))
}

/// Every service with a live release or a proxy, with its proxy's counters.
async fn status_view(agent: &Agent) -> Result<StatusView, Error> {
    let mut services: Vec<ServiceStatus> = Vec::new();
    for live in agent.releases().all_live()? {
        services.push(ServiceStatus {
            lock: agent.releases().lock_of(&live.service)?,
            address: Some(live.address).filter(|a| !a.is_empty()),
            service: live.service,
            live: Some(live.release),
            upstreams: live.upstreams,
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
        entry.address = Some(proxy.address.to_string());
        entry.live = proxy.live.as_ref().map(|(id, _)| id.clone());
        entry.upstreams = proxy
            .live
            .map(|(_, upstreams)| upstreams.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        entry.traffic = traffic;
    }
    services.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(StatusView {
        pid: Some(std::process::id()),
        services,
    })
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
        "cannot reach the windlass agent on {address}: {message}; is `windlass agent` running?"
    )]
    Unreachable {
        address: SocketAddr,
        message: String,
    },
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

/// The CLI's side of the API.
#[derive(Debug, Clone)]
pub struct Client {
    address: SocketAddr,
}

impl Client {
    pub fn new(address: SocketAddr) -> Client {
        Client { address }
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
        let unreachable = |e: &dyn std::fmt::Display| ClientError::Unreachable {
            address: self.address,
            message: e.to_string(),
        };
        let body = match body {
            Some(body) => {
                serde_json::to_vec(body).map_err(|e| ClientError::Unexpected(e.to_string()))?
            }
            None => Vec::new(),
        };
        let stream = TcpStream::connect(self.address)
            .await
            .map_err(|e| unreachable(&e))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.address.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
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
    async fn status_lists_services_without_a_proxy_too() {
        let agent = agent();
        agent
            .releases()
            .set_live(&Live {
                service: "nowhere/worker".parse().expect("a key"),
                release: "r2".into(),
                address: String::new(),
                upstreams: Vec::new(),
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
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(serve(agent(), listener));
        let client = Client::new(address);
        let status = client.status().await.expect("status");
        assert!(status.services.is_empty());
        let refused = client
            .rollback(&RollbackRequest {
                service: Some("web".into()),
                app: None,
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
    }
}
