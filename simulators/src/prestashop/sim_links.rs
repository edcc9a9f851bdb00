//! Product links in the PrestaShop simulator's product writes: `type` (`simple`, `pack`,
//! `virtual`) and the `accessories` and `product_bundle` associations, each replaced as a
//! whole when sent (`Product::setWsAccessories` / `setWsProductBundle` delete then insert),
//! left as they are when not sent (PATCH). Product resource reference:
//! <https://devdocs.prestashop-project.org/8/webservice/resources/products/>.
//! Validation like the webservice's object checks: an unknown `type` (code 85); an
//! accessory or pack component that is not an existing product, the pack itself, or a
//! quantity below 1 (code 85).

use super::{Node, SimShop};
use crate::prestashop::{api_err, ApiError, Obj};
use axum::http::StatusCode;
use serde_json::{json, Value};

fn invalid(what: &str) -> ApiError {
    api_err(
        StatusCode::BAD_REQUEST,
        85,
        format!("Validation error: \"Property Product->{what} is not valid\""),
    )
}

/// The `<product>` children of an association (`<accessories>`, `<product_bundle>`).
fn items<'a>(e: &'a Node, name: &str) -> Option<Vec<&'a Node>> {
    e.child("associations")
        .and_then(|a| a.child(name))
        .map(|n| n.children.iter().filter(|c| c.name == "product").collect())
}

fn field(n: &Node, f: &str) -> String {
    n.child(f)
        .map(|c| c.text.trim().to_string())
        .unwrap_or_default()
}

/// Checks the links of a product element before anything is saved (`id`: the product's
/// own id on an update).
pub(super) fn check(shop: &SimShop, e: &Node, id: Option<u64>) -> Result<(), ApiError> {
    if let Some(t) = e.child("type") {
        if !matches!(t.text.trim(), "simple" | "pack" | "virtual") {
            return Err(invalid("type"));
        }
    }
    let exists = |n: &Node| {
        field(n, "id")
            .parse::<u64>()
            .ok()
            .filter(|i| Some(*i) != id)
            .and_then(|i| shop.get("products", i))
            .is_some()
    };
    for a in items(e, "accessories").unwrap_or_default() {
        if !exists(a) {
            return Err(invalid("accessories"));
        }
    }
    for b in items(e, "product_bundle").unwrap_or_default() {
        let q: u32 = field(b, "quantity").parse().unwrap_or(0);
        if !exists(b) || q < 1 {
            return Err(invalid("product_bundle"));
        }
    }
    Ok(())
}

/// Saves the links sent into the product row.
pub(super) fn store(row: &mut Obj, e: &Node) {
    if let Some(t) = e.child("type") {
        row.insert("type".into(), json!(t.text.trim()));
    }
    let acc = items(e, "accessories").map(|v| {
        v.iter()
            .map(|a| json!({"id": field(a, "id")}))
            .collect::<Vec<_>>()
    });
    let bundle = items(e, "product_bundle").map(|v| {
        v.iter()
            .map(|b| {
                json!({"id": field(b, "id"),
                    "id_product_attribute": if field(b, "id_product_attribute").is_empty() {
                        "0".to_string()
                    } else {
                        field(b, "id_product_attribute")
                    },
                    "quantity": field(b, "quantity")})
            })
            .collect::<Vec<_>>()
    });
    if acc.is_none() && bundle.is_none() {
        return;
    }
    let assoc = row.entry("associations").or_insert_with(|| json!({}));
    if !assoc.is_object() {
        *assoc = json!({});
    }
    if let Some(a) = acc {
        assoc["accessories"] = Value::Array(a);
    }
    if let Some(b) = bundle {
        assoc["product_bundle"] = Value::Array(b);
    }
}
