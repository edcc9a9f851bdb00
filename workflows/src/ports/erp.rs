//! The ERP port: what the order workflows need from EBP Gestion Commerciale SaaS.
//! Reads are batched (`WhereCondition` `In` over many values) because a subscription has
//! 1 call/s and 10,000 calls/day; writes are imports of files, many orders per call.

use crate::engine::StepError;
use async_trait::async_trait;
use passerelle_domain::orders::reconcile::ErpSide;
use passerelle_domain::orders::updates::ChainDocument;
use passerelle_domain::orders::{CustomerRecord, DocumentKind, ErpCustomer, ErpDocument, ErpItem};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Values to look customers up with (each list is searched in one batched query).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerKeys {
    /// SIRETs.
    pub sirets: Vec<String>,
    /// E-mails (lower-case).
    pub emails: Vec<String>,
    /// VAT numbers.
    pub vats: Vec<String>,
}

/// A sale document already in the ERP for a web order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingDocument {
    /// The web order number (`xx_atoosync_order`, or recovered from "Document importé n°").
    pub atoosync_order: String,
    /// ERP document number.
    pub number: String,
    /// Document type.
    pub kind: DocumentKind,
}

/// What one import call writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportBatch {
    /// Customers to create or update first.
    pub customers: Vec<CustomerRecord>,
    /// Documents to create.
    pub documents: Vec<ErpDocument>,
    /// Only these files of the batch are sent (the rest of a per-file import whose earlier
    /// files EBP accepted asynchronously); `None`: every file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_files: Option<Vec<String>>,
}

/// A file sent to the ERP (kept per run for audit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFile {
    /// File name (`Orders.txt`, `Customers.txt`, …).
    pub name: String,
    /// Content as text (it is sent in the encoding the ERP expects).
    pub content: String,
}

/// The result of an import call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The files sent.
    pub files: Vec<ImportFile>,
    /// Documents created (with their numbers).
    pub created: Vec<ExistingDocument>,
    /// Documents refused by the ERP: (web order number, reason).
    pub rejected: Vec<(String, String)>,
    /// An import the ERP accepted but has not applied yet (HTTP 202 + import id): its
    /// status must be polled, and nothing of it uploaded again while the status is unknown.
    /// Absent from results journaled before asynchronous imports were handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingImport>,
    /// What is still to send after the files of this report (per-file shape: the files
    /// after an import accepted asynchronously, or after a transient failure once earlier
    /// files were applied), as a batch restricted by [`ImportBatch::only_files`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest: Option<ImportBatch>,
    /// The rest only carries the payments of this report's documents: it is sent for the
    /// documents this run created (not for those found already there, whose payments
    /// went with them), without the existence check (which would drop them all).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rest_is_payments: bool,
}

/// An import accepted by the ERP and not applied yet (journaled in the step result before
/// anything else, so that a resumed run polls this id instead of uploading again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingImport {
    /// The import id the ERP answered.
    pub import_id: String,
    /// The files this import carries (name and content as sent), to read its row errors.
    pub files: Vec<ImportFile>,
    /// The web orders whose documents this import carries.
    pub web_orders: Vec<String>,
}

/// What a status poll of a [`PendingImport`] says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ImportPoll {
    /// Still queued or running (the ERP's status word).
    Pending(String),
    /// Applied: documents created and rows refused (`files` and `pending` empty).
    Done(ImportReport),
}

/// Stock of one article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    /// Article code.
    pub item_id: String,
    /// Real stock (summed over the warehouses asked).
    pub quantity: Decimal,
}

/// Which sale documents of web orders to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainQuery {
    /// These web orders' documents (batched `In`, ≤ 100 values per call); empty: every sale
    /// document carrying a web order number.
    pub web_orders: Vec<String>,
    /// Only documents modified since (ERP clock, ISO); with `web_orders` empty this is the
    /// incremental scan.
    pub modified_since: Option<String>,
    /// The column holding the tracking number, read along.
    pub tracking_field: Option<String>,
}

/// EBP Gestion Commerciale SaaS.
#[async_trait]
pub trait Erp: Send + Sync {
    /// Articles among `references` that exist (batched `In` look-ups).
    async fn items_by_references(&self, references: &[String]) -> Result<Vec<ErpItem>, StepError>;
    /// Customers matching any of the keys.
    async fn find_customers(&self, keys: &CustomerKeys) -> Result<Vec<ErpCustomer>, StepError>;
    /// Sale documents already holding one of these web order numbers.
    async fn documents_for_web_orders(
        &self,
        web_orders: &[String],
    ) -> Result<Vec<ExistingDocument>, StepError>;
    /// Imports customers then documents in one call (or one call per file). An import the
    /// ERP accepts without applying it yet comes back in [`ImportReport::pending`]; the
    /// files after it are not sent (they are in [`ImportReport::rest`]).
    async fn import(&self, batch: &ImportBatch) -> Result<ImportReport, StepError>;
    /// The status of an accepted import (one call; never uploads anything).
    async fn import_status(&self, pending: &PendingImport) -> Result<ImportPoll, StepError>;
    /// Real stock of these articles, summed over `warehouses` (all when empty).
    async fn stock_levels(
        &self,
        item_ids: &[String],
        warehouses: &[String],
    ) -> Result<Vec<StockLevel>, StepError>;
    /// Sale documents of web orders (see [`ChainQuery`]), paged by the adapter.
    async fn document_chains(&self, query: &ChainQuery) -> Result<Vec<ChainDocument>, StepError>;
    /// How many sale documents were deleted since `since` (ERP clock, ISO).
    async fn deleted_documents_since(&self, since: &str) -> Result<u32, StepError>;
    /// The PDF of an invoice, by number. A non-PDF answer is a permanent error.
    async fn invoice_pdf(&self, number: &str) -> Result<Vec<u8>, StepError>;
    /// The imported sale documents of these web orders (those not transformed from another
    /// document: the first stage of each sale) with their total incl. tax, for the
    /// reconciliation (issue 17.4): at most 100 web orders per call. Not every ERP adapter
    /// reads them: the default refuses.
    async fn imported_documents(&self, web_orders: &[String]) -> Result<Vec<ErpSide>, StepError> {
        let _ = web_orders;
        Err(StepError::permanent(
            "cet ERP ne sait pas lire ses documents pour le rapprochement (reconciliation not supported)",
        ))
    }
}
