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
    socket_shared(addr, kind, false)
}

/// `shared`: SO_REUSEPORT, the socket one of a group on the same address.
fn socket_shared(addr: SocketAddr, kind: Type, shared: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, None)?;
    if every_interface(addr) {
        socket.set_only_v6(false)?;
    }
    if kind == Type::STREAM {
        // As tokio's own bind: a restarted proxy can take its port back at
        // once while old connections are in TIME_WAIT.
        socket.set_reuse_address(true)?;
    }
    if shared {
        socket.set_reuse_port(true)?;
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

/// Whether a proxy could bind `addr` now: a socket bound as the proxy
/// binds its own (address reuse for TCP, dual-stack for every interface),
/// then closed. A program listening there already makes it fail.
pub fn probe(addr: SocketAddr, datagrams: bool) -> io::Result<()> {
    let kind = if datagrams { Type::DGRAM } else { Type::STREAM };
    with_fallback(addr, |addr| socket(addr, kind).map(drop))
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

/// `count` listening sockets on one address, one a worker, each with its
/// own accept queue (SO_REUSEPORT): the kernel spreads new connections over
/// them by a hash of their addresses, and a connection wakes only the
/// worker whose socket it came to, where one shared socket woke every
/// worker for each (all but one finding nothing to accept) and let the
/// first awake take every connection waiting, so that a burst of
/// keep-alive connections could all end on one worker.
///
/// A socket without SO_REUSEPORT is bound first and closed again: it fails
/// if anything listens on the address, another proxy's group included (which
/// a socket with SO_REUSEPORT of the same user would join rather than fail),
/// and for port 0 it picks the port the group then binds.
pub(crate) fn tcp_group(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    with_fallback(addr, |addr| {
        let probe = socket(addr, Type::STREAM)?;
        let addr = probe
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("a TCP socket bound to no IP address"))?;
        drop(probe);
        (0..count.max(1))
            .map(|_| {
                let socket = socket_shared(addr, Type::STREAM, true)?;
                socket.set_tcp_nodelay(true)?;
                socket.listen(1024)?;
                Ok(socket.into())
            })
            .collect()
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

    /// A group takes one port (port 0: a free one); its sockets inherit
    /// TCP_NODELAY too; an address a group holds cannot be bound again,
    /// as a group or as one socket.
    #[test]
    fn a_group_shares_one_port_that_no_one_else_takes() {
        let group = tcp_group(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), 2).expect("listen");
        assert_eq!(group.len(), 2);
        let addr = group[0].local_addr().expect("address");
        assert_eq!(group[1].local_addr().expect("address"), addr);
        assert!(tcp_group(addr, 2).is_err(), "a second group on {addr}");
        assert!(tcp(addr).is_err(), "a single socket on {addr}");
        let _client = std::net::TcpStream::connect(addr).expect("connect");
        let accepted = loop {
            if let Some(accepted) = group.iter().find_map(|l| l.accept().ok()) {
                break accepted.0;
            }
            std::thread::yield_now();
        };
        assert!(accepted.nodelay().expect("nodelay"));
    }
}
