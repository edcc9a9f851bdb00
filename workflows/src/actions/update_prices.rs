//! `update-prices` (FEATURES §2, §3.1 "Prices"): only the base price (excluding tax,
//! rounded half-up to the profile's precision) and the tax rule of existing shop products.
//! Never creates a product: one missing from the shop is ignored with a log line.
//!
//! Per ERP page (`Id`, price, VAT and dates columns only): `read_articles`, the reference
//! checks, `reserve_quota`, `write_prices` (looked up by reference, written only when
//! different, `batch_size` per call), `settle_quota`, the item outcomes.

use super::catalog::{next_offset, written_outcome, CatalogConnectors, Io};
use crate::engine::{RunContext, RunError, Workflow, WorkflowFuture};
use crate::ports::{ArticleRead, Quotas, Written};
use passerelle_domain::catalog::{check_references, round_price, ArticleError};
use passerelle_domain::{ItemOutcome, SyncAction};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The workflow.
pub struct UpdatePrices {
    connectors: Arc<dyn CatalogConnectors>,
    quotas: Arc<dyn Quotas>,
}

impl UpdatePrices {
    /// A workflow over these ports.
    pub fn new(connectors: Arc<dyn CatalogConnectors>, quotas: Arc<dyn Quotas>) -> Self {
        Self { connectors, quotas }
    }
}

impl Workflow for UpdatePrices {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        let quotas = self.quotas.clone();
        Box::pin(async move {
            let io = Io::open(&ctx, &connectors, quotas, input, SyncAction::UpdatePrices).await?;
            let s = &io.config.settings;
            let query = io.config.query(s.price_columns(), s.published_only);
            let sp = super::specific_prices::open(&io, &connectors).await?;
            let mut seen = BTreeSet::new();
            let (mut offset, mut page_no) = (0u32, 0u32);
            loop {
                page_no += 1;
                let page = io.read_page(&query, offset).await?;
                if page.articles.is_empty() {
                    break;
                }
                process_page(&io, page_no, page.articles, &mut seen, sp.as_ref()).await?;
                match next_offset(page.next_offset, offset) {
                    Some(n) => offset = n,
                    None => break,
                }
            }
            if let (Some(sp), Some(since)) = (&sp, io.config.since) {
                super::specific_prices::changed_since(&io, sp, since, &mut seen, page_no).await?;
            }
            io.summary("prix").await
        })
    }
}

/// Reference, price excl. tax, tax rule.
type PriceLine = (String, Decimal, Option<String>);

async fn process_page(
    io: &Io,
    page_no: u32,
    articles: Vec<ArticleRead>,
    seen: &mut BTreeSet<String>,
    sp: Option<&super::specific_prices::SpecificPorts>,
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
    let mut prices: Vec<(usize, PriceLine)> = Vec::new();
    for (j, a) in readable.into_iter().enumerate() {
        let i = positions[j];
        if let Some(e) = bad.get(&j) {
            outcome[i] = Some(ItemOutcome::Failed(e.to_string()));
            continue;
        }
        let price = match a.price_excl_tax {
            None => Err(ArticleError::NoPrice(a.reference.clone())),
            Some(p) if p < Decimal::ZERO => {
                Err(ArticleError::NegativePrice(a.reference.clone(), p))
            }
            Some(p) => Ok(round_price(p, s.price_precision)),
        };
        match price {
            Err(e) => outcome[i] = Some(ItemOutcome::Failed(e.to_string())),
            Ok(p) => {
                let tax = a
                    .vat_id
                    .as_ref()
                    .and_then(|v| s.vat.get(v))
                    .or(s.default_tax_rule.as_ref())
                    .cloned();
                prices.push((i, (a.reference, p, tax)));
            }
        }
    }
    let reserved = !prices.is_empty();
    let (granted, why) = io.reserve(page_no, prices.len()).await?;
    if granted < prices.len() {
        for (i, _) in prices.drain(granted..) {
            outcome[i] = Some(ItemOutcome::Ignored(why.clone()));
        }
    }
    let mut used = 0;
    if !prices.is_empty() {
        let (shop, batch) = (io.shop.clone(), io.config.batch());
        let list: Vec<(String, Decimal, Option<String>)> =
            prices.iter().map(|(_, p)| p.clone()).collect();
        let written: Vec<(String, Written)> = io
            .ctx
            .step("write_prices", &io.p.shop, || async move {
                shop.set_prices(&list, batch).await
            })
            .await?;
        let by_ref: HashMap<String, Written> = written.into_iter().collect();
        for (i, (r, p, _)) in &prices {
            let w = by_ref.get(r).cloned().unwrap_or(Written::Refused(
                "absent de la réponse (not in the answer)".into(),
            ));
            let (o, consumed) = written_outcome(
                &w,
                &format!("prix {r} = {p} HT"),
                "absent de la boutique : prix non envoyé (not in shop)",
            );
            used += usize::from(consumed);
            outcome[*i] = Some(o);
        }
    }
    if let Some(sp) = sp {
        super::specific_prices::apply(io, sp, &refs, &mut outcome).await?;
    }
    io.finish_page(page_no, reserved, used, refs, outcome).await
}
