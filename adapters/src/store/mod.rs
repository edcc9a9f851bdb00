//! Event store wiring: PostgreSQL (hosted, multi-worker) or SQLite (embedded default),
//! chosen by the database URL; the run queue, leases and the global event feed; the EBP
//! call gate and token store shared by workers ([`erp_gate`]); the per-account hash chain
//! over the stored events ([`chain`]).

mod aggregates;
pub mod chain;
mod codec;
mod db;
pub mod erp_gate;
mod feed;
mod health;
mod ledger;
pub mod rekey;
mod runs;
mod schedules;

pub use aggregates::{scoped_id, AggregateError, AggregateStore, Origin};
pub use codec::{decode_run_event, encode_event, upcasters, RawEvent};
pub use db::{redact, Db, DbError, DbKind, DbOptions, DbResult, Tx, Val};
pub use erp_gate::{GateClock, SqlCallGate, SqlTokenStore};
pub use feed::{read_feed, GlobalPos};
pub use health::{GateUsage, MigrationState, ProjectorLag, QueueGroup, LAG_COUNT_CAP};
pub use ledger::{SqlLedger, SqlQuotas, SUBSCRIPTION_ID};
pub use runs::SqlRunStore;
pub use schedules::{ScheduleStoreError, SqlScheduleStore, TickReport};
