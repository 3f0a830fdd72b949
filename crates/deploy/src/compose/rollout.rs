//! `x-windlass.rollout`: progressive delivery on windlass's proxy. A canary
//! (`weight: 10`, then the rest), a linear rollout (`step: 20`, every
//! `interval`) or steps of its own (`steps: [10, 50]`) moves a share of the traffic to the new release step by
//! step; before each next step the new release's 5xx share and p99, as the
//! proxy measured them in the step's window, are judged against the old
//! release's in the same window ([`Analysis`]). The steps themselves are
//! [`Rollout::steps`]; the workflow writes them as ASL states.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::values;

/// The bake time of a step when `interval` is left out.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// `x-windlass.rollout` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// A canary: this percentage of the traffic first, then all of it.
    pub weight: Option<u32>,
    /// A linear rollout: this many percentage points more each step.
    pub step: Option<u32>,
    /// The weights of each step, rising (`[10, 50]`: 10 %, 50 %, then all).
    pub steps: Option<Vec<u32>>,
    /// How long each step bakes before its analysis (60 s by default).
    #[serde(default, deserialize_with = "values::optional_duration")]
    pub interval: Option<Duration>,
    /// Wait after each step's analysis for `windlass approve` (or the
    /// dashboard's button) before the next step.
    #[serde(default)]
    pub approve: bool,
    /// HTTP: keep each user on one release by this cookie or header.
    #[serde(default)]
    pub sticky: Option<StickyKey>,
    #[serde(default)]
    pub analysis: Analysis,
}

/// What keeps a user on one release: exactly one of a cookie or a header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickyKey {
    pub cookie: Option<String>,
    pub header: Option<String>,
}

/// What must hold before the next step, each step's window judged on its
/// own: the new release against the old one, both as the proxy counted
/// them in the same window.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// The new release's share of 5xx answers may be at most the old
    /// release's plus this (0 to 1; 0.01 by default).
    pub max_server_error_increase: Option<f64>,
    /// The new release's p99 latency may be at most this many times the
    /// old release's (1.5 by default); within 25 ms of it is never judged
    /// slower (a window's p99 is noisy).
    pub max_p99_ratio: Option<f64>,
    /// Requests the new release must have answered in the window before it
    /// is judged (20 by default); with fewer the step bakes again.
    pub min_requests: Option<u64>,
    /// A path to GET on every replica of the new release at each
    /// analysis: anything but 2xx fails it.
    pub http: Option<String>,
    /// CloudWatch alarms: one in ALARM at an analysis fails it (read with
    /// the agent's AWS configuration); on ECS, ECS's deployment alarms.
    #[serde(default)]
    pub alarms: Vec<String>,
}

impl Analysis {
    pub fn max_server_error_increase(&self) -> f64 {
        self.max_server_error_increase.unwrap_or(0.01)
    }

    pub fn max_p99_ratio(&self) -> f64 {
        self.max_p99_ratio.unwrap_or(1.5)
    }

    pub fn min_requests(&self) -> u64 {
        self.min_requests.unwrap_or(20)
    }
}

/// Canary, linear or steps of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Canary,
    Linear,
    Steps,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Canary => "canary",
            Kind::Linear => "linear",
            Kind::Steps => "steps",
        }
    }
}

/// One step of a rollout: the new release's share, then the bake, the
/// analysis and (when asked) the wait for an approval. The last step,
/// 100 %, is the switch itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutStep {
    /// 1 to 99: the share the new release takes in this step.
    pub weight: u32,
    pub bake: Duration,
    pub approve: bool,
}

impl fmt::Display for RolloutStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}% for {:?}, then analysis", self.weight, self.bake)?;
        if self.approve {
            write!(
                f,
                " and approval (analysed again every {:?} while it waits)",
                self.bake
            )?;
        }
        Ok(())
    }
}

impl Rollout {
    /// Canary or linear; `None` when the rollout names neither or both
    /// (the Compose check refuses it).
    pub fn kind(&self) -> Option<Kind> {
        match (self.weight, self.step, &self.steps) {
            (Some(_), None, None) => Some(Kind::Canary),
            (None, Some(_), None) => Some(Kind::Linear),
            (None, None, Some(_)) => Some(Kind::Steps),
            _ => None,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(DEFAULT_INTERVAL)
    }

    /// The steps before the switch: a canary's one, a linear rollout's
    /// `step`, `2 step`, ... below 100, or the `steps` given. Empty for a
    /// rollout the check refuses.
    pub fn steps(&self) -> Vec<RolloutStep> {
        if !self.problems().is_empty() {
            return Vec::new();
        }
        let weights: Vec<u32> = match (self.kind(), self.weight, self.step) {
            (Some(Kind::Canary), Some(w), _) => vec![w],
            (Some(Kind::Linear), _, Some(s)) => {
                (1..).map(|i| i * s).take_while(|w| *w < 100).collect()
            }
            (Some(Kind::Steps), _, _) => self.steps.clone().unwrap_or_default(),
            _ => Vec::new(),
        };
        weights
            .into_iter()
            .map(|weight| RolloutStep {
                weight,
                bake: self.interval(),
                approve: self.approve,
            })
            .collect()
    }

    /// The steps of a deploy held at `weight` (`windlass deploy --canary`):
    /// that weight first, waiting after its analysis for `windlass
    /// promote` (or `abort`), then the rollout's own steps above it.
    pub fn held_at(&self, weight: u32) -> Vec<RolloutStep> {
        let mut steps = vec![RolloutStep {
            weight,
            bake: self.interval(),
            approve: true,
        }];
        steps.extend(self.steps().into_iter().filter(|s| s.weight > weight));
        steps
    }

    /// What is wrong with the rollout, each with the key under
    /// `x-windlass.rollout` it concerns (empty for the whole).
    pub fn problems(&self) -> Vec<(Vec<&'static str>, String)> {
        let mut out = Vec::new();
        let given = [
            self.weight.is_some(),
            self.step.is_some(),
            self.steps.is_some(),
        ];
        match given.iter().filter(|g| **g).count() {
            0 => out.push((vec![], "a rollout needs `weight` (a canary: this percentage first, then the rest), `step` (linear: this many points more every `interval`) or `steps` (the weights in order)".to_owned())),
            1 => {}
            _ => out.push((vec![], "give one of `weight` (a canary), `step` (linear) or `steps`".to_owned())),
        }
        let out_of_range =
            |n: u32| format!("{n} is out of range: expected a percentage from 1 to 99");
        for (key, value) in [("weight", self.weight), ("step", self.step)] {
            if let Some(n) = value.filter(|n| !(1..100).contains(n)) {
                out.push((vec![key], out_of_range(n)));
            }
        }
        if let Some(steps) = &self.steps {
            if steps.is_empty() {
                out.push((vec!["steps"], "give at least one weight".to_owned()));
            }
            if let Some(n) = steps.iter().find(|n| !(1..100).contains(*n)) {
                out.push((vec!["steps"], out_of_range(*n)));
            } else if steps.windows(2).any(|w| w[0] >= w[1]) {
                out.push((
                    vec!["steps"],
                    format!(
                        "{steps:?} do not rise: each step's weight must be above the one before"
                    ),
                ));
            }
        }
        if self.interval.is_some_and(|i| i.is_zero()) {
            out.push((
                vec!["interval"],
                "a step must bake for some time: give a duration above 0 (`30s`)".to_owned(),
            ));
        }
        if let Some(sticky) = &self.sticky {
            match (&sticky.cookie, &sticky.header) {
                (Some(_), None) => {}
                (None, Some(header)) => {
                    if hyper::header::HeaderName::try_from(header.as_str()).is_err() {
                        out.push((
                            vec!["sticky", "header"],
                            format!("{header:?} is not a header name"),
                        ));
                    }
                }
                _ => out.push((
                    vec!["sticky"],
                    "give exactly one of `cookie` or `header`".to_owned(),
                )),
            }
        }
        let analysis = &self.analysis;
        if let Some(r) = analysis
            .max_server_error_increase
            .filter(|r| !(0.0..=1.0).contains(r))
        {
            out.push((
                vec!["analysis", "max_server_error_increase"],
                format!("{r} is out of range: expected a share from 0 to 1"),
            ));
        }
        if let Some(r) = analysis
            .max_p99_ratio
            .filter(|r| !r.is_finite() || *r < 1.0)
        {
            out.push((
                vec!["analysis", "max_p99_ratio"],
                format!("{r} is out of range: expected a ratio of 1 or more"),
            ));
        }
        if let Some(path) = analysis.http.as_ref().filter(|p| !p.starts_with('/')) {
            out.push((
                vec!["analysis", "http"],
                format!("{path:?} is not a path: expected one starting with '/'"),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Rollout {
        serde_norway::from_str(yaml).expect("a rollout")
    }

    #[test]
    fn a_canary_is_one_step_and_linear_is_several() {
        let canary = read("weight: 10\ninterval: 30s\napprove: true\n");
        assert_eq!(canary.kind(), Some(Kind::Canary));
        assert_eq!(
            canary.steps(),
            vec![RolloutStep {
                weight: 10,
                bake: Duration::from_secs(30),
                approve: true
            }]
        );
        let linear = read("step: 30\n");
        let weights: Vec<u32> = linear.steps().iter().map(|s| s.weight).collect();
        assert_eq!(weights, vec![30, 60, 90]);
        assert_eq!(linear.steps()[0].bake, DEFAULT_INTERVAL);
        assert!(linear.problems().is_empty());
        assert_eq!(linear.steps()[0].to_string(), "30% for 60s, then analysis");
        assert_eq!(
            canary.steps()[0].to_string(),
            "10% for 30s, then analysis and approval (analysed again every 30s while it waits)"
        );
        let held: Vec<(u32, bool)> = linear
            .held_at(40)
            .iter()
            .map(|s| (s.weight, s.approve))
            .collect();
        assert_eq!(held, vec![(40, true), (60, false), (90, false)]);
        let own = read("steps: [10, 50]\ninterval: 2s\n");
        assert_eq!(own.kind(), Some(Kind::Steps));
        let weights: Vec<u32> = own.steps().iter().map(|s| s.weight).collect();
        assert_eq!(weights, vec![10, 50]);
    }

    #[test]
    fn problems_name_their_key() {
        let keys = |yaml: &str| -> Vec<Vec<&'static str>> {
            read(yaml).problems().into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(keys("interval: 1m\n"), vec![Vec::<&str>::new()]);
        assert_eq!(keys("weight: 10\nstep: 10\n"), vec![Vec::<&str>::new()]);
        assert_eq!(keys("weight: 100\n"), vec![vec!["weight"]]);
        assert_eq!(keys("steps: [50, 10]\n"), vec![vec!["steps"]]);
        assert_eq!(keys("steps: [10, 100]\n"), vec![vec!["steps"]]);
        assert!(read("steps: [50, 10]\n").steps().is_empty());
        assert_eq!(keys("step: 20\ninterval: 0s\n"), vec![vec!["interval"]]);
        assert_eq!(
            keys("weight: 5\nsticky: {cookie: a, header: b}\n"),
            vec![vec!["sticky"]]
        );
        assert_eq!(
            keys("weight: 5\nanalysis: {max_server_error_increase: 2, max_p99_ratio: 0.5, http: health}\n"),
            vec![
                vec!["analysis", "max_server_error_increase"],
                vec!["analysis", "max_p99_ratio"],
                vec!["analysis", "http"]
            ]
        );
        assert!(serde_norway::from_str::<Rollout>("wieght: 10\n").is_err());
    }
}
