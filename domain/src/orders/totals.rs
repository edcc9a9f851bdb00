//! The totals of an ERP document, under the VAT rounding rule in force, and the gap line
//! that makes them equal the amount the customer paid **exactly**.
//!
//! Amounts are rounded to the cent (the currency's unit) wherever a document shows an
//! amount: each line's net amount, each VAT amount, the totals. Unit prices keep the
//! profile's precision (2 or 4 decimals). The two VAT rules ([`VatRounding`]):
//!
//! - **per rate** (the default): the net amounts are summed per VAT code (the footer
//!   shipping joins the base of its code), then each base is taxed and rounded once —
//!   `round(Σ base × rate)`. This is how French invoices are usually totalled and what EBP's
//!   document footer most likely does: it stores one VAT breakdown per rate
//!   (`DetailVatAmount0..5_*`), see `adapters/src/ebp/assumptions.rs`.
//! - **per line**: each line's VAT is rounded, then summed — `Σ round(line × rate)`.
//!
//! Three lines of 0.33 € excl. tax at 20 %: per line 3 × 0.40 = 1.20 € incl. tax; per rate
//! 0.99 + round(0.198) = 1.19 €. Both are legal in France; the ERP uses one, and the
//! document Passerelle writes must be sized with the same one or its total is a cent off.
//!
//! In a tax-inclusive document the lines carry amounts incl. tax, so its total incl. tax is
//! their sum whatever the rule (the rule only splits the VAT out); the footer shipping,
//! given excl. tax, is taxed on its own.

use super::document::{DocumentLine, LineKind};
use super::settings::OrderSettings;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the VAT of a document is rounded (profile setting `vat_rounding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VatRounding {
    /// `Σ round(line × rate)`: each line's VAT rounded to the cent, then summed.
    PerLine,
    /// `round(Σ base × rate)` per VAT code: the French invoice footer, and what EBP's
    /// per-rate VAT breakdown points to (an assumption, `adapters/src/ebp/assumptions.rs`).
    #[default]
    PerRate,
}

/// Shipping written in the document footer (excl. tax) rather than as a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FooterShipping {
    /// Amount excl. tax.
    pub amount_tax_excl: Decimal,
    /// Its VAT code.
    pub vat_code: String,
    /// Its VAT rate in percent.
    pub vat_rate: Decimal,
}

/// A document's totals, each to the cent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocumentTotals {
    /// Total excl. tax.
    pub tax_excl: Decimal,
    /// Total VAT.
    pub vat: Decimal,
    /// Total incl. tax: what the customer owes.
    pub tax_incl: Decimal,
}

/// Half-up rounding to the cent.
pub fn cents(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn rate_factor(rate: Decimal) -> Decimal {
    rate / Decimal::ONE_HUNDRED
}

/// The amounts of one VAT code: their sum, and the sum of their VAT rounded one by one
/// (what the per-line rule adds up). Enough to total a document under either rule, and to
/// try a gap amount without re-reading every line.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    sum: Decimal,
    per_line_vat: Decimal,
}

/// A document's amounts per (VAT code, rate), each amount to the cent; excl. tax or incl.
/// tax per the document's mode.
#[derive(Debug, Clone, Default)]
struct Buckets {
    tax_inclusive: bool,
    by_code: BTreeMap<(String, Decimal), Bucket>,
}

impl Buckets {
    fn new(lines: &[DocumentLine], tax_inclusive: bool) -> Self {
        let mut b = Buckets {
            tax_inclusive,
            by_code: BTreeMap::new(),
        };
        for l in lines {
            b.add(&l.vat_code, l.vat_rate, cents(l.net_amount()));
        }
        b
    }

    /// The VAT of one amount (incl. tax in a tax-inclusive document).
    fn vat_of(&self, amount: Decimal, rate: Decimal) -> Decimal {
        if self.tax_inclusive {
            amount - cents(amount / (Decimal::ONE + rate_factor(rate)))
        } else {
            cents(amount * rate_factor(rate))
        }
    }

    fn add(&mut self, code: &str, rate: Decimal, amount: Decimal) {
        let vat = self.vat_of(amount, rate);
        let b = self.by_code.entry((code.to_string(), rate)).or_default();
        b.sum += amount;
        b.per_line_vat += vat;
    }

    fn totals(&self, shipping: Option<&FooterShipping>, rule: VatRounding) -> DocumentTotals {
        let mut this = self.clone();
        let shipping_excl = shipping.map_or(Decimal::ZERO, |s| cents(s.amount_tax_excl));
        // Shipping is given excl. tax: in a tax-exclusive document it joins its code's base;
        // in a tax-inclusive one it is taxed on its own.
        let mut own_shipping = (Decimal::ZERO, Decimal::ZERO);
        if let Some(s) = shipping {
            if self.tax_inclusive {
                own_shipping = (
                    shipping_excl,
                    cents(shipping_excl * rate_factor(s.vat_rate)),
                );
            } else {
                this.add(&s.vat_code, s.vat_rate, shipping_excl);
            }
        }
        let sum: Decimal = this.by_code.values().map(|b| b.sum).sum();
        let lines_vat: Decimal = match rule {
            VatRounding::PerLine => this.by_code.values().map(|b| b.per_line_vat).sum(),
            VatRounding::PerRate => this
                .by_code
                .iter()
                .map(|((_, rate), b)| this.vat_of(b.sum, *rate))
                .sum(),
        };
        let vat = lines_vat + own_shipping.1;
        if self.tax_inclusive {
            let tax_incl = sum + own_shipping.0 + own_shipping.1;
            DocumentTotals {
                tax_excl: tax_incl - vat,
                vat,
                tax_incl,
            }
        } else {
            DocumentTotals {
                tax_excl: sum,
                vat,
                tax_incl: sum + vat,
            }
        }
    }
}

/// The totals of a document under `rule`.
pub fn document_totals(
    lines: &[DocumentLine],
    shipping: Option<&FooterShipping>,
    tax_inclusive: bool,
    rule: VatRounding,
) -> DocumentTotals {
    Buckets::new(lines, tax_inclusive).totals(shipping, rule)
}

/// Why no gap line can close a document's total (French first; the order fails with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GapError(pub String);

/// What a gap line needs to know besides the document's lines.
#[derive(Debug, Clone)]
pub struct GapContext<'a> {
    /// The profile's settings (gap article, VAT mapping, rule, mode).
    pub settings: &'a OrderSettings,
    /// The gap article's line label.
    pub description: String,
    /// The gap line's VAT code and rate.
    pub vat: (String, Decimal),
    /// The footer shipping, if any.
    pub shipping: Option<&'a FooterShipping>,
}

fn gap_line(cx: &GapContext<'_>, amount: Decimal, vat: &(String, Decimal)) -> DocumentLine {
    DocumentLine {
        kind: LineKind::Gap,
        item_id: cx.settings.special.gap.clone(),
        description: cx.description.clone(),
        quantity: Decimal::ONE,
        unit_price: amount,
        discount_percent: Decimal::ZERO,
        vat_code: vat.0.clone(),
        vat_rate: vat.1,
        lot: None,
    }
}

/// The gap line(s) that make the total incl. tax of `lines` (plus the footer shipping)
/// equal `expected` **exactly** under the profile's rule; empty when it already does.
///
/// - Tax-inclusive document: one line carrying the difference incl. tax.
/// - Tax-exclusive document: one line at the gap VAT whose amount excl. tax, once taxed and
///   rounded by the rule, closes the total. Some totals cannot be reached at a given rate
///   (at 20 %, `x + round(0.2 x)` skips one cent in six: 0.03 € incl. tax has no amount
///   excl. tax), so when none fits the gap takes the amount that leaves one cent and a
///   second gap line of ±0.01 € carries it with no VAT: at the gap rate under the per-line
///   rule (the VAT of a cent rounds to 0), or at a 0 % VAT code of the tax mapping under the
///   per-rate rule (a cent added to a taxed base would be taxed with it).
///
/// Every candidate is checked with [`document_totals`]; when none is exact the order fails
/// with the reason, never with a wrong total.
pub fn gap_lines(
    lines: &[DocumentLine],
    expected: Decimal,
    cx: &GapContext<'_>,
) -> Result<Vec<DocumentLine>, GapError> {
    let s = cx.settings;
    let base = Buckets::new(lines, s.tax_inclusive);
    let total = |extra: &[DocumentLine]| {
        let mut with = base.clone();
        for l in extra {
            with.add(&l.vat_code, l.vat_rate, cents(l.net_amount()));
        }
        with.totals(cx.shipping, s.vat_rounding).tax_incl
    };
    let difference = expected - total(&[]);
    if difference.is_zero() {
        return Ok(Vec::new());
    }
    if s.tax_inclusive {
        let gap = vec![gap_line(cx, difference, &cx.vat)];
        if total(&gap) == expected {
            return Ok(gap);
        }
    } else {
        let cent = Decimal::new(1, 2);
        let start = cents(difference / (Decimal::ONE + rate_factor(cx.vat.1)));
        // The total moves by 1 or 2 cents per cent of base (rates below 100 %): a few steps
        // either side of the estimate find the amount when one exists.
        let candidates = || (-6i64..=6).map(|k| start + cent * Decimal::from(k));
        if let Some(amount) = candidates().find(|a| total(&[gap_line(cx, *a, &cx.vat)]) == expected)
        {
            return Ok(vec![gap_line(cx, amount, &cx.vat)]);
        }
        let remainder_vat = match s.vat_rounding {
            VatRounding::PerLine => Some(cx.vat.clone()),
            VatRounding::PerRate => s
                .taxes
                .iter()
                .find(|t| t.rate.is_zero())
                .map(|t| (t.vat_code.clone(), Decimal::ZERO)),
        };
        if let Some(vat) = remainder_vat {
            let sign = if difference > Decimal::ZERO {
                cent
            } else {
                -cent
            };
            let remainder = gap_line(cx, sign, &vat);
            for amount in candidates() {
                let pair = [gap_line(cx, amount, &cx.vat), remainder.clone()];
                if total(&pair) == expected {
                    return Ok(pair.to_vec());
                }
            }
        }
    }
    Err(GapError(format!(
        "l'écart de {} € entre le montant payé ({} €) et le total calculé ne peut pas être porté exactement par une ligne d'écart à {} % (arrondi de TVA {}) : associez un code TVA à 0 % dans la correspondance des taxes, ou créez les documents en TTC (gap cannot be closed exactly)",
        difference.normalize(),
        expected.normalize(),
        cx.vat.1.normalize(),
        match s.vat_rounding {
            VatRounding::PerLine => "par ligne",
            VatRounding::PerRate => "par taux",
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn line(qty: Decimal, unit: Decimal, code: &str, rate: Decimal) -> DocumentLine {
        DocumentLine {
            kind: LineKind::Product,
            item_id: "A".into(),
            description: "A".into(),
            quantity: qty,
            unit_price: unit,
            discount_percent: Decimal::ZERO,
            vat_code: code.into(),
            vat_rate: rate,
            lot: None,
        }
    }

    #[test]
    fn three_thirds_at_20_percent_differ_by_a_cent_between_the_rules() {
        let lines = vec![line(dec!(1), dec!(0.33), "TVA20", dec!(20)); 3];
        let per_line = document_totals(&lines, None, false, VatRounding::PerLine);
        let per_rate = document_totals(&lines, None, false, VatRounding::PerRate);
        assert_eq!(
            (per_line.tax_excl, per_line.vat, per_line.tax_incl),
            (dec!(0.99), dec!(0.21), dec!(1.20))
        );
        assert_eq!(
            (per_rate.tax_excl, per_rate.vat, per_rate.tax_incl),
            (dec!(0.99), dec!(0.20), dec!(1.19))
        );
    }

    #[test]
    fn footer_shipping_joins_the_base_of_its_code_per_rate() {
        let lines = vec![line(dec!(1), dec!(0.33), "TVA20", dec!(20))];
        let shipping = FooterShipping {
            amount_tax_excl: dec!(0.33),
            vat_code: "TVA20".into(),
            vat_rate: dec!(20),
        };
        // Per rate: 0.66 × 20 % = 0.132 → 0.13; per line 0.07 + 0.07.
        assert_eq!(
            document_totals(&lines, Some(&shipping), false, VatRounding::PerRate).tax_incl,
            dec!(0.79)
        );
        assert_eq!(
            document_totals(&lines, Some(&shipping), false, VatRounding::PerLine).tax_incl,
            dec!(0.80)
        );
    }

    #[test]
    fn a_tax_inclusive_total_is_the_sum_of_its_lines_under_both_rules() {
        let lines = vec![line(dec!(3), dec!(0.40), "TVA20", dec!(20))];
        for rule in [VatRounding::PerLine, VatRounding::PerRate] {
            let t = document_totals(&lines, None, true, rule);
            assert_eq!(
                (t.tax_incl, t.vat, t.tax_excl),
                (dec!(1.20), dec!(0.20), dec!(1.00))
            );
        }
    }
}
