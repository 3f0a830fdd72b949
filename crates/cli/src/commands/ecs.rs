//! The ECS target on the command line: `windlass deploy --target ecs`
//! (and `--show-definition`), `windlass rollback --target ecs SERVICE
//! [RELEASE]` and `windlass status --target ecs`. The deploy runs in this
//! process on windlass's durable runtime (the state folder's database)
//! with the AWS integrations registered; no agent is needed, since nothing
//! local (no proxy) has to outlive it.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use windlass_aws::model::Model;
use windlass_aws::{Client, Config, Service};
use windlass_deploy::agent::database;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::compose::Target;
use windlass_deploy::target::ecs::error::{advice, Error};
use windlass_deploy::target::ecs::plan::{check, plan, store_key};
use windlass_deploy::target::ecs::resume::{pending, Action, Pending, Unfinished};
use windlass_deploy::target::ecs::run::{Ecs, Report};
use windlass_deploy::target::ecs::{definition, dry_run};
use windlass_engine::format_timestamp;
use windlass_engine::Status;
use windlass_store::releases::{Releases, ServiceKey, SqliteReleases};
use windlass_store::sqlite::{Durability, SqliteStore};

use super::agent::StateArgs;
use super::compose_files::Pinned;
use super::deploy::who;
use crate::exit;

/// Whether `services` (all of the file's when empty) go to ECS: `--target
/// ecs`, or `x-windlass.target: ecs` on every one of them.
pub fn chosen(target: Option<Target>, pinned: &Pinned, services: &[String]) -> bool {
    if let Some(target) = target {
        return target == Target::Ecs;
    }
    let names = names(pinned, services);
    !names.is_empty()
        && names.iter().all(|name| {
            pinned
                .project
                .services
                .get(name.as_str())
                .is_some_and(|s| s.windlass.target == Some(Target::Ecs))
        })
}

fn names(pinned: &Pinned, services: &[String]) -> Vec<String> {
    if services.is_empty() {
        pinned.project.services.keys().cloned().collect()
    } else {
        services.to_vec()
    }
}

fn region(config: &Config) -> String {
    config.region.clone().unwrap_or_else(|| "us-east-1".into())
}

/// `deploy --target ecs --show-definition`: the definition of each service.
pub fn show_definition(pinned: &Pinned, services: &[String]) -> anyhow::Result<u8> {
    let config = Config::from_env();
    for name in names(pinned, services) {
        match plan(
            &name,
            &pinned.project.services[name.as_str()],
            &region(&config),
        ) {
            Ok(plan) => println!(
                "{}",
                serde_json::to_string_pretty(&definition::deploy(&plan.rollout))?
            ),
            Err(refusals) => return Ok(refuse(pinned, &refusals)),
        }
    }
    Ok(exit::OK)
}

/// Prints each refusal at its line in the (first) Compose file as the
/// user wrote it, not in the pinned text; the exit code of an invalid file.
fn refuse(
    pinned: &Pinned,
    refusals: &[windlass_deploy::target::ecs::task_definition::Refusal],
) -> u8 {
    let text = std::fs::read_to_string(&pinned.file).unwrap_or_default();
    crate::failure::say!("the Compose file cannot be deployed to ECS:");
    for refusal in refusals {
        eprintln!("  {}", refusal.located(&pinned.file, &text));
    }
    exit::INVALID
}

fn target(state: &StateArgs) -> anyhow::Result<(Ecs, Arc<SqliteReleases>)> {
    let dir = state.dir();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the state folder {}", dir.display()))?;
    let db = database(&dir);
    let store = Arc::new(SqliteStore::open(&db, Durability::Full)?);
    let releases = Arc::new(SqliteReleases::open(&db)?);
    let config = Config::from_env();
    let runtime = tokio::runtime::Handle::current();
    let docker = runtime
        .block_on(Docker::connect())
        .context("the ECS target builds images with the local Docker engine")?;
    let ecs = Ecs::new(
        Arc::new(docker),
        Client::new(config),
        releases.clone(),
        store,
    );
    Ok((ecs, releases))
}

/// How `deploy --target ecs` was asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeployOptions {
    /// Print the plan from read calls only; change nothing.
    pub dry_run: bool,
    /// Deploy a service even when nothing of it changed.
    pub force: bool,
}

/// `deploy --target ecs --dry-run`: each service's plan, from read calls
/// only; no image is built, no state folder made, nothing changed on AWS.
fn dry_run(pinned: &Pinned, services: &[String]) -> anyhow::Result<u8> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let config = Config::from_env();
    let region = region(&config);
    let client = Client::new(config);
    let mut code = exit::OK;
    for name in names(pinned, services) {
        let service = &pinned.project.services[name.as_str()];
        let plan = match plan(&name, service, &region) {
            Ok(plan) => plan,
            Err(refusals) => return Ok(refuse(pinned, &refusals)),
        };
        match tokio.block_on(dry_run::dry_run(&client, &plan, service)) {
            Ok(planned) => {
                for line in planned.lines {
                    println!("{line}");
                }
            }
            Err(e) => {
                crate::failure::say!("{name}: {e}");
                code = code.max(failed(&e));
            }
        }
    }
    Ok(code)
}

/// The exit code of a deploy that could not run: a refused file is invalid.
fn failed(error: &Error) -> u8 {
    match error {
        Error::Refused(_) => exit::INVALID,
        _ => exit::FAILED,
    }
}

/// `deploy --target ecs`: each service in turn; the worst outcome is the exit code.
pub fn deploy(
    pinned: &Pinned,
    services: &[String],
    state: &StateArgs,
    options: DeployOptions,
) -> anyhow::Result<u8> {
    if options.dry_run {
        return dry_run(pinned, services);
    }
    // Refused settings are named at their line before anything is done
    // (no engine, no AWS call).
    let region_name = region(&Config::from_env());
    let refusals: Vec<_> = names(pinned, services)
        .iter()
        .flat_map(|name| check(name, &pinned.project.services[name.as_str()], &region_name))
        .collect();
    if !refusals.is_empty() {
        return Ok(refuse(pinned, &refusals));
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let _guard = tokio.enter();
    let (ecs, releases) = target(state)?;
    let mut code = exit::OK;
    let config = Config::from_env();
    // The services this command moved to a new release, with the release
    // each ran before: put back when a later one fails, so that the app
    // ends on one version.
    let mut moved: Vec<(ServiceKey, String)> = Vec::new();
    let order = in_order(pinned, names(pinned, services));
    for (at, name) in order.iter().enumerate() {
        let name = name.clone();
        if code != exit::OK {
            eprintln!(
                "{name}: not deployed, since {} did not go live: the app stays on the release it runs",
                order[..at].join(", ")
            );
            continue;
        }
        let service = &pinned.project.services[name.as_str()];
        let key = plan(&name, service, &region(&config)).map(|p| p.key);
        let before = key
            .as_ref()
            .ok()
            .and_then(|k| releases.live(k).ok().flatten())
            .map(|l| l.release);
        if let Ok(key) = key {
            match tokio.block_on(settle(&ecs, &key)) {
                Err(code_of) => {
                    code = code.max(code_of);
                    continue;
                }
                Ok(Some((unfinished, resumed_code)))
                    if unfinished.origin.action == Action::Deploy
                        && unfinished.release.compose_text == pinned.text =>
                {
                    eprintln!(
                        "{name}: release {} was this very deploy: not deploying it again",
                        unfinished.release.id
                    );
                    code = code.max(resumed_code);
                    continue;
                }
                Ok(_) => {}
            }
        }
        if !options.force {
            match tokio.block_on(ecs.unchanged(&pinned.file, &pinned.text, &name)) {
                Ok(Some(live)) => {
                    eprintln!("{name}: unchanged since its live release {live} (same configuration and build context, and the ECS service runs its revision), left alone; --force deploys it anyway");
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    crate::failure::say!("{name}: {e}");
                    code = code.max(exit::FAILED);
                    continue;
                }
            }
        }
        eprintln!("{name}: deploying to ECS (image built locally, pushed to ECR, rolled out by an ASL execution of aws-sdk states)");
        let outcome = tokio.block_on(ecs.deploy(&pinned.file, &pinned.text, &name, &who()));
        match outcome {
            Ok(report) => {
                let printed = print(&name, &report);
                if printed == exit::OK {
                    if let Some(before) = before {
                        moved.push((report.key.clone(), before));
                    }
                }
                code = code.max(printed);
            }
            Err(e) => {
                crate::failure::say!("{name}: {e}");
                code = code.max(failed(&e));
            }
        }
    }
    // Nothing moved (the first service failed, or AWS could not be reached):
    // the failure's own exit code stands.
    if code != exit::OK && !moved.is_empty() {
        code = code.max(put_back(&tokio, &ecs, &moved));
    }
    Ok(code)
}

/// `names` with each service after those it `depends_on`: on ECS each is a
/// service of its own, and a dependency's rollout has ended healthy before
/// the next one starts.
fn in_order(pinned: &Pinned, names: Vec<String>) -> Vec<String> {
    let mut ordered: Vec<String> = Vec::new();
    let mut left = names;
    while !left.is_empty() {
        let ready = left.iter().position(|name| {
            pinned.project.services[name.as_str()]
                .depends_on
                .keys()
                .all(|dependency| !left.contains(dependency) || ordered.contains(dependency))
        });
        // A cycle (which the Compose reader refuses) keeps the file's order.
        ordered.push(left.remove(ready.unwrap_or(0)));
    }
    ordered
}

/// After a service of the deploy did not go live: the services it had
/// already moved are put back on the releases they ran (newest first), so
/// the app as a whole is where it was. The exit code: rolled back, or
/// failed when a service could not be put back.
fn put_back(tokio: &tokio::runtime::Runtime, ecs: &Ecs, moved: &[(ServiceKey, String)]) -> u8 {
    let mut code = exit::ROLLED_BACK;
    for (key, release) in moved.iter().rev() {
        eprintln!("{key}: putting it back on release {release}, as the rest of the app");
        match tokio.block_on(ecs.rollback(key, Some(release))) {
            Ok(report) if print(&key.to_string(), &report) == exit::OK => {}
            Ok(_) => code = exit::FAILED,
            Err(e) => {
                crate::failure::say!("{key}: could not be put back on {release}: {e}");
                code = exit::FAILED;
            }
        }
    }
    code
}

/// `rollback --target ecs` without a service: the app's ECS services (those
/// of `app`'s file, when one was given or found here; else every ECS service
/// deployed from the state folder) back to their previous release that went
/// live, one after another (ECS rolls out each service on its own); the
/// worst exit code. An ECS service has no app of its own in the store (its
/// key is `ecs/CLUSTER/SERVICE`), so the file says which are the app's: two
/// apps that share a state folder are never rolled back together.
pub fn rollback_all(app: Option<&Pinned>, state: &StateArgs) -> anyhow::Result<u8> {
    let db = database(&state.dir());
    let mut keys: Vec<ServiceKey> = if db.exists() {
        SqliteReleases::open_read_only(&db)?
            .keys()?
            .into_iter()
            .filter(ServiceKey::is_ecs)
            .collect()
    } else {
        Vec::new()
    };
    if let Some(pinned) = app {
        let of_file: std::collections::BTreeSet<ServiceKey> = pinned
            .project
            .services
            .iter()
            .filter_map(|(name, service)| store_key(name, service))
            .collect();
        keys.retain(|key| of_file.contains(key));
        if keys.is_empty() {
            crate::failure::say!(
                "no ECS service of {} was deployed from {}; `windlass releases` lists what was",
                pinned.file.display(),
                state.dir().display()
            );
            return Ok(exit::REFUSED);
        }
    }
    if keys.is_empty() {
        crate::failure::say!(
            "no ECS service was deployed from {}; `windlass releases` lists what was",
            state.dir().display()
        );
        return Ok(exit::REFUSED);
    }
    let mut code = exit::OK;
    for key in keys {
        eprintln!("{key}: rolling back to its previous release");
        code = code.max(rollback(&key.to_string(), None, state)?);
    }
    Ok(code)
}

/// `down --target ecs`: each ECS service of the file deleted (its tasks
/// stopped; DeleteService with `force`), dependents first; the releases
/// and task definitions are kept, so a later deploy starts from them.
pub fn down(pinned: &Pinned, services: &[String], state: &StateArgs) -> anyhow::Result<u8> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let _guard = tokio.enter();
    let config = Config::from_env();
    let region = region(&config);
    let client = Client::new(config);
    let ecs_model = Model::of(Service::named("ecs").context("the ECS model")?)?;
    let releases = {
        let dir = state.dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the state folder {}", dir.display()))?;
        SqliteReleases::open(&database(&dir))?
    };
    let mut code = exit::OK;
    for name in in_order(pinned, names(pinned, services)).iter().rev() {
        let plan = match plan(name, &pinned.project.services[name.as_str()], &region) {
            Ok(plan) => plan,
            Err(refusals) => return Ok(refuse(pinned, &refusals)),
        };
        let (cluster, service) = (&plan.rollout.cluster, &plan.rollout.service);
        let input = json!({ "Cluster": cluster, "Service": service, "Force": true });
        match tokio.block_on(client.call(&ecs_model, "deleteService", &input, None)) {
            Ok(_) => {
                releases.clear_live(&plan.key)?;
                eprintln!(
                    "{name}: ECS service {service} deleted from cluster {cluster} (its tasks stop)"
                );
            }
            Err(e) if e.to_string().contains("ServiceNotFound") => {
                releases.clear_live(&plan.key)?;
                eprintln!(
                    "{name}: no ECS service {service} on cluster {cluster}: nothing to take down"
                );
            }
            Err(e) => {
                crate::failure::say!(
                    "{name}: ecs:DeleteService of {service} on cluster {cluster} failed: {e}"
                );
                code = exit::FAILED;
            }
        }
    }
    Ok(code)
}

/// `rollback --target ecs SERVICE [RELEASE]`: SERVICE is the Compose
/// service's name or its store key `ecs/CLUSTER/SERVICE`.
pub fn rollback(service: &str, release: Option<&str>, state: &StateArgs) -> anyhow::Result<u8> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let _guard = tokio.enter();
    let (ecs, releases) = target(state)?;
    let key = key_of(releases.as_ref(), service)?;
    match tokio.block_on(settle(&ecs, &key)) {
        Err(code) => return Ok(code),
        Ok(Some((unfinished, resumed_code)))
            if unfinished.origin.action == Action::Rollback
                && release.is_none_or(|r| r == unfinished.release.id) =>
        {
            eprintln!(
                "{key}: the rollback to {} was this very rollback: not running it again",
                unfinished.release.id
            );
            return Ok(match resumed_code {
                exit::OK => exit::OK,
                _ => exit::FAILED,
            });
        }
        Ok(_) => {}
    }
    match tokio.block_on(ecs.rollback(&key, release)) {
        Ok(report) => Ok(match print(&key.to_string(), &report) {
            exit::OK => exit::OK,
            _ => exit::FAILED,
        }),
        Err(e) => {
            crate::failure::say!("{e}");
            Ok(exit::REFUSED)
        }
    }
}

/// Resumes the deploy or rollback of `key` that a dead windlass process
/// left unfinished, if any, and reports it as its own process would have:
/// the interrupted execution and the exit code its end means. A deploy
/// that a live process runs now is an error (its exit code).
async fn settle(ecs: &Ecs, key: &ServiceKey) -> Result<Option<(Unfinished, u8)>, u8> {
    let unfinished = match ecs.unfinished(key) {
        Ok(Some(unfinished)) => unfinished,
        Ok(None) => return Ok(None),
        Err(e @ Error::Busy { .. }) => {
            crate::failure::say!("{e}");
            return Err(exit::BUSY);
        }
        Err(e) => {
            crate::failure::say!("{key}: {e}");
            return Err(exit::FAILED);
        }
    };
    eprintln!("{key}: {}", interrupted(&unfinished));
    match ecs.resume(&unfinished).await {
        Ok(report) => {
            let code = print(&key.to_string(), &report);
            Ok(Some((unfinished, code)))
        }
        Err(e) => {
            crate::failure::say!("{key}: the interrupted execution could not be resumed: {e}");
            Err(exit::FAILED)
        }
    }
}

/// "resuming the deploy of release r2 started at ... (its windlass process, pid N, is gone)".
fn interrupted(unfinished: &Unfinished) -> String {
    let what = match unfinished.origin.action {
        Action::Deploy => format!("the deploy of release {}", unfinished.release.id),
        Action::Rollback => format!("the rollback to release {}", unfinished.release.id),
    };
    let process = unfinished
        .pid
        .map_or("its windlass process is gone".into(), |pid| {
            format!("its windlass process, pid {pid}, is gone")
        });
    let verb = if unfinished.running {
        "resuming"
    } else {
        "recording the end of"
    };
    format!(
        "{verb} {what} started at {} ({process}; execution {})",
        format_timestamp(unfinished.started_millis),
        unfinished.execution
    )
}

/// The ECS service a bare name means when no Docker app of the state
/// folder has a service of that name and one ECS service has it: so that
/// `windlass releases web` and `windlass rollback web` find it.
pub fn only_on_ecs(state: &StateArgs, service: &str) -> anyhow::Result<Option<ServiceKey>> {
    let db = database(&state.dir());
    if !db.exists() {
        return Ok(None);
    }
    let releases = SqliteReleases::open_read_only(&db)?;
    let keys = releases.keys()?;
    if service.starts_with("ecs/") {
        return Ok(service.parse().ok());
    }
    if keys.iter().any(|k| !k.is_ecs() && k.service() == service) {
        return Ok(None);
    }
    let on_ecs = keys.iter().any(|k| k.is_ecs() && k.service() == service);
    Ok(if on_ecs {
        Some(key_of(&releases, service)?)
    } else {
        None
    })
}

/// The ECS services of the state folder when it has no Docker app.
pub fn ecs_only(state: &StateArgs) -> anyhow::Result<Vec<ServiceKey>> {
    let db = database(&state.dir());
    if !db.exists() {
        return Ok(Vec::new());
    }
    let keys = SqliteReleases::open_read_only(&db)?.keys()?;
    if keys.iter().any(|k| !k.is_ecs()) {
        return Ok(Vec::new());
    }
    Ok(keys)
}

pub fn key_of(releases: &dyn Releases, service: &str) -> anyhow::Result<ServiceKey> {
    if service.starts_with("ecs/") {
        return Ok(service.parse()?);
    }
    let keys: Vec<ServiceKey> = releases
        .keys()?
        .into_iter()
        .filter(|k| k.is_ecs() && k.service() == service)
        .collect();
    match keys.as_slice() {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!("no ECS service {service} was deployed from this state folder; `windlass releases` lists what was"),
        many => anyhow::bail!(
            "{service} is on several clusters: name one of {}",
            many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Prints how a deploy or rollback ended and where its time went; returns
/// the exit code it means.
fn print(name: &str, report: &Report) -> u8 {
    let t = &report.timing;
    for (state, count, millis) in &t.states {
        eprintln!("  {state:<20} {count:>3}x {millis:>7} ms");
    }
    eprintln!(
        "{name}: release {} revision {} ({} ms build, {} ms push, {} ms execution: {} ms AWS calls, {} ms polling waits, {} ms windlass)",
        report.release,
        report.revision.as_deref().unwrap_or("-"),
        t.build_millis, t.push_millis, t.execution_millis, t.aws_millis, t.wait_millis, t.windlass_millis()
    );
    match (&report.status, &report.error) {
        (Status::Succeeded, _) => {
            eprintln!("{name}: live");
            exit::OK
        }
        (_, Some((error, cause))) => {
            let what = if report.rolled_back() {
                "rolled back to the previous revision"
            } else {
                "failed"
            };
            eprintln!("{name}: {what}: {error}: {cause}");
            if let Some(code) = cause.split("Error Code: ").nth(1) {
                let code: String = code.chars().take_while(|c| c.is_alphanumeric()).collect();
                let cluster = report.key.app().trim_start_matches("ecs/");
                let resource = if code.starts_with("ClusterNotFound") {
                    format!("cluster {cluster}")
                } else {
                    format!("ECS service {} on cluster {cluster}", report.key.service())
                };
                eprintln!(
                    "  what to do: {}",
                    advice(&format!("execution {}", report.execution), &resource, &code)
                );
            }
            if report.rolled_back() {
                exit::ROLLED_BACK
            } else {
                exit::FAILED
            }
        }
        _ => exit::FAILED,
    }
}

/// `status --target ecs SERVICE`: the ECS service's deployments.
pub fn status(service: &str, state: &StateArgs) -> anyhow::Result<u8> {
    let db = database(&state.dir());
    let releases = SqliteReleases::open(&db)?;
    let key = key_of(&releases, service)?;
    let text = key.to_string();
    let mut parts = text.splitn(3, '/').skip(1);
    let (Some(cluster), Some(name)) = (parts.next(), parts.next()) else {
        anyhow::bail!("{key} is not ecs/CLUSTER/SERVICE");
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = Client::new(Config::from_env());
    let ecs = Model::of(Service::named("ecs").context("no ECS model")?)?;
    let answer = tokio
        .block_on(client.call(
            &ecs,
            "describeServices",
            &json!({ "Cluster": cluster, "Services": [name] }),
            None,
        ))
        .map_err(|e| {
            windlass_deploy::target::ecs::error::Error::aws(
                "ecs:DescribeServices",
                format!("service {name} on cluster {cluster}"),
                e,
            )
        })?;
    let live = releases.live(&key)?;
    println!(
        "{key}: live release {}",
        live.as_ref().map_or("-", |l| l.release.as_str())
    );
    let store = SqliteStore::open(&db, Durability::Full)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    match pending(&store, &releases, &key, now)? {
        Pending::Nothing => {}
        Pending::Running(lock) => println!(
            "  deploying now: execution {} of windlass process {} on host {}",
            lock.holder,
            lock.pid,
            if lock.host.is_empty() {
                "this one"
            } else {
                &lock.host
            }
        ),
        Pending::Interrupted(unfinished) => {
            let what = match unfinished.origin.action {
                Action::Deploy => format!("the deploy of release {}", unfinished.release.id),
                Action::Rollback => format!("the rollback to release {}", unfinished.release.id),
            };
            println!(
                "  interrupted: {what} started at {} (execution {}); its windlass process is gone: `windlass deploy --target ecs` or `windlass rollback --target ecs {name}` resumes it first",
                format_timestamp(unfinished.started_millis),
                unfinished.execution
            );
        }
    }
    for deployment in answer["Services"][0]["Deployments"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  {} {} {} running {}/{} {}",
            deployment["Status"].as_str().unwrap_or("?"),
            deployment["TaskDefinition"].as_str().unwrap_or("?"),
            deployment["RolloutState"].as_str().unwrap_or("-"),
            deployment["RunningCount"],
            deployment["DesiredCount"],
            deployment["RolloutStateReason"].as_str().unwrap_or("")
        );
    }
    // The tasks themselves: what runs, whatever the deployment records
    // say (a local emulator never finishes them).
    let tasks = tokio.block_on(running_tasks(&client, &ecs, cluster, name));
    match tasks {
        Ok(tasks) if tasks.is_empty() => println!("  tasks: none running"),
        Ok(tasks) => {
            for (revision, states) in tasks {
                println!("  tasks of {revision}: {}", states.join(", "));
            }
        }
        Err(e) => println!("  tasks: not listed ({e})"),
    }
    Ok(exit::OK)
}

/// The service's RUNNING tasks by revision, each `RUNNING` or
/// `RUNNING/HEALTHY` (its health when ECS knows it).
async fn running_tasks(
    client: &Client,
    ecs: &Model,
    cluster: &str,
    name: &str,
) -> Result<std::collections::BTreeMap<String, Vec<String>>, windlass_aws::Error> {
    let listed = client
        .call(
            ecs,
            "listTasks",
            &json!({ "Cluster": cluster, "ServiceName": name, "DesiredStatus": "RUNNING" }),
            None,
        )
        .await?;
    let mut out = std::collections::BTreeMap::<String, Vec<String>>::new();
    let arns = listed["TaskArns"].as_array().cloned().unwrap_or_default();
    if arns.is_empty() {
        return Ok(out);
    }
    let described = client
        .call(
            ecs,
            "describeTasks",
            &json!({ "Cluster": cluster, "Tasks": arns }),
            None,
        )
        .await?;
    for task in described["Tasks"].as_array().into_iter().flatten() {
        let revision = task["TaskDefinitionArn"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        let mut state = task["LastStatus"].as_str().unwrap_or("?").to_string();
        if let Some(health) = task["HealthStatus"].as_str().filter(|h| *h != "UNKNOWN") {
            state = format!("{state}/{health}");
        }
        out.entry(revision).or_default().push(state);
    }
    Ok(out)
}
