//! Article exports against the simulators at zero latency, the ERP limiter off: export of
//! N articles with prices and stock at shop batch size 1 and 50 (items/s, calls, ratio);
//! update-stock of the whole catalogue vs an incremental run after 1 % of the stock
//! changed (time, calls); ERP calls per 1,000 articles.

use passerelle::app::App;
use passerelle::demo::DemoWorld;
use passerelle::export_demo::ensure_export_plan;
use passerelle_domain::{AccountId, ProfileId, RunStatus, SyncAction};
use passerelle_simulators::ebp::{EbpSimConfig, SimArticle, MAIN_WAREHOUSE};
use rust_decimal::Decimal;

/// A world whose EBP folder holds `n` published, stock-tracked articles.
async fn world(n: usize) -> anyhow::Result<DemoWorld> {
    let cfg = EbpSimConfig {
        rate_limit: false,
        daily_budget: None,
        ..EbpSimConfig::default()
    };
    let w = DemoWorld::start(0, cfg).await?;
    let articles: Vec<SimArticle> = (0..n)
        .map(|i| {
            SimArticle::new(
                &format!("ART{i:06}"),
                &format!("Article {i}"),
                (i % 50) as i64,
            )
            .price(Decimal::new(1000 + (i % 9000) as i64, 2), Decimal::from(20))
            .vat("TN")
        })
        .collect();
    w.ebp.seed_articles(&articles);
    Ok(w)
}

async fn install(
    app: &App,
    acc: &AccountId,
    w: &DemoWorld,
    batch: u32,
    incremental: bool,
) -> anyhow::Result<ProfileId> {
    let mut f = w.profile_file()?;
    if let Some(e) = f.export.as_mut() {
        e.batch_size = batch;
        e.incremental = incremental;
        // Plain texts: the benchmark measures calls, not RTF.
        e.text.description = None;
    }
    w.install_file(app, acc, f).await
}

/// Runs `action` to its end in this process; returns (succeeded items, status, seconds).
async fn run(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
    action: SyncAction,
) -> anyhow::Result<(i64, RunStatus, f64)> {
    let (n, status, secs) = crate::import::engine_action(app, acc, profile, action).await?;
    Ok((n as i64, status, secs))
}

struct Measure {
    items: i64,
    secs: f64,
    shop_calls: u32,
    erp_calls: usize,
}

/// One export of `n` articles at `batch` on a fresh database and fresh simulators.
async fn export_once(url: &str, n: usize, batch: u32) -> anyhow::Result<(Measure, Ctx)> {
    let acc = AccountId::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = App::connect(url).await?;
    ensure_export_plan(&app, &acc, 10_000_000).await?;
    let w = world(n).await?;
    let p = install(&app, &acc, &w, batch, false).await?;
    w.shop.reset_calls();
    let erp0 = w.ebp.calls().len();
    let (items, status, secs) = run(&app, &acc, &p, SyncAction::ExportArticles).await?;
    anyhow::ensure!(status == RunStatus::Succeeded, "export: {status:?}");
    let m = Measure {
        items,
        secs,
        shop_calls: w.shop.calls_total(),
        erp_calls: w.ebp.calls().len() - erp0,
    };
    Ok((
        m,
        Ctx {
            app,
            acc,
            profile: p,
            world: w,
        },
    ))
}

struct Ctx {
    app: App,
    acc: AccountId,
    profile: ProfileId,
    world: DemoWorld,
}

fn print(label: &str, m: &Measure) {
    println!(
        "  {label:<34} {:>6} items in {:>7.1} s = {:>7.0} items/s; shop calls {:>6}, ERP calls {:>5} ({:.1} per 1,000 articles)",
        m.items,
        m.secs,
        m.items as f64 / m.secs.max(1e-9),
        m.shop_calls,
        m.erp_calls,
        m.erp_calls as f64 * 1000.0 / (m.items.max(1) as f64)
    );
}

/// The whole export benchmark; `fresh` gives a new database URL per scenario.
pub(crate) async fn bench_export<F, Fut>(fresh: F, n: usize, n_batch1: usize) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "0");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000000");
    println!(
        "\nExport of articles with prices and stock (simulators, zero latency, ERP limiter off):"
    );
    let (b1, _) = export_once(&fresh().await?, n_batch1, 1).await?;
    print(&format!("{n_batch1} articles, batch 1"), &b1);
    let (b50s, _) = export_once(&fresh().await?, n_batch1, 50).await?;
    print(&format!("{n_batch1} articles, batch 50"), &b50s);
    println!(
        "  batch-50 / batch-1 at {n_batch1}: items/s x{:.1}, shop calls x{:.3}",
        (b50s.items as f64 / b50s.secs) / (b1.items as f64 / b1.secs),
        b50s.shop_calls as f64 / b1.shop_calls.max(1) as f64
    );
    let (b50, ctx) = export_once(&fresh().await?, n, 50).await?;
    print(&format!("{n} articles, batch 50"), &b50);

    // Update stock: full, then incremental after 1 % of the stock changed.
    let Ctx {
        app,
        acc,
        profile,
        world: w,
    } = ctx;
    w.shop.reset_calls();
    let e0 = w.ebp.calls().len();
    let (items, status, secs) = run(&app, &acc, &profile, SyncAction::UpdateStock).await?;
    anyhow::ensure!(status == RunStatus::Succeeded, "full stock: {status:?}");
    let full = Measure {
        items,
        secs,
        shop_calls: w.shop.calls_total(),
        erp_calls: w.ebp.calls().len() - e0,
    };
    let old = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| anyhow::anyhow!("date"))?;
    w.ebp.date_all_articles(old);
    let changed = n / 100;
    for i in 0..changed {
        let r = format!("ART{:06}", i * 100);
        w.ebp
            .seed_stock(&r, MAIN_WAREHOUSE, Decimal::from(7 + (i % 5) as i64));
    }
    install(&app, &acc, &w, 50, true).await?;
    w.shop.reset_calls();
    let e0 = w.ebp.calls().len();
    let (items, status, secs) = run(&app, &acc, &profile, SyncAction::UpdateStock).await?;
    anyhow::ensure!(
        status == RunStatus::Succeeded,
        "incremental stock: {status:?}"
    );
    let inc = Measure {
        items,
        secs,
        shop_calls: w.shop.calls_total(),
        erp_calls: w.ebp.calls().len() - e0,
    };
    println!("\nUpdate stock of {n} articles (batch 50):");
    print("full", &full);
    print(&format!("incremental, {changed} changed (1 %)"), &inc);
    let all_full = full.shop_calls as f64 + full.erp_calls as f64;
    let all_inc = inc.shop_calls as f64 + inc.erp_calls as f64;
    println!(
        "  incremental / full: time {:.2} %, calls {:.2} % (ERP {:.2} %, shop {:.2} %); ERP calls per 1,000 catalogue articles: full {:.1}, incremental {:.2}",
        100.0 * inc.secs / full.secs,
        100.0 * all_inc / all_full.max(1.0),
        100.0 * inc.erp_calls as f64 / full.erp_calls.max(1) as f64,
        100.0 * inc.shop_calls as f64 / full.shop_calls.max(1) as f64,
        full.erp_calls as f64 * 1000.0 / n as f64,
        inc.erp_calls as f64 * 1000.0 / n as f64,
    );
    Ok(())
}
