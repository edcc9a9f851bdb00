//! What operators ask of the store: is it reachable, are the migrations this binary knows
//! applied, how far behind the projections are, what the run queue holds, and each EBP
//! subscription's calls today. Read-only queries for `/ready` and `/metrics`.

use super::db::{Db, DbResult, Val};

/// The migrations of this binary against those recorded in the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationState {
    /// Known to this binary, not applied (the database is older: start once to migrate).
    pub missing: Vec<i64>,
    /// Applied, unknown to this binary (the database was migrated by a newer version).
    pub unknown: Vec<i64>,
}

/// How far the slowest projection is behind the event log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectorLag {
    /// Events past the slowest checkpoint (capped at [`LAG_COUNT_CAP`]).
    pub events: i64,
    /// Age in seconds of the oldest event not yet projected (0 when none).
    pub seconds: i64,
}

/// Lag counts stop here: past it the answer ("very late") does not change, and counting
/// further would make a scrape scan the log.
pub const LAG_COUNT_CAP: i64 = 1_000_000;

/// One group of the run queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGroup {
    /// Account of the runs.
    pub account: String,
    /// `due` (ready and due now), `waiting` (parked until a retry), `leased` (running).
    pub state: &'static str,
    /// Runs in the group.
    pub runs: i64,
    /// Oldest due time of the group, ms UTC.
    pub oldest_due_ms: Option<i64>,
}

/// One EBP subscription's gate row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateUsage {
    /// The subscription's id (SHA-256 prefix of its key, never the key).
    pub subscription: String,
    /// UTC day the count belongs to (`YYYY-MM-DD`).
    pub day: String,
    /// Calls counted on that day.
    pub calls: i64,
}

impl Db {
    /// A trivial round trip: the database answers.
    pub async fn ping(&self) -> DbResult<()> {
        self.fetch("SELECT 1", &[]).await.map(|_| ())
    }

    /// Whether the database file still exists (SQLite; always true on PostgreSQL). A
    /// removed or unmounted file keeps answering through open handles while nothing written
    /// will survive: readiness must say so.
    pub async fn file_present(&self) -> DbResult<bool> {
        match self {
            Db::Pg(_) => Ok(true),
            Db::Sqlite(_) => {
                let rows = self.fetch("PRAGMA database_list", &[]).await?;
                Ok(rows
                    .iter()
                    .filter(|r| r.get(1).and_then(Val::as_str) == Some("main"))
                    .filter_map(|r| r.get(2).and_then(Val::as_str))
                    .all(|path| path.is_empty() || std::path::Path::new(path).exists()))
            }
        }
    }

    /// This binary's migrations against the database's `_sqlx_migrations`.
    pub async fn migration_state(&self) -> DbResult<MigrationState> {
        let known: Vec<i64> = match self {
            Db::Pg(_) => sqlx::migrate!("../migrations/postgres")
                .iter()
                .map(|m| m.version)
                .collect(),
            Db::Sqlite(_) => sqlx::migrate!("../migrations/sqlite")
                .iter()
                .map(|m| m.version)
                .collect(),
        };
        let applied: Vec<i64> = self
            .fetch(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
                &[],
            )
            .await?
            .iter()
            .filter_map(|r| r.first().and_then(Val::as_i64))
            .collect();
        Ok(MigrationState {
            missing: known
                .iter()
                .copied()
                .filter(|v| !applied.contains(v))
                .collect(),
            unknown: applied
                .iter()
                .copied()
                .filter(|v| !known.contains(v))
                .collect(),
        })
    }

    /// Lag of the slowest of the `checkpoints` (projection names) behind the event log.
    pub async fn projector_lag(&self, checkpoints: &[&str]) -> DbResult<ProjectorLag> {
        let mut worst = ProjectorLag::default();
        for name in checkpoints {
            // PostgreSQL orders the feed by (tx_id, position): an event is projected when
            // its pair is at or below the checkpoint's. SQLite commits in position order.
            let (count_sql, age_sql) = match self {
                Db::Pg(_) => (
                    "SELECT COUNT(*) FROM (SELECT 1 FROM events e, projection_checkpoints c \
                     WHERE c.name = $1 AND (e.tx_id::text::bigint, e.position) > (c.tx_id, c.position) \
                     LIMIT $2) t",
                    "SELECT COALESCE(EXTRACT(EPOCH FROM now() - MIN(e.recorded_at))::bigint, 0) \
                     FROM events e, projection_checkpoints c \
                     WHERE c.name = $1 AND (e.tx_id::text::bigint, e.position) > (c.tx_id, c.position)",
                ),
                Db::Sqlite(_) => (
                    "SELECT COUNT(*) FROM (SELECT 1 FROM events e, projection_checkpoints c \
                     WHERE c.name = $1 AND e.position > c.position LIMIT $2) t",
                    "SELECT COALESCE(CAST((julianday('now') - julianday(MIN(e.recorded_at))) * 86400 AS INTEGER), 0) \
                     FROM events e, projection_checkpoints c \
                     WHERE c.name = $1 AND e.position > c.position",
                ),
            };
            let count = self
                .fetch(count_sql, &[Val::text(*name), Val::int(LAG_COUNT_CAP)])
                .await?;
            let events = count
                .first()
                .and_then(|r| r.first())
                .and_then(Val::as_i64)
                .unwrap_or(0);
            let seconds = if events > 0 {
                self.fetch(age_sql, &[Val::text(*name)])
                    .await?
                    .first()
                    .and_then(|r| r.first())
                    .and_then(Val::as_i64)
                    .unwrap_or(0)
                    .max(0)
            } else {
                0
            };
            worst.events = worst.events.max(events);
            worst.seconds = worst.seconds.max(seconds);
        }
        Ok(worst)
    }

    /// The active runs of the queue by account and state, at `now_ms`.
    pub async fn queue_groups(&self, now_ms: i64) -> DbResult<Vec<QueueGroup>> {
        let rows = self
            .fetch(
                "SELECT account_id, CASE WHEN state = 'leased' THEN 'leased' \
                 WHEN due_at <= $1 THEN 'due' ELSE 'waiting' END AS s, \
                 COUNT(*), MIN(due_at) FROM run_queue WHERE state <> 'done' \
                 GROUP BY account_id, s ORDER BY account_id, s",
                &[Val::int(now_ms)],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let state = match r.get(1).and_then(Val::as_str)? {
                    "leased" => "leased",
                    "due" => "due",
                    _ => "waiting",
                };
                Some(QueueGroup {
                    account: r.first().and_then(Val::as_str)?.to_string(),
                    state,
                    runs: r.get(2).and_then(Val::as_i64).unwrap_or(0),
                    oldest_due_ms: r.get(3).and_then(Val::as_i64),
                })
            })
            .collect())
    }

    /// Every EBP subscription's gate row.
    pub async fn gate_usage(&self) -> DbResult<Vec<GateUsage>> {
        let rows = self
            .fetch(
                "SELECT subscription, day, calls_today FROM erp_call_gate ORDER BY subscription",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(GateUsage {
                    subscription: r.first().and_then(Val::as_str)?.to_string(),
                    day: r.get(1).and_then(Val::as_str)?.to_string(),
                    calls: r.get(2).and_then(Val::as_i64).unwrap_or(0),
                })
            })
            .collect())
    }
}

impl Db {
    /// A consistent copy of a SQLite store into the new file `to` (`VACUUM INTO`: taken
    /// online, in one read transaction, readers and the writer go on). `Ok(false)` on
    /// PostgreSQL, whose backups are `pg_dump`'s job.
    pub async fn backup_sqlite_to(&self, to: &std::path::Path) -> DbResult<bool> {
        match self {
            Db::Pg(_) => Ok(false),
            Db::Sqlite(_) => {
                let path = to.to_string_lossy().to_string();
                self.execute("VACUUM INTO $1", &[Val::text(path)]).await?;
                Ok(true)
            }
        }
    }
}
