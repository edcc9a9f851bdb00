//! `passerelle reconcile PROFILE --from D --to D [--json] [--requeue-missing]` and the
//! schedulable action `reconcile-orders` (issue 17.4): the shop's orders over a window
//! against the ERP's documents and our transfer ledger.
//!
//! The command is a run of the action, so a reconciliation is journaled, notified at its
//! end like any run (a finding is a failed item: the "after errors" notification fires), and
//! can be scheduled. The run has one read step, `reconcile`, whose journaled result is the
//! whole report (the evidence and the findings), then `requeue_missing` when asked, then one
//! item per finding. Reads:
//! * the shop through the platform seam (capability `orders`), 100 orders a page, over the
//!   profile's statuses and the statuses an order moves to afterwards (so an order that was
//!   shipped is not taken for one that vanished);
//! * the ERP through [`Erp::imported_documents`] — one call per 100 web orders — and one
//!   `EbpSysDeletedRecord` read only when a linked document is gone;
//! * our ledger (the `transferred_orders` projection).
//!
//! When the shop or the ERP cannot be reached (the demo's simulators have stopped, an
//! outage), the reconciliation falls back to what the imports recorded (orders read,
//! documents found or created) and says so: the source is `recorded`, and totals, deleted
//! documents and orders absent from the shop are then not checked.
//!
//! `--requeue-missing` resets, through the support reset (`TransferReset`, with the run as
//! correlation), the orders whose linked document is gone, so the next import writes them
//! again; it never deletes anything in the ERP. Orders never transferred need no reset: the
//! next import reads them anyway.

use crate::commands::{lang, t, usage};
use crate::connectors::DbConnectors;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, TimeZone, Utc};
use passerelle_adapters::store::{AggregateStore, Db, Origin, SqlRunStore};
use passerelle_domain::orders::reconcile::{
    self, ErpSide, Finding, FindingKind, LedgerSide, ReconcileInput, ShopSide,
};
use passerelle_domain::orders::DocumentKind;
use passerelle_domain::shop_order::{shop_order_id, ShopOrderCommand, ShopOrderState};
use passerelle_domain::{AccountId, Actor, ItemOutcome, ProfileId, RunEvent, RunId};
use passerelle_projections::orders::transferred_orders;
use passerelle_projections::Projector;
use passerelle_workflows::actions::import_orders::Connectors;
use passerelle_workflows::engine::{
    RetryPolicy, RunContext, RunError, StepError, Workflow, WorkflowFuture,
};
use passerelle_workflows::ports::{OrderQuery, ShopOrderRead};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Default allowed gap between the shop's amount paid and the ERP total: one cent.
pub const DEFAULT_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Window of a scheduled reconciliation without dates: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

/// The run's input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileRequest {
    /// First day (UTC, included); default: 30 days before `to`.
    #[serde(default)]
    pub from: Option<NaiveDate>,
    /// Last day (UTC, included); default: today.
    #[serde(default)]
    pub to: Option<NaiveDate>,
    /// Allowed total gap; default [`DEFAULT_TOLERANCE`].
    #[serde(default)]
    pub tolerance: Option<Decimal>,
    /// Reset the orders whose document is gone.
    #[serde(default)]
    pub requeue_missing: bool,
}

/// Where the evidence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The shop and the ERP, read now.
    Live,
    /// What the imports recorded (the shop or the ERP could not be reached).
    Recorded,
}

/// The journaled result of the `reconcile` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileReport {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Allowed total gap.
    pub tolerance: Decimal,
    /// Where the evidence came from.
    pub source: Source,
    /// Why the live source was not used, if so.
    pub source_note: Option<String>,
    /// Shop orders compared.
    pub shop_orders: usize,
    /// Ledger links compared.
    pub links: usize,
    /// ERP documents compared.
    pub erp_documents: usize,
    /// ERP calls made (reads; 0 from records).
    pub erp_calls: u32,
    /// The findings.
    pub findings: Vec<Finding>,
}

/// What a reconciliation reads with.
pub struct Sources {
    /// Database (ledger, recorded runs).
    pub db: Db,
    /// Run store (recorded step results).
    pub store: Arc<SqlRunStore>,
    /// The profile's connections.
    pub connectors: Arc<DbConnectors>,
}

fn window(req: &ReconcileRequest, now: DateTime<Utc>) -> Result<(NaiveDate, NaiveDate), StepError> {
    let to = req.to.unwrap_or_else(|| now.date_naive());
    let from = req
        .from
        .unwrap_or_else(|| to - ChronoDuration::days(DEFAULT_DAYS));
    if from > to {
        return Err(StepError::permanent(format!(
            "période invalide : du {from} au {to} (from after to)"
        )));
    }
    Ok((from, to))
}

fn start_of(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN))
}

fn in_window(at: DateTime<Utc>, from: NaiveDate, to: NaiveDate) -> bool {
    at >= start_of(from) && at < start_of(to + ChronoDuration::days(1))
}

fn shop_side(o: &ShopOrderRead) -> ShopSide {
    match o {
        ShopOrderRead::Ok(o) => ShopSide {
            id: o.id.clone(),
            reference: o.reference.clone(),
            state_id: Some(o.state_id.clone()),
            created_at: Some(o.created_at),
            total_tax_incl: Some(o.totals.paid_tax_incl),
            unreadable: None,
        },
        ShopOrderRead::Invalid { id, reason } => ShopSide {
            id: id.clone(),
            reference: id.clone(),
            state_id: None,
            created_at: None,
            total_tax_incl: None,
            unreadable: Some(reason.clone()),
        },
    }
}

fn kind_of(text: &str) -> DocumentKind {
    serde_json::from_value(Value::from(text)).unwrap_or(DocumentKind::Order)
}

/// Reads the evidence and compares (the `reconcile` step).
pub async fn gather(
    src: &Sources,
    acc: &AccountId,
    profile: &ProfileId,
    req: &ReconcileRequest,
    now: DateTime<Utc>,
) -> Result<ReconcileReport, StepError> {
    let (from, to) = window(req, now)?;
    let db_err = |e: &dyn std::fmt::Display| StepError::transient(format!("base : {e}"));
    let projector = Projector::new(src.db.clone(), passerelle_projections::all())
        .await
        .map_err(|e| db_err(&e))?;
    projector.catch_up().await.map_err(|e| db_err(&e))?;
    let config = src.connectors.import_config(acc, profile).await?;
    let selected: BTreeSet<String> = config
        .settings
        .statuses
        .iter()
        .map(|s| s.state_id.clone())
        .collect();
    let ledger: Vec<LedgerSide> = transferred_orders(&src.db, acc.as_str(), profile.as_str())
        .await
        .map_err(|e| db_err(&e))?
        .into_iter()
        .filter_map(|o| {
            Some(LedgerSide {
                document_number: o.document_number?,
                order_id: o.order_id,
                order_reference: o.order_reference,
                transferred_at: o.transferred_at,
            })
        })
        .collect();
    let tolerance = req.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    let live = live_evidence(
        src,
        acc,
        profile,
        &config.query,
        &selected,
        from,
        to,
        &ledger,
    )
    .await;
    let (source, note, shop, links, documents, erp_calls, deletions) = match live {
        Ok(l) => (
            Source::Live,
            None,
            l.shop,
            l.links,
            l.documents,
            l.erp_calls,
            l.deletions,
        ),
        Err(e) => {
            let (shop, links, documents) =
                recorded_evidence(src, acc, profile, from, to, &ledger).await?;
            (
                Source::Recorded,
                Some(format!(
                    "boutique ou ERP injoignable ({e}) : rapprochement sur les lectures et imports enregistrés ; totaux, documents supprimés et commandes absentes de la boutique non vérifiés"
                )),
                shop,
                links,
                documents,
                0,
                None,
            )
        }
    };
    let findings = reconcile::reconcile(&ReconcileInput {
        shop: &shop,
        selected_states: &selected,
        links: &links,
        documents: &documents,
        shop_is_complete: source == Source::Live,
        tolerance,
        deletions_recorded: deletions,
    });
    Ok(ReconcileReport {
        from,
        to,
        tolerance,
        source,
        source_note: note,
        shop_orders: shop.len(),
        links: links.len(),
        erp_documents: documents.len(),
        erp_calls,
        findings,
    })
}

struct Live {
    shop: Vec<ShopSide>,
    links: Vec<LedgerSide>,
    documents: Vec<ErpSide>,
    erp_calls: u32,
    deletions: Option<u32>,
}

#[allow(clippy::too_many_arguments)]
async fn live_evidence(
    src: &Sources,
    acc: &AccountId,
    profile: &ProfileId,
    query: &OrderQuery,
    selected: &BTreeSet<String>,
    from: NaiveDate,
    to: NaiveDate,
    ledger: &[LedgerSide],
) -> Result<Live, StepError> {
    let shop = src.connectors.shop(acc, profile).await?;
    let erp = src.connectors.erp(acc, profile).await?;
    // The selected statuses and those an imported order moves to afterwards.
    let mut states = selected.clone();
    for s in &src
        .connectors
        .import_config(acc, profile)
        .await?
        .settings
        .statuses
    {
        states.extend(s.set_shop_state.clone());
    }
    if let Ok(u) = src.connectors.update_config(acc, profile).await {
        states.extend(u.settings.status_by_document.values().cloned());
        states.extend(u.settings.tracking_state.clone());
    }
    let q = OrderQuery {
        states: states.into_iter().collect(),
        shops: query.shops.clone(),
        from: Some(start_of(from)),
        to: Some(start_of(to + ChronoDuration::days(1)) - ChronoDuration::seconds(1)),
        date_field: Default::default(),
    };
    let mut orders: BTreeMap<String, ShopSide> = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = shop.orders_page(&q, after.as_deref(), 100).await?;
        for o in &page.orders {
            orders.insert(o.id().to_string(), shop_side(o));
        }
        after = page.orders.last().map(|o| o.id().to_string());
        if !page.has_more || after.is_none() {
            break;
        }
    }
    // Links in scope: the window's orders, and those transferred during the window.
    let links: Vec<LedgerSide> = ledger
        .iter()
        .filter(|l| {
            orders.contains_key(&l.order_id)
                || DateTime::parse_from_rfc3339(&l.transferred_at)
                    .is_ok_and(|at| in_window(at.with_timezone(&Utc), from, to))
        })
        .cloned()
        .collect();
    let web_orders: Vec<String> = orders
        .keys()
        .cloned()
        .chain(links.iter().map(|l| l.order_id.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let documents = erp.imported_documents(&web_orders).await?;
    let mut erp_calls = web_orders.len().div_ceil(100) as u32;
    let numbers: BTreeSet<&str> = documents.iter().map(|d| d.number.as_str()).collect();
    let gone: Vec<&LedgerSide> = links
        .iter()
        .filter(|l| !numbers.contains(l.document_number.as_str()))
        .collect();
    let deletions = match gone.iter().map(|l| l.transferred_at.as_str()).min() {
        Some(earliest) => {
            let since = DateTime::parse_from_rfc3339(earliest)
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_else(|_| start_of(from));
            erp_calls += 1;
            Some(
                erp.deleted_documents_since(&since.format("%Y-%m-%dT%H:%M:%S").to_string())
                    .await?,
            )
        }
        None => None,
    };
    Ok(Live {
        shop: orders.into_values().collect(),
        links,
        documents,
        erp_calls,
        deletions,
    })
}

async fn recorded_evidence(
    src: &Sources,
    acc: &AccountId,
    profile: &ProfileId,
    from: NaiveDate,
    to: NaiveDate,
    ledger: &[LedgerSide],
) -> Result<(Vec<ShopSide>, Vec<LedgerSide>, Vec<ErpSide>), StepError> {
    let runs = crate::recorded::imports(&src.db, src.store.as_ref(), acc, profile)
        .await
        .map_err(|e| StepError::transient(format!("base : {e}")))?;
    // The last reading of each order (later runs read later states).
    let mut orders: BTreeMap<String, ShopSide> = BTreeMap::new();
    let mut documents: Vec<ErpSide> = Vec::new();
    for r in &runs {
        for o in &r.orders {
            let side = shop_side(o);
            if side.created_at.is_none_or(|at| in_window(at, from, to)) {
                orders.insert(side.id.clone(), side);
            }
        }
        documents.extend(r.documents.iter().map(|d| ErpSide {
            web_order: d.atoosync_order.clone(),
            number: d.number.clone(),
            kind: d.kind,
            total_tax_incl: None,
        }));
    }
    let links: Vec<LedgerSide> = ledger
        .iter()
        .filter(|l| orders.contains_key(&l.order_id))
        .cloned()
        .collect();
    // Our records hold the linked documents themselves (a repair may have linked one no
    // import created): a deletion cannot be seen from here, so none is claimed.
    let repo = transferred_orders(&src.db, acc.as_str(), profile.as_str())
        .await
        .map_err(|e| StepError::transient(format!("base : {e}")))?;
    let kinds: BTreeMap<String, String> = repo.into_iter().map(|o| (o.order_id, o.kind)).collect();
    documents.extend(links.iter().map(|l| {
        ErpSide {
            web_order: l.order_id.clone(),
            number: l.document_number.clone(),
            kind: kinds
                .get(&l.order_id)
                .map(|k| kind_of(k))
                .unwrap_or(DocumentKind::Order),
            total_tax_incl: None,
        }
    }));
    let mut seen = BTreeSet::new();
    documents.retain(|d| seen.insert((d.web_order.clone(), d.number.clone())));
    Ok((orders.into_values().collect(), links, documents))
}

/// Resets the orders whose linked document is gone (the support reset, recorded with the
/// run as correlation). Returns the orders reset.
pub async fn requeue(
    db: &Db,
    acc: &AccountId,
    profile: &ProfileId,
    actor: Actor,
    correlation: String,
    findings: &[Finding],
) -> Result<Vec<String>, StepError> {
    let ids: Vec<String> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::DeletedDocument)
        .map(|f| f.order_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let origin = Origin {
        actor,
        correlation,
        at: Utc::now(),
    };
    let cmds = ids
        .iter()
        .map(|o| {
            (
                shop_order_id(profile.as_str(), o),
                ShopOrderCommand::Reset {
                    reason: "rapprochement : document absent de l'ERP, réimport demandé (reconcile --requeue-missing)".into(),
                },
            )
        })
        .collect();
    let out = AggregateStore::new(db.clone())
        .execute_many::<ShopOrderState>(acc, cmds, &origin)
        .await
        .map_err(|e| StepError::transient(format!("{e}")))?;
    Ok(ids
        .into_iter()
        .zip(out)
        .filter(|(_, r)| r.as_ref().is_ok_and(|ev| !ev.is_empty()))
        .map(|(id, _)| id)
        .collect())
}

/// The `reconcile-orders` workflow.
pub struct ReconcileOrders {
    src: Arc<Sources>,
}

impl ReconcileOrders {
    /// The workflow over these sources.
    pub fn new(src: Sources) -> Self {
        Self { src: Arc::new(src) }
    }
}

impl Workflow for ReconcileOrders {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let src = self.src.clone();
        Box::pin(async move {
            let req: ReconcileRequest = serde_json::from_value(input)
                .map_err(|e| RunError::failed(format!("entrée invalide : {e}")))?;
            let (acc, prof) = (ctx.account_id().clone(), ctx.profile_id().clone());
            let report: ReconcileReport = ctx
                .step("reconcile", &RetryPolicy::READ, || {
                    gather(&src, &acc, &prof, &req, Utc::now())
                })
                .await?;
            if let Some(n) = &report.source_note {
                ctx.note(n.clone()).await?;
            }
            if req.requeue_missing {
                let run = ctx.run_id();
                let requeued: Vec<String> = ctx
                    .step("requeue_missing", &RetryPolicy::READ, || {
                        requeue(
                            &src.db,
                            &acc,
                            &prof,
                            Actor::Cli,
                            format!("reconcile:{run}"),
                            &report.findings,
                        )
                    })
                    .await?;
                ctx.note(format!(
                    "{} commande(s) réinitialisée(s) pour réimport : {}",
                    requeued.len(),
                    requeued.join(", ")
                ))
                .await?;
            }
            ctx.note(summary_fr(&report)).await?;
            ctx.for_each_item(
                report.findings.clone(),
                |f| {
                    (
                        format!("{}:{}", f.order_id, f.kind.as_str()),
                        format!("{} — {}", f.order_reference, f.kind.label_fr()),
                    )
                },
                |_ictx, _item, f| async move {
                    Ok(ItemOutcome::Failed(format!(
                        "{} : {}",
                        f.kind.label_fr(),
                        f.evidence
                    )))
                },
            )
            .await?;
            Ok(())
        })
    }
}

fn summary_fr(r: &ReconcileReport) -> String {
    format!(
        "rapprochement du {} au {} ({}) : {} commande(s) boutique, {} lien(s), {} document(s) ERP, {} appel(s) ERP — {} constat(s)",
        r.from,
        r.to,
        match r.source {
            Source::Live => "boutique et ERP lus en direct",
            Source::Recorded => "enregistrements",
        },
        r.shop_orders,
        r.links,
        r.erp_documents,
        r.erp_calls,
        r.findings.len()
    )
}

/// What a finished reconcile run recorded: its report and the orders it reset.
pub fn report_of(events: &[RunEvent]) -> Option<(ReconcileReport, Vec<String>)> {
    let mut report = None;
    let mut requeued = Vec::new();
    for e in events {
        if let RunEvent::StepCompleted { key, result, .. } = e {
            match key.name.as_str() {
                "reconcile" => report = serde_json::from_value(result.clone()).ok(),
                "requeue_missing" => {
                    requeued = serde_json::from_value(result.clone()).unwrap_or_default()
                }
                _ => {}
            }
        }
    }
    report.map(|r| (r, requeued))
}

/// Parses a day of the CLI (AAAA-MM-JJ), a usage error otherwise.
pub fn parse_day(text: &str, flag: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| usage(format!("{flag} attend une date AAAA-MM-JJ : « {text} »")))
}

/// Prints a report: French text, or the JSON contract
/// `{"profile", "run", "summary": {...}, "findings": [...], "requeued": [...]}`.
pub fn print(
    profile: &ProfileId,
    run: RunId,
    report: &ReconcileReport,
    requeued: &[String],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let out = serde_json::json!({
            "profile": profile.as_str(),
            "run": run.to_string(),
            "summary": {
                "from": report.from,
                "to": report.to,
                "source": report.source,
                "source_note": report.source_note,
                "tolerance": report.tolerance,
                "shop_orders": report.shop_orders,
                "links": report.links,
                "erp_documents": report.erp_documents,
                "erp_calls": report.erp_calls,
                "findings": report.findings.len(),
            },
            "findings": report.findings,
            "requeued": requeued,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} {} ({} {run})",
        t(
            "Rapprochement boutique / ERP du profil",
            "Shop / ERP reconciliation of profile"
        ),
        profile,
        t("tâche", "run")
    );
    println!("  {}", summary_fr(report));
    if let Some(n) = &report.source_note {
        println!("  {} {n}", t("Attention :", "Warning:"));
    }
    if report.findings.is_empty() {
        println!("  {}", t("Aucun écart.", "No difference."));
    }
    for f in &report.findings {
        let label = match lang() {
            passerelle_domain::Lang::Fr => f.kind.label_fr(),
            passerelle_domain::Lang::En => f.kind.as_str(),
        };
        println!(
            "  - {} {} ({}) : {label}{} — {}",
            t("commande", "order"),
            f.order_id,
            f.order_reference,
            if f.documents.is_empty() {
                String::new()
            } else {
                format!(" [{}]", f.documents.join(", "))
            },
            f.evidence
        );
    }
    if !requeued.is_empty() {
        println!(
            "  {} : {}",
            t(
                "Réinitialisées pour le prochain import",
                "Reset for the next import"
            ),
            requeued.join(", ")
        );
    }
    Ok(())
}

/// `passerelle reconcile`: a run of `reconcile-orders` executed now, then its report.
/// Exit 0 when the reconciliation ran (findings or not), 1 when it could not.
pub async fn cli(
    settings: &crate::settings::Settings,
    acc: &AccountId,
    profile: &str,
    (from, to): (&str, &str),
    tolerance: Option<&str>,
    requeue_missing: bool,
    json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let profile = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
    let (from, to) = (parse_day(from, "--from")?, parse_day(to, "--to")?);
    if from > to {
        return Err(usage(format!("période invalide : du {from} au {to}")));
    }
    let tolerance = match tolerance {
        Some(text) => Some(
            text.trim()
                .replace(',', ".")
                .parse::<Decimal>()
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| {
                    usage(format!(
                        "--tolerance attend un montant positif : « {text} »"
                    ))
                })?,
        ),
        None => None,
    };
    let app = crate::app::App::open(settings).await?;
    if crate::profiles::Profiles::new(app.db.clone())
        .get(acc, &profile)
        .await?
        .is_none()
    {
        return Err(usage(format!("profil inconnu : {profile}")));
    }
    let input = serde_json::to_value(ReconcileRequest {
        from: Some(from),
        to: Some(to),
        tolerance,
        requeue_missing,
    })?;
    let (run, _status) = crate::commands::run_quiet(
        &app,
        acc,
        profile.clone(),
        passerelle_domain::SyncAction::ReconcileOrders,
        input,
    )
    .await?;
    let events: Vec<RunEvent> =
        passerelle_workflows::engine::RunStore::load_run(app.store.as_ref(), acc, run)
            .await?
            .into_iter()
            .map(|e| e.event)
            .collect();
    match report_of(&events) {
        Some((report, requeued)) => {
            print(&profile, run, &report, &requeued, json)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        None => {
            let why = events
                .iter()
                .rev()
                .find_map(|e| match e {
                    RunEvent::RunFinished { message, .. } => Some(message.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            eprintln!(
                "{} ({} {run}) : {why}",
                t("Rapprochement impossible", "Reconciliation failed"),
                t("tâche", "run")
            );
            Ok(std::process::ExitCode::from(1))
        }
    }
}
