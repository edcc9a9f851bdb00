//! The BigCommerce orders client: reading orders into the neutral shape, and the
//! write-backs (status, ERP document number in order metafields, ERP account in customer
//! metafields, tracking through shipments, stock).
//!
//! **Reading.** The port pages by ascending id after the last id seen (keyset); the v2
//! list filters on **one** `status_id` per call and pages by offset. So the first page of
//! a run scans the selection once — for each selected status (never 0, Incomplete: an
//! abandoned checkout is no order), `GET /v2/orders?status_id=S&min_date_modified=…
//! &sort=date_modified:asc&limit=250&page=N` until the `204` that ends a list — into a
//! snapshot of ids the following pages are cut from (the import changes statuses while
//! it runs, which would move orders between the live lists). An order met twice (its
//! status changed between two scans) is kept once, its latest `date_modified`. The
//! order's lines, shipping addresses and tax rows are read only when its page is served
//! (`/products` 250 per page, paged as large orders need; `/shipping_addresses`;
//! `/taxes`), so a 10,000-order window costs its list pages plus three calls per order.
//! A sub-resource that does not parse fails that order alone, with its reason.

use super::http::Transport;
use super::model::{self, DELIVERY_KEY, DOCUMENT_KEY, NAMESPACE};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{DateField, OrderQuery, OrdersPage, Shop, ShopOrderRead};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Rows per v2 list page (the usual maximum, `platforms.md` §4).
pub const PAGE_LIMIT: u32 = 250;

/// The status id of abandoned checkouts: never imported.
pub const INCOMPLETE: &str = "0";

/// The BigCommerce client (orders family).
#[derive(Clone, Debug)]
pub struct BigCommerceClient {
    pub(super) t: Transport,
    snapshot: Arc<Mutex<Option<Snapshot>>>,
}

/// The ids of one selection, with the listed order objects.
#[derive(Debug)]
struct Snapshot {
    query: OrderQuery,
    orders: BTreeMap<u64, Value>,
}

/// The id of a path segment: digits only (never a path or query injection).
pub(super) fn check_id(id: &str) -> Result<u64, StepError> {
    id.trim()
        .parse::<u64>()
        .map_err(|_| StepError::permanent(format!("identifiant BigCommerce invalide : « {id} »")))
}

fn iso(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl BigCommerceClient {
    /// A client on `transport`.
    pub fn new(t: Transport) -> Self {
        Self {
            t,
            snapshot: Arc::new(Mutex::new(None)),
        }
    }

    /// The list query of `q` for one status (without `page` / `limit`).
    pub fn list_query(q: &OrderQuery, status: &str) -> Vec<(String, String)> {
        let (min, max, sort) = match q.date_field {
            DateField::Created => ("min_date_created", "max_date_created", "date_created:asc"),
            DateField::Updated => (
                "min_date_modified",
                "max_date_modified",
                "date_modified:asc",
            ),
        };
        let mut p: Vec<(String, String)> = vec![
            ("status_id".into(), status.to_string()),
            ("sort".into(), sort.into()),
        ];
        if let Some(f) = q.from {
            p.push((min.into(), iso(f)));
        }
        if let Some(t) = q.to {
            p.push((max.into(), iso(t)));
        }
        p
    }

    /// Every order of the selection, by id (one status at a time).
    async fn scan(&self, q: &OrderQuery) -> Result<BTreeMap<u64, Value>, StepError> {
        let mut out: BTreeMap<u64, Value> = BTreeMap::new();
        let mut statuses: Vec<&String> =
            q.states.iter().filter(|s| s.trim() != INCOMPLETE).collect();
        statuses.sort();
        statuses.dedup();
        for status in statuses {
            let status = check_id(status).map_err(|_| {
                StepError::permanent(format!(
                    "statut BigCommerce invalide « {status} » (identifiant numérique attendu, voir /v2/order_statuses)"
                ))
            })?;
            let rows = self
                .t
                .v2_all(
                    "v2/orders",
                    &Self::list_query(q, &status.to_string()),
                    PAGE_LIMIT,
                )
                .await?;
            for o in rows {
                let Some(id) = model::order_id(&o) else {
                    continue;
                };
                if model::text(&o, "status_id").ok().as_deref() == Some(INCOMPLETE) {
                    continue;
                }
                let newer = out.get(&id).is_none_or(|old| {
                    model::date(o.get("date_modified")) >= model::date(old.get("date_modified"))
                });
                if newer {
                    out.insert(id, o);
                }
            }
        }
        Ok(out)
    }

    /// The order with its lines, addresses and taxes, mapped (or why not).
    async fn read_full(&self, id: u64, o: &Value) -> Result<ShopOrderRead, StepError> {
        let invalid = |reason: String| ShopOrderRead::Invalid {
            id: id.to_string(),
            reason: format!("commande BigCommerce {id} illisible : {reason}"),
        };
        let products = match self.sub_resource(id, "products").await? {
            Ok(p) => p,
            Err(why) => return Ok(invalid(why)),
        };
        let addresses = match self.sub_resource(id, "shipping_addresses").await? {
            Ok(a) => a,
            Err(why) => return Ok(invalid(why)),
        };
        let taxes = match self.sub_resource(id, "taxes").await? {
            Ok(t) => t,
            Err(why) => return Ok(invalid(why)),
        };
        Ok(match model::map_order(o, &products, &addresses, &taxes) {
            Ok(order) => ShopOrderRead::Ok(Box::new(order)),
            Err(reason) => invalid(reason),
        })
    }

    /// Every row of `/v2/orders/{id}/{what}`; `Ok(Err(reason))` when an answer does not
    /// parse (that order fails alone).
    async fn sub_resource(
        &self,
        id: u64,
        what: &str,
    ) -> Result<Result<Vec<Value>, String>, StepError> {
        let path = format!("v2/orders/{id}/{what}");
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let q = vec![
                ("page".to_string(), page.to_string()),
                ("limit".to_string(), PAGE_LIMIT.to_string()),
            ];
            let raw = self.t.raw(Method::GET, &path, &q, None).await?;
            let body = match raw.json(&path) {
                Ok(b) => b,
                Err(why) => return Ok(Err(why)),
            };
            let rows = match body {
                Value::Null => break,
                Value::Array(a) => a,
                _ => {
                    return Ok(Err(format!(
                        "réponse « {path} » inattendue (liste attendue)"
                    )))
                }
            };
            let n = rows.len();
            out.extend(rows);
            if n < PAGE_LIMIT as usize {
                break;
            }
            page += 1;
        }
        Ok(Ok(out))
    }

    /// Our metafield `key` on `resource` (`orders/12`, `customers/7`): (id, value).
    pub(super) async fn metafield(
        &self,
        resource: &str,
        key: &str,
    ) -> Result<Option<(u64, String)>, StepError> {
        let a = self
            .t
            .get(
                &format!("v3/{resource}/metafields"),
                &[
                    ("namespace".into(), NAMESPACE.into()),
                    ("key".into(), key.into()),
                ],
            )
            .await?;
        Ok(a.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["namespace"] == NAMESPACE && m["key"] == key)
            .map(|m| {
                (
                    m["id"].as_u64().unwrap_or(0),
                    m["value"].as_str().unwrap_or("").to_string(),
                )
            }))
    }

    /// Sets our metafield `key` = `value` on `resource` (looked up first: a retried call
    /// writes nothing twice).
    pub(super) async fn set_metafield(
        &self,
        resource: &str,
        key: &str,
        value: &str,
        description: &str,
    ) -> Result<(), StepError> {
        match self.metafield(resource, key).await? {
            Some((_, v)) if v == value => Ok(()),
            Some((mid, _)) => {
                self.t
                    .call(
                        Method::PUT,
                        &format!("v3/{resource}/metafields/{mid}"),
                        &[],
                        Some(&json!({"value": value})),
                    )
                    .await?;
                Ok(())
            }
            None => {
                self.t
                    .call(
                        Method::POST,
                        &format!("v3/{resource}/metafields"),
                        &[],
                        Some(&json!({"permission_set": "read", "namespace": NAMESPACE,
                                     "key": key, "value": value, "description": description})),
                    )
                    .await?;
                Ok(())
            }
        }
    }
}

#[async_trait]
impl Shop for BigCommerceClient {
    async fn orders_page(
        &self,
        query: &OrderQuery,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<OrdersPage, StepError> {
        if query.states.is_empty() || limit == 0 {
            return Ok(OrdersPage {
                orders: Vec::new(),
                has_more: false,
            });
        }
        let after = after_id.map(check_id).transpose()?;
        let mut guard = self.snapshot.lock().await;
        let fresh = after.is_none() || guard.as_ref().is_none_or(|s| s.query != *query);
        if fresh {
            *guard = Some(Snapshot {
                query: query.clone(),
                orders: self.scan(query).await?,
            });
        }
        let Some(snap) = guard.as_ref() else {
            return Err(StepError::permanent("instantané des commandes absent"));
        };
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut rest = snap.orders.range(start..);
        let chosen: Vec<(u64, Value)> = rest
            .by_ref()
            .take(limit as usize)
            .map(|(id, o)| (*id, o.clone()))
            .collect();
        let has_more = rest.next().is_some();
        drop(guard);
        let mut orders = Vec::with_capacity(chosen.len());
        for (id, o) in chosen {
            orders.push(self.read_full(id, &o).await?);
        }
        Ok(OrdersPage { orders, has_more })
    }

    /// `PUT /v2/orders/{id}` `{status_id}` (the status ids of `GET /v2/order_statuses`).
    /// BigCommerce e-mails the customer on status changes as the store's settings say:
    /// `notify_customer` cannot change that.
    async fn set_order_state(
        &self,
        order_id: &str,
        state_id: &str,
        _notify_customer: bool,
    ) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        let status = check_id(state_id)?;
        let current = self.t.get(&format!("v2/orders/{id}"), &[]).await?.body;
        if current["status_id"].as_u64() == Some(status) {
            return Ok(());
        }
        self.t
            .call(
                Method::PUT,
                &format!("v2/orders/{id}"),
                &[],
                Some(&json!({"status_id": status})),
            )
            .await?;
        Ok(())
    }

    /// Order metafield `passerelle.erp_document` (the platform has no attachment; the
    /// merchant reads it in the order's metafields).
    async fn set_order_document_number(
        &self,
        order_id: &str,
        document_number: &str,
    ) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        self.set_metafield(
            &format!("orders/{id}"),
            DOCUMENT_KEY,
            document_number,
            "Document EBP",
        )
        .await
    }

    /// Customer metafield `passerelle.erp_account`; a guest (id 0) has no account.
    async fn set_customer_erp_code(&self, customer_id: &str, code: &str) -> Result<(), StepError> {
        let id = check_id(customer_id)?;
        if id == 0 {
            return Ok(());
        }
        self.set_metafield(
            &format!("customers/{id}"),
            "erp_account",
            code,
            "Compte EBP",
        )
        .await
    }

    /// `PUT /v3/inventory/adjustments/absolute` of this SKU at the default location.
    async fn set_stock(&self, reference: &str, quantity: Decimal) -> Result<bool, StepError> {
        let q = quantity.trunc().to_string().parse::<i64>().unwrap_or(0);
        let done = super::platform::set_stock_batch(self, &[(reference.to_string(), q)], 1).await?;
        Ok(done.iter().any(|(_, w)| {
            matches!(
                w,
                passerelle_workflows::ports::Written::Updated(_)
                    | passerelle_workflows::ports::Written::Unchanged(_)
            )
        }))
    }

    /// `POST /v2/orders/{id}/shipments` with the tracking number, every line of the
    /// order's first shipping address (looked up first: a shipment with this number is
    /// never created twice).
    async fn set_tracking(
        &self,
        order_id: &str,
        number: &str,
        _notify: bool,
    ) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        let existing = self
            .t
            .v2_all(&format!("v2/orders/{id}/shipments"), &[], PAGE_LIMIT)
            .await?;
        if existing.iter().any(|s| s["tracking_number"] == number) {
            return Ok(());
        }
        let addresses = self
            .t
            .v2_all(
                &format!("v2/orders/{id}/shipping_addresses"),
                &[],
                PAGE_LIMIT,
            )
            .await?;
        let Some(address) = addresses.first().and_then(|a| a["id"].as_u64()) else {
            return Err(StepError::permanent(format!(
                "commande BigCommerce {id} sans adresse de livraison : pas d'expédition possible"
            )));
        };
        let products = self
            .t
            .v2_all(&format!("v2/orders/{id}/products"), &[], PAGE_LIMIT)
            .await?;
        let items: Vec<Value> = products
            .iter()
            .filter(|p| p["order_address_id"].as_u64() == Some(address))
            .filter_map(|p| {
                let q = p["quantity"].as_i64()? - p["quantity_shipped"].as_i64().unwrap_or(0);
                (q > 0).then(|| json!({"order_product_id": p["id"], "quantity": q}))
            })
            .collect();
        if items.is_empty() {
            return Err(StepError::permanent(format!(
                "commande BigCommerce {id} : plus rien à expédier (déjà expédiée)"
            )));
        }
        self.t
            .call(
                Method::POST,
                &format!("v2/orders/{id}/shipments"),
                &[],
                Some(
                    &json!({"order_address_id": address, "tracking_number": number,
                             "comments": "Passerelle (EBP)", "items": items}),
                ),
            )
            .await?;
        Ok(())
    }

    async fn set_order_reference(
        &self,
        _order_id: &str,
        _reference: &str,
    ) -> Result<(), StepError> {
        Err(StepError::permanent(
            "BigCommerce numérote ses commandes : le numéro ne peut pas être remplacé",
        ))
    }

    /// Order metafield `passerelle.delivery_date` (core has no delivery date).
    async fn set_delivery_date(&self, order_id: &str, date: NaiveDate) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        self.set_metafield(
            &format!("orders/{id}"),
            DELIVERY_KEY,
            &date.format("%Y-%m-%d").to_string(),
            "Date de livraison (EBP)",
        )
        .await
    }

    /// The tracking number of each order's latest shipment.
    async fn tracking_numbers(
        &self,
        order_ids: &[String],
    ) -> Result<BTreeMap<String, String>, StepError> {
        let mut out = BTreeMap::new();
        for o in order_ids {
            let id = check_id(o)?;
            let shipments = self
                .t
                .v2_all(&format!("v2/orders/{id}/shipments"), &[], PAGE_LIMIT)
                .await?;
            if let Some(n) = shipments
                .iter()
                .rev()
                .filter_map(|s| s["tracking_number"].as_str())
                .find(|n| !n.is_empty())
            {
                out.insert(o.clone(), n.to_string());
            }
        }
        Ok(out)
    }

    async fn attach_invoice(
        &self,
        _order_id: &str,
        _invoice_number: &str,
        _pdf: &[u8],
    ) -> Result<String, StepError> {
        Err(StepError::permanent(
            "BigCommerce n'a pas de pièce jointe de commande (no order attachment)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_query_asks_one_status_by_modification_date() {
        let from = DateTime::parse_from_rfc3339("2025-01-06T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .ok();
        let q = OrderQuery {
            states: vec!["11".into(), "9".into()],
            from,
            date_field: DateField::Updated,
            ..OrderQuery::default()
        };
        let p = BigCommerceClient::list_query(&q, "11");
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("status_id"), Some("11"));
        assert_eq!(get("sort"), Some("date_modified:asc"));
        assert_eq!(get("min_date_modified"), Some("2025-01-06T12:00:00Z"));
        assert_eq!(get("min_date_created"), None);
    }

    #[test]
    fn ids_are_digits_only() {
        assert!(check_id("12").is_ok());
        assert!(check_id("12/../x").is_err());
    }
}
