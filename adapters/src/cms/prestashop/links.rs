//! `LinksShop` for PrestaShop: cross-selling as the product's `associations/accessories`
//! and packs as `type` `pack` with `associations/product_bundle` (component `id`,
//! `id_product_attribute` 0, `quantity`) — product resource reference:
//! <https://devdocs.prestashop-project.org/8/webservice/resources/products/> (`type` is
//! writable: `simple`, `pack`, `virtual`; `accessories` and `product_bundle` are
//! associations of the product). A `PATCH` carrying an association replaces that whole
//! association (set-to); the others stay.
//!
//! Per call: the products (`display=full`, to compare) and every referenced product are
//! looked up by reference in batches; each product whose links differ gets one `PATCH`.

use super::{check_id, esc, PrestaShopCatalog};
use crate::cms::prestashop::model::{association_ids, text, Obj};
use async_trait::async_trait;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{LinksShop, LinksWritten, ProductLinks};
use reqwest::Method;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// Products per look-up call (the filter goes in the URL).
const LOOKUP_BATCH: usize = 50;

/// The product's pack contents: (component id, quantity), sorted.
fn bundle_of(p: &Obj) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = p
        .get("associations")
        .and_then(|a| a.get("product_bundle"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_object())
                .map(|i| (text(i, "id"), text(i, "quantity").parse().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

impl PrestaShopCatalog {
    /// Products among `references`, by lower-case reference, in batches.
    async fn products_batched(
        &self,
        references: &[&str],
        display: &str,
    ) -> Result<HashMap<String, Obj>, StepError> {
        let mut out = HashMap::new();
        for chunk in references.chunks(LOOKUP_BATCH) {
            let ok: Vec<&str> = chunk
                .iter()
                .copied()
                .filter(|r| !r.is_empty() && !r.contains(['|', '[', ']', ',', '%', '!']))
                .collect();
            if !ok.is_empty() {
                out.extend(self.products(&ok, display).await?);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl LinksShop for PrestaShopCatalog {
    async fn set_links(&self, wanted: &[ProductLinks]) -> Result<Vec<LinksWritten>, StepError> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let refs: Vec<&str> = wanted.iter().map(|w| w.reference.as_str()).collect();
        let current = self.products_batched(&refs, "full").await?;
        let mut targets: BTreeSet<&str> = BTreeSet::new();
        for w in wanted {
            for a in w.accessories.iter().flatten() {
                targets.insert(a);
            }
            for (c, _) in w.pack.iter().flatten() {
                targets.insert(c);
            }
        }
        let targets: Vec<&str> = targets.into_iter().collect();
        let found = self.products_batched(&targets, "[id,reference]").await?;
        let id_of = |r: &str| -> Option<String> {
            found
                .get(&r.to_lowercase())
                .map(|p| text(p, "id"))
                .filter(|id| check_id(id).is_ok())
        };

        let mut out = Vec::new();
        for w in wanted {
            let mut res = LinksWritten {
                reference: w.reference.clone(),
                ..LinksWritten::default()
            };
            let Some(p) = current.get(&w.reference.to_lowercase()) else {
                res.missing = true;
                out.push(res);
                continue;
            };
            let id = text(p, "id");
            check_id(&id)?;
            let mut assoc = String::new();
            let mut fields = String::new();
            if let Some(list) = &w.accessories {
                let mut ids = Vec::new();
                for a in list {
                    match id_of(a) {
                        Some(i) if i != id => ids.push(i),
                        Some(_) => {}
                        None => res.warnings.push(format!(
                            "article lié {a} absent de la boutique : lien ignoré (linked product missing)"
                        )),
                    }
                }
                let have: BTreeSet<String> =
                    association_ids(p, "accessories").into_iter().collect();
                let want: BTreeSet<String> = ids.iter().cloned().collect();
                res.accessories = Some(want.len());
                if have != want {
                    assoc.push_str("<accessories>");
                    for i in &ids {
                        assoc.push_str(&format!("<product><id>{}</id></product>", esc(i)));
                    }
                    assoc.push_str("</accessories>");
                }
            }
            if let Some(items) = &w.pack {
                let mut resolved = Vec::new();
                let mut absent = Vec::new();
                for (c, q) in items {
                    match id_of(c) {
                        Some(i) => resolved.push((i, *q)),
                        None => absent.push(c.clone()),
                    }
                }
                if !absent.is_empty() {
                    res.warnings.push(format!(
                        "composants absents de la boutique : {} — écrit comme produit simple (pack components missing: plain product)",
                        absent.join(", ")
                    ));
                    resolved.clear();
                }
                resolved.sort();
                let kind = if resolved.is_empty() {
                    "simple"
                } else {
                    "pack"
                };
                res.pack = Some(resolved.len());
                let current_kind = text(p, "type");
                let same_kind =
                    current_kind == kind || (kind == "simple" && current_kind.is_empty());
                if !same_kind || bundle_of(p) != resolved {
                    fields.push_str(&format!("<type>{kind}</type>"));
                    assoc.push_str("<product_bundle>");
                    for (i, q) in &resolved {
                        assoc.push_str(&format!(
                            "<product><id>{}</id><id_product_attribute>0</id_product_attribute><quantity>{q}</quantity></product>",
                            esc(i)
                        ));
                    }
                    assoc.push_str("</product_bundle>");
                }
            }
            if !assoc.is_empty() || !fields.is_empty() {
                let body = format!(
                    "<product><id>{id}</id>{fields}<associations>{assoc}</associations></product>"
                );
                match self
                    .send(Method::PATCH, "products", Some(&id), &[body])
                    .await
                {
                    Ok(_) => res.changed = true,
                    Err(StepError::Permanent(m)) => res.refused = Some(m),
                    Err(e) => return Err(e),
                }
            }
            out.push(res);
        }
        Ok(out)
    }
}
