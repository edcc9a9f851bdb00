//! Operability (issue 20): settings layers through the binary, `/ready` flipping with the
//! database, `/metrics` after a demo equal to the journal, a TRACE/JSON demo log free of
//! secrets and e-mail addresses, master-key rotation, the backup/restore drill, and the
//! systemd units.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use common::{account, fresh, Kind, TestDb};
use passerelle::app::App;
use passerelle::demo::DemoWorld;
use passerelle_adapters::secrets::SecretBox;
use passerelle_adapters::store::rekey;
use passerelle_domain::SyncAction;
use passerelle_projections::journal;
use passerelle_simulators::ebp::EbpSimConfig;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_passerelle");

/// The binary in `dir` with a clean environment for the settings it reads.
fn bin(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir);
    for v in passerelle::settings::KEYS.iter().map(|k| k.env) {
        c.env_remove(v);
    }
    c.env_remove("PASSERELLE_CONFIG");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn settings_file_env_flag_precedence_refusals_and_masking_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        "[engine]\nlease_ms = 2000\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    let show = |extra_env: &[(&str, &str)], args: &[&str]| {
        let mut c = bin(dir.path());
        c.arg("--config").arg(&cfg);
        for (k, v) in extra_env {
            c.env(k, v);
        }
        let out = c
            .args(args)
            .args(["config", "show", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = show(&[], &[]);
    assert_eq!(v["settings"]["engine.lease_ms"]["value"], "2000");
    assert!(v["settings"]["engine.lease_ms"]["origin"]
        .as_str()
        .unwrap()
        .contains("p.toml"));
    let v = show(&[("PASSERELLE_LEASE_MS", "3000")], &[]);
    assert_eq!(v["settings"]["engine.lease_ms"]["value"], "3000");
    assert!(v["settings"]["engine.lease_ms"]["origin"]
        .as_str()
        .unwrap()
        .contains("PASSERELLE_LEASE_MS"));
    let v = show(
        &[("PASSERELLE_LEASE_MS", "3000")],
        &["--set", "engine.lease_ms=4000", "--log-format", "text"],
    );
    assert_eq!(v["settings"]["engine.lease_ms"]["value"], "4000");
    assert_eq!(v["settings"]["log.format"]["value"], "text");
    assert!(v["settings"]["log.format"]["origin"]
        .as_str()
        .unwrap()
        .contains("--log-format"));

    // A bad value in each layer: exit 2, one line naming the key and the layer.
    let refused =
        |file: Option<&str>, env: &[(&str, &str)], args: &[&str], key: &str, layer: &str| {
            let bad = dir.path().join("bad.toml");
            let mut c = bin(dir.path());
            if let Some(text) = file {
                std::fs::write(&bad, text).unwrap();
                c.arg("--config").arg(&bad);
            }
            for (k, v) in env {
                c.env(k, v);
            }
            let out = c.args(args).args(["config", "show"]).output().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(err.contains(key) && err.contains(layer), "{err}");
        };
    refused(
        Some("[engine]\nlease_ms = 5\n"),
        &[],
        &[],
        "engine.lease_ms",
        "bad.toml",
    );
    refused(
        None,
        &[("PASSERELLE_LEASE_MS", "banana")],
        &[],
        "engine.lease_ms",
        "PASSERELLE_LEASE_MS",
    );
    refused(
        None,
        &[],
        &["--log-format", "xml"],
        "log.format",
        "--log-format",
    );
    refused(
        None,
        &[],
        &["--set", "ebp.daily_budget=0"],
        "ebp.daily_budget",
        "--set ebp.daily_budget",
    );

    // Secrets never printed.
    let key = "5a".repeat(32);
    let out = bin(dir.path())
        .env("PASSERELLE_MASTER_KEY", &key)
        .env("PASSERELLE_SMTP_PASSWORD", "smtp-secret-pw")
        .env("DATABASE_URL", "postgres://u:db-secret-pw@127.0.0.1/x")
        .args(["config", "show"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    for secret in [key.as_str(), "smtp-secret-pw", "db-secret-pw"] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert!(
        text.contains("secrets.master_key") && text.contains("***"),
        "{text}"
    );

    // The sample file is a valid --config.
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/passerelle.sample.toml");
    let out = bin(dir.path())
        .args(["--config", sample, "config", "show"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `serve --no-workers` on a free loopback port; killed on drop.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(dir: &Path, url: &str) -> Served {
    let port = free_port();
    let child = bin(dir)
        .env("DATABASE_URL", url)
        .env("PASSERELLE_PG_POOL", "4")
        .args([
            "serve",
            "--no-workers",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let s = Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{}/health", s.base)).await.is_err() {
        assert!(Instant::now() < deadline, "serve never answered /health");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s
}

async fn ready(s: &Served) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{}/ready", s.base)).await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap())
}

/// Polls `/ready` until it answers `want` (bounded).
async fn ready_becomes(s: &Served, want: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = ready(s).await;
        if code == want {
            return body;
        }
        assert!(Instant::now() < deadline, "/ready stayed {code}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Parses Prometheus text: `name{labels}` → value; fails on any malformed sample line.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels in {line}");
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        out.insert(series.to_string(), v);
    }
    out
}

async fn ready_flips(kind: Kind) {
    let db = fresh(kind).await;
    db.app().await; // migrated
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &db.url).await;
    let body = ready_becomes(&s, 200).await;
    assert_eq!(body["checks"]["migrations"]["ok"], true, "{body}");
    assert_eq!(body["checks"]["projector"]["ok"], true, "{body}");
    let metrics = reqwest::get(format!("{}/metrics", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let m = parse_metrics(&metrics);
    assert!(
        m.contains_key("passerelle_projector_lag_events"),
        "{metrics}"
    );

    match kind {
        Kind::Sqlite => {
            let file = db.url.trim_start_matches("sqlite://").to_string();
            let moved = format!("{file}.away");
            std::fs::rename(&file, &moved).unwrap();
            let body = ready_becomes(&s, 503).await;
            assert_eq!(body["checks"]["database"]["ok"], false, "{body}");
            std::fs::rename(&moved, &file).unwrap();
        }
        Kind::Pg => {
            let (admin, name) = pg_admin(&db).await;
            sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
                .execute(&admin)
                .await
                .unwrap();
            sqlx::query(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .execute(&admin)
            .await
            .unwrap();
            let body = ready_becomes(&s, 503).await;
            assert_eq!(body["checks"]["database"]["ok"], false, "{body}");
            sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                .execute(&admin)
                .await
                .unwrap();
        }
    }
    let body = ready_becomes(&s, 200).await;
    assert_eq!(body["ready"], true, "{body}");
}

async fn pg_admin(db: &TestDb) -> (sqlx::PgPool, String) {
    let (base, name) = db.url.rsplit_once('/').unwrap();
    (
        sqlx::PgPool::connect(&format!("{base}/postgres"))
            .await
            .unwrap(),
        name.to_string(),
    )
}

#[tokio::test]
async fn ready_turns_not_ready_when_the_sqlite_file_goes_and_ready_when_it_returns() {
    ready_flips(Kind::Sqlite).await;
}

#[tokio::test]
async fn ready_turns_not_ready_when_postgres_refuses_and_ready_when_it_returns() {
    ready_flips(Kind::Pg).await;
}

/// The values of the demo's profile that are credentials.
fn demo_secrets() -> Vec<String> {
    let sample: toml::Table = passerelle::demo::PROFILE_TEMPLATE.parse().unwrap();
    let mut out = Vec::new();
    fn walk(v: &toml::Value, out: &mut Vec<String>, key: &str) {
        match v {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| walk(v, out, k)),
            toml::Value::String(s)
                if [
                    "key",
                    "client_secret",
                    "subscription_key",
                    "password",
                    "token",
                ]
                .contains(&key)
                    && s.len() >= 6 =>
            {
                out.push(s.clone())
            }
            _ => {}
        }
    }
    walk(&toml::Value::Table(sample), &mut out, "");
    out
}

#[tokio::test]
async fn demo_metrics_equal_the_journal_and_its_trace_json_log_holds_run_fields_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/p.db", dir.path().display());
    let log = std::fs::File::create(dir.path().join("demo.log")).unwrap();
    let out = bin(dir.path())
        .env("DATABASE_URL", &url)
        .args(["--log", "trace", "--log-format", "json", "demo"])
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .unwrap();
    assert!(out.success());

    // Logs: every line is JSON; run lines carry the run fields; nothing secret.
    let text = std::fs::read_to_string(dir.path().join("demo.log")).unwrap();
    let mut secrets = demo_secrets();
    assert!(!secrets.is_empty());
    secrets.push(
        std::fs::read_to_string(dir.path().join("passerelle.key"))
            .unwrap()
            .trim()
            .to_string(),
    );
    let email = regex_email();
    let (mut run_lines, mut step_lines, mut item_lines) = (0, 0, 0);
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for s in &secrets {
            assert!(
                !line.contains(s.as_str()),
                "a credential in the log: {line}"
            );
        }
        assert!(!email(line), "an e-mail address in the log: {line}");
        if v.get("run").is_some() {
            run_lines += 1;
            for f in ["account", "profile", "action"] {
                assert!(v.get(f).is_some(), "{f} missing: {line}");
            }
            step_lines += usize::from(v.get("step").is_some());
            item_lines += usize::from(v.get("item").is_some());
        }
        let spans = v["spans"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>())
            .unwrap_or_default();
        if spans.contains(&"step") {
            assert!(v.get("step").is_some() && v.get("run").is_some(), "{line}");
        }
        if spans.contains(&"item") {
            assert!(v.get("item").is_some() && v.get("run").is_some(), "{line}");
        }
    }
    assert!(
        run_lines > 100 && step_lines > 0 && item_lines > 0,
        "{run_lines} {step_lines} {item_lines}"
    );

    // Metrics from a separate serve process equal the journal's counts.
    let out = bin(dir.path())
        .env("DATABASE_URL", &url)
        .args(["journal", "--json"])
        .output()
        .unwrap();
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let s = serve(dir.path(), &url).await;
    let text = reqwest::get(format!("{}/metrics", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let m = parse_metrics(&text);
    let mut finished: BTreeMap<String, f64> = BTreeMap::new();
    let mut items: BTreeMap<String, f64> = BTreeMap::new();
    for r in &runs {
        let action = r["action"].as_str().unwrap();
        let status = r["status"].as_str().unwrap();
        *finished
            .entry(format!(
                "passerelle_runs_finished_total{{action=\"{action}\",status=\"{status}\"}}"
            ))
            .or_default() += 1.0;
        for o in ["succeeded", "failed", "ignored"] {
            *items
                .entry(format!(
                    "passerelle_items_total{{action=\"{action}\",outcome=\"{o}\"}}"
                ))
                .or_default() += r["counts"][o].as_f64().unwrap();
        }
    }
    assert!(finished.len() >= 3, "{runs:?}");
    for (series, want) in finished.iter().chain(items.iter()) {
        assert_eq!(m.get(series), Some(want), "{series} in\n{text}");
    }
    let exported: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("passerelle_runs_finished_total"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(exported, runs.len() as f64);
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let calls: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(calls_today), 0) FROM erp_call_gate")
        .fetch_one(&pool)
        .await
        .unwrap();
    let ebp: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("passerelle_ebp_calls_today"))
        .map(|(_, v)| v)
        .sum();
    assert!(calls > 0);
    assert_eq!(ebp, calls as f64, "{text}");
}

/// A matcher for e-mail addresses (`local@domain.tld`).
fn regex_email() -> impl Fn(&str) -> bool {
    |line: &str| {
        let b = line.as_bytes();
        b.iter().enumerate().any(|(i, &c)| {
            if c != b'@' || i == 0 {
                return false;
            }
            let local = b[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || b"._%+-".contains(c))
                .count();
            let domain: Vec<u8> = b[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || b".-".contains(c))
                .copied()
                .collect();
            let domain = String::from_utf8_lossy(&domain);
            let domain = domain.trim_end_matches('.');
            local > 0
                && domain.contains('.')
                && domain.rsplit('.').next().is_some_and(|tld| {
                    tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
                })
        })
    }
}

fn fast_ebp() -> EbpSimConfig {
    EbpSimConfig {
        min_interval: Duration::from_millis(40),
        ..EbpSimConfig::default()
    }
}

fn test_env() {
    std::env::remove_var("PASSERELLE_MASTER_KEY");
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "50");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000");
    std::env::set_var("PASSERELLE_LEASE_MS", "1500");
}

/// Settings over `url` with the key file `key_file` (no master key variable).
async fn app_with_key_file(url: &str, key_file: &Path) -> App {
    let mut s = passerelle::settings::Settings::for_url(url).unwrap();
    s.master_key = None;
    s.key_file = key_file.display().to_string();
    App::open(&s).await.unwrap()
}

async fn keys_rotation(kind: Kind) {
    test_env();
    let db = fresh(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("passerelle.key");
    let app = app_with_key_file(&db.url, &key_file).await;
    let world = DemoWorld::start(3, fast_ebp()).await.unwrap();
    let acc = account("acme");
    let first = world.install(&app, &acc).await.unwrap();
    let mut second = world.profile_file().unwrap();
    second.id = "second-shop".into();
    let second = world.install_file(&app, &acc, second).await.unwrap();
    let old_text = std::fs::read_to_string(&key_file).unwrap();
    let stored = rekey::stored_ciphertexts(&app.db).await.unwrap();
    assert!(stored.len() >= 8, "{}", stored.len());

    let code = passerelle::keys_cmd::rotate(&app, None).await.unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let new_text = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old_text.trim(), new_text.trim());
    assert!(!dir.path().join("passerelle.key.new").exists());

    // The old key opens nothing any more; the new one opens everything.
    let old = SecretBox::from_text(&old_text, "old").unwrap();
    let new = SecretBox::from_text(&new_text, "new").unwrap();
    let after = rekey::stored_ciphertexts(&app.db).await.unwrap();
    assert_eq!(after.len(), stored.len());
    for c in &after {
        assert!(old.decrypt(c).is_err());
        assert!(new.decrypt(c).is_ok());
    }
    // A fresh process (new App, key read from the file) connects with every profile.
    let app2 = app_with_key_file(&db.url, &key_file).await;
    let conn = app2.connectors().unwrap();
    for p in [&first, &second] {
        conn.ebp_client(&acc, p)
            .await
            .unwrap()
            .test_connection()
            .await
            .unwrap();
        conn.shop_connection(&acc, p)
            .await
            .unwrap()
            .configuration()
            .unwrap()
            .test_connection()
            .await
            .unwrap();
    }
    // Rotating with a wrong current key changes nothing.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, SecretBox::generate_key_text()).unwrap();
    let app3 = app_with_key_file(&db.url, &wrong).await;
    assert!(passerelle::keys_cmd::rotate(&app3, None).await.is_err());
    assert_eq!(rekey::stored_ciphertexts(&app.db).await.unwrap(), after);
}

#[tokio::test]
async fn keys_rotation_sqlite() {
    keys_rotation(Kind::Sqlite).await;
}

#[tokio::test]
async fn keys_rotation_pg() {
    keys_rotation(Kind::Pg).await;
}

async fn journal_of(app: &App, acc: &passerelle_domain::AccountId) -> Vec<journal::JournalRun> {
    app.projector.catch_up().await.unwrap();
    journal::list(&app.db, acc.as_str(), &journal::JournalFilter::default())
        .await
        .unwrap()
}

async fn drill(kind: Kind) {
    test_env();
    std::env::set_var("PASSERELLE_MASTER_KEY", common::EXPORT_KEY);
    let db = fresh(kind).await;
    let app = db.app().await;
    let world = DemoWorld::start(12, fast_ebp()).await.unwrap();
    let acc = account("acme");
    let profile = world.install(&app, &acc).await.unwrap();
    passerelle::demo::ensure_import_plan(&app, &acc, 1000)
        .await
        .unwrap();
    let at_backup = journal_of(&app, &acc).await;

    // Back up.
    let dir = tempfile::tempdir().unwrap();
    let restored_url = match kind {
        Kind::Sqlite => {
            let copy = dir.path().join("backup.db");
            assert!(app.db.backup_sqlite_to(&copy).await.unwrap());
            copy
        }
        Kind::Pg => {
            let dump = dir.path().join("backup.dump");
            let out = Command::new("pg_dump")
                .args(["-Fc", "-f"])
                .arg(&dump)
                .arg(&db.url)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            dump
        }
    };
    // Orders are imported after the backup.
    let (_, status) = passerelle::commands::run_action(
        &app,
        &acc,
        profile.clone(),
        SyncAction::ImportOrders,
        serde_json::json!({"retry_initial_ms": 50}),
    )
    .await
    .unwrap();
    assert_eq!(status, passerelle_domain::RunStatus::Succeeded);
    assert!(journal_of(&app, &acc).await.len() > at_backup.len());
    let imported = world.ebp.documents().len();
    assert!(imported >= 5, "{imported}");

    // Restore into a new database, then verify.
    let (url, _keep) = match kind {
        Kind::Sqlite => {
            let target = dir.path().join("restored.db");
            std::fs::copy(&restored_url, &target).unwrap();
            (format!("sqlite://{}", target.display()), None)
        }
        Kind::Pg => {
            let target = fresh(Kind::Pg).await;
            let out = Command::new("pg_restore")
                .args(["--no-owner", "-d"])
                .arg(&target.url)
                .arg(&restored_url)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            (target.url.clone(), Some(target))
        }
    };
    let out = bin(dir.path())
        .env("DATABASE_URL", &url)
        .env("PASSERELLE_PG_POOL", "4")
        .args(["replay", "--verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay --verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let restored = App::connect(&url).await.unwrap();
    let journal = journal_of(&restored, &acc).await;
    assert_eq!(
        serde_json::to_value(&journal).unwrap(),
        serde_json::to_value(&at_backup).unwrap()
    );
    // The restored store imports again without a second ERP document per order.
    let (_, status) = passerelle::commands::run_action(
        &restored,
        &acc,
        profile,
        SyncAction::ImportOrders,
        serde_json::json!({"retry_initial_ms": 50}),
    )
    .await
    .unwrap();
    assert_eq!(status, passerelle_domain::RunStatus::Succeeded);
    let mut per_order: BTreeMap<String, usize> = BTreeMap::new();
    for d in world.ebp.documents() {
        *per_order
            .entry(d.atoosync_order.unwrap_or_default())
            .or_default() += 1;
    }
    assert!(per_order.values().all(|n| *n == 1), "{per_order:?}");
    assert_eq!(world.ebp.documents().len(), imported);
}

#[tokio::test]
async fn backup_restore_drill_sqlite() {
    drill(Kind::Sqlite).await;
}

#[tokio::test]
async fn backup_restore_drill_pg() {
    drill(Kind::Pg).await;
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze absent: units not verified here");
        return;
    };
    assert!(probe.status.success());
    let dir = tempfile::tempdir().unwrap();
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
    let mut units = Vec::new();
    for name in [
        "passerelle-serve.service",
        "passerelle-worker.service",
        "passerelle-scheduler.service",
    ] {
        let text = std::fs::read_to_string(Path::new(deploy).join(name)).unwrap();
        for needed in [
            "ProtectSystem=strict",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "LimitNOFILE=",
            "Restart=on-failure",
            "User=passerelle",
        ] {
            assert!(text.contains(needed), "{name}: {needed}");
        }
        // The installed path does not exist here: point at the built binary.
        let path = dir.path().join(name);
        std::fs::write(&path, text.replace("/usr/local/bin/passerelle", BIN)).unwrap();
        units.push(path);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success() && !err.contains(".service:"), "{err}");
}
