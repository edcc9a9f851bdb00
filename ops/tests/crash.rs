//! A worker process aborted between an external write and its journal append: the run
//! resumes in another process and the effect happens exactly once per item.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle_domain::RunEvent;
use passerelle_projections::journal;
use passerelle_simulators::demo_backend::{DemoSim, SimConfig};
use std::process::Command;

fn worker_process(url: &str, backend: &str, fault: Option<&str>) -> std::process::ExitStatus {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    cmd.args(["worker", "--drain", "--demo-backend-url", backend])
        .env("DATABASE_URL", url)
        .env("PASSERELLE_ACCOUNT", "acme")
        .env("PASSERELLE_LEASE_MS", "800")
        .env("PASSERELLE_ITEM_CONCURRENCY", "1");
    match fault {
        Some(f) => cmd.env("PASSERELLE_FAULT", f),
        None => cmd.env_remove("PASSERELLE_FAULT"),
    };
    cmd.status().unwrap()
}

async fn abort_between_effect_and_append(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let sim = DemoSim::start(
        SimConfig {
            items: DemoSim::seed_items(),
            ..SimConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let acc = account("acme");
    let run = enqueue(app.run_store().as_ref(), &acc, "p1", chrono::Utc::now()).await;

    let (url, backend) = (tdb.url.clone(), sim.url());
    let status = tokio::task::spawn_blocking(move || {
        worker_process(&url, &backend, Some("abort-after:apply_effect:3"))
    })
    .await
    .unwrap();
    assert!(
        !status.success(),
        "the first worker was aborted: {status:?}"
    );
    let after_crash = sim.stats();
    assert_eq!(
        after_crash.effects_applied, 3,
        "three effects made before the abort"
    );
    let events = app.run_store().load_run(&acc, run).await.unwrap();
    let journaled = events.iter().filter(|e| matches!(&e.event, RunEvent::StepCompleted { key, .. } if key.name == "apply_effect")).count();
    assert_eq!(journaled, 2, "the third effect was made but not journaled");

    // Let the dead worker's lease expire, then a healthy worker process resumes the run.
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    let (url, backend) = (tdb.url.clone(), sim.url());
    let status = tokio::task::spawn_blocking(move || worker_process(&url, &backend, None))
        .await
        .unwrap();
    assert!(status.success());

    let stats = sim.stats();
    assert_eq!(
        stats.effects_applied, 5,
        "one effect per valid item, none twice"
    );
    assert_eq!(
        stats.calls_per_key.values().filter(|n| **n == 2).count(),
        1,
        "only the crashed step was called again"
    );
    assert!(stats.calls_per_key.values().all(|n| *n <= 2));
    let events = app.run_store().load_run(&acc, run).await.unwrap();
    assert_eq!(finished(&events).len(), 1);
    assert!(events
        .iter()
        .any(|e| matches!(&e.event, RunEvent::RunStarted { resumed: true, .. })));
    app.projector.catch_up().await.unwrap();
    let r = journal::get(&app.db, "acme", &run.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.status.as_str(), r.counts.succeeded, r.counts.failed),
        ("succeeded", 5, 1)
    );
}
both!(crash_resume, abort_between_effect_and_append);

#[test]
fn usage_errors_exit_2_with_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["journal", "--nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--nope"));
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["run", "p1", "import-everything"])
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("action inconnue"));
}

#[test]
fn demo_prints_a_journal_and_replay_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/demo.db", dir.path().display());
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .arg("demo")
        .env("DATABASE_URL", &url)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Journal du compte demo"), "{text}");
    assert!(text.contains("48 réussi(s), 2 en échec"), "{text}");
    assert!(text.contains("1000 achetées / 48 utilisées"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["journal", "--json"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let of = |runs: &serde_json::Value, action: &str| {
        runs.as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == action)
            .cloned()
            .unwrap()
    };
    // The demo then moves three ERP documents and sends them back to the shop.
    let updates = of(&runs, "update-order-statuses");
    assert_eq!(updates["counts"]["succeeded"], 3, "{updates}");
    assert_eq!(updates["status"], "succeeded", "{updates}");
    let invoices = of(&runs, "send-invoices");
    assert!(
        invoices["counts"]["succeeded"].as_i64().unwrap() >= 2,
        "{invoices}"
    );
    let run = &of(&runs, "import-orders");
    for k in [
        "id",
        "profile",
        "action",
        "trigger",
        "status",
        "started_at",
        "finished_at",
        "message",
    ] {
        assert!(run.get(k).is_some(), "journal --json lacks {k}: {run}");
    }
    assert_eq!(run["counts"]["succeeded"], 48);
    assert_eq!(run["counts"]["failed"], 2);
    assert_eq!(run["action"], "import-orders");
    // English is available for the console and the rendered log.
    let id = run["id"].as_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["--lang", "en", "run-detail", id])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Detailed log (UTC):") && text.contains("item(s) to process"),
        "{text}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["--lang", "de", "journal"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A second demo imports nothing new: every order is already transferred.
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .arg("demo")
        .env("DATABASE_URL", &url)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["journal", "--json"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = of(&runs, "import-orders");
    assert_eq!(second["counts"]["succeeded"], 0);
    assert_eq!(second["counts"]["ignored"], 48);
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["replay", "--verify"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
