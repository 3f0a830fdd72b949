//! A person's answer to a rollout: `windlass approve` (or `promote`) lets a
//! step waiting at its approval gate go on; `windlass abort` takes every
//! canary of the app out of service at once (its weight back to 0, the old
//! releases never stopped) and fails the rollout with `Deploy.Aborted`, which
//! rolls it back: through the gate's task token when it waits at one, else
//! at the end of the step's bake. The token is read from the execution's
//! stored state, so a restarted agent answers it as well.

use serde_json::json;
use windlass_engine::Execution;
use windlass_store::releases::ServiceKey;

use super::contract::{Decision, GateAnswer, GateRequest};
use super::{Agent, Error};
use crate::failures;
use crate::workflow::rollout::{APPROVE_RESOURCE, HOLD_SUFFIX};

impl Agent {
    pub async fn gate(&self, request: GateRequest) -> Result<GateAnswer, Error> {
        let app = self.app_or_only(request.app.as_deref())?;
        let newest = self.releases.app_releases(&app)?.into_iter().next();
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
        let token = self.gate_token(&execution).await?;
        let answered = match (request.decision, token) {
            (Decision::Approve, Some(token)) => {
                self.runtime
                    .send_task_success(&token, json!({ "approved_by": request.by }))
                    .await?;
                "approved: the rollout goes on to its next step".to_owned()
            }
            (Decision::Approve, None) => return Err(Error::NoGate(app)),
            (Decision::Abort, token) => {
                for key in &keys {
                    if let Err(e) = self.proxies.end_canary(key).await {
                        tracing::warn!(service = %key, error = %e, "the canary could not be ended");
                    }
                }
                // A target whose canaries are its own (the Swarm's entry
                // routes) ends them too, all of the app's in one write.
                if let Err(e) = self.target.end_canaries(&keys).await {
                    tracing::warn!(%app, error = %e.cause, "the canaries could not be ended");
                }
                let cause = format!("the rollout of app {app} was aborted by {}", request.by);
                match token {
                    Some(token) => {
                        self.runtime
                            .send_task_failure(&token, failures::ABORTED.to_owned(), cause)
                            .await?;
                        "aborted at the gate: the canaries take no traffic and the deploy rolls back".to_owned()
                    }
                    None => {
                        self.deployer.abort(&app);
                        "aborted: the canaries take no traffic; the deploy rolls back when the step's bake ends".to_owned()
                    }
                }
            }
        };
        tracing::info!(%app, %execution, decision = ?request.decision, by = %request.by, "rollout answered");
        Ok(GateAnswer {
            app,
            execution,
            answered,
        })
    }

    /// The token of the approval gate the execution waits at, if any. A
    /// held canary's gate is closed while the canary is analysed again
    /// (`RolloutNHold`, an instant): the answer waits for the next gate
    /// rather than being refused or lost.
    async fn gate_token(&self, arn: &str) -> Result<Option<String>, Error> {
        let deadline = tokio::time::Instant::now() + HOLD_ANALYSIS_WAIT;
        loop {
            match self.gate_now(arn)? {
                AtGate::Token(token) => return Ok(Some(token)),
                AtGate::Judging if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                AtGate::Judging | AtGate::No => return Ok(None),
            }
        }
    }

    fn gate_now(&self, arn: &str) -> Result<AtGate, Error> {
        let Some(record) = self.runtime.store().execution(arn)? else {
            return Ok(AtGate::No);
        };
        let execution: Execution = serde_json::from_str(&record.snapshot)
            .map_err(|e| Error::Restore(format!("execution {arn}'s state: {e}")))?;
        if let Some((token, _)) = execution
            .token_tasks()
            .find(|(_, task)| task.request.resource.ends_with(APPROVE_RESOURCE))
        {
            return Ok(AtGate::Token(token.to_owned()));
        }
        let judging = execution.status == windlass_engine::Status::Running
            && execution
                .pending_tasks()
                .any(|(_, task)| task.request.state_name.ends_with(HOLD_SUFFIX));
        Ok(if judging { AtGate::Judging } else { AtGate::No })
    }
}

/// How long an answer waits for a held canary's analysis to end and its
/// gate to open again (the analysis reads the proxy's counters: it takes
/// milliseconds, an HTTP check at most its timeout).
const HOLD_ANALYSIS_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Where a running deploy is with respect to its approval gate.
enum AtGate {
    Token(String),
    /// The held canary is being analysed; its gate opens again after.
    Judging,
    No,
}
