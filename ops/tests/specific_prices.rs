//! Specific prices, packs and cross-selling end to end against the PrestaShop and EBP
//! simulators, on SQLite and PostgreSQL: the shop's `specific_prices` checked field by
//! field after update-prices and export-articles (group prices on the right groups, a
//! missing group reported, customer fixed price and % discount, a price removed in the ERP
//! deleted from the shop, idempotent re-runs, the incremental window); packs from bills of
//! materials and cross-selling from linked articles after export-articles.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::DemoWorld;
use passerelle::export_demo::ensure_export_plan;
use passerelle::profiles::Profiles;
use passerelle_domain::catalog::CatalogSettings;
use passerelle_domain::{AccountId, Actor, ProfileId, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{
    EbpSimConfig, SimArticle, SimCustomer, SimPriceRule, SimPriceThird,
};
use passerelle_simulators::prestashop::NewCustomer;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
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
    /// Shop group ids: Revendeurs, Grossistes.
    groups: (u64, u64),
    /// Shop customer id of pro@example.fr.
    pro: u64,
}

/// The demo world with the profile's export settings changed by `edit`, two shop groups,
/// one shop customer, and the ERP's price categories, customers and price lists.
async fn setup(kind: Kind, edit: impl FnOnce(&mut CatalogSettings)) -> Setup {
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
    let mut file = world.profile_file().unwrap();
    if let Some(e) = file.export.as_mut() {
        e.specific_prices.groups = true;
        e.specific_prices.customers = true;
        edit(e);
    }
    Profiles::new(app.db.clone())
        .import(&acc, file, app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    ensure_export_plan(&app, &acc, 1000).await.unwrap();
    let (groups, pro) = world.shop.with_shop(|shop| {
        let g = (shop.add_group("Revendeurs"), shop.add_group("Grossistes"));
        let pro = shop.add_customer(&NewCustomer {
            email: "pro@example.fr".into(),
            firstname: "Paul".into(),
            lastname: "Pro".into(),
            ..NewCustomer::default()
        });
        (g, pro)
    });
    let ebp = &world.ebp;
    ebp.seed_customers(&[
        SimCustomer::new("CL00050", "PRO Paul").email("Pro@Example.fr"),
        SimCustomer::new("CL00051", "FANTOME").email("ghost@example.fr"),
    ]);
    ebp.seed_price_category("REV", "Revendeurs");
    ebp.seed_price_category("GROS", "Grossistes");
    ebp.seed_price_category("VIP", "Comité VIP");
    ebp.seed_price_list("T-REV", SimPriceThird::Category("REV".into()));
    ebp.seed_price_list("T-GROS", SimPriceThird::Category("GROS".into()));
    ebp.seed_price_list("T-VIP", SimPriceThird::Category("VIP".into()));
    ebp.seed_price_list("T-PRO", SimPriceThird::Customer("CL00050".into()));
    ebp.seed_price_list("T-GHOST", SimPriceThird::Customer("CL00051".into()));
    Setup {
        _db: db,
        app,
        world,
        acc,
        profile,
        groups,
        pro,
    }
}

async fn run(s: &Setup, action: SyncAction) -> (RunId, RunStatus, journal::Counts) {
    run_counted(&s.app, &s.acc, &s.profile, action).await
}

/// Item key → (outcome, message) of a run.
async fn items(s: &Setup, run: RunId) -> HashMap<String, (&'static str, String)> {
    item_outcomes(&s.app, &s.acc, run).await
}

fn product_id(s: &Setup, reference: &str) -> String {
    s.world.shop.with_shop(|shop| {
        shop.rows("products")
            .into_iter()
            .find(|p| p.get("reference").and_then(Value::as_str) == Some(reference))
            .map(|p| p["id"].to_string())
            .unwrap()
    })
}

/// The shop's specific prices of a product, each as field → text.
fn specific(s: &Setup, reference: &str) -> Vec<HashMap<String, String>> {
    let id = product_id(s, reference);
    s.world.shop.with_shop(|shop| {
        shop.rows("specific_prices")
            .into_iter()
            .filter(|r| r.get("id_product").and_then(Value::as_str) == Some(id.as_str()))
            .map(|r| {
                r.iter()
                    .map(|(k, v)| {
                        let t = match v {
                            Value::String(x) => x.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), t)
                    })
                    .collect()
            })
            .collect()
    })
}

fn count_specific(s: &Setup) -> usize {
    s.world
        .shop
        .with_shop(|shop| shop.rows("specific_prices").len())
}

/// The specific price of `reference` for (group, customer, quantity).
fn find(
    s: &Setup,
    reference: &str,
    group: u64,
    customer: u64,
    qty: u32,
) -> Option<HashMap<String, String>> {
    specific(s, reference).into_iter().find(|r| {
        r["id_group"] == group.to_string()
            && r["id_customer"] == customer.to_string()
            && r["from_quantity"] == qty.to_string()
    })
}

fn check(row: &HashMap<String, String>, expected: &[(&str, &str)], what: &str) {
    for (k, v) in expected {
        assert_eq!(row.get(*k).map(String::as_str), Some(*v), "{what}: {k}");
    }
}

/// Fields every specific price written by the sync carries.
const COMMON: &[(&str, &str)] = &[
    ("id_product_attribute", "0"),
    ("id_shop", "0"),
    ("id_shop_group", "0"),
    ("id_cart", "0"),
    ("id_currency", "0"),
    ("id_country", "0"),
    ("reduction_tax", "0"),
    ("from", "0000-00-00 00:00:00"),
    ("to", "0000-00-00 00:00:00"),
];

fn d(v: &str) -> Decimal {
    v.parse().unwrap()
}

async fn group_and_customer_prices(kind: Kind) {
    let s = setup(kind, |_| {}).await;
    let ebp = &s.world.ebp;
    ebp.set_list_price(
        "T-REV",
        "TAPI-Gris-Pla",
        SimPriceRule::Fixed(d("150.555")),
        0,
    );
    ebp.set_list_price("T-GROS", "TAPI-Gris-Pla", SimPriceRule::Fixed(d("140")), 5);
    ebp.set_list_price("T-VIP", "TAPI-Gris-Pla", SimPriceRule::Fixed(d("120")), 1);
    ebp.set_list_price("T-PRO", "TAPI-Gris-Pla", SimPriceRule::Fixed(d("160")), 1);
    ebp.set_list_price("T-PRO", "TAPI-Gris-Pla", SimPriceRule::Discount(d("5")), 1);
    ebp.set_list_price("T-PRO", "TAPI-Bleu-Pla", SimPriceRule::Discount(d("10")), 0);
    ebp.set_list_price("T-GHOST", "TAPI-Bleu-Pla", SimPriceRule::Fixed(d("100")), 0);
    // A promotion the merchant made by hand in the shop (all groups): never touched.
    let gris = product_id(&s, "TAPI-Gris-Pla");
    let promo = s.world.shop.with_shop(|shop| {
        shop.add_specific_price(&[
            ("id_product", gris.as_str()),
            ("id_group", "0"),
            ("id_customer", "0"),
            ("price", "-1"),
            ("reduction", "0.200000"),
            ("reduction_type", "percentage"),
        ])
    });
    let (g_rev, g_gros) = s.groups;

    let (run1, status, c) = run(&s, SyncAction::UpdatePrices).await;
    assert_eq!(status, RunStatus::Succeeded);
    // 9 products in the shop; the 2 the shop lacks are ignored (update never creates).
    assert_eq!(
        (c.total, c.succeeded, c.failed, c.ignored),
        (11, 9, 0, 2),
        "{c:?}"
    );
    assert_eq!(
        count_specific(&s),
        5,
        "REV, GROS×5, PRO on Gris; PRO on Bleu; the hand-made promotion"
    );

    let rev = find(&s, "TAPI-Gris-Pla", g_rev, 0, 1).expect("Revendeurs price");
    check(&rev, COMMON, "REV");
    check(
        &rev,
        &[
            ("id_product", gris.as_str()),
            ("price", "150.560000"),
            ("reduction", "0.000000"),
            ("reduction_type", "amount"),
        ],
        "REV",
    );
    let gros = find(&s, "TAPI-Gris-Pla", g_gros, 0, 5).expect("Grossistes price from 5");
    check(&gros, COMMON, "GROS");
    check(
        &gros,
        &[("price", "140.000000"), ("reduction_type", "amount")],
        "GROS",
    );
    let pro = find(&s, "TAPI-Gris-Pla", 0, s.pro, 1).expect("customer price");
    check(&pro, COMMON, "PRO Gris");
    check(
        &pro,
        &[
            ("price", "160.000000"),
            ("reduction", "0.050000"),
            ("reduction_type", "percentage"),
        ],
        "PRO Gris",
    );
    let pro_bleu = find(&s, "TAPI-Bleu-Pla", 0, s.pro, 1).expect("customer discount");
    check(&pro_bleu, COMMON, "PRO Bleu");
    check(
        &pro_bleu,
        &[
            ("price", "-1.000000"),
            ("reduction", "0.100000"),
            ("reduction_type", "percentage"),
        ],
        "PRO Bleu",
    );
    let it = items(&s, run1).await;
    let (o, m) = &it["TAPI-Gris-Pla"];
    assert_eq!(*o, "succeeded");
    assert!(m.contains("3 créé(s)"), "{m}");
    assert!(
        m.contains("groupe « Comité VIP » absent de la boutique : prix ignoré"),
        "{m}"
    );
    let (o, m) = &it["TAPI-Bleu-Pla"];
    assert_eq!(*o, "succeeded");
    assert!(
        m.contains("client ghost@example.fr absent de la boutique : prix ignoré"),
        "{m}"
    );

    // Again: nothing created twice, nothing rewritten.
    let before = count_specific(&s);
    let (run2, _, c) = run(&s, SyncAction::UpdatePrices).await;
    assert_eq!((c.succeeded, c.failed), (9, 0));
    assert_eq!(count_specific(&s), before);
    let (_, m) = &items(&s, run2).await["TAPI-Gris-Pla"];
    assert!(
        m.contains("0 créé(s), 0 mis à jour, 0 supprimé(s), 3 inchangé(s)"),
        "{m}"
    );

    // The ERP drops the Grossistes price and changes the Revendeurs one.
    ebp.remove_list_price("T-GROS", "TAPI-Gris-Pla");
    ebp.set_list_price("T-REV", "TAPI-Gris-Pla", SimPriceRule::Fixed(d("155")), 0);
    let (run3, _, _) = run(&s, SyncAction::UpdatePrices).await;
    assert!(find(&s, "TAPI-Gris-Pla", g_gros, 0, 5).is_none(), "deleted");
    let rev2 = find(&s, "TAPI-Gris-Pla", g_rev, 0, 1).unwrap();
    assert_eq!(rev2["id"], rev["id"], "updated in place");
    assert_eq!(rev2["price"], "155.000000");
    assert_eq!(count_specific(&s), 4);
    let (_, m) = &items(&s, run3).await["TAPI-Gris-Pla"];
    assert!(
        m.contains("1 mis à jour, 1 supprimé(s), 1 inchangé(s)"),
        "{m}"
    );
    let kept = s
        .world
        .shop
        .with_shop(|shop| shop.get("specific_prices", promo).cloned())
        .expect("the hand-made promotion stays");
    assert_eq!(kept["reduction"], json!("0.200000"));
    // The journal of these runs replays to the same projections.
    let report = rebuild(&s.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}
both!(
    group_and_customer_prices_land_on_the_right_groups_and_customers,
    group_and_customer_prices
);

async fn incremental(kind: Kind) {
    let s = setup(kind, |e| e.incremental = true).await;
    let ebp = &s.world.ebp;
    let (g_rev, _) = s.groups;
    ebp.set_list_price("T-REV", "TAPI-Gris-Pla", SimPriceRule::Fixed(d("150")), 0);
    ebp.set_list_price("T-REV", "THE-Vert-100", SimPriceRule::Fixed(d("7")), 0);
    // First run: no last transfer yet, everything.
    let (_, _, c) = run(&s, SyncAction::UpdatePrices).await;
    assert_eq!((c.total, c.succeeded), (11, 9), "{c:?}");
    assert_eq!(
        find(&s, "THE-Vert-100", g_rev, 0, 1).unwrap()["price"],
        "7.000000"
    );
    // Nothing touched since: articles and price lines dated long before.
    let old = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    ebp.date_all_articles(old);
    ebp.date_list_prices("T-REV", None, old);
    // A price changed after the last transfer (its article untouched)…
    ebp.set_list_price("T-REV", "TAPI-Gris-Pla", SimPriceRule::Fixed(d("145")), 0);
    // …and one whose change carries an older modification date.
    ebp.set_list_price("T-REV", "THE-Vert-100", SimPriceRule::Fixed(d("6.5")), 0);
    ebp.date_list_prices("T-REV", Some("THE-Vert-100"), old);
    let (run2, status, c) = run(&s, SyncAction::UpdatePrices).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    let (o, m) = &items(&s, run2).await["TAPI-Gris-Pla"];
    assert_eq!(*o, "succeeded");
    assert!(m.contains("1 mis à jour"), "{m}");
    assert_eq!(
        find(&s, "TAPI-Gris-Pla", g_rev, 0, 1).unwrap()["price"],
        "145.000000"
    );
    assert_eq!(
        find(&s, "THE-Vert-100", g_rev, 0, 1).unwrap()["price"],
        "7.000000",
        "modified before the last transfer: not sent"
    );
}
both!(
    incremental_prices_send_what_changed_since_the_last_transfer,
    incremental
);

async fn export_articles_switch(kind: Kind) {
    let s = setup(kind, |_| {}).await;
    let ebp = &s.world.ebp;
    let (g_rev, _) = s.groups;
    ebp.set_list_price("T-REV", "VASE-Gres", SimPriceRule::Fixed(d("39.9")), 0);
    ebp.set_list_price("T-PRO", "VASE-Gres", SimPriceRule::Discount(d("12.5")), 1);
    let (run1, status, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded, c.failed), (11, 11, 0), "{c:?}");
    // The product created by this run gets its specific prices in the same run.
    let rev = find(&s, "VASE-Gres", g_rev, 0, 1).expect("group price on the new product");
    check(&rev, COMMON, "REV");
    check(
        &rev,
        &[("price", "39.900000"), ("reduction_type", "amount")],
        "REV",
    );
    let pro = find(&s, "VASE-Gres", 0, s.pro, 1).expect("customer discount");
    check(
        &pro,
        &[
            ("price", "-1.000000"),
            ("reduction", "0.125000"),
            ("reduction_type", "percentage"),
        ],
        "PRO",
    );
    let (_, m) = &items(&s, run1).await["VASE-Gres"];
    assert!(
        m.contains("créé") && m.contains("prix spécifiques : 2 créé(s)"),
        "{m}"
    );
    assert_eq!(count_specific(&s), 2);
    // Idempotent.
    run(&s, SyncAction::ExportArticles).await;
    assert_eq!(count_specific(&s), 2);

    // With the shop-side switch off, export-articles leaves specific prices alone.
    let off = setup(kind, |e| e.update.specific_prices = false).await;
    off.world
        .ebp
        .set_list_price("T-REV", "VASE-Gres", SimPriceRule::Fixed(d("39.9")), 0);
    let (_, status, _) = run(&off, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(count_specific(&off), 0);
}
both!(
    export_articles_sends_specific_prices_when_the_switch_is_on,
    export_articles_switch
);

/// The shop's product row with this reference.
fn product_row(s: &Setup, reference: &str) -> serde_json::Map<String, Value> {
    s.world.shop.with_shop(|shop| {
        shop.rows("products")
            .into_iter()
            .find(|p| p.get("reference").and_then(Value::as_str) == Some(reference))
            .cloned()
            .unwrap()
    })
}

/// Accessory ids of a product.
fn accessory_ids(s: &Setup, reference: &str) -> BTreeSet<String> {
    product_row(s, reference)
        .get("associations")
        .and_then(|a| a.get("accessories"))
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Pack contents of a product: (component id, quantity).
fn bundle(s: &Setup, reference: &str) -> BTreeSet<(String, String)> {
    product_row(s, reference)
        .get("associations")
        .and_then(|a| a.get("product_bundle"))
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .map(|i| {
                    assert_eq!(i["id_product_attribute"], json!("0"));
                    (
                        i["id"].as_str().unwrap_or_default().to_string(),
                        i["quantity"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn ids(s: &Setup, refs: &[&str]) -> BTreeSet<String> {
    refs.iter().map(|r| product_id(s, r)).collect()
}

async fn packs_and_cross_selling(kind: Kind) {
    let s = setup(kind, |e| {
        e.cross_selling = true;
        e.update.packs = true;
        e.specific_prices = Default::default();
    })
    .await;
    let ebp = &s.world.ebp;
    ebp.seed_articles(&[
        SimArticle::new("COFFRET-Deco", "Coffret déco", 3).price(d("59"), d("20")),
        SimArticle::new("COFFRET-Manque", "Coffret incomplet", 3).price(d("49"), d("20")),
    ]);
    // A pack whose components all reach the shop (BOUGIE-Soja is created by this run)…
    ebp.set_components(
        "COFFRET-Deco",
        &[("LAMPE-Laiton", d("1")), ("BOUGIE-Soja", d("2"))],
    );
    // …and one with a component the shop will never have.
    ebp.set_components(
        "COFFRET-Manque",
        &[("LAMPE-Laiton", d("1")), ("INTROUVABLE", d("1"))],
    );
    ebp.set_linked_items(
        "TAPI-Gris-Pla",
        &["COUS-Lin-40", "PLAID-Laine", "FANTOME-01"],
    );
    ebp.set_linked_items("COUS-Lin-40", &["TAPI-Gris-Pla"]);

    let (run1, status, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded, c.failed), (13, 13, 0), "{c:?}");
    let deco = product_row(&s, "COFFRET-Deco");
    assert_eq!(deco["type"], json!("pack"));
    assert_eq!(
        bundle(&s, "COFFRET-Deco"),
        [
            (product_id(&s, "LAMPE-Laiton"), "1".to_string()),
            (product_id(&s, "BOUGIE-Soja"), "2".to_string()),
        ]
        .into_iter()
        .collect()
    );
    let manque = product_row(&s, "COFFRET-Manque");
    assert_eq!(manque["type"], json!("simple"), "a plain product");
    assert!(bundle(&s, "COFFRET-Manque").is_empty());
    assert_eq!(
        accessory_ids(&s, "TAPI-Gris-Pla"),
        ids(&s, &["COUS-Lin-40", "PLAID-Laine"])
    );
    assert_eq!(
        accessory_ids(&s, "COUS-Lin-40"),
        ids(&s, &["TAPI-Gris-Pla"])
    );
    assert!(
        accessory_ids(&s, "PLAID-Laine").is_empty(),
        "no link in the ERP"
    );
    let it = items(&s, run1).await;
    let (o, m) = &it["COFFRET-Manque"];
    assert_eq!(*o, "succeeded");
    assert!(
        m.contains("composants absents de la boutique : INTROUVABLE — écrit comme produit simple"),
        "{m}"
    );
    let (_, m) = &it["COFFRET-Deco"];
    assert!(m.contains("pack de 2 composant(s)"), "{m}");
    let (_, m) = &it["TAPI-Gris-Pla"];
    assert!(
        m.contains("article lié FANTOME-01 absent de la boutique : lien ignoré"),
        "{m}"
    );

    // Again: nothing rewritten.
    let products = s.world.shop.with_shop(|shop| shop.rows("products").len());
    let (run2, _, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!((c.succeeded, c.failed), (13, 0));
    assert_eq!(
        s.world.shop.with_shop(|shop| shop.rows("products").len()),
        products
    );
    let it = items(&s, run2).await;
    for r in [
        "COFFRET-Deco",
        "COFFRET-Manque",
        "TAPI-Gris-Pla",
        "COUS-Lin-40",
    ] {
        assert!(it[r].1.contains("(déjà à jour)"), "{r}: {}", it[r].1);
    }
    assert_eq!(bundle(&s, "COFFRET-Deco").len(), 2);

    // The ERP drops a link: the shop follows (set-to).
    ebp.set_linked_items("TAPI-Gris-Pla", &["PLAID-Laine"]);
    run(&s, SyncAction::ExportArticles).await;
    assert_eq!(
        accessory_ids(&s, "TAPI-Gris-Pla"),
        ids(&s, &["PLAID-Laine"])
    );
    assert_eq!(
        accessory_ids(&s, "COUS-Lin-40"),
        ids(&s, &["TAPI-Gris-Pla"])
    );
}
both!(
    packs_and_cross_selling_follow_the_erp,
    packs_and_cross_selling
);
