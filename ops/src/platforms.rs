//! The one wiring function of the shop platforms: the only place of `ops/src` that names a
//! platform's client types. Everything else asks [`capabilities`] or gets a
//! [`ShopConnection`] from [`connect`] and uses its platform-neutral families.
//!
//! Adding a platform is one arm in each function below (see `docs/PLATFORMS.md`,
//! "Adding a platform").

use passerelle_adapters::cms::{bigcommerce, magento, prestashop, shopify, wix, woocommerce};
use passerelle_adapters::store::Db;
use passerelle_domain::platform::{partial_notes, Capabilities, Platform};
use passerelle_domain::profile::Profile;
use passerelle_domain::SyncAction;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::ShopConnection;

/// What `platform` can do, as its adapter declares it (none for a platform without a
/// client yet: every action is refused as "pas encore prise en charge").
pub fn capabilities(platform: Platform) -> Capabilities {
    match platform {
        Platform::PrestaShop => prestashop::CAPABILITIES,
        Platform::WooCommerce => woocommerce::CAPABILITIES,
        Platform::Shopify => shopify::CAPABILITIES,
        Platform::Wix => wix::CAPABILITIES,
        Platform::BigCommerce => bigcommerce::CAPABILITIES,
        Platform::Magento => magento::CAPABILITIES,
        Platform::LeNewBlack | Platform::Oasis | Platform::Orderlion => Capabilities::NONE,
    }
}

/// What the shop of `profile` can do, with the run-log notes of the parts of `action` it
/// cannot (none when the profile has no shop: its connection fails with its own reason).
pub fn partial(profile: &Profile, action: SyncAction) -> (Capabilities, Vec<String>) {
    match &profile.shop {
        Some(s) => {
            let caps = capabilities(s.platform);
            (caps, partial_notes(s.platform, caps, action))
        }
        None => (Capabilities::all(), Vec::new()),
    }
}

/// The shop connection of `profile` with its credential `key` (in clear, memory only);
/// `db` holds what the workers of one shop share (Shopify's cost bucket).
pub fn connect(profile: &Profile, key: &str, db: &Db) -> Result<ShopConnection, StepError> {
    let shop = profile
        .shop
        .as_ref()
        .ok_or_else(|| StepError::permanent("profil sans connexion boutique"))?;
    match shop.platform {
        Platform::PrestaShop => {
            let export = profile.export.as_ref();
            let languages = prestashop::Languages {
                catalog: export.map(|e| e.languages.clone()).unwrap_or_default(),
                customers: export
                    .map(|e| e.customers.languages.clone())
                    .unwrap_or_default(),
            };
            prestashop::connect(&shop.url, key, languages)
        }
        Platform::WooCommerce => woocommerce::connect(&shop.url, key, shop.credentials_in_query),
        Platform::Shopify => {
            // The document in the buyer's currency when the profile wants foreign-currency
            // documents, else in the shop's.
            let foreign = profile
                .import
                .as_ref()
                .is_some_and(|i| i.settings.foreign_currency_documents);
            let money = if foreign {
                shopify::Money::Presentment
            } else {
                shopify::Money::Shop
            };
            shopify::connect(&shop.url, key, shopify::CostBucket::new(db.clone()), money)
        }
        // Its requests paced by the site's gate in the database (200 per minute).
        Platform::Wix => wix::connect(&shop.url, key, db),
        // The store's request quota is shared by every worker through the database.
        Platform::BigCommerce => {
            bigcommerce::connect(&shop.url, key, bigcommerce::RateGate::new(db.clone()))
        }
        Platform::Magento => {
            // The document in the order's currency with `base_to_order_rate` when the
            // profile wants foreign-currency documents, else in the base currency.
            let foreign = profile
                .import
                .as_ref()
                .is_some_and(|i| i.settings.foreign_currency_documents);
            let money = if foreign {
                magento::Money::Order
            } else {
                magento::Money::Base
            };
            magento::connect(&shop.url, key, money)
        }
        other => Err(StepError::permanent(format!(
            "plateforme {} pas encore prise en charge (platform not supported yet)",
            other.label()
        ))),
    }
}

/// The shop URL as the platform's client will use it (checked when a profile is imported,
/// so a bad URL is refused before anything is stored).
pub fn normalise_url(platform: Platform, url: &str) -> Result<String, String> {
    match platform {
        Platform::PrestaShop => prestashop::normalise_shop_url(url),
        Platform::WooCommerce => woocommerce::normalise_shop_url(url),
        Platform::Shopify => shopify::normalise_shop_url(url),
        Platform::Wix => wix::normalise_shop_url(url),

        Platform::BigCommerce => bigcommerce::normalise_shop_url(url),
        Platform::Magento => magento::normalise_shop_url(url).map(|(root, store)| {
            // The store code travels in the URL the client is given.
            if store == "default" {
                root
            } else {
                format!("{root}rest/{store}/")
            }
        }),
        // Platforms without a client keep the URL as given (they cannot run anything yet).
        _ => Ok(url.trim().to_string()),
    }
}

/// `docs/PLATFORMS.md`'s generated part: the capability matrix of this build.
pub fn matrix_markdown() -> String {
    passerelle_domain::platform::render_matrix(capabilities)
}
