//! A rollout (`x-windlass.rollout`) on the real engine under load: a
//! healthy v2 goes 10 % -> 50 % -> 100 %, each step's share as the load
//! generator measured it within 3 points of the weight and no request
//! failed; a v3 that answers 5 % of its requests with a 5xx is rolled back
//! by the analysis within one interval, with only the canary's share of
//! that window answered 5xx, the numbers in the app release's record.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use windlass_deploy::agent::Agent;
use windlass_deploy::backend::docker::Docker;
use windlass_engine::Status;
use windlass_store::releases::{Outcome, ServiceKey};

const APP: &str = "wlroll";
const WEB: &str = "wlrollweb";
const INTERVAL_SECS: u64 = 3;

fn compose(port: u16, version: &str, error_ratio: &str) -> String {
    format!(
        "name: {APP}\nservices:\n  {WEB}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n      TESTAPP_ERROR_RATIO: \"{error_ratio}\"\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 1s\n      rollout:\n        steps: [10, 50]\n        interval: {INTERVAL_SECS}s\n        analysis: {{min_requests: 20, max_server_error_increase: 0.01}}\n"
    )
}

fn key() -> ServiceKey {
    ServiceKey::new(APP, WEB).expect("a key")
}

/// One stretch of the deploy at one canary weight (0: none), with what the
/// load generator saw in it.
#[derive(Debug)]
struct Stretch {
    weight: u8,
    began: Instant,
    ended: Instant,
    by_release: BTreeMap<String, u64>,
    app_errors: u64,
}

impl Stretch {
    fn total(&self) -> u64 {
        self.by_release.values().sum()
    }

    fn share(&self, release: &str) -> f64 {
        let n = self.by_release.get(release).copied().unwrap_or(0);
        n as f64 * 100.0 / self.total().max(1) as f64
    }
}

fn minus(now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    now.iter()
        .map(|(r, n)| (r.clone(), n - then.get(r).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Deploys `text` while sampling the service's canary weight every 10 ms;
/// returns the execution's status and the stretches of one weight each.
async fn deploy_watching(
    agent: &Agent,
    file: &std::path::Path,
    text: String,
    load: &support::Load,
) -> (Status, Vec<Stretch>) {
    let deploy = support::deploy_app(agent, file, text, &[WEB]);
    tokio::pin!(deploy);
    let mut stretches = Vec::new();
    let weight_now = || async {
        agent
            .proxies()
            .service_view(&key())
            .await
            .expect("the proxies answer")
            .and_then(|v| v.canary)
            .map_or(0, |c| c.weight.percent())
    };
    let mut weight = weight_now().await;
    let mut since = (Instant::now(), load.seen());
    let status = loop {
        tokio::select! {
            (_, status) = &mut deploy => break status,
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        let now = weight_now().await;
        if now != weight {
            let seen = load.seen();
            stretches.push(Stretch {
                weight,
                began: since.0,
                ended: Instant::now(),
                by_release: minus(&seen.by_release, &since.1.by_release),
                app_errors: seen.app_errors - since.1.app_errors,
            });
            weight = now;
            since = (Instant::now(), seen);
        }
    };
    let seen = load.seen();
    stretches.push(Stretch {
        weight,
        began: since.0,
        ended: Instant::now(),
        by_release: minus(&seen.by_release, &since.1.by_release),
        app_errors: seen.app_errors - since.1.app_errors,
    });
    (status, stretches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollout_moves_by_its_steps_and_a_failing_canary_is_rolled_back_by_the_analysis() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, WEB).await;
    let dir = support::project("rollout");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, _store) = support::agent(&docker).await;

    // v1: nothing is live, so there is nothing to take a share beside.
    let (_, status) = support::deploy_app(&agent, &file, compose(port, "v1", "0"), &[WEB]).await;
    assert_eq!(status, Status::Succeeded);
    let load = support::Load::start(SocketAddr::from(([127, 0, 0, 1], port)), 4);

    // v2, healthy: 10 %, 50 %, then the switch.
    let (status, stretches) = deploy_watching(&agent, &file, compose(port, "v2", "0"), &load).await;
    assert_eq!(status, Status::Succeeded, "{stretches:?}");
    let weights: Vec<u8> = stretches.iter().map(|s| s.weight).collect();
    assert_eq!(weights, vec![0, 10, 50, 0], "{stretches:?}");
    for stretch in &stretches[1..3] {
        let share = stretch.share("r2");
        println!(
            "weight {}%: v2 answered {share:.1} % of {} requests in {:?}",
            stretch.weight,
            stretch.total(),
            stretch.ended - stretch.began
        );
        assert!(
            (share - f64::from(stretch.weight)).abs() <= 3.0,
            "{share:.1} % at weight {}: {stretch:?}",
            stretch.weight
        );
        assert!(stretch.total() >= 200, "{stretch:?}");
    }
    let after = load.seen();
    assert_eq!(after.failed, 0, "{:?}", after.failures);
    assert_eq!(after.app_errors, 0);
    let live = agent
        .releases()
        .live(&key())
        .expect("live")
        .map(|l| l.release);
    assert_eq!(live.as_deref(), Some("r2"));

    // v3 answers 5 % of requests with a 500: the first step's analysis
    // rolls it back.
    let before = load.seen();
    let (status, stretches) =
        deploy_watching(&agent, &file, compose(port, "v3", "0.05"), &load).await;
    assert_eq!(status, Status::Failed, "{stretches:?}");
    let weights: Vec<u8> = stretches.iter().map(|s| s.weight).collect();
    assert_eq!(weights, vec![0, 10, 0], "{stretches:?}");
    let canary = &stretches[1];
    let held = canary.ended - canary.began;
    println!(
        "v3 at 10 % for {held:?}: {} of {} requests, {} answered 5xx",
        canary.by_release.get("r3").copied().unwrap_or(0),
        canary.total(),
        canary.app_errors
    );
    assert!(
        held < Duration::from_secs(INTERVAL_SECS) + Duration::from_millis(1500),
        "the weight went back to 0 after {held:?}"
    );
    let after = load.seen();
    assert_eq!(after.failed, 0, "{:?}", after.failures);
    let errors = after.app_errors - before.app_errors;
    let on_v3 = after.by_release.get("r3").copied().unwrap_or(0);
    // Only v3 answered 5xx, 5 % of its share: about 0.5 % of the window.
    assert!(
        errors > 0 && errors <= on_v3 / 20 + 1,
        "{errors} 5xx of {on_v3} on v3"
    );
    assert!(
        on_v3 as f64 <= 0.13 * canary.total() as f64,
        "{on_v3} of {} went to v3",
        canary.total()
    );
    let live = agent
        .releases()
        .live(&key())
        .expect("live")
        .map(|l| l.release);
    assert_eq!(live.as_deref(), Some("r2"));
    let a3 = agent
        .releases()
        .app_release(APP, "a3")
        .expect("read")
        .expect("a3");
    assert_eq!(a3.outcome, Outcome::RolledBack);
    let detail = a3.detail.unwrap_or_default();
    assert!(
        detail.contains("Deploy.AnalysisFailed") && detail.contains("answered 5xx to"),
        "{detail}"
    );
    println!("a3: {detail}");
    let seen = load.stop().await;
    assert_eq!(seen.failed, 0, "{:?}", seen.failures);
    support::cleanup(&docker, WEB).await;
}
