//! The API through `Router::oneshot`, driven by case files in `tests/cases`.
//!
//! A case is a list of steps: an action, its request, and either the
//! response it must contain (a JSON subset) or the AWS error code it must
//! fail with. `definition`, `input` and `output` given as JSON objects are
//! sent as JSON text, as the protocol wants, and compared as JSON. A step may
//! capture response fields (`"capture": {"token": "/taskToken"}`) for later
//! requests to use as `${token}`.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value as Json};
use support::{call, request, server};

/// JSON-valued protocol fields are JSON text on the wire.
const TEXT_FIELDS: [&str; 3] = ["definition", "input", "output"];

fn substitute(body: &Json, captures: &HashMap<String, Json>) -> Json {
    let mut text = body.to_string();
    for (name, value) in captures {
        // A whole string `"${name}"` becomes the captured value; inside a longer string, its text.
        text = text.replace(&format!("\"${{{name}}}\""), &value.to_string());
        text = text.replace(
            &format!("${{{name}}}"),
            value.as_str().unwrap_or(&value.to_string()),
        );
    }
    serde_json::from_str(&text).expect("the step stays JSON after substitution")
}

fn encode_request(body: &Json, captures: &HashMap<String, Json>) -> Json {
    let mut body = substitute(body, captures);
    if let Some(map) = body.as_object_mut() {
        for field in TEXT_FIELDS {
            if let Some(value) = map.get_mut(field) {
                if !value.is_string() {
                    *value = Json::String(value.to_string());
                }
            }
        }
    }
    body
}

/// Whether `expected` is contained in `actual`; JSON text in `actual` is
/// compared with non-string `expected` values as JSON.
fn contains(actual: &Json, expected: &Json, at: &str) -> Result<(), String> {
    match (actual, expected) {
        (Json::String(text), e) if !e.is_string() => match serde_json::from_str::<Json>(text) {
            Ok(parsed) => contains(&parsed, e, at),
            Err(_) => Err(format!("{at}: expected {e}, got text {text:?}")),
        },
        (Json::Object(a), Json::Object(e)) => {
            for (key, value) in e {
                let child = a
                    .get(key)
                    .ok_or_else(|| format!("{at}/{key}: missing in {actual}"))?;
                contains(child, value, &format!("{at}/{key}"))?;
            }
            Ok(())
        }
        (Json::Array(a), Json::Array(e)) if a.len() == e.len() => a
            .iter()
            .zip(e)
            .enumerate()
            .try_for_each(|(i, (a, e))| contains(a, e, &format!("{at}/{i}"))),
        (a, e) if a == e => Ok(()),
        (a, e) => Err(format!("{at}: expected {e}, got {a}")),
    }
}

/// The value at a JSON pointer; `POINTER#INNER` reads INNER inside the JSON text at POINTER.
fn capture(response: &Json, pointer: &str) -> Option<Json> {
    match pointer.split_once('#') {
        Some((outer, inner)) => {
            let text = response.pointer(outer)?.as_str()?;
            serde_json::from_str::<Json>(text)
                .ok()?
                .pointer(inner)
                .cloned()
        }
        None => response.pointer(pointer).cloned(),
    }
}

async fn run_case(path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Json = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let server = server(Vec::new());
    let mut captures = HashMap::new();
    let steps = case["steps"].as_array().ok_or("no steps")?;
    for (i, step) in steps.iter().enumerate() {
        let action = step["action"]
            .as_str()
            .ok_or(format!("step {i}: no action"))?;
        let body = encode_request(step.get("request").unwrap_or(&json!({})), &captures);
        let expected_response = step.get("response").map(|r| substitute(r, &captures));
        let place = format!("step {i} ({action})");
        // `"eventually": true`: the state asked for is reached asynchronously
        // (e.g. a callback's TaskSubmitted); ask again until it shows, a
        // bounded number of times.
        let attempts = if step.get("eventually") == Some(&Json::Bool(true)) {
            100
        } else {
            1
        };
        let mut answer = call(&server, request(action, &body)).await;
        for _ in 1..attempts {
            let matched = answer.0 == StatusCode::OK
                && expected_response
                    .as_ref()
                    .is_none_or(|expected| contains(&answer.1, expected, "").is_ok());
            if matched {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            answer = call(&server, request(action, &body)).await;
        }
        let (status, response) = answer;
        match step.get("error").and_then(Json::as_str) {
            Some(code) => {
                if status != StatusCode::BAD_REQUEST || response["__type"] != code {
                    return Err(format!(
                        "{place}: expected error {code}, got {status} {response}"
                    ));
                }
                if let Some(part) = step.get("message_contains").and_then(Json::as_str) {
                    let message = response["message"].as_str().unwrap_or_default();
                    if !message.contains(part) {
                        return Err(format!("{place}: message {message:?} lacks {part:?}"));
                    }
                }
            }
            None => {
                if status != StatusCode::OK {
                    return Err(format!(
                        "{place}: expected success, got {status} {response}"
                    ));
                }
                if let Some(expected) = &expected_response {
                    contains(&response, expected, "").map_err(|e| format!("{place}: {e}"))?;
                }
            }
        }
        if let Some(Json::Object(wanted)) = step.get("capture") {
            for (name, pointer) in wanted {
                let value = capture(&response, pointer.as_str().unwrap_or_default())
                    .ok_or(format!("{place}: nothing at {pointer}"))?;
                captures.insert(name.clone(), value);
            }
        }
    }
    Ok(steps.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases dir")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    let mut steps = 0;
    for path in &paths {
        match run_case(path).await {
            Ok(n) => steps += n,
            Err(e) => failures.push(format!(
                "{}: {e}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            )),
        }
    }
    println!(
        "{} case files, {steps} steps passed",
        paths.len() - failures.len()
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
    assert!(paths.len() >= 5, "the case files are missing");
}
