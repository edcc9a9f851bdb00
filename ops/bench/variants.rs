//! Variants grouping (part of `--only export`): the same N articles exported as N plain
//! products, then grouped 6 by 6 (3 sizes × 2 colours) into N/6 products with combinations,
//! each on a fresh database and fresh simulators at zero latency, the ERP limiter off.
//! Prints time, shop and ERP calls side by side: grouping costs no extra ERP call (groups
//! are held back during the page loop), and the shop calls per article it adds.

use passerelle::demo::DemoWorld;
use passerelle::export_demo::ensure_export_plan;
use passerelle_domain::catalog::{AttributeFields, VariantSettings};
use passerelle_domain::{AccountId, RunStatus, SyncAction};
use passerelle_simulators::ebp::{EbpSimConfig, SimArticle};
use rust_decimal::Decimal;
use serde_json::json;

struct Measure {
    items: usize,
    secs: f64,
    products: usize,
    combinations: usize,
    shop_calls: u32,
    erp_calls: usize,
}

/// One export of `n` articles (grouped when `grouped`) on a fresh database.
async fn once(url: &str, n: usize, grouped: bool) -> anyhow::Result<Measure> {
    let acc = AccountId::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = passerelle::app::App::connect(url).await?;
    ensure_export_plan(&app, &acc, 10_000_000).await?;
    let w = DemoWorld::start(
        0,
        EbpSimConfig {
            rate_limit: false,
            daily_budget: None,
            ..EbpSimConfig::default()
        },
    )
    .await?;
    let sizes = ["S", "M", "L"];
    let colours = ["Blanc", "Noir"];
    let articles: Vec<SimArticle> = (0..n)
        .map(|i| {
            let (g, k) = (i / 6, i % 6);
            let (size, colour) = (sizes[k / 2], colours[k % 2]);
            SimArticle::new(
                &format!("VAR{g:05}-{size}-{colour}"),
                &format!("Modèle {g} {size} {colour}"),
                (i % 20) as i64,
            )
            .price(Decimal::new(2000 + (k as i64) * 100, 2), Decimal::from(20))
            .vat("TN")
            .column("xx_Maitre", json!(format!("VAR{g:05}")))
            .column("xx_Att1", json!("Taille"))
            .column("xx_Val1", json!(size))
            .column("xx_Att2", json!("Couleur"))
            .column("xx_Val2", json!(colour))
        })
        .collect();
    w.ebp.seed_articles(&articles);
    let mut f = w.profile_file()?;
    if let Some(e) = f.export.as_mut() {
        e.text.description = None;
        if grouped {
            e.variants = Some(VariantSettings {
                master_field: "xx_Maitre".into(),
                label_field: None,
                attributes: vec![
                    AttributeFields {
                        name_field: "xx_Att1".into(),
                        value_field: "xx_Val1".into(),
                    },
                    AttributeFields {
                        name_field: "xx_Att2".into(),
                        value_field: "xx_Val2".into(),
                    },
                ],
            });
        }
    }
    let p = w.install_file(&app, &acc, f).await?;
    w.shop.reset_calls();
    let erp0 = w.ebp.calls().len();
    let (items, status, secs) =
        crate::import::engine_action(&app, &acc, &p, SyncAction::ExportArticles).await?;
    anyhow::ensure!(status == RunStatus::Succeeded, "export: {status:?}");
    let (products, combinations) = w
        .shop
        .with_shop(|s| (s.rows("products").len(), s.rows("combinations").len()));
    Ok(Measure {
        items,
        secs,
        products,
        combinations,
        shop_calls: w.shop.calls_total(),
        erp_calls: w.ebp.calls().len() - erp0,
    })
}

fn print(label: &str, m: &Measure) {
    println!(
        "  {label:<28} {:>6} items in {:>6.1} s; {:>6} products, {:>6} combinations; shop calls {:>6}, ERP calls {:>4}",
        m.items, m.secs, m.products, m.combinations, m.shop_calls, m.erp_calls
    );
}

/// The variants benchmark on `n` articles (rounded down to whole groups of 6).
pub(crate) async fn bench_variants<F, Fut>(fresh: F, n: usize) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let n = n - n % 6;
    println!("\nVariants grouping, {n} articles in groups of 6 (3 sizes × 2 colours), batch 50:");
    let plain = once(&fresh().await?, n, false).await?;
    print("as plain products", &plain);
    let grouped = once(&fresh().await?, n, true).await?;
    print("grouped", &grouped);
    println!(
        "  grouped / plain: time x{:.2}, shop calls x{:.2}, ERP calls x{:.2} ({:.1} shop calls per group)",
        grouped.secs / plain.secs.max(1e-9),
        grouped.shop_calls as f64 / plain.shop_calls.max(1) as f64,
        grouped.erp_calls as f64 / plain.erp_calls.max(1) as f64,
        grouped.shop_calls as f64 / (n / 6).max(1) as f64,
    );
    Ok(())
}
