//! In-process simulator of the Magento 2 / Adobe Commerce admin REST API
//! (`/rest/<store>/V1/…`) for tests, benches and demos.
//!
//! Faithful where a client depends on it. Sources: `/work/shared/reference/platforms.md`
//! §5 ("Simulator must reproduce"), §0.6 (out-of-range pages), §10; `cms-apis.md` §6;
//! the published spec `specs/magento/admin-schema-2.4.8.yaml` (paths, parameters and
//! shapes; a test validates this simulator's requests and answers against it):
//! * routes under `/rest/<store>/V1/` (`default`, `all` or a configured store code;
//!   `/rest/V1/` is the default store); unknown route → 404
//!   `{"message":"Request does not match any route."}`;
//! * auth: integration / admin token as `Authorization: Bearer …`; none or wrong → 401
//!   `{"message":"The consumer isn't authorized to access %resources.","parameters":{…}}`;
//! * search: `searchCriteria[filterGroups][i][filters][j][field|value|conditionType]`
//!   (snake_case accepted too; OR inside a group, AND across groups; conditions `eq`,
//!   `neq`, `gt`, `gteq`, `lt`, `lteq`, `in`, `nin`, `like`, `null`, `notnull`),
//!   `sortOrders[k][field|direction]`, `pageSize`, `currentPage`; answer
//!   `{items, search_criteria, total_count}`; `fields=items[a,b],total_count` filters the
//!   answer; an out-of-range page answers empty `items` (2.4) or, in the
//!   [`MagentoSimConfig::repeat_last_page`] mode, the last page again (≤ 2.3,
//!   magento2#26986);
//! * input limits (optional, [`MagentoSimConfig::input_limits`]): page size default 20,
//!   above 300 → 400; synchronous array inputs above
//!   [`MagentoSimConfig::array_limit`] (20) → 400 `Maximum items of type "%type" is %max`
//!   (`ADOBE:…/api-security.md`);
//! * errors `{message, parameters}` (400/401/404);
//! * dates in UTC `Y-m-d H:i:s`; money as JSON numbers;
//! * state machine: an order reaches `complete` only with an invoice **and** a shipment
//!   (magento2#3307); `POST /V1/orders/{id}/comments` adds a comment and, only when
//!   [`MagentoSimConfig::comments_set_status`] (≤ 2.4.6), changes the status — 2.4.7 no
//!   longer does (magento2#38723);
//! * MSI: `POST /V1/inventory/source-items` `{sourceItems:[…]}` saves quantities
//!   (an unknown SKU or a [`MagentoSim::fail_item`] one fails the whole call with 400, as
//!   `SourceItemsSave` validates the batch before saving);
//! * a hosting WAF in front of the shop (core REST has no rate limit): optional fixed
//!   window answering 429 with `Retry-After`; calls arriving before that delay are
//!   counted ([`MagentoSim::early_calls`]).
//!
//! It parses what it receives with its own code (query strings, JSON bodies); nothing of
//! the client is shared. Test controls: call counters per `"METHOD /V1/route"`, the array
//! sizes received by `source-items`, every exchange (method, route, query names, request
//! and answer bodies) for the conformance test, corrupted orders (answer cut).

mod render;

use crate::seed::{Seed, SeedBreakage};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::NaiveDateTime;
pub use render::{state_status, usd_rate, BASE_CURRENCY, FIRST_ORDER_ID};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The demo integration access token.
pub const DEMO_TOKEN: &str = "mg7k2p9x4w1q8z5v3n6b0c2d4f6h8j1l";

/// Exchanges kept for the conformance test (the first ones: benches send many more).
const MAX_EXCHANGES: usize = 5_000;

/// Behaviour knobs.
#[derive(Debug, Clone)]
pub struct MagentoSimConfig {
    /// Integration access token accepted as Bearer.
    pub token: String,
    /// Store codes served besides `default` and `all`.
    pub stores: Vec<String>,
    /// "Enable Input Limits" (Stores › Configuration › Services › Web API Input Limits).
    pub input_limits: bool,
    /// Items accepted in a synchronous array input when input limits are on.
    pub array_limit: usize,
    /// Largest page size when input limits are on.
    pub max_page_size: usize,
    /// Page size used when none is sent and input limits are on.
    pub default_page_size: usize,
    /// An out-of-range `currentPage` answers the last page again (Magento ≤ 2.3).
    pub repeat_last_page: bool,
    /// `POST /orders/{id}/comments` with a `status` changes the status (≤ 2.4.6).
    pub comments_set_status: bool,
    /// A WAF's fixed window: at most this many calls per window, then 429.
    pub rate_limit: Option<(u32, Duration)>,
}

impl Default for MagentoSimConfig {
    fn default() -> Self {
        Self {
            token: DEMO_TOKEN.into(),
            stores: vec!["fr".into()],
            input_limits: false,
            array_limit: 20,
            max_page_size: 300,
            default_page_size: 20,
            repeat_last_page: false,
            comments_set_status: false,
            rate_limit: None,
        }
    }
}

/// The shop's data.
#[derive(Debug, Clone, Default)]
pub struct MagentoShop {
    /// Orders by `entity_id` (each with its `status_histories`).
    pub orders: BTreeMap<u64, Value>,
    /// Products by SKU.
    pub products: BTreeMap<String, Value>,
    /// Source items of the `default` source, by SKU.
    pub source_items: BTreeMap<String, Value>,
    /// Invoices by id (`order_id`, `comment`).
    pub invoices: BTreeMap<u64, Value>,
    /// Shipments by id (`order_id`, `tracks`).
    pub shipments: BTreeMap<u64, Value>,
}

impl MagentoShop {
    /// The seed in Magento's shapes, with the ids of the orders seeded broken and whether
    /// their answer is to be cut.
    pub fn from_seed(seed: &Seed) -> (MagentoShop, Vec<(u64, bool)>) {
        let mut next_customer = 1u64;
        let customer_ids: Vec<Option<u64>> = seed
            .customers
            .iter()
            .map(|c| {
                (!c.guest).then(|| {
                    next_customer += 1;
                    next_customer - 1
                })
            })
            .collect();
        let mut orders = BTreeMap::new();
        let mut broken = Vec::new();
        for (i, o) in seed.orders.iter().enumerate() {
            let id = FIRST_ORDER_ID + i as u64;
            let cid = customer_ids.get(o.customer).copied().flatten();
            orders.insert(id, render::order(seed, o, id, cid));
            let negative = o.lines.iter().any(|l| l.quantity <= 0);
            let cut = o.broken == Some(SeedBreakage::CutAnswer);
            if negative || cut {
                broken.push((id, cut));
            }
        }
        (
            MagentoShop {
                orders,
                products: render::products(seed),
                source_items: render::source_items(seed),
                invoices: BTreeMap::new(),
                shipments: BTreeMap::new(),
            },
            broken,
        )
    }
}

/// One request and its answer, as the conformance test checks them.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// HTTP method.
    pub method: String,
    /// The route as the spec names it (`/V1/orders/{id}`).
    pub route: String,
    /// Query parameter names, indices as received.
    pub query: Vec<String>,
    /// The JSON body received.
    pub request: Option<Value>,
    /// HTTP status answered.
    pub status: u16,
    /// The JSON answered (`Null` when cut on purpose).
    pub response: Value,
}

struct SimState {
    shop: MagentoShop,
    config: MagentoSimConfig,
    calls: BTreeMap<String, u64>,
    array_sizes: Vec<usize>,
    exchanges: Vec<Exchange>,
    corrupt: HashSet<u64>,
    failing: HashSet<String>,
    next_id: u64,
    window: (Instant, u32),
    blocked_until: Option<Instant>,
    early: u64,
    throttled: u64,
}

type Shared = Arc<Mutex<SimState>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, SimState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running Magento simulator (stops when dropped).
pub struct MagentoSim {
    addr: SocketAddr,
    state: Shared,
    task: JoinHandle<()>,
}

impl Drop for MagentoSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MagentoSim {
    /// Serves `shop` on a free local port.
    pub async fn start(shop: MagentoShop, config: MagentoSimConfig) -> std::io::Result<MagentoSim> {
        Self::start_at(shop, config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves `shop` on `addr`.
    pub async fn start_at(
        shop: MagentoShop,
        config: MagentoSimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<MagentoSim> {
        let state = Arc::new(Mutex::new(SimState {
            shop,
            config,
            calls: BTreeMap::new(),
            array_sizes: Vec::new(),
            exchanges: Vec::new(),
            corrupt: HashSet::new(),
            failing: HashSet::new(),
            next_id: 100_000,
            window: (Instant::now(), 0),
            blocked_until: None,
            early: 0,
            throttled: 0,
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MagentoSim { addr, state, task })
    }

    /// The seed served (broken orders broken), with the ids of the broken ones.
    pub async fn from_seed(
        seed: &Seed,
        config: MagentoSimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<(MagentoSim, Vec<u64>)> {
        let (shop, broken) = MagentoShop::from_seed(seed);
        let sim = Self::start_at(shop, config, addr).await?;
        for (id, cut) in &broken {
            if *cut {
                sim.corrupt_order(*id);
            }
        }
        Ok((sim, broken.into_iter().map(|(id, _)| id).collect()))
    }

    /// The shop URL (`http://127.0.0.1:PORT`; the API is under `/rest/<store>/V1/`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The integration access token.
    pub fn token(&self) -> String {
        lock(&self.state).config.token.clone()
    }

    /// Serves this order's answers cut in the middle (a list containing it no longer
    /// parses; `fields=items[entity_id]` lists still do).
    pub fn corrupt_order(&self, id: u64) {
        lock(&self.state).corrupt.insert(id);
    }

    /// A `source-items` call containing this SKU fails (400, the whole call).
    pub fn fail_item(&self, sku: &str) {
        lock(&self.state).failing.insert(sku.to_string());
    }

    /// Changes the behaviour knobs.
    pub fn configure(&self, f: impl FnOnce(&mut MagentoSimConfig)) {
        f(&mut lock(&self.state).config);
    }

    /// Replaces an order (tests: malformed data, configurable rows…).
    pub fn put_order(&self, id: u64, order: Value) {
        lock(&self.state).shop.orders.insert(id, order);
    }

    /// Adds `n` orders copied from the first one (new ids): bulk data for paging tests and
    /// benches.
    pub fn clone_orders(&self, n: usize) -> Vec<u64> {
        let mut s = lock(&self.state);
        let Some(first) = s.shop.orders.values().next().cloned() else {
            return Vec::new();
        };
        let start = s.shop.orders.keys().max().copied().unwrap_or(0) + 1;
        let mut ids = Vec::new();
        for next in start..start + n as u64 {
            let mut o = first.clone();
            o["entity_id"] = json!(next);
            o["increment_id"] = json!(format!("{next:09}"));
            s.shop.orders.insert(next, o);
            ids.push(next);
        }
        ids
    }

    /// Adds a simple product with its source item.
    pub fn add_product(&self, sku: &str, quantity: i64) {
        let mut s = lock(&self.state);
        let id = s.next_id;
        s.next_id += 1;
        s.shop.products.insert(
            sku.into(),
            json!({"id": id, "sku": sku, "name": sku, "attribute_set_id": 4, "price": 10,
                   "status": 1, "visibility": 4, "type_id": "simple",
                   "created_at": "2024-11-04 08:00:00", "updated_at": "2024-11-04 08:00:00",
                   "extension_attributes": {}}),
        );
        s.shop.source_items.insert(
            sku.into(),
            json!({"sku": sku, "source_code": "default", "quantity": quantity,
                   "status": i32::from(quantity > 0)}),
        );
    }

    /// A copy of the shop's data.
    pub fn shop(&self) -> MagentoShop {
        lock(&self.state).shop.clone()
    }

    /// One order.
    pub fn order(&self, id: u64) -> Option<Value> {
        lock(&self.state).shop.orders.get(&id).cloned()
    }

    /// The quantity of the source item with this SKU.
    pub fn quantity(&self, sku: &str) -> Option<f64> {
        lock(&self.state)
            .shop
            .source_items
            .get(sku)
            .and_then(|i| i["quantity"].as_f64())
    }

    /// Calls received per `"METHOD /V1/route"` (`"GET /V1/orders"`).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.state).calls.clone()
    }

    /// Total calls received.
    pub fn total_calls(&self) -> u64 {
        lock(&self.state).calls.values().sum()
    }

    /// Item counts of the `source-items` calls received (refused ones included).
    pub fn array_sizes(&self) -> Vec<usize> {
        lock(&self.state).array_sizes.clone()
    }

    /// The exchanges recorded (at most the first 5,000).
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.state).exchanges.clone()
    }

    /// Calls answered 429 by the rate limit.
    pub fn throttled(&self) -> u64 {
        lock(&self.state).throttled
    }

    /// Calls that arrived while a 429's `Retry-After` had not elapsed.
    pub fn early_calls(&self) -> u64 {
        lock(&self.state).early
    }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// Magento's error body: `{message, parameters}` (named parameters as an object).
fn err_body(message: &str, parameters: Value) -> Value {
    if parameters.is_null() {
        json!({ "message": message })
    } else {
        json!({ "message": message, "parameters": parameters })
    }
}

fn not_found() -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        err_body(
            "The entity that was requested doesn't exist. Verify the entity and try again.",
            Value::Null,
        ),
    )
}

fn bad(message: &str, parameters: Value) -> (StatusCode, Value) {
    (StatusCode::BAD_REQUEST, err_body(message, parameters))
}

/// Query parameters as (name, value), percent-decoded by the simulator's own decoder.
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
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
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

/// The ACL resource Magento names in a 401 for this route.
fn resource(route: &str) -> &'static str {
    if route.starts_with("/V1/order") || route.starts_with("/V1/invoice") {
        "Magento_Sales::actions_view"
    } else if route.starts_with("/V1/inventory") {
        "Magento_InventoryApi::source"
    } else if route.starts_with("/V1/products") {
        "Magento_Catalog::products"
    } else {
        "Magento_Backend::admin"
    }
}

/// The spec's route of a path under `/V1/` (numeric segments become their parameter).
fn route_of(segs: &[&str]) -> String {
    let mut out = String::from("/V1");
    for (i, s) in segs.iter().enumerate() {
        let param = match (segs.first().copied(), i) {
            (Some("order"), 1) => Some("{orderId}"),
            (_, 1) if s.parse::<u64>().is_ok() => Some("{id}"),
            _ => None,
        };
        out.push('/');
        out.push_str(param.unwrap_or(s));
    }
    out
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = parse_query(&uri);
    let path = uri.path().to_string();
    let Some(rest) = path.strip_prefix("/rest/") else {
        return answer(
            StatusCode::NOT_FOUND,
            &err_body("Request does not match any route.", Value::Null),
        );
    };
    let mut segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let mut s = lock(&state);
    if segs.first() != Some(&"V1") {
        let store = segs.first().copied().unwrap_or("");
        if store != "default" && store != "all" && !s.config.stores.iter().any(|c| c == store) {
            return answer(
                StatusCode::BAD_REQUEST,
                &err_body("Requested store is not found", Value::Null),
            );
        }
        segs.remove(0);
    }
    if segs.first() != Some(&"V1") {
        return answer(
            StatusCode::NOT_FOUND,
            &err_body("Request does not match any route.", Value::Null),
        );
    }
    let segs: Vec<&str> = segs[1..].to_vec();
    let route = route_of(&segs);
    *s.calls.entry(format!("{method} {route}")).or_default() += 1;

    // The WAF in front of the shop counts every call, authenticated or not.
    if let Some(r) = rate_limit(&mut s) {
        return r;
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if bearer != Some(s.config.token.as_str()) {
        return answer(
            StatusCode::UNAUTHORIZED,
            &err_body(
                "The consumer isn't authorized to access %resources.",
                json!({"resources": resource(&route)}),
            ),
        );
    }
    let request: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(_) => {
                return answer(
                    StatusCode::BAD_REQUEST,
                    &err_body("Decoding error: %1", json!(["Syntax error"])),
                )
            }
        }
    };
    let id = segs.get(1).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let m = method.as_str();
    let b = request.clone().unwrap_or(Value::Null);
    let (status, out, cut) = match (m, route.as_str()) {
        ("GET", "/V1/orders") => match list_orders(&s, &params) {
            Ok((v, cut)) => (StatusCode::OK, v, cut),
            Err((st, v)) => (st, v, false),
        },
        ("GET", "/V1/orders/{id}") => match s.shop.orders.get(&id) {
            None => with(not_found()),
            Some(o) => (StatusCode::OK, o.clone(), s.corrupt.contains(&id)),
        },
        ("GET", "/V1/orders/{id}/comments") => match s.shop.orders.get(&id) {
            None => with(not_found()),
            Some(o) => {
                let items = o["status_histories"].clone();
                let n = items.as_array().map_or(0, Vec::len);
                (
                    StatusCode::OK,
                    json!({"items": items, "search_criteria": {"filter_groups": []}, "total_count": n}),
                    false,
                )
            }
        },
        ("POST", "/V1/orders/{id}/comments") => with(add_comment(&mut s, id, &b)),
        ("POST", "/V1/orders/{id}/cancel") => with(transition(&mut s, id, "cancel")),
        ("POST", "/V1/orders/{id}/hold") => with(transition(&mut s, id, "hold")),
        ("POST", "/V1/orders/{id}/unhold") => with(transition(&mut s, id, "unhold")),
        ("POST", "/V1/order/{orderId}/invoice") => with(invoice(&mut s, id, &b)),
        ("POST", "/V1/order/{orderId}/ship") => with(ship(&mut s, id, &b)),
        ("GET", "/V1/products") => {
            let rows: Vec<Value> = s.shop.products.values().cloned().collect();
            with(search(&s.config, rows, &params))
        }
        ("GET", "/V1/inventory/source-items") => {
            let rows: Vec<Value> = s.shop.source_items.values().cloned().collect();
            with(search(&s.config, rows, &params))
        }
        ("POST", "/V1/inventory/source-items") => with(save_source_items(&mut s, &b)),
        ("GET", "/V1/taxRates/search") => with(search(&s.config, tax_rates(), &params)),
        ("GET", "/V1/directory/currency") => (StatusCode::OK, currency(), false),
        ("GET", "/V1/directory/countries") => (StatusCode::OK, countries(), false),
        ("GET", "/V1/store/storeConfigs") => (StatusCode::OK, store_configs(), false),
        _ => (
            StatusCode::NOT_FOUND,
            err_body("Request does not match any route.", Value::Null),
            false,
        ),
    };
    if s.exchanges.len() < MAX_EXCHANGES {
        s.exchanges.push(Exchange {
            method: m.to_string(),
            route: route.clone(),
            query: params.iter().map(|(k, _)| k.clone()).collect(),
            request,
            status: status.as_u16(),
            response: if cut { Value::Null } else { out.clone() },
        });
    }
    if cut {
        return cut_answer(&out);
    }
    answer(status, &out)
}

fn with((s, v): (StatusCode, Value)) -> (StatusCode, Value, bool) {
    (s, v, false)
}

/// The WAF's fixed window: `Some(429)` when over, counting calls that did not wait.
fn rate_limit(s: &mut SimState) -> Option<Response> {
    let (limit, window) = s.config.rate_limit?;
    let now = Instant::now();
    if let Some(until) = s.blocked_until {
        if now < until {
            s.early += 1;
        }
    }
    if now.duration_since(s.window.0) >= window {
        s.window = (now, 0);
    }
    s.window.1 += 1;
    if s.window.1 <= limit {
        return None;
    }
    s.throttled += 1;
    let left = window.saturating_sub(now.duration_since(s.window.0));
    let secs = left.as_secs_f64().ceil().max(1.0) as u64;
    s.blocked_until = Some(now + Duration::from_secs(secs).min(left.max(Duration::from_millis(1))));
    let mut r = answer(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"message": "Too many requests. Please retry later."}),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert("retry-after", v);
    }
    Some(r)
}

/// An answer cut in the middle (a PHP fatal error mid-output).
fn cut_answer(v: &Value) -> Response {
    let t = v.to_string();
    let mut end = t.len() / 2;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=utf-8")],
        t[..end].to_string(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------
// searchCriteria
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct Filter {
    field: String,
    value: String,
    condition: String,
}

#[derive(Debug, Default)]
struct Criteria {
    groups: BTreeMap<usize, BTreeMap<usize, Filter>>,
    sorts: BTreeMap<usize, (String, String)>,
    page_size: Option<usize>,
    current_page: Option<usize>,
}

/// The bracket path of `searchCriteria[a][0][b]` → `["a","0","b"]`.
fn brackets(name: &str) -> Option<Vec<String>> {
    let rest = name.strip_prefix("searchCriteria")?;
    let mut out = Vec::new();
    let mut it = rest;
    while let Some(r) = it.strip_prefix('[') {
        let end = r.find(']')?;
        out.push(r[..end].to_string());
        it = &r[end + 1..];
    }
    it.is_empty().then_some(out)
}

fn criteria(params: &[(String, String)]) -> Result<Criteria, (StatusCode, Value)> {
    let mut c = Criteria::default();
    let num = |v: &str, what: &str| {
        v.trim().parse::<usize>().map_err(|_| {
            bad(
                "\"%fieldName\" is not a valid integer.",
                json!({"fieldName": what}),
            )
        })
    };
    for (k, v) in params {
        let Some(p) = brackets(k) else { continue };
        let p: Vec<&str> = p.iter().map(String::as_str).collect();
        match p.as_slice() {
            ["filterGroups" | "filter_groups", g, "filters", f, what] => {
                let (g, f) = (num(g, "filterGroups")?, num(f, "filters")?);
                let e = c.groups.entry(g).or_default().entry(f).or_default();
                match *what {
                    "field" => e.field = v.clone(),
                    "value" => e.value = v.clone(),
                    "conditionType" | "condition_type" => e.condition = v.clone(),
                    _ => {}
                }
            }
            ["sortOrders" | "sort_orders", i, what] => {
                let e = c.sorts.entry(num(i, "sortOrders")?).or_default();
                match *what {
                    "field" => e.0 = v.clone(),
                    "direction" => e.1 = v.clone(),
                    _ => {}
                }
            }
            ["pageSize" | "page_size"] => c.page_size = Some(num(v, "pageSize")?),
            ["currentPage" | "current_page"] => c.current_page = Some(num(v, "currentPage")?),
            _ => {}
        }
    }
    Ok(c)
}

/// A field's value as text (numbers rendered).
fn field_text(o: &Value, field: &str) -> Option<String> {
    match o.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(u8::from(*b).to_string()),
        _ => None,
    }
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn like(value: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return value == pattern;
    }
    let mut rest = value;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        match rest.find(p) {
            Some(at) if i > 0 || at == 0 => rest = &rest[at + p.len()..],
            _ => return false,
        }
    }
    parts
        .last()
        .is_none_or(|l| l.is_empty() || value.ends_with(l))
}

fn matches(o: &Value, f: &Filter) -> Result<bool, (StatusCode, Value)> {
    let v = field_text(o, &f.field);
    let list = || f.value.split(',').map(str::trim).collect::<Vec<_>>();
    let cmp = |want: std::cmp::Ordering, or_eq: bool| {
        v.as_deref().is_some_and(|x| {
            let c = compare(x, &f.value);
            c == want || (or_eq && c == std::cmp::Ordering::Equal)
        })
    };
    use std::cmp::Ordering::{Greater, Less};
    Ok(match f.condition.as_str() {
        "" | "eq" => v.as_deref().is_some_and(|x| compare(x, &f.value).is_eq()),
        "neq" => v.as_deref().is_none_or(|x| !compare(x, &f.value).is_eq()),
        "gt" => cmp(Greater, false),
        "gteq" | "from" => cmp(Greater, true),
        "lt" => cmp(Less, false),
        "lteq" | "to" => cmp(Less, true),
        "in" => v
            .as_deref()
            .is_some_and(|x| list().iter().any(|w| compare(x, w).is_eq())),
        "nin" => v
            .as_deref()
            .is_none_or(|x| !list().iter().any(|w| compare(x, w).is_eq())),
        "like" => v.as_deref().is_some_and(|x| like(x, &f.value)),
        "null" => v.is_none(),
        "notnull" => v.is_some(),
        other => return Err(bad("Invalid condition type: %1", json!([other]))),
    })
}

/// One page of `rows` filtered and sorted by the query's `searchCriteria`; the second
/// value is the page's rows (before `fields` filtering) for the caller's checks.
fn search_page(
    config: &MagentoSimConfig,
    rows: Vec<Value>,
    params: &[(String, String)],
    id_field: &str,
) -> Result<(Value, Vec<Value>), (StatusCode, Value)> {
    let c = criteria(params)?;
    let mut kept = Vec::new();
    for r in rows {
        let mut all = true;
        for g in c.groups.values() {
            let mut any = false;
            for f in g.values() {
                if f.field.is_empty() {
                    continue;
                }
                any |= matches(&r, f)?;
            }
            all &= any || g.values().all(|f| f.field.is_empty());
        }
        if all {
            kept.push(r);
        }
    }
    kept.sort_by(|a, b| {
        for (field, dir) in c.sorts.values() {
            let x = field_text(a, field).unwrap_or_default();
            let y = field_text(b, field).unwrap_or_default();
            let o = compare(&x, &y);
            let o = if dir.eq_ignore_ascii_case("DESC") {
                o.reverse()
            } else {
                o
            };
            if !o.is_eq() {
                return o;
            }
        }
        compare(
            &field_text(a, id_field).unwrap_or_default(),
            &field_text(b, id_field).unwrap_or_default(),
        )
    });
    let total = kept.len();
    if config.input_limits && c.page_size.is_some_and(|p| p > config.max_page_size) {
        return Err(bad(
            "Maximum SearchCriteria pageSize is %max",
            json!({"max": config.max_page_size}),
        ));
    }
    let size = match c.page_size {
        Some(0) | None if config.input_limits => config.default_page_size,
        Some(0) | None => total.max(1),
        Some(p) => p,
    };
    let pages = total.div_ceil(size).max(1);
    let mut page = c.current_page.unwrap_or(1).max(1);
    if page > pages && config.repeat_last_page {
        page = pages;
    }
    let items: Vec<Value> = kept
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    let groups: Vec<Value> = c
        .groups
        .values()
        .map(|g| {
            json!({"filters": g.values().map(|f| json!({"field": f.field, "value": f.value,
                "condition_type": if f.condition.is_empty() { "eq" } else { f.condition.as_str() }}))
                .collect::<Vec<_>>()})
        })
        .collect();
    let mut sc = json!({"filter_groups": groups});
    if !c.sorts.is_empty() {
        sc["sort_orders"] = json!(c
            .sorts
            .values()
            .map(|(f, d)| json!({"field": f, "direction": if d.is_empty() { "ASC" } else { d.as_str() }}))
            .collect::<Vec<_>>());
    }
    // 2.4.4+ echoes `page_size` only when it was sent (magento2#35310).
    if let Some(p) = c.page_size {
        sc["page_size"] = json!(p);
    }
    if let Some(p) = c.current_page {
        sc["current_page"] = json!(p);
    }
    let fields = params
        .iter()
        .find(|(k, _)| k == "fields")
        .map(|(_, v)| v.clone());
    let shown: Vec<Value> = match fields.as_deref().and_then(item_fields) {
        Some(keep) => items
            .iter()
            .map(|o| {
                let m: Map<String, Value> = keep
                    .iter()
                    .filter_map(|k| o.get(k).map(|v| (k.clone(), v.clone())))
                    .collect();
                Value::Object(m)
            })
            .collect(),
        None => items.clone(),
    };
    Ok((
        json!({"items": shown, "search_criteria": sc, "total_count": total}),
        items,
    ))
}

fn search(
    config: &MagentoSimConfig,
    rows: Vec<Value>,
    params: &[(String, String)],
) -> (StatusCode, Value) {
    match search_page(config, rows, params, "sku") {
        Ok((v, _)) => (StatusCode::OK, v),
        Err(e) => e,
    }
}

/// The item fields of `fields=items[a,b],total_count`.
fn item_fields(f: &str) -> Option<Vec<String>> {
    let start = f.find("items[")? + "items[".len();
    let end = f[start..].find(']')? + start;
    Some(
        f[start..end]
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

fn list_orders(
    s: &SimState,
    params: &[(String, String)],
) -> Result<(Value, bool), (StatusCode, Value)> {
    let rows: Vec<Value> = s.shop.orders.values().cloned().collect();
    let (v, page) = search_page(&s.config, rows, params, "entity_id")?;
    let filtered = params.iter().any(|(k, _)| k == "fields");
    let cut = !filtered
        && page.iter().any(|o| {
            o["entity_id"]
                .as_u64()
                .is_some_and(|i| s.corrupt.contains(&i))
        });
    Ok((v, cut))
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

fn now() -> String {
    render::date(chrono::Utc::now().naive_utc())
}

fn touch(o: &mut Value) {
    o["updated_at"] = json!(now());
}

/// True when every item of the order has this quantity field equal to `qty_ordered`.
fn all_done(o: &Value, field: &str) -> bool {
    o["items"].as_array().is_some_and(|items| {
        items
            .iter()
            .all(|i| i[field].as_f64().unwrap_or(0.0) >= i["qty_ordered"].as_f64().unwrap_or(0.0))
    })
}

fn set_all(o: &mut Value, field: &str) {
    if let Some(items) = o["items"].as_array_mut() {
        for i in items {
            i[field] = i["qty_ordered"].clone();
        }
    }
}

/// Invoice + shipment → `complete` (magento2#3307).
fn settle_state(o: &mut Value) {
    if o["state"] == "canceled" || o["state"] == "holded" || o["state"] == "closed" {
        return;
    }
    if all_done(o, "qty_invoiced") && all_done(o, "qty_shipped") {
        o["state"] = json!("complete");
        o["status"] = json!("complete");
    } else if all_done(o, "qty_invoiced") || all_done(o, "qty_shipped") {
        o["state"] = json!("processing");
        o["status"] = json!("processing");
    }
}

fn history(s: &mut SimState, id: u64, comment: &str, status: &str, notified: bool, visible: bool) {
    let hid = s.next_id;
    s.next_id += 1;
    if let Some(o) = s.shop.orders.get_mut(&id) {
        let h = json!({"entity_id": hid, "parent_id": id, "comment": comment,
            "status": status, "is_customer_notified": i32::from(notified),
            "is_visible_on_front": i32::from(visible), "entity_name": "order",
            "created_at": now()});
        // Magento lists the newest comment first.
        if let Some(list) = o["status_histories"].as_array_mut() {
            list.insert(0, h);
        } else {
            o["status_histories"] = json!([h]);
        }
    }
}

fn flag(v: &Value) -> bool {
    v.as_bool()
        .or_else(|| v.as_i64().map(|i| i != 0))
        .unwrap_or(false)
}

fn add_comment(s: &mut SimState, id: u64, b: &Value) -> (StatusCode, Value) {
    let Some(o) = s.shop.orders.get(&id) else {
        return not_found();
    };
    let h = &b["statusHistory"];
    if !h.is_object() {
        return bad(
            "\"%fieldName\" is required. Enter and try again.",
            json!({"fieldName": "statusHistory"}),
        );
    }
    let comment = h["comment"].as_str().unwrap_or_default().to_string();
    let current = o["status"].as_str().unwrap_or_default().to_string();
    let wanted = h["status"].as_str().map(str::to_string);
    let applied = match (&wanted, s.config.comments_set_status) {
        (Some(st), true) if !st.is_empty() => st.clone(),
        _ => current,
    };
    if let Some(o) = s.shop.orders.get_mut(&id) {
        o["status"] = json!(applied);
        touch(o);
    }
    history(
        s,
        id,
        &comment,
        &applied,
        flag(&h["is_customer_notified"]),
        flag(&h["is_visible_on_front"]),
    );
    (StatusCode::OK, json!(true))
}

fn transition(s: &mut SimState, id: u64, what: &str) -> (StatusCode, Value) {
    let Some(o) = s.shop.orders.get_mut(&id) else {
        return not_found();
    };
    let state = o["state"].as_str().unwrap_or_default().to_string();
    let ok = match what {
        "cancel" if !["complete", "closed", "canceled"].contains(&state.as_str()) => {
            o["state"] = json!("canceled");
            o["status"] = json!("canceled");
            true
        }
        "hold" if ["new", "processing", "pending_payment"].contains(&state.as_str()) => {
            o["hold_before_state"] = json!(state);
            o["hold_before_status"] = o["status"].clone();
            o["state"] = json!("holded");
            o["status"] = json!("holded");
            true
        }
        "unhold" if state == "holded" => {
            o["state"] = o["hold_before_state"].clone();
            o["status"] = o["hold_before_status"].clone();
            true
        }
        _ => false,
    };
    if !ok {
        let msg = match what {
            "cancel" => "You can't cancel this order.",
            "hold" => "A hold action is not available.",
            _ => "Can't unhold order.",
        };
        return bad(msg, Value::Null);
    }
    touch(o);
    (StatusCode::OK, json!(true))
}

fn invoice(s: &mut SimState, id: u64, b: &Value) -> (StatusCode, Value) {
    let Some(o) = s.shop.orders.get_mut(&id) else {
        return not_found();
    };
    if all_done(o, "qty_invoiced") || o["state"] == "canceled" || o["state"] == "holded" {
        return bad(
            "The order does not allow an invoice to be created.",
            Value::Null,
        );
    }
    set_all(o, "qty_invoiced");
    o["total_invoiced"] = o["grand_total"].clone();
    o["total_paid"] = o["grand_total"].clone();
    o["base_total_paid"] = o["base_grand_total"].clone();
    o["total_due"] = json!(0);
    settle_state(o);
    touch(o);
    let inv = s.next_id;
    s.next_id += 1;
    let comment = b["comment"]["comment"].as_str().unwrap_or_default();
    s.shop.invoices.insert(
        inv,
        json!({"entity_id": inv, "order_id": id, "comment": comment,
               "capture": flag(&b["capture"])}),
    );
    if !comment.is_empty() {
        let status = s
            .shop
            .orders
            .get(&id)
            .and_then(|o| o["status"].as_str())
            .unwrap_or("")
            .to_string();
        history(
            s,
            id,
            comment,
            &status,
            flag(&b["notify"]),
            flag(&b["comment"]["is_visible_on_front"]),
        );
    }
    // The service returns the new invoice's id (an integer in the spec).
    (StatusCode::OK, json!(inv))
}

fn ship(s: &mut SimState, id: u64, b: &Value) -> (StatusCode, Value) {
    let Some(o) = s.shop.orders.get_mut(&id) else {
        return not_found();
    };
    if all_done(o, "qty_shipped") || o["state"] == "canceled" || o["state"] == "holded" {
        return bad(
            "Shipment Document Validation Error(s):\nThe order does not allow a shipment to be created.",
            Value::Null,
        );
    }
    set_all(o, "qty_shipped");
    settle_state(o);
    touch(o);
    let sid = s.next_id;
    s.next_id += 1;
    s.shop.shipments.insert(
        sid,
        json!({"entity_id": sid, "order_id": id, "tracks": b["tracks"].clone()}),
    );
    (StatusCode::OK, json!(sid))
}

fn save_source_items(s: &mut SimState, b: &Value) -> (StatusCode, Value) {
    let Some(items) = b["sourceItems"].as_array() else {
        return bad(
            "\"%fieldName\" is required. Enter and try again.",
            json!({"fieldName": "sourceItems"}),
        );
    };
    s.array_sizes.push(items.len());
    if s.config.input_limits && items.len() > s.config.array_limit {
        return bad(
            "Maximum items of type \"%type\" is %max",
            json!({"type": "\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface",
                   "max": s.config.array_limit}),
        );
    }
    // Validated as a whole before anything is saved (nothing half-written).
    let mut errors = Vec::new();
    for i in items {
        let sku = i["sku"].as_str().unwrap_or_default();
        if !s.shop.products.contains_key(sku) {
            errors.push(
                json!({"message": "Product with SKU \"%sku\" does not exist.",
                               "parameters": {"sku": sku}}),
            );
        } else if s.failing.contains(sku) {
            errors.push(
                json!({"message": "Could not save Source Item for SKU \"%sku\".",
                               "parameters": {"sku": sku}}),
            );
        } else if !i["quantity"].is_number() || i["source_code"].as_str().is_none() {
            errors.push(json!({"message": "\"%field\" can not be empty.",
                               "parameters": {"field": "quantity"}}));
        }
    }
    if !errors.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            json!({"message": "Validation Failed", "errors": errors}),
        );
    }
    for i in items {
        let sku = i["sku"].as_str().unwrap_or_default().to_string();
        let q = i["quantity"].clone();
        let status = i["status"]
            .as_i64()
            .unwrap_or(i64::from(q.as_f64().unwrap_or(0.0) > 0.0));
        s.shop.source_items.insert(
            sku.clone(),
            json!({"sku": sku, "source_code": i["source_code"], "quantity": q, "status": status}),
        );
    }
    (StatusCode::OK, json!([]))
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

fn tax_rates() -> Vec<Value> {
    [
        (1, "20", 20.0),
        (2, "10", 10.0),
        (3, "5.5", 5.5),
        (4, "2.1", 2.1),
    ]
    .iter()
    .map(|(id, code, rate)| {
        json!({"id": id, "tax_country_id": "FR", "tax_postcode": "*",
                   "code": format!("TVA {code} %"), "rate": rate, "titles": []})
    })
    .collect()
}

fn currency() -> Value {
    json!({"base_currency_code": BASE_CURRENCY, "base_currency_symbol": "€",
           "default_display_currency_code": BASE_CURRENCY, "default_display_currency_symbol": "€",
           "available_currency_codes": ["EUR", "USD"],
           "exchange_rates": [{"currency_to": "EUR", "rate": 1},
                              {"currency_to": "USD", "rate": render::num(usd_rate())}]})
}

fn countries() -> Value {
    let c = |id: &str, three: &str, name: &str, en: &str| {
        json!({"id": id, "two_letter_abbreviation": id, "three_letter_abbreviation": three,
               "full_name_locale": name, "full_name_english": en})
    };
    json!([
        c("BE", "BEL", "Belgique", "Belgium"),
        c("DE", "DEU", "Allemagne", "Germany"),
        c("FR", "FRA", "France", "France"),
        c("US", "USA", "États-Unis", "United States"),
    ])
}

fn store_configs() -> Value {
    json!([{"id": 1, "code": "default", "website_id": 1, "locale": "fr_FR",
            "base_currency_code": BASE_CURRENCY, "default_display_currency_code": BASE_CURRENCY,
            "timezone": "Europe/Paris", "weight_unit": "kgs",
            "base_url": "http://localhost/", "base_link_url": "http://localhost/",
            "base_static_url": "http://localhost/static/", "base_media_url": "http://localhost/media/",
            "secure_base_url": "https://localhost/", "secure_base_link_url": "https://localhost/",
            "secure_base_static_url": "https://localhost/static/",
            "secure_base_media_url": "https://localhost/media/"}])
}

/// A date as Magento writes it (`Y-m-d H:i:s`, UTC).
pub fn date_text(d: NaiveDateTime) -> String {
    render::date(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_seed_renders_as_magento_orders() {
        let seed = Seed::demo(30).with_broken();
        let (shop, broken) = MagentoShop::from_seed(&seed);
        assert_eq!(shop.orders.len(), 32);
        assert_eq!(broken.len(), 2);
        assert!(shop.orders.values().any(|o| o["customer_is_guest"] == 1));
        assert!(shop
            .orders
            .values()
            .any(|o| o["order_currency_code"] == "USD" && o["base_currency_code"] == "EUR"));
        assert!(shop.orders.values().any(|o| o["items"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .any(|i| i.get("parent_item_id").is_some())));
        for o in shop.orders.values() {
            assert!(o["grand_total"].is_number(), "amounts are numbers");
        }
    }

    #[test]
    fn search_criteria_parse_groups_and_pages() {
        let uri: Uri = "/x?searchCriteria%5BfilterGroups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=status&searchCriteria[filterGroups][0][filters][0][value]=a,b&searchCriteria[filterGroups][0][filters][0][conditionType]=in&searchCriteria[pageSize]=5"
            .parse()
            .expect("uri");
        let c = criteria(&parse_query(&uri))
            .map_err(|_| ())
            .expect("criteria");
        assert_eq!(c.groups[&0][&0].field, "status");
        assert_eq!(c.groups[&0][&0].condition, "in");
        assert_eq!(c.page_size, Some(5));
        assert!(like("abc-12", "abc%"));
        assert!(!like("xabc", "abc%"));
    }
}
