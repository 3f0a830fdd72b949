//! An upstream and a client that speak HTTP/1.1 byte by byte, for what a
//! hyper server or client would not do: chunked answers as written,
//! answers ended by closing, connections closed between requests,
//! pipelined requests.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A raw upstream; `connections` counts those it accepted.
pub struct RawUpstream {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
}

/// One request as the raw upstream received it.
struct Received {
    method: String,
    target: String,
    /// The head as it came, request line and headers.
    head: String,
    body: Vec<u8>,
}

/// Answers by target: `/chunked` (three chunks and a trailer),
/// `/coded` (chunked after a named coding), `/until-close` (no length: the body ends when the connection closes),
/// `/status/N` (status N, empty body), `/large/N` (N bytes), `/echo` (the
/// body), `/head` (the request's head), `/hop` (hop-by-hop headers and a
/// false `x-windlass-release`), `/close-after` (then closes the
/// connection, without saying so), anything else `v:TARGET`.
pub async fn raw_upstream(version: &'static str) -> RawUpstream {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind raw upstream");
    let addr = listener.local_addr().expect("address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, version));
        }
    });
    RawUpstream { addr, connections }
}

async fn serve(mut stream: TcpStream, version: &'static str) {
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buf).await {
        let (answer, close) = answer(&request, version);
        if stream.write_all(&answer).await.is_err() || close {
            return;
        }
    }
}

fn answer(request: &Received, version: &str) -> (Vec<u8>, bool) {
    let sized = |status: &str, body: &[u8]| {
        let mut answer = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(body);
        answer
    };
    let target = request.target.split('?').next().unwrap_or_default();
    if let Some(status) = target.strip_prefix("/status/") {
        // 204 and 304 have no body and say no length.
        let length = if status == "204" || status == "304" {
            ""
        } else {
            "content-length: 0\r\n"
        };
        let head = format!("HTTP/1.1 {status} Whatever\r\netag: \"e1\"\r\n{length}\r\n");
        return (head.into_bytes(), false);
    }
    if let Some(n) = target.strip_prefix("/large/") {
        let n: usize = n.parse().expect("a length");
        let body: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let mut answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n").into_bytes();
        if request.method != "HEAD" {
            answer.extend_from_slice(&body);
        }
        return (answer, false);
    }
    match target {
        "/chunked" => (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n1\r\n!\r\n0\r\nx-trailer: t\r\n\r\n".to_vec(),
            false,
        ),
        // Not really compressed: what matters is that the coding is named.
        "/coded" => (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n4\r\nzzzz\r\n0\r\n\r\n".to_vec(),
            false,
        ),
        "/until-close" => (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nstreamed to the end".to_vec(),
            true,
        ),
        "/echo" => (sized("200 OK", &request.body), false),
        "/head" => (sized("200 OK", request.head.as_bytes()), false),
        "/hop" => (
            b"HTTP/1.1 200 OK\r\nconnection: keep-alive, x-private\r\nkeep-alive: timeout=5\r\nx-private: secret\r\nx-windlass-release: forged\r\nx-kept: yes\r\ncontent-length: 2\r\n\r\nok".to_vec(),
            false,
        ),
        "/close-after" => (sized("200 OK", version.as_bytes()), true),
        other => (sized("200 OK", format!("{version}:{other}").as_bytes()), false),
    }
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Received> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = request.parse(buf) {
            let length = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                .unwrap_or(0);
            let method = request.method.unwrap_or_default().to_owned();
            let target = request.path.unwrap_or_default().to_owned();
            let head = String::from_utf8_lossy(&buf[..len]).into_owned();
            while buf.len() < len + length {
                if !fill(stream, buf).await {
                    return None;
                }
            }
            let body = buf[len..len + length].to_vec();
            buf.drain(..len + length);
            return Some(Received {
                method,
                target,
                head,
                body,
            });
        }
        if !fill(stream, buf).await {
            return None;
        }
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// An answer as the raw client read it; header names in lower case.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A client connection that reads answers back one by one.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        RawClient {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one answer; `head`: it answers a HEAD request (no body).
    pub async fn answer(&mut self, head: bool) -> Answer {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = response.parse(&self.buf) {
                let status = response.code.expect("status");
                let headers: Vec<(String, String)> = response
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                self.buf.drain(..len);
                let mut answer = Answer {
                    status,
                    headers,
                    body: Vec::new(),
                };
                if head || status == 204 || status == 304 {
                    return answer;
                }
                if answer
                    .header("transfer-encoding")
                    .is_some_and(|codings| codings.ends_with("chunked"))
                {
                    answer.body = self.chunked().await;
                } else {
                    let length: usize = answer
                        .header("content-length")
                        .expect("a content-length or chunked")
                        .parse()
                        .expect("a length");
                    while self.buf.len() < length {
                        assert!(
                            fill(&mut self.stream, &mut self.buf).await,
                            "closed in a body"
                        );
                    }
                    answer.body = self.buf.drain(..length).collect();
                }
                return answer;
            }
            assert!(
                fill(&mut self.stream, &mut self.buf).await,
                "closed before an answer"
            );
        }
    }

    /// Whether the proxy closed the connection (no more bytes come).
    pub async fn closed(&mut self) -> bool {
        self.buf.is_empty() && !fill(&mut self.stream, &mut self.buf).await
    }

    async fn chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line = self.line().await;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).expect("a chunk size");
            if size == 0 {
                while !self.line().await.is_empty() {}
                return body;
            }
            while self.buf.len() < size + 2 {
                assert!(
                    fill(&mut self.stream, &mut self.buf).await,
                    "closed in a chunk"
                );
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return line;
            }
            assert!(
                fill(&mut self.stream, &mut self.buf).await,
                "closed in a line"
            );
        }
    }
}
