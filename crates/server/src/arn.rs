//! ARNs in AWS's form and the name rules Step Functions enforces.

use crate::error::{ApiError, ApiResult};

/// Builds the ARNs of one region and account.
#[derive(Clone, Debug)]
pub struct Arns {
    pub region: String,
    pub account: String,
}

impl Arns {
    /// AWS's partition of the region: `aws-cn` for China, `aws-us-gov` for
    /// GovCloud, `aws-iso`/`aws-iso-b` for the isolated regions, else `aws`.
    pub fn partition(&self) -> &'static str {
        let region = self.region.as_str();
        if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else if region.starts_with("us-isob-") {
            "aws-iso-b"
        } else if region.starts_with("us-iso-") {
            "aws-iso"
        } else {
            "aws"
        }
    }

    /// What every ARN of the region and account starts with (no `:` after).
    pub fn prefix(&self) -> String {
        format!(
            "arn:{}:states:{}:{}",
            self.partition(),
            self.region,
            self.account
        )
    }

    pub fn state_machine(&self, name: &str) -> String {
        format!("{}:stateMachine:{name}", self.prefix())
    }

    pub fn execution(&self, machine: &str, name: &str) -> String {
        format!("{}:execution:{machine}:{name}", self.prefix())
    }

    /// EXPRESS executions carry an id as well as a name: their names need not be unique.
    pub fn express_execution(&self, machine: &str, name: &str, id: &str) -> String {
        format!("{}:express:{machine}:{name}:{id}", self.prefix())
    }

    pub fn activity(&self, name: &str) -> String {
        format!("{}:activity:{name}", self.prefix())
    }
}

/// What a Step Functions ARN names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    StateMachine { name: &'a str },
    Version { name: &'a str, version: u64 },
    Alias { name: &'a str, alias: &'a str },
    Execution { machine: &'a str, name: &'a str },
    Express { machine: &'a str },
    Activity { name: &'a str },
}

/// Reads `arn:<partition>:states:<region>:<account>:<type>:<rest>`.
pub fn parse(arn: &str) -> Option<Resource<'_>> {
    let mut parts = arn.splitn(7, ':');
    let (
        Some("arn"),
        Some(_partition),
        Some("states"),
        Some(_region),
        Some(_account),
        Some(kind),
        Some(rest),
    ) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    )
    else {
        return None;
    };
    let pieces: Vec<&str> = rest.split(':').collect();
    let resource = match (kind, pieces.as_slice()) {
        ("stateMachine", [name]) => Resource::StateMachine { name },
        ("stateMachine", [name, qualifier]) => match qualifier.parse::<u64>() {
            Ok(version) => Resource::Version { name, version },
            Err(_) => Resource::Alias {
                name,
                alias: qualifier,
            },
        },
        ("execution", [machine, name]) => Resource::Execution { machine, name },
        ("express", [machine, _name, _id]) => Resource::Express { machine },
        ("activity", [name]) => Resource::Activity { name },
        _ => return None,
    };
    Some(resource)
}

/// The ARN with its qualifier (`:1`, `:alias`) removed: the state machine's own ARN.
pub fn unqualified(arn: &str) -> &str {
    match parse(arn) {
        Some(Resource::Version { .. } | Resource::Alias { .. }) => {
            arn.rsplit_once(':').map_or(arn, |(base, _)| base)
        }
        _ => arn,
    }
}

/// The longest name AWS gives a state machine, execution, activity or alias.
pub const MAX_NAME_CHARS: usize = 80;

/// Checks a state machine, execution, activity or alias name (the request
/// member `name`): 1 to 80 characters, none of them white space, brackets,
/// wildcards, punctuation AWS reserves, or control characters. A name too
/// long fails the member's length constraint (`ValidationException`), as
/// AWS checks it before the characters (`InvalidName`).
pub fn check_name(name: &str) -> ApiResult<()> {
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must have length less than or equal to {MAX_NAME_CHARS}"
        )));
    }
    let bad = |c: char| {
        c.is_whitespace()
            || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
            || ('\u{0}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
    };
    if length == 0 || name.chars().any(bad) {
        return Err(ApiError::new(
            "InvalidName",
            format!("Invalid Name: '{name}'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let arns = Arns {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        let machine = arns.state_machine("M");
        assert_eq!(parse(&machine), Some(Resource::StateMachine { name: "M" }));
        assert_eq!(
            parse(&format!("{machine}:3")),
            Some(Resource::Version {
                name: "M",
                version: 3
            })
        );
        assert_eq!(
            parse(&format!("{machine}:prod")),
            Some(Resource::Alias {
                name: "M",
                alias: "prod"
            })
        );
        assert_eq!(unqualified(&format!("{machine}:prod")), machine);
        assert_eq!(
            parse(&arns.execution("M", "e")),
            Some(Resource::Execution {
                machine: "M",
                name: "e"
            })
        );
        assert_eq!(
            parse(&arns.activity("a")),
            Some(Resource::Activity { name: "a" })
        );
        assert_eq!(parse("arn:aws:lambda:us-east-1:1:function:f"), None);
        let china = Arns {
            region: "cn-northwest-1".into(),
            account: "123456789012".into(),
        };
        assert_eq!(
            china.state_machine("M"),
            "arn:aws-cn:states:cn-northwest-1:123456789012:stateMachine:M"
        );
        assert_eq!(
            parse(&china.state_machine("M")),
            Some(Resource::StateMachine { name: "M" })
        );
        assert_eq!(parse("nonsense"), None);
    }

    #[test]
    fn names_follow_aws_rules() {
        assert!(check_name("Hello-World_1.x").is_ok());
        for bad in ["", "a b", "a:b", "a/b", "x*", "tab\t"] {
            assert_eq!(
                check_name(bad).map_err(|e| e.code),
                Err("InvalidName"),
                "{bad:?}"
            );
        }
        assert!(check_name(&"n".repeat(80)).is_ok());
        let long = "n".repeat(81);
        assert_eq!(
            check_name(&long),
            Err(ApiError::validation(format!(
                "1 validation error detected: Value '{long}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80"
            )))
        );
    }
}
