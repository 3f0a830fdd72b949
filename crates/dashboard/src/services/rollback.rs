//! Rollback from the page: of one service or of a whole app, when the
//! server was started with `--dashboard-rollback`; the page then follows
//! the rollback's execution.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::Rollback;
use crate::{Dashboard, Error};

#[derive(Debug, Serialize)]
pub struct RollbackStarted {
    /// The rollback's execution (one for all the services of an app).
    pub execution: String,
}

/// Rolls a service or an app back, when the server allows it from the page.
pub async fn rollback(
    State(d): State<Arc<Dashboard>>,
    body: Bytes,
) -> Result<Json<RollbackStarted>, Error> {
    let what: Rollback = serde_json::from_slice(&body).map_err(|e| {
        Error::BadRequest(format!(
            "a rollback names one service or one app, as {{\"service\": \"web\"}} or {{\"app\": \"shop\"}} ({e})"
        ))
    })?;
    if !d.config.allow_rollback {
        return Err(Error::Forbidden(super::ROLLBACK_OFF.to_owned()));
    }
    let deploys = d.sources.deploys.as_ref().ok_or_else(|| {
        Error::NotFound(
            "this server knows no deploy agent: start windlass server with --agent-state DIR"
                .into(),
        )
    })?;
    let execution = deploys
        .agent
        .rollback(&what, "dashboard")
        .await
        .map_err(|e| Error::Agent(format!("rollback of {what}: {e}")))?;
    Ok(Json(RollbackStarted { execution }))
}
