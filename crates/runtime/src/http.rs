//! The HTTP Task (`arn:aws:states:::http:invoke`): calls an HTTP endpoint
//! with the task's `ApiEndpoint`, `Method`, `Headers`, `QueryParameters` and
//! `RequestBody`, and returns `{StatusCode, StatusText, Headers, ResponseBody}`
//! as Step Functions does. A status outside 2xx fails the task with
//! `States.Http.StatusCode.<code>`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Map as JsonMap, Value as Json};
use windlass_asl::Failure;
use windlass_engine::TaskRequest;

use crate::invoke::{BoxFuture, Invoker};

/// The resource this invoker serves.
pub const RESOURCE: &str = "arn:aws:states:::http:invoke";

pub struct HttpInvoker {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Default for HttpInvoker {
    fn default() -> Self {
        HttpInvoker {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
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
    if endpoint.starts_with("https://") {
        return Err(runtime_failure(format!(
            "windlass's HTTP Task speaks plain HTTP only for now; cannot call {endpoint}"
        )));
    }
    if !endpoint.starts_with("http://") {
        return Err(runtime_failure(format!(
            "'ApiEndpoint' must be an http:// URL, got '{endpoint}'"
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

async fn call(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    input: Json,
    timeout: Option<u64>,
) -> Result<Json, Failure> {
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
        Box::pin(async move { call(&client, request.input, request.timeout_seconds).await })
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

    #[tokio::test]
    async fn calls_a_loopback_server_and_maps_status_codes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
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
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        let invoker = HttpInvoker::default();
        let ok = call(
            &invoker.client,
            json!({ "ApiEndpoint": format!("http://{address}/hi"), "Method": "GET" }),
            Some(5),
        )
        .await
        .expect("200 answer");
        assert_eq!(ok["StatusCode"], json!(200));
        assert_eq!(ok["ResponseBody"], json!({ "hello": "world" }));
        let failed = call(
            &invoker.client,
            json!({ "ApiEndpoint": format!("http://{address}/missing"), "Method": "POST", "RequestBody": { "a": 1 } }),
            Some(5),
        )
        .await
        .expect_err("404 answer");
        assert_eq!(failed.error, "States.Http.StatusCode.404");
    }
}
