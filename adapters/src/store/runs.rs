//! `SqlRunStore`: the engine's run store on PostgreSQL or SQLite.
//!
//! Fencing: every append is conditional on the run's queue row still showing this worker's
//! lease owner, epoch and an unexpired lease, atomically with the event INSERT. A worker whose lease
//! was reclaimed finds no row and gets `LeaseLost`; the (aggregate, sequence) primary key
//! catches any remaining race. Heartbeats (and parks, releases, ends) renew or drop the lease.

use super::chain::{self, ChainRow};
use super::codec::{decode_run_event, encode_event, raw_from_row, RAW_COLUMNS};
use super::db::{Db, DbKind, Tx, Val};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use passerelle_domain::{AccountId, Actor, EventMetadata, RunEvent, RunId, RunStatus};
use passerelle_workflows::engine::{
    AppendAck, CancelOutcome, Claim, EnqueueOutcome, Fence, NewEvent, NewRun, QueueChange,
    RecordedEvent, RunStore, StoreError,
};
use std::time::Duration;

/// The run store over a [`Db`].
#[derive(Debug, Clone)]
pub struct SqlRunStore {
    db: Db,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Milliseconds since the epoch back to a UTC instant.
pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn is_unique(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

const INSERT_EVENT: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ";

impl SqlRunStore {
    /// A store over an open database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn insert_events(
        tx: &mut Tx,
        run_id: &str,
        first_sequence: i64,
        events: &[NewEvent],
    ) -> Result<(), sqlx::Error> {
        // One multi-row INSERT per append: one round trip whatever the batch size. Chunked
        // to stay under SQLite's parameter limit. The events join their account's audit
        // chain last, just before the caller commits.
        let mut links = Vec::with_capacity(events.len());
        for (chunk_no, chunk) in events.chunks(500).enumerate() {
            let mut sql = String::from(INSERT_EVENT);
            let mut args = Vec::with_capacity(chunk.len() * 7);
            for (i, ev) in chunk.iter().enumerate() {
                let (et, ver, payload, meta) = encode_event(&ev.event, &ev.metadata);
                let b = i * 7;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}::json, ${}::json)",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                ));
                let sequence = first_sequence + (chunk_no * 500 + i) as i64;
                links.push(ChainRow::new(
                    &ev.metadata.account_id,
                    "SyncRun",
                    run_id,
                    sequence,
                    &et,
                    &ver,
                    &payload,
                    &meta,
                ));
                args.extend([
                    Val::text("SyncRun"),
                    Val::text(run_id),
                    Val::int(sequence),
                    Val::text(et),
                    Val::text(ver),
                    Val::text(payload),
                    Val::text(meta),
                ]);
            }
            tx.execute(&sql, &args).await?;
        }
        chain::link(tx, &links).await
    }

    async fn load(&self, run_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {RAW_COLUMNS}, 0::bigint, position FROM events WHERE aggregate_type = 'SyncRun' AND aggregate_id = $1 ORDER BY sequence"
        );
        let rows = self
            .db
            .fetch(&sql, &[Val::text(run_id)])
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| decode_run_event(&raw_from_row(r)))
            .collect()
    }

    /// The run's events after `after_sequence`, step results left out (they can be large:
    /// whole pages of orders): what the live console needs to print new log lines without
    /// re-reading the run each time. Scoped to the account like `load_run`.
    pub async fn load_log_after(
        &self,
        account: &AccountId,
        run: RunId,
        after_sequence: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let run_id = run.to_string();
        let sql = format!(
            "SELECT {RAW_COLUMNS}, 0::bigint, position FROM events e WHERE aggregate_type = 'SyncRun' AND aggregate_id = $1 \
             AND sequence > $2 AND event_type <> 'StepCompleted' \
             AND EXISTS (SELECT 1 FROM run_queue q WHERE q.run_id = $1 AND q.account_id = $3) ORDER BY sequence"
        );
        let rows = self
            .db
            .fetch(
                &sql,
                &[
                    Val::text(&run_id),
                    Val::int(after_sequence),
                    Val::text(account.as_str()),
                ],
            )
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| decode_run_event(&raw_from_row(r)))
            .collect()
    }

    /// The run's `RunFinished` event, if it ended (empty otherwise). Scoped to the account.
    pub async fn load_end(
        &self,
        account: &AccountId,
        run: RunId,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let run_id = run.to_string();
        let sql = format!(
            "SELECT {RAW_COLUMNS}, 0::bigint, position FROM events e WHERE aggregate_type = 'SyncRun' AND aggregate_id = $1 \
             AND event_type = 'RunFinished' \
             AND EXISTS (SELECT 1 FROM run_queue q WHERE q.run_id = $1 AND q.account_id = $2)"
        );
        let rows = self
            .db
            .fetch(&sql, &[Val::text(&run_id), Val::text(account.as_str())])
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| decode_run_event(&raw_from_row(r)))
            .collect()
    }

    /// The hot path of the engine: one INSERT and the audit chain links in one transaction. The INSERT only
    /// happens if the fence still holds an unexpired lease (checked in the same statement;
    /// on PostgreSQL the queue row is locked `FOR SHARE`, so a concurrent claim — which
    /// skips locked rows — cannot slip in between the check and the insert). The lease is
    /// renewed by the heartbeat, not here, which keeps a journaled step at one write.
    async fn append_fenced(
        &self,
        fence: &Fence,
        first_sequence: i64,
        events: &[NewEvent],
        now: DateTime<Utc>,
    ) -> Result<AppendAck, StoreError> {
        let run_id = fence.run_id.to_string();
        let mut values = String::new();
        let mut args = vec![
            Val::text(&run_id),
            Val::text(&fence.worker),
            Val::int(fence.epoch),
            Val::int(ms(now)),
        ];
        let mut links = Vec::with_capacity(events.len());
        for (i, ev) in events.iter().enumerate() {
            let (et, ver, payload, meta) = encode_event(&ev.event, &ev.metadata);
            links.push(ChainRow::new(
                &ev.metadata.account_id,
                "SyncRun",
                &run_id,
                first_sequence + i as i64,
                &et,
                &ver,
                &payload,
                &meta,
            ));
            let b = 4 + i * 5;
            if i > 0 {
                values.push(',');
            }
            values.push_str(&format!(
                "(${}::bigint, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            ));
            args.extend([
                Val::int(first_sequence + i as i64),
                Val::text(et),
                Val::text(ver),
                Val::text(payload),
                Val::text(meta),
            ]);
        }
        let (lock, cancel) = match self.db.kind() {
            DbKind::Postgres => (
                "FOR SHARE",
                "(SELECT cancel_requested_by FROM run_queue WHERE run_id = $1)",
            ),
            // One writer at a time: the statement is atomic on its own.
            DbKind::Sqlite => ("", "NULL"),
        };
        let sql = format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             SELECT 'SyncRun', $1, v.column1, v.column2, v.column3, v.column4::json, v.column5::json \
             FROM (VALUES {values}) AS v \
             WHERE EXISTS (SELECT 1 FROM run_queue WHERE run_id = $1 AND lease_owner = $2 AND lease_epoch = $3 \
                           AND state = 'leased' AND lease_until >= $4 {lock}) \
             RETURNING {cancel}"
        );
        // The INSERT and the chain links commit together (a write transaction: on SQLite
        // it takes the write lock first, so the chain head read cannot go stale).
        let mut tx = self.db.begin_write().await.map_err(db_err)?;
        let rows = match tx.fetch(&sql, &args).await {
            Ok(rows) => rows,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(if is_unique(&e) {
                    StoreError::LeaseLost(fence.run_id)
                } else {
                    db_err(e)
                });
            }
        };
        if rows.len() != events.len() {
            let _ = tx.rollback().await;
            return Err(StoreError::LeaseLost(fence.run_id));
        }
        if let Err(e) = chain::link(&mut tx, &links).await {
            let _ = tx.rollback().await;
            return Err(db_err(e));
        }
        tx.commit().await.map_err(db_err)?;
        let mut cancel_requested_by = rows.first().and_then(|r| r[0].as_str()).map(str::to_string);
        // Cancel is honoured between items, so only appends that end an item (or start the
        // run) need the flag; plain step results skip the extra read.
        let at_item_boundary = events.iter().any(|e| {
            matches!(
                e.event,
                RunEvent::ItemSucceeded { .. }
                    | RunEvent::ItemFailed { .. }
                    | RunEvent::ItemIgnored { .. }
                    | RunEvent::RunStarted { .. }
                    | RunEvent::ItemsDiscovered { .. }
            )
        });
        if self.db.kind() == DbKind::Sqlite && at_item_boundary {
            // SQLite's RETURNING cannot read another table: ask separately (in-process, cheap).
            let r = self
                .db
                .fetch(
                    "SELECT cancel_requested_by FROM run_queue WHERE run_id = $1",
                    &[Val::text(&run_id)],
                )
                .await
                .map_err(db_err)?;
            cancel_requested_by = r.first().and_then(|r| r[0].as_str()).map(str::to_string);
        }
        Ok(AppendAck {
            cancel_requested_by,
        })
    }

    /// Appends (possibly nothing) and changes the queue row in one transaction; renews the
    /// lease when the run stays leased. Used for heartbeats, parks, releases and ends.
    async fn append_with_queue_change(
        &self,
        fence: &Fence,
        first_sequence: i64,
        events: &[NewEvent],
        change: QueueChange,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<AppendAck, StoreError> {
        let run_id = fence.run_id.to_string();
        let (state, due) = match change {
            QueueChange::Keep => ("leased", None),
            QueueChange::Park { due_at } => ("ready", Some(ms(due_at))),
            QueueChange::Release => ("ready", Some(ms(now))),
            QueueChange::Finish => ("done", None),
        };
        let mut tx = self.db.begin().await.map_err(db_err)?;
        let rows = tx
            .fetch(
                "UPDATE run_queue SET state = $5, due_at = COALESCE($6, due_at), \
                   lease_owner = CASE WHEN $5 = 'leased' THEN lease_owner ELSE NULL END, \
                   lease_until = CASE WHEN $5 = 'leased' THEN $7 ELSE NULL END \
                 WHERE run_id = $1 AND lease_owner = $2 AND lease_epoch = $3 AND state = 'leased' AND lease_until >= $4 \
                 RETURNING cancel_requested_by",
                &[
                    Val::text(&run_id),
                    Val::text(&fence.worker),
                    Val::int(fence.epoch),
                    Val::int(ms(now)),
                    Val::text(state),
                    Val::Int(due),
                    Val::int(ms(now) + lease.as_millis() as i64),
                ],
            )
            .await
            .map_err(db_err)?;
        let Some(row) = rows.first() else {
            let _ = tx.rollback().await;
            return Err(StoreError::LeaseLost(fence.run_id));
        };
        let ack = AppendAck {
            cancel_requested_by: row[0].as_str().map(str::to_string),
        };
        if !events.is_empty() {
            if let Err(e) = Self::insert_events(&mut tx, &run_id, first_sequence, events).await {
                let _ = tx.rollback().await;
                return Err(if is_unique(&e) {
                    StoreError::LeaseLost(fence.run_id)
                } else {
                    db_err(e)
                });
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(ack)
    }
}

#[async_trait]
impl RunStore for SqlRunStore {
    async fn enqueue(&self, run: NewRun) -> Result<EnqueueOutcome, StoreError> {
        let run_id = run.run_id.to_string();
        let mut tx = self.db.begin().await.map_err(db_err)?;
        let inserted = tx
            .execute(
                "INSERT INTO run_queue (run_id, account_id, profile_id, action, state, due_at, lease_epoch, created_at) \
                 VALUES ($1, $2, $3, $4, 'ready', $5, 0, $5) \
                 ON CONFLICT (account_id, profile_id, action) WHERE state <> 'done' DO NOTHING",
                &[
                    Val::text(&run_id),
                    Val::text(run.account_id.as_str()),
                    Val::text(run.profile_id.as_str()),
                    Val::text(run.action.as_str()),
                    Val::int(ms(run.requested_at)),
                ],
            )
            .await
            .map_err(db_err)?;
        if inserted == 0 {
            let rows = tx
                .fetch(
                    "SELECT run_id FROM run_queue WHERE account_id = $1 AND profile_id = $2 AND action = $3 AND state <> 'done'",
                    &[
                        Val::text(run.account_id.as_str()),
                        Val::text(run.profile_id.as_str()),
                        Val::text(run.action.as_str()),
                    ],
                )
                .await
                .map_err(db_err)?;
            tx.rollback().await.map_err(db_err)?;
            let active = rows
                .first()
                .and_then(|r| r[0].as_str())
                .and_then(|s| s.parse().ok())
                .unwrap_or(run.run_id);
            return Ok(EnqueueOutcome::AlreadyActive(active));
        }
        let event = RunEvent::RunRequested {
            profile_id: run.profile_id.clone(),
            action: run.action,
            trigger: run.trigger,
            input: run.input.clone(),
        };
        let meta = EventMetadata {
            account_id: run.account_id.to_string(),
            actor: run.actor.clone(),
            correlation_id: run_id.clone(),
            causation_id: None,
            timestamp: run.requested_at,
        };
        Self::insert_events(
            &mut tx,
            &run_id,
            1,
            &[NewEvent {
                event,
                metadata: meta,
            }],
        )
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(EnqueueOutcome::Enqueued(run.run_id))
    }

    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<Claim>, StoreError> {
        let until = ms(now) + lease.as_millis() as i64;
        let lock = match self.db.kind() {
            DbKind::Postgres => "FOR UPDATE SKIP LOCKED",
            // SQLite serialises writers: the UPDATE below is atomic on its own.
            DbKind::Sqlite => "",
        };
        // `state <> 'done'` lets both databases use the partial index on due_at, so a claim
        // stays cheap however many finished runs the queue keeps. A leased run's due_at is
        // never later than its lease expiry, so `due_at <= now` holds for reclaimable ones.
        let sql = format!(
            "UPDATE run_queue SET state = 'leased', lease_owner = $1, lease_until = $2, lease_epoch = lease_epoch + 1 \
             WHERE run_id = (SELECT run_id FROM run_queue \
                 WHERE state <> 'done' AND due_at <= $3 \
                   AND (state = 'ready' OR (state = 'leased' AND lease_until < $3)) \
                 ORDER BY due_at, run_id LIMIT 1 {lock}) \
             RETURNING run_id, account_id, lease_epoch, cancel_requested_by"
        );
        let rows = self
            .db
            .fetch(
                &sql,
                &[Val::text(worker), Val::int(until), Val::int(ms(now))],
            )
            .await
            .map_err(db_err)?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let run_id_text = row[0].as_str().unwrap_or("").to_string();
        let run_id: RunId = run_id_text
            .parse()
            .map_err(|_| StoreError::NotFound(run_id_text.clone()))?;
        let account_id = AccountId::parse(row[1].as_str().unwrap_or(""))
            .map_err(|e| StoreError::NotFound(e.to_string()))?;
        let epoch = row[2].as_i64().unwrap_or(0);
        let cancel = row[3].as_str().map(str::to_string);
        let events = self.load(&run_id_text).await?;
        Ok(Some(Claim {
            fence: Fence {
                run_id,
                worker: worker.to_string(),
                epoch,
            },
            account_id,
            events,
            cancel_requested_by: cancel,
        }))
    }

    async fn append(
        &self,
        fence: &Fence,
        first_sequence: i64,
        events: &[NewEvent],
        change: QueueChange,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<AppendAck, StoreError> {
        if change == QueueChange::Keep && !events.is_empty() && events.len() <= 500 {
            return self.append_fenced(fence, first_sequence, events, now).await;
        }
        self.append_with_queue_change(fence, first_sequence, events, change, now, lease)
            .await
    }

    async fn heartbeat(
        &self,
        fence: &Fence,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<AppendAck, StoreError> {
        self.append(fence, 0, &[], QueueChange::Keep, now, lease)
            .await
    }

    async fn request_cancel(
        &self,
        account: &AccountId,
        run: RunId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CancelOutcome, StoreError> {
        let run_id = run.to_string();
        let mut tx = self.db.begin().await.map_err(db_err)?;
        let rows = tx
            .fetch(
                "UPDATE run_queue SET cancel_requested_by = COALESCE(cancel_requested_by, $3) \
                 WHERE run_id = $1 AND account_id = $2 RETURNING state, (lease_until IS NOT NULL AND lease_until >= $4)::int::bigint",
                &[
                    Val::text(&run_id),
                    Val::text(account.as_str()),
                    Val::text(actor.to_text()),
                    Val::int(ms(now)),
                ],
            )
            .await
            .map_err(db_err)?;
        let Some(row) = rows.first() else {
            let _ = tx.rollback().await;
            return Err(StoreError::NotFound(run_id));
        };
        let state = row[0].as_str().unwrap_or("").to_string();
        let leased_live = row[1].as_i64().unwrap_or(0) == 1;
        if state == "done" {
            let _ = tx.rollback().await;
            return Ok(CancelOutcome::AlreadyFinished);
        }
        if state == "leased" && leased_live {
            tx.commit().await.map_err(db_err)?;
            return Ok(CancelOutcome::Requested);
        }
        // Not held by a live worker: stop it here, in the same transaction.
        let seq_rows = tx
            .fetch(
                "SELECT COALESCE(MAX(sequence), 0) FROM events WHERE aggregate_type = 'SyncRun' AND aggregate_id = $1",
                &[Val::text(&run_id)],
            )
            .await
            .map_err(db_err)?;
        let next = seq_rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0) + 1;
        let meta = EventMetadata {
            account_id: account.to_string(),
            actor: actor.clone(),
            correlation_id: run_id.clone(),
            causation_id: None,
            timestamp: now,
        };
        let by = actor.to_text();
        let events = [
            NewEvent {
                event: RunEvent::CancelRequested { by: by.clone() },
                metadata: meta.clone(),
            },
            NewEvent {
                event: RunEvent::RunFinished {
                    status: RunStatus::Stopped,
                    message: format!("Tâche arrêtée à la demande de {by}"),
                },
                metadata: meta,
            },
        ];
        tx.execute(
            "UPDATE run_queue SET state = 'done', lease_owner = NULL, lease_until = NULL, lease_epoch = lease_epoch + 1 WHERE run_id = $1",
            &[Val::text(&run_id)],
        )
        .await
        .map_err(db_err)?;
        Self::insert_events(&mut tx, &run_id, next, &events)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(CancelOutcome::Stopped)
    }

    async fn load_run(
        &self,
        account: &AccountId,
        run: RunId,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let run_id = run.to_string();
        let owner = self
            .db
            .fetch(
                "SELECT run_id FROM run_queue WHERE run_id = $1 AND account_id = $2",
                &[Val::text(&run_id), Val::text(account.as_str())],
            )
            .await
            .map_err(db_err)?;
        if owner.is_empty() {
            return Err(StoreError::NotFound(run_id));
        }
        self.load(&run_id).await
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let rows = self
            .db
            .fetch(
                "SELECT MIN(CASE WHEN state = 'ready' THEN due_at ELSE lease_until END) FROM run_queue WHERE state <> 'done'",
                &[],
            )
            .await
            .map_err(db_err)?;
        Ok(rows.first().and_then(|r| r[0].as_i64()).map(from_ms))
    }
}
