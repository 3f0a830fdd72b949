//! `switch-warm`: the fast path of an explicit rollback. When every release
//! it goes back to is a warm standby (its replicas still run and pass one
//! look of their health check now), their traffic moves at once, as
//! `switch-all` moves it (the store's live pointers in one transaction,
//! then every proxy in one step), and the rollback is a flip. Otherwise it
//! changes nothing and says so: the definition's Choice then starts the
//! releases and waits until they are healthy, the slow path.

use serde::{Deserialize, Serialize};
use windlass_asl::Failure;

use super::switch_all::ServiceSwitched;
use crate::target::ReleaseContext;
use crate::workflow::{Inner, ReleaseRef};

/// A rollback of a whole app (its execution's input), or of one service.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Input {
    App {
        app: String,
        /// The app release.
        release: String,
        services: Vec<ReleaseRef>,
    },
    One(ReleaseRef),
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        match self {
            Input::App { app, release, .. } => (app, release),
            Input::One(at) => (&at.service, &at.release),
        }
    }
}

/// Written to `$.switch`.
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    /// Whether every release was warm, so that the traffic moved.
    pub warm: bool,
    pub services: Vec<ServiceSwitched>,
}

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let timing = {
        let (subject, release) = super::Subject::subject(&input);
        format!("{subject} {release}")
    };
    crate::timing::mark(&timing, "step");
    let refs = match input {
        Input::App { services, .. } => services,
        Input::One(at) => vec![at],
    };
    let releases: Vec<ReleaseContext> = refs
        .iter()
        .map(|r| r.load(ctx.releases.as_ref()))
        .collect::<Result<_, _>>()?;
    let began = std::time::Instant::now();
    let looks = futures_util::future::join_all(releases.iter().map(|r| ctx.target.warm(r))).await;
    let mut warm = Vec::with_capacity(releases.len());
    for (release, look) in releases.into_iter().zip(looks) {
        match look? {
            Some(upstreams) => warm.push((release, upstreams)),
            None => {
                tracing::info!(service = %release.service, release = %release.id(), "not a warm standby: started and waited for first");
                return Ok(Output {
                    warm: false,
                    services: Vec::new(),
                });
            }
        }
    }
    let looked = began.elapsed();
    crate::timing::mark(&timing, "look");
    let switched = ctx.target.flip_all(&warm).await?;
    crate::timing::finish(&timing, "flipped");
    tracing::info!(?looked, flipped = ?began.elapsed() - looked, "warm standby switched");
    let mut services = Vec::with_capacity(warm.len());
    for ((release, _), mut switched) in warm.iter().zip(switched) {
        super::switch::record_rollback(ctx, release, &mut switched)?;
        services.push(ServiceSwitched {
            service: release.service.clone(),
            switched,
        });
    }
    Ok(Output {
        warm: true,
        services,
    })
}
