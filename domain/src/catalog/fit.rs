//! A product draft fitted to the shop platform's field rules ([`crate::fields`]) before its
//! first write (issue 21): what can be made valid without changing its meaning is adapted
//! with a warning on the item; what cannot fails the whole item (nothing is sent).
//!
//! Adapted: a name over the limit is shortened at a word boundary, its full text kept in
//! the meta title (when the meta fields are sent and no meta title is mapped); the slug is
//! derived again from the shortened name; meta texts over their limit are shortened; a
//! negative or unreadable weight or dimension, an unreadable EAN are dropped.
//! Refused: a reference, name or meta text with characters the platform forbids, a price
//! with more integer digits than the platform stores, unsafe HTML.

use super::{slugify, LocalTexts, ProductDraft};
use crate::fields::{adapted, refusal, shorten_at_word, shorten_slug, Check, Field, FieldRules};
use rust_decimal::Decimal;

/// Fits `d` to `rules`. Warnings go to `d.warnings`; returns how many values were adapted,
/// or the French reason the item cannot be sent.
pub fn fit_product(d: &mut ProductDraft, rules: &FieldRules) -> Result<usize, String> {
    let mut n = 0usize;
    if let Err(v) = rules.check(Field::ProductReference, &d.reference) {
        return Err(refusal(&v, &d.reference));
    }
    if let Some(p) = d.price {
        let text = format!("{:.6}", p.round_dp(6));
        if let Err(v) = rules.check(Field::Price, &text) {
            return Err(refusal(&v, &p.to_string()));
        }
    }
    // Meta fields go out with the slug (same update switch): only then may the full
    // caption of a shortened name be kept in the meta title.
    let meta_sent = d.slug.is_some();
    let mut main = LocalTexts {
        name: d.name.take(),
        description: d.description.take(),
        summary: d.summary.take(),
        meta_title: d.meta_title.take(),
        meta_description: d.meta_description.take(),
        meta_keywords: d.meta_keywords.take(),
        slug: d.slug.take(),
    };
    let r = fit_texts(&mut main, rules, meta_sent, "", &mut d.warnings);
    d.name = main.name;
    d.description = main.description;
    d.summary = main.summary;
    d.meta_title = main.meta_title;
    d.meta_description = main.meta_description;
    d.meta_keywords = main.meta_keywords;
    d.slug = main.slug;
    n += r?;
    for (lang, t) in d.localized.iter_mut() {
        let meta = meta_sent || t.slug.is_some();
        n += fit_texts(
            t,
            rules,
            meta,
            &format!(" (langue {lang})"),
            &mut d.warnings,
        )?;
    }
    for (field, slot) in [
        (Field::Weight, &mut d.weight),
        (Field::Width, &mut d.width),
        (Field::Height, &mut d.height),
        (Field::Depth, &mut d.depth),
    ] {
        if let Some(x) = *slot {
            let text = measure_text(x);
            if let Err(v) = rules.check(field, &text) {
                d.warnings.push(adapted(&v, &x.to_string(), "non envoyé"));
                *slot = None;
                n += 1;
            }
        }
    }
    if let Some(e) = d.ean13.clone() {
        if let Err(v) = rules.check(Field::Ean13, &e) {
            d.warnings.push(adapted(&v, &e, "non envoyé"));
            d.ean13 = None;
            n += 1;
        }
    }
    Ok(n)
}

/// A measure as the platform reads it (a negative one keeps its sign, so the check sees it).
fn measure_text(x: Decimal) -> String {
    format!("{:.6}", x.round_dp(6))
}

/// The texts of one language.
fn fit_texts(
    t: &mut LocalTexts,
    rules: &FieldRules,
    meta_sent: bool,
    lang: &str,
    warnings: &mut Vec<String>,
) -> Result<usize, String> {
    let mut n = 0;
    let original_slug_from_name = match (&t.name, &t.slug) {
        (Some(name), Some(slug)) => slugify(name) == *slug,
        _ => false,
    };
    if let Some(name) = t.name.clone() {
        match rules.check(Field::ProductName, &name) {
            Ok(()) => {}
            Err(v) if matches!(v.check, Check::MaxChars(_)) => {
                let max = rules.max_chars(Field::ProductName).unwrap_or(usize::MAX);
                let short = shorten_at_word(&name, max);
                let kept = if meta_sent && t.meta_title.is_none() {
                    let meta_max = rules.max_chars(Field::MetaTitle).unwrap_or(usize::MAX);
                    t.meta_title = Some(shorten_at_word(&name, meta_max));
                    "libellé complet gardé en méta-titre"
                } else {
                    "libellé complet non gardé (méta-titre déjà envoyé ou non mis à jour)"
                };
                warnings.push(adapted(
                    &v,
                    &name,
                    &format!("raccourci en « {short} »{lang}, {kept}"),
                ));
                if original_slug_from_name {
                    t.slug = Some(slugify(&short)).filter(|s| !s.is_empty());
                }
                t.name = Some(short);
                n += 1;
                // The shortened name must still pass the other checks.
                if let Err(v) = rules.check(Field::ProductName, t.name.as_deref().unwrap_or("")) {
                    return Err(refusal(&v, &name) + lang);
                }
            }
            Err(v) => return Err(format!("{}{lang}", refusal(&v, &name))),
        }
    }
    if let Some(slug) = t.slug.clone() {
        if let Err(v) = rules.check(Field::ProductSlug, &slug) {
            let max = rules.max_chars(Field::ProductSlug).unwrap_or(usize::MAX);
            let fixed = shorten_slug(&slugify(&slug), max);
            if fixed.is_empty() || rules.check(Field::ProductSlug, &fixed).is_err() {
                return Err(format!("{}{lang}", refusal(&v, &slug)));
            }
            warnings.push(adapted(&v, &slug, &format!("envoyé « {fixed} »{lang}")));
            t.slug = Some(fixed);
            n += 1;
        }
    }
    for (field, slot) in [
        (Field::MetaTitle, &mut t.meta_title),
        (Field::MetaDescription, &mut t.meta_description),
        (Field::MetaKeywords, &mut t.meta_keywords),
    ] {
        let Some(text) = slot.clone() else { continue };
        match rules.check(field, &text) {
            Ok(()) => {}
            Err(v) if matches!(v.check, Check::MaxChars(_)) => {
                let max = rules.max_chars(field).unwrap_or(usize::MAX);
                let short = shorten_at_word(&text, max);
                if let Err(v) = rules.check(field, &short) {
                    return Err(format!("{}{lang}", refusal(&v, &text)));
                }
                warnings.push(adapted(&v, &text, &format!("raccourci{lang}")));
                *slot = Some(short);
                n += 1;
            }
            Err(v) => return Err(format!("{}{lang}", refusal(&v, &text))),
        }
    }
    for (field, slot) in [
        (Field::ProductDescription, &t.description),
        (Field::ProductSummary, &t.summary),
    ] {
        if let Some(text) = slot {
            if let Err(v) = rules.check(field, text) {
                return Err(format!("{}{lang}", refusal(&v, text)));
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::FieldRule;
    use rust_decimal_macros::dec;

    const RULES: FieldRules = FieldRules {
        platform: "test",
        rules: &[
            FieldRule {
                field: Field::ProductReference,
                name: "reference",
                validator: "isReference",
                checks: &[Check::NoneOf("<>;={}"), Check::MaxChars(64)],
            },
            FieldRule {
                field: Field::ProductName,
                name: "name",
                validator: "isCatalogName",
                checks: &[Check::NoneOf("<>;=#{}"), Check::MaxChars(20)],
            },
            FieldRule {
                field: Field::ProductSlug,
                name: "link_rewrite",
                validator: "isLinkRewrite",
                checks: &[Check::Slug, Check::MaxChars(20)],
            },
            FieldRule {
                field: Field::MetaTitle,
                name: "meta_title",
                validator: "isGenericName",
                checks: &[Check::NoneOf("<>={}"), Check::MaxChars(30)],
            },
            FieldRule {
                field: Field::Price,
                name: "price",
                validator: "isPrice",
                checks: &[Check::Unsigned(Some(10))],
            },
            FieldRule {
                field: Field::Weight,
                name: "weight",
                validator: "isUnsignedFloat",
                checks: &[Check::Unsigned(None)],
            },
        ],
    };

    fn draft(name: &str) -> ProductDraft {
        ProductDraft {
            reference: "A1".into(),
            name: Some(name.into()),
            slug: Some(slugify(name)),
            price: Some(dec!(10)),
            ..ProductDraft::default()
        }
    }

    #[test]
    fn a_long_name_is_shortened_and_kept_whole_in_the_meta_title() {
        let mut d = draft("Tapis gris plat en laine tissée 160x230");
        assert_eq!(fit_product(&mut d, &RULES), Ok(1));
        assert_eq!(d.name.as_deref(), Some("Tapis gris plat en"));
        assert_eq!(d.slug.as_deref(), Some("tapis-gris-plat-en"));
        // The meta title has its own limit (30 here).
        assert_eq!(d.meta_title.as_deref(), Some("Tapis gris plat en laine"));
        assert!(d.warnings[0].contains("champ name (isCatalogName : 20 caractères au plus)"));
        assert!(d.warnings[0].contains("Tapis gris plat en laine tissée 160x230"));
    }

    #[test]
    fn forbidden_characters_fail_the_item_naming_field_and_rule() {
        let mut d = draft("Lampe <LED>");
        let e = fit_product(&mut d, &RULES).expect_err("refused");
        assert!(
            e.starts_with("champ name (isCatalogName : caractères interdits"),
            "{e}"
        );
        let mut d = draft("Lampe");
        d.reference = "A;1".into();
        assert!(fit_product(&mut d, &RULES)
            .expect_err("refused")
            .contains("champ reference (isReference"));
        let mut d = draft("Lampe");
        d.price = Some(dec!(12345678901));
        assert!(fit_product(&mut d, &RULES)
            .expect_err("refused")
            .contains("champ price (isPrice"));
    }

    #[test]
    fn a_negative_weight_is_dropped_with_a_warning() {
        let mut d = draft("Lampe");
        d.weight = Some(dec!(-2));
        assert_eq!(fit_product(&mut d, &RULES), Ok(1));
        assert_eq!(d.weight, None);
        assert!(d.warnings[0].contains("champ weight (isUnsignedFloat"));
        assert!(d.warnings[0].contains("« -2 »"));
    }

    #[test]
    fn a_valid_draft_is_left_alone() {
        let mut d = draft("Lampe");
        let before = d.clone();
        assert_eq!(fit_product(&mut d, &RULES), Ok(0));
        assert_eq!(d, before);
    }
}
