//! The proxies' counters, sampled by the server itself every
//! [`SAMPLE_EVERY`] while it knows a deploy agent (not when a page asks), so
//! a page opened after a deploy already has the charts of the last
//! [`SAMPLES`] samples.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Agent, ReleaseTraffic, Share};
use crate::Dashboard;

/// How many samples of each release's counters the charts keep (4 minutes).
pub const SAMPLES: usize = 120;

/// How often the server samples the proxies' counters.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);

/// One sample of a release's counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    pub millis: i64,
    pub requests: u64,
    pub server_errors: u64,
    pub p99_us: Option<u64>,
    /// The share of new traffic the proxy routed to it when sampled.
    pub share: Option<Share>,
    /// Its latency histogram then ([`ReleaseTraffic::latencies`]); the
    /// page gets the windows' p99 from it, not the buckets.
    #[serde(skip)]
    pub latencies: Vec<[u64; 2]>,
}

/// The samples taken so far, per (service, release), oldest first, and why
/// the last one could not be taken, if it could not.
#[derive(Default)]
pub struct TrafficLog {
    series: Mutex<HashMap<(String, String), VecDeque<Sample>>>,
    problem: Mutex<Option<String>>,
}

impl TrafficLog {
    pub(crate) fn record(&self, now: i64, traffic: &[ReleaseTraffic]) {
        let mut log = self.series.lock().unwrap_or_else(|p| p.into_inner());
        for t in traffic {
            let series = log
                .entry((t.service.clone(), t.release.clone()))
                .or_default();
            series.push_back(Sample {
                millis: now,
                requests: t.requests,
                server_errors: t.server_errors,
                p99_us: t.p99_us,
                share: t.share,
                latencies: t.latencies.clone(),
            });
            while series.len() > SAMPLES {
                series.pop_front();
            }
        }
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn failed(&self, problem: String) {
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(problem);
    }

    pub(crate) fn series(&self, service: &str, release: &str) -> Vec<Sample> {
        let log = self.series.lock().unwrap_or_else(|p| p.into_inner());
        log.get(&(service.to_string(), release.to_string()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every release of `service` the samples hold, with its samples.
    pub(crate) fn releases_of(&self, service: &str) -> Vec<(String, Vec<Sample>)> {
        let log = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<(String, Vec<Sample>)> = log
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|((_, release), samples)| (release.clone(), samples.iter().cloned().collect()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Why the last sample could not be taken (the agent did not answer).
    pub(crate) fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Starts sampling the agent's traffic into `dashboard`'s log every
/// [`SAMPLE_EVERY`], the first sample at once; `None` when the dashboard
/// knows no agent. The task ends when the dashboard is dropped. Call it
/// inside the server's tokio runtime.
pub fn start_sampling(dashboard: &Arc<Dashboard>) -> Option<JoinHandle<()>> {
    let agent = dashboard.sources.deploys.as_ref()?.agent.clone();
    Some(tokio::spawn(sample(agent, Arc::downgrade(dashboard))))
}

async fn sample(agent: Arc<dyn Agent>, dashboard: Weak<Dashboard>) {
    // Sample times come from tokio's clock (paused in tests), anchored once
    // to the wall clock so the page can print them.
    let (wall, start) = (super::now_millis(), Instant::now());
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // A hung agent must not stop the samples: it gets one period.
        let answer = tokio::time::timeout(SAMPLE_EVERY, agent.traffic()).await;
        let Some(dashboard) = dashboard.upgrade() else {
            return;
        };
        let now = wall + start.elapsed().as_millis() as i64;
        match answer {
            Ok(Ok(traffic)) => dashboard.traffic.record(now, &traffic),
            Ok(Err(e)) => dashboard.traffic.failed(e),
            Err(_) => dashboard.traffic.failed(format!(
                "the proxy daemon did not answer within {} s",
                SAMPLE_EVERY.as_secs()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;
    use axum::extract::State;
    use windlass_store::memory::MemoryStore;
    use windlass_store::releases::{NewRelease, SqliteReleases};

    use super::*;
    use crate::services::{Answer, Answered, Deploys, Rollback};
    use crate::{Config, Sources};

    /// A proxy that has answered 10 more requests (one a 5xx) at each look,
    /// or that does not answer at all.
    #[derive(Default)]
    struct Counting {
        looks: AtomicU64,
        hung: bool,
    }

    #[async_trait]
    impl Agent for Counting {
        async fn traffic(&self) -> Result<Vec<ReleaseTraffic>, String> {
            if self.hung {
                std::future::pending::<()>().await;
            }
            let n = self.looks.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(vec![ReleaseTraffic {
                service: "shop/web".into(),
                release: "r1".into(),
                requests: 10 * n,
                server_errors: n,
                p99_us: Some(1_000 + n),
                share: Some(Share::Live(100)),
                latencies: Vec::new(),
            }])
        }
        async fn rollback(&self, _: &Rollback, _: &str) -> Result<String, String> {
            Err("not in this test".into())
        }
        async fn gate(&self, _: &str, _: Answer, _: &str) -> Result<Answered, String> {
            Err("not in this test".into())
        }
    }

    fn dashboard(agent: Arc<Counting>) -> Arc<Dashboard> {
        Dashboard::new(
            Config::default(),
            Sources {
                executions: Arc::new(MemoryStore::new()),
                machines: None,
                deploys: Some(Deploys {
                    executions: Arc::new(MemoryStore::new()),
                    releases: Arc::new(SqliteReleases::in_memory().expect("releases")),
                    agent,
                }),
            },
        )
    }

    #[tokio::test(start_paused = true)]
    async fn the_server_samples_every_two_seconds_without_a_page() {
        let agent = Arc::new(Counting::default());
        let dashboard = dashboard(agent.clone());
        let sampler = start_sampling(&dashboard).expect("an agent to sample");
        // Samples at 0, 2, 4 and 6 s of the (paused) clock.
        tokio::time::sleep(Duration::from_millis(7_000)).await;
        let series = dashboard.traffic.series("shop/web", "r1");
        let requests: Vec<u64> = series.iter().map(|s| s.requests).collect();
        assert_eq!(requests, vec![10, 20, 30, 40]);
        let gaps: Vec<i64> = series
            .windows(2)
            .map(|w| w[1].millis - w[0].millis)
            .collect();
        assert_eq!(gaps, vec![2_000, 2_000, 2_000]);
        assert_eq!(series[3].server_errors, 4);
        assert_eq!(series[3].p99_us, Some(1_004));
        assert_eq!(dashboard.traffic.problem(), None);
        sampler.abort();
        // A page opened now gets those samples, and asks the agent nothing.
        let deploys = dashboard.sources.deploys.as_ref().expect("deploys");
        let r1 = deploys
            .releases
            .create(NewRelease {
                service: "shop/web".parse().expect("a key"),
                compose_file: "compose.yaml".into(),
                compose_text: String::new(),
                by: "test".into(),
                created_millis: 1,
                fingerprint: None,
            })
            .expect("a release");
        assert_eq!(r1.id, "r1");
        let view = crate::services::services(State(dashboard.clone()))
            .await
            .expect("the services");
        let shown: Vec<u64> = view.0.services[0].releases[0]
            .traffic
            .iter()
            .map(|s| s.requests)
            .collect();
        assert_eq!(shown, vec![10, 20, 30, 40]);
        assert_eq!(agent.looks.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_series_keeps_its_last_samples_only() {
        let agent = Arc::new(Counting::default());
        let dashboard = dashboard(agent.clone());
        let sampler = start_sampling(&dashboard).expect("an agent to sample");
        let periods = SAMPLES as u64 + 10;
        tokio::time::sleep(SAMPLE_EVERY * periods as u32 + Duration::from_millis(500)).await;
        let series = dashboard.traffic.series("shop/web", "r1");
        assert_eq!(series.len(), SAMPLES);
        // The oldest were dropped: the last sample is look number periods + 1.
        assert_eq!(series.last().map(|s| s.requests), Some(10 * (periods + 1)));
        assert_eq!(
            series.first().map(|s| s.requests),
            Some(10 * (periods + 2 - SAMPLES as u64))
        );
        sampler.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_agent_is_a_problem_on_the_page_not_a_stuck_sampler() {
        let agent = Arc::new(Counting {
            hung: true,
            ..Counting::default()
        });
        let dashboard = dashboard(agent);
        let sampler = start_sampling(&dashboard).expect("an agent to sample");
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let problem = dashboard.traffic.problem().expect("a problem");
        assert!(problem.contains("did not answer within 2 s"), "{problem}");
        assert!(dashboard.traffic.series("shop/web", "r1").is_empty());
        sampler.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn sampling_ends_with_the_dashboard() {
        let agent = Arc::new(Counting::default());
        let dashboard = dashboard(agent.clone());
        let sampler = start_sampling(&dashboard).expect("an agent to sample");
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(dashboard);
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert!(sampler.is_finished());
        assert_eq!(agent.looks.load(Ordering::SeqCst), 2);
    }
}
