//! What the end-to-end tests of `windlass server` share: the real binary on
//! a loopback port, and the Python clients (boto3) that drive it. Python and
//! its packages (`requirements-test.txt`) must be installed: the tests fail,
//! never skip, when they are missing.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const KEY_ID: &str = "AKIDWINDLASS";
pub const SECRET: &str = "windlass-secret";

/// A running `windlass server`, killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// Starts the server with `extra` arguments after the usual ones.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        Server::launch(data_dir, "127.0.0.1:0", extra)
    }

    /// Starts the server on `bind` (`127.0.0.1:PORT`).
    pub fn launch(data_dir: &Path, bind: &str, extra: &[&str]) -> Server {
        Server::launch_env(data_dir, bind, extra, &[])
    }

    /// Starts the server with `env` set and the AWS region variables
    /// removed (so the server's own region applies).
    pub fn launch_env(data_dir: &Path, bind: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
        if !env.is_empty() {
            command
                .env_remove("AWS_REGION")
                .env_remove("AWS_DEFAULT_REGION");
            command.envs(env.iter().copied());
        }
        // The keys come from the environment, as the server recommends:
        // a command line shows in `ps`.
        let mut child = command
            .env("WINDLASS_ACCESS_KEYS", format!("{KEY_ID}:{SECRET}"))
            .args(["server", "--bind", bind])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
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
    pub fn kill(mut self) {
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

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("windlass-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn require_python_packages() {
    let found = Command::new("python3")
        .args(["-c", "import boto3, awscli"])
        .output();
    let ok = found.as_ref().is_ok_and(|o| o.status.success());
    assert!(ok, "python3 with boto3 and awscli is required: pip install -r requirements-test.txt ({found:?})");
}

/// `python3 tests/server/SCRIPT ARGS`, not started yet.
pub fn python_command(script: &str, args: &[&str]) -> Command {
    require_python_packages();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/server")
        .join(script);
    let mut command = Command::new("python3");
    command.arg(script).args(args);
    command
}

/// Runs `tests/server/SCRIPT ARGS` with python3, echoing its output.
pub fn python(script: &str, args: &[&str]) -> Output {
    let output = python_command(script, args).output().expect("python3 runs");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Runs a scenario of `boto3_client.py` against the server at `url`.
pub fn boto3(scenario: &str, url: &str) -> Output {
    python("boto3_client.py", &[scenario, url])
}
