//! What the shop side of the variants grouping writes (FEATURES §3.1 "Variants grouping"):
//! one product per group of ERP articles, with one combination per article (its attribute
//! values, price impact, quantity) and one default combination. The write method lives on
//! [`super::CatalogShop`] (`upsert_variant_products`) so the wiring stays one port.

use super::Written;
use passerelle_domain::catalog::ProductDraft;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One combination to set on a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombinationLine {
    /// The ERP article's reference (= the combination's reference, its key).
    pub reference: String,
    /// (attribute group name, value name), e.g. ("Taille", "M").
    pub attributes: Vec<(String, String)>,
    /// Price impact on the product's base price (excl. tax).
    pub price_impact: Decimal,
    /// The product's default combination.
    pub default: bool,
    /// Available quantity to set (`None`: stock not sent).
    pub quantity: Option<i64>,
}

/// One product made of a group of articles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantProduct {
    /// The product (reference = master reference, name = the group's label).
    pub product: ProductDraft,
    /// Its combinations.
    pub combinations: Vec<CombinationLine>,
    /// Price impacts of combinations already in the shop are set (the profile's price
    /// update switch, as for a product's price); new combinations always get theirs.
    pub update_prices: bool,
}

/// What writing one [`VariantProduct`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantWritten {
    /// The product's write.
    pub product: Written,
    /// Each combination's write (by reference; its shop id in the `Written`).
    pub combinations: Vec<(String, Written)>,
    /// Each combination's stock write, when a quantity was sent.
    pub stock: Vec<(String, Written)>,
}
