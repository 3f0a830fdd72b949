//! Connections on threads of their own: callers send a closure to whichever
//! connection is free and block until it has run (see the module above for
//! why).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use postgres::{Client, NoTls};

use crate::{Error, Result};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

pub(super) struct Pool {
    sender: mpsc::Sender<Job>,
}

/// One connection, opened again when it broke.
pub(super) struct Connection {
    url: String,
    client: Option<Client>,
}

impl Connection {
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(Client::connect(&self.url, NoTls)?);
        }
        self.client
            .as_mut()
            .ok_or(Error::Unsupported("a connection that stays open"))
    }
}

impl Pool {
    /// Starts `size` threads, each of which connects on its first job (on
    /// its own thread, so that opening the store inside a tokio runtime works
    /// too).
    pub(super) fn start(url: &str, size: usize) -> Result<Self> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..size {
            let mut connection = Connection {
                url: url.to_string(),
                client: None,
            };
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("windlass-postgres-{index}"))
                .spawn(move || serve(&mut connection, &receiver))
                .map_err(|e| Error::Open {
                    path: redact(url),
                    reason: e.to_string(),
                })?;
        }
        Ok(Pool { sender })
    }

    /// Runs `job` on a free connection and returns what it returned.
    pub(super) fn run<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> Result<T> + Send + 'static,
    {
        let (reply, result) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |connection| {
            let outcome = connection.client().and_then(job);
            let _ = reply.send(outcome);
        });
        self.sender
            .send(job)
            .map_err(|_| Error::Unsupported("calls after its connections stopped"))?;
        result
            .recv()
            .map_err(|_| Error::Unsupported("calls after its connections stopped"))?
    }
}

fn serve(connection: &mut Connection, receiver: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // Hold the lock only to take a job, not while running it.
        let job = {
            let receiver = receiver.lock().unwrap_or_else(|p| p.into_inner());
            receiver.recv()
        };
        match job {
            Ok(job) => job(connection),
            Err(_) => return,
        }
    }
}

/// The URL without its password, for messages.
pub(super) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
