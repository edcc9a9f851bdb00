//! Cloudinary storage through the Admin API: `GET /v1_1/{cloud_name}/resources/image/upload`
//! with `prefix` (public ids starting with the folder), `max_results` (≤ 500) and
//! `next_cursor` while the answer has one; HTTP Basic `api_key:api_secret`. Each resource
//! has `public_id`, `format` and `secure_url`, from which the file is downloaded (public
//! delivery URL, no credential). A file's name is the last segment of its public id plus
//! `.format`; only the folder's direct children are kept (a prefix also matches
//! `images/ABCD/…` when listing `images/ABC`).
//!
//! Sources: <https://cloudinary.com/documentation/admin_api_overview.md>,
//! <https://cloudinary.com/documentation/admin_api_resources_get_resources.md>.

use super::http::{body, client, status_error, transport};
use crate::secrets::Secret;
use async_trait::async_trait;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{FileStorage, StoredFile};
use serde_json::Value;

/// The public API.
pub const API_URL: &str = "https://api.cloudinary.com";

/// A Cloudinary product environment.
pub struct CloudinaryStorage {
    api: String,
    cloud: String,
    key: String,
    secret: Secret,
    http: reqwest::Client,
}

impl CloudinaryStorage {
    /// Cloud `cloud_name` at `api` (e.g. [`API_URL`]), API key and secret.
    pub fn new(api: &str, cloud_name: &str, key: &str, secret: Secret) -> Result<Self, StepError> {
        if cloud_name.trim().is_empty() {
            return Err(StepError::permanent(
                "nom de cloud Cloudinary non renseigné (no cloud name)",
            ));
        }
        Ok(Self {
            api: api.trim_end_matches('/').to_string(),
            cloud: cloud_name.trim().to_string(),
            key: key.to_string(),
            secret,
            http: client()?,
        })
    }
}

#[async_trait]
impl FileStorage for CloudinaryStorage {
    async fn list(&self, folder: &str) -> Result<Vec<StoredFile>, StepError> {
        let f = folder.trim_matches('/');
        let prefix = if f.is_empty() {
            String::new()
        } else {
            format!("{f}/")
        };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![
                ("prefix", prefix.clone()),
                ("max_results", "500".to_string()),
            ];
            if let Some(c) = &cursor {
                query.push(("next_cursor", c.clone()));
            }
            let resp = self
                .http
                .get(format!(
                    "{}/v1_1/{}/resources/image/upload",
                    self.api, self.cloud
                ))
                .basic_auth(&self.key, Some(self.secret.expose()))
                .query(&query)
                .send()
                .await
                .map_err(|e| transport("Cloudinary", e))?;
            let status = resp.status();
            let text = String::from_utf8_lossy(&body("Cloudinary", resp).await?).to_string();
            if !status.is_success() {
                return Err(status_error("Cloudinary", status, &text));
            }
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| StepError::permanent(format!("réponse Cloudinary illisible : {e}")))?;
            for r in v["resources"].as_array().into_iter().flatten() {
                let (Some(id), Some(url)) = (r["public_id"].as_str(), r["secure_url"].as_str())
                else {
                    continue;
                };
                let Some(rest) = id.strip_prefix(&prefix) else {
                    continue;
                };
                if rest.is_empty() || rest.contains('/') {
                    continue;
                }
                let name = match r["format"].as_str() {
                    Some(fmt) if !fmt.is_empty() => format!("{rest}.{fmt}"),
                    _ => rest.to_string(),
                };
                out.push(StoredFile {
                    name,
                    locator: url.to_string(),
                });
            }
            match v["next_cursor"].as_str() {
                Some(c) if !c.is_empty() && cursor.as_deref() != Some(c) => {
                    cursor = Some(c.to_string())
                }
                _ => break,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn fetch(&self, file: &StoredFile) -> Result<Vec<u8>, StepError> {
        let resp = self
            .http
            .get(&file.locator)
            .send()
            .await
            .map_err(|e| transport("Cloudinary", e))?;
        let status = resp.status();
        let b = body("Cloudinary", resp).await?;
        if !status.is_success() {
            return Err(status_error(
                "Cloudinary",
                status,
                &String::from_utf8_lossy(&b),
            ));
        }
        Ok(b)
    }
}
