//! The Wix REST transport: API key and site header, the shared request gate, 429 waited
//! out, error bodies classified into step errors.
//!
//! Facts (sources in `/work/shared/reference/`):
//! * base `https://www.wixapis.com`; an API key in `Authorization` plus `wix-site-id` for
//!   site-level calls, never together with `wix-account-id` (`cms-apis.md` §5 "Auth");
//!   without the site: **428 `MISSING_METASITE_ID`** (`platforms.md` §6), which is the
//!   profile's fault: a configuration error, not a retry;
//! * errors `{message, details:{applicationError{code, description, data}} |
//!   {validationError{fieldViolations[]}}}` (`cms-apis.md` §5 "Errors");
//! * 200 requests per minute per app instance, 429 `RESOURCE_EXHAUSTED` above: every
//!   request first takes its place in the [`RateGate`] shared by our workers; a 429 all
//!   the same (another app of the site, a clock off) is waited out — `Retry-After` when
//!   sent, else a sixtieth of the window — a few times within the call, then handed to the
//!   engine as a transient error with that wait.
//!
//! The profile's one secret is `SITE_ID:API_KEY` (the site id is a GUID; a key alone is
//! sent alone, and Wix's 428 says what is missing). Neither is ever logged.

use super::gate::{RateGate, RateLimit};
use passerelle_workflows::engine::StepError;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Throttled answers waited out inside one call before the engine takes over.
const THROTTLE_WAITS: u32 = 4;
/// Transient failures of a read retried inside one call.
const READ_ATTEMPTS: u32 = 3;
/// Largest answer read (bytes).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The base URL as the client uses it: scheme and host (a path is kept for proxies), no
/// trailing slash; a bare host gets `https://`.
pub fn normalise_shop_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Ok("https://www.wixapis.com".into());
    }
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("https://{url}")
    };
    let lower = with_scheme.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "adresse de l'API Wix invalide : « {url} » (https://www.wixapis.com attendu)"
        ));
    }
    let mut u = with_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string();
    while u.ends_with('/') {
        u.pop();
    }
    if u.split("://").nth(1).is_none_or(str::is_empty) {
        return Err(format!("adresse de l'API Wix invalide : « {url} »"));
    }
    Ok(u)
}

/// `SITE_ID:API_KEY` → (site id when the left part is a GUID, API key).
pub fn split_credentials(credentials: &str) -> Result<(Option<String>, String), StepError> {
    let c = credentials.trim();
    let (site, key) = match c.split_once(':') {
        Some((s, k)) if is_guid(s.trim()) => (Some(s.trim().to_string()), k.trim().to_string()),
        _ => (None, c.to_string()),
    };
    if key.is_empty() {
        return Err(StepError::configuration(
            "clé d'API Wix vide (attendu « SITE_ID:CLÉ_API »)",
        ));
    }
    Ok((site, key))
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The HTTP side of the client.
#[derive(Clone)]
pub struct Transport {
    base: String,
    site: Option<String>,
    key: String,
    http: reqwest::Client,
    gate: RateGate,
    limit: RateLimit,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Transport")
            .field("base", &self.base)
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport to `base` with `credentials` (`SITE_ID:API_KEY`), paced by `gate`.
    pub fn new(
        base: &str,
        credentials: &str,
        gate: RateGate,
        limit: RateLimit,
    ) -> Result<Self, StepError> {
        let base = normalise_shop_url(base).map_err(StepError::configuration)?;
        let (site, key) = split_credentials(credentials)?;
        let http = crate::http::builder(Duration::from_secs(30))
            .build()
            .map_err(|e| StepError::permanent(format!("client HTTP : {e}")))?;
        Ok(Self {
            base,
            site,
            key,
            http,
            gate,
            limit,
        })
    }

    /// The app instance the gate counts for (the site; the key's site-less calls share one).
    fn instance(&self) -> String {
        format!("wix:{}", self.site.as_deref().unwrap_or("-"))
    }

    /// One request with its answer as JSON (an empty body is `{}`). Reads (`GET`, and the
    /// search `POST`s the caller marks `idempotent`) are retried in place on a transient
    /// failure; a 429 is waited out for every request (Wix did not run it).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Value, StepError> {
        let mut throttled = 0u32;
        let mut failed = 0u32;
        loop {
            let wait = self.gate.reserve(&self.instance()).await?;
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            match self.once(method.clone(), path, query, body).await {
                Err(Attempt::Throttled(wait)) => {
                    throttled += 1;
                    if throttled > THROTTLE_WAITS {
                        return Err(StepError::Transient {
                            message: format!("Wix HTTP 429 sur {path} : RESOURCE_EXHAUSTED (200 requêtes par minute)"),
                            retry_after: Some(wait),
                        });
                    }
                    tracing::info!(path, wait_ms = wait.as_millis() as u64, "Wix 429 : attente");
                    tokio::time::sleep(wait).await;
                }
                Err(Attempt::Failed(e @ StepError::Transient { .. })) if idempotent => {
                    failed += 1;
                    if failed >= READ_ATTEMPTS {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(failed))).await;
                }
                Err(Attempt::Failed(e)) => return Err(e),
                Ok(v) => return Ok(v),
            }
        }
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, Attempt> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query)
            .header("Authorization", &self.key);
        if let Some(site) = &self.site {
            req = req.header("wix-site-id", site);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Attempt::Failed(transport(e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if resp
            .content_length()
            .is_some_and(|l| l as usize > MAX_BODY_BYTES)
        {
            return Err(Attempt::Failed(StepError::permanent(format!(
                "réponse Wix trop volumineuse ({path})"
            ))));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Attempt::Failed(transport(e)))?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            let fallback = self.limit.window / self.limit.limit.max(1);
            return Err(Attempt::Throttled(
                retry_after.unwrap_or(fallback).min(Duration::from_secs(60)),
            ));
        }
        if !status.is_success() {
            return Err(Attempt::Failed(classify(status, retry_after, &bytes, path)));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Attempt::Failed(StepError::permanent(format!(
                "réponse Wix illisible sur {path} : JSON invalide ({e})"
            )))
        })
    }
}

enum Attempt {
    Throttled(Duration),
    Failed(StepError),
}

fn transport(e: reqwest::Error) -> StepError {
    if e.is_timeout() {
        StepError::transient(format!("Wix ne répond pas (délai dépassé) : {e}"))
    } else {
        StepError::transient(format!("Wix injoignable : {e}"))
    }
}

/// The `(code, description)` of a Wix error body (empty when it is not one).
pub fn error_parts(body: &[u8]) -> (String, String) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (String::new(), String::new());
    };
    let app = &v["details"]["applicationError"];
    let code = app["code"].as_str().unwrap_or_default().to_string();
    let mut text = app["description"]
        .as_str()
        .or_else(|| v["message"].as_str())
        .unwrap_or_default()
        .to_string();
    if let Some(f) = v["details"]["validationError"]["fieldViolations"].as_array() {
        let list: Vec<String> = f
            .iter()
            .map(|x| {
                format!(
                    "{} {}",
                    x["field"].as_str().unwrap_or(""),
                    x["description"].as_str().unwrap_or("")
                )
            })
            .collect();
        text = list.join(" ; ");
    }
    (code, text.chars().take(500).collect())
}

/// Classifies a failed answer once (STYLE §7): 5xx and 408 transient; 428
/// `MISSING_METASITE_ID` and 401/403 configuration errors; a site on Catalog V1 refused
/// clearly; other 4xx permanent with Wix's own words.
pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    path: &str,
) -> StepError {
    let (code, msg) = error_parts(body);
    let detail = match (code.is_empty(), msg.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" : {code}"),
        (true, false) => format!(" : {msg}"),
        (false, false) => format!(" : {msg} ({code})"),
    };
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return StepError::Transient {
            message: format!("Wix HTTP {} sur {path}{detail}", status.as_u16()),
            retry_after,
        };
    }
    if code == "MISSING_METASITE_ID" {
        return StepError::configuration(
            "identifiant de site Wix manquant : la clé du profil doit être « SITE_ID:CLÉ_API » \
             (en-tête wix-site-id ; Wix HTTP 428 MISSING_METASITE_ID)",
        );
    }
    if code.starts_with("CATALOG_V1") {
        return catalog_v1();
    }
    match status {
        StatusCode::UNAUTHORIZED => StepError::configuration(format!(
            "clé d'API Wix refusée (HTTP 401 sur {path}){detail}"
        )),
        StatusCode::FORBIDDEN => StepError::configuration(format!(
            "clé d'API Wix sans droit sur ce site (HTTP 403 sur {path}){detail}"
        )),
        _ => StepError::permanent(format!("Wix HTTP {} sur {path}{detail}", status.as_u16())),
    }
}

/// The refusal of a site still on Catalog V1.
pub fn catalog_v1() -> StepError {
    StepError::configuration(
        "ce site Wix utilise encore le catalogue V1 (Stores Catalog V1) : Passerelle ne prend en \
         charge que Catalog V3 ; migrez le catalogue du site vers V3 puis relancez",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_split_on_a_site_guid_only() {
        let (s, k) =
            split_credentials("5e3c1b7a-9d2f-4c8e-a1b0-7f6e5d4c3b2a:IST.abc").expect("splits");
        assert_eq!(s.as_deref(), Some("5e3c1b7a-9d2f-4c8e-a1b0-7f6e5d4c3b2a"));
        assert_eq!(k, "IST.abc");
        let (s, k) = split_credentials("IST.abc").expect("a key alone");
        assert_eq!((s, k.as_str()), (None, "IST.abc"));
        assert!(split_credentials("  ").is_err());
    }

    #[test]
    fn errors_are_classified_with_wix_words() {
        let body = br#"{"message":"x","details":{"applicationError":{"code":"MISSING_METASITE_ID","description":"Missing site"}}}"#;
        let e = classify(
            StatusCode::PRECONDITION_REQUIRED,
            None,
            body,
            "/ecom/v1/orders/search",
        );
        assert!(e.is_configuration(), "{e}");
        assert!(e.to_string().contains("SITE_ID"));
        let e = classify(StatusCode::BAD_GATEWAY, None, b"", "/x");
        assert!(matches!(e, StepError::Transient { .. }));
        let body = br#"{"message":"m","details":{"validationError":{"fieldViolations":[{"field":"search.cursorPaging.limit","description":"must be between 1 and 100"}]}}}"#;
        let e = classify(StatusCode::BAD_REQUEST, None, body, "/x");
        assert!(e.to_string().contains("cursorPaging.limit must be"), "{e}");
        assert!(!e.is_configuration());
    }

    #[test]
    fn urls_are_normalised() {
        assert_eq!(
            normalise_shop_url("www.wixapis.com/").as_deref(),
            Ok("https://www.wixapis.com")
        );
        assert_eq!(
            normalise_shop_url("http://127.0.0.1:9/").as_deref(),
            Ok("http://127.0.0.1:9")
        );
        assert!(normalise_shop_url("ftp://x").is_err());
    }
}
