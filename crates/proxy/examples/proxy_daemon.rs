//! Runs the proxy daemon in the foreground, as `windlass proxy --state DIR`
//! will: `cargo run -p windlass-proxy --example proxy_daemon -- --state DIR
//! [--control 127.0.0.1:PORT]`. It prints its control address, then serves
//! until Ctrl-C or SIGTERM; drive it with `curl`, e.g.
//! `curl -X PUT -d '{"listen":"127.0.0.1:8080"}' http://CONTROL/v1/services/web`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use windlass_proxy::daemon::{self, Daemon};

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "proxy_daemon: {problem}\nusage: proxy_daemon --state DIR [--control 127.0.0.1:PORT]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut state_dir = None;
    let mut control = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--state", Some(dir)) => state_dir = Some(PathBuf::from(dir)),
            ("--control", Some(addr)) => match addr.parse() {
                Ok(addr) => control = addr,
                Err(_) => return usage(&format!("--control {addr:?} is not an address")),
            },
            (other, _) => return usage(&format!("unexpected argument {other:?}")),
        }
    }
    let Some(state_dir) = state_dir else {
        return usage("--state DIR is required");
    };
    let daemon = match Daemon::start(daemon::Config { control, state_dir }).await {
        Ok(daemon) => daemon,
        Err(e) => {
            eprintln!("proxy_daemon: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("control {}", daemon.control_addr());
    match daemon.run_until_signal().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proxy_daemon: {e}");
            ExitCode::FAILURE
        }
    }
}
