//! The `passerelle` binary's library: CLI parsing, wiring and commands, kept in a library
//! so integration tests and benchmarks call the same code.

pub mod access_cmd;
pub mod api;
pub mod app;
pub mod auth;
pub mod catalog_connectors;
pub mod cli;
pub mod commands;
pub mod connectors;
pub mod console;
pub mod customer_connectors;
pub mod demo;
pub mod demo_hosted;
pub mod export_demo;
pub mod hosting;
pub mod media_connectors;
pub mod notify;
pub mod orders_cmd;
pub mod profiles;
pub mod scheduling;
pub mod serve;
