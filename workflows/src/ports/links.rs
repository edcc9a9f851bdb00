//! Ports of cross-selling and packs (FEATURES §3.1): the ERP's linked articles and bills of
//! materials of a set of articles, and the shop's accessories and pack contents of the same
//! products, set to what the ERP says.

use crate::engine::StepError;
use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What the ERP says about the links of some articles.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErpLinks {
    /// (article, linked article), in the ERP's order.
    pub linked: Vec<(String, String)>,
    /// (composed article, component, quantity): bills of materials.
    pub components: Vec<(String, String, Decimal)>,
}

/// The ERP side.
#[async_trait]
pub trait LinksErp: Send + Sync {
    /// Linked articles (when `cross_selling`) and bills of materials (when `packs`) of
    /// `references`.
    async fn links(
        &self,
        references: &[String],
        cross_selling: bool,
        packs: bool,
    ) -> Result<ErpLinks, StepError>;
}

/// What one product's links should be in the shop (`None`: not touched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductLinks {
    /// The product's reference.
    pub reference: String,
    /// Accessories (cross-selling), by reference.
    pub accessories: Option<Vec<String>>,
    /// Pack contents (component reference, quantity); an empty list makes a plain product.
    pub pack: Option<Vec<(String, u32)>>,
}

/// What setting one product's links did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LinksWritten {
    /// The product's reference.
    pub reference: String,
    /// The shop has no such product.
    pub missing: bool,
    /// The shop refused the write (reason).
    pub refused: Option<String>,
    /// Accessories set: how many (`None`: not asked).
    pub accessories: Option<usize>,
    /// Pack contents set: how many components (`Some(0)`: a plain product).
    pub pack: Option<usize>,
    /// The product was written (else it already held the links).
    pub changed: bool,
    /// Links not set, with the reason (a missing product), French first.
    pub warnings: Vec<String>,
}

/// The shop side: set-to, looked up first, written only when different.
#[async_trait]
pub trait LinksShop: Send + Sync {
    /// Sets the products' accessories and pack contents. An accessory missing from the
    /// shop is left out with a warning; a pack with a component missing from the shop is
    /// written as a plain product with a warning naming the missing components.
    async fn set_links(&self, wanted: &[ProductLinks]) -> Result<Vec<LinksWritten>, StepError>;
}
