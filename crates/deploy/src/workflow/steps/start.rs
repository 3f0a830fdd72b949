//! `start`: starts the release's replicas beside the live ones.

use windlass_asl::Failure;

use super::release_only_input;
use crate::target::Replicas;
use crate::workflow::Inner;

release_only_input!();

/// Written to `$.containers`.
pub(crate) type Output = Replicas;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let release = input.at.load(ctx.releases.as_ref())?;
    ctx.target.start(&release).await
}
