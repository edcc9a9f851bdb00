//! `/health`, `/ready` and `/metrics`: the operations router, merged into `serve`'s API and
//! served alone by `worker` and `scheduler` (bound to loopback by default, like the API).
//!
//! * `/health`: the process is up (no IO), `200 ok`.
//! * `/ready`: `200` when every check passes, else `503`; the JSON body says which check
//!   failed and why: the database answers (and, on SQLite, its file is still there), this
//!   binary's migrations are applied and no unknown one is, the projections are within
//!   `ready.max_projector_lag_events` / `_seconds`, plus the checks added with
//!   [`Ops::with_check`] (the Temporal server when that engine is used).

use crate::app::App;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The outcome of one readiness check: `Ok(detail)` or `Err(what is wrong)`.
pub type CheckResult = Result<Value, String>;

/// A readiness check added by another part of the binary (e.g. "Temporal reachable").
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = CheckResult> + Send>> + Send + Sync>;

/// A check that takes longer than this fails: `/ready` must answer while a probe waits.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// What the operations router serves.
#[derive(Clone)]
pub struct Ops {
    app: Arc<App>,
    fleet: bool,
    extra: Vec<(&'static str, ReadyCheck)>,
}

impl Ops {
    /// The router's state over `app`; `fleet`: whether `/metrics` includes the metrics read
    /// from the database (`serve` only, see [`crate::metrics`]).
    pub fn new(app: Arc<App>, fleet: bool) -> Self {
        Self {
            app,
            fleet,
            extra: Vec::new(),
        }
    }

    /// Adds a named readiness check.
    pub fn with_check(mut self, name: &'static str, check: ReadyCheck) -> Self {
        self.extra.push((name, check));
        self
    }

    /// `GET /health`, `/ready`, `/metrics`.
    pub fn router(self) -> Router {
        crate::metrics::install();
        Router::new()
            .route("/health", get(health))
            .route("/ready", get(ready))
            .route("/metrics", get(metrics_page))
            .with_state(Arc::new(self))
    }

    /// Runs every check: `(ready, body)`.
    pub async fn readiness(&self) -> (bool, Value) {
        let mut checks = serde_json::Map::new();
        let mut ready = true;
        let mut record = |name: &str, r: CheckResult| {
            let v = match r {
                Ok(detail) => json!({"ok": true, "detail": detail}),
                Err(e) => {
                    ready = false;
                    json!({"ok": false, "error": e})
                }
            };
            checks.insert(name.to_string(), v);
        };
        let db = bounded(self.database()).await;
        let reachable = db.is_ok();
        record("database", db);
        if reachable {
            record("migrations", bounded(self.migrations()).await);
            record("projector", bounded(self.projector()).await);
        } else {
            let skipped = || Err("base injoignable (database unreachable)".to_string());
            record("migrations", skipped());
            record("projector", skipped());
        }
        for (name, check) in &self.extra {
            record(name, bounded(check()).await);
        }
        (ready, json!({"ready": ready, "checks": checks}))
    }

    async fn database(&self) -> CheckResult {
        self.app.db.ping().await.map_err(|e| e.to_string())?;
        if !self
            .app
            .db
            .file_present()
            .await
            .map_err(|e| e.to_string())?
        {
            return Err("fichier SQLite supprimé ou déplacé (SQLite file removed)".into());
        }
        Ok(json!(format!("{:?}", self.app.db.kind()).to_lowercase()))
    }

    async fn migrations(&self) -> CheckResult {
        let m = self
            .app
            .db
            .migration_state()
            .await
            .map_err(|e| e.to_string())?;
        if !m.missing.is_empty() {
            return Err(format!(
                "migrations non appliquées (missing migrations): {:?}",
                m.missing
            ));
        }
        if !m.unknown.is_empty() {
            return Err(format!(
                "base migrée par une version plus récente (migrations unknown to this binary): {:?}",
                m.unknown
            ));
        }
        Ok(json!("à jour (up to date)"))
    }

    async fn projector(&self) -> CheckResult {
        let names: Vec<&str> = self
            .app
            .projector
            .projections()
            .iter()
            .map(|p| p.name())
            .collect();
        let lag = self
            .app
            .db
            .projector_lag(&names)
            .await
            .map_err(|e| e.to_string())?;
        let s = &self.app.settings;
        let detail = json!({"lag_events": lag.events, "lag_seconds": lag.seconds});
        if lag.events as u64 > s.ready_max_lag_events
            || lag.seconds as u64 > s.ready_max_lag_seconds
        {
            return Err(format!(
                "projections en retard (projector lag): {} événement(s), {} s (max {} / {} s)",
                lag.events, lag.seconds, s.ready_max_lag_events, s.ready_max_lag_seconds
            ));
        }
        Ok(detail)
    }
}

async fn bounded(f: impl Future<Output = CheckResult>) -> CheckResult {
    tokio::time::timeout(CHECK_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "pas de réponse en {} s (timed out)",
                CHECK_TIMEOUT.as_secs()
            ))
        })
}

async fn health() -> &'static str {
    "ok"
}

async fn ready(State(ops): State<Arc<Ops>>) -> impl IntoResponse {
    let (ok, body) = ops.readiness().await;
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

async fn metrics_page(State(ops): State<Arc<Ops>>) -> impl IntoResponse {
    match crate::metrics::render(&ops.app, ops.fleet).await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("# base injoignable (database unreachable): {e}\n"),
        ),
    }
}

/// Serves the operations router alone on `listen` until `stop` resolves (`worker`,
/// `scheduler`). A listen failure is reported and the process goes on without it: losing
/// metrics must not stop the runs.
pub async fn serve_side(
    ops: Ops,
    listen: &str,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "passerelle : /metrics indisponible sur {listen} : {e} (metrics endpoint not started)"
            );
            return None;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        eprintln!("Métriques et santé sur http://{addr}/metrics, /health, /ready");
    }
    let router = ops.router();
    Some(tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await;
    }))
}
