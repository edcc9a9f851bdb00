//! The customer workflows' connections and configuration, from the profile: its
//! `[export.customers]` settings (`CatalogSettings::customers`; defaults when the profile
//! has no `[export]` section), the incremental start of each action (`last_transfer`, the
//! same machinery as the article flows, editable with `passerelle last-transfer`) and its
//! shop and EBP clients.

use crate::catalog_connectors::last_transfer;
use crate::connectors::DbConnectors;
use crate::profiles::Profiles;
use async_trait::async_trait;
use passerelle_adapters::store::{Db, SqlQuotas};
use passerelle_domain::catalog::parse_query_filter;
use passerelle_domain::profile::Profile;
use passerelle_domain::{AccountId, ProfileId, SyncAction};
use passerelle_workflows::actions::customers::{CustomerConfig, CustomerConnectors};
use passerelle_workflows::actions::{
    deactivate_customers, export_customer_groups, export_customers, import_prospects,
};
use passerelle_workflows::engine::{Registry, StepError};
use passerelle_workflows::ports::{Clock, CustomerErp, CustomerShop, Quotas};
use std::sync::Arc;

/// The customer actions this version runs.
pub const AVAILABLE: [SyncAction; 5] = [
    SyncAction::ExportCustomers,
    SyncAction::ExportNewCustomers,
    SyncAction::DeactivateCustomers,
    SyncAction::ExportCustomerGroups,
    SyncAction::ImportProspects,
];

/// Customer connections built from the profiles in the database.
pub struct DbCustomerConnectors {
    db: Db,
    profiles: Profiles,
    inner: Arc<DbConnectors>,
}

impl DbCustomerConnectors {
    /// Over `db`, the clients coming from `inner`.
    pub fn new(db: Db, inner: Arc<DbConnectors>) -> Self {
        Self {
            profiles: Profiles::new(db.clone()),
            db,
            inner,
        }
    }

    async fn profile(&self, account: &AccountId, id: &ProfileId) -> Result<Profile, StepError> {
        self.profiles
            .get(account, id)
            .await
            .map_err(|e| StepError::transient(e.to_string()))?
            .ok_or_else(|| StepError::permanent(format!("profil inconnu : {id}")))
    }
}

#[async_trait]
impl CustomerConnectors for DbCustomerConnectors {
    async fn customer_config(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        action: SyncAction,
    ) -> Result<CustomerConfig, StepError> {
        let p = self.profile(account, profile).await?;
        let settings = p.export.clone().map(|e| e.customers).unwrap_or_default();
        let filter = parse_query_filter(settings.query_filter.as_deref().unwrap_or(""))
            .map_err(StepError::permanent)?;
        // "New customers" always reads from its last transfer; the others when asked (the
        // groups are few: always all of them).
        let incremental = match action {
            SyncAction::ExportNewCustomers => true,
            SyncAction::ExportCustomerGroups => false,
            _ => settings.incremental,
        };
        let since = if incremental {
            last_transfer(&self.db, account, &p, profile, action)
                .await
                .map_err(|e| StepError::transient(e.to_string()))?
                .map(|d| d.naive_utc())
        } else {
            None
        };
        let (_, platform_notes) = crate::platforms::partial(&p, action);
        Ok(CustomerConfig {
            settings,
            filter,
            since,
            platform_notes,
        })
    }

    async fn customer_shop(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn CustomerShop>, StepError> {
        self.inner
            .shop_connection(account, profile)
            .await?
            .customers()
    }

    async fn customer_erp(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn CustomerErp>, StepError> {
        Ok(Arc::new(self.inner.ebp_client(account, profile).await?))
    }
}

/// Registers the customer workflows (ERP → shop, and prospects shop → ERP) on `r`.
pub fn register(
    r: &mut Registry,
    db: &Db,
    inner: Arc<DbConnectors>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let orders: Arc<dyn passerelle_workflows::actions::import_orders::Connectors> = inner.clone();
    let c: Arc<dyn CustomerConnectors> = Arc::new(DbCustomerConnectors::new(db.clone(), inner));
    let q: Arc<dyn Quotas> = Arc::new(SqlQuotas::new(db.clone(), clock));
    r.register(
        SyncAction::ExportCustomers,
        Arc::new(export_customers::ExportCustomers::new(c.clone(), q.clone())),
    );
    r.register(
        SyncAction::ExportNewCustomers,
        Arc::new(export_customers::ExportCustomers::only_new(
            c.clone(),
            q.clone(),
        )),
    );
    r.register(
        SyncAction::DeactivateCustomers,
        Arc::new(deactivate_customers::DeactivateCustomers::new(
            c.clone(),
            q.clone(),
        )),
    );
    r.register(
        SyncAction::ExportCustomerGroups,
        Arc::new(export_customer_groups::ExportCustomerGroups::new(
            c.clone(),
            q.clone(),
        )),
    );
    r.register(
        SyncAction::ImportProspects,
        Arc::new(import_prospects::ImportProspects::new(c, orders, q)),
    );
    Ok(())
}
