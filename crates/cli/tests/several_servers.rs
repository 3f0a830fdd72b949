//! Two `windlass server` processes on one PostgreSQL database: executions
//! with Wait states and activity tasks are started through both, an activity
//! worker takes tasks from either server and answers through the other, and
//! one server is killed with SIGKILL mid-run. The survivor must take over
//! the dead server's executions: every execution ends exactly once
//! (SUCCEEDED), and its history has no gap or duplicate.
//!
//! PostgreSQL comes from Debian's `postgresql` package (scripts/setup
//! installs it); `scripts/pg-cluster` starts a private cluster on a loopback
//! port. The test fails, never skips, when PostgreSQL is missing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

const WAITS: usize = 100;
const ACTIVITIES: usize = 10;
const LEASE_SECONDS: &str = "2";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts (or finds) the private cluster and makes a fresh database on it.
fn fresh_database(name: &str) -> String {
    let output = Command::new(repo_root().join("scripts/pg-cluster"))
        .arg("start")
        .output()
        .expect("scripts/pg-cluster runs");
    assert!(
        output.status.success(),
        "cannot start PostgreSQL (install Debian's postgresql, as scripts/setup does): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let admin_url = String::from_utf8_lossy(&output.stdout).trim().to_string();
    psql(&admin_url, &format!("DROP DATABASE IF EXISTS {name}"));
    psql(&admin_url, &format!("CREATE DATABASE {name}"));
    admin_url
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/{name}"))
        .expect("a URL with a database")
}

fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A running `windlass server` on the shared store, killed when dropped.
struct Server {
    child: Child,
    address: String,
    owner: String,
}

impl Server {
    fn start(store_url: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args([
                "server",
                "--bind",
                "127.0.0.1:0",
                "--store",
                store_url,
                "--lease-seconds",
                LEASE_SECONDS,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("windlass server starts");
        // The store line on stderr names this server's owner id.
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut owner = String::new();
        for _ in 0..5 {
            let mut line = String::new();
            if stderr.read_line(&mut line).expect("stderr line") == 0 {
                break;
            }
            if let Some(rest) = line.split("(owner ").nth(1) {
                owner = rest.split(',').next().unwrap_or_default().to_string();
                break;
            }
        }
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = stderr.read_to_string(&mut sink);
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server prints its address");
        let address = line
            .trim()
            .rsplit("http://")
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            address.starts_with("127.0.0.1:"),
            "unexpected first line: {line:?}"
        );
        assert!(!owner.is_empty(), "the server did not name its owner id");
        Server {
            child,
            address,
            owner,
        }
    }

    fn kill(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One AWS JSON 1.0 call over plain HTTP (the servers run without access
/// keys on loopback). Errors are the transport's; AWS errors come back as
/// their JSON shape with the status.
fn call(address: &str, action: &str, body: &Json) -> std::io::Result<(u16, Json)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(90)))?;
    let body = body.to_string();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {address}\r\nX-Amz-Target: AWSStepFunctions.{action}\r\n\
         Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let text = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let json = if text.is_empty() {
        Json::Null
    } else {
        serde_json::from_str(text).unwrap_or(Json::String(text.into()))
    };
    Ok((status, json))
}

fn ok(address: &str, action: &str, body: Json) -> Json {
    let (status, json) =
        call(address, action, &body).unwrap_or_else(|e| panic!("{action} on {address}: {e}"));
    assert_eq!(status, 200, "{action} on {address}: {json}");
    json
}

fn waits_definition() -> String {
    json!({
        "StartAt": "First",
        "States": {
            "First": { "Type": "Wait", "SecondsPath": "$.seconds", "Next": "Between" },
            "Between": { "Type": "Pass", "Result": "halfway", "ResultPath": "$.note", "Next": "Second" },
            "Second": { "Type": "Wait", "Seconds": 1, "Next": "Done" },
            "Done": { "Type": "Succeed" }
        }
    })
    .to_string()
}

fn activity_definition(activity_arn: &str) -> String {
    json!({
        "StartAt": "Settle",
        "States": {
            "Settle": { "Type": "Wait", "Seconds": 1, "Next": "Work" },
            "Work": {
                "Type": "Task",
                "Resource": activity_arn,
                "TimeoutSeconds": 5,
                // A task handed out by the server that dies may never reach
                // its worker: the timeout and a retry make it again.
                "Retry": [{ "ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 3 }],
                "End": true
            }
        }
    })
    .to_string()
}

/// Takes activity tasks from either server and answers through the other.
fn worker(
    servers: Vec<String>,
    activity_arn: String,
    dead: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) {
    let mut turn = 0usize;
    while !stop.load(Ordering::SeqCst) {
        turn += 1;
        let alive: Vec<&String> = servers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 0 || !dead.load(Ordering::SeqCst))
            .map(|(_, s)| s)
            .collect();
        let from = alive[turn % alive.len()];
        let to = alive[(turn + 1) % alive.len()];
        let Ok((200, task)) = call(
            from,
            "GetActivityTask",
            &json!({ "activityArn": activity_arn, "workerName": "w" }),
        ) else {
            continue;
        };
        let Some(token) = task.get("taskToken").and_then(Json::as_str) else {
            continue;
        };
        // Through the other server; like any client, on a connection error
        // (the server was killed) try the next one.
        let targets = [to, from];
        let sent = targets.iter().find_map(|to| {
            let output = json!({ "answeredBy": to }).to_string();
            let request = json!({ "taskToken": token, "output": output });
            call(to, "SendTaskSuccess", &request).ok()
        });
        if let Some((200, _)) = sent {
            answered.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Checks one history: ids 1..=n with no gap or duplicate, and exactly one
/// terminal event, ExecutionSucceeded, at the end.
fn check_history(address: &str, arn: &str) -> usize {
    let mut events = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut request = json!({ "executionArn": arn, "maxResults": 1000 });
        if let Some(token) = &next {
            request["nextToken"] = json!(token);
        }
        let page = ok(address, "GetExecutionHistory", request);
        events.extend(page["events"].as_array().cloned().unwrap_or_default());
        next = page
            .get("nextToken")
            .and_then(Json::as_str)
            .map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    let ids: Vec<u64> = events.iter().filter_map(|e| e["id"].as_u64()).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(ids, expected, "history of {arn} has a gap or a duplicate");
    let terminal: Vec<&str> = events
        .iter()
        .filter_map(|e| e["type"].as_str())
        .filter(|t| {
            matches!(
                *t,
                "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut"
            )
        })
        .collect();
    assert_eq!(
        terminal,
        ["ExecutionSucceeded"],
        "{arn} must end exactly once, and succeed"
    );
    // A task answered through one server and handed out through the other
    // still starts before it succeeds.
    let mut started = false;
    for kind in events.iter().filter_map(|e| e["type"].as_str()) {
        match kind {
            "ActivityScheduled" => started = false,
            "ActivityStarted" => started = true,
            "ActivitySucceeded" => {
                assert!(started, "{arn}: ActivitySucceeded without ActivityStarted")
            }
            _ => {}
        }
    }
    assert_eq!(
        events.last().and_then(|e| e["type"].as_str()),
        Some("ExecutionSucceeded"),
        "{arn}: events after the end"
    );
    events.len()
}

#[test]
fn two_servers_one_killed_every_execution_ends_once() {
    let database = format!("windlass_several_{}", std::process::id());
    let store_url = fresh_database(&database);
    let mut a = Server::start(&store_url);
    let b = Server::start(&store_url);

    let waits = ok(&a.address, "CreateStateMachine", json!({
        "name": "waits", "definition": waits_definition(), "roleArn": "arn:aws:iam::123456789012:role/r"
    }))["stateMachineArn"]
        .as_str()
        .expect("machine arn")
        .to_string();
    let activity = ok(&b.address, "CreateActivity", json!({ "name": "work" }))["activityArn"]
        .as_str()
        .expect("activity arn")
        .to_string();
    let activities = ok(&b.address, "CreateStateMachine", json!({
        "name": "activities", "definition": activity_definition(&activity), "roleArn": "arn:aws:iam::123456789012:role/r"
    }))["stateMachineArn"]
        .as_str()
        .expect("machine arn")
        .to_string();

    // Even executions start on A, odd ones on B; A's will need a new owner.
    let mut started: BTreeMap<String, &str> = BTreeMap::new();
    for i in 0..WAITS + ACTIVITIES {
        let server = if i % 2 == 0 { &a } else { &b };
        let (machine, input) = if i < WAITS {
            (&waits, json!({ "seconds": 2 + i % 3 }))
        } else {
            (&activities, json!({ "item": i }))
        };
        let arn = ok(
            &server.address,
            "StartExecution",
            json!({
                "stateMachineArn": machine, "name": format!("run-{i}"), "input": input.to_string()
            }),
        )["executionArn"]
            .as_str()
            .expect("execution arn")
            .to_string();
        started.insert(arn, if i % 2 == 0 { "A" } else { "B" });
    }
    let on_a = started.values().filter(|s| **s == "A").count();

    let dead = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    {
        let (servers, activity) = (vec![a.address.clone(), b.address.clone()], activity.clone());
        let (dead, stop, answered) = (dead.clone(), stop.clone(), answered.clone());
        std::thread::spawn(move || worker(servers, activity, dead, stop, answered));
    }

    // StopExecution through the server that does not drive the execution.
    let long = ok(
        &b.address,
        "StartExecution",
        json!({
            "stateMachineArn": waits, "name": "long", "input": json!({ "seconds": 300 }).to_string()
        }),
    )["executionArn"]
        .as_str()
        .expect("execution arn")
        .to_string();
    ok(
        &a.address,
        "StopExecution",
        json!({ "executionArn": long, "error": "Enough" }),
    );
    let stopped = ok(
        &a.address,
        "DescribeExecution",
        json!({ "executionArn": long }),
    );
    assert_eq!(
        stopped["status"], "ABORTED",
        "StopExecution through the other server: {stopped}"
    );

    // Mid-run: every Wait is still waiting.
    std::thread::sleep(Duration::from_millis(1200));
    let a_owner = a.owner.clone();
    let running_on_a = |url: &str| {
        psql(
            url,
            &format!(
                "SELECT count(*) FROM executions WHERE status = 'RUNNING' AND owner = '{a_owner}'"
            ),
        )
    };
    dead.store(true, Ordering::SeqCst);
    a.kill();
    let killed = Instant::now();
    let orphans = psql(
        &store_url,
        &format!("SELECT arn FROM executions WHERE status = 'RUNNING' AND owner = '{a_owner}'"),
    );
    let orphans: Vec<&str> = orphans.lines().collect();
    let before_kill = orphans.len();
    assert!(
        before_kill > 0,
        "server A should own running executions when it dies"
    );

    // The survivor takes A's executions over once A's lease runs out.
    while running_on_a(&store_url) != "0" {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "B did not take A's executions over"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let takeover = killed.elapsed();

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let running = psql(
            &store_url,
            "SELECT count(*) FROM executions WHERE status = 'RUNNING'",
        );
        if running == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{running} executions still running 90 s after the kill"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let all_done = killed.elapsed();
    stop.store(true, Ordering::SeqCst);

    let mut events = 0;
    for arn in started.keys() {
        let described = ok(
            &b.address,
            "DescribeExecution",
            json!({ "executionArn": arn }),
        );
        assert_eq!(described["status"], "SUCCEEDED", "{arn}: {described}");
        events += check_history(&b.address, arn);
    }
    // The executions A was running when it died were ended by the survivor.
    for arn in &orphans {
        let owner = psql(
            &store_url,
            &format!("SELECT owner FROM executions WHERE arn = '{arn}'"),
        );
        assert_eq!(
            owner, b.owner,
            "{arn} was running on the killed server and should have been taken over"
        );
    }
    let answered = answered.load(Ordering::SeqCst);
    // A SendTaskSuccess in flight to the killed server may have taken effect
    // without an answer, so the worker's count can be short of ACTIVITIES.
    assert!(answered > 0, "the worker answered no activity task");

    println!(
        "several servers: {} executions ({} started on the killed server, {before_kill} of them running when it died), \
         {events} history events, all SUCCEEDED once; takeover {:.2} s after kill -9 (lease {LEASE_SECONDS} s), \
         all ended {:.2} s after it; {answered} activity tasks answered across servers",
        started.len(),
        on_a,
        takeover.as_secs_f64(),
        all_done.as_secs_f64(),
    );
    drop(b);
    let admin = store_url
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/postgres"))
        .expect("url");
    // KEEP_DB=1 keeps the database to look into after a failure.
    if std::env::var_os("KEEP_DB").is_none() {
        psql(&admin, &format!("DROP DATABASE IF EXISTS {database}"));
    }
}
