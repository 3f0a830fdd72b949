//! Deploying and rolling back a whole app as one execution
//! (`workflow::app`): one app release naming each service's release, every
//! service it changes locked for the execution, one traffic switch.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use windlass_engine::{Outcome as ExecutionOutcome, Status};
use windlass_store::releases::{
    AppRelease, Event, Happened, Member, NewAppRelease, NewRelease, Releases, ServiceKey,
};
use windlass_store::ExecutionRecord;

use super::contract::{DeployRequest, RollbackRequest, Started};
use super::machines::{Kind, Place};
use super::{execution_arn, short_id, Agent, Error};
use crate::backend::Backend;
use crate::compose::{Project, Service};
use crate::target::Mode;
use crate::workflow::app::{self, AppInput};
use crate::workflow::ReleaseRef;

/// The app a Compose file describes: its top-level `name`, else its
/// folder's name as Compose makes a project name of it (lowercase letters,
/// digits, `-` and `_`); in an environment (`--env`), `NAME.ENV`.
pub fn app_name(project: &Project) -> String {
    let name = base_app_name(project);
    match &project.env {
        Some(env) => env.app(&name),
        None => name,
    }
}

fn base_app_name(project: &Project) -> String {
    if let Some(name) = &project.name {
        return name.clone();
    }
    let folder = std::fs::canonicalize(&project.file)
        .ok()
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .or_else(|| project.file.parent().map(Path::to_path_buf))
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let name: String = folder
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if name.is_empty() {
        "default".into()
    } else {
        name
    }
}

/// The app's rollout: the first of the deployed services' that has one
/// (every service that publishes a port moves by its steps together), held
/// at `canary` percent when asked (`deploy --canary`).
pub(super) fn app_rollout(
    project: &Project,
    services: &[String],
    canary: Option<u32>,
) -> Option<crate::workflow::rollout::RolloutPlan> {
    let rollout = services
        .iter()
        .filter_map(|s| project.services.get(s))
        .find_map(|s| s.windlass.rollout.as_ref());
    crate::workflow::rollout::RolloutPlan::new(rollout, canary)
}

impl Agent {
    /// Starts one execution that deploys `services` of `project` as one app
    /// release.
    pub(super) async fn deploy_app(
        &self,
        request: &DeployRequest,
        project: &Project,
        services: &[String],
    ) -> Result<Vec<Started>, Error> {
        let app = app_name(project);
        let (services, unchanged) = changed(
            self.releases.as_ref(),
            self.backend.as_ref(),
            request,
            project,
            &app,
            services,
        )
        .await?;
        if services.is_empty() {
            return Ok(unchanged
                .into_iter()
                .map(|(service, release)| unchanged_one(&app, service, release))
                .collect());
        }
        let services = services.as_slice();
        let hooks: Vec<_> = services
            .iter()
            .map(|s| (s.clone(), project.services[s].windlass.hooks.clone()))
            .collect();
        if let Some(weight) = request.canary.filter(|w| !(1..100).contains(w)) {
            return Err(Error::Definition(format!(
                "--canary {weight}: give a percentage from 1 to 99"
            )));
        }
        let rollout = app_rollout(project, services, request.canary);
        let building: Vec<String> = services
            .iter()
            .filter(|s| project.services[*s].build.is_some())
            .cloned()
            .collect();
        let text = app::deploy_definition(&hooks, &building, rollout.as_ref())
            .map_err(Error::Definition)?;
        let definition = parse_definition(&text)?;
        let order = app::waves(
            &services
                .iter()
                .map(|s| (s.clone(), dependencies(&project.services[s])))
                .collect::<Vec<_>>(),
        )
        .map_err(|e| Error::Definition(format!("{}: {e}", request.compose_file)))?;
        let name = format!("{app}-{}", short_id());
        let arn = execution_arn(self.machine(Kind::AppDeploy), &name);
        let keys = services
            .iter()
            .map(|s| ServiceKey::new(app.as_str(), s.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let held: Vec<&ServiceKey> = keys.iter().collect();
        self.lock_all(&held, &arn)?;
        let now = self.clock.now_millis();
        let mut refs = Vec::new();
        let mut members = Vec::new();
        for (service, key) in services.iter().zip(&keys) {
            let previous = self.releases.live(key)?.map(|l| l.release);
            let release = self.releases.create(NewRelease {
                service: key.clone(),
                compose_file: request.compose_file.clone(),
                compose_text: request.compose_text.clone(),
                by: request.by.clone(),
                created_millis: now,
                fingerprint: project.fingerprint(service),
            })?;
            self.releases.set_execution(key, &release.id, &arn)?;
            members.push(Member {
                service: service.to_string(),
                release: release.id.clone(),
                changed: true,
            });
            refs.push(ReleaseRef {
                app: app.clone(),
                service: service.to_string(),
                release: release.id,
                previous,
                mode: Mode::Deploy,
                requested_millis: Some(now),
                joins: BTreeMap::new(),
            });
        }
        // The app's other services keep the release they run.
        for other in project.services.keys().filter(|s| !services.contains(s)) {
            if let Some(live) = self
                .releases
                .live(&ServiceKey::new(app.as_str(), other.as_str())?)?
            {
                members.push(Member {
                    service: other.clone(),
                    release: live.release,
                    changed: false,
                });
            }
        }
        // A service made with another's container joins the release of it
        // that this app release runs.
        for one in &mut refs {
            one.joins = joins(&project.services[&one.service], &members);
        }
        let app_release = self.releases.create_app(NewAppRelease {
            app: app.clone(),
            services: members,
            by: request.by.clone(),
            created_millis: now,
        })?;
        self.releases
            .set_app_execution(&app, &app_release.id, &arn)?;
        let input = AppInput {
            app: app.clone(),
            release: app_release.id.clone(),
            waves: in_waves(&refs, &order),
            services: refs.clone(),
            leaving: None,
        };
        let started = self
            .start(
                self.machine(Kind::AppDeploy),
                &name,
                &text,
                definition,
                &input,
            )
            .await;
        if let Err(e) = started {
            for key in &keys {
                self.releases.unlock(key, &arn)?;
            }
            return Err(e);
        }
        self.finish_app_later(&app, &app_release.id, &arn, &refs, None);
        let mut started = started_list(&app, &app_release.id, &arn, &refs);
        started.extend(
            unchanged
                .into_iter()
                .map(|(service, release)| unchanged_one(&app, service, release)),
        );
        Ok(started)
    }

    /// Starts one execution that puts the app back on an earlier app
    /// release: the one named, else the newest earlier one that went live.
    pub(super) async fn rollback_app(
        &self,
        request: &RollbackRequest,
    ) -> Result<Vec<Started>, Error> {
        let requested = self.clock.now_millis();
        let timing = format!(
            "{} {}",
            request.app.as_deref().unwrap_or("app"),
            request.release.as_deref().unwrap_or("previous")
        );
        crate::timing::arrived(&timing);
        let app = self.app_or_only(request.app.as_deref())?;
        let releases = self.releases.app_releases(&app)?;
        // The store's rule, which `windlass releases` and the dashboard
        // show too.
        let state = self.releases.app_state(&app)?;
        // None after `windlass down`: then only `--to` says where to go.
        let current = state.live;
        let target_id = match (&request.release, &current) {
            (Some(id), _) => id.clone(),
            (None, None) => return Err(Error::NothingLive(format!("app {app}"))),
            (None, Some(_)) => state
                .rollback_target
                .ok_or_else(|| Error::NoEarlier(format!("app {app}")))?,
        };
        let target: &AppRelease =
            releases
                .iter()
                .find(|r| r.id == target_id)
                .ok_or_else(|| Error::NoRelease {
                    service: format!("app {app}"),
                    release: target_id.clone(),
                })?;
        if !target.went_live() {
            return Err(Error::NeverLive {
                service: format!("app {app}"),
                release: target.id.clone(),
            });
        }
        let mut refs = Vec::new();
        for member in &target.services {
            let key = ServiceKey::new(app.as_str(), member.service.as_str())?;
            let live = self.releases.live(&key)?.map(|l| l.release);
            if live.as_deref() == Some(member.release.as_str()) {
                continue;
            }
            self.check_rollback_target(&key, &member.release)?;
            refs.push(ReleaseRef {
                app: app.clone(),
                service: member.service.clone(),
                release: member.release.clone(),
                previous: live,
                mode: Mode::Rollback,
                requested_millis: Some(requested),
                joins: BTreeMap::new(),
            });
        }
        if refs.is_empty() {
            return Err(Error::AlreadyThere {
                app: app.clone(),
                release: target.id.clone(),
            });
        }
        let waves = self.rollback_waves(&mut refs, &target.services)?;
        let (text, definition) = app_rollback_definition()?;
        let name = format!("{app}-to-{}-{}", target.id, short_id());
        let arn = execution_arn(self.machine(Kind::AppRollback), &name);
        // The step's timing marks are under the app and the release.
        crate::timing::rename(&timing, &format!("{app} {}", target.id));
        let timing = format!("{app} {}", target.id);
        crate::timing::mark(&timing, "checks");
        // The warm looks run while the locks and the first commit are
        // written; the step takes them.
        self.look_ahead(&refs);
        // One store transaction for all the locks: each commit is an fsync
        // before the traffic can move.
        let keys = refs
            .iter()
            .map(ReleaseRef::key)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|f| Error::Definition(f.cause))?;
        self.lock_all(&keys.iter().collect::<Vec<_>>(), &arn)?;
        crate::timing::mark(&timing, "locks");
        let input = AppInput {
            app: app.clone(),
            release: target.id.clone(),
            services: refs.clone(),
            waves,
            leaving: current,
        };
        if let Err(e) = self
            .start(
                self.machine(Kind::AppRollback),
                &name,
                text,
                definition,
                &input,
            )
            .await
        {
            for key in &keys {
                self.releases.unlock(key, &arn)?;
            }
            return Err(e);
        }
        crate::timing::mark(&timing, "commit");
        self.finish_app_later(&app, &target.id, &arn, &refs, input.leaving.clone());
        Ok(started_list(&app, &target.id, &arn, &refs))
    }

    /// The waves of an app rollback: one, unless a service is made with
    /// another's container (`network_mode: service:NAME`, ...) that is
    /// rolled back too, which then starts first. Sets each service's
    /// `joins` to the releases of `members`, the app release it goes to.
    fn rollback_waves(
        &self,
        refs: &mut [ReleaseRef],
        members: &[Member],
    ) -> Result<Vec<Vec<ReleaseRef>>, Error> {
        let mut order = Vec::new();
        for one in refs.iter_mut() {
            let key = one.key().map_err(|f| Error::Definition(f.cause))?;
            let Some(record) = self.releases.get(&key, &one.release)? else {
                order.push((one.service.clone(), Vec::new()));
                continue;
            };
            let file = Path::new(&record.compose_file);
            let uses = match crate::target::parsed::project(&record.compose_text, file) {
                Ok(project) => project.services.get(&one.service).map(|spec| {
                    one.joins = joins(spec, members);
                    spec.uses_containers_of()
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                }),
                Err(_) => None,
            };
            order.push((one.service.clone(), uses.unwrap_or_default()));
        }
        let waves = app::waves(&order).map_err(Error::Definition)?;
        Ok(in_waves(refs, &waves))
    }

    /// How long an app rollback took, from the request to the last of its
    /// services' traffic moving: the longest of the times the rollback
    /// recorded on each service release it left (`None` when it recorded
    /// none, as a rollback of a service without an earlier live release).
    fn app_rollback_millis(&self, refs: &[ReleaseRef]) -> Option<i64> {
        refs.iter()
            .filter_map(|r| {
                let left = r.previous.as_deref().filter(|p| *p != r.release)?;
                match self.releases.get(&r.key().ok()?, left) {
                    Ok(record) => record?.rollback_millis,
                    Err(e) => {
                        tracing::warn!(%e, service = %r.service, "cannot read the release a rollback left");
                        None
                    }
                }
            })
            .max()
    }

    /// After a restart, for a lock held by app execution `record` (running
    /// again, or ended before the waiter of the agent that died could
    /// record its end): waits for its end, then records it and frees the
    /// locks as the waiter would have. False when `record` is not an app
    /// execution.
    pub(super) fn finish_app_after_restart(&self, record: &ExecutionRecord) -> bool {
        let rollback = match Place::of_arn(&record.state_machine_arn) {
            Some((_, Kind::AppDeploy)) => false,
            Some((_, Kind::AppRollback)) => true,
            _ => return false,
        };
        let input: AppInput = match serde_json::from_str(&record.input) {
            Ok(input) => input,
            Err(e) => {
                tracing::warn!(%e, arn = %record.arn, "an app execution's input does not read");
                return false;
            }
        };
        let leaving = if rollback {
            // An execution started before `leaving` was recorded in its
            // input leaves its app release's outcome as it was.
            input.leaving.clone()
        } else {
            None
        };
        if rollback && leaving.is_none() {
            tracing::warn!(arn = %record.arn, "an app rollback without the app release it leaves");
        }
        self.finish_app_later(
            &input.app,
            &input.release,
            &record.arn,
            &input.services,
            leaving,
        );
        true
    }

    /// When the execution ends: records the app release's outcome (and, for
    /// a rollback, the one it left), marks service releases whose deploy
    /// failed without reaching a rollback, and frees the locks.
    fn finish_app_later(
        &self,
        app: &str,
        release: &str,
        arn: &str,
        refs: &[ReleaseRef],
        rolled_back_from: Option<String>,
    ) {
        let agent = self.clone();
        let (app, release, arn, refs) = (
            app.to_owned(),
            release.to_owned(),
            arn.to_owned(),
            refs.to_vec(),
        );
        tokio::spawn(async move {
            let finished = agent.runtime.wait(&arn).await;
            // An abort kept until the deploy's first bake (see
            // `agent/gate.rs`) must not reach the app's next deploy.
            agent.deployer.forget_abort(&app);
            if let Ok(finished) = finished {
                let detail = match &finished.outcome {
                    Some(ExecutionOutcome::Error { error, cause }) => {
                        Some(format!("{error}: {cause}"))
                    }
                    _ => None,
                };
                let rolled_back = matches!(&finished.outcome, Some(ExecutionOutcome::Error { error, .. }) if error == crate::failures::ROLLED_BACK);
                let at = agent.clock.now_millis();
                let record =
                    |id: &str, what| agent.releases.record_app(&app, id, &Event::at(at, what));
                let result = match (&rolled_back_from, finished.status) {
                    (None, Status::Succeeded) => {
                        // The app release that served until now is retired
                        // by this one (read before this one counts as live).
                        let before = agent.releases.app_state(&app).map(|s| s.live);
                        let retired = match before {
                            Ok(Some(before)) if before != release => record(
                                &before,
                                Happened::Retired {
                                    by: release.clone(),
                                },
                            ),
                            Ok(_) => Ok(()),
                            Err(e) => Err(e),
                        };
                        retired.and_then(|()| record(&release, Happened::WentLive))
                    }
                    (None, _) if rolled_back => record(
                        &release,
                        Happened::RolledBack {
                            to: None,
                            rollback_millis: None,
                            detail: detail.clone(),
                        },
                    ),
                    (None, _) => record(
                        &release,
                        Happened::Failed {
                            detail: detail.clone(),
                        },
                    ),
                    // The app release left keeps that it went live.
                    (Some(from), Status::Succeeded) => record(
                        from,
                        Happened::RolledBack {
                            to: Some(release.clone()),
                            rollback_millis: agent.app_rollback_millis(&refs),
                            detail: Some(format!("rolled back to {release} on request")),
                        },
                    )
                    .and_then(|()| record(&release, Happened::WentLive)),
                    (Some(_), _) => Ok(()),
                };
                if let Err(e) = result {
                    tracing::warn!(%e, %app, "cannot record the app release's outcome");
                }
                if finished.status != Status::Succeeded && rolled_back_from.is_none() {
                    for (r, key) in refs.iter().filter_map(|r| Some((r, r.key().ok()?))) {
                        agent.mark_failed(&key, &r.release, finished.status, detail.as_deref());
                    }
                }
            }
            for r in &refs {
                let unlocked = match r.key() {
                    Ok(key) => agent.releases.unlock(&key, &arn).map_err(|e| e.to_string()),
                    Err(failure) => Err(failure.cause),
                };
                if let Err(e) = unlocked {
                    tracing::warn!(%e, service = %r.service, "cannot free the deploy lock");
                }
            }
        });
    }
}

/// The services `service` waits for before it starts (Compose's
/// `depends_on`): windlass starts a service once each of them is healthy,
/// whatever the condition says (`service_started` is met by a healthy one
/// too), and a job (`service_completed_successfully`) is healthy once it
/// exited 0.
/// The release in `members` (an app release) of each service whose
/// container `service`'s is made with.
fn joins(service: &Service, members: &[Member]) -> BTreeMap<String, String> {
    service
        .uses_containers_of()
        .into_iter()
        .filter_map(|other| {
            let member = members.iter().find(|m| m.service == other)?;
            Some((other.to_owned(), member.release.clone()))
        })
        .collect()
}

pub(super) fn dependencies(service: &Service) -> Vec<String> {
    service.depends_on.keys().cloned().collect()
}

/// The app rollback's definition, its text and parsed, made once: it is
/// the same for every app, and a rollback's traffic waits for it.
fn app_rollback_definition() -> Result<(&'static str, Arc<windlass_asl::Definition>), Error> {
    static MADE: std::sync::OnceLock<(String, Arc<windlass_asl::Definition>)> =
        std::sync::OnceLock::new();
    if let Some((text, definition)) = MADE.get() {
        return Ok((text, Arc::clone(definition)));
    }
    let text = app::rollback_definition().map_err(Error::Definition)?;
    let definition = parse_definition(&text)?;
    let (text, definition) = MADE.get_or_init(|| (text, definition));
    Ok((text, Arc::clone(definition)))
}

fn parse_definition(text: &str) -> Result<Arc<windlass_asl::Definition>, Error> {
    windlass_asl::parse::parse_text(text)
        .valid()
        .map(Arc::new)
        .map_err(|d| Error::Definition(d.first().map_or_else(String::new, ToString::to_string)))
}

/// The releases grouped as `order` groups their services.
fn in_waves(refs: &[ReleaseRef], order: &[Vec<String>]) -> Vec<Vec<ReleaseRef>> {
    order
        .iter()
        .map(|wave| {
            wave.iter()
                .filter_map(|s| refs.iter().find(|r| &r.service == s).cloned())
                .collect()
        })
        .collect()
}

/// A service left on its live release `release`.
fn unchanged_one(app: &str, service: String, release: String) -> Started {
    Started {
        service,
        previous: Some(release.clone()),
        release,
        execution: String::new(),
        app: Some(app.to_owned()),
        app_release: None,
        unchanged: true,
    }
}

fn started_list(app: &str, release: &str, arn: &str, refs: &[ReleaseRef]) -> Vec<Started> {
    refs.iter()
        .map(|r| Started {
            service: r.service.clone(),
            release: r.release.clone(),
            previous: r.previous.clone(),
            execution: arn.to_owned(),
            app: Some(app.to_owned()),
            app_release: Some(release.to_owned()),
            unchanged: false,
        })
        .collect()
}

/// Splits `services` into those to deploy and those left alone (with
/// their live release): a service is unchanged when its fingerprint is
/// its live release's, the image it names (if it builds none) is still
/// the one that release pinned, and that release's containers run.
/// `request.force` deploys them all.
pub(super) async fn changed(
    releases: &dyn Releases,
    backend: &dyn Backend,
    request: &DeployRequest,
    project: &Project,
    app: &str,
    services: &[String],
) -> Result<(Vec<String>, Vec<(String, String)>), Error> {
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    for service in services {
        let key = ServiceKey::new(app, service.as_str())?;
        match unchanged_release(releases, backend, request, project, &key).await? {
            Some(release) => unchanged.push((service.clone(), release)),
            None => changed.push(service.clone()),
        }
    }
    // A service that restarts with a changed one (`depends_on` with
    // `restart: true`, which a shared namespace or a link implies) is
    // deployed again with it, as Compose recreates it: its container holds
    // the old one's namespace or link. So is one not asked for that runs.
    let mut others = Vec::new();
    for other in project.services.keys().filter(|s| !services.contains(s)) {
        if releases
            .live(&ServiceKey::new(app, other.as_str())?)?
            .is_some()
        {
            others.push(other.clone());
        }
    }
    let restarts = |name: &str, changed: &[String]| {
        project.services[name]
            .restarts_with()
            .iter()
            .any(|other| changed.iter().any(|c| c == other))
    };
    loop {
        let before = changed.len();
        let (again, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut unchanged)
            .into_iter()
            .partition(|(name, _)| restarts(name, &changed));
        unchanged = kept;
        changed.extend(again.into_iter().map(|(name, _)| name));
        let (again, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut others)
            .into_iter()
            .partition(|name| restarts(name, &changed));
        others = kept;
        changed.extend(again);
        if changed.len() == before {
            break;
        }
    }
    Ok((changed, unchanged))
}

async fn unchanged_release(
    releases: &dyn Releases,
    backend: &dyn Backend,
    request: &DeployRequest,
    project: &Project,
    key: &ServiceKey,
) -> Result<Option<String>, Error> {
    if request.force {
        return Ok(None);
    }
    let service = key.service();
    let Some(live) = releases.live(key)? else {
        return Ok(None);
    };
    let Some(release) = releases.get(key, &live.release)? else {
        return Ok(None);
    };
    if release.fingerprint.is_none() || release.fingerprint != project.fingerprint(service) {
        return Ok(None);
    }
    let spec = &project.services[service];
    if let (None, Some(image)) = (&spec.build, &spec.image) {
        let now = backend.image_digests(image).await.unwrap_or_default();
        if !release.digest.as_ref().is_some_and(|d| now.contains(d)) {
            return Ok(None);
        }
    }
    let installation = releases.installation()?;
    let labels = crate::backend::release_labels(&installation, key, &release.id);
    let running = backend
        .list_containers(&labels)
        .await
        .map_err(|e| Error::Backend(e.to_string()))?
        .iter()
        .any(|c| match c.state {
            crate::backend::RunState::Running => true,
            // A job that completed stays done.
            crate::backend::RunState::Exited { code: 0 } => spec.runs_to_completion,
            _ => false,
        });
    Ok(running.then_some(release.id))
}

impl Agent {
    /// The app asked for, or the one app this agent has when none is
    /// named; several are refused with their names.
    pub(crate) fn app_or_only(&self, asked: Option<&str>) -> Result<String, Error> {
        if let Some(app) = asked {
            return Ok(app.to_owned());
        }
        let apps = self.releases.apps()?;
        match apps.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(Error::NoApp),
            many => Err(Error::WhichApp(many.join(", "))),
        }
    }
}
