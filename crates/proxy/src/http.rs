//! The HTTP side of the proxy: accepts connections on the service's address
//! and serves each request through [`crate::forward`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::router::Router;
use crate::Config;
use crate::{forward, h1};

/// State shared by every HTTP connection of one proxy.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) router: Arc<Router>,
    pub(crate) client: Client<HttpConnector, Full<Bytes>>,
    /// The fast path's idle upstream connections (`crate::h1`).
    pub(crate) pool: h1::Pool,
}

impl Shared {
    pub(crate) fn new(config: Config, router: Arc<Router>) -> Shared {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Shared {
            config,
            router,
            client,
            pool: h1::Pool::default(),
        }
    }
}

pub(crate) async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, client)) => {
                tokio::spawn(serve(stream, client, Arc::clone(&shared), stop.clone()));
            }
            Err(err) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!(%err, "proxy cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve(
    stream: TcpStream,
    client: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    // TCP_NODELAY comes from the listening socket (`listen::tcp`).
    let header_timeout = shared.config.header_timeout;
    let forwarded_for = forward::forwarded_for(client);
    let Some(stream) = h1::serve(stream, &forwarded_for, &shared, &mut stop).await else {
        return;
    };
    let service = service_fn(move |request| {
        forward::handle(Arc::clone(&shared), forwarded_for.clone(), request)
    });
    // The head timeout also bounds how long a kept-alive connection idles.
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%client, %err, "proxy connection ended with an error");
    }
}
