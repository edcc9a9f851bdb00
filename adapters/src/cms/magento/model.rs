//! Magento 2 order JSON, read defensively, and its mapping into the platform-neutral
//! [`ShopOrder`].
//!
//! Shapes (`cms-apis.md` §6 "Order fields", `platforms.md` §5 "Money/tax",
//! `specs/magento/admin-schema-2.4.8.yaml` `sales-data-order-interface`):
//! * amounts are JSON numbers, read from their text (the transport turns them into
//!   strings before parsing): never through `f64`;
//! * plain amounts are in the order currency (`order_currency_code`), `base_*` in the
//!   base currency; `base_to_order_rate` links them. [`Money::Order`] keeps the order
//!   currency with that rate (a foreign-currency ERP document), [`Money::Base`] the base
//!   currency at rate 1;
//! * lines: a configurable product is a parent row (price, taxes, the chosen simple's SKU)
//!   and a child row (`parent_item_id`, price 0): one line, the child's reference and name
//!   at the parent's amounts. A bundle's children are refused with a reason (their prices
//!   depend on the bundle's price type, not handled);
//! * `row_total` / `row_total_incl_tax` are before the cart rule; the cart rule (voucher)
//!   is the order's `discount_amount` (negative), tax-inclusive when the shop applies
//!   discounts on prices including tax, with its tax in
//!   `discount_tax_compensation_amount`: the ERP gets the lines before the voucher and the
//!   voucher as an order discount (excl. = incl. − compensation);
//! * shipping `shipping_amount` / `shipping_incl_tax`, the method code in
//!   `extension_attributes.shipping_assignments[0].shipping.method`;
//! * gift wrapping (Adobe Commerce) `extension_attributes.gw_price` / `gw_tax_amount`
//!   (strings), the message in `extension_attributes.gift_message.message`;
//! * guests `customer_is_guest` 1; VAT number `billing_address.vat_id` or
//!   `customer_taxvat`; core Magento has no SIRET;
//! * dates `Y-m-d H:i:s` in UTC without offset (`platforms.md` §5, magento2#24985).

use chrono::{DateTime, NaiveDateTime, Utc};
use passerelle_domain::orders::{
    Address, OrderDiscount, OrderLine, OrderTotals, Payment, Shipping, ShopCustomer, ShopOrder,
    Wrapping,
};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;

/// Prefix of the order comment carrying the ERP document number.
pub const DOCUMENT_COMMENT_PREFIX: &str = "Document EBP : ";
/// Prefix of the order comment carrying the delivery date set from the ERP.
pub const DELIVERY_COMMENT_PREFIX: &str = "Livraison prévue : ";

/// Longest text field accepted (bytes).
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Which amounts become the ERP document's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Money {
    /// The order currency (what the customer paid), with `base_to_order_rate`.
    #[default]
    Order,
    /// The store's base currency (`base_*` amounts), rate 1.
    Base,
}

/// A decimal from a number's text or a string ("12.50"); absent or empty → 0.
pub fn dec(v: Option<&Value>, what: &str) -> Result<Decimal, String> {
    match v {
        None | Some(Value::Null) => Ok(Decimal::ZERO),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Decimal::ZERO),
        Some(Value::String(s)) => Decimal::from_str(s.trim())
            .or_else(|_| Decimal::from_scientific(s.trim()))
            .map_err(|_| format!("montant illisible « {s} » ({what})")),
        // Only when a caller parsed without the transport's number guard.
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

/// An unsigned id from a number or its text.
pub fn uint(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A Magento date (`2025-01-06 09:00:00`, UTC; an ISO form is accepted too).
pub fn utc(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        })
}

/// The order's `entity_id` as text.
pub fn order_id(o: &Value) -> Option<String> {
    uint(o.get("entity_id")).map(|v| v.to_string())
}

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !matches!(s.trim(), "" | "0" | "false"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        _ => false,
    }
}

fn address(a: Option<&Value>) -> Result<Address, String> {
    let Some(a) = a.filter(|a| a.is_object()) else {
        return Ok(Address::default());
    };
    let street: Vec<String> = match a.get("street") {
        Some(Value::Array(l)) => l
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s.lines().map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let region = opt(text(a, "region_code")?).or(opt(text(a, "region")?));
    Ok(Address {
        firstname: text(a, "firstname")?,
        lastname: text(a, "lastname")?,
        company: opt(text(a, "company")?),
        address1: street.first().cloned().unwrap_or_default(),
        address2: opt(street.get(1..).map(|r| r.join(" ")).unwrap_or_default()),
        postcode: text(a, "postcode")?,
        city: text(a, "city")?,
        country_iso: text(a, "country_id")?.to_ascii_uppercase(),
        state: region,
        phone: opt(text(a, "telephone")?),
    })
}

/// Rate in percent of `tax` on `base`, rounded to 0.1 % (French rates: 5.5, 2.1).
fn rate_of(base: Decimal, tax: Decimal) -> Decimal {
    if base.is_zero() || tax.is_zero() {
        return Decimal::ZERO;
    }
    (tax * Decimal::from(100) / base).round_dp(1).normalize()
}

/// The amount named `field` in the chosen currency (`base_field` for [`Money::Base`]).
fn amount(o: &Value, field: &str, money: Money) -> Result<Decimal, String> {
    let key = match money {
        Money::Order => field.to_string(),
        Money::Base => format!("base_{field}"),
    };
    // A base amount missing on an old order: the order one, converted back.
    match (money, o.get(&key)) {
        (Money::Base, None | Some(Value::Null)) => dec(o.get(field), field),
        (_, v) => dec(v, &key),
    }
}

/// Maps one order.
pub fn map_order(o: &Value, money: Money) -> Result<ShopOrder, String> {
    let id = order_id(o).ok_or("identifiant de commande (entity_id) absent")?;
    let created_at = utc(o.get("created_at")).ok_or("date de création absente")?;
    let updated_at = utc(o.get("updated_at")).unwrap_or(created_at);
    let billing = address(o.get("billing_address"))?;
    let ext = o
        .get("extension_attributes")
        .cloned()
        .unwrap_or(Value::Null);
    let shipping_assignment = ext
        .get("shipping_assignments")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|a| a.get("shipping"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut delivery = address(shipping_assignment.get("address"))?;
    if delivery.address1.trim().is_empty() {
        delivery = billing.clone();
    }
    let guest = flag(o.get("customer_is_guest"));
    let customer_id = if guest {
        "0".to_string()
    } else {
        uint(o.get("customer_id")).unwrap_or(0).to_string()
    };
    let b = o.get("billing_address").cloned().unwrap_or(Value::Null);
    let customer = ShopCustomer {
        id: customer_id,
        email: opt(text(o, "customer_email")?)
            .or(opt(text(&b, "email")?))
            .unwrap_or_default(),
        firstname: opt(text(o, "customer_firstname")?).unwrap_or(billing.firstname.clone()),
        lastname: opt(text(o, "customer_lastname")?).unwrap_or(billing.lastname.clone()),
        company: billing.company.clone(),
        siret: None,
        vat_number: opt(text(&b, "vat_id")?).or(opt(text(o, "customer_taxvat")?)),
        is_guest: guest,
        erp_code: None,
    };

    let (currency, conversion_rate) = match money {
        Money::Order => {
            let rate = dec(o.get("base_to_order_rate"), "base_to_order_rate")?;
            (
                text(o, "order_currency_code")?,
                if rate.is_zero() { Decimal::ONE } else { rate },
            )
        }
        Money::Base => (text(o, "base_currency_code")?, Decimal::ONE),
    };

    let rows: Vec<&Value> = o
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    // Children by parent item id (a configurable's chosen simple).
    let mut children: HashMap<u64, Vec<&Value>> = HashMap::new();
    for r in &rows {
        if let Some(p) = uint(r.get("parent_item_id")) {
            children.entry(p).or_default().push(r);
        }
    }
    let mut lines = Vec::new();
    let (mut products_excl, mut products_incl) = (Decimal::ZERO, Decimal::ZERO);
    for (i, l) in rows.iter().enumerate() {
        if uint(l.get("parent_item_id")).is_some() {
            continue;
        }
        let what = |f: &str| format!("ligne {} : {f}", i + 1);
        let kind = text(l, "product_type")?;
        let kids = uint(l.get("item_id"))
            .and_then(|id| children.get(&id))
            .cloned()
            .unwrap_or_default();
        let (reference, name) = match (kind.as_str(), kids.first()) {
            ("configurable", Some(child)) => (text(child, "sku")?, text(child, "name")?),
            ("bundle", Some(_)) => {
                return Err(format!(
                    "ligne {} : produit groupé (bundle) « {} » non pris en charge",
                    i + 1,
                    text(l, "sku")?
                ))
            }
            _ => (text(l, "sku")?, text(l, "name")?),
        };
        let quantity = dec(l.get("qty_ordered"), &what("qty_ordered"))?;
        let row = amount(l, "row_total", money)?;
        let row_incl = amount(l, "row_total_incl_tax", money)?;
        let tax_rate = match l.get("tax_percent") {
            None | Some(Value::Null) => rate_of(row, row_incl - row),
            v => dec(v, &what("tax_percent"))?.normalize(),
        };
        let (unit_excl, unit_incl) = if quantity.is_zero() {
            (Decimal::ZERO, Decimal::ZERO)
        } else {
            (
                (row / quantity).round_dp(6),
                (row_incl / quantity).round_dp(6),
            )
        };
        products_excl += row;
        products_incl += row_incl;
        lines.push(OrderLine {
            reference: reference.trim().to_string(),
            name,
            quantity,
            unit_price_tax_excl: unit_excl,
            unit_price_tax_incl: unit_incl,
            discount_percent: Decimal::ZERO,
            discount_amount_tax_excl: Decimal::ZERO,
            // The voucher goes to the order discounts below: the line keeps its total
            // before the cart rule.
            total_tax_excl: row,
            total_tax_incl: row_incl,
            tax_name: if tax_rate.is_zero() {
                String::new()
            } else {
                format!("TVA {} %", tax_rate.to_string().replace('.', ","))
            },
            tax_rate,
            lot: None,
        });
    }
    if lines.is_empty() {
        return Err("commande sans ligne d'article".into());
    }

    let mut discounts = Vec::new();
    let discount_incl = amount(o, "discount_amount", money)?.abs();
    if !discount_incl.is_zero() {
        let compensation = amount(o, "discount_tax_compensation_amount", money)?.abs();
        let name = opt(text(o, "discount_description")?)
            .or(opt(text(o, "coupon_code")?))
            .unwrap_or_else(|| "Remise".into());
        discounts.push(OrderDiscount {
            name,
            amount_tax_incl: discount_incl,
            amount_tax_excl: discount_incl - compensation,
        });
    }

    let ship_excl = amount(o, "shipping_amount", money)?;
    let ship_incl = match o.get(if money == Money::Base {
        "base_shipping_incl_tax"
    } else {
        "shipping_incl_tax"
    }) {
        None | Some(Value::Null) => ship_excl + amount(o, "shipping_tax_amount", money)?,
        v => dec(v, "shipping_incl_tax")?,
    };
    let method = text(&shipping_assignment, "method")?;
    let shipping = Shipping {
        carrier_id: method,
        carrier_name: text(o, "shipping_description")?,
        amount_tax_excl: ship_excl,
        amount_tax_incl: ship_incl,
        tax_rate: rate_of(ship_excl, ship_incl - ship_excl),
    };

    let gw_price = match money {
        Money::Order => dec(ext.get("gw_price"), "gw_price")?,
        Money::Base => dec(ext.get("gw_base_price"), "gw_base_price")?,
    };
    let gw_tax = match money {
        Money::Order => dec(ext.get("gw_tax_amount"), "gw_tax_amount")?,
        Money::Base => dec(ext.get("gw_base_tax_amount"), "gw_base_tax_amount")?,
    };
    let wrapping = (!gw_price.is_zero()).then(|| Wrapping {
        amount_tax_excl: gw_price,
        amount_tax_incl: gw_price + gw_tax,
        message: ext
            .get("gift_message")
            .and_then(|g| g.get("message"))
            .and_then(Value::as_str)
            .and_then(|m| opt(m.to_string())),
    });

    let total = amount(o, "grand_total", money)?;
    let tax = amount(o, "tax_amount", money)?;
    let paid = amount(o, "total_paid", money)?;
    let pay = o.get("payment").cloned().unwrap_or(Value::Null);
    let payment_module = text(&pay, "method")?;
    let payment_label = pay
        .get("additional_information")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .and_then(|s| opt(s.to_string()))
        .unwrap_or_else(|| payment_module.clone());
    let payments = (!paid.is_zero())
        .then(|| Payment {
            method: payment_label.clone(),
            amount: paid,
            paid_at: created_at,
            transaction_id: opt(text(&pay, "last_trans_id").unwrap_or_default()),
        })
        .into_iter()
        .collect();
    let note = text(o, "customer_note")?;
    Ok(ShopOrder {
        id: id.clone(),
        reference: opt(text(o, "increment_id")?).unwrap_or(id),
        shop_id: opt(text(o, "store_id")?).unwrap_or_else(|| "1".into()),
        state_id: text(o, "status")?,
        created_at,
        updated_at,
        invoice_date: None,
        invoice_number: None,
        currency: currency.trim().to_ascii_uppercase(),
        conversion_rate,
        customer,
        billing,
        delivery,
        lines,
        discounts,
        shipping,
        wrapping,
        payment_module,
        payment_label,
        payments,
        totals: OrderTotals {
            products_tax_excl: products_excl,
            products_tax_incl: products_incl,
            paid_tax_excl: total - tax,
            paid_tax_incl: total,
        },
        messages: opt(note).into_iter().collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cms::magento::http::parse;

    /// An order as Magento sends it (numbers as numbers), read through the transport's
    /// exact parse.
    fn order() -> Value {
        parse(
            r#"{
            "entity_id": 7, "increment_id": "000000007", "store_id": 1, "status": "processing",
            "created_at": "2025-01-06 09:00:00", "updated_at": "2025-01-06 09:30:00",
            "order_currency_code": "USD", "base_currency_code": "EUR", "base_to_order_rate": 1.08,
            "customer_is_guest": 1, "customer_email": "g@example.com",
            "customer_firstname": "Ann", "customer_lastname": "Lee", "customer_note": "Merci",
            "billing_address": {"firstname": "Ann", "lastname": "Lee", "street": ["1 Main St", "Apt 2"],
                "city": "Boston", "postcode": "02101", "country_id": "us", "region_code": "MA",
                "telephone": "555", "vat_id": ""},
            "items": [
              {"item_id": 71, "sku": "TAPI-Gris-Pla", "name": "Tapis plat", "product_type": "configurable",
               "qty_ordered": 2, "row_total": 378, "row_total_incl_tax": 453.6, "tax_percent": 20,
               "base_row_total": 350, "base_row_total_incl_tax": 420},
              {"item_id": 72, "parent_item_id": 71, "sku": "TAPI-Gris-Pla", "name": "Tapis gris plat 160x230",
               "product_type": "simple", "qty_ordered": 2, "price": 0, "row_total": 0, "row_total_incl_tax": 0},
              {"item_id": 73, "sku": "THE-Vert-100", "name": "Thé", "product_type": "simple",
               "qty_ordered": 1, "row_total": 8.2, "row_total_incl_tax": 8.65, "tax_percent": 5.5}
            ],
            "discount_amount": -5, "discount_tax_compensation_amount": 0.83, "discount_description": "Bienvenue",
            "shipping_amount": 25, "shipping_incl_tax": 25, "shipping_description": "DHL",
            "grand_total": 481.25, "tax_amount": 74.88, "total_paid": 481.25,
            "base_grand_total": 445.6, "base_tax_amount": 69.33, "base_total_paid": 445.6,
            "payment": {"method": "checkmo", "additional_information": ["Chèque"], "last_trans_id": ""},
            "extension_attributes": {
              "shipping_assignments": [{"shipping": {"method": "tablerate_bestway", "address": {}}}],
              "gw_price": "2.5000", "gw_tax_amount": "0.5000", "gift_message": {"message": "Bravo"}
            }
        }"#
            .as_bytes(),
            "t",
        )
        .unwrap()
    }

    #[test]
    fn a_configurable_row_becomes_the_child_reference_at_the_parent_price() {
        let o = map_order(&order(), Money::Order).unwrap();
        assert_eq!(o.lines.len(), 2, "parent + child are one line");
        assert_eq!(o.lines[0].reference, "TAPI-Gris-Pla");
        assert_eq!(o.lines[0].name, "Tapis gris plat 160x230");
        assert_eq!(o.lines[0].unit_price_tax_excl, Decimal::from(189));
        assert_eq!(o.lines[0].tax_rate, Decimal::from(20));
        assert_eq!(o.lines[1].tax_rate, Decimal::new(55, 1));
        assert_eq!(o.lines[1].total_tax_incl, Decimal::new(865, 2));
    }

    #[test]
    fn money_is_exact_with_the_rate_and_the_discount_compensation() {
        let o = map_order(&order(), Money::Order).unwrap();
        assert_eq!(o.currency, "USD");
        assert_eq!(o.conversion_rate, Decimal::new(108, 2));
        assert_eq!(o.totals.paid_tax_incl, Decimal::new(48125, 2));
        assert_eq!(o.discounts[0].amount_tax_incl, Decimal::from(5));
        assert_eq!(o.discounts[0].amount_tax_excl, Decimal::new(417, 2));
        assert_eq!(o.shipping.carrier_id, "tablerate_bestway");
        assert_eq!(
            o.wrapping.as_ref().map(|w| w.amount_tax_incl),
            Some(Decimal::from(3))
        );
        assert!(o.customer.is_guest);
        assert_eq!(o.delivery.city, "Boston", "empty shipping: billing");
        assert_eq!(o.billing.address2.as_deref(), Some("Apt 2"));
        let b = map_order(&order(), Money::Base).unwrap();
        assert_eq!(b.currency, "EUR");
        assert_eq!(b.conversion_rate, Decimal::ONE);
        assert_eq!(b.totals.paid_tax_incl, Decimal::new(4456, 1));
        assert_eq!(b.lines[0].total_tax_excl, Decimal::from(350));
    }

    #[test]
    fn bad_data_is_a_reason_not_a_panic() {
        let mut v = order();
        v["items"][2]["row_total"] = Value::String("douze".into());
        assert!(map_order(&v, Money::Order)
            .unwrap_err()
            .contains("montant illisible"));
        let mut v = order();
        v["items"][0]["product_type"] = Value::String("bundle".into());
        assert!(map_order(&v, Money::Order).unwrap_err().contains("bundle"));
        let mut v = order();
        v["items"] = Value::Array(Vec::new());
        assert!(map_order(&v, Money::Order).is_err());
    }
}
