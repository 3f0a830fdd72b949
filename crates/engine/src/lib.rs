//! The deterministic ASL interpreter.
