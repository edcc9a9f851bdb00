//! Schedules on PostgreSQL or SQLite: commands append `Schedule` events and update the
//! operational `schedule_state` row in one transaction; the scheduler's tick claims due
//! rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL), decides with the domain, and — in the
//! same transaction — records `TriggerFired` / `TriggerSkipped`, queues the run and moves
//! `next_due_at`. A trigger therefore fires once, whatever the number of schedulers.

use super::chain::{self, ChainRow};
use super::codec::RAW_COLUMNS;
use super::db::{Db, DbKind, Tx, Val};
use super::runs::from_ms;
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use passerelle_domain::scheduling::{Schedule, ScheduleCommand, ScheduleEvent, ScheduleRefusal};
use passerelle_domain::{AccountId, Actor, EventMetadata, RunEvent, RunId, Trigger};
use std::collections::HashMap;

/// Failures of schedule commands.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleStoreError {
    /// Refused by the domain: show to the user.
    #[error(transparent)]
    Refused(#[from] ScheduleRefusal),
    /// Someone else changed the schedule at the same time: retry.
    #[error("planification modifiée en même temps, réessayez (concurrent change)")]
    Conflict,
    /// Database failure.
    #[error("base de données : {0}")]
    Db(#[from] sqlx::Error),
    /// Stored state unreadable.
    #[error("état de planification illisible : {0}")]
    Corrupt(String),
}

/// What a tick did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TickReport {
    /// (schedule id, queued run, missed triggers before it).
    pub fired: Vec<(String, RunId, u32)>,
    /// (schedule id, run still active).
    pub skipped: Vec<(String, RunId)>,
}

/// The schedule store.
#[derive(Debug, Clone)]
pub struct SqlScheduleStore {
    db: Db,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn meta(account: &str, actor: Actor, correlation: &str, now: DateTime<Utc>) -> String {
    let m = EventMetadata {
        account_id: account.to_string(),
        actor,
        correlation_id: correlation.to_string(),
        causation_id: None,
        timestamp: now,
    };
    serde_json::to_string(&m.to_map()).unwrap_or_else(|_| "{}".into())
}

#[allow(clippy::too_many_arguments)]
async fn insert_event(
    tx: &mut Tx,
    links: &mut Vec<ChainRow>,
    account: &str,
    aggregate_type: &str,
    id: &str,
    sequence: i64,
    event_type: String,
    version: String,
    payload: String,
    meta: String,
) -> Result<(), sqlx::Error> {
    links.push(ChainRow::new(
        account,
        aggregate_type,
        id,
        sequence,
        &event_type,
        &version,
        &payload,
        &meta,
    ));
    tx.execute(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ($1, $2, $3, $4, $5, $6::json, $7::json)",
        &[
            Val::text(aggregate_type),
            Val::text(id),
            Val::int(sequence),
            Val::text(event_type),
            Val::text(version),
            Val::text(payload),
            Val::text(meta),
        ],
    )
    .await?;
    Ok(())
}

fn is_unique(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl SqlScheduleStore {
    /// A store over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Runs a command on schedule `id` of `account` (creating it for `Create`).
    pub async fn execute(
        &self,
        account: &AccountId,
        id: &str,
        cmd: ScheduleCommand,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<ScheduleEvent>, ScheduleStoreError> {
        let mut tx = self.db.begin().await?;
        let rows = tx
            .fetch(
                "SELECT state_json, last_sequence FROM schedule_state WHERE schedule_id = $1 AND account_id = $2",
                &[Val::text(id), Val::text(account.as_str())],
            )
            .await?;
        let (mut state, last_seq) = match rows.first() {
            Some(r) => (
                serde_json::from_str::<Schedule>(r[0].as_str().unwrap_or(""))
                    .map_err(|e| ScheduleStoreError::Corrupt(e.to_string()))?,
                r[1].as_i64().unwrap_or(0),
            ),
            None => (Schedule::default(), 0),
        };
        if rows.is_empty() && !matches!(cmd, ScheduleCommand::Create { .. }) {
            let _ = tx.rollback().await;
            return Err(ScheduleRefusal::Unknown.into());
        }
        let events = state.decide(cmd)?;
        if events.is_empty() {
            let _ = tx.rollback().await;
            return Ok(events);
        }
        let m = meta(account.as_str(), actor, id, now);
        let mut links = Vec::new();
        for (i, e) in events.iter().enumerate() {
            state.apply_event(e);
            let payload =
                serde_json::to_string(e).map_err(|e| ScheduleStoreError::Corrupt(e.to_string()))?;
            if let Err(err) = insert_event(
                &mut tx,
                &mut links,
                account.as_str(),
                "Schedule",
                id,
                last_seq + 1 + i as i64,
                e.event_type(),
                e.event_version(),
                payload,
                m.clone(),
            )
            .await
            {
                let _ = tx.rollback().await;
                return Err(if is_unique(&err) {
                    ScheduleStoreError::Conflict
                } else {
                    err.into()
                });
            }
        }
        let json = serde_json::to_string(&state)
            .map_err(|e| ScheduleStoreError::Corrupt(e.to_string()))?;
        let (profile, action) = (
            state
                .profile_id
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            state
                .action
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
        );
        tx.execute(
            "INSERT INTO schedule_state (schedule_id, account_id, profile_id, action, next_due_at, last_sequence, state_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (schedule_id) DO UPDATE SET next_due_at = excluded.next_due_at, \
               last_sequence = excluded.last_sequence, state_json = excluded.state_json",
            &[
                Val::text(id),
                Val::text(account.as_str()),
                Val::text(profile),
                Val::text(action),
                Val::Int(state.next_due().map(ms)),
                Val::int(last_seq + events.len() as i64),
                Val::text(json),
            ],
        )
        .await?;
        chain::link(&mut tx, &links).await?;
        tx.commit().await?;
        Ok(events)
    }

    /// Claims up to `batch` due schedules and fires or skips each, in one transaction.
    /// Call until it returns an empty report.
    pub async fn tick(
        &self,
        now: DateTime<Utc>,
        batch: i64,
    ) -> Result<TickReport, ScheduleStoreError> {
        let lock = match self.db.kind() {
            DbKind::Postgres => "FOR UPDATE SKIP LOCKED",
            DbKind::Sqlite => "",
        };
        let mut tx = self.db.begin().await?;
        if self.db.kind() == DbKind::Sqlite {
            // Take SQLite's write lock first, so two processes never decide on one row.
            tx.execute(
                "UPDATE schedule_state SET next_due_at = next_due_at WHERE schedule_id = ''",
                &[],
            )
            .await?;
        }
        let rows = tx
            .fetch(
                &format!(
                    "SELECT schedule_id, account_id, state_json, last_sequence FROM schedule_state \
                     WHERE next_due_at IS NOT NULL AND next_due_at <= $1 ORDER BY next_due_at LIMIT $2 {lock}"
                ),
                &[Val::int(ms(now)), Val::int(batch)],
            )
            .await?;
        let mut report = TickReport::default();
        let mut links = Vec::new();
        for r in &rows {
            let id = r[0].as_str().unwrap_or("").to_string();
            let account = r[1].as_str().unwrap_or("").to_string();
            let mut state: Schedule = serde_json::from_str(r[2].as_str().unwrap_or(""))
                .map_err(|e| ScheduleStoreError::Corrupt(format!("{id}: {e}")))?;
            let last_seq = r[3].as_i64().unwrap_or(0);
            let (Some(profile), Some(action)) = (state.profile_id.clone(), state.action) else {
                continue;
            };
            let active = tx
                .fetch(
                    "SELECT run_id FROM run_queue WHERE account_id = $1 AND profile_id = $2 AND action = $3 AND state <> 'done'",
                    &[Val::text(&account), Val::text(profile.as_str()), Val::text(action.as_str())],
                )
                .await?
                .first()
                .and_then(|r| r[0].as_str())
                .and_then(|s| s.parse::<RunId>().ok());
            let new_run = RunId::from_uuid(uuid::Uuid::now_v7());
            let events = state.decide(ScheduleCommand::Tick {
                now,
                new_run,
                active_run: active,
            })?;
            let m = meta(&account, Actor::Scheduler, &id, now);
            for (i, e) in events.iter().enumerate() {
                state.apply_event(e);
                let payload = serde_json::to_string(e)
                    .map_err(|e| ScheduleStoreError::Corrupt(e.to_string()))?;
                insert_event(
                    &mut tx,
                    &mut links,
                    &account,
                    "Schedule",
                    &id,
                    last_seq + 1 + i as i64,
                    e.event_type(),
                    e.event_version(),
                    payload,
                    m.clone(),
                )
                .await?;
                match e {
                    ScheduleEvent::TriggerFired { run_id, missed, .. } => {
                        let rid = run_id.to_string();
                        tx.execute(
                            "INSERT INTO run_queue (run_id, account_id, profile_id, action, state, due_at, lease_epoch, created_at) \
                             VALUES ($1, $2, $3, $4, 'ready', $5, 0, $5)",
                            &[Val::text(&rid), Val::text(&account), Val::text(profile.as_str()), Val::text(action.as_str()), Val::int(ms(now))],
                        )
                        .await?;
                        let req = RunEvent::RunRequested {
                            profile_id: profile.clone(),
                            action,
                            trigger: Trigger::Scheduled,
                            input: serde_json::json!({}),
                        };
                        let payload = serde_json::to_string(&req)
                            .map_err(|e| ScheduleStoreError::Corrupt(e.to_string()))?;
                        let run_meta = {
                            let mut md: HashMap<String, String> =
                                serde_json::from_str(&m).unwrap_or_default();
                            md.insert("correlation_id".into(), rid.clone());
                            md.insert("causation_id".into(), format!("schedule:{id}"));
                            serde_json::to_string(&md).unwrap_or_default()
                        };
                        insert_event(
                            &mut tx,
                            &mut links,
                            &account,
                            "SyncRun",
                            &rid,
                            1,
                            req.event_type(),
                            req.event_version(),
                            payload,
                            run_meta,
                        )
                        .await?;
                        report.fired.push((id.clone(), *run_id, *missed));
                    }
                    ScheduleEvent::TriggerSkipped { running_run, .. } => {
                        report.skipped.push((id.clone(), *running_run))
                    }
                    _ => {}
                }
            }
            let json = serde_json::to_string(&state)
                .map_err(|e| ScheduleStoreError::Corrupt(e.to_string()))?;
            tx.execute(
                "UPDATE schedule_state SET next_due_at = $2, last_sequence = $3, state_json = $4 WHERE schedule_id = $1",
                &[Val::text(&id), Val::Int(state.next_due().map(ms)), Val::int(last_seq + events.len() as i64), Val::text(json)],
            )
            .await?;
        }
        // The audit chain is linked last, just before the commit.
        chain::link(&mut tx, &links).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// The earliest next trigger, to sleep until then.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let rows = self
            .db
            .fetch("SELECT MIN(next_due_at) FROM schedule_state", &[])
            .await?;
        Ok(rows.first().and_then(|r| r[0].as_i64()).map(from_ms))
    }

    /// Every event of one schedule (audit), as stored JSON.
    pub async fn history(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
        let rows = self
            .db
            .fetch(
                &format!("SELECT {RAW_COLUMNS} FROM events WHERE aggregate_type = 'Schedule' AND aggregate_id = $1 \
                          AND EXISTS (SELECT 1 FROM schedule_state WHERE schedule_id = $1 AND account_id = $2) ORDER BY sequence"),
                &[Val::text(id), Val::text(account.as_str())],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r[2].as_i64().unwrap_or(0),
                    r[3].as_str().unwrap_or("").to_string(),
                    r[5].as_str().unwrap_or("").to_string(),
                )
            })
            .collect())
    }
}
