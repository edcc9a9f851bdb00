//! Shopify end to end against the Shopify and EBP simulators, on SQLite and PostgreSQL:
//! import-orders (bad orders failed with their reason, nothing new the second time), every
//! GraphQL document of the client validated against the published Admin schema 2026-04,
//! a stock update of 2,000 articles through a small cost bucket (every article set once,
//! the bucket never over-drawn, every THROTTLED waited out), a worker killed between
//! `inventorySetQuantities` and its journal entry then resumed (no second change: same
//! idempotency key), a worker killed mid-import (one ERP document per order).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, seed_erp, REDIRECT_URI};
use passerelle::profiles::{ProfileFile, Profiles};
use passerelle_adapters::cms::shopify::{queries, CostBucket};
use passerelle_adapters::store::SqlQuotas;
use passerelle_domain::subscription::{PlanKind, QuotaCounter, SubscriptionCommand};
use passerelle_domain::{AccountId, Actor, ProfileId, RunEvent, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{EbpSim, EbpSimConfig, SimArticle};
use passerelle_simulators::seed::Seed;
use passerelle_simulators::shopify::{ShopifySim, ShopifySimConfig};
use passerelle_workflows::engine::RunStore;
use passerelle_workflows::ports::SystemClock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const PROFILE: &str = include_str!("../deploy/profile.shopify.sample.toml");

fn env() {
    std::env::set_var("PASSERELLE_MASTER_KEY", KEY);
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "5");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "100000");
    std::env::set_var("PASSERELLE_LEASE_MS", "800");
}

struct World {
    _db: TestDb,
    url: String,
    app: App,
    acc: AccountId,
    profile: ProfileId,
    shop: ShopifySim,
    ebp: EbpSim,
}

async fn setup(kind: Kind, seed: &Seed, config: ShopifySimConfig) -> World {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let shop = ShopifySim::start_at(seed, config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let ebp = EbpSim::start(EbpSimConfig {
        min_interval: Duration::from_millis(2),
        ..EbpSimConfig::default()
    })
    .await
    .unwrap();
    seed_erp(&ebp, &Seed::demo(0));
    let c = ebp.config();
    let folder = c.folders.first().map(|f| f.0.clone()).unwrap_or_default();
    let text = PROFILE
        .replace("{{SHOP_URL}}", &shop.url())
        .replace("{{SHOP_KEY}}", &shop.token())
        .replace("{{EBP_URL}}", &ebp.url())
        .replace("{{EBP_CLIENT_ID}}", &c.client_id)
        .replace("{{EBP_CLIENT_SECRET}}", &c.client_secret)
        .replace("{{EBP_SUBSCRIPTION_KEY}}", &c.subscription_key)
        .replace("{{EBP_FOLDER}}", &folder);
    let file: ProfileFile = toml::from_str(&text).unwrap();
    let profile = ProfileId::parse(&file.id).unwrap();
    let acc = account("acme");
    Profiles::new(app.db.clone())
        .import(&acc, file, app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    app.connectors()
        .unwrap()
        .ebp_client(&acc, &profile)
        .await
        .unwrap()
        .exchange_code(&ebp.authorize(REDIRECT_URI), REDIRECT_URI)
        .await
        .unwrap();
    ensure_import_plan(&app, &acc, 100_000).await.unwrap();
    // And an export plan for the stock updates.
    SqlQuotas::new(app.db.clone(), Arc::new(SystemClock))
        .execute(
            &acc,
            SubscriptionCommand::Purchase {
                counter: QuotaCounter::Export,
                plan: PlanKind::Monthly,
                units: 100_000,
                now: chrono::Utc::now(),
            },
            Actor::Cli,
        )
        .await
        .unwrap();
    app.projector.catch_up().await.unwrap();
    World {
        url: db.url.clone(),
        _db: db,
        app,
        acc,
        profile,
        shop,
        ebp,
    }
}

async fn run(w: &World, action: SyncAction) -> (RunId, RunStatus, journal::Counts) {
    let (id, status) = passerelle::commands::run_action(
        &w.app,
        &w.acc,
        w.profile.clone(),
        action,
        serde_json::json!({"retry_initial_ms": 50}),
    )
    .await
    .unwrap();
    let r = journal::get(&w.app.db, w.acc.as_str(), &id.to_string())
        .await
        .unwrap()
        .unwrap();
    (id, status, r.counts)
}

async fn reasons(w: &World, run: RunId) -> HashMap<String, String> {
    w.app
        .store
        .load_run(&w.acc, run)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            RunEvent::ItemFailed { item, reason } => Some((item.key, reason)),
            _ => None,
        })
        .collect()
}

fn docs_per_order(w: &World) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for d in w.ebp.documents() {
        *m.entry(d.atoosync_order.unwrap_or_default()).or_insert(0) += 1;
    }
    m
}

async fn verify_replay(w: &World) {
    let report = rebuild(&w.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}

async fn import_orders_end_to_end(kind: Kind) {
    let seed = Seed::demo(30).with_broken();
    let w = setup(kind, &seed, ShopifySimConfig::default()).await;
    let (run1, status, c1) = run(&w, SyncAction::ImportOrders).await;
    assert_eq!(status, RunStatus::Succeeded, "{c1:?}");
    assert!(c1.succeeded >= 20, "at least 20 orders imported: {c1:?}");
    assert_eq!(c1.failed, 2, "the two bad orders fail: {c1:?}");
    let why = reasons(&w, run1).await;
    assert!(
        why.values().any(|r| r.contains("quantité négative")),
        "{why:?}"
    );
    assert!(
        why.values().any(|r| r.contains("sans référence (SKU)")),
        "{why:?}"
    );
    let docs = docs_per_order(&w);
    assert_eq!(docs.len() as i64, c1.succeeded);
    assert!(docs.values().all(|n| *n == 1), "one document per order");
    // The document number went back to the order, in our metafield.
    for d in w.ebp.documents() {
        let id: u64 = d.atoosync_order.clone().unwrap().parse().unwrap();
        assert_eq!(
            w.shop.order_metafield(id, "passerelle", "erp_document"),
            Some(d.number.clone()),
            "order {id}"
        );
    }
    // A foreign-currency order (the profile wants foreign-currency documents): USD with
    // the rate of the order's own amounts.
    assert!(
        w.ebp
            .documents()
            .iter()
            .any(|d| d.document.currency == "USD"),
        "a USD document"
    );
    let (_, status, c2) = run(&w, SyncAction::ImportOrders).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c2.succeeded, 0, "nothing new the second time: {c2:?}");
    assert_eq!(w.ebp.documents().len() as i64, c1.succeeded, "no duplicate");
    let stats = w.shop.stats();
    assert_eq!(stats.too_costly, 0, "no query above 1,000 points");
    assert!(stats.lowest_level >= 0.0);
    verify_replay(&w).await;
}
both!(import_orders, import_orders_end_to_end);

/// The published schema, when `../shared` is beside the repository.
fn published_schema() -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/specs/shopify/admin-2026-04.graphql");
    std::fs::read_to_string(path).ok()
}

#[test]
fn every_document_validates_against_the_published_schema() {
    // The simulator's schema and cost rule agree with the client's documents and costs.
    for (name, doc, vars, cost) in queries::all() {
        let sim = passerelle_simulators::shopify::requested_cost(&doc, &vars)
            .unwrap_or_else(|e| panic!("{name} refused by the simulator's schema: {e}"));
        assert_eq!(
            sim,
            u64::from(cost),
            "{name}: client cost {cost}, simulator {sim}"
        );
        assert!(cost <= queries::MAX_QUERY_COST, "{name} costs {cost}");
    }
    let Some(sdl) = published_schema() else {
        println!("skipped: spec absent");
        return;
    };
    let schema = match apollo_compiler::Schema::parse_and_validate(sdl, "admin-2026-04.graphql") {
        Ok(s) => s,
        // Validation of the whole published schema is not ours to enforce: a document only
        // needs the parsed types (apollo-compiler still checks it against them).
        Err(e) => apollo_compiler::validation::Valid::assume_valid(e.partial),
    };
    let mut checked = 0;
    for (name, doc, ..) in queries::all() {
        if let Err(e) =
            apollo_compiler::ExecutableDocument::parse_and_validate(&schema, doc.as_str(), name)
        {
            panic!("{name} is not valid against Admin 2026-04:\n{}", e.errors);
        }
        checked += 1;
    }
    assert_eq!(checked, queries::all().len());
    // And an unknown field is caught (the check can fail).
    let bad = "query { shop { name notAField } }";
    assert!(apollo_compiler::ExecutableDocument::parse_and_validate(&schema, bad, "bad").is_err());
}

/// The simulator serves a pruned copy of the published schema (`simulators/src/shopify/
/// schema.graphql`): every type, field, argument, input field and enum value it declares must
/// exist in the published Admin 2026-04 schema with the same type, so the simulator can never
/// accept a document that Shopify would refuse for a name or type it does not know.
#[test]
fn the_simulator_schema_is_a_subset_of_the_published_one() {
    use apollo_compiler::schema::ExtendedType;
    let Some(sdl) = published_schema() else {
        println!("skipped: spec absent");
        return;
    };
    let published = match apollo_compiler::Schema::parse_and_validate(sdl, "admin-2026-04.graphql")
    {
        Ok(s) => s.into_inner(),
        Err(e) => e.partial,
    };
    let ours = apollo_compiler::Schema::parse_and_validate(
        include_str!("../../simulators/src/shopify/schema.graphql"),
        "schema.graphql",
    )
    .expect("the simulator's schema is valid")
    .into_inner();
    let mut problems = Vec::new();
    let mut checked = 0usize;
    // Same name and type of every argument (or input field) `ours` declares.
    // Returns how many names it compared.
    let same_inputs =
        |owner: &str,
         ours: &[apollo_compiler::Node<apollo_compiler::ast::InputValueDefinition>],
         theirs: &[apollo_compiler::Node<apollo_compiler::ast::InputValueDefinition>],
         problems: &mut Vec<String>| {
            for arg in ours {
                match theirs.iter().find(|t| t.name == arg.name) {
                    None => problems.push(format!("{owner}({}) is not published", arg.name)),
                    Some(t) if t.ty != arg.ty => problems.push(format!(
                        "{owner}({}): {} here, {} published",
                        arg.name, arg.ty, t.ty
                    )),
                    Some(_) => {}
                }
            }
            ours.len()
        };
    for (name, ty) in &ours.types {
        if ty.is_built_in() {
            continue;
        }
        let Some(theirs) = published.types.get(name) else {
            problems.push(format!("type {name} is not published"));
            continue;
        };
        match (ty, theirs) {
            (ExtendedType::Object(o), ExtendedType::Object(t)) => {
                for (f, def) in &o.fields {
                    checked += 1;
                    let Some(tf) = t.fields.get(f) else {
                        problems.push(format!("{name}.{f} is not published"));
                        continue;
                    };
                    if tf.ty != def.ty {
                        problems.push(format!("{name}.{f}: {} here, {} published", def.ty, tf.ty));
                    }
                    checked += same_inputs(
                        &format!("{name}.{f}"),
                        &def.arguments,
                        &tf.arguments,
                        &mut problems,
                    );
                }
            }
            (ExtendedType::InputObject(o), ExtendedType::InputObject(t)) => {
                let ours: Vec<_> = o.fields.values().map(|f| f.node.clone()).collect();
                let theirs: Vec<_> = t.fields.values().map(|f| f.node.clone()).collect();
                checked += same_inputs(name, &ours, &theirs, &mut problems);
            }
            (ExtendedType::Enum(o), ExtendedType::Enum(t)) => {
                for v in o.values.keys() {
                    checked += 1;
                    if !t.values.contains_key(v) {
                        problems.push(format!("{name}.{v} is not a published value"));
                    }
                }
            }
            (ExtendedType::Scalar(_), ExtendedType::Scalar(_)) => {}
            _ => problems.push(format!("{name} is not the same kind of type as published")),
        }
    }
    for (name, dir) in &ours.directive_definitions {
        if dir.is_built_in() {
            continue;
        }
        match published.directive_definitions.get(name) {
            None => problems.push(format!("directive @{name} is not published")),
            Some(t) => {
                checked += same_inputs(
                    &format!("@{name}"),
                    &dir.arguments,
                    &t.arguments,
                    &mut problems,
                )
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 100, "only {checked} names compared");
}

/// `n` ERP articles `SKU-00001`… with stock 1…n (and the shop's variants at 0).
fn seed_stock(w: &World, n: usize) {
    let articles: Vec<SimArticle> = (1..=n)
        .map(|i| SimArticle::new(&format!("SKU-{i:05}"), &format!("Article {i}"), i as i64))
        .collect();
    w.ebp.seed_articles(&articles);
    w.shop.add_articles(n, 0);
}

async fn stock_through_a_small_bucket(kind: Kind) {
    let n = 2000;
    let config = ShopifySimConfig {
        bucket_size: 500.0,
        restore_rate: 500.0,
        ..ShopifySimConfig::default()
    };
    let w = setup(kind, &Seed::demo(0), config).await;
    seed_stock(&w, n);
    // Another app of the shop spends the whole bucket just before our first two queries:
    // both are throttled and must be waited out.
    w.shop.drain_before_next(2);
    let (run1, status, c) = run(&w, SyncAction::UpdateStock).await;
    assert_eq!(status, RunStatus::Succeeded, "{c:?}");
    let why = reasons(&w, run1).await;
    assert!(why.is_empty(), "{why:?}");
    for i in 1..=n {
        assert_eq!(
            w.shop.available(&format!("SKU-{i:05}")),
            Some(i as i64),
            "SKU-{i:05}"
        );
    }
    let s = w.shop.stats();
    assert_eq!(
        s.throttled, 2,
        "both drained requests were throttled, then waited out"
    );
    assert!(
        s.lowest_level >= 0.0,
        "never over-drawn: {}",
        s.lowest_level
    );
    assert_eq!(s.too_costly, 0);
    assert!(
        s.sets_per_sku.values().all(|n| *n == 1),
        "each article set once"
    );
    assert_eq!(
        s.sets_per_sku
            .keys()
            .filter(|k| k.starts_with("SKU-"))
            .count(),
        n
    );
    // The shared bucket learnt the shop's limits from the answers.
    let level = CostBucket::new(w.app.db.clone())
        .level(&w.shop.url())
        .await
        .unwrap()
        .unwrap();
    assert!(
        level <= 500.0,
        "the bucket follows the shop's maximum: {level}"
    );
    verify_replay(&w).await;
}
both!(stock_small_bucket, stock_through_a_small_bucket);

fn passerelle(url: &str, args: &[&str], fault: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    cmd.args(args)
        .env("DATABASE_URL", url)
        .env("PASSERELLE_ACCOUNT", "acme")
        .env("PASSERELLE_MASTER_KEY", KEY)
        .env("PASSERELLE_LEASE_MS", "800")
        .env("PASSERELLE_EBP_MIN_INTERVAL_MS", "5")
        .env("PASSERELLE_EBP_DAILY_BUDGET", "100000")
        .env("PASSERELLE_TEST_RETRY_INITIAL_MS", "50");
    match fault {
        Some(f) => cmd.env("PASSERELLE_FAULT", f),
        None => cmd.env_remove("PASSERELLE_FAULT"),
    };
    cmd.output().unwrap()
}

/// Queues `action`, runs it in a worker process aborted after the first `step`, then in a
/// healthy one; returns the run's counts.
async fn crash_then_resume(w: &World, action: &str, step: &str) -> journal::Counts {
    let url = w.url.clone();
    let profile = w.profile.to_string();
    let (action, fault) = (action.to_string(), format!("abort-after:{step}:1"));
    let crashed = tokio::task::spawn_blocking(move || {
        let q = passerelle(&url, &["run", &profile, &action, "--enqueue-only"], None);
        assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
        passerelle(&url, &["worker", "--drain"], Some(&fault))
    })
    .await
    .unwrap();
    assert!(!crashed.status.success(), "the first worker was aborted");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let url = w.url.clone();
    let healthy =
        tokio::task::spawn_blocking(move || passerelle(&url, &["worker", "--drain"], None))
            .await
            .unwrap();
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    w.app.projector.catch_up().await.unwrap();
    let runs = journal::list(&w.app.db, w.acc.as_str(), &Default::default())
        .await
        .unwrap();
    let r = runs.first().unwrap();
    assert_eq!(r.status.as_str(), "succeeded", "{r:?}");
    r.counts
}

async fn crash_after_inventory_set(kind: Kind) {
    let n = 300;
    let w = setup(kind, &Seed::demo(0), ShopifySimConfig::default()).await;
    seed_stock(&w, n);
    let c = crash_then_resume(&w, "update-stock", "write_stock").await;
    // The n articles plus the demo catalogue the ERP also has (in the shop too).
    assert_eq!(c.failed, 0, "{c:?}");
    assert!(c.succeeded >= n as i64, "{c:?}");
    let s = w.shop.stats();
    assert!(
        s.replays >= 1,
        "the resumed step was answered from its first call: {s:?}"
    );
    assert!(
        s.sets_per_sku.values().all(|k| *k == 1),
        "no article changed twice"
    );
    assert_eq!(
        s.sets_per_sku
            .keys()
            .filter(|k| k.starts_with("SKU-"))
            .count(),
        n
    );
    for i in 1..=n {
        assert_eq!(w.shop.available(&format!("SKU-{i:05}")), Some(i as i64));
    }
    verify_replay(&w).await;
}
both!(crash_inventory, crash_after_inventory_set);

async fn worker_killed_mid_import(kind: Kind) {
    let w = setup(
        kind,
        &Seed::demo(30).with_broken(),
        ShopifySimConfig::default(),
    )
    .await;
    let c = crash_then_resume(&w, "import-orders", "erp_import").await;
    assert!(c.succeeded >= 20, "{c:?}");
    let docs = docs_per_order(&w);
    assert_eq!(docs.len() as i64, c.succeeded);
    assert!(
        docs.values().all(|n| *n == 1),
        "exactly one ERP document per order"
    );
    verify_replay(&w).await;
}
both!(killed_import, worker_killed_mid_import);
