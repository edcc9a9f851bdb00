//! reqwest client of the PrestaShop Webservice (1.7 / 8.x), implementing the [`Shop`] port.
//!
//! * Auth: HTTP Basic, the webservice key as user name and an empty password
//!   (`PS-docs:webservice/getting-started.md`). The key is never logged nor shown by `Debug`.
//! * Reads ask for `output_format=JSON`; writes send XML bodies, because the webservice
//!   "is only able to output JSON, it cannot read JSON inputs" (same page).
//! * An order page costs a constant number of calls, whatever its size: `orders`, then one
//!   batched call each for `order_details`, `customers`, `addresses`, `order_cart_rules`,
//!   `order_payments` and `order_carriers` (7 calls), plus `taxes`, `countries`, `states`,
//!   `currencies` and `carriers` once while cached (reloaded when a page names an unknown id).
//! * Failures are classified once (STYLE §7): 5xx, 408, 429, timeouts and connection errors
//!   are transient (Retry-After honoured); 400/401/403/404/405 are permanent, with the
//!   message PrestaShop put in its error body.

use super::model::{
    self, dec, multilang, opt_text, parse_list, parse_single, text, Obj, PageRows, PsCoded,
    PsConfiguration, PsNamed, PsTax, RefData, DOCUMENT_PREFIX, ERP_CODE_PREFIX,
};
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDate, Offset, Utc};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{DateField, OrderQuery, OrdersPage, Shop, ShopOrderRead};
use reqwest::{Method, StatusCode};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::instrument;

/// Largest answer read (bytes): a page of 100 full orders is well under a megabyte.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Date format of the webservice filters and fields.
const PS_DATE: &str = "%Y-%m-%d %H:%M:%S";

/// The PrestaShop Webservice client. Clones share the HTTP connection pool and the
/// reference-data cache (one shop, one cache), so one connection serves every family.
#[derive(Clone)]
pub struct PrestaShopClient {
    shop_url: String,
    api: String,
    key: String,
    http: reqwest::Client,
    default_shop: String,
    offset: FixedOffset,
    refs: Arc<Mutex<Option<Arc<RefData>>>>,
}

impl std::fmt::Debug for PrestaShopClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrestaShopClient")
            .field("shop_url", &self.shop_url)
            .field("key", &"***")
            .field("default_shop", &self.default_shop)
            .field("offset", &self.offset)
            .finish()
    }
}

/// Normalises a shop URL: scheme required, query and fragment dropped, a pasted `/api`
/// suffix removed, trailing slash added (`https://shop.example` → `https://shop.example/`).
pub fn normalise_shop_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "adresse de la boutique invalide : « {url} » (http:// ou https:// attendu)"
        ));
    }
    let mut u = url.split(['?', '#']).next().unwrap_or(url).to_string();
    while u.ends_with('/') {
        u.pop();
    }
    if u.to_ascii_lowercase().ends_with("/api") {
        u.truncate(u.len() - 4);
    }
    if u.split("://").nth(1).is_none_or(str::is_empty) {
        return Err(format!("adresse de la boutique invalide : « {url} »"));
    }
    u.push('/');
    Ok(u)
}

impl PrestaShopClient {
    /// A client for the shop at `shop_url` (its root, e.g. `https://shop.example`) with the
    /// webservice key `ws_key`; 30 s timeout, default shop `1`, shop clock on UTC.
    pub fn new(shop_url: &str, ws_key: &str) -> Result<Self, StepError> {
        let shop_url = normalise_shop_url(shop_url).map_err(StepError::permanent)?;
        if ws_key.trim().is_empty() {
            return Err(StepError::permanent("clé webservice PrestaShop manquante"));
        }
        Ok(Self {
            api: format!("{shop_url}api/"),
            shop_url,
            key: ws_key.trim().to_string(),
            http: Self::http(Duration::from_secs(30))?,
            default_shop: "1".into(),
            offset: Utc.fix(),
            refs: Arc::new(Mutex::new(None)),
        })
    }

    fn http(timeout: Duration) -> Result<reqwest::Client, StepError> {
        crate::http::builder(timeout)
            .build()
            .map_err(|e| StepError::permanent(format!("client HTTP : {e}")))
    }

    /// Sets the request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, StepError> {
        self.http = Self::http(timeout)?;
        Ok(self)
    }

    /// The shop read when a query names no shop (multi-shop).
    pub fn with_default_shop(mut self, shop_id: &str) -> Self {
        self.default_shop = shop_id.to_string();
        self
    }

    /// The shop's UTC offset: PrestaShop writes and filters dates in the shop's local time.
    /// (A fixed offset: DST-exact conversion would need the shop's tz database name.)
    pub fn with_utc_offset(mut self, offset: FixedOffset) -> Self {
        self.offset = offset;
        self
    }

    /// The normalised shop URL (with its trailing slash).
    pub fn shop_url(&self) -> &str {
        &self.shop_url
    }

    /// The webservice base URL (`<shop>/api/`).
    pub fn api_url(&self) -> &str {
        &self.api
    }

    // -----------------------------------------------------------------------
    // HTTP
    // -----------------------------------------------------------------------

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<String>,
    ) -> Result<Vec<u8>, StepError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api))
            .basic_auth(&self.key, Some(""))
            .query(&[("output_format", "JSON")])
            .query(query);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/xml; charset=utf-8")
                .body(b);
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if resp
            .content_length()
            .is_some_and(|l| l as usize > MAX_BODY_BYTES)
        {
            return Err(StepError::permanent(format!(
                "réponse PrestaShop trop volumineuse ({path})"
            )));
        }
        let bytes = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(classify(status, retry_after.as_deref(), &bytes, path));
        }
        Ok(bytes.to_vec())
    }

    /// A GET, retried in place a couple of times on a transient error. Reading one page of
    /// orders takes seven calls inside one journaled step; without this, a shop failing 20 %
    /// of its calls would fail the composite ~80 % of the time and the engine's step retries
    /// would rarely get through. Reads are idempotent; long outages still go to the engine's
    /// persisted retries (the step fails transient after these quick attempts).
    async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Vec<u8>, StepError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.call(Method::GET, path, query, None).await {
                Err(StepError::Transient { retry_after, .. }) if attempt < GET_ATTEMPTS => {
                    let wait = retry_after
                        .unwrap_or(Duration::from_millis(60 * u64::from(attempt)))
                        .min(Duration::from_secs(3));
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn list(
        &self,
        resource: &'static str,
        query: &[(String, String)],
    ) -> Result<Vec<Obj>, StepError> {
        let body = self.get(resource, query).await?;
        parse_list(&body, resource).map_err(StepError::permanent)
    }

    /// Rows of `resource` whose `key_field` is one of `keys`, in one call. When that answer
    /// cannot be read, each key is read alone so that only the broken key fails.
    async fn related(
        &self,
        resource: &'static str,
        key_field: &str,
        keys: &BTreeSet<String>,
        rows: &mut PageRows,
    ) -> Result<HashMap<String, Vec<Obj>>, StepError> {
        let mut out: HashMap<String, Vec<Obj>> = HashMap::new();
        if keys.is_empty() {
            return Ok(out);
        }
        let q = |ks: &mut dyn Iterator<Item = &String>| {
            vec![
                ("display".to_string(), "full".to_string()),
                (format!("filter[{key_field}]"), or_filter(ks)),
            ]
        };
        let body = self.get(resource, &q(&mut keys.iter())).await?;
        match parse_list(&body, resource) {
            Ok(items) => {
                for i in items {
                    out.entry(text(&i, key_field)).or_default().push(i);
                }
            }
            Err(why) => {
                tracing::warn!(resource, %why, "lot illisible : lecture clé par clé");
                for k in keys {
                    let body = self.get(resource, &q(&mut std::iter::once(k))).await?;
                    match parse_list(&body, resource) {
                        Ok(items) => out.entry(k.clone()).or_default().extend(items),
                        Err(why) => {
                            rows.failed.insert((resource, k.clone()), why);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The cached reference data, loaded (again) when missing or not covering `needs`.
    async fn refs(&self, needs: Option<&model::RefNeeds>) -> Result<Arc<RefData>, StepError> {
        let mut guard = self.refs.lock().await;
        if let Some(r) = guard.as_ref() {
            if needs.is_none_or(|n| r.covers(n)) {
                return Ok(r.clone());
            }
        }
        let full = [("display".to_string(), "full".to_string())];
        let taxes = self.list("taxes", &full).await?;
        let countries = self.list("countries", &full).await?;
        let states = self.list("states", &full).await?;
        let currencies = self.list("currencies", &full).await?;
        let carriers = self.list("carriers", &full).await?;
        let r = Arc::new(
            RefData::from_rows(&taxes, &countries, &states, &currencies, &carriers)
                .map_err(StepError::permanent)?,
        );
        *guard = Some(r.clone());
        Ok(r)
    }

    /// Filters of the orders list (without `display` and `limit`).
    fn order_filters(&self, query: &OrderQuery) -> Result<Vec<(String, String)>, StepError> {
        for s in query.states.iter().chain(query.shops.iter()) {
            check_id(s)?;
        }
        let mut q = vec![
            ("date".to_string(), "1".to_string()),
            (
                "filter[current_state]".to_string(),
                or_filter(&mut query.states.iter()),
            ),
        ];
        if query.from.is_some() || query.to.is_some() {
            let field = match query.date_field {
                DateField::Created => "date_add",
                DateField::Updated => "date_upd",
            };
            let from = query
                .from
                .map(|d| self.ps_date(d))
                .unwrap_or_else(|| "1970-01-01 00:00:00".into());
            let to = query
                .to
                .map(|d| self.ps_date(d))
                .unwrap_or_else(|| "9999-12-31 23:59:59".into());
            q.push((format!("filter[{field}]"), format!("[{from},{to}]")));
        }
        let shops = if query.shops.is_empty() {
            vec![self.default_shop.clone()]
        } else {
            query.shops.clone()
        };
        q.push(("filter[id_shop]".into(), or_filter(&mut shops.iter())));
        q.push(("sort".into(), "[id_ASC]".into()));
        Ok(q)
    }

    fn ps_date(&self, d: DateTime<Utc>) -> String {
        d.with_timezone(&self.offset).format(PS_DATE).to_string()
    }

    /// Reads a page's orders one by one after its list answer could not be read.
    async fn orders_one_by_one(
        &self,
        filters: &[(String, String)],
        offset: u32,
        limit: u32,
        why: &str,
    ) -> Result<(Vec<Obj>, Vec<ShopOrderRead>, usize), StepError> {
        tracing::warn!(%why, "page de commandes illisible : lecture commande par commande");
        let mut q = filters.to_vec();
        q.push(("display".into(), "[id]".into()));
        q.push(("limit".into(), format!("{offset},{limit}")));
        let ids: Vec<String> = self
            .list("orders", &q)
            .await?
            .iter()
            .map(|o| text(o, "id"))
            .collect();
        let mut ok = Vec::new();
        let mut invalid = Vec::new();
        for id in &ids {
            check_id(id)?;
            let body = self.get(&format!("orders/{id}"), &[]).await?;
            match parse_single(&body, "order") {
                Ok(o) => ok.push(o),
                Err(reason) => invalid.push(ShopOrderRead::Invalid {
                    id: id.clone(),
                    reason: format!("commande {id} : {reason}"),
                }),
            }
        }
        Ok((ok, invalid, ids.len()))
    }

    /// One field of one resource, by id (`None` when the resource does not exist).
    /// Rows of `resource` whose `field` equals `value`, with the `display` columns.
    async fn list_by(
        &self,
        resource: &'static str,
        field: &str,
        value: &str,
        display: &str,
    ) -> Result<Vec<Obj>, StepError> {
        self.list(
            resource,
            &[
                (format!("filter[{field}]"), format!("[{value}]")),
                ("display".into(), display.into()),
            ],
        )
        .await
    }

    async fn field_of(
        &self,
        resource: &'static str,
        id: &str,
        field: &str,
    ) -> Result<Option<String>, StepError> {
        check_id(id)?;
        let rows = self
            .list_by(resource, "id", id, &format!("[id,{field}]"))
            .await?;
        Ok(rows.first().map(|r| text(r, field)))
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        entity: &str,
        fields: &[(&str, &str)],
    ) -> Result<(), StepError> {
        self.call(method, path, query, Some(xml_body(entity, fields)))
            .await
            .map(|_| ())
    }

    /// Checks the URL and the key: reads the webservice root, which lists the resources
    /// the key may use.
    #[instrument(skip_all, err(level = "warn"))]
    pub async fn test_connection(&self) -> Result<(), StepError> {
        self.get("", &[]).await.map(|_| ())
    }

    /// Reads what the merchant maps in the profile settings: order states, taxes, carriers,
    /// currencies, countries, shops, and the payment modules of the last 500 orders.
    #[instrument(skip_all, err(level = "warn"))]
    pub async fn read_configuration(&self) -> Result<PsConfiguration, StepError> {
        let full = [("display".to_string(), "full".to_string())];
        let named = |rows: Vec<Obj>| -> Vec<PsNamed> {
            rows.iter()
                .filter(|r| text(r, "deleted") != "1")
                .map(|r| PsNamed {
                    id: text(r, "id"),
                    name: text(r, "name"),
                })
                .collect()
        };
        let coded = |rows: Vec<Obj>| -> Vec<PsCoded> {
            rows.iter()
                .filter(|r| text(r, "deleted") != "1")
                .map(|r| PsCoded {
                    id: text(r, "id"),
                    iso_code: text(r, "iso_code"),
                    name: r.get("name").map(multilang).unwrap_or_default(),
                })
                .collect()
        };
        let order_states = named(self.list("order_states", &full).await?);
        let taxes = self
            .list("taxes", &full)
            .await?
            .iter()
            .filter(|r| text(r, "deleted") != "1")
            .map(|r| {
                Ok(PsTax {
                    id: text(r, "id"),
                    name: text(r, "name"),
                    rate: dec(r, "rate").map_err(StepError::permanent)?,
                })
            })
            .collect::<Result<Vec<_>, StepError>>()?;
        let carriers = named(self.list("carriers", &full).await?);
        let currencies = coded(self.list("currencies", &full).await?);
        let countries = coded(self.list("countries", &full).await?);
        let shops = named(self.list("shops", &full).await?);
        // The modules seen on recent orders are a hint for the payment mapping: a shop whose
        // order list cannot be read (a broken order) still gets the rest of its configuration.
        let modules: BTreeSet<String> = match self
            .list(
                "orders",
                &[
                    ("display".into(), "[id,module]".into()),
                    ("sort".into(), "[id_DESC]".into()),
                    ("limit".into(), "0,500".into()),
                ],
            )
            .await
        {
            Ok(list) => list.iter().filter_map(|o| opt_text(o, "module")).collect(),
            Err(StepError::Permanent(why)) => {
                tracing::warn!(%why, "modules de paiement des commandes récentes illisibles");
                BTreeSet::new()
            }
            Err(e) => return Err(e),
        };
        Ok(PsConfiguration {
            order_states,
            taxes,
            carriers,
            currencies,
            countries,
            shops,
            payment_modules: modules.into_iter().collect(),
        })
    }
}

#[path = "catalog.rs"]
mod catalog;
#[path = "combinations.rs"]
mod combinations;
#[path = "images.rs"]
mod images;
pub use catalog::PrestaShopCatalog;
#[path = "customers.rs"]
mod customers;
pub use customers::PrestaShopCustomers;

/// `[a|b|c]`: the webservice's OR filter.
fn or_filter(values: &mut dyn Iterator<Item = &String>) -> String {
    let v: Vec<&str> = values.map(String::as_str).collect();
    format!("[{}]", v.join("|"))
}

/// Ids go into filters and paths: digits only.
fn check_id(id: &str) -> Result<(), StepError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StepError::permanent(format!(
            "identifiant PrestaShop invalide : « {id} »"
        )))
    }
}

/// An XML write body: `<prestashop><entity><field>value</field>…</entity></prestashop>`.
fn xml_body(entity: &str, fields: &[(&str, &str)]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prestashop>");
    s.push_str(&format!("<{entity}>"));
    for (k, v) in fields {
        s.push_str(&format!("<{k}>{}</{k}>", quick_xml::escape::escape(*v)));
    }
    s.push_str(&format!("</{entity}></prestashop>"));
    s
}

/// Maps an HTTP error answer to the engine's classification.
pub(crate) fn classify(
    status: StatusCode,
    retry_after: Option<&str>,
    body: &[u8],
    path: &str,
) -> StepError {
    let what = if path.is_empty() { "api" } else { path };
    let msg = error_message(body);
    let detail = if msg.is_empty() {
        String::new()
    } else {
        format!(" : {msg}")
    };
    if status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return StepError::Transient {
            message: format!("PrestaShop HTTP {} sur {what}{detail}", status.as_u16()),
            retry_after: retry_after.and_then(parse_retry_after),
        };
    }
    let hint = match status {
        StatusCode::UNAUTHORIZED => " (clé webservice refusée)",
        StatusCode::FORBIDDEN => " (droits de la clé webservice insuffisants)",
        StatusCode::NOT_FOUND => " (ressource introuvable)",
        StatusCode::METHOD_NOT_ALLOWED => " (méthode non autorisée pour cette clé)",
        _ => "",
    };
    StepError::permanent(format!(
        "PrestaShop HTTP {} sur {what}{hint}{detail}",
        status.as_u16()
    ))
}

/// Retry-After as seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    DateTime::parse_from_rfc2822(v).ok().map(|d| {
        (d.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or_default()
    })
}

/// The messages of a PrestaShop error body, JSON (`{"errors":[{"code":…,"message":…}]}`)
/// or XML (`<prestashop><errors><error><code/><message/>…`).
pub(crate) fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Some(errs) = v.get("errors").and_then(|e| e.as_array()) {
            return errs
                .iter()
                .map(|e| {
                    let code = e.get("code").map(|c| c.to_string()).unwrap_or_default();
                    let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
                    format!("[{}] {msg}", code.trim_matches('"'))
                })
                .collect::<Vec<_>>()
                .join(" ; ");
        }
    }
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut in_message = false;
    let mut messages = Vec::new();
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) => in_message = e.name().as_ref() == b"message",
            Ok(quick_xml::events::Event::End(_)) => in_message = false,
            Ok(quick_xml::events::Event::Text(t)) if in_message => {
                if let Ok(s) = t.unescape() {
                    messages.push(s.trim().to_string());
                }
            }
            Ok(quick_xml::events::Event::CData(c)) if in_message => {
                messages.push(String::from_utf8_lossy(&c.into_inner()).trim().to_string());
            }
            Ok(quick_xml::events::Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    if messages.is_empty() {
        text.chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string()
    } else {
        messages.join(" ; ")
    }
}

/// Attempts of one GET within a step (see `PrestaShopClient::get`).
const GET_ATTEMPTS: u32 = 3;

fn transport(e: reqwest::Error) -> StepError {
    // reqwest's Display never includes the Basic credentials (they are a header).
    if e.is_timeout() {
        StepError::transient(format!("PrestaShop ne répond pas (délai dépassé) : {e}"))
    } else if e.is_connect() {
        StepError::transient(format!("PrestaShop injoignable : {e}"))
    } else {
        StepError::transient(format!("réseau : {e}"))
    }
}

#[async_trait]
impl Shop for PrestaShopClient {
    fn field_rules(&self) -> passerelle_domain::fields::FieldRules {
        super::fields::FIELD_RULES
    }

    /// Keyset paging: `filter[id]=>[after]` with `sort=[id_ASC]` and `limit=0,n`, so orders
    /// whose status the import changes (and which leave the status filter) never shift the
    /// following pages (`PS-docs:webservice/cheat-sheet.md`, comparison filters).
    #[instrument(skip_all, fields(after = after_id, limit = limit), err(level = "warn"))]
    async fn orders_page(
        &self,
        query: &OrderQuery,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<OrdersPage, StepError> {
        let offset = 0u32;
        if query.states.is_empty() || limit == 0 {
            return Ok(OrdersPage {
                orders: Vec::new(),
                has_more: false,
            });
        }
        let mut filters = self.order_filters(query)?;
        if let Some(after) = after_id {
            check_id(after)?;
            filters.push(("filter[id]".into(), format!(">[{after}]")));
        }
        let mut q = filters.clone();
        q.push(("display".into(), "full".into()));
        q.push(("limit".into(), format!("{offset},{limit}")));
        let body = self.get("orders", &q).await?;
        let (orders, mut reads, count) = match parse_list(&body, "orders") {
            Ok(list) => {
                let n = list.len();
                (list, Vec::new(), n)
            }
            Err(why) => {
                self.orders_one_by_one(&filters, offset, limit, &why)
                    .await?
            }
        };

        // Batched related rows: one call per resource for the whole page.
        let mut rows = PageRows::default();
        let order_ids: BTreeSet<String> = orders.iter().map(|o| text(o, "id")).collect();
        let customer_ids: BTreeSet<String> = orders
            .iter()
            .filter_map(|o| model::opt_id(o, "id_customer"))
            .collect();
        let address_ids: BTreeSet<String> = orders
            .iter()
            .flat_map(|o| {
                [
                    model::opt_id(o, "id_address_invoice"),
                    model::opt_id(o, "id_address_delivery"),
                ]
            })
            .flatten()
            .collect();
        let references: BTreeSet<String> = orders
            .iter()
            .filter_map(|o| opt_text(o, "reference"))
            .filter(|r| !r.contains(['|', '[', ']', ',']))
            .collect();
        for id in order_ids.iter().chain(&customer_ids).chain(&address_ids) {
            check_id(id)?;
        }
        rows.details = self
            .related("order_details", "id_order", &order_ids, &mut rows)
            .await?;
        let customers = self
            .related("customers", "id", &customer_ids, &mut rows)
            .await?;
        rows.customers = first_of(customers);
        let addresses = self
            .related("addresses", "id", &address_ids, &mut rows)
            .await?;
        rows.addresses = first_of(addresses);
        rows.cart_rules = self
            .related("order_cart_rules", "id_order", &order_ids, &mut rows)
            .await?;
        rows.payments = self
            .related("order_payments", "order_reference", &references, &mut rows)
            .await?;
        rows.carriers = self
            .related("order_carriers", "id_order", &order_ids, &mut rows)
            .await?;
        let needs = model::ref_needs(&orders, &rows);
        let refs = self.refs(Some(&needs)).await?;

        for o in &orders {
            let id = text(o, "id");
            reads.push(match model::map_order(o, &rows, &refs, self.offset) {
                Ok(order) => ShopOrderRead::Ok(Box::new(order)),
                Err(reason) => ShopOrderRead::Invalid {
                    id: id.clone(),
                    reason: format!("commande {id} : {reason}"),
                },
            });
        }
        reads.sort_by_key(|r| r.id().parse::<u64>().unwrap_or(u64::MAX));
        Ok(OrdersPage {
            orders: reads,
            has_more: count >= limit as usize,
        })
    }

    /// Adds an `order_histories` row (`PS-docs:webservice/getting-started.md`, sendemail
    /// section) only when the order is not already in that state: PrestaShop would record
    /// (and e-mail) the same state again.
    #[instrument(skip_all, fields(order = order_id, state = state_id), err(level = "warn"))]
    async fn set_order_state(
        &self,
        order_id: &str,
        state_id: &str,
        notify_customer: bool,
    ) -> Result<(), StepError> {
        check_id(state_id)?;
        let current = self
            .field_of("orders", order_id, "current_state")
            .await?
            .ok_or_else(|| {
                StepError::permanent(format!("commande PrestaShop {order_id} introuvable"))
            })?;
        if current.trim() == state_id {
            return Ok(());
        }
        let query: Vec<(String, String)> = if notify_customer {
            vec![("sendemail".into(), "1".into())]
        } else {
            Vec::new()
        };
        self.write(
            Method::POST,
            "order_histories",
            &query,
            "order_history",
            &[("id_order", order_id), ("id_order_state", state_id)],
        )
        .await
    }

    /// Writes `Document EBP : <number>` as a line of the order's private `note`
    /// (`PS-docs:webservice/resources/orders.md`: `note`, isCleanHtml, writable; shown as
    /// the order's private note in the back office since 1.7.7). A `PATCH orders/{id}` with
    /// only `id` and `note` changes nothing else on the order. The alternative, a private
    /// `customer_messages` row, needs a `customer_threads` row first (two POSTs, contact and
    /// token fields) and cannot be made idempotent without reading the threads back. The
    /// merchant's own note text is kept; the line is replaced, never duplicated.
    #[instrument(skip_all, fields(order = order_id), err(level = "warn"))]
    async fn set_order_document_number(
        &self,
        order_id: &str,
        document_number: &str,
    ) -> Result<(), StepError> {
        let note = self
            .field_of("orders", order_id, "note")
            .await?
            .ok_or_else(|| {
                StepError::permanent(format!("commande PrestaShop {order_id} introuvable"))
            })?;
        let Some(new_note) = model::with_tagged_line(&note, DOCUMENT_PREFIX, document_number)
        else {
            return Ok(());
        };
        self.write(
            Method::PATCH,
            &format!("orders/{order_id}"),
            &[],
            "order",
            &[("id", order_id), ("note", &new_note)],
        )
        .await
    }

    /// Writes `Code client EBP : <code>` as a line of the customer's private `note`
    /// (`customers.note`, shown on the customer page of the back office), read back into
    /// [`passerelle_domain::orders::ShopCustomer::erp_code`].
    #[instrument(skip_all, fields(customer = customer_id), err(level = "warn"))]
    async fn set_customer_erp_code(&self, customer_id: &str, code: &str) -> Result<(), StepError> {
        let note = self
            .field_of("customers", customer_id, "note")
            .await?
            .ok_or_else(|| {
                StepError::permanent(format!("client PrestaShop {customer_id} introuvable"))
            })?;
        let Some(new_note) = model::with_tagged_line(&note, ERP_CODE_PREFIX, code) else {
            return Ok(());
        };
        self.write(
            Method::PATCH,
            &format!("customers/{customer_id}"),
            &[],
            "customer",
            &[("id", customer_id), ("note", &new_note)],
        )
        .await
    }

    /// Sets the `stock_availables` quantity of the product (no combination:
    /// `id_product_attribute` 0) — the product's own `quantity` cannot set stock
    /// (`PS-docs:webservice/resources/stock_availables.md`). PrestaShop stock is a whole
    /// number: a fractional ERP quantity is rounded down (never promise what is not there).
    #[instrument(skip_all, fields(reference = reference), err(level = "warn"))]
    async fn set_stock(&self, reference: &str, quantity: Decimal) -> Result<bool, StepError> {
        let reference = reference.trim();
        if reference.is_empty() || reference.contains(['|', '[', ']', ',', '%', '!']) {
            return Err(StepError::permanent(format!(
                "référence non recherchable dans PrestaShop : « {reference} »"
            )));
        }
        let products = self
            .list_by("products", "reference", reference, "[id]")
            .await?;
        let Some(product_id) = products.first().map(|p| text(p, "id")) else {
            return Ok(false);
        };
        check_id(&product_id)?;
        let stocks = self
            .list(
                "stock_availables",
                &[
                    ("filter[id_product]".into(), format!("[{product_id}]")),
                    ("filter[id_product_attribute]".into(), "[0]".into()),
                    ("display".into(), "[id,quantity]".into()),
                ],
            )
            .await?;
        let Some(stock) = stocks.first() else {
            return Err(StepError::permanent(format!(
                "pas de stock PrestaShop (stock_availables) pour le produit {product_id} ({reference})"
            )));
        };
        let stock_id = text(stock, "id");
        check_id(&stock_id)?;
        let qty = quantity
            .floor()
            .to_i64()
            .ok_or_else(|| StepError::permanent(format!("quantité hors limites : {quantity}")))?;
        if text(stock, "quantity").trim() == qty.to_string() {
            return Ok(true);
        }
        self.write(
            Method::PATCH,
            &format!("stock_availables/{stock_id}"),
            &[],
            "stock_available",
            &[("id", &stock_id), ("quantity", &qty.to_string())],
        )
        .await?;
        Ok(true)
    }

    /// `PUT order_carriers/{id}?sendemail=1` with `tracking_number`
    /// (`PS-docs:webservice/getting-started.md`, sendemail: it also sends the "in transit"
    /// e-mail). The order's `shipping_number` is legacy and read-only through the order.
    #[instrument(skip_all, fields(order = order_id), err(level = "warn"))]
    async fn set_tracking(
        &self,
        order_id: &str,
        number: &str,
        notify: bool,
    ) -> Result<(), StepError> {
        check_id(order_id)?;
        let rows = self
            .list_by(
                "order_carriers",
                "id_order",
                order_id,
                "[id,tracking_number]",
            )
            .await?;
        let Some(row) = rows.first() else {
            return Err(StepError::permanent(format!(
                "commande PrestaShop {order_id} sans transporteur (order_carriers) : numéro de suivi non envoyé"
            )));
        };
        if text(row, "tracking_number").trim() == number {
            return Ok(());
        }
        let id = text(row, "id");
        check_id(&id)?;
        let query: Vec<(String, String)> = if notify {
            vec![("sendemail".into(), "1".into())]
        } else {
            Vec::new()
        };
        self.write(
            Method::PATCH,
            &format!("order_carriers/{id}"),
            &query,
            "order_carrier",
            &[("id", &id), ("tracking_number", number)],
        )
        .await
    }

    /// `PATCH orders/{id}` with `reference` (the column is `varchar(9)`: the workflow
    /// shortens a longer number itself, with a warning — PrestaShop would cut it silently).
    #[instrument(skip_all, fields(order = order_id), err(level = "warn"))]
    async fn set_order_reference(&self, order_id: &str, reference: &str) -> Result<(), StepError> {
        self.set_order_field(order_id, "reference", reference).await
    }

    /// `PATCH orders/{id}` with `delivery_date` (`isDate`, `Y-m-d H:i:s`).
    #[instrument(skip_all, fields(order = order_id), err(level = "warn"))]
    async fn set_delivery_date(&self, order_id: &str, date: NaiveDate) -> Result<(), StepError> {
        let value = format!("{} 00:00:00", date.format("%Y-%m-%d"));
        self.set_order_field(order_id, "delivery_date", &value)
            .await
    }

    /// One `order_carriers` read for all the orders (`filter[id_order]=[1|2|3]`).
    #[instrument(skip_all, fields(orders = order_ids.len()), err(level = "warn"))]
    async fn tracking_numbers(
        &self,
        order_ids: &[String],
    ) -> Result<BTreeMap<String, String>, StepError> {
        let mut out = BTreeMap::new();
        for chunk in order_ids.chunks(100) {
            for id in chunk {
                check_id(id)?;
            }
            let rows = self
                .list(
                    "order_carriers",
                    &[
                        ("filter[id_order]".into(), or_filter(&mut chunk.iter())),
                        ("display".into(), "[id_order,tracking_number]".into()),
                    ],
                )
                .await?;
            for r in rows {
                let t = text(&r, "tracking_number");
                if !t.trim().is_empty() {
                    out.insert(text(&r, "id_order"), t.trim().to_string());
                }
            }
        }
        Ok(out)
    }

    /// How the PDF reaches the customer on PrestaShop: the core webservice has no order
    /// document upload (order invoices are generated by PrestaShop itself), so the ERP's PDF
    /// is uploaded as an attachment (`POST attachments/file`, multipart `file`;
    /// `PS-docs:webservice/resources/attachments.md`) and announced by a customer message
    /// on the order's thread (`customer_threads` + `customer_messages`, `private=0`) whose
    /// text links `index.php?controller=attachment&id_attachment=N`. The customer sees the
    /// message, with the link, in their account's order details. Idempotent: an attachment
    /// of the same file name is reused and a thread message naming the invoice is not
    /// written twice. Limits: PrestaShop attachments are meant for products, and the
    /// attachment controller does not check who downloads (anyone with the id can); a
    /// merchant who needs private invoices should install a module for that.
    #[instrument(skip_all, fields(order = order_id, invoice = invoice_number), err(level = "warn"))]
    async fn attach_invoice(
        &self,
        order_id: &str,
        invoice_number: &str,
        pdf: &[u8],
    ) -> Result<String, StepError> {
        check_id(order_id)?;
        let file_name = format!("Facture-{}.pdf", sanitize_file_name(invoice_number));
        let order = self
            .list_by("orders", "id", order_id, "[id,id_customer,id_lang,id_shop]")
            .await?;
        let Some(order) = order.first() else {
            return Err(StepError::permanent(format!(
                "commande PrestaShop {order_id} introuvable"
            )));
        };
        // The thread of the order, created once.
        let threads = self
            .list_by("customer_threads", "id_order", order_id, "[id]")
            .await?;
        let thread_id = match threads.first() {
            Some(t) => text(t, "id"),
            None => {
                let customer = text(order, "id_customer");
                let email = match self.field_of("customers", &customer, "email").await {
                    Ok(e) => e.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                // `customer_thread.token` is `varchar(12)`: 48 bits in 12 hex digits (a
                // longer token would be cut by MySQL, refused where the definition has
                // `'size' => 12`).
                let token = format!("{:012x}", fnv(order_id.as_bytes()) & 0xffff_ffff_ffff);
                let body = self
                    .call(
                        Method::POST,
                        "customer_threads",
                        &[],
                        Some(xml_body(
                            "customer_thread",
                            &[
                                ("id_lang", &non_zero(&text(order, "id_lang"))),
                                ("id_shop", &non_zero(&text(order, "id_shop"))),
                                ("id_contact", "0"),
                                ("id_customer", &customer),
                                ("id_order", order_id),
                                ("email", &email),
                                ("token", &token),
                                ("status", "open"),
                            ],
                        )),
                    )
                    .await?;
                let row = parse_single(&body, "customer_thread").map_err(StepError::permanent)?;
                text(&row, "id")
            }
        };
        check_id(&thread_id)?;
        let messages = self
            .list(
                "customer_messages",
                &[
                    (
                        "filter[id_customer_thread]".into(),
                        format!("[{thread_id}]"),
                    ),
                    ("display".into(), "[id,message]".into()),
                ],
            )
            .await?;
        if let Some(m) = messages
            .iter()
            .find(|m| text(m, "message").contains(&file_name))
        {
            return Ok(format!("déjà joint (message {})", text(m, "id")));
        }
        // Reuse an upload of a retried call (crash between upload and message).
        let existing = self
            .list_by("attachments", "file_name", &file_name, "[id]")
            .await?;
        let attachment_id = match existing.first() {
            Some(a) => text(a, "id"),
            None => self.upload_attachment(&file_name, pdf).await?,
        };
        check_id(&attachment_id)?;
        let link = format!(
            "{}/index.php?controller=attachment&id_attachment={attachment_id}",
            self.shop_url.trim_end_matches('/')
        );
        let message = format!("Votre facture {invoice_number} ({file_name}) : {link}");
        self.write(
            Method::POST,
            "customer_messages",
            &[],
            "customer_message",
            &[
                ("id_customer_thread", &thread_id),
                ("id_employee", "0"),
                ("message", &message),
                ("private", "0"),
            ],
        )
        .await?;
        Ok(link)
    }
}

impl PrestaShopClient {
    /// Set-to on one order field: read it, `PATCH orders/{id}` with only `id` and the field
    /// when it differs (nothing else on the order changes).
    async fn set_order_field(
        &self,
        order_id: &str,
        field: &str,
        value: &str,
    ) -> Result<(), StepError> {
        let current = self
            .field_of("orders", order_id, field)
            .await?
            .ok_or_else(|| {
                StepError::permanent(format!("commande PrestaShop {order_id} introuvable"))
            })?;
        if current.trim() == value {
            return Ok(());
        }
        self.write(
            Method::PATCH,
            &format!("orders/{order_id}"),
            &[],
            "order",
            &[("id", order_id), (field, value)],
        )
        .await
    }

    /// `POST attachments/file` (multipart); returns the new attachment's id.
    async fn upload_attachment(&self, file_name: &str, bytes: &[u8]) -> Result<String, StepError> {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(file_name.to_string())
            .mime_str("application/pdf")
            .map_err(|e| StepError::permanent(format!("pièce jointe : {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("name", file_name.to_string())
            .part("file", part);
        let resp = self
            .http
            .post(format!("{}attachments/file", self.api))
            .basic_auth(&self.key, Some(""))
            .query(&[("output_format", "JSON")])
            .multipart(form)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(classify(
                status,
                retry_after.as_deref(),
                &body,
                "attachments/file",
            ));
        }
        let row = parse_single(&body, "attachment").map_err(StepError::permanent)?;
        Ok(text(&row, "id"))
    }
}

/// A file name PrestaShop accepts (`isGenericName`): letters, digits, `-`, `_`, `.`.
fn sanitize_file_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn non_zero(v: &str) -> String {
    if v.trim().is_empty() || v.trim() == "0" {
        "1".into()
    } else {
        v.trim().to_string()
    }
}

/// FNV-1a: a stable thread token derived from the order (PrestaShop wants a non-empty one).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn first_of(m: HashMap<String, Vec<Obj>>) -> HashMap<String, Obj> {
    m.into_iter()
        .filter_map(|(k, mut v)| (!v.is_empty()).then(|| (k, v.swap_remove(0))))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shop_urls_are_normalised() {
        assert_eq!(
            normalise_shop_url("https://shop.example"),
            Ok("https://shop.example/".into())
        );
        assert_eq!(
            normalise_shop_url(" https://shop.example/boutique/ "),
            Ok("https://shop.example/boutique/".into())
        );
        assert_eq!(
            normalise_shop_url("https://shop.example/api/?ws_key=x"),
            Ok("https://shop.example/".into())
        );
        assert!(normalise_shop_url("shop.example").is_err());
        assert!(normalise_shop_url("https://").is_err());
        let c = PrestaShopClient::new("http://127.0.0.1:8080", "KEY").unwrap();
        assert_eq!(c.api_url(), "http://127.0.0.1:8080/api/");
        assert!(!format!("{c:?}").contains("KEY"));
    }

    #[test]
    fn errors_are_classified_with_the_prestashop_message() {
        let xml = b"<?xml version=\"1.0\"?><prestashop><errors><error><code><![CDATA[18]]></code><message><![CDATA[Invalid authentication key]]></message></error></errors></prestashop>";
        let e = classify(StatusCode::UNAUTHORIZED, None, xml, "orders");
        assert!(
            matches!(&e, StepError::Permanent(m) if m.contains("Invalid authentication key")),
            "{e:?}"
        );
        let json = br#"{"errors":[{"code":18,"message":"Invalid authentication key"}]}"#;
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, None, json, "orders"),
            StepError::Permanent(m) if m.contains("[18] Invalid authentication key")
        ));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some("7"), b"", "orders"),
            StepError::Transient {
                message: "PrestaShop HTTP 429 sur orders".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None, b"", "orders"),
            StepError::Transient { .. }
        ));
    }

    #[test]
    fn write_bodies_are_escaped_xml() {
        assert_eq!(
            xml_body("customer", &[("id", "4"), ("note", "a < b & \"c\"")]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prestashop><customer><id>4</id><note>a &lt; b &amp; &quot;c&quot;</note></customer></prestashop>"
        );
    }
}
