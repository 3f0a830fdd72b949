//! The deploy side of windlass: Compose files, and the backend that does what
//! a deploy asks of a target.

pub mod compose;
