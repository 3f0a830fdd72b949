//! Builds an image on the engine: with BuildKit whenever the engine has it
//! (a Linux engine of API 1.39 or later, reached on its socket), else with
//! the classic builder. BuildKit's build goes through the Engine API's
//! `POST /build?version=2` with the context as a tar body; build secrets
//! and SSH agents are served over a BuildKit session (`session.rs`). Local
//! named contexts would need the session's file sync and frontend options
//! the Engine API does not pass, so `compose::fields` refuses them. Its
//! progress is shown a step at a time and a failed step is reported at its
//! Dockerfile's file:line.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures_util::StreamExt;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::endpoint::{Endpoint, Lines};
use super::{dockerfile, engine, session, tar_context, trace, Docker};
use crate::backend::{BuildOptions, BuildSpec, Error, FileContent, Note};

/// Which builder the engine gives windlass.
#[derive(Debug, Clone, PartialEq)]
pub enum Builder {
    BuildKit(Endpoint),
    Classic,
}

/// The first API version whose engines build with BuildKit (Docker 18.09).
const BUILDKIT_API: (usize, usize) = (1, 39);

/// One line of the build's answer.
#[derive(Debug, Deserialize)]
struct Message {
    id: Option<String>,
    stream: Option<String>,
    aux: Option<serde_json::Value>,
    #[serde(rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

impl Docker {
    /// The builder for this engine, found out once.
    pub(super) async fn builder(&self) -> Builder {
        self.builder
            .get_or_init(|| async {
                let Some(endpoint) = self.endpoint.clone() else {
                    return Builder::Classic;
                };
                let linux = match self.client.version().await {
                    Ok(version) => version.os.is_some_and(|os| os == "linux"),
                    Err(err) => {
                        tracing::warn!(%err, "cannot read the engine's version; building with the classic builder");
                        false
                    }
                };
                if linux && self.speaks(BUILDKIT_API) {
                    Builder::BuildKit(endpoint)
                } else {
                    Builder::Classic
                }
            })
            .await
            .clone()
    }

    pub(super) async fn build(
        &self,
        spec: &BuildSpec,
        options: &BuildOptions,
        note: &Note,
    ) -> Result<String, Error> {
        let context = spec.context.clone();
        let dockerfile = spec
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".into());
        let archive = tokio::task::spawn_blocking(move || tar_context(&context, &dockerfile))
            .await
            .map_err(|e| Error::Context {
                context: spec.context.clone(),
                message: e.to_string(),
            })??;
        let failed = |message: String| Error::Build {
            tag: spec.tag.clone(),
            message,
        };
        match self.builder().await {
            Builder::BuildKit(endpoint) => {
                tracing::debug!(tag = %spec.tag, "building with BuildKit");
                let api = self.client.client_version().to_string();
                let mut path = format!("/v{api}/build?{}", query(spec, options));
                let mut session = None;
                if !spec.secrets.is_empty() || !spec.ssh.is_empty() {
                    let secrets = read_secrets(spec).map_err(failed)?;
                    let opened = session::open(&endpoint, &api, secrets, spec.ssh.clone())
                        .await
                        .map_err(|e| failed(format!("cannot open a BuildKit session for the build's secrets and SSH agents: {e}")))?;
                    path.push_str(&format!("&session={}", opened.id));
                    session = Some(opened);
                }
                let built = buildkit(&endpoint, &path, archive, spec, note).await;
                drop(session);
                built
            }
            Builder::Classic if !spec.secrets.is_empty() || !spec.ssh.is_empty() => Err(failed(
                "build secrets and SSH agents (build.ssh) need BuildKit, and this engine builds with the classic builder only (BuildKit needs a Linux engine of API 1.39 or later, reached on a unix or plain tcp socket)".into(),
            )),
            Builder::Classic => self.classic(spec, options, archive, note).await,
        }
    }

    async fn classic(
        &self,
        spec: &BuildSpec,
        build: &BuildOptions,
        archive: Vec<u8>,
        note: &Note,
    ) -> Result<String, Error> {
        let args: HashMap<&String, &String> = spec.args.iter().collect();
        let labels: HashMap<&String, &String> = spec.labels.iter().collect();
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(spec.dockerfile.as_deref().unwrap_or("Dockerfile"))
            .t(&spec.tag)
            .rm(true)
            .forcerm(true)
            .buildargs(&args)
            .labels(&labels)
            .version(BuilderVersion::BuilderV1);
        if let Some(target) = &build.target {
            options = options.target(target);
        }
        if !build.cache_from.is_empty() {
            options = options.cachefrom(&build.cache_from);
        }
        if let Some(network) = &build.network {
            options = options.networkmode(network);
        }
        if let Some(size) = build.shm_size {
            options = options.shmsize(i32::try_from(size).unwrap_or(i32::MAX));
        }
        let options = options.build();
        let mut stream =
            self.client
                .build_image(options, None, Some(bollard::body_full(archive.into())));
        let mut output = String::new();
        let mut image_id = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| Error::Build {
                tag: spec.tag.clone(),
                message: e.to_string(),
            })?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(Error::Build {
                    tag: spec.tag.clone(),
                    message: format!("{detail}\n{output}"),
                });
            }
            if let Some(line) = info.stream {
                if line.starts_with("Step ") {
                    note(&line);
                }
                output.push_str(&line);
            }
            if let Some(id) = info.aux.and_then(|aux| aux.id) {
                image_id = Some(id);
            }
        }
        match image_id {
            Some(id) => Ok(id),
            None => self.image_id(&spec.tag).await,
        }
    }

    async fn image_id(&self, tag: &str) -> Result<String, Error> {
        let image = self
            .client
            .inspect_image(tag)
            .await
            .map_err(engine("inspect image", tag))?;
        Ok(image.id.unwrap_or_default())
    }
}

/// The bytes of each build secret, by id.
fn read_secrets(spec: &BuildSpec) -> Result<BTreeMap<String, Vec<u8>>, String> {
    spec.secrets
        .iter()
        .map(|(id, content)| match content {
            FileContent::Bytes(bytes) => Ok((id.clone(), bytes.clone())),
            FileContent::Path(path) => std::fs::read(path)
                .map(|bytes| (id.clone(), bytes))
                .map_err(|e| format!("cannot read build secret {id} from {}: {e}", path.display())),
        })
        .collect()
}

/// The build's settings as the build API's query.
fn query(spec: &BuildSpec, options: &BuildOptions) -> String {
    let json = |value: serde_json::Value| value.to_string();
    let mut pairs = vec![
        ("version", "2".to_owned()),
        ("t", spec.tag.clone()),
        (
            "dockerfile",
            spec.dockerfile
                .clone()
                .unwrap_or_else(|| "Dockerfile".into()),
        ),
        ("rm", "1".into()),
        ("forcerm", "1".into()),
        ("buildargs", json(serde_json::json!(spec.args))),
        ("labels", json(serde_json::json!(spec.labels))),
    ];
    if let Some(target) = &options.target {
        pairs.push(("target", target.clone()));
    }
    if !options.cache_from.is_empty() {
        pairs.push(("cachefrom", json(serde_json::json!(options.cache_from))));
    }
    if let Some(network) = &options.network {
        pairs.push(("networkmode", network.clone()));
    }
    if let Some(size) = options.shm_size {
        pairs.push(("shmsize", size.to_string()));
    }
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", utf8_percent_encode(value, NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Runs a BuildKit build and follows its answer to the image's id.
async fn buildkit(
    endpoint: &Endpoint,
    path: &str,
    archive: Vec<u8>,
    spec: &BuildSpec,
    note: &Note,
) -> Result<String, Error> {
    let failed = |message: String| Error::Build {
        tag: spec.tag.clone(),
        message,
    };
    let response = endpoint.post(path, archive).await.map_err(failed)?;
    let status = response.status();
    let mut lines = Lines::new(response.into_body());
    if !status.is_success() {
        let mut text = String::new();
        while let Some(Ok(line)) = lines.next().await {
            text.push_str(&String::from_utf8_lossy(&line));
        }
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or(text);
        return Err(failed(located(spec, None, message.trim())));
    }
    let mut progress = trace::Progress::default();
    let mut image_id = None;
    while let Some(line) = lines.next().await {
        let line = line.map_err(failed)?;
        let Ok(message) = serde_json::from_slice::<Message>(&line) else {
            continue;
        };
        if let Some(error) = message
            .error_detail
            .and_then(|d| d.message)
            .or(message.error)
        {
            return Err(failed(located(spec, progress.failed(), &error)));
        }
        match (message.id.as_deref(), message.aux) {
            (Some("moby.buildkit.trace"), Some(serde_json::Value::String(aux))) => {
                if let Some(status) = trace::decode(&aux) {
                    for shown in progress.update(status) {
                        note(&shown);
                    }
                }
            }
            (Some("moby.image.id"), Some(aux)) => {
                image_id = aux.get("ID").and_then(|id| id.as_str()).map(str::to_owned);
            }
            _ => {}
        }
        // An engine that took version=2 for the classic builder says so
        // in `stream` lines.
        if let Some(line) = message.stream {
            if line.starts_with("Step ") {
                note(&line);
            }
        }
    }
    image_id.ok_or_else(|| failed("the engine ended the build without an image id".into()))
}

/// BuildKit's error, at the Dockerfile's file:line when the failed step (or
/// the error) says which instruction it was, with the end of the step's
/// output.
fn located(spec: &BuildSpec, failed: Option<trace::Failed>, error: &str) -> String {
    let file = spec
        .context
        .join(spec.dockerfile.as_deref().unwrap_or("Dockerfile"));
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let line = failed
        .as_ref()
        .and_then(|f| dockerfile::locate(&text, &f.step))
        .or_else(|| dockerfile::line_in_error(error));
    let mut message = match line {
        Some(line) => format!("{}:{line}: ", shown(&file)),
        None => String::new(),
    };
    if let Some(step) = failed.as_ref().map(|f| f.step.as_str()) {
        let instruction = step.split_once("] ").map_or(step, |(_, rest)| rest);
        if !instruction.is_empty() {
            message.push_str(&format!("`{instruction}`: "));
        }
    }
    message.push_str(error);
    if let Some(output) = failed.map(|f| f.output).filter(|o| !o.is_empty()) {
        let lines: Vec<&str> = output.lines().collect();
        let tail = &lines[lines.len().saturating_sub(20)..];
        message.push('\n');
        message.push_str(&tail.join("\n"));
    }
    message
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_carries_every_setting_encoded() {
        let spec = BuildSpec {
            context: "/nowhere".into(),
            dockerfile: Some("docker/Dockerfile.prod".into()),
            args: BTreeMap::from([("A".into(), "1 2".into())]),
            tag: "windlass/web:r1".into(),
            ..BuildSpec::default()
        };
        let options = BuildOptions {
            target: Some("prod".into()),
            cache_from: vec!["web:cache".into()],
            network: Some("host".into()),
            shm_size: Some(1 << 20),
        };
        assert_eq!(
            query(&spec, &options),
            "version=2&t=windlass%2Fweb%3Ar1&dockerfile=docker%2FDockerfile%2Eprod&rm=1&forcerm=1\
             &buildargs=%7B%22A%22%3A%221%202%22%7D&labels=%7B%7D&target=prod\
             &cachefrom=%5B%22web%3Acache%22%5D&networkmode=host&shmsize=1048576"
        );
    }

    #[test]
    fn a_failed_step_is_reported_at_its_line_with_its_output() {
        let dir = std::env::temp_dir().join(format!("windlass-located-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("Dockerfile"), "FROM base\nRUN make \\\n  all\n").expect("write");
        let spec = BuildSpec {
            context: dir.clone(),
            ..BuildSpec::default()
        };
        let failed = trace::Failed {
            step: "[2/2] RUN make   all".into(),
            error: "exit code: 2".into(),
            output: "make: *** No rule to make target 'all'.".into(),
        };
        let message = located(&spec, Some(failed), "executor failed running: exit code: 2");
        assert_eq!(
            message,
            format!(
                "{}:2: `RUN make   all`: executor failed running: exit code: 2\nmake: *** No rule to make target 'all'.",
                dir.join("Dockerfile").display()
            )
        );
        let parse = located(
            &spec,
            None,
            "dockerfile parse error line 3: unknown instruction: ALL",
        );
        assert!(
            parse.starts_with(&format!("{}:3: ", dir.join("Dockerfile").display())),
            "{parse}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
