//! `CatalogShop` for PrestaShop ([`PrestaShopCatalog`]): products found by reference in
//! batches (`GET /api/products?filter[reference]=[A|B|C]&display=full`), created with
//! `POST /api/products` and updated with `PATCH /api/products` (only the fields sent
//! change), quantities through `stock_availables` (the product's own `quantity` cannot set
//! stock, `PS-docs:webservice/resources/stock_availables.md`).
//!
//! Batches: the webservice saves every `<product>` (or `<stock_available>`) element of one
//! XML body in turn — `WebserviceRequest::saveEntityFromXml` loops over the children of
//! `<prestashop>` and, for PUT/PATCH, wants each element's `<id>` (400 code 90 when one is
//! missing, 89 when one repeats); so one call carries `batch` products. Source:
//! PrestaShop/PrestaShop `classes/webservice/WebserviceRequest.php`. A batch the shop
//! refuses (4xx) is sent again product by product, so the refusal lands on the right item
//! and the others go through; elements saved before the refusal are found by reference on
//! the retry (never created twice).

use super::{check_id, or_filter, PrestaShopClient};
use crate::cms::prestashop::model::{association_ids, text, Obj};
use async_trait::async_trait;
use passerelle_domain::catalog::slugify;
use passerelle_domain::catalog::ProductDraft;
use passerelle_domain::fields::Field;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{CatalogShop, Written};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;

/// A PrestaShop shop seen as a catalogue, writing texts in `languages`.
pub struct PrestaShopCatalog {
    pub(super) client: PrestaShopClient,
    pub(super) languages: Vec<String>,
}

impl PrestaShopCatalog {
    /// Over `client`, texts written in each of `languages` (shop language ids; `["1"]`
    /// when empty).
    pub fn new(client: PrestaShopClient, languages: Vec<String>) -> Self {
        let languages = if languages.is_empty() {
            vec!["1".to_string()]
        } else {
            languages
        };
        Self { client, languages }
    }
}

fn esc(v: &str) -> String {
    quick_xml::escape::escape(v).to_string()
}

/// PrestaShop prices carry 6 decimals.
fn d6(d: Decimal) -> String {
    format!("{:.6}", d.round_dp(6))
}

fn same_decimal(current: &str, wanted: Decimal) -> bool {
    Decimal::from_str(current.trim()).is_ok_and(|c| c == wanted)
}

/// The text of a multilingual field in one language.
fn lang_text(o: &Obj, field: &str, lang: &str) -> String {
    match o.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .find(|i| {
                i.get("id")
                    .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
                    .as_deref()
                    == Some(lang)
            })
            .and_then(|i| i.get("value").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string(),
        _ => text(o, field),
    }
}

/// The multilingual fields of PrestaShop's product the drafts feed.
const I18N_FIELDS: [&str; 7] = [
    "name",
    "description",
    "description_short",
    "meta_title",
    "meta_description",
    "meta_keywords",
    "link_rewrite",
];

/// The value of multilingual field `k` in language `l`: the language's own text when the
/// profile maps one, else the main text.
fn lang_value<'a>(d: &'a ProductDraft, k: &str, l: &str) -> Option<&'a String> {
    d.localized
        .get(l)
        .and_then(|t| t.get(k))
        .or_else(|| main_text(d, k))
}

/// The main text of multilingual field `k` (a PrestaShop field name).
fn main_text<'a>(d: &'a ProductDraft, k: &str) -> Option<&'a String> {
    match k {
        "name" => d.name.as_ref(),
        "description" => d.description.as_ref(),
        "description_short" => d.summary.as_ref(),
        "meta_title" => d.meta_title.as_ref(),
        "meta_description" => d.meta_description.as_ref(),
        "meta_keywords" => d.meta_keywords.as_ref(),
        "link_rewrite" => d.slug.as_ref(),
        _ => None,
    }
}

impl PrestaShopCatalog {
    /// Products among `references` (one call), by lower-case reference.
    async fn products(
        &self,
        references: &[&str],
        display: &str,
    ) -> Result<HashMap<String, Obj>, StepError> {
        let refs: Vec<String> = references.iter().map(|r| r.to_string()).collect();
        let rows = self
            .client
            .list(
                "products",
                &[
                    ("filter[reference]".into(), or_filter(&mut refs.iter())),
                    ("display".into(), display.into()),
                ],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (text(&r, "reference").to_lowercase(), r))
            .collect())
    }

    /// The id of the category named `name` (any case) under `parent`.
    async fn category(&self, name: &str, parent: &str) -> Result<Option<String>, StepError> {
        let rows = self
            .client
            .list(
                "categories",
                &[
                    ("filter[name]".into(), format!("[{name}]")),
                    ("filter[id_parent]".into(), format!("[{parent}]")),
                    ("display".into(), "[id,name,id_parent]".into()),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .find(|r| text(r, "name").to_lowercase() == name.to_lowercase())
            .map(|r| text(r, "id"))
            .filter(|id| check_id(id).is_ok()))
    }

    /// Manufacturers among `names` (one call), by lower-case name; the oldest wins when
    /// names repeat in the shop.
    async fn manufacturers(&self, names: &[String]) -> Result<HashMap<String, String>, StepError> {
        let searchable: Vec<&String> = names
            .iter()
            .filter(|n| !n.contains(['|', '[', ']', ',', '%', '!']))
            .collect();
        if searchable.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self
            .client
            .list(
                "manufacturers",
                &[
                    (
                        "filter[name]".into(),
                        or_filter(&mut searchable.into_iter()),
                    ),
                    ("display".into(), "[id,name]".into()),
                ],
            )
            .await?;
        let mut rows: Vec<(u64, String, String)> = rows
            .iter()
            .filter_map(|r| {
                let id = text(r, "id");
                id.parse::<u64>().ok().map(|n| (n, id, text(r, "name")))
            })
            .collect();
        rows.sort();
        let mut out = HashMap::new();
        for (_, id, name) in rows {
            out.entry(name.to_lowercase()).or_insert(id);
        }
        Ok(out)
    }

    /// A new active category `name` under `parent`, in every language.
    fn category_xml(&self, name: &str, parent: &str) -> String {
        let lang = |v: &str| -> String {
            self.languages
                .iter()
                .map(|l| format!("<language id=\"{}\">{}</language>", esc(l), esc(v)))
                .collect()
        };
        format!(
            "<category><name>{}</name><id_parent>{}</id_parent><active>1</active><link_rewrite>{}</link_rewrite></category>",
            lang(name),
            esc(parent),
            lang(&slugify(name))
        )
    }

    /// Does the product already hold every field the draft sends?
    /// The languages a draft's texts go to: all, or the first only when the profile keeps
    /// the shop's translations of existing products.
    fn languages_of(&self, d: &ProductDraft) -> &[String] {
        if d.main_language_only {
            &self.languages[..self.languages.len().min(1)]
        } else {
            &self.languages
        }
    }

    fn unchanged(&self, current: &Obj, d: &ProductDraft) -> bool {
        let scalars = [
            ("ean13", d.ean13.clone()),
            ("width", d.width.map(d6)),
            ("height", d.height.map(d6)),
            ("depth", d.depth.map(d6)),
        ];
        scalars.iter().all(|(k, v)| {
            v.as_ref().is_none_or(|v| {
                let cur = text(current, k);
                cur == *v || Decimal::from_str(v).is_ok_and(|w| same_decimal(&cur, w))
            })
        }) && I18N_FIELDS.iter().all(|k| {
            self.languages_of(d)
                .iter()
                .all(|l| lang_value(d, k, l).is_none_or(|v| lang_text(current, k, l) == v.as_str()))
        }) && d
            .manufacturer_id
            .as_ref()
            .is_none_or(|m| text(current, "id_manufacturer") == *m)
            && d.price
                .is_none_or(|p| same_decimal(&text(current, "price"), p))
            && d.tax_rule
                .as_ref()
                .is_none_or(|t| text(current, "id_tax_rules_group") == *t)
            && d.weight
                .is_none_or(|w| same_decimal(&text(current, "weight"), w))
            && ((d.categories.is_empty() && d.extra_category_ids.is_empty()) || {
                let have: std::collections::BTreeSet<String> =
                    association_ids(current, "categories").into_iter().collect();
                d.categories
                    .iter()
                    .chain(&d.extra_category_ids)
                    .all(|c| have.contains(c))
            })
    }

    /// The `<product>` element. `keep`: the current default category of an existing
    /// product, kept among its categories (PrestaShop replaces the whole association).
    fn product_xml(&self, d: &ProductDraft, id: Option<&str>, keep: Option<&str>) -> String {
        let mut s = String::from("<product>");
        if let Some(id) = id {
            s.push_str(&format!("<id>{}</id>", esc(id)));
        }
        s.push_str(&format!("<reference>{}</reference>", esc(&d.reference)));
        for k in I18N_FIELDS {
            let values: Vec<(&String, &String)> = self
                .languages_of(d)
                .iter()
                .filter_map(|l| lang_value(d, k, l).map(|v| (l, v)))
                .collect();
            if values.is_empty() {
                continue;
            }
            s.push_str(&format!("<{k}>"));
            for (l, v) in values {
                s.push_str(&format!(
                    "<language id=\"{}\">{}</language>",
                    esc(l),
                    esc(v)
                ));
            }
            s.push_str(&format!("</{k}>"));
        }
        if let Some(e) = &d.ean13 {
            s.push_str(&format!("<ean13>{}</ean13>", esc(e)));
        }
        for (k, v) in [("width", d.width), ("height", d.height), ("depth", d.depth)] {
            if let Some(v) = v {
                s.push_str(&format!("<{k}>{}</{k}>", d6(v)));
            }
        }
        if let Some(m) = &d.manufacturer_id {
            s.push_str(&format!("<id_manufacturer>{}</id_manufacturer>", esc(m)));
        }
        if let Some(p) = d.price {
            s.push_str(&format!("<price>{}</price>", d6(p)));
        }
        if let Some(t) = &d.tax_rule {
            s.push_str(&format!(
                "<id_tax_rules_group>{}</id_tax_rules_group>",
                esc(t)
            ));
        }
        if let Some(w) = d.weight {
            s.push_str(&format!("<weight>{}</weight>", d6(w)));
        }
        let mut cats: Vec<String> = Vec::new();
        if id.is_none() {
            // A new product: active or not per profile, `state` 1 (PrestaShop 8 keeps
            // state-0 products as unsaved drafts), its default category (the deepest of
            // its path, else the profile's).
            s.push_str(&format!(
                "<active>{}</active><state>1</state>",
                u8::from(d.active_if_new)
            ));
            if let Some(c) = d.categories.last().or(d.category_if_new.as_ref()) {
                s.push_str(&format!(
                    "<id_category_default>{}</id_category_default>",
                    esc(c)
                ));
            }
            cats.extend(d.category_if_new.iter().cloned());
        } else if !d.categories.is_empty() || !d.extra_category_ids.is_empty() {
            cats.extend(keep.map(str::to_string));
        }
        if id.is_none() || !d.categories.is_empty() || !d.extra_category_ids.is_empty() {
            cats.extend(d.categories.iter().cloned());
            cats.extend(d.extra_category_ids.iter().cloned());
            let mut seen = std::collections::BTreeSet::new();
            cats.retain(|c| !c.is_empty() && c != "0" && seen.insert(c.clone()));
            if !cats.is_empty() {
                s.push_str("<associations><categories>");
                for c in &cats {
                    s.push_str(&format!("<category><id>{}</id></category>", esc(c)));
                }
                s.push_str("</categories></associations>");
            }
        }
        s.push_str("</product>");
        s
    }

    pub(super) async fn send(
        &self,
        method: Method,
        resource: &str,
        single_id: Option<&str>,
        elements: &[String],
    ) -> Result<Vec<u8>, StepError> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prestashop>{}</prestashop>",
            elements.concat()
        );
        let path = match single_id {
            Some(id) => format!("{resource}/{id}"),
            None => resource.to_string(),
        };
        self.client.call(method, &path, &[], Some(body)).await
    }

    /// One batch of drafts: look up, patch what changed, create what is missing.
    pub(super) async fn upsert_batch(
        &self,
        drafts: &[&ProductDraft],
        create: bool,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let refs: Vec<&str> = drafts.iter().map(|d| d.reference.as_str()).collect();
        let current = self.products(&refs, "full").await?;
        let mut out = Vec::new();
        let mut patch: Vec<(String, String, String)> = Vec::new();
        let mut post: Vec<(String, String)> = Vec::new();
        for d in drafts {
            match current.get(&d.reference.to_lowercase()) {
                Some(p) => {
                    let id = text(p, "id");
                    check_id(&id)?;
                    if self.unchanged(p, d) {
                        out.push((d.reference.clone(), Written::Unchanged(id)));
                    } else {
                        patch.push((
                            d.reference.clone(),
                            id.clone(),
                            self.product_xml(d, Some(&id), Some(&text(p, "id_category_default"))),
                        ));
                    }
                }
                None if create => post.push((d.reference.clone(), self.product_xml(d, None, None))),
                None => out.push((d.reference.clone(), Written::Missing)),
            }
        }
        if !patch.is_empty() {
            let single = (patch.len() == 1).then(|| patch[0].1.as_str());
            let xml: Vec<String> = patch.iter().map(|p| p.2.clone()).collect();
            self.send(Method::PATCH, "products", single, &xml).await?;
            out.extend(
                patch
                    .into_iter()
                    .map(|(r, id, _)| (r, Written::Updated(id))),
            );
        }
        if !post.is_empty() {
            let xml: Vec<String> = post.iter().map(|p| p.1.clone()).collect();
            self.send(Method::POST, "products", None, &xml).await?;
            // The answer's shape differs between one and many elements: read the new ids
            // back by reference, which also proves they were saved.
            let refs: Vec<&str> = post.iter().map(|p| p.0.as_str()).collect();
            let created = self.products(&refs, "[id,reference]").await?;
            for (r, _) in post {
                let w = match created.get(&r.to_lowercase()) {
                    Some(p) => Written::Created(text(p, "id")),
                    None => Written::Refused("produit absent après création".into()),
                };
                out.push((r, w));
            }
        }
        Ok(out)
    }

    /// Runs `f` on each chunk; a chunk refused with a permanent error is run again item by
    /// item, each refusal becoming that item's `Refused`.
    async fn chunked<'a, T, F, Fut>(
        &self,
        items: &'a [T],
        batch: usize,
        key: impl Fn(&T) -> String,
        f: F,
    ) -> Result<Vec<(String, Written)>, StepError>
    where
        F: Fn(Vec<&'a T>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<(String, Written)>, StepError>>,
    {
        let mut out = Vec::new();
        for chunk in items.chunks(batch.max(1)) {
            match f(chunk.iter().collect()).await {
                Ok(v) => out.extend(v),
                Err(StepError::Permanent(msg)) if chunk.len() == 1 => {
                    out.push((key(&chunk[0]), Written::Refused(msg)));
                }
                Err(StepError::Permanent(_)) => {
                    for one in chunk {
                        match f(vec![one]).await {
                            Ok(v) => out.extend(v),
                            Err(StepError::Permanent(msg)) => {
                                out.push((key(one), Written::Refused(msg)))
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn stock_batch(
        &self,
        lines: &[&(String, i64)],
    ) -> Result<Vec<(String, Written)>, StepError> {
        let refs: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        let products = self.products(&refs, "[id,reference]").await?;
        let mut out = Vec::new();
        let mut by_product: HashMap<String, (&String, i64)> = HashMap::new();
        for (r, q) in lines.iter().map(|l| (&l.0, l.1)) {
            match products.get(&r.to_lowercase()) {
                Some(p) => {
                    let id = text(p, "id");
                    check_id(&id)?;
                    by_product.insert(id, (r, q));
                }
                None => out.push((r.clone(), Written::Missing)),
            }
        }
        // References that are no product may be combinations (combinations.rs).
        let mut out = self.stock_of_combinations(out, lines).await?;
        if by_product.is_empty() {
            return Ok(out);
        }
        let ids: Vec<String> = by_product.keys().cloned().collect();
        let stocks = self
            .client
            .list(
                "stock_availables",
                &[
                    ("filter[id_product]".into(), or_filter(&mut ids.iter())),
                    ("filter[id_product_attribute]".into(), "[0]".into()),
                    ("display".into(), "[id,id_product,quantity]".into()),
                ],
            )
            .await?;
        let mut xml = Vec::new();
        let mut changed = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for s in &stocks {
            let pid = text(s, "id_product");
            let Some((r, q)) = by_product.get(&pid) else {
                continue;
            };
            if !seen.insert(pid.clone()) {
                continue;
            }
            let sid = text(s, "id");
            check_id(&sid)?;
            if text(s, "quantity").trim() == q.to_string() {
                out.push(((*r).clone(), Written::Unchanged(pid.clone())));
            } else {
                xml.push(format!(
                    "<stock_available><id>{sid}</id><quantity>{q}</quantity></stock_available>"
                ));
                changed.push(((*r).clone(), pid.clone(), sid));
            }
        }
        for (pid, (r, _)) in &by_product {
            if !seen.contains(pid) {
                out.push((
                    (*r).clone(),
                    Written::Refused(format!(
                        "pas de ligne stock_availables pour le produit {pid}"
                    )),
                ));
            }
        }
        if !xml.is_empty() {
            let single = (changed.len() == 1).then(|| changed[0].2.as_str());
            self.send(Method::PATCH, "stock_availables", single, &xml)
                .await?;
            out.extend(
                changed
                    .into_iter()
                    .map(|(r, pid, _)| (r, Written::Updated(pid))),
            );
        }
        Ok(out)
    }

    async fn fields_batch(
        &self,
        lines: Vec<(String, Vec<(&'static str, String)>)>,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let refs: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        let fields: Vec<&str> = lines
            .first()
            .map(|l| l.1.iter().map(|f| f.0).collect())
            .unwrap_or_default();
        let display = format!("[id,reference,{}]", fields.join(","));
        let products = self.products(&refs, &display).await?;
        let mut out = Vec::new();
        let mut xml = Vec::new();
        let mut changed = Vec::new();
        for (r, f) in &lines {
            let Some(p) = products.get(&r.to_lowercase()) else {
                out.push((r.clone(), Written::Missing));
                continue;
            };
            let id = text(p, "id");
            check_id(&id)?;
            let same = f.iter().all(|(k, v)| {
                let cur = text(p, k);
                cur == *v
                    || Decimal::from_str(cur.trim())
                        .ok()
                        .zip(Decimal::from_str(v).ok())
                        .is_some_and(|(a, b)| a == b)
            });
            if same {
                out.push((r.clone(), Written::Unchanged(id)));
                continue;
            }
            let mut s = format!("<product><id>{id}</id>");
            for (k, v) in f {
                s.push_str(&format!("<{k}>{}</{k}>", esc(v)));
            }
            s.push_str("</product>");
            xml.push(s);
            changed.push((r.clone(), id));
        }
        if !xml.is_empty() {
            let single = (changed.len() == 1).then(|| changed[0].1.as_str());
            self.send(Method::PATCH, "products", single, &xml).await?;
            out.extend(changed.into_iter().map(|(r, id)| (r, Written::Updated(id))));
        }
        Ok(out)
    }
}

#[async_trait]
impl CatalogShop for PrestaShopCatalog {
    fn field_rules(&self) -> passerelle_domain::fields::FieldRules {
        crate::cms::prestashop::fields::FIELD_RULES
    }

    async fn upsert_products(
        &self,
        drafts: &[ProductDraft],
        create: bool,
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        self.chunked(
            drafts,
            batch,
            |d| d.reference.clone(),
            |c| async move { self.upsert_batch(&c, create).await },
        )
        .await
    }

    async fn existing(
        &self,
        references: &[String],
        batch: usize,
    ) -> Result<Vec<(String, String)>, StepError> {
        let mut out = Vec::new();
        for chunk in references.chunks(batch.max(1)) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for (_, p) in self.products(&refs, "[id,reference]").await? {
                out.push((text(&p, "reference"), text(&p, "id")));
            }
        }
        Ok(out)
    }

    async fn set_prices(
        &self,
        prices: &[(String, Decimal, Option<String>)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        self.chunked(
            prices,
            batch,
            |p| p.0.clone(),
            |c| async move {
                let lines = c
                    .into_iter()
                    .map(|(r, p, t)| {
                        let mut f = vec![("price", d6(*p))];
                        if let Some(t) = t {
                            f.push(("id_tax_rules_group", t.clone()));
                        }
                        (r.clone(), f)
                    })
                    .collect();
                self.fields_batch(lines).await
            },
        )
        .await
    }

    async fn set_stock(
        &self,
        quantities: &[(String, i64)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        self.chunked(
            quantities,
            batch,
            |q| q.0.clone(),
            |c| async move { self.stock_batch(&c).await },
        )
        .await
    }

    async fn ensure_categories(
        &self,
        paths: &[Vec<String>],
        root: &str,
        create: bool,
    ) -> Result<Vec<(Vec<String>, Vec<String>)>, StepError> {
        check_id(root)?;
        // (parent id, lower-case name) → id, for the paths of this call.
        let mut known: HashMap<(String, String), String> = HashMap::new();
        let mut out = Vec::new();
        for path in paths {
            let mut parent = root.to_string();
            let mut ids = Vec::new();
            for name in path {
                // Names go into filters: PrestaShop's filter syntax cannot carry these; a
                // name the category rules refuse (`isCatalogName`, 128) could not be
                // created: the product goes to the deepest level before it.
                if name.contains(['|', '[', ']', ',', '%', '!'])
                    || crate::cms::prestashop::fields::FIELD_RULES
                        .check(Field::CategoryName, name)
                        .is_err()
                {
                    break;
                }
                let key = (parent.clone(), name.to_lowercase());
                let id = match known.get(&key) {
                    Some(id) => Some(id.clone()),
                    None => {
                        let mut found = self.category(name, &parent).await?;
                        if found.is_none() && create {
                            let x = self.category_xml(name, &parent);
                            self.send(Method::POST, "categories", None, &[x]).await?;
                            found = self.category(name, &parent).await?;
                        }
                        found
                    }
                };
                let Some(id) = id else { break };
                known.insert(key, id.clone());
                ids.push(id.clone());
                parent = id;
            }
            out.push((path.clone(), ids));
        }
        Ok(out)
    }

    async fn find_categories(
        &self,
        entries: &[String],
        by_id: bool,
    ) -> Result<Vec<(String, Option<String>)>, StepError> {
        // Entries PrestaShop's filter syntax cannot carry are not searched (they map to
        // `None` and are reported as missing).
        let searchable: Vec<String> = entries
            .iter()
            .filter(|e| !e.contains(['|', '[', ']', ',', '%', '!']))
            .filter(|e| !by_id || check_id(e).is_ok())
            .cloned()
            .collect();
        let mut found: HashMap<String, String> = HashMap::new();
        for chunk in searchable.chunks(50) {
            let field = if by_id { "filter[id]" } else { "filter[name]" };
            let rows = self
                .client
                .list(
                    "categories",
                    &[
                        (field.into(), or_filter(&mut chunk.iter())),
                        ("display".into(), "[id,name]".into()),
                    ],
                )
                .await?;
            // Several categories may share a name under different parents: the oldest
            // (lowest id) wins, so the choice never changes between runs.
            let mut rows: Vec<(u64, String, String)> = rows
                .iter()
                .filter_map(|r| {
                    let id = text(r, "id");
                    id.parse::<u64>()
                        .ok()
                        .map(|n| (n, id, lang_text(r, "name", "1")))
                })
                .collect();
            rows.sort();
            for (_, id, name) in rows {
                let key = if by_id {
                    id.clone()
                } else {
                    name.to_lowercase()
                };
                found.entry(key).or_insert(id);
            }
        }
        Ok(entries
            .iter()
            .map(|e| {
                let key = if by_id { e.clone() } else { e.to_lowercase() };
                (e.clone(), found.get(&key).cloned())
            })
            .collect())
    }

    async fn ensure_manufacturers(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String)>, StepError> {
        let mut out = Vec::new();
        for chunk in names.chunks(50) {
            let mut known = self.manufacturers(chunk).await?;
            // Only names the shop can both search and store are created: a name it could
            // not find again would be created at every run (the field table's
            // `isCatalogName`, 64 characters at most, and the filter syntax's characters).
            let rules = crate::cms::prestashop::fields::FIELD_RULES;
            let missing: Vec<&String> = chunk
                .iter()
                .filter(|n| !known.contains_key(&n.to_lowercase()))
                .filter(|n| {
                    rules.check(Field::ManufacturerName, n).is_ok()
                        && !n.contains(['|', '[', ']', ',', '%', '!'])
                })
                .collect();
            if !missing.is_empty() {
                // One element per manufacturer in one call, as for products.
                let xml: Vec<String> = missing
                    .iter()
                    .map(|n| {
                        format!(
                            "<manufacturer><name>{}</name><active>1</active></manufacturer>",
                            esc(n)
                        )
                    })
                    .collect();
                self.send(Method::POST, "manufacturers", None, &xml).await?;
                known = self.manufacturers(chunk).await?;
            }
            for n in chunk {
                if let Some(id) = known.get(&n.to_lowercase()) {
                    out.push((n.clone(), id.clone()));
                }
            }
        }
        Ok(out)
    }

    async fn set_active(
        &self,
        states: &[(String, bool)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError> {
        self.chunked(
            states,
            batch,
            |s| s.0.clone(),
            |c| async move {
                let lines = c
                    .into_iter()
                    .map(|(r, a)| (r.clone(), vec![("active", u8::from(*a).to_string())]))
                    .collect();
                self.fields_batch(lines).await
            },
        )
        .await
    }

    async fn upsert_variant_products(
        &self,
        products: &[passerelle_workflows::ports::VariantProduct],
        create: bool,
    ) -> Result<Vec<(String, passerelle_workflows::ports::VariantWritten)>, StepError> {
        // combinations.rs
        self.upsert_variants(products, create).await
    }
}

#[path = "links.rs"]
mod links;
#[path = "prices.rs"]
mod prices;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_product_is_one_xml_element_with_every_language() {
        let c = PrestaShopCatalog::new(
            PrestaShopClient::new("http://127.0.0.1:9", "K").expect("client"),
            vec!["1".into(), "2".into()],
        );
        let d = ProductDraft {
            reference: "A&B".into(),
            name: Some("Lampe <LED>".into()),
            price: Some(Decimal::new(1999, 2)),
            active_if_new: false,
            category_if_new: Some("2".into()),
            ..ProductDraft::default()
        };
        let x = c.product_xml(&d, None, None);
        assert_eq!(
            x,
            "<product><reference>A&amp;B</reference><name><language id=\"1\">Lampe &lt;LED&gt;</language><language id=\"2\">Lampe &lt;LED&gt;</language></name><price>19.990000</price><active>0</active><state>1</state><id_category_default>2</id_category_default><associations><categories><category><id>2</id></category></categories></associations></product>"
        );
        assert!(c
            .product_xml(&d, Some("7"), None)
            .starts_with("<product><id>7</id>"));
    }
}
