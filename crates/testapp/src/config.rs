//! The test app's behaviour, read from `TESTAPP_*` environment variables.

use std::time::Duration;

/// Everything the environment can set; see the crate's `README` section in `main.rs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub port: u16,
    pub version: String,
    pub health_path: String,
    /// Exit with this code before listening.
    pub crash_at_start: Option<i32>,
    pub start_delay: Duration,
    /// The health endpoint answers 503 once this much time has passed since start.
    pub unhealthy_after: Option<Duration>,
    /// Share of application answers (not health) that are 500, in `0.0..=1.0`.
    pub error_ratio: f64,
    /// Errors begin only once this much time has passed since start.
    pub errors_after: Duration,
    /// Delay before each application answer.
    pub slow: Duration,
    /// A Lambda invocation fails with this `errorType`.
    pub lambda_error: Option<String>,
    /// More TCP ports that serve the same app.
    pub extra_ports: Vec<u16>,
    /// A UDP port that answers each datagram with `VERSION:` and the datagram.
    pub udp_port: Option<u16>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 8080,
            version: "dev".to_owned(),
            health_path: "/health".to_owned(),
            crash_at_start: None,
            start_delay: Duration::ZERO,
            unhealthy_after: None,
            error_ratio: 0.0,
            errors_after: Duration::ZERO,
            slow: Duration::ZERO,
            lambda_error: None,
            extra_ports: Vec::new(),
            udp_port: None,
        }
    }
}

impl Config {
    /// Reads the configuration through `get`, so that tests need not touch the
    /// process environment. Returns a message naming the bad variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut config = Config::default();
        if let Some(v) = get("TESTAPP_PORT") {
            config.port = parse("TESTAPP_PORT", &v, "a port number 1-65535")?;
        }
        if let Some(v) = get("TESTAPP_VERSION") {
            config.version = v;
        }
        // The version is what these files hold (a secret, a config), read
        // at start and joined by `|`: a test sees through HTTP what the
        // container was given.
        if let Some(v) = get("TESTAPP_VERSION_FROM") {
            let held: Vec<String> = v
                .split(',')
                .filter(|p| !p.is_empty())
                .map(held_by)
                .collect();
            config.version = held.join("|");
        }
        if let Some(v) = get("TESTAPP_HEALTH_PATH") {
            if !v.starts_with('/') {
                return Err(format!(
                    "TESTAPP_HEALTH_PATH={v:?}: expected a path starting with '/'"
                ));
            }
            config.health_path = v;
        }
        if let Some(v) = get("TESTAPP_CRASH_REPLICAS") {
            // Replicas (windlass sets WINDLASS_REPLICA) that crash at start with 3.
            let replica = get("WINDLASS_REPLICA").unwrap_or_default();
            if v.split(',').any(|r| r.trim() == replica) {
                config.crash_at_start = Some(3);
            }
        }
        if let Some(v) = get("TESTAPP_CRASH_AT_START") {
            config.crash_at_start = Some(parse("TESTAPP_CRASH_AT_START", &v, "an exit code")?);
        }
        if let Some(v) = get("TESTAPP_START_DELAY_MS") {
            config.start_delay = millis("TESTAPP_START_DELAY_MS", &v)?;
        }
        if let Some(v) = get("TESTAPP_UNHEALTHY_AFTER_MS") {
            config.unhealthy_after = Some(millis("TESTAPP_UNHEALTHY_AFTER_MS", &v)?);
        }
        if let Some(v) = get("TESTAPP_ERROR_RATIO") {
            let ratio: f64 = parse("TESTAPP_ERROR_RATIO", &v, "a number from 0 to 1")?;
            if !(0.0..=1.0).contains(&ratio) {
                return Err(format!(
                    "TESTAPP_ERROR_RATIO={v:?}: expected a number from 0 to 1"
                ));
            }
            config.error_ratio = ratio;
        }
        if let Some(v) = get("TESTAPP_ERRORS_AFTER_MS") {
            config.errors_after = millis("TESTAPP_ERRORS_AFTER_MS", &v)?;
        }
        if let Some(v) = get("TESTAPP_SLOW_MS") {
            config.slow = millis("TESTAPP_SLOW_MS", &v)?;
        }
        config.lambda_error = get("TESTAPP_LAMBDA_ERROR").filter(|v| !v.is_empty());
        if let Some(v) = get("TESTAPP_EXTRA_PORTS") {
            config.extra_ports = v
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| {
                    parse(
                        "TESTAPP_EXTRA_PORTS",
                        p,
                        "port numbers 1-65535, comma-separated",
                    )
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("TESTAPP_UDP_PORT") {
            config.udp_port = Some(parse("TESTAPP_UDP_PORT", &v, "a port number 1-65535")?);
        }
        Ok(config)
    }
}

/// What one `TESTAPP_VERSION_FROM` entry gives: `PATH` its contents,
/// `PATH@mode` its permission bits (octal), `PATH@uid` its owner.
fn held_by(entry: &str) -> String {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (path, what) = entry.split_once('@').unwrap_or((entry, "contents"));
    let read = match what {
        "mode" => std::fs::metadata(path).map(|m| format!("{:o}", m.permissions().mode() & 0o7777)),
        "uid" => std::fs::metadata(path).map(|m| m.uid().to_string()),
        _ => std::fs::read_to_string(path).map(|text| text.trim().to_owned()),
    };
    read.unwrap_or_else(|e| format!("<{entry}: {e}>"))
}

fn parse<T: std::str::FromStr>(name: &str, value: &str, expected: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name}={value:?}: expected {expected}"))
}

fn millis(name: &str, value: &str) -> Result<Duration, String> {
    parse::<u64>(name, value, "a whole number of milliseconds").map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(Config::from_lookup(|_| None), Ok(Config::default()));
    }

    #[test]
    fn reads_every_variable() {
        let config = Config::from_lookup(lookup(&[
            ("TESTAPP_PORT", "9000"),
            ("TESTAPP_VERSION", "v2"),
            ("TESTAPP_HEALTH_PATH", "/healthz"),
            ("TESTAPP_CRASH_AT_START", "3"),
            ("TESTAPP_START_DELAY_MS", "100"),
            ("TESTAPP_UNHEALTHY_AFTER_MS", "2000"),
            ("TESTAPP_ERROR_RATIO", "0.25"),
            ("TESTAPP_ERRORS_AFTER_MS", "500"),
            ("TESTAPP_SLOW_MS", "50"),
            ("TESTAPP_LAMBDA_ERROR", "HookRefused"),
            ("TESTAPP_EXTRA_PORTS", "9001,9002"),
            ("TESTAPP_UDP_PORT", "5353"),
        ]));
        let expected = Config {
            port: 9000,
            version: "v2".into(),
            health_path: "/healthz".into(),
            crash_at_start: Some(3),
            start_delay: Duration::from_millis(100),
            unhealthy_after: Some(Duration::from_millis(2000)),
            error_ratio: 0.25,
            errors_after: Duration::from_millis(500),
            slow: Duration::from_millis(50),
            lambda_error: Some("HookRefused".into()),
            extra_ports: vec![9001, 9002],
            udp_port: Some(5353),
        };
        assert_eq!(config, Ok(expected));
    }

    #[test]
    fn the_version_can_be_what_files_hold() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("testapp-from-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("a"), "one\n").expect("a");
        std::fs::write(dir.join("b"), "two").expect("b");
        std::fs::set_permissions(dir.join("b"), std::fs::Permissions::from_mode(0o640))
            .expect("mode");
        let from = format!("{0}/a,{0}/b,{0}/b@mode", dir.display());
        let config = Config::from_lookup(lookup(&[("TESTAPP_VERSION_FROM", from.as_str())]));
        assert_eq!(config.map(|c| c.version), Ok("one|two|640".to_owned()));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            ("TESTAPP_PORT", "http", "TESTAPP_PORT"),
            ("TESTAPP_ERROR_RATIO", "1.5", "from 0 to 1"),
            ("TESTAPP_SLOW_MS", "-1", "milliseconds"),
            ("TESTAPP_HEALTH_PATH", "health", "starting with '/'"),
        ];
        for (name, value, needle) in cases {
            let err = Config::from_lookup(lookup(&[(name, value)])).expect_err(name);
            assert!(err.contains(needle), "{err}");
        }
    }
}
