//! Runs one JSONata expression against a state's scope: a per-thread cache
//! of parsed expressions, the `$states` and variable bindings, the host's
//! nondeterministic values, and a guard against panics in the library.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use jsonata_core::ast::AstNode;
use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError};
use jsonata_core::value::JValue;
use serde_json::Value as Json;

use super::fast::FastPath;
use super::functions::{Needs, DRAWS, NEED_RANDOM, NEED_UUID};
use super::states::{mentions, Reach, Session};
use crate::Scope;

/// Parsed expressions kept per thread; the cache is emptied when it fills.
const CACHE_LIMIT: usize = 4096;

/// How many times an evaluation may run again for more host values; each
/// run doubles what it draws, so this is far beyond any real expression.
const MAX_REDRAWS: usize = 24;

/// A parsed expression and what it refers to.
pub(crate) struct Compiled {
    ast: AstNode,
    /// The names after a `$` in the text (over-approximated), with how
    /// much of their values the expression can reach.
    mentions: Box<[(Box<str>, Reach)]>,
    needs: Needs,
    pub fast: Option<FastPath>,
}

/// Why an evaluation produced no value.
#[derive(Debug)]
pub(crate) enum Error {
    /// The expression does not parse.
    Syntax(String),
    /// The expression failed; the JSONata message, e.g. `T1006: ...`.
    Evaluation(String),
}

thread_local! {
    static CACHE: RefCell<HashMap<Box<str>, Rc<Compiled>>> = RefCell::new(HashMap::new());
}

/// The parsed form of `source` (the text between `{%` and `%}`), cached.
pub(crate) fn compile(source: &str) -> Result<Rc<Compiled>, Error> {
    if let Some(hit) = CACHE.with(|cache| cache.borrow().get(source).cloned()) {
        return Ok(hit);
    }
    let parsed = catch_unwind(|| jsonata_core::parser::parse(source))
        .map_err(|_| Error::Syntax("the expression could not be parsed".into()))?
        .map_err(|error| Error::Syntax(from_code(&error.to_string()).to_string()))?;
    let compiled = Rc::new(Compiled {
        ast: parsed,
        mentions: mentions(source),
        needs: Needs::of(source),
        fast: FastPath::of(source),
    });
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(source.into(), Rc::clone(&compiled));
    });
    Ok(compiled)
}

/// Evaluates `compiled` in `session`'s scope.
pub(crate) fn run(compiled: &Compiled, session: &mut Session) -> Result<JValue, Error> {
    let host = session.scope.host;
    let now = if compiled.needs.clock {
        host.now_millis()
    } else {
        0
    };
    DRAWS.with(|draws| draws.borrow_mut().reset(now));
    if compiled.needs.uuid {
        DRAWS.with(|draws| draws.borrow_mut().uuids.push(host.uuid()));
    }
    if compiled.needs.random {
        DRAWS.with(|draws| draws.borrow_mut().randoms.push(host.random()));
    }
    for _ in 0..MAX_REDRAWS {
        match run_once(compiled, session) {
            Err(Error::Evaluation(message)) if message == NEED_UUID => DRAWS.with(|draws| {
                let mut draws = draws.borrow_mut();
                let more = draws.uuids.len().max(1);
                draws.uuids.extend((0..more).map(|_| host.uuid()));
                draws.rewind();
            }),
            Err(Error::Evaluation(message)) if message == NEED_RANDOM => DRAWS.with(|draws| {
                let mut draws = draws.borrow_mut();
                let more = draws.randoms.len().max(1);
                draws.randoms.extend((0..more).map(|_| host.random()));
                draws.rewind();
            }),
            other => return other,
        }
    }
    Err(Error::Evaluation(
        "Expression evaluation memory limit exceeded".into(),
    ))
}

fn run_once(compiled: &Compiled, session: &mut Session) -> Result<JValue, Error> {
    let mut context = Context::new();
    let vars = session.scope.vars;
    for (name, reach) in compiled.mentions.iter() {
        if &**name == "states" {
            context.bind(name.to_string(), session.states(reach));
        } else if let Some(value) = vars.get(name) {
            context.bind(name.to_string(), session.convert(value, reach));
        }
    }
    let running = super::running::Running::start();
    let mut evaluator = Evaluator::with_options(context, super::limits(&running));
    compiled
        .needs
        .register(&mut evaluator)
        .map_err(|error| Error::Evaluation(message(&error)))?;
    // The expression sees no context item: Step Functions gives it only `$states` and variables.
    match catch_unwind(AssertUnwindSafe(|| {
        evaluator.evaluate(&compiled.ast, &JValue::Undefined)
    })) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) if running.stopped_for().is_some() => Err(Error::Evaluation(
            running.stopped_for().unwrap_or_default().to_owned(),
        )),
        Ok(Err(error)) => Err(Error::Evaluation(message(&error))),
        Err(_) => Err(Error::Evaluation(
            "the JSONata evaluator failed unexpectedly".into(),
        )),
    }
}

/// The message as jsonata-js words it: the JSONata code first, no Rust
/// prefix, and no detail jsonata-core adds to a message jsonata-js keeps short.
fn message(error: &EvaluatorError) -> String {
    const NOT_A_FUNCTION: &str = "T1006: Attempted to invoke a non-function";
    let message = from_code(error.message());
    if message.starts_with(NOT_A_FUNCTION) {
        NOT_A_FUNCTION.to_string()
    } else {
        message.to_string()
    }
}

/// The value of an ASL variable or `$states` field, for the fast path.
pub(crate) fn lookup<'a>(scope: &Scope<'a>, root: super::fast::Root) -> Option<&'a Json> {
    use super::fast::Root;
    match root {
        Root::Input => Some(scope.input),
        Root::Context => Some(scope.context),
        Root::Result => scope.result,
        Root::ErrorOutput => scope.error_output,
    }
}

/// `message` from its JSONata code (`S0201: ...`) on, dropping any prefix
/// jsonata-core puts before it.
fn from_code(message: &str) -> &str {
    let bytes = message.as_bytes();
    (0..bytes.len().saturating_sub(5))
        .find(|&at| {
            bytes[at].is_ascii_uppercase()
                && bytes[at + 1..at + 5].iter().all(u8::is_ascii_digit)
                && bytes[at + 5] == b':'
                && (at == 0 || bytes[at - 1] == b' ')
        })
        .map_or(message, |at| &message[at..])
}
