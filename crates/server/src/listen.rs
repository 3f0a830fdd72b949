//! Serving a router on a TCP listener, in clear or over TLS, with limits on
//! how slowly a client may talk: a connection that has not sent a whole
//! request head within [`Limits::header_read`] (or finished its TLS
//! handshake within [`Limits::tls_handshake`]) is closed, and a request
//! body not whole within [`Limits::body_read`] fails to read
//! ([`BodyTimedOut`]), so that clients which trickle bytes (slowloris)
//! cannot hold the server's connections.
//!
//! Each request carries the client's address as
//! `ConnectInfo<SocketAddr>`, which the dashboard's login limit reads.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
pub use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How long a client may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// To send a request's line and headers, counted from when the server
    /// starts waiting for them (an idle kept-alive connection is closed
    /// after this too).
    pub header_read: Duration,
    /// To finish the TLS handshake.
    pub tls_handshake: Duration,
    /// To send a request's body, counted from the end of its head.
    pub body_read: Duration,
    /// After shutdown is asked, for requests in flight to finish (event
    /// streams of the dashboard never do).
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read: Duration::from_secs(10),
            tls_handshake: Duration::from_secs(10),
            body_read: Duration::from_secs(60),
            drain: Duration::from_secs(10),
        }
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the TLS certificate and key do not make a server configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A TLS acceptor for the PEM certificate chain in `cert` and the PEM
/// private key (PKCS#8, PKCS#1 or SEC1) in `key`.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, Error> {
    let certificate_error = |reason: String| Error::Certificate {
        path: cert.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| certificate_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificate_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(certificate_error("it holds no PEM certificate".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| Error::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish for at most [`Limits::drain`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: wait for some
                    // to close rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = Connection {
            http: http.clone(),
            router: router.clone(),
            client,
            watcher: graceful.watcher(),
        };
        tokio::spawn(connection.run(stream, tls.clone(), limits));
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(
            "requests still open after {:?} of shutdown are cut off",
            limits.drain
        );
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    router: Router,
    client: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>, limits: Limits) {
        let client = self.client;
        let body_read = limits.body_read;
        let service = TowerToHyperService::new(self.router.map_request(
            move |request: axum::http::Request<Incoming>| {
                let mut request = request.map(|body| Body::new(Deadline::new(body, body_read)));
                request.extensions_mut().insert(ConnectInfo(client));
                request
            },
        ));
        let result = match tls {
            None => {
                let connection = self.http.serve_connection(TokioIo::new(stream), service);
                self.watcher.watch(connection).await
            }
            Some(acceptor) => {
                let stream =
                    match tokio::time::timeout(limits.tls_handshake, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%client, %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%client, "TLS handshake took too long");
                            return;
                        }
                    };
                let connection = self.http.serve_connection(TokioIo::new(stream), service);
                self.watcher.watch(connection).await
            }
        };
        // Clients that go away or stall past a limit are routine.
        if let Err(error) = result {
            tracing::debug!(%client, %error, "connection ended with an error");
        }
    }
}

/// The error of a request body that did not arrive within
/// [`Limits::body_read`]; the API finds it in a read error's sources.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// A request body that fails with [`BodyTimedOut`] when its end has not
/// come by a deadline.
struct Deadline<B> {
    inner: B,
    limit: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<B> Deadline<B> {
    fn new(inner: B, limit: Duration) -> Self {
        Deadline {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl<B> http_body::Body for Deadline<B>
where
    B: http_body::Body + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        // What has arrived is delivered even past the deadline.
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut(this.limit).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
