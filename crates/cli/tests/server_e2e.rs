//! End-to-end tests of `windlass server`: the real binary on a loopback
//! port, driven by boto3 and the AWS CLI with signed requests. Python and its
//! packages (`requirements-test.txt`) must be installed: these tests fail,
//! never skip, when they are missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value as Json;

const KEY_ID: &str = "AKIDWINDLASS";
const SECRET: &str = "windlass-secret";

/// A running `windlass server`, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args([
                "server",
                "--bind",
                "127.0.0.1:0",
                "--access-key",
                &format!("{KEY_ID}:{SECRET}"),
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("windlass server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server prints its address");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected first line: {line:?}"
        );
        Server { child, url }
    }

    /// Kills the server the hard way, as a crash would.
    fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("windlass-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn require_python_packages() {
    let found = Command::new("python3")
        .args(["-c", "import boto3, awscli"])
        .output();
    let ok = found.as_ref().is_ok_and(|o| o.status.success());
    assert!(ok, "python3 with boto3 and awscli is required: pip install -r requirements-test.txt ({found:?})");
}

fn boto3(scenario: &str, url: &str) -> Output {
    require_python_packages();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/server/boto3_client.py");
    let output = Command::new("python3")
        .arg(script)
        .args([scenario, url])
        .output()
        .expect("python3 runs");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

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
fn aws_cli_creates_runs_and_stops() {
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
