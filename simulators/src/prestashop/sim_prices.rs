//! Specific prices and customer groups in the PrestaShop simulator.
//!
//! * `groups` is served by the generic list/GET handlers (multilingual `name`), seeded with
//!   [`SimShop::add_group`];
//! * `specific_prices`: `POST` (no `<id>`, code 91), `PUT`/`PATCH specific_prices/{id}`
//!   (`<id>` equal to the URL's) and `DELETE specific_prices/{id}` (404 code 87 when absent),
//!   one `<specific_price>` per call. Like `SpecificPrice`'s definition
//!   (<https://devdocs.prestashop-project.org/8/webservice/resources/specific_prices/>),
//!   a save needs every required field (`id_shop`, `id_cart`, `id_product`, `id_currency`,
//!   `id_country`, `id_group`, `id_customer`, `price`, `from_quantity`, `reduction`,
//!   `reduction_tax`, `reduction_type`, `from`, `to`: 400 code 41 when one is missing),
//!   `price` ≥ -1 and `reduction` ≥ 0 (code 85), `reduction_type` `amount` or `percentage`
//!   (code 85), an existing product (code 85), and is refused as a duplicate when the same
//!   (product, attribute, shop, cart, currency, country, group, customer, quantity, from, to)
//!   already exists — the table's unique key, which PrestaShop reports as a failed save
//!   (500). A `PATCH` changes only the fields sent.

use super::{api_err, now_ps, obj, parse_entity, s, ApiError, SimShop};
use crate::prestashop::json::text;
use axum::http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::json;
use std::str::FromStr;

/// Fields a specific price must carry (PrestaShop `SpecificPrice::$definition`).
const REQUIRED: &[&str] = &[
    "id_shop",
    "id_cart",
    "id_product",
    "id_currency",
    "id_country",
    "id_group",
    "id_customer",
    "price",
    "from_quantity",
    "reduction",
    "reduction_tax",
    "reduction_type",
    "from",
    "to",
];

/// Optional fields, stored as `0` when absent.
const OPTIONAL: &[&str] = &[
    "id_shop_group",
    "id_product_attribute",
    "id_specific_price_rule",
];

/// The columns of the table's unique key.
const UNIQUE: &[&str] = &[
    "id_product",
    "id_product_attribute",
    "id_shop",
    "id_cart",
    "id_currency",
    "id_country",
    "id_group",
    "id_customer",
    "from_quantity",
    "from",
    "to",
];

impl SimShop {
    /// Adds a customer group named `name` (every language); returns its id.
    pub fn add_group(&mut self, name: &str) -> u64 {
        self.insert(
            "groups",
            obj(vec![
                ("reduction", s("0.00")),
                ("price_display_method", s("1")),
                ("show_prices", s("1")),
                ("date_add", s(now_ps())),
                ("date_upd", s(now_ps())),
                ("name", json!([{"id": "1", "value": name}])),
            ]),
        )
    }
}

impl SimShop {
    /// Adds a specific price as the merchant would in the back office: the fields given,
    /// the others at PrestaShop's defaults (0, `amount`, no dates); returns its id.
    pub fn add_specific_price(&mut self, fields: &[(&str, &str)]) -> u64 {
        let mut row = obj(vec![]);
        for f in REQUIRED.iter().chain(OPTIONAL) {
            let v = match *f {
                "reduction_type" => "amount",
                "from" | "to" => "0000-00-00 00:00:00",
                "from_quantity" | "reduction_tax" => "1",
                _ => "0",
            };
            row.insert((*f).into(), s(v));
        }
        for (k, v) in fields {
            row.insert((*k).into(), s(*v));
        }
        self.insert("specific_prices", row)
    }
}

/// Which calls this module serves.
pub(super) fn handles(method: &Method, resource: &str, with_id: bool) -> bool {
    resource == "specific_prices"
        && match *method {
            Method::POST => !with_id,
            Method::PUT | Method::PATCH | Method::DELETE => with_id,
            _ => false,
        }
}

fn missing(f: &str) -> ApiError {
    api_err(
        StatusCode::BAD_REQUEST,
        41,
        format!("parameter \"{f}\" required"),
    )
}

fn invalid_field(f: &str) -> ApiError {
    api_err(
        StatusCode::BAD_REQUEST,
        85,
        format!("Validation error: \"Property SpecificPrice->{f} is not valid\""),
    )
}

/// Serves one call.
pub(super) fn write(
    shop: &mut SimShop,
    method: &Method,
    url_id: Option<&str>,
    body: &[u8],
) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let not_found =
        |id: &str| api_err(StatusCode::NOT_FOUND, 87, format!("Id(s) not exists: {id}"));
    let url_num: Option<u64> = url_id.and_then(|i| i.parse().ok());
    if *method == Method::DELETE {
        let id = url_num.ok_or_else(|| not_found(url_id.unwrap_or("")))?;
        return match shop.remove("specific_prices", id) {
            Some(_) => Ok((StatusCode::OK, Vec::new())),
            None => Err(not_found(&id.to_string())),
        };
    }
    let fields = parse_entity(body, "specific_price")?;
    let get = |f: &str| {
        fields
            .iter()
            .find(|(k, _)| k == f)
            .map(|(_, v)| v.trim().to_string())
    };
    let post = *method == Method::POST;
    let patch = *method == Method::PATCH;
    match (post, get("id").filter(|i| !i.is_empty())) {
        (true, Some(_)) => {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                91,
                "id is forbidden when adding a new resource",
            ))
        }
        (false, None) => {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                90,
                "id is required when modifying a resource",
            ))
        }
        (false, Some(i)) if Some(i.as_str()) != url_id => {
            return Err(api_err(StatusCode::BAD_REQUEST, 89, "id is invalid"))
        }
        _ => {}
    }
    // The row as it will be saved: the current one (PATCH), or the fields sent.
    let mut row = match url_num {
        Some(id) => shop
            .get("specific_prices", id)
            .cloned()
            .ok_or_else(|| not_found(&id.to_string()))?,
        None => obj(vec![]),
    };
    if !patch {
        row.retain(|k, _| k == "id");
    }
    for f in REQUIRED.iter().chain(OPTIONAL) {
        if let Some(v) = get(f) {
            row.insert((*f).into(), s(v));
        }
    }
    for f in OPTIONAL {
        row.entry(*f).or_insert_with(|| s("0"));
    }
    for f in REQUIRED {
        if text(&row, f).is_empty() {
            return Err(missing(f));
        }
    }
    let num = |f: &str| Decimal::from_str(text(&row, f).trim()).ok();
    if num("price").is_none_or(|p| p < Decimal::NEGATIVE_ONE) {
        return Err(invalid_field("price"));
    }
    if num("reduction").is_none_or(|r| r < Decimal::ZERO) {
        return Err(invalid_field("reduction"));
    }
    if !matches!(
        text(&row, "reduction_type").as_str(),
        "amount" | "percentage"
    ) {
        return Err(invalid_field("reduction_type"));
    }
    if text(&row, "from_quantity").parse::<u32>().is_err() {
        return Err(invalid_field("from_quantity"));
    }
    for f in [
        "id_product",
        "id_group",
        "id_customer",
        "id_shop",
        "id_cart",
    ] {
        if text(&row, f).parse::<u64>().is_err() {
            return Err(invalid_field(f));
        }
    }
    let product: u64 = text(&row, "id_product").parse().unwrap_or(0);
    if shop.get("products", product).is_none() {
        return Err(invalid_field("id_product"));
    }
    let key = |r: &super::Obj| UNIQUE.iter().map(|f| text(r, f)).collect::<Vec<_>>();
    let mine = key(&row);
    let duplicate = shop
        .rows("specific_prices")
        .into_iter()
        .any(|o| text(o, "id") != text(&row, "id") && key(o) == mine);
    if duplicate {
        return Err(api_err(
            StatusCode::INTERNAL_SERVER_ERROR,
            46,
            "Unable to save resource (duplicate entry for key 'id_product_2')",
        ));
    }
    let id = match url_num {
        Some(id) => {
            row.remove("id");
            shop.put("specific_prices", id, row);
            id
        }
        None => shop.insert("specific_prices", row),
    };
    let saved = shop.get("specific_prices", id).cloned().unwrap_or_default();
    let status = if post {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        json!({ "specific_price": saved }).to_string().into_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut s = String::from("<prestashop><specific_price>");
        for (k, v) in fields {
            s.push_str(&format!("<{k}>{v}</{k}>"));
        }
        s.push_str("</specific_price></prestashop>");
        s.into_bytes()
    }

    const FULL: &[(&str, &str)] = &[
        ("id_shop", "0"),
        ("id_cart", "0"),
        ("id_currency", "0"),
        ("id_country", "0"),
        ("id_group", "3"),
        ("id_customer", "0"),
        ("price", "-1"),
        ("from_quantity", "1"),
        ("reduction", "0.1"),
        ("reduction_tax", "0"),
        ("reduction_type", "percentage"),
        ("from", "0000-00-00 00:00:00"),
        ("to", "0000-00-00 00:00:00"),
    ];

    #[test]
    fn writes_are_validated_like_the_webservice() {
        let mut shop = SimShop::new();
        let p = shop.add_product("SP-1", "Produit", Decimal::TEN, None, 1);
        let pid = p.to_string();
        let mut fields: Vec<(&str, &str)> = FULL.to_vec();
        fields.push(("id_product", &pid));
        // Every required field: a missing one is code 41.
        let without: Vec<(&str, &str)> = fields
            .iter()
            .copied()
            .filter(|(k, _)| *k != "reduction_type")
            .collect();
        let e = write(&mut shop, &Method::POST, None, &body(&without)).expect_err("refused");
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, 41));
        // A bad reduction type is code 85; an unknown product too.
        let mut bad = fields.clone();
        bad.retain(|(k, _)| *k != "reduction_type");
        bad.push(("reduction_type", "half"));
        let e = write(&mut shop, &Method::POST, None, &body(&bad)).expect_err("refused");
        assert_eq!(e.code, 85);
        let Ok((status, _)) = write(&mut shop, &Method::POST, None, &body(&fields)) else {
            panic!("a complete specific price is saved");
        };
        assert_eq!(status, StatusCode::CREATED);
        let row = shop.rows("specific_prices")[0].clone();
        assert_eq!(text(&row, "id_product_attribute"), "0");
        assert_eq!(text(&row, "reduction_type"), "percentage");
        // The unique key: the same price twice fails the save.
        let e = write(&mut shop, &Method::POST, None, &body(&fields)).expect_err("refused");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        // PATCH changes only what is sent; DELETE removes, twice is 404.
        let id = text(&row, "id");
        let patch = format!(
            "<prestashop><specific_price><id>{id}</id><reduction>0.2</reduction></specific_price></prestashop>"
        );
        assert!(write(&mut shop, &Method::PATCH, Some(&id), patch.as_bytes()).is_ok());
        let row = shop.rows("specific_prices")[0].clone();
        assert_eq!(text(&row, "reduction"), "0.2");
        assert_eq!(text(&row, "id_group"), "3");
        assert!(write(&mut shop, &Method::DELETE, Some(&id), b"").is_ok());
        let e = write(&mut shop, &Method::DELETE, Some(&id), b"").expect_err("refused");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }
}
