//! The functions Step Functions adds to JSONata (`$partition`, `$range`,
//! `$hash`, `$random`, `$uuid`, `$parse`), the deterministic `$now` and
//! `$millis`, and the disabled `$eval`.
//!
//! Host functions registered with jsonata-core must be `'static`, so they
//! cannot borrow the scope's [`Host`](crate::Host). They read what they need
//! from [`Draws`], a per-thread buffer the engine fills from the host before
//! an evaluation. A function that finds the buffer empty fails with a private
//! marker; the engine then draws more and runs the (pure) expression again.

use std::cell::RefCell;

use jsonata_core::evaluator::{Evaluator, EvaluatorError, HostFnResult};
use jsonata_core::value::JValue;

use super::convert;

/// The most items `$range` builds, as Step Functions bounds it.
const RANGE_LIMIT: f64 = super::MAX_SEQUENCE_LENGTH as f64;

/// Marks "the buffer of UUIDs ran out"; never shown to a user.
pub(crate) const NEED_UUID: &str = "\u{0}windlass: more uuids";
/// Marks "the buffer of random numbers ran out"; never shown to a user.
pub(crate) const NEED_RANDOM: &str = "\u{0}windlass: more random numbers";

/// Values drawn from the host for the evaluation under way on this thread.
#[derive(Default)]
pub(crate) struct Draws {
    pub now_millis: i64,
    pub uuids: Vec<String>,
    pub randoms: Vec<f64>,
    next_uuid: usize,
    next_random: usize,
}

impl Draws {
    /// Starts a new evaluation: nothing drawn yet.
    pub fn reset(&mut self, now_millis: i64) {
        self.now_millis = now_millis;
        self.uuids.clear();
        self.randoms.clear();
        self.rewind();
    }

    /// Starts the same evaluation again, handing out the same values first.
    pub fn rewind(&mut self) {
        self.next_uuid = 0;
        self.next_random = 0;
    }
}

thread_local! {
    pub(crate) static DRAWS: RefCell<Draws> = RefCell::new(Draws::default());
    /// Parsed helper expressions for `$now` with arguments.
    static FROM_MILLIS: RefCell<Option<jsonata_core::ast::AstNode>> = const { RefCell::new(None) };
}

/// Which ASL functions an expression may call, from its text.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Needs {
    pub partition: bool,
    pub range: bool,
    pub hash: bool,
    pub random: bool,
    pub uuid: bool,
    pub parse: bool,
    pub clock: bool,
    pub eval: bool,
}

impl Needs {
    /// Over-approximates from the text: a name inside a string literal
    /// only costs a registration.
    pub fn of(text: &str) -> Needs {
        if !text.contains('$') {
            return Needs::default();
        }
        Needs {
            partition: text.contains("$partition"),
            range: text.contains("$range"),
            hash: text.contains("$hash"),
            random: text.contains("$random"),
            uuid: text.contains("$uuid"),
            parse: text.contains("$parse"),
            clock: text.contains("$now") || text.contains("$millis"),
            eval: text.contains("$eval"),
        }
    }

    /// Registers the functions needed on `evaluator`.
    pub fn register(self, evaluator: &mut Evaluator) -> Result<(), EvaluatorError> {
        if self.partition {
            evaluator.register_fn("partition", partition)?;
        }
        if self.range {
            evaluator.register_fn("range", range)?;
        }
        if self.hash {
            evaluator.register_fn("hash", hash)?;
        }
        if self.random {
            evaluator.register_fn_override("random", random)?;
        }
        if self.uuid {
            evaluator.register_fn("uuid", uuid)?;
        }
        if self.parse {
            evaluator.register_fn("parse", parse)?;
        }
        if self.clock {
            evaluator.register_fn_override("now", now)?;
            evaluator.register_fn_override("millis", millis)?;
        }
        if self.eval {
            evaluator.register_fn_override("eval", |_: &[JValue]| not_a_function())?;
        }
        Ok(())
    }
}

fn not_a_function() -> HostFnResult {
    Err(EvaluatorError::ReferenceError(
        "T1006: Attempted to invoke a non-function".into(),
    ))
}

fn signature_mismatch(argument: usize, function: &str) -> EvaluatorError {
    EvaluatorError::TypeError(format!(
        "T0410: Argument {argument} of function \"{function}\" does not match function signature"
    ))
}

/// A numeric argument rounded towards zero, as Step Functions takes them.
fn integer(args: &[JValue], index: usize, function: &str) -> Result<Option<f64>, EvaluatorError> {
    match args.get(index) {
        None | Some(JValue::Undefined) => Ok(None),
        Some(JValue::Number(n)) if n.is_finite() => Ok(Some(n.trunc())),
        Some(_) => Err(signature_mismatch(index + 1, function)),
    }
}

/// `$partition(array, size)`: the array in chunks of `size`.
fn partition(args: &[JValue]) -> HostFnResult {
    let items: Vec<JValue> = match args.first() {
        None | Some(JValue::Undefined) => return Ok(JValue::Undefined),
        Some(JValue::Array(items)) => items.iter().cloned().collect(),
        Some(other) => vec![other.clone()],
    };
    let Some(size) = integer(args, 1, "partition")? else {
        return Ok(JValue::Undefined);
    };
    if size < 1.0 {
        return Ok(JValue::Undefined);
    }
    // `size` is whole and positive; a huge one just makes one chunk.
    let size = if size >= items.len() as f64 {
        items.len().max(1)
    } else {
        size as usize
    };
    let chunks = items
        .chunks(size)
        .map(|chunk| JValue::array(chunk.to_vec()))
        .collect();
    Ok(JValue::array(chunks))
}

/// `$range(start, end, step)`: from `start` towards `end`, inclusive, by
/// `step`; a single value is returned bare.
fn range(args: &[JValue]) -> HostFnResult {
    let (Some(start), Some(end), Some(step)) = (
        integer(args, 0, "range")?,
        integer(args, 1, "range")?,
        integer(args, 2, "range")?,
    ) else {
        return Ok(JValue::Undefined);
    };
    if step == 0.0 || (end - start) * step < 0.0 {
        return Ok(JValue::Undefined);
    }
    let count = ((end - start) / step).floor() + 1.0;
    if count > RANGE_LIMIT {
        return Err(EvaluatorError::EvaluationError(
            "Expression evaluation memory limit exceeded".into(),
        ));
    }
    // `count` is whole, positive and bounded above.
    let items: Vec<JValue> = (0..count as usize)
        .map(|i| JValue::Number(start + step * i as f64))
        .collect();
    Ok(match <[JValue; 1]>::try_from(items) {
        Ok([single]) => single,
        Err(items) => JValue::array(items),
    })
}

/// `$hash(data, algorithm)`: the lowercase hex digest of the UTF-8 text.
fn hash(args: &[JValue]) -> HostFnResult {
    let data = match args.first() {
        None | Some(JValue::Undefined) => return Ok(JValue::Undefined),
        Some(JValue::String(s)) => s.clone(),
        Some(_) => return Err(signature_mismatch(1, "hash")),
    };
    let algorithm = match args.get(1) {
        None | Some(JValue::Undefined) => return Ok(JValue::Undefined),
        Some(JValue::String(s)) => s.clone(),
        Some(_) => return Err(signature_mismatch(2, "hash")),
    };
    let bytes = data.as_bytes();
    let Some(digest) = crate::digest::hex_digest(&algorithm, bytes) else {
        return Err(EvaluatorError::EvaluationError(format!(
            "The hash algorithm '{algorithm}' is not supported. Use one of {}",
            crate::digest::ALGORITHMS
        )));
    };
    Ok(JValue::string(digest))
}

/// `$random([seed])`: a number in `[0, 1)`; the same for the same seed.
fn random(args: &[JValue]) -> HostFnResult {
    if let Some(seed) = integer(args, 0, "random")? {
        // A whole double; saturating `as` keeps huge seeds distinct enough.
        return Ok(JValue::Number(unit_interval(splitmix64(
            seed as i64 as u64,
        ))));
    }
    DRAWS.with(|draws| {
        let mut draws = draws.borrow_mut();
        let next = draws.next_random;
        match draws.randoms.get(next).copied() {
            Some(value) => {
                draws.next_random += 1;
                Ok(JValue::Number(value))
            }
            None => Err(EvaluatorError::EvaluationError(NEED_RANDOM.into())),
        }
    })
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit_interval(bits: u64) -> f64 {
    // 53 random bits scaled into [0, 1); both conversions are exact.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// `$uuid()`: a version 4 UUID from the host.
fn uuid(_args: &[JValue]) -> HostFnResult {
    DRAWS.with(|draws| {
        let mut draws = draws.borrow_mut();
        let next = draws.next_uuid;
        match draws.uuids.get(next).cloned() {
            Some(value) => {
                draws.next_uuid += 1;
                Ok(JValue::string(value))
            }
            None => Err(EvaluatorError::EvaluationError(NEED_UUID.into())),
        }
    })
}

/// `$parse(text)`: the JSON value `text` holds.
fn parse(args: &[JValue]) -> HostFnResult {
    let text = match args.first() {
        None | Some(JValue::Undefined) => return Ok(JValue::Undefined),
        Some(JValue::String(s)) => s.clone(),
        Some(_) => return Err(signature_mismatch(1, "parse")),
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(value) => Ok(convert::to_jvalue(&value)),
        Err(error) => Err(EvaluatorError::EvaluationError(format!(
            "Unable to parse the string as JSON: {error}"
        ))),
    }
}

fn now_millis() -> i64 {
    DRAWS.with(|draws| draws.borrow().now_millis)
}

/// `$millis()`: the host's clock, fixed for the whole evaluation.
fn millis(_args: &[JValue]) -> HostFnResult {
    // Milliseconds since 1970 are exact in a double for 285,000 years.
    Ok(JValue::Number(now_millis() as f64))
}

/// `$now([picture [, timezone]])`: the host's clock as `$fromMillis` formats it.
fn now(args: &[JValue]) -> HostFnResult {
    let ast = FROM_MILLIS.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = Some(
                jsonata_core::parser::parse("$fromMillis($m, $p, $t)")
                    .map_err(|e| EvaluatorError::EvaluationError(e.to_string()))?,
            );
        }
        Ok::<_, EvaluatorError>(cell.clone())
    })?;
    let Some(ast) = ast else {
        return Err(EvaluatorError::EvaluationError(
            "$now is unavailable".into(),
        ));
    };
    let mut context = jsonata_core::evaluator::Context::new();
    context.bind("m".into(), JValue::Number(now_millis() as f64));
    context.bind(
        "p".into(),
        args.first().cloned().unwrap_or(JValue::Undefined),
    );
    context.bind(
        "t".into(),
        args.get(1).cloned().unwrap_or(JValue::Undefined),
    );
    let running = super::running::Running::start();
    Evaluator::with_options(context, super::limits(&running)).evaluate(&ast, &JValue::Undefined)
}
