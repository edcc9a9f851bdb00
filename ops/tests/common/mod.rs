//! Test helpers: a fresh, migrated database per test (SQLite temp file or a new PostgreSQL
//! database), an in-memory demo backend with fault injection, and run helpers.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use passerelle::app::App;
use passerelle_domain::{AccountId, Actor, ProfileId, RunEvent, RunId, SyncAction, Trigger};
use passerelle_workflows::actions::demo_engine::{DemoBackend, DemoEngine, DemoItem, Receipt};
use passerelle_workflows::engine::{
    EnqueueOutcome, NewRun, RecordedEvent, Registry, RunStore, StepError, Worker, WorkerConfig,
};
use passerelle_workflows::ports::{Clock, ManualClock};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Pg,
}

pub struct TestDb {
    pub url: String,
    pub kind: Kind,
    _dir: Option<tempfile::TempDir>,
}

pub async fn fresh(kind: Kind) -> TestDb {
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/t.db", dir.path().display());
            TestDb {
                url,
                kind,
                _dir: Some(dir),
            }
        }
        Kind::Pg => {
            let base = std::env::var("PASSERELLE_TEST_PG")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            let name = format!("pt_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
                .await
                .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            TestDb {
                url: format!("{base}/{name}"),
                kind,
                _dir: None,
            }
        }
    }
}

impl TestDb {
    pub async fn app(&self) -> App {
        App::connect(&self.url).await.unwrap()
    }
}

pub fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 9, 17, 6, 45).unwrap()
}

pub fn account(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}

pub type Hook = Arc<dyn Fn(u32) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// In-memory demo backend: idempotent by key, with injectable failures and counters.
#[derive(Default)]
pub struct MemBackend {
    pub items: Vec<DemoItem>,
    pub list_failures: AtomicU32,
    pub list_permanent: std::sync::atomic::AtomicBool,
    pub list_retry_after: Mutex<Option<u64>>,
    pub effect_failures: AtomicU32,
    pub list_calls: AtomicU32,
    pub effect_calls: AtomicU32,
    pub applied: Mutex<HashMap<String, String>>,
    pub on_apply: Mutex<Option<Hook>>,
}

impl MemBackend {
    pub fn with_items(n: usize, negative_at: Option<usize>) -> Self {
        let items = (0..n)
            .map(|i| DemoItem {
                reference: format!("REF-{i:03}"),
                quantity: if Some(i) == negative_at {
                    -1
                } else {
                    i as i64 + 1
                },
            })
            .collect();
        MemBackend {
            items,
            ..Default::default()
        }
    }
    pub fn applied_count(&self) -> usize {
        self.applied.lock().unwrap().len()
    }
}

#[async_trait]
impl DemoBackend for MemBackend {
    async fn list_items(&self) -> Result<Vec<DemoItem>, StepError> {
        self.list_calls.fetch_add(1, Ordering::SeqCst);
        if self.list_permanent.load(Ordering::SeqCst) {
            return Err(StepError::permanent("HTTP 401 : clé d'API refusée"));
        }
        if self
            .list_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
        {
            return Err(StepError::transient("HTTP 503"));
        }
        if let Some(secs) = self.list_retry_after.lock().unwrap().take() {
            return Err(StepError::Transient {
                message: "HTTP 429".into(),
                retry_after: Some(Duration::from_secs(secs)),
            });
        }
        Ok(self.items.clone())
    }

    async fn apply(&self, key: &str, item: &DemoItem) -> Result<Receipt, StepError> {
        let n = self.effect_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self
            .effect_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
        {
            return Err(StepError::transient("HTTP 503"));
        }
        let receipt = {
            let mut g = self.applied.lock().unwrap();
            match g.get(key) {
                Some(id) => Receipt {
                    effect_id: id.clone(),
                    replayed: true,
                },
                None => {
                    let id = format!("E{}-{}", g.len() + 1, item.reference);
                    g.insert(key.to_string(), id.clone());
                    Receipt {
                        effect_id: id,
                        replayed: false,
                    }
                }
            }
        };
        let hook = self.on_apply.lock().unwrap().clone();
        if let Some(h) = hook {
            h(n).await;
        }
        Ok(receipt)
    }
}

pub fn registry(backend: Arc<MemBackend>) -> Arc<Registry> {
    let mut r = Registry::new();
    r.register(SyncAction::DemoEngine, Arc::new(DemoEngine::new(backend)));
    Arc::new(r)
}

pub fn cfg(concurrency: usize) -> WorkerConfig {
    WorkerConfig {
        lease: Duration::from_secs(30),
        heartbeat: Duration::from_secs(10),
        poll: Duration::from_millis(20),
        item_concurrency: concurrency,
    }
}

pub fn worker(
    app: &App,
    id: &str,
    reg: Arc<Registry>,
    clock: Arc<dyn Clock>,
    concurrency: usize,
) -> Worker {
    Worker::new(id, app.run_store(), reg, clock, cfg(concurrency))
}

pub async fn enqueue(
    store: &dyn RunStore,
    acc: &AccountId,
    profile: &str,
    at: chrono::DateTime<Utc>,
) -> RunId {
    let id = RunId::from_uuid(uuid::Uuid::now_v7());
    let out = store
        .enqueue(NewRun {
            run_id: id,
            account_id: acc.clone(),
            profile_id: ProfileId::parse(profile).unwrap(),
            action: SyncAction::DemoEngine,
            trigger: Trigger::Manual,
            input: serde_json::json!({"retry_initial_ms": 1000}),
            actor: Actor::User("tester".into()),
            requested_at: at,
        })
        .await
        .unwrap();
    assert_eq!(out, EnqueueOutcome::Enqueued(id));
    id
}

pub fn manual_clock() -> (ManualClock, Arc<dyn Clock>) {
    let c = ManualClock::new(t0());
    let a: Arc<dyn Clock> = Arc::new(c.clone());
    (c, a)
}

pub fn finished(events: &[RecordedEvent]) -> Vec<&RunEvent> {
    events
        .iter()
        .map(|e| &e.event)
        .filter(|e| matches!(e, RunEvent::RunFinished { .. }))
        .collect()
}

/// Runs an async test body once per backend.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(common::Kind::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(common::Kind::Pg).await;
            }
        }
    };
}

/// A real local SMTP sink (scripts/smtp-sink.py, aiosmtpd) storing messages in a folder.
pub struct Sink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Sink {
    pub fn start() -> Sink {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/smtp-sink.py");
        let mut child = std::process::Command::new("python3")
            .args([script, "--port", "0", "--out"])
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| {
                panic!("smtp-sink did not start ({line:?}); run scripts/setup-test-deps.sh")
            })
            .parse()
            .unwrap();
        Sink { port, dir, child }
    }

    /// Received messages, as raw text, in arrival order.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The master key of the export-flow tests.
pub const EXPORT_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Environment of the export-flow tests: a fixed master key, the EBP limiter off, a
/// generous daily budget, short leases.
pub fn export_env() {
    std::env::set_var("PASSERELLE_MASTER_KEY", EXPORT_KEY);
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "0");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000");
    std::env::set_var("PASSERELLE_LEASE_MS", "1500");
}

/// Runs `action` for `profile` here (short retries) and reads its journal counts.
pub async fn run_counted(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
    action: SyncAction,
) -> (
    RunId,
    passerelle_domain::RunStatus,
    passerelle_projections::journal::Counts,
) {
    let (id, status) = passerelle::commands::run_action(
        app,
        acc,
        profile.clone(),
        action,
        serde_json::json!({"retry_initial_ms": 50}),
    )
    .await
    .unwrap();
    let r = passerelle_projections::journal::get(&app.db, acc.as_str(), &id.to_string())
        .await
        .unwrap()
        .unwrap();
    (id, status, r.counts)
}

/// Item key → (outcome, message) of a run.
pub async fn item_outcomes(
    app: &App,
    acc: &AccountId,
    run: RunId,
) -> HashMap<String, (&'static str, String)> {
    app.store
        .load_run(acc, run)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            RunEvent::ItemFailed { item, reason } => Some((item.key, ("failed", reason))),
            RunEvent::ItemIgnored { item, reason } => Some((item.key, ("ignored", reason))),
            RunEvent::ItemSucceeded { item, message } => {
                Some((item.key, ("succeeded", message.unwrap_or_default())))
            }
            _ => None,
        })
        .collect()
}

/// Log events (level, message and fields) captured by a process-wide subscriber.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl LogCapture {
    /// Every captured event of `level`, as text.
    pub fn at(&self, level: tracing::Level) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

struct Text<'a>(&'a mut String);
impl tracing::field::Visit for Text<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogCapture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut text = String::new();
        event.record(&mut Text(&mut text));
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), text));
    }
}

/// Captures the log events of the whole process, from WARN up. Only under nextest, which runs
/// each test in its own process: elsewhere other tests of the binary would log into the same
/// capture, so `None` (the caller then skips its log assertions).
pub fn capture_logs() -> Option<LogCapture> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    std::env::var_os("NEXTEST_RUN_ID")?;
    let capture = LogCapture::default();
    let subscriber = tracing_subscriber::registry().with(
        capture
            .clone()
            .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
    );
    tracing::subscriber::set_global_default(subscriber).ok()?;
    Some(capture)
}
