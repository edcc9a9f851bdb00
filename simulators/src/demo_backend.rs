//! In-process simulator of the demo backend, with fault injection and call counters.
//!
//! * `GET /items` lists the items; the first `list_failures` calls answer 503, and when
//!   `list_retry_after` is set the next call answers 429 with that `Retry-After`.
//! * `POST /effects/{key}` applies an effect once per idempotency key (a repeated key
//!   returns the first effect with `replayed: true`); the first `effect_failures` calls
//!   answer 503.
//! * `GET /stats` returns the counters.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// One item the backend lists (`GET /items`), as the demo workflow reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoItem {
    /// Reference shown in progress lines.
    pub reference: String,
    /// Quantity; negative values are invalid input.
    pub quantity: i64,
}

/// The answer to an applied effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Receipt {
    /// Id of the effect (the same for a repeated idempotency key).
    effect_id: String,
    /// True when this key had already been applied.
    replayed: bool,
}

/// Simulator settings.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// Items served by `GET /items`.
    pub items: Vec<DemoItem>,
    /// How many first list calls fail with 503.
    pub list_failures: u32,
    /// Answer one list call (after the 503s) with 429 and this Retry-After (seconds).
    pub list_retry_after: Option<u64>,
    /// How many first effect calls fail with 503.
    pub effect_failures: u32,
}

/// Counters, readable from tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// `GET /items` calls.
    pub list_calls: u32,
    /// `POST /effects` calls.
    pub effect_calls: u32,
    /// Effects applied (distinct keys).
    pub effects_applied: u32,
    /// Calls per idempotency key.
    pub calls_per_key: HashMap<String, u32>,
}

#[derive(Default)]
struct Inner {
    cfg: SimConfig,
    stats: SimStats,
    effects: HashMap<String, String>,
    retry_after_sent: bool,
}

/// A running simulator.
pub struct DemoSim {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: JoinHandle<()>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn list(State(s): State<Shared>) -> Response {
    let mut g = lock(&s);
    g.stats.list_calls += 1;
    if g.stats.list_calls <= g.cfg.list_failures {
        return (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response();
    }
    if let (Some(secs), false) = (g.cfg.list_retry_after, g.retry_after_sent) {
        g.retry_after_sent = true;
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_str(&secs.to_string()).unwrap_or(HeaderValue::from_static("1")),
        );
        return (StatusCode::TOO_MANY_REQUESTS, h, "slow down").into_response();
    }
    Json(g.cfg.items.clone()).into_response()
}

async fn effect(
    State(s): State<Shared>,
    Path(key): Path<String>,
    Json(item): Json<DemoItem>,
) -> Response {
    let mut g = lock(&s);
    g.stats.effect_calls += 1;
    *g.stats.calls_per_key.entry(key.clone()).or_insert(0) += 1;
    if g.stats.effect_calls <= g.cfg.effect_failures {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    if let Some(id) = g.effects.get(&key) {
        return Json(Receipt {
            effect_id: id.clone(),
            replayed: true,
        })
        .into_response();
    }
    g.stats.effects_applied += 1;
    let id = format!("E{:05}-{}", g.stats.effects_applied, item.reference);
    g.effects.insert(key, id.clone());
    Json(Receipt {
        effect_id: id,
        replayed: false,
    })
    .into_response()
}

async fn stats(State(s): State<Shared>) -> Json<SimStats> {
    Json(lock(&s).stats.clone())
}

impl DemoSim {
    /// Starts the simulator on 127.0.0.1 at `port` (0 = any free port).
    pub async fn start(cfg: SimConfig, port: u16) -> std::io::Result<DemoSim> {
        let inner = Arc::new(Mutex::new(Inner {
            cfg,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/items", get(list))
            .route("/effects/{key}", post(effect))
            .route("/stats", get(stats))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(DemoSim { addr, inner, task })
    }

    /// Base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Current counters.
    pub fn stats(&self) -> SimStats {
        lock(&self.inner).stats.clone()
    }

    /// Seeded demo items: a few articles, one with a negative quantity.
    pub fn seed_items() -> Vec<DemoItem> {
        [
            ("TAPI-Gris-Pla", 4),
            ("TAPI-Bleu-Pla", 2),
            ("COUS-Lin-40", 12),
            ("PLAID-Laine", -3),
            ("RIDEAU-Voile", 7),
            ("LAMPE-Laiton", 1),
        ]
        .into_iter()
        .map(|(r, q)| DemoItem {
            reference: r.into(),
            quantity: q,
        })
        .collect()
    }
}

impl Drop for DemoSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
