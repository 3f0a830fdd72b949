//! The server as one request sees it: its region. AWS keeps each region's
//! resources apart, so the region a request is signed for (or the server's
//! `--region` when it is not signed) is the region of the ARNs it makes, and
//! an ARN of another region names nothing the request can reach.

use std::ops::Deref;

use crate::arn::Arns;
use crate::Server;

/// A request's view of the server: the server, and the ARNs of the
/// request's region. It dereferences to the [`Server`], so that actions read
/// `server.machines` and build `server.arns.state_machine(..)` alike.
pub struct Regional<'a> {
    server: &'a Server,
    pub arns: Arns,
}

impl<'a> Regional<'a> {
    pub fn new(server: &'a Server, region: &str) -> Self {
        Regional {
            server,
            arns: Arns {
                region: region.to_string(),
                account: server.config.account.clone(),
            },
        }
    }

    /// Whether `arn` belongs to this request's region and account (any
    /// resource type; the ARN is not otherwise checked here).
    pub fn owns(&self, arn: &str) -> bool {
        let mut parts = arn.splitn(6, ':');
        let region = parts.nth(3);
        let account = parts.next();
        region == Some(self.arns.region.as_str()) && account == Some(self.arns.account.as_str())
    }
}

impl Deref for Regional<'_> {
    type Target = Server;

    fn deref(&self) -> &Server {
        self.server
    }
}

/// Whether `region` has the shape of an AWS region name: two letters, one
/// or more words, and a number (`us-east-1`, `us-gov-west-1`, `cn-north-1`).
pub fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let [country, words @ .., number] = parts.as_slice() else {
        return false;
    };
    country.len() == 2
        && country.bytes().all(|b| b.is_ascii_lowercase())
        && !words.is_empty()
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_have_aws_shape() {
        for good in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1"] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "useast1",
            "US-EAST-1",
            "us--1",
            "u-east-1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }
}
