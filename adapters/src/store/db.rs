//! A thin dialect-neutral layer over sqlx for the two databases we support.
//!
//! SQL is written once in PostgreSQL syntax (`$1` parameters, `::type` casts); for SQLite
//! the parameters become `?1` (same index) and the casts are dropped. Values are only
//! integers and text (JSON travels as text), which keeps both drivers' type systems out
//! of the callers. Queries that truly differ (claiming with `SKIP LOCKED`, the global
//! order's high-water mark) ask [`Db::kind`].

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

/// A bound value or a read column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Val {
    /// A 64-bit integer (or NULL).
    Int(Option<i64>),
    /// Text (or NULL).
    Text(Option<String>),
}

impl Val {
    /// A non-null integer.
    pub fn int(v: i64) -> Val {
        Val::Int(Some(v))
    }
    /// A non-null text.
    pub fn text(v: impl Into<String>) -> Val {
        Val::Text(Some(v.into()))
    }
    /// The integer, if this is a non-null integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(v) => *v,
            Val::Text(Some(s)) => s.parse().ok(),
            Val::Text(None) => None,
        }
    }
    /// The text, if this is non-null text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Text(Some(s)) => Some(s),
            _ => None,
        }
    }
    /// Text form for diffs and printing (`NULL` for nulls).
    pub fn display(&self) -> String {
        match self {
            Val::Int(Some(v)) => v.to_string(),
            Val::Text(Some(s)) => s.clone(),
            _ => "NULL".into(),
        }
    }
}

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// A connection pool to one of the supported databases.
#[derive(Debug, Clone)]
pub enum Db {
    /// PostgreSQL pool.
    Pg(sqlx::PgPool),
    /// SQLite pool.
    Sqlite(sqlx::SqlitePool),
}

/// An open transaction.
pub enum Tx {
    /// PostgreSQL transaction.
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    /// SQLite transaction.
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// Rewrites PostgreSQL-style SQL for SQLite: `$n` → `?n`, `::type` casts removed.
pub(crate) fn to_sqlite(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c == '$' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            out.push('?');
            i += 1;
            continue;
        }
        if c == ':' && i + 1 < b.len() && b[i + 1] == b':' {
            i += 2;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Val::Int(v) => q.bind(*v),
                Val::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}

fn read_row<R: sqlx::Row>(row: &R) -> Result<Vec<Val>, sqlx::Error>
where
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i32>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    use sqlx::{Column, TypeInfo};
    let mut out = Vec::with_capacity(row.columns().len());
    for (i, col) in row.columns().iter().enumerate() {
        // Decided from the column's type, not by trial decoding (which allocates an error
        // per miss and dominated projection rebuilds).
        let ty = col.type_info().name().to_ascii_uppercase();
        let v = if ty == "INT4" || ty == "INT2" {
            Val::Int(row.try_get::<Option<i32>, _>(i)?.map(i64::from))
        } else if ty.contains("INT") {
            Val::Int(row.try_get::<Option<i64>, _>(i)?)
        } else if ty.contains("TEXT") || ty.contains("CHAR") || ty == "JSON" || ty == "JSONB" {
            Val::Text(row.try_get::<Option<String>, _>(i)?)
        } else {
            // SQLite expression columns may report no type (`NULL`): try the value.
            match row.try_get::<Option<i64>, _>(i) {
                Ok(v) => Val::Int(v),
                Err(_) => Val::Text(row.try_get::<Option<String>, _>(i)?),
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// How to open the store (from the binary's settings: `database.pg_pool`,
/// `database.sqlite_synchronous`).
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// PostgreSQL connections per process.
    pub pg_pool: u32,
    /// SQLite `synchronous=FULL` instead of `NORMAL`.
    pub sqlite_full_sync: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            pg_pool: 16,
            sqlite_full_sync: false,
        }
    }
}

/// The database error type (sqlx's, which keeps the unique-violation classification).
pub type DbError = sqlx::Error;

/// Errors of this layer keep sqlx's classification (unique violations matter).
pub type DbResult<T> = Result<T, DbError>;

impl Db {
    /// Connects to `url` with the default [`DbOptions`] (see [`Db::connect_with`]).
    pub async fn connect(url: &str) -> DbResult<Db> {
        Self::connect_with(url, &DbOptions::default()).await
    }

    /// Connects to `url` (`postgres://…` or `sqlite://…`), creating a SQLite file on first
    /// use, and runs the migrations.
    ///
    /// SQLite runs in WAL mode with `synchronous=NORMAL` by default: a committed step
    /// survives a crash of the process (the case the engine must handle), and may be lost
    /// only on power failure, where every external step is idempotent anyway (rule 3).
    /// `sqlite_full_sync` trades ~15× commit throughput for power-loss durability.
    pub async fn connect_with(url: &str, options: &DbOptions) -> DbResult<Db> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // A lock is never waited for without end, and a session left inside a
            // transaction (a task dropped between BEGIN and COMMIT) is closed by the server,
            // releasing its locks: both turn a stuck run into a transient, retried error.
            let opts = PgConnectOptions::from_str(url)?.options([
                ("lock_timeout", "30s"),
                ("idle_in_transaction_session_timeout", "60s"),
            ]);
            // The pool bounds each process's connections: the test suite runs many
            // processes and pools against one server.
            let pool = PgPoolOptions::new()
                .max_connections(options.pg_pool.max(1))
                .idle_timeout(Duration::from_secs(30))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            sqlx::migrate!("../migrations/postgres").run(&pool).await?;
            Db::Pg(pool)
        } else if url.starts_with("sqlite:") {
            let sync = if options.sqlite_full_sync {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            };
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(sync)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await?;
            sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
            Db::Sqlite(pool)
        } else {
            return Err(sqlx::Error::Configuration(
                format!(
                    "URL de base non reconnue (postgres:// ou sqlite://) : {}",
                    redact(url)
                )
                .into(),
            ));
        };
        Ok(db)
    }

    /// Which database this is.
    pub fn kind(&self) -> DbKind {
        match self {
            Db::Pg(_) => DbKind::Postgres,
            Db::Sqlite(_) => DbKind::Sqlite,
        }
    }

    /// Begins a transaction. Cancel-safe: a caller dropped while this waits never leaves a
    /// pooled connection inside the transaction (see [`pg_begin`]).
    pub async fn begin(&self) -> DbResult<Tx> {
        Ok(match self {
            Db::Pg(p) => Tx::Pg(pg_begin(p).await?),
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
        })
    }

    /// Begins a transaction that will write: on SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so it waits for other writers (busy timeout) instead of failing
    /// with `SQLITE_BUSY_SNAPSHOT` when its first read upgrades to a write. Cancel-safe like
    /// [`Db::begin`].
    pub async fn begin_write(&self) -> DbResult<Tx> {
        Ok(match self {
            Db::Pg(p) => Tx::Pg(pg_begin(p).await?),
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
        })
    }

    /// Runs a statement; returns rows affected.
    pub async fn execute(&self, sql: &str, args: &[Val]) -> DbResult<u64> {
        Ok(match self {
            Db::Pg(p) => bind_all!(sqlx::query(sql), args)
                .execute(p)
                .await?
                .rows_affected(),
            Db::Sqlite(p) => {
                let s = to_sqlite(sql);
                bind_all!(sqlx::query(&s), args)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
        })
    }

    /// Runs several statements separated by `;` with no parameters (DDL).
    pub async fn execute_script(&self, sql: &str) -> DbResult<()> {
        match self {
            Db::Pg(p) => {
                sqlx::raw_sql(sql).execute(p).await?;
            }
            Db::Sqlite(p) => {
                sqlx::raw_sql(&to_sqlite(sql)).execute(p).await?;
            }
        }
        Ok(())
    }

    /// Fetches all rows.
    pub async fn fetch(&self, sql: &str, args: &[Val]) -> DbResult<Vec<Vec<Val>>> {
        match self {
            Db::Pg(p) => bind_all!(sqlx::query(sql), args)
                .fetch_all(p)
                .await?
                .iter()
                .map(read_row)
                .collect(),
            Db::Sqlite(p) => {
                let s = to_sqlite(sql);
                bind_all!(sqlx::query(&s), args)
                    .fetch_all(p)
                    .await?
                    .iter()
                    .map(read_row)
                    .collect()
            }
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            Db::Pg(p) => p.close().await,
            Db::Sqlite(p) => p.close().await,
        }
    }
}

/// Opens a PostgreSQL transaction on a task of its own, so that dropping the caller cannot
/// cancel it halfway.
///
/// sqlx 0.8.6 raises a connection's transaction depth only after the `BEGIN` round trip
/// (`PgTransactionManager::begin`), and its drop guards roll back only when that depth is
/// above zero; `return_to_pool` pings the connection but does not look at the server's
/// transaction status. A `begin()` dropped while `BEGIN` is in flight (an aborted task, a
/// `select!`, a timeout, an HTTP handler whose client went away) therefore returns the
/// connection to the pool *inside* a transaction nobody will end: the next borrowers'
/// statements run in it, their DDL stays invisible to other sessions (`relation
/// "rebuild_…" does not exist`) and their row locks are held (`canceling statement due to
/// lock timeout` on other connections). Reported upstream as sqlx issues #4385 and #4393
/// (fixed by pull request #4394, not in a 0.8 release). Here the `BEGIN` always runs to its
/// end: if the caller is gone, the task's output — a live `Transaction` — is dropped, which
/// queues a `ROLLBACK` that the pool flushes before reusing the connection. Test:
/// `adapters/tests/store_cancel.rs`.
async fn pg_begin(pool: &sqlx::PgPool) -> DbResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    let pool = pool.clone();
    match tokio::spawn(async move { pool.begin().await }).await {
        Ok(tx) => tx,
        Err(e) => Err(sqlx::Error::Protocol(format!(
            "ouverture de transaction interrompue : {e}"
        ))),
    }
}

impl Tx {
    /// Which database this transaction is on.
    pub fn kind(&self) -> DbKind {
        match self {
            Tx::Pg(_) => DbKind::Postgres,
            Tx::Sqlite(_) => DbKind::Sqlite,
        }
    }

    /// Runs a statement; returns rows affected.
    pub async fn execute(&mut self, sql: &str, args: &[Val]) -> DbResult<u64> {
        Ok(match self {
            Tx::Pg(t) => bind_all!(sqlx::query(sql), args)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Tx::Sqlite(t) => {
                let s = to_sqlite(sql);
                bind_all!(sqlx::query(&s), args)
                    .execute(&mut **t)
                    .await?
                    .rows_affected()
            }
        })
    }

    /// Fetches all rows.
    pub async fn fetch(&mut self, sql: &str, args: &[Val]) -> DbResult<Vec<Vec<Val>>> {
        match self {
            Tx::Pg(t) => bind_all!(sqlx::query(sql), args)
                .fetch_all(&mut **t)
                .await?
                .iter()
                .map(read_row)
                .collect(),
            Tx::Sqlite(t) => {
                let s = to_sqlite(sql);
                bind_all!(sqlx::query(&s), args)
                    .fetch_all(&mut **t)
                    .await?
                    .iter()
                    .map(read_row)
                    .collect()
            }
        }
    }

    /// Commits.
    pub async fn commit(self) -> DbResult<()> {
        match self {
            Tx::Pg(t) => t.commit().await,
            Tx::Sqlite(t) => t.commit().await,
        }
    }

    /// Rolls back.
    pub async fn rollback(self) -> DbResult<()> {
        match self {
            Tx::Pg(t) => t.rollback().await,
            Tx::Sqlite(t) => t.rollback().await,
        }
    }
}

/// Hides a password in a database URL before it is printed.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{}:***{}", &url[..s], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_rewrite_keeps_indices_and_drops_casts() {
        assert_eq!(
            to_sqlite("SELECT $2::text, x::bigint FROM t WHERE a = $10"),
            "SELECT ?2, x FROM t WHERE a = ?10"
        );
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
