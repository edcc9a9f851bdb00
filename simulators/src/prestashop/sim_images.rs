//! The simulator's product images (`/api/images/products/…`), as PrestaShop's
//! `WebserviceSpecificManagementImages` answers them: XML list of `<declination>`s, upload
//! by multipart field `image` (a content that is not GIF/JPEG/PNG/WebP is refused with
//! HTTP 400, code 73), delete by id. What was stored stays inspectable for tests
//! ([`PrestaShopSim::product_images`]). Sources: see `images.rs`.

use super::{api_err, error_response, find_bytes, ApiError, PrestaShopSim, SimState};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

/// One stored image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimImage {
    /// Image id.
    pub id: u64,
    /// The uploaded file's name.
    pub file_name: String,
    /// The bytes as received.
    pub bytes: Vec<u8>,
}

/// Images by product id.
#[derive(Debug, Default)]
pub(super) struct Images {
    by_product: BTreeMap<u64, Vec<SimImage>>,
    next_id: u64,
}

impl PrestaShopSim {
    /// The images of product `product_id`, in upload order.
    pub fn product_images(&self, product_id: u64) -> Vec<SimImage> {
        let g = super::lock(&self.state);
        g.images
            .by_product
            .get(&product_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Adds an image to a product directly (a shop that already had images).
    pub fn seed_image(&self, product_id: u64, file_name: &str, bytes: &[u8]) -> u64 {
        let mut g = super::lock(&self.state);
        store(&mut g, product_id, file_name, bytes.to_vec())
    }
}

fn store(g: &mut SimState, product_id: u64, file_name: &str, bytes: Vec<u8>) -> u64 {
    g.images.next_id += 1;
    let id = g.images.next_id;
    g.images
        .by_product
        .entry(product_id)
        .or_default()
        .push(SimImage {
            id,
            file_name: file_name.to_string(),
            bytes,
        });
    id
}

/// Handles `/api/images/…` (after authentication).
pub(super) fn handle(
    g: &mut SimState,
    method: &Method,
    segs: &[&str],
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    match answer(g, method, segs, headers, body) {
        Ok(xml) => (
            StatusCode::OK,
            [("content-type", "text/xml;charset=utf-8")],
            xml,
        )
            .into_response(),
        Err(e) if e.code == 0 => (e.status, "").into_response(),
        Err(e) => error_response(e, false),
    }
}

fn answer(
    g: &mut SimState,
    method: &Method,
    segs: &[&str],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, ApiError> {
    if segs.get(1) != Some(&"products") {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            60,
            "Image type does not exist",
        ));
    }
    let product: u64 = segs
        .get(2)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| api_err(StatusCode::BAD_REQUEST, 61, "Bad product id"))?;
    if g.shop.get("products", product).is_none() {
        return Err(api_err(StatusCode::NOT_FOUND, 66, "Product not found"));
    }
    let image: Option<u64> = segs.get(3).and_then(|s| s.parse().ok());
    match (method.clone(), image) {
        (Method::GET, None) if g.images.by_product.get(&product).is_none_or(Vec::is_empty) => {
            // PrestaShop answers a product without images with a bare 404
            // (`manageEntityDeclinatedImages`: `setStatus(404)`, no output).
            Err(ApiError {
                status: StatusCode::NOT_FOUND,
                code: 0,
                message: String::new(),
            })
        }
        (Method::GET, None) => {
            let mut xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prestashop xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n<image id=\"{product}\">"
            );
            for i in g.images.by_product.get(&product).into_iter().flatten() {
                xml.push_str(&format!(
                    "<declination id=\"{}\" xlink:href=\"/api/images/products/{product}/{}\"/>",
                    i.id, i.id
                ));
            }
            xml.push_str("</image>\n</prestashop>\n");
            Ok(xml)
        }
        (Method::POST, None) => {
            let ct = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let boundary = ct
                .split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
                .map(|b| b.trim_matches('"').to_string())
                .ok_or_else(|| {
                    api_err(
                        StatusCode::BAD_REQUEST,
                        76,
                        "Please set an \"image\" parameter with image data for value",
                    )
                })?;
            let (name, data) = image_part(body, &boundary).ok_or_else(|| {
                api_err(
                    StatusCode::BAD_REQUEST,
                    76,
                    "Please set an \"image\" parameter with image data for value",
                )
            })?;
            if passerelle_domain::catalog::media::image_format(&data).is_none() {
                return Err(api_err(
                    StatusCode::BAD_REQUEST,
                    73,
                    "This type of image format is not recognized, allowed formats are: image/gif\", \"image/jpg\", \"image/jpeg\", \"image/pjpeg\", \"image/png\", \"image/x-png\", \"image/webp",
                ));
            }
            let id = store(g, product, &name, data);
            Ok(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prestashop xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n<image>\n<id><![CDATA[{id}]]></id>\n<id_product><![CDATA[{product}]]></id_product>\n<position><![CDATA[{}]]></position>\n</image>\n</prestashop>\n",
                g.images.by_product.get(&product).map_or(0, Vec::len)
            ))
        }
        (Method::DELETE, Some(id)) => {
            let list = g.images.by_product.entry(product).or_default();
            let before = list.len();
            list.retain(|i| i.id != id);
            if list.len() == before {
                return Err(api_err(
                    StatusCode::BAD_REQUEST,
                    57,
                    "This image id does not exist",
                ));
            }
            Ok(String::new())
        }
        (Method::GET, Some(id)) => {
            // The image bytes are not needed by the client; answer like a missing one.
            let _ = id;
            Err(api_err(
                StatusCode::NOT_FOUND,
                67,
                "This image id does not exist",
            ))
        }
        _ => Err(api_err(
            StatusCode::METHOD_NOT_ALLOWED,
            20,
            "Method not allowed",
        )),
    }
}

/// The `image` part of a multipart body: (file name, bytes).
fn image_part(body: &[u8], boundary: &str) -> Option<(String, Vec<u8>)> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut at = 0;
    while let Some(start) = find_bytes(body, d, at) {
        let part_start = start + d.len();
        let end = find_bytes(body, d, part_start)?;
        let part = &body[part_start..end];
        at = end;
        let head_end = find_bytes(part, b"\r\n\r\n", 0)?;
        let head = String::from_utf8_lossy(&part[..head_end]).to_string();
        if !head.contains("name=\"image\"") {
            continue;
        }
        let name = head
            .split("filename=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .unwrap_or("image")
            .to_string();
        let mut data = part[head_end + 4..].to_vec();
        // The part ends with CRLF before the next delimiter.
        if data.ends_with(b"\r\n") {
            data.truncate(data.len() - 2);
        }
        return Some((name, data));
    }
    None
}

/// `PUT /api/attachments/{id}`: the attachment's `associations/products` (the product
/// documents); the file itself only changes through `attachments/file`.
pub(super) fn put_attachment(
    g: &mut SimState,
    id: &str,
    body: &[u8],
) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let xml = String::from_utf8_lossy(body);
    let products: Vec<serde_json::Value> = xml
        .split("<product>")
        .skip(1)
        .filter_map(|p| {
            let inner = p.split("</product>").next()?;
            let v = inner.split("<id>").nth(1)?.split("</id>").next()?;
            let v = v
                .trim()
                .trim_start_matches("<![CDATA[")
                .trim_end_matches("]]>")
                .trim();
            v.parse::<u64>().ok()?;
            Some(serde_json::json!({ "id": v }))
        })
        .collect();
    let n: u64 = id
        .parse()
        .map_err(|_| api_err(StatusCode::BAD_REQUEST, 87, "Bad id"))?;
    let Some(row) = g.shop.get_mut("attachments", n) else {
        return Err(api_err(
            StatusCode::NOT_FOUND,
            87,
            format!("Id(s) not exists: {id}"),
        ));
    };
    row.insert(
        "associations".into(),
        serde_json::json!({ "products": products }),
    );
    let row = row.clone();
    Ok((
        StatusCode::OK,
        serde_json::json!({ "attachment": row })
            .to_string()
            .into_bytes(),
    ))
}

impl PrestaShopSim {
    /// The documents (attachments) tied to product `product_id`: (file name, bytes).
    pub fn product_documents(&self, product_id: u64) -> Vec<(String, Vec<u8>)> {
        let g = super::lock(&self.state);
        let pid = product_id.to_string();
        g.shop
            .rows("attachments")
            .into_iter()
            .filter(|a| super::json::association_ids(a, "products").contains(&pid))
            .map(|a| {
                let id: u64 = super::text(a, "id").parse().unwrap_or(0);
                (
                    super::text(a, "file_name"),
                    g.files.get(&id).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }
}
