//! The BigCommerce REST transport: the store's API base, the access token, the shared
//! request gate, paging signals and error bodies.
//!
//! Facts (sources in `/work/shared/reference/`):
//! * base `https://api.bigcommerce.com/stores/{store_hash}` with `/v2/…` and `/v3/…`
//!   below; header `X-Auth-Token: {access_token}` (`cms-apis.md` §4,
//!   `specs/bigcommerce/orders.v2.oas2.yml` `securitySchemes`);
//! * **an empty v2 list is `204 No Content` with no body**, not `[]` (`platforms.md` §4);
//! * errors: v2 `[{status, message}]`, v3 `{status, title, type, errors}`
//!   (`platforms.md` §0.2 and §4);
//! * rate limit per store shared by all apps: `X-Rate-Limit-Requests-Left` /
//!   `-Time-Reset-Ms` / `-Requests-Quota` / `-Time-Window-Ms` on every answer, 429 over
//!   quota (wait `Time-Reset-Ms`) — see `gate.rs`.
//!
//! The token is never logged: the transport's `Debug` shows the base URL only, and error
//! messages name the path, never the headers.

use super::gate::{RateGate, RateStatus};
use passerelle_workflows::engine::StepError;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Largest answer read (bytes).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Attempts of one call inside a step on 429 / transient errors of an idempotent call.
const ATTEMPTS: u32 = 4;
/// Longest wait taken in place (a longer one goes back to the engine's retries).
const MAX_WAIT: Duration = Duration::from_secs(35);

/// One answer: status and body (`Value::Null` for a 204).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON (`Null` when empty).
    pub body: Value,
}

/// The raw bytes of an answer whose body may not parse (a broken order fails alone).
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub bytes: Vec<u8>,
}

impl RawAnswer {
    /// The body as JSON (`Null` for an empty body), or a French reason.
    pub fn json(&self, what: &str) -> Result<Value, String> {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.bytes)
            .map_err(|e| format!("réponse BigCommerce « {what} » illisible : JSON invalide ({e})"))
    }
}

/// The HTTP side of the client.
#[derive(Clone)]
pub struct Transport {
    base: String,
    store: String,
    token: String,
    http: reqwest::Client,
    gate: Option<RateGate>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Normalises the profile's URL to the store's API base `http(s)://host/stores/{hash}`
/// (a pasted `/v2`, `/v3` or trailing slash is cut). A URL without `/stores/{hash}` is
/// refused: the hash is the store's identity.
pub fn normalise_shop_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "adresse de l'API BigCommerce invalide : « {url} » (https://api.bigcommerce.com/stores/HASH attendu)"
        ));
    }
    let mut u = url.split(['?', '#']).next().unwrap_or(url).to_string();
    while u.ends_with('/') {
        u.pop();
    }
    for suffix in ["/v2", "/v3"] {
        if u.to_ascii_lowercase().ends_with(suffix) {
            u.truncate(u.len() - 3);
        }
    }
    let hash = store_hash(&u).ok_or_else(|| {
        format!("adresse de l'API BigCommerce sans « /stores/HASH » : « {url} » (https://api.bigcommerce.com/stores/HASH attendu)")
    })?;
    if !hash.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "identifiant de boutique BigCommerce invalide : « {hash} »"
        ));
    }
    Ok(u)
}

/// The store hash of a normalised base URL (its last `/stores/{hash}` segment).
pub fn store_hash(base: &str) -> Option<String> {
    let (_, rest) = base.rsplit_once("/stores/")?;
    let h = rest.trim_matches('/');
    (!h.is_empty() && !h.contains('/')).then(|| h.to_string())
}

fn header_i64(h: &reqwest::header::HeaderMap, name: &str) -> Option<i64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The rate figures of an answer (none when the headers are absent).
fn rate_status(h: &reqwest::header::HeaderMap) -> Option<RateStatus> {
    Some(RateStatus {
        left: header_i64(h, "x-rate-limit-requests-left")?,
        reset_ms: header_i64(h, "x-rate-limit-time-reset-ms")?,
        quota: header_i64(h, "x-rate-limit-requests-quota"),
        window_ms: header_i64(h, "x-rate-limit-time-window-ms"),
    })
}

impl Transport {
    /// A transport to the store at `url` with `token`, paced by `gate` when given.
    pub fn new(url: &str, token: &str, gate: Option<RateGate>) -> Result<Self, StepError> {
        let base = normalise_shop_url(url).map_err(StepError::permanent)?;
        let token = token.trim();
        if token.is_empty() {
            return Err(StepError::permanent(
                "jeton d'accès BigCommerce absent (X-Auth-Token du compte d'API)",
            ));
        }
        let store = store_hash(&base).unwrap_or_default();
        let http = crate::http::builder(Duration::from_secs(30))
            .build()
            .map_err(|e| StepError::permanent(format!("client HTTP : {e}")))?;
        Ok(Self {
            base,
            store,
            token: token.to_string(),
            http,
            gate,
        })
    }

    /// The store hash (the gate's key).
    pub fn store(&self) -> &str {
        &self.store
    }

    /// Waits for a request of the store's quota.
    async fn admit(&self) -> Result<(), StepError> {
        let Some(g) = &self.gate else { return Ok(()) };
        let started = std::time::Instant::now();
        loop {
            match g.take(&self.store).await? {
                None => return Ok(()),
                Some(wait) => {
                    if started.elapsed() + wait > MAX_WAIT * 2 {
                        return Err(StepError::Transient {
                            message: "quota de requêtes BigCommerce épuisé (attente)".into(),
                            retry_after: Some(wait),
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One request to `path` (`v2/orders`, `v3/inventory/…`), once.
    async fn once(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        keep: &[u16],
    ) -> Result<RawAnswer, StepError> {
        self.admit().await?;
        let mut req = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .query(query)
            .header("X-Auth-Token", &self.token)
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let rate = rate_status(resp.headers());
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if let (Some(g), Some(r)) = (&self.gate, rate) {
            if status == StatusCode::TOO_MANY_REQUESTS {
                g.exhausted(&self.store, r.reset_ms).await?;
            } else {
                g.report(&self.store, r).await?;
            }
        }
        if resp
            .content_length()
            .is_some_and(|l| l as usize > MAX_BODY_BYTES)
        {
            return Err(StepError::permanent(format!(
                "réponse BigCommerce trop volumineuse ({path})"
            )));
        }
        let bytes = resp.bytes().await.map_err(transport)?;
        if status.is_success() || keep.contains(&status.as_u16()) {
            return Ok(RawAnswer {
                status: status.as_u16(),
                bytes: bytes.to_vec(),
            });
        }
        // A 429 waits the store's reset (its headers), else Retry-After; a 429 without the
        // headers is platform load (platforms.md §4).
        let wait = match rate {
            Some(r) if status == StatusCode::TOO_MANY_REQUESTS => Some(Duration::from_millis(
                u64::try_from(r.reset_ms.max(0)).unwrap_or(0),
            )),
            _ => retry_after,
        };
        Err(classify(status, wait, &bytes, path))
    }

    /// A call retried in place on 429 (always: the store did not run it) and, for GETs
    /// and PUTs of absolute values, on other transient errors.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<RawAnswer, StepError> {
        self.raw_keeping(method, path, query, body, &[]).await
    }

    /// [`Transport::raw`], answers with a status of `keep` returned as they are (their
    /// body names the failing items of a batch).
    pub async fn raw_keeping(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        keep: &[u16],
    ) -> Result<RawAnswer, StepError> {
        let idempotent = matches!(method, Method::GET | Method::PUT);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.once(method.clone(), path, query, body, keep).await {
                Err(StepError::Transient {
                    message,
                    retry_after,
                }) if attempt < ATTEMPTS
                    && (idempotent || message.contains("HTTP 429"))
                    && retry_after.is_none_or(|w| w <= MAX_WAIT) =>
                {
                    let wait = retry_after
                        .unwrap_or(Duration::from_millis(100 * u64::from(attempt)))
                        .max(Duration::from_millis(10));
                    tracing::debug!(path, ?wait, "BigCommerce : nouvel essai après {message}");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// A call whose answer is JSON (`Null` for a 204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Answer, StepError> {
        let raw = self.raw(method, path, query, body).await?;
        let body = raw.json(path).map_err(StepError::permanent)?;
        Ok(Answer {
            status: raw.status,
            body,
        })
    }

    /// A GET whose answer is JSON.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Answer, StepError> {
        self.call(Method::GET, path, query, None).await
    }

    /// Every row of a v2 list: pages of `limit` until a `204` (the documented end) or a
    /// short page.
    pub async fn v2_all(
        &self,
        path: &str,
        query: &[(String, String)],
        limit: u32,
    ) -> Result<Vec<Value>, StepError> {
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let mut q = query.to_vec();
            q.push(("page".into(), page.to_string()));
            q.push(("limit".into(), limit.to_string()));
            let a = self.get(path, &q).await?;
            if a.status == 204 || a.body.is_null() {
                break;
            }
            let Value::Array(rows) = a.body else {
                return Err(StepError::permanent(format!(
                    "réponse BigCommerce « {path} » inattendue (liste attendue)"
                )));
            };
            let n = rows.len();
            out.extend(rows);
            if n < limit as usize {
                break;
            }
            page += 1;
        }
        Ok(out)
    }
}

fn transport(e: reqwest::Error) -> StepError {
    if e.is_timeout() {
        StepError::transient(format!("BigCommerce ne répond pas (délai dépassé) : {e}"))
    } else if e.is_connect() {
        StepError::transient(format!("BigCommerce injoignable : {e}"))
    } else {
        StepError::transient(format!("réseau : {e}"))
    }
}

/// The message of a v2 (`[{status, message}]`) or v3 (`{title, errors}`) error body.
pub fn error_message(body: &[u8]) -> String {
    let m = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(a)) => a
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" ; "),
        Ok(v) => v
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Err(_) => String::new(),
    };
    m.chars().take(500).collect()
}

/// Classifies a failed answer once (STYLE §7): 408, 429 and 5xx are transient (the wait
/// honoured); other 4xx are permanent with BigCommerce's own message.
pub fn classify(status: StatusCode, wait: Option<Duration>, body: &[u8], path: &str) -> StepError {
    let msg = error_message(body);
    let detail = if msg.is_empty() {
        String::new()
    } else {
        format!(" : {msg}")
    };
    if status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return StepError::Transient {
            message: format!("BigCommerce HTTP {} sur {path}{detail}", status.as_u16()),
            retry_after: wait,
        };
    }
    let hint = match status {
        StatusCode::UNAUTHORIZED => " (jeton d'accès refusé)",
        StatusCode::FORBIDDEN => " (droits du compte d'API insuffisants)",
        StatusCode::NOT_FOUND => " (introuvable)",
        StatusCode::PAYLOAD_TOO_LARGE => " (lot trop grand)",
        _ => "",
    };
    StepError::permanent(format!(
        "BigCommerce HTTP {} sur {path}{hint}{detail}",
        status.as_u16()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_store_hash() {
        assert_eq!(
            normalise_shop_url("https://api.bigcommerce.com/stores/abc123/v3/").as_deref(),
            Ok("https://api.bigcommerce.com/stores/abc123")
        );
        assert_eq!(
            store_hash("http://127.0.0.1:9/stores/p4ss").as_deref(),
            Some("p4ss")
        );
        assert!(normalise_shop_url("https://api.bigcommerce.com/").is_err());
        assert!(normalise_shop_url("api.bigcommerce.com/stores/x").is_err());
        assert!(normalise_shop_url("https://h/stores/a..b").is_err());
    }

    #[test]
    fn errors_carry_the_platform_message() {
        let e = classify(
            StatusCode::NOT_FOUND,
            None,
            br#"[{"status":404,"message":"The requested resource was not found."}]"#,
            "v2/orders/9",
        );
        assert!(e.to_string().contains("was not found"), "{e}");
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_millis(1200)),
            br#"{"status":429,"title":"You have exceeded your rate limit."}"#,
            "v2/orders",
        );
        assert!(
            matches!(e, StepError::Transient { retry_after: Some(d), .. } if d.as_millis() == 1200)
        );
    }
}
