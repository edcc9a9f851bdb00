//! Catalogue writes of the PrestaShop simulator: `POST`, `PUT` and `PATCH` of `products`
//! and batched `PUT`/`PATCH` of `stock_availables`, as the webservice does them
//! (`WebserviceRequest::saveEntityFromXml`, PrestaShop/PrestaShop
//! `classes/webservice/WebserviceRequest.php`):
//!
//! * every child element of `<prestashop>` is saved in turn; the first refusal stops the
//!   call with its error (elements before it stay saved);
//! * POST refuses an `<id>` (400, code 91); PUT/PATCH want one per element (code 90) and no
//!   repeat (code 89); an unknown id answers 404 `Invalid ID` (code 92);
//! * multilingual fields are `<name><language id="1">…</language></name>`; PATCH changes
//!   only the fields (and languages) sent, PUT empties the optional fields not sent;
//! * a product needs `price` (code 41 when absent) and a name (code 84), a valid
//!   `link_rewrite` (code 84) and a non-negative price (code 85); creating one also
//!   creates its `stock_availables` row at quantity 0, as `Product::add` does.

use super::{api_err, d6, now_ps, obj, s, ApiError, SimShop};
use axum::http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::str::FromStr;

/// Multilingual product fields.
const I18N: &[&str] = &[
    "name",
    "description",
    "description_short",
    "meta_title",
    "meta_description",
    "meta_keywords",
    "link_rewrite",
];

/// Scalar product fields the simulator stores.
const SCALAR: &[&str] = &[
    "reference",
    "price",
    "id_tax_rules_group",
    "active",
    "state",
    "weight",
    "id_category_default",
    "ean13",
    "id_manufacturer",
    "width",
    "height",
    "depth",
];

/// Which calls this module serves (the others go to the generic handlers).
pub(super) fn handles(method: &Method, resource: &str, with_id: bool) -> bool {
    let write = *method == Method::POST || *method == Method::PUT || *method == Method::PATCH;
    match resource {
        "products" => write,
        "stock_availables" => !with_id && *method != Method::POST && write,
        "categories" | "manufacturers" => *method == Method::POST,
        _ => false,
    }
}

#[path = "sim_links.rs"]
mod sim_links;

pub(super) struct Node {
    pub(super) name: String,
    pub(super) attrs: Vec<(String, String)>,
    pub(super) text: String,
    pub(super) children: Vec<Node>,
}

impl Node {
    pub(super) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
}

pub(super) fn parse(body: &[u8]) -> Result<Node, ApiError> {
    use quick_xml::events::Event;
    let bad = |m: String| api_err(StatusCode::BAD_REQUEST, 127, format!("XML error : {m}"));
    let text = std::str::from_utf8(body).map_err(|e| bad(e.to_string()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node {
        name: String::new(),
        attrs: Vec::new(),
        text: String::new(),
        children: Vec::new(),
    }];
    let open = |e: &quick_xml::events::BytesStart<'_>| Node {
        name: String::from_utf8_lossy(e.name().as_ref()).to_string(),
        attrs: e
            .attributes()
            .flatten()
            .map(|a| {
                (
                    String::from_utf8_lossy(a.key.as_ref()).to_string(),
                    String::from_utf8_lossy(&a.value).to_string(),
                )
            })
            .collect(),
        text: String::new(),
        children: Vec::new(),
    };
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(e) => stack.push(open(&e)),
            Event::Empty(e) => {
                let n = open(&e);
                if let Some(top) = stack.last_mut() {
                    top.children.push(n);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text
                        .push_str(&t.unescape().map_err(|e| bad(e.to_string()))?);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c.into_inner()));
                }
            }
            Event::End(_) => {
                let Some(n) = stack.pop() else {
                    return Err(bad("unbalanced".into()));
                };
                match stack.last_mut() {
                    Some(top) => top.children.push(n),
                    None => return Err(bad("unbalanced".into())),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack
        .pop()
        .filter(|_| stack.is_empty())
        .ok_or_else(|| bad("unbalanced".into()))?;
    match root.children.pop() {
        Some(p) if p.name == "prestashop" => Ok(p),
        _ => Err(bad("root element must be <prestashop>".into())),
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
        "products" => "product",
        "categories" => "category",
        "manufacturers" => "manufacturer",
        _ => "stock_available",
    };
    let elements = elements(&root, one, method, url_id)?;
    let post = *method == Method::POST;
    let mut saved = Vec::new();
    for e in elements {
        let id = match resource {
            "products" => save_product(shop, method, e)?,
            "categories" => save_category(shop, e)?,
            "manufacturers" => save_manufacturer(shop, e)?,
            _ => save_stock(shop, e)?,
        };
        saved.push(shop.get(resource, id).cloned().unwrap_or_default());
    }
    Ok(answer(post, one, resource, saved))
}

/// The elements of a write body, checked as `WebserviceRequest::saveEntityFromXml` does:
/// only `<one>` children (127), no `<id>` on POST (91), on PUT/PATCH one distinct `<id>`
/// per element (89, 90) matching the URL's when there is one (89).
pub(super) fn elements<'a>(
    root: &'a Node,
    one: &str,
    method: &Method,
    url_id: Option<&str>,
) -> Result<Vec<&'a Node>, ApiError> {
    let elements: Vec<&Node> = root.children.iter().collect();
    if elements.is_empty() || elements.iter().any(|e| e.name != one) {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            127,
            format!("XML error : <{one}> expected"),
        ));
    }
    let ids: Vec<String> = elements
        .iter()
        .filter_map(|e| e.child("id").map(|i| i.text.trim().to_string()))
        .filter(|i| !i.is_empty())
        .collect();
    if *method == Method::POST {
        if !ids.is_empty() {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                91,
                "id is forbidden when adding a new resource",
            ));
        }
        return Ok(elements);
    }
    if ids.iter().collect::<BTreeSet<_>>().len() != ids.len() {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            89,
            "id is duplicate in request",
        ));
    }
    if ids.len() != elements.len() {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            90,
            "id is required when modifying a resource",
        ));
    }
    if let Some(u) = url_id {
        if ids.len() != 1 || ids[0] != u {
            return Err(api_err(StatusCode::BAD_REQUEST, 89, "id is invalid"));
        }
    }
    Ok(elements)
}

/// The answer to a write: 201 on POST, 200 otherwise; one saved element as `{one: …}`,
/// several as `{resource: […]}`.
pub(super) fn answer(
    post: bool,
    one: &str,
    resource: &str,
    saved: Vec<super::Obj>,
) -> (StatusCode, Vec<u8>) {
    let status = if post {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = if saved.len() == 1 {
        json!({ one: saved[0] })
    } else {
        json!({ resource: saved })
    };
    (status, body.to_string().into_bytes())
}

fn invalid(id: &str) -> ApiError {
    let _ = id;
    api_err(StatusCode::NOT_FOUND, 92, "Invalid ID")
}

fn save_product(shop: &mut SimShop, method: &Method, e: &Node) -> Result<u64, ApiError> {
    use super::sim_validate as v;
    let post = *method == Method::POST;
    let put = *method == Method::PUT;
    let get = |f: &str| e.child(f).map(|n| n.text.trim().to_string());
    // The fields loop of `saveEntityFromXml`: `'setter' => false` fields are refused
    // (93), an absent required one too on POST/PUT (41).
    for f in ["manufacturer_name", "quantity"] {
        if e.child(f).is_some() {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                93,
                format!("parameter \"{f}\" not writable. Please remove this attribute of this XML"),
            ));
        }
    }
    if (post || put) && get("price").is_none() {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            41,
            "parameter \"price\" required",
        ));
    }
    let langs = |f: &str| -> Option<Vec<(String, String)>> {
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
    };
    // POST's `ws_modifier` of `link_rewrite` (`Product::modifierWsLinkRewrite`): an empty
    // one is made from the name of its language, an invalid one through `str2url`. Not
    // applied on PUT/PATCH.
    let mut link = langs("link_rewrite");
    if post {
        let names = langs("name").unwrap_or_default();
        let mut l = link.unwrap_or_default();
        for (lang, _) in &names {
            if !l.iter().any(|(k, _)| k == lang) {
                l.push((lang.clone(), String::new()));
            }
        }
        for (lang, value) in l.iter_mut() {
            if value.is_empty() {
                let name = names
                    .iter()
                    .find(|(k, _)| k == lang)
                    .map(|(_, n)| n.as_str())
                    .unwrap_or("");
                *value = v::str2url(name);
            } else if !v::is_link_rewrite(value) {
                *value = v::str2url(value);
            }
        }
        link = (!l.is_empty()).then_some(l);
    }
    // `validateFieldsLang` (84), in `Product::$definition` order.
    type Rule = (&'static str, Option<usize>, fn(&str) -> bool);
    let lang_rules: [Rule; 7] = [
        ("meta_description", Some(512), v::is_generic_name),
        ("meta_keywords", Some(255), v::is_generic_name),
        ("meta_title", Some(255), v::is_generic_name),
        ("link_rewrite", Some(128), v::is_link_rewrite),
        ("name", Some(128), v::is_catalog_name),
        ("description", None, v::is_clean_html),
        ("description_short", None, v::is_clean_html),
    ];
    for (f, max, valid) in lang_rules {
        let values = if f == "link_rewrite" {
            link.clone()
        } else {
            langs(f)
        };
        for (_, value) in values.unwrap_or_default() {
            v::field("Product", f, &value, max, valid, true)?;
        }
    }
    let name_empty = langs("name").is_none_or(|l| l.iter().all(|(_, v)| v.is_empty()));
    if (post || put) && name_empty {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            84,
            "Validation error: \"Property Product->name is empty.\"",
        ));
    }
    // `validateFields` (85).
    let rules: [Rule; 7] = [
        ("reference", Some(64), v::is_reference),
        ("ean13", Some(13), v::is_ean13),
        ("price", None, v::is_price),
        ("width", None, v::is_unsigned_float),
        ("height", None, v::is_unsigned_float),
        ("depth", None, v::is_unsigned_float),
        ("weight", None, v::is_unsigned_float),
    ];
    for (f, max, valid) in rules {
        if let Some(value) = get(f) {
            v::field("Product", f, &value, max, valid, false)?;
        }
    }
    let url_product = (!post).then(|| get("id").and_then(|i| i.parse().ok()).unwrap_or(0));
    sim_links::check(shop, e, url_product)?;
    let now = now_ps();
    let id = if post {
        let id = shop.insert(
            "products",
            obj(vec![
                ("reference", s("")),
                ("price", s(d6(Decimal::ZERO))),
                ("id_tax_rules_group", s("0")),
                ("active", s("1")),
                ("state", s("1")),
                ("weight", s(d6(Decimal::ZERO))),
                ("id_category_default", s("2")),
                ("type", s("simple")),
                ("date_add", s(&now)),
                ("name", json!([])),
            ]),
        );
        shop.insert(
            "stock_availables",
            obj(vec![
                ("id_product", s(id)),
                ("id_product_attribute", s("0")),
                ("id_shop", s("1")),
                ("id_shop_group", s("0")),
                ("quantity", s("0")),
                ("depends_on_stock", s("0")),
                ("out_of_stock", s("2")),
                ("location", s("")),
            ]),
        );
        id
    } else {
        let id: u64 = get("id").and_then(|i| i.parse().ok()).unwrap_or(0);
        if shop.get("products", id).is_none() {
            return Err(invalid(&id.to_string()));
        }
        id
    };
    let Some(row) = shop.get_mut("products", id) else {
        return Err(invalid(&id.to_string()));
    };
    for f in SCALAR {
        match get(f) {
            Some(v) => {
                let v = if matches!(*f, "price" | "weight" | "width" | "height" | "depth") {
                    Decimal::from_str(&v).map(d6).unwrap_or(v)
                } else {
                    v
                };
                row.insert((*f).into(), s(v));
            }
            None if put && *f != "reference" => {
                row.insert((*f).into(), s(""));
            }
            None => {}
        }
    }
    for f in I18N {
        let values = if *f == "link_rewrite" {
            link.clone()
        } else {
            langs(f)
        };
        match values {
            Some(values) => {
                let mut current: Vec<Value> = match row.get(*f) {
                    Some(Value::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                for (lang, v) in values {
                    match current.iter_mut().find(|x| x["id"] == json!(lang)) {
                        Some(x) => x["value"] = json!(v),
                        None => current.push(json!({"id": lang, "value": v})),
                    }
                }
                row.insert((*f).into(), Value::Array(current));
            }
            None if put => {
                row.insert((*f).into(), json!([]));
            }
            None => {}
        }
    }
    if let Some(cats) = e.child("associations").and_then(|a| a.child("categories")) {
        let ids: Vec<Value> = cats
            .children
            .iter()
            .filter_map(|c| c.child("id"))
            .map(|i| json!({"id": i.text.trim()}))
            .collect();
        // Only the association sent is replaced: accessories and pack contents stay.
        let assoc = row.entry("associations").or_insert_with(|| json!({}));
        if !assoc.is_object() {
            *assoc = json!({});
        }
        assoc["categories"] = json!(ids);
    }
    sim_links::store(row, e);
    row.insert("date_upd".into(), s(now));
    Ok(id)
}

/// `POST manufacturers`: `name` is required and must pass `isCatalogName` (no `<>;=#{}`,
/// at most 64 characters), per
/// <https://devdocs.prestashop-project.org/9/webservice/resources/manufacturers>.
fn save_manufacturer(shop: &mut SimShop, e: &Node) -> Result<u64, ApiError> {
    let name = e
        .child("name")
        .map(|n| n.text.trim().to_string())
        .unwrap_or_default();
    if name.is_empty() {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            41,
            "parameter \"name\" required",
        ));
    }
    if name.chars().count() > 64 || name.contains(['<', '>', ';', '=', '#', '{', '}']) {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            85,
            "Validation error: \"Property Manufacturer->name is not valid\"",
        ));
    }
    let active = e
        .child("active")
        .map(|n| n.text.trim().to_string())
        .unwrap_or_else(|| "0".into());
    let now = now_ps();
    Ok(shop.insert(
        "manufacturers",
        obj(vec![
            ("name", s(name)),
            ("active", s(active)),
            ("date_add", s(&now)),
            ("date_upd", s(now)),
        ]),
    ))
}

fn save_stock(shop: &mut SimShop, e: &Node) -> Result<u64, ApiError> {
    let id: u64 = e
        .child("id")
        .and_then(|i| i.text.trim().parse().ok())
        .unwrap_or(0);
    let Some(row) = shop.get_mut("stock_availables", id) else {
        return Err(invalid(&id.to_string()));
    };
    if let Some(q) = e.child("quantity") {
        if q.text.trim().parse::<i64>().is_err() {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                85,
                "Validation error: \"Property StockAvailable->quantity is not valid.\"",
            ));
        }
        row.insert("quantity".into(), s(q.text.trim()));
        super::sim_combinations::sync_product_quantity(shop, id);
    }
    Ok(id)
}

/// `POST categories`: a name (84 when empty), a valid `link_rewrite` (84), an existing
/// `id_parent` (85).
fn save_category(shop: &mut SimShop, e: &Node) -> Result<u64, ApiError> {
    let lang_of = |f: &str| -> String {
        e.child(f)
            .map(|n| {
                n.children
                    .iter()
                    .find(|c| c.name == "language")
                    .map_or_else(|| n.text.trim().to_string(), |c| c.text.trim().to_string())
            })
            .unwrap_or_default()
    };
    let name = lang_of("name");
    if name.is_empty() {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            84,
            "Validation error: \"Property Category->name is empty.\"",
        ));
    }
    // `Category::$definition`: name `isCatalogName`, 128 characters (lang field: 84).
    super::sim_validate::field(
        "Category",
        "name",
        &name,
        Some(128),
        super::sim_validate::is_catalog_name,
        true,
    )?;
    let slug = lang_of("link_rewrite");
    if slug.is_empty() || !super::sim_validate::is_link_rewrite(&slug) {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            84,
            "Validation error: \"Property Category->link_rewrite is not valid\"",
        ));
    }
    let parent = e
        .child("id_parent")
        .map(|n| n.text.trim().to_string())
        .unwrap_or_default();
    if parent
        .parse::<u64>()
        .ok()
        .and_then(|p| shop.get("categories", p))
        .is_none()
    {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            85,
            "Validation error: \"Property Category->id_parent is not valid\"",
        ));
    }
    let active = e
        .child("active")
        .map(|n| n.text.trim().to_string())
        .unwrap_or_else(|| "1".into());
    Ok(shop.insert(
        "categories",
        obj(vec![
            ("id_parent", s(parent)),
            ("active", s(active)),
            ("is_root_category", s("0")),
            ("name", json!([{"id": "1", "value": name}])),
            ("link_rewrite", json!([{"id": "1", "value": slug}])),
            ("date_add", s(now_ps())),
        ]),
    ))
}
