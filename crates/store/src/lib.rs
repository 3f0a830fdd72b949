//! Durable storage of executions.
