//! The neutral seed rendered in BigCommerce's shapes: v2 orders with their sub-resources
//! (products, shipping addresses, taxes), v2 order statuses, catalogue stock by SKU.
//!
//! Shapes (`/work/shared/reference/specs/bigcommerce/orders.v2.oas2.yml`: `order_Resp`,
//! `orderProducts`, `orderShippingAddress`, `orderTaxes_Base`; `platforms.md` §4):
//! * every amount is a string with **4 decimals** (`"361.9500"`);
//! * dates are RFC-2822 (`"Wed, 10 Jan 2018 21:05:30 +0000"`);
//! * the order carries `subtotal_*`, `shipping_cost_*`, `wrapping_cost_*`, `total_*`,
//!   `coupon_discount`, `is_tax_inclusive_pricing`, `currency_code` (display currency),
//!   `default_currency_code` (transactional), `store_default_currency_code` and
//!   `store_default_to_transactional_exchange_rate`, `currency_exchange_rate` ("always 1
//!   for orders created using the V2 endpoints"), `billing_address` with `form_fields`;
//! * lines (`/orders/{id}/products`) carry `price_ex_tax`/`price_inc_tax`/`price_tax`,
//!   `total_ex_tax`/`total_inc_tax`/`total_tax` before order discounts, the coupon's share
//!   in `applied_discounts[{id, amount, name, code, target:"order"}]`, gift wrapping per
//!   line (`wrapping_name`, `wrapping_cost_*`, `wrapping_message`), `order_address_id`;
//! * taxes (`/orders/{id}/taxes`) one row per taxed line, shipping and wrapping, with
//!   `rate`, `line_amount`, `order_product_id` and `line_item_type`;
//! * core has no VAT number nor SIRET field: they travel as billing `form_fields`
//!   (`cms-apis.md` §4, "Use customer attributes or form fields").

use crate::seed::{Seed, SeedCarrier, SeedOrder, SeedPaymentMethod, SeedStatus};
use chrono::{NaiveDateTime, TimeZone, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};

/// First order id of the demo store.
pub const FIRST_ORDER_ID: u64 = 100;

/// The store's default currency.
pub(super) const STORE_CURRENCY: &str = "EUR";

/// The rate rendered for an order in US dollars (store default EUR → USD).
pub(super) const USD_RATE: &str = "1.0850000000";

/// Half-up to cents, as the store computes taxes.
pub(super) fn r2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// An amount as BigCommerce writes it: a string with 4 decimals.
pub fn money(d: Decimal) -> String {
    format!(
        "{:.4}",
        d.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
    )
}

/// A date as the v2 API writes it (RFC-2822, UTC).
pub fn rfc2822(d: NaiveDateTime) -> String {
    Utc.from_utc_datetime(&d)
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// The BigCommerce status id and name of a neutral status
/// (`orders.v2.oas2.yml`, "Order Status Descriptions").
pub fn status(s: SeedStatus) -> (u64, &'static str) {
    match s {
        SeedStatus::AwaitingCheck => (7, "Awaiting Payment"),
        SeedStatus::AwaitingTransfer => (1, "Pending"),
        SeedStatus::PaymentAccepted => (11, "Awaiting Fulfillment"),
        SeedStatus::Processing => (9, "Awaiting Shipment"),
        SeedStatus::Shipped => (2, "Shipped"),
        SeedStatus::Delivered => (10, "Completed"),
        SeedStatus::Cancelled => (5, "Cancelled"),
    }
}

/// Every status of the platform (`GET /v2/order_statuses`).
pub const STATUSES: &[(u64, &str)] = &[
    (0, "Incomplete"),
    (1, "Pending"),
    (2, "Shipped"),
    (3, "Partially Shipped"),
    (4, "Refunded"),
    (5, "Cancelled"),
    (6, "Declined"),
    (7, "Awaiting Payment"),
    (8, "Awaiting Pickup"),
    (9, "Awaiting Shipment"),
    (10, "Completed"),
    (11, "Awaiting Fulfillment"),
    (12, "Manual Verification Required"),
    (13, "Disputed"),
    (14, "Partially Refunded"),
];

fn payment(p: SeedPaymentMethod) -> &'static str {
    match p {
        SeedPaymentMethod::Check => "Cheque",
        SeedPaymentMethod::Transfer => "Bank Deposit",
        SeedPaymentMethod::Paypal => "PayPal",
        SeedPaymentMethod::Card => "Stripe",
    }
}

fn carrier(c: SeedCarrier) -> (&'static str, &'static str) {
    match c {
        SeedCarrier::Pickup => ("Pickup In Store", "France"),
        SeedCarrier::Standard => ("Colissimo", "France"),
        SeedCarrier::International => ("DHL Express", "International"),
    }
}

fn tax_name(rate: Decimal) -> String {
    format!("TVA {} %", rate.normalize().to_string().replace('.', ","))
}

/// One order of the seed: the order object, its lines, its shipping addresses and its
/// tax rows.
#[derive(Debug, Clone)]
pub(super) struct Rendered {
    /// `GET /v2/orders/{id}`.
    pub order: Value,
    /// `GET /v2/orders/{id}/products`.
    pub products: Vec<Value>,
    /// `GET /v2/orders/{id}/shipping_addresses`.
    pub addresses: Vec<Value>,
    /// `GET /v2/orders/{id}/taxes`.
    pub taxes: Vec<Value>,
}

/// The customer ids of the seed's customers (guests: 0).
pub(super) fn customer_ids(seed: &Seed) -> Vec<u64> {
    let mut next = 1u64;
    seed.customers
        .iter()
        .map(|c| {
            if c.guest {
                0
            } else {
                next += 1;
                next - 1
            }
        })
        .collect()
}

/// One order of the seed as BigCommerce serves it.
pub(super) fn order(seed: &Seed, o: &SeedOrder, id: u64, customer_id: u64) -> Rendered {
    let c = &seed.customers[o.customer];
    let address_id = id * 10 + 1;
    let hundred = Decimal::from(100);
    let units: Vec<Decimal> = o
        .lines
        .iter()
        .map(|l| r2(l.unit_price_excl * (Decimal::ONE - l.discount_percent / hundred)))
        .collect();
    let totals: Vec<Decimal> = o
        .lines
        .iter()
        .zip(&units)
        .map(|(l, u)| u * Decimal::from(l.quantity))
        .collect();
    let subtotal_ex: Decimal = totals.iter().sum();
    let coupon: Decimal = o.discounts.iter().map(|d| d.amount_excl).sum();
    let mut spread_left = coupon;
    let mut products = Vec::new();
    let mut taxes = Vec::new();
    let (mut subtotal_tax, mut order_tax) = (Decimal::ZERO, Decimal::ZERO);
    let mut tax_id = id * 100;
    for (i, ((l, unit), total)) in o.lines.iter().zip(&units).zip(&totals).enumerate() {
        let opid = id * 100 + i as u64 + 1;
        let rate = l.vat_rate.unwrap_or_default();
        let unit_tax = r2(unit * rate / hundred);
        let line_tax = r2(total * rate / hundred);
        // The coupon spread over the lines in proportion (last line takes the rest).
        let share = if i + 1 == o.lines.len() {
            spread_left
        } else if subtotal_ex.is_zero() {
            Decimal::ZERO
        } else {
            r2(coupon * total / subtotal_ex)
        };
        spread_left -= share;
        let taxed_after = r2((total - share) * rate / hundred);
        subtotal_tax += line_tax;
        order_tax += taxed_after;
        let applied: Vec<Value> = if share.is_zero() {
            Vec::new()
        } else {
            o.discounts
                .iter()
                .take(1)
                .map(|d| {
                    json!({"id": "coupon", "amount": money(share), "name": d.name,
                           "code": d.name.to_lowercase().replace(' ', "-"), "target": "order"})
                })
                .collect()
        };
        let (wrap_name, wrap_ex, wrap_inc, wrap_tax, wrap_msg) = match (&o.gift, i) {
            (Some(g), 0) => {
                let t = r2(g.amount_excl * g.vat_rate / hundred);
                (
                    "Emballage cadeau",
                    g.amount_excl,
                    g.amount_excl + t,
                    t,
                    g.message.as_str(),
                )
            }
            _ => ("", Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, ""),
        };
        let product_id = seed
            .articles
            .iter()
            .position(|a| a.reference == l.reference)
            .map_or(0, |p| 1000 + p as u64);
        products.push(json!({
            "id": opid, "order_id": id, "product_id": product_id, "variant_id": product_id,
            "order_address_id": address_id, "name": l.name, "name_customer": l.name,
            "name_merchant": l.name, "sku": l.reference, "upc": "", "type": "physical",
            "base_price": money(l.unit_price_excl), "price_ex_tax": money(*unit),
            "price_inc_tax": money(unit + unit_tax), "price_tax": money(unit_tax),
            "base_total": money(*total), "total_ex_tax": money(*total),
            "total_inc_tax": money(total + line_tax), "total_tax": money(line_tax),
            "quantity": l.quantity, "is_refunded": false, "quantity_refunded": 0,
            "refund_amount": money(Decimal::ZERO), "return_id": 0,
            "wrapping_id": if wrap_name.is_empty() { 0 } else { 1 }, "wrapping_name": wrap_name,
            "base_wrapping_cost": money(wrap_ex), "wrapping_cost_ex_tax": money(wrap_ex),
            "wrapping_cost_inc_tax": money(wrap_inc), "wrapping_cost_tax": money(wrap_tax),
            "wrapping_message": wrap_msg, "quantity_shipped": 0,
            "applied_discounts": applied, "product_options": [], "configurable_fields": [],
            "parent_order_product_id": Value::Null, "is_bundled_product": false,
            "discounted_total_inc_tax": money(total - share + taxed_after),
        }));
        if l.vat_rate.is_some() {
            tax_id += 1;
            taxes.push(json!({
                "id": tax_id, "order_id": id, "order_address_id": address_id,
                "tax_rate_id": 1, "tax_class_id": 0, "name": tax_name(rate),
                "class": "Default Tax Class", "rate": money(rate), "priority": 0,
                "priority_amount": money(taxed_after), "line_amount": money(taxed_after),
                "order_product_id": opid.to_string(), "line_item_type": "item",
            }));
        }
    }
    let ship_tax = r2(o.shipping_excl * o.shipping_vat_rate / hundred);
    if !o.shipping_vat_rate.is_zero() {
        tax_id += 1;
        taxes.push(json!({
            "id": tax_id, "order_id": id, "order_address_id": address_id, "tax_rate_id": 1,
            "tax_class_id": 2, "name": tax_name(o.shipping_vat_rate), "class": "Shipping",
            "rate": money(o.shipping_vat_rate), "priority": 0,
            "priority_amount": money(ship_tax), "line_amount": money(ship_tax),
            "order_product_id": "", "line_item_type": "shipping",
        }));
    }
    let (wrap_ex, wrap_tax) = match &o.gift {
        Some(g) => {
            let t = r2(g.amount_excl * g.vat_rate / hundred);
            tax_id += 1;
            taxes.push(json!({
                "id": tax_id, "order_id": id, "order_address_id": address_id, "tax_rate_id": 1,
                "tax_class_id": 3, "name": tax_name(g.vat_rate), "class": "Gift Wrapping",
                "rate": money(g.vat_rate), "priority": 0, "priority_amount": money(t),
                "line_amount": money(t), "order_product_id": "", "line_item_type": "gift_wrapping",
            }));
            (g.amount_excl, t)
        }
        None => (Decimal::ZERO, Decimal::ZERO),
    };
    let total_tax = order_tax + ship_tax + wrap_tax;
    let total_ex = subtotal_ex - coupon + o.shipping_excl + wrap_ex;
    let (method, zone) = carrier(o.carrier);
    let addresses = vec![json!({
        "id": address_id, "order_id": id, "first_name": c.firstname, "last_name": c.lastname,
        "company": c.company, "street_1": c.street, "street_2": "", "city": c.city,
        "state": c.region, "zip": c.postcode, "country": country_name(&c.country),
        "country_iso2": c.country, "phone": c.phone, "email": c.email,
        "items_total": o.lines.iter().map(|l| l.quantity).sum::<i64>(), "items_shipped": 0,
        "shipping_method": method, "base_cost": money(o.shipping_excl),
        "cost_ex_tax": money(o.shipping_excl), "cost_inc_tax": money(o.shipping_excl + ship_tax),
        "cost_tax": money(ship_tax), "cost_tax_class_id": 2,
        "base_handling_cost": money(Decimal::ZERO), "handling_cost_ex_tax": money(Decimal::ZERO),
        "handling_cost_inc_tax": money(Decimal::ZERO), "handling_cost_tax": money(Decimal::ZERO),
        "handling_cost_tax_class_id": 2, "shipping_zone_id": 1, "shipping_zone_name": zone,
        "shipping_quotes": {"url": format!("/v2/orders/{id}/shipping_addresses/{address_id}/shipping_quotes"),
                            "resource": format!("/orders/{id}/shipping_addresses/{address_id}/shipping_quotes")},
        "form_fields": [],
    })];
    let mut form_fields = Vec::new();
    if !c.vat_number.is_empty() {
        form_fields.push(json!({"name": "Numéro de TVA", "value": c.vat_number}));
    }
    if !c.siret.is_empty() {
        form_fields.push(json!({"name": "SIRET", "value": c.siret}));
    }
    let (st, st_name) = status(o.status);
    let modified = o.created + chrono::Duration::minutes(30);
    let foreign = o.currency != STORE_CURRENCY;
    let resource = |r: &str| json!({"url": format!("/v2/orders/{id}/{r}"), "resource": format!("/orders/{id}/{r}")});
    let mut head = json!({
        "id": id, "customer_id": customer_id, "date_created": rfc2822(o.created),
        "date_modified": rfc2822(modified), "date_shipped": "", "status_id": st,
        "status": st_name, "custom_status": st_name,
        "subtotal_ex_tax": money(subtotal_ex), "subtotal_inc_tax": money(subtotal_ex + subtotal_tax),
        "subtotal_tax": money(subtotal_tax), "base_shipping_cost": money(o.shipping_excl),
        "shipping_cost_ex_tax": money(o.shipping_excl),
        "shipping_cost_inc_tax": money(o.shipping_excl + ship_tax),
        "shipping_cost_tax": money(ship_tax), "shipping_cost_tax_class_id": 2,
        "base_handling_cost": money(Decimal::ZERO), "handling_cost_ex_tax": money(Decimal::ZERO),
        "handling_cost_inc_tax": money(Decimal::ZERO), "handling_cost_tax": money(Decimal::ZERO),
        "handling_cost_tax_class_id": 2, "base_wrapping_cost": money(wrap_ex),
        "wrapping_cost_ex_tax": money(wrap_ex), "wrapping_cost_inc_tax": money(wrap_ex + wrap_tax),
        "wrapping_cost_tax": money(wrap_tax), "wrapping_cost_tax_class_id": 3,
        "total_ex_tax": money(total_ex), "total_inc_tax": money(total_ex + total_tax),
        "total_tax": money(total_tax), "is_tax_inclusive_pricing": false,
        "items_total": o.lines.iter().map(|l| l.quantity).sum::<i64>(), "items_shipped": 0,
    });
    let rest = json!({
        "payment_method": payment(o.payment), "payment_provider_id": o.transaction,
        "payment_status": if o.paid { "captured" } else { "" },
        "refunded_amount": money(Decimal::ZERO), "order_is_digital": false,
        "store_credit_amount": money(Decimal::ZERO), "gift_certificate_amount": money(Decimal::ZERO),
        "ip_address": "", "ip_address_v6": "", "geoip_country": country_name(&c.country),
        "geoip_country_iso2": c.country, "currency_id": if foreign { 2 } else { 1 },
        "currency_code": o.currency, "currency_exchange_rate": "1.0000000000",
        "default_currency_id": if foreign { 2 } else { 1 }, "default_currency_code": o.currency,
        "store_default_currency_code": STORE_CURRENCY,
        "store_default_to_transactional_exchange_rate": if foreign { USD_RATE } else { "1.0000000000" },
        "staff_notes": "", "customer_message": o.note, "discount_amount": money(Decimal::ZERO),
        "coupon_discount": money(coupon), "shipping_address_count": 1, "is_deleted": false,
        "ebay_order_id": "0", "cart_id": format!("cart-{id}"),
        "billing_address": {
            "first_name": c.firstname, "last_name": c.lastname, "company": c.company,
            "street_1": c.street, "street_2": "", "city": c.city, "state": c.region,
            "zip": c.postcode, "country": country_name(&c.country), "country_iso2": c.country,
            "phone": c.phone, "email": c.email, "form_fields": form_fields,
        },
        "is_email_opt_in": false, "credit_card_type": Value::Null, "order_source": "www",
        "channel_id": 1, "external_source": Value::Null, "external_id": Value::Null,
        "external_merchant_id": Value::Null, "tax_provider_id": "BasicTaxProvider",
        "customer_locale": "fr", "external_order_id": "",
        "products": resource("products"), "shipping_addresses": resource("shipping_addresses"),
        "coupons": resource("coupons"),
    });
    if let (Some(a), Value::Object(b)) = (head.as_object_mut(), rest) {
        a.extend(b);
    }
    Rendered {
        order: head,
        products,
        addresses,
        taxes,
    }
}

/// The English country name the v2 API writes next to `country_iso2`.
fn country_name(iso: &str) -> &'static str {
    match iso {
        "FR" => "France",
        "BE" => "Belgium",
        "DE" => "Germany",
        "US" => "United States",
        "IT" => "Italy",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_four_decimals_and_dates_are_rfc2822() {
        assert_eq!(money(Decimal::new(36195, 2)), "361.9500");
        let d = chrono::NaiveDate::from_ymd_opt(2018, 1, 10)
            .and_then(|d| d.and_hms_opt(21, 5, 30))
            .unwrap_or_default();
        assert_eq!(rfc2822(d), "Wed, 10 Jan 2018 21:05:30 +0000");
    }
}
