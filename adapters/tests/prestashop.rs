//! PrestaShop adapter end to end: `PrestaShopClient` against `PrestaShopSim` over HTTP.
//! Paging and filters, the field-by-field mapping of one known order, batching (calls per
//! page), idempotent writes, error classification, and corrupted orders failing alone.

#![allow(clippy::unwrap_used, missing_docs)]

use chrono::{NaiveDate, TimeZone, Utc};
use passerelle_adapters::cms::prestashop::{normalise_shop_url, PrestaShopClient};
use passerelle_domain::orders::ShopOrder;
use passerelle_simulators::prestashop::{
    Corruption, Fault, FaultConfig, NewAddress, NewCartRule, NewCustomer, NewGift, NewLine,
    NewOrder, PrestaShopSim, SimShop, DEMO_KEY,
};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{DateField, OrderQuery, Shop, ShopOrderRead};
use rust_decimal::Decimal;
use std::str::FromStr;
use std::time::Duration;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn client(sim: &PrestaShopSim) -> PrestaShopClient {
    PrestaShopClient::new(&sim.url(), &sim.key()).unwrap()
}

fn states(s: &[&str]) -> OrderQuery {
    OrderQuery {
        states: s.iter().map(|x| x.to_string()).collect(),
        ..OrderQuery::default()
    }
}

fn ok(read: &ShopOrderRead) -> &ShopOrder {
    match read {
        ShopOrderRead::Ok(o) => o,
        ShopOrderRead::Invalid { id, reason } => panic!("order {id} invalid: {reason}"),
    }
}

/// Reads every page; returns the reads.
async fn read_all(c: &PrestaShopClient, q: &OrderQuery, limit: u32) -> Vec<ShopOrderRead> {
    let mut out: Vec<ShopOrderRead> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = c.orders_page(q, after.as_deref(), limit).await.unwrap();
        assert!(page.orders.len() <= limit as usize);
        after = page.orders.last().map(|o| o.id().to_string());
        out.extend(page.orders);
        if !page.has_more || after.is_none() {
            return out;
        }
    }
}

/// Order ids of the sim matching a predicate on the raw order.
fn sim_ids(
    sim: &PrestaShopSim,
    keep: impl Fn(&serde_json::Map<String, serde_json::Value>) -> bool,
) -> Vec<String> {
    sim.with_shop(|s| {
        s.rows("orders")
            .into_iter()
            .filter(|o| keep(o))
            .map(|o| o["id"].to_string())
            .collect()
    })
}

fn field(o: &serde_json::Map<String, serde_json::Value>, f: &str) -> String {
    o[f].as_str().unwrap_or_default().to_string()
}

/// A B2B order with three VAT rates, a line reduction, a cart rule, gift wrap and a payment.
fn known_order(shop: &mut SimShop) -> (u64, u64) {
    let cid = shop.add_customer(&NewCustomer {
        email: "achats@atelier-dubois.fr".into(),
        firstname: "Léa".into(),
        lastname: "Dubois".into(),
        company: "Atelier Dubois SARL".into(),
        siret: "404 833 048 00022".into(),
        ..NewCustomer::default()
    });
    let billing = shop.add_address(&NewAddress {
        customer_id: cid,
        firstname: "Léa".into(),
        lastname: "Dubois".into(),
        company: "Atelier Dubois SARL".into(),
        vat_number: "FR32404833048".into(),
        address1: "8 avenue Jean Jaurès".into(),
        address2: "Bâtiment B".into(),
        postcode: "75019".into(),
        city: "Paris".into(),
        country_iso: "FR".into(),
        phone: "0102030405".into(),
        ..NewAddress::default()
    });
    let delivery = shop.add_address(&NewAddress {
        customer_id: cid,
        firstname: "Emily".into(),
        lastname: "Carter".into(),
        address1: "1200 Market St".into(),
        postcode: "94102".into(),
        city: "San Francisco".into(),
        country_iso: "US".into(),
        state_iso: "CA".into(),
        ..NewAddress::default()
    });
    let mut tapis = NewLine::new("TAPI-Gris-Pla", "Tapis gris plat", 2, d("100"), Some(1));
    tapis.reduction_percent = d("10");
    let mut o = NewOrder::new(
        cid,
        billing,
        vec![
            tapis,
            NewLine::new(
                "LIVRE-Deco",
                "Livre « Maisons de famille »",
                1,
                d("35"),
                Some(3),
            ),
            NewLine::new("CARTE-Cadeau", "Carte cadeau 50 €", 1, d("50"), None),
        ],
    );
    o.delivery_address_id = delivery;
    o.cart_rules.push(NewCartRule {
        name: "Bienvenue 5 €".into(),
        value: d("5"),
        value_tax_excl: d("4.17"),
    });
    o.gift = Some(NewGift {
        wrapping_tax_excl: d("2.5"),
        tax_rate: d("20"),
        message: "Joyeux anniversaire !".into(),
    });
    o.module = "paypal".into();
    o.payment = "PayPal".into();
    o.transaction_id = "PAY-42".into();
    o.invoice_number = Some(12);
    o.note = "Client pressé".into();
    o.date_add = NaiveDate::from_ymd_opt(2025, 3, 4)
        .unwrap()
        .and_hms_opt(10, 30, 0)
        .unwrap();
    (shop.add_order(&o), cid)
}

#[tokio::test]
async fn one_known_order_is_mapped_field_by_field() {
    let mut shop = SimShop::new();
    let (id, cid) = known_order(&mut shop);
    let sim = PrestaShopSim::start(shop, DEMO_KEY).await.unwrap();
    let page = client(&sim)
        .orders_page(&states(&["2"]), None, 10)
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert!(!page.has_more);
    let o = ok(&page.orders[0]);

    assert_eq!(o.id, id.to_string());
    assert_eq!(o.reference.len(), 9);
    assert_eq!(o.shop_id, "1");
    assert_eq!(o.state_id, "2");
    let at = Utc.with_ymd_and_hms(2025, 3, 4, 10, 30, 0).unwrap();
    assert_eq!((o.created_at, o.updated_at), (at, at));
    assert_eq!(o.invoice_number.as_deref(), Some("12"));
    assert_eq!(o.invoice_date, Some(at));
    assert_eq!(o.currency, "EUR");
    assert_eq!(o.conversion_rate, d("1"));

    let c = &o.customer;
    assert_eq!(c.id, cid.to_string());
    assert_eq!(c.email, "achats@atelier-dubois.fr");
    assert_eq!(
        (c.firstname.as_str(), c.lastname.as_str()),
        ("Léa", "Dubois")
    );
    assert_eq!(c.company.as_deref(), Some("Atelier Dubois SARL"));
    assert_eq!(c.siret.as_deref(), Some("40483304800022"));
    assert_eq!(c.vat_number.as_deref(), Some("FR32404833048"));
    assert!(!c.is_guest);
    assert_eq!(c.erp_code, None);

    assert_eq!(o.billing.address1, "8 avenue Jean Jaurès");
    assert_eq!(o.billing.address2.as_deref(), Some("Bâtiment B"));
    assert_eq!(o.billing.country_iso, "FR");
    assert_eq!(o.billing.state, None);
    assert_eq!(o.billing.phone.as_deref(), Some("0102030405"));
    assert_eq!(o.delivery.country_iso, "US");
    assert_eq!(o.delivery.state.as_deref(), Some("CA"));
    assert_eq!(o.delivery.company, None);

    assert_eq!(o.lines.len(), 3);
    let l = &o.lines[0];
    assert_eq!(
        (l.reference.as_str(), l.name.as_str()),
        ("TAPI-Gris-Pla", "Tapis gris plat")
    );
    assert_eq!(l.quantity, d("2"));
    assert_eq!(l.unit_price_tax_excl, d("100"));
    assert_eq!(l.unit_price_tax_incl, d("120"));
    assert_eq!(l.discount_percent, d("10"));
    assert_eq!(l.discount_amount_tax_excl, d("0"));
    assert_eq!((l.total_tax_excl, l.total_tax_incl), (d("180"), d("216")));
    assert_eq!((l.tax_name.as_str(), l.tax_rate), ("TVA FR 20%", d("20")));
    let l = &o.lines[1];
    assert_eq!(
        (l.unit_price_tax_excl, l.unit_price_tax_incl),
        (d("35"), d("36.925"))
    );
    assert_eq!((l.total_tax_excl, l.total_tax_incl), (d("35"), d("36.93")));
    assert_eq!((l.tax_name.as_str(), l.tax_rate), ("TVA FR 5.5%", d("5.5")));
    let l = &o.lines[2];
    assert_eq!((l.tax_name.as_str(), l.tax_rate), ("", d("0")));
    assert_eq!((l.total_tax_excl, l.total_tax_incl), (d("50"), d("50")));

    assert_eq!(o.discounts.len(), 1);
    assert_eq!(o.discounts[0].name, "Bienvenue 5 €");
    assert_eq!(
        (
            o.discounts[0].amount_tax_incl,
            o.discounts[0].amount_tax_excl
        ),
        (d("5"), d("4.17"))
    );
    assert_eq!(o.shipping.carrier_id, "2");
    assert_eq!(o.shipping.carrier_name, "Colissimo");
    assert_eq!(
        (o.shipping.amount_tax_excl, o.shipping.amount_tax_incl),
        (d("5"), d("6"))
    );
    assert_eq!(o.shipping.tax_rate, d("20"));
    let w = o.wrapping.as_ref().unwrap();
    assert_eq!((w.amount_tax_excl, w.amount_tax_incl), (d("2.5"), d("3")));
    assert_eq!(w.message.as_deref(), Some("Joyeux anniversaire !"));

    assert_eq!(
        (o.payment_module.as_str(), o.payment_label.as_str()),
        ("paypal", "PayPal")
    );
    assert_eq!(o.payments.len(), 1);
    assert_eq!(o.payments[0].method, "PayPal");
    assert_eq!(o.payments[0].amount, d("306.93"));
    assert_eq!(o.payments[0].paid_at, at);
    assert_eq!(o.payments[0].transaction_id.as_deref(), Some("PAY-42"));

    assert_eq!(o.totals.products_tax_excl, d("265"));
    assert_eq!(o.totals.products_tax_incl, d("302.93"));
    assert_eq!(o.totals.paid_tax_excl, d("268.33"));
    assert_eq!(o.totals.paid_tax_incl, d("306.93"));
    assert_eq!(o.messages, vec!["Joyeux anniversaire !", "Client pressé"]);
}

#[tokio::test]
async fn demo_orders_map_guests_foreign_currency_and_unknown_references() {
    let sim = PrestaShopSim::start_demo(40).await.unwrap();
    let c = client(&sim);
    let all: Vec<ShopOrderRead> = read_all(
        &c,
        &OrderQuery {
            states: (1..=12).map(|s| s.to_string()).collect(),
            shops: vec!["1".into(), "2".into()],
            ..OrderQuery::default()
        },
        15,
    )
    .await;
    assert_eq!(all.len(), 40);
    let orders: Vec<&ShopOrder> = all.iter().map(ok).collect();
    assert!(orders.iter().any(|o| o.customer.is_guest));
    assert!(orders.iter().any(|o| o.shop_id == "2"));
    let usd = orders.iter().find(|o| o.currency == "USD").unwrap();
    assert_eq!(usd.conversion_rate, d("1.08"));
    assert_eq!(usd.billing.state.as_deref(), Some("CA"));
    assert!(usd.lines.iter().all(|l| l.tax_rate.is_zero()));
    let be = orders
        .iter()
        .find(|o| o.billing.country_iso == "BE")
        .unwrap();
    assert_eq!(be.customer.vat_number.as_deref(), Some("BE0417497106"));
    assert!(orders.iter().any(|o| o
        .lines
        .iter()
        .any(|l| l.reference.starts_with("ZZ-INCONNU"))));
    assert!(orders
        .iter()
        .any(|o| o.lines.iter().any(|l| l.tax_rate == d("5.5"))));
    assert!(orders.iter().any(|o| o.wrapping.is_some()));
    assert!(orders.iter().any(|o| !o.discounts.is_empty()));
    // Totals are consistent with the lines.
    for o in &orders {
        let lines: Decimal = o.lines.iter().map(|l| l.total_tax_excl).sum();
        assert_eq!(lines, o.totals.products_tax_excl, "order {}", o.id);
    }
}

#[tokio::test]
async fn pages_follow_state_shop_and_date_filters() {
    let sim = PrestaShopSim::start_demo(60).await.unwrap();
    let c = client(&sim);

    // States 2|3 on the default shop (1), pages of 4, ascending ids.
    let got: Vec<String> = read_all(&c, &states(&["2", "3"]), 4)
        .await
        .iter()
        .map(|r| r.id().to_string())
        .collect();
    let want = sim_ids(&sim, |o| {
        ["2", "3"].contains(&field(o, "current_state").as_str()) && field(o, "id_shop") == "1"
    });
    assert!(want.len() > 8);
    assert_eq!(got, want);

    // Shop 2 only.
    let q = OrderQuery {
        shops: vec!["2".into()],
        ..states(&["2", "3", "4"])
    };
    let got = read_all(&c, &q, 50).await;
    assert!(!got.is_empty());
    assert!(got.iter().all(|r| ok(r).shop_id == "2"));

    // Date interval on creation (inclusive).
    let from = Utc.with_ymd_and_hms(2025, 1, 7, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2025, 1, 10, 23, 59, 59).unwrap();
    let q = OrderQuery {
        from: Some(from),
        to: Some(to),
        date_field: DateField::Created,
        shops: vec!["1".into(), "2".into()],
        ..states(&["1", "2", "3", "4", "5", "6", "10"])
    };
    let got: Vec<String> = read_all(&c, &q, 100)
        .await
        .iter()
        .map(|r| {
            let o = ok(r);
            assert!(o.created_at >= from && o.created_at <= to);
            o.id.clone()
        })
        .collect();
    let want = sim_ids(&sim, |o| {
        let da = field(o, "date_add");
        da.as_str() >= "2025-01-07 00:00:00" && da.as_str() <= "2025-01-10 23:59:59"
    });
    assert_eq!(got, want);

    // No state asked: nothing read, no call made; unknown state: empty page (`[]`).
    sim.reset_calls();
    let p = c.orders_page(&states(&[]), None, 10).await.unwrap();
    assert!(p.orders.is_empty() && !p.has_more);
    assert_eq!(sim.calls_total(), 0);
    let p = c.orders_page(&states(&["99"]), None, 10).await.unwrap();
    assert!(p.orders.is_empty() && !p.has_more);
}

#[tokio::test]
async fn a_page_costs_a_constant_number_of_calls() {
    let sim = PrestaShopSim::start_demo(60).await.unwrap();
    let c = client(&sim);
    let q = OrderQuery {
        shops: vec!["1".into(), "2".into()],
        ..states(&["1", "2", "3", "4", "5", "6", "10"])
    };
    let first = c.orders_page(&q, None, 10).await.unwrap();
    assert_eq!(first.orders.len(), 10);
    assert!(first.has_more);
    // 7 page calls + 5 reference lists, loaded once.
    assert_eq!(sim.calls_total(), 12, "{:?}", sim.call_counts());
    for r in ["taxes", "countries", "states", "currencies", "carriers"] {
        assert_eq!(sim.calls(&format!("GET {r}")), 1);
    }
    for size in [25, 3] {
        sim.reset_calls();
        let after = first.orders[9].id().to_string();
        let page = c.orders_page(&q, Some(&after), size).await.unwrap();
        assert_eq!(page.orders.len(), size as usize);
        assert_eq!(sim.calls_total(), 7, "{:?}", sim.call_counts());
        for r in [
            "orders",
            "order_details",
            "customers",
            "addresses",
            "order_cart_rules",
            "order_payments",
            "order_carriers",
        ] {
            assert_eq!(sim.calls(&format!("GET {r}")), 1, "{r}");
        }
    }
}

#[tokio::test]
async fn set_order_state_is_set_to() {
    let sim = PrestaShopSim::start_demo(5).await.unwrap();
    let c = client(&sim);
    let id = sim_ids(&sim, |o| field(o, "current_state") == "2")[0].clone();
    let n: u64 = id.parse().unwrap();
    let before = sim.order_history(n);

    c.set_order_state(&id, "3", true).await.unwrap();
    assert_eq!(sim.order_state(n).as_deref(), Some("3"));
    assert_eq!(sim.order_history(n).len(), before.len() + 1);
    assert_eq!(sim.emails_sent(), vec![(n, "3".to_string())]);

    c.set_order_state(&id, "3", true).await.unwrap();
    assert_eq!(sim.order_history(n).len(), before.len() + 1);
    assert_eq!(sim.calls("POST order_histories"), 1);

    c.set_order_state(&id, "4", false).await.unwrap();
    assert_eq!(sim.order_state(n).as_deref(), Some("4"));
    assert_eq!(sim.emails_sent().len(), 1);

    assert!(matches!(
        c.set_order_state("999", "4", false).await,
        Err(StepError::Permanent(m)) if m.contains("introuvable")
    ));
}

#[tokio::test]
async fn erp_code_and_document_number_go_into_private_notes() {
    let sim = PrestaShopSim::start_demo(3).await.unwrap();
    let c = client(&sim);
    let cid = sim.with_shop(|s| {
        let o = s.get("orders", 1).unwrap();
        let cid: u64 = o["id_customer"].as_str().unwrap().parse().unwrap();
        s.get_mut("customers", cid)
            .unwrap()
            .insert("note".into(), "Client fidèle".into());
        cid
    });
    let customer = cid.to_string();
    c.set_customer_erp_code(&customer, "CL00004").await.unwrap();
    c.set_customer_erp_code(&customer, "CL00004").await.unwrap();
    assert_eq!(
        sim.customer_note(cid).as_deref(),
        Some("Client fidèle\nCode client EBP : CL00004")
    );
    assert_eq!(sim.calls("PATCH customers/:id"), 1);
    c.set_customer_erp_code(&customer, "CL00005").await.unwrap();
    assert_eq!(
        sim.customer_note(cid).as_deref(),
        Some("Client fidèle\nCode client EBP : CL00005")
    );

    c.set_order_document_number("1", "BC00017").await.unwrap();
    c.set_order_document_number("1", "BC00017").await.unwrap();
    assert_eq!(sim.order_note(1).as_deref(), Some("Document EBP : BC00017"));
    assert_eq!(sim.calls("PATCH orders/:id"), 1);

    // Read back: the customer carries its ERP code; the managed line is not a message.
    let q = OrderQuery {
        shops: vec!["1".into(), "2".into()],
        ..states(&["1", "2", "3", "4", "5", "6", "10"])
    };
    let page = c.orders_page(&q, None, 10).await.unwrap();
    let o = page.orders.iter().map(ok).find(|o| o.id == "1").unwrap();
    assert!(o.messages.iter().all(|m| !m.contains("Document EBP")));
    assert_eq!(o.customer.erp_code.as_deref(), Some("CL00005"));
}

#[tokio::test]
async fn stock_is_set_on_stock_availables() {
    let sim = PrestaShopSim::start_demo(0).await.unwrap();
    let c = client(&sim);
    assert_eq!(sim.stock("COUS-Lin-40"), Some(40));
    assert!(c.set_stock("COUS-Lin-40", d("17.9")).await.unwrap());
    assert_eq!(sim.stock("COUS-Lin-40"), Some(17));
    assert!(c.set_stock("COUS-Lin-40", d("17")).await.unwrap());
    assert_eq!(sim.calls("PATCH stock_availables/:id"), 1);
    assert!(!c.set_stock("ZZ-INCONNU", d("3")).await.unwrap());
    assert!(matches!(
        c.set_stock("A|B", d("3")).await,
        Err(StepError::Permanent(_))
    ));
}

#[tokio::test]
async fn a_wrong_key_is_a_permanent_error_with_prestashop_message() {
    let sim = PrestaShopSim::start_demo(3).await.unwrap();
    let c = PrestaShopClient::new(&sim.url(), "WRONGKEYWRONGKEYWRONGKEYWRONGKEY").unwrap();
    let e = c.orders_page(&states(&["2"]), None, 10).await.unwrap_err();
    assert!(
        matches!(&e, StepError::Permanent(m) if m.contains("401") && m.contains("Invalid authentication key")),
        "{e:?}"
    );
    assert!(!format!("{e:?}").contains("WRONGKEY"));
    assert!(c.test_connection().await.is_err());
    assert!(client(&sim).test_connection().await.is_ok());
}

#[tokio::test]
async fn server_errors_rate_limits_and_timeouts_are_transient() {
    let sim = PrestaShopSim::start_demo(3).await.unwrap();
    let c = client(&sim)
        .with_timeout(Duration::from_millis(300))
        .unwrap();
    let q = states(&["2"]);

    // One failed GET is retried in place (a page read is a composite of seven GETs).
    sim.push_faults([Fault::ServerError]);
    assert!(c.orders_page(&q, None, 10).await.is_ok());
    // Three in a row give up with a transient error for the engine to retry later.
    sim.push_faults([Fault::ServerError, Fault::ServerError, Fault::ServerError]);
    assert!(matches!(
        c.orders_page(&q, None, 10).await,
        Err(StepError::Transient {
            retry_after: None,
            ..
        })
    ));
    sim.push_faults([
        Fault::RateLimited(1),
        Fault::RateLimited(1),
        Fault::RateLimited(7),
    ]);
    assert!(matches!(
        c.orders_page(&q, None, 10).await,
        Err(StepError::Transient { retry_after: Some(r), .. }) if r == Duration::from_secs(7)
    ));
    sim.push_faults([
        Fault::Delay(Duration::from_secs(2)),
        Fault::Delay(Duration::from_secs(2)),
        Fault::Delay(Duration::from_secs(2)),
    ]);
    assert!(matches!(
        c.orders_page(&q, None, 10).await,
        Err(StepError::Transient { .. })
    ));
    // A write whose reads keep failing is transient too.
    sim.push_faults([Fault::ServerError, Fault::ServerError, Fault::ServerError]);
    assert!(matches!(
        c.set_stock("COUS-Lin-40", d("1")).await,
        Err(StepError::Transient { .. })
    ));
    assert!(c.orders_page(&q, None, 10).await.is_ok());

    // Seeded random faults: reproducible, and every failure is transient.
    let run = |seed| {
        let sim = &sim;
        let c = &c;
        let q = &q;
        async move {
            sim.set_faults(FaultConfig {
                server_error_share: 0.25,
                rate_limit_share: 0.25,
                retry_after_secs: 0,
                seed,
                ..FaultConfig::default()
            });
            let mut outcomes = Vec::new();
            for _ in 0..20 {
                outcomes.push(match c.orders_page(q, None, 10).await {
                    Ok(_) => "ok",
                    Err(StepError::Transient {
                        retry_after: Some(_),
                        ..
                    }) => "429",
                    Err(StepError::Transient { .. }) => "5xx",
                    Err(StepError::Permanent(m)) => panic!("permanent: {m}"),
                });
            }
            outcomes
        }
    };
    let a = run(42).await;
    let b = run(42).await;
    assert_eq!(a, b);
    assert!(
        a.contains(&"ok") && a.contains(&"429") && a.contains(&"5xx"),
        "{a:?}"
    );
}

#[tokio::test]
async fn a_corrupted_order_fails_alone_with_a_clear_reason() {
    let sim = PrestaShopSim::start_demo(12).await.unwrap();
    let c = client(&sim);
    sim.corrupt_order(3, Corruption::BrokenJson);
    sim.corrupt_order(5, Corruption::InvalidUtf8);
    sim.corrupt_order(6, Corruption::HugeField);
    sim.corrupt_order(7, Corruption::MissingDetails);
    sim.with_shop(|s| {
        s.get_mut("order_details", 1)
            .unwrap()
            .insert("total_price_tax_excl".into(), "12,50".into());
    });
    let q = OrderQuery {
        shops: vec!["1".into(), "2".into()],
        ..states(&["1", "2", "3", "4", "5", "6", "10"])
    };
    let page = c.orders_page(&q, None, 12).await.unwrap();
    assert_eq!(page.orders.len(), 12);
    let ids: Vec<&str> = page.orders.iter().map(|r| r.id()).collect();
    assert_eq!(ids, (1..=12).map(|i| i.to_string()).collect::<Vec<_>>());
    let reason = |id: &str| match page.orders.iter().find(|r| r.id() == id).unwrap() {
        ShopOrderRead::Invalid { reason, .. } => reason.clone(),
        ShopOrderRead::Ok(_) => panic!("order {id} should be invalid"),
    };
    assert!(
        reason("1").contains("nombre illisible dans « total_price_tax_excl »"),
        "{}",
        reason("1")
    );
    assert!(reason("3").contains("JSON invalide"), "{}", reason("3"));
    assert!(reason("5").contains("UTF-8 invalide"), "{}", reason("5"));
    assert!(
        reason("6").contains("« gift_message » trop long"),
        "{}",
        reason("6")
    );
    assert!(reason("7").contains("order_details"), "{}", reason("7"));
    let valid = page
        .orders
        .iter()
        .filter(|r| matches!(r, ShopOrderRead::Ok(_)))
        .count();
    assert_eq!(valid, 7);

    // A missing customer or an unknown tax fails that order only.
    sim.with_shop(|s| {
        let cid: u64 = s.get("orders", 2).unwrap()["id_customer"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        s.remove("customers", cid);
    });
    let page = c.orders_page(&q, None, 2).await.unwrap();
    match &page.orders[1] {
        ShopOrderRead::Invalid { id, reason } => {
            assert_eq!(id, "2");
            assert!(reason.contains("introuvable (customers)"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn sim_answers_like_prestashop() {
    let sim = PrestaShopSim::start_demo(3).await.unwrap();
    let http = reqwest::Client::new();
    let get = |q: &'static str| {
        http.get(format!("{}/api/orders?output_format=JSON&{q}", sim.url()))
            .basic_auth(DEMO_KEY, Some(""))
            .send()
    };
    let r = get("filter[date_add]=[2025-01-01 00:00:00,2025-12-31 23:59:59]")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("date=1"));
    let r = get("filter[current_state]=[99]").await.unwrap();
    assert_eq!(r.text().await.unwrap(), "[]");
    let r = get("").await.unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"orders":[{"id":1},{"id":2},{"id":3}]}"#
    );
    let r = http
        .get(format!("{}/api/orders", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<message><![CDATA[Authentication key is empty]]>"));
}

#[tokio::test]
async fn configuration_is_read_for_refresh_config() {
    let sim = PrestaShopSim::start_demo(10).await.unwrap();
    let cfg = client(&sim).read_configuration().await.unwrap();
    assert_eq!(cfg.order_states.len(), 12);
    assert_eq!(cfg.order_states[1].name, "Paiement accepté");
    assert_eq!(cfg.taxes.len(), 4);
    assert!(cfg.taxes.iter().any(|t| t.rate == d("5.5")));
    let cur: Vec<&str> = cfg.currencies.iter().map(|c| c.iso_code.as_str()).collect();
    assert_eq!(cur, ["EUR", "USD"]);
    assert!(cfg
        .countries
        .iter()
        .any(|c| c.iso_code == "FR" && c.name == "France"));
    assert_eq!(cfg.shops.len(), 2);
    assert_eq!(cfg.carriers.len(), 3);
    assert_eq!(
        cfg.payment_modules,
        [
            "paypal",
            "ps_checkpayment",
            "ps_wirepayment",
            "stripe_official"
        ]
    );
}

#[test]
fn shop_url_is_normalised() {
    assert_eq!(
        normalise_shop_url("https://shop.example").unwrap(),
        "https://shop.example/"
    );
    let c = PrestaShopClient::new("https://shop.example/", "K").unwrap();
    assert_eq!(c.api_url(), "https://shop.example/api/");
    assert_eq!(c.shop_url(), "https://shop.example/");
}
