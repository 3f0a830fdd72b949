//! Runs an ECS deploy or rollback: the image built and pushed to ECR, the
//! task definition mapped, then the definition of [`super::definition`] as
//! an execution of windlass's own durable runtime with the AWS
//! integrations registered; the release is recorded in the same store as
//! the Docker target's (its `image` is the task definition revision, its
//! `digest` the image's), and its timings read from the history.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value as Json};
use windlass_asl::parse::parse_text;
use windlass_asl::Failure;
use windlass_engine::TaskRequest;
use windlass_engine::{ExecutionMeta, HistoryEvent, Outcome as Ended, Status};
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::{Invoker, Invokers, Runtime, StartRequest, SystemClock};
use windlass_store::releases::{
    Event, Happened, Live, NewRelease, Outcome, Release, Releases, ServiceKey,
};
use windlass_store::Store;

use super::definition::{self, ROLLED_BACK};
use super::error::Error;
use super::plan::{plan, Plan};
use super::registry::{self, Pushed};
use super::resume::{Action, Origin, ORIGIN};
use crate::backend::Backend;
use crate::compose::{self, Project};

/// What an ECS deploy needs: the engine that builds images, AWS, and the
/// stores of executions and releases.
pub struct Ecs {
    pub backend: Arc<dyn Backend>,
    pub client: windlass_aws::Client,
    pub releases: Arc<dyn Releases>,
    pub runtime: Runtime,
    /// Nanoseconds spent inside the AWS invokers (the calls themselves).
    pub(super) in_calls: Arc<AtomicU64>,
}

/// An invoker that adds the time each call takes to a counter, so that the
/// time of AWS calls is told apart from windlass's own (its commits too).
struct Timed {
    inner: Arc<dyn Invoker>,
    nanos: Arc<AtomicU64>,
}

impl Invoker for Timed {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let inner = Arc::clone(&self.inner);
        let nanos = Arc::clone(&self.nanos);
        Box::pin(async move {
            let started = Instant::now();
            let result = inner.invoke(request).await;
            nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            result
        })
    }
}

/// What was deployed or rolled back to, how it ended, and how long each
/// part took.
#[derive(Debug, Clone)]
pub struct Report {
    pub key: ServiceKey,
    pub release: String,
    /// The task definition revision the execution put live (or tried to).
    pub revision: Option<String>,
    pub execution: String,
    pub status: Status,
    /// The execution's error and cause when it did not succeed.
    pub error: Option<(String, String)>,
    pub timing: Timing,
}

impl Report {
    pub fn rolled_back(&self) -> bool {
        self.error.as_ref().is_some_and(|(e, _)| e == ROLLED_BACK)
    }
}

/// Milliseconds of a deploy by where they went.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    pub build_millis: u64,
    pub push_millis: u64,
    /// From the start of the execution until its end was seen (wall clock).
    pub execution_millis: i64,
    /// Spent inside the AWS calls (measured around each invoker call).
    pub aws_millis: i64,
    /// Spent in the polling loops' Wait states (the history's timestamps).
    pub wait_millis: i64,
    /// Per state, in the order first entered: (name, times entered, millis).
    pub states: Vec<(String, u32, i64)>,
}

impl Timing {
    /// The execution's time that was windlass's own (the engine, the store's
    /// commits, the wire code): neither an AWS call nor a Wait.
    pub fn windlass_millis(&self) -> i64 {
        self.execution_millis - self.aws_millis - self.wait_millis
    }
}

impl Ecs {
    /// An ECS target on `store` whose Task states call AWS as `client` does.
    pub fn new(
        backend: Arc<dyn Backend>,
        client: windlass_aws::Client,
        releases: Arc<dyn Releases>,
        store: Arc<dyn Store>,
    ) -> Ecs {
        let mut aws = Invokers::new();
        windlass_aws::register(&mut aws, client.config().clone());
        let in_calls = Arc::new(AtomicU64::new(0));
        let mut invokers = Invokers::new();
        let prefixes = std::iter::once(windlass_aws::sdk::RESOURCE)
            .chain(windlass_aws::optimized::RESOURCES.iter().copied());
        for prefix in prefixes {
            if let Some(inner) = aws.find(prefix) {
                let nanos = Arc::clone(&in_calls);
                invokers.register(prefix, Arc::new(Timed { inner, nanos }));
            }
        }
        // The HTTP probe's Task (`http:invoke`), windlass's own HTTP client.
        let runtime = Runtime::with_standard_invokers(store, invokers, Arc::new(SystemClock));
        Ecs {
            backend,
            client,
            releases,
            runtime,
            in_calls,
        }
    }

    fn region(&self) -> String {
        self.client
            .config()
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".into())
    }

    /// Deploys service `name` of the pinned Compose text as a new release.
    pub async fn deploy(
        &self,
        compose_file: &Path,
        compose_text: &str,
        name: &str,
        by: &str,
    ) -> Result<Report, Error> {
        let project = read(compose_file, compose_text)?;
        let service = project.services.get(name).ok_or_else(|| {
            Error::Refused(vec![format!(
                "{} has no service {name}",
                compose_file.display()
            )])
        })?;
        let plan = plan(name, service, &self.region()).map_err(refused)?;
        // Refused settings stop the deploy before anything is done.
        plan.task_definition(service, "IMAGE").map_err(refused)?;
        let refusals = super::plan::aws_would_refuse(name, service);
        if !refusals.is_empty() {
            return Err(refused(refusals));
        }
        let store = |what| {
            move |e: windlass_store::Error| Error::Store {
                what,
                reason: e.to_string(),
            }
        };
        let arn = self.execution_arn(&plan);
        let _held = self.lock(&plan.key, &arn)?;
        self.fail_orphans(&plan.key)?;
        // Read calls first: without credentials, or without the cluster,
        // the deploy stops here, with nothing changed and no release.
        super::current::read(&self.client, &plan).await?;
        let installation = self
            .releases
            .installation()
            .map_err(store("read (the installation)"))?;
        let mut timing = Timing::default();
        let started = Instant::now();
        // Built before the release is recorded (a failed build leaves
        // none), under a tag of its own; the push tags it with the release.
        let tag = crate::target::docker::release_tag(&installation, &plan.key, "next");
        let local = self.image(&project, name, &tag).await?;
        timing.build_millis = started.elapsed().as_millis() as u64;
        let release = self
            .releases
            .create(NewRelease {
                service: plan.key.clone(),
                compose_file: compose_file.display().to_string(),
                compose_text: compose_text.into(),
                by: by.into(),
                created_millis: self.runtime.now_millis(),
                fingerprint: project.fingerprint(name),
            })
            .map_err(store("written (a new release)"))?;
        let started = Instant::now();
        let pushed = registry::push(
            self.backend.as_ref(),
            &self.client,
            name,
            &plan.repository,
            &local,
            &release.id,
        )
        .await;
        let pushed: Pushed = match pushed {
            Ok(pushed) => pushed,
            Err(e) => {
                self.releases
                    .set_outcome(
                        &plan.key,
                        &release.id,
                        Outcome::Failed,
                        None,
                        Some(&e.to_string()),
                    )
                    .ok();
                return Err(e);
            }
        };
        timing.push_millis = started.elapsed().as_millis() as u64;
        let task_definition = plan
            .task_definition(service, &pushed.reference())
            .map_err(refused)?;
        let origin = Origin {
            key: plan.key.clone(),
            release: release.id.clone(),
            action: Action::Deploy,
            digest: Some(pushed.digest.clone()),
        };
        let input = json!({ "taskDefinition": task_definition, ORIGIN: origin });
        let report = self
            .execute(&plan, &release.id, &arn, input, timing)
            .await?;
        self.finish_deploy(&plan, &release.id, &pushed.digest, report)
    }

    /// The live release of service `name` when deploying `compose_text`
    /// again would change nothing: the same configuration and build
    /// context (the release's fingerprint) and the ECS service still on
    /// that release's revision. A service whose image is named by a tag
    /// (not built, not pinned by digest) is never unchanged: the tag may
    /// have moved.
    pub async fn unchanged(
        &self,
        compose_file: &Path,
        compose_text: &str,
        name: &str,
    ) -> Result<Option<String>, Error> {
        let project = read(compose_file, compose_text)?;
        let Some(service) = project.services.get(name) else {
            return Ok(None);
        };
        if service.build.is_none() && !service.image.as_deref().is_some_and(|i| i.contains('@')) {
            return Ok(None);
        }
        let plan = plan(name, service, &self.region()).map_err(refused)?;
        let store = |e: windlass_store::Error| Error::Store {
            what: "read (the live release)",
            reason: e.to_string(),
        };
        let Some(live) = self.releases.live(&plan.key).map_err(store)? else {
            return Ok(None);
        };
        let Some(release) = self.releases.get(&plan.key, &live.release).map_err(store)? else {
            return Ok(None);
        };
        if release.fingerprint.is_none() || release.fingerprint != project.fingerprint(name) {
            return Ok(None);
        }
        let now = super::current::read(&self.client, &plan).await?;
        let same = now
            .service
            .is_some_and(|s| Some(&s.revision) == release.image.as_ref());
        Ok(same.then_some(release.id))
    }

    /// Records a deploy's end: the release's revision and digest, its
    /// outcome and the live pointer.
    pub(super) fn finish_deploy(
        &self,
        plan: &Plan,
        release: &str,
        digest: &str,
        mut report: Report,
    ) -> Result<Report, Error> {
        let revision = report.revision.clone().unwrap_or_default();
        self.releases
            .set_image(&plan.key, release, &revision, digest)
            .map_err(|e| Error::Store {
                what: "written (the release's revision)",
                reason: e.to_string(),
            })?;
        self.record(plan, release, &mut report, None)?;
        Ok(report)
    }

    /// Puts the ECS service `key` (`ecs/CLUSTER/SERVICE`) back on release
    /// `to`'s revision, by default the newest earlier release that went live.
    pub async fn rollback(&self, key: &ServiceKey, to: Option<&str>) -> Result<Report, Error> {
        let store = |what| {
            move |e: windlass_store::Error| Error::Store {
                what,
                reason: e.to_string(),
            }
        };
        let releases = self.releases.list(key).map_err(store("read (releases)"))?;
        let live = self
            .releases
            .live(key)
            .map_err(store("read (the live release)"))?
            .map(|l| l.release);
        let target = match to {
            Some(id) => releases
                .iter()
                .find(|r| r.id == id)
                .cloned()
                .ok_or_else(|| Error::NoRelease {
                    service: key.to_string(),
                    release: id.into(),
                    known: releases
                        .iter()
                        .map(|r| r.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?,
            None => {
                let mut after_live = releases
                    .iter()
                    .skip_while(|r| Some(&r.id) != live.as_ref())
                    .skip(1);
                after_live
                    .find(|r| {
                        r.is_rollback_target() && r.image.as_deref().is_some_and(|i| !i.is_empty())
                    })
                    .cloned()
                    .ok_or_else(|| Error::NothingToRollBackTo {
                        service: key.to_string(),
                    })?
            }
        };
        let revision = target
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| Error::NothingToRollBackTo {
                service: key.to_string(),
            })?;
        let plan = self.plan_of(key, &target)?;
        let arn = self.execution_arn(&plan);
        let _held = self.lock(key, &arn)?;
        self.fail_orphans(key)?;
        let started = self.runtime.now_millis();
        let origin = Origin {
            key: key.clone(),
            release: target.id.clone(),
            action: Action::Rollback,
            digest: None,
        };
        let input = json!({ "taskDefinitionArn": revision, ORIGIN: origin });
        let report = self
            .execute(&plan, &target.id, &arn, input, Timing::default())
            .await?;
        let took = self.runtime.now_millis() - started;
        self.finish_rollback(&plan, &target.id, live, report, took)
    }

    /// Records a rollback's end: the outcome of the release rolled back to
    /// and, when it went live, of the release it took the place of (`live`,
    /// the live release when the rollback started).
    pub(super) fn finish_rollback(
        &self,
        plan: &Plan,
        target: &str,
        live: Option<String>,
        mut report: Report,
        took: i64,
    ) -> Result<Report, Error> {
        self.record(plan, target, &mut report, Some(took))?;
        if report.status == Status::Succeeded {
            if let Some(left) = live.filter(|l| l != target) {
                let event = Happened::RolledBack {
                    to: Some(target.to_string()),
                    rollback_millis: Some(took),
                    detail: Some(format!("windlass rollback to {target}")),
                };
                self.releases
                    .record(
                        &plan.key,
                        &left,
                        &Event::at(self.runtime.now_millis(), event),
                    )
                    .map_err(|e| Error::Store {
                        what: "written (the release left)",
                        reason: e.to_string(),
                    })?;
            }
        }
        Ok(report)
    }

    /// The plan of service `key` as `release`'s pinned Compose text gives it.
    pub(super) fn plan_of(&self, key: &ServiceKey, release: &Release) -> Result<Plan, Error> {
        let project = read(Path::new(&release.compose_file), &release.compose_text)?;
        let name = project
            .services
            .iter()
            .find(|(name, service)| {
                plan(name, service, &self.region()).is_ok_and(|p| p.key == *key)
            })
            .map(|(name, _)| name.clone())
            .ok_or_else(|| Error::NothingToRollBackTo {
                service: key.to_string(),
            })?;
        plan(&name, &project.services[&name], &self.region()).map_err(refused)
    }

    /// A new execution's ARN for `plan`'s service (its name: the service
    /// and the time, unique per service).
    fn execution_arn(&self, plan: &Plan) -> String {
        format!(
            "{}:{}-{}",
            machine_arn(plan).replace(":stateMachine:", ":execution:"),
            plan.rollout.service,
            self.runtime.now_millis()
        )
    }

    /// Builds the service's image tagged `tag` (or takes the one it names).
    async fn image(&self, project: &Project, name: &str, tag: &str) -> Result<String, Error> {
        let service = &project.services[name];
        // The same build as the Docker target's (options, secrets); args
        // without a value are left out.
        let Some((spec, options)) =
            crate::plan::build_spec(service, tag, BTreeMap::new(), |_| None)
        else {
            return service.image.clone().ok_or_else(|| {
                Error::Refused(vec![format!("services.{name}: neither build nor image")])
            });
        };
        self.backend
            .build_image_with(&spec, &options)
            .await
            .map_err(|e| Error::Image {
                service: name.into(),
                what: "built",
                reason: e.to_string(),
            })?;
        Ok(spec.tag)
    }

    /// Starts the plan's definition as execution `arn` with `input` and
    /// follows it to its end.
    async fn execute(
        &self,
        plan: &Plan,
        release: &str,
        arn: &str,
        input: Json,
        timing: Timing,
    ) -> Result<Report, Error> {
        let document = definition::deploy(&plan.rollout);
        let text = serde_json::to_string(&document).map_err(|e| Error::Runtime(e.to_string()))?;
        let parsed = parse_text(&text)
            .valid()
            .map_err(|d| Error::Runtime(format!("the ECS definition is invalid: {d:?}")))?;
        let now = self.runtime.now_millis();
        let machine = machine_arn(plan);
        let meta = ExecutionMeta {
            execution_arn: arn.into(),
            name: arn.rsplit(':').next().unwrap_or_default().into(),
            state_machine_arn: machine,
            state_machine_name: format!("windlass-ecs-{}", plan.rollout.service),
            role_arn: String::new(),
            input,
            start_millis: now,
            seed: now as u64,
            express: false,
        };
        self.runtime
            .start(StartRequest {
                definition_text: text,
                definition: Arc::new(parsed),
                meta,
            })
            .await
            .map_err(|e| Error::Runtime(e.to_string()))?;
        self.releases.set_execution(&plan.key, release, arn).ok();
        self.follow(plan, release, arn, timing).await
    }

    /// Waits for execution `arn` (running on this runtime) to end and
    /// reports it from its history.
    pub(super) async fn follow(
        &self,
        plan: &Plan,
        release: &str,
        arn: &str,
        timing: Timing,
    ) -> Result<Report, Error> {
        let runtime_error = |e: windlass_runtime::Error| Error::Runtime(e.to_string());
        let calls_before = self.in_calls.load(Ordering::Relaxed);
        let started = Instant::now();
        let finished = self.runtime.wait(arn).await.map_err(runtime_error)?;
        let wall_millis = started.elapsed().as_millis() as i64;
        let calls_millis =
            ((self.in_calls.load(Ordering::Relaxed) - calls_before) / 1_000_000) as i64;
        let history = self
            .runtime
            .store()
            .history(arn, 1, u64::MAX)
            .map_err(|e| Error::Store {
                what: "read (history)",
                reason: e.to_string(),
            })?;
        let error = match finished.outcome {
            Some(Ended::Error { error, cause }) => Some((error, cause)),
            _ => None,
        };
        let timing = times(&history, timing);
        Ok(Report {
            key: plan.key.clone(),
            release: release.into(),
            revision: revision(&history),
            execution: arn.into(),
            status: finished.status,
            error,
            timing: Timing {
                // A resumed execution began before this process followed
                // it: its waits are in the history, so is its length.
                execution_millis: wall_millis.max(timing.execution_millis),
                aws_millis: calls_millis,
                ..timing
            },
        })
    }

    /// The release's outcome and the live pointer, as the execution ended.
    fn record(
        &self,
        plan: &Plan,
        release: &str,
        report: &mut Report,
        rollback_millis: Option<i64>,
    ) -> Result<(), Error> {
        let store = |what| {
            move |e: windlass_store::Error| Error::Store {
                what,
                reason: e.to_string(),
            }
        };
        let detail = report.error.as_ref().map(|(e, c)| format!("{e}: {c}"));
        let now = self.runtime.now_millis();
        let previous = self
            .releases
            .live(&plan.key)
            .map_err(store("read (the live release)"))?
            .map(|l| l.release)
            .filter(|l| l != release);
        let event = match (&report.status, report.rolled_back()) {
            (Status::Succeeded, _) => Happened::WentLive,
            (_, true) => Happened::RolledBack {
                to: previous.clone(),
                rollback_millis,
                detail,
            },
            _ => Happened::Failed { detail },
        };
        let live = event == Happened::WentLive;
        self.releases
            .record(&plan.key, release, &Event::at(now, event))
            .map_err(store("written (the outcome)"))?;
        // A deploy that went live retires the release it replaced (the
        // release a rollback left is recorded by `finish_rollback`).
        if let (true, None, Some(previous)) = (live, rollback_millis, &previous) {
            let retired = Happened::Retired {
                by: release.to_string(),
            };
            self.releases
                .record(&plan.key, previous, &Event::at(now, retired))
                .map_err(store("written (the release replaced)"))?;
        }
        if live {
            // The account is the revision's (arn:aws:ecs:REGION:ACCOUNT:...).
            let account = report
                .revision
                .as_deref()
                .and_then(|arn| arn.split(':').nth(4))
                .unwrap_or_default();
            let service_arn = format!(
                "arn:aws:ecs:{}:{account}:service/{}/{}",
                plan.region, plan.rollout.cluster, plan.rollout.service
            );
            self.releases
                .set_live(&Live {
                    service: plan.key.clone(),
                    release: release.into(),
                    address: service_arn,
                    upstreams: report.revision.iter().cloned().collect(),
                    ports: Vec::new(),
                    since_millis: self.runtime.now_millis(),
                })
                .map_err(store("written (the live pointer)"))?;
        }
        Ok(())
    }
}

/// The state machine name of every ECS deploy and rollback: the service's
/// name after it.
const MACHINE_PREFIX: &str = "windlass-ecs-";

/// The state machine ARN the executions of `plan`'s service run under.
fn machine_arn(plan: &Plan) -> String {
    format!(
        "arn:aws:states:{}:000000000000:stateMachine:{MACHINE_PREFIX}{}",
        plan.region, plan.rollout.service
    )
}

/// Whether executions of the state machine `arn` are ECS deploys (which
/// the CLI runs and resumes, never the agent).
pub fn is_ecs_machine(arn: &str) -> bool {
    arn.rsplit(':')
        .next()
        .is_some_and(|name| name.starts_with(MACHINE_PREFIX))
        && arn.contains(":stateMachine:")
}

fn read(file: &Path, text: &str) -> Result<Project, Error> {
    let options = compose::Options {
        files: compose::FileChecks::Skip,
        ..compose::Options::from_process()
    };
    let (project, diagnostics) = compose::check_text(text, file, &options);
    project.ok_or_else(|| Error::Refused(diagnostics.iter().map(|d| d.to_string()).collect()))
}

fn refused(refusals: Vec<super::task_definition::Refusal>) -> Error {
    Error::Refused(refusals.iter().map(ToString::to_string).collect())
}

/// The revision the execution registered or was given: `$.target.Arn` as
/// the state that set it left it.
fn revision(history: &[HistoryEvent]) -> Option<String> {
    history.iter().find_map(|event| {
        let name = event.details.get("name")?.as_str()?;
        if !event.kind.ends_with("StateExited") || !matches!(name, "Register" | "GivenRevision") {
            return None;
        }
        let output = event.details.get("output")?;
        let output: Json = match output {
            Json::String(text) => serde_json::from_str(text).ok()?,
            other => other.clone(),
        };
        output.pointer("/target/Arn")?.as_str().map(str::to_string)
    })
}

/// Where the execution's time went, from its history's timestamps.
fn times(history: &[HistoryEvent], mut timing: Timing) -> Timing {
    let (Some(first), Some(last)) = (history.first(), history.last()) else {
        return timing;
    };
    timing.execution_millis = last.timestamp_millis - first.timestamp_millis;
    let mut entered: Option<(String, i64)> = None;
    for event in history {
        let at = event.timestamp_millis;
        match event.kind.as_ref() {
            kind if kind.ends_with("StateEntered") => {
                let name = event
                    .details
                    .get("name")
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                entered = Some((name.to_string(), at));
            }
            kind if kind.ends_with("StateExited") => {
                if let Some((name, since)) = entered.take() {
                    if kind == "WaitStateExited" {
                        timing.wait_millis += at - since;
                    }
                    match timing.states.iter_mut().find(|(n, _, _)| *n == name) {
                        Some((_, count, millis)) => {
                            *count += 1;
                            *millis += at - since;
                        }
                        None => timing.states.push((name, 1, at - since)),
                    }
                }
            }
            _ => {}
        }
    }
    timing
}
