//! Waiting for a container to be healthy: by Docker's health status, or by
//! windlass's own HTTP or TCP probe on the port it publishes on 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::backend::{Backend, Container, Error, Health, RunState};

/// Which signal says "healthy".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Docker's healthcheck status (the container must have a healthcheck).
    Docker,
    /// HTTP GET `path` on the published `port`; any 2xx is healthy.
    Http { port: u16, path: String },
    /// A TCP connection to the published `port` is accepted.
    Tcp { port: u16 },
    /// Nothing to probe (a service that publishes no port and has no
    /// healthcheck): the container is still running one interval after it
    /// was first seen running.
    Running,
    /// A one-shot job (`service_completed_successfully`): the container
    /// exited with code 0.
    Completes,
}

/// How to wait.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitConfig {
    pub check: Check,
    /// Between two looks.
    pub interval: Duration,
    /// For one HTTP or TCP probe.
    pub probe_timeout: Duration,
    /// Give up after this long.
    pub deadline: Duration,
}

impl WaitConfig {
    pub fn new(check: Check) -> WaitConfig {
        WaitConfig {
            check,
            interval: Duration::from_millis(50),
            probe_timeout: Duration::from_secs(1),
            deadline: Duration::from_secs(60),
        }
    }
}

/// How long an accepted connection must stay open to count as served.
const SETTLE: Duration = Duration::from_millis(100);

/// Whether an accepted connection is served: Docker's port forwarder
/// accepts on the published port before the container's process listens,
/// then closes the connection at once. A server keeps it open (waiting for
/// the client, as Redis or PostgreSQL do) or speaks first (a greeting).
async fn still_open(mut stream: TcpStream) -> Result<(), String> {
    let mut byte = [0u8; 1];
    match timeout(SETTLE, stream.read(&mut byte)).await {
        Err(_) | Ok(Ok(1..)) => Ok(()),
        Ok(Ok(_)) => {
            Err("accepted and closed at once: nothing listens in the container yet".into())
        }
        Ok(Err(e)) => Err(format!("accepted, then {e}")),
    }
}

/// Waits until container `id` is healthy and returns it as last inspected.
/// Fails at once when it exits or Docker calls it unhealthy.
pub async fn wait_healthy(
    backend: &dyn Backend,
    id: &str,
    config: &WaitConfig,
) -> Result<Container, Error> {
    wait_healthy_noting(backend, id, config, &|_| {}).await
}

/// [`wait_healthy`], telling `note` what the last look saw while it waits.
/// A failure carries the end of the container's output.
pub async fn wait_healthy_noting(
    backend: &dyn Backend,
    id: &str,
    config: &WaitConfig,
    note: &crate::backend::Note,
) -> Result<Container, Error> {
    let mut err = match look_until_healthy(backend, id, config, note).await {
        Ok(container) => return Ok(container),
        Err(err) => err,
    };
    if let Error::Exited { output, .. }
    | Error::Unhealthy { output, .. }
    | Error::HealthTimeout { output, .. } = &mut err
    {
        *output = last_output(backend, id).await;
    }
    Err(err)
}

/// Lines of a container's output a failure shows, and their width.
const OUTPUT_LINES: u32 = 10;
const OUTPUT_LINE_CHARS: usize = 300;

/// The last lines the container printed, indented, each cut to a width a
/// message can carry; empty when it printed nothing or cannot be read.
async fn last_output(backend: &dyn Backend, id: &str) -> String {
    let Ok(logs) = backend.container_logs(id, OUTPUT_LINES).await else {
        return String::new();
    };
    logs.lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .map(|line| match line.char_indices().nth(OUTPUT_LINE_CHARS) {
            Some((cut, _)) => format!("    {}…", &line[..cut]),
            None => format!("    {line}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn look_until_healthy(
    backend: &dyn Backend,
    id: &str,
    config: &WaitConfig,
    note: &crate::backend::Note,
) -> Result<Container, Error> {
    let started = Instant::now();
    let mut last = String::from("not inspected yet");
    let mut seen_running = false;
    loop {
        let container = backend.inspect_container(id).await?;
        if config.check == Check::Completes {
            match container.state {
                RunState::Exited { code: 0 } => return Ok(container),
                _ => last = "it has not exited yet".into(),
            }
        }
        if let RunState::Exited { code } = container.state {
            return Err(Error::Exited {
                container: id.to_owned(),
                code,
                output: String::new(),
            });
        }
        let healthy = match &config.check {
            Check::Docker => match container.health {
                Health::Healthy => true,
                Health::Unhealthy => {
                    let detail = container
                        .health_log
                        .clone()
                        .unwrap_or_else(|| "healthcheck failed".into());
                    return Err(Error::Unhealthy {
                        container: id.to_owned(),
                        detail: detail.trim().to_owned(),
                        output: String::new(),
                    });
                }
                Health::None => {
                    return Err(Error::Unhealthy {
                        container: id.to_owned(),
                        detail:
                            "it has no Docker healthcheck; give one or use an HTTP or TCP probe"
                                .into(),
                        output: String::new(),
                    })
                }
                Health::Starting => {
                    last = "Docker health is still starting".into();
                    false
                }
            },
            Check::Http { port, path } => match address(&container, *port, &mut last)? {
                None => false,
                Some(addr) => match timeout(config.probe_timeout, http_status(addr, path)).await {
                    Ok(Ok(status)) if (200..300).contains(&status) => true,
                    Ok(Ok(status)) => {
                        last = format!("GET {path} on {addr} answered {status}");
                        false
                    }
                    Ok(Err(err)) => {
                        last = format!("GET {path} on {addr}: {err}");
                        false
                    }
                    Err(_) => {
                        last = format!("GET {path} on {addr} timed out");
                        false
                    }
                },
            },
            // Handled above: not exited yet.
            Check::Completes => false,
            Check::Running => {
                let running = container.state == RunState::Running;
                // A single look (a zero deadline, as the watch asks) takes
                // running for healthy; a wait wants it running twice.
                let steady = running && (seen_running || config.deadline.is_zero());
                seen_running = running;
                last = format!("the container is {}", run_state_word(&container.state));
                steady
            }
            Check::Tcp { port } => match address(&container, *port, &mut last)? {
                None => false,
                Some(addr) => match timeout(config.probe_timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => match still_open(stream).await {
                        Ok(()) => true,
                        Err(why) => {
                            last = format!("{addr}: {why}");
                            false
                        }
                    },
                    Ok(Err(err)) => {
                        last = format!("connect to {addr}: {err}");
                        false
                    }
                    Err(_) => {
                        last = format!("connect to {addr} timed out");
                        false
                    }
                },
            },
        };
        if healthy {
            return Ok(container);
        }
        if started.elapsed() >= config.deadline {
            return Err(Error::HealthTimeout {
                container: id.to_owned(),
                waited: config.deadline,
                last,
                output: String::new(),
            });
        }
        note(&format!(
            "not healthy yet after {} s (of {} s allowed): {last}",
            started.elapsed().as_secs(),
            config.deadline.as_secs()
        ));
        tokio::time::sleep(config.interval).await;
    }
}

/// Where the probe reaches the container's `port`: `None` (with `last`
/// saying why) while the container is not running, as one whose restart
/// policy starts it again after it exited (`restart: always`): the engine
/// unpublishes its ports meanwhile, so a missing port is not the file's
/// fault then.
fn address(
    container: &Container,
    port: u16,
    last: &mut String,
) -> Result<Option<SocketAddr>, Error> {
    if let Some(addr) = container.published.get(&port) {
        return Ok(Some(*addr));
    }
    match &container.state {
        RunState::Running => Err(Error::NotPublished {
            container: container.id.clone(),
            port,
        }),
        RunState::Other(state) if state == "restarting" => {
            *last = "the container is restarting: it exited and its restart policy starts it again"
                .into();
            Ok(None)
        }
        state => {
            *last = format!("the container is not running ({})", run_state_word(state));
            Ok(None)
        }
    }
}

fn run_state_word(state: &RunState) -> String {
    match state {
        RunState::Created => "created".into(),
        RunState::Running => "running".into(),
        RunState::Exited { code } => format!("exited with code {code}"),
        RunState::Other(state) => state.clone(),
    }
}

/// One HTTP/1.1 GET; returns the status code. Only ever sent to 127.0.0.1.
pub async fn http_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nuser-agent: windlass-probe\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not an HTTP answer: {:?}",
                    line.lines().next().unwrap_or("")
                ),
            )
        })
}
