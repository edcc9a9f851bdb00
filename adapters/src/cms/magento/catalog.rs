//! Magento stock writes through MSI source items.
//!
//! Facts (`platforms.md` §5 "Writing stock/prices", `ADOBE:…/api-security.md`,
//! `specs/magento/admin-schema-2.4.8.yaml` `PostV1InventorySourceitems`):
//! `POST /V1/inventory/source-items` takes `{sourceItems:[{sku, source_code, quantity,
//! status}]}`; when the shop's *input limits* are on, a synchronous array above the
//! configured size (20 by default) is refused with 400
//! `Maximum items of type "…SourceItemInterface" is 20`. The whole call is validated
//! before anything is saved, so one bad item (unknown SKU…) fails the call with 400.
//!
//! Here: products and current quantities are looked up first (`GET /V1/products` and
//! `GET /V1/inventory/source-items`, `sku in (…)`), unknown SKUs are
//! [`Written::Missing`], equal quantities [`Written::Unchanged`] (a step run twice writes
//! nothing twice: absolute values). The rest goes out in arrays of the asked batch size;
//! a 400 naming the array cap re-cuts everything to that cap (remembered for the
//! connection); another 400 halves the array until the bad item is alone, which alone is
//! [`Written::Refused`] with Magento's message.

use super::client::{filter, DEFAULT_SOURCE};
use super::http::{array_cap, is_bad_request, Transport};
use super::model;
use async_trait::async_trait;
use passerelle_domain::catalog::ProductDraft;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{CatalogShop, Written};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Largest array sent when the shop has not told its cap yet.
pub const MAX_ARRAY: usize = 100;

/// SKUs per look-up (`sku in (…)`; within the 300 page cap).
const LOOKUP_CHUNK: usize = 100;

/// A product found by SKU, with its `default` source quantity when it has one.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub id: String,
    pub quantity: Option<Decimal>,
}

/// The products with these SKUs and their `default` source quantities.
pub(super) async fn lookup(
    t: &Transport,
    skus: &[String],
) -> Result<HashMap<String, Found>, StepError> {
    let mut out: HashMap<String, Found> = HashMap::new();
    // A comma would split a SKU inside `in`: such SKUs are looked up with `eq`.
    let (listable, odd): (Vec<&String>, Vec<&String>) = skus
        .iter()
        .filter(|s| !s.trim().is_empty())
        .partition(|s| !s.contains(','));
    let mut groups: Vec<(String, &str)> = listable
        .chunks(LOOKUP_CHUNK)
        .map(|c| {
            (
                c.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
                "in",
            )
        })
        .collect();
    groups.extend(odd.iter().map(|s| (s.to_string(), "eq")));
    for (value, cond) in groups {
        let mut q = Vec::new();
        filter(&mut q, 0, "sku", &value, cond);
        q.push(("searchCriteria[pageSize]".into(), LOOKUP_CHUNK.to_string()));
        q.push(("fields".into(), "items[id,sku],total_count".into()));
        let products = t.get("products", &q).await?;
        for p in products
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sku = model::text(p, "sku").unwrap_or_default();
            out.insert(
                sku,
                Found {
                    id: model::text(p, "id").unwrap_or_default(),
                    quantity: None,
                },
            );
        }
        let mut q = Vec::new();
        filter(&mut q, 0, "sku", &value, cond);
        filter(&mut q, 1, "source_code", DEFAULT_SOURCE, "eq");
        q.push(("searchCriteria[pageSize]".into(), LOOKUP_CHUNK.to_string()));
        let items = t.get("inventory/source-items", &q).await?;
        for i in items
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sku = model::text(i, "sku").unwrap_or_default();
            if let Some(f) = out.get_mut(&sku) {
                f.quantity = model::dec(i.get("quantity"), "quantity").ok();
            }
        }
    }
    Ok(out)
}

/// One `POST /V1/inventory/source-items` call.
pub(super) async fn save(t: &Transport, items: &[(String, Decimal)]) -> Result<(), StepError> {
    let body: Vec<Value> = items
        .iter()
        .map(|(sku, q)| {
            // `quantity` is a number in the schema; sent as the decimal's exact text.
            let quantity: Value =
                serde_json::from_str(&q.normalize().to_string()).unwrap_or_else(|_| json!(0));
            json!({"sku": sku, "source_code": DEFAULT_SOURCE, "quantity": quantity,
                   "status": i32::from(*q > Decimal::ZERO)})
        })
        .collect();
    t.call(
        Method::POST,
        "inventory/source-items",
        &[],
        Some(&json!({ "sourceItems": body })),
    )
    .await?;
    Ok(())
}

/// The catalogue side of a Magento shop (stock only, today).
#[derive(Clone, Debug)]
pub struct MagentoCatalog {
    t: Transport,
    /// The array cap the shop told (input limits), shared by the connection's calls.
    cap: Arc<AtomicUsize>,
}

impl MagentoCatalog {
    /// The catalogue of the shop `t` talks to.
    pub fn new(t: Transport) -> Self {
        Self {
            t,
            cap: Arc::new(AtomicUsize::new(MAX_ARRAY)),
        }
    }

    /// Sends `items` in arrays of at most `batch` (and the shop's cap); outcome per SKU.
    async fn send(
        &self,
        items: Vec<(String, Decimal)>,
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let mut out = Vec::new();
        let mut queue: Vec<Vec<(String, Decimal)>> = Vec::new();
        let size = batch
            .clamp(1, MAX_ARRAY)
            .min(self.cap.load(Ordering::Relaxed));
        for c in items.chunks(size.max(1)).rev() {
            queue.push(c.to_vec());
        }
        while let Some(chunk) = queue.pop() {
            match save(&self.t, &chunk).await {
                Ok(()) => out.extend(
                    chunk
                        .iter()
                        .map(|(sku, _)| (sku.clone(), Written::Updated(sku.clone()))),
                ),
                Err(e) => {
                    if let Some(cap) = array_cap(&e).filter(|c| *c >= 1 && *c < chunk.len()) {
                        self.cap.fetch_min(cap, Ordering::Relaxed);
                        tracing::info!(
                            size = chunk.len(),
                            cap,
                            "Magento : tableau refusé (limite d'entrée) : recoupé"
                        );
                        // Everything still to send is re-cut to the cap, not only this array.
                        let mut rest = chunk;
                        while let Some(c) = queue.pop() {
                            rest.extend(c);
                        }
                        for c in rest.chunks(cap).rev() {
                            queue.push(c.to_vec());
                        }
                    } else if is_bad_request(&e) && chunk.len() > 1 {
                        let half = chunk.len().div_ceil(2);
                        queue.push(chunk[half..].to_vec());
                        queue.push(chunk[..half].to_vec());
                    } else if is_bad_request(&e) {
                        let sku = chunk[0].0.clone();
                        out.push((sku, Written::Refused(e.to_string())));
                    } else {
                        return Err(e);
                    }
                }
            }
        }
        Ok(out)
    }
}

fn unsupported(what: &str) -> StepError {
    StepError::permanent(format!(
        "Magento : {what} pas encore relié dans cette version (not wired yet)"
    ))
}

#[async_trait]
impl CatalogShop for MagentoCatalog {
    async fn upsert_products(
        &self,
        _drafts: &[ProductDraft],
        _create: bool,
        _batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        Err(unsupported("l'export des articles"))
    }

    async fn existing(
        &self,
        references: &[String],
        _batch: usize,
    ) -> Result<Vec<(String, String)>, StepError> {
        let found = lookup(&self.t, references).await?;
        Ok(references
            .iter()
            .filter_map(|r| found.get(r).map(|f| (r.clone(), f.id.clone())))
            .collect())
    }

    async fn set_prices(
        &self,
        _prices: &[(String, Decimal, Option<String>)],
        _batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        Err(unsupported("les prix (base-prices)"))
    }

    async fn set_stock(
        &self,
        quantities: &[(String, i64)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let skus: Vec<String> = quantities.iter().map(|(s, _)| s.clone()).collect();
        let found = lookup(&self.t, &skus).await?;
        let mut out = Vec::new();
        let mut send = Vec::new();
        for (sku, q) in quantities {
            let q = Decimal::from(*q);
            match found.get(sku) {
                None => out.push((sku.clone(), Written::Missing)),
                Some(f) if f.quantity == Some(q) => {
                    out.push((sku.clone(), Written::Unchanged(sku.clone())))
                }
                Some(_) => send.push((sku.clone(), q)),
            }
        }
        out.extend(self.send(send, batch).await?);
        Ok(out)
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
