//! The simulator launcher: `passerelle sim PLATFORM` and the demo's shop. With
//! [`crate::platforms`], the only file of `ops/src` naming a platform's simulator types.
//!
//! Adding a platform's simulator is one arm in [`start_shop`] (and `has_shop_simulator`).

use crate::commands::{t, usage};
use crate::demo::REDIRECT_URI;
use passerelle_domain::Platform;
use passerelle_simulators::bigcommerce::{BigCommerceSim, BigCommerceSimConfig};
use passerelle_simulators::ebp::{EbpSim, EbpSimConfig};
use passerelle_simulators::magento::{MagentoSim, MagentoSimConfig};
use passerelle_simulators::prestashop::{Corruption, PrestaShopSim, SimShop, DEMO_KEY};
use passerelle_simulators::seed::{Seed, SeedBreakage};
use passerelle_simulators::shopify::{ShopifySim, ShopifySimConfig};
use passerelle_simulators::wix::{WixSim, WixSimConfig};
use passerelle_simulators::woocommerce::{WooSim, WooSimConfig};
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

/// The demo shop: the shared seed's `orders` orders plus the two broken ones (a negative
/// quantity, a cut JSON answer); returns it with the ids of the broken ones.
pub async fn demo_shop(orders: usize) -> anyhow::Result<(DemoShop, Vec<u64>)> {
    let seed = Seed::demo(orders).with_broken();
    prestashop_from_seed(&seed, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// The PrestaShop simulator serving `seed` on `addr`, its broken orders broken.
async fn prestashop_from_seed(
    seed: &Seed,
    addr: SocketAddr,
) -> anyhow::Result<(DemoShop, Vec<u64>)> {
    let (shop, broken) = SimShop::from_seed(seed);
    let sim = PrestaShopSim::start_at(shop, DEMO_KEY, addr).await?;
    for (id, how) in &broken {
        if *how == Some(SeedBreakage::CutAnswer) {
            sim.corrupt_order(*id, Corruption::BrokenJson);
        }
    }
    Ok((sim, broken.into_iter().map(|(id, _)| id).collect()))
}

/// True when this build has a simulator of `platform` (what `demo --shop` can run).
pub fn has_shop_simulator(platform: Platform) -> bool {
    matches!(
        platform,
        Platform::PrestaShop
            | Platform::WooCommerce
            | Platform::Shopify
            | Platform::Wix
            | Platform::BigCommerce
            | Platform::Magento
    )
}

/// The demo profile of `platform` (placeholders `{{SHOP_URL}}`, `{{SHOP_KEY}}` and the
/// EBP ones), for the platforms whose demo runs on [`start_shop`].
pub fn demo_profile_template(platform: Platform) -> Option<&'static str> {
    match platform {
        Platform::PrestaShop => Some(crate::demo::PROFILE_TEMPLATE),
        Platform::WooCommerce => Some(include_str!("../deploy/profile.woocommerce.sample.toml")),
        Platform::Shopify => Some(include_str!("../deploy/profile.shopify.sample.toml")),
        Platform::Wix => Some(include_str!("../deploy/profile.wix.sample.toml")),
        Platform::BigCommerce => Some(include_str!("../deploy/profile.bigcommerce.sample.toml")),
        Platform::Magento => Some(include_str!("../deploy/profile.magento.sample.toml")),
        _ => None,
    }
}

/// Starts the shop simulator of `platform` on `addr`, serving `seed`.
pub async fn start_shop(
    platform: Platform,
    addr: SocketAddr,
    seed: &Seed,
) -> anyhow::Result<RunningShop> {
    match platform {
        Platform::PrestaShop => {
            let (sim, _) = prestashop_from_seed(seed, addr).await?;
            Ok(RunningShop {
                platform,
                url: sim.url(),
                credentials: json!({"key": sim.key()}),
                _server: Box::new(sim),
            })
        }
        Platform::WooCommerce => {
            let (sim, _) = WooSim::from_seed(seed, WooSimConfig::default(), addr).await?;
            Ok(RunningShop {
                platform,
                url: sim.url(),
                credentials: json!({
                    "key": sim.credentials(),
                    "consumer_key": sim.consumer_key(),
                    "consumer_secret": sim.consumer_secret(),
                }),
                _server: Box::new(sim),
            })
        }
        Platform::Shopify => {
            let sim = ShopifySim::start_at(seed, ShopifySimConfig::default(), addr).await?;
            Ok(RunningShop {
                platform,
                url: sim.url(),
                credentials: json!({"key": sim.token()}),
                _server: Box::new(sim),
            })
        }
        Platform::Wix => {
            let (sim, _) = WixSim::from_seed(seed, WixSimConfig::default(), addr).await?;
            Ok(RunningShop {
                platform,
                url: sim.url(),
                credentials: json!({
                    "key": sim.credentials(),
                    "api_key": sim.api_key(),
                    "site_id": sim.site_id(),
                }),
                _server: Box::new(sim),
            })
        }
        Platform::BigCommerce => {
            // The Pro plan's quota (450 requests / 30 s): the demo's 60 orders read and
            // written back stay within one window; tests use the Standard plan's 150.
            let config = BigCommerceSimConfig {
                quota: 450,
                ..BigCommerceSimConfig::default()
            };
            let (sim, _) = BigCommerceSim::from_seed(seed, config, addr).await?;
            Ok(RunningShop {
                platform,
                url: sim.url(),
                credentials: json!({"key": sim.token(), "store_hash": sim.store_hash()}),
                _server: Box::new(sim),
            })
        }
        Platform::Magento => {
            let (sim, _) = MagentoSim::from_seed(seed, MagentoSimConfig::default(), addr).await?;
            Ok(RunningShop {
                platform,
                url: sim.url(),
                // `key` is the integration access token, sent as `Authorization: Bearer`.
                credentials: json!({"key": sim.token(), "store_code": "default"}),
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
pub const SIMULATORS: [&str; 7] = [
    "prestashop",
    "woocommerce",
    "shopify",
    "wix",
    "bigcommerce",
    "magento",
    "ebp",
];

/// `passerelle sim PLATFORM [--listen ADDR] [--seed FILE] [--json]`.
pub async fn sim_cmd(
    platform: &str,
    listen: &str,
    seed: Option<&std::path::Path>,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        usage(format!(
            "adresse d'écoute invalide « {listen} » (attendu : 127.0.0.1:PORT)"
        ))
    })?;
    let name = platform.trim().to_ascii_lowercase();
    let stop = StopSignals::listen()?;
    let seed = match seed {
        Some(path) => Seed::from_file(path).map_err(usage)?,
        None => Seed::demo(50).with_broken(),
    };
    // Kept alive until the end of the function: dropping a simulator stops it.
    let (url, credentials, _guard): (String, Value, Box<dyn std::any::Any + Send>) =
        if name == "ebp" {
            let sim = EbpSim::start_at(EbpSimConfig::default(), addr).await?;
            crate::demo::seed_erp(&sim, &seed);
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
            let shop = start_shop(p, addr, &seed).await?;
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
    stop.wait().await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT / SIGTERM, listened to from creation: built before the first line is printed, so
/// a caller that stops the simulator as soon as it read that line never kills it unhandled.
struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Waits for either signal.
    async fn wait(mut self) -> anyhow::Result<()> {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        Ok(())
    }
}
