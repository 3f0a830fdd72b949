//! `windlass agent`: the long-lived process that holds every deployed
//! service's proxy and runs deploys; `deploy`, `rollback` and `status` talk
//! to it over an HTTP API on the unix socket `agent.sock` of the state
//! folder (which only its user and root reach) and start it when none runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use windlass_deploy::agent::api::{self, Client, ClientError};
use windlass_deploy::agent::contract::ErrorKind;
use windlass_deploy::agent::contract::StatusView;
use windlass_deploy::agent::{socket_file, Agent, Build};
use windlass_deploy::workflow::Proxies;
use windlass_proxy::owner;

use crate::exit;

/// Where windlass keeps its state: `--state`, else `$WINDLASS_STATE`, else
/// `~/.windlass`.
#[derive(clap::Args, Clone, Debug)]
pub struct StateArgs {
    /// The state folder (database, control sockets and logs), kept 0700.
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

/// The open-files limit the units give (two descriptors per proxied
/// connection; systemd's default soft limit is 1024).
const OPEN_FILES: u32 = 65536;

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
LimitNOFILE={OPEN_FILES}\n\
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
LimitNOFILE={OPEN_FILES}\n\
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
                crate::failure::say!(
                    "{shown} failed: {}; the units are written: run it yourself once systemd runs here",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return Ok(exit::FAILED);
            }
            Err(e) => {
                crate::failure::say!("cannot run systemctl ({e}): this machine has no systemd; the units are written, or run `windlass proxy` and `windlass agent --external-proxy` under your own supervisor");
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
    if let Err(e) = owner::raise_open_files() {
        crate::failure::say!("cannot raise the open files limit to its hard limit: {e}");
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        // The proxies live in their own process, so that the services keep
        // taking traffic whatever happens to this one.
        let (proxy, started) = match args.external_proxy {
            true => (super::proxy::wait_for(&dir).await?, None),
            false => super::proxy::connect(&dir).await?,
        };
        let socket = socket_file(&dir);
        let (agent, resumed, listener) = match start(&dir, proxy, &socket).await {
            Ok(started) => started,
            Err(e) => {
                // A proxy this start began serves nothing yet: it goes
                // with the agent that failed, rather than outliving it.
                if let Some(mut child) = started {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = std::fs::remove_file(dir.join("proxy.pid"));
                }
                return Err(e);
            }
        };
        let _ = std::fs::remove_file(dir.join(OLD_ADDRESS_FILE));
        eprintln!(
            "windlass agent (pid {}) serving on {}; state in {}; {resumed} execution(s) resumed",
            std::process::id(),
            socket.display(),
            dir.display()
        );
        tokio::spawn(api::serve(agent, listener));
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        let _ = std::fs::remove_file(&socket);
        eprintln!("windlass agent stopping: the services keep taking traffic through `windlass proxy`; deploys wait for the agent");
        Ok(exit::OK)
    })
}

/// The agent opened on `dir`, its executions resumed, its socket bound.
async fn start(
    dir: &Path,
    proxy: windlass_proxy::daemon::Client,
    socket: &Path,
) -> anyhow::Result<(Agent, usize, tokio::net::UnixListener)> {
    // Read before anything else: a binary replaced on disk from now on is
    // not the one running.
    let _ = Build::current();
    let agent = Agent::open(dir, Proxies::daemon(proxy))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let resumed = agent.resume().await?;
    let listener = api::bind(socket).await?;
    Ok((agent, resumed, listener))
}

/// Where agents before the control socket wrote their loopback address.
const OLD_ADDRESS_FILE: &str = "agent.addr";

/// A client of the agent of `state`, started in the background when none
/// answers.
pub async fn connect(state: &StateArgs, start: bool) -> anyhow::Result<Client> {
    let dir = state.dir();
    if let Some((client, status)) = reachable(&dir).await {
        if !stopped_for_this_build(&status, start, &dir).await? {
            return Ok(client);
        }
    }
    refuse_others_state(&dir)?;
    if !start {
        return Err(no_agent(&dir).into());
    }
    owner::private_dir(&dir)?;
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
        if let Some((client, _)) = reachable(&dir).await {
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

/// A state folder of another user is not ours to start an agent on (its
/// agent's socket is its user's and root's only).
pub fn refuse_others_state(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = owner::own_uid();
    match std::fs::metadata(dir) {
        Ok(meta) if me != 0 && meta.uid() != me => bail!(
            "the state folder {} belongs to uid {}, and its windlass agent answers only that user and root: run windlass as that user (or with sudo), or give your own --state",
            dir.display(),
            meta.uid()
        ),
        _ => Ok(()),
    }
}

async fn reachable(dir: &Path) -> Option<(Client, StatusView)> {
    let client = Client::new(socket_file(dir));
    client.status().await.ok().map(|status| (client, status))
}

/// A client of the running agent of `state`, without a round trip to ask
/// whether it answers: for `rollback`, whose first request is the one
/// whose time counts (an agent that does not answer fails that request
/// with a message that says so).
pub fn running(state: &StateArgs) -> anyhow::Result<Client> {
    let dir = state.dir();
    let socket = socket_file(&dir);
    match socket.symlink_metadata() {
        Ok(_) => Ok(Client::new(socket)),
        Err(_) => Err(no_agent(&dir).into()),
    }
}

/// No agent serves the state folder `dir`: the command is refused (exit 7).
fn no_agent(dir: &Path) -> super::which::NothingThere {
    super::which::NothingThere(format!(
        "no windlass agent runs for {}; start one with `windlass agent --state {}`",
        dir.display(),
        dir.display()
    ))
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
    crate::failure::say!("{error}");
    Ok(code)
}

/// An agent started in the background by another build of windlass (the
/// user upgraded it since) is stopped, so that the command starts one of
/// this build, when nothing holds it: it resumes whatever it left, as after
/// any stop. An agent systemd runs, an agent in the middle of a deploy, or
/// a command that would not start one is told about and used as it is.
/// Whether it was stopped.
async fn stopped_for_this_build(
    status: &StatusView,
    start: bool,
    dir: &Path,
) -> anyhow::Result<bool> {
    let (Some(theirs), Some(mine), Some(pid)) = (&status.build, Build::current(), status.pid)
    else {
        return Ok(false);
    };
    if *theirs == mine {
        return Ok(false);
    }
    let other = format!("the windlass agent (pid {pid}) runs {theirs}, not this {mine}");
    let busy = status.services.iter().find_map(|s| s.lock.as_ref());
    let keep = if status.supervised {
        Some("restart its unit to run this one (`systemctl restart windlass-agent`)".to_owned())
    } else if let Some(lock) = busy {
        Some(format!(
            "it is busy ({} holds {}), so this command uses it as it is; the next one restarts it",
            lock.holder, lock.service
        ))
    } else if !start {
        Some("the next deploy, rollback or down restarts it".to_owned())
    } else {
        None
    };
    if let Some(keep) = keep {
        crate::failure::say!("{other}: {keep}");
        return Ok(false);
    }
    let raw = i32::try_from(pid).context("agent pid")?;
    let target = rustix::process::Pid::from_raw(raw).context("agent pid")?;
    rustix::process::kill_process(target, rustix::process::Signal::TERM)
        .with_context(|| format!("cannot stop the windlass agent (pid {pid})"))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while reachable(dir).await.is_some() || process_runs(pid) {
        if Instant::now() > deadline {
            bail!("{other}, and it did not stop within 15 s of SIGTERM; stop it (kill {pid}) and run this again");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    crate::failure::say!("stopped the agent (pid {pid}): it ran {theirs}; starting this build's");
    Ok(true)
}

/// Whether process `pid` still runs: a zombie (stopped, not yet reaped by
/// a parent that does not reap) does not.
fn process_runs(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may
    // hold anything.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    !matches!(state.and_then(|s| s.chars().next()), None | Some('Z' | 'X'))
}
