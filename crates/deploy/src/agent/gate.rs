//! A person's answer to a rollout. `windlass approve` (or `promote`) lets a
//! step waiting at its approval gate go on, and ends a step's bake early:
//! the step is analysed at once and, when it holds, passes its gate too.
//! `windlass abort` takes every canary of the app out of service at once
//! (its weight back to 0, the old releases never stopped) and fails the
//! rollout with `Deploy.Aborted` through the task token of the bake or the
//! gate the deploy waits at, which rolls it back at once. The tokens are
//! read from the execution's stored state and answered through the
//! runtime, which stores the answer before it returns: a restarted agent
//! answers them as well, and an answered abort survives a crash. An abort
//! that comes before the rollout began is kept in the store
//! (`Deployer::abort`): the rollout's first step fails with it.

use serde_json::json;
use windlass_engine::Execution;
use windlass_store::releases::ServiceKey;

use super::contract::{Decision, GateAnswer, GateRequest};
use super::{Agent, Error};
use crate::failures;
use crate::workflow::rollout::{self, BakeAnswer, APPROVE_RESOURCE, BAKE_RESOURCE, HOLD_SUFFIX};
use crate::workflow::Step;
use crate::workflow::RESOURCE_PREFIX;

impl Agent {
    pub async fn gate(&self, request: GateRequest) -> Result<GateAnswer, Error> {
        let app = self.app_or_only(request.app.as_deref())?;
        let newest = self.releases.app_releases(&app)?.into_iter().next();
        let newest_id = newest.as_ref().map(|release| release.id.clone());
        let keys = newest
            .map(|release| {
                release
                    .services
                    .iter()
                    .map(|m| ServiceKey::new(app.as_str(), m.service.as_str()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let mut holder = None;
        for key in &keys {
            if let Some(lock) = self.releases.lock_of(key)? {
                holder = Some(lock.holder);
                break;
            }
        }
        let Some(execution) = holder else {
            return Err(Error::NoRollout(app));
        };
        let answered = match request.decision {
            Decision::Approve => self.approve(&app, &execution, &request.by).await?,
            Decision::Abort => {
                let aborted = Aborted {
                    app: &app,
                    keys: &keys,
                    execution: &execution,
                    newest: newest_id.as_deref(),
                };
                self.abort(aborted, &request.by).await?
            }
        };
        tracing::info!(%app, %execution, decision = ?request.decision, by = %request.by, %answered, "rollout answered");
        Ok(GateAnswer {
            app,
            execution,
            answered,
        })
    }

    /// Answers the gate the deploy waits at, or ends the bake of its step.
    async fn approve(&self, app: &str, execution: &str, by: &str) -> Result<String, Error> {
        // A token whose task ended meanwhile (the bake's time ran out as
        // the answer came) is looked for once more.
        for _ in 0..ANSWER_TRIES {
            let answer = match self.answerable(execution, |at| at.is_hold()).await? {
                At::Gate(gate) => {
                    let answer = json!({ "approved_by": by });
                    self.runtime
                        .send_task_success(&gate.token, answer)
                        .await
                        .map(|()| "approved: the rollout goes on to its next step".to_owned())
                }
                At::Bake(bake) => {
                    let answer = BakeAnswer {
                        approved_by: by.to_owned(),
                        step: bake.step,
                    };
                    let answer = serde_json::to_value(&answer)
                        .map_err(|e| Error::Restore(format!("the bake's answer: {e}")))?;
                    self.runtime.send_task_success(&bake.token, answer).await.map(|()| {
                        format!("promoted: the bake of step {} ends now; its analysis judges the window so far and, if it holds, the rollout goes on past the step (and its approval gate, if it has one)", bake.named())
                    })
                }
                At::Step { .. } | At::Elsewhere | At::Past | At::Plain => {
                    return Err(Error::NoGate(app.to_owned()))
                }
            };
            match answer {
                Err(windlass_runtime::Error::InvalidToken) => continue,
                other => return Ok(other?),
            }
        }
        Err(Error::NoGate(app.to_owned()))
    }

    /// Ends the app's canaries, then fails the bake or the gate the
    /// deploy waits at (after the step it is in, if it is in one), or
    /// keeps the abort in the store for the deploy's next rollout step.
    async fn abort(&self, aborted: Aborted<'_>, by: &str) -> Result<String, Error> {
        let Aborted {
            app,
            keys,
            execution,
            newest,
        } = aborted;
        match self.at(execution)? {
            At::Past => return Err(Error::RolloutOver(app.to_owned())),
            At::Plain => return Err(Error::NoRolloutSteps(app.to_owned())),
            _ => {}
        }
        for key in keys {
            if let Err(e) = self.proxies.end_canary(key).await {
                tracing::warn!(service = %key, error = %e, "the canary could not be ended");
            }
        }
        // A target whose canaries are its own (the Swarm's entry routes)
        // ends them too, all of the app's in one write.
        if let Err(e) = self.target.end_canaries(keys).await {
            tracing::warn!(%app, error = %e.cause, "the canaries could not be ended");
        }
        for _ in 0..ANSWER_TRIES {
            let (waiting, answered) = match self.answerable(execution, At::is_step).await? {
                At::Gate(gate) => {
                    let answered = format!("aborted at the gate of step {}: the canaries take no traffic and the deploy rolls back now", gate.named());
                    (gate, answered)
                }
                At::Bake(bake) => {
                    let answered = format!("aborted during the bake of step {}: the canaries take no traffic and the deploy rolls back now", bake.named());
                    (bake, answered)
                }
                At::Past => return Err(Error::RolloutOver(app.to_owned())),
                At::Step { .. } | At::Elsewhere | At::Plain => break,
            };
            match self
                .runtime
                .send_task_failure(
                    &waiting.token,
                    failures::ABORTED.to_owned(),
                    rollout::aborted(app, &waiting.named(), by),
                )
                .await
            {
                Err(windlass_runtime::Error::InvalidToken) => continue,
                other => {
                    other?;
                    return Ok(answered);
                }
            }
        }
        // Not at its rollout yet (building, starting): kept in the store
        // until the deploy ends; its next rollout step fails with it (also
        // after a crash of the agent).
        let release = self.release_of(execution, newest)?;
        self.deployer
            .abort(app, &release, by, self.clock.now_millis())?;
        Ok("aborted: the canaries take no traffic; the deploy, not at its rollout yet, rolls back when it reaches it (kept through a restart of the agent)".to_owned())
    }

    /// The app release execution `arn` deploys (its input's `release`);
    /// the app's newest while the execution that took the locks is not
    /// stored yet (it is being started).
    fn release_of(&self, arn: &str, newest: Option<&str>) -> Result<String, Error> {
        let record = self.runtime.store().execution(arn)?;
        let input = record
            .as_ref()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.input).ok());
        input
            .as_ref()
            .and_then(|input| input["release"].as_str())
            .or(if record.is_none() { newest } else { None })
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::Restore(format!("execution {arn}'s input names no release to abort"))
            })
    }

    /// Where the execution is, once it is no longer in a state `passing`
    /// accepts (a rollout step's Task: milliseconds, an HTTP check at most
    /// its timeout), or after [`STEP_WAIT`]: an answer sent as a held
    /// canary is judged again, or while a step is weighed or analysed,
    /// waits for the bake or gate that follows rather than being refused
    /// or lost.
    async fn answerable(&self, arn: &str, passing: impl Fn(&At) -> bool) -> Result<At, Error> {
        let deadline = tokio::time::Instant::now() + STEP_WAIT;
        loop {
            let at = self.at(arn)?;
            if !passing(&at) || tokio::time::Instant::now() >= deadline {
                return Ok(at);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    fn at(&self, arn: &str) -> Result<At, Error> {
        let Some(record) = self.runtime.store().execution(arn)? else {
            return Ok(At::Elsewhere);
        };
        let execution: Execution = serde_json::from_str(&record.snapshot)
            .map_err(|e| Error::Restore(format!("execution {arn}'s state: {e}")))?;
        if !record.definition.contains(BAKE_RESOURCE) {
            return Ok(At::Plain);
        }
        Ok(At::of(&execution))
    }
}

/// What an abort is of: the app, its newest release's services, the
/// execution that holds their locks and the app's newest app release.
struct Aborted<'a> {
    app: &'a str,
    keys: &'a [ServiceKey],
    execution: &'a str,
    newest: Option<&'a str>,
}

/// How long an answer waits for a rollout step's Task (a weigh, an
/// analysis, a held canary's analysis) to end and a bake or gate to open
/// (they read the proxy's counters: milliseconds, an HTTP check at most its
/// timeout).
const STEP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often an answer looks again for a token whose task ended as it
/// was answered.
const ANSWER_TRIES: usize = 3;

/// Where a running deploy is with respect to its rollout.
#[derive(Debug, PartialEq)]
enum At {
    /// Waiting at an approval gate.
    Gate(Waiting),
    /// Baking a step.
    Bake(Waiting),
    /// A rollout step's Task runs: a weigh, an analysis, or (`hold`) a
    /// held canary judged again between two waits at its gate.
    Step { hold: bool },
    /// Past its rollout: switching, watched, retired or rolling back.
    Past,
    /// A deploy with no rollout: nothing bakes or waits, ever.
    Plain,
    /// Anywhere else: before its rollout (building, starting), between
    /// two tries of a step, or not running here.
    Elsewhere,
}

impl At {
    fn of(execution: &Execution) -> At {
        if execution.status != windlass_engine::Status::Running {
            return At::Elsewhere;
        }
        for (token, task) in execution.token_tasks() {
            let resource = &task.request.resource;
            let input = &task.request.input;
            let waiting = || Waiting {
                token: token.to_owned(),
                step: input["step"]
                    .as_u64()
                    .and_then(|s| u32::try_from(s).ok())
                    .unwrap_or(0),
                weight: serde_json::from_value(input["weight"].clone()).ok(),
            };
            if resource.ends_with(APPROVE_RESOURCE) {
                return At::Gate(waiting());
            }
            if resource.ends_with(BAKE_RESOURCE) {
                return At::Bake(waiting());
            }
        }
        let mut at = At::Elsewhere;
        for (_, task) in execution.pending_tasks() {
            let step = task
                .request
                .resource
                .strip_prefix(RESOURCE_PREFIX)
                .and_then(|s| s.parse::<Step>().ok());
            match step {
                Some(Step::Weigh | Step::Analyse) => {
                    let hold = task.request.state_name.ends_with(HOLD_SUFFIX);
                    return At::Step { hold };
                }
                Some(
                    Step::Switch
                    | Step::SwitchAll
                    | Step::SwitchWarm
                    | Step::Watch
                    | Step::Retire
                    | Step::Rollback,
                ) => at = At::Past,
                _ => {}
            }
        }
        at
    }

    fn is_step(&self) -> bool {
        matches!(self, At::Step { .. })
    }

    fn is_hold(&self) -> bool {
        matches!(self, At::Step { hold: true })
    }
}

/// A bake or gate the deploy waits at: its token, and which step.
#[derive(Debug, PartialEq)]
struct Waiting {
    token: String,
    step: u32,
    weight: Option<windlass_proxy::Weight>,
}

impl Waiting {
    /// `1 (20 %)`, as an analysis names its step.
    fn named(&self) -> String {
        match &self.weight {
            Some(weight) => format!("{} ({weight})", self.step),
            None => self.step.to_string(),
        }
    }
}
