//! Variants grouping (FEATURES §3.1 "Variants grouping"): for ERPs without native ranges,
//! the articles sharing a *master reference* (a custom field, typically `xx_…`) become ONE
//! shop product with one combination per article. Pure rules only: which articles form a
//! group, the attribute grid and its holes, price impacts, the product label and the
//! default combination. The workflow (`export_variants`) feeds them with what it read.
//!
//! Decisions (a careful integrator's, documented because the spec leaves them open):
//!
//! * **Master price** = the price of the article whose reference *is* the master reference
//!   when the group has one (the merchant's own "parent" article), else the **lowest** price
//!   of the group. The lowest keeps every impact ≥ 0, so the product's base price is the
//!   "from" price the shop shows on lists, and no combination is sold below it by mistake.
//! * **Incomplete grid** (e.g. 3 sizes × 2 colours with one pair missing): the group is still
//!   written with the combinations that exist, and its outcome names the missing ones as a
//!   warning. A merchant would rather sell the 5 variants they have than none.
//! * **Label**: the label field of the master article, else of the last article carrying
//!   one; without a label field (or with every value empty), the caption of the LAST article
//!   of the group in reference order (the spec's rule).
//! * **Default combination**: the master article's, else the first article's (reference
//!   order).
//! * An article of a group that cannot be a combination (no price, an attribute missing,
//!   the same attribute values as another article) is left out of the group with its reason
//!   in the group's outcome; a group left with no article fails.

use super::rules::round_price;
use super::{CatalogSettings, ErpArticle};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many (attribute name, attribute value) pairs (FEATURES §3.1).
pub const MAX_ATTRIBUTES: usize = 5;

/// Beyond this many cells, the holes of a grid are counted but not listed one by one.
const MAX_LISTED_MISSING: usize = 20;

/// One attribute of the grid: the ERP columns holding its name (e.g. `xx_Attr1Nom` =
/// "Taille") and its value (e.g. `xx_Attr1Valeur` = "M").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeFields {
    /// Column holding the attribute's name (the shop attribute group, e.g. "Taille").
    pub name_field: String,
    /// Column holding the attribute's value (e.g. "M").
    pub value_field: String,
}

/// The variants settings of a profile (`[export.variants]`); absent: no grouping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VariantSettings {
    /// Column holding the master reference (articles sharing it form one product).
    pub master_field: String,
    /// Column holding the product label of the group (optional).
    pub label_field: Option<String>,
    /// Up to [`MAX_ATTRIBUTES`] attribute columns pairs, in display order.
    pub attributes: Vec<AttributeFields>,
}

impl VariantSettings {
    /// The ERP columns the grouping reads (added to the product columns when configured).
    pub fn columns(&self) -> Vec<String> {
        let mut c = vec![self.master_field.clone()];
        c.extend(self.label_field.iter().cloned());
        for a in self.attributes.iter().take(MAX_ATTRIBUTES) {
            c.push(a.name_field.clone());
            c.push(a.value_field.clone());
        }
        c.retain(|x| !x.trim().is_empty());
        c
    }

    /// The master reference of an article (trimmed), `None` when it has none: such an
    /// article is exported as a plain product.
    pub fn master_of(&self, article: &ErpArticle) -> Option<String> {
        if self.master_field.trim().is_empty() {
            return None;
        }
        article
            .field(&self.master_field)
            .map(|m| m.trim().to_string())
    }

    /// The (attribute name, value) pairs of an article, in settings order; a pair whose
    /// name or value is empty is skipped.
    pub fn attributes_of(&self, article: &ErpArticle) -> Vec<(String, String)> {
        self.attributes
            .iter()
            .take(MAX_ATTRIBUTES)
            .filter_map(|a| {
                let n = article.field(&a.name_field)?.trim().to_string();
                let v = article.field(&a.value_field)?.trim().to_string();
                Some((n, v))
            })
            .collect()
    }
}

/// One combination of a group: one ERP article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Combination {
    /// The article's reference (= the combination's reference in the shop).
    pub reference: String,
    /// (attribute name, value) in the group's attribute order.
    pub attributes: Vec<(String, String)>,
    /// Article price − master price (excl. tax, rounded to the profile's precision).
    pub price_impact: Decimal,
    /// The product's default combination.
    pub default: bool,
}

/// A group of articles made into one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantGroup {
    /// The master reference (= the shop product's reference).
    pub master: String,
    /// The product's label.
    pub label: String,
    /// The product's base price (see the module doc).
    pub master_price: Decimal,
    /// The attribute names of the grid, in settings order.
    pub attribute_names: Vec<String>,
    /// The combinations, in reference order.
    pub combinations: Vec<Combination>,
    /// Cells of the grid with no article: how many, and the first ones as
    /// "Taille=M, Couleur=Bleu".
    pub missing: (usize, Vec<String>),
    /// Articles left out of the group, with their reason (French first).
    pub rejected: Vec<(String, String)>,
    /// The article the product's other fields come from (texts, VAT, weight, category):
    /// the master article, else the first; carries the group's reference, label and price.
    pub base: ErpArticle,
}

impl VariantGroup {
    /// The warning line about the holes of the grid, if any.
    pub fn missing_text(&self) -> Option<String> {
        let (n, listed) = &self.missing;
        if *n == 0 {
            return None;
        }
        let more = if *n > listed.len() {
            format!(" et {} autre(s)", n - listed.len())
        } else {
            String::new()
        };
        Some(format!(
            "attention : {n} combinaison(s) manquante(s) : {}{more} (missing combinations)",
            listed
                .iter()
                .map(|c| format!("[{c}]"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// A usable article of a group: the article, its attributes in grid order, its price.
type Member<'a> = (&'a ErpArticle, Vec<(String, String)>, Decimal);

/// Splits articles into plain ones and groups by master reference. Groups are keyed by
/// master reference (sorted); members keep their order.
pub fn split_groups(
    articles: Vec<ErpArticle>,
    v: &VariantSettings,
) -> (Vec<ErpArticle>, BTreeMap<String, Vec<ErpArticle>>) {
    let mut plain = Vec::new();
    let mut groups: BTreeMap<String, Vec<ErpArticle>> = BTreeMap::new();
    for a in articles {
        match v.master_of(&a) {
            Some(m) => groups.entry(m).or_default().push(a),
            None => plain.push(a),
        }
    }
    (plain, groups)
}

/// Builds one group from its members (any order: sorted by reference here). `Err`: the
/// group cannot become a product (reason, French first).
pub fn build_group(
    master: &str,
    members: &[ErpArticle],
    settings: &CatalogSettings,
    v: &VariantSettings,
) -> Result<VariantGroup, String> {
    if master.contains(['|', '[', ']', ',', '%', '!']) {
        return Err(format!(
            "référence maître « {master} » non recherchable dans la boutique (contient | [ ] , % !)"
        ));
    }
    let mut sorted: Vec<&ErpArticle> = members.iter().collect();
    sorted.sort_by(|a, b| a.reference.cmp(&b.reference));
    // The grid's attribute names: every name met, in settings order then first appearance.
    let mut names: Vec<String> = Vec::new();
    for a in &sorted {
        for (n, _) in v.attributes_of(a) {
            if !names.iter().any(|x| x.eq_ignore_ascii_case(&n)) {
                names.push(n);
            }
        }
    }
    let mut rejected: Vec<(String, String)> = Vec::new();
    let mut valid: Vec<Member<'_>> = Vec::new();
    let mut seen: BTreeMap<Vec<String>, String> = BTreeMap::new();
    for a in &sorted {
        let attrs = v.attributes_of(a);
        let Some(price) = a.price_excl_tax else {
            rejected.push((
                a.reference.clone(),
                "sans prix de vente HT (no sale price)".into(),
            ));
            continue;
        };
        if price < Decimal::ZERO {
            rejected.push((
                a.reference.clone(),
                format!("prix de vente négatif ({price}) (negative price)"),
            ));
            continue;
        }
        // In grid order; a name of the grid the article lacks rejects it.
        let mut ordered = Vec::new();
        let mut lacking = None;
        for n in &names {
            match attrs.iter().find(|(an, _)| an.eq_ignore_ascii_case(n)) {
                Some((_, val)) => ordered.push((n.clone(), val.clone())),
                None => {
                    lacking = Some(n.clone());
                    break;
                }
            }
        }
        if names.is_empty() {
            rejected.push((
                a.reference.clone(),
                "aucun attribut (taille, couleur…) renseigné (no attribute value)".into(),
            ));
            continue;
        }
        if let Some(n) = lacking {
            rejected.push((
                a.reference.clone(),
                format!("attribut « {n} » non renseigné (attribute value missing)"),
            ));
            continue;
        }
        let key: Vec<String> = ordered.iter().map(|(_, x)| x.to_lowercase()).collect();
        if let Some(first) = seen.get(&key) {
            rejected.push((
                a.reference.clone(),
                format!("mêmes attributs que l'article {first} (same attribute values)"),
            ));
            continue;
        }
        seen.insert(key, a.reference.clone());
        valid.push((a, ordered, round_price(price, settings.price_precision)));
    }
    if valid.is_empty() {
        let why = rejected
            .iter()
            .map(|(r, why)| format!("{r} : {why}"))
            .collect::<Vec<_>>()
            .join(" ; ");
        return Err(format!(
            "groupe de déclinaisons {master} : aucun article utilisable (no usable article) — {why}"
        ));
    }
    let master_pos = valid.iter().position(|(a, ..)| a.reference == master);
    let master_price = match master_pos {
        Some(i) => valid[i].2,
        None => valid
            .iter()
            .map(|(_, _, p)| *p)
            .min()
            .unwrap_or(Decimal::ZERO),
    };
    let default_pos = master_pos.unwrap_or(0);
    let label = label_of(
        &valid.iter().map(|(a, ..)| *a).collect::<Vec<_>>(),
        master,
        v,
    );
    let combinations: Vec<Combination> = valid
        .iter()
        .enumerate()
        .map(|(i, (a, attrs, p))| Combination {
            reference: a.reference.clone(),
            attributes: attrs.clone(),
            price_impact: *p - master_price,
            default: i == default_pos,
        })
        .collect();
    let missing = missing_cells(&names, &combinations);
    let mut base = valid[default_pos].0.clone();
    base.reference = master.to_string();
    base.caption = label.clone();
    if let Some(col) = &settings.text.name {
        if col != "Caption" {
            base.fields.insert(col.clone(), label.clone());
        }
    }
    base.price_excl_tax = Some(master_price);
    Ok(VariantGroup {
        master: master.to_string(),
        label,
        master_price,
        attribute_names: names,
        combinations,
        missing,
        rejected,
        base,
    })
}

/// The label rule (module doc).
fn label_of(members: &[&ErpArticle], master: &str, v: &VariantSettings) -> String {
    let from_field = v.label_field.as_ref().and_then(|col| {
        members
            .iter()
            .find(|a| a.reference == master)
            .and_then(|a| a.field(col))
            .or_else(|| members.iter().rev().find_map(|a| a.field(col)))
    });
    from_field
        .or_else(|| members.last().map(|a| a.caption.clone()))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The cells of the grid (every value of each attribute crossed with every other) that no
/// combination fills.
fn missing_cells(names: &[String], combos: &[Combination]) -> (usize, Vec<String>) {
    let mut values: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    for c in combos {
        for (i, (_, val)) in c.attributes.iter().enumerate() {
            if let Some(vs) = values.get_mut(i) {
                if !vs.iter().any(|x| x.eq_ignore_ascii_case(val)) {
                    vs.push(val.clone());
                }
            }
        }
    }
    let total: usize = values.iter().map(Vec::len).product();
    let present: BTreeSet<Vec<String>> = combos
        .iter()
        .map(|c| c.attributes.iter().map(|(_, x)| x.to_lowercase()).collect())
        .collect();
    let n = total.saturating_sub(present.len());
    let mut listed = Vec::new();
    if n == 0 {
        return (0, listed);
    }
    // Walk the grid like an odometer, stopping once enough holes are listed.
    let mut idx = vec![0usize; names.len()];
    'grid: loop {
        let cell: Vec<String> = idx
            .iter()
            .enumerate()
            .map(|(i, j)| values[i][*j].to_lowercase())
            .collect();
        if !present.contains(&cell) {
            listed.push(
                idx.iter()
                    .enumerate()
                    .map(|(i, j)| format!("{}={}", names[i], values[i][*j]))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            if listed.len() >= MAX_LISTED_MISSING {
                break;
            }
        }
        let mut k = names.len();
        loop {
            if k == 0 {
                break 'grid;
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < values[k].len() {
                break;
            }
            idx[k] = 0;
        }
    }
    (n, listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> (CatalogSettings, VariantSettings) {
        let v = VariantSettings {
            master_field: "xx_Maitre".into(),
            label_field: None,
            attributes: vec![
                AttributeFields {
                    name_field: "xx_Att1".into(),
                    value_field: "xx_Val1".into(),
                },
                AttributeFields {
                    name_field: "xx_Att2".into(),
                    value_field: "xx_Val2".into(),
                },
            ],
        };
        (CatalogSettings::default(), v)
    }

    fn art(r: &str, caption: &str, price: i64, size: &str, colour: &str) -> ErpArticle {
        let mut fields = BTreeMap::new();
        fields.insert("xx_Maitre".to_string(), "TEE".to_string());
        fields.insert("xx_Att1".to_string(), "Taille".to_string());
        fields.insert("xx_Val1".to_string(), size.to_string());
        fields.insert("xx_Att2".to_string(), "Couleur".to_string());
        fields.insert("xx_Val2".to_string(), colour.to_string());
        ErpArticle {
            reference: r.into(),
            caption: caption.into(),
            price_excl_tax: Some(Decimal::from(price)),
            fields,
            ..ErpArticle::default()
        }
    }

    fn grid() -> Vec<ErpArticle> {
        let mut v = Vec::new();
        for (i, s) in ["S", "M", "L"].iter().enumerate() {
            for (j, c) in ["Blanc", "Noir"].iter().enumerate() {
                v.push(art(
                    &format!("TEE-{s}-{c}"),
                    &format!("Tee {s} {c}"),
                    20 + i as i64 * 2 + j as i64,
                    s,
                    c,
                ));
            }
        }
        v
    }

    #[test]
    fn a_full_grid_without_master_article_takes_the_lowest_price_and_the_last_caption() {
        let (s, v) = settings();
        let g = build_group("TEE", &grid(), &s, &v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.combinations.len(), 6);
        assert_eq!(g.master_price, Decimal::from(20));
        assert_eq!(g.attribute_names, vec!["Taille", "Couleur"]);
        // Reference order: TEE-L-Blanc first (default), TEE-S-Noir last (label).
        assert_eq!(g.label, "Tee S Noir");
        assert_eq!(g.combinations[0].reference, "TEE-L-Blanc");
        assert!(g.combinations[0].default);
        assert_eq!(g.combinations.iter().filter(|c| c.default).count(), 1);
        let impact = |r: &str| {
            g.combinations
                .iter()
                .find(|c| c.reference == r)
                .map(|c| c.price_impact)
        };
        assert_eq!(impact("TEE-S-Blanc"), Some(Decimal::ZERO));
        assert_eq!(impact("TEE-L-Noir"), Some(Decimal::from(5)));
        assert_eq!(g.missing, (0, Vec::new()));
        assert_eq!(g.base.reference, "TEE");
        assert_eq!(g.base.caption, "Tee S Noir");
        assert_eq!(g.base.price_excl_tax, Some(Decimal::from(20)));
    }

    #[test]
    fn the_master_article_gives_price_default_and_label_field() {
        let (s, mut v) = settings();
        v.label_field = Some("xx_Libelle".into());
        let mut arts = grid();
        let mut m = art("TEE", "Tee (parent)", 22, "M", "Bleu");
        m.fields
            .insert("xx_Libelle".into(), "Tee-shirt coton".into());
        arts.push(m);
        let g = build_group("TEE", &arts, &s, &v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.master_price, Decimal::from(22));
        assert_eq!(g.label, "Tee-shirt coton");
        let d: Vec<&str> = g
            .combinations
            .iter()
            .filter(|c| c.default)
            .map(|c| c.reference.as_str())
            .collect();
        assert_eq!(d, vec!["TEE"]);
        // Cheaper combinations get a negative impact.
        let s_blanc = g.combinations.iter().find(|c| c.reference == "TEE-S-Blanc");
        assert_eq!(s_blanc.map(|c| c.price_impact), Some(Decimal::from(-2)));
        // Bleu only in M: S/Bleu and L/Bleu are missing.
        assert_eq!(g.missing.0, 2);
        let text = g.missing_text().unwrap_or_default();
        assert!(text.contains("Taille=S, Couleur=Bleu"), "{text}");
        assert!(text.contains("Taille=L, Couleur=Bleu"), "{text}");
    }

    #[test]
    fn a_hole_in_the_grid_is_named_and_bad_members_are_left_out() {
        let (s, v) = settings();
        let mut arts: Vec<ErpArticle> = grid()
            .into_iter()
            .filter(|a| a.reference != "TEE-M-Noir")
            .collect();
        let mut no_price = art("TEE-X", "x", 1, "XL", "Blanc");
        no_price.price_excl_tax = None;
        arts.push(no_price);
        let mut no_colour = art("TEE-Y", "y", 1, "XS", "");
        no_colour.fields.remove("xx_Val2");
        arts.push(no_colour);
        arts.push(art("TEE-Z", "z", 30, "s", "blanc"));
        let g = build_group("TEE", &arts, &s, &v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.combinations.len(), 5);
        assert_eq!(g.missing, (1, vec!["Taille=M, Couleur=Noir".to_string()]));
        let why: BTreeMap<&str, &str> = g
            .rejected
            .iter()
            .map(|(r, w)| (r.as_str(), w.as_str()))
            .collect();
        assert!(why["TEE-X"].contains("sans prix"));
        assert!(why["TEE-Y"].contains("Couleur"));
        assert!(why["TEE-Z"].contains("TEE-S-Blanc"));
    }

    #[test]
    fn variant_columns_are_read_only_when_configured_and_big_grids_list_20_holes() {
        let (mut s, v) = settings();
        assert!(!s.product_columns().iter().any(|c| c.starts_with("xx_")));
        s.variants = Some(v.clone());
        let cols = s.product_columns();
        for c in ["xx_Maitre", "xx_Att1", "xx_Val1", "xx_Att2", "xx_Val2"] {
            assert!(cols.iter().any(|x| x == c), "{c} in {cols:?}");
        }
        // 5 sizes × 6 colours, only the diagonal present: 30 − 5 holes, 20 listed.
        let arts: Vec<ErpArticle> = (0..5)
            .map(|i| {
                art(
                    &format!("TEE-{i}"),
                    "t",
                    10,
                    &format!("T{i}"),
                    &format!("C{i}"),
                )
            })
            .chain(std::iter::once(art("TEE-X", "t", 10, "T0", "C5")))
            .collect();
        let g = build_group("TEE", &arts, &s, &v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.missing.0, 30 - 6);
        assert_eq!(g.missing.1.len(), 20);
        let text = g.missing_text().unwrap_or_default();
        assert!(
            text.starts_with(
                "attention : 24 combinaison(s) manquante(s) : [Taille=T0, Couleur=C1]"
            ),
            "{text}"
        );
        assert!(text.contains("et 4 autre(s)"), "{text}");
    }

    #[test]
    fn a_group_without_usable_article_fails_and_plain_articles_are_split_out() {
        let (s, v) = settings();
        let mut a = art("TEE-S", "x", 1, "S", "Blanc");
        a.price_excl_tax = None;
        let e = build_group("TEE", &[a.clone()], &s, &v)
            .err()
            .unwrap_or_default();
        assert!(e.contains("aucun article utilisable"), "{e}");
        assert!(build_group("T|E", &grid(), &s, &v).is_err());
        let plain = ErpArticle {
            reference: "VASE".into(),
            ..ErpArticle::default()
        };
        let (p, g) = split_groups(vec![plain, a], &v);
        assert_eq!(p.len(), 1);
        assert_eq!(g.get("TEE").map(Vec::len), Some(1));
        assert_eq!(
            v.columns(),
            vec!["xx_Maitre", "xx_Att1", "xx_Val1", "xx_Att2", "xx_Val2"]
        );
    }
}
