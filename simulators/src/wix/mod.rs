//! In-process simulator of the Wix REST APIs Passerelle calls (eCommerce Orders v1, order
//! fulfilments, Stores Catalog V3 inventory items, Catalog Versioning), for tests, benches
//! and demos.
//!
//! Faithful where a client depends on it (`/work/shared/reference/platforms.md` §6
//! "Simulator must reproduce", §0.1 and §10; `cms-apis.md` §5; paths and methods from
//! `specs/wix/wix-endpoints.json`, i.e. `WIX-npm`):
//! * auth: `Authorization: <API key>` plus exactly one of `wix-site-id` / `wix-account-id`;
//!   no key → 401; a key without site → **428 `MISSING_METASITE_ID`**
//!   (https://github.com/wix/wix-mcp/pull/9); both headers → 400;
//! * `POST /ecom/v1/orders/search` with `search{filter, sort, cursorPaging{limit, cursor}}`:
//!   limit ≤ 100 (above: 400 with a `validationError`), the Wix query language (`$eq`,
//!   `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin`, `$exists`, `$and`, `$or`, `$not`,
//!   dotted field paths), default sort `createdDate` DESC, `INITIALIZED` orders never
//!   returned, the cursor carrying the search; the answer's paging is `metadata{count,
//!   cursors{next}, hasNext}` as in Wix's SDK for Search Orders (the query routes, e.g.
//!   inventory items, answer `pagingMetadata`, the name `platforms.md` §6 gives);
//! * `GET /ecom/v1/orders/{id}`, `POST /ecom/v1/orders/{orderId}/update-status`,
//!   `POST /ecom/v1/orders/{id}/cancel`, `POST /ecom/v1/orders/{id}/activities`
//!   (merchant comments in `activities[]`), fulfilments `POST
//!   /ecom/v1/fulfillments/orders/{orderId}/create-fulfillment` with `trackingInfo` and
//!   `PATCH /ecom/v1/fulfillments/{id}/orders/{orderId}` (tracking added later) and
//!   `POST /ecom/v1/fulfillments/list-by-ids`; every write moves `updatedDate`;
//! * Catalog V3 inventory: `GET /stores/v3/inventory-items/query` (the SDK's GET with the
//!   query in the query string: `query.filter` JSON, `query.cursorPaging.limit|cursor`),
//!   `GET /stores/v3/inventory-items/{id}`, `POST /stores/v3/bulk/inventory-items/update`
//!   (≤ 1,000 items, each with the item's current `revision`: a stale one fails that item
//!   with `REVISION_MISMATCH` **(verify the code)** inside a 200 with `results[]` and
//!   `bulkActionMetadata`);
//! * `GET /stores/v3/provision/version` (Catalog Versioning API,
//!   https://dev.wix.com/docs/api-reference/business-solutions/stores/catalog-versioning/get-catalog-version.md):
//!   `V3_CATALOG`, or `V1_CATALOG` in the V1 mode, where the V3 routes answer 428;
//! * **200 requests per minute per app instance** (`cms-apis.md` §5): over it 429
//!   `RESOURCE_EXHAUSTED` with a `Retry-After` **(verify: the header)**; the window is
//!   configurable so tests can run it faster;
//! * errors `{message, details:{applicationError{code, description, data}}}` or
//!   `{…validationError{fieldViolations[]}}`.
//!
//! It parses what it receives with its own code; nothing of the client is shared. Test
//! controls: call counters per `"METHOD route"`, the most requests seen in one window,
//! the 429s answered, the bulk sizes received, injected revision conflicts.

mod query;
mod render;

use crate::seed::Seed;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use chrono::Utc;
pub use render::{guid, statuses as wix_statuses, SITE_CURRENCY, USD_RATE};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The demo API key (an account API key's shape: an opaque token).
pub const DEMO_API_KEY: &str = "IST.eyJraWQiOiJQb3pIX2FDMiIsImFsZyI6IlJTMjU2In0.passerelle-demo";
/// The demo site id.
pub const DEMO_SITE_ID: &str = "5e3c1b7a-9d2f-4c8e-a1b0-7f6e5d4c3b2a";
/// Most orders per search page.
pub const MAX_SEARCH_LIMIT: usize = 100;
/// Most items per bulk inventory update.
pub const MAX_BULK_INVENTORY: usize = 1000;

/// Behaviour knobs.
#[derive(Debug, Clone)]
pub struct WixSimConfig {
    /// API key accepted.
    pub api_key: String,
    /// Site id accepted.
    pub site_id: String,
    /// Requests accepted per app instance and window.
    pub rate_limit: usize,
    /// The window (a minute on Wix).
    pub window: Duration,
    /// The site still runs Catalog V1.
    pub catalog_v1: bool,
}

impl Default for WixSimConfig {
    fn default() -> Self {
        Self {
            api_key: DEMO_API_KEY.into(),
            site_id: DEMO_SITE_ID.into(),
            rate_limit: 200,
            window: Duration::from_secs(60),
            catalog_v1: false,
        }
    }
}

/// The site's data.
#[derive(Debug, Clone, Default)]
pub struct WixShop {
    /// Orders by id.
    pub orders: BTreeMap<String, Value>,
    /// Inventory items by id.
    pub inventory: BTreeMap<String, Value>,
    /// Fulfilments by order id.
    pub fulfillments: BTreeMap<String, Vec<Value>>,
}

impl WixShop {
    /// The seed in Wix's shapes, with the ids of the orders seeded broken (a negative
    /// quantity; an unreadable amount where the seed asks for a cut answer: a Wix answer
    /// is not cut, but a malformed order must fail alone just the same).
    pub fn from_seed(seed: &Seed) -> (WixShop, Vec<String>) {
        let mut orders = BTreeMap::new();
        let mut broken = Vec::new();
        for (i, o) in seed.orders.iter().enumerate() {
            let mut v = render::order(seed, o, i as u64 + 1);
            let id = v["id"].as_str().unwrap_or_default().to_string();
            if o.broken.is_some() {
                v["priceSummary"]["total"]["amount"] = json!("12,5O");
            }
            if o.broken.is_some() || o.lines.iter().any(|l| l.quantity <= 0) {
                broken.push(id.clone());
            }
            orders.insert(id, v);
        }
        let inventory = render::inventory(seed)
            .into_iter()
            .map(|i| (i["id"].as_str().unwrap_or_default().to_string(), i))
            .collect();
        (
            WixShop {
                orders,
                inventory,
                fulfillments: BTreeMap::new(),
            },
            broken,
        )
    }
}

struct SimState {
    shop: WixShop,
    config: WixSimConfig,
    calls: BTreeMap<String, u64>,
    accepted: VecDeque<Instant>,
    max_in_window: usize,
    throttled: u64,
    bulk_sizes: Vec<usize>,
    conflicts: HashMap<String, u32>,
    next: u64,
}

type Shared = Arc<Mutex<SimState>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, SimState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running Wix simulator (stops when dropped).
pub struct WixSim {
    addr: SocketAddr,
    state: Shared,
    task: JoinHandle<()>,
}

impl Drop for WixSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WixSim {
    /// Serves `shop` on `addr`.
    pub async fn start_at(
        shop: WixShop,
        config: WixSimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<WixSim> {
        let state = Arc::new(Mutex::new(SimState {
            shop,
            config,
            calls: BTreeMap::new(),
            accepted: VecDeque::new(),
            max_in_window: 0,
            throttled: 0,
            bulk_sizes: Vec::new(),
            conflicts: HashMap::new(),
            next: 1,
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WixSim { addr, state, task })
    }

    /// The seed served, with the ids of the orders seeded broken.
    pub async fn from_seed(
        seed: &Seed,
        config: WixSimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<(WixSim, Vec<String>)> {
        let (shop, broken) = WixShop::from_seed(seed);
        Ok((Self::start_at(shop, config, addr).await?, broken))
    }

    /// Base URL (stands for `https://www.wixapis.com`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API key.
    pub fn api_key(&self) -> String {
        lock(&self.state).config.api_key.clone()
    }

    /// The site id.
    pub fn site_id(&self) -> String {
        lock(&self.state).config.site_id.clone()
    }

    /// The profile's one secret: `SITE_ID:API_KEY`.
    pub fn credentials(&self) -> String {
        let s = lock(&self.state);
        format!("{}:{}", s.config.site_id, s.config.api_key)
    }

    /// The rate limit: `limit` requests per `window`.
    pub fn set_rate_limit(&self, limit: usize, window: Duration) {
        let mut s = lock(&self.state);
        s.config.rate_limit = limit;
        s.config.window = window;
        s.accepted.clear();
        s.max_in_window = 0;
    }

    /// The site runs Catalog V1 (its V3 routes answer 428).
    pub fn set_catalog_v1(&self, on: bool) {
        lock(&self.state).config.catalog_v1 = on;
    }

    /// The next `times` bulk updates of the inventory item with this SKU meet another
    /// writer first (its revision moves just before): a revision conflict.
    pub fn conflict_on(&self, sku: &str, times: u32) {
        lock(&self.state).conflicts.insert(sku.to_string(), times);
    }

    /// A copy of the site's data.
    pub fn shop(&self) -> WixShop {
        lock(&self.state).shop.clone()
    }

    /// One order.
    pub fn order(&self, id: &str) -> Option<Value> {
        lock(&self.state).shop.orders.get(id).cloned()
    }

    /// The inventory item of this SKU.
    pub fn inventory_item(&self, sku: &str) -> Option<Value> {
        lock(&self.state)
            .shop
            .inventory
            .values()
            .find(|i| i["product"]["variantSku"] == sku)
            .cloned()
    }

    /// Adds an inventory item for `sku` with `quantity`; returns its id.
    pub fn add_inventory_item(&self, sku: &str, quantity: i64) -> String {
        let mut s = lock(&self.state);
        s.next += 1;
        let n = 0x100000 + s.next;
        let id = guid(4, n);
        s.shop.inventory.insert(
            id.clone(),
            json!({"id": id, "variantId": guid(3, n), "productId": guid(2, n),
                   "locationId": guid(9, 1), "trackQuantity": true, "quantity": quantity,
                   "inStock": quantity > 0, "revision": "1",
                   "product": {"name": sku, "variantSku": sku, "variantName": ""}}),
        );
        id
    }

    /// Adds `n` orders copied from the first one (new ids and numbers, created one second
    /// apart after the last one): bulk data for paging tests and benches.
    pub fn clone_orders(&self, n: usize) -> Vec<String> {
        let mut s = lock(&self.state);
        let Some(first) = s
            .shop
            .orders
            .values()
            .find(|o| o["paymentStatus"] == "PAID" && o["fulfillmentStatus"] == "NOT_FULFILLED")
            .cloned()
        else {
            return Vec::new();
        };
        let base = s.shop.orders.len() as u64 + 1;
        let mut ids = Vec::new();
        for k in 0..n as u64 {
            let num = base + k;
            let id = guid(1, num);
            let mut o = first.clone();
            o["id"] = json!(id);
            o["number"] = json!((10000 + num).to_string());
            let at = render::date(crate::seed::base_date() + chrono::Duration::seconds(num as i64));
            o["createdDate"] = json!(at);
            o["updatedDate"] = json!(at);
            s.shop.orders.insert(id.clone(), o);
            ids.push(id);
        }
        ids
    }

    /// Calls received per `"METHOD route"` (`"POST /ecom/v1/orders/search"`,
    /// `"GET /ecom/v1/orders/{id}"`), refused ones included.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.state).calls.clone()
    }

    /// Total calls received.
    pub fn total_calls(&self) -> u64 {
        lock(&self.state).calls.values().sum()
    }

    /// The `"METHOD route"` keys received.
    pub fn routes(&self) -> BTreeSet<String> {
        lock(&self.state).calls.keys().cloned().collect()
    }

    /// The most requests accepted within one window so far.
    pub fn max_in_window(&self) -> usize {
        lock(&self.state).max_in_window
    }

    /// Requests answered 429.
    pub fn throttled(&self) -> u64 {
        lock(&self.state).throttled
    }

    /// Item counts of the bulk inventory updates received (refused ones included).
    pub fn bulk_sizes(&self) -> Vec<usize> {
        lock(&self.state).bulk_sizes.clone()
    }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// Wix's error body: `{message, details:{applicationError{code, description, data}}}`.
fn app_error(status: StatusCode, code: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"message": description,
               "details": {"applicationError": {"code": code, "description": description, "data": {}}}}),
    )
}

/// Wix's validation error body.
fn validation(field: &str, description: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"message": format!("INVALID_ARGUMENT: {field} {description}"),
               "details": {"validationError": {"fieldViolations": [
                   {"field": field, "description": description, "violatedRule": "OTHER"}]}}}),
    )
}

fn not_found(what: &str) -> Response {
    app_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("{what} not found"),
    )
}

/// True for a GUID-shaped path segment (replaced by `{id}` in the route key).
fn is_guid(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn parse_query(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `None` when the caller may go on, else Wix's answer (401, 428, 400).
fn authenticate(headers: &HeaderMap, config: &WixSimConfig) -> Option<Response> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    match h("authorization") {
        None => {
            return Some(app_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Missing authorization header",
            ))
        }
        Some(k) if k != config.api_key => {
            return Some(app_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Invalid API key",
            ))
        }
        Some(_) => {}
    }
    match (h("wix-site-id"), h("wix-account-id")) {
        (Some(_), Some(_)) => Some(app_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Provide either wix-site-id or wix-account-id, not both",
        )),
        (None, _) => Some(app_error(
            StatusCode::PRECONDITION_REQUIRED,
            "MISSING_METASITE_ID",
            "Missing site context: send the wix-site-id header with a site-level API key",
        )),
        (Some(site), None) if site != config.site_id => Some(app_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "The API key has no access to this site",
        )),
        _ => None,
    }
}

/// Counts the request against the instance's window; `Some(429)` over the limit.
fn rate_limit(s: &mut SimState) -> Option<Response> {
    let now = Instant::now();
    let window = s.config.window;
    while s
        .accepted
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        s.accepted.pop_front();
    }
    if s.accepted.len() >= s.config.rate_limit {
        s.throttled += 1;
        let wait = s
            .accepted
            .front()
            .map(|t| window.saturating_sub(now.duration_since(*t)))
            .unwrap_or(window);
        let mut r = app_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "Rate limit exceeded: 200 requests per minute per app instance",
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
        return Some(r);
    }
    s.accepted.push_back(now);
    s.max_in_window = s.max_in_window.max(s.accepted.len());
    None
}

fn now() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let route = format!(
        "/{}",
        segs.iter()
            .map(|s| if is_guid(s) { "{id}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    );
    let mut s = lock(&state);
    *s.calls.entry(format!("{method} {route}")).or_default() += 1;
    if let Some(r) = authenticate(&headers, &s.config) {
        return r;
    }
    if let Some(r) = rate_limit(&mut s) {
        return r;
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return validation("body", "is not valid JSON"),
        }
    };
    let seg = |i: usize| segs.get(i).map(|x| x.to_string()).unwrap_or_default();
    if s.config.catalog_v1
        && route.starts_with("/stores/v3/")
        && route != "/stores/v3/provision/version"
    {
        return app_error(
            StatusCode::PRECONDITION_REQUIRED,
            "CATALOG_V1_SITE_CALLING_CATALOG_V3_API",
            "This site uses Catalog V1: Catalog V3 APIs are not available",
        );
    }
    match (method.as_str(), route.as_str()) {
        ("POST", "/ecom/v1/orders/search") => search_orders(&s, &body),
        ("GET", "/ecom/v1/orders/{id}") => match s.shop.orders.get(&seg(3)) {
            Some(o) if o["status"] != "INITIALIZED" => ok(json!({"order": o})),
            _ => not_found("Order"),
        },
        ("POST", "/ecom/v1/orders/{id}/update-status") => {
            let st = body["status"].as_str().unwrap_or("").to_string();
            if !["APPROVED", "CANCELED", "PENDING", "REJECTED"].contains(&st.as_str()) {
                return validation(
                    "status",
                    "must be one of APPROVED, CANCELED, PENDING, REJECTED",
                );
            }
            update_order(&mut s, &seg(3), |o| {
                o["status"] = json!(st);
                Ok(())
            })
        }
        ("POST", "/ecom/v1/orders/{id}/cancel") => update_order(&mut s, &seg(3), |o| {
            if o["status"] == "CANCELED" {
                return Err(Box::new(app_error(
                    StatusCode::BAD_REQUEST,
                    "ORDER_ALREADY_CANCELED",
                    "Order is already canceled",
                )));
            }
            o["status"] = json!("CANCELED");
            Ok(())
        }),
        ("POST", "/ecom/v1/orders/{id}/activities") => {
            let a = &body["activity"];
            let Some(message) = a["merchantComment"]["message"].as_str().map(str::to_string) else {
                return validation("activity.merchantComment.message", "must not be empty");
            };
            s.next += 1;
            let aid = guid(8, 0x200000 + s.next);
            let act = json!({"id": aid, "createdDate": now(), "type": "MERCHANT_COMMENT",
                             "merchantComment": {"message": message}});
            let r = update_order(&mut s, &seg(3), |o| {
                if let Some(list) = o["activities"].as_array_mut() {
                    list.push(act.clone());
                } else {
                    o["activities"] = json!([act.clone()]);
                }
                Ok(())
            });
            if r.status() != StatusCode::OK {
                return r;
            }
            let order = s.shop.orders.get(&seg(3)).cloned().unwrap_or_default();
            ok(json!({"order": order, "activityId": aid}))
        }
        ("POST", "/ecom/v1/fulfillments/orders/{id}/create-fulfillment") => {
            create_fulfillment(&mut s, &seg(4), &body)
        }
        ("PATCH", "/ecom/v1/fulfillments/{id}/orders/{id}") => {
            let (fid, oid) = (seg(3), seg(5));
            let t = &body["fulfillment"]["trackingInfo"];
            let Some(list) = s.shop.fulfillments.get_mut(&oid) else {
                return not_found("Fulfillment");
            };
            let Some(f) = list.iter_mut().find(|f| f["id"] == fid.as_str()) else {
                return not_found("Fulfillment");
            };
            if t.is_object() {
                if t["trackingNumber"].as_str().is_none_or(str::is_empty) {
                    return validation(
                        "fulfillment.trackingInfo.trackingNumber",
                        "must not be empty",
                    );
                }
                f["trackingInfo"] = t.clone();
            }
            let all = list.clone();
            ok(json!({"orderWithFulfillments": {"orderId": oid, "fulfillments": all}}))
        }
        ("POST", "/ecom/v1/fulfillments/list-by-ids") => {
            let ids: Vec<String> = body["orderIds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if ids.len() > 100 {
                return validation("orderIds", "must have at most 100 elements");
            }
            let out: Vec<Value> = ids
                .iter()
                .map(|id| json!({"orderId": id, "fulfillments": s.shop.fulfillments.get(id).cloned().unwrap_or_default()}))
                .collect();
            ok(json!({"ordersWithFulfillments": out}))
        }
        ("GET", "/stores/v3/provision/version") => ok(json!({
            "catalogVersion": if s.config.catalog_v1 { "V1_CATALOG" } else { "V3_CATALOG" }
        })),
        ("GET", "/stores/v3/inventory-items/query") => query_inventory(&s, &parse_query(&uri)),
        ("GET", "/stores/v3/inventory-items/{id}") => match s.shop.inventory.get(&seg(3)) {
            Some(i) => ok(json!({"inventoryItem": i})),
            None => not_found("Inventory item"),
        },
        ("POST", "/stores/v3/bulk/inventory-items/update") => bulk_update_inventory(&mut s, &body),
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found", "details": {}}),
        ),
    }
}

fn update_order(
    s: &mut SimState,
    id: &str,
    f: impl FnOnce(&mut Value) -> Result<(), Box<Response>>,
) -> Response {
    let Some(o) = s.shop.orders.get_mut(id) else {
        return not_found("Order");
    };
    if let Err(r) = f(o) {
        return *r;
    }
    o["updatedDate"] = json!(now());
    ok(json!({"order": o}))
}

fn search_orders(s: &SimState, body: &Value) -> Response {
    let search = &body["search"];
    let paging = &search["cursorPaging"];
    let limit = match paging["limit"].as_u64() {
        None => MAX_SEARCH_LIMIT,
        Some(l) if (1..=MAX_SEARCH_LIMIT as u64).contains(&l) => l as usize,
        Some(_) => return validation("search.cursorPaging.limit", "must be between 1 and 100"),
    };
    // The cursor carries the search it continues (filter, sort, position).
    let (filter, sort, offset) = match paging["cursor"].as_str().filter(|c| !c.is_empty()) {
        Some(c) => {
            if c.len() > 16_000 {
                return validation(
                    "search.cursorPaging.cursor",
                    "must be at most 16000 characters",
                );
            }
            let Some(v) = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            else {
                return validation("search.cursorPaging.cursor", "is invalid");
            };
            (
                v["f"].clone(),
                v["s"].clone(),
                v["o"].as_u64().unwrap_or(0) as usize,
            )
        }
        None => (search["filter"].clone(), search["sort"].clone(), 0),
    };
    let mut rows: Vec<&Value> = Vec::new();
    for o in s.shop.orders.values() {
        if o["status"] == "INITIALIZED" {
            continue;
        }
        match query::matches(o, &filter) {
            Ok(true) => rows.push(o),
            Ok(false) => {}
            Err(e) => return validation("search.filter", &e),
        }
    }
    let sort = if sort.as_array().is_some_and(|a| !a.is_empty()) {
        sort
    } else {
        json!([{"fieldName": "createdDate", "order": "DESC"}])
    };
    query::sort(&mut rows, &sort);
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(offset).take(limit).cloned().collect();
    let end = offset + page.len();
    let has_next = end < total;
    let next = if has_next {
        let c = json!({"f": filter, "s": sort, "o": end}).to_string();
        Value::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c))
    } else {
        Value::Null
    };
    ok(json!({"orders": page,
              "metadata": {"count": page.len(), "cursors": {"next": next}, "hasNext": has_next}}))
}

fn create_fulfillment(s: &mut SimState, order_id: &str, body: &Value) -> Response {
    let Some(o) = s.shop.orders.get(order_id).cloned() else {
        return not_found("Order");
    };
    let f = &body["fulfillment"];
    let lines = f["lineItems"].as_array().cloned().unwrap_or_default();
    if lines.is_empty() {
        return validation("fulfillment.lineItems", "must not be empty");
    }
    for l in &lines {
        let id = l["id"].as_str().unwrap_or("");
        if !o["lineItems"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["id"] == id)
        {
            return validation(
                "fulfillment.lineItems.id",
                "is not a line item of the order",
            );
        }
    }
    s.next += 1;
    let mut stored =
        json!({"id": guid(8, 0x300000 + s.next), "createdDate": now(), "lineItems": lines});
    if let Some(t) = f.get("trackingInfo").filter(|t| t.is_object()) {
        if t["trackingNumber"].as_str().is_none_or(str::is_empty) {
            return validation(
                "fulfillment.trackingInfo.trackingNumber",
                "must not be empty",
            );
        }
        stored["trackingInfo"] = t.clone();
    }
    let list = s.shop.fulfillments.entry(order_id.to_string()).or_default();
    list.push(stored);
    let all = list.clone();
    if let Some(o) = s.shop.orders.get_mut(order_id) {
        o["fulfillmentStatus"] = json!("FULFILLED");
        o["updatedDate"] = json!(now());
    }
    ok(json!({"orderWithFulfillments": {"orderId": order_id, "fulfillments": all}}))
}

fn query_inventory(s: &SimState, params: &[(String, String)]) -> Response {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let filter = match get("query.filter") {
        None => Value::Null,
        Some(f) => match serde_json::from_str::<Value>(&f) {
            Ok(v) => v,
            Err(_) => return validation("query.filter", "is not valid JSON"),
        },
    };
    let limit = match get("query.cursorPaging.limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => return validation("query.cursorPaging.limit", "must be between 1 and 1000"),
    };
    let offset = get("query.cursorPaging.cursor")
        .and_then(|c| c.strip_prefix("inv:").and_then(|n| n.parse::<usize>().ok()))
        .unwrap_or(0);
    let mut rows = Vec::new();
    for i in s.shop.inventory.values() {
        match query::matches(i, &filter) {
            Ok(true) => rows.push(i.clone()),
            Ok(false) => {}
            Err(e) => return validation("query.filter", &e),
        }
    }
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    let end = offset + page.len();
    let next = (end < total).then(|| format!("inv:{end}"));
    ok(json!({"inventoryItems": page,
              "pagingMetadata": {"count": page.len(), "cursors": {"next": next}, "hasNext": end < total}}))
}

fn bulk_update_inventory(s: &mut SimState, body: &Value) -> Response {
    let items = body["inventoryItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    s.bulk_sizes.push(items.len());
    if items.is_empty() || items.len() > MAX_BULK_INVENTORY {
        return validation("inventoryItems", "must have between 1 and 1000 elements");
    }
    let return_entity = body["returnEntity"] == true;
    let (mut ok_n, mut ko_n) = (0u64, 0u64);
    let mut results = Vec::new();
    for (i, m) in items.iter().enumerate() {
        let it = &m["inventoryItem"];
        let id = it["id"].as_str().unwrap_or("").to_string();
        let fail = |code: &str, description: &str| {
            json!({"itemMetadata": {"id": id, "originalIndex": i, "success": false,
                                    "error": {"code": code, "description": description, "data": {}}}})
        };
        let Some(cur) = s.shop.inventory.get(&id).cloned() else {
            ko_n += 1;
            results.push(fail("NOT_FOUND", "Inventory item not found"));
            continue;
        };
        let sku = cur["product"]["variantSku"]
            .as_str()
            .unwrap_or("")
            .to_string();
        // An injected concurrent writer moves the revision just before this update.
        if let Some(n) = s.conflicts.get_mut(&sku).filter(|n| **n > 0) {
            *n -= 1;
            if let Some(stored) = s.shop.inventory.get_mut(&id) {
                let rev: u64 = stored["revision"]
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(1);
                stored["revision"] = json!((rev + 1).to_string());
            }
        }
        let Some(stored) = s.shop.inventory.get_mut(&id) else {
            continue;
        };
        let revision = it["revision"]
            .as_str()
            .map(str::to_string)
            .or_else(|| it["revision"].as_u64().map(|r| r.to_string()));
        if revision.is_none() {
            ko_n += 1;
            results.push(fail(
                "INVALID_ARGUMENT",
                "inventoryItem.revision is required",
            ));
            continue;
        }
        if revision.as_deref() != stored["revision"].as_str() {
            ko_n += 1;
            results.push(fail(
                "REVISION_MISMATCH",
                "The inventory item was modified since its revision was read",
            ));
            continue;
        }
        if let Some(q) = it.get("quantity") {
            let Some(q) = q.as_i64().filter(|q| (0..=99_999).contains(q)) else {
                ko_n += 1;
                results.push(fail(
                    "INVALID_ARGUMENT",
                    "quantity must be between 0 and 99999",
                ));
                continue;
            };
            stored["quantity"] = json!(q);
            stored["inStock"] = json!(q > 0);
        }
        if let Some(t) = it.get("trackQuantity").and_then(Value::as_bool) {
            stored["trackQuantity"] = json!(t);
        }
        let rev: u64 = stored["revision"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        stored["revision"] = json!((rev + 1).to_string());
        stored["updatedDate"] = json!(now());
        ok_n += 1;
        let mut r = json!({"itemMetadata": {"id": id, "originalIndex": i, "success": true}});
        if return_entity {
            r["item"] = stored.clone();
        }
        results.push(r);
    }
    ok(json!({"results": results,
              "bulkActionMetadata": {"totalSuccesses": ok_n, "totalFailures": ko_n, "undetailedFailures": 0}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_seed_renders_as_wix_orders() {
        let seed = Seed::demo(30).with_broken();
        let (shop, broken) = WixShop::from_seed(&seed);
        assert_eq!(shop.orders.len(), 32);
        assert_eq!(broken.len(), 2);
        assert!(shop
            .orders
            .values()
            .any(|o| o["buyerInfo"].get("memberId").is_none()));
        assert!(shop
            .orders
            .values()
            .any(|o| o.get("currencyConversionDetails").is_some()));
        for o in shop.orders.values() {
            assert!(
                o["priceSummary"]["total"]["amount"].is_string(),
                "decimal strings"
            );
        }
        let ids: Vec<&String> = shop.orders.keys().collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids sort in creation order"
        );
    }

    #[test]
    fn query_strings_decode_escapes() {
        let uri: Uri = "/x?query.filter=%7B%22a%22%3A1%7D&b=c+d"
            .parse()
            .expect("uri");
        let p = parse_query(&uri);
        assert_eq!(p[0], ("query.filter".into(), "{\"a\":1}".into()));
        assert_eq!(p[1], ("b".into(), "c d".into()));
    }
}
