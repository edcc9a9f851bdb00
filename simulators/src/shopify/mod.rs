//! In-process simulator of the Shopify Admin GraphQL API (version 2026-04) for tests, benches
//! and the demo.
//!
//! Faithful where the client depends on it (platforms.md §0.3, §0.4 and §3, "Simulator must
//! reproduce"; `specs/shopify/admin-2026-04.graphql`, SHOP-sdl):
//! * one endpoint, `POST /admin/api/{version}/graphql.json`, answered as 2026-04 (header
//!   `X-Shopify-API-Version`); `X-Shopify-Access-Token` missing or wrong → **401** with
//!   Shopify's `{"errors": "[API] Invalid API key or access token …"}`;
//! * every document is parsed and validated (apollo-compiler) against the simulator's own
//!   schema, `schema.graphql` (the subset of the published schema it serves): an unknown
//!   field, a wrong argument or type → `errors[]` with **HTTP 200**, no `data`;
//! * cost (`exec.rs`): `extensions.cost {requestedQueryCost, actualQueryCost,
//!   throttleStatus {maximumAvailable, currentlyAvailable, restoreRate}}` on every answer;
//!   requested cost above 1,000 → `MAX_COST_EXCEEDED` before running; a **leaky bucket**
//!   (default 2,000 points restoring 100/s, the Standard plan) debited the requested cost
//!   and refunded the unused part; a request costing more than what is left is not run:
//!   HTTP 200, `errors: [{message: "Throttled", extensions: {code: "THROTTLED"}}]`;
//! * connections with `first` ≤ 250 (above: an error), opaque cursors, `pageInfo`;
//!   `orders(query:)` with the search terms `id:>N`, `updated_at:>=…`, `created_at:<=…`,
//!   `sortKey` `ID` / `UPDATED_AT` / `CREATED_AT`; `productVariants(query: "sku:… OR …")`;
//! * mutations: `metafieldsSet` (≤ 25 per call) and `inventorySetQuantities` (≤ 250
//!   quantities, `changeFromQuantity` required — null skips the compare — and stale →
//!   `CHANGE_FROM_QUANTITY_STALE`; the `@idempotent(key:)` directive required: the same key
//!   with the same input answers the first answer again without changing anything, the same
//!   key with another input → `IDEMPOTENCY_KEY_PARAMETER_MISMATCH`); business errors in
//!   `userErrors` with HTTP 200, the whole mutation then changing nothing.
//!
//! Test controls: [`ShopifySim::stats`] (throttled answers, lowest bucket level, applied
//! inventory changes per item, replays), [`ShopifySim::drain_bucket`].

mod exec;
pub mod render;

use crate::seed::Seed;
use apollo_compiler::executable::{Field, Operation, OperationType};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::task::JoinHandle;

/// The API version the simulator serves (and reports).
pub const API_VERSION: &str = "2026-04";
/// The access token [`ShopifySim::start_demo`] accepts (`shpat_` + 32 hex, like a real one).
pub const DEMO_TOKEN: &str = "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";
/// The single-query cost limit.
pub const MAX_QUERY_COST: u64 = 1000;
/// The largest input array a mutation takes.
pub const MAX_INPUT_ITEMS: usize = 250;
/// The simulator's one location.
pub const LOCATION_ID: &str = "gid://shopify/Location/1";

const SCHEMA_SDL: &str = include_str!("schema.graphql");

/// Reasons `inventorySetQuantities` accepts (shopify.dev "quantities states", SHOP-sdl).
const REASONS: &[&str] = &[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];

/// Bucket size and restore rate.
#[derive(Debug, Clone)]
pub struct ShopifySimConfig {
    /// The accepted access token.
    pub token: String,
    /// Bucket size in points (`maximumAvailable`).
    pub bucket_size: f64,
    /// Points restored per second (`restoreRate`).
    pub restore_rate: f64,
}

impl Default for ShopifySimConfig {
    fn default() -> Self {
        Self {
            token: DEMO_TOKEN.into(),
            bucket_size: 2000.0,
            restore_rate: 100.0,
        }
    }
}

/// What the simulator saw (test assertions).
#[derive(Debug, Clone, Default)]
pub struct ShopifyStats {
    /// Requests answered (any outcome, 401 excluded).
    pub requests: u64,
    /// Answers `THROTTLED`.
    pub throttled: u64,
    /// Answers `MAX_COST_EXCEEDED`.
    pub too_costly: u64,
    /// Lowest bucket level after a debit (never below 0: the bucket is never over-drawn).
    pub lowest_level: f64,
    /// Points actually used (sum of actual costs).
    pub points_used: u64,
    /// `inventorySetQuantities` calls that changed quantities.
    pub inventory_sets: u64,
    /// Replayed `inventorySetQuantities` (same idempotency key and input).
    pub replays: u64,
    /// Applied quantity changes per SKU (how many times a set reached each item).
    pub sets_per_sku: BTreeMap<String, u32>,
    /// Calls per root field (`orders`, `metafieldsSet`…).
    pub calls: BTreeMap<String, u64>,
}

/// One variant with its inventory item.
#[derive(Debug, Clone)]
struct Variant {
    id: String,
    sku: String,
    item_id: String,
    available: i64,
}

struct Bucket {
    max: f64,
    rate: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self) {
        let now = Instant::now();
        self.level =
            (self.level + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.max);
        self.at = now;
    }
    fn status(&self) -> Value {
        json!({
            "maximumAvailable": self.max,
            "currentlyAvailable": self.level.floor(),
            "restoreRate": self.rate,
        })
    }
}

struct SimState {
    token: String,
    schema: Valid<Schema>,
    orders: Vec<Value>,
    variants: Vec<Variant>,
    metafields: BTreeMap<(String, String, String), (String, String)>,
    idempotency: HashMap<String, (Value, Value)>,
    groups: u64,
    drain_next: u32,
    bucket: Bucket,
    stats: ShopifyStats,
}

fn lock(m: &Mutex<SimState>) -> std::sync::MutexGuard<'_, SimState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running simulator (stopped when dropped).
pub struct ShopifySim {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
    task: JoinHandle<()>,
}

impl Drop for ShopifySim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The simulator's schema, parsed and validated.
pub fn schema() -> Result<Valid<Schema>, String> {
    Schema::parse_and_validate(SCHEMA_SDL, "shopify-sim.graphql").map_err(|e| e.errors.to_string())
}

/// The requested cost the simulator computes for `query` with `variables` (mutations: 10
/// per root field), or its validation errors.
pub fn requested_cost(query: &str, variables: &Value) -> Result<u64, String> {
    let schema = schema()?;
    let doc = ExecutableDocument::parse_and_validate(&schema, query, "query.graphql")
        .map_err(|e| e.errors.to_string())?;
    let op = doc
        .operations
        .get(None)
        .map_err(|e| e.message().to_string())?;
    let vars = variables.as_object().cloned().unwrap_or_default();
    Ok(match op.operation_type {
        OperationType::Mutation => 10 * exec::fields(&op.selection_set).len() as u64,
        _ => exec::selection_cost(&schema, &op.selection_set, &vars),
    })
}

impl ShopifySim {
    /// Serves `seed` on `addr` with `config`.
    pub async fn start_at(
        seed: &Seed,
        config: ShopifySimConfig,
        addr: SocketAddr,
    ) -> std::io::Result<ShopifySim> {
        let schema = schema().map_err(std::io::Error::other)?;
        let orders = seed
            .orders
            .iter()
            .enumerate()
            .map(|(i, o)| render::order(seed, i as u64 + 1, o))
            .collect();
        let variants = seed
            .articles
            .iter()
            .enumerate()
            .map(|(i, a)| Variant {
                id: format!("gid://shopify/ProductVariant/{}", i + 1),
                sku: a.reference.clone(),
                item_id: format!("gid://shopify/InventoryItem/{}", i + 1),
                available: a.stock,
            })
            .collect();
        let state = Arc::new(Mutex::new(SimState {
            token: config.token,
            schema,
            orders,
            variants,
            metafields: BTreeMap::new(),
            idempotency: HashMap::new(),
            groups: 0,
            drain_next: 0,
            bucket: Bucket {
                max: config.bucket_size,
                rate: config.restore_rate,
                level: config.bucket_size,
                at: Instant::now(),
            },
            stats: ShopifyStats {
                lowest_level: config.bucket_size,
                ..ShopifyStats::default()
            },
        }));
        let app = Router::new()
            .route("/admin/api/{version}/graphql.json", post(graphql))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(ShopifySim { addr, state, task })
    }

    /// The demo seed with `n` orders plus the broken ones, default limits, on a free port.
    pub async fn start_demo(n: usize) -> std::io::Result<ShopifySim> {
        Self::start_at(
            &Seed::demo(n).with_broken(),
            ShopifySimConfig::default(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
    }

    /// The shop's URL (the client appends `/admin/api/{version}/graphql.json`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The accepted access token.
    pub fn token(&self) -> String {
        lock(&self.state).token.clone()
    }

    /// What the simulator saw so far.
    pub fn stats(&self) -> ShopifyStats {
        lock(&self.state).stats.clone()
    }

    /// Adds `n` articles `SKU-00001`… with quantity `stock` (bulk stock tests).
    pub fn add_articles(&self, n: usize, stock: i64) {
        let mut s = lock(&self.state);
        let base = s.variants.len();
        for i in 0..n {
            let k = base + i + 1;
            s.variants.push(Variant {
                id: format!("gid://shopify/ProductVariant/{k}"),
                sku: format!("SKU-{:05}", i + 1),
                item_id: format!("gid://shopify/InventoryItem/{k}"),
                available: stock,
            });
        }
    }

    /// The available quantity of `sku`.
    pub fn available(&self, sku: &str) -> Option<i64> {
        lock(&self.state)
            .variants
            .iter()
            .find(|v| v.sku == sku)
            .map(|v| v.available)
    }

    /// The value of metafield `namespace.key` of the order with numeric id `order`.
    pub fn order_metafield(&self, order: u64, namespace: &str, key: &str) -> Option<String> {
        lock(&self.state)
            .metafields
            .get(&(
                format!("gid://shopify/Order/{order}"),
                namespace.to_string(),
                key.to_string(),
            ))
            .map(|(_, v)| v.clone())
    }

    /// Empties the bucket just before each of the next `n` requests (as another app of the
    /// shop spending it would): each of them is throttled.
    pub fn drain_before_next(&self, n: u32) {
        lock(&self.state).drain_next = n;
    }

    /// Empties the bucket (as another app of the shop would): the next requests are throttled
    /// until it restores.
    pub fn drain_bucket(&self) {
        let mut s = lock(&self.state);
        s.bucket.refill();
        s.bucket.level = 0.0;
    }
}

fn api_error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn graphql(
    State(state): State<Arc<Mutex<SimState>>>,
    Path(_version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = lock(&state);
    let token_ok = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == s.token);
    if !token_ok {
        return api_error(
            StatusCode::UNAUTHORIZED,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        );
    }
    s.stats.requests += 1;
    let mut resp = answer(&mut s, &body).into_response();
    resp.headers_mut().insert(
        "x-shopify-api-version",
        HeaderValue::from_static(API_VERSION),
    );
    resp
}

fn answer(s: &mut SimState, body: &[u8]) -> Response {
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                json!({"errors": {"query": "Required parameter missing or invalid"}}),
            )
        }
    };
    let Some(query) = req.get("query").and_then(Value::as_str) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            json!({"errors": {"query": "Required parameter missing or invalid"}}),
        );
    };
    let vars: Map<String, Value> = req
        .get("variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let doc = match ExecutableDocument::parse_and_validate(&s.schema, query, "query.graphql") {
        Ok(d) => d,
        Err(e) => {
            let errors: Vec<Value> = e
                .errors
                .iter()
                .map(|d| {
                    let mut v = serde_json::to_value(d.to_json()).unwrap_or(Value::Null);
                    if let Some(o) = v.as_object_mut() {
                        o.insert(
                            "extensions".into(),
                            json!({"code": "GRAPHQL_VALIDATION_FAILED"}),
                        );
                    }
                    v
                })
                .collect();
            return ok(json!({"errors": errors}));
        }
    };
    let op_name = req.get("operationName").and_then(Value::as_str);
    let op = match doc.operations.get(op_name) {
        Ok(op) => op.clone(),
        Err(e) => return ok(json!({"errors": [{"message": e.message().to_string()}]})),
    };
    let requested = match op.operation_type {
        OperationType::Mutation => 10 * exec::fields(&op.selection_set).len() as u64,
        _ => exec::selection_cost(&s.schema, &op.selection_set, &vars),
    };
    if requested > MAX_QUERY_COST {
        s.stats.too_costly += 1;
        return ok(json!({
            "errors": [{
                "message": format!("Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"),
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST},
            }],
            "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": Value::Null, "throttleStatus": s.bucket.status()}},
        }));
    }
    s.bucket.refill();
    if s.drain_next > 0 {
        // Another app of the shop spent the bucket just before this request.
        s.drain_next -= 1;
        s.bucket.level = 0.0;
    }
    if (requested as f64) > s.bucket.level {
        s.stats.throttled += 1;
        return ok(json!({
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": Value::Null, "throttleStatus": s.bucket.status()}},
        }));
    }
    s.bucket.level -= requested as f64;
    s.stats.lowest_level = s.stats.lowest_level.min(s.bucket.level);
    for f in exec::fields(&op.selection_set) {
        *s.stats.calls.entry(f.name.to_string()).or_insert(0) += 1;
    }
    let data = match op.operation_type {
        OperationType::Mutation => mutate(s, &op, &vars),
        _ => query_root(s, &op, &vars),
    };
    let data = match data {
        Ok(d) => d,
        Err(message) => {
            // A field error: the points stay spent, as on Shopify.
            return ok(json!({
                "errors": [{"message": message}],
                "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": requested, "throttleStatus": s.bucket.status()}},
            }));
        }
    };
    let actual = match op.operation_type {
        OperationType::Mutation => requested,
        _ => exec::actual_cost(&s.schema, &op.selection_set, &data).min(requested),
    };
    s.bucket.level = (s.bucket.level + (requested - actual) as f64).min(s.bucket.max);
    s.stats.points_used += actual;
    ok(json!({
        "data": data,
        "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": s.bucket.status()}},
    }))
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// One term of Shopify's search syntax: `field:value`, `field:>=value`…
#[derive(Debug)]
struct Term {
    field: String,
    op: &'static str,
    value: String,
}

/// Splits a search query into terms (quotes respected; `OR` and `AND` words dropped: the
/// caller knows which one it means).
fn terms(q: &str) -> Vec<Term> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut tokens = Vec::new();
    for ch in q.chars() {
        if escaped {
            cur.push(ch);
            escaped = false;
            continue;
        }
        match (quote, ch) {
            (Some(_), '\\') => escaped = true,
            (Some(qc), c) if c == qc => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"') | (None, '\'') => quote = Some(ch),
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    for t in tokens {
        if t == "OR" || t == "AND" {
            continue;
        }
        let Some((field, rest)) = t.split_once(':') else {
            continue;
        };
        let (op, value) = [">=", "<=", ">", "<"]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
            .unwrap_or(("=", rest));
        out.push(Term {
            field: field.to_string(),
            op,
            value: value.to_string(),
        });
    }
    out
}

fn legacy_id(gid: &str) -> u64 {
    gid.rsplit('/')
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

fn date(v: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|d| d.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|d| d.and_utc())
        })
}

fn compare<T: PartialOrd>(a: T, op: &str, b: T) -> bool {
    match op {
        ">=" => a >= b,
        "<=" => a <= b,
        ">" => a > b,
        "<" => a < b,
        _ => a == b,
    }
}

fn order_matches(o: &Value, terms: &[Term]) -> bool {
    terms.iter().all(|t| match t.field.as_str() {
        "id" => t
            .value
            .parse::<u64>()
            .is_ok_and(|v| compare(legacy_id(o["id"].as_str().unwrap_or("")), t.op, v)),
        "updated_at" | "created_at" => {
            let member = if t.field == "updated_at" {
                "updatedAt"
            } else {
                "createdAt"
            };
            match (o[member].as_str().and_then(date), date(&t.value)) {
                (Some(a), Some(b)) => compare(a, t.op, b),
                _ => false,
            }
        }
        // Unknown search fields are ignored by Shopify's search (with a warning).
        _ => true,
    })
}

fn query_root(
    s: &mut SimState,
    op: &Operation,
    vars: &Map<String, Value>,
) -> Result<Value, String> {
    let root = json!({"__root": true});
    let special = |parent: &Value, f: &Field| -> Option<Value> { resolve(s, parent, f, vars) };
    exec::project(&op.selection_set, &root, vars, &special)
}

/// Fields whose value depends on their arguments.
fn resolve(s: &SimState, parent: &Value, f: &Field, vars: &Map<String, Value>) -> Option<Value> {
    let is_root = parent.get("__root").is_some();
    match (is_root, f.name.as_str()) {
        (true, "shop") => Some(json!({
            "name": "Maison Démo", "currencyCode": render::SHOP_CURRENCY,
            "ianaTimezone": "Europe/Paris", "myshopifyDomain": "maison-demo.myshopify.com",
            "taxesIncluded": false,
        })),
        (true, "orders") => {
            let q = exec::arg(f, "query", vars);
            let t = terms(q.as_str().unwrap_or(""));
            let mut list: Vec<Value> = s
                .orders
                .iter()
                .filter(|o| order_matches(o, &t))
                .cloned()
                .collect();
            let key = exec::arg(f, "sortKey", vars);
            let member = match key.as_str().unwrap_or("PROCESSED_AT") {
                "ID" => "",
                "UPDATED_AT" => "updatedAt",
                "CREATED_AT" => "createdAt",
                _ => "processedAt",
            };
            list.sort_by(|a, b| {
                let ka = (
                    a[member].as_str().unwrap_or("").to_string(),
                    legacy_id(a["id"].as_str().unwrap_or("")),
                );
                let kb = (
                    b[member].as_str().unwrap_or("").to_string(),
                    legacy_id(b["id"].as_str().unwrap_or("")),
                );
                ka.cmp(&kb)
            });
            if exec::arg(f, "reverse", vars).as_bool() == Some(true) {
                list.reverse();
            }
            Some(Value::Array(list))
        }
        (true, "order") => {
            let id = exec::arg(f, "id", vars);
            Some(
                s.orders
                    .iter()
                    .find(|o| o["id"] == id)
                    .cloned()
                    .unwrap_or(Value::Null),
            )
        }
        (true, "productVariants") => {
            let q = exec::arg(f, "query", vars);
            let t = terms(q.as_str().unwrap_or(""));
            let skus: Vec<&str> = t
                .iter()
                .filter(|t| t.field == "sku")
                .map(|t| t.value.as_str())
                .collect();
            Some(Value::Array(
                s.variants
                    .iter()
                    .filter(|v| skus.is_empty() || skus.contains(&v.sku.as_str()))
                    .map(|v| json!({"id": v.id, "sku": v.sku, "inventoryItem": {"id": v.item_id, "sku": v.sku}}))
                    .collect(),
            ))
        }
        (true, "locations") => {
            Some(json!([{"id": LOCATION_ID, "name": "Entrepôt", "isActive": true}]))
        }
        (false, "metafield") => {
            let owner = parent.get("id")?.as_str()?.to_string();
            let ns = exec::arg(f, "namespace", vars)
                .as_str()
                .unwrap_or("app")
                .to_string();
            let key = exec::arg(f, "key", vars).as_str().unwrap_or("").to_string();
            Some(
                s.metafields
                    .get(&(owner.clone(), ns.clone(), key.clone()))
                    .map(|(ty, v)| json!({"id": format!("gid://shopify/Metafield/{}", owner.len()), "namespace": ns, "key": key, "value": v, "type": ty}))
                    .unwrap_or(Value::Null),
            )
        }
        (false, "inventoryLevel") => {
            let item = parent.get("id")?.as_str()?;
            let loc = exec::arg(f, "locationId", vars);
            if loc.as_str() != Some(LOCATION_ID) {
                return Some(Value::Null);
            }
            let v = s.variants.iter().find(|v| v.item_id == item)?;
            Some(json!({
                "id": format!("gid://shopify/InventoryLevel/{}?inventory_item_id={}", 1, legacy_id(item)),
                "quantities": [{"name": "available", "quantity": v.available}, {"name": "on_hand", "quantity": v.available}],
            }))
        }
        (false, "quantities") => {
            let names = exec::arg(f, "names", vars);
            let wanted: Vec<&str> = names
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let all = parent.get("quantities")?.as_array()?;
            Some(Value::Array(
                all.iter()
                    .filter(|q| q["name"].as_str().is_some_and(|n| wanted.contains(&n)))
                    .cloned()
                    .collect(),
            ))
        }
        _ => None,
    }
}

fn user_error(field: &[&str], message: &str, code: Option<&str>) -> Value {
    json!({"field": field, "message": message, "code": code})
}

fn mutate(s: &mut SimState, op: &Operation, vars: &Map<String, Value>) -> Result<Value, String> {
    let mut data = Map::new();
    for f in exec::fields(&op.selection_set) {
        let payload = match f.name.as_str() {
            "metafieldsSet" => metafields_set(s, f, vars)?,
            "inventorySetQuantities" => inventory_set(s, f, vars)?,
            other => return Err(format!("Field '{other}' is not served by this simulator")),
        };
        let special = |parent: &Value, f: &Field| -> Option<Value> { resolve(s, parent, f, vars) };
        let v = exec::project(&f.selection_set, &payload, vars, &special)?;
        data.insert(f.response_key().to_string(), v);
    }
    Ok(Value::Object(data))
}

fn owner_exists(s: &SimState, owner: &str) -> bool {
    if owner.starts_with("gid://shopify/Order/") {
        s.orders.iter().any(|o| o["id"] == owner)
    } else if owner.starts_with("gid://shopify/Customer/") {
        s.orders
            .iter()
            .any(|o| o["customer"]["id"].as_str() == Some(owner))
    } else {
        false
    }
}

fn metafields_set(s: &mut SimState, f: &Field, vars: &Map<String, Value>) -> Result<Value, String> {
    let input = exec::arg(f, "metafields", vars);
    let list = input.as_array().cloned().unwrap_or_default();
    if list.len() > 25 {
        return Ok(
            json!({"metafields": Value::Null, "userErrors": [user_error(&["metafields"], "Exceeded the maximum metafields input limit of 25.", Some("LESS_THAN_OR_EQUAL_TO"))]}),
        );
    }
    let mut errors = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let idx = i.to_string();
        let owner = m["ownerId"].as_str().unwrap_or("");
        if !owner_exists(s, owner) {
            errors.push(user_error(
                &["metafields", &idx, "ownerId"],
                "Owner does not exist.",
                Some("INVALID_VALUE"),
            ));
        }
        if m["key"].as_str().is_none_or(|k| k.len() < 2) {
            errors.push(user_error(
                &["metafields", &idx, "key"],
                "Key is too short (minimum is 2 characters)",
                Some("TOO_SHORT"),
            ));
        }
        if m["value"].as_str().is_none_or(str::is_empty) {
            errors.push(user_error(
                &["metafields", &idx, "value"],
                "Value can't be blank.",
                Some("BLANK"),
            ));
        }
    }
    if !errors.is_empty() {
        return Ok(json!({"metafields": Value::Null, "userErrors": errors}));
    }
    let mut out = Vec::new();
    for m in list {
        let owner = m["ownerId"].as_str().unwrap_or("").to_string();
        let ns = m["namespace"].as_str().unwrap_or("app").to_string();
        let key = m["key"].as_str().unwrap_or("").to_string();
        let ty = m["type"]
            .as_str()
            .unwrap_or("single_line_text_field")
            .to_string();
        let value = m["value"].as_str().unwrap_or("").to_string();
        s.metafields.insert(
            (owner, ns.clone(), key.clone()),
            (ty.clone(), value.clone()),
        );
        out.push(json!({"id": "gid://shopify/Metafield/1", "namespace": ns, "key": key, "value": value, "type": ty}));
    }
    Ok(json!({"metafields": out, "userErrors": []}))
}

fn inventory_set(s: &mut SimState, f: &Field, vars: &Map<String, Value>) -> Result<Value, String> {
    let key = f
        .directives
        .get("idempotent")
        .and_then(|d| d.specified_argument_by_name("key"))
        .map(|v| exec::to_json(v, vars));
    let Some(key) = key
        .and_then(|k| k.as_str().map(str::to_string))
        .filter(|k| !k.trim().is_empty())
    else {
        return Err("The @idempotent directive with a non-blank key is required for inventorySetQuantities as of 2026-04.".into());
    };
    let input = exec::arg(f, "input", vars);
    if let Some((seen_input, seen_answer)) = s.idempotency.get(&key) {
        if *seen_input == input {
            s.stats.replays += 1;
            return Ok(seen_answer.clone());
        }
        return Ok(
            json!({"inventoryAdjustmentGroup": Value::Null, "userErrors": [user_error(&["input"], "The same idempotency key cannot be used with different operation parameters.", Some("IDEMPOTENCY_KEY_PARAMETER_MISMATCH"))]}),
        );
    }
    let quantities = input["quantities"].as_array().cloned().unwrap_or_default();
    if quantities.len() > MAX_INPUT_ITEMS {
        return Err(format!(
            "The input array size of {} is greater than the maximum allowed of {MAX_INPUT_ITEMS}.",
            quantities.len()
        ));
    }
    let mut errors = Vec::new();
    let name = input["name"].as_str().unwrap_or("");
    if name != "available" && name != "on_hand" {
        errors.push(user_error(
            &["input", "name"],
            "The quantity name must be either 'available' or 'on_hand'.",
            Some("INVALID_NAME"),
        ));
    }
    if !REASONS.contains(&input["reason"].as_str().unwrap_or("")) {
        errors.push(user_error(
            &["input", "reason"],
            "The specified reason is invalid.",
            Some("INVALID_REASON"),
        ));
    }
    let mut plan = Vec::new();
    for (i, q) in quantities.iter().enumerate() {
        let idx = i.to_string();
        let item = q["inventoryItemId"].as_str().unwrap_or("");
        let Some(pos) = s.variants.iter().position(|v| v.item_id == item) else {
            errors.push(user_error(
                &["input", "quantities", &idx, "inventoryItemId"],
                "The specified inventory item could not be found.",
                Some("INVALID_INVENTORY_ITEM"),
            ));
            continue;
        };
        if q["locationId"].as_str() != Some(LOCATION_ID) {
            errors.push(user_error(
                &["input", "quantities", &idx, "locationId"],
                "The specified location could not be found.",
                Some("INVALID_LOCATION"),
            ));
            continue;
        }
        let target = q["quantity"].as_i64().unwrap_or(0);
        if target > 1_000_000_000 {
            errors.push(user_error(
                &["input", "quantities", &idx, "quantity"],
                "The quantity can't be higher than 1,000,000,000.",
                Some("INVALID_QUANTITY_TOO_HIGH"),
            ));
            continue;
        }
        match q.get("changeFromQuantity") {
            None => errors.push(user_error(&["input", "quantities", &idx, "changeFromQuantity"], "changeFromQuantity is required: pass the expected quantity, or null to skip the check.", None)),
            Some(Value::Null) => plan.push((pos, target)),
            Some(v) => {
                if v.as_i64() != Some(s.variants[pos].available) {
                    errors.push(user_error(&["input", "quantities", &idx, "changeFromQuantity"], "The specified compare quantity does not match the current quantity.", Some("CHANGE_FROM_QUANTITY_STALE")));
                } else {
                    plan.push((pos, target));
                }
            }
        }
    }
    let answer = if errors.is_empty() {
        let mut changes = Vec::new();
        for (pos, target) in plan {
            let v = &mut s.variants[pos];
            let delta = target - v.available;
            v.available = target;
            *s.stats.sets_per_sku.entry(v.sku.clone()).or_insert(0) += 1;
            changes.push(json!({"name": name, "delta": delta, "quantityAfterChange": target, "item": {"id": v.item_id, "sku": v.sku}}));
        }
        s.groups += 1;
        s.stats.inventory_sets += 1;
        json!({
            "inventoryAdjustmentGroup": {"id": format!("gid://shopify/InventoryAdjustmentGroup/{}", s.groups), "reason": input["reason"], "changes": changes},
            "userErrors": [],
        })
    } else {
        json!({"inventoryAdjustmentGroup": Value::Null, "userErrors": errors})
    };
    s.idempotency.insert(key, (input, answer.clone()));
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_loads_and_search_terms_read() {
        assert!(schema().is_ok());
        let t = terms("updated_at:>='2025-01-06T09:00:00Z' id:>12 sku:\"A B\" OR sku:C");
        assert_eq!(t.len(), 4);
        assert_eq!((t[0].field.as_str(), t[0].op), ("updated_at", ">="));
        assert_eq!(t[0].value, "2025-01-06T09:00:00Z");
        assert_eq!(t[2].value, "A B");
    }
}
