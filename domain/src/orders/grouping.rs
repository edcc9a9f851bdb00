//! Orders grouped per day (FEATURES §3.4, cash-register and guest orders): all the orders of a
//! day (or its guest orders only) become one ERP document on a dedicated customer account,
//! read once the day has ended in the account's time zone. Identical lines (same article,
//! net unit price and discount) may be merged, and payments may be merged per mode.
//!
//! Pure: each order's document is built first by [`super::build`] with every usual rule;
//! this module only merges documents, so amounts are the sum of the originals to the cent.

use super::build::close_total;
use super::document::{DocumentLine, DocumentPayment, ErpDocument, LineKind};
use super::{OrderSettings, ShopOrder};
use chrono::NaiveDate;
use chrono_tz::Tz;

/// The account time zone whose midnight ends a day.
const TZ: Tz = chrono_tz::Europe::Paris;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which orders are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupScope {
    /// Every order of the day.
    #[default]
    All,
    /// Guest orders only (the others are imported one by one).
    Guests,
}

/// The grouping settings of a profile (absent: no grouping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupingSettings {
    /// Which orders.
    #[serde(default)]
    pub scope: GroupScope,
    /// The ERP customer account of the grouped documents (it must exist in the ERP).
    pub account: String,
    /// Its name on the document.
    #[serde(default = "default_name")]
    pub account_name: String,
    /// Merge identical lines (article, net unit price, discount).
    #[serde(default)]
    pub group_lines: bool,
    /// Merge payments of the same mode.
    #[serde(default)]
    pub group_payments: bool,
}

fn default_name() -> String {
    "VENTES WEB DU JOUR".into()
}

impl GroupingSettings {
    /// Whether `order` is grouped.
    pub fn applies_to(&self, order: &ShopOrder) -> bool {
        match self.scope {
            GroupScope::All => true,
            GroupScope::Guests => order.customer.is_guest,
        }
    }

    /// The day of an order in the account's time zone (Europe/Paris, the zone of the
    /// import's "today").
    pub fn day_of(&self, order: &ShopOrder) -> NaiveDate {
        order.created_at.with_timezone(&TZ).date_naive()
    }
}

/// One grouped document and the orders it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupedDocument {
    /// The day.
    pub day: NaiveDate,
    /// The orders, in id order.
    pub orders: Vec<String>,
    /// The merged document (its `atoosync_order` is the group key), or why its total cannot
    /// equal what its orders paid (the whole group then fails with that reason).
    pub document: Result<ErpDocument, String>,
}

/// The web-order key of a group: the day and its first order, so that re-running the same
/// group finds its document (idempotent) while orders of that day read later (a status
/// that changed late) make a new document instead of being linked to one without them.
/// 18 characters at most with 8-digit ids (the ERP field holds 32).
pub fn group_key(day: NaiveDate, first_order: &str) -> String {
    format!("J{}-{first_order}", day.format("%Y%m%d"))
}

/// Merges the documents of orders into one document per (day, currency, accounting
/// category, tax mode): documents that differ there cannot share a document.
/// `docs` holds (order id, day, its own document). The merged total is closed again on the
/// sum of the orders' amounts paid ([`super::build::close_total`]): merged lines and VAT
/// bases do not round like the orders one by one.
pub fn group_documents(
    settings: &GroupingSettings,
    rules: &OrderSettings,
    docs: Vec<(String, NaiveDate, ErpDocument)>,
) -> Vec<GroupedDocument> {
    type Key = (NaiveDate, String, String, bool);
    let mut buckets: BTreeMap<Key, Vec<(String, ErpDocument)>> = BTreeMap::new();
    for (id, day, d) in docs {
        buckets
            .entry((
                day,
                d.currency.clone(),
                d.accounting_category.clone(),
                d.tax_inclusive,
            ))
            .or_default()
            .push((id, d));
    }
    let mut out = Vec::new();
    for ((day, ..), mut members) in buckets {
        members.sort_by_key(|(id, _)| (id.parse::<u64>().unwrap_or(u64::MAX), id.clone()));
        let orders: Vec<String> = members.iter().map(|(id, _)| id.clone()).collect();
        let Some((_, first)) = members.first() else {
            continue;
        };
        let mut doc = first.clone();
        doc.customer_code = settings.account.clone();
        doc.customer_name = settings.account_name.clone();
        doc.atoosync_order = group_key(day, &orders[0]);
        doc.reference = format!(
            "Commandes web du {} ({} commande(s))",
            day.format("%d/%m/%Y"),
            orders.len()
        );
        doc.date = day;
        doc.number = None;
        doc.lines = Vec::new();
        doc.payments = Vec::new();
        doc.notes = vec![format!("Commandes : {}", orders.join(", "))];
        doc.shipping_amount_tax_excl = Decimal::ZERO;
        doc.expected_total_tax_incl = Decimal::ZERO;
        doc.delivery_date = None;
        // The footer shipping's VAT code: the first order that has one (the first order may
        // have none, shipped free or as a line).
        if let Some(d) = members
            .iter()
            .map(|(_, d)| d)
            .find(|d| d.shipping_vat_code.is_some())
        {
            doc.shipping_vat_code = d.shipping_vat_code.clone();
            doc.shipping_vat_rate = d.shipping_vat_rate;
        }
        let gap_description = members
            .iter()
            .flat_map(|(_, d)| &d.lines)
            .find(|l| l.kind == LineKind::Gap)
            .map_or_else(|| "Écart".to_string(), |l| l.description.clone());
        for (_, d) in &members {
            doc.shipping_amount_tax_excl += d.shipping_amount_tax_excl;
            doc.expected_total_tax_incl += d.expected_total_tax_incl;
            for l in &d.lines {
                push_line(&mut doc.lines, l, settings.group_lines);
            }
            for p in &d.payments {
                push_payment(&mut doc.payments, p, settings.group_payments, day);
            }
        }
        let document = close_total(&mut doc, rules, &gap_description)
            .map(|()| doc)
            .map_err(|e| e.0);
        out.push(GroupedDocument {
            day,
            orders,
            document,
        });
    }
    out
}

fn push_line(lines: &mut Vec<DocumentLine>, l: &DocumentLine, merge: bool) {
    if merge {
        if let Some(same) = lines.iter_mut().find(|x| {
            x.kind == l.kind
                && x.item_id == l.item_id
                && x.unit_price == l.unit_price
                && x.discount_percent == l.discount_percent
                && x.vat_code == l.vat_code
                && x.lot == l.lot
        }) {
            same.quantity += l.quantity;
            return;
        }
    }
    lines.push(l.clone());
}

fn push_payment(
    payments: &mut Vec<DocumentPayment>,
    p: &DocumentPayment,
    merge: bool,
    day: NaiveDate,
) {
    if merge {
        if let Some(same) = payments.iter_mut().find(|x| {
            x.payment_mode == p.payment_mode
                && x.settlement_mode == p.settlement_mode
                && x.bank_account == p.bank_account
                && x.is_gap == p.is_gap
        }) {
            same.amount += p.amount;
            return;
        }
        let mut p = p.clone();
        p.date = day;
        p.label = format!(
            "Règlements {} du {}",
            p.payment_mode,
            day.format("%d/%m/%Y")
        );
        payments.push(p);
        return;
    }
    payments.push(p.clone());
}
