//! `passerelle serve`: workers, the scheduler, the projections follower and the hosted
//! service's HTTP side (API `/api/v1`, console: [`crate::hosting`]) merged with the
//! operations router (`/health`, `/ready`, `/metrics`: [`crate::health`]), in one process.

use crate::app::App;
use crate::hosting::{self, ServeOptions, TlsListener};
use crate::settings::Settings;
use passerelle_domain::AccountId;
use passerelle_workflows::engine::Worker;
use passerelle_workflows::ports::SystemClock;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs everything until Ctrl-C.
pub async fn serve(
    settings: &Settings,
    account: &AccountId,
    workers: usize,
    demo_backend_url: &str,
    worker_id: fn(usize) -> String,
    opts: ServeOptions,
    demo: bool,
) -> anyhow::Result<ExitCode> {
    passerelle_adapters::http::set_allow_private_targets(opts.allow_private_targets);
    let tls = match &opts.tls {
        Some((c, k)) => Some(hosting::tls_acceptor(c, k)?),
        None => None,
    };
    // Before any worker starts, so no step or call goes unrecorded.
    crate::metrics::install();
    let app = Arc::new(App::open(settings).await?);
    // The demo's simulators live as long as the server.
    let _world = if demo {
        Some(crate::demo_hosted::prepare(&app, account).await?)
    } else {
        None
    };
    let cfg = settings.worker_config();
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
    let router = hosting::router(hosting::state(app.clone(), &opts), &opts)
        .merge(crate::health::Ops::new(app.clone(), true).router())
        .into_make_service_with_connect_info::<crate::api::PeerAddr>();
    let listener = tokio::net::TcpListener::bind(&opts.listen).await?;
    let addr = listener.local_addr()?;
    eprintln!(
        "Passerelle sur {}://{addr} ({workers} worker(s), planificateur) ; Ctrl-C pour arrêter.",
        if tls.is_some() { "https" } else { "http" }
    );
    let stop2 = stop.clone();
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        stop2.store(true, Ordering::SeqCst);
    };
    match tls {
        Some(acceptor) => {
            axum::serve(TlsListener::new(listener, acceptor), router)
                .with_graceful_shutdown(shutdown)
                .await?
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await?
        }
    }
    for f in &flags {
        f.store(true, Ordering::SeqCst);
    }
    for t in tasks {
        t.await??;
    }
    Ok(ExitCode::SUCCESS)
}
