//! The Magento 2 orders client: reading orders into the neutral shape, and the
//! write-backs (status, ERP document number, delivery date, stock of one article).
//!
//! **Reading.** The port pages by ascending id after the last id seen. The first page of a
//! run reads the whole selection once into a snapshot the following pages are cut from:
//! `GET /V1/orders` with `searchCriteria` filter groups — group 0 `status in (…)`, then
//! `created_at|updated_at gteq` / `lteq` in UTC `Y-m-d H:i:s` (Magento filters and answers
//! in UTC whatever the store's time zone, magento2#24985), then `store_id in (…)` when the
//! profile names stores (AND across groups, OR inside one) — sorted by `entity_id ASC`,
//! `pageSize` 100 (≤ 300, the cap with input limits on), `currentPage` 1, 2, … until
//! `total_count` orders are seen (`platforms.md` §5, §0.6). Why:
//! * an out-of-range page is the last page again on ≤ 2.3 and empty on 2.4
//!   (magento2#26986): paging stops on `total_count`, never on "an empty page", and an
//!   order met twice is kept once (by `entity_id`, latest `updated_at`); a page that brings
//!   nothing new also ends the scan (a shop repeating its last page);
//! * the import changes statuses while it runs: paging the live list would skip orders;
//!   the snapshot does not move.
//!
//! A page whose answer does not parse is read again as ids only
//! (`fields=items[entity_id,updated_at],total_count`) and its orders one by one, so only
//! the broken order fails, with its reason.
//!
//! **Status write-back** (`platforms.md` §5 "Status, invoice, shipment"): `complete` is
//! reached through the native entities — an invoice (`POST /V1/order/{id}/invoice`) and a
//! shipment (`POST /V1/order/{id}/ship`), since an order is complete only with both
//! (magento2#3307); `canceled` / `holded` through `cancel` / `hold`; then a comment
//! carrying the status (`POST /V1/orders/{id}/comments`, always with a `status`: before
//! 2.4.7 an omitted status set it to NULL, magento2#34180). 2.4.7 no longer applies a
//! comment's status (magento2#38723): a status no native action reaches then fails that
//! order's step with the reason instead of pretending.

use super::http::Transport;
use super::model::{self, Money, DELIVERY_COMMENT_PREFIX, DOCUMENT_COMMENT_PREFIX};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{DateField, OrderQuery, OrdersPage, Shop, ShopOrderRead};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Orders per page read (Magento's cap is 300 with input limits on).
pub const PAGE_SIZE: u32 = 100;

/// The MSI source written (single-source mode: `default`).
pub const DEFAULT_SOURCE: &str = "default";

/// The Magento client (orders family).
#[derive(Clone, Debug)]
pub struct MagentoClient {
    pub(super) t: Transport,
    money: Money,
    snapshot: Arc<Mutex<Option<Snapshot>>>,
}

#[derive(Debug)]
struct Snapshot {
    query: OrderQuery,
    orders: BTreeMap<u64, ShopOrderRead>,
}

/// One order as listed: its last modification and the raw object (or why the list could
/// not give it).
type Listed = (Option<DateTime<Utc>>, Result<Value, String>);

fn fmt_date(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The id of a path segment: digits only (never a path or query injection).
fn check_id(id: &str) -> Result<u64, StepError> {
    id.trim()
        .parse::<u64>()
        .map_err(|_| StepError::permanent(format!("identifiant Magento invalide : « {id} »")))
}

/// Adds filter `searchCriteria[filterGroups][g][filters][0]`.
pub(super) fn filter(
    p: &mut Vec<(String, String)>,
    group: usize,
    field: &str,
    value: &str,
    cond: &str,
) {
    let k = |w: &str| format!("searchCriteria[filterGroups][{group}][filters][0][{w}]");
    p.push((k("field"), field.to_string()));
    p.push((k("value"), value.to_string()));
    p.push((k("conditionType"), cond.to_string()));
}

/// `{items, total_count}` of a search answer.
fn items_of(v: &Value) -> (Vec<Value>, Option<u64>) {
    (
        v.get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        model::uint(v.get("total_count")),
    )
}

impl MagentoClient {
    /// A client on `transport`, documents in `money`'s currency.
    pub fn new(t: Transport, money: Money) -> Self {
        Self {
            t,
            money,
            snapshot: Arc::new(Mutex::new(None)),
        }
    }

    /// The list query of `q` (without `currentPage`).
    pub fn list_query(q: &OrderQuery) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut g = 0;
        filter(&mut p, g, "status", &q.states.join(","), "in");
        let field = match q.date_field {
            DateField::Created => "created_at",
            DateField::Updated => "updated_at",
        };
        if let Some(f) = q.from {
            g += 1;
            filter(&mut p, g, field, &fmt_date(f), "gteq");
        }
        if let Some(t) = q.to {
            g += 1;
            filter(&mut p, g, field, &fmt_date(t), "lteq");
        }
        if !q.shops.is_empty() {
            g += 1;
            filter(&mut p, g, "store_id", &q.shops.join(","), "in");
        }
        p.push((
            "searchCriteria[sortOrders][0][field]".into(),
            "entity_id".into(),
        ));
        p.push((
            "searchCriteria[sortOrders][0][direction]".into(),
            "ASC".into(),
        ));
        p.push(("searchCriteria[pageSize]".into(), PAGE_SIZE.to_string()));
        p
    }

    /// Every order of `q` as listed, de-duplicated on `entity_id`.
    async fn scan(&self, q: &OrderQuery) -> Result<BTreeMap<u64, Listed>, StepError> {
        let base = Self::list_query(q);
        let mut out: BTreeMap<u64, Listed> = BTreeMap::new();
        let mut page = 1u64;
        loop {
            let mut query = base.clone();
            query.push(("searchCriteria[currentPage]".into(), page.to_string()));
            let raw = self.t.raw(Method::GET, "orders", &query, None).await?;
            let (items, total) = match super::http::parse(&raw, "orders") {
                Ok(v) if v.get("items").is_some() => {
                    let (items, total) = items_of(&v);
                    let listed = items
                        .into_iter()
                        .map(|o| {
                            let id = model::uint(o.get("entity_id")).unwrap_or(0);
                            (id, model::utc(o.get("updated_at")), Ok(o))
                        })
                        .collect::<Vec<_>>();
                    (listed, total)
                }
                Ok(_) => {
                    return Err(StepError::permanent(
                        "réponse Magento « orders » inattendue (items absent)",
                    ))
                }
                Err(why) => self.page_one_by_one(&query, &why).await?,
            };
            let n = items.len();
            let mut fresh = 0usize;
            for (id, modified, o) in items {
                if id == 0 {
                    continue;
                }
                match out.get(&id) {
                    Some((m, _)) if *m > modified => {}
                    Some(_) => {
                        out.insert(id, (modified, o));
                    }
                    None => {
                        fresh += 1;
                        out.insert(id, (modified, o));
                    }
                }
            }
            let seen_all = total.is_some_and(|t| out.len() as u64 >= t)
                || total.is_some_and(|t| page * u64::from(PAGE_SIZE) >= t);
            // A page with nothing new is a repeated last page (≤ 2.3): the end too.
            if n == 0 || fresh == 0 || seen_all || (total.is_none() && n < PAGE_SIZE as usize) {
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
    ) -> Result<
        (
            Vec<(u64, Option<DateTime<Utc>>, Result<Value, String>)>,
            Option<u64>,
        ),
        StepError,
    > {
        tracing::warn!(%why, "page de commandes Magento illisible : lecture commande par commande");
        let mut q = query.to_vec();
        q.push((
            "fields".into(),
            "items[entity_id,updated_at],total_count".into(),
        ));
        let ids = self.t.get("orders", &q).await?;
        let (items, total) = items_of(&ids);
        let mut out = Vec::new();
        for o in items {
            let Some(id) = model::uint(o.get("entity_id")) else {
                continue;
            };
            let modified = model::utc(o.get("updated_at"));
            let one = self
                .t
                .raw(Method::GET, &format!("orders/{id}"), &[], None)
                .await?;
            out.push((
                id,
                modified,
                super::http::parse(&one, &format!("orders/{id}")),
            ));
        }
        Ok((out, total))
    }

    /// Reads the selection once into the snapshot.
    async fn load(&self, q: &OrderQuery) -> Result<Snapshot, StepError> {
        let listed = self.scan(q).await?;
        let mut orders = BTreeMap::new();
        for (id, (_, o)) in listed {
            let read = match o {
                Ok(o) => match model::map_order(&o, self.money) {
                    Ok(order) => ShopOrderRead::Ok(Box::new(order)),
                    Err(reason) => ShopOrderRead::Invalid {
                        id: id.to_string(),
                        reason: format!("commande Magento {id} illisible : {reason}"),
                    },
                },
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
    pub(super) async fn order(&self, id: u64) -> Result<Value, StepError> {
        self.t.get(&format!("orders/{id}"), &[]).await
    }

    /// The order's comments (`status_histories`), newest first.
    async fn comments(&self, id: u64) -> Result<Vec<String>, StepError> {
        let v = self.t.get(&format!("orders/{id}/comments"), &[]).await?;
        Ok(items_of(&v)
            .0
            .iter()
            .filter_map(|c| c.get("comment").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    /// Posts a comment carrying `status` (always sent: an omitted one set the status to
    /// NULL before 2.4.7, magento2#34180).
    async fn comment(
        &self,
        id: u64,
        text: &str,
        status: &str,
        notify: bool,
    ) -> Result<(), StepError> {
        self.t
            .call(
                Method::POST,
                &format!("orders/{id}/comments"),
                &[],
                Some(&json!({"statusHistory": {
                    "comment": text, "status": status, "parent_id": id,
                    "is_customer_notified": i32::from(notify), "is_visible_on_front": 0}})),
            )
            .await?;
        Ok(())
    }

    /// Adds the comment `text` unless the order already has it (a retried step writes
    /// nothing twice).
    async fn comment_once(&self, id: u64, text: &str) -> Result<(), StepError> {
        if self.comments(id).await?.iter().any(|c| c == text) {
            return Ok(());
        }
        let current = self.order(id).await?;
        let status = model::text(&current, "status").unwrap_or_default();
        self.comment(id, text, &status, false).await
    }

    /// True when every item's `field` (`qty_invoiced`, `qty_shipped`) reached its
    /// ordered quantity.
    fn all_done(o: &Value, field: &str) -> bool {
        o.get("items")
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items.iter().all(|i| {
                    let done = model::dec(i.get(field), field).unwrap_or_default();
                    let ordered =
                        model::dec(i.get("qty_ordered"), "qty_ordered").unwrap_or_default();
                    done >= ordered
                })
            })
    }

    /// A boolean service answer (`cancel`, `hold`): `false` is a refusal.
    async fn action(&self, id: u64, what: &str) -> Result<(), StepError> {
        let v = self
            .t
            .call(Method::POST, &format!("orders/{id}/{what}"), &[], None)
            .await?;
        if v == Value::Bool(false) || v == Value::String("false".into()) {
            return Err(StepError::permanent(format!(
                "Magento a refusé « {what} » sur la commande {id}"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Shop for MagentoClient {
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

    /// Native entities first (invoice + shipment for `complete`, `cancel`, `hold`,
    /// `unhold`), then a comment carrying the status; checked by reading the order back.
    async fn set_order_state(
        &self,
        order_id: &str,
        state_id: &str,
        notify_customer: bool,
    ) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        let want = state_id.trim();
        let current = self.order(id).await?;
        let status = model::text(&current, "status").unwrap_or_default();
        if status == want {
            return Ok(());
        }
        if status == "holded" && want != "canceled" {
            self.action(id, "unhold").await?;
        }
        match want {
            "canceled" => self.action(id, "cancel").await?,
            "holded" => self.action(id, "hold").await?,
            "complete" => {
                let o = self.order(id).await?;
                if !Self::all_done(&o, "qty_invoiced") {
                    self.t
                        .call(
                            Method::POST,
                            &format!("order/{id}/invoice"),
                            &[],
                            Some(&json!({"capture": true, "notify": notify_customer})),
                        )
                        .await?;
                }
                if !Self::all_done(&o, "qty_shipped") {
                    self.t
                        .call(
                            Method::POST,
                            &format!("order/{id}/ship"),
                            &[],
                            Some(&json!({"notify": notify_customer})),
                        )
                        .await?;
                }
            }
            _ => {}
        }
        self.comment(
            id,
            &format!("Statut « {want} » demandé par l'ERP (Passerelle)"),
            want,
            notify_customer,
        )
        .await?;
        let after = model::text(&self.order(id).await?, "status").unwrap_or_default();
        if after != want {
            return Err(StepError::permanent(format!(
                "Magento n'a pas appliqué le statut « {want} » (statut actuel « {after} ») : \
                 depuis 2.4.7 un commentaire ne change plus le statut (magento2#38723) et \
                 aucune action native ne mène à ce statut"
            )));
        }
        Ok(())
    }

    /// An order comment `Document EBP : N` (not visible on the storefront, customer not
    /// notified), looked for first: a retried call writes nothing twice.
    async fn set_order_document_number(
        &self,
        order_id: &str,
        document_number: &str,
    ) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        self.comment_once(id, &format!("{DOCUMENT_COMMENT_PREFIX}{document_number}"))
            .await
    }

    /// Not wired: core Magento has no free customer field (a customer attribute created
    /// by the merchant would be needed). The sample profile leaves `send_customer_code` off.
    async fn set_customer_erp_code(&self, customer_id: &str, _code: &str) -> Result<(), StepError> {
        if check_id(customer_id)? == 0 {
            return Ok(());
        }
        Err(StepError::permanent(
            "Magento : le code client ERP ne peut pas être écrit (aucun champ client standard ; \
             désactivez send_customer_code)",
        ))
    }

    /// `POST /V1/inventory/source-items` for the `default` source, unless the quantity is
    /// already so; `false` when no product has this SKU.
    async fn set_stock(&self, reference: &str, quantity: Decimal) -> Result<bool, StepError> {
        let found = super::catalog::lookup(&self.t, &[reference.to_string()]).await?;
        let Some(current) = found.get(reference) else {
            return Ok(false);
        };
        let qty = quantity.trunc();
        if current.quantity == Some(qty) {
            return Ok(true);
        }
        super::catalog::save(&self.t, &[(reference.to_string(), qty)]).await?;
        Ok(true)
    }

    async fn set_tracking(
        &self,
        _order_id: &str,
        _number: &str,
        _notify: bool,
    ) -> Result<(), StepError> {
        Err(StepError::permanent(
            "suivi de colis Magento pas encore relié (POST /V1/order/{id}/ship avec tracks)",
        ))
    }

    async fn set_order_reference(
        &self,
        _order_id: &str,
        _reference: &str,
    ) -> Result<(), StepError> {
        Err(StepError::permanent(
            "Magento calcule le numéro de commande (increment_id) : il ne peut pas être remplacé",
        ))
    }

    /// An order comment `Livraison prévue : AAAA-MM-JJ` (core has no delivery date).
    async fn set_delivery_date(&self, order_id: &str, date: NaiveDate) -> Result<(), StepError> {
        let id = check_id(order_id)?;
        self.comment_once(
            id,
            &format!("{DELIVERY_COMMENT_PREFIX}{}", date.format("%Y-%m-%d")),
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
            "Magento produit ses propres factures PDF : la pièce de l'ERP ne peut pas être jointe",
        ))
    }
}

/// For `test-connection`: one authenticated call on the orders ACL.
pub(super) async fn ping(t: &Transport) -> Result<(), StepError> {
    let mut q = Vec::new();
    filter(&mut q, 0, "entity_id", "0", "gt");
    q.push(("searchCriteria[pageSize]".into(), "1".into()));
    q.push(("fields".into(), "items[entity_id],total_count".into()));
    t.get("orders", &q).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_query_uses_filter_groups_in_utc() {
        let from = DateTime::parse_from_rfc3339("2025-01-06T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .ok();
        let q = OrderQuery {
            states: vec!["processing".into(), "complete".into()],
            from,
            date_field: DateField::Updated,
            ..OrderQuery::default()
        };
        let p = MagentoClient::list_query(&q);
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("searchCriteria[filterGroups][0][filters][0][value]"),
            Some("processing,complete")
        );
        assert_eq!(
            get("searchCriteria[filterGroups][0][filters][0][conditionType]"),
            Some("in")
        );
        assert_eq!(
            get("searchCriteria[filterGroups][1][filters][0][field]"),
            Some("updated_at")
        );
        assert_eq!(
            get("searchCriteria[filterGroups][1][filters][0][value]"),
            Some("2025-01-06 12:00:00")
        );
        assert_eq!(
            get("searchCriteria[sortOrders][0][field]"),
            Some("entity_id")
        );
        assert_eq!(get("searchCriteria[pageSize]"), Some("100"));
    }

    #[test]
    fn ids_are_digits_only() {
        assert!(check_id("12").is_ok());
        assert!(check_id("12/../x").is_err());
    }
}
