//! Asynchronous EBP imports end to end (issue 19 part 3), on SQLite and PostgreSQL, against
//! the EBP simulator in its async mode (`createImport` answers 202 + import id, the status
//! is polled): the run parks between polls with a persisted `retry_at`, a crash before the
//! status is journaled resumes by polling the same id (never a second upload), and an
//! import failing for some rows fails exactly those orders with EBP's row message.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, DemoWorld};
use passerelle_domain::{AccountId, ProfileId, RunEvent, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::orders::transferred_orders;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{EbpSimConfig, ImportMode};
use passerelle_workflows::engine::RunStore;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn env() {
    std::env::set_var("PASSERELLE_MASTER_KEY", KEY);
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "50");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000");
    std::env::set_var("PASSERELLE_LEASE_MS", "1500");
}

/// The simulator importing asynchronously: `polls` status polls answered "Waiting" first.
fn async_ebp(polls: u32) -> EbpSimConfig {
    EbpSimConfig {
        min_interval: Duration::from_millis(40),
        import_mode: ImportMode::Async {
            pending_polls: polls,
            min_delay: Duration::ZERO,
        },
        ..EbpSimConfig::default()
    }
}

struct Setup {
    _db: TestDb,
    url: String,
    app: App,
    world: DemoWorld,
    acc: AccountId,
    profile: ProfileId,
}

async fn setup(kind: Kind, orders: usize, ebp: EbpSimConfig) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let world = DemoWorld::start(orders, ebp).await.unwrap();
    let acc = account("acme");
    let profile = world.install(&app, &acc).await.unwrap();
    ensure_import_plan(&app, &acc, 1000).await.unwrap();
    Setup {
        url: db.url.clone(),
        _db: db,
        app,
        world,
        acc,
        profile,
    }
}

async fn import(s: &Setup) -> (RunId, RunStatus, journal::Counts) {
    let (id, status) = passerelle::commands::run_action(
        &s.app,
        &s.acc,
        s.profile.clone(),
        SyncAction::ImportOrders,
        serde_json::json!({"retry_initial_ms": 50}),
    )
    .await
    .unwrap();
    let run = journal::get(&s.app.db, s.acc.as_str(), &id.to_string())
        .await
        .unwrap()
        .unwrap();
    (id, status, run.counts)
}

fn docs_per_order(s: &Setup) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for d in s.world.ebp.documents() {
        *m.entry(d.atoosync_order.unwrap_or_default()).or_insert(0) += 1;
    }
    m
}

async fn verify_replay(s: &Setup) {
    let report = rebuild(&s.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}

/// The ids of the uploads (`createImport` calls) the simulator received.
fn upload_ids(s: &Setup) -> Vec<String> {
    s.world
        .ebp
        .imports()
        .into_iter()
        .map(|i| i.import_id)
        .collect()
}

/// No file was uploaded twice (same name and bytes), and every web order's document went
/// in exactly one upload.
fn assert_no_second_upload(s: &Setup) {
    let mut seen = BTreeSet::new();
    for i in s.world.ebp.imports() {
        for (name, _, bytes) in i.files {
            assert!(seen.insert((name.clone(), bytes)), "{name} uploaded twice");
        }
    }
}

async fn parks_between_polls(kind: Kind) {
    let s = setup(kind, 10, async_ebp(3)).await;
    let (run, status, c) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c.failed, 2, "the two broken orders only: {c:?}");
    assert!(c.succeeded >= 6, "{c:?}");
    let uploads = upload_ids(&s);
    assert!(!uploads.is_empty());
    assert_no_second_upload(&s);
    let polls = s.world.ebp.import_status_polls();
    for id in &uploads {
        assert_eq!(
            polls.iter().filter(|p| *p == id).count(),
            4,
            "three 'Waiting' answers, then the result, for {id}"
        );
    }
    assert_eq!(polls.len(), 4 * uploads.len(), "only accepted ids polled");
    assert_eq!(s.world.ebp.queued_imports(), 0);
    let docs = docs_per_order(&s);
    assert_eq!(docs.len() as i64, c.succeeded);
    assert!(docs.values().all(|n| *n == 1));

    // The id is journaled in the upload step's result, and each "Waiting" parked the run
    // with a persisted retry_at.
    let events = s.app.store.load_run(&s.acc, run).await.unwrap();
    let journaled_id = events.iter().find_map(|e| match &e.event {
        RunEvent::StepCompleted { key, result, .. } if key.name == "erp_import" => result["report"]
            ["pending"]["import_id"]
            .as_str()
            .map(str::to_string),
        _ => None,
    });
    assert_eq!(journaled_id.as_deref(), Some(uploads[0].as_str()));
    let parks: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::StepFailed {
                key,
                transient: true,
                retry_at,
                error,
                ..
            } if key.name == "erp_import_status" => Some((retry_at.is_some(), error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(parks.len(), 3 * uploads.len(), "{parks:?}");
    assert!(parks
        .iter()
        .all(|(at, e)| *at && uploads.iter().any(|u| e.contains(u.as_str()))));
    s.app.projector.catch_up().await.unwrap();
    let known = transferred_orders(&s.app.db, s.acc.as_str(), s.profile.as_str())
        .await
        .unwrap();
    assert_eq!(known.len() as i64, c.succeeded);
    verify_replay(&s).await;
}
both!(
    an_async_import_parks_the_run_and_polls_the_same_id,
    parks_between_polls
);

async fn crash_before_status(kind: Kind) {
    let s = setup(kind, 12, async_ebp(1)).await;
    let run_process = |fault: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"));
        cmd.args(["run", s.profile.as_str(), "import-orders"])
            .env("DATABASE_URL", &s.url)
            .env("PASSERELLE_ACCOUNT", s.acc.as_str())
            .env("PASSERELLE_LEASE_MS", "800")
            .env("PASSERELLE_TEST_RETRY_INITIAL_MS", "100");
        match fault {
            Some(f) => cmd.env("PASSERELLE_FAULT", f),
            None => cmd.env_remove("PASSERELLE_FAULT"),
        };
        cmd.output().unwrap()
    };
    // The worker dies right after EBP gave the import's status, before the status is
    // journaled: for the run, the status is still unknown.
    let out = tokio::task::block_in_place(|| run_process(Some("abort-after:erp_import_status:1")));
    assert!(!out.status.success(), "aborted");
    let uploads = upload_ids(&s);
    assert!(!uploads.is_empty());
    // EBP applied the first import (its status said so); the run does not know it yet.
    assert_eq!(s.world.ebp.queued_imports(), 0);
    s.app.projector.catch_up().await.unwrap();
    assert!(
        transferred_orders(&s.app.db, s.acc.as_str(), s.profile.as_str())
            .await
            .unwrap()
            .is_empty(),
        "nothing recorded yet"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let out = tokio::task::block_in_place(|| run_process(None));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_no_second_upload(&s);
    let after = upload_ids(&s);
    assert_eq!(
        after[..uploads.len()],
        uploads[..],
        "the uploads before the crash kept"
    );
    let polls = s.world.ebp.import_status_polls();
    // The crashed status step polled the first id; the resumed run polled it again.
    let first = polls.iter().filter(|p| **p == uploads[0]).count();
    assert_eq!(
        first, 3,
        "Waiting, the result lost in the crash, the result again: {polls:?}"
    );
    assert!(polls.iter().all(|p| after.contains(p)));
    let written = s.world.ebp.documents().len();
    assert!(written >= 8, "{written}");
    assert!(
        docs_per_order(&s).values().all(|n| *n == 1),
        "exactly one document per order"
    );
    s.app.projector.catch_up().await.unwrap();
    let known = transferred_orders(&s.app.db, s.acc.as_str(), s.profile.as_str())
        .await
        .unwrap();
    assert_eq!(known.len(), written, "every document is now recorded");
    verify_replay(&s).await;
}
both!(
    a_crash_before_the_import_status_is_journaled_polls_the_same_id_again,
    crash_before_status
);

async fn failed_rows(kind: Kind) {
    let s = setup(kind, 10, async_ebp(1)).await;
    // Two orders the run imports (state 2 of the profile, not broken) fail in EBP.
    let chosen: Vec<u64> = (1..=12u64)
        .filter(|id| !s.world.broken.contains(id))
        .filter(|id| s.world.shop.order_state(*id).as_deref() == Some("2"))
        .take(2)
        .collect();
    assert_eq!(chosen.len(), 2);
    for id in &chosen {
        s.world.ebp.fail_import_of(
            &id.to_string(),
            "Le tarif de l'article est bloqué (ligne refusée par EBP)",
        );
    }
    let (run, status, c) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c.failed, 4, "2 broken + 2 refused by EBP: {c:?}");
    assert_no_second_upload(&s);
    let docs = docs_per_order(&s);
    assert_eq!(docs.len() as i64, c.succeeded);
    let chosen_keys: BTreeSet<String> = chosen.iter().map(u64::to_string).collect();
    assert!(docs.keys().all(|k| !chosen_keys.contains(k)));
    let reasons: HashMap<String, String> = s
        .app
        .store
        .load_run(&s.acc, run)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            RunEvent::ItemFailed { item, reason } => Some((item.key, reason)),
            _ => None,
        })
        .collect();
    for k in &chosen_keys {
        let r = reasons.get(k).unwrap();
        assert!(
            r.contains("Le tarif de l'article est bloqué") && r.contains("Orders.txt ligne"),
            "{k}: {r}"
        );
    }
    verify_replay(&s).await;
}
both!(
    an_import_failing_for_two_rows_fails_those_orders_with_ebps_message,
    failed_rows
);
