//! Adapters: everything that talks to the outside world.
//!
//! * [`store`]: the event log and run queue on PostgreSQL or SQLite, chosen by URL.
//! * [`demo_backend`]: HTTP client and simulator of the demo-engine backend.
//! * [`mail`]: e-mail notifications over SMTP (lettre).
//! * [`ebp`]: EBP Gestion Commerciale SaaS (call gate and token store traits).
//! * [`secrets`]: secrets at rest (AES-256-GCM under a master key).
//! * [`storage`]: online storage of article images and documents (FTP/FTPS…).

pub mod cms;
pub mod demo_backend;
pub mod ebp;
pub mod http;
pub mod mail;
pub mod secrets;
pub mod storage;
pub mod store;
