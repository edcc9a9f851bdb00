//! Workers: claim a due run, execute its workflow with a heartbeat, close the claim.

use super::context::{ContextParts, History, RunContext};
use super::error::RunError;
use super::journal::{Journal, Sink};
use super::retry::RetryPolicy;
use super::store::{Claim, QueueChange, RunStore, StoreError};
use crate::ports::{Clock, Notifier, RunEnd};
use passerelle_domain::{RunEvent, RunId, RunStatus, StepKey, SyncAction};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn, Instrument};

/// The future a workflow returns.
pub type WorkflowFuture = Pin<Box<dyn Future<Output = Result<(), RunError>> + Send>>;

/// A sync action's workflow body. It takes decisions only from its input and step results.
pub trait Workflow: Send + Sync {
    /// Runs (or resumes, or replays) the workflow.
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture;
}

/// Workflows by action.
#[derive(Default, Clone)]
pub struct Registry {
    workflows: HashMap<SyncAction, Arc<dyn Workflow>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }
    /// Registers the workflow of an action.
    pub fn register(&mut self, action: SyncAction, wf: Arc<dyn Workflow>) -> &mut Self {
        self.workflows.insert(action, wf);
        self
    }
    /// The workflow of an action.
    pub fn get(&self, action: SyncAction) -> Option<Arc<dyn Workflow>> {
        self.workflows.get(&action).cloned()
    }
}

/// Called after a step's effect returned and before its result is journaled. Tests use it
/// to abort the process at the worst moment.
pub type FaultHook = Arc<dyn Fn(&StepKey) + Send + Sync>;

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Lease length; renewed by every append and by the heartbeat.
    pub lease: Duration,
    /// Heartbeat period while a step runs (well under the lease).
    pub heartbeat: Duration,
    /// Idle poll period when nothing is due.
    pub poll: Duration,
    /// Items of one run processed at once.
    pub item_concurrency: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_millis(200),
            item_concurrency: 8,
        }
    }
}

/// What one `try_execute_next` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Execution {
    /// Nothing was due.
    Empty,
    /// A run was executed until it finished, parked, was released or lost its lease.
    Completed {
        /// The run.
        run_id: RunId,
        /// Where it stands now.
        status: RunStatus,
    },
}

/// A worker. Tests drive it one run at a time with [`Worker::try_execute_next`].
pub struct Worker {
    id: String,
    store: Arc<dyn RunStore>,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    cfg: WorkerConfig,
    fault: Option<FaultHook>,
    notifier: Option<Arc<dyn Notifier>>,
    shutdown: Arc<AtomicBool>,
}

/// Scope of the engine's own end-of-run steps (not part of the workflow body: replay
/// does not expect the body to reach them).
pub(crate) const END_SCOPE: &str = "end";

impl Worker {
    /// A worker with its id (unique per process: host + pid + counter is fine).
    pub fn new(
        id: impl Into<String>,
        store: Arc<dyn RunStore>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        cfg: WorkerConfig,
    ) -> Self {
        Self {
            id: id.into(),
            store,
            registry,
            clock,
            cfg,
            fault: None,
            notifier: None,
            shutdown: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Installs a fault hook (tests only).
    pub fn with_fault(mut self, hook: FaultHook) -> Self {
        self.fault = Some(hook);
        self
    }

    /// Sends end-of-run notifications through `notifier` (a journaled step).
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// The worker's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A flag that, once set, makes the worker release its run after the current step and
    /// stop taking runs.
    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        self.shutdown.clone()
    }

    /// Claims and executes one due run.
    pub async fn try_execute_next(&self) -> Result<Execution, StoreError> {
        let Some(claim) = self
            .store
            .claim(&self.id, self.clock.now(), self.cfg.lease)
            .await?
        else {
            return Ok(Execution::Empty);
        };
        let run_id = claim.fence.run_id;
        let (profile, action) = match claim.events.first().map(|e| &e.event) {
            Some(RunEvent::RunRequested {
                profile_id, action, ..
            }) => (profile_id.to_string(), action.as_str()),
            _ => (String::new(), ""),
        };
        // Every log line of the run carries these fields (error level: the span exists
        // whatever the filter, so a warn line inside a run still says which run).
        let span = tracing::error_span!(
            "run",
            account = %claim.account_id,
            profile = %profile,
            run = %run_id,
            action = action,
            worker = %self.id
        );
        metrics::counter!("passerelle_runs_claimed_total", "action" => action).increment(1);
        let status = self.execute(claim).instrument(span).await;
        metrics::counter!(
            "passerelle_runs_executed_total",
            "action" => action,
            "status" => status.as_str()
        )
        .increment(1);
        Ok(Execution::Completed { run_id, status })
    }

    /// Runs until the shutdown flag is set, sleeping while nothing is due.
    pub async fn run_until_shutdown(&self) -> Result<(), StoreError> {
        while !self.shutdown.load(Ordering::SeqCst) {
            match self.try_execute_next().await {
                Ok(Execution::Completed { .. }) => continue,
                Ok(Execution::Empty) => {}
                Err(e) => warn!(error = %e, "claim failed; retrying"),
            }
            let mut wait = self.cfg.poll;
            if let Ok(Some(due)) = self.store.next_due().await {
                let until = (due - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
                wait = wait.min(until.max(Duration::from_millis(5)));
            }
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Runs until nothing is due any more (parked runs due later are left). For the demo
    /// and tests.
    pub async fn drain(&self) -> Result<Vec<(RunId, RunStatus)>, StoreError> {
        let mut done = Vec::new();
        while let Execution::Completed { run_id, status } = self.try_execute_next().await? {
            done.push((run_id, status));
        }
        Ok(done)
    }

    async fn execute(&self, claim: Claim) -> RunStatus {
        let Claim {
            fence,
            account_id,
            events,
            cancel_requested_by,
        } = claim;
        let (profile_id, action, input) = match events.first().map(|e| &e.event) {
            Some(RunEvent::RunRequested {
                profile_id,
                action,
                input,
                ..
            }) => (profile_id.clone(), *action, input.clone()),
            _ => {
                warn!("run stream does not start with RunRequested");
                return RunStatus::Failed;
            }
        };
        let retry = super::retry_scope::RetryScope::from_input(&input);
        let history = History::from_events(&events);
        let resumed = events
            .iter()
            .any(|e| matches!(e.event, RunEvent::RunStarted { .. }));
        let next_sequence = events.last().map_or(1, |e| e.sequence + 1);
        let journal = Journal::new(
            Sink::Live {
                store: self.store.clone(),
                fence: fence.clone(),
                lease: self.cfg.lease,
            },
            self.clock.clone(),
            account_id.to_string(),
            fence.run_id.to_string(),
            self.id.clone(),
            next_sequence,
            cancel_requested_by,
        );
        let lease_lost = Arc::new(AtomicBool::new(false));
        let ctx = RunContext::new(ContextParts {
            run_id: fence.run_id,
            account_id,
            profile_id,
            action,
            journal,
            history,
            clock: self.clock.clone(),
            interrupt: self.shutdown.clone(),
            lease_lost: lease_lost.clone(),
            fault: self.fault.clone(),
            concurrency: self.cfg.item_concurrency,
            only_items: retry.as_ref().map(|r| r.items.clone()),
        });
        if let Err(e) = ctx
            .shared()
            .journal
            .record(RunEvent::RunStarted {
                worker: self.id.clone(),
                lease_epoch: fence.epoch,
                resumed,
            })
            .await
        {
            warn!(error = %e, "could not start the run");
            return RunStatus::Running;
        }
        // A retry run says which run and items it retries, first thing in its log (the
        // note is recorded once, even when the run resumes).
        if let Some(r) = &retry {
            if let Err(e) = ctx.note(r.note()).await {
                warn!(error = %e, "could not note the retry");
                return RunStatus::Running;
            }
        }

        // Heartbeat: keeps the lease while a long step runs; notices a lost lease. It is
        // stopped by a signal checked only *between* beats, and awaited: a beat is a fenced
        // transaction on the queue row, and cancelling it (it used to be `abort()`ed) could
        // drop it while it opened that transaction, which returned a PostgreSQL connection
        // to the pool inside it (see `adapters::store::db::pg_begin`).
        let (stop_hb, mut hb_stopped) = tokio::sync::oneshot::channel::<()>();
        let hb = {
            let store = self.store.clone();
            let fence = fence.clone();
            let clock = self.clock.clone();
            let (period, lease) = (self.cfg.heartbeat, self.cfg.lease);
            let lost = lease_lost.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        biased;
                        _ = &mut hb_stopped => break,
                        _ = tokio::time::sleep(period) => {}
                    }
                    match store.heartbeat(&fence, clock.now(), lease).await {
                        Ok(_) => metrics::counter!("passerelle_lease_renewals_total").increment(1),
                        Err(StoreError::LeaseLost(_)) => {
                            // Counted once, when the run closes with LeaseLost.
                            lost.store(true, Ordering::SeqCst);
                            break;
                        }
                        Err(e) => warn!(error = %e, "heartbeat failed"),
                    }
                }
            })
        };

        let outcome = match self.registry.get(action) {
            Some(wf) => wf.run(ctx.clone(), input).await,
            None => Err(RunError::failed(format!(
                "aucun workflow pour l'action {action} dans ce binaire"
            ))),
        };
        let outcome = self.notify(&ctx, action, outcome).await;
        // Stop the heartbeat and wait for a beat in flight to end before closing the run
        // (the close takes the same queue row). A send error only means the task already
        // ended (lease lost); a join error means it panicked, which the close survives.
        let _ = stop_hb.send(());
        if let Err(e) = hb.await {
            warn!(error = %e, "heartbeat task ended abnormally");
        }
        self.close(&ctx, outcome).await
    }

    /// Runs the notification step for a run about to end. A notification that fails for
    /// good is logged (StepFailed) and does not change the run's outcome; a transient
    /// failure parks the run before it ends, so the notification is retried.
    async fn notify(
        &self,
        ctx: &RunContext,
        action: SyncAction,
        outcome: Result<(), RunError>,
    ) -> Result<(), RunError> {
        let Some(notifier) = &self.notifier else {
            return outcome;
        };
        let (status, message) = match &outcome {
            Ok(()) => (RunStatus::Succeeded, "Tâche terminée".to_string()),
            Err(e @ (RunError::Failed { .. } | RunError::Nondeterminism(_))) => {
                (RunStatus::Failed, e.to_string())
            }
            Err(RunError::Cancelled) => (RunStatus::Stopped, "Tâche arrêtée".to_string()),
            Err(_) => return outcome,
        };
        let end = RunEnd {
            run_id: ctx.run_id(),
            account_id: ctx.account_id().clone(),
            profile_id: ctx.profile_id().clone(),
            action,
            status,
            message,
            counts: ctx.totals(),
        };
        let n = notifier.clone();
        match ctx
            .scoped(END_SCOPE)
            .step("notify", &RetryPolicy::SHOP, || async move {
                n.run_ended(&end).await
            })
            .await
        {
            Ok(_) | Err(RunError::Failed { .. }) => outcome,
            Err(e) => Err(e),
        }
    }

    async fn close(&self, ctx: &RunContext, outcome: Result<(), RunError>) -> RunStatus {
        let journal = &ctx.shared().journal;
        let (events, change, status) = match outcome {
            Ok(()) => {
                let msg = "Tâche terminée".to_string();
                (
                    vec![RunEvent::RunFinished {
                        status: RunStatus::Succeeded,
                        message: msg,
                    }],
                    QueueChange::Finish,
                    RunStatus::Succeeded,
                )
            }
            Err(RunError::Parked { until }) => {
                info!(%until, "run parked until its next retry");
                let cause = ctx
                    .shared()
                    .park_cause
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwrap_or("transient");
                metrics::counter!(
                    "passerelle_runs_parked_total",
                    "action" => ctx.shared().action.as_str(),
                    "cause" => cause
                )
                .increment(1);
                (
                    vec![],
                    QueueChange::Park { due_at: until },
                    RunStatus::Waiting,
                )
            }
            Err(RunError::Cancelled) => {
                let by = journal
                    .cancel_requested_by()
                    .unwrap_or_else(|| "inconnu".into());
                (
                    vec![
                        RunEvent::CancelRequested { by: by.clone() },
                        RunEvent::RunFinished {
                            status: RunStatus::Stopped,
                            message: format!("Tâche arrêtée à la demande de {by}"),
                        },
                    ],
                    QueueChange::Finish,
                    RunStatus::Stopped,
                )
            }
            Err(RunError::Interrupted) => (vec![], QueueChange::Release, RunStatus::Queued),
            Err(RunError::LeaseLost) => {
                metrics::counter!("passerelle_lease_losses_total").increment(1);
                warn!("lease lost; another worker owns the run now");
                return RunStatus::Running;
            }
            Err(RunError::Store(e)) => {
                warn!(error = %e, "store failed; the run will be reclaimed when its lease expires");
                return RunStatus::Running;
            }
            Err(e @ (RunError::Failed { .. } | RunError::Nondeterminism(_))) => (
                vec![RunEvent::RunFinished {
                    status: RunStatus::Failed,
                    message: e.to_string(),
                }],
                QueueChange::Finish,
                RunStatus::Failed,
            ),
            Err(RunError::HistoryExhausted) => (
                vec![RunEvent::RunFinished {
                    status: RunStatus::Failed,
                    message: "historique épuisé hors rejeu".into(),
                }],
                QueueChange::Finish,
                RunStatus::Failed,
            ),
        };
        match journal.close(events, change).await {
            Ok(()) => status,
            Err(e) => {
                warn!(error = %e, "could not close the run");
                RunStatus::Running
            }
        }
    }
}
