//! Adapters: everything that talks to the outside world.
//!
//! * [`store`]: the event log and run queue on PostgreSQL or SQLite, chosen by URL.
//! * [`demo_backend`]: HTTP client and simulator of the demo-engine backend.
//! * [`mail`]: e-mail notifications over SMTP (lettre).

pub mod demo_backend;
pub mod ebp;
pub mod mail;
pub mod store;
