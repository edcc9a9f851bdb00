//! Pure business rules of Passerelle: aggregates, commands, events and value types.
//!
//! Nothing in this crate performs IO, reads the clock or draws random numbers: time and
//! identifiers are passed in by the caller, so every rule can be tested as
//! given / when / then and replayed deterministically.

pub mod access;
pub mod action;
pub mod catalog;
pub mod customer_export;
pub mod decider;
pub mod fields;
pub mod ids;
pub mod lang;
pub mod metadata;
pub mod orders;
pub mod platform;
pub mod profile;
pub mod schedule;
pub mod scheduling;
pub mod shop_order;
pub mod subscription;
pub mod sync_cursor;
pub mod sync_run;

pub use action::SyncAction;
pub use ids::{AccountId, ProfileId, RunId};
pub use lang::Lang;
pub use metadata::{Actor, EventMetadata};
pub use platform::{Capabilities, Capability, Platform};
pub use sync_run::{
    ItemOutcome, ItemRef, RunCommand, RunError as RunDomainError, RunEvent, RunStatus, StepKey,
    SyncRun, Trigger,
};
