//! Parallel and Map states under TestState: their input is evaluated, their
//! branches or iterations are replaced by the mocked result.

use serde_json::Value as Json;
use windlass_asl::definition::Map;
use windlass_asl::failure::names;
use windlass_asl::{jsonata, payload, Failure};

use super::prepare::Mocked;
use super::run::{StateEnd, Tester};
use crate::interpreter::children::map_limits;

impl Tester<'_> {
    pub(super) fn parallel(&mut self) -> Result<StateEnd, Failure> {
        // The branches' input is evaluated for its errors; AWS does not show it.
        let effective = self.eval.effective_input(self.raw)?;
        self.eval.parameters(effective)?;
        let state = self.eval.state;
        match &self.prepared.mock {
            Some(Mocked::Result(result)) => self.complete(state, result.clone()),
            Some(Mocked::Error(failure)) => Err(failure.clone()),
            None => Err(Failure::runtime(
                "A Parallel state needs a mock in TestState",
            )),
        }
    }

    pub(super) fn map(&mut self, map: &Map) -> Result<StateEnd, Failure> {
        let effective = self.effective_input()?;
        let items = self.map_items(map, &effective)?;
        if self.jsonpath() {
            self.inspection.after_items_path = Some(Json::Array(items.clone()));
            if let Some(selector) = &map.item_selector {
                self.inspection.after_item_selector =
                    Some(self.item_selector(selector, &effective, &items)?);
            }
        }
        let (max_concurrency, tolerated_count, tolerated_percentage) =
            map_limits(&self.eval, &effective, map)?;
        self.inspection.max_concurrency = Some(max_concurrency as u64);
        self.inspection.tolerated_failure_count = tolerated_count;
        self.inspection.tolerated_failure_percentage = tolerated_percentage;
        let result = match &self.prepared.mock {
            Some(Mocked::Result(result)) => result.clone(),
            Some(Mocked::Error(failure)) => return Err(failure.clone()),
            None => return Err(Failure::runtime("A Map state needs a mock in TestState")),
        };
        let failures = self.config.map_iteration_failure_count.unwrap_or(0);
        let total = result.as_array().map_or(items.len(), Vec::len);
        if tolerance_exceeded(failures, total, tolerated_count, tolerated_percentage) {
            return Err(Failure::new(
                names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                "The specified tolerated failure threshold was exceeded",
            ));
        }
        let state = self.eval.state;
        self.complete(state, result)
    }

    /// The Map's items: `ItemsPath` (JSONPath) or `Items` (JSONata).
    fn map_items(&self, map: &Map, effective: &Json) -> Result<Vec<Json>, Failure> {
        if self.jsonpath() {
            let (items, path) = match &map.items_path {
                Some(p) => (self.eval.select(effective, p, "ItemsPath")?, p.as_str()),
                None => (effective.clone(), "$"),
            };
            return match items {
                Json::Array(items) => Ok(items),
                // AWS names a context path (`$$...`) with one `$` here.
                _ => Err(Failure::runtime(format!(
                    "Reference path \"{}\" must point to array.",
                    path.strip_prefix('$')
                        .filter(|p| p.starts_with('$'))
                        .unwrap_or(path)
                ))),
            };
        }
        let items = match &map.items {
            Some(Json::String(expression)) if jsonata::is_expression(expression) => {
                let value = self.eval.select(self.raw, expression, "Items")?;
                if !value.is_array() {
                    return Err(jsonata::unexpected_type(
                        "Items", expression, "array", &value,
                    ));
                }
                value
            }
            Some(template) => self.eval.with_scope(self.raw, None, None, |scope| {
                jsonata::evaluate_field("Items", template, scope)
            })?,
            None if !self.raw.is_array() => {
                return Err(Failure::query_evaluation(format!(
                    "Map state input must be an array but was: {}",
                    self.raw
                )))
            }
            None => self.raw.clone(),
        };
        match items {
            Json::Array(items) => Ok(items),
            other => Err(Failure::query_evaluation(format!(
                "Items of the Map state must be an array, but was: {other}"
            ))),
        }
    }

    /// Each item through ItemSelector, with `$$.Map.Item` set (JSONPath).
    fn item_selector(
        &mut self,
        selector: &Json,
        effective: &Json,
        items: &[Json],
    ) -> Result<Json, Failure> {
        let saved = self.eval.context.clone();
        let mut selected = Vec::with_capacity(items.len());
        let mut outcome = Ok(());
        for (index, item) in items.iter().enumerate() {
            self.eval.set_map_item(index, item);
            match self.eval.with_scope(effective, None, None, |scope| {
                payload::render(selector, scope)
            }) {
                Ok(value) => selected.push(value),
                Err(failure) => {
                    outcome = Err(failure);
                    break;
                }
            }
        }
        self.eval.context = saved;
        outcome.map(|()| Json::Array(selected))
    }
}

/// Whether `failures` failed iterations of `total` exceed the Map's
/// tolerance. TestState applies the threshold only when one is set.
fn tolerance_exceeded(
    failures: u64,
    total: usize,
    count: Option<u64>,
    percentage: Option<f64>,
) -> bool {
    if failures == 0 {
        return false;
    }
    let over_count = count.map(|max| failures > max);
    let over_percentage =
        percentage.map(|max| total > 0 && failures as f64 * 100.0 / total as f64 > max);
    match (over_count, over_percentage) {
        (None, None) => false,
        (Some(c), None) => c,
        (None, Some(p)) => p,
        (Some(c), Some(p)) => c && p,
    }
}
