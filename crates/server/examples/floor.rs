//! The floor under `windlass server`'s speed: an axum server on the same
//! runtime and HTTP stack that answers CreateStateMachine, StartExecution and
//! DescribeExecution with canned JSON, checking no signature and storing
//! nothing. `scripts/bench-api` measures it beside windlass and its peers, so
//! the server CPU an execution costs before any Step Functions work is known.
//!
//! Usage: `floor 127.0.0.1:PORT`; prints `floor listening on http://ADDR`.

use axum::body::Body;
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use axum::Router;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:floor";

async fn handle(request: Request<Body>) -> Response {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // Read the body as windlass does, so the floor pays for it too.
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let answer = match target.strip_prefix("AWSStepFunctions.") {
        Some("CreateStateMachine") => {
            format!(r#"{{"stateMachineArn":"{MACHINE}","creationDate":1.0}}"#)
        }
        Some("StartExecution") => format!(
            r#"{{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:floor:{}","startDate":1.0}}"#,
            body.len()
        ),
        Some("DescribeExecution") => format!(
            r#"{{"executionArn":"arn:aws:states:us-east-1:123456789012:execution:floor:x","stateMachineArn":"{MACHINE}","name":"x","status":"SUCCEEDED","startDate":1.0,"stopDate":1.0,"input":"{{\"n\":1}}","output":"{{\"n\":1}}"}}"#
        ),
        Some("StartSyncExecution") => format!(
            r#"{{"executionArn":"arn:aws:states:us-east-1:123456789012:express:floor:x:y","stateMachineArn":"{MACHINE}","name":"x","status":"SUCCEEDED","startDate":1.0,"stopDate":1.0,"input":"{{\"n\":1}}","output":"{{\"n\":1}}","billingDetails":{{"billedMemoryUsedInMB":64,"billedDurationInMilliseconds":100}}}}"#
        ),
        _ => r#"{"__type":"UnknownOperationException"}"#.to_string(),
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0"),
        )],
        answer,
    )
        .into_response();
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("x-amzn-RequestId", id);
    }
    response
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("floor listening on http://{}", listener.local_addr()?);
        axum::serve(listener, Router::new().fallback(handle)).await
    })
}
