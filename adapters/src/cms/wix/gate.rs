//! The request gate of one Wix app instance (site), shared by every worker and process
//! using the database (`wix_rate_gate`, migration 0095), on the model of the EBP call gate
//! and Shopify's cost bucket.
//!
//! Wix allows **200 requests per minute per app instance** and answers 429
//! `RESOURCE_EXHAUSTED` above (`cms-apis.md` §5, https://dev.wix.com/docs/rest/articles/get-started/rate-limits;
//! `platforms.md` §6). Before each request a worker reserves one request in a token bucket
//! with one `UPDATE … RETURNING`: the stored level is restored for the time elapsed (capped
//! at a small burst), then debited; a level below zero is a debt the worker sleeps off. The
//! bucket restores [`RateLimit::limit`] × 95 % per window and holds at most
//! [`RateLimit::burst`] requests, so any window sees at most `burst + 0.95 × limit`
//! requests from all our workers together (195 for Wix's 200): the 5 % leaves room for
//! clock skew between hosts and for a sleep that wakes late.
//!
//! Units: one request costs the window's length in milliseconds and the bucket restores
//! the (reduced) limit per millisecond, so every quantity is an integer.

use crate::store::{Db, Val};
use chrono::Utc;
use passerelle_workflows::engine::StepError;
use std::time::Duration;

/// A request limit: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
    /// Requests that may leave back to back after a quiet spell.
    pub burst: u32,
}

impl RateLimit {
    /// Wix's: 200 requests per minute per app instance.
    pub const WIX: RateLimit = RateLimit {
        limit: 200,
        window: Duration::from_secs(60),
        burst: 5,
    };

    /// The limit actually paced at: 95 % of the platform's, at least one.
    fn paced(&self) -> i64 {
        (i64::from(self.limit) * 95 / 100).max(1)
    }

    fn cost(&self) -> i64 {
        i64::try_from(self.window.as_millis())
            .unwrap_or(i64::MAX / 4)
            .max(1)
    }
}

/// The shared gate of every Wix site, in the database.
#[derive(Clone)]
pub struct RateGate {
    db: Db,
    limit: RateLimit,
}

impl std::fmt::Debug for RateGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateGate")
            .field("db", &self.db.kind())
            .field("limit", &self.limit)
            .finish()
    }
}

fn store(e: impl std::fmt::Display) -> StepError {
    StepError::transient(format!("compteur de requêtes Wix indisponible : {e}"))
}

impl RateGate {
    /// The gates kept in `db`, pacing at `limit`.
    pub fn new(db: Db, limit: RateLimit) -> Self {
        Self { db, limit }
    }

    /// Reserves one request of `instance` and returns how long to wait before sending it.
    pub async fn reserve(&self, instance: &str) -> Result<Duration, StepError> {
        let now = Utc::now().timestamp_millis();
        let (rate, cost) = (self.limit.paced(), self.limit.cost());
        let cap = i64::from(self.limit.burst.max(1)) * cost;
        // SET expressions read the row as it was before the statement.
        let sql = "UPDATE wix_rate_gate SET \
             level = (CASE WHEN level + (CASE WHEN $2::bigint > updated_at THEN $2::bigint - updated_at ELSE 0 END) * $3::bigint > $4::bigint \
                      THEN $4::bigint \
                      ELSE level + (CASE WHEN $2::bigint > updated_at THEN $2::bigint - updated_at ELSE 0 END) * $3::bigint END) - $5::bigint, \
             updated_at = CASE WHEN $2::bigint > updated_at THEN $2::bigint ELSE updated_at END \
             WHERE instance = $1 RETURNING level";
        for _ in 0..2 {
            let rows = self
                .db
                .fetch(
                    sql,
                    &[
                        Val::text(instance),
                        Val::int(now),
                        Val::int(rate),
                        Val::int(cap),
                        Val::int(cost),
                    ],
                )
                .await
                .map_err(store)?;
            if let Some(r) = rows.first() {
                let level = r[0].as_i64().unwrap_or(0);
                // A debt of d restores in d / rate milliseconds.
                let wait_ms = if level < 0 {
                    (-level + rate - 1) / rate
                } else {
                    0
                };
                return Ok(Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)));
            }
            // First request of this site: the row starts with the burst available.
            self.db
                .execute(
                    "INSERT INTO wix_rate_gate (instance, level, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (instance) DO NOTHING",
                    &[Val::text(instance), Val::int(cap), Val::int(now)],
                )
                .await
                .map_err(store)?;
        }
        Err(store(format!("ligne du site {instance} introuvable")))
    }
}
