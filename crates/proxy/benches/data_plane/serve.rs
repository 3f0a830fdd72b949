//! The bench binary run again as a proxy of its own: windlass's (an HTTP and
//! a TCP `Proxy` with one live release, on the runtime `windlass proxy`
//! runs) or the floor (the same runtime, hyper server and client, and
//! tokio's copy, forwarding straight to the upstream). It prints its two
//! addresses on a line and serves until its standard input closes.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use windlass_proxy::{Config, Protocol, Proxy, Release};

pub fn run(what: &str) {
    let (mode, upstream) = what.split_once(':').expect("MODE:UPSTREAM");
    let upstream: SocketAddr = upstream.parse().expect("an upstream address");
    let runtime = windlass_proxy::daemon::runtime().expect("build the runtime");
    runtime.block_on(async move {
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        // Kept until the end: dropping a proxy stops it.
        let mut proxies = Vec::new();
        let addrs = match mode {
            "windlass" => {
                let mut addrs = Vec::new();
                for protocol in [Protocol::Http, Protocol::Tcp] {
                    let config = Config {
                        protocol,
                        ..Config::default()
                    };
                    let proxy = Proxy::bind(local, config).await.expect("bind the proxy");
                    proxy
                        .switch(Release::new("r1", [upstream]))
                        .expect("switch");
                    addrs.push(proxy.local_addr());
                    proxies.push(proxy);
                }
                addrs
            }
            "floor" => vec![floor_http(upstream).await, floor_tcp(upstream).await],
            other => panic!("unknown mode {other}"),
        };
        println!("{} {}", addrs[0], addrs[1]);
        std::io::stdout().flush().expect("flush");
        // Serve until the bench closes the pipe (or dies).
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .expect("wait for stdin");
        drop(proxies);
    });
}

async fn floor_http(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(connector);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let client = client.clone();
            let service = service_fn(move |mut request: Request<Incoming>| {
                let client = client.clone();
                async move {
                    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
                    let uri = Uri::try_from(format!("http://{upstream}{path}"))
                        .expect("a request target");
                    *request.uri_mut() = uri;
                    client.request(request).await
                }
            });
            tokio::spawn(
                http1::Builder::new().serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

async fn floor_tcp(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = client.set_nodelay(true);
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional_with_sizes(
                    &mut client,
                    &mut server,
                    64 * 1024,
                    64 * 1024,
                )
                .await;
            });
        }
    });
    addr
}
