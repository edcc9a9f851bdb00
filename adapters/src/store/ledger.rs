//! The transferred-orders ledger and the account's quotas on the database: the `Ledger`
//! and `Quotas` ports of the order workflows, over the `ShopOrder` and `Subscription`
//! aggregates.

use super::aggregates::{scoped_id, AggregateError, AggregateStore, Origin};
use super::db::{Db, Val};
use async_trait::async_trait;
use passerelle_domain::decider::Decider;
use passerelle_domain::orders::updates::UpdatePlan;
use passerelle_domain::shop_order::{shop_order_id, ShopOrderCommand, ShopOrderState};
use passerelle_domain::subscription::{QuotaCounter, Subscription, SubscriptionCommand};
use passerelle_domain::sync_cursor::{cursor_id, SyncCursor, SyncCursorCommand};
use passerelle_domain::{AccountId, Actor, ProfileId, RunId};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    Clock, Counter, Ledger, OrderLink, Quotas, Reservation, Transferred, UpdateLedger,
};
use std::collections::BTreeSet;
use std::sync::Arc;

fn db_err<R: std::error::Error>(e: AggregateError<R>) -> StepError {
    match e {
        AggregateError::Refused(r) => StepError::permanent(r.to_string()),
        AggregateError::Corrupt(c) => StepError::permanent(c),
        other => StepError::transient(other.to_string()),
    }
}

/// The ledger on the database.
#[derive(Clone)]
pub struct SqlLedger {
    db: Db,
    store: AggregateStore,
    clock: Arc<dyn Clock>,
}

impl SqlLedger {
    /// A ledger over `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: AggregateStore::new(db.clone()),
            db,
            clock,
        }
    }
}

#[async_trait]
impl Ledger for SqlLedger {
    async fn transferred(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        order_ids: &[String],
    ) -> Result<BTreeSet<String>, StepError> {
        if order_ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        // The aggregates' folded state is written with their events: no projection lag.
        let rows = self.order_states(account, profile, order_ids).await?;
        Ok(Self::links_of(rows, false)?
            .into_iter()
            .map(|l| l.order_id)
            .collect())
    }

    async fn record_transferred(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        orders: &[Transferred],
    ) -> Result<(), StepError> {
        let cmds = orders
            .iter()
            .map(|t| {
                (
                    shop_order_id(profile.as_str(), &t.order_id),
                    ShopOrderCommand::RecordTransfer {
                        profile_id: profile.to_string(),
                        order_id: t.order_id.clone(),
                        order_reference: t.order_reference.clone(),
                        document_number: t.document_number.clone(),
                        kind: t.kind,
                        run_id: Some(run.to_string()),
                    },
                )
            })
            .collect();
        let origin = run_origin(run, self.clock.now());
        self.store
            .execute_many::<ShopOrderState>(account, cmds, &origin)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

impl SqlLedger {
    /// Runs a command on one aggregate on behalf of `run`.
    async fn execute_for_run<A: Decider>(
        &self,
        account: &AccountId,
        id: &str,
        cmd: A::Command,
        run: RunId,
    ) -> Result<(), StepError> {
        self.store
            .execute::<A>(account, id, cmd, &run_origin(run, self.clock.now()))
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The folded `ShopOrder` states of these orders of the profile (one query).
    async fn order_states(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        order_ids: &[String],
    ) -> Result<Vec<Vec<Val>>, StepError> {
        let keys: Vec<String> = order_ids
            .iter()
            .map(|o| scoped_id(account, &shop_order_id(profile.as_str(), o)))
            .collect();
        let list = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into());
        let sql = match self.db.kind() {
            super::db::DbKind::Postgres => "SELECT state_json FROM aggregate_state WHERE aggregate_type = $1 AND account_id = $2 \
                 AND aggregate_id IN (SELECT json_array_elements_text($3::json)) ORDER BY aggregate_id",
            super::db::DbKind::Sqlite => "SELECT state_json FROM aggregate_state WHERE aggregate_type = $1 AND account_id = $2 \
                 AND aggregate_id IN (SELECT value FROM json_each($3)) ORDER BY aggregate_id",
        };
        self.db
            .fetch(
                sql,
                &[
                    Val::text(ShopOrderState::TYPE),
                    Val::text(account.as_str()),
                    Val::text(list),
                ],
            )
            .await
            .map_err(|e| StepError::transient(format!("base de données : {e}")))
    }

    /// Links of the rows; reset orders (no document) are kept with an empty number when
    /// `keep_reset` (the keyset reader needs every id it went past).
    fn links_of(rows: Vec<Vec<Val>>, keep_reset: bool) -> Result<Vec<OrderLink>, StepError> {
        let mut out = Vec::new();
        for r in rows {
            let st: ShopOrderState = serde_json::from_str(r[0].as_str().unwrap_or(""))
                .map_err(|e| StepError::permanent(format!("état de commande illisible : {e}")))?;
            if st.document_number.is_some() || keep_reset {
                out.push(OrderLink {
                    order_id: st.order_id,
                    document_number: st.document_number.unwrap_or_default(),
                    sent: st.sent,
                });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl UpdateLedger for SqlLedger {
    async fn links(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        order_ids: &[String],
    ) -> Result<Vec<OrderLink>, StepError> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.order_states(account, profile, order_ids).await?;
        Self::links_of(rows, false)
    }

    async fn links_page(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OrderLink>, StepError> {
        // Scoped ids are `<account>/<profile>:<order>`: a range on the prefix, keyset after
        // the last one read (ids sort as text).
        let prefix = scoped_id(account, &shop_order_id(profile.as_str(), ""));
        let from = match after {
            Some(a) => scoped_id(account, &shop_order_id(profile.as_str(), a)),
            None => prefix.clone(),
        };
        let rows = self
            .db
            .fetch(
                "SELECT state_json FROM aggregate_state WHERE aggregate_type = $1 AND account_id = $2 \
                 AND aggregate_id > $3 AND substr(aggregate_id, 1, CAST($4 AS INTEGER)) = $5 ORDER BY aggregate_id LIMIT $6",
                &[
                    Val::text(ShopOrderState::TYPE),
                    Val::text(account.as_str()),
                    Val::text(from),
                    Val::Int(Some(prefix.chars().count() as i64)),
                    Val::text(prefix),
                    Val::Int(Some(i64::from(limit))),
                ],
            )
            .await
            .map_err(|e| StepError::transient(format!("base de données : {e}")))?;
        Self::links_of(rows, true)
    }

    async fn record_update(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        order_id: &str,
        plan: &UpdatePlan,
    ) -> Result<(), StepError> {
        self.execute_for_run::<ShopOrderState>(
            account,
            &shop_order_id(profile.as_str(), order_id),
            ShopOrderCommand::RecordUpdate {
                plan: plan.clone(),
                run_id: Some(run.to_string()),
            },
            run,
        )
        .await
    }

    async fn record_invoice(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        order_id: &str,
        invoice_number: &str,
        bytes: u64,
    ) -> Result<(), StepError> {
        self.execute_for_run::<ShopOrderState>(
            account,
            &shop_order_id(profile.as_str(), order_id),
            ShopOrderCommand::RecordInvoice {
                invoice_number: invoice_number.to_string(),
                bytes,
                run_id: Some(run.to_string()),
            },
            run,
        )
        .await
    }

    async fn cursor(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        flow: &str,
    ) -> Result<Option<String>, StepError> {
        let c = self
            .store
            .load::<SyncCursor>(account, &cursor_id(profile.as_str(), flow))
            .await
            .map_err(db_err)?;
        Ok(c.and_then(|c| c.value))
    }

    async fn advance_cursor(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        flow: &str,
        value: &str,
    ) -> Result<(), StepError> {
        self.execute_for_run::<SyncCursor>(
            account,
            &cursor_id(profile.as_str(), flow),
            SyncCursorCommand::Advance {
                profile_id: profile.to_string(),
                flow: flow.to_string(),
                value: value.to_string(),
                run_id: Some(run.to_string()),
            },
            run,
        )
        .await
    }
}

/// Events written on behalf of a run: its worker is the actor, the run the correlation.
fn run_origin(run: RunId, at: chrono::DateTime<chrono::Utc>) -> Origin {
    Origin {
        actor: Actor::Worker(format!("run:{run}")),
        correlation: run.to_string(),
        at,
    }
}

fn counter(c: Counter) -> QuotaCounter {
    match c {
        Counter::Import => QuotaCounter::Import,
        Counter::Export => QuotaCounter::Export,
    }
}

/// Quotas on the database (the account's `Subscription` aggregate).
#[derive(Clone)]
pub struct SqlQuotas {
    store: AggregateStore,
    clock: Arc<dyn Clock>,
}

/// The aggregate id of an account's subscription.
pub const SUBSCRIPTION_ID: &str = "subscription";

impl SqlQuotas {
    /// Quotas over `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: AggregateStore::new(db),
            clock,
        }
    }

    /// Runs a subscription command (purchase, payment events) for an operator.
    pub async fn execute(
        &self,
        account: &AccountId,
        cmd: SubscriptionCommand,
        actor: Actor,
    ) -> Result<(), AggregateError<passerelle_domain::subscription::SubscriptionRefusal>> {
        let origin = Origin {
            actor,
            correlation: "subscription".into(),
            at: self.clock.now(),
        };
        self.store
            .execute::<Subscription>(account, SUBSCRIPTION_ID, cmd, &origin)
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl Quotas for SqlQuotas {
    async fn reserve(
        &self,
        account: &AccountId,
        run: RunId,
        key: &str,
        c: Counter,
        wanted: u32,
    ) -> Result<Reservation, StepError> {
        let now = self.clock.now();
        let origin = run_origin(run, now);
        self.store
            .execute::<Subscription>(
                account,
                SUBSCRIPTION_ID,
                SubscriptionCommand::Reserve {
                    run_id: run.to_string(),
                    key: key.to_string(),
                    counter: counter(c),
                    wanted: u64::from(wanted),
                    now,
                },
                &origin,
            )
            .await
            .map_err(db_err)?;
        let st: Subscription = self
            .store
            .load(account, SUBSCRIPTION_ID)
            .await
            .map_err(db_err)?
            .unwrap_or_default();
        let granted = st
            .granted
            .get(&format!("{run}/{key}"))
            .copied()
            .unwrap_or(0) as u32;
        let limited_by = (granted < wanted).then(|| {
            if !st.counters.contains_key(&counter(c)) {
                format!(
                    "aucun forfait {} sur le compte : quota épuisé (no plan: quota exhausted)",
                    counter(c).as_str()
                )
            } else {
                "quota épuisé (quota exhausted)".to_string()
            }
        });
        Ok(Reservation {
            granted,
            limited_by,
        })
    }

    async fn settle(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        run: RunId,
        key: &str,
        _c: Counter,
        units: u32,
    ) -> Result<(), StepError> {
        let now = self.clock.now();
        let origin = run_origin(run, now);
        self.store
            .execute::<Subscription>(
                account,
                SUBSCRIPTION_ID,
                SubscriptionCommand::Settle {
                    run_id: run.to_string(),
                    key: key.to_string(),
                    profile_id: profile.to_string(),
                    consumed: u64::from(units),
                    now,
                },
                &origin,
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
