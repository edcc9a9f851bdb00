//! `import-orders` (FEATURES §4): shop orders become ERP documents.
//!
//! The run reads the shop page by page (keyset paging on the order id) and handles each page
//! as a batch, because the ERP allows 1 call/s and 10,000 calls/day per subscription: every
//! ERP look-up of a page is one batched query (`WhereCondition In`), and every document of a
//! page is written by one import call. Per page:
//!
//! 1. `read_orders` — the page (the orders file of the run is rendered from these results);
//! 2. `known_transferred` — our transferred-orders ledger is the truth: those are ignored;
//! 3. validation, then `erp_items` / `erp_customers` look-ups, customer resolution and the
//!    document rules of `domain::orders` (pure) — an order that fails is failed with the reason;
//! 4. `reserve_quota` — orders beyond the account's remaining units are ignored
//!    (*quota épuisé*), before anything is written;
//! 5. `erp_import` — idempotent: it looks the orders up by `xx_atoosync_order` first and
//!    imports only the missing ones, so a crash between the import and its journal entry
//!    never makes a second document;
//! 6. `record_transferred` (`OrderTransferred` on each `ShopOrder`) and `settle_quota`;
//! 7. per order: shop status, document number and ERP customer code sent back (one step
//!    each, retried on their own), then the item outcome;
//! 8. `push_stock` of the ordered articles when enabled.
//!
//! Every decision is taken by the pure plan of `domain::orders::plan` (triage, documents and
//! customers, quota grant, what the ERP answer means, write-backs, outcomes), the same for
//! pages and for the day documents of grouping; this module does the IO between its phases
//! and journals. Step names, order and results are those of the first version: recorded
//! runs replay (`replay-tests/fixtures/import_orders_pages_grouping.json`).

use crate::engine::{RetryPolicy, RunContext, RunError, StepError, Workflow, WorkflowFuture};
use crate::ports::{
    Counter, CustomerKeys, Erp, ExistingDocument, ImportBatch, ImportReport, Ledger, OrderQuery,
    Quotas, Reservation, Shop, ShopOrderRead, StockLevel, Transferred,
};
use async_trait::async_trait;
use chrono::NaiveDate;
use passerelle_domain::orders::build;
use passerelle_domain::orders::customer;
use passerelle_domain::orders::plan::{
    self, GroupPlan, GroupedOrder, ImportResult, KnownItems, Link, LinkedDocument, OrderOutcome,
    PageOrder, PlanContext, PlannedItem, WriteBack,
};
use passerelle_domain::orders::{
    CustomerRecord, CustomerSettings, ErpCustomer, ErpDocument, ErpItem, OrderSettings, ShopOrder,
};
use passerelle_domain::{AccountId, ItemOutcome, ProfileId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// Everything an import run needs to know about its profile, resolved once by the
/// `load_config` step (so a replay sees the same settings, period and day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportConfig {
    /// Document and customer rules.
    pub settings: OrderSettings,
    /// Which orders to read (statuses, shops, resolved period).
    pub query: OrderQuery,
    /// Orders per page (one batch of ERP calls per page).
    pub page_size: u32,
    /// The day of the import in the account's time zone (document date "today").
    pub today: NaiveDate,
    /// Send the ERP account number back to the shop customer.
    pub send_customer_code: bool,
    /// Write the ERP document number back on the shop order.
    pub send_document_number: bool,
    /// Ask the shop to e-mail the customer on status changes.
    pub notify_customer: bool,
    /// Parts the shop platform cannot do (already switched off above), noted once in the
    /// run log. Absent from configurations journaled before platforms had capabilities.
    #[serde(default)]
    pub platform_notes: Vec<String>,
}

/// Where an import run gets its configuration and its connections. Implemented by the
/// binary's wiring (profiles, encrypted credentials, shared EBP limits).
#[async_trait]
pub trait Connectors: Send + Sync {
    /// The profile's import configuration, with the period resolved against now.
    async fn import_config(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<ImportConfig, StepError>;
    /// The profile's shop.
    async fn shop(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn Shop>, StepError>;
    /// The profile's ERP.
    async fn erp(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn Erp>, StepError>;
    /// The profile's order-update settings (status updates, invoice PDFs).
    async fn update_config(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<UpdateConfig, StepError>;
}

/// What the order-update flows need to know about their profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    /// The mapping and switches of FEATURES §3.5.
    pub settings: passerelle_domain::orders::updates::UpdateSettings,
    /// Orders per batch (one ERP chain read and one ledger read per batch).
    pub batch_size: u32,
    /// Parts the shop platform cannot do (already switched off in `settings`), noted once
    /// in the run log.
    #[serde(default)]
    pub platform_notes: Vec<String>,
}

/// The profile's shop and ERP; a connection that cannot be made fails the run with why.
pub(crate) async fn open_connections(
    connectors: &dyn Connectors,
    account: &AccountId,
    profile: &ProfileId,
) -> Result<(Arc<dyn Shop>, Arc<dyn Erp>), RunError> {
    let shop = connectors
        .shop(account, profile)
        .await
        .map_err(|e| RunError::failed(format!("connexion boutique : {e}")))?;
    let erp = connectors
        .erp(account, profile)
        .await
        .map_err(|e| RunError::failed(format!("connexion ERP : {e}")))?;
    Ok((shop, erp))
}

/// Input of an import run (the run request's payload).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportInput {
    /// Retry delay override in milliseconds (tests and the demo keep it short).
    #[serde(default)]
    pub retry_initial_ms: Option<u64>,
}

/// The workflow (also `import-quotes`, see [`ImportOrders::quotes`]).
pub struct ImportOrders {
    connectors: Arc<dyn Connectors>,
    ledger: Arc<dyn Ledger>,
    quotas: Arc<dyn Quotas>,
    quotes_only: bool,
}

impl ImportOrders {
    /// A workflow over these ports.
    pub fn new(
        connectors: Arc<dyn Connectors>,
        ledger: Arc<dyn Ledger>,
        quotas: Arc<dyn Quotas>,
    ) -> Self {
        Self {
            connectors,
            ledger,
            quotas,
            quotes_only: false,
        }
    }

    /// `import-quotes` (FEATURES §2 "Quotes"): the shop's quote requests — orders in the
    /// statuses the profile maps to an ERP quote (a quotation module's "devis demandé"
    /// status) — become ERP quotes with the same customer and document rules; only those
    /// statuses are read. Its end-of-run notification is "after quotes created".
    pub fn quotes(
        connectors: Arc<dyn Connectors>,
        ledger: Arc<dyn Ledger>,
        quotas: Arc<dyn Quotas>,
    ) -> Self {
        Self {
            quotes_only: true,
            ..Self::new(connectors, ledger, quotas)
        }
    }
}

/// Retry policies of one run (shortened by the input for tests and the demo).
#[derive(Clone, Copy)]
pub(crate) struct Policies {
    pub(crate) read: RetryPolicy,
    pub(crate) erp: RetryPolicy,
    pub(crate) shop: RetryPolicy,
    /// Status polls of an import EBP accepted asynchronously.
    pub(crate) poll: RetryPolicy,
}

impl Policies {
    fn new(input: &ImportInput) -> Self {
        Self::with_initial(input.retry_initial_ms)
    }

    /// The standard policies, or shortened ones starting at `ms` (tests, demo).
    pub(crate) fn with_initial(retry_initial_ms: Option<u64>) -> Self {
        let mut p = Policies {
            read: RetryPolicy::READ,
            erp: RetryPolicy::ERP,
            shop: RetryPolicy::SHOP,
            poll: RetryPolicy::ERP_IMPORT_STATUS,
        };
        if let Some(ms) = retry_initial_ms {
            for r in [&mut p.read, &mut p.erp, &mut p.shop, &mut p.poll] {
                r.initial = Duration::from_millis(ms);
                r.max_delay = Duration::from_millis(ms * 20);
                r.jitter = 0.0;
            }
        }
        p
    }
}

/// The per-run state carried across pages (only derived from step results).
#[derive(Default)]
struct RunState {
    /// ERP articles found or looked up in vain so far (each reference asked once).
    known: KnownItems,
    /// Orders kept for the day documents (FEATURES §3.4), written after the last page
    /// because a day's orders may span pages.
    grouped: Vec<GroupedOrder>,
}

impl Workflow for ImportOrders {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        let ledger = self.ledger.clone();
        let quotas = self.quotas.clone();
        let quotes_only = self.quotes_only;
        Box::pin(async move {
            let input: ImportInput = serde_json::from_value(input)
                .map_err(|e| RunError::failed(format!("entrée invalide : {e}")))?;
            let p = Policies::new(&input);
            let (account, profile) = (ctx.account_id().clone(), ctx.profile_id().clone());
            let mut config: ImportConfig = ctx
                .step("load_config", &p.read, || {
                    connectors.import_config(&account, &profile)
                })
                .await?;
            for n in &config.platform_notes {
                ctx.note(n.clone()).await?;
            }
            if quotes_only {
                config
                    .settings
                    .statuses
                    .retain(|r| r.document == passerelle_domain::orders::DocumentKind::Quote);
                let states: Vec<String> = config
                    .settings
                    .statuses
                    .iter()
                    .map(|r| r.state_id.clone())
                    .collect();
                config.query.states.retain(|s| states.contains(s));
                if config.query.states.is_empty() {
                    return Err(RunError::failed(
                        "aucun statut de boutique n'est associé au type de document « devis » dans le profil : aucune demande de devis à importer (no quote status)",
                    ));
                }
            }
            if config.query.states.is_empty() {
                return Err(RunError::failed(
                    "aucun statut de commande sélectionné dans le profil : rien à importer (no order status selected)",
                ));
            }
            let (shop, erp) = open_connections(connectors.as_ref(), &account, &profile).await?;
            let io = Io {
                ctx: ctx.clone(),
                shop,
                erp,
                ledger,
                quotas,
                p,
                config: Arc::new(config),
            };
            let mut state = RunState::default();
            io.check_special_articles(&mut state).await?;

            let mut after: Option<String> = None;
            let mut page_no = 0u32;
            loop {
                page_no += 1;
                let q = io.config.query.clone();
                let limit = io.config.page_size.max(1);
                let shop = io.shop.clone();
                let after_id = after.clone();
                let page = ctx
                    .step("read_orders", &io.p.read, || async move {
                        shop.orders_page(&q, after_id.as_deref(), limit).await
                    })
                    .await?;
                let Some(last) = page.orders.last().map(|o| o.id().to_string()) else {
                    break;
                };
                let mut orders = page.orders;
                if let Some(only) = ctx.only_items() {
                    // A retry run (issue 17.6): only the failed orders it names are planned.
                    orders.retain(|o| only.contains(o.id()));
                }
                if !orders.is_empty() {
                    io.process_page(&mut state, page_no, orders).await?;
                }
                after = Some(last);
                if !page.has_more {
                    break;
                }
            }
            if !state.grouped.is_empty() {
                io.process_groups(std::mem::take(&mut state.grouped))
                    .await?;
            }
            let t = ctx.totals();
            let what = if quotes_only {
                "demande(s) de devis"
            } else {
                "commande(s)"
            };
            ctx.note(format!(
                "{} {what} : {} importée(s), {} en échec, {} ignorée(s)",
                t.total, t.succeeded, t.failed, t.ignored
            ))
            .await?;
            Ok(())
        })
    }
}

struct Io {
    ctx: RunContext,
    shop: Arc<dyn Shop>,
    erp: Arc<dyn Erp>,
    ledger: Arc<dyn Ledger>,
    quotas: Arc<dyn Quotas>,
    p: Policies,
    config: Arc<ImportConfig>,
}

impl Io {
    /// Reads the special articles; missing ones refuse the run (FEATURES §3.3).
    async fn check_special_articles(&self, state: &mut RunState) -> Result<(), RunError> {
        let s = &self.config.settings.special;
        let mut refs: Vec<String> = [&s.misc, &s.gap, &s.gift_wrap, &s.shipping]
            .into_iter()
            .chain(s.discount_by_vat.values())
            .filter(|r| !r.trim().is_empty())
            .cloned()
            .collect();
        refs.sort();
        refs.dedup();
        let found = self.lookup_items(refs).await?;
        for it in found {
            state.known.items.insert(it.id.clone(), it);
        }
        build::check_special_articles(&self.config.settings, &state.known.items)
            .map_err(RunError::failed)
    }

    async fn lookup_items(&self, refs: Vec<String>) -> Result<Vec<ErpItem>, RunError> {
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let erp = self.erp.clone();
        self.ctx
            .step("erp_items", &self.p.read, || async move {
                erp.items_by_references(&refs).await
            })
            .await
    }

    async fn process_page(
        &self,
        state: &mut RunState,
        page_no: u32,
        orders: Vec<ShopOrderRead>,
    ) -> Result<(), RunError> {
        let ids: Vec<String> = orders.iter().map(|o| o.id().to_string()).collect();
        let (ledger, acc, prof) = (
            self.ledger.clone(),
            self.ctx.account_id().clone(),
            self.ctx.profile_id().clone(),
        );
        let transferred: BTreeSet<String> = self
            .ctx
            .step("known_transferred", &self.p.read, || async move {
                ledger.transferred(&acc, &prof, &ids).await
            })
            .await?;
        let page: Vec<PageOrder<'_>> = orders.iter().map(page_order).collect();
        let settings = &self.config.settings;
        let triage = plan::triage(&page, &transferred, settings);

        // ERP look-ups, batched over the page.
        let refs = state.known.to_look_up(&triage.candidates);
        let found = self.lookup_items(refs.clone()).await?;
        state.known.learn(refs, found);
        let customers = self.find_customers(&triage.candidates).await?;

        let cx = PlanContext {
            settings,
            items: &state.known.items,
            customers: &customers,
            today: self.config.today,
            send_customer_code: self.config.send_customer_code,
        };
        let mut documents = plan::plan_documents(triage, &cx);
        state.grouped.append(&mut documents.grouped);
        let outcomes = if documents.to_write.is_empty() {
            documents.outcomes
        } else {
            // Quota: reserve before writing; beyond the grant, ignored.
            let key = format!("page-{page_no}");
            let r = self.reserve(&key, documents.units_wanted()).await?;
            documents.grant(r.granted, r.limited_by);
            let (customers, docs) = documents.batch();
            let result = self.import(customers, docs).await?;
            let settled = documents.settle(&result);
            // Every order linked in this run consumes a unit, including one found already in
            // the ERP: after a crash inside `erp_import` that is this run's own document.
            self.record_and_settle(settled.links, &key).await?;
            settled.outcomes
        };

        // Item outcomes, with the shop write-backs of the written orders.
        let items = plan::page_items(&page, &outcomes);
        let stock_refs = plan::stock_references(&page, &outcomes, &state.known);
        self.items(items, outcomes, "commande non traitée (order not handled)")
            .await?;
        if self.config.settings.push_stock && !stock_refs.is_empty() {
            self.push_stock(stock_refs.into_iter().collect()).await?;
        }
        Ok(())
    }

    /// `reserve_quota` of `wanted` import units under the reservation `key`.
    async fn reserve(&self, key: &str, wanted: u32) -> Result<Reservation, RunError> {
        let (quotas, acc, run, key) = (
            self.quotas.clone(),
            self.ctx.account_id().clone(),
            self.ctx.run_id(),
            key.to_string(),
        );
        self.ctx
            .step("reserve_quota", &self.p.read, || async move {
                quotas
                    .reserve(&acc, run, &key, Counter::Import, wanted)
                    .await
            })
            .await
    }

    /// The items with their planned outcomes: the shop write-backs of a written order (one
    /// step each), then its outcome. `missing` fails an item the plan has no outcome for.
    async fn items(
        &self,
        items: Vec<PlannedItem>,
        outcomes: BTreeMap<String, OrderOutcome>,
        missing: &'static str,
    ) -> Result<(), RunError> {
        let outcomes = Arc::new(outcomes);
        self.ctx
            .for_each_item(
                items,
                |i| (i.id.clone(), i.label.clone()),
                |ictx, _item, planned| {
                    let (outcomes, shop, config, p) = (
                        outcomes.clone(),
                        self.shop.clone(),
                        self.config.clone(),
                        self.p,
                    );
                    async move {
                        let id = planned.id;
                        match outcomes.get(&id) {
                            None => Ok(ItemOutcome::Failed(missing.into())),
                            Some(OrderOutcome::Failed(r)) => Ok(ItemOutcome::Failed(r.clone())),
                            Some(OrderOutcome::Ignored(r)) => Ok(ItemOutcome::Ignored(r.clone())),
                            Some(OrderOutcome::Grouped) => Ok(ItemOutcome::Failed(
                                "commande regroupée traitée hors de sa page (grouped order)".into(),
                            )),
                            Some(OrderOutcome::Written(wb)) => {
                                write_back(&ictx, &shop, &config, &p, &id, wb).await?;
                                Ok(ItemOutcome::Succeeded(Some(wb.message(&id))))
                            }
                        }
                    }
                },
            )
            .await?;
        Ok(())
    }

    /// `record_transferred` (`OrderTransferred` on each order linked), then `settle_quota`
    /// of the reservation `key`: one unit per order linked.
    async fn record_and_settle(&self, links: Vec<Link>, key: &str) -> Result<(), RunError> {
        let consumed = links.len() as u32;
        if !links.is_empty() {
            let transfers: Vec<Transferred> = links
                .into_iter()
                .map(|l| Transferred {
                    order_id: l.order_id,
                    order_reference: l.order_reference,
                    document_number: l.document_number,
                    kind: l.kind,
                })
                .collect();
            let (ledger, acc, prof, run) = (
                self.ledger.clone(),
                self.ctx.account_id().clone(),
                self.ctx.profile_id().clone(),
                self.ctx.run_id(),
            );
            self.ctx
                .step("record_transferred", &self.p.read, || async move {
                    ledger
                        .record_transferred(&acc, &prof, run, &transfers)
                        .await
                })
                .await?;
        }
        let (quotas, acc, prof, run) = (
            self.quotas.clone(),
            self.ctx.account_id().clone(),
            self.ctx.profile_id().clone(),
            self.ctx.run_id(),
        );
        self.ctx
            .step("settle_quota", &self.p.read, || async move {
                quotas
                    .settle(&acc, &prof, run, key, Counter::Import, consumed)
                    .await
            })
            .await
    }

    /// The day documents (FEATURES §3.4): merge, reserve one unit per order (a group is
    /// written whole or not at all), import idempotently by group key, link every original
    /// order to its day document, then the shop write-backs and the orders' outcomes.
    async fn process_groups(&self, grouped: Vec<GroupedOrder>) -> Result<(), RunError> {
        let Some(mut groups) = GroupPlan::new(grouped, &self.config.settings) else {
            return Ok(());
        };
        let r = self.reserve("groups", groups.units_wanted()).await?;
        groups.grant(r.granted, r.limited_by);
        let documents = groups.documents();
        let result = self.import(Vec::new(), documents).await?;
        let settled = groups.settle(&result);
        self.record_and_settle(settled.links, "groups").await?;
        self.items(
            settled.items,
            settled.outcomes,
            "commande regroupée non traitée (grouped order not handled)",
        )
        .await
    }

    async fn find_customers(&self, orders: &[&ShopOrder]) -> Result<Vec<ErpCustomer>, RunError> {
        let keys = customer_keys(orders, &self.config.settings.customers);
        if keys.sirets.is_empty() && keys.emails.is_empty() && keys.vats.is_empty() {
            return Ok(Vec::new());
        }
        let erp = self.erp.clone();
        self.ctx
            .step("erp_customers", &self.p.read, || async move {
                erp.find_customers(&keys).await
            })
            .await
    }

    /// The idempotent write (`erp_import`, see [`import_missing`]): documents already holding
    /// a web order number are linked, not re-imported. No step when there is nothing to
    /// write.
    async fn import(
        &self,
        customers: Vec<CustomerRecord>,
        documents: Vec<ErpDocument>,
    ) -> Result<ImportResult, RunError> {
        if documents.is_empty() {
            return Ok(ImportResult::default());
        }
        let batch = ImportBatch {
            customers,
            documents,
            only_files: None,
        };
        let erp = self.erp.clone();
        let outcome: ImportOutcome = self
            .ctx
            .step("erp_import", &self.p.erp, || async move {
                import_missing(erp.as_ref(), batch).await
            })
            .await?;
        // An import EBP accepted without applying it yet: polled (the run parks between
        // polls), then the files that had to wait for it.
        let outcome =
            super::erp_import::complete(&self.ctx, &self.erp, &self.p.poll, &self.p.erp, outcome)
                .await?;
        Ok(outcome.into_result())
    }

    async fn push_stock(&self, refs: Vec<String>) -> Result<(), RunError> {
        let (erp, shop) = (self.erp.clone(), self.shop.clone());
        let warehouses: Vec<String> = self.config.settings.warehouse.iter().cloned().collect();
        let levels: Vec<StockLevel> = self
            .ctx
            .step("erp_stock", &self.p.read, || async move {
                erp.stock_levels(&refs, &warehouses).await
            })
            .await?;
        let sent: u32 = self
            .ctx
            .step("push_stock", &self.p.shop, || async move {
                let mut n = 0;
                for l in &levels {
                    // Absolute quantities: a retried step sets the same values again.
                    if shop.set_stock(&l.item_id, l.quantity).await? {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await?;
        self.ctx
            .note(format!("stock envoyé pour {sent} article(s) commandé(s)"))
            .await
    }
}

/// The customer look-up keys of a page of orders, deduplicated (one batched query).
pub fn customer_keys(orders: &[&ShopOrder], settings: &CustomerSettings) -> CustomerKeys {
    let mut keys = CustomerKeys::default();
    for o in orders {
        let k = customer::lookup_keys(o, settings);
        keys.sirets.extend(k.siret);
        keys.emails.extend(k.email);
        keys.vats.extend(k.vat);
    }
    for v in [&mut keys.sirets, &mut keys.emails, &mut keys.vats] {
        v.sort();
        v.dedup();
    }
    keys
}

/// The journaled result of `erp_import`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// Documents that were already in the ERP before this import (linked, not re-imported).
    pub existing: Vec<ExistingDocument>,
    /// What the import call did (with the files sent, kept for audit).
    pub report: ImportReport,
}

impl ImportOutcome {
    /// What the plan needs of it: every document holding a web order of the batch (found
    /// or created), which were found already there, and the refusals.
    pub fn into_result(self) -> ImportResult {
        let already_there = self
            .existing
            .iter()
            .map(|d| d.atoosync_order.clone())
            .collect();
        let documents = self
            .existing
            .into_iter()
            .chain(self.report.created)
            .map(|d| LinkedDocument {
                web_order: d.atoosync_order,
                number: d.number,
                kind: d.kind,
            })
            .collect();
        ImportResult {
            documents,
            already_there,
            rejected: self.report.rejected.into_iter().collect(),
        }
    }
}

/// Looks the batch's orders up by web order number, then imports only the missing ones.
/// Running it twice imports nothing twice: this is what makes the ERP write exactly-once.
pub async fn import_missing(
    erp: &dyn Erp,
    mut batch: ImportBatch,
) -> Result<ImportOutcome, StepError> {
    let web_orders: Vec<String> = batch
        .documents
        .iter()
        .map(|d| d.atoosync_order.clone())
        .collect();
    // Always looked up (there is no option to skip it): it is what makes a resumed step safe
    // and what keeps an order from ever getting two documents.
    let existing = erp.documents_for_web_orders(&web_orders).await?;
    let there: BTreeSet<&str> = existing.iter().map(|d| d.atoosync_order.as_str()).collect();
    batch
        .documents
        .retain(|d| !there.contains(d.atoosync_order.as_str()));
    let used: BTreeSet<&str> = batch
        .documents
        .iter()
        .map(|d| d.customer_code.as_str())
        .collect();
    batch.customers.retain(|c| used.contains(c.code.as_str()));
    let report = if batch.documents.is_empty() {
        ImportReport::default()
    } else {
        erp.import(&batch).await?
    };
    Ok(ImportOutcome { existing, report })
}

/// The shop write-backs of an order in the ERP, one step each (each retried on its own):
/// status, document number, then the ERP account number when the plan says so.
async fn write_back(
    ctx: &RunContext,
    shop: &Arc<dyn Shop>,
    config: &ImportConfig,
    p: &Policies,
    order_id: &str,
    wb: &WriteBack,
) -> Result<(), RunError> {
    if let Some(state) = wb.set_state.as_deref() {
        let (shop, notify) = (shop.clone(), config.notify_customer);
        ctx.step("set_shop_state", &p.shop, || async move {
            shop.set_order_state(order_id, state, notify).await
        })
        .await?;
    }
    if config.send_document_number {
        let shop = shop.clone();
        let number = &wb.document.number;
        ctx.step("send_document_number", &p.shop, || async move {
            shop.set_order_document_number(order_id, number).await
        })
        .await?;
    }
    if let Some(back) = wb.code_back.as_ref().filter(|_| config.send_customer_code) {
        let shop = shop.clone();
        ctx.step("send_customer_code", &p.shop, || async move {
            shop.set_customer_erp_code(&back.shop_customer_id, &back.code)
                .await
        })
        .await?;
    }
    Ok(())
}

/// A page's order as the plan reads it.
fn page_order(o: &ShopOrderRead) -> PageOrder<'_> {
    match o {
        ShopOrderRead::Ok(order) => PageOrder::Read(order),
        ShopOrderRead::Invalid { id, reason } => PageOrder::Unreadable { id, reason },
    }
}
