//! Cross-selling and packs of a page of `export-articles` (FEATURES §3.1), once the page's
//! products are written:
//!
//! 1. `read_links` — the ERP's linked articles (when the profile's `cross_selling` is on)
//!    and bills of materials (when the `packs` update switch is on) of the page's written
//!    articles, in one journaled step;
//! 2. the pure rules of `domain::catalog::links` (each accessory once, whole pack
//!    quantities);
//! 3. `write_links` — per product, accessories and pack contents set to the ERP's (looked
//!    up first, written only when different): a step run twice writes nothing twice.
//!
//! A linked article or a component missing from the shop never fails the article: the link
//! is left out (or the pack written as a plain product) and its outcome says which.
//! Components on a later page of the same run are found by the next run.

use super::catalog::{CatalogConnectors, Io};
use crate::engine::RunError;
use crate::ports::{ErpLinks, LinksErp, LinksShop, LinksWritten, ProductLinks};
use passerelle_domain::catalog::links::{accessories, pack_items};
use passerelle_domain::ItemOutcome;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The link ports of a run, and what they send.
pub(crate) struct LinkPorts {
    erp: Arc<dyn LinksErp>,
    shop: Arc<dyn LinksShop>,
    cross_selling: bool,
    packs: bool,
}

/// The ports when the profile sends cross-selling or packs (`None` otherwise, or when the
/// connectors have none: noted in the run's log).
pub(crate) async fn open(
    io: &Io,
    connectors: &Arc<dyn CatalogConnectors>,
) -> Result<Option<LinkPorts>, RunError> {
    let s = &io.config.settings;
    let (cross_selling, packs) = (s.cross_selling, s.update.packs);
    if !cross_selling && !packs {
        return Ok(None);
    }
    match connectors
        .links(io.ctx.account_id(), io.ctx.profile_id())
        .await
    {
        Ok((erp, shop)) => Ok(Some(LinkPorts {
            erp,
            shop,
            cross_selling,
            packs,
        })),
        Err(e) => {
            io.ctx
                .note(format!("accessoires et packs non envoyés : {e}"))
                .await?;
            Ok(None)
        }
    }
}

/// Sets the links of the page's articles whose product write succeeded, and completes
/// their outcomes.
pub(crate) async fn apply(
    io: &Io,
    lp: &LinkPorts,
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
    let (erp, wanted_refs, cs, packs) = (
        lp.erp.clone(),
        done.iter().map(|d| d.1.clone()).collect::<Vec<_>>(),
        lp.cross_selling,
        lp.packs,
    );
    let read: ErpLinks = io
        .ctx
        .step("read_links", &io.p.read, || async move {
            erp.links(&wanted_refs, cs, packs).await
        })
        .await?;

    let mut linked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (a, b) in read.linked {
        linked.entry(a.to_lowercase()).or_default().push(b);
    }
    let mut boms: BTreeMap<String, Vec<(String, Decimal)>> = BTreeMap::new();
    for (p, c, q) in read.components {
        boms.entry(p.to_lowercase()).or_default().push((c, q));
    }
    let mut notes: HashMap<String, Vec<String>> = HashMap::new();
    let wanted: Vec<ProductLinks> = done
        .iter()
        .map(|(_, r)| {
            let key = r.to_lowercase();
            let acc = cs.then(|| accessories(r, linked.get(&key).map_or(&[][..], |v| v)));
            // Only articles with a bill of materials are packs; the others are not touched.
            let pack = match boms.get(&key) {
                Some(lines) if packs => match pack_items(r, lines) {
                    Ok(items) => Some(items),
                    Err(why) => {
                        notes
                            .entry(r.clone())
                            .or_default()
                            .push(format!("{why} : écrit comme produit simple"));
                        Some(Vec::new())
                    }
                },
                _ => None,
            };
            ProductLinks {
                reference: r.clone(),
                accessories: acc,
                pack,
            }
        })
        .filter(|p| p.accessories.is_some() || p.pack.is_some())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let shop = lp.shop.clone();
    let written: Vec<LinksWritten> = io
        .ctx
        .step("write_links", &io.p.shop, || async move {
            shop.set_links(&wanted).await
        })
        .await?;
    let written: HashMap<String, LinksWritten> = written
        .into_iter()
        .map(|w| (w.reference.clone(), w))
        .collect();
    for (i, r) in done {
        let Some(w) = written.get(&r) else { continue };
        if w.missing {
            continue;
        }
        let mut parts = Vec::new();
        if let Some(n) = w.accessories {
            parts.push(format!("{n} accessoire(s)"));
        }
        match w.pack {
            Some(0) => parts.push("produit simple (pas de pack)".to_string()),
            Some(n) => parts.push(format!("pack de {n} composant(s)")),
            None => {}
        }
        let mut text = format!(
            "liens : {}{}",
            parts.join(", "),
            if w.changed { "" } else { " (déjà à jour)" }
        );
        for x in notes
            .remove(&r)
            .unwrap_or_default()
            .iter()
            .chain(&w.warnings)
        {
            text.push_str(" ; ");
            text.push_str(x);
        }
        let slot = &mut outcome[i];
        if let Some(why) = &w.refused {
            let base = match slot.take() {
                Some(ItemOutcome::Succeeded(Some(m))) => format!("{m} ; "),
                _ => String::new(),
            };
            *slot = Some(ItemOutcome::Failed(format!(
                "{base}liens refusés par la boutique : {why}"
            )));
            continue;
        }
        if let Some(ItemOutcome::Succeeded(msg)) = slot {
            let mut m = msg.take().unwrap_or_default();
            if !m.is_empty() {
                m.push_str(" ; ");
            }
            m.push_str(&text);
            *msg = Some(m);
        }
    }
    Ok(())
}
