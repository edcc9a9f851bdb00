//! Every production setting, declared once: its TOML key, environment variable, flag,
//! default, allowed values and documentation. **Adding a key is one entry here** (the
//! `Settings` field, the file/env/flag layers, `config show`, the sample file and the
//! checks all follow from it); then regenerate `ops/deploy/passerelle.sample.toml` with
//! `passerelle config sample` (a test fails until the file matches).
//!
//! Test knobs (fault injection, short retries, the demo backend) are *not* here: they live in
//! [`super::TestKnobs`], read from their own environment variables only.

use super::Kind;
use passerelle_adapters::secrets::Secret;

define_settings! {
    /// Store URL: `sqlite://FILE` (embedded, created on first use) or `postgres://…`
    /// (hosted). A password in the URL is masked wherever it is shown.
    database_url: String {
        key: "database.url", env: "DATABASE_URL", flag: Some("--database-url"),
        default: "sqlite://passerelle.db", kind: Kind::DbUrl,
    }
    /// PostgreSQL connections per process (the server's `max_connections` is shared by
    /// every process: workers, scheduler, serve, CLI commands).
    pg_pool: u64 {
        key: "database.pg_pool", env: "PASSERELLE_PG_POOL", flag: None,
        default: "16", kind: Kind::Int { min: 1, max: 400 },
    }
    /// SQLite durability: `normal` (a committed step survives a crash of the process) or
    /// `full` (also survives power loss; ~15× fewer commits/s). See docs/ARCHITECTURE.md.
    sqlite_synchronous: String {
        key: "database.sqlite_synchronous", env: "PASSERELLE_SQLITE_SYNCHRONOUS", flag: None,
        default: "normal", kind: Kind::OneOf(&["normal", "full"]),
    }
    /// Account (tenant) that CLI commands work for.
    account: String {
        key: "general.account", env: "PASSERELLE_ACCOUNT", flag: Some("--account"),
        default: "demo", kind: Kind::Text,
    }
    /// Language of the console and of rendered logs: `fr` or `en`.
    lang: String {
        key: "general.lang", env: "PASSERELLE_LANG", flag: Some("--lang"),
        default: "fr", kind: Kind::OneOf(&["fr", "en"]),
    }
    /// Log filter (tracing `EnvFilter` syntax: `warn`, `info`, `passerelle=debug,sqlx=warn`).
    log_filter: String {
        key: "log.filter", env: "PASSERELLE_LOG", flag: Some("--log"),
        default: "warn", kind: Kind::LogFilter,
    }
    /// Log format on stderr: `text` (people) or `json` (one object per line, for a log
    /// pipeline; lines inside a run carry account, profile, run, action, step, item).
    log_format: String {
        key: "log.format", env: "PASSERELLE_LOG_FORMAT", flag: Some("--log-format"),
        default: "text", kind: Kind::OneOf(&["text", "json"]),
    }
    /// Lease of a run held by a worker, in milliseconds (heartbeat every third of it). A
    /// crashed worker's run is taken over after at most this long.
    lease_ms: u64 {
        key: "engine.lease_ms", env: "PASSERELLE_LEASE_MS", flag: None,
        default: "30000", kind: Kind::Int { min: 100, max: 3_600_000 },
    }
    /// Items of one run processed at once (one writer per run still appends them).
    item_concurrency: u64 {
        key: "engine.item_concurrency", env: "PASSERELLE_ITEM_CONCURRENCY", flag: None,
        default: "8", kind: Kind::Int { min: 1, max: 256 },
    }
    /// How often an idle worker looks for due runs, in milliseconds.
    poll_ms: u64 {
        key: "engine.poll_ms", env: "PASSERELLE_ENGINE_POLL_MS", flag: None,
        default: "100", kind: Kind::Int { min: 10, max: 60_000 },
    }
    /// Minimum spacing of EBP calls per subscription, in milliseconds (EBP allows 1 call/s).
    ebp_min_interval_ms: u64 {
        key: "ebp.min_interval_ms", env: "PASSERELLE_EBP_MIN_INTERVAL_MS", flag: None,
        default: "1000", kind: Kind::Int { min: 0, max: 60_000 },
    }
    /// EBP calls allowed per subscription and UTC day (EBP's limit: 10,000).
    ebp_daily_budget: u64 {
        key: "ebp.daily_budget", env: "PASSERELLE_EBP_DAILY_BUDGET", flag: None,
        default: "10000", kind: Kind::Int { min: 1, max: 100_000_000 },
    }
    /// Master key of the stored credentials (base64 of 32 bytes, or 64 hex digits). When
    /// unset, the key file below is used (created on first use).
    master_key: Option<Secret> {
        key: "secrets.master_key", env: "PASSERELLE_MASTER_KEY", flag: None,
        default: "", kind: Kind::Secret,
    }
    /// Key file used when no master key is given (mode 0600; back it up apart from the
    /// database).
    key_file: String {
        key: "secrets.key_file", env: "PASSERELLE_KEY_FILE", flag: None,
        default: "passerelle.key", kind: Kind::Text,
    }
    /// Ed25519 signing key of the audit bundles (`passerelle audit export`): base64 of its
    /// 32-byte seed, or 64 hex digits; `passerelle audit keygen` prints a new one and its
    /// public key (the key an auditor is given for `audit verify-bundle`).
    audit_signing_key: Option<Secret> {
        key: "audit.signing_key", env: "PASSERELLE_AUDIT_SIGNING_KEY", flag: None,
        default: "", kind: Kind::Secret,
    }
    /// SMTP password for notification settings that name an SMTP user (never stored in the
    /// database).
    smtp_password: Option<Secret> {
        key: "smtp.password", env: "PASSERELLE_SMTP_PASSWORD", flag: None,
        default: "", kind: Kind::Secret,
    }
    /// Listen address of `serve` (API, `/metrics`, `/health`, `/ready`). Keep it on
    /// loopback unless a reverse proxy with TLS is in front.
    http_listen: String {
        key: "http.listen", env: "PASSERELLE_HTTP_LISTEN", flag: Some("--listen"),
        default: "127.0.0.1:8080", kind: Kind::Listen { off: false },
    }
    /// Listen address of `worker`'s `/metrics`, `/health` and `/ready`, or `off`.
    worker_metrics_listen: String {
        key: "metrics.worker_listen", env: "PASSERELLE_METRICS_WORKER_LISTEN",
        flag: Some("--metrics-listen"),
        default: "127.0.0.1:9464", kind: Kind::Listen { off: true },
    }
    /// Listen address of `scheduler`'s `/metrics`, `/health` and `/ready`, or `off`.
    scheduler_metrics_listen: String {
        key: "metrics.scheduler_listen", env: "PASSERELLE_METRICS_SCHEDULER_LISTEN",
        flag: Some("--metrics-listen"),
        default: "127.0.0.1:9465", kind: Kind::Listen { off: true },
    }
    /// Adds an `account` label to the store-derived metrics (runs, items, queue). Off by
    /// default: account names are personal data for a merchant and unbounded for a host.
    per_account_labels: bool {
        key: "metrics.per_account_labels", env: "PASSERELLE_METRICS_PER_ACCOUNT_LABELS",
        flag: None, default: "false", kind: Kind::Bool,
    }
    /// `/ready` answers not-ready when the projections are more events than this behind
    /// the event log.
    ready_max_lag_events: u64 {
        key: "ready.max_projector_lag_events", env: "PASSERELLE_READY_MAX_LAG_EVENTS",
        flag: None, default: "10000", kind: Kind::Int { min: 1, max: 1_000_000_000 },
    }
    /// `/ready` answers not-ready when the oldest event not yet projected is older than
    /// this many seconds.
    ready_max_lag_seconds: u64 {
        key: "ready.max_projector_lag_seconds", env: "PASSERELLE_READY_MAX_LAG_SECONDS",
        flag: None, default: "300", kind: Kind::Int { min: 1, max: 86_400 },
    }
}
