//! The `schedules` projection: per schedule, its timing, paused flag, last trigger, last
//! run and next trigger (computed from the events, so a rebuild gives the same rows).

use crate::projector::{bulk_upsert, fetch_by_keys, Projection, ProjectionError, TableSpec};
use async_trait::async_trait;
use passerelle_adapters::store::{Db, RawEvent, Tx, Val};
use passerelle_domain::scheduling::{Schedule, ScheduleEvent};
use passerelle_workflows::engine::StoreError;
use serde::Serialize;
use std::collections::HashMap;

/// The projection.
pub struct SchedulesProjection;

const COLUMNS: &str = "schedule_id, account_id, profile_id, action, spec_json, time_zone, paused, deleted, last_fired_at, last_run_id, next_due_at, fired, skipped, state_json";

/// One schedule as listed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScheduleRow {
    /// Schedule id.
    pub id: String,
    /// Profile.
    pub profile: String,
    /// Action.
    pub action: String,
    /// Timing (start, trigger, repeat) as stored.
    pub spec: serde_json::Value,
    /// Time zone.
    pub time_zone: String,
    /// Paused.
    pub paused: bool,
    /// Last trigger fired (RFC 3339).
    pub last_run_at: Option<String>,
    /// Last run queued.
    pub last_run_id: Option<String>,
    /// Next trigger (RFC 3339), none when paused.
    pub next_run_at: Option<String>,
    /// Triggers fired so far.
    pub fired: i64,
    /// Triggers skipped because the previous run was still active.
    pub skipped: i64,
    /// The last run is still active.
    pub running: bool,
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn corrupt(raw: &RawEvent, reason: String) -> ProjectionError {
    ProjectionError::Corrupt(StoreError::Corrupt {
        aggregate_type: raw.aggregate_type.clone(),
        aggregate_id: raw.aggregate_id.clone(),
        sequence: raw.sequence,
        reason,
    })
}

#[async_trait]
impl Projection for SchedulesProjection {
    fn name(&self) -> &'static str {
        "schedules"
    }
    fn aggregate_type(&self) -> &'static str {
        "Schedule"
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "schedules_view",
            key: "schedule_id",
            columns: COLUMNS,
            ddl: "(schedule_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, profile_id TEXT NOT NULL, action TEXT NOT NULL, \
                  spec_json TEXT NOT NULL, time_zone TEXT NOT NULL, paused BIGINT NOT NULL, deleted BIGINT NOT NULL, \
                  last_fired_at TEXT, last_run_id TEXT, next_due_at TEXT, fired BIGINT NOT NULL, skipped BIGINT NOT NULL, \
                  state_json TEXT NOT NULL)",
        }]
    }

    async fn apply_batch(
        &self,
        tx: &mut Tx,
        prefix: &str,
        events: &[RawEvent],
    ) -> Result<(), ProjectionError> {
        // (state, account, fired, skipped) per schedule touched by the batch.
        let mut rows: HashMap<String, (Schedule, String, i64, i64)> = HashMap::new();
        let mut ids: Vec<String> = events.iter().map(|e| e.aggregate_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let table = format!("{prefix}schedules_view");
        let existing = fetch_by_keys(
            tx,
            &table,
            "schedule_id",
            "schedule_id, account_id, fired, skipped, state_json",
            &ids,
        )
        .await?;
        for r in existing {
            let state: Schedule =
                serde_json::from_str(r[4].as_str().unwrap_or("")).unwrap_or_default();
            rows.insert(
                r[0].as_str().unwrap_or("").to_string(),
                (
                    state,
                    r[1].as_str().unwrap_or("").to_string(),
                    r[2].as_i64().unwrap_or(0),
                    r[3].as_i64().unwrap_or(0),
                ),
            );
        }
        for raw in events {
            let e: ScheduleEvent = serde_json::from_str(&raw.payload)
                .map_err(|err| corrupt(raw, format!("charge utile illisible : {err}")))?;
            let meta: HashMap<String, String> = serde_json::from_str(&raw.metadata)
                .map_err(|err| corrupt(raw, format!("métadonnées illisibles : {err}")))?;
            let entry = rows.entry(raw.aggregate_id.clone()).or_insert_with(|| {
                (
                    Schedule::default(),
                    meta.get("account_id").cloned().unwrap_or_default(),
                    0,
                    0,
                )
            });
            match &e {
                ScheduleEvent::TriggerFired { .. } => entry.2 += 1,
                ScheduleEvent::TriggerSkipped { .. } => entry.3 += 1,
                _ => {}
            }
            entry.0.apply_event(&e);
        }
        let json: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, (s, account, fired, skipped))| {
                serde_json::json!({
                    "schedule_id": id,
                    "account_id": account,
                    "profile_id": s.profile_id.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                    "action": s.action.map(|a| a.as_str().to_string()).unwrap_or_default(),
                    "spec_json": serde_json::to_string(&s.spec).unwrap_or_default(),
                    "time_zone": s.time_zone,
                    "paused": i64::from(s.paused),
                    "deleted": i64::from(s.deleted),
                    "last_fired_at": s.last_fired_at.map(ts),
                    "last_run_id": s.last_run.map(|r| r.to_string()),
                    "next_due_at": s.next_due().map(ts),
                    "fired": fired,
                    "skipped": skipped,
                    "state_json": serde_json::to_string(s).unwrap_or_default(),
                })
            })
            .collect();
        let cols: Vec<&str> = COLUMNS.split(", ").collect();
        bulk_upsert(tx, &table, "schedule_id", &cols, &json).await?;
        Ok(())
    }
}

/// Live schedules of `account` (deleted ones left out), with the running flag of their
/// last run read from the run queue.
pub async fn list(db: &Db, account: &str) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    let rows = db
        .fetch(
            "SELECT s.schedule_id, s.profile_id, s.action, s.spec_json, s.time_zone, s.paused, s.last_fired_at, s.last_run_id, \
                    s.next_due_at, s.fired, s.skipped, \
                    (SELECT COUNT(*) FROM run_queue q WHERE q.run_id = s.last_run_id AND q.state <> 'done') \
             FROM schedules_view s WHERE s.account_id = $1 AND s.deleted = 0 ORDER BY s.profile_id, s.action, s.schedule_id",
            &[Val::text(account)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let s = |i: usize| r[i].as_str().unwrap_or("").to_string();
            let o = |i: usize| r[i].as_str().map(str::to_string);
            ScheduleRow {
                id: s(0),
                profile: s(1),
                action: s(2),
                spec: serde_json::from_str(r[3].as_str().unwrap_or("null"))
                    .unwrap_or(serde_json::Value::Null),
                time_zone: s(4),
                paused: r[5].as_i64().unwrap_or(0) == 1,
                last_run_at: o(6),
                last_run_id: o(7),
                next_run_at: o(8),
                fired: r[9].as_i64().unwrap_or(0),
                skipped: r[10].as_i64().unwrap_or(0),
                running: r[11].as_i64().unwrap_or(0) > 0,
            }
        })
        .collect())
}
