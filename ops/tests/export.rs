//! Article exports end to end against the PrestaShop and EBP simulators, on SQLite and
//! PostgreSQL: the shop's products checked field by field after export-articles,
//! update-prices and update-stock; idempotent re-runs; the incremental window and the
//! hand-set last transfer date; a quota smaller than the catalogue; bad ERP data.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::catalog_connectors::set_last_transfer;
use passerelle::demo::DemoWorld;
use passerelle::export_demo::ensure_export_plan;
use passerelle::profiles::Profiles;
use passerelle_domain::{AccountId, Actor, ProfileId, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{EbpSimConfig, SimArticle, MAIN_WAREHOUSE};
use passerelle_workflows::engine::RunStore;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

fn env() {
    export_env();
}

struct Setup {
    _db: TestDb,
    app: App,
    world: DemoWorld,
    acc: AccountId,
    profile: ProfileId,
}

/// The demo world without orders, the EBP rate limit off, an export plan of `units`.
async fn setup(kind: Kind, units: u64, incremental: bool) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let world = DemoWorld::start(
        0,
        EbpSimConfig {
            rate_limit: false,
            min_interval: Duration::ZERO,
            ..EbpSimConfig::default()
        },
    )
    .await
    .unwrap();
    let acc = account("acme");
    let profile = world.install(&app, &acc).await.unwrap();
    if incremental {
        let mut file = world.profile_file().unwrap();
        if let Some(e) = file.export.as_mut() {
            e.incremental = true;
        }
        Profiles::new(app.db.clone())
            .import(&acc, file, app.secrets().unwrap().as_ref(), Actor::Cli)
            .await
            .unwrap();
    }
    if units > 0 {
        ensure_export_plan(&app, &acc, units).await.unwrap();
    }
    Setup {
        _db: db,
        app,
        world,
        acc,
        profile,
    }
}

async fn run(s: &Setup, action: SyncAction) -> (RunId, RunStatus, journal::Counts) {
    run_counted(&s.app, &s.acc, &s.profile, action).await
}

/// Item key → (outcome, message) of a run.
async fn items(s: &Setup, run: RunId) -> HashMap<String, (&'static str, String)> {
    item_outcomes(&s.app, &s.acc, run).await
}

/// The shop's product with this reference (first language for multilingual fields).
fn product(s: &Setup, reference: &str) -> Option<HashMap<String, String>> {
    s.world.shop.with_shop(|shop| {
        shop.rows("products")
            .into_iter()
            .find(|p| p.get("reference").and_then(Value::as_str) == Some(reference))
            .map(|p| {
                p.iter()
                    .map(|(k, v)| {
                        let t = match v {
                            Value::String(x) => x.clone(),
                            Value::Array(a) => a
                                .first()
                                .and_then(|l| l.get("value"))
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            other => other.to_string(),
                        };
                        (k.clone(), t)
                    })
                    .collect()
            })
    })
}

fn count_products(s: &Setup) -> usize {
    s.world.shop.with_shop(|shop| shop.rows("products").len())
}

fn count_stock_rows(s: &Setup) -> usize {
    s.world
        .shop
        .with_shop(|shop| shop.rows("stock_availables").len())
}

async fn verify_replay(s: &Setup) {
    let report = rebuild(&s.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}

async fn export_prices_stock(kind: Kind) {
    let s = setup(kind, 1000, false).await;
    assert_eq!(
        count_products(&s),
        9,
        "the demo shop starts with 9 products"
    );
    let (run1, status, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    // 11 published articles (the unpublished one and the special articles are left out).
    assert_eq!(
        (c.total, c.succeeded, c.failed, c.ignored),
        (11, 11, 0, 0),
        "{c:?}"
    );
    assert_eq!(count_products(&s), 11);
    assert!(product(&s, "ARCHIVE-2019").is_none());
    let vase = product(&s, "VASE-Gres").unwrap();
    for (k, v) in [
        ("name", "Vase en grès émaillé"),
        ("price", "45.000000"),
        ("id_tax_rules_group", "1"),
        ("active", "1"),
        ("state", "1"),
        ("id_category_default", "2"),
        ("description_short", "<p>Nouveauté</p>"),
        ("meta_title", "Vase en grès émaillé"),
        ("link_rewrite", "vase-en-gres-emaille"),
        ("weight", "0.900000"),
    ] {
        assert_eq!(vase.get(k).map(String::as_str), Some(v), "VASE-Gres {k}");
    }
    assert_eq!(s.world.shop.stock("VASE-Gres"), Some(8));
    let tapis = product(&s, "TAPI-Gris-Pla").unwrap();
    assert_eq!(
        tapis.get("description").map(String::as_str),
        Some("<p><strong>Tapis gris plat 160x230</strong></p>\n<p>Qualité Maison Lumière.</p>")
    );
    assert_eq!(tapis.get("price").map(String::as_str), Some("189.000000"));
    assert_eq!(tapis.get("weight").map(String::as_str), Some("0.250000"));
    let the = product(&s, "THE-Vert-100").unwrap();
    assert_eq!(the.get("id_tax_rules_group").map(String::as_str), Some("3"));
    let it = items(&s, run1).await;
    assert!(it["VASE-Gres"].1.contains("créé"), "{:?}", it["VASE-Gres"]);
    assert!(it["TAPI-Gris-Pla"].1.contains("mis à jour"));

    // Again: nothing to write, nothing duplicated.
    let stock_rows = count_stock_rows(&s);
    let (run2, _, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!((c.succeeded, c.failed), (11, 0));
    assert_eq!(count_products(&s), 11);
    assert_eq!(count_stock_rows(&s), stock_rows);
    assert!(items(&s, run2)
        .await
        .values()
        .all(|(_, m)| m.contains("déjà à jour")));

    // Prices: the ERP changes one (rounded half-up to 2 decimals).
    s.world.ebp.update_article(
        "COUS-Lin-40",
        &[
            ("SalePriceVatExcluded", json!(22.905)),
            ("VatId", json!("TI")),
        ],
    );
    let (_, status, c) = run(&s, SyncAction::UpdatePrices).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded), (11, 11));
    let cous = product(&s, "COUS-Lin-40").unwrap();
    assert_eq!(cous.get("price").map(String::as_str), Some("22.910000"));
    assert_eq!(
        cous.get("id_tax_rules_group").map(String::as_str),
        Some("2")
    );
    assert_eq!(
        product(&s, "TAPI-Gris-Pla")
            .unwrap()
            .get("price")
            .map(String::as_str),
        Some("189.000000")
    );

    // Stock: summed over the profile's warehouse, negative sent as 0, untracked → default.
    s.world
        .ebp
        .seed_stock("PLAID-Laine", MAIN_WAREHOUSE, Decimal::new(75, 1));
    s.world
        .ebp
        .seed_stock("RIDEAU-Voile", MAIN_WAREHOUSE, Decimal::from(-4));
    s.world
        .ebp
        .update_article("CARTE-Cadeau", &[("ManageStock", json!(false))]);
    let (run3, status, c) = run(&s, SyncAction::UpdateStock).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded), (11, 11));
    assert_eq!(s.world.shop.stock("PLAID-Laine"), Some(7));
    assert_eq!(s.world.shop.stock("RIDEAU-Voile"), Some(0));
    assert_eq!(s.world.shop.stock("CARTE-Cadeau"), Some(0));
    assert_eq!(s.world.shop.stock("VASE-Gres"), Some(8));
    let it = items(&s, run3).await;
    assert!(
        it["RIDEAU-Voile"].1.contains("stock négatif"),
        "{:?}",
        it["RIDEAU-Voile"]
    );
    assert_eq!(count_products(&s), 11);
    verify_replay(&s).await;
}
both!(
    export_then_prices_then_stock_leave_the_shop_as_the_erp_says,
    export_prices_stock
);

async fn incremental(kind: Kind) {
    let s = setup(kind, 1000, true).await;
    // First run: no last transfer yet, everything.
    let (_, _, c) = run(&s, SyncAction::UpdatePrices).await;
    assert_eq!(c.total, 11);
    // Nothing touched since: the articles are dated long before.
    let old = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    s.world.ebp.date_all_articles(old);
    // One article modified after the last transfer…
    s.world
        .ebp
        .update_article("COUS-Lin-40", &[("SalePriceVatExcluded", json!(30))]);
    // …and one whose change carries an older modification date.
    s.world
        .ebp
        .update_article("THE-Vert-100", &[("SalePriceVatExcluded", json!(9.5))]);
    s.world.ebp.date_article("THE-Vert-100", old);
    let (run2, _, c) = run(&s, SyncAction::UpdatePrices).await;
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    assert!(items(&s, run2).await.contains_key("COUS-Lin-40"));
    assert_eq!(
        product(&s, "COUS-Lin-40")
            .unwrap()
            .get("price")
            .map(String::as_str),
        Some("30.000000")
    );
    assert_eq!(
        product(&s, "THE-Vert-100")
            .unwrap()
            .get("price")
            .map(String::as_str),
        Some("8.200000"),
        "modified before the last transfer: not sent"
    );
    // The merchant moves the date back: the older change goes out.
    let at = chrono::DateTime::parse_from_rfc3339("2019-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    set_last_transfer(
        &s.app.db,
        &s.acc,
        &s.profile,
        SyncAction::UpdatePrices,
        at,
        Actor::Cli,
    )
    .await
    .unwrap();
    let (run3, _, c) = run(&s, SyncAction::UpdatePrices).await;
    // Update prices never creates: the two articles the shop lacks are ignored.
    assert_eq!((c.total, c.succeeded, c.ignored), (11, 9, 2), "{c:?}");
    let it = items(&s, run3).await;
    assert!(
        it["VASE-Gres"].1.contains("absent de la boutique"),
        "{:?}",
        it["VASE-Gres"]
    );
    assert_eq!(count_products(&s), 9);
    assert_eq!(
        product(&s, "THE-Vert-100")
            .unwrap()
            .get("price")
            .map(String::as_str),
        Some("9.500000")
    );
    // Incremental stock: only stock rows changed since the last stock transfer.
    let (_, _, c) = run(&s, SyncAction::UpdateStock).await;
    assert_eq!(c.total, 11);
    s.world.ebp.date_all_articles(old);
    s.world
        .ebp
        .seed_stock("LIVRE-Deco", MAIN_WAREHOUSE, Decimal::from(3));
    let calls_before = s.world.ebp.calls().len();
    let (_, _, c) = run(&s, SyncAction::UpdateStock).await;
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    assert_eq!(s.world.shop.stock("LIVRE-Deco"), Some(3));
    let calls = s.world.ebp.calls().len() - calls_before;
    assert!(calls <= 3, "incremental stock took {calls} ERP calls");
    verify_replay(&s).await;
}
both!(
    incremental_runs_send_what_changed_since_the_last_transfer_or_the_date_set,
    incremental
);

async fn quota(kind: Kind) {
    let s = setup(kind, 4, false).await;
    let (run1, status, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(
        (c.total, c.succeeded, c.ignored, c.failed),
        (11, 4, 7, 0),
        "{c:?}"
    );
    let it = items(&s, run1).await;
    assert_eq!(
        it.values()
            .filter(|(o, m)| *o == "ignored" && m.contains("quota épuisé"))
            .count(),
        7
    );
    // Page order is by reference: BOUGIE-Soja (created) … LAMPE-Laiton written; VASE-Gres not.
    assert!(product(&s, "BOUGIE-Soja").is_some());
    assert!(
        product(&s, "VASE-Gres").is_none(),
        "nothing beyond the quota is written"
    );
    let (counters, _, _) =
        passerelle_projections::orders::quota_view(&s.app.db, s.acc.as_str(), chrono::Utc::now())
            .await
            .unwrap();
    let exp = counters.iter().find(|c| c.counter == "export").unwrap();
    assert_eq!((exp.bought, exp.used, exp.available), (4, 4, 0));
    verify_replay(&s).await;
}
both!(a_quota_smaller_than_the_catalogue_stops_at_the_limit, quota);

async fn bad_data(kind: Kind) {
    let s = setup(kind, 1000, false).await;
    s.world.ebp.seed_articles(&[
        SimArticle::new("", "Sans référence", 1).price(Decimal::from(5), Decimal::from(20)),
        SimArticle::new("DUP-1", "Doublon A", 1).price(Decimal::from(5), Decimal::from(20)),
        SimArticle::new("dup-1", "Doublon B", 1).price(Decimal::from(6), Decimal::from(20)),
        SimArticle::new("NEG-Prix", "Prix négatif", 1).price(Decimal::from(-5), Decimal::ZERO),
        SimArticle::new("TXT-Prix", "Prix illisible", 1)
            .column("SalePriceVatExcluded", json!("douze")),
        SimArticle::new("HUGE-Stock", "Stock aberrant", 2_000_000_000)
            .price(Decimal::from(5), Decimal::from(20)),
    ]);
    let (run1, status, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded, "the run goes on");
    assert_eq!((c.total, c.succeeded, c.failed), (17, 12, 5), "{c:?}");
    let it = items(&s, run1).await;
    let reason = |k: &str| {
        it.get(k)
            .map(|(o, m)| format!("{o}: {m}"))
            .unwrap_or_default()
    };
    assert!(
        reason("(vide)").contains("référence d'article vide"),
        "{}",
        reason("(vide)")
    );
    assert!(reason("dup-1").contains("en double"), "{}", reason("dup-1"));
    assert!(
        reason("DUP-1").starts_with("succeeded"),
        "{}",
        reason("DUP-1")
    );
    assert!(reason("NEG-Prix").contains("prix de vente négatif"));
    assert!(reason("TXT-Prix").contains("SalePriceVatExcluded illisible"));
    assert!(reason("HUGE-Stock").contains("stock aberrant"));
    assert!(product(&s, "NEG-Prix").is_none());
    assert!(product(&s, "HUGE-Stock").is_none());
    assert_eq!(
        product(&s, "DUP-1")
            .unwrap()
            .get("name")
            .map(String::as_str),
        Some("Doublon A")
    );
    verify_replay(&s).await;
}
both!(bad_erp_data_fails_that_article_with_a_reason, bad_data);

async fn activation_and_new_articles(kind: Kind) {
    let s = setup(kind, 1000, false).await;
    let (_, status, _) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    // The four cases: published+active stays on; asleep or unpublished go off.
    s.world
        .ebp
        .update_article("TAPI-Bleu-Pla", &[("ActiveState", json!(1))]);
    s.world
        .ebp
        .update_article("LIVRE-Deco", &[("AllowPublishOnWeb", json!(false))]);
    s.world.ebp.update_article(
        "RIDEAU-Voile",
        &[
            ("AllowPublishOnWeb", json!(false)),
            ("ActiveState", json!(2)),
        ],
    );
    let products = count_products(&s);
    let (run1, status, c) = run(&s, SyncAction::ActivateArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    // Every article is read (unpublished ones too): 11 in the shop, the unpublished
    // ARCHIVE-2019 and the 9 special articles are not — ignored, never created.
    assert_eq!(
        (c.total, c.succeeded, c.ignored, c.failed),
        (21, 11, 10, 0),
        "{c:?}"
    );
    assert_eq!(count_products(&s), products);
    let active = |r: &str| product(&s, r).unwrap().get("active").cloned();
    assert_eq!(active("TAPI-Bleu-Pla").as_deref(), Some("0"));
    assert_eq!(active("LIVRE-Deco").as_deref(), Some("0"));
    assert_eq!(active("RIDEAU-Voile").as_deref(), Some("0"));
    assert_eq!(active("TAPI-Gris-Pla").as_deref(), Some("1"));
    let it = items(&s, run1).await;
    assert!(
        it["ARCHIVE-2019"].1.contains("ni créé ni supprimé"),
        "{:?}",
        it["ARCHIVE-2019"]
    );
    s.world
        .ebp
        .update_article("TAPI-Bleu-Pla", &[("ActiveState", json!(0))]);
    run(&s, SyncAction::ActivateArticles).await;
    assert_eq!(active("TAPI-Bleu-Pla").as_deref(), Some("1"));

    // Export of new articles: the first run has no last transfer (everything), the next
    // only what was created since — not what was merely modified.
    let (_, _, c) = run(&s, SyncAction::ExportNewArticles).await;
    assert_eq!(c.total, 9, "published articles only: {c:?}");
    let old = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    s.world.ebp.date_all_articles(old);
    s.world
        .ebp
        .update_article("COUS-Lin-40", &[("SalePriceVatExcluded", json!(31))]);
    s.world
        .ebp
        .seed_articles(&[SimArticle::new("NOUV-1", "Nouveauté", 4)
            .price(Decimal::from(12), Decimal::from(20))
            .vat("TN")]);
    let (run2, _, c) = run(&s, SyncAction::ExportNewArticles).await;
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    assert!(items(&s, run2).await["NOUV-1"].1.contains("créé"));
    assert_eq!(s.world.shop.stock("NOUV-1"), Some(4));
    assert_eq!(
        product(&s, "COUS-Lin-40")
            .unwrap()
            .get("price")
            .map(String::as_str),
        Some("24.900000"),
        "modified, not new: left to export-articles"
    );
    verify_replay(&s).await;
}
both!(
    activation_follows_the_four_cases_and_new_articles_only_takes_new_ones,
    activation_and_new_articles
);

/// A worker process aborted right after the first page of products was written to the
/// shop, before that step was journaled: another worker resumes the run, the step runs
/// again, finds the products by reference, and nothing is created twice.
async fn crash(kind: Kind) {
    let s = setup(kind, 1000, false).await;
    let url = s._db.url.clone();
    let id = RunId::from_uuid(uuid::Uuid::now_v7());
    s.app
        .store
        .enqueue(passerelle_workflows::engine::NewRun {
            run_id: id,
            account_id: s.acc.clone(),
            profile_id: s.profile.clone(),
            action: SyncAction::ExportArticles,
            trigger: passerelle_domain::Trigger::Manual,
            input: json!({"retry_initial_ms": 50}),
            actor: Actor::Cli,
            requested_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let worker = |fault: Option<&'static str>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"));
            cmd.args(["worker", "--drain"])
                .env("DATABASE_URL", &url)
                .env("PASSERELLE_ACCOUNT", "acme")
                .env("PASSERELLE_LEASE_MS", "800");
            match fault {
                Some(f) => cmd.env("PASSERELLE_FAULT", f),
                None => cmd.env_remove("PASSERELLE_FAULT"),
            };
            cmd.status().unwrap()
        })
    };
    let status = worker(Some("abort-after:write_products:1")).await.unwrap();
    assert!(!status.success(), "the first worker was aborted");
    assert_eq!(
        count_products(&s),
        11,
        "the products were written before the abort"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let status = worker(None).await.unwrap();
    assert!(status.success());
    s.app.projector.catch_up().await.unwrap();
    let r = journal::get(&s.app.db, s.acc.as_str(), &id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.counts.total, r.counts.succeeded),
        (11, 11),
        "{:?}",
        r.counts
    );
    assert_eq!(count_products(&s), 11, "no product created twice");
    assert_eq!(count_stock_rows(&s), 11, "one stock row per product");
    assert_eq!(s.world.shop.stock("VASE-Gres"), Some(8));
    verify_replay(&s).await;
}
both!(
    a_worker_killed_after_writing_products_creates_nothing_twice,
    crash
);

async fn categories(kind: Kind) {
    let s = setup(kind, 1000, false).await;
    let mut file = s.world.profile_file().unwrap();
    if let Some(e) = file.export.as_mut() {
        e.category_levels = vec!["FamilyId".into(), "xx_Gamme".into()];
    }
    Profiles::new(s.app.db.clone())
        .import(&s.acc, file, s.app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    for (r, family, range) in [
        ("TAPI-Gris-Pla", "Tapis", Some("Laine")),
        ("TAPI-Bleu-Pla", "Tapis", Some("Coton")),
        ("RIDEAU-Voile", "tapis", None),
        ("COUS-Lin-40", "Textile", Some("Laine")),
    ] {
        let mut cols = vec![("FamilyId", json!(family))];
        if let Some(g) = range {
            cols.push(("xx_Gamme", json!(g)));
        }
        s.world.ebp.update_article(r, &cols);
    }
    let categories = || {
        s.world.shop.with_shop(|shop| {
            shop.rows("categories")
                .into_iter()
                .map(|c| {
                    let name = c["name"][0]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let parent = c["id_parent"].as_str().unwrap_or_default().to_string();
                    (c["id"].to_string(), (name, parent))
                })
                .collect::<HashMap<String, (String, String)>>()
        })
    };
    let (_, status, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded), (11, 11), "{c:?}");
    let cats = categories();
    // Root and home, then Tapis (once, whatever the case), Laine and Coton under it,
    // Textile and its own Laine under home.
    assert_eq!(cats.len(), 2 + 5, "{cats:?}");
    let id_of = |name: &str, parent: &str| {
        cats.iter()
            .find(|(_, (n, p))| n == name && p == parent)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("category {name} under {parent}: {cats:?}"))
    };
    let tapis = id_of("Tapis", "2");
    let laine = id_of("Laine", &tapis);
    let textile = id_of("Textile", "2");
    id_of("Coton", &tapis);
    id_of("Laine", &textile);
    let assoc = |r: &str| -> Vec<String> {
        s.world.shop.with_shop(|shop| {
            shop.rows("products")
                .into_iter()
                .find(|p| p["reference"] == json!(r))
                .and_then(|p| p.get("associations").cloned())
                .and_then(|a| a.get("categories").cloned())
                .and_then(|c| c.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_string))
                .collect()
        })
    };
    assert_eq!(assoc("TAPI-Gris-Pla"), vec![tapis.clone(), laine]);
    assert_eq!(assoc("RIDEAU-Voile"), vec![tapis]);
    // A new product without family: its default category only.
    assert_eq!(assoc("VASE-Gres"), vec!["2".to_string()]);
    // Again: no category, product or association created twice.
    let (run2, _, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(c.succeeded, 11);
    assert_eq!(categories().len(), 7);
    assert_eq!(count_products(&s), 11);
    assert!(items(&s, run2)
        .await
        .values()
        .all(|(_, m)| m.contains("déjà à jour")));
    verify_replay(&s).await;
}
both!(
    category_levels_are_created_once_and_products_associated,
    categories
);

/// The text of a product's multilingual field in language `lang`.
fn product_text(s: &Setup, reference: &str, field: &str, lang: &str) -> Option<String> {
    s.world.shop.with_shop(|shop| {
        shop.rows("products")
            .into_iter()
            .find(|p| p.get("reference").and_then(Value::as_str) == Some(reference))
            .and_then(|p| p.get(field).and_then(Value::as_array).cloned())
            .and_then(|a| {
                a.iter()
                    .find(|l| l.get("id").and_then(Value::as_str) == Some(lang))
                    .and_then(|l| l.get("value").and_then(Value::as_str))
                    .map(str::to_string)
            })
    })
}

fn category_ids(s: &Setup, reference: &str) -> Vec<String> {
    s.world.shop.with_shop(|shop| {
        shop.rows("products")
            .into_iter()
            .find(|p| p.get("reference").and_then(Value::as_str) == Some(reference))
            .and_then(|p| {
                p.get("associations")?
                    .get("categories")?
                    .as_array()
                    .cloned()
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_string))
            .collect()
    })
}

async fn extras(kind: Kind) {
    let s = setup(kind, 1000, false).await;
    let mut file = s.world.profile_file().unwrap();
    let e = file.export.as_mut().unwrap();
    e.languages = vec!["1".into(), "2".into()];
    e.language_texts.insert(
        "2".into(),
        passerelle_domain::catalog::TextMapping {
            name: Some("xx_name_en".into()),
            description: None,
            ..Default::default()
        },
    );
    e.manufacturer = Some("xx_marque".into());
    e.extra_categories = Some(passerelle_domain::catalog::ExtraCategories {
        field: "xx_cats".into(),
        separator: ";".into(),
        by: passerelle_domain::catalog::CategoryKey::Name,
    });
    Profiles::new(s.app.db.clone())
        .import(&s.acc, file, s.app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    let (promos, noel) = s
        .world
        .shop
        .with_shop(|shop| (shop.add_category("Promos", 2), shop.add_category("Noël", 2)));
    s.world.ebp.update_article(
        "VASE-Gres",
        &[
            ("xx_name_en", json!("Glazed stoneware vase")),
            ("xx_marque", json!("Atelier Grès")),
            ("xx_cats", json!(" promos ;Inconnue; Noël")),
        ],
    );
    s.world.ebp.update_article(
        "COUS-Lin-40",
        &[
            ("xx_marque", json!("Atelier Grès")),
            ("xx_cats", json!("Noël")),
        ],
    );
    s.world
        .ebp
        .update_article("THE-Vert-100", &[("xx_marque", json!("Thé <bio>"))]);

    let (run1, status, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded, c.failed), (11, 11, 0), "{c:?}");
    // Per-language texts: English name from its own column, French elsewhere; an
    // untranslated article shows the main text in both languages.
    assert_eq!(
        product_text(&s, "VASE-Gres", "name", "2").as_deref(),
        Some("Glazed stoneware vase")
    );
    assert_eq!(
        product_text(&s, "VASE-Gres", "name", "1").as_deref(),
        Some("Vase en grès émaillé")
    );
    assert_eq!(
        product_text(&s, "VASE-Gres", "link_rewrite", "2").as_deref(),
        Some("glazed-stoneware-vase")
    );
    assert_eq!(
        product_text(&s, "COUS-Lin-40", "name", "2"),
        product_text(&s, "COUS-Lin-40", "name", "1")
    );
    // One manufacturer for both articles, created once.
    let makers: Vec<(String, String)> = s.world.shop.with_shop(|shop| {
        shop.rows("manufacturers")
            .into_iter()
            .map(|m| {
                (
                    m.get("id")
                        .map(|v| v.to_string().trim_matches('"').to_string())
                        .unwrap_or_default(),
                    m.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    });
    assert_eq!(makers.len(), 1, "{makers:?}");
    assert_eq!(makers[0].1, "Atelier Grès");
    let vase = product(&s, "VASE-Gres").unwrap();
    assert_eq!(vase.get("id_manufacturer"), Some(&makers[0].0));
    let cous = product(&s, "COUS-Lin-40").unwrap();
    assert_eq!(cous.get("id_manufacturer"), Some(&makers[0].0));
    // Supplementary categories found by name (any case), default category kept.
    let cats = category_ids(&s, "VASE-Gres");
    assert!(cats.contains(&promos.to_string()), "{cats:?}");
    assert!(cats.contains(&noel.to_string()), "{cats:?}");
    assert!(cats.contains(&"2".to_string()), "{cats:?}");
    assert_eq!(
        vase.get("id_category_default").map(String::as_str),
        Some("2")
    );
    let cats = category_ids(&s, "COUS-Lin-40");
    assert!(cats.contains(&noel.to_string()) && !cats.contains(&promos.to_string()));
    // What cannot be resolved is said on the item, the product still goes out.
    let it = items(&s, run1).await;
    assert!(
        it["VASE-Gres"].1.contains("introuvable") && it["VASE-Gres"].1.contains("Inconnue"),
        "{:?}",
        it["VASE-Gres"]
    );
    assert!(
        it["THE-Vert-100"].1.contains("marque « Thé <bio> »"),
        "{:?}",
        it["THE-Vert-100"]
    );
    assert!(product(&s, "THE-Vert-100").is_some());
    let category_count = s.world.shop.with_shop(|shop| shop.rows("categories").len());

    // Again: nothing duplicated, nothing rewritten.
    let (run2, _, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!((c.succeeded, c.failed), (11, 0));
    assert_eq!(
        s.world
            .shop
            .with_shop(|shop| shop.rows("manufacturers").len()),
        1
    );
    assert_eq!(
        s.world.shop.with_shop(|shop| shop.rows("categories").len()),
        category_count,
        "supplementary categories are never created"
    );
    assert!(items(&s, run2).await["COUS-Lin-40"]
        .1
        .contains("déjà à jour"));
    verify_replay(&s).await;
}
both!(
    languages_manufacturer_and_supplementary_categories_reach_the_shop,
    extras
);

async fn incremental_export_and_activation(kind: Kind) {
    let s = setup(kind, 1000, true).await;
    let old = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let back = chrono::DateTime::parse_from_rfc3339("2019-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let name = |r: &str| {
        product(&s, r)
            .unwrap()
            .get("name")
            .cloned()
            .unwrap_or_default()
    };

    // Export articles: the first run sends everything, the next only what was modified.
    let (_, _, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(c.total, 11);
    s.world.ebp.date_all_articles(old);
    s.world
        .ebp
        .update_article("VASE-Gres", &[("Caption", json!("Vase bleu"))]);
    s.world
        .ebp
        .update_article("THE-Vert-100", &[("Caption", json!("Thé vert bio"))]);
    s.world.ebp.date_article("THE-Vert-100", old);
    let (run2, _, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    assert!(items(&s, run2).await.contains_key("VASE-Gres"));
    assert_eq!(name("VASE-Gres"), "Vase bleu");
    assert_ne!(
        name("THE-Vert-100"),
        "Thé vert bio",
        "modified before: not sent"
    );
    set_last_transfer(
        &s.app.db,
        &s.acc,
        &s.profile,
        SyncAction::ExportArticles,
        back,
        Actor::Cli,
    )
    .await
    .unwrap();
    let (_, _, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(c.total, 11, "the date set by hand widens the window: {c:?}");
    assert_eq!(name("THE-Vert-100"), "Thé vert bio");

    // Activation: only articles modified since the last status update.
    let (_, _, c) = run(&s, SyncAction::ActivateArticles).await;
    assert_eq!(c.total, 21);
    s.world.ebp.date_all_articles(old);
    s.world
        .ebp
        .update_article("TAPI-Bleu-Pla", &[("ActiveState", json!(1))]);
    s.world
        .ebp
        .update_article("LIVRE-Deco", &[("AllowPublishOnWeb", json!(false))]);
    s.world.ebp.date_article("LIVRE-Deco", old);
    let (_, _, c) = run(&s, SyncAction::ActivateArticles).await;
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    let active = |r: &str| product(&s, r).unwrap().get("active").cloned();
    assert_eq!(active("TAPI-Bleu-Pla").as_deref(), Some("0"));
    assert_eq!(
        active("LIVRE-Deco").as_deref(),
        Some("1"),
        "modified before: untouched"
    );
    set_last_transfer(
        &s.app.db,
        &s.acc,
        &s.profile,
        SyncAction::ActivateArticles,
        back,
        Actor::Cli,
    )
    .await
    .unwrap();
    run(&s, SyncAction::ActivateArticles).await;
    assert_eq!(active("LIVRE-Deco").as_deref(), Some("0"));
    verify_replay(&s).await;
}
both!(
    export_and_activation_are_incremental_from_the_last_transfer_or_the_date_set,
    incremental_export_and_activation
);

/// The shop id of the product with this reference.
fn product_id(s: &Setup, reference: &str) -> u64 {
    product(s, reference).unwrap()["id"].parse().unwrap()
}

async fn fields_switches_out_of_stock(kind: Kind) {
    let s = setup(kind, 1000, false).await;
    let mut file = s.world.profile_file().unwrap();
    let e = file.export.as_mut().unwrap();
    e.languages = vec!["1".into(), "2".into()];
    e.update.all_languages = false;
    e.ean13 = Some("BarCode".into());
    e.dimensions.width = Some("xx_largeur".into());
    e.dimensions.height = Some("xx_hauteur".into());
    e.disable_when_out_of_stock = true;
    Profiles::new(s.app.db.clone())
        .import(&s.acc, file, s.app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    s.world.ebp.update_article(
        "VASE-Gres",
        &[
            ("BarCode", json!("3401234567890")),
            ("xx_largeur", json!("12,5")),
            ("xx_hauteur", json!("haut")),
        ],
    );
    s.world
        .ebp
        .update_article("COUS-Lin-40", &[("BarCode", json!("34-01"))]);
    let (run1, status, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.succeeded, c.failed), (11, 0), "{c:?}");
    let vase = product(&s, "VASE-Gres").unwrap();
    assert_eq!(vase.get("ean13").map(String::as_str), Some("3401234567890"));
    assert_eq!(vase.get("width").map(String::as_str), Some("12.500000"));
    assert_ne!(vase.get("height").map(String::as_str), Some("haut"));
    let it = items(&s, run1).await;
    assert!(
        it["VASE-Gres"].1.contains("hauteur « haut »"),
        "{:?}",
        it["VASE-Gres"]
    );
    assert!(
        it["COUS-Lin-40"].1.contains("code-barres « 34-01 »"),
        "{:?}",
        it["COUS-Lin-40"]
    );
    assert_ne!(
        product(&s, "COUS-Lin-40")
            .unwrap()
            .get("ean13")
            .map(String::as_str),
        Some("34-01")
    );
    // A new product got its texts in both languages.
    assert_eq!(
        product_text(&s, "VASE-Gres", "name", "2").as_deref(),
        Some("Vase en grès émaillé")
    );

    // The merchant translates in the shop; "main language only" keeps that translation.
    let id = product_id(&s, "VASE-Gres");
    s.world.shop.with_shop(|shop| {
        let p = shop.get_mut("products", id).unwrap();
        p.insert(
            "name".into(),
            json!([{"id": "1", "value": "Vase en grès émaillé"}, {"id": "2", "value": "Stoneware vase"}]),
        );
    });
    s.world
        .ebp
        .update_article("VASE-Gres", &[("Caption", json!("Vase en grès bleu"))]);
    run(&s, SyncAction::ExportArticles).await;
    assert_eq!(
        product_text(&s, "VASE-Gres", "name", "1").as_deref(),
        Some("Vase en grès bleu")
    );
    assert_eq!(
        product_text(&s, "VASE-Gres", "name", "2").as_deref(),
        Some("Stoneware vase")
    );

    // Out of stock: off at 0, back on when stock returns — unless the ERP says asleep.
    s.world
        .ebp
        .seed_stock("VASE-Gres", MAIN_WAREHOUSE, Decimal::ZERO);
    s.world
        .ebp
        .seed_stock("TAPI-Bleu-Pla", MAIN_WAREHOUSE, Decimal::ZERO);
    s.world
        .ebp
        .update_article("TAPI-Bleu-Pla", &[("ActiveState", json!(1))]);
    let active = |r: &str| product(&s, r).unwrap().get("active").cloned();
    let (run3, _, c) = run(&s, SyncAction::UpdateStock).await;
    assert_eq!(c.failed, 0, "{c:?}");
    assert_eq!(active("VASE-Gres").as_deref(), Some("0"));
    assert_eq!(active("TAPI-Bleu-Pla").as_deref(), Some("0"));
    assert_eq!(
        active("COUS-Lin-40").as_deref(),
        Some("1"),
        "in stock: untouched"
    );
    assert!(items(&s, run3).await["VASE-Gres"]
        .1
        .contains("rupture de stock"));
    s.world
        .ebp
        .seed_stock("VASE-Gres", MAIN_WAREHOUSE, Decimal::from(5));
    s.world
        .ebp
        .seed_stock("TAPI-Bleu-Pla", MAIN_WAREHOUSE, Decimal::from(5));
    let (run4, _, _) = run(&s, SyncAction::UpdateStock).await;
    assert_eq!(active("VASE-Gres").as_deref(), Some("1"));
    assert_eq!(
        active("TAPI-Bleu-Pla").as_deref(),
        Some("0"),
        "asleep in the ERP: stock does not re-enable it"
    );
    assert!(items(&s, run4).await["VASE-Gres"]
        .1
        .contains("stock revenu"));
    assert_eq!(s.world.shop.stock("VASE-Gres"), Some(5));
    verify_replay(&s).await;
}
both!(
    ean_dimensions_main_language_and_out_of_stock_handling,
    fields_switches_out_of_stock
);
