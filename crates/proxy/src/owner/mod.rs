//! Control APIs that only their owner reaches, as Docker's socket is only
//! root's and its group's: HTTP/1.1 on a unix socket (mode 0600) in a
//! private state folder (0700), where the server checks each connection's
//! peer credentials (`SO_PEERCRED`) and the client checks the server's.
//!
//! Who may connect is the process's own user and root ([`Peer::is_owner`]);
//! nobody else reaches the socket through the folder, and a connection that
//! got there anyway (a folder made readable by hand) is answered 403. A
//! request carries no identity of its own: the server hands each request
//! the [`Peer`] of its connection as an extension, so what is recorded as
//! "who" comes from the kernel. The socket's path cannot be taken over by
//! another user after a crash, since only the owner can create files in
//! the folder; the client still refuses a server that is neither its own
//! user nor root.
//!
//! [`serve`] and [`Client`] are the two sides; [`private_dir`] and
//! [`private_file`] keep state at rest private; [`raise_open_files`] lifts
//! the soft limit of open files to the hard one at start.

mod client;
mod files;
mod serve;

use std::path::PathBuf;

pub use client::Client;
pub use files::{private_dir, private_file, raise_open_files};
pub use serve::{bind, serve, HEADER_TIMEOUT};

/// The user at the other end of a unix socket connection, as the kernel
/// tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

impl Peer {
    /// This process, as a peer (for tests and for calls made in-process).
    pub fn this_process() -> Peer {
        Peer {
            uid: own_uid(),
            gid: rustix::process::getegid().as_raw(),
            pid: i32::try_from(std::process::id()).ok(),
        }
    }

    /// Whether this peer may use a control API of this process: it runs as
    /// this process's user, or as root.
    pub fn is_owner(&self) -> bool {
        self.uid == own_uid() || self.uid == 0
    }

    /// The user's name as `/etc/passwd` gives it, else `uid N`.
    pub fn user_name(&self) -> String {
        user_name(self.uid).unwrap_or_else(|| format!("uid {}", self.uid))
    }
}

/// The effective user id of this process.
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The name `/etc/passwd` gives `uid`.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

/// Why a control socket could not be served or reached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is served by uid {uid}, which is neither you (uid {me}) nor root: refusing to send it anything", path.display())]
    Impostor { path: PathBuf, uid: u32, me: u32 },
    #[error("the connection to {} broke: {message}", path.display())]
    Broken { path: PathBuf, message: String },
    #[error("cannot serve on {}: {source}", path.display())]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another process already answers on {}; stop it first", .0.display())]
    InUse(PathBuf),
    #[error("cannot make {} private to its owner: {source}", path.display())]
    Private {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_this_user_are_owners_and_nobody_is_not() {
        assert!(Peer::this_process().is_owner());
        let root = Peer {
            uid: 0,
            gid: 0,
            pid: None,
        };
        assert!(root.is_owner());
        assert_eq!(root.user_name(), "root");
        let nobody = Peer {
            uid: 65534,
            gid: 65534,
            pid: None,
        };
        assert_eq!(nobody.is_owner(), own_uid() == 65534);
        let unknown = Peer {
            uid: 4_000_000_000,
            gid: 0,
            pid: None,
        };
        assert_eq!(unknown.user_name(), "uid 4000000000");
    }
}
