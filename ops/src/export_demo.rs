//! The article exports of `passerelle demo`: the simulated EBP folder gets the demo
//! catalogue (prices, VAT codes, RTF descriptions, weights, two articles the shop lacks and
//! one unpublished), then export-articles, update-prices and update-stock run before the
//! order import, with a price and a stock changed in the ERP in between so that the
//! updates have something to send.

use crate::app::App;
use crate::commands::{lang, run_action, t};
use crate::demo::DemoWorld;
use passerelle_adapters::store::SqlQuotas;
use passerelle_domain::subscription::{PlanKind, QuotaCounter, SubscriptionCommand};
use passerelle_domain::{AccountId, Actor, ProfileId, RunStatus, SyncAction};
use passerelle_simulators::ebp::{demo_articles, EbpSim, SimArticle};
use passerelle_workflows::ports::SystemClock;
use rust_decimal::Decimal;
use serde_json::json;
use std::sync::Arc;

/// Seeds the ERP's article store: the demo catalogue, and the special articles of the
/// order import as not published (they are never sold on the web).
pub fn seed_articles(ebp: &EbpSim) {
    ebp.seed_articles(&demo_articles());
    let specials: Vec<SimArticle> = ebp
        .items()
        .into_iter()
        .filter(|i| !demo_articles().iter().any(|a| a.id == i.id))
        .map(|i| SimArticle::new(&i.id, &i.caption, 0).published(false))
        .collect();
    ebp.seed_articles(&specials);
}

/// Buys an export plan of `units` for the account when it has none.
pub async fn ensure_export_plan(app: &App, acc: &AccountId, units: u64) -> anyhow::Result<bool> {
    app.projector.catch_up().await?;
    let (counters, _, _) =
        passerelle_projections::orders::quota_view(&app.db, acc.as_str(), chrono::Utc::now())
            .await?;
    if counters
        .iter()
        .any(|c| c.counter == QuotaCounter::Export.as_str() && c.bought > 0)
    {
        return Ok(false);
    }
    SqlQuotas::new(app.db.clone(), Arc::new(SystemClock))
        .execute(
            acc,
            SubscriptionCommand::Purchase {
                counter: QuotaCounter::Export,
                plan: PlanKind::Monthly,
                units,
                now: chrono::Utc::now(),
            },
            Actor::Cli,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    app.projector.catch_up().await?;
    Ok(true)
}

/// Runs the three exports of the demo and prints what the shop holds afterwards.
pub async fn run_exports(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
    world: &DemoWorld,
) -> anyhow::Result<()> {
    if ensure_export_plan(app, acc, 1000).await? {
        println!(
            "{}",
            t(
                "Forfait mensuel export de 1000 unités souscrit pour le compte.",
                "Monthly export plan of 1000 units bought for the account."
            )
        );
    }
    let input = json!({"retry_initial_ms": 300});
    let mut results = Vec::new();
    let (_, s) = run_action(
        app,
        acc,
        profile.clone(),
        SyncAction::ExportArticles,
        input.clone(),
    )
    .await?;
    results.push((SyncAction::ExportArticles, s));
    // The merchant changes two prices and two stocks in EBP.
    world.ebp.update_article(
        "COUS-Lin-40",
        &[
            ("SalePriceVatExcluded", json!(22.9)),
            ("SalePriceVatIncluded", json!(27.48)),
        ],
    );
    world.ebp.update_article(
        "THE-Vert-100",
        &[
            ("SalePriceVatExcluded", json!(8.5)),
            ("SalePriceVatIncluded", json!(8.97)),
        ],
    );
    let (_, s) = run_action(
        app,
        acc,
        profile.clone(),
        SyncAction::UpdatePrices,
        input.clone(),
    )
    .await?;
    results.push((SyncAction::UpdatePrices, s));
    world.ebp.seed_stock(
        "PLAID-Laine",
        passerelle_simulators::ebp::MAIN_WAREHOUSE,
        Decimal::from(7),
    );
    world.ebp.seed_stock(
        "VASE-Gres",
        passerelle_simulators::ebp::MAIN_WAREHOUSE,
        Decimal::from(5),
    );
    let (_, s) = run_action(app, acc, profile.clone(), SyncAction::UpdateStock, input).await?;
    results.push((SyncAction::UpdateStock, s));
    println!();
    for (a, s) in &results {
        println!("  {} : {}", a.label(lang()), s.label(lang()));
    }
    let products = world.shop.with_shop(|s| s.rows("products").len());
    println!(
        "  {} {products} {} ; VASE-Gres : {} {:?}, PLAID-Laine : {} {:?}\n",
        t("Boutique :", "Shop:"),
        t("produits", "products"),
        t("stock", "stock"),
        world.shop.stock("VASE-Gres"),
        t("stock", "stock"),
        world.shop.stock("PLAID-Laine"),
    );
    if results.iter().any(|(_, s)| *s == RunStatus::Failed) {
        anyhow::bail!("un export de la démonstration a échoué (a demo export failed)");
    }
    Ok(())
}
