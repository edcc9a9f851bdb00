//! Built-in engine at scale on PostgreSQL: several profiles, each with its own shop and its
//! own EBP subscription (so no two share a call gate row), EBP limits off.
//!
//! * `--only scale`: orders/s with 1, 2 and 4 in-process workers over 4 profiles.
//! * `--only soak`: 4 `passerelle worker` processes, a random one `kill -9`-ed every
//!   `--soak-min-ms`..`--soak-max-ms` and restarted; the orders reach the shops evenly over
//!   `--soak-seconds` and each profile's import is queued every 2 s (so the workers are busy
//!   the whole time, whatever the machine's speed); then 0 duplicate and 0 missing ERP
//!   documents, quota used = orders imported, `replay --verify` identical.

use crate::import::{bench_order, world_on};
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, DemoWorld};
use passerelle_domain::{AccountId, Actor, ProfileId, RunId, SyncAction, Trigger};
use passerelle_workflows::engine::{EnqueueOutcome, NewRun, RunStore, Worker};
use passerelle_workflows::ports::SystemClock;
use rand::Rng;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Profiles (each a shop and an EBP subscription of its own).
const PROFILES: usize = 4;

/// A database with `PROFILES` profiles of `orders / PROFILES` orders each, installed.
struct Fleet {
    app: App,
    acc: AccountId,
    worlds: Vec<DemoWorld>,
    profiles: Vec<ProfileId>,
    orders: usize,
}

async fn fleet(url: &str, orders: usize, page: u32) -> anyhow::Result<Fleet> {
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "0");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "1000000");
    let acc = AccountId::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = App::connect(url).await?;
    ensure_import_plan(&app, &acc, 1_000_000).await?;
    let per = orders / PROFILES;
    let mut worlds = Vec::new();
    let mut profiles = Vec::new();
    for i in 0..PROFILES {
        let w = world_on(per, false, &format!("bench-subscription-{i}")).await?;
        let mut f = w.profile_file()?;
        f.id = format!("bench-{i}");
        if let Some(imp) = f.import.as_mut() {
            imp.page_size = page;
        }
        profiles.push(w.install_file(&app, &acc, f).await?);
        worlds.push(w);
    }
    Ok(Fleet {
        app,
        acc,
        worlds,
        profiles,
        orders: per * PROFILES,
    })
}

impl Fleet {
    async fn enqueue_all(&self) -> anyhow::Result<Vec<RunId>> {
        let mut runs = Vec::new();
        for p in &self.profiles {
            let id = RunId::from_uuid(uuid::Uuid::now_v7());
            self.app
                .store
                .enqueue(NewRun {
                    run_id: id,
                    account_id: self.acc.clone(),
                    profile_id: p.clone(),
                    action: SyncAction::ImportOrders,
                    trigger: Trigger::Manual,
                    input: serde_json::json!({}),
                    actor: Actor::Cli,
                    requested_at: chrono::Utc::now(),
                })
                .await?;
            runs.push(id);
        }
        Ok(runs)
    }

    /// Runs not finished yet.
    async fn active(&self) -> anyhow::Result<i64> {
        let r = self
            .app
            .db
            .fetch("SELECT COUNT(*) FROM run_queue WHERE state <> 'done'", &[])
            .await?;
        Ok(r.first().and_then(|r| r[0].as_i64()).unwrap_or(0))
    }

    /// (succeeded, failed, ignored) items over `runs`, from the journal.
    async fn counts(&self, runs: &[RunId]) -> anyhow::Result<(i64, i64, i64)> {
        self.app.projector.catch_up().await?;
        let mut out = (0, 0, 0);
        for r in runs {
            let j = passerelle_projections::journal::get(
                &self.app.db,
                self.acc.as_str(),
                &r.to_string(),
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("run {r} missing from the journal"))?;
            out.0 += j.counts.succeeded;
            out.1 += j.counts.failed;
            out.2 += j.counts.ignored;
        }
        Ok(out)
    }
}

/// Orders/s of the import of `orders` orders over 4 profiles with 1, 2 and 4 workers.
pub(crate) async fn bench_scale_out<F, Fut>(
    fresh: F,
    orders: usize,
    page: u32,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let mut base = None;
    for workers in [1usize, 2, 4] {
        let f = fleet(&fresh().await?, orders, page).await?;
        let reg = Arc::new(f.app.registry("http://127.0.0.1:9")?);
        let t = Instant::now();
        let runs = f.enqueue_all().await?;
        let mut flags = Vec::new();
        let mut handles = Vec::new();
        for n in 0..workers {
            let w = Worker::new(
                format!("scale-{n}"),
                f.app.run_store(),
                reg.clone(),
                Arc::new(SystemClock),
                f.app.settings.worker_config(),
            );
            flags.push(w.shutdown_flag());
            handles.push(tokio::spawn(async move { w.run_until_shutdown().await }));
        }
        while f.active().await? > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = t.elapsed().as_secs_f64();
        for fl in &flags {
            fl.store(true, Ordering::SeqCst);
        }
        for h in handles {
            h.await??;
        }
        let (ok, failed, _) = f.counts(&runs).await?;
        let rate = ok as f64 / secs;
        let b = *base.get_or_insert(rate);
        println!(
            "[scale] {workers} worker(s), {PROFILES} profils × {} commandes (abonnements EBP séparés, limites EBP coupées) : \
             {ok} importées ({failed} en échec) en {secs:.2} s = {rate:.0} cmd/s ; ×{:.2} par rapport à 1 worker",
            f.orders / PROFILES,
            rate / b
        );
    }
    Ok(())
}

/// The soak's parameters.
pub(crate) struct SoakArgs {
    /// Orders over the 4 profiles.
    pub orders: usize,
    /// Kills to make at most.
    pub kills: usize,
    /// Shortest pause between kills.
    pub min_ms: u64,
    /// Longest pause between kills.
    pub max_ms: u64,
    /// Orders per page.
    pub page: u32,
    /// Lease of the worker processes (a killed worker's run is taken over after it).
    pub lease_ms: u64,
    /// The orders reach the shops evenly over this many seconds.
    pub seconds: u64,
}

fn spawn_worker(
    bin: &std::path::Path,
    url: &str,
    lease_ms: u64,
    n: usize,
) -> anyhow::Result<std::process::Child> {
    Ok(std::process::Command::new(bin)
        .args(["worker", "--workers", "1"])
        .env("DATABASE_URL", url)
        .env("PASSERELLE_ACCOUNT", "bench")
        .env("PASSERELLE_LEASE_MS", lease_ms.to_string())
        .env("PASSERELLE_PG_POOL", "4")
        .env("PASSERELLE_SOAK_WORKER", n.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?)
}

/// 4 worker processes importing over 4 profiles while a random one is killed (SIGKILL) and
/// restarted; then the invariants.
pub(crate) async fn bench_soak(url: &str, args: &SoakArgs) -> anyhow::Result<()> {
    let mut f = fleet(url, 0, args.page).await?;
    f.orders = args.orders / PROFILES * PROFILES;
    let bin = std::env::current_exe()?
        .parent()
        .map(|d| d.join("passerelle"))
        .ok_or_else(|| anyhow::anyhow!("no binary directory"))?;
    anyhow::ensure!(
        bin.exists(),
        "{} absent : `cargo build --release -p passerelle` d'abord",
        bin.display()
    );
    let t = Instant::now();
    let mut children = (0..PROFILES)
        .map(|n| spawn_worker(&bin, url, args.lease_ms, n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut runs = Vec::new();
    let mut fed = 0usize;
    let mut kills = 0;
    let mut rng = rand::rng();
    let pause = |rng: &mut rand::rngs::ThreadRng| {
        Instant::now() + Duration::from_millis(rng.random_range(args.min_ms..=args.max_ms))
    };
    let mut next_kill = pause(&mut rng);
    let mut next_enqueue = Instant::now();
    // Per profile: a run was queued after the last order reached its shop. Once every
    // profile has one and the runs have ended, every order was read.
    let mut closed = [false; PROFILES];
    let span = Duration::from_secs(args.seconds.max(1));
    loop {
        let due =
            ((t.elapsed().as_secs_f64() / span.as_secs_f64()).min(1.0) * f.orders as f64) as usize;
        while fed < due {
            f.worlds[fed % PROFILES]
                .shop
                .with_shop(|s| s.add_order(&bench_order(fed)));
            fed += 1;
        }
        if Instant::now() >= next_enqueue && !closed.iter().all(|c| *c) {
            let all_fed = fed == f.orders;
            for (i, p) in f.profiles.iter().enumerate() {
                if closed[i] {
                    continue;
                }
                let id = RunId::from_uuid(uuid::Uuid::now_v7());
                let out = f
                    .app
                    .store
                    .enqueue(NewRun {
                        run_id: id,
                        account_id: f.acc.clone(),
                        profile_id: p.clone(),
                        action: SyncAction::ImportOrders,
                        trigger: Trigger::Manual,
                        input: serde_json::json!({}),
                        actor: Actor::Cli,
                        requested_at: chrono::Utc::now(),
                    })
                    .await?;
                match out {
                    EnqueueOutcome::Enqueued(r) => {
                        runs.push(r);
                        closed[i] = all_fed;
                    }
                    // This profile's import is still going: it is queued again later.
                    EnqueueOutcome::AlreadyActive(_) => {}
                }
            }
            next_enqueue = Instant::now() + Duration::from_secs(2);
        }
        if kills < args.kills && Instant::now() >= next_kill {
            let n = rng.random_range(0..children.len());
            // `Child::kill` is SIGKILL on Unix: no destructor, no rollback, no release.
            children[n].kill()?;
            children[n].wait()?;
            children[n] = spawn_worker(&bin, url, args.lease_ms, n)?;
            kills += 1;
            next_kill = pause(&mut rng);
        }
        if closed.iter().all(|c| *c) && f.active().await? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    for c in &mut children {
        c.kill()?;
        c.wait()?;
    }

    let (ok, failed, ignored) = f.counts(&runs).await?;
    let mut documents = 0;
    let mut duplicates = 0;
    let mut missing = 0;
    for w in &f.worlds {
        let docs = w.ebp.documents();
        documents += docs.len();
        let mut per_order: HashMap<String, usize> = HashMap::new();
        for d in &docs {
            if let Some(o) = &d.atoosync_order {
                *per_order.entry(o.clone()).or_default() += 1;
            }
        }
        duplicates += per_order.values().map(|n| n - 1).sum::<usize>();
        missing += (f.orders / PROFILES).saturating_sub(per_order.len());
    }
    let (quota, _, _) =
        passerelle_projections::orders::quota_view(&f.app.db, f.acc.as_str(), chrono::Utc::now())
            .await?;
    let used = quota
        .iter()
        .find(|q| q.counter == "import")
        .map_or(0, |q| q.used);
    let report = passerelle_projections::rebuild::rebuild(&f.app.projector, true).await?;
    let takeovers = f
        .app
        .db
        .fetch(
            "SELECT COUNT(*) FROM events WHERE aggregate_type = 'SyncRun' AND event_type = 'RunStarted'",
            &[],
        )
        .await?
        .first()
        .and_then(|r| r[0].as_i64())
        .unwrap_or(0)
        - runs.len() as i64;
    println!(
        "[soak] {PROFILES} processus worker, {} commandes sur {PROFILES} profils arrivées en {} s, bail {} ms : {kills} kill -9 \
         (toutes les {}–{} ms) en {secs:.1} s, {} tâches, {takeovers} reprises de tâche ; commandes importées {ok} \
         (échecs {failed}, ignorées {ignored}) ; documents EBP {documents} : doublons {duplicates}, manquants {missing} ; \
         quota utilisé {used} (attendu {}) ; replay --verify : {} ligne(s) comparée(s), {} différence(s)",
        f.orders,
        args.seconds,
        args.lease_ms,
        args.min_ms,
        args.max_ms,
        runs.len(),
        f.orders,
        report.rows,
        report.diffs.len()
    );
    anyhow::ensure!(
        duplicates == 0 && missing == 0 && used == f.orders as u64 && report.diffs.is_empty(),
        "soak : invariant violé"
    );
    Ok(())
}
