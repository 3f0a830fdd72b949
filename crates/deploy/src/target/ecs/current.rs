//! What AWS has now for a service's plan, by read calls only
//! (DescribeRepositories, DescribeClusters, DescribeServices,
//! DescribeTaskDefinition): the deploy's first look, made before any
//! release is recorded or image built, so that missing credentials or a
//! missing cluster stop it with nothing changed, and what `deploy
//! --dry-run` plans from.

use serde_json::{json, Value as Json};
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};

use super::error::Error;
use super::plan::Plan;

/// The ECS service as it runs now.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    /// The revision the service runs (`TaskDefinition`).
    pub revision: String,
    pub desired_count: u64,
    pub launch_type: Option<String>,
}

/// What AWS has for a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    /// The ECR repository's URI, `None` when it does not exist yet.
    pub repository_uri: Option<String>,
    /// The service, `None` when there is none (or only an INACTIVE one).
    pub service: Option<Running>,
}

fn model(name: &str) -> Result<std::sync::Arc<Model>, Error> {
    let service = Service::named(name)
        .ok_or_else(|| Error::Runtime(format!("windlass-aws has no {name} model")))?;
    Model::of(service).map_err(|e| Error::Runtime(e.to_string()))
}

/// Reads what AWS has for `plan`. A missing or inactive cluster is an
/// error (ECS's own name for it, and what to do), as is any call refused.
pub async fn read(client: &Client, plan: &Plan) -> Result<Current, Error> {
    let ecr = model("ecr")?;
    let ecs = model("ecs")?;
    let repository = format!("repository {}", plan.repository);
    let repository_uri = match client
        .call(
            &ecr,
            "describeRepositories",
            &json!({ "RepositoryNames": [plan.repository] }),
            None,
        )
        .await
    {
        Ok(answer) => answer["Repositories"][0]["RepositoryUri"]
            .as_str()
            .map(str::to_string),
        Err(windlass_aws::Error::Service { code, .. }) if code.contains("RepositoryNotFound") => {
            None
        }
        Err(e) => return Err(Error::aws("ecr:DescribeRepositories", repository, e)),
    };
    let cluster = &plan.rollout.cluster;
    let clusters = client
        .call(
            &ecs,
            "describeClusters",
            &json!({ "Clusters": [cluster] }),
            None,
        )
        .await
        .map_err(|e| Error::aws("ecs:DescribeClusters", format!("cluster {cluster}"), e))?;
    let active = clusters["Clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["Status"] == "ACTIVE");
    if !active {
        return Err(Error::Aws {
            call: "ecs:DescribeClusters",
            resource: format!("cluster {cluster}"),
            reason: format!("ECS has no active cluster {cluster} (ClusterNotFoundException)"),
            advice: super::error::advice(
                "ecs:DescribeClusters",
                &format!("cluster {cluster}"),
                "ClusterNotFoundException",
            ),
        });
    }
    let services = client
        .call(
            &ecs,
            "describeServices",
            &json!({ "Cluster": cluster, "Services": [plan.rollout.service] }),
            None,
        )
        .await
        .map_err(|e| {
            Error::aws(
                "ecs:DescribeServices",
                format!("service {} on cluster {cluster}", plan.rollout.service),
                e,
            )
        })?;
    let service = services["Services"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["Status"] == "ACTIVE")
        .map(|s| Running {
            revision: s["TaskDefinition"].as_str().unwrap_or_default().to_string(),
            desired_count: s["DesiredCount"].as_u64().unwrap_or(0),
            launch_type: s["LaunchType"].as_str().map(str::to_string),
        });
    Ok(Current {
        repository_uri,
        service,
    })
}

/// The task definition of `revision` (DescribeTaskDefinition), as
/// RegisterTaskDefinition's PascalCase fields.
pub async fn task_definition(client: &Client, revision: &str) -> Result<Json, Error> {
    let answer = client
        .call(
            &*model("ecs")?,
            "describeTaskDefinition",
            &json!({ "TaskDefinition": revision }),
            None,
        )
        .await
        .map_err(|e| Error::aws("ecs:DescribeTaskDefinition", revision, e))?;
    Ok(answer["TaskDefinition"].clone())
}
