//! `passerelle-bench`: engine benchmarks measured side by side in one run, printed as
//! ratios (not timed tests). Usage:
//!
//! ```text
//! cargo run --release -p passerelle-bench -- [--pg postgres://postgres@127.0.0.1:5432] \
//!     [--steps 2000] [--runs 2000] [--events 1000000]
//! ```
//!
//! * per-step overhead of a journaled step vs a raw single-row INSERT+COMMIT (same DB);
//! * N runs × 5 no-op steps through the engine vs a plain loop making the same commits;
//! * runs/s with 1 and 2 workers on PostgreSQL;
//! * import orders/s with 1, 2 and 4 workers over 4 profiles (`scale`), and the kill -9
//!   soak of 4 worker processes (`soak`, see `scale.rs`);
//! * projection rebuild rate over a generated log on PostgreSQL;
//! * `audit verify` over a generated, linked log (`--only audit`, events/s, peak RSS).

mod api;
mod audit;
mod export;
mod import;
mod scale;
mod updates;
mod variants;

use clap::Parser;
use passerelle_adapters::store::{Db, SqlRunStore, Val};
use passerelle_domain::{AccountId, Actor, ProfileId, RunId, SyncAction, Trigger};
use passerelle_projections::Projector;
use passerelle_workflows::engine::{
    NewRun, Registry, RetryPolicy, RunContext, RunStore, Worker, WorkerConfig, Workflow,
    WorkflowFuture,
};
use passerelle_workflows::ports::SystemClock;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// PostgreSQL server URL (without database); a fresh database is created.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg: String,
    /// Steps of the single long run measuring per-step overhead.
    #[arg(long, default_value_t = 2000)]
    steps: u32,
    /// Runs of 5 no-op steps.
    #[arg(long, default_value_t = 2000)]
    runs: u32,
    /// Events generated for the rebuild benchmark.
    #[arg(long, default_value_t = 1_000_000)]
    events: i64,
    /// Articles of the export benchmark (`--only export`).
    #[arg(long, default_value_t = 50_000)]
    articles: usize,
    /// Articles of the export run at batch size 1 (slow by design).
    #[arg(long, default_value_t = 5_000)]
    articles_batch1: usize,
    /// Only this part: `engine`, `audit` (append before/after the chain, then `audit verify`
    /// over `--events`), `audit-append` (only the former), `workers`, `scheduler`, `rebuild`, `export`, `updates`, `import`,
    /// `scale` (orders/s with 1, 2 and 4 workers over 4 profiles), `soak` (4 worker processes
    /// killed at random; needs the release `passerelle` binary; never part of a full run),
    /// `api` (the hosted API: 200 clients, 500 SSE watchers) or
    /// `import-limited` (EBP's real 1 call/s only) or `import-memory` (the engine's peak RSS
    /// in its own process; needs the release `passerelle` binary).
    #[arg(long)]
    only: Option<String>,
    /// Orders of the import benchmark.
    #[arg(long, default_value_t = 10_000)]
    orders: usize,
    /// Orders per page in the import benchmark.
    #[arg(long, default_value_t = 250)]
    page: u32,
    /// Orders of each import of the API benchmark (`--only api`).
    #[arg(long, default_value_t = 500)]
    api_orders: usize,
    /// Orders of the import run with EBP's real 1 call/s limit on (0: skip).
    #[arg(long, default_value_t = 1000)]
    limited_orders: usize,
    /// Orders of the scale-out part (`--only scale`), over 4 profiles.
    #[arg(long, default_value_t = 10_000)]
    scale_orders: usize,
    /// Orders of the soak (`--only soak`), over 4 profiles and 4 worker processes.
    #[arg(long, default_value_t = 10_000)]
    soak_orders: usize,
    /// Kills (SIGKILL) of a random worker process during the soak, at most.
    #[arg(long, default_value_t = 100)]
    soak_kills: usize,
    /// Shortest pause between two kills (ms).
    #[arg(long, default_value_t = 2_000)]
    soak_min_ms: u64,
    /// Longest pause between two kills (ms).
    #[arg(long, default_value_t = 10_000)]
    soak_max_ms: u64,
    /// Lease of the soak's worker processes (ms): a killed worker's run is taken over after it.
    #[arg(long, default_value_t = 3_000)]
    soak_lease_ms: u64,
    /// The soak's orders reach the shops evenly over this many seconds (100 kills at 2–10 s
    /// take about 600 s).
    #[arg(long, default_value_t = 600)]
    soak_seconds: u64,
}

/// A workflow of `n` sequential no-op steps (input `{"steps": n}`).
struct Noop;
impl Workflow for Noop {
    fn run(&self, ctx: RunContext, input: serde_json::Value) -> WorkflowFuture {
        Box::pin(async move {
            let n = input.get("steps").and_then(|v| v.as_u64()).unwrap_or(5);
            for i in 0..n {
                ctx.step("noop", &RetryPolicy::NONE, || async move { Ok(i) })
                    .await?;
            }
            Ok(())
        })
    }
}

fn registry() -> Arc<Registry> {
    let mut r = Registry::new();
    r.register(SyncAction::DemoEngine, Arc::new(Noop));
    Arc::new(r)
}

async fn enqueue(store: &SqlRunStore, profile: &str, steps: u32) -> anyhow::Result<()> {
    store
        .enqueue(NewRun {
            run_id: RunId::from_uuid(uuid::Uuid::now_v7()),
            account_id: AccountId::parse("bench")?,
            profile_id: ProfileId::parse(profile)?,
            action: SyncAction::DemoEngine,
            trigger: Trigger::Manual,
            input: serde_json::json!({ "steps": steps }),
            actor: Actor::Cli,
            requested_at: chrono::Utc::now(),
        })
        .await?;
    Ok(())
}

fn worker(db: &Db, id: &str) -> Worker {
    Worker::new(
        id,
        Arc::new(SqlRunStore::new(db.clone())),
        registry(),
        Arc::new(SystemClock),
        WorkerConfig::default(),
    )
}

/// Raw single-row INSERT+COMMIT of a ~200-byte event, n times; seconds per commit.
async fn raw_inserts(db: &Db, n: u32) -> anyhow::Result<f64> {
    let payload = format!(
        r#"{{"StepCompleted":{{"key":{{"scope":"run","index":0,"name":"noop"}},"attempt":1,"result":{}}}}}"#,
        "0"
    );
    let meta = r#"{"account_id":"bench","actor":"cli","correlation_id":"raw","timestamp":"2024-09-09T17:06:45.000Z"}"#;
    let t = Instant::now();
    for i in 0..n {
        let mut tx = db.begin().await?;
        tx.execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ('Raw', 'raw', $1, 'StepCompleted', '1', $2::json, $3::json)",
            &[Val::int(i64::from(i)), Val::text(&payload), Val::text(meta)],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(t.elapsed().as_secs_f64() / f64::from(n))
}

async fn bench_db(name: &str, db: &Db, args: &Args) -> anyhow::Result<()> {
    let store = SqlRunStore::new(db.clone());
    // Per-step overhead, measured side by side.
    let raw = raw_inserts(db, args.steps).await?;
    enqueue(&store, "long", args.steps).await?;
    let w = worker(db, "w1");
    let t = Instant::now();
    w.drain().await?;
    let step = t.elapsed().as_secs_f64() / f64::from(args.steps);
    println!(
        "[{name}] raw INSERT+COMMIT {:.3} ms | journaled step {:.3} ms | ratio {:.2}x",
        raw * 1e3,
        step * 1e3,
        step / raw
    );
    // Runs × 5 no-op steps vs a plain loop making one commit per step.
    let runs = args.runs;
    for i in 0..runs {
        enqueue(&store, &format!("p{i}"), 5).await?;
    }
    let t = Instant::now();
    w.drain().await?;
    let engine = t.elapsed().as_secs_f64();
    let plain = raw_inserts_offset(db, runs * 5).await?;
    println!(
        "[{name}] {runs} runs x 5 steps: engine {:.2} s ({:.0} runs/s) | plain loop {:.2} s | ratio {:.2}x",
        engine,
        f64::from(runs) / engine,
        plain,
        engine / plain
    );
    Ok(())
}

async fn raw_inserts_offset(db: &Db, n: u32) -> anyhow::Result<f64> {
    db.execute("DELETE FROM events WHERE aggregate_type = 'Raw'", &[])
        .await?;
    Ok(raw_inserts(db, n).await? * f64::from(n))
}

async fn workers_pg(url: &str, runs: u32) -> anyhow::Result<()> {
    for n in [1usize, 2] {
        let db = Db::connect(url).await?;
        let store = SqlRunStore::new(db.clone());
        for i in 0..runs {
            enqueue(&store, &format!("w{n}-{i}"), 5).await?;
        }
        let t = Instant::now();
        let mut hs = Vec::new();
        for k in 0..n {
            let w = worker(&Db::connect(url).await?, &format!("w{k}"));
            hs.push(tokio::spawn(async move { w.drain().await }));
        }
        for h in hs {
            h.await??;
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "[postgres] {n} worker(s): {runs} runs x 5 steps in {s:.2} s = {:.0} runs/s",
            f64::from(runs) / s
        );
    }
    Ok(())
}

async fn rebuild_pg(url: &str, events: i64) -> anyhow::Result<()> {
    let db = Db::connect(url).await?;
    let runs = events / 10;
    // 10 events per run: RunRequested, RunStarted, ItemsDiscovered, 6 ItemSucceeded, RunFinished.
    // A run's events are contiguous, as they are in a real log (a run writes its events
    // within seconds); the worst case, every event of a batch on a different run, costs
    // one row upsert per event (see the notes).
    db.execute_script(&format!(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT 'SyncRun', 'r' || r, s, \
           CASE WHEN s = 1 THEN 'RunRequested' WHEN s = 2 THEN 'RunStarted' WHEN s = 3 THEN 'ItemsDiscovered' WHEN s = 10 THEN 'RunFinished' ELSE 'ItemSucceeded' END, \
           CASE WHEN s = 1 THEN '2' ELSE '1' END, \
           (CASE WHEN s = 1 THEN '{{\"RunRequested\":{{\"profile_id\":\"p' || (r % 500) || '\",\"action\":\"import-orders\",\"trigger\":\"manual\",\"input\":null}}}}' \
                 WHEN s = 2 THEN '{{\"RunStarted\":{{\"worker\":\"w\",\"lease_epoch\":1,\"resumed\":false}}}}' \
                 WHEN s = 3 THEN '{{\"ItemsDiscovered\":{{\"count\":6}}}}' \
                 WHEN s = 10 THEN '{{\"RunFinished\":{{\"status\":\"succeeded\",\"message\":\"ok\"}}}}' \
                 ELSE '{{\"ItemSucceeded\":{{\"item\":{{\"index\":' || (s - 3) || ',\"total\":6,\"key\":\"K\",\"label\":\"REF\"}},\"message\":null}}}}' END)::json, \
           '{{\"account_id\":\"bench\",\"actor\":\"cli\",\"correlation_id\":\"x\",\"timestamp\":\"2024-09-09T17:06:45.000Z\"}}'::json \
         FROM generate_series(1, {runs}) r, generate_series(1, 10) s ORDER BY r, s"
    ))
    .await?;
    let projector = Projector::new(db.clone(), passerelle_projections::all()).await?;
    let t = Instant::now();
    let n = projector.catch_up().await?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "[postgres] projection catch-up from 0: {n} events in {s:.2} s = {:.0} events/s",
        n as f64 / s
    );
    let report = passerelle_projections::rebuild::rebuild(&projector, true).await?;
    println!(
        "[postgres] replay --verify: {} events rebuilt in {:.2} s = {:.0} events/s; {} rows compared, {} diffs",
        report.events,
        report.seconds,
        report.events as f64 / report.seconds,
        report.rows,
        report.diffs.len()
    );
    Ok(())
}

/// CPU seconds used by this process so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// 10,000 schedules across 500 profiles: enqueue time when all are due at once, idle CPU of
/// the scheduler loop, and trigger lateness under a continuous load (triggers spread over
/// five minutes, ~33 per second).
async fn scheduler_pg(url: &str) -> anyhow::Result<()> {
    use passerelle_adapters::store::SqlScheduleStore;
    use passerelle_domain::schedule::{Repeat, RepeatEvery, ScheduleSpec, Trigger as When};
    use passerelle_domain::scheduling::ScheduleCommand;
    let db = Db::connect(url).await?;
    let store = SqlScheduleStore::new(db.clone());
    let account = AccountId::parse("bench")?;
    let actions = SyncAction::ALL;
    let now = chrono::Utc::now();
    // First triggers 60 s from now: creation (~15 s) and the idle measurement fit before.
    let base = (now + chrono::Duration::seconds(60)).naive_utc();
    let create_started = Instant::now();
    for i in 0..10_000u32 {
        // Spread the first triggers over five minutes, so about 33 fall due every second.
        let start = base + chrono::Duration::milliseconds(i64::from(i) * 30);
        let spec = ScheduleSpec {
            start,
            trigger: When::Daily { every_days: 1 },
            repeat: Some(Repeat {
                every: RepeatEvery::Minutes5,
                for_duration_minutes: 1440,
            }),
        };
        store
            .execute(
                &account,
                &format!("s{i:05}"),
                ScheduleCommand::Create {
                    profile_id: ProfileId::parse(&format!("p{:03}", i % 500))?,
                    action: actions[(i / 500) as usize % actions.len()],
                    spec,
                    time_zone: "UTC".into(),
                    now,
                },
                Actor::Cli,
                now,
            )
            .await?;
    }
    println!(
        "[scheduler] 10,000 schedules created in {:.1} s",
        create_started.elapsed().as_secs_f64()
    );
    // Idle: nothing due yet; measure the loop's CPU over 15 s.
    let app = passerelle::app::App::connect(url).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let idle = {
        let stop = stop.clone();
        tokio::spawn(async move {
            passerelle::scheduling::run_scheduler(&app, stop, Duration::from_secs(1)).await
        })
    };
    tokio::time::sleep(Duration::from_secs(15)).await;
    let idle_cpu = (cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    println!(
        "[scheduler] idle: {idle_cpu:.2} % of one core (scheduler process, PostgreSQL excluded)"
    );
    let until_due = (base.and_utc() - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(until_due).await;
    // Under load: triggers fall due continuously for 60 s.
    let cpu1 = cpu_seconds();
    let t1 = Instant::now();
    tokio::time::sleep(Duration::from_secs(65)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    idle.await??;
    let busy_cpu = (cpu_seconds() - cpu1) / t1.elapsed().as_secs_f64() * 100.0;
    let rows = db
        .fetch(
            "SELECT payload::text FROM events WHERE event_type = 'TriggerFired'",
            &[],
        )
        .await?;
    let mut late: Vec<f64> = rows
        .iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(r[0].as_str()?).ok())
        .filter_map(|v| {
            let f = &v["TriggerFired"];
            let due = chrono::DateTime::parse_from_rfc3339(f["due_at"].as_str()?).ok()?;
            let at = chrono::DateTime::parse_from_rfc3339(f["fired_at"].as_str()?).ok()?;
            Some((at - due).num_milliseconds() as f64 / 1000.0)
        })
        .collect();
    late.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        late.get(((late.len() as f64 * p) as usize).min(late.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "[scheduler] under load: {} triggers fired in {:.0} s ({:.1} % of one core); lateness p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        late.len(),
        t1.elapsed().as_secs_f64(),
        busy_cpu,
        pct(0.5),
        pct(0.99),
        late.last().copied().unwrap_or(0.0)
    );
    // All due at once: how long to enqueue everything.
    let all_due = chrono::Utc::now() + chrono::Duration::days(2);
    let t2 = Instant::now();
    let mut fired = 0;
    let mut skipped = 0;
    loop {
        let r = store.tick(all_due, 500).await?;
        if r.fired.is_empty() && r.skipped.is_empty() {
            break;
        }
        fired += r.fired.len();
        skipped += r.skipped.len();
    }
    println!(
        "[scheduler] all 10,000 due at once: {fired} fired + {skipped} skipped (previous run still queued) in {:.2} s",
        t2.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn fresh_pg(base: &str) -> anyhow::Result<String> {
    let name = format!("pt_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres")).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(format!("{base}/{name}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("passerelle-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let part = |p: &str| args.only.as_deref().is_none_or(|o| o == p);
    if part("engine") {
        let sqlite = Db::connect(&format!("sqlite://{}/bench.db", dir.display())).await?;
        bench_db("sqlite WAL synchronous=NORMAL", &sqlite, &args).await?;
        let pg = Db::connect(&fresh_pg(&args.pg).await?).await?;
        bench_db("postgres", &pg, &args).await?;
    }
    if part("audit") || args.only.as_deref() == Some("audit-append") {
        let sqlite = format!("sqlite://{}/audit.db", dir.display());
        audit::bench_append("sqlite", &sqlite, 1, args.steps).await?;
        let pg = fresh_pg(&args.pg).await?;
        audit::bench_append("postgres", &pg, 1, args.steps).await?;
        audit::bench_append("postgres", &pg, 2, args.steps / 2).await?;
    }
    if part("audit") {
        audit::bench_verify(&fresh_pg(&args.pg).await?, args.events).await?;
    }
    if part("workers") {
        workers_pg(&fresh_pg(&args.pg).await?, args.runs).await?;
    }
    if part("scheduler") {
        scheduler_pg(&fresh_pg(&args.pg).await?).await?;
    }
    if args.only.as_deref() == Some("import-memory") {
        std::env::set_var("PASSERELLE_KEY_FILE", dir.join("bench.key"));
        import::bench_import_memory(&fresh_pg(&args.pg).await?, args.orders, args.page).await?;
    }
    if part("import") || args.only.as_deref() == Some("import-limited") {
        std::env::set_var("PASSERELLE_KEY_FILE", dir.join("bench.key"));
    }
    if part("import") {
        import::bench_import(
            "postgres",
            &fresh_pg(&args.pg).await?,
            args.orders,
            args.page,
        )
        .await?;
        import::bench_import(
            "sqlite",
            &format!("sqlite://{}/import.db", dir.display()),
            args.orders,
            args.page,
        )
        .await?;
    }
    if (part("import") || args.only.as_deref() == Some("import-limited")) && args.limited_orders > 0
    {
        import::bench_import_limited(&fresh_pg(&args.pg).await?, args.limited_orders, args.page)
            .await?;
    }
    if part("scale") {
        std::env::set_var("PASSERELLE_KEY_FILE", dir.join("bench.key"));
        let pg = args.pg.clone();
        scale::bench_scale_out(
            || {
                let pg = pg.clone();
                async move { fresh_pg(&pg).await }
            },
            args.scale_orders,
            args.page,
        )
        .await?;
    }
    if args.only.as_deref() == Some("soak") {
        // The worker processes read the same key file to decrypt the profiles' credentials.
        std::env::set_var("PASSERELLE_KEY_FILE", dir.join("bench.key"));
        scale::bench_soak(
            &fresh_pg(&args.pg).await?,
            &scale::SoakArgs {
                orders: args.soak_orders,
                kills: args.soak_kills,
                min_ms: args.soak_min_ms,
                max_ms: args.soak_max_ms,
                page: args.page,
                lease_ms: args.soak_lease_ms,
                seconds: args.soak_seconds,
            },
        )
        .await?;
    }
    if part("updates") {
        std::env::set_var("PASSERELLE_KEY_FILE", dir.join("bench.key"));
        updates::bench_updates(&fresh_pg(&args.pg).await?, args.orders, args.page).await?;
    }
    if args.only.as_deref() == Some("export") {
        std::env::set_var("PASSERELLE_KEY_FILE", dir.join("bench.key"));
        let pg = args.pg.clone();
        export::bench_export(
            || {
                let pg = pg.clone();
                async move { fresh_pg(&pg).await }
            },
            args.articles,
            args.articles_batch1,
        )
        .await?;
        let pg = args.pg.clone();
        variants::bench_variants(
            || {
                let pg = pg.clone();
                async move { fresh_pg(&pg).await }
            },
            args.articles_batch1,
        )
        .await?;
    }
    if args.only.as_deref() == Some("api") {
        std::env::set_var("PASSERELLE_KEY_FILE", dir.join("bench.key"));
        api::bench_api(&fresh_pg(&args.pg).await?, args.api_orders, 200, 500).await?;
    }
    if part("rebuild") {
        rebuild_pg(&fresh_pg(&args.pg).await?, args.events).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
