//! `wait-healthy`: waits until the replicas the start step started are
//! healthy, and reads where they take traffic.

use serde::Deserialize;
use windlass_asl::Failure;

use crate::target::{Replicas, Upstreams};
use crate::workflow::{Inner, ReleaseRef};

#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    #[serde(flatten)]
    at: ReleaseRef,
    /// The start step's output; looked up by the target when absent.
    #[serde(default)]
    containers: Option<Replicas>,
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        (&self.at.service, &self.at.release)
    }
}

/// Written to `$.upstreams`.
pub(crate) type Output = Upstreams;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let release = input.at.load(ctx.releases.as_ref())?;
    ctx.target
        .wait_healthy(&release, input.containers.as_ref())
        .await
}
