//! PrestaShop's field table (`cms::prestashop::fields::FIELD_RULES`) against the
//! simulator, which enforces PrestaShop 8's contract with its own code (issue 21):
//!
//! * the table and the simulator agree on every rule: for each one, a value at the limit
//!   is accepted and each violating value is refused with a validation code;
//! * a multi-element body whose third element is invalid: the simulator keeps the first
//!   two and drops the rest (no transaction), and the client recovers every valid item
//!   without a duplicate;
//! * order write-backs: a delivery state resets the delivery date, the sync sends it again;
//!   a reference over 9 characters is cut by the shop (hence shortened by the sync), the
//!   customer thread token is 12 characters.
#![allow(clippy::unwrap_used, missing_docs)]

use passerelle_adapters::cms::prestashop::fields::FIELD_RULES;
use passerelle_adapters::cms::prestashop::{PrestaShopCatalog, PrestaShopClient};
use passerelle_domain::catalog::ProductDraft;
use passerelle_domain::fields::{Check, Field};
use passerelle_simulators::prestashop::{PrestaShopSim, SimShop, DEMO_KEY};
use passerelle_workflows::ports::{CatalogShop, Written};
use rust_decimal::Decimal;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};

fn esc(v: &str) -> String {
    quick_xml::escape::escape(v).to_string()
}

struct Probe {
    sim: PrestaShopSim,
    http: reqwest::Client,
    product: u64,
    seq: AtomicU32,
}

impl Probe {
    async fn start() -> Probe {
        let mut shop = SimShop::new();
        let product = shop.add_product("PROBE", "Sonde", Decimal::from(10), None, 5);
        let sim = PrestaShopSim::start(shop, DEMO_KEY).await.unwrap();
        Probe {
            sim,
            http: reqwest::Client::new(),
            product,
            seq: AtomicU32::new(0),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: String) -> (u16, String) {
        let r = self
            .http
            .request(method, format!("{}/api/{path}", self.sim.url()))
            .basic_auth(DEMO_KEY, Some(""))
            .body(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><prestashop>{body}</prestashop>"
            ))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Writes `value` into `field` the way the sync would, and answers the HTTP status and
    /// body.
    async fn write(&self, field: Field, value: &str) -> (u16, String) {
        use reqwest::Method as M;
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let v = esc(value);
        let lang = |f: &str| format!("<{f}><language id=\"1\">{v}</language></{f}>");
        let patch = |inner: String| format!("<product><id>{}</id>{inner}</product>", self.product);
        let (method, path, body) = match field {
            Field::ProductReference => (M::PATCH, "products", patch(format!("<reference>{v}</reference>"))),
            Field::ProductName => (M::PATCH, "products", patch(lang("name"))),
            Field::ProductSlug => (M::PATCH, "products", patch(lang("link_rewrite"))),
            Field::MetaTitle => (M::PATCH, "products", patch(lang("meta_title"))),
            Field::MetaDescription => (M::PATCH, "products", patch(lang("meta_description"))),
            Field::MetaKeywords => (M::PATCH, "products", patch(lang("meta_keywords"))),
            Field::ProductDescription => (M::PATCH, "products", patch(lang("description"))),
            Field::ProductSummary => (M::PATCH, "products", patch(lang("description_short"))),
            Field::Price => (M::PATCH, "products", patch(format!("<price>{v}</price>"))),
            Field::Ean13 => (M::PATCH, "products", patch(format!("<ean13>{v}</ean13>"))),
            Field::Weight => (M::PATCH, "products", patch(format!("<weight>{v}</weight>"))),
            Field::Width => (M::PATCH, "products", patch(format!("<width>{v}</width>"))),
            Field::Height => (M::PATCH, "products", patch(format!("<height>{v}</height>"))),
            Field::Depth => (M::PATCH, "products", patch(format!("<depth>{v}</depth>"))),
            Field::CategoryName => (
                M::POST,
                "categories",
                format!(
                    "<category>{}<link_rewrite><language id=\"1\">c{n}</language></link_rewrite><id_parent>2</id_parent><active>1</active></category>",
                    lang("name")
                ),
            ),
            Field::ManufacturerName => (
                M::POST,
                "manufacturers",
                format!("<manufacturer><name>{v}</name><active>1</active></manufacturer>"),
            ),
            Field::AttributeGroupName => (
                M::POST,
                "product_options",
                format!(
                    "<product_option><is_color_group>0</is_color_group><group_type>select</group_type>{}<public_name><language id=\"1\">g{n}</language></public_name></product_option>",
                    lang("name")
                ),
            ),
            Field::AttributeValueName => {
                // A group of its own to hang the value on.
                let (_, b) = self
                    .send(
                        M::POST,
                        "product_options",
                        format!("<product_option><is_color_group>0</is_color_group><group_type>select</group_type><name><language id=\"1\">G{n}</language></name><public_name><language id=\"1\">G{n}</language></public_name></product_option>"),
                    )
                    .await;
                let g: Value = serde_json::from_str(&b).unwrap();
                let gid = g["product_option"]["id"].to_string().trim_matches('"').to_string();
                (
                    M::POST,
                    "product_option_values",
                    format!(
                        "<product_option_value><id_attribute_group>{gid}</id_attribute_group>{}</product_option_value>",
                        lang("name")
                    ),
                )
            }
            Field::CombinationReference => (
                M::POST,
                "combinations",
                format!(
                    "<combination><id_product>{}</id_product><minimal_quantity>1</minimal_quantity><reference>{v}</reference></combination>",
                    self.product
                ),
            ),
            Field::CustomerFirstname | Field::CustomerLastname | Field::CustomerCompany => {
                let (first, last, company) = match field {
                    Field::CustomerFirstname => (v.clone(), "Dubois".into(), String::new()),
                    Field::CustomerLastname => ("Léa".into(), v.clone(), String::new()),
                    _ => ("Léa".into(), "Dubois".into(), v.clone()),
                };
                (
                    M::POST,
                    "customers",
                    format!(
                        "<customer><passwd>secret-{n}</passwd><firstname>{first}</firstname><lastname>{last}</lastname><email>p{n}@exemple.fr</email><company>{company}</company></customer>"
                    ),
                )
            }
            other => panic!("no probe for {other:?}: add one with the rule"),
        };
        self.send(method, path, body).await
    }
}

/// The values that break `check`, and one at its limit that passes.
fn probes(check: &Check) -> (Vec<String>, String) {
    match check {
        Check::Required => (vec![String::new()], "a".into()),
        Check::MaxChars(n) => (vec!["a".repeat(n + 1)], "a".repeat(*n)),
        Check::NoneOf(chars) => (
            chars.chars().map(|c| format!("ab{c}cd")).collect(),
            "ab cd".into(),
        ),
        Check::PersonName(chars) => {
            let mut bad: Vec<String> = chars.chars().map(|c| format!("Ab{c}cd")).collect();
            bad.push("Louis 14".into());
            bad.push("J.P. Martin".into());
            (bad, "J. P. Martin & O'Brien Jr.".into())
        }
        Check::Slug => (
            vec!["thé-vert".into(), "a b".into(), "a/b".into()],
            "the_vert-2".into(),
        ),
        Check::Digits(n) => (vec!["12a".into(), "1".repeat(n + 1)], "1".repeat(*n)),
        Check::Unsigned(Some(d)) => (
            vec!["-1".into(), "1".repeat(*d as usize + 1), "douze".into()],
            format!("{}.5", "9".repeat(*d as usize)),
        ),
        Check::Unsigned(None) => (vec!["-1".into(), "douze".into()], "0.5".into()),
        Check::CleanHtml => (
            vec![
                "<script>alert(1)</script>".into(),
                "<p onclick=\"x()\">a</p>".into(),
                "<iframe src=\"x\"></iframe>".into(),
            ],
            "<p>Lampe <strong>LED</strong></p>".into(),
        ),
    }
}

#[tokio::test]
async fn the_table_and_the_simulator_agree_on_every_rule() {
    let p = Probe::start().await;
    let mut checked = 0;
    for rule in FIELD_RULES.rules {
        if rule.field == Field::OrderReference {
            // Not a refusal: PrestaShop cuts it (order_write_backs below).
            continue;
        }
        for check in rule.checks {
            let (bad, limit) = probes(check);
            for b in bad {
                // The table refuses it, and so does the shop.
                assert!(
                    FIELD_RULES.check(rule.field, &b).is_err(),
                    "{:?} {check:?}: the table accepts {b:?}",
                    rule.field
                );
                let (status, body) = p.write(rule.field, &b).await;
                assert!(
                    status == 400 && ["[84]", "[85]", "[41]"].iter().any(|c| body.contains(c)),
                    "{:?} {check:?}: the simulator accepts {b:?}: {status} {body}",
                    rule.field
                );
                checked += 1;
            }
            // A value every check of the rule passes, at this check's limit.
            let ok = match check {
                Check::MaxChars(n) if rule.field == Field::ProductSlug => "a".repeat(*n),
                Check::MaxChars(n) if matches!(rule.field, Field::Price | Field::Ean13) => {
                    "1".repeat(*n)
                }
                _ => limit,
            };
            if FIELD_RULES.check(rule.field, &ok).is_err() {
                // This check's limit breaks another check of the rule (e.g. 13 letters
                // for an all-digits field): that one is probed on its own.
                continue;
            }
            let (status, body) = p.write(rule.field, &ok).await;
            assert!(
                (200..300).contains(&status),
                "{:?} {check:?}: the simulator refuses {ok:?}: {status} {body}",
                rule.field
            );
            checked += 1;
        }
    }
    assert!(checked > 80, "{checked} probes");
}

fn draft(reference: &str, name: &str) -> ProductDraft {
    ProductDraft {
        reference: reference.into(),
        name: Some(name.into()),
        slug: Some(passerelle_domain::catalog::slugify(name)),
        price: Some(Decimal::from(12)),
        active_if_new: true,
        category_if_new: Some("2".into()),
        ..ProductDraft::default()
    }
}

#[tokio::test]
async fn a_body_refused_at_its_third_element_keeps_two_and_the_client_recovers_the_rest() {
    let sim = PrestaShopSim::start(SimShop::new(), DEMO_KEY)
        .await
        .unwrap();
    let before = sim.with_shop(|s| s.rows("products").len());
    let catalog = PrestaShopCatalog::new(
        PrestaShopClient::new(&sim.url(), DEMO_KEY).unwrap(),
        vec!["1".into()],
    );
    // The workflow would have failed the third before sending (issue 21): called
    // directly, the client sends it and the shop refuses it.
    let drafts = vec![
        draft("M-1", "Lampe un"),
        draft("M-2", "Lampe deux"),
        draft("M-3", "Lampe <trois>"),
        draft("M-4", "Lampe quatre"),
        draft("M-5", "Lampe cinq"),
    ];
    let out = catalog.upsert_products(&drafts, true, 5).await.unwrap();
    // The first call saved M-1 and M-2 and stopped at M-3 (no transaction).
    assert_eq!(
        sim.calls("POST products"),
        1 + 3,
        "one batch, then M-3, M-4, M-5 alone"
    );
    let refs: Vec<String> = sim.with_shop(|s| {
        s.rows("products")
            .iter()
            .filter_map(|p| {
                p.get("reference")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    });
    for r in ["M-1", "M-2", "M-4", "M-5"] {
        assert_eq!(
            refs.iter().filter(|x| *x == r).count(),
            1,
            "{r} once: {refs:?}"
        );
    }
    assert!(!refs.iter().any(|r| r == "M-3"));
    assert_eq!(sim.with_shop(|s| s.rows("products").len()), before + 4);
    let by: std::collections::HashMap<String, Written> = out.into_iter().collect();
    assert!(
        matches!(by["M-1"], Written::Unchanged(_)),
        "{:?}",
        by["M-1"]
    );
    assert!(matches!(by["M-4"], Written::Created(_)), "{:?}", by["M-4"]);
    match &by["M-3"] {
        Written::Refused(why) => assert!(why.contains("name"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn order_write_backs_meet_the_delivery_reset_the_9_character_reference_and_the_token() {
    use passerelle_workflows::ports::Shop;
    let sim = PrestaShopSim::start_demo(3).await.unwrap();
    let client = PrestaShopClient::new(&sim.url(), DEMO_KEY).unwrap();
    let id: u64 = sim.with_shop(|s| {
        s.rows("orders")[0]["id"]
            .to_string()
            .trim_matches('"')
            .parse()
            .unwrap()
    });
    let oid = id.to_string();
    let date = |sim: &PrestaShopSim| {
        sim.row("orders", id).unwrap()["delivery_date"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    client.set_order_state(&oid, "4", false).await.unwrap();
    client.set_delivery_date(&oid, day).await.unwrap();
    assert_eq!(date(&sim), "2026-12-03 00:00:00");
    // A later change to a delivery state (5) resets it to the time of the change, as
    // PrestaShop's `setDelivery` does: the sync has to send it again after the status.
    let rows = sim.order_history(id).len();
    client.set_order_state(&oid, "5", false).await.unwrap();
    assert_ne!(date(&sim), "2026-12-03 00:00:00");
    assert_eq!(sim.order_history(id).len(), rows + 1, "one row per change");
    client.set_delivery_date(&oid, day).await.unwrap();
    assert_eq!(date(&sim), "2026-12-03 00:00:00");
    // No same-state guard in the shop: the client's own look-up avoids a second row.
    client.set_order_state(&oid, "5", false).await.unwrap();
    assert_eq!(sim.order_history(id).len(), rows + 1);
    // The shop cuts a reference over 9 characters (varchar(9), non-strict SQL).
    client
        .set_order_reference(&oid, "FA2026-000123")
        .await
        .unwrap();
    assert_eq!(
        sim.row("orders", id).unwrap()["reference"].as_str(),
        Some("FA2026-00")
    );
    assert_eq!(
        FIELD_RULES.max_chars(Field::OrderReference),
        Some(9),
        "the table knows it: the workflow shortens it itself, with a warning"
    );
    // The invoice's customer thread: a 12-character token, stored whole.
    let pdf = b"%PDF-1.4 facture".to_vec();
    client.attach_invoice(&oid, "FA0001", &pdf).await.unwrap();
    let tokens: Vec<String> = sim.with_shop(|s| {
        s.rows("customer_threads")
            .iter()
            .filter_map(|t| t["token"].as_str().map(str::to_string))
            .collect()
    });
    assert!(!tokens.is_empty());
    for t in tokens {
        assert_eq!(t.len(), 12, "{t}");
    }
}
