//! Writing a Map Run's results as AWS lays them out:
//! `<Prefix>/<map run id>/SUCCEEDED_0.json` (and `FAILED_0`, `PENDING_0`,
//! each only when it has entries), then `manifest.json` naming them.

use serde_json::{json, Value as Json};
use windlass_asl::distributed::OutputType;
use windlass_asl::failure::names::RESULT_WRITER_FAILED;
use windlass_asl::Failure;
use windlass_engine::map_run::WriteResults;

use super::{describe, S3};

/// Writes the files; the answer is the manifest's `{"Bucket", "Key"}`
/// (the state's `ResultWriterDetails`).
pub(super) async fn write(s3: &S3, write: &WriteResults) -> Result<Json, Failure> {
    let folder = write.folder();
    let extension = match write.output_type {
        OutputType::Json => "json",
        OutputType::Jsonl => "jsonl",
    };
    let mut listed = serde_json::Map::new();
    for (status, entries) in [
        ("FAILED", &write.failed),
        ("PENDING", &write.pending),
        ("SUCCEEDED", &write.succeeded),
    ] {
        let mut files = Vec::new();
        if !entries.is_empty() {
            let key = format!("{folder}{status}_0.{extension}");
            let body = content(entries, write.output_type);
            let size = body.len();
            put(s3, write, &key, body).await?;
            files.push(json!({ "Key": key, "Size": size }));
        }
        listed.insert(status.into(), Json::Array(files));
    }
    let manifest = json!({
        "DestinationBucket": write.bucket,
        "MapRunArn": write.map_run_arn,
        "ResultFiles": listed,
    });
    let key = format!("{folder}manifest.json");
    put(s3, write, &key, manifest.to_string()).await?;
    Ok(json!({ "Bucket": write.bucket, "Key": key }))
}

fn content(entries: &[Json], output_type: OutputType) -> String {
    match output_type {
        OutputType::Json => serde_json::to_string(entries).unwrap_or_default(),
        OutputType::Jsonl => {
            let mut text = String::new();
            for entry in entries {
                text.push_str(&entry.to_string());
                text.push('\n');
            }
            text
        }
    }
}

async fn put(s3: &S3, write: &WriteResults, key: &str, body: String) -> Result<(), Failure> {
    let input = json!({ "Bucket": write.bucket, "Key": key, "Body": body });
    s3.call("PutObject", &input).await.map(|_| ()).map_err(|e| {
        Failure::new(
            RESULT_WRITER_FAILED,
            format!(
                "The ResultWriter of state '{}' failed: writing s3://{}/{key} failed: {}",
                write.state_name,
                write.bucket,
                describe(e)
            ),
        )
    })
}
