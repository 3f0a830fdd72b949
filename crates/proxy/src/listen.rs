//! Binding a proxy's address. `[::]` (the IPv6 unspecified address) means
//! every interface, IPv4 included, as Compose publishes a port with no host
//! IP on 0.0.0.0 and ::: the socket is bound dual-stack, and on a machine
//! without IPv6 it falls back to 0.0.0.0.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Socket, Type};
use tokio::net::UdpSocket;

/// Whether `addr` is every interface of both families.
fn every_interface(addr: SocketAddr) -> bool {
    addr.is_ipv6() && addr.ip().is_unspecified()
}

fn socket(addr: SocketAddr, kind: Type) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, None)?;
    if every_interface(addr) {
        socket.set_only_v6(false)?;
    }
    if kind == Type::STREAM {
        // As tokio's own bind: a restarted proxy can take its port back at
        // once while old connections are in TIME_WAIT.
        socket.set_reuse_address(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Falls back from `[::]:PORT` to `0.0.0.0:PORT` when the machine has no IPv6.
fn with_fallback<T>(addr: SocketAddr, bind: impl Fn(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    match bind(addr) {
        Err(e) if every_interface(addr) && no_ipv6(&e) => {
            tracing::info!(%addr, error = %e, "no IPv6 on this machine; listening on IPv4's every interface only");
            bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port()))
        }
        other => other,
    }
}

/// EAFNOSUPPORT (97 on Linux): the kernel has no IPv6; an address not
/// available: IPv6 is switched off.
fn no_ipv6(e: &io::Error) -> bool {
    e.raw_os_error() == Some(97)
        || matches!(
            e.kind(),
            io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported
        )
}

/// A listening socket (non-blocking) that each proxy worker registers with
/// its own event loop.
pub(crate) fn tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    with_fallback(addr, |addr| {
        let socket = socket(addr, Type::STREAM)?;
        // Linux gives every accepted connection the listening socket's
        // TCP_NODELAY: set once here rather than once a connection (a
        // system call each).
        socket.set_tcp_nodelay(true)?;
        socket.listen(1024)?;
        Ok(socket.into())
    })
}

pub(crate) fn udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    with_fallback(addr, |addr| {
        UdpSocket::from_std(socket(addr, Type::DGRAM)?.into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The proxies rely on it: an accepted connection has TCP_NODELAY
    /// without setting it (a small answer is not held back by Nagle).
    #[test]
    fn accepted_connections_inherit_nodelay() {
        let listener = tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("listen");
        listener.set_nonblocking(false).expect("blocking");
        let addr = listener.local_addr().expect("address");
        let _client = std::net::TcpStream::connect(addr).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        assert!(accepted.nodelay().expect("nodelay"));
    }
}
