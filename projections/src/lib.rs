//! Read models fed by the event log (DESIGN §5).
//!
//! Each projection owns its tables and applies *batches* of events: it loads the rows the
//! batch touches, folds the events in memory and upserts the rows, in the same transaction
//! as its checkpoint. The catch-up [`Projector`] reads the global feed in commit-safe order;
//! [`rebuild`] replays every event into fresh tables and compares them row by row with the
//! live ones.

pub mod access;
pub mod journal;
pub mod orders;
mod projector;
pub mod rebuild;
pub mod schedules;

pub use projector::{Projection, ProjectionError, Projector, TableSpec};

/// Every projection of the product, in the order they are caught up.
pub fn all() -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(journal::JournalProjection),
        Box::new(schedules::SchedulesProjection),
        Box::new(orders::TransferredOrdersProjection),
        Box::new(orders::QuotasProjection),
        Box::new(orders::LastTransferProjection),
        Box::new(access::AccessProjection),
    ]
}
