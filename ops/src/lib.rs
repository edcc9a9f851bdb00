//! The `passerelle` binary's library: CLI parsing, wiring and commands, kept in a library
//! so integration tests and benchmarks call the same code.

pub mod access_cmd;
pub mod api;
pub mod app;
pub mod audit_cmd;
pub mod auth;
pub mod catalog_connectors;
pub mod cli;
pub mod commands;
pub mod config_cmd;
pub mod connectors;
pub mod console;
pub mod customer_connectors;
pub mod demo;
pub mod demo_hosted;
pub mod ebp_check;
pub mod export_demo;
pub mod health;
pub mod hosting;
pub mod keys_cmd;
pub mod media_connectors;
pub mod metrics;
pub mod notify;
pub mod orders_cmd;
pub mod platforms;
pub mod profiles;
pub mod reconcile_cmd;
pub mod recorded;
pub mod retry_cmd;
pub mod scheduling;
pub mod serve;
pub mod settings;
pub mod simulate;
pub mod telemetry;
pub mod whatif_cmd;
