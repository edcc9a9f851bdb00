//! Specific prices of a page of articles (FEATURES §3.1 "Prices"), run by `update-prices`
//! and by `export-articles` (when the `specific_prices` update switch is on) once the
//! page's products are written:
//!
//! 1. `read_specific_prices` — the ERP's customer-group and customer-specific prices of the
//!    page's articles that the shop has (one journaled step);
//! 2. the pure rules of `domain::catalog::specific` (rounding, fixed vs percentage);
//! 3. `write_specific_prices` — per product, the shop's specific prices for the managed
//!    groups and customers become exactly the ERP's (looked up first, updated in place,
//!    deleted when gone): a step run twice writes nothing twice.
//!
//! The outcome of each article gets the counts and the warnings (a missing shop group or
//! customer ignores that price, never the article); a write refused by the shop fails it.
//! No extra quota: the article's export unit covers its prices.

use super::catalog::{CatalogConnectors, Io};
use crate::engine::RunError;
use crate::ports::{
    ErpSpecificPrices, ReferencesPage, SpecificPricesErp, SpecificPricesShop, SpecificPricesWritten,
};
use chrono::NaiveDateTime;
use passerelle_domain::catalog::specific::{shop_specific_prices, ShopSpecificPrice};
use passerelle_domain::ItemOutcome;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The specific price ports of a run.
pub(crate) struct SpecificPorts {
    erp: Arc<dyn SpecificPricesErp>,
    shop: Arc<dyn SpecificPricesShop>,
}

/// The ports when the profile sends specific prices (`None` otherwise, or when the
/// connectors have none: noted in the run's log, the run goes on without them).
pub(crate) async fn open(
    io: &Io,
    connectors: &Arc<dyn CatalogConnectors>,
) -> Result<Option<SpecificPorts>, RunError> {
    if !io.config.settings.specific_prices.any() {
        return Ok(None);
    }
    match connectors
        .specific_prices(io.ctx.account_id(), io.ctx.profile_id())
        .await
    {
        Ok((erp, shop)) => Ok(Some(SpecificPorts { erp, shop })),
        Err(e) => {
            io.ctx
                .note(format!("prix spécifiques non envoyés : {e}"))
                .await?;
            Ok(None)
        }
    }
}

/// Sends the specific prices of the page's articles whose product write succeeded, and
/// completes their outcomes.
pub(crate) async fn apply(
    io: &Io,
    sp: &SpecificPorts,
    refs: &[String],
    outcome: &mut [Option<ItemOutcome>],
) -> Result<(), RunError> {
    let done: Vec<(usize, String)> = refs
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(outcome.get(*i), Some(Some(ItemOutcome::Succeeded(_)))))
        .map(|(i, r)| (i, r.clone()))
        .collect();
    if done.is_empty() {
        return Ok(());
    }
    let settings = io.config.settings.specific_prices;
    let (erp, wanted_refs) = (sp.erp.clone(), done.iter().map(|d| d.1.clone()).collect());
    let read: ErpSpecificPrices = io
        .ctx
        .step("read_specific_prices", &io.p.read, || async move {
            let r: Vec<String> = wanted_refs;
            erp.specific_prices(&r, settings).await
        })
        .await?;

    // Pure rules, per article.
    let mut by_ref: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for p in read.prices {
        by_ref.entry(p.reference.clone()).or_default().push(p);
    }
    let mut notes: HashMap<String, Vec<String>> = HashMap::new();
    for (r, why) in read.invalid {
        notes.entry(r).or_default().push(why);
    }
    let precision = io.config.settings.price_precision;
    let wanted: Vec<(String, Vec<ShopSpecificPrice>)> = done
        .iter()
        .map(|(_, r)| {
            let lines = by_ref.remove(r).unwrap_or_default();
            let (prices, errors) = shop_specific_prices(&lines, precision);
            notes
                .entry(r.clone())
                .or_default()
                .extend(errors.iter().map(|e| format!("{e} : ignoré")));
            (r.clone(), prices)
        })
        .collect();

    let (shop, scope) = (sp.shop.clone(), read.scope);
    let written: Vec<SpecificPricesWritten> = io
        .ctx
        .step("write_specific_prices", &io.p.shop, || async move {
            shop.sync_specific_prices(&wanted, &scope).await
        })
        .await?;
    let written: HashMap<String, SpecificPricesWritten> = written
        .into_iter()
        .map(|w| (w.reference.clone(), w))
        .collect();
    for (i, r) in done {
        let mut extra = notes.remove(&r).unwrap_or_default();
        let Some(w) = written.get(&r) else {
            continue;
        };
        if w.missing {
            outcome[i] = Some(ItemOutcome::Ignored(
                "absent de la boutique : prix spécifiques non envoyés (not in shop)".into(),
            ));
            continue;
        }
        extra.extend(w.warnings.iter().cloned());
        let summary = format!(
            "prix spécifiques : {} créé(s), {} mis à jour, {} supprimé(s), {} inchangé(s)",
            w.created, w.updated, w.deleted, w.unchanged
        );
        let slot = &mut outcome[i];
        if let Some(why) = &w.refused {
            let base = match slot.take() {
                Some(ItemOutcome::Succeeded(Some(m))) => format!("{m} ; "),
                _ => String::new(),
            };
            *slot = Some(ItemOutcome::Failed(format!(
                "{base}{summary} ; refusé par la boutique : {why}"
            )));
            continue;
        }
        if let Some(ItemOutcome::Succeeded(msg)) = slot {
            let mut m = msg.take().unwrap_or_default();
            if !m.is_empty() {
                m.push_str(" ; ");
            }
            m.push_str(&summary);
            for x in extra {
                m.push_str(" ; ");
                m.push_str(&x);
            }
            *msg = Some(m);
        }
    }
    Ok(())
}

/// The incremental pass of `update-prices`: articles whose specific prices changed since
/// `since` but that the article pages did not carry (their article row did not change)
/// get their specific prices too, one journaled page of references at a time, each an item
/// with its export unit. `page_no` continues the run's page numbering (quota keys).
pub(crate) async fn changed_since(
    io: &Io,
    sp: &SpecificPorts,
    since: NaiveDateTime,
    seen: &mut BTreeSet<String>,
    mut page_no: u32,
) -> Result<(), RunError> {
    let mut offset = 0u32;
    loop {
        page_no += 1;
        let erp = sp.erp.clone();
        let page: ReferencesPage = io
            .ctx
            .step("read_changed_prices", &io.p.read, || async move {
                erp.prices_changed_since(since, offset).await
            })
            .await?;
        // Only references no article page of this run carried (`seen` is lower-case).
        let refs: Vec<String> = page
            .references
            .iter()
            .filter(|r| !r.trim().is_empty() && seen.insert(r.to_lowercase()))
            .cloned()
            .collect();
        if !refs.is_empty() {
            let (granted, why) = io.reserve(page_no, refs.len()).await?;
            let mut outcome: Vec<Option<ItemOutcome>> = (0..refs.len())
                .map(|i| {
                    Some(if i < granted {
                        ItemOutcome::Succeeded(Some(
                            "prix de base inchangé (base price unchanged)".into(),
                        ))
                    } else {
                        ItemOutcome::Ignored(why.clone())
                    })
                })
                .collect();
            apply(io, sp, &refs, &mut outcome).await?;
            let used = outcome
                .iter()
                .filter(|o| matches!(o, Some(ItemOutcome::Succeeded(_))))
                .count();
            io.finish_page(page_no, true, used, refs, outcome).await?;
        }
        match super::catalog::next_offset(page.next_offset, offset) {
            Some(n) => offset = n,
            None => return Ok(()),
        }
    }
}
