//! `--only api`: the hosted service's API on loopback, bounded load.
//!
//! * journal list and run detail at 200 concurrent clients for a fixed time: requests/s,
//!   p50 / p99 latency;
//! * 500 Server-Sent-Events watchers of one running import, side by side with the same
//!   import unwatched: events delivered per second, the process RSS, and the CPU the run
//!   cost with and without watchers.
//!
//! Client and server share the process and the machine's cores, so latencies include the
//! clients' own work and the CPU figure of the watched run includes the watchers' parsing:
//! both are upper bounds for the server alone.

use passerelle::api::PeerAddr;
use passerelle::app::App;
use passerelle::auth::Access;
use passerelle::demo::{ensure_import_plan, DemoWorld};
use passerelle::hosting::{self, ServeOptions};
use passerelle_domain::access::Role;
use passerelle_domain::{AccountId, Actor, ProfileId, RunId, SyncAction, Trigger};
use passerelle_simulators::ebp::EbpSimConfig;
use passerelle_workflows::engine::{NewRun, RunStore, Worker};
use passerelle_workflows::ports::SystemClock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cpu_seconds() -> f64 {
    // /proc/self/stat fields 14 and 15: user and system time in clock ticks (100 Hz).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn import_run(app: &App, acc: &AccountId, profile: &ProfileId) -> anyhow::Result<RunId> {
    let id = RunId::from_uuid(uuid::Uuid::now_v7());
    app.store
        .enqueue(NewRun {
            run_id: id,
            account_id: acc.clone(),
            profile_id: profile.clone(),
            action: SyncAction::ImportOrders,
            trigger: Trigger::Manual,
            input: serde_json::json!({"retry_initial_ms": 300}),
            actor: Actor::Cli,
            requested_at: chrono::Utc::now(),
        })
        .await?;
    Ok(id)
}

/// A simulator pair and a profile `id` on it: each measured import has orders of its own.
async fn world(
    app: &App,
    acc: &AccountId,
    orders: usize,
    id: &str,
) -> anyhow::Result<(DemoWorld, ProfileId)> {
    let world = DemoWorld::start(orders, EbpSimConfig::default()).await?;
    let mut file = world.profile_file()?;
    file.id = id.into();
    let profile = world.install_file(app, acc, file).await?;
    Ok((world, profile))
}

async fn execute(app: &App) -> anyhow::Result<f64> {
    let w = Worker::new(
        "bench-api",
        app.run_store(),
        Arc::new(app.registry("http://127.0.0.1:9")?),
        Arc::new(SystemClock),
        app.settings.worker_config(),
    );
    let started = Instant::now();
    w.drain().await?;
    Ok(started.elapsed().as_secs_f64())
}

/// Runs the API benchmark on a fresh database at `url`.
pub(crate) async fn bench_api(
    url: &str,
    orders: usize,
    clients: usize,
    watchers: usize,
) -> anyhow::Result<()> {
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "0");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "1000000");
    let app = Arc::new(App::connect(url).await?);
    let acc = AccountId::parse("bench")?;
    let access = Access::new(app.db.clone());
    access
        .create_account(&acc, "Bench", "Europe/Paris", &Actor::Cli)
        .await?;
    access
        .add_user(
            &acc,
            "admin@bench.fr",
            vec![Role::Admin],
            "mot de passe du banc",
            &Actor::Cli,
        )
        .await?;
    let token = access
        .create_token(&acc, "bench", vec![Role::Admin], None, &Actor::Cli)
        .await?
        .token;
    ensure_import_plan(&app, &acc, 10_000_000).await?;
    let (_w1, profile) = world(&app, &acc, orders, "bench-1").await?;
    let first = import_run(&app, &acc, &profile).await?;
    execute(&app).await?;
    app.projector.catch_up().await?;

    let opts = ServeOptions {
        listen: "127.0.0.1:0".into(),
        rate_limit: 0,
        allow_private_targets: true,
        ..Default::default()
    };
    let router = hosting::router(hosting::state(app.clone(), &opts), &opts)
        .into_make_service_with_connect_info::<PeerAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;

    println!("\n== API (--only api): {orders} commandes importées, {clients} clients concurrents, 8 s par mesure");
    for (name, path) in [
        ("journal list", "/api/v1/runs?limit=50".to_string()),
        ("run detail", format!("/api/v1/runs/{first}")),
    ] {
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (http, url, auth) = (
                http.clone(),
                format!("{base}{path}"),
                format!("Bearer {token}"),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match http.get(&url).header("authorization", &auth).send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        let started = Instant::now();
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await?;
            all.extend(l);
            errors += e;
        }
        let secs = started.elapsed().as_secs_f64();
        all.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:<14} {:>8.0} req/s   p50 {:>6.1} ms   p99 {:>6.1} ms   ({} requêtes, {errors} erreurs)",
            all.len() as f64 / secs,
            pct(&all, 0.50),
            pct(&all, 0.99),
            all.len()
        );
    }

    // The same import, unwatched then watched by `watchers` SSE clients.
    let (_w2, p2) = world(&app, &acc, orders, "bench-2").await?;
    let _ = import_run(&app, &acc, &p2).await?;
    let cpu0 = cpu_seconds();
    let alone = execute(&app).await?;
    let cpu_alone = cpu_seconds() - cpu0;
    let (_w3, p3) = world(&app, &acc, orders, "bench-3").await?;
    let run = import_run(&app, &acc, &p3).await?;
    let events = Arc::new(AtomicU64::new(0));
    let mut subs = Vec::new();
    for _ in 0..watchers {
        let (http, url, auth, events) = (
            http.clone(),
            format!("{base}/api/v1/runs/{run}/live"),
            format!("Bearer {token}"),
            events.clone(),
        );
        subs.push(tokio::spawn(async move {
            let Ok(mut r) = http.get(&url).header("authorization", &auth).send().await else {
                return;
            };
            while let Ok(Some(chunk)) = r.chunk().await {
                let n = chunk.windows(2).filter(|w| w == b"\n\n").count() as u64;
                events.fetch_add(n, Ordering::Relaxed);
                if chunk.windows(10).any(|w| w == b"event: end") {
                    break;
                }
            }
        }));
    }
    let rss_before = rss_mib();
    let cpu1 = cpu_seconds();
    let watched = execute(&app).await?;
    let cpu_watched = cpu_seconds() - cpu1;
    let rss_during = rss_mib();
    for s in subs {
        let _ = s.await;
    }
    let delivered = events.load(Ordering::Relaxed);
    println!(
        "SSE            {watchers} observateurs : {:.0} événements/s livrés ({delivered} en {watched:.1} s) ; RSS {rss_before:.0} → {rss_during:.0} Mio",
        delivered as f64 / watched
    );
    println!(
        "               import seul {alone:.1} s, {cpu_alone:.1} s CPU ; observé {watched:.1} s, {cpu_watched:.1} s CPU (×{:.2} CPU, observateurs compris)",
        cpu_watched / cpu_alone.max(0.001)
    );
    Ok(())
}
