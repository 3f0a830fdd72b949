//! `windlass proxy`: the small long-lived process that holds every deployed
//! service's proxy (`windlass_proxy::daemon`). `windlass agent` starts it
//! when none runs and drives it over the control socket `proxy/proxy.sock`
//! of the state folder (its user's and root's only); it keeps
//! serving while the agent is stopped, restarted or killed, and a restarted
//! proxy routes as before from its state file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use windlass_proxy::daemon::{self, Client};
use windlass_proxy::owner;

use super::agent::StateArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    state: StateArgs,
}

/// The proxy daemon's own folder inside a state folder.
pub fn folder(state: &Path) -> PathBuf {
    state.join("proxy")
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let dir = folder(&args.state.dir());
    if let Err(e) = owner::raise_open_files() {
        crate::failure::say!("cannot raise the open files limit to its hard limit: {e}");
    }
    let tokio = daemon::runtime()?;
    tokio.block_on(async move {
        owner::private_dir(&args.state.dir())?;
        let daemon = daemon::Daemon::start(daemon::Config {
            state_dir: dir.clone(),
        })
        .await?;
        eprintln!(
            "windlass proxy (pid {}) controlled on {}; routing kept in {}",
            std::process::id(),
            daemon.control_socket().display(),
            dir.display()
        );
        daemon.run_until_signal().await?;
        eprintln!("windlass proxy stopping: the services it serves stop taking traffic");
        Ok(exit::OK)
    })
}

/// A client of the proxy daemon of `state`, started in its own process
/// group when none answers (its pid goes to `proxy.pid` in the state folder).
pub async fn connect(state: &Path) -> anyhow::Result<(Client, Option<std::process::Child>)> {
    if let Some(client) = reachable(state).await {
        return Ok((client, None));
    }
    owner::private_dir(state)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join("proxy.log"))?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .arg("proxy")
        .arg("--state")
        .arg(state)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: it outlives the agent that started it.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().context("cannot start the windlass proxy")?;
    std::fs::write(state.join("proxy.pid"), child.id().to_string())?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(client) = reachable(state).await {
            return Ok((client, Some(child)));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!(
        "the windlass proxy did not start within 15s; see {}",
        state.join("proxy.log").display()
    )
}

/// A client of the proxy daemon of `state` that something else runs (its
/// systemd unit), waited for up to 30 s; none is started.
pub async fn wait_for(state: &Path) -> anyhow::Result<Client> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(client) = reachable(state).await {
            return Ok(client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "no windlass proxy answers for {} after 30s (--external-proxy): start it (systemctl start windlass-proxy, or windlass proxy --state {})",
        state.display(),
        state.display()
    )
}

async fn reachable(state: &Path) -> Option<Client> {
    let client = Client::from_state_dir(&folder(state)).ok()?;
    client.services().await.ok().map(|_| client)
}
