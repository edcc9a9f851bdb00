//! PrestaShop as a shop platform: what it can do, its configuration in the neutral shape,
//! and the one [`connect`] the binary's wiring function calls.

use super::model::PsConfiguration;
use super::{PrestaShopCatalog, PrestaShopClient, PrestaShopCustomers};
use async_trait::async_trait;
use passerelle_domain::platform::{Capabilities, Capability as C, Platform};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    Coded, Named, ShopConfiguration, ShopConfigurationRead, ShopConnection, TaxRate,
};
use std::sync::Arc;

/// What the PrestaShop Webservice lets the sync do: everything of FEATURES §2. Tracking
/// goes through `order_carriers`, the invoice PDF through `attachments/file` plus a
/// customer-thread message, prospects are customers without orders (`client.rs`).
pub const CAPABILITIES: Capabilities = Capabilities::of(&[
    C::Orders,
    C::Quotes,
    C::StatusWriteBack,
    C::Tracking,
    C::DocumentNumber,
    C::InvoiceDocument,
    C::Products,
    C::Variants,
    C::Categories,
    C::Images,
    C::Documents,
    C::SpecificPrices,
    C::Packs,
    C::CrossSelling,
    C::Stock,
    C::Customers,
    C::CustomerGroups,
    C::Prospects,
    C::ConfigurationReads,
]);

/// Texts are written per shop language: PrestaShop's language ids.
#[derive(Debug, Clone, Default)]
pub struct Languages {
    /// Languages of the product texts (`[export] languages`).
    pub catalog: Vec<String>,
    /// Languages of the customer texts (`[export.customers] languages`).
    pub customers: Vec<String>,
}

/// The connection to a PrestaShop shop at `url` with the webservice `key`: every family.
pub fn connect(url: &str, key: &str, languages: Languages) -> Result<ShopConnection, StepError> {
    let client = PrestaShopClient::new(url, key)?;
    let catalog = Arc::new(PrestaShopCatalog::new(client.clone(), languages.catalog));
    let mut c = ShopConnection::new(Platform::PrestaShop, CAPABILITIES);
    c.orders = Some(Arc::new(client.clone()));
    c.catalog = Some(catalog.clone());
    c.specific_prices = Some(catalog.clone());
    c.links = Some(catalog);
    c.customers = Some(Arc::new(PrestaShopCustomers::new(
        client.clone(),
        languages.customers,
    )));
    c.media = Some(Arc::new(client.clone()));
    c.configuration = Some(Arc::new(client));
    Ok(c)
}

impl From<PsConfiguration> for ShopConfiguration {
    fn from(c: PsConfiguration) -> Self {
        let named = |v: Vec<super::PsNamed>| {
            v.into_iter()
                .map(|n| Named {
                    id: n.id,
                    name: n.name,
                })
                .collect::<Vec<_>>()
        };
        let coded = |v: Vec<super::PsCoded>| {
            v.into_iter()
                .map(|n| Coded {
                    id: n.id,
                    iso_code: n.iso_code,
                    name: n.name,
                })
                .collect::<Vec<_>>()
        };
        ShopConfiguration {
            statuses: named(c.order_states),
            taxes: c
                .taxes
                .into_iter()
                .map(|t| TaxRate {
                    id: t.id,
                    name: t.name,
                    rate: t.rate,
                })
                .collect(),
            carriers: named(c.carriers),
            currencies: coded(c.currencies),
            // PrestaShop has no payment-method resource: the modules of recent orders.
            payment_methods: c
                .payment_modules
                .into_iter()
                .map(|m| Named {
                    id: m.clone(),
                    name: m,
                })
                .collect(),
            countries: coded(c.countries),
            shops: named(c.shops),
            ..ShopConfiguration::default()
        }
    }
}

#[async_trait]
impl ShopConfigurationRead for PrestaShopClient {
    async fn test_connection(&self) -> Result<(), StepError> {
        PrestaShopClient::test_connection(self).await
    }

    async fn read_configuration(&self) -> Result<ShopConfiguration, StepError> {
        PrestaShopClient::read_configuration(self)
            .await
            .map(Into::into)
    }
}
