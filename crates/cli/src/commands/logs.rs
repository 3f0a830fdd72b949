//! `windlass logs SERVICE [--release ID] [--tail N] [--follow]`: the output
//! of a release's containers (the live release by default), straight from
//! the engine; with `--follow`, as it is written, until they stop. A
//! release a Swarm deploy made (or `--target swarm`): its Swarm service's
//! logs, from the manager `DOCKER_HOST` names.

use windlass_deploy::agent::database;
use windlass_deploy::agent::machines::Place;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::release_labels;
use windlass_deploy::compose::Target;
use windlass_deploy::Backend;
use windlass_store::releases::{Releases, SqliteReleases};

use super::agent::StateArgs;
use super::which::AppArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The service (SERVICE of the app meant, or APP/SERVICE).
    service: String,
    #[command(flatten)]
    which: AppArgs,
    /// The release (default: the live one).
    #[arg(long)]
    release: Option<String>,
    /// Only the last N lines of each container.
    #[arg(long, value_name = "N")]
    tail: Option<u32>,
    /// Keep printing what the containers write until they stop (or Ctrl-C).
    #[arg(long, short = 'f')]
    follow: bool,
    /// `swarm`: the release's tasks on the Docker Swarm whose manager
    /// `DOCKER_HOST` names (the default for a release a Swarm deploy made).
    #[arg(long, value_name = "TARGET", value_enum)]
    target: Option<Target>,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let db = database(&args.state.dir());
    if !db.exists() {
        return Err(super::which::NothingThere(format!(
            "no windlass state at {}: nothing was deployed there",
            db.display()
        ))
        .into());
    }
    let store = SqliteReleases::open(&db)?;
    let key = args.which.key(&store, &args.service)?;
    let installation = store.installation()?;
    let nothing = |message: String| anyhow::Error::new(super::which::NothingThere(message));
    let release = match &args.release {
        Some(release) => release.clone(),
        None => match store.live(&key)? {
            Some(live) => live.release,
            None => {
                return Err(nothing(format!(
                    "service {key} has no live release; name one with --release (see windlass releases {key})"
                )))
            }
        },
    };
    // What became of it, for a release whose containers are gone.
    let Some(stored) = store.get(&key, &release)? else {
        return Err(nothing(format!(
            "service {key} has no release {release} (see windlass releases {key})"
        )));
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let on_swarm = match args.target {
        Some(target) => target == Target::Swarm,
        None => store
            .get(&key, &release)?
            .and_then(|r| r.execution)
            .is_some_and(|arn| Place::Swarm.owns(&arn)),
    };
    if on_swarm {
        return tokio.block_on(swarm_logs(&args, &installation, &key, &release));
    }
    tokio.block_on(async move {
        let docker = Docker::connect().await?;
        let labels = release_labels(&installation, &key, &release);
        let containers = docker.list_containers(&labels).await?;
        if containers.is_empty() {
            return Err(nothing(format!(
                "release {release} of {key} has no containers left ({}): its output went with them",
                stored.outcome.as_str()
            )));
        }
        if args.follow {
            return follow(&docker, containers, args.tail).await;
        }
        for container in containers {
            let name = container.name.trim_start_matches('/').to_owned();
            for line in docker.logs(&container.id, args.tail).await?.lines() {
                println!("{name} | {line}");
            }
        }
        Ok(exit::OK)
    })
}

/// Prints the output of the release's tasks on the Swarm.
async fn swarm_logs(
    args: &Args,
    installation: &windlass_store::releases::Installation,
    key: &windlass_store::releases::ServiceKey,
    release: &str,
) -> anyhow::Result<u8> {
    use futures_util::StreamExt;
    use windlass_deploy::target::swarm::{release_logs, SwarmTarget};
    let docker = SwarmTarget::connect()
        .await
        .map_err(|e| anyhow::anyhow!("the Swarm manager: {e}"))?;
    let prefix = format!("{}@{release}", key.service());
    let mut chunks = std::pin::pin!(release_logs(
        &docker,
        installation,
        key,
        release,
        args.tail,
        args.follow
    ));
    while let Some(chunk) = chunks.next().await {
        for line in chunk.map_err(|e| anyhow::anyhow!(e))?.lines() {
            println!("{prefix} | {line}");
        }
    }
    Ok(exit::OK)
}

/// Prints every container's output as it comes, each line prefixed with the
/// container's name, until all of them stop.
async fn follow(
    docker: &Docker,
    containers: Vec<windlass_deploy::backend::Container>,
    tail: Option<u32>,
) -> anyhow::Result<u8> {
    use futures_util::StreamExt;
    let streams = containers.into_iter().map(|container| {
        let name = container.name.trim_start_matches('/').to_owned();
        docker
            .follow_logs(&container.id, tail)
            .map(move |chunk| (name.clone(), chunk))
            .boxed()
    });
    let mut all = futures_util::stream::select_all(streams);
    while let Some((name, chunk)) = all.next().await {
        for line in chunk?.lines() {
            println!("{name} | {line}");
        }
    }
    Ok(exit::OK)
}
