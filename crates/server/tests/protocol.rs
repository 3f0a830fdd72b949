//! The protocol around the actions, through `Router::oneshot`: SigV4 and
//! the credential scope, regions, request bodies, pagination tokens, and
//! what executions give back (their input as sent, a machine's timeout).

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value as Json};
use support::{call, call_text, raw_request, request, server, server_with};
use windlass_runtime::SystemClock;
use windlass_server::sigv4::{self, AccessKey};
use windlass_server::{Config, Server, MAX_DEFINITION_CHARS, MAX_REQUEST_BYTES};

const ROLE: &str = "arn:aws:iam::123456789012:role/r";

fn key() -> AccessKey {
    AccessKey {
        id: "AKIDTEST".into(),
        secret: "s3cret".into(),
    }
}

/// `action` with `body`, signed with `key` for `(region, service)` now.
fn signed(action: &str, body: &Json, key: &AccessKey, scope: (&str, &str)) -> Request<Body> {
    let body = body.to_string().into_bytes();
    let mut request = raw_request(action, body.clone());
    request
        .headers_mut()
        .insert("host", "localhost".parse().expect("host"));
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let amz_date = time::OffsetDateTime::now_utc()
        .format(format)
        .expect("date");
    let (mut parts, _) = request.into_parts();
    sigv4::sign_for(
        &mut parts.headers,
        &parts.method,
        &parts.uri,
        &body,
        key,
        scope,
        &amz_date,
    );
    Request::from_parts(parts, Body::from(body))
}

fn pass_machine(name: &str) -> Json {
    json!({
        "name": name,
        "roleArn": ROLE,
        "definition": json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}).to_string(),
    })
}

#[tokio::test]
async fn signed_requests_pass_and_others_get_aws_errors() {
    let server = server(vec![key()]);
    let scope = ("us-east-1", "states");
    let (status, response) = call(
        &server,
        signed("ListStateMachines", &json!({}), &key(), scope),
    )
    .await;
    assert_eq!(
        (status, response),
        (StatusCode::OK, json!({ "stateMachines": [] }))
    );

    let (status, response) = call(&server, request("ListStateMachines", &json!({}))).await;
    assert_eq!(
        (status, response["__type"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("MissingAuthenticationTokenException")
        )
    );

    let wrong = AccessKey {
        secret: "not-it".into(),
        ..key()
    };
    let (status, response) = call(
        &server,
        signed("ListStateMachines", &json!({}), &wrong, scope),
    )
    .await;
    assert_eq!(
        (status, response["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidSignatureException"))
    );

    let stranger = AccessKey {
        id: "AKIDOTHER".into(),
        ..key()
    };
    let (_, response) = call(
        &server,
        signed("ListStateMachines", &json!({}), &stranger, scope),
    )
    .await;
    assert_eq!(response["__type"], "UnrecognizedClientException");
}

#[tokio::test]
async fn a_credential_scoped_to_another_service_or_no_region_is_refused() {
    let server = server(vec![key()]);
    // Signed correctly with the right secret, but for Lambda: AWS refuses
    // the scope before it looks at the signature.
    let (status, response) = call(
        &server,
        signed(
            "ListStateMachines",
            &json!({}),
            &key(),
            ("us-east-1", "lambda"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(response["__type"], "InvalidSignatureException");
    assert_eq!(
        response["message"],
        "Credential should be scoped to correct service: 'states'. The request is signed for 'lambda'."
    );
    let (_, response) = call(
        &server,
        signed("ListStateMachines", &json!({}), &key(), ("moon", "states")),
    )
    .await;
    assert_eq!(response["__type"], "InvalidSignatureException");
    assert_eq!(
        response["message"],
        "Credential should be scoped to a valid region, not 'moon'."
    );
    // A server without keys checks no signature, but reads the scope all the same.
    let open = server_with(support::config(), Arc::new(SystemClock));
    let (_, response) = call(
        &open,
        signed("ListStateMachines", &json!({}), &key(), ("us-east-1", "s3")),
    )
    .await;
    assert_eq!(response["__type"], "InvalidSignatureException");
}

#[tokio::test]
async fn each_region_has_its_own_resources() {
    let server = server(vec![key()]);
    let east = ("us-east-1", "states");
    let west = ("eu-west-1", "states");
    let (status, created) = call(
        &server,
        signed("CreateStateMachine", &pass_machine("Twin"), &key(), west),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let west_arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:Twin";
    assert_eq!(created["stateMachineArn"], west_arn);
    let (_, created) = call(
        &server,
        signed("CreateStateMachine", &pass_machine("Twin"), &key(), east),
    )
    .await;
    assert_eq!(
        created["stateMachineArn"],
        "arn:aws:states:us-east-1:123456789012:stateMachine:Twin"
    );
    let (_, listed) = call(
        &server,
        signed("ListStateMachines", &json!({}), &key(), west),
    )
    .await;
    let arns: Vec<&Json> = listed["stateMachines"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| &m["stateMachineArn"])
        .collect();
    assert_eq!(arns, [west_arn]);
    // Another region's ARN names nothing here.
    let describe = json!({ "stateMachineArn": west_arn });
    let (_, response) = call(
        &server,
        signed("DescribeStateMachine", &describe, &key(), east),
    )
    .await;
    assert_eq!(response["__type"], "StateMachineDoesNotExist");
    let start = json!({ "stateMachineArn": west_arn, "name": "e1" });
    let (_, started) = call(&server, signed("StartExecution", &start, &key(), west)).await;
    assert_eq!(
        started["executionArn"],
        "arn:aws:states:eu-west-1:123456789012:execution:Twin:e1"
    );
    let (_, activity) = call(
        &server,
        signed(
            "CreateActivity",
            &json!({ "name": "act" }),
            &key(),
            ("ap-south-1", "states"),
        ),
    )
    .await;
    assert_eq!(
        activity["activityArn"],
        "arn:aws:states:ap-south-1:123456789012:activity:act"
    );
    let (_, listed) = call(&server, signed("ListActivities", &json!({}), &key(), east)).await;
    assert_eq!(listed["activities"], json!([]));

    // Unsigned requests are in the server's own region.
    let config = Config {
        region: "sa-east-1".into(),
        ..support::config()
    };
    let open = server_with(config, Arc::new(SystemClock));
    let (_, created) = call(&open, request("CreateStateMachine", &pass_machine("Mine"))).await;
    assert_eq!(
        created["stateMachineArn"],
        "arn:aws:states:sa-east-1:123456789012:stateMachine:Mine"
    );
}

#[tokio::test]
async fn request_bodies_get_aws_serialization_errors() {
    let server = server(Vec::new());
    let (status, response) = call(&server, request("NoSuchAction", &json!({}))).await;
    assert_eq!(
        (status, response["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("UnknownOperationException"))
    );
    for (body, about) in [
        ("{not json", "not JSON"),
        (r#"["Hello", "{}", "arn:aws:iam::1:role/r"]"#, "an array"),
        (r#"{"maxResults": "ten"}"#, "a string for a number"),
        (r#"{"maxResults": 1.5}"#, "a fraction for an integer"),
        ("5", "a number"),
    ] {
        let (status, response) = call(&server, raw_request("ListStateMachines", body)).await;
        assert_eq!(
            (status, response["__type"].as_str()),
            (StatusCode::BAD_REQUEST, Some("SerializationException")),
            "{about}: {response}"
        );
    }
    let mut machine = pass_machine("Typed");
    machine["tracingConfiguration"] = json!({ "enabled": "yes" });
    let (_, response) = call(&server, request("CreateStateMachine", &machine)).await;
    assert_eq!(response["__type"], "SerializationException");
    let (status, _) = call(&server, request("ListStateMachines", &json!({}))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn only_post_to_the_root_is_served() {
    let server = server(Vec::new());
    for (method, path) in [
        (Method::GET, "/"),
        (Method::PUT, "/"),
        (Method::POST, "/states"),
        (Method::GET, "/health"),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("x-amz-target", "AWSStepFunctions.ListStateMachines")
            .body(Body::from("{}"))
            .expect("request");
        let (status, response) = call(&server, request).await;
        assert_eq!(
            (status, response["__type"].as_str()),
            (StatusCode::BAD_REQUEST, Some("UnknownOperationException")),
            "{method} {path}: {response}"
        );
    }
}

/// A definition of exactly `chars` characters: a Pass state and a Comment
/// that fills the rest.
fn definition_of_length(chars: usize) -> String {
    let frame = |comment: &str| {
        format!(
            r#"{{"Comment":"{comment}","StartAt":"A","States":{{"A":{{"Type":"Pass","End":true}}}}}}"#
        )
    };
    let empty = frame("").chars().count();
    frame(&"é".repeat(chars - empty))
}

#[tokio::test]
async fn a_definition_of_the_maximum_length_is_accepted_and_larger_bodies_refused() {
    let server = server(Vec::new());
    let largest = definition_of_length(MAX_DEFINITION_CHARS);
    assert_eq!(largest.chars().count(), 1_048_576);
    let create = json!({ "name": "Big", "roleArn": ROLE, "definition": largest });
    let (status, response) = call(&server, request("CreateStateMachine", &create)).await;
    assert_eq!(status, StatusCode::OK, "{}", response["message"]);
    let describe = json!({ "stateMachineArn": response["stateMachineArn"] });
    let (_, described) = call(&server, request("DescribeStateMachine", &describe)).await;
    assert_eq!(described["definition"].as_str(), Some(largest.as_str()));

    let over = json!({ "name": "Bigger", "roleArn": ROLE, "definition": definition_of_length(MAX_DEFINITION_CHARS + 1) });
    let (_, response) = call(&server, request("CreateStateMachine", &over)).await;
    assert_eq!(response["__type"], "ValidationException");
    assert!(
        response["message"]
            .as_str()
            .is_some_and(|m| m.contains("'definition'")),
        "{response}"
    );

    let huge = format!(r#"{{"definition":"{}"}}"#, "x".repeat(MAX_REQUEST_BYTES));
    let (status, text) =
        call_text(&server, raw_request("ValidateStateMachineDefinition", huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let response: Json = serde_json::from_str(&text).expect("a JSON error body");
    assert_eq!(response["__type"], "RequestEntityTooLargeException");
}

#[tokio::test]
async fn execution_input_comes_back_exactly_as_sent() {
    let server = server(Vec::new());
    call(
        &server,
        request("CreateStateMachine", &pass_machine("Echo")),
    )
    .await;
    let input = "{\"my\": \"data\",\n  \"price\": 1.50, \"big\": 12345678901234567890}";
    let start = json!({
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Echo",
        "name": "spaced",
        "input": input,
    });
    let (status, started) = call(&server, request("StartExecution", &start)).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let arn = json!({ "executionArn": started["executionArn"] });
    let (_, described) = call(&server, request("DescribeExecution", &arn)).await;
    assert_eq!(described["input"].as_str(), Some(input));
    let (_, history) = call(&server, request("GetExecutionHistory", &arn)).await;
    assert_eq!(
        history["events"][0]["executionStartedEventDetails"]["input"].as_str(),
        Some(input)
    );
    // The same name and input again is the same execution.
    let (_, again) = call(&server, request("StartExecution", &start)).await;
    assert_eq!(again["__type"], "ExecutionAlreadyExists");

    let mut express = pass_machine("Fast");
    express["type"] = json!("EXPRESS");
    call(&server, request("CreateStateMachine", &express)).await;
    let sync = json!({
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Fast",
        "input": input,
    });
    let (_, ran) = call(&server, request("StartSyncExecution", &sync)).await;
    assert_eq!(ran["status"], "SUCCEEDED", "{ran}");
    assert_eq!(ran["input"].as_str(), Some(input));
}

#[tokio::test]
async fn pagination_tokens_hold_for_their_own_query_only() {
    let server = server(Vec::new());
    let waiting =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}});
    for name in ["One", "Two"] {
        let create = json!({ "name": name, "roleArn": ROLE, "definition": waiting.to_string() });
        call(&server, request("CreateStateMachine", &create)).await;
        for execution in ["a", "b"] {
            let start = json!({
                "stateMachineArn": format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}"),
                "name": execution,
            });
            call(&server, request("StartExecution", &start)).await;
        }
    }
    let one = "arn:aws:states:us-east-1:123456789012:stateMachine:One";
    let two = "arn:aws:states:us-east-1:123456789012:stateMachine:Two";
    let (_, first) = call(
        &server,
        request(
            "ListExecutions",
            &json!({ "stateMachineArn": one, "maxResults": 1 }),
        ),
    )
    .await;
    let token = first["nextToken"]
        .as_str()
        .expect("a next page")
        .to_string();
    assert!(!token.contains("arn:"), "opaque: {token}");
    let (_, second) = call(
        &server,
        request(
            "ListExecutions",
            &json!({ "stateMachineArn": one, "maxResults": 1, "nextToken": token }),
        ),
    )
    .await;
    assert_eq!(
        second["executions"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_ne!(
        second["executions"][0]["name"],
        first["executions"][0]["name"]
    );
    for (reused, about) in [
        (
            json!({ "stateMachineArn": two, "maxResults": 1, "nextToken": token }),
            "another machine",
        ),
        (
            json!({ "stateMachineArn": one, "maxResults": 2, "nextToken": token }),
            "another page size",
        ),
        (
            json!({ "stateMachineArn": one, "maxResults": 1, "statusFilter": "RUNNING", "nextToken": token }),
            "another filter",
        ),
    ] {
        let (_, response) = call(&server, request("ListExecutions", &reused)).await;
        assert_eq!(response["__type"], "InvalidToken", "{about}: {response}");
    }
    let (_, response) = call(
        &server,
        request(
            "ListStateMachines",
            &json!({ "maxResults": 1, "nextToken": token }),
        ),
    )
    .await;
    assert_eq!(response["__type"], "InvalidToken", "another action");
    // A token of another server (another key) is no token here.
    let other = server_with(support::config(), Arc::new(SystemClock));
    let (_, response) = call(
        &other,
        request(
            "ListStateMachines",
            &json!({ "maxResults": 1, "nextToken": token }),
        ),
    )
    .await;
    assert_eq!(response["__type"], "InvalidToken", "another server");
}

async fn describe(server: &Arc<Server>, arn: &str) -> Json {
    call(
        server,
        request("DescribeExecution", &json!({ "executionArn": arn })),
    )
    .await
    .1
}

#[tokio::test]
async fn a_machine_timeout_ends_the_execution_timed_out_without_error_or_cause() {
    let server = server(Vec::new());
    let definition = json!({
        "TimeoutSeconds": 1,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}
    });
    let create = json!({ "name": "Late", "roleArn": ROLE, "definition": definition.to_string() });
    call(&server, request("CreateStateMachine", &create)).await;
    let start = json!({
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Late",
        "name": "late",
    });
    let (_, started) = call(&server, request("StartExecution", &start)).await;
    let arn = started["executionArn"].as_str().expect("arn").to_string();
    // The runtime reports the end itself: this waits out the machine's timeout.
    let finished = server.runtime.wait(&arn).await.expect("it ends");
    assert_eq!(finished.status.as_str(), "TIMED_OUT");
    let described = describe(&server, &arn).await;
    assert_eq!(described["status"], "TIMED_OUT");
    assert!(described.get("error").is_none(), "{described}");
    assert!(described.get("cause").is_none(), "{described}");
    let (_, history) = call(
        &server,
        request(
            "GetExecutionHistory",
            &json!({ "executionArn": arn, "reverseOrder": true, "maxResults": 1 }),
        ),
    )
    .await;
    let last = &history["events"][0];
    assert_eq!(last["type"], "ExecutionTimedOut");
    assert_eq!(last["executionTimedOutEventDetails"], json!({}), "{last}");
}

#[tokio::test]
async fn an_error_or_cause_never_given_is_left_out() {
    let server = server(Vec::new());
    let definition = json!({
        "StartAt": "Route",
        "States": {
            "Route": {"Type": "Choice", "Choices": [
                {"Variable": "$.fail", "IsPresent": true, "Next": "Boom"}
            ], "Default": "W"},
            "W": {"Type": "Wait", "Seconds": 3600, "End": true},
            "Boom": {"Type": "Fail", "Error": "Custom.Error"}
        }
    });
    let create = json!({ "name": "Quiet", "roleArn": ROLE, "definition": definition.to_string() });
    call(&server, request("CreateStateMachine", &create)).await;
    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:Quiet";
    let (_, started) = call(
        &server,
        request(
            "StartExecution",
            &json!({ "stateMachineArn": machine, "name": "stopped" }),
        ),
    )
    .await;
    let stopped = started["executionArn"].as_str().expect("arn").to_string();
    let (status, _) = call(
        &server,
        request("StopExecution", &json!({ "executionArn": stopped })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let described = describe(&server, &stopped).await;
    assert_eq!(described["status"], "ABORTED");
    assert!(described.get("error").is_none(), "{described}");
    assert!(described.get("cause").is_none(), "{described}");

    let (_, started) = call(
        &server,
        request(
            "StartExecution",
            &json!({ "stateMachineArn": machine, "name": "failed", "input": "{\"fail\": true}" }),
        ),
    )
    .await;
    let failed = started["executionArn"].as_str().expect("arn").to_string();
    server.runtime.wait(&failed).await.expect("it ends");
    let described = describe(&server, &failed).await;
    assert_eq!(
        (&described["status"], &described["error"]),
        (&json!("FAILED"), &json!("Custom.Error"))
    );
    assert!(described.get("cause").is_none(), "{described}");
}

#[tokio::test]
async fn a_yaml_definition_is_refused_as_aws_refuses_it() {
    let server = server(Vec::new());
    let yaml = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n";
    let machine = json!({ "name": "Yaml", "roleArn": ROLE, "definition": yaml });
    let (status, response) = call(&server, request("CreateStateMachine", &machine)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{response}");
    assert_eq!(response["__type"], "InvalidDefinition");
    let message = response["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION"),
        "{message}"
    );
    let (_, listed) = call(&server, request("ListStateMachines", &json!({}))).await;
    assert_eq!(listed["stateMachines"], json!([]));

    let (status, validated) = call(
        &server,
        request(
            "ValidateStateMachineDefinition",
            &json!({ "definition": yaml }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(validated["result"], "FAIL");
    assert_eq!(
        validated["diagnostics"][0]["code"],
        "INVALID_JSON_DESCRIPTION"
    );

    let (_, tested) = call(
        &server,
        request(
            "TestState",
            &json!({ "definition": "Type: Pass\nEnd: true\n", "roleArn": ROLE }),
        ),
    )
    .await;
    assert_eq!(tested["__type"], "InvalidDefinition", "{tested}");

    // The same machine in JSON is taken.
    let (status, _) = call(
        &server,
        request("CreateStateMachine", &pass_machine("Yaml")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// `ListStateMachines` signed over the given headers only, at `amz_date`
/// with its scope dated `scope_day`: what a forger or a broken client sends.
fn signed_over(signed_headers: &[&'static str], amz_date: &str, scope_day: &str) -> Request<Body> {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("host", "localhost".parse().expect("host"));
    headers.insert("x-amz-date", amz_date.parse().expect("date"));
    headers.insert(
        "x-amz-target",
        "AWSStepFunctions.ListStateMachines"
            .parse()
            .expect("target"),
    );
    headers.insert(
        "content-type",
        "application/x-amz-json-1.0".parse().expect("type"),
    );
    // Sign a copy holding only the headers to sign, at the scope's day.
    let mut copy = axum::http::HeaderMap::new();
    for name in signed_headers {
        if let Some(value) = headers.get(*name) {
            copy.insert(*name, value.clone());
        }
    }
    let uri: axum::http::Uri = "/".parse().expect("uri");
    let scope_date = format!("{scope_day}{}", &amz_date[8..]);
    sigv4::sign(
        &mut copy,
        &Method::POST,
        &uri,
        b"{}",
        &key(),
        "us-east-1",
        &scope_date,
    );
    let authorization = copy["authorization"].to_str().expect("text").to_string();
    let mut request = raw_request("ListStateMachines", "{}");
    *request.headers_mut() = headers;
    request
        .headers_mut()
        .insert("authorization", authorization.parse().expect("auth"));
    request
}

#[tokio::test]
async fn a_signature_must_cover_host_and_be_scoped_to_its_own_day() {
    let server = server(vec![key()]);
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let now = time::OffsetDateTime::now_utc();
    let amz_date = now.format(format).expect("date");
    let today = &amz_date[..8];
    let (status, response) = call(
        &server,
        signed_over(&["content-type", "host", "x-amz-target"], &amz_date, today),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{response}");

    let (status, response) = call(
        &server,
        signed_over(&["content-type", "x-amz-target"], &amz_date, today),
    )
    .await;
    assert_eq!(
        (status, response["__type"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("IncompleteSignatureException")
        ),
        "{response}"
    );

    // A scope dated yesterday on a request dated today (the unit tests in
    // sigv4.rs sign such a pair consistently; here the message is checked).
    let yesterday = (now - time::Duration::days(1))
        .format(format)
        .expect("date");
    let (status, response) = call(
        &server,
        signed_over(
            &["content-type", "host", "x-amz-target"],
            &amz_date,
            &yesterday[..8],
        ),
    )
    .await;
    assert_eq!(
        (status, response["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidSignatureException")),
        "{response}"
    );
    assert!(
        response["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Date in Credential scope does not match"),
        "{response}"
    );
}
