//! The engine's socket for the one call bollard cannot make for windlass: a
//! BuildKit build (`POST /build?version=2`) answers with `aux` messages
//! that bollard's build stream, without its gRPC `buildkit` feature, cannot
//! read. The request is plain HTTP/1.1 on the socket bollard uses
//! (`DOCKER_HOST`, else `/var/run/docker.sock`); the answer is read as
//! JSON lines.

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Where the engine listens, when windlass can reach it itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port`, plain HTTP.
    Tcp(String),
}

impl Endpoint {
    /// The endpoint `DOCKER_HOST` names (`unix://PATH`, `tcp://HOST:PORT`),
    /// else the local socket; `None` for one windlass cannot reach itself
    /// (TLS, SSH, named pipes), whose builds use the classic builder.
    pub fn from_env() -> Option<Endpoint> {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.is_empty() => {
                let tls = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
                Endpoint::parse(&host, tls)
            }
            _ => Some(Endpoint::Unix(PathBuf::from("/var/run/docker.sock"))),
        }
    }

    fn parse(host: &str, tls: bool) -> Option<Endpoint> {
        if let Some(path) = host.strip_prefix("unix://") {
            return Some(Endpoint::Unix(PathBuf::from(path)));
        }
        match host.strip_prefix("tcp://") {
            Some(address) if !tls => Some(Endpoint::Tcp(address.trim_end_matches('/').to_owned())),
            _ => None,
        }
    }

    /// Sends `POST path` with `body` (a tar) and returns the answer's head
    /// and body.
    pub async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<hyper::Response<Incoming>, String> {
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, "docker")
            .header(hyper::header::CONTENT_TYPE, "application/x-tar")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        self.send(request).await
    }

    /// Sends `request` on a connection of its own, which may be upgraded
    /// (`hyper::upgrade::on` the answer) to another protocol.
    pub async fn send<B>(
        &self,
        request: hyper::Request<B>,
    ) -> Result<hyper::Response<Incoming>, String>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        macro_rules! send {
            ($stream:expr) => {{
                let stream = $stream.map_err(|e| format!("cannot connect to {self:?}: {e}"))?;
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(|e| e.to_string())?;
                tokio::spawn(async move {
                    if let Err(err) = connection.with_upgrades().await {
                        tracing::debug!(%err, "a connection to the engine ended");
                    }
                });
                sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string())
            }};
        }
        match self {
            Endpoint::Unix(path) => send!(tokio::net::UnixStream::connect(path).await),
            Endpoint::Tcp(address) => send!(tokio::net::TcpStream::connect(address).await),
        }
    }
}

/// An answer's body as the JSON lines it holds, one at a time.
pub struct Lines {
    body: Incoming,
    buffer: Vec<u8>,
    done: bool,
}

impl Lines {
    pub fn new(body: Incoming) -> Lines {
        Lines {
            body,
            buffer: Vec::new(),
            done: false,
        }
    }

    /// The next non-empty line, `None` at the end of the body.
    pub async fn next(&mut self) -> Option<Result<Vec<u8>, String>> {
        loop {
            if let Some(at) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=at).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(Ok(line));
            }
            if self.done {
                if self.buffer.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                return Some(Ok(std::mem::take(&mut self.buffer)));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => return Some(Err(err.to_string())),
                None => self.done = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_windlass_can_reach_itself() {
        assert_eq!(
            Endpoint::parse("unix:///run/user/1000/docker.sock", false),
            Some(Endpoint::Unix("/run/user/1000/docker.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375/", false),
            Some(Endpoint::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(Endpoint::parse("tcp://127.0.0.1:2376", true), None);
        assert_eq!(Endpoint::parse("ssh://me@host", false), None);
        assert_eq!(
            Endpoint::parse("npipe:////./pipe/docker_engine", false),
            None
        );
    }
}
