//! The tamper-evident log (issue 17.3): one hash chain per account over the stored events.
//!
//! Every transaction that inserts events links them, just before it commits, to its
//! account's chain: link `n` holds `SHA-256(hash of link n-1 ‖ canonical stored row)`
//! ([`link_hash`]), the genesis link's predecessor being 32 zero bytes. The canonical row is
//! the seven columns an event is made of, as stored (`payload` and `metadata` are the JSON
//! text byte for byte: PostgreSQL's `json` type and SQLite's `TEXT` keep the input text), so
//! the chain is recomputed from the database alone. `position`, `tx_id` and `recorded_at`
//! are storage bookkeeping and are not covered.
//!
//! Concurrency: the account's head row (`audit_heads`) is taken with an upsert that locks
//! it (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), so two workers appending for one
//! account are serialised on it until commit and each sees the other's committed head
//! (PostgreSQL re-reads the latest row version after the wait, in READ COMMITTED). On SQLite
//! the transaction already holds the database's single write lock. Linking is the last
//! statement of every appending transaction, so a transaction holding a head never waits on
//! another lock (no deadlock); several accounts in one transaction are taken in name order.
//!
//! A database writer can still rewrite the events *and* recompute every link: that is what
//! the signed export bundles and the head recorded daily in the journal are for
//! (docs/ARCHITECTURE.md, "Audit").

use super::db::{Db, DbKind, DbResult, Tx, Val};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The hash before an account's first link.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// One event as stored: what a chain link covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Aggregate type (`SyncRun`, `ShopOrder`…).
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Sequence in the aggregate.
    pub sequence: i64,
    /// Event type.
    pub event_type: String,
    /// Stored payload version.
    pub event_version: String,
    /// Payload JSON text, as stored.
    pub payload: String,
    /// Metadata JSON text, as stored.
    pub metadata: String,
}

/// An event about to be inserted, with the account whose chain it joins.
#[derive(Debug, Clone)]
pub(crate) struct ChainRow {
    /// The account (the metadata's `account_id`).
    pub(crate) account: String,
    /// The row.
    pub(crate) event: StoredEvent,
}

impl ChainRow {
    /// A row of `account`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        account: &str,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
        event_type: &str,
        event_version: &str,
        payload: &str,
        metadata: &str,
    ) -> ChainRow {
        ChainRow {
            account: account.to_string(),
            event: StoredEvent {
                aggregate_type: aggregate_type.to_string(),
                aggregate_id: aggregate_id.to_string(),
                sequence,
                event_type: event_type.to_string(),
                event_version: event_version.to_string(),
                payload: payload.to_string(),
                metadata: metadata.to_string(),
            },
        }
    }
}

/// The hash of a link: SHA-256 over the previous hash then each field of the row as an
/// 8-byte big-endian length followed by its UTF-8 bytes (the sequence in decimal), in
/// column order. Length prefixes make the encoding unambiguous (no separator to forge).
pub fn link_hash(prev: &[u8; 32], ev: &StoredEvent) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"passerelle-audit-link/1");
    h.update(prev);
    let seq = ev.sequence.to_string();
    for field in [
        ev.aggregate_type.as_str(),
        ev.aggregate_id.as_str(),
        seq.as_str(),
        ev.event_type.as_str(),
        ev.event_version.as_str(),
        ev.payload.as_str(),
        ev.metadata.as_str(),
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// Lower-case hexadecimal.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A 32-byte hash from 64 hex digits.
pub fn from_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nib = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
    }
    Some(out)
}

/// Links `rows` (inserted in `tx`) to their accounts' chains. Call it last, just before
/// the commit (see the module docs for why).
pub(crate) async fn link(tx: &mut Tx, rows: &[ChainRow]) -> DbResult<()> {
    let mut by_account: BTreeMap<&str, Vec<&StoredEvent>> = BTreeMap::new();
    for r in rows {
        by_account
            .entry(r.account.as_str())
            .or_default()
            .push(&r.event);
    }
    for (account, events) in by_account {
        // Takes (and locks until commit) the head; creates it at the genesis on first use.
        let head = tx
            .fetch(
                "INSERT INTO audit_heads (account_id, link_no, hash) VALUES ($1, 0, $2) \
                 ON CONFLICT (account_id) DO UPDATE SET account_id = excluded.account_id \
                 RETURNING link_no, hash",
                &[Val::text(account), Val::text(to_hex(&GENESIS))],
            )
            .await?;
        let row = head.first();
        let mut link_no = row.and_then(|r| r[0].as_i64()).unwrap_or(0);
        let mut prev = row
            .and_then(|r| r[1].as_str())
            .and_then(from_hex32)
            .ok_or_else(|| {
                sqlx::Error::Protocol(format!("tête de chaîne d'audit illisible ({account})"))
            })?;
        let chunks = events.len().div_ceil(500);
        for (chunk_no, chunk) in events.chunks(500).enumerate() {
            // On PostgreSQL the last chunk also moves the head, in the same statement (a
            // data-modifying CTE): one round trip fewer on the engine's hot path.
            let last_pg = chunk_no + 1 == chunks && tx.kind() == DbKind::Postgres;
            let mut sql = String::from(if last_pg {
                "WITH l AS (INSERT INTO audit_links (account_id, link_no, aggregate_type, aggregate_id, sequence, hash) VALUES "
            } else {
                "INSERT INTO audit_links (account_id, link_no, aggregate_type, aggregate_id, sequence, hash) VALUES "
            });
            let mut args = Vec::with_capacity(chunk.len() * 6);
            for (i, ev) in chunk.iter().enumerate() {
                link_no += 1;
                prev = link_hash(&prev, ev);
                let b = i * 6;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6
                ));
                args.extend([
                    Val::text(account),
                    Val::int(link_no),
                    Val::text(&ev.aggregate_type),
                    Val::text(&ev.aggregate_id),
                    Val::int(ev.sequence),
                    Val::text(to_hex(&prev)),
                ]);
            }
            if last_pg {
                let n = args.len();
                sql.push_str(&format!(
                    ") UPDATE audit_heads SET link_no = ${}, hash = ${} WHERE account_id = ${}",
                    n + 1,
                    n + 2,
                    n + 3
                ));
                args.extend([
                    Val::int(link_no),
                    Val::text(to_hex(&prev)),
                    Val::text(account),
                ]);
            }
            tx.execute(&sql, &args).await?;
        }
        if tx.kind() == DbKind::Sqlite {
            tx.execute(
                "UPDATE audit_heads SET link_no = $2, hash = $3 WHERE account_id = $1",
                &[
                    Val::text(account),
                    Val::int(link_no),
                    Val::text(to_hex(&prev)),
                ],
            )
            .await?;
        }
    }
    Ok(())
}

/// One link read back with its event (`None`: the event row is gone).
#[derive(Debug, Clone)]
pub struct StoredLink {
    /// Account.
    pub account: String,
    /// Link number (1, 2, …).
    pub link_no: i64,
    /// The hash recorded for the link.
    pub hash: String,
    /// `(aggregate_type, aggregate_id, sequence)` the link points at.
    pub key: (String, String, i64),
    /// The event as stored now, if it still exists.
    pub event: Option<StoredEvent>,
    /// When the event was stored (RFC 3339 text as the database returns it).
    pub recorded_at: Option<String>,
}

/// Head of an account's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Account.
    pub account: String,
    /// Last link number (0: empty).
    pub link_no: i64,
    /// Hash of the last link (hex).
    pub hash: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The event of a link no longer hashes to the link (edited), or was deleted.
    Link {
        /// Account.
        account: String,
        /// Link number.
        link_no: i64,
        /// The event named.
        aggregate_type: String,
        /// Aggregate id.
        aggregate_id: String,
        /// Sequence.
        sequence: i64,
        /// What is wrong.
        reason: String,
    },
    /// The chain itself is cut (missing links, or the head does not match the last link).
    Chain {
        /// Account.
        account: String,
        /// What is wrong.
        reason: String,
    },
    /// An event stored after the chain started that no chain covers (inserted around it).
    Unlinked {
        /// The event named.
        aggregate_type: String,
        /// Aggregate id.
        aggregate_id: String,
        /// Sequence.
        sequence: i64,
    },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Link {
                account,
                link_no,
                aggregate_type,
                aggregate_id,
                sequence,
                reason,
            } => write!(
                f,
                "compte {account}, maillon {link_no} : événement {aggregate_type} {aggregate_id} n° {sequence} — {reason}"
            ),
            Break::Chain { account, reason } => write!(f, "compte {account} : {reason}"),
            Break::Unlinked {
                aggregate_type,
                aggregate_id,
                sequence,
            } => write!(
                f,
                "événement {aggregate_type} {aggregate_id} n° {sequence} hors de toute chaîne (inséré hors transaction d'ajout) (event outside every chain)"
            ),
        }
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Heads of the verified chains.
    pub heads: Vec<ChainHead>,
    /// Links recomputed.
    pub links: u64,
    /// Events stored before the chain existed (migration 0080), not covered.
    pub before_chain: u64,
    /// The first problem found, if any.
    pub first_break: Option<Break>,
}

/// The chains' heads (one account, or all).
pub async fn heads(db: &Db, account: Option<&str>) -> DbResult<Vec<ChainHead>> {
    let rows = match account {
        Some(a) => {
            db.fetch(
                "SELECT account_id, link_no, hash FROM audit_heads WHERE account_id = $1",
                &[Val::text(a)],
            )
            .await?
        }
        None => {
            db.fetch(
                "SELECT account_id, link_no, hash FROM audit_heads ORDER BY account_id",
                &[],
            )
            .await?
        }
    };
    Ok(rows
        .iter()
        .map(|r| ChainHead {
            account: r[0].as_str().unwrap_or("").to_string(),
            link_no: r[1].as_i64().unwrap_or(0),
            hash: r[2].as_str().unwrap_or("").to_string(),
        })
        .collect())
}

/// Links `after < link_no <= until` of `account`, with their events, at most `limit`.
pub async fn links_page(
    db: &Db,
    account: &str,
    after: i64,
    until: i64,
    limit: i64,
) -> DbResult<Vec<StoredLink>> {
    let recorded = match db.kind() {
        DbKind::Postgres => {
            "to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        }
        DbKind::Sqlite => "e.recorded_at",
    };
    let sql = format!(
        "SELECT l.link_no, l.hash, l.aggregate_type, l.aggregate_id, l.sequence, \
                e.event_type, e.event_version, e.payload::text, e.metadata::text, {recorded} \
         FROM audit_links l LEFT JOIN events e ON e.aggregate_type = l.aggregate_type \
              AND e.aggregate_id = l.aggregate_id AND e.sequence = l.sequence \
         WHERE l.account_id = $1 AND l.link_no > $2 AND l.link_no <= $3 ORDER BY l.link_no LIMIT $4"
    );
    let rows = db
        .fetch(
            &sql,
            &[
                Val::text(account),
                Val::int(after),
                Val::int(until),
                Val::int(limit),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let s = |i: usize| r[i].as_str().unwrap_or("").to_string();
            let key = (s(2), s(3), r[4].as_i64().unwrap_or(0));
            let event = r[5].as_str().map(|_| StoredEvent {
                aggregate_type: key.0.clone(),
                aggregate_id: key.1.clone(),
                sequence: key.2,
                event_type: s(5),
                event_version: s(6),
                payload: s(7),
                metadata: s(8),
            });
            StoredLink {
                account: account.to_string(),
                link_no: r[0].as_i64().unwrap_or(0),
                hash: s(1),
                key,
                event,
                recorded_at: r[9].as_str().map(str::to_string),
            }
        })
        .collect())
}

/// The hash of link `link_no` of `account` (the genesis for 0).
pub async fn link_hash_at(db: &Db, account: &str, link_no: i64) -> DbResult<Option<[u8; 32]>> {
    if link_no == 0 {
        return Ok(Some(GENESIS));
    }
    let rows = db
        .fetch(
            "SELECT hash FROM audit_links WHERE account_id = $1 AND link_no = $2",
            &[Val::text(account), Val::int(link_no)],
        )
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r[0].as_str())
        .and_then(from_hex32))
}

/// The range of links of `account` whose events were stored in `[from, to)` (RFC 3339
/// UTC instants): from the first such link to the last, every link in between included so
/// that the range is a contiguous piece of the chain. `None` when there is none.
pub async fn link_range(
    db: &Db,
    account: &str,
    from: &str,
    to: &str,
) -> DbResult<Option<(i64, i64)>> {
    let cmp = match db.kind() {
        DbKind::Postgres => "e.recorded_at >= $2::timestamptz AND e.recorded_at < $3::timestamptz",
        // Stored as `YYYY-MM-DDTHH:MM:SS.fffZ`: text order is time order.
        DbKind::Sqlite => "e.recorded_at >= $2 AND e.recorded_at < $3",
    };
    let sql = format!(
        "SELECT MIN(l.link_no), MAX(l.link_no) FROM audit_links l JOIN events e \
           ON e.aggregate_type = l.aggregate_type AND e.aggregate_id = l.aggregate_id AND e.sequence = l.sequence \
         WHERE l.account_id = $1 AND {cmp}"
    );
    let rows = db
        .fetch(&sql, &[Val::text(account), Val::text(from), Val::text(to)])
        .await?;
    Ok(rows
        .first()
        .and_then(|r| Some((r[0].as_i64()?, r[1].as_i64()?))))
}

/// Recomputes the chains (one account, or all) from the stored rows, in pages (memory stays
/// flat whatever the log's size), and looks for events no chain covers. Stops at the first
/// problem.
pub async fn verify(db: &Db, account: Option<&str>) -> DbResult<VerifyReport> {
    const PAGE: i64 = 5_000;
    let mut report = VerifyReport {
        heads: heads(db, account).await?,
        ..VerifyReport::default()
    };
    for head in report.heads.clone() {
        let mut prev = GENESIS;
        let mut expected = 1i64;
        loop {
            let page = links_page(db, &head.account, expected - 1, i64::MAX, PAGE).await?;
            let n = page.len() as i64;
            for l in page {
                let (aggregate_type, aggregate_id, sequence) = l.key.clone();
                let broken = |reason: String| Break::Link {
                    account: head.account.clone(),
                    link_no: l.link_no,
                    aggregate_type: aggregate_type.clone(),
                    aggregate_id: aggregate_id.clone(),
                    sequence,
                    reason,
                };
                if l.link_no != expected {
                    report.first_break = Some(Break::Chain {
                        account: head.account.clone(),
                        reason: format!(
                            "maillon {expected} manquant (le suivant est le {}) (missing link)",
                            l.link_no
                        ),
                    });
                    return Ok(report);
                }
                let Some(ev) = &l.event else {
                    report.first_break =
                        Some(broken("événement supprimé (event deleted)".to_string()));
                    return Ok(report);
                };
                let h = link_hash(&prev, ev);
                if to_hex(&h) != l.hash {
                    report.first_break = Some(broken(format!(
                        "contenu modifié : empreinte enregistrée {}, recalculée {} (event edited)",
                        l.hash,
                        to_hex(&h)
                    )));
                    return Ok(report);
                }
                prev = h;
                expected += 1;
                report.links += 1;
            }
            if n < PAGE {
                break;
            }
        }
        if expected - 1 != head.link_no || to_hex(&prev) != head.hash {
            report.first_break = Some(Break::Chain {
                account: head.account.clone(),
                reason: format!(
                    "la tête enregistrée (maillon {}, {}) ne correspond pas au dernier maillon ({}, {}) (head mismatch)",
                    head.link_no,
                    head.hash,
                    expected - 1,
                    to_hex(&prev)
                ),
            });
            return Ok(report);
        }
    }
    let origin = db
        .fetch("SELECT position FROM audit_origin WHERE id = 1", &[])
        .await?
        .first()
        .and_then(|r| r[0].as_i64())
        .unwrap_or(0);
    let (filter, mut args) = match (account, db.kind()) {
        (Some(a), DbKind::Postgres) => (
            " AND e.metadata->>'account_id' = $2",
            vec![Val::int(origin), Val::text(a)],
        ),
        (Some(a), DbKind::Sqlite) => (
            " AND json_extract(e.metadata, '$.account_id') = $2",
            vec![Val::int(origin), Val::text(a)],
        ),
        (None, _) => ("", vec![Val::int(origin)]),
    };
    let unlinked = db
        .fetch(
            &format!(
                "SELECT e.aggregate_type, e.aggregate_id, e.sequence FROM events e WHERE e.position > $1{filter} \
                 AND NOT EXISTS (SELECT 1 FROM audit_links l WHERE l.aggregate_type = e.aggregate_type \
                   AND l.aggregate_id = e.aggregate_id AND l.sequence = e.sequence) ORDER BY e.position LIMIT 1"
            ),
            &args,
        )
        .await?;
    if let Some(r) = unlinked.first() {
        report.first_break = Some(Break::Unlinked {
            aggregate_type: r[0].as_str().unwrap_or("").to_string(),
            aggregate_id: r[1].as_str().unwrap_or("").to_string(),
            sequence: r[2].as_i64().unwrap_or(0),
        });
    }
    args.truncate(1);
    let before = db
        .fetch("SELECT COUNT(*) FROM events WHERE position <= $1", &args)
        .await?;
    report.before_chain = before.first().and_then(|r| r[0].as_i64()).unwrap_or(0) as u64;
    Ok(report)
}

/// The aggregate type of the recorded heads (one stream per account, `<account>/audit-chain`;
/// no projection reads it).
pub const CHECKPOINT_TYPE: &str = "AuditChain";

/// A chain head recorded in the log ([`record_daily_heads`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedHead {
    /// UTC day it was recorded for (`YYYY-MM-DD`).
    pub day: String,
    /// The head's link number.
    pub link_no: i64,
    /// The head's hash (hex).
    pub hash: String,
    /// When it was recorded (RFC 3339).
    pub at: String,
}

/// Records, once per UTC `day` and account, the account's chain head as a `HeadRecorded`
/// event of its `AuditChain` stream — an event that itself joins the chain, so a later
/// rewrite of older history no longer matches the heads recorded (and exported, notified)
/// before it. Idempotent: an account whose last recorded day is `day` is skipped, and two
/// schedulers racing lose on the stream's primary key. Returns the heads recorded now.
pub async fn record_daily_heads(
    db: &Db,
    day: chrono::NaiveDate,
    now: chrono::DateTime<chrono::Utc>,
) -> DbResult<Vec<(String, RecordedHead)>> {
    let day = day.format("%Y-%m-%d").to_string();
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut out = Vec::new();
    for head in heads(db, None).await? {
        let stream = format!("{}/audit-chain", head.account);
        let last = db
            .fetch(
                "SELECT sequence, payload::text FROM events WHERE aggregate_type = $1 AND aggregate_id = $2                  ORDER BY sequence DESC LIMIT 1",
                &[Val::text(CHECKPOINT_TYPE), Val::text(&stream)],
            )
            .await?;
        let (seq, last_day) = match last.first() {
            Some(r) => (
                r[0].as_i64().unwrap_or(0),
                r[1].as_str()
                    .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                    .and_then(|v| v["HeadRecorded"]["day"].as_str().map(str::to_string)),
            ),
            None => (0, None),
        };
        if last_day.as_deref() == Some(day.as_str()) {
            continue;
        }
        let mut tx = db.begin_write().await?;
        // The head as committed now (read under the head lock, as an appender would).
        let cur = tx
            .fetch(
                "SELECT link_no, hash FROM audit_heads WHERE account_id = $1",
                &[Val::text(&head.account)],
            )
            .await?;
        let Some(cur) = cur.first() else {
            let _ = tx.rollback().await;
            continue;
        };
        let rec = RecordedHead {
            day: day.clone(),
            link_no: cur[0].as_i64().unwrap_or(0),
            hash: cur[1].as_str().unwrap_or("").to_string(),
            at: at.clone(),
        };
        let payload = serde_json::json!({ "HeadRecorded": &rec }).to_string();
        let meta = serde_json::json!({
            "account_id": head.account,
            "actor": "scheduler",
            "correlation_id": format!("audit:{day}"),
            "timestamp": at,
        })
        .to_string();
        let row = ChainRow::new(
            &head.account,
            CHECKPOINT_TYPE,
            &stream,
            seq + 1,
            "HeadRecorded",
            "1",
            &payload,
            &meta,
        );
        let inserted = tx
            .execute(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)                  VALUES ($1, $2, $3, 'HeadRecorded', '1', $4::json, $5::json)",
                &[
                    Val::text(CHECKPOINT_TYPE),
                    Val::text(&stream),
                    Val::int(seq + 1),
                    Val::text(&payload),
                    Val::text(&meta),
                ],
            )
            .await;
        match inserted {
            Ok(_) => {}
            // Another scheduler recorded it meanwhile.
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                let _ = tx.rollback().await;
                continue;
            }
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        }
        link(&mut tx, &[row]).await?;
        tx.commit().await?;
        out.push((head.account.clone(), rec));
    }
    Ok(out)
}

/// The heads recorded for `account`, oldest first.
pub async fn recorded_heads(db: &Db, account: &str) -> DbResult<Vec<RecordedHead>> {
    let rows = db
        .fetch(
            "SELECT payload::text FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
            &[
                Val::text(CHECKPOINT_TYPE),
                Val::text(format!("{account}/audit-chain")),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let v: serde_json::Value = serde_json::from_str(r[0].as_str()?).ok()?;
            serde_json::from_value(v.get("HeadRecorded")?.clone()).ok()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(payload: &str) -> StoredEvent {
        StoredEvent {
            aggregate_type: "SyncRun".into(),
            aggregate_id: "r1".into(),
            sequence: 1,
            event_type: "RunRequested".into(),
            event_version: "2".into(),
            payload: payload.into(),
            metadata: "{}".into(),
        }
    }

    #[test]
    fn a_changed_byte_or_predecessor_changes_the_link() {
        let a = link_hash(&GENESIS, &ev(r#"{"a":1}"#));
        assert_ne!(a, link_hash(&GENESIS, &ev(r#"{"a":2}"#)));
        assert_ne!(a, link_hash(&[1u8; 32], &ev(r#"{"a":1}"#)));
        assert_eq!(a, link_hash(&GENESIS, &ev(r#"{"a":1}"#)));
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        let mut x = ev("{}");
        x.event_type = "ab".into();
        x.event_version = "c".into();
        let mut y = ev("{}");
        y.event_type = "a".into();
        y.event_version = "bc".into();
        assert_ne!(link_hash(&GENESIS, &x), link_hash(&GENESIS, &y));
    }

    #[test]
    fn hex_round_trips() {
        let h = link_hash(&GENESIS, &ev("{}"));
        assert_eq!(from_hex32(&to_hex(&h)), Some(h));
        assert_eq!(from_hex32("zz"), None);
    }
}
