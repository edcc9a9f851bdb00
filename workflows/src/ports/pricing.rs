//! Ports of the specific prices (FEATURES §3.1 "Prices"): the ERP's customer-group and
//! customer-specific prices of a set of articles, and the shop's specific prices of the
//! same products, synchronised (set-to) per product. Separate from [`super::CatalogErp`] /
//! [`super::CatalogShop`] so that a platform without specific prices simply does not
//! provide them.

use super::ReferencesPage;
use crate::engine::StepError;
use async_trait::async_trait;
use chrono::NaiveDateTime;
use passerelle_domain::catalog::specific::{
    ErpSpecificPrice, ShopSpecificPrice, SpecificPriceSettings,
};
use serde::{Deserialize, Serialize};

/// The specific prices the synchronisation manages: every ERP sale price category (by the
/// name its shop group carries) and every ERP customer with prices of their own (by
/// e-mail, lower-case). A shop specific price for another group or customer — one the
/// merchant made by hand — is never touched.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PriceScope {
    /// Group names.
    pub groups: Vec<String>,
    /// Customer e-mails.
    pub customers: Vec<String>,
}

/// What the ERP says about the specific prices of some articles.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErpSpecificPrices {
    /// The readable lines.
    pub prices: Vec<ErpSpecificPrice>,
    /// Lines that could not be read: (article reference, reason, French first).
    pub invalid: Vec<(String, String)>,
    /// What the synchronisation manages in the shop.
    pub scope: PriceScope,
}

/// The ERP side.
#[async_trait]
pub trait SpecificPricesErp: Send + Sync {
    /// The specific prices of `references` (the kinds `settings` asks for).
    async fn specific_prices(
        &self,
        references: &[String],
        settings: SpecificPriceSettings,
    ) -> Result<ErpSpecificPrices, StepError>;
    /// One page of the references whose specific prices changed at or after `since` (the
    /// incremental window: a price changed without its article changing still goes out).
    async fn prices_changed_since(
        &self,
        since: NaiveDateTime,
        offset: u32,
    ) -> Result<ReferencesPage, StepError>;
}

/// What the synchronisation of one product's specific prices did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpecificPricesWritten {
    /// The product's reference.
    pub reference: String,
    /// The shop has no such product (nothing written).
    pub missing: bool,
    /// The shop refused a write (reason); what was written before stays.
    pub refused: Option<String>,
    /// Specific prices created.
    pub created: u32,
    /// Updated in place.
    pub updated: u32,
    /// Deleted (no longer priced in the ERP).
    pub deleted: u32,
    /// Already as the ERP says.
    pub unchanged: u32,
    /// Prices not sent, with the reason (missing shop group or customer), French first.
    pub warnings: Vec<String>,
}

/// The shop side. Each product's specific prices within `scope` become exactly `wanted`:
/// looked up first (by product, group and customer), updated in place, created when
/// missing, deleted when no longer wanted; a second run writes nothing.
#[async_trait]
pub trait SpecificPricesShop: Send + Sync {
    /// Synchronises the products' specific prices (every product listed, even with an
    /// empty list: that deletes its managed prices).
    async fn sync_specific_prices(
        &self,
        wanted: &[(String, Vec<ShopSpecificPrice>)],
        scope: &PriceScope,
    ) -> Result<Vec<SpecificPricesWritten>, StepError>;
}
