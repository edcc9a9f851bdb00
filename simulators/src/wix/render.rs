//! The neutral seed rendered as Wix eCommerce orders (v1) and Stores Catalog V3 inventory
//! items.
//!
//! How Wix shapes an order (`cms-apis.md` §5 "Order fields", `platforms.md` §0.1 and §6,
//! `WIX-npm` `ecom-orders.meta.d.ts`): ids are GUIDs, `number` is the human order number;
//! money is `{amount: "12.50", formattedAmount: "12,50 €"}` (decimal strings);
//! `taxIncludedInPrices` is fixed per order (false here: the seed's prices are tax
//! excluded); each line has `price` (after its own discount), `priceBeforeDiscounts`,
//! `lineItemPrice` (price × quantity), `totalDiscount` (its share of the order's coupon),
//! `totalPriceBeforeTax` / `totalPriceAfterTax` (after the coupon) and
//! `taxDetails{taxableAmount, taxRate, totalTax}` with `taxRate` a fraction as a decimal
//! string ("0.2"); `priceSummary{subtotal, shipping, tax, discount, total,
//! totalAdditionalFees}`; coupons in `appliedDiscounts[]`; fees (gift wrapping: Wix has
//! none of its own) in `additionalFees[]`; a foreign-currency order carries
//! `currencyConversionDetails{originalCurrency, conversionRate}`; the buyer in
//! `buyerInfo{contactId, memberId | visitorId, email}` (a guest has no `memberId`); the
//! company's VAT number in `billingInfo.contactDetails.vatId`, the SIRET in a custom field.
//! Dates are ISO-8601 UTC with milliseconds (`platforms.md` §10 rule 2).

use crate::seed::{Seed, SeedCarrier, SeedOrder, SeedStatus};
use chrono::NaiveDateTime;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};

/// The shop's own currency (the simulated site sells in euros).
pub const SITE_CURRENCY: &str = "EUR";

/// The rate from the site currency to the dollar on foreign-currency orders.
pub const USD_RATE: &str = "1.0850";

/// The app id of Wix Stores in `catalogReference.appId` (the published constant).
pub(super) const STORES_APP_ID: &str = "215238eb-22a5-4c36-9e7b-e7c08025e04e";

fn r2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// `{amount, formattedAmount}` as Wix writes a price.
pub(super) fn price(d: Decimal, currency: &str) -> Value {
    let a = format!("{:.2}", r2(d));
    json!({"amount": a, "formattedAmount": format!("{} {currency}", a.replace('.', ","))})
}

/// An ISO-8601 UTC instant with milliseconds, as Wix writes dates.
pub(super) fn date(d: NaiveDateTime) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A GUID of a kind (`1` orders, `2` products, `3` variants, `4` inventory items,
/// `5` contacts, `6` members, `7` line items, `8` activities and fulfilments) and a number:
/// fixed width, so ids sort in creation order.
pub fn guid(kind: u32, n: u64) -> String {
    format!("{kind:x}{n:07x}-0000-4000-8000-{n:012x}")
}

/// (status, paymentStatus, fulfillmentStatus) of a neutral status.
pub fn statuses(s: SeedStatus) -> (&'static str, &'static str, &'static str) {
    match s {
        // An offline payment the merchant is waiting for.
        SeedStatus::AwaitingCheck => ("APPROVED", "PENDING", "NOT_FULFILLED"),
        SeedStatus::AwaitingTransfer => ("APPROVED", "NOT_PAID", "NOT_FULFILLED"),
        SeedStatus::PaymentAccepted | SeedStatus::Processing => {
            ("APPROVED", "PAID", "NOT_FULFILLED")
        }
        SeedStatus::Shipped | SeedStatus::Delivered => ("APPROVED", "PAID", "FULFILLED"),
        SeedStatus::Cancelled => ("CANCELED", "NOT_PAID", "NOT_FULFILLED"),
    }
}

fn carrier(c: SeedCarrier) -> (&'static str, &'static str) {
    match c {
        SeedCarrier::Pickup => ("pickup", "Retrait en boutique"),
        SeedCarrier::Standard => ("colissimo", "Colissimo"),
        SeedCarrier::International => ("dhl-express", "DHL Express international"),
    }
}

fn fraction(percent: Decimal) -> String {
    (percent / Decimal::from(100)).normalize().to_string()
}

/// The inventory items of the seed's articles (one variant per product, one location).
pub(super) fn inventory(seed: &Seed) -> Vec<Value> {
    seed.articles
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let n = i as u64 + 1;
            json!({
                "id": guid(4, n), "variantId": guid(3, n), "productId": guid(2, n),
                "locationId": guid(9, 1), "trackQuantity": true, "quantity": a.stock,
                "inStock": a.stock > 0, "revision": "1",
                "createdDate": date(crate::seed::base_date()),
                "updatedDate": date(crate::seed::base_date()),
                "product": {"name": a.name, "variantSku": a.reference, "variantName": ""},
            })
        })
        .collect()
}

/// One order of the seed (its `n`, from 1) as Wix serves it.
pub(super) fn order(seed: &Seed, o: &SeedOrder, n: u64) -> Value {
    let c = &seed.customers[o.customer];
    let cur = o.currency.as_str();
    let hundred = Decimal::from(100);
    // Line totals before the coupon (after the line's own discount).
    let totals: Vec<Decimal> = o
        .lines
        .iter()
        .map(|l| {
            r2(l.unit_price_excl
                * (Decimal::ONE - l.discount_percent / hundred)
                * Decimal::from(l.quantity))
        })
        .collect();
    let subtotal: Decimal = totals.iter().sum();
    let coupon: Decimal = o.discounts.iter().map(|d| d.amount_excl).sum();
    let mut left = coupon;
    let mut lines = Vec::new();
    let mut tax_total = Decimal::ZERO;
    for (i, (l, total)) in o.lines.iter().zip(&totals).enumerate() {
        // Wix spreads an order coupon over the lines in proportion (`totalDiscount`).
        let share = if i + 1 == o.lines.len() {
            left
        } else if subtotal.is_zero() {
            Decimal::ZERO
        } else {
            r2(coupon * total / subtotal)
        };
        left -= share;
        let rate = l.vat_rate.unwrap_or_default();
        let taxable = total - share;
        let tax = r2(taxable * rate / hundred);
        tax_total += tax;
        let unit = if l.quantity == 0 {
            Decimal::ZERO
        } else {
            *total / Decimal::from(l.quantity)
        };
        let product = seed
            .articles
            .iter()
            .position(|a| a.reference == l.reference)
            .map(|p| p as u64 + 1);
        lines.push(json!({
            "id": guid(7, n * 100 + i as u64 + 1),
            "productName": {"original": l.name, "translated": l.name},
            "catalogReference": {
                "catalogItemId": product.map(|p| guid(2, p)).unwrap_or_else(|| guid(2, 0xfffff)),
                "appId": STORES_APP_ID,
                "options": {"variantId": product.map(|p| guid(3, p)).unwrap_or_default()},
            },
            "quantity": l.quantity,
            "physicalProperties": {"sku": l.reference, "weight": 0, "shippable": true},
            "itemType": {"preset": "PHYSICAL"},
            "price": price(unit, cur),
            "priceBeforeDiscounts": price(l.unit_price_excl, cur),
            "lineItemPrice": price(*total, cur),
            "totalDiscount": price(share, cur),
            "totalPriceBeforeTax": price(taxable, cur),
            "totalPriceAfterTax": price(taxable + tax, cur),
            "taxDetails": {"taxableAmount": price(taxable, cur), "taxRate": fraction(rate),
                           "totalTax": price(tax, cur)},
            "descriptionLines": [],
        }));
    }
    let (code, title) = carrier(o.carrier);
    let ship_tax = r2(o.shipping_excl * o.shipping_vat_rate / hundred);
    tax_total += ship_tax;
    let mut fees = Vec::new();
    let mut fees_total = Decimal::ZERO;
    if let Some(g) = &o.gift {
        let tax = r2(g.amount_excl * g.vat_rate / hundred);
        tax_total += tax;
        fees_total += g.amount_excl;
        fees.push(json!({
            "code": "gift-wrap", "name": "Emballage cadeau",
            "price": price(g.amount_excl, cur), "priceBeforeTax": price(g.amount_excl, cur),
            "priceAfterTax": price(g.amount_excl + tax, cur),
            "taxDetails": {"taxableAmount": price(g.amount_excl, cur), "taxRate": fraction(g.vat_rate),
                           "totalTax": price(tax, cur)},
        }));
    }
    let discounts: Vec<Value> = o
        .discounts
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({"discountType": "GLOBAL", "lineItemIds": [],
                   "coupon": {"id": guid(8, n * 10 + i as u64), "code": d.name, "name": d.name,
                              "amount": price(d.amount_excl, cur)}})
        })
        .collect();
    let total = subtotal - coupon + o.shipping_excl + fees_total + tax_total;
    let (status, payment, fulfillment) = statuses(o.status);
    let address = json!({
        "country": c.country, "subdivision": if c.region.is_empty() { Value::Null } else { json!(format!("{}-{}", c.country, c.region)) },
        "city": c.city, "postalCode": c.postcode, "addressLine1": c.street,
    });
    let mut contact = json!({"firstName": c.firstname, "lastName": c.lastname, "phone": c.phone});
    if !c.company.is_empty() {
        contact["company"] = json!(c.company);
    }
    if !c.vat_number.is_empty() {
        contact["vatId"] = json!({"id": c.vat_number, "type": "UNSPECIFIED"});
    }
    let customer = o.customer as u64 + 1;
    let mut buyer = json!({"contactId": guid(5, customer), "email": c.email});
    if c.guest {
        buyer["visitorId"] = json!(guid(6, 0x80000 + n));
    } else {
        buyer["memberId"] = json!(guid(6, customer));
    }
    let modified = o.created + chrono::Duration::minutes(30);
    let mut custom = Vec::new();
    if !c.siret.is_empty() {
        custom.push(json!({"title": "SIRET", "value": c.siret}));
    }
    let mut order = json!({
        "id": guid(1, n), "number": (10000 + n).to_string(),
        "createdDate": date(o.created), "updatedDate": date(modified),
        "status": status, "paymentStatus": payment, "fulfillmentStatus": fulfillment,
        "currency": cur, "taxIncludedInPrices": false, "weightUnit": "KG",
        "buyerLanguage": "fr", "channelInfo": {"type": "WEB"},
        "buyerInfo": buyer, "buyerNote": o.note,
        "billingInfo": {"address": address.clone(), "contactDetails": contact.clone()},
        "shippingInfo": {
            "carrierId": guid(9, 100 + o.carrier as u64), "code": code, "title": title,
            "logistics": {"shippingDestination": {"address": address, "contactDetails": contact}},
            "cost": {
                "price": price(o.shipping_excl, cur),
                "totalPriceBeforeTax": price(o.shipping_excl, cur),
                "totalPriceAfterTax": price(o.shipping_excl + ship_tax, cur),
                "taxDetails": {"taxableAmount": price(o.shipping_excl, cur),
                               "taxRate": fraction(o.shipping_vat_rate), "totalTax": price(ship_tax, cur)},
            },
        },
        "lineItems": lines, "appliedDiscounts": discounts, "additionalFees": fees,
        "customFields": custom, "activities": [],
    });
    order["priceSummary"] = json!({
        "subtotal": price(subtotal, cur), "shipping": price(o.shipping_excl, cur),
        "tax": price(tax_total, cur), "discount": price(coupon, cur),
        "totalAdditionalFees": price(fees_total, cur), "total": price(total, cur),
    });
    order["taxSummary"] = json!({"totalTax": price(tax_total, cur)});
    if cur != SITE_CURRENCY {
        // platforms.md §0.1: only when a single rate produced every amount.
        order["currencyConversionDetails"] =
            json!({"originalCurrency": SITE_CURRENCY, "conversionRate": USD_RATE});
    }
    order
}
