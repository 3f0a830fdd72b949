//! Kill -9 at scale: `windlass server` is killed with SIGKILL while 300
//! executions run (Waits, activity Tasks whose worker keeps going through the
//! outage, Maps whose iterations wait), then started again on the same port
//! and data directory. Every execution must end exactly once with a history
//! that has no gap or duplicate (`server/kill_at_scale.py` checks each).

mod server;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Instant;

use server::{python_command, temp_dir, Server};

/// A loopback port nothing listens on now, so the restarted server can take
/// the same address the clients already use.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("address").port()
}

#[test]
fn every_execution_ends_once_after_a_kill_at_scale() {
    let dir = temp_dir("kill-scale");
    let bind = format!("127.0.0.1:{}", free_port());
    let server = Server::launch(&dir, &bind, &[]);
    let mut client = python_command("kill_at_scale.py", &[&server.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut lines = BufReader::new(client.stdout.take().expect("stdout")).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .inspect(|line| println!("{line}"))
        .find(|line| line.starts_with("READY") || line.starts_with("FAIL"));
    assert!(
        ready.as_deref().is_some_and(|l| l.starts_with("READY")),
        "the client did not get the executions going: {ready:?}"
    );

    let killed = Instant::now();
    server.kill();
    // Start again only once the workers have felt the outage.
    let seen = lines
        .by_ref()
        .map_while(Result::ok)
        .inspect(|line| println!("{line}"))
        .find(|line| line.starts_with("OUTAGE SEEN"));
    assert!(seen.is_some(), "the workers never noticed the kill");
    let server = Server::launch(&dir, &bind, &[]);
    println!("server killed and started again in {:?}", killed.elapsed());
    let mut stdin = client.stdin.take().expect("stdin");
    writeln!(stdin, "restarted").expect("tell the client");
    drop(stdin);

    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    for line in &rest {
        println!("{line}");
    }
    let status = client.wait().expect("the client ends");
    drop(server);
    let failures: Vec<&String> = rest.iter().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        status.success() && failures.is_empty(),
        "executions did not end exactly once after the kill ({status}):\n{}",
        failures
            .iter()
            .take(20)
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        rest.iter().any(|l| l.starts_with("FIGURES")),
        "the client printed no figures"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
