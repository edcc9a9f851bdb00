//! Property test of issue 18: over random carts, the ERP document Passerelle builds totals,
//! **as the simulated EBP folder computes it**, exactly the amount the customer paid — or
//! the order fails with a reason. Never a silent difference.
//!
//! Each case draws a cart (1 to 30 lines, unit prices with up to 6 decimals, quantities up to
//! 999, VAT 0 / 2.1 / 5.5 / 10 / 20 %, line discounts, order discounts, shipping, gift
//! wrap), how the shop rounded its own total (per item, per line or on the total), and the
//! profile (tax-inclusive or not, 2 or 4 decimals, shipping as a line or in the footer, VAT
//! rounding per line or per rate). The document's total is computed by the simulator's own
//! code (`sim_totals`, with the folder's VAT table and the same rule), not by the builder's;
//! one case in 16 also goes through the real import file (written by the client, parsed
//! back) and must total the same.
//!
//! 10,000 cases per run (`PROPTEST_CASES` overrides it); the run prints how many orders
//! needed gap lines and how many failed with a reason.
#![allow(clippy::unwrap_used, missing_docs)]

use chrono::{NaiveDate, TimeZone, Utc};
use passerelle_adapters::ebp::files;
use passerelle_domain::orders::build::{build_document, BuildContext};
use passerelle_domain::orders::*;
use passerelle_simulators::ebp::sale_totals;
use passerelle_workflows::ports::ImportBatch;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

const RATES: [(&str, i64, u32); 5] = [
    ("EXO", 0, 0),
    ("TVA2.1", 21, 1),
    ("TVA5.5", 55, 1),
    ("TVA10", 10, 0),
    ("TVA20", 20, 0),
];

fn rate(i: usize) -> Decimal {
    Decimal::new(RATES[i].1, RATES[i].2)
}

fn cents(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// How the shop rounded its own totals (PrestaShop's `PS_ROUND_TYPE`: per item, per line,
/// on the total).
#[derive(Debug, Clone, Copy)]
enum ShopRounding {
    Item,
    Line,
    Total,
}

#[derive(Debug, Clone)]
struct Line {
    unit_micros: i64,
    quantity: i64,
    rate: usize,
    discount_percent: i64,
    item: usize,
}

#[derive(Debug, Clone)]
struct Cart {
    lines: Vec<Line>,
    shipping_cents: i64,
    shipping_rate: usize,
    wrapping: Option<i64>,
    discount_percents: Vec<i64>,
    shop_rounding: ShopRounding,
    tax_inclusive: bool,
    precision: u32,
    shipping_as_line: bool,
    rule: VatRounding,
}

fn line() -> impl Strategy<Value = Line> {
    (
        0i64..100_000_000,
        1i64..=999,
        0usize..5,
        prop_oneof![4 => Just(0i64), 1 => 1i64..=50],
        0usize..4,
    )
        .prop_map(
            |(unit_micros, quantity, rate, discount_percent, item)| Line {
                unit_micros,
                quantity,
                rate,
                discount_percent,
                item,
            },
        )
}

fn cart() -> impl Strategy<Value = Cart> {
    (
        prop::collection::vec(line(), 1..=30),
        (0i64..3_000, 0usize..5),
        prop::option::of(prop_oneof![Just(200i64), Just(400), Just(500), Just(1000)]),
        prop::collection::vec(1i64..=30, 0..=2),
        prop_oneof![
            Just(ShopRounding::Item),
            Just(ShopRounding::Line),
            Just(ShopRounding::Total)
        ],
        (
            any::<bool>(),
            prop_oneof![Just(2u32), Just(4)],
            any::<bool>(),
        ),
        prop_oneof![Just(VatRounding::PerLine), Just(VatRounding::PerRate)],
    )
        .prop_map(
            |(
                lines,
                (shipping_cents, shipping_rate),
                wrapping,
                discount_percents,
                shop_rounding,
                (tax_inclusive, precision, shipping_as_line),
                rule,
            )| Cart {
                lines,
                shipping_cents,
                shipping_rate,
                wrapping,
                discount_percents,
                shop_rounding,
                tax_inclusive,
                precision,
                shipping_as_line,
                rule,
            },
        )
}

fn address() -> Address {
    Address {
        firstname: "Jeanne".into(),
        lastname: "Martin".into(),
        company: None,
        address1: "1 rue de la Paix".into(),
        address2: None,
        postcode: "75002".into(),
        city: "Paris".into(),
        country_iso: "FR".into(),
        state: None,
        phone: None,
    }
}

/// The shop order of a cart, with the totals the shop computed under its rounding.
fn shop_order(c: &Cart) -> ShopOrder {
    let hundred = Decimal::ONE_HUNDRED;
    let mut products_excl = Decimal::ZERO;
    let mut products_incl_raw = Decimal::ZERO;
    let mut products_incl = Decimal::ZERO;
    let lines: Vec<OrderLine> = c
        .lines
        .iter()
        .map(|l| {
            let r = rate(l.rate);
            let unit_excl = Decimal::new(l.unit_micros, 6);
            let unit_incl = (unit_excl * (Decimal::ONE + r / hundred)).round_dp(6);
            let q = Decimal::from(l.quantity);
            let keep = Decimal::ONE - Decimal::from(l.discount_percent) / hundred;
            let total_excl = (unit_excl * q * keep).round_dp(6);
            let total_incl = match c.shop_rounding {
                ShopRounding::Item => cents(cents(unit_incl * keep) * q),
                ShopRounding::Line => cents(unit_incl * q * keep),
                ShopRounding::Total => (unit_incl * q * keep).round_dp(6),
            };
            products_excl += total_excl;
            products_incl_raw += unit_incl * q * keep;
            products_incl += total_incl;
            OrderLine {
                reference: format!("A{}", l.item),
                name: format!("Article {}", l.item),
                quantity: q,
                unit_price_tax_excl: unit_excl,
                unit_price_tax_incl: unit_incl,
                discount_percent: Decimal::from(l.discount_percent),
                discount_amount_tax_excl: Decimal::ZERO,
                total_tax_excl: total_excl,
                total_tax_incl: total_incl,
                tax_name: String::new(),
                tax_rate: r,
                lot: None,
            }
        })
        .collect();
    if matches!(c.shop_rounding, ShopRounding::Total) {
        products_incl = cents(products_incl_raw);
    }
    let shipping_rate = rate(c.shipping_rate);
    let shipping_excl = Decimal::new(c.shipping_cents, 2);
    let shipping_incl = cents(shipping_excl * (Decimal::ONE + shipping_rate / hundred));
    // Gift wrap taxed at the first line's rate (the builder infers the rate from its amounts).
    let wrap_rate = rate(c.lines[0].rate);
    let wrapping = c.wrapping.map(|w| {
        let excl = Decimal::new(w, 2);
        Wrapping {
            amount_tax_excl: excl,
            amount_tax_incl: cents(excl * (Decimal::ONE + wrap_rate / hundred)),
            message: None,
        }
    });
    // Order discounts: a share of the products, taxed at the first line's rate by the shop.
    let discounts: Vec<OrderDiscount> = c
        .discount_percents
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let excl = cents(products_excl * Decimal::from(*p) / hundred);
            OrderDiscount {
                name: format!("Bon {i}"),
                amount_tax_excl: excl,
                amount_tax_incl: cents(excl * (Decimal::ONE + wrap_rate / hundred)),
            }
        })
        .collect();
    let discounts_incl: Decimal = discounts.iter().map(|d| d.amount_tax_incl).sum();
    let discounts_excl: Decimal = discounts.iter().map(|d| d.amount_tax_excl).sum();
    let wrap_incl = wrapping
        .as_ref()
        .map_or(Decimal::ZERO, |w| w.amount_tax_incl);
    let wrap_excl = wrapping
        .as_ref()
        .map_or(Decimal::ZERO, |w| w.amount_tax_excl);
    let paid_incl =
        (cents(products_incl) + shipping_incl + wrap_incl - discounts_incl).max(Decimal::ZERO);
    let created = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
    ShopOrder {
        id: "1001".into(),
        reference: "REFPROP".into(),
        shop_id: "1".into(),
        state_id: "2".into(),
        created_at: created,
        updated_at: created,
        invoice_date: None,
        invoice_number: None,
        currency: "EUR".into(),
        conversion_rate: Decimal::ONE,
        customer: ShopCustomer {
            id: "7".into(),
            email: "jeanne@example.fr".into(),
            firstname: "Jeanne".into(),
            lastname: "Martin".into(),
            company: None,
            siret: None,
            vat_number: None,
            is_guest: false,
            erp_code: None,
        },
        billing: address(),
        delivery: address(),
        lines,
        discounts,
        shipping: Shipping {
            carrier_id: "1".into(),
            carrier_name: "Colissimo".into(),
            amount_tax_excl: shipping_excl,
            amount_tax_incl: shipping_incl,
            tax_rate: shipping_rate,
        },
        wrapping,
        payment_module: "ps_checkpayment".into(),
        payment_label: "Chèque".into(),
        payments: vec![],
        totals: OrderTotals {
            products_tax_excl: products_excl,
            products_tax_incl: products_incl,
            paid_tax_excl: (products_excl + shipping_excl + wrap_excl - discounts_excl)
                .max(Decimal::ZERO),
            paid_tax_incl: paid_incl,
        },
        messages: vec![],
    }
}

/// The demo profile's document rules (its tax mapping matches the simulated folder's `Vat`
/// table), with the cart's switches.
fn settings(c: &Cart) -> OrderSettings {
    let taxes: Vec<serde_json::Value> = RATES
        .iter()
        .enumerate()
        .map(|(i, (code, ..))| serde_json::json!({"rate": rate(i).to_string(), "vat_code": code}))
        .collect();
    let discount_by_vat: BTreeMap<&str, String> = RATES
        .iter()
        .map(|(code, ..)| (*code, format!("REMISE-{code}")))
        .collect();
    let mut s: OrderSettings = serde_json::from_value(serde_json::json!({
        "statuses": [{"state_id": "2", "document": "order"}],
        "countries": {"default_with_tax": "FRANCE", "default_without_tax": "EXPORT"},
        "taxes": taxes,
        "payments": [],
        "special": {"misc": "DIVERS", "gap": "ECART", "gift_wrap": "EMBALLAGE",
                    "shipping": "PORT", "discount_by_vat": discount_by_vat},
        "customers": {"numbering": {"mode": "per-customer", "prefix": "WEB", "length": 8}},
    }))
    .unwrap();
    s.tax_inclusive = c.tax_inclusive;
    s.precision = c.precision;
    s.shipping_as_line = c.shipping_as_line;
    s.vat_rounding = c.rule;
    s
}

/// The folder's VAT table as the simulator reads it.
fn folder_rates() -> BTreeMap<String, Decimal> {
    RATES
        .iter()
        .enumerate()
        .map(|(i, (code, ..))| (code.to_string(), rate(i)))
        .collect()
}

#[derive(Default)]
struct Tally {
    seen: AtomicU32,
    through_file: AtomicU32,
    exact_without_gap: AtomicU32,
    exact_with_gap: AtomicU32,
    failed_with_reason: AtomicU32,
}

fn check(c: &Cart, tally: &Tally) -> Result<(), TestCaseError> {
    let order = shop_order(c);
    let s = settings(c);
    let items: BTreeMap<String, ErpItem> = (0..4)
        .map(|i| format!("A{i}"))
        .chain(
            ["DIVERS", "ECART", "EMBALLAGE", "PORT"]
                .iter()
                .map(|x| x.to_string()),
        )
        .chain(RATES.iter().map(|(code, ..)| format!("REMISE-{code}")))
        .map(|id| {
            (
                id.clone(),
                ErpItem {
                    caption: id.clone(),
                    id,
                },
            )
        })
        .collect();
    let customer = CustomerResolution::Existing {
        code: "WEB00000007".into(),
        found_by: "email".into(),
        update: None,
    };
    let cx = BuildContext {
        settings: &s,
        status: &s.statuses[0],
        customer: &customer,
        items: &items,
        today: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
    };
    let paid = cents(order.totals.paid_tax_incl);
    let doc = match build_document(&order, &cx) {
        Ok(doc) => doc,
        Err(e) => {
            // Allowed, but only for a total that cannot be closed, and with the reason.
            prop_assert!(
                e.0.contains("écart") || e.0.contains("total du document"),
                "unexpected refusal: {}",
                e.0
            );
            tally.failed_with_reason.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
    };
    let totals = sale_totals(&doc, &folder_rates(), c.rule).unwrap();
    prop_assert_eq!(
        totals.amount_vat_included,
        paid,
        "ERP total differs from the amount paid; lines {:?}",
        doc.lines
    );
    // One case in 16 also goes through the real import file (written by the client, parsed
    // back as the simulated folder reads it): the file must carry every amount unchanged.
    // Not every case: the file round trip costs ten times the rest in a debug build.
    if tally.seen.fetch_add(1, Ordering::Relaxed) % 16 == 0 {
        let written = files::write_batch(&ImportBatch {
            customers: vec![],
            documents: vec![doc.clone()],
            only_files: None,
        });
        let file = written.iter().find(|f| f.name == "Orders.txt").unwrap();
        let table = files::parse_bytes(&file.bytes).unwrap();
        let parsed = files::read_documents(DocumentKind::Order, &table);
        prop_assert_eq!(parsed.len(), 1);
        let imported = parsed[0].document.clone().unwrap();
        let from_file = sale_totals(&imported, &folder_rates(), c.rule).unwrap();
        prop_assert_eq!(from_file, totals);
        tally.through_file.fetch_add(1, Ordering::Relaxed);
    }
    if doc.lines.iter().any(|l| l.kind == LineKind::Gap) {
        tally.exact_with_gap.fetch_add(1, Ordering::Relaxed);
    } else {
        tally.exact_without_gap.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

#[test]
fn erp_total_equals_the_amount_paid_or_the_order_fails_with_a_reason() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let tally = Tally::default();
    let started = std::time::Instant::now();
    let result = runner.run(&cart(), |c| check(&c, &tally));
    let (plain, gap, failed, file) = (
        tally.exact_without_gap.load(Ordering::Relaxed),
        tally.exact_with_gap.load(Ordering::Relaxed),
        tally.failed_with_reason.load(Ordering::Relaxed),
        tally.through_file.load(Ordering::Relaxed),
    );
    println!(
        "{cases} carts in {:.2} s: {plain} exact without gap line, {gap} exact with gap line(s), {failed} failed with a reason; {file} also through the import file",
        started.elapsed().as_secs_f64()
    );
    result.unwrap();
    assert_eq!(plain + gap + failed, cases);
    // The cases must exercise the gap line: a run where no cart needed one proves nothing.
    assert!(gap > 0 && plain > 0, "{plain} / {gap}");
    assert!(file > 0);
}
