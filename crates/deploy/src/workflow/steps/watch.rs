//! `watch`: watches the live release for the watch period; a trigger
//! (5xx share, p99 latency, failed health checks) fails the step.

use windlass_asl::Failure;

use super::release_only_input;
use crate::target::Watched;
use crate::workflow::Inner;

release_only_input!();

/// Written to `$.watch`.
pub(crate) type Output = Watched;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let release = input.at.load(ctx.releases.as_ref())?;
    ctx.target.watch(&release).await
}
