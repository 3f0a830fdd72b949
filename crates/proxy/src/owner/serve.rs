//! The server side: binds the socket (0600, a stale one from a crashed
//! process replaced), and serves an axum router on it with each request
//! carrying its connection's [`Peer`]; connections of other users get 403,
//! and a client that sends no complete request head within the header
//! timeout is cut (no slowloris).

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tower::ServiceExt;

use super::{own_uid, Error, Peer};

/// How long a control client may take to send a request's head, and how
/// long a kept-alive connection may sit idle before the next one.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Listens on `path`, mode 0600. A socket left there by a process that
/// died is replaced; one that still answers is not.
pub async fn bind(path: &Path) -> Result<UnixListener, Error> {
    let bind_error = |source| Error::Bind {
        path: path.to_owned(),
        source,
    };
    if path.symlink_metadata().is_ok() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(Error::InUse(path.to_owned()));
        }
        std::fs::remove_file(path).map_err(bind_error)?;
    }
    let listener = UnixListener::bind(path).map_err(bind_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        Error::Private {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(listener)
}

/// Serves `router` on `listener` until `shutdown` completes. Each request
/// has its connection's [`Peer`] as an extension; only owners' connections
/// reach the router.
pub async fn serve<F>(
    listener: UnixListener,
    router: axum::Router,
    header_timeout: Duration,
    shutdown: F,
) where
    F: Future<Output = ()> + Send,
{
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(%e, "control socket cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let peer = match stream.peer_cred() {
            Ok(credentials) => Peer {
                uid: credentials.uid(),
                gid: credentials.gid(),
                pid: credentials.pid(),
            },
            Err(e) => {
                tracing::warn!(%e, "cannot read a control connection's peer credentials; closing it");
                continue;
            }
        };
        if peer.is_owner() {
            tokio::spawn(serve_owner(stream, peer, router.clone(), header_timeout));
        } else {
            tracing::warn!(
                uid = peer.uid,
                pid = ?peer.pid,
                "refused a control connection of another user"
            );
            tokio::spawn(refuse(stream, peer, header_timeout));
        }
    }
}

fn builder(header_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
}

async fn serve_owner(stream: UnixStream, peer: Peer, router: axum::Router, timeout: Duration) {
    let service = service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(peer);
        router.clone().oneshot(request)
    });
    if let Err(e) = builder(timeout)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%e, uid = peer.uid, "control connection ended with an error");
    }
}

/// Answers every request of a connection 403, saying who may connect.
async fn refuse(stream: UnixStream, peer: Peer, timeout: Duration) {
    let message = format!(
        "uid {} may not use this control socket: only its owner (uid {}) and root may\n",
        peer.uid,
        own_uid()
    );
    let service = service_fn(move |_request| {
        let body = Full::new(Bytes::from(message.clone()));
        async move {
            Response::builder()
                .status(StatusCode::FORBIDDEN)
                .header(hyper::header::CONTENT_TYPE, "text/plain")
                .body(body)
        }
    });
    let _ = builder(timeout)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
