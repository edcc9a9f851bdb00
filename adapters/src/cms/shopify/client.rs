//! reqwest client of the Shopify Admin GraphQL API, version pinned to [`API_VERSION`].
//!
//! * `POST {shop}/admin/api/2026-04/graphql.json` with `X-Shopify-Access-Token`
//!   (cms-apis.md §3, platforms.md §3).
//! * Every query reserves its requested cost in the shop's shared bucket first
//!   ([`CostBucket`]) and settles it from the answer's `extensions.cost`; a document whose
//!   cost exceeds 1,000 is never sent (a permanent error: a bug of ours).
//! * `THROTTLED` comes as HTTP **200** with `errors[].extensions.code` (platforms.md §0.4):
//!   the client waits until the bucket has restored the requested cost and sends again, at
//!   most [`THROTTLE_WAITS`] times within one call, then gives up with a transient step
//!   error carrying that wait as `retry_after`. Other `errors[]` are permanent (a document
//!   the schema refuses), except Shopify's `INTERNAL_SERVER_ERROR`.
//! * HTTP 5xx, 429, timeouts and connection errors are transient; 401/403 permanent.

use super::bucket::{CostBucket, ThrottleStatus};
use super::queries::MAX_QUERY_COST;
use passerelle_workflows::engine::StepError;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// The Admin API version this client speaks.
pub const API_VERSION: &str = "2026-04";
/// Throttled answers waited out within one call before the step is handed back to the
/// engine (transient, with the wait as `retry_after`).
pub(super) const THROTTLE_WAITS: u32 = 8;

/// The shop URL as the client uses it: `https://shop.myshopify.com` (scheme kept, no path,
/// no trailing slash); a bare `shop.myshopify.com` gets `https://`.
pub fn normalise_shop_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("adresse de la boutique Shopify manquante".into());
    }
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("https://{url}")
    };
    let lower = with_scheme.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "adresse de la boutique invalide : « {url} » (https:// attendu)"
        ));
    }
    let (scheme, rest) = with_scheme.split_once("://").unwrap_or(("https", ""));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("adresse de la boutique invalide : « {url} »"));
    }
    Ok(format!("{scheme}://{host}"))
}

/// One Admin GraphQL connection (shop URL + access token) with its shared cost bucket.
#[derive(Clone)]
pub struct ShopifyClient {
    http: reqwest::Client,
    endpoint: String,
    shop: String,
    token: String,
    bucket: CostBucket,
}

impl std::fmt::Debug for ShopifyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("ShopifyClient")
            .field("shop", &self.shop)
            .finish_non_exhaustive()
    }
}

/// An answer's `extensions.cost`.
#[derive(Debug, Clone, Copy)]
struct Cost {
    requested: Option<u32>,
    actual: Option<u32>,
    status: Option<ThrottleStatus>,
}

fn read_cost(body: &Value) -> Cost {
    let c = &body["extensions"]["cost"];
    let t = &c["throttleStatus"];
    let status = match (
        t["maximumAvailable"].as_f64(),
        t["currentlyAvailable"].as_f64(),
        t["restoreRate"].as_f64(),
    ) {
        (Some(maximum), Some(available), Some(restore_rate)) => Some(ThrottleStatus {
            maximum,
            available,
            restore_rate,
        }),
        // Absent on some plans (MONEI/Shopify-api-node#366): keep our own estimate.
        _ => None,
    };
    Cost {
        requested: c["requestedQueryCost"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok()),
        actual: c["actualQueryCost"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok()),
        status,
    }
}

impl ShopifyClient {
    /// A client for the shop at `shop_url` with the Admin API access `token`, its queries
    /// paced by `bucket`; 30 s timeout.
    pub fn new(shop_url: &str, token: &str, bucket: CostBucket) -> Result<Self, StepError> {
        let base = normalise_shop_url(shop_url).map_err(StepError::permanent)?;
        if token.trim().is_empty() {
            return Err(StepError::permanent("jeton d'accès Shopify manquant"));
        }
        let http = crate::http::builder(Duration::from_secs(30))
            .build()
            .map_err(|e| StepError::permanent(format!("client HTTP : {e}")))?;
        Ok(Self {
            endpoint: format!("{base}/admin/api/{API_VERSION}/graphql.json"),
            shop: base,
            token: token.trim().to_string(),
            http,
            bucket,
        })
    }

    /// The shop's base URL (the bucket's key).
    pub fn shop(&self) -> &str {
        &self.shop
    }

    /// Runs `query` with `variables`, whose requested cost is `cost`; returns `data`.
    pub async fn call(&self, query: &str, variables: Value, cost: u32) -> Result<Value, StepError> {
        if cost > MAX_QUERY_COST {
            return Err(StepError::permanent(format!(
                "requête Shopify de coût {cost} > {MAX_QUERY_COST} non envoyée (query cost above the single-query limit)"
            )));
        }
        let body = json!({"query": query, "variables": variables});
        let mut waits = 0;
        loop {
            let wait = self.bucket.reserve(&self.shop, cost).await?;
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let answer = self.post(&body).await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    // Not run (or unknown): give the reservation back, the shop's level
                    // will be read from the next answer.
                    self.bucket.settle(&self.shop, cost, None).await?;
                    return Err(e);
                }
            };
            let c = read_cost(&answer);
            let throttled = answer["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["extensions"]["code"] == "THROTTLED"));
            if throttled {
                // Not run: the whole reservation comes back, the level follows the shop.
                self.bucket.settle(&self.shop, cost, c.status).await?;
                let (available, rate) = c
                    .status
                    .map(|s| (s.available, s.restore_rate.max(1.0)))
                    .unwrap_or((
                        0.0,
                        crate::cms::shopify::bucket::DEFAULT_RESTORE_RATE as f64,
                    ));
                let need = f64::from(c.requested.unwrap_or(cost)) - available;
                let retry = Duration::from_millis(((need.max(0.0) / rate) * 1000.0) as u64 + 50);
                tracing::info!(shop = %self.shop, cost, wait_ms = retry.as_millis() as u64, "Shopify THROTTLED : attente");
                metrics::counter!("passerelle_shopify_throttled_total").increment(1);
                waits += 1;
                if waits > THROTTLE_WAITS {
                    return Err(StepError::Transient {
                        message: "Shopify : quota de coût épuisé (THROTTLED)".into(),
                        retry_after: Some(retry),
                    });
                }
                tokio::time::sleep(retry).await;
                continue;
            }
            // What we reserved beyond what the shop charged comes back.
            let refund = c.actual.map_or(0, |a| cost.saturating_sub(a));
            self.bucket.settle(&self.shop, refund, c.status).await?;
            if let Some(errors) = answer["errors"].as_array().filter(|e| !e.is_empty()) {
                let messages: Vec<String> = errors
                    .iter()
                    .map(|e| e["message"].as_str().unwrap_or("?").to_string())
                    .collect();
                let text = format!("Shopify GraphQL : {}", messages.join(" ; "));
                let internal = errors
                    .iter()
                    .any(|e| e["extensions"]["code"] == "INTERNAL_SERVER_ERROR");
                return Err(if internal {
                    StepError::transient(text)
                } else {
                    StepError::permanent(text)
                });
            }
            return Ok(answer["data"].clone());
        }
    }

    async fn post(&self, body: &Value) -> Result<Value, StepError> {
        let resp = self
            .http
            .post(&self.endpoint)
            .header("X-Shopify-Access-Token", &self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| StepError::transient(format!("Shopify injoignable : {e}")))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| StepError::transient(format!("réponse Shopify interrompue : {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                StepError::transient(format!("réponse Shopify illisible (JSON) : {e}"))
            });
        }
        let detail = String::from_utf8_lossy(&bytes)
            .chars()
            .take(200)
            .collect::<String>();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(StepError::Transient {
                message: format!("Shopify HTTP {} : {detail}", status.as_u16()),
                retry_after,
            });
        }
        let hint = match status {
            StatusCode::UNAUTHORIZED => " (jeton d'accès refusé)",
            StatusCode::FORBIDDEN => " (droits de l'application insuffisants)",
            StatusCode::NOT_FOUND => " (boutique introuvable)",
            _ => "",
        };
        Err(StepError::permanent(format!(
            "Shopify HTTP {}{hint} : {detail}",
            status.as_u16()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_urls_are_normalised() {
        assert_eq!(
            normalise_shop_url("maison.myshopify.com/admin").as_deref(),
            Ok("https://maison.myshopify.com")
        );
        assert_eq!(
            normalise_shop_url("http://127.0.0.1:8080/").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        assert!(normalise_shop_url("ftp://x").is_err());
        assert!(normalise_shop_url(" ").is_err());
    }
}
