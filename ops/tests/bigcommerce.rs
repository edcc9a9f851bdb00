//! BigCommerce end to end against its simulator and the EBP simulator, on SQLite and
//! PostgreSQL: import-orders (one status per list call, status 0 never imported, guests,
//! a 2-address order as one document with the other address noted, bad orders failed with
//! their reason, nothing new the second time, document number in order metafields),
//! the store's request quota shared with other apps and between two workers through the
//! database gate (0 requests over quota), `204` past the last page, lines paged, stock
//! through absolute inventory adjustments (≤ 2,000 items, 413 halves, 422 per item),
//! 401 without credentials, `replay --verify`, and the conformance of every path, method
//! and query parameter the client sent to the published OpenAPI files.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, install_profile, seed_erp};
use passerelle_adapters::cms::bigcommerce::{
    BigCommerceCatalog, BigCommerceClient, RateGate, Transport,
};
use passerelle_domain::{AccountId, Platform, ProfileId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::bigcommerce::{BigCommerceSim, BigCommerceSimConfig};
use passerelle_simulators::ebp::{EbpSim, EbpSimConfig};
use passerelle_simulators::seed::{Seed, SeedStatus};
use passerelle_workflows::ports::{
    CatalogShop, DateField, OrderQuery, Shop, ShopConfigurationRead, ShopOrderRead, Written,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// The statuses the demo profile imports (Awaiting Fulfillment, Awaiting Shipment,
/// Shipped, Completed, Awaiting Payment).
const SELECTED: [u64; 5] = [11, 9, 2, 10, 7];

fn env() {
    std::env::set_var("PASSERELLE_MASTER_KEY", KEY);
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "40");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000");
    std::env::set_var("PASSERELLE_LEASE_MS", "1500");
}

fn local() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A store without a tight quota (an Enterprise plan) for the tests that are not about it.
fn roomy() -> BigCommerceSimConfig {
    BigCommerceSimConfig {
        quota: 100_000,
        ..BigCommerceSimConfig::default()
    }
}

struct Setup {
    _db: TestDb,
    url: String,
    app: App,
    shop: BigCommerceSim,
    broken: Vec<u64>,
    ebp: EbpSim,
    acc: AccountId,
    profile: ProfileId,
}

/// The BigCommerce demo profile pointing at `shop` and `ebp`.
fn profile_file(shop: &BigCommerceSim, ebp: &EbpSim) -> passerelle::profiles::ProfileFile {
    let template = passerelle::simulate::demo_profile_template(Platform::BigCommerce).unwrap();
    let c = ebp.config();
    let text = template
        .replace("{{SHOP_URL}}", &shop.url())
        .replace("{{SHOP_KEY}}", &shop.token())
        .replace("{{EBP_URL}}", &ebp.url())
        .replace("{{EBP_CLIENT_ID}}", &c.client_id)
        .replace("{{EBP_CLIENT_SECRET}}", &c.client_secret)
        .replace("{{EBP_SUBSCRIPTION_KEY}}", &c.subscription_key)
        .replace("{{EBP_FOLDER}}", &c.folders[0].0);
    toml::from_str(&text).unwrap()
}

async fn setup_with(
    kind: Kind,
    seed: &Seed,
    config: BigCommerceSimConfig,
    adjust: impl FnOnce(&mut passerelle::profiles::ProfileFile),
) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let (shop, broken) = BigCommerceSim::from_seed(seed, config, local())
        .await
        .unwrap();
    let ebp = EbpSim::start(EbpSimConfig {
        min_interval: Duration::from_millis(40),
        ..EbpSimConfig::default()
    })
    .await
    .unwrap();
    seed_erp(&ebp, &Seed::demo(0));
    let acc = account("acme");
    let mut file = profile_file(&shop, &ebp);
    adjust(&mut file);
    let profile = install_profile(&app, &acc, file, &ebp).await.unwrap();
    ensure_import_plan(&app, &acc, 5000).await.unwrap();
    Setup {
        url: db.url.clone(),
        _db: db,
        app,
        shop,
        broken,
        ebp,
        acc,
        profile,
    }
}

async fn import(s: &Setup) -> (passerelle_domain::RunId, RunStatus, journal::Counts) {
    run_counted(&s.app, &s.acc, &s.profile, SyncAction::ImportOrders).await
}

/// Web order number → documents holding it in the simulated ERP.
fn docs_per_order(ebp: &EbpSim) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for d in ebp.documents() {
        *m.entry(d.atoosync_order.unwrap_or_default()).or_insert(0) += 1;
    }
    m
}

/// Ids of the store's orders in the statuses the demo profile imports.
fn selected(shop: &BigCommerceSim) -> BTreeSet<String> {
    shop.orders()
        .iter()
        .filter(|(_, o)| SELECTED.contains(&o.order["status_id"].as_u64().unwrap()))
        .map(|(id, _)| id.to_string())
        .collect()
}

async fn verify_replay(app: &App) {
    let report = rebuild(&app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}

fn document_metafield(shop: &BigCommerceSim, id: u64) -> Option<String> {
    shop.order(id)?
        .metafields
        .iter()
        .find(|m| m["namespace"] == "passerelle" && m["key"] == "erp_document")
        .and_then(|m| m["value"].as_str().map(str::to_string))
}

async fn import_orders_end_to_end(kind: Kind) {
    let s = setup_with(kind, &Seed::demo(40).with_broken(), roomy(), |f| {
        // Even a profile naming status 0 never imports an abandoned checkout.
        let statuses = &mut f.import.as_mut().unwrap().settings.statuses;
        let mut zero = statuses[0].clone();
        zero.state_id = "0".into();
        statuses.push(zero);
    })
    .await;
    let first_selected: u64 = selected(&s.shop).iter().next().unwrap().parse().unwrap();
    let incomplete = s.shop.add_incomplete_order(first_selected).unwrap();
    // A 2-address order: one document, the other address noted.
    let two: u64 = selected(&s.shop)
        .iter()
        .map(|x| x.parse::<u64>().unwrap())
        .find(|id| !s.broken.contains(id) && s.shop.order(*id).unwrap().products.len() >= 2)
        .unwrap();
    assert!(s.shop.add_second_address(two));
    let wanted = selected(&s.shop);

    let (run, status, counts) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded, "{counts:?}");
    let docs = docs_per_order(&s.ebp);
    assert!(
        docs.len() >= 20,
        "at least 20 orders imported: {}",
        docs.len()
    );
    assert!(docs.values().all(|n| *n == 1), "one document per order");
    let outcomes = item_outcomes(&s.app, &s.acc, run).await;
    let seen: BTreeSet<String> = outcomes.keys().cloned().collect();
    assert_eq!(seen, wanted, "every selected order met once, no other");
    assert!(
        !seen.contains(&incomplete.to_string()),
        "status 0 never imported"
    );
    // One list call per selected status (each under 250 orders: a short page ends it),
    // never status 0.
    let calls = s.shop.calls();
    assert_eq!(calls["GET v2 orders"], SELECTED.len() as u64, "{calls:?}");
    // The broken orders fail alone with their reason; the cut answer is named.
    for id in &s.broken {
        let (what, why) = outcomes.get(&id.to_string()).unwrap();
        assert_eq!(*what, "failed", "order {id}: {why}");
        assert!(!why.is_empty());
    }
    assert!(outcomes
        .values()
        .any(|(w, r)| *w == "failed" && r.contains("illisible")));
    // A guest order went to the guest account.
    let guest = s
        .shop
        .orders()
        .into_iter()
        .find(|(id, o)| o.order["customer_id"] == 0 && docs.contains_key(&id.to_string()))
        .unwrap();
    let d = s
        .ebp
        .documents()
        .into_iter()
        .find(|d| d.atoosync_order.as_deref() == Some(guest.0.to_string().as_str()))
        .unwrap();
    assert_eq!(d.document.customer_code, "WEBINVITE");
    // The 2-address order: one document, delivered at the first address, the second noted,
    // both shipping costs in it.
    let d = s
        .ebp
        .documents()
        .into_iter()
        .find(|d| d.atoosync_order.as_deref() == Some(two.to_string().as_str()))
        .unwrap();
    assert!(
        d.document
            .notes
            .iter()
            .any(|n| n.contains("Autre adresse de livraison") && n.contains("3 quai des Chartrons")),
        "{:?}",
        d.document.notes
    );
    assert_ne!(d.document.delivery.address1, "3 quai des Chartrons");
    // A foreign-currency order keeps its currency and the store's rate.
    let usd = s
        .ebp
        .documents()
        .into_iter()
        .find(|d| d.document.currency == "USD")
        .unwrap();
    assert_eq!(
        usd.document.conversion_rate,
        Some(rust_decimal::Decimal::new(1085, 3))
    );
    // Write-backs: the document number in an order metafield on every imported order.
    let with_doc = docs
        .keys()
        .filter(|id| document_metafield(&s.shop, id.parse().unwrap()).is_some())
        .count();
    assert_eq!(
        with_doc,
        docs.len(),
        "every imported order carries its document"
    );
    let metafields: usize = s.shop.orders().values().map(|o| o.metafields.len()).sum();

    // The second run imports nothing new and writes nothing twice.
    let (_, status, counts) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(counts.succeeded, 0, "{counts:?}");
    assert_eq!(
        s.ebp.documents().len(),
        docs.len(),
        "nothing new in the ERP"
    );
    let again: usize = s.shop.orders().values().map(|o| o.metafields.len()).sum();
    assert_eq!(again, metafields);
    assert_eq!(s.shop.over_quota(), 0);
    verify_replay(&s.app).await;
}
both!(import_orders_from_bigcommerce, import_orders_end_to_end);

async fn killed_worker(kind: Kind) {
    let s = setup_with(kind, &Seed::demo(24), roomy(), |_| {}).await;
    let run_process = |fault: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"));
        cmd.args(["run", s.profile.as_str(), "import-orders"])
            .env("DATABASE_URL", &s.url)
            .env("PASSERELLE_ACCOUNT", s.acc.as_str())
            .env("PASSERELLE_LEASE_MS", "800")
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
    let written = s.ebp.documents().len();
    assert!(
        written >= 5,
        "the import reached the ERP before the crash ({written})"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let out = tokio::task::block_in_place(|| run_process(None));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        s.ebp.documents().len(),
        written,
        "resume imported nothing twice"
    );
    assert!(
        docs_per_order(&s.ebp).values().all(|n| *n == 1),
        "one document per order"
    );
    verify_replay(&s.app).await;
}
both!(
    a_worker_killed_mid_import_leaves_one_document_per_order,
    killed_worker
);

/// A client of `sim` paced by the gate of `db` (or none).
fn client(sim: &BigCommerceSim, gate: Option<RateGate>) -> BigCommerceClient {
    BigCommerceClient::new(Transport::new(&sim.url(), &sim.token(), gate).unwrap())
}

/// Reads every order of `q` through the port (keyset pages of `limit`).
async fn read_all(c: &BigCommerceClient, q: &OrderQuery, limit: u32) -> Vec<ShopOrderRead> {
    let mut out: Vec<ShopOrderRead> = Vec::new();
    loop {
        let after = out.last().map(|o| o.id().to_string());
        let page = c.orders_page(q, after.as_deref(), limit).await.unwrap();
        out.extend(page.orders);
        if !page.has_more {
            return out;
        }
    }
}

async fn quota_shared_with_other_apps(kind: Kind) {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let mut seed = Seed::demo(6);
    for o in &mut seed.orders {
        o.status = SeedStatus::PaymentAccepted;
    }
    let (sim, _) = BigCommerceSim::from_seed(&seed, BigCommerceSimConfig::default(), local())
        .await
        .unwrap();
    // A store whose other apps spend 17 of the 20 requests of every 1-second window
    // (the shape of 150 per 30 s, scaled down so the test takes seconds).
    sim.set_quota(20, Duration::from_secs(1));
    sim.set_other_apps(17);
    let q = OrderQuery {
        states: vec!["11".into()],
        date_field: DateField::Updated,
        ..OrderQuery::default()
    };
    // Two workers sharing the store's gate through the database.
    let a = client(&sim, Some(RateGate::new(app.db.clone())));
    let b = client(&sim, Some(RateGate::new(app.db.clone())));
    let started = std::time::Instant::now();
    let (ra, rb) = tokio::join!(read_all(&a, &q, 3), read_all(&b, &q, 3));
    let elapsed = started.elapsed();
    assert_eq!(ra.len(), 6);
    assert_eq!(rb.len(), 6);
    assert!(ra
        .iter()
        .chain(&rb)
        .all(|o| matches!(o, ShopOrderRead::Ok(_))));
    // 2 × (1 list + 6 × 3 sub-resources) = 38 requests at 3 per second.
    assert_eq!(sim.served(), 38);
    assert_eq!(sim.over_quota(), 0, "no request over the store's quota");
    assert!(
        elapsed >= Duration::from_secs(10),
        "the calls waited for the windows: {elapsed:?}"
    );
    // Without the gate the same reads meet 429s, and wait them out.
    let c = client(&sim, None);
    let rc = read_all(&c, &q, 6).await;
    assert_eq!(rc.len(), 6);
    assert!(sim.over_quota() > 0, "the simulator refuses over quota");
}
both!(
    the_store_quota_is_shared_with_other_apps_and_workers,
    quota_shared_with_other_apps
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_204_past_the_last_page_ends_paging_and_long_orders_are_paged() {
    let mut seed = Seed::demo(1);
    seed.orders[0].status = SeedStatus::PaymentAccepted;
    let (sim, _) = BigCommerceSim::from_seed(&seed, roomy(), local())
        .await
        .unwrap();
    let first = passerelle_simulators::bigcommerce::FIRST_ORDER_ID;
    sim.clone_orders(first, 249);
    // One order of 301 lines: its products come in two pages (250 + 51).
    assert!(sim.add_lines(first, 300));
    let c = client(&sim, None);
    let q = OrderQuery {
        states: vec!["11".into()],
        ..OrderQuery::default()
    };
    let all = read_all(&c, &q, 100).await;
    assert_eq!(all.len(), 250);
    // 250 orders = one full page; the second page is a 204 with no body: paging ends.
    assert_eq!(sim.calls()["GET v2 orders"], 2);
    let ShopOrderRead::Ok(big) = &all[0] else {
        panic!("{:?}", all[0]);
    };
    let lines = sim.order(first).unwrap().products.len();
    assert!(lines > 300);
    assert_eq!(big.lines.len(), lines);
    // A raw call past the end: 204, no body.
    let r = reqwest::Client::new()
        .get(format!(
            "{}/v2/orders?status_id=11&page=9&limit=250",
            sim.url()
        ))
        .header("X-Auth-Token", sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    // A list of statuses in one call is refused by the store (one integer only).
    let r = reqwest::Client::new()
        .get(format!("{}/v2/orders?status_id=11,9", sim.url()))
        .header("X-Auth-Token", sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

/// A store with `n` inventory items `ART-0001`… at stock 1.
async fn stock_store(n: usize) -> (BigCommerceSim, BigCommerceCatalog, Vec<(String, i64)>) {
    let sim = BigCommerceSim::start_empty(roomy()).await.unwrap();
    let mut wanted = Vec::new();
    for i in 1..=n {
        let sku = format!("ART-{i:04}");
        sim.add_item(&sku, 1);
        wanted.push((sku, 10 + i as i64));
    }
    let catalog = BigCommerceCatalog::new(client(&sim, None));
    (sim, catalog, wanted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_update_goes_out_in_adjustments_of_at_most_2000_items() {
    let (sim, catalog, wanted) = stock_store(4500).await;
    let written = catalog.set_stock(&wanted, 10_000).await.unwrap();
    assert_eq!(written.len(), 4500);
    assert!(written
        .iter()
        .all(|(_, w)| matches!(w, Written::Updated(_))));
    assert_eq!(sim.inventory_batches(), vec![2000, 2000, 500]);
    for (sku, q) in &wanted {
        assert_eq!(sim.stock(sku), Some(*q));
    }
    // Again: nothing differs, nothing is sent.
    let again = catalog.set_stock(&wanted, 10_000).await.unwrap();
    assert!(again
        .iter()
        .all(|(_, w)| matches!(w, Written::Unchanged(_))));
    assert_eq!(sim.inventory_batches().len(), 3);
    // Above the cap the store answers 413.
    let t = Transport::new(&sim.url(), &sim.token(), None).unwrap();
    let items: Vec<Value> = (0..2001)
        .map(|i| serde_json::json!({"location_id": 1, "sku": format!("ART-{:04}", i % 4500 + 1), "quantity": 1}))
        .collect();
    let e = t
        .call(
            reqwest::Method::PUT,
            "v3/inventory/adjustments/absolute",
            &[],
            Some(&serde_json::json!({"items": items})),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 413"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_422_fails_only_the_items_it_names_and_the_rest_is_sent_again() {
    let (sim, catalog, wanted) = stock_store(150).await;
    sim.fail_item("ART-0042");
    let mut with_unknown = wanted.clone();
    with_unknown.push(("NOPE-1".into(), 3));
    let written: BTreeMap<String, Written> = catalog
        .set_stock(&with_unknown, 100)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(matches!(&written["ART-0042"], Written::Refused(m) if m.contains("ART-0042")));
    assert_eq!(written["NOPE-1"], Written::Missing);
    let updated = written
        .values()
        .filter(|w| matches!(w, Written::Updated(_)))
        .count();
    assert_eq!(updated, 149);
    assert_eq!(sim.stock("ART-0042"), Some(1));
    assert_eq!(sim.stock("ART-0043"), Some(53));
    // Batches: 100 (refused whole, 422), its 99 others again, then the last 50.
    assert_eq!(sim.inventory_batches(), vec![100, 99, 50]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_credentials_is_401_as_bigcommerce_answers() {
    let sim = BigCommerceSim::start_empty(BigCommerceSimConfig::default())
        .await
        .unwrap();
    let r = reqwest::get(format!("{}/v2/orders", sim.url()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b[0]["status"], 401, "v2 errors are an array: {b}");
    let r = reqwest::get(format!("{}/v3/inventory/items", sim.url()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["status"], 401, "v3 errors are an object: {b}");
    // A wrong token: permanent, with the store's message; a missing order: 404.
    let bad = Transport::new(&sim.url(), "nope", None).unwrap();
    let e = bad.get("v2/orders", &[]).await.unwrap_err();
    assert!(
        matches!(e, passerelle_workflows::engine::StepError::Permanent(_)),
        "{e}"
    );
    let t = Transport::new(&sim.url(), &sim.token(), None).unwrap();
    let e = t.get("v2/orders/999999", &[]).await.unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
    // The rate headers are on every authenticated answer.
    let r = reqwest::Client::new()
        .get(format!("{}/v2/order_statuses", sim.url()))
        .header("X-Auth-Token", sim.token())
        .send()
        .await
        .unwrap();
    for h in [
        "x-rate-limit-requests-left",
        "x-rate-limit-time-reset-ms",
        "x-rate-limit-requests-quota",
        "x-rate-limit-time-window-ms",
    ] {
        assert!(r.headers().contains_key(h), "{h}");
    }
    assert_eq!(r.headers()["x-rate-limit-requests-quota"], "150");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_write_back_tracking_and_configuration_reads() {
    let (sim, _) = BigCommerceSim::from_seed(&Seed::demo(12), roomy(), local())
        .await
        .unwrap();
    let c = client(&sim, None);
    let id = passerelle_simulators::bigcommerce::FIRST_ORDER_ID + 1;
    c.set_order_state(&id.to_string(), "2", false)
        .await
        .unwrap();
    assert_eq!(sim.order(id).unwrap().order["status_id"], 2);
    assert_eq!(sim.order(id).unwrap().order["status"], "Shipped");
    c.set_tracking(&id.to_string(), "6A0001", false)
        .await
        .unwrap();
    c.set_tracking(&id.to_string(), "6A0001", false)
        .await
        .unwrap();
    assert_eq!(sim.order(id).unwrap().shipments.len(), 1, "never twice");
    let t = c.tracking_numbers(&[id.to_string()]).await.unwrap();
    assert_eq!(t[&id.to_string()], "6A0001");
    c.set_order_document_number(&id.to_string(), "BC000123")
        .await
        .unwrap();
    c.set_order_document_number(&id.to_string(), "BC000123")
        .await
        .unwrap();
    assert_eq!(sim.order(id).unwrap().metafields.len(), 1);
    c.set_customer_erp_code("3", "CL00099").await.unwrap();
    assert_eq!(sim.customer_metafields(3)[0]["value"], "CL00099");
    assert!(c
        .set_order_state(&id.to_string(), "abc", false)
        .await
        .is_err());
    let conf = c.read_configuration().await.unwrap();
    assert_eq!(conf.statuses.len(), 15);
    assert!(conf.currencies.iter().any(|x| x.iso_code == "USD"));
    assert!(conf.payment_methods.iter().any(|p| p.id == "Cheque"));
    assert!(conf.carriers.iter().any(|p| p.id == "Colissimo"));
    c.test_connection().await.unwrap();
}

// ---------------------------------------------------------------------------
// Conformance to the published OpenAPI files (skipped when they are absent)
// ---------------------------------------------------------------------------

fn spec(name: &str) -> Option<Value> {
    let dir =
        std::env::var("PASSERELLE_SPECS").unwrap_or_else(|_| "/work/shared/reference/specs".into());
    let text = std::fs::read_to_string(format!("{dir}/bigcommerce/{name}")).ok()?;
    serde_yaml::from_str(&text).ok()
}

/// The spec file describing a simulator route (`"v2 orders/{id}/taxes"`).
fn spec_file(version: &str, route: &str) -> &'static str {
    match (version, route.split('/').next().unwrap_or("")) {
        ("v2", "currencies") => "currencies.v2.yml",
        ("v2", _) => "orders.v2.oas2.yml",
        ("v3", "orders") => "orders.v3.yml",
        ("v3", "customers") => "customers.v3.yml",
        ("v3", "inventory") => "inventory.v3.yml",
        _ => "absent",
    }
}

/// The path item of `spec` matching a route with `{id}` segments.
fn path_item<'a>(spec: &'a Value, route: &str) -> Option<&'a Value> {
    let want: Vec<&str> = route.split('/').collect();
    spec["paths"].as_object()?.iter().find_map(|(k, v)| {
        let segs: Vec<&str> = k.trim_start_matches('/').split('/').collect();
        (segs.len() == want.len()
            && segs
                .iter()
                .zip(&want)
                .all(|(a, b)| a == b || (a.starts_with('{') && *b == "{id}")))
        .then_some(v)
    })
}

/// The names of the parameters of a path item and its operation (`$ref`s resolved).
fn parameter_names(spec: &Value, item: &Value, op: &Value) -> BTreeSet<String> {
    item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(op["parameters"].as_array().into_iter().flatten())
        .filter_map(|p| {
            let p = match p["$ref"].as_str() {
                Some(r) => &spec["components"]["parameters"][r.rsplit('/').next()?],
                None => p,
            };
            p["name"].as_str().map(str::to_string)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_the_client_is_in_the_published_specs() {
    let files = [
        "orders.v2.oas2.yml",
        "orders.v3.yml",
        "customers.v3.yml",
        "inventory.v3.yml",
        "currencies.v2.yml",
    ];
    let specs: HashMap<&str, Value> = files.iter().filter_map(|f| Some((*f, spec(f)?))).collect();
    if specs.len() < files.len() {
        eprintln!("skipped: spec absent");
        return;
    }
    // Everything the client sends: an import with its write-backs, stock, tracking, the
    // configuration reads.
    env();
    let s = setup_with(Kind::Sqlite, &Seed::demo(30).with_broken(), roomy(), |_| {}).await;
    let (_, status, _) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    let c = client(&s.shop, None);
    let catalog = BigCommerceCatalog::new(c.clone());
    catalog
        .set_stock(&[("COUS-Lin-40".into(), 3), ("NOPE".into(), 1)], 100)
        .await
        .unwrap();
    let id = passerelle_simulators::bigcommerce::FIRST_ORDER_ID + 2;
    c.set_order_state(&id.to_string(), "2", false)
        .await
        .unwrap();
    c.set_tracking(&id.to_string(), "6A0002", false)
        .await
        .unwrap();
    c.tracking_numbers(&[id.to_string()]).await.unwrap();
    c.set_delivery_date(
        &id.to_string(),
        chrono::NaiveDate::from_ymd_opt(2025, 2, 3).unwrap(),
    )
    .await
    .unwrap();
    c.read_configuration().await.unwrap();

    let mut checked = 0;
    for (key, names) in s.shop.params() {
        let mut parts = key.splitn(3, ' ');
        let (method, version, route) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let file = spec_file(version, route);
        let spec = specs
            .get(file)
            .unwrap_or_else(|| panic!("{key}: no spec file for it"));
        let item = path_item(spec, route).unwrap_or_else(|| panic!("{key}: path not in {file}"));
        let op = &item[method.to_ascii_lowercase()];
        assert!(op.is_object(), "{key}: method not in {file}");
        let declared = parameter_names(spec, item, op);
        for n in names {
            assert!(
                declared.contains(&n),
                "{key}: query parameter « {n} » not declared in {file} ({declared:?})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "parameters checked: {checked}");
    assert!(
        s.shop.calls().len() >= 12,
        "routes exercised: {:?}",
        s.shop.calls()
    );
}

/// Figures (run with `--run-ignored only`): 10,000 orders read through the port at zero
/// latency (orders/s, store calls per 1,000 orders) and a 20,000-article stock update at
/// the real Standard quota (150 requests / 30 s) through the database gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures, not a check"]
async fn figures_10000_orders_and_20000_articles() {
    env();
    let db = fresh(Kind::Sqlite).await;
    let app = db.app().await;
    let mut seed = Seed::demo(1);
    seed.orders[0].status = SeedStatus::PaymentAccepted;
    let (sim, _) = BigCommerceSim::from_seed(&seed, roomy(), local())
        .await
        .unwrap();
    let first = passerelle_simulators::bigcommerce::FIRST_ORDER_ID;
    sim.clone_orders(first, 9_999);
    let c = client(&sim, Some(RateGate::new(app.db.clone())));
    let q = OrderQuery {
        states: vec!["11".into()],
        ..OrderQuery::default()
    };
    let started = std::time::Instant::now();
    let all = read_all(&c, &q, 100).await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(all.len(), 10_000);
    let calls = sim.total_calls();
    eprintln!(
        "FIGURES orders: 10000 read in {secs:.1} s = {:.0} orders/s; {calls} store calls = {:.1} per 1,000 orders",
        10_000.0 / secs,
        calls as f64 / 10.0
    );

    let sim = BigCommerceSim::start_empty(BigCommerceSimConfig::default())
        .await
        .unwrap();
    let mut wanted = Vec::new();
    for i in 1..=20_000 {
        let sku = format!("ART-{i:05}");
        sim.add_item(&sku, 1);
        wanted.push((sku, 5));
    }
    sim.set_other_apps(0);
    let catalog = BigCommerceCatalog::new(client(&sim, Some(RateGate::new(app.db.clone()))));
    let started = std::time::Instant::now();
    let w = catalog.set_stock(&wanted, 2000).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(w.iter().all(|(_, x)| matches!(x, Written::Updated(_))));
    assert_eq!(sim.over_quota(), 0);
    let calls = sim.total_calls();
    eprintln!(
        "FIGURES stock: 20000 articles in {secs:.1} s, {calls} calls ({:?} adjustments), theoretical minimum at 150/30 s: {:.1} s",
        sim.inventory_batches().len(),
        ((calls as f64 / 150.0).ceil() - 1.0).max(0.0) * 30.0
    );
}
