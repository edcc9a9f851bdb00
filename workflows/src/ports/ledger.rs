//! Ports to Passerelle's own records the order workflows consult and write through steps:
//! the transferred-orders ledger (`ShopOrder` aggregates) and the account's quotas
//! (`Subscription` aggregate).

use crate::engine::StepError;
use async_trait::async_trait;
use passerelle_domain::orders::updates::{SentState, UpdatePlan};
use passerelle_domain::orders::DocumentKind;
use passerelle_domain::{AccountId, ProfileId, RunId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One order written into the ERP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transferred {
    /// Shop order id.
    pub order_id: String,
    /// Shop order reference.
    pub order_reference: String,
    /// ERP document number.
    pub document_number: String,
    /// ERP document type.
    pub kind: DocumentKind,
}

/// The transferred-orders ledger.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Which of `order_ids` are transferred (and not reset) for the profile.
    async fn transferred(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        order_ids: &[String],
    ) -> Result<BTreeSet<String>, StepError>;
    /// Records `OrderTransferred` for each order; idempotent (an order already recorded with
    /// the same document gets no second event).
    async fn record_transferred(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        orders: &[Transferred],
    ) -> Result<(), StepError>;
}

/// A transferred order of a profile, with what was sent back to the shop since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLink {
    /// Shop order id (also the web order number in the ERP).
    pub order_id: String,
    /// The ERP document it was transferred as.
    pub document_number: String,
    /// What was sent back.
    pub sent: SentState,
}

/// What the order-update flows read and record (`ShopOrder` and `SyncCursor` aggregates).
#[async_trait]
pub trait UpdateLedger: Send + Sync {
    /// Those of `order_ids` that are transferred, with their state.
    async fn links(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        order_ids: &[String],
    ) -> Result<Vec<OrderLink>, StepError>;
    /// Every order of the profile, `limit` at a time after `after` (keyset on the order id as
    /// text). Reset orders come with an empty `document_number` (skip them, but page past).
    async fn links_page(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OrderLink>, StepError>;
    /// Records what was sent to one order (only what changes the state is written).
    async fn record_update(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        order_id: &str,
        plan: &UpdatePlan,
    ) -> Result<(), StepError>;
    /// Records an attached invoice PDF (idempotent per invoice).
    async fn record_invoice(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        order_id: &str,
        invoice_number: &str,
        bytes: u64,
    ) -> Result<(), StepError>;
    /// A flow's watermark.
    async fn cursor(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        flow: &str,
    ) -> Result<Option<String>, StepError>;
    /// Moves a flow's watermark forward.
    async fn advance_cursor(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        flow: &str,
        value: &str,
    ) -> Result<(), StepError>;
}

/// A quota counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Counter {
    /// Orders, payments, new customers imported.
    Import,
    /// Articles, stock lines, prices, customers exported.
    Export,
}

/// The outcome of a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Units granted (≤ wanted).
    pub granted: u32,
    /// Why fewer were granted (quota exhausted, subscription suspended…), French first.
    pub limited_by: Option<String>,
}

/// The account's quotas: reserve a block, consume per succeeded item, release the rest.
#[async_trait]
pub trait Quotas: Send + Sync {
    /// Reserves up to `wanted` units for the run. Idempotent per `(run, key)`: a repeated call
    /// returns the first answer.
    async fn reserve(
        &self,
        account: &AccountId,
        run: RunId,
        key: &str,
        counter: Counter,
        wanted: u32,
    ) -> Result<Reservation, StepError>;
    /// Consumes `units` of the run's reservation (per profile, for the statistics) and
    /// releases what the reservation `key` held beyond them. Idempotent per `(run, key)`.
    async fn settle(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        key: &str,
        counter: Counter,
        units: u32,
    ) -> Result<(), StepError>;
}
