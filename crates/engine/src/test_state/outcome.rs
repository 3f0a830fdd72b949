//! How a TestState ends: the state's own outcome, then Retry (the state
//! would run again) and Catch as a first attempt would meet them.

use serde_json::{json, Map as JsonMap, Value as Json};
use windlass_asl::definition::{error_matches, State, Transition};
use windlass_asl::{jsonata, Failure};

use super::run::{can_retry, StateEnd, Tester};
use super::{ErrorDetails, TestStateResponse, TestStateStatus};

impl Tester<'_> {
    /// Status, output and next state, after Retry and Catch had their say.
    pub(super) fn finish(mut self, state: &State, end: StateEnd) -> TestStateResponse {
        let mut variables = self.prepared.variables.clone();
        let mut response = TestStateResponse {
            status: TestStateStatus::Succeeded,
            output: None,
            error: None,
            cause: None,
            next_state: None,
            inspection_data: None,
        };
        match end {
            StateEnd::Done {
                output,
                next,
                assignments,
            } => {
                variables.extend(assignments.unwrap_or_default());
                response.output = Some(output);
                response.next_state = next.or_else(|| match &state.transition {
                    Transition::Next(next) => Some(next.clone()),
                    _ => None,
                });
            }
            StateEnd::Failed(failure) => {
                self.handle_error(state, failure, &mut response, &mut variables)
            }
        }
        if !variables.is_empty() {
            self.inspection.variables = Some(Json::Object(variables));
        }
        response.inspection_data = Some(self.inspection);
        response
    }

    /// Retry (the state would run again), Catch, or the state fails.
    fn handle_error(
        &mut self,
        state: &State,
        failure: Failure,
        response: &mut TestStateResponse,
        variables: &mut JsonMap<String, Json>,
    ) {
        response.status = TestStateStatus::Failed;
        response.error = Some(failure.error.clone()).filter(|e| !e.is_empty());
        response.cause = Some(failure.cause.clone()).filter(|c| !c.is_empty());
        if !can_retry(state) {
            return;
        }
        let mut details = ErrorDetails::default();
        if let Some((index, retrier)) = state
            .retry
            .iter()
            .enumerate()
            .find(|(_, r)| error_matches(&r.error_equals, &failure.error))
        {
            details.retry_index = Some(index);
            let attempts = self.config.retrier_retry_count.unwrap_or(0);
            if attempts < retrier.max_attempts {
                let exponent = i32::try_from(attempts).unwrap_or(i32::MAX);
                let mut delay = retrier.interval_seconds * retrier.backoff_rate.powi(exponent);
                if let Some(max) = retrier.max_delay_seconds {
                    delay = delay.min(max);
                }
                details.retry_backoff_interval_seconds = Some(delay as u64);
                response.status = TestStateStatus::Retriable;
                self.inspection.error_details = Some(details);
                return;
            }
        }
        if let Some((index, catcher)) = state
            .catch
            .iter()
            .enumerate()
            .find(|(_, c)| error_matches(&c.error_equals, &failure.error))
        {
            details.catch_index = Some(index);
            let raw = self.raw;
            let error_output = json!({ "Error": failure.error, "Cause": failure.cause });
            let caught = (|| {
                let assignments = self.eval.assignments(
                    catcher.assign.as_ref(),
                    "Assign",
                    raw,
                    None,
                    Some(&error_output),
                )?;
                let output = if self.eval.jsonata() {
                    match &catcher.output {
                        Some(template) => {
                            self.eval
                                .with_scope(raw, None, Some(&error_output), |scope| {
                                    jsonata::evaluate_field(
                                        &format!("Catch[{index}]/Output"),
                                        template,
                                        scope,
                                    )
                                })?
                        }
                        None => error_output.clone(),
                    }
                } else {
                    self.eval.result_path(
                        raw,
                        error_output.clone(),
                        catcher.result_path.as_ref(),
                    )?
                };
                Ok::<_, Failure>((assignments, output))
            })();
            match caught {
                Ok((assignments, output)) => {
                    variables.extend(assignments.unwrap_or_default());
                    response.status = TestStateStatus::CaughtError;
                    response.output = Some(output);
                    response.next_state = Some(catcher.next.clone());
                }
                Err(failure) => {
                    response.error = Some(failure.error);
                    response.cause = Some(failure.cause);
                }
            }
        }
        if details != ErrorDetails::default() {
            self.inspection.error_details = Some(details);
        }
    }
}
