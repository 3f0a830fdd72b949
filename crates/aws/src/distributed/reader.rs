//! Reading an ItemReader's items from S3: one object (`getObject` of
//! JSON, JSON Lines or CSV), the objects under a prefix (`listObjectsV2`,
//! every page), or the CSV files an S3 inventory manifest lists.

use std::io::Read;

use base64::Engine;
use serde_json::{json, Value as Json};
use windlass_asl::distributed::{InputType, ManifestType, ReaderSource};
use windlass_asl::failure::names::ITEM_READER_FAILED;
use windlass_asl::Failure;
use windlass_engine::map_run::ReadItems;

use super::{describe, items, S3};
use crate::protocol::values::timestamp;

pub(super) async fn read(s3: &S3, read: &ReadItems) -> Result<Vec<Json>, Failure> {
    let bucket = argument(read, "Bucket")?;
    match read.source {
        ReaderSource::GetObject => {
            let key = argument(read, "Key")?;
            if read.input_type == Some(InputType::Manifest) {
                return manifest(s3, read, &bucket, &key).await;
            }
            let body = get(s3, read, &read.arguments, &bucket, &key).await?;
            items::parse(&body, read).map_err(|reason| {
                failed(
                    read,
                    format!(
                        "the object s3://{bucket}/{key} is not valid {}: {reason}",
                        type_name(read.input_type)
                    ),
                )
            })
        }
        ReaderSource::ListObjectsV2 => list(s3, read, &bucket).await,
    }
}

/// Every object under the prefix, page after page, as AWS gives them to
/// the iterations: `Etag`, `Key`, `LastModified` (epoch seconds), `Size`,
/// `StorageClass`.
async fn list(s3: &S3, read: &ReadItems, bucket: &str) -> Result<Vec<Json>, Failure> {
    let limit = read.max_items.map_or(usize::MAX, |n| n as usize);
    let mut items = Vec::new();
    let mut input = read.arguments.clone();
    loop {
        let page = s3.call("ListObjectsV2", &input).await.map_err(|e| {
            failed(
                read,
                format!(
                    "listing s3://{bucket}/{} failed: {}",
                    prefix_of(read),
                    describe(e)
                ),
            )
        })?;
        for object in page["Contents"].as_array().into_iter().flatten() {
            if items.len() >= limit {
                return Ok(items);
            }
            let modified = timestamp(&object["LastModified"]).map(|d| d.unix_timestamp());
            items.push(json!({
                "Etag": object["ETag"],
                "Key": object["Key"],
                "LastModified": modified,
                "Size": object["Size"],
                "StorageClass": object["StorageClass"],
            }));
        }
        let token = page["NextContinuationToken"].as_str();
        match (page["IsTruncated"].as_bool(), token) {
            (Some(true), Some(token)) if items.len() < limit => {
                input["ContinuationToken"] = json!(token);
            }
            _ => return Ok(items),
        }
    }
}

/// The rows of the CSV files an S3 inventory's `manifest.json` lists,
/// each an object keyed by the manifest's `fileSchema`.
async fn manifest(
    s3: &S3,
    read: &ReadItems,
    bucket: &str,
    key: &str,
) -> Result<Vec<Json>, Failure> {
    if read.manifest_type != Some(ManifestType::S3Inventory) {
        return Err(failed(
            read,
            "InputType MANIFEST needs ManifestType S3_INVENTORY".into(),
        ));
    }
    let text = get(
        s3,
        read,
        &json!({ "Bucket": bucket, "Key": key }),
        bucket,
        key,
    )
    .await?;
    let bad = |why: String| {
        failed(
            read,
            format!("s3://{bucket}/{key} is not an S3 inventory manifest: {why}"),
        )
    };
    let manifest: Json = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if manifest["fileFormat"].as_str() != Some("CSV") {
        return Err(bad(format!(
            "its fileFormat is {}, and only CSV inventories can be read",
            manifest["fileFormat"]
        )));
    }
    let schema: Vec<String> = manifest["fileSchema"]
        .as_str()
        .ok_or_else(|| bad("it has no fileSchema".into()))?
        .split(',')
        .map(|name| name.trim().to_string())
        .collect();
    // The data files are in the inventory's destination bucket (an ARN).
    let destination = manifest["destinationBucket"]
        .as_str()
        .map(|arn| arn.rsplit(":::").next().unwrap_or(arn).to_string())
        .unwrap_or_else(|| bucket.to_string());
    let files = manifest["files"]
        .as_array()
        .ok_or_else(|| bad("it has no files".into()))?;
    let limit = read.max_items.map_or(usize::MAX, |n| n as usize);
    let mut items = Vec::new();
    for file in files {
        let Some(file_key) = file["key"].as_str() else {
            return Err(bad(format!("a file has no key: {file}")));
        };
        let input = json!({ "Bucket": destination, "Key": file_key });
        let body = get(s3, read, &input, &destination, file_key).await?;
        let rows = items::csv(&body, b',', Some(schema.clone()), limit - items.len())
            .map_err(|reason| failed(read, format!("s3://{destination}/{file_key}: {reason}")))?;
        items.extend(rows);
        if items.len() >= limit {
            break;
        }
    }
    Ok(items)
}

/// An object's content as text; a `.gz` object is unzipped first.
async fn get(
    s3: &S3,
    read: &ReadItems,
    input: &Json,
    bucket: &str,
    key: &str,
) -> Result<String, Failure> {
    let answer = s3.call("GetObject", input).await.map_err(|e| {
        failed(
            read,
            format!("reading s3://{bucket}/{key} failed: {}", describe(e)),
        )
    })?;
    let body = answer["Body"].as_str().unwrap_or_default();
    if !key.ends_with(".gz") {
        return Ok(body.to_string());
    }
    // Bytes that are not UTF-8 come back in base64.
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap_or_else(|_| body.as_bytes().to_vec());
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_string(&mut text)
        .map_err(|e| failed(read, format!("s3://{bucket}/{key} is not gzip'd text: {e}")))?;
    Ok(text)
}

fn argument(read: &ReadItems, name: &str) -> Result<String, Failure> {
    read.arguments[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            failed(
                read,
                format!(
                    "its Parameters have no {name} (a string): {}",
                    read.arguments
                ),
            )
        })
}

fn prefix_of(read: &ReadItems) -> &str {
    read.arguments["Prefix"].as_str().unwrap_or_default()
}

fn type_name(input_type: Option<InputType>) -> &'static str {
    match input_type {
        Some(InputType::Csv) => "CSV",
        Some(InputType::Jsonl) => "JSON Lines",
        Some(InputType::Manifest) => "a manifest",
        Some(InputType::Json) | None => "JSON",
    }
}

fn failed(read: &ReadItems, why: String) -> Failure {
    Failure::new(
        ITEM_READER_FAILED,
        format!(
            "The ItemReader of state '{}' failed: {why}",
            read.state_name
        ),
    )
}
