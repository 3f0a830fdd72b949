//! Comparing a result with a recorded one: JSON values, with the recorder's
//! redaction placeholders matching any value.

use regex::Regex;
use serde_json::Value as Json;

pub struct Matcher {
    words: Vec<String>,
    placeholder: Regex,
}

impl Matcher {
    pub fn new(redactions: &[String]) -> Self {
        let mut words: Vec<String> = vec!["111111111111".into(), "snf_role_arn".into()];
        words.extend(redactions.iter().filter(|w| !w.is_empty()).cloned());
        // A placeholder such as `<uuid:1>`, `<region>` or `<ExecArnPart_0idx>`.
        let placeholder =
            Regex::new(r"<[A-Za-z_][A-Za-z0-9_:\-]*>").unwrap_or_else(|_| unreachable_regex());
        Matcher { words, placeholder }
    }

    pub fn matches(&self, expected: &Json, actual: &Json) -> bool {
        match (expected, actual) {
            (Json::String(e), _) if e == "date" => actual.is_string(),
            (Json::String(e), Json::String(a)) => self.string_matches(e, a),
            (Json::String(e), _) if self.is_whole_placeholder(e) => true,
            (Json::Number(e), Json::Number(a)) => e == a || e.as_f64() == a.as_f64(),
            (Json::Array(e), Json::Array(a)) => {
                e.len() == a.len() && e.iter().zip(a).all(|(e, a)| self.matches(e, a))
            }
            (Json::Object(e), Json::Object(a)) => {
                e.len() == a.len()
                    && e.iter()
                        .all(|(k, v)| a.get(k).is_some_and(|av| self.matches(v, av)))
            }
            _ => expected == actual,
        }
    }

    fn is_whole_placeholder(&self, text: &str) -> bool {
        self.placeholder
            .find(text)
            .is_some_and(|m| m.start() == 0 && m.end() == text.len())
            || self.words.iter().any(|w| w == text)
    }

    pub fn string_matches(&self, expected: &str, actual: &str) -> bool {
        if expected == actual {
            return true;
        }
        let has_token = self.placeholder.is_match(expected)
            || self.words.iter().any(|w| expected.contains(w.as_str()));
        if !has_token {
            return false;
        }
        // Escape the text, then turn every placeholder into a wildcard.
        let mut pattern = regex::escape(expected);
        for word in &self.words {
            pattern = pattern.replace(&regex::escape(word), "(?s:.*?)");
        }
        let escaped_placeholder =
            Regex::new(r"<[A-Za-z_][A-Za-z0-9_:\\\-]*>").unwrap_or_else(|_| unreachable_regex());
        let pattern = escaped_placeholder.replace_all(&pattern, "(?s:.*?)");
        match Regex::new(&format!("^{pattern}$")) {
            Ok(re) => re.is_match(actual),
            Err(_) => false,
        }
    }
}

fn unreachable_regex() -> Regex {
    // Only reached if a constant pattern above failed to compile.
    Regex::new("$^").unwrap_or_else(|_| std::process::abort())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_match_any_value() {
        let m = Matcher::new(&["MyMachine".into()]);
        assert!(m.matches(&json!("<uuid:1>"), &json!("8a1f")));
        assert!(m.matches(
            &json!("arn:<partition>:states:<region>:111111111111:execution:MyMachine:<uuid:2>"),
            &json!("arn:aws:states:us-east-1:123456789012:execution:m-1:abc")
        ));
        assert!(m.matches(
            &json!({"a": [1, "date"]}),
            &json!({"a": [1.0, "2024-01-01T00:00:00Z"]})
        ));
        assert!(!m.matches(&json!({"a": 1}), &json!({"a": 2})));
        assert!(!m.matches(&json!("text"), &json!("other")));
    }
}
