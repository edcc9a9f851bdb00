//! WooCommerce `wc/v3` order JSON, read defensively, and its mapping into the
//! platform-neutral [`ShopOrder`].
//!
//! Shapes (`cms-apis.md` §2, `WC-docs:…/_orders.md`, `WC-oas` `shop_order`):
//! * amounts are decimal strings; `line_items[].subtotal`/`total` are tax-exclusive
//!   (before/after coupons), with `subtotal_tax`/`total_tax` and per-line `taxes[]`
//!   (`{id, total, subtotal}`, `id` pointing at `tax_lines[].rate_id`);
//! * `tax_lines[]` carry `label` and, on WooCommerce ≥ 3.7, `rate_percent`;
//! * `coupon_lines[]` (`discount`, `discount_tax`) are spread over the lines by
//!   WooCommerce: the ERP gets the lines before coupons and the coupons as order discounts;
//! * `fee_lines[]`: gift wrapping is a fee (core has no wrapping); other fees are refused
//!   with their reason, since the ERP document would not add up without them;
//! * `customer_id` 0 is a guest; VAT number and SIRET come from plugins' `meta_data`
//!   (`_billing_vat_number`, `vat_number`, `_billing_siret`) — plugin-dependent;
//! * dates: `date_*_gmt` in UTC without offset suffix (`platforms.md` §2, Dates).

use chrono::{DateTime, NaiveDateTime, Utc};
use passerelle_domain::orders::{
    Address, OrderDiscount, OrderLine, OrderTotals, Payment, Shipping, ShopCustomer, ShopOrder,
    Wrapping,
};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;

/// Key of the order `meta_data` entry holding the ERP document number.
pub const DOCUMENT_META: &str = "_passerelle_erp_document";
/// Key of the customer `meta_data` entry holding the ERP account code.
pub const ERP_CODE_META: &str = "_passerelle_erp_code";
/// Key of the order `meta_data` entry holding the delivery date set from the ERP.
pub const DELIVERY_META: &str = "_passerelle_delivery_date";
/// Prefix of the private order note carrying the ERP document number.
pub const DOCUMENT_NOTE_PREFIX: &str = "Document EBP : ";

/// Longest text field accepted (bytes): anything far larger is broken or hostile.
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// A decimal from a string or a number ("12.50", 12.5); absent or empty → 0.
pub fn dec(v: Option<&Value>, what: &str) -> Result<Decimal, String> {
    match v {
        None | Some(Value::Null) => Ok(Decimal::ZERO),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Decimal::ZERO),
        Some(Value::String(s)) => Decimal::from_str(s.trim())
            .or_else(|_| Decimal::from_scientific(s.trim()))
            .map_err(|_| format!("montant illisible « {s} » ({what})")),
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

/// A `*_gmt` date (`2025-01-06T09:00:00`, UTC, no suffix; a suffix is accepted too).
pub fn gmt(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        })
}

/// The value of `meta_data[key]` as text.
pub fn meta(o: &Value, key: &str) -> Option<String> {
    o.get("meta_data")?
        .as_array()?
        .iter()
        .find(|m| m.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|m| match m.get("value") {
            Some(Value::String(s)) => opt(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
}

/// The order id (`id`), as text; `None` when missing.
pub fn order_id(o: &Value) -> Option<String> {
    match o.get("id") {
        Some(Value::Number(n)) => n.as_u64().map(|v| v.to_string()),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok().map(|v| v.to_string()),
        _ => None,
    }
}

/// The customer id (0 for a guest).
pub fn customer_id(o: &Value) -> u64 {
    match o.get("customer_id") {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn address(a: Option<&Value>) -> Result<Address, String> {
    let Some(a) = a.filter(|a| a.is_object()) else {
        return Ok(Address::default());
    };
    Ok(Address {
        firstname: text(a, "first_name")?,
        lastname: text(a, "last_name")?,
        company: opt(text(a, "company")?),
        address1: text(a, "address_1")?,
        address2: opt(text(a, "address_2")?),
        postcode: text(a, "postcode")?,
        city: text(a, "city")?,
        country_iso: text(a, "country")?.to_ascii_uppercase(),
        state: opt(text(a, "state")?),
        phone: opt(text(a, "phone")?),
    })
}

/// Rates of the order's `tax_lines` by `rate_id`: (label, percent when given).
fn tax_rates(o: &Value) -> Result<HashMap<String, (String, Option<Decimal>)>, String> {
    let mut out = HashMap::new();
    for t in o
        .get("tax_lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = text(t, "rate_id")?;
        let pct = match t.get("rate_percent") {
            None | Some(Value::Null) => None,
            v => Some(dec(v, "rate_percent")?),
        };
        out.insert(id, (text(t, "label")?, pct));
    }
    Ok(out)
}

/// The rate of an amount with its tax: the declared rate of its (first non-zero) tax
/// line, else tax ÷ base rounded to 0.1 % (what French rates need: 5.5, 2.1).
fn rate_of(
    taxes: Option<&Value>,
    rates: &HashMap<String, (String, Option<Decimal>)>,
    base: Decimal,
    tax: Decimal,
) -> Result<(String, Decimal), String> {
    let mut name = String::new();
    for t in taxes.and_then(Value::as_array).into_iter().flatten() {
        let amount = dec(t.get("total"), "taxes.total")?;
        let id = text(t, "id")?;
        if let Some((label, pct)) = rates.get(&id) {
            name = label.clone();
            if let Some(p) = pct {
                if !amount.is_zero() || tax.is_zero() {
                    return Ok((label.clone(), *p));
                }
            }
        }
    }
    if base.is_zero() || tax.is_zero() {
        return Ok((name, Decimal::ZERO));
    }
    Ok((
        name,
        (tax * Decimal::from(100) / base).round_dp(1).normalize(),
    ))
}

/// True for a fee line that is gift wrapping (by its name: core has no wrapping).
fn is_gift_wrap(name: &str) -> bool {
    let n = name.to_lowercase();
    ["emballage", "cadeau", "gift", "wrap"]
        .iter()
        .any(|w| n.contains(w))
}

/// Maps one order. `erp_codes`: the ERP codes written back on the page's customers.
pub fn map_order(o: &Value, erp_codes: &HashMap<u64, String>) -> Result<ShopOrder, String> {
    let id = order_id(o).ok_or("identifiant de commande absent")?;
    let rates = tax_rates(o)?;
    let prices_include_tax = o
        .get("prices_include_tax")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let created_at = gmt(o.get("date_created_gmt")).ok_or("date de création absente")?;
    let updated_at = gmt(o.get("date_modified_gmt")).unwrap_or(created_at);
    let billing = address(o.get("billing"))?;
    let mut delivery = address(o.get("shipping"))?;
    if delivery.address1.trim().is_empty() {
        delivery = billing.clone();
    }
    let cid = customer_id(o);
    let b = o.get("billing").cloned().unwrap_or(Value::Null);
    let customer = ShopCustomer {
        id: cid.to_string(),
        email: text(&b, "email")?,
        firstname: billing.firstname.clone(),
        lastname: billing.lastname.clone(),
        company: billing.company.clone(),
        siret: meta(o, "_billing_siret").or_else(|| meta(o, "siret")),
        vat_number: meta(o, "_billing_vat_number")
            .or_else(|| meta(o, "vat_number"))
            .or_else(|| meta(o, "_vat_number")),
        is_guest: cid == 0,
        erp_code: erp_codes.get(&cid).cloned(),
    };

    let mut lines = Vec::new();
    let (mut products_excl, mut products_incl) = (Decimal::ZERO, Decimal::ZERO);
    for (i, l) in o
        .get("line_items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let what = |f: &str| format!("ligne {} : {f}", i + 1);
        let quantity = dec(l.get("quantity"), &what("quantity"))?;
        let subtotal = dec(l.get("subtotal"), &what("subtotal"))?;
        let subtotal_tax = dec(l.get("subtotal_tax"), &what("subtotal_tax"))?;
        let (tax_name, tax_rate) = rate_of(l.get("taxes"), &rates, subtotal, subtotal_tax)?;
        let (unit_excl, unit_incl) = if quantity.is_zero() {
            (Decimal::ZERO, Decimal::ZERO)
        } else if prices_include_tax {
            // The price the customer saw is the tax-inclusive one: keep it exact and derive
            // the exclusive unit price from it (rounded where the document is).
            let incl = ((subtotal + subtotal_tax) / quantity).round_dp(2);
            let excl = incl * Decimal::from(100) / (Decimal::from(100) + tax_rate);
            (excl.round_dp(6), incl)
        } else {
            let excl = subtotal / quantity;
            (
                excl.round_dp(6),
                ((subtotal + subtotal_tax) / quantity).round_dp(6),
            )
        };
        products_excl += subtotal;
        products_incl += subtotal + subtotal_tax;
        lines.push(OrderLine {
            reference: text(l, "sku")?.trim().to_string(),
            name: text(l, "name")?,
            quantity,
            unit_price_tax_excl: unit_excl,
            unit_price_tax_incl: unit_incl,
            discount_percent: Decimal::ZERO,
            discount_amount_tax_excl: Decimal::ZERO,
            // Coupons go to the order discounts below: the line keeps its pre-coupon total.
            total_tax_excl: subtotal,
            total_tax_incl: subtotal + subtotal_tax,
            tax_name,
            tax_rate,
            lot: None,
        });
    }
    if lines.is_empty() {
        return Err("commande sans ligne d'article".into());
    }

    let mut discounts = Vec::new();
    for c in o
        .get("coupon_lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let amount = dec(c.get("discount"), "coupon_lines.discount")?;
        let tax = dec(c.get("discount_tax"), "coupon_lines.discount_tax")?;
        if amount.is_zero() && tax.is_zero() {
            continue;
        }
        discounts.push(OrderDiscount {
            name: text(c, "code")?,
            amount_tax_incl: amount + tax,
            amount_tax_excl: amount,
        });
    }

    let mut shipping = Shipping {
        carrier_id: String::new(),
        carrier_name: String::new(),
        amount_tax_excl: Decimal::ZERO,
        amount_tax_incl: Decimal::ZERO,
        tax_rate: Decimal::ZERO,
    };
    for s in o
        .get("shipping_lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let total = dec(s.get("total"), "shipping_lines.total")?;
        let tax = dec(s.get("total_tax"), "shipping_lines.total_tax")?;
        if shipping.carrier_id.is_empty() {
            // `method_id:instance_id` (`flat_rate:2`), WooCommerce's own rate id: two flat
            // rates of one shop are two carriers; a profile rule naming only `flat_rate`
            // still covers both (`domain::orders::build::shipping_id`). `instance_id` is in
            // the order's `shipping_lines` of `woocommerce-openapi-3.0.x.yml`.
            let method = text(s, "method_id")?;
            let instance = text(s, "instance_id")?;
            shipping.carrier_id = match instance.trim() {
                "" | "0" => method,
                i => format!("{method}:{i}"),
            };
            shipping.carrier_name = text(s, "method_title")?;
            shipping.tax_rate = rate_of(s.get("taxes"), &rates, total, tax)?.1;
        }
        shipping.amount_tax_excl += total;
        shipping.amount_tax_incl += total + tax;
    }

    let mut wrapping: Option<Wrapping> = None;
    for f in o
        .get("fee_lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = text(f, "name")?;
        let total = dec(f.get("total"), "fee_lines.total")?;
        let tax = dec(f.get("total_tax"), "fee_lines.total_tax")?;
        if !is_gift_wrap(&name) {
            return Err(format!(
                "frais « {name} » ({total} HT) non pris en charge : seul l'emballage cadeau l'est"
            ));
        }
        let w = wrapping.get_or_insert(Wrapping {
            amount_tax_excl: Decimal::ZERO,
            amount_tax_incl: Decimal::ZERO,
            message: meta(f, "gift_message"),
        });
        w.amount_tax_excl += total;
        w.amount_tax_incl += total + tax;
    }

    let total = dec(o.get("total"), "total")?;
    let total_tax = dec(o.get("total_tax"), "total_tax")?;
    let payment_label = text(o, "payment_method_title")?;
    let paid_at = gmt(o.get("date_paid_gmt"));
    let payments = paid_at
        .map(|at| Payment {
            method: payment_label.clone(),
            amount: total,
            paid_at: at,
            transaction_id: opt(text(o, "transaction_id").unwrap_or_default()),
        })
        .into_iter()
        .collect();
    let note = text(o, "customer_note")?;
    Ok(ShopOrder {
        id,
        reference: opt(text(o, "number")?).unwrap_or_else(|| text(o, "id").unwrap_or_default()),
        shop_id: "1".into(),
        state_id: text(o, "status")?,
        created_at,
        updated_at,
        invoice_date: None,
        invoice_number: None,
        currency: text(o, "currency")?.to_ascii_uppercase(),
        // Core WooCommerce is single-currency: no rate on the order (platforms.md §2).
        conversion_rate: Decimal::ONE,
        customer,
        billing,
        delivery,
        lines,
        discounts,
        shipping,
        wrapping,
        payment_module: text(o, "payment_method")?,
        payment_label,
        payments,
        totals: OrderTotals {
            products_tax_excl: products_excl,
            products_tax_incl: products_incl,
            paid_tax_excl: total - total_tax,
            paid_tax_incl: total,
        },
        messages: opt(note).into_iter().collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        json!({
            "id": 42, "number": "42", "status": "processing", "currency": "eur",
            "prices_include_tax": false,
            "date_created_gmt": "2025-01-06T09:00:00", "date_modified_gmt": "2025-01-06T10:00:00",
            "date_paid_gmt": "2025-01-06T09:05:00",
            "customer_id": 0, "customer_note": "Livrer après 18 h",
            "billing": {"first_name": "Camille", "last_name": "Martin", "company": "",
                        "address_1": "12 rue des Lilas", "postcode": "69003", "city": "Lyon",
                        "country": "FR", "email": "c@example.fr", "phone": ""},
            "shipping": {"first_name": "", "last_name": "", "address_1": ""},
            "payment_method": "stripe", "payment_method_title": "Carte bancaire",
            "transaction_id": "pi_1",
            "meta_data": [{"id": 1, "key": "_billing_vat_number", "value": "FR123"}],
            "line_items": [
                {"sku": "A", "name": "Alpha", "quantity": 2, "subtotal": "20.00", "subtotal_tax": "4.00",
                 "total": "18.00", "total_tax": "3.60", "taxes": [{"id": 1, "total": "3.6", "subtotal": "4"}]},
                {"sku": "B", "name": "Beta", "quantity": 1, "subtotal": "10.00", "subtotal_tax": "0.55",
                 "total": "9.00", "total_tax": "0.50", "taxes": [{"id": 2, "total": "0.5", "subtotal": "0.55"}]}
            ],
            "tax_lines": [{"rate_id": 1, "label": "TVA 20 %", "rate_percent": 20},
                          {"rate_id": 2, "label": "TVA 5,5 %"}],
            "coupon_lines": [{"code": "bienvenue", "discount": "3.00", "discount_tax": "0.45"}],
            "shipping_lines": [{"method_id": "flat_rate", "method_title": "Colissimo", "total": "5.00",
                                "total_tax": "1.00", "taxes": [{"id": 1, "total": "1"}]}],
            "fee_lines": [{"name": "Emballage cadeau", "total": "2.50", "total_tax": "0.50"}],
            "total": "40.10", "total_tax": "5.60"
        })
    }

    #[test]
    fn a_guest_order_maps_with_lines_coupons_shipping_and_wrapping() {
        let o = map_order(&order(), &HashMap::new()).expect("maps");
        assert_eq!(o.id, "42");
        assert!(o.customer.is_guest);
        assert_eq!(o.customer.vat_number.as_deref(), Some("FR123"));
        assert_eq!(o.delivery.city, "Lyon", "empty shipping address: billing");
        assert_eq!(o.currency, "EUR");
        assert_eq!(o.lines[0].tax_rate, Decimal::from(20));
        assert_eq!(
            o.lines[1].tax_rate,
            Decimal::new(55, 1),
            "computed when no rate_percent"
        );
        assert_eq!(o.lines[0].unit_price_tax_excl, Decimal::from(10));
        assert_eq!(o.lines[0].total_tax_excl, Decimal::from(20));
        assert_eq!(o.discounts[0].amount_tax_incl, Decimal::new(345, 2));
        assert_eq!(o.shipping.amount_tax_incl, Decimal::from(6));
        assert_eq!(o.shipping.tax_rate, Decimal::from(20));
        assert_eq!(
            o.wrapping.as_ref().map(|w| w.amount_tax_incl),
            Some(Decimal::from(3))
        );
        assert_eq!(o.totals.paid_tax_incl, Decimal::new(4010, 2));
        assert_eq!(o.totals.paid_tax_excl, Decimal::new(3450, 2));
        assert_eq!(o.payments.len(), 1);
        assert_eq!(o.messages, vec!["Livrer après 18 h".to_string()]);
    }

    #[test]
    fn a_tax_inclusive_order_keeps_the_inclusive_unit_price() {
        let mut v = order();
        v["prices_include_tax"] = json!(true);
        v["line_items"][0]["subtotal"] = json!("24.92");
        v["line_items"][0]["subtotal_tax"] = json!("4.98");
        v["line_items"][0]["quantity"] = json!(1);
        let o = map_order(&v, &HashMap::new()).expect("maps");
        assert_eq!(o.lines[0].unit_price_tax_incl, Decimal::new(2990, 2));
    }

    #[test]
    fn bad_data_is_a_reason_not_a_panic() {
        let mut v = order();
        v["line_items"][0]["subtotal"] = json!("douze");
        assert!(map_order(&v, &HashMap::new())
            .unwrap_err()
            .contains("montant illisible"));
        let mut v = order();
        v["fee_lines"][0]["name"] = json!("Frais de dossier");
        assert!(map_order(&v, &HashMap::new())
            .unwrap_err()
            .contains("non pris en charge"));
        let mut v = order();
        v["line_items"] = json!([]);
        assert!(map_order(&v, &HashMap::new()).is_err());
    }

    #[test]
    fn a_customer_erp_code_comes_from_the_page_lookup() {
        let mut v = order();
        v["customer_id"] = json!(7);
        let codes = HashMap::from([(7u64, "CL0007".to_string())]);
        let o = map_order(&v, &codes).expect("maps");
        assert!(!o.customer.is_guest);
        assert_eq!(o.customer.erp_code.as_deref(), Some("CL0007"));
    }
}
