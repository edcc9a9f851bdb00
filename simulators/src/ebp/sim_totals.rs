//! The simulated folder's document totals: what EBP shows in a sale document's footer
//! (`AmountVatExcluded`, `VatAmount`, `AmountVatIncluded` and the per-rate breakdown
//! `DetailVatAmount0..5_*`), computed from the imported lines with the rates of the folder's
//! own `Vat` table, under the folder's VAT rounding rule (see
//! `VAT_ROUNDING` in `adapters/src/ebp/assumptions.rs`).
//!
//! Written on its own, without the document rules of `passerelle_domain::orders`: the
//! simulator checks what Passerelle writes, so it must not share the code it checks. Only
//! the value types (the imported document, the rule's name) are shared.

use passerelle_domain::orders::{ErpDocument, VatRounding};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// One slot of the per-rate VAT breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VatDetail {
    /// `DetailVatId`: the VAT code.
    pub vat_id: String,
    /// `DetailVatRate`.
    pub rate: Decimal,
    /// `DetailAmountVatExcluded`.
    pub amount_vat_excluded: Decimal,
    /// `DetailVatAmount`.
    pub vat_amount: Decimal,
    /// `DetailAmountVatIncluded`.
    pub amount_vat_included: Decimal,
}

/// A document's footer totals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaleTotals {
    /// `AmountVatExcluded` (shipping included).
    pub amount_vat_excluded: Decimal,
    /// `VatAmount`.
    pub vat_amount: Decimal,
    /// `AmountVatIncluded`: what the customer owes.
    pub amount_vat_included: Decimal,
    /// Per VAT code, in code order (EBP keeps six slots: a seventh code is refused).
    pub details: Vec<VatDetail>,
}

/// Slots of the per-rate breakdown on a sale document (`DetailVatAmount0..5`).
pub const VAT_SLOTS: usize = 6;

fn to_cent(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// One amount of a document, with its VAT code: a line (its net amount) or the footer
/// shipping.
struct Amount<'a> {
    vat_id: &'a str,
    value: Decimal,
}

/// The totals of `doc`, with `rates` (VAT code → rate in percent, the folder's `Vat` table)
/// and the folder's rule. An unknown VAT code, or more codes than the six slots, is an error
/// (EBP refuses such a document).
pub fn sale_totals(
    doc: &ErpDocument,
    rates: &BTreeMap<String, Decimal>,
    rule: VatRounding,
) -> Result<SaleTotals, String> {
    let rate_of = |id: &str| {
        rates
            .get(id)
            .copied()
            .ok_or_else(|| format!("code TVA inconnu : {id}"))
    };
    // A line's amount: quantity × unit price less its discount, to the cent (an amount in
    // the document's currency); incl. tax in a tax-inclusive document.
    let mut amounts: Vec<Amount<'_>> = doc
        .lines
        .iter()
        .map(|l| {
            let gross = l.quantity * l.unit_price;
            Amount {
                vat_id: l.vat_code.as_str(),
                value: to_cent(gross - gross * l.discount_percent / Decimal::ONE_HUNDRED),
            }
        })
        .collect();
    let shipping = to_cent(doc.shipping_amount_tax_excl);
    let shipping_vat_id = match (&doc.shipping_vat_code, shipping.is_zero()) {
        (_, true) => None,
        (Some(id), false) => Some(id.as_str()),
        (None, false) => return Err("frais de port sans code TVA".into()),
    };
    // Shipping is given excl. tax: in a tax-exclusive document it joins its code's base; in
    // a tax-inclusive one it is taxed on its own and added.
    let mut shipping_incl = Decimal::ZERO;
    let mut shipping_vat = Decimal::ZERO;
    if let Some(id) = shipping_vat_id {
        if doc.tax_inclusive {
            shipping_vat = to_cent(shipping * rate_of(id)? / Decimal::ONE_HUNDRED);
            shipping_incl = shipping + shipping_vat;
        } else {
            amounts.push(Amount {
                vat_id: id,
                value: shipping,
            });
        }
    }
    let mut by_code: BTreeMap<&str, Vec<Decimal>> = BTreeMap::new();
    for a in &amounts {
        by_code.entry(a.vat_id).or_default().push(a.value);
    }
    if by_code.len() > VAT_SLOTS {
        return Err(format!(
            "{} codes TVA sur un document ({VAT_SLOTS} au plus)",
            by_code.len()
        ));
    }
    let mut details = Vec::new();
    for (id, values) in by_code {
        let rate = rate_of(id)?;
        let sum: Decimal = values.iter().sum();
        let detail = if doc.tax_inclusive {
            let excl_of =
                |v: Decimal| to_cent(v * Decimal::ONE_HUNDRED / (Decimal::ONE_HUNDRED + rate));
            let excl = match rule {
                VatRounding::PerLine => values.iter().map(|v| excl_of(*v)).sum(),
                VatRounding::PerRate => excl_of(sum),
            };
            VatDetail {
                vat_id: id.to_string(),
                rate,
                amount_vat_excluded: excl,
                vat_amount: sum - excl,
                amount_vat_included: sum,
            }
        } else {
            let vat_of = |v: Decimal| to_cent(v * rate / Decimal::ONE_HUNDRED);
            let vat = match rule {
                VatRounding::PerLine => values.iter().map(|v| vat_of(*v)).sum(),
                VatRounding::PerRate => vat_of(sum),
            };
            VatDetail {
                vat_id: id.to_string(),
                rate,
                amount_vat_excluded: sum,
                vat_amount: vat,
                amount_vat_included: sum + vat,
            }
        };
        details.push(detail);
    }
    let vat_amount = details.iter().map(|d| d.vat_amount).sum::<Decimal>() + shipping_vat;
    let amount_vat_included = details
        .iter()
        .map(|d| d.amount_vat_included)
        .sum::<Decimal>()
        + shipping_incl;
    Ok(SaleTotals {
        amount_vat_excluded: amount_vat_included - vat_amount,
        vat_amount,
        amount_vat_included,
        details,
    })
}
