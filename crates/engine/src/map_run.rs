//! Map Runs: what a Distributed Map state records of its run (counts,
//! limits, its child executions), and the two requests it hands the
//! runtime, reading the items (`ItemReader`) and writing the results
//! (`ResultWriter`). The requests travel as the input of an
//! [`crate::Action::Invoke`] to the resources below; the runtime routes them
//! to an invoker like any task (`windlass-aws` serves both from S3).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use windlass_asl::distributed::{
    CsvDelimiter, CsvHeaderLocation, InputType, ManifestType, OutputType, ReaderSource,
};

use crate::execution::FrameId;

/// The resource of an ItemReader's read; its input is a [`ReadItems`], its
/// result the array of items.
pub const READ_ITEMS: &str = "arn:windlass:::map:read-items";
/// The resource of a ResultWriter's write; its input is a [`WriteResults`],
/// its result the manifest's `{"Bucket", "Key"}`.
pub const WRITE_RESULTS: &str = "arn:windlass:::map:write-results";

/// Whether a task may simply be carried out again after a crash: reading
/// items and writing result files give the same result every time.
pub fn is_repeatable(resource: &str) -> bool {
    resource == READ_ITEMS || resource == WRITE_RESULTS
}

/// What an ItemReader reads: its resource with its arguments evaluated.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ReadItems {
    pub source: ReaderSource,
    /// The evaluated `Parameters`/`Arguments`: `Bucket`, and `Key` or `Prefix`.
    pub arguments: Json,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_type: Option<InputType>,
    #[serde(default)]
    pub csv_header_location: CsvHeaderLocation,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub csv_headers: Vec<String>,
    #[serde(default)]
    pub csv_delimiter: CsvDelimiter,
    /// At most this many items (MaxItems or MaxItemsPath, resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_type: Option<ManifestType>,
    /// The state, for error messages.
    pub state_name: String,
}

/// What a ResultWriter writes: the result files of one Map Run, each
/// entry already in the shape its `WriterConfig` asks for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct WriteResults {
    pub bucket: String,
    pub prefix: String,
    pub map_run_arn: String,
    pub output_type: OutputType,
    pub succeeded: Vec<Json>,
    pub failed: Vec<Json>,
    pub pending: Vec<Json>,
    pub state_name: String,
}

impl WriteResults {
    /// `<Prefix>/<map run id>/`: where the files go, as AWS lays them out
    /// (the prefix is used as given, a `/` added between).
    pub fn folder(&self) -> String {
        let id = self.map_run_arn.rsplit(':').next().unwrap_or_default();
        if self.prefix.is_empty() {
            format!("{id}/")
        } else {
            format!("{}/{id}/", self.prefix.trim_end_matches('/'))
        }
    }
}

/// The status of a Map Run (`MapRunStatus`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum MapRunStatus {
    Running,
    Succeeded,
    Failed,
    Aborted,
}

impl MapRunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MapRunStatus::Running => "RUNNING",
            MapRunStatus::Succeeded => "SUCCEEDED",
            MapRunStatus::Failed => "FAILED",
            MapRunStatus::Aborted => "ABORTED",
        }
    }
}

/// The status of one child execution of a Map Run.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ChildStatus {
    Running,
    Succeeded,
    Failed,
    Aborted,
}

impl ChildStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChildStatus::Running => "RUNNING",
            ChildStatus::Succeeded => "SUCCEEDED",
            ChildStatus::Failed => "FAILED",
            ChildStatus::Aborted => "ABORTED",
        }
    }
}

/// One child execution (an iteration) of a Map Run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ChildRun {
    pub name: String,
    pub start_millis: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_millis: Option<i64>,
    pub status: ChildStatus,
    /// The iteration's input (after ItemSelector and ItemBatcher).
    pub input: Json,
}

/// The record of one Map Run, kept in the execution's snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MapRun {
    pub arn: String,
    /// The frame whose Map state started the run.
    pub frame: FrameId,
    pub status: MapRunStatus,
    pub start_millis: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_millis: Option<i64>,
    pub max_concurrency: u64,
    pub tolerated_failure_count: u64,
    pub tolerated_failure_percentage: f64,
    /// Items (or batches) the run has.
    pub total: u64,
    /// Items whose results the ResultWriter wrote.
    #[serde(default)]
    pub results_written: u64,
    /// The child executions started so far, by item index.
    #[serde(default)]
    pub children: Vec<ChildRun>,
}

/// Item or execution counts of a Map Run (`MapRunItemCounts`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapRunCounts {
    pub pending: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub aborted: u64,
    pub total: u64,
    pub results_written: u64,
}

impl MapRun {
    pub fn counts(&self) -> MapRunCounts {
        let mut counts = MapRunCounts {
            total: self.total,
            results_written: self.results_written,
            ..MapRunCounts::default()
        };
        for child in &self.children {
            match child.status {
                ChildStatus::Running => counts.running += 1,
                ChildStatus::Succeeded => counts.succeeded += 1,
                ChildStatus::Failed => counts.failed += 1,
                ChildStatus::Aborted => counts.aborted += 1,
            }
        }
        counts.pending = self.total.saturating_sub(self.children.len() as u64);
        counts
    }

    /// The ARN of the child execution of item `index`, when it started.
    pub fn child_arn(&self, index: usize) -> Option<String> {
        let child = self.children.get(index)?;
        Some(child_arn(&self.arn, &child.name))
    }

    /// The state machine ARN AWS gives child executions:
    /// `stateMachine:<machine>/<label>`.
    pub fn child_machine_arn(&self, state_machine_arn: &str) -> String {
        let label = self
            .arn
            .rsplit_once(':')
            .and_then(|(head, _)| head.rsplit_once('/'))
            .map_or("", |(_, label)| label);
        format!("{state_machine_arn}/{label}")
    }
}

/// A Map Run's ARN: the execution's ARN with `mapRun` for `execution`,
/// then `/<label>:<id>` (AWS writes `mapRun:<machine>/<label>:<id>`; ours
/// keeps the execution's name in it, so the run is found from its ARN).
pub fn map_run_arn(execution_arn: &str, label: &str, id: &str) -> String {
    format!(
        "{}/{label}:{id}",
        execution_arn.replacen(":execution:", ":mapRun:", 1)
    )
}

/// The execution a Map Run ARN belongs to: the part before its `/`
/// (machine and execution names have neither `/` nor `:`), `execution`
/// again for `mapRun`.
pub fn parent_of_map_run(map_run_arn: &str) -> Option<String> {
    let (head, _) = map_run_arn.split_once('/')?;
    head.contains(":mapRun:")
        .then(|| head.replacen(":mapRun:", ":execution:", 1))
}

/// The ARN of a child execution named `name` of the Map Run `map_run_arn`.
pub fn child_arn(map_run_arn: &str, name: &str) -> String {
    let head = map_run_arn
        .rsplit_once(':')
        .map_or(map_run_arn, |(head, _)| head);
    format!("{}:{name}", head.replacen(":mapRun:", ":execution:", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_run_arns_lead_back_to_their_execution() {
        let execution = "arn:aws:states:us-east-1:123456789012:execution:csv:run-1";
        let arn = map_run_arn(execution, "Rows", "7d2c");
        assert_eq!(
            arn,
            "arn:aws:states:us-east-1:123456789012:mapRun:csv:run-1/Rows:7d2c"
        );
        assert_eq!(parent_of_map_run(&arn).as_deref(), Some(execution));
        assert_eq!(
            child_arn(&arn, "c-1"),
            "arn:aws:states:us-east-1:123456789012:execution:csv:run-1/Rows:c-1"
        );
        assert_eq!(parent_of_map_run(execution), None);
    }

    #[test]
    fn result_files_go_under_the_prefix_and_the_run_id() {
        let mut write = WriteResults {
            bucket: "b".into(),
            prefix: "jobs/".into(),
            map_run_arn: "arn:aws:states:r:1:mapRun:m:e/Map:abc".into(),
            output_type: OutputType::Json,
            succeeded: vec![],
            failed: vec![],
            pending: vec![],
            state_name: "Map".into(),
        };
        assert_eq!(write.folder(), "jobs/abc/");
        write.prefix.clear();
        assert_eq!(write.folder(), "abc/");
    }
}
