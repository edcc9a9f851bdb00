//! The WooCommerce orders client: reading orders into the neutral shape, and the
//! write-backs (status, ERP document number, ERP customer code, delivery date, stock).
//!
//! **Reading.** The port pages by ascending id after the last id seen (keyset), which
//! `wc/v3` cannot filter on. So the first page of a run scans the whole selection once —
//! `status=a,b` (array argument, `WC-oas`), `after`/`before` or
//! `modified_after`/`modified_before` with `dates_are_gmt=true`, `orderby=id&order=asc`,
//! `per_page=100`, pages until `X-WP-TotalPages` — into a snapshot the following pages are
//! cut from. Why this shape (`platforms.md` §2 pitfalls, §10 rule 1):
//! * `orderby=date|modified` paginates badly when many rows share the sort key (duplicates
//!   and misses, woocommerce#33386): `orderby=id` has unique keys;
//! * the window sent is widened by [`WINDOW_OVERLAP`] on each side and the exact bounds are
//!   applied here on `date_*_gmt`: a WooCommerce older than 5.x ignores `dates_are_gmt`
//!   and filters in the site's time zone (up to UTC±14);
//! * the same order met twice (an order modified between two pages moves within an
//!   offset-paged list) is kept once, its latest `(id, date_modified_gmt)`;
//! * the import changes statuses while it runs (`set_shop_state`): paging the live list
//!   by offset would then skip orders; the snapshot does not move.
//!
//! A page whose answer does not parse is read again as ids only (`_fields=id`) and its
//! orders one by one, so only the broken order fails, with its reason.

use super::http::{Transport, MAX_PER_PAGE};
use super::model::{self, DELIVERY_META, DOCUMENT_META, DOCUMENT_NOTE_PREFIX, ERP_CODE_META};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{DateField, OrderQuery, OrdersPage, Shop, ShopOrderRead};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::Mutex;

/// How far the date window sent to WooCommerce is widened on each side (exact bounds are
/// applied on the `_gmt` dates here): the widest site time-zone offset.
pub const WINDOW_OVERLAP: ChronoDuration = ChronoDuration::hours(14);

/// The WooCommerce client (orders family).
#[derive(Clone, Debug)]
pub struct WooCommerceClient {
    pub(super) t: Transport,
    snapshot: Arc<Mutex<Option<Snapshot>>>,
}

/// The orders of one selection, by numeric id.
#[derive(Debug)]
struct Snapshot {
    query: OrderQuery,
    orders: BTreeMap<u64, ShopOrderRead>,
}

/// One order as listed: its id, its last modification, and the raw object (or why the
/// list could not give it).
type Listed = (u64, Option<DateTime<Utc>>, Result<Value, String>);

fn fmt_date(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The id of a path segment: digits only (never a path or query injection).
fn check_id(id: &str) -> Result<u64, StepError> {
    id.trim()
        .parse::<u64>()
        .map_err(|_| StepError::permanent(format!("identifiant WooCommerce invalide : « {id} »")))
}

impl WooCommerceClient {
    /// A client on `transport`.
    pub fn new(t: Transport) -> Self {
        Self {
            t,
            snapshot: Arc::new(Mutex::new(None)),
        }
    }

    /// The list query of `q` (without `page`).
    pub fn list_query(q: &OrderQuery) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = vec![
            ("status".into(), q.states.join(",")),
            ("orderby".into(), "id".into()),
            ("order".into(), "asc".into()),
            ("per_page".into(), MAX_PER_PAGE.to_string()),
            ("dates_are_gmt".into(), "true".into()),
        ];
        let (after, before) = match q.date_field {
            DateField::Created => ("after", "before"),
            DateField::Updated => ("modified_after", "modified_before"),
        };
        if let Some(f) = q.from {
            p.push((after.into(), fmt_date(f - WINDOW_OVERLAP)));
        }
        if let Some(t) = q.to {
            p.push((before.into(), fmt_date(t + WINDOW_OVERLAP)));
        }
        p
    }

    /// Every order of `q`'s window as listed, de-duplicated on id (latest
    /// `date_modified_gmt` kept).
    async fn scan(&self, q: &OrderQuery) -> Result<BTreeMap<u64, Listed>, StepError> {
        let base = Self::list_query(q);
        let mut out: BTreeMap<u64, Listed> = BTreeMap::new();
        let mut page = 1u64;
        loop {
            let mut query = base.clone();
            query.push(("page".into(), page.to_string()));
            let raw = self.t.get_raw("wc/v3/orders", &query).await?;
            let items: Vec<Listed> = match raw.json("orders") {
                Ok(Value::Array(a)) => a
                    .into_iter()
                    .map(|o| {
                        let id = model::order_id(&o)
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                        (id, model::gmt(o.get("date_modified_gmt")), Ok(o))
                    })
                    .collect(),
                Ok(_) => {
                    return Err(StepError::permanent(
                        "réponse WooCommerce « orders » inattendue (liste attendue)",
                    ))
                }
                Err(why) => self.page_one_by_one(&query, &why).await?,
            };
            let n = items.len();
            for (id, modified, o) in items {
                if id == 0 {
                    continue;
                }
                let newer = out.get(&id).is_none_or(|(_, m, _)| modified >= *m);
                if newer {
                    out.insert(id, (id, modified, o));
                }
            }
            // Without `X-WP-TotalPages` (a proxy dropping headers), a full page means more.
            let more = match raw.total_pages {
                Some(pages) => page < pages,
                None => n >= MAX_PER_PAGE as usize,
            };
            if n == 0 || !more {
                break;
            }
            page += 1;
        }
        Ok(out)
    }

    /// A page whose full answer does not read: its ids, then each order alone.
    async fn page_one_by_one(
        &self,
        query: &[(String, String)],
        why: &str,
    ) -> Result<Vec<Listed>, StepError> {
        tracing::warn!(%why, "page de commandes illisible : lecture commande par commande");
        let mut q = query.to_vec();
        q.push(("_fields".into(), "id,date_modified_gmt".into()));
        let ids = self.t.get("wc/v3/orders", &q).await?;
        let mut out = Vec::new();
        for o in ids.body.as_array().into_iter().flatten() {
            let Some(id) = model::order_id(o).and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            let modified = model::gmt(o.get("date_modified_gmt"));
            let one = self.t.get_raw(&format!("wc/v3/orders/{id}"), &[]).await?;
            out.push((id, modified, one.json(&format!("orders/{id}"))));
        }
        Ok(out)
    }

    /// The ERP codes stored on these customers (one call per 100 customers).
    async fn erp_codes(&self, ids: &[u64]) -> Result<HashMap<u64, String>, StepError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(MAX_PER_PAGE as usize) {
            let include = chunk
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let a = self
                .t
                .get(
                    "wc/v3/customers",
                    &[
                        ("include".into(), include),
                        ("per_page".into(), MAX_PER_PAGE.to_string()),
                        ("role".into(), "all".into()),
                    ],
                )
                .await?;
            for c in a.body.as_array().into_iter().flatten() {
                let id = c.get("id").and_then(Value::as_u64).unwrap_or(0);
                if let Some(code) = model::meta(c, ERP_CODE_META) {
                    out.insert(id, code);
                }
            }
        }
        Ok(out)
    }

    /// Reads the selection once into the snapshot.
    async fn load(&self, q: &OrderQuery) -> Result<Snapshot, StepError> {
        let listed = self.scan(q).await?;
        let in_window = |d: Option<DateTime<Utc>>| {
            let Some(d) = d else { return true };
            q.from.is_none_or(|f| d >= f) && q.to.is_none_or(|t| d <= t)
        };
        let mut customers: Vec<u64> = listed
            .values()
            .filter_map(|(_, _, o)| o.as_ref().ok().map(model::customer_id))
            .filter(|c| *c != 0)
            .collect();
        customers.sort_unstable();
        customers.dedup();
        let codes = self.erp_codes(&customers).await?;
        let mut orders = BTreeMap::new();
        for (id, _, o) in listed.into_values() {
            let read = match o {
                Ok(o) => {
                    let date = match q.date_field {
                        DateField::Created => model::gmt(o.get("date_created_gmt")),
                        DateField::Updated => model::gmt(o.get("date_modified_gmt")),
                    };
                    // The widened window's extra orders are not this run's.
                    if !in_window(date) {
                        continue;
                    }
                    match model::map_order(&o, &codes) {
                        Ok(order) => ShopOrderRead::Ok(Box::new(order)),
                        Err(reason) => ShopOrderRead::Invalid {
                            id: id.to_string(),
                            reason: format!("commande WooCommerce {id} illisible : {reason}"),
                        },
                    }
                }
                Err(reason) => ShopOrderRead::Invalid {
                    id: id.to_string(),
                    reason,
                },
            };
            orders.insert(id, read);
        }
        Ok(Snapshot {
            query: q.clone(),
            orders,
        })
    }

    /// The order's current JSON.
    async fn order(&self, id: u64) -> Result<Value, StepError> {
        Ok(self.t.get(&format!("wc/v3/orders/{id}"), &[]).await?.body)
    }

    /// Sets `meta_data[key] = value` on an order or customer (`path`) unless already so.
    async fn set_meta(
        &self,
        path: &str,
        current: &Value,
        key: &str,
        value: &str,
    ) -> Result<(), StepError> {
        if model::meta(current, key).as_deref() == Some(value) {
            return Ok(());
        }
        self.t
            .call(
                Method::PUT,
                path,
                &[],
                Some(&json!({"meta_data": [{"key": key, "value": value}]})),
            )
            .await?;
        Ok(())
    }

    /// The id of the product (or variation) with this SKU, with its parent for a
    /// variation.
    pub(super) async fn product_by_sku(&self, sku: &str) -> Result<Option<Value>, StepError> {
        let a = self
            .t
            .get("wc/v3/products", &[("sku".into(), sku.to_string())])
            .await?;
        Ok(a.body
            .as_array()
            .and_then(|v| {
                v.iter()
                    .find(|p| p.get("sku").and_then(Value::as_str) == Some(sku))
            })
            .cloned())
    }
}

#[async_trait]
impl Shop for WooCommerceClient {
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
        // A run starts with no `after`: a fresh snapshot. A resumed run (its earlier pages
        // journaled) starts with one: a fresh snapshot too, cut after it.
        let fresh = after.is_none() || guard.as_ref().is_none_or(|s| s.query != *query);
        if fresh {
            *guard = Some(self.load(query).await?);
        }
        let Some(snap) = guard.as_ref() else {
            return Err(StepError::permanent("instantané des commandes absent"));
        };
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut rest = snap.orders.range(start..);
        let orders: Vec<ShopOrderRead> = rest
            .by_ref()
            .take(limit as usize)
            .map(|(_, o)| o.clone())
            .collect();
        let has_more = rest.next().is_some();
        Ok(OrdersPage { orders, has_more })
    }

    /// `PUT /orders/{id}` `{status}`. WooCommerce e-mails the customer on its own for the
    /// statuses whose e-mails the merchant enabled: `notify_customer` cannot change that.
    async fn set_order_state(
        &self,
        order_id: &str,
        state_id: &str,
        _notify_customer: bool,
    ) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        let current = self.order(id).await?;
        if current.get("status").and_then(Value::as_str) == Some(state_id) {
            return Ok(());
        }
        self.t
            .call(
                Method::PUT,
                &format!("wc/v3/orders/{id}"),
                &[],
                Some(&json!({"status": state_id})),
            )
            .await?;
        Ok(())
    }

    /// A private order note `Document EBP : N` (what the merchant reads in the order
    /// screen) and `meta_data[_passerelle_erp_document]` (our link, checked first: a
    /// retried call finds it and writes nothing; the note is looked for before posting).
    async fn set_order_document_number(
        &self,
        order_id: &str,
        document_number: &str,
    ) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        let current = self.order(id).await?;
        if model::meta(&current, DOCUMENT_META).as_deref() == Some(document_number) {
            return Ok(());
        }
        let note = format!("{DOCUMENT_NOTE_PREFIX}{document_number}");
        let notes = self
            .t
            .get(
                &format!("wc/v3/orders/{id}/notes"),
                &[("type".into(), "internal".into())],
            )
            .await?;
        let noted = notes
            .body
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n.get("note").and_then(Value::as_str) == Some(note.as_str()));
        if !noted {
            self.t
                .call(
                    Method::POST,
                    &format!("wc/v3/orders/{id}/notes"),
                    &[],
                    Some(&json!({"note": note, "customer_note": false})),
                )
                .await?;
        }
        self.set_meta(
            &format!("wc/v3/orders/{id}"),
            &current,
            DOCUMENT_META,
            document_number,
        )
        .await
    }

    /// `meta_data[_passerelle_erp_code]` on the customer; a guest (id 0) has no account to
    /// write on.
    async fn set_customer_erp_code(&self, customer_id: &str, code: &str) -> Result<(), StepError> {
        let id = check_id(customer_id)?;
        if id == 0 {
            return Ok(());
        }
        let path = format!("wc/v3/customers/{id}");
        let current = self.t.get(&path, &[]).await?.body;
        self.set_meta(&path, &current, ERP_CODE_META, code).await
    }

    /// `PUT /products/{id}` `{manage_stock, stock_quantity}` of the product with this SKU
    /// (a variation's own route when the SKU is a variation's).
    async fn set_stock(&self, reference: &str, quantity: Decimal) -> Result<bool, StepError> {
        let Some(p) = self.product_by_sku(reference).await? else {
            return Ok(false);
        };
        let id = p.get("id").and_then(Value::as_u64).unwrap_or(0);
        let parent = p.get("parent_id").and_then(Value::as_u64).unwrap_or(0);
        let qty = quantity.trunc().to_string();
        if model::text(&p, "stock_quantity").unwrap_or_default() == qty {
            return Ok(true);
        }
        let path = if parent != 0 {
            format!("wc/v3/products/{parent}/variations/{id}")
        } else {
            format!("wc/v3/products/{id}")
        };
        let qty: i64 = qty.parse().unwrap_or(0);
        self.t
            .call(
                Method::PUT,
                &path,
                &[],
                Some(&json!({"manage_stock": true, "stock_quantity": qty})),
            )
            .await?;
        Ok(true)
    }

    async fn set_tracking(
        &self,
        _order_id: &str,
        _number: &str,
        _notify: bool,
    ) -> Result<(), StepError> {
        Err(StepError::permanent(
            "suivi de colis WooCommerce non pris en charge (extension Shipment Tracking non reliée)",
        ))
    }

    async fn set_order_reference(
        &self,
        _order_id: &str,
        _reference: &str,
    ) -> Result<(), StepError> {
        Err(StepError::permanent(
            "WooCommerce calcule le numéro de commande : il ne peut pas être remplacé",
        ))
    }

    /// `meta_data[_passerelle_delivery_date]` (core has no delivery date field).
    async fn set_delivery_date(&self, order_id: &str, date: NaiveDate) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        let current = self.order(id).await?;
        self.set_meta(
            &format!("wc/v3/orders/{id}"),
            &current,
            DELIVERY_META,
            &date.format("%Y-%m-%d").to_string(),
        )
        .await
    }

    async fn tracking_numbers(
        &self,
        _order_ids: &[String],
    ) -> Result<BTreeMap<String, String>, StepError> {
        Ok(BTreeMap::new())
    }

    async fn attach_invoice(
        &self,
        _order_id: &str,
        _invoice_number: &str,
        _pdf: &[u8],
    ) -> Result<String, StepError> {
        Err(StepError::permanent(
            "WooCommerce n'a pas de pièce jointe de facture en standard (no invoice attachment)",
        ))
    }
}

/// For `test-connection`: one authenticated call.
pub(super) async fn ping(t: &Transport) -> Result<(), StepError> {
    t.get(
        "wc/v3/orders",
        &[
            ("per_page".into(), "1".into()),
            ("_fields".into(), "id".into()),
        ],
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_query_asks_by_id_with_a_widened_gmt_window() {
        let from = DateTime::parse_from_rfc3339("2025-01-06T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .ok();
        let q = OrderQuery {
            states: vec!["processing".into(), "on-hold".into()],
            from,
            date_field: DateField::Updated,
            ..OrderQuery::default()
        };
        let p = WooCommerceClient::list_query(&q);
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("status"), Some("processing,on-hold"));
        assert_eq!(get("orderby"), Some("id"));
        assert_eq!(get("dates_are_gmt"), Some("true"));
        assert_eq!(get("modified_after"), Some("2025-01-05T22:00:00"));
        assert_eq!(get("after"), None);
        assert_eq!(get("per_page"), Some("100"));
    }

    #[test]
    fn ids_are_digits_only() {
        assert!(check_id("12").is_ok());
        assert!(check_id("12/../x").is_err());
    }
}
