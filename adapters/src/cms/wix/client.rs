//! The Wix client: orders read into the neutral shape, the write-backs (status, order
//! activities for the ERP document number and delivery date, fulfilments with tracking),
//! stock through Catalog V3 inventory items, the configuration read from recent orders.
//!
//! **Reading** (`platforms.md` §6, §10 rule 1): the port pages by ascending id after the
//! last id seen. The first page of a run reads the whole selection once with `POST
//! /ecom/v1/orders/search` — the Wix query language on `createdDate` / `updatedDate`
//! (`$gte` / `$lte`) and `paymentStatus` (`$in`), sorted by `createdDate` ASC, cursor
//! paging of 100 (the maximum), the following pages sending only the cursor — into a
//! snapshot keyed by id (an order met twice is kept once), the following pages of the run
//! are cut from. The import changes orders while it runs (`updatedDate` moves): the
//! snapshot does not. A malformed order fails alone with its reason.
//!
//! **Stock** (`platforms.md` §6, §10 rule 9): the inventory items are found by SKU
//! (`GET /stores/v3/inventory-items/query`, `product.variantSku` `$in`, the SDK's GET form
//! of the query), unchanged quantities are not sent, the others go out by
//! `POST /stores/v3/bulk/inventory-items/update` in chunks of at most 1,000 items, each
//! with the item's current `revision`. An item refused for a revision conflict is read
//! again (`GET /stores/v3/inventory-items/{id}`) and sent once more with its new revision;
//! refused again, it fails alone with Wix's reason. Other per-item errors fail their item.

use super::http::{catalog_v1, Transport};
use super::model::{self, DELIVERY_NOTE_PREFIX, DOCUMENT_NOTE_PREFIX};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use passerelle_domain::catalog::ProductDraft;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    CatalogShop, Coded, DateField, Named, OrderQuery, OrdersPage, Shop, ShopConfiguration,
    ShopConfigurationRead, ShopOrderRead, TaxRate, Written,
};
use reqwest::Method;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Most orders per search page (`cursorPaging.limit` ≤ 100).
pub const SEARCH_LIMIT: u32 = 100;
/// Most items per bulk inventory update.
pub const MAX_INVENTORY_BATCH: usize = 1000;
/// SKUs per inventory query.
const SKU_QUERY_CHUNK: usize = 100;
/// Order ids per `list-by-ids` call.
const FULFILMENT_IDS_CHUNK: usize = 100;
/// The payment statuses of a Wix order (`platforms.md` §6).
pub const PAYMENT_STATUSES: &[&str] = &[
    "NOT_PAID",
    "PAID",
    "PARTIALLY_PAID",
    "PARTIALLY_REFUNDED",
    "FULLY_REFUNDED",
    "PENDING",
    "PENDING_MERCHANT",
    "CANCELED",
    "DECLINED",
    "UNSPECIFIED",
];
/// The status ids this client gives orders, with their French names.
pub const STATUSES: &[(&str, &str)] = &[
    ("NOT_PAID", "Non payée"),
    ("PENDING", "Paiement en attente"),
    ("PENDING_MERCHANT", "Paiement à valider par le marchand"),
    ("PARTIALLY_PAID", "Partiellement payée"),
    ("PAID", "Payée"),
    ("PARTIALLY_REFUNDED", "Partiellement remboursée"),
    ("FULLY_REFUNDED", "Remboursée"),
    ("DECLINED", "Paiement refusé"),
    ("FULFILLED", "Expédiée"),
    ("CANCELED", "Annulée"),
];
/// The order statuses `update-status` takes (besides `CANCELED`, which goes through
/// `/cancel`, and `FULFILLED`, through a fulfilment).
const SETTABLE: &[&str] = &["APPROVED", "PENDING", "REJECTED"];

/// The Wix client (orders, stock, configuration).
#[derive(Clone, Debug)]
pub struct WixClient {
    pub(super) t: Transport,
    snapshot: Arc<Mutex<Option<Snapshot>>>,
}

#[derive(Debug)]
struct Snapshot {
    query: OrderQuery,
    orders: BTreeMap<String, ShopOrderRead>,
}

/// The order id Passerelle keeps: Wix's GUID without its dashes (32 hex digits), because
/// the ERP's order-link field holds 32 characters (`atoosync_order`) and a GUID has 36.
/// The mapping is one to one: [`order_guid`] gives the GUID back.
pub fn compact_id(guid: &str) -> String {
    guid.chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The Wix order GUID (`8-4-4-4-12`) of an id in either form.
pub fn order_guid(id: &str) -> Result<String, StepError> {
    let hex = compact_id(id.trim());
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(StepError::permanent(format!(
            "identifiant de commande Wix invalide : « {id} »"
        )));
    }
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// An id as a path segment: GUID characters only (never a path or query injection).
fn check_id(id: &str) -> Result<&str, StepError> {
    let ok =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok {
        Ok(id)
    } else {
        Err(StepError::permanent(format!(
            "identifiant Wix invalide : « {id} »"
        )))
    }
}

fn iso(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl WixClient {
    /// A client on `transport`.
    pub fn new(t: Transport) -> Self {
        Self {
            t,
            snapshot: Arc::new(Mutex::new(None)),
        }
    }

    /// The search filter of `q` in the Wix query language.
    pub fn search_filter(q: &OrderQuery) -> Value {
        let field = match q.date_field {
            DateField::Created => "createdDate",
            DateField::Updated => "updatedDate",
        };
        let mut and = Vec::new();
        if let Some(f) = q.from {
            and.push(json!({field: {"$gte": iso(f)}}));
        }
        if let Some(t) = q.to {
            and.push(json!({field: {"$lte": iso(t)}}));
        }
        let pay: Vec<&String> = q
            .states
            .iter()
            .filter(|s| PAYMENT_STATUSES.contains(&s.as_str()))
            .collect();
        let other = q.states.len() > pay.len();
        if !pay.is_empty() && !other {
            and.push(json!({"paymentStatus": {"$in": pay}}));
        } else if other {
            let mut or = Vec::new();
            if !pay.is_empty() {
                or.push(json!({"paymentStatus": {"$in": pay}}));
            }
            if q.states.iter().any(|s| s == "FULFILLED") {
                or.push(json!({"fulfillmentStatus": {"$eq": "FULFILLED"}}));
            }
            if q.states.iter().any(|s| s == "CANCELED") {
                or.push(json!({"status": {"$eq": "CANCELED"}}));
            }
            and.push(json!({"$or": or}));
        }
        json!({"$and": and})
    }

    /// Every order of `q`, read once.
    async fn load(&self, q: &OrderQuery) -> Result<Snapshot, StepError> {
        let wanted: BTreeSet<&str> = q.states.iter().map(String::as_str).collect();
        let mut orders = BTreeMap::new();
        let mut body = json!({"search": {
            "filter": Self::search_filter(q),
            "sort": [{"fieldName": "createdDate", "order": "ASC"}],
            "cursorPaging": {"limit": SEARCH_LIMIT},
        }});
        loop {
            let page = self
                .t
                .call(
                    Method::POST,
                    "/ecom/v1/orders/search",
                    &[],
                    Some(&body),
                    true,
                )
                .await?;
            for o in page["orders"].as_array().into_iter().flatten() {
                let Some(id) = o["id"].as_str().and_then(|i| order_guid(i).ok()) else {
                    continue;
                };
                let id = compact_id(&id);
                // The search filtered on the payment status; the mapped status decides.
                if !wanted.contains(model::state_of(o).as_str()) {
                    continue;
                }
                let read = match model::map_order(o) {
                    Ok(order) => ShopOrderRead::Ok(Box::new(order)),
                    Err(reason) => ShopOrderRead::Invalid {
                        id: id.to_string(),
                        reason: format!(
                            "commande Wix {} illisible : {reason}",
                            o["number"].as_str().unwrap_or(&id)
                        ),
                    },
                };
                orders.insert(id, read);
            }
            // `metadata` on the search (Wix's SDK); `pagingMetadata` on the query routes.
            let meta = if page["metadata"].is_object() {
                &page["metadata"]
            } else {
                &page["pagingMetadata"]
            };
            let next = meta["cursors"]["next"].as_str().filter(|c| !c.is_empty());
            match (meta["hasNext"].as_bool().unwrap_or(next.is_some()), next) {
                (true, Some(c)) => {
                    body =
                        json!({"search": {"cursorPaging": {"limit": SEARCH_LIMIT, "cursor": c}}});
                }
                _ => break,
            }
        }
        Ok(Snapshot {
            query: q.clone(),
            orders,
        })
    }

    async fn order(&self, id: &str) -> Result<Value, StepError> {
        let id = order_guid(id)?;
        let v = self
            .t
            .call(
                Method::GET,
                &format!("/ecom/v1/orders/{id}"),
                &[],
                None,
                true,
            )
            .await?;
        Ok(v["order"].clone())
    }

    /// Adds a merchant comment unless the order already carries that exact message.
    async fn comment_once(&self, order_id: &str, message: &str) -> Result<(), StepError> {
        let current = self.order(order_id).await?;
        let noted = current["activities"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["merchantComment"]["message"] == message);
        if noted {
            return Ok(());
        }
        self.t
            .call(
                Method::POST,
                &format!("/ecom/v1/orders/{}/activities", order_guid(order_id)?),
                &[],
                Some(&json!({"activity": {"merchantComment": {"message": message}}})),
                false,
            )
            .await?;
        Ok(())
    }

    /// The fulfilments of these orders (`list-by-ids`, 100 ids per call).
    async fn fulfilments(&self, ids: &[String]) -> Result<BTreeMap<String, Vec<Value>>, StepError> {
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(FULFILMENT_IDS_CHUNK) {
            let v = self
                .t
                .call(
                    Method::POST,
                    "/ecom/v1/fulfillments/list-by-ids",
                    &[],
                    Some(&json!({"orderIds": chunk})),
                    true,
                )
                .await?;
            for o in v["ordersWithFulfillments"].as_array().into_iter().flatten() {
                let id = o["orderId"].as_str().unwrap_or_default().to_string();
                let list = o["fulfillments"].as_array().cloned().unwrap_or_default();
                out.insert(id, list);
            }
        }
        Ok(out)
    }

    /// One fulfilment of every line of the order, with `tracking` when given.
    async fn fulfil(&self, order: &Value, tracking: Option<&str>) -> Result<(), StepError> {
        let id = order_guid(order["id"].as_str().unwrap_or_default())?;
        let lines: Vec<Value> = order["lineItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| json!({"id": l["id"], "quantity": l["quantity"]}))
            .collect();
        let mut fulfillment = json!({"lineItems": lines});
        if let Some(n) = tracking {
            fulfillment["trackingInfo"] = json!({
                "trackingNumber": n,
                "shippingProvider": order["shippingInfo"]["title"].as_str().unwrap_or("Autre"),
            });
        }
        self.t
            .call(
                Method::POST,
                &format!("/ecom/v1/fulfillments/orders/{id}/create-fulfillment"),
                &[],
                Some(&json!({"fulfillment": fulfillment})),
                false,
            )
            .await?;
        Ok(())
    }

    /// The catalogue version of the site: refuses a site still on Catalog V1.
    pub async fn check_catalog(&self) -> Result<(), StepError> {
        let v = self
            .t
            .call(Method::GET, "/stores/v3/provision/version", &[], None, true)
            .await?;
        match v["catalogVersion"].as_str() {
            Some("V1_CATALOG") => Err(catalog_v1()),
            _ => Ok(()),
        }
    }

    /// The inventory items of these SKUs (absent: the site has no variant with it).
    async fn inventory_by_sku(&self, skus: &[String]) -> Result<HashMap<String, Value>, StepError> {
        let mut out = HashMap::new();
        for chunk in skus.chunks(SKU_QUERY_CHUNK) {
            let filter = json!({"product.variantSku": {"$in": chunk}}).to_string();
            let mut cursor: Option<String> = None;
            loop {
                let mut q = vec![
                    ("query.filter".to_string(), filter.clone()),
                    (
                        "query.cursorPaging.limit".to_string(),
                        SKU_QUERY_CHUNK.to_string(),
                    ),
                ];
                if let Some(c) = &cursor {
                    q.push(("query.cursorPaging.cursor".into(), c.clone()));
                }
                let v = self
                    .t
                    .call(
                        Method::GET,
                        "/stores/v3/inventory-items/query",
                        &q,
                        None,
                        true,
                    )
                    .await?;
                for i in v["inventoryItems"].as_array().into_iter().flatten() {
                    if let Some(sku) = i["product"]["variantSku"].as_str() {
                        out.entry(sku.to_string()).or_insert_with(|| i.clone());
                    }
                }
                cursor = v["pagingMetadata"]["cursors"]["next"]
                    .as_str()
                    .filter(|c| !c.is_empty())
                    .map(str::to_string);
                if cursor.is_none() || v["pagingMetadata"]["hasNext"] == false {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// One bulk update; per item: `Ok(id)` or `Err((code, reason))`.
    async fn bulk_update(
        &self,
        items: &[(String, Value, i64)],
    ) -> Result<Vec<Result<String, (String, String)>>, StepError> {
        let body = json!({
            "inventoryItems": items.iter().map(|(_, it, q)| json!({"inventoryItem": {
                "id": it["id"], "revision": it["revision"], "quantity": q, "trackQuantity": true}}))
                .collect::<Vec<_>>(),
            "returnEntity": false,
        });
        let v = self
            .t
            .call(
                Method::POST,
                "/stores/v3/bulk/inventory-items/update",
                &[],
                Some(&body),
                false,
            )
            .await?;
        let mut out: Vec<Result<String, (String, String)>> = items
            .iter()
            .map(|_| {
                Err((
                    "ABSENT".into(),
                    "absent de la réponse du lot (not in the bulk answer)".into(),
                ))
            })
            .collect();
        for r in v["results"].as_array().into_iter().flatten() {
            let m = &r["itemMetadata"];
            let Some(i) = m["originalIndex"]
                .as_u64()
                .map(|i| i as usize)
                .filter(|i| *i < out.len())
            else {
                continue;
            };
            out[i] = if m["success"] == true {
                Ok(m["id"].as_str().unwrap_or_default().to_string())
            } else {
                let code = m["error"]["code"].as_str().unwrap_or("ERREUR").to_string();
                let why = m["error"]["description"]
                    .as_str()
                    .unwrap_or("refusé")
                    .to_string();
                Err((code, why))
            };
        }
        Ok(out)
    }

    /// Sets absolute quantities by SKU (see the module doc).
    pub async fn write_stock(
        &self,
        quantities: &[(String, i64)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let skus: Vec<String> = quantities.iter().map(|(r, _)| r.clone()).collect();
        let found = self.inventory_by_sku(&skus).await?;
        let mut out = Vec::new();
        let mut send = Vec::new();
        for (sku, q) in quantities {
            match found.get(sku) {
                None => out.push((sku.clone(), Written::Missing)),
                Some(it) => {
                    let id = it["id"].as_str().unwrap_or_default().to_string();
                    if it["trackQuantity"] == true && it["quantity"].as_i64() == Some(*q) {
                        out.push((sku.clone(), Written::Unchanged(id)));
                    } else {
                        send.push((sku.clone(), it.clone(), (*q).clamp(0, 99_999)));
                    }
                }
            }
        }
        for chunk in send.chunks(batch.clamp(1, MAX_INVENTORY_BATCH)) {
            let answers = self.bulk_update(chunk).await?;
            let mut again = Vec::new();
            for ((sku, it, q), a) in chunk.iter().zip(answers) {
                match a {
                    Ok(id) => out.push((sku.clone(), Written::Updated(id))),
                    Err((code, _)) if code.contains("REVISION") || code == "CONFLICT" => {
                        again.push((sku.clone(), it.clone(), *q));
                    }
                    Err((code, why)) => out.push((
                        sku.clone(),
                        Written::Refused(format!("Wix : {why} ({code})")),
                    )),
                }
            }
            if again.is_empty() {
                continue;
            }
            // Someone else changed these items since we read them: read them again and try
            // once more with their new revision.
            let mut fresh = Vec::new();
            for (sku, it, q) in again {
                let id = check_id(it["id"].as_str().unwrap_or_default())?.to_string();
                let v = self
                    .t
                    .call(
                        Method::GET,
                        &format!("/stores/v3/inventory-items/{id}"),
                        &[],
                        None,
                        true,
                    )
                    .await?;
                fresh.push((sku, v["inventoryItem"].clone(), q));
            }
            let answers = self.bulk_update(&fresh).await?;
            for ((sku, ..), a) in fresh.iter().zip(answers) {
                out.push(match a {
                    Ok(id) => (sku.clone(), Written::Updated(id)),
                    Err((code, why)) => (
                        sku.clone(),
                        Written::Refused(format!(
                            "Wix : conflit de révision persistant après une relecture : {why} ({code})"
                        )),
                    ),
                });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Shop for WixClient {
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
        let after = after_id.map(compact_id);
        let mut guard = self.snapshot.lock().await;
        // A run starts with no `after`: a fresh snapshot; a resumed run too, cut after it.
        let fresh = after.is_none() || guard.as_ref().is_none_or(|s| s.query != *query);
        if fresh {
            *guard = Some(self.load(query).await?);
        }
        let Some(snap) = guard.as_ref() else {
            return Err(StepError::permanent("instantané des commandes absent"));
        };
        let mut rest = snap
            .orders
            .iter()
            .filter(|(id, _)| after.as_deref().is_none_or(|a| id.as_str() > a))
            .map(|(_, o)| o);
        let orders: Vec<ShopOrderRead> = rest.by_ref().take(limit as usize).cloned().collect();
        let has_more = rest.next().is_some();
        Ok(OrdersPage { orders, has_more })
    }

    /// `APPROVED`, `PENDING`, `REJECTED` through `update-status`; `CANCELED` through
    /// `/cancel` (Wix e-mails the buyer only when `notify_customer`); `FULFILLED` through
    /// a fulfilment of every line. Payment statuses follow payments: refused.
    async fn set_order_state(
        &self,
        order_id: &str,
        state_id: &str,
        notify_customer: bool,
    ) -> Result<(), StepError> {
        let current = self.order(order_id).await?;
        let id = order_guid(order_id)?;
        match state_id {
            "CANCELED" if current["status"] == "CANCELED" => Ok(()),
            "CANCELED" => self
                .t
                .call(
                    Method::POST,
                    &format!("/ecom/v1/orders/{id}/cancel"),
                    &[],
                    Some(&json!({"sendOrderCanceledEmail": notify_customer, "restockAllItems": false})),
                    false,
                )
                .await
                .map(|_| ()),
            "FULFILLED" if current["fulfillmentStatus"] == "FULFILLED" => Ok(()),
            "FULFILLED" => self.fulfil(&current, None).await,
            s if SETTABLE.contains(&s) => {
                if current["status"] == s {
                    return Ok(());
                }
                self.t
                    .call(
                        Method::POST,
                        &format!("/ecom/v1/orders/{id}/update-status"),
                        &[],
                        Some(&json!({"status": s})),
                        false,
                    )
                    .await
                    .map(|_| ())
            }
            other => Err(StepError::permanent(format!(
                "statut Wix « {other} » non modifiable par Passerelle (statuts possibles : APPROVED, PENDING, REJECTED, CANCELED, FULFILLED ; le statut de paiement suit les paiements)"
            ))),
        }
    }

    /// A merchant comment `Document EBP : N` in the order's activities (looked for
    /// first: a retried call adds nothing).
    async fn set_order_document_number(
        &self,
        order_id: &str,
        document_number: &str,
    ) -> Result<(), StepError> {
        self.comment_once(
            order_id,
            &format!("{DOCUMENT_NOTE_PREFIX}{document_number}"),
        )
        .await
    }

    /// Not written: the customer lives in the Contacts API, which this client does not
    /// use (docs/PLATFORMS.md, Wix). Logged, not an error: the import has done its part.
    async fn set_customer_erp_code(
        &self,
        _customer_id: &str,
        _code: &str,
    ) -> Result<(), StepError> {
        tracing::info!("Wix : code client ERP non écrit (API Contacts non reliée)");
        Ok(())
    }

    async fn set_stock(&self, reference: &str, quantity: Decimal) -> Result<bool, StepError> {
        let q = quantity.trunc().to_i64().unwrap_or(0);
        let w = self.write_stock(&[(reference.to_string(), q)], 1).await?;
        match w.into_iter().next().map(|(_, w)| w) {
            Some(Written::Missing) | None => Ok(false),
            Some(Written::Refused(why)) => Err(StepError::permanent(why)),
            Some(_) => Ok(true),
        }
    }

    /// A fulfilment with `trackingInfo` (the carrier is the order's shipping title); an
    /// order already fulfilled without tracking gets it on its fulfilment
    /// (`PATCH /ecom/v1/fulfillments/{id}/orders/{orderId}`).
    async fn set_tracking(
        &self,
        order_id: &str,
        number: &str,
        _notify: bool,
    ) -> Result<(), StepError> {
        let id = order_guid(order_id)?;
        let existing = self.fulfilments(std::slice::from_ref(&id)).await?;
        let list = existing.get(&id).cloned().unwrap_or_default();
        if list
            .iter()
            .any(|f| f["trackingInfo"]["trackingNumber"] == number)
        {
            return Ok(());
        }
        let order = self.order(&id).await?;
        if let Some(f) = list.iter().find(|f| !f["trackingInfo"].is_object()) {
            let fid = check_id(f["id"].as_str().unwrap_or_default())?.to_string();
            self.t
                .call(
                    Method::PATCH,
                    &format!("/ecom/v1/fulfillments/{fid}/orders/{id}"),
                    &[],
                    Some(&json!({"fulfillment": {"id": fid, "trackingInfo": {
                        "trackingNumber": number,
                        "shippingProvider": order["shippingInfo"]["title"].as_str().unwrap_or("Autre")}}})),
                    false,
                )
                .await?;
            return Ok(());
        }
        self.fulfil(&order, Some(number)).await
    }

    async fn set_order_reference(
        &self,
        _order_id: &str,
        _reference: &str,
    ) -> Result<(), StepError> {
        Err(StepError::permanent(
            "Wix numérote les commandes lui-même : le numéro ne peut pas être remplacé",
        ))
    }

    /// A merchant comment (Wix orders have no delivery-date field).
    async fn set_delivery_date(&self, order_id: &str, date: NaiveDate) -> Result<(), StepError> {
        self.comment_once(
            order_id,
            &format!("{DELIVERY_NOTE_PREFIX}{}", date.format("%d/%m/%Y")),
        )
        .await
    }

    async fn tracking_numbers(
        &self,
        order_ids: &[String],
    ) -> Result<BTreeMap<String, String>, StepError> {
        // Asked in any form, answered under the id the caller gave.
        let asked: HashMap<String, String> = order_ids
            .iter()
            .filter_map(|i| order_guid(i).ok().map(|g| (g, i.clone())))
            .collect();
        let ids: Vec<String> = asked.keys().cloned().collect();
        Ok(self
            .fulfilments(&ids)
            .await?
            .into_iter()
            .filter_map(|(guid, list)| {
                let id = asked.get(&guid).cloned().unwrap_or(guid);
                list.iter()
                    .find_map(|f| {
                        f["trackingInfo"]["trackingNumber"]
                            .as_str()
                            .map(str::to_string)
                    })
                    .map(|n| (id, n))
            })
            .collect())
    }

    async fn attach_invoice(
        &self,
        _order_id: &str,
        _invoice_number: &str,
        _pdf: &[u8],
    ) -> Result<String, StepError> {
        Err(StepError::permanent(
            "Wix n'a pas d'API de pièce jointe de facture sur les commandes (no invoice attachment)",
        ))
    }
}

fn unsupported(what: &str) -> StepError {
    StepError::permanent(format!(
        "Wix : {what} pas encore relié dans cette version (not wired yet)"
    ))
}

#[async_trait]
impl CatalogShop for WixClient {
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
        let found = self.inventory_by_sku(references).await?;
        Ok(references
            .iter()
            .filter_map(|r| {
                found
                    .get(r)
                    .and_then(|i| i["productId"].as_str())
                    .map(|p| (r.clone(), p.to_string()))
            })
            .collect())
    }

    async fn set_prices(
        &self,
        _prices: &[(String, Decimal, Option<String>)],
        _batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        Err(unsupported("la mise à jour des prix"))
    }

    async fn set_stock(
        &self,
        quantities: &[(String, i64)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        self.write_stock(quantities, batch).await
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
impl ShopConfigurationRead for WixClient {
    /// The catalogue version (a site still on Catalog V1 is refused with what to do), then
    /// one order search (the key's orders permission).
    async fn test_connection(&self) -> Result<(), StepError> {
        self.check_catalog().await?;
        self.t
            .call(
                Method::POST,
                "/ecom/v1/orders/search",
                &[],
                Some(&json!({"search": {"cursorPaging": {"limit": 1}}})),
                true,
            )
            .await
            .map(|_| ())
    }

    /// Statuses: the fixed list this client maps on. Wix has no endpoint among those this
    /// client uses for taxes, carriers or currencies: they are read from the 100 latest
    /// orders (what the merchant maps is what orders carry).
    async fn read_configuration(&self) -> Result<ShopConfiguration, StepError> {
        let v = self
            .t
            .call(
                Method::POST,
                "/ecom/v1/orders/search",
                &[],
                Some(
                    &json!({"search": {"sort": [{"fieldName": "createdDate", "order": "DESC"}],
                                        "cursorPaging": {"limit": SEARCH_LIMIT}}}),
                ),
                true,
            )
            .await?;
        let mut carriers = BTreeMap::new();
        let mut currencies = BTreeSet::new();
        let mut rates = BTreeSet::new();
        let mut countries = BTreeSet::new();
        for o in v["orders"].as_array().into_iter().flatten() {
            if let Some(code) = o["shippingInfo"]["code"].as_str() {
                carriers.insert(
                    code.to_string(),
                    o["shippingInfo"]["title"]
                        .as_str()
                        .unwrap_or(code)
                        .to_string(),
                );
            }
            if let Some(c) = o["currency"].as_str() {
                currencies.insert(c.to_string());
            }
            if let Some(c) = o["billingInfo"]["address"]["country"].as_str() {
                countries.insert(c.to_string());
            }
            for l in o["lineItems"].as_array().into_iter().flatten() {
                if let Ok(r) = model::dec(l["taxDetails"].get("taxRate"), "taxRate") {
                    rates.insert((r * Decimal::from(100)).normalize().to_string());
                }
            }
        }
        Ok(ShopConfiguration {
            statuses: STATUSES
                .iter()
                .map(|(id, name)| Named {
                    id: (*id).into(),
                    name: (*name).into(),
                })
                .collect(),
            taxes: rates
                .into_iter()
                .filter_map(|r| {
                    let rate: Decimal = r.parse().ok()?;
                    Some(TaxRate {
                        id: r.clone(),
                        name: format!("TVA {} %", r.replace('.', ",")),
                        rate,
                    })
                })
                .collect(),
            carriers: carriers
                .into_iter()
                .map(|(id, name)| Named { id, name })
                .collect(),
            currencies: currencies
                .into_iter()
                .map(|c| Coded {
                    id: c.clone(),
                    iso_code: c.clone(),
                    name: c,
                })
                .collect(),
            payment_methods: vec![Named {
                id: model::PAYMENT_MODULE.into(),
                name: "Wix (moyen de paiement non détaillé)".into(),
            }],
            countries: countries
                .into_iter()
                .map(|c| Coded {
                    id: c.clone(),
                    iso_code: c.clone(),
                    name: c,
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
    fn the_search_filter_uses_the_wix_query_language() {
        let from = DateTime::parse_from_rfc3339("2025-01-06T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .ok();
        let q = OrderQuery {
            states: vec!["PAID".into(), "PENDING".into()],
            from,
            date_field: DateField::Updated,
            ..OrderQuery::default()
        };
        let f = WixClient::search_filter(&q);
        assert_eq!(
            f,
            json!({"$and": [{"updatedDate": {"$gte": "2025-01-06T12:00:00.000Z"}},
                            {"paymentStatus": {"$in": ["PAID", "PENDING"]}}]})
        );
        let q = OrderQuery {
            states: vec!["PAID".into(), "FULFILLED".into()],
            ..OrderQuery::default()
        };
        let f = WixClient::search_filter(&q);
        assert_eq!(
            f["$and"][0]["$or"][1],
            json!({"fulfillmentStatus": {"$eq": "FULFILLED"}})
        );
    }

    #[test]
    fn ids_are_guid_characters_only() {
        assert!(check_id("10000001-0000-4000-8000-000000000001").is_ok());
        assert!(check_id("1/../x").is_err());
        assert!(check_id("").is_err());
        let g = "10000001-0000-4000-8000-00000000000a";
        assert_eq!(compact_id(g), "1000000100004000800000000000000a");
        assert_eq!(order_guid(&compact_id(g)).ok().as_deref(), Some(g));
        assert!(order_guid("12").is_err());
    }
}
