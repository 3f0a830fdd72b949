//! `windlass-testapp`: a tiny HTTP server for deploy tests, shaped by environment.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `TESTAPP_PORT` | port to listen on (all interfaces) | 8080 |
//! | `TESTAPP_VERSION` | text served at `/` and `/version` | `dev` |
//! | `TESTAPP_VERSION_FROM` | files (comma-separated) whose contents (`PATH`), permission bits (`PATH@mode`, octal) or owner (`PATH@uid`), trimmed and joined by `\|`, are the version instead (read at start) | none |
//! | `TESTAPP_HEALTH_PATH` | health endpoint | `/health` |
//! | `TESTAPP_CRASH_AT_START` | exit with this code before listening | |
//! | `TESTAPP_CRASH_REPLICAS` | replicas (`WINDLASS_REPLICA`, comma-separated) that exit with 3 before listening | |
//! | `TESTAPP_START_DELAY_MS` | wait this long before listening | 0 |
//! | `TESTAPP_UNHEALTHY_AFTER_MS` | health answers 503 after this long | never |
//! | `TESTAPP_ERROR_RATIO` | exact share of 500 answers on `/` and `/version` | 0 |
//! | `TESTAPP_ERRORS_AFTER_MS` | the 500s begin after this long | 0 |
//! | `TESTAPP_SLOW_MS` | delay before each answer on `/` and `/version` | 0 |
//! | `TESTAPP_LAMBDA_ERROR` | a Lambda invocation fails with this `errorType` | |
//! | `TESTAPP_EXTRA_PORTS` | more TCP ports serving the same app, comma-separated | |
//! | `TESTAPP_UDP_PORT` | a UDP port answering each datagram with `VERSION:` and the datagram | |
//!
//! `POST /2015-03-31/functions/function/invocations` is a Lambda
//! invocation (what the Runtime Interface Emulator and fakecloud's Lambda
//! send to a container image's port 8080): it answers the event it got and
//! the version, so the same image is a Lambda function for hook tests.
//!
//! `windlass-testapp probe` GETs the health endpoint on 127.0.0.1 and exits 0
//! when it answers 200: a Docker `HEALTHCHECK` for images with no shell.
//! `windlass-testapp exit CODE` prints a line naming its version and exits
//! with CODE: a stand-in for a deploy hook's command (a migration, say).
//! `windlass-testapp ask SOCKET TEXT` sends TEXT on the unix socket SOCKET
//! and prints what comes back: a client of a forwarded SSH agent's socket
//! in a build (`RUN --mount=type=ssh`).

mod config;
mod lambda;
mod server;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use config::Config;

fn main() -> ExitCode {
    let started = Instant::now();
    let config = match Config::from_lookup(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("testapp: {message}");
            return ExitCode::from(2);
        }
    };
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => run(config, started),
        Some("probe") => probe(&config),
        Some("ask") => ask(),
        Some("exit") => {
            let code = std::env::args()
                .nth(2)
                .and_then(|c| c.parse::<u8>().ok())
                .unwrap_or(0);
            println!("testapp {}: hook ran, exiting with {code}", config.version);
            ExitCode::from(code)
        }
        Some(other) => {
            eprintln!(
                "testapp: unknown command {other:?}; expected `serve`, `probe` or `exit CODE`"
            );
            ExitCode::from(2)
        }
    }
}

/// `ask SOCKET TEXT`: TEXT to the unix socket, its answer to stdout.
fn ask() -> ExitCode {
    let mut args = std::env::args().skip(2);
    let (Some(socket), Some(text)) = (args.next(), args.next()) else {
        eprintln!("testapp ask: expected SOCKET TEXT");
        return ExitCode::from(2);
    };
    let asked = std::os::unix::net::UnixStream::connect(&socket).and_then(|mut stream| {
        stream.write_all(text.as_bytes())?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    });
    match asked {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("testapp ask {socket}: {err}");
            ExitCode::from(1)
        }
    }
}

fn run(config: Config, started: Instant) -> ExitCode {
    if let Some(code) = config.crash_at_start {
        eprintln!("testapp: crashing at start as TESTAPP_CRASH_AT_START asks (exit {code})");
        std::process::exit(code);
    }
    std::thread::sleep(config.start_delay);
    let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, config.port)) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("testapp: cannot listen on port {}: {err}", config.port);
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "testapp: version {} listening on port {}",
        config.version, config.port
    );
    let version = config.version.clone();
    let (extra, udp) = (config.extra_ports.clone(), config.udp_port);
    let app = Arc::new(server::App::new(config, started));
    for port in extra {
        let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
            Ok(listener) => listener,
            Err(err) => {
                eprintln!("testapp: cannot listen on port {port}: {err}");
                return ExitCode::from(1);
            }
        };
        let app = Arc::clone(&app);
        std::thread::spawn(move || server::serve(listener, app));
    }
    if let Some(port) = udp {
        match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)) {
            Ok(socket) => {
                std::thread::spawn(move || udp_echo(&socket, &version));
            }
            Err(err) => {
                eprintln!("testapp: cannot listen on UDP port {port}: {err}");
                return ExitCode::from(1);
            }
        }
    }
    match server::serve(listener, app) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("testapp: {err}");
            ExitCode::from(1)
        }
    }
}

/// Answers each datagram with `VERSION:` and the datagram.
fn udp_echo(socket: &UdpSocket, version: &str) {
    let mut buffer = vec![0u8; 65_535];
    loop {
        match socket.recv_from(&mut buffer) {
            Ok((length, from)) => {
                let mut answer = format!("{version}:").into_bytes();
                answer.extend_from_slice(&buffer[..length]);
                if let Err(err) = socket.send_to(&answer, from) {
                    eprintln!("testapp: cannot answer a datagram: {err}");
                }
            }
            Err(err) => eprintln!("testapp: UDP receive failed: {err}"),
        }
    }
}

fn probe(config: &Config) -> ExitCode {
    let result = (|| -> std::io::Result<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, config.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let request = format!(
            "GET {} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
            config.health_path
        );
        stream.write_all(request.as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    })();
    match result {
        Ok(answer) if answer.starts_with("HTTP/1.1 200") => ExitCode::SUCCESS,
        Ok(answer) => {
            eprintln!(
                "testapp probe: {}",
                answer.lines().next().unwrap_or("empty answer")
            );
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("testapp probe: {err}");
            ExitCode::from(1)
        }
    }
}
