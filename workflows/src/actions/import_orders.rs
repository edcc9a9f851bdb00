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

use crate::engine::{RetryPolicy, RunContext, RunError, StepError, Workflow, WorkflowFuture};
use crate::ports::{
    Counter, CustomerKeys, Erp, ExistingDocument, ImportBatch, ImportReport, Ledger, OrderQuery,
    Quotas, Reservation, Shop, ShopOrderRead, StockLevel, Transferred,
};
use async_trait::async_trait;
use chrono::NaiveDate;
use passerelle_domain::orders::build::{self, BuildContext};
use passerelle_domain::orders::customer;
use passerelle_domain::orders::grouping;
use passerelle_domain::orders::{
    CustomerRecord, CustomerResolution, CustomerSettings, ErpCustomer, ErpDocument, ErpItem,
    OrderSettings, ShopOrder,
};
use passerelle_domain::{AccountId, ItemOutcome, ProfileId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
        };
        if let Some(ms) = retry_initial_ms {
            for r in [&mut p.read, &mut p.erp, &mut p.shop] {
                r.initial = Duration::from_millis(ms);
                r.max_delay = Duration::from_millis(ms * 20);
                r.jitter = 0.0;
            }
        }
        p
    }
}

/// What became of one order of a page before the shop write-backs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Planned {
    /// Written (or found) in the ERP: the shop gets the news, then the item succeeds.
    Written {
        document: ExistingDocument,
        customer_id: String,
        customer_code: String,
        set_state: Option<String>,
        already_there: bool,
    },
    Failed(String),
    Ignored(String),
    /// Kept for its day document (outcome given after the last page).
    Grouped,
}

/// The per-run state carried across pages (only derived from step results).
#[derive(Default)]
struct RunState {
    items: BTreeMap<String, ErpItem>,
    unknown: BTreeSet<String>,
    /// Orders kept for the day documents (FEATURES §3.4), written after the last page
    /// because a day's orders may span pages.
    grouped: Vec<GroupedOrder>,
}

/// An order waiting for its day document.
struct GroupedOrder {
    id: String,
    reference: String,
    day: NaiveDate,
    document: ErpDocument,
    set_state: Option<String>,
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
                io.process_page(&mut state, page_no, page.orders).await?;
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
            state.items.insert(it.id.clone(), it);
        }
        build::check_special_articles(&self.config.settings, &state.items).map_err(RunError::failed)
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
        let (ledger, acc, prof, ids2) = (
            self.ledger.clone(),
            self.ctx.account_id().clone(),
            self.ctx.profile_id().clone(),
            ids.clone(),
        );
        let transferred: BTreeSet<String> = self
            .ctx
            .step("known_transferred", &self.p.read, || async move {
                ledger.transferred(&acc, &prof, &ids2).await
            })
            .await?;

        let mut plan: HashMap<String, Planned> = HashMap::new();
        let mut candidates: Vec<&ShopOrder> = Vec::new();
        let rules: HashMap<&str, _> = self
            .config
            .settings
            .statuses
            .iter()
            .map(|r| (r.state_id.as_str(), r))
            .collect();
        for o in &orders {
            match o {
                ShopOrderRead::Invalid { id, reason } => {
                    plan.insert(id.clone(), Planned::Failed(reason.clone()));
                }
                ShopOrderRead::Ok(order) if transferred.contains(&order.id) => {
                    plan.insert(
                        order.id.clone(),
                        Planned::Ignored("déjà transférée (already transferred)".into()),
                    );
                }
                ShopOrderRead::Ok(order) if !rules.contains_key(order.state_id.as_str()) => {
                    plan.insert(
                        order.id.clone(),
                        Planned::Ignored(format!(
                            "statut {} non sélectionné (status not selected)",
                            order.state_id
                        )),
                    );
                }
                ShopOrderRead::Ok(order) => match build::validate_order(order) {
                    Ok(()) => candidates.push(order),
                    Err(e) => {
                        plan.insert(order.id.clone(), Planned::Failed(e.to_string()));
                    }
                },
            }
        }

        // ERP look-ups, batched over the page.
        let new_refs: Vec<String> = candidates
            .iter()
            .flat_map(|o| o.lines.iter().map(|l| l.reference.clone()))
            .filter(|r| !state.items.contains_key(r) && !state.unknown.contains(r))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for it in self.lookup_items(new_refs.clone()).await? {
            state.items.insert(it.id.clone(), it);
        }
        for r in new_refs {
            if !state.items.contains_key(&r) {
                state.unknown.insert(r);
            }
        }
        let found = self.find_customers(&candidates).await?;

        // Pure rules: customer, document.
        let settings = &self.config.settings;
        let mut docs: Vec<(ErpDocument, Option<CustomerRecord>, &ShopOrder, String)> = Vec::new();
        for order in candidates {
            let resolution = customer::resolve_customer(order, settings, &found);
            let Some(status) = rules.get(order.state_id.as_str()) else {
                continue;
            };
            let cx = BuildContext {
                settings,
                status,
                customer: &resolution,
                items: &state.items,
                today: self.config.today,
            };
            match build::build_document(order, &cx) {
                Ok(doc)
                    if settings
                        .grouping
                        .as_ref()
                        .is_some_and(|g| g.applies_to(order)) =>
                {
                    let day = settings
                        .grouping
                        .as_ref()
                        .map(|g| g.day_of(order))
                        .unwrap_or(self.config.today);
                    if day >= self.config.today {
                        plan.insert(
                            order.id.clone(),
                            Planned::Ignored(format!(
                                "regroupement par jour : la journée du {} n'est pas terminée, commande reprise demain (day not ended yet)",
                                day.format("%d/%m/%Y")
                            )),
                        );
                    } else {
                        state.grouped.push(GroupedOrder {
                            id: order.id.clone(),
                            reference: order.reference.clone(),
                            day,
                            document: doc,
                            set_state: status.set_shop_state.clone(),
                        });
                        plan.insert(order.id.clone(), Planned::Grouped);
                    }
                }
                Ok(doc) => {
                    let record = match &resolution {
                        CustomerResolution::New(r) => Some(r.clone()),
                        CustomerResolution::Existing { update, .. } => update.clone(),
                    };
                    let set_state = status.set_shop_state.clone();
                    docs.push((doc, record, order, set_state.unwrap_or_default()));
                }
                Err(e) => {
                    plan.insert(order.id.clone(), Planned::Failed(e.to_string()));
                }
            }
        }

        // Quota: reserve before writing; beyond the grant, ignored.
        if !docs.is_empty() {
            let (quotas, acc, run, n) = (
                self.quotas.clone(),
                self.ctx.account_id().clone(),
                self.ctx.run_id(),
                docs.len() as u32,
            );
            let key = format!("page-{page_no}");
            let key2 = key.clone();
            let r: Reservation = self
                .ctx
                .step("reserve_quota", &self.p.read, || async move {
                    quotas.reserve(&acc, run, &key2, Counter::Import, n).await
                })
                .await?;
            let granted = r.granted as usize;
            if granted < docs.len() {
                let why = r
                    .limited_by
                    .unwrap_or_else(|| "quota épuisé (quota exhausted)".into());
                for (doc, ..) in docs.drain(granted..) {
                    plan.insert(doc.atoosync_order.clone(), Planned::Ignored(why.clone()));
                }
            }
            let written = self.import(&docs).await?;
            let report_by_order: HashMap<&str, &ExistingDocument> = written
                .0
                .iter()
                .map(|d| (d.atoosync_order.as_str(), d))
                .collect();
            let mut transfers = Vec::new();
            // The ERP account number goes back once per shop customer, and not at all when
            // the shop already holds it (read with the order): many orders share customers.
            let mut coded: BTreeSet<&str> = BTreeSet::new();
            for (doc, _, order, set_state) in &docs {
                if let Some(d) = report_by_order.get(order.id.as_str()) {
                    // Never a shared account (the guest account above all): see
                    // `customer::code_to_write_back`.
                    let send_code =
                        customer::code_to_write_back(order, settings, &doc.customer_code).is_some()
                            && coded.insert(order.customer.id.as_str());
                    transfers.push(Transferred {
                        order_id: order.id.clone(),
                        order_reference: order.reference.clone(),
                        document_number: d.number.clone(),
                        kind: d.kind,
                    });
                    plan.insert(
                        order.id.clone(),
                        Planned::Written {
                            document: (*d).clone(),
                            // Empty: nothing to send back for this order.
                            customer_id: if send_code {
                                order.customer.id.clone()
                            } else {
                                String::new()
                            },
                            customer_code: doc.customer_code.clone(),
                            set_state: (!set_state.is_empty()).then(|| set_state.clone()),
                            already_there: written.1.contains(&order.id),
                        },
                    );
                } else {
                    let reason = written
                        .2
                        .get(&order.id)
                        .cloned()
                        .unwrap_or_else(|| "document absent du retour de l'import ERP".into());
                    plan.insert(
                        order.id.clone(),
                        Planned::Failed(format!("refusée par l'ERP : {reason}")),
                    );
                }
            }
            // Every order linked in this run consumes a unit, including one found already in
            // the ERP: after a crash inside `erp_import` that is this run's own document.
            self.record_and_settle(transfers, &key).await?;
        }

        // Item outcomes, with the shop write-backs of the written orders.
        let orders_in_page: Vec<(String, String)> = orders
            .iter()
            .map(|o| match o {
                ShopOrderRead::Ok(x) => (x.id.clone(), x.reference.clone()),
                ShopOrderRead::Invalid { id, .. } => (id.clone(), id.clone()),
            })
            .filter(|(id, _)| !matches!(plan.get(id), Some(Planned::Grouped)))
            .collect();
        let plan = Arc::new(plan);
        let stock_refs: BTreeSet<String> = orders
            .iter()
            .filter_map(|o| match o {
                ShopOrderRead::Ok(x) => Some(x),
                _ => None,
            })
            .filter(|o| matches!(plan.get(&o.id), Some(Planned::Written { .. })))
            .flat_map(|o| o.lines.iter().map(|l| l.reference.clone()))
            .filter(|r| state.items.contains_key(r))
            .collect();
        self.ctx
            .for_each_item(
                orders_in_page,
                |(id, reference)| (id.clone(), reference.clone()),
                |ictx, _item, (id, _)| {
                    let plan = plan.clone();
                    let shop = self.shop.clone();
                    let config = self.config.clone();
                    let p = self.p;
                    async move {
                        match plan.get(&id).cloned() {
                            None => Ok(ItemOutcome::Failed(
                                "commande non traitée (order not handled)".into(),
                            )),
                            Some(Planned::Failed(r)) => Ok(ItemOutcome::Failed(r)),
                            Some(Planned::Ignored(r)) => Ok(ItemOutcome::Ignored(r)),
                            Some(Planned::Grouped) => Ok(ItemOutcome::Failed(
                                "commande regroupée traitée hors de sa page (grouped order)".into(),
                            )),
                            Some(Planned::Written {
                                document,
                                customer_id,
                                customer_code,
                                set_state,
                                already_there,
                            }) => {
                                write_back(
                                    &ictx,
                                    &shop,
                                    &config,
                                    &p,
                                    &id,
                                    &document,
                                    &customer_id,
                                    &customer_code,
                                    set_state.as_deref(),
                                )
                                .await?;
                                let mut msg = format!(
                                    "commande {id} → document {} ({customer_code})",
                                    document.number
                                );
                                if already_there {
                                    msg.push_str(" — déjà présent dans l'ERP, relié sans doublon");
                                }
                                Ok(ItemOutcome::Succeeded(Some(msg)))
                            }
                        }
                    }
                },
            )
            .await?;

        if self.config.settings.push_stock && !stock_refs.is_empty() {
            self.push_stock(stock_refs.into_iter().collect()).await?;
        }
        Ok(())
    }

    /// `record_transferred` (`OrderTransferred` on each order linked), then `settle_quota`
    /// of the reservation `key`: one unit per order linked.
    async fn record_and_settle(
        &self,
        transfers: Vec<Transferred>,
        key: &str,
    ) -> Result<(), RunError> {
        let consumed = transfers.len() as u32;
        if !transfers.is_empty() {
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
        let Some(g) = self.config.settings.grouping.clone() else {
            return Ok(());
        };
        let meta: HashMap<String, (String, Option<String>)> = grouped
            .iter()
            .map(|o| (o.id.clone(), (o.reference.clone(), o.set_state.clone())))
            .collect();
        let groups = grouping::group_documents(
            &g,
            &self.config.settings,
            grouped
                .into_iter()
                .map(|o| (o.id, o.day, o.document))
                .collect(),
        );
        let wanted: usize = groups.iter().map(|x| x.orders.len()).sum();
        let (quotas, acc, run) = (
            self.quotas.clone(),
            self.ctx.account_id().clone(),
            self.ctx.run_id(),
        );
        let r: Reservation = self
            .ctx
            .step("reserve_quota", &self.p.read, || async move {
                quotas
                    .reserve(&acc, run, "groups", Counter::Import, wanted as u32)
                    .await
            })
            .await?;
        let mut outcome: HashMap<String, Planned> = HashMap::new();
        let mut room = r.granted as usize;
        let mut to_write = Vec::new();
        for grp in groups {
            let document = match &grp.document {
                Ok(d) => d.clone(),
                Err(why) => {
                    for o in &grp.orders {
                        outcome.insert(
                            o.clone(),
                            Planned::Failed(format!("document du jour refusé : {why}")),
                        );
                    }
                    continue;
                }
            };
            if grp.orders.len() <= room {
                room -= grp.orders.len();
                to_write.push((grp, document));
            } else {
                let why = r
                    .limited_by
                    .clone()
                    .unwrap_or_else(|| "quota épuisé (quota exhausted)".into());
                for o in &grp.orders {
                    outcome.insert(o.clone(), Planned::Ignored(why.clone()));
                }
            }
        }
        let mut transfers = Vec::new();
        if !to_write.is_empty() {
            let batch = ImportBatch {
                customers: Vec::new(),
                documents: to_write.iter().map(|(_, d)| d.clone()).collect(),
            };
            let (erp, check) = (self.erp.clone(), self.config.settings.check_existing);
            let written: ImportOutcome = self
                .ctx
                .step("erp_import", &self.p.erp, || async move {
                    import_missing(erp.as_ref(), batch, check).await
                })
                .await?;
            let rejected: HashMap<String, String> =
                written.report.rejected.iter().cloned().collect();
            let by_key: HashMap<String, ExistingDocument> = written
                .existing
                .iter()
                .chain(written.report.created.iter())
                .map(|d| (d.atoosync_order.clone(), d.clone()))
                .collect();
            for (grp, document) in &to_write {
                let key = &document.atoosync_order;
                match by_key.get(key) {
                    Some(d) => {
                        for o in &grp.orders {
                            let (reference, set_state) = meta.get(o).cloned().unwrap_or_default();
                            transfers.push(Transferred {
                                order_id: o.clone(),
                                order_reference: reference,
                                document_number: d.number.clone(),
                                kind: d.kind,
                            });
                            outcome.insert(
                                o.clone(),
                                Planned::Written {
                                    document: d.clone(),
                                    customer_id: String::new(),
                                    customer_code: g.account.clone(),
                                    set_state,
                                    already_there: false,
                                },
                            );
                        }
                    }
                    None => {
                        let why = rejected
                            .get(key)
                            .cloned()
                            .unwrap_or_else(|| "document absent du retour de l'import ERP".into());
                        for o in &grp.orders {
                            outcome.insert(
                                o.clone(),
                                Planned::Failed(format!(
                                    "document du jour refusé par l'ERP : {why}"
                                )),
                            );
                        }
                    }
                }
            }
        }
        self.record_and_settle(transfers, "groups").await?;
        let mut items: Vec<(String, String)> = outcome
            .keys()
            .map(|id| {
                (
                    id.clone(),
                    meta.get(id).map(|m| m.0.clone()).unwrap_or_default(),
                )
            })
            .collect();
        items.sort_by_key(|(id, _)| (id.parse::<u64>().unwrap_or(u64::MAX), id.clone()));
        let outcome = Arc::new(outcome);
        self.ctx
            .for_each_item(
                items,
                |(id, reference)| (id.clone(), reference.clone()),
                |ictx, _item, (id, _)| {
                    let (outcome, shop, config, p) = (
                        outcome.clone(),
                        self.shop.clone(),
                        self.config.clone(),
                        self.p,
                    );
                    async move {
                        match outcome.get(&id).cloned() {
                            Some(Planned::Written {
                                document,
                                customer_code,
                                set_state,
                                ..
                            }) => {
                                write_back(
                                    &ictx,
                                    &shop,
                                    &config,
                                    &p,
                                    &id,
                                    &document,
                                    "",
                                    &customer_code,
                                    set_state.as_deref(),
                                )
                                .await?;
                                Ok(ItemOutcome::Succeeded(Some(format!(
                                    "commande {id} → document du jour {} ({customer_code})",
                                    document.number
                                ))))
                            }
                            Some(Planned::Ignored(r)) => Ok(ItemOutcome::Ignored(r)),
                            Some(Planned::Failed(r)) => Ok(ItemOutcome::Failed(r)),
                            _ => Ok(ItemOutcome::Failed(
                                "commande regroupée non traitée (grouped order not handled)".into(),
                            )),
                        }
                    }
                },
            )
            .await?;
        Ok(())
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

    /// The idempotent write: documents already holding the web order number are linked, not
    /// re-imported. Returns (documents by order, orders found already there, rejections).
    async fn import(
        &self,
        docs: &[(ErpDocument, Option<CustomerRecord>, &ShopOrder, String)],
    ) -> Result<
        (
            Vec<ExistingDocument>,
            BTreeSet<String>,
            HashMap<String, String>,
        ),
        RunError,
    > {
        if docs.is_empty() {
            return Ok(Default::default());
        }
        let mut customers: BTreeMap<String, CustomerRecord> = BTreeMap::new();
        let mut documents = Vec::new();
        for (doc, rec, ..) in docs {
            if let Some(r) = rec {
                customers.entry(r.code.clone()).or_insert_with(|| r.clone());
            }
            documents.push(doc.clone());
        }
        let batch = ImportBatch {
            customers: customers.into_values().collect(),
            documents,
        };
        let check = self.config.settings.check_existing;
        let erp = self.erp.clone();
        let outcome: ImportOutcome = self
            .ctx
            .step("erp_import", &self.p.erp, || async move {
                import_missing(erp.as_ref(), batch, check).await
            })
            .await?;
        let already: BTreeSet<String> = outcome
            .existing
            .iter()
            .map(|d| d.atoosync_order.clone())
            .collect();
        let mut all = outcome.existing;
        all.extend(outcome.report.created);
        let rejected = outcome.report.rejected.into_iter().collect();
        Ok((all, already, rejected))
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

/// Looks the batch's orders up by web order number, then imports only the missing ones.
/// Running it twice imports nothing twice: this is what makes the ERP write exactly-once.
pub async fn import_missing(
    erp: &dyn Erp,
    mut batch: ImportBatch,
    check_existing: bool,
) -> Result<ImportOutcome, StepError> {
    let web_orders: Vec<String> = batch
        .documents
        .iter()
        .map(|d| d.atoosync_order.clone())
        .collect();
    // The look-up also runs when the merchant turned the check off: it is what makes a
    // resumed step safe; the option only decides whether pre-existing documents are linked.
    let existing = erp.documents_for_web_orders(&web_orders).await?;
    let there: BTreeSet<&str> = existing.iter().map(|d| d.atoosync_order.as_str()).collect();
    batch
        .documents
        .retain(|d| !there.contains(d.atoosync_order.as_str()));
    let _ = check_existing;
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

#[allow(clippy::too_many_arguments)]
async fn write_back(
    ctx: &RunContext,
    shop: &Arc<dyn Shop>,
    config: &ImportConfig,
    p: &Policies,
    order_id: &str,
    document: &ExistingDocument,
    customer_id: &str,
    customer_code: &str,
    set_state: Option<&str>,
) -> Result<(), RunError> {
    if let Some(state) = set_state {
        let (shop, notify) = (shop.clone(), config.notify_customer);
        ctx.step("set_shop_state", &p.shop, || async move {
            shop.set_order_state(order_id, state, notify).await
        })
        .await?;
    }
    if config.send_document_number {
        let shop = shop.clone();
        ctx.step("send_document_number", &p.shop, || async move {
            shop.set_order_document_number(order_id, &document.number)
                .await
        })
        .await?;
    }
    if config.send_customer_code && !customer_id.is_empty() {
        let shop = shop.clone();
        ctx.step("send_customer_code", &p.shop, || async move {
            shop.set_customer_erp_code(customer_id, customer_code).await
        })
        .await?;
    }
    Ok(())
}
