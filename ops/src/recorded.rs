//! What the order imports of a profile recorded, read back from their journaled step
//! results (issue 17.4 and 17.5): the configuration each run resolved (`load_config`), the
//! orders as the shop served them (`read_orders`), the ERP articles and customers looked up
//! (`erp_items`, `erp_customers`) and the documents found or created (`erp_import`).
//!
//! These are the inputs of the import's pure plan, so an order can be planned again with no
//! call to the shop or the ERP (`what-if`), and compared with the ERP when the shop or the
//! ERP cannot be reached (`reconcile`, recorded source).

use passerelle_adapters::store::Db;
use passerelle_domain::orders::{ErpCustomer, ErpItem};
use passerelle_domain::{AccountId, ProfileId, RunEvent, RunId, SyncAction};
use passerelle_projections::journal::{self, JournalFilter};
use passerelle_workflows::actions::import_orders::{ImportConfig, ImportOutcome};
use passerelle_workflows::engine::RunStore;
use passerelle_workflows::ports::{ExistingDocument, OrdersPage, ShopOrderRead};
use std::collections::BTreeMap;

/// What one import run recorded.
#[derive(Debug, Clone)]
pub struct RecordedImport {
    /// The run.
    pub run: RunId,
    /// `import-orders` or `import-quotes`.
    pub action: SyncAction,
    /// The configuration it resolved (None: the run failed before).
    pub config: Option<ImportConfig>,
    /// Every order read, in reading order.
    pub orders: Vec<ShopOrderRead>,
    /// ERP articles found, by code.
    pub items: BTreeMap<String, ErpItem>,
    /// ERP customers found.
    pub customers: Vec<ErpCustomer>,
    /// Documents the ERP answered for the run's web orders (found or created).
    pub documents: Vec<ExistingDocument>,
}

impl RecordedImport {
    /// The order `id` as this run read it (the last reading when read twice).
    pub fn order(&self, id: &str) -> Option<&ShopOrderRead> {
        self.orders.iter().rev().find(|o| o.id() == id)
    }
}

/// Folds one run's events into what it recorded.
pub fn fold(run: RunId, action: SyncAction, events: &[RunEvent]) -> RecordedImport {
    let mut r = RecordedImport {
        run,
        action,
        config: None,
        orders: Vec::new(),
        items: BTreeMap::new(),
        customers: Vec::new(),
        documents: Vec::new(),
    };
    for e in events {
        let RunEvent::StepCompleted { key, result, .. } = e else {
            continue;
        };
        // A result that does not decode (an older shape) is left out: the order it
        // concerned is then reported as not re-plannable rather than planned wrongly.
        match key.name.as_str() {
            "load_config" => r.config = serde_json::from_value(result.clone()).ok(),
            "read_orders" => {
                if let Ok(page) = serde_json::from_value::<OrdersPage>(result.clone()) {
                    r.orders.extend(page.orders);
                }
            }
            "erp_items" => {
                if let Ok(items) = serde_json::from_value::<Vec<ErpItem>>(result.clone()) {
                    for it in items {
                        r.items.insert(it.id.clone(), it);
                    }
                }
            }
            "erp_customers" => {
                if let Ok(c) = serde_json::from_value::<Vec<ErpCustomer>>(result.clone()) {
                    r.customers.extend(c);
                }
            }
            "erp_import" => {
                if let Ok(out) = serde_json::from_value::<ImportOutcome>(result.clone()) {
                    r.documents.extend(out.existing);
                    r.documents.extend(out.report.created);
                }
            }
            _ => {}
        }
    }
    r
}

/// Every import run of `profile` (oldest first), folded. The journal projection must be
/// caught up by the caller.
pub async fn imports(
    db: &Db,
    store: &dyn RunStore,
    acc: &AccountId,
    profile: &ProfileId,
) -> anyhow::Result<Vec<RecordedImport>> {
    let mut runs = journal::list(
        db,
        acc.as_str(),
        &JournalFilter {
            profile: Some(profile.as_str().to_string()),
            manual_only: false,
            limit: None,
            offset: 0,
        },
    )
    .await?;
    runs.reverse();
    let mut out = Vec::new();
    for j in runs {
        let action = match j.action.parse::<SyncAction>() {
            Ok(a @ (SyncAction::ImportOrders | SyncAction::ImportQuotes)) => a,
            _ => continue,
        };
        let Ok(run) = j.id.parse::<RunId>() else {
            continue;
        };
        let events = store.load_run(acc, run).await?;
        let events: Vec<RunEvent> = events.into_iter().map(|e| e.event).collect();
        out.push(fold(run, action, &events));
    }
    Ok(out)
}
