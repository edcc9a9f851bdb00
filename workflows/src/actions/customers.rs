//! What the customer workflows share (`export-customers`, `export-new-customers`,
//! `deactivate-customers`, `export-customer-groups`): their configuration, where they get
//! their connections, the quota block per page and the per-item outcome loop — the same
//! shape as the catalogue flows ([`super::catalog`]): one journaled step per ERP page or
//! shop batch, quota reserved before any write, one outcome per ERP customer.

pub use super::catalog::CatalogInput as CustomerInput;
use super::catalog::{finish_items, note_since, reserve_units, summary_with, Policies};
use crate::engine::{RunContext, RunError, StepError};
use crate::ports::{
    Counter, CustomerErp, CustomerQuery, CustomerShop, CustomersPage, Quotas, Written,
};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use passerelle_domain::catalog::FilterClause;
use passerelle_domain::customer_export::CustomerExportSettings;
use passerelle_domain::{AccountId, ItemOutcome, ProfileId, SyncAction};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Everything a customer run needs to know about its profile, resolved once by the
/// `load_config` step (a replay sees the same settings and dates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerConfig {
    /// The profile's customer settings.
    pub settings: CustomerExportSettings,
    /// The parsed ERP-side filter.
    pub filter: Vec<FilterClause>,
    /// Start of the incremental window (the last transfer of this action, UTC); `None`:
    /// everything.
    pub since: Option<NaiveDateTime>,
    /// Parts the shop platform cannot do, noted once in the run log.
    #[serde(default)]
    pub platform_notes: Vec<String>,
}

/// Where customer runs get their configuration and connections (the binary's wiring).
#[async_trait]
pub trait CustomerConnectors: Send + Sync {
    /// The profile's customer configuration for `action`, with its incremental start.
    async fn customer_config(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        action: SyncAction,
    ) -> Result<CustomerConfig, StepError>;
    /// The profile's shop, for customers.
    async fn customer_shop(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn CustomerShop>, StepError>;
    /// The profile's ERP, for customers.
    async fn customer_erp(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn CustomerErp>, StepError>;
}

/// The connections and configuration of one customer run.
pub(crate) struct CustomerIo {
    pub(crate) ctx: RunContext,
    pub(crate) shop: Arc<dyn CustomerShop>,
    pub(crate) erp: Arc<dyn CustomerErp>,
    pub(crate) quotas: Arc<dyn Quotas>,
    pub(crate) p: Policies,
    pub(crate) config: Arc<CustomerConfig>,
    /// Accounts sent with values adapted to the shop's field rules (the summary counts them).
    pub(crate) adapted: std::sync::atomic::AtomicUsize,
}

impl CustomerIo {
    /// Loads the configuration (journaled) and opens the connections.
    pub(crate) async fn open(
        ctx: &RunContext,
        connectors: &Arc<dyn CustomerConnectors>,
        quotas: Arc<dyn Quotas>,
        input: serde_json::Value,
        action: SyncAction,
    ) -> Result<CustomerIo, RunError> {
        let input: CustomerInput = serde_json::from_value(input)
            .map_err(|e| RunError::failed(format!("entrée invalide : {e}")))?;
        let p = Policies::new(&input);
        let (account, profile) = (ctx.account_id().clone(), ctx.profile_id().clone());
        let c = connectors.clone();
        let config: CustomerConfig = ctx
            .step("load_config", &p.read, || async move {
                c.customer_config(&account, &profile, action).await
            })
            .await?;
        let (account, profile) = (ctx.account_id(), ctx.profile_id());
        let shop = connectors
            .customer_shop(account, profile)
            .await
            .map_err(|e| RunError::failed(format!("connexion boutique : {e}")))?;
        let erp = connectors
            .customer_erp(account, profile)
            .await
            .map_err(|e| RunError::failed(format!("connexion ERP : {e}")))?;
        let what = match action {
            SyncAction::ExportNewCustomers => "clients créés",
            _ => "clients modifiés",
        };
        note_since(ctx, config.since, what).await?;
        for n in &config.platform_notes {
            ctx.note(n.clone()).await?;
        }
        Ok(CustomerIo {
            ctx: ctx.clone(),
            shop,
            erp,
            quotas,
            p,
            config: Arc::new(config),
            adapted: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The customer query of the run.
    pub(crate) fn query(&self, with_contacts: bool, only_new: bool) -> CustomerQuery {
        let mut q = CustomerQuery {
            filter: self.config.filter.clone(),
            modified_since: self.config.since,
            created_since: None,
            with_contacts,
        };
        if only_new {
            q.created_since = q.modified_since.take();
        }
        q
    }

    /// One page of ERP customers from `offset` (the `read_customers` step).
    pub(crate) async fn read_page(
        &self,
        query: &CustomerQuery,
        offset: u32,
    ) -> Result<CustomersPage, RunError> {
        let (erp, q) = (self.erp.clone(), query.clone());
        self.ctx
            .step("read_customers", &self.p.read, || async move {
                erp.customers_page(&q, offset).await
            })
            .await
    }

    /// Reserves `wanted` units of `counter` for page `page_no` (before any write); returns
    /// how many were granted and why fewer.
    pub(crate) async fn reserve(
        &self,
        page_no: u32,
        wanted: usize,
        counter: Counter,
    ) -> Result<(usize, String), RunError> {
        reserve_units(&self.ctx, &self.quotas, &self.p, page_no, wanted, counter).await
    }

    /// The end of a page: settles its quota block when one was reserved (consuming `used`),
    /// then journals the outcome of every item (one left without one failed).
    pub(crate) async fn finish_page(
        &self,
        page_no: u32,
        reserved: Option<Counter>,
        used: usize,
        keys: Vec<String>,
        outcome: Vec<Option<ItemOutcome>>,
    ) -> Result<(), RunError> {
        let unhandled = "client non traité (customer not handled)";
        finish_items(
            &self.ctx,
            &self.quotas,
            &self.p,
            page_no,
            reserved,
            used,
            keys,
            outcome,
            unhandled,
        )
        .await
    }

    /// The end-of-run summary line.
    pub(crate) async fn summary(&self, what: &str) -> Result<(), RunError> {
        let adapted = self.adapted.load(std::sync::atomic::Ordering::SeqCst);
        summary_with(&self.ctx, what, adapted).await
    }
}

/// The log text of a shop write and whether it consumed a unit (only real writes do).
pub(crate) fn account_outcome(w: &Written, what: &str) -> (Result<String, String>, bool) {
    match w {
        Written::Created(id) => (Ok(format!("{what} : créé (compte {id})")), true),
        Written::Updated(id) => (Ok(format!("{what} : mis à jour (compte {id})")), true),
        Written::Unchanged(id) => (Ok(format!("{what} : déjà à jour (compte {id})")), false),
        Written::Missing => (
            Err("absent de la boutique et création désactivée (not in shop, creation off)".into()),
            false,
        ),
        Written::Refused(r) => (Err(format!("{what} : refusé par la boutique : {r}")), false),
    }
}
