//! Commands on the small decide/evolve aggregates (`Profile`, `ShopOrder`,
//! `Subscription`): load the folded state, decide, append the events and the new state in
//! one transaction. The stream's next sequence is the optimistic lock: a concurrent writer
//! makes the insert fail on the events primary key, and the command is decided again on
//! fresh state.
//!
//! Aggregate ids are scoped by account in the log (`<account>/<id>`), so two tenants with a
//! profile named `demo` never share a stream, and every read filters on the account too.

use super::chain::{self, ChainRow};
use super::db::{Db, DbKind, Tx, Val};
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use passerelle_domain::decider::Decider;
use passerelle_domain::{AccountId, Actor, EventMetadata};
use std::collections::BTreeMap;

/// Failures of an aggregate command.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError<R: std::error::Error + 'static> {
    /// Refused by the domain (show it).
    #[error(transparent)]
    Refused(R),
    /// Kept conflicting with concurrent writers.
    #[error("modification concurrente persistante, réessayez (concurrent changes)")]
    Conflict,
    /// Database.
    #[error("base de données : {0}")]
    Db(#[from] sqlx::Error),
    /// Stored state unreadable.
    #[error("état illisible : {0}")]
    Corrupt(String),
}

/// The store.
#[derive(Debug, Clone)]
pub struct AggregateStore {
    db: Db,
}

/// The stream id of aggregate `id` of `account`.
pub fn scoped_id(account: &AccountId, id: &str) -> String {
    format!("{}/{}", account.as_str(), id)
}

fn is_unique(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Who did it and why, for the events' metadata.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Actor.
    pub actor: Actor,
    /// Correlation (a run id, or a support action id).
    pub correlation: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl AggregateStore {
    /// A store over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The folded state of `id`, if it has events.
    pub async fn load<A: Decider>(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<A>, AggregateError<A::Refusal>> {
        let rows = self
            .db
            .fetch(
                "SELECT state_json FROM aggregate_state WHERE aggregate_type = $1 AND aggregate_id = $2 AND account_id = $3",
                &[Val::text(A::TYPE), Val::text(scoped_id(account, id)), Val::text(account.as_str())],
            )
            .await?;
        match rows.first() {
            None => Ok(None),
            Some(r) => serde_json::from_str(r[0].as_str().unwrap_or(""))
                .map(Some)
                .map_err(|e| AggregateError::Corrupt(e.to_string())),
        }
    }

    /// Every aggregate of this type of the account (small sets: profiles).
    pub async fn list<A: Decider>(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(String, A)>, AggregateError<A::Refusal>> {
        let rows = self
            .db
            .fetch(
                "SELECT aggregate_id, state_json FROM aggregate_state WHERE aggregate_type = $1 AND account_id = $2 ORDER BY aggregate_id",
                &[Val::text(A::TYPE), Val::text(account.as_str())],
            )
            .await?;
        let prefix = format!("{}/", account.as_str());
        rows.iter()
            .map(|r| {
                let id = r[0].as_str().unwrap_or("");
                let state = serde_json::from_str(r[1].as_str().unwrap_or(""))
                    .map_err(|e| AggregateError::Corrupt(e.to_string()))?;
                Ok((id.strip_prefix(&prefix).unwrap_or(id).to_string(), state))
            })
            .collect()
    }

    /// Runs one command; returns the events recorded (empty when nothing changed).
    pub async fn execute<A: Decider>(
        &self,
        account: &AccountId,
        id: &str,
        cmd: A::Command,
        origin: &Origin,
    ) -> Result<Vec<A::Event>, AggregateError<A::Refusal>> {
        self.execute_with::<A>(account, id, cmd, origin, &[]).await
    }

    /// Runs one command and, when it records events, the `extra` statements in the same
    /// transaction (a row that must change exactly when the events are recorded, such as a
    /// password hash kept outside the log).
    pub async fn execute_with<A: Decider>(
        &self,
        account: &AccountId,
        id: &str,
        cmd: A::Command,
        origin: &Origin,
        extra: &[(&str, Vec<Val>)],
    ) -> Result<Vec<A::Event>, AggregateError<A::Refusal>> {
        let mut out = self
            .run_many::<A>(account, vec![(id.to_string(), cmd)], origin, extra)
            .await?;
        match out.pop() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(r)) => Err(AggregateError::Refused(r)),
            None => Ok(Vec::new()),
        }
    }

    /// Runs one command on each of many aggregates in one transaction (one commit for a
    /// page of orders). A refusal is returned for its aggregate and does not stop the others.
    pub async fn execute_many<A: Decider>(
        &self,
        account: &AccountId,
        cmds: Vec<(String, A::Command)>,
        origin: &Origin,
    ) -> Result<Vec<Result<Vec<A::Event>, A::Refusal>>, AggregateError<A::Refusal>> {
        self.run_many::<A>(account, cmds, origin, &[]).await
    }

    async fn run_many<A: Decider>(
        &self,
        account: &AccountId,
        cmds: Vec<(String, A::Command)>,
        origin: &Origin,
        extra: &[(&str, Vec<Val>)],
    ) -> Result<Vec<Result<Vec<A::Event>, A::Refusal>>, AggregateError<A::Refusal>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.db.begin_write().await?;
            let mut links = Vec::new();
            let mut res = self
                .try_many::<A>(&mut tx, account, &cmds, origin, &mut links)
                .await;
            if matches!(&res, Ok(out) if out.iter().any(|r| matches!(r, Ok(ev) if !ev.is_empty())))
            {
                for (sql, args) in extra {
                    if let Err(e) = tx.execute(sql, args).await {
                        res = Err(AggregateError::Db(e));
                        break;
                    }
                }
            }
            // The audit chain is linked last, just before the commit.
            if res.is_ok() {
                if let Err(e) = chain::link(&mut tx, &links).await {
                    res = Err(AggregateError::Db(e));
                }
            }
            match res {
                Ok(out) => {
                    tx.commit().await?;
                    return Ok(out);
                }
                Err(AggregateError::Db(e)) if is_unique(&e) && attempt < 8 => {
                    let _ = tx.rollback().await;
                    // Someone appended to one of the streams meanwhile: decide again.
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                }
                Err(AggregateError::Db(e)) if is_unique(&e) => {
                    let _ = tx.rollback().await;
                    return Err(AggregateError::Conflict);
                }
                Err(e) => {
                    let _ = tx.rollback().await;
                    return Err(e);
                }
            }
        }
    }

    /// Decides every command on state read in one statement, then writes all the events in
    /// one statement and all the new states in another: three statements whatever the
    /// number of commands (a page of 250 orders used to cost 750 round trips). Commands on
    /// the same aggregate are decided in order, each on the state the previous one left.
    async fn try_many<A: Decider>(
        &self,
        tx: &mut Tx,
        account: &AccountId,
        cmds: &[(String, A::Command)],
        origin: &Origin,
        links: &mut Vec<ChainRow>,
    ) -> Result<Vec<Result<Vec<A::Event>, A::Refusal>>, AggregateError<A::Refusal>> {
        let meta = EventMetadata {
            account_id: account.as_str().to_string(),
            actor: origin.actor.clone(),
            correlation_id: origin.correlation.clone(),
            causation_id: None,
            timestamp: origin.at,
        };
        let meta = serde_json::to_string(&meta.to_map()).unwrap_or_else(|_| "{}".into());
        let ids: Vec<String> = cmds.iter().map(|(id, _)| scoped_id(account, id)).collect();
        // Current state and sequence of each stream, as stored (`None`: no event yet).
        // Ordered by id, so concurrent writers lock state rows in one order (no deadlock).
        let mut streams: BTreeMap<String, (A, i64, bool)> = BTreeMap::new();
        for r in self.load_states(tx, A::TYPE, &ids).await? {
            let sid = r[0].as_str().unwrap_or("").to_string();
            if r[3].as_str() != Some(account.as_str()) {
                return Err(AggregateError::Corrupt(format!(
                    "{} {sid} n'appartient pas au compte",
                    A::TYPE
                )));
            }
            let state: A = serde_json::from_str(r[1].as_str().unwrap_or(""))
                .map_err(|e| AggregateError::Corrupt(e.to_string()))?;
            streams.insert(sid, (state, r[2].as_i64().unwrap_or(0), false));
        }
        let mut events_rows = Vec::new();
        let mut out = Vec::with_capacity(cmds.len());
        for ((_, cmd), sid) in cmds.iter().zip(&ids) {
            let (state, seq, changed) = streams
                .entry(sid.clone())
                .or_insert_with(|| (A::default(), 0, false));
            let events = match state.decide(cmd.clone()) {
                Ok(ev) => ev,
                Err(r) => {
                    out.push(Err(r));
                    continue;
                }
            };
            for e in &events {
                state.apply_event(e);
                *seq += 1;
                let payload =
                    serde_json::to_string(e).map_err(|e| AggregateError::Corrupt(e.to_string()))?;
                links.push(ChainRow::new(
                    account.as_str(),
                    A::TYPE,
                    sid,
                    *seq,
                    &e.event_type(),
                    &e.event_version(),
                    &payload,
                    &meta,
                ));
                events_rows.push(serde_json::json!({
                    "id": sid,
                    "seq": *seq,
                    "et": e.event_type(),
                    "ev": e.event_version(),
                    "payload": payload,
                }));
            }
            *changed |= !events.is_empty();
            out.push(Ok(events));
        }
        if events_rows.is_empty() {
            return Ok(out);
        }
        let mut state_rows = Vec::new();
        for (sid, (state, seq, changed)) in &streams {
            if *changed {
                let json = serde_json::to_string(state)
                    .map_err(|e| AggregateError::Corrupt(e.to_string()))?;
                state_rows.push(serde_json::json!({ "id": sid, "seq": seq, "state": json }));
            }
        }
        let (insert_events, upsert_states) = match tx.kind() {
            DbKind::Postgres => (
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
                 SELECT $1, x.id, x.seq, x.et, x.ev, x.payload::json, $3::json \
                 FROM json_to_recordset($2::json) AS x(id text, seq bigint, et text, ev text, payload text)",
                "INSERT INTO aggregate_state (aggregate_type, aggregate_id, account_id, last_sequence, state_json) \
                 SELECT $1, x.id, $3, x.seq, x.state FROM json_to_recordset($2::json) AS x(id text, seq bigint, state text) \
                 ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last_sequence = excluded.last_sequence, state_json = excluded.state_json",
            ),
            // `WHERE true` lets SQLite parse ON CONFLICT after a SELECT.
            DbKind::Sqlite => (
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
                 SELECT $1, json_extract(value, '$.id'), json_extract(value, '$.seq'), json_extract(value, '$.et'), \
                        json_extract(value, '$.ev'), json_extract(value, '$.payload'), $3 \
                 FROM json_each($2) ORDER BY key",
                "INSERT INTO aggregate_state (aggregate_type, aggregate_id, account_id, last_sequence, state_json) \
                 SELECT $1, json_extract(value, '$.id'), $3, json_extract(value, '$.seq'), json_extract(value, '$.state') \
                 FROM json_each($2) WHERE true \
                 ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last_sequence = excluded.last_sequence, state_json = excluded.state_json",
            ),
        };
        let body = |rows: &[serde_json::Value]| {
            serde_json::to_string(rows).map_err(|e| AggregateError::Corrupt(e.to_string()))
        };
        tx.execute(
            insert_events,
            &[
                Val::text(A::TYPE),
                Val::text(body(&events_rows)?),
                Val::text(meta),
            ],
        )
        .await?;
        tx.execute(
            upsert_states,
            &[
                Val::text(A::TYPE),
                Val::text(body(&state_rows)?),
                Val::text(account.as_str()),
            ],
        )
        .await?;
        Ok(out)
    }

    /// `(aggregate_id, state_json, last_sequence, account_id)` of the streams `ids`, in one
    /// statement (the ids travel as one JSON array parameter).
    async fn load_states(
        &self,
        tx: &mut Tx,
        aggregate_type: &str,
        ids: &[String],
    ) -> Result<Vec<Vec<Val>>, sqlx::Error> {
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let sql = match tx.kind() {
            DbKind::Postgres => {
                "SELECT s.aggregate_id, s.state_json, s.last_sequence, s.account_id \
                 FROM json_array_elements_text($2::json) AS k(id) \
                 JOIN aggregate_state s ON s.aggregate_type = $1 AND s.aggregate_id = k.id"
            }
            DbKind::Sqlite => {
                "SELECT aggregate_id, state_json, last_sequence, account_id FROM aggregate_state \
                 WHERE aggregate_type = $1 AND aggregate_id IN (SELECT value FROM json_each($2))"
            }
        };
        tx.fetch(sql, &[Val::text(aggregate_type), Val::text(list)])
            .await
    }
}
