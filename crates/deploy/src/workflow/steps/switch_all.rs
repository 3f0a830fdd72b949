//! `switch-all`: every service of an app release is healthy; their traffic
//! moves in one step (the target records all of them live at once, then
//! switches each). For an explicit rollback it also records the releases
//! left as rolled back.

use serde::{Deserialize, Serialize};
use windlass_asl::Failure;

use crate::target::{ReleaseContext, Switched, Upstreams};
use crate::workflow::{Inner, ReleaseRef};

/// One service as its start wave left it.
#[derive(Debug, Deserialize)]
pub(crate) struct Healthy {
    #[serde(flatten)]
    pub(crate) at: ReleaseRef,
    pub(crate) upstreams: Upstreams,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    app: String,
    /// The app release.
    release: String,
    /// The start Map's result: each wave's services.
    healthy: Vec<Vec<Healthy>>,
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        (&self.app, &self.release)
    }
}

/// Written to `$.switch`.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    pub services: Vec<ServiceSwitched>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ServiceSwitched {
    pub service: String,
    #[serde(flatten)]
    pub switched: Switched,
}

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let mut releases: Vec<(ReleaseContext, Upstreams)> = Vec::new();
    for healthy in input.healthy.into_iter().flatten() {
        releases.push((healthy.at.load(ctx.releases.as_ref())?, healthy.upstreams));
    }
    let switched = ctx.target.switch_all(&releases).await?;
    let mut services = Vec::new();
    for ((release, _), mut switched) in releases.iter().zip(switched) {
        super::switch::record_rollback(ctx, release, &mut switched)?;
        services.push(ServiceSwitched {
            service: release.service.clone(),
            switched,
        });
    }
    Ok(Output { services })
}
