//! Cross-selling and packs (FEATURES §3.1 "Cross-selling" and the "packs from ERP bills of
//! materials" update switch): the pure rules that turn an article's ERP linked articles and
//! bill of materials into the shop's accessories and pack contents.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// The shop accessories of `reference` from its ERP linked articles: in ERP order, each
/// once (references compare case-insensitively, as the shop finds them), never itself.
pub fn accessories(reference: &str, linked: &[String]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    seen.insert(reference.to_lowercase());
    linked
        .iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && seen.insert(l.to_lowercase()))
        .collect()
}

/// The pack contents of `reference` from its bill of materials: (component, quantity),
/// a component listed twice summed. A pack holds whole units: a quantity that is not a
/// positive whole number, or the article containing itself, refuses the pack (the article
/// is then written as a plain product) with the reason, French first.
pub fn pack_items(
    reference: &str,
    components: &[(String, Decimal)],
) -> Result<Vec<(String, u32)>, String> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for (c, q) in components {
        let c = c.trim();
        if c.eq_ignore_ascii_case(reference) {
            return Err(format!(
                "nomenclature de {reference} : l'article se contient lui-même (contains itself)"
            ));
        }
        let qty = match q.to_u32() {
            Some(n) if n > 0 && q.fract().is_zero() => n,
            _ => {
                return Err(format!(
                    "nomenclature de {reference} : quantité {q} de {c} invalide, entier positif attendu (invalid quantity)"
                ))
            }
        };
        match out.iter_mut().find(|(x, _)| x.eq_ignore_ascii_case(c)) {
            Some((_, n)) => *n = n.saturating_add(qty),
            None => out.push((c.to_string(), qty)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_links_then_each_once_in_order_without_itself() {
        let l = vec!["B".into(), "a".into(), "C".into(), "b".into(), " ".into()];
        assert_eq!(accessories("A", &l), vec!["B".to_string(), "C".to_string()]);
    }

    #[test]
    fn given_a_bill_of_materials_then_whole_quantities_summed() {
        let c = vec![
            ("X".to_string(), Decimal::TWO),
            ("Y".to_string(), Decimal::ONE),
            ("x".to_string(), Decimal::ONE),
        ];
        assert_eq!(
            pack_items("P", &c),
            Ok(vec![("X".to_string(), 3), ("Y".to_string(), 1)])
        );
        let half = vec![("X".to_string(), Decimal::new(5, 1))];
        assert!(pack_items("P", &half).is_err_and(|e| e.contains("entier positif")));
        let own = vec![("p".to_string(), Decimal::ONE)];
        assert!(pack_items("P", &own).is_err_and(|e| e.contains("lui-même")));
    }
}
