//! In-process UDP upstreams and a client for UDP proxy tests.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// An upstream that answers each datagram with `version:` and the datagram.
pub async fn echo(version: &'static str) -> SocketAddr {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind UDP upstream");
    let addr = socket.local_addr().expect("upstream address");
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 65_535];
        while let Ok((length, from)) = socket.recv_from(&mut buffer).await {
            let mut answer = format!("{version}:").into_bytes();
            answer.extend_from_slice(&buffer[..length]);
            let _ = socket.send_to(&answer, from).await;
        }
    });
    addr
}

/// A client socket on 127.0.0.1: one flow to the proxy.
pub struct Flow {
    socket: UdpSocket,
}

impl Flow {
    pub async fn open(proxy: SocketAddr) -> Flow {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind UDP client");
        socket.connect(proxy).await.expect("connect UDP client");
        Flow { socket }
    }

    /// Sends `payload` and returns the answer, `None` if none came in `wait`.
    pub async fn ask(&self, payload: &str, wait: Duration) -> Option<String> {
        self.socket
            .send(payload.as_bytes())
            .await
            .expect("send a datagram");
        let mut buffer = vec![0u8; 65_535];
        let length = tokio::time::timeout(wait, self.socket.recv(&mut buffer))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&buffer[..length]).into_owned())
    }
}
