//! Wix end to end against its simulator and the EBP simulator, on SQLite and PostgreSQL:
//! import-orders (guests, the malformed order failed alone with its reason, nothing new the
//! second time, the document number as an order activity), the missing site id (428 → a
//! configuration error, `profile test-connection` exit 2), a site on Catalog V1 refused,
//! cursor paging ≤ 100 with the Wix query language, write-backs (status, fulfilment,
//! tracking), stock through bulk inventory updates (≤ 1,000 items, one re-read and retry
//! on a revision conflict, then that item fails alone), 200 requests per minute with two
//! workers sharing the gate, and every path and method the client calls checked against
//! `specs/wix/wix-endpoints.json` (skipped when the spec is absent).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, install_profile, seed_erp};
use passerelle_adapters::cms::wix::{self, RateLimit};
use passerelle_domain::{AccountId, Platform, ProfileId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{EbpSim, EbpSimConfig};
use passerelle_simulators::seed::Seed;
use passerelle_simulators::wix::{WixShop, WixSim, WixSimConfig};
use passerelle_workflows::ports::{DateField, OrderQuery, ShopConnection, ShopOrderRead, Written};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// A pace for tests that are not about the rate limit (the simulator is set likewise).
const FAST: RateLimit = RateLimit {
    limit: 100_000,
    window: Duration::from_secs(60),
    burst: 1000,
};

fn env() {
    std::env::set_var("PASSERELLE_MASTER_KEY", KEY);
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "40");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000");
    std::env::set_var("PASSERELLE_LEASE_MS", "1500");
    // The runs of these tests are not about the 200 per minute (tested apart below).
    std::env::set_var("PASSERELLE_WIX_REQUESTS_PER_MINUTE", "100000");
}

fn addr() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

fn fast_sim() -> WixSimConfig {
    WixSimConfig {
        rate_limit: 100_000,
        ..WixSimConfig::default()
    }
}

struct Setup {
    _db: TestDb,
    url: String,
    app: App,
    shop: WixSim,
    broken: Vec<String>,
    ebp: EbpSim,
    acc: AccountId,
    profile: ProfileId,
}

/// The Wix demo profile pointing at `shop` (with `key`) and `ebp`.
fn profile_file(shop: &WixSim, key: &str, ebp: &EbpSim) -> passerelle::profiles::ProfileFile {
    let template = passerelle::simulate::demo_profile_template(Platform::Wix).unwrap();
    let c = ebp.config();
    let text = template
        .replace("{{SHOP_URL}}", &shop.url())
        .replace("{{SHOP_KEY}}", key)
        .replace("{{EBP_URL}}", &ebp.url())
        .replace("{{EBP_CLIENT_ID}}", &c.client_id)
        .replace("{{EBP_CLIENT_SECRET}}", &c.client_secret)
        .replace("{{EBP_SUBSCRIPTION_KEY}}", &c.subscription_key)
        .replace("{{EBP_FOLDER}}", &c.folders[0].0);
    toml::from_str(&text).unwrap()
}

async fn setup_with(kind: Kind, seed: &Seed, key: Option<&str>) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let (shop, broken) = WixSim::from_seed(seed, fast_sim(), addr()).await.unwrap();
    let ebp = EbpSim::start(EbpSimConfig {
        min_interval: Duration::from_millis(40),
        ..EbpSimConfig::default()
    })
    .await
    .unwrap();
    seed_erp(&ebp, &Seed::demo(0));
    let acc = account("acme");
    let key = key
        .map(str::to_string)
        .unwrap_or_else(|| shop.credentials());
    let file = profile_file(&shop, &key, &ebp);
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

/// Web order → documents holding it in the simulated ERP.
fn docs_per_order(ebp: &EbpSim) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for d in ebp.documents() {
        *m.entry(d.atoosync_order.unwrap_or_default()).or_insert(0) += 1;
    }
    m
}

/// The status this client maps an order on (CANCELED, FULFILLED, else the payment one).
fn state(o: &Value) -> String {
    wix::model::state_of(o)
}

/// Ids of the site's orders in the statuses the demo profile imports.
fn selected(shop: &WixShop) -> BTreeSet<String> {
    shop.orders
        .iter()
        .filter(|(_, o)| ["PAID", "FULFILLED", "PENDING"].contains(&state(o).as_str()))
        .map(|(id, _)| wix::compact_id(id))
        .collect()
}

fn document_comments(o: &Value) -> usize {
    o["activities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            a["merchantComment"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Document EBP : "))
        })
        .count()
}

async fn verify_replay(app: &App) {
    let report = rebuild(&app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}

async fn import_orders_end_to_end(kind: Kind) {
    let s = setup_with(kind, &Seed::demo(40).with_broken(), None).await;
    let before = s.shop.shop();
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
    assert_eq!(
        seen,
        selected(&before),
        "every selected order met once, no other"
    );
    // The two broken orders fail with their reason, the malformed one alone.
    for id in &s.broken {
        let (what, why) = outcomes.get(&wix::compact_id(id)).unwrap();
        assert_eq!(*what, "failed", "order {id}: {why}");
        assert!(!why.is_empty());
    }
    assert!(outcomes
        .values()
        .any(|(w, r)| *w == "failed" && r.contains("montant illisible")));
    // A guest order (no memberId) went to the guest account.
    let guest = before
        .orders
        .values()
        .find(|o| {
            o["buyerInfo"].get("memberId").is_none()
                && docs.contains_key(&wix::compact_id(o["id"].as_str().unwrap()))
        })
        .unwrap();
    let d = s
        .ebp
        .documents()
        .into_iter()
        .find(|d| d.atoosync_order == Some(wix::compact_id(guest["id"].as_str().unwrap())))
        .unwrap();
    assert_eq!(d.document.customer_code, "WEBINVITE");
    // Write-back: the document number as one merchant comment per imported order.
    let after = s.shop.shop();
    let with_doc: usize = after.orders.values().map(document_comments).sum();
    assert_eq!(with_doc, docs.len(), "one activity per imported order");

    // The second run imports nothing new and writes nothing twice.
    let (_, status, counts) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(counts.succeeded, 0, "{counts:?}");
    assert_eq!(
        s.ebp.documents().len(),
        docs.len(),
        "nothing new in the ERP"
    );
    let again: usize = s.shop.shop().orders.values().map(document_comments).sum();
    assert_eq!(again, with_doc);
    verify_replay(&s.app).await;
}
both!(import_orders_from_wix, import_orders_end_to_end);

/// The client of `sim` with `credentials`, its gate in `app`'s database.
fn connection(app: &App, sim: &WixSim, credentials: &str, limit: RateLimit) -> ShopConnection {
    wix::connect_with(&sim.url(), credentials, &app.db, limit).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_401_without_site_id_428_and_a_configuration_error() {
    env();
    let db = fresh(Kind::Sqlite).await;
    let app = db.app().await;
    let (sim, _) = WixSim::from_seed(&Seed::demo(3), fast_sim(), addr())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/ecom/v1/orders/search", sim.url());
    let r = http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .post(&url)
        .header("Authorization", sim.api_key())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 428);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["details"]["applicationError"]["code"],
        "MISSING_METASITE_ID"
    );
    // The client with the key alone: Wix's 428 becomes a configuration error saying what
    // to write.
    let c = connection(&app, &sim, &sim.api_key(), FAST);
    let e = c
        .configuration()
        .unwrap()
        .test_connection()
        .await
        .unwrap_err();
    assert!(e.is_configuration(), "{e}");
    assert!(e.to_string().contains("SITE_ID:CLÉ_API"), "{e}");
    // With it: fine.
    let c = connection(&app, &sim, &sim.credentials(), FAST);
    c.configuration().unwrap().test_connection().await.unwrap();
}

async fn test_connection_exit_codes(kind: Kind) {
    let seed = Seed::demo(3);
    // A profile whose key lacks the site id.
    let s = setup_with(kind, &seed, Some(passerelle_simulators::wix::DEMO_API_KEY)).await;
    let run = |profile: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["profile", "test-connection", profile])
            .env("DATABASE_URL", &s.url)
            .env("PASSERELLE_ACCOUNT", s.acc.as_str())
            .output()
            .unwrap()
    };
    let out = tokio::task::block_in_place(|| run(s.profile.as_str()));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("identifiant de site Wix manquant"), "{text}");

    // A site still on Catalog V1, with a full key: refused with what to do, exit 2.
    let s2 = setup_with(kind, &seed, None).await;
    s2.shop.set_catalog_v1(true);
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["profile", "test-connection", s2.profile.as_str()])
            .env("DATABASE_URL", &s2.url)
            .env("PASSERELLE_ACCOUNT", s2.acc.as_str())
            .output()
            .unwrap()
    });
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("catalogue V1"), "{text}");
    // Back on V3: OK.
    s2.shop.set_catalog_v1(false);
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["profile", "test-connection", s2.profile.as_str()])
            .env("DATABASE_URL", &s2.url)
            .env("PASSERELLE_ACCOUNT", s2.acc.as_str())
            .output()
            .unwrap()
    });
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("Boutique : OK") || text.contains("Shop : OK"),
        "{text}"
    );
}
both!(
    test_connection_refuses_a_missing_site_id_and_a_v1_catalog,
    test_connection_exit_codes
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_searched_with_cursor_paging_of_at_most_100_and_the_query_language() {
    env();
    let db = fresh(Kind::Sqlite).await;
    let app = db.app().await;
    let mut seed = Seed::demo(1);
    seed.orders[0].status = passerelle_simulators::seed::SeedStatus::PaymentAccepted;
    let (sim, _) = WixSim::from_seed(&seed, fast_sim(), addr()).await.unwrap();
    sim.clone_orders(249);
    // The simulator refuses a page above 100, as Wix does.
    let r = reqwest::Client::new()
        .post(format!("{}/ecom/v1/orders/search", sim.url()))
        .header("Authorization", sim.api_key())
        .header("wix-site-id", sim.site_id())
        .json(&json!({"search": {"cursorPaging": {"limit": 101}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["details"]["validationError"]["fieldViolations"].is_array());

    let searches = |sim: &WixSim| sim.calls().get("POST /ecom/v1/orders/search").copied();
    let before = searches(&sim).unwrap_or(0);
    let c = connection(&app, &sim, &sim.credentials(), FAST);
    let shop = c.orders().unwrap();
    let q = OrderQuery {
        states: vec!["PAID".into()],
        ..OrderQuery::default()
    };
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = shop.orders_page(&q, after.as_deref(), 60).await.unwrap();
        ids.extend(page.orders.iter().map(|o| o.id().to_string()));
        after = ids.last().cloned();
        if !page.has_more {
            break;
        }
    }
    assert_eq!(ids.len(), 250);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 250, "each once");
    assert_eq!(
        searches(&sim),
        Some(before + 3),
        "250 orders in three pages of at most 100"
    );
    // The query language: a window on updatedDate and the payment status.
    let from = chrono::DateTime::parse_from_rfc3339("2025-01-06T09:02:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let q = OrderQuery {
        states: vec!["PAID".into()],
        from: Some(from),
        date_field: DateField::Updated,
        ..OrderQuery::default()
    };
    let page = shop.orders_page(&q, None, 1000).await.unwrap();
    assert!(
        !page.orders.is_empty() && page.orders.len() < 250,
        "{}",
        page.orders.len()
    );
    for o in &page.orders {
        let ShopOrderRead::Ok(o) = o else {
            panic!("{o:?}")
        };
        assert!(o.updated_at >= from);
        assert_eq!(o.state_id, "PAID");
    }
    let q = OrderQuery {
        states: vec!["NOT_PAID".into()],
        ..OrderQuery::default()
    };
    assert!(shop
        .orders_page(&q, None, 100)
        .await
        .unwrap()
        .orders
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_backs_are_visible_in_the_simulator() {
    env();
    let db = fresh(Kind::Sqlite).await;
    let app = db.app().await;
    let (sim, _) = WixSim::from_seed(&Seed::demo(12), fast_sim(), addr())
        .await
        .unwrap();
    let c = connection(&app, &sim, &sim.credentials(), FAST);
    let shop = c.orders().unwrap();
    let orders = sim.shop().orders;
    let paid: Vec<String> = orders
        .iter()
        .filter(|(_, o)| state(o) == "PAID")
        .map(|(id, _)| id.clone())
        .collect();
    let (a, b, d) = (&paid[0], &paid[1], &paid[2]);
    // The document number: one merchant comment, however often it is sent.
    shop.set_order_document_number(a, "CM00042").await.unwrap();
    shop.set_order_document_number(a, "CM00042").await.unwrap();
    assert_eq!(document_comments(&sim.order(a).unwrap()), 1);
    // Status: update-status, cancel, a fulfilment.
    shop.set_order_state(a, "PENDING", false).await.unwrap();
    assert_eq!(sim.order(a).unwrap()["status"], "PENDING");
    shop.set_order_state(b, "CANCELED", false).await.unwrap();
    shop.set_order_state(b, "CANCELED", false).await.unwrap();
    assert_eq!(sim.order(b).unwrap()["status"], "CANCELED");
    shop.set_order_state(d, "FULFILLED", false).await.unwrap();
    assert_eq!(sim.order(d).unwrap()["fulfillmentStatus"], "FULFILLED");
    let e = shop.set_order_state(a, "PAID", false).await.unwrap_err();
    assert!(e.to_string().contains("non modifiable"), "{e}");
    // Tracking: on the fulfilment without one, then read back; twice is once.
    shop.set_tracking(d, "6A123456789", false).await.unwrap();
    shop.set_tracking(d, "6A123456789", false).await.unwrap();
    let f = &sim.shop().fulfillments[d.as_str()];
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["trackingInfo"]["trackingNumber"], "6A123456789");
    shop.set_tracking(a, "6A000000001", false).await.unwrap();
    let numbers = shop
        .tracking_numbers(&[a.clone(), d.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(numbers.len(), 2);
    assert_eq!(numbers[a.as_str()], "6A000000001");
    assert_eq!(
        sim.calls()
            .get("PATCH /ecom/v1/fulfillments/{id}/orders/{id}"),
        Some(&1)
    );
}

/// A site with `n` inventory items `ART-0001`… at quantity 1, and its client.
async fn stock_site(app: &App, n: usize) -> (WixSim, ShopConnection, Vec<(String, i64)>) {
    let (sim, _) = WixSim::from_seed(&Seed::default(), fast_sim(), addr())
        .await
        .unwrap();
    let mut wanted = Vec::new();
    for i in 1..=n {
        let sku = format!("ART-{i:04}");
        sim.add_inventory_item(&sku, 1);
        wanted.push((sku, 10 + i as i64));
    }
    let c = connection(app, &sim, &sim.credentials(), FAST);
    (sim, c, wanted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_update_of_2500_items_goes_out_in_bulks_of_at_most_1000() {
    env();
    let db = fresh(Kind::Sqlite).await;
    let app = db.app().await;
    let (sim, c, mut wanted) = stock_site(&app, 2500).await;
    wanted.push(("ABSENT-1".into(), 3));
    let written = c.catalog().unwrap().set_stock(&wanted, 5000).await.unwrap();
    assert_eq!(written.len(), 2501);
    assert_eq!(
        written
            .iter()
            .filter(|(_, w)| matches!(w, Written::Updated(_)))
            .count(),
        2500
    );
    assert!(written.contains(&("ABSENT-1".into(), Written::Missing)));
    assert_eq!(sim.bulk_sizes(), vec![1000, 1000, 500]);
    assert_eq!(sim.inventory_item("ART-0007").unwrap()["quantity"], 17);
    // Again: nothing to send.
    let again = c.catalog().unwrap().set_stock(&wanted, 5000).await.unwrap();
    assert_eq!(
        again
            .iter()
            .filter(|(_, w)| matches!(w, Written::Unchanged(_)))
            .count(),
        2500
    );
    assert_eq!(sim.bulk_sizes().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_conflict_is_read_again_and_retried_once_then_fails_only_that_item() {
    env();
    let db = fresh(Kind::Sqlite).await;
    let app = db.app().await;
    let (sim, c, wanted) = stock_site(&app, 5).await;
    sim.conflict_on("ART-0002", 1); // another writer once: the retry succeeds
    sim.conflict_on("ART-0004", 9); // keeps moving: fails after one retry
    let written = c.catalog().unwrap().set_stock(&wanted, 1000).await.unwrap();
    let by: HashMap<String, Written> = written.into_iter().collect();
    assert!(matches!(by["ART-0001"], Written::Updated(_)));
    assert!(
        matches!(by["ART-0002"], Written::Updated(_)),
        "{:?}",
        by["ART-0002"]
    );
    match &by["ART-0004"] {
        Written::Refused(why) => {
            assert!(
                why.contains("REVISION_MISMATCH") && why.contains("relecture"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    for ok in ["ART-0001", "ART-0002", "ART-0003", "ART-0005"] {
        assert!(matches!(by[ok], Written::Updated(_)), "{ok}");
    }
    assert_eq!(sim.inventory_item("ART-0002").unwrap()["quantity"], 12);
    assert_eq!(
        sim.inventory_item("ART-0004").unwrap()["quantity"],
        1,
        "untouched"
    );
    // One bulk of five, one retry of the two conflicting items after reading them again.
    assert_eq!(sim.bulk_sizes(), vec![5, 2]);
    assert_eq!(
        sim.calls().get("GET /stores/v3/inventory-items/{id}"),
        Some(&2)
    );
}

async fn two_workers_under_the_limit(kind: Kind) {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let (sim, _) = WixSim::from_seed(&Seed::demo(3), WixSimConfig::default(), addr())
        .await
        .unwrap();
    // The minute run ten times faster: 60 requests per 6 s (the same 200-per-minute
    // arithmetic: the gate paces at 95 % after a burst of one, 58 per window at most).
    let window = Duration::from_secs(6);
    sim.set_rate_limit(60, window);
    let limit = RateLimit {
        limit: 60,
        window,
        burst: 1,
    };
    let work = |c: ShopConnection| async move {
        let cfg = c.configuration().unwrap();
        for _ in 0..30 {
            cfg.test_connection().await.unwrap(); // two requests
        }
    };
    // Two workers (two clients, as two processes would have) sharing the database's gate.
    let started = std::time::Instant::now();
    let (a, b) = (
        connection(&app, &sim, &sim.credentials(), limit),
        connection(&app, &sim, &sim.credentials(), limit),
    );
    tokio::join!(work(a), work(b));
    assert_eq!(sim.total_calls(), 120);
    assert_eq!(sim.throttled(), 0, "never over the limit");
    assert!(sim.max_in_window() <= 60, "{}", sim.max_in_window());
    // 120 requests at 57 per 6 s after a burst of one: about 12.5 s.
    assert!(
        started.elapsed() >= Duration::from_secs(11),
        "{:?}",
        started.elapsed()
    );

    // A client pacing at four times the site's limit meets 429s and waits them out.
    let (sim2, _) = WixSim::from_seed(&Seed::demo(3), WixSimConfig::default(), addr())
        .await
        .unwrap();
    sim2.set_rate_limit(20, Duration::from_secs(1));
    let loose = RateLimit {
        limit: 80,
        window: Duration::from_secs(1),
        burst: 40,
    };
    let c = connection(&app, &sim2, &sim2.credentials(), loose);
    work(c).await;
    assert!(sim2.throttled() > 0, "the 429s came");
    assert_eq!(
        sim2.total_calls() - sim2.throttled(),
        60,
        "every request ran once"
    );
}
both!(
    two_workers_stay_under_200_requests_per_minute,
    two_workers_under_the_limit
);

async fn killed_worker(kind: Kind) {
    let s = setup_with(kind, &Seed::demo(24), None).await;
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

// ---------------------------------------------------------------------------
// Conformance to the published endpoint table (skipped when it is absent)
// ---------------------------------------------------------------------------

/// Called although not in the table (its four SDK packages do not include the Catalog
/// Versioning API): `GET /stores/v3/provision/version`, documented at
/// https://dev.wix.com/docs/api-reference/business-solutions/stores/catalog-versioning/get-catalog-version.md
const OUTSIDE_THE_TABLE: &[&str] = &["GET /stores/v3/provision/version"];

fn endpoint_table() -> Option<Vec<(String, String)>> {
    let dir =
        std::env::var("PASSERELLE_SPECS").unwrap_or_else(|_| "/work/shared/reference/specs".into());
    let text = std::fs::read_to_string(format!("{dir}/wix/wix-endpoints.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some(
        v["endpoints"]
            .as_array()?
            .iter()
            .map(|e| {
                (
                    e["method"].as_str().unwrap_or("").to_string(),
                    e["path"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
    )
}

/// `/ecom/v1/orders/{id}` (the simulator's key) against `/ecom/v1/orders/{orderId}` or
/// `{order.id}` (the table's).
fn same_route(ours: &str, theirs: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.split('/').collect(), theirs.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || (*x == "{id}" && y.starts_with('{') && y.ends_with('}')))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_and_method_the_client_calls_is_in_wix_endpoints_json() {
    let Some(table) = endpoint_table() else {
        eprintln!("skipped: spec absent (specs/wix/wix-endpoints.json)");
        return;
    };
    env();
    let db = fresh(Kind::Sqlite).await;
    let app = db.app().await;
    let (sim, _) = WixSim::from_seed(&Seed::demo(12), fast_sim(), addr())
        .await
        .unwrap();
    sim.add_inventory_item("ART-0001", 1);
    sim.conflict_on("ART-0001", 1);
    let c = connection(&app, &sim, &sim.credentials(), FAST);
    // Every call the client can make.
    let cfg = c.configuration().unwrap();
    cfg.test_connection().await.unwrap();
    cfg.read_configuration().await.unwrap();
    let shop = c.orders().unwrap();
    let q = OrderQuery {
        states: vec!["PAID".into(), "FULFILLED".into(), "PENDING".into()],
        ..OrderQuery::default()
    };
    let page = shop.orders_page(&q, None, 100).await.unwrap();
    let ids: Vec<String> = page.orders.iter().map(|o| o.id().to_string()).collect();
    let paid: Vec<String> = sim
        .shop()
        .orders
        .iter()
        .filter(|(_, o)| state(o) == "PAID")
        .map(|(id, _)| id.clone())
        .collect();
    shop.set_order_document_number(&ids[0], "CM1")
        .await
        .unwrap();
    shop.set_delivery_date(
        &ids[0],
        chrono::NaiveDate::from_ymd_opt(2025, 2, 1).unwrap(),
    )
    .await
    .unwrap();
    shop.set_order_state(&paid[0], "APPROVED", false)
        .await
        .unwrap();
    shop.set_order_state(&paid[0], "PENDING", false)
        .await
        .unwrap();
    shop.set_order_state(&paid[1], "CANCELED", false)
        .await
        .unwrap();
    shop.set_order_state(&paid[2], "FULFILLED", false)
        .await
        .unwrap();
    shop.set_tracking(&paid[2], "T1", false).await.unwrap();
    shop.set_tracking(&paid[3], "T2", false).await.unwrap();
    shop.tracking_numbers(&ids).await.unwrap();
    c.catalog()
        .unwrap()
        .set_stock(&[("ART-0001".into(), 4)], 1000)
        .await
        .unwrap();
    shop.set_customer_erp_code("x", "CL1").await.unwrap();

    let called = sim.routes();
    assert!(called.len() >= 12, "{called:?}");
    let mut outside = Vec::new();
    for key in &called {
        let (method, path) = key.split_once(' ').unwrap();
        let listed = table
            .iter()
            .any(|(m, p)| m == method && same_route(path, p));
        if !listed && !OUTSIDE_THE_TABLE.contains(&key.as_str()) {
            outside.push(key.clone());
        }
    }
    assert!(outside.is_empty(), "not in wix-endpoints.json: {outside:?}");
    // The documented exception is really absent from the table (else drop it).
    for key in OUTSIDE_THE_TABLE {
        let (method, path) = key.split_once(' ').unwrap();
        assert!(!table.iter().any(|(m, p)| m == method && p == path));
    }
}

// ---------------------------------------------------------------------------
// Figures (ignored by default: `cargo nextest run -p passerelle --test wix --run-ignored
// only -- import_of_10000_orders`)
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "figures for the report, about a minute"]
async fn import_of_10000_orders_figures() {
    env();
    // A long run on a loaded machine: a lease that outlives a slow step.
    std::env::set_var("PASSERELLE_LEASE_MS", "60000");
    let n = 10_000usize;
    let mut seed = Seed::demo(1);
    seed.orders[0].status = passerelle_simulators::seed::SeedStatus::PaymentAccepted;
    let db = fresh(Kind::Sqlite).await;
    let app = db.app().await;
    let (shop, _) = WixSim::from_seed(&seed, fast_sim(), addr()).await.unwrap();
    shop.clone_orders(n - 1);
    let ebp = EbpSim::start(EbpSimConfig {
        min_interval: Duration::from_millis(0),
        ..EbpSimConfig::default()
    })
    .await
    .unwrap();
    seed_erp(&ebp, &Seed::demo(0));
    let acc = account("acme");
    let mut file = profile_file(&shop, &shop.credentials(), &ebp);
    file.import.as_mut().unwrap().page_size = 100;
    let profile = install_profile(&app, &acc, file, &ebp).await.unwrap();
    ensure_import_plan(&app, &acc, 20_000).await.unwrap();
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "0");
    let (shop0, ebp0) = (shop.total_calls(), ebp.calls().len());
    let started = std::time::Instant::now();
    let (_, status, counts) = run_counted(&app, &acc, &profile, SyncAction::ImportOrders).await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(status, RunStatus::Succeeded, "{counts:?}");
    let docs = ebp.documents().len();
    assert_eq!(docs, n);
    let shop_calls = shop.total_calls() - shop0;
    let erp_calls = ebp.calls().len() - ebp0;
    println!(
        "WIX-FIGURES orders={n} secs={secs:.1} orders_per_s={:.0} shop_calls_per_1000={:.0} erp_calls_per_1000={:.1} searches={:?}",
        n as f64 / secs,
        shop_calls as f64 * 1000.0 / n as f64,
        erp_calls as f64 * 1000.0 / n as f64,
        shop.calls().get("POST /ecom/v1/orders/search")
    );
    assert!(erp_calls as f64 * 1000.0 / n as f64 <= 50.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_wix_prints_its_credentials_and_refuses_an_anonymous_call() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["sim", "wix", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    // The first line is printed once the server listens.
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let first: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(first["platform"], "wix");
    let url = first["url"].as_str().unwrap().to_string();
    let creds = &first["credentials"];
    let key = creds["key"].as_str().unwrap();
    assert_eq!(
        key,
        format!(
            "{}:{}",
            creds["site_id"].as_str().unwrap(),
            creds["api_key"].as_str().unwrap()
        )
    );
    let http = reqwest::Client::new();
    let search = format!("{url}/ecom/v1/orders/search");
    let anonymous = http.post(&search).json(&json!({})).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let known = http
        .post(&search)
        .header("Authorization", creds["api_key"].as_str().unwrap())
        .header("wix-site-id", creds["site_id"].as_str().unwrap())
        .json(&json!({"search": {"cursorPaging": {"limit": 100}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(known.status(), 200);
    let body: Value = known.json().await.unwrap();
    assert_eq!(
        body["orders"].as_array().map(Vec::len),
        Some(52),
        "the demo seed"
    );
    assert_eq!(body["metadata"]["hasNext"], false);
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success(), "SIGTERM stops it cleanly");
}
