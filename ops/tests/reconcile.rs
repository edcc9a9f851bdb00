//! Issue 17.4 and 17.5 on real SQLite and PostgreSQL, against the PrestaShop and EBP
//! simulators: reconciliation of a seeded world with one missing order, one duplicate, one
//! total mismatch and one deleted document (exactly those four, with their evidence);
//! `--requeue-missing` then an import makes the next reconciliation clean; what-if over 50
//! transferred orders (unchanged settings → no diff; shipping as a line → only the shipping
//! fields and the added line change).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, DemoWorld};
use passerelle::reconcile_cmd::{report_of, ReconcileReport, ReconcileRequest, Source};
use passerelle_domain::orders::reconcile::FindingKind;
use passerelle_domain::orders::DocumentKind;
use passerelle_domain::{AccountId, ProfileId, RunEvent, RunStatus, SyncAction};
use passerelle_projections::orders::transferred_orders;
use passerelle_simulators::ebp::EbpSimConfig;
use passerelle_workflows::engine::RunStore;
use std::time::Duration;

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn env() {
    std::env::set_var("PASSERELLE_MASTER_KEY", KEY);
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "0");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "100000");
    std::env::set_var("PASSERELLE_LEASE_MS", "1500");
}

struct World {
    _db: TestDb,
    app: App,
    world: DemoWorld,
    acc: AccountId,
    profile: ProfileId,
}

/// The demo world with `orders` orders, without its two broken ones (they would be
/// missing in the ERP too, and each test counts its own anomalies).
async fn world(kind: Kind, orders: usize) -> World {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let world = DemoWorld::start(
        orders,
        EbpSimConfig {
            min_interval: Duration::from_millis(0),
            ..EbpSimConfig::default()
        },
    )
    .await
    .unwrap();
    for id in &world.broken {
        world.shop.with_shop(|s| {
            s.remove("orders", *id);
        });
    }
    let acc = account("acme");
    let profile = world.install(&app, &acc).await.unwrap();
    ensure_import_plan(&app, &acc, 10_000).await.unwrap();
    World {
        _db: db,
        app,
        world,
        acc,
        profile,
    }
}

async fn import(w: &World) -> RunStatus {
    let (_, status) = passerelle::commands::run_action(
        &w.app,
        &w.acc,
        w.profile.clone(),
        SyncAction::ImportOrders,
        serde_json::json!({"retry_initial_ms": 20}),
    )
    .await
    .unwrap();
    status
}

async fn reconcile(w: &World, requeue_missing: bool) -> (ReconcileReport, Vec<String>) {
    let input = serde_json::to_value(ReconcileRequest {
        from: Some("2000-01-01".parse().unwrap()),
        to: Some("2100-01-01".parse().unwrap()),
        tolerance: None,
        requeue_missing,
    })
    .unwrap();
    let (run, _) = passerelle::commands::run_quiet(
        &w.app,
        &w.acc,
        w.profile.clone(),
        SyncAction::ReconcileOrders,
        input,
    )
    .await
    .unwrap();
    let events: Vec<RunEvent> = w
        .app
        .store
        .load_run(&w.acc, run)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    report_of(&events).expect("the run recorded its report")
}

fn set_state(w: &World, id: u64, state: &str) {
    w.world.shop.with_shop(|s| {
        let o = s.get_mut("orders", id).unwrap();
        o.insert("current_state".into(), serde_json::Value::from(state));
    });
}

/// The first order of the shop in status 2 (payment accepted, selected by the profile).
fn order_in_state_2(w: &World) -> u64 {
    (1..200)
        .find(|id| w.world.shop.order_state(*id).as_deref() == Some("2"))
        .expect("an order in status 2")
}

/// Imported order documents of distinct web orders other than `but`.
fn order_documents(w: &World, but: u64) -> Vec<passerelle_simulators::ebp::SimDocument> {
    let mut seen = std::collections::BTreeSet::new();
    w.world
        .ebp
        .documents()
        .into_iter()
        .filter(|d| d.document.kind == DocumentKind::Order)
        .filter(|d| {
            d.atoosync_order
                .as_deref()
                .is_some_and(|o| o != but.to_string() && seen.insert(o.to_string()))
        })
        .collect()
}

fn kinds(r: &ReconcileReport) -> Vec<(String, FindingKind)> {
    r.findings
        .iter()
        .map(|f| (f.order_id.clone(), f.kind))
        .collect()
}

async fn four_anomalies_are_found_with_their_evidence(kind: Kind) {
    let w = world(kind, 24).await;
    // Missing: an order of a selected status that the import never saw in that status.
    let missing = order_in_state_2(&w);
    set_state(&w, missing, "6");
    assert_ne!(import(&w).await, RunStatus::Failed);
    let (before, _) = reconcile(&w, false).await;
    assert_eq!(before.source, Source::Live);
    assert_eq!(kinds(&before), vec![], "an agreeing world has no finding");
    set_state(&w, missing, "2");

    let docs = order_documents(&w, missing);
    let (dup, mismatch, deleted) = (&docs[0], &docs[1], &docs[2]);
    let dup_order = dup.atoosync_order.clone().unwrap();
    let second = w
        .world
        .ebp
        .seed_document(dup.document.clone(), &dup.reference, Some(&dup_order));
    let mismatch_order = mismatch.atoosync_order.clone().unwrap();
    w.world.shop.with_shop(|s| {
        let o = s
            .get_mut("orders", mismatch_order.parse().unwrap())
            .unwrap();
        for f in ["total_paid", "total_paid_tax_incl", "total_paid_real"] {
            let v: rust_decimal::Decimal =
                o.get(f).and_then(|v| v.as_str()).unwrap().parse().unwrap();
            o.insert(
                f.into(),
                serde_json::Value::from((v + rust_decimal::Decimal::from(5)).to_string()),
            );
        }
    });
    let deleted_order = deleted.atoosync_order.clone().unwrap();
    assert!(w.world.ebp.delete_document(&deleted.number));

    let calls_before = w.world.ebp.calls().len();
    let (r, requeued) = reconcile(&w, false).await;
    let calls = w.world.ebp.calls().len() - calls_before;
    assert!(requeued.is_empty());
    let mut want = vec![
        (missing.to_string(), FindingKind::MissingInErp),
        (dup_order.clone(), FindingKind::Duplicate),
        (mismatch_order.clone(), FindingKind::TotalMismatch),
        (deleted_order.clone(), FindingKind::DeletedDocument),
    ];
    want.sort_by_key(|(id, k)| (id.parse::<u64>().unwrap(), *k));
    assert_eq!(kinds(&r), want);
    // Evidence: document numbers and amounts.
    let f = |k: FindingKind| r.findings.iter().find(|f| f.kind == k).unwrap();
    let d = f(FindingKind::Duplicate);
    assert_eq!(d.documents.len(), 2);
    assert!(d.documents.contains(&dup.number) && d.documents.contains(&second));
    let m = f(FindingKind::TotalMismatch);
    assert_eq!(m.documents, vec![mismatch.number.clone()]);
    assert_eq!(
        m.shop_total.unwrap() - m.erp_total.unwrap(),
        rust_decimal::Decimal::from(5)
    );
    let del = f(FindingKind::DeletedDocument);
    assert_eq!(del.documents, vec![deleted.number.clone()]);
    assert!(del.evidence.contains("EbpSysDeletedRecord"));
    assert!(f(FindingKind::MissingInErp).documents.is_empty());
    // Batched ERP reads: one per 100 web orders, plus the deletion log (and at most one
    // token refresh).
    assert_eq!(
        r.erp_calls, 2,
        "24 web orders in one read + the deletion log"
    );
    assert!(calls <= 3, "{calls} calls to the simulated EBP");
    // The findings are the run's failed items (the end-of-run notification sees them).
    app_journal_has_failed_items(&w, 4).await;
}

async fn app_journal_has_failed_items(w: &World, n: i64) {
    w.app.projector.catch_up().await.unwrap();
    let runs = passerelle_projections::journal::list(
        &w.app.db,
        w.acc.as_str(),
        &passerelle_projections::journal::JournalFilter {
            profile: None,
            manual_only: false,
            limit: Some(1),
            offset: 0,
        },
    )
    .await
    .unwrap();
    assert_eq!(runs[0].action, "reconcile-orders");
    assert_eq!(runs[0].counts.failed, n);
}

async fn requeue_then_import_makes_the_next_reconcile_clean(kind: Kind) {
    let w = world(kind, 12).await;
    let missing = order_in_state_2(&w);
    set_state(&w, missing, "6");
    assert_ne!(import(&w).await, RunStatus::Failed);
    set_state(&w, missing, "2");
    let gone = order_documents(&w, missing).remove(0);
    let gone_order = gone.atoosync_order.clone().unwrap();
    let docs_before = w.world.ebp.documents().len();
    assert!(w.world.ebp.delete_document(&gone.number));

    let (r, requeued) = reconcile(&w, true).await;
    let mut want = vec![
        (missing.to_string(), FindingKind::MissingInErp),
        (gone_order.clone(), FindingKind::DeletedDocument),
    ];
    want.sort_by_key(|(id, k)| (id.parse::<u64>().unwrap(), *k));
    assert_eq!(kinds(&r), want);
    assert_eq!(requeued, vec![gone_order.clone()]);
    // Nothing deleted in the ERP by the reconciliation.
    assert_eq!(w.world.ebp.documents().len(), docs_before - 1);
    let ledger = transferred_orders(&w.app.db, w.acc.as_str(), w.profile.as_str())
        .await
        .unwrap();
    let reset = ledger.iter().find(|o| o.order_id == gone_order).unwrap();
    assert_eq!(reset.document_number, None);
    assert_eq!(reset.resets, 1);

    assert_ne!(import(&w).await, RunStatus::Failed);
    let (after, _) = reconcile(&w, false).await;
    assert_eq!(
        kinds(&after),
        vec![],
        "clean after the requeue and an import"
    );
    assert_eq!(w.world.ebp.documents().len(), docs_before + 1);
}

async fn what_if_lists_exactly_the_changed_fields(kind: Kind) {
    let w = world(kind, 50).await;
    assert_ne!(import(&w).await, RunStatus::Failed);
    let runs = passerelle::recorded::imports(&w.app.db, w.app.store.as_ref(), &w.acc, &w.profile)
        .await
        .unwrap();
    let ledger = transferred_orders(&w.app.db, w.acc.as_str(), w.profile.as_str())
        .await
        .unwrap();
    let transferred = ledger
        .iter()
        .filter(|o| o.document_number.is_some())
        .count();
    assert!(transferred >= 40, "{transferred} orders transferred");
    let file = passerelle::profiles::Profiles::new(w.app.db.clone())
        .export(&w.acc, &w.profile)
        .await
        .unwrap();
    let same = file.import.clone().unwrap().settings;
    let (from, to) = ("2000-01-01".parse().unwrap(), "2100-01-01".parse().unwrap());

    let r = passerelle::whatif_cmd::what_if(&runs, &ledger, &same, from, to);
    assert_eq!(r.orders_replanned, transferred);
    assert!(r.not_replanned.is_empty(), "{:?}", r.not_replanned);
    assert!(
        r.orders.is_empty(),
        "unchanged settings: {:?}",
        r.orders.first()
    );

    let mut line = same.clone();
    assert!(!line.shipping_as_line);
    line.shipping_as_line = true;
    let r = passerelle::whatif_cmd::what_if(&runs, &ledger, &line, from, to);
    assert_eq!(r.orders_replanned, transferred);
    assert!(!r.orders.is_empty());
    let mut fields = std::collections::BTreeSet::new();
    for o in &r.orders {
        for c in &o.changes {
            // Lines by position: the shipping line is one more line.
            let name = match c.field.find("lines[") {
                Some(_) => "document.lines[n]".to_string(),
                None => c.field.clone(),
            };
            fields.insert(name);
        }
        assert!(
            o.changes
                .iter()
                .any(|c| c.field.starts_with("document.lines[")
                    && c.before.is_null()
                    && c.after.to_string().contains("PORT")),
            "order {}: the shipping line is added",
            o.order_id
        );
    }
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    for f in &fields {
        assert!(
            f.starts_with("document.shipping") || *f == "document.lines[n]",
            "only shipping fields and lines change: {fields:?}"
        );
    }
    // Orders without shipping costs do not change.
    for o in &r.orders {
        let run = runs.iter().find(|x| x.run.to_string() == o.run).unwrap();
        let Some(passerelle_workflows::ports::ShopOrderRead::Ok(order)) = run.order(&o.order_id)
        else {
            panic!("order {} recorded", o.order_id);
        };
        assert!(!order.shipping.amount_tax_excl.is_zero());
    }
}

both!(four_anomalies, four_anomalies_are_found_with_their_evidence);
both!(
    requeue_missing,
    requeue_then_import_makes_the_next_reconcile_clean
);
both!(
    what_if_shipping_line,
    what_if_lists_exactly_the_changed_fields
);
