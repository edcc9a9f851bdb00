//! The variants part of `export-articles` / `export-new-articles` (FEATURES §3.1
//! "Variants grouping"), called from [`super::export_articles`] when the profile sets
//! `[export.variants]`: ERP articles sharing a master reference become ONE shop product
//! with one combination per article (pure rules in `domain::catalog::variants`).
//!
//! **Groups across ERP pages.** Articles come 100 per page in reference order, and the
//! members of a group (`TEE-L-Blanc` … `TEE-S-Noir`) need not be neighbours nor on one
//! page. Rather than a second ERP pass (EBP allows 1 call/s) or an ERP-side sort on a
//! custom column (`OrderByValue` on `xx_…` fields is not documented), the page loop
//! *holds back* the articles that carry a master reference — the plain ones are written page
//! by page as before — and the groups are written after the last page, when every member
//! is known. The cost is zero extra ERP calls; the memory is the held articles' mapped
//! columns only. On resumption the `read_articles` steps return their journaled pages, so
//! the held set is rebuilt identically (deterministic replay, DESIGN §4 rule 7).
//!
//! The groups are then written a page at a time (whole groups, ≤ 100 articles and ≤ 50
//! groups per chunk), like a page: `variant_existing`
//! (which products exist), `variant_erp_stock` (one batched stock read of their articles),
//! `reserve_quota` (one export unit per combination: a group that does not fit whole is
//! ignored, never half-written), `ensure_categories`, `write_variants` (idempotent: looked
//! up by reference and name first, absolute values) and `settle_quota`. Each group is one
//! journal item keyed by its master reference; its message says what was written, the
//! combinations missing from the attribute grid (the group is still written with the
//! ones that exist: a merchant sells what they have) and the articles left out.
//!
//! **Incremental runs** (modified or created since the last transfer) read only the changed
//! articles, so a group would be seen partly (a wrong grid warning, label and base price).
//! Each group touched is then read whole before it is written: `read_variant_group`, the
//! run's query without its date window plus `master field = master reference` (one ERP
//! call per touched group and 100 members; a full run needs none of these calls).

use super::catalog::{next_offset, Io};
use crate::engine::RunError;
use crate::ports::{
    ArticleQuery, ArticleRead, ArticlesPage, CombinationLine, VariantProduct, VariantWritten,
    Written,
};
use passerelle_domain::catalog::variants::{build_group, split_groups, VariantGroup};
use passerelle_domain::catalog::{
    check_references, fit_product, product_fields, stock_quantity, ErpArticle, FilterClause,
    FilterOp, VariantSettings,
};
use passerelle_domain::fields::{refusal, Field, FieldRules};
use passerelle_domain::ItemOutcome;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// At most this many groups per step family (one shop product batch).
const GROUPS_PER_STEP: usize = 50;

/// At most this many articles per step family (EBP's page: one stock read), unless one
/// group alone is larger.
const ARTICLES_PER_STEP: usize = 100;

/// The articles held back for grouping during the page loop.
pub(crate) struct HeldVariants {
    settings: Option<VariantSettings>,
    groups: BTreeMap<String, Vec<ErpArticle>>,
}

impl HeldVariants {
    /// Holds nothing when the profile has no variants settings (or no master field).
    pub(crate) fn new(settings: Option<&VariantSettings>) -> Self {
        Self {
            settings: settings
                .filter(|v| !v.master_field.trim().is_empty())
                .cloned(),
            groups: BTreeMap::new(),
        }
    }

    /// Takes the page's articles that carry a master reference; returns the others (plain
    /// articles and unreadable rows, handled by the page as before).
    pub(crate) fn hold(&mut self, articles: Vec<ArticleRead>) -> Vec<ArticleRead> {
        let Some(v) = &self.settings else {
            return articles;
        };
        let mut rest = Vec::new();
        let mut grouped = Vec::new();
        for a in articles {
            match a {
                ArticleRead::Ok(art) if v.master_of(&art).is_some() => grouped.push(*art),
                other => rest.push(other),
            }
        }
        let (_, groups) = split_groups(grouped, v);
        for (m, members) in groups {
            self.groups.entry(m).or_default().extend(members);
        }
        rest
    }

    /// Writes the held groups after the last page; `page_no` continues the run's page
    /// numbering (quota blocks are keyed by page).
    /// `query`: the run's article query (a dated one makes each touched group be read whole).
    pub(crate) async fn flush(
        self,
        io: &Io,
        query: &ArticleQuery,
        mut page_no: u32,
        seen: &mut BTreeSet<String>,
        with_stock: bool,
    ) -> Result<(), RunError> {
        let Some(v) = self.settings else {
            return Ok(());
        };
        if self.groups.is_empty() {
            return Ok(());
        }
        let mut groups: Vec<(String, Vec<ErpArticle>)> = self.groups.into_iter().collect();
        if query.modified_since.is_some() || query.created_since.is_some() {
            for (master, members) in groups.iter_mut() {
                *members = read_whole_group(io, query, &v, master).await?;
            }
        }
        // Chunks of whole groups holding at most a page of articles (one batched stock
        // read, one product batch per chunk) and at most `GROUPS_PER_STEP` groups.
        let mut start = 0;
        while start < groups.len() {
            let mut end = start + 1;
            let mut n = groups[start].1.len();
            while end < groups.len()
                && end - start < GROUPS_PER_STEP
                && n + groups[end].1.len() <= ARTICLES_PER_STEP
            {
                n += groups[end].1.len();
                end += 1;
            }
            page_no += 1;
            write_groups(io, page_no, &groups[start..end], &v, seen, with_stock).await?;
            start = end;
        }
        Ok(())
    }
}

/// Every article of the group `master` (the run's filters, no date window), page by page.
async fn read_whole_group(
    io: &Io,
    query: &ArticleQuery,
    v: &VariantSettings,
    master: &str,
) -> Result<Vec<ErpArticle>, RunError> {
    let mut q = query.clone();
    q.modified_since = None;
    q.created_since = None;
    q.filter.push(FilterClause {
        column: v.master_field.clone(),
        op: FilterOp::Equal,
        value: master.to_string(),
    });
    let mut out = Vec::new();
    let mut offset = 0u32;
    loop {
        let (erp, qq) = (io.erp.clone(), q.clone());
        let page: ArticlesPage = io
            .ctx
            .step("read_variant_group", &io.p.read, || async move {
                erp.articles_page(&qq, offset).await
            })
            .await?;
        out.extend(page.articles.into_iter().filter_map(|a| match a {
            // The ERP compares as SQL does (case, trailing spaces): keep the exact group.
            ArticleRead::Ok(a) if v.master_of(&a).as_deref() == Some(master) => Some(*a),
            _ => None,
        }));
        match next_offset(page.next_offset, offset) {
            Some(n) => offset = n,
            None => break,
        }
    }
    Ok(out)
}

/// One group ready to write.
struct Ready {
    pos: usize,
    group: VariantGroup,
    product: VariantProduct,
    notes: Vec<String>,
}

async fn write_groups(
    io: &Io,
    page_no: u32,
    chunk: &[(String, Vec<ErpArticle>)],
    v: &VariantSettings,
    seen: &mut BTreeSet<String>,
    with_stock: bool,
) -> Result<(), RunError> {
    let s = &io.config.settings;
    let batch = io.config.batch();
    let keys: Vec<String> = chunk.iter().map(|(m, _)| m.clone()).collect();
    let mut outcome: Vec<Option<ItemOutcome>> = vec![None; chunk.len()];

    // Pure grouping, after the same reference checks as plain articles.
    let mut built: Vec<(usize, VariantGroup)> = Vec::new();
    for (i, (master, members)) in chunk.iter().enumerate() {
        // A plain article (or another group's article) already written under this
        // reference: one shop product cannot be both.
        if seen.contains(&master.to_lowercase()) {
            outcome[i] = Some(ItemOutcome::Failed(format!(
                "groupe de déclinaisons {master} : la référence maître est aussi celle d'un article exporté seul (master reference already used by a plain article)"
            )));
            continue;
        }
        let bad = check_references(members, seen);
        let ok: Vec<ErpArticle> = members
            .iter()
            .enumerate()
            .filter(|(j, _)| !bad.contains_key(j))
            .map(|(_, a)| a.clone())
            .collect();
        let refused: Vec<(String, String)> = bad
            .iter()
            .map(|(j, e)| (members[*j].reference.clone(), e.to_string()))
            .collect();
        match build_group(master, &ok, s, v) {
            Ok(mut g) => {
                g.rejected.extend(refused);
                built.push((i, g));
            }
            Err(e) => outcome[i] = Some(ItemOutcome::Failed(e)),
        }
    }

    // Which products exist (the update switches apply to those only).
    let masters: Vec<String> = built.iter().map(|(_, g)| g.master.clone()).collect();
    let existing: HashMap<String, String> = if masters.is_empty() {
        HashMap::new()
    } else {
        let (shop, m) = (io.shop.clone(), masters.clone());
        let found: Vec<(String, String)> = io
            .ctx
            .step("variant_existing", &io.p.read, || async move {
                shop.existing(&m, batch).await
            })
            .await?;
        found
            .into_iter()
            .map(|(r, id)| (r.to_lowercase(), id))
            .collect()
    };

    // Stock of every tracked member, in one batched read.
    let members: HashMap<&str, &ErpArticle> = chunk
        .iter()
        .flat_map(|(_, m)| m.iter())
        .map(|a| (a.reference.as_str(), a))
        .collect();
    let levels: BTreeMap<String, Decimal> = if with_stock && !built.is_empty() {
        let tracked: Vec<String> = built
            .iter()
            .flat_map(|(_, g)| g.combinations.iter())
            .filter(|c| {
                members
                    .get(c.reference.as_str())
                    .is_some_and(|a| a.stock_tracked)
            })
            .map(|c| c.reference.clone())
            .collect();
        if tracked.is_empty() {
            BTreeMap::new()
        } else {
            let (erp, wh, kind) = (io.erp.clone(), s.warehouses.clone(), s.stock_kind);
            let got: Vec<(String, Decimal)> = io
                .ctx
                .step("variant_erp_stock", &io.p.read, || async move {
                    erp.stock_of(&tracked, &wh, kind).await
                })
                .await?;
            got.into_iter().collect()
        }
    } else {
        BTreeMap::new()
    };

    // Products and combinations.
    let rules = io.shop.field_rules();
    let mut adapted: BTreeSet<usize> = BTreeSet::new();
    let mut ready: Vec<Ready> = Vec::new();
    for (i, g) in built {
        let exists = existing.contains_key(&g.master.to_lowercase());
        if !exists && !s.create_products {
            outcome[i] = Some(ItemOutcome::Ignored(
                "absent de la boutique et création désactivée (not in shop, creation off)".into(),
            ));
            continue;
        }
        let mut draft = match product_fields(&g.base, s, exists) {
            Ok(d) => d,
            Err(e) => {
                outcome[i] = Some(ItemOutcome::Failed(format!(
                    "groupe de déclinaisons {} : {e}",
                    g.master
                )));
                continue;
            }
        };
        // The whole grid is checked against the shop's field rules before its first write
        // (issue 21): a product, group, value or combination the shop would refuse fails
        // the group here, so it is sent complete or not at all.
        if let Err(e) = fit_product(&mut draft, &rules).and_then(|_| fit_grid(&g, &rules)) {
            outcome[i] = Some(ItemOutcome::Failed(format!(
                "groupe de déclinaisons {} : {e} ; rien n'est écrit pour ce groupe (nothing written)",
                g.master
            )));
            continue;
        }
        let mut notes = draft.warnings.clone();
        if draft
            .warnings
            .iter()
            .any(|w| super::export_articles::is_adaptation(w))
        {
            adapted.insert(i);
        }
        let mut lines = Vec::new();
        for c in &g.combinations {
            let quantity = match (with_stock, members.get(c.reference.as_str())) {
                (true, Some(a)) => {
                    let level = levels.get(&c.reference).copied().unwrap_or_default();
                    match stock_quantity(a, level, s) {
                        Ok(d) => Some(d.quantity),
                        Err(e) => {
                            notes.push(format!("stock de {} non envoyé : {e}", c.reference));
                            None
                        }
                    }
                }
                _ => None,
            };
            lines.push(CombinationLine {
                reference: c.reference.clone(),
                attributes: c.attributes.clone(),
                price_impact: c.price_impact,
                default: c.default,
                quantity,
            });
        }
        ready.push(Ready {
            pos: i,
            product: VariantProduct {
                product: draft,
                combinations: lines,
                update_prices: !exists || s.update.price,
            },
            group: g,
            notes,
        });
    }

    // Quota before writing: one unit per combination; a group that does not fit whole is
    // ignored (nothing half-written).
    let wanted: usize = ready.iter().map(|r| r.product.combinations.len()).sum();
    let reserved = wanted > 0;
    let (granted, why) = io.reserve(page_no, wanted).await?;
    if granted < wanted {
        let mut room = granted;
        let mut kept = Vec::new();
        for r in ready {
            let n = r.product.combinations.len();
            if n <= room {
                room -= n;
                kept.push(r);
            } else {
                room = 0;
                outcome[r.pos] = Some(ItemOutcome::Ignored(why.clone()));
            }
        }
        ready = kept;
    }

    // Categories of the written products, found or created once.
    let paths: Vec<Vec<String>> = ready
        .iter()
        .map(|r| r.product.product.category_path.clone())
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
        for r in ready.iter_mut() {
            if let Some(c) = by_path.get(&r.product.product.category_path) {
                r.product.product.categories = c.clone();
            }
        }
    }

    let mut used = 0usize;
    if !ready.is_empty() {
        let (shop, products, create) = (
            io.shop.clone(),
            ready.iter().map(|r| r.product.clone()).collect::<Vec<_>>(),
            s.create_products,
        );
        let written: Vec<(String, VariantWritten)> = io
            .ctx
            .step("write_variants", &io.p.shop, || async move {
                shop.upsert_variant_products(&products, create).await
            })
            .await?;
        let by_ref: HashMap<String, VariantWritten> = written
            .into_iter()
            .map(|(r, w)| (r.to_lowercase(), w))
            .collect();
        for r in &ready {
            let (o, units) = match by_ref.get(&r.group.master.to_lowercase()) {
                Some(w) => group_outcome(r, w),
                None => (
                    ItemOutcome::Failed("absent de la réponse (not in the answer)".into()),
                    0,
                ),
            };
            used += units;
            if matches!(o, ItemOutcome::Succeeded(_)) && adapted.contains(&r.pos) {
                io.adapted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            outcome[r.pos] = Some(o);
        }
    }
    io.finish_page(page_no, reserved, used.min(wanted), keys, outcome)
        .await
}

/// The attribute groups, values and combination references of a grid against the shop's
/// field rules: none of them can be adapted without changing what the customer picks, so
/// the first refused one is the group's reason.
fn fit_grid(g: &VariantGroup, rules: &FieldRules) -> Result<(), String> {
    for c in &g.combinations {
        if let Err(v) = rules.check(Field::CombinationReference, &c.reference) {
            return Err(format!(
                "déclinaison {} : {}",
                c.reference,
                refusal(&v, &c.reference)
            ));
        }
        for (group, value) in &c.attributes {
            if let Err(v) = rules.check(Field::AttributeGroupName, group) {
                return Err(format!("attribut « {group} » : {}", refusal(&v, group)));
            }
            if let Err(v) = rules.check(Field::AttributeValueName, value) {
                return Err(format!(
                    "valeur « {value} » de l'attribut « {group} » : {}",
                    refusal(&v, value)
                ));
            }
        }
    }
    Ok(())
}

/// The journal outcome of one group and the export units it consumed (one per
/// combination created or changed, its stock included).
fn group_outcome(r: &Ready, w: &VariantWritten) -> (ItemOutcome, usize) {
    let g = &r.group;
    let what = format!("produit {} « {} »", g.master, g.label);
    let product = match &w.product {
        Written::Created(id) => format!("{what} : créé (produit {id})"),
        Written::Updated(id) => format!("{what} : mis à jour (produit {id})"),
        Written::Unchanged(id) => format!("{what} : déjà à jour (produit {id})"),
        Written::Missing => {
            return (
                ItemOutcome::Ignored(format!("{what} : absent de la boutique (not in shop)")),
                0,
            )
        }
        Written::Refused(why) => {
            return (
                ItemOutcome::Failed(format!("{what} : refusé par la boutique : {why}")),
                0,
            )
        }
    };
    let count = |f: fn(&Written) -> bool| w.combinations.iter().filter(|(_, x)| f(x)).count();
    let created = count(|x| matches!(x, Written::Created(_)));
    let updated = count(|x| matches!(x, Written::Updated(_)));
    let same = count(|x| matches!(x, Written::Unchanged(_)));
    let stock_changed: BTreeSet<&str> = w
        .stock
        .iter()
        .filter(|(_, x)| matches!(x, Written::Created(_) | Written::Updated(_)))
        .map(|(r, _)| r.as_str())
        .collect();
    let units = w
        .combinations
        .iter()
        .filter(|(r, x)| {
            matches!(x, Written::Created(_) | Written::Updated(_))
                || stock_changed.contains(r.as_str())
        })
        .count();
    let mut msg = format!(
        "{product} ; {} déclinaison(s) : {created} créée(s), {updated} mise(s) à jour, {same} déjà à jour",
        g.combinations.len()
    );
    let sent: Vec<String> = r
        .product
        .combinations
        .iter()
        .filter_map(|c| c.quantity.map(|q| format!("{} = {q}", c.reference)))
        .collect();
    if !sent.is_empty() {
        msg.push_str(&format!(" ; stock {}", sent.join(", ")));
    }
    if let Some(m) = g.missing_text() {
        msg.push_str(&format!(" ; {m}"));
    }
    if !g.rejected.is_empty() {
        let left: Vec<String> = g
            .rejected
            .iter()
            .map(|(r, why)| format!("{r} ({why})"))
            .collect();
        msg.push_str(&format!(
            " ; attention : article(s) écarté(s) du groupe : {} (left out)",
            left.join(", ")
        ));
    }
    for n in &r.notes {
        msg.push_str(&format!(" ; {n}"));
    }
    let refused: Vec<String> = w
        .combinations
        .iter()
        .chain(w.stock.iter())
        .filter_map(|(r, x)| match x {
            Written::Refused(why) => Some(format!("{r} : {why}")),
            _ => None,
        })
        .collect();
    if refused.is_empty() {
        (ItemOutcome::Succeeded(Some(msg)), units)
    } else {
        (
            ItemOutcome::Failed(format!(
                "{msg} ; déclinaison(s) refusée(s) par la boutique : {}",
                refused.join(" ; ")
            )),
            units,
        )
    }
}
