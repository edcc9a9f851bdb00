//! Pure rules of the article exports: what one ERP article becomes in the shop.

use super::{extras, rtf, CatalogSettings, ErpArticle, LocalTexts, WeightSource};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Why an article cannot be exported (the item fails with this reason; the run goes on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ArticleError {
    /// The ERP article has no reference: nothing to match the shop product with.
    #[error("référence d'article vide (empty reference)")]
    EmptyReference,
    /// Spaces around the reference: the shop key would not match (FEATURES §2).
    #[error("référence « {0} » entourée d'espaces (reference with surrounding spaces)")]
    Spaces(String),
    /// Characters PrestaShop's filter syntax cannot search for.
    #[error("référence « {0} » non recherchable dans la boutique (contient | [ ] , % !)")]
    Unsearchable(String),
    /// Two ERP articles share the reference (case-insensitively, as the shop searches).
    #[error("référence « {0} » en double dans l'ERP (duplicate reference)")]
    Duplicate(String),
    /// No name to give the product.
    #[error("article {0} sans libellé (no name)")]
    NoName(String),
    /// No sale price.
    #[error("article {0} sans prix de vente HT (no sale price)")]
    NoPrice(String),
    /// A negative sale price.
    #[error("article {0} : prix de vente négatif ({1}) (negative price)")]
    NegativePrice(String, Decimal),
    /// A stock figure no shop can hold (beyond ±1e9).
    #[error("article {0} : stock aberrant ({1}) (absurd stock value)")]
    AbsurdStock(String, Decimal),
}

/// The shop fields of one product, platform-neutral. `None`: leave the shop's value alone
/// (field not mapped, or its update switch is off for an existing product).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProductDraft {
    /// Reference (the key).
    pub reference: String,
    /// Name.
    pub name: Option<String>,
    /// Long description (HTML).
    pub description: Option<String>,
    /// Short description (HTML).
    pub summary: Option<String>,
    /// Meta title.
    pub meta_title: Option<String>,
    /// Meta description.
    pub meta_description: Option<String>,
    /// Meta keywords.
    pub meta_keywords: Option<String>,
    /// URL slug.
    pub slug: Option<String>,
    /// Price excluding tax, rounded to the profile's precision.
    pub price: Option<Decimal>,
    /// Shop tax rules group.
    pub tax_rule: Option<String>,
    /// Weight in the shop's unit.
    pub weight: Option<Decimal>,
    /// Active state given to a new product (existing products keep theirs: activation is
    /// its own action).
    pub active_if_new: bool,
    /// Default category of a new product.
    pub category_if_new: Option<String>,
    /// Category path from the profile's levels (names, top first; empty: untouched). The
    /// workflow resolves it to shop ids before writing.
    #[serde(default)]
    pub category_path: Vec<String>,
    /// Shop category ids to associate (the path's, resolved), deepest last.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Texts of the languages mapped to their own columns (language id → texts); the
    /// other languages get the main texts above.
    #[serde(default)]
    pub localized: BTreeMap<String, LocalTexts>,
    /// Manufacturer (brand) name, resolved by the workflow to `manufacturer_id`.
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// Shop manufacturer id.
    #[serde(default)]
    pub manufacturer_id: Option<String>,
    /// Supplementary category entries (names or ids as the profile says), resolved by the
    /// workflow into `extra_category_ids`.
    #[serde(default)]
    pub extra_categories: Vec<String>,
    /// Shop ids of the supplementary categories: associated, never the default one.
    #[serde(default)]
    pub extra_category_ids: Vec<String>,
    /// EAN-13.
    #[serde(default)]
    pub ean13: Option<String>,
    /// Width.
    #[serde(default)]
    pub width: Option<Decimal>,
    /// Height.
    #[serde(default)]
    pub height: Option<Decimal>,
    /// Depth.
    #[serde(default)]
    pub depth: Option<Decimal>,
    /// An update writes the texts in the shop's first language only.
    #[serde(default)]
    pub main_language_only: bool,
    /// Fields left out because the ERP value cannot go to the shop (the product still
    /// goes out; the item's outcome says so).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The category path of an article: the values of the profile's level columns, top first,
/// stopping at the first empty level (a level cannot hang below a missing one), at most 6.
pub fn category_path(article: &ErpArticle, settings: &CatalogSettings) -> Vec<String> {
    settings
        .category_levels
        .iter()
        .take(6)
        .map_while(|c| article.field(c).map(|v| v.trim().to_string()))
        .collect()
}

/// Half-up rounding to `precision` decimals (what merchants and PrestaShop expect:
/// 2.345 → 2.35, −2.345 → −2.35).
pub fn round_price(value: Decimal, precision: u32) -> Decimal {
    value.round_dp_with_strategy(precision, RoundingStrategy::MidpointAwayFromZero)
}

/// FEATURES §2: a product is active in the shop iff the article is published on the web
/// AND neither asleep nor blocked; the three other combinations deactivate.
pub fn should_be_active(published: bool, active_state: i64) -> bool {
    published && active_state == 0
}

/// A URL slug: lower case, accents folded, anything else than letters and digits becomes
/// one hyphen.
pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'œ' => "oe",
            'æ' => "ae",
            c if c.is_ascii_alphanumeric() => {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(c);
                continue;
            }
            _ => {
                dash = true;
                continue;
            }
        };
        if dash && !out.is_empty() {
            out.push('-');
        }
        dash = false;
        out.push_str(folded);
    }
    out
}

/// Checks the references of a batch of articles: empty, padded with spaces, unsearchable
/// or duplicated (case-insensitively: the shop's filter ignores case). Returns the error
/// of each refused position; the first of duplicates keeps its place, the others fail.
/// `seen` carries the references of earlier pages of the same run.
pub fn check_references(
    articles: &[ErpArticle],
    seen: &mut BTreeSet<String>,
) -> BTreeMap<usize, ArticleError> {
    let mut bad = BTreeMap::new();
    for (i, a) in articles.iter().enumerate() {
        let r = &a.reference;
        let err = if r.trim().is_empty() {
            Some(ArticleError::EmptyReference)
        } else if r.trim() != r {
            Some(ArticleError::Spaces(r.clone()))
        } else if r.contains(['|', '[', ']', ',', '%', '!']) {
            Some(ArticleError::Unsearchable(r.clone()))
        } else if !seen.insert(r.to_lowercase()) {
            Some(ArticleError::Duplicate(r.clone()))
        } else {
            None
        };
        if let Some(e) = err {
            bad.insert(i, e);
        }
    }
    bad
}

/// The product fields of `article` for the shop. `exists`: the shop already has the
/// product (the update switches then decide what is sent).
pub fn product_fields(
    article: &ErpArticle,
    settings: &CatalogSettings,
    exists: bool,
) -> Result<ProductDraft, ArticleError> {
    let sw = &settings.update;
    let send = |switch: bool| !exists || switch;
    let r = article.reference.clone();
    let text = |col: &Option<String>| col.as_ref().and_then(|c| article.field(c));
    let name = text(&settings.text.name);
    if name.is_none() && !exists {
        return Err(ArticleError::NoName(r));
    }
    let price = match article.price_excl_tax {
        Some(p) if p < Decimal::ZERO => return Err(ArticleError::NegativePrice(r, p)),
        Some(p) => Some(round_price(p, settings.price_precision)),
        None if !exists => return Err(ArticleError::NoPrice(r)),
        None => None,
    };
    let tax_rule = article
        .vat_id
        .as_ref()
        .and_then(|v| settings.vat.get(v))
        .or(settings.default_tax_rule.as_ref())
        .cloned();
    let (weight, weight_column) = match settings.weight {
        WeightSource::None => (None, None),
        WeightSource::Gross => (article.weight, Some("Weight")),
        WeightSource::Net => (article.net_weight, Some("NetWeight")),
    };
    let weight = weight.map(|w| (w * settings.weight_factor).round_dp(6));
    // The ERP reader keeps an unreadable weight's raw text among the fields.
    let unreadable_weight = weight_column
        .filter(|_| weight.is_none())
        .and_then(|c| article.fields.get(c).map(|raw| (c, raw)));
    let slug = text(&settings.text.slug)
        .or_else(|| name.clone())
        .map(|s| slugify(&s))
        .filter(|s| !s.is_empty());
    let mut warnings = Vec::new();
    if let Some((column, raw)) = unreadable_weight {
        warnings.push(format!(
            "poids {column} « {raw} » illisible : non envoyé (weight not sent)"
        ));
    }
    let mut keep = |v: Result<Option<String>, String>| match v {
        Ok(v) => v,
        Err(w) => {
            warnings.push(w);
            None
        }
    };
    let ean13 = keep(extras::ean13(article, settings));
    let mut dims = [None, None, None];
    for (slot, (col, label)) in dims.iter_mut().zip([
        (&settings.dimensions.width, "largeur"),
        (&settings.dimensions.height, "hauteur"),
        (&settings.dimensions.depth, "profondeur"),
    ]) {
        match extras::dimension(article, col, label) {
            Ok(d) => *slot = d,
            Err(w) => warnings.push(w),
        }
    }
    let [width, height, depth] = dims;
    Ok(ProductDraft {
        reference: r,
        name: name.filter(|_| send(sw.name)),
        description: text(&settings.text.description)
            .map(|d| rtf::to_html(&d))
            .filter(|_| send(sw.description)),
        summary: text(&settings.text.summary)
            .map(|d| rtf::to_html(&d))
            .filter(|_| send(sw.summary)),
        meta_title: text(&settings.text.meta_title).filter(|_| send(sw.meta)),
        meta_description: text(&settings.text.meta_description).filter(|_| send(sw.meta)),
        meta_keywords: text(&settings.text.meta_keywords).filter(|_| send(sw.meta)),
        slug: slug.filter(|_| send(sw.meta)),
        price: price.filter(|_| send(sw.price)),
        tax_rule: tax_rule.filter(|_| send(sw.price)),
        weight: weight.filter(|_| send(sw.weight)),
        active_if_new: settings.new_products_active,
        category_if_new: settings.default_category.clone(),
        category_path: category_path(article, settings)
            .into_iter()
            .filter(|_| send(sw.category))
            .collect(),
        categories: Vec::new(),
        localized: extras::localized_texts(article, settings, |f| match f {
            "name" => send(sw.name),
            "description" => send(sw.description),
            "summary" => send(sw.summary),
            _ => send(sw.meta),
        }),
        manufacturer: extras::manufacturer_name(article, settings)
            .filter(|_| send(sw.manufacturer)),
        manufacturer_id: None,
        extra_categories: extras::extra_category_entries(article, settings)
            .into_iter()
            .filter(|_| send(sw.category))
            .collect(),
        extra_category_ids: Vec::new(),
        ean13: ean13.filter(|_| send(sw.ean)),
        width: width.filter(|_| send(sw.dimensions)),
        height: height.filter(|_| send(sw.dimensions)),
        depth: depth.filter(|_| send(sw.dimensions)),
        main_language_only: exists && !sw.all_languages,
        warnings,
    })
}

/// What the stock rule decided for one article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockDecision {
    /// Whole quantity to send.
    pub quantity: i64,
    /// Why it differs from the ERP figure, for the log (not tracked, negative sent as 0…).
    pub note: Option<String>,
}

/// The quantity sent for an article whose summed ERP stock is `level`: the default
/// quantity when stock is not tracked, 0 for a negative stock unless allowed, rounded
/// down (never promise what is not there); beyond ±1e9 the ERP figure is absurd and the
/// item fails.
pub fn stock_quantity(
    article: &ErpArticle,
    level: Decimal,
    settings: &CatalogSettings,
) -> Result<StockDecision, ArticleError> {
    if !article.stock_tracked {
        return Ok(StockDecision {
            quantity: settings.default_quantity,
            note: Some("stock non suivi : quantité par défaut (not tracked)".into()),
        });
    }
    let limit = Decimal::from(1_000_000_000i64);
    if level.abs() > limit {
        return Err(ArticleError::AbsurdStock(article.reference.clone(), level));
    }
    let whole = level.floor().to_i64().unwrap_or(0);
    if whole < 0 && !settings.allow_negative_stock {
        return Ok(StockDecision {
            quantity: 0,
            note: Some(format!(
                "stock négatif ({whole}) envoyé à 0 (negative sent as 0)"
            )),
        });
    }
    Ok(StockDecision {
        quantity: whole,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::UpdateSwitches;
    use rust_decimal_macros::dec;

    fn article() -> ErpArticle {
        ErpArticle {
            reference: "TAPI-Gris-Pla".into(),
            caption: "Tapis gris plat 160x230".into(),
            description: Some(r"{\rtf1 Tapis \b tiss\'e9\b0\par}".into()),
            price_excl_tax: Some(dec!(157.505)),
            vat_id: Some("TN".into()),
            published: true,
            stock_tracked: true,
            weight: Some(dec!(2500)),
            fields: [("xx_Accroche".to_string(), "Doux & épais".to_string())].into(),
            ..ErpArticle::default()
        }
    }

    fn settings() -> CatalogSettings {
        let mut s = CatalogSettings::default();
        s.text.summary = Some("xx_Accroche".into());
        s.text.meta_title = Some("Caption".into());
        s.vat.insert("TN".into(), "1".into());
        s.default_tax_rule = Some("9".into());
        s.weight = WeightSource::Gross;
        s.weight_factor = dec!(0.001);
        s.default_category = Some("2".into());
        s.new_products_active = false;
        s
    }

    #[test]
    fn a_new_product_gets_every_mapped_field() {
        let d = product_fields(&article(), &settings(), false).expect("draft");
        assert_eq!(
            d,
            ProductDraft {
                reference: "TAPI-Gris-Pla".into(),
                name: Some("Tapis gris plat 160x230".into()),
                description: Some("<p>Tapis <strong>tissé</strong></p>".into()),
                summary: Some("<p>Doux &amp; épais</p>".into()),
                meta_title: Some("Tapis gris plat 160x230".into()),
                meta_description: None,
                meta_keywords: None,
                slug: Some("tapis-gris-plat-160x230".into()),
                price: Some(dec!(157.51)),
                tax_rule: Some("1".into()),
                weight: Some(dec!(2.5)),
                active_if_new: false,
                category_if_new: Some("2".into()),
                category_path: Vec::new(),
                categories: Vec::new(),
                ..ProductDraft::default()
            }
        );
    }

    #[test]
    fn update_switches_keep_shop_fields_of_existing_products() {
        let mut s = settings();
        s.update = UpdateSwitches {
            name: false,
            description: false,
            price: false,
            ..UpdateSwitches::default()
        };
        let d = product_fields(&article(), &s, true).expect("draft");
        assert_eq!(d.name, None);
        assert_eq!(d.description, None);
        assert_eq!(d.price, None);
        assert_eq!(d.tax_rule, None);
        assert_eq!(d.summary.as_deref(), Some("<p>Doux &amp; épais</p>"));
        // A new product ignores the switches.
        let d = product_fields(&article(), &s, false).expect("draft");
        assert_eq!(d.price, Some(dec!(157.51)));
    }

    #[test]
    fn unknown_vat_uses_the_default_rule_and_bad_prices_fail() {
        let mut a = article();
        a.vat_id = Some("EX".into());
        assert_eq!(
            product_fields(&a, &settings(), false)
                .expect("draft")
                .tax_rule
                .as_deref(),
            Some("9")
        );
        a.price_excl_tax = None;
        assert_eq!(
            product_fields(&a, &settings(), false),
            Err(ArticleError::NoPrice("TAPI-Gris-Pla".into()))
        );
        a.price_excl_tax = Some(dec!(-1));
        assert!(matches!(
            product_fields(&a, &settings(), true),
            Err(ArticleError::NegativePrice(..))
        ));
    }

    #[test]
    fn category_paths_stop_at_the_first_empty_level() {
        let mut s = settings();
        s.category_levels = vec!["FamilyId".into(), "SubFamilyId".into(), "xx_Gamme".into()];
        let mut a = article();
        a.family = Some("TAPIS".into());
        a.fields.insert("xx_Gamme".into(), "Laine".into());
        assert_eq!(category_path(&a, &s), vec!["TAPIS".to_string()]);
        a.sub_family = Some(" Plats ".into());
        assert_eq!(
            category_path(&a, &s),
            vec!["TAPIS".to_string(), "Plats".into(), "Laine".into()]
        );
    }

    #[test]
    fn prices_round_half_up() {
        assert_eq!(round_price(dec!(2.345), 2), dec!(2.35));
        assert_eq!(round_price(dec!(2.344), 2), dec!(2.34));
        assert_eq!(round_price(dec!(-2.345), 2), dec!(-2.35));
        assert_eq!(round_price(dec!(10.5), 0), dec!(11));
        assert_eq!(round_price(dec!(1.23456), 4), dec!(1.2346));
    }

    #[test]
    fn the_four_activation_cases() {
        assert!(should_be_active(true, 0));
        assert!(!should_be_active(true, 1));
        assert!(!should_be_active(false, 0));
        assert!(!should_be_active(false, 2));
    }

    #[test]
    fn slugs_fold_accents_and_punctuation() {
        assert_eq!(slugify("Thé vert « bio » 100 g!"), "the-vert-bio-100-g");
        assert_eq!(slugify("  Œuvre -- Été  "), "oeuvre-ete");
    }

    #[test]
    fn stock_rules() {
        let s = settings();
        let a = article();
        let q = |lvl| stock_quantity(&a, lvl, &s);
        assert_eq!(q(dec!(12.9)).expect("ok").quantity, 12);
        assert_eq!(q(dec!(-3)).expect("ok").quantity, 0);
        assert!(q(dec!(-3)).expect("ok").note.is_some());
        assert!(matches!(
            q(dec!(2000000000)),
            Err(ArticleError::AbsurdStock(..))
        ));
        let mut neg = s.clone();
        neg.allow_negative_stock = true;
        assert_eq!(stock_quantity(&a, dec!(-3), &neg).expect("ok").quantity, -3);
        let mut untracked = a.clone();
        untracked.stock_tracked = false;
        let mut d = s.clone();
        d.default_quantity = 5;
        assert_eq!(
            stock_quantity(&untracked, dec!(0), &d)
                .expect("ok")
                .quantity,
            5
        );
    }

    #[test]
    fn bad_references_fail_and_duplicates_after_the_first() {
        let mk = |r: &str| ErpArticle {
            reference: r.into(),
            ..ErpArticle::default()
        };
        let mut seen = BTreeSet::new();
        seen.insert("earlier".to_string());
        let bad = check_references(
            &[
                mk("A1"),
                mk(""),
                mk(" A2"),
                mk("a1"),
                mk("B|C"),
                mk("EARLIER"),
                mk("B2"),
            ],
            &mut seen,
        );
        assert_eq!(
            bad.into_iter().collect::<Vec<_>>(),
            vec![
                (1, ArticleError::EmptyReference),
                (2, ArticleError::Spaces(" A2".into())),
                (3, ArticleError::Duplicate("a1".into())),
                (4, ArticleError::Unsearchable("B|C".into())),
                (5, ArticleError::Duplicate("EARLIER".into())),
            ]
        );
    }
}
