//! The simulator's own copy of PrestaShop 8's validators and size checks (`classes/
//! Validate.php`, `ObjectModel::validateField`), written from PrestaShop's source and not
//! from the client's field table, so a client that forgets a rule is refused here as by a
//! real shop (issue 21). Sources: `/work/shared/reference/prestashop-write-contract.md`
//! ("Validate.php regexes", "validateField messages", "Field facts used").

use super::{api_err, ApiError};
use axum::http::StatusCode;

/// `isCatalogName`: `/^[^<>;=#{}]*$/u`.
pub(super) fn is_catalog_name(v: &str) -> bool {
    !v.chars()
        .any(|c| matches!(c, '<' | '>' | ';' | '=' | '#' | '{' | '}'))
}

/// `isGenericName`: `/^[^<>={}]*$/u`.
pub(super) fn is_generic_name(v: &str) -> bool {
    !v.chars().any(|c| matches!(c, '<' | '>' | '=' | '{' | '}'))
}

/// `isReference`: `/^[^<>;={}]*$/u`.
pub(super) fn is_reference(v: &str) -> bool {
    !v.chars()
        .any(|c| matches!(c, '<' | '>' | ';' | '=' | '{' | '}'))
}

/// `isLinkRewrite` with accented URLs off (the default): `/^[_a-zA-Z0-9\-]+$/`.
pub(super) fn is_link_rewrite(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `isPrice`: `/^[0-9]{1,10}(\.[0-9]{1,9})?$/`.
pub(super) fn is_price(v: &str) -> bool {
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (v, None),
    };
    (1..=10).contains(&int.len())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
}

/// `isUnsignedFloat`: `is_numeric($f) && $f >= 0`.
pub(super) fn is_unsigned_float(v: &str) -> bool {
    v.trim()
        .parse::<f64>()
        .is_ok_and(|f| f.is_finite() && f >= 0.0)
}

/// `isEan13`: `/^[0-9]{0,13}$/` (no checksum).
pub(super) fn is_ean13(v: &str) -> bool {
    v.len() <= 13 && v.bytes().all(|b| b.is_ascii_digit())
}

/// `isCleanHtml` (without `PS_ALLOW_HTML_IFRAME`): no `<script`, no `on…=` event
/// attribute, no `script:` URL, no iframe, form, input, embed or object.
pub(super) fn is_clean_html(v: &str) -> bool {
    let l = v.to_lowercase();
    let bytes = l.as_bytes();
    let mut event = false;
    for (i, _) in l.match_indices("on") {
        let before_ok = i > 0 && matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'"' | b'\'' | b'/');
        if !before_ok {
            continue;
        }
        let mut j = i + 2;
        let start = j;
        while j < bytes.len() && bytes[j].is_ascii_alphabetic() {
            j += 1;
        }
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j > start && j < bytes.len() && bytes[j] == b'=' {
            event = true;
            break;
        }
    }
    !(event
        || l.contains("<script")
        || l.contains("script:")
        || ["<iframe", "<form", "<input", "<embed", "<object"]
            .iter()
            .any(|t| l.contains(t)))
}

/// `isCustomerName` (8.x `CustomerNameValidator::PATTERN_NAME`): not blank, no digit, none
/// of ``!<>,;?=+()/\@#"°*`{}_^$%:¤[]|``, and a dot (`.` or `。`) only before a white
/// space or at the end.
pub(super) fn is_customer_name(v: &str) -> bool {
    const FORBIDDEN: &str = "!<>,;?=+()/\\@#\"°*`{}_^$%:¤[]|";
    if v.trim().is_empty() {
        return false;
    }
    let chars: Vec<char> = v.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_digit() || FORBIDDEN.contains(*c) {
            return false;
        }
        if (*c == '.' || *c == '。') && chars.get(i + 1).is_some_and(|n| !n.is_whitespace()) {
            return false;
        }
    }
    true
}

/// PrestaShop's `str2url` near enough for the POST modifier of `link_rewrite`: accents
/// folded, lower case, anything else than `[a-z0-9]` becomes one `-`, trimmed.
pub(super) fn str2url(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
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
                out.push(c);
                continue;
            }
            _ => "-",
        };
        if folded == "-" {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push_str(folded);
        }
    }
    out.trim_matches('-').to_string()
}

/// The error of a field over its size (`ObjectModel::validateField`); code 84 for a
/// multilingual field (`validateFieldsLang`), 85 otherwise.
pub(super) fn too_long(class: &str, field: &str, len: usize, max: usize, lang: bool) -> ApiError {
    api_err(
        StatusCode::BAD_REQUEST,
        if lang { 84 } else { 85 },
        format!(
            "Validation error: \"The length of property {class}->{field} is currently {len} chars. It must be between 0 and {max} chars.\""
        ),
    )
}

/// The error of a field its validator refuses; code 84 for a multilingual field, 85
/// otherwise.
pub(super) fn not_valid(class: &str, field: &str, lang: bool) -> ApiError {
    api_err(
        StatusCode::BAD_REQUEST,
        if lang { 84 } else { 85 },
        format!("Validation error: \"Property {class}->{field} is not valid\""),
    )
}

/// Checks one value: size first, then the validator, as `validateField` does.
pub(super) fn field(
    class: &str,
    name: &str,
    value: &str,
    max: Option<usize>,
    valid: fn(&str) -> bool,
    lang: bool,
) -> Result<(), ApiError> {
    let len = value.chars().count();
    if let Some(m) = max {
        if len > m {
            return Err(too_long(class, name, len, m, lang));
        }
    }
    if !value.is_empty() && !valid(value) {
        return Err(not_valid(class, name, lang));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_follow_prestashop() {
        assert!(is_catalog_name("Tapis & co"));
        assert!(!is_catalog_name("Lampe #1"));
        assert!(is_reference("REF#1"));
        assert!(!is_reference("A;B"));
        assert!(is_link_rewrite("tapis-gris_2"));
        assert!(!is_link_rewrite("thé"));
        assert!(is_price("1234567890.123456"));
        assert!(!is_price("12345678901"));
        assert!(!is_price("-1"));
        assert!(is_unsigned_float("0.5"));
        assert!(!is_unsigned_float("-0.5"));
        assert!(is_customer_name("J. P. Dupont & Fils"));
        assert!(!is_customer_name("J.P. Dupont"));
        assert!(!is_customer_name("SARL Dupont, Fils"));
        assert!(!is_customer_name("Louis 14"));
        assert!(!is_clean_html("<p onmouseover=\"x\">"));
        assert!(is_clean_html("<p>Lampe pour salon</p>"));
        assert_eq!(str2url("Thé vert « bio » 100 g!"), "the-vert-bio-100-g");
    }
}
