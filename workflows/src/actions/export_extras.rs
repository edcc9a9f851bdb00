//! The product fields of `export-articles` that name other shop objects (FEATURES §3.1):
//! supplementary categories (found by name or id, never created: the merchant names
//! categories of the shop) and the manufacturer (found by name, created when missing).
//! Resolved once per page, after the quota and before the products are written, so the
//! product write carries ids only.

use super::catalog::Io;
use crate::engine::RunError;
use passerelle_domain::catalog::{CategoryKey, ProductDraft};
use std::collections::{BTreeSet, HashMap};

/// Warnings per product reference (shown after its outcome message).
pub(crate) type Warnings = HashMap<String, Vec<String>>;

/// Resolves the supplementary categories and manufacturers of `drafts` in place: found
/// categories go to `extra_category_ids` (the default category is kept: it comes from the
/// path or the profile), the manufacturer id is set. What cannot be resolved is
/// left out of the write and reported per product.
pub(crate) async fn resolve_extras(
    io: &Io,
    drafts: &mut [&mut ProductDraft],
) -> Result<Warnings, RunError> {
    let mut warnings: Warnings = HashMap::new();
    let s = &io.config.settings;

    let entries: Vec<String> = drafts
        .iter()
        .flat_map(|d| d.extra_categories.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if let (Some(x), false) = (&s.extra_categories, entries.is_empty()) {
        let by_id = x.by == CategoryKey::Id;
        let shop = io.shop.clone();
        let found: Vec<(String, Option<String>)> = io
            .ctx
            .step("find_extra_categories", &io.p.read, || async move {
                shop.find_categories(&entries, by_id).await
            })
            .await?;
        let found: HashMap<String, Option<String>> = found.into_iter().collect();
        for d in drafts.iter_mut() {
            let mut missing = Vec::new();
            for e in std::mem::take(&mut d.extra_categories) {
                match found.get(&e).cloned().flatten() {
                    Some(id) => {
                        if !d.extra_category_ids.contains(&id) {
                            d.extra_category_ids.push(id);
                        }
                    }
                    None => missing.push(e),
                }
            }
            if !missing.is_empty() {
                warnings.entry(d.reference.clone()).or_default().push(format!(
                    "catégorie(s) supplémentaire(s) introuvable(s) dans la boutique : {} (extra categories not found)",
                    missing.join(", ")
                ));
            }
        }
    }

    let names: Vec<String> = drafts
        .iter()
        .filter_map(|d| d.manufacturer.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !names.is_empty() {
        let shop = io.shop.clone();
        let ids: Vec<(String, String)> = io
            .ctx
            .step("ensure_manufacturers", &io.p.shop, || async move {
                shop.ensure_manufacturers(&names).await
            })
            .await?;
        let ids: HashMap<String, String> = ids.into_iter().collect();
        for d in drafts.iter_mut() {
            let Some(name) = &d.manufacturer else {
                continue;
            };
            match ids.get(name) {
                Some(id) => d.manufacturer_id = Some(id.clone()),
                None => warnings.entry(d.reference.clone()).or_default().push(format!(
                    "marque « {name} » refusée par la boutique (caractères interdits ou trop longue) : non envoyée (manufacturer not sent)"
                )),
            }
        }
    }
    Ok(warnings)
}
