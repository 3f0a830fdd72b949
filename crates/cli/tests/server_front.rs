//! `windlass server`'s defences on the real binary, on loopback ports: a
//! DNS-rebinding request is refused while local names are answered, a
//! client that trickles its request head is cut off, access keys come from
//! a file of mode 0600 (and the flag is warned about), YAML definitions
//! are refused to the AWS CLI, TLS serves the AWS CLI, and logs reach
//! stderr as text or JSON (by flag or WINDLASS_LOG_FORMAT), a store
//! failure included.

mod server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use server::{require_python_packages, temp_dir, KEY_ID, SECRET};

/// A `windlass server` whose stderr lines arrive on `log`.
struct Running {
    child: Child,
    /// `127.0.0.1:PORT`.
    address: String,
    /// The URL it printed (`http://...` or `https://...`).
    url: String,
    log: Receiver<String>,
}

impl Running {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(["server", "--bind", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("WINDLASS_ACCESS_KEYS")
            .env_remove("WINDLASS_STORE")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("windlass server starts");
        let (sender, log) = channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("server: {line}");
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server prints its address");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        let address = url
            .split_once("://")
            .map(|(_, a)| a.to_string())
            .unwrap_or_default();
        assert!(
            address.starts_with("127.0.0.1:"),
            "unexpected first line: {line:?}"
        );
        Running {
            child,
            address,
            url,
            log,
        }
    }

    /// The first stderr line that `matches`, waiting up to 30 s for it.
    fn wait_for_line(&self, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if matches(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("no such line on the server's stderr"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` as it is and gives all the server answers.
fn raw(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    stream.write_all(request.as_bytes()).expect("writes");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// An unsigned API call with `host` as its Host.
fn api(address: &str, host: &str, action: &str, body: &str) -> String {
    raw(
        address,
        &format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AWSStepFunctions.{action}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn page(address: &str, host: &str, path: &str) -> String {
    raw(
        address,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn a_rebound_name_is_refused_and_logs_are_json_lines() {
    let server = Running::start(
        &[
            "--store",
            "memory",
            "--allowed-host",
            "windlass.test",
            "--log-format",
            "json",
        ],
        &[("RUST_LOG", "info")],
    );
    let address = server.address.as_str();
    let port = address.rsplit(':').next().unwrap_or_default();
    let evil = format!("evil.example:{port}");
    assert!(api(address, &evil, "ListStateMachines", "{}").starts_with("HTTP/1.1 421"));
    assert!(page(address, &evil, "/ui/").starts_with("HTTP/1.1 421"));
    let own = api(address, address, "ListStateMachines", "{}");
    assert!(own.starts_with("HTTP/1.1 200"), "{own}");
    for host in [format!("localhost:{port}"), format!("windlass.test:{port}")] {
        let answer = page(address, &host, "/ui/");
        assert!(answer.starts_with("HTTP/1.1 200"), "{host}: {answer}");
        assert!(answer.contains("frame-ancestors 'none'"), "{answer}");
    }
    // Every line is a JSON object; the refusal is one of them.
    let refusal = server.wait_for_line(|line| line.contains("evil.example"));
    let refusal: serde_json::Value = serde_json::from_str(&refusal).expect("a JSON line");
    assert_eq!(refusal["level"], "WARN");
    assert_eq!(refusal["host"], evil.as_str());
}

#[test]
fn a_store_that_refuses_writes_answers_500_and_leaves_a_line() {
    let dir = temp_dir("front-store");
    let db = dir.join("windlass.db");
    let spec = format!("sqlite:{}", db.display());
    // RUST_LOG unset: a server logs at info by default, as text.
    let server = Running::start(&[], &[("WINDLASS_STORE", spec.as_str())]);
    server.wait_for_line(|line| line.contains("INFO") && line.contains("listening"));
    let blocker = rusqlite::Connection::open(&db).expect("the database opens");
    blocker
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("the write lock");
    let machine = serde_json::json!({
        "name": "Blocked",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "definition": r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#,
    });
    let answer = api(
        &server.address,
        &server.address,
        "CreateStateMachine",
        &machine.to_string(),
    );
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(answer.contains("InternalFailure"), "{answer}");
    let line = server.wait_for_line(|line| line.contains("request failed"));
    assert!(
        line.contains("ERROR") && line.contains("CreateStateMachine"),
        "{line}"
    );
    drop(blocker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_that_trickles_its_head_is_cut_off() {
    let server = Running::start(&["--store", "memory", "--header-timeout", "1"], &[]);
    let mut slow = TcpStream::connect(&server.address).expect("connects");
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    let started = Instant::now();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AWSSte")
        .expect("writes");
    let answer = api(&server.address, &server.address, "ListStateMachines", "{}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let mut rest = Vec::new();
    let read = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    // Closed by the server (a read timeout of ours would be an error).
    assert!(read.is_ok(), "the connection stayed open: {read:?}");
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
}

/// `aws stepfunctions ARGS` against `url` with the test's key.
fn aws(url: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    require_python_packages();
    Command::new("aws")
        .args([
            "--endpoint-url",
            url,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .arg("stepfunctions")
        .args(args)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env_remove("AWS_PROFILE")
        .envs(env.iter().copied())
        .output()
        .expect("the AWS CLI runs")
}

fn write_private(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("writes");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn keys_come_from_a_private_file_and_yaml_is_refused_to_the_aws_cli() {
    let dir = temp_dir("front-keys");
    let file = dir.join("keys");
    write_private(
        &file,
        &format!("# the test's key\n{KEY_ID}:{SECRET}\n"),
        0o644,
    );
    let refused = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["server", "--bind", "127.0.0.1:0", "--store", "memory"])
        .arg("--access-key-file")
        .arg(&file)
        .output()
        .expect("runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stderr.contains(SECRET), "the secret was printed: {stderr}");

    write_private(
        &file,
        &format!("# the test's key\n{KEY_ID}:{SECRET}\n"),
        0o600,
    );
    let path = file.to_string_lossy().into_owned();
    let server = Running::start(&["--store", "memory", "--access-key-file", &path], &[]);
    let listed = aws(&server.url, &["list-state-machines"], &[]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let yaml = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n";
    let created = aws(
        &server.url,
        &[
            "create-state-machine",
            "--name",
            "Yaml",
            "--role-arn",
            "arn:aws:iam::123456789012:role/r",
            "--definition",
            yaml,
        ],
        &[],
    );
    assert!(!created.status.success());
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(
        stderr.contains("InvalidDefinition") && stderr.contains("INVALID_JSON_DESCRIPTION"),
        "{stderr}"
    );
    drop(server);

    let flagged = Running::start(
        &[
            "--store",
            "memory",
            "--access-key",
            &format!("{KEY_ID}:{SECRET}"),
        ],
        &[],
    );
    let warning = flagged.wait_for_line(|line| line.contains("--access-key shows the secret"));
    assert!(warning.contains("WARN"), "{warning}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_serves_the_aws_cli() {
    let dir = temp_dir("front-tls");
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("a certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("writes");
    write_private(&key, &certified.key_pair.serialize_pem(), 0o600);
    let (cert_text, key_text) = (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    );
    let keys = format!("{KEY_ID}:{SECRET}");
    let server = Running::start(
        &[
            "--store",
            "memory",
            "--tls-cert",
            &cert_text,
            "--tls-key",
            &key_text,
        ],
        &[
            ("WINDLASS_ACCESS_KEYS", keys.as_str()),
            ("WINDLASS_LOG_FORMAT", "json"),
        ],
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    // The log format from the environment, as a proxy started by an agent gets it.
    let line = server.wait_for_line(|line| line.contains("listening"));
    let line: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(line["tls"], true, "{line}");
    let listed = aws(
        &server.url,
        &["list-state-machines"],
        &[("AWS_CA_BUNDLE", cert_text.as_str())],
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    // In clear, the TLS port answers nothing.
    let plain = api(&server.address, &server.address, "ListStateMachines", "{}");
    assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");
    let _ = std::fs::remove_dir_all(&dir);
}
