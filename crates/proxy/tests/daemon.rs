//! The proxy daemon in this process, driven through its typed client over
//! its control socket: switching under load, the state file across a
//! restart, drains and refusals.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use support::tcp::{echo, Conn};
use support::{client, get, upstream};
use windlass_proxy::daemon::api::{ErrorKind, LiveRelease, ServiceName, ServiceSpec};
use windlass_proxy::daemon::{self, state, Client, Daemon};
use windlass_proxy::Protocol;

/// A fresh state directory under the system's temporary directory.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "windlass-proxy-daemon-{test}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(dir: &std::path::Path) -> daemon::Config {
    daemon::Config {
        state_dir: dir.to_path_buf(),
    }
}

fn name(s: &str) -> ServiceName {
    s.parse().expect("service name")
}

fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn live(release: &str, upstreams: &[SocketAddr]) -> LiveRelease {
    LiveRelease::new(release, upstreams.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_through_the_client_under_load_fail_no_request() {
    let dir = scratch("load");
    let daemon = Daemon::start(config(&dir)).await.expect("daemon starts");
    let control = daemon.client();
    let web = name("web");
    let view = control
        .ensure(&web, &ServiceSpec::new(any_port(), Protocol::Http))
        .await
        .expect("ensure");
    let addr = view.spec.ports[0].listen;
    assert_ne!(addr.port(), 0, "the answer names the port bound");
    let v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    let one = live("r1", &[v1.addr]);
    let two = live("r2", &[v2.addr]);
    control.switch(&web, &one).await.expect("switch");

    let workers: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                let client = client();
                let mut answers = Vec::new();
                for _ in 0..200 {
                    answers.push(get(&client, addr, "/").await);
                }
                answers
            })
        })
        .collect();
    for i in 0..60 {
        let next = if i % 2 == 0 { &two } else { &one };
        let switched = control.switch(&web, next).await.expect("switch");
        assert_ne!(switched.previous.as_deref(), Some(next.release.as_str()));
    }
    let mut served = 0;
    for worker in workers {
        for (status, release, body) in worker.await.expect("worker") {
            assert_eq!(status, 200, "no request fails during the switches");
            let expected = if body == "v1" { "r1" } else { "r2" };
            assert_eq!(release.as_deref(), Some(expected));
            served += 1;
        }
    }
    assert_eq!(served, 800);

    let services = control.services().await.expect("list");
    assert_eq!(services.len(), 1);
    let total: u64 = services[0].releases.iter().map(|r| r.requests).sum();
    assert_eq!(total, 800, "the daemon's stats count every request");
    assert!(services[0].releases.iter().all(|r| r.server_errors == 0));
    daemon.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_restarted_daemon_binds_and_routes_as_the_state_file_says() {
    let dir = scratch("restart");
    let v1 = upstream("v1").await;
    let redis = echo("redis-1").await;
    let (web, db, idle) = (name("web"), name("db"), name("idle"));

    let first = Daemon::start(config(&dir)).await.expect("first daemon");
    let control = first.client();
    let web_addr = control
        .ensure(&web, &ServiceSpec::new(any_port(), Protocol::Http))
        .await
        .expect("ensure web")
        .spec
        .ports[0]
        .listen;
    let mut db_spec = ServiceSpec::new(any_port(), Protocol::Tcp);
    db_spec.hold_timeout_ms = 5_000;
    let db_addr = control
        .ensure(&db, &db_spec)
        .await
        .expect("ensure db")
        .spec
        .ports[0]
        .listen;
    control
        .ensure(&idle, &ServiceSpec::new(any_port(), Protocol::Http))
        .await
        .expect("ensure idle");
    control
        .switch(&web, &live("w1", &[v1.addr]))
        .await
        .expect("switch web");
    control
        .switch(&db, &live("d1", &[redis]))
        .await
        .expect("switch db");
    let before = control.services().await.expect("list");
    let table = state::read(&dir).expect("state file");
    assert_eq!(table.services.len(), 3);
    assert_eq!(table.services[&db].spec.ports[0].listen, db_addr);
    assert_eq!(table.services[&db].spec.hold_timeout_ms, 5_000);
    assert_eq!(
        table.services[&web].live,
        Some(live("w1", &[v1.addr])),
        "the file holds the live release and its upstreams"
    );
    first.shutdown().await.expect("shutdown");
    assert!(
        tokio::net::TcpStream::connect(web_addr).await.is_err(),
        "the proxies stopped with the daemon"
    );

    let second = Daemon::start(config(&dir)).await.expect("second daemon");
    let control = Client::from_state_dir(&dir).expect("the control socket is in the state dir");
    assert_eq!(control.control_socket(), second.control_socket());
    let after = control.services().await.expect("list");
    let routing = |views: &[daemon::api::ServiceView]| {
        views
            .iter()
            .map(|v| (v.name.clone(), v.spec.clone(), v.live.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        routing(&after),
        routing(&before),
        "same addresses, same routes"
    );
    assert_eq!(
        get(&client(), web_addr, "/").await,
        (200, Some("w1".into()), "v1".into())
    );
    let mut conn = Conn::open(db_addr)
        .await
        .expect("db routed after the restart");
    assert_eq!(conn.version, "redis-1");
    assert_eq!(conn.echo(b"PING\r\n").await, b"PING\r\n");

    // A clear and a close are kept across a restart as well.
    control.clear(&web).await.expect("clear");
    control.close(&idle).await.expect("close");
    second.shutdown().await.expect("shutdown");
    let third = Daemon::start(config(&dir)).await.expect("third daemon");
    let views = third.client().services().await.expect("list");
    let names: Vec<_> = views.iter().map(|v| v.name.as_str().to_owned()).collect();
    assert_eq!(names, ["db", "web"]);
    assert_eq!(views[1].live, None);
    third.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn drains_forgets_and_replaces_through_the_client() {
    let dir = scratch("drain");
    let daemon = Daemon::start(config(&dir)).await.expect("daemon starts");
    let control = daemon.client();
    let db = name("db");
    let v1 = echo("v1").await;
    let v2 = echo("v2").await;
    let addr = control
        .ensure(&db, &ServiceSpec::new(any_port(), Protocol::Tcp))
        .await
        .expect("ensure")
        .spec
        .ports[0]
        .listen;
    control
        .switch(&db, &live("r1", &[v1]))
        .await
        .expect("switch");
    let mut open = Conn::open(addr).await.expect("routed");
    control
        .switch(&db, &live("r2", &[v2]))
        .await
        .expect("switch");

    match control.drain(&db, "r2", Duration::from_secs(1)).await {
        Err(daemon::Error::Api {
            kind: ErrorKind::Live,
            ..
        }) => {}
        other => panic!("draining the live release is refused, got {other:?}"),
    }
    match control.drain(&db, "r1", Duration::from_millis(50)).await {
        Err(daemon::Error::Api {
            kind: ErrorKind::DrainCut,
            message,
            ..
        }) => assert!(message.contains("1 connection(s)"), "{message}"),
        other => panic!("expected the open connection cut, got {other:?}"),
    }
    assert!(open.closed_by_peer().await);
    let view = &control.services().await.expect("list")[0];
    let r1 = view
        .releases
        .iter()
        .find(|r| r.release == "r1")
        .expect("r1");
    assert_eq!((r1.connections, r1.in_flight), (1, 0));
    assert!(r1.bytes_from_upstream >= 3, "the greeting was counted");
    control.forget(&db, "r1").await.expect("forget");
    match control.forget(&db, "r2").await {
        Err(daemon::Error::Api {
            kind: ErrorKind::Live,
            ..
        }) => {}
        other => panic!("the live release is not forgotten, got {other:?}"),
    }
    let view = &control.services().await.expect("list")[0];
    assert_eq!(view.releases.len(), 1);

    // The same spec again changes nothing; another hold timeout is taken by
    // the proxy in place: the address stays bound (a connection open before
    // still passes bytes) and the live release stays.
    let mut open_before = Conn::open(addr).await.expect("routed");
    let same = control
        .ensure(&db, &ServiceSpec::new(addr, Protocol::Tcp))
        .await
        .expect("ensure again");
    assert_eq!(same.spec.ports[0].listen, addr);
    let mut longer = ServiceSpec::new(addr, Protocol::Tcp);
    longer.hold_timeout_ms = 1_000;
    let replaced = control.ensure(&db, &longer).await.expect("replace");
    assert_eq!(
        (
            replaced.spec.hold_timeout_ms,
            replaced.live.map(|l| l.release)
        ),
        (1_000, Some("r2".into()))
    );
    assert_eq!(open_before.echo(b"still open").await, b"still open");
    assert_eq!(Conn::open(addr).await.expect("routed").version, "v2");
    daemon.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn refusals_say_what_was_wrong() {
    let dir = scratch("refusals");
    let daemon = Daemon::start(config(&dir)).await.expect("daemon starts");
    assert!(
        matches!(
            Daemon::start(config(&dir)).await,
            Err(daemon::Error::Locked(_))
        ),
        "a second daemon on the same state directory is refused"
    );
    let control = daemon.client();
    match control
        .switch(&name("nope"), &live("r1", &[any_port()]))
        .await
    {
        Err(daemon::Error::Api {
            kind: ErrorKind::UnknownService,
            message,
            ..
        }) => assert!(message.contains("nope"), "{message}"),
        other => panic!("expected an unknown service, got {other:?}"),
    }
    let web = name("web");
    control
        .ensure(&web, &ServiceSpec::new(any_port(), Protocol::Http))
        .await
        .expect("ensure");
    match control.switch(&web, &live("empty", &[])).await {
        Err(daemon::Error::Api {
            kind: ErrorKind::NoUpstreams,
            ..
        }) => {}
        other => panic!("expected no upstreams refused, got {other:?}"),
    }
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let taken_addr = taken.local_addr().expect("addr");
    match control
        .ensure(&name("clash"), &ServiceSpec::new(taken_addr, Protocol::Tcp))
        .await
    {
        Err(daemon::Error::Api {
            kind: ErrorKind::Bind,
            message,
            ..
        }) => assert!(message.contains(&taken_addr.to_string()), "{message}"),
        other => panic!("expected the taken address refused, got {other:?}"),
    }

    // Raw requests that do not fit the API get a typed error, not a panic.
    let raw = windlass_proxy::owner::Client::new(daemon.control_socket());
    let (status, body) = raw
        .send(
            hyper::Method::PUT,
            "/v1/services/web/live",
            b"{\"release\":1}".to_vec(),
        )
        .await
        .expect("answer");
    assert_eq!(status, 400);
    let refusal: daemon::api::ApiError = serde_json::from_slice(&body).expect("an ApiError");
    assert_eq!(refusal.error, ErrorKind::BadRequest);
    assert!(
        refusal.message.contains("live release"),
        "{}",
        refusal.message
    );

    let stopped = daemon.control_socket().to_owned();
    daemon.shutdown().await.expect("shutdown");
    match Client::new(stopped).services().await {
        Err(daemon::Error::Unreachable { .. }) => {}
        other => panic!("expected the stopped daemon unreachable, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_switch_of_several_services_moves_all_or_none() {
    use windlass_proxy::daemon::api::ServiceLive;
    let dir = scratch("switch-all");
    let daemon = Daemon::start(config(&dir)).await.expect("daemon starts");
    let control = daemon.client();
    let (web, api) = (name("web"), name("api"));
    let mut addrs = Vec::new();
    for service in [&web, &api] {
        let view = control
            .ensure(service, &ServiceSpec::new(any_port(), Protocol::Http))
            .await
            .expect("ensure");
        addrs.push(view.spec.ports[0].listen);
    }
    let (v1, v2) = (upstream("v1").await, upstream("v2").await);
    let both = |release: &str, at: SocketAddr| {
        vec![
            ServiceLive {
                name: web.clone(),
                live: live(release, &[at]),
            },
            ServiceLive {
                name: api.clone(),
                live: live(release, &[at]),
            },
        ]
    };
    let first = control
        .switch_all(both("r1", v1.addr))
        .await
        .expect("switch both");
    assert_eq!(first.previous, [None, None]);
    let second = control
        .switch_all(both("r2", v2.addr))
        .await
        .expect("switch both again");
    assert_eq!(second.previous, [Some("r1".into()), Some("r1".into())]);
    for addr in &addrs {
        assert_eq!(
            get(&client(), *addr, "/").await,
            (200, Some("r2".into()), "v2".into())
        );
    }
    let table = state::read(&dir).expect("state file");
    assert_eq!(table.services[&api].live, Some(live("r2", &[v2.addr])));

    // An unknown service, or a release without upstreams, moves nothing.
    let mut unknown = both("r1", v1.addr);
    unknown.push(ServiceLive {
        name: name("nowhere"),
        live: live("r1", &[v1.addr]),
    });
    match control.switch_all(unknown).await {
        Err(daemon::Error::Api { kind, .. }) => assert_eq!(kind, ErrorKind::UnknownService),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut empty = both("r1", v1.addr);
    empty[1].live.upstreams.clear();
    assert!(control.switch_all(empty).await.is_err());
    for addr in &addrs {
        assert_eq!(get(&client(), *addr, "/").await.1, Some("r2".into()));
    }
    daemon.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn two_apps_services_of_one_name_get_proxies_of_their_own() {
    let dir = scratch("keys");
    let daemon = Daemon::start(config(&dir)).await.expect("daemon starts");
    let control = daemon.client();
    let (shop, blog) = (name("shop/web"), name("blog/web"));
    let mut listens = Vec::new();
    for (service, release) in [(&shop, "r1"), (&blog, "r7")] {
        let view = control
            .ensure(service, &ServiceSpec::new(any_port(), Protocol::Http))
            .await
            .expect("ensure");
        let up = upstream(release).await;
        control
            .switch(service, &live(release, &[up.addr]))
            .await
            .expect("switch");
        listens.push((view.spec.ports[0].listen, up));
    }
    let client = client();
    for ((listen, _), release) in listens.iter().zip(["r1", "r7"]) {
        let (status, header, body) = get(&client, *listen, "/").await;
        assert_eq!(
            (status, header.as_deref(), body.as_str()),
            (200, Some(release), release)
        );
    }
    control.close(&shop).await.expect("close");
    let names: Vec<String> = control
        .services()
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.name.as_str().to_owned())
        .collect();
    assert_eq!(
        names,
        ["blog/web"],
        "closing one app's web leaves the other's"
    );
    daemon.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What each port of a three-port service answers: the HTTP upstream's
/// body, the TCP upstream's greeting, the UDP upstream's prefix.
async fn answers(ports: &[SocketAddr]) -> Vec<String> {
    let http = get(&client(), ports[0], "/").await.2;
    let tcp = Conn::open(ports[1])
        .await
        .expect("the TCP port connects")
        .version;
    let udp = support::udp::Flow::open(ports[2])
        .await
        .ask("x", Duration::from_secs(5))
        .await
        .expect("the UDP port answers");
    vec![http, tcp, udp]
}

/// A service of an HTTP, a TCP and a UDP port: each port routes to the
/// release's upstreams of its own container port, all switch in one
/// `PUT /v1/live`, a switch missing one port's upstreams moves none, a port
/// added later serves the live release at once while the others keep their
/// addresses, and a restarted daemon routes every port as before.
#[tokio::test]
async fn a_service_of_several_ports_switches_them_together() {
    use windlass_proxy::daemon::api::{PortSpec, ServiceLive};
    let dir = scratch("ports");
    let first = Daemon::start(config(&dir)).await.expect("daemon");
    let control = first.client();
    let web = name("web");
    let mut ports = vec![
        PortSpec::new(any_port(), Protocol::Http, "80/tcp"),
        PortSpec::new(any_port(), Protocol::Tcp, "6379/tcp"),
        PortSpec::new(any_port(), Protocol::Udp, "53/udp"),
    ];
    let view = control
        .ensure(&web, &ServiceSpec::of_ports(ports.clone()))
        .await
        .expect("ensure");
    let bound: Vec<SocketAddr> = view.spec.ports.iter().map(|p| p.listen).collect();
    assert!(bound.iter().all(|a| a.port() != 0), "{bound:?}");
    let release = |id: &str, http: SocketAddr, tcp: SocketAddr, udp: Option<SocketAddr>| {
        let mut upstreams = std::collections::BTreeMap::from([
            ("80/tcp".to_owned(), vec![http]),
            ("6379/tcp".to_owned(), vec![tcp]),
        ]);
        if let Some(udp) = udp {
            upstreams.insert("53/udp".to_owned(), vec![udp]);
        }
        ServiceLive {
            name: web.clone(),
            live: LiveRelease {
                release: id.to_owned(),
                upstreams,
            },
        }
    };
    let (h1, t1, u1) = (
        upstream("v1").await.addr,
        echo("t1").await,
        support::udp::echo("u1").await,
    );
    let (h2, t2, u2) = (
        upstream("v2").await.addr,
        echo("t2").await,
        support::udp::echo("u2").await,
    );
    control
        .switch_all(vec![release("r1", h1, t1, Some(u1))])
        .await
        .expect("switch to r1");
    assert_eq!(answers(&bound).await, ["v1", "t1", "u1:x"]);

    let refused = control
        .switch_all(vec![release("r2", h2, t2, None)])
        .await
        .expect_err("r2 has no upstreams for the UDP port");
    assert!(
        matches!(&refused, daemon::Error::Api { kind: ErrorKind::NoUpstreams, message, .. } if message.contains("53/udp")),
        "{refused}"
    );
    assert_eq!(answers(&bound).await, ["v1", "t1", "u1:x"], "nothing moved");

    control
        .switch_all(vec![release("r2", h2, t2, Some(u2))])
        .await
        .expect("switch to r2");
    assert_eq!(answers(&bound).await, ["v2", "t2", "u2:x"]);

    ports.push(PortSpec::new(any_port(), Protocol::Http, "80/tcp"));
    let view = control
        .ensure(&web, &ServiceSpec::of_ports(ports))
        .await
        .expect("a port more");
    let now: Vec<SocketAddr> = view.spec.ports.iter().map(|p| p.listen).collect();
    assert_eq!(
        now[..3],
        bound[..],
        "the ports that were there keep their addresses"
    );
    assert_eq!(
        get(&client(), now[3], "/").await.2,
        "v2",
        "a new port serves the live release"
    );

    first.shutdown().await.expect("shutdown");
    let second = Daemon::start(config(&dir)).await.expect("restarted daemon");
    assert_eq!(answers(&now).await, ["v2", "t2", "u2:x"]);
    assert_eq!(get(&client(), now[3], "/").await.2, "v2");
    let views = second.client().services().await.expect("list");
    assert_eq!(views[0].ports.len(), 4);
    assert_eq!(
        views[0].live.as_ref().map(|l| l.release.as_str()),
        Some("r2")
    );
    second.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
