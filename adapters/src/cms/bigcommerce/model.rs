//! BigCommerce v2 order JSON, read defensively, and its mapping into the platform-neutral
//! [`ShopOrder`].
//!
//! Shapes (`specs/bigcommerce/orders.v2.oas2.yml`: `order_Resp`, `orderProducts`,
//! `orderShippingAddress`, `orderTaxes_Base`; `platforms.md` §4; `cms-apis.md` §4):
//! * amounts are strings with 4 decimals (`"361.9500"`), parsed straight to decimals
//!   (never through a float);
//! * `is_tax_inclusive_pricing` says whether the store's prices include tax: the line
//!   keeps the price the customer saw exact (inclusive unit price when true);
//! * lines (`/orders/{id}/products`): `price_ex_tax` / `price_inc_tax`, `total_ex_tax` /
//!   `total_inc_tax` before order-level discounts, which come per line in
//!   `applied_discounts[{amount, name, code, target}]` (in the store's pricing mode):
//!   they are gathered per code into order discounts with each line's rate;
//! * the rate of a line, of the shipping and of the wrapping comes from `/taxes`
//!   (`rate`, `order_product_id`, `line_item_type`); without a row the rate is computed
//!   from the amounts (tax ÷ base to 0.1 %), 0 when untaxed;
//! * currencies: `currency_code` is the display currency, `default_currency_code` the
//!   transactional one — the currency of the amounts; `store_default_to_transactional_
//!   exchange_rate` (multi-currency stores) converts the store's default currency into it;
//!   `currency_exchange_rate` is always 1 for API orders (spec description);
//! * customers: `customer_id` 0 is a guest; core has no VAT number nor SIRET: billing
//!   `form_fields` named like them are read;
//! * dates RFC-2822 (`"Wed, 10 Jan 2018 21:05:30 +0000"`);
//! * **several shipping addresses** (`shipping_address_count` > 1): one ERP document per
//!   order all the same — the first address is the delivery address, every other one is
//!   noted in the document's messages with its method and its lines, and the shipping
//!   amounts are added up (docs/PLATFORMS.md, BigCommerce).

use chrono::{DateTime, Utc};
use passerelle_domain::orders::{
    Address, OrderDiscount, OrderLine, OrderTotals, Payment, Shipping, ShopCustomer, ShopOrder,
    Wrapping,
};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

/// Namespace of our order metafields.
pub const NAMESPACE: &str = "passerelle";
/// Key of the metafield holding the ERP document number.
pub const DOCUMENT_KEY: &str = "erp_document";
/// Key of the metafield holding the ERP invoice reference.
pub const INVOICE_KEY: &str = "erp_invoice";
/// Key of the metafield holding the delivery date from the ERP.
pub const DELIVERY_KEY: &str = "delivery_date";

/// Longest text field accepted (bytes).
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// A decimal from a string or a number; absent or empty → 0.
pub fn dec(v: Option<&Value>, what: &str) -> Result<Decimal, String> {
    match v {
        None | Some(Value::Null) => Ok(Decimal::ZERO),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Decimal::ZERO),
        Some(Value::String(s)) => {
            Decimal::from_str(s.trim()).map_err(|_| format!("montant illisible « {s} » ({what})"))
        }
        Some(Value::Number(n)) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map_err(|_| format!("montant illisible « {n} » ({what})")),
        Some(other) => Err(format!("montant illisible « {other} » ({what})")),
    }
}

/// A text field (numbers rendered), empty when absent; refused when absurdly long.
pub fn text(o: &Value, k: &str) -> Result<String, String> {
    let s = match o.get(k) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(_) => return Err(format!("champ « {k} » inattendu")),
    };
    if s.len() > MAX_FIELD_BYTES {
        return Err(format!("champ « {k} » trop long ({} octets)", s.len()));
    }
    Ok(s)
}

fn opt(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// An RFC-2822 date of the v2 API (ISO-8601 accepted too).
pub fn date(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?.trim();
    DateTime::parse_from_rfc2822(s)
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The order's numeric id.
pub fn order_id(o: &Value) -> Option<u64> {
    match o.get("id") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn address(a: &Value) -> Result<Address, String> {
    Ok(Address {
        firstname: text(a, "first_name")?,
        lastname: text(a, "last_name")?,
        company: opt(text(a, "company")?),
        address1: text(a, "street_1")?,
        address2: opt(text(a, "street_2")?),
        postcode: text(a, "zip")?,
        city: text(a, "city")?,
        country_iso: text(a, "country_iso2")?.to_ascii_uppercase(),
        state: opt(text(a, "state")?),
        phone: opt(text(a, "phone")?),
    })
}

/// A billing form field whose name contains one of `names` (any case).
fn form_field(billing: &Value, names: &[&str]) -> Option<String> {
    billing
        .get("form_fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|f| {
            let n = f
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_lowercase();
            names.iter().any(|w| n.contains(w))
        })
        .and_then(|f| f.get("value").and_then(Value::as_str))
        .and_then(|v| opt(v.to_string()))
}

/// Tax rows of an order: (rate, name) per order product id, and the shipping's rate (the
/// wrapping has no rate in the neutral order: its amounts carry it).
struct Rates {
    lines: HashMap<String, (Decimal, String)>,
    shipping: Option<Decimal>,
}

fn rates(taxes: &[Value]) -> Result<Rates, String> {
    let mut r = Rates {
        lines: HashMap::new(),
        shipping: None,
    };
    for t in taxes {
        let rate = dec(t.get("rate"), "taxes.rate")?;
        match text(t, "line_item_type")?.as_str() {
            "shipping" => {
                r.shipping.get_or_insert(rate);
            }
            "gift_wrapping" => {}
            _ => {
                let opid = text(t, "order_product_id")?;
                // Several taxes on one line (compound): their rates add up.
                let e = r
                    .lines
                    .entry(opid)
                    .or_insert((Decimal::ZERO, text(t, "name")?));
                e.0 += rate;
            }
        }
    }
    Ok(r)
}

/// The rate of an amount from its tax when no row gave it: tax ÷ base to 0.1 %.
fn computed_rate(base: Decimal, tax: Decimal) -> Decimal {
    if base.is_zero() || tax.is_zero() {
        Decimal::ZERO
    } else {
        (tax * Decimal::from(100) / base.abs())
            .round_dp(1)
            .normalize()
    }
}

/// Maps one order with its lines, shipping addresses and tax rows.
pub fn map_order(
    o: &Value,
    products: &[Value],
    addresses: &[Value],
    taxes: &[Value],
) -> Result<ShopOrder, String> {
    let id = order_id(o).ok_or("identifiant de commande absent")?;
    let inclusive = o
        .get("is_tax_inclusive_pricing")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let created_at = date(o.get("date_created")).ok_or("date de création illisible")?;
    let updated_at = date(o.get("date_modified")).unwrap_or(created_at);
    let b = o.get("billing_address").cloned().unwrap_or(Value::Null);
    let billing = address(&b)?;
    let first_address = addresses.first();
    let delivery = match first_address {
        Some(a) => address(a)?,
        None => billing.clone(),
    };
    let rates = rates(taxes)?;
    let hundred = Decimal::from(100);

    let cid: u64 = text(o, "customer_id")?.trim().parse().unwrap_or(0);
    let customer = ShopCustomer {
        id: cid.to_string(),
        email: text(&b, "email")?,
        firstname: billing.firstname.clone(),
        lastname: billing.lastname.clone(),
        company: billing.company.clone(),
        siret: form_field(&b, &["siret"]),
        vat_number: form_field(&b, &["tva", "vat"]),
        is_guest: cid == 0,
        erp_code: None,
    };

    let mut lines = Vec::new();
    let (mut products_excl, mut products_incl) = (Decimal::ZERO, Decimal::ZERO);
    // code → (name, excl, incl)
    let mut discounts: BTreeMap<String, (String, Decimal, Decimal)> = BTreeMap::new();
    let mut wrap_message = None;
    for (i, l) in products.iter().enumerate() {
        // A bundled product's children are priced in their parent.
        if l.get("parent_order_product_id")
            .is_some_and(|p| !p.is_null() && p.as_u64() != Some(0))
        {
            continue;
        }
        let what = |f: &str| format!("ligne {} : {f}", i + 1);
        let quantity = dec(l.get("quantity"), &what("quantity"))?;
        let price_ex = dec(l.get("price_ex_tax"), &what("price_ex_tax"))?;
        let price_inc = dec(l.get("price_inc_tax"), &what("price_inc_tax"))?;
        let total_ex = dec(l.get("total_ex_tax"), &what("total_ex_tax"))?;
        let total_inc = dec(l.get("total_inc_tax"), &what("total_inc_tax"))?;
        let opid = text(l, "id")?;
        let (tax_rate, tax_name) = match rates.lines.get(&opid) {
            Some((r, n)) => (r.normalize(), n.clone()),
            None => (computed_rate(total_ex, total_inc - total_ex), String::new()),
        };
        let (unit_excl, unit_incl) = if inclusive {
            // The price the customer saw is the inclusive one: keep it exact.
            (
                (price_inc * hundred / (hundred + tax_rate)).round_dp(6),
                price_inc,
            )
        } else {
            (price_ex, price_inc)
        };
        for d in l
            .get("applied_discounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let amount = dec(d.get("amount"), &what("applied_discounts.amount"))?;
            if amount.is_zero() {
                continue;
            }
            let name = opt(text(d, "name")?).unwrap_or_else(|| "Remise".into());
            let code = opt(text(d, "code")?)
                .or_else(|| opt(text(d, "id").unwrap_or_default()))
                .unwrap_or_else(|| name.clone());
            let (excl, incl) = if inclusive {
                (amount * hundred / (hundred + tax_rate), amount)
            } else {
                (amount, amount * (hundred + tax_rate) / hundred)
            };
            let e = discounts
                .entry(code)
                .or_insert((name, Decimal::ZERO, Decimal::ZERO));
            e.1 += excl;
            e.2 += incl;
        }
        if let Some(m) = l
            .get("wrapping_message")
            .and_then(Value::as_str)
            .and_then(|m| opt(m.to_string()))
        {
            wrap_message.get_or_insert(m);
        }
        products_excl += total_ex;
        products_incl += total_inc;
        lines.push(OrderLine {
            reference: text(l, "sku")?.trim().to_string(),
            name: text(l, "name")?,
            quantity,
            unit_price_tax_excl: unit_excl,
            unit_price_tax_incl: unit_incl,
            discount_percent: Decimal::ZERO,
            discount_amount_tax_excl: Decimal::ZERO,
            total_tax_excl: total_ex,
            total_tax_incl: total_inc,
            tax_name,
            tax_rate,
            lot: None,
        });
    }
    if lines.is_empty() {
        return Err("commande sans ligne d'article".into());
    }
    let discounts: Vec<OrderDiscount> = discounts
        .into_values()
        .map(|(name, excl, incl)| OrderDiscount {
            name,
            amount_tax_excl: excl.round_dp(2),
            amount_tax_incl: incl.round_dp(2),
        })
        .collect();

    // Shipping: every address's cost (one document per order), the first one's method.
    let mut shipping = Shipping {
        carrier_id: String::new(),
        carrier_name: String::new(),
        amount_tax_excl: Decimal::ZERO,
        amount_tax_incl: Decimal::ZERO,
        tax_rate: Decimal::ZERO,
    };
    let mut messages = Vec::new();
    if addresses.is_empty() {
        shipping.amount_tax_excl = dec(o.get("shipping_cost_ex_tax"), "shipping_cost_ex_tax")?;
        shipping.amount_tax_incl = dec(o.get("shipping_cost_inc_tax"), "shipping_cost_inc_tax")?;
    }
    for (k, a) in addresses.iter().enumerate() {
        let ex = dec(a.get("cost_ex_tax"), "shipping_addresses.cost_ex_tax")?
            + dec(a.get("handling_cost_ex_tax"), "handling_cost_ex_tax")?;
        let inc = dec(a.get("cost_inc_tax"), "shipping_addresses.cost_inc_tax")?
            + dec(a.get("handling_cost_inc_tax"), "handling_cost_inc_tax")?;
        shipping.amount_tax_excl += ex;
        shipping.amount_tax_incl += inc;
        let method = text(a, "shipping_method")?;
        if k == 0 {
            shipping.carrier_id = method.clone();
            shipping.carrier_name = method;
        } else {
            let aid = text(a, "id")?;
            let here: Vec<String> = products
                .iter()
                .filter(|l| text(l, "order_address_id").ok().as_deref() == Some(aid.as_str()))
                .map(|l| {
                    format!(
                        "{} × {}",
                        text(l, "sku").unwrap_or_default(),
                        text(l, "quantity").unwrap_or_default()
                    )
                })
                .collect();
            let ad = address(a)?;
            messages.push(format!(
                "Autre adresse de livraison ({}/{}) : {} {}, {}, {} {}, {} — {} — articles : {}",
                k + 1,
                addresses.len(),
                ad.firstname,
                ad.lastname,
                ad.address1,
                ad.postcode,
                ad.city,
                ad.country_iso,
                method,
                if here.is_empty() {
                    "—".to_string()
                } else {
                    here.join(", ")
                }
            ));
        }
    }
    shipping.tax_rate = match rates.shipping {
        Some(r) => r.normalize(),
        None => computed_rate(
            shipping.amount_tax_excl,
            shipping.amount_tax_incl - shipping.amount_tax_excl,
        ),
    };

    let wrap_ex = dec(o.get("wrapping_cost_ex_tax"), "wrapping_cost_ex_tax")?;
    let wrap_inc = dec(o.get("wrapping_cost_inc_tax"), "wrapping_cost_inc_tax")?;
    let wrapping = (!wrap_ex.is_zero() || !wrap_inc.is_zero()).then_some(Wrapping {
        amount_tax_excl: wrap_ex,
        amount_tax_incl: wrap_inc,
        message: wrap_message,
    });

    let total_inc = dec(o.get("total_inc_tax"), "total_inc_tax")?;
    let total_ex = dec(o.get("total_ex_tax"), "total_ex_tax")?;
    // The transactional currency is the one the amounts are in; the display currency is
    // only what the shopper saw.
    let currency = opt(text(o, "default_currency_code")?)
        .or_else(|| opt(text(o, "currency_code").unwrap_or_default()))
        .ok_or("devise absente")?
        .to_ascii_uppercase();
    if currency.len() != 3 {
        return Err(format!("devise illisible : « {currency} »"));
    }
    let display = text(o, "currency_code")?.to_ascii_uppercase();
    if !display.is_empty() && display != currency {
        messages.push(format!(
            "Prix affichés en {display}, commande réglée en {currency}"
        ));
    }
    let store_rate = dec(
        o.get("store_default_to_transactional_exchange_rate"),
        "store_default_to_transactional_exchange_rate",
    )?;
    let conversion_rate = if store_rate > Decimal::ZERO {
        store_rate.normalize()
    } else {
        Decimal::ONE
    };
    let payment_label = text(o, "payment_method")?;
    let paid = matches!(
        text(o, "payment_status")?.as_str(),
        "captured" | "paid" | "partially refunded" | "refunded"
    );
    let payments = if paid {
        vec![Payment {
            method: payment_label.clone(),
            amount: total_inc,
            paid_at: created_at,
            transaction_id: opt(text(o, "payment_provider_id").unwrap_or_default()),
        }]
    } else {
        Vec::new()
    };
    if let Some(m) = opt(text(o, "customer_message")?) {
        messages.insert(0, m);
    }
    Ok(ShopOrder {
        id: id.to_string(),
        reference: id.to_string(),
        shop_id: text(o, "channel_id")
            .ok()
            .and_then(opt)
            .unwrap_or_else(|| "1".into()),
        state_id: text(o, "status_id")?,
        created_at,
        updated_at,
        invoice_date: None,
        invoice_number: None,
        currency,
        conversion_rate,
        customer,
        billing,
        delivery,
        lines,
        discounts,
        shipping,
        wrapping,
        payment_module: payment_label.clone(),
        payment_label,
        payments,
        totals: OrderTotals {
            products_tax_excl: products_excl,
            products_tax_incl: products_incl,
            paid_tax_excl: total_ex,
            paid_tax_incl: total_inc,
        },
        messages,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        json!({"id": 100, "customer_id": 0, "status_id": 11,
               "date_created": "Mon, 06 Jan 2025 09:00:00 +0000",
               "date_modified": "Mon, 06 Jan 2025 09:30:00 +0000",
               "is_tax_inclusive_pricing": false, "currency_code": "USD",
               "default_currency_code": "USD", "store_default_currency_code": "EUR",
               "store_default_to_transactional_exchange_rate": "1.0850000000",
               "total_ex_tax": "41.6700", "total_inc_tax": "50.0000",
               "wrapping_cost_ex_tax": "2.5000", "wrapping_cost_inc_tax": "3.0000",
               "payment_method": "Stripe", "payment_status": "captured", "payment_provider_id": "pi_1",
               "customer_message": "Livrer après 18 h", "channel_id": 1,
               "billing_address": {"first_name": "Camille", "last_name": "Martin", "street_1": "12 rue des Lilas",
                   "zip": "69003", "city": "Lyon", "country_iso2": "FR", "email": "c@example.fr",
                   "form_fields": [{"name": "Numéro de TVA", "value": "FR123"}, {"name": "SIRET", "value": "404"}]}})
    }

    fn products() -> Vec<Value> {
        vec![
            json!({"id": 1, "sku": "A", "name": "Alpha", "quantity": 2, "price_ex_tax": "10.0000",
                   "price_inc_tax": "12.0000", "total_ex_tax": "20.0000", "total_inc_tax": "24.0000",
                   "order_address_id": 11, "wrapping_message": "Bon anniversaire",
                   "applied_discounts": [{"id": "coupon", "amount": "2.0000", "name": "Bienvenue", "code": "bienvenue", "target": "order"}]}),
            json!({"id": 2, "sku": "B", "name": "Beta", "quantity": 1, "price_ex_tax": "10.0000",
                   "price_inc_tax": "10.5500", "total_ex_tax": "10.0000", "total_inc_tax": "10.5500",
                   "order_address_id": 12, "applied_discounts": []}),
        ]
    }

    fn addresses() -> Vec<Value> {
        vec![
            json!({"id": 11, "first_name": "Camille", "last_name": "Martin", "street_1": "1 rue A", "zip": "75001",
                   "city": "Paris", "country_iso2": "FR", "shipping_method": "Colissimo",
                   "cost_ex_tax": "5.0000", "cost_inc_tax": "6.0000"}),
            json!({"id": 12, "first_name": "Louise", "last_name": "Bernard", "street_1": "3 quai", "zip": "33000",
                   "city": "Bordeaux", "country_iso2": "FR", "shipping_method": "Chronopost",
                   "cost_ex_tax": "4.0000", "cost_inc_tax": "4.8000"}),
        ]
    }

    fn taxes() -> Vec<Value> {
        vec![
            json!({"rate": "20.0000", "name": "TVA 20 %", "order_product_id": "1", "line_item_type": "item"}),
            json!({"rate": "5.5000", "name": "TVA 5,5 %", "order_product_id": "2", "line_item_type": "item"}),
            json!({"rate": "20.0000", "order_product_id": "", "line_item_type": "shipping"}),
        ]
    }

    #[test]
    fn an_order_maps_with_rates_discounts_addresses_and_currency() {
        let o = map_order(&order(), &products(), &addresses(), &taxes()).unwrap();
        assert_eq!(o.id, "100");
        assert!(o.customer.is_guest);
        assert_eq!(o.customer.vat_number.as_deref(), Some("FR123"));
        assert_eq!(o.customer.siret.as_deref(), Some("404"));
        assert_eq!(o.lines[0].tax_rate, Decimal::from(20));
        assert_eq!(o.lines[1].tax_rate, Decimal::new(55, 1));
        assert_eq!(o.lines[0].unit_price_tax_excl, Decimal::from(10));
        assert_eq!(o.discounts.len(), 1);
        assert_eq!(o.discounts[0].amount_tax_excl, Decimal::from(2));
        assert_eq!(o.discounts[0].amount_tax_incl, Decimal::new(240, 2));
        // Two addresses: one document, the second address noted, shipping added up.
        assert_eq!(o.delivery.city, "Paris");
        assert_eq!(o.shipping.amount_tax_excl, Decimal::from(9));
        assert_eq!(o.shipping.tax_rate, Decimal::from(20));
        assert!(o
            .messages
            .iter()
            .any(|m| m.contains("Bordeaux") && m.contains("B × 1")));
        assert_eq!(o.currency, "USD");
        assert_eq!(o.conversion_rate, Decimal::new(1085, 3));
        assert_eq!(
            o.wrapping
                .as_ref()
                .and_then(|w| w.message.clone())
                .as_deref(),
            Some("Bon anniversaire")
        );
        assert_eq!(o.payments.len(), 1);
        assert_eq!(o.messages[0], "Livrer après 18 h");
    }

    #[test]
    fn a_tax_inclusive_store_keeps_the_inclusive_price() {
        let mut v = order();
        v["is_tax_inclusive_pricing"] = json!(true);
        let mut p = products();
        p[0]["price_inc_tax"] = json!("29.9000");
        let o = map_order(&v, &p, &addresses(), &taxes()).unwrap();
        assert_eq!(o.lines[0].unit_price_tax_incl, Decimal::new(2990, 2));
        // The inclusive discount's exclusive part is derived with the line's rate.
        assert_eq!(o.discounts[0].amount_tax_incl, Decimal::from(2));
        assert_eq!(o.discounts[0].amount_tax_excl, Decimal::new(167, 2));
    }

    #[test]
    fn bad_data_is_a_reason_not_a_panic() {
        let mut p = products();
        p[0]["total_ex_tax"] = json!("douze");
        assert!(map_order(&order(), &p, &addresses(), &taxes())
            .unwrap_err()
            .contains("montant illisible"));
        assert!(map_order(&order(), &[], &addresses(), &taxes()).is_err());
        let mut v = order();
        v["date_created"] = json!("hier");
        assert!(map_order(&v, &products(), &addresses(), &taxes()).is_err());
    }
}
