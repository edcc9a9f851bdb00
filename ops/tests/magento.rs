//! Magento 2 end to end against its simulator and the EBP simulator, on SQLite and
//! PostgreSQL: import-orders (guests, configurable products, a malformed order and the two
//! broken ones failed with their reason, nothing new the second time, the document number
//! in an order comment), paging in both out-of-range modes (≤ 2.3 repeats the last page,
//! 2.4 answers empty), stock through MSI source items with input limits on (arrays of at
//! most 20, the 400 above split, a bad item failed alone), 401 without a token, a WAF's
//! 429 waited out, status write-back with a comment per the 2.4.7 behaviour, a worker
//! killed mid-import, `replay --verify`, and every request and answer of the simulator
//! validated against `admin-schema-2.4.8.yaml`.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, install_profile, seed_erp};
use passerelle_adapters::cms::magento::{self, MagentoCatalog, MagentoClient, Money, Transport};
use passerelle_domain::{AccountId, Platform, ProfileId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{EbpSim, EbpSimConfig};
use passerelle_simulators::magento::{MagentoShop, MagentoSim, MagentoSimConfig};
use passerelle_simulators::seed::{Seed, SeedStatus};
use passerelle_workflows::ports::{CatalogShop, Shop, Written};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn env() {
    std::env::set_var("PASSERELLE_MASTER_KEY", KEY);
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "40");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000");
    std::env::set_var("PASSERELLE_LEASE_MS", "1500");
}

struct Setup {
    _db: TestDb,
    url: String,
    app: App,
    shop: MagentoSim,
    broken: Vec<u64>,
    ebp: EbpSim,
    acc: AccountId,
    profile: ProfileId,
}

/// The Magento demo profile pointing at `shop` and `ebp`.
fn profile_file(shop: &MagentoSim, ebp: &EbpSim) -> passerelle::profiles::ProfileFile {
    let template = passerelle::simulate::demo_profile_template(Platform::Magento).unwrap();
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
    config: MagentoSimConfig,
    adjust: impl FnOnce(&mut passerelle::profiles::ProfileFile),
) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let (shop, broken) = MagentoSim::from_seed(
        seed,
        config,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
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

/// Ids of the shop's orders in the statuses the demo profile imports.
fn selected(shop: &MagentoShop) -> BTreeSet<String> {
    shop.orders
        .iter()
        .filter(|(_, o)| {
            ["processing", "complete", "pending"].contains(&o["status"].as_str().unwrap_or(""))
        })
        .map(|(id, _)| id.to_string())
        .collect()
}

fn comments(o: &Value) -> Vec<Value> {
    o["status_histories"]
        .as_array()
        .cloned()
        .unwrap_or_default()
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
    let s = setup_with(
        kind,
        &Seed::demo(40).with_broken(),
        MagentoSimConfig::default(),
        |_| {},
    )
    .await;
    // A malformed order: an amount that is no number.
    let before = s.shop.shop();
    let wanted = selected(&before);
    let bad_id: u64 = wanted
        .iter()
        .map(|i| i.parse::<u64>().unwrap())
        .find(|i| !s.broken.contains(i))
        .unwrap();
    let mut bad = before.orders[&bad_id].clone();
    bad["items"][0]["row_total"] = json!("douze euros");
    s.shop.put_order(bad_id, bad);

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
    for id in s.broken.iter().chain([&bad_id]) {
        let (what, why) = outcomes.get(&id.to_string()).unwrap();
        assert_eq!(*what, "failed", "order {id}: {why}");
        assert!(!why.is_empty());
    }
    let (_, why) = &outcomes[&bad_id.to_string()];
    assert!(why.contains("montant illisible"), "{why}");
    assert!(outcomes
        .values()
        .any(|(w, r)| *w == "failed" && r.contains("illisible")));
    // A guest order went to the guest account.
    let guest = before
        .orders
        .values()
        .find(|o| o["customer_is_guest"] == 1 && docs.contains_key(&o["entity_id"].to_string()))
        .unwrap();
    let gid = guest["entity_id"].to_string();
    let doc_of = |id: &str| {
        s.ebp
            .documents()
            .into_iter()
            .find(|d| d.atoosync_order.as_deref() == Some(id))
            .unwrap()
    };
    assert_eq!(doc_of(&gid).document.customer_code, "WEBINVITE");
    // A configurable product: the child's reference at the parent's price.
    let conf = before
        .orders
        .values()
        .find(|o| {
            docs.contains_key(&o["entity_id"].to_string())
                && o["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["product_type"] == "configurable")
        })
        .unwrap();
    let parent = conf["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["product_type"] == "configurable")
        .unwrap();
    let d = doc_of(&conf["entity_id"].to_string());
    let line = d
        .document
        .lines
        .iter()
        .find(|l| l.item_id == parent["sku"].as_str().unwrap())
        .unwrap();
    let row: Decimal = parent["row_total"].to_string().parse().unwrap();
    let qty: Decimal = parent["qty_ordered"].to_string().parse().unwrap();
    assert_eq!(line.quantity, qty);
    assert_eq!(line.unit_price, row / qty, "the parent's price");
    assert!(
        !d.document
            .lines
            .iter()
            .any(|l| l.quantity == qty && l.unit_price.is_zero() && l.item_id == line.item_id),
        "the child row is not a second line"
    );
    // A USD order: a foreign-currency document at base_to_order_rate.
    let usd = before
        .orders
        .values()
        .find(|o| {
            o["order_currency_code"] == "USD" && docs.contains_key(&o["entity_id"].to_string())
        })
        .unwrap();
    let d = doc_of(&usd["entity_id"].to_string());
    assert_eq!(d.document.currency, "USD");
    assert_eq!(d.document.conversion_rate, Some(Decimal::new(108, 2)));

    // Write-backs: the document number in a comment carrying the order's own status.
    let after = s.shop.shop();
    let mut noted = 0;
    for (id, o) in &after.orders {
        let c: Vec<Value> = comments(o)
            .into_iter()
            .filter(|c| {
                c["comment"]
                    .as_str()
                    .unwrap()
                    .starts_with("Document EBP : ")
            })
            .collect();
        if docs.contains_key(&id.to_string()) {
            assert_eq!(c.len(), 1, "order {id}: one document comment");
            assert_eq!(c[0]["status"], o["status"], "status kept, never NULL");
            assert_eq!(c[0]["is_visible_on_front"], 0);
            noted += 1;
        } else {
            assert!(c.is_empty());
        }
    }
    assert_eq!(noted, docs.len());

    // The second run imports nothing new and writes nothing twice.
    let (_, status, counts) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(counts.succeeded, 0, "{counts:?}");
    assert_eq!(
        s.ebp.documents().len(),
        docs.len(),
        "nothing new in the ERP"
    );
    let again: usize = s
        .shop
        .shop()
        .orders
        .values()
        .map(|o| comments(o).len())
        .sum();
    let first: usize = after.orders.values().map(|o| comments(o).len()).sum();
    assert_eq!(again, first, "no comment twice");
    verify_replay(&s.app).await;
}
both!(import_orders_from_magento, import_orders_end_to_end);

/// 250 orders read 60 per import page, 100 per Magento page, in `repeat` mode or not.
async fn paging(kind: Kind, repeat: bool) {
    let mut seed = Seed::demo(1);
    seed.orders[0].status = SeedStatus::Processing;
    let s = setup_with(
        kind,
        &seed,
        MagentoSimConfig {
            repeat_last_page: repeat,
            input_limits: true,
            ..MagentoSimConfig::default()
        },
        |f| {
            f.import.as_mut().unwrap().page_size = 60;
        },
    )
    .await;
    s.shop.clone_orders(249);

    // The mode bites: a page past the end is the last page again (≤ 2.3), or empty (2.4).
    let t = Transport::new(&s.shop.url(), &s.shop.token()).unwrap();
    let q: Vec<(String, String)> = [
        ("searchCriteria[pageSize]", "100"),
        ("searchCriteria[currentPage]", "4"),
        ("fields", "items[entity_id],total_count"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let a = t.get("orders", &q).await.unwrap();
    assert_eq!(a["total_count"], "250");
    let listed_before = s.shop.calls()["GET /V1/orders"];
    let n = a["items"].as_array().unwrap().len();
    assert_eq!(n, if repeat { 50 } else { 0 }, "page 4 of 3");

    let (run, status, counts) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded, "{counts:?}");
    let outcomes = item_outcomes(&s.app, &s.acc, run).await;
    assert_eq!(outcomes.len(), 250, "each order met once");
    assert!(
        outcomes.values().all(|(w, _)| *w == "succeeded"),
        "{counts:?}"
    );
    let docs = docs_per_order(&s.ebp);
    assert_eq!(docs.len(), 250, "each order imported");
    assert!(docs.values().all(|n| *n == 1), "exactly once");
    // Paging stopped on total_count: pages 1..=3, never a 4th.
    assert_eq!(
        s.shop.calls()["GET /V1/orders"] - listed_before,
        3,
        "{:?}",
        s.shop.calls()
    );
    verify_replay(&s.app).await;
}

async fn repeat_last_page(kind: Kind) {
    paging(kind, true).await;
}
both!(
    a_repeated_last_page_never_duplicates_an_order,
    repeat_last_page
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_out_of_range_page_ends_paging_too() {
    paging(Kind::Sqlite, false).await;
}

/// A shop with `n` products `ART-0001`… at quantity 1, input limits on.
async fn stock_shop(n: usize) -> (MagentoSim, MagentoCatalog, Vec<(String, i64)>) {
    let sim = MagentoSim::start(
        MagentoShop::default(),
        MagentoSimConfig {
            input_limits: true,
            ..MagentoSimConfig::default()
        },
    )
    .await
    .unwrap();
    let mut wanted = Vec::new();
    for i in 1..=n {
        let sku = format!("ART-{i:04}");
        sim.add_product(&sku, 1);
        wanted.push((sku, 10 + i as i64));
    }
    let catalog = MagentoCatalog::new(Transport::new(&sim.url(), &sim.token()).unwrap());
    (sim, catalog, wanted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_input_limits_a_500_article_stock_push_goes_out_in_calls_of_at_most_20() {
    let (sim, catalog, wanted) = stock_shop(500).await;
    let written = catalog.set_stock(&wanted, 100).await.unwrap();
    assert_eq!(written.len(), 500);
    assert!(written
        .iter()
        .all(|(_, w)| matches!(w, Written::Updated(_))));
    let sizes = sim.array_sizes();
    // The first array (100) is refused with 400 "Maximum items…": everything is re-cut.
    assert_eq!(sizes[0], 100, "{sizes:?}");
    assert!(sizes[1..].iter().all(|n| *n <= 20), "{sizes:?}");
    assert_eq!(sizes[1..].iter().sum::<usize>(), 500, "each item sent once");
    assert_eq!(sizes.len(), 26);
    for (sku, q) in &wanted {
        assert_eq!(sim.quantity(sku), Some(*q as f64));
    }
    // Again: nothing differs, nothing is sent.
    let again = catalog.set_stock(&wanted, 100).await.unwrap();
    assert!(again
        .iter()
        .all(|(_, w)| matches!(w, Written::Unchanged(_))));
    assert_eq!(sim.array_sizes().len(), 26);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_item_fails_alone_and_an_unknown_sku_is_missing() {
    let (sim, catalog, wanted) = stock_shop(60).await;
    sim.fail_item("ART-0042");
    let mut with_unknown = wanted.clone();
    with_unknown.push(("NOPE-1".into(), 3));
    let written: BTreeMap<String, Written> = catalog
        .set_stock(&with_unknown, 20)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        matches!(&written["ART-0042"], Written::Refused(m) if m.contains("ART-0042")),
        "{:?}",
        written["ART-0042"]
    );
    assert_eq!(written["NOPE-1"], Written::Missing);
    let updated = written
        .values()
        .filter(|w| matches!(w, Written::Updated(_)))
        .count();
    assert_eq!(updated, 59);
    assert_eq!(sim.quantity("ART-0042"), Some(1.0));
    assert_eq!(sim.quantity("ART-0043"), Some(53.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_token_is_401_and_errors_are_magento_bodies() {
    let (shop, _) = MagentoShop::from_seed(&Seed::demo(25));
    let sim = MagentoSim::start(
        shop,
        MagentoSimConfig {
            input_limits: true,
            ..MagentoSimConfig::default()
        },
    )
    .await
    .unwrap();
    let r = reqwest::get(format!("{}/rest/default/V1/orders", sim.url()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b["message"],
        "The consumer isn't authorized to access %resources."
    );
    assert_eq!(b["parameters"]["resources"], "Magento_Sales::actions_view");
    // A wrong token: permanent, with Magento's message filled in.
    let bad = Transport::new(&sim.url(), "not-the-token").unwrap();
    let e = bad.get("orders", &[]).await.unwrap_err();
    assert!(
        matches!(&e, passerelle_workflows::engine::StepError::Permanent(m)
            if m.contains("401") && m.contains("Magento_Sales::actions_view")),
        "{e}"
    );
    let t = Transport::new(&format!("{}/rest/fr/V1/", sim.url()), &sim.token()).unwrap();
    assert_eq!(t.store(), "fr");
    let e = t.get("orders/999999", &[]).await.unwrap_err();
    assert!(e.to_string().contains("404"), "{e}");
    let e = t
        .get(
            "orders",
            &[("searchCriteria[pageSize]".into(), "301".into())],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("pageSize is 300"), "{e}");
    // Input limits: no page size → 20 (the default), total_count the whole.
    let a = t.get("orders", &[]).await.unwrap();
    assert_eq!(a["items"].as_array().unwrap().len(), 20);
    assert_eq!(a["total_count"], "25");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waf_429_is_waited_out_and_no_call_comes_early() {
    let sim = MagentoSim::start(
        MagentoShop::default(),
        MagentoSimConfig {
            rate_limit: Some((20, Duration::from_secs(1))),
            ..MagentoSimConfig::default()
        },
    )
    .await
    .unwrap();
    for i in 1..=15 {
        sim.add_product(&format!("W-{i}"), 0);
    }
    let client = MagentoClient::new(
        Transport::new(&sim.url(), &sim.token()).unwrap(),
        Money::Order,
    );
    for i in 1..=15 {
        // Three calls each: product, source item, save.
        assert!(client
            .set_stock(&format!("W-{i}"), Decimal::from(i))
            .await
            .unwrap());
    }
    for i in 1..=15 {
        assert_eq!(sim.quantity(&format!("W-{i}")), Some(f64::from(i)));
    }
    assert!(sim.throttled() > 0, "the WAF answered 429");
    assert_eq!(sim.early_calls(), 0, "every Retry-After waited out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_write_back_goes_through_native_entities_and_a_comment() {
    let mut seed = Seed::demo(6);
    for o in &mut seed.orders {
        o.status = SeedStatus::PaymentAccepted;
    }
    let (shop, _) = MagentoShop::from_seed(&seed);
    // 2.4.7: a comment no longer changes the status (the default).
    let sim = MagentoSim::start(shop, MagentoSimConfig::default())
        .await
        .unwrap();
    let client = MagentoClient::new(
        Transport::new(&sim.url(), &sim.token()).unwrap(),
        Money::Order,
    );
    // complete = invoice (already, paid) + shipment, then the comment.
    client
        .set_order_state("1", "complete", false)
        .await
        .unwrap();
    let o = sim.order(1).unwrap();
    assert_eq!(o["status"], "complete");
    assert_eq!(o["state"], "complete");
    assert_eq!(sim.shop().shipments.len(), 1);
    assert_eq!(sim.shop().invoices.len(), 0, "already invoiced when paid");
    let c = comments(&o);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["status"], "complete");
    assert!(c[0]["comment"].as_str().unwrap().contains("complete"));
    // Again: nothing more.
    client
        .set_order_state("1", "complete", false)
        .await
        .unwrap();
    assert_eq!(comments(&sim.order(1).unwrap()).len(), 1);
    assert_eq!(sim.shop().shipments.len(), 1);
    // holded and canceled are native actions.
    client.set_order_state("2", "holded", false).await.unwrap();
    assert_eq!(sim.order(2).unwrap()["status"], "holded");
    client
        .set_order_state("2", "canceled", false)
        .await
        .unwrap();
    assert_eq!(sim.order(2).unwrap()["status"], "canceled");
    // A status no action reaches: refused with the reason on 2.4.7…
    let e = client
        .set_order_state("3", "preparation", false)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("38723"), "{e}");
    assert_eq!(sim.order(3).unwrap()["status"], "processing");
    // …applied by the comment on 2.4.6.
    sim.configure(|c| c.comments_set_status = true);
    client
        .set_order_state("3", "preparation", true)
        .await
        .unwrap();
    let o = sim.order(3).unwrap();
    assert_eq!(o["status"], "preparation");
    assert_eq!(comments(&o)[0]["is_customer_notified"], 1);
    // The document number: one comment however often it is sent.
    for _ in 0..2 {
        client
            .set_order_document_number("4", "FA000042")
            .await
            .unwrap();
    }
    let c = comments(&sim.order(4).unwrap());
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["comment"], "Document EBP : FA000042");
    assert_eq!(c[0]["status"], "processing");
}

async fn killed_worker(kind: Kind) {
    let s = setup_with(kind, &Seed::demo(24), MagentoSimConfig::default(), |_| {}).await;
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
// Conformance to admin-schema-2.4.8.yaml (skipped when it is absent)
// ---------------------------------------------------------------------------

fn spec() -> Option<Value> {
    let dir =
        std::env::var("PASSERELLE_SPECS").unwrap_or_else(|_| "/work/shared/reference/specs".into());
    let text = std::fs::read_to_string(format!("{dir}/magento/admin-schema-2.4.8.yaml")).ok()?;
    let mut v: Value = serde_yaml::from_str(&text).ok()?;
    // `info.description` is a `$ref` to a documentation page (specs/README.md).
    v["info"]["description"] = json!("Magento admin REST");
    Some(v)
}

/// The operation of `method` on the spec path matching `route` (`/V1/orders/{id}`).
fn operation<'a>(oas: &'a Value, route: &str, method: &str) -> Option<&'a Value> {
    let want: Vec<&str> = route.split('/').collect();
    oas["paths"].as_object()?.iter().find_map(|(k, v)| {
        let segs: Vec<&str> = k.split('/').collect();
        (segs.len() == want.len()
            && segs
                .iter()
                .zip(&want)
                .all(|(a, b)| a == b || (a.starts_with('{') && b.starts_with('{'))))
        .then(|| v.get(method.to_ascii_lowercase()))
        .flatten()
    })
}

/// `v` conforms to the Swagger 2.0 `schema`: declared fields, compatible types, and (when
/// `required` is checked) the required ones present.
fn conforms(
    v: &Value,
    schema: &Value,
    oas: &Value,
    path: &str,
    required: bool,
    errors: &mut Vec<String>,
) {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &oas["definitions"][r.trim_start_matches("#/definitions/")],
        None => schema,
    };
    let ty = schema.get("type").and_then(Value::as_str);
    let ok = match (ty, v) {
        (None, _) | (_, Value::Null) => true,
        (Some("string"), Value::String(_)) => true,
        (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Some("number"), Value::Number(_)) => true,
        (Some("boolean"), Value::Bool(_)) => true,
        (Some("array"), Value::Array(_)) => true,
        (Some("object"), Value::Object(_)) => true,
        _ => false,
    };
    if !ok {
        errors.push(format!("{path}: {v} is not {}", ty.unwrap_or("?")));
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, x) in m {
                    match props.get(k) {
                        Some(s) => conforms(x, s, oas, &format!("{path}.{k}"), required, errors),
                        None => errors.push(format!("{path}.{k}: not in the schema")),
                    }
                }
            }
            if required {
                for r in schema
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let r = r.as_str().unwrap_or_default();
                    if !m.contains_key(r) {
                        errors.push(format!("{path}.{r}: required, absent"));
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for (i, x) in a.iter().enumerate() {
                    conforms(x, items, oas, &format!("{path}[{i}]"), required, errors);
                }
            }
        }
        _ => {}
    }
}

/// `searchCriteria[filterGroups][3][filters][0][field]` → the spec's `[0]` form.
fn zero_indices(name: &str) -> String {
    let mut out = String::new();
    let mut it = name.split('[').peekable();
    if let Some(first) = it.next() {
        out.push_str(first);
    }
    for part in it {
        out.push('[');
        match part.split_once(']') {
            Some((inner, rest))
                if inner.chars().all(|c| c.is_ascii_digit()) && !inner.is_empty() =>
            {
                out.push_str("0]");
                out.push_str(rest);
            }
            _ => out.push_str(part),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_requests_and_answers_conform_to_admin_schema_2_4_8() {
    let Some(oas) = spec() else {
        eprintln!("skipped: spec absent (specs/magento/admin-schema-2.4.8.yaml)");
        return;
    };
    // Everything the client sends: an import (list, one by one, comments), stock, the
    // configuration reads, status write-backs, a 400 and a 404.
    env();
    let s = setup_with(
        Kind::Sqlite,
        &Seed::demo(30).with_broken(),
        MagentoSimConfig {
            input_limits: true,
            ..MagentoSimConfig::default()
        },
        |_| {},
    )
    .await;
    let (_, status, _) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    let t = Transport::new(&s.shop.url(), &s.shop.token()).unwrap();
    let client = MagentoClient::new(t.clone(), Money::Order);
    let catalog = MagentoCatalog::new(t.clone());
    let stock: Vec<(String, i64)> = Seed::demo(0)
        .articles
        .iter()
        .map(|a| (a.reference.clone(), 7))
        .collect();
    catalog.set_stock(&stock, 100).await.unwrap();
    use passerelle_workflows::ports::ShopConfigurationRead;
    let conf = client.read_configuration().await.unwrap();
    assert!(
        !conf.taxes.is_empty() && !conf.carriers.is_empty() && !conf.payment_methods.is_empty()
    );
    let processing = s
        .shop
        .shop()
        .orders
        .iter()
        .find(|(_, o)| o["status"] == "processing")
        .map(|(id, _)| id.to_string())
        .unwrap();
    client
        .set_order_state(&processing, "holded", false)
        .await
        .unwrap();
    client
        .set_order_state(&processing, "complete", false)
        .await
        .unwrap();
    let pending = s
        .shop
        .shop()
        .orders
        .iter()
        .find(|(_, o)| o["status"] == "pending")
        .map(|(id, _)| id.to_string())
        .unwrap();
    client
        .set_order_state(&pending, "canceled", false)
        .await
        .unwrap();
    assert!(t.get("orders/999999", &[]).await.is_err());

    let exchanges = s.shop.exchanges();
    let mut errors = Vec::new();
    let mut routes = BTreeSet::new();
    for x in &exchanges {
        let Some(op) = operation(&oas, &x.route, &x.method) else {
            errors.push(format!("{} {}: not in the spec", x.method, x.route));
            continue;
        };
        routes.insert(format!("{} {}", x.method, x.route));
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for q in &x.query {
            // `fields` is Magento's global response filter (every GET route).
            if q == "fields" {
                continue;
            }
            let z = zero_indices(q);
            if !params
                .iter()
                .any(|p| p["in"] == "query" && p["name"] == z.as_str())
            {
                errors.push(format!(
                    "{} {}: query « {q} » not in the spec",
                    x.method, x.route
                ));
            }
        }
        if let Some(body) = &x.request {
            match params.iter().find(|p| p["in"] == "body") {
                None => errors.push(format!("{} {}: body not expected", x.method, x.route)),
                Some(p) => conforms(
                    body,
                    &p["schema"],
                    &oas,
                    &format!("request {} {}", x.method, x.route),
                    true,
                    &mut errors,
                ),
            }
        }
        if x.response.is_null() {
            continue; // cut on purpose
        }
        if x.status >= 400 {
            // The spec's `error-parameters` is an array of objects; Magento sends named
            // parameters as one object (`{"resources": …}`) and positional ones as an
            // array: only the required `message` is checked.
            if !x.response["message"].is_string()
                || !(x
                    .response
                    .get("parameters")
                    .is_none_or(|p| p.is_object() || p.is_array()))
            {
                errors.push(format!(
                    "{} {}: error body {}",
                    x.method, x.route, x.response
                ));
            }
            continue;
        }
        let code = x.status.to_string();
        let schema = op["responses"]
            .get(&code)
            .or_else(|| (x.status >= 400).then(|| &op["responses"]["default"]))
            .map(|r| &r["schema"]);
        match schema {
            Some(s) if !s.is_null() => conforms(
                &x.response,
                s,
                &oas,
                &format!("answer {} {} {code}", x.method, x.route),
                !x.query.iter().any(|q| q == "fields"),
                &mut errors,
            ),
            // No schema for a void answer (`source-items` answers `[]`).
            _ if x.status == 200 => {}
            _ => errors.push(format!(
                "{} {}: status {code} not in the spec",
                x.method, x.route
            )),
        }
    }
    errors.sort();
    errors.dedup();
    assert!(
        errors.is_empty(),
        "{} deviation(s):\n{}",
        errors.len(),
        errors.join("\n")
    );
    for r in [
        "GET /V1/orders",
        "GET /V1/orders/{id}",
        "GET /V1/orders/{id}/comments",
        "POST /V1/orders/{id}/comments",
        "POST /V1/orders/{id}/hold",
        "POST /V1/orders/{id}/unhold",
        "POST /V1/orders/{id}/cancel",
        "POST /V1/order/{orderId}/ship",
        "GET /V1/products",
        "GET /V1/inventory/source-items",
        "POST /V1/inventory/source-items",
        "GET /V1/taxRates/search",
        "GET /V1/directory/currency",
        "GET /V1/directory/countries",
        "GET /V1/store/storeConfigs",
    ] {
        assert!(routes.contains(r), "{r} was exercised: {routes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_reads_its_configuration_and_tests_itself() {
    let (shop, _) = MagentoShop::from_seed(&Seed::demo(20));
    let sim = MagentoSim::start(shop, MagentoSimConfig::default())
        .await
        .unwrap();
    let c = magento::connect(&sim.url(), &sim.token(), Money::Base).unwrap();
    let conf = c.configuration.as_ref().unwrap();
    conf.test_connection().await.unwrap();
    let r = conf.read_configuration().await.unwrap();
    assert!(r.statuses.iter().any(|s| s.id == "complete"));
    assert!(r.taxes.iter().any(|t| t.rate == Decimal::new(55, 1)));
    assert!(r.carriers.iter().any(|c| c.id == "flatrate_flatrate"));
    assert!(r.payment_methods.iter().any(|p| p.id == "checkmo"));
    assert!(r.currencies.iter().any(|c| c.iso_code == "USD"));
    assert!(r.countries.iter().any(|c| c.iso_code == "FR"));
    assert_eq!(r.languages[0].iso_code, "fr");
    let bad = magento::connect(&sim.url(), "wrong", Money::Base).unwrap();
    assert!(bad
        .configuration
        .as_ref()
        .unwrap()
        .test_connection()
        .await
        .is_err());
}
