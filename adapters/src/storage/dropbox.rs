//! Dropbox (API v2) storage: a folder listed with `POST /2/files/list_folder` then
//! `/2/files/list_folder/continue` while `has_more` (cursor), files read with
//! `POST https://content.dropboxapi.com/2/files/download` (`Dropbox-API-Arg: {"path"}`),
//! `Authorization: Bearer <access token>`. A missing folder is HTTP 409 with
//! `error_summary` `path/not_found/…`; a bad token HTTP 401.
//!
//! Sources: <https://www.dropbox.com/developers/documentation/http/documentation#files-list_folder>,
//! `#files-list_folder-continue`, `#files-download`, and the SDKs' `ListFolderResult`
//! (`entries`, `cursor`, `has_more`:
//! <https://dropbox.github.io/dropbox-sdk-java/api-docs/v7.1.1/com/dropbox/core/v2/files/ListFolderResult.html>).

use super::http::{body, client, status_error, transport};
use crate::secrets::Secret;
use async_trait::async_trait;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{FileStorage, StoredFile};
use serde_json::{json, Value};

/// The public API hosts.
pub const API_URL: &str = "https://api.dropboxapi.com";
/// The public content host.
pub const CONTENT_URL: &str = "https://content.dropboxapi.com";

/// A Dropbox account (or app folder) reached with an access token.
pub struct DropboxStorage {
    api: String,
    content: String,
    token: Secret,
    http: reqwest::Client,
}

impl DropboxStorage {
    /// Against `api` and `content` base URLs (the public ones: [`API_URL`], [`CONTENT_URL`]).
    pub fn new(api: &str, content: &str, token: Secret) -> Result<Self, StepError> {
        Ok(Self {
            api: api.trim_end_matches('/').to_string(),
            content: content.trim_end_matches('/').to_string(),
            token,
            http: client()?,
        })
    }

    async fn rpc(&self, route: &str, arg: Value) -> Result<Option<Value>, StepError> {
        let resp = self
            .http
            .post(format!("{}/2/{route}", self.api))
            .bearer_auth(self.token.expose())
            .json(&arg)
            .send()
            .await
            .map_err(|e| transport("Dropbox", e))?;
        let status = resp.status();
        let text = String::from_utf8_lossy(&body("Dropbox", resp).await?).to_string();
        if status.as_u16() == 409 && text.contains("not_found") {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error("Dropbox", status, &text));
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StepError::permanent(format!("réponse Dropbox illisible : {e}")))
    }
}

#[async_trait]
impl FileStorage for DropboxStorage {
    async fn list(&self, folder: &str) -> Result<Vec<StoredFile>, StepError> {
        // The root is "" for Dropbox; any other path starts with "/".
        let f = folder.trim_matches('/');
        let path = if f.is_empty() {
            String::new()
        } else {
            format!("/{f}")
        };
        let mut out = Vec::new();
        let mut page = self
            .rpc("files/list_folder", json!({"path": path, "limit": 1000}))
            .await?;
        while let Some(p) = page {
            for e in p["entries"].as_array().into_iter().flatten() {
                if e[".tag"] == "file" {
                    if let (Some(name), Some(lower)) =
                        (e["name"].as_str(), e["path_lower"].as_str())
                    {
                        out.push(StoredFile {
                            name: name.to_string(),
                            locator: lower.to_string(),
                        });
                    }
                }
            }
            page = match (p["has_more"].as_bool(), p["cursor"].as_str()) {
                (Some(true), Some(c)) => {
                    self.rpc("files/list_folder/continue", json!({"cursor": c}))
                        .await?
                }
                _ => None,
            };
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn fetch(&self, file: &StoredFile) -> Result<Vec<u8>, StepError> {
        let resp = self
            .http
            .post(format!("{}/2/files/download", self.content))
            .bearer_auth(self.token.expose())
            .header("Dropbox-API-Arg", json!({"path": file.locator}).to_string())
            .send()
            .await
            .map_err(|e| transport("Dropbox", e))?;
        let status = resp.status();
        let b = body("Dropbox", resp).await?;
        if !status.is_success() {
            return Err(status_error(
                "Dropbox",
                status,
                &String::from_utf8_lossy(&b),
            ));
        }
        Ok(b)
    }
}
