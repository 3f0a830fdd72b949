//! `x-windlass.retain`: releases beyond the newest N let go of their image
//! (their per-release tag is removed) and cannot be rolled back to; the
//! retained ones can.

mod support;

use windlass_deploy::agent::{Agent, Error, RollbackRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::Backend;
use windlass_engine::Status;

const SERVICE: &str = "wlretain";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_beyond_retain_are_pruned_and_cannot_be_rolled_back_to() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("retain");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, _) = support::agent(&docker).await;
    let result = scenario(&agent, &docker, &file, port).await;
    support::cleanup(&docker, SERVICE).await;
    result.expect("scenario");
}

async fn scenario(
    agent: &Agent,
    docker: &Docker,
    file: &std::path::Path,
    port: u16,
) -> Result<(), String> {
    for version in ["v1", "v2", "v3", "v4"] {
        let text = support::compose(SERVICE, port, &[("TESTAPP_VERSION", version)], "0s")
            + "      retain: 2\n";
        let (_, finished) = support::deploy(agent, file, SERVICE, text).await;
        if finished.status != Status::Succeeded {
            return Err(format!("{version}: {:?}", finished.outcome));
        }
    }
    let releases = agent
        .releases()
        .list(&agent.resolve(None, SERVICE).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let pruned: Vec<(&str, bool)> = releases
        .iter()
        .map(|r| (r.id.as_str(), r.pruned_millis.is_some()))
        .collect();
    assert_eq!(
        pruned,
        [("r4", false), ("r3", false), ("r2", true), ("r1", true)]
    );
    for (release, kept) in [("r1", false), ("r2", false), ("r3", true), ("r4", true)] {
        let key = agent.resolve(None, SERVICE).map_err(|e| e.to_string())?;
        let installation = agent.releases().installation().map_err(|e| e.to_string())?;
        let tag = windlass_deploy::target::docker::release_tag(&installation, &key, release);
        assert_eq!(
            docker.image_digests(&tag).await.is_ok(),
            kept,
            "{tag} should {}be on the engine",
            if kept { "" } else { "no longer " }
        );
    }
    let refused = agent
        .rollback(RollbackRequest {
            service: Some(SERVICE.into()),
            app: None,
            here: None,
            release: Some("r1".into()),
            by: "test@retain".into(),
        })
        .await;
    match refused {
        Err(Error::Pruned { release, .. }) => assert_eq!(release, "r1"),
        other => return Err(format!("rollback to a pruned release: {other:?}")),
    }
    let (_, finished) = support::rollback(agent, SERVICE, "r3").await?;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    let live = agent
        .releases()
        .live(&agent.resolve(None, SERVICE).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    assert_eq!(live.map(|l| l.release).as_deref(), Some("r3"));
    Ok(())
}
