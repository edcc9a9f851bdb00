//! Variants grouping end to end (FEATURES §3.1) against the PrestaShop and EBP simulators,
//! on SQLite and PostgreSQL: ERP articles sharing a master reference (`xx_Maitre`) become
//! one shop product with one combination per article — checked field by field in the
//! shop (product, attribute groups and values, combinations, price impacts, default,
//! stock per combination); a hole in the attribute grid is named in the group's outcome;
//! a re-run creates nothing and a changed ERP price moves the impact in place; plain
//! articles next to the groups are exported as before. 100 plain articles sort between the
//! members of one group, so that group straddles two ERP pages.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::DemoWorld;
use passerelle::export_demo::ensure_export_plan;
use passerelle::profiles::Profiles;
use passerelle_domain::catalog::{AttributeFields, VariantSettings};
use passerelle_domain::{AccountId, Actor, ProfileId, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{EbpSimConfig, SimArticle, MAIN_WAREHOUSE};
use passerelle_workflows::engine::RunStore;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
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

/// The demo world without orders, the EBP rate limit off, an export plan, and the profile's
/// variants settings: master `xx_Maitre`, no label field, (xx_Att1, xx_Val1) and
/// (xx_Att2, xx_Val2).
async fn setup(kind: Kind, incremental: bool, units: u64) -> Setup {
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
        e.incremental = incremental;
        e.variants = Some(variants());
    }
    Profiles::new(app.db.clone())
        .import(&acc, file, app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    ensure_export_plan(&app, &acc, units).await.unwrap();
    Setup {
        _db: db,
        app,
        world,
        acc,
        profile,
    }
}

fn variants() -> VariantSettings {
    VariantSettings {
        master_field: "xx_Maitre".into(),
        label_field: None,
        attributes: vec![
            AttributeFields {
                name_field: "xx_Att1".into(),
                value_field: "xx_Val1".into(),
            },
            AttributeFields {
                name_field: "xx_Att2".into(),
                value_field: "xx_Val2".into(),
            },
        ],
    }
}

/// One article of a group: size × colour, price excl. tax in cents, stock.
fn variant(
    r: &str,
    master: &str,
    caption: &str,
    size: &str,
    colour: &str,
    cents: i64,
    stock: i64,
) -> SimArticle {
    SimArticle::new(r, caption, stock)
        .price(Decimal::new(cents, 2), Decimal::from(20))
        .vat("TN")
        .column("xx_Maitre", json!(master))
        .column("xx_Att1", json!("Taille"))
        .column("xx_Val1", json!(size))
        .column("xx_Att2", json!("Couleur"))
        .column("xx_Val2", json!(colour))
}

/// TEE: the full 3 × 2 grid, no master article (base price = the lowest, 20.00; label =
/// the caption of the last article, TEE-S-Noir). SWEAT: 5 of the 3 × 2 grid (M / Marine
/// missing) with a master article SWEAT (its price is the base, it is the default).
/// CAP: one usable article and one left out; BONNET: no usable article; VASE-Gres: a
/// master reference that is also a plain article's.
/// TEE-LZ-000…099: plain articles sorting between TEE-L-* and TEE-M-*.
fn seed(s: &Setup) {
    let mut arts = Vec::new();
    for (size, base) in [("S", 2000), ("M", 2200), ("L", 2400)] {
        for (colour, extra, stock) in [("Blanc", 0, 3), ("Noir", 100, 7)] {
            let r = format!("TEE-{size}-{colour}");
            let stock = stock + base / 1000;
            arts.push(variant(
                &r,
                "TEE",
                &format!("Tee-shirt {size} {}", colour.to_lowercase()),
                size,
                colour,
                base + extra,
                stock,
            ));
        }
    }
    arts.push(variant(
        "SWEAT",
        "SWEAT",
        "Sweat (modèle)",
        "M",
        "Gris",
        4500,
        4,
    ));
    for (r, size, colour, cents) in [
        ("SWEAT-L-Gris", "L", "Gris", 4900),
        ("SWEAT-L-Marine", "L", "Marine", 4900),
        ("SWEAT-S-Gris", "S", "Gris", 4200),
        ("SWEAT-S-Marine", "S", "Marine", 4200),
    ] {
        arts.push(variant(r, "SWEAT", "Sweat", size, colour, cents, 2));
    }
    // CAP: one usable article, one without price (left out, said in the group's line).
    arts.push(variant(
        "CAP-Rouge",
        "CAP",
        "Casquette rouge",
        "U",
        "Rouge",
        1500,
        6,
    ));
    arts.push(
        SimArticle::new("CAP-Vert", "Casquette verte", 1)
            .vat("TN")
            .column("xx_Maitre", json!("CAP"))
            .column("xx_Att1", json!("Taille"))
            .column("xx_Val1", json!("U"))
            .column("xx_Att2", json!("Couleur"))
            .column("xx_Val2", json!("Vert")),
    );
    // BONNET: its only article has no attribute: the group fails, nothing is written.
    arts.push(
        SimArticle::new("BONNET-1", "Bonnet", 1)
            .price(Decimal::new(900, 2), Decimal::from(20))
            .vat("TN")
            .column("xx_Maitre", json!("BONNET")),
    );
    // A group whose master reference is a plain article's (the demo's VASE-Gres): fails.
    arts.push(variant(
        "VASE-Gres-Bleu",
        "VASE-Gres",
        "Vase bleu",
        "U",
        "Bleu",
        4500,
        1,
    ));
    for i in 0..100 {
        arts.push(
            SimArticle::new(&format!("TEE-LZ-{i:03}"), &format!("Lot {i}"), 1)
                .price(Decimal::new(500, 2), Decimal::from(20))
                .vat("TN"),
        );
    }
    s.world.ebp.seed_articles(&arts);
}

async fn run(s: &Setup) -> (RunId, RunStatus, journal::Counts) {
    run_action(s, SyncAction::ExportArticles).await
}

async fn run_action(s: &Setup, action: SyncAction) -> (RunId, RunStatus, journal::Counts) {
    run_counted(&s.app, &s.acc, &s.profile, action).await
}

/// Item key → (outcome, message) of a run.
async fn items(s: &Setup, run: RunId) -> HashMap<String, (&'static str, String)> {
    item_outcomes(&s.app, &s.acc, run).await
}

fn txt(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Array(a) => a
            .first()
            .and_then(|l| l.get("value"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn rows(s: &Setup, resource: &str) -> Vec<Map<String, Value>> {
    s.world
        .shop
        .with_shop(|shop| shop.rows(resource).into_iter().cloned().collect())
}

fn field(r: &Map<String, Value>, f: &str) -> String {
    r.get(f).map(txt).unwrap_or_default()
}

fn product(s: &Setup, reference: &str) -> Option<Map<String, Value>> {
    rows(s, "products")
        .into_iter()
        .find(|p| field(p, "reference") == reference)
}

/// What the shop holds for one combination.
#[derive(Debug, PartialEq)]
struct Combo {
    id: String,
    price: String,
    default: bool,
    minimal: String,
    /// "Groupe=Valeur", in the shop's association order.
    values: Vec<String>,
    quantity: Option<i64>,
}

/// The combinations of product `pid`, by reference.
fn combos(s: &Setup, pid: &str) -> BTreeMap<String, Combo> {
    let groups: HashMap<String, String> = rows(s, "product_options")
        .iter()
        .map(|g| (field(g, "id"), field(g, "name")))
        .collect();
    let values: HashMap<String, String> = rows(s, "product_option_values")
        .iter()
        .map(|v| {
            let g = groups
                .get(&field(v, "id_attribute_group"))
                .cloned()
                .unwrap_or_default();
            (field(v, "id"), format!("{g}={}", field(v, "name")))
        })
        .collect();
    let stock = rows(s, "stock_availables");
    rows(s, "combinations")
        .into_iter()
        .filter(|c| field(c, "id_product") == pid)
        .map(|c| {
            let id = field(&c, "id");
            let quantity = stock
                .iter()
                .find(|r| field(r, "id_product") == pid && field(r, "id_product_attribute") == id)
                .and_then(|r| field(r, "quantity").parse().ok());
            let vals = c["associations"]["product_option_values"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|v| values.get(&txt(&v["id"])).cloned().unwrap_or_default())
                .collect();
            (
                field(&c, "reference"),
                Combo {
                    price: field(&c, "price"),
                    default: field(&c, "default_on") == "1",
                    minimal: field(&c, "minimal_quantity"),
                    values: vals,
                    quantity,
                    id,
                },
            )
        })
        .collect()
}

/// (products, combinations, attribute groups, values, stock rows).
fn counts(s: &Setup) -> (usize, usize, usize, usize, usize) {
    (
        rows(s, "products").len(),
        rows(s, "combinations").len(),
        rows(s, "product_options").len(),
        rows(s, "product_option_values").len(),
        rows(s, "stock_availables").len(),
    )
}

async fn grouping(kind: Kind) {
    let s = setup(kind, false, 5000).await;
    seed(&s);
    let (run1, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    // 11 demo articles + 100 plain TEE-LZ-* + 5 groups (one item each; BONNET and
    // VASE-Gres fail).
    assert_eq!(
        (c.total, c.succeeded, c.failed, c.ignored),
        (116, 114, 2, 0),
        "{c:?}"
    );
    // 9 demo products at start + 2 new demo ones + 100 plain + TEE, SWEAT and CAP; 6 + 5 + 1
    // combinations; Taille and Couleur; S M L U, Blanc Noir Gris Marine Rouge.
    assert_eq!(counts(&s), (114, 12, 2, 9, 114 + 12));
    assert!(product(&s, "BONNET").is_none() && product(&s, "BONNET-1").is_none());
    for r in ["TEE-S-Blanc", "SWEAT-L-Gris", "SWEAT-S-Gris"] {
        assert!(
            product(&s, r).is_none(),
            "{r} is a combination, not a product"
        );
    }

    // TEE: one product, the 3 × 2 grid.
    let tee = product(&s, "TEE").unwrap();
    for (k, v) in [
        ("name", "Tee-shirt S noir"),
        ("price", "20.000000"),
        ("id_tax_rules_group", "1"),
        ("active", "1"),
        ("link_rewrite", "tee-shirt-s-noir"),
    ] {
        assert_eq!(field(&tee, k), v, "TEE {k}");
    }
    let tee_id = field(&tee, "id");
    let got = combos(&s, &tee_id);
    let expect = [
        ("TEE-L-Blanc", "4.000000", true, "L", "Blanc", 5),
        ("TEE-L-Noir", "5.000000", false, "L", "Noir", 9),
        ("TEE-M-Blanc", "2.000000", false, "M", "Blanc", 5),
        ("TEE-M-Noir", "3.000000", false, "M", "Noir", 9),
        ("TEE-S-Blanc", "0.000000", false, "S", "Blanc", 5),
        ("TEE-S-Noir", "1.000000", false, "S", "Noir", 9),
    ];
    assert_eq!(got.len(), 6, "{got:?}");
    for (r, price, default, size, colour, q) in expect {
        let c = got
            .get(r)
            .unwrap_or_else(|| panic!("combination {r}: {got:?}"));
        assert_eq!(c.price, price, "{r} price impact");
        assert_eq!(c.default, default, "{r} default");
        assert_eq!(c.minimal, "1", "{r} minimal quantity");
        assert_eq!(
            c.values,
            vec![format!("Taille={size}"), format!("Couleur={colour}")],
            "{r} option values"
        );
        assert_eq!(c.quantity, Some(q), "{r} quantity");
    }
    let tee_ids: BTreeMap<String, String> =
        got.iter().map(|(r, c)| (r.clone(), c.id.clone())).collect();
    let default_id = got["TEE-L-Blanc"].id.clone();
    assert_eq!(field(&tee, "id_default_combination"), default_id);
    // The product's own stock row holds the sum of its combinations.
    assert_eq!(s.world.shop.stock("TEE"), Some(3 * 5 + 3 * 9));

    // The attribute groups and their values, once each.
    let groups: Vec<(String, String, String)> = rows(&s, "product_options")
        .iter()
        .map(|g| {
            (
                field(g, "name"),
                field(g, "public_name"),
                field(g, "group_type"),
            )
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            ("Taille".into(), "Taille".into(), "select".into()),
            ("Couleur".into(), "Couleur".into(), "select".into())
        ]
    );
    let mut values: Vec<String> = rows(&s, "product_option_values")
        .iter()
        .map(|v| field(v, "name"))
        .collect();
    values.sort();
    assert_eq!(
        values,
        ["Blanc", "Gris", "L", "M", "Marine", "Noir", "Rouge", "S", "U"]
    );

    // SWEAT: the master article gives the base price and the default; M / Marine missing.
    let sweat = product(&s, "SWEAT").unwrap();
    assert_eq!(field(&sweat, "price"), "45.000000");
    assert_eq!(field(&sweat, "name"), "Sweat", "the last article's caption");
    let got = combos(&s, &field(&sweat, "id"));
    let summary: BTreeMap<&str, (&str, bool, Option<i64>)> = got
        .iter()
        .map(|(r, c)| (r.as_str(), (c.price.as_str(), c.default, c.quantity)))
        .collect();
    assert_eq!(
        summary,
        BTreeMap::from([
            ("SWEAT", ("0.000000", true, Some(4))),
            ("SWEAT-L-Gris", ("4.000000", false, Some(2))),
            ("SWEAT-L-Marine", ("4.000000", false, Some(2))),
            ("SWEAT-S-Gris", ("-3.000000", false, Some(2))),
            ("SWEAT-S-Marine", ("-3.000000", false, Some(2))),
        ])
    );
    let out = items(&s, run1).await;
    let (o, msg) = &out["SWEAT"];
    assert_eq!(*o, "succeeded");
    assert!(
        msg.contains("1 combinaison(s) manquante(s) : [Taille=M, Couleur=Marine]"),
        "{msg}"
    );
    assert!(msg.contains("5 créée(s)"), "{msg}");
    let (o, msg) = &out["TEE"];
    assert_eq!(*o, "succeeded");
    assert!(msg.contains("6 déclinaison(s) : 6 créée(s)"), "{msg}");
    assert!(!msg.contains("manquante"), "{msg}");

    let (o, msg) = &out["CAP"];
    assert_eq!(*o, "succeeded");
    assert!(
        msg.contains("article(s) écarté(s) du groupe : CAP-Vert (sans prix de vente HT"),
        "{msg}"
    );
    let cap = product(&s, "CAP").unwrap();
    assert_eq!(
        (field(&cap, "name"), field(&cap, "price")),
        ("Casquette rouge".into(), "15.000000".into())
    );
    let got = combos(&s, &field(&cap, "id"));
    assert_eq!(got.keys().collect::<Vec<_>>(), ["CAP-Rouge"]);
    assert_eq!(
        (got["CAP-Rouge"].default, got["CAP-Rouge"].quantity),
        (true, Some(6))
    );
    let (o, msg) = &out["BONNET"];
    assert_eq!(*o, "failed");
    assert!(
        msg.contains("aucun article utilisable") && msg.contains("BONNET-1 : aucun attribut"),
        "{msg}"
    );

    let (o, msg) = &out["VASE-Gres"];
    assert!(
        *o == "failed" && msg.contains("aussi celle d'un article exporté seul"),
        "{o} {msg}"
    );
    assert!(rows(&s, "combinations")
        .iter()
        .all(|c| field(c, "reference") != "VASE-Gres-Bleu"));

    // Plain articles next to the groups: exported as before.
    let vase = product(&s, "VASE-Gres").unwrap();
    assert_eq!(field(&vase, "name"), "Vase en grès émaillé");
    assert_eq!(field(&vase, "price"), "45.000000");
    assert_eq!(s.world.shop.stock("VASE-Gres"), Some(8));
    let lot = product(&s, "TEE-LZ-042").unwrap();
    assert_eq!(
        (field(&lot, "name"), field(&lot, "price")),
        ("Lot 42".into(), "5.000000".into())
    );
    assert!(
        out["TEE-LZ-042"].1.contains("créé"),
        "{:?}",
        out["TEE-LZ-042"]
    );

    // Again: nothing created, nothing changed.
    let before = counts(&s);
    let (run2, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded), (116, 114), "{c:?}");
    assert_eq!(counts(&s), before);
    let out = items(&s, run2).await;
    assert!(
        out["TEE"].1.contains("déjà à jour (produit")
            && out["TEE"]
                .1
                .contains("0 créée(s), 0 mise(s) à jour, 6 déjà à jour"),
        "{:?}",
        out["TEE"]
    );

    // A new ERP price moves the impact in place (same combination, no new row).
    s.world.ebp.update_article(
        "TEE-M-Noir",
        &[
            ("SalePriceVatExcluded", json!(26.5)),
            ("SalePriceVatIncluded", json!(31.8)),
        ],
    );
    let (run3, _, c) = run(&s).await;
    assert_eq!(c.succeeded, 114, "{c:?}");
    assert_eq!(counts(&s), before);
    let after = combos(&s, &tee_id);
    assert_eq!(after["TEE-M-Noir"].price, "6.500000");
    let ids_after: BTreeMap<String, String> = after
        .iter()
        .map(|(r, c)| (r.clone(), c.id.clone()))
        .collect();
    assert_eq!(
        ids_after, tee_ids,
        "the same combinations, updated in place"
    );
    assert_eq!(after["TEE-M-Blanc"].price, "2.000000");
    assert!(
        items(&s, run3).await["TEE"].1.contains("1 mise(s) à jour"),
        "one combination updated"
    );

    // update-stock reaches the combinations by their reference; the product's row follows.
    s.world
        .ebp
        .seed_stock("TEE-M-Noir", MAIN_WAREHOUSE, Decimal::from(12));
    let (run4, status, _) = run_action(&s, SyncAction::UpdateStock).await;
    assert_eq!(status, RunStatus::Succeeded);
    let out = items(&s, run4).await;
    assert_eq!(out["TEE-M-Noir"].0, "succeeded", "{:?}", out["TEE-M-Noir"]);
    assert!(
        out["TEE-M-Noir"]
            .1
            .contains("stock TEE-M-Noir = 12 : mis à jour"),
        "{:?}",
        out["TEE-M-Noir"]
    );
    assert!(
        out["TEE-M-Blanc"].1.contains("déjà à jour"),
        "{:?}",
        out["TEE-M-Blanc"]
    );
    assert_eq!(
        out["CAP-Vert"].0, "ignored",
        "no combination: {:?}",
        out["CAP-Vert"]
    );
    assert_eq!(combos(&s, &tee_id)["TEE-M-Noir"].quantity, Some(12));
    assert_eq!(s.world.shop.stock("TEE"), Some(3 * 5 + 2 * 9 + 12));
    assert_eq!(counts(&s), before);

    // Price updates switched off in the profile: impacts of existing combinations stay.
    let mut file = s.world.profile_file().unwrap();
    if let Some(e) = file.export.as_mut() {
        e.variants = Some(variants());
        e.update.price = false;
    }
    Profiles::new(s.app.db.clone())
        .import(&s.acc, file, s.app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
    s.world
        .ebp
        .update_article("TEE-M-Blanc", &[("SalePriceVatExcluded", json!(30))]);
    let (_, _, c) = run(&s).await;
    assert_eq!(c.succeeded, 114, "{c:?}");
    let after = combos(&s, &tee_id);
    assert_eq!(after["TEE-M-Blanc"].price, "2.000000", "left alone");
    assert_eq!(after["TEE-M-Noir"].price, "6.500000");
    assert_eq!(after.len(), 6);
    let report = rebuild(&s.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}
both!(
    articles_sharing_a_master_reference_become_one_product_with_combinations,
    grouping
);

/// An incremental run that sees one changed member reads its whole group again: the
/// product keeps its 6 combinations, its label and base price, and no hole is reported.
async fn incremental_group(kind: Kind) {
    let s = setup(kind, true, 5000).await;
    seed(&s);
    let (_, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded), (116, 114), "{c:?}");
    let before = counts(&s);
    let tee_id = field(&product(&s, "TEE").unwrap(), "id");
    let ids: Vec<String> = combos(&s, &tee_id).values().map(|c| c.id.clone()).collect();
    let old = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    s.world.ebp.date_all_articles(old);
    s.world.ebp.update_article(
        "TEE-S-Blanc",
        &[
            ("SalePriceVatExcluded", json!(19)),
            ("SalePriceVatIncluded", json!(22.8)),
        ],
    );
    let (run2, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(
        (c.total, c.succeeded),
        (1, 1),
        "only the touched group: {c:?}"
    );
    assert_eq!(counts(&s), before, "nothing created");
    let tee = product(&s, "TEE").unwrap();
    assert_eq!(field(&tee, "name"), "Tee-shirt S noir");
    // 19.00 is the new lowest price: the base moves and every impact with it.
    assert_eq!(field(&tee, "price"), "19.000000");
    let got = combos(&s, &tee_id);
    assert_eq!(
        got.values().map(|c| c.id.clone()).collect::<Vec<_>>(),
        ids,
        "the same 6 combinations"
    );
    let impacts: BTreeMap<&str, &str> = got
        .iter()
        .map(|(r, c)| (r.as_str(), c.price.as_str()))
        .collect();
    assert_eq!(
        impacts,
        BTreeMap::from([
            ("TEE-L-Blanc", "5.000000"),
            ("TEE-L-Noir", "6.000000"),
            ("TEE-M-Blanc", "3.000000"),
            ("TEE-M-Noir", "4.000000"),
            ("TEE-S-Blanc", "0.000000"),
            ("TEE-S-Noir", "2.000000"),
        ])
    );
    let out = items(&s, run2).await;
    let (o, msg) = &out["TEE"];
    assert_eq!(*o, "succeeded");
    assert!(msg.contains("mis à jour (produit"), "{msg}");
    assert!(
        msg.contains("6 déclinaison(s) : 0 créée(s), 5 mise(s) à jour, 1 déjà à jour"),
        "{msg}"
    );
    assert!(!msg.contains("manquante"), "{msg}");
}
both!(
    an_incremental_run_reads_a_touched_group_whole,
    incremental_group
);

/// One export unit per combination, reserved before writing: with 112 units, the 111 plain
/// articles (written page by page first) leave one — CAP (1 combination) fits, SWEAT (5) and
/// TEE (6) are ignored whole: nothing half-written.
async fn quota(kind: Kind) {
    let s = setup(kind, false, 112).await;
    seed(&s);
    let (run1, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(
        (c.total, c.succeeded, c.failed, c.ignored),
        (116, 112, 2, 2),
        "{c:?}"
    );
    let out = items(&s, run1).await;
    for g in ["SWEAT", "TEE"] {
        let (o, msg) = &out[g];
        assert_eq!((*o, msg.contains("quota")), ("ignored", true), "{g}: {msg}");
        assert!(product(&s, g).is_none(), "{g} not written");
    }
    assert!(product(&s, "CAP").is_some());
    assert_eq!(rows(&s, "combinations").len(), 1, "CAP-Rouge only");
    let (counters, _, _) =
        passerelle_projections::orders::quota_view(&s.app.db, s.acc.as_str(), chrono::Utc::now())
            .await
            .unwrap();
    let exp = counters.iter().find(|c| c.counter == "export").unwrap();
    assert_eq!((exp.bought, exp.used, exp.available), (112, 112, 0));
}
both!(a_group_beyond_the_quota_is_ignored_whole, quota);

/// A worker process aborted right after the groups were written to the shop, before that
/// step was journaled: another worker resumes the run, `write_variants` runs again, finds
/// products, attribute groups, values and combinations by reference or name, and nothing is
/// created twice.
async fn crash(kind: Kind) {
    let s = setup(kind, false, 5000).await;
    seed(&s);
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
    let status = worker(Some("abort-after:write_variants:1")).await.unwrap();
    assert!(!status.success(), "the first worker was aborted");
    assert_eq!(
        counts(&s),
        (114, 12, 2, 9, 114 + 12),
        "the groups were written before the abort"
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
        (r.counts.total, r.counts.succeeded, r.counts.failed),
        (116, 114, 2),
        "{:?}",
        r.counts
    );
    assert_eq!(
        counts(&s),
        (114, 12, 2, 9, 114 + 12),
        "nothing created twice"
    );
    let tee = product(&s, "TEE").unwrap();
    let got = combos(&s, &field(&tee, "id"));
    assert_eq!(got.len(), 6);
    assert_eq!(got.values().filter(|c| c.default).count(), 1);
    assert_eq!(got["TEE-M-Noir"].quantity, Some(9));
    let report = rebuild(&s.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}
both!(
    a_worker_killed_after_writing_groups_creates_nothing_twice,
    crash
);

/// The simulator refuses what the webservice refuses: a combination without
/// `minimal_quantity`, or pointing at an unknown product or option value; an attribute group
/// without `group_type`; a value whose name is not `isGenericName`.
#[tokio::test]
async fn the_shop_simulator_validates_combinations_like_the_webservice() {
    use passerelle_simulators::prestashop::{PrestaShopSim, SimShop};
    let sim = PrestaShopSim::start(SimShop::new(), "K").await.unwrap();
    let http = reqwest::Client::new();
    let post = |resource: &'static str, xml: String| {
        let req = http
            .post(format!("{}/api/{resource}?output_format=JSON", sim.url()))
            .basic_auth("K", Some(""))
            .body(format!("<prestashop>{xml}</prestashop>"));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (st, body) = post(
        "product_options",
        "<product_option><name><language id=\"1\">Taille</language></name><public_name><language id=\"1\">Taille</language></public_name></product_option>".into(),
    )
    .await;
    assert_eq!(st, 400, "group_type is required: {body}");
    let (st, _) = post(
        "product_options",
        "<product_option><group_type>select</group_type><name><language id=\"1\">Taille</language></name><public_name><language id=\"1\">Taille</language></public_name></product_option>".into(),
    )
    .await;
    assert_eq!(st, 201);
    let (st, body) = post(
        "product_option_values",
        "<product_option_value><id_attribute_group>1</id_attribute_group><name><language id=\"1\">&lt;M&gt;</language></name></product_option_value>".into(),
    )
    .await;
    assert_eq!(st, 400, "not a generic name: {body}");
    let (st, _) = post(
        "product_option_values",
        "<product_option_value><id_attribute_group>1</id_attribute_group><name><language id=\"1\">M</language></name></product_option_value>".into(),
    )
    .await;
    assert_eq!(st, 201);
    let pid = sim.with_shop(|shop| {
        shop.rows("products")
            .first()
            .map(|p| txt(&p["id"]))
            .unwrap_or_default()
    });
    let combo = |product: &str, minimal: &str, value: &str| {
        format!(
            "<combination><id_product>{product}</id_product><reference>X-M</reference><price>1</price>{minimal}<associations><product_option_values><product_option_value><id>{value}</id></product_option_value></product_option_values></associations></combination>"
        )
    };
    for (xml, why) in [
        (combo(&pid, "", "1"), "minimal_quantity is required"),
        (
            combo("999999", "<minimal_quantity>1</minimal_quantity>", "1"),
            "unknown product",
        ),
        (
            combo(&pid, "<minimal_quantity>1</minimal_quantity>", "42"),
            "unknown value",
        ),
    ] {
        let (st, body) = post("combinations", xml).await;
        assert_eq!(st, 400, "{why}: {body}");
    }
    assert!(rows_of(&sim, "combinations").is_empty(), "nothing saved");
    let (st, body) = post(
        "combinations",
        combo(&pid, "<minimal_quantity>1</minimal_quantity>", "1"),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let saved = rows_of(&sim, "combinations");
    assert_eq!(saved.len(), 1);
    assert_eq!(
        (field(&saved[0], "reference"), field(&saved[0], "price")),
        ("X-M".to_string(), "1.000000".to_string())
    );
    // Its stock row, at 0, comes with it.
    let cid = field(&saved[0], "id");
    assert!(rows_of(&sim, "stock_availables")
        .iter()
        .any(|r| field(r, "id_product_attribute") == cid && field(r, "quantity") == "0"));
}

fn rows_of(
    sim: &passerelle_simulators::prestashop::PrestaShopSim,
    resource: &str,
) -> Vec<Map<String, Value>> {
    sim.with_shop(|shop| shop.rows(resource).into_iter().cloned().collect())
}
