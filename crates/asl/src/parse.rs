//! Reading an ASL document into a [`Definition`], with every problem reported
//! as a [`Diagnostic`] that names where it is. Parsing never fails outright:
//! it returns what it could build plus the diagnostics, and a definition with
//! any error diagnostic must not be run.

use indexmap::IndexMap;
use serde_json::{Map as JsonMap, Value as Json};

use crate::definition::*;

mod choice;
mod distributed;
mod duplicates;
mod errors;
mod fields;
mod input;
mod locate;
mod resource;
#[cfg(test)]
mod tests;
mod validate;
mod yaml_depth;

pub use input::execution_input;
pub use locate::line_of;
pub use validate::{DUPLICATE_STATE_NAME, INVALID_LABEL_NAME, MISSING_END_STATE};
pub use yaml_depth::{check_yaml_depth, TooDeep, MAX_YAML_DEPTH};

/// What the checks need to know beyond the document itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    /// The machine is EXPRESS: no `.sync`, `.waitForTaskToken` or activities.
    pub express: bool,
}

/// One problem in a definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// AWS's diagnostic code, e.g. `SCHEMA_VALIDATION_FAILED`.
    pub code: &'static str,
    /// JSON pointer into the document, e.g. `/States/Start/Next`.
    pub pointer: String,
    pub message: String,
}

impl Diagnostic {
    pub fn schema(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            code: SCHEMA_VALIDATION_FAILED,
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // AWS writes `null` where a diagnostic has no location.
        let at = if self.pointer.is_empty() {
            "null"
        } else {
            &self.pointer
        };
        write!(f, "{}: {} at {}", self.code, self.message, at)
    }
}

pub const SCHEMA_VALIDATION_FAILED: &str = "SCHEMA_VALIDATION_FAILED";
pub const MISSING_TRANSITION_TARGET: &str = "MISSING_TRANSITION_TARGET";
pub const UNREACHABLE_STATE: &str = "UNREACHABLE_STATE";
pub const INVALID_JSON_DESCRIPTION: &str = "INVALID_JSON_DESCRIPTION";

/// The result of parsing: the definition (when its shape allowed building
/// one) and every diagnostic found.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub definition: Option<Definition>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// The definition, when there is one and no diagnostic.
    pub fn valid(self) -> Result<Definition, Vec<Diagnostic>> {
        match self.definition {
            Some(definition) if self.diagnostics.is_empty() => Ok(definition),
            _ => Err(self.diagnostics),
        }
    }
}

/// Parses a definition given as JSON or YAML text, for a STANDARD machine.
pub fn parse_text(text: &str) -> Parsed {
    parse_text_with(text, &Config::default())
}

/// Parses a definition given as JSON or YAML text.
pub fn parse_text_with(text: &str, config: &Config) -> Parsed {
    match document_from_text(text) {
        Ok(document) => {
            let mut parsed = parse_value_with(&document, config);
            // JSON keeps the last of two states of one name; AWS refuses the
            // document (YAML's reader refuses repeated keys itself).
            let json = text.trim_start().starts_with('{');
            let repeated = if json {
                duplicates::duplicate_keys(text)
            } else {
                Vec::new()
            };
            for pointer in repeated {
                if duplicates::is_state(&pointer) {
                    let name = pointer
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .replace("~1", "/")
                        .replace("~0", "~");
                    parsed.diagnostics.push(Diagnostic {
                        code: DUPLICATE_STATE_NAME,
                        message: format!("Duplicate State name: {name}"),
                        pointer,
                    });
                }
            }
            parsed
        }
        Err(diagnostic) => Parsed {
            definition: None,
            diagnostics: vec![diagnostic],
        },
    }
}

/// Reads JSON text, or YAML text when it is not JSON, into a JSON value.
pub fn document_from_text(text: &str) -> Result<Json, Diagnostic> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(text).map_err(|e| {
            // serde's text ends with its own " at line L column C".
            let full = e.to_string();
            let reason = full
                .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
                .unwrap_or(&full);
            Diagnostic {
                code: INVALID_JSON_DESCRIPTION,
                pointer: String::new(),
                message: format!(
                    "Invalid JSON at line {}, column {}: {reason}",
                    e.line(),
                    e.column()
                ),
            }
        });
    }
    if let Err(deep) = check_yaml_depth(text) {
        return Err(Diagnostic {
            code: INVALID_JSON_DESCRIPTION,
            pointer: String::new(),
            message: format!("Invalid YAML: {deep}"),
        });
    }
    let value: Result<Json, _> = serde_norway::from_str(text);
    value.map_err(|e| {
        let place = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        Diagnostic {
            code: INVALID_JSON_DESCRIPTION,
            pointer: String::new(),
            message: format!("Invalid YAML{place}: {e}"),
        }
    })
}

/// The line of the text a diagnostic is about: where the text stops being
/// JSON or YAML for a syntax error, else the line its pointer names.
pub fn diagnostic_line(text: &str, diagnostic: &Diagnostic) -> Option<usize> {
    if diagnostic.code == INVALID_JSON_DESCRIPTION && diagnostic.pointer.is_empty() {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return serde_json::from_str::<serde::de::IgnoredAny>(text)
                .err()
                .map(|e| e.line());
        }
        if let Err(deep) = check_yaml_depth(text) {
            return Some(deep.line);
        }
        return serde_norway::from_str::<Json>(text)
            .err()
            .and_then(|e| e.location())
            .map(|l| l.line());
    }
    line_of(text, &diagnostic.pointer)
}

/// Parses a definition given as a JSON value, for a STANDARD machine.
pub fn parse_value(document: &Json) -> Parsed {
    parse_value_with(document, &Config::default())
}

/// Parses a definition given as a JSON value and runs every check Step
/// Functions makes when the machine is created.
pub fn parse_value_with(document: &Json, config: &Config) -> Parsed {
    let mut parser = Parser {
        machines: Vec::new(),
        diagnostics: Vec::new(),
    };
    let Some(root) = document.as_object() else {
        parser.error("", "The state machine definition must be a JSON object");
        return parser.finish(None);
    };
    parser.check_fields(
        root,
        "",
        &[
            "Comment",
            "StartAt",
            "States",
            "TimeoutSeconds",
            "Version",
            "QueryLanguage",
        ],
    );
    let query_language = parser.query_language(root, "", QueryLanguage::JsonPath);
    parser.machine(root, "", query_language, true);
    let timeout_seconds = parser.optional_uint(root, "", "TimeoutSeconds");
    let definition = Definition {
        comment: parser.optional_string(root, "", "Comment"),
        timeout_seconds,
        version: parser.optional_string(root, "", "Version"),
        machines: std::mem::take(&mut parser.machines),
    };
    parser.check_transitions(&definition);
    validate::check(document, &definition, config, &mut parser.diagnostics);
    parser.finish(Some(definition))
}

struct Parser {
    machines: Vec<Machine>,
    diagnostics: Vec<Diagnostic>,
}

/// Whether any string in the state mentions the context object.
fn mentions_context(object: &JsonMap<String, Json>) -> bool {
    fn walk(value: &Json) -> bool {
        match value {
            Json::String(text) => text.contains("$$") || text.contains("context"),
            Json::Array(items) => items.iter().any(walk),
            Json::Object(fields) => fields
                .iter()
                .any(|(key, value)| key.contains("$$") || walk(value)),
            _ => false,
        }
    }
    object.values().any(walk)
}

/// The location of array item `index` under `base`, written as AWS writes
/// it: `/States/A/Catch[0]`.
fn index_join(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

fn pointer_join(base: &str, key: &str) -> String {
    let escaped = key.replace('~', "~0").replace('/', "~1");
    format!("{base}/{escaped}")
}

impl Parser {
    fn finish(self, definition: Option<Definition>) -> Parsed {
        Parsed {
            definition,
            diagnostics: self.diagnostics,
        }
    }

    fn error(&mut self, pointer: &str, message: impl Into<String>) {
        // The document itself is at `/`.
        let pointer = if pointer.is_empty() { "/" } else { pointer };
        self.diagnostics.push(Diagnostic::schema(pointer, message));
    }

    fn check_fields(&mut self, object: &JsonMap<String, Json>, pointer: &str, allowed: &[&str]) {
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                self.error(pointer, format!("Field '{key}' is not supported"));
            }
        }
    }

    fn query_language(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        inherited: QueryLanguage,
    ) -> QueryLanguage {
        match object.get("QueryLanguage") {
            None => inherited,
            Some(Json::String(text)) if text == "JSONPath" => QueryLanguage::JsonPath,
            Some(Json::String(text)) if text == "JSONata" => QueryLanguage::Jsonata,
            Some(_) => {
                self.error(
                    &pointer_join(pointer, "QueryLanguage"),
                    "The field 'QueryLanguage' should have one of these values: [JSONPath, JSONata]",
                );
                inherited
            }
        }
    }

    /// Builds the machine in `object` (top level, branch or item processor)
    /// and every machine nested in it; returns its id.
    fn machine(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        language: QueryLanguage,
        top: bool,
    ) -> MachineId {
        let id = self.machines.len();
        self.machines.push(Machine {
            start_at: String::new(),
            states: IndexMap::new(),
            query_language: language,
            pointer: pointer.to_string(),
        });
        let mut missing = Vec::new();
        let start_at = match object.get("StartAt") {
            Some(Json::String(name)) => name.clone(),
            Some(_) => {
                self.error(
                    &pointer_join(pointer, "StartAt"),
                    "The value for the field 'StartAt' must be a STRING",
                );
                String::new()
            }
            None => {
                missing.push("StartAt");
                String::new()
            }
        };
        let mut states = IndexMap::new();
        match object.get("States") {
            Some(Json::Object(map)) if map.is_empty() => self.error(
                &pointer_join(pointer, "States"),
                "The field 'States' must contain at least one state",
            ),
            Some(Json::Object(map)) => {
                let states_pointer = pointer_join(pointer, "States");
                for (name, value) in map {
                    let state_pointer = pointer_join(&states_pointer, name);
                    self.check_state_name(name, &state_pointer);
                    match value.as_object() {
                        Some(fields) => {
                            if let Some(state) = self.state(name, fields, &state_pointer, language)
                            {
                                states.insert(name.clone(), state);
                            }
                        }
                        None => self.error(&state_pointer, "A state must be a JSON object"),
                    }
                }
            }
            Some(_) => self.error(
                &pointer_join(pointer, "States"),
                "The value for the field 'States' must be an OBJECT",
            ),
            None => missing.push("States"),
        }
        if !missing.is_empty() {
            let at = if pointer.is_empty() { "" } else { pointer };
            self.error(
                at,
                format!("These fields are required: [{}]", missing.join(", ")),
            );
        }
        if !top && object.contains_key("TimeoutSeconds") {
            self.error(pointer, "Field 'TimeoutSeconds' is not supported");
        }
        let machine = &mut self.machines[id];
        machine.start_at = start_at;
        machine.states = states;
        id
    }

    fn check_state_name(&mut self, name: &str, pointer: &str) {
        if name.is_empty() || name.chars().count() > 80 {
            self.error(pointer, "State names must be 1 to 80 characters long");
        }
    }

    fn state(
        &mut self,
        name: &str,
        object: &JsonMap<String, Json>,
        pointer: &str,
        inherited: QueryLanguage,
    ) -> Option<State> {
        let type_name = match object.get("Type") {
            Some(Json::String(t)) => t.clone(),
            Some(_) => {
                self.error(
                    &pointer_join(pointer, "Type"),
                    "The value for the field 'Type' must be a STRING",
                );
                return None;
            }
            None => {
                self.error(pointer, "These fields are required: [Type]");
                return None;
            }
        };
        let Some(allowed) = fields::allowed(&type_name) else {
            self.error(
                &pointer_join(pointer, "Type"),
                "The field 'Type' should have one of these values: [Task, Wait, Pass, Succeed, Fail, Choice, Parallel, Map]",
            );
            return None;
        };
        let language = self.query_language(object, pointer, inherited);
        let allowed_here = fields::for_language(allowed, language);
        self.check_fields(object, pointer, &allowed_here);
        let kind = match type_name.as_str() {
            "Pass" => StateKind::Pass(Pass {
                result: object.get("Result").cloned(),
            }),
            "Task" => StateKind::Task(self.task(object, pointer)),
            "Choice" => StateKind::Choice(self.choice(object, pointer, language)),
            "Wait" => StateKind::Wait(self.wait(object, pointer)?),
            "Succeed" => StateKind::Succeed,
            "Fail" => StateKind::Fail({
                for field in ["Error", "Cause"] {
                    if object.contains_key(field) && object.contains_key(&format!("{field}Path")) {
                        self.error(
                            pointer,
                            format!("Only one of '{field}' or '{field}Path' can be present"),
                        );
                    }
                }
                Fail {
                    error: self.optional_string(object, pointer, "Error"),
                    cause: self.optional_string(object, pointer, "Cause"),
                    error_path: self.optional_string(object, pointer, "ErrorPath"),
                    cause_path: self.optional_string(object, pointer, "CausePath"),
                }
            }),
            "Parallel" => StateKind::Parallel(self.parallel(object, pointer, language)),
            _ => StateKind::Map(Box::new(self.map(object, pointer, language)?)),
        };
        let transition = self.transition(&type_name, object, pointer);
        Some(State {
            name: name.to_string(),
            comment: self.optional_string(object, pointer, "Comment"),
            query_language: language,
            io: self.io(object, pointer),
            assign: object.get("Assign").cloned(),
            retry: self.retriers(object, pointer),
            catch: self.catchers(object, pointer),
            kind,
            transition,
            pointer: pointer.to_string(),
            uses_context: mentions_context(object),
        })
    }

    fn transition(
        &mut self,
        type_name: &str,
        object: &JsonMap<String, Json>,
        pointer: &str,
    ) -> Transition {
        if matches!(type_name, "Choice" | "Succeed" | "Fail") {
            return Transition::Terminal;
        }
        let next = object.get("Next");
        let end = object.get("End");
        match (next, end) {
            (Some(Json::String(next)), None) => Transition::Next(next.clone()),
            (None, Some(Json::Bool(true))) => Transition::End,
            (Some(Json::String(next)), Some(_)) => {
                self.error(pointer, "Only one of 'Next' or 'End' can be present");
                Transition::Next(next.clone())
            }
            (Some(_), _) => {
                self.error(
                    &pointer_join(pointer, "Next"),
                    "The value for the field 'Next' must be a STRING",
                );
                Transition::End
            }
            (None, Some(Json::Bool(false))) | (None, None) => {
                self.error(
                    pointer,
                    "This state must have either a 'Next' or an 'End' field that is true",
                );
                Transition::End
            }
            (None, Some(_)) => {
                self.error(
                    &pointer_join(pointer, "End"),
                    "The value for the field 'End' must be a BOOLEAN",
                );
                Transition::End
            }
        }
    }

    fn io(&mut self, object: &JsonMap<String, Json>, pointer: &str) -> Io {
        Io {
            input_path: self.path_field(object, pointer, "InputPath"),
            parameters: object.get("Parameters").cloned(),
            result_selector: object.get("ResultSelector").cloned(),
            result_path: self.path_field(object, pointer, "ResultPath"),
            output_path: self.path_field(object, pointer, "OutputPath"),
            arguments: object.get("Arguments").cloned(),
            output: object.get("Output").cloned(),
        }
    }

    fn path_field(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        key: &str,
    ) -> Option<PathField> {
        match object.get(key)? {
            Json::Null => Some(PathField::Null),
            Json::String(path) => Some(PathField::Path(path.clone())),
            _ => {
                self.error(
                    &pointer_join(pointer, key),
                    format!("The value for the field '{key}' must be a STRING or null"),
                );
                None
            }
        }
    }

    fn optional_string(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        key: &str,
    ) -> Option<String> {
        match object.get(key)? {
            Json::String(text) => Some(text.clone()),
            _ => {
                self.error(
                    &pointer_join(pointer, key),
                    format!("The value for the field '{key}' must be a STRING"),
                );
                None
            }
        }
    }

    fn optional_uint(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        key: &str,
    ) -> Option<u64> {
        let value = object.get(key)?;
        match value.as_u64() {
            Some(n) => Some(n),
            None => {
                self.error(
                    &pointer_join(pointer, key),
                    format!("The value for the field '{key}' must be a non-negative INTEGER"),
                );
                None
            }
        }
    }

    fn optional_number(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        key: &str,
    ) -> Option<f64> {
        let value = object.get(key)?;
        match value.as_f64() {
            Some(n) => Some(n),
            None => {
                self.error(
                    &pointer_join(pointer, key),
                    format!("The value for the field '{key}' must be a NUMBER"),
                );
                None
            }
        }
    }

    /// A number given as `Key` (literal or JSONata string) or `KeyPath`.
    fn number_source(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        key: &str,
    ) -> Option<NumberSource> {
        let path_key = format!("{key}Path");
        if let Some(value) = object.get(&path_key) {
            if object.contains_key(key) {
                self.error(
                    pointer,
                    format!("Only one of '{key}' or '{path_key}' can be present"),
                );
            }
            return match value {
                Json::String(path) => Some(NumberSource::Path(path.clone())),
                _ => {
                    self.error(
                        &pointer_join(pointer, &path_key),
                        format!("The value for the field '{path_key}' must be a STRING"),
                    );
                    None
                }
            };
        }
        match object.get(key)? {
            Json::String(text) if crate::jsonata::is_expression(text) => {
                Some(NumberSource::Jsonata(text.clone()))
            }
            value => match value.as_f64() {
                Some(n) if n >= 0.0 => Some(NumberSource::Literal(n)),
                _ => {
                    self.error(
                        &pointer_join(pointer, key),
                        format!("The value for the field '{key}' must be a non-negative NUMBER"),
                    );
                    None
                }
            },
        }
    }

    fn task(&mut self, object: &JsonMap<String, Json>, pointer: &str) -> Task {
        let resource = match object.get("Resource") {
            Some(Json::String(resource)) => resource.clone(),
            Some(_) => {
                self.error(
                    &pointer_join(pointer, "Resource"),
                    "The value for the field 'Resource' must be a STRING",
                );
                String::new()
            }
            None => {
                self.error(pointer, "These fields are required: [Resource]");
                String::new()
            }
        };
        let timeout = self.number_source(object, pointer, "TimeoutSeconds");
        let heartbeat = self.number_source(object, pointer, "HeartbeatSeconds");
        if let (Some(NumberSource::Literal(t)), Some(NumberSource::Literal(h))) =
            (&timeout, &heartbeat)
        {
            if h >= t {
                self.error(
                    &pointer_join(pointer, "HeartbeatSeconds"),
                    "The value for the field 'HeartbeatSeconds' must be smaller than the value for the field 'TimeoutSeconds'",
                );
            }
        }
        Task {
            resource,
            timeout,
            heartbeat,
            credentials: object.get("Credentials").cloned(),
        }
    }

    fn wait(&mut self, object: &JsonMap<String, Json>, pointer: &str) -> Option<Wait> {
        let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|key| object.contains_key(*key))
            .collect();
        if present.len() != 1 {
            self.error(pointer, "A Wait state must have exactly one of 'Seconds', 'SecondsPath', 'Timestamp', or 'TimestampPath'");
            return None;
        }
        match present[0] {
            "Seconds" | "SecondsPath" => self
                .number_source(object, pointer, "Seconds")
                .map(Wait::Seconds),
            "Timestamp" => self
                .optional_string(object, pointer, "Timestamp")
                .map(Wait::Timestamp),
            _ => self
                .optional_string(object, pointer, "TimestampPath")
                .map(Wait::TimestampPath),
        }
    }

    fn parallel(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        language: QueryLanguage,
    ) -> Parallel {
        let mut branches = Vec::new();
        match object.get("Branches") {
            Some(Json::Array(items)) if items.is_empty() => {
                self.error(&pointer_join(pointer, "Branches"), "Value cannot be empty");
            }
            Some(Json::Array(items)) => {
                for (index, branch) in items.iter().enumerate() {
                    let branch_pointer = index_join(&pointer_join(pointer, "Branches"), index);
                    match branch.as_object() {
                        Some(fields) => {
                            self.check_fields(
                                fields,
                                &branch_pointer,
                                &["Comment", "StartAt", "States", "QueryLanguage"],
                            );
                            let branch_language =
                                self.query_language(fields, &branch_pointer, language);
                            branches.push(self.machine(
                                fields,
                                &branch_pointer,
                                branch_language,
                                false,
                            ));
                        }
                        None => self.error(&branch_pointer, "A branch must be a JSON object"),
                    }
                }
            }
            Some(_) => self.error(
                &pointer_join(pointer, "Branches"),
                "The value for the field 'Branches' must be an ARRAY",
            ),
            None => self.error(pointer, "These fields are required: [Branches]"),
        }
        Parallel { branches }
    }

    fn map(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        language: QueryLanguage,
    ) -> Option<Map> {
        let (processor_key, processor) = match (object.get("ItemProcessor"), object.get("Iterator"))
        {
            (Some(p), None) => ("ItemProcessor", p),
            (None, Some(p)) => ("Iterator", p),
            (Some(_), Some(_)) => {
                self.error(
                    pointer,
                    "Only one of 'ItemProcessor' or 'Iterator' can be present",
                );
                return None;
            }
            (None, None) => {
                self.error(pointer, "These fields are required: [ItemProcessor]");
                return None;
            }
        };
        let processor_pointer = pointer_join(pointer, processor_key);
        let Some(fields) = processor.as_object() else {
            self.error(
                &processor_pointer,
                format!("The value for the field '{processor_key}' must be an OBJECT"),
            );
            return None;
        };
        self.check_fields(
            fields,
            &processor_pointer,
            &[
                "Comment",
                "StartAt",
                "States",
                "ProcessorConfig",
                "QueryLanguage",
            ],
        );
        let mode = match fields
            .get("ProcessorConfig")
            .and_then(|c| c.get("Mode"))
            .and_then(Json::as_str)
        {
            Some("DISTRIBUTED") => MapMode::Distributed,
            _ => MapMode::Inline,
        };
        let processor_language = self.query_language(fields, &processor_pointer, language);
        let processor = self.machine(fields, &processor_pointer, processor_language, false);
        let item_batcher = match object.get("ItemBatcher") {
            Some(Json::Object(batcher)) => {
                let batcher_pointer = pointer_join(pointer, "ItemBatcher");
                Some(ItemBatcher {
                    max_items_per_batch: self.number_source(
                        batcher,
                        &batcher_pointer,
                        "MaxItemsPerBatch",
                    ),
                    max_input_bytes_per_batch: self.number_source(
                        batcher,
                        &batcher_pointer,
                        "MaxInputBytesPerBatch",
                    ),
                    batch_input: batcher.get("BatchInput").cloned(),
                })
            }
            Some(_) => {
                self.error(
                    &pointer_join(pointer, "ItemBatcher"),
                    "The value for the field 'ItemBatcher' must be an OBJECT",
                );
                None
            }
            None => None,
        };
        Some(Map {
            processor,
            mode,
            items_path: self.optional_string(object, pointer, "ItemsPath"),
            items: object.get("Items").cloned(),
            item_selector: object
                .get("ItemSelector")
                .or_else(|| object.get("Parameters"))
                .cloned(),
            max_concurrency: self.number_source(object, pointer, "MaxConcurrency"),
            tolerated_failure_percentage: self.number_source(
                object,
                pointer,
                "ToleratedFailurePercentage",
            ),
            tolerated_failure_count: self.number_source(object, pointer, "ToleratedFailureCount"),
            item_batcher,
            label: self.optional_string(object, pointer, "Label"),
            result_writer: object.get("ResultWriter").and_then(|writer| {
                self.result_writer(writer, &pointer_join(pointer, "ResultWriter"), language)
            }),
            item_reader: object.get("ItemReader").and_then(|reader| {
                self.item_reader(reader, &pointer_join(pointer, "ItemReader"), language)
            }),
        })
    }

    /// Every `Next`, `Default` and catcher target must name a state of the
    /// same machine, and `StartAt` must too.
    fn check_transitions(&mut self, definition: &Definition) {
        // A machine without states already has its diagnostic; every target
        // in it would be missing too, and AWS does not say so.
        for machine in definition
            .machines
            .iter()
            .filter(|machine| !machine.states.is_empty())
        {
            let start_pointer = pointer_join(&machine.pointer, "StartAt");
            if !machine.start_at.is_empty() && machine.start().is_none() {
                self.diagnostics.push(Diagnostic {
                    code: MISSING_TRANSITION_TARGET,
                    pointer: start_pointer,
                    message: format!("Missing 'Next' target: {}", machine.start_at),
                });
            }
            for state in machine.states.values() {
                let mut targets: Vec<(&str, String)> = Vec::new();
                if let Transition::Next(next) = &state.transition {
                    targets.push((next, pointer_join(&state.pointer, "Next")));
                }
                if let StateKind::Choice(choice) = &state.kind {
                    for (index, rule) in choice.choices.iter().enumerate() {
                        targets.push((
                            &rule.next,
                            format!("{}/Choices[{index}]/Next", state.pointer),
                        ));
                    }
                    if let Some(default) = &choice.default {
                        targets.push((default, pointer_join(&state.pointer, "Default")));
                    }
                }
                for (index, catcher) in state.catch.iter().enumerate() {
                    targets.push((
                        &catcher.next,
                        format!("{}/Catch[{index}]/Next", state.pointer),
                    ));
                }
                for (target, pointer) in targets {
                    if machine.index_of(target).is_none() {
                        self.diagnostics.push(Diagnostic {
                            code: MISSING_TRANSITION_TARGET,
                            pointer,
                            // AWS says 'Next' for Default and catchers too.
                            message: format!("Missing 'Next' target: {target}"),
                        });
                    }
                }
            }
        }
    }
}
