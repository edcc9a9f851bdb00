//! Magento as a shop platform: what this client can do, its configuration in the neutral
//! shape, and the one [`connect`] the binary's wiring function calls.

use super::catalog::MagentoCatalog;
use super::client::{filter, ping, MagentoClient};
use super::http::Transport;
use super::model::{self, Money};
use async_trait::async_trait;
use passerelle_domain::platform::{Capabilities, Capability as C, Platform};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    Coded, Named, ShopConfiguration, ShopConfigurationRead, ShopConnection, TaxRate,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What this Magento client wires today — only that (the platform can do more: catalogue,
/// prices through `base-prices` / `special-price` / `tier-prices`, customers, shipments
/// with tracking, invoice comments; not wired yet, so the actions needing them are refused
/// before they run):
/// * orders (`GET /V1/orders`), status write-back (native invoice / shipment / cancel /
///   hold, then an order comment), the ERP document number (order comment);
/// * stock (`POST /V1/inventory/source-items`, source `default`);
/// * configuration reads (statuses, taxes, carriers and payment methods seen on recent
///   orders, currencies, countries, languages and store views).
pub const CAPABILITIES: Capabilities = Capabilities::of(&[
    C::Orders,
    C::StatusWriteBack,
    C::DocumentNumber,
    C::Stock,
    C::ConfigurationReads,
]);

/// The order statuses of a Magento 2 installation (`sales_order_status`); core REST has no
/// route listing them, custom ones are mapped by their code in the profile.
const CORE_STATUSES: &[(&str, &str)] = &[
    ("pending", "En attente (Pending)"),
    ("pending_payment", "Paiement en attente (Pending Payment)"),
    ("processing", "En cours (Processing)"),
    ("holded", "Bloquée (On Hold)"),
    ("complete", "Terminée (Complete)"),
    ("closed", "Fermée (Closed)"),
    ("canceled", "Annulée (Canceled)"),
    ("fraud", "Suspicion de fraude (Suspected Fraud)"),
    (
        "payment_review",
        "Vérification du paiement (Payment Review)",
    ),
];

/// The connection to the Magento shop at `url` (its root, or a pasted
/// `…/rest/<store>/V1/` naming the store view) with the integration access token `token`;
/// documents in `money`'s currency.
pub fn connect(url: &str, token: &str, money: Money) -> Result<ShopConnection, StepError> {
    let t = Transport::new(url, token)?;
    let client = MagentoClient::new(t.clone(), money);
    let mut c = ShopConnection::new(Platform::Magento, CAPABILITIES);
    c.orders = Some(Arc::new(client.clone()));
    c.catalog = Some(Arc::new(MagentoCatalog::new(t)));
    c.configuration = Some(Arc::new(client));
    Ok(c)
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

#[async_trait]
impl ShopConfigurationRead for MagentoClient {
    async fn test_connection(&self) -> Result<(), StepError> {
        ping(&self.t).await
    }

    /// Statuses: the core list (no REST route lists them); taxes `GET /V1/taxRates/search`;
    /// carriers and payment methods: those of the last 100 orders (core REST lists none
    /// for the admin); currencies `GET /V1/directory/currency`; countries
    /// `GET /V1/directory/countries`; languages and store views `GET /V1/store/storeConfigs`.
    async fn read_configuration(&self) -> Result<ShopConfiguration, StepError> {
        let mut q = Vec::new();
        filter(&mut q, 0, "id", "0", "gt");
        q.push(("searchCriteria[pageSize]".into(), "300".into()));
        let taxes = self.t.get("taxRates/search", &q).await?;
        let mut q = Vec::new();
        filter(&mut q, 0, "entity_id", "0", "gt");
        q.push((
            "searchCriteria[sortOrders][0][field]".into(),
            "created_at".into(),
        ));
        q.push((
            "searchCriteria[sortOrders][0][direction]".into(),
            "DESC".into(),
        ));
        q.push(("searchCriteria[pageSize]".into(), "100".into()));
        q.push((
            "fields".into(),
            "items[payment,shipping_description,extension_attributes],total_count".into(),
        ));
        let recent = self.t.get("orders", &q).await?;
        let currency = self.t.get("directory/currency", &[]).await?;
        let countries = self.t.get("directory/countries", &[]).await?;
        let stores = self.t.get("store/storeConfigs", &[]).await?;
        let mut carriers = BTreeMap::new();
        let mut payments = BTreeMap::new();
        for o in items(&recent) {
            let method = o
                .pointer("/extension_attributes/shipping_assignments/0/shipping/method")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !method.is_empty() {
                carriers
                    .entry(method.to_string())
                    .or_insert(model::text(o, "shipping_description").unwrap_or_default());
            }
            if let Some(p) = o.get("payment") {
                let m = model::text(p, "method").unwrap_or_default();
                let title = p
                    .pointer("/additional_information/0")
                    .and_then(Value::as_str)
                    .unwrap_or(&m)
                    .to_string();
                if !m.is_empty() {
                    payments.entry(m).or_insert(title);
                }
            }
        }
        let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
        Ok(ShopConfiguration {
            statuses: CORE_STATUSES
                .iter()
                .map(|(id, name)| Named {
                    id: (*id).into(),
                    name: (*name).into(),
                })
                .collect(),
            taxes: items(&taxes)
                .map(|t| TaxRate {
                    id: model::text(t, "id").unwrap_or_default(),
                    name: model::text(t, "code").unwrap_or_default(),
                    rate: model::dec(t.get("rate"), "rate")
                        .unwrap_or_default()
                        .normalize(),
                })
                .collect(),
            carriers: carriers
                .into_iter()
                .map(|(id, name)| Named { id, name })
                .collect(),
            payment_methods: payments
                .into_iter()
                .map(|(id, name)| Named { id, name })
                .collect(),
            currencies: currency
                .get("available_currency_codes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|c| Coded {
                    id: c.into(),
                    iso_code: c.into(),
                    name: c.into(),
                })
                .collect(),
            countries: list(&countries)
                .iter()
                .map(|c| Coded {
                    id: model::text(c, "id").unwrap_or_default(),
                    iso_code: model::text(c, "two_letter_abbreviation").unwrap_or_default(),
                    name: model::text(c, "full_name_locale").unwrap_or_default(),
                })
                .collect(),
            languages: list(&stores)
                .iter()
                .map(|s| {
                    let locale = model::text(s, "locale").unwrap_or_default();
                    Coded {
                        id: model::text(s, "code").unwrap_or_default(),
                        iso_code: locale.split('_').next().unwrap_or_default().to_string(),
                        name: locale,
                    }
                })
                .collect(),
            shops: list(&stores)
                .iter()
                .map(|s| Named {
                    id: model::text(s, "id").unwrap_or_default(),
                    name: model::text(s, "code").unwrap_or_default(),
                })
                .collect(),
            ..ShopConfiguration::default()
        })
    }
}
