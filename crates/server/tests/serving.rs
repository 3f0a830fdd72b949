//! How the server meets its clients: the Host check against DNS rebinding
//! (through `Router::oneshot`), and a real loopback listener that cuts off
//! a client sending its request head or body too slowly and serves TLS.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::json;
use support::{request, server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use windlass_server::hosts::{self, AllowedHosts};
use windlass_server::listen::{self, Limits};
use windlass_server::{app, Server};

fn guarded(server: &Arc<Server>, bind: &str, names: &[&str]) -> axum::Router {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let allowed = AllowedHosts::new(bind.parse().expect("an address"), &names).expect("names");
    hosts::check(app(server.clone()), allowed)
}

async fn status_for_host(router: &axum::Router, host: Option<&str>) -> (StatusCode, String) {
    let mut request = request("ListStateMachines", &json!({}));
    if let Some(host) = host {
        request
            .headers_mut()
            .insert("host", host.parse().expect("host"));
    }
    let response = router.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_rebound_dns_name_is_refused_and_loopback_names_are_answered() {
    let server = server(Vec::new());
    let router = guarded(&server, "127.0.0.1", &[]);
    for host in ["127.0.0.1:8083", "localhost:8083", "[::1]:8083"] {
        let (status, body) = status_for_host(&router, Some(host)).await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
    }
    let (status, body) = status_for_host(&router, Some("evil.example:8083")).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    assert!(body.contains("--allowed-host evil.example"), "{body}");
    let (status, _) = status_for_host(&router, None).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);

    let named = guarded(&server, "0.0.0.0", &["windlass.example"]);
    for (host, expected) in [
        ("windlass.example:8083", StatusCode::OK),
        ("192.0.2.10:8083", StatusCode::OK),
        ("evil.example:8083", StatusCode::MISDIRECTED_REQUEST),
    ] {
        let (status, body) = status_for_host(&named, Some(host)).await;
        assert_eq!(status, expected, "{host}: {body}");
    }
}

/// The router of a fresh server on a loopback listener, served with
/// `limits` (and `tls`); gives the address.
async fn listening(limits: Limits, tls: Option<listen::TlsAcceptor>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let router = guarded(&server(Vec::new()), "127.0.0.1", &[]);
    tokio::spawn(listen::serve(
        listener,
        router,
        tls,
        limits,
        std::future::pending(),
    ));
    address
}

const LIST: &str = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AWSStepFunctions.ListStateMachines\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";

/// Everything the server sends until it closes the connection.
async fn read_all(stream: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut answer = Vec::new();
    // A reset instead of a clean close also ends the answer.
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_that_trickles_its_head_is_cut_off_while_others_are_served() {
    let limits = Limits {
        header_read: Duration::from_millis(500),
        ..Limits::default()
    };
    let address = listening(limits, None).await;
    let mut slow = TcpStream::connect(address).await.expect("connects");
    slow.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("writes");
    // Meanwhile a whole request is answered.
    let mut normal = TcpStream::connect(address).await.expect("connects");
    normal.write_all(LIST.as_bytes()).await.expect("writes");
    let answer = read_all(&mut normal).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The slow client's connection is closed (the bound only keeps a
    // broken server from hanging the test).
    let closed = tokio::time::timeout(Duration::from_secs(30), read_all(&mut slow)).await;
    let answer = closed.expect("the server closed the slow connection");
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_that_trickles_gets_a_timeout_error() {
    let limits = Limits {
        body_read: Duration::from_millis(300),
        ..Limits::default()
    };
    let address = listening(limits, None).await;
    let mut slow = TcpStream::connect(address).await.expect("connects");
    // Two bytes of the ten announced, then nothing.
    let head = LIST.replace("Content-Length: 2", "Content-Length: 10");
    let partial = head.strip_suffix("{}").unwrap_or(&head).to_string() + "{ ";
    slow.write_all(partial.as_bytes()).await.expect("writes");
    let answer = tokio::time::timeout(Duration::from_secs(30), read_all(&mut slow))
        .await
        .expect("the server answered the slow body");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("RequestTimeoutException"), "{answer}");
}

#[tokio::test]
async fn serves_tls_with_the_given_certificate() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let dir = std::env::temp_dir().join(format!("windlass-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("writes");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("writes");
    let acceptor = listen::tls_acceptor(&cert, &key).expect("TLS set up");
    assert!(
        listen::tls_acceptor(&key, &key).is_err(),
        "a key is no certificate"
    );
    let address = listening(Limits::default(), Some(acceptor)).await;

    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("a root");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(address).await.expect("connects");
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("a TLS handshake");
    tls.write_all(LIST.as_bytes()).await.expect("writes");
    let answer = read_all(&mut tls).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("stateMachines"), "{answer}");

    // Plain HTTP to the TLS port gets no answer.
    let mut plain = TcpStream::connect(address).await.expect("connects");
    plain.write_all(LIST.as_bytes()).await.expect("writes");
    assert!(!read_all(&mut plain).await.starts_with("HTTP/1.1 200"));
    let _ = std::fs::remove_dir_all(&dir);
}
