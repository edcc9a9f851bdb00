//! Live progress of runs over Server-Sent Events.
//!
//! Watchers of one run share one poller: it reads the run's new events every 300 ms (only
//! what follows the last sequence it saw), renders the log lines and the counts, and
//! broadcasts them; 500 watchers cost one query per tick, not 500. A watcher subscribes
//! before reading the run's past, then drops broadcast batches it already holds (by
//! sequence), so no line is lost or doubled at the seam. The poller stops when the run ends
//! or nobody watches.

use passerelle_adapters::store::SqlRunStore;
use passerelle_domain::{AccountId, Lang, RunEvent, RunId};
use passerelle_projections::journal::render_log_in;
use passerelle_workflows::engine::RecordedEvent;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Counts shown live.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LiveCounts {
    /// Items announced.
    pub total: u64,
    /// Succeeded.
    pub succeeded: u64,
    /// Failed.
    pub failed: u64,
    /// Ignored.
    pub ignored: u64,
    /// `running`, or the final status once ended.
    pub status: String,
}

impl LiveCounts {
    /// Folds events.
    pub fn fold(&mut self, events: &[RecordedEvent]) {
        for e in events {
            match &e.event {
                RunEvent::ItemsDiscovered { count } => self.total += u64::from(*count),
                RunEvent::ItemSucceeded { .. } => self.succeeded += 1,
                RunEvent::ItemFailed { .. } => self.failed += 1,
                RunEvent::ItemIgnored { .. } => self.ignored += 1,
                RunEvent::RunStarted { .. } => self.status = "running".into(),
                RunEvent::RunFinished { status, .. } => self.status = status.as_str().into(),
                _ => {}
            }
        }
        if self.status.is_empty() {
            self.status = "queued".into();
        }
    }
    /// The run ended.
    pub fn ended(&self) -> bool {
        !matches!(self.status.as_str(), "queued" | "running" | "waiting" | "")
    }
}

/// One broadcast batch: the events after `after` up to `last`, rendered.
#[derive(Debug, Clone)]
pub struct LiveBatch {
    /// Sequence before the batch.
    pub after: i64,
    /// Last sequence of the batch.
    pub last: i64,
    /// Log lines (French and English).
    pub lines: Arc<(Vec<String>, Vec<String>)>,
    /// Counts after the batch.
    pub counts: LiveCounts,
}

type Key = (String, RunId);

/// The fan-out of live runs.
#[derive(Clone, Default)]
pub struct LiveHub {
    senders: Arc<Mutex<HashMap<Key, broadcast::Sender<LiveBatch>>>>,
}

impl LiveHub {
    /// Subscribes to `run`, starting its poller if none runs.
    pub fn subscribe(
        &self,
        store: Arc<SqlRunStore>,
        account: &AccountId,
        run: RunId,
    ) -> broadcast::Receiver<LiveBatch> {
        let key = (account.as_str().to_string(), run);
        let mut map = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.get(&key) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(256);
        map.insert(key.clone(), tx.clone());
        let hub = self.clone();
        let account = account.clone();
        tokio::spawn(async move {
            let mut last = 0i64;
            let mut counts = LiveCounts::default();
            loop {
                if tx.receiver_count() == 0 {
                    break;
                }
                if let Ok(events) = store.load_log_after(&account, run, last).await {
                    if let Some(end) = events.last().map(|e| e.sequence) {
                        counts.fold(&events);
                        let lines = (
                            render_log_in(&events, Lang::Fr),
                            render_log_in(&events, Lang::En),
                        );
                        let _ = tx.send(LiveBatch {
                            after: last,
                            last: end,
                            lines: Arc::new(lines),
                            counts: counts.clone(),
                        });
                        last = end;
                    }
                    if counts.ended() {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            // Late subscribers after this point start a new poller.
            hub.senders
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        });
        rx
    }
}
