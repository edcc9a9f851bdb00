//! PrestaShop webservice JSON, read defensively, and its mapping into [`ShopOrder`].
//!
//! What the JSON output looks like (PrestaShop 1.7 / 8.x, `output_format=JSON`):
//! * a list is `{"orders":[{…},{…}]}`, but an **empty** list is a bare `[]` (PrestaShop
//!   issues #10172 and #22760; fixed only in recent versions, so both shapes are accepted);
//! * one resource is `{"order":{…}}`;
//! * values are strings (`"12.500000"`, `"1"`), except `id` which is often a JSON number;
//! * multilingual fields are `[{"id":"1","value":"…"}]` (or a plain string with `language=N`);
//! * `associations` holds linked ids (`order_rows`, `taxes`, …).
//!
//! Field names come from `PS-docs:webservice/resources/orders.md`, `addresses.md`,
//! `order_cart_rules.md`, `currencies.md`, `carriers.md`, `order_states.md`, and the field
//! list of `order_details` / `order_payments` / `order_carriers` / `customers` gathered in
//! `/work/shared/reference/cms-apis.md` §1.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use passerelle_domain::orders::{
    Address, OrderDiscount, OrderLine, OrderTotals, Payment, Shipping, ShopCustomer, ShopOrder,
    Wrapping,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;

/// A JSON object as PrestaShop returns it.
pub type Obj = serde_json::Map<String, Value>;

/// Longest text field accepted in an order (bytes). PrestaShop's own fields are at most a
/// few kilobytes (`gift_message` is an `isMessage`, `note` an `isCleanHtml`); anything far
/// larger is a broken or hostile row and would bloat the ERP import and the event log.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Prefix of the line Passerelle manages in the customer's private `note`.
pub const ERP_CODE_PREFIX: &str = "Code client EBP : ";

/// Prefix of the line Passerelle manages in the order's private `note`.
pub const DOCUMENT_PREFIX: &str = "Document EBP : ";

/// PrestaShop's "no date" value (invoice_date of an order not invoiced, …).
const ZERO_DATE: &str = "0000-00-00";

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Parses a list answer (`{"<resource>":[…]}` or `[]`). The error is a French reason.
pub(crate) fn parse_list(body: &[u8], resource: &str) -> Result<Vec<Obj>, String> {
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "réponse « {resource} » illisible : UTF-8 invalide à l'octet {}",
            e.valid_up_to()
        )
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("réponse « {resource} » illisible : JSON invalide ({e})"))?;
    match value {
        Value::Array(a) if a.is_empty() => Ok(Vec::new()),
        Value::Object(mut o) => match o.remove(resource) {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::Object(o) => Ok(o),
                    other => Err(format!(
                        "réponse « {resource} » inattendue : élément {other} au lieu d'un objet"
                    )),
                })
                .collect(),
            // `{"orders":[]}` in fixed versions, `{}` seen with some modules.
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(format!(
                "réponse « {resource} » inattendue : « {resource} » n'est pas une liste"
            )),
        },
        _ => Err(format!(
            "réponse « {resource} » inattendue : ni objet ni liste vide"
        )),
    }
}

/// Parses a single-resource answer (`{"order":{…}}`).
pub(crate) fn parse_single(body: &[u8], singular: &str) -> Result<Obj, String> {
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "données illisibles : UTF-8 invalide à l'octet {}",
            e.valid_up_to()
        )
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("données illisibles : JSON invalide ({e})"))?;
    match value {
        Value::Object(mut o) => match o.remove(singular) {
            Some(Value::Object(inner)) => Ok(inner),
            _ => Err(format!("réponse inattendue : pas d'objet « {singular} »")),
        },
        _ => Err(format!("réponse inattendue : pas d'objet « {singular} »")),
    }
}

/// Text of a scalar field (`""` when missing or null). Numbers become their decimal text.
pub(crate) fn text(o: &Obj, field: &str) -> String {
    match o.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => if *b { "1" } else { "0" }.to_string(),
        Some(v @ Value::Array(_)) => multilang(v),
        _ => String::new(),
    }
}

/// Trimmed text, `None` when empty.
pub(crate) fn opt_text(o: &Obj, field: &str) -> Option<String> {
    let t = text(o, field);
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// An id field, `None` when empty or `0` (PrestaShop's "no link").
pub(crate) fn opt_id(o: &Obj, field: &str) -> Option<String> {
    opt_text(o, field).filter(|v| v != "0")
}

/// A multilingual value: the first language's text (the webservice lists the languages in
/// id order, the shop's default first in a standard install).
pub(crate) fn multilang(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .find_map(|i| i.get("value").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// A decimal field; empty or missing is zero (PrestaShop leaves optional amounts empty).
pub(crate) fn dec(o: &Obj, field: &str) -> Result<Decimal, String> {
    let t = text(o, field);
    let t = t.trim();
    if t.is_empty() {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_str(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map(|d| d.normalize())
        .map_err(|_| format!("nombre illisible dans « {field} » : « {} »", short(t)))
}

/// A date field (`YYYY-MM-DD HH:MM:SS` in the shop's time zone); `None` when empty or
/// `0000-00-00 00:00:00`.
pub(crate) fn date(
    o: &Obj,
    field: &str,
    offset: FixedOffset,
) -> Result<Option<DateTime<Utc>>, String> {
    let t = text(o, field);
    let t = t.trim();
    if t.is_empty() || t.starts_with(ZERO_DATE) {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| format!("date illisible dans « {field} » : « {} »", short(t)))?;
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|d| Some(d.with_timezone(&Utc)))
        .ok_or_else(|| format!("date impossible dans « {field} » : « {t} »"))
}

/// A required date.
fn req_date(o: &Obj, field: &str, offset: FixedOffset) -> Result<DateTime<Utc>, String> {
    date(o, field, offset)?.ok_or_else(|| format!("date manquante : « {field} »"))
}

/// Ids listed in `associations.<name>`.
pub(crate) fn association_ids(o: &Obj, name: &str) -> Vec<String> {
    o.get("associations")
        .and_then(|a| a.get(name))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_object().map(|i| text(i, "id")))
                .filter(|id| !id.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The first string longer than [`MAX_FIELD_BYTES`], searched through nested values.
pub(crate) fn oversized_field(o: &Obj) -> Option<(String, usize)> {
    fn walk(name: &str, v: &Value) -> Option<(String, usize)> {
        match v {
            Value::String(s) if s.len() > MAX_FIELD_BYTES => Some((name.to_string(), s.len())),
            Value::Array(a) => a.iter().find_map(|i| walk(name, i)),
            Value::Object(o) => o.iter().find_map(|(k, v)| walk(k, v)),
            _ => None,
        }
    }
    o.iter().find_map(|(k, v)| walk(k, v))
}

/// The value of the line starting with `prefix` in a note, if any.
pub fn tagged_value(note: &str, prefix: &str) -> Option<String> {
    note.lines()
        .find_map(|l| l.trim().strip_prefix(prefix.trim_end()))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The note with the `prefix` line set to `value` (replaced, or appended after the
/// merchant's own text), or `None` when it already says so — writes stay idempotent and
/// never erase what the merchant typed.
pub fn with_tagged_line(note: &str, prefix: &str, value: &str) -> Option<String> {
    let wanted = format!("{prefix}{value}");
    let mut found = false;
    let mut changed = false;
    let mut lines: Vec<String> = Vec::new();
    for l in note.lines() {
        if l.trim().starts_with(prefix.trim_end()) {
            if found {
                changed = true; // a duplicate managed line: drop it
                continue;
            }
            found = true;
            if l.trim() != wanted {
                changed = true;
            }
            lines.push(wanted.clone());
        } else {
            lines.push(l.to_string());
        }
    }
    if !found {
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        lines.push(wanted);
        changed = true;
    }
    changed.then(|| lines.join("\n"))
}

// ---------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------

/// A tax (`PS-docs:webservice/resources/taxes.md`: `rate`, multilingual `name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsTax {
    /// Tax id.
    pub id: String,
    /// Name (first language).
    pub name: String,
    /// Rate in percent.
    pub rate: Decimal,
}

/// Something with an id and a name (order state, carrier, shop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsNamed {
    /// Id in the shop.
    pub id: String,
    /// Name (first language).
    pub name: String,
}

/// Something with an id, an ISO code and a name (currency, country).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsCoded {
    /// Id in the shop.
    pub id: String,
    /// ISO code (`EUR`, `FR`).
    pub iso_code: String,
    /// Name (first language).
    pub name: String,
}

/// What `refresh-config` shows the merchant to map shop values to ERP values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PsConfiguration {
    /// Order states (`order_states`).
    pub order_states: Vec<PsNamed>,
    /// Taxes (`taxes`).
    pub taxes: Vec<PsTax>,
    /// Carriers (`carriers`, deleted ones left out).
    pub carriers: Vec<PsNamed>,
    /// Currencies (`currencies`).
    pub currencies: Vec<PsCoded>,
    /// Countries (`countries`).
    pub countries: Vec<PsCoded>,
    /// Shops (`shops`, multi-shop).
    pub shops: Vec<PsNamed>,
    /// Payment modules seen on recent orders (distinct `orders.module`).
    pub payment_modules: Vec<String>,
}

/// Reference data cached by the client: ids to codes, names and rates.
#[derive(Debug, Clone, Default)]
pub(crate) struct RefData {
    pub(crate) taxes: HashMap<String, PsTax>,
    pub(crate) countries: HashMap<String, String>,
    pub(crate) states: HashMap<String, String>,
    pub(crate) currencies: HashMap<String, String>,
    pub(crate) carriers: HashMap<String, String>,
}

impl RefData {
    pub(crate) fn from_rows(
        taxes: &[Obj],
        countries: &[Obj],
        states: &[Obj],
        currencies: &[Obj],
        carriers: &[Obj],
    ) -> Result<RefData, String> {
        let mut r = RefData::default();
        for t in taxes {
            let tax = PsTax {
                id: text(t, "id"),
                name: text(t, "name"),
                rate: dec(t, "rate").map_err(|e| format!("taxe {} : {e}", text(t, "id")))?,
            };
            r.taxes.insert(tax.id.clone(), tax);
        }
        for c in countries {
            r.countries.insert(text(c, "id"), text(c, "iso_code"));
        }
        for s in states {
            r.states.insert(text(s, "id"), text(s, "iso_code"));
        }
        for c in currencies {
            r.currencies.insert(text(c, "id"), text(c, "iso_code"));
        }
        for c in carriers {
            r.carriers.insert(text(c, "id"), text(c, "name"));
        }
        Ok(r)
    }

    /// True when every id the page needs is known.
    pub(crate) fn covers(&self, needs: &RefNeeds) -> bool {
        needs.taxes.iter().all(|i| self.taxes.contains_key(i))
            && needs
                .countries
                .iter()
                .all(|i| self.countries.contains_key(i))
            && needs.states.iter().all(|i| self.states.contains_key(i))
            && needs
                .currencies
                .iter()
                .all(|i| self.currencies.contains_key(i))
            && needs.carriers.iter().all(|i| self.carriers.contains_key(i))
    }
}

/// Reference ids a page uses.
#[derive(Debug, Default)]
pub(crate) struct RefNeeds {
    pub(crate) taxes: Vec<String>,
    pub(crate) countries: Vec<String>,
    pub(crate) states: Vec<String>,
    pub(crate) currencies: Vec<String>,
    pub(crate) carriers: Vec<String>,
}

// ---------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------

/// Rows read for one page, keyed for the mapping. A key whose batch could not be read
/// carries the reason in `failed`.
#[derive(Debug, Default)]
pub(crate) struct PageRows {
    /// `order_details` by `id_order`.
    pub(crate) details: HashMap<String, Vec<Obj>>,
    /// `customers` by id.
    pub(crate) customers: HashMap<String, Obj>,
    /// `addresses` by id.
    pub(crate) addresses: HashMap<String, Obj>,
    /// `order_cart_rules` by `id_order`.
    pub(crate) cart_rules: HashMap<String, Vec<Obj>>,
    /// `order_payments` by `order_reference`.
    pub(crate) payments: HashMap<String, Vec<Obj>>,
    /// `order_carriers` by `id_order`.
    pub(crate) carriers: HashMap<String, Vec<Obj>>,
    /// `(resource, key)` → why it could not be read.
    pub(crate) failed: HashMap<(&'static str, String), String>,
}

impl PageRows {
    fn check(&self, resource: &'static str, key: &str) -> Result<(), String> {
        match self.failed.get(&(resource, key.to_string())) {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }
}

/// Maps one order and its rows into a [`ShopOrder`]; the error is the French reason the
/// order is refused for.
pub(crate) fn map_order(
    o: &Obj,
    rows: &PageRows,
    refs: &RefData,
    offset: FixedOffset,
) -> Result<ShopOrder, String> {
    let id = text(o, "id");
    if let Some((field, len)) = oversized_field(o) {
        return Err(format!(
            "champ « {field} » trop long : {len} octets (maximum {MAX_FIELD_BYTES})"
        ));
    }
    let reference = text(o, "reference");

    // Customer and addresses.
    let customer_id = opt_id(o, "id_customer").ok_or("commande sans client (id_customer)")?;
    rows.check("customers", &customer_id)?;
    let c = rows
        .customers
        .get(&customer_id)
        .ok_or_else(|| format!("client {customer_id} introuvable (customers)"))?;
    let address = |field: &str| -> Result<Address, String> {
        let aid = opt_id(o, field).ok_or_else(|| format!("adresse manquante ({field})"))?;
        rows.check("addresses", &aid)?;
        let a = rows
            .addresses
            .get(&aid)
            .ok_or_else(|| format!("adresse {aid} introuvable (addresses, {field})"))?;
        map_address(a, refs)
    };
    let billing = address("id_address_invoice")?;
    let delivery = address("id_address_delivery")?;
    let billing_vat = opt_id(o, "id_address_invoice")
        .and_then(|aid| rows.addresses.get(&aid))
        .and_then(|a| opt_text(a, "vat_number"));
    let customer = ShopCustomer {
        id: customer_id.clone(),
        email: text(c, "email").trim().to_string(),
        firstname: text(c, "firstname").trim().to_string(),
        lastname: text(c, "lastname").trim().to_string(),
        company: opt_text(c, "company").or_else(|| billing.company.clone()),
        siret: opt_text(c, "siret").map(|s| s.replace(' ', "")),
        vat_number: billing_vat.map(|v| v.replace(' ', "")),
        is_guest: text(c, "is_guest").trim() == "1",
        erp_code: tagged_value(&text(c, "note"), ERP_CODE_PREFIX),
    };

    // Lines.
    rows.check("order_details", &id)?;
    let details = rows.details.get(&id).map(Vec::as_slice).unwrap_or(&[]);
    let expected = association_ids(o, "order_rows");
    let missing: Vec<&String> = expected
        .iter()
        .filter(|rid| !details.iter().any(|d| &text(d, "id") == *rid))
        .collect();
    if !missing.is_empty() || (details.is_empty() && expected.is_empty()) {
        let list = missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(if details.is_empty() {
            "aucune ligne de commande (order_details) pour cette commande".to_string()
        } else {
            format!("lignes de commande manquantes (order_details) : {list}")
        });
    }
    let lines = details
        .iter()
        .map(|d| map_line(d, refs))
        .collect::<Result<Vec<_>, _>>()?;

    // Discounts.
    rows.check("order_cart_rules", &id)?;
    let discounts = rows
        .cart_rules
        .get(&id)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter(|r| text(r, "deleted") != "1")
        .map(|r| {
            Ok(OrderDiscount {
                name: text(r, "name"),
                amount_tax_incl: dec(r, "value")?.abs(),
                amount_tax_excl: dec(r, "value_tax_excl")?.abs(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;

    // Shipping: the carrier actually on the order (order_carriers), else orders.id_carrier.
    rows.check("order_carriers", &id)?;
    let carrier_id = rows
        .carriers
        .get(&id)
        .and_then(|v| v.first())
        .and_then(|oc| opt_id(oc, "id_carrier"))
        .or_else(|| opt_id(o, "id_carrier"))
        .unwrap_or_default();
    let carrier_name = if carrier_id.is_empty() {
        String::new()
    } else {
        refs.carriers
            .get(&carrier_id)
            .cloned()
            .ok_or_else(|| format!("transporteur {carrier_id} inconnu (carriers)"))?
    };
    let shipping = Shipping {
        carrier_id,
        carrier_name,
        amount_tax_excl: dec(o, "total_shipping_tax_excl")?,
        amount_tax_incl: dec(o, "total_shipping_tax_incl")?,
        tax_rate: dec(o, "carrier_tax_rate")?,
    };

    let gift = text(o, "gift").trim() == "1";
    let gift_message = opt_text(o, "gift_message");
    let wrapping = if gift {
        Some(Wrapping {
            amount_tax_excl: dec(o, "total_wrapping_tax_excl")?,
            amount_tax_incl: dec(o, "total_wrapping_tax_incl")?,
            message: gift_message.clone(),
        })
    } else {
        None
    };

    // Payments, by order reference (a split cart shares one reference).
    rows.check("order_payments", &reference)?;
    let payments = rows
        .payments
        .get(&reference)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|p| {
            Ok(Payment {
                method: text(p, "payment_method"),
                amount: dec(p, "amount")?,
                paid_at: req_date(p, "date_add", offset)?,
                transaction_id: opt_text(p, "transaction_id"),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;

    let currency_id = text(o, "id_currency");
    let currency = refs
        .currencies
        .get(&currency_id)
        .cloned()
        .ok_or_else(|| format!("devise {currency_id} inconnue (currencies)"))?;

    let mut messages = Vec::new();
    if let Some(m) = gift_message {
        messages.push(m);
    }
    let note_text: Vec<String> = text(o, "note")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(DOCUMENT_PREFIX.trim_end()))
        .map(str::to_string)
        .collect();
    if !note_text.is_empty() {
        messages.push(note_text.join("\n"));
    }

    let invoice_number = opt_text(o, "invoice_number").filter(|n| n != "0");

    Ok(ShopOrder {
        id: id.clone(),
        reference,
        shop_id: opt_text(o, "id_shop").unwrap_or_else(|| "1".into()),
        state_id: text(o, "current_state"),
        created_at: req_date(o, "date_add", offset)?,
        updated_at: req_date(o, "date_upd", offset)?,
        invoice_date: date(o, "invoice_date", offset)?,
        invoice_number,
        currency,
        conversion_rate: dec(o, "conversion_rate")?,
        customer,
        billing,
        delivery,
        lines,
        discounts,
        shipping,
        wrapping,
        payment_module: text(o, "module"),
        payment_label: text(o, "payment"),
        payments,
        totals: OrderTotals {
            products_tax_excl: dec(o, "total_products")?,
            products_tax_incl: dec(o, "total_products_wt")?,
            paid_tax_excl: dec(o, "total_paid_tax_excl")?,
            paid_tax_incl: dec(o, "total_paid_tax_incl")?,
        },
        messages,
    })
}

fn map_address(a: &Obj, refs: &RefData) -> Result<Address, String> {
    let country_id = text(a, "id_country");
    let country_iso = refs
        .countries
        .get(&country_id)
        .cloned()
        .ok_or_else(|| format!("pays {country_id} inconnu (countries)"))?;
    let state = match opt_id(a, "id_state") {
        Some(sid) => Some(
            refs.states
                .get(&sid)
                .cloned()
                .ok_or_else(|| format!("région {sid} inconnue (states)"))?,
        ),
        None => None,
    };
    Ok(Address {
        firstname: text(a, "firstname").trim().to_string(),
        lastname: text(a, "lastname").trim().to_string(),
        company: opt_text(a, "company"),
        address1: text(a, "address1").trim().to_string(),
        address2: opt_text(a, "address2"),
        postcode: text(a, "postcode").trim().to_string(),
        city: text(a, "city").trim().to_string(),
        country_iso,
        state,
        phone: opt_text(a, "phone").or_else(|| opt_text(a, "phone_mobile")),
    })
}

/// One `order_details` row. PrestaShop's `unit_price_tax_excl` is the price *after* the
/// line reduction and `product_price` the price before it; the domain wants the price
/// before the discount plus the discount, so a reduced line takes `product_price` and
/// derives the tax-included price before discount from the line's rate.
fn map_line(d: &Obj, refs: &RefData) -> Result<OrderLine, String> {
    let reference = text(d, "product_reference").trim().to_string();
    let what = if reference.is_empty() {
        format!("ligne {}", text(d, "id"))
    } else {
        format!("ligne {reference}")
    };
    let ctx = |e: String| format!("{what} : {e}");
    let mut tax_rate = Decimal::ZERO;
    let mut names = Vec::new();
    for tid in association_ids(d, "taxes") {
        let t = refs
            .taxes
            .get(&tid)
            .ok_or_else(|| ctx(format!("taxe {tid} inconnue (taxes)")))?;
        tax_rate += t.rate;
        names.push(t.name.clone());
    }
    let unit_excl_after = dec(d, "unit_price_tax_excl").map_err(ctx)?;
    let unit_incl_after = dec(d, "unit_price_tax_incl").map_err(ctx)?;
    let percent = dec(d, "reduction_percent").map_err(ctx)?;
    let amount = dec(d, "reduction_amount_tax_excl").map_err(ctx)?;
    let amount_incl = dec(d, "reduction_amount_tax_incl").map_err(ctx)?;
    let (unit_excl, unit_incl) = if percent.is_zero() && amount.is_zero() {
        (unit_excl_after, unit_incl_after)
    } else {
        let before = dec(d, "product_price").map_err(ctx)?;
        let incl = if !amount_incl.is_zero() && percent.is_zero() {
            unit_incl_after + amount_incl
        } else {
            (before * (Decimal::ONE_HUNDRED + tax_rate) / Decimal::ONE_HUNDRED).round_dp(6)
        };
        (before, incl.normalize())
    };
    Ok(OrderLine {
        reference,
        name: text(d, "product_name").trim().to_string(),
        quantity: dec(d, "product_quantity").map_err(ctx)?,
        unit_price_tax_excl: unit_excl,
        unit_price_tax_incl: unit_incl,
        discount_percent: percent,
        discount_amount_tax_excl: amount,
        total_tax_excl: dec(d, "total_price_tax_excl").map_err(ctx)?,
        total_tax_incl: dec(d, "total_price_tax_incl").map_err(ctx)?,
        tax_name: names.join(" + "),
        tax_rate,
        lot: None,
    })
}

/// Tax, country, state, currency and carrier ids an order page uses.
pub(crate) fn ref_needs(orders: &[Obj], rows: &PageRows) -> RefNeeds {
    let mut n = RefNeeds::default();
    for o in orders {
        n.currencies.push(text(o, "id_currency"));
        if let Some(c) = opt_id(o, "id_carrier") {
            n.carriers.push(c);
        }
    }
    for d in rows.details.values().flatten() {
        n.taxes.extend(association_ids(d, "taxes"));
    }
    for c in rows.carriers.values().flatten() {
        if let Some(id) = opt_id(c, "id_carrier") {
            n.carriers.push(id);
        }
    }
    for a in rows.addresses.values() {
        n.countries.push(text(a, "id_country"));
        if let Some(s) = opt_id(a, "id_state") {
            n.states.push(s);
        }
    }
    n
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_is_a_bare_array() {
        assert!(parse_list(b"[]", "orders").unwrap_or_default().is_empty());
        assert!(parse_list(br#"{"orders":[]}"#, "orders")
            .unwrap_or_default()
            .is_empty());
        let one = parse_list(br#"{"orders":[{"id":4,"reference":"X"}]}"#, "orders");
        assert_eq!(one.map(|v| text(&v[0], "id")), Ok("4".to_string()));
        assert!(parse_list(
            b"{\"orders\":[{\"id\":4,\"payment\":\"Ch\xe8que\"}]}",
            "orders"
        )
        .is_err_and(|e| e.contains("UTF-8")));
    }

    #[test]
    fn dates_and_numbers() {
        let o: Obj = serde_json::from_str(
            r#"{"a":"0000-00-00 00:00:00","b":"2025-03-01 10:00:00","n":"12.500000","x":"1,5"}"#,
        )
        .unwrap_or_default();
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(date(&o, "a", utc), Ok(None));
        assert!(date(&o, "b", utc).is_ok_and(|d| d.is_some()));
        assert_eq!(dec(&o, "n"), Ok(Decimal::new(125, 1)));
        assert!(dec(&o, "x").is_err_and(|e| e.contains("« x »")));
    }

    #[test]
    fn tagged_lines_are_set_to_and_keep_the_merchant_text() {
        assert_eq!(
            with_tagged_line("", ERP_CODE_PREFIX, "CL1"),
            Some("Code client EBP : CL1".into())
        );
        let n = "Client fidèle\nCode client EBP : CL1";
        assert_eq!(with_tagged_line(n, ERP_CODE_PREFIX, "CL1"), None);
        assert_eq!(
            with_tagged_line(n, ERP_CODE_PREFIX, "CL2"),
            Some("Client fidèle\nCode client EBP : CL2".into())
        );
        assert_eq!(tagged_value(n, ERP_CODE_PREFIX), Some("CL1".into()));
    }
}
