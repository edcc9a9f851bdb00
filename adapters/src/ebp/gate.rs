//! What every worker using one EBP subscription shares: the call gate (1 call/s and a daily
//! budget, EBP FAQ "Early Adopters" limits, `reference/ebp-api.md` §8) and the OAuth token
//! pair, whose refresh token is single-use and rotated (§1): refreshes are serialised across
//! workers and the new pair is stored before it is used.
//!
//! The database implementations live in `store::erp_gate`; the in-memory ones here serve a
//! single process (tests, benchmarks).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

/// Why the gate refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// The subscription's calls for the day are spent.
    #[error("budget journalier d'appels EBP épuisé ({used}/{limit}) ; reprise après {resets_at} (daily EBP call budget spent)")]
    BudgetExhausted {
        /// Calls counted today.
        used: u32,
        /// The daily budget.
        limit: u32,
        /// When the budget resets (UTC).
        resets_at: DateTime<Utc>,
    },
    /// The shared store failed.
    #[error("compteur d'appels EBP indisponible : {0}")]
    Store(String),
}

/// Paces the calls of one subscription across workers.
#[async_trait]
pub trait CallGate: Send + Sync {
    /// Waits for the subscription's next call slot (at least the minimum interval after the
    /// previous call made by any worker) and counts the call in today's budget.
    async fn acquire(&self, subscription: &str) -> Result<(), GateError>;
}

/// An OAuth token pair as stored (clear text only in memory).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// Bearer token.
    pub access_token: String,
    /// Single-use refresh token.
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// Incremented by every stored refresh; tells a worker whether someone refreshed already.
    pub version: i64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print tokens (FEATURES §10).
        f.debug_struct("TokenPair")
            .field("expires_at", &self.expires_at)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// What a refresh returns: new access token, new refresh token, expiry.
pub type Refreshed = (String, String, DateTime<Utc>);

/// The refresh call, given the current refresh token.
pub type RefreshFn =
    Box<dyn FnOnce(String) -> BoxFuture<'static, Result<Refreshed, String>> + Send>;

/// Stores the token pair of a connection and serialises its refreshes.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The stored pair, if the connection was ever authorised.
    async fn current(&self, connection: &str) -> Result<Option<TokenPair>, String>;
    /// Stores a pair obtained by the authorization-code login (version restarts above the
    /// previous one).
    async fn store_initial(
        &self,
        connection: &str,
        access_token: &str,
        refresh_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<TokenPair, String>;
    /// Under the connection's refresh lock (held across workers): when the stored version is
    /// no longer `seen_version`, another worker refreshed already and the stored pair is
    /// returned without calling `refresh`; otherwise `refresh` is called with the stored
    /// refresh token and the new pair is stored (committed) before it is returned.
    async fn refresh_with(
        &self,
        connection: &str,
        seen_version: i64,
        refresh: RefreshFn,
    ) -> Result<TokenPair, String>;
}
