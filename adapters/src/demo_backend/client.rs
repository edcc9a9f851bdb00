//! reqwest client of the demo backend; classifies failures once (STYLE §7).

use async_trait::async_trait;
use passerelle_workflows::actions::demo_engine::{DemoBackend, DemoItem, Receipt};
use passerelle_workflows::engine::StepError;
use reqwest::StatusCode;
use std::time::Duration;

/// HTTP implementation of [`DemoBackend`].
#[derive(Debug, Clone)]
pub struct HttpDemoBackend {
    base: String,
    http: reqwest::Client,
}

impl HttpDemoBackend {
    /// A client for `base_url` with a 10 s timeout.
    pub fn new(base_url: &str) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("passerelle/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }
}

/// Maps an HTTP answer or transport error to the engine's classification.
pub(crate) fn classify(status: StatusCode, retry_after: Option<&str>, body: &str) -> StepError {
    let snippet: String = body.chars().take(200).collect();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let ra = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return StepError::Transient {
            message: format!("HTTP 429 trop de requêtes : {snippet}"),
            retry_after: ra,
        };
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return StepError::transient(format!("HTTP {} : {snippet}", status.as_u16()));
    }
    StepError::permanent(format!("HTTP {} : {snippet}", status.as_u16()))
}

fn transport(e: reqwest::Error) -> StepError {
    if e.is_timeout() || e.is_connect() || e.is_request() {
        StepError::transient(format!("réseau : {e}"))
    } else if e.is_decode() {
        StepError::permanent(format!("réponse illisible : {e}"))
    } else {
        StepError::transient(format!("réseau : {e}"))
    }
}

async fn read<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, StepError> {
    let status = resp.status();
    if !status.is_success() {
        let ra = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await.unwrap_or_default();
        return Err(classify(status, ra.as_deref(), &body));
    }
    resp.json::<T>().await.map_err(transport)
}

#[async_trait]
impl DemoBackend for HttpDemoBackend {
    async fn list_items(&self) -> Result<Vec<DemoItem>, StepError> {
        let resp = self
            .http
            .get(format!("{}/items", self.base))
            .send()
            .await
            .map_err(transport)?;
        read(resp).await
    }

    async fn apply(&self, idempotency_key: &str, item: &DemoItem) -> Result<Receipt, StepError> {
        let resp = self
            .http
            .post(format!("{}/effects/{}", self.base, idempotency_key))
            .json(item)
            .send()
            .await
            .map_err(transport)?;
        read(resp).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified() {
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some("7"), ""),
            StepError::Transient {
                message: "HTTP 429 trop de requêtes : ".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None, "x"),
            StepError::Transient { .. }
        ));
        assert!(matches!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, None, "x"),
            StepError::Permanent(_)
        ));
    }
}
