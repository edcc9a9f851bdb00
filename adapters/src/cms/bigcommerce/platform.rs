//! BigCommerce as a shop platform: what this client can do, its catalogue side (stock
//! through the v3 Inventory API), its configuration in the neutral shape, and the one
//! [`connect`] the binary's wiring function calls.

use super::client::{BigCommerceClient, PAGE_LIMIT};
use super::gate::RateGate;
use super::http::Transport;
use super::model;
use async_trait::async_trait;
use passerelle_domain::catalog::ProductDraft;
use passerelle_domain::platform::{Capabilities, Capability as C, Platform};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    CatalogShop, Coded, Named, ShopConfiguration, ShopConfigurationRead, ShopConnection, Written,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What this BigCommerce client wires today — only that:
/// * orders (`GET /v2/orders`, one status per call), status write-back
///   (`PUT /v2/orders/{id}`), tracking (`POST /v2/orders/{id}/shipments`), the ERP
///   document number (order metafield `passerelle.erp_document`);
/// * stock (`PUT /v3/inventory/adjustments/absolute`, ≤ 2,000 items per call);
/// * configuration reads (statuses, currencies, payment methods and carriers seen on
///   recent orders).
///
/// Not declared, so refused before a run or skipped with a note: invoice documents (the
/// platform has no attachment), quotes, the catalogue (products ≤ 10 / variants ≤ 50 per
/// call), price lists, customers and groups.
pub const CAPABILITIES: Capabilities = Capabilities::of(&[
    C::Orders,
    C::StatusWriteBack,
    C::Tracking,
    C::DocumentNumber,
    C::Stock,
    C::ConfigurationReads,
]);

/// Most items of one absolute inventory adjustment (`specs/bigcommerce/inventory.v3.yml`:
/// "Limit of 2000 items for payload length"; 413 above).
pub const INVENTORY_CAP: usize = 2000;

/// Rows per `GET /v3/inventory/items` page.
const ITEMS_PER_PAGE: usize = 250;

/// The location stock is written at: the store's default location, id 1 (the Inventory
/// API's examples; a multi-location store keeps its other locations untouched).
pub const DEFAULT_LOCATION: u64 = 1;

/// The connection to the BigCommerce store at `url` (`https://api.bigcommerce.com/stores/
/// HASH`) with the API account's access `token`; its requests paced by `gate` (shared with
/// every worker through the database).
pub fn connect(url: &str, token: &str, gate: RateGate) -> Result<ShopConnection, StepError> {
    let client = BigCommerceClient::new(Transport::new(url, token, Some(gate))?);
    let mut c = ShopConnection::new(Platform::BigCommerce, CAPABILITIES);
    c.orders = Some(Arc::new(client.clone()));
    c.catalog = Some(Arc::new(BigCommerceCatalog {
        client: client.clone(),
    }));
    c.configuration = Some(Arc::new(client));
    Ok(c)
}

/// The catalogue side of a BigCommerce store: stock only.
#[derive(Clone, Debug)]
pub struct BigCommerceCatalog {
    client: BigCommerceClient,
}

impl BigCommerceCatalog {
    /// The catalogue of the store `client` talks to.
    pub fn new(client: BigCommerceClient) -> Self {
        Self { client }
    }
}

/// The default location's available quantity of each SKU the store has.
async fn current_stock(
    client: &BigCommerceClient,
    skus: &[String],
) -> Result<HashMap<String, i64>, StepError> {
    let mut out = HashMap::new();
    // A comma would split a SKU in the `sku:in` list: such SKUs are asked alone.
    let (listable, odd): (Vec<&String>, Vec<&String>) = skus.iter().partition(|s| !s.contains(','));
    let mut chunks: Vec<String> = listable
        .chunks(ITEMS_PER_PAGE)
        .map(|c| c.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","))
        .collect();
    chunks.extend(odd.into_iter().cloned());
    for list in chunks {
        if list.trim().is_empty() {
            continue;
        }
        let a = client
            .t
            .get(
                "v3/inventory/items",
                &[
                    ("sku:in".into(), list),
                    ("location_id:in".into(), DEFAULT_LOCATION.to_string()),
                    ("limit".into(), ITEMS_PER_PAGE.to_string()),
                ],
            )
            .await?;
        for item in a.body["data"].as_array().into_iter().flatten() {
            let Some(sku) = item["identity"]["sku"].as_str() else {
                continue;
            };
            let q = item["locations"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["location_id"].as_u64() == Some(DEFAULT_LOCATION))
                .and_then(|l| l["available_to_sell"].as_i64())
                .unwrap_or(0);
            out.insert(sku.to_string(), q);
        }
    }
    Ok(out)
}

/// The failing items of a 422 / 207 answer: index in the batch → reason (keys `items.N`).
fn item_errors(e: &Value) -> HashMap<usize, String> {
    e["errors"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let i = k.strip_prefix("items.")?.split('.').next()?.parse().ok()?;
            let why = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            Some((i, why))
        })
        .collect()
}

/// Sets absolute quantities by SKU at the default location: unknown SKUs are
/// [`Written::Missing`], equal ones [`Written::Unchanged`], the others go out in
/// adjustments of at most `batch` (≤ 2,000) items. A 413 halves the batch; a 422 (nothing
/// applied) or a 207 (the others applied) naming items (`errors["items.N"]`) fails those
/// items with the store's reason and, for a 422, sends the rest again.
pub(super) async fn set_stock_batch(
    client: &BigCommerceClient,
    quantities: &[(String, i64)],
    batch: usize,
) -> Result<Vec<(String, Written)>, StepError> {
    let skus: Vec<String> = quantities.iter().map(|(s, _)| s.clone()).collect();
    let current = current_stock(client, &skus).await?;
    let mut out = Vec::new();
    let mut todo = Vec::new();
    for (sku, q) in quantities {
        match current.get(sku) {
            None => out.push((sku.clone(), Written::Missing)),
            Some(c) if c == q => out.push((sku.clone(), Written::Unchanged(sku.clone()))),
            Some(_) => todo.push((sku.clone(), *q)),
        }
    }
    let size = batch.clamp(1, INVENTORY_CAP);
    let mut queue: Vec<Vec<(String, i64)>> = todo.chunks(size).map(<[_]>::to_vec).collect();
    queue.reverse();
    while let Some(chunk) = queue.pop() {
        let items: Vec<Value> = chunk
            .iter()
            .map(|(sku, q)| json!({"location_id": DEFAULT_LOCATION, "sku": sku, "quantity": q}))
            .collect();
        let raw = client
            .t
            .raw_keeping(
                Method::PUT,
                "v3/inventory/adjustments/absolute",
                &[],
                Some(&json!({"reason": "Passerelle : stock EBP", "items": items})),
                &[422],
            )
            .await;
        match raw {
            Ok(a) if a.status == 207 => {
                let body = a.json("inventory").unwrap_or(Value::Null);
                let failed = item_errors(&body);
                for (i, (sku, _)) in chunk.iter().enumerate() {
                    out.push((
                        sku.clone(),
                        match failed.get(&i) {
                            Some(why) => Written::Refused(why.clone()),
                            None => Written::Updated(sku.clone()),
                        },
                    ));
                }
            }
            Err(StepError::Permanent(m))
                if m.starts_with("BigCommerce HTTP 413") && chunk.len() > 1 =>
            {
                let half = chunk.len().div_ceil(2);
                tracing::info!(
                    size = chunk.len(),
                    "lot de stock refusé (413) : coupé en deux"
                );
                queue.push(chunk[half..].to_vec());
                queue.push(chunk[..half].to_vec());
            }
            Ok(a) if a.status == 422 => {
                // The whole request was refused: fail the items it names, send the rest.
                let body = a.json("inventory").unwrap_or(Value::Null);
                let failed = item_errors(&body);
                if failed.is_empty() {
                    let why = format!(
                        "BigCommerce HTTP 422 : {}",
                        super::http::error_message(&a.bytes)
                    );
                    out.extend(
                        chunk
                            .iter()
                            .map(|(s, _)| (s.clone(), Written::Refused(why.clone()))),
                    );
                    continue;
                }
                let mut rest = Vec::new();
                for (i, item) in chunk.into_iter().enumerate() {
                    match failed.get(&i) {
                        Some(why) => out.push((item.0, Written::Refused(why.clone()))),
                        None => rest.push(item),
                    }
                }
                if !rest.is_empty() {
                    queue.push(rest);
                }
            }
            Ok(_) => out.extend(
                chunk
                    .iter()
                    .map(|(s, _)| (s.clone(), Written::Updated(s.clone()))),
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn unsupported(what: &str) -> StepError {
    StepError::permanent(format!(
        "BigCommerce : {what} pas encore relié dans cette version (not wired yet)"
    ))
}

#[async_trait]
impl CatalogShop for BigCommerceCatalog {
    async fn upsert_products(
        &self,
        _drafts: &[ProductDraft],
        _create: bool,
        _batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        Err(unsupported("l'export des articles"))
    }

    /// The references the store's inventory knows (`GET /v3/inventory/items?sku:in=…`).
    async fn existing(
        &self,
        references: &[String],
        _batch: usize,
    ) -> Result<Vec<(String, String)>, StepError> {
        let found = current_stock(&self.client, references).await?;
        Ok(references
            .iter()
            .filter(|r| found.contains_key(*r))
            .map(|r| (r.clone(), r.clone()))
            .collect())
    }

    async fn set_prices(
        &self,
        _prices: &[(String, rust_decimal::Decimal, Option<String>)],
        _batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        Err(unsupported("les prix"))
    }

    async fn set_stock(
        &self,
        quantities: &[(String, i64)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        set_stock_batch(&self.client, quantities, batch).await
    }

    async fn ensure_categories(
        &self,
        _paths: &[Vec<String>],
        _root: &str,
        _create: bool,
    ) -> Result<Vec<(Vec<String>, Vec<String>)>, StepError> {
        Err(unsupported("les catégories"))
    }

    async fn find_categories(
        &self,
        _entries: &[String],
        _by_id: bool,
    ) -> Result<Vec<(String, Option<String>)>, StepError> {
        Err(unsupported("les catégories"))
    }

    async fn ensure_manufacturers(
        &self,
        _names: &[String],
    ) -> Result<Vec<(String, String)>, StepError> {
        Err(unsupported("les marques"))
    }

    async fn set_active(
        &self,
        _states: &[(String, bool)],
        _batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        Err(unsupported("l'activation des articles"))
    }
}

#[async_trait]
impl ShopConfigurationRead for BigCommerceClient {
    async fn test_connection(&self) -> Result<(), StepError> {
        self.t.get("v2/order_statuses", &[]).await.map(|_| ())
    }

    /// Statuses `GET /v2/order_statuses` (custom labels first), currencies
    /// `GET /v2/currencies`; payment methods and carriers as seen on the latest orders
    /// (the store lists its checkout providers nowhere in the APIs read here): the last
    /// 50 orders' `payment_method`, the shipping methods of the last 10.
    async fn read_configuration(&self) -> Result<ShopConfiguration, StepError> {
        let statuses = self.t.get("v2/order_statuses", &[]).await?.body;
        let currencies = self.t.get("v2/currencies", &[]).await?.body;
        let recent = self
            .t
            .get(
                "v2/orders",
                &[
                    ("sort".into(), "date_created:desc".into()),
                    ("limit".into(), "50".into()),
                ],
            )
            .await?
            .body;
        let recent: Vec<Value> = recent.as_array().cloned().unwrap_or_default();
        let payments: BTreeSet<String> = recent
            .iter()
            .filter_map(|o| model::text(o, "payment_method").ok())
            .filter(|p| !p.trim().is_empty())
            .collect();
        let mut carriers = BTreeSet::new();
        for o in recent.iter().take(10) {
            let Some(id) = model::order_id(o) else {
                continue;
            };
            let a = self
                .t
                .v2_all(
                    &format!("v2/orders/{id}/shipping_addresses"),
                    &[],
                    PAGE_LIMIT,
                )
                .await?;
            carriers.extend(
                a.iter()
                    .filter_map(|x| x["shipping_method"].as_str())
                    .filter(|m| !m.trim().is_empty())
                    .map(str::to_string),
            );
        }
        Ok(ShopConfiguration {
            statuses: statuses
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| Named {
                    id: model::text(s, "id").unwrap_or_default(),
                    name: s["custom_label"]
                        .as_str()
                        .filter(|l| !l.is_empty())
                        .or_else(|| s["name"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                })
                .collect(),
            currencies: currencies
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| Coded {
                    id: model::text(c, "id").unwrap_or_default(),
                    iso_code: model::text(c, "currency_code").unwrap_or_default(),
                    name: model::text(c, "name").unwrap_or_default(),
                })
                .collect(),
            payment_methods: payments
                .into_iter()
                .map(|p| Named {
                    id: p.clone(),
                    name: p,
                })
                .collect(),
            carriers: carriers
                .into_iter()
                .map(|m| Named {
                    id: m.clone(),
                    name: m,
                })
                .collect(),
            ..ShopConfiguration::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_errors_point_at_their_index() {
        let e = json!({"status": 422, "title": "[…]", "errors": {"items.3": "Item with sku X is not found", "other": "x"}});
        let m = item_errors(&e);
        assert_eq!(m.len(), 1);
        assert!(m[&3].contains("not found"));
    }
}
