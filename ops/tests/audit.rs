//! Issue 17 (auditors and support) on real SQLite and PostgreSQL: the tamper-evident log
//! (17.3: chains built by the append transactions under concurrent workers, `audit verify`
//! naming an edited or deleted event, signed bundles checked without a database) and the
//! retry of failed items (17.6).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::audit_cmd::{self, BundleLine};
use passerelle_adapters::store::chain::{self, Break};
use passerelle_adapters::store::Val;
use std::io::Cursor;
use std::sync::Arc;

/// 20 runs of the demo workflow for `acme` drained by two workers, each with its own
/// connection pool (two processes' worth of appenders on one chain).
async fn busy_log(tdb: &TestDb) -> Vec<passerelle_domain::RunId> {
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    let mut runs = Vec::new();
    for i in 0..20 {
        runs.push(enqueue(app.run_store().as_ref(), &acc, &format!("p{i}"), c.now()).await);
    }
    let backend = Arc::new(MemBackend::with_items(3, Some(1)));
    let mut handles = Vec::new();
    for name in ["w1", "w2"] {
        let app2 = tdb.app().await;
        let w = worker(&app2, name, registry(backend.clone()), c.clone(), 3);
        handles.push(tokio::spawn(async move { w.drain().await.unwrap() }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap().len();
    }
    assert_eq!(total, 20);
    runs
}

async fn count_events(db: &passerelle_adapters::store::Db) -> u64 {
    db.fetch("SELECT COUNT(*) FROM events", &[]).await.unwrap()[0][0]
        .as_i64()
        .unwrap() as u64
}

async fn fresh_log_verifies_and_an_edited_byte_is_named(kind: Kind) {
    let tdb = fresh(kind).await;
    let runs = busy_log(&tdb).await;
    let app = tdb.app().await;
    let report = chain::verify(&app.db, None).await.unwrap();
    assert_eq!(report.first_break, None);
    assert_eq!(report.heads.len(), 1);
    assert_eq!(
        report.links,
        count_events(&app.db).await,
        "every event linked"
    );
    assert_eq!(report.heads[0].link_no as u64, report.links);

    // The daily head: recorded once per day, itself linked; the chain still verifies.
    let day = chrono::Utc::now().date_naive();
    let rec = chain::record_daily_heads(&app.db, day, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].1.link_no, report.heads[0].link_no);
    assert_eq!(rec[0].1.hash, report.heads[0].hash);
    assert!(chain::record_daily_heads(&app.db, day, chrono::Utc::now())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        chain::recorded_heads(&app.db, "acme").await.unwrap(),
        vec![rec[0].1.clone()]
    );
    let report = chain::verify(&app.db, None).await.unwrap();
    assert_eq!(report.first_break, None);
    assert_eq!(report.heads[0].link_no, rec[0].1.link_no + 1);

    // The CLI agrees (exit 0), for the account and for all.
    let ok = passerelle(&tdb.url, &["audit", "verify"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let ok = passerelle(&tdb.url, &["--account", "acme", "audit", "verify"]);
    assert_eq!(ok.status.code(), Some(0));

    // One byte of one stored event changed by SQL.
    let target = runs[7].to_string();
    let changed = app
        .db
        .execute(
            "UPDATE events SET metadata = replace(metadata::text, 'tester', 'testes')::json \
             WHERE aggregate_type = 'SyncRun' AND aggregate_id = $1 AND sequence = 1",
            &[Val::text(&target)],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let report = chain::verify(&app.db, Some("acme")).await.unwrap();
    match report.first_break {
        Some(Break::Link {
            aggregate_id,
            sequence,
            reason,
            ..
        }) => {
            assert_eq!((aggregate_id.as_str(), sequence), (target.as_str(), 1));
            assert!(reason.contains("modifié"), "{reason}");
        }
        other => panic!("expected a broken link, got {other:?}"),
    }
    let out = passerelle(&tdb.url, &["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("CHAÎNE ROMPUE") && text.contains(&target),
        "{text}"
    );
}
both!(edited_byte, fresh_log_verifies_and_an_edited_byte_is_named);

async fn deleted_and_smuggled_events_are_found(kind: Kind) {
    let tdb = fresh(kind).await;
    let runs = busy_log(&tdb).await;
    let app = tdb.app().await;
    // An event inserted around the append path (no link).
    app.db
        .execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             VALUES ('SyncRun', 'smuggled', 1, 'RunRequested', '2', '{}', '{\"account_id\":\"acme\"}')",
            &[],
        )
        .await
        .unwrap();
    let report = chain::verify(&app.db, Some("acme")).await.unwrap();
    assert_eq!(
        report.first_break,
        Some(Break::Unlinked {
            aggregate_type: "SyncRun".into(),
            aggregate_id: "smuggled".into(),
            sequence: 1
        })
    );
    // A linked event deleted: named by its link.
    let target = runs[3].to_string();
    app.db
        .execute(
            "DELETE FROM events WHERE aggregate_type = 'SyncRun' AND aggregate_id = $1 AND sequence = 2",
            &[Val::text(&target)],
        )
        .await
        .unwrap();
    match chain::verify(&app.db, None).await.unwrap().first_break {
        Some(Break::Link {
            aggregate_id,
            sequence,
            reason,
            ..
        }) => {
            assert_eq!((aggregate_id.as_str(), sequence), (target.as_str(), 2));
            assert!(reason.contains("supprimé"), "{reason}");
        }
        other => panic!("expected a deleted event, got {other:?}"),
    }
}
both!(deleted_and_smuggled, deleted_and_smuggled_events_are_found);

/// Many appenders on one account at once: the chain stays one contiguous sequence, each
/// event linked exactly once (the head row serialises them).
async fn concurrent_appenders_keep_one_chain(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    // Enqueues from 8 tasks at once (8 transactions racing for the head) while two
    // workers drain.
    let mut tasks = Vec::new();
    for t in 0..8 {
        let app2 = tdb.app().await;
        let acc = acc.clone();
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                enqueue(
                    app2.run_store().as_ref(),
                    &acc,
                    &format!("t{t}-{i}"),
                    c.now(),
                )
                .await;
            }
        }));
    }
    let backend = Arc::new(MemBackend::with_items(4, None));
    let mut workers = Vec::new();
    for name in ["w1", "w2"] {
        let app2 = tdb.app().await;
        let w = worker(&app2, name, registry(backend.clone()), c.clone(), 4);
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            // Drain until the 40 runs are done (enqueuers may still be adding).
            while n < 40 {
                let done = w.drain().await.unwrap().len();
                if done == 0 {
                    tokio::task::yield_now().await;
                }
                n += done;
                let left = app2
                    .db
                    .fetch("SELECT COUNT(*) FROM run_queue WHERE state <> 'done'", &[])
                    .await
                    .unwrap()[0][0]
                    .as_i64()
                    .unwrap();
                let all = app2
                    .db
                    .fetch("SELECT COUNT(*) FROM run_queue", &[])
                    .await
                    .unwrap()[0][0]
                    .as_i64()
                    .unwrap();
                if all == 40 && left == 0 {
                    break;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for w in workers {
        w.await.unwrap();
    }
    let report = chain::verify(&app.db, None).await.unwrap();
    assert_eq!(report.first_break, None);
    assert_eq!(report.links, count_events(&app.db).await);
    let dup = app
        .db
        .fetch(
            "SELECT COUNT(*), COUNT(DISTINCT link_no), MIN(link_no), MAX(link_no) FROM audit_links WHERE account_id = 'acme'",
            &[],
        )
        .await
        .unwrap();
    let n = dup[0][0].as_i64().unwrap();
    assert_eq!(dup[0][1].as_i64().unwrap(), n);
    assert_eq!(
        (dup[0][2].as_i64().unwrap(), dup[0][3].as_i64().unwrap()),
        (1, n)
    );
}
both!(concurrent_appenders, concurrent_appenders_keep_one_chain);

const SIGNING_KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

async fn bundle_is_signed_and_an_edit_after_signing_fails(kind: Kind) {
    let tdb = fresh(kind).await;
    busy_log(&tdb).await;
    // A second account: two segments in the bundle.
    let app = tdb.app().await;
    let (_clock, c) = manual_clock();
    let other = account("globex");
    enqueue(app.run_store().as_ref(), &other, "p", c.now()).await;

    let key = audit_cmd::signing_key(SIGNING_KEY).unwrap();
    let public = audit_cmd::public_key(&audit_cmd::public_key_text(&key)).unwrap();
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    let rep = audit_cmd::export(
        &app.db,
        &key,
        None,
        now - chrono::Duration::days(1),
        now + chrono::Duration::days(1),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(rep.segments, 2);
    assert_eq!(rep.links, count_events(&app.db).await);
    let check = audit_cmd::verify_bundle(&mut Cursor::new(&out), &public);
    assert_eq!(check.failure, None);
    assert_eq!((check.segments, check.links), (2, rep.links));

    // Another key: refused.
    let stranger = audit_cmd::signing_key(&"11".repeat(32)).unwrap();
    let wrong = audit_cmd::public_key(&audit_cmd::public_key_text(&stranger)).unwrap();
    let check = audit_cmd::verify_bundle(&mut Cursor::new(&out), &wrong);
    assert!(check.failure.unwrap().1.contains("signature invalide"));

    let text = String::from_utf8(out.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // One byte of one event changed after signing: named by its line.
    let at = lines
        .iter()
        .position(|l| l.contains("\"kind\":\"link\"") && l.contains("tester"))
        .unwrap();
    let mut edited = lines.clone();
    let changed = lines[at].replacen("tester", "testes", 1);
    edited[at] = &changed;
    let check = audit_cmd::verify_bundle(&mut Cursor::new(edited.join("\n")), &public);
    let (line, why) = check.failure.unwrap();
    assert_eq!(line, at + 1);
    assert!(why.contains("modifié après signature"), "{why}");

    // The edit with its link hash recomputed: the signed head no longer matches.
    let mut forged: BundleLine = serde_json::from_str(lines[at]).unwrap();
    let prev = match serde_json::from_str::<BundleLine>(lines[at - 1]).unwrap() {
        BundleLine::Link { hash, .. } => hash,
        BundleLine::Start { prev_hash, .. } => prev_hash,
        other => panic!("{other:?}"),
    };
    let mut rehashed = None;
    if let BundleLine::Link { event, hash, .. } = &mut forged {
        event.metadata = event.metadata.replacen("tester", "testes", 1);
        *hash = chain::to_hex(&chain::link_hash(&chain::from_hex32(&prev).unwrap(), event));
        rehashed = Some(hash.clone());
    }
    assert!(rehashed.is_some());
    let forged_line = serde_json::to_string(&forged).unwrap();
    let mut edited = lines.clone();
    edited[at] = &forged_line;
    let check = audit_cmd::verify_bundle(&mut Cursor::new(edited.join("\n")), &public);
    assert!(check.failure.is_some(), "a re-hashed edit is still caught");

    // A link line removed: the gap is named.
    let mut cut = lines.clone();
    cut.remove(at);
    let check = audit_cmd::verify_bundle(&mut Cursor::new(cut.join("\n")), &public);
    assert!(check.failure.unwrap().1.contains("inattendu"));

    // Through the CLI: export with the configured key, verify-bundle with no database.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let from = (now - chrono::Duration::hours(1)).to_rfc3339();
    let to = (now + chrono::Duration::hours(1)).to_rfc3339();
    let exp = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args([
            "--database-url",
            &tdb.url,
            "audit",
            "export",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
        ])
        .arg(&file)
        .env("PASSERELLE_AUDIT_SIGNING_KEY", SIGNING_KEY)
        .output()
        .unwrap();
    assert_eq!(
        exp.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&exp.stderr)
    );
    let pk = audit_cmd::public_key_text(&key);
    let ok = passerelle_offline(&["audit", "verify-bundle"], &file, &pk);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let body = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, body.replacen("tester", "testes", 1)).unwrap();
    let bad = passerelle_offline(&["audit", "verify-bundle"], &file, &pk);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("PAQUET REJETÉ"));
}
both!(bundle, bundle_is_signed_and_an_edit_after_signing_fails);

fn passerelle(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .unwrap()
}

/// The binary with a database URL that cannot be opened: `verify-bundle` must not need one.
fn passerelle_offline(
    args: &[&str],
    file: &std::path::Path,
    public_key: &str,
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["--database-url", "postgres://nobody@127.0.0.1:1/none"])
        .args(args)
        .arg(file)
        .args(["--public-key", public_key])
        .output()
        .unwrap()
}

/// `retry` (issue 17.6): a new run over only the failed items of the original, linked to
/// it; the original run stays as it was.
async fn retry_reruns_only_the_failed_items(kind: Kind) {
    use passerelle::commands::UsageError;
    use passerelle::retry_cmd;
    use passerelle_domain::{Actor, RunEvent, Trigger};
    use passerelle_projections::journal;
    use passerelle_workflows::engine::{EnqueueOutcome, NewRun};

    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    let (_clock, c) = manual_clock();
    let store = app.run_store();
    // REF-003 has a negative quantity: it fails, the 5 others are applied.
    let run = enqueue(store.as_ref(), &acc, "p1", c.now()).await;
    let first = Arc::new(MemBackend::with_items(6, Some(3)));
    worker(&app, "w1", registry(first.clone()), c.clone(), 2)
        .drain()
        .await
        .unwrap();
    assert_eq!(first.applied_count(), 5);
    app.projector.catch_up().await.unwrap();
    let original_row = journal::get(&app.db, "acme", &run.to_string())
        .await
        .unwrap()
        .unwrap();
    let original_events = store.load_run(&acc, run).await.unwrap();

    // Only failed items can be named; unknown runs are refused.
    let err = retry_cmd::plan_retry(store.as_ref(), &acc, run, Some(&["REF-001".to_string()]))
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<UsageError>().is_some(), "{err}");
    assert!(err.to_string().contains("REF-001"), "{err}");
    let plan = retry_cmd::plan_retry(store.as_ref(), &acc, run, None)
        .await
        .unwrap();
    assert_eq!(
        plan.items.iter().map(String::as_str).collect::<Vec<_>>(),
        ["REF-003"]
    );
    assert_eq!(
        plan.input["retry_initial_ms"], 1000,
        "the original input is kept"
    );

    // The merchant fixed the data: the retry applies REF-003 and nothing else.
    let fixed = Arc::new(MemBackend::with_items(6, None));
    let retry = passerelle_domain::RunId::from_uuid(uuid::Uuid::now_v7());
    let out = store
        .enqueue(NewRun {
            run_id: retry,
            account_id: acc.clone(),
            profile_id: plan.profile.clone(),
            action: plan.action,
            trigger: Trigger::Manual,
            input: plan.input.clone(),
            actor: Actor::User("support".into()),
            requested_at: c.now(),
        })
        .await
        .unwrap();
    assert_eq!(out, EnqueueOutcome::Enqueued(retry));
    worker(&app, "w2", registry(fixed.clone()), c.clone(), 2)
        .drain()
        .await
        .unwrap();
    let applied: Vec<String> = fixed.applied.lock().unwrap().values().cloned().collect();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert!(applied[0].ends_with("REF-003"), "{applied:?}");

    app.projector.catch_up().await.unwrap();
    let row = journal::get(&app.db, "acme", &retry.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.counts.total, row.counts.succeeded, row.counts.failed),
        (1, 1, 0)
    );
    assert_eq!(row.status, "succeeded");
    // Linked: the retry's log names the original, the original's history lists the retry.
    let events = store.load_run(&acc, retry).await.unwrap();
    assert!(events.iter().any(|e| matches!(&e.event,
        RunEvent::Noted { text } if text.contains(&run.to_string()) && text.contains("REF-003"))));
    assert_eq!(
        retry_cmd::retries_of(&app.db, &acc, run).await.unwrap(),
        vec![retry.to_string()]
    );
    // The original is untouched: same events, same journal row.
    let after = store.load_run(&acc, run).await.unwrap();
    assert_eq!(after.len(), original_events.len());
    assert!(after
        .iter()
        .zip(&original_events)
        .all(|(a, b)| a.event == b.event && a.sequence == b.sequence));
    assert_eq!(
        journal::get(&app.db, "acme", &run.to_string())
            .await
            .unwrap()
            .unwrap(),
        original_row
    );
    // The retry replays deterministically (the scope comes from its recorded input).
    let wf = passerelle_workflows::actions::demo_engine::DemoEngine::new(fixed.clone());
    passerelle_workflows::engine::replay::replay_run(&wf, &events)
        .await
        .unwrap();
    // And the chain still verifies.
    assert_eq!(
        chain::verify(&app.db, None).await.unwrap().first_break,
        None
    );
}
both!(retry, retry_reruns_only_the_failed_items);
