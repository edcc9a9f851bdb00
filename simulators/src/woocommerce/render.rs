//! The neutral seed rendered as WooCommerce `wc/v3` JSON (orders, customers, products).
//!
//! How WooCommerce shapes an order (`cms-apis.md` §2, `WC-oas` `shop_order`): amounts as
//! decimal strings with 2 decimals; lines `subtotal` (before coupons) / `total` (after),
//! both tax-exclusive, with `subtotal_tax` / `total_tax` and `taxes[{id,total,subtotal}]`;
//! coupons spread over the lines by WooCommerce and listed in `coupon_lines`; gift wrapping
//! as a fee line (core has none); `tax_lines` with `rate_percent`; guests `customer_id` 0;
//! VAT number and SIRET in plugins' `meta_data`; `date_*` in the site time zone, `*_gmt` in
//! UTC, both without an offset suffix.

use crate::seed::{Seed, SeedCarrier, SeedOrder, SeedPaymentMethod, SeedStatus};
use chrono::{Duration, NaiveDateTime};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// WooCommerce rounds half up to the price decimals (2 by default).
fn r2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Amount as WooCommerce writes it ("12.50").
pub(super) fn money(d: Decimal) -> String {
    format!("{:.2}", r2(d))
}

/// A date as WooCommerce writes it (no offset suffix).
pub(super) fn date(d: NaiveDateTime) -> String {
    d.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The site's time zone offset of the simulated shop (Europe/Paris in winter).
pub const SITE_OFFSET_HOURS: i64 = 1;

/// First product id (ids below are orders and customers in a real shop: one id space).
pub(super) const FIRST_PRODUCT_ID: u64 = 1000;
/// First order id.
pub const FIRST_ORDER_ID: u64 = 5000;

/// WooCommerce's core status of a neutral one (core has fewer statuses).
pub fn status(s: SeedStatus) -> &'static str {
    match s {
        SeedStatus::AwaitingCheck => "on-hold",
        SeedStatus::AwaitingTransfer => "pending",
        SeedStatus::PaymentAccepted | SeedStatus::Processing => "processing",
        SeedStatus::Shipped | SeedStatus::Delivered => "completed",
        SeedStatus::Cancelled => "cancelled",
    }
}

fn payment(p: SeedPaymentMethod) -> (&'static str, &'static str) {
    match p {
        SeedPaymentMethod::Check => ("cheque", "Chèque"),
        SeedPaymentMethod::Transfer => ("bacs", "Virement bancaire"),
        SeedPaymentMethod::Paypal => ("ppcp-gateway", "PayPal"),
        SeedPaymentMethod::Card => ("stripe", "Carte bancaire"),
    }
}

/// Shipping method id, instance id and title. Two flat rates (national and international)
/// are two instances of one method, as a shop with two shipping zones configures them.
fn carrier(c: SeedCarrier) -> (&'static str, &'static str, &'static str) {
    match c {
        SeedCarrier::Pickup => ("local_pickup", "3", "Retrait en boutique"),
        SeedCarrier::Standard => ("flat_rate", "1", "Colissimo"),
        SeedCarrier::International => ("flat_rate", "2", "DHL Express international"),
    }
}

/// The tax rate id of a percentage (one rate per distinct value, as a shop configures).
fn rate_id(rate: Decimal) -> u64 {
    match rate.normalize().to_string().as_str() {
        "20" => 1,
        "10" => 2,
        "5.5" => 3,
        "2.1" => 4,
        _ => 9,
    }
}

fn rate_label(rate: Decimal) -> String {
    format!("TVA {} %", rate.normalize().to_string().replace('.', ","))
}

/// The customers of the seed, by WooCommerce id (guests have none: `None`).
pub(super) fn customers(seed: &Seed) -> (BTreeMap<u64, Value>, Vec<Option<u64>>) {
    let mut out = BTreeMap::new();
    let mut ids = Vec::new();
    let mut next = 1u64;
    for c in &seed.customers {
        if c.guest {
            ids.push(None);
            continue;
        }
        let id = next;
        next += 1;
        let billing = json!({
            "first_name": c.firstname, "last_name": c.lastname, "company": c.company,
            "address_1": c.street, "address_2": "", "city": c.city, "state": c.region,
            "postcode": c.postcode, "country": c.country, "email": c.email, "phone": c.phone,
        });
        // A shipping address has a phone (WooCommerce 5.6+, `shipping.phone` in
        // `woocommerce-openapi-3.0.x.yml`) but no e-mail.
        let shipping = json!({
            "first_name": c.firstname, "last_name": c.lastname, "company": c.company,
            "address_1": c.street, "address_2": "", "city": c.city, "state": c.region,
            "postcode": c.postcode, "country": c.country, "phone": c.phone,
        });
        out.insert(
            id,
            json!({
                "id": id, "email": c.email, "first_name": c.firstname, "last_name": c.lastname,
                "role": "customer", "username": c.email,
                "date_created": date(NaiveDateTime::default()),
                "date_created_gmt": date(NaiveDateTime::default()),
                "billing": billing, "shipping": shipping, "is_paying_customer": true,
                "meta_data": [],
            }),
        );
        ids.push(Some(id));
    }
    (out, ids)
}

/// The products of the seed, by id.
pub(super) fn products(seed: &Seed) -> BTreeMap<u64, Value> {
    seed.articles
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let id = FIRST_PRODUCT_ID + i as u64;
            (
                id,
                json!({
                    "id": id, "name": a.name, "slug": a.reference.to_lowercase(),
                    "type": "simple", "status": "publish", "sku": a.reference,
                    "price": money(a.price_excl), "regular_price": money(a.price_excl),
                    "sale_price": "", "manage_stock": true, "stock_quantity": a.stock,
                    "stock_status": if a.stock > 0 { "instock" } else { "outofstock" },
                    "parent_id": 0, "tax_class": "",
                    "date_modified_gmt": date(NaiveDateTime::default()),
                    "meta_data": [],
                }),
            )
        })
        .collect()
}

/// One order of the seed as WooCommerce serves it.
pub(super) fn order(seed: &Seed, o: &SeedOrder, id: u64, customer_id: Option<u64>) -> Value {
    let c = &seed.customers[o.customer];
    let product_ids: BTreeMap<&str, u64> = seed
        .articles
        .iter()
        .enumerate()
        .map(|(i, a)| (a.reference.as_str(), FIRST_PRODUCT_ID + i as u64))
        .collect();
    let mut lines = Vec::new();
    // Per rate: (line tax, shipping tax).
    let mut taxes: BTreeMap<u64, (Decimal, Decimal, Decimal)> = BTreeMap::new();
    let subtotals: Vec<Decimal> = o
        .lines
        .iter()
        .map(|l| {
            let unit = l.unit_price_excl * (Decimal::ONE - l.discount_percent / Decimal::from(100));
            r2(unit * Decimal::from(l.quantity))
        })
        .collect();
    let products_excl: Decimal = subtotals.iter().sum();
    let coupon_excl: Decimal = o.discounts.iter().map(|d| d.amount_excl).sum();
    let mut spread_left = coupon_excl;
    let (mut items_total, mut items_tax) = (Decimal::ZERO, Decimal::ZERO);
    for (i, (l, subtotal)) in o.lines.iter().zip(&subtotals).enumerate() {
        // WooCommerce spreads a fixed cart coupon over the lines in proportion.
        let share = if i + 1 == o.lines.len() {
            spread_left
        } else if products_excl.is_zero() {
            Decimal::ZERO
        } else {
            r2(coupon_excl * subtotal / products_excl)
        };
        spread_left -= share;
        let total = subtotal - share;
        let rate = l.vat_rate.unwrap_or_default();
        let subtotal_tax = r2(subtotal * rate / Decimal::from(100));
        let total_tax = r2(total * rate / Decimal::from(100));
        let tax_list = if l.vat_rate.is_some() {
            let id = rate_id(rate);
            let e = taxes
                .entry(id)
                .or_insert((rate, Decimal::ZERO, Decimal::ZERO));
            e.1 += total_tax;
            json!([{"id": id, "total": money(total_tax), "subtotal": money(subtotal_tax)}])
        } else {
            json!([])
        };
        items_total += total;
        items_tax += total_tax;
        let price = if l.quantity == 0 {
            Decimal::ZERO
        } else {
            total / Decimal::from(l.quantity)
        };
        lines.push(json!({
            // `product_id` is a string in the published schema (`WC-oas` line_items).
            "id": id * 100 + i as u64 + 1, "name": l.name,
            "product_id": product_ids.get(l.reference.as_str()).map(u64::to_string).unwrap_or_else(|| "0".into()),
            "variation_id": 0,
            "quantity": l.quantity, "tax_class": "", "subtotal": money(*subtotal),
            "subtotal_tax": money(subtotal_tax), "total": money(total), "total_tax": money(total_tax),
            "taxes": tax_list, "meta_data": [], "sku": l.reference,
            // `price` is a JSON number (`WC-oas`), total ÷ quantity.
            "price": price.round_dp(6).to_f64().unwrap_or(0.0),
        }));
    }
    let (method_id, instance_id, method_title) = carrier(o.carrier);
    let ship_tax = r2(o.shipping_excl * o.shipping_vat_rate / Decimal::from(100));
    let ship_taxes = if ship_tax.is_zero() {
        json!([])
    } else {
        let id = rate_id(o.shipping_vat_rate);
        let e = taxes
            .entry(id)
            .or_insert((o.shipping_vat_rate, Decimal::ZERO, Decimal::ZERO));
        e.2 += ship_tax;
        json!([{"id": id, "total": money(ship_tax)}])
    };
    let mut fees = Vec::new();
    let (mut fee_total, mut fee_tax) = (Decimal::ZERO, Decimal::ZERO);
    if let Some(g) = &o.gift {
        let tax = r2(g.amount_excl * g.vat_rate / Decimal::from(100));
        let id = rate_id(g.vat_rate);
        taxes
            .entry(id)
            .or_insert((g.vat_rate, Decimal::ZERO, Decimal::ZERO))
            .1 += tax;
        fee_total += g.amount_excl;
        fee_tax += tax;
        fees.push(json!({
            "id": id * 1000 + 1, "name": "Emballage cadeau", "tax_class": "", "tax_status": "taxable",
            "total": money(g.amount_excl), "total_tax": money(tax),
            "taxes": [{"id": id, "total": money(tax), "subtotal": ""}],
            "meta_data": [{"id": 1, "key": "gift_message", "value": g.message}],
        }));
    }
    let coupons: Vec<Value> = o
        .discounts
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({"id": i + 1, "code": d.name, "discount": money(d.amount_excl),
                   "discount_tax": money(d.amount_incl - d.amount_excl), "meta_data": []})
        })
        .collect();
    let discount_tax: Decimal = o
        .discounts
        .iter()
        .map(|d| d.amount_incl - d.amount_excl)
        .sum();
    let tax_lines: Vec<Value> = taxes
        .iter()
        .map(|(id, (rate, tax, ship))| {
            // `rate_id` is a string in `WC-oas`; `rate_percent` (WooCommerce ≥ 3.7,
            // `cms-apis.md` §2) is newer than that schema.
            json!({"id": id, "rate_code": format!("FR-TVA-{}-1", rate.normalize()), "rate_id": id.to_string(),
                   "label": rate_label(*rate), "compound": false, "tax_total": money(*tax),
                   "shipping_tax_total": money(*ship), "rate_percent": rate.normalize(),
                   "meta_data": []})
        })
        .collect();
    let total_tax = items_tax + ship_tax + fee_tax;
    let total = items_total + o.shipping_excl + fee_total + total_tax;
    let (pm, pm_title) = payment(o.payment);
    let site = |d: NaiveDateTime| date(d + Duration::hours(SITE_OFFSET_HOURS));
    let modified = o.created + Duration::minutes(30);
    let billing = json!({
        "first_name": c.firstname, "last_name": c.lastname, "company": c.company,
        "address_1": c.street, "address_2": "", "city": c.city, "state": c.region,
        "postcode": c.postcode, "country": c.country, "email": c.email, "phone": c.phone,
    });
    // No phone: the order's shipping address of `woocommerce-openapi-3.0.x.yml` has none
    // (the customer's has, above).
    let shipping = json!({
        "first_name": c.firstname, "last_name": c.lastname, "company": c.company,
        "address_1": c.street, "address_2": "", "city": c.city, "state": c.region,
        "postcode": c.postcode, "country": c.country,
    });
    let mut meta = Vec::new();
    if !c.vat_number.is_empty() {
        meta.push(json!({"id": 1, "key": "_billing_vat_number", "value": c.vat_number}));
    }
    if !c.siret.is_empty() {
        meta.push(json!({"id": 2, "key": "_billing_siret", "value": c.siret}));
    }
    let mut head = json!({
        "id": id, "parent_id": 0, "number": id.to_string(), "order_key": format!("wc_order_{id:x}"),
        // No `version`: WooCommerce writes a string ("5.9.0") where `WC-oas` says integer.
        "created_via": "checkout", "status": status(o.status),
        "currency": o.currency, "date_created": site(o.created), "date_created_gmt": date(o.created),
        "date_modified": site(modified), "date_modified_gmt": date(modified),
        "discount_total": money(coupon_excl), "discount_tax": money(discount_tax),
        "shipping_total": money(o.shipping_excl), "shipping_tax": money(ship_tax),
        "cart_tax": money(items_tax + fee_tax), "total": money(total), "total_tax": money(total_tax),
        "prices_include_tax": false, "customer_id": customer_id.unwrap_or(0),
    });
    // Two halves: one `json!` this large exceeds the macro's recursion limit.
    let rest = json!({
        "customer_ip_address": "", "customer_user_agent": "", "customer_note": o.note,
        "billing": billing, "shipping": shipping, "payment_method": pm,
        "payment_method_title": pm_title, "transaction_id": o.transaction,
        "date_paid": if o.paid { Value::from(site(o.created)) } else { Value::Null },
        "date_paid_gmt": if o.paid { Value::from(date(o.created)) } else { Value::Null },
        "date_completed": Value::Null, "date_completed_gmt": Value::Null,
        "cart_hash": "", "meta_data": meta, "line_items": lines, "tax_lines": tax_lines,
        "shipping_lines": [{"id": 1, "method_title": method_title, "method_id": method_id,
                            "instance_id": instance_id, "total": money(o.shipping_excl),
                            "total_tax": money(ship_tax), "taxes": ship_taxes, "meta_data": []}],
        "fee_lines": fees, "coupon_lines": coupons, "refunds": [],
    });
    if let (Some(a), Value::Object(b)) = (head.as_object_mut(), rest) {
        a.extend(b);
    }
    head
}
