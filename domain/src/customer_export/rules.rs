//! The pure rules of the customer export: which ERP customers may go (codes, sleeping
//! state, e-mail), and the shop accounts one ERP customer becomes.
//!
//! Shop key: the e-mail is how an account is found in the shop (PrestaShop logs customers
//! in by e-mail, and the webservice filters on it in batches: `filter[email]=[a|b]`); the
//! ERP code is written in the account's private `note` (`Code client EBP : CODE`, the same
//! line the order import writes back), which ties the account to its ERP customer: an
//! account found by e-mail but tagged with another code is never overwritten.

use super::{
    AddressDraft, CustomerDraft, CustomerExportSettings, ErpAccount, GroupSource, PostalAddress,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Why an ERP customer code cannot be exported (that item fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Empty code.
    #[error("code client vide (empty customer code)")]
    Empty,
    /// Surrounding spaces.
    #[error("code client « {0} » entouré d'espaces (customer code has surrounding spaces)")]
    Padded(String),
    /// Seen twice in the run.
    #[error("code client « {0} » en double (duplicate customer code)")]
    Duplicate(String),
}

/// Checks the codes of a page against the codes already seen in the run (updated).
/// Returns the failing positions with their reason.
pub fn check_codes(
    customers: &[ErpAccount],
    seen: &mut BTreeSet<String>,
) -> HashMap<usize, CodeError> {
    let mut bad = HashMap::new();
    for (i, c) in customers.iter().enumerate() {
        if c.code.trim().is_empty() {
            bad.insert(i, CodeError::Empty);
        } else if c.code.trim() != c.code {
            bad.insert(i, CodeError::Padded(c.code.clone()));
        } else if !seen.insert(c.code.to_lowercase()) {
            bad.insert(i, CodeError::Duplicate(c.code.clone()));
        }
    }
    bad
}

/// A plausible e-mail address, as PrestaShop's `Validate::isEmail` would take it: one `@`,
/// a non-empty local part of allowed characters, a dotted domain, no spaces.
pub fn is_valid_email(email: &str) -> bool {
    let e = email.trim();
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.chars().all(|c| {
            c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c) || !c.is_ascii()
        });
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok && !e.contains(char::is_whitespace)
}

/// Active in the shop iff the ERP customer is neither asleep nor blocked (`ActiveState` 0).
pub fn should_be_active(active_state: i64) -> bool {
    active_state == 0
}

/// The shop group name of a customer: its family's or price category's label (by ERP id
/// in `names`), `None` when the profile maps no group or the customer has none.
pub fn group_name_of(
    c: &ErpAccount,
    source: GroupSource,
    names: &BTreeMap<String, String>,
) -> Option<String> {
    let id = match source {
        GroupSource::None => return None,
        GroupSource::Family => c.family.as_ref(),
        GroupSource::PriceCategory => c.price_category.as_ref(),
    }?;
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    Some(names.get(id).cloned().unwrap_or_else(|| id.to_string()))
}

/// What one ERP customer becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftsOutcome {
    /// The accounts to write (the customer's first, then its contacts'), with notes for the
    /// log (contacts left out).
    Write(Vec<CustomerDraft>, Vec<String>),
    /// Not exported, with the reason (asleep, no valid e-mail): the item is ignored.
    Skip(String),
}

fn non_empty(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

/// The customer's accounts. Names: PrestaShop requires a first and a last name; a company
/// without a contact name gets its `Name` as last name and, as first name, the contact's
/// first name or else the same name (never an invented one).
pub fn customer_drafts(
    c: &ErpAccount,
    s: &CustomerExportSettings,
    group: Option<String>,
) -> DraftsOutcome {
    if !should_be_active(c.active_state) {
        return DraftsOutcome::Skip(format!(
            "client {} en sommeil ou bloqué (ActiveState {}) : non exporté (asleep or blocked customer skipped)",
            c.code, c.active_state
        ));
    }
    let email = c.email.trim().to_lowercase();
    if email.is_empty() {
        return DraftsOutcome::Skip(format!(
            "client {} sans e-mail : non exporté (no e-mail)",
            c.code
        ));
    }
    if !is_valid_email(&email) {
        return DraftsOutcome::Skip(format!(
            "client {} : e-mail invalide « {} » (invalid e-mail)",
            c.code, c.email
        ));
    }
    let lastname = non_empty(&c.lastname)
        .or_else(|| non_empty(&c.name))
        .unwrap_or(&c.code)
        .to_string();
    let firstname = non_empty(&c.firstname).unwrap_or(&lastname).to_string();
    let company = c.name.trim().to_string();
    let addresses = |first: &str, last: &str, phone: &str, own: Option<&PostalAddress>| {
        if s.no_addresses {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut push = |alias: &str, a: &PostalAddress| {
            if a.is_usable() {
                out.push(AddressDraft {
                    alias: alias.into(),
                    firstname: first.to_string(),
                    lastname: last.to_string(),
                    company: company.clone(),
                    address: a.clone(),
                    phone: phone.to_string(),
                });
            }
        };
        match own {
            Some(a) => push("Contact", a),
            None => {
                push("Facturation", &c.billing);
                if c.delivery.is_usable() && c.delivery != c.billing {
                    push("Livraison", &c.delivery);
                }
            }
        }
        out
    };
    let base = CustomerDraft {
        erp_code: c.code.clone(),
        contact: None,
        email: email.clone(),
        firstname: firstname.clone(),
        lastname: lastname.clone(),
        company: company.clone(),
        siret: c.siret.clone().unwrap_or_default(),
        ape: c.naf.clone().unwrap_or_default(),
        group,
        newsletter: s.newsletter,
        optin: s.optin,
        active: true,
        addresses: addresses(&firstname, &lastname, &c.phone, None),
    };
    let mut drafts = vec![base.clone()];
    let mut notes = Vec::new();
    if s.create_contacts {
        let mut emails: BTreeSet<String> = BTreeSet::from([email]);
        for k in &c.contacts {
            let e = k.email.trim().to_lowercase();
            if e.is_empty() {
                if !s.skip_contacts_without_email {
                    notes.push(format!(
                        "contact {} sans e-mail non créé (contact without e-mail)",
                        k.id
                    ));
                }
                continue;
            }
            if !is_valid_email(&e) {
                notes.push(format!(
                    "contact {} : e-mail invalide « {} » (invalid e-mail)",
                    k.id, k.email
                ));
                continue;
            }
            if !emails.insert(e.clone()) {
                notes.push(format!(
                    "contact {} : e-mail déjà utilisé par ce client (e-mail already used)",
                    k.id
                ));
                continue;
            }
            let last = non_empty(&k.lastname).unwrap_or(&lastname).to_string();
            let first = non_empty(&k.firstname).unwrap_or(&last).to_string();
            let own = k.address.as_ref().filter(|a| a.is_usable());
            let addrs = match own {
                Some(a) => addresses(&first, &last, &k.phone, Some(a)),
                None if s.copy_addresses_to_contacts => addresses(&first, &last, &k.phone, None),
                None => Vec::new(),
            };
            drafts.push(CustomerDraft {
                contact: Some(k.id.clone()),
                email: e,
                firstname: first,
                lastname: last,
                addresses: addrs,
                ..base.clone()
            });
        }
    }
    DraftsOutcome::Write(drafts, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(code: &str) -> ErpAccount {
        ErpAccount {
            code: code.into(),
            name: "ATELIER DUBOIS".into(),
            firstname: "Léa".into(),
            lastname: "Dubois".into(),
            email: " Lea.Dubois@Example.fr ".into(),
            family: Some("PRO".into()),
            price_category: Some("T2".into()),
            billing: PostalAddress {
                address1: "3 rue des Lilas".into(),
                postcode: "69001".into(),
                city: "Lyon".into(),
                country_iso: "FR".into(),
                ..PostalAddress::default()
            },
            ..ErpAccount::default()
        }
    }

    #[test]
    fn codes_empty_padded_or_duplicate_fail() {
        let mut seen = BTreeSet::new();
        let page = vec![
            customer("CL1"),
            customer(""),
            customer(" CL2"),
            customer("cl1"),
        ];
        let bad = check_codes(&page, &mut seen);
        assert_eq!(bad.len(), 3);
        assert_eq!(bad[&1], CodeError::Empty);
        assert!(matches!(bad[&2], CodeError::Padded(_)));
        assert!(matches!(bad[&3], CodeError::Duplicate(_)));
        assert!(bad[&3].to_string().contains("en double"));
    }

    #[test]
    fn emails() {
        assert!(is_valid_email("a.b+c@ex-ample.fr"));
        for bad in [
            "", "a", "a@b", "a b@c.fr", "@c.fr", "a@.fr", "a@c..fr", "a@@c.fr",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn sleeping_and_bad_email_are_skipped_with_a_reason() {
        let s = CustomerExportSettings::default();
        let mut c = customer("CL1");
        c.active_state = 1;
        assert!(
            matches!(customer_drafts(&c, &s, None), DraftsOutcome::Skip(r) if r.contains("sommeil"))
        );
        let mut c = customer("CL1");
        c.email = "pas-un-email".into();
        assert!(
            matches!(customer_drafts(&c, &s, None), DraftsOutcome::Skip(r) if r.contains("invalide"))
        );
    }

    #[test]
    fn a_customer_becomes_one_account_with_its_address() {
        let s = CustomerExportSettings::default();
        let DraftsOutcome::Write(d, _) = customer_drafts(&customer("CL1"), &s, Some("Pros".into()))
        else {
            panic!("written");
        };
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].email, "lea.dubois@example.fr");
        assert_eq!(
            (d[0].firstname.as_str(), d[0].lastname.as_str()),
            ("Léa", "Dubois")
        );
        assert_eq!(d[0].group.as_deref(), Some("Pros"));
        assert_eq!(d[0].addresses.len(), 1);
        assert_eq!(d[0].addresses[0].alias, "Facturation");
        let no = CustomerExportSettings {
            no_addresses: true,
            ..CustomerExportSettings::default()
        };
        let DraftsOutcome::Write(d, _) = customer_drafts(&customer("CL1"), &no, None) else {
            panic!("written");
        };
        assert!(d[0].addresses.is_empty());
    }

    #[test]
    fn contacts_become_accounts_of_the_same_company() {
        let s = CustomerExportSettings {
            create_contacts: true,
            copy_addresses_to_contacts: true,
            skip_contacts_without_email: false,
            ..CustomerExportSettings::default()
        };
        let mut c = customer("CL1");
        c.contacts = vec![
            super::super::ErpContact {
                id: "K1".into(),
                firstname: "Paul".into(),
                lastname: "Martin".into(),
                email: "paul@example.fr".into(),
                ..Default::default()
            },
            super::super::ErpContact {
                id: "K2".into(),
                lastname: "Sans".into(),
                ..Default::default()
            },
        ];
        let DraftsOutcome::Write(d, notes) = customer_drafts(&c, &s, None) else {
            panic!("written");
        };
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].key(), "CL1/K1");
        assert_eq!(d[1].company, "ATELIER DUBOIS");
        assert_eq!(d[1].addresses.len(), 1, "copied from the customer");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("K2"));
    }

    #[test]
    fn group_names_come_from_the_chosen_source() {
        let names = BTreeMap::from([("PRO".to_string(), "Professionnels".to_string())]);
        let c = customer("CL1");
        assert_eq!(
            group_name_of(&c, GroupSource::Family, &names).as_deref(),
            Some("Professionnels")
        );
        assert_eq!(
            group_name_of(&c, GroupSource::PriceCategory, &names).as_deref(),
            Some("T2")
        );
        assert_eq!(group_name_of(&c, GroupSource::None, &names), None);
    }
}
