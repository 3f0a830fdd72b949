//! The bench binary run again as a proxy of its own: windlass's (an HTTP and
//! a TCP `Proxy` with one live release, bound as `windlass proxy` binds
//! them; "weighted": with a canary taking half of the traffic beside it, to
//! the same upstream) or the floor (threads like the proxy's workers, hyper's server and
//! client, and tokio's copy, forwarding straight to the upstream). It prints
//! its two addresses on a line and serves until its standard input closes.

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
use windlass_proxy::{Canary, Config, Protocol, Proxy, Release, Weight};

pub fn run(what: &str) {
    let (mode, upstream) = what.split_once(':').expect("MODE:UPSTREAM");
    let upstream: SocketAddr = upstream.parse().expect("an upstream address");
    let addrs = match mode {
        "windlass" => windlass(upstream, Mode::Plain),
        "weighted" => windlass(upstream, Mode::Weighted(50)),
        "hedged" => windlass(upstream, Mode::Hedged),
        "floor" => floor(upstream),
        other => panic!("unknown mode {other}"),
    };
    println!("{} {}", addrs[0], addrs[1]);
    std::io::stdout().flush().expect("flush");
    // Serve until the bench closes the pipe (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// How windlass's proxy is set up.
#[derive(Clone, Copy)]
enum Mode {
    Plain,
    /// A canary of this percentage beside the live release: every request
    /// or connection is picked by weight and counted on the release it
    /// went to.
    Weighted(u32),
    /// As the Swarm entry: `hedge_after` 1 s, the release's two upstreams
    /// both `upstream` (so a request may be hedged to the other).
    Hedged,
}

/// windlass's HTTP and TCP proxies, bound and switched from the runtime
/// `windlass proxy` runs (they serve on the proxy's workers).
fn windlass(upstream: SocketAddr, mode: Mode) -> Vec<SocketAddr> {
    let runtime = windlass_proxy::daemon::runtime().expect("build the runtime");
    let addrs = runtime.block_on(async move {
        let mut addrs = Vec::new();
        for protocol in [Protocol::Http, Protocol::Tcp] {
            let hedged = matches!(mode, Mode::Hedged);
            let config = Config {
                protocol,
                hedge_after: hedged.then_some(std::time::Duration::from_secs(1)),
                ..Config::default()
            };
            let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            let proxy = Proxy::bind(local, config).await.expect("bind the proxy");
            let upstreams = if hedged {
                vec![upstream, upstream]
            } else {
                vec![upstream]
            };
            proxy.switch(Release::new("r1", upstreams)).expect("switch");
            if let Mode::Weighted(weight) = mode {
                let canary = Canary {
                    release: Release::new("r2", [upstream]),
                    weight: Weight::try_from(weight).expect("a weight"),
                    sticky: None,
                };
                proxy.set_canary(canary).expect("canary");
            }
            addrs.push(proxy.local_addr());
            // Serves until the process ends.
            std::mem::forget(proxy);
        }
        addrs
    });
    std::mem::forget(runtime);
    addrs
}

/// The floor on the same threads as windlass's workers: a single-thread
/// runtime per core, each accepting from the same two listening sockets.
fn floor(upstream: SocketAddr) -> Vec<SocketAddr> {
    let http = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let tcp = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addrs = vec![
        http.local_addr().expect("address"),
        tcp.local_addr().expect("address"),
    ];
    for _ in 0..std::thread::available_parallelism().map_or(1, |n| n.get()) {
        let http = http.try_clone().expect("clone the listener");
        let tcp = tcp.try_clone().expect("clone the listener");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build a runtime");
            runtime.block_on(async move {
                http.set_nonblocking(true).expect("non-blocking");
                tcp.set_nonblocking(true).expect("non-blocking");
                let http = TcpListener::from_std(http).expect("register the listener");
                let tcp = TcpListener::from_std(tcp).expect("register the listener");
                tokio::join!(floor_http(http, upstream), floor_tcp(tcp, upstream));
            });
        });
    }
    addrs
}

async fn floor_http(listener: TcpListener, upstream: SocketAddr) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(connector);
    {
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
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    }
}

async fn floor_tcp(listener: TcpListener, upstream: SocketAddr) {
    {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = client.set_nodelay(true);
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    }
}
