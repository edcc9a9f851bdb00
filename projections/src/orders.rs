//! Order and quota read models (DESIGN §5): `transferred_orders` (shop order → ERP document,
//! reset history), `quotas` (each account's folded subscription and per-day, per-profile
//! consumption) and `last_transfer` (per profile and flow, the start of the last successful
//! run).

use crate::projector::{bulk_upsert, fetch_by_keys, Projection, ProjectionError, TableSpec};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use passerelle_adapters::store::{Db, RawEvent, Tx, Val};
use passerelle_domain::decider::Decider;
use passerelle_domain::shop_order::ShopOrderEvent;
use passerelle_domain::subscription::{Subscription, SubscriptionEvent};
use passerelle_domain::{RunEvent, RunStatus};
use passerelle_workflows::engine::StoreError;
use serde::Serialize;
use std::collections::HashMap;

fn corrupt(raw: &RawEvent, reason: String) -> ProjectionError {
    ProjectionError::Corrupt(StoreError::Corrupt {
        aggregate_type: raw.aggregate_type.clone(),
        aggregate_id: raw.aggregate_id.clone(),
        sequence: raw.sequence,
        reason,
    })
}

fn meta(raw: &RawEvent) -> Result<HashMap<String, String>, ProjectionError> {
    serde_json::from_str(&raw.metadata)
        .map_err(|e| corrupt(raw, format!("métadonnées illisibles : {e}")))
}

fn s(v: &Val) -> String {
    v.as_str().unwrap_or("").to_string()
}

// ---------------------------------------------------------------------------------------
// transferred_orders

/// The `transferred_orders` projection.
pub struct TransferredOrdersProjection;

const TO_COLUMNS: &str = "order_key, account_id, profile_id, order_id, order_reference, document_number, kind, transferred_at, run_id, resets, last_reset_reason, last_reset_by, last_reset_at";
/// What went back to each shop order (FEATURES §5): a second table of the projection, so the
/// first keeps its columns for databases created before order updates existed.
const OU_COLUMNS: &str = "order_key, account_id, profile_id, order_id, stage, stage_number, shop_state, tracking, document_number_sent, delivery_date, invoices, updated_at";

/// One shop order as support sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TransferredOrder {
    /// Profile.
    pub profile: String,
    /// Shop order id.
    pub order_id: String,
    /// Shop order reference.
    pub order_reference: String,
    /// ERP document (none once reset).
    pub document_number: Option<String>,
    /// ERP document type.
    pub kind: String,
    /// When it was transferred.
    pub transferred_at: String,
    /// The run.
    pub run_id: String,
    /// Resets so far.
    pub resets: i64,
    /// Last reset: why, who, when.
    pub last_reset: Option<(String, String, String)>,
}

#[async_trait]
impl Projection for TransferredOrdersProjection {
    fn name(&self) -> &'static str {
        "transferred_orders"
    }
    fn aggregate_type(&self) -> &'static str {
        "ShopOrder"
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "transferred_orders",
            key: "order_key",
            columns: TO_COLUMNS,
            ddl: "(order_key TEXT PRIMARY KEY, account_id TEXT NOT NULL, profile_id TEXT NOT NULL, order_id TEXT NOT NULL, \
                  order_reference TEXT NOT NULL, document_number TEXT, kind TEXT NOT NULL, transferred_at TEXT NOT NULL, \
                  run_id TEXT NOT NULL, resets BIGINT NOT NULL, last_reset_reason TEXT, last_reset_by TEXT, last_reset_at TEXT)",
        }, TableSpec {
            name: "order_updates",
            key: "order_key",
            columns: OU_COLUMNS,
            ddl: "(order_key TEXT PRIMARY KEY, account_id TEXT NOT NULL, profile_id TEXT NOT NULL, order_id TEXT NOT NULL, \
                  stage TEXT, stage_number TEXT, shop_state TEXT, tracking TEXT, document_number_sent TEXT, \
                  delivery_date TEXT, invoices TEXT NOT NULL, updated_at TEXT NOT NULL)",
        }]
    }

    async fn apply_batch(
        &self,
        tx: &mut Tx,
        prefix: &str,
        events: &[RawEvent],
    ) -> Result<(), ProjectionError> {
        let table = format!("{prefix}transferred_orders");
        let mut ids: Vec<String> = events.iter().map(|e| e.aggregate_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let cols: Vec<&str> = TO_COLUMNS.split(", ").collect();
        let mut rows: HashMap<String, serde_json::Map<String, serde_json::Value>> = HashMap::new();
        for r in fetch_by_keys(tx, &table, "order_key", TO_COLUMNS, &ids).await? {
            let mut m = serde_json::Map::new();
            for (i, c) in cols.iter().enumerate() {
                let v = match &r[i] {
                    Val::Int(Some(n)) => serde_json::json!(n),
                    Val::Text(Some(t)) => serde_json::json!(t),
                    _ => serde_json::Value::Null,
                };
                m.insert((*c).to_string(), v);
            }
            rows.insert(s(&r[0]), m);
        }
        let ou_table = format!("{prefix}order_updates");
        let ou_cols: Vec<&str> = OU_COLUMNS.split(", ").collect();
        let mut updates: HashMap<String, serde_json::Map<String, serde_json::Value>> =
            HashMap::new();
        for r in fetch_by_keys(tx, &ou_table, "order_key", OU_COLUMNS, &ids).await? {
            let mut m = serde_json::Map::new();
            for (i, c) in ou_cols.iter().enumerate() {
                m.insert(
                    (*c).to_string(),
                    r[i].as_str().map_or(serde_json::Value::Null, |t| t.into()),
                );
            }
            updates.insert(s(&r[0]), m);
        }
        let mut reset_updates: Vec<String> = Vec::new();
        for raw in events {
            let e: ShopOrderEvent = serde_json::from_str(&raw.payload)
                .map_err(|err| corrupt(raw, format!("charge utile illisible : {err}")))?;
            let m = meta(raw)?;
            let at = m.get("timestamp").cloned().unwrap_or_default();
            if apply_update(&mut updates, raw, &m, &at, &e) {
                continue;
            }
            let row = rows.entry(raw.aggregate_id.clone()).or_insert_with(|| {
                let mut r = serde_json::Map::new();
                r.insert("order_key".into(), raw.aggregate_id.clone().into());
                r.insert(
                    "account_id".into(),
                    m.get("account_id").cloned().unwrap_or_default().into(),
                );
                r.insert("resets".into(), 0.into());
                r
            });
            match e {
                ShopOrderEvent::OrderTransferred {
                    profile_id,
                    order_id,
                    order_reference,
                    document_number,
                    kind,
                    run_id,
                } => {
                    row.insert("profile_id".into(), profile_id.into());
                    row.insert("order_id".into(), order_id.into());
                    row.insert("order_reference".into(), order_reference.into());
                    row.insert("document_number".into(), document_number.into());
                    row.insert(
                        "kind".into(),
                        serde_json::to_value(kind).unwrap_or_default(),
                    );
                    row.insert("transferred_at".into(), at.into());
                    row.insert("run_id".into(), run_id.unwrap_or_default().into());
                }
                ShopOrderEvent::TransferReset {
                    profile_id,
                    order_id,
                    reason,
                    ..
                } => {
                    row.insert("profile_id".into(), profile_id.into());
                    row.insert("order_id".into(), order_id.into());
                    row.insert("document_number".into(), serde_json::Value::Null);
                    let n = row.get("resets").and_then(|v| v.as_i64()).unwrap_or(0);
                    row.insert("resets".into(), (n + 1).into());
                    row.insert("last_reset_reason".into(), reason.into());
                    row.insert(
                        "last_reset_by".into(),
                        m.get("actor").cloned().unwrap_or_default().into(),
                    );
                    row.insert("last_reset_at".into(), at.into());
                    // Updates start over with the next transfer.
                    updates.remove(&raw.aggregate_id);
                    reset_updates.push(raw.aggregate_id.clone());
                }
                _ => {}
            }
        }
        let json: Vec<serde_json::Value> = rows
            .into_values()
            .map(|mut r| {
                for c in ["order_reference", "kind", "transferred_at", "run_id"] {
                    r.entry(c).or_insert_with(|| "".into());
                }
                serde_json::Value::Object(r)
            })
            .collect();
        bulk_upsert(tx, &table, "order_key", &cols, &json).await?;
        for key in reset_updates.iter().filter(|k| !updates.contains_key(*k)) {
            tx.execute(
                &format!("DELETE FROM {ou_table} WHERE order_key = $1"),
                &[Val::text(key.as_str())],
            )
            .await?;
        }
        let json: Vec<serde_json::Value> = updates
            .into_values()
            .map(serde_json::Value::Object)
            .collect();
        bulk_upsert(tx, &ou_table, "order_key", &ou_cols, &json).await?;
        Ok(())
    }
}

/// Folds an order-update event into its `order_updates` row; false for other events.
fn apply_update(
    updates: &mut HashMap<String, serde_json::Map<String, serde_json::Value>>,
    raw: &RawEvent,
    m: &HashMap<String, String>,
    at: &str,
    e: &ShopOrderEvent,
) -> bool {
    let (profile_id, order_id) = match e {
        ShopOrderEvent::OrderStatusSent {
            profile_id,
            order_id,
            ..
        }
        | ShopOrderEvent::TrackingSent {
            profile_id,
            order_id,
            ..
        }
        | ShopOrderEvent::DocumentNumberSent {
            profile_id,
            order_id,
            ..
        }
        | ShopOrderEvent::DeliveryDateSent {
            profile_id,
            order_id,
            ..
        }
        | ShopOrderEvent::InvoiceSent {
            profile_id,
            order_id,
            ..
        } => (profile_id, order_id),
        _ => return false,
    };
    let row = updates.entry(raw.aggregate_id.clone()).or_insert_with(|| {
        let mut r = serde_json::Map::new();
        for c in OU_COLUMNS.split(", ") {
            r.insert(c.to_string(), serde_json::Value::Null);
        }
        r.insert("order_key".into(), raw.aggregate_id.clone().into());
        r.insert(
            "account_id".into(),
            m.get("account_id").cloned().unwrap_or_default().into(),
        );
        r.insert("profile_id".into(), profile_id.clone().into());
        r.insert("order_id".into(), order_id.clone().into());
        r.insert("invoices".into(), "".into());
        r
    });
    row.insert("updated_at".into(), at.into());
    match e {
        ShopOrderEvent::OrderStatusSent {
            kind,
            document_number,
            state_id,
            ..
        } => {
            row.insert(
                "stage".into(),
                serde_json::to_value(kind).unwrap_or_default(),
            );
            row.insert("stage_number".into(), document_number.clone().into());
            if let Some(st) = state_id {
                row.insert("shop_state".into(), st.clone().into());
            }
        }
        ShopOrderEvent::TrackingSent {
            number, state_id, ..
        } => {
            row.insert("tracking".into(), number.clone().into());
            if let Some(st) = state_id {
                row.insert("shop_state".into(), st.clone().into());
            }
        }
        ShopOrderEvent::DocumentNumberSent { number, .. } => {
            row.insert("document_number_sent".into(), number.clone().into());
        }
        ShopOrderEvent::DeliveryDateSent { date, .. } => {
            row.insert("delivery_date".into(), date.to_string().into());
        }
        ShopOrderEvent::InvoiceSent { invoice_number, .. } => {
            let prev = row
                .get("invoices")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            let joined = if prev.is_empty() {
                invoice_number.clone()
            } else {
                format!("{prev},{invoice_number}")
            };
            row.insert("invoices".into(), joined.into());
        }
        _ => {}
    }
    true
}

/// What went back to one shop order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrderUpdate {
    /// Shop order id.
    pub order_id: String,
    /// Furthest ERP document type reported.
    pub stage: Option<String>,
    /// Its number.
    pub stage_number: Option<String>,
    /// Last shop status set by an update.
    pub shop_state: Option<String>,
    /// Tracking number sent.
    pub tracking: Option<String>,
    /// Document number written on the order.
    pub document_number_sent: Option<String>,
    /// Delivery date sent.
    pub delivery_date: Option<String>,
    /// Invoice PDFs attached.
    pub invoices: Vec<String>,
    /// When the last update was recorded.
    pub updated_at: String,
}

/// What went back to the shop orders of a profile, by order id.
pub async fn order_updates(
    db: &Db,
    account: &str,
    profile: &str,
) -> Result<Vec<OrderUpdate>, sqlx::Error> {
    let rows = db
        .fetch(
            &format!(
                "SELECT {OU_COLUMNS} FROM order_updates WHERE account_id = $1 AND profile_id = $2"
            ),
            &[Val::text(account), Val::text(profile)],
        )
        .await?;
    let opt = |v: &Val| v.as_str().map(str::to_string);
    let mut out: Vec<OrderUpdate> = rows
        .iter()
        .map(|r| OrderUpdate {
            order_id: s(&r[3]),
            stage: opt(&r[4]),
            stage_number: opt(&r[5]),
            shop_state: opt(&r[6]),
            tracking: opt(&r[7]),
            document_number_sent: opt(&r[8]),
            delivery_date: opt(&r[9]),
            invoices: s(&r[10])
                .split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
            updated_at: s(&r[11]),
        })
        .collect();
    out.sort_by_key(|o| {
        (
            o.order_id.parse::<u64>().unwrap_or(u64::MAX),
            o.order_id.clone(),
        )
    });
    Ok(out)
}

/// Transferred (and reset) orders of a profile, by shop order id.
pub async fn transferred_orders(
    db: &Db,
    account: &str,
    profile: &str,
) -> Result<Vec<TransferredOrder>, sqlx::Error> {
    let rows = db
        .fetch(
            &format!("SELECT {TO_COLUMNS} FROM transferred_orders WHERE account_id = $1 AND profile_id = $2"),
            &[Val::text(account), Val::text(profile)],
        )
        .await?;
    let mut out: Vec<TransferredOrder> = rows
        .iter()
        .map(|r| TransferredOrder {
            profile: s(&r[2]),
            order_id: s(&r[3]),
            order_reference: s(&r[4]),
            document_number: r[5].as_str().map(str::to_string),
            kind: s(&r[6]),
            transferred_at: s(&r[7]),
            run_id: s(&r[8]),
            resets: r[9].as_i64().unwrap_or(0),
            last_reset: r[10]
                .as_str()
                .map(|why| (why.to_string(), s(&r[11]), s(&r[12]))),
        })
        .collect();
    out.sort_by_key(|o| {
        (
            o.order_id.parse::<u64>().unwrap_or(u64::MAX),
            o.order_id.clone(),
        )
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// quotas

/// The `quotas` projection: the folded subscription per account, and units consumed per
/// day, profile and counter (the dashboard chart).
pub struct QuotasProjection;

const QA_COLUMNS: &str = "account_id, state_json";
const QD_COLUMNS: &str = "usage_key, account_id, counter, day, profile_id, units";

#[async_trait]
impl Projection for QuotasProjection {
    fn name(&self) -> &'static str {
        "quotas"
    }
    fn aggregate_type(&self) -> &'static str {
        "Subscription"
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![
            TableSpec {
                name: "quota_accounts",
                key: "account_id",
                columns: QA_COLUMNS,
                ddl: "(account_id TEXT PRIMARY KEY, state_json TEXT NOT NULL)",
            },
            TableSpec {
                name: "quota_daily",
                key: "usage_key",
                columns: QD_COLUMNS,
                ddl: "(usage_key TEXT PRIMARY KEY, account_id TEXT NOT NULL, counter TEXT NOT NULL, day TEXT NOT NULL, \
                      profile_id TEXT NOT NULL, units BIGINT NOT NULL)",
            },
        ]
    }

    async fn apply_batch(
        &self,
        tx: &mut Tx,
        prefix: &str,
        events: &[RawEvent],
    ) -> Result<(), ProjectionError> {
        let (acc_table, day_table) = (
            format!("{prefix}quota_accounts"),
            format!("{prefix}quota_daily"),
        );
        let mut decoded = Vec::with_capacity(events.len());
        for raw in events {
            let e: SubscriptionEvent = serde_json::from_str(&raw.payload)
                .map_err(|err| corrupt(raw, format!("charge utile illisible : {err}")))?;
            let account = meta(raw)?.get("account_id").cloned().unwrap_or_default();
            decoded.push((account, e));
        }
        let mut accounts: Vec<String> = decoded.iter().map(|(a, _)| a.clone()).collect();
        accounts.sort();
        accounts.dedup();
        let mut states: HashMap<String, Subscription> = HashMap::new();
        for r in fetch_by_keys(tx, &acc_table, "account_id", QA_COLUMNS, &accounts).await? {
            let st = serde_json::from_str(r[1].as_str().unwrap_or("")).unwrap_or_default();
            states.insert(s(&r[0]), st);
        }
        let mut usage: HashMap<String, (String, String, String, String, i64)> = HashMap::new();
        for (account, e) in &decoded {
            states.entry(account.clone()).or_default().apply_event(e);
            if let SubscriptionEvent::UnitsSettled {
                counter,
                profile_id,
                monthly,
                flex,
                day,
                ..
            } = e
            {
                let units = (monthly + flex) as i64;
                if units == 0 {
                    continue;
                }
                let key = format!("{account}|{}|{day}|{profile_id}", counter.as_str());
                usage
                    .entry(key)
                    .or_insert_with(|| {
                        (
                            account.clone(),
                            counter.as_str().to_string(),
                            day.to_string(),
                            profile_id.clone(),
                            0,
                        )
                    })
                    .4 += units;
            }
        }
        let keys: Vec<String> = usage.keys().cloned().collect();
        for r in fetch_by_keys(tx, &day_table, "usage_key", "usage_key, units", &keys).await? {
            if let Some(u) = usage.get_mut(&s(&r[0])) {
                u.4 += r[1].as_i64().unwrap_or(0);
            }
        }
        let acc_rows: Vec<serde_json::Value> = states
            .iter()
            .map(|(a, st)| {
                serde_json::json!({"account_id": a, "state_json": serde_json::to_string(st).unwrap_or_default()})
            })
            .collect();
        bulk_upsert(
            tx,
            &acc_table,
            "account_id",
            &["account_id", "state_json"],
            &acc_rows,
        )
        .await?;
        let day_rows: Vec<serde_json::Value> = usage
            .into_iter()
            .map(|(k, (a, c, d, p, u))| {
                serde_json::json!({"usage_key": k, "account_id": a, "counter": c, "day": d, "profile_id": p, "units": u})
            })
            .collect();
        let cols: Vec<&str> = QD_COLUMNS.split(", ").collect();
        bulk_upsert(tx, &day_table, "usage_key", &cols, &day_rows).await?;
        Ok(())
    }
}

/// One counter as the dashboard shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct QuotaView {
    /// `import` or `export`.
    pub counter: String,
    /// Units bought for the current period.
    pub bought: u64,
    /// Units used in the current period.
    pub used: u64,
    /// Units available now.
    pub available: u64,
    /// Monthly plan's current period start, if any.
    pub period_start: Option<String>,
    /// Flex expiry, if any.
    pub flex_expires_at: Option<String>,
}

/// Units consumed on one day by one profile.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DailyUsage {
    /// Day (UTC).
    pub day: String,
    /// Profile.
    pub profile: String,
    /// Counter.
    pub counter: String,
    /// Units.
    pub units: i64,
}

/// The account's quota dashboard at `now`: counters, suspension, daily statistics.
pub async fn quota_view(
    db: &Db,
    account: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<QuotaView>, Option<String>, Vec<DailyUsage>), sqlx::Error> {
    use passerelle_domain::subscription::{period_start, QuotaCounter};
    let rows = db
        .fetch(
            "SELECT state_json FROM quota_accounts WHERE account_id = $1",
            &[Val::text(account)],
        )
        .await?;
    let st: Subscription = rows
        .first()
        .and_then(|r| serde_json::from_str(r[0].as_str().unwrap_or("")).ok())
        .unwrap_or_default();
    let counters = [QuotaCounter::Import, QuotaCounter::Export]
        .into_iter()
        .map(|c| {
            let a = st.availability(c, now);
            let cs = st.counters.get(&c);
            QuotaView {
                counter: c.as_str().into(),
                bought: a.bought,
                used: a.used,
                available: a.available,
                period_start: cs
                    .and_then(|x| x.monthly)
                    .map(|(_, anchor)| period_start(anchor, now.date_naive()).to_string()),
                flex_expires_at: cs
                    .and_then(|x| x.flex.as_ref())
                    .filter(|f| f.expires_at > now)
                    .map(|f| f.expires_at.to_rfc3339()),
            }
        })
        .collect();
    let daily = db
        .fetch(
            "SELECT day, profile_id, counter, units FROM quota_daily WHERE account_id = $1 ORDER BY day, profile_id, counter",
            &[Val::text(account)],
        )
        .await?
        .iter()
        .map(|r| DailyUsage {
            day: s(&r[0]),
            profile: s(&r[1]),
            counter: s(&r[2]),
            units: r[3].as_i64().unwrap_or(0),
        })
        .collect();
    Ok((counters, st.suspended.clone(), daily))
}

// ---------------------------------------------------------------------------------------
// last_transfer

/// The `last_transfer` projection: per (profile, action), the start of the last run that
/// succeeded — the incremental filter of the next run (FEATURES §1).
pub struct LastTransferProjection;

const LT_COLUMNS: &str = "transfer_key, account_id, profile_id, action, last_transfer_at, run_id";
const LP_COLUMNS: &str = "run_id, account_id, profile_id, action, started_at, finished";

#[async_trait]
impl Projection for LastTransferProjection {
    fn name(&self) -> &'static str {
        "last_transfer"
    }
    fn aggregate_type(&self) -> &'static str {
        "SyncRun"
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![
            TableSpec {
                name: "last_transfer",
                key: "transfer_key",
                columns: LT_COLUMNS,
                ddl: "(transfer_key TEXT PRIMARY KEY, account_id TEXT NOT NULL, profile_id TEXT NOT NULL, action TEXT NOT NULL, \
                      last_transfer_at TEXT NOT NULL, run_id TEXT NOT NULL)",
            },
            TableSpec {
                name: "last_transfer_runs",
                key: "run_id",
                columns: LP_COLUMNS,
                ddl: "(run_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, profile_id TEXT NOT NULL, action TEXT NOT NULL, \
                      started_at TEXT, finished BIGINT NOT NULL)",
            },
        ]
    }

    async fn apply_batch(
        &self,
        tx: &mut Tx,
        prefix: &str,
        events: &[RawEvent],
    ) -> Result<(), ProjectionError> {
        let (lt, lp) = (
            format!("{prefix}last_transfer"),
            format!("{prefix}last_transfer_runs"),
        );
        // Only three event types matter; step results (large) are never decoded here.
        let relevant: Vec<&RawEvent> = events
            .iter()
            .filter(|e| {
                matches!(
                    e.event_type.as_str(),
                    "RunRequested" | "RunStarted" | "RunFinished"
                )
            })
            .collect();
        if relevant.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<String> = relevant.iter().map(|e| e.aggregate_id.clone()).collect();
        ids.sort();
        ids.dedup();
        // run → (account, profile, action, started_at, finished)
        let mut runs: HashMap<String, (String, String, String, Option<String>, i64)> =
            HashMap::new();
        for r in fetch_by_keys(tx, &lp, "run_id", LP_COLUMNS, &ids).await? {
            runs.insert(
                s(&r[0]),
                (
                    s(&r[1]),
                    s(&r[2]),
                    s(&r[3]),
                    r[4].as_str().map(str::to_string),
                    r[5].as_i64().unwrap_or(0),
                ),
            );
        }
        let mut latest: HashMap<String, (String, String, String, String, String)> = HashMap::new();
        for raw in relevant {
            let m = meta(raw)?;
            let at = m.get("timestamp").cloned().unwrap_or_default();
            let rec = passerelle_adapters::store::decode_run_event(raw)
                .map_err(ProjectionError::Corrupt)?;
            match rec.event {
                RunEvent::RunRequested {
                    profile_id, action, ..
                } => {
                    runs.insert(
                        raw.aggregate_id.clone(),
                        (
                            m.get("account_id").cloned().unwrap_or_default(),
                            profile_id.to_string(),
                            action.as_str().to_string(),
                            None,
                            0,
                        ),
                    );
                }
                RunEvent::RunStarted { .. } => {
                    if let Some(r) = runs.get_mut(&raw.aggregate_id) {
                        r.3.get_or_insert(at);
                    }
                }
                RunEvent::RunFinished { status, .. } => {
                    if let Some(r) = runs.get_mut(&raw.aggregate_id) {
                        r.4 = 1;
                        if status == RunStatus::Succeeded {
                            let started = r.3.clone().unwrap_or(at);
                            let key = format!("{}|{}|{}", r.0, r.1, r.2);
                            latest.insert(
                                key,
                                (
                                    r.0.clone(),
                                    r.1.clone(),
                                    r.2.clone(),
                                    started,
                                    raw.aggregate_id.clone(),
                                ),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        // Keep the latest start per key (a later batch never moves it backwards).
        let keys: Vec<String> = latest.keys().cloned().collect();
        for r in fetch_by_keys(
            tx,
            &lt,
            "transfer_key",
            "transfer_key, last_transfer_at",
            &keys,
        )
        .await?
        {
            if let Some(l) = latest.get(&s(&r[0])) {
                if s(&r[1]) > l.3 {
                    latest.remove(&s(&r[0]));
                }
            }
        }
        let lt_rows: Vec<serde_json::Value> = latest
            .into_iter()
            .map(|(k, (a, p, act, at, run))| serde_json::json!({"transfer_key": k, "account_id": a, "profile_id": p, "action": act, "last_transfer_at": at, "run_id": run}))
            .collect();
        let cols: Vec<&str> = LT_COLUMNS.split(", ").collect();
        bulk_upsert(tx, &lt, "transfer_key", &cols, &lt_rows).await?;
        let lp_rows: Vec<serde_json::Value> = runs
            .into_iter()
            .map(|(id, (a, p, act, st, fin))| serde_json::json!({"run_id": id, "account_id": a, "profile_id": p, "action": act, "started_at": st, "finished": fin}))
            .collect();
        let cols: Vec<&str> = LP_COLUMNS.split(", ").collect();
        bulk_upsert(tx, &lp, "run_id", &cols, &lp_rows).await?;
        Ok(())
    }
}

/// Last transfer dates of a profile: (action, RFC 3339 start, run).
pub async fn last_transfers(
    db: &Db,
    account: &str,
    profile: &str,
) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    Ok(db
        .fetch(
            "SELECT action, last_transfer_at, run_id FROM last_transfer WHERE account_id = $1 AND profile_id = $2 ORDER BY action",
            &[Val::text(account), Val::text(profile)],
        )
        .await?
        .iter()
        .map(|r| (s(&r[0]), s(&r[1]), s(&r[2])))
        .collect())
}
