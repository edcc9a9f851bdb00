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
//! * projection rebuild rate over a generated log on PostgreSQL.

use clap::Parser;
use passerelle_adapters::store::{Db, SqlRunStore, Val};
use passerelle_domain::{AccountId, Actor, ItemOutcome, ProfileId, RunId, SyncAction, Trigger};
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
    /// Only this part: `engine`, `workers` or `rebuild`.
    #[arg(long)]
    only: Option<String>,
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
            let _ = ItemOutcome::Succeeded(None);
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
         FROM generate_series(1, {runs}) r, generate_series(1, 10) s"
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
    if part("workers") {
        workers_pg(&fresh_pg(&args.pg).await?, args.runs).await?;
    }
    if part("rebuild") {
        rebuild_pg(&fresh_pg(&args.pg).await?, args.events).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = Duration::ZERO;
    Ok(())
}
