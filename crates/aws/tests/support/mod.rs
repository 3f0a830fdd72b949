//! What the tests against real local AWS servers share: a `moto_server`
//! started on a free loopback port (and stopped with the test), and a
//! runtime whose Task states call it. Each test binary uses part of it.

#![allow(dead_code)]

pub mod fakecloud;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde_json::Value as Json;
use windlass_asl::parse::parse_text;
use windlass_aws::{Config, Credentials};
use windlass_engine::{ExecutionMeta, Outcome, Status};
use windlass_runtime::{Invokers, Runtime, StartRequest, SystemClock};
use windlass_store::memory::MemoryStore;

/// A moto server of this test's own.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` (from PATH) on a free loopback port and returns
    /// once it says it is listening.
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// Starts `moto_server` with `env` added to its environment.
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("moto_server could not be started ({e}): install it with `pip install -r requirements-test.txt` (scripts/setup does)")
            });
        let stderr = child.stderr.take().expect("moto's stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.contains("Running on");
                    seen.push(line);
                    if ready {
                        break;
                    }
                }
                _ => panic!("moto_server exited before listening: {}", seen.join("\n")),
            }
        }
        // Keep reading its log so moto never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn config(&self) -> Config {
        Config::local(
            &self.endpoint,
            "us-east-1",
            Credentials {
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
                session_token: None,
            },
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `definition` with `input` to its end on a durable runtime (memory
/// store) whose AWS integrations call `config`'s endpoint.
pub async fn run(config: Config, definition: &Json, input: Json) -> (Status, Outcome) {
    let (runtime, arn) = start(config, definition, input).await;
    finish(&runtime, &arn).await
}

/// Waits for the execution `arn` to end.
pub async fn finish(runtime: &Runtime, arn: &str) -> (Status, Outcome) {
    let finished = runtime.wait(arn).await.expect("the execution ends");
    (
        finished.status,
        finished.outcome.expect("an ended execution has an outcome"),
    )
}

/// Starts `definition` with `input` on a new runtime; returns the runtime
/// and the execution's ARN.
pub async fn start(config: Config, definition: &Json, input: Json) -> (Runtime, String) {
    let text = definition.to_string();
    let parsed = parse_text(&text)
        .valid()
        .unwrap_or_else(|d| panic!("the test's definition is invalid: {d:?}"));
    let mut invokers = Invokers::new();
    windlass_aws::register(&mut invokers, config);
    let runtime = Runtime::new(
        Arc::new(MemoryStore::new()),
        invokers,
        Arc::new(SystemClock),
    );
    let now = runtime.now_millis();
    let name = format!("run-{now}");
    let meta = ExecutionMeta {
        execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:m:{name}"),
        name,
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m".into(),
        state_machine_name: "m".into(),
        role_arn: "arn:aws:iam::123456789012:role/windlass".into(),
        input,
        start_millis: now,
        seed: 7,
        express: false,
    };
    let arn = meta.execution_arn.clone();
    runtime
        .start(StartRequest {
            definition_text: text,
            definition: Arc::new(parsed),
            meta,
        })
        .await
        .expect("the execution starts");
    (runtime, arn)
}

/// The output of an execution that must have succeeded.
pub async fn output(config: Config, definition: &Json, input: Json) -> Json {
    match run(config, definition, input).await {
        (Status::Succeeded, Outcome::Output(output)) => output,
        (status, outcome) => panic!("the execution ended {status:?}: {outcome:?}"),
    }
}
