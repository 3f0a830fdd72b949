//! The client side: one HTTP/1.1 request per connection to a control
//! socket, sent only once the kernel has said that the process listening
//! there runs as this user or as root.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use super::{own_uid, Error, Peer};

/// Talks to the control socket at one path; cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    path: PathBuf,
}

impl Client {
    pub fn new(path: impl Into<PathBuf>) -> Client {
        Client { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request (a JSON body, or none when empty) and gives the
    /// answer's status and body.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), Error> {
        let stream = self.connect().await?;
        let broken = |e: &dyn std::fmt::Display| Error::Broken {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| broken(&e))?;
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| broken(&e))?;
        let response = sender.send_request(request).await.map_err(|e| broken(&e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| broken(&e))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// A connection to the socket, its server checked.
    async fn connect(&self) -> Result<UnixStream, Error> {
        let stream = UnixStream::connect(&self.path)
            .await
            .map_err(|source| Error::Connect {
                path: self.path.clone(),
                source,
            })?;
        let server = stream.peer_cred().map_err(|source| Error::Connect {
            path: self.path.clone(),
            source,
        })?;
        let server = Peer {
            uid: server.uid(),
            gid: server.gid(),
            pid: server.pid(),
        };
        if !server.is_owner() {
            return Err(Error::Impostor {
                path: self.path.clone(),
                uid: server.uid,
                me: own_uid(),
            });
        }
        Ok(stream)
    }
}
