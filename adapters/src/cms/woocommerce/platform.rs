//! WooCommerce as a shop platform: what this client can do, its configuration in the
//! neutral shape, and the one [`connect`] the binary's wiring function calls.

use super::catalog::WooCommerceCatalog;
use super::client::{ping, WooCommerceClient};
use super::http::{Transport, WooAuth, MAX_PER_PAGE};
use super::model;
use async_trait::async_trait;
use passerelle_domain::platform::{Capabilities, Capability as C, Platform};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    Coded, Named, ShopConfiguration, ShopConfigurationRead, ShopConnection, TaxRate,
};
use serde_json::Value;
use std::sync::Arc;

/// What this WooCommerce client wires today — only that (FEATURES §2 lists more for the
/// platform: catalogue export, customers, tracking through the Shipment Tracking extension
/// are not wired yet, so the actions needing them are refused before they run):
/// * orders (`GET /orders`), status write-back (`PUT /orders/{id}`), the ERP document
///   number (private order note + `meta_data`);
/// * stock (`/products/batch`, `/products/{id}/variations/batch`);
/// * configuration reads (statuses, taxes, shipping methods, payment gateways, currency,
///   countries).
pub const CAPABILITIES: Capabilities = Capabilities::of(&[
    C::Orders,
    C::StatusWriteBack,
    C::DocumentNumber,
    C::Stock,
    C::ConfigurationReads,
]);

/// The connection to the WooCommerce shop at `url` with `credentials` = `ck_…:cs_…`
/// (`query_auth`: keys in the query string, for servers that strip `Authorization`).
pub fn connect(
    url: &str,
    credentials: &str,
    query_auth: bool,
) -> Result<ShopConnection, StepError> {
    let auth = if query_auth {
        WooAuth::QueryString
    } else {
        WooAuth::Basic
    };
    let client = WooCommerceClient::new(Transport::new(url, credentials, auth)?);
    let mut c = ShopConnection::new(Platform::WooCommerce, CAPABILITIES);
    c.orders = Some(Arc::new(client.clone()));
    c.catalog = Some(Arc::new(WooCommerceCatalog::new(client.clone())));
    c.configuration = Some(Arc::new(client));
    Ok(c)
}

fn list(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn named(v: &Value, id: &str, name: &str) -> Named {
    Named {
        id: model::text(v, id).unwrap_or_default(),
        name: model::text(v, name).unwrap_or_default(),
    }
}

#[async_trait]
impl ShopConfigurationRead for WooCommerceClient {
    async fn test_connection(&self) -> Result<(), StepError> {
        ping(&self.t).await
    }

    /// Statuses from `GET /reports/orders/totals` (core and plugin statuses with their
    /// names), taxes `GET /taxes`, carriers `GET /shipping_methods`, payment methods
    /// `GET /payment_gateways` (enabled ones), currency `GET /data/currencies/current`,
    /// countries `GET /data/countries`. Core has no languages nor customer groups.
    async fn read_configuration(&self) -> Result<ShopConfiguration, StepError> {
        let per_page = [("per_page".to_string(), MAX_PER_PAGE.to_string())];
        let statuses = self.t.get("wc/v3/reports/orders/totals", &[]).await?.body;
        let taxes = self.t.get("wc/v3/taxes", &per_page).await?.body;
        let shipping = self.t.get("wc/v3/shipping_methods", &[]).await?.body;
        let gateways = self.t.get("wc/v3/payment_gateways", &[]).await?.body;
        let currency = self.t.get("wc/v3/data/currencies/current", &[]).await?.body;
        let countries = self.t.get("wc/v3/data/countries", &[]).await?.body;
        Ok(ShopConfiguration {
            statuses: list(&statuses).map(|s| named(s, "slug", "name")).collect(),
            taxes: list(&taxes)
                .map(|t| TaxRate {
                    id: model::text(t, "id").unwrap_or_default(),
                    name: model::text(t, "name").unwrap_or_default(),
                    rate: model::dec(t.get("rate"), "rate")
                        .unwrap_or_default()
                        .normalize(),
                })
                .collect(),
            carriers: list(&shipping).map(|s| named(s, "id", "title")).collect(),
            payment_methods: list(&gateways)
                .filter(|g| g.get("enabled").and_then(Value::as_bool) != Some(false))
                .map(|g| named(g, "id", "title"))
                .collect(),
            currencies: currency
                .get("code")
                .map(|_| Coded {
                    id: model::text(&currency, "code").unwrap_or_default(),
                    iso_code: model::text(&currency, "code").unwrap_or_default(),
                    name: model::text(&currency, "name").unwrap_or_default(),
                })
                .into_iter()
                .collect(),
            countries: list(&countries)
                .map(|c| Coded {
                    id: model::text(c, "code").unwrap_or_default(),
                    iso_code: model::text(c, "code").unwrap_or_default(),
                    name: model::text(c, "name").unwrap_or_default(),
                })
                .collect(),
            ..ShopConfiguration::default()
        })
    }
}
