//! The Magento 2 REST transport: base URL and store code, Bearer token, error bodies,
//! 429 waited out, and numbers read exactly.
//!
//! Facts (sources in `/work/shared/reference/`):
//! * base `https://shop/rest/<store_code>/V1/…` (`default` when none), token as
//!   `Authorization: Bearer …` — an admin token or an integration access token with
//!   "Allow OAuth Access Tokens to be used as standalone Bearer tokens" on since 2.4.4
//!   (`cms-apis.md` §6 Auth, `platforms.md` §5 Variants);
//! * errors `{"message":"… %1 … %name …","parameters":[…] | {…}}` (400/401/404), a 401
//!   also on an expired admin token (`platforms.md` §5 table);
//! * core REST has no rate limit, but hosting WAFs answer 429/503, sometimes with
//!   `Retry-After` (`platforms.md` §10 rule 4): a 429 is waited out here, in place, for
//!   every method (the call was not processed), then the engine's retries take over;
//! * money comes as JSON numbers (PHP floats, `platforms.md` §1): the body's numbers are
//!   turned into strings **before** parsing ([`numbers_as_text`]), so an amount goes from
//!   its text straight to a decimal, never through `f64`.

use passerelle_workflows::engine::StepError;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Largest answer read (bytes).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Attempts of one call when the shop answers 429 (or a GET a transient error).
const ATTEMPTS: u32 = 4;

/// Longest wait honoured in place for one `Retry-After` (longer: the engine retries).
const MAX_WAIT: Duration = Duration::from_secs(30);

/// The HTTP side of the client.
#[derive(Clone)]
pub struct Transport {
    api: String,
    store: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Transport")
            .field("api", &self.api)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Splits a shop URL into the site root (`http(s)://host[/path]/`, one trailing slash)
/// and the store code of a pasted `/rest/<store>/V1/…` (`default` when none).
pub fn normalise_shop_url(url: &str) -> Result<(String, String), String> {
    let raw = url.trim();
    let lower = raw.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "adresse de la boutique invalide : « {raw} » (http:// ou https:// attendu)"
        ));
    }
    let mut u = raw.split(['?', '#']).next().unwrap_or(raw).to_string();
    let mut store = "default".to_string();
    if let Some(i) = u.to_ascii_lowercase().find("/rest/") {
        let tail: Vec<&str> = u[i + "/rest/".len()..]
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(first) = tail.first().filter(|s| !s.eq_ignore_ascii_case("V1")) {
            if !first.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("code de magasin invalide : « {first} »"));
            }
            store = first.to_string();
        }
        u.truncate(i);
    }
    while u.ends_with('/') {
        u.pop();
    }
    if u.split("://").nth(1).is_none_or(str::is_empty) {
        return Err(format!("adresse de la boutique invalide : « {raw} »"));
    }
    u.push('/');
    Ok((u, store))
}

/// The body with every JSON number outside strings turned into a string of the same
/// text (`12.5` → `"12.5"`), so amounts parse to decimals from their exact text.
pub fn numbers_as_text(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 8);
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < body.len()
                    && matches!(body[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                out.push(b'"');
                out.extend_from_slice(&body[start..i]);
                out.push(b'"');
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Magento's message with its parameters put in (`%1`, `%name`).
pub fn error_message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let mut msg = v
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match v.get("parameters") {
        Some(Value::Array(a)) => {
            for (i, p) in a.iter().enumerate().rev() {
                msg = msg.replace(&format!("%{}", i + 1), &scalar(p));
            }
        }
        Some(Value::Object(m)) => {
            for (k, p) in m {
                msg = msg.replace(&format!("%{k}"), &scalar(p));
            }
        }
        _ => {}
    }
    for e in v
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let inner = serde_json::to_vec(e).unwrap_or_default();
        let m = error_message(&inner);
        if !m.is_empty() {
            msg.push_str(" ; ");
            msg.push_str(&m);
        }
    }
    msg.chars().take(500).collect()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Classifies a failed answer once (STYLE §7): 408, 429 and 5xx are transient
/// (Retry-After honoured); other 4xx are permanent with Magento's own message.
pub fn classify(
    status: StatusCode,
    retry_after: Option<&str>,
    body: &[u8],
    path: &str,
) -> StepError {
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
            message: format!("Magento HTTP {} sur {path}{detail}", status.as_u16()),
            retry_after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        };
    }
    let hint = match status {
        StatusCode::UNAUTHORIZED => {
            " (jeton refusé ou expiré : jeton d'intégration utilisable en Bearer requis)"
        }
        StatusCode::NOT_FOUND => " (introuvable)",
        _ => "",
    };
    StepError::permanent(format!(
        "Magento HTTP {} sur {path}{hint}{detail}",
        status.as_u16()
    ))
}

/// The array cap of a 400 `Maximum items of type "…" is N` (input limits on), if it is one.
pub fn array_cap(e: &StepError) -> Option<usize> {
    let StepError::Permanent(m) = e else {
        return None;
    };
    if !m.starts_with("Magento HTTP 400") {
        return None;
    }
    let at = m.find("Maximum items of type")?;
    m[at..]
        .rsplit_once(" is ")
        .and_then(|(_, n)| n.split_whitespace().next())
        .and_then(|n| {
            n.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
}

/// True for a 400 (the request refused as a whole: a batch with a bad item).
pub fn is_bad_request(e: &StepError) -> bool {
    matches!(e, StepError::Permanent(m) if m.starts_with("Magento HTTP 400"))
}

impl Transport {
    /// A transport to `<shop>/rest/<store>/V1/`; 30 s timeout.
    pub fn new(shop_url: &str, token: &str) -> Result<Self, StepError> {
        let (shop, store) = normalise_shop_url(shop_url).map_err(StepError::permanent)?;
        let token = token.trim();
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err(StepError::permanent(
                "jeton Magento absent ou invalide (jeton d'accès de l'intégration attendu)",
            ));
        }
        let http = crate::http::builder(Duration::from_secs(30))
            .build()
            .map_err(|e| StepError::permanent(format!("client HTTP : {e}")))?;
        Ok(Self {
            api: format!("{shop}rest/{store}/V1/"),
            store,
            token: token.to_string(),
            http,
        })
    }

    /// The store code used in the URLs.
    pub fn store(&self) -> &str {
        &self.store
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Vec<u8>, StepError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api))
            .query(query)
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if resp
            .content_length()
            .is_some_and(|l| l as usize > MAX_BODY_BYTES)
        {
            return Err(StepError::permanent(format!(
                "réponse Magento trop volumineuse ({path})"
            )));
        }
        let bytes = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(classify(status, retry_after.as_deref(), &bytes, path));
        }
        Ok(bytes.to_vec())
    }

    /// One call to `path` under `/V1/`, its raw body. A 429 (not processed) is waited out
    /// in place whatever the method; a GET is also retried on other transient errors.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Vec<u8>, StepError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.once(method.clone(), path, query, body).await {
                Err(StepError::Transient {
                    message,
                    retry_after,
                }) if attempt < ATTEMPTS
                    && (message.starts_with("Magento HTTP 429") || method == Method::GET) =>
                {
                    let wait = retry_after
                        .unwrap_or(Duration::from_millis(200 * u64::from(attempt)))
                        .min(MAX_WAIT);
                    tracing::info!(path, ?wait, "Magento : réponse transitoire, nouvel essai");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// A call whose answer must be JSON (numbers read as text, see [`numbers_as_text`]).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, StepError> {
        let raw = self.raw(method, path, query, body).await?;
        parse(&raw, path).map_err(StepError::permanent)
    }

    /// A GET parsed as JSON.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, StepError> {
        self.call(Method::GET, path, query, None).await
    }
}

/// A body as JSON with its numbers as text, or a French reason.
pub fn parse(raw: &[u8], what: &str) -> Result<Value, String> {
    serde_json::from_slice(&numbers_as_text(raw))
        .map_err(|e| format!("réponse Magento « {what} » illisible : JSON invalide ({e})"))
}

fn transport(e: reqwest::Error) -> StepError {
    if e.is_timeout() {
        StepError::transient(format!("Magento ne répond pas (délai dépassé) : {e}"))
    } else if e.is_connect() {
        StepError::transient(format!("Magento injoignable : {e}"))
    } else {
        StepError::transient(format!("réseau : {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_store_code() {
        assert_eq!(
            normalise_shop_url(" https://shop.example/rest/fr/V1/orders ").ok(),
            Some(("https://shop.example/".into(), "fr".into()))
        );
        assert_eq!(
            normalise_shop_url("http://h:8080/magento/").ok(),
            Some(("http://h:8080/magento/".into(), "default".into()))
        );
        assert_eq!(
            normalise_shop_url("https://s/rest/V1/").ok(),
            Some(("https://s/".into(), "default".into()))
        );
        assert!(normalise_shop_url("shop.example").is_err());
        assert!(normalise_shop_url("https://s/rest/a%2Fb/V1").is_err());
    }

    #[test]
    fn numbers_become_their_own_text() {
        let v = parse(
            br#"{"a":12.30,"b":[-1,2e3],"s":"x\"1","n":null,"t":true,"p":0.1}"#,
            "t",
        )
        .expect("parses");
        assert_eq!(v["a"], "12.30");
        assert_eq!(v["b"][0], "-1");
        assert_eq!(v["b"][1], "2e3");
        assert_eq!(v["s"], "x\"1");
        assert_eq!(v["p"], "0.1");
        assert!(v["n"].is_null() && v["t"] == true);
    }

    #[test]
    fn errors_carry_magento_message_with_parameters() {
        let e = classify(
            StatusCode::BAD_REQUEST,
            None,
            br#"{"message":"Maximum items of type \"%type\" is %max","parameters":{"type":"\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface","max":20}}"#,
            "inventory/source-items",
        );
        assert_eq!(array_cap(&e), Some(20), "{e}");
        let e = classify(
            StatusCode::NOT_FOUND,
            None,
            br#"{"message":"No such entity with %fieldName = %fieldValue","parameters":{"fieldName":"orderId","fieldValue":9}}"#,
            "orders/9",
        );
        assert!(e.to_string().contains("orderId = 9"), "{e}");
        let e = classify(StatusCode::TOO_MANY_REQUESTS, Some("2"), b"", "orders");
        assert!(
            matches!(e, StepError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(2))
        );
        let e = classify(
            StatusCode::UNAUTHORIZED,
            None,
            br#"{"message":"The consumer isn't authorized to access %resources.","parameters":{"resources":"Magento_Sales::actions_view"}}"#,
            "orders",
        );
        assert!(matches!(&e, StepError::Permanent(m) if m.contains("Magento_Sales::actions_view")));
    }
}
