//! Field rules of shop platforms, as data (issue 21): what each platform accepts in the
//! fields Passerelle writes, and the pure functions that check a value against them and
//! adapt what can be made valid without changing its meaning.
//!
//! Rule *kinds* are platform-neutral ([`Check`]); each platform's adapter owns its table
//! ([`FieldRules`], e.g. PrestaShop's from its `$definition` validators and sizes) and the
//! workflows apply it before the first write of an item: a value that can be adapted is
//! (with a warning naming the field, the rule and the original value), one that cannot
//! fails the item with a French reason naming the field and the rule — nothing is sent
//! that the shop would refuse.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A field Passerelle writes, named independently of any platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    /// Product reference (the key).
    ProductReference,
    /// Product name (multilingual).
    ProductName,
    /// Product URL slug (multilingual).
    ProductSlug,
    /// Long description (HTML).
    ProductDescription,
    /// Short description (HTML).
    ProductSummary,
    /// Meta title.
    MetaTitle,
    /// Meta description.
    MetaDescription,
    /// Meta keywords.
    MetaKeywords,
    /// Base price excluding tax.
    Price,
    /// EAN-13 bar code.
    Ean13,
    /// Weight.
    Weight,
    /// Width.
    Width,
    /// Height.
    Height,
    /// Depth.
    Depth,
    /// Category name.
    CategoryName,
    /// Manufacturer (brand) name.
    ManufacturerName,
    /// Attribute group name of a variant grid (`Taille`, `Pointure`).
    AttributeGroupName,
    /// Attribute value name (`M`, `42`).
    AttributeValueName,
    /// Combination reference.
    CombinationReference,
    /// Customer first name.
    CustomerFirstname,
    /// Customer last name.
    CustomerLastname,
    /// Customer company.
    CustomerCompany,
    /// Customer SIRET.
    CustomerSiret,
    /// Customer e-mail.
    CustomerEmail,
    /// Order reference written back.
    OrderReference,
    /// Parcel tracking number.
    TrackingNumber,
}

/// One check a platform applies to a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// Required: not empty.
    Required,
    /// At most this many characters (Unicode scalar values, as `Tools::strlen`).
    MaxChars(usize),
    /// None of these characters.
    NoneOf(&'static str),
    /// A person's name: no digit, none of these characters, a dot only before a space or
    /// at the end.
    PersonName(&'static str),
    /// A URL slug: only ASCII letters, digits, `-` and `_`.
    Slug,
    /// Only ASCII digits, at most this many.
    Digits(usize),
    /// An unsigned decimal with at most this many integer digits (`None`: no limit).
    Unsigned(Option<u32>),
    /// HTML without scripts, event handlers or embedded frames and forms.
    CleanHtml,
}

impl Check {
    /// Does `value` pass?
    pub fn passes(&self, value: &str) -> bool {
        match self {
            Check::Required => !value.trim().is_empty(),
            Check::MaxChars(n) => value.chars().count() <= *n,
            Check::NoneOf(chars) => !value.chars().any(|c| chars.contains(c)),
            Check::PersonName(chars) => person_name_ok(value, chars),
            Check::Slug => value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            Check::Digits(n) => value.len() <= *n && value.chars().all(|c| c.is_ascii_digit()),
            Check::Unsigned(digits) => unsigned_ok(value, *digits),
            Check::CleanHtml => clean_html(value),
        }
    }

    /// The rule in French, for reasons and warnings.
    pub fn describe(&self) -> String {
        match self {
            Check::Required => "obligatoire".into(),
            Check::MaxChars(n) => format!("{n} caractères au plus"),
            Check::NoneOf(chars) => format!("caractères interdits {}", spaced(chars)),
            Check::PersonName(chars) => format!(
                "nom de personne : ni chiffre ni {}, point seulement avant une espace",
                spaced(chars)
            ),
            Check::Slug => "lettres sans accent, chiffres, - et _ seulement".into(),
            Check::Digits(n) => format!("{n} chiffres au plus"),
            Check::Unsigned(Some(d)) => {
                format!("nombre positif, {d} chiffres avant la virgule au plus")
            }
            Check::Unsigned(None) => "nombre positif".into(),
            Check::CleanHtml => "HTML sans script, iframe ni formulaire".into(),
        }
    }
}

fn spaced(chars: &str) -> String {
    chars
        .chars()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn person_name_ok(value: &str, forbidden: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    chars.iter().enumerate().all(|(i, c)| {
        !c.is_ascii_digit()
            && !forbidden.contains(*c)
            && (*c != '.' || chars.get(i + 1).is_none_or(|n| *n == ' '))
    })
}

fn unsigned_ok(value: &str, digits: Option<u32>) -> bool {
    let v = value.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
        && (!v.contains('.') || !frac.is_empty())
        && digits.is_none_or(|d| int.len() <= d as usize)
}

fn clean_html(value: &str) -> bool {
    let v = value.to_lowercase();
    let events = v.match_indices(" on").any(|(i, _)| {
        let rest = &v[i + 3..];
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        !word.is_empty() && rest[word.len()..].trim_start().starts_with('=')
    });
    !(v.contains("<script")
        || v.contains("script:")
        || events
        || ["<iframe", "<form", "<input", "<embed", "<object"]
            .iter()
            .any(|t| v.contains(t)))
}

/// One field of a platform: its name there, the validator it goes through and its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// The field.
    pub field: Field,
    /// Its name on the platform (`name`, `link_rewrite`, `firstname`).
    pub name: &'static str,
    /// The platform's validator (`isCatalogName`), as its documentation names it.
    pub validator: &'static str,
    /// The checks, in the order the platform applies them.
    pub checks: &'static [Check],
}

/// A platform's field table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRules {
    /// The platform's name, for messages.
    pub platform: &'static str,
    /// The rules.
    pub rules: &'static [FieldRule],
}

/// A value a rule refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: FieldRule,
    /// The failing check.
    pub check: Check,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "champ {} ({} : {})",
            self.rule.name,
            self.rule.validator,
            self.check.describe()
        )
    }
}

/// No rule at all: a platform whose table is not written yet sends values unchecked.
pub const NO_RULES: FieldRules = FieldRules {
    platform: "",
    rules: &[],
};

impl FieldRules {
    /// The rule of `field`, when the platform has one.
    pub fn rule(&self, field: Field) -> Option<&FieldRule> {
        self.rules.iter().find(|r| r.field == field)
    }

    /// The first check of `field` that `value` fails.
    pub fn check(&self, field: Field, value: &str) -> Result<(), Violation> {
        let Some(rule) = self.rule(field) else {
            return Ok(());
        };
        match rule.checks.iter().find(|c| !c.passes(value)) {
            Some(c) => Err(Violation {
                rule: *rule,
                check: *c,
            }),
            None => Ok(()),
        }
    }

    /// The size limit of `field`, if any.
    pub fn max_chars(&self, field: Field) -> Option<usize> {
        self.rule(field)?.checks.iter().find_map(|c| match c {
            Check::MaxChars(n) => Some(*n),
            _ => None,
        })
    }
}

/// The French reason of an unfixable value (the item fails with it).
pub fn refusal(v: &Violation, value: &str) -> String {
    format!(
        "{v} : valeur « {} » refusée par la boutique, non envoyée (field rule)",
        excerpt(value)
    )
}

/// How every adaptation warning starts (the journal and the summary find them by it).
pub const ADAPTED: &str = "adapté : ";

/// The French warning of an adapted value.
pub fn adapted(v: &Violation, value: &str, what: &str) -> String {
    format!(
        "{ADAPTED}{v}, valeur d'origine « {} » — {what}",
        excerpt(value)
    )
}

/// A long value cut for messages (the journal keeps it readable).
fn excerpt(value: &str) -> String {
    if value.chars().count() <= 200 {
        value.to_string()
    } else {
        let s: String = value.chars().take(200).collect();
        format!("{s}…")
    }
}

/// `text` shortened to at most `max` characters at a word boundary (the last space that
/// fits; a word longer than the limit is cut), trailing punctuation and spaces dropped.
pub fn shorten_at_word(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max + 1).collect();
    let cut = match head.rfind(char::is_whitespace) {
        Some(i) if i > 0 => &head[..i],
        _ => {
            let end = head.char_indices().nth(max).map_or(head.len(), |(i, _)| i);
            &head[..end]
        }
    };
    cut.trim_end_matches(|c: char| c.is_whitespace() || ",;:-–/".contains(c))
        .to_string()
}

/// A slug shortened to at most `max` characters at a hyphen.
pub fn shorten_slug(slug: &str, max: usize) -> String {
    if slug.len() <= max {
        return slug.to_string();
    }
    let head = &slug[..max.min(slug.len())];
    let cut = match head.rfind('-') {
        Some(i) if i > 0 && slug.as_bytes().get(max) != Some(&b'-') => &head[..i],
        _ => head,
    };
    cut.trim_end_matches('-').to_string()
}

/// A person's name made valid for `forbidden` (see [`Check::PersonName`]): digits and
/// forbidden characters become spaces, a dot glued to the next letter gets a space
/// (`J.P.` → `J. P.`), spaces collapse. Empty when nothing is left.
pub fn clean_person_name(name: &str, forbidden: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_digit() || forbidden.contains(*c) {
            out.push(' ');
        } else if *c == '.' {
            out.push('.');
            if chars.get(i + 1).is_some_and(|n| *n != ' ') {
                out.push(' ');
            }
        } else {
            out.push(*c);
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    // A name left with only punctuation says nothing.
    if collapsed.chars().any(char::is_alphabetic) {
        collapsed
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: FieldRules = FieldRules {
        platform: "test",
        rules: &[
            FieldRule {
                field: Field::ProductName,
                name: "name",
                validator: "isCatalogName",
                checks: &[Check::NoneOf("<>;=#{}"), Check::MaxChars(10)],
            },
            FieldRule {
                field: Field::CustomerFirstname,
                name: "firstname",
                validator: "isCustomerName",
                checks: &[Check::Required, Check::PersonName(",;&")],
            },
        ],
    };

    #[test]
    fn checks_name_the_field_and_rule() {
        assert!(T.check(Field::ProductName, "Lampe").is_ok());
        let v = T
            .check(Field::ProductName, "Lampe <LED>")
            .expect_err("refused");
        assert_eq!(v.check, Check::NoneOf("<>;=#{}"));
        assert!(v.to_string().starts_with("champ name (isCatalogName"));
        let v = T
            .check(Field::ProductName, "Lampe de table")
            .expect_err("long");
        assert_eq!(v.check, Check::MaxChars(10));
        assert!(T.check(Field::Ean13, "anything").is_ok());
        assert!(T.check(Field::CustomerFirstname, "J.P. Dupont").is_err());
        assert!(T
            .check(Field::CustomerFirstname, "J. P. Dupont Jr.")
            .is_ok());
        assert!(T.check(Field::CustomerFirstname, "Louis 14").is_err());
    }

    #[test]
    fn shortening_keeps_whole_words() {
        assert_eq!(shorten_at_word("Tapis gris plat 160x230", 14), "Tapis gris");
        assert_eq!(shorten_at_word("Tapis, gris", 9), "Tapis");
        assert_eq!(shorten_at_word("Abcdefghijkl", 5), "Abcde");
        assert_eq!(shorten_at_word("Court", 10), "Court");
        assert_eq!(shorten_at_word("Thé vert éclatant", 10), "Thé vert");
        assert_eq!(shorten_slug("tapis-gris-plat", 12), "tapis-gris");
        assert_eq!(shorten_slug("tapis-gris-plat", 10), "tapis-gris");
    }

    #[test]
    fn person_names_are_cleaned_or_emptied() {
        assert_eq!(
            clean_person_name("SARL Dupont, Fils", ",&"),
            "SARL Dupont Fils"
        );
        assert_eq!(clean_person_name("J.P. Martin 2", ",&"), "J. P. Martin");
        assert_eq!(clean_person_name("123", ",&"), "");
    }

    #[test]
    fn measures_and_html() {
        assert!(Check::Unsigned(Some(10)).passes("1234567890.5"));
        assert!(!Check::Unsigned(Some(10)).passes("12345678901"));
        assert!(!Check::Unsigned(None).passes("-1"));
        assert!(!Check::Unsigned(None).passes("abc"));
        assert!(Check::CleanHtml.passes("<p>Lampe <strong>LED</strong></p>"));
        assert!(!Check::CleanHtml.passes("<p onclick=\"x()\">a</p>"));
        assert!(!Check::CleanHtml.passes("<iframe src=x>"));
    }
}
