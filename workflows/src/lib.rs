//! The durable workflow engine (`engine`) and one module per sync action (`actions`).
//!
//! Workflows are ordinary async Rust written against a [`engine::RunContext`]; every step
//! result is journaled in the run's `SyncRun` stream before the workflow moves on, so a run
//! survives crashes, parks its retries in the database and can be replayed without IO.
//! This crate sees the outside world only through the ports of [`ports`] and
//! [`engine::RunStore`]; adapters implement them.

pub mod actions;
pub mod engine;
pub mod ports;
