//! The demo-engine backend: a tiny HTTP service with one list endpoint and one idempotent
//! effect endpoint. `sim.rs` serves it (in-process for the demo and tests), `client.rs`
//! calls it with reqwest and classifies failures for the engine.

mod client;
mod sim;

pub use client::HttpDemoBackend;
pub use sim::{DemoSim, SimConfig, SimStats};
