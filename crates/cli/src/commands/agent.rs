//! `windlass agent`: the long-lived process that holds every deployed
//! service's proxy and runs deploys; `deploy`, `rollback` and `status` talk
//! to it over a loopback HTTP API and start it when none runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use windlass_deploy::agent::api::{self, Client, ClientError};
use windlass_deploy::agent::contract::ErrorKind;
use windlass_deploy::agent::{address_file, Agent};
use windlass_deploy::workflow::Proxies;

use crate::exit;

/// Where windlass keeps its state: `--state`, else `$WINDLASS_STATE`, else
/// `~/.windlass`.
#[derive(clap::Args, Clone, Debug)]
pub struct StateArgs {
    /// The state folder (database, agent address and log).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

impl StateArgs {
    pub fn dir(&self) -> PathBuf {
        self.state
            .clone()
            .or_else(|| std::env::var_os("WINDLASS_STATE").map(PathBuf::from))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".windlass")))
            .unwrap_or_else(|| PathBuf::from(".windlass"))
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    state: StateArgs,
    /// The API's address; keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Print systemd units for the proxy and the agent of this state folder
    /// (save them under /etc/systemd/system and enable them), and exit.
    #[arg(long)]
    systemd: bool,
    /// Install those units (in --unit-dir), then `systemctl daemon-reload`
    /// and `systemctl enable --now` them, and exit.
    #[arg(long, conflicts_with = "systemd")]
    install: bool,
    /// Where --install writes the units.
    #[arg(long, value_name = "DIR", default_value = "/etc/systemd/system")]
    unit_dir: PathBuf,
    /// The proxy runs on its own (its systemd unit): wait for it rather than
    /// start one. Without it, the agent starts `windlass proxy` when none runs.
    #[arg(long)]
    external_proxy: bool,
}

/// The unit files: (name, text).
const PROXY_UNIT: &str = "windlass-proxy.service";
const AGENT_UNIT: &str = "windlass-agent.service";

/// The two units that keep windlass serving: the proxy (which must keep
/// running: it is the services' front door) and the agent (deploys), each
/// as (file name, text).
fn units(exe: &Path, state: &Path) -> [(&'static str, String); 2] {
    let (exe, state) = (exe.display(), state.display());
    let proxy = format!(
        "[Unit]\n\
Description=windlass proxy: the front door of the services windlass deploys\n\
After=network.target docker.service\n\
\n\
[Service]\n\
ExecStart={exe} proxy --state {state}\n\
Restart=always\n\
RestartSec=1\n\
\n\
[Install]\n\
WantedBy=multi-user.target\n"
    );
    let agent = format!(
        "[Unit]\n\
Description=windlass agent: runs deploys and rollbacks as durable executions\n\
After=windlass-proxy.service docker.service\n\
Wants=windlass-proxy.service\n\
\n\
[Service]\n\
ExecStart={exe} agent --state {state} --external-proxy\n\
Restart=always\n\
RestartSec=1\n\
\n\
[Install]\n\
WantedBy=multi-user.target\n"
    );
    [(PROXY_UNIT, proxy), (AGENT_UNIT, agent)]
}

/// The units as `--systemd` prints them.
fn systemd_units(exe: &Path, state: &Path) -> String {
    let mut out = String::new();
    for (name, text) in units(exe, state) {
        out.push_str(&format!("# /etc/systemd/system/{name}\n{text}\n"));
    }
    out.push_str(
        "# then: systemctl daemon-reload && systemctl enable --now windlass-proxy windlass-agent\n",
    );
    out
}

/// `--install`: writes the units, then has systemd load and start them.
fn install(exe: &Path, state: &Path, unit_dir: &Path) -> anyhow::Result<u8> {
    std::fs::create_dir_all(unit_dir)
        .with_context(|| format!("cannot create {}", unit_dir.display()))?;
    for (name, text) in units(exe, state) {
        let path = unit_dir.join(name);
        std::fs::write(&path, text).with_context(|| {
            format!(
                "cannot write {} (run as root, or pick --unit-dir)",
                path.display()
            )
        })?;
        eprintln!("wrote {}", path.display());
    }
    let steps: [&[&str]; 2] = [
        &["daemon-reload"],
        &["enable", "--now", PROXY_UNIT, AGENT_UNIT],
    ];
    for step in steps {
        let shown = format!("systemctl {}", step.join(" "));
        match std::process::Command::new("systemctl").args(step).output() {
            Ok(out) if out.status.success() => eprintln!("ran {shown}"),
            Ok(out) => {
                eprintln!(
                    "windlass: {shown} failed: {}; the units are written: run it yourself once systemd runs here",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return Ok(exit::FAILED);
            }
            Err(e) => {
                eprintln!("windlass: cannot run systemctl ({e}): this machine has no systemd; the units are written, or run `windlass proxy` and `windlass agent --external-proxy` under your own supervisor");
                return Ok(exit::FAILED);
            }
        }
    }
    eprintln!(
        "windlass proxy and agent run under systemd for state {}; see `systemctl status windlass-agent`",
        state.display()
    );
    Ok(exit::OK)
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let dir = args.state.dir();
    if args.systemd {
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        print!("{}", systemd_units(&std::env::current_exe()?, &dir));
        return Ok(exit::OK);
    }
    if args.install {
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        return install(&std::env::current_exe()?, &dir, &args.unit_dir);
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        // The proxies live in their own process, so that the services keep
        // taking traffic whatever happens to this one.
        let proxy = match args.external_proxy {
            true => super::proxy::wait_for(&dir).await?,
            false => super::proxy::connect(&dir).await?,
        };
        let agent = Agent::open(&dir, Proxies::daemon(proxy))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let resumed = agent.resume().await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        write_address(&dir, address)?;
        eprintln!(
            "windlass agent (pid {}) serving on {address}; state in {}; {resumed} execution(s) resumed",
            std::process::id(),
            dir.display()
        );
        tokio::spawn(api::serve(agent, listener));
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        let _ = std::fs::remove_file(address_file(&dir));
        eprintln!("windlass agent stopping: the services keep taking traffic through `windlass proxy`; deploys wait for the agent");
        Ok(exit::OK)
    })
}

/// Writes the address whole or not at all, so that a reader never sees half.
fn write_address(dir: &Path, address: SocketAddr) -> anyhow::Result<()> {
    let file = address_file(dir);
    let partial = file.with_extension("tmp");
    std::fs::write(&partial, address.to_string())?;
    std::fs::rename(&partial, &file)?;
    Ok(())
}

/// A client of the agent of `state`, started in the background when none
/// answers.
pub async fn connect(state: &StateArgs, start: bool) -> anyhow::Result<Client> {
    let dir = state.dir();
    if let Some(client) = reachable(&dir).await {
        return Ok(client);
    }
    if !start {
        bail!(
            "no windlass agent runs for {}; start one with `windlass agent --state {}`",
            dir.display(),
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _ = std::fs::remove_file(address_file(&dir));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("agent.log"))?;
    let exe = std::env::current_exe()?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("agent")
        .arg("--state")
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: a Ctrl-C meant for this command must not stop
    // the agent, which keeps serving the services.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().context("cannot start the windlass agent")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(client) = reachable(&dir).await {
            eprintln!(
                "started the windlass agent (pid {}); its log is {}",
                child.id(),
                dir.join("agent.log").display()
            );
            return Ok(client);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "the windlass agent did not start within 15s; see {}",
        dir.join("agent.log").display()
    )
}

async fn reachable(dir: &Path) -> Option<Client> {
    let client = Client::new(written_address(dir)?);
    client.status().await.ok().map(|_| client)
}

fn written_address(dir: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(address_file(dir))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A client of the running agent of `state`, without a round trip to ask
/// whether it answers: for `rollback`, whose first request is the one
/// whose time counts (an agent that does not answer fails that request
/// with a message that says so).
pub fn running(state: &StateArgs) -> anyhow::Result<Client> {
    let dir = state.dir();
    match written_address(&dir) {
        Some(address) => Ok(Client::new(address)),
        None => bail!(
            "no windlass agent runs for {}; start one with `windlass agent --state {}`",
            dir.display(),
            dir.display()
        ),
    }
}

/// Prints why the agent refused a request and gives the exit code that
/// says so; an agent that could not be reached or failed is windlass's own
/// failure.
pub fn refused(error: ClientError) -> anyhow::Result<u8> {
    let code = match error.kind() {
        ErrorKind::Refused | ErrorKind::NotFound => exit::REFUSED,
        ErrorKind::Busy => exit::BUSY,
        ErrorKind::Internal => return Err(error.into()),
    };
    eprintln!("windlass: {error}");
    Ok(code)
}
