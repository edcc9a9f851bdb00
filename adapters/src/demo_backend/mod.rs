//! The demo-engine backend: a tiny HTTP service with one list endpoint and one idempotent
//! effect endpoint. `passerelle-simulators` serves it (in-process for the demo and tests), `client.rs`
//! calls it with reqwest and classifies failures for the engine.

mod client;

pub use client::HttpDemoBackend;
