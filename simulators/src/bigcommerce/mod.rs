//! In-process simulator of the BigCommerce REST API (v2 orders, v3 order metafields and
//! inventory) for tests, benches and demos.
//!
//! Faithful where a client depends on it (`/work/shared/reference/platforms.md` §4,
//! "Simulator must reproduce", §10; `cms-apis.md` §4; paths and fields from
//! `/work/shared/reference/specs/bigcommerce/orders.v2.oas2.yml`, `orders.v3.yml`,
//! `inventory.v3.yml`, `currencies.v2.yml`):
//! * routes under `/stores/{store_hash}/v2/…` and `/stores/{store_hash}/v3/…`; another
//!   store hash or an unknown route → 404;
//! * auth: header `X-Auth-Token`; missing or wrong → **401** (v2 body
//!   `[{status, message}]`, v3 body `{status, title, type}`);
//! * rate limit **per store, shared by every app**: a 30-second window of 150 requests
//!   (Standard/Plus plan), `X-Rate-Limit-Time-Window-Ms`, `X-Rate-Limit-Time-Reset-Ms`,
//!   `X-Rate-Limit-Requests-Quota` and `X-Rate-Limit-Requests-Left` on every authenticated
//!   answer, 429 over quota (counted: [`BigCommerceSim::over_quota`]); other apps of the
//!   store can be made to spend part of each window ([`BigCommerceSim::set_other_apps`]);
//! * `GET /v2/orders`: `status_id` takes **one** integer (a list → 400), status 0
//!   (Incomplete) only when asked for explicitly, `min_/max_date_modified` and
//!   `min_/max_date_created` in ISO-8601 or RFC-2822, `sort=field:asc|desc`, `page`,
//!   `limit` (default 50, at most 250); **a page past the end is `204 No Content` with no
//!   body** (aligent/bigcommerce-v3-api-php-client#161), also on the order sub-resources;
//! * order sub-resources `products` (50 per page by default), `shipping_addresses`,
//!   `taxes`, `shipments` (GET, POST); `PUT /v2/orders/{id}` (status id 0–14, staff notes);
//! * v2 errors `[{status, message}]`, v3 errors `{status, title, type, errors}`;
//! * v3 order and customer metafields (`GET`/`POST /v3/orders/{id}/metafields`,
//!   `PUT …/metafields/{id}`, the same under `/v3/customers/{id}`; `customers.v3.yml`),
//!   `{data, meta:{pagination}}` envelopes, 409 on a duplicate namespace+key, 250 per
//!   resource;
//! * `GET /v3/inventory/items?sku:in=…`, `PUT /v3/inventory/adjustments/absolute` with at
//!   most 2,000 items (**413** above), an item the store cannot take (unknown SKU, a SKU
//!   made to fail, a quantity over 2,147,483,647) → **422** for the whole request, its
//!   items named in `errors` (`items.N`) — nothing of it applied;
//! * dates RFC-2822 in v2, money as strings with 4 decimals (see `render.rs`).
//!
//! It parses what it receives with its own code; nothing of the client is shared. Test
//! controls: calls per `"METHOD vN route"`, query parameter names per route (conformance),
//! inventory batch sizes, corrupted orders (their products answer cut), failing SKUs,
//! a second shipping address on an order, an incomplete (status 0) order, other apps'
//! consumption of the quota, an injectable share of 503 answers.

mod render;

use crate::seed::{Seed, SeedBreakage};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, NaiveDateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
pub use render::{money, rfc2822, status as bc_status, FIRST_ORDER_ID, STATUSES};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The demo store hash.
pub const DEMO_STORE_HASH: &str = "p4ss3r3ll3";
/// The demo access token (a store-level API account's static token).
pub const DEMO_TOKEN: &str = "bc7k2m9q4w8e1r6t3y5u0i2o4p7a9s1d";
/// Most items of one absolute inventory adjustment (`inventory.v3.yml`).
pub const INVENTORY_CAP: usize = 2000;
/// Most rows of a v2 list page.
pub const MAX_LIMIT: usize = 250;
/// The default location's id (`inventory.v3.yml` examples).
pub const DEFAULT_LOCATION: u64 = 1;

/// Behaviour knobs.
#[derive(Debug, Clone)]
pub struct BigCommerceSimConfig {
    /// Accepted access token.
    pub token: String,
    /// The store hash served.
    pub store_hash: String,
    /// Requests per window, all apps together (Standard/Plus: 150; Pro: 450).
    pub quota: u32,
    /// The window (30 s).
    pub window: Duration,
    /// Share of calls answered 503 (0.0–1.0), drawn from a seeded generator.
    pub error_share: f64,
    /// Seed of that generator.
    pub seed: u64,
}

impl Default for BigCommerceSimConfig {
    fn default() -> Self {
        Self {
            token: DEMO_TOKEN.into(),
            store_hash: DEMO_STORE_HASH.into(),
            quota: 150,
            window: Duration::from_secs(30),
            error_share: 0.0,
            seed: 0,
        }
    }
}

/// One order and its sub-resources.
#[derive(Debug, Clone)]
pub struct BcOrder {
    /// The order object.
    pub order: Value,
    /// Its lines.
    pub products: Vec<Value>,
    /// Its shipping addresses.
    pub addresses: Vec<Value>,
    /// Its tax rows.
    pub taxes: Vec<Value>,
    /// Its metafields.
    pub metafields: Vec<Value>,
    /// Its shipments.
    pub shipments: Vec<Value>,
}

struct RateWindow {
    start: Option<Instant>,
    used: u32,
}

struct SimState {
    orders: BTreeMap<u64, BcOrder>,
    stock: BTreeMap<String, i64>,
    config: BigCommerceSimConfig,
    rng: StdRng,
    calls: BTreeMap<String, u64>,
    params: BTreeMap<String, BTreeSet<String>>,
    inventory_batches: Vec<usize>,
    corrupt: HashSet<u64>,
    failing: HashSet<String>,
    customer_meta: BTreeMap<u64, Vec<Value>>,
    window: RateWindow,
    other_apps: u32,
    over_quota: u64,
    served: u64,
    next_id: u64,
}

type Shared = Arc<Mutex<SimState>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, SimState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running BigCommerce simulator (stops when dropped).
pub struct BigCommerceSim {
    addr: SocketAddr,
    state: Shared,
    task: JoinHandle<()>,
}

impl Drop for BigCommerceSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BigCommerceSim {
    /// Serves `seed` (its broken orders broken) on `addr`; returns the ids of the orders
    /// seeded broken.
    pub async fn from_seed(
        seed: &Seed,
        config: BigCommerceSimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<(BigCommerceSim, Vec<u64>)> {
        let ids = render::customer_ids(seed);
        let mut orders = BTreeMap::new();
        let mut broken = Vec::new();
        let mut corrupt = HashSet::new();
        for (i, o) in seed.orders.iter().enumerate() {
            let id = FIRST_ORDER_ID + i as u64;
            let r = render::order(seed, o, id, ids.get(o.customer).copied().unwrap_or(0));
            orders.insert(
                id,
                BcOrder {
                    order: r.order,
                    products: r.products,
                    addresses: r.addresses,
                    taxes: r.taxes,
                    metafields: Vec::new(),
                    shipments: Vec::new(),
                },
            );
            let cut = o.broken == Some(SeedBreakage::CutAnswer);
            if cut {
                corrupt.insert(id);
            }
            if cut || o.lines.iter().any(|l| l.quantity <= 0) {
                broken.push(id);
            }
        }
        let stock = seed
            .articles
            .iter()
            .map(|a| (a.reference.clone(), a.stock))
            .collect();
        let sim = Self::start_with(orders, stock, config, addr).await?;
        lock(&sim.state).corrupt = corrupt;
        Ok((sim, broken))
    }

    /// Serves an empty store on a free local port.
    pub async fn start_empty(config: BigCommerceSimConfig) -> std::io::Result<BigCommerceSim> {
        Self::start_with(
            BTreeMap::new(),
            BTreeMap::new(),
            config,
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
    }

    async fn start_with(
        orders: BTreeMap<u64, BcOrder>,
        stock: BTreeMap<String, i64>,
        config: BigCommerceSimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<BigCommerceSim> {
        let state = Arc::new(Mutex::new(SimState {
            orders,
            stock,
            rng: StdRng::seed_from_u64(config.seed),
            config,
            calls: BTreeMap::new(),
            params: BTreeMap::new(),
            inventory_batches: Vec::new(),
            corrupt: HashSet::new(),
            failing: HashSet::new(),
            customer_meta: BTreeMap::new(),
            window: RateWindow {
                start: None,
                used: 0,
            },
            other_apps: 0,
            over_quota: 0,
            served: 0,
            next_id: 900_000,
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(BigCommerceSim { addr, state, task })
    }

    /// The API base of the store, as a profile's `url` holds it
    /// (`http://127.0.0.1:PORT/stores/{hash}`; `/v2/…` and `/v3/…` below it).
    pub fn url(&self) -> String {
        format!(
            "http://{}/stores/{}",
            self.addr,
            lock(&self.state).config.store_hash
        )
    }

    /// The access token (`X-Auth-Token`).
    pub fn token(&self) -> String {
        lock(&self.state).config.token.clone()
    }

    /// The store hash.
    pub fn store_hash(&self) -> String {
        lock(&self.state).config.store_hash.clone()
    }

    /// One order with its sub-resources.
    pub fn order(&self, id: u64) -> Option<BcOrder> {
        lock(&self.state).orders.get(&id).cloned()
    }

    /// Every order, by id.
    pub fn orders(&self) -> BTreeMap<u64, BcOrder> {
        lock(&self.state).orders.clone()
    }

    /// The metafields of a customer.
    pub fn customer_metafields(&self, id: u64) -> Vec<Value> {
        lock(&self.state)
            .customer_meta
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    /// Stock of a SKU at the default location.
    pub fn stock(&self, sku: &str) -> Option<i64> {
        lock(&self.state).stock.get(sku).copied()
    }

    /// Adds an inventory item (a product's SKU) with this stock.
    pub fn add_item(&self, sku: &str, stock: i64) {
        lock(&self.state).stock.insert(sku.to_string(), stock);
    }

    /// Absolute adjustments on this SKU are refused (422 for the request carrying it).
    pub fn fail_item(&self, sku: &str) {
        lock(&self.state).failing.insert(sku.to_string());
    }

    /// Serves this order's lines (`/products`) cut in the middle.
    pub fn corrupt_order(&self, id: u64) {
        lock(&self.state).corrupt.insert(id);
    }

    /// Other apps of the store spend `n` requests at the start of every window.
    pub fn set_other_apps(&self, n: u32) {
        lock(&self.state).other_apps = n;
    }

    /// Requests per window and the window's length.
    pub fn set_quota(&self, quota: u32, window: Duration) {
        let mut s = lock(&self.state);
        s.config.quota = quota;
        s.config.window = window;
        s.window = RateWindow {
            start: None,
            used: 0,
        };
    }

    /// Share of calls answered 503.
    pub fn set_error_share(&self, share: f64) {
        lock(&self.state).config.error_share = share;
    }

    /// Requests answered 429 because the store's quota was spent (ours: must stay 0).
    pub fn over_quota(&self) -> u64 {
        lock(&self.state).over_quota
    }

    /// Authenticated requests served within quota.
    pub fn served(&self) -> u64 {
        lock(&self.state).served
    }

    /// Calls received per `"METHOD vN route"` (`"GET v2 orders"`).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.state).calls.clone()
    }

    /// Total calls received.
    pub fn total_calls(&self) -> u64 {
        lock(&self.state).calls.values().sum()
    }

    /// Query parameter names received per `"METHOD vN route"`.
    pub fn params(&self) -> BTreeMap<String, BTreeSet<String>> {
        lock(&self.state).params.clone()
    }

    /// Item counts of the absolute adjustments received (refused ones included).
    pub fn inventory_batches(&self) -> Vec<usize> {
        lock(&self.state).inventory_batches.clone()
    }

    /// Gives order `id` a second shipping address (a copy of the first, elsewhere) and
    /// moves its last line there, with half its shipping cost.
    pub fn add_second_address(&self, id: u64) -> bool {
        let mut s = lock(&self.state);
        let Some(o) = s.orders.get_mut(&id) else {
            return false;
        };
        let Some(first) = o.addresses.first().cloned() else {
            return false;
        };
        let second_id = first["id"].as_u64().unwrap_or(0) + 1;
        let mut second = first.clone();
        second["id"] = json!(second_id);
        second["first_name"] = json!("Louise");
        second["last_name"] = json!("Bernard");
        second["street_1"] = json!("3 quai des Chartrons");
        second["city"] = json!("Bordeaux");
        second["zip"] = json!("33000");
        o.addresses.push(second);
        if let Some(last) = o.products.last_mut() {
            last["order_address_id"] = json!(second_id);
        }
        o.order["shipping_address_count"] = json!(o.addresses.len());
        true
    }

    /// Adds an abandoned checkout (status 0, Incomplete) copied from order `from`; returns
    /// its id.
    pub fn add_incomplete_order(&self, from: u64) -> Option<u64> {
        let mut s = lock(&self.state);
        let mut o = s.orders.get(&from)?.clone();
        let id = s.orders.keys().max().copied().unwrap_or(FIRST_ORDER_ID) + 1;
        o.order["id"] = json!(id);
        o.order["status_id"] = json!(0);
        o.order["status"] = json!("Incomplete");
        s.orders.insert(id, o);
        Some(id)
    }

    /// Adds `n` orders copied from order `from` (new ids): bulk data for paging tests and
    /// benches.
    pub fn clone_orders(&self, from: u64, n: usize) -> Vec<u64> {
        let mut s = lock(&self.state);
        let Some(first) = s.orders.get(&from).cloned() else {
            return Vec::new();
        };
        let start = s.orders.keys().max().copied().unwrap_or(FIRST_ORDER_ID) + 1;
        let mut ids = Vec::new();
        for id in start..start + n as u64 {
            let mut o = first.clone();
            o.order["id"] = json!(id);
            for p in &mut o.products {
                p["order_id"] = json!(id);
            }
            s.orders.insert(id, o);
            ids.push(id);
        }
        ids
    }

    /// Adds `n` extra lines to order `id` (copies of its first line, other SKUs), with the
    /// order's totals kept consistent.
    pub fn add_lines(&self, id: u64, n: usize) -> bool {
        let mut s = lock(&self.state);
        let Some(o) = s.orders.get_mut(&id) else {
            return false;
        };
        let Some(first) = o.products.first().cloned() else {
            return false;
        };
        let dec = |v: &Value, k: &str| {
            v[k].as_str()
                .and_then(|x| x.parse::<rust_decimal::Decimal>().ok())
                .unwrap_or_default()
        };
        let (ex, tax) = (dec(&first, "total_ex_tax"), dec(&first, "total_tax"));
        for k in 0..n {
            let mut l = first.clone();
            l["id"] = json!(first["id"].as_u64().unwrap_or(0) * 1000 + k as u64 + 1);
            l["sku"] = json!(format!("{}-X{k}", first["sku"].as_str().unwrap_or("")));
            l["applied_discounts"] = json!([]);
            l["wrapping_name"] = json!("");
            l["wrapping_cost_ex_tax"] = json!(money(rust_decimal::Decimal::ZERO));
            l["wrapping_cost_inc_tax"] = json!(money(rust_decimal::Decimal::ZERO));
            o.products.push(l);
        }
        let count = rust_decimal::Decimal::from(n as u64);
        for (k, add) in [
            ("subtotal_ex_tax", ex),
            ("subtotal_inc_tax", ex + tax),
            ("subtotal_tax", tax),
            ("total_ex_tax", ex),
            ("total_inc_tax", ex + tax),
            ("total_tax", tax),
        ] {
            let v = dec(&o.order, k) + add * count;
            o.order[k] = json!(money(v));
        }
        true
    }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// Which API an answer belongs to (their error bodies differ).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    V2,
    V3,
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(api: Api, status: StatusCode, message: &str) -> Response {
    match api {
        Api::V2 => json_response(
            status,
            &json!([{"status": status.as_u16(), "message": message}]),
        ),
        Api::V3 => json_response(
            status,
            &json!({"status": status.as_u16(), "title": message,
                    "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
                    "errors": {}}),
        ),
    }
}

fn not_found(api: Api) -> Response {
    error(
        api,
        StatusCode::NOT_FOUND,
        "The requested resource was not found.",
    )
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
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

/// A date filter in ISO-8601 (with or without offset, or a bare date) or RFC-2822.
fn filter_date(v: &str) -> Option<NaiveDateTime> {
    let v = v.trim();
    DateTime::parse_from_rfc3339(v)
        .map(|d| d.naive_utc())
        .or_else(|_| DateTime::parse_from_rfc2822(v).map(|d| d.naive_utc()))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

fn order_date(o: &Value, field: &str) -> Option<NaiveDateTime> {
    o[field]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
        .map(|d| d.naive_utc())
}

/// Takes one request from the store's window; `Err` is the 429.
fn take_quota(s: &mut SimState) -> Result<(), ()> {
    let now = Instant::now();
    let window = s.config.window;
    let expired = s
        .window
        .start
        .is_none_or(|start| now.duration_since(start) >= window);
    if expired {
        s.window = RateWindow {
            start: Some(now),
            used: s.other_apps.min(s.config.quota),
        };
    }
    if s.window.used >= s.config.quota {
        s.over_quota += 1;
        return Err(());
    }
    s.window.used += 1;
    s.served += 1;
    Ok(())
}

/// The `X-Rate-Limit-*` headers of the store's window now.
fn rate_headers(s: &SimState, r: &mut Response) {
    let window = s.config.window;
    let reset = s
        .window
        .start
        .map(|st| window.saturating_sub(st.elapsed()))
        .unwrap_or(window);
    let left = s.config.quota.saturating_sub(s.window.used);
    let h = r.headers_mut();
    for (k, v) in [
        (
            "x-rate-limit-time-window-ms",
            window.as_millis().to_string(),
        ),
        ("x-rate-limit-time-reset-ms", reset.as_millis().to_string()),
        ("x-rate-limit-requests-quota", s.config.quota.to_string()),
        ("x-rate-limit-requests-left", left.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = parse_query(&uri);
    let mut s = lock(&state);
    let prefix = format!("/stores/{}/", s.config.store_hash);
    let Some(rest) = uri.path().strip_prefix(&prefix) else {
        return not_found(Api::V3);
    };
    let (api, rest) = if let Some(r) = rest.strip_prefix("v2/") {
        (Api::V2, r)
    } else if let Some(r) = rest.strip_prefix("v3/") {
        (Api::V3, r)
    } else {
        return not_found(Api::V3);
    };
    let segs: Vec<String> = rest
        .split('/')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    let route = segs
        .iter()
        .map(|x| {
            if x.parse::<u64>().is_ok() {
                "{id}"
            } else {
                x.as_str()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let version = if api == Api::V2 { "v2" } else { "v3" };
    let key = format!("{method} {version} {route}");
    *s.calls.entry(key.clone()).or_default() += 1;
    let names = s.params.entry(key).or_default();
    for (k, _) in &params {
        names.insert(k.clone());
    }
    let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
    if token != Some(s.config.token.as_str()) {
        let msg = if token.is_none() {
            "No credentials were supplied in the request."
        } else {
            "The credentials supplied in the request are invalid."
        };
        return error(api, StatusCode::UNAUTHORIZED, msg);
    }
    if take_quota(&mut s).is_err() {
        let mut r = error(
            api,
            StatusCode::TOO_MANY_REQUESTS,
            "You have exceeded your rate limit.",
        );
        rate_headers(&s, &mut r);
        return r;
    }
    let share = s.config.error_share;
    let mut r = if share > 0.0 && s.rng.random::<f64>() < share {
        error(
            api,
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable (injected).",
        )
    } else {
        let body: Option<Value> = if body.is_empty() {
            None
        } else {
            match serde_json::from_slice(&body) {
                Ok(v) => Some(v),
                Err(_) => {
                    let mut r = error(
                        api,
                        StatusCode::BAD_REQUEST,
                        "The request body is not valid JSON.",
                    );
                    rate_headers(&s, &mut r);
                    return r;
                }
            }
        };
        let id = |i: usize| segs.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        route_request(&mut s, api, &method, &route, &id, &params, body)
    };
    rate_headers(&s, &mut r);
    r
}

fn route_request(
    s: &mut SimState,
    api: Api,
    method: &Method,
    route: &str,
    id: &dyn Fn(usize) -> u64,
    params: &[(String, String)],
    body: Option<Value>,
) -> Response {
    let get = method == Method::GET;
    match (api, route) {
        (Api::V2, "orders") if get => list_orders(s, params),
        (Api::V2, "orders/{id}") if get => match s.orders.get(&id(1)) {
            Some(o) => ok(o.order.clone()),
            None => not_found(api),
        },
        (Api::V2, "orders/{id}") if method == Method::PUT => {
            update_order(s, id(1), body.unwrap_or_default())
        }
        (Api::V2, "orders/{id}/products") if get => {
            let oid = id(1);
            let Some(o) = s.orders.get(&oid) else {
                return not_found(api);
            };
            if s.corrupt.contains(&oid) {
                return cut(&Value::Array(o.products.clone()));
            }
            page_v2(o.products.clone(), params, 50)
        }
        (Api::V2, "orders/{id}/shipping_addresses") if get => match s.orders.get(&id(1)) {
            Some(o) => page_v2(o.addresses.clone(), params, 50),
            None => not_found(api),
        },
        (Api::V2, "orders/{id}/taxes") if get => match s.orders.get(&id(1)) {
            Some(o) => page_v2(o.taxes.clone(), params, 50),
            None => not_found(api),
        },
        (Api::V2, "orders/{id}/shipments") if get => match s.orders.get(&id(1)) {
            Some(o) => page_v2(o.shipments.clone(), params, 50),
            None => not_found(api),
        },
        (Api::V2, "orders/{id}/shipments") if method == Method::POST => {
            create_shipment(s, id(1), body.unwrap_or_default())
        }
        (Api::V2, "order_statuses") if get => ok(Value::Array(
            STATUSES
                .iter()
                .enumerate()
                .map(|(i, (sid, name))| {
                    json!({"id": sid, "name": name, "system_label": name, "custom_label": name,
                           "system_description": "", "order": i})
                })
                .collect(),
        )),
        (Api::V2, "currencies") if get => ok(json!([
            {"id": 1, "is_default": true, "date_created": "Mon, 06 Jan 2025 09:00:00 +0000",
             "date_modified": "Mon, 06 Jan 2025 09:00:00 +0000", "country_iso2": "FR",
             "default_for_country_codes": ["FR"], "currency_code": "EUR",
             "currency_exchange_rate": "1.0000000000", "name": "Euro", "token": "€",
             "auto_update": false, "token_location": "right", "decimal_token": ",",
             "thousands_token": " ", "decimal_places": 2, "enabled": true, "is_transactional": true},
            {"id": 2, "is_default": false, "date_created": "Mon, 06 Jan 2025 09:00:00 +0000",
             "date_modified": "Mon, 06 Jan 2025 09:00:00 +0000", "country_iso2": "US",
             "default_for_country_codes": ["US"], "currency_code": "USD",
             "currency_exchange_rate": render::USD_RATE, "name": "US Dollar", "token": "$",
             "auto_update": false, "token_location": "left", "decimal_token": ".",
             "thousands_token": ",", "decimal_places": 2, "enabled": true, "is_transactional": true}
        ])),
        (Api::V3, "orders/{id}/metafields" | "customers/{id}/metafields") if get => {
            let Some(list) = metafields(s, route, id(1)) else {
                return not_found(api);
            };
            let p = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let rows: Vec<Value> = list
                .iter()
                .filter(|m| p("key").is_none_or(|k| m["key"] == k.as_str()))
                .filter(|m| p("namespace").is_none_or(|n| m["namespace"] == n.as_str()))
                .cloned()
                .collect();
            page_v3(rows, params)
        }
        (Api::V3, "orders/{id}/metafields" | "customers/{id}/metafields")
            if method == Method::POST =>
        {
            let next = s.next_id;
            let kind = if route.starts_with("orders") {
                "order"
            } else {
                "customer"
            };
            let rid = id(1);
            let Some(list) = metafields(s, route, rid) else {
                return not_found(api);
            };
            let r = create_metafield(list, next, kind, rid, body.unwrap_or_default());
            if r.status().is_success() {
                s.next_id += 1;
            }
            r
        }
        (Api::V3, "orders/{id}/metafields/{id}" | "customers/{id}/metafields/{id}")
            if method == Method::PUT =>
        {
            let mid = id(3);
            let Some(list) = metafields(s, route, id(1)) else {
                return not_found(api);
            };
            let Some(m) = list.iter_mut().find(|m| m["id"] == mid) else {
                return not_found(api);
            };
            let b = body.unwrap_or_default();
            if let Some(v) = b.get("value").and_then(Value::as_str) {
                m["value"] = json!(v);
            }
            m["date_modified"] = json!(Utc::now().to_rfc3339());
            ok(json!({"data": m.clone(), "meta": {}}))
        }
        (Api::V3, "inventory/items") if get => {
            let skus: Vec<String> = params
                .iter()
                .filter(|(k, _)| k == "sku:in")
                .flat_map(|(_, v)| v.split(','))
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect();
            let rows: Vec<Value> = s
                .stock
                .iter()
                .filter(|(k, _)| skus.is_empty() || skus.contains(k))
                .map(|(sku, q)| inventory_item(s, sku, *q))
                .collect();
            page_v3(rows, params)
        }
        (Api::V3, "inventory/adjustments/absolute") if method == Method::PUT => {
            absolute(s, body.unwrap_or_default())
        }
        _ => not_found(api),
    }
}

fn inventory_item(s: &SimState, sku: &str, q: i64) -> Value {
    let pos = s.stock.keys().position(|k| k == sku).unwrap_or(0) as u64;
    json!({"identity": {"sku": sku, "variant_id": 1000 + pos, "product_id": 1000 + pos, "sku_id": Value::Null},
           "locations": [{"location_id": DEFAULT_LOCATION, "location_code": "BC-LOCATION-1",
                          "location_name": "Default location", "available_to_sell": q,
                          "total_inventory_onhand": q, "location_enabled": true,
                          "settings": {"safety_stock": 0, "is_in_stock": q > 0, "warning_level": 0,
                                       "bin_picking_number": ""}}]})
}

/// An answer cut in the middle (a gateway timeout mid-stream).
fn cut(v: &Value) -> Response {
    let t = v.to_string();
    let mut end = t.len() / 2;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        t[..end].to_string(),
    )
        .into_response()
}

/// `page` and `limit` of a v2 list (limit default `default`, at most 250).
#[allow(clippy::result_large_err)] // the error is the answer itself, built once per call
fn v2_paging(params: &[(String, String)], default: usize) -> Result<(usize, usize), Response> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let page = match get("page") {
        None => 1,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| {
                error(
                    Api::V2,
                    StatusCode::BAD_REQUEST,
                    "The field 'page' is invalid.",
                )
            })?,
    };
    let limit = match get("limit") {
        None => default,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|l| *l >= 1)
            .map(|l| l.min(MAX_LIMIT))
            .ok_or_else(|| {
                error(
                    Api::V2,
                    StatusCode::BAD_REQUEST,
                    "The field 'limit' is invalid.",
                )
            })?,
    };
    Ok((page, limit))
}

/// One v2 page; empty → 204 with no body.
fn page_v2(rows: Vec<Value>, params: &[(String, String)], default: usize) -> Response {
    let (page, limit) = match v2_paging(params, default) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    if items.is_empty() {
        return no_content();
    }
    ok(Value::Array(items))
}

/// One v3 page `{data, meta:{pagination}}` (limit default 50).
fn page_v3(rows: Vec<Value>, params: &[(String, String)]) -> Response {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let page = get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let limit = get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 250);
    let total = rows.len();
    let total_pages = total.div_ceil(limit);
    let items: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    let mut links = json!({"current": format!("?page={page}&limit={limit}")});
    if page < total_pages {
        links["next"] = json!(format!("?page={}&limit={limit}", page + 1));
    }
    ok(json!({"data": items, "meta": {"pagination": {
        "total": total, "count": items.len(), "per_page": limit, "current_page": page,
        "total_pages": total_pages, "links": links}}}))
}

const SORTS: &[&str] = &[
    "id",
    "customer_id",
    "date_created",
    "date_modified",
    "status_id",
    "channel_id",
    "external_id",
];

fn list_orders(s: &mut SimState, params: &[(String, String)]) -> Response {
    let bad = |f: &str| {
        error(
            Api::V2,
            StatusCode::BAD_REQUEST,
            &format!("The field '{f}' is invalid."),
        )
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let status = match get("status_id") {
        None => None,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(x) => Some(x),
            // One integer only: a list is refused (loop over the statuses).
            Err(_) => return bad("status_id"),
        },
    };
    let mut bounds = Vec::new();
    for (k, field, min) in [
        ("min_date_modified", "date_modified", true),
        ("max_date_modified", "date_modified", false),
        ("min_date_created", "date_created", true),
        ("max_date_created", "date_created", false),
    ] {
        if let Some(v) = get(k) {
            match filter_date(&v) {
                Some(d) => bounds.push((field, d, min)),
                None => return bad(k),
            }
        }
    }
    let (field, desc) = match get("sort") {
        None => ("id".to_string(), false),
        Some(v) => {
            let (f, d) = v.split_once(':').unwrap_or((v.as_str(), "asc"));
            if !SORTS.contains(&f) || !["asc", "desc"].contains(&d) {
                return bad("sort");
            }
            (f.to_string(), d == "desc")
        }
    };
    let customer = get("customer_id").and_then(|v| v.parse::<u64>().ok());
    let mut rows: Vec<&Value> = s
        .orders
        .values()
        .map(|o| &o.order)
        .filter(|o| {
            let st = o["status_id"].as_u64().unwrap_or(0);
            // Incomplete checkouts are listed only when asked for.
            match status {
                Some(x) => st == x,
                None => st != 0,
            }
        })
        .filter(|o| !o["is_deleted"].as_bool().unwrap_or(false))
        .filter(|o| customer.is_none_or(|c| o["customer_id"].as_u64() == Some(c)))
        .filter(|o| {
            bounds.iter().all(|(f, d, min)| match order_date(o, f) {
                None => false,
                Some(v) if *min => v >= *d,
                Some(v) => v <= *d,
            })
        })
        .collect();
    let key = |o: &Value| -> (String, u64) {
        let id = o["id"].as_u64().unwrap_or(0);
        let k = match field.as_str() {
            "date_created" | "date_modified" => order_date(o, &field)
                .map(|d| d.format("%Y%m%d%H%M%S").to_string())
                .unwrap_or_default(),
            "id" => format!("{id:020}"),
            f => match &o[f] {
                Value::Number(n) => format!("{:020}", n.as_u64().unwrap_or(0)),
                v => v.as_str().unwrap_or("").to_string(),
            },
        };
        (k, id)
    };
    rows.sort_by(|a, b| {
        let o = key(a).cmp(&key(b));
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    let rows: Vec<Value> = rows.into_iter().cloned().collect();
    page_v2(rows, params, 50)
}

fn update_order(s: &mut SimState, id: u64, body: Value) -> Response {
    let Some(o) = s.orders.get_mut(&id) else {
        return not_found(Api::V2);
    };
    if let Some(v) = body.get("status_id") {
        let Some(st) = v
            .as_u64()
            .or_else(|| v.as_str().and_then(|x| x.trim().parse().ok()))
            .and_then(|x| STATUSES.iter().find(|(i, _)| *i == x))
        else {
            return error(
                Api::V2,
                StatusCode::BAD_REQUEST,
                "The field 'status_id' is invalid.",
            );
        };
        o.order["status_id"] = json!(st.0);
        o.order["status"] = json!(st.1);
        o.order["custom_status"] = json!(st.1);
    }
    for k in ["staff_notes", "customer_message", "external_id"] {
        if let Some(v) = body.get(k).and_then(Value::as_str) {
            o.order[k] = json!(v);
        }
    }
    o.order["date_modified"] = json!(rfc2822(Utc::now().naive_utc()));
    ok(o.order.clone())
}

fn create_shipment(s: &mut SimState, id: u64, body: Value) -> Response {
    let next = s.next_id;
    let Some(o) = s.orders.get_mut(&id) else {
        return not_found(Api::V2);
    };
    let address = body.get("order_address_id").and_then(Value::as_u64);
    let Some(address) = address.filter(|a| o.addresses.iter().any(|x| x["id"] == *a)) else {
        return error(
            Api::V2,
            StatusCode::BAD_REQUEST,
            "The field 'order_address_id' is invalid.",
        );
    };
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.is_empty()
        || !items.iter().all(|i| {
            i.get("order_product_id")
                .and_then(Value::as_u64)
                .is_some_and(|p| o.products.iter().any(|x| x["id"] == p))
        })
    {
        return error(
            Api::V2,
            StatusCode::BAD_REQUEST,
            "The field 'items' is invalid.",
        );
    }
    let shipment = json!({
        "id": next, "order_id": id, "customer_id": o.order["customer_id"],
        "order_address_id": address, "date_created": rfc2822(Utc::now().naive_utc()),
        "tracking_number": body.get("tracking_number").cloned().unwrap_or(json!("")),
        "shipping_provider": body.get("shipping_provider").cloned().unwrap_or(json!("")),
        "tracking_carrier": body.get("tracking_carrier").cloned().unwrap_or(json!("")),
        "tracking_link": body.get("tracking_link").cloned().unwrap_or(json!("")),
        "comments": body.get("comments").cloned().unwrap_or(json!("")),
        "items": items,
    });
    o.shipments.push(shipment.clone());
    s.next_id += 1;
    let mut r = ok(shipment);
    *r.status_mut() = StatusCode::CREATED;
    r
}

/// The metafields of the order or customer a route names (a customer is created on its
/// first metafield: the simulator serves no customer list).
fn metafields<'a>(s: &'a mut SimState, route: &str, id: u64) -> Option<&'a mut Vec<Value>> {
    if route.starts_with("orders") {
        s.orders.get_mut(&id).map(|o| &mut o.metafields)
    } else if id == 0 {
        None
    } else {
        Some(s.customer_meta.entry(id).or_default())
    }
}

fn create_metafield(list: &mut Vec<Value>, next: u64, kind: &str, rid: u64, b: Value) -> Response {
    let text = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(perm), Some(ns), Some(key), Some(value)) = (
        text("permission_set"),
        text("namespace"),
        text("key"),
        text("value"),
    ) else {
        return error(
            Api::V3,
            StatusCode::UNPROCESSABLE_ENTITY,
            "JSON data is missing or invalid",
        );
    };
    let perms = [
        "app_only",
        "read",
        "write",
        "read_and_sf_access",
        "write_and_sf_access",
    ];
    if !perms.contains(&perm.as_str())
        || ns.is_empty()
        || ns.chars().count() > 64
        || key.is_empty()
        || key.chars().count() > 64
        || value.is_empty()
    {
        return error(
            Api::V3,
            StatusCode::UNPROCESSABLE_ENTITY,
            "JSON data is missing or invalid",
        );
    }
    if list
        .iter()
        .any(|m| m["namespace"] == ns.as_str() && m["key"] == key.as_str())
    {
        return error(
            Api::V3,
            StatusCode::CONFLICT,
            "Metafield with the same namespace and key already exists for this resource",
        );
    }
    if list.len() >= 250 {
        return error(
            Api::V3,
            StatusCode::UNPROCESSABLE_ENTITY,
            "The maximum number of metafields per resource is 250.",
        );
    }
    let now = Utc::now().to_rfc3339();
    let m = json!({"id": next, "key": key, "value": value, "namespace": ns,
                   "permission_set": perm, "resource_type": kind, "resource_id": rid,
                   "description": text("description").unwrap_or_default(),
                   "date_created": now, "date_modified": now, "owner_client_id": "passerelle"});
    list.push(m.clone());
    ok(json!({"data": m, "meta": {}}))
}

/// `PUT /v3/inventory/adjustments/absolute`.
fn absolute(s: &mut SimState, b: Value) -> Response {
    let items = b
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    s.inventory_batches.push(items.len());
    if items.len() > INVENTORY_CAP {
        return error(
            Api::V3,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "The request payload is too large. The maximum items allowed in the array is {INVENTORY_CAP}"
            ),
        );
    }
    if items.is_empty() {
        return error(
            Api::V3,
            StatusCode::UNPROCESSABLE_ENTITY,
            "items is required",
        );
    }
    let mut errors = serde_json::Map::new();
    let mut apply = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let sku = it.get("sku").and_then(Value::as_str).unwrap_or("");
        let loc = it.get("location_id").and_then(Value::as_u64);
        let q = it.get("quantity").and_then(Value::as_i64);
        let why = if loc != Some(DEFAULT_LOCATION) {
            Some(format!("Location {} is not found", loc.unwrap_or(0)))
        } else if sku.is_empty() {
            Some("One of sku, product_id or variant_id is required".to_string())
        } else if !s.stock.contains_key(sku) {
            Some(format!("Item with sku {sku} is not found"))
        } else if s.failing.contains(sku) {
            Some(format!("Item with sku {sku} is locked by a bulk job"))
        } else {
            match q {
                Some(q) if (0..=i64::from(i32::MAX)).contains(&q) => {
                    apply.push((sku.to_string(), q));
                    None
                }
                _ => Some(format!("Quantity of item with sku {sku} is out of range")),
            }
        };
        if let Some(w) = why {
            errors.insert(format!("items.{i}"), json!(w));
        }
    }
    if !errors.is_empty() {
        let title = format!(
            "[{}]",
            errors
                .values()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"status": 422, "title": title,
                    "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
                    "errors": errors}),
        );
    }
    for (sku, q) in apply {
        s.stock.insert(sku, q);
    }
    ok(json!({"transaction_id": format!("{:032x}", s.rng.random::<u128>())}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_seed_renders_as_bigcommerce_orders() {
        let seed = Seed::demo(30).with_broken();
        let ids = render::customer_ids(&seed);
        assert!(ids.contains(&0), "guests");
        for (i, o) in seed.orders.iter().enumerate() {
            let r = render::order(&seed, o, 100 + i as u64, ids[o.customer]);
            let total = r.order["total_inc_tax"].as_str().unwrap_or("");
            assert_eq!(total.split('.').nth(1).map(str::len), Some(4), "4 decimals");
            assert!(order_date(&r.order, "date_modified").is_some());
            assert_eq!(r.addresses.len(), 1);
        }
    }

    #[test]
    fn date_filters_read_iso_and_rfc2822() {
        let a = filter_date("2017-04-20T11:32:00.000-04:00");
        let b = filter_date("Thu, 20 Apr 2017 11:32:00 -0400");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert!(filter_date("hier").is_none());
    }
}
