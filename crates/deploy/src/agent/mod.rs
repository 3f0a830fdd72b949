//! The long-lived windlass process that serves deployed services: it holds
//! each service's proxy, runs deploys and rollbacks as executions on the
//! durable runtime, and answers the CLI over an HTTP API on a unix socket
//! that only its own user and root reach ([`api`]).
//!
//! Deploys and rollbacks take the service's lock in the store first; the
//! agent beats the heartbeat of every lock it holds, so that a lock whose
//! process died frees itself (at once when its pid is gone from this
//! machine, after [`LOCK_STALE_MILLIS`] otherwise).

pub mod api;
mod app;
mod build;
pub mod contract;
mod down;
mod follow;
mod gate;
mod interrupted;
pub mod machines;
mod plan;
mod ports;
pub mod promote;
pub mod which;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use windlass_engine::{ExecutionMeta, Outcome as ExecutionOutcome, Status};
use windlass_runtime::{Clock, Invokers, Runtime, StartRequest, SystemClock};
use windlass_store::releases::{
    BadKey, Event, Happened, Lock, NewRelease, Outcome, Releases, ServiceKey, SqliteReleases,
};
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

use crate::backend::Backend;
use crate::compose;
use crate::target::docker::DockerTarget;
use crate::target::swarm::SwarmTarget;
use crate::target::Mode;
use crate::workflow::{
    self, Deployer, Proxies, ReleaseRef, DEPLOY_DEFINITION, ROLLBACK_DEFINITION,
};

pub use app::app_name;
pub use build::Build;
pub use contract::{
    Decision, DeployRequest, DownReport, DownRequest, ExecutionView, GateAnswer, GateRequest,
    RollbackRequest, Started,
};
pub use follow::execution_view;
pub use plan::{plan, plan_without_agent};

use crate::progress::Notes;
use contract::StepNote;

pub use crate::holder::LOCK_STALE_MILLIS;
use crate::holder::{host_name, on_this_host, process_gone, HEARTBEAT_EVERY};
pub use interrupted::Interrupted;
use machines::{Kind, Place};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Compose(#[from] compose::Error),
    /// What the agent's target cannot deploy, said before anything starts.
    #[error("{0}")]
    Target(String),
    #[error("{file} has no service {service}; it has {known}")]
    NoService {
        file: String,
        service: String,
        known: String,
    },
    #[error("a deploy of {service} is already running (execution {holder}, windlass pid {pid} on host {host}); `windlass deploy --wait` follows it and deploys after it")]
    Locked {
        service: String,
        holder: String,
        pid: u32,
        host: String,
    },
    #[error("{0}")]
    Key(#[from] BadKey),
    #[error("no app deployed here has a service {0} (see windlass status)")]
    UnknownService(String),
    #[error("several apps have a service {service}: name one with --app APP or as APP/SERVICE ({choices})")]
    Ambiguous { service: String, choices: String },
    #[error("{0} has no live release to roll back from")]
    NothingLive(String),
    /// `service` is `service APP/SERVICE` or `app APP`.
    #[error("{service} has no release {release}")]
    NoRelease { service: String, release: String },
    #[error("{0} has no earlier release that went live; name one (see windlass releases)")]
    NoEarlier(String),
    #[error("release {release} of {service} never went live, so there is nothing of it to go back to; pick one that did (see windlass releases)")]
    NeverLive { service: String, release: String },
    #[error("cannot take down {service}: {cause}")]
    Down { service: String, cause: String },
    #[error("nothing was deployed yet: there is no app to roll back")]
    NoApp,
    #[error("several apps are deployed ({0}): name one with --app")]
    WhichApp(String),
    #[error("app {app} already runs every service's release of {release}")]
    AlreadyThere { app: String, release: String },
    #[error("release {release} of {service} was pruned (its image let go) when newer releases filled x-windlass.retain; roll back to a retained one: windlass releases {service}")]
    Pruned { service: String, release: String },
    #[error("the deploy definition is not valid ASL: {0}")]
    Definition(String),
    #[error("store: {0}")]
    Store(#[from] windlass_store::Error),
    #[error("runtime: {0}")]
    Runtime(#[from] windlass_runtime::Error),
    #[error("{0}")]
    Restore(String),
    #[error("the container engine: {0}")]
    Backend(String),
    #[error("no deploy of app {0} is running, so there is no rollout to answer")]
    NoRollout(String),
    #[error("the rollout of app {0} is neither baking a step nor waiting for approval now (it is weighing or analysing a step, or has not reached its rollout yet); approve or promote once it bakes or waits (windlass status shows it), or abort")]
    NoGate(String),
    #[error("the rollout of app {0} is over: its deploy switched all of the traffic, or rolls back, already; once it ends, windlass rollback takes the app back")]
    RolloutOver(String),
    #[error("the running deploy of app {0} has no rollout (no x-windlass.rollout, no --canary): it has no canary to abort; once it ends, windlass rollback takes the app back")]
    NoRolloutSteps(String),
    #[error("nothing to promote: {0}")]
    NothingToPromote(String),
    /// A published port another service's proxy listens on already.
    #[error("{0}")]
    PortTaken(String),
}

/// The agent's parts; cheap to clone.
#[derive(Clone)]
pub struct Agent {
    runtime: Runtime,
    deployer: Deployer,
    target: Arc<dyn crate::target::Target>,
    backend: Arc<dyn Backend>,
    proxies: Proxies,
    releases: Arc<dyn Releases>,
    clock: Arc<dyn Clock>,
    notes: Notes,
    pid: u32,
    /// Where the releases run: named in the executions' state machines.
    place: Place,
    /// On a Swarm: its cluster ID, recorded in every execution's input
    /// (`target::swarm::cluster`).
    swarm_cluster: Option<String>,
}

impl Agent {
    /// An agent over the given store and backend, with the proxies in this
    /// process; call [`Agent::resume`] next.
    pub fn new(
        store: Arc<dyn Store>,
        releases: Arc<dyn Releases>,
        backend: Arc<dyn Backend>,
        config: workflow::Config,
    ) -> Agent {
        Agent::with_proxies(store, releases, backend, config, Proxies::local())
    }

    /// An agent whose services are served by `proxies` (the proxy daemon's,
    /// say).
    pub fn with_proxies(
        store: Arc<dyn Store>,
        releases: Arc<dyn Releases>,
        backend: Arc<dyn Backend>,
        config: workflow::Config,
        proxies: Proxies,
    ) -> Agent {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let notes = Notes::default();
        let target: Arc<dyn crate::target::Target> = Arc::new(
            DockerTarget::new(
                Arc::clone(&backend),
                Arc::clone(&releases),
                proxies.clone(),
                Arc::clone(&clock),
                config,
            )
            .with_notes(notes.clone()),
        );
        Agent::with_target(store, releases, backend, target, proxies, notes)
    }

    /// An agent whose releases run on `target` (the Swarm target, say);
    /// `backend` is the engine its plans and `down` read (the Swarm's
    /// manager), `proxies` those it reports (none on a Swarm).
    pub fn with_target(
        store: Arc<dyn Store>,
        releases: Arc<dyn Releases>,
        backend: Arc<dyn Backend>,
        target: Arc<dyn crate::target::Target>,
        proxies: Proxies,
        notes: Notes,
    ) -> Agent {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let deployer = Deployer::new(Arc::clone(&target), Arc::clone(&releases));
        let mut invokers = Invokers::new();
        invokers.register(workflow::RESOURCE_PREFIX, Arc::new(deployer.clone()));
        let runtime = Runtime::new(store, invokers, Arc::clone(&clock));
        Agent {
            runtime,
            deployer,
            target,
            backend,
            proxies,
            releases,
            clock,
            notes,
            pid: std::process::id(),
            place: Place::Local,
            swarm_cluster: None,
        }
    }

    /// The same agent, its executions named as a Swarm's (see
    /// [`machines`]): the local agent leaves them to the CLI, which resumes
    /// them ([`Agent::resume_interrupted`]).
    pub fn on_swarm(mut self) -> Agent {
        self.place = Place::Swarm;
        self
    }

    /// The same agent, recording Swarm `cluster`'s ID in the input of every
    /// execution it starts, so that another process can tell it reaches
    /// the same Swarm before it rolls an app back (the dashboard's server).
    pub fn of_cluster(mut self, cluster: String) -> Agent {
        self.swarm_cluster = Some(cluster);
        self
    }

    /// Refuses what this agent's target cannot deploy before anything
    /// starts (a Swarm: a built service without a registry `image`).
    fn check_place(
        &self,
        request: &DeployRequest,
        project: &compose::Project,
        services: &[String],
    ) -> Result<(), Error> {
        if self.place != Place::Swarm {
            return Ok(());
        }
        crate::target::swarm::check(
            &request.compose_file,
            project,
            services,
            &request.compose_text,
        )
        .map_err(Error::Target)
    }

    /// Refuses a published port another service's proxy or another
    /// program holds (see `ports.rs`); a Swarm's ports are the Swarm's.
    async fn check_ports_free(
        &self,
        project: &compose::Project,
        services: &[String],
    ) -> Result<(), Error> {
        if self.place != Place::Local {
            return Ok(());
        }
        // Unread, the proxy's own bind refuses the port later: a port a
        // proxy holds would be taken for another program's.
        let proxies = match self.proxies.all().await {
            Ok(proxies) => proxies,
            Err(e) => {
                tracing::warn!(%e, "cannot list the proxies to check the ports are free");
                return Ok(());
            }
        };
        ports::check_free(project, &app_name(project), services, &proxies)?;
        ports::probe_free(project, services, &proxies)
    }

    /// The name of this agent's state machine of `kind`.
    fn machine(&self, kind: Kind) -> &'static str {
        self.place.machine(kind)
    }

    /// The notes of the services execution `arn` holds (see [`Notes`]).
    pub fn notes_of(&self, arn: &str) -> Result<Vec<StepNote>, Error> {
        let mut notes = Vec::new();
        for (key, note) in self.notes.all() {
            if self
                .releases
                .lock_of(&key)?
                .is_some_and(|lock| lock.holder == arn)
            {
                // An execution holds one app's services: the name says which.
                notes.push(StepNote {
                    service: key.service().to_owned(),
                    text: note.text,
                    stop_first: note.stop_first,
                });
            }
        }
        notes.sort_by(|a, b| a.service.cmp(&b.service));
        Ok(notes)
    }

    /// The agent of state folder `dir` (`windlass.db` in it) on the local
    /// Docker engine, its services served by `proxies`.
    /// The folder is made 0700 and the database 0600: pinned texts can hold
    /// secrets.
    pub async fn open(dir: &Path, proxies: Proxies) -> Result<Agent, String> {
        let (store, releases) = open_stores(dir)?;
        let docker = crate::backend::docker::Docker::connect()
            .await
            .map_err(|e| e.to_string())?
            .with_state_dir(dir)
            // A warm rollback's look reads the agent's live view of its
            // containers instead of listing them.
            .watching();
        let credentials =
            crate::credentials::Credentials::discover(|name| std::env::var(name).ok())
                .map_err(|e| format!("registry credentials: {e}"))?;
        Ok(Agent::with_proxies(
            Arc::new(store),
            Arc::new(releases),
            Arc::new(docker),
            workflow::Config {
                credentials,
                ..workflow::Config::default()
            },
            proxies,
        ))
    }

    /// The deploys of state folder `dir` on the Docker Swarm whose manager
    /// `DOCKER_HOST` names (see `target::swarm`), run in this process: the
    /// traffic is the Swarm's (its entry point), so nothing local outlives
    /// the command. The store is the state folder's, so `releases` shows
    /// Swarm releases beside the others.
    pub async fn open_swarm(dir: &Path) -> Result<Agent, String> {
        let (store, releases) = open_stores(dir)?;
        let client = SwarmTarget::connect()
            .await
            .map_err(|e| format!("the Swarm manager: {e}"))?;
        let releases: Arc<dyn Releases> = Arc::new(releases);
        let credentials =
            crate::credentials::Credentials::discover(|name| std::env::var(name).ok())
                .map_err(|e| format!("registry credentials: {e}"))?;
        let notes = Notes::default();
        let target = SwarmTarget::new(
            client.clone(),
            Arc::clone(&releases),
            Arc::new(SystemClock),
            crate::target::swarm::Config {
                credentials,
                ..Default::default()
            },
        )
        .with_notes(notes.clone());
        // A manager that is not one (a worker, an engine outside any Swarm)
        // fails the deploy's first Swarm call with the engine's words.
        let cluster = crate::target::swarm::cluster::cluster_id(&client).await;
        if let Err(e) = &cluster {
            tracing::warn!("the Swarm manager's cluster ID is not recorded: {e}");
        }
        let agent = Agent::with_target(
            Arc::new(store),
            releases,
            Arc::new(crate::backend::docker::Docker::from_client(client)),
            Arc::new(target),
            Proxies::local(),
            notes,
        )
        .on_swarm();
        Ok(match cluster {
            Ok(cluster) => agent.of_cluster(cluster),
            Err(_) => agent,
        })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn releases(&self) -> &Arc<dyn Releases> {
        &self.releases
    }

    pub fn proxies(&self) -> &Proxies {
        &self.proxies
    }

    /// After a start or a crash: puts every proxy back on its stored live
    /// release, carries on the executions that were running, takes their
    /// locks again and starts beating. Returns how many executions resumed.
    pub async fn resume(&self) -> Result<usize, Error> {
        self.deployer.restore().await.map_err(Error::Restore)?;
        // The ECS target's executions share the state folder's store but
        // are the CLI's: resumed by the next `windlass deploy --target
        // ecs`, never by the agent, which has neither their invokers nor
        // their locks to take.
        let mut resumed = 0;
        for record in self.runtime.store().running()? {
            // The Swarm's are the CLI's too (its next Swarm command resumes
            // them); a Swarm agent leaves the local agent's alike.
            let arn = &record.state_machine_arn;
            if crate::target::ecs::run::is_ecs_machine(arn)
                || Place::of_arn(arn).is_some_and(|(place, _)| place != self.place)
            {
                continue;
            }
            if self.runtime.resume_one(&record.arn).await? {
                resumed += 1;
            }
        }
        // App executions whose end is recorded and whose locks are freed
        // once (their waiter died with the agent that started them).
        let mut apps = std::collections::BTreeSet::new();
        for service in self.releases.keys()?.into_iter().filter(|k| !k.is_ecs()) {
            let Some(lock) = self.releases.lock_of(&service)? else {
                continue;
            };
            if Place::of_arn(&lock.holder).is_some_and(|(place, _)| place != self.place) {
                continue;
            }
            let record = self.runtime.store().execution(&lock.holder)?;
            let running = record.as_ref().is_some_and(|r| running(&r.status));
            if running {
                let mine = Lock {
                    pid: self.pid,
                    host: host_name().into(),
                    heartbeat_millis: self.clock.now_millis(),
                    ..lock.clone()
                };
                self.releases.try_lock(&mine, i64::MAX)?;
            }
            if let Some(record) = &record {
                if apps.contains(&record.arn) || self.finish_app_after_restart(record) {
                    apps.insert(record.arn.clone());
                    continue;
                }
            }
            if running {
                self.finish_later(&service, &lock.holder, None);
            } else {
                self.releases.unlock(&service, &lock.holder)?;
            }
        }
        let agent = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT_EVERY).await;
                if let Err(e) =
                    agent
                        .releases
                        .heartbeat(host_name(), agent.pid, agent.clock.now_millis())
                {
                    tracing::warn!(%e, "cannot beat the deploy locks' heartbeat");
                }
            }
        });
        Ok(resumed)
    }

    /// Starts the deploy of the services asked for (default: all of the
    /// file's) as one app release in one execution; with the user's own
    /// definition, one execution per service.
    pub async fn deploy(&self, request: DeployRequest) -> Result<Vec<Started>, Error> {
        let project =
            compose::parse_pinned(&request.compose_text, Path::new(&request.compose_file))?;
        let services = services_asked(&request, &project)?;
        self.check_place(&request, &project, &services)?;
        self.check_ports_free(&project, &services).await?;
        if request.definition.is_none() {
            return self.deploy_app(&request, &project, &services).await;
        }
        self.deploy_each(&request, &project).await
    }

    /// One deploy execution per service, of the user's own definition.
    async fn deploy_each(
        &self,
        request: &DeployRequest,
        project: &compose::Project,
    ) -> Result<Vec<Started>, Error> {
        let definition_text = request
            .definition
            .clone()
            .unwrap_or_else(|| DEPLOY_DEFINITION.to_owned());
        let definition = windlass_asl::parse::parse_text(&definition_text)
            .valid()
            .map_err(|d| {
                Error::Definition(d.first().map_or_else(String::new, ToString::to_string))
            })?;
        let definition = Arc::new(definition);
        let services = services_asked(request, project)?;
        // Each service's definition, with its hooks written in.
        let mut definitions = Vec::new();
        for service in &services {
            let hooks = &project.services[service].windlass.hooks;
            let text = workflow::hooks::splice(&definition_text, hooks)
                .map_err(|e| Error::Definition(format!("service {service}: {e}")))?;
            let parsed = if text == definition_text {
                Arc::clone(&definition)
            } else {
                Arc::new(
                    windlass_asl::parse::parse_text(&text)
                        .valid()
                        .map_err(|d| {
                            Error::Definition(format!(
                                "service {service}, with its hooks: {}",
                                d.first().map_or_else(String::new, ToString::to_string)
                            ))
                        })?,
                )
            };
            definitions.push((text, parsed));
        }
        let app = app_name(project);
        let mut started = Vec::new();
        for (service, (text, definition)) in services.into_iter().zip(definitions) {
            let name = format!("{app}-{service}-{}", short_id());
            let arn = execution_arn(self.machine(Kind::Deploy), &name);
            let service = ServiceKey::new(app.as_str(), service)?;
            self.lock(&service, &arn)?;
            let result = self
                .start_deploy(request, &service, &name, &arn, &text, &definition)
                .await;
            match result {
                Ok(one) => started.push(one),
                Err(e) => {
                    self.releases.unlock(&service, &arn)?;
                    return Err(e);
                }
            }
        }
        Ok(started)
    }

    async fn start_deploy(
        &self,
        request: &DeployRequest,
        service: &ServiceKey,
        name: &str,
        arn: &str,
        definition_text: &str,
        definition: &Arc<windlass_asl::Definition>,
    ) -> Result<Started, Error> {
        let now = self.clock.now_millis();
        let previous = self.releases.live(service)?.map(|l| l.release);
        let release = self.releases.create(NewRelease {
            service: service.clone(),
            compose_file: request.compose_file.clone(),
            compose_text: request.compose_text.clone(),
            by: request.by.clone(),
            created_millis: now,
            fingerprint: None,
        })?;
        self.releases.set_execution(service, &release.id, arn)?;
        let input = ReleaseRef {
            app: service.app().to_owned(),
            service: service.service().to_owned(),
            release: release.id.clone(),
            previous: previous.clone(),
            mode: Mode::Deploy,
            requested_millis: Some(now),
            joins: Default::default(),
        };
        self.start(
            self.machine(Kind::Deploy),
            name,
            definition_text,
            Arc::clone(definition),
            &input,
        )
        .await?;
        self.finish_later(service, arn, Some(release.id.clone()));
        Ok(Started {
            service: service.service().to_owned(),
            release: release.id,
            previous,
            execution: arn.to_owned(),
            app: Some(service.app().to_owned()),
            app_release: None,
            unchanged: false,
        })
    }

    /// Starts an explicit rollback execution: of one service, or of the
    /// whole app when the request names none.
    pub async fn rollback(&self, request: RollbackRequest) -> Result<Vec<Started>, Error> {
        match &request.service {
            Some(service) => {
                let key = which::resolve(
                    self.releases.keys()?,
                    request.app.as_deref(),
                    request.here.as_deref(),
                    service,
                )?;
                Ok(vec![self.rollback_service(&key, &request).await?])
            }
            None => self.rollback_app(&request).await,
        }
    }

    /// The service a request names (see [`which::resolve`]), without a
    /// folder's app to prefer.
    pub fn resolve(&self, app: Option<&str>, service: &str) -> Result<ServiceKey, Error> {
        which::resolve(self.releases.keys()?, app, None, service)
    }

    /// Refuses to go back to a release that is pruned or never went live.
    fn check_rollback_target(&self, service: &ServiceKey, id: &str) -> Result<(), Error> {
        let release = self
            .releases
            .get(service, id)?
            .ok_or_else(|| Error::NoRelease {
                service: format!("service {service}"),
                release: id.to_owned(),
            })?;
        if release.pruned_millis.is_some() {
            return Err(Error::Pruned {
                service: service.to_string(),
                release: release.id,
            });
        }
        // Named, a release may be gone back to if it ever took traffic,
        // however often it was rolled back from since.
        if !release.took_traffic() {
            return Err(Error::NeverLive {
                service: service.to_string(),
                release: release.id,
            });
        }
        Ok(())
    }

    async fn rollback_service(
        &self,
        service: &ServiceKey,
        request: &RollbackRequest,
    ) -> Result<Started, Error> {
        let requested = self.clock.now_millis();
        let arrived = service.to_string();
        crate::timing::arrived(&arrived);
        let live = self
            .releases
            .live(service)?
            .ok_or_else(|| Error::NothingLive(format!("service {service}")))?;
        let target = match &request.release {
            Some(id) => {
                self.check_rollback_target(service, id)?;
                id.clone()
            }
            None => {
                let releases = self.releases.list(service)?;
                windlass_store::releases::rollback_target(&releases, &live.release)
                    .ok_or_else(|| Error::NoEarlier(format!("service {service}")))?
                    .id
                    .clone()
            }
        };
        let name = format!(
            "{}-{}-to-{target}-{}",
            service.app(),
            service.service(),
            short_id()
        );
        let arn = execution_arn(self.machine(Kind::Rollback), &name);
        let timing = format!("{service} {target}");
        crate::timing::rename(&arrived, &timing);
        crate::timing::mark(&timing, "checks");
        let input = ReleaseRef {
            app: service.app().to_owned(),
            service: service.service().to_owned(),
            release: target.clone(),
            previous: Some(live.release.clone()),
            mode: Mode::Rollback,
            requested_millis: Some(requested),
            joins: Default::default(),
        };
        // The warm look runs while the lock and the first commit are
        // written; the step takes it.
        self.look_ahead(std::slice::from_ref(&input));
        self.lock(service, &arn)?;
        crate::timing::mark(&timing, "locks");
        // Parsed once: a rollback's traffic waits for it.
        static PARSED: std::sync::OnceLock<Arc<windlass_asl::Definition>> =
            std::sync::OnceLock::new();
        let definition = match PARSED.get() {
            Some(definition) => Arc::clone(definition),
            None => {
                let parsed = windlass_asl::parse::parse_text(ROLLBACK_DEFINITION)
                    .valid()
                    .map_err(|d| {
                        Error::Definition(d.first().map_or_else(String::new, ToString::to_string))
                    })?;
                Arc::clone(PARSED.get_or_init(|| Arc::new(parsed)))
            }
        };
        if let Err(e) = self
            .start(
                self.machine(Kind::Rollback),
                &name,
                ROLLBACK_DEFINITION,
                definition,
                &input,
            )
            .await
        {
            self.releases.unlock(service, &arn)?;
            return Err(e);
        }
        crate::timing::mark(&timing, "commit");
        self.finish_later(service, &arn, None);
        Ok(Started {
            service: service.service().to_owned(),
            release: target,
            previous: Some(live.release),
            execution: arn,
            app: Some(service.app().to_owned()),
            app_release: None,
            unchanged: false,
        })
    }

    /// Starts the warm looks of the releases a rollback goes back to (see
    /// [`crate::target::Target::look_ahead`]). A release that does not load
    /// is left to the step, which says why.
    fn look_ahead(&self, refs: &[ReleaseRef]) {
        for one in refs {
            if let Ok(release) = one.load(self.releases.as_ref()) {
                self.target.look_ahead(&release);
            }
        }
    }

    fn lock(&self, service: &ServiceKey, holder: &str) -> Result<(), Error> {
        self.lock_all(&[service], holder)
    }

    /// Takes the locks of `services` for `holder`, all in one store
    /// transaction, or none: a lock whose holder is gone or finished is free.
    fn lock_all(&self, services: &[&ServiceKey], holder: &str) -> Result<(), Error> {
        let now = self.clock.now_millis();
        let mut locks = Vec::with_capacity(services.len());
        for service in services {
            let mut stale_before = now - LOCK_STALE_MILLIS;
            if let Some(current) = self.releases.lock_of(service)? {
                let mine = current.pid == self.pid && on_this_host(&current.host);
                let gone = !mine && process_gone(&current.host, current.pid);
                let finished = mine
                    && self
                        .runtime
                        .store()
                        .execution(&current.holder)?
                        .is_none_or(|r| !running(&r.status));
                if gone || finished {
                    stale_before = i64::MAX;
                }
            }
            let lock = Lock {
                service: (*service).clone(),
                holder: holder.to_owned(),
                pid: self.pid,
                host: host_name().into(),
                heartbeat_millis: now,
            };
            locks.push((lock, stale_before));
        }
        match self.releases.try_lock_all(&locks)? {
            None => Ok(()),
            Some(current) => Err(Error::Locked {
                service: current.service.to_string(),
                holder: current.holder,
                pid: current.pid,
                host: if current.host.is_empty() {
                    host_name().into()
                } else {
                    current.host
                },
            }),
        }
    }

    async fn start(
        &self,
        machine: &str,
        name: &str,
        text: &str,
        definition: Arc<windlass_asl::Definition>,
        input: &impl serde::Serialize,
    ) -> Result<(), Error> {
        let mut input = serde_json::to_value(input)
            .map_err(|e| Error::Definition(format!("the execution's input: {e}")))?;
        if let Some(cluster) = &self.swarm_cluster {
            input = crate::target::swarm::cluster::record(input, cluster);
        }
        let meta = ExecutionMeta {
            execution_arn: execution_arn(machine, name),
            name: name.to_owned(),
            state_machine_arn: format!("arn:aws:states:local:000000000000:stateMachine:{machine}"),
            state_machine_name: machine.to_owned(),
            role_arn: "arn:aws:iam::000000000000:role/windlass".into(),
            input,
            start_millis: self.clock.now_millis(),
            seed: u64::from(self.pid) ^ self.clock.now_millis().unsigned_abs(),
            express: false,
        };
        self.runtime
            .start(StartRequest {
                definition_text: text.to_owned(),
                definition,
                meta,
            })
            .await?;
        Ok(())
    }

    /// When the execution ends: frees the lock, and marks a release whose
    /// deploy failed without reaching a rollback.
    fn finish_later(&self, service: &ServiceKey, arn: &str, release: Option<String>) {
        let agent = self.clone();
        let service = service.clone();
        let arn = arn.to_owned();
        tokio::spawn(async move {
            let finished = agent.runtime.wait(&arn).await;
            // An abort that came while the deploy was at no bake or gate is
            // kept in the store until the deploy ends; a deploy that ended
            // before a bake (failed elsewhere) must not leave it to the
            // app's next deploy.
            agent.deployer.forget_abort(service.app());
            if let (Ok(finished), Some(release)) = (&finished, release) {
                let detail = match &finished.outcome {
                    Some(ExecutionOutcome::Error { error, cause }) => {
                        Some(format!("{error}: {cause}"))
                    }
                    _ => None,
                };
                agent.mark_failed(&service, &release, finished.status, detail.as_deref());
            }
            if let Err(e) = agent.releases.unlock(&service, &arn) {
                tracing::warn!(%e, %service, "cannot free the deploy lock");
            }
        });
    }

    /// A release still `deploying` when its execution ended unsuccessfully
    /// never reached the rollback step: it failed.
    fn mark_failed(
        &self,
        service: &ServiceKey,
        release: &str,
        status: Status,
        detail: Option<&str>,
    ) {
        if status == Status::Succeeded {
            return;
        }
        let still_deploying = self
            .releases
            .get(service, release)
            .ok()
            .flatten()
            .is_some_and(|r| r.outcome == Outcome::Deploying);
        if still_deploying {
            let detail = detail.map_or_else(|| status.as_str().to_owned(), str::to_owned);
            let failed = Event::at(
                self.clock.now_millis(),
                Happened::Failed {
                    detail: Some(detail),
                },
            );
            if let Err(e) = self.releases.record(service, release, &failed) {
                tracing::warn!(%e, %service, release, "cannot record a failed release");
            }
        }
    }
}

/// The services a deploy names, checked against the file.
fn services_asked(
    request: &DeployRequest,
    project: &compose::Project,
) -> Result<Vec<String>, Error> {
    for service in &request.services {
        if !project.services.contains_key(service) {
            return Err(Error::NoService {
                file: request.compose_file.clone(),
                service: service.clone(),
                known: project
                    .services
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(if request.services.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        request.services.clone()
    })
}

/// Whether a store's execution status says it still runs.
fn running(status: &str) -> bool {
    status.parse::<Status>().is_ok_and(|s| s == Status::Running)
}

/// The state folder's store and releases (`windlass.db`), the folder made
/// 0700 and the database 0600: pinned texts can hold secrets.
fn open_stores(dir: &Path) -> Result<(SqliteStore, SqliteReleases), String> {
    windlass_proxy::owner::private_dir(dir).map_err(|e| e.to_string())?;
    let db = database(dir);
    for file in [
        db.clone(),
        sqlite_side_file(&db, "-wal"),
        sqlite_side_file(&db, "-shm"),
    ] {
        if file == db || file.exists() {
            windlass_proxy::owner::private_file(&file).map_err(|e| e.to_string())?;
        }
    }
    let store = SqliteStore::open(&db, Durability::Full).map_err(|e| e.to_string())?;
    let releases = SqliteReleases::open(&db).map_err(|e| e.to_string())?;
    Ok((store, releases))
}

/// The database file of a state folder.
pub fn database(dir: &Path) -> PathBuf {
    dir.join("windlass.db")
}

/// SQLite's `-wal` or `-shm` file beside `db`.
fn sqlite_side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The unix socket a running agent serves its API on.
pub fn socket_file(dir: &Path) -> PathBuf {
    dir.join("agent.sock")
}

/// The unix socket a Swarm deploy (`deploy --target swarm`, which runs its
/// workflow in its own process) answers `approve`, `promote` and `abort`
/// on while it runs ([`api::serve_gate`]).
pub fn swarm_gate_file(dir: &Path) -> PathBuf {
    dir.join("swarm-gate.sock")
}

pub(crate) fn execution_arn(machine: &str, name: &str) -> String {
    format!("arn:aws:states:local:000000000000:execution:{machine}:{name}")
}

pub(crate) fn short_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:08x}",
        (nanos as u64 ^ u64::from(std::process::id())) & 0xffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::FakeBackend;
    use std::time::Duration;
    use windlass_store::memory::MemoryStore;

    /// The test files' app is their folder's name, `nowhere`.
    fn web() -> ServiceKey {
        ServiceKey::new("nowhere", "web").expect("a key")
    }

    fn agent(backend: Arc<FakeBackend>) -> Agent {
        Agent::new(
            Arc::new(MemoryStore::new()),
            Arc::new(SqliteReleases::in_memory().expect("releases")),
            backend,
            workflow::Config::default(),
        )
    }

    fn request(text: &str) -> DeployRequest {
        DeployRequest {
            compose_file: "/nowhere/compose.yaml".into(),
            compose_text: text.into(),
            services: Vec::new(),
            by: "me@here".into(),
            definition: None,
            ..Default::default()
        }
    }

    const WEB: &str = "services:\n  web:\n    image: web:1\n    x-windlass: {address: \"127.0.0.1:0\", port: 80}\n";

    #[tokio::test]
    async fn one_deploy_per_service_at_a_time() {
        let backend = Arc::new(FakeBackend::new());
        backend.add_image("web:1");
        let agent = agent(backend);
        agent.resume().await.expect("resume");
        let first = agent.deploy(request(WEB)).await.expect("first deploy");
        match agent.deploy(request(WEB)).await {
            Err(Error::Locked { holder, .. }) => assert_eq!(holder, first[0].execution),
            other => panic!("expected the lock to refuse, got {other:?}"),
        }
        agent
            .runtime()
            .wait(&first[0].execution)
            .await
            .expect("ends");
        // The waiter frees the lock once the execution has ended.
        for _ in 0..100 {
            if agent.releases().lock_of(&web()).expect("lock").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the lock was not freed");
    }

    /// Waits (at most 2 s) until `done` holds.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what} within 2 s");
    }

    /// What a SIGKILL between an app execution's end and its waiter leaves:
    /// the app release as it was before, the lock held by a dead process.
    fn as_if_killed(releases: &SqliteReleases, arn: &str, id: &str, outcome: Outcome) {
        releases
            .set_app_outcome("nowhere", id, outcome, None, None)
            .expect("outcome");
        let dead = Lock {
            service: web(),
            holder: arn.into(),
            pid: u32::MAX,
            host: host_name().into(),
            heartbeat_millis: 0,
        };
        assert!(releases.try_lock(&dead, i64::MAX).expect("lock").is_none());
    }

    #[tokio::test]
    async fn a_restarted_agent_records_the_end_of_app_executions_its_predecessor_left() {
        let backend = Arc::new(FakeBackend::new());
        backend.add_image("web:1");
        backend.add_image("web:2");
        let store: Arc<MemoryStore> = Arc::new(MemoryStore::new());
        let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
        let new_agent = || {
            Agent::new(
                Arc::clone(&store) as Arc<dyn windlass_store::Store>,
                Arc::clone(&releases) as Arc<dyn Releases>,
                Arc::clone(&backend) as Arc<dyn crate::Backend>,
                workflow::Config::default(),
            )
        };
        let app = |id: &str| {
            releases
                .app_release("nowhere", id)
                .expect("read")
                .expect("app release")
                .outcome
        };
        let free = || releases.lock_of(&web()).expect("lock").is_none();
        let first = new_agent();
        first.resume().await.expect("resume");
        // A worker: the fake backend's containers serve no HTTP.
        let worker = "services:\n  web:\n    image: web:1\n    x-windlass: {watch: 0s}\n";
        for text in [worker.to_owned(), worker.replace("web:1", "web:2")] {
            let started = first.deploy(request(&text)).await.expect("deploy");
            first
                .runtime()
                .wait(&started[0].execution)
                .await
                .expect("ends");
            eventually("the lock freed", free).await;
        }
        let detail = releases
            .app_release("nowhere", "a1")
            .expect("read")
            .and_then(|r| r.detail);
        assert_eq!(
            (app("a1"), app("a2")),
            (Outcome::Live, Outcome::Live),
            "{detail:?}"
        );

        // The deploy of a2 ended, then the agent died before recording it.
        let a2 = releases
            .app_release("nowhere", "a2")
            .expect("read")
            .and_then(|r| r.execution)
            .expect("a2's execution");
        as_if_killed(&releases, &a2, "a2", Outcome::Deploying);
        let second = new_agent();
        second.resume().await.expect("resume");
        eventually("a2 recorded live and its lock freed", || {
            app("a2") == Outcome::Live && free()
        })
        .await;

        // The same for an app rollback: the app release it left is recorded
        // as rolled back.
        let back = second
            .rollback(RollbackRequest {
                service: None,
                app: None,
                here: None,
                release: None,
                by: "me@here".into(),
            })
            .await
            .expect("rollback");
        assert_eq!(back[0].app_release.as_deref(), Some("a1"));
        second
            .runtime()
            .wait(&back[0].execution)
            .await
            .expect("ends");
        eventually("the lock freed", free).await;
        assert_eq!(app("a2"), Outcome::RolledBack);
        as_if_killed(&releases, &back[0].execution, "a2", Outcome::Live);
        let third = new_agent();
        third.resume().await.expect("resume");
        eventually("a2 recorded as left and the lock freed", || {
            app("a2") == Outcome::RolledBack && free()
        })
        .await;
        assert_eq!(app("a1"), Outcome::Live);
    }

    #[tokio::test]
    async fn an_app_rollback_starts_from_the_app_release_that_serves() {
        let backend = Arc::new(FakeBackend::new());
        let worker = "services:\n  web:\n    image: web:1\n    x-windlass: {watch: 0s}\n";
        let agent = agent(Arc::clone(&backend));
        agent.resume().await.expect("resume");
        let releases = Arc::clone(agent.releases());
        let free = || releases.lock_of(&web()).expect("lock").is_none();
        let app = |id: &str| {
            releases
                .app_release("nowhere", id)
                .expect("read")
                .expect("app release")
                .outcome
        };
        let to = |release: Option<&str>| RollbackRequest {
            service: None,
            app: None,
            here: None,
            release: release.map(str::to_owned),
            by: "me@here".into(),
        };
        for n in 1..=3 {
            let image = format!("web:{n}");
            backend.add_image(&image);
            let text = worker.replace("web:1", &image);
            let started = agent.deploy(request(&text)).await.expect("deploy");
            agent
                .runtime()
                .wait(&started[0].execution)
                .await
                .expect("ends");
            eventually("the lock freed", free).await;
        }
        let back = agent.rollback(to(Some("a1"))).await.expect("rollback");
        agent
            .runtime()
            .wait(&back[0].execution)
            .await
            .expect("ends");
        eventually("the lock freed", free).await;
        // a2 went live once and stays so recorded, but the app runs a1:
        // there is nothing earlier to go back to.
        assert_eq!((app("a1"), app("a2")), (Outcome::Live, Outcome::Live));
        match agent.rollback(to(None)).await {
            Err(Error::NoEarlier(_)) => {}
            other => panic!("expected nothing earlier than a1, got {other:?}"),
        }
        let forward = agent.rollback(to(Some("a2"))).await.expect("rollback");
        assert_eq!(forward[0].previous.as_deref(), Some("r1"));
        agent
            .runtime()
            .wait(&forward[0].execution)
            .await
            .expect("ends");
        eventually("the lock freed", free).await;
        assert_eq!(
            releases
                .live(&web())
                .expect("live")
                .map(|l| l.release)
                .as_deref(),
            Some("r2")
        );
        assert_eq!((app("a1"), app("a2")), (Outcome::RolledBack, Outcome::Live));
        // The app release left records how long the rollback took: the
        // time recorded on the service release it left.
        let left = releases
            .get(&web(), "r1")
            .expect("read")
            .expect("r1")
            .rollback_millis;
        assert!(left.is_some(), "web r1 recorded no rollback time");
        let a1 = releases
            .app_release("nowhere", "a1")
            .expect("read")
            .expect("a1");
        assert_eq!(a1.rollback_millis, left);
    }

    /// r1 -> r2, `rollback web` (to r1), `rollback web r2`, then
    /// `rollback web` goes to r1 again: a release a rollback left went
    /// live, and stays a target while it is retained. Its history says
    /// each thing that happened to it, in order.
    #[tokio::test]
    async fn a_release_a_rollback_left_stays_a_rollback_target() {
        let backend = Arc::new(FakeBackend::new());
        let agent = agent(Arc::clone(&backend));
        agent.resume().await.expect("resume");
        let releases = Arc::clone(agent.releases());
        let free = || releases.lock_of(&web()).expect("lock").is_none();
        let worker = "services:\n  web:\n    image: web:1\n    x-windlass: {watch: 0s}\n";
        for n in 1..=2 {
            let image = format!("web:{n}");
            backend.add_image(&image);
            let started = agent
                .deploy(request(&worker.replace("web:1", &image)))
                .await
                .expect("deploy");
            agent
                .runtime()
                .wait(&started[0].execution)
                .await
                .expect("ends");
            eventually("the lock freed", free).await;
        }
        let rollback = |release: Option<&str>| RollbackRequest {
            service: Some("web".into()),
            app: None,
            here: None,
            release: release.map(str::to_owned),
            by: "me@here".into(),
        };
        let mut went = Vec::new();
        for to in [None, Some("r2"), None] {
            let started = agent.rollback(rollback(to)).await.expect("rollback");
            went.push(started[0].release.clone());
            agent
                .runtime()
                .wait(&started[0].execution)
                .await
                .expect("ends");
            eventually("the lock freed", free).await;
        }
        assert_eq!(went, ["r1", "r2", "r1"]);
        let a1 = releases
            .app_release("nowhere", "a1")
            .expect("read")
            .expect("a1");
        assert_eq!(
            a1.history.iter().map(Event::words).collect::<Vec<_>>(),
            ["went live", "retired by a2"]
        );
        let r1 = releases.get(&web(), "r1").expect("read").expect("r1");
        let words: Vec<String> = r1.history.iter().map(Event::words).collect();
        assert_eq!(
            words,
            [
                "went live",
                "retired by r2",
                "went live",
                "rolled back to r2",
                "went live"
            ]
        );
        assert!(
            r1.history.iter().all(|e| e.at_millis.is_some()),
            "every event is dated"
        );
    }

    /// The release live from the proxies' point of view, waited for (at
    /// most 5 s) until `wanted` says it is the one.
    async fn proxied(proxies: &Proxies, wanted: impl Fn(Option<&str>) -> bool) -> Option<String> {
        let mut live = None;
        for _ in 0..500 {
            live = proxies.live(&web()).await.expect("the proxies");
            if wanted(live.as_deref()) {
                return live;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the proxy never routed as expected: it routes to {live:?}");
    }

    /// A stop-first service between the stop of its live release and the
    /// switch: no release serves, and the proxy holds new traffic. An agent
    /// restarted then (a `kill -9`) pushes the store's live pointers to the
    /// proxies before it resumes the deploy: that must not route them back
    /// to the release just stopped, whose upstreams are gone (every request
    /// a 502 until the switch), but leave them holding.
    #[tokio::test]
    async fn an_agent_restarted_while_a_stop_first_service_is_held_keeps_holding() {
        let backend = Arc::new(FakeBackend::new());
        backend.add_image("web:1");
        backend.add_image("web:2");
        let store: Arc<MemoryStore> = Arc::new(MemoryStore::new());
        let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
        let proxies = Proxies::local();
        let new_agent = || {
            Agent::with_proxies(
                Arc::clone(&store) as Arc<dyn windlass_store::Store>,
                Arc::clone(&releases) as Arc<dyn Releases>,
                Arc::clone(&backend) as Arc<dyn crate::Backend>,
                workflow::Config::default(),
                proxies.clone(),
            )
        };
        let text = "services:\n  web:\n    image: web:1\n    ports: [\"127.0.0.1::80\"]\n    healthcheck: {test: [\"CMD\", \"true\"]}\n    x-windlass: {exclusive: true, watch: 0s, health: {start_timeout: 2s}}\n";
        let first = new_agent();
        first.resume().await.expect("resume");
        let v1 = first.deploy(request(text)).await.expect("deploy r1");
        let ended = first.runtime().wait(&v1[0].execution).await.expect("ends");
        assert_eq!(
            format!("{:?}", ended.status),
            "Succeeded",
            "r1: {:?}",
            ended.outcome
        );
        let free = || releases.lock_of(&web()).expect("lock").is_none();
        eventually("the lock freed", free).await;
        assert_eq!(
            proxied(&proxies, |l| l == Some("r1")).await.as_deref(),
            Some("r1")
        );

        // r2 is never healthy (nothing answers HTTP on the fake's ports):
        // the deploy waits its start timeout, then rolls back.
        let r2 = text
            .replace("web:1", "web:2")
            .replace("health: {", "health: {http: /health, ");
        let v2 = first.deploy(request(&r2)).await.expect("deploy r2");
        // r1 stopped first: the proxy holds.
        proxied(&proxies, |l| l.is_none()).await;
        let second = new_agent();
        second.deployer.restore().await.expect("restore");
        assert_eq!(
            proxies.live(&web()).await.expect("the proxies"),
            None,
            "the restarted agent routed the held proxy to a release that was stopped"
        );

        // The deploy fails and puts r1 back, in the store and the proxy.
        first.runtime().wait(&v2[0].execution).await.expect("ends");
        eventually("the lock freed", free).await;
        assert_eq!(
            proxied(&proxies, |l| l == Some("r1")).await.as_deref(),
            Some("r1")
        );
        let stored = releases.live(&web()).expect("live").map(|l| l.release);
        assert_eq!(stored.as_deref(), Some("r1"));
    }

    #[tokio::test]
    async fn a_bad_compose_file_or_service_starts_nothing() {
        let agent = agent(Arc::new(FakeBackend::new()));
        let bad = agent
            .deploy(request("services:\n  web:\n    imag: x\n"))
            .await;
        assert!(matches!(bad, Err(Error::Compose(_))), "{bad:?}");
        let mut unknown = request(WEB);
        unknown.services = vec!["api".into()];
        let refused = agent.deploy(unknown).await;
        assert!(
            matches!(refused, Err(Error::NoService { .. })),
            "{refused:?}"
        );
        assert!(agent.releases().keys().expect("keys").is_empty());
    }
}
