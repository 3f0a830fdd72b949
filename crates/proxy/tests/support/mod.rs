//! In-process upstream servers and a keep-alive client for proxy tests and benches.
#![allow(dead_code)]

pub mod raw;
pub mod tcp;
pub mod udp;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

/// An upstream answering `GET /` with its version. `/fail` answers 500,
/// `/echo` answers the request body, `/headers` the request target and
/// headers it received, and `/gate` first reports its arrival
/// on `arrivals` and then waits for a permit on `gate`.
pub struct Upstream {
    pub addr: SocketAddr,
    pub gate: Arc<Semaphore>,
    pub arrivals: mpsc::UnboundedReceiver<()>,
}

pub async fn upstream(version: &'static str) -> Upstream {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    let gate = Arc::new(Semaphore::new(0));
    let (arrived, arrivals) = mpsc::unbounded_channel();
    let task_gate = Arc::clone(&gate);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let gate = Arc::clone(&task_gate);
            let arrived = arrived.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let gate = Arc::clone(&gate);
                    let arrived = arrived.clone();
                    async move {
                        let path = request.uri().path().to_owned();
                        let (status, body) = match path.as_str() {
                            "/fail" => (
                                StatusCode::INTERNAL_SERVER_ERROR,
                                Bytes::from_static(b"boom"),
                            ),
                            "/echo" => {
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|c| c.to_bytes())
                                    .unwrap_or_default();
                                (StatusCode::OK, body)
                            }
                            "/headers" => {
                                // What the upstream received: the request
                                // target, then each header, sorted.
                                let target =
                                    request.uri().path_and_query().map_or("/", |p| p.as_str());
                                let mut lines: Vec<String> = request
                                    .headers()
                                    .iter()
                                    .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("?")))
                                    .collect();
                                lines.sort();
                                lines.insert(0, format!("target {target}"));
                                (StatusCode::OK, Bytes::from(lines.join("\n")))
                            }
                            "/gate" => {
                                let _ = arrived.send(());
                                let _permit = gate.acquire().await;
                                (StatusCode::OK, Bytes::from(version))
                            }
                            _ => (StatusCode::OK, Bytes::from(version)),
                        };
                        let mut response = Response::new(Full::new(body));
                        *response.status_mut() = status;
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream {
        addr,
        gate,
        arrivals,
    }
}

/// An address on which nothing listens.
pub fn dead_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.local_addr().expect("address")
}

pub type TestClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Sends one request; returns status, the release header and the body.
pub async fn send(
    client: &TestClient,
    method: &str,
    url: String,
    body: &'static [u8],
) -> (u16, Option<String>, String) {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from_static(body)))
        .expect("request");
    let response = client.request(request).await.expect("proxy answers");
    let status = response.status().as_u16();
    let release = response
        .headers()
        .get(windlass_proxy::RELEASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, release, String::from_utf8_lossy(&body).into_owned())
}

pub async fn get(
    client: &TestClient,
    proxy: SocketAddr,
    path: &str,
) -> (u16, Option<String>, String) {
    send(client, "GET", format!("http://{proxy}{path}"), b"").await
}

/// Waits, at most 10 s, until `condition` holds; panics naming `what` if it
/// never does. For conditions another task makes true (a request held).
pub async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited 10 s for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}
