//! `push`: pushes a built image where its name says, and records the
//! registry's digest on the release.

use serde::Deserialize;
use windlass_asl::Failure;

use crate::failures;
use crate::target::Image;
use crate::workflow::{Inner, ReleaseRef};

#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    #[serde(flatten)]
    at: ReleaseRef,
    /// The build step's output.
    image: Image,
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        (&self.at.service, &self.at.release)
    }
}

/// Written to `$.image`.
pub(crate) type Output = Image;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let release = input.at.load(ctx.releases.as_ref())?;
    if input.image.push.is_none() {
        return Ok(input.image);
    }
    let image = ctx.target.push(&release, &input.image).await?;
    ctx.releases
        .set_image(&release.key, release.id(), &image.reference, &image.digest)
        .map_err(failures::store)?;
    Ok(image)
}
