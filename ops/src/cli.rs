//! Command-line interface (clap). Usage errors print one line and exit 2.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Passerelle: keeps online shops in sync with EBP Gestion Commerciale SaaS.
#[derive(Debug, Parser)]
#[command(name = "passerelle", version, about)]
pub struct Cli {
    /// Settings file (TOML; default /etc/passerelle/passerelle.toml when present).
    #[arg(long, global = true, env = "PASSERELLE_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    /// Database URL: sqlite://FILE (embedded, default) or postgres://… [DATABASE_URL]
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Language of the console: fr (default) or en. [PASSERELLE_LANG]
    #[arg(long, global = true)]
    pub lang: Option<String>,
    /// Account (tenant) the command works for (default demo). [PASSERELLE_ACCOUNT]
    #[arg(long, global = true)]
    pub account: Option<String>,
    /// Log filter (default warn). [PASSERELLE_LOG]
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Log format: text (default) or json. [PASSERELLE_LOG_FORMAT]
    #[arg(long, global = true)]
    pub log_format: Option<String>,
    /// Any setting, KEY=VALUE (e.g. --set engine.lease_ms=5000); repeatable. See
    /// `passerelle config sample`.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the demo: simulators + embedded store, a run of the engine, then the journal.
    Demo {
        /// The shop platform to simulate (prestashop, woocommerce, shopify… see
        /// docs/PLATFORMS.md).
        #[arg(long, default_value = "prestashop")]
        shop: String,
    },
    /// Runs one simulator standalone (prestashop, ebp, ftp, dropbox, pcloud, cloudinary)
    /// and prints its URL and credentials, then serves until Ctrl-C or SIGTERM.
    Sim {
        /// What to simulate.
        platform: String,
        /// Address to listen on (port 0: a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Demo data in the neutral seed format (JSON, or TOML for a `.toml` file; see
        /// docs/PLATFORMS.md). Default: the demo's seed.
        #[arg(long)]
        seed: Option<std::path::PathBuf>,
        /// One JSON object on the first line: {"platform","url","credentials":{…}}.
        #[arg(long)]
        json: bool,
    },
    /// The shop platforms and what each can do (the capability matrix).
    Platforms {
        /// The Markdown matrix of docs/PLATFORMS.md.
        #[arg(long)]
        markdown: bool,
    },
    /// Runs workers until Ctrl-C (graceful: the current step finishes, the run is released).
    Worker {
        /// Number of workers in this process.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Base URL of the demo-engine backend (test knob PASSERELLE_DEMO_BACKEND_URL;
        /// default http://127.0.0.1:8089).
        #[arg(long)]
        demo_backend_url: Option<String>,
        /// Listen address of /metrics, /health, /ready, or off. [metrics.worker_listen]
        #[arg(long)]
        metrics_listen: Option<String>,
        /// Stop when nothing is due instead of waiting for more work.
        #[arg(long)]
        drain: bool,
    },
    /// Queues a run of ACTION on PROFILE and runs it now in this process. Actions:
    /// import-orders, export-articles, export-new-articles, update-prices, update-stock,
    /// activate-articles, export-customers, export-new-customers, deactivate-customers,
    /// export-customer-groups, import-prospects, update-order-statuses, send-invoices,
    /// import-quotes, demo-engine.
    Run {
        /// Profile id.
        profile: String,
        /// Action (kebab-case, see above).
        action: String,
        /// Only queue it (a worker will execute it).
        #[arg(long)]
        enqueue_only: bool,
        /// Base URL of the demo-engine backend (default: an in-process simulator; test
        /// knob PASSERELLE_DEMO_BACKEND_URL).
        #[arg(long)]
        demo_backend_url: Option<String>,
        /// update-order-statuses / send-invoices: read every document chain, not only what
        /// changed in the ERP since the last run.
        #[arg(long)]
        full: bool,
    },
    /// Last transfer dates of a profile (the start of the incremental exports); with
    /// `--set FLOW DATE` (e.g. `--set update-stock 2026-03-01`), sets one by hand.
    LastTransfer {
        /// Profile id.
        profile: String,
        /// Action and date (AAAA-MM-JJ or AAAA-MM-JJTHH:MM:SS, UTC).
        #[arg(long, num_args = 2, value_names = ["FLOW", "DATE"])]
        set: Option<Vec<String>>,
    },
    /// Asks a run to stop (between two items).
    Cancel {
        /// Run id.
        run: String,
    },
    /// The journal: runs newest first.
    Journal {
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
        /// Only manual runs.
        #[arg(long)]
        manual: bool,
        /// JSON output (public contract, see README).
        #[arg(long)]
        json: bool,
    },
    /// The detail of one run: counts, duration, files, log, errors.
    RunDetail {
        /// Run id.
        run: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Prints one of the run's files (the orders read from the shop, the files sent to
        /// the ERP) instead of the detail.
        #[arg(long)]
        file: Option<String>,
    },
    /// Runs the same action again over only the failed items of RUN (after the data was
    /// fixed); the new run is linked to RUN in its log, RUN stays as it was.
    Retry {
        /// The run whose failed items are retried.
        run: String,
        /// Only these failed items (their keys: shop order ids, references…), comma-separated.
        #[arg(long, value_delimiter = ',')]
        items: Option<Vec<String>>,
        /// Only queue it (a worker will execute it).
        #[arg(long)]
        enqueue_only: bool,
    },
    /// Every event of one run, in order (audit).
    History {
        /// Run id (or, with --order, a profile id).
        run: String,
        /// The history of one shop order of the profile instead (transfers and support
        /// resets, with who and why): `passerelle history PROFILE --order 124`.
        #[arg(long)]
        order: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Scheduled tasks: profile, action, start, interval, last run, next run, running.
    Schedules {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Creates, edits, pauses, resumes or deletes a scheduled task.
    Schedule {
        /// What to do.
        #[command(subcommand)]
        op: ScheduleOp,
    },
    /// E-mail notifications of a profile (after runs).
    Notifications {
        /// What to do.
        #[command(subcommand)]
        op: NotificationsOp,
    },
    /// Runs the scheduler alone until Ctrl-C (several may run on one PostgreSQL).
    Scheduler {
        /// Listen address of /metrics, /health, /ready, or off. [metrics.scheduler_listen]
        #[arg(long)]
        metrics_listen: Option<String>,
    },
    /// Runs workers, the scheduler and the HTTP API until Ctrl-C.
    Serve {
        /// Workers in this process.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// No workers (API and scheduler only).
        #[arg(long)]
        no_workers: bool,
        /// HTTP listen address (default 127.0.0.1:8080; a non-loopback one needs TLS or
        /// --behind-proxy). [http.listen]
        #[arg(long)]
        listen: Option<String>,
        /// Base URL of the demo-engine backend (test knob PASSERELLE_DEMO_BACKEND_URL;
        /// default http://127.0.0.1:8089).
        #[arg(long)]
        demo_backend_url: Option<String>,
        /// TLS certificate chain (PEM); with --tls-key, serves HTTPS (rustls).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<String>,
        /// TLS private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<String>,
        /// A TLS-terminating reverse proxy is in front (client address from X-Forwarded-For).
        #[arg(long)]
        behind_proxy: bool,
        /// Let outbound connections reach loopback, private and link-local addresses (the
        /// demo, tests, a shop on the operator's own network).
        #[arg(long)]
        allow_private_targets: bool,
        /// Requests per second per client address and per API token (0 = no limit).
        #[arg(long, default_value_t = 50)]
        rate_limit: u32,
        /// Demo: simulators, a profile and an admin user printed at start.
        #[arg(long)]
        demo: bool,
    },
    /// SQLite store: writes a consistent copy to FILE while the services run (PostgreSQL:
    /// use pg_dump, see docs/OPERATIONS.md). The key file is not in it: back it up apart.
    Backup {
        /// Destination (must not exist).
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// The credentials' master key: generate one, or rotate (re-encrypt every stored
    /// credential and EBP token pair under a new key; stop the services first).
    Keys {
        /// What to do.
        #[command(subcommand)]
        op: KeysOp,
    },
    /// Settings: the effective values and where each came from (secrets masked), or the
    /// documented sample file.
    Config {
        /// What to do.
        #[command(subcommand)]
        op: ConfigOp,
    },
    /// Profiles: import/export as TOML, list, test the connections, refresh the shop and
    /// ERP configuration, log in to EBP.
    Profile {
        /// What to do.
        #[command(subcommand)]
        op: ProfileOp,
    },
    /// Quota counters: bought / used / available per counter, per-day statistics.
    Quota {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Subscription operations (operators): buy a plan, record a payment failure or its
    /// settlement.
    Subscription {
        /// What to do.
        #[command(subcommand)]
        op: SubscriptionOp,
    },
    /// Orders of a profile known as transferred (or reset), with their ERP documents.
    Transferred {
        /// Profile id.
        profile: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Support: makes transferred orders importable again (recorded with who and why).
    ResetOrders {
        /// Profile id.
        profile: String,
        /// Shop order ids, comma-separated (124,3,48).
        #[arg(long)]
        ids: Option<String>,
        /// Every transferred order of the profile.
        #[arg(long)]
        all: bool,
        /// Why (mandatory; recorded).
        #[arg(long)]
        reason: String,
    },
    /// Support: rebuilds the order ↔ ERP document links from the ERP's atoosync_order field.
    RepairKeys {
        /// Profile id.
        profile: String,
    },
    /// Accounts (tenants) of the hosted service.
    Account {
        /// What to do.
        #[command(subcommand)]
        op: AccountOp,
    },
    /// Users of the account (--account) and their roles.
    User {
        /// What to do.
        #[command(subcommand)]
        op: UserOp,
    },
    /// API tokens of the account (--account): shown once, stored hashed.
    Token {
        /// What to do.
        #[command(subcommand)]
        op: TokenOp,
    },
    /// Tamper-evident log: recompute the hash chains, export a signed bundle for an
    /// auditor, check a bundle (docs/OPERATIONS.md, "Auditing the log").
    Audit {
        /// What to do.
        #[command(subcommand)]
        op: AuditOp,
    },
    /// Shop orders vs ERP documents over a window: missing in the ERP, duplicates, totals
    /// beyond the allowed gap, links to deleted documents, transferred orders absent from the
    /// shop (a run of the action reconcile-orders; docs/AUDIT.md).
    Reconcile {
        /// Profile id.
        profile: String,
        /// First day (AAAA-MM-JJ, UTC, included).
        #[arg(long)]
        from: String,
        /// Last day (AAAA-MM-JJ, UTC, included).
        #[arg(long)]
        to: String,
        /// Allowed gap between the shop's amount paid and the ERP total (default 0.01).
        #[arg(long)]
        tolerance: Option<String>,
        /// Reset the orders whose ERP document is gone, so the next import writes them
        /// again (nothing is ever deleted in the ERP).
        #[arg(long)]
        requeue_missing: bool,
        /// JSON output: {"summary": {...}, "findings": [...], "requeued": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Plans the orders transferred in the window again with the settings of FILE (the
    /// format of `profile export`) and lists, per order, what would change in the ERP
    /// documents; no call to the shop or the ERP (docs/AUDIT.md).
    WhatIf {
        /// Profile id.
        profile: String,
        /// Profile file whose [import.settings] are tried.
        #[arg(long)]
        settings: std::path::PathBuf,
        /// First day of order creation (AAAA-MM-JJ, UTC, included).
        #[arg(long)]
        from: String,
        /// Last day (AAAA-MM-JJ, UTC, included).
        #[arg(long)]
        to: String,
        /// JSON output: {"summary": {...}, "orders": [{..., "changes": [...]}], ...}.
        #[arg(long)]
        json: bool,
    },
    /// Rebuilds every projection from the event log; --verify compares without replacing.
    Replay {
        /// Compare rebuilt and live projections; exit 1 on any difference.
        #[arg(long)]
        verify: bool,
    },
}

/// Audit operations (the account is `--account` when given, every account otherwise).
#[derive(Debug, Subcommand)]
pub enum AuditOp {
    /// Recomputes the hash chains from the stored events; exit 1 naming the first broken
    /// link.
    Verify,
    /// Writes a JSON Lines bundle of the events stored in the window with their chain
    /// links, each account's piece signed with audit.signing_key (Ed25519).
    Export {
        /// Start: AAAA-MM-JJ (midnight UTC) or an RFC 3339 instant.
        #[arg(long)]
        from: String,
        /// End: AAAA-MM-JJ (that day included) or an RFC 3339 instant (excluded).
        #[arg(long)]
        to: String,
        /// The bundle file (must not exist).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Checks a bundle with no database: links recomputed, signed heads verified.
    VerifyBundle {
        /// The bundle file.
        file: std::path::PathBuf,
        /// The signer's public key (base64 or hex), given by the operator.
        #[arg(long)]
        public_key: String,
    },
    /// The chain heads recorded each day by the scheduler (day, link, hash), and the
    /// current head.
    Heads {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Prints a new signing key (for audit.signing_key) and its public key.
    Keygen,
    /// Prints the public key of the configured audit.signing_key.
    PublicKey,
}

/// Master-key operations.
#[derive(Debug, Subcommand)]
pub enum KeysOp {
    /// Prints a new random key (base64 of 32 bytes).
    Generate,
    /// Re-encrypts every stored secret under a new key, in one transaction.
    Rotate {
        /// The new key (from `keys generate`); required when the key in force comes from
        /// PASSERELLE_MASTER_KEY; otherwise a new key replaces the key file.
        #[arg(long)]
        new_key_file: Option<std::path::PathBuf>,
    },
}

/// Settings operations.
#[derive(Debug, Subcommand)]
pub enum ConfigOp {
    /// Prints every setting, its effective value and its layer (default, file, environment
    /// variable, flag); secrets print `***`.
    Show {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Prints the documented sample file (every key with its default).
    Sample,
}

/// Account operations.
#[derive(Debug, Subcommand)]
pub enum AccountOp {
    /// Creates an account (tenant).
    Create {
        /// Account id (1–64 of a-z A-Z 0-9 . _ -).
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// Time zone of its schedules.
        #[arg(long, default_value = "Europe/Paris")]
        time_zone: String,
    },
    /// Lists the accounts.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// The security log of the account (--account): logins, token changes, support actions.
    Log {
        /// Entries shown, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// User operations.
#[derive(Debug, Subcommand)]
pub enum UserOp {
    /// Adds a user. The password is read from standard input with --password-stdin,
    /// else generated and printed once.
    Add {
        /// E-mail (login).
        email: String,
        /// Roles, comma-separated: admin, operator, auditor, support.
        #[arg(long)]
        roles: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Removes a user (their sessions end).
    Remove {
        /// E-mail.
        email: String,
    },
    /// Replaces a user's roles.
    Roles {
        /// E-mail.
        email: String,
        /// Roles, comma-separated.
        #[arg(long)]
        roles: String,
    },
    /// Sets a new password (every session of the user ends).
    Passwd {
        /// E-mail.
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lists the users.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// Token operations.
#[derive(Debug, Subcommand)]
pub enum TokenOp {
    /// Creates a token and prints it once.
    Create {
        /// Label.
        #[arg(long)]
        name: String,
        /// Roles, comma-separated: admin, operator, auditor, support.
        #[arg(long)]
        roles: String,
        /// Valid for this many days (default 90; 0 = no expiry).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Lists the tokens (never their secret).
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Revokes a token: requests carrying it get 401 at once.
    Revoke {
        /// Token id.
        id: String,
    },
}

/// Profile operations.
#[derive(Debug, Subcommand)]
pub enum ProfileOp {
    /// Creates or updates a profile from a TOML file (credentials encrypted on import).
    Import {
        /// The file.
        file: String,
    },
    /// Prints a profile as TOML, without credentials.
    Export {
        /// Profile id.
        id: String,
    },
    /// Lists the account's profiles.
    List,
    /// Tests the shop and ERP connections.
    TestConnection {
        /// Profile id.
        id: String,
    },
    /// Reads statuses, taxes, carriers, currencies, payment modules, countries from the shop
    /// and VAT codes, categories, payment modes, series, warehouses, currencies from the ERP.
    RefreshConfig {
        /// Profile id.
        id: String,
    },
    /// Read-only report of every EBP assumption as observed on the folder (import models
    /// and their format, `xx_atoosync_order`, document type numbering, accounting
    /// categories, one order's files rendered without sending them).
    EbpCheck {
        /// Profile id.
        id: String,
    },
    /// EBP OAuth login: prints the authorization URL, or stores the tokens for --code.
    EbpLogin {
        /// Profile id.
        id: String,
        /// Authorization code returned to the redirect URI.
        #[arg(long)]
        code: Option<String>,
        /// Redirect URI registered with EBP.
        #[arg(long, default_value = "http://localhost:3333")]
        redirect_uri: String,
    },
}

/// Subscription operations.
#[derive(Debug, Subcommand)]
pub enum SubscriptionOp {
    /// Buys a plan.
    Buy {
        /// import or export.
        #[arg(long)]
        counter: String,
        /// monthly or flex.
        #[arg(long)]
        plan: String,
        /// Units.
        #[arg(long)]
        units: u64,
    },
    /// Records a payment failure: runs are refused with the reason.
    PaymentFailed {
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Records the payment settled: runs are accepted again.
    PaymentRestored,
}

/// Notification settings operations.
#[derive(Debug, Subcommand)]
pub enum NotificationsOp {
    /// Sets (replaces) the settings; invalid addresses are refused, named.
    Set {
        /// Profile id.
        profile: String,
        /// SMTP server.
        #[arg(long)]
        smtp_host: String,
        /// SMTP port.
        #[arg(long, default_value_t = 587)]
        smtp_port: u16,
        /// none, starttls or tls.
        #[arg(long, default_value = "starttls")]
        tls: String,
        /// SMTP login (the password comes from PASSERELLE_SMTP_PASSWORD, never stored).
        #[arg(long)]
        smtp_user: Option<String>,
        /// Sender address.
        #[arg(long)]
        from: String,
        /// Recipients separated by `;`.
        #[arg(long)]
        recipients: String,
        /// Subject (empty: a default naming the task, profile and outcome).
        #[arg(long, default_value = "")]
        subject: String,
        /// After runs that created orders.
        #[arg(long)]
        after_orders: bool,
        /// After runs that created quotes.
        #[arg(long)]
        after_quotes: bool,
        /// When a run succeeded.
        #[arg(long)]
        on_success: bool,
        /// When a run failed.
        #[arg(long)]
        on_failure: bool,
        /// Attach the run's log.
        #[arg(long)]
        attach_log: bool,
    },
    /// Shows the settings.
    Show {
        /// Profile id.
        profile: String,
    },
}

/// Schedule operations.
#[derive(Debug, Subcommand)]
pub enum ScheduleOp {
    /// Creates a schedule; prints its id.
    Create {
        /// Profile id.
        profile: String,
        /// Action (kebab-case).
        action: String,
        /// Timing.
        #[command(flatten)]
        timing: crate::scheduling::Timing,
    },
    /// Changes the timing of a schedule (no need to delete and recreate).
    Edit {
        /// Schedule id.
        id: String,
        /// Timing.
        #[command(flatten)]
        timing: crate::scheduling::Timing,
    },
    /// Pauses a schedule.
    Pause {
        /// Schedule id.
        id: String,
    },
    /// Resumes a paused schedule (missed triggers are not replayed).
    Resume {
        /// Schedule id.
        id: String,
    },
    /// Deletes a schedule.
    Delete {
        /// Schedule id.
        id: String,
    },
    /// Every event of a schedule (fired, skipped, edits).
    History {
        /// Schedule id.
        id: String,
    },
}

/// Parses arguments, runs the command, maps errors to exit codes (0 ok, 1 run failed,
/// 2 usage or configuration error).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            let text = e.to_string();
            let line = text
                .lines()
                .next()
                .unwrap_or("usage invalide")
                .trim_start_matches("error: ");
            eprintln!("passerelle : {line} (voir --help)");
            return ExitCode::from(2);
        }
    };
    let settings = match crate::settings::load(&crate::settings::Sources {
        config: cli.config.clone(),
        system_file: true,
        env: &crate::settings::process_env,
        flags: cli.flag_settings(),
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("passerelle : {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init_logs(&settings);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("passerelle : impossible de démarrer le runtime : {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(crate::commands::dispatch(cli, settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("passerelle : {e:#}");
            ExitCode::from(
                e.downcast_ref::<crate::commands::UsageError>()
                    .map_or(1, |_| 2),
            )
        }
    }
}

impl Cli {
    /// The settings given as flags: (key, value, flag as typed), in precedence order (a
    /// dedicated flag after `--set` of the same key wins).
    pub fn flag_settings(&self) -> Vec<(String, String, String)> {
        let mut out: Vec<(String, String, String)> = self
            .set
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (
                    k.trim().to_string(),
                    v.to_string(),
                    format!("--set {}", k.trim()),
                ),
                // `--set KEY` without a value: refused by the loader as an empty value.
                None => (
                    kv.trim().to_string(),
                    String::new(),
                    format!("--set {}", kv.trim()),
                ),
            })
            .collect();
        let mut flag = |key: &str, value: &Option<String>, name: &str| {
            if let Some(v) = value {
                out.push((key.to_string(), v.clone(), name.to_string()));
            }
        };
        flag("database.url", &self.database_url, "--database-url");
        flag("general.lang", &self.lang, "--lang");
        flag("general.account", &self.account, "--account");
        flag("log.filter", &self.log, "--log");
        flag("log.format", &self.log_format, "--log-format");
        match &self.command {
            Command::Serve { listen, .. } => flag("http.listen", listen, "--listen"),
            Command::Worker { metrics_listen, .. } => {
                flag("metrics.worker_listen", metrics_listen, "--metrics-listen")
            }
            Command::Scheduler { metrics_listen } => flag(
                "metrics.scheduler_listen",
                metrics_listen,
                "--metrics-listen",
            ),
            _ => {}
        }
        out
    }
}
