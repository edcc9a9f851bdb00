//! Customer writes of the PrestaShop simulator: `POST`/`PATCH`/`PUT` of `customers` and
//! `addresses`, `POST groups`, with the checks the webservice makes from each resource's
//! definition (PrestaShop devdocs "Resources for Customers / Addresses / Groups",
//! <https://devdocs.prestashop-project.org/8/webservice/resources/customers>,
//! `…/addresses`, `…/groups`):
//!
//! * a customer needs `passwd`, `lastname`, `firstname` and `email` (code 41 `parameter
//!   "…" required` when absent), an `isEmail` e-mail and `isCustomerName` names (no digits
//!   nor `!<>,;?=+()@#"°{}_$%:`; code 85 `Validation error`); its groups must exist;
//! * an address needs `id_customer`, `id_country`, `alias`, `lastname`, `firstname`,
//!   `address1` and `city`; the country and the customer must exist;
//! * a group needs a `name` in at least one language, `reduction`, `price_display_method`
//!   and `show_prices`;
//! * POST refuses an `<id>` (code 91); PATCH/PUT want the URL's id in the body (code 90 /
//!   89); PATCH changes only the fields sent; `associations/groups` replaces the list.
//!
//! Standard groups exist from the start, as in a fresh PrestaShop: 1 Visiteur, 2 Invité,
//! 3 Client.

use super::sim_catalog::{parse, Node};
use super::{api_err, now_ps, obj, s, ApiError, SimShop};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

/// Which calls this module serves (the others go to the generic handlers).
pub(super) fn handles(method: &Method, resource: &str, with_id: bool) -> bool {
    let post = *method == Method::POST && !with_id;
    let change = (*method == Method::PATCH || *method == Method::PUT) && with_id;
    match resource {
        "customers" | "addresses" => post || change,
        "groups" => post,
        _ => false,
    }
}

/// The standard groups of a fresh shop.
pub(super) fn seed_groups(shop: &mut SimShop) {
    for (id, name) in [(1, "Visiteur"), (2, "Invité"), (3, "Client")] {
        shop.put(
            "groups",
            id,
            obj(vec![
                ("reduction", s("0.00")),
                ("price_display_method", s("0")),
                ("show_prices", s("1")),
                ("date_add", s(now_ps())),
                ("date_upd", s(now_ps())),
                ("name", json!([{"id": "1", "value": name}])),
            ]),
        );
    }
}

fn invalid(class: &str, field: &str) -> ApiError {
    api_err(
        StatusCode::BAD_REQUEST,
        85,
        format!("Validation error: \"Property {class}->{field} is not valid.\""),
    )
}

fn required(field: &str) -> ApiError {
    api_err(
        StatusCode::BAD_REQUEST,
        41,
        format!("parameter \"{field}\" required"),
    )
}

/// `Validate::isEmail`, near enough: one `@`, a dotted domain, no spaces.
fn is_email(v: &str) -> bool {
    match v.split_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && !d.contains('@')
                && d.split('.').count() >= 2
                && d.split('.').all(|p| !p.is_empty())
                && !v.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// `isCustomerName` / `isName` (8.x `CustomerNameValidator::PATTERN_NAME`), size 255.
fn is_customer_name(v: &str) -> bool {
    super::sim_validate::is_customer_name(v) && v.chars().count() <= 255
}

/// `company` is `isGenericName` (Customer and Address).
fn check_company(class: &str, company: Option<String>) -> Result<(), ApiError> {
    match company {
        Some(c) => super::sim_validate::field(
            class,
            "company",
            &c,
            Some(255),
            super::sim_validate::is_generic_name,
            false,
        ),
        None => Ok(()),
    }
}

/// Serves one call; the body is JSON like the rest of the simulator's answers.
pub(super) fn write(
    shop: &mut SimShop,
    method: &Method,
    resource: &str,
    url_id: Option<&str>,
    body: &[u8],
) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let root = parse(body)?;
    let one = match resource {
        "customers" => "customer",
        "addresses" => "address",
        _ => "group",
    };
    let e = match root.children.as_slice() {
        [e] if e.name == one => e,
        _ => {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                127,
                format!("XML error : <{one}> expected"),
            ))
        }
    };
    let get = |f: &str| e.child(f).map(|n| n.text.trim().to_string());
    let post = *method == Method::POST;
    if post && get("id").is_some_and(|i| !i.is_empty()) {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            91,
            "id is forbidden when adding a new resource",
        ));
    }
    let id: u64 = if post {
        0
    } else {
        let body_id = get("id").unwrap_or_default();
        if body_id.is_empty() {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                90,
                "id is required when modifying a resource",
            ));
        }
        if Some(body_id.as_str()) != url_id {
            return Err(api_err(StatusCode::BAD_REQUEST, 89, "id is invalid"));
        }
        let id = body_id.parse().unwrap_or(0);
        if shop.get(resource, id).is_none() {
            return Err(api_err(
                StatusCode::NOT_FOUND,
                87,
                format!("Id(s) not exists: {body_id}"),
            ));
        }
        id
    };
    let full = post || *method == Method::PUT;
    let id = match resource {
        "customers" => save_customer(shop, e, id, full)?,
        "addresses" => save_address(shop, e, id, full)?,
        _ => save_group(shop, e)?,
    };
    let row = shop.get(resource, id).cloned().unwrap_or_default();
    let status = if post {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, json!({ one: row }).to_string().into_bytes()))
}

/// Scalar fields of an element (direct children without children of their own).
fn scalars(e: &Node) -> Vec<(String, String)> {
    e.children
        .iter()
        .filter(|c| c.children.is_empty() && c.name != "id")
        .map(|c| (c.name.clone(), c.text.trim().to_string()))
        .collect()
}

fn save_customer(shop: &mut SimShop, e: &Node, id: u64, full: bool) -> Result<u64, ApiError> {
    let fields = scalars(e);
    let get = |f: &str| fields.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone());
    if full {
        for f in ["passwd", "lastname", "firstname", "email"] {
            if get(f).is_none_or(|v| v.is_empty()) && !(f == "passwd" && id != 0) {
                return Err(required(f));
            }
        }
    }
    if let Some(m) = get("email") {
        if !is_email(&m) {
            return Err(invalid("Customer", "email"));
        }
    }
    for f in ["lastname", "firstname"] {
        if let Some(v) = get(f) {
            if !is_customer_name(&v) {
                return Err(invalid("Customer", f));
            }
        }
    }
    check_company("Customer", get("company"))?;
    let groups: Option<Vec<String>> =
        e.child("associations")
            .and_then(|a| a.child("groups"))
            .map(|g| {
                g.children
                    .iter()
                    .filter_map(|c| c.child("id").map(|i| i.text.trim().to_string()))
                    .collect()
            });
    let group_ok = |g: &str| {
        g.parse::<u64>()
            .ok()
            .and_then(|n| shop.get("groups", n))
            .is_some()
    };
    if let Some(gs) = &groups {
        if gs.iter().any(|g| !group_ok(g)) {
            return Err(invalid("Customer", "groupBox"));
        }
    }
    if let Some(g) = get("id_default_group") {
        if !group_ok(&g) {
            return Err(invalid("Customer", "id_default_group"));
        }
    }
    let now = now_ps();
    let id = if id == 0 {
        shop.insert(
            "customers",
            obj(vec![
                ("id_default_group", s("3")),
                ("id_lang", s("1")),
                ("lastname", s("")),
                ("firstname", s("")),
                ("email", s("")),
                ("note", s("")),
                ("is_guest", s("0")),
                ("company", s("")),
                ("siret", s("")),
                ("ape", s("")),
                ("newsletter", s("0")),
                ("optin", s("0")),
                ("active", s("1")),
                ("deleted", s("0")),
                ("date_add", s(&now)),
                ("date_upd", s(&now)),
                ("associations", json!({"groups": [{"id": "3"}]})),
            ]),
        )
    } else {
        id
    };
    let Some(row) = shop.get_mut("customers", id) else {
        return Err(api_err(StatusCode::NOT_FOUND, 87, "Id(s) not exists"));
    };
    for (k, v) in fields {
        if k == "passwd" {
            // Stored hashed by PrestaShop and never served back: the simulator keeps a
            // marker only.
            row.insert("passwd".into(), s("***"));
            continue;
        }
        row.insert(k, s(v));
    }
    if let Some(gs) = groups {
        let list: Vec<Value> = gs.iter().map(|g| json!({"id": g})).collect();
        row.insert("associations".into(), json!({ "groups": list }));
    }
    row.insert("date_upd".into(), s(&now));
    Ok(id)
}

fn save_address(shop: &mut SimShop, e: &Node, id: u64, full: bool) -> Result<u64, ApiError> {
    let fields = scalars(e);
    let get = |f: &str| fields.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone());
    if full {
        for f in [
            "id_customer",
            "id_country",
            "alias",
            "lastname",
            "firstname",
            "address1",
            "city",
        ] {
            if get(f).is_none_or(|v| v.is_empty()) {
                return Err(required(f));
            }
        }
    }
    if let Some(c) = get("id_country") {
        if c.parse::<u64>()
            .ok()
            .and_then(|n| shop.get("countries", n))
            .is_none()
        {
            return Err(invalid("Address", "id_country"));
        }
    }
    if let Some(c) = get("id_customer") {
        if c.parse::<u64>()
            .ok()
            .and_then(|n| shop.get("customers", n))
            .is_none()
        {
            return Err(invalid("Address", "id_customer"));
        }
    }
    for f in ["lastname", "firstname"] {
        if let Some(v) = get(f) {
            if !is_customer_name(&v) {
                return Err(invalid("Address", f));
            }
        }
    }
    check_company("Address", get("company"))?;
    let now = now_ps();
    let id = if id == 0 {
        shop.insert(
            "addresses",
            obj(vec![
                ("id_customer", s("0")),
                ("id_manufacturer", s("0")),
                ("id_supplier", s("0")),
                ("id_warehouse", s("0")),
                ("id_country", s("0")),
                ("id_state", s("0")),
                ("alias", s("")),
                ("company", s("")),
                ("lastname", s("")),
                ("firstname", s("")),
                ("vat_number", s("")),
                ("address1", s("")),
                ("address2", s("")),
                ("postcode", s("")),
                ("city", s("")),
                ("other", s("")),
                ("phone", s("")),
                ("phone_mobile", s("")),
                ("dni", s("")),
                ("deleted", s("0")),
                ("date_add", s(&now)),
                ("date_upd", s(&now)),
            ]),
        )
    } else {
        id
    };
    let Some(row) = shop.get_mut("addresses", id) else {
        return Err(api_err(StatusCode::NOT_FOUND, 87, "Id(s) not exists"));
    };
    for (k, v) in fields {
        row.insert(k, s(v));
    }
    row.insert("date_upd".into(), s(&now));
    Ok(id)
}

fn save_group(shop: &mut SimShop, e: &Node) -> Result<u64, ApiError> {
    let names: Vec<Value> = e
        .child("name")
        .map(|n| {
            n.children
                .iter()
                .filter(|c| c.name == "language" && !c.text.trim().is_empty())
                .map(|c| {
                    let id = c
                        .attrs
                        .iter()
                        .find(|(k, _)| k == "id")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_else(|| "1".into());
                    json!({"id": id, "value": c.text.trim()})
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        return Err(required("name"));
    }
    let fields = scalars(e);
    let get = |f: &str| fields.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone());
    for f in ["reduction", "price_display_method", "show_prices"] {
        if get(f).is_none_or(|v| v.is_empty()) {
            return Err(required(f));
        }
    }
    let now = now_ps();
    Ok(shop.insert(
        "groups",
        obj(vec![
            ("reduction", s(get("reduction").unwrap_or_default())),
            (
                "price_display_method",
                s(get("price_display_method").unwrap_or_default()),
            ),
            ("show_prices", s(get("show_prices").unwrap_or_default())),
            ("date_add", s(&now)),
            ("date_upd", s(&now)),
            ("name", Value::Array(names)),
        ]),
    ))
}
