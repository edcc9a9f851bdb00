//! `passerelle serve`: workers, the scheduler and a small HTTP API in one process.
//!
//! The API is read-only for now and scoped to the account given on the command line
//! (`GET /api/journal`, `/api/schedules`, `/api/quota`, `/api/profiles/{id}/transferred`),
//! merged with the operations router (`/health`, `/ready`, `/metrics`: [`crate::health`]);
//! it binds to loopback by default (`http.listen`). The console and the
//! authenticated multi-account API come later.

use crate::app::App;
use crate::settings::Settings;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use passerelle_domain::AccountId;
use passerelle_projections::{journal, schedules};
use passerelle_workflows::engine::Worker;
use passerelle_workflows::ports::SystemClock;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
struct ApiState {
    app: Arc<App>,
    account: AccountId,
}

type ApiError = (axum::http::StatusCode, String);

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    (axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

async fn api_journal(
    State(s): State<ApiState>,
) -> Result<Json<Vec<journal::JournalRun>>, ApiError> {
    s.app.projector.catch_up().await.map_err(unavailable)?;
    let filter = journal::JournalFilter::default();
    let runs = journal::list(&s.app.db, s.account.as_str(), &filter).await;
    runs.map(Json).map_err(unavailable)
}

async fn api_schedules(
    State(s): State<ApiState>,
) -> Result<Json<Vec<schedules::ScheduleRow>>, ApiError> {
    s.app.projector.catch_up().await.map_err(unavailable)?;
    let rows = schedules::list(&s.app.db, s.account.as_str()).await;
    rows.map(Json).map_err(unavailable)
}

async fn api_quota(State(s): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    s.app.projector.catch_up().await.map_err(unavailable)?;
    let (counters, suspended, daily) = passerelle_projections::orders::quota_view(
        &s.app.db,
        s.account.as_str(),
        chrono::Utc::now(),
    )
    .await
    .map_err(unavailable)?;
    Ok(Json(serde_json::json!({
        "account": s.account.as_str(),
        "suspended": suspended,
        "counters": counters,
        "daily": daily,
    })))
}

async fn api_transferred(
    State(s): State<ApiState>,
    Path(profile): Path<String>,
) -> Result<Json<Vec<passerelle_projections::orders::TransferredOrder>>, ApiError> {
    let profile = passerelle_domain::ProfileId::parse(&profile)
        .map_err(|e| (axum::http::StatusCode::BAD_REQUEST, e.to_string()))?;
    s.app.projector.catch_up().await.map_err(unavailable)?;
    passerelle_projections::orders::transferred_orders(
        &s.app.db,
        s.account.as_str(),
        profile.as_str(),
    )
    .await
    .map(Json)
    .map_err(unavailable)
}

/// The read-only API of one account.
pub fn router(app: Arc<App>, account: AccountId) -> Router {
    Router::new()
        .route("/api/journal", get(api_journal))
        .route("/api/schedules", get(api_schedules))
        .route("/api/quota", get(api_quota))
        .route("/api/profiles/{id}/transferred", get(api_transferred))
        .with_state(ApiState { app, account })
}

/// Runs everything until Ctrl-C.
pub async fn serve(
    settings: &Settings,
    account: &AccountId,
    workers: usize,
    demo_backend_url: &str,
    worker_id: fn(usize) -> String,
) -> anyhow::Result<ExitCode> {
    // Before any worker starts, so no step or call goes unrecorded.
    crate::metrics::install();
    let app = Arc::new(App::open(settings).await?);
    let cfg = settings.worker_config();
    let listen = settings.http_listen.as_str();
    let stop = Arc::new(AtomicBool::new(false));
    let reg = Arc::new(app.registry(demo_backend_url)?);
    let mut tasks = Vec::new();
    let mut flags = Vec::new();
    for n in 0..workers {
        let w = Worker::new(
            worker_id(n),
            app.run_store(),
            reg.clone(),
            Arc::new(SystemClock),
            cfg.clone(),
        )
        .with_notifier(app.notifier());
        flags.push(w.shutdown_flag());
        tasks.push(tokio::spawn(async move {
            w.run_until_shutdown().await.map_err(anyhow::Error::from)
        }));
    }
    {
        let (app, stop) = (app.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            crate::scheduling::run_scheduler(&app, stop, Duration::from_secs(1)).await
        }));
    }
    {
        // The projections follow the log here, so the journal, `/ready`'s lag and the fleet
        // metrics stay current even when no API call comes.
        let (app, stop) = (app.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if let Err(e) = app.projector.catch_up().await {
                    tracing::warn!(error = %e, "projections: rattrapage en échec, nouvel essai");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(())
        }));
    }
    let router = router(app.clone(), account.clone())
        .merge(crate::health::Ops::new(app.clone(), true).router());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!(
        "Passerelle sur http://{} ({workers} worker(s), planificateur) ; Ctrl-C pour arrêter.",
        listener.local_addr()?
    );
    let stop2 = stop.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop2.store(true, Ordering::SeqCst);
        })
        .await?;
    for f in &flags {
        f.store(true, Ordering::SeqCst);
    }
    for t in tasks {
        t.await??;
    }
    Ok(ExitCode::SUCCESS)
}
