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
    if std::env::var("DATA_PLANE_RUNTIME").as_deref() == Ok("percore") {
        return per_core(upstream);
    }
    let runtime = match std::env::var("DATA_PLANE_RUNTIME").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Ok("one") => tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build(),
        _ => windlass_proxy::daemon::runtime(),
    }
    .expect("build the runtime");
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
            "inline" => vec![inline_http(upstream).await, floor_tcp(upstream).await],
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
    let flat = std::env::var("DATA_PLANE_FLAT").is_ok();
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        .http1_writev(!flat)
        .build(connector);
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
                http1::Builder::new()
                    .writev(!flat)
                    .serve_connection(TokioIo::new(stream), service),
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

/// Experiment: each client connection drives its own upstream connection in
/// the same task.
async fn inline_http(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(io) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = io.set_nodelay(true);
                let Ok((sender, conn)) =
                    hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(io)).await
                else {
                    return;
                };
                let sender = std::sync::Arc::new(std::sync::Mutex::new(sender));
                let service = service_fn(move |mut request: Request<Incoming>| {
                    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
                    let uri = Uri::try_from(format!("http://{upstream}{path}"))
                        .expect("a request target");
                    *request.uri_mut() = uri;
                    let sent = sender.lock().expect("lock").send_request(request);
                    async move { sent.await }
                });
                let server = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let _ = tokio::join!(server, conn);
            });
        }
    });
    addr
}

fn reuse_port(addr: SocketAddr) -> std::net::TcpListener {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_reuse_port(true).expect("reuseport");
    socket.set_nonblocking(true).expect("nonblocking");
    socket.bind(&addr.into()).expect("bind");
    socket.listen(1024).expect("listen");
    socket.into()
}

/// Experiment: the floor on one current-thread runtime per core, each with
/// its own listeners (SO_REUSEPORT).
fn per_core(upstream: SocketAddr) {
    let first_http = reuse_port(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    let first_tcp = reuse_port(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    let http = first_http.local_addr().expect("addr");
    let tcp = first_tcp.local_addr().expect("addr");
    let mut listeners = vec![(first_http, first_tcp)];
    for _ in 1..std::thread::available_parallelism().map_or(1, |n| n.get()) {
        listeners.push((reuse_port(http), reuse_port(tcp)));
    }
    for (h, t) in listeners {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
            rt.block_on(async move {
                let h = TcpListener::from_std(h).expect("h");
                let t = TcpListener::from_std(t).expect("t");
                tokio::spawn(floor_tcp_on(t, upstream));
                floor_http_on(h, upstream).await;
            });
        });
    }
    println!("{http} {tcp}");
    std::io::stdout().flush().expect("flush");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

async fn floor_http_on(listener: TcpListener, upstream: SocketAddr) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new()).build(connector);
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            let client = client.clone();
            async move {
                let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
                let uri = Uri::try_from(format!("http://{upstream}{path}")).expect("a request target");
                *request.uri_mut() = uri;
                client.request(request).await
            }
        });
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}

async fn floor_tcp_on(listener: TcpListener, upstream: SocketAddr) {
    while let Ok((mut client, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, 64 * 1024, 64 * 1024).await;
        });
    }
}
