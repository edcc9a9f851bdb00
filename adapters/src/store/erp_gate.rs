//! The EBP call gate and token store on PostgreSQL or SQLite, shared by every worker and
//! process using the database (`ebp::gate`, `reference/ebp-api.md` §1 and §8).
//!
//! **Call gate** (`erp_call_gate`, one row per subscription): one `UPDATE … RETURNING`
//! takes the next slot = max(`next_slot_at`, now), moves `next_slot_at` one minimum
//! interval further, and counts the call in the day's budget — or, when the budget is
//! spent, changes nothing and returns no row. The statement is atomic on both databases:
//! PostgreSQL re-evaluates it on the newest row version after waiting for a concurrent
//! writer's row lock (READ COMMITTED), SQLite has a single writer. The caller then sleeps
//! until its slot, so calls leave at least `min_interval` apart whichever worker makes them.
//!
//! Assumptions: EBP's daily budget resets at midnight **UTC** (the reset time zone is
//! unknown, ebp-api.md §9.6; if it proves to be Paris time, the day key must follow). Slots
//! are computed from each worker's clock: hosts sharing a PostgreSQL database are assumed
//! NTP-synchronised (a skew of δ can bring two calls δ closer).
//!
//! **Token store** (`erp_tokens`, one row per connection, both tokens encrypted with
//! [`SecretBox`]): a refresh holds the row's lock across the refresh call — `SELECT … FOR
//! UPDATE` in a transaction on PostgreSQL, a `BEGIN IMMEDIATE` write transaction on SQLite
//! (which blocks every other writer of the file for the call's duration; refreshes happen
//! about once an hour, and the call is bounded by [`SqlTokenStore::with_refresh_timeout`],
//! kept below the pool's 30 s busy timeout). The new pair is committed before it is
//! returned, since the old refresh token is spent the moment EBP answers.

use super::db::{Db, DbKind, Tx, Val};
use crate::ebp::gate::{CallGate, GateError, RefreshFn, TokenPair, TokenStore};
use crate::secrets::SecretBox;
use async_trait::async_trait;
use chrono::{DateTime, Days, Utc};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tracing::instrument;

/// The time source of a gate: the system clock by default, a closure in tests.
pub type GateClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

/// The UTC day key stored in `erp_call_gate.day` (`YYYY-MM-DD`, ordered as text).
fn day_key(t: DateTime<Utc>) -> String {
    t.date_naive().format("%Y-%m-%d").to_string()
}

/// The next UTC midnight after `t`: when the daily budget is assumed to reset.
fn next_utc_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive()
        .checked_add_days(Days::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(t)
}

/// Paces the calls of each EBP subscription across every worker sharing the database.
#[derive(Clone)]
pub struct SqlCallGate {
    db: Db,
    min_interval: Duration,
    daily_budget: u32,
    clock: GateClock,
}

impl fmt::Debug for SqlCallGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlCallGate")
            .field("db", &self.db.kind())
            .field("min_interval", &self.min_interval)
            .field("daily_budget", &self.daily_budget)
            .finish_non_exhaustive()
    }
}

/// Claims the next slot and counts the call, or changes nothing when the day's budget is
/// spent. `$2` now (ms), `$3` interval (ms), `$4` today (UTC), `$5` budget. SET expressions
/// read the row as it was before the statement (both databases), so a new day restarts the
/// count at 1; a stored day later than ours (clock skew around midnight) keeps counting.
const TAKE_SLOT: &str = "UPDATE erp_call_gate SET \
       next_slot_at = (CASE WHEN next_slot_at > $2::bigint THEN next_slot_at ELSE $2::bigint END) + $3::bigint, \
       calls_today = CASE WHEN day < $4 THEN 1 ELSE calls_today + 1 END, \
       day = CASE WHEN day < $4 THEN $4 ELSE day END \
     WHERE subscription = $1 AND (day < $4 OR calls_today < $5::bigint) \
     RETURNING next_slot_at - $3::bigint";

impl SqlCallGate {
    /// EBP's published minimum interval between calls of one subscription (1 call/s).
    pub const EBP_MIN_INTERVAL: Duration = Duration::from_secs(1);
    /// EBP's published daily budget per subscription ("Early Adopters" phase).
    pub const EBP_DAILY_BUDGET: u32 = 10_000;

    /// A gate with the given pacing and daily budget, on the system clock.
    pub fn new(db: Db, min_interval: Duration, daily_budget: u32) -> Self {
        Self {
            db,
            min_interval,
            daily_budget,
            clock: Arc::new(Utc::now),
        }
    }

    /// A gate with EBP's published limits (1 call/s, 10,000 calls/day).
    pub fn ebp(db: Db) -> Self {
        Self::new(db, Self::EBP_MIN_INTERVAL, Self::EBP_DAILY_BUDGET)
    }

    /// Replaces the clock (tests: day boundaries). Waits still take real time.
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Counts a call in today's budget and takes the subscription's next slot, without
    /// waiting for it; returns the slot. Refuses with [`GateError::BudgetExhausted`] (taking
    /// no slot) when the day's calls are spent. [`CallGate::acquire`] is this plus the wait.
    #[instrument(skip_all, fields(subscription = %subscription))]
    pub async fn reserve(&self, subscription: &str) -> Result<DateTime<Utc>, GateError> {
        let store = |e: sqlx::Error| GateError::Store(e.to_string());
        let now = (self.clock)();
        let today = day_key(now);
        let interval = i64::try_from(self.min_interval.as_millis()).unwrap_or(i64::MAX / 4);
        // At most: refused (row missing) → row created → taken; a refusal racing a day
        // rollover by another worker retries once more.
        for _ in 0..3 {
            let rows = self
                .db
                .fetch(
                    TAKE_SLOT,
                    &[
                        Val::text(subscription),
                        Val::int(ms(now)),
                        Val::int(interval),
                        Val::text(&today),
                        Val::int(i64::from(self.daily_budget)),
                    ],
                )
                .await
                .map_err(store)?;
            if let Some(slot) = rows.first().and_then(|r| r[0].as_i64()) {
                return Ok(from_ms(slot));
            }
            let rows = self
                .db
                .fetch(
                    "SELECT calls_today, day FROM erp_call_gate WHERE subscription = $1",
                    &[Val::text(subscription)],
                )
                .await
                .map_err(store)?;
            match rows.first() {
                None => {
                    // First call ever for this subscription: the row starts free.
                    self.db
                        .execute(
                            "INSERT INTO erp_call_gate (subscription, next_slot_at, day, calls_today) \
                             VALUES ($1, $2, $3, 0) ON CONFLICT (subscription) DO NOTHING",
                            &[Val::text(subscription), Val::int(ms(now)), Val::text(&today)],
                        )
                        .await
                        .map_err(store)?;
                }
                Some(r) => {
                    let used = r[0].as_i64().unwrap_or(0);
                    let day = r[1].as_str().unwrap_or("");
                    if used >= i64::from(self.daily_budget) && day >= today.as_str() {
                        let refusal = GateError::BudgetExhausted {
                            used: u32::try_from(used).unwrap_or(u32::MAX),
                            limit: self.daily_budget,
                            resets_at: next_utc_midnight(now),
                        };
                        tracing::info!(%refusal, "appel EBP refusé");
                        return Err(refusal);
                    }
                }
            }
        }
        Err(GateError::Store(format!(
            "compteur de l'abonnement {subscription} introuvable après création"
        )))
    }
}

#[async_trait]
impl CallGate for SqlCallGate {
    async fn acquire(&self, subscription: &str) -> Result<(), GateError> {
        let slot = self.reserve(subscription).await?;
        if let Ok(wait) = (slot - (self.clock)()).to_std() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

/// Stores each EBP connection's token pair, encrypted, and serialises its refreshes across
/// every worker sharing the database.
#[derive(Debug, Clone)]
pub struct SqlTokenStore {
    db: Db,
    secrets: SecretBox,
    refresh_timeout: Duration,
}

const SELECT_PAIR: &str = "SELECT access_token_enc, refresh_token_enc, expires_at, version \
                           FROM erp_tokens WHERE connection = $1";

fn store_err(e: sqlx::Error) -> String {
    format!("stockage des jetons EBP indisponible : {e}")
}

impl SqlTokenStore {
    /// Default bound on a refresh call made under the lock (below SQLite's 30 s busy
    /// timeout, so other writers waiting on the lock do not fail first).
    pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(20);

    /// A store encrypting tokens with `secrets`.
    pub fn new(db: Db, secrets: SecretBox) -> Self {
        Self {
            db,
            secrets,
            refresh_timeout: Self::DEFAULT_REFRESH_TIMEOUT,
        }
    }

    /// Bounds the refresh call made while the lock is held. On timeout the transaction
    /// rolls back and the old pair stays stored (if EBP did rotate meanwhile, the connection
    /// must be authorised again — as with any lost answer).
    pub fn with_refresh_timeout(mut self, timeout: Duration) -> Self {
        self.refresh_timeout = timeout;
        self
    }

    fn decode(&self, connection: &str, r: &[Val]) -> Result<TokenPair, String> {
        let open = |v: &Val| {
            self.secrets
                .decrypt(v.as_str().unwrap_or(""))
                .map(|s| s.expose().to_string())
                .map_err(|e| format!("jetons EBP de la connexion {connection} illisibles : {e}"))
        };
        Ok(TokenPair {
            access_token: open(&r[0])?,
            refresh_token: open(&r[1])?,
            expires_at: from_ms(r[2].as_i64().unwrap_or(0)),
            version: r[3].as_i64().unwrap_or(0),
        })
    }

    /// A transaction holding the connection's refresh lock once its row is read: on
    /// PostgreSQL the row lock taken by `SELECT … FOR UPDATE`; on SQLite the database write
    /// lock, taken at `BEGIN IMMEDIATE` (a deferred transaction would only read, and two
    /// readers could then both decide to refresh).
    async fn begin_locked(&self) -> Result<Tx, sqlx::Error> {
        match &self.db {
            Db::Pg(_) => self.db.begin().await,
            Db::Sqlite(pool) => Ok(Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)),
        }
    }

    /// The body of [`TokenStore::refresh_with`] inside the locked transaction, returning
    /// the pair and whether this call refreshed it; the caller commits on `Ok` and rolls
    /// back on `Err`.
    async fn refresh_locked(
        &self,
        tx: &mut Tx,
        connection: &str,
        seen_version: i64,
        refresh: RefreshFn,
    ) -> Result<(TokenPair, bool), String> {
        let lock = match tx.kind() {
            DbKind::Postgres => " FOR UPDATE",
            DbKind::Sqlite => "",
        };
        let rows = tx
            .fetch(&format!("{SELECT_PAIR}{lock}"), &[Val::text(connection)])
            .await
            .map_err(store_err)?;
        let Some(row) = rows.first() else {
            return Err(format!(
                "connexion EBP {connection} jamais autorisée (aucun jeton enregistré)"
            ));
        };
        let stored = self.decode(connection, row)?;
        if stored.version != seen_version {
            // Another worker refreshed since the caller read its pair: use theirs.
            return Ok((stored, false));
        }
        let (access, refresh_token, expires_at) =
            tokio::time::timeout(self.refresh_timeout, refresh(stored.refresh_token))
                .await
                .map_err(|_| {
                    format!(
                        "renouvellement des jetons EBP de {connection} sans réponse après {:?}",
                        self.refresh_timeout
                    )
                })??;
        let rows = tx
            .fetch(
                "UPDATE erp_tokens SET access_token_enc = $2, refresh_token_enc = $3, \
                   expires_at = $4, version = version + 1, updated_at = $5 \
                 WHERE connection = $1 AND version = $6 RETURNING version",
                &[
                    Val::text(connection),
                    Val::text(self.secrets.encrypt(&access)),
                    Val::text(self.secrets.encrypt(&refresh_token)),
                    Val::int(ms(expires_at)),
                    Val::int(ms(Utc::now())),
                    Val::int(seen_version),
                ],
            )
            .await
            .map_err(store_err)?;
        let version = rows
            .first()
            .and_then(|r| r[0].as_i64())
            // Cannot happen while the lock is held; refuse rather than return an unstored pair.
            .ok_or_else(|| format!("jetons EBP de {connection} modifiés pendant le verrou"))?;
        let pair = TokenPair {
            access_token: access,
            refresh_token,
            expires_at,
            version,
        };
        Ok((pair, true))
    }
}

#[async_trait]
impl TokenStore for SqlTokenStore {
    async fn current(&self, connection: &str) -> Result<Option<TokenPair>, String> {
        let rows = self
            .db
            .fetch(SELECT_PAIR, &[Val::text(connection)])
            .await
            .map_err(store_err)?;
        rows.first().map(|r| self.decode(connection, r)).transpose()
    }

    async fn store_initial(
        &self,
        connection: &str,
        access_token: &str,
        refresh_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<TokenPair, String> {
        let rows = self
            .db
            .fetch(
                "INSERT INTO erp_tokens (connection, access_token_enc, refresh_token_enc, expires_at, version, updated_at) \
                 VALUES ($1, $2, $3, $4, 1, $5) \
                 ON CONFLICT (connection) DO UPDATE SET access_token_enc = excluded.access_token_enc, \
                   refresh_token_enc = excluded.refresh_token_enc, expires_at = excluded.expires_at, \
                   version = erp_tokens.version + 1, updated_at = excluded.updated_at \
                 RETURNING version",
                &[
                    Val::text(connection),
                    Val::text(self.secrets.encrypt(access_token)),
                    Val::text(self.secrets.encrypt(refresh_token)),
                    Val::int(ms(expires_at)),
                    Val::int(ms(Utc::now())),
                ],
            )
            .await
            .map_err(store_err)?;
        let version = rows.first().and_then(|r| r[0].as_i64()).unwrap_or(1);
        Ok(TokenPair {
            access_token: access_token.to_string(),
            refresh_token: refresh_token.to_string(),
            expires_at,
            version,
        })
    }

    #[instrument(skip_all, fields(connection = %connection, seen_version = seen_version))]
    async fn refresh_with(
        &self,
        connection: &str,
        seen_version: i64,
        refresh: RefreshFn,
    ) -> Result<TokenPair, String> {
        let mut tx = self.begin_locked().await.map_err(store_err)?;
        match self
            .refresh_locked(&mut tx, connection, seen_version, refresh)
            .await
        {
            Ok((pair, refreshed)) => {
                if let Err(e) = tx.commit().await {
                    if refreshed {
                        // A refreshed pair that did not reach the database: the old refresh
                        // token is spent, so the connection will need a new login.
                        tracing::error!(
                            version = pair.version,
                            "jetons EBP renouvelés mais non enregistrés"
                        );
                    }
                    return Err(store_err(e));
                }
                Ok(pair)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }
}
