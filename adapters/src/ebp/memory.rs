//! In-memory [`CallGate`] and [`TokenStore`] for one process (tests, benchmarks, a single
//! worker). Several workers of one process share them through an `Arc`; workers spread
//! over processes need the database implementations (`store::erp_gate`).

use super::gate::{CallGate, GateError, RefreshFn, TokenPair, TokenStore};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
struct Slot {
    /// Earliest start of the next call.
    next: Instant,
    /// UTC day of `used`.
    day: NaiveDate,
    /// Calls counted on `day`.
    used: u32,
}

/// Paces calls per subscription: at least `min_interval` between two call starts and at
/// most `daily_budget` calls per UTC day.
#[derive(Debug)]
pub struct MemoryGate {
    min_interval: Duration,
    daily_budget: u32,
    slots: Mutex<HashMap<String, Slot>>,
}

impl MemoryGate {
    /// A gate with EBP's limits (`min_interval` 1 s, `daily_budget` 10,000) or test values.
    pub fn new(min_interval: Duration, daily_budget: u32) -> Self {
        Self {
            min_interval,
            daily_budget,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// EBP's published limits: 1 call/s, 10,000 calls/day.
    pub fn ebp_limits() -> Self {
        Self::new(Duration::from_secs(1), 10_000)
    }

    /// Calls counted today for `subscription`.
    pub async fn used_today(&self, subscription: &str) -> u32 {
        let today = Utc::now().date_naive();
        self.slots
            .lock()
            .await
            .get(subscription)
            .filter(|s| s.day == today)
            .map_or(0, |s| s.used)
    }
}

fn next_midnight(day: NaiveDate) -> DateTime<Utc> {
    day.succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or_else(Utc::now)
}

#[async_trait]
impl CallGate for MemoryGate {
    async fn acquire(&self, subscription: &str) -> Result<(), GateError> {
        let now = Instant::now();
        let today = Utc::now().date_naive();
        // Reserve a slot under the lock, sleep outside it: concurrent callers queue up at
        // `min_interval` spacing without holding the lock while they wait.
        let wait_until = {
            let mut slots = self.slots.lock().await;
            let slot = slots.entry(subscription.to_string()).or_insert(Slot {
                next: now,
                day: today,
                used: 0,
            });
            if slot.day != today {
                slot.day = today;
                slot.used = 0;
            }
            if slot.used >= self.daily_budget {
                return Err(GateError::BudgetExhausted {
                    used: slot.used,
                    limit: self.daily_budget,
                    resets_at: next_midnight(today),
                });
            }
            slot.used += 1;
            let start = slot.next.max(now);
            slot.next = start + self.min_interval;
            start
        };
        tokio::time::sleep_until(wait_until).await;
        Ok(())
    }
}

/// Token pairs per connection, with one refresh lock per connection.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    pairs: Mutex<HashMap<String, TokenPair>>,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    async fn lock_for(&self, connection: &str) -> Arc<Mutex<()>> {
        self.locks
            .lock()
            .await
            .entry(connection.to_string())
            .or_default()
            .clone()
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn current(&self, connection: &str) -> Result<Option<TokenPair>, String> {
        Ok(self.pairs.lock().await.get(connection).cloned())
    }

    async fn store_initial(
        &self,
        connection: &str,
        access_token: &str,
        refresh_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<TokenPair, String> {
        let lock = self.lock_for(connection).await;
        let _serialised = lock.lock().await;
        let mut pairs = self.pairs.lock().await;
        let version = pairs.get(connection).map_or(1, |p| p.version + 1);
        let pair = TokenPair {
            access_token: access_token.to_string(),
            refresh_token: refresh_token.to_string(),
            expires_at,
            version,
        };
        pairs.insert(connection.to_string(), pair.clone());
        Ok(pair)
    }

    async fn refresh_with(
        &self,
        connection: &str,
        seen_version: i64,
        refresh: RefreshFn,
    ) -> Result<TokenPair, String> {
        let lock = self.lock_for(connection).await;
        let _serialised = lock.lock().await;
        let current = self
            .pairs
            .lock()
            .await
            .get(connection)
            .cloned()
            .ok_or_else(|| format!("connexion EBP {connection} jamais autorisée"))?;
        if current.version != seen_version {
            return Ok(current);
        }
        let (access, refresh_token, expires_at) = refresh(current.refresh_token.clone()).await?;
        let pair = TokenPair {
            access_token: access,
            refresh_token,
            expires_at,
            version: current.version + 1,
        };
        // Stored before it is returned (and so before it is used).
        self.pairs
            .lock()
            .await
            .insert(connection.to_string(), pair.clone());
        Ok(pair)
    }
}
