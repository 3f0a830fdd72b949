//! Copying a TCP connection's bytes both ways, as tokio's
//! `copy_bidirectional` does (each side's end of stream shuts the other
//! side's writing down; done when both ways are), with buffers that start
//! small and grow for bulk transfers.
//!
//! A 64 KiB buffer each way moved bulk data at 590-700 MiB/s on loopback
//! where 8 KiB gave 410 (the `tcp_daemon` bench), but allocating (and
//! zeroing) 128 KiB for every connection cost a connection that carries one
//! small exchange about a third of its CPU (the `data_plane` bench, "tcp new
//! connection": 131 us against 96 us with 16 KiB). So a direction starts at
//! `SMALL` and grows to `LARGE` the first time a read fills its buffer;
//! `SMALL` is 4 KiB, a page, which holds a typical request or small answer
//! whole and costs a connection 8 KiB of zeroing rather than 32.
//!
//! A small buffer is taken from its worker thread's spares and given back
//! when its connection ends, so a short connection neither allocates nor
//! zeroes one: what a buffer held before is never written out, as only
//! what was read into it since is (`filled`). Measured with callgrind on
//! the bench's "tcp new connection", the two allocations and their zeroing
//! were about half of a connection's instructions in user space.
//!
//! The caller closes both sides once the copy is done, so the side whose
//! way ended last is not shut down first: its close sends the same FIN
//! (both its ways have been read to their end, so nothing unread turns it
//! into a reset), one system call fewer a connection.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const SMALL: usize = 4 * 1024;
pub(crate) const LARGE: usize = 64 * 1024;
/// Small buffers a worker thread keeps for its next connections.
const SPARES: usize = 256;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A `SMALL` buffer: a spare of this thread's, or a new one.
pub(crate) fn small_buffer() -> Vec<u8> {
    SPARE
        .with_borrow_mut(Vec::pop)
        .unwrap_or_else(|| vec![0; SMALL])
}

/// Keeps a small buffer for the next connection (a grown one is freed).
pub(crate) fn give_back(buf: Vec<u8>) {
    if buf.len() == SMALL {
        SPARE.with_borrow_mut(|spare| {
            if spare.len() < SPARES {
                spare.push(buf);
            }
        });
    }
}

/// What was read from `a` before the copy began (the TCP proxy reads a
/// client's first bytes as it accepts it) and what of it `b` already has.
pub(crate) struct First {
    /// `SMALL` bytes (or none), the first `filled` read.
    pub(crate) buf: Vec<u8>,
    pub(crate) filled: usize,
    pub(crate) written: usize,
    /// `a` ended (a read gave 0 bytes).
    pub(crate) ended: bool,
}

impl Drop for First {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.buf));
    }
}

impl First {
    /// Nothing read yet.
    pub(crate) fn none() -> First {
        First {
            buf: Vec::new(),
            filled: 0,
            written: 0,
            ended: false,
        }
    }
}

/// Copies `a` to `b` (starting with `first`) and `b` to `a` until both
/// have ended; returns the bytes copied each way (`a` to `b`, `b` to `a`).
/// The way that ends last does not shut its writer down: the caller drops
/// (closes) both once this returns.
pub(crate) async fn bidirectional<A, B>(
    a: &mut A,
    b: &mut B,
    first: First,
) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut a_to_b = Direction::primed(first);
    let mut b_to_a = Direction::new();
    poll_fn(|cx| {
        let there = a_to_b.poll(cx, &mut *a, &mut *b, b_to_a.shut_down)?;
        let back = b_to_a.poll(cx, &mut *b, &mut *a, a_to_b.shut_down)?;
        let there = ready!(there);
        let back = ready!(back);
        Poll::Ready(Ok((there, back)))
    })
    .await
}

/// One way of the copy: read into the buffer, write it all out, again,
/// until the reader ends; then shut the writer down.
struct Direction {
    buf: Vec<u8>,
    /// What of `buf[..filled]` has been written.
    written: usize,
    filled: usize,
    read_done: bool,
    need_flush: bool,
    shut_down: bool,
    copied: u64,
}

impl Drop for Direction {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.buf));
    }
}

impl Direction {
    fn new() -> Direction {
        Direction {
            buf: Vec::new(),
            written: 0,
            filled: 0,
            read_done: false,
            need_flush: false,
            shut_down: false,
            copied: 0,
        }
    }

    /// A way whose first bytes were read (and maybe written) already.
    fn primed(mut first: First) -> Direction {
        Direction {
            buf: std::mem::take(&mut first.buf),
            written: first.written,
            filled: first.filled,
            read_done: first.ended,
            need_flush: first.written > 0,
            shut_down: false,
            copied: first.written as u64,
        }
    }

    /// `other_done`: the other way has ended, so this one, ending, leaves
    /// its writer to the caller's close.
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
        other_done: bool,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        if self.shut_down {
            return Poll::Ready(Ok(self.copied));
        }
        loop {
            if self.filled < self.buf.len() || (self.buf.is_empty() && !self.read_done) {
                if self.buf.is_empty() {
                    // Allocated at the first read, so an idle way costs nothing.
                    self.buf = small_buffer();
                }
                if !self.read_done {
                    let mut read = ReadBuf::new(&mut self.buf[self.filled..]);
                    match Pin::new(&mut *reader).poll_read(cx, &mut read) {
                        Poll::Ready(Ok(())) => {
                            let n = read.filled().len();
                            if n == 0 {
                                self.read_done = true;
                            } else if self.filled == 0 && n == self.buf.len() && n < LARGE {
                                // A read filled the whole buffer: bulk data.
                                self.buf.resize(LARGE, 0);
                            }
                            self.filled += n;
                        }
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                        Poll::Pending => {
                            // Nothing to write either: flush what was written
                            // (a writer that buffers may wait for it) and wait.
                            if self.written == self.filled {
                                if self.need_flush {
                                    ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                                    self.need_flush = false;
                                }
                                return Poll::Pending;
                            }
                        }
                    }
                }
            }
            while self.written < self.filled {
                let n = ready!(
                    Pin::new(&mut *writer).poll_write(cx, &self.buf[self.written..self.filled])
                )?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.written += n;
                self.copied += n as u64;
                self.need_flush = true;
            }
            // All written: the buffer is empty again.
            self.written = 0;
            self.filled = 0;
            if self.read_done {
                ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                if !other_done {
                    ready!(Pin::new(&mut *writer).poll_shutdown(cx))?;
                }
                self.shut_down = true;
                return Poll::Ready(Ok(self.copied));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A bulk transfer one way (the buffer grows), a small answer the other,
    /// each side's end of stream carried over.
    #[tokio::test]
    async fn copies_both_ways_until_both_end() {
        let (mut client, mut near) = duplex(8 * 1024);
        let (mut far, mut server) = duplex(8 * 1024);
        let copying =
            tokio::spawn(async move { bidirectional(&mut near, &mut far, First::none()).await });
        let sent: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let to_send = sent.clone();
        let client_side = tokio::spawn(async move {
            client.write_all(&to_send).await.expect("write");
            client.shutdown().await.expect("shutdown");
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.expect("read");
            answer
        });
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.expect("read");
        assert_eq!(received, sent);
        server.write_all(b"thanks").await.expect("write");
        server.shutdown().await.expect("shutdown");
        assert_eq!(client_side.await.expect("client"), b"thanks");
        let copied = copying.await.expect("copy").expect("copied");
        assert_eq!(copied, (1_000_000, 6));
    }
}
