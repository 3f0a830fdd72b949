//! BuildKit's progress as the engine streams it: each `moby.buildkit.trace`
//! message is a base64 protobuf `StatusResponse` (moby/buildkit
//! `api/services/control/control.proto`) with the build's steps
//! (vertexes), their progress and their output. Read by a small protobuf
//! reader of the few fields windlass shows: a step's name when it starts,
//! whether it was cached, its error and the tail of its output.

use std::collections::HashMap;

use base64::Engine as _;

/// How much of a step's output is kept for an error message.
const LOG_TAIL: usize = 4096;

/// One field of a protobuf message.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Fixed 32- and 64-bit values, which windlass does not read.
    Fixed,
}

/// The fields of one protobuf message, in order; stops at the first
/// malformed byte (a trace message is shown as far as it reads).
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Fields<'a> {
        Fields { buf }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.buf.split_first()?;
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (taken, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(taken)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u64, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.take(8).map(|_| Value::Fixed)?,
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                Value::Bytes(self.take(len)?)
            }
            5 => self.take(4).map(|_| Value::Fixed)?,
            _ => return None,
        };
        Some((key >> 3, value))
    }
}

/// The first length-delimited field `field` of a message, as text.
pub fn string_field(message: &[u8], field: u64) -> Option<String> {
    Fields::new(message).find_map(|(f, value)| match value {
        Value::Bytes(b) if f == field => Some(text(b)),
        _ => None,
    })
}

/// A length-delimited field's bytes, the first of its number.
pub fn bytes_of(message: &[u8], field: u64) -> Option<Vec<u8>> {
    Fields::new(message).find_map(|(f, value)| match value {
        Value::Bytes(b) if f == field => Some(b.to_vec()),
        _ => None,
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A build step as one trace message tells it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Vertex {
    pub digest: String,
    pub name: String,
    pub cached: bool,
    pub started: bool,
    pub completed: bool,
    pub error: Option<String>,
}

/// Output a step wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    pub vertex: String,
    pub message: Vec<u8>,
}

/// One `StatusResponse`: steps and their output.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Status {
    pub vertexes: Vec<Vertex>,
    pub logs: Vec<Log>,
}

fn vertex(buf: &[u8]) -> Vertex {
    let mut vertex = Vertex::default();
    for (field, value) in Fields::new(buf) {
        match (field, value) {
            (1, Value::Bytes(b)) => vertex.digest = text(b),
            (3, Value::Bytes(b)) => vertex.name = text(b),
            (4, Value::Varint(v)) => vertex.cached = v != 0,
            (5, Value::Bytes(_)) => vertex.started = true,
            (6, Value::Bytes(_)) => vertex.completed = true,
            (7, Value::Bytes(b)) if !b.is_empty() => vertex.error = Some(text(b)),
            _ => {}
        }
    }
    vertex
}

fn log(buf: &[u8]) -> Log {
    let mut log = Log {
        vertex: String::new(),
        message: Vec::new(),
    };
    for (field, value) in Fields::new(buf) {
        match (field, value) {
            (1, Value::Bytes(b)) => log.vertex = text(b),
            (4, Value::Bytes(b)) => log.message = b.to_vec(),
            _ => {}
        }
    }
    log
}

/// Reads a trace message's `aux`: base64 of a `StatusResponse`.
pub fn decode(aux: &str) -> Option<Status> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(aux).ok()?;
    let mut status = Status::default();
    for (field, value) in Fields::new(&bytes) {
        match (field, value) {
            (1, Value::Bytes(b)) => status.vertexes.push(vertex(b)),
            (3, Value::Bytes(b)) => status.logs.push(log(b)),
            _ => {}
        }
    }
    Some(status)
}

/// What the trace has told so far: the steps by digest, which were
/// announced, the first that failed and each step's last output.
#[derive(Debug, Default)]
pub struct Progress {
    names: HashMap<String, String>,
    announced: HashMap<String, bool>,
    logs: HashMap<String, Vec<u8>>,
    failed: Option<(String, String)>,
}

/// A step that failed: its name (`[2/3] RUN make`), BuildKit's error and
/// the end of what it wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub step: String,
    pub error: String,
    pub output: String,
}

impl Progress {
    /// Takes in one trace message; returns the lines worth showing: a
    /// step's name when it starts (`CACHED` before it when the cache
    /// served it). BuildKit's own bookkeeping (`[internal] ...`, the
    /// context's copy) is not shown; the export is.
    pub fn update(&mut self, status: Status) -> Vec<String> {
        let mut shown = Vec::new();
        for vertex in status.vertexes {
            self.names
                .insert(vertex.digest.clone(), vertex.name.clone());
            if let Some(error) = &vertex.error {
                if self.failed.is_none() {
                    self.failed = Some((vertex.digest.clone(), error.clone()));
                }
            }
            let announced = self.announced.entry(vertex.digest.clone()).or_default();
            if *announced || !(vertex.started || vertex.cached) {
                continue;
            }
            *announced = true;
            let step = vertex.name.starts_with('[') && !vertex.name.starts_with("[internal]");
            if !step && !vertex.name.starts_with("exporting") {
                continue;
            }
            shown.push(if vertex.cached {
                format!("CACHED {}", vertex.name)
            } else {
                vertex.name
            });
        }
        for log in status.logs {
            let kept = self.logs.entry(log.vertex).or_default();
            kept.extend_from_slice(&log.message);
            if kept.len() > LOG_TAIL {
                kept.drain(..kept.len() - LOG_TAIL);
            }
        }
        shown
    }

    /// The first step that failed, if one did.
    pub fn failed(&self) -> Option<Failed> {
        let (digest, error) = self.failed.as_ref()?;
        Some(Failed {
            step: self.names.get(digest).cloned().unwrap_or_default(),
            error: error.clone(),
            output: self
                .logs
                .get(digest)
                .map(|bytes| text(bytes).trim_end().to_owned())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages the engine (20.10) sent for `RUN echo one && exit 3`: the
    /// step starting, its output, and the step failing.
    const STARTED: &str = "CsABCkdzaGEyNTY6N2YyYzc4OWFjOWNmOGZiMzA0MjFmZWZhY2RiM2RmMjQzZWMzNTAzMWQ3NzcwMzQzZjgwOTZkMjU3MWJkZTFkNRJHc2hhMjU2OmUwNWVjYzc5Y2MwYTdlYTdhNjQzZWNlNmI0NGI2MzA2NTVlODI0YzE3NDYyNWFkNTFlYTk4YjAwZWUwNzBhYzkaHlszLzNdIFJVTiBlY2hvIG9uZSAgICYmIGV4aXQgMyoMCIfu2NgGEM6dh/gB";
    const OUTPUT: &str = "Gl8KR3NoYTI1Njo3ZjJjNzg5YWM5Y2Y4ZmIzMDQyMWZlZmFjZGIzZGYyNDNlYzM1MDMxZDc3NzAzNDNmODA5NmQyNTcxYmRlMWQ1EgwIh+7Y2AYQ+ITAkwMYASIEb25lCg==";
    const FAILED: &str = "CpcCCkdzaGEyNTY6N2YyYzc4OWFjOWNmOGZiMzA0MjFmZWZhY2RiM2RmMjQzZWMzNTAzMWQ3NzcwMzQzZjgwOTZkMjU3MWJkZTFkNRJHc2hhMjU2OmUwNWVjYzc5Y2MwYTdlYTdhNjQzZWNlNmI0NGI2MzA2NTVlODI0YzE3NDYyNWFkNTFlYTk4YjAwZWUwNzBhYzkaHlszLzNdIFJVTiBlY2hvIG9uZSAgICYmIGV4aXQgMyoMCIfu2NgGEM6dh/gBMgwIh+7Y2AYQhuDYngM6R2V4ZWN1dG9yIGZhaWxlZCBydW5uaW5nIFsvYmluL3NoIC1jIGVjaG8gb25lICAgJiYgZXhpdCAzXTogZXhpdCBjb2RlOiAz";

    #[test]
    fn a_failing_step_is_named_with_its_error_and_output() {
        let mut progress = Progress::default();
        let mut shown = Vec::new();
        for aux in [STARTED, OUTPUT, FAILED] {
            shown.extend(progress.update(decode(aux).expect("a trace message")));
        }
        assert_eq!(shown, vec!["[3/3] RUN echo one   && exit 3"]);
        assert_eq!(
            progress.failed(),
            Some(Failed {
                step: "[3/3] RUN echo one   && exit 3".into(),
                error: "executor failed running [/bin/sh -c echo one   && exit 3]: exit code: 3"
                    .into(),
                output: "one".into(),
            })
        );
    }

    #[test]
    fn malformed_messages_read_as_far_as_they_go() {
        assert_eq!(decode("not base64!"), None);
        // A length that runs past the end: nothing is read from it.
        let truncated = base64::engine::general_purpose::STANDARD.encode([0x0a, 0x20, 0x0a]);
        assert_eq!(decode(&truncated), Some(Status::default()));
    }
}
