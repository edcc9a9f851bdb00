//! The cost bucket of one Shopify shop, shared by every worker and process using the
//! database (`shopify_cost_bucket`, migration 0063), on the model of the EBP call gate
//! (`store::erp_gate`).
//!
//! Shopify meters the Admin GraphQL API per app and shop with a leaky bucket of cost points
//! (Standard plan: 2,000 points restoring 100/s; platforms.md §3,
//! https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits). Before sending a
//! query, a worker **reserves** its requested cost with one `UPDATE … RETURNING`: the
//! stored level is first restored for the time elapsed (capped at the maximum), then
//! debited. A level that goes below zero is a debt: the worker sleeps until the bucket has
//! restored it, so the queries of all workers leave no faster than the shop restores
//! points, and none finds the shop's bucket empty because of another worker. After each
//! answer the worker **settles**: the unused part of the reservation (requested − actual)
//! is given back, the level is lowered to what the shop reported
//! (`throttleStatus.currentlyAvailable`: another app of the shop may be spending too), and
//! the maximum and restore rate are taken from the answer (they depend on the plan).
//!
//! Both statements are atomic on both databases (PostgreSQL re-evaluates on the newest row
//! version after a concurrent writer's lock; SQLite has one writer). Levels are kept in
//! thousandths of a point so that integer milliseconds times points per second need no
//! rounding. Hosts sharing a database are assumed NTP-synchronised, as for the EBP gate.

use crate::store::{Db, Val};
use chrono::Utc;
use passerelle_workflows::engine::StepError;
use std::time::Duration;

/// The Standard plan's bucket, assumed until the shop's first answer says otherwise.
pub const DEFAULT_MAXIMUM: i64 = 2000;
/// The Standard plan's restore rate (points per second).
pub const DEFAULT_RESTORE_RATE: i64 = 100;

/// Restored level: `level_milli` plus the elapsed ms times the rate, capped at the maximum.
/// `$2` is now (ms). SET expressions read the row as it was before the statement.
const RESTORED: &str = "(CASE WHEN level_milli + (CASE WHEN $2::bigint > updated_at THEN $2::bigint - updated_at ELSE 0 END) * restore_rate > maximum * 1000 \
      THEN maximum * 1000 \
      ELSE level_milli + (CASE WHEN $2::bigint > updated_at THEN $2::bigint - updated_at ELSE 0 END) * restore_rate END)";

/// What the shop reported in `extensions.cost.throttleStatus`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    /// `maximumAvailable`.
    pub maximum: f64,
    /// `currentlyAvailable`.
    pub available: f64,
    /// `restoreRate`.
    pub restore_rate: f64,
}

/// The shared bucket of every shop, in the database.
#[derive(Clone)]
pub struct CostBucket {
    db: Db,
}

impl std::fmt::Debug for CostBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostBucket")
            .field("db", &self.db.kind())
            .finish()
    }
}

fn store(e: impl std::fmt::Display) -> StepError {
    StepError::transient(format!("compteur de coût Shopify indisponible : {e}"))
}

impl CostBucket {
    /// The buckets kept in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Reserves `cost` points of `shop`'s bucket and returns how long to wait before
    /// sending (zero when the bucket holds them now).
    pub async fn reserve(&self, shop: &str, cost: u32) -> Result<Duration, StepError> {
        let now = Utc::now().timestamp_millis();
        let sql = format!(
            "UPDATE shopify_cost_bucket SET level_milli = {RESTORED} - $3::bigint, \
             updated_at = CASE WHEN $2::bigint > updated_at THEN $2::bigint ELSE updated_at END \
             WHERE shop = $1 RETURNING level_milli, restore_rate"
        );
        for _ in 0..2 {
            let rows = self
                .db
                .fetch(
                    &sql,
                    &[
                        Val::text(shop),
                        Val::int(now),
                        Val::int(i64::from(cost) * 1000),
                    ],
                )
                .await
                .map_err(store)?;
            if let Some(r) = rows.first() {
                let level = r[0].as_i64().unwrap_or(0);
                let rate = r[1].as_i64().unwrap_or(DEFAULT_RESTORE_RATE).max(1);
                // A debt of d thousandths of a point restores in d / rate milliseconds.
                let wait_ms = if level < 0 { (-level) / rate + 1 } else { 0 };
                return Ok(Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)));
            }
            // First query for this shop: the row starts full (Standard plan until told).
            self.db
                .execute(
                    "INSERT INTO shopify_cost_bucket (shop, level_milli, maximum, restore_rate, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (shop) DO NOTHING",
                    &[
                        Val::text(shop),
                        Val::int(DEFAULT_MAXIMUM * 1000),
                        Val::int(DEFAULT_MAXIMUM),
                        Val::int(DEFAULT_RESTORE_RATE),
                        Val::int(now),
                    ],
                )
                .await
                .map_err(store)?;
        }
        Err(store(format!("ligne de la boutique {shop} introuvable")))
    }

    /// After an answer: gives back `refund` points (requested − actual; the whole
    /// reservation for a query the shop did not run) and lowers the level to what the shop
    /// reported, taking its maximum and restore rate.
    pub async fn settle(
        &self,
        shop: &str,
        refund: u32,
        status: Option<ThrottleStatus>,
    ) -> Result<(), StepError> {
        let now = Utc::now().timestamp_millis();
        let (reported, maximum, rate) = match status {
            Some(s) => (
                (s.available * 1000.0) as i64,
                s.maximum.round() as i64,
                (s.restore_rate.round() as i64).max(1),
            ),
            None => (i64::MAX / 4, -1, -1),
        };
        let sql = format!(
            "UPDATE shopify_cost_bucket SET \
               level_milli = CASE WHEN {RESTORED} + $3::bigint > $4::bigint THEN $4::bigint ELSE {RESTORED} + $3::bigint END, \
               maximum = CASE WHEN $5::bigint > 0 THEN $5::bigint ELSE maximum END, \
               restore_rate = CASE WHEN $6::bigint > 0 THEN $6::bigint ELSE restore_rate END, \
               updated_at = CASE WHEN $2::bigint > updated_at THEN $2::bigint ELSE updated_at END \
             WHERE shop = $1"
        );
        self.db
            .execute(
                &sql,
                &[
                    Val::text(shop),
                    Val::int(now),
                    Val::int(i64::from(refund) * 1000),
                    Val::int(reported),
                    Val::int(maximum),
                    Val::int(rate),
                ],
            )
            .await
            .map_err(store)?;
        Ok(())
    }

    /// The level this side believes `shop` has now (points), `None` before its first query.
    pub async fn level(&self, shop: &str) -> Result<Option<f64>, StepError> {
        let now = Utc::now().timestamp_millis();
        let sql = format!("SELECT {RESTORED} FROM shopify_cost_bucket WHERE shop = $1");
        let rows = self
            .db
            .fetch(&sql, &[Val::text(shop), Val::int(now)])
            .await
            .map_err(store)?;
        Ok(rows
            .first()
            .and_then(|r| r[0].as_i64())
            .map(|m| m as f64 / 1000.0))
    }
}
