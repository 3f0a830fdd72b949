//! A service's lifecycle hooks (`post_start`, `pre_stop`): commands Compose
//! runs with the engine's exec API inside each container, right after it
//! starts and before it is stopped.

use std::collections::BTreeMap;
use std::fmt;

use serde::de;
use serde::Deserialize;
use serde_norway::{Mapping, Value};

use super::diagnostic::Report;
use super::locate::FieldPath;
use super::values::{self, visitor};
use super::Service;

/// One entry of `post_start` or `pre_stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceHook {
    /// The command, run without a shell unless it names one.
    #[serde(deserialize_with = "command")]
    pub command: Vec<String>,
    /// The user it runs as; the container's own when unset.
    #[serde(default, deserialize_with = "values::optional_scalar")]
    pub user: Option<String>,
    /// Runs with every capability (`docker exec --privileged`).
    #[serde(default, deserialize_with = "flag")]
    pub privileged: bool,
    /// The folder it runs in; the container's own when unset.
    pub working_dir: Option<String>,
    /// Variables added to the container's for the command; a key without a
    /// value is taken from windlass's own environment at deploy time.
    #[serde(default, deserialize_with = "values::key_values")]
    pub environment: BTreeMap<String, Option<String>>,
}

impl ServiceHook {
    /// The command as one line, for messages.
    pub fn shown(&self) -> String {
        self.command.join(" ")
    }
}

/// Warns of what `use_api_socket` gives the service.
pub(crate) fn check(service: &Service, at: &FieldPath, report: &mut Report) {
    if service.use_api_socket {
        report.warning(
            &at.key("use_api_socket"),
            "the service's containers get the Docker socket (/var/run/docker.sock): whoever runs in them is root on this host",
        );
    }
}

/// Takes the `x-` keys out of the service's hooks, which the specification
/// allows there and which mean nothing to the engine.
pub(crate) fn strip_extensions(fields: &mut Mapping) {
    for key in ["post_start", "pre_stop"] {
        let Some(Value::Sequence(hooks)) = fields.get_mut(key) else {
            continue;
        };
        for hook in hooks {
            if let Value::Mapping(hook) = hook {
                hook.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
            }
        }
    }
}

fn command<'de, D: de::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let words = values::command(d)?.unwrap_or_default();
    if words.is_empty() {
        return Err(de::Error::custom(
            "a hook's command is empty: give the command to run",
        ));
    }
    Ok(words)
}

visitor!(Flag -> bool, "true or false", {
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        Ok(value)
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<bool, E> {
        match text.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(E::custom(format!("expected true or false, found {other:?}"))),
        }
    }
});

/// `privileged`: a boolean, or its text once interpolated.
fn flag<'de, D: de::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(Flag)
}

#[cfg(test)]
mod tests {
    use super::ServiceHook;

    #[test]
    fn a_hook_reads_in_both_forms_of_command_and_environment() {
        let hook: ServiceHook = serde_norway::from_str(
            "command: sh -c 'echo up > /tmp/ready'\nuser: '1000'\nprivileged: 'true'\nworking_dir: /app\nenvironment: [MODE=warm, TOKEN]\n",
        )
        .expect("hook");
        assert_eq!(hook.command, ["sh", "-c", "echo up > /tmp/ready"]);
        assert_eq!(hook.user.as_deref(), Some("1000"));
        assert!(hook.privileged);
        assert_eq!(hook.working_dir.as_deref(), Some("/app"));
        assert_eq!(hook.environment["MODE"].as_deref(), Some("warm"));
        assert_eq!(hook.environment["TOKEN"], None);
        let err = serde_norway::from_str::<ServiceHook>("command: []\n").expect_err("empty");
        assert!(err.to_string().contains("command is empty"), "{err}");
        let err = serde_norway::from_str::<ServiceHook>("user: root\n").expect_err("no command");
        assert!(err.to_string().contains("command"), "{err}");
    }
}
