//! WooCommerce catalogue writes through the batch routes: stock, prices, activation.
//!
//! Facts (`platforms.md` §2 "Stock, prices, batches", `WC-src` `check_batch_limit()` /
//! `batch_items()`): every `/…/batch` route takes at most **100 items counted across
//! create+update+delete** (the limit is a filter many sites change); above it the answer is
//! HTTP 413 `woocommerce_rest_request_entity_too_large`. Per-item failures come back inside
//! a 200 as `{id, error:{code, message, data}}`. Prices and quantities are strings /
//! integers on `regular_price` / `stock_quantity` (`manage_stock` true).
//!
//! Products are found by SKU first (`GET /products?sku=a,b,…`, one call per 100), so a
//! step run twice writes nothing twice (absolute values; unchanged ones not sent).
//! A 413 (a site whose limit is below 100) halves the batch and retries, down to one item.
//! Variations (products whose SKU is a variation's) go to
//! `/products/{parent}/variations/batch`.

use super::client::WooCommerceClient;
use super::http::{is_too_large, MAX_PER_PAGE};
use super::model;
use async_trait::async_trait;
use passerelle_domain::catalog::ProductDraft;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{CatalogShop, Written};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// Most items one batch call carries (WooCommerce's default limit).
pub const MAX_BATCH: usize = 100;

/// The catalogue side of a WooCommerce shop.
#[derive(Clone, Debug)]
pub struct WooCommerceCatalog {
    client: WooCommerceClient,
}

/// A product found by SKU.
#[derive(Debug, Clone)]
struct Found {
    id: u64,
    parent: u64,
    json: Value,
}

impl WooCommerceCatalog {
    /// The catalogue of the shop `client` talks to.
    pub fn new(client: WooCommerceClient) -> Self {
        Self { client }
    }

    /// The products (and variations) with these SKUs, by SKU.
    async fn find(&self, skus: &[String]) -> Result<HashMap<String, Found>, StepError> {
        let mut out = HashMap::new();
        // Commas would split a SKU in the list filter: those are looked up alone.
        let (listable, odd): (Vec<&String>, Vec<&String>) = skus
            .iter()
            .partition(|s| !s.contains(',') && !s.trim().is_empty());
        for chunk in listable.chunks(MAX_PER_PAGE as usize) {
            let sku = chunk
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let a = self
                .client
                .t
                .get(
                    "wc/v3/products",
                    &[
                        ("sku".into(), sku),
                        ("per_page".into(), MAX_PER_PAGE.to_string()),
                    ],
                )
                .await?;
            for p in a.body.as_array().into_iter().flatten() {
                let sku = model::text(p, "sku").unwrap_or_default();
                out.insert(
                    sku,
                    Found {
                        id: p.get("id").and_then(Value::as_u64).unwrap_or(0),
                        parent: p.get("parent_id").and_then(Value::as_u64).unwrap_or(0),
                        json: p.clone(),
                    },
                );
            }
        }
        for s in odd {
            if let Some(p) = self.client.product_by_sku(s).await? {
                out.insert(
                    s.clone(),
                    Found {
                        id: p.get("id").and_then(Value::as_u64).unwrap_or(0),
                        parent: p.get("parent_id").and_then(Value::as_u64).unwrap_or(0),
                        json: p,
                    },
                );
            }
        }
        out.retain(|_, f| f.id != 0);
        Ok(out)
    }

    /// Sends `updates` (`(sku, id, body)`) to `route` in batches of at most `batch`
    /// (≤ 100), halving on 413. Returns the outcome per SKU.
    async fn send(
        &self,
        route: &str,
        updates: Vec<(String, u64, Value)>,
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let mut out = Vec::new();
        let size = batch.clamp(1, MAX_BATCH);
        let mut queue: Vec<Vec<(String, u64, Value)>> =
            updates.chunks(size).map(<[_]>::to_vec).collect();
        queue.reverse();
        while let Some(chunk) = queue.pop() {
            let items: Vec<Value> = chunk
                .iter()
                .map(|(_, id, body)| {
                    let mut b = body.clone();
                    b["id"] = json!(id);
                    b
                })
                .collect();
            match self
                .client
                .t
                .call(Method::POST, route, &[], Some(&json!({"update": items})))
                .await
            {
                Ok(a) => out.extend(settle(&chunk, &a.body)),
                Err(e) if is_too_large(&e) && chunk.len() > 1 => {
                    let half = chunk.len().div_ceil(2);
                    tracing::info!(
                        route,
                        size = chunk.len(),
                        "lot refusé (413) : coupé en deux"
                    );
                    queue.push(chunk[half..].to_vec());
                    queue.push(chunk[..half].to_vec());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Writes `field → value(sku)` on every found product whose current value differs;
    /// missing SKUs are [`Written::Missing`], equal ones [`Written::Unchanged`].
    async fn write(
        &self,
        skus: Vec<String>,
        batch: usize,
        body: impl Fn(&str, &Value) -> Option<Value>,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let found = self.find(&skus).await?;
        let mut out = Vec::new();
        // route → updates: products together, each parent's variations together.
        let mut routes: BTreeMap<String, Vec<(String, u64, Value)>> = BTreeMap::new();
        for sku in skus {
            let Some(f) = found.get(&sku) else {
                out.push((sku, Written::Missing));
                continue;
            };
            match body(&sku, &f.json) {
                None => out.push((sku, Written::Unchanged(f.id.to_string()))),
                Some(b) => {
                    let route = if f.parent != 0 {
                        format!("wc/v3/products/{}/variations/batch", f.parent)
                    } else {
                        "wc/v3/products/batch".to_string()
                    };
                    routes.entry(route).or_default().push((sku, f.id, b));
                }
            }
        }
        for (route, updates) in routes {
            out.extend(self.send(&route, updates, batch).await?);
        }
        Ok(out)
    }
}

/// The outcome of each item of a batch answer `{update:[…]}`: by position, checked on id
/// (an item with `error` failed alone, with WooCommerce's message).
fn settle(chunk: &[(String, u64, Value)], answer: &Value) -> Vec<(String, Written)> {
    let items = answer
        .get("update")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let by_id: HashMap<u64, &Value> = items
        .iter()
        .filter_map(|i| i.get("id").and_then(Value::as_u64).map(|id| (id, i)))
        .collect();
    chunk
        .iter()
        .map(|(sku, id, _)| {
            let w = match by_id.get(id) {
                None => {
                    Written::Refused("absent de la réponse du lot (not in the batch answer)".into())
                }
                Some(i) => match i.get("error") {
                    Some(e) if !e.is_null() => Written::Refused(format!(
                        "{} ({})",
                        e.get("message").and_then(Value::as_str).unwrap_or("refusé"),
                        e.get("code").and_then(Value::as_str).unwrap_or("erreur")
                    )),
                    _ => Written::Updated(id.to_string()),
                },
            };
            (sku.clone(), w)
        })
        .collect()
}

fn unsupported(what: &str) -> StepError {
    StepError::permanent(format!(
        "WooCommerce : {what} pas encore relié dans cette version (not wired yet)"
    ))
}

#[async_trait]
impl CatalogShop for WooCommerceCatalog {
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
        let found = self.find(references).await?;
        Ok(references
            .iter()
            .filter_map(|r| found.get(r).map(|f| (r.clone(), f.id.to_string())))
            .collect())
    }

    /// `regular_price` (a string), the shop's prices being entered tax excluded; the tax
    /// rule is not changed (WooCommerce tax classes are not ERP rules).
    async fn set_prices(
        &self,
        prices: &[(String, Decimal, Option<String>)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let wanted: HashMap<String, String> = prices
            .iter()
            .map(|(r, p, _)| (r.clone(), p.round_dp(6).normalize().to_string()))
            .collect();
        self.write(
            prices.iter().map(|(r, ..)| r.clone()).collect(),
            batch,
            |sku, p| {
                let w = wanted.get(sku)?;
                let cur = model::dec(p.get("regular_price"), "regular_price").ok();
                let want = model::dec(Some(&json!(w)), "price").ok();
                (cur != want || cur.is_none()).then(|| json!({"regular_price": w}))
            },
        )
        .await
    }

    async fn set_stock(
        &self,
        quantities: &[(String, i64)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let wanted: HashMap<String, i64> = quantities.iter().cloned().collect();
        self.write(
            quantities.iter().map(|(r, _)| r.clone()).collect(),
            batch,
            |sku, p| {
                let q = *wanted.get(sku)?;
                let managed = p.get("manage_stock").and_then(Value::as_bool) == Some(true);
                let cur = p.get("stock_quantity").and_then(Value::as_i64);
                (!managed || cur != Some(q))
                    .then(|| json!({"manage_stock": true, "stock_quantity": q}))
            },
        )
        .await
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

    /// `status`: `publish` or `draft`.
    async fn set_active(
        &self,
        states: &[(String, bool)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let wanted: HashMap<String, bool> = states.iter().cloned().collect();
        self.write(
            states.iter().map(|(r, _)| r.clone()).collect(),
            batch,
            |sku, p| {
                let want = if *wanted.get(sku)? {
                    "publish"
                } else {
                    "draft"
                };
                (p.get("status").and_then(Value::as_str) != Some(want))
                    .then(|| json!({"status": want}))
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_per_item_error_fails_only_that_item() {
        let chunk = vec![
            ("A".to_string(), 1, json!({})),
            ("B".to_string(), 2, json!({})),
            ("C".to_string(), 3, json!({})),
        ];
        let answer = json!({"update": [
            {"id": 1, "stock_quantity": 4},
            {"id": 2, "error": {"code": "woocommerce_rest_invalid_product_id", "message": "Invalid ID.", "data": {"status": 400}}}
        ]});
        let w = settle(&chunk, &answer);
        assert_eq!(w[0].1, Written::Updated("1".into()));
        assert!(matches!(&w[1].1, Written::Refused(m) if m.contains("Invalid ID.")));
        assert!(matches!(&w[2].1, Written::Refused(m) if m.contains("absent")));
    }
}
