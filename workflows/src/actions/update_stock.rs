//! `update-stock` (FEATURES §2, §3.1 "Stock"): only the available quantities of existing
//! shop products — the ERP stock summed over the profile's warehouses (none selected: no
//! stock update, said in the log), the stock kind, the default quantity of untracked
//! articles, negative stock sent as 0 unless allowed. Never creates a product.
//!
//! Full run: ERP article pages (`Id`, flags and dates only), each followed by one batched
//! `erp_stock` read. Incremental run (the profile's *since last transfer* option and a
//! known last transfer): the pages are the `StockItem` rows modified since then, so an
//! update of 1 % of a 50,000-article catalogue costs a handful of ERP calls instead of
//! ~1,000; the articles of each page are then read by reference (published and query
//! filters applied by the ERP).

use super::catalog::{next_offset, written_outcome, CatalogConnectors, Io};
use super::out_of_stock;
use crate::engine::{RunContext, RunError, Workflow, WorkflowFuture};
use crate::ports::{ArticleRead, Quotas, ReferencesPage, Written};
use passerelle_domain::catalog::{check_references, should_be_active, stock_quantity};
use passerelle_domain::{ItemOutcome, SyncAction};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The workflow.
pub struct UpdateStock {
    connectors: Arc<dyn CatalogConnectors>,
    quotas: Arc<dyn Quotas>,
}

impl UpdateStock {
    /// A workflow over these ports.
    pub fn new(connectors: Arc<dyn CatalogConnectors>, quotas: Arc<dyn Quotas>) -> Self {
        Self { connectors, quotas }
    }
}

impl Workflow for UpdateStock {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        let quotas = self.quotas.clone();
        Box::pin(async move {
            let io = Io::open(&ctx, &connectors, quotas, input, SyncAction::UpdateStock).await?;
            let s = &io.config.settings;
            if s.warehouses.is_empty() {
                return ctx
                    .note("aucun dépôt sélectionné dans le profil : pas de mise à jour du stock (no warehouse selected: no stock update)")
                    .await;
            }
            let mut seen = BTreeSet::new();
            let (mut offset, mut page_no) = (0u32, 0u32);
            let since = io.config.since;
            loop {
                page_no += 1;
                let (articles, next) = match since {
                    None => {
                        let q = io.config.query(s.stock_columns(), s.published_only);
                        let page = io.read_page(&q, offset).await?;
                        (page.articles, page.next_offset)
                    }
                    Some(since) => {
                        let (erp, wh) = (io.erp.clone(), s.warehouses.clone());
                        let page: ReferencesPage = ctx
                            .step("read_stock_changes", &io.p.read, || async move {
                                erp.stock_changed_since(since, &wh, offset).await
                            })
                            .await?;
                        let next = page.next_offset;
                        if page.references.is_empty() {
                            (Vec::new(), next)
                        } else {
                            let mut q = io.config.query(s.stock_columns(), s.published_only);
                            q.modified_since = None;
                            let (erp, refs) = (io.erp.clone(), page.references);
                            let got: Vec<ArticleRead> = ctx
                                .step("read_articles", &io.p.read, || async move {
                                    erp.articles_by_references(&refs, &q.columns)
                                        .await
                                        .map(|v| filter_published(v, q.published_only))
                                })
                                .await?;
                            (got, next)
                        }
                    }
                };
                if !articles.is_empty() {
                    process_page(&io, page_no, articles, &mut seen).await?;
                }
                match next_offset(next, offset) {
                    Some(n) => offset = n,
                    None => break,
                }
            }
            io.summary("stock(s)").await
        })
    }
}

/// The incremental path reads articles by reference: the published filter is applied here.
fn filter_published(v: Vec<ArticleRead>, published_only: bool) -> Vec<ArticleRead> {
    v.into_iter()
        .filter(|a| match a {
            ArticleRead::Ok(a) => !published_only || a.published,
            ArticleRead::Invalid { .. } => true,
        })
        .collect()
}

async fn process_page(
    io: &Io,
    page_no: u32,
    articles: Vec<ArticleRead>,
    seen: &mut BTreeSet<String>,
) -> Result<(), RunError> {
    let s = &io.config.settings;
    let refs: Vec<String> = articles.iter().map(|a| a.reference().to_string()).collect();
    let mut outcome: Vec<Option<ItemOutcome>> = vec![None; articles.len()];
    let (mut readable, mut positions) = (Vec::new(), Vec::new());
    for (i, a) in articles.into_iter().enumerate() {
        match a {
            ArticleRead::Ok(a) => {
                readable.push(*a);
                positions.push(i);
            }
            ArticleRead::Invalid { reason, .. } => outcome[i] = Some(ItemOutcome::Failed(reason)),
        }
    }
    let bad = check_references(&readable, seen);
    let good: Vec<(usize, passerelle_domain::catalog::ErpArticle)> = readable
        .into_iter()
        .enumerate()
        .filter_map(|(j, a)| match bad.get(&j) {
            Some(e) => {
                outcome[positions[j]] = Some(ItemOutcome::Failed(e.to_string()));
                None
            }
            None => Some((positions[j], a)),
        })
        .collect();
    let tracked: Vec<String> = good
        .iter()
        .filter(|(_, a)| a.stock_tracked)
        .map(|(_, a)| a.reference.clone())
        .collect();
    let levels: HashMap<String, Decimal> = if tracked.is_empty() {
        HashMap::new()
    } else {
        let (erp, wh, kind) = (io.erp.clone(), s.warehouses.clone(), s.stock_kind);
        let got: Vec<(String, Decimal)> = io
            .ctx
            .step("erp_stock", &io.p.read, || async move {
                erp.stock_of(&tracked, &wh, kind).await
            })
            .await?;
        got.into_iter().collect()
    };
    let mut lines: Vec<(usize, String, i64, Option<String>)> = Vec::new();
    let mut may_be_active: HashMap<String, bool> = HashMap::new();
    for (i, a) in good {
        let level = levels.get(&a.reference).copied().unwrap_or_default();
        may_be_active.insert(
            a.reference.clone(),
            should_be_active(a.published, a.active_state),
        );
        match stock_quantity(&a, level, s) {
            Ok(d) => lines.push((i, a.reference, d.quantity, d.note)),
            Err(e) => outcome[i] = Some(ItemOutcome::Failed(e.to_string())),
        }
    }
    let reserved = !lines.is_empty();
    let (granted, why) = io.reserve(page_no, lines.len()).await?;
    if granted < lines.len() {
        for (i, ..) in lines.drain(granted..) {
            outcome[i] = Some(ItemOutcome::Ignored(why.clone()));
        }
    }
    let mut used = 0;
    if !lines.is_empty() {
        let (shop, batch) = (io.shop.clone(), io.config.batch());
        let list: Vec<(String, i64)> = lines.iter().map(|(_, r, q, _)| (r.clone(), *q)).collect();
        let written: Vec<(String, Written)> = io
            .ctx
            .step("write_stock", &io.p.shop, || async move {
                shop.set_stock(&list, batch).await
            })
            .await?;
        let by_ref: HashMap<String, Written> = written.into_iter().collect();
        let states = lines
            .iter()
            .filter(|(_, r, ..)| {
                matches!(
                    by_ref.get(r),
                    Some(Written::Updated(_) | Written::Unchanged(_))
                )
            })
            .map(|(_, r, q, _)| out_of_stock::StockState {
                reference: r.clone(),
                quantity: *q,
                may_be_active: may_be_active.get(r).copied().unwrap_or(false),
            })
            .collect();
        let activation = out_of_stock::apply(io, states).await?;
        for (i, r, q, note) in &lines {
            let w = by_ref.get(r).cloned().unwrap_or(Written::Refused(
                "absent de la réponse (not in the answer)".into(),
            ));
            let label = match note {
                Some(n) => format!("stock {r} = {q} ({n})"),
                None => format!("stock {r} = {q}"),
            };
            let (mut o, consumed) = written_outcome(
                &w,
                &label,
                "absent de la boutique : stock non envoyé (not in shop)",
            );
            if let (ItemOutcome::Succeeded(Some(m)), Some(a)) = (&mut o, activation.get(r)) {
                m.push_str(&format!(" ; {a}"));
            }
            used += usize::from(consumed);
            outcome[*i] = Some(o);
        }
    }
    io.finish_page(page_no, reserved, used, refs, outcome).await
}
