//! The rollout's buttons: Approve and Promote let a deploy waiting at its
//! approval gate go on, Abort takes the app's canaries out of service and
//! rolls the deploy back; each asks the agent's gate API (`POST
//! /v1/gate`), as `windlass approve`, `promote` and `abort` do. Only a
//! server started with `--dashboard-rollback` lets the page answer, with
//! the same login, header and origin rules as a rollback.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::rollout::GATE_OFF;
use crate::{Dashboard, Error};

/// A button of the page: JSON `{"app": "shop", "answer": "approve"}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateAsk {
    pub app: String,
    pub answer: Answer,
}

/// A person's answer to a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Go on past the gate the rollout waits at (`windlass approve`).
    Approve,
    /// The same for a deploy held by `--canary` (`windlass promote`).
    Promote,
    /// Canaries to 0 % at once, then the deploy rolls back (`windlass abort`).
    Abort,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Answer::Approve => "approve",
            Answer::Promote => "promote",
            Answer::Abort => "abort",
        })
    }
}

/// What the agent did with an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered {
    pub app: String,
    /// The deploy's execution, which the page follows.
    pub execution: String,
    /// What happened, for people.
    pub answered: String,
}

/// Answers an app's rollout, when the server allows it from the page.
pub async fn gate(State(d): State<Arc<Dashboard>>, body: Bytes) -> Result<Json<Answered>, Error> {
    let ask: GateAsk = serde_json::from_slice(&body).map_err(|e| {
        Error::BadRequest(format!(
            "an answer names the app and approve, promote or abort, as {{\"app\": \"shop\", \"answer\": \"approve\"}} ({e})"
        ))
    })?;
    if !d.config.allow_rollback {
        return Err(Error::Forbidden(GATE_OFF.to_owned()));
    }
    let deploys = d.sources.deploys.as_ref().ok_or_else(|| {
        Error::NotFound(
            "this server knows no deploy agent: start windlass server with --agent-state DIR"
                .into(),
        )
    })?;
    let answered = deploys
        .agent
        .gate(&ask.app, ask.answer, "dashboard")
        .await
        .map_err(|e| Error::Agent(format!("{} of app {}'s rollout: {e}", ask.answer, ask.app)))?;
    tracing::info!(app = %ask.app, answer = %ask.answer, execution = %answered.execution, "rollout answered from the dashboard");
    Ok(Json(answered))
}
