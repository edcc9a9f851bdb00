//! The neutral seed rendered as Magento 2 REST JSON (orders, products, source items).
//!
//! How Magento shapes an order (`/work/shared/reference/cms-apis.md` §6 "Order fields",
//! `platforms.md` §5 "Money/tax", `specs/magento/admin-schema-2.4.8.yaml`
//! `sales-data-order-interface` / `sales-data-order-item-interface`):
//! * amounts are JSON **numbers** (PHP floats); plain fields are in the order currency,
//!   `base_*` in the store's base currency, `base_to_order_rate` between them;
//! * dates `created_at` / `updated_at` in UTC, `Y-m-d H:i:s`, no offset (`platforms.md` §5);
//! * a configurable product is two rows: the parent (`product_type` `configurable`, the
//!   price, the taxes, and the chosen simple's SKU) and the child (`simple`, price 0,
//!   `parent_item_id` = the parent's `item_id`) (`cms-apis.md` §6 line items);
//! * a cart rule (voucher) is applied on prices including tax: the order's
//!   `discount_amount` is negative and tax-inclusive, the tax part is
//!   `discount_tax_compensation_amount`; items carry their share;
//! * a catalog price rule (the seed's line discount) lowers `price` below
//!   `original_price`;
//! * guests: `customer_is_guest` 1 and no `customer_id`; the VAT number is
//!   `billing_address.vat_id` and `customer_taxvat`; core has no SIRET field;
//! * gift wrapping (Adobe Commerce): `extension_attributes.gw_price` /
//!   `gw_tax_amount` as **strings**, the message in `extension_attributes.gift_message`;
//! * shipping: `shipping_amount`, `shipping_tax_amount`, `shipping_incl_tax`,
//!   `shipping_description`, the method code in
//!   `extension_attributes.shipping_assignments[0].shipping.method`.

use crate::seed::{Seed, SeedArticle, SeedCarrier, SeedOrder, SeedPaymentMethod, SeedStatus};
use chrono::{Duration, NaiveDateTime};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The store's base currency.
pub const BASE_CURRENCY: &str = "EUR";

/// Rate from the base currency to USD (`base_to_order_rate` of a USD order).
pub fn usd_rate() -> Decimal {
    Decimal::new(108, 2)
}

/// First order `entity_id`.
pub const FIRST_ORDER_ID: u64 = 1;

/// Magento rounds half up to 2 decimals (`PriceCurrency::round`).
pub(super) fn r2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// An amount as Magento writes it: a JSON number (PHP float).
pub(super) fn num(d: Decimal) -> Value {
    json!(d.round_dp(4).to_f64().unwrap_or(0.0))
}

/// A date as Magento writes it (UTC, no offset).
pub(super) fn date(d: NaiveDateTime) -> String {
    d.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Magento's (state, status) of a neutral status.
pub fn state_status(s: SeedStatus) -> (&'static str, &'static str) {
    match s {
        SeedStatus::AwaitingCheck => ("new", "pending"),
        SeedStatus::AwaitingTransfer => ("pending_payment", "pending_payment"),
        SeedStatus::PaymentAccepted | SeedStatus::Processing => ("processing", "processing"),
        SeedStatus::Shipped | SeedStatus::Delivered => ("complete", "complete"),
        SeedStatus::Cancelled => ("canceled", "canceled"),
    }
}

fn payment(p: SeedPaymentMethod) -> &'static str {
    match p {
        SeedPaymentMethod::Check => "checkmo",
        SeedPaymentMethod::Transfer => "banktransfer",
        SeedPaymentMethod::Paypal => "paypal_express",
        SeedPaymentMethod::Card => "stripe_payments",
    }
}

fn carrier(c: SeedCarrier) -> (&'static str, &'static str) {
    match c {
        SeedCarrier::Pickup => ("instore_pickup", "Retrait en magasin - Boutique"),
        SeedCarrier::Standard => ("flatrate_flatrate", "Colissimo - Forfait"),
        SeedCarrier::International => ("tablerate_bestway", "DHL Express international"),
    }
}

/// The configurable parents of the demo catalogue: the rugs are two colours of one
/// configurable product (parent id, parent SKU, parent name).
pub(super) fn configurable_parent(reference: &str) -> Option<(u64, &'static str, &'static str)> {
    reference
        .starts_with("TAPI-")
        .then_some((900, "TAPI-Plat", "Tapis plat"))
}

/// First product id.
pub(super) const FIRST_PRODUCT_ID: u64 = 1;

/// The catalogue: one simple product per article (a configurable's children too) and the
/// configurable parents.
pub(super) fn products(seed: &Seed) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (i, a) in seed.articles.iter().enumerate() {
        out.insert(a.reference.clone(), product(a, FIRST_PRODUCT_ID + i as u64));
        if let Some((id, sku, name)) = configurable_parent(&a.reference) {
            out.entry(sku.to_string()).or_insert_with(|| {
                json!({"id": id, "sku": sku, "name": name, "attribute_set_id": 4,
                       "price": 0, "status": 1, "visibility": 4, "type_id": "configurable",
                       "created_at": "2024-11-04 08:00:00", "updated_at": "2024-11-04 08:00:00",
                       "extension_attributes": {}})
            });
        }
    }
    out
}

fn product(a: &SeedArticle, id: u64) -> Value {
    json!({"id": id, "sku": a.reference, "name": a.name, "attribute_set_id": 4,
           "price": num(a.price_excl), "status": 1,
           // Children of a configurable are not visible on their own (1).
           "visibility": if configurable_parent(&a.reference).is_some() { 1 } else { 4 },
           "type_id": "simple",
           "created_at": "2024-11-04 08:00:00", "updated_at": "2024-11-04 08:00:00",
           "extension_attributes": {}})
}

/// The source items (MSI, source `default`) of the catalogue.
pub(super) fn source_items(seed: &Seed) -> BTreeMap<String, Value> {
    seed.articles
        .iter()
        .map(|a| {
            (
                a.reference.clone(),
                json!({"sku": a.reference, "source_code": "default",
                       "quantity": a.stock, "status": i32::from(a.stock > 0)}),
            )
        })
        .collect()
}

/// Per-currency amount pair: (order currency, base currency).
struct Money {
    rate: Decimal,
}

impl Money {
    fn base(&self, d: Decimal) -> Decimal {
        if self.rate == Decimal::ONE {
            d
        } else {
            r2(d / self.rate)
        }
    }
}

/// One order of the seed as Magento serves it (`GET /V1/orders/{id}`).
pub(super) fn order(seed: &Seed, o: &SeedOrder, id: u64, customer_id: Option<u64>) -> Value {
    let c = &seed.customers[o.customer];
    let hundred = Decimal::from(100);
    let money = Money {
        rate: if o.currency == BASE_CURRENCY {
            Decimal::ONE
        } else {
            usd_rate()
        },
    };
    let created = date(o.created);
    let updated = date(o.created + Duration::minutes(30));
    let product_ids: BTreeMap<&str, u64> = seed
        .articles
        .iter()
        .enumerate()
        .map(|(i, a)| (a.reference.as_str(), FIRST_PRODUCT_ID + i as u64))
        .collect();
    let (state, status) = state_status(o.status);
    let invoiced = state == "complete" || (o.paid && state == "processing");
    let shipped = state == "complete";

    // Row totals after the catalog price rule (the seed's line discount).
    let rows: Vec<(Decimal, Decimal)> = o
        .lines
        .iter()
        .map(|l| {
            let price = r2(l.unit_price_excl * (Decimal::ONE - l.discount_percent / hundred));
            (price, r2(price * Decimal::from(l.quantity)))
        })
        .collect();
    let products_excl: Decimal = rows.iter().map(|r| r.1).sum();
    let voucher_excl: Decimal = o.discounts.iter().map(|d| d.amount_excl).sum();
    let voucher_incl: Decimal = o.discounts.iter().map(|d| d.amount_incl).sum();
    let mut left_excl = voucher_excl;
    let mut left_incl = voucher_incl;
    let mut items = Vec::new();
    let (mut tax_total, mut subtotal, mut subtotal_incl) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut qty_total = Decimal::ZERO;
    let mut applied: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let mut item_id = id * 100;
    for (i, (l, (price, row))) in o.lines.iter().zip(&rows).enumerate() {
        let last = i + 1 == o.lines.len();
        let (share_excl, share_incl) = if last {
            (left_excl, left_incl)
        } else if products_excl.is_zero() {
            (Decimal::ZERO, Decimal::ZERO)
        } else {
            (
                r2(voucher_excl * row / products_excl),
                r2(voucher_incl * row / products_excl),
            )
        };
        left_excl -= share_excl;
        left_incl -= share_incl;
        let rate = l.vat_rate.unwrap_or_default();
        let tax_before = r2(row * rate / hundred);
        let tax = r2((row - share_excl) * rate / hundred);
        let qty = Decimal::from(l.quantity);
        let price_incl = r2(price * (hundred + rate) / hundred);
        let row_incl = row + tax_before;
        tax_total += tax;
        subtotal += row;
        subtotal_incl += row_incl;
        qty_total += qty;
        if l.vat_rate.is_some() {
            let e = applied
                .entry(rate.normalize().to_string())
                .or_insert((rate, Decimal::ZERO));
            e.1 += tax;
        }
        item_id += 1;
        let parent = configurable_parent(&l.reference);
        let product_id = product_ids.get(l.reference.as_str()).copied().unwrap_or(0);
        let mut row_json = json!({
            "item_id": item_id, "order_id": id, "quote_item_id": item_id,
            "created_at": created, "updated_at": updated, "store_id": o.store,
            "sku": l.reference,
            "name": parent.map_or(l.name.as_str(), |p| p.2),
            "product_id": parent.map_or(product_id, |p| p.0),
            "product_type": if parent.is_some() { "configurable" } else { "simple" },
            "is_virtual": 0, "is_qty_decimal": 0, "no_discount": 0, "free_shipping": 0,
            "qty_ordered": num(qty), "qty_invoiced": num(if invoiced { qty } else { Decimal::ZERO }),
            "qty_shipped": num(if shipped { qty } else { Decimal::ZERO }),
            "qty_canceled": 0, "qty_refunded": 0,
            "price": num(*price), "base_price": num(money.base(*price)),
            "original_price": num(l.unit_price_excl), "base_original_price": num(money.base(l.unit_price_excl)),
            "price_incl_tax": num(price_incl), "base_price_incl_tax": num(money.base(price_incl)),
            "row_total": num(*row), "base_row_total": num(money.base(*row)),
            "row_total_incl_tax": num(row_incl), "base_row_total_incl_tax": num(money.base(row_incl)),
            "tax_percent": num(rate), "tax_amount": num(tax), "base_tax_amount": num(money.base(tax)),
        });
        let rest = json!({
            "discount_amount": num(share_incl), "base_discount_amount": num(money.base(share_incl)),
            "discount_percent": 0,
            "discount_tax_compensation_amount": num(share_incl - share_excl),
            "base_discount_tax_compensation_amount": num(money.base(share_incl - share_excl)),
            "weight": 1, "row_weight": num(qty),
        });
        if let (Some(a), Value::Object(b)) = (row_json.as_object_mut(), rest) {
            a.extend(b);
        }
        items.push(row_json);
        if parent.is_some() {
            // The chosen simple: its own row, no price, pointing at its parent.
            let parent_id = item_id;
            item_id += 1;
            items.push(json!({
                "item_id": item_id, "order_id": id, "quote_item_id": item_id,
                "parent_item_id": parent_id,
                "created_at": created, "updated_at": updated, "store_id": o.store,
                "sku": l.reference, "name": l.name, "product_id": product_id,
                "product_type": "simple", "is_virtual": 0, "is_qty_decimal": 0,
                "qty_ordered": num(qty), "qty_invoiced": num(if invoiced { qty } else { Decimal::ZERO }),
                "qty_shipped": num(if shipped { qty } else { Decimal::ZERO }),
                "price": 0, "base_price": 0, "original_price": 0, "price_incl_tax": 0,
                "row_total": 0, "base_row_total": 0, "row_total_incl_tax": 0,
                "tax_percent": 0, "tax_amount": 0, "discount_amount": 0, "discount_percent": 0,
                "weight": 1, "row_weight": num(qty),
            }));
        }
    }
    let (method_code, method_title) = carrier(o.carrier);
    let ship_tax = r2(o.shipping_excl * o.shipping_vat_rate / hundred);
    if !ship_tax.is_zero() {
        let e = applied
            .entry(o.shipping_vat_rate.normalize().to_string())
            .or_insert((o.shipping_vat_rate, Decimal::ZERO));
        e.1 += ship_tax;
    }
    let (gw_price, gw_tax) = match &o.gift {
        Some(g) => (g.amount_excl, r2(g.amount_excl * g.vat_rate / hundred)),
        None => (Decimal::ZERO, Decimal::ZERO),
    };
    if let Some(g) = &o.gift {
        let e = applied
            .entry(g.vat_rate.normalize().to_string())
            .or_insert((g.vat_rate, Decimal::ZERO));
        e.1 += gw_tax;
    }
    let tax_amount = tax_total + ship_tax + gw_tax;
    let grand_total = subtotal - voucher_excl + o.shipping_excl + gw_price + tax_amount;
    let paid = if o.paid { grand_total } else { Decimal::ZERO };
    let address = |kind: &str| {
        json!({
            "address_type": kind, "entity_id": id * 10 + u64::from(kind == "shipping"),
            "parent_id": id, "firstname": c.firstname, "lastname": c.lastname,
            "company": c.company, "street": [c.street], "city": c.city, "postcode": c.postcode,
            "country_id": c.country, "region_code": c.region, "region": c.region,
            "telephone": if c.phone.is_empty() { "0000000000" } else { c.phone.as_str() },
            "email": c.email, "vat_id": c.vat_number,
        })
    };
    let applied_taxes: Vec<Value> = applied
        .iter()
        .map(|(k, (rate, amount))| {
            json!({"code": format!("TVA {k} %"), "title": format!("TVA {} %", k.replace('.', ",")),
                   "percent": num(*rate), "amount": num(*amount), "base_amount": num(money.base(*amount))})
        })
        .collect();
    let mut ext = json!({
        "shipping_assignments": [{
            "shipping": {"address": address("shipping"), "method": method_code,
                         "total": {"shipping_amount": num(o.shipping_excl),
                                   "shipping_tax_amount": num(ship_tax),
                                   "shipping_incl_tax": num(o.shipping_excl + ship_tax)}},
            "items": [],
        }],
        "applied_taxes": applied_taxes,
        "payment_additional_info": [{"key": "method_title", "value": o.payment.label()}],
    });
    if let Some(g) = &o.gift {
        ext["gw_id"] = json!("1");
        ext["gw_price"] = json!(format!("{:.4}", gw_price));
        ext["gw_base_price"] = json!(format!("{:.4}", money.base(gw_price)));
        ext["gw_tax_amount"] = json!(format!("{:.4}", gw_tax));
        ext["gw_base_tax_amount"] = json!(format!("{:.4}", money.base(gw_tax)));
        ext["gift_message"] = json!({"gift_message_id": id, "sender": c.firstname,
                                     "recipient": c.firstname, "message": g.message});
    }
    let guest = c.guest;
    let mut head = json!({
        "entity_id": id, "increment_id": format!("{:09}", id), "store_id": o.store,
        "store_name": "Main Website\nMain Website Store\nDefault Store View",
        "state": state, "status": status, "created_at": created, "updated_at": updated,
        "order_currency_code": o.currency, "base_currency_code": BASE_CURRENCY,
        "global_currency_code": BASE_CURRENCY, "store_currency_code": BASE_CURRENCY,
        "base_to_order_rate": num(money.rate), "base_to_global_rate": 1,
        "store_to_order_rate": num(money.rate), "store_to_base_rate": 1,
        "customer_email": c.email, "customer_firstname": c.firstname,
        "customer_lastname": c.lastname, "customer_is_guest": i32::from(guest),
        "customer_group_id": if guest { 0 } else { 1 },
        "customer_taxvat": c.vat_number, "customer_note": o.note,
        "subtotal": num(subtotal), "base_subtotal": num(money.base(subtotal)),
        "subtotal_incl_tax": num(subtotal_incl), "base_subtotal_incl_tax": num(money.base(subtotal_incl)),
        "discount_amount": num(-voucher_incl), "base_discount_amount": num(money.base(-voucher_incl)),
    });
    let rest = json!({
        "discount_tax_compensation_amount": num(voucher_incl - voucher_excl),
        "base_discount_tax_compensation_amount": num(money.base(voucher_incl - voucher_excl)),
        "discount_description": o.discounts.first().map(|d| d.name.clone()).unwrap_or_default(),
        "shipping_amount": num(o.shipping_excl), "base_shipping_amount": num(money.base(o.shipping_excl)),
        "shipping_tax_amount": num(ship_tax), "base_shipping_tax_amount": num(money.base(ship_tax)),
        "shipping_incl_tax": num(o.shipping_excl + ship_tax),
        "base_shipping_incl_tax": num(money.base(o.shipping_excl + ship_tax)),
        "shipping_description": method_title,
        "tax_amount": num(tax_amount), "base_tax_amount": num(money.base(tax_amount)),
        "grand_total": num(grand_total), "base_grand_total": num(money.base(grand_total)),
        "total_paid": num(paid), "base_total_paid": num(money.base(paid)),
        "total_due": num(grand_total - paid), "base_total_due": num(money.base(grand_total - paid)),
        "total_invoiced": num(if invoiced { grand_total } else { Decimal::ZERO }),
        "total_qty_ordered": num(qty_total), "total_item_count": o.lines.len(),
        "is_virtual": 0, "weight": num(qty_total),
        "billing_address_id": id * 10,
        "billing_address": address("billing"),
        "payment": {"entity_id": id, "parent_id": id, "method": payment(o.payment),
                    "account_status": Value::Null, "cc_last4": Value::Null,
                    "additional_information": [o.payment.label()],
                    "last_trans_id": o.transaction,
                    "amount_ordered": num(grand_total), "amount_paid": num(paid),
                    "base_amount_paid": num(money.base(paid))},
        "items": items,
        "status_histories": [],
        "extension_attributes": ext,
    });
    if let (Some(a), Value::Object(b)) = (head.as_object_mut(), rest) {
        a.extend(b);
    }
    if !guest {
        head["customer_id"] = json!(customer_id.unwrap_or(0));
    }
    head
}
