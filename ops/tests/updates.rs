//! Order updates back to the shop against the PrestaShop and EBP simulators, on SQLite and
//! PostgreSQL: an order walked through order → delivery note → invoice, re-runs that change
//! nothing, deleted and cancelled documents, incremental reads, invoice PDFs.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, DemoWorld};
use passerelle_domain::orders::DocumentKind;
use passerelle_domain::{AccountId, ProfileId, RunEvent, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::orders::order_updates;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{EbpSimConfig, TRACKING_COLUMN};
use passerelle_workflows::engine::RunStore;
use std::collections::HashMap;
use std::time::Duration;

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn env() {
    std::env::set_var("PASSERELLE_MASTER_KEY", KEY);
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "20");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000");
    std::env::set_var("PASSERELLE_LEASE_MS", "1500");
}

struct Setup {
    _db: TestDb,
    app: App,
    world: DemoWorld,
    acc: AccountId,
    profile: ProfileId,
}

async fn setup(kind: Kind, orders: usize) -> Setup {
    let s = setup_without_import(kind, orders).await;
    let (_, status, _) = run(&s, SyncAction::ImportOrders).await;
    assert_eq!(status, RunStatus::Succeeded);
    s
}

async fn setup_without_import(kind: Kind, orders: usize) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let world = DemoWorld::start(
        orders,
        EbpSimConfig {
            min_interval: Duration::from_millis(15),
            ..EbpSimConfig::default()
        },
    )
    .await
    .unwrap();
    let acc = account("acme");
    let profile = world.install(&app, &acc).await.unwrap();
    ensure_import_plan(&app, &acc, 1000).await.unwrap();
    Setup {
        _db: db,
        app,
        world,
        acc,
        profile,
    }
}

async fn run(s: &Setup, action: SyncAction) -> (RunId, RunStatus, journal::Counts) {
    let (id, status) = passerelle::commands::run_action(
        &s.app,
        &s.acc,
        s.profile.clone(),
        action,
        serde_json::json!({"retry_initial_ms": 50}),
    )
    .await
    .unwrap();
    let r = journal::get(&s.app.db, s.acc.as_str(), &id.to_string())
        .await
        .unwrap()
        .unwrap();
    (id, status, r.counts)
}

/// Item key → failure reason of a run.
async fn failures(s: &Setup, run: RunId) -> HashMap<String, String> {
    s.app
        .store
        .load_run(&s.acc, run)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            RunEvent::ItemFailed { item, reason } => Some((item.key, reason)),
            _ => None,
        })
        .collect()
}

/// The imported orders that became ERP orders (CM…): (web order, number).
fn erp_orders(s: &Setup) -> Vec<(String, String)> {
    s.world
        .ebp
        .documents()
        .into_iter()
        .filter(|d| d.document.kind == DocumentKind::Order)
        .map(|d| (d.atoosync_order.unwrap(), d.number))
        .collect()
}

fn delivery_date(s: &Setup, order: u64) -> String {
    let row = s.world.shop.row("orders", order).unwrap();
    row.get("delivery_date")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

async fn verify_replay(s: &Setup) {
    let report = rebuild(&s.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}

async fn walk_through_the_chain(kind: Kind) {
    let s = setup(kind, 16).await;
    let orders = erp_orders(&s);
    assert!(orders.len() >= 3, "{orders:?}");
    let (web, cm) = orders[0].clone();
    let id: u64 = web.parse().unwrap();

    // First run: a full pass; nothing moved in the ERP, nothing goes to the shop.
    let state_before = s.world.shop.order_state(id).unwrap();
    let (_, status, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c.total, 0, "{c:?}");
    assert_eq!(s.world.shop.order_state(id).unwrap(), state_before);

    // Order → delivery note with two parcels and a delivery date.
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let bl = s
        .world
        .ebp
        .transform(
            &cm,
            DocumentKind::DeliveryNote,
            &[(TRACKING_COLUMN, "6A111; 6A222")],
            Some(day),
        )
        .unwrap();
    s.world.ebp.calls_reset();
    let (_, status, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    assert_eq!(s.world.shop.order_state(id).as_deref(), Some("4"));
    assert_eq!(s.world.shop.order_tracking(id).as_deref(), Some("6A111"));
    assert!(s.world.shop.order_note(id).unwrap().contains(&bl));
    assert_eq!(delivery_date(&s, id), "2026-12-03 00:00:00");
    assert!(s
        .world
        .shop
        .emails_sent()
        .iter()
        .any(|(o, e)| *o == id && e == "in_transit:6A111"));
    // Incremental: deletions, the changes, the touched chains — three ERP calls.
    assert_eq!(s.world.ebp.calls().len(), 3, "{:?}", s.world.ebp.calls());

    // A re-run changes nothing.
    let history = s.world.shop.order_history(id);
    let (_, _, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!(c.total, 0, "{c:?}");
    assert_eq!(s.world.shop.order_history(id), history);

    // Delivery note → invoice: forward to "delivered", the number follows.
    let fa = s
        .world
        .ebp
        .transform(&bl, DocumentKind::Invoice, &[], None)
        .unwrap();
    let (_, _, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    assert_eq!(s.world.shop.order_state(id).as_deref(), Some("5"));
    // "Livré" is a delivery state: PrestaShop set the delivery date to the time of the
    // change; the ERP's date was sent again after it (issue 21). One history row per change.
    assert_eq!(delivery_date(&s, id), "2026-12-03 00:00:00");
    let after = s.world.shop.order_history(id);
    assert_eq!(after.len(), history.len() + 1, "{after:?}");
    assert!(s.world.shop.order_note(id).unwrap().contains(&fa));
    assert_eq!(s.world.shop.order_tracking(id).as_deref(), Some("6A111"));
    let (_, _, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!(c.total, 0);

    // What support sees.
    s.app.projector.catch_up().await.unwrap();
    let ups = order_updates(&s.app.db, s.acc.as_str(), s.profile.as_str())
        .await
        .unwrap();
    let u = ups.iter().find(|u| u.order_id == web).unwrap();
    assert_eq!(u.stage.as_deref(), Some("invoice"));
    assert_eq!(u.stage_number.as_deref(), Some(fa.as_str()));
    assert_eq!(u.tracking.as_deref(), Some("6A111"));

    // The invoice cancelled by a credit note: reported on that order, the run goes on.
    let av = s.world.ebp.cancel_invoice(&fa).unwrap();
    let (run_id, status, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.failed), (1, 1), "{c:?}");
    let why = failures(&s, run_id).await;
    assert!(
        why[&web].contains(&av) && why[&web].contains("annulée"),
        "{why:?}"
    );

    // Another order's document deleted: the deletion turns the run into a full pass that
    // reports the order.
    let (web2, cm2) = orders[1].clone();
    assert!(s.world.ebp.delete_document(&cm2));
    let (run_id, status, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!(status, RunStatus::Succeeded);
    let why = failures(&s, run_id).await;
    assert!(why[&web2].contains("introuvable"), "{why:?} {c:?}");
    verify_replay(&s).await;
}

both!(
    an_order_walks_through_order_delivery_note_invoice,
    walk_through_the_chain
);

async fn invoices(kind: Kind) {
    let s = setup(kind, 16).await;
    let orders = erp_orders(&s);
    // Invoices already in the ERP from the import (orders imported as invoices).
    let existing = s
        .world
        .ebp
        .documents()
        .into_iter()
        .filter(|d| d.document.kind == DocumentKind::Invoice)
        .count();
    // A backorder: the order invoiced in two invoices; another order whose PDF is broken.
    let (web, cm) = orders[0].clone();
    let fa1 = s
        .world
        .ebp
        .transform(&cm, DocumentKind::Invoice, &[], None)
        .unwrap();
    let fa2 = s
        .world
        .ebp
        .transform(&cm, DocumentKind::Invoice, &[], None)
        .unwrap();
    let (web_bad, cm_bad) = orders[1].clone();
    let fa_bad = s
        .world
        .ebp
        .transform(&cm_bad, DocumentKind::Invoice, &[], None)
        .unwrap();
    s.world.ebp.break_pdf(&fa_bad);

    let (run_id, status, c) = run(&s, SyncAction::SendInvoices).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c.total as usize, existing + 3, "{c:?}");
    assert_eq!(c.failed, 1, "{c:?}");
    let why = failures(&s, run_id).await;
    assert!(
        why[&format!("{web_bad}/{fa_bad}")].contains("n'est pas un PDF"),
        "{why:?}"
    );
    let id: u64 = web.parse().unwrap();
    // Items run concurrently: the two attachments come in either order.
    let attached: HashMap<String, Vec<u8>> =
        s.world.shop.order_attachments(id).into_iter().collect();
    assert_eq!(attached.len(), 2, "both invoices of the backorder");
    for number in [&fa1, &fa2] {
        assert_eq!(
            attached[&format!("Facture-{number}.pdf")],
            s.world.ebp.invoice_pdf(number),
            "same bytes as the ERP's PDF"
        );
    }
    assert!(s
        .world
        .shop
        .order_attachments(web_bad.parse().unwrap())
        .is_empty());

    // A re-run attaches nothing twice.
    let (_, _, c) = run(&s, SyncAction::SendInvoices).await;
    assert_eq!(c.succeeded, 0, "{c:?}");
    assert_eq!(s.world.shop.order_attachments(id).len(), 2);
    verify_replay(&s).await;
}

both!(invoice_pdfs_are_attached_once_with_the_erp_bytes, invoices);

async fn quotes(kind: Kind) {
    let s = setup_without_import(kind, 30).await;
    // The sample profile maps shop status 10 to an ERP quote.
    let (_, status, c) = run(&s, SyncAction::ImportQuotes).await;
    assert_eq!(status, RunStatus::Succeeded);
    let docs = s.world.ebp.documents();
    assert!(c.succeeded > 0, "{c:?}");
    assert_eq!(docs.len() as i64, c.succeeded);
    assert!(
        docs.iter().all(|d| d.document.kind == DocumentKind::Quote),
        "only quotes: {:?}",
        docs.iter().map(|d| &d.number).collect::<Vec<_>>()
    );
    for d in &docs {
        let id: u64 = d.atoosync_order.clone().unwrap().parse().unwrap();
        assert_eq!(s.world.shop.order_state(id).as_deref(), Some("10"));
    }
    // The orders import then takes the rest and leaves the quotes alone.
    let (_, _, c2) = run(&s, SyncAction::ImportOrders).await;
    assert_eq!(
        s.world
            .ebp
            .documents()
            .iter()
            .filter(|d| d.document.kind == DocumentKind::Quote)
            .count() as i64,
        c.succeeded,
        "no second quote: {c2:?}"
    );
    let (_, _, again) = run(&s, SyncAction::ImportQuotes).await;
    assert_eq!(again.succeeded, 0, "{again:?}");
    verify_replay(&s).await;
}

both!(quote_requests_become_erp_quotes_once, quotes);

async fn shop_tracking_and_reference(kind: Kind) {
    let s = setup(kind, 16).await;
    // Tracking read from the shop (a carrier module filled it) and the order reference
    // replaced by the ERP number.
    let mut file = s.world.profile_file().unwrap();
    let updates = &mut file.import.as_mut().unwrap().updates;
    updates.tracking_from_shop = true;
    updates.tracking_state = Some("4".into());
    updates.replace_reference = true;
    updates.status_by_document.clear();
    updates
        .status_by_document
        .insert(DocumentKind::Invoice, "5".into());
    passerelle::profiles::Profiles::new(s.app.db.clone())
        .import(
            &s.acc,
            file,
            s.app.secrets().unwrap().as_ref(),
            passerelle_domain::Actor::Cli,
        )
        .await
        .unwrap();
    let (web, cm) = erp_orders(&s)[0].clone();
    let id: u64 = web.parse().unwrap();
    let (_, _, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!(c.total, 0, "{c:?}");

    // The carrier module writes a tracking number in the shop; the ERP makes the invoice.
    s.world.shop.with_shop(|shop| {
        let carrier = shop
            .rows("order_carriers")
            .into_iter()
            .find(|r| r.get("id_order").and_then(|v| v.as_str()) == Some(web.as_str()))
            .and_then(|r| r.get("id").and_then(|v| v.as_u64()))
            .unwrap();
        let row = shop.get_mut("order_carriers", carrier).unwrap();
        row.insert("tracking_number".into(), "COLIS42 COLIS43".into());
    });
    let fa = s
        .world
        .ebp
        .transform(&cm, DocumentKind::Invoice, &[], None)
        .unwrap();
    let (_, _, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    // The shop's tracking set the tracking status first, the invoice's status stays last.
    let history = s.world.shop.order_history(id);
    assert_eq!(
        history[history.len() - 2..],
        ["4".to_string(), "5".to_string()]
    );
    assert_eq!(
        s.world.shop.order_tracking(id).as_deref(),
        Some("COLIS42 COLIS43")
    );
    let row = s.world.shop.row("orders", id).unwrap();
    assert_eq!(
        row.get("reference").and_then(|v| v.as_str()),
        Some(fa.as_str())
    );
    let (_, _, c) = run(&s, SyncAction::UpdateOrderStatuses).await;
    assert_eq!(c.total, 0, "{c:?}");
    verify_replay(&s).await;
}

both!(
    tracking_from_the_shop_and_reference_replaced,
    shop_tracking_and_reference
);
