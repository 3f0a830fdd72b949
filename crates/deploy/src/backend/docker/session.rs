//! A BuildKit session for a build's secrets: `POST /session` upgraded to
//! h2c on the engine's socket, on which windlass is the gRPC server and
//! the engine's BuildKit the client. It serves two methods, as the docker
//! CLI does for `--secret`: `moby.buildkit.secrets.v1.Secrets/GetSecret`
//! (a `RUN --mount=type=secret,id=ID` asks for ID) and the gRPC health
//! check BuildKit keeps the session alive with. The build names the
//! session with `session=ID`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioExecutor;

use super::endpoint::Endpoint;

const GET_SECRET: &str = "/moby.buildkit.secrets.v1.Secrets/GetSecret";
const HEALTH: &str = "/grpc.health.v1.Health/Check";

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

/// Opens a session that serves `secrets` (id to bytes) to the build.
pub async fn open(
    endpoint: &Endpoint,
    api: &str,
    secrets: BTreeMap<String, Vec<u8>>,
) -> Result<Session, String> {
    let id = session_id();
    let request = hyper::Request::post(format!("/v{api}/session"))
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "h2c")
        .header("X-Docker-Expose-Session-Uuid", &id)
        .header("X-Docker-Expose-Session-Name", "windlass")
        .header("X-Docker-Expose-Session-Sharedkey", "")
        .header("X-Docker-Expose-Session-Grpc-Method", GET_SECRET)
        .header("X-Docker-Expose-Session-Grpc-Method", HEALTH)
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
    let secrets = Arc::new(secrets);
    let service = hyper::service::service_fn(move |request| {
        let secrets = Arc::clone(&secrets);
        async move { Ok::<_, Infallible>(answer(request, &secrets).await) }
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

type Body =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// One gRPC call: a unary request in, a unary answer (or an error status)
/// out, in trailers as gRPC has them.
async fn answer(
    request: hyper::Request<Incoming>,
    secrets: &BTreeMap<String, Vec<u8>>,
) -> hyper::Response<Body> {
    let path = request.uri().path().to_owned();
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
        _ => (None, 12, format!("{path} is not served by windlass")),
    };
    let mut frames = Vec::new();
    if let Some(reply) = reply {
        let mut framed = BytesMut::with_capacity(reply.len() + 5);
        framed.put_u8(0);
        framed.put_u32(u32::try_from(reply.len()).unwrap_or(u32::MAX));
        framed.put_slice(&reply);
        frames.push(Ok(Frame::data(framed.freeze())));
    }
    let mut trailers = hyper::HeaderMap::new();
    trailers.insert("grpc-status", status.into());
    if let Ok(value) = hyper::header::HeaderValue::from_str(&text) {
        if !text.is_empty() {
            trailers.insert("grpc-message", value);
        }
    }
    frames.push(Ok(Frame::trailers(trailers)));
    hyper::Response::builder()
        .header(hyper::header::CONTENT_TYPE, "application/grpc")
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap_or_else(|_| {
            hyper::Response::new(StreamBody::new(futures_util::stream::iter(Vec::new())))
        })
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
