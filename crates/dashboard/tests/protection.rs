//! The dashboard's defences through `Router::oneshot`: the login's rate
//! limit by client address, no login in clear over a network, `Secure`
//! cookies over TLS, changes only from the page's own origin, and no
//! framing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;
use windlass_dashboard::auth::Credential;
use windlass_dashboard::throttle::FAILURES_ALLOWED;
use windlass_dashboard::{router, Config, Dashboard, Sources, Transport};
use windlass_store::memory::MemoryStore;

const ID: &str = "AKIDTEST";
const SECRET: &str = "test-secret";

fn dashboard(transport: Transport) -> Router {
    let store = Arc::new(MemoryStore::new());
    router(Dashboard::new(
        Config {
            access_keys: vec![Credential {
                id: ID.into(),
                secret: SECRET.into(),
            }],
            allow_rollback: false,
            transport,
        },
        Sources {
            executions: store.clone(),
            machines: Some(store),
            deploys: None,
        },
    ))
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let answer = app.clone().oneshot(request).await.expect("an answer");
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A login from `client` with `secret`, and extra headers.
fn login(client: &str, secret: &str, extra: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::post("/ui/login")
        .header(header::HOST, "127.0.0.1:8083")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let mut request = request
        .body(Body::from(format!(
            "access_key_id={ID}&secret_access_key={secret}"
        )))
        .expect("request");
    let address: SocketAddr = client.parse().expect("an address");
    request.extensions_mut().insert(ConnectInfo(address));
    request
}

fn cookie(answer: &Answer) -> String {
    answer
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn failed_logins_from_one_address_are_held_back_with_retry_after() {
    let app = dashboard(Transport::Loopback);
    let attacker = "192.0.2.66:40000";
    for _ in 0..FAILURES_ALLOWED {
        let answer = send(&app, login(attacker, "guess", &[])).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right secret waits, so guessing gains nothing.
    let answer = send(&app, login(attacker, SECRET, &[])).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.body
    );
    let retry: u64 = answer
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(cookie(&answer).is_empty());
    // Another address logs in.
    let answer = send(&app, login("192.0.2.7:40000", SECRET, &[])).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(!cookie(&answer).contains("Secure"), "{}", cookie(&answer));
}

#[tokio::test]
async fn no_login_in_clear_on_a_network_address() {
    let app = dashboard(Transport::Cleartext);
    let form = Request::get("/ui/login")
        .body(Body::empty())
        .expect("request");
    let answer = send(&app, form).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("--tls-cert"), "{}", answer.body);
    let answer = send(&app, login("192.0.2.7:40000", SECRET, &[])).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(cookie(&answer).is_empty());
    // Behind a TLS proxy the login works, and its cookie is Secure.
    let proxied = login("192.0.2.7:40000", SECRET, &[("x-forwarded-proto", "https")]);
    let answer = send(&app, proxied).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(cookie(&answer).contains("; Secure"), "{}", cookie(&answer));

    let answer = send(
        &dashboard(Transport::Tls),
        login("192.0.2.7:1", SECRET, &[]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(cookie(&answer).contains("; Secure"), "{}", cookie(&answer));
}

#[tokio::test]
async fn a_change_from_another_origin_is_refused() {
    let app = dashboard(Transport::Loopback);
    let foreign = login("127.0.0.1:1", SECRET, &[("origin", "http://evil.example")]);
    let answer = send(&app, foreign).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(cookie(&answer).is_empty());
    let own = login(
        "127.0.0.1:1",
        SECRET,
        &[("origin", "http://127.0.0.1:8083")],
    );
    let answer = send(&app, own).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let session = cookie(&answer)
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let rollback = Request::post("/ui/api/rollback")
        .header(header::HOST, "127.0.0.1:8083")
        .header(header::ORIGIN, "http://attacker.example")
        .header(header::COOKIE, session)
        .header("x-windlass-dashboard", "1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"service":"web"}"#))
        .expect("request");
    let answer = send(&app, rollback).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("Origin"), "{}", answer.body);
}

#[tokio::test]
async fn no_page_may_be_framed() {
    let app = dashboard(Transport::Loopback);
    for path in ["/ui/login", "/ui/", "/ui/icon.svg"] {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let answer = send(&app, request).await;
        assert_eq!(
            answer
                .headers
                .get(header::X_FRAME_OPTIONS)
                .map(|v| v.as_bytes()),
            Some(&b"DENY"[..]),
            "{path}"
        );
        assert_eq!(
            answer
                .headers
                .get(header::CONTENT_SECURITY_POLICY)
                .map(|v| v.as_bytes()),
            Some(&b"frame-ancestors 'none'"[..]),
            "{path}"
        );
    }
}
