//! Import orders end to end against the PrestaShop and EBP simulators, on SQLite and
//! PostgreSQL: idempotence and support resets, quotas, bad input, flaky upstreams, the
//! shared EBP limits and token rotation, a crash between the ERP write and its record.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, DemoWorld};
use passerelle_adapters::store::SqlQuotas;
use passerelle_domain::subscription::{PlanKind, QuotaCounter, SubscriptionCommand};
use passerelle_domain::{AccountId, Actor, ProfileId, RunEvent, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::orders::transferred_orders;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::EbpSimConfig;
use passerelle_simulators::prestashop::{Corruption, FaultConfig};
use passerelle_workflows::engine::RunStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Process-wide settings of these tests (each test runs in its own process under nextest).
fn env(min_interval_ms: u64, budget: u32) {
    std::env::set_var("PASSERELLE_MASTER_KEY", KEY);
    std::env::set_var(
        "PASSERELLE_EBP_MIN_INTERVAL_MS",
        min_interval_ms.to_string(),
    );
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", budget.to_string());
    std::env::set_var("PASSERELLE_LEASE_MS", "1500");
}

fn fast_ebp() -> EbpSimConfig {
    EbpSimConfig {
        min_interval: Duration::from_millis(40),
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

async fn setup(kind: Kind, orders: usize, ebp: EbpSimConfig, units: u64) -> Setup {
    let db = fresh(kind).await;
    let app = db.app().await;
    let world = DemoWorld::start(orders, ebp).await.unwrap();
    let acc = account("acme");
    let profile = world.install(&app, &acc).await.unwrap();
    if units > 0 {
        ensure_import_plan(&app, &acc, units).await.unwrap();
    }
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
    import_for(s, &s.profile).await
}

async fn import_for(s: &Setup, profile: &ProfileId) -> (RunId, RunStatus, journal::Counts) {
    let (id, status) = passerelle::commands::run_action(
        &s.app,
        &s.acc,
        profile.clone(),
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

/// Web order number → documents holding it in the simulated ERP.
fn docs_per_order(s: &Setup) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for d in s.world.ebp.documents() {
        *m.entry(d.atoosync_order.unwrap_or_default()).or_insert(0) += 1;
    }
    m
}

/// Every document of the simulated ERP totals (as the folder computes it, under its VAT
/// rounding rule) exactly what its shop order paid.
fn assert_erp_totals_are_amounts_paid(s: &Setup) {
    let docs = s.world.ebp.documents();
    assert!(!docs.is_empty());
    for d in &docs {
        let id: u64 = d.atoosync_order.clone().unwrap().parse().unwrap();
        let order = s.world.shop.row("orders", id).unwrap();
        let paid: rust_decimal::Decimal = order["total_paid_tax_incl"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            s.world.ebp.totals_of(d).amount_vat_included,
            paid.round_dp(2),
            "order {id}: {:?}",
            d.document.lines
        );
    }
}

async fn item_reasons(s: &Setup, run: RunId) -> HashMap<String, String> {
    s.app
        .store
        .load_run(&s.acc, run)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            RunEvent::ItemFailed { item, reason } | RunEvent::ItemIgnored { item, reason } => {
                Some((item.key, reason))
            }
            _ => None,
        })
        .collect()
}

async fn verify_replay(s: &Setup) {
    let report = rebuild(&s.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}

async fn import_twice_then_reset(kind: Kind) {
    env(50, 10_000);
    let s = setup(kind, 20, fast_ebp(), 1000).await;
    let (_, status, c1) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c1.failed, 2, "the two broken orders fail: {c1:?}");
    assert!(c1.succeeded >= 14, "{c1:?}");
    let docs = docs_per_order(&s);
    assert_eq!(docs.len() as i64, c1.succeeded);
    assert!(docs.values().all(|n| *n == 1), "one document per order");
    assert_erp_totals_are_amounts_paid(&s);

    // What went back to the shop: the document number on the order, the status set by the
    // profile (2 → 3), the ERP account number on the customer (once).
    for d in s.world.ebp.documents() {
        let id: u64 = d
            .atoosync_order
            .clone()
            .unwrap_or_default()
            .parse()
            .unwrap();
        let note = s.world.shop.order_note(id).unwrap_or_default();
        assert!(
            note.contains(&format!("Document EBP : {}", d.number)),
            "{id}: {note}"
        );
        assert_ne!(
            s.world.shop.order_state(id).as_deref(),
            Some("2"),
            "{id} left state 2"
        );
    }
    let coded = (1..=6)
        .filter_map(|c| s.world.shop.customer_note(c))
        .filter(|n| n.contains("Code client EBP : "))
        .count();
    assert!(
        coded >= 3,
        "ERP account numbers sent back to the shop customers"
    );

    let (_, _, c2) = import(&s).await;
    assert_eq!((c2.succeeded, c2.ignored, c2.failed), (0, c1.succeeded, 2));
    assert_eq!(
        s.world.ebp.documents().len() as i64,
        c1.succeeded,
        "no duplicate"
    );

    // Support resets two orders: exactly those are taken again (and linked to the document
    // still in the ERP rather than duplicated).
    s.app.projector.catch_up().await.unwrap();
    let known = transferred_orders(&s.app.db, s.acc.as_str(), s.profile.as_str())
        .await
        .unwrap();
    let ids: Vec<String> = known.iter().take(2).map(|o| o.order_id.clone()).collect();
    passerelle::orders_cmd::reset_orders(
        &s.app,
        &s.acc,
        &s.profile,
        Some(&ids.join(",")),
        false,
        "document supprimé par erreur",
    )
    .await
    .unwrap();
    let after = transferred_orders(&s.app.db, s.acc.as_str(), s.profile.as_str())
        .await
        .unwrap();
    let reset: Vec<_> = after
        .iter()
        .filter(|o| o.document_number.is_none())
        .collect();
    assert_eq!(reset.len(), 2);
    let (why, by, _) = reset[0].last_reset.clone().unwrap();
    assert_eq!(why, "document supprimé par erreur");
    assert!(by.starts_with("user:"), "who is recorded: {by}");

    let (run3, _, c3) = import(&s).await;
    assert_eq!((c3.succeeded, c3.ignored), (2, c1.succeeded - 2), "{c3:?}");
    let events = s.app.store.load_run(&s.acc, run3).await.unwrap();
    let succeeded: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::ItemSucceeded { item, .. } => Some(item.key.clone()),
            _ => None,
        })
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    let mut got = succeeded.clone();
    got.sort();
    assert_eq!(got, expected, "exactly the reset orders");
    assert_eq!(
        s.world.ebp.documents().len() as i64,
        c1.succeeded,
        "still no duplicate"
    );

    // The order's own history shows the transfer, the reset (who, why) and the new link.
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["history", s.profile.as_str(), "--order", &ids[0], "--json"])
            .env("DATABASE_URL", &s.url)
            .env("PASSERELLE_ACCOUNT", s.acc.as_str())
            .output()
            .unwrap()
    });
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["OrderTransferred", "TransferReset", "OrderTransferred"]
    );
    assert_eq!(
        h[1]["payload"]["TransferReset"]["reason"],
        "document supprimé par erreur"
    );
    assert!(h[1]["metadata"]["actor"]
        .as_str()
        .unwrap()
        .starts_with("user:"));

    passerelle::orders_cmd::reset_orders(
        &s.app,
        &s.acc,
        &s.profile,
        None,
        true,
        "reprise complète",
    )
    .await
    .unwrap();
    let (_, _, c4) = import(&s).await;
    assert_eq!(c4.succeeded, c1.succeeded, "--all: every order again");
    verify_replay(&s).await;
}
both!(
    import_twice_then_reset_takes_exactly_the_reset_orders,
    import_twice_then_reset
);

async fn quota_limits(kind: Kind) {
    env(50, 10_000);
    // 31 seeded orders: 25 in the selected statuses, plus the two broken ones.
    let s = setup(kind, 31, fast_ebp(), 10).await;
    let (run, status, c1) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c1.succeeded, c1.ignored, c1.failed), (10, 15, 2), "{c1:?}");
    assert_eq!(
        s.world.ebp.documents().len(),
        10,
        "nothing beyond the quota was written"
    );
    let reasons = item_reasons(&s, run).await;
    assert_eq!(
        reasons
            .values()
            .filter(|r| r.contains("quota épuisé"))
            .count(),
        15
    );
    let (counters, _, daily) =
        passerelle_projections::orders::quota_view(&s.app.db, s.acc.as_str(), chrono::Utc::now())
            .await
            .unwrap();
    let imp = counters.iter().find(|c| c.counter == "import").unwrap();
    assert_eq!((imp.bought, imp.used, imp.available), (10, 10, 0));
    assert_eq!(daily.iter().map(|d| d.units).sum::<i64>(), 10);

    // A renewal (a Flex plan bought) lets the next run continue where the quota stopped.
    SqlQuotas::new(
        s.app.db.clone(),
        Arc::new(passerelle_workflows::ports::SystemClock),
    )
    .execute(
        &s.acc,
        SubscriptionCommand::Purchase {
            counter: QuotaCounter::Import,
            plan: PlanKind::Flex,
            units: 100,
            now: chrono::Utc::now(),
        },
        Actor::Cli,
    )
    .await
    .unwrap();
    let (_, _, c2) = import(&s).await;
    assert_eq!((c2.succeeded, c2.ignored, c2.failed), (15, 10, 2), "{c2:?}");
    assert_eq!(s.world.ebp.documents().len(), 25);
    verify_replay(&s).await;
}
both!(
    a_quota_stops_cleanly_at_the_limit_and_a_renewal_continues,
    quota_limits
);

async fn suspended(kind: Kind) {
    env(50, 10_000);
    let s = setup(kind, 5, fast_ebp(), 100).await;
    SqlQuotas::new(
        s.app.db.clone(),
        Arc::new(passerelle_workflows::ports::SystemClock),
    )
    .execute(
        &s.acc,
        SubscriptionCommand::FailPayment {
            reason: "prélèvement refusé".into(),
        },
        Actor::Cli,
    )
    .await
    .unwrap();
    let (_, status, c) = import(&s).await;
    assert_eq!(status, RunStatus::Failed);
    assert_eq!(c.succeeded, 0);
    assert!(s.world.ebp.documents().is_empty());
    let run = journal::list(&s.app.db, s.acc.as_str(), &Default::default())
        .await
        .unwrap();
    assert!(
        run[0].message.contains("prélèvement refusé"),
        "{}",
        run[0].message
    );
}
both!(a_payment_failure_refuses_runs_with_the_reason, suspended);

async fn bad_input(kind: Kind) {
    env(50, 10_000);
    let s = setup(kind, 20, fast_ebp(), 1000).await;
    // Unknown tax rate: the profile maps no VAT code for 5.5 % and has no default.
    let mut file = s.world.profile_file().unwrap();
    let settings = &mut file.import.as_mut().unwrap().settings;
    settings.taxes.retain(|t| t.vat_code != "TVA5.5");
    settings.default_vat_code = None;
    file.shop.key = Some(s.world.shop.key());
    passerelle::profiles::Profiles::new(s.app.db.clone())
        .import(&s.acc, file, s.app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    s.world.shop.corrupt_order(2, Corruption::MissingDetails);
    s.world.shop.corrupt_order(5, Corruption::InvalidUtf8);
    s.world.shop.corrupt_order(7, Corruption::HugeField);
    let (run, status, c) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded, "the run goes on");
    let reasons = item_reasons(&s, run).await;
    let events = s.app.store.load_run(&s.acc, run).await.unwrap();
    let key_of = |id: &str| -> String {
        events
            .iter()
            .find_map(|e| match &e.event {
                RunEvent::ItemFailed { item, .. } if item.key == id => Some(item.key.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("order {id} should have failed: {reasons:?}"))
    };
    for id in ["2", "5", "7"] {
        let r = &reasons[&key_of(id)];
        assert!(r.contains(&format!("commande {id}")), "{id}: {r}");
    }
    assert!(reasons.values().any(|r| r.contains("quantité négative")));
    assert!(reasons.values().any(|r| r.contains("JSON invalide")));
    let tax = reasons
        .values()
        .filter(|r| r.contains("taux de TVA inconnu"))
        .count();
    assert!(tax >= 1, "orders with a 5.5 % line fail: {reasons:?}");
    assert!(c.succeeded >= 5, "the others go on: {c:?}");
    // Nothing half-written: a failed order has no document.
    let docs = docs_per_order(&s);
    for (id, r) in &reasons {
        assert!(
            !docs.contains_key(id),
            "{id} failed ({r}) but has a document"
        );
    }
    verify_replay(&s).await;
}
both!(bad_shop_data_fails_that_order_only_with_a_reason, bad_input);

async fn flaky(kind: Kind) {
    let logs = capture_logs();
    env(50, 10_000);
    let ebp = EbpSimConfig {
        server_error_rate: 0.2,
        throttle_rate: 0.05,
        throttle_retry_after: Some(1),
        seed: 7,
        ..fast_ebp()
    };
    let s = setup(kind, 20, ebp, 1000).await;
    s.world.shop.set_faults(FaultConfig {
        server_error_share: 0.2,
        rate_limit_share: 0.05,
        retry_after_secs: 1,
        delay_share: 0.1,
        delay: Duration::from_millis(150),
        seed: 11,
    });
    let (run, status, c) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(
        c.failed,
        2,
        "only the two broken orders fail: {:?}",
        item_reasons(&s, run).await
    );
    assert_eq!(c.succeeded + c.failed, c.total);
    let events = s.app.store.load_run(&s.acc, run).await.unwrap();
    let retries = events
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                RunEvent::StepFailed {
                    transient: true,
                    ..
                }
            )
        })
        .count();
    assert!(retries > 0, "faults were injected and retried");
    // Retried failures are warnings; ERROR is for a step that fails for good, and none did.
    if let Some(logs) = logs {
        let warnings = logs.at(tracing::Level::WARN);
        assert!(
            warnings.iter().any(|w| w.contains("erreur passagère")),
            "{warnings:?}"
        );
        assert_eq!(logs.at(tracing::Level::ERROR), Vec::<String>::new());
    }
    let docs = docs_per_order(&s);
    assert_eq!(docs.len() as i64, c.succeeded);
    assert!(
        docs.values().all(|n| *n == 1),
        "retries never duplicate a document"
    );
    verify_replay(&s).await;
}
both!(flaky_upstreams_end_with_every_order_imported_once, flaky);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_profiles_on_one_subscription_never_exceed_one_call_per_second() {
    // The real limit: 1 call/s per subscription, enforced by the simulator with 429s.
    env(1000, 10_000);
    let s = setup(Kind::Pg, 12, EbpSimConfig::default(), 1000).await;
    let mut second = s.world.profile_file().unwrap();
    second.id = "second-shop".into();
    second.shop.key = Some(s.world.shop.key());
    passerelle::profiles::Profiles::new(s.app.db.clone())
        .import(
            &s.acc,
            second,
            s.app.secrets().unwrap().as_ref(),
            Actor::Cli,
        )
        .await
        .unwrap();
    let p2 = ProfileId::parse("second-shop").unwrap();
    let (a, b) = tokio::join!(import(&s), import_for(&s, &p2));
    assert_eq!(a.1, RunStatus::Succeeded);
    assert_eq!(b.1, RunStatus::Succeeded);
    assert_eq!(a.2.succeeded, b.2.succeeded);
    assert_eq!(
        s.world.ebp.rate_rejections(),
        0,
        "no call was refused for the rate"
    );
    // No two calls closer than the limit (a few ms of network jitter allowed, as EBP's
    // gateway would).
    assert!(
        s.world.ebp.max_calls_in_window(Duration::from_millis(950)) <= 1,
        "min gap {:?}",
        s.world.ebp.min_gap()
    );
    assert_eq!(s.world.ebp.rejected_refresh_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_budget_stops_the_run_and_the_next_run_resumes() {
    env(50, 20);
    let s = setup(Kind::Sqlite, 40, fast_ebp(), 1000).await;
    // Small pages: several batches of ERP calls.
    let mut file = s.world.profile_file().unwrap();
    file.import.as_mut().unwrap().page_size = 5;
    file.shop.key = Some(s.world.shop.key());
    passerelle::profiles::Profiles::new(s.app.db.clone())
        .import(&s.acc, file, s.app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    let (_, status, c1) = import(&s).await;
    assert_eq!(status, RunStatus::Failed);
    let runs = journal::list(&s.app.db, s.acc.as_str(), &Default::default())
        .await
        .unwrap();
    assert!(
        runs[0]
            .message
            .contains("budget journalier d'appels EBP épuisé (20/20)"),
        "{}",
        runs[0].message
    );
    assert!(s.world.ebp.calls().len() <= 20);
    assert!(c1.succeeded > 0, "{c1:?}");
    s.app.projector.catch_up().await.unwrap();
    let known = transferred_orders(&s.app.db, s.acc.as_str(), s.profile.as_str())
        .await
        .unwrap();
    assert_eq!(
        known.len(),
        s.world.ebp.documents().len(),
        "nothing half-written: every ERP document is recorded"
    );
    // Next day (a larger budget here): the next run, in a process started with the new
    // setting (settings are read once, at start-up), takes the rest.
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000");
    let next_day = App::connect(&s.url).await.unwrap();
    let (id, status) = passerelle::commands::run_action(
        &next_day,
        &s.acc,
        s.profile.clone(),
        SyncAction::ImportOrders,
        serde_json::json!({"retry_initial_ms": 50}),
    )
    .await
    .unwrap();
    let c2 = journal::get(&next_day.db, s.acc.as_str(), &id.to_string())
        .await
        .unwrap()
        .unwrap()
        .counts;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c2.ignored, c1.succeeded, "{c2:?}");
    assert!(c2.succeeded > 0);
    let docs = docs_per_order(&s);
    assert!(docs.values().all(|n| *n == 1));
    verify_replay(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_every_two_seconds_with_two_workers_refreshing_never_lose_the_connection() {
    env(100, 10_000);
    let ebp = EbpSimConfig {
        access_ttl: Duration::from_secs(2),
        min_interval: Duration::from_millis(90),
        ..EbpSimConfig::default()
    };
    let s = setup(Kind::Pg, 40, ebp, 1000).await;
    for id in ["second-shop"] {
        let mut f = s.world.profile_file().unwrap();
        f.id = id.into();
        f.import.as_mut().unwrap().page_size = 4;
        f.shop.key = Some(s.world.shop.key());
        passerelle::profiles::Profiles::new(s.app.db.clone())
            .import(&s.acc, f, s.app.secrets().unwrap().as_ref(), Actor::Cli)
            .await
            .unwrap();
    }
    let mut f = s.world.profile_file().unwrap();
    f.import.as_mut().unwrap().page_size = 4;
    f.shop.key = Some(s.world.shop.key());
    passerelle::profiles::Profiles::new(s.app.db.clone())
        .import(&s.acc, f, s.app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    let p2 = ProfileId::parse("second-shop").unwrap();
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(import(&s), import_for(&s, &p2));
    assert!(
        started.elapsed() > Duration::from_secs(4),
        "long enough for tokens to expire"
    );
    assert_eq!((a.1, b.1), (RunStatus::Succeeded, RunStatus::Succeeded));
    assert_eq!(
        s.world.ebp.rejected_refresh_count(),
        0,
        "no reused refresh token"
    );
    let (_, refreshes) = s.world.ebp.token_grants();
    assert!(
        refreshes >= 2,
        "tokens were rotated during the import ({refreshes})"
    );
}

async fn crash(kind: Kind) {
    env(50, 10_000);
    let s = setup(kind, 12, fast_ebp(), 1000).await;
    let run_process = |fault: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"));
        cmd.args(["run", s.profile.as_str(), "import-orders"])
            .env("DATABASE_URL", &s.url)
            .env("PASSERELLE_ACCOUNT", s.acc.as_str())
            .env("PASSERELLE_LEASE_MS", "800")
            // The short first retry `run` used to put in every run's input (a test knob now).
            .env("PASSERELLE_TEST_RETRY_INITIAL_MS", "300");
        match fault {
            Some(f) => cmd.env("PASSERELLE_FAULT", f),
            None => cmd.env_remove("PASSERELLE_FAULT"),
        };
        cmd.output().unwrap()
    };
    // The worker dies right after the ERP import call returned, before its journal entry.
    let out = tokio::task::block_in_place(|| run_process(Some("abort-after:erp_import:1")));
    assert!(!out.status.success(), "aborted");
    let written = s.world.ebp.documents().len();
    assert!(
        written >= 8,
        "the import reached the ERP before the crash ({written})"
    );
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
    let docs = docs_per_order(&s);
    assert_eq!(
        s.world.ebp.documents().len(),
        written,
        "resume imported nothing twice"
    );
    assert!(
        docs.values().all(|n| *n == 1),
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
    a_crash_between_the_erp_write_and_its_record_leaves_one_document_per_order,
    crash
);

async fn isolation(kind: Kind) {
    env(50, 10_000);
    let s = setup(kind, 8, fast_ebp(), 100).await;
    let (_, _, c) = import(&s).await;
    assert!(c.succeeded > 0);
    let other = account("other");
    let profiles = passerelle::profiles::Profiles::new(s.app.db.clone());
    assert!(profiles.get(&other, &s.profile).await.unwrap().is_none());
    assert!(profiles.list(&other).await.unwrap().is_empty());
    let secret = profiles
        .secret(
            &other,
            &s.profile,
            passerelle::profiles::SHOP_KEY,
            s.app.secrets().unwrap().as_ref(),
        )
        .await;
    assert!(
        secret.is_err(),
        "another account cannot read the credentials"
    );
    s.app.projector.catch_up().await.unwrap();
    assert!(
        transferred_orders(&s.app.db, other.as_str(), s.profile.as_str())
            .await
            .unwrap()
            .is_empty()
    );
    let (counters, _, daily) =
        passerelle_projections::orders::quota_view(&s.app.db, other.as_str(), chrono::Utc::now())
            .await
            .unwrap();
    assert!(counters.iter().all(|c| c.bought == 0 && c.used == 0));
    assert!(daily.is_empty());
    // The other account's import of a profile it does not own fails without touching ours.
    let (_, status) = passerelle::commands::run_action(
        &s.app,
        &other,
        s.profile.clone(),
        SyncAction::ImportOrders,
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(status, RunStatus::Failed);
    assert_eq!(docs_per_order(&s).len() as i64, c.succeeded);
    // Credentials are not readable in the database.
    let rows = s
        .app
        .db
        .fetch("SELECT ciphertext FROM credentials", &[])
        .await
        .unwrap();
    for r in rows {
        let text = r[0].as_str().unwrap_or_default();
        assert!(text.starts_with("v1:"));
        assert!(!text.contains(&s.world.shop.key()));
    }
    let events = s
        .app
        .db
        .fetch(
            "SELECT payload::text FROM events WHERE aggregate_type = 'Profile'",
            &[],
        )
        .await
        .unwrap();
    for r in events {
        let text = r[0].as_str().unwrap_or_default();
        assert!(
            !text.contains(&s.world.shop.key()),
            "no credential in events"
        );
        assert!(!text.contains("sim-secret"), "no credential in events");
    }
}
both!(
    tenants_never_see_each_others_profiles_orders_or_quotas,
    isolation
);

async fn repair(kind: Kind) {
    env(50, 10_000);
    let s = setup(kind, 12, fast_ebp(), 100).await;
    // The connections answer, and the configuration for the mappings is read.
    assert_eq!(
        passerelle::orders_cmd::test_connection(&s.app, &s.acc, &s.profile)
            .await
            .unwrap(),
        std::process::ExitCode::SUCCESS
    );
    passerelle::orders_cmd::refresh_config(&s.app, &s.acc, &s.profile)
        .await
        .unwrap();
    let (_, _, c) = import(&s).await;
    // Links lost (here: every order reset by mistake while the documents stay in EBP).
    passerelle::orders_cmd::reset_orders(&s.app, &s.acc, &s.profile, None, true, "erreur")
        .await
        .unwrap();
    let linked = |s: &Setup| {
        let (db, acc, p) = (s.app.db.clone(), s.acc.clone(), s.profile.clone());
        async move {
            transferred_orders(&db, acc.as_str(), p.as_str())
                .await
                .unwrap()
                .into_iter()
                .filter(|o| o.document_number.is_some())
                .count() as i64
        }
    };
    assert_eq!(linked(&s).await, 0);
    passerelle::orders_cmd::repair_keys(&s.app, &s.acc, &s.profile)
        .await
        .unwrap();
    assert_eq!(
        linked(&s).await,
        c.succeeded,
        "every link rebuilt from xx_atoosync_order"
    );
    let numbers: HashMap<String, String> = s
        .world
        .ebp
        .documents()
        .into_iter()
        .map(|d| (d.atoosync_order.unwrap_or_default(), d.number))
        .collect();
    for o in transferred_orders(&s.app.db, s.acc.as_str(), s.profile.as_str())
        .await
        .unwrap()
    {
        assert_eq!(o.document_number.as_ref(), numbers.get(&o.order_id));
    }
    let (_, _, again) = import(&s).await;
    assert_eq!((again.succeeded, again.ignored), (0, c.succeeded));
    verify_replay(&s).await;
}
both!(repair_keys_rebuilds_the_links_from_the_erp, repair);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_quota_and_transferred_orders_of_its_account_only() {
    env(50, 10_000);
    let s = setup(Kind::Sqlite, 8, fast_ebp(), 100).await;
    let (_, _, c) = import(&s).await;
    let app = Arc::new(s.app);
    let access = passerelle::auth::Access::new(app.db.clone());
    let mut tokens = std::collections::HashMap::new();
    for acc in ["acme", "other"] {
        let a = account(acc);
        if access.account(&a).await.unwrap().is_none() {
            access
                .create_account(&a, acc, "Europe/Paris", &Actor::Cli)
                .await
                .unwrap();
        }
        let t = access
            .create_token(
                &a,
                "test",
                vec![passerelle_domain::access::Role::Auditor],
                None,
                &Actor::Cli,
            )
            .await
            .unwrap();
        tokens.insert(acc, format!("Bearer {}", t.token));
    }
    let opts = passerelle::hosting::ServeOptions {
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    };
    let router = passerelle::hosting::router(passerelle::hosting::state(app.clone(), &opts), &opts)
        .into_make_service_with_connect_info::<passerelle::api::PeerAddr>();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, router).await });
    let http = reqwest::Client::new();
    let get = |path: String, acc: &'static str| {
        let (http, auth) = (http.clone(), tokens[acc].clone());
        let url = format!("{base}{path}");
        async move {
            http.get(url)
                .header("authorization", auth)
                .send()
                .await
                .unwrap()
        }
    };
    let q: serde_json::Value = get("/api/v1/quota".into(), "acme")
        .await
        .json()
        .await
        .unwrap();
    let import = q["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["counter"] == "import")
        .unwrap()
        .clone();
    assert_eq!(import["used"], c.succeeded);
    assert_eq!(import["bought"], 100);
    let t: serde_json::Value = get(
        format!("/api/v1/profiles/{}/transferred?limit=500", s.profile),
        "acme",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(t.as_array().unwrap().len() as i64, c.succeeded);
    let bad = get("/api/v1/profiles/NOT%20AN%20ID/transferred".into(), "acme").await;
    assert_eq!(bad.status(), 404);
    // Another account's API sees none of it: the profile is not found there.
    let t = get(
        format!("/api/v1/profiles/{}/transferred", s.profile),
        "other",
    )
    .await;
    assert_eq!(t.status(), 404);
    let q: serde_json::Value = get("/api/v1/quota".into(), "other")
        .await
        .json()
        .await
        .unwrap();
    assert!(q["daily"].as_array().unwrap().is_empty());
}

/// Issue 18: a guest orders (the document goes to the shared guest account), then registers
/// (the same shop customer, no longer a guest) and orders again: the second order gets the
/// customer's own account, and the shop customer never carries the guest account's code —
/// not even when an older version had written it into the note.
async fn guest_then_registered(kind: Kind) {
    use passerelle_simulators::prestashop::{NewAddress, NewCustomer, NewLine, NewOrder};
    env(50, 10_000);
    let s = setup(kind, 0, fast_ebp(), 1000).await;
    let new_order = |customer: u64, address: u64| {
        let mut o = NewOrder::new(
            customer,
            address,
            vec![NewLine::new(
                "COUS-Lin-40",
                "Coussin lin 40x40",
                1,
                rust_decimal::Decimal::new(2490, 2),
                Some(1),
            )],
        );
        o.state_id = 2;
        o
    };
    let (guest, address, first) = s.world.shop.with_shop(|shop| {
        let guest = shop.add_customer(&NewCustomer {
            email: "lea.petit@example.fr".into(),
            firstname: "Léa".into(),
            lastname: "Petit".into(),
            is_guest: true,
            ..Default::default()
        });
        let address = shop.add_address(&NewAddress {
            customer_id: guest,
            firstname: "Léa".into(),
            lastname: "Petit".into(),
            address1: "3 place Bellecour".into(),
            postcode: "69002".into(),
            city: "Lyon".into(),
            country_iso: "FR".into(),
            ..Default::default()
        });
        let first = shop.add_order(&new_order(guest, address));
        (guest, address, first)
    });
    let (_, status, c1) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c1.succeeded, 1, "{c1:?}");
    let doc_of = |order: u64| {
        s.world
            .ebp
            .documents()
            .into_iter()
            .find(|d| d.atoosync_order.as_deref() == Some(order.to_string().as_str()))
            .unwrap()
    };
    assert_eq!(doc_of(first).document.customer_code, "WEBINVITE");
    let note = s.world.shop.customer_note(guest).unwrap_or_default();
    assert!(
        !note.contains("WEBINVITE"),
        "guest code written back: {note}"
    );

    // The guest registers: same shop customer, no longer a guest. An older version wrote the
    // guest account into the note: the link must not be followed.
    let second = s.world.shop.with_shop(|shop| {
        let c = shop.get_mut("customers", guest).unwrap();
        c.insert("is_guest".into(), serde_json::json!("0"));
        c.insert("id_default_group".into(), serde_json::json!("3"));
        c.insert(
            "note".into(),
            serde_json::json!("Code client EBP : WEBINVITE"),
        );
        shop.add_order(&new_order(guest, address))
    });
    let (_, status, c2) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c2.succeeded, 1, "{c2:?}");
    let own = format!("WEB{guest:05}");
    let second_doc = doc_of(second);
    assert_eq!(second_doc.document.customer_code, own);
    assert!(
        s.world.ebp.customers().iter().any(|c| c.code == own),
        "the customer's own account was created"
    );
    let note = s.world.shop.customer_note(guest).unwrap_or_default();
    assert!(note.contains(&format!("Code client EBP : {own}")), "{note}");
    assert!(!note.contains("WEBINVITE"), "{note}");
    assert_erp_totals_are_amounts_paid(&s);
    verify_replay(&s).await;
}
both!(
    a_guest_who_registers_gets_their_own_account_and_never_the_guest_code,
    guest_then_registered
);
