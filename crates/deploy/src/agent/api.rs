//! The agent's control API: JSON over HTTP/1.1 on a loopback port, written
//! to the state folder's `agent.addr` so that the CLI finds it. Only the
//! agent changes what runs; the CLI asks it here.
//!
//! - `POST /v1/deploy` ([`super::DeployRequest`]) -> `[Started]`
//! - `POST /v1/rollback` ([`super::RollbackRequest`]) -> `Started`
//! - `GET /v1/executions?arn=ARN&after=N` -> [`super::ExecutionView`]
//! - `GET /v1/status` -> the services this agent serves

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value as Json};
use tokio::net::{TcpListener, TcpStream};

use super::{execution_view, Agent, DeployRequest, Error, RollbackRequest};

/// Serves the API on `listener` until the process ends.
pub async fn serve(agent: Agent, listener: TcpListener) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(%e, "the agent API cannot accept");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let agent = agent.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(agent.clone(), request));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%e, "agent API connection ended with an error");
            }
        });
    }
}

async fn handle(
    agent: Agent,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return Ok(answer(
                StatusCode::BAD_REQUEST,
                &json!({ "error": e.to_string() }),
            ))
        }
    };
    let result = match (method, path.as_str()) {
        (Method::POST, "/v1/deploy") => match parse::<DeployRequest>(&body) {
            Ok(request) => agent.deploy(request).await.map(|s| json!(s)),
            Err(e) => return Ok(*e),
        },
        (Method::POST, "/v1/rollback") => match parse::<RollbackRequest>(&body) {
            Ok(request) => agent.rollback(request).await.map(|s| json!(s)),
            Err(e) => return Ok(*e),
        },
        (Method::GET, "/v1/executions") => {
            let arn = param(&query, "arn").unwrap_or_default();
            let after = param(&query, "after")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            match execution_view(agent.runtime().store().as_ref(), &arn, after) {
                Ok(Some(view)) => Ok(json!(view)),
                Ok(None) => {
                    return Ok(answer(
                        StatusCode::NOT_FOUND,
                        &json!({ "error": format!("no execution {arn}") }),
                    ))
                }
                Err(e) => Err(Error::Store(e)),
            }
        }
        (Method::GET, "/v1/status") => status(&agent),
        _ => {
            return Ok(answer(
                StatusCode::NOT_FOUND,
                &json!({ "error": format!("no route {path}") }),
            ))
        }
    };
    Ok(match result {
        Ok(value) => answer(StatusCode::OK, &value),
        Err(e) => {
            let status = match e {
                Error::Locked { .. } => StatusCode::CONFLICT,
                Error::Store(_) | Error::Runtime(_) | Error::Restore(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::BAD_REQUEST,
            };
            answer(status, &json!({ "error": e.to_string() }))
        }
    })
}

fn status(agent: &Agent) -> Result<Json, Error> {
    let mut services = Vec::new();
    for (service, proxy) in agent.proxies().all() {
        let live = proxy.live();
        let stats = live.as_ref().and_then(|l| proxy.stats(&l.id));
        services.push(json!({
            "service": service,
            "address": proxy.local_addr().to_string(),
            "live": live.as_ref().map(|l| l.id.clone()),
            "upstreams": live.map(|l| l.upstreams.iter().map(ToString::to_string).collect::<Vec<_>>()).unwrap_or_default(),
            "requests": stats.as_ref().map_or(0, |s| s.requests),
            "server_errors": stats.as_ref().map_or(0, |s| s.server_errors),
            "in_flight": stats.as_ref().map_or(0, |s| s.in_flight),
            "lock": agent.releases().lock_of(&service)?,
        }));
    }
    Ok(json!({ "pid": std::process::id(), "services": services }))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response<Full<Bytes>>>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(answer(
            StatusCode::BAD_REQUEST,
            &json!({ "error": format!("bad request body: {e}") }),
        ))
    })
}

fn param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
}

fn answer(status: StatusCode, value: &impl Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
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

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        self.send(Method::POST, path, body).await
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        self.send(Method::GET, path, Vec::new()).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, String> {
        let unreachable = |e: &dyn std::fmt::Display| {
            format!(
                "cannot reach the windlass agent on {}: {e}; is `windlass agent` running?",
                self.address
            )
        };
        let stream = TcpStream::connect(self.address)
            .await
            .map_err(|e| unreachable(&e))?;
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
            .map_err(|e| e.to_string())?;
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
            let message = serde_json::from_slice::<Json>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(Json::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(message);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("the agent answered something unexpected: {e}"))
    }
}
