//! An execution's status as text (`RUNNING`, `SUCCEEDED`, ...), the words
//! AWS uses, so that other crates read and write statuses through the type.

use std::fmt;
use std::str::FromStr;

use crate::Status;

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Aborted,
    ];
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(text: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                format!("{text:?} is not an execution status: expected RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_from_their_text() {
        for status in Status::ALL {
            assert_eq!(status.to_string().parse::<Status>(), Ok(status));
        }
        assert!("running".parse::<Status>().is_err());
    }
}
