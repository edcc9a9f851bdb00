//! Imports the ERP accepts without applying them at once (EBP's Export API is asynchronous,
//! 202 + id + status, and its Import API may be too: `reference/ebp-import-api-2.md` §3
//! risk 2). The upload step's result holds the import id (journaled before anything else);
//! then:
//!
//! 1. `erp_import_status` polls that id: while EBP says the import is still queued or
//!    running, the step fails *transiently*, so the run parks with a persisted `retry_at`
//!    and any worker resumes it with a poll of the **same** id — nothing is uploaded again
//!    while the status is unknown;
//! 2. when the import is applied, its created documents and refused rows (per web order)
//!    are merged into the outcome; web orders of the import that EBP's result does not
//!    mention are looked up by `xx_atoosync_order` in the same step;
//! 3. `erp_import_rest` sends the files that had to wait (per-file shape: customers before
//!    documents, documents before payments, or the files after a transient failure once
//!    earlier files were applied) through `import_missing`, whose existence check by web
//!    order number runs before every upload; a rest of payments only is sent for the
//!    documents this run created.
//!
//! A synchronous import has no pending part and takes none of these steps, so runs
//! recorded before this module replay unchanged.

use super::import_orders::{import_missing, ImportOutcome};
use crate::engine::{RetryPolicy, RunContext, RunError, StepError};
use crate::ports::{Erp, ImportPoll, ImportReport};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Polls and continues `outcome` until no import of it is pending.
pub(crate) async fn complete(
    ctx: &RunContext,
    erp: &Arc<dyn Erp>,
    poll: &RetryPolicy,
    write: &RetryPolicy,
    mut outcome: ImportOutcome,
) -> Result<ImportOutcome, RunError> {
    loop {
        if let Some(pending) = outcome.report.pending.take() {
            let (e, p) = (erp.clone(), pending);
            let done: ImportReport = ctx
                .step("erp_import_status", poll, || async move {
                    match e.import_status(&p).await? {
                        ImportPoll::Pending(status) => Err(StepError::transient(format!(
                            "import EBP {} en cours (statut « {status} ») : nouvelle lecture du statut prévue, aucun nouvel envoi (import still running)",
                            p.import_id
                        ))),
                        ImportPoll::Done(mut report) => {
                            // Orders of this import EBP neither listed as created nor
                            // refused: asked by web order number rather than guessed.
                            let mentioned: BTreeSet<&str> = report
                                .created
                                .iter()
                                .map(|d| d.atoosync_order.as_str())
                                .chain(report.rejected.iter().map(|(w, _)| w.as_str()))
                                .collect();
                            let silent: Vec<String> = p
                                .web_orders
                                .iter()
                                .filter(|w| !mentioned.contains(w.as_str()))
                                .cloned()
                                .collect();
                            if !silent.is_empty() {
                                report
                                    .created
                                    .extend(e.documents_for_web_orders(&silent).await?);
                            }
                            Ok(report)
                        }
                    }
                })
                .await?;
            outcome.report.created.extend(done.created);
            outcome.report.rejected.extend(done.rejected);
        }
        let Some(mut rest) = outcome.report.rest.take() else {
            break;
        };
        let payments_only = std::mem::take(&mut outcome.report.rest_is_payments);
        let e = erp.clone();
        let next: ImportOutcome = if payments_only {
            // Payments go with documents this run created; nothing else is sent.
            let created: BTreeSet<&str> = outcome
                .report
                .created
                .iter()
                .map(|d| d.atoosync_order.as_str())
                .collect();
            rest.documents
                .retain(|d| created.contains(d.atoosync_order.as_str()) && !d.payments.is_empty());
            if rest.documents.is_empty() {
                continue;
            }
            ctx.step("erp_import_rest", write, || async move {
                Ok(ImportOutcome {
                    existing: Vec::new(),
                    report: e.import(&rest).await?,
                })
            })
            .await?
        } else {
            // Documents EBP refused are not sent again in this run.
            let refused: BTreeSet<&str> = outcome
                .report
                .rejected
                .iter()
                .map(|(w, _)| w.as_str())
                .collect();
            rest.documents
                .retain(|d| !refused.contains(d.atoosync_order.as_str()));
            if rest.customers.is_empty() && rest.documents.is_empty() {
                continue;
            }
            ctx.step("erp_import_rest", write, || async move {
                import_missing(e.as_ref(), rest).await
            })
            .await?
        };
        let mut linked: BTreeSet<String> = outcome
            .report
            .created
            .iter()
            .chain(outcome.existing.iter())
            .map(|d| d.atoosync_order.clone())
            .collect();
        // A document found by the existence check may be one this run's earlier import
        // created (its result already merged): linked once.
        for d in next.existing {
            if linked.insert(d.atoosync_order.clone()) {
                outcome.existing.push(d);
            }
        }
        outcome.report.files.extend(next.report.files);
        outcome.report.created.extend(next.report.created);
        outcome.report.rejected.extend(next.report.rejected);
        outcome.report.pending = next.report.pending;
        outcome.report.rest = next.report.rest;
        outcome.report.rest_is_payments = next.report.rest_is_payments;
    }
    Ok(outcome)
}
