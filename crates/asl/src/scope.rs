//! What an expression can see while a state is evaluated.

use serde_json::Value as Json;

/// The nondeterministic things expressions may ask for. The interpreter
/// passes an implementation seeded per execution, so runs are reproducible.
pub trait Host {
    /// A new random UUID (v4) as text, for `States.UUID` and `$uuid()`.
    fn uuid(&self) -> String;
    /// A random number in `[0, 1)`, for `States.MathRandom` and `$random()`.
    fn random(&self) -> f64;
    /// Milliseconds since the Unix epoch, for JSONata's `$now()` and `$millis()`.
    fn now_millis(&self) -> i64;
}

/// The variables visible to a state, innermost scope first.
pub trait Variables {
    fn get(&self, name: &str) -> Option<&Json>;
}

/// No variables at all.
pub struct NoVariables;

impl Variables for NoVariables {
    fn get(&self, _name: &str) -> Option<&Json> {
        None
    }
}

/// Everything an expression evaluated in a state can refer to.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// `$` in JSONPath, `$states.input` in JSONata.
    pub input: &'a Json,
    /// `$$` in JSONPath, `$states.context` in JSONata.
    pub context: &'a Json,
    pub vars: &'a dyn Variables,
    pub host: &'a dyn Host,
    /// `$states.result` (JSONata, after a Task/Map/Parallel).
    pub result: Option<&'a Json>,
    /// `$states.errorOutput` (JSONata, in a Catch).
    pub error_output: Option<&'a Json>,
}

impl<'a> Scope<'a> {
    /// The same scope with `$` (and `$states.input`) replaced.
    pub fn with_input(self, input: &'a Json) -> Self {
        Scope { input, ..self }
    }
}
