//! The input/output chain of a state, in both query languages.
//!
//! JSONPath: InputPath -> Parameters -> (work) -> ResultSelector -> ResultPath
//! -> OutputPath, with Assign evaluated on the result. JSONata: Arguments ->
//! (work) -> Assign and Output, with `$states.input` and `$states.result`.

use std::borrow::Cow;

use serde_json::{Map as JsonMap, Value as Json};
use windlass_asl::definition::{PathField, QueryLanguage, State, StateKind};
use windlass_asl::{jsonata, path, payload, Failure, Scope};

use crate::context::{context_object, FrameVariables};
use crate::execution::{Execution, FrameId};
use crate::host::SeededHost;

/// Evaluation of one state of one frame: what its expressions can see.
pub(crate) struct Eval<'a> {
    pub execution: &'a Execution,
    pub host: &'a SeededHost,
    pub frame: FrameId,
    pub state: &'a State,
    pub context: Json,
}

static EMPTY: Json = Json::Null;

impl<'a> Eval<'a> {
    pub fn new(
        execution: &'a Execution,
        host: &'a SeededHost,
        frame: FrameId,
        state: &'a State,
    ) -> Self {
        Self::with_token(execution, host, frame, state, None)
    }

    pub fn with_token(
        execution: &'a Execution,
        host: &'a SeededHost,
        frame: FrameId,
        state: &'a State,
        token: Option<&str>,
    ) -> Self {
        let context = match execution.frames.get(&frame) {
            Some(f) if state.uses_context => {
                let retriable = matches!(
                    state.kind,
                    StateKind::Task(_) | StateKind::Parallel(_) | StateKind::Map(_)
                );
                let retry_count = retriable.then(|| f.retries.iter().sum());
                context_object(execution, f, &state.name, retry_count, token)
            }
            _ => Json::Null,
        };
        Eval {
            execution,
            host,
            frame,
            state,
            context,
        }
    }

    /// Puts `$$.Map.Item` in the context (for a Map's ItemSelector).
    pub fn set_map_item(&mut self, index: usize, value: &Json) {
        if self.context.is_null() {
            if let Some(f) = self.execution.frames.get(&self.frame) {
                self.context = context_object(self.execution, f, &self.state.name, None, None);
            }
        }
        if let Some(map) = self.context.as_object_mut() {
            map.insert(
                "Map".into(),
                serde_json::json!({ "Item": { "Index": index, "Value": value } }),
            );
        }
    }

    pub fn vars(&self) -> FrameVariables<'a> {
        FrameVariables {
            frames: &self.execution.frames,
            frame: self.frame,
        }
    }

    pub fn jsonata(&self) -> bool {
        self.state.query_language == QueryLanguage::Jsonata
    }

    /// Runs `f` with a scope whose `$` is `input`.
    pub fn with_scope<T>(
        &self,
        input: &Json,
        result: Option<&Json>,
        error_output: Option<&Json>,
        f: impl FnOnce(&Scope) -> T,
    ) -> T {
        let vars = self.vars();
        let scope = Scope {
            input,
            context: if self.context.is_null() {
                &EMPTY
            } else {
                &self.context
            },
            vars: &vars,
            host: self.host,
            result,
            error_output,
        };
        f(&scope)
    }

    /// InputPath applied to the raw input (JSONPath); the raw input itself (JSONata).
    pub fn effective_input(&self, raw: &Json) -> Result<Json, Failure> {
        self.effective_input_ref(raw).map(Cow::into_owned)
    }

    /// [`Eval::effective_input`], borrowing the raw input when it is the
    /// effective input.
    pub fn effective_input_ref<'r>(&self, raw: &'r Json) -> Result<Cow<'r, Json>, Failure> {
        if self.jsonata() {
            return Ok(Cow::Borrowed(raw));
        }
        match &self.state.io.input_path {
            None => Ok(Cow::Borrowed(raw)),
            Some(PathField::Null) => Ok(Cow::Owned(Json::Object(JsonMap::new()))),
            Some(PathField::Path(p)) => self
                .with_scope(raw, None, None, |scope| path::select(p, scope))
                .map(Cow::Owned),
        }
    }

    /// Parameters (JSONPath, on the effective input) or Arguments (JSONata, on
    /// the raw input): what a Task, Parallel or Pass works on.
    pub fn parameters(&self, effective: Json) -> Result<Json, Failure> {
        if self.jsonata() {
            return match &self.state.io.arguments {
                Some(arguments) => self.with_scope(&effective, None, None, |scope| {
                    jsonata::evaluate_field("Arguments", arguments, scope)
                }),
                None => Ok(effective),
            };
        }
        match &self.state.io.parameters {
            Some(template) => self.with_scope(&effective, None, None, |scope| {
                payload::render(template, scope)
            }),
            None => Ok(effective),
        }
    }

    /// ResultSelector on a task, Parallel or Map result (JSONPath only).
    pub fn result_selector(&self, result: Json) -> Result<Json, Failure> {
        match (&self.state.io.result_selector, self.jsonata()) {
            (Some(template), false) => self.with_scope(&result, None, None, |scope| {
                payload::render(template, scope)
            }),
            _ => Ok(result),
        }
    }

    /// The variables `assign` sets, evaluated against the state before any
    /// of them changes. JSONPath: `$` is the result; JSONata: `$states.input`
    /// and `$states.result`.
    pub fn assignments(
        &self,
        assign: Option<&Json>,
        field: &str,
        raw: &Json,
        result: Option<&Json>,
        error_output: Option<&Json>,
    ) -> Result<Option<JsonMap<String, Json>>, Failure> {
        let Some(assign) = assign else {
            return Ok(None);
        };
        let value = if self.jsonata() {
            self.with_scope(raw, result, error_output, |scope| {
                jsonata::evaluate_field(field, assign, scope)
            })?
        } else {
            let input = result.or(error_output).unwrap_or(raw);
            self.with_scope(input, None, None, |scope| payload::render(assign, scope))?
        };
        match value {
            Json::Object(map) => Ok(Some(map)),
            _ => Err(Failure::runtime(
                "The value for the field 'Assign' must be an OBJECT",
            )),
        }
    }

    /// The state's output given its result. JSONPath: ResultPath then
    /// OutputPath. JSONata: `Output`, or `default` when there is none.
    pub fn output(
        &self,
        raw: &Json,
        result: Json,
        output_template: Option<(&str, &Json)>,
        default_is_input: bool,
    ) -> Result<Json, Failure> {
        if self.jsonata() {
            let template =
                output_template.or_else(|| self.state.io.output.as_ref().map(|t| ("Output", t)));
            return match template {
                Some((field, template)) => self.with_scope(raw, Some(&result), None, |scope| {
                    jsonata::evaluate_field(field, template, scope)
                }),
                None if default_is_input => Ok(raw.clone()),
                None => Ok(result),
            };
        }
        let combined = self.result_path(raw, result, self.state.io.result_path.as_ref())?;
        self.output_path(combined)
    }

    /// Combines `result` into the raw input at `result_path`.
    pub fn result_path(
        &self,
        raw: &Json,
        result: Json,
        result_path: Option<&PathField>,
    ) -> Result<Json, Failure> {
        match result_path {
            None => Ok(result),
            Some(PathField::Null) => Ok(raw.clone()),
            Some(PathField::Path(p)) => {
                let mut target = raw.clone();
                path::assign(&mut target, p, result)?;
                Ok(target)
            }
        }
    }

    pub fn output_path(&self, value: Json) -> Result<Json, Failure> {
        match &self.state.io.output_path {
            None => Ok(value),
            Some(PathField::Null) => Ok(Json::Object(JsonMap::new())),
            Some(PathField::Path(p)) => {
                self.with_scope(&value, None, None, |scope| path::select(p, scope))
            }
        }
    }

    /// Evaluates a JSONata expression string, or a JSONPath path, for a
    /// field that may use either (e.g. `SecondsPath`, `Items`).
    pub fn select(&self, input: &Json, expression: &str, field: &str) -> Result<Json, Failure> {
        self.with_scope(input, None, None, |scope| {
            if jsonata::is_expression(expression) {
                jsonata::evaluate_field_expression(field, expression, scope)
            } else {
                path::select(expression, scope)
            }
        })
    }
}
