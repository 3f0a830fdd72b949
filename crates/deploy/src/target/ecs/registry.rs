//! The service's image in ECR: the repository made when missing, the
//! registry's credentials from GetAuthorizationToken, the push, and the
//! digest ECR recorded, by which the task definition pins the image.

use base64::Engine;
use serde_json::{json, Value as Json};
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};

use super::error::Error;
use crate::backend::{Backend, RegistryAuth};

/// An image in ECR, pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `REGISTRY/REPOSITORY`.
    pub repository_uri: String,
    pub digest: String,
}

impl Pushed {
    /// `REGISTRY/REPOSITORY@sha256:...`, what the task definition runs.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.repository_uri, self.digest)
    }
}

fn ecr() -> Result<std::sync::Arc<Model>, Error> {
    let service = Service::named("ecr")
        .ok_or_else(|| Error::Runtime("windlass-aws has no ECR model".into()))?;
    Model::of(service).map_err(|e| Error::Runtime(e.to_string()))
}

/// The repository's URI, creating the repository when it does not exist.
pub async fn repository(client: &Client, name: &str) -> Result<String, Error> {
    let model = ecr()?;
    let found = client
        .call(
            &model,
            "describeRepositories",
            &json!({ "RepositoryNames": [name] }),
            None,
        )
        .await;
    let answer = match found {
        Ok(answer) => answer["Repositories"][0].clone(),
        Err(windlass_aws::Error::Service { code, .. }) if code.contains("RepositoryNotFound") => {
            client
                .call(
                    &model,
                    "createRepository",
                    &json!({ "RepositoryName": name, "ImageTagMutability": "MUTABLE" }),
                    None,
                )
                .await
                .map_err(|e| Error::aws("ecr:CreateRepository", format!("repository {name}"), e))?
                ["Repository"]
                .clone()
        }
        Err(e) => {
            return Err(Error::aws(
                "ecr:DescribeRepositories",
                format!("repository {name}"),
                e,
            ))
        }
    };
    answer["RepositoryUri"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Aws {
            call: "ecr:DescribeRepositories",
            resource: format!("repository {name}"),
            reason: format!("the answer has no repositoryUri: {answer}"),
            advice: "check that the endpoint is ECR".into(),
        })
}

/// The credentials `docker push` needs for the registry of `uri`.
pub async fn credentials(client: &Client, uri: &str) -> Result<RegistryAuth, Error> {
    let server = uri.split('/').next().unwrap_or(uri).to_string();
    let answer = client
        .call(&*ecr()?, "getAuthorizationToken", &json!({}), None)
        .await
        .map_err(|e| Error::aws("ecr:GetAuthorizationToken", format!("registry {server}"), e))?;
    let bad = |reason: String| Error::Aws {
        call: "ecr:GetAuthorizationToken",
        resource: format!("registry {server}"),
        reason,
        advice: "check that the endpoint is ECR".into(),
    };
    let token = answer["AuthorizationData"][0]["AuthorizationToken"]
        .as_str()
        .ok_or_else(|| bad(format!("no authorizationToken in {answer}")))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|e| bad(format!("the token is not base64: {e}")))?;
    let text =
        String::from_utf8(decoded).map_err(|e| bad(format!("the token is not text: {e}")))?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| bad("the token is not USER:PASSWORD".into()))?;
    Ok(RegistryAuth {
        username: username.into(),
        password: password.into(),
        server,
    })
}

/// Tags the local image `local` as `URI:tag`, pushes it with ECR's
/// credentials and returns the digest ECR recorded for the tag.
pub async fn push(
    backend: &dyn Backend,
    client: &Client,
    service: &str,
    repository_name: &str,
    local: &str,
    tag: &str,
) -> Result<Pushed, Error> {
    let uri = repository(client, repository_name).await?;
    let auth = credentials(client, &uri).await?;
    let reference = format!("{uri}:{tag}");
    let image = |what: &'static str| {
        move |e: crate::backend::Error| Error::Image {
            service: service.into(),
            what,
            reason: e.to_string(),
        }
    };
    backend
        .tag_image(local, &reference)
        .await
        .map_err(image("tagged for ECR"))?;
    backend
        .push_image(&reference, Some(&auth))
        .await
        .map_err(image("pushed to ECR"))?;
    let described = client
        .call(
            &*ecr()?,
            "describeImages",
            &json!({ "RepositoryName": repository_name, "ImageIds": [{ "ImageTag": tag }] }),
            None,
        )
        .await
        .map_err(|e| Error::aws("ecr:DescribeImages", reference.clone(), e))?;
    let digest = described["ImageDetails"][0]["ImageDigest"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Aws {
            call: "ecr:DescribeImages",
            resource: reference.clone(),
            reason: format!(
                "ECR has no digest for the tag just pushed: {}",
                Json::to_string(&described)
            ),
            advice: "push again; if it persists, check the registry".into(),
        })?;
    Ok(Pushed {
        repository_uri: uri,
        digest,
    })
}
