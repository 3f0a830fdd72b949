//! The typed model of an ASL document, as the interpreter reads it.
//!
//! A [`Definition`] flattens the top-level machine and every nested Parallel
//! branch and Map item processor into one arena of [`Machine`]s, so that a
//! position in an execution is two integers: (machine index, state index).

use indexmap::IndexMap;
use serde_json::Value as Json;

/// Which language a state's fields are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryLanguage {
    JsonPath,
    Jsonata,
}

impl QueryLanguage {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryLanguage::JsonPath => "JSONPath",
            QueryLanguage::Jsonata => "JSONata",
        }
    }
}

/// Index of a [`Machine`] in [`Definition::machines`]; 0 is the top level.
pub type MachineId = usize;
/// Index of a state in [`Machine::states`].
pub type StateId = usize;

/// A whole state machine document.
#[derive(Clone, Debug)]
pub struct Definition {
    pub comment: Option<String>,
    /// Machine-level `TimeoutSeconds`.
    pub timeout_seconds: Option<u64>,
    pub version: Option<String>,
    /// `machines[0]` is the top level; branches and item processors follow.
    pub machines: Vec<Machine>,
}

impl Definition {
    pub fn root(&self) -> &Machine {
        &self.machines[0]
    }

    pub fn state(&self, machine: MachineId, state: StateId) -> &State {
        &self.machines[machine].states[state]
    }

    /// Whether any state evaluates JSONata, which may take seconds.
    pub fn uses_jsonata(&self) -> bool {
        self.machines
            .iter()
            .flat_map(|machine| machine.states.values())
            .any(|state| matches!(state.query_language, QueryLanguage::Jsonata))
    }
}

/// A set of states with a start: the top level, a Parallel branch or a Map
/// item processor.
#[derive(Clone, Debug)]
pub struct Machine {
    pub start_at: String,
    pub states: IndexMap<String, State>,
    /// The language declared at this level (inherited when absent).
    pub query_language: QueryLanguage,
    /// JSON pointer of this machine's object in the document.
    pub pointer: String,
}

impl Machine {
    pub fn index_of(&self, name: &str) -> Option<StateId> {
        self.states.get_index_of(name)
    }

    pub fn start(&self) -> Option<StateId> {
        self.index_of(&self.start_at)
    }
}

/// Where a state goes when it is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    Next(String),
    End,
    /// Choice, Succeed and Fail decide for themselves.
    Terminal,
}

/// A path field that may also be `null` (InputPath, OutputPath, ResultPath).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathField {
    /// `null`: discard (InputPath/OutputPath give `{}`, ResultPath keeps the input).
    Null,
    Path(String),
}

/// A number field that may be given literally, by a path, or by JSONata.
#[derive(Clone, Debug, PartialEq)]
pub enum NumberSource {
    Literal(f64),
    /// `...Path` variant (reference path into the effective input, `$$` or a variable).
    Path(String),
    /// A `{% %}` JSONata expression (without the delimiters' meaning removed).
    Jsonata(String),
}

/// The input/output chain of one state.
#[derive(Clone, Debug, Default)]
pub struct Io {
    pub input_path: Option<PathField>,
    pub parameters: Option<Json>,
    pub result_selector: Option<Json>,
    pub result_path: Option<PathField>,
    pub output_path: Option<PathField>,
    /// JSONata `Arguments`.
    pub arguments: Option<Json>,
    /// JSONata `Output`.
    pub output: Option<Json>,
}

#[derive(Clone, Debug)]
pub struct State {
    pub name: String,
    pub comment: Option<String>,
    /// The language this state's fields use (its own, or inherited).
    pub query_language: QueryLanguage,
    pub kind: StateKind,
    pub transition: Transition,
    pub io: Io,
    pub assign: Option<Json>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// JSON pointer of this state's object in the document.
    pub pointer: String,
    /// Whether anything in the state may read the context object (`$$` or
    /// `$states.context`), so the interpreter builds it only when needed.
    pub uses_context: bool,
}

impl State {
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

#[derive(Clone, Debug)]
pub enum StateKind {
    Pass(Pass),
    Task(Task),
    Choice(Choice),
    Wait(Wait),
    Succeed,
    Fail(Fail),
    Parallel(Parallel),
    Map(Box<Map>),
}

impl StateKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            StateKind::Pass(_) => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice(_) => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail(_) => "Fail",
            StateKind::Parallel(_) => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Pass {
    pub result: Option<Json>,
}

#[derive(Clone, Debug)]
pub struct Task {
    pub resource: String,
    pub timeout: Option<NumberSource>,
    pub heartbeat: Option<NumberSource>,
    pub credentials: Option<Json>,
}

#[derive(Clone, Debug)]
pub struct Choice {
    pub choices: Vec<ChoiceRule>,
    pub default: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ChoiceRule {
    pub condition: Condition,
    pub next: String,
    /// JSONata choice rules (and JSONPath ones since variables) may assign.
    pub assign: Option<Json>,
    pub output: Option<Json>,
}

#[derive(Clone, Debug)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        variable: String,
        /// `variable`, parsed when the definition is read.
        parsed: crate::path::Parsed,
        op: ComparisonOp,
        operand: Operand,
    },
    /// JSONata `Condition` (the whole `{% %}` string).
    Jsonata(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Literal(Json),
    /// The operand of a `...Path` comparison.
    Path(String),
}

/// Every data-test operator of a Choice rule, without its `Path` suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComparisonOp {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

impl ComparisonOp {
    pub const ALL: [(&'static str, ComparisonOp); 23] = [
        ("StringEquals", ComparisonOp::StringEquals),
        ("StringLessThan", ComparisonOp::StringLessThan),
        ("StringGreaterThan", ComparisonOp::StringGreaterThan),
        ("StringLessThanEquals", ComparisonOp::StringLessThanEquals),
        (
            "StringGreaterThanEquals",
            ComparisonOp::StringGreaterThanEquals,
        ),
        ("StringMatches", ComparisonOp::StringMatches),
        ("NumericEquals", ComparisonOp::NumericEquals),
        ("NumericLessThan", ComparisonOp::NumericLessThan),
        ("NumericGreaterThan", ComparisonOp::NumericGreaterThan),
        ("NumericLessThanEquals", ComparisonOp::NumericLessThanEquals),
        (
            "NumericGreaterThanEquals",
            ComparisonOp::NumericGreaterThanEquals,
        ),
        ("BooleanEquals", ComparisonOp::BooleanEquals),
        ("TimestampEquals", ComparisonOp::TimestampEquals),
        ("TimestampLessThan", ComparisonOp::TimestampLessThan),
        ("TimestampGreaterThan", ComparisonOp::TimestampGreaterThan),
        (
            "TimestampLessThanEquals",
            ComparisonOp::TimestampLessThanEquals,
        ),
        (
            "TimestampGreaterThanEquals",
            ComparisonOp::TimestampGreaterThanEquals,
        ),
        ("IsNull", ComparisonOp::IsNull),
        ("IsPresent", ComparisonOp::IsPresent),
        ("IsNumeric", ComparisonOp::IsNumeric),
        ("IsString", ComparisonOp::IsString),
        ("IsBoolean", ComparisonOp::IsBoolean),
        ("IsTimestamp", ComparisonOp::IsTimestamp),
    ];

    /// The operator named by a Choice rule key, and whether it is the `Path` form.
    pub fn from_key(key: &str) -> Option<(ComparisonOp, bool)> {
        let (base, is_path) = match key.strip_suffix("Path") {
            Some(base) => (base, true),
            None => (key, false),
        };
        let op = Self::ALL.iter().find(|(name, _)| *name == base)?.1;
        if is_path && op.is_type_test() {
            return None;
        }
        Some((op, is_path))
    }

    /// `Is*` operators take a boolean and have no `Path` form.
    pub fn is_type_test(self) -> bool {
        matches!(
            self,
            ComparisonOp::IsNull
                | ComparisonOp::IsPresent
                | ComparisonOp::IsNumeric
                | ComparisonOp::IsString
                | ComparisonOp::IsBoolean
                | ComparisonOp::IsTimestamp
        )
    }
}

#[derive(Clone, Debug)]
pub enum Wait {
    Seconds(NumberSource),
    /// A literal timestamp or a JSONata expression giving one.
    Timestamp(String),
    TimestampPath(String),
}

#[derive(Clone, Debug, Default)]
pub struct Fail {
    pub error: Option<String>,
    pub cause: Option<String>,
    pub error_path: Option<String>,
    pub cause_path: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Parallel {
    pub branches: Vec<MachineId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapMode {
    Inline,
    Distributed,
}

#[derive(Clone, Debug)]
pub struct Map {
    pub processor: MachineId,
    pub mode: MapMode,
    pub items_path: Option<String>,
    /// JSONata `Items` (an array or a `{% %}` expression).
    pub items: Option<Json>,
    /// `ItemSelector`, or the older `Parameters` of a Map.
    pub item_selector: Option<Json>,
    pub max_concurrency: Option<NumberSource>,
    pub tolerated_failure_percentage: Option<NumberSource>,
    pub tolerated_failure_count: Option<NumberSource>,
    pub item_batcher: Option<ItemBatcher>,
    pub label: Option<String>,
    pub result_writer: Option<crate::distributed::ResultWriter>,
    pub item_reader: Option<crate::distributed::ItemReader>,
}

#[derive(Clone, Debug, Default)]
pub struct ItemBatcher {
    pub max_items_per_batch: Option<NumberSource>,
    pub max_input_bytes_per_batch: Option<NumberSource>,
    pub batch_input: Option<Json>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    Full,
    None,
}

#[derive(Clone, Debug)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub jitter: Jitter,
}

#[derive(Clone, Debug)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: Option<PathField>,
    pub assign: Option<Json>,
    pub output: Option<Json>,
}

/// Whether `errors` (an ErrorEquals list) matches the error name `error`.
///
/// `States.ALL` matches everything except `States.Runtime` (and its
/// `States.DataLimitExceeded` cousin), which AWS never lets a retrier or
/// catcher see; `States.TaskFailed` matches every error that `States.ALL`
/// matches except `States.Timeout` and `States.HeartbeatTimeout`.
pub fn error_matches(errors: &[String], error: &str) -> bool {
    errors.iter().any(|candidate| match candidate.as_str() {
        "States.ALL" => !matches!(error, "States.Runtime" | "States.DataLimitExceeded"),
        "States.TaskFailed" => !matches!(
            error,
            "States.Runtime"
                | "States.DataLimitExceeded"
                | "States.Timeout"
                | "States.HeartbeatTimeout"
        ),
        name => name == error,
    })
}
