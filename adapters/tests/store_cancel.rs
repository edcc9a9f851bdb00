//! Cancellation safety of the store layer: a future dropped while it opens a transaction
//! must never leave a pooled connection inside that transaction.
//!
//! This is the root cause of the PostgreSQL flakes of issue 16 (`relation "rebuild_…" does
//! not exist`, `canceling statement due to lock timeout`, runs that stall): sqlx 0.8.6
//! raises a connection's transaction depth only *after* the `BEGIN` round trip, so a
//! `begin()` dropped in that window queues no `ROLLBACK`, and the pool hands the connection,
//! still inside the server-side transaction, to the next borrower (sqlx issues #4385,
//! #4393). Every later statement on it then runs in that transaction: DDL invisible to the
//! other connections, row locks held until some later transaction on it commits.
//!
//! PostgreSQL: `PASSERELLE_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`).

#![allow(clippy::unwrap_used, missing_docs)]

use passerelle_adapters::store::{Db, Val};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A fresh PostgreSQL database (dropped by the test script, named `pt_*`).
async fn fresh_pg() -> String {
    let base = std::env::var("PASSERELLE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("pt_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    format!("{base}/{name}")
}

/// Polls `fut` exactly once.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

/// The state of backend `pid` as the server sees it.
async fn backend_state(observer: &sqlx::PgPool, pid: i32) -> Option<String> {
    sqlx::query_scalar("SELECT state FROM pg_stat_activity WHERE pid = $1")
        .bind(pid)
        .fetch_optional(observer)
        .await
        .unwrap()
        .flatten()
}

/// Drops a `Db::begin()` future at the worst moment: the server has run `BEGIN` (it shows
/// the session `idle in transaction`) but the future has not read the answer. Returns false
/// when the begin completed before the window could be caught (the caller tries again).
async fn cancel_begin_in_flight(db: &Db, observer: &sqlx::PgPool, pid: i32) -> bool {
    let mut fut = Box::pin(db.begin());
    // A poll only moves the future as far as it can without waiting; between polls it does
    // not read the socket, so once the server shows the transaction open, the answer to
    // BEGIN is still unread and dropping the future cancels it exactly there.
    for _ in 0..1000 {
        if let Poll::Ready(tx) = poll_once(&mut fut) {
            tx.unwrap().rollback().await.unwrap();
            return false;
        }
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline {
            if backend_state(observer, pid).await.as_deref() == Some("idle in transaction") {
                drop(fut);
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    panic!("the begin future neither finished nor reached the server");
}

/// PostgreSQL, deterministic: a `begin()` cancelled after the server ran `BEGIN` but before
/// its answer was read. The pool has one connection, so the next statement gets that very
/// connection; the table it creates must be visible to another session at once (it is not
/// when the connection came back inside the abandoned transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_begin_leaves_no_transaction_open_postgres() {
    let url = fresh_pg().await;
    let db = Db::connect(&url).await.unwrap();
    db.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let db = Db::Pg(pool);
    let observer = sqlx::PgPool::connect(&url).await.unwrap();
    let pid = db.fetch("SELECT pg_backend_pid()", &[]).await.unwrap()[0][0]
        .as_i64()
        .unwrap() as i32;

    let mut caught = 0;
    for attempt in 0..200 {
        if !cancel_begin_in_flight(&db, &observer, pid).await {
            continue;
        }
        caught += 1;
        let table = format!("probe_{attempt}");
        db.execute_script(&format!("CREATE TABLE {table} (id INT)"))
            .await
            .unwrap();
        let seen: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(&table)
            .fetch_one(&observer)
            .await
            .unwrap();
        assert_eq!(
            seen.as_deref(),
            Some(table.as_str()),
            "a table created after a cancelled begin is invisible to other sessions: the \
             pooled connection came back inside the abandoned transaction"
        );
        if caught == 3 {
            break;
        }
    }
    assert!(caught > 0, "the cancellation window was never caught");
}

/// SQLite: the same sequence (begin polled once, then dropped) leaves the single pooled
/// connection free: the next write commits and another connection reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_begin_leaves_no_transaction_open_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    Db::connect(&url).await.unwrap().close().await;
    let opts = SqliteConnectOptions::from_str(&url).unwrap();
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts.clone())
        .await
        .unwrap();
    let db = Db::Sqlite(pool);
    let other = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap();
    for attempt in 0..5 {
        let mut fut = Box::pin(db.begin());
        let _ = poll_once(&mut fut);
        drop(fut);
        let table = format!("probe_{attempt}");
        db.execute_script(&format!("CREATE TABLE {table} (id INT)"))
            .await
            .unwrap();
        db.execute(&format!("INSERT INTO {table} VALUES ($1)"), &[Val::int(7)])
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&other)
            .await
            .unwrap();
        assert_eq!(n, 1, "a write after a cancelled begin is not visible");
    }
}
