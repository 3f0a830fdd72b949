//! Reads that remember when they emptied a socket.
//!
//! tokio keeps a socket marked readable until a read answers `EAGAIN`, so
//! the read after one that took all there was asks the kernel once more
//! only to hear that nothing is there: on a keep-alive connection, one
//! wasted system call each way per request. A read that comes back short of
//! the room it was given took the whole receive queue (TCP hands over all
//! it holds), so these reads clear the mark themselves, and the next read
//! waits for epoll, which reports (edge-triggered) any byte that arrives
//! after. HAProxy's socket layer does the same.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A stream the copy reads from: tokio's `poll_read`, but forgetting the
/// stream's readiness once a read drained it.
pub(crate) trait DrainingRead: AsyncRead + Unpin {
    fn poll_read_draining(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>>;
}

impl DrainingRead for TcpStream {
    fn poll_read_draining(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = self.get_mut();
        loop {
            ready!(stream.poll_read_ready(cx))?;
            let room = buf.remaining();
            let mut got = None;
            let tried = stream.try_io(Interest::READABLE, || {
                let n = rustix::io::read(&*stream, buf.initialize_unfilled())
                    .map_err(io::Error::from)?;
                got = Some(n);
                drained(n, room)
            });
            if let Some(n) = got {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            match tried {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
                Ok(()) => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// Reads what `stream` has next into `into` (growing it by up to `room`
/// bytes, with no zeroing); `Ok(0)` once the peer closed.
pub(crate) async fn read_buf(
    stream: &TcpStream,
    into: &mut BytesMut,
    room: usize,
) -> io::Result<usize> {
    into.reserve(room);
    let room = into.capacity() - into.len();
    loop {
        poll_fn(|cx| stream.poll_read_ready(cx)).await?;
        let mut got = None;
        let tried = stream.try_io(Interest::READABLE, || {
            let n = stream.try_read_buf(into)?;
            got = Some(n);
            drained(n, room)
        });
        if let Some(n) = got {
            return Ok(n);
        }
        match tried {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
            Ok(()) => return Ok(0),
        }
    }
}

/// `EAGAIN` (which makes tokio clear the readiness) for a read of `n` bytes
/// that did not fill its `room`: the socket has nothing more.
fn drained(n: usize, room: usize) -> io::Result<()> {
    if n > 0 && n < room {
        Err(io::ErrorKind::WouldBlock.into())
    } else {
        Ok(())
    }
}
