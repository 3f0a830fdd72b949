//! `windlass down [-f compose.yaml] [SERVICE...] [--volumes]`: stops and
//! removes an app's containers, proxies and networks, as `docker compose
//! down` does; its named volumes (and their data) only with `--volumes`.

use windlass_deploy::agent::DownRequest;

use super::agent::{connect, refused, StateArgs};
use super::compose_files::ComposeArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    compose: ComposeArgs,
    /// Services to take down (default: all of the file's).
    services: Vec<String>,
    /// Remove the named volumes the services mount too (their data is lost).
    #[arg(long)]
    volumes: bool,
    /// A JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// `swarm`: take the app down on the Docker Swarm whose manager
    /// `DOCKER_HOST` names (its services, entry routes and networks); `ecs`:
    /// delete the file's ECS services (`x-windlass.target: ecs` says it too).
    #[arg(long, value_name = "TARGET", value_enum)]
    target: Option<windlass_deploy::compose::Target>,
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let pinned = match args.compose.pin(args.target) {
        Ok(pinned) => pinned,
        Err(code) => return Ok(code),
    };
    if let Err(code) = pinned.check_services(&args.services) {
        return Ok(code);
    }
    if super::ecs::chosen(args.target, &pinned, &args.services) {
        return super::ecs::down(&pinned, &args.services, &args.state);
    }
    let swarm = super::swarm::chosen(args.target, &pinned, &args.services);
    let request = DownRequest {
        compose_file: pinned.file.display().to_string(),
        compose_text: pinned.text,
        services: args.services.clone(),
        volumes: args.volumes,
    };
    if swarm {
        return super::swarm::down(request, &args.state, args.json);
    }
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let client = connect(&args.state, true).await?;
        let report = match client.down(&request).await {
            Ok(report) => report,
            Err(e) => return refused(e),
        };
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            eprintln!(
                "took down {}: {} container(s) removed; networks removed: {}{}; volumes removed: {}",
                report.services.join(", "),
                report.containers,
                list(&report.networks),
                if report.networks_in_use.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (kept, still in use by other containers: {})",
                        report.networks_in_use.join(", ")
                    )
                },
                if args.volumes {
                    list(&report.volumes)
                } else {
                    "none (kept; --volumes removes them)".to_owned()
                }
            );
        }
        Ok(exit::OK)
    })
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
