//! The scheduler against real databases with a controlled clock.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use chrono::{NaiveDate, TimeZone, Utc};
use common::*;
use passerelle_adapters::store::{SqlScheduleStore, Val};
use passerelle_domain::schedule::{Repeat, RepeatEvery, ScheduleSpec, Trigger};
use passerelle_domain::scheduling::ScheduleCommand;
use passerelle_domain::{Actor, ProfileId, RunStatus, SyncAction};
use passerelle_projections::schedules;
use std::sync::Arc;

fn every_5_min() -> ScheduleSpec {
    ScheduleSpec {
        start: NaiveDate::from_ymd_opt(2024, 9, 9)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap(),
        trigger: Trigger::Daily { every_days: 1 },
        repeat: Some(Repeat {
            every: RepeatEvery::Minutes5,
            for_duration_minutes: 1440,
        }),
    }
}

fn utc(h: u32, m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 9, h, m, 0).unwrap()
}

async fn create(
    store: &SqlScheduleStore,
    acc: &passerelle_domain::AccountId,
    id: &str,
    profile: &str,
) {
    store
        .execute(
            acc,
            id,
            ScheduleCommand::Create {
                profile_id: ProfileId::parse(profile).unwrap(),
                action: SyncAction::DemoEngine,
                spec: every_5_min(),
                time_zone: "UTC".into(),
                now: utc(8, 0),
            },
            Actor::Cli,
            utc(8, 0),
        )
        .await
        .unwrap();
}

async fn long_run_skips_one_trigger(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let store = SqlScheduleStore::new(app.db.clone());
    let acc = account("acme");
    create(&store, &acc, "s1", "p1").await;
    let (clock, c) = manual_clock();
    clock.set(utc(9, 0));
    let backend = Arc::new(MemBackend::with_items(1, None));
    let w = worker(&app, "w1", registry(backend), c.clone(), 1);

    // 09:00 fires; the run is still going at 09:05 (it takes 7 minutes) → skipped.
    let r0 = store.tick(utc(9, 0), 100).await.unwrap();
    assert_eq!(r0.fired.len(), 1);
    let first_run = r0.fired[0].1;
    let r5 = store.tick(utc(9, 5), 100).await.unwrap();
    assert_eq!((r5.fired.len(), r5.skipped.len()), (0, 1));
    assert_eq!(r5.skipped[0].1, first_run);
    // The run ends at 09:07; 09:10 fires again.
    clock.set(utc(9, 7));
    let done = w.drain().await.unwrap();
    assert_eq!(done, vec![(first_run, RunStatus::Succeeded)]);
    assert!(store.tick(utc(9, 8), 100).await.unwrap().fired.is_empty());
    let r10 = store.tick(utc(9, 10), 100).await.unwrap();
    assert_eq!(r10.fired.len(), 1);

    app.projector.catch_up().await.unwrap();
    let rows = schedules::list(&app.db, "acme").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].fired, rows[0].skipped), (2, 1));
    assert_eq!(rows[0].next_run_at.as_deref(), Some("2024-09-09T09:15:00Z"));
    assert!(rows[0].running, "the 09:10 run is queued");
    // Scheduled runs are journaled as such; `journal --manual` leaves them out.
    let all = passerelle_projections::journal::list(&app.db, "acme", &Default::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|r| r.trigger == "scheduled"));
    let manual = passerelle_projections::journal::list(
        &app.db,
        "acme",
        &passerelle_projections::journal::JournalFilter {
            manual_only: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(manual.is_empty());
    assert!(
        passerelle_projections::rebuild::rebuild(&app.projector, true)
            .await
            .unwrap()
            .diffs
            .is_empty()
    );
}
both!(long_run, long_run_skips_one_trigger);

async fn downtime_gives_one_catch_up(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let store = SqlScheduleStore::new(app.db.clone());
    let acc = account("acme");
    create(&store, &acc, "s1", "p1").await;
    // The scheduler was down from before 09:00 until 10:02: one run, 12 missed counted.
    let r = store.tick(utc(10, 2), 100).await.unwrap();
    assert_eq!(r.fired.len(), 1);
    assert_eq!(r.fired[0].2, 12);
    assert!(store.tick(utc(10, 3), 100).await.unwrap().fired.is_empty());
    let queued = app
        .db
        .fetch("SELECT COUNT(*) FROM run_queue", &[])
        .await
        .unwrap();
    assert_eq!(queued[0][0], Val::int(1));
}
both!(catch_up, downtime_gives_one_catch_up);

/// Two schedulers (separate pools) on one PostgreSQL tick at the same instants: over 100
/// triggers of 3 schedules, each trigger fires exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_fire_each_trigger_once() {
    let tdb = fresh(Kind::Pg).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let a = SqlScheduleStore::new(tdb.app().await.db.clone());
    let b = SqlScheduleStore::new(tdb.app().await.db.clone());
    for (i, p) in ["p1", "p2", "p3"].iter().enumerate() {
        create(&a, &acc, &format!("s{i}"), p).await;
    }
    let (clock, c) = manual_clock();
    let backend = Arc::new(MemBackend::with_items(0, None));
    let w = worker(&app, "w1", registry(backend), c.clone(), 1);
    let mut fired = 0;
    for k in 0..100i64 {
        let now = utc(9, 0) + chrono::Duration::minutes(5 * k);
        let (ra, rb) = tokio::join!(a.tick(now, 100), b.tick(now, 100));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(ra.skipped.is_empty() && rb.skipped.is_empty());
        assert_eq!(
            ra.fired.len() + rb.fired.len(),
            3,
            "tick {k}: each of the 3 schedules fired once"
        );
        fired += ra.fired.len() + rb.fired.len();
        clock.set(now);
        w.drain().await.unwrap();
    }
    assert_eq!(fired, 300);
    let rows = app
        .db
        .fetch("SELECT aggregate_id, COUNT(*) FROM events WHERE event_type = 'TriggerFired' GROUP BY aggregate_id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r[1] == Val::int(100)));
    let runs = app
        .db
        .fetch("SELECT COUNT(*) FROM run_queue WHERE state = 'done'", &[])
        .await
        .unwrap();
    assert_eq!(runs[0][0], Val::int(300));
}

#[test]
fn schedule_cli_creates_edits_and_lists() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let bin = env!("CARGO_BIN_EXE_passerelle");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let out = run(&[
        "schedule",
        "create",
        "shop1",
        "update-stock",
        "--start",
        "2026-11-29 08:00",
        "--daily",
        "1",
        "--repeat",
        "5m",
        "--for",
        "12h",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = run(&[
        "schedule",
        "create",
        "shop1",
        "update-stock",
        "--start",
        "2026-11-29 08:00",
        "--monthly-days",
        "1,32",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("32"));
    assert!(run(&[
        "schedule",
        "edit",
        &id,
        "--start",
        "2026-11-30 09:00",
        "--weekly",
        "1",
        "--on",
        "mon,thu"
    ])
    .status
    .success());
    assert!(run(&["schedule", "pause", &id]).status.success());
    let out = run(&["schedules", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["paused"], true);
    assert_eq!(rows[0]["spec"]["trigger"]["kind"], "weekly");
    assert!(run(&["schedule", "delete", &id]).status.success());
    let out = run(&["schedules", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
    assert_eq!(run(&["schedule", "pause", &id]).status.code(), Some(2));
}
