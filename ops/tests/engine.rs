//! The engine's rules (DESIGN §4) against real SQLite and PostgreSQL, a fresh database each.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle_adapters::store::Val;
use passerelle_domain::{Actor, RunEvent, RunStatus, StepKey};
use passerelle_projections::journal::{self, JournalFilter};
use passerelle_projections::rebuild::rebuild;
use passerelle_workflows::actions::demo_engine::DemoEngine;
use passerelle_workflows::engine::replay::replay_run;
use passerelle_workflows::engine::{
    CancelOutcome, EnqueueOutcome, Execution, NewEvent, QueueChange, RunContext, RunError,
    StoreError, Workflow, WorkflowFuture,
};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

async fn transient_retry_and_permanent_item_failure(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let (clock, c) = manual_clock();
    let backend = Arc::new(MemBackend::with_items(6, Some(3)));
    backend.list_failures.store(1, Ordering::SeqCst);
    backend.effect_failures.store(1, Ordering::SeqCst);
    let acc = account("acme");
    let run = enqueue(app.run_store().as_ref(), &acc, "p1", clock_now(&c)).await;
    let w = worker(&app, "w1", registry(backend.clone()), c.clone(), 1);

    // First claim: the list answers 503 → the run is parked, not retried in memory.
    assert_eq!(
        w.try_execute_next().await.unwrap(),
        Execution::Completed {
            run_id: run,
            status: RunStatus::Waiting
        }
    );
    // Not due yet: nothing to do, and the backend is not called again (no busy loop).
    assert_eq!(w.try_execute_next().await.unwrap(), Execution::Empty);
    assert_eq!(backend.list_calls.load(Ordering::SeqCst), 1);
    // Due: resumes; the first effect answers 503 → parked again.
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(
        w.try_execute_next().await.unwrap(),
        Execution::Completed {
            run_id: run,
            status: RunStatus::Waiting
        }
    );
    assert_eq!(backend.list_calls.load(Ordering::SeqCst), 2);
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(
        w.try_execute_next().await.unwrap(),
        Execution::Completed {
            run_id: run,
            status: RunStatus::Succeeded
        }
    );
    assert_eq!(backend.applied_count(), 5, "one effect per valid item");

    app.projector.catch_up().await.unwrap();
    let r = journal::get(&app.db, "acme", &run.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            r.counts.total,
            r.counts.succeeded,
            r.counts.failed,
            r.counts.ignored
        ),
        (6, 5, 1, 0)
    );
    assert_eq!(r.status, "succeeded");
    let events = app.run_store().load_run(&acc, run).await.unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::ItemFailed { item, reason } => Some((item.key.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "REF-003");
    assert!(failed[0].1.contains("quantité négative"), "{}", failed[0].1);
    // The permanent failure was not retried: one StepFailed for validate, no retry_at.
    let validate_failures = events.iter().filter(|e| matches!(&e.event, RunEvent::StepFailed { key, retry_at: None, transient: false, .. } if key.name == "validate")).count();
    assert_eq!(validate_failures, 1);
}
both!(transient_retry, transient_retry_and_permanent_item_failure);

fn clock_now(c: &Arc<dyn passerelle_workflows::ports::Clock>) -> chrono::DateTime<chrono::Utc> {
    c.now()
}

async fn retry_after_parks_and_survives_restart(kind: Kind) {
    let tdb = fresh(kind).await;
    let acc = account("acme");
    let (clock, c) = manual_clock();
    let backend = Arc::new(MemBackend::with_items(3, None));
    *backend.list_retry_after.lock().unwrap() = Some(120);
    let run = {
        let app = tdb.app().await;
        let run = enqueue(app.run_store().as_ref(), &acc, "p1", c.now()).await;
        let w = worker(&app, "w1", registry(backend.clone()), c.clone(), 2);
        assert_eq!(
            w.try_execute_next().await.unwrap(),
            Execution::Completed {
                run_id: run,
                status: RunStatus::Waiting
            }
        );
        let due = app.run_store().next_due().await.unwrap().unwrap();
        assert!(
            due >= c.now() + chrono::Duration::seconds(120),
            "Retry-After honoured: due {due}"
        );
        clock.advance(chrono::Duration::seconds(60));
        assert_eq!(w.try_execute_next().await.unwrap(), Execution::Empty);
        app.db.close().await;
        run
    };
    // "Process restart": a new connection, store and worker.
    clock.advance(chrono::Duration::seconds(61));
    let app = tdb.app().await;
    let w = worker(&app, "w2", registry(backend.clone()), c.clone(), 2);
    assert_eq!(
        w.try_execute_next().await.unwrap(),
        Execution::Completed {
            run_id: run,
            status: RunStatus::Succeeded
        }
    );
    assert_eq!(backend.list_calls.load(Ordering::SeqCst), 2);
    assert_eq!(backend.applied_count(), 3);
}
both!(retry_after, retry_after_parks_and_survives_restart);

async fn cancel_between_items(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    let backend = Arc::new(MemBackend::with_items(6, None));
    let run = enqueue(app.run_store().as_ref(), &acc, "p1", c.now()).await;
    let store = app.run_store();
    let (acc2, c2) = (acc.clone(), c.clone());
    *backend.on_apply.lock().unwrap() = Some(Arc::new(move |n| {
        let (store, acc, c) = (store.clone(), acc2.clone(), c2.clone());
        Box::pin(async move {
            if n == 2 {
                let out = store
                    .request_cancel(&acc, run, &Actor::User("support".into()), c.now())
                    .await
                    .unwrap();
                assert_eq!(out, CancelOutcome::Requested);
            }
        })
    }));
    let w = worker(&app, "w1", registry(backend.clone()), c.clone(), 1);
    assert_eq!(
        w.try_execute_next().await.unwrap(),
        Execution::Completed {
            run_id: run,
            status: RunStatus::Stopped
        }
    );
    app.projector.catch_up().await.unwrap();
    let r = journal::get(&app.db, "acme", &run.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, "stopped");
    assert_eq!(
        (
            r.counts.total,
            r.counts.succeeded,
            r.counts.failed,
            r.counts.ignored
        ),
        (6, 2, 0, 0)
    );
    assert_eq!(
        backend.applied_count(),
        2,
        "the current item finished, no new item started"
    );
    let events = app.run_store().load_run(&acc, run).await.unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(&e.event, RunEvent::CancelRequested { by } if by == "user:support")));
    // A queued run is stopped at once.
    let run2 = enqueue(app.run_store().as_ref(), &acc, "p2", c.now()).await;
    assert_eq!(
        app.run_store()
            .request_cancel(&acc, run2, &Actor::Cli, c.now())
            .await
            .unwrap(),
        CancelOutcome::Stopped
    );
    assert_eq!(w.try_execute_next().await.unwrap(), Execution::Empty);
    assert_eq!(
        app.run_store()
            .request_cancel(&acc, run2, &Actor::Cli, c.now())
            .await
            .unwrap(),
        CancelOutcome::AlreadyFinished
    );
}
both!(cancel, cancel_between_items);

async fn stale_worker_is_fenced(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (clock, c) = manual_clock();
    let store = app.run_store();
    let run = enqueue(store.as_ref(), &acc, "p1", c.now()).await;
    let lease = Duration::from_secs(10);
    let a = store.claim("A", c.now(), lease).await.unwrap().unwrap();
    assert!(
        store.claim("B", c.now(), lease).await.unwrap().is_none(),
        "a live lease is not reclaimed"
    );
    let note = |t: &str| NewEvent {
        event: RunEvent::Noted { text: t.into() },
        metadata: passerelle_domain::EventMetadata {
            account_id: "acme".into(),
            actor: Actor::Worker("x".into()),
            correlation_id: run.to_string(),
            causation_id: None,
            timestamp: c.now(),
        },
    };
    store
        .append(
            &a.fence,
            2,
            &[note("A1")],
            QueueChange::Keep,
            c.now(),
            lease,
        )
        .await
        .unwrap();
    clock.advance(chrono::Duration::seconds(11));
    let b = store.claim("B", c.now(), lease).await.unwrap().unwrap();
    assert_eq!(b.fence.epoch, a.fence.epoch + 1);
    assert_eq!(b.events.len(), 2);
    let err = store
        .append(
            &a.fence,
            3,
            &[note("A2")],
            QueueChange::Keep,
            c.now(),
            lease,
        )
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::LeaseLost(run));
    // Even a heartbeat from the stale worker is refused.
    assert!(store.heartbeat(&a.fence, c.now(), lease).await.is_err());
    store
        .append(
            &b.fence,
            3,
            &[note("B1")],
            QueueChange::Keep,
            c.now(),
            lease,
        )
        .await
        .unwrap();
    let texts: Vec<String> = store
        .load_run(&acc, run)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            RunEvent::Noted { text } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec!["A1".to_string(), "B1".to_string()]);
    // A sequence already taken is refused as a lost lease, never written twice.
    let err = store
        .append(
            &b.fence,
            3,
            &[note("B-dup")],
            QueueChange::Keep,
            c.now(),
            lease,
        )
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::LeaseLost(run));
}
both!(fencing, stale_worker_is_fenced);

async fn one_active_run_per_profile_action(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    let first = enqueue(app.run_store().as_ref(), &acc, "p1", c.now()).await;
    let again = app
        .run_store()
        .enqueue(passerelle_workflows::engine::NewRun {
            run_id: passerelle_domain::RunId::from_uuid(uuid::Uuid::now_v7()),
            account_id: acc.clone(),
            profile_id: passerelle_domain::ProfileId::parse("p1").unwrap(),
            action: passerelle_domain::SyncAction::DemoEngine,
            trigger: passerelle_domain::Trigger::Scheduled,
            input: serde_json::json!({}),
            actor: Actor::Scheduler,
            requested_at: c.now(),
        })
        .await
        .unwrap();
    assert_eq!(again, EnqueueOutcome::AlreadyActive(first));
    let backend = Arc::new(MemBackend::with_items(2, None));
    let w = worker(&app, "w1", registry(backend), c.clone(), 2);
    w.drain().await.unwrap();
    enqueue(app.run_store().as_ref(), &acc, "p1", c.now()).await;
}
both!(no_overlap, one_active_run_per_profile_action);

/// A demo workflow edited to take another decision: it validates under a new step name.
struct EditedDemo;
impl Workflow for EditedDemo {
    fn run(&self, ctx: RunContext, _input: serde_json::Value) -> WorkflowFuture {
        Box::pin(async move {
            let items: Vec<passerelle_workflows::actions::demo_engine::DemoItem> = ctx
                .step(
                    "read_items",
                    &passerelle_workflows::engine::RetryPolicy::NONE,
                    || async {
                        Err(passerelle_workflows::engine::StepError::permanent(
                            "no IO in replay",
                        ))
                    },
                )
                .await?;
            ctx.for_each_item(
                items,
                |i| (i.reference.clone(), i.reference.clone()),
                |ictx, _r, _i| async move {
                    ictx.step(
                        "check_v2",
                        &passerelle_workflows::engine::RetryPolicy::NONE,
                        || async { Ok(()) },
                    )
                    .await?;
                    Ok(passerelle_domain::ItemOutcome::Succeeded(None))
                },
            )
            .await?;
            Ok(())
        })
    }
}

async fn replay_is_deterministic_and_catches_changes(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (clock, c) = manual_clock();
    let backend = Arc::new(MemBackend::with_items(5, Some(1)));
    backend.effect_failures.store(1, Ordering::SeqCst);
    let run = enqueue(app.run_store().as_ref(), &acc, "p1", c.now()).await;
    let w = worker(&app, "w1", registry(backend.clone()), c.clone(), 3);
    loop {
        w.drain().await.unwrap();
        if !finished(&app.run_store().load_run(&acc, run).await.unwrap()).is_empty() {
            break;
        }
        clock.advance(chrono::Duration::seconds(5));
    }
    let events = app.run_store().load_run(&acc, run).await.unwrap();
    let calls_before = backend.effect_calls.load(Ordering::SeqCst);
    // Replaying with a backend that fails every call proves no IO happens.
    let broken = Arc::new(MemBackend::default());
    broken.list_failures.store(1000, Ordering::SeqCst);
    let report = replay_run(&DemoEngine::new(broken.clone()), &events)
        .await
        .unwrap();
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(broken.list_calls.load(Ordering::SeqCst), 0);
    assert_eq!(backend.effect_calls.load(Ordering::SeqCst), calls_before);
    let reached: HashSet<StepKey> = report.reached.iter().cloned().collect();
    for k in &report.recorded {
        assert!(reached.contains(k), "recorded step {k} reached again");
    }
    let err = replay_run(&EditedDemo, &events).await.unwrap_err();
    assert!(matches!(err, RunError::Nondeterminism(_)), "{err:?}");
    assert_eq!(err.code(), "NONDETERMINISM");
}
both!(replay, replay_is_deterministic_and_catches_changes);

async fn replay_verify_detects_tampering(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (clock, c) = manual_clock();
    let backend = Arc::new(MemBackend::with_items(4, Some(2)));
    backend.effect_failures.store(1, Ordering::SeqCst);
    for p in ["p1", "p2", "p3"] {
        enqueue(app.run_store().as_ref(), &acc, p, c.now()).await;
    }
    let w = worker(&app, "w1", registry(backend.clone()), c.clone(), 2);
    w.drain().await.unwrap();
    clock.advance(chrono::Duration::seconds(5));
    w.drain().await.unwrap();
    let stopped = enqueue(app.run_store().as_ref(), &acc, "p4", c.now()).await;
    app.run_store()
        .request_cancel(&acc, stopped, &Actor::Cli, c.now())
        .await
        .unwrap();
    enqueue(app.run_store().as_ref(), &account("other"), "p1", c.now()).await;

    let report = rebuild(&app.projector, true).await.unwrap();
    assert!(report.diffs.is_empty(), "{:?}", report.diffs);
    // journal 5 runs + last_transfer_runs 5 + last_transfer 3 (the succeeded p1, p2, p3).
    assert_eq!(report.rows, 13);
    app.db
        .execute(
            "UPDATE journal_runs SET succeeded = 99 WHERE profile_id = 'p2'",
            &[],
        )
        .await
        .unwrap();
    let report = rebuild(&app.projector, true).await.unwrap();
    assert_eq!(report.diffs.len(), 1, "{:?}", report.diffs);
    assert!(report.diffs[0].live.as_deref().unwrap().contains("99"));
    // Without --verify the live rows are replaced; a new verify is clean.
    rebuild(&app.projector, false).await.unwrap();
    assert!(rebuild(&app.projector, true)
        .await
        .unwrap()
        .diffs
        .is_empty());
}
both!(replay_verify, replay_verify_detects_tampering);

async fn corrupt_event_stops_the_projector(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    let good = enqueue(app.run_store().as_ref(), &acc, "p1", c.now()).await;
    app.db.execute(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ('SyncRun', 'run-x', 1, 'RunExploded', '1', $1::json, $2::json)",
        &[Val::text(r#"{"RunExploded":{}}"#), Val::text(r#"{"account_id":"acme"}"#)],
    ).await.unwrap();
    let after = enqueue(app.run_store().as_ref(), &acc, "p2", c.now()).await;
    let err = app.projector.catch_up().await.unwrap_err().to_string();
    assert!(
        err.contains("run-x") && err.contains("séquence 1") && err.contains("RunExploded"),
        "{err}"
    );
    // It does not advance past the bad event, and says so again next time.
    let err2 = app.projector.catch_up().await.unwrap_err().to_string();
    assert_eq!(err, err2);
    let runs = journal::list(&app.db, "acme", &JournalFilter::default())
        .await
        .unwrap();
    let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    assert!(
        !ids.contains(&after.to_string()),
        "nothing after the bad event was projected"
    );
    let _ = good;
    // load_run of the broken stream names it as well.
}
both!(corrupt_event, corrupt_event_stops_the_projector);

async fn tenants_are_isolated(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let (_clock, c) = manual_clock();
    let a = account("alpha");
    let b = account("beta");
    let run = enqueue(app.run_store().as_ref(), &a, "p1", c.now()).await;
    app.projector.catch_up().await.unwrap();
    assert_eq!(
        journal::list(&app.db, "alpha", &JournalFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(journal::list(&app.db, "beta", &JournalFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert!(journal::get(&app.db, "beta", &run.to_string())
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        app.run_store().load_run(&b, run).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        app.run_store()
            .request_cancel(&b, run, &Actor::Cli, c.now())
            .await,
        Err(StoreError::NotFound(_))
    ));
    // The same profile and action in another account is not an overlap.
    enqueue(app.run_store().as_ref(), &b, "p1", c.now()).await;
}
both!(tenant_isolation, tenants_are_isolated);

/// Two workers (separate connection pools) drain 200 runs on one PostgreSQL queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_one_postgres_queue() {
    let tdb = fresh(Kind::Pg).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    let mut runs = Vec::new();
    for i in 0..200 {
        runs.push(enqueue(app.run_store().as_ref(), &acc, &format!("p{i}"), c.now()).await);
    }
    let backend = Arc::new(MemBackend::with_items(3, None));
    let mut handles = Vec::new();
    for name in ["w1", "w2"] {
        let app2 = tdb.app().await;
        let w = worker(&app2, name, registry(backend.clone()), c.clone(), 3);
        handles.push(tokio::spawn(async move { w.drain().await.unwrap() }));
    }
    let mut per_worker = Vec::new();
    for h in handles {
        per_worker.push(h.await.unwrap());
    }
    let total: usize = per_worker.iter().map(Vec::len).sum();
    assert_eq!(total, 200, "each run executed by exactly one claim");
    assert!(
        per_worker.iter().all(|v| !v.is_empty()),
        "both workers took runs: {:?}",
        per_worker.iter().map(Vec::len).collect::<Vec<_>>()
    );
    for run in &runs {
        let events = app.run_store().load_run(&acc, *run).await.unwrap();
        assert_eq!(finished(&events).len(), 1, "run {run} finished once");
        let mut keys = HashSet::new();
        for e in &events {
            if let RunEvent::StepCompleted { key, .. } = &e.event {
                assert!(
                    keys.insert(key.clone()),
                    "step {key} appended twice in {run}"
                );
            }
        }
        assert_eq!(keys.len(), 1 + 3 * 2);
    }
    assert_eq!(backend.applied_count(), 600);
    app.projector.catch_up().await.unwrap();
    let rows = journal::list(&app.db, "acme", &JournalFilter::default())
        .await
        .unwrap();
    assert_eq!(rows.len(), 200);
    assert!(rows
        .iter()
        .all(|r| r.status == "succeeded" && r.counts.succeeded == 3));
}

/// A transaction that took its position early but commits late is not skipped by the
/// projector (PostgreSQL commits out of position order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_commit_is_never_skipped() {
    let tdb = fresh(Kind::Pg).await;
    let app = tdb.app().await;
    let pool = match &app.db {
        passerelle_adapters::store::Db::Pg(p) => p.clone(),
        _ => unreachable!(),
    };
    let meta = r#"{"account_id":"acme","actor":"cli","correlation_id":"x","timestamp":"2024-09-09T17:06:45.000Z"}"#;
    let req = |p: &str| {
        format!(
            r#"{{"RunRequested":{{"profile_id":"{p}","action":"demo-engine","trigger":"manual","input":null}}}}"#
        )
    };
    let insert = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ('SyncRun', $1, 1, 'RunRequested', '2', $2::json, $3::json) RETURNING position";
    // T2 takes its transaction id first; T1 then writes (lower position, higher xid)...
    let mut t2 = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *t2)
        .await
        .unwrap();
    let mut t1 = pool.begin().await.unwrap();
    let p1: i64 = sqlx::query_scalar(insert)
        .bind("run-late")
        .bind(req("late"))
        .bind(meta)
        .fetch_one(&mut *t1)
        .await
        .unwrap();
    let p2: i64 = sqlx::query_scalar(insert)
        .bind("run-early")
        .bind(req("early"))
        .bind(meta)
        .fetch_one(&mut *t2)
        .await
        .unwrap();
    assert!(p1 < p2, "the late writer holds the lower position");
    t2.commit().await.unwrap();
    app.projector.catch_up().await.unwrap();
    let ids = |rows: Vec<journal::JournalRun>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(journal::list(&app.db, "acme", &JournalFilter::default())
            .await
            .unwrap()),
        vec!["run-early".to_string()]
    );
    t1.commit().await.unwrap();
    app.projector.catch_up().await.unwrap();
    let mut got = ids(journal::list(&app.db, "acme", &JournalFilter::default())
        .await
        .unwrap());
    got.sort();
    assert_eq!(got, vec!["run-early".to_string(), "run-late".to_string()]);
}

/// Graceful shutdown: the current step finishes and is journaled, the run is released at
/// once (not left to lease expiry), and another worker completes it without redoing it.
async fn shutdown_releases_the_run_after_the_current_step(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    let backend = Arc::new(MemBackend::with_items(4, None));
    let run = enqueue(app.run_store().as_ref(), &acc, "p1", c.now()).await;
    let w = worker(&app, "w1", registry(backend.clone()), c.clone(), 1);
    let flag = w.shutdown_flag();
    *backend.on_apply.lock().unwrap() = Some(Arc::new(move |n| {
        let flag = flag.clone();
        Box::pin(async move {
            if n == 2 {
                flag.store(true, Ordering::SeqCst);
            }
        })
    }));
    assert_eq!(
        w.try_execute_next().await.unwrap(),
        Execution::Completed {
            run_id: run,
            status: RunStatus::Queued
        }
    );
    let state = app
        .db
        .fetch(
            "SELECT state, lease_owner FROM run_queue WHERE run_id = $1",
            &[Val::text(run.to_string())],
        )
        .await
        .unwrap();
    assert_eq!(state[0][0], Val::text("ready"), "released, due at once");
    assert!(state[0][1].as_str().is_none(), "no lease left behind");
    let events = app.run_store().load_run(&acc, run).await.unwrap();
    let applied = events
        .iter()
        .filter(|e| matches!(&e.event, RunEvent::StepCompleted { key, .. } if key.name == "apply_effect"))
        .count();
    assert_eq!(applied, 2, "the step in flight at shutdown was journaled");
    *backend.on_apply.lock().unwrap() = None;
    let w2 = worker(&app, "w2", registry(backend.clone()), c.clone(), 1);
    assert_eq!(w2.drain().await.unwrap(), vec![(run, RunStatus::Succeeded)]);
    assert_eq!(
        backend.effect_calls.load(Ordering::SeqCst),
        4,
        "no step ran twice"
    );
}
both!(
    graceful_shutdown,
    shutdown_releases_the_run_after_the_current_step
);

/// A run store whose heartbeats are slow (a database under load) and counted, to see what
/// the worker does with a heartbeat in flight when its run ends.
struct SlowBeats {
    inner: Arc<dyn passerelle_workflows::engine::RunStore>,
    started: std::sync::atomic::AtomicU32,
    finished: std::sync::atomic::AtomicU32,
    beat_started: tokio::sync::Notify,
    /// (started, finished) heartbeats when the run's closing append arrived.
    at_close: std::sync::Mutex<Option<(u32, u32)>>,
}

#[async_trait::async_trait]
impl passerelle_workflows::engine::RunStore for SlowBeats {
    async fn enqueue(
        &self,
        run: passerelle_workflows::engine::NewRun,
    ) -> Result<EnqueueOutcome, StoreError> {
        self.inner.enqueue(run).await
    }
    async fn claim(
        &self,
        worker: &str,
        now: chrono::DateTime<chrono::Utc>,
        lease: Duration,
    ) -> Result<Option<passerelle_workflows::engine::Claim>, StoreError> {
        self.inner.claim(worker, now, lease).await
    }
    async fn append(
        &self,
        fence: &passerelle_workflows::engine::Fence,
        first_sequence: i64,
        events: &[NewEvent],
        change: QueueChange,
        now: chrono::DateTime<chrono::Utc>,
        lease: Duration,
    ) -> Result<passerelle_workflows::engine::AppendAck, StoreError> {
        if change == QueueChange::Finish {
            *self.at_close.lock().unwrap() = Some((
                self.started.load(Ordering::SeqCst),
                self.finished.load(Ordering::SeqCst),
            ));
        }
        self.inner
            .append(fence, first_sequence, events, change, now, lease)
            .await
    }
    async fn heartbeat(
        &self,
        fence: &passerelle_workflows::engine::Fence,
        now: chrono::DateTime<chrono::Utc>,
        lease: Duration,
    ) -> Result<passerelle_workflows::engine::AppendAck, StoreError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.beat_started.notify_one();
        // The round trip of a loaded database: long enough for the run to end meanwhile.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let ack = self.inner.heartbeat(fence, now, lease).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        ack
    }
    async fn request_cancel(
        &self,
        account: &passerelle_domain::AccountId,
        run: passerelle_domain::RunId,
        actor: &Actor,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<CancelOutcome, StoreError> {
        self.inner.request_cancel(account, run, actor, now).await
    }
    async fn load_run(
        &self,
        account: &passerelle_domain::AccountId,
        run: passerelle_domain::RunId,
    ) -> Result<Vec<passerelle_workflows::engine::RecordedEvent>, StoreError> {
        self.inner.load_run(account, run).await
    }
    async fn next_due(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.inner.next_due().await
    }
}

/// A heartbeat is a fenced transaction on the run's queue row: the worker must let the one
/// in flight finish before it closes the run, never cancel it (a heartbeat cancelled while
/// it opens its transaction left a pooled PostgreSQL connection inside it, holding the
/// queue row's lock). The run's first effect waits until a heartbeat has started, so one is
/// always in flight when the run ends; at the closing append every started heartbeat must
/// have finished, and none may start after the worker returns.
async fn heartbeat_in_flight_ends_before_the_run_closes(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    let store = Arc::new(SlowBeats {
        inner: app.run_store(),
        started: Default::default(),
        finished: Default::default(),
        beat_started: tokio::sync::Notify::new(),
        at_close: std::sync::Mutex::new(None),
    });
    let backend = Arc::new(MemBackend::with_items(3, None));
    let run = enqueue(store.as_ref(), &acc, "p1", c.now()).await;
    let s = store.clone();
    *backend.on_apply.lock().unwrap() = Some(Arc::new(move |n| {
        let s = s.clone();
        Box::pin(async move {
            if n == 1 {
                s.beat_started.notified().await;
            }
        })
    }));
    let mut config = cfg(1);
    config.heartbeat = Duration::from_millis(5);
    let w = passerelle_workflows::engine::Worker::new(
        "w1",
        store.clone(),
        registry(backend.clone()),
        c.clone(),
        config,
    );
    assert_eq!(
        w.try_execute_next().await.unwrap(),
        Execution::Completed {
            run_id: run,
            status: RunStatus::Succeeded
        }
    );
    let (started, finished) = store.at_close.lock().unwrap().unwrap();
    assert!(started >= 1, "a heartbeat ran during the run");
    assert_eq!(
        started, finished,
        "a heartbeat was still in flight (or cancelled) when the run closed"
    );
    assert_eq!(
        store.started.load(Ordering::SeqCst),
        started,
        "a heartbeat started after the run closed"
    );
}
both!(
    heartbeat_stops_cleanly,
    heartbeat_in_flight_ends_before_the_run_closes
);

/// Two `replay --verify` of one database at the same time (two operators, a server and a
/// CLI): each rebuilds into tables of its own and both find the projections identical.
/// With one shared `rebuild_*` name, one dropped or filled the other's tables.
async fn concurrent_rebuilds_do_not_collide(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    let backend = Arc::new(MemBackend::with_items(5, None));
    for p in ["p1", "p2", "p3", "p4"] {
        enqueue(app.run_store().as_ref(), &acc, p, c.now()).await;
    }
    worker(&app, "w1", registry(backend), c.clone(), 2)
        .drain()
        .await
        .unwrap();
    // A second projector (another process) on its own pool.
    let other = tdb.app().await;
    for round in 0..5 {
        let (a, b) = tokio::join!(
            rebuild(&app.projector, true),
            rebuild(&other.projector, true)
        );
        for (who, r) in [("first", a), ("second", b)] {
            let r = r.unwrap_or_else(|e| panic!("round {round}, {who} rebuild: {e}"));
            assert!(r.diffs.is_empty(), "round {round}, {who}: {:?}", r.diffs);
            // journal 4 runs + last_transfer_runs 4 + last_transfer 4.
            assert_eq!(r.rows, 12, "round {round}, {who}");
        }
    }
    // Nothing of either rebuild is left behind.
    let leftovers = match kind {
        Kind::Pg => {
            app.db
                .fetch(
                    "SELECT COUNT(*) FROM pg_tables WHERE tablename LIKE 'rebuild%'",
                    &[],
                )
                .await
        }
        Kind::Sqlite => app
            .db
            .fetch(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'rebuild%'",
                &[],
            )
            .await,
    }
    .unwrap();
    assert_eq!(leftovers[0][0].as_i64(), Some(0));
    let ckpts = app
        .db
        .fetch(
            "SELECT COUNT(*) FROM projection_checkpoints WHERE name LIKE 'rebuild%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(ckpts[0][0].as_i64(), Some(0));
}
both!(concurrent_rebuilds, concurrent_rebuilds_do_not_collide);
