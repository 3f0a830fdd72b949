//! A release's output on the Swarm, as `docker service logs` reads it: the
//! manager gathers every task's output, wherever it runs.

use futures_util::{Stream, StreamExt};
use windlass_store::releases::{Installation, ServiceKey};

use super::spec;

/// The output of release `release` of `key` (every task of its service),
/// its last `tail` lines (all by default); with `follow`, as it is written,
/// until the service is removed. Each item is a chunk of lines.
pub fn release_logs<'a>(
    docker: &'a bollard::Docker,
    installation: &Installation,
    key: &ServiceKey,
    release: &str,
    tail: Option<u32>,
    follow: bool,
) -> impl Stream<Item = Result<String, String>> + 'a {
    let name = spec::service_name(installation, key, release);
    let options = bollard::query_parameters::LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        tail: tail.map_or_else(|| "all".to_owned(), |n| n.to_string()),
        ..Default::default()
    };
    docker.service_logs(&name, Some(options)).map(move |chunk| {
        chunk
            .map(|output| output.to_string())
            .map_err(|e| format!("the logs of {name}: {e}"))
    })
}
