//! Shop writes the real platform accepts (issue 21), end to end against the PrestaShop and
//! EBP simulators, on SQLite and PostgreSQL. The PrestaShop simulator enforces PrestaShop
//! 8's field contract with its own code (validators, sizes, error codes 84/85), so any
//! value the client's field table misses would come back as "refusé par la boutique".
//!
//! * a realistic catalogue (42 articles) and 12 customers covering every rule of the table
//!   (lengths at the limit and over, forbidden characters per validator, negative and
//!   unreadable measures, a price over 10 integer digits, company names as customer names,
//!   multilingual texts): every item is created with its warnings or failed with the field
//!   and rule named, none refused by the shop, and a re-run writes nothing;
//! * a variant grid with an invalid attribute name fails whole: nothing written, now or on
//!   the next run.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::DemoWorld;
use passerelle::export_demo::ensure_export_plan;
use passerelle_domain::catalog::{AttributeFields, TextMapping, VariantSettings, WeightSource};
use passerelle_domain::sync_run::RunEvent;
use passerelle_domain::{AccountId, ProfileId, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_simulators::ebp::{EbpSimConfig, SimArticle, SimCustomer};
use passerelle_workflows::engine::RunStore;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

struct Setup {
    _db: TestDb,
    app: App,
    world: DemoWorld,
    acc: AccountId,
    profile: ProfileId,
}

/// The demo world without orders, a profile mapping every field the table checks: meta
/// texts, a second language, EAN, weight and dimensions; `variants` when asked.
async fn setup(kind: Kind, variants: bool) -> Setup {
    export_env();
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
    let mut file = world.profile_file().unwrap();
    if let Some(e) = file.export.as_mut() {
        e.weight_factor = Decimal::ONE;
    }
    if let (Some(e), false) = (file.export.as_mut(), variants) {
        e.text.meta_title = Some("xx_MetaTitre".into());
        e.text.meta_description = Some("xx_MetaDesc".into());
        e.languages = vec!["1".into(), "2".into()];
        e.language_texts.insert(
            "2".into(),
            TextMapping {
                name: Some("xx_NomEN".into()),
                description: None,
                ..TextMapping::default()
            },
        );
        e.ean13 = Some("BarCode".into());
        e.weight = WeightSource::Gross;
        e.dimensions.width = Some("xx_Largeur".into());
        e.dimensions.height = Some("xx_Hauteur".into());
    }
    if let Some(e) = file.export.as_mut() {
        if variants {
            e.variants = Some(VariantSettings {
                master_field: "xx_Maitre".into(),
                label_field: None,
                attributes: vec![AttributeFields {
                    name_field: "xx_Att1".into(),
                    value_field: "xx_Val1".into(),
                }],
            });
        }
    }
    let profile = world.install_file(&app, &acc, file).await.unwrap();
    ensure_export_plan(&app, &acc, 10_000).await.unwrap();
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

async fn notes(s: &Setup, run: RunId) -> Vec<String> {
    s.app
        .store
        .load_run(&s.acc, run)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            RunEvent::Noted { text } => Some(text),
            _ => None,
        })
        .collect()
}

fn text_of(v: &Value, lang: &str) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Array(a) => a
            .iter()
            .find(|l| l["id"] == json!(lang))
            .and_then(|l| l["value"].as_str())
            .unwrap_or_default()
            .to_string(),
        other => other.to_string(),
    }
}

/// A field of the shop's product with this reference, in language `lang`.
fn product_field(s: &Setup, reference: &str, field: &str, lang: &str) -> Option<String> {
    s.world.shop.with_shop(|shop| {
        shop.rows("products")
            .into_iter()
            .find(|p| p.get("reference").and_then(Value::as_str) == Some(reference))
            .map(|p| p.get(field).map(|v| text_of(v, lang)).unwrap_or_default())
    })
}

fn has_product(s: &Setup, reference: &str) -> bool {
    product_field(s, reference, "id", "1").is_some()
}

fn price(p: &str) -> Decimal {
    p.parse().unwrap()
}

fn art(r: &str, caption: &str) -> SimArticle {
    SimArticle::new(r, caption, 3)
        .price(price("19.90"), Decimal::from(20))
        .vat("TN")
}

/// Captions of the length asked, made of real words.
fn words(n: usize) -> String {
    let base = "Lampe de salon en laiton brossé avec abat-jour en lin naturel et variateur ";
    let mut s = String::new();
    while s.chars().count() < n {
        s.push_str(base);
    }
    let s: String = s.chars().take(n).collect();
    // Never end on a space: the length is the caption's.
    s.trim_end().to_string() + &"x".repeat(n - s.trim_end().chars().count())
}

/// (reference, expected: Ok(adapted?) or Err(field and validator named)).
type Expect = (&'static str, Result<bool, &'static str>);

/// 42 articles as an ERP holds them, and what each must become.
fn catalogue() -> (Vec<SimArticle>, Vec<Expect>) {
    let long150 = words(150);
    let a = vec![
        // Names at the limit and over (isCatalogName, 128).
        art("FR-N128", &words(128)),
        art("FR-N129", &words(129)),
        art("FR-N150", &long150),
        art("FR-N300", &words(300)),
        // Forbidden characters of isCatalogName: < > ; = # { }.
        art("FR-LT", "Lampe <LED> 12 W"),
        art("FR-GT", "Ampoule > 60 W"),
        art("FR-SEMI", "Coussin lin; 40x40"),
        art("FR-EQ", "Vase = grès"),
        art("FR-HASH", "Tabouret #3 chêne"),
        art("FR-BRACE", "Plaid {laine}"),
        // Characters isCatalogName allows.
        art("FR-AMP", "Tapis coco & caoutchouc 60×90 – entrée"),
        art("FR-QUOTE", "Coussin \"Lin lavé\" l'été, 45 cm (x2)"),
        // References: isReference (no < > ; = { }, 64 at most).
        art("FR;REF", "Référence avec point-virgule"),
        art("FR=REF", "Référence avec égal"),
        art("FR{REF", "Référence avec accolade"),
        art(&"R".repeat(64), "Référence de 64 caractères"),
        art(&"Q".repeat(65), "Référence de 65 caractères"),
        art("FR#REF", "Dièse permis en référence"),
        // Prices: isPrice, 10 integer digits at most.
        art("FR-P10", "Prix à dix chiffres").price(price("9999999999.99"), Decimal::from(20)),
        art("FR-P11", "Prix à onze chiffres").price(price("12345678901"), Decimal::from(20)),
        // Weights and dimensions: isUnsignedFloat.
        art("FR-WNEG", "Poids négatif").column("Weight", json!(-2.5)),
        art("FR-WTXT", "Poids illisible").column("Weight", json!("lourd")),
        art("FR-WOK", "Poids lisible").column("Weight", json!(1.25)),
        art("FR-DNEG", "Largeur négative").column("xx_Largeur", json!("-3")),
        art("FR-DTXT", "Hauteur illisible").column("xx_Hauteur", json!("env. 20")),
        art("FR-DOK", "Dimensions lisibles")
            .column("xx_Largeur", json!("40,5"))
            .column("xx_Hauteur", json!("12")),
        // EAN-13: isEan13.
        art("FR-EAN", "Code-barres valide").column("BarCode", json!("3760123456789")),
        art("FR-EANX", "Code-barres illisible").column("BarCode", json!("376-0123")),
        art("FR-EAN14", "Code-barres trop long").column("BarCode", json!("37601234567890")),
        // Meta texts: isGenericName (no < > = { }), 255 / 512.
        art("FR-MT255", "Méta-titre à la limite").column("xx_MetaTitre", json!(words(255))),
        art("FR-MT300", "Méta-titre trop long").column("xx_MetaTitre", json!(words(300))),
        art("FR-MTBAD", "Méta-titre interdit").column("xx_MetaTitre", json!("Promo <b>")),
        art("FR-MD600", "Méta-description trop longue").column("xx_MetaDesc", json!(words(600))),
        art("FR-MD512", "Méta-description à la limite").column("xx_MetaDesc", json!(words(512))),
        // Multilingual: the second language's own name.
        art("FR-EN", "Lampe de bureau").column("xx_NomEN", json!("Desk lamp")),
        art("FR-EN140", "Lampe longue").column("xx_NomEN", json!(words(140))),
        art("FR-ENBAD", "Lampe anglaise").column("xx_NomEN", json!("Lamp #1 {EN}")),
        // Ordinary articles.
        art("FR-OK1", "Théière en fonte émaillée 1,2 L"),
        art("FR-OK2", "Bougie parfumée figue — 180 g"),
        art("FR-OK3", "Panier en osier tressé à la main"),
        art("FR-OK4", "Miroir rond Ø 60 cm, cadre rotin"),
        art("FR-OK5", "Nappe 160×240 : lin & coton"),
    ];
    let q65: &'static str = Box::leak("Q".repeat(65).into_boxed_str());
    let r64: &'static str = Box::leak("R".repeat(64).into_boxed_str());
    let e: Vec<Expect> = vec![
        ("FR-N128", Ok(false)),
        ("FR-N129", Ok(true)),
        ("FR-N150", Ok(true)),
        ("FR-N300", Ok(true)),
        ("FR-LT", Err("champ name (isCatalogName")),
        ("FR-GT", Err("champ name (isCatalogName")),
        ("FR-SEMI", Err("champ name (isCatalogName")),
        ("FR-EQ", Err("champ name (isCatalogName")),
        ("FR-HASH", Err("champ name (isCatalogName")),
        ("FR-BRACE", Err("champ name (isCatalogName")),
        ("FR-AMP", Ok(false)),
        ("FR-QUOTE", Ok(false)),
        ("FR;REF", Err("champ reference (isReference")),
        ("FR=REF", Err("champ reference (isReference")),
        ("FR{REF", Err("champ reference (isReference")),
        (r64, Ok(false)),
        (
            q65,
            Err("champ reference (isReference : 64 caractères au plus)"),
        ),
        ("FR#REF", Ok(false)),
        ("FR-P10", Ok(false)),
        ("FR-P11", Err("champ price (isPrice")),
        ("FR-WNEG", Ok(true)),
        ("FR-WTXT", Ok(true)),
        ("FR-WOK", Ok(false)),
        ("FR-DNEG", Ok(true)),
        ("FR-DTXT", Ok(true)),
        ("FR-DOK", Ok(false)),
        ("FR-EAN", Ok(false)),
        ("FR-EANX", Ok(true)),
        ("FR-EAN14", Ok(true)),
        ("FR-MT255", Ok(false)),
        ("FR-MT300", Ok(true)),
        ("FR-MTBAD", Err("champ meta_title (isGenericName")),
        ("FR-MD600", Ok(true)),
        ("FR-MD512", Ok(false)),
        ("FR-EN", Ok(false)),
        ("FR-EN140", Ok(true)),
        ("FR-ENBAD", Err("champ name (isCatalogName")),
        ("FR-OK1", Ok(false)),
        ("FR-OK2", Ok(false)),
        ("FR-OK3", Ok(false)),
        ("FR-OK4", Ok(false)),
        ("FR-OK5", Ok(false)),
    ];
    assert_eq!(a.len(), e.len());
    (a, e)
}

fn customer(code: &str, name: &str, first: &str, last: &str) -> SimCustomer {
    let mut c = SimCustomer::new(code, name);
    c.firstname = first.into();
    c.lastname = last.into();
    c.email = Some(format!("{}@exemple.fr", code.to_lowercase()));
    c
}

/// 12 customers (code, …) and what each must become: Ok(adapted?) or Err(rule named).
fn customers() -> (Vec<SimCustomer>, Vec<Expect>) {
    let c = vec![
        customer("CU01", "Léa Dubois", "Léa", "Dubois"),
        // Company names standing in for a missing contact name.
        customer("CU02", "SARL Dupont, Fils", "", ""),
        customer("CU03", "SCI 2000 Immobilier", "", ""),
        customer("CU04", "Boulangerie Martin & Fils", "", ""),
        customer("CU05", "Ets. Durand", "", ""),
        customer("CU06", "Garage du Centre (SARL)", "", ""),
        // Person names the rule refuses.
        customer("CU07", "Jean-Pierre Martin", "J.P.", "Martin"),
        customer("CU08", "Paul Martin", "Paul", "Martin2"),
        customer("CU09", "Anne Roux", "123", "Roux"),
        customer("CU10", "Sophie O'Brien", "Sophie", "O'Brien"),
        // A company the shop refuses (isGenericName).
        customer("CU11", "Dupont <SA>", "Marc", "Dupont"),
        customer("CU12", "Atelier {Bois}", "", ""),
    ];
    let e: Vec<Expect> = vec![
        ("CU01", Ok(false)),
        ("CU02", Ok(true)),
        ("CU03", Ok(true)),
        ("CU04", Ok(false)),
        ("CU05", Ok(false)),
        ("CU06", Ok(true)),
        ("CU07", Ok(true)),
        ("CU08", Ok(true)),
        ("CU09", Ok(true)),
        ("CU10", Ok(false)),
        ("CU11", Err("champ company (isGenericName")),
        ("CU12", Err("champ company (isGenericName")),
    ];
    (c, e)
}

fn check_items(it: &HashMap<String, (&'static str, String)>, expect: &[Expect]) {
    for (key, want) in expect {
        let (o, m) = it.get(*key).unwrap_or_else(|| panic!("{key}: no outcome"));
        assert!(
            !m.contains("refusé par la boutique"),
            "{key}: refused by the simulator: {m}"
        );
        match want {
            Ok(adapted) => {
                assert_eq!(*o, "succeeded", "{key}: {m}");
                assert_eq!(
                    m.contains("adapté : ") || m.contains("non envoyé"),
                    *adapted,
                    "{key}: {m}"
                );
            }
            Err(rule) => {
                assert_eq!(*o, "failed", "{key}: {m}");
                assert!(m.contains(rule), "{key}: {m}");
            }
        }
    }
}

/// Shop writes of products and customers counted by the simulator.
fn writes(s: &Setup) -> u32 {
    s.world
        .shop
        .call_counts()
        .into_iter()
        .filter(|(k, _)| {
            (k.starts_with("POST") || k.starts_with("PUT") || k.starts_with("PATCH"))
                && !k.contains("stock_availables")
        })
        .map(|(_, n)| n)
        .sum()
}

async fn catalogue_and_customers(kind: Kind) {
    let s = setup(kind, false).await;
    let (articles, expect) = catalogue();
    s.world.ebp.seed_articles(&articles);
    let (run1, status, c) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    let it = item_outcomes(&s.app, &s.acc, run1).await;
    check_items(&it, &expect);
    let failed = expect.iter().filter(|(_, e)| e.is_err()).count();
    assert_eq!(c.failed as usize, failed, "{c:?}");
    let adapted = expect.iter().filter(|(_, e)| *e == Ok(true)).count();
    let summary = notes(&s, run1).await.pop().unwrap();
    assert!(
        summary.contains(&format!(
            "(dont {adapted} avec adaptation(s) aux règles de la boutique)"
        )),
        "{summary}"
    );

    // What the shop holds.
    let n150 = words(150);
    let name = product_field(&s, "FR-N150", "name", "1").unwrap();
    assert!(
        name.chars().count() <= 128 && n150.starts_with(&name),
        "{name}"
    );
    assert!(!name.ends_with(' '));
    assert_eq!(
        product_field(&s, "FR-N150", "meta_title", "1").as_deref(),
        Some(n150.as_str()),
        "the full caption is kept in the meta title"
    );
    let slug = product_field(&s, "FR-N150", "link_rewrite", "1").unwrap();
    assert!(
        slug.len() <= 128 && slug.starts_with("lampe-de-salon"),
        "{slug}"
    );
    assert_eq!(
        product_field(&s, "FR-N128", "name", "1").as_deref(),
        Some(words(128).as_str())
    );
    let msg = &it["FR-N150"].1;
    assert!(
        msg.contains("champ name (isCatalogName : 128 caractères au plus)") && msg.contains(&n150),
        "the warning names field, rule and original value: {msg}"
    );
    for r in ["FR-WNEG", "FR-WTXT"] {
        assert_eq!(
            product_field(&s, r, "weight", "1").map(|w| price(&w)),
            Some(Decimal::ZERO),
            "{r}"
        );
    }
    assert_eq!(
        product_field(&s, "FR-WOK", "weight", "1").map(|w| price(&w)),
        Some(price("1.25"))
    );
    assert_eq!(
        product_field(&s, "FR-DOK", "width", "1").map(|w| price(&w)),
        Some(price("40.5"))
    );
    assert_eq!(
        product_field(&s, "FR-P10", "price", "1").map(|w| price(&w)),
        Some(price("9999999999.99"))
    );
    assert!(
        product_field(&s, "FR-MT300", "meta_title", "1")
            .unwrap()
            .chars()
            .count()
            <= 255
    );
    assert_eq!(
        product_field(&s, "FR-EN", "name", "2").as_deref(),
        Some("Desk lamp")
    );
    assert!(
        product_field(&s, "FR-EN140", "name", "2")
            .unwrap()
            .chars()
            .count()
            <= 128
    );
    assert!(
        it["FR-EN140"].1.contains("(langue 2)"),
        "{}",
        it["FR-EN140"].1
    );
    assert!(
        it["FR-ENBAD"].1.contains("(langue 2)"),
        "{}",
        it["FR-ENBAD"].1
    );
    for (r, e) in &expect {
        assert_eq!(has_product(&s, r), e.is_ok(), "{r}");
    }

    // A re-run sends nothing: every item is already as the shop holds it.
    s.world.shop.reset_calls();
    let (run2, status, c2) = run(&s, SyncAction::ExportArticles).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c2.failed, c.failed, "{c2:?}");
    assert_eq!(writes(&s), 0, "{:?}", s.world.shop.call_counts());
    let it2 = item_outcomes(&s.app, &s.acc, run2).await;
    for (r, e) in &expect {
        if e.is_ok() {
            assert!(it2[*r].1.contains("déjà à jour"), "{r}: {}", it2[*r].1);
        }
    }

    // Customers.
    let (accounts, expect) = customers();
    let seeded: Vec<(SimCustomer, Vec<(&str, Value)>)> =
        accounts.into_iter().map(|c| (c, Vec::new())).collect();
    s.world.ebp.seed_export_customers(&seeded);
    let (run3, status, c3) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(status, RunStatus::Succeeded);
    let it3 = item_outcomes(&s.app, &s.acc, run3).await;
    check_items(&it3, &expect);
    assert_eq!(c3.failed, 2, "{c3:?}");
    let account = |email: &str| -> Option<HashMap<String, String>> {
        s.world.shop.with_shop(|shop| {
            shop.rows("customers")
                .into_iter()
                .find(|c| c.get("email").and_then(Value::as_str) == Some(email))
                .map(|c| {
                    c.iter()
                        .map(|(k, v)| (k.clone(), text_of(v, "1")))
                        .collect()
                })
        })
    };
    let cu02 = account("cu02@exemple.fr").unwrap();
    assert_eq!(
        (
            cu02["firstname"].as_str(),
            cu02["lastname"].as_str(),
            cu02["company"].as_str()
        ),
        ("Client", "Client", "SARL Dupont, Fils")
    );
    assert!(
        it3["CU02"].1.contains("champ lastname (isCustomerName"),
        "{}",
        it3["CU02"].1
    );
    let cu04 = account("cu04@exemple.fr").unwrap();
    assert_eq!(cu04["lastname"], "Boulangerie Martin & Fils");
    let cu07 = account("cu07@exemple.fr").unwrap();
    assert_eq!(cu07["firstname"], "J. P.");
    let cu08 = account("cu08@exemple.fr").unwrap();
    assert_eq!(cu08["lastname"], "Martin");
    let cu09 = account("cu09@exemple.fr").unwrap();
    assert_eq!(cu09["firstname"], "Client");
    assert!(account("cu11@exemple.fr").is_none());
    let adapted = expect.iter().filter(|(_, e)| *e == Ok(true)).count();
    let summary = notes(&s, run3).await.pop().unwrap();
    assert!(
        summary.contains(&format!("(dont {adapted} avec adaptation(s)")),
        "{summary}"
    );
    // Again: nothing written.
    s.world.shop.reset_calls();
    let (_, status, c4) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c4.failed, 2);
    assert_eq!(writes(&s), 0, "{:?}", s.world.shop.call_counts());
}
both!(
    a_realistic_catalogue_goes_through_adapted_or_failed_with_the_rule_named,
    catalogue_and_customers
);

async fn invalid_grid(kind: Kind) {
    let s = setup(kind, true).await;
    let v = |r: &str, master: &str, att: &str, val: &str| {
        art(r, &format!("Chaussure {val}"))
            .column("xx_Maitre", json!(master))
            .column("xx_Att1", json!(att))
            .column("xx_Val1", json!(val))
    };
    s.world.ebp.seed_articles(&[
        v("SHOE-40", "SHOE", "Pointure <EU>", "40"),
        v("SHOE-41", "SHOE", "Pointure <EU>", "41"),
        v("BOOT-40", "BOOT", "Pointure", "40"),
        v("BOOT-41", "BOOT", "Pointure", "41"),
    ]);
    let groups_before = s
        .world
        .shop
        .with_shop(|shop| shop.rows("product_options").len());
    for round in 0..2 {
        s.world.shop.reset_calls();
        let (run1, status, _) = run(&s, SyncAction::ExportArticles).await;
        assert_eq!(status, RunStatus::Succeeded);
        let it = item_outcomes(&s.app, &s.acc, run1).await;
        let (o, m) = &it["SHOE"];
        assert_eq!(*o, "failed", "round {round}: {m}");
        assert!(
            m.contains("attribut « Pointure <EU> »")
                && m.contains("champ name (isGenericName")
                && m.contains("rien n'est écrit"),
            "{m}"
        );
        assert_eq!(it["BOOT"].0, "succeeded", "{}", it["BOOT"].1);
        assert!(!has_product(&s, "SHOE"), "round {round}");
        // Only BOOT's group was created, once.
        let groups: Vec<String> = s.world.shop.with_shop(|shop| {
            shop.rows("product_options")
                .into_iter()
                .map(|g| text_of(&g["name"], "1"))
                .collect()
        });
        assert_eq!(groups.len(), groups_before + 1, "{groups:?}");
        assert!(!groups.iter().any(|g| g.contains('<')));
        if round == 1 {
            assert_eq!(writes(&s), 0, "{:?}", s.world.shop.call_counts());
        }
    }
}
both!(
    a_variant_grid_with_an_invalid_attribute_name_is_not_written,
    invalid_grid
);
