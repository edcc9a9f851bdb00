//! Wiring: the one place where adapters are plugged into ports (STYLE §8).

use crate::connectors::DbConnectors;
use crate::settings::Settings;
use anyhow::Context;
use passerelle_adapters::demo_backend::HttpDemoBackend;
use passerelle_adapters::secrets::SecretBox;
use passerelle_adapters::store::{Db, SqlLedger, SqlQuotas, SqlRunStore};
use passerelle_domain::{StepKey, SyncAction};
use passerelle_projections::Projector;
use passerelle_workflows::actions::demo_engine::DemoEngine;
use passerelle_workflows::actions::import_orders::ImportOrders;
use passerelle_workflows::actions::update_orders::{SendInvoices, UpdateOrderStatuses};
use passerelle_workflows::actions::{
    activate_articles, export_articles, update_prices, update_stock,
};
use passerelle_workflows::engine::{FaultHook, Registry, RunStore};
use passerelle_workflows::ports::SystemClock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Everything a command needs.
pub struct App {
    /// Database.
    pub db: Db,
    /// Run store.
    pub store: Arc<SqlRunStore>,
    /// Projector over every projection.
    pub projector: Projector,
    /// The settings this process was started with.
    pub settings: Arc<Settings>,
    secrets: std::sync::OnceLock<Arc<SecretBox>>,
}

impl App {
    /// Connects to the settings' database (running migrations) and builds the projector.
    pub async fn open(settings: &Settings) -> anyhow::Result<App> {
        let url = &settings.database_url;
        let db = Db::connect_with(url, &settings.db_options())
            .await
            .with_context(|| {
                format!(
                    "connexion à la base impossible ({})",
                    passerelle_adapters::store::redact(url)
                )
            })?;
        let store = Arc::new(SqlRunStore::new(db.clone()));
        let projector = Projector::new(db.clone(), passerelle_projections::all()).await?;
        Ok(App {
            db,
            store,
            projector,
            settings: Arc::new(settings.clone()),
            secrets: std::sync::OnceLock::new(),
        })
    }

    /// [`App::open`] with the settings of defaults and the process environment and `url` as
    /// the database: for tests and benchmarks that call the library directly.
    pub async fn connect(url: &str) -> anyhow::Result<App> {
        let settings =
            crate::settings::Settings::for_url(url).map_err(crate::commands::usage_of)?;
        Self::open(&settings).await
    }

    /// The key file used when no master key is set (`secrets.key_file`).
    pub fn key_file(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(&self.settings.key_file)
    }

    /// The credential cipher, loaded on first use (commands that never touch a credential
    /// never create a key file).
    pub fn secrets(&self) -> anyhow::Result<Arc<SecretBox>> {
        if let Some(s) = self.secrets.get() {
            return Ok(s.clone());
        }
        let path = self.key_file();
        let key = self.settings.master_key.as_ref().map(|k| k.expose());
        let b = SecretBox::from_key_or_file(key, &path)
            .with_context(|| format!("clé maître illisible ({})", path.display()))?;
        Ok(self.secrets.get_or_init(|| Arc::new(b)).clone())
    }

    /// The connections of the order workflows.
    pub fn connectors(&self) -> anyhow::Result<Arc<DbConnectors>> {
        Ok(Arc::new(DbConnectors::new(
            self.db.clone(),
            self.secrets()?,
            Arc::new(SystemClock),
            crate::connectors::EbpLimits::from_settings(&self.settings),
        )))
    }

    /// The workflows this binary runs, wired to their adapters.
    pub fn registry(&self, demo_backend_url: &str) -> anyhow::Result<Registry> {
        let mut r = registry(demo_backend_url)?;
        let clock: Arc<dyn passerelle_workflows::ports::Clock> = Arc::new(SystemClock);
        let ledger = Arc::new(SqlLedger::new(self.db.clone(), clock.clone()));
        let quotas = Arc::new(SqlQuotas::new(self.db.clone(), clock.clone()));
        r.register(
            SyncAction::ImportOrders,
            Arc::new(ImportOrders::new(
                self.connectors()?,
                ledger.clone(),
                quotas.clone(),
            )),
        );
        r.register(
            SyncAction::ImportQuotes,
            Arc::new(ImportOrders::quotes(
                self.connectors()?,
                ledger.clone(),
                quotas,
            )),
        );
        r.register(
            SyncAction::UpdateOrderStatuses,
            Arc::new(UpdateOrderStatuses::new(self.connectors()?, ledger.clone())),
        );
        r.register(
            SyncAction::SendInvoices,
            Arc::new(SendInvoices::new(self.connectors()?, ledger)),
        );
        r.register(
            SyncAction::ReconcileOrders,
            Arc::new(crate::reconcile_cmd::ReconcileOrders::new(
                crate::reconcile_cmd::Sources {
                    db: self.db.clone(),
                    store: self.store.clone(),
                    connectors: self.connectors()?,
                },
            )),
        );
        self.register_catalog(&mut r, clock.clone())?;
        crate::customer_connectors::register(&mut r, &self.db, self.connectors()?, clock)?;
        Ok(r)
    }

    /// The catalogue export workflows (ERP → shop).
    fn register_catalog(
        &self,
        r: &mut Registry,
        clock: Arc<dyn passerelle_workflows::ports::Clock>,
    ) -> anyhow::Result<()> {
        let c: Arc<dyn passerelle_workflows::actions::catalog::CatalogConnectors> =
            Arc::new(crate::catalog_connectors::DbCatalogConnectors::new(
                self.db.clone(),
                self.connectors()?,
            ));
        let q: Arc<dyn passerelle_workflows::ports::Quotas> =
            Arc::new(SqlQuotas::new(self.db.clone(), clock));
        r.register(
            SyncAction::ExportArticles,
            Arc::new(export_articles::ExportArticles::new(c.clone(), q.clone())),
        );
        r.register(
            SyncAction::ExportNewArticles,
            Arc::new(export_articles::ExportArticles::only_new(
                c.clone(),
                q.clone(),
            )),
        );
        r.register(
            SyncAction::UpdatePrices,
            Arc::new(update_prices::UpdatePrices::new(c.clone(), q.clone())),
        );
        r.register(
            SyncAction::UpdateStock,
            Arc::new(update_stock::UpdateStock::new(c.clone(), q.clone())),
        );
        r.register(
            SyncAction::ActivateArticles,
            Arc::new(activate_articles::ActivateArticles::new(c, q)),
        );
        Ok(())
    }

    /// The e-mail notifier, for workers.
    pub fn notifier(&self) -> Arc<dyn passerelle_workflows::ports::Notifier> {
        Arc::new(
            crate::notify::MailNotifier::new(self.db.clone(), self.store.clone())
                .with_smtp_password(self.settings.smtp_password.clone()),
        )
    }

    /// The SSRF guard for user-supplied addresses (policy of this process, see
    /// `passerelle_adapters::http`).
    pub fn target_guard(&self) -> passerelle_adapters::http::TargetGuard {
        passerelle_adapters::http::TargetGuard::current()
    }

    /// The store as the engine's port.
    pub fn run_store(&self) -> Arc<dyn RunStore> {
        self.store.clone()
    }
}

/// The workflows that need no database wiring (the engine demo).
pub fn registry(demo_backend_url: &str) -> anyhow::Result<Registry> {
    let mut r = Registry::new();
    let backend = HttpDemoBackend::new(demo_backend_url)?;
    r.register(
        SyncAction::DemoEngine,
        Arc::new(DemoEngine::new(Arc::new(backend))),
    );
    Ok(r)
}

/// The fault hook of the test knob `PASSERELLE_FAULT=abort-after:<step>:<n>`: abort the
/// process right after the n-th successful effect of `<step>` and before its result is
/// journaled. A test hook for the crash tests (DESIGN §4 rule 3); a test-only layer
/// ([`crate::settings::TestKnobs`]), never set in production units.
pub fn fault_hook(knobs: &crate::settings::TestKnobs) -> Option<FaultHook> {
    let (step, n) = knobs.fault.clone()?;
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    Some(Arc::new(move |key: &StepKey| {
        if key.name != step {
            return;
        }
        let mut g = seen.lock().unwrap_or_else(|e| e.into_inner());
        let c = g.entry(key.name.clone()).or_insert(0);
        *c += 1;
        if *c >= n {
            eprintln!("PASSERELLE_FAULT: abandon du processus après {key}");
            std::process::abort();
        }
    }))
}
