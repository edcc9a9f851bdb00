//! `--only audit`: `audit verify` over a large log (events/s, peak memory of the verify
//! alone). The chain's cost on the append path is the `engine` part's journaled-step figure
//! (compare it with a build without the chain: docs/ARCHITECTURE.md, "Audit").

use passerelle_adapters::store::chain::{self, StoredEvent};
use passerelle_adapters::store::{Db, Val};
use std::time::Instant;

/// Peak resident set (kB) since the last [`reset_peak`], from /proc.
fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak resident set (Linux: `5` written to clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Generates `events` events of account `bench` (10 per run, as in the rebuild part), links
/// them the way the append path does (same [`chain::link_hash`]), then times
/// [`chain::verify`].
pub(crate) async fn bench_verify(url: &str, events: i64) -> anyhow::Result<()> {
    let db = Db::connect(url).await?;
    let runs = events / 10;
    let t = Instant::now();
    db.execute_script(&format!(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT 'SyncRun', 'r' || r, s, 'ItemSucceeded', '1', \
           ('{{\"ItemSucceeded\":{{\"item\":{{\"index\":' || s || ',\"total\":10,\"key\":\"K' || r || '\",\"label\":\"REF\"}},\"message\":null}}}}')::json, \
           '{{\"account_id\":\"bench\",\"actor\":\"cli\",\"correlation_id\":\"x\",\"timestamp\":\"2024-09-09T17:06:45.000Z\"}}'::json \
         FROM generate_series(1, {runs}) r, generate_series(1, 10) s ORDER BY r, s"
    ))
    .await?;
    // Link them in position order, 2,000 per statement.
    let mut prev = chain::GENESIS;
    let mut link_no = 0i64;
    let mut after = 0i64;
    loop {
        let rows = db
            .fetch(
                "SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text, metadata::text \
                 FROM events WHERE position > $1 ORDER BY position LIMIT 2000",
                &[Val::int(after)],
            )
            .await?;
        if rows.is_empty() {
            break;
        }
        let mut sql = String::from(
            "INSERT INTO audit_links (account_id, link_no, aggregate_type, aggregate_id, sequence, hash) VALUES ",
        );
        let mut args = Vec::with_capacity(rows.len() * 5);
        for (i, r) in rows.iter().enumerate() {
            let s = |k: usize| r[k].as_str().unwrap_or("").to_string();
            after = r[0].as_i64().unwrap_or(after);
            let ev = StoredEvent {
                aggregate_type: s(1),
                aggregate_id: s(2),
                sequence: r[3].as_i64().unwrap_or(0),
                event_type: s(4),
                event_version: s(5),
                payload: s(6),
                metadata: s(7),
            };
            link_no += 1;
            prev = chain::link_hash(&prev, &ev);
            if i > 0 {
                sql.push(',');
            }
            let b = i * 5;
            sql.push_str(&format!(
                "('bench', ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            ));
            args.extend([
                Val::int(link_no),
                Val::text(ev.aggregate_type),
                Val::text(ev.aggregate_id),
                Val::int(ev.sequence),
                Val::text(chain::to_hex(&prev)),
            ]);
        }
        db.execute(&sql, &args).await?;
    }
    db.execute(
        "INSERT INTO audit_heads (account_id, link_no, hash) VALUES ('bench', $1, $2)",
        &[Val::int(link_no), Val::text(chain::to_hex(&prev))],
    )
    .await?;
    // The generated events are not "before the chain": move the origin back.
    db.execute("UPDATE audit_origin SET position = 0", &[])
        .await?;
    db.execute_script("ANALYZE").await?;
    println!(
        "[postgres] audit: {link_no} events generated and linked in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    reset_peak();
    let before = peak_kb();
    let t = Instant::now();
    let report = chain::verify(&db, None).await?;
    let s = t.elapsed().as_secs_f64();
    anyhow::ensure!(report.first_break.is_none(), "{:?}", report.first_break);
    println!(
        "[postgres] audit verify: {} links in {s:.2} s = {:.0} events/s; peak RSS {} MB at start, {} MB during verify",
        report.links,
        report.links as f64 / s,
        before / 1024,
        peak_kb() / 1024
    );
    Ok(())
}

/// The append path before and after the chain, side by side on one database: "before" is
/// the engine's former hot path (the fenced `INSERT … SELECT … WHERE EXISTS (lease)`, one
/// statement, autocommit), "after" is `RunStore::append` (that INSERT and the chain links
/// in one transaction). `appenders` tasks append at once for one account (they contend on
/// its chain head), each to its own leased run; blocks of 100 alternate between the two
/// paths so both see the same machine load.
pub(crate) async fn bench_append(
    name: &str,
    url: &str,
    appenders: usize,
    per_task: u32,
) -> anyhow::Result<()> {
    use passerelle_adapters::store::{encode_event, DbKind, SqlRunStore};
    use passerelle_domain::{AccountId, Actor, EventMetadata, ProfileId, RunEvent, RunId, Trigger};
    use passerelle_workflows::engine::{NewEvent, NewRun, QueueChange, RunStore};
    use std::time::Duration;

    let lease = Duration::from_secs(3600);
    let mut tasks = Vec::new();
    for k in 0..appenders {
        let db = Db::connect(url).await?;
        let store = SqlRunStore::new(db.clone());
        let mut fences = Vec::new();
        for path in ["before", "after"] {
            store
                .enqueue(NewRun {
                    run_id: RunId::from_uuid(uuid::Uuid::now_v7()),
                    account_id: AccountId::parse("bench")?,
                    profile_id: ProfileId::parse(&format!("{path}{k}-{appenders}"))?,
                    action: passerelle_domain::SyncAction::DemoEngine,
                    trigger: Trigger::Manual,
                    input: serde_json::json!({}),
                    actor: Actor::Cli,
                    requested_at: chrono::Utc::now(),
                })
                .await?;
            let claim = store
                .claim(&format!("bench-{path}{k}"), chrono::Utc::now(), lease)
                .await?
                .ok_or_else(|| anyhow::anyhow!("nothing to claim"))?;
            fences.push(claim.fence);
        }
        tasks.push(tokio::spawn(async move {
            let (fb, fa) = (&fences[0], &fences[1]);
            let (lock, cancel) = match db.kind() {
                DbKind::Postgres => (
                    "FOR SHARE",
                    "(SELECT cancel_requested_by FROM run_queue WHERE run_id = $1)",
                ),
                DbKind::Sqlite => ("", "NULL"),
            };
            let before_sql = format!(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
                 SELECT 'SyncRun', $1, v.column1, v.column2, v.column3, v.column4::json, v.column5::json \
                 FROM (VALUES ($5::bigint, $6, $7, $8, $9)) AS v \
                 WHERE EXISTS (SELECT 1 FROM run_queue WHERE run_id = $1 AND lease_owner = $2 AND lease_epoch = $3 \
                               AND state = 'leased' AND lease_until >= $4 {lock}) \
                 RETURNING {cancel}"
            );
            let ev = |run: RunId, i: u32| NewEvent {
                event: RunEvent::Noted {
                    text: format!("étape {i}"),
                },
                metadata: EventMetadata {
                    account_id: "bench".into(),
                    actor: Actor::Cli,
                    correlation_id: run.to_string(),
                    causation_id: None,
                    timestamp: chrono::Utc::now(),
                },
            };
            let (mut before, mut after) = (Duration::ZERO, Duration::ZERO);
            let mut i = 0u32;
            while i < per_task {
                let block = 100.min(per_task - i);
                let t = Instant::now();
                for j in i..i + block {
                    let e = ev(fb.run_id, j);
                    let (et, ver, payload, meta) = encode_event(&e.event, &e.metadata);
                    let rows = db
                        .fetch(
                            &before_sql,
                            &[
                                Val::text(fb.run_id.to_string()),
                                Val::text(&fb.worker),
                                Val::int(fb.epoch),
                                Val::int(chrono::Utc::now().timestamp_millis()),
                                Val::int(i64::from(j) + 2),
                                Val::text(et),
                                Val::text(ver),
                                Val::text(payload),
                                Val::text(meta),
                            ],
                        )
                        .await?;
                    anyhow::ensure!(rows.len() == 1, "lease lost (before)");
                }
                before += t.elapsed();
                let t = Instant::now();
                for j in i..i + block {
                    store
                        .append(
                            fa,
                            i64::from(j) + 2,
                            &[ev(fa.run_id, j)],
                            QueueChange::Keep,
                            chrono::Utc::now(),
                            lease,
                        )
                        .await?;
                }
                after += t.elapsed();
                i += block;
            }
            anyhow::Ok((before, after))
        }));
    }
    let (mut before, mut after) = (Duration::ZERO, Duration::ZERO);
    for t in tasks {
        let (b, a) = t.await??;
        before += b;
        after += a;
    }
    let n = f64::from(per_task) * appenders as f64;
    let (b, a) = (before.as_secs_f64() / n, after.as_secs_f64() / n);
    println!(
        "[{name}] append of one event, {appenders} appender(s) on one account: before (no chain) {:.3} ms | after (with chain) {:.3} ms | +{:.3} ms, ratio {:.2}x",
        b * 1e3,
        a * 1e3,
        (a - b) * 1e3,
        a / b
    );
    Ok(())
}
