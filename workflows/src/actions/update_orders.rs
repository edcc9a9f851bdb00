//! `update-order-statuses` and `send-invoices` (FEATURES §2, §3.5, §5): what happened to
//! transferred orders in the ERP goes back to the shop.
//!
//! Both read the ERP incrementally, because EBP allows 1 call/s and 10,000 calls/day:
//!
//! 1. `read_cursor` — the flow's watermark (`SyncCursor` aggregate: the largest
//!    `sysModifiedDate` handled); none yet, or `full` asked → a full pass;
//! 2. `erp_deletions` — documents deleted since the watermark (`EbpSysDeletedRecord`): a
//!    deletion changes no remaining document, so it turns the run into a full pass;
//! 3. `erp_changes` — one paged scan of the sale documents carrying a web order number,
//!    modified since the watermark (minus a few seconds), ordered by `sysModifiedDate`;
//! 4. per batch of the touched orders that are ours (`links`, the `ShopOrder` states): their
//!    whole document chains (`erp_chains`, `WhereCondition In` on `xx_atoosync_order`, ≤ 100
//!    orders per call) — a full pass already has them from the scan;
//! 5. the pure rules of `domain::orders::updates` say what to send; only orders with
//!    something to send (or a problem to report) become items: their shop writes are steps
//!    (set-to, idempotent), then `record_update` appends `OrderStatusSent`, `TrackingSent`…;
//! 6. `advance_cursor` once every batch is done (a failed run keeps the old watermark and
//!    the next run reads the same documents again: every write above is idempotent).
//!
//! A full pass also reports, on the order, a transferred order none of whose documents is in
//! the ERP any more (deleted).

use super::import_orders::{open_connections, Connectors, Policies, UpdateConfig};
use crate::engine::{RunContext, RunError, StepError, Workflow, WorkflowFuture};
use crate::ports::{ChainQuery, Erp, OrderLink, Shop, UpdateLedger};
use chrono::NaiveDateTime;
use passerelle_domain::fields::{adapted, Field};
use passerelle_domain::orders::updates::{
    self, plan_update, ChainDocument, ChainProblem, UpdatePlan,
};
use passerelle_domain::ItemOutcome;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The cursor name of the status flow.
pub const STATUS_FLOW: &str = "update-order-statuses";
/// The cursor name of the invoice flow.
pub const INVOICE_FLOW: &str = "send-invoices";

/// How far before the watermark the scan starts again: a document committed a little after
/// its `sysModifiedDate` was stamped is still seen. Re-reading is harmless (writes are
/// set-to) but not free: every order touched in the margin has its chain read again, so the
/// margin stays short; a `full` pass catches anything later than that.
const WATERMARK_MARGIN_SECS: i64 = 5;

/// Input of an update run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateInput {
    /// Retry delay override in milliseconds (tests and the demo keep it short).
    #[serde(default)]
    pub retry_initial_ms: Option<u64>,
    /// Read every document chain, not only what changed since the last run.
    #[serde(default)]
    pub full: bool,
}

/// Which of the two flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Statuses,
    Invoices,
}

/// The workflow of `update-order-statuses`.
pub struct UpdateOrderStatuses {
    connectors: Arc<dyn Connectors>,
    ledger: Arc<dyn UpdateLedger>,
}

impl UpdateOrderStatuses {
    /// A workflow over these ports.
    pub fn new(connectors: Arc<dyn Connectors>, ledger: Arc<dyn UpdateLedger>) -> Self {
        Self { connectors, ledger }
    }
}

/// The workflow of `send-invoices`.
pub struct SendInvoices {
    connectors: Arc<dyn Connectors>,
    ledger: Arc<dyn UpdateLedger>,
}

impl SendInvoices {
    /// A workflow over these ports.
    pub fn new(connectors: Arc<dyn Connectors>, ledger: Arc<dyn UpdateLedger>) -> Self {
        Self { connectors, ledger }
    }
}

impl Workflow for UpdateOrderStatuses {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        run_flow(
            Flow::Statuses,
            self.connectors.clone(),
            self.ledger.clone(),
            ctx,
            input,
        )
    }
}

impl Workflow for SendInvoices {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        run_flow(
            Flow::Invoices,
            self.connectors.clone(),
            self.ledger.clone(),
            ctx,
            input,
        )
    }
}

/// The scan's result: documents by web order, and the largest modification date seen.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Scan {
    chains: BTreeMap<String, Vec<ChainDocument>>,
    watermark: Option<String>,
}

fn group(docs: Vec<ChainDocument>) -> Scan {
    let mut scan = Scan::default();
    for d in docs {
        if scan.watermark.as_ref().is_none_or(|w| d.modified > *w) {
            scan.watermark = Some(d.modified.clone());
        }
        scan.chains.entry(d.web_order.clone()).or_default().push(d);
    }
    scan
}

/// The watermark minus the margin, in the ERP's ISO format.
fn with_margin(watermark: &str) -> String {
    match NaiveDateTime::parse_from_str(watermark, "%Y-%m-%dT%H:%M:%S%.f") {
        Ok(t) => (t - chrono::Duration::seconds(WATERMARK_MARGIN_SECS))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string(),
        Err(_) => watermark.to_string(),
    }
}

struct Io {
    flow: Flow,
    ctx: RunContext,
    shop: Arc<dyn Shop>,
    erp: Arc<dyn Erp>,
    ledger: Arc<dyn UpdateLedger>,
    p: Policies,
    config: Arc<UpdateConfig>,
}

fn run_flow(
    flow: Flow,
    connectors: Arc<dyn Connectors>,
    ledger: Arc<dyn UpdateLedger>,
    ctx: RunContext,
    input: Value,
) -> WorkflowFuture {
    Box::pin(async move {
        let input: UpdateInput = serde_json::from_value(input)
            .map_err(|e| RunError::failed(format!("entrée invalide : {e}")))?;
        let p = Policies::with_initial(input.retry_initial_ms);
        let (account, profile) = (ctx.account_id().clone(), ctx.profile_id().clone());
        let config: UpdateConfig = ctx
            .step("load_config", &p.read, || {
                connectors.update_config(&account, &profile)
            })
            .await?;
        if flow == Flow::Statuses {
            for n in &config.platform_notes {
                ctx.note(n.clone()).await?;
            }
        }
        let s = &config.settings;
        if flow == Flow::Statuses
            && s.status_by_document.is_empty()
            && s.tracking_field.is_none()
            && !s.tracking_from_shop
            && !s.send_document_number
            && !s.send_delivery_date
        {
            return Err(RunError::failed(
                "rien à renvoyer à la boutique : aucun statut par type de document, ni suivi, ni numéro, ni date de livraison dans le profil (nothing to update)",
            ));
        }
        let (shop, erp) = open_connections(connectors.as_ref(), &account, &profile).await?;
        let io = Io {
            flow,
            ctx: ctx.clone(),
            shop,
            erp,
            ledger,
            p,
            config: Arc::new(config),
        };
        io.run(input.full).await
    })
}

impl Io {
    fn flow_name(&self) -> &'static str {
        match self.flow {
            Flow::Statuses => STATUS_FLOW,
            Flow::Invoices => INVOICE_FLOW,
        }
    }

    async fn run(&self, full_asked: bool) -> Result<(), RunError> {
        let (ledger, acc, prof, flow) = (
            self.ledger.clone(),
            self.ctx.account_id().clone(),
            self.ctx.profile_id().clone(),
            self.flow_name(),
        );
        let cursor: Option<String> = self
            .ctx
            .step("read_cursor", &self.p.read, || async move {
                ledger.cursor(&acc, &prof, flow).await
            })
            .await?;
        let mut full = full_asked || cursor.is_none();
        if let (false, Some(c)) = (full, cursor.as_deref()) {
            let erp = self.erp.clone();
            let since = with_margin(c);
            let deleted: u32 = self
                .ctx
                .step("erp_deletions", &self.p.read, || async move {
                    erp.deleted_documents_since(&since).await
                })
                .await?;
            if deleted > 0 {
                self.ctx
                    .note(format!(
                        "{deleted} document(s) supprimé(s) dans l'ERP depuis la dernière exécution : relecture complète"
                    ))
                    .await?;
                full = true;
            }
        }
        let since = if full {
            None
        } else {
            cursor.as_deref().map(with_margin)
        };
        let (erp, tracking_field) = (
            self.erp.clone(),
            self.config.settings.tracking_field.clone(),
        );
        let docs: Vec<ChainDocument> = self
            .ctx
            .step("erp_changes", &self.p.read, || async move {
                erp.document_chains(&ChainQuery {
                    web_orders: Vec::new(),
                    modified_since: since,
                    tracking_field,
                })
                .await
            })
            .await?;
        let scan = group(docs);
        self.ctx
            .note(if full {
                format!(
                    "lecture complète : {} commande(s) web dans l'ERP",
                    scan.chains.len()
                )
            } else {
                format!(
                    "{} commande(s) web modifiée(s) dans l'ERP depuis {}",
                    scan.chains.len(),
                    cursor.as_deref().unwrap_or("")
                )
            })
            .await?;

        let batch = self.config.batch_size.clamp(1, 100) as usize;
        let mut changed = 0usize;
        if full {
            // Every transferred order of the profile, page by page from the ledger.
            let mut after: Option<String> = None;
            loop {
                let (ledger, acc, prof, a) = (
                    self.ledger.clone(),
                    self.ctx.account_id().clone(),
                    self.ctx.profile_id().clone(),
                    after.clone(),
                );
                let page: Vec<OrderLink> = self
                    .ctx
                    .step("read_links", &self.p.read, || async move {
                        ledger
                            .links_page(&acc, &prof, a.as_deref(), batch as u32)
                            .await
                    })
                    .await?;
                let Some(last) = page.last().map(|l| l.order_id.clone()) else {
                    break;
                };
                let links: Vec<OrderLink> = page
                    .into_iter()
                    .filter(|l| !l.document_number.is_empty())
                    .collect();
                changed += self.process(links, &scan.chains).await?;
                after = Some(last);
            }
        } else {
            let touched: Vec<String> = scan.chains.keys().cloned().collect();
            for chunk in touched.chunks(batch) {
                let (ledger, acc, prof, ids) = (
                    self.ledger.clone(),
                    self.ctx.account_id().clone(),
                    self.ctx.profile_id().clone(),
                    chunk.to_vec(),
                );
                let links: Vec<OrderLink> = self
                    .ctx
                    .step("read_links", &self.p.read, || async move {
                        ledger.links(&acc, &prof, &ids).await
                    })
                    .await?;
                if links.is_empty() {
                    continue;
                }
                // The whole chains of these orders: the scan only has what changed.
                let (erp, q) = (
                    self.erp.clone(),
                    ChainQuery {
                        web_orders: links.iter().map(|l| l.order_id.clone()).collect(),
                        modified_since: None,
                        tracking_field: self.config.settings.tracking_field.clone(),
                    },
                );
                let docs: Vec<ChainDocument> = self
                    .ctx
                    .step("erp_chains", &self.p.read, || async move {
                        erp.document_chains(&q).await
                    })
                    .await?;
                let chains = group(docs).chains;
                changed += self.process(links, &chains).await?;
            }
        }

        if let Some(w) = scan.watermark {
            let (ledger, acc, prof, run, flow) = (
                self.ledger.clone(),
                self.ctx.account_id().clone(),
                self.ctx.profile_id().clone(),
                self.ctx.run_id(),
                self.flow_name(),
            );
            self.ctx
                .step("advance_cursor", &self.p.read, || async move {
                    ledger.advance_cursor(&acc, &prof, run, flow, &w).await
                })
                .await?;
        }
        let t = self.ctx.totals();
        let what = match self.flow {
            Flow::Statuses => "commande(s) mise(s) à jour",
            Flow::Invoices => "facture(s) envoyée(s)",
        };
        self.ctx
            .note(format!(
                "{changed} élément(s) à traiter : {} {what}, {} en échec, {} ignoré(s)",
                t.succeeded, t.failed, t.ignored
            ))
            .await?;
        Ok(())
    }

    /// Plans and sends one batch; returns how many items it made.
    async fn process(
        &self,
        links: Vec<OrderLink>,
        chains: &BTreeMap<String, Vec<ChainDocument>>,
    ) -> Result<usize, RunError> {
        match self.flow {
            Flow::Statuses => self.process_statuses(links, chains).await,
            Flow::Invoices => self.process_invoices(links, chains).await,
        }
    }

    async fn process_statuses(
        &self,
        links: Vec<OrderLink>,
        chains: &BTreeMap<String, Vec<ChainDocument>>,
    ) -> Result<usize, RunError> {
        let settings = &self.config.settings;
        let shop_tracking: BTreeMap<String, String> = if settings.tracking_from_shop {
            let (shop, ids) = (
                self.shop.clone(),
                links.iter().map(|l| l.order_id.clone()).collect::<Vec<_>>(),
            );
            self.ctx
                .step("shop_tracking", &self.p.shop, || async move {
                    shop.tracking_numbers(&ids).await
                })
                .await?
        } else {
            BTreeMap::new()
        };
        let empty = Vec::new();
        let mut work: Vec<(String, Result<UpdatePlan, ChainProblem>)> = Vec::new();
        for l in &links {
            let chain = chains.get(&l.order_id).unwrap_or(&empty);
            let plan = plan_update(
                settings,
                &l.sent,
                &l.document_number,
                chain,
                shop_tracking.get(&l.order_id).map(String::as_str),
            );
            match &plan {
                Ok(p) if p.is_empty() => {}
                _ => work.push((l.order_id.clone(), plan)),
            }
        }
        let n = work.len();
        if n == 0 {
            return Ok(0);
        }
        let config = self.config.clone();
        self.ctx
            .for_each_item(
                work,
                |(id, _)| (id.clone(), format!("commande {id}")),
                |ictx, _item, (id, plan)| {
                    let (shop, ledger, config, p) = (
                        self.shop.clone(),
                        self.ledger.clone(),
                        config.clone(),
                        self.p,
                    );
                    async move {
                        let plan = match plan {
                            Err(problem) => return Ok(ItemOutcome::Failed(problem.to_string())),
                            Ok(plan) => plan,
                        };
                        let warnings = send_update(&ictx, &shop, &config, &p, &id, &plan).await?;
                        let (acc, prof, run) = (
                            ictx.account_id().clone(),
                            ictx.profile_id().clone(),
                            ictx.run_id(),
                        );
                        let plan2 = plan.clone();
                        let id2 = id.clone();
                        ictx.step("record_update", &p.read, || async move {
                            ledger.record_update(&acc, &prof, run, &id2, &plan2).await
                        })
                        .await?;
                        let mut msg = format!("commande {id} : {}", plan.describe());
                        for w in warnings {
                            msg.push_str(&format!(" ; {w}"));
                        }
                        Ok(ItemOutcome::Succeeded(Some(msg)))
                    }
                },
            )
            .await?;
        Ok(n)
    }

    async fn process_invoices(
        &self,
        links: Vec<OrderLink>,
        chains: &BTreeMap<String, Vec<ChainDocument>>,
    ) -> Result<usize, RunError> {
        let mut work: Vec<(String, String)> = Vec::new();
        for l in &links {
            let Some(chain) = chains.get(&l.order_id) else {
                continue;
            };
            for inv in updates::invoices_to_send(&l.sent, chain) {
                work.push((l.order_id.clone(), inv.number.clone()));
            }
        }
        let n = work.len();
        if n == 0 {
            return Ok(0);
        }
        self.ctx
            .for_each_item(
                work,
                |(order, invoice)| {
                    (
                        format!("{order}/{invoice}"),
                        format!("facture {invoice} de la commande {order}"),
                    )
                },
                |ictx, _item, (order, invoice)| {
                    let (shop, erp, ledger, p) = (
                        self.shop.clone(),
                        self.erp.clone(),
                        self.ledger.clone(),
                        self.p,
                    );
                    async move {
                        // One step for fetch + attach: the PDF never goes into the journal,
                        // and a retried step finds its own earlier upload (idempotent).
                        let (o, i) = (order.clone(), invoice.clone());
                        let sent: SentPdf = ictx
                            .step("send_invoice_pdf", &p.erp, || async move {
                                let pdf = erp.invoice_pdf(&i).await?;
                                let place = shop.attach_invoice(&o, &i, &pdf).await?;
                                Ok::<_, StepError>(SentPdf {
                                    bytes: pdf.len() as u64,
                                    place,
                                })
                            })
                            .await?;
                        let (acc, prof, run) = (
                            ictx.account_id().clone(),
                            ictx.profile_id().clone(),
                            ictx.run_id(),
                        );
                        let (o, i, b) = (order.clone(), invoice.clone(), sent.bytes);
                        ictx.step("record_invoice", &p.read, || async move {
                            ledger.record_invoice(&acc, &prof, run, &o, &i, b).await
                        })
                        .await?;
                        Ok(ItemOutcome::Succeeded(Some(format!(
                            "facture {invoice} ({} octets) jointe à la commande {order} : {}",
                            sent.bytes, sent.place
                        ))))
                    }
                },
            )
            .await?;
        Ok(n)
    }
}

/// The journaled result of an attached PDF.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SentPdf {
    bytes: u64,
    place: String,
}

/// The shop writes of one order's update, each a step retried on its own. Tracking (and its
/// status) goes first so that a further document's status, set after, is the one that stays;
/// the delivery date goes last, after any status change (PrestaShop's delivery states set
/// the order's delivery date to the time of the change). Returns the warnings of values
/// adapted to the shop's field rules.
async fn send_update(
    ctx: &RunContext,
    shop: &Arc<dyn Shop>,
    config: &UpdateConfig,
    p: &Policies,
    order_id: &str,
    plan: &UpdatePlan,
) -> Result<Vec<String>, RunError> {
    let mut warnings = Vec::new();
    let notify = config.settings.notify_customer;
    if let Some((number, state)) = &plan.tracking {
        if !config.settings.tracking_from_shop {
            let shop = shop.clone();
            ctx.step("set_tracking", &p.shop, || async move {
                shop.set_tracking(order_id, number, notify).await
            })
            .await?;
        }
        if let Some(state) = state {
            let shop = shop.clone();
            ctx.step("set_tracking_state", &p.shop, || async move {
                shop.set_order_state(order_id, state, notify).await
            })
            .await?;
        }
    }
    if let Some((_, _, Some(state))) = &plan.stage {
        let shop = shop.clone();
        ctx.step("set_shop_state", &p.shop, || async move {
            shop.set_order_state(order_id, state, notify).await
        })
        .await?;
    }
    if let Some((number, replace)) = &plan.document_number {
        let s = shop.clone();
        ctx.step("send_document_number", &p.shop, || async move {
            s.set_order_document_number(order_id, number).await
        })
        .await?;
        if *replace {
            // A reference longer than the shop stores would be cut silently by the shop:
            // it is shortened here, and the item says so.
            let rules = shop.field_rules();
            let reference = match rules.check(Field::OrderReference, number) {
                Ok(()) => number.clone(),
                Err(v) => {
                    let max = rules.max_chars(Field::OrderReference).unwrap_or(usize::MAX);
                    let short: String = number.chars().take(max).collect();
                    warnings.push(adapted(
                        &v,
                        number,
                        &format!("référence « {short} » envoyée"),
                    ));
                    short
                }
            };
            let shop = shop.clone();
            let reference = &reference;
            ctx.step("replace_reference", &p.shop, || async move {
                shop.set_order_reference(order_id, reference).await
            })
            .await?;
        }
    }
    if let Some(date) = plan.delivery_date {
        let shop = shop.clone();
        ctx.step("send_delivery_date", &p.shop, || async move {
            shop.set_delivery_date(order_id, date).await
        })
        .await?;
    }
    Ok(warnings)
}
