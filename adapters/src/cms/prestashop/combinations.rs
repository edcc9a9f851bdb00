//! Products with combinations on PrestaShop (variants grouping, FEATURES §3.1), for
//! [`PrestaShopCatalog`]'s `CatalogShop::upsert_variant_products`.
//!
//! Per product, every write looked up first so that a re-run creates nothing twice:
//!
//! 1. the product itself, by reference, exactly as a plain product (`upsert_batch`);
//! 2. the attribute groups (`GET /api/product_options?display=[id,name]`, compared by name
//!    whatever the case; a missing one is created with `POST /api/product_options`:
//!    `group_type` select, `name` and `public_name` in every language);
//! 3. their values (`GET /api/product_option_values?filter[id_attribute_group]=[N]`, by
//!    name; missing ones created in one `POST`);
//! 4. the combinations, found by reference (`GET /api/combinations?filter[reference]=[A|B]`),
//!    patched when their price impact, default flag, minimal quantity or values differ,
//!    created otherwise (`id_product`, `reference`, `price` = impact, `minimal_quantity` 1,
//!    `default_on`, `associations/product_option_values`); the default is written last so
//!    it ends up the product's only one;
//! 5. the quantity of each combination on its `stock_availables` row
//!    (`filter[id_product]`, matched on `id_product_attribute`).
//!
//! Sources: <https://devdocs.prestashop-project.org/8/webservice/resources/product_options/>,
//! <https://devdocs.prestashop-project.org/8/webservice/resources/product_option_values/>,
//! <https://devdocs.prestashop-project.org/8/webservice/resources/combinations/>,
//! <https://devdocs.prestashop-project.org/8/webservice/resources/stock_availables/>.
//!
//! A group the shop refuses (4xx) is reported on that product only; the others go on.
//! Attribute lists are read once per call: a shop has a few dozen attribute groups.

use super::{check_id, or_filter, PrestaShopCatalog};
use crate::cms::prestashop::model::{association_ids, text, Obj};
use passerelle_domain::catalog::ProductDraft;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    CatalogShop, CombinationLine, VariantProduct, VariantWritten, Written,
};
use reqwest::Method;
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

fn esc(v: &str) -> String {
    quick_xml::escape::escape(v).to_string()
}

/// PrestaShop prices carry 6 decimals.
fn d6(d: Decimal) -> String {
    format!("{:.6}", d.round_dp(6))
}

/// Attribute groups and values known during one call: lower-case group name → (id, lower-case
/// value name → id).
#[derive(Default)]
struct Attributes {
    loaded: bool,
    groups: HashMap<String, (String, Option<HashMap<String, String>>)>,
}

impl PrestaShopCatalog {
    /// Writes products with their combinations (see the module doc).
    pub(super) async fn upsert_variants(
        &self,
        products: &[VariantProduct],
        create: bool,
    ) -> Result<Vec<(String, VariantWritten)>, StepError> {
        // The products themselves in one batch, like plain products (a refused batch is
        // retried product by product so the refusal lands on its own group).
        let drafts: Vec<ProductDraft> = products.iter().map(|p| p.product.clone()).collect();
        let written: HashMap<String, Written> = self
            .upsert_products(&drafts, create, drafts.len().max(1))
            .await?
            .into_iter()
            .map(|(r, w)| (r.to_lowercase(), w))
            .collect();
        let mut attrs = Attributes::default();
        let mut out = Vec::new();
        for p in products {
            let r = p.product.reference.clone();
            let w = written
                .get(&r.to_lowercase())
                .cloned()
                .unwrap_or(Written::Refused(
                    "absent de la réponse (not in the answer)".into(),
                ));
            match self.one_variant_product(p, w, &mut attrs).await {
                Ok(w) => out.push((r, w)),
                Err(StepError::Permanent(why)) => out.push((
                    r,
                    VariantWritten {
                        product: Written::Refused(why),
                        combinations: Vec::new(),
                        stock: Vec::new(),
                    },
                )),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The combinations and their stock of one product already written (`written`).
    async fn one_variant_product(
        &self,
        p: &VariantProduct,
        written: Written,
        attrs: &mut Attributes,
    ) -> Result<VariantWritten, StepError> {
        let pid = match &written {
            Written::Created(id) | Written::Updated(id) | Written::Unchanged(id) => id.clone(),
            Written::Missing | Written::Refused(_) => {
                return Ok(VariantWritten {
                    product: written,
                    combinations: Vec::new(),
                    stock: Vec::new(),
                })
            }
        };
        check_id(&pid)?;
        // Option value ids of each combination.
        let mut value_ids: Vec<Vec<String>> = Vec::new();
        for c in &p.combinations {
            let mut ids = Vec::new();
            for (group, value) in &c.attributes {
                ids.push(self.value_id(attrs, group, value).await?);
            }
            value_ids.push(ids);
        }
        let combinations = self.write_combinations(&pid, p, &value_ids).await?;
        let stock = self.write_combination_stock(&pid, p, &combinations).await?;
        Ok(VariantWritten {
            product: written,
            combinations,
            stock,
        })
    }

    /// Multilingual element: the same text in every profile language.
    fn langs(&self, v: &str) -> String {
        self.languages
            .iter()
            .map(|l| format!("<language id=\"{}\">{}</language>", esc(l), esc(v)))
            .collect()
    }

    /// Reads the shop's attribute groups (keeping the values already read).
    async fn load_groups(&self, attrs: &mut Attributes) -> Result<(), StepError> {
        let rows = self
            .client
            .list("product_options", &[("display".into(), "[id,name]".into())])
            .await?;
        for r in rows {
            let id = text(&r, "id");
            check_id(&id)?;
            attrs
                .groups
                .entry(text(&r, "name").to_lowercase())
                .or_insert((id, None));
        }
        attrs.loaded = true;
        Ok(())
    }

    /// The id of attribute group `group`, created when missing.
    async fn group_id(&self, attrs: &mut Attributes, group: &str) -> Result<String, StepError> {
        let key = group.to_lowercase();
        if !attrs.loaded {
            self.load_groups(attrs).await?;
        }
        if !attrs.groups.contains_key(&key) {
            let x = format!(
                "<product_option><is_color_group>0</is_color_group><group_type>select</group_type><name>{}</name><public_name>{}</public_name></product_option>",
                self.langs(group),
                self.langs(group)
            );
            self.send(Method::POST, "product_options", None, &[x])
                .await?;
            self.load_groups(attrs).await?;
        }
        attrs
            .groups
            .get(&key)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                StepError::permanent(format!(
                    "attribut « {group} » introuvable après création (attribute group not found)"
                ))
            })
    }

    /// The id of value `value` of attribute group `group`, both created when missing.
    async fn value_id(
        &self,
        attrs: &mut Attributes,
        group: &str,
        value: &str,
    ) -> Result<String, StepError> {
        let gid = self.group_id(attrs, group).await?;
        let gkey = group.to_lowercase();
        let vkey = value.to_lowercase();
        let known = |attrs: &Attributes| -> Option<Option<String>> {
            attrs
                .groups
                .get(&gkey)
                .and_then(|(_, v)| v.as_ref())
                .map(|v| v.get(&vkey).cloned())
        };
        if known(attrs).is_none() {
            self.load_values(attrs, &gkey, &gid).await?;
        }
        if let Some(Some(id)) = known(attrs) {
            return Ok(id);
        }
        let x = format!(
            "<product_option_value><id_attribute_group>{}</id_attribute_group><name>{}</name></product_option_value>",
            esc(&gid),
            self.langs(value)
        );
        self.send(Method::POST, "product_option_values", None, &[x])
            .await?;
        self.load_values(attrs, &gkey, &gid).await?;
        match known(attrs) {
            Some(Some(id)) => Ok(id),
            _ => Err(StepError::permanent(format!(
                "valeur « {value} » de l'attribut « {group} » introuvable après création (attribute value not found)"
            ))),
        }
    }

    /// Reads the values of attribute group `gid`.
    async fn load_values(
        &self,
        attrs: &mut Attributes,
        gkey: &str,
        gid: &str,
    ) -> Result<(), StepError> {
        let rows = self
            .client
            .list(
                "product_option_values",
                &[
                    ("filter[id_attribute_group]".into(), format!("[{gid}]")),
                    ("display".into(), "[id,id_attribute_group,name]".into()),
                ],
            )
            .await?;
        let mut values = HashMap::new();
        for r in rows {
            let id = text(&r, "id");
            check_id(&id)?;
            values.entry(text(&r, "name").to_lowercase()).or_insert(id);
        }
        if let Some(g) = attrs.groups.get_mut(gkey) {
            g.1 = Some(values);
        }
        Ok(())
    }

    fn combination_xml(
        &self,
        id: Option<&str>,
        pid: &str,
        c: &CombinationLine,
        values: &[String],
        with_price: bool,
    ) -> String {
        let mut s = String::from("<combination>");
        if let Some(id) = id {
            s.push_str(&format!("<id>{}</id>", esc(id)));
        }
        s.push_str(&format!(
            "<id_product>{}</id_product><reference>{}</reference>",
            esc(pid),
            esc(&c.reference)
        ));
        if with_price {
            s.push_str(&format!("<price>{}</price>", d6(c.price_impact)));
        }
        s.push_str(&format!(
            "<minimal_quantity>1</minimal_quantity><default_on>{}</default_on><associations><product_option_values>",
            u8::from(c.default)
        ));
        for v in values {
            s.push_str(&format!(
                "<product_option_value><id>{}</id></product_option_value>",
                esc(v)
            ));
        }
        s.push_str("</product_option_values></associations></combination>");
        s
    }

    /// Combinations of `pid` among these references, by lower-case reference.
    async fn combinations_by_reference(
        &self,
        refs: &[String],
    ) -> Result<HashMap<String, Obj>, StepError> {
        let rows = self
            .client
            .list(
                "combinations",
                &[
                    ("filter[reference]".into(), or_filter(&mut refs.iter())),
                    ("display".into(), "full".into()),
                ],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (text(&r, "reference").to_lowercase(), r))
            .collect())
    }

    async fn write_combinations(
        &self,
        pid: &str,
        p: &VariantProduct,
        value_ids: &[Vec<String>],
    ) -> Result<Vec<(String, Written)>, StepError> {
        let refs: Vec<String> = p.combinations.iter().map(|c| c.reference.clone()).collect();
        let current = self.combinations_by_reference(&refs).await?;
        let mut out = Vec::new();
        let mut patch: Vec<(bool, String, String, String)> = Vec::new();
        let mut post: Vec<(bool, String, String)> = Vec::new();
        for (c, values) in p.combinations.iter().zip(value_ids) {
            match current.get(&c.reference.to_lowercase()) {
                Some(row) => {
                    let cid = text(row, "id");
                    check_id(&cid)?;
                    let owner = text(row, "id_product");
                    if owner != pid {
                        out.push((
                            c.reference.clone(),
                            Written::Refused(format!(
                                "référence déjà utilisée par une déclinaison du produit {owner} (reference used by another product)"
                            )),
                        ));
                        continue;
                    }
                    let have: BTreeSet<String> = association_ids(row, "product_option_values")
                        .into_iter()
                        .collect();
                    let want: BTreeSet<String> = values.iter().cloned().collect();
                    let same = (!p.update_prices
                        || Decimal::from_str(text(row, "price").trim())
                            .is_ok_and(|x| x == c.price_impact.round_dp(6)))
                        && (text(row, "default_on") == "1") == c.default
                        && !text(row, "minimal_quantity").trim().is_empty()
                        && have == want;
                    if same {
                        out.push((c.reference.clone(), Written::Unchanged(cid)));
                    } else {
                        let x = self.combination_xml(Some(&cid), pid, c, values, p.update_prices);
                        patch.push((c.default, c.reference.clone(), cid, x));
                    }
                }
                None => post.push((
                    c.default,
                    c.reference.clone(),
                    self.combination_xml(None, pid, c, values, true),
                )),
            }
        }
        // The default last: saving it resets the product's other defaults.
        patch.sort_by_key(|x| x.0);
        post.sort_by_key(|x| x.0);
        if !patch.is_empty() {
            let single = (patch.len() == 1).then(|| patch[0].2.as_str());
            let xml: Vec<String> = patch.iter().map(|x| x.3.clone()).collect();
            self.send(Method::PATCH, "combinations", single, &xml)
                .await?;
            out.extend(
                patch
                    .into_iter()
                    .map(|(_, r, id, _)| (r, Written::Updated(id))),
            );
        }
        if !post.is_empty() {
            let xml: Vec<String> = post.iter().map(|x| x.2.clone()).collect();
            self.send(Method::POST, "combinations", None, &xml).await?;
            // Read the new ids back by reference (also proves they were saved).
            let refs: Vec<String> = post.iter().map(|x| x.1.clone()).collect();
            let created = self.combinations_by_reference(&refs).await?;
            for (_, r, _) in post {
                let w = match created.get(&r.to_lowercase()) {
                    Some(c) => Written::Created(text(c, "id")),
                    None => Written::Refused("déclinaison absente après création".into()),
                };
                out.push((r, w));
            }
        }
        Ok(out)
    }

    async fn write_combination_stock(
        &self,
        pid: &str,
        p: &VariantProduct,
        combinations: &[(String, Written)],
    ) -> Result<Vec<(String, Written)>, StepError> {
        let ids: HashMap<&str, &str> = combinations
            .iter()
            .filter_map(|(r, w)| match w {
                Written::Created(id) | Written::Updated(id) | Written::Unchanged(id) => {
                    Some((r.as_str(), id.as_str()))
                }
                _ => None,
            })
            .collect();
        let wanted: Vec<(&str, &str, i64)> = p
            .combinations
            .iter()
            .filter_map(|c| {
                let q = c.quantity?;
                ids.get(c.reference.as_str())
                    .map(|id| (c.reference.as_str(), *id, q))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .list(
                "stock_availables",
                &[
                    ("filter[id_product]".into(), format!("[{pid}]")),
                    (
                        "display".into(),
                        "[id,id_product,id_product_attribute,quantity]".into(),
                    ),
                ],
            )
            .await?;
        let by_attr: HashMap<String, &Obj> = rows
            .iter()
            .map(|r| (text(r, "id_product_attribute"), r))
            .collect();
        let mut out = Vec::new();
        let mut xml = Vec::new();
        let mut changed = Vec::new();
        for (r, cid, q) in wanted {
            let Some(row) = by_attr.get(cid) else {
                out.push((
                    r.to_string(),
                    Written::Refused(format!(
                        "pas de ligne stock_availables pour la déclinaison {cid}"
                    )),
                ));
                continue;
            };
            let sid = text(row, "id");
            check_id(&sid)?;
            if text(row, "quantity").trim() == q.to_string() {
                out.push((r.to_string(), Written::Unchanged(cid.to_string())));
            } else {
                xml.push(format!(
                    "<stock_available><id>{sid}</id><quantity>{q}</quantity></stock_available>"
                ));
                changed.push((r.to_string(), cid.to_string(), sid));
            }
        }
        if !xml.is_empty() {
            let single = (changed.len() == 1).then(|| changed[0].2.as_str());
            self.send(Method::PATCH, "stock_availables", single, &xml)
                .await?;
            out.extend(
                changed
                    .into_iter()
                    .map(|(r, cid, _)| (r, Written::Updated(cid))),
            );
        }
        Ok(out)
    }

    /// `update-stock` and `export-articles` on the references of a batch that are no
    /// product (`Missing` in `out`): those that are combinations (variants grouping) get
    /// their quantity on their own `stock_availables` row (the product's row then holds the
    /// sum, as PrestaShop keeps it). Others stay `Missing`.
    pub(super) async fn stock_of_combinations(
        &self,
        out: Vec<(String, Written)>,
        lines: &[&(String, i64)],
    ) -> Result<Vec<(String, Written)>, StepError> {
        let missing: Vec<String> = out
            .iter()
            .filter(|(_, w)| matches!(w, Written::Missing))
            .map(|(r, _)| r.clone())
            .collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let combos = match self.combinations_by_reference(&missing).await {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => return Ok(out),
            // A webservice key without the `combinations` permission: plain products'
            // stock must not suffer from it; the references stay missing.
            Err(StepError::Permanent(why)) => {
                tracing::debug!(%why, "déclinaisons illisibles : références laissées absentes");
                return Ok(out);
            }
            Err(e) => return Err(e),
        };
        let mut pids = BTreeSet::new();
        for c in combos.values() {
            let (pid, cid) = (text(c, "id_product"), text(c, "id"));
            check_id(&pid)?;
            check_id(&cid)?;
            pids.insert(pid);
        }
        let rows = self
            .client
            .list(
                "stock_availables",
                &[
                    ("filter[id_product]".into(), or_filter(&mut pids.iter())),
                    (
                        "display".into(),
                        "[id,id_product,id_product_attribute,quantity]".into(),
                    ),
                ],
            )
            .await?;
        let by_attr: HashMap<(String, String), &Obj> = rows
            .iter()
            .map(|r| ((text(r, "id_product"), text(r, "id_product_attribute")), r))
            .collect();
        let wanted: HashMap<String, i64> =
            lines.iter().map(|l| (l.0.to_lowercase(), l.1)).collect();
        let mut result = Vec::new();
        let mut xml = Vec::new();
        let mut changed = Vec::new();
        for (r, w) in out {
            let key = r.to_lowercase();
            let (Written::Missing, Some(c), Some(q)) = (&w, combos.get(&key), wanted.get(&key))
            else {
                result.push((r, w));
                continue;
            };
            let (pid, cid) = (text(c, "id_product"), text(c, "id"));
            let Some(row) = by_attr.get(&(pid.clone(), cid.clone())) else {
                result.push((
                    r,
                    Written::Refused(format!(
                        "pas de ligne stock_availables pour la déclinaison {cid}"
                    )),
                ));
                continue;
            };
            let sid = text(row, "id");
            check_id(&sid)?;
            if text(row, "quantity").trim() == q.to_string() {
                result.push((r, Written::Unchanged(pid)));
            } else {
                xml.push(format!(
                    "<stock_available><id>{sid}</id><quantity>{q}</quantity></stock_available>"
                ));
                changed.push((r, pid, sid));
            }
        }
        if !xml.is_empty() {
            let single = (changed.len() == 1).then(|| changed[0].2.as_str());
            self.send(Method::PATCH, "stock_availables", single, &xml)
                .await?;
            result.extend(
                changed
                    .into_iter()
                    .map(|(r, pid, _)| (r, Written::Updated(pid))),
            );
        }
        Ok(result)
    }
}
