//! The run store port: the event log of runs plus the queue of runs to execute.
//! Implemented for PostgreSQL and SQLite in `passerelle-adapters` (`store/`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use passerelle_domain::{
    AccountId, Actor, EventMetadata, ProfileId, RunEvent, RunId, SyncAction, Trigger,
};
use serde_json::Value;
use std::time::Duration;

/// Failures of the store, classified for the engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The caller's lease is gone (expired and reclaimed, or another epoch appended): stop
    /// working on the run, never retry the append.
    #[error("bail perdu (lease lost) pour la tâche {0}")]
    LeaseLost(RunId),
    /// A stored event cannot be read (unknown type, corrupt payload): an operator must look.
    /// Names the aggregate and sequence so the row can be found.
    #[error("événement illisible : {aggregate_type} {aggregate_id} séquence {sequence} : {reason} (unreadable event)")]
    Corrupt {
        /// Aggregate type.
        aggregate_type: String,
        /// Aggregate id.
        aggregate_id: String,
        /// Sequence within the aggregate.
        sequence: i64,
        /// What is wrong.
        reason: String,
    },
    /// The run does not exist for this account.
    #[error("tâche introuvable : {0} (run not found)")]
    NotFound(String),
    /// Database unavailable or failing: retry later.
    #[error("base de données indisponible : {0}")]
    Unavailable(String),
}

/// A run to enqueue.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Id chosen by the caller (UUID v7).
    pub run_id: RunId,
    /// Tenant.
    pub account_id: AccountId,
    /// Profile.
    pub profile_id: ProfileId,
    /// Action.
    pub action: SyncAction,
    /// Manual or scheduled.
    pub trigger: Trigger,
    /// Workflow input.
    pub input: Value,
    /// Who asked.
    pub actor: Actor,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// Result of an enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// Queued.
    Enqueued(RunId),
    /// Refused: this run of the same (profile, action) is still active (rule 5).
    AlreadyActive(RunId),
}

/// The fencing token of a claim: worker id and lease epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The run.
    pub run_id: RunId,
    /// Claiming worker.
    pub worker: String,
    /// Epoch, incremented by every claim.
    pub epoch: i64,
}

/// One stored, decoded event of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Run id (aggregate id).
    pub aggregate_id: String,
    /// 1-based sequence in the run's stream.
    pub sequence: i64,
    /// The event (upcast to the current version).
    pub event: RunEvent,
    /// Stored version before upcasting.
    pub stored_version: String,
    /// Metadata.
    pub metadata: EventMetadata,
    /// Global position in the log.
    pub position: i64,
}

/// A claimed run, with its history so far.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Fencing token.
    pub fence: Fence,
    /// Tenant.
    pub account_id: AccountId,
    /// Every event of the run so far, in order.
    pub events: Vec<RecordedEvent>,
    /// Set when someone asked to stop the run.
    pub cancel_requested_by: Option<String>,
}

/// An event to append, with its metadata.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The event.
    pub event: RunEvent,
    /// Its metadata.
    pub metadata: EventMetadata,
}

/// What happens to the run's queue entry in the same transaction as an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueChange {
    /// Keep the lease (renewed).
    Keep,
    /// Drop the lease; any worker may resume the run at `due_at`.
    Park {
        /// When the run is due again.
        due_at: DateTime<Utc>,
    },
    /// Drop the lease; due at once (graceful shutdown).
    Release,
    /// The run is over.
    Finish,
}

/// Acknowledgement of an append or heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendAck {
    /// Set when someone asked to stop the run.
    pub cancel_requested_by: Option<String>,
}

/// What a cancel request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The run was waiting: it was stopped at once.
    Stopped,
    /// A worker holds it: it will stop after its current item.
    Requested,
    /// The run had already ended.
    AlreadyFinished,
}

/// The durable run store (event log + run queue).
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Appends `RunRequested` and queues the run, in one transaction. Refuses a second
    /// active run of the same (account, profile, action).
    async fn enqueue(&self, run: NewRun) -> Result<EnqueueOutcome, StoreError>;

    /// Claims the next due run (queued, parked and due, or with an expired lease), raising
    /// its lease epoch. `None` when nothing is due.
    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Claim>, StoreError>;

    /// Appends events at `first_sequence`.. and applies `change`, in one transaction, only if
    /// `fence` still holds an unexpired lease; renews the lease.
    async fn append(
        &self,
        fence: &Fence,
        first_sequence: i64,
        events: &[NewEvent],
        change: QueueChange,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<AppendAck, StoreError>;

    /// Renews the lease while a long step runs.
    async fn heartbeat(
        &self,
        fence: &Fence,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<AppendAck, StoreError>;

    /// Asks a run to stop; a run that is not leased is stopped at once.
    async fn request_cancel(
        &self,
        account: &AccountId,
        run: RunId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CancelOutcome, StoreError>;

    /// Every event of a run, in order, if it belongs to `account`.
    async fn load_run(
        &self,
        account: &AccountId,
        run: RunId,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The earliest time a queued or parked run becomes due, to sleep until then.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
}
