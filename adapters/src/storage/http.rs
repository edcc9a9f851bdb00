//! What the HTTP storage clients share: one reqwest client, and the mapping of transport
//! and status errors to the engine's classes — without URLs in messages, since pCloud
//! carries its token in the query string.

use passerelle_workflows::engine::StepError;
use reqwest::StatusCode;
use std::time::Duration;

/// Largest file downloaded (bytes).
pub(crate) const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// A client with the storage timeouts.
pub(crate) fn client() -> Result<reqwest::Client, StepError> {
    crate::http::builder(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| StepError::permanent(format!("client HTTP : {e}")))
}

/// A transport error, classified, its URL removed.
pub(crate) fn transport(what: &str, e: reqwest::Error) -> StepError {
    let e = e.without_url();
    if e.is_timeout() {
        StepError::transient(format!("{what} ne répond pas (délai dépassé) : {e}"))
    } else if e.is_connect() {
        StepError::transient(format!("{what} injoignable : {e}"))
    } else {
        StepError::transient(format!("{what} : échange interrompu : {e}"))
    }
}

/// An error status: 429 and 5xx are worth retrying; 401/403 mean the credential is wrong.
pub(crate) fn status_error(what: &str, status: StatusCode, detail: &str) -> StepError {
    let detail: String = detail.chars().take(300).collect();
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        StepError::transient(format!("{what} HTTP {} : {detail}", status.as_u16()))
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        StepError::permanent(format!(
            "{what} : identifiants refusés (credentials refused) HTTP {} : {detail}",
            status.as_u16()
        ))
    } else {
        StepError::permanent(format!("{what} HTTP {} : {detail}", status.as_u16()))
    }
}

/// Reads a response body, refusing files beyond [`MAX_FILE_BYTES`].
pub(crate) async fn body(what: &str, resp: reqwest::Response) -> Result<Vec<u8>, StepError> {
    if resp
        .content_length()
        .is_some_and(|l| l as usize > MAX_FILE_BYTES)
    {
        return Err(StepError::permanent(format!(
            "{what} : fichier trop volumineux (too large)"
        )));
    }
    let b = resp.bytes().await.map_err(|e| transport(what, e))?;
    if b.len() > MAX_FILE_BYTES {
        return Err(StepError::permanent(format!(
            "{what} : fichier trop volumineux (too large)"
        )));
    }
    Ok(b.to_vec())
}
