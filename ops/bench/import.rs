//! Import of N orders (3 lines each) from the PrestaShop simulator into the EBP simulator:
//! the engine (journaled steps, ledger, quotas, shared EBP gate in the database) against a
//! plain loop making the same shop and ERP calls with the same clients and rules, side by
//! side on one database; ERP calls per 1,000 orders; peak memory.

use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, DemoWorld};
use passerelle_domain::orders::build::{self, BuildContext};
use passerelle_domain::orders::customer;
use passerelle_domain::orders::{CustomerResolution, ErpItem};
use passerelle_domain::{AccountId, Actor, ProfileId, RunStatus, SyncAction, Trigger};
use passerelle_simulators::ebp::EbpSimConfig;
use passerelle_simulators::prestashop::{NewLine, NewOrder, PrestaShopSim, SimShop, DEMO_KEY};
use passerelle_workflows::actions::import_orders::{customer_keys, import_missing};
use passerelle_workflows::engine::{NewRun, RunStore, Worker};
use passerelle_workflows::ports::{Erp, ImportBatch, ShopOrderRead, SystemClock};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

/// Peak resident memory of this process so far (MB), from /proc.
pub(crate) fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The `i`-th order of the benchmarks: 3 lines, one of the demo shop's 3 customers.
pub(crate) fn bench_order(i: usize) -> NewOrder {
    let refs = [
        ("TAPI-Gris-Pla", "Tapis gris plat 160x230", 18900),
        ("COUS-Lin-40", "Coussin lin 40x40", 2490),
        ("RIDEAU-Voile", "Rideau voile blanc", 3450),
    ];
    let lines = refs
        .iter()
        .map(|(r, name, cents)| {
            NewLine::new(
                r,
                name,
                1 + (i % 3) as i64,
                Decimal::new(*cents, 2),
                Some(1),
            )
        })
        .collect();
    let c = 1 + (i % 3) as u64;
    NewOrder::new(c, c, lines)
}

/// A shop of `n` orders of 3 lines each (customers of the demo shop), plus the ERP.
pub(crate) async fn world(n: usize, limit: bool) -> anyhow::Result<DemoWorld> {
    world_on(n, limit, &EbpSimConfig::default().subscription_key).await
}

/// [`world`] whose ERP answers to the EBP subscription `subscription` (the call gate keeps
/// one row per subscription: separate keys never share a gate).
pub(crate) async fn world_on(
    n: usize,
    limit: bool,
    subscription: &str,
) -> anyhow::Result<DemoWorld> {
    let mut shop = SimShop::seed_demo(0);
    for i in 0..n {
        shop.add_order(&bench_order(i));
    }
    let cfg = EbpSimConfig {
        rate_limit: limit,
        daily_budget: None,
        subscription_key: subscription.to_string(),
        ..EbpSimConfig::default()
    };
    let mut w = DemoWorld::start(0, cfg).await?;
    // Replace the demo shop by the benchmark's.
    w.shop = PrestaShopSim::start(shop, DEMO_KEY).await?;
    Ok(w)
}

pub(crate) async fn install(
    app: &App,
    acc: &AccountId,
    w: &DemoWorld,
    page: u32,
) -> anyhow::Result<ProfileId> {
    let mut f = w.profile_file()?;
    if let Some(i) = f.import.as_mut() {
        i.page_size = page;
    }
    w.install_file(app, acc, f).await
}

/// The same calls as the workflow, in a plain loop: no journal, no ledger, no quota.
async fn plain_loop(app: &App, acc: &AccountId, profile: &ProfileId) -> anyhow::Result<usize> {
    let (cfg, shop, erp) = app.connectors()?.clients(acc, profile).await?;
    let e = |e: passerelle_workflows::engine::StepError| anyhow::anyhow!("{e}");
    let s = &cfg.settings;
    let mut items: BTreeMap<String, ErpItem> = BTreeMap::new();
    let special: Vec<String> = [
        &s.special.misc,
        &s.special.gap,
        &s.special.gift_wrap,
        &s.special.shipping,
    ]
    .into_iter()
    .chain(s.special.discount_by_vat.values())
    .cloned()
    .collect();
    for it in erp.items_by_references(&special).await.map_err(e)? {
        items.insert(it.id.clone(), it);
    }
    let rules: BTreeMap<&str, _> = s
        .statuses
        .iter()
        .map(|r| (r.state_id.as_str(), r))
        .collect();
    let mut after: Option<String> = None;
    let mut done = 0;
    loop {
        let page = shop
            .orders_page(&cfg.query, after.as_deref(), cfg.page_size)
            .await
            .map_err(e)?;
        after = page.orders.last().map(|o| o.id().to_string());
        let orders: Vec<_> = page
            .orders
            .iter()
            .filter_map(|o| match o {
                ShopOrderRead::Ok(o) if build::validate_order(o).is_ok() => Some(o.as_ref()),
                _ => None,
            })
            .collect();
        let refs: Vec<String> = orders
            .iter()
            .flat_map(|o| o.lines.iter().map(|l| l.reference.clone()))
            .filter(|r| !items.contains_key(r))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !refs.is_empty() {
            for it in erp.items_by_references(&refs).await.map_err(e)? {
                items.insert(it.id.clone(), it);
            }
        }
        let keys = customer_keys(&orders, &s.customers);
        let found = erp.find_customers(&keys).await.map_err(e)?;
        let mut batch = ImportBatch::default();
        let mut meta = Vec::new();
        let mut coded: BTreeSet<String> = BTreeSet::new();
        for o in &orders {
            let Some(status) = rules.get(o.state_id.as_str()) else {
                continue;
            };
            let res = customer::resolve_customer(o, s, &found);
            let cx = BuildContext {
                settings: s,
                status,
                customer: &res,
                items: &items,
                today: cfg.today,
            };
            if let Ok(doc) = build::build_document(o, &cx) {
                if let CustomerResolution::New(r) = &res {
                    if !batch.customers.iter().any(|c| c.code == r.code) {
                        batch.customers.push(r.clone());
                    }
                }
                // Same rule as the workflow: the account number once per customer, when
                // the shop lacks it.
                let send = o.customer.erp_code.as_deref() != Some(doc.customer_code.as_str())
                    && coded.insert(o.customer.id.clone());
                meta.push((
                    o.id.clone(),
                    send.then(|| o.customer.id.clone()),
                    doc.customer_code.clone(),
                    status.set_shop_state.clone(),
                ));
                batch.documents.push(doc);
            }
        }
        let out = import_missing(&erp, batch).await.map_err(e)?;
        let numbers: BTreeMap<String, String> = out
            .existing
            .iter()
            .chain(out.report.created.iter())
            .map(|d| (d.atoosync_order.clone(), d.number.clone()))
            .collect();
        for (id, cust, code, state) in &meta {
            let Some(number) = numbers.get(id) else {
                continue;
            };
            if let Some(st) = state {
                shop.set_order_state(id, st, false).await.map_err(e)?;
            }
            shop.set_order_document_number(id, number)
                .await
                .map_err(e)?;
            if let Some(cust) = cust {
                shop.set_customer_erp_code(cust, code).await.map_err(e)?;
            }
            done += 1;
        }
        if s.push_stock {
            let r: Vec<String> = refs.clone();
            if !r.is_empty() {
                for l in erp.stock_levels(&r, &[]).await.map_err(e)? {
                    shop.set_stock(&l.item_id, l.quantity).await.map_err(e)?;
                }
            }
        }
        if !page.has_more || after.is_none() {
            break;
        }
    }
    Ok(done)
}

async fn engine(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
) -> anyhow::Result<(usize, RunStatus)> {
    let (n, status, _) = engine_action(app, acc, profile, SyncAction::ImportOrders).await?;
    Ok((n, status))
}

/// Runs one action to its end through a worker of this process; returns the succeeded
/// items, the final status and the run's duration (before the projections catch up).
pub(crate) async fn engine_action(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
    action: SyncAction,
) -> anyhow::Result<(usize, RunStatus, f64)> {
    let t = Instant::now();
    let id = passerelle_domain::RunId::from_uuid(uuid::Uuid::now_v7());
    app.store
        .enqueue(NewRun {
            run_id: id,
            account_id: acc.clone(),
            profile_id: profile.clone(),
            action,
            trigger: Trigger::Manual,
            input: serde_json::json!({}),
            actor: Actor::Cli,
            requested_at: chrono::Utc::now(),
        })
        .await?;
    let w = Worker::new(
        "bench-0".to_string(),
        app.run_store(),
        Arc::new(app.registry("http://127.0.0.1:9")?),
        Arc::new(SystemClock),
        app.settings.worker_config(),
    );
    // Drain until the run ends: a 429 parks it (status Waiting) until its retry is due.
    let status = loop {
        let done = w.drain().await?;
        match done.iter().find(|(r, _)| *r == id).map(|(_, s)| *s) {
            Some(s @ (RunStatus::Succeeded | RunStatus::Failed | RunStatus::Stopped)) => break s,
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    let secs = t.elapsed().as_secs_f64();
    app.projector.catch_up().await?;
    let run = passerelle_projections::journal::get(&app.db, acc.as_str(), &id.to_string())
        .await?
        .ok_or_else(|| anyhow::anyhow!("run missing"))?;
    Ok((run.counts.succeeded as usize, status, secs))
}

/// Runs the import benchmark on one database URL.
pub(crate) async fn bench_import(
    label: &str,
    url: &str,
    orders: usize,
    page: u32,
) -> anyhow::Result<()> {
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "0");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "1000000");
    let acc = AccountId::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = App::connect(url).await?;
    ensure_import_plan(&app, &acc, 1_000_000).await?;

    let plain_world = world(orders, false).await?;
    let p = install(&app, &acc, &plain_world, page).await?;
    let t = Instant::now();
    let n_plain = plain_loop(&app, &acc, &p).await?;
    let plain_s = t.elapsed().as_secs_f64();
    let plain_calls = plain_world.ebp.calls().len();
    drop(plain_world);

    let engine_world = world(orders, false).await?;
    let p = install(&app, &acc, &engine_world, page).await?;
    let rss_before = peak_rss_mb();
    let t = Instant::now();
    let (n_engine, status) = engine(&app, &acc, &p).await?;
    let engine_s = t.elapsed().as_secs_f64();
    let calls = engine_world.ebp.calls().len();
    println!(
        "{label}: import {orders} commandes × 3 lignes (pages de {page}) — moteur {n_engine} en {engine_s:.2} s = {:.0} cmd/s ({status:?}) ; \
         boucle simple {n_plain} en {plain_s:.2} s = {:.0} cmd/s ; ratio moteur/boucle {:.2}× ; appels EBP : moteur {calls} ({:.1}/1000 cmd), boucle {plain_calls} ; \
         mémoire max du processus {:.0} Mo (avant l'import, simulateurs chargés : {rss_before:.0} Mo)",
        n_engine as f64 / engine_s,
        n_plain as f64 / plain_s,
        engine_s / plain_s,
        calls as f64 * 1000.0 / orders as f64,
        peak_rss_mb()
    );
    Ok(())
}

/// With EBP's real limit (1 call/s) on: wall time and calls for `orders` orders.
pub(crate) async fn bench_import_limited(
    url: &str,
    orders: usize,
    page: u32,
) -> anyhow::Result<()> {
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "1000");
    let acc = AccountId::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = App::connect(url).await?;
    ensure_import_plan(&app, &acc, 1_000_000).await?;
    let w = world(orders, true).await?;
    let p = install(&app, &acc, &w, page).await?;
    let t = Instant::now();
    let (n, status) = engine(&app, &acc, &p).await?;
    let s = t.elapsed().as_secs_f64();
    let calls = w.ebp.calls().len();
    println!(
        "limite EBP 1 appel/s : {n} commandes en {s:.1} s ({status:?}) ; {calls} appels EBP = {:.1}/1000 commandes ; refus 429 : {} ; à 10 000 appels/jour : {:.0} commandes/jour au plus",
        calls as f64 * 1000.0 / orders as f64,
        w.ebp.rate_rejections(),
        10_000.0 * orders as f64 / calls.max(1) as f64
    );
    Ok(())
}

/// The engine's own peak memory: the import of `orders` orders runs in a `passerelle run`
/// child process (release binary next to this one) against the simulators held here, and
/// GNU time reports the child's maximum resident set.
pub(crate) async fn bench_import_memory(url: &str, orders: usize, page: u32) -> anyhow::Result<()> {
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "0");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "1000000");
    let acc = AccountId::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = App::connect(url).await?;
    ensure_import_plan(&app, &acc, 1_000_000).await?;
    let w = world(orders, false).await?;
    let p = install(&app, &acc, &w, page).await?;
    let bin = std::env::current_exe()?
        .parent()
        .map(|d| d.join("passerelle"))
        .ok_or_else(|| anyhow::anyhow!("no binary directory"))?;
    let (url, account, profile) = (url.to_string(), acc.to_string(), p.to_string());
    let t = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        // PASSERELLE_BENCH_WRAPPER (e.g. a heap profiler) replaces GNU time when set.
        let wrapper = std::env::var("PASSERELLE_BENCH_WRAPPER")
            .unwrap_or_else(|_| "/usr/bin/time -f %M".into());
        let mut parts = wrapper.split_whitespace();
        let mut cmd = std::process::Command::new(parts.next().unwrap_or("/usr/bin/time"));
        cmd.args(parts)
            .arg(bin)
            .args(["run", &profile, "import-orders"])
            .env("DATABASE_URL", url)
            .env("PASSERELLE_ACCOUNT", account)
            .stdout(std::process::Stdio::null());
        cmd.output()
    })
    .await??;
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kb: f64 = stderr
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or(0.0);
    println!(
        "mémoire : `passerelle run … import-orders` de {orders} commandes dans son propre processus : {:.0} Mo au plus ({secs:.1} s, {} documents créés)",
        kb / 1024.0,
        w.ebp.documents().len()
    );
    Ok(())
}
