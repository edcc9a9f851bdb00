//! `RunContext`: what a workflow body sees. Steps are journaled; items are processed with
//! bounded concurrency, each with its own step scope and a recorded outcome.

use super::error::{RunError, StepError};
use super::journal::Journal;
use super::retry::RetryPolicy;
use super::store::RecordedEvent;
use super::worker::FaultHook;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use passerelle_domain::{AccountId, ItemOutcome, ItemRef, ProfileId, RunEvent, RunId, StepKey};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing::Instrument;

tokio::task_local! {
    /// The idempotency key of the step whose body is running (see [`step_idempotency_key`]).
    static STEP_IDEMPOTENCY_KEY: String;
}

/// The idempotency key of the journaled step whose body is running on this task: the run,
/// the scope, the step's position and name — the same when the step runs again after a
/// crash between its external effect and its journal entry, different for every other
/// step. Adapters whose API takes an idempotency key (Shopify's `@idempotent(key:)`) send
/// it, so a resumed step's write is answered from the first one instead of being made twice.
/// `None` outside a step (commands, tests calling an adapter directly).
pub fn step_idempotency_key() -> Option<String> {
    STEP_IDEMPOTENCY_KEY.try_with(Clone::clone).ok()
}

/// A recorded failure of one attempt.
#[derive(Debug, Clone)]
struct Failure {
    error: String,
    transient: bool,
    retry_at: Option<DateTime<Utc>>,
}

/// What the history says about one step.
#[derive(Debug, Clone)]
struct RecordedStep {
    name: String,
    completed: Option<Value>,
    failures: Vec<Failure>,
}

/// Counts of one `for_each_item` call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemCounts {
    /// Items handed in.
    pub total: u32,
    /// Succeeded.
    pub succeeded: u32,
    /// Failed.
    pub failed: u32,
    /// Ignored.
    pub ignored: u32,
}

/// What the history of a run says, indexed for the context.
#[derive(Default)]
pub(crate) struct History {
    steps: HashMap<(String, u32), RecordedStep>,
    item_outcomes: HashMap<String, RunEvent>,
    scopes_with_steps: HashSet<String>,
    discoveries: Vec<u32>,
    notes: HashSet<String>,
    pub(crate) finished: bool,
}

impl History {
    pub(crate) fn from_events(events: &[RecordedEvent]) -> Self {
        let mut h = History::default();
        for e in events {
            match &e.event {
                RunEvent::StepCompleted { key, result, .. } => {
                    let s = h.step_mut(key);
                    s.completed = Some(result.clone());
                }
                RunEvent::StepFailed {
                    key,
                    error,
                    transient,
                    retry_at,
                    ..
                } => {
                    h.step_mut(key).failures.push(Failure {
                        error: error.clone(),
                        transient: *transient,
                        retry_at: *retry_at,
                    });
                }
                RunEvent::ItemsDiscovered { count } => h.discoveries.push(*count),
                RunEvent::ItemSucceeded { item, .. }
                | RunEvent::ItemFailed { item, .. }
                | RunEvent::ItemIgnored { item, .. } => {
                    h.item_outcomes.insert(outcome_key(item), e.event.clone());
                }
                RunEvent::Noted { text } => {
                    h.notes.insert(text.clone());
                }
                RunEvent::RunFinished { .. } => h.finished = true,
                _ => {}
            }
        }
        h
    }

    fn step_mut(&mut self, key: &StepKey) -> &mut RecordedStep {
        self.scopes_with_steps.insert(key.scope.clone());
        self.steps
            .entry((key.scope.clone(), key.index))
            .or_insert_with(|| RecordedStep {
                name: key.name.clone(),
                completed: None,
                failures: Vec::new(),
            })
    }

    /// Keys of every recorded step, to check that a replay reached them all.
    pub(crate) fn recorded_keys(&self) -> Vec<StepKey> {
        let mut v: Vec<StepKey> = self
            .steps
            .iter()
            .map(|((scope, index), s)| StepKey {
                scope: scope.clone(),
                index: *index,
                name: s.name.clone(),
            })
            .collect();
        v.sort_by(|a, b| (&a.scope, a.index).cmp(&(&b.scope, b.index)));
        v
    }
}

/// Item outcomes are keyed by item key and run-wide index, which is unique across the
/// `for_each_item` calls of a run and stable across resumes.
fn outcome_key(item: &ItemRef) -> String {
    format!("{}#{}", item.key, item.index)
}

pub(crate) struct Shared {
    pub(crate) run_id: RunId,
    pub(crate) account_id: AccountId,
    pub(crate) profile_id: ProfileId,
    pub(crate) action: passerelle_domain::SyncAction,
    pub(crate) journal: Journal,
    history: History,
    clock: Arc<dyn crate::ports::Clock>,
    discovery_cursor: AtomicUsize,
    items_seen: AtomicU32,
    reached: Mutex<Vec<StepKey>>,
    park_until: Mutex<Option<DateTime<Utc>>>,
    /// Why the run parks (the last retry's cause), for the parks metric.
    pub(crate) park_cause: Mutex<Option<&'static str>>,
    pub(crate) interrupt: Arc<AtomicBool>,
    pub(crate) lease_lost: Arc<AtomicBool>,
    fault: Option<FaultHook>,
    concurrency: usize,
    totals: Mutex<ItemCounts>,
    only_items: Option<Arc<std::collections::BTreeSet<String>>>,
}

/// The handle a workflow body works with. Cheap to clone; each item gets a child context
/// with its own step scope.
#[derive(Clone)]
pub struct RunContext {
    shared: Arc<Shared>,
    scope: Arc<str>,
    counter: Arc<AtomicU32>,
}

pub(crate) struct ContextParts {
    pub(crate) run_id: RunId,
    pub(crate) account_id: AccountId,
    pub(crate) profile_id: ProfileId,
    pub(crate) action: passerelle_domain::SyncAction,
    pub(crate) journal: Journal,
    pub(crate) history: History,
    pub(crate) clock: Arc<dyn crate::ports::Clock>,
    pub(crate) interrupt: Arc<AtomicBool>,
    pub(crate) lease_lost: Arc<AtomicBool>,
    pub(crate) fault: Option<FaultHook>,
    pub(crate) concurrency: usize,
    /// Retry run: only these item keys ([`super::retry_scope`]).
    pub(crate) only_items: Option<std::collections::BTreeSet<String>>,
}

impl RunContext {
    pub(crate) fn new(p: ContextParts) -> Self {
        Self {
            shared: Arc::new(Shared {
                run_id: p.run_id,
                account_id: p.account_id,
                profile_id: p.profile_id,
                action: p.action,
                journal: p.journal,
                history: p.history,
                clock: p.clock,
                discovery_cursor: AtomicUsize::new(0),
                items_seen: AtomicU32::new(0),
                reached: Mutex::new(Vec::new()),
                park_until: Mutex::new(None),
                park_cause: Mutex::new(None),
                interrupt: p.interrupt,
                lease_lost: p.lease_lost,
                fault: p.fault,
                concurrency: p.concurrency.max(1),
                totals: Mutex::new(ItemCounts::default()),
                only_items: p.only_items.map(Arc::new),
            }),
            scope: Arc::from("run"),
            counter: Arc::new(AtomicU32::new(0)),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The run being executed.
    pub fn run_id(&self) -> RunId {
        self.shared.run_id
    }

    /// The tenant of the run.
    pub fn account_id(&self) -> &AccountId {
        &self.shared.account_id
    }

    /// The profile of the run.
    pub fn profile_id(&self) -> &ProfileId {
        &self.shared.profile_id
    }

    /// An idempotency key for an external write made by the current scope: stable across
    /// retries and resumes of the same step, different for every step of every run.
    pub fn idempotency_key(&self, step: &str) -> String {
        format!("{}:{}:{}", self.shared.run_id, self.scope, step)
    }

    /// A retry run's item keys (`None`: every item). [`RunContext::for_each_item`] applies
    /// it by itself; a workflow that does work for a whole batch before its items narrows
    /// the batch with it first (see [`super::retry_scope`]).
    pub fn only_items(&self) -> Option<&std::collections::BTreeSet<String>> {
        self.shared.only_items.as_deref()
    }

    /// Item counts of every `for_each_item` call so far (recorded outcomes included).
    pub fn totals(&self) -> ItemCounts {
        *self.shared.totals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A context whose steps live in their own scope (the engine's end-of-run steps).
    pub(crate) fn scoped(&self, scope: &str) -> RunContext {
        self.child(scope.to_string())
    }

    fn child(&self, scope: String) -> RunContext {
        RunContext {
            shared: self.shared.clone(),
            scope: Arc::from(scope),
            counter: Arc::new(AtomicU32::new(0)),
        }
    }

    fn stop_reason(&self) -> Option<RunError> {
        if self.shared.lease_lost.load(Ordering::SeqCst) {
            return Some(RunError::LeaseLost);
        }
        if let Some(e) = self.shared.journal.broken() {
            return Some(e);
        }
        if self.shared.interrupt.load(Ordering::SeqCst) {
            return Some(RunError::Interrupted);
        }
        None
    }

    fn park(&self, until: DateTime<Utc>) {
        let mut p = self
            .shared
            .park_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *p = Some(p.map_or(until, |cur| cur.min(until)));
    }

    fn parked(&self) -> Option<DateTime<Utc>> {
        *self
            .shared
            .park_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// True once a stop was asked for this run.
    pub fn cancel_requested(&self) -> bool {
        self.shared.journal.cancel_requested_by().is_some()
    }

    /// Steps reached so far in this execution (replay compares them with the history).
    pub(crate) fn reached(&self) -> Vec<StepKey> {
        self.shared
            .reached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs one journaled step.
    ///
    /// If the history holds this step's result, it is returned and `f` is not called. Else
    /// `f` runs once; its result is appended to the run's stream before being returned. A
    /// transient error parks the run until a persisted `retry_at` (`RunError::Parked`);
    /// a permanent one, or the last allowed attempt, gives `RunError::Failed`.
    pub async fn step<T, F, Fut>(
        &self,
        name: &str,
        policy: &RetryPolicy,
        f: F,
    ) -> Result<T, RunError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let index = self.counter.fetch_add(1, Ordering::SeqCst);
        let key = StepKey {
            scope: self.scope.to_string(),
            index,
            name: name.to_string(),
        };
        self.shared
            .reached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key.clone());
        let replay = self.shared.journal.is_replay();
        let mut attempt = 1;
        if let Some(rec) = self.shared.history.steps.get(&(key.scope.clone(), index)) {
            if rec.name != name {
                return Err(RunError::Nondeterminism(format!(
                    "à la position {index} de « {} », l'historique a l'étape « {} » mais le workflow demande « {name} »",
                    key.scope, rec.name
                )));
            }
            if let Some(v) = &rec.completed {
                return serde_json::from_value(v.clone()).map_err(|e| {
                    RunError::Nondeterminism(format!(
                        "le résultat enregistré de {key} ne correspond plus au type attendu : {e}"
                    ))
                });
            }
            if let Some(last) = rec.failures.last() {
                if !last.transient || last.retry_at.is_none() {
                    return Err(RunError::Failed {
                        step: Some(key),
                        reason: last.error.clone(),
                    });
                }
                if replay {
                    return Err(RunError::Parked {
                        until: last.retry_at.unwrap_or_else(|| self.shared.clock.now()),
                    });
                }
            }
            attempt = rec.failures.len() as u32 + 1;
        } else if replay {
            return if self.shared.history.finished {
                Err(RunError::Nondeterminism(format!(
                    "l'étape {key} n'existe pas dans l'historique enregistré"
                )))
            } else {
                Err(RunError::HistoryExhausted)
            };
        }
        if let Some(stop) = self.stop_reason() {
            return Err(stop);
        }
        // The step span puts `step` on every log line the step's IO writes; error level so
        // it exists whatever the filter lets through (a warn line still names its step).
        let started = std::time::Instant::now();
        let step_key = format!(
            "{}:{}:{}:{}",
            self.shared.run_id, key.scope, key.index, key.name
        );
        let outcome = STEP_IDEMPOTENCY_KEY
            .scope(
                step_key,
                f().instrument(tracing::error_span!("step", step = name)),
            )
            .await;
        let action = self.shared.action.as_str();
        metrics::histogram!(
            "passerelle_step_duration_seconds",
            "action" => action,
            "step" => name.to_string()
        )
        .record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(value) => {
                if let Some(hook) = &self.shared.fault {
                    // Test hook: a worker killed here has made the external effect but not
                    // journaled it; rule 3 says the step must be safe to run again.
                    hook(&key);
                }
                let result = serde_json::to_value(&value).map_err(|e| {
                    RunError::failed(format!("résultat de {key} non sérialisable : {e}"))
                })?;
                self.shared
                    .journal
                    .record(RunEvent::StepCompleted {
                        key,
                        attempt,
                        result,
                    })
                    .await?;
                Ok(value)
            }
            // Adapters log a failed call at WARN (it may be retried); the step failing for
            // good is the engine's to report, at ERROR, once.
            Err(StepError::Permanent(msg)) => {
                tracing::error!(step = %key, error = %msg, "étape en échec définitif");
                self.shared
                    .journal
                    .record(RunEvent::StepFailed {
                        key: key.clone(),
                        attempt,
                        error: msg.clone(),
                        transient: false,
                        retry_at: None,
                    })
                    .await?;
                Err(RunError::Failed {
                    step: Some(key),
                    reason: msg,
                })
            }
            Err(StepError::Transient {
                message,
                retry_after,
            }) => {
                if attempt >= policy.max_attempts {
                    let reason = format!("{message} (abandon après {attempt} essai(s))");
                    tracing::error!(step = %key, error = %reason, "étape en échec définitif");
                    self.shared
                        .journal
                        .record(RunEvent::StepFailed {
                            key: key.clone(),
                            attempt,
                            error: reason.clone(),
                            transient: true,
                            retry_at: None,
                        })
                        .await?;
                    return Err(RunError::Failed {
                        step: Some(key),
                        reason,
                    });
                }
                let mut delay = policy.delay_after(attempt, rand::random::<f64>());
                if let Some(ra) = retry_after {
                    delay = delay.max(ra);
                }
                // Cause: the remote asked to slow down (429 / Retry-After) or another
                // transient failure (timeout, 5xx, connection reset).
                let cause = if retry_after.is_some() {
                    "rate_limited"
                } else {
                    "transient"
                };
                metrics::counter!(
                    "passerelle_step_retries_total",
                    "action" => action,
                    "step" => name.to_string(),
                    "cause" => cause
                )
                .increment(1);
                *self
                    .shared
                    .park_cause
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(cause);
                let until = self.shared.clock.now()
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                tracing::warn!(step = %key, attempt, error = %message, retry_at = %until, "erreur passagère, nouvel essai prévu");
                self.shared
                    .journal
                    .record(RunEvent::StepFailed {
                        key,
                        attempt,
                        error: message,
                        transient: true,
                        retry_at: Some(until),
                    })
                    .await?;
                self.park(until);
                Err(RunError::Parked { until })
            }
        }
    }

    /// Adds a line to the run's log (once, even if the run is resumed).
    pub async fn note(&self, text: impl Into<String>) -> Result<(), RunError> {
        let text = text.into();
        if self.shared.journal.is_replay() || self.shared.history.notes.contains(&text) {
            return Ok(());
        }
        self.shared.journal.record(RunEvent::Noted { text }).await
    }

    /// Processes items with bounded concurrency; each gets a child context (its own step
    /// scope) and its outcome is journaled (`ItemSucceeded` / `ItemFailed` / `ItemIgnored`).
    /// A permanent failure fails that item only. Stops starting new items once a stop was
    /// asked (→ `Cancelled`), a retry is pending (→ `Parked`) or the lease is lost.
    pub async fn for_each_item<I, D, F, Fut>(
        &self,
        items: Vec<I>,
        describe: D,
        work: F,
    ) -> Result<ItemCounts, RunError>
    where
        D: Fn(&I) -> (String, String),
        F: Fn(RunContext, ItemRef, I) -> Fut,
        Fut: Future<Output = Result<ItemOutcome, RunError>>,
    {
        let replay = self.shared.journal.is_replay();
        // A retry run works on its failed items only: the others are not even discovered.
        let items: Vec<I> = match self.only_items() {
            Some(only) => items
                .into_iter()
                .filter(|i| only.contains(&describe(i).0))
                .collect(),
            None => items,
        };
        let count = items.len() as u32;
        let loop_no = self.shared.discovery_cursor.fetch_add(1, Ordering::SeqCst);
        if loop_no >= self.shared.history.discoveries.len() && !replay {
            self.shared
                .journal
                .record(RunEvent::ItemsDiscovered { count })
                .await?;
        }
        let base = self.shared.items_seen.fetch_add(count, Ordering::SeqCst);
        let total = base + count;
        let mut seen_keys: HashMap<String, u32> = HashMap::new();
        let prepared: Vec<(ItemRef, String, I)> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let (key, label) = describe(&item);
                let n = seen_keys.entry(key.clone()).or_insert(0);
                *n += 1;
                let scope = if *n == 1 {
                    format!("L{loop_no}:{key}")
                } else {
                    format!("L{loop_no}:{key}#{n}")
                };
                let r = ItemRef {
                    index: base + i as u32 + 1,
                    total,
                    key,
                    label,
                };
                (r, scope, item)
            })
            .collect();

        enum Done {
            Outcome(RunEvent),
            NotStarted,
        }
        let work = &work;
        let results: Vec<Result<Done, RunError>> = futures::stream::iter(prepared)
            .map(|(item_ref, scope, item)| async move {
                let recorded = self
                    .shared
                    .history
                    .item_outcomes
                    .get(&outcome_key(&item_ref));
                if let (Some(ev), false) = (recorded, replay) {
                    return Ok(Done::Outcome(ev.clone()));
                }
                if replay
                    && recorded.is_none()
                    && !self.shared.history.scopes_with_steps.contains(&scope)
                {
                    return Ok(Done::NotStarted);
                }
                if !replay
                    && (self.stop_reason().is_some()
                        || self.parked().is_some()
                        || self.cancel_requested())
                {
                    return Ok(Done::NotStarted);
                }
                let ctx = self.child(scope);
                let span = tracing::error_span!("item", item = %item_ref.key);
                let event = match work(ctx, item_ref.clone(), item).instrument(span).await {
                    Ok(ItemOutcome::Succeeded(message)) => RunEvent::ItemSucceeded {
                        item: item_ref,
                        message,
                    },
                    Ok(ItemOutcome::Failed(reason)) | Err(RunError::Failed { reason, .. }) => {
                        RunEvent::ItemFailed {
                            item: item_ref,
                            reason,
                        }
                    }
                    Ok(ItemOutcome::Ignored(reason)) => RunEvent::ItemIgnored {
                        item: item_ref,
                        reason,
                    },
                    Err(RunError::Parked { until }) => {
                        self.park(until);
                        return Ok(Done::NotStarted);
                    }
                    Err(RunError::HistoryExhausted) => return Ok(Done::NotStarted),
                    Err(e) => return Err(e),
                };
                if replay {
                    match recorded {
                        Some(r) if *r == event => {}
                        Some(r) => {
                            return Err(RunError::Nondeterminism(format!(
                            "issue différente pour l'élément : enregistré {r:?}, rejoué {event:?}"
                        )))
                        }
                        None => return Ok(Done::NotStarted),
                    }
                } else {
                    self.shared.journal.record(event.clone()).await?;
                }
                Ok(Done::Outcome(event))
            })
            .buffer_unordered(self.shared.concurrency)
            .collect()
            .await;

        let mut counts = ItemCounts {
            total: count,
            ..ItemCounts::default()
        };
        let mut not_started = 0;
        let mut fatal = None;
        for r in results {
            match r {
                Ok(Done::Outcome(RunEvent::ItemSucceeded { .. })) => counts.succeeded += 1,
                Ok(Done::Outcome(RunEvent::ItemFailed { .. })) => counts.failed += 1,
                Ok(Done::Outcome(_)) => counts.ignored += 1,
                Ok(Done::NotStarted) => not_started += 1,
                Err(e) => {
                    // Keep the most serious error: losing the lease beats anything else.
                    if fatal.is_none() || e == RunError::LeaseLost {
                        fatal = Some(e);
                    }
                }
            }
        }
        {
            let mut t = self.shared.totals.lock().unwrap_or_else(|e| e.into_inner());
            t.total += counts.total;
            t.succeeded += counts.succeeded;
            t.failed += counts.failed;
            t.ignored += counts.ignored;
        }
        if let Some(e) = fatal {
            return Err(e);
        }
        if let Some(e) = self.stop_reason() {
            return Err(e);
        }
        if let Some(until) = self.parked() {
            return Err(RunError::Parked { until });
        }
        if not_started > 0 {
            if replay {
                return Err(RunError::HistoryExhausted);
            }
            if self.cancel_requested() {
                return Err(RunError::Cancelled);
            }
        }
        Ok(counts)
    }
}
