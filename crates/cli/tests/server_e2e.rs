//! End-to-end tests of `windlass server`: the real binary on a loopback
//! port, driven by boto3 and the AWS CLI with signed requests (see
//! `server/mod.rs`).

mod server;

use std::process::Command;

use serde_json::Value as Json;
use server::{boto3, require_python_packages, temp_dir, Server, KEY_ID, SECRET};

#[test]
fn boto3_drives_every_part_of_the_api() {
    let dir = temp_dir("boto3");
    let server = Server::start(&dir);
    let output = boto3("scenario", &server.url);
    assert!(output.status.success(), "the boto3 scenario failed");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn executions_resume_after_the_server_is_killed() {
    let dir = temp_dir("restart");
    let server = Server::start(&dir);
    assert!(
        boto3("restart-start", &server.url).status.success(),
        "starting the executions failed"
    );
    server.kill();
    let server = Server::start(&dir);
    assert!(
        boto3("restart-finish", &server.url).status.success(),
        "the executions did not finish after the restart"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `aws stepfunctions ARGS` against the server and returns its JSON output.
fn aws(url: &str, args: &[&str]) -> Result<Json, String> {
    let output = Command::new("aws")
        .args([
            "--endpoint-url",
            url,
            "--region",
            "us-east-1",
            "--output",
            "json",
            "stepfunctions",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env_remove("AWS_PROFILE")
        .output()
        .map_err(|e| format!("the AWS CLI does not run: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).to_string());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    if text.trim().is_empty() {
        return Ok(Json::Null);
    }
    serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))
}

#[test]
fn aws_cli_creates_runs_stops_and_redrives() {
    require_python_packages();
    let dir = temp_dir("awscli");
    let server = Server::start(&dir);
    let url = server.url.as_str();
    let definition = r#"{"StartAt":"Hold","States":{"Hold":{"Type":"Wait","SecondsPath":"$.wait","Next":"Echo"},"Echo":{"Type":"Pass","End":true}}}"#;
    let role = "arn:aws:iam::123456789012:role/r";
    let created = aws(
        url,
        &[
            "create-state-machine",
            "--name",
            "Cli",
            "--role-arn",
            role,
            "--definition",
            definition,
        ],
    )
    .expect("create");
    let machine = created["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let updated = aws(
        url,
        &[
            "update-state-machine",
            "--state-machine-arn",
            &machine,
            "--definition",
            definition,
            "--publish",
        ],
    );
    assert_eq!(
        updated.expect("update")["stateMachineVersionArn"],
        format!("{machine}:1")
    );

    let quick = aws(
        url,
        &[
            "start-execution",
            "--state-machine-arn",
            &machine,
            "--name",
            "quick",
            "--input",
            r#"{"wait":0}"#,
        ],
    )
    .expect("start");
    let quick_arn = quick["executionArn"].as_str().expect("arn").to_string();
    let slow = aws(
        url,
        &[
            "start-execution",
            "--state-machine-arn",
            &machine,
            "--name",
            "slow",
            "--input",
            r#"{"wait":600}"#,
        ],
    )
    .expect("start");
    let slow_arn = slow["executionArn"].as_str().expect("arn").to_string();
    aws(
        url,
        &[
            "stop-execution",
            "--execution-arn",
            &slow_arn,
            "--error",
            "Cli.Stop",
        ],
    )
    .expect("stop");

    let described =
        aws(url, &["describe-execution", "--execution-arn", &quick_arn]).expect("describe");
    assert_eq!(
        (described["status"].as_str(), described["output"].as_str()),
        (Some("SUCCEEDED"), Some(r#"{"wait":0}"#))
    );
    let described =
        aws(url, &["describe-execution", "--execution-arn", &slow_arn]).expect("describe");
    assert_eq!(
        (described["status"].as_str(), described["error"].as_str()),
        (Some("ABORTED"), Some("Cli.Stop"))
    );

    // The CLI pages through history by itself (--page-size) and joins the pages.
    let history = aws(
        url,
        &[
            "get-execution-history",
            "--execution-arn",
            &quick_arn,
            "--page-size",
            "2",
        ],
    )
    .expect("history");
    let ids: Vec<u64> = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["id"].as_u64())
        .collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    assert!(ids.len() >= 6, "{history}");

    let listed = aws(
        url,
        &[
            "list-executions",
            "--state-machine-arn",
            &machine,
            "--status-filter",
            "ABORTED",
        ],
    )
    .expect("list");
    assert_eq!(listed["executions"][0]["name"], "slow");

    // The stopped execution is redriven: it waits in `Hold` again.
    let redriven = aws(url, &["redrive-execution", "--execution-arn", &slow_arn]).expect("redrive");
    assert!(redriven["redriveDate"].is_number(), "{redriven}");
    let described =
        aws(url, &["describe-execution", "--execution-arn", &slow_arn]).expect("describe");
    assert_eq!(
        (
            described["status"].as_str(),
            described["redriveCount"].as_u64()
        ),
        (Some("RUNNING"), Some(1))
    );
    let again = aws(url, &["redrive-execution", "--execution-arn", &slow_arn]);
    assert!(
        again
            .as_ref()
            .is_err_and(|e| e.contains("ExecutionNotRedrivable")),
        "{again:?}"
    );

    let missing = aws(
        url,
        &[
            "describe-state-machine",
            "--state-machine-arn",
            &format!("{machine}-nope"),
        ],
    );
    assert!(
        missing
            .as_ref()
            .is_err_and(|e| e.contains("StateMachineDoesNotExist")),
        "{missing:?}"
    );
    let invalid = aws(
        url,
        &[
            "create-state-machine",
            "--name",
            "Bad",
            "--role-arn",
            role,
            "--definition",
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#,
        ],
    );
    assert!(
        invalid.as_ref().is_err_and(
            |e| e.contains("InvalidDefinition") && e.contains("MISSING_TRANSITION_TARGET")
        ),
        "{invalid:?}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
