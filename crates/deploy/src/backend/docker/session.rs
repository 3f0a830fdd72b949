//! A BuildKit session for a build's secrets and SSH agents: `POST
//! /session` upgraded to h2c on the engine's socket, on which windlass is
//! the gRPC server and the engine's BuildKit the client. It serves, as the
//! docker CLI does for `--secret` and `--ssh`:
//! `moby.buildkit.secrets.v1.Secrets/GetSecret` (a `RUN
//! --mount=type=secret,id=ID` asks for ID), `moby.sshforward.v1.SSH`'s
//! `CheckAgent` and `ForwardAgent` (a `RUN --mount=type=ssh,id=ID`: each
//! connection to the agent's socket in the build is a stream of bytes,
//! carried to and from the agent's socket on this machine), and the gRPC
//! health check BuildKit keeps the session alive with. The build names the
//! session with `session=ID`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::endpoint::Endpoint;

const GET_SECRET: &str = "/moby.buildkit.secrets.v1.Secrets/GetSecret";
const CHECK_AGENT: &str = "/moby.sshforward.v1.SSH/CheckAgent";
const FORWARD_AGENT: &str = "/moby.sshforward.v1.SSH/ForwardAgent";
const HEALTH: &str = "/grpc.health.v1.Health/Check";
/// The gRPC metadata that names the agent a `ForwardAgent` stream is for.
const SSH_ID: &str = "buildkit.ssh.id";

/// What the session serves: secrets by id, SSH agents' sockets by id.
struct Served {
    secrets: BTreeMap<String, Vec<u8>>,
    ssh: BTreeMap<String, PathBuf>,
}

/// An open session; the engine drops it when this is dropped.
pub struct Session {
    pub id: String,
    serving: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// Opens a session that serves `secrets` (id to bytes) and the SSH
/// agents `ssh` (id to the agent's socket) to the build.
pub async fn open(
    endpoint: &Endpoint,
    api: &str,
    secrets: BTreeMap<String, Vec<u8>>,
    ssh: BTreeMap<String, PathBuf>,
) -> Result<Session, String> {
    let id = session_id();
    let mut request = hyper::Request::post(format!("/v{api}/session"))
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "h2c")
        .header("X-Docker-Expose-Session-Uuid", &id)
        .header("X-Docker-Expose-Session-Name", "windlass")
        .header("X-Docker-Expose-Session-Sharedkey", "")
        .header("X-Docker-Expose-Session-Grpc-Method", GET_SECRET)
        .header("X-Docker-Expose-Session-Grpc-Method", HEALTH);
    if !ssh.is_empty() {
        request = request
            .header("X-Docker-Expose-Session-Grpc-Method", CHECK_AGENT)
            .header("X-Docker-Expose-Session-Grpc-Method", FORWARD_AGENT);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = endpoint.send(request).await?;
    if response.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        return Err(format!(
            "the engine answered {} to a BuildKit session",
            response.status()
        ));
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|e| format!("the BuildKit session was not upgraded: {e}"))?;
    let served = Arc::new(Served { secrets, ssh });
    let service = hyper::service::service_fn(move |request| {
        let served = Arc::clone(&served);
        async move { Ok::<_, Infallible>(answer(request, &served).await) }
    });
    let serving = tokio::spawn(async move {
        let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(upgraded, service)
            .await;
        if let Err(err) = served {
            tracing::debug!(%err, "BuildKit session ended");
        }
    });
    Ok(Session { id, serving })
}

/// A random id, as the CLI makes them (25 lowercase letters and digits).
fn session_id() -> String {
    let seed = uuid::Uuid::new_v4().simple().to_string();
    seed.chars().take(25).collect()
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// One gRPC call: a unary request in, a unary answer (or an error status)
/// out, in trailers as gRPC has them; `ForwardAgent` streams both ways.
async fn answer(request: hyper::Request<Incoming>, served: &Served) -> hyper::Response<Body> {
    let path = request.uri().path().to_owned();
    if path == FORWARD_AGENT {
        return forward_agent(request, &served.ssh).await;
    }
    let secrets = &served.secrets;
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = body.get(5..).unwrap_or_default();
    let (reply, status, text) = match path.as_str() {
        HEALTH => (Some(vec![0x08, 0x01]), 0, String::new()),
        GET_SECRET => {
            let id = requested_id(message);
            match secrets.get(&id) {
                Some(data) => (Some(bytes_field(1, data)), 0, String::new()),
                None => {
                    tracing::warn!(%id, "the build asked for a secret it was not given");
                    (
                        None,
                        5,
                        format!("secret {id} not found: list it in the service's build.secrets"),
                    )
                }
            }
        }
        CHECK_AGENT => {
            let id = requested_id(message);
            let id = if id.is_empty() {
                "default".to_owned()
            } else {
                id
            };
            if served.ssh.contains_key(&id) {
                (Some(Vec::new()), 0, String::new())
            } else {
                (
                    None,
                    5,
                    format!("SSH agent {id} not found: list it in the service's build.ssh"),
                )
            }
        }
        _ => (None, 12, format!("{path} is not served by windlass")),
    };
    let mut frames = Vec::new();
    if let Some(reply) = reply {
        frames.push(Ok(Frame::data(grpc_message(&reply))));
    }
    frames.push(Ok(Frame::trailers(trailers(status, &text))));
    grpc_response(StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync())
}

/// A gRPC message: not compressed, its length, its bytes.
fn grpc_message(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(message.len() + 5);
    framed.put_u8(0);
    framed.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    framed.put_slice(message);
    framed.freeze()
}

/// The trailers that end a call: its status and, if any, its message.
fn trailers(status: u32, text: &str) -> hyper::HeaderMap {
    let mut trailers = hyper::HeaderMap::new();
    trailers.insert("grpc-status", status.into());
    if let Ok(value) = hyper::header::HeaderValue::from_str(text) {
        if !text.is_empty() {
            trailers.insert("grpc-message", value);
        }
    }
    trailers
}

fn grpc_response(body: Body) -> hyper::Response<Body> {
    let mut response = hyper::Response::new(body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/grpc"),
    );
    response
}

/// `ForwardAgent`: one connection to an SSH agent from the build, as a
/// stream of `BytesMessage`s each way, carried to and from a connection of
/// its own to the agent's socket named by the stream's `buildkit.ssh.id`.
async fn forward_agent(
    request: hyper::Request<Incoming>,
    ssh: &BTreeMap<String, PathBuf>,
) -> hyper::Response<Body> {
    let id = request
        .headers()
        .get(SSH_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("default")
        .to_owned();
    let ended = |status: u32, text: String| {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> =
            vec![Ok(Frame::trailers(trailers(status, &text)))];
        grpc_response(StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync())
    };
    let Some(socket) = ssh.get(&id) else {
        return ended(
            5,
            format!("SSH agent {id} not found: list it in the service's build.ssh"),
        );
    };
    let agent = match tokio::net::UnixStream::connect(socket).await {
        Ok(agent) => agent,
        Err(err) => {
            tracing::warn!(%id, socket = %socket.display(), %err, "cannot reach the SSH agent a build asked for");
            return ended(
                14,
                format!("cannot reach SSH agent {id} at {}: {err}", socket.display()),
            );
        }
    };
    let (mut from_agent, mut to_agent) = agent.into_split();
    let mut body = request.into_body();
    // The build's bytes to the agent, message by message.
    tokio::spawn(async move {
        let mut pending = BytesMut::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while pending.len() >= 5 {
                let length = u32::from_be_bytes([pending[1], pending[2], pending[3], pending[4]]);
                let end = 5 + length as usize;
                if pending.len() < end {
                    break;
                }
                let message = pending.split_to(end);
                let bytes = super::trace::bytes_of(message.get(5..).unwrap_or_default(), 1)
                    .unwrap_or_default();
                if to_agent.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        }
        let _ = to_agent.shutdown().await;
    });
    // The agent's bytes to the build, then the call's end.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match from_agent.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let message = bytes_field(1, buffer.get(..n).unwrap_or_default());
                    if sender
                        .send(Ok(Frame::data(grpc_message(&message))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = sender.send(Ok(Frame::trailers(trailers(0, "")))).await;
    });
    let frames = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|frame| (frame, receiver))
    });
    grpc_response(StreamBody::new(frames).boxed_unsync())
}

/// `GetSecretRequest.ID` (field 1).
fn requested_id(message: &[u8]) -> String {
    super::trace::string_field(message, 1).unwrap_or_default()
}

/// A protobuf length-delimited field.
fn bytes_field(field: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![(field << 3) | 2];
    let mut len = data.len();
    loop {
        let byte = u8::try_from(len & 0x7f).unwrap_or(0);
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_answer_is_its_bytes_in_field_one() {
        let long = vec![b'x'; 300];
        let encoded = bytes_field(1, &long);
        assert_eq!(&encoded[..3], &[0x0a, 0xac, 0x02]);
        assert_eq!(
            super::super::trace::string_field(&encoded, 1).map(|s| s.len()),
            Some(300)
        );
        assert_eq!(requested_id(&[0x0a, 0x03, b'n', b'p', b'm']), "npm");
        assert_eq!(session_id().len(), 25);
    }
}
