//! The neutral seed in Shopify's shapes: orders with `MoneyBag` amounts (shop money in the
//! shop's currency, presentment money in the buyer's), tax lines, the shipping line, cart
//! discounts by code, transactions, and one variant (SKU, inventory item) per article.
//!
//! Conventions a Shopify shop has no native field for, written the way merchants' checkout
//! apps do: the gift wrap is a line item with SKU [`GIFT_WRAP_SKU`] and its message the
//! order attribute `gift_message`; a company's SIRET and VAT number are the order
//! attributes `siret` and `vat_number`. The seed's "cut answer" order becomes a custom line
//! item without SKU (Shopify has those; the client must refuse that order alone).

use crate::seed::{Seed, SeedBreakage, SeedCarrier, SeedOrder, SeedPaymentMethod, SeedStatus};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};

/// SKU of the gift-wrap line item.
pub const GIFT_WRAP_SKU: &str = "GIFT-WRAP";
/// The shop's currency.
pub const SHOP_CURRENCY: &str = "EUR";
/// Presentment currency units per shop currency unit, for the foreign-currency orders.
pub const USD_PER_EUR: Decimal = Decimal::from_parts(10850, 0, 0, false, 4);

fn r2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn s(d: Decimal) -> String {
    r2(d).to_string()
}

/// An amount in both currencies, as Shopify's `MoneyBag`.
pub(crate) fn bag(presentment: Decimal, currency: &str) -> Value {
    let shop = if currency == SHOP_CURRENCY {
        presentment
    } else {
        presentment / USD_PER_EUR
    };
    json!({
        "shopMoney": {"amount": s(shop), "currencyCode": SHOP_CURRENCY},
        "presentmentMoney": {"amount": s(presentment), "currencyCode": currency},
    })
}

fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

fn stamp(t: chrono::NaiveDateTime) -> String {
    t.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn tax_line(rate: Decimal, amount: Decimal, currency: &str) -> Value {
    json!({
        "title": format!("TVA {}%", rate.normalize()),
        "rate": (rate / Decimal::from(100)).normalize().to_string().parse::<f64>().unwrap_or(0.0),
        "ratePercentage": rate.normalize().to_string().parse::<f64>().unwrap_or(0.0),
        "priceSet": bag(amount, currency),
    })
}

fn address(c: &crate::seed::SeedCustomer) -> Value {
    json!({
        "firstName": c.firstname, "lastName": c.lastname,
        "company": if c.company.is_empty() { Value::Null } else { json!(c.company) },
        "address1": c.street, "address2": Value::Null, "zip": c.postcode, "city": c.city,
        "countryCodeV2": c.country,
        "provinceCode": if c.region.is_empty() { Value::Null } else { json!(c.region) },
        "phone": if c.phone.is_empty() { Value::Null } else { json!(c.phone) },
    })
}

/// The order `n` (1-based) of the seed, as the full Shopify `Order` object.
pub(crate) fn order(seed: &Seed, n: u64, o: &SeedOrder) -> Value {
    let cur = o.currency.as_str();
    let c = &seed.customers[o.customer];
    let hundred = Decimal::from(100);
    let mut lines = Vec::new();
    let (mut products, mut tax) = (Decimal::ZERO, Decimal::ZERO);
    for (k, l) in o.lines.iter().enumerate() {
        let unit = l.unit_price_excl;
        let discounted = r2(unit * (hundred - l.discount_percent) / hundred);
        let q = Decimal::from(l.quantity);
        let total = discounted * q;
        let rate = l.vat_rate.unwrap_or_default();
        let line_tax = r2(total * rate / hundred);
        products += total;
        tax += line_tax;
        let sku = if o.broken == Some(SeedBreakage::CutAnswer) {
            Value::Null
        } else {
            json!(l.reference)
        };
        lines.push(json!({
            "id": gid("LineItem", n * 100 + k as u64),
            "sku": sku, "name": l.name, "quantity": l.quantity, "currentQuantity": l.quantity,
            "originalUnitPriceSet": bag(unit, cur),
            "discountedUnitPriceSet": bag(discounted, cur),
            "taxLines": if l.vat_rate.is_some() { json!([tax_line(rate, line_tax, cur)]) } else { json!([]) },
        }));
    }
    let mut attributes = Vec::new();
    if let Some(g) = &o.gift {
        let gift_tax = r2(g.amount_excl * g.vat_rate / hundred);
        tax += gift_tax;
        products += g.amount_excl;
        lines.push(json!({
            "id": gid("LineItem", n * 100 + 99),
            "sku": GIFT_WRAP_SKU, "name": "Emballage cadeau", "quantity": 1, "currentQuantity": 1,
            "originalUnitPriceSet": bag(g.amount_excl, cur),
            "discountedUnitPriceSet": bag(g.amount_excl, cur),
            "taxLines": [tax_line(g.vat_rate, gift_tax, cur)],
        }));
        if !g.message.is_empty() {
            attributes.push(json!({"key": "gift_message", "value": g.message}));
        }
    }
    if !c.siret.is_empty() {
        attributes.push(json!({"key": "siret", "value": c.siret}));
    }
    if !c.vat_number.is_empty() {
        attributes.push(json!({"key": "vat_number", "value": c.vat_number}));
    }
    let ship_tax = r2(o.shipping_excl * o.shipping_vat_rate / hundred);
    tax += ship_tax;
    let (mut disc_excl, mut disc_tax) = (Decimal::ZERO, Decimal::ZERO);
    for d in &o.discounts {
        disc_excl += d.amount_excl;
        disc_tax += d.amount_incl - d.amount_excl;
    }
    tax -= disc_tax;
    let subtotal = products - disc_excl;
    let total = subtotal + o.shipping_excl + tax;
    let (carrier_title, carrier_code) = match o.carrier {
        SeedCarrier::Pickup => ("Retrait en boutique", "pickup"),
        SeedCarrier::Standard => ("Colissimo", "standard"),
        SeedCarrier::International => ("DHL Express", "international"),
    };
    let created = stamp(o.created);
    let financial = match o.status {
        SeedStatus::Cancelled => "VOIDED",
        _ if o.paid => "PAID",
        _ => "PENDING",
    };
    let fulfillment = match o.status {
        SeedStatus::Shipped | SeedStatus::Delivered => "FULFILLED",
        SeedStatus::Processing => "IN_PROGRESS",
        _ => "UNFULFILLED",
    };
    let gateway = match o.payment {
        SeedPaymentMethod::Check => "Chèque",
        SeedPaymentMethod::Transfer => "Virement bancaire",
        SeedPaymentMethod::Paypal => "paypal",
        SeedPaymentMethod::Card => "shopify_payments",
    };
    let transactions = if o.paid {
        json!([{
            "gateway": gateway, "status": "SUCCESS", "kind": "SALE",
            "amountSet": bag(total, cur), "processedAt": created,
            "authorizationCode": if o.transaction.is_empty() { Value::Null } else { json!(o.transaction) },
        }])
    } else {
        json!([])
    };
    let customer = if c.guest {
        Value::Null
    } else {
        json!({
            "id": gid("Customer", o.customer as u64 + 1),
            "firstName": c.firstname, "lastName": c.lastname,
            "defaultEmailAddress": {"emailAddress": c.email},
        })
    };
    json!({
        "id": gid("Order", n), "name": format!("#{}", 1000 + n),
        "createdAt": created, "updatedAt": created, "processedAt": created,
        "cancelledAt": if o.status == SeedStatus::Cancelled { json!(created) } else { Value::Null },
        "currencyCode": SHOP_CURRENCY, "presentmentCurrencyCode": cur,
        "taxesIncluded": false, "displayFinancialStatus": financial,
        "displayFulfillmentStatus": fulfillment, "edited": false,
        "note": if o.note.is_empty() { Value::Null } else { json!(o.note) },
        "email": c.email, "customer": customer,
        "billingAddress": address(c), "shippingAddress": address(c),
        "lineItems": lines,
        "shippingLine": {
            "title": carrier_title, "code": carrier_code,
            "originalPriceSet": bag(o.shipping_excl, cur),
            "discountedPriceSet": bag(o.shipping_excl, cur),
            "taxLines": if o.shipping_vat_rate.is_zero() { json!([]) } else { json!([tax_line(o.shipping_vat_rate, ship_tax, cur)]) },
        },
        "currentSubtotalPriceSet": bag(subtotal, cur),
        "currentTotalPriceSet": bag(total, cur),
        "totalPriceSet": bag(total, cur),
        "currentTotalTaxSet": bag(tax, cur),
        "currentShippingPriceSet": bag(o.shipping_excl, cur),
        "currentCartDiscountAmountSet": bag(disc_excl, cur),
        "discountCodes": o.discounts.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
        "transactions": transactions,
        "customAttributes": attributes,
        "fulfillmentOrders": [],
    })
}
