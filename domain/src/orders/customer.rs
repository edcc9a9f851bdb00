//! Customer resolution (FEATURES §4.2): which ERP customer account an order goes to, and the
//! record to create (or the addresses to refresh). Pure: the ERP look-ups are done by the
//! caller with [`lookup_keys`], and what they found is passed to [`resolve_customer`].
//!
//! Order of precedence: the payment rule's forced account, the guest account for guest
//! orders, an existing customer found by SIRET, then e-mail, then VAT number, the account
//! already linked to the shop customer, the single account, else a new account.
//!
//! Address updates of existing customers: the record carries the order's addresses for the
//! parts to update, and an empty [`Address`] (`Address::default()`) for a part not to touch;
//! accounting account, sales rep, family and price category are left `None` so an update
//! never overwrites what the ERP user set.

use super::build::{accounting_category, customer_display_name, payment_rule};
use super::*;

/// The values to look ERP customers up with, per the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LookupKeys {
    /// SIRET, when searched and present.
    pub siret: Option<String>,
    /// E-mail (lower-cased), when searched and present.
    pub email: Option<String>,
    /// VAT number (no spaces, upper-cased), when searched and present.
    pub vat: Option<String>,
}

/// A SIRET reduced to its digits; `None` unless that makes exactly 14 digits.
fn normalize_siret(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    (digits.len() == 14).then_some(digits)
}

/// An e-mail trimmed and lower-cased; `None` when empty.
fn normalize_email(s: &str) -> Option<String> {
    let e = s.trim().to_lowercase();
    (!e.is_empty()).then_some(e)
}

/// A VAT number without spaces, upper-cased; `None` when empty.
fn normalize_vat(s: &str) -> Option<String> {
    let v: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    (!v.is_empty()).then_some(v)
}

/// The look-up keys of an order's customer: each only when its search switch is on and the
/// value is usable.
pub fn lookup_keys(order: &ShopOrder, settings: &CustomerSettings) -> LookupKeys {
    let c = &order.customer;
    LookupKeys {
        siret: c
            .siret
            .as_deref()
            .filter(|_| settings.search_by_siret)
            .and_then(normalize_siret),
        email: Some(c.email.as_str())
            .filter(|_| settings.search_by_email)
            .and_then(normalize_email),
        vat: c
            .vat_number
            .as_deref()
            .filter(|_| settings.search_by_vat)
            .and_then(normalize_vat),
    }
}

/// The first ERP customer whose value, normalised like the key, equals the key.
fn find_by<'a>(
    found: &'a [ErpCustomer],
    key: Option<&String>,
    value: impl Fn(&ErpCustomer) -> Option<&String>,
    normalize: fn(&str) -> Option<String>,
) -> Option<&'a ErpCustomer> {
    let key = key?;
    found
        .iter()
        .find(|c| value(c).and_then(|v| normalize(v)).as_ref() == Some(key))
}

/// Resolves the customer of an order among the ERP customers found by the look-ups.
pub fn resolve_customer(
    order: &ShopOrder,
    settings: &OrderSettings,
    found: &[ErpCustomer],
) -> CustomerResolution {
    let cs = &settings.customers;
    let existing =
        |code: &str, found_by: &str, update: Option<CustomerRecord>| CustomerResolution::Existing {
            code: code.to_string(),
            found_by: found_by.to_string(),
            update,
        };
    if let Some(code) = payment_rule(order, settings).and_then(|r| r.forced_customer.as_deref()) {
        return existing(code, "forced-by-payment", None);
    }
    if order.customer.is_guest {
        if let Some(code) = cs.guest_account.as_deref() {
            return existing(code, "guest-account", None);
        }
    }
    let keys = lookup_keys(order, cs);
    let searches = [
        (
            "siret",
            find_by(
                found,
                keys.siret.as_ref(),
                |c| c.siret.as_ref(),
                normalize_siret,
            ),
        ),
        (
            "email",
            find_by(
                found,
                keys.email.as_ref(),
                |c| c.email.as_ref(),
                normalize_email,
            ),
        ),
        (
            "vat",
            find_by(
                found,
                keys.vat.as_ref(),
                |c| c.vat_number.as_ref(),
                normalize_vat,
            ),
        ),
    ];
    if let Some((by, customer)) = searches
        .into_iter()
        .find_map(|(by, hit)| hit.map(|c| (by, c)))
    {
        return existing(
            &customer.code,
            by,
            address_update(order, settings, &customer.code),
        );
    }
    // The shop link names the customer's own account. A link naming a shared account (the
    // guest account, written back by an older version to a guest who registered since) is
    // no link: following it would put a registered customer's orders on the shared account.
    if let Some(code) = order
        .customer
        .erp_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty() && !is_shared_account(settings, c))
    {
        return existing(code, "shop-link", address_update(order, settings, code));
    }
    match &cs.numbering {
        AccountNumbering::Single { code } => existing(code, "single-account", None),
        AccountNumbering::PerCustomer { prefix, length } => {
            let code = padded_number(prefix, &order.customer.id, *length);
            CustomerResolution::New(new_record(order, settings, code))
        }
    }
}

/// Whether `code` is an ERP account shared by many shop customers: the guest account, the
/// day documents' account, an account forced by a payment rule, or the single account of
/// the "one account for all" numbering. Such a code is never written back to a shop customer
/// and a shop link naming one is never followed (FEATURES §4.2: the link ties one shop
/// customer to *their* account).
pub fn is_shared_account(settings: &OrderSettings, code: &str) -> bool {
    let code = code.trim();
    let same = |c: &str| c.trim().eq_ignore_ascii_case(code);
    let cs = &settings.customers;
    cs.guest_account.as_deref().is_some_and(same)
        || settings.grouping.as_ref().is_some_and(|g| same(&g.account))
        || settings
            .payments
            .iter()
            .chain(settings.default_payment.as_ref())
            .filter_map(|r| r.forced_customer.as_deref())
            .any(same)
        || matches!(&cs.numbering, AccountNumbering::Single { code: c } if same(c))
}

/// The ERP account number to write back on the order's shop customer, if any: the account
/// the order went to, when it is the customer's own (never a shared account, see
/// [`is_shared_account`]) and the shop does not hold it already.
pub fn code_to_write_back(
    order: &ShopOrder,
    settings: &OrderSettings,
    code: &str,
) -> Option<String> {
    let held = order.customer.erp_code.as_deref().map(str::trim);
    (held != Some(code.trim()) && !is_shared_account(settings, code)).then(|| code.to_string())
}

/// `prefix` + `id` left-padded with zeros to `length` characters in total (`WEB00029`);
/// when the id does not fit, `prefix` + the id unpadded (never an error, never a cut id).
pub fn padded_number(prefix: &str, id: &str, length: usize) -> String {
    let id = id.trim();
    let room = length.saturating_sub(prefix.chars().count());
    let digits = id.chars().count();
    if digits >= room {
        format!("{prefix}{id}")
    } else {
        format!("{prefix}{}{id}", "0".repeat(room - digits))
    }
}

/// The record of a new customer.
fn new_record(order: &ShopOrder, settings: &OrderSettings, code: String) -> CustomerRecord {
    let cs = &settings.customers;
    let mut record = base_record(order, cs, code);
    record.accounting_account = match &cs.accounting_account {
        AccountingAccountMode::None => None,
        AccountingAccountMode::Same { account } => Some(account.clone()),
        AccountingAccountMode::PerCustomer { prefix, length } => {
            Some(padded_number(prefix, &order.customer.id, *length))
        }
    };
    record.sales_rep = cs.default_sales_rep.clone();
    record.family = cs.default_family.clone();
    record.price_category = cs.default_price_category.clone();
    record.accounting_category = cs
        .use_document_accounting_category
        .then(|| accounting_category(order, settings));
    record
}

/// The address refresh of an existing customer, when the settings ask for one.
fn address_update(
    order: &ShopOrder,
    settings: &OrderSettings,
    code: &str,
) -> Option<CustomerRecord> {
    let cs = &settings.customers;
    if !cs.update_delivery_address && !cs.update_billing_address {
        return None;
    }
    let mut record = base_record(order, cs, code.to_string());
    if !cs.update_billing_address {
        record.billing = Address::default();
    }
    if !cs.update_delivery_address {
        record.delivery = Address::default();
    }
    Some(record)
}

/// Name, contact and addresses, with the text options (accents, upper case) applied.
fn base_record(order: &ShopOrder, cs: &CustomerSettings, code: String) -> CustomerRecord {
    let c = &order.customer;
    let text = |s: &str| {
        if cs.strip_accents {
            strip_accents(s)
        } else {
            s.to_string()
        }
    };
    let mut name = text(&customer_display_name(c));
    if cs.uppercase_name {
        name = name.to_uppercase();
    }
    CustomerRecord {
        code,
        name,
        firstname: text(c.firstname.trim()),
        lastname: text(c.lastname.trim()),
        email: c.email.trim().to_string(),
        siret: c.siret.clone(),
        vat_number: c.vat_number.clone(),
        accounting_account: None,
        sales_rep: None,
        family: None,
        price_category: None,
        accounting_category: None,
        billing: transform_address(&order.billing, cs),
        delivery: transform_address(&order.delivery, cs),
    }
}

/// Applies strip-accents and upper-case-addresses to the text fields of an address (not to
/// the country, state or phone, which are codes).
fn transform_address(a: &Address, cs: &CustomerSettings) -> Address {
    let t = |s: &str| {
        let s = if cs.strip_accents {
            strip_accents(s)
        } else {
            s.to_string()
        };
        if cs.uppercase_address {
            s.to_uppercase()
        } else {
            s
        }
    };
    Address {
        firstname: t(&a.firstname),
        lastname: t(&a.lastname),
        company: a.company.as_deref().map(t),
        address1: t(&a.address1),
        address2: a.address2.as_deref().map(t),
        postcode: t(&a.postcode),
        city: t(&a.city),
        country_iso: a.country_iso.clone(),
        state: a.state.clone(),
        phone: a.phone.clone(),
    }
}

/// Replaces the accented letters of Latin-1 and Latin Extended-A by their base letters
/// (`é`→`e`, `ç`→`c`, `œ`→`oe`, `æ`→`ae`, `ß`→`ss`, `À`→`A`, …); other characters are kept.
/// The ERP and the bank files of some customers only take plain letters.
pub fn strip_accents(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match base_letters(c) {
            Some(base) => out.push_str(base),
            None => out.push(c),
        }
    }
    out
}

/// The table behind [`strip_accents`].
fn base_letters(c: char) -> Option<&'static str> {
    Some(match c {
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' | 'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'Ð' | 'Ď' | 'Đ' => "D",
        'ð' | 'ď' | 'đ' => "d",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'Ĥ' | 'Ħ' => "H",
        'ĥ' | 'ħ' => "h",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'Ĵ' => "J",
        'ĵ' => "j",
        'Ķ' => "K",
        'ķ' | 'ĸ' => "k",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'Ñ' | 'Ń' | 'Ņ' | 'Ň' | 'Ŋ' => "N",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ŏ' | 'Ő' => "O",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'Œ' => "OE",
        'œ' => "oe",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' => "S",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'Ţ' | 'Ť' | 'Ŧ' => "T",
        'ţ' | 'ť' | 'ŧ' => "t",
        'Þ' => "TH",
        'þ' => "th",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'Ŵ' => "W",
        'ŵ' => "w",
        'Ý' | 'Ŷ' | 'Ÿ' => "Y",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_accents_covers_french_and_latin_extended_a() {
        assert_eq!(
            strip_accents("Éloïse Cœur-Lætitia Straße Ça Łódź Ørsted"),
            "Eloise Coeur-Laetitia Strasse Ca Lodz Orsted"
        );
    }

    #[test]
    fn padded_number_pads_or_keeps_the_id_whole() {
        assert_eq!(padded_number("WEB", "29", 8), "WEB00029");
        assert_eq!(padded_number("PREST", "652", 9), "PREST0652");
        assert_eq!(padded_number("WEB", "123456789", 8), "WEB123456789");
    }
}
