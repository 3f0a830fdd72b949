//! A fakecloud server (crates.io `fakecloud`, AGPL-3.0, run as a separate
//! process only) on a free loopback port: its ECS runs tasks as real Docker
//! containers from images in its own ECR.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use windlass_aws::{Config, Credentials};

pub struct Fakecloud {
    child: Child,
    pub port: u16,
}

/// `$FAKECLOUD`, the shared tools folder beside the checkout
/// (`../shared/tools/fakecloud`), or `fakecloud` on PATH.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FAKECLOUD") {
        return PathBuf::from(path);
    }
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/fakecloud");
    if shared.exists() {
        return shared;
    }
    PathBuf::from("fakecloud")
}

impl Fakecloud {
    /// Starts fakecloud and returns once it says it is ready.
    pub fn start() -> Fakecloud {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let binary = binary();
        let mut child = Command::new(&binary)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "fakecloud could not be started from {} ({e}): install it with `cargo install fakecloud --version 0.51.0 --locked` (scripts/setup does) or set FAKECLOUD",
                    binary.display()
                )
            });
        let stderr = child.stderr.take().expect("fakecloud's stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.contains("fakecloud is ready");
                    seen.push(line);
                    if ready {
                        break;
                    }
                }
                _ => panic!("fakecloud exited before it was ready: {}", seen.join("\n")),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Fakecloud { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn config(&self) -> Config {
        Config::local(
            &self.endpoint(),
            "us-east-1",
            Credentials {
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
                session_token: None,
            },
        )
    }
}

impl Drop for Fakecloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
