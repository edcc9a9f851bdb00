//! Order-status updates for N transferred orders of which 5 % moved in the ERP: ERP calls
//! (the incremental scan and the touched chains, never one call per order) and shop calls
//! (only for the orders that changed), after a first full pass.

use crate::import::{engine_action, install, world};
use passerelle::app::App;
use passerelle::demo::ensure_import_plan;
use passerelle_domain::orders::DocumentKind;
use passerelle_domain::{AccountId, SyncAction};
use passerelle_simulators::ebp::TRACKING_COLUMN;
use std::time::Instant;

/// Imports `orders` orders, runs a first (full) status update, moves 5 % of the ERP orders
/// to delivery notes with a tracking number, and measures the second (incremental) run.
pub(crate) async fn bench_updates(url: &str, orders: usize, page: u32) -> anyhow::Result<()> {
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "0");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "1000000");
    let acc = AccountId::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = App::connect(url).await?;
    ensure_import_plan(&app, &acc, 1_000_000).await?;
    let w = world(orders, false).await?;
    let p = install(&app, &acc, &w, page).await?;
    let (imported, _, _) = engine_action(&app, &acc, &p, SyncAction::ImportOrders).await?;

    w.ebp.calls_reset();
    let t = Instant::now();
    let (n_full, _, _) = engine_action(&app, &acc, &p, SyncAction::UpdateOrderStatuses).await?;
    let full_s = t.elapsed().as_secs_f64();
    let full_calls = w.ebp.calls().len();

    let docs: Vec<_> = w
        .ebp
        .documents()
        .into_iter()
        .filter(|d| d.document.kind == DocumentKind::Order)
        .collect();
    let moved = imported / 20;
    for (i, d) in docs.iter().take(moved).enumerate() {
        let parcel = format!("6A{i:011}");
        w.ebp.transform(
            &d.number,
            DocumentKind::DeliveryNote,
            &[(TRACKING_COLUMN, &parcel)],
            None,
        );
    }
    w.ebp.calls_reset();
    w.shop.reset_calls();
    let t = Instant::now();
    let (n_incr, status, _) =
        engine_action(&app, &acc, &p, SyncAction::UpdateOrderStatuses).await?;
    let incr_s = t.elapsed().as_secs_f64();
    let incr_calls = w.ebp.calls().len();
    let shop_calls = w.shop.calls_total();
    println!(
        "mise à jour des statuts : {imported} commandes transférées ; 1re passe complète {n_full} changement(s), {full_calls} appels EBP en {full_s:.2} s ; \
         puis {moved} commandes (5 %) passées en BL avec suivi : {n_incr} mises à jour ({status:?}) en {incr_s:.2} s, \
         {incr_calls} appels EBP = {:.2} pour 100 commandes transférées, {shop_calls} appels boutique = {:.1} par commande changée",
        incr_calls as f64 * 100.0 / imported.max(1) as f64,
        shop_calls as f64 / n_incr.max(1) as f64
    );
    Ok(())
}
