//! `DOCKER_HOST=ssh://[USER@]HOST[:PORT]`, as the `docker` CLI reaches such
//! an engine (its `connhelper`): each connection is the system's `ssh -T
//! [-l USER] [-p PORT] -- HOST docker system dial-stdio`, the child's
//! stdin and stdout the connection's two directions. So the user's ssh
//! setup (`~/.ssh/config`, keys, the agent, known hosts) applies as it
//! does to `docker`; `BatchMode` keeps a missing key from waiting for a
//! password nobody types. bollard's own `ssh` transport drops the port.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::{BollardRequest, Docker, API_DEFAULT_VERSION};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Where `ssh` goes: `ssh://[USER@]HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Destination {
    /// Reads `ssh://[USER@]HOST[:PORT]`; a path or a query is refused, as
    /// the `docker` CLI refuses them.
    pub fn parse(url: &str) -> Result<Destination, String> {
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| format!("{url}: not an ssh:// address"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(format!(
                "{url}: an ssh:// address is ssh://[USER@]HOST[:PORT], without a path"
            ));
        }
        let (user, host_port) = match rest.rsplit_once('@') {
            Some((user, host_port)) => (Some(user.to_owned()), host_port),
            None => (None, rest),
        };
        // `[IPV6]:PORT`, `[IPV6]`, `HOST:PORT` or `HOST`.
        let (host, port) = match host_port.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((host, "")) => (host, None),
                Some((host, port)) => (host, port.strip_prefix(':')),
                None => return Err(format!("{url}: no `]` after the address")),
            },
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("{url}: the port {p} is not a number"))
            })
            .transpose()?;
        let host = host.to_owned();
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        Ok(Destination { user, host, port })
    }

    /// The `ssh` arguments that run `docker system dial-stdio` there.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "-T".to_owned(),
            "-o".to_owned(),
            "BatchMode=yes".to_owned(),
            "-o".to_owned(),
            "ConnectTimeout=30".to_owned(),
        ];
        if let Some(user) = &self.user {
            args.extend(["-l".to_owned(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_owned(), port.to_string()]);
        }
        args.extend([
            "--".to_owned(),
            self.host.clone(),
            "docker".to_owned(),
            "system".to_owned(),
            "dial-stdio".to_owned(),
        ]);
        args
    }
}

/// A client of the engine at `url` over ssh.
pub fn connect(url: &str, timeout: u64) -> Result<Docker, String> {
    let destination = Arc::new(Destination::parse(url)?);
    let client = Arc::new(Client::builder(TokioExecutor::new()).build(Dialer { destination }));
    let transport = move |request: BollardRequest| {
        let client = Arc::clone(&client);
        async move {
            client
                .request(request)
                .await
                .map_err(bollard::errors::Error::from)
        }
    };
    Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        timeout,
        API_DEFAULT_VERSION,
    )
    .map_err(|e| format!("{url}: {e}"))
}

/// Makes each connection by starting `ssh`.
#[derive(Clone)]
struct Dialer {
    destination: Arc<Destination>,
}

impl tower::Service<Uri> for Dialer {
    type Response = TokioIo<Pipe>;
    type Error = io::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = io::Result<TokioIo<Pipe>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let destination = Arc::clone(&self.destination);
        Box::pin(async move {
            let mut child = Command::new("ssh")
                .args(destination.args())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                // ssh's own errors (a refused key, an unknown host) reach
                // the user's terminal and the agent's log, as with docker.
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("ssh: {e}")))?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(io::Error::other("ssh: no pipes"));
            };
            Ok(TokioIo::new(Pipe {
                _child: child,
                stdin,
                stdout,
            }))
        })
    }
}

/// One connection: what is written goes to ssh's stdin, what is read
/// comes from its stdout; dropping it ends the ssh.
struct Pipe {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl AsyncRead for Pipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}

impl Connection for Pipe {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_host_and_port_become_ssh_arguments() {
        let d = Destination::parse("ssh://deploy@manager1:2222").expect("parsed");
        assert_eq!(
            d,
            Destination {
                user: Some("deploy".into()),
                host: "manager1".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            d.args().join(" "),
            "-T -o BatchMode=yes -o ConnectTimeout=30 -l deploy -p 2222 -- manager1 docker system dial-stdio"
        );
        let d = Destination::parse("ssh://manager1").expect("parsed");
        assert_eq!((d.user, d.port), (None, None));
        let d = Destination::parse("ssh://root@[fd00::1]:22").expect("parsed");
        assert_eq!((d.host.as_str(), d.port), ("fd00::1", Some(22)));
    }

    #[test]
    fn a_path_or_a_bad_port_is_refused() {
        let e = Destination::parse("ssh://me@host/var/run/docker.sock").expect_err("a path");
        assert!(e.contains("without a path"), "{e}");
        let e = Destination::parse("ssh://me@host:ssh").expect_err("a port name");
        assert!(e.contains("the port ssh is not a number"), "{e}");
    }
}
