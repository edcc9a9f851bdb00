//! `passerelle demo`: in-process PrestaShop and EBP simulators with seeded data, the
//! embedded store, a profile, then an import of orders with the journal and the quota
//! counters. The same [`DemoWorld`] drives the integration tests.

use crate::app::App;
use crate::profiles::{ProfileFile, Profiles};
use crate::simulate::DemoShop;
use anyhow::Context;
use passerelle_adapters::store::SqlQuotas;
use passerelle_domain::subscription::{PlanKind, QuotaCounter, SubscriptionCommand};
use passerelle_domain::{AccountId, Actor, ProfileId};
use passerelle_simulators::ebp::{EbpSim, EbpSimConfig, SimCustomer};
use passerelle_workflows::ports::SystemClock;
use std::sync::Arc;

/// The sample profile, with placeholders for the simulators' addresses and credentials.
pub const PROFILE_TEMPLATE: &str = include_str!("../deploy/profile.sample.toml");

/// The demo profile id.
pub const DEMO_PROFILE: &str = "demo-prestashop";

/// The sample profile of `platform` (its own statuses, payment gateways, carriers), with the
/// same placeholders as [`PROFILE_TEMPLATE`]; `None` for a platform without one yet.
pub fn profile_template(platform: passerelle_domain::Platform) -> Option<&'static str> {
    use passerelle_domain::Platform as P;
    match platform {
        P::PrestaShop => Some(PROFILE_TEMPLATE),
        P::Shopify => Some(include_str!("../deploy/profile.shopify.sample.toml")),
        _ => None,
    }
}

/// A shop simulator of any platform and the EBP simulator, seeded consistently, with the
/// platform's sample profile installed (`passerelle demo --shop PLATFORM`).
pub struct PlatformDemo {
    /// The shop simulator.
    pub shop: crate::simulate::RunningShop,
    /// The ERP.
    pub ebp: EbpSim,
}

impl PlatformDemo {
    /// The shared seed's `orders` orders plus the two broken ones on `platform`'s simulator.
    pub async fn start(
        platform: passerelle_domain::Platform,
        orders: usize,
        ebp: EbpSimConfig,
    ) -> anyhow::Result<PlatformDemo> {
        let seed = passerelle_simulators::seed::Seed::demo(orders).with_broken();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let shop = crate::simulate::start_shop(platform, addr, &seed).await?;
        let ebp = EbpSim::start(ebp).await?;
        seed_erp(&ebp, &passerelle_simulators::seed::Seed::demo(0));
        Ok(PlatformDemo { shop, ebp })
    }

    /// Imports the platform's sample profile pointing at both simulators and logs into EBP.
    pub async fn install(&self, app: &App, acc: &AccountId) -> anyhow::Result<ProfileId> {
        let template = profile_template(self.shop.platform)
            .context("pas de profil d'exemple pour cette plateforme")?;
        let c = self.ebp.config();
        let folder = c.folders.first().map(|f| f.0.clone()).unwrap_or_default();
        let key = self.shop.credentials["key"].as_str().unwrap_or_default();
        let text = template
            .replace("{{SHOP_URL}}", &self.shop.url)
            .replace("{{SHOP_KEY}}", key)
            .replace("{{EBP_URL}}", &self.ebp.url())
            .replace("{{EBP_CLIENT_ID}}", &c.client_id)
            .replace("{{EBP_CLIENT_SECRET}}", &c.client_secret)
            .replace("{{EBP_SUBSCRIPTION_KEY}}", &c.subscription_key)
            .replace("{{EBP_FOLDER}}", &folder);
        let file: ProfileFile = toml::from_str(&text).context("profil d'exemple illisible")?;
        let id = ProfileId::parse(&file.id).map_err(|e| anyhow::anyhow!("{e}"))?;
        Profiles::new(app.db.clone())
            .import(acc, file, app.secrets()?.as_ref(), Actor::Cli)
            .await?;
        app.connectors()?
            .ebp_client(acc, &id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .exchange_code(&self.ebp.authorize(REDIRECT_URI), REDIRECT_URI)
            .await
            .map_err(|e| anyhow::anyhow!("connexion EBP : {e}"))?;
        Ok(id)
    }
}

/// OAuth redirect URI registered for the demo client (EBP pre-registers this one).
pub const REDIRECT_URI: &str = "http://localhost:3333";

/// Both simulators, seeded consistently.
pub struct DemoWorld {
    /// The shop.
    pub shop: DemoShop,
    /// The ERP.
    pub ebp: EbpSim,
    /// Ids of the orders seeded broken on purpose.
    pub broken: Vec<u64>,
}

/// Seeds the ERP of the demo: the shop's catalogue as articles, the special articles, the
/// guest account and two existing customers (found by SIRET and by e-mail).
pub fn seed_erp(ebp: &EbpSim, seed: &passerelle_simulators::seed::Seed) {
    let mut items: Vec<(&str, &str, i64)> = seed
        .articles
        .iter()
        .map(|a| (a.reference.as_str(), a.name.as_str(), a.stock))
        .collect();
    items.extend(SPECIAL.iter().map(|(id, c)| (*id, *c, 0)));
    ebp.seed_items(&items);
    crate::export_demo::seed_articles(ebp);
    ebp.seed_customers(&[
        SimCustomer::new("WEBINVITE", "CLIENTS WEB INVITÉS"),
        SimCustomer::new("CL00004", "ATELIER DUBOIS SARL").siret("40483304800022"),
        SimCustomer::new("CL00012", "MARTIN Camille").email("camille.martin@example.fr"),
    ]);
}

/// ERP articles besides the shop's catalog: the special articles of the profile.
const SPECIAL: &[(&str, &str)] = &[
    ("DIVERS", "Article divers"),
    ("ECART", "Écart de règlement"),
    ("EMBALLAGE", "Emballage cadeau"),
    ("PORT", "Frais de port"),
    ("REMISE20", "Remise TVA 20 %"),
    ("REMISE10", "Remise TVA 10 %"),
    ("REMISE5.5", "Remise TVA 5,5 %"),
    ("REMISE2.1", "Remise TVA 2,1 %"),
    ("REMISE0", "Remise exonérée"),
];

impl DemoWorld {
    /// `orders` seeded shop orders plus two broken ones (a negative quantity, a cut JSON
    /// answer), and the ERP with the catalog, the special articles, the guest account and two
    /// existing customers (found by SIRET and by e-mail).
    pub async fn start(orders: usize, ebp: EbpSimConfig) -> anyhow::Result<DemoWorld> {
        let (shop, broken) = crate::simulate::demo_shop(orders).await?;
        let ebp = EbpSim::start(ebp).await?;
        seed_erp(&ebp, &passerelle_simulators::seed::Seed::demo(0));
        Ok(DemoWorld { shop, ebp, broken })
    }

    /// The profile file pointing at the simulators.
    pub fn profile_file(&self) -> anyhow::Result<ProfileFile> {
        let c = self.ebp.config();
        let folder = c.folders.first().map(|f| f.0.clone()).unwrap_or_default();
        let text = PROFILE_TEMPLATE
            .replace("{{SHOP_URL}}", &self.shop.url())
            .replace("{{SHOP_KEY}}", &self.shop.key())
            .replace("{{EBP_URL}}", &self.ebp.url())
            .replace("{{EBP_CLIENT_ID}}", &c.client_id)
            .replace("{{EBP_CLIENT_SECRET}}", &c.client_secret)
            .replace("{{EBP_SUBSCRIPTION_KEY}}", &c.subscription_key)
            .replace("{{EBP_FOLDER}}", &folder);
        toml::from_str(&text).context("profil d'exemple illisible")
    }

    /// Imports the profile and logs into the simulated EBP (authorization code → token pair
    /// stored encrypted).
    pub async fn install(&self, app: &App, acc: &AccountId) -> anyhow::Result<ProfileId> {
        self.install_file(app, acc, self.profile_file()?).await
    }

    /// [`DemoWorld::install`] of a profile file the caller adjusted (tests, benchmarks).
    pub async fn install_file(
        &self,
        app: &App,
        acc: &AccountId,
        file: ProfileFile,
    ) -> anyhow::Result<ProfileId> {
        let id = ProfileId::parse(&file.id).map_err(|e| anyhow::anyhow!("{e}"))?;
        Profiles::new(app.db.clone())
            .import(acc, file, app.secrets()?.as_ref(), Actor::Cli)
            .await?;
        let client = app
            .connectors()?
            .ebp_client(acc, &id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        client
            .exchange_code(&self.ebp.authorize(REDIRECT_URI), REDIRECT_URI)
            .await
            .map_err(|e| anyhow::anyhow!("connexion EBP : {e}"))?;
        Ok(id)
    }
}

/// Buys an import plan of `units` for the account when it has none.
pub async fn ensure_import_plan(app: &App, acc: &AccountId, units: u64) -> anyhow::Result<bool> {
    let (counters, _, _) =
        passerelle_projections::orders::quota_view(&app.db, acc.as_str(), chrono::Utc::now())
            .await?;
    app.projector.catch_up().await?;
    let has = counters
        .iter()
        .any(|c| c.counter == QuotaCounter::Import.as_str() && c.bought > 0);
    if has {
        return Ok(false);
    }
    SqlQuotas::new(app.db.clone(), Arc::new(SystemClock))
        .execute(
            acc,
            SubscriptionCommand::Purchase {
                counter: QuotaCounter::Import,
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
