//! Retry and Catch: retriers, catchers and their ErrorEquals lists.

use serde_json::{Map as JsonMap, Value as Json};

use super::{index_join, pointer_join, Parser};
use crate::definition::*;

impl Parser {
    pub(super) fn retriers(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
    ) -> Vec<Retrier> {
        let Some(value) = object.get("Retry") else {
            return Vec::new();
        };
        let list_pointer = pointer_join(pointer, "Retry");
        let Some(items) = value.as_array() else {
            self.error(
                &list_pointer,
                "The value for the field 'Retry' must be an ARRAY",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_pointer = index_join(&list_pointer, index);
            let Some(fields) = item.as_object() else {
                self.error(&item_pointer, "A retrier must be a JSON object");
                continue;
            };
            self.check_fields(
                fields,
                &item_pointer,
                &[
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ],
            );
            let jitter = match fields.get("JitterStrategy").and_then(Json::as_str) {
                Some("FULL") => Jitter::Full,
                Some("NONE") | None => Jitter::None,
                Some(_) => {
                    self.error(
                        &pointer_join(&item_pointer, "JitterStrategy"),
                        "The field 'JitterStrategy' should have one of these values: [FULL, NONE]",
                    );
                    Jitter::None
                }
            };
            out.push(Retrier {
                error_equals: self.error_equals(fields, &item_pointer),
                interval_seconds: self
                    .optional_number(fields, &item_pointer, "IntervalSeconds")
                    .unwrap_or(1.0),
                max_attempts: self
                    .optional_uint(fields, &item_pointer, "MaxAttempts")
                    .unwrap_or(3),
                backoff_rate: self
                    .optional_number(fields, &item_pointer, "BackoffRate")
                    .unwrap_or(2.0),
                max_delay_seconds: self.optional_number(fields, &item_pointer, "MaxDelaySeconds"),
                jitter,
            });
            if let Some(rate) = fields.get("BackoffRate").and_then(Json::as_f64) {
                if rate < 1.0 {
                    self.error(
                        &pointer_join(&item_pointer, "BackoffRate"),
                        "The value for the field 'BackoffRate' must be at least 1.0",
                    );
                }
            }
        }
        self.states_all_last(
            &out.iter().map(|r| &r.error_equals).collect::<Vec<_>>(),
            &list_pointer,
            "Retry",
        );
        out
    }

    /// A retrier or catcher matching `States.ALL` must be the last one:
    /// any after it could never match.
    fn states_all_last(&mut self, lists: &[&Vec<String>], list_pointer: &str, field: &str) {
        for (index, errors) in lists.iter().enumerate() {
            if index + 1 < lists.len() && errors.iter().any(|e| e == "States.ALL") {
                self.error(
                    &index_join(list_pointer, index),
                    format!("A {field} entry with 'States.ALL' must be the last one in '{field}'"),
                );
            }
        }
    }

    pub(super) fn catchers(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
    ) -> Vec<Catcher> {
        let Some(value) = object.get("Catch") else {
            return Vec::new();
        };
        let list_pointer = pointer_join(pointer, "Catch");
        let Some(items) = value.as_array() else {
            self.error(
                &list_pointer,
                "The value for the field 'Catch' must be an ARRAY",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_pointer = index_join(&list_pointer, index);
            let Some(fields) = item.as_object() else {
                self.error(&item_pointer, "A catcher must be a JSON object");
                continue;
            };
            self.check_fields(
                fields,
                &item_pointer,
                &[
                    "ErrorEquals",
                    "Next",
                    "ResultPath",
                    "Assign",
                    "Output",
                    "Comment",
                ],
            );
            let Some(next) = self.optional_string(fields, &item_pointer, "Next") else {
                self.error(&item_pointer, "These fields are required: [Next]");
                continue;
            };
            out.push(Catcher {
                error_equals: self.error_equals(fields, &item_pointer),
                next,
                result_path: self.path_field(fields, &item_pointer, "ResultPath"),
                assign: fields.get("Assign").cloned(),
                output: fields.get("Output").cloned(),
            });
        }
        self.states_all_last(
            &out.iter().map(|c| &c.error_equals).collect::<Vec<_>>(),
            &list_pointer,
            "Catch",
        );
        out
    }

    fn error_equals(&mut self, fields: &JsonMap<String, Json>, pointer: &str) -> Vec<String> {
        match fields.get("ErrorEquals") {
            Some(Json::Array(names)) if !names.is_empty() => {
                let names: Vec<String> = names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect();
                if names.iter().any(|n| n == "States.ALL") && names.len() > 1 {
                    self.error(
                        &pointer_join(pointer, "ErrorEquals"),
                        "States.ALL must appear alone in ErrorEquals",
                    );
                }
                names
            }
            _ => {
                self.error(
                    pointer,
                    "These fields are required: [ErrorEquals] (a non-empty ARRAY of error names)",
                );
                Vec::new()
            }
        }
    }
}
