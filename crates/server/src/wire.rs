//! The Step Functions JSON protocol's request and response shapes: the only
//! module that knows field names on the wire. Timestamps are epoch seconds
//! (fractional), as AWS JSON 1.0 writes them.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Epoch milliseconds as the wire's epoch seconds.
pub fn timestamp(millis: i64) -> f64 {
    millis as f64 / 1000.0
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

// ---- configurations ----

/// `loggingConfiguration`. Members are checked by type here and by value
/// in the actions; the record keeps what was given.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LoggingConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_execution_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<LogDestination>>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogDestination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs_log_group: Option<LogGroup>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group_arn: Option<String>,
}

/// `tracingConfiguration`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TracingConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `encryptionConfiguration` of a state machine or an activity.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_data_key_reuse_period_seconds: Option<i64>,
    /// `AWS_OWNED_KEY` or `CUSTOMER_MANAGED_KMS_KEY`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

// ---- state machines ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateStateMachineInput {
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub logging_configuration: Option<LoggingConfiguration>,
    pub tracing_configuration: Option<TracingConfiguration>,
    pub encryption_configuration: Option<EncryptionConfiguration>,
    pub tags: Vec<Tag>,
    pub publish: bool,
    pub version_description: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateStateMachineOutput {
    pub state_machine_arn: String,
    pub creation_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_machine_version_arn: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct StateMachineArnInput {
    pub state_machine_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeStateMachineOutput {
    pub state_machine_arn: String,
    pub name: String,
    pub status: &'static str,
    pub definition: String,
    pub role_arn: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub creation_date: f64,
    pub logging_configuration: Json,
    pub tracing_configuration: Json,
    pub encryption_configuration: Json,
    pub revision_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ListInput {
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateMachineListItem {
    pub state_machine_arn: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub creation_date: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListStateMachinesOutput {
    pub state_machines: Vec<StateMachineListItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateStateMachineInput {
    pub state_machine_arn: String,
    pub definition: Option<String>,
    pub role_arn: Option<String>,
    pub logging_configuration: Option<LoggingConfiguration>,
    pub tracing_configuration: Option<TracingConfiguration>,
    pub encryption_configuration: Option<EncryptionConfiguration>,
    pub publish: bool,
    pub version_description: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStateMachineOutput {
    pub update_date: f64,
    pub revision_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_machine_version_arn: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ValidateInput {
    pub definition: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Serialize)]
pub struct ValidateDiagnostic {
    pub severity: &'static str,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

#[derive(Serialize)]
pub struct ValidateOutput {
    pub result: &'static str,
    pub diagnostics: Vec<ValidateDiagnostic>,
    pub truncated: bool,
}

// ---- versions ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PublishVersionInput {
    pub state_machine_arn: String,
    pub revision_id: Option<String>,
    pub description: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishVersionOutput {
    pub creation_date: f64,
    pub state_machine_version_arn: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ListVersionsInput {
    pub state_machine_arn: String,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionListItem {
    pub state_machine_version_arn: String,
    pub creation_date: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListVersionsOutput {
    pub state_machine_versions: Vec<VersionListItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct VersionArnInput {
    pub state_machine_version_arn: String,
}

// ---- executions ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct StartExecutionInput {
    pub state_machine_arn: String,
    pub name: Option<String>,
    pub input: Option<String>,
    pub trace_header: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartExecutionOutput {
    pub execution_arn: String,
    pub start_date: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartSyncExecutionOutput {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub start_date: f64,
    pub stop_date: f64,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    pub input: String,
    pub input_details: Json,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_details: Option<Json>,
    pub billing_details: Json,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutionArnInput {
    pub execution_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeExecutionOutput {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    pub start_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<f64>,
    pub input: String,
    pub input_details: Json,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_details: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_machine_alias_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_machine_version_arn: Option<String>,
    pub redrive_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive_date: Option<f64>,
    pub redrive_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive_status_reason: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeStateMachineForExecutionOutput {
    pub state_machine_arn: String,
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    pub update_date: f64,
    pub logging_configuration: Json,
    pub tracing_configuration: Json,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ListExecutionsInput {
    pub state_machine_arn: Option<String>,
    pub map_run_arn: Option<String>,
    pub status_filter: Option<String>,
    /// `REDRIVEN` or `NOT_REDRIVEN`.
    pub redrive_filter: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionListItem {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    pub start_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_machine_alias_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_machine_version_arn: Option<String>,
    pub redrive_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive_date: Option<f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListExecutionsOutput {
    pub executions: Vec<ExecutionListItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetExecutionHistoryInput {
    pub execution_arn: String,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    pub reverse_order: bool,
    pub include_execution_data: bool,
}

impl Default for GetExecutionHistoryInput {
    fn default() -> Self {
        GetExecutionHistoryInput {
            execution_arn: String::new(),
            max_results: None,
            next_token: None,
            reverse_order: false,
            include_execution_data: true,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetExecutionHistoryOutput {
    pub events: Vec<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct StopExecutionInput {
    pub execution_arn: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopExecutionOutput {
    pub stop_date: f64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct RedriveExecutionInput {
    pub execution_arn: String,
    pub client_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveExecutionOutput {
    pub redrive_date: f64,
}

// ---- activities and tasks ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateActivityInput {
    pub name: String,
    pub tags: Vec<Tag>,
    pub encryption_configuration: Option<EncryptionConfiguration>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateActivityOutput {
    pub activity_arn: String,
    pub creation_date: f64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ActivityArnInput {
    pub activity_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeActivityOutput {
    pub activity_arn: String,
    pub name: String,
    pub creation_date: f64,
    pub encryption_configuration: Json,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityListItem {
    pub activity_arn: String,
    pub name: String,
    pub creation_date: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListActivitiesOutput {
    pub activities: Vec<ActivityListItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct GetActivityTaskInput {
    pub activity_arn: String,
    pub worker_name: Option<String>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GetActivityTaskOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SendTaskSuccessInput {
    pub task_token: String,
    pub output: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SendTaskFailureInput {
    pub task_token: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskTokenInput {
    pub task_token: String,
}

// ---- tags ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TagResourceInput {
    pub resource_arn: String,
    pub tags: Vec<Tag>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct UntagResourceInput {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceArnInput {
    pub resource_arn: String,
}

#[derive(Serialize)]
pub struct ListTagsOutput {
    pub tags: Vec<Tag>,
}

/// An empty response body (`{}`).
#[derive(Serialize)]
pub struct Empty {}

// ---- TestState ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TestStateMockError {
    pub error: Option<String>,
    pub cause: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TestStateMock {
    pub result: Option<String>,
    pub error_output: Option<TestStateMockError>,
    pub field_validation_mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TestStateConfiguration {
    pub retrier_retry_count: Option<u64>,
    pub error_caused_by_state: Option<String>,
    pub map_iteration_failure_count: Option<u64>,
    pub map_item_reader_data: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct TestStateInput {
    pub definition: String,
    pub role_arn: Option<String>,
    pub input: Option<String>,
    pub inspection_level: Option<String>,
    pub reveal_secrets: bool,
    pub variables: Option<String>,
    pub state_name: Option<String>,
    pub mock: Option<TestStateMock>,
    pub context: Option<String>,
    pub state_configuration: Option<TestStateConfiguration>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestStateOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspection_data: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_state: Option<String>,
    pub status: &'static str,
}

// ---- aliases ----

#[derive(Deserialize, Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct RoutingEntry {
    pub state_machine_version_arn: String,
    pub weight: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateAliasInput {
    pub name: String,
    pub description: Option<String>,
    pub routing_configuration: Vec<RoutingEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAliasOutput {
    pub state_machine_alias_arn: String,
    pub creation_date: f64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct AliasArnInput {
    pub state_machine_alias_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeAliasOutput {
    pub state_machine_alias_arn: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub routing_configuration: Vec<RoutingEntry>,
    pub creation_date: f64,
    pub update_date: f64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateAliasInput {
    pub state_machine_alias_arn: String,
    pub description: Option<String>,
    pub routing_configuration: Option<Vec<RoutingEntry>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAliasOutput {
    pub update_date: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AliasListItem {
    pub state_machine_alias_arn: String,
    pub creation_date: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListAliasesOutput {
    pub state_machine_aliases: Vec<AliasListItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

// Map Runs (DescribeMapRun, ListMapRuns, UpdateMapRun) and the child
// executions ListExecutions gives for a `mapRunArn`.

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct MapRunArnInput {
    pub map_run_arn: String,
}

#[derive(Serialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct MapRunCounts {
    pub pending: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub aborted: u64,
    pub total: u64,
    pub results_written: u64,
    pub failures_not_redrivable: u64,
    pub pending_redrive: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeMapRunOutput {
    pub map_run_arn: String,
    pub execution_arn: String,
    pub status: &'static str,
    pub start_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<f64>,
    pub max_concurrency: u64,
    pub tolerated_failure_percentage: f64,
    pub tolerated_failure_count: u64,
    pub item_counts: MapRunCounts,
    pub execution_counts: MapRunCounts,
    pub redrive_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ListMapRunsInput {
    pub execution_arn: String,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapRunListItem {
    pub execution_arn: String,
    pub map_run_arn: String,
    pub state_machine_arn: String,
    pub start_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMapRunsOutput {
    pub map_runs: Vec<MapRunListItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateMapRunInput {
    pub map_run_arn: String,
    pub max_concurrency: Option<i64>,
    pub tolerated_failure_percentage: Option<f64>,
    pub tolerated_failure_count: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildExecutionListItem {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: &'static str,
    pub start_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<f64>,
    pub map_run_arn: String,
    pub redrive_count: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListChildExecutionsOutput {
    pub executions: Vec<ChildExecutionListItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}
