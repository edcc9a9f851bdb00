//! The run's single writer, with group commit.
//!
//! Items of a run may execute concurrently, but only the lease holder appends to the run's
//! stream (DESIGN §4 rule 4). Each caller pushes its event into a shared buffer and waits
//! until it is durable; whoever takes the flush lock first writes *everything* buffered so
//! far in one transaction, so N concurrent items cost about one commit instead of N, and no
//! result is acted upon before it is durable (rule 1).

use super::error::RunError;
use super::store::{AppendAck, Fence, NewEvent, QueueChange, RunStore, StoreError};
use crate::ports::Clock;
use passerelle_domain::{Actor, EventMetadata, RunEvent};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Live journals write to the store; replay journals keep events in memory.
pub(crate) enum Sink {
    Live {
        store: Arc<dyn RunStore>,
        fence: Fence,
        lease: Duration,
    },
    Replay,
}

struct State {
    next_sequence: i64,
    pending: Vec<NewEvent>,
    issued: u64,
    durable: u64,
    broken: Option<RunError>,
    cancel_requested_by: Option<String>,
}

pub(crate) struct Journal {
    sink: Sink,
    clock: Arc<dyn Clock>,
    account_id: String,
    run_id: String,
    worker: String,
    state: Mutex<State>,
    flush: tokio::sync::Mutex<()>,
}

impl Journal {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        sink: Sink,
        clock: Arc<dyn Clock>,
        account_id: String,
        run_id: String,
        worker: String,
        next_sequence: i64,
        cancel_requested_by: Option<String>,
    ) -> Self {
        Self {
            sink,
            clock,
            account_id,
            run_id,
            worker,
            state: Mutex::new(State {
                next_sequence,
                pending: Vec::new(),
                issued: 0,
                durable: 0,
                broken: None,
                cancel_requested_by,
            }),
            flush: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state itself stays consistent
        // because every mutation below is a single assignment.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_replay(&self) -> bool {
        matches!(self.sink, Sink::Replay)
    }

    pub(crate) fn cancel_requested_by(&self) -> Option<String> {
        self.lock().cancel_requested_by.clone()
    }

    pub(crate) fn broken(&self) -> Option<RunError> {
        self.lock().broken.clone()
    }

    pub(crate) fn mark_broken(&self, e: RunError) {
        let mut st = self.lock();
        if st.broken.is_none() {
            st.broken = Some(e);
        }
    }

    pub(crate) fn note_ack(&self, ack: &AppendAck) {
        if let Some(by) = &ack.cancel_requested_by {
            self.lock().cancel_requested_by = Some(by.clone());
        }
    }

    fn envelope(&self, event: RunEvent) -> NewEvent {
        NewEvent {
            event,
            metadata: EventMetadata {
                account_id: self.account_id.clone(),
                actor: Actor::Worker(self.worker.clone()),
                correlation_id: self.run_id.clone(),
                causation_id: None,
                timestamp: self.clock.now(),
            },
        }
    }

    /// Appends one event and returns once it is durable.
    pub(crate) async fn record(&self, event: RunEvent) -> Result<(), RunError> {
        let ticket = {
            let mut st = self.lock();
            if let Some(e) = &st.broken {
                return Err(e.clone());
            }
            let env = self.envelope(event);
            st.pending.push(env);
            st.issued += 1;
            st.issued
        };
        loop {
            {
                let st = self.lock();
                if st.durable >= ticket {
                    return Ok(());
                }
                if let Some(e) = &st.broken {
                    return Err(e.clone());
                }
            }
            let _leader = self.flush.lock().await;
            if self.lock().durable >= ticket {
                return Ok(());
            }
            self.flush_pending(QueueChange::Keep).await?;
        }
    }

    /// Appends the last events of this claim together with a queue change (park, release,
    /// finish), in one transaction.
    pub(crate) async fn close(
        &self,
        events: Vec<RunEvent>,
        change: QueueChange,
    ) -> Result<(), RunError> {
        let _leader = self.flush.lock().await;
        {
            let mut st = self.lock();
            if let Some(e) = &st.broken {
                return Err(e.clone());
            }
            for event in events {
                let env = self.envelope(event);
                st.pending.push(env);
                st.issued += 1;
            }
        }
        self.flush_pending(change).await
    }

    /// Writes everything pending; caller holds the flush lock.
    async fn flush_pending(&self, change: QueueChange) -> Result<(), RunError> {
        let (batch, first, hi) = {
            let mut st = self.lock();
            (std::mem::take(&mut st.pending), st.next_sequence, st.issued)
        };
        let n = batch.len() as i64;
        match &self.sink {
            Sink::Replay => {}
            Sink::Live {
                store,
                fence,
                lease,
            } => {
                if batch.is_empty() && change == QueueChange::Keep {
                    return Ok(());
                }
                let res = store
                    .append(fence, first, &batch, change, self.clock.now(), *lease)
                    .await;
                match res {
                    Ok(ack) => self.note_ack(&ack),
                    Err(e) => {
                        let err = match e {
                            StoreError::LeaseLost(_) => RunError::LeaseLost,
                            other => RunError::Store(other.to_string()),
                        };
                        // Whatever was pending is not durable: every waiter gets the error,
                        // and the run is resumed elsewhere from what is durable.
                        self.mark_broken(err.clone());
                        return Err(err);
                    }
                }
            }
        }
        let mut st = self.lock();
        st.next_sequence = first + n;
        st.durable = hi;
        Ok(())
    }
}
