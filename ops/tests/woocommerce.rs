//! WooCommerce end to end against its simulator and the EBP simulator, on SQLite and
//! PostgreSQL: import-orders (guests, bad orders failed with their reason, nothing new the
//! second time, write-backs), 250 orders sharing one modification date served in an
//! unstable order, stock through the batch routes (≤ 100 items, 413 halves, per-item
//! errors), a worker killed mid-import, `replay --verify`, and the conformance of the
//! client's query parameters and the simulator's answers to the published specs.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, install_profile, seed_erp};
use passerelle_adapters::cms::woocommerce::{self, Transport, WooAuth, WooCommerceCatalog};
use passerelle_domain::{AccountId, Platform, ProfileId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{EbpSim, EbpSimConfig};
use passerelle_simulators::seed::Seed;
use passerelle_simulators::woocommerce::{WooShop, WooSim, WooSimConfig};
use passerelle_workflows::ports::{CatalogShop, Written};
use serde_json::Value;
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
    shop: WooSim,
    broken: Vec<u64>,
    ebp: EbpSim,
    acc: AccountId,
    profile: ProfileId,
}

/// The WooCommerce demo profile pointing at `shop` and `ebp`.
fn profile_file(shop: &WooSim, ebp: &EbpSim) -> passerelle::profiles::ProfileFile {
    let template = passerelle::simulate::demo_profile_template(Platform::WooCommerce).unwrap();
    let c = ebp.config();
    let text = template
        .replace("{{SHOP_URL}}", &shop.url())
        .replace("{{SHOP_KEY}}", &shop.credentials())
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
    adjust: impl FnOnce(&mut passerelle::profiles::ProfileFile),
) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let (shop, broken) = WooSim::from_seed(
        seed,
        WooSimConfig::default(),
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
fn selected(shop: &WooShop) -> BTreeSet<String> {
    shop.orders
        .iter()
        .filter(|(_, o)| {
            ["processing", "completed", "on-hold"].contains(&o["status"].as_str().unwrap_or(""))
        })
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

async fn import_orders_end_to_end(kind: Kind) {
    let s = setup_with(kind, &Seed::demo(40).with_broken(), |_| {}).await;
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
    let wanted = selected(&before);
    let seen: BTreeSet<String> = outcomes.keys().cloned().collect();
    assert_eq!(seen, wanted, "every selected order met once, no other");
    // The two broken orders fail with their reason; the cut answer is read alone.
    for id in &s.broken {
        let (what, why) = outcomes.get(&id.to_string()).unwrap();
        assert_eq!(*what, "failed", "order {id}: {why}");
        assert!(!why.is_empty());
    }
    assert!(outcomes
        .values()
        .any(|(w, r)| *w == "failed" && r.contains("illisible")));
    // A guest order went to the guest account.
    let guest = before
        .orders
        .values()
        .find(|o| o["customer_id"] == 0 && docs.contains_key(&o["id"].to_string()))
        .unwrap();
    let gid = guest["id"].to_string();
    let d = s
        .ebp
        .documents()
        .into_iter()
        .find(|d| d.atoosync_order.as_deref() == Some(gid.as_str()))
        .unwrap();
    assert_eq!(d.document.customer_code, "WEBINVITE");
    // Write-backs: the document number in a private note and our meta_data.
    let after = s.shop.shop();
    let with_doc = after
        .orders
        .values()
        .filter(|o| {
            o["meta_data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["key"] == "_passerelle_erp_document")
        })
        .count();
    assert_eq!(
        with_doc,
        docs.len(),
        "every imported order carries its document"
    );
    let notes: usize = after.notes.values().map(Vec::len).sum();
    assert_eq!(notes, docs.len(), "one note per imported order");
    assert!(after.notes.values().flatten().all(|n| n["note"]
        .as_str()
        .unwrap()
        .starts_with("Document EBP : ")
        && n["customer_note"] == false));

    // The second run imports nothing new and writes nothing twice.
    let (_, status, counts) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(counts.succeeded, 0, "{counts:?}");
    assert_eq!(
        s.ebp.documents().len(),
        docs.len(),
        "nothing new in the ERP"
    );
    let notes_again: usize = s.shop.shop().notes.values().map(Vec::len).sum();
    assert_eq!(notes_again, notes);
    verify_replay(&s.app).await;
}
both!(import_orders_from_woocommerce, import_orders_end_to_end);

async fn unstable_order(kind: Kind) {
    // 250 orders sharing one modification (and creation) instant, served in an unstable
    // order: equal sort keys shuffled differently on each page.
    let mut seed = Seed::demo(1);
    seed.orders[0].status = passerelle_simulators::seed::SeedStatus::Processing;
    let s = setup_with(kind, &seed, |f| {
        f.import.as_mut().unwrap().page_size = 60;
    })
    .await;
    s.shop.clone_orders(249);
    let at = chrono::NaiveDate::from_ymd_opt(2025, 3, 3)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    s.shop.set_all_dates(at);
    s.shop.set_unstable_order(true);

    // The mode bites: paging by modification date loses and repeats orders.
    let t = Transport::new(&s.shop.url(), &s.shop.credentials(), WooAuth::Basic).unwrap();
    let mut ids = Vec::new();
    for page in 1..=3 {
        let q: Vec<(String, String)> = [
            ("orderby", "modified"),
            ("order", "asc"),
            ("per_page", "100"),
            ("_fields", "id"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("page".to_string(), page.to_string())])
        .collect();
        let a = t.get("wc/v3/orders", &q).await.unwrap();
        assert_eq!(a.total, Some(250));
        ids.extend(
            a.body
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_u64().unwrap()),
        );
    }
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 250);
    assert!(
        distinct.len() < 250,
        "unstable paging repeats and misses rows"
    );

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
    verify_replay(&s.app).await;
}
both!(equal_modification_dates_in_unstable_order, unstable_order);

/// A shop with `n` products `ART-0001`… at stock 1.
async fn stock_shop(n: usize) -> (WooSim, WooCommerceCatalog, Vec<(String, i64)>) {
    let sim = WooSim::start(WooShop::default(), WooSimConfig::default())
        .await
        .unwrap();
    let mut wanted = Vec::new();
    for i in 1..=n {
        let sku = format!("ART-{i:04}");
        sim.add_product(&sku, 1, 0);
        wanted.push((sku, 10 + i as i64));
    }
    let client = woocommerce::WooCommerceClient::new(
        Transport::new(&sim.url(), &sim.credentials(), WooAuth::Basic).unwrap(),
    );
    (sim, WooCommerceCatalog::new(client), wanted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_update_of_250_articles_goes_out_in_batches_of_at_most_100() {
    let (sim, catalog, wanted) = stock_shop(250).await;
    let written = catalog.set_stock(&wanted, 500).await.unwrap();
    assert_eq!(written.len(), 250);
    assert!(written
        .iter()
        .all(|(_, w)| matches!(w, Written::Updated(_))));
    assert_eq!(sim.batch_sizes(), vec![100, 100, 50]);
    for (sku, q) in &wanted {
        assert_eq!(sim.product(sku).unwrap()["stock_quantity"], *q);
    }
    // Again: nothing differs, nothing is sent.
    let again = catalog.set_stock(&wanted, 500).await.unwrap();
    assert!(again
        .iter()
        .all(|(_, w)| matches!(w, Written::Unchanged(_))));
    assert_eq!(sim.batch_sizes().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_halves_the_batch_and_retries() {
    let (sim, catalog, wanted) = stock_shop(120).await;
    // A site whose filter lowered the limit to 30 items.
    sim.set_batch_limit(30);
    let written = catalog.set_stock(&wanted, 100).await.unwrap();
    assert!(written
        .iter()
        .all(|(_, w)| matches!(w, Written::Updated(_))));
    let sizes = sim.batch_sizes();
    assert_eq!(&sizes[..3], &[100, 50, 25], "{sizes:?}");
    let accepted: usize = sizes.iter().filter(|n| **n <= 30).sum();
    assert_eq!(
        accepted, 120,
        "every item went out once in an accepted batch"
    );
    for (sku, q) in &wanted {
        assert_eq!(sim.product(sku).unwrap()["stock_quantity"], *q);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_item_batch_error_fails_only_that_article() {
    let (sim, catalog, wanted) = stock_shop(150).await;
    sim.fail_item("ART-0042");
    let mut with_unknown = wanted.clone();
    with_unknown.push(("NOPE-1".into(), 3));
    let written: BTreeMap<String, Written> = catalog
        .set_stock(&with_unknown, 100)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(matches!(&written["ART-0042"], Written::Refused(m) if m.contains("verrouillé")));
    assert_eq!(written["NOPE-1"], Written::Missing);
    let updated = written
        .values()
        .filter(|w| matches!(w, Written::Updated(_)))
        .count();
    assert_eq!(updated, 149);
    assert_eq!(sim.product("ART-0042").unwrap()["stock_quantity"], 1);
    assert_eq!(sim.product("ART-0043").unwrap()["stock_quantity"], 53);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_credentials_is_401_and_errors_are_woocommerce_bodies() {
    let sim = WooSim::start(WooShop::default(), WooSimConfig::default())
        .await
        .unwrap();
    let r = reqwest::get(format!("{}/wp-json/wc/v3/orders", sim.url()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "woocommerce_rest_cannot_view");
    assert_eq!(b["data"]["status"], 401);
    // Query-string credentials work; per_page above 100 is refused.
    let t = Transport::new(&sim.url(), &sim.credentials(), WooAuth::QueryString).unwrap();
    assert!(t.get("wc/v3/orders", &[]).await.is_ok());
    let e = t
        .get("wc/v3/orders", &[("per_page".into(), "101".into())])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("rest_invalid_param"), "{e}");
    let e = t.get("wc/v3/orders/999999", &[]).await.unwrap_err();
    assert!(e.to_string().contains("Invalid ID."), "{e}");
    // Wrong secret: 401 with WooCommerce's message, permanent.
    let bad = Transport::new(&sim.url(), "ck_x:cs_y", WooAuth::Basic).unwrap();
    let e = bad.get("wc/v3/orders", &[]).await.unwrap_err();
    assert!(matches!(
        e,
        passerelle_workflows::engine::StepError::Permanent(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_shop_is_read_through_its_transient_errors() {
    env();
    let s = setup_with(Kind::Sqlite, &Seed::demo(30), |_| {}).await;
    s.shop.set_error_share(0.2);
    let (_, status, counts) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded, "{counts:?}");
    assert!(docs_per_order(&s.ebp).values().all(|n| *n == 1));
    assert!(counts.succeeded >= 15, "{counts:?}");
}

async fn killed_worker(kind: Kind) {
    let s = setup_with(kind, &Seed::demo(24), |_| {}).await;
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
// Conformance to the published specs (skipped when they are absent)
// ---------------------------------------------------------------------------

fn spec(name: &str) -> Option<String> {
    let dir =
        std::env::var("PASSERELLE_SPECS").unwrap_or_else(|_| "/work/shared/reference/specs".into());
    std::fs::read_to_string(format!("{dir}/woocommerce/{name}")).ok()
}

/// The route of the index matching a simulator route (`orders/{id}/notes`).
fn index_route<'a>(routes: &'a serde_json::Map<String, Value>, route: &str) -> Option<&'a Value> {
    let want: Vec<&str> = route.split('/').collect();
    routes.iter().find_map(|(k, v)| {
        let segs: Vec<&str> = k.trim_start_matches("/wc/v3/").split('/').collect();
        (k.starts_with("/wc/v3/")
            && segs.len() == want.len()
            && segs
                .iter()
                .zip(&want)
                .all(|(a, b)| a == b || (a.starts_with("(?P<") && *b == "{id}")))
        .then_some(v)
    })
}

/// The OpenAPI operation matching a simulator route and method.
fn oas_operation<'a>(oas: &'a Value, route: &str, method: &str) -> Option<&'a Value> {
    let want: Vec<&str> = route.split('/').collect();
    oas["paths"].as_object()?.iter().find_map(|(k, v)| {
        let segs: Vec<&str> = k.trim_start_matches('/').split('/').collect();
        (segs.len() == want.len()
            && segs
                .iter()
                .zip(&want)
                .all(|(a, b)| a == b || (a.starts_with('{') && *b == "{id}")))
        .then(|| v.get(method.to_ascii_lowercase()))
        .flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_query_parameters_are_those_of_wc_v3() {
    let (Some(index), Some(oas)) = (
        spec("wc-v3-index.json"),
        spec("woocommerce-openapi-3.0.x.yml"),
    ) else {
        eprintln!("skipped: spec absent");
        return;
    };
    let index: Value = serde_json::from_str(&index).unwrap();
    let oas: Value = serde_yaml::from_str(&oas).unwrap();
    let routes = index["routes"].as_object().unwrap();
    // Everything the client sends: an import (list, one by one, customers, write-backs),
    // stock batches, the configuration reads.
    env();
    let s = setup_with(Kind::Sqlite, &Seed::demo(30).with_broken(), |_| {}).await;
    let (_, status, _) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    let client = woocommerce::WooCommerceClient::new(
        Transport::new(&s.shop.url(), &s.shop.credentials(), WooAuth::Basic).unwrap(),
    );
    let catalog = WooCommerceCatalog::new(client.clone());
    catalog
        .set_stock(&[("COUS-Lin-40".into(), 3)], 100)
        .await
        .unwrap();
    use passerelle_workflows::ports::ShopConfigurationRead;
    let conf = client.read_configuration().await.unwrap();
    assert!(!conf.statuses.is_empty() && !conf.taxes.is_empty());

    // WordPress's global parameters, valid on every route.
    let global = ["_fields", "_envelope", "_embed", "context"];
    let mut checked = 0;
    for (key, names) in s.shop.params() {
        let (method, route) = key.split_once(' ').unwrap();
        let r = index_route(routes, route);
        let op = oas_operation(&oas, route, method);
        assert!(
            r.is_some() || op.is_some(),
            "route {route} is in neither spec"
        );
        for n in names {
            if global.contains(&n.as_str()) {
                continue;
            }
            let in_index = r.is_some_and(|r| {
                r["endpoints"].as_array().unwrap().iter().any(|e| {
                    e["methods"].as_array().unwrap().iter().any(|m| m == method)
                        && e["args"].get(&n).is_some()
                })
            });
            let in_oas = op.is_some_and(|o| {
                o["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == n.as_str())
            });
            assert!(
                in_index || in_oas,
                "{key}: parameter « {n} » is in neither spec"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "parameters checked: {checked}");
}

/// Every field of `v` is declared by `schema` with a compatible type (recursively).
fn conforms(v: &Value, schema: &Value, oas: &Value, path: &str, errors: &mut Vec<String>) {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &oas["components"]["schemas"][name]
        }
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
                        Some(s) => conforms(x, s, oas, &format!("{path}.{k}"), errors),
                        // Newer than the schema (WooCommerce ≥ 3.7 tax lines, cms-apis.md §2).
                        None if k == "rate_percent" => {}
                        None => errors.push(format!("{path}.{k}: not in the schema")),
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for (i, x) in a.iter().enumerate() {
                    conforms(x, items, oas, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_answers_conform_to_the_openapi() {
    let Some(oas) = spec("woocommerce-openapi-3.0.x.yml") else {
        eprintln!("skipped: spec absent");
        return;
    };
    let oas: Value = serde_yaml::from_str(&oas).unwrap();
    let (shop, _) = WooShop::from_seed(&Seed::demo(30));
    let sim = WooSim::start(shop, WooSimConfig::default()).await.unwrap();
    let t = Transport::new(&sim.url(), &sim.credentials(), WooAuth::Basic).unwrap();
    let mut errors = Vec::new();
    for route in [
        "orders",
        "products",
        "customers",
        "taxes",
        "payment_gateways",
    ] {
        let a = t
            .get(
                &format!("wc/v3/{route}"),
                &[("per_page".into(), "100".into())],
            )
            .await
            .unwrap();
        let op = oas_operation(&oas, route, "GET").unwrap();
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(!a.body.as_array().unwrap().is_empty(), "{route}");
        conforms(&a.body, schema, &oas, route, &mut errors);
    }
    let id = sim.shop().orders.keys().next().copied().unwrap();
    let a = t.get(&format!("wc/v3/orders/{id}"), &[]).await.unwrap();
    let op = oas_operation(&oas, "orders/{id}", "GET").unwrap();
    conforms(
        &a.body,
        &op["responses"]["200"]["content"]["application/json"]["schema"],
        &oas,
        "order",
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "{} deviation(s):\n{}",
        errors.len(),
        errors.join("\n")
    );
}
