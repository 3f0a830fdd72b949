//! `windlass logs SERVICE [--release ID] [--tail N] [--follow]`: the output
//! of a release's containers (the live release by default), straight from
//! the engine; with `--follow`, as it is written, until they stop.

use std::collections::BTreeMap;

use windlass_deploy::agent::database;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RELEASE_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_store::releases::{Releases, SqliteReleases};

use super::agent::StateArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    service: String,
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
    let release = match &args.release {
        Some(release) => release.clone(),
        None => {
            let db = database(&args.state.dir());
            let live = if db.exists() {
                SqliteReleases::open(&db)?.live(&args.service)?
            } else {
                None
            };
            match live {
                Some(live) => live.release,
                None => anyhow::bail!(
                    "service {} has no live release; name one with --release",
                    args.service
                ),
            }
        }
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let docker = Docker::connect().await?;
        let labels = BTreeMap::from([
            (SERVICE_LABEL.to_owned(), args.service.clone()),
            (RELEASE_LABEL.to_owned(), release.clone()),
        ]);
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
