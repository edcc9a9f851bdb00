//! `activate-articles` (FEATURES §2): a shop product is active iff its ERP article is
//! published on the web AND neither asleep nor blocked — the three other combinations
//! deactivate it. Never creates nor deletes: articles missing from the shop are ignored
//! with a log line. Every article is read (the published filter would hide exactly the
//! products to deactivate); the incremental option reads only those modified since the
//! last run of this action.

use super::catalog::{next_offset, written_outcome, CatalogConnectors, Io};
use crate::engine::{RunContext, RunError, Workflow, WorkflowFuture};
use crate::ports::{ArticleRead, Quotas, Written};
use passerelle_domain::catalog::{check_references, should_be_active};
use passerelle_domain::{ItemOutcome, SyncAction};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The workflow.
pub struct ActivateArticles {
    connectors: Arc<dyn CatalogConnectors>,
    quotas: Arc<dyn Quotas>,
}

impl ActivateArticles {
    /// A workflow over these ports.
    pub fn new(connectors: Arc<dyn CatalogConnectors>, quotas: Arc<dyn Quotas>) -> Self {
        Self { connectors, quotas }
    }
}

impl Workflow for ActivateArticles {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        let quotas = self.quotas.clone();
        Box::pin(async move {
            let io = Io::open(
                &ctx,
                &connectors,
                quotas,
                input,
                SyncAction::ActivateArticles,
            )
            .await?;
            let query = io.config.query(io.config.settings.stock_columns(), false);
            let mut seen = BTreeSet::new();
            let (mut offset, mut page_no) = (0u32, 0u32);
            loop {
                page_no += 1;
                let page = io.read_page(&query, offset).await?;
                if page.articles.is_empty() {
                    break;
                }
                process_page(&io, page_no, page.articles, &mut seen).await?;
                match next_offset(page.next_offset, offset) {
                    Some(n) => offset = n,
                    None => break,
                }
            }
            io.summary("article(s)").await
        })
    }
}

async fn process_page(
    io: &Io,
    page_no: u32,
    articles: Vec<ArticleRead>,
    seen: &mut BTreeSet<String>,
) -> Result<(), RunError> {
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
    let mut states: Vec<(usize, String, bool)> = Vec::new();
    for (j, a) in readable.into_iter().enumerate() {
        match bad.get(&j) {
            Some(e) => outcome[positions[j]] = Some(ItemOutcome::Failed(e.to_string())),
            None => states.push((
                positions[j],
                a.reference,
                should_be_active(a.published, a.active_state),
            )),
        }
    }
    let reserved = !states.is_empty();
    let (granted, why) = io.reserve(page_no, states.len()).await?;
    if granted < states.len() {
        for (i, ..) in states.drain(granted..) {
            outcome[i] = Some(ItemOutcome::Ignored(why.clone()));
        }
    }
    let mut used = 0;
    if !states.is_empty() {
        let (shop, batch) = (io.shop.clone(), io.config.batch());
        let list: Vec<(String, bool)> = states.iter().map(|(_, r, a)| (r.clone(), *a)).collect();
        let written: Vec<(String, Written)> = io
            .ctx
            .step("write_active", &io.p.shop, || async move {
                shop.set_active(&list, batch).await
            })
            .await?;
        let by_ref: HashMap<String, Written> = written.into_iter().collect();
        for (i, r, active) in &states {
            let w = by_ref.get(r).cloned().unwrap_or(Written::Refused(
                "absent de la réponse (not in the answer)".into(),
            ));
            let label = if *active {
                format!("{r} actif (active)")
            } else {
                format!("{r} désactivé (inactive)")
            };
            let (o, consumed) = written_outcome(
                &w,
                &label,
                "absent de la boutique : ni créé ni supprimé (not in shop)",
            );
            used += usize::from(consumed);
            outcome[*i] = Some(o);
        }
    }
    io.finish_page(page_no, reserved, used, refs, outcome).await
}
