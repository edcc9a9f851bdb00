//! Shopify as a shop platform: what this client can do, the port families it fills, and the
//! one [`connect`] the binary's wiring function calls.

use super::client::ShopifyClient;
use super::orders::{legacy_id, map_order, Money};
use super::queries::{self as q, NAMESPACE};
use async_trait::async_trait;
use chrono::NaiveDate;
use passerelle_domain::catalog::ProductDraft;
use passerelle_domain::platform::{Capabilities, Capability as C, Platform};
use passerelle_workflows::engine::{step_idempotency_key, StepError};
use passerelle_workflows::ports::{
    CatalogShop, Coded, DateField, Named, OrderQuery, OrdersPage, Shop, ShopConfiguration,
    ShopConfigurationRead, ShopConnection, Written,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// What this Shopify client lets the sync do today: read orders, write the ERP document
/// number (and reference, delivery date, customer account) in metafields, set stock, read
/// the configuration. Not declared, so refused before a run or skipped with a note: order
/// statuses (Shopify has no settable status: fulfilment is a state machine through
/// `fulfillmentOrders` → `fulfillmentCreate`, not written yet, hence no tracking either),
/// invoice PDFs (`stagedUploadsCreate` → `fileCreate`, not written yet), quotes (draft
/// orders are not read), the catalogue (`productSet`), customers and groups (Shopify has no
/// groups).
pub const CAPABILITIES: Capabilities = Capabilities::of(&[
    C::Orders,
    C::DocumentNumber,
    C::Stock,
    C::ConfigurationReads,
]);

/// The status ids this client gives orders, with their French names.
const STATUSES: &[(&str, &str)] = &[
    ("PENDING", "En attente de paiement"),
    ("AUTHORIZED", "Paiement autorisé"),
    ("PARTIALLY_PAID", "Partiellement payée"),
    ("PAID", "Payée"),
    ("PARTIALLY_REFUNDED", "Partiellement remboursée"),
    ("REFUNDED", "Remboursée"),
    ("VOIDED", "Annulée (paiement)"),
    ("FULFILLED", "Expédiée"),
    ("CANCELLED", "Annulée"),
];

/// The connection to a Shopify shop at `url` with the Admin API `token`; its queries paced
/// by `bucket` (shared with every worker through the database); orders read in `money`.
pub fn connect(
    url: &str,
    token: &str,
    bucket: super::CostBucket,
    money: Money,
) -> Result<ShopConnection, StepError> {
    let shop = Arc::new(ShopifyShop::new(
        ShopifyClient::new(url, token, bucket)?,
        money,
    ));
    let mut c = ShopConnection::new(Platform::Shopify, CAPABILITIES);
    c.orders = Some(shop.clone());
    c.catalog = Some(shop.clone());
    c.configuration = Some(shop);
    Ok(c)
}

/// The port families on one Shopify shop.
#[derive(Debug)]
pub struct ShopifyShop {
    client: ShopifyClient,
    money: Money,
    location: OnceCell<String>,
}

fn order_gid(id: &str) -> String {
    format!("gid://shopify/Order/{id}")
}

/// Shopify search syntax: a quoted value (backslash before `"` and `\`).
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The status id of an order node (see `orders.rs`), read before mapping so that a
/// malformed order is filtered like the others.
fn state_of(o: &Value) -> String {
    if !o["cancelledAt"].is_null() {
        "CANCELLED".into()
    } else if o["displayFulfillmentStatus"] == "FULFILLED" {
        "FULFILLED".into()
    } else {
        o["displayFinancialStatus"]
            .as_str()
            .unwrap_or("PENDING")
            .to_string()
    }
}

/// The item index a `userErrors[].field` points at (`["input","quantities","3",…]`).
fn item_index(field: &Value) -> Option<usize> {
    let f = field.as_array()?;
    let pos = f.iter().position(|x| x == "quantities")?;
    f.get(pos + 1)?.as_str()?.parse().ok()
}

impl ShopifyShop {
    /// The families over `client`, orders read in `money`.
    pub fn new(client: ShopifyClient, money: Money) -> Self {
        Self {
            client,
            money,
            location: OnceCell::new(),
        }
    }

    /// The location the stock is written at: the first active one.
    async fn location(&self) -> Result<String, StepError> {
        self.location
            .get_or_try_init(|| async {
                let data = self
                    .client
                    .call(q::LOCATIONS, json!({}), q::LOCATIONS_COST)
                    .await?;
                data["locations"]["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|l| l["isActive"] != false)
                    .and_then(|l| l["id"].as_str())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        StepError::permanent("Shopify : aucun emplacement de stock actif")
                    })
            })
            .await
            .cloned()
    }

    /// Inventory item ids by SKU (absent: the shop has no variant with that SKU).
    async fn inventory_items(&self, skus: &[String]) -> Result<HashMap<String, String>, StepError> {
        let mut out = HashMap::new();
        for chunk in skus.chunks(q::MAX_INPUT_ITEMS) {
            let query = chunk
                .iter()
                .map(|s| format!("sku:{}", quoted(s)))
                .collect::<Vec<_>>()
                .join(" OR ");
            let first = u32::try_from(chunk.len()).unwrap_or(250).min(250);
            let data = self
                .client
                .call(
                    q::VARIANTS_BY_SKU,
                    json!({"first": first, "query": query}),
                    q::variants_cost(first),
                )
                .await?;
            let wanted: HashSet<&String> = chunk.iter().collect();
            for v in data["productVariants"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let sku = v["sku"].as_str().unwrap_or("").to_string();
                // Search terms are tokenized (platforms.md §3): keep exact matches only.
                if let (true, Some(id)) = (wanted.contains(&sku), v["inventoryItem"]["id"].as_str())
                {
                    out.entry(sku).or_insert_with(|| id.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Sets available quantities: `items` are (reference, inventory item id, quantity).
    /// One `inventorySetQuantities` per chunk, keyed by the step's idempotency key, the
    /// chunk's position and a digest of its input: a step run again after a crash sends the
    /// same input under the same key and Shopify answers the first answer again without
    /// changing anything twice. `changeFromQuantity` is sent as null: the ERP is the stock's
    /// source of truth here, and a compare value read again on a retry would change the
    /// input and be refused under the same key (`IDEMPOTENCY_KEY_PARAMETER_MISMATCH`).
    /// A `userErrors` entry naming an item refuses that item only; the others are sent
    /// again without it (a new input, so a new key).
    async fn write_quantities(
        &self,
        items: Vec<(String, String, i64)>,
        chunk: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let location = self.location().await?;
        let base = step_idempotency_key().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut out = Vec::new();
        for (n, part) in items.chunks(chunk.clamp(1, q::MAX_INPUT_ITEMS)).enumerate() {
            let mut pending: Vec<(String, String, i64)> = part.to_vec();
            for _round in 0..3 {
                if pending.is_empty() {
                    break;
                }
                let quantities: Vec<Value> = pending
                    .iter()
                    .map(|(_, item, qty)| {
                        json!({"inventoryItemId": item, "locationId": location, "quantity": qty, "changeFromQuantity": null})
                    })
                    .collect();
                let input =
                    json!({"name": "available", "reason": "correction", "quantities": quantities});
                let digest = Sha256::digest(input.to_string().as_bytes());
                let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                let key = format!("{base}:stock:{n}:{hex}");
                let data = self
                    .client
                    .call(
                        q::SET_QUANTITIES,
                        json!({"input": input, "key": key}),
                        q::MUTATION_COST,
                    )
                    .await?;
                let errors = data["inventorySetQuantities"]["userErrors"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if errors.is_empty() {
                    out.extend(
                        pending
                            .drain(..)
                            .map(|(r, item, _)| (r, Written::Updated(item))),
                    );
                    break;
                }
                let mut refused: BTreeMap<usize, String> = BTreeMap::new();
                let mut general = Vec::new();
                for e in &errors {
                    let msg = e["message"].as_str().unwrap_or("refusé").to_string();
                    let code = e["code"].as_str().unwrap_or("");
                    let text = if code.is_empty() {
                        msg
                    } else {
                        format!("{msg} ({code})")
                    };
                    match item_index(&e["field"]) {
                        Some(i) if i < pending.len() => {
                            refused.insert(i, text);
                        }
                        _ => general.push(text),
                    }
                }
                if !general.is_empty() || refused.is_empty() {
                    let why = format!("Shopify : {}", general.join(" ; "));
                    out.extend(
                        pending
                            .drain(..)
                            .map(|(r, ..)| (r, Written::Refused(why.clone()))),
                    );
                    break;
                }
                let mut kept = Vec::new();
                for (i, it) in pending.into_iter().enumerate() {
                    match refused.get(&i) {
                        Some(why) => out.push((it.0, Written::Refused(format!("Shopify : {why}")))),
                        None => kept.push(it),
                    }
                }
                pending = kept;
            }
            out.extend(pending.into_iter().map(|(r, ..)| {
                (
                    r,
                    Written::Refused("Shopify : refusé trois fois (refused three times)".into()),
                )
            }));
        }
        Ok(out)
    }

    /// Sets metafields of one owner (`metafieldsSet`); a user error is a permanent error
    /// for that order or customer only.
    async fn set_metafields(
        &self,
        owner: &str,
        fields: &[(&str, &str, &str)],
    ) -> Result<(), StepError> {
        let metafields: Vec<Value> = fields
            .iter()
            .map(|(key, ty, value)| {
                json!({"ownerId": owner, "namespace": NAMESPACE, "key": key, "type": ty, "value": value})
            })
            .collect();
        let data = self
            .client
            .call(
                q::METAFIELDS_SET,
                json!({"metafields": metafields}),
                q::MUTATION_COST,
            )
            .await?;
        let errors = data["metafieldsSet"]["userErrors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if errors.is_empty() {
            return Ok(());
        }
        let msgs: Vec<&str> = errors
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        Err(StepError::permanent(format!(
            "Shopify : métachamp refusé sur {owner} : {}",
            msgs.join(" ; ")
        )))
    }

    /// Reads the remaining lines of `order` (beyond the first page) into its node.
    async fn complete_lines(&self, order: &mut Value) -> Result<(), StepError> {
        let mut cursor = order["lineItems"]["pageInfo"]["endCursor"].clone();
        let mut more = order["lineItems"]["pageInfo"]["hasNextPage"] == true;
        let id = order["id"].clone();
        while more {
            let data = self
                .client
                .call(
                    &q::order_lines(),
                    json!({"id": id, "after": cursor}),
                    q::ORDER_LINES_COST,
                )
                .await?;
            let page = &data["order"]["lineItems"];
            let nodes = page["nodes"].as_array().cloned().unwrap_or_default();
            if let Some(list) = order["lineItems"]["nodes"].as_array_mut() {
                list.extend(nodes);
            }
            more = page["pageInfo"]["hasNextPage"] == true;
            cursor = page["pageInfo"]["endCursor"].clone();
        }
        Ok(())
    }
}

#[async_trait]
impl Shop for ShopifyShop {
    async fn orders_page(
        &self,
        query: &OrderQuery,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<OrdersPage, StepError> {
        let field = match query.date_field {
            DateField::Created => "created_at",
            DateField::Updated => "updated_at",
        };
        let mut terms = Vec::new();
        if let Some(from) = query.from {
            terms.push(format!("{field}:>='{}'", from.format("%Y-%m-%dT%H:%M:%SZ")));
        }
        if let Some(to) = query.to {
            terms.push(format!("{field}:<='{}'", to.format("%Y-%m-%dT%H:%M:%SZ")));
        }
        let after: u64 = match after_id {
            Some(a) => a.parse().map_err(|_| {
                StepError::permanent(format!("identifiant de commande Shopify invalide : {a}"))
            })?,
            None => 0,
        };
        terms.push(format!("id:>{after}"));
        let search = terms.join(" ");
        let states: HashSet<&str> = query.states.iter().map(String::as_str).collect();
        if states.is_empty() {
            return Ok(OrdersPage {
                orders: Vec::new(),
                has_more: false,
            });
        }
        let mut seen = HashSet::new();
        let mut orders = Vec::new();
        let mut cursor = Value::Null;
        let limit = limit.max(1) as usize;
        loop {
            let first =
                q::orders_per_query().min(u32::try_from(limit - orders.len()).unwrap_or(250));
            let data = self
                .client
                .call(
                    &q::orders(),
                    json!({"first": first, "after": cursor, "query": search}),
                    q::orders_cost(first),
                )
                .await?;
            let conn = &data["orders"];
            let nodes = conn["nodes"].as_array().cloned().unwrap_or_default();
            let more = conn["pageInfo"]["hasNextPage"] == true;
            cursor = conn["pageInfo"]["endCursor"].clone();
            for mut o in nodes {
                let id = legacy_id(o["id"].as_str().unwrap_or(""));
                // Search-backed filters can answer an order twice across pages
                // (platforms.md §10.1): the first one counts.
                if !seen.insert(id) || !states.contains(state_of(&o).as_str()) {
                    continue;
                }
                if o["lineItems"]["pageInfo"]["hasNextPage"] == true {
                    self.complete_lines(&mut o).await?;
                }
                orders.push(map_order(&o, self.money));
            }
            if !more {
                return Ok(OrdersPage {
                    orders,
                    has_more: false,
                });
            }
            if orders.len() >= limit {
                return Ok(OrdersPage {
                    orders,
                    has_more: true,
                });
            }
        }
    }

    async fn set_order_state(
        &self,
        order_id: &str,
        state_id: &str,
        _notify: bool,
    ) -> Result<(), StepError> {
        Err(StepError::permanent(format!(
            "Shopify : le statut de la commande {order_id} ne peut pas être mis à « {state_id} » (pas de statut modifiable ; platform has no settable order status)"
        )))
    }

    async fn set_order_document_number(
        &self,
        order_id: &str,
        document_number: &str,
    ) -> Result<(), StepError> {
        self.set_metafields(
            &order_gid(order_id),
            &[("erp_document", "single_line_text_field", document_number)],
        )
        .await
    }

    async fn set_customer_erp_code(&self, customer_id: &str, code: &str) -> Result<(), StepError> {
        if customer_id == "0" {
            // A guest has no customer record to write on.
            return Ok(());
        }
        self.set_metafields(
            &format!("gid://shopify/Customer/{customer_id}"),
            &[("erp_account", "single_line_text_field", code)],
        )
        .await
    }

    async fn set_stock(&self, reference: &str, quantity: Decimal) -> Result<bool, StepError> {
        let qty = quantity.trunc().to_i64().unwrap_or(0);
        let written = CatalogShop::set_stock(self, &[(reference.to_string(), qty)], 1).await?;
        match written.into_iter().next().map(|(_, w)| w) {
            Some(Written::Missing) | None => Ok(false),
            Some(Written::Refused(why)) => Err(StepError::permanent(why)),
            Some(_) => Ok(true),
        }
    }

    async fn set_tracking(
        &self,
        order_id: &str,
        _number: &str,
        _notify: bool,
    ) -> Result<(), StepError> {
        Err(StepError::permanent(format!(
            "Shopify : suivi de la commande {order_id} non pris en charge par cette version (fulfillmentCreate not implemented)"
        )))
    }

    async fn set_order_reference(&self, order_id: &str, reference: &str) -> Result<(), StepError> {
        self.set_metafields(
            &order_gid(order_id),
            &[("erp_reference", "single_line_text_field", reference)],
        )
        .await
    }

    async fn set_delivery_date(&self, order_id: &str, date: NaiveDate) -> Result<(), StepError> {
        self.set_metafields(
            &order_gid(order_id),
            &[(
                "delivery_date",
                "date",
                &date.format("%Y-%m-%d").to_string(),
            )],
        )
        .await
    }

    async fn tracking_numbers(
        &self,
        _order_ids: &[String],
    ) -> Result<BTreeMap<String, String>, StepError> {
        // Tracking is not a declared capability: nothing is read.
        Ok(BTreeMap::new())
    }

    async fn attach_invoice(
        &self,
        order_id: &str,
        _invoice_number: &str,
        _pdf: &[u8],
    ) -> Result<String, StepError> {
        Err(StepError::permanent(format!(
            "Shopify : facture PDF de la commande {order_id} non prise en charge par cette version (stagedUploadsCreate/fileCreate not implemented)"
        )))
    }
}

/// What the catalogue writes this client does not make (capability not declared).
fn not_supported(what: &str) -> String {
    format!("Shopify : {what} non pris en charge par cette version (not supported)")
}

#[async_trait]
impl CatalogShop for ShopifyShop {
    async fn upsert_products(
        &self,
        drafts: &[ProductDraft],
        _create: bool,
        _batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        Ok(drafts
            .iter()
            .map(|d| {
                (
                    d.reference.clone(),
                    Written::Refused(not_supported("produits")),
                )
            })
            .collect())
    }

    async fn existing(
        &self,
        references: &[String],
        _batch: usize,
    ) -> Result<Vec<(String, String)>, StepError> {
        let found = self.inventory_items(references).await?;
        Ok(references
            .iter()
            .filter_map(|r| found.get(r).map(|id| (r.clone(), id.clone())))
            .collect())
    }

    async fn set_prices(
        &self,
        prices: &[(String, Decimal, Option<String>)],
        _batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        Ok(prices
            .iter()
            .map(|(r, ..)| (r.clone(), Written::Refused(not_supported("prix"))))
            .collect())
    }

    async fn set_stock(
        &self,
        quantities: &[(String, i64)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let refs: Vec<String> = quantities.iter().map(|(r, _)| r.clone()).collect();
        let found = self.inventory_items(&refs).await?;
        let mut out = Vec::new();
        let mut items = Vec::new();
        for (r, qty) in quantities {
            match found.get(r) {
                Some(item) => items.push((r.clone(), item.clone(), *qty)),
                None => out.push((r.clone(), Written::Missing)),
            }
        }
        if !items.is_empty() {
            out.extend(self.write_quantities(items, batch).await?);
        }
        Ok(out)
    }

    async fn ensure_categories(
        &self,
        _paths: &[Vec<String>],
        _root: &str,
        _create: bool,
    ) -> Result<Vec<(Vec<String>, Vec<String>)>, StepError> {
        Err(StepError::permanent(not_supported("catégories")))
    }

    async fn find_categories(
        &self,
        _entries: &[String],
        _by_id: bool,
    ) -> Result<Vec<(String, Option<String>)>, StepError> {
        Err(StepError::permanent(not_supported("catégories")))
    }

    async fn ensure_manufacturers(
        &self,
        _names: &[String],
    ) -> Result<Vec<(String, String)>, StepError> {
        Err(StepError::permanent(not_supported("fabricants")))
    }

    async fn set_active(
        &self,
        states: &[(String, bool)],
        _batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        Ok(states
            .iter()
            .map(|(r, _)| {
                (
                    r.clone(),
                    Written::Refused(not_supported("activation des produits")),
                )
            })
            .collect())
    }
}

#[async_trait]
impl ShopConfigurationRead for ShopifyShop {
    async fn test_connection(&self) -> Result<(), StepError> {
        self.client
            .call(q::SHOP, json!({}), q::SHOP_COST)
            .await
            .map(|_| ())
    }

    async fn read_configuration(&self) -> Result<ShopConfiguration, StepError> {
        let data = self.client.call(q::SHOP, json!({}), q::SHOP_COST).await?;
        let shop = &data["shop"];
        let currency = shop["currencyCode"].as_str().unwrap_or("").to_string();
        Ok(ShopConfiguration {
            statuses: STATUSES
                .iter()
                .map(|(id, name)| Named {
                    id: (*id).into(),
                    name: (*name).into(),
                })
                .collect(),
            currencies: vec![Coded {
                id: currency.clone(),
                iso_code: currency.clone(),
                name: currency,
            }],
            shops: vec![Named {
                id: "1".into(),
                name: shop["name"].as_str().unwrap_or("").to_string(),
            }],
            ..ShopConfiguration::default()
        })
    }
}
