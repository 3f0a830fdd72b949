//! Finding where a chunked body (RFC 9112 7.1) ends as its bytes pass
//! through unchanged: the proxy forwards an upstream's chunks as they are
//! and needs only to know when the answer is complete.

/// Where the scan is within the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// In a chunk-size line; `digits` read so far, `ext` once past them.
    Size {
        size: u64,
        digits: u8,
        ext: bool,
    },
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// At the start of a trailer line (after the last chunk).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    Done,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

pub(crate) struct Scanner {
    at: At,
}

impl Scanner {
    pub(crate) fn new() -> Scanner {
        Scanner {
            at: At::Size {
                size: 0,
                digits: 0,
                ext: false,
            },
        }
    }

    /// Scans the next bytes of the body: `Some(n)` when the body ends
    /// after `data[..n]`, `None` when it goes on past `data`.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, Malformed> {
        let mut i = 0;
        while i < data.len() {
            if let At::Data(left) = self.at {
                let take = left.min((data.len() - i) as u64);
                // `take` is at most what is left of `data`, a usize.
                i += take as usize;
                self.at = if take == left {
                    At::DataEnd
                } else {
                    At::Data(left - take)
                };
                continue;
            }
            let byte = data[i];
            self.at = match self.at {
                At::Data(left) => At::Data(left),
                At::Size { size, digits, ext } => match byte {
                    b'\n' if digits == 0 => return Err(Malformed),
                    b'\n' if size == 0 => At::TrailerStart,
                    b'\n' => At::Data(size),
                    _ if ext => At::Size { size, digits, ext },
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= 15 {
                            return Err(Malformed);
                        }
                        let value = (byte as char).to_digit(16).map_or(0, u64::from);
                        At::Size {
                            size: size * 16 + value,
                            digits: digits + 1,
                            ext: false,
                        }
                    }
                    b';' | b' ' | b'\t' | b'\r' if digits > 0 => At::Size {
                        size,
                        digits,
                        ext: true,
                    },
                    _ => return Err(Malformed),
                },
                At::DataEnd => match byte {
                    b'\r' => At::DataEnd,
                    b'\n' => At::Size {
                        size: 0,
                        digits: 0,
                        ext: false,
                    },
                    _ => return Err(Malformed),
                },
                At::TrailerStart => match byte {
                    b'\r' => At::TrailerStart,
                    b'\n' => At::Done,
                    _ => At::Trailer,
                },
                At::Trailer => match byte {
                    b'\n' => At::TrailerStart,
                    _ => At::Trailer,
                },
                At::Done => return Ok(Some(i)),
            };
            i += 1;
            if self.at == At::Done {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";

    #[test]
    fn finds_the_end_whole_or_byte_by_byte() {
        let end = BODY.len() - 4;
        assert_eq!(Scanner::new().feed(BODY), Ok(Some(end)));
        for split in 1..BODY.len() {
            let mut scanner = Scanner::new();
            let first = scanner.feed(&BODY[..split]).expect("well formed");
            let found = match first {
                Some(n) => n,
                None => split + scanner.feed(&BODY[split..]).expect("ok").expect("end"),
            };
            assert_eq!(found, end, "split at {split}");
        }
        let mut scanner = Scanner::new();
        let mut found = None;
        for (i, byte) in BODY.iter().enumerate() {
            if let Some(n) = scanner.feed(std::slice::from_ref(byte)).expect("ok") {
                found = Some(i + n);
                break;
            }
        }
        assert_eq!(found, Some(end));
    }

    #[test]
    fn an_empty_body_ends_at_its_last_chunk() {
        assert_eq!(Scanner::new().feed(b"0\r\n\r\n"), Ok(Some(5)));
    }

    #[test]
    fn refuses_what_is_no_chunk_size() {
        assert_eq!(Scanner::new().feed(b"zz\r\n"), Err(Malformed));
        assert_eq!(Scanner::new().feed(b"\r\n"), Err(Malformed));
        assert_eq!(Scanner::new().feed(b"3\r\nabcX"), Err(Malformed));
        assert_eq!(
            Scanner::new().feed(b"ffffffffffffffffff\r\n"),
            Err(Malformed)
        );
    }
}
