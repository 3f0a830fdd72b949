//! Choice states: evaluating rules and picking the next state.

use std::borrow::Cow;

use serde_json::Value as Json;
use windlass_asl::definition::{Choice, ComparisonOp, Condition, Operand, State};
use windlass_asl::failure::names;
use windlass_asl::{path, Failure};

use super::io::Eval;
use super::{Flow, Output, Run};
use crate::execution::FrameId;
use crate::time_fmt::parse_timestamp;

impl Run<'_> {
    pub(super) fn run_choice(&mut self, frame: FrameId, state: &State, choice: &Choice) -> Flow {
        let computed = {
            let Some(current) = self.execution.frames.get(&frame) else {
                return Flow::Blocked;
            };
            let raw = &current.input;
            let eval = Eval::new(self.execution, &self.host, frame, state);
            (|| {
                let effective = eval.effective_input_ref(raw)?;
                let mut matched = None;
                for (index, rule) in choice.choices.iter().enumerate() {
                    let field = RuleField(index);
                    if evaluate(&eval, &rule.condition, raw, &effective, &field)? {
                        matched = Some((index, rule));
                        break;
                    }
                }
                let (next, assign, output_template) = match matched {
                    Some((index, rule)) => {
                        let (assign_field, assign) = match &rule.assign {
                            Some(assign) => {
                                (Some(format!("Choices[{index}]/Assign")), Some(assign))
                            }
                            None => (None, state.assign.as_ref()),
                        };
                        let output = rule
                            .output
                            .as_ref()
                            .map(|o| (format!("Choices[{index}]/Output"), o));
                        (rule.next.as_str(), (assign_field, assign), output)
                    }
                    None => match &choice.default {
                        Some(default) => (default.as_str(), (None, state.assign.as_ref()), None),
                        None => {
                            return Err(Failure::new(
                                names::NO_CHOICE_MATCHED,
                                format!("No Matches! for the input '{}'", compact(&effective)),
                            ))
                        }
                    },
                };
                let assignments = match assign.1 {
                    Some(_) => eval.assignments(
                        assign.1,
                        assign.0.as_deref().unwrap_or("Assign"),
                        raw,
                        Some(&effective),
                        None,
                    )?,
                    None => None,
                };
                let output = if eval.jsonata() {
                    match output_template.as_ref() {
                        None if state.io.output.is_none() => Output::Input,
                        template => {
                            let template = template.map(|(field, t)| (field.as_str(), *t));
                            Output::Value(eval.output(raw, raw.clone(), template, true)?)
                        }
                    }
                } else {
                    match effective {
                        Cow::Borrowed(_) if state.io.output_path.is_none() => Output::Input,
                        effective => Output::Value(eval.output_path(effective.into_owned())?),
                    }
                };
                Ok::<_, Failure>((next, assignments, output))
            })()
        };
        match computed {
            Ok((next, assignments, output)) => {
                self.apply_assignments(frame, assignments);
                self.exit_with(frame, output, Some(next))
            }
            Err(failure) => self.evaluation_failed(frame, failure),
        }
    }
}

fn compact(value: &Json) -> String {
    value.to_string()
}

pub(crate) fn evaluate(
    eval: &Eval,
    condition: &Condition,
    raw: &Json,
    effective: &Json,
    field: &RuleField,
) -> Result<bool, Failure> {
    match condition {
        Condition::And(all) => {
            for c in all {
                if !evaluate(eval, c, raw, effective, field)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(any) => {
            for c in any {
                if evaluate(eval, c, raw, effective, field)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(inner) => Ok(!evaluate(eval, inner, raw, effective, field)?),
        Condition::Jsonata(expression) => match eval.select(raw, expression, &field.name())? {
            Json::Bool(b) => Ok(b),
            other => Err(windlass_asl::jsonata::unexpected_type(
                &field.name(),
                expression,
                "boolean",
                &other,
            )),
        },
        Condition::Compare {
            variable,
            parsed,
            op,
            operand,
        } => eval.with_scope(effective, None, None, |scope| {
            path::lookup(variable, parsed, scope, |value| {
                if *op == ComparisonOp::IsPresent {
                    return Ok(value.is_some() == (operand == &Operand::Literal(Json::Bool(true))));
                }
                let Some(value) = value else {
                    return Err(Failure::runtime(format!(
                        "Invalid path '{variable}': The choice state's condition path references an invalid value."
                    )));
                };
                match operand {
                    Operand::Literal(v) => Ok(compare(*op, value, v)),
                    Operand::Path(p) => {
                        let operand = path::select(p, scope)?;
                        Ok(compare(*op, value, &operand))
                    }
                }
            })?
        }),
    }
}

/// One data test. Values of the wrong type never match.
pub(crate) fn compare(op: ComparisonOp, value: &Json, operand: &Json) -> bool {
    use ComparisonOp::*;
    let flag = operand.as_bool().unwrap_or(false);
    match op {
        StringEquals
        | StringLessThan
        | StringGreaterThan
        | StringLessThanEquals
        | StringGreaterThanEquals => {
            let (Some(a), Some(b)) = (value.as_str(), operand.as_str()) else {
                return false;
            };
            let ordering = a.encode_utf16().cmp(b.encode_utf16());
            ordered(op, ordering)
        }
        StringMatches => match (value.as_str(), operand.as_str()) {
            (Some(text), Some(pattern)) => glob_matches(pattern, text),
            _ => false,
        },
        NumericEquals
        | NumericLessThan
        | NumericGreaterThan
        | NumericLessThanEquals
        | NumericGreaterThanEquals => {
            let (Some(a), Some(b)) = (value.as_f64(), operand.as_f64()) else {
                return false;
            };
            match a.partial_cmp(&b) {
                Some(ordering) => ordered(op, ordering),
                None => false,
            }
        }
        BooleanEquals => matches!((value, operand), (Json::Bool(a), Json::Bool(b)) if a == b),
        TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => {
            let (Some(a), Some(b)) = (
                value.as_str().and_then(parse_timestamp),
                operand.as_str().and_then(parse_timestamp),
            ) else {
                return false;
            };
            ordered(op, a.cmp(&b))
        }
        IsNull => value.is_null() == flag,
        IsPresent => flag,
        IsNumeric => value.is_number() == flag,
        IsString => value.is_string() == flag,
        IsBoolean => value.is_boolean() == flag,
        IsTimestamp => value.as_str().and_then(parse_timestamp).is_some() == flag,
    }
}

fn ordered(op: ComparisonOp, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    use ComparisonOp::*;
    match op {
        StringEquals | NumericEquals | TimestampEquals => ordering == Equal,
        StringLessThan | NumericLessThan | TimestampLessThan => ordering == Less,
        StringGreaterThan | NumericGreaterThan | TimestampGreaterThan => ordering == Greater,
        StringLessThanEquals | NumericLessThanEquals | TimestampLessThanEquals => {
            ordering != Greater
        }
        StringGreaterThanEquals | NumericGreaterThanEquals | TimestampGreaterThanEquals => {
            ordering != Less
        }
        _ => false,
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are
/// literal. Classic wildcard matching with backtracking to the last star,
/// over byte offsets so nothing is allocated.
pub(crate) fn glob_matches(pattern: &str, text: &str) -> bool {
    #[derive(PartialEq)]
    enum Token {
        Any,
        Char(char),
    }
    /// The token at byte offset `at` of the pattern, and its length.
    fn token(pattern: &str, at: usize) -> Option<(Token, usize)> {
        let mut chars = pattern[at..].chars();
        let c = chars.next()?;
        Some(match c {
            '\\' => match chars.next() {
                Some(escaped) => (Token::Char(escaped), 1 + escaped.len_utf8()),
                None => (Token::Char('\\'), 1),
            },
            '*' => (Token::Any, 1),
            other => (Token::Char(other), other.len_utf8()),
        })
    }
    let (mut t, mut p) = (0usize, 0usize);
    // After the last star: where the pattern resumes, and the text offset it
    // has consumed up to.
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = text[t..].chars().next() {
        match token(pattern, p) {
            Some((Token::Char(expected), len)) if expected == c => {
                t += c.len_utf8();
                p += len;
                continue;
            }
            Some((Token::Any, len)) => {
                star = Some((p + len, t));
                p += len;
                continue;
            }
            _ => {}
        }
        let Some((resume, mark)) = star else {
            return false;
        };
        let skipped = text[mark..].chars().next().map_or(1, char::len_utf8);
        star = Some((resume, mark + skipped));
        p = resume;
        t = mark + skipped;
    }
    while let Some((Token::Any, len)) = token(pattern, p) {
        p += len;
    }
    p == pattern.len()
}

/// The Choice rule a condition belongs to; its field is named only when a
/// message needs it (built on failure, not for every rule evaluated).
pub(crate) struct RuleField(pub usize);

impl RuleField {
    fn name(&self) -> String {
        format!("Choices[{}]/Condition", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn string_matches_wildcards_and_escapes() {
        let cases = [
            ("*.log", "server.log", true),
            ("*.log", "server.txt", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("log-*-done", "log-ünïcode-done", true),
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("a\\\\b", "a\\b", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("**a", "bba", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                glob_matches(pattern, text),
                expected,
                "{pattern:?} on {text:?}"
            );
        }
    }
}
