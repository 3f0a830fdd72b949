//! The checks Step Functions makes once a definition has its shape: every
//! state reachable, names unique, paths and `.$` fields well formed, Wait
//! timestamps in RFC 3339, Task resources known and allowed for the machine
//! type, Credentials complete, Map labels clean, JSONata that parses.
//!
//! They read the built [`Definition`] for structure and the raw document for
//! field values, so each diagnostic can point at the exact field.

use std::collections::HashSet;

use serde_json::{Map as JsonMap, Value as Json};

use super::{index_join, pointer_join, resource, Config, Diagnostic, MISSING_TRANSITION_TARGET};
use crate::definition::*;
use crate::{intrinsics, jsonata, path};

pub const DUPLICATE_STATE_NAME: &str = "DUPLICATE_STATE_NAME";
pub const INVALID_LABEL_NAME: &str = "INVALID_LABEL_NAME";
pub const MISSING_END_STATE: &str = "MISSING_END_STATE";

/// Fields of a JSONPath state that hold a path selecting from the input.
const SELECTING_PATHS: &[&str] = &["InputPath", "OutputPath"];
/// Fields of a JSONPath state that hold a reference path (names and single
/// indexes only).
const REFERENCE_PATHS: &[&str] = &[
    "ResultPath",
    "ItemsPath",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath",
];
/// Fields that take a path or an intrinsic function call.
const PATH_OR_CALL: &[&str] = &["ErrorPath", "CausePath"];
/// Payload templates whose `.$` keys hold paths or intrinsic calls.
const TEMPLATES: &[&str] = &["Parameters", "ResultSelector", "ItemSelector", "Assign"];

/// Runs every semantic check and appends what it finds to `out`.
pub(super) fn check(
    document: &Json,
    definition: &Definition,
    config: &Config,
    out: &mut Vec<Diagnostic>,
) {
    let mut checker = Checker {
        document,
        config,
        out,
    };
    checker.duplicate_names(definition);
    for machine in &definition.machines {
        checker.reachability(machine);
        for state in machine.states.values() {
            checker.state(state);
        }
    }
}

struct Checker<'a> {
    document: &'a Json,
    config: &'a Config,
    out: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn schema(&mut self, pointer: &str, message: impl Into<String>) {
        self.out.push(Diagnostic::schema(pointer, message));
    }

    /// State names are unique across the whole document, branches and item
    /// processors included.
    fn duplicate_names(&mut self, definition: &Definition) {
        let mut seen = HashSet::new();
        for machine in &definition.machines {
            for state in machine.states.values() {
                if !seen.insert(state.name.as_str()) {
                    self.out.push(Diagnostic {
                        code: DUPLICATE_STATE_NAME,
                        pointer: state.pointer.clone(),
                        message: format!("Duplicate State name: {}", state.name),
                    });
                }
            }
        }
    }

    /// A machine needs a terminal state, and every state must be the
    /// target of something: `StartAt`, a `Next`, a Choice rule, a `Default`
    /// or a catcher. AWS asks only whether something names the state, not
    /// whether that something is itself reached; a machine with no terminal
    /// state gets that diagnostic alone.
    fn reachability(&mut self, machine: &Machine) {
        if machine.states.is_empty() {
            return;
        }
        if !machine.states.values().any(is_terminal) {
            self.out.push(Diagnostic {
                code: MISSING_END_STATE,
                pointer: String::new(),
                message: "Workflow has no terminal state".into(),
            });
            return;
        }
        let mut targeted: HashSet<&str> = machine.states.values().flat_map(targets).collect();
        targeted.insert(machine.start_at.as_str());
        for state in machine.states.values() {
            if !targeted.contains(state.name.as_str()) {
                self.out.push(Diagnostic {
                    code: MISSING_TRANSITION_TARGET,
                    pointer: state.pointer.clone(),
                    message: format!("State \"{}\" is not reachable.", state.name),
                });
            }
        }
    }

    fn state(&mut self, state: &State) {
        let Some(fields) = resolve(self.document, &state.pointer).and_then(Json::as_object) else {
            return;
        };
        let pointer = state.pointer.as_str();
        match state.query_language {
            QueryLanguage::JsonPath => self.jsonpath_fields(fields, pointer),
            QueryLanguage::Jsonata => self.jsonata_fields(fields, pointer),
        }
        match &state.kind {
            StateKind::Task(task) => self.task(task, fields, pointer, state.query_language),
            StateKind::Wait(Wait::Timestamp(text)) => {
                let expression =
                    state.query_language == QueryLanguage::Jsonata && jsonata::is_expression(text);
                if !expression && !is_rfc3339(text) {
                    self.schema(
                        &pointer_join(pointer, "Timestamp"),
                        "String does not match RFC3339 timestamp",
                    );
                }
            }
            StateKind::Map(map) => {
                if let Some(label) = &map.label {
                    self.label(label, &pointer_join(pointer, "Label"));
                }
            }
            _ => {}
        }
    }

    /// Paths, `.$` templates and Choice variables of a JSONPath state, its
    /// catchers and its Choice rules.
    fn jsonpath_fields(&mut self, fields: &JsonMap<String, Json>, pointer: &str) {
        self.paths(fields, pointer);
        for key in TEMPLATES {
            if let Some(template) = fields.get(*key) {
                self.template(template, &pointer_join(pointer, key));
            }
        }
        if let Some(Json::Array(catchers)) = fields.get("Catch") {
            for (index, catcher) in catchers.iter().enumerate() {
                let Some(catcher) = catcher.as_object() else {
                    continue;
                };
                let catcher_pointer = format!("{pointer}/Catch[{index}]");
                self.paths(catcher, &catcher_pointer);
                if let Some(assign) = catcher.get("Assign") {
                    self.template(assign, &pointer_join(&catcher_pointer, "Assign"));
                }
            }
        }
        if let Some(Json::Array(rules)) = fields.get("Choices") {
            for (index, rule) in rules.iter().enumerate() {
                let rule_pointer = format!("{pointer}/Choices[{index}]");
                self.choice_rule(rule, &rule_pointer);
                if let Some(assign) = rule.get("Assign") {
                    self.template(assign, &pointer_join(&rule_pointer, "Assign"));
                }
            }
        }
    }

    fn paths(&mut self, fields: &JsonMap<String, Json>, pointer: &str) {
        for (key, value) in fields {
            let Json::String(text) = value else { continue };
            let valid = if SELECTING_PATHS.contains(&key.as_str()) {
                path::check(text).is_ok()
            } else if REFERENCE_PATHS.contains(&key.as_str()) {
                path::check_reference(text).is_ok()
            } else if PATH_OR_CALL.contains(&key.as_str()) {
                is_path_or_call(text)
            } else {
                continue;
            };
            if !valid {
                let what = if PATH_OR_CALL.contains(&key.as_str()) {
                    "a valid JSONPath or a valid intrinsic function call"
                } else {
                    "a valid JSONPath"
                };
                self.schema(
                    &pointer_join(pointer, key),
                    format!("The value for the field '{key}' must be {what}"),
                );
            }
        }
    }

    /// `Variable` and `...Path` operands of a Choice rule, through And/Or/Not.
    fn choice_rule(&mut self, rule: &Json, pointer: &str) {
        let Some(fields) = rule.as_object() else {
            return;
        };
        for (key, value) in fields {
            match (key.as_str(), value) {
                ("And" | "Or", Json::Array(items)) => {
                    for (index, item) in items.iter().enumerate() {
                        self.choice_rule(item, &format!("{pointer}/{key}[{index}]"));
                    }
                }
                ("Not", inner) => self.choice_rule(inner, &pointer_join(pointer, "Not")),
                (key, Json::String(text))
                    if (key == "Variable" || (key.ends_with("Path") && key != "Next"))
                        && path::check(text).is_err() =>
                {
                    self.schema(
                        &pointer_join(pointer, key),
                        format!("The value for the field '{key}' must be a valid JSONPath"),
                    );
                }
                _ => {}
            }
        }
    }

    /// A payload template: every `x.$` key holds a path or an intrinsic call.
    fn template(&mut self, value: &Json, pointer: &str) {
        match value {
            Json::Object(fields) => {
                for (key, value) in fields {
                    if key.ends_with(".$") {
                        if !value.as_str().is_some_and(is_path_or_call) {
                            self.schema(
                                pointer,
                                format!("The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call"),
                            );
                        }
                    } else {
                        self.template(value, &pointer_join(pointer, key));
                    }
                }
            }
            Json::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.template(item, &index_join(pointer, index));
                }
            }
            _ => {}
        }
    }

    /// Every `{% %}` string of a JSONata state must parse.
    fn jsonata_fields(&mut self, fields: &JsonMap<String, Json>, pointer: &str) {
        for (key, value) in fields {
            if matches!(
                key.as_str(),
                "Type" | "Comment" | "Next" | "Resource" | "QueryLanguage"
            ) {
                continue;
            }
            let mut bad = Vec::new();
            collect_bad_expressions(value, &pointer_join(pointer, key), &mut bad);
            for field_pointer in bad {
                let field = field_pointer.rsplit('/').next().unwrap_or(key).to_string();
                self.schema(
                    &field_pointer,
                    format!("The value for the field '{field}' must be a valid JSONata expression"),
                );
            }
        }
    }

    fn task(
        &mut self,
        task: &Task,
        fields: &JsonMap<String, Json>,
        pointer: &str,
        language: QueryLanguage,
    ) {
        let resource_pointer = pointer_join(pointer, "Resource");
        if !task.resource.is_empty() && !resource::is_known(&task.resource) {
            self.schema(
                &resource_pointer,
                format!(
                    "The resource provided {} is not recognized. The value is not a valid resource ARN, or the resource is not available in this region.",
                    task.resource
                ),
            );
        }
        if self.config.express {
            if let Some(message) = resource::express_refusal(&task.resource) {
                self.schema(&resource_pointer, message);
            }
        }
        match fields.get("Credentials") {
            None => {}
            Some(Json::Object(credentials)) => {
                let has_role = match language {
                    QueryLanguage::JsonPath => {
                        credentials.contains_key("RoleArn") || credentials.contains_key("RoleArn.$")
                    }
                    QueryLanguage::Jsonata => credentials.contains_key("RoleArn"),
                };
                if !has_role {
                    self.schema(
                        &pointer_join(pointer, "Credentials"),
                        "The field 'RoleArn' is required but was missing",
                    );
                }
            }
            Some(_) => self.schema(
                &pointer_join(pointer, "Credentials"),
                "The value for the field 'Credentials' must be an OBJECT",
            ),
        }
    }

    /// Map run labels: 1 to 40 characters, none of them blank, a bracket, a
    /// wildcard, punctuation AWS reserves, or a control character.
    fn label(&mut self, label: &str, pointer: &str) {
        let message = if label.is_empty() {
            "Label cannot be empty".to_string()
        } else if label.chars().count() > 40 {
            "Label cannot exceed 40 characters".to_string()
        } else if let Some(bad) = label.chars().find(|c| is_forbidden_in_label(*c)) {
            format!("Label contains invalid character: '{}'", shown(bad))
        } else {
            return;
        };
        self.out.push(Diagnostic {
            code: INVALID_LABEL_NAME,
            pointer: pointer.to_string(),
            message,
        });
    }
}

/// Whether a state ends its machine.
fn is_terminal(state: &State) -> bool {
    matches!(state.transition, Transition::End)
        || matches!(state.kind, StateKind::Succeed | StateKind::Fail(_))
}

/// The value at an AWS location such as `/States/A/Catch[0]/Next`: JSON
/// pointer segments, each key possibly followed by `[index]`s. A key that
/// exists as written wins over reading a bracket as an index.
pub(crate) fn resolve<'a>(document: &'a Json, location: &str) -> Option<&'a Json> {
    let mut value = document;
    for raw in location
        .split('/')
        .skip(1)
        .filter(|segment| !segment.is_empty())
    {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        if let Some(next) = value.get(segment.as_str()) {
            value = next;
            continue;
        }
        let (key, mut indexes) = segment
            .split_once('[')
            .map_or((segment.as_str(), ""), |(k, rest)| (k, rest));
        value = value.get(key)?;
        while let Some((index, rest)) = indexes.split_once(']') {
            value = value.get(index.parse::<usize>().ok()?)?;
            indexes = rest.strip_prefix('[').unwrap_or(rest);
        }
    }
    Some(value)
}

/// Every transition target a state names.
fn targets(state: &State) -> Vec<&str> {
    let mut out = Vec::new();
    if let Transition::Next(next) = &state.transition {
        out.push(next.as_str());
    }
    if let StateKind::Choice(choice) = &state.kind {
        out.extend(choice.choices.iter().map(|rule| rule.next.as_str()));
        out.extend(choice.default.as_deref());
    }
    out.extend(state.catch.iter().map(|catcher| catcher.next.as_str()));
    out
}

fn is_path_or_call(text: &str) -> bool {
    if intrinsics::is_call(text) {
        intrinsics::check(text).is_ok()
    } else {
        path::check(text).is_ok()
    }
}

/// Pointers of the `{% %}` strings under `value` that do not parse.
fn collect_bad_expressions(value: &Json, pointer: &str, out: &mut Vec<String>) {
    match value {
        Json::String(text) if jsonata::is_expression(text) && jsonata::check(text).is_err() => {
            out.push(pointer.to_string());
        }
        Json::Object(fields) => {
            for (key, value) in fields {
                collect_bad_expressions(value, &pointer_join(pointer, key), out);
            }
        }
        Json::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_bad_expressions(item, &index_join(pointer, index), out);
            }
        }
        _ => {}
    }
}

/// A character as a message shows it: control characters escaped.
fn shown(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        c if c.is_control() => format!("\\x{:02x}", u32::from(c)),
        c => c.to_string(),
    }
}

fn is_forbidden_in_label(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
        || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
}

/// Whether `text` is an RFC 3339 timestamp as ASL requires: an uppercase
/// `T` between date and time, and `Z` or a numeric offset.
pub(crate) fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = bytes.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let fixed = |index: usize, c: u8| bytes.get(index) == Some(&c);
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    if !(fixed(4, b'-') && fixed(7, b'-') && fixed(10, b'T') && fixed(13, b':') && fixed(16, b':'))
    {
        return false;
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let count = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if count == 0 {
            return false;
        }
        rest = &fraction[count..];
    }
    match rest.as_bytes() {
        [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [*h1, *h2, *m1, *m2].iter().all(u8::is_ascii_digit)
                && (u32::from(h1 - b'0') * 10 + u32::from(h2 - b'0')) <= 23
                && (u32::from(m1 - b'0') * 10 + u32::from(m2 - b'0')) <= 59
        }
        _ => false,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}
