//! `export-articles` and `export-new-articles` (FEATURES §2, §3.1): ERP articles become
//! shop products — created or updated by reference, with their texts, price, tax rule,
//! weight, and stock when warehouses are set.
//!
//! Per ERP page (≤ 100 articles, only the mapped columns):
//!
//! 1. `read_articles` — the page (published-only, query filter and incremental date are
//!    applied by the ERP);
//! 2. the references are checked (empty, padded, unsearchable, duplicated: that item
//!    fails, the run goes on);
//! 3. `shop_existing` — which products exist (the update switches apply to those only);
//! 4. the pure rules of `domain::catalog` build each product; `erp_stock` reads the
//!    stock of the page in one batched query when warehouses are set;
//! 5. `reserve_quota` — products beyond the account's export units are ignored
//!    (*quota épuisé*) before anything is written;
//! 6. `write_products` then `write_stock` — idempotent (looked up by reference, absolute
//!    values), `batch_size` products per call;
//! 7. `settle_quota`, then the page's item outcomes.

use super::catalog::{next_offset, written_outcome, CatalogConnectors, Io};
use super::export_extras::resolve_extras;
use super::export_variants::HeldVariants;
use super::out_of_stock;
use crate::engine::{RunContext, RunError, Workflow, WorkflowFuture};
use crate::ports::{ArticleRead, Quotas, Written};
use passerelle_domain::catalog::{
    check_references, fit_product, product_fields, should_be_active, stock_quantity, ErpArticle,
    ProductDraft,
};
use passerelle_domain::{ItemOutcome, SyncAction};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The workflow (one type for both actions: "new articles" reads by creation date).
pub struct ExportArticles {
    connectors: Arc<dyn CatalogConnectors>,
    quotas: Arc<dyn Quotas>,
    only_new: bool,
}

impl ExportArticles {
    /// `export-articles`.
    pub fn new(connectors: Arc<dyn CatalogConnectors>, quotas: Arc<dyn Quotas>) -> Self {
        Self {
            connectors,
            quotas,
            only_new: false,
        }
    }

    /// `export-new-articles`: only articles created since the last transfer of this action.
    pub fn only_new(connectors: Arc<dyn CatalogConnectors>, quotas: Arc<dyn Quotas>) -> Self {
        Self {
            connectors,
            quotas,
            only_new: true,
        }
    }
}

impl Workflow for ExportArticles {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        let quotas = self.quotas.clone();
        let only_new = self.only_new;
        Box::pin(async move {
            let action = if only_new {
                SyncAction::ExportNewArticles
            } else {
                SyncAction::ExportArticles
            };
            let io = Io::open(&ctx, &connectors, quotas, input, action).await?;
            let s = &io.config.settings;
            let mut query = io.config.query(s.product_columns(), s.published_only);
            if only_new {
                query.created_since = query.modified_since.take();
            }
            let with_stock = !s.warehouses.is_empty() && s.update.quantity;
            if !with_stock {
                io.ctx
                    .note("aucun dépôt sélectionné : le stock n'est pas envoyé (no warehouse selected: no stock update)")
                    .await?;
            }
            let sp = if s.update.specific_prices {
                super::specific_prices::open(&io, &connectors).await?
            } else {
                None
            };
            let links = super::export_links::open(&io, &connectors).await?;
            let media = super::export_images::open(&io, &connectors).await?;
            let mut seen = BTreeSet::new();
            // Variants grouping: articles with a master reference are held back and written
            // as products with combinations after the last page (export_variants.rs).
            let mut held = HeldVariants::new(s.variants.as_ref());
            let (mut offset, mut page_no) = (0u32, 0u32);
            loop {
                page_no += 1;
                let page = io.read_page(&query, offset).await?;
                if page.articles.is_empty() {
                    break;
                }
                let articles = held.hold(page.articles);
                if !articles.is_empty() {
                    process_page(
                        &io,
                        page_no,
                        articles,
                        &mut seen,
                        with_stock,
                        (sp.as_ref(), links.as_ref()),
                        media.as_ref(),
                    )
                    .await?;
                }
                match next_offset(page.next_offset, offset) {
                    Some(n) => offset = n,
                    None => break,
                }
            }
            held.flush(&io, &query, page_no, &mut seen, with_stock)
                .await?;
            io.summary("article(s)").await
        })
    }
}

/// Is this warning of a draft a value adapted to the shop's rules (rather than a note)?
/// Every field left out or changed to fit the shop counts: the field-rules adaptations
/// and the EAN and dimensions the catalogue rules drop.
pub(crate) fn is_adaptation(warning: &str) -> bool {
    warning.starts_with(passerelle_domain::fields::ADAPTED) || warning.contains("non envoyé")
}

/// The quantity to send and its log note.
type Stock = (i64, Option<String>);

async fn process_page(
    io: &Io,
    page_no: u32,
    articles: Vec<ArticleRead>,
    seen: &mut BTreeSet<String>,
    with_stock: bool,
    (sp, links): (
        Option<&super::specific_prices::SpecificPorts>,
        Option<&super::export_links::LinkPorts>,
    ),
    media: Option<&crate::ports::MediaConnections>,
) -> Result<(), RunError> {
    let s = &io.config.settings;
    let batch = io.config.batch();
    let refs: Vec<String> = articles.iter().map(|a| a.reference().to_string()).collect();
    let mut outcome: Vec<Option<ItemOutcome>> = vec![None; articles.len()];
    let mut ok: Vec<(usize, ErpArticle)> = Vec::new();
    let mut readable: Vec<ErpArticle> = Vec::new();
    let mut positions: Vec<usize> = Vec::new();
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
    for (j, a) in readable.into_iter().enumerate() {
        match bad.get(&j) {
            Some(e) => outcome[positions[j]] = Some(ItemOutcome::Failed(e.to_string())),
            None => ok.push((positions[j], a)),
        }
    }

    // Which products exist: the update switches apply to them only.
    let wanted: Vec<String> = ok.iter().map(|(_, a)| a.reference.clone()).collect();
    let existing: HashMap<String, String> = if wanted.is_empty() {
        HashMap::new()
    } else {
        let (shop, w) = (io.shop.clone(), wanted.clone());
        let found: Vec<(String, String)> = io
            .ctx
            .step("shop_existing", &io.p.read, || async move {
                shop.existing(&w, batch).await
            })
            .await?;
        found
            .into_iter()
            .map(|(r, id)| (r.to_lowercase(), id))
            .collect()
    };

    // Stock of the page's tracked articles, in one batched read.
    let levels: BTreeMap<String, Decimal> = if with_stock && !wanted.is_empty() {
        let tracked: Vec<String> = ok
            .iter()
            .filter(|(_, a)| a.stock_tracked)
            .map(|(_, a)| a.reference.clone())
            .collect();
        if tracked.is_empty() {
            BTreeMap::new()
        } else {
            let (erp, wh, kind) = (io.erp.clone(), s.warehouses.clone(), s.stock_kind);
            let got: Vec<(String, Decimal)> = io
                .ctx
                .step("erp_stock", &io.p.read, || async move {
                    erp.stock_of(&tracked, &wh, kind).await
                })
                .await?;
            got.into_iter().collect()
        }
    } else {
        BTreeMap::new()
    };

    // Pure rules.
    let rules = io.shop.field_rules();
    let mut drafts: Vec<(usize, ProductDraft, Option<Stock>)> = Vec::new();
    for (i, a) in &ok {
        let exists = existing.contains_key(&a.reference.to_lowercase());
        if !exists && !s.create_products {
            outcome[*i] = Some(ItemOutcome::Ignored(
                "absent de la boutique et création désactivée (not in shop, creation off)".into(),
            ));
            continue;
        }
        let mut draft = match product_fields(a, s, exists) {
            Ok(d) => d,
            Err(e) => {
                outcome[*i] = Some(ItemOutcome::Failed(e.to_string()));
                continue;
            }
        };
        // The shop's field rules, before anything is written (issue 21): adapted values
        // leave a warning on the item, an unfixable one fails it here.
        if let Err(e) = fit_product(&mut draft, &rules) {
            outcome[*i] = Some(ItemOutcome::Failed(format!(
                "article {} : {e}",
                a.reference
            )));
            continue;
        }
        let stock = if with_stock {
            let level = levels.get(&a.reference).copied().unwrap_or_default();
            match stock_quantity(a, level, s) {
                Ok(d) => Some((d.quantity, d.note)),
                Err(e) => {
                    outcome[*i] = Some(ItemOutcome::Failed(e.to_string()));
                    continue;
                }
            }
        } else {
            None
        };
        drafts.push((*i, draft, stock));
    }

    // Quota before writing: beyond the grant, ignored.
    let reserved = !drafts.is_empty();
    let (granted, why) = io.reserve(page_no, drafts.len()).await?;
    if granted < drafts.len() {
        for (i, ..) in drafts.drain(granted..) {
            outcome[i] = Some(ItemOutcome::Ignored(why.clone()));
        }
    }
    // Categories of the written products, found or created once per page.
    let paths: Vec<Vec<String>> = drafts
        .iter()
        .map(|(_, d, _)| d.category_path.clone())
        .filter(|p| !p.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !paths.is_empty() {
        let root = s.default_category.clone().unwrap_or_else(|| "2".into());
        let (shop, create) = (io.shop.clone(), s.create_categories);
        let ids: Vec<(Vec<String>, Vec<String>)> = io
            .ctx
            .step("ensure_categories", &io.p.shop, || async move {
                shop.ensure_categories(&paths, &root, create).await
            })
            .await?;
        let by_path: HashMap<Vec<String>, Vec<String>> = ids.into_iter().collect();
        for (_, d, _) in drafts.iter_mut() {
            if let Some(c) = by_path.get(&d.category_path) {
                d.categories = c.clone();
            }
        }
    }
    // Supplementary categories and manufacturers, by name or id, once per page.
    let warnings = {
        let mut d: Vec<&mut ProductDraft> = drafts.iter_mut().map(|(_, d, _)| d).collect();
        resolve_extras(io, &mut d).await?
    };
    let mut used = 0usize;
    if !drafts.is_empty() {
        let (shop, d, create) = (
            io.shop.clone(),
            drafts.iter().map(|(_, d, _)| d.clone()).collect::<Vec<_>>(),
            s.create_products,
        );
        let written: Vec<(String, Written)> = io
            .ctx
            .step("write_products", &io.p.shop, || async move {
                shop.upsert_products(&d, create, batch).await
            })
            .await?;
        let by_ref: HashMap<&str, &Written> =
            written.iter().map(|(r, w)| (r.as_str(), w)).collect();
        let stock: Vec<(String, i64)> = drafts
            .iter()
            .filter(|(_, d, _)| {
                matches!(
                    by_ref.get(d.reference.as_str()),
                    Some(Written::Created(_) | Written::Updated(_) | Written::Unchanged(_))
                )
            })
            .filter_map(|(_, d, st)| st.as_ref().map(|(q, _)| (d.reference.clone(), *q)))
            .collect();
        let stock_written: HashMap<String, Written> = if stock.is_empty() {
            HashMap::new()
        } else {
            let shop = io.shop.clone();
            let w: Vec<(String, Written)> = io
                .ctx
                .step("write_stock", &io.p.shop, || async move {
                    shop.set_stock(&stock, batch).await
                })
                .await?;
            w.into_iter().collect()
        };
        let may_be_active: HashMap<&str, bool> = ok
            .iter()
            .map(|(_, a)| {
                (
                    a.reference.as_str(),
                    should_be_active(a.published, a.active_state),
                )
            })
            .collect();
        let states = drafts
            .iter()
            .filter(|(_, d, _)| {
                matches!(
                    stock_written.get(&d.reference),
                    Some(Written::Updated(_) | Written::Unchanged(_))
                )
            })
            .filter_map(|(_, d, st)| {
                st.as_ref().map(|(q, _)| out_of_stock::StockState {
                    reference: d.reference.clone(),
                    quantity: *q,
                    may_be_active: may_be_active
                        .get(d.reference.as_str())
                        .copied()
                        .unwrap_or(false),
                })
            })
            .collect();
        let activation = out_of_stock::apply(io, states).await?;
        let media_reports = match media {
            Some(m) => super::export_images::send_page(io, m, media_targets(&written)).await?,
            None => HashMap::new(),
        };
        for (i, d, st) in &drafts {
            let w = by_ref
                .get(d.reference.as_str())
                .copied()
                .cloned()
                .unwrap_or(Written::Refused(
                    "absent de la réponse (not in the answer)".into(),
                ));
            let (mut o, consumed) = written_outcome(
                &w,
                &format!("article {}", d.reference),
                "absent de la boutique (not in shop)",
            );
            if consumed {
                used += 1;
            }
            let notes: Vec<&String> = d
                .warnings
                .iter()
                .chain(warnings.get(&d.reference).into_iter().flatten())
                .collect();
            if matches!(o, ItemOutcome::Succeeded(_)) && d.warnings.iter().any(|w| is_adaptation(w))
            {
                io.adapted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            if let (ItemOutcome::Succeeded(Some(msg)), false) = (&mut o, notes.is_empty()) {
                for n in notes {
                    msg.push_str(&format!(" ; {n}"));
                }
            }
            if let (ItemOutcome::Succeeded(Some(msg)), Some((q, note))) = (&mut o, st) {
                match stock_written.get(&d.reference) {
                    Some(Written::Refused(r)) => {
                        o = ItemOutcome::Failed(format!("{msg} ; stock refusé : {r}"));
                    }
                    Some(_) => {
                        msg.push_str(&format!(" ; stock {q}"));
                        if let Some(n) = note {
                            msg.push_str(&format!(" ({n})"));
                        }
                        if let Some(a) = activation.get(&d.reference) {
                            msg.push_str(&format!(" ; {a}"));
                        }
                    }
                    None => {}
                }
            }
            super::export_images::merge(&mut o, media_reports.get(&d.reference));
            outcome[*i] = Some(o);
        }
    }
    if let Some(sp) = sp {
        super::specific_prices::apply(io, sp, &refs, &mut outcome).await?;
    }
    if let Some(lp) = links {
        super::export_links::apply(io, lp, &refs, &mut outcome).await?;
    }
    io.finish_page(page_no, reserved, used, refs, outcome).await
}

/// The written products whose media are sent.
fn media_targets(written: &[(String, Written)]) -> Vec<super::export_images::MediaTarget> {
    written
        .iter()
        .filter_map(|(r, w)| match w {
            Written::Created(id) => Some((r, id, true)),
            Written::Updated(id) | Written::Unchanged(id) => Some((r, id, false)),
            _ => None,
        })
        .map(|(r, id, created)| super::export_images::MediaTarget {
            reference: r.clone(),
            product_id: id.clone(),
            created,
        })
        .collect()
}
