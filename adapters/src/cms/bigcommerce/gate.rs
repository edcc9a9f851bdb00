//! The request gate of one BigCommerce store, shared by every worker and process using the
//! database (`bigcommerce_rate_gate`, migration 0050), on the model of the EBP call gate
//! and the Shopify cost bucket.
//!
//! BigCommerce meters the API **per store, all apps together**: a window of 30 s with a
//! quota of 150 requests on the Standard and Plus plans, 450 on Pro; every answer carries
//! `X-Rate-Limit-Time-Window-Ms`, `X-Rate-Limit-Time-Reset-Ms`,
//! `X-Rate-Limit-Requests-Quota` and `X-Rate-Limit-Requests-Left`; over quota the store
//! answers 429 (platforms.md §4, `BC-docs:docs/api-docs/getting-started/api-rate-limits.mdx`).
//! Since other apps of the store spend the same quota, only the store's own figures tell
//! what is left: this side never assumes more than the last answer said.
//!
//! * **Take** (before a request): one `UPDATE … RETURNING` takes one request from the
//!   row. When the row's window has ended, the take starts a new one with **one**
//!   request, the probe: nobody knows yet what the other apps spent in it, and the
//!   probe's answer tells. Without a request left the worker sleeps (until the window's
//!   reset, or a few milliseconds while a probe is in flight) and takes again, so no
//!   request leaves that the store would refuse.
//! * **Report** (after each answer): the probe's answer sets what is left; any other can
//!   only lower it (the requests of our other workers in flight are already taken from the
//!   row); the reset instant is the store's.
//! * A 429 all the same (a clock far off, a store-wide limit): nothing is left until the
//!   store's reset.
//!
//! Both statements are atomic on both databases (PostgreSQL re-evaluates on the newest row
//! version after a concurrent writer's lock; SQLite has one writer). Hosts sharing a
//! database are assumed NTP-synchronised, as for the EBP gate.

use crate::store::{Db, Val};
use chrono::Utc;
use passerelle_workflows::engine::StepError;
use std::time::Duration;

/// The Standard plan's quota, assumed until the store's first answer.
pub const DEFAULT_QUOTA: i64 = 150;
/// The quota window (30 s).
pub const DEFAULT_WINDOW_MS: i64 = 30_000;
/// Margin added to a wait for the store's reset (clock skew, the answer's transit).
const RESET_MARGIN_MS: i64 = 60;
/// How long a worker waits while another one's probe of a new window is in flight.
const PROBE_WAIT_MS: i64 = 20;

/// What one answer said about the store's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    /// `X-Rate-Limit-Requests-Left`.
    pub left: i64,
    /// `X-Rate-Limit-Time-Reset-Ms`.
    pub reset_ms: i64,
    /// `X-Rate-Limit-Requests-Quota` (when sent).
    pub quota: Option<i64>,
    /// `X-Rate-Limit-Time-Window-Ms` (when sent).
    pub window_ms: Option<i64>,
}

/// The shared gates of every store, in the database.
#[derive(Clone)]
pub struct RateGate {
    db: Db,
}

impl std::fmt::Debug for RateGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateGate")
            .field("db", &self.db.kind())
            .finish()
    }
}

fn store_err(e: impl std::fmt::Display) -> StepError {
    StepError::transient(format!(
        "compteur de requêtes BigCommerce indisponible : {e}"
    ))
}

impl RateGate {
    /// The gates kept in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Takes one request of `store`'s quota; `Some(wait)` when none is left: the caller
    /// sleeps that long and takes again.
    pub async fn take(&self, store: &str) -> Result<Option<Duration>, StepError> {
        let now = Utc::now().timestamp_millis();
        // SET expressions read the row as it was: `granted` says whether this take got a
        // request (a new window's probe, or one left in the current window).
        let sql = "UPDATE bigcommerce_rate_gate SET \
               granted = CASE WHEN $2::bigint >= reset_at OR remaining > 0 THEN 1 ELSE 0 END, \
               probing = CASE WHEN $2::bigint >= reset_at THEN 1 ELSE probing END, \
               remaining = CASE WHEN $2::bigint >= reset_at THEN 0 \
                                WHEN remaining > 0 THEN remaining - 1 ELSE remaining END, \
               reset_at = CASE WHEN $2::bigint >= reset_at THEN $2::bigint + window_ms ELSE reset_at END \
             WHERE store = $1 RETURNING granted, reset_at, probing";
        for _ in 0..2 {
            let rows = self
                .db
                .fetch(sql, &[Val::text(store), Val::int(now)])
                .await
                .map_err(store_err)?;
            if let Some(r) = rows.first() {
                if r[0].as_i64() == Some(1) {
                    return Ok(None);
                }
                let reset_at = r[1].as_i64().unwrap_or(now);
                // A probe in flight: its answer comes in milliseconds.
                let wait = if r[2].as_i64() == Some(1) {
                    PROBE_WAIT_MS
                } else {
                    (reset_at - now).max(0) + RESET_MARGIN_MS
                };
                return Ok(Some(Duration::from_millis(
                    u64::try_from(wait).unwrap_or(0),
                )));
            }
            // First request to this store: its window starts "ended", so the first take
            // is a probe.
            self.db
                .execute(
                    "INSERT INTO bigcommerce_rate_gate \
                     (store, remaining, reset_at, quota, window_ms, probing, granted) \
                     VALUES ($1, 0, 0, $2, $3, 0, 0) ON CONFLICT (store) DO NOTHING",
                    &[
                        Val::text(store),
                        Val::int(DEFAULT_QUOTA),
                        Val::int(DEFAULT_WINDOW_MS),
                    ],
                )
                .await
                .map_err(store_err)?;
        }
        Err(store_err(format!(
            "ligne de la boutique {store} introuvable"
        )))
    }

    /// After an answer carrying the store's figures: a probe's answer sets what is left;
    /// any other can only lower it (our other requests in flight are already counted).
    pub async fn report(&self, store: &str, s: RateStatus) -> Result<(), StepError> {
        let now = Utc::now().timestamp_millis();
        let sql = "UPDATE bigcommerce_rate_gate SET \
               remaining = CASE WHEN probing = 1 OR $3::bigint < remaining THEN $3::bigint ELSE remaining END, \
               probing = 0, \
               reset_at = $2::bigint, \
               quota = CASE WHEN $4::bigint > 0 THEN $4::bigint ELSE quota END, \
               window_ms = CASE WHEN $5::bigint > 0 THEN $5::bigint ELSE window_ms END \
             WHERE store = $1";
        self.db
            .execute(
                sql,
                &[
                    Val::text(store),
                    Val::int(now + s.reset_ms.max(0)),
                    Val::int(s.left.max(0)),
                    Val::int(s.quota.unwrap_or(0)),
                    Val::int(s.window_ms.unwrap_or(0)),
                ],
            )
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// A 429: nothing left until the store's reset.
    pub async fn exhausted(&self, store: &str, reset_ms: i64) -> Result<(), StepError> {
        let now = Utc::now().timestamp_millis();
        self.db
            .execute(
                "UPDATE bigcommerce_rate_gate SET remaining = 0, probing = 0, reset_at = $2 WHERE store = $1",
                &[Val::text(store), Val::int(now + reset_ms.max(0))],
            )
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// Requests this side believes are left for `store` (`None` before its first request).
    pub async fn remaining(&self, store: &str) -> Result<Option<i64>, StepError> {
        let rows = self
            .db
            .fetch(
                "SELECT remaining FROM bigcommerce_rate_gate WHERE store = $1",
                &[Val::text(store)],
            )
            .await
            .map_err(store_err)?;
        Ok(rows.first().and_then(|r| r[0].as_i64()))
    }
}
