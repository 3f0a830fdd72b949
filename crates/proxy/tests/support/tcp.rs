//! In-process TCP upstreams and a client for TCP proxy tests and benches.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::TcpStream;

/// An upstream that greets each connection with `version` and a newline,
/// then echoes every byte back until the client closes.
pub async fn echo(version: &'static str) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind TCP upstream");
    let addr = listener.local_addr().expect("upstream address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                if stream
                    .write_all(format!("{version}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

/// A client connection through a TCP proxy, after the upstream's greeting.
pub struct Conn {
    pub version: String,
    stream: BufReader<TcpStream>,
}

impl Conn {
    /// Connects and reads the greeting; `None` when the proxy closed the
    /// connection without one (held too long, no upstream).
    pub async fn open(addr: SocketAddr) -> Option<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the proxy");
        let _ = stream.set_nodelay(true);
        let mut stream = BufReader::new(stream);
        let mut version = String::new();
        match stream.read_line(&mut version).await {
            Ok(n) if n > 0 => Some(Conn {
                version: version.trim_end().to_owned(),
                stream,
            }),
            _ => None,
        }
    }

    /// Sends `bytes` and reads the same number back.
    pub async fn echo(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.stream
            .get_mut()
            .write_all(bytes)
            .await
            .expect("write through the proxy");
        let mut back = vec![0; bytes.len()];
        self.stream
            .read_exact(&mut back)
            .await
            .expect("read the echo through the proxy");
        back
    }

    /// Waits until the proxy closes the connection; true if it did within 10 s.
    pub async fn closed_by_peer(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut rest)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}
