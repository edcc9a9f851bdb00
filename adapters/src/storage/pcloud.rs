//! pCloud storage: `GET /listfolder?path=/images` (answer `metadata.contents[]` with
//! `name`, `isfolder`, `fileid`), then `GET /getfilelink?fileid=N` (answer `hosts[]` and
//! `path`) and the file from `https://{hosts[0]}{path}`. Every call carries the access
//! token as `auth`. pCloud answers HTTP 200 with a `result` code: 0 ok, 2005 « Directory
//! does not exist. », 2000 « Log in failed. », 4000 « Too many login tries… » (retried).
//! Accounts live in the US (`https://api.pcloud.com`) or the EU
//! (`https://eapi.pcloud.com`) region: the base URL is configurable.
//!
//! Sources: <https://docs.pcloud.com/methods/folder/listfolder.html>,
//! <https://docs.pcloud.com/methods/streaming/getfilelink.html>,
//! <https://docs.pcloud.com/errors/>.

use super::http::{body, client, status_error, transport};
use crate::secrets::Secret;
use async_trait::async_trait;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{FileStorage, StoredFile};
use serde_json::Value;

/// The public API (US region).
pub const API_URL: &str = "https://api.pcloud.com";

/// A pCloud account reached with an access token.
pub struct PcloudStorage {
    api: String,
    token: Secret,
    http: reqwest::Client,
    /// `http` for a simulator whose hosts are plain HTTP; `https` for pCloud.
    download_scheme: &'static str,
}

impl PcloudStorage {
    /// Against `api` (e.g. [`API_URL`]); downloads use the scheme of `api`.
    pub fn new(api: &str, token: Secret) -> Result<Self, StepError> {
        Ok(Self {
            download_scheme: if api.starts_with("http://") {
                "http"
            } else {
                "https"
            },
            api: api.trim_end_matches('/').to_string(),
            token,
            http: client()?,
        })
    }

    async fn call(&self, method: &str, query: &[(&str, String)]) -> Result<Value, StepError> {
        let resp = self
            .http
            .get(format!("{}/{method}", self.api))
            .query(&[("auth", self.token.expose())])
            .query(query)
            .send()
            .await
            .map_err(|e| transport("pCloud", e))?;
        let status = resp.status();
        let text = String::from_utf8_lossy(&body("pCloud", resp).await?).to_string();
        if !status.is_success() {
            return Err(status_error("pCloud", status, &text));
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| StepError::permanent(format!("réponse pCloud illisible : {e}")))?;
        match v["result"].as_i64() {
            Some(0) => Ok(v),
            Some(code) => {
                let msg = v["error"].as_str().unwrap_or("");
                let text = format!("pCloud {method} : erreur {code} {msg}");
                // 4000: too many tries; 5000: internal error — both pass.
                if code == 4000 || code >= 5000 {
                    Err(StepError::transient(text))
                } else {
                    Err(StepError::permanent(text))
                }
            }
            None => Err(StepError::permanent("réponse pCloud sans « result »")),
        }
    }
}

#[async_trait]
impl FileStorage for PcloudStorage {
    async fn list(&self, folder: &str) -> Result<Vec<StoredFile>, StepError> {
        let path = format!("/{}", folder.trim_matches('/'));
        let v = match self.call("listfolder", &[("path", path)]).await {
            Ok(v) => v,
            // 2005: directory does not exist — no file for this article.
            Err(StepError::Permanent(m)) if m.contains("erreur 2005") => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out: Vec<StoredFile> = v["metadata"]["contents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["isfolder"].as_bool() == Some(false))
            .filter_map(|e| {
                Some(StoredFile {
                    name: e["name"].as_str()?.to_string(),
                    locator: e["fileid"].as_u64()?.to_string(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn fetch(&self, file: &StoredFile) -> Result<Vec<u8>, StepError> {
        let v = self
            .call("getfilelink", &[("fileid", file.locator.clone())])
            .await?;
        let host = v["hosts"][0]
            .as_str()
            .ok_or_else(|| StepError::permanent("pCloud getfilelink : aucun hôte"))?;
        let path = v["path"]
            .as_str()
            .ok_or_else(|| StepError::permanent("pCloud getfilelink : aucun chemin"))?;
        let resp = self
            .http
            .get(format!("{}://{host}{path}", self.download_scheme))
            .send()
            .await
            .map_err(|e| transport("pCloud", e))?;
        let status = resp.status();
        let b = body("pCloud", resp).await?;
        if !status.is_success() {
            return Err(status_error("pCloud", status, &String::from_utf8_lossy(&b)));
        }
        Ok(b)
    }
}
