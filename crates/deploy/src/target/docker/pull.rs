//! Where a release's image comes from, by the service's `pull_policy`, as
//! Docker Compose decides it: first whether to pull the image `image`
//! names (`always`; `missing` and `daily`/`weekly`/`every_N` when the
//! engine lacks it or its copy is older than that; never for `never` and
//! `build`), a failed pull being no error when the service can be built;
//! then whether to build (`build`: every time; else when the engine still
//! lacks the image). A service with `build` and no `image` is built at
//! every deploy (Compose's `up --build`): nothing else names its image.

use windlass_asl::Failure;

use super::DockerTarget;
use crate::compose::PullPolicy;
use crate::failures;
use crate::target::ReleaseContext;

/// What the engine has of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    Missing,
    /// Present, tagged at this time (ms since the epoch) when known.
    Present(Option<i64>),
}

/// Whether to pull before anything else.
pub fn must_pull(policy: PullPolicy, local: Local, now_millis: i64) -> bool {
    match (policy, local) {
        (PullPolicy::Always, _) => true,
        (PullPolicy::Never | PullPolicy::Build, _) => false,
        (PullPolicy::Missing, local) => local == Local::Missing,
        (PullPolicy::Refresh(_), Local::Missing | Local::Present(None)) => true,
        (PullPolicy::Refresh(every), Local::Present(Some(tagged))) => {
            let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
            now_millis.saturating_sub(tagged) > every
        }
    }
}

/// Where the release's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Build it (and tag it as `image`, when the service names one).
    Build,
    /// The engine's image of this name, pulled or not.
    Image(String),
}

/// Decides, pulling on the way when the policy says so.
pub(super) async fn source(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Source, Failure> {
    let spec = &release.spec;
    let buildable = spec.build.is_some();
    let Some(image) = spec.image.as_deref() else {
        if buildable {
            return Ok(Source::Build);
        }
        return Err(failures::input(format!(
            "service {} has neither image nor build",
            release.service
        )));
    };
    let policy = spec.pull_policy;
    if policy == PullPolicy::Build {
        if buildable {
            return Ok(Source::Build);
        }
        return Err(failures::input(format!("service {} has `pull_policy: build` and no `build`: add one, or pull with `missing` or `always`", release.service)));
    }
    let local = match target.backend.image_tagged_millis(image).await {
        Ok(tagged) => Local::Present(tagged),
        Err(_) => Local::Missing,
    };
    let mut present = local != Local::Missing;
    if must_pull(policy, local, target.clock.now_millis()) {
        let note = target.notes.for_service(&release.key);
        let pulled = target
            .backend
            .pull_image_noting(image, target.config.credentials.for_image(image), &note)
            .await;
        target.notes.clear(&release.key);
        match pulled {
            Ok(()) => present = true,
            Err(err) if buildable => {
                tracing::info!(service = %release.service, %image, %err, "the pull failed; the service has `build`, so it is built");
            }
            Err(err) if present => {
                tracing::warn!(service = %release.service, %image, %err, "the pull failed; the engine's image is used");
            }
            Err(err) => {
                return Err(Failure::new(
                    failures::IMAGE,
                    format!("image {image} is not on this machine and cannot be pulled: {err}"),
                ))
            }
        }
    }
    match (present, buildable) {
        (true, _) => Ok(Source::Image(image.to_owned())),
        (false, true) => Ok(Source::Build),
        (false, false) => Err(Failure::new(
            failures::IMAGE,
            format!("image {image} is not on this machine, and `pull_policy: never` keeps windlass from pulling it: pull it, or allow a pull with `missing`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::agent::{Agent, DeployRequest};
    use crate::test_util::FakeBackend;
    use windlass_engine::Status;
    use windlass_store::memory::MemoryStore;
    use windlass_store::releases::SqliteReleases;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn pulls_as_compose_decides() {
        let daily = PullPolicy::Refresh(Duration::from_secs(24 * 3600));
        let now = 100 * HOUR;
        let cases = [
            (PullPolicy::Missing, Local::Missing, true),
            (PullPolicy::Missing, Local::Present(None), false),
            (PullPolicy::Always, Local::Present(Some(now)), true),
            (PullPolicy::Always, Local::Missing, true),
            (PullPolicy::Never, Local::Missing, false),
            (PullPolicy::Build, Local::Missing, false),
            (daily, Local::Missing, true),
            (daily, Local::Present(None), true),
            (daily, Local::Present(Some(now - 23 * HOUR)), false),
            (daily, Local::Present(Some(now - 25 * HOUR)), true),
        ];
        for (policy, local, pull) in cases {
            assert_eq!(must_pull(policy, local, now), pull, "{policy} {local:?}");
        }
    }

    /// Deploys service `web` (a worker: `image` and `pull_policy` as given,
    /// `build: .` when `build`) on `backend`; returns how the deploy ended
    /// and the image calls it made, without the reads.
    async fn deploy(backend: &Arc<FakeBackend>, service: &str) -> (Status, Vec<String>) {
        static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("windlass-pull-{}-{case}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
        let windlass = match service.contains("x-windlass") {
            true => "",
            false => "    x-windlass: {watch: 0s}\n",
        };
        let text = format!("services:\n  web:\n{service}{windlass}");
        let agent = Agent::new(
            Arc::new(MemoryStore::new()),
            Arc::new(SqliteReleases::in_memory().expect("releases")),
            Arc::clone(backend) as Arc<dyn crate::Backend>,
            crate::workflow::Config::default(),
        );
        agent.resume().await.expect("resume");
        let started = agent
            .deploy(DeployRequest {
                compose_file: dir.join("compose.yaml").display().to_string(),
                compose_text: text,
                by: "test".into(),
                ..Default::default()
            })
            .await
            .expect("deploy starts");
        let finished = agent
            .runtime()
            .wait(&started[0].execution)
            .await
            .expect("deploy ends");
        let _ = std::fs::remove_dir_all(&dir);
        // The release's own tag (windlass/INSTALLATION/APP/web:r1) reads `release`.
        let calls = backend
            .calls()
            .into_iter()
            .map(|call| {
                call.split(' ')
                    .map(
                        |word| match word.starts_with("windlass/") && word.ends_with("/web:r1") {
                            true => "release",
                            false => word,
                        },
                    )
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|c| {
                ["pull_image", "build_image", "push_image"]
                    .iter()
                    .any(|op| c.starts_with(op))
                    || c.starts_with("tag_image web")
            })
            .collect();
        (finished.status, calls)
    }

    fn with(image: &str, policy: Option<&str>, build: bool) -> String {
        let mut service = format!("    image: {image}\n");
        if let Some(policy) = policy {
            service.push_str(&format!("    pull_policy: {policy}\n"));
        }
        if build {
            service.push_str("    build: .\n");
        }
        service
    }

    #[tokio::test]
    async fn missing_takes_the_engines_image_else_pulls_else_builds() {
        let present = Arc::new(FakeBackend::new());
        present.add_image("web:1");
        let (status, calls) = deploy(&present, &with("web:1", None, true)).await;
        assert_eq!(status, Status::Succeeded);
        assert_eq!(calls, vec!["tag_image web:1 release"]);

        let pullable = Arc::new(FakeBackend::new());
        let (status, calls) = deploy(&pullable, &with("web:1", Some("missing"), true)).await;
        assert_eq!(status, Status::Succeeded);
        assert_eq!(calls, vec!["pull_image web:1", "tag_image web:1 release"]);

        let unpullable = Arc::new(FakeBackend::new());
        unpullable.unpullable("web:1");
        let (status, calls) = deploy(&unpullable, &with("web:1", None, true)).await;
        assert_eq!(status, Status::Succeeded);
        assert_eq!(
            calls,
            vec!["pull_image web:1", "build_image release"],
            "built, then named `image`: {calls:?}"
        );
        assert!(unpullable
            .calls()
            .iter()
            .any(|c| c.starts_with("tag_image windlass/") && c.ends_with("/web:r1 web:1")));
    }

    #[tokio::test]
    async fn build_always_builds_and_never_never_pulls() {
        let backend = Arc::new(FakeBackend::new());
        backend.add_image("web:1");
        let (status, calls) = deploy(&backend, &with("web:1", Some("build"), true)).await;
        assert_eq!(status, Status::Succeeded);
        assert_eq!(calls, vec!["build_image release"]);

        let backend = Arc::new(FakeBackend::new());
        let (status, calls) = deploy(&backend, &with("web:1", Some("never"), true)).await;
        assert_eq!(status, Status::Succeeded);
        assert_eq!(calls, vec!["build_image release"]);

        let backend = Arc::new(FakeBackend::new());
        let (status, calls) = deploy(&backend, &with("web:1", Some("never"), false)).await;
        assert_eq!(status, Status::Failed, "nothing to run: {calls:?}");
        assert_eq!(calls, Vec::<String>::new());
    }

    #[tokio::test]
    async fn always_pulls_and_keeps_the_engines_image_when_the_pull_fails() {
        let backend = Arc::new(FakeBackend::new());
        backend.add_image("web:1");
        let (status, calls) = deploy(&backend, &with("web:1", Some("always"), false)).await;
        assert_eq!(status, Status::Succeeded);
        assert_eq!(calls, vec!["pull_image web:1", "tag_image web:1 release"]);

        let backend = Arc::new(FakeBackend::new());
        backend.add_image("web:1");
        backend.unpullable("web:1");
        let (status, calls) = deploy(&backend, &with("web:1", Some("always"), true)).await;
        assert_eq!(status, Status::Succeeded);
        assert_eq!(calls, vec!["pull_image web:1", "tag_image web:1 release"]);
    }

    #[tokio::test]
    async fn daily_pulls_an_image_tagged_more_than_a_day_ago() {
        let now = windlass_runtime::Clock::now_millis(&windlass_runtime::SystemClock);
        let fresh = Arc::new(FakeBackend::new());
        fresh.add_image_tagged_at("web:1", now - HOUR);
        let (_, calls) = deploy(&fresh, &with("web:1", Some("daily"), false)).await;
        assert_eq!(calls, vec!["tag_image web:1 release"]);

        let stale = Arc::new(FakeBackend::new());
        stale.add_image_tagged_at("web:1", now - 25 * HOUR);
        let (status, calls) = deploy(&stale, &with("web:1", Some("every_24h"), false)).await;
        assert_eq!(status, Status::Succeeded);
        assert_eq!(calls, vec!["pull_image web:1", "tag_image web:1 release"]);
    }

    #[tokio::test]
    async fn an_image_on_a_registry_is_pushed_only_when_asked() {
        let image = "registry.example.com/team/web";
        let backend = Arc::new(FakeBackend::new());
        backend.unpullable(image);
        let (status, calls) = deploy(&backend, &with(image, None, true)).await;
        assert_eq!(status, Status::Succeeded);
        assert!(
            !calls.iter().any(|c| c.starts_with("push_image")),
            "{calls:?}"
        );

        let backend = Arc::new(FakeBackend::new());
        backend.unpullable(image);
        let asked = with(image, None, true) + "    x-windlass: {push: true, watch: 0s}\n";
        let (status, calls) = deploy(&backend, &asked).await;
        assert_eq!(status, Status::Succeeded);
        assert!(
            calls.contains(&format!("push_image {image}:r1")),
            "{calls:?}"
        );
    }
}
