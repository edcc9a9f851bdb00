//! Simulators of the HTTP storage platforms (axum, like the shop and ERP simulators),
//! serving one in-memory file tree (`images/ABC/1.png` → bytes) with the platforms' own
//! paths, fields, paging and error shapes (see each client's module for the sources):
//!
//! * Dropbox: `POST /2/files/list_folder`, `/2/files/list_folder/continue` (`entries`,
//!   `cursor`, `has_more`), `POST /2/files/download` (`Dropbox-API-Arg`); 401
//!   `invalid_access_token`, 409 `path/not_found/`;
//! * pCloud: `GET /listfolder`, `GET /getfilelink` (`hosts`, `path`) and the download
//!   host; HTTP 200 with `result` 2000 (log in failed), 2005 (directory does not exist),
//!   2009 (file not found);
//! * Cloudinary: `GET /v1_1/{cloud}/resources/image/upload` (`prefix`, `max_results`,
//!   `next_cursor`), Basic authentication, 401 `{"error":{"message"}}`; files at their
//!   `secure_url`.
//!
//! Pages are small (`page_size`) so that tests go through the paging.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// Which platform a simulator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Dropbox API v2.
    Dropbox,
    /// pCloud.
    Pcloud,
    /// Cloudinary Admin API.
    Cloudinary,
}

struct SimState {
    platform: Platform,
    /// Bearer token (Dropbox), `auth` (pCloud), API secret (Cloudinary).
    secret: String,
    /// Cloudinary API key.
    key: String,
    files: BTreeMap<String, Vec<u8>>,
    page_size: usize,
    calls: BTreeMap<String, u32>,
    addr: Option<SocketAddr>,
}

type Shared = Arc<Mutex<SimState>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, SimState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running storage simulator.
pub struct StorageSim {
    addr: SocketAddr,
    state: Shared,
    task: JoinHandle<()>,
}

impl Drop for StorageSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StorageSim {
    /// Serves `platform` on 127.0.0.1 (any free port), accepting `secret` (and `key`, the
    /// Cloudinary API key), `page_size` entries per listing page.
    pub async fn start(
        platform: Platform,
        secret: &str,
        key: &str,
        page_size: usize,
    ) -> std::io::Result<StorageSim> {
        let state = Arc::new(Mutex::new(SimState {
            platform,
            secret: secret.to_string(),
            key: key.to_string(),
            files: BTreeMap::new(),
            page_size: page_size.max(1),
            calls: BTreeMap::new(),
            addr: None,
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        lock(&state).addr = Some(addr);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(StorageSim { addr, state, task })
    }

    /// Base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Puts a file (`images/ABC/1.png`).
    pub fn put(&self, path: &str, bytes: &[u8]) {
        lock(&self.state)
            .files
            .insert(path.trim_matches('/').to_string(), bytes.to_vec());
    }

    /// Calls received per route.
    pub fn calls(&self, route: &str) -> u32 {
        lock(&self.state).calls.get(route).copied().unwrap_or(0)
    }
}

/// The direct children of `folder`: (name, is folder, full path).
fn children(
    files: &BTreeMap<String, Vec<u8>>,
    folder: &str,
) -> Option<Vec<(String, bool, String)>> {
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let mut out: BTreeMap<String, (bool, String)> = BTreeMap::new();
    let mut exists = folder.is_empty();
    for path in files.keys() {
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        exists = true;
        match rest.split_once('/') {
            Some((dir, _)) => {
                out.insert(dir.to_string(), (true, format!("{prefix}{dir}")));
            }
            None => {
                out.insert(rest.to_string(), (false, path.clone()));
            }
        }
    }
    exists.then(|| out.into_iter().map(|(n, (d, p))| (n, d, p)).collect())
}

fn json_resp(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn handle(
    State(state): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params: HashMap<String, String> = Query::<HashMap<String, String>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let mut g = lock(&state);
    let path = uri.path().to_string();
    *g.calls.entry(path.clone()).or_insert(0) += 1;
    match g.platform {
        Platform::Dropbox => dropbox(&g, &path, &headers, &body),
        Platform::Pcloud => pcloud(&g, &path, &params),
        Platform::Cloudinary => cloudinary(&g, &path, &headers, &params),
    }
}

fn dropbox(g: &SimState, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(g.secret.as_str()) {
        return json_resp(
            StatusCode::UNAUTHORIZED,
            json!({"error_summary": "invalid_access_token/...", "error": {".tag": "invalid_access_token"}}),
        );
    }
    let not_found = || {
        json_resp(
            StatusCode::CONFLICT,
            json!({"error_summary": "path/not_found/..", "error": {".tag": "path", "path": {".tag": "not_found"}}}),
        )
    };
    let arg: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let page = |folder: &str, offset: usize| -> Response {
        let Some(all) = children(&g.files, folder) else {
            return not_found();
        };
        let entries: Vec<Value> = all
            .iter()
            .skip(offset)
            .take(g.page_size)
            .map(|(name, dir, p)| {
                json!({
                    ".tag": if *dir { "folder" } else { "file" },
                    "name": name,
                    "path_lower": format!("/{}", p.to_lowercase()),
                    "path_display": format!("/{p}"),
                    "id": format!("id:{}", p.len()),
                })
            })
            .collect();
        let next = offset + entries.len();
        let cursor = base64::engine::general_purpose::STANDARD.encode(format!("{next}|{folder}"));
        json_resp(
            StatusCode::OK,
            json!({"entries": entries, "cursor": cursor, "has_more": next < all.len()}),
        )
    };
    match path {
        "/2/files/list_folder" => {
            let folder = arg["path"].as_str().unwrap_or("").trim_matches('/');
            page(folder, 0)
        }
        "/2/files/list_folder/continue" => {
            let c = arg["cursor"].as_str().unwrap_or("");
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            match decoded.split_once('|') {
                Some((o, f)) => page(f, o.parse().unwrap_or(0)),
                None => json_resp(
                    StatusCode::CONFLICT,
                    json!({"error_summary": "reset/..", "error": {".tag": "reset"}}),
                ),
            }
        }
        "/2/files/download" => {
            let arg: Value = headers
                .get("dropbox-api-arg")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| serde_json::from_str(v).ok())
                .unwrap_or(Value::Null);
            let want = arg["path"]
                .as_str()
                .unwrap_or("")
                .trim_matches('/')
                .to_lowercase();
            match g.files.iter().find(|(p, _)| p.to_lowercase() == want) {
                Some((p, bytes)) => (
                    StatusCode::OK,
                    [
                        ("content-type", "application/octet-stream".to_string()),
                        (
                            "dropbox-api-result",
                            json!({"name": p, "size": bytes.len()}).to_string(),
                        ),
                    ],
                    bytes.clone(),
                )
                    .into_response(),
                None => not_found(),
            }
        }
        _ => (StatusCode::NOT_FOUND, "Unknown API function").into_response(),
    }
}

fn pcloud(g: &SimState, path: &str, params: &HashMap<String, String>) -> Response {
    let ok_auth = params.get("auth").map(String::as_str) == Some(g.secret.as_str());
    if let Some(rest) = path.strip_prefix("/dl/") {
        // The download host: no auth (the link is the credential), like pCloud's.
        let id: usize = rest
            .split('/')
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        return match g.files.values().nth(id.wrapping_sub(1)) {
            Some(b) if id > 0 => (StatusCode::OK, b.clone()).into_response(),
            _ => (StatusCode::NOT_FOUND, "Not found").into_response(),
        };
    }
    if !ok_auth {
        return json_resp(
            StatusCode::OK,
            json!({"result": 2000, "error": "Log in failed."}),
        );
    }
    // File ids: position in the tree, from 1.
    let file_id = |p: &str| g.files.keys().position(|k| k == p).map(|i| i + 1);
    match path {
        "/listfolder" => {
            let folder = params
                .get("path")
                .map(|p| p.trim_matches('/'))
                .unwrap_or("");
            let Some(all) = children(&g.files, folder) else {
                return json_resp(
                    StatusCode::OK,
                    json!({"result": 2005, "error": "Directory does not exist."}),
                );
            };
            let contents: Vec<Value> = all
                .iter()
                .map(|(name, dir, p)| {
                    if *dir {
                        json!({"name": name, "isfolder": true, "folderid": p.len(), "path": format!("/{p}")})
                    } else {
                        json!({"name": name, "isfolder": false, "fileid": file_id(p), "path": format!("/{p}"),
                               "size": g.files.get(p).map_or(0, Vec::len)})
                    }
                })
                .collect();
            json_resp(
                StatusCode::OK,
                json!({"result": 0, "metadata": {"path": format!("/{folder}"), "isfolder": true, "contents": contents}}),
            )
        }
        "/getfilelink" => {
            let id: usize = params
                .get("fileid")
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            match g.files.keys().nth(id.wrapping_sub(1)) {
                Some(p) if id > 0 => {
                    let name = p.rsplit('/').next().unwrap_or("f");
                    let host = g.addr.map(|a| a.to_string()).unwrap_or_default();
                    json_resp(
                        StatusCode::OK,
                        json!({"result": 0, "path": format!("/dl/{id}/{name}"), "hosts": [host], "expires": "Thu, 01 Jan 2099 00:00:00 +0000"}),
                    )
                }
                _ => json_resp(
                    StatusCode::OK,
                    json!({"result": 2009, "error": "File not found."}),
                ),
            }
        }
        _ => json_resp(
            StatusCode::OK,
            json!({"result": 2000, "error": "Invalid method."}),
        ),
    }
}

fn cloudinary(
    g: &SimState,
    path: &str,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Response {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // Delivery: /res/{cloud}/image/upload/{public_id}.{format}
    if segs.first() == Some(&"res") {
        let public = segs.get(4..).map(|s| s.join("/")).unwrap_or_default();
        return match g.files.get(&public) {
            Some(b) => (StatusCode::OK, b.clone()).into_response(),
            None => (StatusCode::NOT_FOUND, "Resource not found").into_response(),
        };
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if basic.as_deref() != Some(&format!("{}:{}", g.key, g.secret)) {
        return json_resp(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"message": "Invalid Signature or api_key"}}),
        );
    }
    if segs.len() != 5 || segs[0] != "v1_1" || segs[2..] != ["resources", "image", "upload"] {
        return json_resp(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": "Not found"}}),
        );
    }
    let cloud = segs[1];
    let prefix = params.get("prefix").cloned().unwrap_or_default();
    let max: usize = params
        .get("max_results")
        .and_then(|m| m.parse().ok())
        .unwrap_or(10)
        .clamp(1, 500)
        .min(g.page_size);
    let start: usize = params
        .get("next_cursor")
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // Sorted by public id (the stored path is public id + "." + format).
    let all: Vec<(&String, &Vec<u8>)> = g
        .files
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .collect();
    let addr = g.addr.map(|a| a.to_string()).unwrap_or_default();
    let resources: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|(p, b)| {
            let (public_id, format) = p.rsplit_once('.').unwrap_or((p.as_str(), ""));
            json!({
                "public_id": public_id,
                "format": format,
                "resource_type": "image",
                "type": "upload",
                "bytes": b.len(),
                "secure_url": format!("http://{addr}/res/{cloud}/image/upload/{p}"),
            })
        })
        .collect();
    let next = start + resources.len();
    let mut v = json!({"resources": resources});
    if next < all.len() {
        v["next_cursor"] =
            json!(base64::engine::general_purpose::STANDARD.encode(next.to_string()));
    }
    json_resp(StatusCode::OK, v)
}
