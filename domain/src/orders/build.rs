//! Building the ERP document from a shop order (FEATURES §3.3).
//!
//! Everything here is pure: the order, the profile's settings, the resolved customer, the
//! ERP articles known and the day of the import come in; a document (or a French reason why
//! the order cannot become one) comes out. One small function per rule.
//!
//! Decisions that were not obvious:
//! - **Discount lines** carry quantity 1 and a *negative* unit price (the ERP then shows a
//!   negative amount on a normal quantity, which is how EBP users key discounts by hand).
//! - **Order-level discounts** are split across the VAT codes of the product lines pro rata
//!   of each code's net base (tax excluded, from the shop's line totals); each share is
//!   rounded half-up at the price precision and the residue goes to the largest base (first
//!   one on ties), so the shares add up exactly to the discount. In tax-inclusive documents a
//!   share is then grossed up with its rate; any cent left over is caught by the gap line.
//! - **The gap line** uses the default VAT code when one is set (with the rate of a tax rule
//!   mapping to that code, else 0 %), otherwise the first product line's code and rate; its
//!   amount is chosen so that the document's total incl. tax, computed under the profile's
//!   VAT rounding rule ([`super::totals`]), equals the amount paid exactly. The finished
//!   document is checked once more: an order whose total would still differ fails with the
//!   reason (also when the gap line is turned off), so no document is written with a total
//!   other than what the customer paid.
//! - **Amounts in a foreign currency** converted back to the default currency are divided by
//!   the order's conversion rate; unit prices are then rounded at the price precision, totals
//!   and payments at the cent.
//! - **The accounting category** follows the *delivery* country (the VAT destination of
//!   goods).
//! - **Payments** with the `payment-date` choice in order-total mode take the order date
//!   (there is no single shop payment to take a date from); gap payments take the document
//!   date, or the order date for the other choices.

use super::totals::{cents, document_totals, gap_lines, FooterShipping, GapContext};
use super::*;
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// Why an order cannot become a document (French first; shown in the journal). The caller
/// fails the order with this reason and goes on with the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OrderError(pub String);

/// What the document rules need besides the order and the settings.
#[derive(Debug, Clone)]
pub struct BuildContext<'a> {
    /// The profile's settings.
    pub settings: &'a OrderSettings,
    /// The status rule matching the order's state.
    pub status: &'a StatusRule,
    /// The resolved customer.
    pub customer: &'a CustomerResolution,
    /// ERP articles known, by reference.
    pub items: &'a BTreeMap<String, ErpItem>,
    /// The day of the import.
    pub today: NaiveDate,
}

/// Longest text accepted in names, addresses and messages: beyond, the data is garbage.
const MAX_TEXT: usize = 10_000;
/// Longest document reference the ERP keeps.
const MAX_REFERENCE: usize = 70;
/// Size of the ERP custom field `atoosync_order`.
const MAX_ATOOSYNC_ORDER: usize = 32;

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

/// Checks the order's own data. Every problem found is listed (joined by ` ; `), so the
/// shop owner fixes them all at once.
pub fn validate_order(order: &ShopOrder) -> Result<(), OrderError> {
    let mut reasons = Vec::new();
    if order.lines.is_empty() {
        reasons.push("commande sans ligne (order without lines)".to_string());
    }
    for (index, line) in order.lines.iter().enumerate() {
        check_line(index + 1, line, &mut reasons);
    }
    check_amounts(order, &mut reasons);
    check_addresses(order, &mut reasons);
    if !order.customer.is_guest && order.customer.email.trim().is_empty() {
        reasons.push("e-mail du client absent (missing customer e-mail)".to_string());
    }
    check_lengths(order, &mut reasons);
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(OrderError(reasons.join(" ; ")))
    }
}

fn check_line(number: usize, line: &OrderLine, reasons: &mut Vec<String>) {
    if line.reference.trim().is_empty() {
        reasons.push(format!(
            "référence vide sur la ligne {number} ({}) (empty reference)",
            line.name
        ));
    }
    let reference = &line.reference;
    if line.quantity <= Decimal::ZERO {
        reasons.push(format!(
            "quantité négative ou nulle ({}) pour la référence {reference} (non-positive quantity)",
            line.quantity.normalize()
        ));
    }
    // Unit prices and the unit discount are prices; a negative one is an error of its own.
    for price in [
        line.unit_price_tax_excl,
        line.unit_price_tax_incl,
        line.discount_amount_tax_excl,
    ] {
        if price < Decimal::ZERO {
            reasons.push(format!(
                "prix unitaire négatif ({}) pour la référence {reference} (negative unit price)",
                price.normalize()
            ));
            break;
        }
    }
    // A line total is quantity × price: negative with a negative quantity, which is already
    // reported above (a negative total there is no "negative price").
    if line.quantity > Decimal::ZERO {
        for total in [line.total_tax_excl, line.total_tax_incl] {
            if total < Decimal::ZERO {
                reasons.push(format!(
                    "total de ligne négatif ({}) pour la référence {reference} (negative line total)",
                    total.normalize()
                ));
                break;
            }
        }
    }
    if !valid_rate(line.tax_rate) {
        reasons.push(format!(
            "taux de TVA invalide ({} %) pour la référence {reference} (invalid tax rate)",
            line.tax_rate.normalize()
        ));
    }
    if line.discount_percent < Decimal::ZERO || line.discount_percent > Decimal::ONE_HUNDRED {
        reasons.push(format!(
            "remise invalide ({} %) pour la référence {reference} (invalid discount)",
            line.discount_percent.normalize()
        ));
    }
}

fn valid_rate(rate: Decimal) -> bool {
    rate >= Decimal::ZERO && rate <= Decimal::ONE_HUNDRED
}

fn check_amounts(order: &ShopOrder, reasons: &mut Vec<String>) {
    let s = &order.shipping;
    if s.amount_tax_excl < Decimal::ZERO || s.amount_tax_incl < Decimal::ZERO {
        reasons.push("frais de port négatifs (negative shipping)".to_string());
    }
    if !valid_rate(s.tax_rate) {
        reasons.push(format!(
            "taux de TVA invalide ({} %) pour le port (invalid tax rate)",
            s.tax_rate.normalize()
        ));
    }
    if let Some(w) = &order.wrapping {
        if w.amount_tax_excl < Decimal::ZERO || w.amount_tax_incl < Decimal::ZERO {
            reasons.push("emballage cadeau négatif (negative gift wrapping)".to_string());
        }
    }
    for d in &order.discounts {
        if d.amount_tax_excl < Decimal::ZERO || d.amount_tax_incl < Decimal::ZERO {
            reasons.push(format!(
                "remise négative pour « {} » (negative discount)",
                d.name
            ));
        }
    }
    let t = &order.totals;
    for (name, value) in [
        ("produits HT", t.products_tax_excl),
        ("produits TTC", t.products_tax_incl),
        ("payé HT", t.paid_tax_excl),
        ("payé TTC", t.paid_tax_incl),
    ] {
        if value < Decimal::ZERO {
            reasons.push(format!(
                "total négatif : {name} = {} (negative total)",
                value.normalize()
            ));
        }
    }
    if order.conversion_rate <= Decimal::ZERO {
        reasons.push(format!(
            "taux de conversion invalide ({}) (invalid conversion rate)",
            order.conversion_rate.normalize()
        ));
    }
}

fn check_addresses(order: &ShopOrder, reasons: &mut Vec<String>) {
    if order.billing.country_iso.trim().is_empty() {
        reasons.push("pays absent de l'adresse de facturation (missing billing country)".into());
    }
    if order.delivery.country_iso.trim().is_empty() {
        reasons.push("pays absent de l'adresse de livraison (missing delivery country)".into());
    }
}

/// Names, addresses and messages longer than [`MAX_TEXT`] are refused, naming the field.
fn check_lengths(order: &ShopOrder, reasons: &mut Vec<String>) {
    let c = &order.customer;
    let mut fields: Vec<(String, &str)> = vec![
        ("prénom du client".into(), &c.firstname),
        ("nom du client".into(), &c.lastname),
        ("e-mail du client".into(), &c.email),
        (
            "société du client".into(),
            c.company.as_deref().unwrap_or(""),
        ),
    ];
    for (label, a) in [
        ("adresse de facturation", &order.billing),
        ("adresse de livraison", &order.delivery),
    ] {
        fields.extend([
            (format!("{label}, prénom"), a.firstname.as_str()),
            (format!("{label}, nom"), a.lastname.as_str()),
            (
                format!("{label}, société"),
                a.company.as_deref().unwrap_or(""),
            ),
            (format!("{label}, ligne 1"), a.address1.as_str()),
            (
                format!("{label}, ligne 2"),
                a.address2.as_deref().unwrap_or(""),
            ),
            (format!("{label}, code postal"), a.postcode.as_str()),
            (format!("{label}, ville"), a.city.as_str()),
        ]);
    }
    for (i, line) in order.lines.iter().enumerate() {
        fields.push((format!("libellé de la ligne {}", i + 1), &line.name));
    }
    for (i, message) in order.messages.iter().enumerate() {
        fields.push((format!("message {}", i + 1), message));
    }
    if let Some(message) = order.wrapping.as_ref().and_then(|w| w.message.as_deref()) {
        fields.push(("message cadeau".into(), message));
    }
    for (field, value) in fields {
        let length = value.chars().count();
        if length > MAX_TEXT {
            reasons.push(format!(
                "champ trop long : {field} ({length} caractères, {MAX_TEXT} au plus) (field too long)"
            ));
        }
    }
}

/// Checks the mandatory special articles are set and exist in the ERP (by code). One
/// message lists every problem: the import refuses to run until they are all fixed.
pub fn check_special_articles(
    settings: &OrderSettings,
    items: &BTreeMap<String, ErpItem>,
) -> Result<(), String> {
    let sp = &settings.special;
    let mut wanted: Vec<(&str, String)> = vec![
        (sp.misc.as_str(), "divers".to_string()),
        (sp.gap.as_str(), "écart".to_string()),
        (sp.gift_wrap.as_str(), "emballage cadeau".to_string()),
        (sp.shipping.as_str(), "port".to_string()),
    ];
    for (vat_code, article) in &sp.discount_by_vat {
        wanted.push((article.as_str(), format!("remise {vat_code}")));
    }
    let empty: Vec<&str> = wanted
        .iter()
        .filter(|(code, _)| code.trim().is_empty())
        .map(|(_, role)| role.as_str())
        .collect();
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(code, _)| !code.trim().is_empty() && !items.contains_key(*code))
        .map(|(code, role)| format!("{code} ({role})"))
        .collect();
    let mut problems = Vec::new();
    if !empty.is_empty() {
        problems.push(format!(
            "codes d'articles spéciaux vides : {} — import refusé (empty special article codes)",
            empty.join(", ")
        ));
    }
    if !missing.is_empty() {
        problems.push(format!(
            "articles spéciaux absents de l'ERP : {} — import refusé (missing special articles)",
            missing.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(" ; "))
    }
}

// ---------------------------------------------------------------------------------------
// Mappings
// ---------------------------------------------------------------------------------------

/// The payment rule for an order: the module (or label) matched case-insensitively, a rule
/// for the order's currency preferred over a rule for any currency; else the default rule.
pub fn payment_rule<'a>(order: &ShopOrder, settings: &'a OrderSettings) -> Option<&'a PaymentRule> {
    let key = if settings.payment_key_is_label {
        &order.payment_label
    } else {
        &order.payment_module
    };
    let key = key.trim();
    let candidates = || {
        settings
            .payments
            .iter()
            .filter(move |r| eq_ci(&r.module, key))
    };
    candidates()
        .find(|r| {
            r.currency
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(&order.currency))
        })
        .or_else(|| candidates().find(|r| r.currency.is_none()))
        .or(settings.default_payment.as_ref())
}

/// Case-insensitive comparison that also folds non-ASCII letters (`Chèque` = `CHÈQUE`).
fn eq_ci(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// The ERP accounting category of an order: the delivery country (`CC-STATE` first, then
/// `CC`) looked up in the table for sales with or without tax, else that table's default.
/// A sale is without tax when every product line has a 0 % rate (intra-EU B2B, export).
pub fn accounting_category(order: &ShopOrder, settings: &OrderSettings) -> String {
    let map = &settings.countries;
    let without_tax = !order.lines.is_empty() && order.lines.iter().all(|l| l.tax_rate.is_zero());
    let (table, default) = if without_tax {
        (&map.without_tax, &map.default_without_tax)
    } else {
        (&map.with_tax, &map.default_with_tax)
    };
    let country = order.delivery.country_iso.trim().to_uppercase();
    let with_state = order
        .delivery
        .state
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| format!("{country}-{}", s.trim().to_uppercase()));
    with_state
        .and_then(|k| table.get(&k))
        .or_else(|| table.get(&country))
        .unwrap_or(default)
        .clone()
}

/// The ERP VAT code of a shop tax. A rule must have the same rate; a rule with a name must
/// also have the same name (case-insensitive) and beats a rule without name. `name: None`
/// (shipping, wrapping: the shop gives no tax name) accepts any rule of that rate, rules
/// without name first. Else the default VAT code.
pub fn vat_code(settings: &OrderSettings, rate: Decimal, name: Option<&str>) -> Option<String> {
    let same_rate = || settings.taxes.iter().filter(move |r| r.rate == rate);
    let named =
        name.and_then(|n| same_rate().find(|r| r.name.as_deref().is_some_and(|rn| eq_ci(rn, n))));
    let unnamed = || same_rate().find(|r| r.name.is_none());
    let any = || match name {
        None => same_rate().next(),
        Some(_) => None,
    };
    named
        .or_else(unnamed)
        .or_else(any)
        .map(|r| r.vat_code.clone())
        .or_else(|| settings.default_vat_code.clone())
}

fn require_vat_code(
    settings: &OrderSettings,
    rate: Decimal,
    name: Option<&str>,
) -> Result<String, OrderError> {
    vat_code(settings, rate, name).ok_or_else(|| {
        OrderError(format!(
            "taux de TVA inconnu {} % ({}) (unknown tax rate)",
            rate.normalize(),
            name.unwrap_or("")
        ))
    })
}

/// The ERP shipping mode of the order's carrier: a rule naming the carrier id wins over a
/// rule naming the carrier name (case-insensitive), which wins over a rule naming the
/// carrier's type; else the default.
///
/// A carrier id may be qualified as `type:instance` (WooCommerce's shipping rate id, e.g.
/// `flat_rate:2`: two flat rates of one shop are two carriers for the merchant); a rule
/// naming only the type (`flat_rate`) covers every instance no other rule names.
pub fn shipping_id(order: &ShopOrder, settings: &OrderSettings) -> Option<String> {
    let s = &order.shipping;
    let id = s.carrier_id.trim();
    let by_id = |want: &str| {
        settings
            .carriers
            .iter()
            .find(|r| !want.is_empty() && r.carrier.trim() == want)
    };
    by_id(id)
        .or_else(|| {
            settings
                .carriers
                .iter()
                .find(|r| !s.carrier_name.trim().is_empty() && eq_ci(&r.carrier, &s.carrier_name))
        })
        .or_else(|| id.split_once(':').and_then(|(kind, _)| by_id(kind.trim())))
        .map(|r| r.shipping_id.clone())
        .or_else(|| settings.default_shipping_id.clone())
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/// Half-up rounding (`MidpointAwayFromZero`): what invoices expect, not banker's rounding.
pub fn round_half_up(value: Decimal, decimals: u32) -> Decimal {
    value.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero)
}

/// Fills a reference or payment-label template. Placeholders: `%OI` order id, `%OR` order
/// reference, `%CF` customer first name, `%CL` customer last name upper-cased, `%CC`
/// company, `%CI` customer id. One pass, so a value containing `%OI` is not expanded again.
pub fn fill_template(template: &str, order: &ShopOrder) -> String {
    let c = &order.customer;
    let value = |tag: &str| -> Option<String> {
        Some(match tag {
            "%OI" => order.id.clone(),
            "%OR" => order.reference.clone(),
            "%CF" => c.firstname.trim().to_string(),
            "%CL" => c.lastname.trim().to_uppercase(),
            "%CC" => c.company.clone().unwrap_or_default(),
            "%CI" => c.id.clone(),
            _ => return None,
        })
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        match after.get(..3).and_then(value) {
            Some(v) => {
                out.push_str(&v);
                rest = &after[3..];
            }
            None => {
                out.push('%');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The customer's name on documents: the company if any, else `LASTNAME Firstname`.
pub fn customer_display_name(customer: &ShopCustomer) -> String {
    match customer.company.as_deref().map(str::trim) {
        Some(company) if !company.is_empty() => company.to_string(),
        _ => format!(
            "{} {}",
            customer.lastname.trim().to_uppercase(),
            customer.firstname.trim()
        )
        .trim()
        .to_string(),
    }
}

/// The document date per the settings (UTC dates).
pub fn document_date(order: &ShopOrder, choice: DocumentDateChoice, today: NaiveDate) -> NaiveDate {
    match choice {
        DocumentDateChoice::OrderDate => order.created_at.date_naive(),
        DocumentDateChoice::InvoiceDate => {
            order.invoice_date.unwrap_or(order.created_at).date_naive()
        }
        DocumentDateChoice::Today => today,
    }
}

/// The forced document number, when the shop number is used: the invoice number for
/// invoices (falling back to the order reference), the order reference otherwise.
fn document_number(
    order: &ShopOrder,
    settings: &OrderSettings,
    kind: DocumentKind,
) -> Option<String> {
    if !settings.shop_number_as_document_number {
        return None;
    }
    let invoice = order
        .invoice_number
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    match (kind, invoice) {
        (DocumentKind::Invoice, Some(n)) => Some(n.to_string()),
        _ => Some(order.reference.clone()),
    }
}

/// The currency the document is written in, and how the order's amounts get there.
struct Money {
    /// ERP currency code.
    currency: String,
    /// Divide order amounts by this (conversion back to the default currency).
    divide_by: Option<Decimal>,
    /// Rate written on a foreign-currency document.
    conversion_rate: Option<Decimal>,
}

impl Money {
    fn new(order: &ShopOrder, settings: &OrderSettings) -> Self {
        let erp_currency = |iso: &str| {
            settings
                .currencies
                .get(iso)
                .cloned()
                .unwrap_or_else(|| iso.to_string())
        };
        let foreign = !order
            .currency
            .trim()
            .eq_ignore_ascii_case(settings.shop_default_currency.trim());
        if !foreign {
            Money {
                currency: erp_currency(&order.currency),
                divide_by: None,
                conversion_rate: None,
            }
        } else if settings.foreign_currency_documents {
            Money {
                currency: erp_currency(&order.currency),
                divide_by: None,
                conversion_rate: Some(order.conversion_rate),
            }
        } else {
            Money {
                currency: erp_currency(&settings.shop_default_currency),
                divide_by: Some(order.conversion_rate),
                conversion_rate: None,
            }
        }
    }

    /// An order amount in the document's currency, unrounded.
    fn amount(&self, value: Decimal) -> Decimal {
        match self.divide_by {
            Some(rate) => value / rate,
            None => value,
        }
    }
}

fn gross_up(net: Decimal, rate: Decimal) -> Decimal {
    net * (Decimal::ONE + rate / Decimal::ONE_HUNDRED)
}

// ---------------------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------------------

/// One product line of the order as a document line.
fn product_line(
    line: &OrderLine,
    cx: &BuildContext<'_>,
    money: &Money,
) -> Result<DocumentLine, OrderError> {
    let s = cx.settings;
    let known = cx.items.get(line.reference.trim());
    let (kind, item_id, description) = match known {
        Some(item) => {
            let description = if s.erp_labels {
                item.caption.clone()
            } else {
                line.name.clone()
            };
            (LineKind::Product, item.id.clone(), description)
        }
        // The misc. article keeps the shop label and price (FEATURES §3.3).
        None if s.misc_for_unknown => (LineKind::Misc, s.special.misc.clone(), line.name.clone()),
        None => {
            return Err(OrderError(format!(
                "référence inconnue dans l'ERP : {} (unknown reference)",
                line.reference
            )))
        }
    };
    let (unit, total) = if s.tax_inclusive {
        (line.unit_price_tax_incl, line.total_tax_incl)
    } else {
        (line.unit_price_tax_excl, line.total_tax_excl)
    };
    let (unit_price, discount_percent) = if s.no_line_discounts {
        // The net price per unit, taken from the shop's line total (exact).
        (total / line.quantity, Decimal::ZERO)
    } else {
        (unit, line_discount_percent(line))
    };
    Ok(DocumentLine {
        kind,
        item_id,
        description,
        quantity: line.quantity,
        unit_price: round_half_up(money.amount(unit_price), s.precision),
        discount_percent,
        vat_code: require_vat_code(s, line.tax_rate, Some(&line.tax_name))?,
        vat_rate: line.tax_rate,
        lot: if s.lot_numbers {
            line.lot.clone()
        } else {
            None
        },
    })
}

/// The line discount in percent: the shop's percent, else the per-unit discount amount over
/// the unit price (rounded to 4 decimals, the ERP's discount precision).
fn line_discount_percent(line: &OrderLine) -> Decimal {
    if !line.discount_percent.is_zero() {
        line.discount_percent
    } else if !line.discount_amount_tax_excl.is_zero() && !line.unit_price_tax_excl.is_zero() {
        round_half_up(
            line.discount_amount_tax_excl / line.unit_price_tax_excl * Decimal::ONE_HUNDRED,
            4,
        )
    } else {
        Decimal::ZERO
    }
}

fn caption_or(cx: &BuildContext<'_>, item_id: &str, fallback: &str) -> String {
    match cx.items.get(item_id) {
        Some(item) if cx.settings.erp_labels || fallback.trim().is_empty() => item.caption.clone(),
        _ => fallback.to_string(),
    }
}

/// A special line (shipping, gift wrap, discount, gap): quantity 1, no discount, no lot.
fn special_line(
    kind: LineKind,
    item_id: &str,
    description: String,
    unit_price: Decimal,
    vat_code: String,
    vat_rate: Decimal,
) -> DocumentLine {
    DocumentLine {
        kind,
        item_id: item_id.to_string(),
        description,
        quantity: Decimal::ONE,
        unit_price,
        discount_percent: Decimal::ZERO,
        vat_code,
        vat_rate,
        lot: None,
    }
}

/// Shipping as an article line, when the option is on and there is something to charge.
fn shipping_line(
    order: &ShopOrder,
    cx: &BuildContext<'_>,
    money: &Money,
) -> Result<Option<DocumentLine>, OrderError> {
    let s = cx.settings;
    let sh = &order.shipping;
    if !s.shipping_as_line || sh.amount_tax_excl <= Decimal::ZERO {
        return Ok(None);
    }
    let price = if s.tax_inclusive {
        sh.amount_tax_incl
    } else {
        sh.amount_tax_excl
    };
    Ok(Some(special_line(
        LineKind::Shipping,
        &s.special.shipping,
        caption_or(cx, &s.special.shipping, &sh.carrier_name),
        round_half_up(money.amount(price), s.precision),
        require_vat_code(s, sh.tax_rate, None)?,
        sh.tax_rate,
    )))
}

/// The gift-wrapping line. The shop gives no tax rate for wrapping: it is inferred from the
/// two amounts (to 0.1 %), snapped to a product line's rate (and code) when one is that
/// close, else looked up in the tax mapping.
fn gift_wrap_line(
    order: &ShopOrder,
    cx: &BuildContext<'_>,
    money: &Money,
    products: &[DocumentLine],
) -> Result<Option<DocumentLine>, OrderError> {
    let s = cx.settings;
    let Some(w) = order.wrapping.as_ref() else {
        return Ok(None);
    };
    if w.amount_tax_excl <= Decimal::ZERO && w.amount_tax_incl <= Decimal::ZERO {
        return Ok(None);
    }
    let inferred = if w.amount_tax_excl.is_zero() {
        Decimal::ZERO
    } else {
        round_half_up(
            (w.amount_tax_incl - w.amount_tax_excl) / w.amount_tax_excl * Decimal::ONE_HUNDRED,
            1,
        )
    };
    let tolerance = Decimal::new(1, 1);
    let (vat_code, vat_rate) = match products
        .iter()
        .find(|l| (l.vat_rate - inferred).abs() <= tolerance)
    {
        Some(l) => (l.vat_code.clone(), l.vat_rate),
        None => (require_vat_code(s, inferred, None)?, inferred),
    };
    let price = if s.tax_inclusive {
        w.amount_tax_incl
    } else {
        w.amount_tax_excl
    };
    Ok(Some(special_line(
        LineKind::GiftWrap,
        &s.special.gift_wrap,
        caption_or(cx, &s.special.gift_wrap, "Emballage cadeau"),
        round_half_up(money.amount(price), s.precision),
        vat_code,
        vat_rate,
    )))
}

/// The net base (tax excluded) of one VAT code among the product lines.
#[derive(Debug, Clone, PartialEq)]
struct VatBase {
    vat_code: String,
    vat_rate: Decimal,
    base: Decimal,
}

/// Product lines grouped by VAT code, in order of first appearance, with their net base
/// (tax excluded, in the document's currency).
fn vat_bases(order: &ShopOrder, products: &[DocumentLine], money: &Money) -> Vec<VatBase> {
    let mut bases: Vec<VatBase> = Vec::new();
    for (line, doc) in order.lines.iter().zip(products) {
        let base = money.amount(line.total_tax_excl);
        match bases.iter_mut().find(|b| b.vat_code == doc.vat_code) {
            Some(b) => b.base += base,
            None => bases.push(VatBase {
                vat_code: doc.vat_code.clone(),
                vat_rate: doc.vat_rate,
                base,
            }),
        }
    }
    bases
}

/// Splits `total` across the bases pro rata, each share rounded half-up at `decimals`; the
/// rounding residue goes to the largest base (the first on ties) so the shares add up
/// exactly to `total`. With no base at all, the first code takes everything.
pub fn split_pro_rata(total: Decimal, bases: &[Decimal], decimals: u32) -> Vec<Decimal> {
    if bases.is_empty() {
        return Vec::new();
    }
    let sum: Decimal = bases.iter().sum();
    let mut shares: Vec<Decimal> = if sum.is_zero() {
        let mut v = vec![Decimal::ZERO; bases.len()];
        v[0] = total;
        v
    } else {
        bases
            .iter()
            .map(|b| round_half_up(total * b / sum, decimals))
            .collect()
    };
    let residue = total - shares.iter().sum::<Decimal>();
    let mut largest = 0;
    for (i, b) in bases.iter().enumerate() {
        if *b > bases[largest] {
            largest = i;
        }
    }
    shares[largest] += residue;
    shares
}

/// The order-level discounts as one Discount line per VAT code (quantity 1, negative unit
/// price), with the discount article of that code.
fn discount_lines(
    order: &ShopOrder,
    cx: &BuildContext<'_>,
    money: &Money,
    products: &[DocumentLine],
) -> Result<Vec<DocumentLine>, OrderError> {
    let s = cx.settings;
    let total: Decimal = order.discounts.iter().map(|d| d.amount_tax_excl).sum();
    let total = round_half_up(money.amount(total), s.precision);
    if total.is_zero() {
        return Ok(Vec::new());
    }
    let bases = vat_bases(order, products, money);
    let amounts: Vec<Decimal> = bases.iter().map(|b| b.base).collect();
    let shares = split_pro_rata(total, &amounts, s.precision);
    let names: Vec<&str> = order.discounts.iter().map(|d| d.name.as_str()).collect();
    let description = names.join(", ");
    let mut lines = Vec::new();
    for (b, share) in bases.iter().zip(shares) {
        if share.is_zero() {
            continue;
        }
        let article = s.special.discount_by_vat.get(&b.vat_code).ok_or_else(|| {
            OrderError(format!(
                "article de remise absent pour le code TVA {} (missing discount article)",
                b.vat_code
            ))
        })?;
        let price = if s.tax_inclusive {
            round_half_up(gross_up(share, b.vat_rate), s.precision)
        } else {
            share
        };
        lines.push(special_line(
            LineKind::Discount,
            article,
            caption_or(cx, article, &description),
            -price,
            b.vat_code.clone(),
            b.vat_rate,
        ));
    }
    Ok(lines)
}

/// The gap line's VAT code and rate: the default VAT code (rate from a tax rule mapping to
/// it, else 0 %), else the first product line's.
fn gap_vat(settings: &OrderSettings, products: &[DocumentLine]) -> Option<(String, Decimal)> {
    match &settings.default_vat_code {
        Some(code) => {
            let rate = settings
                .taxes
                .iter()
                .find(|r| &r.vat_code == code)
                .map_or(Decimal::ZERO, |r| r.rate);
            Some((code.clone(), rate))
        }
        None => products.first().map(|l| (l.vat_code.clone(), l.vat_rate)),
    }
}

// ---------------------------------------------------------------------------------------
// Payments, addresses, notes
// ---------------------------------------------------------------------------------------

/// The document's payments (empty when payments are off, no rule matches, or the rule
/// says not to create one).
fn payments(
    order: &ShopOrder,
    settings: &OrderSettings,
    money: &Money,
    document_date: NaiveDate,
    total: Decimal,
) -> Vec<DocumentPayment> {
    if !settings.create_payments {
        return Vec::new();
    }
    let Some(rule) = payment_rule(order, settings).filter(|r| r.create_payment) else {
        return Vec::new();
    };
    let label = fill_template(&settings.payment_label_template, order);
    let order_date = order.created_at.date_naive();
    let common_date = match settings.payment_date {
        PaymentDateChoice::DocumentDate => document_date,
        PaymentDateChoice::PaymentDate | PaymentDateChoice::OrderDate => order_date,
    };
    let payment = |date, amount, is_gap| DocumentPayment {
        date,
        amount,
        settlement_mode: rule.settlement_mode.clone(),
        payment_mode: rule.payment_mode.clone(),
        bank_account: rule.bank_account.clone(),
        label: label.clone(),
        is_gap,
    };
    let mut out: Vec<DocumentPayment> = match settings.payment_amount {
        PaymentAmountMode::OrderTotal if total.is_zero() => Vec::new(),
        PaymentAmountMode::OrderTotal => vec![payment(common_date, total, false)],
        PaymentAmountMode::PerPayment => order
            .payments
            .iter()
            .map(|p| {
                let date = match settings.payment_date {
                    PaymentDateChoice::PaymentDate => p.paid_at.date_naive(),
                    _ => common_date,
                };
                payment(date, cents(money.amount(p.amount)), false)
            })
            .collect(),
    };
    let paid: Decimal = out.iter().map(|p| p.amount).sum();
    let difference = total - paid;
    if settings.payment_gaps && difference.abs() >= Decimal::new(1, 2) {
        out.push(payment(common_date, difference, true));
    }
    out
}

/// The document's (delivery, billing) addresses per the rule of its kind.
fn addresses(
    order: &ShopOrder,
    settings: &OrderSettings,
    kind: DocumentKind,
) -> (Address, Address) {
    let rule = settings.addresses.get(&kind).copied().unwrap_or_default();
    let pick = |choice: AddressChoice| match choice {
        AddressChoice::Billing => order.billing.clone(),
        AddressChoice::Delivery => order.delivery.clone(),
    };
    (pick(rule.delivery), pick(rule.billing))
}

/// Notes: the customer's messages, then the gift message.
fn notes(order: &ShopOrder) -> Vec<String> {
    let mut notes: Vec<String> = order
        .messages
        .iter()
        .filter(|m| !m.trim().is_empty())
        .cloned()
        .collect();
    if let Some(message) = order
        .wrapping
        .as_ref()
        .and_then(|w| w.message.as_deref())
        .filter(|m| !m.trim().is_empty())
    {
        notes.push(format!("Message cadeau : {message}"));
    }
    notes
}

// ---------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------

/// Builds the document of an order (validating it first). Lines come in this order:
/// products, shipping, gift wrap, discounts, gap.
pub fn build_document(order: &ShopOrder, cx: &BuildContext<'_>) -> Result<ErpDocument, OrderError> {
    validate_order(order)?;
    let s = cx.settings;
    if order.id.chars().count() > MAX_ATOOSYNC_ORDER {
        return Err(OrderError(format!(
            "identifiant de commande trop long pour atoosync_order : {} ({} caractères, {MAX_ATOOSYNC_ORDER} au plus) (order id too long)",
            order.id,
            order.id.chars().count()
        )));
    }
    let money = Money::new(order, s);
    let date = document_date(order, s.date_choice, cx.today);

    let products = order
        .lines
        .iter()
        .map(|l| product_line(l, cx, &money))
        .collect::<Result<Vec<_>, _>>()?;
    let mut lines = products.clone();
    let shipping = shipping_line(order, cx, &money)?;
    let footer_shipping = match &shipping {
        Some(_) => Decimal::ZERO,
        None => round_half_up(money.amount(order.shipping.amount_tax_excl), s.precision),
    };
    let shipping_vat_code = if footer_shipping > Decimal::ZERO {
        Some(require_vat_code(s, order.shipping.tax_rate, None)?)
    } else {
        None
    };
    lines.extend(shipping);
    lines.extend(gift_wrap_line(order, cx, &money, &products)?);
    lines.extend(discount_lines(order, cx, &money, &products)?);

    let expected = cents(money.amount(order.totals.paid_tax_incl));
    let kind = cx.status.document;
    let (delivery, billing) = addresses(order, s, kind);
    let mut document = ErpDocument {
        kind,
        number: document_number(order, s, kind),
        date,
        customer_code: cx.customer.code().to_string(),
        customer_name: customer_display_name(&order.customer),
        reference: truncate_chars(&fill_template(&s.reference_template, order), MAX_REFERENCE),
        atoosync_order: order.id.clone(),
        series: s.series.clone(),
        warehouse: s.warehouse.clone(),
        accounting_category: accounting_category(order, s),
        currency: money.currency.clone(),
        conversion_rate: money.conversion_rate,
        shipping_id: shipping_id(order, s),
        shipping_amount_tax_excl: footer_shipping,
        shipping_vat_code,
        shipping_vat_rate: order.shipping.tax_rate,
        delivery_date: s.set_delivery_date.then_some(date),
        tax_inclusive: s.tax_inclusive,
        erp_state: cx.status.erp_state.clone(),
        billing,
        delivery,
        payments: payments(order, s, &money, date, expected),
        lines,
        expected_total_tax_incl: expected,
        notes: notes(order),
    };
    close_total(&mut document, s, &caption_or(cx, &s.special.gap, "Écart"))?;
    Ok(document)
}

/// The document's footer shipping (excl. tax), when it has one.
pub fn footer_shipping(document: &ErpDocument) -> Option<FooterShipping> {
    let code = document.shipping_vat_code.as_ref()?;
    (!document.shipping_amount_tax_excl.is_zero()).then(|| FooterShipping {
        amount_tax_excl: document.shipping_amount_tax_excl,
        vat_code: code.clone(),
        vat_rate: document.shipping_vat_rate,
    })
}

/// Makes the document's total incl. tax equal `expected_total_tax_incl` under the profile's
/// VAT rounding rule: gap line(s) when the option is on ([`super::totals::gap_lines`]), then
/// the re-check — a document whose total still differs is refused with the reason (the
/// order fails; nothing is written), also when the gap line is turned off. Used for each
/// order's document and again for a day document, whose merged lines and VAT bases round
/// differently from the sum of its orders.
pub fn close_total(
    document: &mut ErpDocument,
    settings: &OrderSettings,
    gap_description: &str,
) -> Result<(), OrderError> {
    let footer = footer_shipping(document);
    let expected = document.expected_total_tax_incl;
    let products: Vec<DocumentLine> = document
        .lines
        .iter()
        .filter(|l| matches!(l.kind, LineKind::Product | LineKind::Misc))
        .cloned()
        .collect();
    if let Some(vat) = gap_vat(settings, &products).filter(|_| settings.gap_line) {
        let gcx = GapContext {
            settings,
            description: gap_description.to_string(),
            vat,
            shipping: footer.as_ref(),
        };
        let gaps = gap_lines(&document.lines, expected, &gcx).map_err(|e| OrderError(e.0))?;
        document.lines.extend(gaps);
    }
    let total = document_totals(
        &document.lines,
        footer.as_ref(),
        document.tax_inclusive,
        settings.vat_rounding,
    );
    if total.tax_incl == expected {
        return Ok(());
    }
    Err(OrderError(format!(
        "le total du document ({} € TTC) diffère du montant payé ({} € TTC){} (document total differs from the amount paid)",
        total.tax_incl.normalize(),
        expected.normalize(),
        if settings.gap_line {
            ""
        } else {
            " et la ligne d'écart est désactivée dans le profil"
        }
    )))
}
