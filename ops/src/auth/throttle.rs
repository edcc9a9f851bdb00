//! Login throttling: consecutive failures per key (a user, an address) in the database, so
//! every process behind a load balancer sees them. Past a key's threshold each further
//! failure doubles the wait (1 s, 2 s, 4 s… up to 15 minutes); a success clears the keys.

use chrono::{DateTime, Duration, Utc};
use passerelle_adapters::store::{Db, Val};

/// Longest wait imposed.
const MAX_WAIT_SECONDS: i64 = 900;

/// The throttle.
#[derive(Clone)]
pub struct Throttle {
    db: Db,
}

impl Throttle {
    /// Over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Seconds to wait if any key is blocked at `now`.
    pub async fn blocked(
        &self,
        keys: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let mut wait = None;
        for k in keys {
            let rows = self
                .db
                .fetch(
                    "SELECT blocked_until FROM login_throttle WHERE throttle_key = $1",
                    &[Val::text(*k)],
                )
                .await?;
            if let Some(until) = rows
                .first()
                .and_then(|r| r[0].as_str())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            {
                let left = (until.with_timezone(&Utc) - now).num_milliseconds();
                if left > 0 {
                    let s = (left + 999) / 1000;
                    wait = Some(wait.map_or(s, |w: i64| w.max(s)));
                }
            }
        }
        Ok(wait)
    }

    /// Counts a failure on each key; past its threshold the key is blocked.
    pub async fn failed(
        &self,
        keys: &[(&str, i64)],
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        for (k, threshold) in keys {
            let rows = self
                .db
                .fetch(
                    "INSERT INTO login_throttle (throttle_key, failures) VALUES ($1, 1) \
                     ON CONFLICT (throttle_key) DO UPDATE SET failures = login_throttle.failures + 1 \
                     RETURNING failures",
                    &[Val::text(*k)],
                )
                .await?;
            let n = rows.first().and_then(|r| r[0].as_i64()).unwrap_or(1);
            if n >= *threshold {
                let exp = (n - threshold).min(10) as u32;
                let wait = 2i64.pow(exp).min(MAX_WAIT_SECONDS);
                let until = (now + Duration::seconds(wait))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                self.db
                    .execute(
                        "UPDATE login_throttle SET blocked_until = $2 WHERE throttle_key = $1",
                        &[Val::text(*k), Val::text(until)],
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Clears the keys after a success.
    pub async fn succeeded(&self, keys: &[&str]) -> Result<(), sqlx::Error> {
        for k in keys {
            self.db
                .execute(
                    "DELETE FROM login_throttle WHERE throttle_key = $1",
                    &[Val::text(*k)],
                )
                .await?;
        }
        Ok(())
    }
}
