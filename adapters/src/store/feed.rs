//! The global event feed read by projections, in commit-safe order.
//!
//! PostgreSQL: events are ordered by (tx_id, position) and read only below a horizon: the
//! oldest transaction still in flight in the statement's own snapshot (its `xip` list),
//! leaving out transactions that `pg_stat_activity` shows belong to *other* databases of
//! the cluster (so a busy neighbour does not stall us), or the snapshot's `xmax` when none
//! is in flight. Every transaction that can still commit has an id at or above that
//! horizon, so nothing can later appear behind a checkpoint: a slow writer delays the feed,
//! it is never skipped. An unknown transaction is treated as ours (conservative).
//! SQLite has a single writer, so position order is commit order.

use super::codec::{raw_from_row, RawEvent, FEED_COLUMNS};
use super::db::{Db, DbKind, DbResult, Val};

// Note: ORDER BY names the table's columns explicitly: an unqualified `tx_id` would bind
// to the bigint *output* column and defeat the (tx_id, position) index.

/// A point in the global order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlobalPos {
    /// Writing transaction id (0 on SQLite).
    pub tx_id: i64,
    /// Position.
    pub position: i64,
}

/// Reads up to `limit` events after `after`, in global order, only committed-and-settled
/// ones. `aggregate_type` filters (projections read only what they consume).
pub async fn read_feed(
    db: &Db,
    after: GlobalPos,
    limit: i64,
    aggregate_type: Option<&str>,
) -> DbResult<Vec<RawEvent>> {
    let filter = if aggregate_type.is_some() {
        "AND aggregate_type = $4"
    } else {
        "AND $4::text IS NULL"
    };
    let sql = match db.kind() {
        DbKind::Postgres => format!(
            "WITH snap AS (SELECT pg_current_snapshot() AS s), \
             foreign_xids AS (SELECT backend_xid::text::bigint AS x FROM pg_stat_activity \
                 WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()), \
             horizon AS (SELECT COALESCE( \
                 (SELECT min(x) FROM snap, pg_snapshot_xip(snap.s) AS x \
                   WHERE (x::text::bigint % 4294967296) NOT IN (SELECT x FROM foreign_xids)), \
                 (SELECT pg_snapshot_xmax(s) FROM snap)) AS h) \
             SELECT {FEED_COLUMNS}, events.tx_id::text::bigint AS tx, events.position FROM events, horizon \
             WHERE (events.tx_id, events.position) > ($1::text::xid8, $2) AND events.tx_id < horizon.h {filter} \
             ORDER BY events.tx_id, events.position LIMIT $3"
        ),
        DbKind::Sqlite => format!(
            "SELECT {FEED_COLUMNS}, 0 AS tx, position FROM events \
             WHERE position > $2 AND $1 IS NOT NULL {filter} ORDER BY position LIMIT $3"
        ),
    };
    let tx_arg = match db.kind() {
        DbKind::Postgres => Val::text(after.tx_id.to_string()),
        DbKind::Sqlite => Val::int(after.tx_id),
    };
    let args = [
        tx_arg,
        Val::int(after.position),
        Val::int(limit),
        Val::Text(aggregate_type.map(str::to_string)),
    ];
    let rows = match db.kind() {
        DbKind::Postgres => {
            // The feed must walk the (tx_id, position) index in order: with stale statistics
            // (right after a bulk load) the planner prefers a bitmap scan plus a sort of the
            // whole tail, which made every batch O(log size). Pin the plan for this read.
            let mut tx = db.begin().await?;
            tx.execute("SET LOCAL enable_sort = off", &[]).await?;
            tx.execute("SET LOCAL enable_bitmapscan = off", &[]).await?;
            let rows = tx.fetch(&sql, &args).await?;
            tx.commit().await?;
            rows
        }
        DbKind::Sqlite => db.fetch(&sql, &args).await?,
    };
    Ok(rows.iter().map(|r| raw_from_row(r)).collect())
}
