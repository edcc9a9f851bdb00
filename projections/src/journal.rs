//! The journal: running runs, history with counts and message, and the detail of one run
//! with its log rendered from the run's events (FEATURES §7).

use crate::projector::{bulk_upsert, fetch_by_keys, Projection, ProjectionError, TableSpec};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use passerelle_adapters::store::{decode_run_event, Db, RawEvent, Tx, Val};
use passerelle_domain::{RunEvent, RunStatus, SyncAction};
use passerelle_workflows::engine::RecordedEvent;
use serde::Serialize;
use std::collections::HashMap;

/// The journal projection.
pub struct JournalProjection;

const COLUMNS: &str = "run_id, account_id, profile_id, action, run_trigger, status, requested_at, started_at, finished_at, updated_at, message, total, succeeded, failed, ignored, progress";

/// One run as the journal shows it. Its JSON form is the public `journal --json` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct JournalRun {
    /// Run id.
    pub id: String,
    /// Tenant (not serialized: the caller already scoped the query).
    #[serde(skip)]
    pub account_id: String,
    /// Profile id.
    pub profile: String,
    /// Action, kebab-case.
    pub action: String,
    /// `manual` or `scheduled`.
    pub trigger: String,
    /// `queued`, `running`, `waiting`, `succeeded`, `failed`, `stopped`.
    pub status: String,
    /// When it was asked for.
    #[serde(skip)]
    pub requested_at: String,
    /// First start (RFC 3339, UTC).
    pub started_at: Option<String>,
    /// End (RFC 3339, UTC).
    pub finished_at: Option<String>,
    /// Last event time.
    #[serde(skip)]
    pub updated_at: String,
    /// Message (the end summary, or the last error).
    pub message: String,
    /// Item counts.
    pub counts: Counts,
    /// Last progress line (`3/6 - REF`).
    #[serde(skip)]
    pub progress: String,
}

/// Item counts of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Counts {
    /// Items discovered.
    pub total: i64,
    /// Succeeded.
    pub succeeded: i64,
    /// Failed.
    pub failed: i64,
    /// Ignored.
    pub ignored: i64,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl JournalRun {
    fn from_row(r: &[Val]) -> Self {
        let s = |i: usize| r.get(i).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let o = |i: usize| r.get(i).and_then(|v| v.as_str()).map(str::to_string);
        let n = |i: usize| r.get(i).and_then(|v| v.as_i64()).unwrap_or(0);
        JournalRun {
            id: s(0),
            account_id: s(1),
            profile: s(2),
            action: s(3),
            trigger: s(4),
            status: s(5),
            requested_at: s(6),
            started_at: o(7),
            finished_at: o(8),
            updated_at: s(9),
            message: s(10),
            counts: Counts {
                total: n(11),
                succeeded: n(12),
                failed: n(13),
                ignored: n(14),
            },
            progress: s(15),
        }
    }

    fn to_args(&self) -> Vec<Val> {
        vec![
            Val::text(&self.id),
            Val::text(&self.account_id),
            Val::text(&self.profile),
            Val::text(&self.action),
            Val::text(&self.trigger),
            Val::text(&self.status),
            Val::text(&self.requested_at),
            Val::Text(self.started_at.clone()),
            Val::Text(self.finished_at.clone()),
            Val::text(&self.updated_at),
            Val::text(&self.message),
            Val::int(self.counts.total),
            Val::int(self.counts.succeeded),
            Val::int(self.counts.failed),
            Val::int(self.counts.ignored),
            Val::text(&self.progress),
        ]
    }

    /// Folds one event into the row.
    fn apply(&mut self, e: &RecordedEvent) {
        self.updated_at = ts(e.metadata.timestamp);
        match &e.event {
            RunEvent::RunRequested {
                profile_id,
                action,
                trigger,
                ..
            } => {
                self.id = e.aggregate_id.clone();
                self.account_id = e.metadata.account_id.clone();
                self.profile = profile_id.to_string();
                self.action = action.as_str().to_string();
                self.trigger = trigger.as_str().to_string();
                self.status = RunStatus::Queued.as_str().into();
                self.requested_at = ts(e.metadata.timestamp);
            }
            RunEvent::RunStarted { .. } => {
                if self.started_at.is_none() {
                    self.started_at = Some(ts(e.metadata.timestamp));
                }
                self.status = RunStatus::Running.as_str().into();
            }
            RunEvent::ItemsDiscovered { count } => self.counts.total += i64::from(*count),
            RunEvent::StepFailed {
                retry_at: Some(at),
                error,
                key,
                ..
            } => {
                self.status = RunStatus::Waiting.as_str().into();
                self.message = format!(
                    "{} : {error} — nouvel essai à {}",
                    key.name,
                    at.format("%H:%M:%S")
                );
            }
            RunEvent::ItemSucceeded { item, .. } => {
                self.counts.succeeded += 1;
                self.progress = item.progress();
            }
            RunEvent::ItemFailed { item, .. } => {
                self.counts.failed += 1;
                self.progress = item.progress();
            }
            RunEvent::ItemIgnored { item, .. } => {
                self.counts.ignored += 1;
                self.progress = item.progress();
            }
            RunEvent::RunFinished { status, message } => {
                self.status = status.as_str().into();
                self.finished_at = Some(ts(e.metadata.timestamp));
                self.message = format!(
                    "{message} : {} réussi(s), {} en échec, {} ignoré(s) sur {}",
                    self.counts.succeeded,
                    self.counts.failed,
                    self.counts.ignored,
                    self.counts.total
                );
            }
            RunEvent::StepFailed { .. }
            | RunEvent::StepCompleted { .. }
            | RunEvent::Noted { .. }
            | RunEvent::CancelRequested { .. } => {}
        }
    }
}

#[async_trait]
impl Projection for JournalProjection {
    fn name(&self) -> &'static str {
        "journal"
    }

    fn aggregate_type(&self) -> &'static str {
        "SyncRun"
    }

    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec {
            name: "journal_runs",
            key: "run_id",
            columns: COLUMNS,
            ddl: "(run_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, profile_id TEXT NOT NULL, \
                  action TEXT NOT NULL, run_trigger TEXT NOT NULL, status TEXT NOT NULL, \
                  requested_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, updated_at TEXT NOT NULL, \
                  message TEXT NOT NULL, total BIGINT NOT NULL, succeeded BIGINT NOT NULL, \
                  failed BIGINT NOT NULL, ignored BIGINT NOT NULL, progress TEXT NOT NULL)",
        }]
    }

    async fn apply_batch(
        &self,
        tx: &mut Tx,
        prefix: &str,
        events: &[RawEvent],
    ) -> Result<(), ProjectionError> {
        // Step results are most of the log and change nothing here: skip them undecoded.
        let relevant: Vec<&RawEvent> = events
            .iter()
            .filter(|e| e.event_type != "StepCompleted")
            .collect();
        let mut ids: Vec<String> = relevant.iter().map(|e| e.aggregate_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let mut rows: HashMap<String, JournalRun> = HashMap::new();
        let table = format!("{prefix}journal_runs");
        for r in fetch_by_keys(tx, &table, "run_id", COLUMNS, &ids).await? {
            let jr = JournalRun::from_row(&r);
            rows.insert(jr.id.clone(), jr);
        }
        for raw in relevant {
            // Item outcomes are most of a log: they only move a counter, the progress line
            // and the update time, so they are read through a light, borrowed parse. Any
            // other shape (another version, an unusual timestamp) takes the full decode.
            if let Some((kind, item, at)) = light_item(raw) {
                let row = rows.entry(raw.aggregate_id.clone()).or_default();
                row.updated_at = at.to_string();
                match kind {
                    LightKind::Succeeded => row.counts.succeeded += 1,
                    LightKind::Failed => row.counts.failed += 1,
                    LightKind::Ignored => row.counts.ignored += 1,
                }
                row.progress = format!("{}/{} - {}", item.index, item.total, item.label);
                continue;
            }
            let e = decode_run_event(raw)?;
            rows.entry(e.aggregate_id.clone()).or_default().apply(&e);
        }
        let cols: Vec<&str> = COLUMNS.split(", ").collect();
        let json: Vec<serde_json::Value> = rows
            .values()
            .map(|r| {
                let vals = r.to_args();
                let mut m = serde_json::Map::new();
                for (c, v) in cols.iter().zip(vals) {
                    m.insert(
                        (*c).to_string(),
                        match v {
                            Val::Int(Some(n)) => serde_json::Value::from(n),
                            Val::Text(Some(t)) => serde_json::Value::from(t),
                            _ => serde_json::Value::Null,
                        },
                    );
                }
                serde_json::Value::Object(m)
            })
            .collect();
        bulk_upsert(tx, &table, "run_id", &cols, &json).await?;
        Ok(())
    }
}

enum LightKind {
    Succeeded,
    Failed,
    Ignored,
}

#[derive(serde::Deserialize)]
struct LightRef<'a> {
    index: u32,
    total: u32,
    #[serde(borrow)]
    label: std::borrow::Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct LightBody<'a> {
    #[serde(borrow)]
    item: LightRef<'a>,
}

// The variant names are the stored event types (serde's external tag).
#[allow(clippy::enum_variant_names)]
#[derive(serde::Deserialize)]
enum LightItem<'a> {
    #[serde(borrow)]
    ItemSucceeded(LightBody<'a>),
    #[serde(borrow)]
    ItemFailed(LightBody<'a>),
    #[serde(borrow)]
    ItemIgnored(LightBody<'a>),
}

#[derive(serde::Deserialize)]
struct LightMeta<'a> {
    #[serde(borrow)]
    timestamp: std::borrow::Cow<'a, str>,
}

/// The light read of an item outcome (version 1, canonical `…:SS.mmmZ` timestamp), or
/// `None` to take the full decode (which also reports corrupt rows).
fn light_item(raw: &RawEvent) -> Option<(LightKind, LightRef<'_>, std::borrow::Cow<'_, str>)> {
    if raw.event_version != "1" || !raw.event_type.starts_with("Item") {
        return None;
    }
    let meta: LightMeta<'_> = serde_json::from_str(&raw.metadata).ok()?;
    let ts = &meta.timestamp;
    if ts.len() != 24 || !ts.ends_with('Z') || ts.as_bytes().get(19) != Some(&b'.') {
        return None;
    }
    let (kind, body) = match serde_json::from_str::<LightItem<'_>>(&raw.payload).ok()? {
        LightItem::ItemSucceeded(b) => (LightKind::Succeeded, b),
        LightItem::ItemFailed(b) => (LightKind::Failed, b),
        LightItem::ItemIgnored(b) => (LightKind::Ignored, b),
    };
    let expected = match kind {
        LightKind::Succeeded => "ItemSucceeded",
        LightKind::Failed => "ItemFailed",
        LightKind::Ignored => "ItemIgnored",
    };
    if raw.event_type != expected {
        return None;
    }
    Some((kind, body.item, meta.timestamp))
}

/// Filters of the history list.
#[derive(Debug, Clone, Default)]
pub struct JournalFilter {
    /// Only this profile.
    pub profile: Option<String>,
    /// Only runs started by hand.
    pub manual_only: bool,
    /// At most this many runs.
    pub limit: Option<i64>,
}

/// The runs of `account`, newest first.
pub async fn list(
    db: &Db,
    account: &str,
    f: &JournalFilter,
) -> Result<Vec<JournalRun>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM journal_runs WHERE account_id = $1 \
           AND ($2::text IS NULL OR profile_id = $2) AND ($3 = 0 OR run_trigger = 'manual') \
         ORDER BY requested_at DESC, run_id DESC LIMIT $4"
    );
    let rows = db
        .fetch(
            &sql,
            &[
                Val::text(account),
                Val::Text(f.profile.clone()),
                Val::int(i64::from(f.manual_only)),
                Val::int(f.limit.unwrap_or(1000)),
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| JournalRun::from_row(r)).collect())
}

/// One run of `account`.
pub async fn get(db: &Db, account: &str, run_id: &str) -> Result<Option<JournalRun>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM journal_runs WHERE account_id = $1 AND run_id = $2");
    let rows = db
        .fetch(&sql, &[Val::text(account), Val::text(run_id)])
        .await?;
    Ok(rows.first().map(|r| JournalRun::from_row(r)))
}

pub use passerelle_workflows::engine::log::{
    render_errors, render_errors_in, render_log, render_log_in,
};

/// French label of an action name from the journal (falls back to the name).
pub fn action_label(action: &str) -> String {
    action_label_in(action, passerelle_domain::Lang::Fr)
}

/// Label of an action name in `lang` (falls back to the name).
pub fn action_label_in(action: &str, lang: passerelle_domain::Lang) -> String {
    action
        .parse::<SyncAction>()
        .map(|a| a.label(lang).to_string())
        .unwrap_or_else(|_| action.to_string())
}

/// Runs and items of one (account, action, status) group of the journal, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalTotal {
    /// Account.
    pub account: String,
    /// Action (kebab-case).
    pub action: String,
    /// Run status.
    pub status: String,
    /// Runs that started.
    pub started: i64,
    /// Runs that finished.
    pub finished: i64,
    /// Items succeeded, failed, ignored.
    pub items: [i64; 3],
}

/// The journal summed by account, action and status (every account: operators' view).
pub async fn totals(db: &Db) -> Result<Vec<JournalTotal>, sqlx::Error> {
    let rows = db
        .fetch(
            "SELECT account_id, action, status, COUNT(started_at), COUNT(finished_at), \
             COALESCE(SUM(succeeded), 0)::bigint, COALESCE(SUM(failed), 0)::bigint, \
             COALESCE(SUM(ignored), 0)::bigint \
             FROM journal_runs GROUP BY account_id, action, status",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let t = |i: usize| {
                r.get(i)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let n = |i: usize| r.get(i).and_then(|v| v.as_i64()).unwrap_or(0);
            JournalTotal {
                account: t(0),
                action: t(1),
                status: t(2),
                started: n(3),
                finished: n(4),
                items: [n(5), n(6), n(7)],
            }
        })
        .collect())
}
