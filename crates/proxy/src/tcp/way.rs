//! One way of a TCP connection's copy on the event loop: read from one
//! socket into a buffer, write it all to the other, again, until the reader
//! ends; then shut the writer down. What `copy.rs` does for a tokio task,
//! here with direct, non-blocking system calls guided by what the event
//! loop last reported of each socket (`Side`): a socket is read or written
//! only when it is believed ready, so a keep-alive exchange costs one read
//! and one write each way, no `EAGAIN` look.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::event::Event;
use mio::net::TcpStream;

use crate::copy::{self, First};

/// A socket of a connection, and what the event loop said of it: edge
/// triggered, so a readiness holds until a system call finds it gone.
pub(super) struct Side {
    pub(super) stream: TcpStream,
    pub(super) readable: bool,
    pub(super) writable: bool,
    /// The peer's end of stream (or an error) was reported: never cleared,
    /// so a read that leaves bytes is followed by one that finds the end.
    read_closed: bool,
}

impl Side {
    pub(super) fn new(stream: TcpStream, readable: bool, writable: bool) -> Side {
        Side {
            stream,
            readable,
            writable,
            read_closed: false,
        }
    }

    /// Notes what the event loop reported; an error makes both ways ready,
    /// so that the next system call returns it.
    pub(super) fn update(&mut self, event: &Event) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_read_closed() || event.is_error() {
            self.read_closed = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
    }
}

/// What one `pump` moved, for the caller's counters.
#[derive(Default)]
pub(super) struct Moved {
    pub(super) read: usize,
    pub(super) written: usize,
}

/// One way: the buffer (taken at its first read, from the worker's spares),
/// `buf[written..filled]` still to write.
pub(super) struct Way {
    buf: Vec<u8>,
    filled: usize,
    written: usize,
    read_done: bool,
    /// The reader ended and all was written: this way is over.
    pub(super) done: bool,
}

impl Drop for Way {
    fn drop(&mut self) {
        copy::give_back(std::mem::take(&mut self.buf));
    }
}

impl Way {
    pub(super) fn new() -> Way {
        Way {
            buf: Vec::new(),
            filled: 0,
            written: 0,
            read_done: false,
            done: false,
        }
    }

    /// A way whose first bytes were read already, `first.written` of them
    /// sent.
    pub(super) fn primed(mut first: First) -> Way {
        Way {
            buf: std::mem::take(&mut first.buf),
            filled: first.filled,
            written: first.written,
            read_done: first.ended,
            done: false,
        }
    }

    /// Bytes read and not yet written.
    pub(super) fn pending(&self) -> &[u8] {
        &self.buf[self.written..self.filled]
    }

    /// `n` of the pending bytes went out with the connect.
    pub(super) fn sent(&mut self, n: usize) {
        self.written += n;
    }

    /// Moves what the two sockets' readiness allows. `other_done`: the
    /// other way is over, so this one, ending, leaves its writer to the
    /// connection's close (which sends the same FIN, one call fewer).
    pub(super) fn pump(
        &mut self,
        from: &mut Side,
        to: &mut Side,
        other_done: bool,
        moved: &mut Moved,
    ) -> io::Result<()> {
        while !self.done {
            while self.written < self.filled {
                if !to.writable {
                    return Ok(());
                }
                match (&to.stream).write(&self.buf[self.written..self.filled]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.written += n;
                        moved.written += n;
                        // A short write: the socket's buffer is full.
                        if self.written < self.filled {
                            to.writable = false;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => to.writable = false,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
            self.written = 0;
            self.filled = 0;
            if self.read_done {
                if !other_done {
                    to.stream.shutdown(Shutdown::Write)?;
                }
                self.done = true;
                copy::give_back(std::mem::take(&mut self.buf));
                return Ok(());
            }
            if !from.readable {
                return Ok(());
            }
            if self.buf.is_empty() {
                self.buf = copy::small_buffer();
            }
            match (&from.stream).read(&mut self.buf) {
                Ok(0) => self.read_done = true,
                Ok(n) => {
                    self.filled = n;
                    moved.read += n;
                    if n == self.buf.len() {
                        // The whole buffer: bulk data, more may be waiting.
                        if n < copy::LARGE {
                            self.buf.resize(copy::LARGE, 0);
                        }
                    } else if !from.read_closed {
                        // A short read drained the socket, as tokio judges
                        // it: the next bytes come with an event.
                        from.readable = false;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    from.readable = false;
                    return Ok(());
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}
