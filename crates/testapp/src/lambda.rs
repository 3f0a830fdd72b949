//! The test app as a Lambda function of a container image: an invocation
//! (`POST /2015-03-31/functions/function/invocations`, what the Runtime
//! Interface Emulator of AWS's base images and fakecloud's Lambda send to
//! port 8080) is answered with the event it carried and the app's version,
//! or, with `TESTAPP_LAMBDA_ERROR`, with a function error of that type
//! (the `errorType`/`errorMessage` body Lambda reports as `FunctionError`).
//! A success also says `"hookStatus": "SUCCEEDED"`, so the function serves
//! as an ECS blue/green lifecycle hook too.

use crate::config::Config;
use crate::server::Answer;

/// Where an invocation arrives.
pub const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";

/// The answer to an invocation whose event is `event` (its body).
pub fn invoke(config: &Config, event: &str) -> Answer {
    let event = event.trim();
    // The event is echoed as JSON when it is an object, else as a string.
    let echoed = if event.starts_with('{') && event.ends_with('}') {
        event.to_owned()
    } else {
        quoted(event)
    };
    let body = match &config.lambda_error {
        Some(error_type) => format!(
            "{{\"errorType\":{},\"errorMessage\":{},\"received\":{echoed}}}",
            quoted(error_type),
            quoted(&format!(
                "testapp {} refuses the invocation (TESTAPP_LAMBDA_ERROR)",
                config.version
            ))
        ),
        None => format!(
            "{{\"hookStatus\":\"SUCCEEDED\",\"version\":{},\"received\":{echoed}}}",
            quoted(&config.version)
        ),
    };
    Answer { status: 200, body }
}

/// `text` as a JSON string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_echoes_its_event_or_fails_as_told() {
        let config = Config {
            version: "v3".into(),
            ..Config::default()
        };
        let answer = invoke(&config, "{\"stage\":\"BeforeSwitch\"}\n");
        assert_eq!(
            answer.body,
            "{\"hookStatus\":\"SUCCEEDED\",\"version\":\"v3\",\"received\":{\"stage\":\"BeforeSwitch\"}}"
        );
        assert_eq!(
            invoke(&config, "say \"hi\"").body,
            "{\"hookStatus\":\"SUCCEEDED\",\"version\":\"v3\",\"received\":\"say \\\"hi\\\"\"}"
        );
        let failing = Config {
            lambda_error: Some("HookRefused".into()),
            ..config
        };
        let answer = invoke(&failing, "{}");
        assert_eq!(
            answer.status, 200,
            "Lambda reports function errors in the body"
        );
        assert!(
            answer.body.starts_with(
                "{\"errorType\":\"HookRefused\",\"errorMessage\":\"testapp v3 refuses"
            ),
            "{}",
            answer.body
        );
    }
}
