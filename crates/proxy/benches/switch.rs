//! Prints how fast a switch takes effect: the cost of `Proxy::switch` itself,
//! and the time from a switch to the first answer served by the new release,
//! against a plain round trip through the proxy. Run: `cargo bench -p windlass-proxy`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use support::{client, get, upstream};
use windlass_proxy::{Config, Proxy, Release};

const ROUNDS: usize = 2000;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<44} n={:<5} p50={:>9.1?} p99={:>9.1?} max={:>9.1?}",
        samples.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

#[tokio::main]
async fn main() {
    let v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    let proxy = Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config::default(),
    )
    .await
    .expect("bind proxy");
    let addr = proxy.local_addr();
    let client = client();
    let releases = [Release::new("r1", [v1.addr]), Release::new("r2", [v2.addr])];
    proxy.switch(releases[0].clone()).expect("switch");
    for _ in 0..200 {
        get(&client, addr, "/").await; // warm the connections
    }

    let mut direct = Vec::with_capacity(ROUNDS);
    let upstream_client = support::client();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        support::send(&upstream_client, "GET", format!("http://{}/", v1.addr), b"").await;
        direct.push(started.elapsed());
    }
    let mut through = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        get(&client, addr, "/").await;
        through.push(started.elapsed());
    }
    let (mut switch_calls, mut to_first_answer) = (Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let next = &releases[(i + 1) % 2];
        let started = Instant::now();
        proxy.switch(next.clone()).expect("switch");
        switch_calls.push(started.elapsed());
        let (status, release, _) = get(&client, addr, "/").await;
        to_first_answer.push(started.elapsed());
        assert_eq!((status, release.as_deref()), (200, Some(next.id.as_str())));
    }
    println!(
        "windlass-proxy switch benchmark (127.0.0.1, keep-alive client, debug={})",
        cfg!(debug_assertions)
    );
    summary("round trip, client -> upstream directly", direct);
    summary("round trip, client -> proxy -> upstream", through);
    summary("Proxy::switch call", switch_calls);
    summary(
        "switch -> first answer from the new release",
        to_first_answer,
    );
}
