//! The catch-up projector: checkpoints by global position, written with the rows.

use async_trait::async_trait;
use passerelle_adapters::store::{read_feed, Db, DbKind, GlobalPos, RawEvent, Tx, Val};
use passerelle_workflows::engine::StoreError;

/// Projection failures. `Corrupt` stops the projector at that event: it never advances past
/// an event it cannot read.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// An event cannot be decoded; names the aggregate and sequence.
    #[error("{0}")]
    Corrupt(#[from] StoreError),
    /// Database failure: retry later.
    #[error("base de données : {0}")]
    Db(#[from] sqlx::Error),
}

/// A table owned by a projection.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Table name without prefix.
    pub name: &'static str,
    /// Key columns, for ordered comparison.
    pub key: &'static str,
    /// Columns compared by `replay --verify`.
    pub columns: &'static str,
    /// `CREATE TABLE IF NOT EXISTS {prefix}{name} (...)` body after the name.
    pub ddl: &'static str,
}

/// A projection: `(state tables, events) -> SQL writes`.
#[async_trait]
pub trait Projection: Send + Sync {
    /// Stable name (checkpoint key).
    fn name(&self) -> &'static str;
    /// Only events of this aggregate type are fed to it.
    fn aggregate_type(&self) -> &'static str;
    /// Tables it owns.
    fn tables(&self) -> Vec<TableSpec>;
    /// Applies a batch into tables named `{prefix}{name}`.
    async fn apply_batch(
        &self,
        tx: &mut Tx,
        prefix: &str,
        events: &[RawEvent],
    ) -> Result<(), ProjectionError>;
}

/// Creates a projection's tables under `prefix`.
pub(crate) async fn create_tables(
    db: &Db,
    p: &dyn Projection,
    prefix: &str,
) -> Result<(), sqlx::Error> {
    for t in p.tables() {
        db.execute_script(&format!(
            "CREATE TABLE IF NOT EXISTS {prefix}{} {}",
            t.name, t.ddl
        ))
        .await?;
    }
    Ok(())
}

/// Runs projections over the feed.
pub struct Projector {
    db: Db,
    projections: Vec<Box<dyn Projection>>,
    batch: i64,
}

impl Projector {
    /// A projector for `projections`; creates their live tables if needed.
    pub async fn new(db: Db, projections: Vec<Box<dyn Projection>>) -> Result<Self, sqlx::Error> {
        for p in &projections {
            create_tables(&db, p.as_ref(), "").await?;
        }
        Ok(Self {
            db,
            projections,
            batch: 5000,
        })
    }

    /// The checkpoint of a projection.
    pub async fn checkpoint(&self, name: &str) -> Result<GlobalPos, sqlx::Error> {
        checkpoint(&self.db, name).await
    }

    /// Applies every settled event not yet projected; returns how many were applied.
    ///
    /// Events already committed but still behind the horizon (a transaction of this cluster
    /// that started earlier is in flight) are waited for briefly, up to two seconds, so a
    /// caller reads its own writes; the horizon itself is never relaxed.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let mut total = 0;
        for p in &self.projections {
            let started = std::time::Instant::now();
            loop {
                total += run(&self.db, p.as_ref(), "", p.name(), None, self.batch).await?;
                if !self.unsettled(p.as_ref()).await?
                    || started.elapsed() > std::time::Duration::from_secs(2)
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        Ok(total)
    }

    /// True when visible events lie past the projection's checkpoint (PostgreSQL only: on
    /// SQLite every committed event is settled).
    async fn unsettled(&self, p: &dyn Projection) -> Result<bool, sqlx::Error> {
        if self.db.kind() != DbKind::Postgres {
            return Ok(false);
        }
        let at = checkpoint(&self.db, p.name()).await?;
        let rows = self
            .db
            .fetch(
                "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE (tx_id, position) > ($1::text::xid8, $2) \
                 AND aggregate_type = $3 LIMIT 1) AS x",
                &[
                    Val::text(at.tx_id.to_string()),
                    Val::int(at.position),
                    Val::text(p.aggregate_type()),
                ],
            )
            .await?;
        Ok(rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0) > 0)
    }

    /// The projections.
    pub fn projections(&self) -> &[Box<dyn Projection>] {
        &self.projections
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

pub(crate) async fn checkpoint(db: &Db, name: &str) -> Result<GlobalPos, sqlx::Error> {
    let rows = db
        .fetch(
            "SELECT tx_id, position FROM projection_checkpoints WHERE name = $1",
            &[Val::text(name)],
        )
        .await?;
    Ok(rows
        .first()
        .map(|r| GlobalPos {
            tx_id: r[0].as_i64().unwrap_or(0),
            position: r[1].as_i64().unwrap_or(0),
        })
        .unwrap_or_default())
}

/// Feeds `p` from its checkpoint `ckpt_name` into tables under `prefix`, up to `until`
/// (inclusive) when given. Each batch commits with its checkpoint; a concurrent projector
/// that advanced the checkpoint first makes this batch roll back (no double apply).
pub(crate) async fn run(
    db: &Db,
    p: &dyn Projection,
    prefix: &str,
    ckpt_name: &str,
    until: Option<GlobalPos>,
    batch: i64,
) -> Result<u64, ProjectionError> {
    let mut applied = 0u64;
    db.execute(
        "INSERT INTO projection_checkpoints (name, tx_id, position) VALUES ($1, 0, 0) ON CONFLICT (name) DO NOTHING",
        &[Val::text(ckpt_name)],
    )
    .await?;
    let agg = p.aggregate_type();
    let read = |from: GlobalPos| {
        let db = db.clone();
        tokio::spawn(async move { read_feed(&db, from, batch, Some(agg)).await })
    };
    'restart: loop {
        let mut from = checkpoint(db, ckpt_name).await?;
        let mut pending = read(from);
        loop {
            let mut events = pending.await.map_err(|e| {
                ProjectionError::Db(sqlx::Error::Protocol(format!("lecture interrompue : {e}")))
            })??;
            let full = events.len() as i64 == batch;
            if let Some(u) = until {
                events.retain(|e| {
                    GlobalPos {
                        tx_id: e.tx_id,
                        position: e.position,
                    } <= u
                });
            }
            let Some(last) = events.last() else {
                return Ok(applied);
            };
            let to = GlobalPos {
                tx_id: last.tx_id,
                position: last.position,
            };
            let more = full && until.is_none_or(|u| to < u);
            // Read the next batch while this one is applied: the database serves the read
            // on another connection while this task decodes and writes (two cores busy).
            // Only when there is a next batch; and a read-ahead that turns out useless is
            // detached (its handle dropped), never aborted: the read is a transaction, and
            // cancelling it while it opened returned the connection to the pool inside it.
            let ahead = more.then(|| read(to));
            let mut tx = db.begin().await?;
            let moved = tx
                .execute(
                    "UPDATE projection_checkpoints SET tx_id = $2, position = $3 WHERE name = $1 AND tx_id = $4 AND position = $5",
                    &[
                        Val::text(ckpt_name),
                        Val::int(to.tx_id),
                        Val::int(to.position),
                        Val::int(from.tx_id),
                        Val::int(from.position),
                    ],
                )
                .await?;
            if moved == 0 {
                // Another projector advanced first: start again from its checkpoint.
                tx.rollback().await?;
                drop(ahead);
                continue 'restart;
            }
            if let Err(e) = p.apply_batch(&mut tx, prefix, &events).await {
                let _ = tx.rollback().await;
                drop(ahead);
                return Err(e);
            }
            tx.commit().await?;
            applied += events.len() as u64;
            from = to;
            match ahead {
                Some(next) => pending = next,
                None => return Ok(applied),
            }
        }
    }
}

/// Reads the rows of `table` whose `key` is in `keys`, in one statement whatever their
/// number: the keys travel as one JSON array parameter, so the statement text is constant
/// (prepared once per connection) instead of one placeholder per key.
pub(crate) async fn fetch_by_keys(
    tx: &mut Tx,
    table: &str,
    key: &str,
    columns: &str,
    keys: &[String],
) -> Result<Vec<Vec<Val>>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(keys).unwrap_or_else(|_| "[]".into());
    let sql = match tx.kind() {
        // A join from the key list (a nested loop over the primary key) rather than
        // `IN (subquery)`: the prepared statement's generic plan must not pick a hash join
        // over the whole table, which made every batch scan it.
        DbKind::Postgres => {
            let cols = columns
                .split(", ")
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "SELECT {cols} FROM json_array_elements_text($1::json) AS k(id) JOIN {table} t ON t.{key} = k.id"
            )
        }
        DbKind::Sqlite => {
            format!(
                "SELECT {columns} FROM {table} WHERE {key} IN (SELECT value FROM json_each($1))"
            )
        }
    };
    tx.fetch(&sql, &[Val::text(list)]).await
}

/// Upserts rows given as JSON objects keyed by column name, in one statement with one
/// parameter (`json_populate_recordset` on PostgreSQL, `json_each` on SQLite).
/// `int_columns` are the integer columns (SQLite needs to know to keep their type).
pub(crate) async fn bulk_upsert(
    tx: &mut Tx,
    table: &str,
    key: &str,
    columns: &[&str],
    rows: &[serde_json::Value],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let cols = columns.join(", ");
    let updates = columns
        .iter()
        .filter(|c| **c != key)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = match tx.kind() {
        DbKind::Postgres => format!(
            "INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table}, $1::json) \
             ON CONFLICT ({key}) DO UPDATE SET {updates}"
        ),
        DbKind::Sqlite => {
            let extract = columns
                .iter()
                .map(|c| format!("json_extract(value, '$.{c}')"))
                .collect::<Vec<_>>()
                .join(", ");
            // `WHERE true` lets SQLite parse ON CONFLICT after a SELECT.
            format!(
                "INSERT INTO {table} ({cols}) SELECT {extract} FROM json_each($1) WHERE true \
                 ON CONFLICT ({key}) DO UPDATE SET {updates}"
            )
        }
    };
    let body = serde_json::to_string(rows).unwrap_or_else(|_| "[]".into());
    tx.execute(&sql, &[Val::text(body)]).await?;
    Ok(())
}
