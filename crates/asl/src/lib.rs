//! Amazon States Language: the document model, parsing and validation, and
//! the pure evaluation of everything a state computes (paths, payload
//! templates, intrinsic functions, JSONata). No I/O, no async, no panics on
//! user input: the interpreter in `windlass-engine` calls into this crate.

pub mod definition;
pub mod digest;
pub mod distributed;
pub mod failure;
pub mod intrinsics;
pub mod jsonata;
pub mod parse;
pub mod path;
pub mod payload;
pub mod scope;

pub use definition::Definition;

/// AWS's limit on the size of a state's input or output: 256 KiB.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
pub use failure::Failure;
pub use scope::{Host, Scope, Variables};
