//! What the server's tests share: a server over a memory store, and
//! requests sent through `Router::oneshot`.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value as Json};
use tower::ServiceExt;
use windlass_runtime::{Clock, SystemClock};
use windlass_server::sigv4::AccessKey;
use windlass_server::{app, Config, Server};
use windlass_store::memory::MemoryStore;

/// The configuration the tests start from: no keys, a short activity wait.
pub fn config() -> Config {
    Config {
        activity_wait: Duration::from_millis(200),
        ..Config::default()
    }
}

pub fn server_with(config: Config, clock: Arc<dyn Clock>) -> Arc<Server> {
    let invokers = windlass_server::integrations::invokers();
    Arc::new(Server::new(
        Arc::new(MemoryStore::new()),
        invokers,
        clock,
        config,
    ))
}

pub fn server(keys: Vec<AccessKey>) -> Arc<Server> {
    server_with(
        Config {
            access_keys: keys,
            ..config()
        },
        Arc::new(SystemClock),
    )
}

/// The response's status and body text.
pub async fn call_text(server: &Arc<Server>, request: Request<Body>) -> (StatusCode, String) {
    let response = app(server.clone())
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The response's status and body, as JSON (`{"raw": TEXT}` when it is not).
pub async fn call(server: &Arc<Server>, request: Request<Body>) -> (StatusCode, Json) {
    let (status, text) = call_text(server, request).await;
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    (status, body)
}

/// A request body as the protocol sends it: `POST /` with the target header.
pub fn raw_request(action: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post("/")
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("AWSStepFunctions.{action}"))
        .body(body.into())
        .expect("request")
}

pub fn request(action: &str, body: &Json) -> Request<Body> {
    raw_request(action, body.to_string())
}
