//! Product images through the PrestaShop webservice (FEATURES §3.1 "Images"), the
//! [`ShopMedia`] of the article export.
//!
//! * list: `GET /api/images/products/{id_product}` — XML `<image>` with one
//!   `<declination id="N">` per image (the image resource answers XML whatever the
//!   output format);
//! * add: `POST /api/images/products/{id_product}`, multipart field `image`; the answer is
//!   the new image (`<image><id>N</id>…`). A file whose content type is not an image is
//!   refused with HTTP 400, error code 73 « This type of image format is not recognized,
//!   allowed formats are: … » (`WebserviceSpecificManagementImages`);
//! * delete: `DELETE /api/images/products/{id_product}/{id_image}` (an id the product does
//!   not have: HTTP 400, code 57 « This image id does not exist »).
//!
//! A product without any image answers the list with a bare HTTP 404.
//!
//! Documents (manuals, sheets) are product attachments: the file is uploaded with
//! `POST /api/attachments/file` (multipart `file`, `name`), then the attachment is tied
//! to the product through its `associations/products` (`PUT /api/attachments/{id}`, the
//! whole object). An attachment of the same `file_name` already tied to the product is
//! reused: a re-run attaches nothing twice. Source:
//! <https://devdocs.prestashop-project.org/8/webservice/resources/attachments/> (blank
//! schema with `associations/products/product/id`).
//!
//! Sources: <https://devdocs.prestashop-project.org/8/webservice/tutorials/advanced-use/image-management/>
//! (`reference/cms-apis.md` §1, `PS-docs:webservice/tutorials/advanced-use/image-management.md`)
//! and PrestaShop's `classes/webservice/WebserviceSpecificManagementImages.php`.

use super::{check_id, classify, transport, PrestaShopClient};
use crate::cms::prestashop::model::{association_ids, text};
use async_trait::async_trait;
use passerelle_domain::catalog::media::image_format;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{ShopImage, ShopMedia};
use reqwest::{Method, StatusCode};

impl PrestaShopClient {
    async fn images_call(
        &self,
        method: Method,
        path: &str,
        form: Option<reqwest::multipart::Form>,
    ) -> Result<(StatusCode, Vec<u8>), StepError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api))
            .basic_auth(&self.key, Some(""));
        if let Some(f) = form {
            req = req.multipart(f);
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await.map_err(transport)?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok((status, body.to_vec()));
        }
        Err(classify(status, retry_after.as_deref(), &body, path))
    }
}

#[async_trait]
impl ShopMedia for PrestaShopClient {
    async fn images(&self, product_id: &str) -> Result<Vec<ShopImage>, StepError> {
        check_id(product_id)?;
        let path = format!("images/products/{product_id}");
        let (status, body) = self.images_call(Method::GET, &path, None).await?;
        if status == StatusCode::NOT_FOUND {
            // A product without any image.
            return Ok(Vec::new());
        }
        Ok(declination_ids(&String::from_utf8_lossy(&body))
            .into_iter()
            .map(|id| ShopImage { id })
            .collect())
    }

    async fn add_image(
        &self,
        product_id: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<String, StepError> {
        check_id(product_id)?;
        // PrestaShop trusts the part's content type: send the one the bytes show.
        let mime = image_format(bytes).unwrap_or("application/octet-stream");
        let part = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(file_name.to_string())
            .mime_str(mime)
            .map_err(|e| StepError::permanent(format!("image : {e}")))?;
        let form = reqwest::multipart::Form::new().part("image", part);
        let path = format!("images/products/{product_id}");
        let (status, body) = self.images_call(Method::POST, &path, Some(form)).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(StepError::permanent(format!(
                "produit PrestaShop {product_id} introuvable (product not found)"
            )));
        }
        element_text(&String::from_utf8_lossy(&body), "id").ok_or_else(|| {
            StepError::permanent("réponse d'envoi d'image sans identifiant (no image id)")
        })
    }

    async fn delete_image(&self, product_id: &str, image_id: &str) -> Result<(), StepError> {
        check_id(product_id)?;
        check_id(image_id)?;
        let path = format!("images/products/{product_id}/{image_id}");
        match self.images_call(Method::DELETE, &path, None).await {
            Ok(_) => Ok(()),
            // Code 57 « This image id does not exist »: already gone (a re-run, or the
            // merchant deleted it), which is what was asked.
            Err(StepError::Permanent(m)) if m.contains("image id does not exist") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn attach_document(
        &self,
        product_id: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<(String, bool), StepError> {
        check_id(product_id)?;
        // PrestaShop keeps `file_name` as given when it is a generic name.
        let name = super::sanitize_file_name(file_name);
        let same = self
            .list_by("attachments", "file_name", &name, "full")
            .await?;
        if let Some(a) = same.iter().find(|a| {
            association_ids(a, "products")
                .iter()
                .any(|p| p == product_id)
        }) {
            return Ok((text(a, "id"), false));
        }
        let id = self.upload_attachment(&name, bytes).await?;
        // The whole object goes back with the product added to its associations.
        let rows = self.list_by("attachments", "id", &id, "full").await?;
        let row = rows.first().ok_or_else(|| {
            StepError::permanent(format!("pièce jointe {id} introuvable après l'envoi"))
        })?;
        let mut products = association_ids(row, "products");
        products.push(product_id.to_string());
        let lang = |field: &str| -> String {
            match row.get(field) {
                Some(serde_json::Value::Array(ls)) => ls
                    .iter()
                    .map(|l| {
                        format!(
                            "<language id=\"{}\">{}</language>",
                            quick_xml::escape::escape(text_of(l, "id").as_str()),
                            quick_xml::escape::escape(text_of(l, "value").as_str())
                        )
                    })
                    .collect(),
                _ => format!(
                    "<language id=\"1\">{}</language>",
                    quick_xml::escape::escape(text(row, field).as_str())
                ),
            }
        };
        let mut xml = format!(
            "<prestashop><attachment><id>{id}</id><file>{}</file><file_name>{}</file_name><mime>{}</mime><name>{}</name><description>{}</description><associations><products>",
            quick_xml::escape::escape(text(row, "file").as_str()),
            quick_xml::escape::escape(text(row, "file_name").as_str()),
            quick_xml::escape::escape(text(row, "mime").as_str()),
            lang("name"),
            lang("description"),
        );
        for p in &products {
            xml.push_str(&format!("<product><id>{p}</id></product>"));
        }
        xml.push_str("</products></associations></attachment></prestashop>");
        self.call(Method::PUT, &format!("attachments/{id}"), &[], Some(xml))
            .await?;
        Ok((id, true))
    }
}

fn text_of(v: &serde_json::Value, key: &str) -> String {
    match v.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The `id` attributes of the `<declination>` elements.
fn declination_ids(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find("<declination") {
        rest = &rest[at + "<declination".len()..];
        let tag = rest.split('>').next().unwrap_or("");
        if let Some(v) = tag.split("id=\"").nth(1).and_then(|t| t.split('"').next()) {
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// The text of the first `<name>` element (CDATA or plain).
fn element_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    let t = xml[start..end].trim();
    let t = t
        .strip_prefix("<![CDATA[")
        .and_then(|x| x.strip_suffix("]]>"))
        .unwrap_or(t)
        .trim();
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_answers_are_read() {
        let list = r#"<prestashop><image id="3" xlink:href="x"><declination id="7" xlink:href="y"/><declination id="9" xlink:href="z"/></image></prestashop>"#;
        assert_eq!(declination_ids(list), vec!["7", "9"]);
        assert_eq!(
            element_text(
                "<prestashop><image><id><![CDATA[12]]></id></image></prestashop>",
                "id"
            ),
            Some("12".into())
        );
    }
}
