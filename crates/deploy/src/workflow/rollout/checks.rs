//! The analysis's own checks beside the proxy's counters: an HTTP path
//! every replica of each new release must answer 2xx to (`analysis.http`),
//! and CloudWatch alarms none of which may be in ALARM (`analysis.alarms`),
//! read through windlass's AWS client with the agent's AWS configuration
//! (its environment: `AWS_ENDPOINT_URL`, `AWS_REGION`, credentials). Each
//! returns what failed, one sentence each, naming the path and replica or
//! the alarm.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value as Json};
use windlass_aws::model::Model;
use windlass_aws::{Client, Config, Service};

use crate::compose;
use crate::target::docker::ports::upstream_key;
use crate::target::{ReleaseContext, Upstreams};

/// How long one replica has to answer the HTTP check.
pub const HTTP_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// GETs `path` on every replica of `release`'s routed port; each replica
/// that answers other than 2xx (or not at all) is a finding.
pub async fn http(path: &str, release: &ReleaseContext, upstreams: &Upstreams) -> Vec<String> {
    let Some(port) = release.spec.routed_port() else {
        return vec![format!(
            "the HTTP check {path} cannot be made: service {} routes no port",
            release.service
        )];
    };
    let key = upstream_key(port, compose::Protocol::Tcp);
    let addresses = upstreams
        .ports
        .get(&key)
        .cloned()
        .unwrap_or_else(|| upstreams.addresses.clone());
    if addresses.is_empty() {
        return vec![format!(
            "the HTTP check {path} cannot be made: release {} has no replica on port {key}",
            release.id()
        )];
    }
    let mut findings = Vec::new();
    for address in addresses {
        let Ok(addr) = address.parse::<SocketAddr>() else {
            findings.push(format!(
                "release {}'s replica address {address:?} is not host:port",
                release.id()
            ));
            continue;
        };
        let answer =
            tokio::time::timeout(HTTP_CHECK_TIMEOUT, crate::probe::http_status(addr, path)).await;
        let failed = match answer {
            Ok(Ok(status)) if (200..300).contains(&status) => continue,
            Ok(Ok(status)) => format!("answered {status}"),
            Ok(Err(e)) => format!("failed: {e}"),
            Err(_) => format!("did not answer within {HTTP_CHECK_TIMEOUT:?}"),
        };
        findings.push(format!(
            "the HTTP check GET {path} on release {}'s replica {addr} {failed}",
            release.id()
        ));
    }
    findings
}

/// Reads `names`' states (CloudWatch DescribeAlarms); each alarm in ALARM
/// is a finding, as is one that does not exist or a call AWS refused (the
/// canary cannot be judged without it).
pub async fn alarms(names: &[String]) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    let model = match Service::named("cloudwatch").map(Model::of) {
        Some(Ok(model)) => model,
        Some(Err(e)) => return vec![format!("CloudWatch's model could not be read: {e}")],
        None => return vec!["windlass-aws has no CloudWatch model".to_owned()],
    };
    let client = Client::new(Config::from_env());
    let answer = match client
        .call(
            &model,
            "describeAlarms",
            &json!({ "AlarmNames": names }),
            None,
        )
        .await
    {
        Ok(answer) => answer,
        Err(e) => {
            return vec![format!(
                "the alarms {} could not be read (cloudwatch:DescribeAlarms): {e}",
                names.join(", ")
            )]
        }
    };
    judge_alarms(names, &answer)
}

/// The findings of a DescribeAlarms answer for `names`.
pub fn judge_alarms(names: &[String], answer: &Json) -> Vec<String> {
    let found: Vec<&Json> = ["MetricAlarms", "CompositeAlarms"]
        .iter()
        .filter_map(|kind| answer[kind].as_array())
        .flatten()
        .collect();
    let mut findings = Vec::new();
    for name in names {
        match found.iter().find(|a| a["AlarmName"] == name.as_str()) {
            None => findings.push(format!(
                "CloudWatch alarm {name} does not exist (in the agent's AWS account and region)"
            )),
            Some(alarm) if alarm["StateValue"] == "ALARM" => {
                let reason = alarm["StateReason"].as_str().unwrap_or_default();
                findings.push(format!("CloudWatch alarm {name} is in ALARM: {reason}"));
            }
            Some(_) => {}
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_in_alarm_or_missing_is_a_finding() {
        let answer = json!({ "MetricAlarms": [
            { "AlarmName": "web-5xx", "StateValue": "ALARM", "StateReason": "5xx above 1 %" },
            { "AlarmName": "web-p99", "StateValue": "OK" }
        ] });
        let names = ["web-5xx", "web-p99", "web-gone"].map(String::from);
        assert_eq!(
            judge_alarms(&names, &answer),
            vec![
                "CloudWatch alarm web-5xx is in ALARM: 5xx above 1 %".to_owned(),
                "CloudWatch alarm web-gone does not exist (in the agent's AWS account and region)"
                    .to_owned()
            ]
        );
        assert!(judge_alarms(&names[1..2], &answer).is_empty());
    }
}
