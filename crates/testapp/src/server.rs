//! A minimal HTTP/1.1 server: one thread per connection, keep-alive, and
//! answers shaped by [`Config`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crate::config::Config;

/// Requests larger than this in their head are refused, so a bad client
/// cannot make a connection thread buffer without end.
const MAX_HEAD: usize = 16 * 1024;
/// Bodies up to this size are kept (a Lambda invocation's event); larger
/// ones are skipped.
const MAX_BODY: u64 = 1024 * 1024;

/// Shared by every connection thread.
pub struct App {
    config: Config,
    started: Instant,
    /// Counts application requests once errors are due, so that the share of
    /// 5xx answers is exact rather than random.
    counted: AtomicU64,
}

/// What the server answers to one request.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl App {
    pub fn new(config: Config, started: Instant) -> App {
        App {
            config,
            started,
            counted: AtomicU64::new(0),
        }
    }

    /// Chooses the answer to `GET path`, sleeping first when answers are slow.
    pub fn answer(&self, path: &str) -> Answer {
        let path = path.split('?').next().unwrap_or(path);
        let elapsed = self.started.elapsed();
        if path == self.config.health_path {
            let unhealthy = self
                .config
                .unhealthy_after
                .is_some_and(|after| elapsed >= after);
            return if unhealthy {
                Answer {
                    status: 503,
                    body: "unhealthy\n".into(),
                }
            } else {
                Answer {
                    status: 200,
                    body: "ok\n".into(),
                }
            };
        }
        if path != "/" && path != "/version" {
            return Answer {
                status: 404,
                body: format!("no route for {path}\n"),
            };
        }
        if !self.config.slow.is_zero() {
            thread::sleep(self.config.slow);
        }
        if self.config.error_ratio > 0.0 && elapsed >= self.config.errors_after {
            let n = self.counted.fetch_add(1, Ordering::Relaxed) + 1;
            let ratio = self.config.error_ratio;
            // The n-th request fails when it crosses a whole multiple of 1/ratio.
            if (n as f64 * ratio).floor() > ((n - 1) as f64 * ratio).floor() {
                return Answer {
                    status: 500,
                    body: "injected failure\n".into(),
                };
            }
        }
        Answer {
            status: 200,
            body: format!("{}\n", self.config.version),
        }
    }

    fn version(&self) -> &str {
        &self.config.version
    }

    /// The answer to `method path` with `body`.
    fn respond(&self, request: &Request) -> Answer {
        match request.method.as_str() {
            "GET" | "HEAD" => self.answer(&request.path),
            "POST" if request.path == crate::lambda::INVOKE_PATH => {
                crate::lambda::invoke(&self.config, &request.body)
            }
            _ => Answer {
                status: 405,
                body: format!(
                    "only GET and HEAD (and POST {})\n",
                    crate::lambda::INVOKE_PATH
                ),
            },
        }
    }
}

/// Accepts connections until the listener fails.
pub fn serve(listener: TcpListener, app: Arc<App>) -> io::Result<()> {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(err) => {
                eprintln!("testapp: accept failed: {err}");
                continue;
            }
        };
        let app = Arc::clone(&app);
        thread::spawn(move || {
            if let Err(err) = handle(stream, &app) {
                if err.kind() != io::ErrorKind::UnexpectedEof {
                    eprintln!("testapp: connection ended: {err}");
                }
            }
        });
    }
    Ok(())
}

struct Request {
    method: String,
    path: String,
    close: bool,
    /// The body, when it is at most [`MAX_BODY`] bytes of UTF-8.
    body: String,
}

fn handle(stream: TcpStream, app: &App) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader)? {
        let answer = app.respond(&request);
        let body = if request.method == "HEAD" {
            ""
        } else {
            answer.body.as_str()
        };
        let head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-testapp-version: {}\r\n{}\r\n",
            answer.status,
            reason(answer.status),
            answer.body.len(),
            app.version(),
            if request.close { "connection: close\r\n" } else { "" },
        );
        writer.write_all(head.as_bytes())?;
        writer.write_all(body.as_bytes())?;
        writer.flush()?;
        if request.close {
            break;
        }
    }
    Ok(())
}

/// Reads one request head and skips its body; `None` at a clean end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path), Some(http)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let mut request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        close: http == "HTTP/1.0",
        body: String::new(),
    };
    let mut length = 0u64;
    let mut head = line.len();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        head += n;
        if n == 0 || head > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head cut short or too long",
            ));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("connection") {
                request.close = value.eq_ignore_ascii_case("close");
            }
        }
    }
    if length <= MAX_BODY {
        let mut body = Vec::with_capacity(length as usize);
        reader.by_ref().take(length).read_to_end(&mut body)?;
        request.body = String::from_utf8(body).unwrap_or_default();
    } else {
        io::copy(&mut reader.by_ref().take(length), &mut io::sink())?;
    }
    Ok(Some(request))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn app(config: Config) -> App {
        App::new(config, Instant::now())
    }

    #[test]
    fn serves_version_and_health() {
        let app = app(Config {
            version: "v7".into(),
            ..Config::default()
        });
        assert_eq!(
            app.answer("/"),
            Answer {
                status: 200,
                body: "v7\n".into()
            }
        );
        assert_eq!(app.answer("/version?x=1").body, "v7\n");
        assert_eq!(app.answer("/health").status, 200);
        assert_eq!(app.answer("/other").status, 404);
    }

    #[test]
    fn error_ratio_is_exact() {
        let app = app(Config {
            error_ratio: 0.25,
            ..Config::default()
        });
        let failures = (0..100).filter(|_| app.answer("/").status == 500).count();
        assert_eq!(failures, 25);
        assert_eq!(app.answer("/health").status, 200, "health is not affected");
    }

    #[test]
    fn errors_and_unhealthiness_wait_their_time() {
        let config = Config {
            error_ratio: 1.0,
            errors_after: Duration::from_secs(3600),
            unhealthy_after: Some(Duration::from_secs(3600)),
            ..Config::default()
        };
        let young = app(config.clone());
        assert_eq!(young.answer("/").status, 200);
        assert_eq!(young.answer("/health").status, 200);
        let old = App::new(config, Instant::now() - Duration::from_secs(7200));
        assert_eq!(old.answer("/").status, 500);
        assert_eq!(old.answer("/health").status, 503);
    }
}
