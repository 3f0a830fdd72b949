//! Running a command in a running container with the engine's exec API,
//! attached to its output, and reading its exit code once it ends.

use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::engine;
use crate::backend::{Error, ExecOutcome, ExecSpec};

/// How much of the command's output is kept for a message, in bytes.
const KEPT_OUTPUT: usize = 2000;

pub(super) async fn run(
    client: &bollard::Docker,
    id: &str,
    spec: &ExecSpec,
) -> Result<ExecOutcome, Error> {
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(spec.command.clone()),
        env: (!spec.env.is_empty()).then(|| spec.env.clone()),
        user: spec.user.clone(),
        working_dir: spec.working_dir.clone(),
        privileged: Some(spec.privileged),
        ..Default::default()
    };
    let created = client
        .create_exec(id, options)
        .await
        .map_err(engine("exec in container", id))?;
    let mut output = String::new();
    // Attached, the call returns once the command's output ends.
    if let StartExecResults::Attached {
        output: mut stream, ..
    } = client
        .start_exec(&created.id, None)
        .await
        .map_err(engine("exec in container", id))?
    {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(engine("exec in container", id))?;
            output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            keep_end(&mut output);
        }
    }
    let ended = client
        .inspect_exec(&created.id)
        .await
        .map_err(engine("exec in container", id))?;
    Ok(ExecOutcome {
        exit_code: ended.exit_code.unwrap_or(-1),
        output,
    })
}

/// Cuts `text` to its last [`KEPT_OUTPUT`] bytes, at a character boundary.
fn keep_end(text: &mut String) {
    if text.len() <= KEPT_OUTPUT {
        return;
    }
    let mut start = text.len() - KEPT_OUTPUT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.drain(..start);
}
