//! The WooCommerce REST `wc/v3` transport: authentication, paging headers, error bodies.
//!
//! Facts (sources in `/work/shared/reference/`):
//! * auth: REST API keys `ck_…`/`cs_…` as HTTP Basic over HTTPS; when the server strips
//!   `Authorization`, `consumer_key`/`consumer_secret` in the query string
//!   (`cms-apis.md` §2, `WC-docs:source/includes/wp-api-v3/_authentication.md`);
//! * paging: `page` (≥ 1) and `per_page` (≤ 100) with `X-WP-Total` / `X-WP-TotalPages`
//!   (`platforms.md` §2, `WC-docs:…/_introduction.md`);
//! * errors: `{"code":"woocommerce_rest_…","message":"…","data":{"status":404}}`
//!   (`cms-apis.md` §2); no rate limit in core, but hosts and WAFs answer 429/503 and
//!   sometimes HTML (`platforms.md` §2, pitfalls).

use passerelle_workflows::engine::StepError;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Largest answer read (bytes): a page of 100 orders is well under a megabyte.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Attempts of an idempotent read inside one step before the engine's own retries.
const GET_ATTEMPTS: u32 = 3;

/// The largest `per_page` WordPress accepts (above: 400 `rest_invalid_param`).
pub const MAX_PER_PAGE: u32 = 100;

/// How the consumer key and secret travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WooAuth {
    /// HTTP Basic `consumer_key:consumer_secret` (the documented way over HTTPS).
    #[default]
    Basic,
    /// `consumer_key` / `consumer_secret` query parameters (servers that strip the
    /// `Authorization` header; only when the profile asks for it).
    QueryString,
}

/// One answer: the JSON body and the paging totals when the route sent them.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The parsed body.
    pub body: Value,
    /// `X-WP-Total`.
    pub total: Option<u64>,
    /// `X-WP-TotalPages`.
    pub total_pages: Option<u64>,
}

/// The raw answer of a call whose body may not parse (the caller decides what a broken
/// body means: a broken order list is read order by order).
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// Body bytes.
    pub bytes: Vec<u8>,
    /// `X-WP-Total`.
    pub total: Option<u64>,
    /// `X-WP-TotalPages`.
    pub total_pages: Option<u64>,
}

impl RawAnswer {
    /// The body as JSON, or a French reason.
    pub fn json(&self, what: &str) -> Result<Value, String> {
        serde_json::from_slice(&self.bytes)
            .map_err(|e| format!("réponse WooCommerce « {what} » illisible : JSON invalide ({e})"))
    }
}

/// The HTTP side of the client: base URL, credentials, one reqwest client.
#[derive(Clone)]
pub struct Transport {
    api: String,
    key: String,
    secret: String,
    auth: WooAuth,
    http: reqwest::Client,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("api", &self.api)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Normalises a shop URL: `http(s)://host[/path]` with one trailing slash, without a
/// pasted `/wp-json/…` suffix.
pub fn normalise_shop_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "adresse de la boutique invalide : « {url} » (http:// ou https:// attendu)"
        ));
    }
    let mut u = url.split(['?', '#']).next().unwrap_or(url).to_string();
    if let Some(i) = u.to_ascii_lowercase().find("/wp-json") {
        u.truncate(i);
    }
    while u.ends_with('/') {
        u.pop();
    }
    if u.split("://").nth(1).is_none_or(str::is_empty) {
        return Err(format!("adresse de la boutique invalide : « {url} »"));
    }
    u.push('/');
    Ok(u)
}

/// Splits the profile's one secret `ck_…:cs_…` into key and secret.
pub fn split_credentials(credentials: &str) -> Result<(String, String), StepError> {
    let (k, s) = credentials.trim().split_once(':').ok_or_else(|| {
        StepError::permanent(
            "identifiants WooCommerce attendus sous la forme « ck_…:cs_… » (consumer key:consumer secret)",
        )
    })?;
    if k.trim().is_empty() || s.trim().is_empty() {
        return Err(StepError::permanent(
            "identifiants WooCommerce incomplets (consumer key ou secret vide)",
        ));
    }
    Ok((k.trim().to_string(), s.trim().to_string()))
}

impl Transport {
    /// A transport to `<shop>/wp-json/wc/v3/`; 30 s timeout.
    pub fn new(shop_url: &str, credentials: &str, auth: WooAuth) -> Result<Self, StepError> {
        let shop = normalise_shop_url(shop_url).map_err(StepError::permanent)?;
        let (key, secret) = split_credentials(credentials)?;
        let http = crate::http::builder(Duration::from_secs(30))
            .build()
            .map_err(|e| StepError::permanent(format!("client HTTP : {e}")))?;
        Ok(Self {
            api: format!("{shop}wp-json/"),
            key,
            secret,
            auth,
            http,
        })
    }

    /// One call to `path` under `/wp-json/` (`wc/v3/orders`, `wc-shipment-tracking/v3/…`).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<RawAnswer, StepError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api))
            .query(query);
        req = match self.auth {
            WooAuth::Basic => req.basic_auth(&self.key, Some(&self.secret)),
            WooAuth::QueryString => req.query(&[
                ("consumer_key", self.key.as_str()),
                ("consumer_secret", self.secret.as_str()),
            ]),
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after");
        let total = header("x-wp-total").and_then(|v| v.trim().parse().ok());
        let total_pages = header("x-wp-totalpages").and_then(|v| v.trim().parse().ok());
        if resp
            .content_length()
            .is_some_and(|l| l as usize > MAX_BODY_BYTES)
        {
            return Err(StepError::permanent(format!(
                "réponse WooCommerce trop volumineuse ({path})"
            )));
        }
        let bytes = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(classify(status, retry_after.as_deref(), &bytes, path));
        }
        Ok(RawAnswer {
            bytes: bytes.to_vec(),
            total,
            total_pages,
        })
    }

    /// A call whose answer must be JSON.
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
            body,
            total: raw.total,
            total_pages: raw.total_pages,
        })
    }

    /// A GET retried in place a couple of times on a transient error (reads are
    /// idempotent; a long outage still reaches the engine's persisted retries).
    pub async fn get_raw(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<RawAnswer, StepError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.raw(Method::GET, path, query, None).await {
                Err(StepError::Transient { retry_after, .. }) if attempt < GET_ATTEMPTS => {
                    let wait = retry_after
                        .unwrap_or(Duration::from_millis(60 * u64::from(attempt)))
                        .min(Duration::from_secs(3));
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// [`Transport::get_raw`] parsed as JSON.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Answer, StepError> {
        let raw = self.get_raw(path, query).await?;
        let body = raw.json(path).map_err(StepError::permanent)?;
        Ok(Answer {
            body,
            total: raw.total,
            total_pages: raw.total_pages,
        })
    }
}

fn transport(e: reqwest::Error) -> StepError {
    if e.is_timeout() {
        StepError::transient(format!("WooCommerce ne répond pas (délai dépassé) : {e}"))
    } else if e.is_connect() {
        StepError::transient(format!("WooCommerce injoignable : {e}"))
    } else {
        StepError::transient(format!("réseau : {e}"))
    }
}

/// The `{code, message}` of a WooCommerce error body (empty when it is not one: a WAF's
/// HTML page, a cut answer).
pub fn error_parts(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => (
            v.get("code")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            v.get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .chars()
                .take(500)
                .collect(),
        ),
        Err(_) => (String::new(), String::new()),
    }
}

/// Classifies a failed answer once (STYLE §7): 408, 429 and 5xx are transient (Retry-After
/// honoured); other 4xx are permanent with WooCommerce's own message.
pub fn classify(
    status: StatusCode,
    retry_after: Option<&str>,
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
    if status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return StepError::Transient {
            message: format!("WooCommerce HTTP {} sur {path}{detail}", status.as_u16()),
            retry_after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        };
    }
    let hint = match status {
        StatusCode::UNAUTHORIZED => " (clés d'API refusées)",
        StatusCode::FORBIDDEN => " (droits des clés d'API insuffisants : lecture/écriture)",
        StatusCode::NOT_FOUND => " (introuvable)",
        StatusCode::PAYLOAD_TOO_LARGE => " (lot trop grand)",
        _ => "",
    };
    StepError::permanent(format!(
        "WooCommerce HTTP {} sur {path}{hint}{detail}",
        status.as_u16()
    ))
}

/// True for the answer of a batch above the site's item limit (HTTP 413,
/// `woocommerce_rest_request_entity_too_large`).
pub fn is_too_large(e: &StepError) -> bool {
    matches!(e, StepError::Permanent(m) if m.starts_with("WooCommerce HTTP 413"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        assert_eq!(
            normalise_shop_url(" https://shop.example/wp-json/wc/v3/ ").as_deref(),
            Ok("https://shop.example/")
        );
        assert_eq!(
            normalise_shop_url("http://h:8080/boutique").as_deref(),
            Ok("http://h:8080/boutique/")
        );
        assert!(normalise_shop_url("shop.example").is_err());
        assert!(normalise_shop_url("https://").is_err());
    }

    #[test]
    fn credentials_split_on_the_first_colon() {
        assert_eq!(
            split_credentials("ck_1:cs_2").ok(),
            Some(("ck_1".into(), "cs_2".into()))
        );
        assert!(split_credentials("ck_only").is_err());
        assert!(split_credentials(":cs").is_err());
    }

    #[test]
    fn errors_are_classified_with_the_shop_message() {
        let body = br#"{"code":"woocommerce_rest_shop_order_invalid_id","message":"Invalid ID.","data":{"status":404}}"#;
        let e = classify(StatusCode::NOT_FOUND, None, body, "wc/v3/orders/9");
        assert!(
            matches!(&e, StepError::Permanent(m) if m.contains("Invalid ID.")),
            "{e}"
        );
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            Some("7"),
            b"<html>",
            "wc/v3/orders",
        );
        assert_eq!(
            e,
            StepError::Transient {
                message: "WooCommerce HTTP 429 sur wc/v3/orders".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None, b"", "x"),
            StepError::Transient { .. }
        ));
        assert!(is_too_large(&classify(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            br#"{"code":"woocommerce_rest_request_entity_too_large","message":"Unable to accept more than 100 items for this request.","data":{"status":413}}"#,
            "wc/v3/products/batch"
        )));
    }
}
