//! How a release's replicas are started and how many may fail: Compose's
//! `deploy.update_config` for a deploy, `deploy.rollback_config` when a
//! rollback starts an older release again.

use std::time::Duration;

use windlass_asl::Failure;

use crate::compose::{FailureAction, Order, Service};
use crate::failures;
use crate::target::Mode;

/// How a release's replicas are started and how many may fail: Compose's
/// `deploy.update_config` for a deploy, `deploy.rollback_config` when a
/// rollback starts an older release again. A field left out takes
/// windlass's blue/green default, not Docker's: every replica at once
/// (parallelism 0), no delay, start-first, failure_action rollback (pause
/// for rollback_config), max_failure_ratio 0.
pub struct Pacing {
    /// Replicas started at a time.
    pub batch: usize,
    pub delay: Duration,
    pub failure_action: FailureAction,
    pub max_failure_ratio: f64,
    pub order: Order,
    /// Which Compose key these come from, for messages.
    pub key: &'static str,
}

impl Pacing {
    pub fn of(service: &Service, mode: Mode, replicas: u32) -> Pacing {
        let (config, key, action) = match mode {
            Mode::Deploy => (
                service.deploy.update_config.as_ref(),
                "deploy.update_config",
                FailureAction::Rollback,
            ),
            Mode::Rollback => (
                service.deploy.rollback_config.as_ref(),
                "deploy.rollback_config",
                FailureAction::Pause,
            ),
        };
        let parallelism = config.and_then(|c| c.parallelism).unwrap_or(0);
        Pacing {
            batch: if parallelism == 0 {
                replicas.max(1) as usize
            } else {
                parallelism as usize
            },
            delay: config.and_then(|c| c.delay).unwrap_or_default(),
            failure_action: config.and_then(|c| c.failure_action).unwrap_or(action),
            max_failure_ratio: config
                .and_then(|c| c.max_failure_ratio)
                .unwrap_or(0.0)
                .clamp(0.0, 1.0),
            order: config.and_then(|c| c.order).unwrap_or(Order::StartFirst),
            key,
        }
    }

    /// Fails when more of `replicas` failed than allowed: any share but all
    /// with failure_action continue, else max_failure_ratio of them. The
    /// failure is `Deploy.Paused` under failure_action pause.
    pub fn check(&self, release: &str, replicas: u32, failed: &[String]) -> Result<(), Failure> {
        let replicas = replicas.max(1) as usize;
        let allowed = match self.failure_action {
            FailureAction::Continue => replicas - 1,
            _ => ((self.max_failure_ratio * replicas as f64) + 1e-9).floor() as usize,
        }
        .min(replicas - 1);
        if failed.len() <= allowed {
            return Ok(());
        }
        let name = match self.failure_action {
            FailureAction::Pause => failures::PAUSED,
            _ => failures::UNHEALTHY,
        };
        let first = failed.first().map_or("", String::as_str);
        let detail = if replicas == 1 {
            format!("release {release}: {first}")
        } else {
            format!(
                "release {release}: {} of {replicas} replicas did not become healthy, more than {}.max_failure_ratio {} allows; first: {first}",
                failed.len(),
                self.key,
                self.max_failure_ratio
            )
        };
        Err(Failure::new(name, detail))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::failures as errors;

    fn pacing(update_config: &str, replicas: u32) -> Pacing {
        let text = format!("services:\n  web:\n    image: web\n    deploy:\n      replicas: {replicas}\n      update_config: {update_config}\n");
        let project = crate::compose::parse(&text, Path::new("compose.yaml")).expect("valid");
        Pacing::of(&project.services["web"], Mode::Deploy, replicas)
    }

    fn failures(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("replica {i} exited")).collect()
    }

    #[test]
    fn update_config_sets_batches_and_the_share_that_may_fail() {
        let all_at_once = pacing("{}", 4);
        assert_eq!(
            (all_at_once.batch, all_at_once.order),
            (4, Order::StartFirst)
        );
        assert!(all_at_once.check("r1", 4, &failures(0)).is_ok());
        let error = all_at_once
            .check("r1", 4, &failures(1))
            .expect_err("none may fail");
        assert_eq!(error.error, errors::UNHEALTHY);
        assert!(error.cause.contains("1 of 4 replicas"), "{}", error.cause);

        let paced = pacing(
            "{parallelism: 2, delay: 1s, max_failure_ratio: 0.5, order: stop-first}",
            4,
        );
        assert_eq!(
            (paced.batch, paced.delay, paced.order),
            (2, Duration::from_secs(1), Order::StopFirst)
        );
        assert!(paced.check("r1", 4, &failures(2)).is_ok());
        assert!(paced.check("r1", 4, &failures(3)).is_err());

        let pause = pacing("{failure_action: pause}", 1);
        assert_eq!(
            pause
                .check("r1", 1, &failures(1))
                .expect_err("paused")
                .error,
            errors::PAUSED
        );

        // continue tolerates any share but all: something must take traffic.
        let carry_on = pacing("{failure_action: continue}", 3);
        assert!(carry_on.check("r1", 3, &failures(2)).is_ok());
        assert!(carry_on.check("r1", 3, &failures(3)).is_err());
    }
}
