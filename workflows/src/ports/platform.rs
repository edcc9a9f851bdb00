//! The shop-platform port: one connection value per profile, carrying the platform, what it
//! can do and the narrow traits its client implements.
//!
//! Decision (docs/ARCHITECTURE.md, "One shop connection"): one struct of
//! `Option<Arc<dyn …>>` per family rather than one big trait with accessors. Each family
//! keeps its own small trait (orders, catalogue, specific prices, links, customers, media,
//! configuration), a platform fills the families it has, and a workflow asks the family it
//! needs: a missing one is a clear permanent refusal naming the platform, never a panic or
//! a method stub returning "unsupported" deep inside a run.

use super::{CatalogShop, CustomerShop, LinksShop, Shop, ShopMedia, SpecificPricesShop};
use crate::engine::StepError;
use async_trait::async_trait;
use passerelle_domain::platform::{Capabilities, Capability, Platform};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Something with an id and a name (order status, carrier, group, shop, payment method).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// Id in the shop (as text, whatever the platform's id type).
    pub id: String,
    /// Name (the shop's first language).
    pub name: String,
}

/// Something with an id, an ISO code and a name (currency, country, language).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coded {
    /// Id in the shop.
    pub id: String,
    /// ISO code (`EUR`, `FR`, `fr`).
    pub iso_code: String,
    /// Name.
    pub name: String,
}

/// A tax (rate) of the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRate {
    /// Id in the shop.
    pub id: String,
    /// Name.
    pub name: String,
    /// Rate in percent.
    pub rate: Decimal,
}

/// What `profile refresh-config` shows the merchant to map shop values to ERP values, on
/// any platform. A list the platform does not have stays empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShopConfiguration {
    /// Order statuses.
    pub statuses: Vec<Named>,
    /// Taxes.
    pub taxes: Vec<TaxRate>,
    /// Carriers / shipping methods.
    pub carriers: Vec<Named>,
    /// Currencies.
    pub currencies: Vec<Coded>,
    /// Payment methods (those seen on recent orders where the platform lists none).
    pub payment_methods: Vec<Named>,
    /// Countries.
    pub countries: Vec<Coded>,
    /// Languages.
    pub languages: Vec<Coded>,
    /// Customer groups.
    pub groups: Vec<Named>,
    /// Shops (multi-shop, multi-store).
    pub shops: Vec<Named>,
    /// Top-level categories.
    pub categories: Vec<Named>,
}

/// Reads the shop's configuration, and checks that the connection works.
#[async_trait]
pub trait ShopConfigurationRead: Send + Sync {
    /// One authenticated call: Ok when the shop answers with these credentials.
    async fn test_connection(&self) -> Result<(), StepError>;
    /// Statuses, taxes, carriers, currencies… as far as the platform has them.
    async fn read_configuration(&self) -> Result<ShopConfiguration, StepError>;
}

/// A profile's shop: its platform, what it can do, and the families of calls its client
/// implements (`None`: the platform has none of that family).
#[derive(Clone)]
pub struct ShopConnection {
    /// The platform.
    pub platform: Platform,
    /// What the platform can do (declared by its adapter).
    pub capabilities: Capabilities,
    /// Orders and their write-backs.
    pub orders: Option<Arc<dyn Shop>>,
    /// Products, categories, variants, stock.
    pub catalog: Option<Arc<dyn CatalogShop>>,
    /// Specific prices.
    pub specific_prices: Option<Arc<dyn SpecificPricesShop>>,
    /// Packs and cross-selling.
    pub links: Option<Arc<dyn LinksShop>>,
    /// Customer accounts and groups.
    pub customers: Option<Arc<dyn CustomerShop>>,
    /// Product images and documents.
    pub media: Option<Arc<dyn ShopMedia>>,
    /// Configuration reads and the connection test.
    pub configuration: Option<Arc<dyn ShopConfigurationRead>>,
}

impl std::fmt::Debug for ShopConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopConnection")
            .field("platform", &self.platform)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl ShopConnection {
    /// A connection with no family yet (a platform fills in what it has).
    pub fn new(platform: Platform, capabilities: Capabilities) -> Self {
        Self {
            platform,
            capabilities,
            orders: None,
            catalog: None,
            specific_prices: None,
            links: None,
            customers: None,
            media: None,
            configuration: None,
        }
    }

    fn family<T: ?Sized>(
        &self,
        family: &Option<Arc<T>>,
        what: Capability,
    ) -> Result<Arc<T>, StepError> {
        family.clone().ok_or_else(|| {
            StepError::permanent(format!(
                "la plateforme {} ne permet pas : {} (platform cannot do this)",
                self.platform.label(),
                what.label_fr()
            ))
        })
    }

    /// The orders family, or a permanent refusal naming the platform.
    pub fn orders(&self) -> Result<Arc<dyn Shop>, StepError> {
        self.family(&self.orders, Capability::Orders)
    }
    /// The catalogue family.
    pub fn catalog(&self) -> Result<Arc<dyn CatalogShop>, StepError> {
        self.family(&self.catalog, Capability::Products)
    }
    /// The specific-prices family.
    pub fn specific_prices(&self) -> Result<Arc<dyn SpecificPricesShop>, StepError> {
        self.family(&self.specific_prices, Capability::SpecificPrices)
    }
    /// The packs and cross-selling family.
    pub fn links(&self) -> Result<Arc<dyn LinksShop>, StepError> {
        self.family(&self.links, Capability::Packs)
    }
    /// The customers family.
    pub fn customers(&self) -> Result<Arc<dyn CustomerShop>, StepError> {
        self.family(&self.customers, Capability::Customers)
    }
    /// The media family.
    pub fn media(&self) -> Result<Arc<dyn ShopMedia>, StepError> {
        self.family(&self.media, Capability::Images)
    }
    /// The configuration family.
    pub fn configuration(&self) -> Result<Arc<dyn ShopConfigurationRead>, StepError> {
        self.family(&self.configuration, Capability::ConfigurationReads)
    }
}
