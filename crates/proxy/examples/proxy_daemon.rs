//! Runs the proxy daemon in the foreground, as `windlass proxy --state DIR`
//! will: `cargo run -p windlass-proxy --example proxy_daemon -- --state DIR`.
//! It prints its control socket (`DIR/proxy.sock`), then serves until
//! Ctrl-C or SIGTERM; drive it with `curl` as the same user, e.g. `curl
//! --unix-socket DIR/proxy.sock -X PUT -d '{"listen":"127.0.0.1:8080"}'
//! http://localhost/v1/services/web`.

use std::path::PathBuf;
use std::process::ExitCode;

use windlass_proxy::daemon::{self, Daemon};

fn usage(problem: &str) -> ExitCode {
    eprintln!("proxy_daemon: {problem}\nusage: proxy_daemon --state DIR");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut state_dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--state", Some(dir)) => state_dir = Some(PathBuf::from(dir)),
            (other, _) => return usage(&format!("unexpected argument {other:?}")),
        }
    }
    let Some(state_dir) = state_dir else {
        return usage("--state DIR is required");
    };
    let daemon = match Daemon::start(daemon::Config { state_dir }).await {
        Ok(daemon) => daemon,
        Err(e) => {
            eprintln!("proxy_daemon: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("control {}", daemon.control_socket().display());
    match daemon.run_until_signal().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proxy_daemon: {e}");
            ExitCode::FAILURE
        }
    }
}
