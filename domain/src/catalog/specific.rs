//! Specific prices (FEATURES §3.1 "Prices"): customer-group prices (one per ERP price
//! category, sent to the shop group named after it) and customer-specific prices (a fixed
//! price and/or a % discount for one ERP customer, sent to the shop customer with the same
//! e-mail). Pure rules: which lines of the ERP become which shop specific prices, rounded
//! with the profile's precision. The ports read and write; nothing here does IO.

use super::rules::round_price;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which specific prices an export sends (one field of `CatalogSettings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SpecificPriceSettings {
    /// Customer-group prices: ERP price categories → shop groups of the same name.
    pub groups: bool,
    /// Customer-specific prices: ERP customer price lists → the shop customer (by e-mail).
    pub customers: bool,
}

impl SpecificPriceSettings {
    /// Is any kind of specific price sent?
    pub fn any(&self) -> bool {
        self.groups || self.customers
    }
}

/// Whom an ERP price applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceTarget {
    /// The customers of a price category, found in the shop as the group with this name.
    Group(String),
    /// One customer, found in the shop by this e-mail (lower-case).
    Customer(String),
}

impl PriceTarget {
    /// For the log: `groupe « Revendeurs »`, `client a@b.fr`.
    pub fn label(&self) -> String {
        match self {
            PriceTarget::Group(g) => format!("groupe « {g} »"),
            PriceTarget::Customer(c) => format!("client {c}"),
        }
    }
}

/// How an ERP line sets the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceRule {
    /// A fixed price excluding tax.
    Fixed(Decimal),
    /// A discount in percent of the base price (10 = 10 %).
    Discount(Decimal),
}

/// One ERP specific price line of an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpSpecificPrice {
    /// Article reference.
    pub reference: String,
    /// Whom it applies to.
    pub target: PriceTarget,
    /// The rule.
    pub rule: PriceRule,
    /// From this quantity (EBP `Threshold`; 0 means from the first unit).
    pub from_quantity: Decimal,
}

/// How a reduction is expressed (each platform encodes it its own way; the field keeps the
/// name `reduction_type` that step results already journaled carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReductionType {
    /// An amount off.
    Amount,
    /// A share off, as a fraction (0.1 = 10 %).
    Percentage,
}

/// One specific price as the shop should hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSpecificPrice {
    /// Whom it applies to.
    pub target: PriceTarget,
    /// Fixed price excluding tax; `None` keeps the base price (PrestaShop `-1`).
    pub price: Option<Decimal>,
    /// Reduction: a fraction for `Percentage`, an amount for `Amount`.
    pub reduction: Decimal,
    /// Kind of reduction.
    pub reduction_type: ReductionType,
    /// From this quantity (≥ 1).
    pub from_quantity: u32,
}

/// Why an ERP specific price is not sent (that price only; the article goes on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecificPriceError {
    /// A negative fixed price.
    #[error("prix spécifique négatif {1} pour {0} (negative specific price)")]
    NegativePrice(String, Decimal),
    /// A discount outside ]0, 100] %.
    #[error("remise {1} % hors de ]0, 100] pour {0} (discount out of range)")]
    BadDiscount(String, Decimal),
    /// A quantity threshold that is negative or not whole.
    #[error("quantité minimale {1} invalide pour {0} (invalid from-quantity)")]
    BadQuantity(String, Decimal),
    /// Two fixed prices (or two discounts) for the same target and quantity.
    #[error("plusieurs règles contradictoires pour {0} (conflicting rules)")]
    Conflict(String),
}

/// The shop specific prices of one article from its ERP lines: one per (target, quantity),
/// a fixed price and a discount for the same target and quantity merged into one
/// (PrestaShop applies the reduction to the fixed price). Fixed prices are rounded half-up
/// to `precision`; percentages become fractions with 4 decimals (PrestaShop stores 6,
/// 4 keeps 0.01 % steps exact). Returns the prices, sorted by target then quantity, and
/// the refused lines with their reason.
pub fn shop_specific_prices(
    lines: &[ErpSpecificPrice],
    precision: u32,
) -> (Vec<ShopSpecificPrice>, Vec<SpecificPriceError>) {
    let mut errors = Vec::new();
    // (target, quantity) → (fixed, discount %)
    type Slot = (Option<Decimal>, Option<Decimal>);
    let mut slots: BTreeMap<(PriceTarget, u32), Slot> = BTreeMap::new();
    let mut conflicts: Vec<(PriceTarget, u32)> = Vec::new();
    for l in lines {
        let who = l.target.label();
        let q = l.from_quantity;
        if q < Decimal::ZERO || q.fract() != Decimal::ZERO || q > Decimal::from(u32::MAX) {
            errors.push(SpecificPriceError::BadQuantity(who, q));
            continue;
        }
        let qty = q.to_u32().unwrap_or(1).max(1);
        let slot = slots.entry((l.target.clone(), qty)).or_default();
        match l.rule {
            PriceRule::Fixed(p) if p < Decimal::ZERO => {
                errors.push(SpecificPriceError::NegativePrice(who, p))
            }
            PriceRule::Fixed(p) => {
                if slot.0.replace(round_price(p, precision)).is_some() {
                    conflicts.push((l.target.clone(), qty));
                }
            }
            PriceRule::Discount(d) if d <= Decimal::ZERO || d > Decimal::ONE_HUNDRED => {
                errors.push(SpecificPriceError::BadDiscount(who, d))
            }
            PriceRule::Discount(d) => {
                if slot.1.replace(d).is_some() {
                    conflicts.push((l.target.clone(), qty));
                }
            }
        }
    }
    for c in conflicts {
        if slots.remove(&c).is_some() {
            errors.push(SpecificPriceError::Conflict(c.0.label()));
        }
    }
    let prices = slots
        .into_iter()
        .filter(|(_, (f, d))| f.is_some() || d.is_some())
        .map(
            |((target, from_quantity), (fixed, discount))| ShopSpecificPrice {
                target,
                price: fixed,
                reduction: discount
                    .map(|d| (d / Decimal::ONE_HUNDRED).round_dp(4))
                    .unwrap_or(Decimal::ZERO),
                // With no discount the reduction is 0 of an amount: PrestaShop's own default.
                reduction_type: if discount.is_some() {
                    ReductionType::Percentage
                } else {
                    ReductionType::Amount
                },
                from_quantity,
            },
        )
        .collect();
    (prices, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(target: PriceTarget, rule: PriceRule, q: i64) -> ErpSpecificPrice {
        ErpSpecificPrice {
            reference: "A1".into(),
            target,
            rule,
            from_quantity: Decimal::from(q),
        }
    }

    #[test]
    fn given_group_and_customer_lines_when_converted_then_rounded_and_merged() {
        let g = PriceTarget::Group("Revendeurs".into());
        let c = PriceTarget::Customer("a@b.fr".into());
        let (prices, errors) = shop_specific_prices(
            &[
                line(g.clone(), PriceRule::Fixed(Decimal::new(12345, 3)), 0),
                line(c.clone(), PriceRule::Fixed(Decimal::new(10, 0)), 1),
                line(c.clone(), PriceRule::Discount(Decimal::new(125, 1)), 1),
            ],
            2,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            prices,
            vec![
                ShopSpecificPrice {
                    target: g,
                    price: Some(Decimal::new(1235, 2)),
                    reduction: Decimal::ZERO,
                    reduction_type: ReductionType::Amount,
                    from_quantity: 1,
                },
                ShopSpecificPrice {
                    target: c,
                    price: Some(Decimal::new(10, 0)),
                    reduction: Decimal::new(1250, 4),
                    reduction_type: ReductionType::Percentage,
                    from_quantity: 1,
                },
            ]
        );
    }

    #[test]
    fn given_a_discount_alone_then_the_base_price_is_kept() {
        let c = PriceTarget::Customer("x@y.fr".into());
        let (prices, _) =
            shop_specific_prices(&[line(c, PriceRule::Discount(Decimal::from(10)), 5)], 2);
        assert_eq!(prices[0].price, None);
        assert_eq!(prices[0].reduction, Decimal::new(1, 1));
        assert_eq!(prices[0].from_quantity, 5);
    }

    #[test]
    fn given_bad_lines_then_each_is_refused_with_a_french_reason() {
        let g = PriceTarget::Group("G".into());
        let (prices, errors) = shop_specific_prices(
            &[
                line(g.clone(), PriceRule::Fixed(Decimal::from(-1)), 1),
                line(g.clone(), PriceRule::Discount(Decimal::from(150)), 2),
                ErpSpecificPrice {
                    from_quantity: Decimal::new(15, 1),
                    ..line(g.clone(), PriceRule::Fixed(Decimal::ONE), 1)
                },
                line(g.clone(), PriceRule::Fixed(Decimal::ONE), 3),
                line(g.clone(), PriceRule::Fixed(Decimal::TWO), 3),
            ],
            2,
        );
        assert!(prices.is_empty(), "{prices:?}");
        assert_eq!(errors.len(), 4);
        assert!(errors[0].to_string().starts_with("prix spécifique négatif"));
        assert!(errors[1].to_string().contains("hors de"));
        assert!(errors[2].to_string().contains("quantité minimale"));
        assert!(errors[3].to_string().contains("contradictoires"));
    }
}
