//! The product fields beyond texts, price and stock (FEATURES §3.1): texts per shop
//! language, the manufacturer (brand) and the supplementary categories read from an ERP
//! custom field. Pure: the workflow resolves the names these rules produce to shop ids.

use super::{rtf, slugify, CatalogSettings, ErpArticle, TextMapping};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How the supplementary categories custom field names its categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CategoryKey {
    /// Shop category names (any case), looked up in the shop.
    #[default]
    Name,
    /// Shop category ids.
    Id,
}

/// Supplementary categories (FEATURES §3.1 "Categories"): an ERP field holding shop
/// category names or ids separated by `separator`. They are added to the product's
/// categories; its default category is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtraCategories {
    /// The ERP column (usually a custom field `xx_…`).
    pub field: String,
    /// Separator between entries (`,` by default; `;` or `|` are common too).
    pub separator: String,
    /// Entries are names or ids.
    pub by: CategoryKey,
}

impl Default for ExtraCategories {
    fn default() -> Self {
        Self {
            field: String::new(),
            separator: ",".into(),
            by: CategoryKey::Name,
        }
    }
}

/// The texts of one shop language that differ from the main mapping (`None`: the main
/// text is used in that language too).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LocalTexts {
    /// Product name.
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
}

impl LocalTexts {
    /// The value of a PrestaShop-style field name (`name`, `description`,
    /// `description_short`, `meta_title`, `meta_description`, `meta_keywords`,
    /// `link_rewrite`) in this language, when it has its own.
    pub fn get(&self, field: &str) -> Option<&String> {
        match field {
            "name" => self.name.as_ref(),
            "description" => self.description.as_ref(),
            "description_short" => self.summary.as_ref(),
            "meta_title" => self.meta_title.as_ref(),
            "meta_description" => self.meta_description.as_ref(),
            "meta_keywords" => self.meta_keywords.as_ref(),
            "link_rewrite" => self.slug.as_ref(),
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        *self == LocalTexts::default()
    }
}

/// The texts of each language that has its own mapping in `settings.language_texts`.
/// A column empty for this article falls back to the main text (an untranslated English
/// name shows the French one rather than nothing). `send(field)` tells which fields the
/// update switches let through. Languages whose texts all fall back are left out.
pub fn localized_texts(
    article: &ErpArticle,
    settings: &CatalogSettings,
    send: impl Fn(&str) -> bool,
) -> BTreeMap<String, LocalTexts> {
    let text = |m: &TextMapping, pick: fn(&TextMapping) -> &Option<String>| {
        pick(m).as_ref().and_then(|c| article.field(c))
    };
    let mut out = BTreeMap::new();
    for (lang, m) in &settings.language_texts {
        let name = text(m, |m| &m.name);
        let slug = text(m, |m| &m.slug)
            .or_else(|| name.clone())
            .map(|s| slugify(&s))
            .filter(|s| !s.is_empty());
        let t = LocalTexts {
            name: name.filter(|_| send("name")),
            description: text(m, |m| &m.description)
                .map(|d| rtf::to_html(&d))
                .filter(|_| send("description")),
            summary: text(m, |m| &m.summary)
                .map(|d| rtf::to_html(&d))
                .filter(|_| send("summary")),
            meta_title: text(m, |m| &m.meta_title).filter(|_| send("meta")),
            meta_description: text(m, |m| &m.meta_description).filter(|_| send("meta")),
            meta_keywords: text(m, |m| &m.meta_keywords).filter(|_| send("meta")),
            slug: slug.filter(|_| send("meta")),
        };
        if !t.is_empty() {
            out.insert(lang.clone(), t);
        }
    }
    out
}

/// The supplementary category entries of `article`: the configured field split on the
/// separator, trimmed, empty entries dropped, duplicates (any case) kept once, in order.
pub fn extra_category_entries(article: &ErpArticle, settings: &CatalogSettings) -> Vec<String> {
    let Some(x) = &settings.extra_categories else {
        return Vec::new();
    };
    let Some(raw) = article.field(&x.field) else {
        return Vec::new();
    };
    let sep = if x.separator.is_empty() {
        ","
    } else {
        x.separator.as_str()
    };
    let mut seen = BTreeSet::new();
    raw.split(sep)
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter(|e| seen.insert(e.to_lowercase()))
        .map(str::to_string)
        .collect()
}

/// The manufacturer (brand) name of `article`, from the configured field.
pub fn manufacturer_name(article: &ErpArticle, settings: &CatalogSettings) -> Option<String> {
    settings
        .manufacturer
        .as_ref()
        .and_then(|c| article.field(c))
        .map(|m| m.trim().to_string())
}

/// The EAN-13 of `article` from the configured column: digits only, at most 13
/// (PrestaShop's `isEan13`, <https://devdocs.prestashop-project.org/9/webservice/resources/products>).
/// Anything else is not sent; the error says why (the product still goes out).
pub fn ean13(article: &ErpArticle, settings: &CatalogSettings) -> Result<Option<String>, String> {
    let Some(v) = settings.ean13.as_ref().and_then(|c| article.field(c)) else {
        return Ok(None);
    };
    let v = v.trim().to_string();
    if v.len() <= 13 && v.chars().all(|c| c.is_ascii_digit()) {
        Ok(Some(v))
    } else {
        Err(format!(
            "code-barres « {v} » refusé : 13 chiffres au plus, non envoyé (EAN-13 not sent)"
        ))
    }
}

/// One dimension of `article` from `column`: a non-negative decimal (`,` accepted as the
/// decimal separator, as French ERP custom fields hold it). Anything else is not sent.
pub fn dimension(
    article: &ErpArticle,
    column: &Option<String>,
    label: &str,
) -> Result<Option<rust_decimal::Decimal>, String> {
    let Some(v) = column.as_ref().and_then(|c| article.field(c)) else {
        return Ok(None);
    };
    match v.trim().replace(',', ".").parse::<rust_decimal::Decimal>() {
        Ok(d) if d >= rust_decimal::Decimal::ZERO && d < rust_decimal::Decimal::from(1_000_000) => {
            Ok(Some(d.normalize()))
        }
        _ => Err(format!(
            "{label} « {v} » illisible ou négative : non envoyée (dimension not sent)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(fields: &[(&str, &str)]) -> ErpArticle {
        ErpArticle {
            reference: "A1".into(),
            caption: "Lampe".into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_language_gets_its_own_texts_and_falls_back_when_empty() {
        let mut s = CatalogSettings::default();
        s.language_texts.insert(
            "2".into(),
            TextMapping {
                name: Some("xx_name_en".into()),
                description: Some("xx_desc_en".into()),
                ..TextMapping::default()
            },
        );
        s.language_texts.insert(
            "3".into(),
            TextMapping {
                name: Some("xx_name_de".into()),
                description: None,
                ..TextMapping::default()
            },
        );
        let a = article(&[("xx_name_en", "Lamp"), ("xx_desc_en", "")]);
        let t = localized_texts(&a, &s, |_| true);
        let en = &t["2"];
        assert_eq!(en.name.as_deref(), Some("Lamp"));
        assert_eq!(en.slug.as_deref(), Some("lamp"));
        assert_eq!(
            en.description, None,
            "empty column falls back to the main text"
        );
        assert!(
            !t.contains_key("3"),
            "nothing of its own: the main texts apply"
        );
        let a = article(&[("xx_name_en", "Lamp"), ("xx_desc_en", "Bright")]);
        let t = localized_texts(&a, &s, |f| f != "name" && f != "meta");
        assert_eq!(t["2"].name, None, "the update switch holds the name back");
        assert_eq!(t["2"].slug, None);
        assert_eq!(t["2"].description.as_deref(), Some("<p>Bright</p>"));
    }

    #[test]
    fn supplementary_categories_split_trim_and_dedupe() {
        let mut s = CatalogSettings::default();
        let a = article(&[("xx_cats", " Promos ; Nouveautés;;promos ;Noël ")]);
        assert!(extra_category_entries(&a, &s).is_empty(), "not configured");
        s.extra_categories = Some(ExtraCategories {
            field: "xx_cats".into(),
            separator: ";".into(),
            by: CategoryKey::Name,
        });
        assert_eq!(
            extra_category_entries(&a, &s),
            vec!["Promos", "Nouveautés", "Noël"]
        );
        s.extra_categories = Some(ExtraCategories {
            field: "xx_none".into(),
            ..ExtraCategories::default()
        });
        assert!(extra_category_entries(&a, &s).is_empty());
    }

    #[test]
    fn ean_and_dimensions_are_checked() {
        let s = CatalogSettings {
            ean13: Some("xx_ean".into()),
            ..CatalogSettings::default()
        };
        let a = article(&[
            ("xx_ean", "3401234567890"),
            ("xx_w", "12,5"),
            ("xx_h", "-3"),
        ]);
        assert_eq!(ean13(&a, &s), Ok(Some("3401234567890".into())));
        let b = article(&[("xx_ean", "34-0123")]);
        assert!(ean13(&b, &s).is_err_and(|e| e.contains("34-0123")));
        let c = article(&[("xx_ean", "34012345678901")]);
        assert!(ean13(&c, &s).is_err(), "14 digits");
        assert_eq!(
            dimension(&a, &Some("xx_w".into()), "largeur"),
            Ok(Some(rust_decimal::Decimal::new(125, 1)))
        );
        assert!(dimension(&a, &Some("xx_h".into()), "hauteur").is_err());
        assert_eq!(dimension(&a, &None, "profondeur"), Ok(None));
    }

    #[test]
    fn the_manufacturer_comes_from_its_field() {
        let mut s = CatalogSettings::default();
        let a = article(&[("xx_marque", " Philips ")]);
        assert_eq!(manufacturer_name(&a, &s), None);
        s.manufacturer = Some("xx_marque".into());
        assert_eq!(manufacturer_name(&a, &s).as_deref(), Some("Philips"));
        s.manufacturer = Some("xx_other".into());
        assert_eq!(manufacturer_name(&a, &s), None);
    }
}
