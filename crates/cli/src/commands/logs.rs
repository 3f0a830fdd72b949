//! `windlass logs SERVICE [--release ID] [--tail N] [--follow]`: the output
//! of a release's containers (the live release by default), straight from
//! the engine; with `--follow`, as it is written, until they stop.

use windlass_deploy::agent::database;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::release_labels;
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
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let db = database(&args.state.dir());
    if !db.exists() {
        anyhow::bail!(
            "no windlass state at {}: nothing was deployed there",
            db.display()
        );
    }
    let store = SqliteReleases::open(&db)?;
    let key = args.which.key(&store, &args.service)?;
    let installation = store.installation()?;
    let release = match &args.release {
        Some(release) => release.clone(),
        None => match store.live(&key)? {
            Some(live) => live.release,
            None => anyhow::bail!("service {key} has no live release; name one with --release"),
        },
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let docker = Docker::connect().await?;
        let labels = release_labels(&installation, &key, &release);
        let containers = docker.list_containers(&labels).await?;
        if containers.is_empty() {
            anyhow::bail!(
                "release {release} of {} has no containers (retired?)",
                args.service
            );
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
