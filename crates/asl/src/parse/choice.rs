//! Choice states: their rules and the JSONPath Boolean expressions in them.

use serde_json::{Map as JsonMap, Value as Json};

use super::{fields, index_join, pointer_join, Parser};
use crate::definition::*;

impl Parser {
    pub(super) fn choice(
        &mut self,
        object: &JsonMap<String, Json>,
        pointer: &str,
        language: QueryLanguage,
    ) -> Choice {
        let mut choices = Vec::new();
        match object.get("Choices") {
            Some(Json::Array(rules)) if !rules.is_empty() => {
                for (index, rule) in rules.iter().enumerate() {
                    let rule_pointer = index_join(&pointer_join(pointer, "Choices"), index);
                    if let Some(rule) = self.choice_rule(rule, &rule_pointer, language) {
                        choices.push(rule);
                    }
                }
            }
            Some(_) => self.error(
                &pointer_join(pointer, "Choices"),
                "The value for the field 'Choices' must be a non-empty ARRAY",
            ),
            None => self.error(pointer, "These fields are required: [Choices]"),
        }
        Choice {
            choices,
            default: self.optional_string(object, pointer, "Default"),
        }
    }

    fn choice_rule(
        &mut self,
        rule: &Json,
        pointer: &str,
        language: QueryLanguage,
    ) -> Option<ChoiceRule> {
        let Some(fields) = rule.as_object() else {
            self.error(pointer, "A choice rule must be a JSON object");
            return None;
        };
        let next = match fields.get("Next") {
            Some(Json::String(next)) => next.clone(),
            _ => {
                self.error(pointer, "These fields are required: [Next]");
                return None;
            }
        };
        let condition = if language == QueryLanguage::Jsonata {
            self.check_fields(
                fields,
                pointer,
                &["Condition", "Next", "Assign", "Output", "Comment"],
            );
            match fields.get("Condition") {
                Some(Json::String(text)) if crate::jsonata::is_expression(text) => {
                    Condition::Jsonata(text.clone())
                }
                Some(Json::Bool(value)) => Condition::Jsonata(format!("{{% {value} %}}")),
                Some(_) => {
                    self.error(
                        &pointer_join(pointer, "Condition"),
                        "The value for the field 'Condition' must be a JSONata expression",
                    );
                    return None;
                }
                None => {
                    self.error(pointer, "These fields are required: [Condition]");
                    return None;
                }
            }
        } else {
            self.condition(fields, pointer, &["Next", "Assign", "Comment"])?
        };
        Some(ChoiceRule {
            condition,
            next,
            assign: fields.get("Assign").cloned(),
            output: fields.get("Output").cloned(),
        })
    }

    /// A JSONPath Boolean expression: And/Or/Not or one data-test operator.
    fn condition(
        &mut self,
        fields: &JsonMap<String, Json>,
        pointer: &str,
        extra: &[&str],
    ) -> Option<Condition> {
        let mut operators = fields
            .keys()
            .filter(|key| !extra.contains(&key.as_str()) && key.as_str() != "Variable");
        let Some(operator) = operators.next() else {
            self.error(
                pointer,
                "A choice rule must have a comparison operator, 'And', 'Or' or 'Not'",
            );
            return None;
        };
        if let Some(other) = operators.next() {
            self.error(pointer, format!("A choice rule may have only one comparison operator; found '{operator}' and '{other}'"));
            return None;
        }
        let operand = &fields[operator];
        let operand_pointer = pointer_join(pointer, operator);
        match operator.as_str() {
            "And" | "Or" => {
                let Some(items) = operand.as_array().filter(|items| !items.is_empty()) else {
                    self.error(
                        &operand_pointer,
                        format!("The value for the field '{operator}' must be a non-empty ARRAY"),
                    );
                    return None;
                };
                let mut inner = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    let item_pointer = index_join(&operand_pointer, index);
                    let Some(item_fields) = item.as_object() else {
                        self.error(&item_pointer, "A nested choice rule must be a JSON object");
                        return None;
                    };
                    inner.push(self.condition(item_fields, &item_pointer, &["Comment"])?);
                }
                Some(if operator == "And" {
                    Condition::And(inner)
                } else {
                    Condition::Or(inner)
                })
            }
            "Not" => {
                let Some(item_fields) = operand.as_object() else {
                    self.error(
                        &operand_pointer,
                        "The value for the field 'Not' must be an OBJECT",
                    );
                    return None;
                };
                Some(Condition::Not(Box::new(self.condition(
                    item_fields,
                    &operand_pointer,
                    &["Comment"],
                )?)))
            }
            key => {
                let Some((op, is_path)) = ComparisonOp::from_key(key) else {
                    self.error(&operand_pointer, format!("Field '{key}' is not supported"));
                    return None;
                };
                let variable = match fields.get("Variable") {
                    Some(Json::String(variable)) => variable.clone(),
                    _ => {
                        self.error(pointer, "These fields are required: [Variable]");
                        return None;
                    }
                };
                let operand = if is_path {
                    match operand {
                        Json::String(path) => Operand::Path(path.clone()),
                        _ => {
                            self.error(
                                &operand_pointer,
                                format!("The value for the field '{key}' must be a STRING"),
                            );
                            return None;
                        }
                    }
                } else {
                    if !fields::operand_type_ok(op, operand) {
                        self.error(
                            &operand_pointer,
                            format!(
                                "The value for the field '{key}' must be {}",
                                fields::operand_type_name(op)
                            ),
                        );
                        return None;
                    }
                    Operand::Literal(operand.clone())
                };
                Some(Condition::Compare {
                    parsed: crate::path::Parsed::new(&variable),
                    variable,
                    op,
                    operand,
                })
            }
        }
    }
}
