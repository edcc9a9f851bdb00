//! A customer draft fitted to the shop platform's field rules ([`crate::fields`]) before it
//! is written (issue 21).
//!
//! Person names: a company name standing in for a missing person name (what
//! [`super::customer_drafts`] does when the ERP has no contact name) that the platform's
//! person-name rule refuses stays in the company field, and the merchant's neutral
//! placeholder ([`super::CustomerExportSettings::name_placeholder`]) takes the name's
//! place; any other refused person name is cleaned (digits and forbidden characters
//! removed, `J.P.` → `J. P.`), or replaced by the placeholder when nothing is left. Names
//! over the size limit are shortened at a word boundary. Each adaptation is a warning on
//! the item; a company with characters the platform forbids fails the item.

use super::CustomerDraft;
use crate::fields::{
    adapted, clean_person_name, refusal, shorten_at_word, Check, Field, FieldRules,
};

/// Fits `d` to `rules`, `placeholder` standing in for unusable person names. Returns the
/// warnings (one per adapted value), or the French reason the account cannot be sent.
pub fn fit_customer(
    d: &mut CustomerDraft,
    rules: &FieldRules,
    placeholder: &str,
) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    if let Err(v) = rules.check(Field::CustomerCompany, &d.company) {
        return Err(refusal(&v, &d.company));
    }
    for a in &d.addresses {
        if let Err(v) = rules.check(Field::CustomerCompany, &a.company) {
            return Err(refusal(&v, &a.company));
        }
    }
    let company = d.company.clone();
    for field in [Field::CustomerFirstname, Field::CustomerLastname] {
        let current = match field {
            Field::CustomerFirstname => d.firstname.clone(),
            _ => d.lastname.clone(),
        };
        let Some(fixed) = fit_name(field, &current, &company, rules, placeholder, &mut warnings)?
        else {
            continue;
        };
        // The addresses carry the same names: they follow.
        for a in d.addresses.iter_mut() {
            let slot = match field {
                Field::CustomerFirstname => &mut a.firstname,
                _ => &mut a.lastname,
            };
            if *slot == current {
                *slot = fixed.clone();
            }
        }
        match field {
            Field::CustomerFirstname => d.firstname = fixed,
            _ => d.lastname = fixed,
        }
    }
    Ok(warnings)
}

/// The fitted value of one person name, `None` when it passes as is.
fn fit_name(
    field: Field,
    value: &str,
    company: &str,
    rules: &FieldRules,
    placeholder: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<String>, String> {
    let Err(v) = rules.check(field, value) else {
        return Ok(None);
    };
    let forbidden = rules
        .rule(field)
        .and_then(|r| {
            r.checks.iter().find_map(|c| match c {
                Check::PersonName(f) => Some(*f),
                _ => None,
            })
        })
        .unwrap_or("");
    let is_company =
        !company.trim().is_empty() && value.trim().to_lowercase() == company.trim().to_lowercase();
    let (fixed, what) = if is_company && matches!(v.check, Check::PersonName(_)) {
        (
            placeholder.to_string(),
            format!("nom de société laissé dans le champ société, « {placeholder} » envoyé"),
        )
    } else {
        let mut cleaned = clean_person_name(value, forbidden);
        if let Some(max) = rules.max_chars(field) {
            cleaned = shorten_at_word(&cleaned, max);
        }
        if cleaned.is_empty() {
            (
                placeholder.to_string(),
                format!("rien d'utilisable, « {placeholder} » envoyé"),
            )
        } else {
            let w = format!("envoyé « {cleaned} »");
            (cleaned, w)
        }
    };
    if let Err(v2) = rules.check(field, &fixed) {
        // Only a placeholder the platform refuses gets here: the profile must change it.
        return Err(format!(
            "{} (substitut de nom du profil à corriger)",
            refusal(&v2, &fixed)
        ));
    }
    warnings.push(adapted(&v, value, &what));
    Ok(Some(fixed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer_export::AddressDraft;
    use crate::fields::FieldRule;

    const NAME: &[Check] = &[
        Check::Required,
        Check::PersonName("!<>,;?=+()/\\@#\"°*`{}_^$%:¤[]|&"),
        Check::MaxChars(255),
    ];
    const RULES: FieldRules = FieldRules {
        platform: "test",
        rules: &[
            FieldRule {
                field: Field::CustomerFirstname,
                name: "firstname",
                validator: "isCustomerName",
                checks: NAME,
            },
            FieldRule {
                field: Field::CustomerLastname,
                name: "lastname",
                validator: "isCustomerName",
                checks: NAME,
            },
            FieldRule {
                field: Field::CustomerCompany,
                name: "company",
                validator: "isGenericName",
                checks: &[Check::NoneOf("<>={}")],
            },
        ],
    };

    fn draft(first: &str, last: &str, company: &str) -> CustomerDraft {
        CustomerDraft {
            erp_code: "C1".into(),
            email: "a@b.fr".into(),
            firstname: first.into(),
            lastname: last.into(),
            company: company.into(),
            addresses: vec![AddressDraft {
                alias: "Facturation".into(),
                firstname: first.into(),
                lastname: last.into(),
                company: company.into(),
                ..AddressDraft::default()
            }],
            ..CustomerDraft::default()
        }
    }

    #[test]
    fn a_company_standing_for_the_name_gives_way_to_the_placeholder() {
        let mut d = draft(
            "SARL Dupont, Fils",
            "SARL Dupont, Fils",
            "SARL Dupont, Fils",
        );
        let w = fit_customer(&mut d, &RULES, "Client").expect("fits");
        assert_eq!(
            (d.firstname.as_str(), d.lastname.as_str()),
            ("Client", "Client")
        );
        assert_eq!(d.company, "SARL Dupont, Fils");
        assert_eq!(d.addresses[0].lastname, "Client");
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("champ firstname (isCustomerName"), "{}", w[0]);
        assert!(w[0].contains("« SARL Dupont, Fils »"));
    }

    #[test]
    fn person_names_are_cleaned_and_valid_ones_untouched() {
        let mut d = draft("J.P.", "Martin2", "");
        let w = fit_customer(&mut d, &RULES, "Client").expect("fits");
        assert_eq!(
            (d.firstname.as_str(), d.lastname.as_str()),
            ("J. P.", "Martin")
        );
        assert_eq!(w.len(), 2);
        let mut ok = draft("Léa", "Dubois", "ATELIER DUBOIS");
        assert_eq!(fit_customer(&mut ok, &RULES, "Client"), Ok(Vec::new()));
    }

    #[test]
    fn a_refused_company_or_placeholder_fails_the_account() {
        let mut d = draft("Léa", "Dubois", "Dupont <SA>");
        assert!(fit_customer(&mut d, &RULES, "Client")
            .expect_err("refused")
            .starts_with("champ company (isGenericName"));
        let mut d = draft("42", "Dubois", "");
        assert!(fit_customer(&mut d, &RULES, "Client 1").is_err());
    }
}
