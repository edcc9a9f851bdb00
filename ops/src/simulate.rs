//! The simulator launcher: `passerelle sim PLATFORM` and the demo's shop. With
//! [`crate::platforms`], the only file of `ops/src` naming a platform's simulator types.
//!
//! Adding a platform's simulator is one arm in [`start_shop`] (and `has_shop_simulator`).

use crate::commands::{t, usage};
use crate::demo::REDIRECT_URI;
use passerelle_adapters::cms::prestashop::{
    Corruption, NewLine, NewOrder, PrestaShopSim, SimShop, DEMO_KEY,
};
use passerelle_adapters::ebp::sim::{EbpSim, EbpSimConfig};
use passerelle_domain::Platform;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::ExitCode;

/// A running shop simulator: its URL and the credentials a profile needs.
pub struct RunningShop {
    /// The platform simulated.
    pub platform: Platform,
    /// Base URL of the shop.
    pub url: String,
    /// Credentials, by the profile's key names.
    pub credentials: Value,
    // Held so the server lives as long as this value (dropping it stops the server).
    _server: Box<dyn std::any::Any + Send>,
}

/// The demo's shop simulator (tests reach its data through it).
pub type DemoShop = PrestaShopSim;

/// The demo shop: `orders` seeded orders plus two broken ones (a negative quantity, a cut
/// JSON answer); returns it with the ids of the broken ones.
pub async fn demo_shop(orders: usize) -> anyhow::Result<(DemoShop, Vec<u64>)> {
    demo_shop_at(orders, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// [`demo_shop`] listening on `addr`.
async fn demo_shop_at(orders: usize, addr: SocketAddr) -> anyhow::Result<(DemoShop, Vec<u64>)> {
    let mut shop = SimShop::seed_demo(orders);
    let mut broken = Vec::new();
    // A negative quantity: read fine, refused by validation.
    let line = |q| {
        NewLine::new(
            "COUS-Lin-40",
            "Coussin lin 40x40",
            q,
            Decimal::new(2490, 2),
            Some(1),
        )
    };
    let mut bad = NewOrder::new(1, 1, vec![line(-2)]);
    bad.state_id = 2;
    broken.push(shop.add_order(&bad));
    // Another order whose JSON the shop will serve cut in the middle.
    let mut cut = NewOrder::new(1, 1, vec![line(1)]);
    cut.state_id = 2;
    let cut_id = shop.add_order(&cut);
    broken.push(cut_id);
    let shop = PrestaShopSim::start_at(shop, DEMO_KEY, addr).await?;
    shop.corrupt_order(cut_id, Corruption::BrokenJson);
    Ok((shop, broken))
}

/// True when this build has a simulator of `platform` (what `demo --shop` can run).
pub fn has_shop_simulator(platform: Platform) -> bool {
    matches!(platform, Platform::PrestaShop)
}

/// Starts the shop simulator of `platform` on `addr`, seeded with the demo's `orders`.
pub async fn start_shop(
    platform: Platform,
    addr: SocketAddr,
    orders: usize,
) -> anyhow::Result<RunningShop> {
    match platform {
        Platform::PrestaShop => {
            let (sim, _) = demo_shop_at(orders, addr).await?;
            Ok(RunningShop {
                platform,
                url: sim.url(),
                credentials: json!({"key": sim.key()}),
                _server: Box::new(sim),
            })
        }
        other => Err(usage(format!(
            "pas de simulateur pour {} dans cette version (simulateurs : {})",
            other.label(),
            SIMULATORS.join(", ")
        ))),
    }
}

/// What `passerelle sim` can start.
pub const SIMULATORS: [&str; 2] = ["prestashop", "ebp"];

/// `passerelle sim PLATFORM [--listen ADDR] [--json]`.
pub async fn sim_cmd(platform: &str, listen: &str, json_out: bool) -> anyhow::Result<ExitCode> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        usage(format!(
            "adresse d'écoute invalide « {listen} » (attendu : 127.0.0.1:PORT)"
        ))
    })?;
    let name = platform.trim().to_ascii_lowercase();
    // Kept alive until the end of the function: dropping a simulator stops it.
    let (url, credentials, _guard): (String, Value, Box<dyn std::any::Any + Send>) =
        if name == "ebp" {
            let sim = EbpSim::start_at(EbpSimConfig::default(), addr).await?;
            crate::demo::seed_erp(&sim);
            let c = sim.config();
            let folder = c.folders.first().map(|f| f.0.clone()).unwrap_or_default();
            let creds = json!({
                "client_id": c.client_id,
                "client_secret": c.client_secret,
                "subscription_key": c.subscription_key,
                "folder_id": folder,
                "redirect_uri": REDIRECT_URI,
                "authorization_code": sim.authorize(REDIRECT_URI),
            });
            (sim.url(), creds, Box::new(sim))
        } else {
            let p: Platform =
                name.parse()
                    .map_err(|e: passerelle_domain::platform::UnknownPlatform| {
                        usage(format!("{e} ; simulateurs : {}", SIMULATORS.join(", ")))
                    })?;
            let shop = start_shop(p, addr, 50).await?;
            (shop.url.clone(), shop.credentials.clone(), Box::new(shop))
        };
    if json_out {
        println!(
            "{}",
            json!({"platform": name, "url": url, "credentials": credentials})
        );
    } else {
        println!("{} {name} : {url}", t("Simulateur", "Simulator"));
        if let Some(map) = credentials.as_object() {
            for (k, v) in map {
                println!("  {k} = {}", v.as_str().unwrap_or_default());
            }
        }
        println!("{}", t("Ctrl-C pour arrêter.", "Ctrl-C to stop."));
    }
    wait_for_stop().await?;
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGINT or SIGTERM.
async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
