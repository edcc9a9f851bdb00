//! A recorded `import-orders` run replayed against the current workflow code.
//!
//! `fixtures/import_orders_pages_grouping.json` is the history of a real run (recorded by
//! `ops/tests/grouping.rs::record_import_orders_fixture`): the demo shop's orders over three
//! pages of 20 — valid orders of several VAT rates, companies, a negative quantity and an
//! unreadable order — with guest orders grouped into day documents. The replay calls no
//! port (each one panics): it must reach exactly the recorded steps, in the same scopes and
//! order, and give every item the recorded outcome, else the engine reports NONDETERMINISM.
#![allow(clippy::unwrap_used, missing_docs)]

use async_trait::async_trait;
use chrono::NaiveDate;
use passerelle_adapters::store::{decode_run_event, RawEvent};
use passerelle_domain::orders::updates::ChainDocument;
use passerelle_domain::orders::{ErpCustomer, ErpItem};
use passerelle_domain::{AccountId, ProfileId, RunEvent, RunId};
use passerelle_workflows::actions::import_orders::{
    Connectors, ImportConfig, ImportOrders, UpdateConfig,
};
use passerelle_workflows::engine::replay::replay_run;
use passerelle_workflows::engine::{RecordedEvent, RunError, StepError};
use passerelle_workflows::ports::{
    ChainQuery, Counter, CustomerKeys, Erp, ExistingDocument, ImportBatch, ImportPoll,
    ImportReport, Ledger, OrderQuery, OrdersPage, PendingImport, Quotas, Reservation, Shop,
    StockLevel, Transferred,
};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const FIXTURE: &str = "import_orders_pages_grouping.json";

/// Every port of the workflow; any call during a replay is a bug (replay does no IO).
struct NoIo;

fn no_io() -> ! {
    panic!("a replay must not call any port")
}

#[async_trait]
impl Connectors for NoIo {
    async fn import_config(&self, _: &AccountId, _: &ProfileId) -> Result<ImportConfig, StepError> {
        no_io()
    }
    async fn shop(&self, _: &AccountId, _: &ProfileId) -> Result<Arc<dyn Shop>, StepError> {
        // Opening the connection is not IO (the workflow asks for it outside any step).
        Ok(Arc::new(NoIo))
    }
    async fn erp(&self, _: &AccountId, _: &ProfileId) -> Result<Arc<dyn Erp>, StepError> {
        Ok(Arc::new(NoIo))
    }
    async fn update_config(&self, _: &AccountId, _: &ProfileId) -> Result<UpdateConfig, StepError> {
        no_io()
    }
}

#[async_trait]
impl Shop for NoIo {
    async fn orders_page(
        &self,
        _: &OrderQuery,
        _: Option<&str>,
        _: u32,
    ) -> Result<OrdersPage, StepError> {
        no_io()
    }
    async fn set_order_state(&self, _: &str, _: &str, _: bool) -> Result<(), StepError> {
        no_io()
    }
    async fn set_order_document_number(&self, _: &str, _: &str) -> Result<(), StepError> {
        no_io()
    }
    async fn set_customer_erp_code(&self, _: &str, _: &str) -> Result<(), StepError> {
        no_io()
    }
    async fn set_stock(&self, _: &str, _: Decimal) -> Result<bool, StepError> {
        no_io()
    }
    async fn set_tracking(&self, _: &str, _: &str, _: bool) -> Result<(), StepError> {
        no_io()
    }
    async fn set_order_reference(&self, _: &str, _: &str) -> Result<(), StepError> {
        no_io()
    }
    async fn set_delivery_date(&self, _: &str, _: NaiveDate) -> Result<(), StepError> {
        no_io()
    }
    async fn tracking_numbers(&self, _: &[String]) -> Result<BTreeMap<String, String>, StepError> {
        no_io()
    }
    async fn attach_invoice(&self, _: &str, _: &str, _: &[u8]) -> Result<String, StepError> {
        no_io()
    }
}

#[async_trait]
impl Erp for NoIo {
    async fn items_by_references(&self, _: &[String]) -> Result<Vec<ErpItem>, StepError> {
        no_io()
    }
    async fn find_customers(&self, _: &CustomerKeys) -> Result<Vec<ErpCustomer>, StepError> {
        no_io()
    }
    async fn documents_for_web_orders(
        &self,
        _: &[String],
    ) -> Result<Vec<ExistingDocument>, StepError> {
        no_io()
    }
    async fn import(&self, _: &ImportBatch) -> Result<ImportReport, StepError> {
        no_io()
    }
    async fn import_status(&self, _: &PendingImport) -> Result<ImportPoll, StepError> {
        no_io()
    }
    async fn stock_levels(&self, _: &[String], _: &[String]) -> Result<Vec<StockLevel>, StepError> {
        no_io()
    }
    async fn document_chains(&self, _: &ChainQuery) -> Result<Vec<ChainDocument>, StepError> {
        no_io()
    }
    async fn deleted_documents_since(&self, _: &str) -> Result<u32, StepError> {
        no_io()
    }
    async fn invoice_pdf(&self, _: &str) -> Result<Vec<u8>, StepError> {
        no_io()
    }
}

#[async_trait]
impl Ledger for NoIo {
    async fn transferred(
        &self,
        _: &AccountId,
        _: &ProfileId,
        _: &[String],
    ) -> Result<BTreeSet<String>, StepError> {
        no_io()
    }
    async fn record_transferred(
        &self,
        _: &AccountId,
        _: &ProfileId,
        _: RunId,
        _: &[Transferred],
    ) -> Result<(), StepError> {
        no_io()
    }
}

#[async_trait]
impl Quotas for NoIo {
    async fn reserve(
        &self,
        _: &AccountId,
        _: RunId,
        _: &str,
        _: Counter,
        _: u32,
    ) -> Result<Reservation, StepError> {
        no_io()
    }
    async fn settle(
        &self,
        _: &AccountId,
        _: &ProfileId,
        _: RunId,
        _: &str,
        _: Counter,
        _: u32,
    ) -> Result<(), StepError> {
        no_io()
    }
}

fn recorded() -> Vec<RecordedEvent> {
    passerelle_replay_tests::load(FIXTURE)
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            decode_run_event(&RawEvent {
                aggregate_type: e.aggregate_type.clone(),
                aggregate_id: e.aggregate_id.clone(),
                sequence: e.sequence,
                event_type: e.event_type.clone(),
                event_version: e.event_version.clone(),
                payload: e.payload.to_string(),
                metadata: e.metadata.to_string(),
                tx_id: 0,
                position: i as i64 + 1,
            })
            .unwrap()
        })
        .collect()
}

fn workflow() -> ImportOrders {
    let io = Arc::new(NoIo);
    ImportOrders::new(io.clone(), io.clone(), io)
}

#[tokio::test]
async fn recorded_import_run_replays_step_for_step() {
    let events = recorded();
    let report = replay_run(&workflow(), &events).await.unwrap();
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    // Every recorded step of the body is reached (the `end` scope, the notification sent by
    // the worker after the body, is not part of it), and nothing else.
    let body: Vec<_> = report
        .recorded
        .iter()
        .filter(|k| k.scope != "end")
        .collect();
    for k in &body {
        assert!(report.reached.contains(k), "{k} recorded but not reached");
    }
    assert_eq!(body.len(), report.reached.len());
    // The history is the one described above: three pages, day documents, two failures.
    let names: Vec<&str> = body.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names.iter().filter(|n| **n == "read_orders").count(), 3);
    assert_eq!(names.iter().filter(|n| **n == "erp_import").count(), 3);
    let failed = events
        .iter()
        .filter(|e| matches!(e.event, RunEvent::ItemFailed { .. }))
        .count();
    let succeeded = events
        .iter()
        .filter(|e| matches!(e.event, RunEvent::ItemSucceeded { .. }))
        .count();
    assert_eq!((succeeded, failed), (40, 2));
}

#[tokio::test]
async fn a_renamed_step_breaks_the_replay_with_nondeterminism() {
    // Rename one recorded step, as a workflow edit would: the replay must refuse it.
    let mut events = recorded();
    let target = events
        .iter_mut()
        .find_map(|e| match &mut e.event {
            RunEvent::StepCompleted { key, .. } if key.name == "known_transferred" => Some(key),
            _ => None,
        })
        .unwrap();
    target.name = "already_transferred".into();
    match replay_run(&workflow(), &events).await {
        Ok(report) => assert!(
            matches!(report.outcome, Err(RunError::Nondeterminism(_))),
            "{:?}",
            report.outcome
        ),
        Err(e) => assert!(matches!(e, RunError::Nondeterminism(_)), "{e:?}"),
    }
}
