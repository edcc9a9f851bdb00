//! Ports: the narrow traits through which workflows and the engine reach the outside world.
//! Adapters implement them; the binary wires them in one place.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// The source of time. Only the engine reads it (timestamps, retry and lease deadlines);
/// workflow bodies never do, so replays are deterministic.
pub trait Clock: Send + Sync {
    /// The current instant, UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock moved by hand, for tests and benchmarks that must control lease expiry and retry
/// deadlines without sleeping.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }
    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
    /// Sets the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the end-of-run notification needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// The run.
    pub run_id: passerelle_domain::RunId,
    /// Tenant.
    pub account_id: passerelle_domain::AccountId,
    /// Profile.
    pub profile_id: passerelle_domain::ProfileId,
    /// Action.
    pub action: passerelle_domain::SyncAction,
    /// Final status the run is about to get.
    pub status: passerelle_domain::RunStatus,
    /// Summary message.
    pub message: String,
    /// Item counts of the whole run.
    pub counts: crate::engine::ItemCounts,
}

/// Sends end-of-run notifications (e-mail) according to the profile's settings. Called from
/// a journaled step, so a notification is retried like any step and never sent twice.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    /// Sends what the settings ask for; returns a log line (`envoyé à 2 destinataire(s)`,
    /// `pas de notification demandée`).
    async fn run_ended(&self, end: &RunEnd) -> Result<String, crate::engine::StepError>;
}

mod catalog;
mod customers;
mod erp;
mod ledger;
mod links;
mod platform;
mod pricing;
mod shop;
mod storage;
mod variants;

pub use catalog::{
    ArticleQuery, ArticleRead, ArticlesPage, CatalogErp, CatalogShop, ReferencesPage, Written,
};
pub use customers::{
    CustomerErp, CustomerQuery, CustomerRead, CustomerShop, CustomersPage, ErpGroup, Prospect,
    ProspectsPage,
};
pub use erp::{
    ChainQuery, CustomerKeys, Erp, ExistingDocument, ImportBatch, ImportFile, ImportPoll,
    ImportReport, PendingImport, StockLevel,
};
pub use ledger::{Counter, Ledger, OrderLink, Quotas, Reservation, Transferred, UpdateLedger};
pub use links::{ErpLinks, LinksErp, LinksShop, LinksWritten, ProductLinks};
pub use platform::{
    Coded, Named, ShopConfiguration, ShopConfigurationRead, ShopConnection, TaxRate,
};
pub use pricing::{
    ErpSpecificPrices, PriceScope, SpecificPricesErp, SpecificPricesShop, SpecificPricesWritten,
};
pub use shop::{DateField, OrderQuery, OrdersPage, Shop, ShopOrderRead};
pub use storage::{
    ErpImages, FileStorage, MediaConnections, MediaMemo, MediaMemos, ShopImage, ShopMedia,
    StoredFile,
};
pub use variants::{CombinationLine, VariantProduct, VariantWritten};
