//! The intrinsic functions themselves, each a function of evaluated
//! arguments. Type and range errors are `States.IntrinsicFailure`.

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use super::text::{self, Piece};
use crate::{Failure, Host};

/// The most characters States.Base64Encode/Decode and States.Hash accept.
const MAX_TEXT: usize = 10_000;
/// The most elements States.ArrayRange may produce.
const MAX_RANGE: usize = 1_000;

/// An evaluated argument; `raw` is a string literal's text between quotes.
pub(super) struct Argument<'a> {
    pub value: Json,
    pub raw: Option<&'a str>,
}

impl Argument<'_> {
    pub(super) fn of(value: Json) -> Self {
        Argument { value, raw: None }
    }
}

fn fail(message: impl Into<String>) -> Failure {
    Failure::intrinsic(message)
}

/// The arguments of one call, with helpers that name the function in errors.
struct Args<'a, 'b> {
    name: &'a str,
    args: &'a [Argument<'b>],
}

impl<'a> Args<'a, '_> {
    fn arity(&self, min: usize, max: usize) -> Result<(), Failure> {
        let n = self.args.len();
        if n < min || n > max {
            let expected = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(fail(format!(
                "{} takes {expected} argument(s), but {n} were given",
                self.name
            )));
        }
        Ok(())
    }

    fn value(&self, i: usize) -> &'a Json {
        static NULL: Json = Json::Null;
        self.args.get(i).map_or(&NULL, |a| &a.value)
    }

    fn type_error(&self, i: usize, expected: &str) -> Failure {
        fail(format!(
            "The argument {} of {} must be {expected}, but was {}",
            i + 1,
            self.name,
            type_name(self.value(i))
        ))
    }

    fn string(&self, i: usize) -> Result<&'a str, Failure> {
        self.value(i)
            .as_str()
            .ok_or_else(|| self.type_error(i, "a string"))
    }

    fn array(&self, i: usize) -> Result<&'a Vec<Json>, Failure> {
        self.value(i)
            .as_array()
            .ok_or_else(|| self.type_error(i, "an array"))
    }

    fn object(&self, i: usize) -> Result<&'a Map<String, Json>, Failure> {
        self.value(i)
            .as_object()
            .ok_or_else(|| self.type_error(i, "a JSON object"))
    }

    /// An integer; a fractional number is rounded half up, as Java's
    /// `Math.round` does on AWS (States.MathAdd(1.5, 0) is 2).
    fn integer(&self, i: usize) -> Result<i64, Failure> {
        let value = self.value(i);
        if let Some(n) = value.as_i64() {
            return Ok(n);
        }
        match value.as_f64() {
            Some(f) if f.is_finite() && (f + 0.5).floor().abs() < 9.0e15 => {
                Ok((f + 0.5).floor() as i64)
            }
            _ => Err(self.type_error(i, "an integer")),
        }
    }
}

fn type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Calls the function `name` (already known to exist) on `args`.
pub(super) fn call(name: &str, args: &[Argument], host: &dyn Host) -> Result<Json, Failure> {
    let a = Args { name, args };
    match name {
        "States.Format" => format(&a),
        "States.StringToJson" => string_to_json(&a),
        "States.JsonToString" => {
            a.arity(1, 1)?;
            Ok(Json::String(a.value(0).to_string()))
        }
        "States.Array" => Ok(Json::Array(
            args.iter().map(|arg| arg.value.clone()).collect(),
        )),
        "States.ArrayPartition" => array_partition(&a),
        "States.ArrayContains" => {
            a.arity(2, 2)?;
            Ok(Json::Bool(a.array(0)?.contains(a.value(1))))
        }
        "States.ArrayRange" => array_range(&a),
        "States.ArrayGetItem" => array_get_item(&a),
        "States.ArrayLength" => {
            a.arity(1, 1)?;
            Ok(Json::from(a.array(0)?.len()))
        }
        "States.ArrayUnique" => {
            a.arity(1, 1)?;
            let mut unique: Vec<Json> = Vec::new();
            for item in a.array(0)? {
                if !unique.contains(item) {
                    unique.push(item.clone());
                }
            }
            Ok(Json::Array(unique))
        }
        "States.Base64Encode" => {
            a.arity(1, 1)?;
            let input = limited(&a, 0)?;
            Ok(Json::String(
                base64::engine::general_purpose::STANDARD.encode(input.as_bytes()),
            ))
        }
        "States.Base64Decode" => base64_decode(&a),
        "States.Hash" => hash(&a),
        "States.JsonMerge" => json_merge(&a),
        "States.MathRandom" => math_random(&a, host),
        "States.MathAdd" => {
            a.arity(2, 2)?;
            let sum = a
                .integer(0)?
                .checked_add(a.integer(1)?)
                .ok_or_else(|| fail("States.MathAdd overflowed"))?;
            Ok(Json::from(sum))
        }
        "States.StringSplit" => {
            a.arity(2, 2)?;
            let tokens = text::tokenize(a.string(0)?, a.string(1)?);
            Ok(Json::Array(tokens.into_iter().map(Json::String).collect()))
        }
        "States.UUID" => {
            a.arity(0, 0)?;
            Ok(Json::String(host.uuid()))
        }
        other => Err(fail(format!("'{other}' is not an intrinsic function"))),
    }
}

fn format(a: &Args) -> Result<Json, Failure> {
    if a.args.is_empty() {
        return Err(fail(
            "States.Format takes a template and its arguments, but none were given",
        ));
    }
    let template = a.string(0)?;
    let raw = a.args.first().and_then(|arg| arg.raw);
    let pieces = text::template(template, raw);
    let placeholders = pieces.iter().filter(|p| **p == Piece::Placeholder).count();
    let values = &a.args[1..];
    if placeholders != values.len() {
        return Err(fail(format!(
            "States.Format's template has {placeholders} placeholder(s) but {} argument(s) were given",
            values.len()
        )));
    }
    let mut values = values.iter();
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Placeholder => {
                if let Some(value) = values.next() {
                    out.push_str(&text::display(&value.value));
                }
            }
        }
    }
    Ok(Json::String(out))
}

fn string_to_json(a: &Args) -> Result<Json, Failure> {
    a.arity(1, 1)?;
    let input = a.string(0)?;
    if input.trim().is_empty() {
        return Ok(Json::Null);
    }
    let mut value: Json = serde_json::from_str(input).map_err(|e| {
        fail(format!(
            "States.StringToJson could not parse '{input}' as JSON: {e}"
        ))
    })?;
    // Java reads `-0` as the integer 0; serde reads it as the float -0.0.
    if !input.contains(['.', 'e', 'E']) {
        integral_zeros(&mut value);
    }
    Ok(value)
}

fn integral_zeros(value: &mut Json) {
    match value {
        Json::Number(n) if n.as_f64() == Some(0.0) && n.is_f64() => *value = Json::from(0),
        Json::Array(items) => items.iter_mut().for_each(integral_zeros),
        Json::Object(map) => map.values_mut().for_each(integral_zeros),
        _ => {}
    }
}

fn array_partition(a: &Args) -> Result<Json, Failure> {
    a.arity(2, 2)?;
    let items = a.array(0)?;
    let size = a.integer(1)?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| fail(format!("The chunk size of States.ArrayPartition must be a positive integer, but was {size}")))?;
    Ok(Json::Array(
        items
            .chunks(size)
            .map(|chunk| Json::Array(chunk.to_vec()))
            .collect(),
    ))
}

fn array_range(a: &Args) -> Result<Json, Failure> {
    a.arity(3, 3)?;
    let (start, end, step) = (a.integer(0)?, a.integer(1)?, a.integer(2)?);
    if step == 0 {
        return Err(fail("The step of States.ArrayRange cannot be 0"));
    }
    let count = if (step > 0 && end < start) || (step < 0 && end > start) {
        0
    } else {
        (i128::from(end) - i128::from(start)) / i128::from(step) + 1
    };
    if count > MAX_RANGE as i128 {
        return Err(fail(format!(
            "States.ArrayRange may produce at most {MAX_RANGE} elements, but would produce {count}"
        )));
    }
    let mut items = Vec::new();
    let mut n = i128::from(start);
    for _ in 0..count {
        items.push(Json::from(
            i64::try_from(n).map_err(|_| fail("States.ArrayRange overflowed"))?,
        ));
        n += i128::from(step);
    }
    Ok(Json::Array(items))
}

fn array_get_item(a: &Args) -> Result<Json, Failure> {
    a.arity(2, 2)?;
    let items = a.array(0)?;
    let index = a.integer(1)?;
    usize::try_from(index)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or_else(|| {
            fail(format!(
                "The index {index} is out of bounds for an array of length {}",
                items.len()
            ))
        })
}

/// A string argument no longer than [`MAX_TEXT`] characters.
fn limited<'a>(a: &Args<'a, '_>, i: usize) -> Result<&'a str, Failure> {
    let input = a.string(i)?;
    if input.chars().count() > MAX_TEXT {
        return Err(fail(format!(
            "The input of {} may be at most {MAX_TEXT} characters long",
            a.name
        )));
    }
    Ok(input)
}

fn base64_decode(a: &Args) -> Result<Json, Failure> {
    a.arity(1, 1)?;
    let input = limited(a, 0)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(input.as_bytes())
        .map_err(|e| {
            fail(format!(
                "States.Base64Decode could not decode '{input}': {e}"
            ))
        })?;
    Ok(Json::String(String::from_utf8_lossy(&bytes).into_owned()))
}

fn hash(a: &Args) -> Result<Json, Failure> {
    a.arity(2, 2)?;
    let data = limited(a, 0)?;
    let bytes = data.as_bytes();
    let algorithm = a.string(1)?;
    let Some(digest) = crate::digest::hex_digest(algorithm, bytes) else {
        return Err(fail(format!(
            "The hash algorithm '{algorithm}' is not supported; use one of {}",
            crate::digest::ALGORITHMS
        )));
    };
    Ok(Json::String(digest))
}

fn json_merge(a: &Args) -> Result<Json, Failure> {
    a.arity(3, 3)?;
    let (left, right) = (a.object(0)?, a.object(1)?);
    match a.value(2) {
        Json::Bool(false) => {}
        Json::Bool(true) => {
            return Err(fail(
                "States.JsonMerge does not support a deep merge; its third argument must be false",
            ))
        }
        _ => return Err(a.type_error(2, "a boolean")),
    }
    let mut merged = left.clone();
    for (key, value) in right {
        merged.insert(key.clone(), value.clone());
    }
    Ok(Json::Object(merged))
}

fn math_random(a: &Args, host: &dyn Host) -> Result<Json, Failure> {
    a.arity(2, 3)?;
    let (start, end) = (a.integer(0)?, a.integer(1)?);
    if end <= start {
        return Err(fail(format!(
            "The end of States.MathRandom ({end}) must be greater than its start ({start})"
        )));
    }
    let span = end
        .checked_sub(start)
        .ok_or_else(|| fail("The range of States.MathRandom is too large"))?;
    let offset = if a.args.len() == 3 {
        JavaRandom::new(a.integer(2)?).next_below(span)
    } else {
        // `random()` is in [0, 1), so the offset stays below `span`.
        ((host.random() * span as f64).floor() as i64).clamp(0, span - 1)
    };
    Ok(Json::from(start + offset))
}

/// `java.util.Random`, so a seeded States.MathRandom is reproducible.
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i64 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i64
    }

    /// A value in `[0, bound)`; bounds beyond 31 bits fall back to 62-bit draws.
    fn next_below(&mut self, bound: i64) -> i64 {
        if let Ok(bound32) = i32::try_from(bound) {
            if bound32 & -bound32 == bound32 {
                return (i64::from(bound32) * self.next(31)) >> 31;
            }
            loop {
                let bits = self.next(31);
                let value = bits % i64::from(bound32);
                if bits - value + i64::from(bound32 - 1) < (1 << 31) {
                    return value;
                }
            }
        }
        let wide = (self.next(31) << 31) | self.next(31);
        wide.rem_euclid(bound)
    }
}
