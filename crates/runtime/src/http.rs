//! The HTTP Task (`arn:aws:states:::http:invoke`): calls an HTTP endpoint
//! with the task's `ApiEndpoint`, `Method`, `Headers`, `QueryParameters` and
//! `RequestBody`, and returns `{StatusCode, StatusText, Headers, ResponseBody}`
//! as Step Functions does. A status outside 2xx fails the task with
//! `States.Http.StatusCode.<code>`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Map as JsonMap, Value as Json};
use windlass_asl::Failure;
use windlass_engine::TaskRequest;

use crate::invoke::{BoxFuture, Invoker};

/// The resource this invoker serves.
pub const RESOURCE: &str = "arn:aws:states:::http:invoke";

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Calls `http://` and `https://` endpoints. For https it trusts the
/// system's certificate authorities (`/etc/ssl/certs`, or the file named by
/// `SSL_CERT_FILE`), or the roots it is given.
pub struct HttpInvoker {
    /// `Err`: TLS could not be set up; every call fails saying why.
    client: Result<HttpClient, String>,
}

impl Default for HttpInvoker {
    fn default() -> Self {
        HttpInvoker::with_roots(native_roots())
    }
}

impl HttpInvoker {
    /// An invoker that trusts exactly `roots` for https endpoints.
    pub fn with_roots(roots: rustls::RootCertStore) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|config| {
                let config = config.with_root_certificates(roots).with_no_client_auth();
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(config)
                    .https_or_http()
                    .enable_http1()
                    .build();
                Client::builder(TokioExecutor::new()).build(connector)
            })
            .map_err(|e| format!("TLS could not be set up: {e}"));
        HttpInvoker { client }
    }
}

/// The system's certificate authorities; those that do not parse are left
/// out (with a warning), as a browser would.
fn native_roots() -> rustls::RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!("HTTP Task: a system certificate could not be read: {error}");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!("HTTP Task: {ignored} system certificate(s) did not parse");
    }
    roots
}

fn runtime_failure(cause: impl Into<String>) -> Failure {
    Failure::new("States.Runtime", cause)
}

/// Builds the request URI from `ApiEndpoint` and `QueryParameters`.
fn uri(arguments: &JsonMap<String, Json>) -> Result<String, Failure> {
    let endpoint = arguments
        .get("ApiEndpoint")
        .and_then(Json::as_str)
        .ok_or_else(|| runtime_failure("The HTTP Task needs 'ApiEndpoint' (a string URL)"))?;
    if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
        return Err(runtime_failure(format!(
            "'ApiEndpoint' must be an https:// or http:// URL, got '{endpoint}'"
        )));
    }
    let mut uri = endpoint.to_string();
    if let Some(Json::Object(query)) = arguments.get("QueryParameters") {
        let pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| {
                let value = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                format!("{}={}", encode(k), encode(&value))
            })
            .collect();
        if !pairs.is_empty() {
            uri.push(if uri.contains('?') { '&' } else { '?' });
            uri.push_str(&pairs.join("&"));
        }
    }
    Ok(uri)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn call(client: &HttpClient, input: Json, timeout: Option<u64>) -> Result<Json, Failure> {
    let Json::Object(arguments) = input else {
        return Err(runtime_failure(
            "The HTTP Task's arguments must be an object",
        ));
    };
    let method = arguments
        .get("Method")
        .and_then(Json::as_str)
        .unwrap_or("GET")
        .to_uppercase();
    let uri = uri(&arguments)?;
    let mut builder = hyper::Request::builder().method(method.as_str()).uri(&uri);
    let mut has_content_type = false;
    if let Some(Json::Object(headers)) = arguments.get("Headers") {
        for (name, value) in headers {
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            builder = builder.header(name.as_str(), value);
        }
    }
    let body = match arguments.get("RequestBody") {
        None | Some(Json::Null) => Bytes::new(),
        Some(Json::String(text)) => Bytes::from(text.clone()),
        Some(value) => {
            if !has_content_type {
                builder = builder.header("content-type", "application/json");
            }
            Bytes::from(value.to_string())
        }
    };
    let request = builder
        .body(Full::new(body))
        .map_err(|e| runtime_failure(format!("bad HTTP request for {uri}: {e}")))?;
    let sent = client.request(request);
    let response = match timeout {
        Some(seconds) => tokio::time::timeout(Duration::from_secs(seconds), sent)
            .await
            .map_err(|_| {
                Failure::new(
                    "States.Timeout",
                    format!("{method} {uri} did not answer in {seconds} s"),
                )
            })?,
        None => sent.await,
    }
    .map_err(|e| Failure::new("States.Http.Socket", format!("{method} {uri} failed: {e}")))?;
    let status = response.status();
    let mut headers = JsonMap::new();
    for (name, value) in response.headers() {
        headers.insert(
            name.as_str().to_string(),
            json!([value.to_str().unwrap_or_default()]),
        );
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| {
            Failure::new(
                "States.Http.Socket",
                format!("reading the answer of {method} {uri} failed: {e}"),
            )
        })?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_str::<Json>(&text).unwrap_or(Json::String(text));
    let result = json!({
        "Headers": headers,
        "ResponseBody": body,
        "StatusCode": status.as_u16(),
        "StatusText": status.canonical_reason().unwrap_or_default(),
    });
    if status.is_success() {
        Ok(result)
    } else {
        Err(Failure::new(
            format!("States.Http.StatusCode.{}", status.as_u16()),
            result.to_string(),
        ))
    }
}

impl Invoker for HttpInvoker {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let client = self.client.clone();
        Box::pin(async move {
            match client {
                Ok(client) => call(&client, request.input, request.timeout_seconds).await,
                Err(reason) => Err(Failure::new("States.Http.Socket", reason)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_encoded() {
        let arguments = json!({ "ApiEndpoint": "http://127.0.0.1:1/x", "QueryParameters": { "q": "a b&c", "n": 2 } });
        let Json::Object(map) = arguments else { return };
        assert_eq!(
            uri(&map).ok().as_deref(),
            Some("http://127.0.0.1:1/x?q=a%20b%26c&n=2")
        );
    }

    /// A listener on a free loopback port, and its address.
    async fn loopback() -> (tokio::net::TcpListener, std::net::SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        (listener, address)
    }

    /// A whole HTTP/1.1 answer with a JSON body, closing the connection.
    fn answer(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn calls_a_loopback_server_and_maps_status_codes() {
        let (listener, address) = loopback().await;
        tokio::spawn(async move {
            for _ in 0..2 {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buffer = vec![0u8; 4096];
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..n]).to_string();
                let (status, body) = if request.starts_with("POST /missing") {
                    ("404 Not Found", r#"{"error":"nope"}"#)
                } else {
                    ("200 OK", r#"{"hello":"world"}"#)
                };
                let _ = socket.write_all(answer(status, body).as_bytes()).await;
            }
        });
        let invoker = HttpInvoker::default();
        let client = invoker.client.expect("TLS set up");
        let ok = call(
            &client,
            json!({ "ApiEndpoint": format!("http://{address}/hi"), "Method": "GET" }),
            Some(5),
        )
        .await
        .expect("200 answer");
        assert_eq!(ok["StatusCode"], json!(200));
        assert_eq!(ok["ResponseBody"], json!({ "hello": "world" }));
        let failed = call(
            &client,
            json!({ "ApiEndpoint": format!("http://{address}/missing"), "Method": "POST", "RequestBody": { "a": 1 } }),
            Some(5),
        )
        .await
        .expect_err("404 answer");
        assert_eq!(failed.error, "States.Http.StatusCode.404");
    }

    /// An https endpoint on loopback with a certificate made for the test:
    /// called when its authority is trusted, refused (States.Http.Socket)
    /// when it is not.
    #[tokio::test]
    async fn calls_https_endpoints_whose_authority_it_trusts() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
        let certificate = certified.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![certificate.clone()], key)
            .expect("server configuration");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let (listener, address) = loopback().await;
        tokio::spawn(async move {
            for _ in 0..2 {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                // The untrusting client hangs up during the handshake.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    continue;
                };
                let mut buffer = vec![0u8; 4096];
                let _ = tls.read(&mut buffer).await;
                let reply = answer("200 OK", r#"{"secure":true}"#);
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        let endpoint = format!("https://{address}/secure");
        let untrusting = HttpInvoker::with_roots(rustls::RootCertStore::empty())
            .client
            .expect("TLS set up");
        let refused = call(&untrusting, json!({ "ApiEndpoint": endpoint }), Some(5))
            .await
            .expect_err("an unknown authority is refused");
        assert_eq!(refused.error, "States.Http.Socket", "{}", refused.cause);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certificate).expect("trusted root");
        let trusting = HttpInvoker::with_roots(roots).client.expect("TLS set up");
        let answer = call(&trusting, json!({ "ApiEndpoint": endpoint }), Some(5))
            .await
            .expect("200 over https");
        assert_eq!(answer["StatusCode"], json!(200));
        assert_eq!(answer["ResponseBody"], json!({ "secure": true }));
    }
}
