//! Combinations in the PrestaShop simulator: writes of `product_options` (attribute groups,
//! e.g. "Taille"), `product_option_values` (their values, e.g. "M") and `combinations`
//! (a product's variants), as the webservice does them. Reads go through the simulator's
//! generic list handler (filters, `display`, `limit`).
//!
//! Fields and required ones follow the resource pages of the webservice documentation:
//! <https://devdocs.prestashop-project.org/8/webservice/resources/product_options/>
//! (`is_color_group`, `group_type` required, multilingual `name` and `public_name` required),
//! <https://devdocs.prestashop-project.org/8/webservice/resources/product_option_values/>
//! (`id_attribute_group` required, `color`, `position`, multilingual `name` required) and
//! <https://devdocs.prestashop-project.org/8/webservice/resources/combinations/>
//! (`id_product` and `minimal_quantity` required, `reference` ≤ 64, `price` an impact that
//! may be negative, `default_on`, `associations/product_option_values`).
//!
//! Behaviour mirrored from PrestaShop's classes (1.7 / 8): every child element of
//! `<prestashop>` is saved in turn and the first refusal stops the call (as in
//! `sim_catalog`); names are `isGenericName` (no `< > = { }`); adding a combination creates
//! its `stock_availables` row at quantity 0 (`Combination::add`); a combination saved with
//! `default_on` 1 becomes the product's only default and sets the product's
//! `id_default_combination` / `cache_default_attribute`; updating a combination's stock row
//! keeps the product's own row (`id_product_attribute` 0) at the sum of its combinations
//! (`StockAvailable::postSave`).

use super::sim_catalog::{answer, elements, parse, Node};
use super::{api_err, d6, now_ps, obj, s, ApiError, SimShop};
use axum::http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

/// Which calls this module serves.
pub(super) fn handles(method: &Method, resource: &str) -> bool {
    let write = *method == Method::POST || *method == Method::PUT || *method == Method::PATCH;
    write
        && matches!(
            resource,
            "product_options" | "product_option_values" | "combinations"
        )
}

/// Serves one write; the answer is JSON like the rest of the simulator's.
pub(super) fn write(
    shop: &mut SimShop,
    method: &Method,
    resource: &str,
    url_id: Option<&str>,
    body: &[u8],
) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let root = parse(body)?;
    let one = match resource {
        "product_options" => "product_option",
        "product_option_values" => "product_option_value",
        _ => "combination",
    };
    let elements = elements(&root, one, method, url_id)?;
    let post = *method == Method::POST;
    let mut saved = Vec::new();
    for e in elements {
        let id = match resource {
            "product_options" => save_option(shop, method, e)?,
            "product_option_values" => save_value(shop, method, e)?,
            _ => save_combination(shop, method, e)?,
        };
        saved.push(shop.get(resource, id).cloned().unwrap_or_default());
    }
    Ok(answer(post, one, resource, saved))
}

fn get(e: &Node, f: &str) -> Option<String> {
    e.child(f).map(|n| n.text.trim().to_string())
}

/// The languages of a multilingual field (`<name><language id="1">…`), or its plain text
/// as language 1.
fn langs(e: &Node, f: &str) -> Option<Vec<(String, String)>> {
    e.child(f).map(|n| {
        let l: Vec<(String, String)> = n
            .children
            .iter()
            .filter(|c| c.name == "language")
            .map(|c| {
                let id = c
                    .attrs
                    .iter()
                    .find(|(k, _)| k == "id")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                (id, c.text.trim().to_string())
            })
            .collect();
        if l.is_empty() {
            vec![("1".to_string(), n.text.trim().to_string())]
        } else {
            l
        }
    })
}

fn invalid(class: &str, field: &str) -> ApiError {
    api_err(
        StatusCode::BAD_REQUEST,
        85,
        format!("Validation error: \"Property {class}->{field} is not valid\""),
    )
}

fn required(class: &str, field: &str) -> ApiError {
    api_err(
        StatusCode::BAD_REQUEST,
        41,
        format!("parameter \"{field}\" required ({class})"),
    )
}

/// `Validate::isGenericName`: no `< > = { }`; and the field's maximum size.
fn generic_name(v: &str, max: usize) -> bool {
    !v.contains(['<', '>', '=', '{', '}']) && v.chars().count() <= max
}

/// A required multilingual name: present on create/replace, non-empty in the first
/// language, every language valid.
fn check_name(
    e: &Node,
    field: &str,
    class: &str,
    max: usize,
    creating: bool,
) -> Result<Option<Value>, ApiError> {
    match langs(e, field) {
        None if creating => Err(api_err(
            StatusCode::BAD_REQUEST,
            84,
            format!("Validation error: \"Property {class}->{field} is empty.\""),
        )),
        None => Ok(None),
        Some(l) => {
            if l.first().is_none_or(|(_, v)| v.is_empty()) {
                return Err(api_err(
                    StatusCode::BAD_REQUEST,
                    84,
                    format!("Validation error: \"Property {class}->{field} is empty.\""),
                ));
            }
            if l.iter().any(|(_, v)| !generic_name(v, max)) {
                return Err(invalid(class, field));
            }
            Ok(Some(Value::Array(
                l.into_iter()
                    .map(|(id, v)| json!({"id": id, "value": v}))
                    .collect(),
            )))
        }
    }
}

/// The row to write: a new one (POST) or the existing one named by `<id>` (404 code 92
/// when unknown).
fn target(
    shop: &mut SimShop,
    resource: &str,
    method: &Method,
    e: &Node,
    fresh: Vec<(&str, Value)>,
) -> Result<u64, ApiError> {
    if *method == Method::POST {
        return Ok(shop.insert(resource, obj(fresh)));
    }
    let id: u64 = get(e, "id").and_then(|i| i.parse().ok()).unwrap_or(0);
    if shop.get(resource, id).is_none() {
        return Err(api_err(StatusCode::NOT_FOUND, 92, "Invalid ID"));
    }
    Ok(id)
}

fn save_option(shop: &mut SimShop, method: &Method, e: &Node) -> Result<u64, ApiError> {
    let creating = *method != Method::PATCH;
    let name = check_name(e, "name", "AttributeGroup", 128, creating)?;
    let public = check_name(e, "public_name", "AttributeGroup", 64, creating)?;
    let group_type = get(e, "group_type");
    match group_type.as_deref() {
        None if creating => return Err(required("AttributeGroup", "group_type")),
        Some(t) if !matches!(t, "select" | "radio" | "color") => {
            return Err(invalid("AttributeGroup", "group_type"))
        }
        _ => {}
    }
    let colour = get(e, "is_color_group");
    if colour.as_deref().is_some_and(|c| !matches!(c, "0" | "1")) {
        return Err(invalid("AttributeGroup", "is_color_group"));
    }
    let position = shop.rows("product_options").len();
    let id = target(
        shop,
        "product_options",
        method,
        e,
        vec![
            ("is_color_group", s("0")),
            ("group_type", s("select")),
            ("position", s(position)),
            ("name", json!([])),
            ("public_name", json!([])),
        ],
    )?;
    let Some(row) = shop.get_mut("product_options", id) else {
        return Err(api_err(StatusCode::NOT_FOUND, 92, "Invalid ID"));
    };
    for (k, v) in [("group_type", group_type), ("is_color_group", colour)] {
        if let Some(v) = v {
            row.insert(k.into(), s(v));
        }
    }
    for (k, v) in [("name", name), ("public_name", public)] {
        if let Some(v) = v {
            row.insert(k.into(), v);
        }
    }
    Ok(id)
}

fn save_value(shop: &mut SimShop, method: &Method, e: &Node) -> Result<u64, ApiError> {
    let creating = *method != Method::PATCH;
    let name = check_name(e, "name", "Attribute", 128, creating)?;
    let group = get(e, "id_attribute_group");
    match &group {
        None if creating => return Err(required("Attribute", "id_attribute_group")),
        Some(g)
            if g.parse::<u64>()
                .ok()
                .and_then(|g| shop.get("product_options", g))
                .is_none() =>
        {
            return Err(invalid("Attribute", "id_attribute_group"));
        }
        _ => {}
    }
    let id = target(
        shop,
        "product_option_values",
        method,
        e,
        vec![
            ("id_attribute_group", s("0")),
            ("color", s("")),
            ("position", s("0")),
            ("name", json!([])),
        ],
    )?;
    let Some(row) = shop.get_mut("product_option_values", id) else {
        return Err(api_err(StatusCode::NOT_FOUND, 92, "Invalid ID"));
    };
    if let Some(g) = group {
        row.insert("id_attribute_group".into(), s(g));
    }
    if let Some(c) = get(e, "color") {
        row.insert("color".into(), s(c));
    }
    if let Some(n) = name {
        row.insert("name".into(), n);
    }
    Ok(id)
}

fn save_combination(shop: &mut SimShop, method: &Method, e: &Node) -> Result<u64, ApiError> {
    let post = *method == Method::POST;
    let creating = *method != Method::PATCH;
    let product = get(e, "id_product");
    let product_id: Option<u64> = match &product {
        None if creating => return Err(required("Combination", "id_product")),
        None => None,
        Some(p) => match p
            .parse::<u64>()
            .ok()
            .filter(|p| shop.get("products", *p).is_some())
        {
            Some(p) => Some(p),
            None => return Err(invalid("Combination", "id_product")),
        },
    };
    let minimal = get(e, "minimal_quantity");
    match &minimal {
        None if creating => return Err(required("Combination", "minimal_quantity")),
        Some(m) if m.parse::<u32>().is_err() => {
            return Err(invalid("Combination", "minimal_quantity"))
        }
        _ => {}
    }
    let price = get(e, "price");
    if let Some(p) = &price {
        if Decimal::from_str(p).is_err() {
            return Err(invalid("Combination", "price"));
        }
    }
    let reference = get(e, "reference");
    if reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > 64 || !super::sim_validate::is_reference(r))
    {
        return Err(invalid("Combination", "reference"));
    }
    let default = get(e, "default_on");
    if default
        .as_deref()
        .is_some_and(|d| !matches!(d, "" | "0" | "1"))
    {
        return Err(invalid("Combination", "default_on"));
    }
    let values: Option<Vec<String>> = e
        .child("associations")
        .and_then(|a| a.child("product_option_values"))
        .map(|v| {
            v.children
                .iter()
                .filter_map(|c| c.child("id"))
                .map(|i| i.text.trim().to_string())
                .collect()
        });
    if let Some(vs) = &values {
        for v in vs {
            if v.parse::<u64>()
                .ok()
                .and_then(|v| shop.get("product_option_values", v))
                .is_none()
            {
                return Err(api_err(
                    StatusCode::BAD_REQUEST,
                    85,
                    format!("Validation error: product option value {v} does not exist"),
                ));
            }
        }
    }
    let id = target(
        shop,
        "combinations",
        method,
        e,
        vec![
            ("id_product", s("0")),
            ("reference", s("")),
            ("ean13", s("")),
            ("price", s(d6(Decimal::ZERO))),
            ("weight", s(d6(Decimal::ZERO))),
            ("minimal_quantity", s("1")),
            ("default_on", s("")),
            ("associations", json!({"product_option_values": []})),
        ],
    )?;
    let Some(row) = shop.get_mut("combinations", id) else {
        return Err(api_err(StatusCode::NOT_FOUND, 92, "Invalid ID"));
    };
    if let Some(p) = product_id {
        row.insert("id_product".into(), s(p));
    }
    if let Some(r) = reference {
        row.insert("reference".into(), s(r));
    }
    if let Some(p) = price.and_then(|p| Decimal::from_str(&p).ok()) {
        row.insert("price".into(), s(d6(p)));
    }
    if let Some(m) = minimal {
        row.insert("minimal_quantity".into(), s(m));
    }
    // PrestaShop stores a non-default combination's `default_on` as NULL (empty here).
    let is_default = default.as_deref() == Some("1");
    if default.is_some() {
        row.insert("default_on".into(), s(if is_default { "1" } else { "" }));
    }
    if let Some(vs) = values {
        let ids: Vec<Value> = vs.iter().map(|v| json!({"id": v})).collect();
        row.insert(
            "associations".into(),
            json!({ "product_option_values": ids }),
        );
    }
    row.insert("date_upd".into(), s(now_ps()));
    let pid: u64 = row
        .get("id_product")
        .and_then(Value::as_str)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    if post {
        shop.insert(
            "stock_availables",
            obj(vec![
                ("id_product", s(pid)),
                ("id_product_attribute", s(id)),
                ("id_shop", s("1")),
                ("id_shop_group", s("0")),
                ("quantity", s("0")),
                ("depends_on_stock", s("0")),
                ("out_of_stock", s("2")),
                ("location", s("")),
            ]),
        );
    }
    if is_default {
        let others: Vec<u64> = shop
            .rows("combinations")
            .into_iter()
            .filter(|c| text_of(c, "id_product") == pid.to_string())
            .filter_map(|c| c.get("id").and_then(Value::as_u64))
            .filter(|c| *c != id)
            .collect();
        for o in others {
            if let Some(c) = shop.get_mut("combinations", o) {
                c.insert("default_on".into(), s(""));
            }
        }
        if let Some(p) = shop.get_mut("products", pid) {
            p.insert("id_default_combination".into(), s(id));
            p.insert("cache_default_attribute".into(), s(id));
        }
    }
    Ok(id)
}

fn text_of(o: &serde_json::Map<String, Value>, f: &str) -> String {
    match o.get(f) {
        Some(Value::String(x)) => x.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// After a combination's stock row changed: the product's own row (attribute 0) holds the
/// sum of its combinations' rows, as `StockAvailable::postSave` keeps it.
pub(super) fn sync_product_quantity(shop: &mut SimShop, stock_row: u64) {
    let Some(row) = shop.get("stock_availables", stock_row) else {
        return;
    };
    let (pid, attr) = (
        text_of(row, "id_product"),
        text_of(row, "id_product_attribute"),
    );
    if attr == "0" || attr.is_empty() {
        return;
    }
    let mut total = 0i64;
    let mut own = None;
    for r in shop.rows("stock_availables") {
        if text_of(r, "id_product") != pid {
            continue;
        }
        if text_of(r, "id_product_attribute") == "0" {
            own = r.get("id").and_then(Value::as_u64);
        } else {
            total += text_of(r, "quantity").parse::<i64>().unwrap_or(0);
        }
    }
    if let Some(own) = own {
        if let Some(r) = shop.get_mut("stock_availables", own) {
            r.insert("quantity".into(), s(total));
        }
    }
}
