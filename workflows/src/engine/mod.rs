//! The durable engine (DESIGN §4).
//!
//! * [`RunContext::step`] journals each step result in the run's stream before returning it;
//!   on resume, recorded results are returned without running the step again (rule 1).
//! * Failures are classified once ([`StepError`]); transient ones are retried per
//!   [`RetryPolicy`] by parking the run until a persisted `retry_at` (rule 2).
//! * External steps must be idempotent (rule 3); tests kill workers between effect and append.
//! * Workers claim runs with leases; every append re-checks the lease and its epoch in the
//!   same transaction (fencing), and only the lease holder writes the run's stream; results of
//!   concurrent items are group-committed by [`journal`] (rule 4).
//! * One active run per (profile, action) is enforced by the store (rule 5).
//! * Cancel is honoured between items (rule 6).
//! * [`replay::replay_run`] re-runs a recorded run with no IO (rule 7).

mod context;
mod error;
mod journal;
pub mod log;
pub mod replay;
mod retry;
pub mod retry_scope;
mod store;
mod worker;

pub use context::{step_idempotency_key, ItemCounts, RunContext};
pub use error::{RunError, StepError};
pub use retry::RetryPolicy;
pub use store::{
    AppendAck, CancelOutcome, Claim, EnqueueOutcome, Fence, NewEvent, NewRun, QueueChange,
    RecordedEvent, RunStore, StoreError,
};
pub use worker::{Execution, FaultHook, Registry, Worker, WorkerConfig, Workflow, WorkflowFuture};
