//! In-process simulator of the WooCommerce REST API `wc/v3` for tests, benches and demos.
//!
//! Faithful where a client depends on it (`/work/shared/reference/platforms.md` §2,
//! "Simulator must reproduce"; `cms-apis.md` §2; shapes from `WC-oas`):
//! * routes under `/wp-json/wc/v3/`; unknown route → 404 `rest_no_route`;
//! * auth: HTTP Basic `consumer_key:consumer_secret`, or `consumer_key` /
//!   `consumer_secret` in the query string; none → 401 `woocommerce_rest_cannot_view`,
//!   wrong → 401 `woocommerce_rest_authentication_error`;
//! * paging: `page` ≥ 1, `per_page` default 10, above 100 → 400 `rest_invalid_param`;
//!   `X-WP-Total`, `X-WP-TotalPages`, `Link` rel prev/next; a page past the end → `[]`
//!   with the true totals;
//! * orders: `status` (comma list or `status[]`), `after`/`before`,
//!   `modified_after`/`modified_before` in the site time zone unless
//!   `dates_are_gmt=true`, `orderby` (`date,id,include,title,slug,modified`, else 400),
//!   `order`, `include`, `customer`, `_fields`; an **unstable mode** where rows with equal
//!   sort keys come back in a different order on each page (woocommerce#33386);
//! * errors `{code, message, data:{status}}`: 404 `woocommerce_rest_shop_order_invalid_id`
//!   ("Invalid ID."), 400 `rest_invalid_param`;
//! * batch routes (`/products/batch`, `/products/{id}/variations/batch`): at most
//!   [`WooSimConfig::batch_limit`] items counted across create+update+delete, 413
//!   `woocommerce_rest_request_entity_too_large` above; per-item errors inside the 200;
//! * write-backs: `PUT /orders/{id}` (status, `meta_data` merged by key), order notes,
//!   customers' `meta_data`, products' stock and prices.
//!
//! It parses what it receives with its own code (query strings, JSON bodies); nothing of
//! the client is shared. Test controls: call counters per `"METHOD route"`, the batch sizes
//! received, the query parameter names per route (conformance), an injectable share of 503
//! answers (seeded), corrupted orders (answer cut), items that fail in batches.

mod render;

use crate::seed::{Seed, SeedBreakage};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use chrono::{Duration, NaiveDateTime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
pub use render::{status as wc_status, FIRST_ORDER_ID, SITE_OFFSET_HOURS};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The demo consumer key.
pub const DEMO_CONSUMER_KEY: &str = "ck_5d0c2f4e8a1b9c7d3e6f0a2b4c8d1e3f5a7b9c0d";
/// The demo consumer secret.
pub const DEMO_CONSUMER_SECRET: &str = "cs_9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";

/// Behaviour knobs.
#[derive(Debug, Clone)]
pub struct WooSimConfig {
    /// Consumer key accepted.
    pub key: String,
    /// Consumer secret accepted.
    pub secret: String,
    /// Items accepted per batch call (WooCommerce's default 100; sites change it).
    pub batch_limit: usize,
    /// Equal sort keys come back in a different order on each page.
    pub unstable_order: bool,
    /// Share of calls answered 503 (0.0–1.0), drawn from a seeded generator.
    pub error_share: f64,
    /// Seed of that generator.
    pub seed: u64,
}

impl Default for WooSimConfig {
    fn default() -> Self {
        Self {
            key: DEMO_CONSUMER_KEY.into(),
            secret: DEMO_CONSUMER_SECRET.into(),
            batch_limit: 100,
            unstable_order: false,
            error_share: 0.0,
            seed: 0,
        }
    }
}

/// The shop's data.
#[derive(Debug, Clone, Default)]
pub struct WooShop {
    /// Orders by id.
    pub orders: BTreeMap<u64, Value>,
    /// Customers by id.
    pub customers: BTreeMap<u64, Value>,
    /// Products and variations by id (a variation has `parent_id`).
    pub products: BTreeMap<u64, Value>,
    /// Order notes by order id.
    pub notes: BTreeMap<u64, Vec<Value>>,
}

impl WooShop {
    /// The seed in WooCommerce's shapes, with the ids of the orders seeded broken and
    /// whether their answer is to be cut.
    pub fn from_seed(seed: &Seed) -> (WooShop, Vec<(u64, bool)>) {
        let (customers, ids) = render::customers(seed);
        let products = render::products(seed);
        let mut orders = BTreeMap::new();
        let mut broken = Vec::new();
        for (i, o) in seed.orders.iter().enumerate() {
            let id = FIRST_ORDER_ID + i as u64;
            let cid = ids.get(o.customer).copied().flatten();
            orders.insert(id, render::order(seed, o, id, cid));
            let negative = o.lines.iter().any(|l| l.quantity <= 0);
            let cut = o.broken == Some(SeedBreakage::CutAnswer);
            if negative || cut {
                broken.push((id, cut));
            }
        }
        (
            WooShop {
                orders,
                customers,
                products,
                notes: BTreeMap::new(),
            },
            broken,
        )
    }
}

struct SimState {
    shop: WooShop,
    config: WooSimConfig,
    rng: StdRng,
    calls: BTreeMap<String, u64>,
    batch_sizes: Vec<usize>,
    params: BTreeMap<String, BTreeSet<String>>,
    corrupt: HashSet<u64>,
    failing: HashSet<String>,
    next_id: u64,
}

type Shared = Arc<Mutex<SimState>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, SimState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running WooCommerce simulator (stops when dropped).
pub struct WooSim {
    addr: SocketAddr,
    state: Shared,
    task: JoinHandle<()>,
}

impl Drop for WooSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WooSim {
    /// Serves `shop` on a free local port.
    pub async fn start(shop: WooShop, config: WooSimConfig) -> std::io::Result<WooSim> {
        Self::start_at(shop, config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves `shop` on `addr`.
    pub async fn start_at(
        shop: WooShop,
        config: WooSimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<WooSim> {
        let next_id = 1 + [
            shop.orders.keys().max(),
            shop.customers.keys().max(),
            shop.products.keys().max(),
        ]
        .into_iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(0);
        let state = Arc::new(Mutex::new(SimState {
            shop,
            rng: StdRng::seed_from_u64(config.seed),
            config,
            calls: BTreeMap::new(),
            batch_sizes: Vec::new(),
            params: BTreeMap::new(),
            corrupt: HashSet::new(),
            failing: HashSet::new(),
            next_id: next_id.max(100_000),
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WooSim { addr, state, task })
    }

    /// The seed served (broken orders broken), with the ids of the broken ones.
    pub async fn from_seed(
        seed: &Seed,
        config: WooSimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<(WooSim, Vec<u64>)> {
        let (shop, broken) = WooShop::from_seed(seed);
        let sim = Self::start_at(shop, config, addr).await?;
        for (id, cut) in &broken {
            if *cut {
                sim.corrupt_order(*id);
            }
        }
        Ok((sim, broken.into_iter().map(|(id, _)| id).collect()))
    }

    /// The shop URL (`http://127.0.0.1:PORT`; the API is under `/wp-json/wc/v3/`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `consumer_key:consumer_secret`, the profile's one secret.
    pub fn credentials(&self) -> String {
        let s = lock(&self.state);
        format!("{}:{}", s.config.key, s.config.secret)
    }

    /// The consumer key.
    pub fn consumer_key(&self) -> String {
        lock(&self.state).config.key.clone()
    }

    /// The consumer secret.
    pub fn consumer_secret(&self) -> String {
        lock(&self.state).config.secret.clone()
    }

    /// Serves this order's answers cut in the middle (a list containing it no longer
    /// parses; `_fields=id` lists still do).
    pub fn corrupt_order(&self, id: u64) {
        lock(&self.state).corrupt.insert(id);
    }

    /// Batch items on the product with this SKU fail (inside the 200).
    pub fn fail_item(&self, sku: &str) {
        lock(&self.state).failing.insert(sku.to_string());
    }

    /// Items accepted per batch call.
    pub fn set_batch_limit(&self, n: usize) {
        lock(&self.state).config.batch_limit = n;
    }

    /// Unstable order of equal sort keys across pages.
    pub fn set_unstable_order(&self, on: bool) {
        lock(&self.state).config.unstable_order = on;
    }

    /// Share of calls answered 503.
    pub fn set_error_share(&self, share: f64) {
        lock(&self.state).config.error_share = share;
    }

    /// Gives every order the same modification (and creation) instant, in UTC.
    pub fn set_all_dates(&self, at: NaiveDateTime) {
        let mut s = lock(&self.state);
        for o in s.shop.orders.values_mut() {
            set_dates(o, "date_created", at);
            set_dates(o, "date_modified", at);
        }
    }

    /// Adds `n` orders copied from the first one (new ids, same dates): bulk data for
    /// paging tests and benches.
    pub fn clone_orders(&self, n: usize) -> Vec<u64> {
        let mut s = lock(&self.state);
        let Some(first) = s.shop.orders.values().next().cloned() else {
            return Vec::new();
        };
        let mut ids = Vec::new();
        let start = s
            .shop
            .orders
            .keys()
            .max()
            .copied()
            .unwrap_or(FIRST_ORDER_ID)
            + 1;
        for next in start..start + n as u64 {
            let mut o = first.clone();
            o["id"] = json!(next);
            o["number"] = json!(next.to_string());
            s.shop.orders.insert(next, o);
            ids.push(next);
        }
        ids
    }

    /// A copy of the shop's data.
    pub fn shop(&self) -> WooShop {
        lock(&self.state).shop.clone()
    }

    /// One order.
    pub fn order(&self, id: u64) -> Option<Value> {
        lock(&self.state).shop.orders.get(&id).cloned()
    }

    /// Adds a product (or a variation, with `parent_id`) and returns its id.
    pub fn add_product(&self, sku: &str, stock: i64, parent: u64) -> u64 {
        let mut s = lock(&self.state);
        let id = s.next_id;
        s.next_id += 1;
        s.shop.products.insert(
            id,
            json!({"id": id, "name": sku, "sku": sku, "type": if parent == 0 { "simple" } else { "variation" },
                   "status": "publish", "regular_price": "10.00", "manage_stock": true,
                   "stock_quantity": stock, "parent_id": parent, "meta_data": []}),
        );
        id
    }

    /// The product (or variation) with this SKU.
    pub fn product(&self, sku: &str) -> Option<Value> {
        lock(&self.state)
            .shop
            .products
            .values()
            .find(|p| p["sku"] == sku)
            .cloned()
    }

    /// Calls received per `"METHOD route"` (`"GET orders"`, `"PUT orders/{id}"`).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.state).calls.clone()
    }

    /// Total calls received.
    pub fn total_calls(&self) -> u64 {
        lock(&self.state).calls.values().sum()
    }

    /// Item counts of the batch calls received (refused ones included).
    pub fn batch_sizes(&self) -> Vec<usize> {
        lock(&self.state).batch_sizes.clone()
    }

    /// Query parameter names received per `"METHOD route"` (for the conformance check).
    pub fn params(&self) -> BTreeMap<String, BTreeSet<String>> {
        lock(&self.state).params.clone()
    }
}

fn set_dates(o: &mut Value, field: &str, utc: NaiveDateTime) {
    o[format!("{field}_gmt")] = json!(render::date(utc));
    o[field] = json!(render::date(utc + Duration::hours(SITE_OFFSET_HOURS)));
}

fn now_utc() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json; charset=UTF-8")],
        json!({"code": code, "message": message, "data": {"status": status.as_u16()}}).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
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

/// Who is calling: `None` when the key and secret match (Basic, else query string), else
/// WooCommerce's 401.
fn authenticate(
    headers: &HeaderMap,
    params: &[(String, String)],
    config: &WooSimConfig,
) -> Option<Response> {
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        });
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let from_query = param("consumer_key").zip(param("consumer_secret"));
    match from_header.or(from_query) {
        None => Some(error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot list resources.",
        )),
        Some((k, s)) if k == config.key && s == config.secret => None,
        Some(_) => Some(error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_authentication_error",
            "Consumer key is invalid.",
        )),
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
    let Some(rest) = uri.path().strip_prefix("/wp-json/wc/v3/") else {
        return error(
            StatusCode::NOT_FOUND,
            "rest_no_route",
            "No route was found matching the URL and request method.",
        );
    };
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let route = segs
        .iter()
        .map(|s| {
            if s.parse::<u64>().is_ok() {
                "{id}"
            } else {
                s.as_str()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let mut s = lock(&state);
    let key = format!("{method} {route}");
    *s.calls.entry(key.clone()).or_default() += 1;
    let names = s.params.entry(key).or_default();
    for (k, _) in &params {
        if k != "consumer_key" && k != "consumer_secret" {
            names.insert(k.trim_end_matches("[]").to_string());
        }
    }
    if let Some(r) = authenticate(&headers, &params, &s.config) {
        return r;
    }
    let share = s.config.error_share;
    if share > 0.0 && s.rng.random::<f64>() < share {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal_server_error",
            "Service temporarily unavailable (injected).",
        );
    }
    let id = |i: usize| segs.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "rest_invalid_json",
                    "Invalid JSON body passed.",
                )
            }
        }
    };
    let is_write = matches!(method, Method::POST | Method::PUT | Method::PATCH);
    match (route.as_str(), is_write, method == Method::GET) {
        ("orders", _, true) => list_orders(&mut s, &params),
        ("orders/{id}", _, true) => {
            let id = id(1);
            match s.shop.orders.get(&id) {
                None => invalid_order(),
                Some(o) if s.corrupt.contains(&id) => cut(o),
                Some(o) => ok(o.clone()),
            }
        }
        ("orders/{id}", true, _) => update_order(&mut s, id(1), body.unwrap_or_default()),
        ("orders/{id}/notes", _, true) => {
            let id = id(1);
            if !s.shop.orders.contains_key(&id) {
                return invalid_order();
            }
            let kind = params
                .iter()
                .find(|(k, _)| k == "type")
                .map(|(_, v)| v.as_str())
                .unwrap_or("any");
            let notes: Vec<Value> = s
                .shop
                .notes
                .get(&id)
                .into_iter()
                .flatten()
                .filter(|n| match kind {
                    "customer" => n["customer_note"] == true,
                    "internal" => n["customer_note"] != true,
                    _ => true,
                })
                .cloned()
                .collect();
            ok(Value::Array(notes))
        }
        ("orders/{id}/notes", true, _) => {
            let oid = id(1);
            if !s.shop.orders.contains_key(&oid) {
                return invalid_order();
            }
            let b = body.unwrap_or_default();
            let Some(text) = b.get("note").and_then(Value::as_str).map(str::to_string) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "rest_missing_callback_param",
                    "Missing parameter(s): note",
                );
            };
            let nid = s.next_id;
            s.next_id += 1;
            let note = json!({"id": nid, "author": "WooCommerce", "note": text,
                "customer_note": b.get("customer_note").and_then(Value::as_bool).unwrap_or(false),
                "date_created_gmt": render::date(now_utc())});
            s.shop.notes.entry(oid).or_default().push(note.clone());
            let mut r = ok(note);
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        ("customers", _, true) => {
            let include: HashSet<u64> = list_param(&params, "include")
                .iter()
                .filter_map(|v| v.parse().ok())
                .collect();
            let rows: Vec<Value> = s
                .shop
                .customers
                .iter()
                .filter(|(id, _)| include.is_empty() || include.contains(id))
                .map(|(_, c)| c.clone())
                .collect();
            paged(rows, &params, &uri)
        }
        ("customers/{id}", _, true) => match s.shop.customers.get(&id(1)) {
            None => error(
                StatusCode::NOT_FOUND,
                "woocommerce_rest_invalid_id",
                "Invalid resource ID.",
            ),
            Some(c) => ok(c.clone()),
        },
        ("customers/{id}", true, _) => {
            let cid = id(1);
            let Some(c) = s.shop.customers.get_mut(&cid) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "woocommerce_rest_invalid_id",
                    "Invalid resource ID.",
                );
            };
            if let Some(m) = body.as_ref().and_then(|b| b.get("meta_data")) {
                merge_meta(c, m);
            }
            ok(c.clone())
        }
        ("products", _, true) => {
            let skus = list_param(&params, "sku");
            let rows: Vec<Value> = s
                .shop
                .products
                .values()
                .filter(|p| {
                    skus.is_empty()
                        || skus
                            .iter()
                            .any(|k| p.get("sku").and_then(Value::as_str) == Some(k))
                })
                .cloned()
                .collect();
            paged(rows, &params, &uri)
        }
        ("products/{id}", true, _) | ("products/{id}/variations/{id}", true, _) => {
            let pid = if segs.len() == 4 { id(3) } else { id(1) };
            let b = body.unwrap_or_default();
            match apply_product(&mut s, pid, &b) {
                Ok(p) => ok(p),
                Err(e) => e.response(),
            }
        }
        ("products/batch", true, _) | ("products/{id}/variations/batch", true, _) => {
            batch(&mut s, body.unwrap_or_default())
        }
        ("reports/orders/totals", _, true) => {
            let mut counts: BTreeMap<String, u64> = [
                "pending",
                "processing",
                "on-hold",
                "completed",
                "cancelled",
                "refunded",
                "failed",
            ]
            .iter()
            .map(|k| (k.to_string(), 0))
            .collect();
            for o in s.shop.orders.values() {
                if let Some(st) = o["status"].as_str() {
                    *counts.entry(st.to_string()).or_default() += 1;
                }
            }
            let names = |k: &str| match k {
                "pending" => "En attente de paiement",
                "processing" => "En cours",
                "on-hold" => "En attente",
                "completed" => "Terminée",
                "cancelled" => "Annulée",
                "refunded" => "Remboursée",
                "failed" => "Échouée",
                _ => "Autre",
            };
            ok(Value::Array(
                counts
                    .iter()
                    .map(|(k, n)| json!({"slug": k, "name": names(k), "total": n}))
                    .collect(),
            ))
        }
        ("taxes", _, true) => ok(json!([
            {"id": 1, "country": "FR", "rate": "20.0000", "name": "TVA 20 %", "class": "standard"},
            {"id": 2, "country": "FR", "rate": "10.0000", "name": "TVA 10 %", "class": "reduced-rate"},
            {"id": 3, "country": "FR", "rate": "5.5000", "name": "TVA 5,5 %", "class": "reduced-rate"},
            {"id": 4, "country": "FR", "rate": "2.1000", "name": "TVA 2,1 %", "class": "super-reduced-rate"},
        ])),
        ("shipping_methods", _, true) => ok(json!([
            {"id": "flat_rate", "title": "Forfait", "description": ""},
            {"id": "free_shipping", "title": "Livraison gratuite", "description": ""},
            {"id": "local_pickup", "title": "Retrait en boutique", "description": ""},
        ])),
        ("payment_gateways", _, true) => ok(json!([
            {"id": "bacs", "title": "Virement bancaire", "enabled": true},
            {"id": "cheque", "title": "Chèque", "enabled": true},
            {"id": "cod", "title": "Paiement à la livraison", "enabled": false},
            {"id": "stripe", "title": "Carte bancaire", "enabled": true},
            {"id": "ppcp-gateway", "title": "PayPal", "enabled": true},
        ])),
        ("data/currencies/current", _, true) => {
            ok(json!({"code": "EUR", "name": "Euro", "symbol": "&euro;"}))
        }
        ("data/countries", _, true) => ok(json!([
            {"code": "BE", "name": "Belgique", "states": []},
            {"code": "DE", "name": "Allemagne", "states": []},
            {"code": "FR", "name": "France", "states": []},
            {"code": "US", "name": "États-Unis (US)", "states": []},
        ])),
        _ => error(
            StatusCode::NOT_FOUND,
            "rest_no_route",
            "No route was found matching the URL and request method.",
        ),
    }
}

fn invalid_order() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "woocommerce_rest_shop_order_invalid_id",
        "Invalid ID.",
    )
}

/// An answer cut in the middle (a proxy or PHP fatal error mid-output).
fn cut(o: &Value) -> Response {
    let t = o.to_string();
    let half = t.len() / 2;
    let mut end = half;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=UTF-8")],
        t[..end].to_string(),
    )
        .into_response()
}

/// A list argument: `k=a,b`, or `k[]=a&k[]=b`.
fn list_param(params: &[(String, String)], k: &str) -> Vec<String> {
    let arr = format!("{k}[]");
    params
        .iter()
        .filter(|(n, _)| *n == k || *n == arr)
        .flat_map(|(_, v)| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

struct ParamError(String);

impl ParamError {
    fn response(self) -> Response {
        error(StatusCode::BAD_REQUEST, "rest_invalid_param", &self.0)
    }
}

/// `page` and `per_page` as WordPress checks them.
fn paging(params: &[(String, String)]) -> Result<(usize, usize), ParamError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let page = match get("page") {
        None => 1,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| ParamError("Invalid parameter(s): page".into()))?,
    };
    let per_page = match get("per_page") {
        None => 10,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|p| (1..=100).contains(p))
            .ok_or_else(|| ParamError("Invalid parameter(s): per_page".into()))?,
    };
    Ok((page, per_page))
}

/// One page of `rows` with WordPress's headers.
fn paged(rows: Vec<Value>, params: &[(String, String)], uri: &Uri) -> Response {
    let (page, per_page) = match paging(params) {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let total = rows.len();
    let pages = total.div_ceil(per_page);
    let items: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut r = ok(Value::Array(items));
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        h.insert("x-wp-total", v);
    }
    if let Ok(v) = HeaderValue::from_str(&pages.to_string()) {
        h.insert("x-wp-totalpages", v);
    }
    let base = uri.path();
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{base}?page={}>; rel=\"prev\"", page - 1));
    }
    if page < pages {
        links.push(format!("<{base}?page={}>; rel=\"next\"", page + 1));
    }
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        if !links.is_empty() {
            h.insert("link", v);
        }
    }
    r
}

/// A date filter, in the site time zone unless `gmt`.
fn filter_date(v: &str, gmt: bool) -> Option<NaiveDateTime> {
    let v = v.trim();
    let d = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(v)
                .ok()
                .map(|d| d.naive_utc())
        })?;
    Some(if gmt {
        d
    } else {
        d - Duration::hours(SITE_OFFSET_HOURS)
    })
}

fn list_orders(s: &mut SimState, params: &[(String, String)]) -> Response {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (page, per_page) = match paging(params) {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let gmt = get("dates_are_gmt").is_some_and(|v| v == "true" || v == "1");
    let mut bounds = Vec::new();
    for (k, field, after) in [
        ("after", "date_created_gmt", true),
        ("before", "date_created_gmt", false),
        ("modified_after", "date_modified_gmt", true),
        ("modified_before", "date_modified_gmt", false),
    ] {
        if let Some(v) = get(k) {
            match filter_date(&v, gmt) {
                Some(d) => bounds.push((field, d, after)),
                None => {
                    return ParamError(format!("Invalid parameter(s): {k}")).response();
                }
            }
        }
    }
    let orderby = get("orderby").unwrap_or_else(|| "date".into());
    if !["date", "id", "include", "title", "slug", "modified"].contains(&orderby.as_str()) {
        return ParamError("Invalid parameter(s): orderby".into()).response();
    }
    let desc = get("order").is_none_or(|o| o != "asc");
    let statuses = list_param(params, "status");
    let include: HashSet<u64> = list_param(params, "include")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    let customer = get("customer").and_then(|v| v.parse::<u64>().ok());
    let mut rows: Vec<&Value> = s
        .shop
        .orders
        .values()
        .filter(|o| {
            let st = o["status"].as_str().unwrap_or("");
            (statuses.is_empty()
                || statuses.iter().any(|x| x == "any" && st != "trash")
                || statuses.iter().any(|x| x == st))
                && (include.is_empty() || o["id"].as_u64().is_some_and(|i| include.contains(&i)))
                && customer.is_none_or(|c| o["customer_id"].as_u64() == Some(c))
                && bounds.iter().all(|(f, d, after)| {
                    let v = o[*f]
                        .as_str()
                        .and_then(|x| NaiveDateTime::parse_from_str(x, "%Y-%m-%dT%H:%M:%S").ok());
                    match v {
                        None => false,
                        Some(v) if *after => v > *d,
                        Some(v) => v < *d,
                    }
                })
        })
        .collect();
    let sort_key = |o: &Value| -> String {
        match orderby.as_str() {
            "id" | "include" => format!("{:020}", o["id"].as_u64().unwrap_or(0)),
            "modified" => o["date_modified_gmt"].as_str().unwrap_or("").to_string(),
            _ => o["date_created_gmt"].as_str().unwrap_or("").to_string(),
        }
    };
    // Ties: by id normally (what current core appends); in the unstable mode, by a hash of
    // (id, page), so the rows sharing a key are shuffled differently on each page.
    let unstable = s.config.unstable_order;
    let tie = |o: &Value| -> u64 {
        let id = o["id"].as_u64().unwrap_or(0);
        if unstable {
            let mut x = id ^ (page as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        } else {
            id
        }
    };
    rows.sort_by(|a, b| {
        let k = sort_key(a).cmp(&sort_key(b));
        let k = if desc { k.reverse() } else { k };
        k.then_with(|| tie(a).cmp(&tie(b)))
    });
    let fields: Vec<String> = list_param(params, "_fields");
    let total = rows.len();
    let pages = total.div_ceil(per_page);
    let window: Vec<&Value> = rows
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let cut_at = if fields.is_empty() {
        window
            .iter()
            .position(|o| o["id"].as_u64().is_some_and(|i| s.corrupt.contains(&i)))
    } else {
        None
    };
    let items: Vec<Value> = window
        .iter()
        .map(|o| {
            if fields.is_empty() {
                (*o).clone()
            } else {
                let mut m = Map::new();
                for f in &fields {
                    if let Some(v) = o.get(f) {
                        m.insert(f.clone(), v.clone());
                    }
                }
                Value::Object(m)
            }
        })
        .collect();
    let mut r = match cut_at {
        Some(_) => cut(&Value::Array(items)),
        None => ok(Value::Array(items)),
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        h.insert("x-wp-total", v);
    }
    if let Ok(v) = HeaderValue::from_str(&pages.to_string()) {
        h.insert("x-wp-totalpages", v);
    }
    r
}

/// Merges `meta_data` entries by key (WooCommerce updates an existing key, adds a new one).
fn merge_meta(target: &mut Value, entries: &Value) {
    let mut list = target["meta_data"].as_array().cloned().unwrap_or_default();
    for e in entries.as_array().into_iter().flatten() {
        let Some(k) = e.get("key").and_then(Value::as_str) else {
            continue;
        };
        let v = e.get("value").cloned().unwrap_or(Value::Null);
        match list.iter_mut().find(|m| m["key"] == k) {
            Some(m) => m["value"] = v,
            None => {
                let id = list.len() as u64 + 100;
                list.push(json!({"id": id, "key": k, "value": v}));
            }
        }
    }
    target["meta_data"] = Value::Array(list);
}

const STATUSES: &[&str] = &[
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
];

fn update_order(s: &mut SimState, id: u64, body: Value) -> Response {
    let Some(o) = s.shop.orders.get_mut(&id) else {
        return invalid_order();
    };
    if let Some(st) = body.get("status") {
        let Some(st) = st.as_str().filter(|x| STATUSES.contains(x)) else {
            return ParamError("Invalid parameter(s): status".into()).response();
        };
        o["status"] = json!(st);
    }
    if let Some(m) = body.get("meta_data") {
        merge_meta(o, m);
    }
    if let Some(n) = body.get("customer_note").and_then(Value::as_str) {
        o["customer_note"] = json!(n);
    }
    set_dates(o, "date_modified", now_utc());
    ok(o.clone())
}

/// Applies a product update; `Err` with WooCommerce's message.
fn apply_product(s: &mut SimState, id: u64, b: &Value) -> Result<Value, ParamError> {
    let Some(p) = s.shop.products.get_mut(&id) else {
        return Err(ParamError("Invalid ID.".into()));
    };
    if let Some(q) = b.get("stock_quantity") {
        let q = q
            .as_i64()
            .or_else(|| q.as_str().and_then(|x| x.trim().parse().ok()))
            .ok_or_else(|| ParamError("Invalid parameter(s): stock_quantity".into()))?;
        p["stock_quantity"] = json!(q);
        p["stock_status"] = json!(if q > 0 { "instock" } else { "outofstock" });
    }
    if let Some(m) = b.get("manage_stock") {
        p["manage_stock"] = json!(m.as_bool().unwrap_or(false));
    }
    if let Some(v) = b.get("regular_price") {
        // Prices are strings in WooCommerce's schema.
        let v = v
            .as_str()
            .filter(|x| x.trim().parse::<f64>().is_ok())
            .ok_or_else(|| ParamError("Invalid parameter(s): regular_price".into()))?;
        p["regular_price"] = json!(v);
        p["price"] = json!(v);
    }
    if let Some(v) = b.get("status").and_then(Value::as_str) {
        p["status"] = json!(v);
    }
    p["date_modified_gmt"] = json!(render::date(now_utc()));
    Ok(p.clone())
}

fn batch(s: &mut SimState, body: Value) -> Response {
    let part = |k: &str| {
        body.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (create, update, delete) = (part("create"), part("update"), part("delete"));
    let n = create.len() + update.len() + delete.len();
    s.batch_sizes.push(n);
    if n > s.config.batch_limit {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "woocommerce_rest_request_entity_too_large",
            &format!(
                "Unable to accept more than {} items for this request.",
                s.config.batch_limit
            ),
        );
    }
    let mut updated = Vec::new();
    for item in update {
        let id = item.get("id").and_then(Value::as_u64).unwrap_or(0);
        let sku = s
            .shop
            .products
            .get(&id)
            .and_then(|p| p["sku"].as_str())
            .unwrap_or("")
            .to_string();
        let result = if s.failing.contains(&sku) {
            Err(ParamError(
                "Le produit est verrouillé par une autre modification.".into(),
            ))
        } else {
            apply_product(s, id, &item)
        };
        updated.push(match result {
            Ok(p) => p,
            Err(ParamError(m)) => json!({"id": id, "error": {
                "code": if m == "Invalid ID." { "woocommerce_rest_product_invalid_id" } else { "woocommerce_rest_invalid_product" },
                "message": m, "data": {"status": 400}}}),
        });
    }
    let refused = |items: Vec<Value>| -> Vec<Value> {
        items
            .iter()
            .map(|i| json!({"id": i.get("id").cloned().unwrap_or(json!(0)), "error": {
                "code": "woocommerce_rest_cannot_create", "message": "Not supported by this simulator.",
                "data": {"status": 400}}}))
            .collect()
    };
    let mut out = json!({"update": updated});
    if !create.is_empty() {
        out["create"] = Value::Array(refused(create));
    }
    if !delete.is_empty() {
        out["delete"] = Value::Array(refused(delete));
    }
    ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_seed_renders_as_woocommerce_orders() {
        let seed = Seed::demo(30).with_broken();
        let (shop, broken) = WooShop::from_seed(&seed);
        assert_eq!(shop.orders.len(), 32);
        assert_eq!(broken.len(), 2);
        assert!(
            shop.orders.values().any(|o| o["customer_id"] == 0),
            "guests"
        );
        assert!(shop
            .orders
            .values()
            .any(|o| !o["coupon_lines"].as_array().is_some_and(Vec::is_empty)));
        for o in shop.orders.values() {
            assert!(o["total"].as_str().is_some(), "amounts are strings");
        }
    }

    #[test]
    fn query_strings_decode_lists_and_escapes() {
        let uri: Uri = "/x?status=processing%2Con-hold&status[]=completed&a=b+c"
            .parse()
            .expect("uri");
        let p = parse_query(&uri);
        assert_eq!(
            list_param(&p, "status"),
            vec!["processing", "on-hold", "completed"]
        );
        assert_eq!(p[2], ("a".into(), "b c".into()));
    }
}
