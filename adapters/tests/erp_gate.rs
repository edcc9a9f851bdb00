//! The EBP call gate and token store on both databases, each test on a fresh migrated
//! database (a temp SQLite file, or a PostgreSQL database named `pt_<uuid>` which the test
//! script drops). Several gate or store instances with their own pools stand for several
//! workers or processes sharing the database.
//!
//! PostgreSQL: `PASSERELLE_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`).

#![allow(clippy::unwrap_used, missing_docs)]

use chrono::{DateTime, TimeZone, Utc};
use futures::future::BoxFuture;
use passerelle_adapters::ebp::gate::{CallGate, GateError, Refreshed, TokenStore};
use passerelle_adapters::secrets::SecretBox;
use passerelle_adapters::store::{Db, SqlCallGate, SqlTokenStore, Val};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Fresh databases
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Kind {
    Sqlite,
    Pg,
}

struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

async fn fresh(kind: Kind) -> TestDb {
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            TestDb {
                url: format!("sqlite://{}/t.db", dir.path().display()),
                _dir: Some(dir),
            }
        }
        Kind::Pg => {
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
            TestDb {
                url: format!("{base}/{name}"),
                _dir: None,
            }
        }
    }
}

impl TestDb {
    /// A new pool on the database (one per simulated worker/process).
    async fn connect(&self) -> Db {
        Db::connect(&self.url).await.unwrap()
    }
}

/// Tests of this file run one at a time: the pacing test measures wake-up times, which
/// twelve tests and PostgreSQL sharing two cores would blur (each takes well under a second).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs a test body on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($body:ident) => {
        mod $body {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let _serial = super::SERIAL.lock().await;
                super::$body(super::Kind::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let _serial = super::SERIAL.lock().await;
                super::$body(super::Kind::Pg).await
            }
        }
    };
}

async fn gate_row(db: &Db, subscription: &str) -> (i64, String, i64) {
    let rows = db
        .fetch(
            "SELECT next_slot_at, day, calls_today FROM erp_call_gate WHERE subscription = $1",
            &[Val::text(subscription)],
        )
        .await
        .unwrap();
    let r = &rows[0];
    (
        r[0].as_i64().unwrap(),
        r[1].as_str().unwrap().to_string(),
        r[2].as_i64().unwrap(),
    )
}

// ---------------------------------------------------------------------------
// Call gate
// ---------------------------------------------------------------------------

on_both!(gate_paces_calls_across_two_gate_instances);
async fn gate_paces_calls_across_two_gate_instances(kind: Kind) {
    let tdb = fresh(kind).await;
    let interval = Duration::from_millis(50);
    let db = tdb.connect().await;
    let gates = [
        SqlCallGate::new(db.clone(), interval, 10_000),
        SqlCallGate::new(tdb.connect().await, interval, 10_000),
    ];
    // Create the row and warm both pools, so the measured calls only contend on the gate.
    let first = gates[0].reserve("sub-1").await.unwrap();
    gates[1].reserve("other").await.unwrap();
    tokio::time::sleep(interval).await;

    // Each call records the slot the gate gave it, then waits for it as `acquire` does. The
    // spacing is checked on the slots: wake-up instants measured on a loaded machine (tests
    // share two cores with builds) can be late by any amount, and a late wake-up followed by
    // a punctual one looked like two calls too close (seen: 15 ms for 50).
    let start = Instant::now();
    let slots = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for gate in &gates {
        for _ in 0..5 {
            let gate = gate.clone();
            let slots = slots.clone();
            tasks.push(tokio::spawn(async move {
                let slot = gate.reserve("sub-1").await.unwrap();
                slots.lock().unwrap().push(slot);
                if let Ok(wait) = (slot - chrono::Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Sleeps are never early: the last call cannot have left before nine intervals after
    // the first slot, which is `now` at the earliest — in whole milliseconds (the gate stores
    // milliseconds), so up to a millisecond before `start` (seen: 449.8 ms).
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(448), "{elapsed:?}");

    let mut slots = slots.lock().unwrap().clone();
    slots.sort();
    assert_eq!(slots.len(), 10);
    let gaps: Vec<i64> = slots
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .collect();
    assert!(
        gaps.iter().all(|g| *g >= interval.as_millis() as i64),
        "slots too close (ms): {gaps:?}"
    );
    assert!(slots[0] >= first + chrono::Duration::milliseconds(50));
    // Every call was counted, and each took a slot at least one interval after the last.
    let (next_slot, _, calls) = gate_row(&db, "sub-1").await;
    assert_eq!(calls, 11);
    assert!(next_slot - first.timestamp_millis() >= 11 * 50);
}

on_both!(gate_refuses_once_the_daily_budget_is_spent);
async fn gate_refuses_once_the_daily_budget_is_spent(kind: Kind) {
    let tdb = fresh(kind).await;
    let db = tdb.connect().await;
    let gate = SqlCallGate::new(db.clone(), Duration::from_millis(1), 5);
    for _ in 0..5 {
        gate.acquire("sub-1").await.unwrap();
    }
    let before = gate_row(&db, "sub-1").await;
    let err = gate.acquire("sub-1").await.unwrap_err();
    let GateError::BudgetExhausted {
        used,
        limit,
        resets_at,
    } = err.clone()
    else {
        panic!("expected BudgetExhausted, got {err:?}");
    };
    assert_eq!((used, limit), (5, 5));
    let tomorrow = Utc::now().date_naive().succ_opt().unwrap();
    assert_eq!(resets_at, tomorrow.and_hms_opt(0, 0, 0).unwrap().and_utc());
    let msg = err.to_string();
    assert!(
        msg.starts_with("budget journalier d'appels EBP épuisé (5/5) ; reprise après "),
        "{msg}"
    );
    // The refusal took no slot and counted nothing.
    assert_eq!(gate_row(&db, "sub-1").await, before);
    // Another worker sharing the database is refused too; another subscription is not.
    let other = SqlCallGate::new(tdb.connect().await, Duration::from_millis(1), 5);
    assert!(matches!(
        other.acquire("sub-1").await,
        Err(GateError::BudgetExhausted { used: 5, .. })
    ));
    other.acquire("sub-2").await.unwrap();
}

on_both!(gate_budget_resets_at_the_utc_day_boundary);
async fn gate_budget_resets_at_the_utc_day_boundary(kind: Kind) {
    let tdb = fresh(kind).await;
    let db = tdb.connect().await;
    let now = Arc::new(Mutex::new(
        Utc.with_ymd_and_hms(2024, 9, 9, 23, 59, 59).unwrap(),
    ));
    let clock = now.clone();
    let gate = SqlCallGate::new(db.clone(), Duration::from_millis(10), 2)
        .with_clock(move || *clock.lock().unwrap());
    gate.acquire("sub-1").await.unwrap();
    gate.acquire("sub-1").await.unwrap();
    match gate.acquire("sub-1").await {
        Err(GateError::BudgetExhausted {
            used: 2,
            limit: 2,
            resets_at,
        }) => assert_eq!(
            resets_at,
            Utc.with_ymd_and_hms(2024, 9, 10, 0, 0, 0).unwrap()
        ),
        other => panic!("expected BudgetExhausted, got {other:?}"),
    }
    assert_eq!(gate_row(&db, "sub-1").await.1, "2024-09-09");

    *now.lock().unwrap() = Utc.with_ymd_and_hms(2024, 9, 10, 0, 0, 1).unwrap();
    gate.acquire("sub-1").await.unwrap();
    let (_, day, calls) = gate_row(&db, "sub-1").await;
    assert_eq!((day.as_str(), calls), ("2024-09-10", 1));
    gate.acquire("sub-1").await.unwrap();
    assert!(matches!(
        gate.acquire("sub-1").await,
        Err(GateError::BudgetExhausted { used: 2, .. })
    ));
}

// ---------------------------------------------------------------------------
// Token store
// ---------------------------------------------------------------------------

fn key() -> SecretBox {
    SecretBox::from_key([42; 32])
}

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 9, h, 0, 0).unwrap()
}

/// A refresh call that counts itself, checks the token it is given, waits, then answers.
fn refresher(
    calls: Arc<AtomicU32>,
    expect_refresh_token: &'static str,
    delay: Duration,
    answer: Result<Refreshed, String>,
) -> Box<dyn FnOnce(String) -> BoxFuture<'static, Result<Refreshed, String>> + Send> {
    Box::new(move |refresh_token: String| {
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            assert_eq!(refresh_token, expect_refresh_token);
            tokio::time::sleep(delay).await;
            answer
        })
    })
}

fn new_pair() -> Result<Refreshed, String> {
    Ok(("access-2".into(), "refresh-2".into(), t(11)))
}

on_both!(tokens_are_encrypted_at_rest);
async fn tokens_are_encrypted_at_rest(kind: Kind) {
    let tdb = fresh(kind).await;
    let db = tdb.connect().await;
    let store = SqlTokenStore::new(db.clone(), key());
    assert_eq!(store.current("cx").await.unwrap(), None);
    let stored = store
        .store_initial("cx", "access-SECRET-1", "refresh-SECRET-1", t(10))
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
    assert!(!format!("{stored:?}").contains("SECRET"));

    let rows = db
        .fetch(
            "SELECT access_token_enc, refresh_token_enc FROM erp_tokens WHERE connection = 'cx'",
            &[],
        )
        .await
        .unwrap();
    for col in &rows[0] {
        let raw = col.as_str().unwrap();
        assert!(raw.starts_with("v1:"), "{raw}");
        assert!(!raw.contains("SECRET") && !raw.contains("access") && !raw.contains("refresh"));
    }
    assert_eq!(store.current("cx").await.unwrap(), Some(stored.clone()));

    // A new login replaces the pair and moves the version on.
    let again = store
        .store_initial("cx", "access-SECRET-9", "refresh-SECRET-9", t(12))
        .await
        .unwrap();
    assert_eq!(again.version, 2);
    assert_eq!(store.current("cx").await.unwrap(), Some(again));

    // Under another master key the pair is unreadable, and the error does not leak it.
    let err = SqlTokenStore::new(db, SecretBox::from_key([1; 32]))
        .current("cx")
        .await
        .unwrap_err();
    assert!(
        err.contains("illisibles") && !err.contains("SECRET"),
        "{err}"
    );
}

on_both!(concurrent_refreshes_call_ebp_once);
async fn concurrent_refreshes_call_ebp_once(kind: Kind) {
    let tdb = fresh(kind).await;
    let a = SqlTokenStore::new(tdb.connect().await, key());
    let b = SqlTokenStore::new(tdb.connect().await, key());
    let v1 = a
        .store_initial("cx", "access-1", "refresh-1", t(10))
        .await
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let delay = Duration::from_millis(200);
    let (ra, rb) = tokio::join!(
        a.refresh_with(
            "cx",
            v1.version,
            refresher(calls.clone(), "refresh-1", delay, new_pair())
        ),
        b.refresh_with(
            "cx",
            v1.version,
            refresher(calls.clone(), "refresh-1", delay, new_pair())
        ),
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra, rb);
    assert_eq!(
        (ra.access_token.as_str(), ra.refresh_token.as_str()),
        ("access-2", "refresh-2")
    );
    assert_eq!((ra.expires_at, ra.version), (t(11), 2));
    assert_eq!(b.current("cx").await.unwrap(), Some(ra.clone()));

    // A worker still holding version 1 gets the stored pair without a call.
    let late = a
        .refresh_with(
            "cx",
            1,
            refresher(calls.clone(), "refresh-1", delay, new_pair()),
        )
        .await
        .unwrap();
    assert_eq!(late, ra);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

on_both!(failed_refresh_keeps_the_old_pair);
async fn failed_refresh_keeps_the_old_pair(kind: Kind) {
    let tdb = fresh(kind).await;
    let store = SqlTokenStore::new(tdb.connect().await, key());
    let v1 = store
        .store_initial("cx", "access-1", "refresh-1", t(10))
        .await
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let err = store
        .refresh_with(
            "cx",
            1,
            refresher(
                calls.clone(),
                "refresh-1",
                Duration::ZERO,
                Err("invalid_grant".into()),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(err, "invalid_grant");
    assert_eq!(store.current("cx").await.unwrap(), Some(v1.clone()));

    // A refresh that never answers is abandoned and rolled back as well.
    let slow = store
        .clone()
        .with_refresh_timeout(Duration::from_millis(50));
    let err = slow
        .refresh_with(
            "cx",
            1,
            refresher(
                calls.clone(),
                "refresh-1",
                Duration::from_secs(5),
                new_pair(),
            ),
        )
        .await
        .unwrap_err();
    assert!(err.contains("sans réponse"), "{err}");
    assert_eq!(store.current("cx").await.unwrap(), Some(v1));

    // The lock was released: the next refresh goes through.
    let v2 = store
        .refresh_with(
            "cx",
            1,
            refresher(calls.clone(), "refresh-1", Duration::ZERO, new_pair()),
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // A connection never authorised cannot be refreshed.
    let err = store
        .refresh_with(
            "unknown",
            0,
            refresher(calls.clone(), "x", Duration::ZERO, new_pair()),
        )
        .await
        .unwrap_err();
    assert!(err.contains("jamais autorisée"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
